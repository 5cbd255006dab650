/*
 * serve.c - the online view: the state after all events, evaluated per key.
 *
 * It uses the same state and evaluation as the join, which is what makes
 * "serve-dump --at T" and "asof-join" of a row (key, T) agree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "io.h"
#include "plan.h"
#include "progress.h"
#include "serve.h"
#include "state.h"
#include "tile.h"
#include "tilein.h"

/* Key order: value by value, numbers by value, strings by bytes, null first. */
static int cmp_value(const struct feat_value *a, const struct feat_value *b)
{
	if (a->type == FEAT_NULL || b->type == FEAT_NULL)
		return (a->type != FEAT_NULL) - (b->type != FEAT_NULL);
	if (a->type == FEAT_STRING) {
		size_t n = a->u.s.len < b->u.s.len ? a->u.s.len : b->u.s.len;
		int c = memcmp(a->u.s.ptr, b->u.s.ptr, n);

		if (c)
			return c < 0 ? -1 : 1;
		return (a->u.s.len > b->u.s.len) - (a->u.s.len < b->u.s.len);
	}
	if (a->type == FEAT_DOUBLE)
		return (a->u.d > b->u.d) - (a->u.d < b->u.d);
	return (a->u.i > b->u.i) - (a->u.i < b->u.i);
}

static const struct feat_keymap *sort_keys;

static int cmp_key(const void *x, const void *y)
{
	size_t la, lb;
	const unsigned char *a = feat_keymap_key(sort_keys, *(const uint32_t *)x, &la);
	const unsigned char *b = feat_keymap_key(sort_keys, *(const uint32_t *)y, &lb);
	const unsigned char *ea = a + la, *eb = b + lb;

	while (a < ea && b < eb) {
		struct feat_value va, vb;
		int c;

		if (feat_tile_get_value(&a, ea, &va) < 0 ||
		    feat_tile_get_value(&b, eb, &vb) < 0)
			break;
		c = cmp_value(&va, &vb);
		if (c)
			return c;
	}
	return (la > lb) - (la < lb);
}

/*
 * One key in Redis protocol: DEL <group_by>:<key values joined by ':'>,
 * then HSET of its non-null features, so that a feature gone null is gone
 * from the hash too (redis-cli --pipe runs them in order).
 */
static int resp_row(struct feat_buf *b, const struct feat_group_by *g,
		    const unsigned char *p, const unsigned char *end,
		    const struct feat_value *vals, struct feat_error *err)
{
	struct feat_buf key = FEAT_BUF_INIT, val = FEAT_BUF_INIT;
	size_t k, n = 0;
	int ret = -1;

	feat_buf_adds(&key, g->name);
	for (k = 0; k < g->nkeys; k++) {
		struct feat_value v;

		if (feat_tile_get_value(&p, end, &v) < 0) {
			feat_error_set(err, NULL, 0, 0, "internal error: bad key");
			goto out;
		}
		feat_buf_addc(&key, ':');
		feat_fmt_text_value(&key, &v);
	}
	for (k = 0; k < g->nfeatures; k++)
		n += vals[k].type != FEAT_NULL;
	feat_buf_adds(b, "*2\r\n");
	feat_fmt_resp_bulk(b, "DEL", 3);
	feat_fmt_resp_bulk(b, key.ptr, key.len);
	if (n) {
		feat_buf_addf(b, "*%zu\r\n", 2 + 2 * n);
		feat_fmt_resp_bulk(b, "HSET", 4);
		feat_fmt_resp_bulk(b, key.ptr, key.len);
		for (k = 0; k < g->nfeatures; k++) {
			if (vals[k].type == FEAT_NULL)
				continue;
			feat_buf_reset(&val);
			feat_fmt_text_value(&val, &vals[k]);
			feat_fmt_resp_bulk(b, g->features[k].name,
					   strlen(g->features[k].name));
			feat_fmt_resp_bulk(b, val.ptr ? val.ptr : "", val.len);
		}
	}
	ret = key.ptr && b->ptr ? 0 : feat_error_nomem(err);
out:
	feat_buf_release(&key);
	feat_buf_release(&val);
	return ret;
}

/* Appends the row of key id of g as of time at to b. */
static int key_row(const struct feat_group_by *g, struct feat_state *st,
		   long id, int64_t at, enum feat_out_format fmt,
		   struct feat_buf *b, struct feat_buf *json,
		   struct feat_value *vals, struct feat_error *err)
{
	size_t klen, k;
	const unsigned char *p = feat_keymap_key(&st->keys, (size_t)id, &klen);
	const unsigned char *end = p + klen;

