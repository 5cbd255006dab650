/*
 * aggregate.c - events to tiles.
 *
 * Each row runs through where, select and keying, then the lateness buffer:
 * the watermark is the largest event time so far minus the source's
 * lateness; an event below it is late, the others wait in a heap ordered by
 * (time, arrival) until the watermark reaches them. So the stream written
 * is in time order, ties in input order, whatever order the events arrived
 * in within the allowed lateness. With no lateness the heap is bypassed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "buf.h"
#include "csvin.h"
#include "rowin.h"
#include "error.h"
#include "expr.h"
#include "hash.h"
#include "io.h"
#include "plan.h"
#include "tile.h"
#include "tilein.h"

struct pending {
	int64_t ts;
	uint64_t seq;
	size_t off;		/* into run.arena: varint klen, key, values */
	size_t len;
};

struct run {
	const struct feat_plan *plan;
	const struct feat_group_by *g;
	const struct feat_source *src;
	enum feat_out_format fmt;
	struct feat_output *out;
	struct feat_tile_writer w;
	struct feat_output *late;
	int late_header_done;
	struct feat_rows *csv;
	const char *file;
	struct feat_value *row;		/* source columns + select columns */
	struct feat_value *inputs;
	struct feat_buf key;
	struct feat_buf text;
	/* lateness */
	int64_t max_ts;
	int have_max;
	struct pending *heap;
	size_t nheap, heap_cap;
	struct feat_buf arena;
	size_t arena_live;
	struct feat_aggregate_stats *stats;
	uint32_t shard, nshards;	/* write only keys of this shard */
};

static int pending_less(const struct pending *a, const struct pending *b)
{
	return a->ts < b->ts || (a->ts == b->ts && a->seq < b->seq);
}

static void heap_up(struct pending *h, size_t i)
{
	while (i) {
		size_t p = (i - 1) / 2;
		struct pending t;

		if (!pending_less(&h[i], &h[p]))
			break;
		t = h[i];
		h[i] = h[p];
		h[p] = t;
		i = p;
	}
}

