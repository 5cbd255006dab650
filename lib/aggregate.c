/*
 * aggregate.c - events to tiles.
 *
 * Each row runs through where, select and keying, then the lateness buffer:
 * the watermark is the largest event time so far minus the source's
 * lateness; an event below it is late, the others wait in a heap ordered by
 * (time, arrival) until the watermark reaches them. So the stream written
 * is in time order, ties in input order, whatever order the events arrived
 * in within the allowed lateness. With no lateness the heap is bypassed.
 *
 * At a resolution R (--resolution), what leaves the heap, or comes from
 * tile streams, is folded instead into per-key states over the interval
 * [start, start + R) it falls in; when an event or record of a later
 * interval comes, or the watermark passes the interval's end, or input
 * ends, the interval's keys are written as state records in key order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggop.h"
#include "aggregate.h"
#include "buf.h"
#include "csvin.h"
#include "rowin.h"
#include "error.h"
#include "expr.h"
#include "hash.h"
#include "io.h"
#include "plan.h"
#include "progress.h"
#include "tile.h"
#include "tilein.h"

struct pending {
	int64_t ts;
	uint64_t seq;
	size_t off;		/* into run.arena: varint klen, key, values */
	size_t len;
};

/*
 * One key's states over the open interval, per input: tile streams merged
 * at a coarser resolution may each hold part of the interval (pieces of a
 * log), and their parts go together in time order when it closes.
 */
struct cslot {
	int64_t *first, *last;		/* per input: its earliest, latest event */
	uint64_t *n;			/* per input: its events (0: none) */
	struct feat_astate *st;		/* [input * naggs + aggregation] */
};

struct compactor {
	int64_t res;			/* 0: write events as they are */
	int64_t start;			/* the open interval's */
	size_t nin, cur;		/* inputs; the one being read */
	struct feat_keymap keys;	/* encoded key -> slot; per interval */
	struct feat_keymap strings;	/* the states' strings; per interval */
	struct cslot *slots;
	size_t nslots;			/* slots with states allocated */
	size_t slots_cap;
	struct feat_astate *tmp;	/* per aggregation: a decoded record */
	struct feat_astate *all;	/* per aggregation: the inputs merged */
	size_t *order;			/* per input */
	uint64_t *words;		/* an event's inputs */
	struct feat_buf enc;
	struct feat_value *vals;	/* text form: key columns and results */
	struct feat_buf json;
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
	struct compactor cmp;
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

static int64_t floor_to(int64_t ts, int64_t res)
{
	return ts >= 0 ? ts - ts % res : ts - ((ts % res) + res) % res;
}

static void compactor_release(const struct feat_group_by *g,
			      struct compactor *m)
{
	size_t i, a;