	feat_buf_reset(json);
	if (feat_state_eval(st, id, at, vals, json, err) < 0)
		return -1;
	if (fmt == FEAT_OUT_RESP)
		return resp_row(b, g, p, end, vals, err);
	if (fmt == FEAT_OUT_JSONL) {
		feat_buf_adds(b, "{\"group_by\":");
		feat_fmt_json_string(b, g->name, strlen(g->name));
	}
	for (k = 0; k < g->nkeys + g->nfeatures; k++) {
		const char *name;
		struct feat_value v;

		if (k < g->nkeys) {
			if (feat_tile_get_value(&p, end, &v) < 0)
				return feat_error_set(err, NULL, 0, 0, "internal error: bad key");
			name = g->cols[g->keys[k]].name;
		} else {
			v = vals[k - g->nkeys];
			name = g->features[k - g->nkeys].name;
		}
		if (fmt == FEAT_OUT_JSONL) {
			feat_buf_addc(b, ',');
			feat_fmt_json_string(b, name, strlen(name));
			feat_buf_addc(b, ':');
			feat_fmt_json_value(b, &v);
		} else {
			if (k)
				feat_buf_addc(b, ',');
			feat_fmt_csv_value(b, &v);
		}
	}
	feat_buf_adds(b, fmt == FEAT_OUT_JSONL ? "}\n" : "\n");
	return b->ptr ? 0 : feat_error_nomem(err);
}

static int csv_header(const struct feat_group_by *g, struct feat_output *out,
		      struct feat_error *err)
{
	struct feat_buf b = FEAT_BUF_INIT;
	size_t k;
	int ret;

	for (k = 0; k < g->nkeys; k++)
		feat_buf_addf(&b, "%s,", g->cols[g->keys[k]].name);
	for (k = 0; k < g->nfeatures; k++)
		feat_buf_addf(&b, "%s%s", k ? "," : "", g->features[k].name);
	feat_buf_addc(&b, '\n');
	ret = b.ptr ? feat_output_write(out, b.ptr, b.len, err)
		    : feat_error_nomem(err);
	feat_buf_release(&b);
	return ret;
}

static int dump_group_by(const struct feat_plan *plan, size_t gi,
			 struct feat_state *st, int64_t at,
			 struct feat_output *out, enum feat_out_format fmt,
			 struct feat_error *err)
{
	const struct feat_group_by *g = &plan->group_bys[gi];
	struct feat_value *vals = calloc(g->nfeatures + 1, sizeof(*vals));
	uint32_t *order = calloc(feat_state_nkeys(st) + 1, sizeof(*order));
	struct feat_buf b = FEAT_BUF_INIT, json = FEAT_BUF_INIT;
	size_t i;
	int ret = -1;

	if (!vals || !order) {
		feat_error_nomem(err);
		goto out;
	}
	for (i = 0; i < feat_state_nkeys(st); i++)
		order[i] = (uint32_t)i;
	sort_keys = &st->keys;
	qsort(order, feat_state_nkeys(st), sizeof(*order), cmp_key);
	if (fmt == FEAT_OUT_CSV && csv_header(g, out, err) < 0)
		goto out;
	for (i = 0; i < feat_state_nkeys(st); i++) {
		if (key_row(g, st, (long)order[i], at, fmt, &b, &json, vals, err) < 0)
			goto out;
		if (b.len > 65536) {
			if (feat_output_write(out, b.ptr, b.len, err) < 0)
				goto out;
			feat_buf_reset(&b);
		}
	}
	if (b.len && feat_output_write(out, b.ptr, b.len, err) < 0)
		goto out;
	ret = 0;
out:
	feat_buf_release(&b);
	feat_buf_release(&json);
	free(vals);
	free(order);
	return ret;
}

/*
 * --follow: per group_by, the keys that records changed at the latest
 * time, in the order they were first changed, each with the time of its
 * latest event. They are written (as of that time + 1 ms) when a record
 * of a later time comes, since records of equal time may still come and
 * change them, or at the end of input.
 */
struct pending {
	long *ids;
	size_t n, cap;
	int64_t ts;			/* the records' time */
	int64_t *last;			/* per key id: its latest event */
	unsigned char *queued;		/* per key id */
	size_t keys_cap;
	struct feat_value *vals;
	struct feat_buf b, json;
};

static void pending_release(struct pending *q)
{
	free(q->ids);
	free(q->last);
	free(q->queued);
	free(q->vals);
	feat_buf_release(&q->b);
	feat_buf_release(&q->json);
}

