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
#include "aggop.h"
#include "buf.h"
#include "error.h"
#include "plan.h"
#include "state.h"
#include "time.h"

#define NEED(op) (1u << (op))

struct mono {
	uint64_t *seq;
	size_t cap, head, len;
};

struct wstat {
	int64_t n;			/* non-null values inside */
	feat_i128 isum;			/* int sums, exact */
	struct feat_accum *acc;		/* double sums */
	struct mono mn, mx;
	uint64_t last;			/* seq + 1 of the newest non-null */
};

struct ustat {
	int64_t n;
	feat_i128 isum;
	struct feat_accum *acc;
	int has;
	uint64_t min, max, last;
};

/*
 * The buckets of one hop H for one key: bucket i holds the states of the
 * hop's features over the events in [i*H, (i+1)*H). A ring of at most
 * (longest window / H + 2) buckets, allocated as the key needs them; a
 * bucket leaving the ring keeps its memory for the next one.
 */
struct hopring {
	int64_t first;			/* bucket index of the oldest kept */
	size_t n;			/* buckets kept */
	size_t head;			/* ring position of the oldest */
	size_t cap;
	struct feat_astate *b;		/* [cap * nfeat] */
	unsigned char *ready;		/* per position: states initialised */
};

struct feat_state_key {
	uint64_t *ring;
	size_t cap;			/* entries; a power of two */
	uint64_t base, head;		/* seqs [base, head) are stored */
	uint64_t total;			/* events ever */
	uint64_t *tail;			/* per bounded window */
	struct wstat *ws;		/* [window * ninputs + input] */
	struct ustat *us;		/* per input */
	struct feat_astate *run;	/* RUN features' states */
	struct hopring *hr;		/* per hop */
	int tiled;			/* state records were merged in */
	int64_t tiled_last;		/* then: their latest event */
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

/* Words compare and read back as the aggregation states' do (aggop.c). */
static int cmp_word(const struct feat_state *st, enum feat_type t, uint64_t a,
		    uint64_t b)
{
	return feat_word_cmp(&st->ctx, t, a, b);
}

static void to_value(const struct feat_state *st, enum feat_type t, uint64_t w,
		     struct feat_value *v)
{
	feat_word_value(&st->ctx, t, w, v);
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
	st->fkind = calloc(g->nfeatures + 1, 1);
	st->fslot = calloc(g->nfeatures + 1, sizeof(*st->fslot));
	st->hops = calloc(g->nfeatures + 1, sizeof(*st->hops));
	st->hop_reach = calloc(g->nfeatures + 1, sizeof(*st->hop_reach));
	st->hop_nfeat = calloc(g->nfeatures + 1, sizeof(*st->hop_nfeat));
	st->hop_feat = calloc((g->nfeatures + 1) * (g->nfeatures + 1),
			      sizeof(*st->hop_feat));
	st->scratch = calloc(g->nfeatures + 1, sizeof(*st->scratch));
	st->words = calloc(g->ninputs + 1, sizeof(*st->words));
	if (!st->wins || !st->feat_win || !st->fkind || !st->fslot ||
	    !st->hops || !st->hop_reach || !st->hop_nfeat || !st->hop_feat ||
	    !st->scratch || !st->words)
		return feat_error_nomem(err);
	st->hop_stride = g->nfeatures + 1;
	st->ctx.strings = &st->strings;
	for (f = 0; f < g->nfeatures; f++) {
		const struct feat_agg *a = &g->aggs[g->features[f].agg];
		int64_t len = a->windows[g->features[f].window];
		int64_t hop = a->hops[g->features[f].window];
		int fast = a->op <= FEAT_OP_LAST && a->by < 0 && !a->explode &&
			   !(a->in_type == FEAT_VECTOR && a->op != FEAT_OP_COUNT &&
			     a->op != FEAT_OP_LAST);

		if (feat_aggop_init(a, &st->scratch[f]) < 0)
			return feat_error_nomem(err);
		if (hop) {
			size_t h;

			for (h = 0; h < st->nhop; h++)
				if (st->hops[h] == hop)
					break;
			if (h == st->nhop)
				st->hops[st->nhop++] = hop;
			if (len > st->hop_reach[h])
				st->hop_reach[h] = len;
			st->fkind[f] = FEAT_FK_HOP;
			st->fslot[f] = st->hop_nfeat[h];
			st->hop_feat[h * st->hop_stride + st->hop_nfeat[h]++] = f;
			continue;
		}
		if (len == FEAT_UNBOUNDED) {
			st->fkind[f] = fast ? FEAT_FK_FAST : FEAT_FK_RUN;
			if (!fast)
				st->fslot[f] = st->nrun++;
			continue;
		}
		st->fkind[f] = fast ? FEAT_FK_FAST : FEAT_FK_FOLD;
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
		if (st->fkind[f] == FEAT_FK_HOP || st->fkind[f] == FEAT_FK_RUN)
			continue;
		for (w = 0; w < st->nwin; w++)
			if (st->wins[w] == len)
				st->feat_win[f] = w;
		if (a->input < 0 || st->fkind[f] != FEAT_FK_FAST)
			continue;
		i = (size_t)a->input;
		if (st->feat_win[f] < st->nwin)
			st->need_w[st->feat_win[f] * g->ninputs + i] |= NEED(a->op);
		else
			st->need_u[i] |= NEED(a->op);
	}
	st->entry_words = 2 + g->ninputs;
	return 0;
}

static const struct feat_agg *hop_agg(const struct feat_state *st, size_t h,
				      size_t slot)
{
	size_t f = st->hop_feat[h * st->hop_stride + slot];

	return &st->g->aggs[st->g->features[f].agg];
}

static void hopring_free(const struct feat_state *st, size_t h,
			 struct hopring *r)
{
	size_t p, j, nf = st->hop_nfeat[h];

