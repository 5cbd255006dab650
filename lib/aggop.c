/*
 * aggop.c - aggregation states: fold, merge, result.
 *
 * One struct feat_astate serves every operation; each uses the fields it
 * needs:
 *
 *   count                 n
 *   sum, avg              n, a:b (int sum, 128 bits); of doubles a:b
 *                         (fixed point, accum.h) until a value needs s1
 *                         (exact), then s1 alone
 *   var, stddev           n, s1, s2 (exact sums of x and of x*x, the
 *                         square split exactly into two doubles by fma);
 *                         b: 1 when a square overflowed
 *   min, max, first, last n, a (the word)
 *   first_k, last_k,
 *   top_k, bottom_k       ext: a list of at most k words
 *   unique_count          ext: a set of words
 *   histogram             ext: a map of word to count
 *   approx_unique_count   ext: HyperLogLog registers
 *   approx_percentile     ext: a DDSketch (logarithmic buckets of counts)
 *
 * Exact sums (s1, s2: 544 bytes each) are allocated at the first value
 * that needs one, so that the many states of sawtooth buckets cost little.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "accum.h"
#include "aggop.h"
#include "buf.h"
#include "format.h"
#include "hash.h"
#include "plan.h"

/* A list of words: first_k, last_k, top_k, bottom_k. */
struct wlist {
	uint32_t n, cap;
	uint64_t w[];
};

/* A hash map of words to counts (unique_count ignores the counts). */
struct wmap {
	size_t n, cap;		/* cap: a power of two */
	uint64_t *keys;
	int64_t *cnt;
	unsigned char *used;
};

/* Element-wise sum, avg, min, max of vectors (embeddings). The first
 * vector sets the length; one of another length makes the result null. */
struct vecstate {
	uint32_t dim, cap;
	int mixed;
	double *m;			/* min or max */
	struct feat_accum *acc;		/* sums */
};

/* A bucketed aggregation: per bucket word, a state of the inner one. */
struct bystate {
	struct wmap *idx;	/* bucket word -> index in st */
	struct feat_astate *st;
	size_t n, cap;
};

/*
 * DDSketch: counts of values in logarithmic buckets, |x| in
 * (gamma^(k-1), gamma^k] for bucket k, kept in maps from k to count so that
 * the memory follows the buckets in use, whatever the spread of values.
 */
struct ddsketch {
	int64_t zero;
	struct wmap pos, neg;
};

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

uint64_t feat_word_of(const struct feat_value *v)
{
	uint64_t w;

	if (v->type == FEAT_DOUBLE) {
		memcpy(&w, &v->u.d, 8);
		return w;
	}
	return (uint64_t)v->u.i;
}

static double word_d(uint64_t w)
{
	double d;

	memcpy(&d, &w, 8);
	return d;
}

static double word_num(enum feat_type t, uint64_t w)
{
	return t == FEAT_DOUBLE ? word_d(w) : (double)(int64_t)w;
}

int feat_word_cmp(const struct feat_aggctx *ctx, enum feat_type t, uint64_t x,
		  uint64_t y)
{
	switch (t) {
	case FEAT_DOUBLE: {
		double a = word_d(x), b = word_d(y);

		return a < b ? -1 : a > b;
	}
	case FEAT_STRING:
	case FEAT_VECTOR:
	case FEAT_STRLIST:
	case FEAT_MAP: {
		size_t la, lb;
		const unsigned char *pa = feat_keymap_key(ctx->strings, x, &la);
		const unsigned char *pb = feat_keymap_key(ctx->strings, y, &lb);
		int c = memcmp(pa, pb, la < lb ? la : lb);

		return c ? (c < 0 ? -1 : 1) : (la < lb ? -1 : la > lb);
	}
	default:
		return (int64_t)x < (int64_t)y ? -1 : (int64_t)x > (int64_t)y;
	}
}

void feat_word_value(const struct feat_aggctx *ctx, enum feat_type t,
		     uint64_t w, struct feat_value *v)
{
	v->type = t;
	if (t == FEAT_DOUBLE)
		v->u.d = word_d(w);
	else if (t == FEAT_STRING || t == FEAT_VECTOR || t == FEAT_STRLIST ||
		 t == FEAT_MAP)
		v->u.s.ptr = (const char *)feat_keymap_key(ctx->strings, w,
							   &v->u.s.len);
	else
		v->u.i = (int64_t)w;
}

/* Sets and histograms count 0.0 and -0.0 as one value. */
static uint64_t canon_word(enum feat_type t, uint64_t w)
{
	if (t == FEAT_DOUBLE && word_d(w) == 0)
		return 0;
	return w;
}

static int is_vec_op(const struct feat_agg *a)
{
	return a->in_type == FEAT_VECTOR &&
	       (a->op == FEAT_OP_SUM || a->op == FEAT_OP_AVG ||
		a->op == FEAT_OP_MIN || a->op == FEAT_OP_MAX);
}

static int vec_fit(const struct feat_agg *a, struct vecstate *v, uint32_t dim)
{
	uint32_t i;

	if (v->cap >= dim) {
		v->dim = dim;
		goto clear;
	}
	free(v->m);
	free(v->acc);
	v->m = calloc(dim, sizeof(*v->m));
	v->acc = a->op == FEAT_OP_SUM || a->op == FEAT_OP_AVG
		 ? calloc(dim, sizeof(*v->acc)) : NULL;
	if (!v->m || ((a->op == FEAT_OP_SUM || a->op == FEAT_OP_AVG) && !v->acc))
		return -1;
	v->cap = v->dim = dim;
clear:
	for (i = 0; v->acc && i < dim; i++)
		feat_accum_init(&v->acc[i]);
	return 0;
}

/* Folds n doubles (little-endian at p, or the m/acc of another state). */
static int vec_add(const struct feat_agg *a, struct vecstate *v, int64_t seen,
		   const unsigned char *p, uint32_t dim)
{
	uint32_t i;

	if (v->mixed)
		return 0;
	if (!seen) {
		if (vec_fit(a, v, dim) < 0)
			return -1;
	} else if (dim != v->dim) {
		v->mixed = 1;
		return 0;
	}
	for (i = 0; i < dim; i++) {
		double x = feat_get_le_double(p + 8 * i);

		if (v->acc)
			feat_accum_add(&v->acc[i], x);
		else if (!seen || (a->op == FEAT_OP_MIN ? x < v->m[i] : x > v->m[i]))
			v->m[i] = x;
	}
	return 0;
}

static int is_list_op(enum feat_op op)
{
	return op == FEAT_OP_FIRST_K || op == FEAT_OP_LAST_K ||
	       op == FEAT_OP_TOP_K || op == FEAT_OP_BOTTOM_K;
}

static int uses_sum(const struct feat_agg *a)
{
	return a->op == FEAT_OP_SUM || a->op == FEAT_OP_AVG ||
	       a->op == FEAT_OP_VAR || a->op == FEAT_OP_STDDEV;
}

static int exact_sum(const struct feat_agg *a)
{
	return uses_sum(a) &&
	       (a->in_type == FEAT_DOUBLE || a->op == FEAT_OP_VAR ||
		a->op == FEAT_OP_STDDEV);
}

/* A sum of doubles held in a:b as a fixed-point number while s1 is NULL. */
static int fix_sum(const struct feat_agg *a)
{
	return a->in_type == FEAT_DOUBLE &&
	       (a->op == FEAT_OP_SUM || a->op == FEAT_OP_AVG);
}

int feat_aggop_invertible(const struct feat_agg *a)
{
	return a->op == FEAT_OP_COUNT || a->op == FEAT_OP_SUM ||
	       a->op == FEAT_OP_AVG;
}

