/*
 * state.c - per-key window state: rings of events, running aggregates.
 *
 * A key's events live in a ring addressed by sequence number (seq): entry
 * seq holds the event time, a mask of null inputs and one 64-bit word for
 * each input that a bounded window reads back (integer and time values,
 * double bits, or the id of an interned string). When every bounded
 * window is at most 2^31 ms (24 days), the times are kept apart, as 32-bit
 * offsets from a time of the key (tbase): the ring holds no event older
 * than the longest window before the newest, so the offsets of a ring
 * rebased on its oldest event fit, and a rebase comes at most once per
 * 2^31 ms of a key's events. Each bounded window has a
 * tail seq: the oldest event still inside it. Entering and leaving a window
 * update the window's running aggregates, so evaluating a feature costs
 * O(1) amortised.
 *
 * Layout. Per-key state is touched once per event for some random key, so
 * its cost is cache and TLB misses, not instructions: each key keeps
 * everything of a fixed size (window tails, the running aggregates that
 * some feature needs, running states, hop rings) in one block, and
 * everything that grows with its events in others: the ring, and per
 * running aggregate with a min or max its monotonic queues, sized to
 * their own contents (a short window's queue stays short however long
 * the ring that the longest window needs).
 *
 * Sums of doubles. A sum is kept as an exact fixed-point integer of 2^-64
 * units in 128 bits for as long as every value added is a multiple of
 * 2^-64 and no partial sum overflows, which is the case for values of
 * everyday magnitudes; otherwise it moves, exactly, into a full exact
 * accumulator (accum.h). Both hold the exact sum and round it correctly,
 * so the result is the same bits either way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accum.h"
#include "aggop.h"
#include "buf.h"
#include "error.h"
#include "hash.h"
#include "plan.h"
#include "state.h"
#include "tile.h"
#include "time.h"

#define NEED(op) (1u << (op))
#define SUMS (NEED(FEAT_OP_SUM) | NEED(FEAT_OP_AVG))

/* A monotonic queue of seqs (their low 32 bits: the ring is shorter than
 * 2^32); its storage is queue q of its stat's queue block (struct wstat:
 * qb). */
struct mono {
	uint32_t head, len;
};

/* Fields ordered so that none is padded (the 16-byte sum first). */
struct wstat {
	feat_i128 isum;			/* int sums; double sums in 2^-64 units */
	int64_t n;			/* non-null values inside */
	struct feat_accum *acc;		/* double sums beyond the fixed point */
	uint64_t last;			/* seq + 1 of the newest non-null */
	struct mono mn, mx;
	/* the queues' block, NULL until the first is pushed: qb[0] is the
	 * entries each queue has room for (cap), queue q (0 or 1) the cap
	 * entries from qb + 1 + q * cap, a ring from its head */
	uint32_t *qb;
};

struct ustat {
	feat_i128 isum;
	int64_t n;
	struct feat_accum *acc;
	uint64_t min, max, last;
	int has;
};

/* What one running aggregate of a bounded window (struct wstat) needs:
 * stats of window w are those from st->wfirst[w] to st->wfirst[w + 1]. */
struct feat_state_stat {
	uint32_t in;			/* input */
	uint32_t col;			/* its word in a ring entry */
	uint32_t rbit;			/* its bit in a ring entry's null mask */
	unsigned need;			/* bit per enum feat_op */
	int dbl;			/* a sum of doubles */
	uint32_t mnq, mxq;		/* its queues in its queue block */
	uint32_t nq;			/* queues: 0, 1 or 2 */
};

/*
 * Events wait in a short queue before they are applied (see state.h), so
 * that the memory of a key's state is fetched while earlier events are
 * applied: each event's per-key state is a few cache misses away, and a
 * queue of PEND events lets them overlap instead of following one
 * another. Keys and strings are interned at once, in event order, so ids
 * do not depend on the queue.
 */
#define PEND 16

struct pend {
	long id;			/* -1: applied already (by eval) */
	struct feat_state_key *k;	/* once known: PEND / 4 events later */
	int64_t ts;
	uint64_t mask;
};

/*
 * The buckets of one hop H for one key: the bucket of index i holds the
 * states of the hop's features over the events in [i*H, (i+1)*H). Only
 * buckets with events are kept, oldest first, each with its index: a
 * ring of at most (longest window / H + 2) of them, however many hops a
 * window spans, allocated as the key needs them. A bucket leaving the
 * ring keeps its memory for the next one.
 */
struct hopring {
	uint32_t n;			/* buckets kept */
	uint32_t head;			/* ring position of the oldest */
	uint32_t cap;			/* positions: 0 or a power of two */
	struct feat_astate *b;		/* [cap * nfeat], then int64_t idx[cap]
					 * (each position's bucket index), then
					 * unsigned char ready[cap] (states
					 * initialised) */
};

/* One allocation of st->key_size bytes: this header, then the arrays its
 * pointers name. The ring block (ring, then the queues) is the other. */
struct feat_state_key {
	uint64_t *ring;
	uint32_t cap;			/* entries */
	uint8_t tiled;			/* state records were merged in */
	uint8_t masked;			/* the ring has its mask bytes: a null
					 * was stored (!st->mask_word) */
	uint64_t base, head;		/* seqs [base, head) are stored */
	uint64_t org;			/* seq at position 0; base - org < cap */
	uint64_t total;			/* events ever */
	int64_t tiled_last;		/* then: their latest event */
	int64_t tbase;			/* times of the ring (!st->tword): offsets
					 * from this */
	/* then, at st->off_tail and so on (key_tail() and so on): */
	/* uint64_t tail[]: per bounded window */
	/* struct wstat ws[]: per st->stat */
	/* struct ustat us[]: per input with st->us_at[input] >= 0 */
	/* struct feat_astate run[]: RUN features' states */
	/* struct hopring hr[]: per hop */
};