	for (p = 0; p < r->cap; p++)
		if (r->ready[p])
			for (j = 0; j < nf; j++)
				feat_aggop_release(hop_agg(st, h, j), &r->b[p * nf + j]);
	free(r->b);
	free(r->ready);
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
	for (i = 0; k->run && i < st->g->nfeatures; i++)
		if (st->fkind[i] == FEAT_FK_RUN)
			feat_aggop_release(&st->g->aggs[st->g->features[i].agg],
					   &k->run[st->fslot[i]]);
	for (i = 0; k->hr && i < st->nhop; i++)
		hopring_free(st, i, &k->hr[i]);
	free(k->run);
	free(k->hr);
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
	for (i = 0; st->scratch && i < st->g->nfeatures; i++)
		feat_aggop_release(&st->g->aggs[st->g->features[i].agg],
				   &st->scratch[i]);
	free(st->scratch);
	for (i = 0; st->tmp && i < st->g->naggs; i++)
		feat_aggop_release(&st->g->aggs[i], &st->tmp[i]);
	free(st->tmp);
	free(st->fkind);
	free(st->fslot);
	free(st->hops);
	free(st->hop_reach);
	free(st->hop_nfeat);
	free(st->hop_feat);
	free(st->words);
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
	k->run = calloc(st->nrun + 1, sizeof(*k->run));
	k->hr = calloc(st->nhop + 1, sizeof(*k->hr));
	if (!k->tail || !k->ws || !k->us || !k->run || !k->hr)
		goto fail;
	for (i = 0; i < g->nfeatures; i++)
		if (st->fkind[i] == FEAT_FK_RUN &&
		    feat_aggop_init(&g->aggs[g->features[i].agg],
				    &k->run[st->fslot[i]]) < 0)
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
			ws->isum -= (int64_t)e[2 + i];
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

static int64_t bucket_of(int64_t ts, int64_t hop)
{
	return ts >= 0 ? ts / hop : -((-(ts + 1)) / hop) - 1;
}

static struct feat_astate *bucket_at(const struct feat_state *st, size_t h,
				     struct hopring *r, int64_t idx)
{
	size_t p = (r->head + (size_t)(idx - r->first)) % r->cap;