/* ---- word maps ---- */

static void wmap_free(struct wmap *m)
{
	if (!m)
		return;
	free(m->keys);
	free(m->cnt);
	free(m->used);
	free(m);
}

static int wmap_grow(struct wmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 16, i;
	uint64_t *keys = malloc(cap * sizeof(*keys));
	int64_t *cnt = malloc(cap * sizeof(*cnt));
	unsigned char *used = calloc(cap, 1);

	if (!keys || !cnt || !used) {
		free(keys);
		free(cnt);
		free(used);
		return -1;
	}
	for (i = 0; i < m->cap; i++) {
		size_t j;

		if (!m->used[i])
			continue;
		j = mix64(m->keys[i]) & (cap - 1);
		while (used[j])
			j = (j + 1) & (cap - 1);
		used[j] = 1;
		keys[j] = m->keys[i];
		cnt[j] = m->cnt[i];
	}
	free(m->keys);
	free(m->cnt);
	free(m->used);
	m->keys = keys;
	m->cnt = cnt;
	m->used = used;
	m->cap = cap;
	return 0;
}

static int wmap_add(struct wmap *m, uint64_t key, int64_t cnt)
{
	size_t j;

	if ((m->n + 1) * 4 > m->cap * 3 && wmap_grow(m) < 0)
		return -1;
	j = mix64(key) & (m->cap - 1);
	while (m->used[j]) {
		if (m->keys[j] == key) {
			m->cnt[j] += cnt;
			return 0;
		}
		j = (j + 1) & (m->cap - 1);
	}
	m->used[j] = 1;
	m->keys[j] = key;
	m->cnt[j] = cnt;
	m->n++;
	return 0;
}

/* The count stored for key, or -1 when absent. */
static int64_t wmap_get(const struct wmap *m, uint64_t key)
{
	size_t j;

	if (!m->cap)
		return -1;
	j = mix64(key) & (m->cap - 1);
	while (m->used[j]) {
		if (m->keys[j] == key)
			return m->cnt[j];
		j = (j + 1) & (m->cap - 1);
	}
	return -1;
}

static void wmap_clear(struct wmap *m)
{
	if (m && m->cap)
		memset(m->used, 0, m->cap);
	if (m)
		m->n = 0;
}

/* ---- lists ---- */

static struct wlist *wlist_new(uint32_t cap)
{
	struct wlist *l = malloc(sizeof(*l) + cap * sizeof(uint64_t));

	if (l) {
		l->n = 0;
		l->cap = cap;
	}
	return l;
}

/* Keeps the list sorted (descending for top_k, ascending for bottom_k)
 * and at most cap long; equal values keep their arrival order. */
static void wlist_insert_sorted(const struct feat_aggctx *ctx, enum feat_type t,
				struct wlist *l, uint64_t w, int desc)
{
	uint32_t lo = 0, hi = l->n;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		int c = feat_word_cmp(ctx, t, l->w[mid], w);

		if (desc ? c >= 0 : c <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo >= l->cap)
		return;
	if (l->n == l->cap)
		l->n--;
	memmove(l->w + lo + 1, l->w + lo, (l->n - lo) * sizeof(uint64_t));
	l->w[lo] = w;
	l->n++;
}

static void wlist_add(const struct feat_agg *a, const struct feat_aggctx *ctx,
		      struct wlist *l, uint64_t w)
{
	switch (a->op) {
	case FEAT_OP_FIRST_K:
		if (l->n < l->cap)
			l->w[l->n++] = w;
		break;
	case FEAT_OP_LAST_K:
		if (l->n == l->cap) {
			memmove(l->w, l->w + 1, (l->n - 1) * sizeof(uint64_t));
			l->n--;
		}
		l->w[l->n++] = w;
		break;
	case FEAT_OP_TOP_K:
		wlist_insert_sorted(ctx, a->in_type, l, w, 1);
		break;
	default:
		wlist_insert_sorted(ctx, a->in_type, l, w, 0);
		break;
	}
}

/* ---- HyperLogLog ---- */

/* A hash of the value itself, not of the word: string ids differ from
 * process to process, and sketches must not. */
static uint64_t value_hash(const struct feat_aggctx *ctx, enum feat_type t,
			   uint64_t w)
{
	unsigned char b[8];

	if (t == FEAT_STRING || t == FEAT_VECTOR || t == FEAT_STRLIST ||
	    t == FEAT_MAP) {
		size_t n;
		const unsigned char *p = feat_keymap_key(ctx->strings, w, &n);

		return mix64(feat_fnv1a64(p, n));
	}
	feat_put_le64(b, canon_word(t, w));
	return mix64(feat_fnv1a64(b, 8));
}

static void hll_add(unsigned char *reg, uint32_t p, uint64_t h)
{
	uint32_t idx = (uint32_t)(h >> (64 - p));
	uint64_t rest = h << p;
	unsigned char rank = rest ? (unsigned char)(__builtin_clzll(rest) + 1)
				  : (unsigned char)(64 - p + 1);

	if (rank > reg[idx])
		reg[idx] = rank;
}

static int64_t hll_estimate(const unsigned char *reg, uint32_t p)
{
	double m = (double)(1u << p), sum = 0, alpha, e;
	uint32_t i, zeros = 0;

	for (i = 0; i < (1u << p); i++) {
		sum += ldexp(1.0, -reg[i]);
		zeros += !reg[i];
	}
	alpha = p == 4 ? 0.673 : p == 5 ? 0.697 : p == 6 ? 0.709
		: 0.7213 / (1 + 1.079 / m);
	e = alpha * m * m / sum;
	if (e <= 2.5 * m && zeros)
		e = m * log(m / zeros);
	return (int64_t)llround(e);
}

/* ---- DDSketch ---- */

static double dd_gamma(const struct feat_agg *a)
{
	return (1 + a->rel_error) / (1 - a->rel_error);
}

static int dd_add(const struct feat_agg *a, struct ddsketch *d, double x,
		  int64_t cnt)
{
	double lg = log(dd_gamma(a));

	if (x == 0) {
		d->zero += cnt;
		return 0;
	}
	if (x > 0)
		return wmap_add(&d->pos, (uint64_t)(int64_t)ceil(log(x) / lg), cnt);
	return wmap_add(&d->neg, (uint64_t)(int64_t)ceil(log(-x) / lg), cnt);
}

/* The value a bucket stands for: 2 gamma^k / (gamma + 1), which is within
 * the relative error of every value in it; never beyond the doubles. */
static double dd_value(const struct feat_agg *a, int64_t key)
{
	double g = dd_gamma(a);
	double v = exp((double)key * log(g) + log(2 / (g + 1)));

	return v - v == 0 ? v : DBL_MAX;
}

static int cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

	return (a > b) - (a < b);
}

/* The keys of a store, sorted; NULL when out of memory. */
static int64_t *dd_keys(const struct wmap *m)
{
	int64_t *k = malloc((m->n + 1) * sizeof(*k));
	size_t i, n = 0;

	if (!k)
		return NULL;
	for (i = 0; i < m->cap; i++)
		if (m->used[i])
			k[n++] = (int64_t)m->keys[i];
	qsort(k, n, sizeof(*k), cmp_i64);
	return k;
}

/*
 * The value at rank floor(q * (n - 1)) of the sorted values (numpy's
 * "lower"; DDSketch's own): most negative buckets first, then zeros, then
 * the positive ones. Sets *v, or returns -1 when out of memory.
 */