	for (i = 0; i < m->nslots; i++) {
		for (a = 0; a < m->nin * g->naggs; a++)
			feat_aggop_release(&g->aggs[a % g->naggs], &m->slots[i].st[a]);
		free(m->slots[i].st);
		free(m->slots[i].first);
		free(m->slots[i].last);
		free(m->slots[i].n);
	}
	for (a = 0; m->tmp && a < g->naggs; a++)
		feat_aggop_release(&g->aggs[a], &m->tmp[a]);
	for (a = 0; m->all && a < g->naggs; a++)
		feat_aggop_release(&g->aggs[a], &m->all[a]);
	free(m->tmp);
	free(m->all);
	free(m->order);
	free(m->slots);
	free(m->words);
	free(m->vals);
	feat_keymap_release(&m->keys);
	feat_keymap_release(&m->strings);
	feat_buf_release(&m->enc);
	feat_buf_release(&m->json);
	memset(m, 0, sizeof(*m));
}

static int compactor_init(const struct feat_group_by *g, struct compactor *m,
			  int64_t res, size_t nin, struct feat_error *err)
{
	size_t a;

	memset(m, 0, sizeof(*m));
	feat_keymap_init(&m->keys);
	feat_keymap_init(&m->strings);
	m->res = res;
	m->nin = nin;
	m->tmp = calloc(g->naggs + 1, sizeof(*m->tmp));
	m->all = calloc(g->naggs + 1, sizeof(*m->all));
	m->order = calloc(nin + 1, sizeof(*m->order));
	m->words = calloc(g->ninputs + 1, sizeof(*m->words));
	m->vals = calloc(g->nkeys + g->naggs + 4, sizeof(*m->vals));
	if (!m->tmp || !m->all || !m->order || !m->words || !m->vals)
		return feat_error_nomem(err);
	for (a = 0; a < g->naggs; a++)
		if (feat_aggop_init(&g->aggs[a], &m->tmp[a]) < 0 ||
		    feat_aggop_init(&g->aggs[a], &m->all[a]) < 0)
			return feat_error_nomem(err);
	return 0;
}

/* The states of key in the open interval for the current input, empty
 * when new; NULL when out of memory. Sets *slot to the key's slot. */
static struct feat_astate *compact_slot(const struct feat_group_by *g,
					struct compactor *m, const void *key,
					size_t klen, struct cslot **slot)
{
	int added;
	long id = feat_keymap_intern(&m->keys, key, klen, &added);
	struct feat_astate *st;
	struct cslot *s;
	size_t a, i;

	if (id < 0)
		return NULL;
	if ((size_t)id == m->nslots) {
		if (m->nslots == m->slots_cap) {
			size_t cap = m->slots_cap ? m->slots_cap * 2 : 64;
			struct cslot *p = realloc(m->slots, cap * sizeof(*p));

			if (!p)
				return NULL;
			m->slots = p;
			m->slots_cap = cap;
		}
		s = &m->slots[m->nslots];
		memset(s, 0, sizeof(*s));
		s->st = calloc(m->nin * g->naggs + 1, sizeof(*s->st));
		s->first = calloc(m->nin, sizeof(*s->first));
		s->last = calloc(m->nin, sizeof(*s->last));
		s->n = calloc(m->nin, sizeof(*s->n));
		m->nslots++;
		if (!s->st || !s->first || !s->last || !s->n)
			return NULL;
		for (a = 0; a < m->nin * g->naggs; a++)
			if (feat_aggop_init(&g->aggs[a % g->naggs], &s->st[a]) < 0)
				return NULL;
	}
	s = &m->slots[id];
	if (added)
		memset(s->n, 0, m->nin * sizeof(*s->n));
	st = &s->st[m->cur * g->naggs];
	if (!s->n[m->cur])
		for (i = 0; i < g->naggs; i++)
			feat_aggop_reset(&g->aggs[i], &st[i]);
	*slot = s;
	return st;
}

struct kref {
	const unsigned char *p;
	size_t len, id;
};

static int kref_cmp(const void *x, const void *y)
{
	const struct kref *a = x, *b = y;
	size_t n = a->len < b->len ? a->len : b->len;
	int c = n ? memcmp(a->p, b->p, n) : 0;

	return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int state_text(struct run *r, const struct kref *k,
		      const struct feat_astate *st, int64_t last,
		      uint64_t nevents, struct feat_error *err);

/* The states of slot s over all inputs: one input's own, or the inputs'
 * merged in the order of their events (their first event; ties: input
 * order). Sets *first, *last and *n. NULL when out of memory. */
static const struct feat_astate *compact_all(const struct feat_group_by *g,
					     struct compactor *m,
					     const struct cslot *s,
					     int64_t *first, int64_t *last,
					     uint64_t *n)
{
	struct feat_aggctx ctx = { &m->strings };
	size_t k = 0, i, j, a;

	*n = 0;
	for (i = 0; i < m->nin; i++) {
		if (!s->n[i])
			continue;
		/* Insertion sort: inputs are few. */
		for (j = k; j > 0 && s->first[m->order[j - 1]] > s->first[i]; j--)
			m->order[j] = m->order[j - 1];
		m->order[j] = i;
		k++;
		if (!*n || s->last[i] > *last)
			*last = s->last[i];
		if (!*n || s->first[i] < *first)
			*first = s->first[i];
		*n += s->n[i];
	}
	if (k == 1)
		return &s->st[m->order[0] * g->naggs];
	for (a = 0; a < g->naggs; a++) {
		feat_aggop_reset(&g->aggs[a], &m->all[a]);
		for (j = 0; j < k; j++)
			if (feat_aggop_merge(&g->aggs[a], &ctx, &m->all[a],
					     &s->st[m->order[j] * g->naggs + a]) < 0)
				return NULL;
	}
	return m->all;
}

/* Writes the open interval's keys, in key order, and empties it. */
static int compact_close(struct run *r, struct feat_error *err)
{
	const struct feat_group_by *g = r->g;
	struct compactor *m = &r->cmp;
	struct feat_aggctx ctx = { &m->strings };
	size_t n = m->keys.count, i, a;
	struct kref *order;
	int ret = -1;

	if (!n)
		return 0;
	order = malloc(n * sizeof(*order));
	if (!order)
		return feat_error_nomem(err);
	for (i = 0; i < n; i++) {
		order[i].p = feat_keymap_key(&m->keys, i, &order[i].len);
		order[i].id = i;
	}
	qsort(order, n, sizeof(*order), kref_cmp);
	for (i = 0; i < n; i++) {
		const struct feat_astate *st;
		int64_t first = 0, last = 0;
		uint64_t nev;

		st = compact_all(g, m, &m->slots[order[i].id], &first, &last,
				 &nev);
		if (!st) {
			feat_error_nomem(err);
			goto out;
		}
		r->stats->tiles++;
		if (r->fmt != FEAT_OUT_TILES) {
			if (state_text(r, &order[i], st, last, nev, err) < 0)
				goto out;
			continue;
		}
		feat_buf_reset(&m->enc);
		for (a = 0; a < g->naggs; a++)
			if (feat_aggop_encode(&g->aggs[a], &ctx, &st[a], &m->enc) < 0) {
				feat_error_nomem(err);
				goto out;
			}
		if (feat_tile_write_state(&r->w, order[i].p, order[i].len,
					  m->start, first, last, nev, m->enc.ptr,
					  m->enc.len, err) < 0)
			goto out;
	}
	/* The next interval starts from empty maps. */
	feat_keymap_release(&m->keys);
	feat_keymap_release(&m->strings);
	feat_keymap_init(&m->keys);
	feat_keymap_init(&m->strings);
	ret = 0;
out:
	free(order);
	return ret;
}

/* Makes [start, start + res) the open interval, closing the one before. */
static int compact_open(struct run *r, int64_t start, struct feat_error *err)
{
	if (r->cmp.keys.count && start != r->cmp.start &&
	    compact_close(r, err) < 0)
		return -1;
	r->cmp.start = start;
	return 0;
}

/* Counts ts (or a record's [first, last]) into slot s for the current
 * input. */
static void compact_count(struct compactor *m, struct cslot *s,
			  int64_t first, int64_t last, uint64_t n)
{
	size_t i = m->cur;

	if (!s->n[i] || first < s->first[i])
		s->first[i] = first;
	if (!s->n[i] || last > s->last[i])
		s->last[i] = last;
	s->n[i] += n;
}

/* Folds an event into its key's states of its interval. */
static int compact_event(struct run *r, const void *key, size_t klen,
			 int64_t ts, const struct feat_value *inputs,
			 struct feat_error *err)
{
	const struct feat_group_by *g = r->g;
	struct compactor *m = &r->cmp;
	struct feat_astate *st;
	struct cslot *s;
	uint64_t mask = 0;
	size_t i, a;

	if (compact_open(r, floor_to(ts, m->res), err) < 0)
		return -1;
	st = compact_slot(g, m, key, klen, &s);
	if (!st)
		return feat_error_nomem(err);
	for (i = 0; i < g->ninputs; i++) {
		if (inputs[i].type == FEAT_NULL)
			mask |= 1ull << i;
		if (feat_word_intern(&m->strings, &inputs[i], &m->words[i]) < 0)
			return feat_error_nomem(err);
	}
	for (a = 0; a < g->naggs; a++) {
		const struct feat_agg *ag = &g->aggs[a];

		if (feat_agg_skips(ag, mask))
			continue;
		if (feat_aggop_feed(ag, &m->strings, &st[a],
				    ag->input >= 0 ? m->words[ag->input] : 0,
				    ag->by >= 0 ? m->words[ag->by] : 0) < 0)
			return feat_error_nomem(err);
	}
	compact_count(m, s, ts, ts, 1);
	return 0;
}

/* Merges a state record (of a resolution that divides ours) into its
 * key's states of its interval. */
static int compact_states(struct run *r, const struct feat_tile_rec *rec,
			  const char *name, struct feat_error *err)
{
	const struct feat_group_by *g = r->g;
	struct compactor *m = &r->cmp;
	struct feat_aggctx ctx = { &m->strings };
	const unsigned char *p = rec->states, *end = p + rec->states_len;
	struct feat_astate *st;
	struct cslot *s;
	size_t a;

	if (compact_open(r, floor_to(rec->ts, m->res), err) < 0)
		return -1;
	st = compact_slot(g, m, rec->key, rec->klen, &s);
	if (!st)
		return feat_error_nomem(err);
	for (a = 0; a < g->naggs; a++) {
		int rc = feat_aggop_decode(&g->aggs[a], &m->strings, &m->tmp[a],
					   &p, end);

		if (rc == -2)
			return feat_error_nomem(err);
		if (rc < 0)
			return feat_error_set(err, name, 0, 0,
					      "tile stream record is corrupted (its states)");
		if (feat_aggop_merge(&g->aggs[a], &ctx, &st[a], &m->tmp[a]) < 0)
			return feat_error_nomem(err);
	}
	if (p != end)
		return feat_error_set(err, name, 0, 0,
				      "tile stream record is corrupted (its states)");
	compact_count(m, s, rec->first, rec->last, rec->nevents);
	return 0;
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
	if (r->cmp.res)
		return compact_event(r, key, klen, ts, inputs, err);
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
	if (r->cmp.res) {
		for (i = 0; i < g->nkeys; i++)
			feat_buf_addf(&r->text, "%s,", g->cols[g->keys[i]].name);
		feat_buf_adds(&r->text, "start,last,events");
		for (i = 0; i < g->naggs; i++)
			feat_buf_addf(&r->text, ",%s", g->aggs[i].label);
		feat_buf_addc(&r->text, '\n');
		if (!r->text.ptr)
			return feat_error_nomem(err);
		return feat_output_write(r->out, r->text.ptr, r->text.len, err);
	}
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

/* The text form of a state record: its key, interval, events and each
 * aggregation's value over the interval. */
static int state_text(struct run *r, const struct kref *k,
		      const struct feat_astate *st, int64_t last,
		      uint64_t nevents, struct feat_error *err)
{
	const struct feat_group_by *g = r->g;
	struct compactor *m = &r->cmp;
	struct feat_aggctx ctx = { &m->strings };
	const unsigned char *p = k->p, *end = p + k->len;
	size_t i, n = g->nkeys + 3 + g->naggs;

	feat_buf_reset(&m->json);
	for (i = 0; i < g->nkeys; i++)
		if (feat_tile_get_value(&p, end, &m->vals[i]) < 0)
			return feat_error_set(err, NULL, 0, 0, "internal error: bad key");
	m->vals[g->nkeys].type = FEAT_TIMESTAMP;
	m->vals[g->nkeys].u.i = m->start;
	m->vals[g->nkeys + 1].type = FEAT_TIMESTAMP;
	m->vals[g->nkeys + 1].u.i = last;
	m->vals[g->nkeys + 2].type = FEAT_INT;
	m->vals[g->nkeys + 2].u.i = (int64_t)nevents;
	for (i = 0; i < g->naggs; i++)
		if (feat_aggop_result(&g->aggs[i], &ctx, &st[i],
				      &m->vals[g->nkeys + 3 + i], &m->json) < 0)
			return feat_error_nomem(err);
	for (i = g->nkeys + 3; i < n; i++)
		if (m->vals[i].type == FEAT_JSON)
			m->vals[i].u.s.ptr = m->json.ptr + (uintptr_t)m->vals[i].u.s.ptr;
	feat_buf_reset(&r->text);
	if (r->fmt == FEAT_OUT_JSONL)
		feat_buf_addc(&r->text, '{');
	for (i = 0; i < n; i++) {
		const char *name = i < g->nkeys ? g->cols[g->keys[i]].name
				   : i == g->nkeys ? "start"
				   : i == g->nkeys + 1 ? "last"
				   : i == g->nkeys + 2 ? "events"
				   : g->aggs[i - g->nkeys - 3].label;

		if (i)
			feat_buf_addc(&r->text, ',');
		if (r->fmt == FEAT_OUT_JSONL) {
			feat_fmt_json_string(&r->text, name, strlen(name));
			feat_buf_addc(&r->text, ':');
			feat_fmt_json_value(&r->text, &m->vals[i]);
		} else {
			feat_fmt_csv_value(&r->text, &m->vals[i]);
		}
	}
	feat_buf_adds(&r->text, r->fmt == FEAT_OUT_JSONL ? "}\n" : "\n");
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

	if (feat_progress_due(++r->stats->rows))
		feat_progress_show(r->stats->rows, 0, "rows read");
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
	/* No later event can fall in an interval the watermark has passed:
	 * it would be late. So the interval can go now. */
	if (r->cmp.res && r->cmp.keys.count && r->have_max) {
		int64_t wm = r->max_ts - r->src->lateness;

		if (wm >= r->cmp.start && wm - r->cmp.start >= r->cmp.res &&
		    compact_close(r, err) < 0)
			return -1;
	}
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
	return feat_aggregate_events_res(plan, gb, inputs, ninputs, k, n, 0,
					 out, fmt, late, stats, err);
}

int feat_aggregate_events_res(const struct feat_plan *plan, size_t gb,
			      const char *const *inputs, size_t ninputs,
			      uint32_t k, uint32_t n, int64_t resolution,
			      struct feat_output *out, enum feat_out_format fmt,
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
	if (resolution &&
	    (feat_group_by_resolution_ok(r.g, resolution, err) < 0 ||
	     compactor_init(r.g, &r.cmp, resolution, 1, err) < 0))
		goto out;
	if (fmt == FEAT_OUT_TILES) {
		if (feat_tile_writer_init_res(&r.w, out, plan, gb, k, n,
					      resolution, err) < 0)
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
	if (release(&r, INT64_MAX, err) < 0 || compact_close(&r, err) < 0)
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
	compactor_release(r.g, &r.cmp);
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
	return feat_aggregate_merge_res(plan, inputs, ninputs, -1, out, fmt,
					stats, err);
}

int feat_aggregate_merge_res(const struct feat_plan *plan,
			     const char *const *inputs, size_t ninputs,
			     int64_t resolution, struct feat_output *out,
			     enum feat_out_format fmt,
			     struct feat_aggregate_stats *stats,
			     struct feat_error *err)
{
	static const char *const stdin_only[] = { "-" };
	struct feat_tilein *ins;
	struct run r;
	size_t i, nopen = 0;
	uint64_t nrec;
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
	/* Tiles only get coarser: by default as coarse as the coarsest
	 * input, which every other input's resolution must divide. */
	if (resolution < 0)
		for (i = 0, resolution = 0; i < ninputs; i++)
			if (ins[i].rd.resolution > resolution)
				resolution = ins[i].rd.resolution;
	for (i = 0; i < ninputs; i++) {
		char a[40], b[40];

		if (!ins[i].rd.resolution ||
		    (resolution && resolution % ins[i].rd.resolution == 0))
			continue;
		feat_duration_format(a, ins[i].rd.resolution);
		feat_duration_format(b, resolution);
		if (resolution)
			feat_error_set(err, ins[i].in.name, 0, 0,
				       "tiles at resolution %s cannot be re-tiled at %s (not a multiple of it)",
				       a, b);
		else
			feat_error_set(err, ins[i].in.name, 0, 0,
				       "tiles at resolution %s cannot be re-tiled into single events",
				       a);
		goto out;
	}
	if (resolution &&
	    (feat_group_by_resolution_ok(r.g, resolution, err) < 0 ||
	     compactor_init(r.g, &r.cmp, resolution, ninputs, err) < 0))
		goto out;
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
		if (feat_tile_writer_init_res(&r.w, out, plan, (size_t)gb, 0, 0,
					      resolution, err) < 0)
			goto out;
	} else if (text_header(&r, err) < 0) {
		goto out;
	}
	/* A k-way merge on (time, input index); inputs are few, so a linear
	 * scan for the smallest head is cheaper than a heap. */
	for (nrec = 0;; nrec++) {
		long best = -1;

		if (feat_progress_due(nrec))
			feat_progress_show(nrec, 0, "records read");
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
		r.cmp.cur = (size_t)best;
		if (ins[best].rec.kind == 2) {
			if (compact_states(&r, &ins[best].rec, ins[best].in.name,
					   err) < 0)
				goto out;
		} else if (emit(&r, ins[best].rec.key, ins[best].rec.klen,
				ins[best].rec.ts, ins[best].rec.seq,
				ins[best].rec.inputs, err) < 0) {
			goto out;
		}
		feat_tilein_pop(&ins[best]);
	}
	if (compact_close(&r, err) < 0)
		goto out;
	if (fmt == FEAT_OUT_TILES)
		ret = feat_tile_writer_finish(&r.w, err);
	else
		ret = feat_output_flush(out, err);
out:
	if (r.g)
		compactor_release(r.g, &r.cmp);
	for (i = 0; i < nopen; i++)
		feat_tilein_close(&ins[i]);
	free(ins);
	feat_tile_writer_release(&r.w);
	feat_buf_release(&r.text);
	return ret;
}