static inline uint64_t *key_tail(const struct feat_state *st,
				 const struct feat_state_key *k)
{
	return (uint64_t *)((char *)k + st->off_tail);
}

static inline struct wstat *key_ws(const struct feat_state *st,
				   const struct feat_state_key *k)
{
	return (struct wstat *)((char *)k + st->off_ws);
}

static inline struct ustat *key_us(const struct feat_state *st,
				   const struct feat_state_key *k)
{
	return (struct ustat *)((char *)k + st->off_us);
}

static inline struct feat_astate *key_run(const struct feat_state *st,
					  const struct feat_state_key *k)
{
	return (struct feat_astate *)((char *)k + st->off_run);
}

static inline struct hopring *key_hr(const struct feat_state *st,
				     const struct feat_state_key *k)
{
	return (struct hopring *)((char *)k + st->off_hr);
}

static inline uint32_t *queue(const uint32_t *qb, uint32_t q)
{
	return (uint32_t *)qb + 1 + (size_t)q * qb[0];
}

/* Index i (below 2 * cap) of a queue of block qb, wrapped. */
static inline uint32_t qwrap(const uint32_t *qb, uint32_t i)
{
	return i >= qb[0] ? i - qb[0] : i;
}

/* Index i (below 2 * cap) of a ring or queue of k, wrapped. */
static inline size_t wrap(const struct feat_state_key *k, size_t i)
{
	return i >= k->cap ? i - k->cap : i;
}

/* The ring position of seq, one of [base, head]. */
static inline size_t rpos(const struct feat_state_key *k, uint64_t seq)
{
	return wrap(k, (size_t)(seq - k->org));
}

static inline uint32_t mono_front(const uint32_t *qb, uint32_t q,
				  const struct mono *m)
{
	return queue(qb, q)[m->head];
}

static inline uint32_t mono_back(const uint32_t *qb, uint32_t q,
				 const struct mono *m)
{
	return queue(qb, q)[qwrap(qb, m->head + m->len - 1)];
}

/* The queue has room for one more (m->len < qb[0]: see mono_room). */
static inline void mono_push(uint32_t *qb, uint32_t q, struct mono *m,
			     uint64_t seq)
{
	queue(qb, q)[qwrap(qb, m->head + m->len)] = (uint32_t)seq;
	m->len++;
}

static inline void mono_pop_front(const uint32_t *qb, struct mono *m)
{
	m->head = qwrap(qb, m->head + 1);
	m->len--;
}

/*
 * Makes room for one more entry in each queue of stat d's block (ws->qb;
 * mono_room when full): the block grows by half, to the size of an allocation unit of malloc
 * (16n + 8 bytes), and queues move to head 0. The queues' lengths follow
 * the events of their own window, usually a few. Returns 0, or -1 when
 * out of memory (or beyond 2^31 entries).
 */
static int mono_grow(const struct feat_state_stat *d, struct wstat *ws)
{
	size_t cap = ws->qb ? ws->qb[0] : 0, want, bytes, x;
	uint32_t *nb;
	int j;

	want = cap + cap / 2 + 1;
	bytes = 4 * (1 + d->nq * want);
	bytes = ((bytes + 8 + 15) & ~(size_t)15) - 8;
	want = (bytes / 4 - 1) / d->nq;
	if (want > (size_t)1 << 31)
		return -1;
	nb = malloc(bytes);
	if (!nb)
		return -1;
	nb[0] = (uint32_t)want;
	for (j = 0; j < 2; j++) {
		struct mono *q = j ? &ws->mx : &ws->mn;
		uint32_t qi = j ? d->mxq : d->mnq;

		if (!(d->need & NEED(j ? FEAT_OP_MAX : FEAT_OP_MIN)))
			continue;
		for (x = 0; x < q->len; x++)
			queue(nb, qi)[x] = queue(ws->qb, qi)[qwrap(ws->qb, q->head + (uint32_t)x)];
		q->head = 0;
	}
	free(ws->qb);
	ws->qb = nb;
	return 0;
}

static inline uint64_t *entry(const struct feat_state *st,
			      const struct feat_state_key *k, uint64_t seq)
{
	return k->ring + rpos(k, seq) * st->entry_words;
}

/* The 32-bit time offsets of a ring without times in its entries: after
 * the entries. */
static inline uint32_t *ring_toff(const struct feat_state *st,
				  const struct feat_state_key *k)
{
	return (uint32_t *)(k->ring + k->cap * st->entry_words);
}

/* The null mask of entry seq: a bit per ring column (st->rbit). */
static inline unsigned char *mask_bytes(const struct feat_state *st,
					const struct feat_state_key *k)
{
	return (unsigned char *)(ring_toff(st, k) + (st->tword ? 0 : k->cap));
}

static inline uint64_t ring_mask(const struct feat_state *st,
				 const struct feat_state_key *k, uint64_t seq)
{
	if (st->mask_word)
		return entry(st, k, seq)[st->tword];
	return k->masked ? mask_bytes(st, k)[rpos(k, seq)] : 0;
}

/* The time of event seq of the ring. */
static inline int64_t ring_time(const struct feat_state *st,
				const struct feat_state_key *k, uint64_t seq)
{
	if (st->tword)
		return (int64_t)entry(st, k, seq)[0];
	return (int64_t)((uint64_t)k->tbase + ring_toff(st, k)[rpos(k, seq)]);
}

static double as_d(uint64_t w)
{
	double d;

	memcpy(&d, &w, 8);
	return d;
}

static double dsum_round(feat_i128 x, struct feat_accum *acc)
{
	return acc ? feat_accum_round(acc) : feat_fix_round(x);
}