static int dd_quantile(const struct feat_agg *a, const struct ddsketch *d,
		       int64_t n, double q, double *v)
{
	double rank = floor(q * (double)(n - 1)), seen = 0;
	int64_t *neg = dd_keys(&d->neg), *pos = dd_keys(&d->pos);
	size_t i;
	int ret = -1;

	if (!neg || !pos)
		goto out;
	ret = 0;
	for (i = d->neg.n; i-- > 0;) {
		seen += (double)wmap_get(&d->neg, (uint64_t)neg[i]);
		if (seen > rank) {
			*v = -dd_value(a, neg[i]);
			goto out;
		}
	}
	seen += (double)d->zero;
	if (seen > rank) {
		*v = 0;
		goto out;
	}
	for (i = 0; i < d->pos.n; i++) {
		seen += (double)wmap_get(&d->pos, (uint64_t)pos[i]);
		if (seen > rank) {
			*v = dd_value(a, pos[i]);
			goto out;
		}
	}
	*v = d->pos.n ? dd_value(a, pos[d->pos.n - 1]) : 0;
out:
	free(neg);
	free(pos);
	return ret;
}

static void dd_free(struct ddsketch *d)
{
	if (!d)
		return;
	free(d->pos.keys);
	free(d->pos.cnt);
	free(d->pos.used);
	free(d->neg.keys);
	free(d->neg.cnt);
	free(d->neg.used);
	free(d);
}

/* ---- the operations ---- */

/* The inner state of bucket bw, created empty when new; NULL when out of
 * memory. Bucket states are kept across resets and reused. */
static struct feat_astate *by_bucket(const struct feat_agg *a,
				     struct bystate *b, uint64_t bw)
{
	int64_t i = wmap_get(b->idx, bw);

	if (i >= 0)
		return &b->st[i];
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4;
		struct feat_astate *st = realloc(b->st, cap * sizeof(*st));

		if (!st)
			return NULL;
		memset(st + b->cap, 0, (cap - b->cap) * sizeof(*st));
		b->st = st;
		b->cap = cap;
	}
	if (!b->st[b->n].ext && !b->st[b->n].s1 &&
	    feat_aggop_init(a->inner, &b->st[b->n]) < 0)
		return NULL;
	feat_aggop_reset(a->inner, &b->st[b->n]);
	if (wmap_add(b->idx, bw, (int64_t)b->n) < 0)
		return NULL;
	return &b->st[b->n++];
}

/* Makes s's exact sums exist (zero when new). Returns 0 or -1. */
static int sums(const struct feat_agg *a, struct feat_astate *s)
{
	if (!s->s1) {
		s->s1 = malloc(sizeof(*s->s1));
		if (!s->s1)
			return -1;
		feat_accum_init(s->s1);
	}
	if (!s->s2 && (a->op == FEAT_OP_VAR || a->op == FEAT_OP_STDDEV)) {
		s->s2 = malloc(sizeof(*s->s2));
		if (!s->s2)
			return -1;
		feat_accum_init(s->s2);
	}
	return 0;
}

int feat_aggop_init(const struct feat_agg *a, struct feat_astate *s)
{
	memset(s, 0, sizeof(*s));
	if (a->inner) {
		struct bystate *b = calloc(1, sizeof(*b));

		s->ext = b;
		if (!b || !(b->idx = calloc(1, sizeof(*b->idx))))
			return -1;
		return 0;
	}
	if (is_vec_op(a))
		s->ext = calloc(1, sizeof(struct vecstate));
	else if (is_list_op(a->op))
		s->ext = wlist_new(a->k);
	else if (a->op == FEAT_OP_UNIQUE_COUNT || a->op == FEAT_OP_HISTOGRAM)
		s->ext = calloc(1, sizeof(struct wmap));
	else if (a->op == FEAT_OP_APPROX_UNIQUE_COUNT)
		s->ext = calloc((size_t)1 << a->precision, 1);
	else if (a->op == FEAT_OP_APPROX_PERCENTILE)
		s->ext = calloc(1, sizeof(struct ddsketch));
	else
		return 0;
	return s->ext ? 0 : -1;
}

void feat_aggop_reset(const struct feat_agg *a, struct feat_astate *s)
{
	if (a->inner) {
		struct bystate *b = s->ext;

		wmap_clear(b->idx);
		b->n = 0;
		s->n = 0;
		return;
	}
	s->n = 0;
	s->a = s->b = 0;
	if (s->s1)
		feat_accum_init(s->s1);
	if (s->s2)
		feat_accum_init(s->s2);
	if (!s->ext)
		return;
	if (is_vec_op(a)) {
		((struct vecstate *)s->ext)->dim = 0;
		((struct vecstate *)s->ext)->mixed = 0;
	} else if (is_list_op(a->op)) {
		((struct wlist *)s->ext)->n = 0;
	} else if (a->op == FEAT_OP_UNIQUE_COUNT || a->op == FEAT_OP_HISTOGRAM) {
		wmap_clear(s->ext);
	} else if (a->op == FEAT_OP_APPROX_UNIQUE_COUNT) {
		memset(s->ext, 0, (size_t)1 << a->precision);
	} else if (a->op == FEAT_OP_APPROX_PERCENTILE) {
		struct ddsketch *d = s->ext;

		d->zero = 0;
		wmap_clear(&d->pos);
		wmap_clear(&d->neg);
	}
}

void feat_aggop_release(const struct feat_agg *a, struct feat_astate *s)
{
	if (a->inner) {
		struct bystate *b = s->ext;
		size_t i;

		for (i = 0; b && i < b->cap; i++)
			if (b->st[i].ext || b->st[i].s1)
				feat_aggop_release(a->inner, &b->st[i]);
			else
				free(b->st[i].s2);
		if (b) {
			wmap_free(b->idx);
			free(b->st);
		}
		free(b);
		memset(s, 0, sizeof(*s));
		return;
	}
	free(s->s1);
	free(s->s2);
	if (is_vec_op(a) && s->ext) {
		free(((struct vecstate *)s->ext)->m);
		free(((struct vecstate *)s->ext)->acc);
	}
	if (a->op == FEAT_OP_UNIQUE_COUNT || a->op == FEAT_OP_HISTOGRAM)
		wmap_free(s->ext);
	else if (a->op == FEAT_OP_APPROX_PERCENTILE)
		dd_free(s->ext);
	else
		free(s->ext);
	memset(s, 0, sizeof(*s));
}

/* x*x as hi + lo exactly (fma), both added: the sum of squares is exact.
 * Returns -1, adding nothing, when the square is beyond the doubles. */
static int add_square(struct feat_accum *acc, double x)
{
	double hi = x * x, lo;

	if (!(hi - hi == 0))
		return -1;
	lo = fma(x, x, -hi);
	feat_accum_add(acc, hi);
	if (lo != 0)
		feat_accum_add(acc, lo);
	return 0;
}

static feat_i128 i128_get(const struct feat_astate *s)
{
	return (feat_i128)(((unsigned __int128)s->a << 64) | s->b);
}

static void i128_set(struct feat_astate *s, feat_i128 v)
{
	s->a = (uint64_t)((unsigned __int128)v >> 64);
	s->b = (uint64_t)v;
}

static void i128_add(struct feat_astate *s, feat_i128 v)
{
	i128_set(s, i128_get(s) + v);
}

/* Adds d to the sum of doubles of s (a:b, then s1). Returns 0 or -1. */
static int dsum_add(struct feat_astate *s, double d)
{
	feat_i128 x = i128_get(s);

	if (feat_fix_add(&x, &s->s1, d, 1) < 0)
		return -1;
	i128_set(s, x);
	return 0;
}

