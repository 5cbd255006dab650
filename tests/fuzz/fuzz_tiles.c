/*
 * fuzz_tiles.c - libFuzzer target for the tile stream reader and the
 * decoding of state records.
 *
 * The input is a tile stream of a fixed plan whose group_by has an
 * aggregation of every kind of state, with windows that allow state tiles
 * at 1m; or, when it starts with 'R', the raw records of one block, which
 * the target wraps in a valid header, zstd frame, checksums and end block,
 * so that mutations reach the records and states rather than the
 * checksums (byte 1: bit 0 for state records, byte 2: the record count).
 * tests/fuzz/seeds/tiles holds both kinds. The stream is fed to a reader
 * in pieces whose sizes come from the input's last byte, and every record
 * is applied to a window state as feat-asof-join would, which decodes
 * every state; the state is evaluated at the end. Whatever the bytes, the reader and the states must either work or
 * fail with a message; never crash, hang or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "buf.h"
#include "error.h"
#include "hash.h"
#include "io.h"
#include "plan.h"
#include "state.h"
#include "tile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char definition[] =
	"{\"sources\": {\"ev\": {\"time\": \"t\", \"columns\": {"
	"\"k\": \"string\", \"t\": \"timestamp_ms\", \"d\": \"double\", "
	"\"i\": \"int\", \"s\": \"string\", \"l\": \"list<string>\", "
	"\"v\": \"list<double>\"}}},"
	"\"group_bys\": {\"g\": {\"source\": \"ev\", \"keys\": [\"k\"],"
	" \"aggregations\": ["
	"{\"op\": \"count\", \"windows\": [{\"length\": \"1h\", \"hop\": \"1m\"}]},"
	"{\"op\": \"sum\", \"of\": \"d\", \"windows\": [\"unbounded\"]},"
	"{\"op\": \"sum\", \"of\": \"i\"},"
	"{\"op\": \"var\", \"of\": \"d\", \"windows\": [{\"length\": \"10m\", \"hop\": \"2m\"}]},"
	"{\"op\": \"min\", \"of\": \"s\"},"
	"{\"op\": \"last\", \"of\": \"s\"},"
	"{\"op\": \"last_k\", \"k\": 3, \"of\": \"s\"},"
	"{\"op\": \"top_k\", \"k\": 2, \"of\": \"d\"},"
	"{\"op\": \"unique_count\", \"of\": \"s\"},"
	"{\"op\": \"histogram\", \"of\": \"l\", \"explode\": true},"
	"{\"op\": \"approx_unique_count\", \"of\": \"i\", \"precision\": 4},"
	"{\"op\": \"approx_percentile\", \"of\": \"d\"},"
	"{\"op\": \"sum\", \"of\": \"d\", \"by\": \"s\"},"
	"{\"op\": \"avg\", \"of\": \"v\"},"
	"{\"op\": \"max\", \"of\": \"v\"}"
	"]}}}";

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = v >> 24;
}

/* A whole stream around raw records (see the top of the file). */
static void wrap(const struct feat_plan *plan, const uint8_t *data,
		 size_t size, struct feat_buf *s)
{
	unsigned char h[64], bh[20];
	size_t n = 0, bound, csize;
	int res = data[1] & 1;
	uint32_t count = data[2] ? data[2] : 1;

	memcpy(h, "\x89" "FTIL\r\n\x1a", 8);
	h[n = 8] = 1;
	h[9] = 0;
	h[10] = res ? 2 : 0;
	h[11] = 0;
	put32(h + 12, (uint32_t)plan->hash);
	put32(h + 16, (uint32_t)(plan->hash >> 32));
	h[20] = 0;
	h[21] = 0;
	h[22] = 1;
	h[23] = 0;
	h[24] = 'g';
	h[25] = 2;
	h[26] = 0;
	h[27] = 'e';
	h[28] = 'v';
	n = 29;
	if (res) {
		put32(h + n, 60000);
		put32(h + n + 4, 0);
		n += 8;
	}
	put32(h + n, feat_fnv1a32(h, n));
	n += 4;
	feat_buf_add(s, h, n);
	bound = ZSTD_compressBound(size - 3);
	if (feat_buf_grow(s, 20 + bound + 20) < 0)
		abort();
	csize = ZSTD_compress(s->ptr + s->len + 20, bound, data + 3, size - 3, 1);
	if (ZSTD_isError(csize))
		abort();
	memset(bh, 0, sizeof(bh));
	bh[0] = 'B';
	put32(bh + 4, (uint32_t)csize);
	put32(bh + 8, (uint32_t)(size - 3));
	put32(bh + 12, count);
	put32(bh + 16, feat_fnv1a32(bh, 16));
	memcpy(s->ptr + s->len, bh, 20);
	s->len += 20 + csize;
	memset(bh, 0, sizeof(bh));
	bh[0] = 'E';
	put32(bh + 12, count);
	put32(bh + 16, feat_fnv1a32(bh, 16));
	feat_buf_add(s, bh, 20);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct feat_plan *plan;
	struct feat_error err;
	struct feat_tile_reader rd;
	struct feat_tile_rec rec;
	struct feat_state st;
	struct feat_value *out;
	struct feat_buf json = FEAT_BUF_INIT, wrapped = FEAT_BUF_INIT;
	size_t off = 0, piece;
	int64_t last = INT64_MIN;
	int rc = 0, tiled = 0;

	if (!plan) {
		plan = feat_plan_compile(definition, sizeof(definition) - 1,
					 "fuzz.json", &err);
		if (!plan)
			abort();
	}
	/* Raw records of one block, at most what a block may hold. */
	if (size >= 4 && data[0] == 'R' && size - 3 <= FEAT_TILE_BLOCK_MAX) {
		wrap(plan, data, size, &wrapped);
		data = (const uint8_t *)wrapped.ptr;
		size = wrapped.len;
	}
	piece = size ? 1 + data[size - 1] % 64 : 1;
	feat_error_clear(&err);
	if (feat_tile_reader_init(&rd, "fuzz.tiles", plan, &err) < 0 ||
	    feat_state_init(&st, &plan->group_bys[0], &err) < 0)
		abort();
	out = calloc(plan->group_bys[0].nfeatures + 1, sizeof(*out));
	if (!out)
		abort();
	for (;;) {
		rc = feat_tile_reader_next(&rd, &rec, &err);
		if (rc < 0)
			break;
		if (rc == 0) {
			size_t n = size - off < piece ? size - off : piece;

			if (feat_tile_reader_done(&rd))
				break;
			if (!n) {
				if (rd.eof)
					abort();	/* 0 at the end, not done */
				feat_tile_reader_eof(&rd);
				continue;
			}
			if (feat_tile_reader_feed(&rd, data + off, n, &err) < 0)
				abort();
			off += n;
			continue;
		}
		if (rec.ts < last)
			continue;	/* the join refuses it; nothing to apply */
		last = rec.ts;
		if (rec.kind == 2) {
			if (!tiled && feat_state_tiled(&st, &err) < 0)
				abort();
			tiled = 1;
			rc = feat_state_merge(&st, rec.key, rec.klen, rec.ts, rec.last,
					      rec.states, rec.states_len, &err);
		} else if (!tiled) {
			rc = feat_state_add(&st, rec.key, rec.klen, rec.ts,
					    rec.inputs, &err);
		}
		if (rc < 0)
			break;
	}
	if (rc < 0 && !err.msg[0])
		abort();	/* a failure must say why */
	if (rc >= 0) {
		size_t id;

		for (id = 0; id < feat_state_nkeys(&st); id++) {
			feat_buf_reset(&json);
			if (feat_state_eval(&st, (long)id, last == INT64_MAX ? last : last + 1,
					    out, &json, &err) < 0 && !err.msg[0])
				abort();
		}
	}
	free(out);
	feat_buf_release(&wrapped);
	feat_buf_release(&json);
	feat_state_release(&st);
	feat_tile_reader_release(&rd);
	return 0;
}