/* Words compare and read back as the aggregation states' do (aggop.c). */
static inline int cmp_word(const struct feat_state *st, enum feat_type t,
			   uint64_t a, uint64_t b)
{
	/* the common case without a call; aggop.c's rule for doubles */
	if (t == FEAT_DOUBLE) {
		double x = as_d(a), y = as_d(b);

		return x < y ? -1 : x > y;
	}
	return feat_word_cmp(&st->ctx, t, a, b);
}

static void to_value(const struct feat_state *st, enum feat_type t, uint64_t w,
		     struct feat_value *v)
{
	feat_word_value(&st->ctx, t, w, v);
}

static int is_double_sum(const struct feat_state *st, size_t input,
			 unsigned need)
{
	return (need & SUMS) &&
	       st->g->cols[st->g->inputs[input]].type == FEAT_DOUBLE;
}

static size_t align16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

/*
 * Lays out the running aggregates, the ring entries and a key's block
 * from need_w, need_u, fkind and nrun; again (before any key exists)
 * whenever those change.
 */
static int plan_layout(struct feat_state *st)
{
	const struct feat_group_by *g = st->g;
	size_t ni = g->ninputs, w, i, f, ncol = 0;
	unsigned char *in_ring = calloc(ni + 1, 1);

	free(st->rcol);
	free(st->stat);
	free(st->wfirst);
	free(st->ws_at);
	free(st->us_at);
	st->nstat = st->nus = 0;

	st->rcol = calloc(ni + 1, sizeof(*st->rcol));
	st->stat = calloc(st->nwin * ni + 1, sizeof(*st->stat));
	st->wfirst = calloc(st->nwin + 1, sizeof(*st->wfirst));
	st->ws_at = calloc(st->nwin * ni + 1, sizeof(*st->ws_at));
	st->us_at = calloc(ni + 1, sizeof(*st->us_at));
	if (!in_ring || !st->rcol || !st->stat || !st->wfirst || !st->ws_at ||
	    !st->us_at) {
		free(in_ring);
		return -1;
	}
	/* Ring entries keep the inputs that bounded windows read back. */
	for (w = 0; w < st->nwin; w++)
		for (i = 0; i < ni; i++)
			if (st->need_w[w * ni + i])
				in_ring[i] = 1;
	for (f = 0; f < g->nfeatures; f++) {
		const struct feat_agg *a = &g->aggs[g->features[f].agg];

		if (st->fkind[f] != FEAT_FK_FOLD)
			continue;
		if (a->input >= 0)
			in_ring[a->input] = 1;
		if (a->by >= 0)
			in_ring[a->by] = 1;
	}
	for (i = 0; i < ni; i++)
		ncol += in_ring[i];
	/*
	 * An entry is the time (or, with windows of at most 2^31 ms, none:
	 * 32-bit offsets after the entries), then the columns; the null mask
	 * of up to 8 columns is a byte of its own after the entries and times
	 * (most plans read back one or two inputs), else a word after the
	 * time.
	 */
	st->tword = 0;
	for (w = 0; w < st->nwin; w++)
		if (st->wins[w] > (INT64_C(1) << 31))
			st->tword = 1;
	st->mask_word = ncol > 8;
	st->ring_in = 0;
	for (i = 0, ncol = 0; i < ni; i++) {
		st->rcol[i] = in_ring[i] ? (uint32_t)(st->tword + st->mask_word + ncol++) : 0;
		st->ring_in |= (uint64_t)in_ring[i] << i;
	}
	free(in_ring);
	st->entry_words = (size_t)st->tword + (size_t)st->mask_word + ncol;
	for (w = 0; w < st->nwin; w++) {
		st->wfirst[w] = st->nstat;
		for (i = 0; i < ni; i++) {
			unsigned need = st->need_w[w * ni + i];
			struct feat_state_stat *s = &st->stat[st->nstat];

			st->ws_at[w * ni + i] = -1;
			if (!need)
				continue;
			st->ws_at[w * ni + i] = (long)st->nstat++;
			s->in = (uint32_t)i;
			s->col = st->rcol[i];
			s->rbit = st->rcol[i] - (uint32_t)st->tword - (uint32_t)st->mask_word;
			s->need = need;
			s->dbl = is_double_sum(st, i, need);
			if (need & NEED(FEAT_OP_MIN))
				s->mnq = s->nq++;
			if (need & NEED(FEAT_OP_MAX))
				s->mxq = s->nq++;
		}
	}
	st->wfirst[st->nwin] = st->nstat;
	for (i = 0; i < ni; i++)
		st->us_at[i] = st->need_u[i] ? (long)st->nus++ : -1;
	st->off_tail = align16(sizeof(struct feat_state_key));
	st->off_ws = align16(st->off_tail + st->nwin * sizeof(uint64_t));
	st->off_us = align16(st->off_ws + st->nstat * sizeof(struct wstat));
	st->off_run = align16(st->off_us + st->nus * sizeof(struct ustat));
	st->off_hr = align16(st->off_run + st->nrun * sizeof(struct feat_astate));
	st->key_size = align16(st->off_hr + st->nhop * sizeof(struct hopring));
	return 0;
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
	if (plan_layout(st) < 0)
		return feat_error_nomem(err);
	st->pend = calloc(PEND, sizeof(struct pend));
	st->pend_words = calloc(PEND * (g->ninputs + 1), sizeof(*st->pend_words));
	st->pend_types = calloc(PEND * (g->ninputs + 1), 1);
	if (!st->pend || !st->pend_words || !st->pend_types)
		return feat_error_nomem(err);
	/*
	 * Exploded lists intern their elements when applied, so with them
	 * events are applied at once: the ids of strings stay in event order.
	 */
	st->pend_depth = PEND;
	for (f = 0; f < g->nfeatures; f++)
		if (g->aggs[g->features[f].agg].explode)
			st->pend_depth = 0;
	return 0;
}