/* Adds the sum of doubles of src to that of dst. Returns 0 or -1. */
static int dsum_merge(struct feat_astate *dst, const struct feat_astate *src)
{
	feat_i128 r;

	if (!dst->s1) {
		if (!src->s1 &&
		    !__builtin_add_overflow(i128_get(dst), i128_get(src), &r)) {
			i128_set(dst, r);
			return 0;
		}
		r = i128_get(dst);
		if (!(dst->s1 = feat_fix_widen(&r)))
			return -1;
		i128_set(dst, r);
	}
	if (src->s1)
		feat_accum_merge(dst->s1, src->s1);
	else
		feat_accum_add_fix(dst->s1, i128_get(src));
	return 0;
}

int feat_aggop_add(const struct feat_agg *a, const struct feat_aggctx *ctx,
		   struct feat_astate *s, uint64_t w, uint64_t bw)
{
	enum feat_type t = a->in_type;

	if (a->inner) {
		struct feat_astate *in = by_bucket(a, s->ext, canon_word(a->by_type, bw));

		if (!in || feat_aggop_add(a->inner, ctx, in, w, 0) < 0)
			return -1;
		s->n++;
		return 0;
	}
	if (is_vec_op(a)) {
		size_t len;
		const unsigned char *p = feat_keymap_key(ctx->strings, w, &len);

		if (vec_add(a, s->ext, s->n, p, (uint32_t)(len / 8)) < 0)
			return -1;
		s->n++;
		return 0;
	}

	switch (a->op) {
	case FEAT_OP_COUNT:
		break;
	case FEAT_OP_SUM:
	case FEAT_OP_AVG:
		if (!exact_sum(a))
			i128_add(s, (int64_t)w);
		else if (dsum_add(s, word_d(w)) < 0)
			return -1;
		break;
	case FEAT_OP_VAR:
	case FEAT_OP_STDDEV: {
		double x = word_num(t, w);

		if (sums(a, s) < 0)
			return -1;
		feat_accum_add(s->s1, x);
		if (add_square(s->s2, x) < 0)
			s->b = 1;
		break;
	}
	case FEAT_OP_MIN:
		if (!s->n || feat_word_cmp(ctx, t, w, s->a) < 0)
			s->a = w;
		break;
	case FEAT_OP_MAX:
		if (!s->n || feat_word_cmp(ctx, t, w, s->a) > 0)
			s->a = w;
		break;
	case FEAT_OP_FIRST:
		if (!s->n)
			s->a = w;
		break;
	case FEAT_OP_LAST:
		s->a = w;
		break;
	case FEAT_OP_FIRST_K:
	case FEAT_OP_LAST_K:
	case FEAT_OP_TOP_K:
	case FEAT_OP_BOTTOM_K:
		wlist_add(a, ctx, s->ext, w);
		break;
	case FEAT_OP_UNIQUE_COUNT:
	case FEAT_OP_HISTOGRAM:
		if (wmap_add(s->ext, canon_word(t, w), 1) < 0)
			return -1;
		break;
	case FEAT_OP_APPROX_UNIQUE_COUNT:
		hll_add(s->ext, a->precision, value_hash(ctx, t, w));
		break;
	case FEAT_OP_APPROX_PERCENTILE:
		if (dd_add(a, s->ext, word_num(t, w), 1) < 0)
			return -1;
		break;
	case FEAT_OP__COUNT:
		break;
	}
	s->n++;
	return 0;
}

int feat_aggop_merge(const struct feat_agg *a, const struct feat_aggctx *ctx,
		     struct feat_astate *dst, const struct feat_astate *src)
{
	enum feat_type t = a->in_type;
	uint32_t i;

	if (!src->n)
		return 0;
	if (a->inner) {
		const struct bystate *sb = src->ext;
		size_t j;

		for (j = 0; j < sb->idx->cap; j++) {
			struct feat_astate *in;

			if (!sb->idx->used[j])
				continue;
			in = by_bucket(a, dst->ext, sb->idx->keys[j]);
			if (!in || feat_aggop_merge(a->inner, ctx, in,
						    &sb->st[sb->idx->cnt[j]]) < 0)
				return -1;
		}
		dst->n += src->n;
		return 0;
	}
	if (is_vec_op(a)) {
		struct vecstate *d = dst->ext;
		const struct vecstate *r = src->ext;

		if (r->mixed || (dst->n && r->dim != d->dim)) {
			d->mixed = 1;
		} else if (!d->mixed) {
			if (!dst->n && vec_fit(a, d, r->dim) < 0)
				return -1;
			for (i = 0; i < r->dim; i++) {
				if (d->acc)
					feat_accum_merge(&d->acc[i], &r->acc[i]);
				else if (!dst->n || (a->op == FEAT_OP_MIN ? r->m[i] < d->m[i]
									  : r->m[i] > d->m[i]))
					d->m[i] = r->m[i];
			}
		}
		dst->n += src->n;
		return 0;
	}
	switch (a->op) {
	case FEAT_OP_COUNT:
		break;
	case FEAT_OP_SUM:
	case FEAT_OP_AVG:
	case FEAT_OP_VAR:
	case FEAT_OP_STDDEV:
		if (!exact_sum(a)) {
			i128_add(dst, i128_get(src));
			break;
		}
		if (fix_sum(a)) {
			if (dsum_merge(dst, src) < 0)
				return -1;
			break;
		}
		if (sums(a, dst) < 0)
			return -1;
		if (src->s1)
			feat_accum_merge(dst->s1, src->s1);
		if (src->s2)
			feat_accum_merge(dst->s2, src->s2);
		dst->b |= src->b;
		break;
	case FEAT_OP_MIN:
		if (!dst->n || feat_word_cmp(ctx, t, src->a, dst->a) < 0)
			dst->a = src->a;
		break;
	case FEAT_OP_MAX:
		if (!dst->n || feat_word_cmp(ctx, t, src->a, dst->a) > 0)
			dst->a = src->a;
		break;
	case FEAT_OP_FIRST:
		if (!dst->n)
			dst->a = src->a;
		break;
	case FEAT_OP_LAST:
		dst->a = src->a;
		break;
	case FEAT_OP_FIRST_K:
	case FEAT_OP_LAST_K:
	case FEAT_OP_TOP_K:
	case FEAT_OP_BOTTOM_K: {
		const struct wlist *l = src->ext;

		for (i = 0; i < l->n; i++)
			wlist_add(a, ctx, dst->ext, l->w[i]);
		break;
	}
	case FEAT_OP_UNIQUE_COUNT:
	case FEAT_OP_HISTOGRAM: {
		const struct wmap *m = src->ext;
		size_t j;

		for (j = 0; j < m->cap; j++)
			if (m->used[j] && wmap_add(dst->ext, m->keys[j], m->cnt[j]) < 0)
				return -1;
		break;
	}
	case FEAT_OP_APPROX_UNIQUE_COUNT: {
		unsigned char *d = dst->ext;
		const unsigned char *r = src->ext;
		size_t j;

		for (j = 0; j < ((size_t)1 << a->precision); j++)
			if (r[j] > d[j])
				d[j] = r[j];
		break;
	}
	case FEAT_OP_APPROX_PERCENTILE: {
		struct ddsketch *d = dst->ext;
		const struct ddsketch *r = src->ext;

		size_t j;

		d->zero += r->zero;
		for (j = 0; j < r->pos.cap; j++)
			if (r->pos.used[j] &&
			    wmap_add(&d->pos, r->pos.keys[j], r->pos.cnt[j]) < 0)
				return -1;
		for (j = 0; j < r->neg.cap; j++)
			if (r->neg.used[j] &&
			    wmap_add(&d->neg, r->neg.keys[j], r->neg.cnt[j]) < 0)
				return -1;
		break;
	}
	case FEAT_OP__COUNT:
		break;
	}
	dst->n += src->n;
	return 0;
}

