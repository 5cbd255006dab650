/*
 * test_tile.c - unit tests of lib/tile.c and lib/tilein.c: tile streams.
 *
 * The contract (DESIGN.md §5, feat-format(5)): the decoded records of a
 * stream do not depend on where its blocks were cut (flushes) nor on how
 * its bytes reach the reader; a stream cut short anywhere is reported as
 * truncated; a corrupted one is refused, never read as other records; a
 * stream of another plan is refused. The tests write random records of
 * every value kind, read them back fed in many ways, and then damage the
 * bytes in every position. The examples of feat-format(5) are checked byte
 * for byte, both as the writer's output and as the reader's input.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "buf.h"
#include "error.h"
#include "hash.h"
#include "io.h"
#include "plan.h"
#include "tile.h"
#include "tilein.h"

#define require(cond) do { \
	if (!(cond)) \
		ck_abort_msg("%s", #cond); \
} while (0)

static uint64_t rng_state = 0x711e711e711e0001u;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/*
 * Group_by "g" aggregates five inputs, one of each kind: i (int), d
 * (double), s (string), b (bool), u (timestamp); "h" only counts, so its
 * records carry no input at all.
 */
static const char def[] =
	"{\"sources\": {\"ev\": {\"time\": \"t\", \"columns\": {\"k\": \"string\",\n"
	"  \"t\": \"timestamp_ms\", \"i\": \"int\", \"d\": \"double\", \"s\": \"string\",\n"
	"  \"b\": \"bool\", \"u\": \"timestamp_ms\"}}},\n"
	" \"group_bys\": {\n"
	"  \"g\": {\"source\": \"ev\", \"keys\": [\"k\"], \"aggregations\": [\n"
	"    {\"op\": \"sum\", \"of\": \"i\"}, {\"op\": \"sum\", \"of\": \"d\"},\n"
	"    {\"op\": \"last\", \"of\": \"s\"}, {\"op\": \"last\", \"of\": \"b\"},\n"
	"    {\"op\": \"max\", \"of\": \"u\"}]},\n"
	"  \"h\": {\"source\": \"ev\", \"keys\": [\"k\"], \"aggregations\": [{\"op\": \"count\"}]}}}\n";

/* The same with another window: another plan, another hash. */
static const char def_other[] =
	"{\"sources\": {\"ev\": {\"time\": \"t\", \"columns\": {\"k\": \"string\",\n"
	"  \"t\": \"timestamp_ms\", \"i\": \"int\", \"d\": \"double\", \"s\": \"string\",\n"
	"  \"b\": \"bool\", \"u\": \"timestamp_ms\"}}},\n"
	" \"group_bys\": {\n"
	"  \"g\": {\"source\": \"ev\", \"keys\": [\"k\"], \"aggregations\": [\n"
	"    {\"op\": \"sum\", \"of\": \"i\", \"windows\": [\"1d\"]}, {\"op\": \"sum\", \"of\": \"d\"},\n"
	"    {\"op\": \"last\", \"of\": \"s\"}, {\"op\": \"last\", \"of\": \"b\"},\n"
	"    {\"op\": \"max\", \"of\": \"u\"}]},\n"
	"  \"h\": {\"source\": \"ev\", \"keys\": [\"k\"], \"aggregations\": [{\"op\": \"count\"}]}}}\n";

/* The group_by of the example in feat-format(5). */
static const char def_example[] =
	"{\"sources\": {\"ratings\": {\"time\": \"ts\", \"columns\": {\"item\": \"string\",\n"
	"  \"rating\": \"double\", \"ts\": \"timestamp_ms\"}}},\n"
	" \"group_bys\": {\"item_ratings\": {\"source\": \"ratings\", \"keys\": [\"item\"],\n"
	"  \"aggregations\": [{\"op\": \"avg\", \"of\": \"rating\", \"windows\": [\"90d\"]}]}}}\n";

static struct feat_plan *compile(const char *text)
{
	struct feat_error err;
	struct feat_plan *p;

	feat_error_clear(&err);
	p = feat_plan_compile(text, strlen(text), "def.json", &err);
	ck_assert_msg(p != NULL, "%s", err.msg);
	return p;
}

/* ---- records ---------------------------------------------------------- */

#define MAXIN 5

struct rec {
	unsigned char *key;
	size_t klen;
	int64_t ts;
	size_t n;
	struct feat_value v[MAXIN];
};

struct recs {
	struct rec *r;
	size_t n, cap;
};

static void recs_free(struct recs *rs)
{
	size_t i, j;

	for (i = 0; i < rs->n; i++) {
		free(rs->r[i].key);
		for (j = 0; j < rs->r[i].n; j++)
			if (rs->r[i].v[j].type == FEAT_STRING)
				free((char *)rs->r[i].v[j].u.s.ptr);
	}
	free(rs->r);
	memset(rs, 0, sizeof(*rs));
}

/* Appends a deep copy of a record. */
static void recs_add(struct recs *rs, const unsigned char *key, size_t klen,
		     int64_t ts, const struct feat_value *v, size_t n)
{
	struct rec *r;
	size_t j;

	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? rs->cap * 2 : 64;
		rs->r = realloc(rs->r, rs->cap * sizeof(*rs->r));
		ck_assert_ptr_nonnull(rs->r);
	}
	r = &rs->r[rs->n++];
	r->key = malloc(klen + 1);
	memcpy(r->key, key, klen);
	r->klen = klen;
	r->ts = ts;
	r->n = n;
	require(n <= MAXIN);
	for (j = 0; j < n; j++) {
		r->v[j] = v[j];
		if (v[j].type == FEAT_STRING) {
			char *s = malloc(v[j].u.s.len + 1);

			memcpy(s, v[j].u.s.ptr, v[j].u.s.len);
			r->v[j].u.s.ptr = s;
		}
	}
}

static int same_value(const struct feat_value *a, const struct feat_value *b)
{
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case FEAT_NULL:
		return 1;
	case FEAT_DOUBLE:
		return memcmp(&a->u.d, &b->u.d, sizeof(double)) == 0;
	case FEAT_STRING:
		return a->u.s.len == b->u.s.len &&
		       (a->u.s.len == 0 || memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0);
	default:
		return a->u.i == b->u.i;
	}
}

static int same_rec(const struct rec *a, const struct feat_tile_rec *b)
{
	size_t j;

	if (a->klen != b->klen || (a->klen && memcmp(a->key, b->key, a->klen)) ||
	    a->ts != b->ts || a->n != b->ninputs)
		return 0;
	for (j = 0; j < a->n; j++)
		if (!same_value(&a->v[j], &b->inputs[j]))
			return 0;
	return 1;
}

static char *rnd_bytes(size_t n)
{
	char *s = malloc(n + 1);
	size_t i;

	for (i = 0; i < n; i++)
		s[i] = rnd() % 4 ? (char)('a' + rnd() % 26) : (char)rnd();
	return s;
}