static const struct feat_agg *hop_agg(const struct feat_state *st, size_t h,
				      size_t slot)
{
	size_t f = st->hop_feat[h * st->hop_stride + slot];

	return &st->g->aggs[st->g->features[f].agg];
}

static inline int64_t *hop_idx(const struct hopring *r, size_t nf)
{
	return (int64_t *)(r->b + (size_t)r->cap * nf);
}

static inline unsigned char *hop_ready(const struct hopring *r, size_t nf)
{
	return (unsigned char *)(hop_idx(r, nf) + r->cap);
}

static void hopring_free(const struct feat_state *st, size_t h,
			 struct hopring *r)
{
	size_t p, j, nf = st->hop_nfeat[h];

	for (p = 0; p < r->cap; p++)
		if (hop_ready(r, nf)[p])
			for (j = 0; j < nf; j++)
				feat_aggop_release(hop_agg(st, h, j), &r->b[p * nf + j]);
	free(r->b);
}

static void key_free(const struct feat_state *st, struct feat_state_key *k)
{
	size_t i;

	if (!k)
		return;
	for (i = 0; i < st->nstat; i++) {
		free(key_ws(st, k)[i].acc);
		free(key_ws(st, k)[i].qb);
	}
	for (i = 0; i < st->nus; i++)
		free(key_us(st, k)[i].acc);
	for (i = 0; i < st->g->nfeatures; i++)
		if (st->fkind[i] == FEAT_FK_RUN)
			feat_aggop_release(&st->g->aggs[st->g->features[i].agg],
					   &key_run(st, k)[st->fslot[i]]);
	for (i = 0; i < st->nhop; i++)
		hopring_free(st, i, &key_hr(st, k)[i]);
	free(k->ring);
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
	free(st->rcol);
	free(st->stat);
	free(st->wfirst);
	free(st->ws_at);
	free(st->us_at);
	free(st->pend);
	free(st->pend_words);
	free(st->pend_types);
	memset(st, 0, sizeof(*st));
}

static struct feat_state_key *key_new(const struct feat_state *st)
{
	const struct feat_group_by *g = st->g;
	char *blk = calloc(1, st->key_size);
	struct feat_state_key *k = (struct feat_state_key *)blk;
	size_t i;

	if (!k)
		return NULL;
	for (i = 0; i < g->nfeatures; i++)
		if (st->fkind[i] == FEAT_FK_RUN &&
		    feat_aggop_init(&g->aggs[g->features[i].agg],
				    &key_run(st, k)[st->fslot[i]]) < 0)
			goto fail;
	return k;
fail:
	/* RUN states not yet initialised are zero, which releases as empty */
	key_free(st, k);
	return NULL;
}

/* Removes the oldest event of window w from its aggregates. Returns 0, or
 * -1 when out of memory. */
static int leave(const struct feat_state *st, struct feat_state_key *k,
		 size_t w)
{
	uint64_t s = key_tail(st, k)[w];
	const uint64_t *e = entry(st, k, s);
	uint64_t rm = ring_mask(st, k, s);
	size_t i;

	for (i = st->wfirst[w]; i < st->wfirst[w + 1]; i++) {
		const struct feat_state_stat *d = &st->stat[i];
		struct wstat *ws = &key_ws(st, k)[i];

		if (rm >> d->rbit & 1)
			continue;
		ws->n--;
		if (d->dbl) {
			if (feat_fix_add(&ws->isum, &ws->acc, as_d(e[d->col]), -1) < 0)
				return -1;
		} else if (d->need & SUMS) {
			ws->isum -= (int64_t)e[d->col];
		}
		if (ws->mn.len && mono_front(ws->qb, d->mnq, &ws->mn) == (uint32_t)s)
			mono_pop_front(ws->qb, &ws->mn);
		if (ws->mx.len && mono_front(ws->qb, d->mxq, &ws->mx) == (uint32_t)s)
			mono_pop_front(ws->qb, &ws->mx);
	}
	key_tail(st, k)[w]++;
	return 0;
}

/* Moves window w's tail past every event before limit. 0 or -1. */
static inline int advance(const struct feat_state *st, struct feat_state_key *k,
		   size_t w, int64_t limit)
{
	while (key_tail(st, k)[w] < k->head && ring_time(st, k, key_tail(st, k)[w]) < limit)
		if (leave(st, k, w) < 0)
			return -1;
	return 0;
}

static inline int mono_room(const struct feat_state_stat *d, struct wstat *ws,
			    const struct mono *m)
{
	if (ws->qb && m->len < ws->qb[0])
		return 0;
	return mono_grow(d, ws);
}

static int64_t sub_sat(int64_t a, int64_t b)
{
	if (b > 0 && a < INT64_MIN + b)
		return INT64_MIN;
	return a - b;
}

/* Moves k's ring to a block of cap entries (at least its events), with
 * mask bytes when masked: entries move to base's place at 0 (org =
 * base). 0 or -1. */
static int ring_resize(const struct feat_state *st, struct feat_state_key *k,
		       size_t cap, int masked)
{
	uint64_t *r, s;

	/* queues hold the low 32 bits of seqs, exact below 2^32 entries */
	if (cap > (size_t)1 << 31)
		return -1;
	r = malloc(cap * (st->entry_words * sizeof(*r) +
			  (st->tword ? 0 : sizeof(uint32_t)) + (size_t)masked));
	if (!r)
		return -1;
	for (s = k->base; s < k->head; s++)
		memcpy(r + (s - k->base) * st->entry_words, entry(st, k, s),
		       st->entry_words * sizeof(*r));
	if (!st->tword) {
		uint32_t *to = (uint32_t *)(r + cap * st->entry_words);

		for (s = k->base; s < k->head; s++)
			to[s - k->base] = ring_toff(st, k)[rpos(k, s)];
	}
	if (masked) {
		unsigned char *to = (unsigned char *)(r + cap * st->entry_words) +
				    (st->tword ? 0 : cap * sizeof(uint32_t));

		for (s = k->base; s < k->head; s++)
			to[s - k->base] = (unsigned char)ring_mask(st, k, s);
	}
	free(k->ring);
	k->ring = r;
	k->cap = (uint32_t)cap;
	k->masked = (uint8_t)masked;
	k->org = k->base;
	return 0;
}