	return &r->b[p * st->hop_nfeat[h]];
}

/* Makes room for bucket idx at the end of the ring and returns its
 * (empty) states, or NULL when out of memory. */
static struct feat_astate *bucket_push(const struct feat_state *st, size_t h,
				       struct hopring *r, int64_t idx)
{
	size_t nf = st->hop_nfeat[h], p, j;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 4, q;
		struct feat_astate *b = calloc(cap * nf, sizeof(*b));
		unsigned char *ready = calloc(cap, 1);

		if (!b || !ready) {
			free(b);
			free(ready);
			return NULL;
		}
		/* Old slots move in ring order; their memory comes along. */
		for (q = 0; q < r->cap; q++) {
			size_t from = (r->head + q) % r->cap;

			memcpy(&b[q * nf], &r->b[from * nf], nf * sizeof(*b));
			ready[q] = r->ready[from];
		}
		free(r->b);
		free(r->ready);
		r->b = b;
		r->ready = ready;
		r->head = 0;
		r->cap = cap;
	}
	if (!r->n)
		r->first = idx;
	p = (r->head + r->n) % r->cap;
	for (j = 0; j < nf; j++) {
		const struct feat_agg *a = hop_agg(st, h, j);

		if (!r->ready[p]) {
			if (feat_aggop_init(a, &r->b[p * nf + j]) < 0)
				return NULL;
		} else {
			feat_aggop_reset(a, &r->b[p * nf + j]);
		}
	}
	r->ready[p] = 1;
	r->n++;
	return &r->b[p * nf];
}

/*
 * Folds an event's input word w (bucket bw) into s: one value, or with
 * "explode" each element of the list that w names.
 */
static int feed(struct feat_state *st, const struct feat_agg *a,
		struct feat_astate *s, uint64_t w, uint64_t bw)
{
	const unsigned char *p, *end;
	size_t len;

	if (!a->explode)
		return feat_aggop_add(a, &st->ctx, s, w, bw);
	p = feat_keymap_key(&st->strings, w, &len);
	end = p + len;
	while (p < end) {
		uint64_t e;

		if (a->in_type == FEAT_DOUBLE) {
			uint64_t u = 0;
			int i;

			for (i = 7; i >= 0; i--)
				u = u << 8 | p[i];
			e = u;
			p += 8;
		} else {
			uint64_t n;
			long id;

			if (feat_get_varint(&p, end, &n) < 0 || n > (uint64_t)(end - p))
				return 0;
			id = feat_keymap_intern(&st->strings, p, (size_t)n, NULL);
			if (id < 0)
				return -1;
			e = (uint64_t)id;
			p += n;
		}
		if (feat_aggop_add(a, &st->ctx, s, e, bw) < 0)
			return -1;
	}
	return 0;
}

/* An event whose input (or bucket) is null does not count. */
static int skip(const struct feat_agg *a, uint64_t mask)
{
	return (a->input >= 0 && (mask >> a->input & 1)) ||
	       (a->by >= 0 && (mask >> a->by & 1));
}

/* The states of hop h's bucket for time ts in ring r, made (and older
 * buckets no window reaches dropped) as needed; NULL when out of memory
 * or when ts goes back before the newest bucket. */
static struct feat_astate *hop_bucket(const struct feat_state *st, size_t h,
				      struct hopring *r, int64_t ts)
{
	int64_t idx = bucket_of(ts, st->hops[h]);
	int64_t keep = bucket_of(sub_sat(ts, st->hop_reach[h]), st->hops[h]);