static int pending_add(struct pending *q, long id, int64_t last,
		       struct feat_error *err)
{
	if ((size_t)id >= q->keys_cap) {
		size_t cap = q->keys_cap ? q->keys_cap * 2 : 1024, i;
		int64_t *l;
		unsigned char *u;

		while (cap <= (size_t)id)
			cap *= 2;
		l = realloc(q->last, cap * sizeof(*l));
		if (l)
			q->last = l;
		u = l ? realloc(q->queued, cap) : NULL;
		if (!u)
			return feat_error_nomem(err);
		q->queued = u;
		for (i = q->keys_cap; i < cap; i++)
			u[i] = 0;
		q->keys_cap = cap;
	}
	if (!q->queued[id]) {
		if (q->n == q->cap) {
			size_t cap = q->cap ? q->cap * 2 : 64;
			long *p = realloc(q->ids, cap * sizeof(*p));

			if (!p)
				return feat_error_nomem(err);
			q->ids = p;
			q->cap = cap;
		}
		q->ids[q->n++] = id;
		q->queued[id] = 1;
		q->last[id] = last;
	} else if (last > q->last[id]) {
		q->last[id] = last;
	}
	return 0;
}

static int pending_write(const struct feat_group_by *g, struct feat_state *st,
			 struct pending *q, struct feat_output *out,
			 enum feat_out_format fmt, struct feat_error *err)
{
	size_t i;

	if (!q->vals && !(q->vals = calloc(g->nfeatures + 1, sizeof(*q->vals))))
		return feat_error_nomem(err);
	feat_buf_reset(&q->b);
	for (i = 0; i < q->n; i++) {
		long id = q->ids[i];

		q->queued[id] = 0;
		if (key_row(g, st, id, q->last[id] + 1, fmt, &q->b, &q->json,
			    q->vals, err) < 0)
			return -1;
	}
	q->n = 0;
	return q->b.len ? feat_output_write(out, q->b.ptr, q->b.len, err) : 0;
}

static int follow_flush(void *ctx, struct feat_error *err)
{
	return feat_output_flush(ctx, err);
}

static int serve(const struct feat_plan *plan, const char *const *tiles,
		 size_t ntiles, int64_t at, long only_gb, int follow,
		 struct feat_output *out, enum feat_out_format fmt,
		 struct feat_error *err);

int feat_serve_dump(const struct feat_plan *plan, const char *const *tiles,
		    size_t ntiles, int64_t at, long only_gb,
		    struct feat_output *out, enum feat_out_format fmt,
		    struct feat_error *err)
{
	return serve(plan, tiles, ntiles, at, only_gb, 0, out, fmt, err);
}

int feat_serve_follow(const struct feat_plan *plan, const char *const *tiles,
		      size_t ntiles, long only_gb, struct feat_output *out,
		      enum feat_out_format fmt, struct feat_error *err)
{
	return serve(plan, tiles, ntiles, FEAT_SERVE_END, only_gb, 1, out, fmt,
		     err);
}

static int serve(const struct feat_plan *plan, const char *const *tiles,
		 size_t ntiles, int64_t at, long only_gb, int follow,
		 struct feat_output *out, enum feat_out_format fmt,
		 struct feat_error *err)
{
	struct pending *pend = NULL;
	static const char *const stdin_only[] = { "-" };
	struct feat_tilein *ins;
	struct feat_state *st;
	int64_t *last;
	unsigned char *present;
	int64_t latest = INT64_MIN;
	size_t i, g, nopen = 0, ngb = 0;
	uint64_t nrec;
	int ret = -1, *by_seq = NULL;
	struct feat_tile_reader **rds = NULL;