/* Grows the ring block by a quarter. A quarter, not a doubling, keeps most
 * of the rings' memory in use (their sizes are the peak memory of a join
 * of many keys), for more copies of each entry. */
static int ring_grow(const struct feat_state *st, struct feat_state_key *k)
{
	return ring_resize(st, k, k->cap ? k->cap + (k->cap > 16 ? k->cap / 4 : 4) : 4,
			   k->masked);
}

/* Moves the time offsets of k's ring (not empty) to a tbase of its oldest
 * event's time. With it, the offset of an event within the longest window
 * after the newest fits in 32 bits (see the top). */
static void ring_rebase(const struct feat_state *st, struct feat_state_key *k)
{
	uint32_t *t = ring_toff(st, k), d = t[rpos(k, k->base)];
	uint64_t s;

	for (s = k->base; s < k->head; s++)
		t[rpos(k, s)] -= d;
	k->tbase = (int64_t)((uint64_t)k->tbase + d);
}

static int64_t bucket_of(int64_t ts, int64_t hop)
{
	return ts >= 0 ? ts / hop : -((-(ts + 1)) / hop) - 1;
}

/* Makes room for bucket idx at the end of the ring and returns its
 * (empty) states, or NULL when out of memory. */
static struct feat_astate *bucket_push(const struct feat_state *st, size_t h,
				       struct hopring *r, int64_t idx)
{
	size_t nf = st->hop_nfeat[h], p, j;
	unsigned char *ready;

	if (r->n == r->cap) {
		struct hopring g = { .n = r->n, .cap = r->cap ? r->cap * 2 : 2 };
		size_t q;

		g.b = calloc(1, g.cap * (nf * sizeof(*g.b) + sizeof(int64_t) + 1));
		if (!g.b)
			return NULL;
		/* Old positions move in ring order; their memory comes
		 * along. */
		for (q = 0; q < r->cap; q++) {
			size_t from = (r->head + q) & (r->cap - 1);

			memcpy(&g.b[q * nf], &r->b[from * nf], nf * sizeof(*g.b));
			hop_idx(&g, nf)[q] = hop_idx(r, nf)[from];
			hop_ready(&g, nf)[q] = hop_ready(r, nf)[from];
		}
		free(r->b);
		*r = g;
	}
	p = (r->head + r->n) & (r->cap - 1);
	ready = &hop_ready(r, nf)[p];
	for (j = 0; j < nf; j++) {
		const struct feat_agg *a = hop_agg(st, h, j);

		if (!*ready) {
			if (feat_aggop_init(a, &r->b[p * nf + j]) < 0)
				return NULL;
		} else {
			feat_aggop_reset(a, &r->b[p * nf + j]);
		}
	}
	*ready = 1;
	hop_idx(r, nf)[p] = idx;
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
	return feat_aggop_feed(a, &st->strings, s, w, bw);
}

/* The states of hop h's bucket for time ts in ring r, made (and older
 * buckets no window reaches dropped) as needed; NULL when out of memory
 * or when ts goes back before the newest bucket. */
static struct feat_astate *hop_bucket(const struct feat_state *st, size_t h,
				      struct hopring *r, int64_t ts)
{
	size_t nf = st->hop_nfeat[h];
	int64_t idx = bucket_of(ts, st->hops[h]);
	int64_t keep = bucket_of(sub_sat(ts, st->hop_reach[h]), st->hops[h]);
	int64_t *at = r->cap ? hop_idx(r, nf) : NULL;
	size_t last;

	/* Buckets no later window can reach leave the ring. */
	while (r->n && at[r->head] < keep) {
		r->head = (r->head + 1) & (r->cap - 1);
		r->n--;
	}
	if (!r->n)
		return bucket_push(st, h, r, idx);
	last = (r->head + r->n - 1) & (r->cap - 1);
	if (at[last] > idx)
		return NULL;	/* out of time order */
	if (at[last] == idx)
		return &r->b[last * nf];
	return bucket_push(st, h, r, idx);
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

		if (st->fkind[f] != FEAT_FK_RUN || feat_agg_skips(a, mask))
			continue;
		if (feed(st, a, &key_run(st, k)[st->fslot[f]],
			 a->input >= 0 ? st->words[a->input] : 0,
			 a->by >= 0 ? st->words[a->by] : 0) < 0)
			return -1;
	}
	for (h = 0; h < st->nhop; h++) {
		struct feat_astate *b = hop_bucket(st, h, &key_hr(st, k)[h], ts);

		if (!b)
			return -1;
		for (j = 0; j < st->hop_nfeat[h]; j++) {
			const struct feat_agg *a = hop_agg(st, h, j);

			if (feat_agg_skips(a, mask))
				continue;
			if (feed(st, a, &b[j],
				 a->input >= 0 ? st->words[a->input] : 0,
				 a->by >= 0 ? st->words[a->by] : 0) < 0)
				return -1;
		}
	}
	return 0;
}

static inline uint64_t *pend_words(const struct feat_state *st, size_t slot)
{
	return st->pend_words + slot * (st->g->ninputs + 1);
}

static inline unsigned char *pend_types(const struct feat_state *st,
					size_t slot)
{
	return st->pend_types + slot * (st->g->ninputs + 1);
}