static double rnd_double(void)
{
	static const double special[] = {
		0.0, -0.0, 5e-324, -5e-324, DBL_MIN, DBL_MIN / 3, DBL_MAX,
		-DBL_MAX, 0.1, -1.5, 1e300, 4.5,
	};
	uint64_t b;
	double d;

	if (rnd() % 3 == 0)
		return special[rnd() % (sizeof(special) / sizeof(special[0]))];
	do {
		b = rnd();
		memcpy(&d, &b, 8);
	} while (!isfinite(d));
	return d;
}

static int64_t rnd_int(void)
{
	static const int64_t special[] = {
		0, 1, -1, INT64_MIN, INT64_MAX, INT64_MIN + 1, 63, 64, -64, -65,
	};

	if (rnd() % 3 == 0)
		return special[rnd() % (sizeof(special) / sizeof(special[0]))];
	return (int64_t)rnd() >> (rnd() % 64);
}

/*
 * n random records for a group_by with ninputs inputs (0 or 5): keys from
 * a small set (with the empty key, zero bytes, a long one), times that
 * mostly climb with many ties but also jump to the ends of int64.
 */
static void make_recs(struct recs *rs, size_t n, size_t ninputs, int big)
{
	static const int64_t jumps[] = { INT64_MIN, -1, 0, 1, INT64_MAX };
	unsigned char keys[6][300];
	size_t klens[6] = { 0, 1, 2, 5, 9, 300 };
	int64_t ts = -5000;
	size_t i, j;

	for (i = 0; i < 6; i++)
		for (j = 0; j < klens[i]; j++)
			keys[i][j] = (unsigned char)(i == 2 ? 0 : 'k' + j + i);
	for (i = 0; i < n; i++) {
		struct feat_value v[MAXIN];
		char *strs[MAXIN] = { NULL };
		size_t k = rnd() % 6;

		if (rnd() % 50 == 0)
			ts = jumps[rnd() % 5];
		else if (rnd() % 2 && ts < INT64_MAX - 100000)
			ts += (int64_t)(rnd() % 100000);
		memset(v, 0, sizeof(v));
		for (j = 0; j < ninputs; j++) {
			if (rnd() % 7 == 0) {
				v[j].type = FEAT_NULL;
				continue;
			}
			switch (j) {
			case 0:
				v[j].type = FEAT_INT;
				v[j].u.i = rnd_int();
				break;
			case 1:
				v[j].type = FEAT_DOUBLE;
				v[j].u.d = rnd_double();
				break;
			case 2: {
				size_t len = rnd() % 5 == 0 ? 0 : rnd() % 40;

				if (rnd() % 40 == 0)
					len = 5000 + rnd() % 5000;
				if (big)
					len = 900 + rnd() % 200;
				strs[j] = rnd_bytes(len);
				v[j].type = FEAT_STRING;
				v[j].u.s.ptr = strs[j];
				v[j].u.s.len = len;
				break;
			}
			case 3:
				v[j].type = FEAT_BOOL;
				v[j].u.i = (int64_t)(rnd() & 1);
				break;
			default:
				v[j].type = FEAT_TIMESTAMP;
				v[j].u.i = rnd_int();
				break;
			}
		}
		recs_add(rs, keys[k], klens[k], ts, v, ninputs);
		for (j = 0; j < ninputs; j++)
			free(strs[j]);
	}
}

/* ---- writing into memory ---------------------------------------------- */

/* An output on a temporary file (written as feat writes files: a temporary
 * name, then a rename), read back when done. */
struct sink {
	char path[512];
	struct feat_output out;
};

