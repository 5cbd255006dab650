/*
 * state.c - per-key window state: rings of events, running aggregates.
 *
 * A key's events live in a ring addressed by sequence number (seq): entry
 * seq holds the event time, a mask of null inputs and one 64-bit word per
 * input (integer and time values, double bits, or the id of an interned
 * string). Each bounded window has a tail seq: the oldest event still
 * inside it. Entering and leaving a window update the window's running
 * aggregates, so evaluating a feature costs O(1) amortised.
 */
#include <stdlib.h>
#include <string.h>

#include "accum.h"
#include "error.h"
#include "plan.h"
#include "state.h"

#define NEED(op) (1u << (op))

struct mono {
	uint64_t *seq;
	size_t cap, head, len;
};

struct wstat {
	int64_t n;			/* non-null values inside */
	uint64_t isum;			/* int sums wrap like two's complement */
	struct feat_accum *acc;		/* double sums */
	struct mono mn, mx;
	uint64_t last;			/* seq + 1 of the newest non-null */
};

struct ustat {
	int64_t n;
	uint64_t isum;
	struct feat_accum *acc;
	int has;
	uint64_t min, max, last;
};

struct feat_state_key {
	uint64_t *ring;
	size_t cap;			/* entries; a power of two */
	uint64_t base, head;		/* seqs [base, head) are stored */
	uint64_t total;			/* events ever */
	uint64_t *tail;			/* per bounded window */
	struct wstat *ws;		/* [window * ninputs + input] */
	struct ustat *us;		/* per input */
};

static void mono_free(struct mono *m)
{
	free(m->seq);
}

static int mono_push(struct mono *m, uint64_t s)
{
	if (m->len == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8, i;
		uint64_t *q = malloc(cap * sizeof(*q));

		if (!q)
			return -1;
		for (i = 0; i < m->len; i++)
			q[i] = m->seq[(m->head + i) & (m->cap - 1)];
		free(m->seq);
		m->seq = q;
		m->cap = cap;
		m->head = 0;
	}
	m->seq[(m->head + m->len) & (m->cap - 1)] = s;
	m->len++;
	return 0;
}

static inline uint64_t mono_front(const struct mono *m)
{
	return m->seq[m->head & (m->cap - 1)];
}

static inline uint64_t mono_back(const struct mono *m)
{
	return m->seq[(m->head + m->len - 1) & (m->cap - 1)];
}

static inline uint64_t *entry(const struct feat_state *st,
			      const struct feat_state_key *k, uint64_t seq)
{
	return k->ring + (seq & (k->cap - 1)) * st->entry_words;
}

static int64_t as_i(uint64_t w)
{
	return (int64_t)w;
}

static double as_d(uint64_t w)
{
	double d;

	memcpy(&d, &w, 8);
	return d;
}

/* -1, 0, 1 as a is less than, equal to or greater than b. */
static int cmp_word(const struct feat_state *st, enum feat_type t, uint64_t a,
		    uint64_t b)
{
	switch (t) {
	case FEAT_DOUBLE: {
		double x = as_d(a), y = as_d(b);

		return x < y ? -1 : x > y;
	}
	case FEAT_STRING: {
		size_t la, lb;
		const unsigned char *pa = feat_keymap_key(&st->strings, a, &la);
		const unsigned char *pb = feat_keymap_key(&st->strings, b, &lb);
		int c = memcmp(pa, pb, la < lb ? la : lb);

		return c ? (c < 0 ? -1 : 1) : (la < lb ? -1 : la > lb);
	}
	default:
		return as_i(a) < as_i(b) ? -1 : as_i(a) > as_i(b);
	}
}

static void to_value(const struct feat_state *st, enum feat_type t, uint64_t w,
		     struct feat_value *v)
{
	v->type = t;
	switch (t) {
	case FEAT_DOUBLE:
		v->u.d = as_d(w);
		break;
	case FEAT_STRING:
		v->u.s.ptr = (const char *)feat_keymap_key(&st->strings, w,
							   &v->u.s.len);
		break;
	default:
		v->u.i = as_i(w);
		break;
	}
}

int feat_state_init(struct feat_state *st, const struct feat_group_by *g,
		    struct feat_error *err)
{
	size_t i, f, w;