/* Asks for the lines that applying an event to k will read. */
static void prefetch_key(const struct feat_state *st,
			 const struct feat_state_key *k)
{
	size_t w, i;

	if (!k->cap)
		return;
	for (w = 0; w < st->nwin; w++) {
		if (!st->tword)
			__builtin_prefetch(&ring_toff(st, k)[rpos(k, key_tail(st, k)[w])]);
		if (st->tword || st->wfirst[w] < st->wfirst[w + 1])
			__builtin_prefetch(entry(st, k, key_tail(st, k)[w]));
	}
	if (st->entry_words)
		__builtin_prefetch(entry(st, k, k->head), 1);
	if (!st->tword)
		__builtin_prefetch(&ring_toff(st, k)[rpos(k, k->head)], 1);
	if (k->masked)
		__builtin_prefetch(&mask_bytes(st, k)[rpos(k, k->head)], 1);
	/* The start of a queue block: its size (qb[0], read first) and, as
	 * queues are short, mostly their entries too. */
	for (i = 0; i < st->nstat; i++)
		if (key_ws(st, k)[i].qb)
			__builtin_prefetch(key_ws(st, k)[i].qb, 1);
}

/* Applies the event of queue slot q to its key. 0 or -1 (out of memory). */
static int apply(struct feat_state *st, size_t q)
{
	const struct feat_group_by *g = st->g;
	const struct pend *pe = &((const struct pend *)st->pend)[q];
	struct feat_state_key *k;
	const uint64_t *words = pend_words(st, q);
	const unsigned char *types = pend_types(st, q);
	int64_t ts = pe->ts;
	uint64_t *e, mask = pe->mask, seq;
	size_t w, i;

	if (pe->id < 0)
		return 0;
	k = pe->k ? pe->k : st->per_key[pe->id];
	/* Events older than every window of any later T can go. */
	if (st->nwin) {
		uint64_t lo = k->head;

		for (w = 0; w < st->nwin; w++) {
			if (advance(st, k, w, sub_sat(ts, st->wins[w])) < 0)
				return -1;
			if (key_tail(st, k)[w] < lo)
				lo = key_tail(st, k)[w];
		}
		k->base = lo;
		if (k->base - k->org >= k->cap && k->cap)
			k->org = k->base - (k->base - k->org) % k->cap;
		if (k->head - k->base == k->cap && ring_grow(st, k) < 0)
			return -1;
	}
	/* A ring has mask bytes once it has held a null (most never do). */
	if (st->nwin && !st->mask_word && !k->masked && (mask & st->ring_in) &&
	    ring_resize(st, k, k->cap, 1) < 0)
		return -1;
	seq = k->head;
	if (st->nwin) {
		uint64_t rm = 0;

		e = entry(st, k, seq);
		if (st->tword) {
			e[0] = (uint64_t)ts;
		} else {
			if (k->base == k->head)
				k->tbase = ts;
			else if ((uint64_t)ts - (uint64_t)k->tbase > UINT32_MAX)
				ring_rebase(st, k);
			ring_toff(st, k)[rpos(k, seq)] = (uint32_t)((uint64_t)ts - (uint64_t)k->tbase);
		}
		for (i = 0; i < g->ninputs; i++)
			if (st->ring_in >> i & 1) {
				e[st->rcol[i]] = words[i];
				rm |= (mask >> i & 1) << (st->rcol[i] - st->tword - st->mask_word);
			}
		if (st->mask_word)
			e[st->tword] = rm;
		else if (k->masked)
			mask_bytes(st, k)[rpos(k, seq)] = (unsigned char)rm;
	}
	for (i = 0; i < st->nstat; i++) {
		const struct feat_state_stat *d = &st->stat[i];
		struct wstat *ws = &key_ws(st, k)[i];
		uint64_t word = words[d->in];
		enum feat_type t = (enum feat_type)types[d->in];

		if (mask >> d->in & 1)
			continue;
		ws->n++;
		if (d->dbl) {
			if (feat_fix_add(&ws->isum, &ws->acc, as_d(word), 1) < 0)
				return -1;
		} else if (d->need & SUMS) {
			ws->isum += (int64_t)word;
		}
		ws->last = seq + 1;
		/* Earliest of equal extremes stays in front. */
		if (d->need & NEED(FEAT_OP_MIN)) {
			while (ws->mn.len &&
			       cmp_word(st, t, entry(st, k, mono_back(ws->qb, d->mnq, &ws->mn))[d->col], word) > 0)
				ws->mn.len--;
			if (mono_room(d, ws, &ws->mn) < 0)
				return -1;
			mono_push(ws->qb, d->mnq, &ws->mn, seq);
		}
		if (d->need & NEED(FEAT_OP_MAX)) {
			while (ws->mx.len &&
			       cmp_word(st, t, entry(st, k, mono_back(ws->qb, d->mxq, &ws->mx))[d->col], word) < 0)
				ws->mx.len--;
			if (mono_room(d, ws, &ws->mx) < 0)
				return -1;
			mono_push(ws->qb, d->mxq, &ws->mx, seq);
		}
	}
	for (i = 0; i < g->ninputs; i++) {
		struct ustat *us;
		uint64_t word = words[i];
		enum feat_type t = (enum feat_type)types[i];

		if (st->us_at[i] < 0 || (mask >> i & 1))
			continue;
		us = &key_us(st, k)[st->us_at[i]];
		us->n++;
		if (is_double_sum(st, i, st->need_u[i])) {
			if (feat_fix_add(&us->isum, &us->acc, as_d(word), 1) < 0)
				return -1;
		} else {
			us->isum += (int64_t)word;
		}
		if ((st->need_u[i] & NEED(FEAT_OP_MIN)) &&
		    (!us->has || cmp_word(st, t, word, us->min) < 0))
			us->min = word;
		if ((st->need_u[i] & NEED(FEAT_OP_MAX)) &&
		    (!us->has || cmp_word(st, t, word, us->max) > 0))
			us->max = word;
		us->last = word;
		us->has = 1;
	}
	if (st->nrun || st->nhop) {
		memcpy(st->words, words, g->ninputs * sizeof(*words));
		if (add_generic(st, k, ts, mask) < 0)
			return -1;
	}
	k->head++;
	k->total++;
	if (!st->nwin)
		k->base = k->head;
	return 0;
}