static void sink_open(struct sink *s)
{
	const char *dir = getenv("TMPDIR");
	struct feat_error err;
	int fd;

	snprintf(s->path, sizeof(s->path), "%s/feat-test-tiles.XXXXXX",
		 dir && *dir ? dir : "/tmp");
	fd = mkstemp(s->path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	feat_error_clear(&err);
	ck_assert_msg(feat_output_open(&s->out, s->path, &err) == 0, "%s", err.msg);
}

/* Commits the output and appends everything written to b. */
static void sink_close(struct sink *s, struct feat_buf *b)
{
	struct feat_error err;
	char tmp[65536];
	size_t n;
	FILE *f;

	ck_assert_msg(feat_output_commit(&s->out, &err) == 0, "%s", err.msg);
	f = fopen(s->path, "rb");
	ck_assert_ptr_nonnull(f);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		feat_buf_add(b, tmp, n);
	ck_assert(!ferror(f));
	fclose(f);
	unlink(s->path);
}

enum flush_mode { FLUSH_NEVER, FLUSH_EACH, FLUSH_RANDOM, FLUSH_RARE };

/* 1: the writers of write_stream() compress in the calling thread. */
static int write_sync;

static void write_stream(const struct feat_plan *p, size_t gb,
			 const struct recs *rs, enum flush_mode mode,
			 struct feat_buf *out)
{
	struct feat_tile_writer w;
	struct feat_error err;
	struct sink s;
	size_t i;

	sink_open(&s);
	feat_error_clear(&err);
	ck_assert_int_eq(feat_tile_writer_init(&w, &s.out, p, gb, &err), 0);
	w.sync = write_sync;
	for (i = 0; i < rs->n; i++) {
		const struct rec *r = &rs->r[i];

		require(feat_tile_write_event(&w, r->key, r->klen, r->ts, (uint64_t)i, r->v,
					      r->n, &err) == 0);
		if (mode == FLUSH_EACH || (mode == FLUSH_RANDOM && rnd() % 5 == 0) ||
		    (mode == FLUSH_RARE && rnd() % 1000 == 0))
			require(feat_tile_writer_flush(&w, &err) == 0);
	}
	ck_assert_int_eq(feat_tile_writer_finish(&w, &err), 0);
	feat_tile_writer_release(&w);
	sink_close(&s, out);
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static unsigned le16(const unsigned char *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static size_t header_len(const unsigned char *u)
{
	size_t g = le16(u + 22);

	return 30 + g + le16(u + 24 + g);
}

/* The number of data blocks of a well-formed stream, by its layout. */
static size_t count_blocks(const struct feat_buf *b)
{
	const unsigned char *u = (const unsigned char *)b->ptr;
	size_t at = header_len(u), n = 0;

	while (at + 20 <= b->len && u[at] == 'B') {
		at += 20 + le32(u + at + 4);
		n++;
	}
	require(at + 20 == b->len && u[at] == 'E');
	return n;
}

/* ---- reading ---------------------------------------------------------- */

enum feed_mode { FEED_ALL, FEED_BYTES, FEED_RANDOM };

/*
 * Reads a stream fed in pieces; every record must match rs in order.
 * Returns the number of records read, and *rc: 1 when the stream ended
 * cleanly, -1 on an error (its message in err).
 */
static size_t read_stream(const struct feat_plan *p, const void *data,
			  size_t n, enum feed_mode mode, const struct recs *rs,
			  int *rc, struct feat_error *err)
{
	const unsigned char *u = data;
	struct feat_tile_reader r;
	struct feat_tile_rec rec;
	size_t at = 0, got = 0;
	int eof = 0;

	feat_error_clear(err);
	ck_assert_int_eq(feat_tile_reader_init(&r, "in.tiles", p, err), 0);
	for (;;) {
		int k;

		while ((k = feat_tile_reader_next(&r, &rec, err)) == 1) {
			if (!rs || got >= rs->n || !same_rec(&rs->r[got], &rec))
				ck_abort_msg("record %zu differs (or is one too many)", got);
			got++;
		}
		if (k < 0) {
			*rc = -1;
			break;
		}
		if (feat_tile_reader_done(&r)) {
			*rc = 1;
			break;
		}
		/* After the end of input the reader must decide. */
		if (eof)
			ck_abort_msg("the reader waits for bytes after the end of input");
		if (at == n) {
			feat_tile_reader_eof(&r);
			eof = 1;
			continue;
		}
		{
			size_t piece = mode == FEED_ALL ? n - at
				     : mode == FEED_BYTES ? 1
				     : 1 + rnd() % (rnd() % 2 ? 7 : 3000);

			if (piece > n - at)
				piece = n - at;
			require(feat_tile_reader_feed(&r, u + at, piece, err) == 0);
			at += piece;
		}
	}
	feat_tile_reader_release(&r);
	return got;
}

/* Reads a stream every way; each must give exactly rs and a clean end. */
static void read_every_way(const struct feat_plan *p, const struct feat_buf *b,
			   const struct recs *rs, int bytewise)
{
	struct feat_error err;
	int rc, i;

	ck_assert_uint_eq(read_stream(p, b->ptr, b->len, FEED_ALL, rs, &rc, &err), rs->n);
	ck_assert_msg(rc == 1, "%s", err.msg);
	if (bytewise) {
		ck_assert_uint_eq(read_stream(p, b->ptr, b->len, FEED_BYTES, rs, &rc, &err),
				  rs->n);
		ck_assert_msg(rc == 1, "%s", err.msg);
	}
	for (i = 0; i < 5; i++) {
		ck_assert_uint_eq(read_stream(p, b->ptr, b->len, FEED_RANDOM, rs, &rc, &err),
				  rs->n);
		ck_assert_msg(rc == 1, "%s", err.msg);
	}
}

/* ---- values ----------------------------------------------------------- */

static void check_encoding(const struct feat_value *v, const char *hex)
{
	struct feat_buf b = FEAT_BUF_INIT;
	char got[256] = "";
	size_t i;

	ck_assert_int_eq(feat_tile_put_value(&b, v), 0);
	for (i = 0; i < b.len; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%02x",
			 i ? " " : "", (unsigned char)b.ptr[i]);
	ck_assert_str_eq(got, hex);
	feat_buf_release(&b);
}

/* The examples of feat-format(5), and the varint example (300). */
START_TEST(test_value_encodings)
{
	struct feat_value v;

	memset(&v, 0, sizeof(v));
	v.type = FEAT_NULL;
	check_encoding(&v, "00");
	v.type = FEAT_BOOL;
	v.u.i = 1;
	check_encoding(&v, "02");
	v.u.i = 0;
	check_encoding(&v, "01");
	v.type = FEAT_INT;
	v.u.i = -3;
	check_encoding(&v, "03 05");
	v.u.i = 300;
	check_encoding(&v, "03 d8 04");
	v.u.i = INT64_MIN;
	check_encoding(&v, "03 ff ff ff ff ff ff ff ff ff 01");
	v.type = FEAT_DOUBLE;
	v.u.d = 0.1;
	check_encoding(&v, "04 9a 99 99 99 99 99 b9 3f");
	v.u.d = -0.0;
	check_encoding(&v, "04 00 00 00 00 00 00 00 80");
	v.type = FEAT_STRING;
	v.u.s.ptr = "m1";
	v.u.s.len = 2;
	check_encoding(&v, "05 02 6d 31");
	v.u.s.len = 0;
	check_encoding(&v, "05 00");
	v.type = FEAT_TIMESTAMP;
	v.u.i = 1767225600000;		/* 2026-01-01T00:00:00Z */
	check_encoding(&v, "06 80 a0 d5 ed ee 66");
}
END_TEST

START_TEST(test_value_roundtrip)
{
	struct feat_buf b = FEAT_BUF_INIT;
	struct feat_value in[2000], out;
	char *strs[2000] = { NULL };
	const unsigned char *p, *end;
	size_t i;

	/* Many values back to back: each decodes and moves to the next. */
	for (i = 0; i < 2000; i++) {
		memset(&in[i], 0, sizeof(in[i]));
		switch (rnd() % 6) {
		case 0:
			in[i].type = FEAT_NULL;
			break;
		case 1:
			in[i].type = FEAT_BOOL;
			in[i].u.i = (int64_t)(rnd() & 1);
			break;
		case 2:
			in[i].type = FEAT_INT;
			in[i].u.i = rnd_int();
			break;
		case 3:
			in[i].type = FEAT_DOUBLE;
			in[i].u.d = rnd_double();
			break;
		case 4: {
			size_t len = rnd() % 10 == 0 ? 100000 : rnd() % 20;

			strs[i] = rnd_bytes(len);
			in[i].type = FEAT_STRING;
			in[i].u.s.ptr = strs[i];
			in[i].u.s.len = len;
			break;
		}
		default:
			in[i].type = FEAT_TIMESTAMP;
			in[i].u.i = rnd_int();
			break;
		}
		require(feat_tile_put_value(&b, &in[i]) == 0);
	}
	p = (const unsigned char *)b.ptr;
	end = p + b.len;
	for (i = 0; i < 2000; i++) {
		require(feat_tile_get_value(&p, end, &out) == 0);
		require(same_value(&in[i], &out));
		/* Strings are not copied: they point into the bytes. */
		if (out.type == FEAT_STRING)
			require(out.u.s.ptr > b.ptr && out.u.s.ptr + out.u.s.len <= b.ptr + b.len);
	}
	ck_assert_ptr_eq(p, end);
	ck_assert_int_eq(feat_tile_get_value(&p, end, &out), -1);
	for (i = 0; i < 2000; i++)
		free(strs[i]);
	feat_buf_release(&b);
}
END_TEST

/* Every proper prefix of an encoding, and unknown tags, are refused. */
START_TEST(test_value_malformed)
{
	static const char *const enc[] = {
		"\x03\xd8\x04", "\x04\x9a\x99\x99\x99\x99\x99\xb9\x3f",
		"\x05\x02\x6d\x31", "\x06\x80\xa0\xd5\xed\xee\x66",
		"\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
	};
	static const unsigned char lens[] = { 3, 9, 4, 7, 11 };
	static const unsigned char bad[][12] = {
		{ 7 }, { 0xff }, { 0x80 },
		/* A varint of 11 bytes. */
		{ 3, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 },
		/* A string longer than what is left. */
		{ 5, 0x05, 'a', 'b' },
		{ 5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 },
	};
	static const unsigned char badlen[] = { 1, 1, 1, 12, 4, 11 };
	struct feat_value v;
	size_t i, k;

	for (i = 0; i < sizeof(enc) / sizeof(enc[0]); i++) {
		const unsigned char *u = (const unsigned char *)enc[i], *p = u;

		ck_assert_int_eq(feat_tile_get_value(&p, u + lens[i], &v), 0);
		ck_assert_ptr_eq(p, u + lens[i]);
		for (k = 0; k < lens[i]; k++) {
			p = u;
			ck_assert_int_eq(feat_tile_get_value(&p, u + k, &v), -1);
			/* Nothing consumed on failure. */
			ck_assert_ptr_eq(p, u);
		}
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const unsigned char *p = bad[i];

		ck_assert_msg(feat_tile_get_value(&p, bad[i] + badlen[i], &v) == -1,
			      "bad value %zu decodes", i);
	}
}
END_TEST

/* ---- streams ---------------------------------------------------------- */

START_TEST(test_roundtrip_flush_and_feed)
{
	struct feat_plan *p = compile(def);
	struct recs rs = { 0 };
	struct feat_buf never = FEAT_BUF_INIT, each = FEAT_BUF_INIT,
			some = FEAT_BUF_INIT;

	make_recs(&rs, 400, 5, 0);
	write_stream(p, 0, &rs, FLUSH_NEVER, &never);
	write_stream(p, 0, &rs, FLUSH_EACH, &each);
	write_stream(p, 0, &rs, FLUSH_RANDOM, &some);
	/* The flushes did cut blocks... */
	ck_assert_uint_eq(count_blocks(&never), 1);
	ck_assert_uint_eq(count_blocks(&each), 400);
	ck_assert_uint_gt(count_blocks(&some), 20);
	/* ... yet every stream, fed in any pieces, gives the same records. */
	read_every_way(p, &never, &rs, 1);
	read_every_way(p, &each, &rs, 1);
	read_every_way(p, &some, &rs, 1);
	/* The headers are equal: blocks are the only difference. */
	ck_assert(memcmp(never.ptr, each.ptr, header_len((unsigned char *)never.ptr)) == 0);
	feat_buf_release(&never);
	feat_buf_release(&each);
	feat_buf_release(&some);
	recs_free(&rs);
	feat_plan_free(p);
}
END_TEST

/* A group_by with no input, and the empty stream. */
START_TEST(test_roundtrip_no_inputs)
{
	struct feat_plan *p = compile(def);
	struct recs rs = { 0 }, none = { 0 };
	struct feat_buf b = FEAT_BUF_INIT;

	make_recs(&rs, 300, 0, 0);
	write_stream(p, 1, &rs, FLUSH_RANDOM, &b);
	read_every_way(p, &b, &rs, 1);
	feat_buf_reset(&b);
	write_stream(p, 1, &none, FLUSH_EACH, &b);
	ck_assert_uint_eq(count_blocks(&b), 0);
	read_every_way(p, &b, &none, 1);
	feat_buf_release(&b);
	recs_free(&rs);
	feat_plan_free(p);
}
END_TEST

/* More than a block's worth: the writer cuts blocks by itself. */
START_TEST(test_roundtrip_large)
{
	struct feat_plan *p = compile(def);
	struct recs rs = { 0 };
	struct feat_buf b = FEAT_BUF_INIT, b2 = FEAT_BUF_INIT;

	make_recs(&rs, 4000, 5, 1);
	write_stream(p, 0, &rs, FLUSH_NEVER, &b);
	ck_assert_uint_ge(count_blocks(&b), 3);
	read_every_way(p, &b, &rs, 0);
	write_stream(p, 0, &rs, FLUSH_RANDOM, &b2);
	read_every_way(p, &b2, &rs, 0);
	feat_buf_release(&b);
	feat_buf_release(&b2);
	recs_free(&rs);
	feat_plan_free(p);
}
END_TEST

/*
 * Full blocks go to the writer's thread, blocks cut by a flush do not: the
 * stream must be byte for byte the one a writer without a thread writes,
 * whatever the flushes.
 */
START_TEST(test_thread_same_bytes)
{
	struct feat_plan *p = compile(def);
	struct recs rs = { 0 };
	struct feat_buf a = FEAT_BUF_INIT, b = FEAT_BUF_INIT;
	enum flush_mode mode;

	make_recs(&rs, 12000, 5, 1);
	for (mode = FLUSH_NEVER; mode <= FLUSH_RARE; mode++) {
		uint64_t seed = rng_state;

		if (mode == FLUSH_EACH)
			continue;
		feat_buf_reset(&a);
		feat_buf_reset(&b);
		write_sync = 0;
		write_stream(p, 0, &rs, mode, &a);
		rng_state = seed;	/* the same random flushes */
		write_sync = 1;
		write_stream(p, 0, &rs, mode, &b);
		write_sync = 0;
		ck_assert_uint_ge(count_blocks(&a), mode == FLUSH_RANDOM ? 100 : 8);
		ck_assert_uint_eq(a.len, b.len);
		ck_assert(!memcmp(a.ptr, b.ptr, a.len));
		read_every_way(p, &a, &rs, 0);
	}
	feat_buf_release(&a);
	feat_buf_release(&b);
	recs_free(&rs);
	feat_plan_free(p);
}
END_TEST

/*
 * A record larger than a block gets a block of its own, between blocks of
 * small records; one larger than readers accept is refused by the writer.
 */
START_TEST(test_huge_record)
{
	struct feat_plan *p = compile(def);
	struct recs rs = { 0 }, small = { 0 };
	struct feat_buf b = FEAT_BUF_INIT;
	struct feat_value v[MAXIN];
	size_t i, n = FEAT_TILE_BLOCK_MAX + FEAT_TILE_BLOCK_MAX / 2;
	char *big = malloc(FEAT_TILE_BLOCK_LIMIT + 1);

	ck_assert_ptr_nonnull(big);
	memset(big, 'x', FEAT_TILE_BLOCK_LIMIT + 1);
	make_recs(&small, 20, 5, 0);
	for (i = 0; i < small.n; i++) {
		const struct rec *r = &small.r[i];

		if (i == 10) {
			memcpy(v, r->v, sizeof(v));
			v[2].type = FEAT_STRING;
			v[2].u.s.ptr = big;
			v[2].u.s.len = n;
			recs_add(&rs, r->key, r->klen, r->ts, v, 5);
		}
		recs_add(&rs, r->key, r->klen, r->ts, r->v, 5);
	}
	write_stream(p, 0, &rs, FLUSH_NEVER, &b);
	ck_assert_uint_eq(count_blocks(&b), 3);
	read_every_way(p, &b, &rs, 0);
	/* Beyond the limit: the writer says so. */
	{
		struct feat_tile_writer w;
		struct feat_error err;
		struct sink s;

		v[2].u.s.len = FEAT_TILE_BLOCK_LIMIT + 1;
		sink_open(&s);
		feat_error_clear(&err);
		ck_assert_int_eq(feat_tile_writer_init(&w, &s.out, p, 0, &err), 0);
		ck_assert_int_eq(feat_tile_write_event(&w, "k", 1, 0, 0, v, 5, &err), -1);
		ck_assert_msg(strstr(err.msg, "is larger than a tile block may be") != NULL,
			      "%s", err.msg);
		feat_tile_writer_release(&w);
		feat_output_abort(&s.out);
		unlink(s.path);
	}
	free(big);
	feat_buf_release(&b);
	recs_free(&rs);
	recs_free(&small);
	feat_plan_free(p);
}
END_TEST

/* A small stream of three blocks, for the damage tests. */
static void small_stream(const struct feat_plan *p, struct recs *rs,
			 struct feat_buf *b)
{
	struct recs all = { 0 };
	size_t i;

	make_recs(&all, 40, 5, 0);
	/* Short strings only, so that the stream stays small. */
	for (i = 0; i < all.n && rs->n < 7; i++)
		if (all.r[i].v[2].type != FEAT_STRING || all.r[i].v[2].u.s.len < 10)
			recs_add(rs, all.r[i].key, all.r[i].klen % 10, all.r[i].ts,
				 all.r[i].v, 5);
	recs_free(&all);
	ck_assert_uint_eq(rs->n, 7);
	{
		struct feat_tile_writer w;
		struct feat_error err;
		struct sink s;

		sink_open(&s);
		ck_assert_int_eq(feat_tile_writer_init(&w, &s.out, p, 0, &err), 0);
		for (i = 0; i < rs->n; i++) {
			const struct rec *r = &rs->r[i];

			ck_assert_int_eq(feat_tile_write_event(&w, r->key, r->klen, r->ts, (uint64_t)i,
							       r->v, 5, &err), 0);
			if (i == 1 || i == 4)
				ck_assert_int_eq(feat_tile_writer_flush(&w, &err), 0);
		}
		ck_assert_int_eq(feat_tile_writer_finish(&w, &err), 0);
		feat_tile_writer_release(&w);
		sink_close(&s, b);
	}
	ck_assert_uint_eq(count_blocks(b), 3);
}

/* Cut anywhere: "truncated", after a prefix of the records; never a clean end. */
START_TEST(test_truncated_everywhere)
{
	struct feat_plan *p = compile(def);
	struct recs rs = { 0 };
	struct feat_buf b = FEAT_BUF_INIT;
	struct feat_error err;
	size_t cut;
	int rc;

	small_stream(p, &rs, &b);
	read_stream(p, b.ptr, 0, FEED_ALL, &rs, &rc, &err);
	ck_assert_int_eq(rc, -1);
	ck_assert_str_eq(err.msg, "empty input: not a tile stream");
	ck_assert_str_eq(err.file, "in.tiles");
	for (cut = 1; cut < b.len; cut++) {
		enum feed_mode mode;

		for (mode = FEED_ALL; mode <= FEED_RANDOM; mode++) {
			read_stream(p, b.ptr, cut, mode, &rs, &rc, &err);
			if (rc != -1)
				ck_abort_msg("cut at %zu of %zu: a clean end", cut, b.len);
			if (!strstr(err.msg, "truncated"))
				ck_abort_msg("cut at %zu of %zu: '%s'", cut, b.len, err.msg);
		}
	}
	/* The whole stream is fine (or the loop above proves nothing). */
	read_every_way(p, &b, &rs, 1);
	feat_buf_release(&b);
	recs_free(&rs);
	feat_plan_free(p);
}
END_TEST

/* The zstd frames of a well-formed stream: [start, end) pairs. */
static size_t frame_at[16][2], nframes;

static void frames(const struct feat_buf *b)
{
	const unsigned char *u = (const unsigned char *)b->ptr;
	size_t at = header_len(u);

	nframes = 0;
	while (u[at] == 'B' && nframes < 16) {
		frame_at[nframes][0] = at + 20;
		frame_at[nframes][1] = at + 20 + le32(u + at + 4);
		at = frame_at[nframes++][1];
	}
}

static int in_frame(const struct feat_buf *b, size_t i)
{
	size_t f;

	(void)b;
	for (f = 0; f < nframes; f++)
		if (i >= frame_at[f][0] && i < frame_at[f][1])
			return 1;
	return 0;
}

/* Any byte changed: an error, never other records, never a clean end. */
START_TEST(test_corrupted_everywhere)
{
	static const unsigned char masks[] = { 0x01, 0x10, 0x80, 0xff };
	struct feat_plan *p = compile(def);
	struct recs rs = { 0 };
	struct feat_buf b = FEAT_BUF_INIT;
	struct feat_error err;
	unsigned char *u;
	size_t i, m, same = 0;
	int rc;

	small_stream(p, &rs, &b);
	u = (unsigned char *)b.ptr;
	frames(&b);
	for (i = 0; i < b.len; i++)
		for (m = 0; m < sizeof(masks); m++) {
			struct feat_tile_reader r;
			struct feat_tile_rec rec;
			size_t got = 0;
			int k;

			u[i] ^= masks[m];
			feat_error_clear(&err);
			ck_assert_int_eq(feat_tile_reader_init(&r, "in.tiles", p, &err), 0);
			require(feat_tile_reader_feed(&r, u, b.len, &err) == 0);
			feat_tile_reader_eof(&r);
			/* Records of blocks checked before the damage are
			 * allowed (feat-format(5), Reading), others are not. */
			while ((k = feat_tile_reader_next(&r, &rec, &err)) == 1) {
				if (got >= rs.n || !same_rec(&rs.r[got], &rec))
					ck_abort_msg("byte %zu ^ %02x: record %zu is read differently",
						     i, masks[m], got);
				got++;
			}
			/*
			 * zstd ignores some bits of its frame header (the
			 * Unused_bit, and at times the Single_Segment_flag):
			 * such a change leaves the frame decoding, checksum
			 * and all, to the same bytes, so the stream reads as
			 * the very same records. That much is allowed inside a
			 * frame, and nowhere else.
			 */
			if (k == 0 && in_frame(&b, i) && got == rs.n &&
			    feat_tile_reader_done(&r)) {
				same++;
			} else {
				if (k != -1)
					ck_abort_msg("byte %zu ^ %02x of %zu: no error (%d, %zu records)",
						     i, masks[m], b.len, k, got);
				if (!err.msg[0])
					ck_abort_msg("byte %zu ^ %02x: an error without a message",
						     i, masks[m]);
			}
			feat_tile_reader_release(&r);
			u[i] ^= masks[m];
		}
	/* A few header bits of three frames, not more. */
	ck_assert_uint_le(same, 3 * 2 * 2);
	read_stream(p, b.ptr, b.len, FEED_ALL, &rs, &rc, &err);
	ck_assert_int_eq(rc, 1);
	feat_buf_release(&b);
	recs_free(&rs);
	feat_plan_free(p);
}
END_TEST

START_TEST(test_other_plan)
{
	struct feat_plan *p = compile(def), *q = compile(def_other);
	struct recs rs = { 0 };
	struct feat_buf b = FEAT_BUF_INIT;
	struct feat_error err;
	char want[256];
	int rc;

	ck_assert(p->hash != q->hash);
	make_recs(&rs, 10, 5, 0);
	write_stream(q, 0, &rs, FLUSH_NEVER, &b);
	ck_assert_uint_eq(read_stream(p, b.ptr, b.len, FEED_ALL, &rs, &rc, &err), 0);
	ck_assert_int_eq(rc, -1);
	snprintf(want, sizeof(want),
		 "tile stream is from another plan (hash %016llx, expected %016llx)",
		 (unsigned long long)q->hash, (unsigned long long)p->hash);
	ck_assert_str_eq(err.msg, want);
	ck_assert_str_eq(err.file, "in.tiles");
	/* Byte by byte too: refused as soon as the header is complete. */
	read_stream(p, b.ptr, b.len, FEED_BYTES, &rs, &rc, &err);
	ck_assert_int_eq(rc, -1);
	ck_assert_str_eq(err.msg, want);
	/* And the plan it belongs to reads it. */
	ck_assert_uint_eq(read_stream(q, b.ptr, b.len, FEED_ALL, &rs, &rc, &err), 10);
	ck_assert_int_eq(rc, 1);
	feat_buf_release(&b);
	recs_free(&rs);
	feat_plan_free(p);
	feat_plan_free(q);
}
END_TEST

/* ---- the examples of feat-format(5) ----------------------------------- */

static const unsigned char ex_header[49] = {
	0x89, 0x46, 0x54, 0x49, 0x4c, 0x0d, 0x0a, 0x1a, 0x01, 0x00, 0x00, 0x00,
	0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01, 0x00, 0x00, 0x0c, 0x00,
	0x69, 0x74, 0x65, 0x6d, 0x5f, 0x72, 0x61, 0x74, 0x69, 0x6e, 0x67, 0x73,
	0x07, 0x00, 0x72, 0x61, 0x74, 0x69, 0x6e, 0x67, 0x73, 0x18, 0x9a, 0x42,
	0xa9,
};

static const unsigned char ex_raw[45] = {
	0x01, 0x04, 0x05, 0x02, 0x6d, 0x31, 0x80, 0xe0, 0xdf, 0x96, 0xf2, 0x67,
	0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x40,
	0x01, 0x04, 0x05, 0x02, 0x6d, 0x31, 0xfe, 0xd1, 0xcd, 0xe4, 0x06, 0x02,
	0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f,
};

static const unsigned char ex_end[20] = {
	0x45, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0,
	0xa2, 0x7b, 0x17, 0xed,
};

static const unsigned char ex_end_empty[20] = {
	0x45, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0x80, 0xfd, 0xbe, 0x4c,
};

static struct feat_plan *example_plan(void)
{
	struct feat_plan *p = compile(def_example);

	/* "The plan hash is taken to be 0x0123456789abcdef for the example." */
	p->hash = UINT64_C(0x0123456789abcdef);
	return p;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/* A block: the 20-byte header (checksum fixed up) and the frame. */
static void add_block(struct feat_buf *b, int kind, const void *raw,
		      size_t rlen, uint32_t count, int checksum_frame)
{
	unsigned char h[20];
	size_t csize = 0;
	void *frame = NULL;

	if (kind != 'E') {
		ZSTD_CCtx *c = ZSTD_createCCtx();
		size_t bound = ZSTD_compressBound(rlen);

		frame = malloc(bound);
		ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, checksum_frame);
		csize = ZSTD_compress2(c, frame, bound, raw, rlen);
		ck_assert(!ZSTD_isError(csize));
		ZSTD_freeCCtx(c);
	}
	memset(h, 0, sizeof(h));
	h[0] = (unsigned char)kind;
	put32(h + 4, (uint32_t)csize);
	put32(h + 8, kind == 'E' ? 0 : (uint32_t)rlen);
	put32(h + 12, count);
	put32(h + 16, feat_fnv1a32(h, 16));
	feat_buf_add(b, h, 20);
	if (csize)
		feat_buf_add(b, frame, csize);
	free(frame);
}

START_TEST(test_example_written)
{
	struct feat_plan *p = example_plan();
	struct feat_tile_writer w;
	struct feat_error err;
	struct feat_buf b = FEAT_BUF_INIT;
	struct feat_value v;
	struct sink s;
	const unsigned char *u;
	unsigned char raw[64];
	uint32_t csize;

	sink_open(&s);
	feat_error_clear(&err);
	ck_assert_int_eq(feat_tile_writer_init(&w, &s.out, p, 0, &err), 0);
	memset(&v, 0, sizeof(v));
	v.type = FEAT_DOUBLE;
	v.u.d = 4.5;
	ck_assert_int_eq(feat_tile_write_event(&w, "\x05\x02m1", 4, 1784851200000, 0, &v, 1, &err), 0);
	v.u.d = 1;
	ck_assert_int_eq(feat_tile_write_event(&w, "\x05\x02m1", 4, 1785761999999, 1, &v, 1, &err), 0);
	ck_assert_int_eq(feat_tile_writer_finish(&w, &err), 0);
	feat_tile_writer_release(&w);
	sink_close(&s, &b);
	u = (const unsigned char *)b.ptr;
	/* Header, block header, frame, end block. */
	ck_assert_uint_ge(b.len, 49 + 20 + 20);
	ck_assert(memcmp(u, ex_header, 49) == 0);
	u += 49;
	ck_assert(u[0] == 'B' && u[1] == 0 && u[2] == 0 && u[3] == 0);
	csize = le32(u + 4);
	ck_assert_uint_eq(le32(u + 8), 45);
	ck_assert_uint_eq(le32(u + 12), 2);
	ck_assert_uint_eq(le32(u + 16), feat_fnv1a32(u, 16));
	ck_assert_uint_eq(b.len, 49 + 20 + csize + 20);
	/* One zstd frame with a content checksum, decoding to the records. */
	ck_assert_uint_eq(ZSTD_findFrameCompressedSize(u + 20, csize), csize);
	ck_assert_uint_eq(ZSTD_decompress(raw, sizeof(raw), u + 20, csize), 45);
	ck_assert(memcmp(raw, ex_raw, 45) == 0);
	/* RFC 8878: the magic, then the frame header descriptor, whose
	 * bit 2 is the Content_Checksum_flag. */
	ck_assert_uint_eq(le32(u + 20), 0xfd2fb528u);
	ck_assert_int_eq(u[24] >> 2 & 1, 1);
	ck_assert(memcmp(u + 20 + csize, ex_end, 20) == 0);
	feat_buf_release(&b);

	/* The empty stream: the header, then the end block. */
	sink_open(&s);
	ck_assert_int_eq(feat_tile_writer_init(&w, &s.out, p, 0, &err), 0);
	ck_assert_int_eq(feat_tile_writer_flush(&w, &err), 0);
	ck_assert_int_eq(feat_tile_writer_finish(&w, &err), 0);
	feat_tile_writer_release(&w);
	sink_close(&s, &b);
	ck_assert_uint_eq(b.len, 69);
	ck_assert(memcmp(b.ptr, ex_header, 49) == 0);
	ck_assert(memcmp(b.ptr + 49, ex_end_empty, 20) == 0);
	feat_buf_release(&b);
	feat_plan_free(p);
}
END_TEST

/* A stream made from the page's bytes, by another compressor's hand. */
START_TEST(test_example_read)
{
	struct feat_plan *p = example_plan();
	struct feat_buf b = FEAT_BUF_INIT;
	struct feat_tile_reader r;
	struct feat_tile_rec rec;
	struct feat_error err;

	feat_buf_add(&b, ex_header, 49);
	add_block(&b, 'B', ex_raw, 45, 2, 1);
	feat_buf_add(&b, ex_end, 20);
	feat_error_clear(&err);
	ck_assert_int_eq(feat_tile_reader_init(&r, "ex.tiles", p, &err), 0);
	ck_assert_int_eq(feat_tile_reader_feed(&r, b.ptr, b.len, &err), 0);
	ck_assert_int_eq(feat_tile_reader_next(&r, &rec, &err), 1);
	ck_assert_int_eq(r.group_by, 0);
	ck_assert_uint_eq(rec.klen, 4);
	ck_assert(memcmp(rec.key, "\x05\x02m1", 4) == 0);
	ck_assert_int_eq(rec.ts, 1784851200000);
	ck_assert_uint_eq(rec.ninputs, 1);
	ck_assert_int_eq(rec.inputs[0].type, FEAT_DOUBLE);
	ck_assert(rec.inputs[0].u.d == 4.5);
	ck_assert_int_eq(feat_tile_reader_next(&r, &rec, &err), 1);
	ck_assert_int_eq(rec.ts, 1785761999999);
	ck_assert(rec.inputs[0].u.d == 1.0);
	ck_assert_int_eq(feat_tile_reader_next(&r, &rec, &err), 0);
	ck_assert(feat_tile_reader_done(&r));
	feat_tile_reader_release(&r);
	feat_buf_release(&b);
	feat_plan_free(p);
}
END_TEST

/*
 * The rejections listed in feat-format(5), "Reading", each on a stream
 * built by hand from the example: the message for each.
 */
static const char *read_crafted(const struct feat_plan *p,
				const struct feat_buf *b, struct feat_error *err)
{
	struct feat_tile_reader r;
	struct feat_tile_rec rec;
	int k;

	feat_error_clear(err);
	ck_assert_int_eq(feat_tile_reader_init(&r, "x.tiles", p, err), 0);
	ck_assert_int_eq(feat_tile_reader_feed(&r, b->ptr, b->len, err), 0);
	feat_tile_reader_eof(&r);
	while ((k = feat_tile_reader_next(&r, &rec, err)) == 1)
		;
	feat_tile_reader_release(&r);
	return k < 0 ? err->msg : NULL;
}

/* The example with bytes of the header changed, its checksum fixed. */
static void crafted_header(struct feat_buf *b, size_t at, unsigned char byte,
			   int fix)
{
	unsigned char h[49];

	memcpy(h, ex_header, 49);
	h[at] = byte;
	if (fix)
		put32(h + 45, feat_fnv1a32(h, 45));
	feat_buf_reset(b);
	feat_buf_add(b, h, 49);
	add_block(b, 'B', ex_raw, 45, 2, 1);
	feat_buf_add(b, ex_end, 20);
}

START_TEST(test_rejections)
{
	struct feat_plan *p = example_plan();
	struct feat_buf b = FEAT_BUF_INIT;
	struct feat_error err;
	const char *msg;
	unsigned char raw[64];

#define EXPECT(text) do { \
	msg = read_crafted(p, &b, &err); \
	ck_assert_msg(msg != NULL, "accepted, expected '%s'", text); \
	ck_assert_str_eq(msg, text); \
	ck_assert_str_eq(err.file, "x.tiles"); \
} while (0)

	/* Sanity: the unchanged example is accepted. */
	crafted_header(&b, 0, 0x89, 1);
	ck_assert_ptr_null(read_crafted(p, &b, &err));
	/* Magic (and a plan file given as tiles). */
	crafted_header(&b, 1, 'X', 1);
	EXPECT("not a tile stream (bad magic)");
	crafted_header(&b, 3, 'P', 1);
	EXPECT("not a tile stream (bad magic)");
	/* Version and flags. */
	crafted_header(&b, 8, 2, 1);
	EXPECT("unsupported tile stream version 2 (this feat reads version 1)");
	crafted_header(&b, 10, 4, 1);
	EXPECT("tile stream uses flags this feat does not know");
	crafted_header(&b, 11, 0x80, 1);
	EXPECT("tile stream uses flags this feat does not know");
	/* The header checksum. */
	crafted_header(&b, 20, 0, 0);
	ck_assert_ptr_null(read_crafted(p, &b, &err));
	crafted_header(&b, 30, 'X', 0);
	EXPECT("tile stream header checksum mismatch (corrupted)");
	/* The plan hash (checksum right). */
	crafted_header(&b, 12, 0xee, 1);
	EXPECT("tile stream is from another plan (hash 0123456789abcdee, expected 0123456789abcdef)");
	/* The source name is not checked against the plan. */
	crafted_header(&b, 40, 'X', 1);
	ck_assert_ptr_null(read_crafted(p, &b, &err));
	/* A group_by the plan does not have, by index or by name. */
	crafted_header(&b, 20, 1, 1);
	EXPECT("tile stream names a group_by the plan does not have");
	crafted_header(&b, 30, 'X', 1);
	EXPECT("tile stream names a group_by the plan does not have");

	/* Blocks: kind, reserved bytes, sizes. */
#define BLOCK(kind, rawp, rlen, count, ck) do { \
	feat_buf_reset(&b); \
	feat_buf_add(&b, ex_header, 49); \
	add_block(&b, kind, rawp, rlen, count, ck); \
	feat_buf_add(&b, ex_end, 20); \
} while (0)
	BLOCK('X', ex_raw, 45, 2, 1);
	EXPECT("tile stream block header is corrupted");
	BLOCK('B', ex_raw, 45, 2, 1);
	b.ptr[49 + 2] = 1;
	put32((unsigned char *)b.ptr + 49 + 16, feat_fnv1a32(b.ptr + 49, 16));
	EXPECT("tile stream block header is corrupted");
	BLOCK('B', ex_raw, 45, 2, 1);
	b.ptr[49 + 16] ^= 1;
	EXPECT("tile stream block header is corrupted");
	/* R says 44: the frame does not decompress to exactly R bytes. */
	BLOCK('B', ex_raw, 45, 2, 1);
	put32((unsigned char *)b.ptr + 49 + 8, 44);
	put32((unsigned char *)b.ptr + 49 + 16, feat_fnv1a32(b.ptr + 49, 16));
	msg = read_crafted(p, &b, &err);
	ck_assert_ptr_nonnull(msg);
	ck_assert_msg(!strncmp(msg, "tile stream block is corrupted (", 32), "%s", msg);
	/*
	 * R above what readers accept. (feat-format(5) still says 1 MiB; the
	 * code accepts FEAT_TILE_BLOCK_LIMIT, for records larger than a block.)
	 */
	BLOCK('B', ex_raw, 45, 2, 1);
	put32((unsigned char *)b.ptr + 49 + 8, FEAT_TILE_BLOCK_LIMIT + 1);
	put32((unsigned char *)b.ptr + 49 + 16, feat_fnv1a32(b.ptr + 49, 16));
	EXPECT("tile stream block header is corrupted");
	/* The frame's content checksum. */
	BLOCK('B', ex_raw, 45, 2, 1);
	b.ptr[b.len - 20 - 1] ^= 0x40;
	msg = read_crafted(p, &b, &err);
	ck_assert_ptr_nonnull(msg);
	ck_assert_msg(!strncmp(msg, "tile stream block is corrupted (", 32), "%s", msg);
	/* A data block without records. */
	BLOCK('B', ex_raw, 45, 0, 1);
	EXPECT("tile stream block header is corrupted");
	/* Record counts that do not match the records. */
	BLOCK('B', ex_raw, 45, 3, 1);
	EXPECT("tile stream record is corrupted");
	BLOCK('B', ex_raw, 45, 1, 1);
	EXPECT("tile stream record is corrupted");
	/* An unknown record kind, an unknown value tag, a wrong N. */
	memcpy(raw, ex_raw, 45);
	raw[23] = 2;
	BLOCK('B', raw, 45, 2, 1);
	EXPECT("tile stream record is corrupted");
	memcpy(raw, ex_raw, 45);
	raw[14] = 0x7f;
	BLOCK('B', raw, 45, 2, 1);
	EXPECT("tile stream record is corrupted");
	memcpy(raw, ex_raw, 45);
	raw[13] = 2;
	BLOCK('B', raw, 45, 2, 1);
	EXPECT("tile stream record is corrupted");
	/* The end block must count the stream's records. */
	feat_buf_reset(&b);
	feat_buf_add(&b, ex_header, 49);
	add_block(&b, 'B', ex_raw, 45, 2, 1);
	add_block(&b, 'E', NULL, 0, 3, 0);
	EXPECT("tile stream end block does not match its records");
	feat_buf_reset(&b);
	feat_buf_add(&b, ex_header, 49);
	add_block(&b, 'B', ex_raw, 45, 2, 1);
	add_block(&b, 'B', ex_raw, 45, 2, 1);
	feat_buf_add(&b, ex_end, 20);
	EXPECT("tile stream end block does not match its records");
	/* An end block with sizes. */
	feat_buf_reset(&b);
	feat_buf_add(&b, ex_header, 49);
	add_block(&b, 'B', ex_raw, 45, 2, 1);
	{
		unsigned char e[20];

		memcpy(e, ex_end, 20);
		e[8] = 1;
		put32(e + 16, feat_fnv1a32(e, 16));
		feat_buf_add(&b, e, 20);
	}
	EXPECT("tile stream end block does not match its records");
	/* Nothing may follow the end block. */
	feat_buf_reset(&b);
	feat_buf_add(&b, ex_header, 49);
	feat_buf_add(&b, ex_end_empty, 20);
	ck_assert_ptr_null(read_crafted(p, &b, &err));
	feat_buf_addc(&b, 0);
	EXPECT("bytes after the end of the tile stream");
	/* No end block at all. */
	feat_buf_reset(&b);
	feat_buf_add(&b, ex_header, 49);
	add_block(&b, 'B', ex_raw, 45, 2, 1);
	EXPECT("truncated tile stream (no end block)");
#undef BLOCK
#undef EXPECT
	feat_buf_release(&b);
	feat_plan_free(p);
}
END_TEST

/* ---- tilein: the same through a file ---------------------------------- */

static void temp_file(char *path, size_t n, const void *p, size_t len)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	snprintf(path, n, "%s/feat-test-tiles.XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, p, len), (ssize_t)len);
	close(fd);
}

/* Reads a file with tilein; returns records read, *rc 0 or -1. */
static size_t tilein_read(const struct feat_plan *p, const char *path,
			  const struct recs *rs, int *rc, struct feat_error *err)
{
	struct feat_tilein t;
	size_t got = 0;

	feat_error_clear(err);
	ck_assert_int_eq(feat_tilein_open(&t, path, p, err), 0);
	for (;;) {
		if (feat_tilein_peek(&t, NULL, NULL, err) < 0) {
			*rc = -1;
			break;
		}
		if (t.done) {
			*rc = 0;
			break;
		}
		require(t.have);
		if (!rs || got >= rs->n || !same_rec(&rs->r[got], &t.rec))
			ck_abort_msg("tilein: record %zu differs", got);
		got++;
		feat_tilein_pop(&t);
	}
	feat_tilein_close(&t);
	return got;
}

START_TEST(test_tilein)
{
	struct feat_plan *p = compile(def);
	struct recs rs = { 0 };
	struct feat_buf b = FEAT_BUF_INIT;
	struct feat_error err;
	char path[512];
	int rc;

	make_recs(&rs, 3000, 5, 1);
	write_stream(p, 0, &rs, FLUSH_RANDOM, &b);
	/* Larger than one read of the input, so that reads cut blocks. */
	ck_assert_uint_gt(b.len, 600 * 1024);
	temp_file(path, sizeof(path), b.ptr, b.len);
	ck_assert_uint_eq(tilein_read(p, path, &rs, &rc, &err), rs.n);
	ck_assert_msg(rc == 0, "%s", err.msg);
	unlink(path);
	/* Junk after the end, wherever the reads fall. */
	feat_buf_adds(&b, "junk");
	temp_file(path, sizeof(path), b.ptr, b.len);
	ck_assert_uint_eq(tilein_read(p, path, &rs, &rc, &err), rs.n);
	ck_assert_int_eq(rc, -1);
	ck_assert_str_eq(err.msg, "bytes after the end of the tile stream");
	ck_assert_str_eq(err.file, path);
	unlink(path);
	/* Cut short. */
	temp_file(path, sizeof(path), b.ptr, b.len - 4 - 20);
	tilein_read(p, path, &rs, &rc, &err);
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(strstr(err.msg, "truncated") != NULL, "%s", err.msg);
	unlink(path);
	temp_file(path, sizeof(path), b.ptr, b.len / 2);
	tilein_read(p, path, &rs, &rc, &err);
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(strstr(err.msg, "truncated") != NULL, "%s", err.msg);
	unlink(path);
	/* No such file. */
	{
		struct feat_tilein t;

		ck_assert_int_eq(feat_tilein_open(&t, path, p, &err), -1);
		ck_assert_msg(strstr(err.msg, "No such file") != NULL, "%s", err.msg);
	}
	feat_buf_release(&b);
	recs_free(&rs);
	feat_plan_free(p);
}
END_TEST

static Suite *tile_suite(void)
{
	Suite *s = suite_create("tile");
	TCase *tc = tcase_create("values");

	tcase_add_test(tc, test_value_encodings);
	tcase_add_test(tc, test_value_roundtrip);
	tcase_add_test(tc, test_value_malformed);
	suite_add_tcase(s, tc);

	tc = tcase_create("streams");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_roundtrip_flush_and_feed);
	tcase_add_test(tc, test_roundtrip_no_inputs);
	tcase_add_test(tc, test_roundtrip_large);
	tcase_add_test(tc, test_thread_same_bytes);
	tcase_add_test(tc, test_huge_record);
	tcase_add_test(tc, test_truncated_everywhere);
	tcase_add_test(tc, test_corrupted_everywhere);
	tcase_add_test(tc, test_other_plan);
	tcase_add_test(tc, test_tilein);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_test(tc, test_example_written);
	tcase_add_test(tc, test_example_read);
	tcase_add_test(tc, test_rejections);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tile_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