	memset(st, 0, sizeof(*st));
	st->g = g;
	feat_keymap_init(&st->keys);
	feat_keymap_init(&st->strings);
	if (g->ninputs > 62)
		return feat_error_set(err, NULL, 0, 0,
				      "group_by '%s' aggregates more than 62 columns",
				      g->name);
	st->wins = calloc(g->nfeatures + 1, sizeof(*st->wins));
	st->feat_win = calloc(g->nfeatures + 1, sizeof(*st->feat_win));
	if (!st->wins || !st->feat_win)
		return feat_error_nomem(err);
	for (f = 0; f < g->nfeatures; f++) {
		int64_t len = g->aggs[g->features[f].agg].windows[g->features[f].window];

		if (len == FEAT_UNBOUNDED)
			continue;
		for (w = 0; w < st->nwin; w++)
			if (st->wins[w] == len)
				break;
		if (w == st->nwin)
			st->wins[st->nwin++] = len;
	}
	st->need_w = calloc(st->nwin * g->ninputs + 1, sizeof(*st->need_w));
	st->need_u = calloc(g->ninputs + 1, sizeof(*st->need_u));
	if (!st->need_w || !st->need_u)
		return feat_error_nomem(err);
	for (f = 0; f < g->nfeatures; f++) {
		const struct feat_agg *a = &g->aggs[g->features[f].agg];
		int64_t len = a->windows[g->features[f].window];

		st->feat_win[f] = st->nwin;
		for (w = 0; w < st->nwin; w++)
			if (st->wins[w] == len)
				st->feat_win[f] = w;
		if (a->input < 0)
			continue;
		i = (size_t)a->input;
		if (st->feat_win[f] < st->nwin)
			st->need_w[st->feat_win[f] * g->ninputs + i] |= NEED(a->op);
		else
			st->need_u[i] |= NEED(a->op);
	}
	st->entry_words = 2 + g->ninputs;
	st->last_ts = INT64_MIN;
	return 0;
}

static void key_free(const struct feat_state *st, struct feat_state_key *k)
{
	size_t i;

	if (!k)
		return;
	for (i = 0; i < st->nwin * st->g->ninputs; i++) {
		free(k->ws[i].acc);
		mono_free(&k->ws[i].mn);
		mono_free(&k->ws[i].mx);
	}
	for (i = 0; i < st->g->ninputs; i++)
		free(k->us[i].acc);
	free(k->ring);
	free(k->tail);
	free(k->ws);
	free(k->us);
	free(k);
}

void feat_state_release(struct feat_state *st)
{
	size_t i;

	for (i = 0; i < st->keys.count; i++)
		key_free(st, st->per_key[i]);
	free(st->per_key);
	feat_keymap_release(&st->keys);
	feat_keymap_release(&st->strings);
	free(st->wins);
	free(st->feat_win);
	free(st->need_w);
	free(st->need_u);
	memset(st, 0, sizeof(*st));
}

static int is_double_sum(const struct feat_state *st, size_t input,
			 unsigned need)
{
	return (need & (NEED(FEAT_OP_SUM) | NEED(FEAT_OP_AVG))) &&
	       st->g->cols[st->g->inputs[input]].type == FEAT_DOUBLE;
}

static struct feat_state_key *key_new(const struct feat_state *st)
{
	const struct feat_group_by *g = st->g;
	struct feat_state_key *k = calloc(1, sizeof(*k));
	size_t w, i;

	if (!k)
		return NULL;
	k->tail = calloc(st->nwin + 1, sizeof(*k->tail));
	k->ws = calloc(st->nwin * g->ninputs + 1, sizeof(*k->ws));
	k->us = calloc(g->ninputs + 1, sizeof(*k->us));
	if (!k->tail || !k->ws || !k->us)
		goto fail;
	for (w = 0; w < st->nwin; w++)
		for (i = 0; i < g->ninputs; i++) {
			struct wstat *s = &k->ws[w * g->ninputs + i];

			if (is_double_sum(st, i, st->need_w[w * g->ninputs + i])) {
				s->acc = malloc(sizeof(*s->acc));
				if (!s->acc)
					goto fail;
				feat_accum_init(s->acc);
			}
		}
	for (i = 0; i < g->ninputs; i++)
		if (is_double_sum(st, i, st->need_u[i])) {
			k->us[i].acc = malloc(sizeof(*k->us[i].acc));
			if (!k->us[i].acc)
				goto fail;
			feat_accum_init(k->us[i].acc);
		}
	return k;
fail:
	key_free(st, k);
	return NULL;
}

/* Removes the oldest event of window w from its aggregates. */
static void leave(const struct feat_state *st, struct feat_state_key *k,
		  size_t w)
{
	const struct feat_group_by *g = st->g;
	uint64_t s = k->tail[w];
	const uint64_t *e = entry(st, k, s);
	size_t i;

	for (i = 0; i < g->ninputs; i++) {
		struct wstat *ws = &k->ws[w * g->ninputs + i];
		unsigned need = st->need_w[w * g->ninputs + i];

		if (!need || (e[1] >> i & 1))
			continue;
		ws->n--;
		if (ws->acc)
			feat_accum_sub(ws->acc, as_d(e[2 + i]));
		else
			ws->isum -= e[2 + i];
		if (ws->mn.len && mono_front(&ws->mn) == s) {
			ws->mn.head++;
			ws->mn.len--;
		}
		if (ws->mx.len && mono_front(&ws->mx) == s) {
			ws->mx.head++;
			ws->mx.len--;
		}
	}
	k->tail[w]++;
}