/*
 * Applies the queued events of key id, oldest first, leaving the others
 * queued: keys' states are independent. 0 or -1 (out of memory).
 */
static int apply_key(struct feat_state *st, long id)
{
	struct pend *pend = st->pend;
	size_t n;

	for (n = 0; n < st->npend; n++) {
		size_t q = (st->pend_head + n) % PEND;

		if (pend[q].id != id)
			continue;
		if (apply(st, q) < 0)
			return -1;
		pend[q].id = -1;
	}
	return 0;
}

/* Applies every queued event, oldest first. 0 or -1 (out of memory). */
static int apply_pending(struct feat_state *st)
{
	while (st->npend) {
		size_t q = st->pend_head;

		st->pend_head = (st->pend_head + 1) % PEND;
		st->npend--;
		if (apply(st, q) < 0)
			return -1;
	}
	return 0;
}

/* The id of the encoded key, its state made when new; -1 when out of
 * memory. */
static long key_id(struct feat_state *st, const void *key, size_t klen,
		   uint64_t hash)
{
	int added;
	long id = feat_keymap_intern_hashed(&st->keys, key, klen, hash, &added);

	if (id < 0 || !added)
		return id;
	if ((size_t)id >= st->per_key_cap) {
		size_t cap = st->per_key_cap ? st->per_key_cap * 2 : 256;
		struct feat_state_key **p = realloc(st->per_key, cap * sizeof(*p));

		if (!p)
			return -1;
		st->per_key = p;
		st->per_key_cap = cap;
	}
	st->per_key[id] = key_new(st);
	return st->per_key[id] ? id : -1;
}

static int add(struct feat_state *st, const void *key, size_t klen,
	       uint64_t hash, int64_t ts, const struct feat_value *inputs,
	       struct feat_error *err);

int feat_state_add(struct feat_state *st, const void *key, size_t klen,
		   int64_t ts, const struct feat_value *inputs,
		   struct feat_error *err)
{
	return add(st, key, klen, feat_hash_bytes(key, klen), ts, inputs, err);
}

static int add(struct feat_state *st, const void *key, size_t klen,
	       uint64_t hash, int64_t ts, const struct feat_value *inputs,
	       struct feat_error *err)
{
	const struct feat_group_by *g = st->g;
	struct feat_state_key *k;
	struct pend *pe;
	uint64_t *words, mask = 0;
	unsigned char *types;
	size_t i, q;
	long id = key_id(st, key, klen, hash);