static void heap_down(struct pending *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		struct pending t;

		if (l < n && pending_less(&h[l], &h[m]))
			m = l;
		if (l + 1 < n && pending_less(&h[l + 1], &h[m]))
			m = l + 1;
		if (m == i)
			break;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

uint32_t feat_key_shard(const void *key, size_t klen, uint32_t n)
{
	return (uint32_t)(feat_fnv1a64(key, klen) % n);
}

/* Writes one event in the chosen format. */
static int emit(struct run *r, const void *key, size_t klen, int64_t ts,
		uint64_t seq, const struct feat_value *inputs,
		struct feat_error *err)
{
	const struct feat_group_by *g = r->g;
	const unsigned char *p = key, *end = p + klen;
	struct feat_value v;
	size_t i;

	if (r->nshards > 1 && feat_key_shard(key, klen, r->nshards) != r->shard)
		return 0;
	r->stats->tiles++;
	if (r->fmt == FEAT_OUT_TILES)
		return feat_tile_write_event(&r->w, key, klen, ts, seq, inputs,
					     g->ninputs, err);
	feat_buf_reset(&r->text);
	if (r->fmt == FEAT_OUT_JSONL)
		feat_buf_addc(&r->text, '{');
	for (i = 0; i < g->nkeys + 1 + g->ninputs; i++) {
		const char *name;

		if (i < g->nkeys) {
			if (feat_tile_get_value(&p, end, &v) < 0)
				return feat_error_set(err, NULL, 0, 0, "internal error: bad key");
			name = g->cols[g->keys[i]].name;
		} else if (i == g->nkeys) {
			v.type = FEAT_TIMESTAMP;
			v.u.i = ts;
			name = r->src->cols[r->src->time_col].name;
		} else {
			v = inputs[i - g->nkeys - 1];
			name = g->cols[g->inputs[i - g->nkeys - 1]].name;
		}
		if (r->fmt == FEAT_OUT_JSONL) {
			if (i)
				feat_buf_addc(&r->text, ',');
			feat_fmt_json_string(&r->text, name, strlen(name));
			feat_buf_addc(&r->text, ':');
			feat_fmt_json_value(&r->text, &v);
		} else {
			if (i)
				feat_buf_addc(&r->text, ',');
			feat_fmt_csv_value(&r->text, &v);
		}
	}
	feat_buf_adds(&r->text, r->fmt == FEAT_OUT_JSONL ? "}\n" : "\n");
	if (!r->text.ptr)
		return feat_error_nomem(err);
	return feat_output_write(r->out, r->text.ptr, r->text.len, err);
}

static int text_header(struct run *r, struct feat_error *err)
{
	const struct feat_group_by *g = r->g;
	size_t i;

	if (r->fmt != FEAT_OUT_CSV)
		return 0;
	feat_buf_reset(&r->text);
	for (i = 0; i < g->nkeys; i++)
		feat_buf_addf(&r->text, "%s,", g->cols[g->keys[i]].name);
	feat_buf_adds(&r->text, r->src->cols[r->src->time_col].name);
	for (i = 0; i < g->ninputs; i++)
		feat_buf_addf(&r->text, ",%s", g->cols[g->inputs[i]].name);
	feat_buf_addc(&r->text, '\n');
	if (!r->text.ptr)
		return feat_error_nomem(err);
	return feat_output_write(r->out, r->text.ptr, r->text.len, err);
}

/* Releases buffered events up to and including time limit. */
static int release(struct run *r, int64_t limit, struct feat_error *err)
{
	const struct feat_group_by *g = r->g;

	while (r->nheap && r->heap[0].ts <= limit) {
		struct pending e = r->heap[0];
		const unsigned char *p = (const unsigned char *)r->arena.ptr + e.off;
		const unsigned char *end = p + e.len, *key;
		uint64_t klen;
		size_t i;

		r->heap[0] = r->heap[--r->nheap];
		heap_down(r->heap, r->nheap, 0);
		if (feat_get_varint(&p, end, &klen) < 0 ||
		    klen > (uint64_t)(end - p))
			return feat_error_set(err, NULL, 0, 0, "internal error: bad event buffer");
		key = p;
		p += klen;
		for (i = 0; i < g->ninputs; i++)
			if (feat_tile_get_value(&p, end, &r->inputs[i]) < 0)
				return feat_error_set(err, NULL, 0, 0, "internal error: bad event buffer");
		if (emit(r, key, (size_t)klen, e.ts, e.seq, r->inputs, err) < 0)
			return -1;
		r->arena_live -= e.len;
	}
	if (!r->nheap) {
		feat_buf_reset(&r->arena);
		r->arena_live = 0;
	}
	return 0;
}

/* Keeps the arena from growing without bound while the heap never empties:
 * copies the live events to a fresh buffer once most of it is dead. */
static int compact(struct run *r, struct feat_error *err)
{
	struct feat_buf fresh = FEAT_BUF_INIT;
	size_t i;

	if (r->arena.len < 2 * r->arena_live + (1u << 20))
		return 0;
	if (feat_buf_grow(&fresh, r->arena_live) < 0)
		return feat_error_nomem(err);
	for (i = 0; i < r->nheap; i++) {
		size_t off = fresh.len;

		feat_buf_add(&fresh, r->arena.ptr + r->heap[i].off, r->heap[i].len);
		r->heap[i].off = off;
	}
	feat_buf_release(&r->arena);
	r->arena = fresh;
	return 0;
}

static int buffer_event(struct run *r, int64_t ts, struct feat_error *err)
{
	const struct feat_group_by *g = r->g;
	struct pending e;
	size_t i;

	if (r->nheap == r->heap_cap) {
		size_t cap = r->heap_cap ? r->heap_cap * 2 : 1024;
		struct pending *h = realloc(r->heap, cap * sizeof(*h));

		if (!h)
			return feat_error_nomem(err);
		r->heap = h;
		r->heap_cap = cap;
	}
	if (compact(r, err) < 0)
		return -1;
	e.ts = ts;
	e.seq = r->stats->rows - 1;
	e.off = r->arena.len;
	if (feat_buf_add_varint(&r->arena, r->key.len) < 0 ||
	    feat_buf_add(&r->arena, r->key.ptr, r->key.len) < 0)
		return feat_error_nomem(err);
	for (i = 0; i < g->ninputs; i++)
		if (feat_tile_put_value(&r->arena, &r->inputs[i]) < 0)
			return feat_error_nomem(err);
	e.len = r->arena.len - e.off;
	r->arena_live += e.len;
	r->heap[r->nheap] = e;
	heap_up(r->heap, r->nheap++);
	return 0;
}

static int write_late(struct run *r, const struct feat_csv_row *row,
		      struct feat_error *err)
{
	size_t i;

	feat_buf_reset(&r->text);
	if (row->raw) {
		/* JSON Lines: the line as it came. */
		if (feat_buf_add(&r->text, row->raw, row->raw_len) < 0 ||
		    feat_buf_addc(&r->text, '\n') < 0)
			return feat_error_nomem(err);
		return feat_output_write(r->late, r->text.ptr, r->text.len, err);
	}
	if (!r->late_header_done) {
		const char *const *names;
		size_t n = feat_rows_header(r->csv, &names);

		for (i = 0; i < n; i++) {
			if (i)
				feat_buf_addc(&r->text, r->src->fmt.delim);
			feat_csv_quote(&r->text, names[i], strlen(names[i]),
				       r->src->fmt.delim, r->src->fmt.quote);
		}
		feat_buf_addc(&r->text, '\n');
		r->late_header_done = 1;
	}
	for (i = 0; i < row->nfields; i++) {
		if (i)
			feat_buf_addc(&r->text, r->src->fmt.delim);
		feat_csv_quote(&r->text, row->fields[i], row->field_lens[i],
			       r->src->fmt.delim, r->src->fmt.quote);
	}
	feat_buf_addc(&r->text, '\n');
	if (!r->text.ptr)
		return feat_error_nomem(err);
	return feat_output_write(r->late, r->text.ptr, r->text.len, err);
}

static int on_row(void *ctx, const struct feat_csv_row *row,
		  struct feat_error *err)
{
	struct run *r = ctx;
	const struct feat_group_by *g = r->g;
	const struct feat_source *src = r->src;
	struct feat_value v;
	int64_t ts;
	size_t i;

	r->stats->rows++;
	memcpy(r->row, row->vals, src->ncols * sizeof(*r->row));
	if (r->row[src->time_col].type == FEAT_NULL)
		return feat_error_set(err, r->file, row->line,
				      row->col_field[src->time_col],
				      "missing event time (column '%s' is empty)",
				      src->cols[src->time_col].name);
	ts = r->row[src->time_col].u.i;
	if (g->where) {
		feat_expr_eval(g->where, r->row, &v);
		if (v.type != FEAT_BOOL || !v.u.i) {
			r->stats->filtered++;
			return 0;
		}
	}
	for (i = 0; i < g->nselect; i++)
		feat_expr_eval(g->select[i], r->row, &r->row[src->ncols + i]);
	feat_buf_reset(&r->key);
	for (i = 0; i < g->nkeys; i++)
		if (feat_tile_put_value(&r->key, &r->row[g->keys[i]]) < 0)
			return feat_error_nomem(err);
	for (i = 0; i < g->ninputs; i++)
		r->inputs[i] = r->row[g->inputs[i]];
	/* The watermark is max time - lateness; below it an event is late. */
	if (r->have_max && ts < r->max_ts &&
	    ts < r->max_ts - src->lateness) {
		if (!r->stats->late) {
			r->stats->first_late_line = row->line;
			snprintf(r->stats->first_late_file,
				 sizeof(r->stats->first_late_file), "%s", r->file);
		}
		r->stats->late++;
		return r->late ? write_late(r, row, err) : 0;
	}
	if (!r->have_max || ts > r->max_ts) {
		r->max_ts = ts;
		r->have_max = 1;
	}
	/* The sequence number is the row's place among all rows read, the
	 * same in every --shard run, so merged shards order ties alike. */
	if (src->lateness == 0 && !r->nheap)
		return emit(r, r->key.ptr, r->key.len, ts, r->stats->rows - 1,
			    r->inputs, err);
	if (buffer_event(r, ts, err) < 0)
		return -1;
	return release(r, r->max_ts - src->lateness, err);
}

static int flush(struct run *r, struct feat_error *err)
{
	if (r->late && feat_output_flush(r->late, err) < 0)
		return -1;
	if (r->fmt == FEAT_OUT_TILES)
		return feat_tile_writer_flush(&r->w, err);
	return feat_output_flush(r->out, err);
}

static int read_file(struct run *r, const char *path, struct feat_error *err)
{
	struct feat_input in;
	int ret = -1;

	if (feat_input_open(&in, path, err) < 0)
		return -1;
	r->file = in.name;
	r->csv = feat_rows_new(r->src, in.name, on_row, r);
	if (!r->csv) {
		feat_error_nomem(err);
		goto out;
	}
	for (;;) {
		ssize_t n;

		/* About to wait for a live input: what is final goes out. */
		if (!feat_input_ready(&in) && flush(r, err) < 0)
			goto out;
		n = feat_input_read(&in, err);
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		if (feat_rows_feed(r->csv, in.buf, (size_t)n, err) < 0)
			goto out;
	}
	if (feat_rows_finish(r->csv, err) < 0)
		goto out;
	ret = 0;
out:
	feat_rows_free(r->csv);
	r->csv = NULL;
	feat_input_close(&in);
	r->file = NULL;
	return ret;
}

int feat_aggregate_events(const struct feat_plan *plan, size_t gb,
			  const char *const *inputs, size_t ninputs,
			  struct feat_output *out, enum feat_out_format fmt,
			  struct feat_output *late,
			  struct feat_aggregate_stats *stats,
			  struct feat_error *err)
{
	return feat_aggregate_events_shard(plan, gb, inputs, ninputs, 0, 1,
					   out, fmt, late, stats, err);
}

int feat_aggregate_events_shard(const struct feat_plan *plan, size_t gb,
				const char *const *inputs, size_t ninputs,
				uint32_t k, uint32_t n, struct feat_output *out,
				enum feat_out_format fmt,
				struct feat_output *late,
				struct feat_aggregate_stats *stats,
				struct feat_error *err)
{
	static const char *const stdin_only[] = { "-" };
	struct run r;
	size_t i;
	int ret = -1;

	memset(&r, 0, sizeof(r));
	memset(stats, 0, sizeof(*stats));
	r.plan = plan;
	r.g = &plan->group_bys[gb];
	r.src = &plan->sources[r.g->source];
	r.fmt = fmt;
	r.out = out;
	r.late = late;
	r.stats = stats;
	r.shard = k;
	r.nshards = n;
	r.row = calloc(r.g->ncols + 1, sizeof(*r.row));
	r.inputs = calloc(r.g->ninputs + 1, sizeof(*r.inputs));
	if (!r.row || !r.inputs) {
		feat_error_nomem(err);
		goto out;
	}
	if (fmt == FEAT_OUT_TILES) {
		if (feat_tile_writer_init_shard(&r.w, out, plan, gb, k, n, err) < 0)
			goto out;
	} else if (text_header(&r, err) < 0) {
		goto out;
	}
	if (!ninputs) {
		inputs = stdin_only;
		ninputs = 1;
	}
	for (i = 0; i < ninputs; i++)
		if (read_file(&r, inputs[i], err) < 0)
			goto out;
	if (release(&r, INT64_MAX, err) < 0)
		goto out;
	if (fmt == FEAT_OUT_TILES) {
		if (feat_tile_writer_finish(&r.w, err) < 0)
			goto out;
	} else if (feat_output_flush(out, err) < 0) {
		goto out;
	}
	if (late && feat_output_flush(late, err) < 0)
		goto out;
	ret = 0;
out:
	feat_tile_writer_release(&r.w);
	free(r.row);
	free(r.inputs);
	free(r.heap);
	feat_buf_release(&r.key);
	feat_buf_release(&r.text);
	feat_buf_release(&r.arena);
	return ret;
}

static int merge_flush(void *ctx, struct feat_error *err)
{
	return flush(ctx, err);
}

int feat_aggregate_merge(const struct feat_plan *plan,
			 const char *const *inputs, size_t ninputs,
			 struct feat_output *out, enum feat_out_format fmt,
			 struct feat_aggregate_stats *stats,
			 struct feat_error *err)
{
	static const char *const stdin_only[] = { "-" };
	struct feat_tilein *ins;
	struct run r;
	size_t i, nopen = 0;
	long gb = -1;
	int ret = -1, by_seq;

	memset(&r, 0, sizeof(r));
	memset(stats, 0, sizeof(*stats));
	if (!ninputs) {
		inputs = stdin_only;
		ninputs = 1;
	}
	if (feat_inputs_distinct(inputs, ninputs, err) < 0)
		return -1;
	ins = calloc(ninputs, sizeof(*ins));
	if (!ins)
		return feat_error_nomem(err);
	r.plan = plan;
	r.fmt = fmt;
	r.out = out;
	r.stats = stats;
	for (i = 0; i < ninputs; i++) {
		if (feat_tilein_open(&ins[i], inputs[i], plan, err) < 0)
			goto out;
		nopen++;
		if (feat_tilein_peek(&ins[i], NULL, NULL, err) < 0)
			goto out;
		if (gb >= 0 && ins[i].rd.group_by != gb) {
			feat_error_set(err, ins[i].in.name, 0, 0,
				       "tile stream of group_by '%s' cannot merge with group_by '%s'",
				       plan->group_bys[ins[i].rd.group_by].name,
				       plan->group_bys[gb].name);
			goto out;
		}
		gb = ins[i].rd.group_by;
	}
	r.g = &plan->group_bys[gb];
	r.src = &plan->sources[r.g->source];
	{
		struct feat_tile_reader **rd = calloc(ninputs, sizeof(*rd));

		if (!rd) {
			feat_error_nomem(err);
			goto out;
		}
		for (i = 0; i < ninputs; i++)
			rd[i] = &ins[i].rd;
		by_seq = feat_tile_readers_shards(rd, ninputs);
		free(rd);
	}
	if (fmt == FEAT_OUT_TILES) {
		if (feat_tile_writer_init(&r.w, out, plan, (size_t)gb, err) < 0)
			goto out;
	} else if (text_header(&r, err) < 0) {
		goto out;
	}
	/* A k-way merge on (time, input index); inputs are few, so a linear
	 * scan for the smallest head is cheaper than a heap. */
	for (;;) {
		long best = -1;

		for (i = 0; i < ninputs; i++) {
			if (feat_tilein_peek(&ins[i], merge_flush, &r, err) < 0)
				goto out;
			if (ins[i].have &&
			    (best < 0 || feat_tile_rec_before(&ins[i].rec, &ins[best].rec,
							      by_seq)))
				best = (long)i;
		}
		if (best < 0)
			break;
		if (emit(&r, ins[best].rec.key, ins[best].rec.klen,
			 ins[best].rec.ts, ins[best].rec.seq, ins[best].rec.inputs,
			 err) < 0)
			goto out;
		feat_tilein_pop(&ins[best]);
	}
	if (fmt == FEAT_OUT_TILES)
		ret = feat_tile_writer_finish(&r.w, err);
	else
		ret = feat_output_flush(out, err);
out:
	for (i = 0; i < nopen; i++)
		feat_tilein_close(&ins[i]);
	free(ins);
	feat_tile_writer_release(&r.w);
	feat_buf_release(&r.text);
	return ret;
}