/* Moves window w's tail past every event before limit. */
static void advance(const struct feat_state *st, struct feat_state_key *k,
		    size_t w, int64_t limit)
{
	while (k->tail[w] < k->head && as_i(entry(st, k, k->tail[w])[0]) < limit)
		leave(st, k, w);
}

static int64_t sub_sat(int64_t a, int64_t b)
{
	if (b > 0 && a < INT64_MIN + b)
		return INT64_MIN;
	return a - b;
}

static int ring_grow(const struct feat_state *st, struct feat_state_key *k)
{
	size_t cap = k->cap ? k->cap * 2 : 4;
	uint64_t *r = malloc(cap * st->entry_words * sizeof(*r));
	uint64_t s;

	if (!r)
		return -1;
	for (s = k->base; s < k->head; s++)
		memcpy(r + (s & (cap - 1)) * st->entry_words, entry(st, k, s),
		       st->entry_words * sizeof(*r));
	free(k->ring);
	k->ring = r;
	k->cap = cap;
	return 0;
}

int feat_state_add(struct feat_state *st, const void *key, size_t klen,
		   int64_t ts, const struct feat_value *inputs,
		   struct feat_error *err)
{
	const struct feat_group_by *g = st->g;
	struct feat_state_key *k;
	uint64_t *e, mask = 0, seq;
	size_t w, i;
	int added;
	long id = feat_keymap_intern(&st->keys, key, klen, &added);

	if (id < 0)
		return feat_error_nomem(err);
	if (added) {
		if ((size_t)id >= st->per_key_cap) {
			size_t cap = st->per_key_cap ? st->per_key_cap * 2 : 256;
			struct feat_state_key **p = realloc(st->per_key,
							    cap * sizeof(*p));

			if (!p)
				return feat_error_nomem(err);
			st->per_key = p;
			st->per_key_cap = cap;
		}
		st->per_key[id] = key_new(st);
		if (!st->per_key[id])
			return feat_error_nomem(err);
	}
	k = st->per_key[id];
	st->last_ts = ts;
	st->events++;
	/* Events older than every window of any later T can go. */
	if (st->nwin) {
		uint64_t lo = k->head;

		for (w = 0; w < st->nwin; w++) {
			advance(st, k, w, sub_sat(ts, st->wins[w]));
			if (k->tail[w] < lo)
				lo = k->tail[w];
		}
		k->base = lo;
		if (k->head - k->base == k->cap && ring_grow(st, k) < 0)
			return feat_error_nomem(err);
	}
	seq = k->head;
	for (i = 0; i < g->ninputs; i++)
		if (inputs[i].type == FEAT_NULL)
			mask |= 1ull << i;
	if (st->nwin) {
		e = entry(st, k, seq);
		e[0] = (uint64_t)ts;
		e[1] = mask;
	} else {
		e = NULL;
	}
	for (i = 0; i < g->ninputs; i++) {
		const struct feat_value *v = &inputs[i];
		uint64_t word;
		unsigned need;

		if (v->type == FEAT_NULL)
			continue;
		switch (v->type) {
		case FEAT_DOUBLE:
			memcpy(&word, &v->u.d, 8);
			break;
		case FEAT_STRING: {
			long sid = feat_keymap_intern(&st->strings, v->u.s.ptr,
						      v->u.s.len, NULL);

			if (sid < 0)
				return feat_error_nomem(err);
			word = (uint64_t)sid;
			break;
		}
		default:
			word = (uint64_t)v->u.i;
			break;
		}
		if (e)
			e[2 + i] = word;
		for (w = 0; w < st->nwin; w++) {
			struct wstat *ws = &k->ws[w * g->ninputs + i];

			need = st->need_w[w * g->ninputs + i];
			if (!need)
				continue;
			ws->n++;
			if (ws->acc)
				feat_accum_add(ws->acc, v->u.d);
			else
				ws->isum += word;
			ws->last = seq + 1;
			/* Earliest of equal extremes stays in front. */
			if (need & NEED(FEAT_OP_MIN)) {
				while (ws->mn.len &&
				       cmp_word(st, v->type, entry(st, k, mono_back(&ws->mn))[2 + i], word) > 0)
					ws->mn.len--;
				if (mono_push(&ws->mn, seq) < 0)
					return feat_error_nomem(err);
			}
			if (need & NEED(FEAT_OP_MAX)) {
				while (ws->mx.len &&
				       cmp_word(st, v->type, entry(st, k, mono_back(&ws->mx))[2 + i], word) < 0)
					ws->mx.len--;
				if (mono_push(&ws->mx, seq) < 0)
					return feat_error_nomem(err);
			}
		}
		need = st->need_u[i];
		if (need) {
			struct ustat *us = &k->us[i];

			us->n++;
			if (us->acc)
				feat_accum_add(us->acc, v->u.d);
			else
				us->isum += word;
			if (!us->has || cmp_word(st, v->type, word, us->min) < 0)
				us->min = word;
			if (!us->has || cmp_word(st, v->type, word, us->max) > 0)
				us->max = word;
			us->last = word;
			us->has = 1;
		}
	}
	k->head++;
	k->total++;
	if (!st->nwin)
		k->base = k->head;
	return 0;
}