	if (id < 0)
		return feat_error_nomem(err);
	/* A full queue makes room first. */
	if (st->pend_depth && st->npend == st->pend_depth) {
		q = st->pend_head;
		st->pend_head = (st->pend_head + 1) % PEND;
		st->npend--;
		if (apply(st, q) < 0)
			return feat_error_nomem(err);
	}
	q = (st->pend_head + st->npend) % PEND;
	words = pend_words(st, q);
	types = pend_types(st, q);
	for (i = 0; i < g->ninputs; i++) {
		const struct feat_value *v = &inputs[i];

		types[i] = (unsigned char)v->type;
		if (v->type == FEAT_NULL)
			mask |= 1ull << i;
		if (feat_word_intern(&st->strings, v, &words[i]) < 0)
			return feat_error_nomem(err);
	}
	pe = &((struct pend *)st->pend)[q];
	pe->id = id;
	pe->k = NULL;
	pe->ts = ts;
	pe->mask = mask;
	st->npend++;
	/*
	 * Three stages, each asking for what the next one reads: now the
	 * key's entry in per_key; a quarter of the queue later its block;
	 * half of the queue later its ring lines; then it is applied.
	 */
	__builtin_prefetch(&st->per_key[id]);
	if (st->npend > PEND / 4) {
		struct pend *p = &((struct pend *)st->pend)[(q + PEND - PEND / 4) % PEND];

		if (p->id >= 0) {
			k = st->per_key[p->id];
			p->k = k;
			size_t off;

			for (off = 0; off < st->key_size; off += 64)
				__builtin_prefetch((const char *)k + off, 1);
		}
	}
	if (st->npend > PEND / 2) {
		struct pend *p = &((struct pend *)st->pend)[(q + PEND - PEND / 2) % PEND];

		if (p->id >= 0 && p->k)
			prefetch_key(st, p->k);
	}
	/* Without a queue (see feat_state_init) the event goes in now. */
	if (!st->pend_depth && apply_pending(st) < 0)
		return feat_error_nomem(err);
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
	/* No key exists yet: their layout can change. */
	if (plan_layout(st) < 0)
		return feat_error_nomem(err);
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
	id = key_id(st, key, klen, feat_hash_bytes(key, klen));
	if (id < 0)
		return feat_error_nomem(err);
	/* Events of the key still queued go first. */
	if (apply_key(st, id) < 0)
		return feat_error_nomem(err);
	k = st->per_key[id];
	for (f = 0; f < g->nfeatures; f++) {
		size_t a = g->features[f].agg;

		if (st->fkind[f] == FEAT_FK_RUN &&
		    feat_aggop_merge(&g->aggs[a], &st->ctx, &key_run(st, k)[st->fslot[f]],
				     &st->tmp[a]) < 0)
			return feat_error_nomem(err);
	}
	for (h = 0; h < st->nhop; h++) {
		struct feat_astate *b = hop_bucket(st, h, &key_hr(st, k)[h], start);
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

int feat_state_take(struct feat_state *st, const struct feat_tile_rec *rec,
		    const char *name, struct feat_error *err)
{
	if (rec->kind != 2)
		return add(st, rec->key, rec->klen, rec->hash, rec->ts,
			   rec->inputs, err);
	if (feat_state_merge(st, rec->key, rec->klen, rec->ts, rec->last,
			     rec->states, rec->states_len, err) < 0) {
		if (!err->file[0])
			snprintf(err->file, sizeof(err->file), "%s", name);
		return -1;
	}
	return 0;
}

void feat_state_prefetch(const struct feat_state *st,
			 const struct feat_tile_rec *rec)
{
	size_t i;

	feat_keymap_prefetch_hashed(&st->keys, rec->hash);
	for (i = 0; i < rec->ninputs; i++) {
		const struct feat_value *v = &rec->inputs[i];

		/* the values feat_word_intern() looks up */
		if (v->type == FEAT_STRING || v->type == FEAT_VECTOR ||
		    v->type == FEAT_STRLIST || v->type == FEAT_MAP)
			feat_keymap_prefetch(&st->strings, v->u.s.ptr, v->u.s.len);
	}
}

long feat_state_find(const struct feat_state *st, const void *key,
		     size_t klen)
{
	return feat_keymap_find(&st->keys, key, klen);
}

static void sum_value(int64_t n, feat_i128 isum, struct feat_accum *acc,
		      int dbl, enum feat_op op, struct feat_value *v)
{
	if (!n) {
		v->type = FEAT_NULL;
		return;
	}
	if (dbl) {
		double d = dsum_round(isum, acc);

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
	for (seq = key_tail(st, k)[w]; seq < k->head; seq++) {
		const uint64_t *e = entry(st, k, seq);
		uint64_t rm = ring_mask(st, k, seq);
		unsigned off = (unsigned)st->tword + (unsigned)st->mask_word;

		/* feat_agg_skips(), with the entry's mask of ring columns */
		if ((a->input >= 0 && (rm >> (st->rcol[a->input] - off) & 1)) ||
		    (a->by >= 0 && (rm >> (st->rcol[a->by] - off) & 1)))
			continue;
		if (feed(st, a, s, a->input >= 0 ? e[st->rcol[a->input]] : 0,
			 a->by >= 0 ? e[st->rcol[a->by]] : 0) < 0)
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
	size_t h, nf, i;
	const struct hopring *r;
	const int64_t *at;
	int64_t lo;

	for (h = 0; st->hops[h] != a->hops[ft->window]; h++)
		;
	r = &key_hr(st, k)[h];
	nf = st->hop_nfeat[h];
	at = r->n ? hop_idx(r, nf) : NULL;
	lo = bucket_of(sub_sat(T, a->windows[ft->window]), st->hops[h]);
	feat_aggop_reset(a, s);
	for (i = 0; i < r->n; i++) {
		size_t p = (r->head + i) & (r->cap - 1);

		if (at[p] >= lo &&
		    feat_aggop_merge(a, &st->ctx, s,
				     &r->b[p * nf + st->fslot[f]]) < 0)
			return -1;
	}
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
	if (k && apply_key(st, id) < 0)
		return feat_error_nomem(err);
	if (k)
		for (w = 0; w < st->nwin; w++)
			if (advance(st, k, w, sub_sat(T, st->wins[w])) < 0)
				return feat_error_nomem(err);
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
			rc = feat_aggop_result(a, &st->ctx, &key_run(st, k)[st->fslot[f]], v, json);
		} else if (st->fkind[f] == FEAT_FK_HOP) {
			rc = eval_hop(st, k, f, T, v, json);
		} else if (a->input < 0 && a->op != FEAT_OP_COUNT) {
			;	/* no such feature: only count takes no input */
		} else if (w < st->nwin && a->input < 0) {
			/* count(*) */
			v->type = FEAT_INT;
			v->u.i = (int64_t)(k->head - key_tail(st, k)[w]);
		} else if (w < st->nwin) {
			long si = st->ws_at[w * g->ninputs + in];
			const struct feat_state_stat *d = &st->stat[si];
			struct wstat *ws = &key_ws(st, k)[si];

			switch (a->op) {
			case FEAT_OP_COUNT:
				v->type = FEAT_INT;
				v->u.i = ws->n;
				break;
			case FEAT_OP_SUM:
			case FEAT_OP_AVG:
				sum_value(ws->n, ws->isum, ws->acc, d->dbl, a->op, v);
				break;
			case FEAT_OP_MIN:
				if (ws->mn.len)
					to_value(st, t, entry(st, k, mono_front(ws->qb, d->mnq, &ws->mn))[d->col], v);
				break;
			case FEAT_OP_MAX:
				if (ws->mx.len)
					to_value(st, t, entry(st, k, mono_front(ws->qb, d->mxq, &ws->mx))[d->col], v);
				break;
			case FEAT_OP_LAST:
				if (ws->last && ws->last - 1 >= key_tail(st, k)[w])
					to_value(st, t, entry(st, k, ws->last - 1)[d->col], v);
				break;
			default:
				break;
			}
		} else if (a->input < 0) {
			v->type = FEAT_INT;
			v->u.i = (int64_t)k->total;
		} else {
			struct ustat *us = &key_us(st, k)[st->us_at[in]];

			switch (a->op) {
			case FEAT_OP_COUNT:
				v->type = FEAT_INT;
				v->u.i = us->n;
				break;
			case FEAT_OP_SUM:
			case FEAT_OP_AVG:
				sum_value(us->n, us->isum, us->acc,
					  is_double_sum(st, in, st->need_u[in]), a->op, v);
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