/* Double-double arithmetic for the variance: enough bits that the
 * subtraction S2/n - (S1/n)^2 keeps its meaning when the mean is large. */
struct dd {
	double hi, lo;
};

static struct dd dd_of_accum(const struct feat_accum *acc)
{
	struct feat_accum tmp = *acc;
	struct dd r;

	r.hi = feat_accum_round(&tmp);
	feat_accum_sub(&tmp, r.hi);
	r.lo = feat_accum_round(&tmp);
	return r;
}

static struct dd dd_add2(struct dd a, struct dd b)
{
	double s = a.hi + b.hi, v = s - a.hi;
	double e = (a.hi - (s - v)) + (b.hi - v) + a.lo + b.lo;
	struct dd r;

	r.hi = s + e;
	r.lo = e - (r.hi - s);
	return r;
}

static struct dd dd_mul(struct dd a, struct dd b)
{
	double p = a.hi * b.hi, e = fma(a.hi, b.hi, -p);
	struct dd r;

	e += a.hi * b.lo + a.lo * b.hi;
	r.hi = p + e;
	r.lo = e - (r.hi - p);
	return r;
}

static struct dd dd_div_d(struct dd a, double d)
{
	double q = a.hi / d;
	struct dd qd = { q, 0 }, back = dd_mul(qd, (struct dd){ d, 0 });
	struct dd rem = dd_add2(a, (struct dd){ -back.hi, -back.lo });
	struct dd r;

	r.hi = q + rem.hi / d;
	r.lo = (q - r.hi) + rem.hi / d;
	return r;
}

/* The population variance; NaN when the sum of the squares is beyond the
 * doubles (the caller turns it into null). */
static double variance(const struct feat_astate *s)
{
	struct dd s1 = dd_of_accum(s->s1), s2 = dd_of_accum(s->s2);

	if (!(s2.hi - s2.hi == 0))
		return NAN;
	struct dd mean = dd_div_d(s1, (double)s->n);
	struct dd m2 = dd_div_d(s2, (double)s->n);
	struct dd sq = dd_mul(mean, mean);
	struct dd v = dd_add2(m2, (struct dd){ -sq.hi, -sq.lo });
	double r = v.hi + v.lo;

	if (r != r)
		return r;	/* no number: null */
	return r > 0 ? r : 0;
}

static int json_word(struct feat_buf *b, const struct feat_aggctx *ctx,
		     enum feat_type t, uint64_t w)
{
	struct feat_value v;

	feat_word_value(ctx, t, w, &v);
	return feat_fmt_json_value(b, &v);
}

struct hentry {
	uint64_t key;
	int64_t cnt;
};

static _Thread_local const struct feat_aggctx *sort_ctx;
static _Thread_local enum feat_type sort_type;

static int by_count(const void *x, const void *y)
{
	const struct hentry *a = x, *b = y;

	if (a->cnt != b->cnt)
		return a->cnt > b->cnt ? -1 : 1;
	return feat_word_cmp(sort_ctx, sort_type, a->key, b->key);
}

static int by_key(const void *x, const void *y)
{
	const struct hentry *a = x, *b = y;

	return feat_word_cmp(sort_ctx, sort_type, a->key, b->key);
}

/* A JSON object key for a word: strings as they are, others as text. */
static void json_key(struct feat_buf *b, const struct feat_aggctx *ctx,
		     enum feat_type t, uint64_t w)
{
	struct feat_value v;

	feat_word_value(ctx, t, w, &v);
	if (v.type == FEAT_STRING) {
		feat_fmt_json_string(b, v.u.s.ptr, v.u.s.len);
	} else {
		struct feat_buf tmp = FEAT_BUF_INIT;

		feat_fmt_json_value(&tmp, &v);
		feat_fmt_json_string(b, tmp.ptr ? tmp.ptr : "", tmp.len);
		feat_buf_release(&tmp);
	}
}

/* {"key": count, ...} in key order; with k, only the k most frequent. */
static int histogram_json(const struct feat_agg *a,
			  const struct feat_aggctx *ctx, const struct wmap *m,
			  struct feat_buf *b)
{
	struct hentry *e = malloc((m->n + 1) * sizeof(*e));
	size_t i, n = 0;

	if (!e)
		return -1;
	for (i = 0; i < m->cap; i++)
		if (m->used[i]) {
			e[n].key = m->keys[i];
			e[n].cnt = m->cnt[i];
			n++;
		}
	sort_ctx = ctx;
	sort_type = a->in_type;
	if (a->k && n > a->k) {
		qsort(e, n, sizeof(*e), by_count);
		n = a->k;
	}
	qsort(e, n, sizeof(*e), by_key);
	feat_buf_addc(b, '{');
	for (i = 0; i < n; i++) {
		char num[FEAT_NUMBUF];

		if (i)
			feat_buf_addc(b, ',');
		json_key(b, ctx, a->in_type, e[i].key);
		feat_buf_addc(b, ':');
		feat_buf_add(b, num, feat_fmt_int(num, e[i].cnt));
	}
	free(e);
	return feat_buf_addc(b, '}');
}

/* {"bucket": result, ...} in bucket order; buckets whose inner result is
 * null (say, an avg of only null values) are left out. */
static int by_json(const struct feat_agg *a, const struct feat_aggctx *ctx,
		   const struct bystate *b, struct feat_buf *json)
{
	struct hentry *e = malloc((b->n + 1) * sizeof(*e));
	size_t i, n = 0, first = 1;

	if (!e)
		return -1;
	for (i = 0; i < b->idx->cap; i++)
		if (b->idx->used[i]) {
			e[n].key = b->idx->keys[i];
			e[n].cnt = b->idx->cnt[i];
			n++;
		}
	sort_ctx = ctx;
	sort_type = a->by_type;
	qsort(e, n, sizeof(*e), by_key);
	feat_buf_addc(json, '{');
	for (i = 0; i < n; i++) {
		size_t mark = json->len;
		struct feat_value v;

		if (!first)
			feat_buf_addc(json, ',');
		json_key(json, ctx, a->by_type, e[i].key);
		feat_buf_addc(json, ':');
		if (feat_aggop_result(a->inner, ctx, &b->st[e[i].cnt], &v, json) < 0) {
			free(e);
			return -1;
		}
		if (v.type == FEAT_NULL) {
			json->len = mark;	/* drop the bucket */
			continue;
		}
		if (v.type != FEAT_JSON)
			feat_fmt_json_value(json, &v);
		first = 0;
	}
	free(e);
	return feat_buf_addc(json, '}');
}

int feat_aggop_result(const struct feat_agg *a, const struct feat_aggctx *ctx,
		      const struct feat_astate *s, struct feat_value *out,
		      struct feat_buf *json)
{
	enum feat_type t = a->in_type;
	size_t start = json->len;
	uint32_t i;