	/* Buckets no later window can reach leave the ring. */
	while (r->n && r->first < keep) {
		r->head = (r->head + 1) % r->cap;
		r->first++;
		r->n--;
	}
	if (r->n && r->first + (int64_t)r->n - 1 > idx)
		return NULL;	/* out of time order */
	/* Empty buckets fill a gap up to this one: after the eviction
	 * above, at most reach / hop + 1 of them. */
	while (!r->n || r->first + (int64_t)r->n - 1 < idx) {
		int64_t next = r->n ? r->first + (int64_t)r->n : idx;

		if (!bucket_push(st, h, r, next))
			return NULL;
	}
	return bucket_at(st, h, r, idx);
}

/* Adds the event (inputs in st->words, nulls in mask) to the features
 * kept by running states and by hop buckets. */
static int add_generic(struct feat_state *st, struct feat_state_key *k,
		       int64_t ts, uint64_t mask)
{
	const struct feat_group_by *g = st->g;
	size_t f, h, j;

	for (f = 0; f < g->nfeatures; f++) {
		const struct feat_agg *a = &g->aggs[g->features[f].agg];

		if (st->fkind[f] != FEAT_FK_RUN || skip(a, mask))
			continue;
		if (feed(st, a, &k->run[st->fslot[f]],
			 a->input >= 0 ? st->words[a->input] : 0,
			 a->by >= 0 ? st->words[a->by] : 0) < 0)
			return -1;
	}
	for (h = 0; h < st->nhop; h++) {
		struct feat_astate *b = hop_bucket(st, h, &k->hr[h], ts);

		if (!b)
			return -1;
		for (j = 0; j < st->hop_nfeat[h]; j++) {
			const struct feat_agg *a = hop_agg(st, h, j);

			if (skip(a, mask))
				continue;
			if (feed(st, a, &b[j],
				 a->input >= 0 ? st->words[a->input] : 0,
				 a->by >= 0 ? st->words[a->by] : 0) < 0)
				return -1;
		}
	}
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
		case FEAT_STRING:
		case FEAT_VECTOR:
		case FEAT_STRLIST:
		case FEAT_MAP: {
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
		st->words[i] = word;
		for (w = 0; w < st->nwin; w++) {
			struct wstat *ws = &k->ws[w * g->ninputs + i];

			need = st->need_w[w * g->ninputs + i];
			if (!need)
				continue;
			ws->n++;
			if (ws->acc)
				feat_accum_add(ws->acc, v->u.d);
			else
				ws->isum += (int64_t)word;
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
				us->isum += (int64_t)word;
			if (!us->has || cmp_word(st, v->type, word, us->min) < 0)
				us->min = word;
			if (!us->has || cmp_word(st, v->type, word, us->max) > 0)
				us->max = word;
			us->last = word;
			us->has = 1;
		}
	}
	if (add_generic(st, k, ts, mask) < 0)
		return feat_error_nomem(err);
	k->head++;
	k->total++;
	if (!st->nwin)
		k->base = k->head;
	return 0;
}

int feat_state_tiled(struct feat_state *st, struct feat_error *err)
{
	const struct feat_group_by *g = st->g;
	size_t f, i;

	if (st->tmp)
		return 0;
	if (st->keys.count || st->nwin)
		return feat_error_set(err, NULL, 0, 0,
				      "internal error: state records for group_by '%s' come too late or do not suit it",
				      g->name);
	st->tmp = calloc(g->naggs + 1, sizeof(*st->tmp));
	if (!st->tmp)
		return feat_error_nomem(err);
	for (i = 0; i < g->naggs; i++)
		if (feat_aggop_init(&g->aggs[i], &st->tmp[i]) < 0)
			return feat_error_nomem(err);
	/* Unbounded windows keep whole states, which records merge into. */
	for (f = 0; f < g->nfeatures; f++)
		if (st->fkind[f] == FEAT_FK_FAST) {
			st->fkind[f] = FEAT_FK_RUN;
			st->fslot[f] = st->nrun++;
		}
	memset(st->need_u, 0, (g->ninputs + 1) * sizeof(*st->need_u));
	return 0;
}

int feat_state_merge(struct feat_state *st, const void *key, size_t klen,
		     int64_t start, int64_t last, const unsigned char *states,
		     size_t len, struct feat_error *err)
{
	const struct feat_group_by *g = st->g;
	const unsigned char *p = states, *end = states + len;
	struct feat_state_key *k;
	size_t i, f, h;
	int added;
	long id;

	if (!st->tmp && feat_state_tiled(st, err) < 0)
		return -1;
	for (i = 0; i < g->naggs; i++) {
		int rc = feat_aggop_decode(&g->aggs[i], &st->strings, &st->tmp[i],
					   &p, end);

		if (rc == -2)
			return feat_error_nomem(err);
		if (rc < 0)
			return feat_error_set(err, NULL, 0, 0,
					      "tile stream record is corrupted (its states)");
	}
	if (p != end)
		return feat_error_set(err, NULL, 0, 0,
				      "tile stream record is corrupted (its states)");
	id = feat_keymap_intern(&st->keys, key, klen, &added);
	if (id < 0)
		return feat_error_nomem(err);
	if (added) {
		if ((size_t)id >= st->per_key_cap) {
			size_t cap = st->per_key_cap ? st->per_key_cap * 2 : 256;
			struct feat_state_key **pk = realloc(st->per_key,
							     cap * sizeof(*pk));

			if (!pk)
				return feat_error_nomem(err);
			st->per_key = pk;
			st->per_key_cap = cap;
		}
		st->per_key[id] = key_new(st);
		if (!st->per_key[id])
			return feat_error_nomem(err);
	}
	k = st->per_key[id];
	for (f = 0; f < g->nfeatures; f++) {
		size_t a = g->features[f].agg;

		if (st->fkind[f] == FEAT_FK_RUN &&
		    feat_aggop_merge(&g->aggs[a], &st->ctx, &k->run[st->fslot[f]],
				     &st->tmp[a]) < 0)
			return feat_error_nomem(err);
	}
	for (h = 0; h < st->nhop; h++) {
		struct feat_astate *b = hop_bucket(st, h, &k->hr[h], start);
		size_t j;

		if (!b)
			return feat_error_nomem(err);
		for (j = 0; j < st->hop_nfeat[h]; j++) {
			size_t a = g->features[st->hop_feat[h * st->hop_stride + j]].agg;

			if (feat_aggop_merge(&g->aggs[a], &st->ctx, &b[j],
					     &st->tmp[a]) < 0)
				return feat_error_nomem(err);
		}
	}
	if (!k->tiled || last > k->tiled_last)
		k->tiled_last = last;
	k->tiled = 1;
	k->total++;
	return 0;
}

long feat_state_find(const struct feat_state *st, const void *key,
		     size_t klen)
{
	return feat_keymap_find(&st->keys, key, klen);
}

static void sum_value(int64_t n, feat_i128 isum, struct feat_accum *acc,
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
		v->u.d = (double)isum / (double)n;
	} else {
		feat_i128_value(isum, v);
	}
	/* A sum beyond the double range is no number: null, like NaN. */
	if (v->type == FEAT_DOUBLE && !(v->u.d - v->u.d == 0))
		v->type = FEAT_NULL;
}