	if (!ntiles) {
		tiles = stdin_only;
		ntiles = 1;
	}
	if (feat_inputs_distinct(tiles, ntiles, err) < 0)
		return -1;
	ins = calloc(ntiles, sizeof(*ins));
	last = calloc(ntiles, sizeof(*last));
	st = calloc(plan->ngroup_bys, sizeof(*st));
	present = calloc(plan->ngroup_bys, 1);
	if (!ins || !st || !present || !last) {
		feat_error_nomem(err);
		goto out;
	}
	for (i = 0; i < plan->ngroup_bys; i++)
		if (feat_state_init(&st[i], &plan->group_bys[i], err) < 0)
			goto out;
	for (i = 0; i < ntiles; i++) {
		if (feat_tilein_open(&ins[i], tiles[i], plan, err) < 0)
			goto out;
		nopen++;
		if (feat_tilein_peek(&ins[i], NULL, NULL, err) < 0)
			goto out;
		last[i] = INT64_MIN;
		for (g = 0; g < i; g++)
			if (ins[g].rd.group_by == ins[i].rd.group_by &&
			    feat_tile_same_resolution(&ins[g].rd, &ins[i].rd, err) < 0)
				goto out;
		if (ins[i].rd.resolution &&
		    feat_state_tiled(&st[ins[i].rd.group_by], err) < 0)
			goto out;
		if (!present[ins[i].rd.group_by])
			ngb += only_gb < 0 || ins[i].rd.group_by == only_gb;
		present[ins[i].rd.group_by] = 1;
	}
	if (only_gb >= 0 && !present[only_gb]) {
		feat_error_set(err, NULL, 0, 0, "no tile stream of group_by '%s' among the inputs",
			       plan->group_bys[only_gb].name);
		goto out;
	}
	/* Per group_by: are its streams shards of one run? */
	by_seq = calloc(plan->ngroup_bys, sizeof(*by_seq));
	rds = calloc(ntiles, sizeof(*rds));
	if (!by_seq || !rds) {
		feat_error_nomem(err);
		goto out;
	}
	for (g = 0; g < plan->ngroup_bys; g++) {
		size_t m = 0;

		for (i = 0; i < ntiles; i++)
			if (ins[i].rd.group_by == (long)g)
				rds[m++] = &ins[i].rd;
		by_seq[g] = feat_tile_readers_shards(rds, m);
	}
	if (fmt == FEAT_OUT_CSV && ngb > 1) {
		feat_error_set(err, NULL, 0, 0, "CSV output holds one group_by; choose one with --group-by or use --format jsonl");
		goto out;
	}
	if (follow) {
		pend = calloc(plan->ngroup_bys, sizeof(*pend));
		if (!pend) {
			feat_error_nomem(err);
			goto out;
		}
		for (g = 0; fmt == FEAT_OUT_CSV && g < plan->ngroup_bys; g++)
			if (present[g] && (only_gb < 0 || (long)g == only_gb) &&
			    csv_header(&plan->group_bys[g], out, err) < 0)
				goto out;
	}
	/* Apply in time order per group_by: a k-way merge over all inputs
	 * (streams of different group_bys never interact). */
	for (nrec = 0;; nrec++) {
		long best = -1;

		if (!follow && feat_progress_due(nrec))
			feat_progress_show(nrec, 0, "records read");
		for (i = 0; i < ntiles; i++) {
			if (feat_tilein_peek(&ins[i], follow ? follow_flush : NULL,
					     out, err) < 0)
				goto out;
			if (ins[i].have && ins[i].rec.ts < last[i]) {
				feat_error_set(err, ins[i].in.name, 0, 0,
					       "tile stream is not in time order");
				goto out;
			}
			if (ins[i].have &&
			    (best < 0 || feat_tile_rec_before(&ins[i].rec, &ins[best].rec,
							      by_seq[ins[i].rd.group_by])))
				best = (long)i;
		}
		if (best < 0)
			break;
		last[best] = ins[best].rec.ts;
		if (ins[best].rec.last > latest)
			latest = ins[best].rec.last;
		if (follow && only_gb >= 0 && ins[best].rd.group_by != only_gb) {
			feat_tilein_pop(&ins[best]);
			continue;
		}
		if (follow) {
			struct pending *q = &pend[ins[best].rd.group_by];
			size_t gi = (size_t)ins[best].rd.group_by;

			/* Records of a later time: the keys changed before are
			 * final as of their last event. */
			if (q->n && ins[best].rec.ts > q->ts &&
			    pending_write(&plan->group_bys[gi], &st[gi], q, out,
					  fmt, err) < 0)
				goto out;
			q->ts = ins[best].rec.ts;
		}
		if (at == FEAT_SERVE_END || ins[best].rec.ts < at) {
			const struct feat_tile_rec *rec = &ins[best].rec;
			long gi = ins[best].rd.group_by;

			if (feat_state_take(&st[gi], rec, ins[best].in.name,
					    err) < 0)
				goto out;
			if (follow &&
			    pending_add(&pend[gi], feat_state_find(&st[gi], rec->key,
								   rec->klen),
					rec->last, err) < 0)
				goto out;
		}
		feat_tilein_pop(&ins[best]);
	}
	if (follow) {
		for (g = 0; g < plan->ngroup_bys; g++)
			if (pend[g].n && pending_write(&plan->group_bys[g], &st[g],
						       &pend[g], out, fmt, err) < 0)
				goto out;
		ret = feat_output_flush(out, err);
		goto out;
	}
	if (at == FEAT_SERVE_END)
		at = latest == INT64_MIN ? 0 : latest + 1;
	for (i = 0; i < plan->ngroup_bys; i++) {
		if (!present[i] || (only_gb >= 0 && (long)i != only_gb))
			continue;
		if (dump_group_by(plan, i, &st[i], at, out, fmt, err) < 0)
			goto out;
	}
	ret = feat_output_flush(out, err);
out:
	for (i = 0; i < nopen; i++)
		feat_tilein_close(&ins[i]);
	for (i = 0; pend && i < plan->ngroup_bys; i++)
		pending_release(&pend[i]);
	free(pend);
	for (i = 0; st && i < plan->ngroup_bys; i++)
		feat_state_release(&st[i]);
	free(ins);
	free(st);
	free(present);
	free(last);
	free(by_seq);
	free(rds);
	return ret;
}