	out->type = FEAT_NULL;
	if (a->inner) {
		if (!s->n)
			return 0;
		if (by_json(a, ctx, s->ext, json) < 0)
			return -1;
		out->type = FEAT_JSON;
		out->u.s.ptr = (const char *)(uintptr_t)start;
		out->u.s.len = json->len - start;
		return 0;
	}
	switch (a->op) {
	case FEAT_OP_COUNT:
		out->type = FEAT_INT;
		out->u.i = s->n;
		return 0;
	case FEAT_OP_UNIQUE_COUNT:
		out->type = FEAT_INT;
		out->u.i = (int64_t)((const struct wmap *)s->ext)->n;
		return 0;
	case FEAT_OP_APPROX_UNIQUE_COUNT:
		out->type = FEAT_INT;
		out->u.i = s->n ? hll_estimate(s->ext, a->precision) : 0;
		return 0;
	default:
		break;
	}
	if (!s->n)
		return 0;
	if (is_vec_op(a)) {
		const struct vecstate *v = s->ext;

		if (v->mixed)
			return 0;
		feat_buf_addc(json, '[');
		for (i = 0; i < v->dim; i++) {
			struct feat_value e;

			if (i)
				feat_buf_addc(json, ',');
			e.type = FEAT_DOUBLE;
			if (v->acc) {
				struct feat_accum tmp = v->acc[i];

				e.u.d = feat_accum_round(&tmp);
				if (a->op == FEAT_OP_AVG)
					e.u.d /= (double)s->n;
			} else {
				e.u.d = v->m[i];
			}
			if (!(e.u.d - e.u.d == 0))
				e.type = FEAT_NULL;
			feat_fmt_json_value(json, &e);
		}
		feat_buf_addc(json, ']');
		if (!json->ptr)
			return -1;
		out->type = FEAT_JSON;
		out->u.s.ptr = (const char *)(uintptr_t)start;
		out->u.s.len = json->len - start;
		return 0;
	}
	switch (a->op) {
	case FEAT_OP_SUM:
	case FEAT_OP_AVG:
		if (exact_sum(a)) {
			struct feat_accum tmp;

			out->type = FEAT_DOUBLE;
			if (s->s1) {
				tmp = *s->s1;
				out->u.d = feat_accum_round(&tmp);
			} else {
				out->u.d = feat_fix_round(i128_get(s));
			}
			if (a->op == FEAT_OP_AVG)
				out->u.d /= (double)s->n;
		} else if (a->op == FEAT_OP_AVG) {
			out->type = FEAT_DOUBLE;
			out->u.d = (double)i128_get(s) / (double)s->n;
		} else {
			feat_i128_value(i128_get(s), out);
		}
		if (out->type == FEAT_DOUBLE && !(out->u.d - out->u.d == 0))
			out->type = FEAT_NULL;
		return 0;
	case FEAT_OP_VAR:
	case FEAT_OP_STDDEV:
		if (s->b)
			return 0;	/* a square beyond the doubles: null */
		out->type = FEAT_DOUBLE;
		out->u.d = variance(s);
		if (a->op == FEAT_OP_STDDEV)
			out->u.d = sqrt(out->u.d);
		if (!(out->u.d - out->u.d == 0))
			out->type = FEAT_NULL;
		return 0;
	case FEAT_OP_MIN:
	case FEAT_OP_MAX:
	case FEAT_OP_FIRST:
	case FEAT_OP_LAST:
		feat_word_value(ctx, t, s->a, out);
		return 0;
	case FEAT_OP_FIRST_K:
	case FEAT_OP_LAST_K:
	case FEAT_OP_TOP_K:
	case FEAT_OP_BOTTOM_K: {
		const struct wlist *l = s->ext;

		/* last_k lists the most recent first (as Chronon does);
		 * the others in their own order. */
		feat_buf_addc(json, '[');
		for (i = 0; i < l->n; i++) {
			uint32_t j = a->op == FEAT_OP_LAST_K ? l->n - 1 - i : i;

			if (i)
				feat_buf_addc(json, ',');
			json_word(json, ctx, t, l->w[j]);
		}
		feat_buf_addc(json, ']');
		break;
	}
	case FEAT_OP_HISTOGRAM:
		if (histogram_json(a, ctx, s->ext, json) < 0)
			return -1;
		break;
	case FEAT_OP_APPROX_PERCENTILE: {
		feat_buf_addc(json, '[');
		for (i = 0; i < a->npercentiles; i++) {
			struct feat_value v;

			if (i)
				feat_buf_addc(json, ',');
			v.type = FEAT_DOUBLE;
			if (dd_quantile(a, s->ext, s->n, a->percentiles[i], &v.u.d) < 0)
				return -1;
			feat_fmt_json_value(json, &v);
		}
		feat_buf_addc(json, ']');
		break;
	}
	default:
		return 0;
	}
	if (!json->ptr)
		return -1;
	out->type = FEAT_JSON;
	out->u.s.ptr = (const char *)(uintptr_t)start;
	out->u.s.len = json->len - start;
	return 0;
}

/* ---- the tile encoding of states (feat-format(5), "State records") ---- */

static int is_text(enum feat_type t)
{
	return t == FEAT_STRING || t == FEAT_VECTOR || t == FEAT_STRLIST ||
	       t == FEAT_MAP;
}

/* A word as the format writes it: the bytes of a string, the bits of a
 * double, an integer as a signed varint. */
static int put_word(struct feat_buf *b, const struct feat_aggctx *ctx,
		    enum feat_type t, uint64_t w)
{
	if (is_text(t)) {
		size_t n;
		const unsigned char *p = feat_keymap_key(ctx->strings, w, &n);

		if (feat_buf_add_varint(b, n) < 0)
			return -1;
		return feat_buf_add(b, p, n);
	}
	if (t == FEAT_DOUBLE) {
		unsigned char d[8];

		feat_put_le64(d, w);
		return feat_buf_add(b, d, 8);
	}
	return feat_buf_add_svarint(b, (int64_t)w);
}

static int get_word(const unsigned char **p, const unsigned char *end,
		    struct feat_keymap *strings, enum feat_type t, uint64_t *w)
{
	if (is_text(t)) {
		uint64_t n;
		long id;

		if (feat_get_varint(p, end, &n) < 0 || n > (uint64_t)(end - *p))
			return -1;
		id = feat_keymap_intern(strings, *p, (size_t)n, NULL);
		if (id < 0)
			return -2;
		*p += n;
		*w = (uint64_t)id;
		return 0;
	}
	if (t == FEAT_DOUBLE) {
		if (end - *p < 8)
			return -1;
		*w = feat_get_le64(*p);
		*p += 8;
		/* Non-finite values never enter a state. */
		if (!(word_d(*w) - word_d(*w) == 0))
			return -1;
		return 0;
	}
	{
		int64_t v;

		if (feat_get_svarint(p, end, &v) < 0)
			return -1;
		if (t == FEAT_BOOL && (v < 0 || v > 1))
			return -1;
		*w = (uint64_t)v;
		return 0;
	}
}

/* Sorts words by value (feat_word_cmp), so that sets, maps and buckets,
 * held in hash order, encode the same whatever their history. */
static void sort_words(const struct feat_aggctx *ctx, enum feat_type t,
		       uint64_t *w, uint64_t *tmp, size_t n)
{
	size_t m = n / 2, i = 0, j = m, k = 0;

	if (n < 2)
		return;
	sort_words(ctx, t, w, tmp, m);
	sort_words(ctx, t, w + m, tmp, n - m);
	while (i < m && j < n)
		tmp[k++] = feat_word_cmp(ctx, t, w[j], w[i]) < 0 ? w[j++] : w[i++];
	while (i < m)
		tmp[k++] = w[i++];
	while (j < n)
		tmp[k++] = w[j++];
	memcpy(w, tmp, n * sizeof(*w));
}

/* The keys of a word map, sorted by value; NULL when out of memory. */
static uint64_t *sorted_keys(const struct feat_aggctx *ctx, enum feat_type t,
			     const struct wmap *m)
{
	uint64_t *k = malloc((2 * m->n + 1) * sizeof(*k));
	size_t i, n = 0;

	if (!k)
		return NULL;
	for (i = 0; i < m->cap; i++)
		if (m->used[i])
			k[n++] = m->keys[i];
	sort_words(ctx, t, k, k + m->n, n);
	return k;
}