/* The value of a feature kept by folding: its window's events at T. */
static int eval_fold(struct feat_state *st, struct feat_state_key *k, size_t f,
		     struct feat_value *v, struct feat_buf *json)
{
	const struct feat_agg *a = &st->g->aggs[st->g->features[f].agg];
	struct feat_astate *s = &st->scratch[f];
	size_t w = st->feat_win[f];
	uint64_t seq;

	feat_aggop_reset(a, s);
	for (seq = k->tail[w]; seq < k->head; seq++) {
		const uint64_t *e = entry(st, k, seq);

		if (skip(a, e[1]))
			continue;
		if (feed(st, a, s, a->input >= 0 ? e[2 + a->input] : 0,
			 a->by >= 0 ? e[2 + a->by] : 0) < 0)
			return -1;
	}
	return feat_aggop_result(a, &st->ctx, s, v, json);
}

/* The value of a sawtooth feature: its buckets from floor_H(T - W) on. */
static int eval_hop(struct feat_state *st, struct feat_state_key *k, size_t f,
		    int64_t T, struct feat_value *v, struct feat_buf *json)
{
	const struct feat_agg *a = &st->g->aggs[st->g->features[f].agg];
	const struct feat_feature *ft = &st->g->features[f];
	struct feat_astate *s = &st->scratch[f];
	size_t h;
	struct hopring *r;
	int64_t lo, idx;

	for (h = 0; st->hops[h] != a->hops[ft->window]; h++)
		;
	r = &k->hr[h];
	lo = bucket_of(sub_sat(T, a->windows[ft->window]), st->hops[h]);
	feat_aggop_reset(a, s);
	for (idx = r->first > lo ? r->first : lo;
	     idx < r->first + (int64_t)r->n; idx++)
		if (feat_aggop_merge(a, &st->ctx, s,
				     &bucket_at(st, h, r, idx)[st->fslot[f]]) < 0)
			return -1;
	return feat_aggop_result(a, &st->ctx, s, v, json);
}