long feat_state_find(const struct feat_state *st, const void *key,
		     size_t klen)
{
	return feat_keymap_find(&st->keys, key, klen);
}

static void sum_value(int64_t n, uint64_t isum, struct feat_accum *acc,
		      enum feat_op op, struct feat_value *v)
{
	if (!n) {
		v->type = FEAT_NULL;
		return;
	}
	if (acc) {
		double d = feat_accum_round(acc);

		if (op == FEAT_OP_AVG)
			d /= (double)n;
		v->type = FEAT_DOUBLE;
		v->u.d = d;
	} else if (op == FEAT_OP_AVG) {
		v->type = FEAT_DOUBLE;
		v->u.d = (double)(int64_t)isum / (double)n;
	} else {
		v->type = FEAT_INT;
		v->u.i = (int64_t)isum;
	}
	/* A sum beyond the double range is no number: null, like NaN. */
	if (v->type == FEAT_DOUBLE && !(v->u.d - v->u.d == 0))
		v->type = FEAT_NULL;
}

void feat_state_eval(struct feat_state *st, long id, int64_t T,
		     struct feat_value *out)
{
	const struct feat_group_by *g = st->g;
	struct feat_state_key *k = id >= 0 ? st->per_key[id] : NULL;
	size_t f, w;

	if (k)
		for (w = 0; w < st->nwin; w++)
			advance(st, k, w, sub_sat(T, st->wins[w]));
	for (f = 0; f < g->nfeatures; f++) {
		const struct feat_agg *a = &g->aggs[g->features[f].agg];
		struct feat_value *v = &out[f];
		size_t in = a->input < 0 ? 0 : (size_t)a->input;
		enum feat_type t = a->input < 0 ? FEAT_INT
				   : g->cols[g->inputs[in]].type;

		w = st->feat_win[f];
		v->type = FEAT_NULL;
		if (!k) {
			if (a->op == FEAT_OP_COUNT) {
				v->type = FEAT_INT;
				v->u.i = 0;
			}
			continue;
		}
		if (w < st->nwin) {
			struct wstat *ws = &k->ws[w * g->ninputs + in];

			switch (a->op) {
			case FEAT_OP_COUNT:
				v->type = FEAT_INT;
				v->u.i = a->input < 0 ? (int64_t)(k->head - k->tail[w])
						      : ws->n;
				break;
			case FEAT_OP_SUM:
			case FEAT_OP_AVG:
				sum_value(ws->n, ws->isum, ws->acc, a->op, v);
				break;
			case FEAT_OP_MIN:
				if (ws->mn.len)
					to_value(st, t, entry(st, k, mono_front(&ws->mn))[2 + in], v);
				break;
			case FEAT_OP_MAX:
				if (ws->mx.len)
					to_value(st, t, entry(st, k, mono_front(&ws->mx))[2 + in], v);
				break;
			case FEAT_OP_LAST:
				if (ws->last && ws->last - 1 >= k->tail[w])
					to_value(st, t, entry(st, k, ws->last - 1)[2 + in], v);
				break;
			}
		} else {
			struct ustat *us = &k->us[in];

			switch (a->op) {
			case FEAT_OP_COUNT:
				v->type = FEAT_INT;
				v->u.i = a->input < 0 ? (int64_t)k->total : us->n;
				break;
			case FEAT_OP_SUM:
			case FEAT_OP_AVG:
				sum_value(us->n, us->isum, us->acc, a->op, v);
				break;
			case FEAT_OP_MIN:
				if (us->has)
					to_value(st, t, us->min, v);
				break;
			case FEAT_OP_MAX:
				if (us->has)
					to_value(st, t, us->max, v);
				break;
			case FEAT_OP_LAST:
				if (us->has)
					to_value(st, t, us->last, v);
				break;
			}
		}
	}
}