/* A DDSketch store: its count, then sorted keys as deltas, with counts. */
static int put_store(struct feat_buf *b, const struct wmap *m)
{
	int64_t *k = dd_keys(m), prev = 0;
	size_t i;
	int ret = -1;

	if (!k || feat_buf_add_varint(b, m->n) < 0)
		goto out;
	for (i = 0; i < m->n; i++) {
		if (feat_buf_add_svarint(b, (int64_t)((uint64_t)k[i] - (uint64_t)prev)) < 0 ||
		    feat_buf_add_varint(b, (uint64_t)wmap_get(m, (uint64_t)k[i])) < 0)
			goto out;
		prev = k[i];
	}
	ret = 0;
out:
	free(k);
	return ret;
}

static int get_store(const unsigned char **p, const unsigned char *end,
		     struct wmap *m, int64_t *total)
{
	uint64_t n, i, c;
	int64_t key = 0, d;

	if (feat_get_varint(p, end, &n) < 0 || n > (uint64_t)(end - *p))
		return -1;
	for (i = 0; i < n; i++) {
		if (feat_get_svarint(p, end, &d) < 0 ||
		    feat_get_varint(p, end, &c) < 0 || !c || c > INT64_MAX ||
		    (i && d <= 0))
			return -1;
		key = (int64_t)((uint64_t)key + (uint64_t)d);
		/* counts add up to the sketch's values: an int64 */
		if (__builtin_add_overflow(*total, (int64_t)c, total))
			return -1;
		if (wmap_add(m, (uint64_t)key, (int64_t)c) < 0)
			return -2;
	}
	return 0;
}

int feat_aggop_encode(const struct feat_agg *a, const struct feat_aggctx *ctx,
		      const struct feat_astate *s, struct feat_buf *b)
{
	enum feat_type t = a->in_type;
	uint64_t *keys = NULL;
	uint32_t i;
	size_t j;
	int ret = -1;

	if (feat_buf_add_varint(b, (uint64_t)s->n) < 0)
		return -1;
	if (!s->n)
		return 0;
	if (a->inner) {
		const struct bystate *by = s->ext;

		keys = sorted_keys(ctx, a->by_type, by->idx);
		if (!keys || feat_buf_add_varint(b, by->idx->n) < 0)
			goto out;
		for (j = 0; j < by->idx->n; j++)
			if (put_word(b, ctx, a->by_type, keys[j]) < 0 ||
			    feat_aggop_encode(a->inner, ctx,
					      &by->st[wmap_get(by->idx, keys[j])], b) < 0)
				goto out;
		ret = 0;
		goto out;
	}
	if (is_vec_op(a)) {
		const struct vecstate *v = s->ext;

		if (feat_buf_add_varint(b, v->mixed ? 0 : (uint64_t)v->dim + 1) < 0)
			return -1;
		for (i = 0; !v->mixed && i < v->dim; i++)
			if (v->acc) {
				if (feat_accum_encode(&v->acc[i], b) < 0)
					return -1;
			} else {
				uint64_t u;

				memcpy(&u, &v->m[i], 8);
				if (put_word(b, ctx, FEAT_DOUBLE, u) < 0)
					return -1;
			}
		return 0;
	}
	switch (a->op) {
	case FEAT_OP_COUNT:
	case FEAT_OP__COUNT:
		return 0;
	case FEAT_OP_SUM:
	case FEAT_OP_AVG:
	case FEAT_OP_VAR:
	case FEAT_OP_STDDEV:
		if (!exact_sum(a))
			return feat_buf_add_svarint(b, (int64_t)s->a) < 0 ||
			       feat_buf_add_varint(b, s->b) < 0 ? -1 : 0;
		if (fix_sum(a) && !s->s1 && i128_get(s)) {
			/* as the accumulator holding it would be */
			struct feat_accum acc;

			feat_accum_init(&acc);
			feat_accum_add_fix(&acc, i128_get(s));
			return feat_accum_encode(&acc, b);
		}
		/* A state that never saw a value has no sums: zero. */
		if ((s->s1 ? feat_accum_encode(s->s1, b)
			   : feat_buf_add_varint(b, 0)) < 0)
			return -1;
		if (a->op != FEAT_OP_VAR && a->op != FEAT_OP_STDDEV)
			return 0;
		if ((s->s2 ? feat_accum_encode(s->s2, b)
			   : feat_buf_add_varint(b, 0)) < 0)
			return -1;
		return feat_buf_addc(b, s->b ? 1 : 0);
	case FEAT_OP_MIN:
	case FEAT_OP_MAX:
	case FEAT_OP_FIRST:
	case FEAT_OP_LAST:
		return put_word(b, ctx, t, s->a);
	case FEAT_OP_FIRST_K:
	case FEAT_OP_LAST_K:
	case FEAT_OP_TOP_K:
	case FEAT_OP_BOTTOM_K: {
		const struct wlist *l = s->ext;

		if (feat_buf_add_varint(b, l->n) < 0)
			return -1;
		for (i = 0; i < l->n; i++)
			if (put_word(b, ctx, t, l->w[i]) < 0)
				return -1;
		return 0;
	}
	case FEAT_OP_UNIQUE_COUNT:
	case FEAT_OP_HISTOGRAM: {
		const struct wmap *m = s->ext;

		keys = sorted_keys(ctx, t, m);
		if (!keys || feat_buf_add_varint(b, m->n) < 0)
			goto out;
		for (j = 0; j < m->n; j++)
			if (put_word(b, ctx, t, keys[j]) < 0 ||
			    (a->op == FEAT_OP_HISTOGRAM &&
			     feat_buf_add_varint(b, (uint64_t)wmap_get(m, keys[j])) < 0))
				goto out;
		ret = 0;
		goto out;
	}
	case FEAT_OP_APPROX_UNIQUE_COUNT: {
		const unsigned char *reg = s->ext;
		size_t m = (size_t)1 << a->precision, used = 0, prev = 0;

		for (j = 0; j < m; j++)
			used += reg[j] != 0;
		/* Sparse (index deltas and ranks) while that is smaller. */
		if (used * 2 < m) {
			if (feat_buf_addc(b, 0) < 0 || feat_buf_add_varint(b, used) < 0)
				return -1;
			for (j = 0; j < m; j++) {
				if (!reg[j])
					continue;
				if (feat_buf_add_varint(b, j - prev) < 0 ||
				    feat_buf_addc(b, reg[j]) < 0)
					return -1;
				prev = j;
			}
			return 0;
		}
		if (feat_buf_addc(b, 1) < 0)
			return -1;
		return feat_buf_add(b, reg, m);
	}
	case FEAT_OP_APPROX_PERCENTILE: {
		const struct ddsketch *d = s->ext;

		if (feat_buf_add_varint(b, (uint64_t)d->zero) < 0 ||
		    put_store(b, &d->neg) < 0 || put_store(b, &d->pos) < 0)
			return -1;
		return 0;
	}
	}
	return 0;
out:
	free(keys);
	return ret;
}