int feat_state_eval(struct feat_state *st, long id, int64_t T,
		    struct feat_value *out, struct feat_buf *json,
		    struct feat_error *err)
{
	const struct feat_group_by *g = st->g;
	struct feat_state_key *k = id >= 0 ? st->per_key[id] : NULL;
	size_t f, w;

	if (k && k->tiled && k->tiled_last >= T) {
		char at[40], last[40];

		feat_ts_format_iso(at, T);
		feat_ts_format_iso(last, k->tiled_last);
		return feat_error_set(err, NULL, 0, 0,
				      "time %s falls inside a tile with events at or after it (until %s): state tiles answer only times on or after each tile's last event; use event tiles, or a resolution that divides the times asked",
				      at, last);
	}
	if (k)
		for (w = 0; w < st->nwin; w++)
			advance(st, k, w, sub_sat(T, st->wins[w]));
	for (f = 0; f < g->nfeatures; f++) {
		const struct feat_agg *a = &g->aggs[g->features[f].agg];
		struct feat_value *v = &out[f];
		size_t in = a->input < 0 ? 0 : (size_t)a->input;
		enum feat_type t = a->in_type;
		int rc = 0;

		w = st->feat_win[f];
		v->type = FEAT_NULL;
		if (!k) {
			/* No events: what the operation gives on empty. */
			feat_aggop_reset(a, &st->scratch[f]);
			rc = feat_aggop_result(a, &st->ctx, &st->scratch[f], v, json);
		} else if (st->fkind[f] == FEAT_FK_FOLD) {
			rc = eval_fold(st, k, f, v, json);
		} else if (st->fkind[f] == FEAT_FK_RUN) {
			rc = feat_aggop_result(a, &st->ctx, &k->run[st->fslot[f]], v, json);
		} else if (st->fkind[f] == FEAT_FK_HOP) {
			rc = eval_hop(st, k, f, T, v, json);
		} else if (w < st->nwin) {
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
			default:
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
			default:
				break;
			}
		}
		if (rc < 0)
			return feat_error_nomem(err);
	}
	/* JSON results hold offsets until the buffer stops moving. */
	for (f = 0; f < g->nfeatures; f++)
		if (out[f].type == FEAT_JSON)
			out[f].u.s.ptr = json->ptr + (uintptr_t)out[f].u.s.ptr;
	return 0;
}