int feat_aggop_decode(const struct feat_agg *a, struct feat_keymap *strings,
		      struct feat_astate *s, const unsigned char **p,
		      const unsigned char *end)
{
	struct feat_aggctx ctx = { strings };
	enum feat_type t = a->in_type;
	uint64_t n, w, c, i;
	int rc;

	feat_aggop_reset(a, s);
	if (feat_get_varint(p, end, &n) < 0 || n > INT64_MAX)
		return -1;
	if (!n)
		return 0;
	s->n = (int64_t)n;
	if (a->inner) {
		struct bystate *by = s->ext;
		uint64_t prev = 0;
		int64_t total = 0;

		if (feat_get_varint(p, end, &c) < 0 || !c || c > (uint64_t)(end - *p))
			return -1;
		for (i = 0; i < c; i++) {
			struct feat_astate *in;

			if ((rc = get_word(p, end, strings, a->by_type, &w)) < 0)
				return rc;
			/* Buckets come sorted, each once. */
			if (i && feat_word_cmp(&ctx, a->by_type, prev, w) >= 0)
				return -1;
			prev = w;
			in = by_bucket(a, by, canon_word(a->by_type, w));
			if (!in)
				return -2;
			if ((rc = feat_aggop_decode(a->inner, strings, in, p, end)) < 0)
				return rc;
			if (!in->n ||
			    __builtin_add_overflow(total, in->n, &total))
				return -1;
		}
		return total == (int64_t)n ? 0 : -1;
	}
	if (is_vec_op(a)) {
		struct vecstate *v = s->ext;

		/* 0: vectors of different lengths met (the result is null);
		 * else 1 + the length. */
		if (feat_get_varint(p, end, &c) < 0)
			return -1;
		if (!c) {
			v->mixed = 1;
			return 0;
		}
		if (c - 1 > (uint64_t)(end - *p))
			return -1;
		if (vec_fit(a, v, (uint32_t)(c - 1)) < 0)
			return -2;
		for (i = 0; i + 1 < c; i++) {
			if (v->acc) {
				if (feat_accum_decode(&v->acc[i], p, end) < 0)
					return -1;
			} else {
				/* Elements keep their bits, whatever they are. */
				if (end - *p < 8)
					return -1;
				v->m[i] = feat_get_le_double(*p);
				*p += 8;
			}
		}
		return 0;
	}
	switch (a->op) {
	case FEAT_OP_COUNT:
	case FEAT_OP__COUNT:
		return 0;
	case FEAT_OP_SUM:
	case FEAT_OP_AVG:
	case FEAT_OP_VAR:
	case FEAT_OP_STDDEV:
		if (!exact_sum(a)) {
			int64_t hi;

			if (feat_get_svarint(p, end, &hi) < 0 ||
			    feat_get_varint(p, end, &s->b) < 0)
				return -1;
			s->a = (uint64_t)hi;
			return 0;
		}
		if (fix_sum(a)) {
			struct feat_accum acc;
			feat_i128 x;

			if (feat_accum_decode(&acc, p, end) < 0)
				return -1;
			if (feat_accum_to_fix(&acc, &x)) {
				free(s->s1);
				s->s1 = NULL;
				i128_set(s, x);
				return 0;
			}
			if (!s->s1 && !(s->s1 = malloc(sizeof(*s->s1))))
				return -2;
			*s->s1 = acc;
			i128_set(s, 0);
			return 0;
		}
		if (sums(a, s) < 0)
			return -2;
		if (feat_accum_decode(s->s1, p, end) < 0)
			return -1;
		if (!s->s2)
			return 0;
		if (feat_accum_decode(s->s2, p, end) < 0 || *p >= end || **p > 1)
			return -1;
		s->b = *(*p)++;
		return 0;
	case FEAT_OP_MIN:
	case FEAT_OP_MAX:
	case FEAT_OP_FIRST:
	case FEAT_OP_LAST:
		return get_word(p, end, strings, t, &s->a);
	case FEAT_OP_FIRST_K:
	case FEAT_OP_LAST_K:
	case FEAT_OP_TOP_K:
	case FEAT_OP_BOTTOM_K: {
		struct wlist *l = s->ext;

		if (feat_get_varint(p, end, &c) < 0 || !c || c > l->cap || c > n)
			return -1;
		for (i = 0; i < c; i++) {
			if ((rc = get_word(p, end, strings, t, &l->w[i])) < 0)
				return rc;
			if (i && ((a->op == FEAT_OP_TOP_K &&
				   feat_word_cmp(&ctx, t, l->w[i - 1], l->w[i]) < 0) ||
				  (a->op == FEAT_OP_BOTTOM_K &&
				   feat_word_cmp(&ctx, t, l->w[i - 1], l->w[i]) > 0)))
				return -1;
		}
		l->n = (uint32_t)c;
		return 0;
	}
	case FEAT_OP_UNIQUE_COUNT:
	case FEAT_OP_HISTOGRAM: {
		uint64_t prev = 0;

		if (feat_get_varint(p, end, &c) < 0 || !c || c > n ||
		    c > (uint64_t)(end - *p))
			return -1;
		for (i = 0; i < c; i++) {
			uint64_t cnt = 1;

			if ((rc = get_word(p, end, strings, t, &w)) < 0)
				return rc;
			if (i && feat_word_cmp(&ctx, t, prev, w) >= 0)
				return -1;
			prev = w;
			if (a->op == FEAT_OP_HISTOGRAM &&
			    (feat_get_varint(p, end, &cnt) < 0 || !cnt || cnt > n))
				return -1;
			if (wmap_add(s->ext, canon_word(t, w), (int64_t)cnt) < 0)
				return -2;
		}
		return 0;
	}
	case FEAT_OP_APPROX_UNIQUE_COUNT: {
		unsigned char *reg = s->ext;
		size_t m = (size_t)1 << a->precision;
		unsigned max = 64 - a->precision + 1;

		if (*p >= end || **p > 1)
			return -1;
		if (*(*p)++ == 1) {
			if ((size_t)(end - *p) < m)
				return -1;
			memcpy(reg, *p, m);
			*p += m;
			for (i = 0; i < m; i++)
				if (reg[i] > max)
					return -1;
			return 0;
		}
		{
			uint64_t idx = 0, d;

			if (feat_get_varint(p, end, &c) < 0 || !c || c > m)
				return -1;
			for (i = 0; i < c; i++) {
				if (feat_get_varint(p, end, &d) < 0 || (i && !d) ||
				    d >= m - idx || *p >= end || !**p || **p > max)
					return -1;
				idx += d;
				reg[idx] = *(*p)++;
			}
		}
		return 0;
	}
	case FEAT_OP_APPROX_PERCENTILE: {
		struct ddsketch *d = s->ext;
		int64_t total = 0;

		if (feat_get_varint(p, end, &c) < 0 || c > n)
			return -1;
		d->zero = (int64_t)c;
		total = d->zero;
		if ((rc = get_store(p, end, &d->neg, &total)) < 0 ||
		    (rc = get_store(p, end, &d->pos, &total)) < 0)
			return rc;
		return total == (int64_t)n ? 0 : -1;
	}
	}
	return 0;
}

int feat_aggop_feed(const struct feat_agg *a, struct feat_keymap *strings,
		    struct feat_astate *s, uint64_t w, uint64_t bw)
{
	struct feat_aggctx ctx = { strings };
	const unsigned char *p, *end;
	size_t len;

	if (!a->explode)
		return feat_aggop_add(a, &ctx, s, w, bw);
	p = feat_keymap_key(strings, w, &len);
	end = p + len;
	while (p < end) {
		uint64_t e;

		if (a->in_type == FEAT_DOUBLE) {
			e = feat_get_le64(p);
			p += 8;
		} else {
			uint64_t n;
			long id;

			if (feat_get_varint(&p, end, &n) < 0 || n > (uint64_t)(end - p))
				return 0;
			id = feat_keymap_intern(strings, p, (size_t)n, NULL);
			if (id < 0)
				return -1;
			e = (uint64_t)id;
			p += n;
		}
		if (feat_aggop_add(a, &ctx, s, e, bw) < 0)
			return -1;
	}
	return 0;
}
