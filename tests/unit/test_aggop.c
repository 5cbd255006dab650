/*
 * test_aggop.c - unit tests of lib/aggop.c: the state of every aggregation.
 *
 * The file has six parts.
 *
 * Grouping (test_ops, one loop iteration per aggregation of the table
 * "configs"). Random sequences of values, with nulls (values that are not
 * folded), ties, -0.0 against 0.0, huge and tiny magnitudes, are split into
 * random contiguous runs; each run is folded into its own state and the
 * states are merged in time order: left to right ((a+b)+c)+d, right to
 * left a+(b+(c+d)), in random tree shapes, and one by one into an empty
 * state (as a sawtooth window merges its buckets). Every grouping must give
 * the same result bytes as one state that folded the whole sequence: the
 * type and the JSON text, whose numbers are the shortest text that reads
 * back to the same double, so equal text means equal bits (DESIGN.md §3,
 * "Determinism and parity"). States are also reset and reused.
 *
 * Value (same loop). The result is compared with a naive computation
 * written here: Shewchuk's exact partials for sums (a different method
 * from the long accumulator of lib/accum.c), expansions for the exact
 * variance, stable sorts for top_k and bottom_k, sorting and counting for
 * histograms and sets, grouping for "by". Where lib/aggop.c rounds on
 * purpose (var, stddev: double-double arithmetic) the test states the
 * bound it holds to; sketches are checked against their guarantees.
 *
 * Encoding (same loop, check_encoding): the tile encoding of each state
 * is canonical, round-trips through another process's string ids, and
 * refuses truncation.
 *
 * Explode (test_explode_state). "explode" is applied by lib/state.c, which
 * folds each element of a list as one value; the features of a state
 * (unbounded: a running state; exact window: folded from the ring;
 * sawtooth: hop buckets merged) must equal the naive result over the
 * flattened elements.
 *
 * Sketches (test_hll_accuracy, test_dd_accuracy). approx_unique_count
 * against its standard error 1.04/sqrt(2^p); approx_percentile against
 * its relative accuracy on skewed data (lognormal, Pareto, signed), the
 * true percentile taken by sorting with the rank convention of aggop.c:
 * the value at 0-based index floor(q * (n - 1)) of the sorted values
 * (numpy's method "lower", DDSketch's own convention; not linear
 * interpolation, not the nearest rank ceil(q * n)). The default run uses
 * 1e5 values; FEAT_LONG_TESTS=1 adds runs of 1e6 and prints the measured
 * errors.
 *
 * Extremes (tcase "extremes"): sums of ints beyond int64, squares beyond
 * the doubles, percentiles at the ends of the double range and tiny
 * relative errors. Known limits (tcase "known_bugs", FEAT_KNOWN_BUGS=1):
 * var loses digits when the mean is huge against the spread (double-double
 * finish), and avg of doubles is null when their sum, not their mean,
 * exceeds the doubles; feat-definition(5) states both. The random tests
 * above keep clear of those inputs (see value_domain_ok()).
 */
#include <check.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggop.h"
#include "buf.h"
#include "error.h"
#include "format.h"
#include "hash.h"
#include "plan.h"
#include "state.h"
#include "value.h"

/*
 * For loops of many iterations: Check's ck_assert_*() records every passing
 * assertion through a pipe, which costs more than the code under test.
 */
#define require(cond) do { \
	if (!(cond)) \
		ck_abort_msg("%s", #cond); \
} while (0)

static uint64_t rng_state = 0xa66a66a66a660001u;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* A uniform double in (0, 1). */
static double rnd_unit(void)
{
	return ((double)(rnd() >> 11) + 0.5) / 9007199254740992.0;
}

/* ---- words ------------------------------------------------------------ */

/* Strings, vectors and string lists are ids in this map (struct feat_aggctx). */
static struct feat_keymap strmap;
static struct feat_aggctx ctx;

static void ctx_init(void)
{
	feat_keymap_init(&strmap);
	ctx.strings = &strmap;
}

static void ctx_release(void)
{
	feat_keymap_release(&strmap);
}

static uint64_t intern(const void *p, size_t n)
{
	long id = feat_keymap_intern(&strmap, p, n, NULL);

	require(id >= 0);
	return (uint64_t)id;
}

static double wd(uint64_t w)
{
	double d;

	memcpy(&d, &w, 8);
	return d;
}

static uint64_t dw(double d)
{
	uint64_t w;

	memcpy(&w, &d, 8);
	return w;
}

static int is_bytes(enum feat_type t)
{
	return t == FEAT_STRING || t == FEAT_VECTOR || t == FEAT_STRLIST;
}

/* The number a word of a numeric type stands for. */
static double wnum(enum feat_type t, uint64_t w)
{
	return t == FEAT_DOUBLE ? wd(w) : (double)(int64_t)w;
}

/* The reference's own order: numbers as numbers (0.0 == -0.0), bytes as
 * bytes, a prefix first. */
static int ref_cmp(enum feat_type t, uint64_t x, uint64_t y)
{
	if (t == FEAT_DOUBLE) {
		double a = wd(x), b = wd(y);

		return a < b ? -1 : a > b;
	}
	if (is_bytes(t)) {
		size_t la, lb;
		const unsigned char *pa = feat_keymap_key(&strmap, x, &la);
		const unsigned char *pb = feat_keymap_key(&strmap, y, &lb);
		int c = la && lb ? memcmp(pa, pb, la < lb ? la : lb) : 0;

		if (c)
			return c < 0 ? -1 : 1;
		return la < lb ? -1 : la > lb;
	}
	return (int64_t)x < (int64_t)y ? -1 : (int64_t)x > (int64_t)y;
}

/* Sets, histograms and buckets count 0.0 and -0.0 as one value. */
static uint64_t ref_canon(enum feat_type t, uint64_t w)
{
	return t == FEAT_DOUBLE && wd(w) == 0 ? 0 : w;
}

static void ref_value(enum feat_type t, uint64_t w, struct feat_value *v)
{
	memset(v, 0, sizeof(*v));
	v->type = t;
	if (t == FEAT_DOUBLE) {
		v->u.d = wd(w);
	} else if (is_bytes(t)) {
		const unsigned char *p = feat_keymap_key(&strmap, w, &v->u.s.len);

		v->u.s.ptr = (const char *)p;
	} else {
		v->u.i = (int64_t)w;
	}
}

static void json_of_word(struct feat_buf *b, enum feat_type t, uint64_t w)
{
	struct feat_value v;

	ref_value(t, w, &v);
	require(feat_fmt_json_value(b, &v) == 0);
}

/* A JSON object key: a string as it is, anything else as its JSON text. */
static void json_key_of_word(struct feat_buf *b, enum feat_type t, uint64_t w)
{
	struct feat_buf tmp = FEAT_BUF_INIT;

	if (t == FEAT_STRING) {
		size_t n;
		const unsigned char *p = feat_keymap_key(&strmap, w, &n);

		feat_fmt_json_string(b, (const char *)p, n);
		return;
	}
	json_of_word(&tmp, t, w);
	feat_fmt_json_string(b, tmp.ptr, tmp.len);
	feat_buf_release(&tmp);
}

static const char *tname(enum feat_type t)
{
	switch (t) {
	case FEAT_NULL: return "null";
	case FEAT_BOOL: return "bool";
	case FEAT_INT: return "int";
	case FEAT_DOUBLE: return "double";
	case FEAT_STRING: return "string";
	case FEAT_TIMESTAMP: return "timestamp";
	case FEAT_JSON: return "json";
	case FEAT_VECTOR: return "list<double>";
	case FEAT_STRLIST: return "list<string>";
	case FEAT_MAP: return "map<string,double>";
	}
	return "?";
}

/* ---- exact arithmetic for the reference ------------------------------- */

/*
 * The exact sum of n doubles, correctly rounded (half to even): Shewchuk's
 * grow-expansion keeps the running sum as non-overlapping partials whose
 * sum is exact; the last step is the half-way correction of CPython's
 * math.fsum. Exact as long as no partial overflows (|sum| < 1e307 here).
 */
static double exact_sum(const double *x, size_t n)
{
	double *p = malloc((n + 1) * sizeof(*p));
	size_t np = 0, i, j, k;
	double hi = 0.0, lo = 0.0;

	require(p != NULL);
	for (i = 0; i < n; i++) {
		double v = x[i];

		for (j = k = 0; j < np; j++) {
			double y = p[j], a = fabs(v) < fabs(y) ? y : v,
			       b = fabs(v) < fabs(y) ? v : y;

			hi = a + b;
			lo = b - (hi - a);
			if (lo != 0.0)
				p[k++] = lo;
			v = hi;
		}
		np = k;
		p[np++] = v;
	}
	hi = 0.0;
	if (np) {
		hi = p[--np];
		lo = 0.0;
		while (np) {
			double v = hi, y = p[--np];

			hi = v + y;
			lo = y - (hi - v);
			if (lo != 0.0)
				break;
		}
		/* Half-way between two doubles: the partials below decide. */
		if (np && ((lo < 0 && p[np - 1] < 0) || (lo > 0 && p[np - 1] > 0))) {
			double y = lo * 2, v = hi + y;

			if (y == v - hi)
				hi = v;
		}
	}
	free(p);
	/* The sum of nothing but zeros is zero, whatever their signs. */
	return hi == 0 ? 0.0 : hi;
}

/*
 * An expansion: a sum of non-overlapping doubles held exactly (Shewchuk's
 * grow-expansion with zero elimination). Products enter exactly as the two
 * halves fma gives, so sums of squares and the square of a sum are exact
 * while nothing overflows or underflows below 2^-1022.
 */
struct expan {
	double *p;
	size_t n, cap;
};

static void ex_add(struct expan *e, double v)
{
	size_t j, k;

	if (e->n + 1 >= e->cap) {
		e->cap = e->cap ? 2 * e->cap : 16;
		e->p = realloc(e->p, e->cap * sizeof(*e->p));
		require(e->p != NULL);
	}
	for (j = k = 0; j < e->n; j++) {
		double y = e->p[j], a = fabs(v) < fabs(y) ? y : v,
		       b = fabs(v) < fabs(y) ? v : y;
		double hi = a + b, lo = b - (hi - a);

		if (lo != 0.0)
			e->p[k++] = lo;
		v = hi;
	}
	e->n = k;
	if (v != 0.0)
		e->p[e->n++] = v;
}

/* Adds x * y exactly. */
static void ex_add_product(struct expan *e, double x, double y)
{
	double p = x * y, lo = fma(x, y, -p);

	ex_add(e, p);
	ex_add(e, lo);
}

static double ex_round(const struct expan *e)
{
	return exact_sum(e->p, e->n);
}

static void ex_free(struct expan *e)
{
	free(e->p);
	memset(e, 0, sizeof(*e));
}

static double ulp(double x)
{
	x = fabs(x);
	return nextafter(x, INFINITY) - x;
}

/* ---- plans ------------------------------------------------------------ */

/* Columns of the source; list columns hold embeddings and tags. */
static const char columns[] =
	"{\"b\": \"bool\", \"d\": \"double\", \"i\": \"int\", \"k\": \"string\", "
	"\"l\": \"list<string>\", \"s\": \"string\", \"t\": \"timestamp_ms\", "
	"\"u\": \"timestamp_ms\", \"v\": \"list<double>\"}";

static struct feat_plan *compile(const char *text)
{
	struct feat_error err;
	struct feat_plan *p;

	feat_error_clear(&err);
	p = feat_plan_compile(text, strlen(text), "def.json", &err);
	ck_assert_msg(p != NULL, "%d:%d: %s\n%s", (int)err.line, (int)err.col,
		      err.msg, text);
	return p;
}

/* A definition of group_by "g" with these aggregations. */
static struct feat_plan *plan_with(const char *aggs)
{
	struct feat_buf b = FEAT_BUF_INIT;
	struct feat_plan *p;

	feat_buf_addf(&b, "{\"sources\": {\"ev\": {\"time\": \"t\", \"columns\": %s}},\n"
		      " \"group_bys\": {\"g\": {\"source\": \"ev\", \"keys\": [\"k\"],\n"
		      "  \"aggregations\": [%s]}}}", columns, aggs);
	p = compile(b.ptr);
	feat_buf_release(&b);
	return p;
}

/* The one aggregation of a plan made by plan_with("{...}"). */
static const struct feat_agg *the_agg(const struct feat_plan *p)
{
	require(p->ngroup_bys == 1 && p->group_bys[0].naggs == 1);
	return &p->group_bys[0].aggs[0];
}

/* ---- the library's side: fold, merge, result ------------------------- */

/* The result as "type:json": equal text means equal type and bits. */
static void value_text(struct feat_buf *out, const struct feat_value *v)
{
	feat_buf_reset(out);
	feat_buf_addf(out, "%s:", tname(v->type));
	require(feat_fmt_json_value(out, v) == 0);
}

/*
 * Every result must be valid JSON: in particular no inf or nan, which
 * feat_fmt_double() would print for a non-finite double. (Not jansson:
 * it refuses bytes that are not UTF-8 and NUL in keys, which feat passes
 * through as they are.) Outside strings only the words true, false, null
 * and numbers may appear.
 */
static void require_json(const struct feat_buf *text, const char *what)
{
	const char *p = strchr(text->ptr, ':'), *end = text->ptr + text->len;

	require(p != NULL);
	for (p++; p < end; p++) {
		if (*p == '"') {
			for (p++; p < end && *p != '"'; p++)
				if (*p == '\\')
					p++;
			continue;
		}
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
			if (!strncmp(p, "true", 4) || !strncmp(p, "null", 4))
				p += 3;
			else if (!strncmp(p, "false", 5))
				p += 4;
			else if ((*p == 'e' || *p == 'E') && p > text->ptr &&
				 p[-1] >= '0' && p[-1] <= '9')
				;
			else
				ck_abort_msg("%s: not JSON: %s", what, text->ptr);
		}
	}
}

/*
 * The result of s as text. JSON results are appended after a byte already
 * in the buffer, so that the offset convention of feat_aggop_result() is
 * exercised.
 */
static void result_text(const struct feat_agg *a, const struct feat_astate *s,
			struct feat_buf *out)
{
	struct feat_buf json = FEAT_BUF_INIT;
	struct feat_value v;

	feat_buf_addc(&json, '#');
	require(feat_aggop_result(a, &ctx, s, &v, &json) == 0);
	if (v.type == FEAT_JSON) {
		size_t off = (size_t)(uintptr_t)v.u.s.ptr;

		require(off == 1 && off + v.u.s.len == json.len);
		v.u.s.ptr = json.ptr + off;
	} else {
		require(json.len == 1);
	}
	/* The type the plan announces, or null. */
	require(v.type == FEAT_NULL || v.type == a->out_type);
	value_text(out, &v);
	feat_buf_release(&json);
}

static void result_value(const struct feat_agg *a, const struct feat_astate *s,
			 struct feat_value *v, struct feat_buf *json)
{
	feat_buf_reset(json);
	require(feat_aggop_result(a, &ctx, s, v, json) == 0);
	if (v->type == FEAT_JSON)
		v->u.s.ptr = json->ptr + (size_t)(uintptr_t)v->u.s.ptr;
}

/* ---- random data ------------------------------------------------------ */

/*
 * Kinds of doubles: 0 few values (ties, -0.0 against 0.0), 1 ratings,
 * 2 every exponent (subnormals to 1e300), 3 cancellation (1e16 against
 * powers of two), 4 exponents within +-400 (squares stay exact),
 * 5 extremes (DBL_MAX, the smallest subnormal, ...). Integers use
 * kind % 3: small, +-2^39, extremes (INT64_MIN, INT64_MAX, +-2^62).
 */
#define NKINDS 6

/* Kind 0 draws from an alphabet of two or three of these, chosen per
 * dataset, so that equal extremes (0.0 and -0.0 above all) are common. */
static const double small[] = { 0.0, -0.0, 1.0, -1.0, 0.5, 2.5, 0.1, -0.1, 3.0 };
static double alphabet[3] = { 0.0, -0.0, 1.0 };
static unsigned alphabet_n = 3;

static void pick_alphabet(void)
{
	unsigned i;

	alphabet_n = 2 + (unsigned)(rnd() % 2);
	alphabet[0] = rnd() % 2 ? 0.0 : -0.0;
	alphabet[1] = -alphabet[0];
	for (i = 2; i < alphabet_n; i++)
		alphabet[i] = small[rnd() % 9];
	if (rnd() % 4 == 0)
		alphabet[1] = small[rnd() % 9];
}

static double rnd_double(int kind)
{
	static const double extreme[] = {
		DBL_MAX, -DBL_MAX, 0x1p-1074, -0x1p-1074, DBL_MIN, 1e308, -1.7e308,
		0.0, -0.0, 1.0, 1e-310, 0x1.fffffffffffffp+1000,
	};

	switch (kind) {
	case 0:
		return alphabet[rnd() % alphabet_n];
	case 1:
		return (double)(rnd() % 11) / 2;
	case 2: {
		double m = (double)(rnd() >> 11) / 9007199254740992.0;
		int e = (int)(rnd() % 2070) - 1074;

		if (e > 997)
			e = 997;
		return (rnd() & 1 ? -1 : 1) * ldexp(m, e);
	}
	case 3:
		return rnd() % 2 ? (rnd() & 1 ? 1e16 : -1e16)
				 : ldexp(1.0, -(int)(rnd() % 60));
	case 4: {
		double m = 0.5 + (double)(rnd() >> 11) / 18014398509481984.0;

		return (rnd() & 1 ? -1 : 1) * ldexp(m, (int)(rnd() % 801) - 400);
	}
	default:
		if (rnd() % 3)
			return extreme[rnd() % (sizeof(extreme) / sizeof(extreme[0]))];
		return rnd_double(2);
	}
}

static int64_t rnd_int(int kind)
{
	static const int64_t extreme[] = {
		INT64_MIN, INT64_MAX, -1, 0, 1, INT64_C(1) << 62, -(INT64_C(1) << 62),
		INT64_MAX - 1, INT64_MIN + 1,
	};

	switch (kind % 3) {
	case 0:
		return (int64_t)(rnd() % 21) - 10;
	case 1:
		return (int64_t)(rnd() >> 24) - ((int64_t)1 << 39);
	default:
		if (rnd() % 2)
			return extreme[rnd() % (sizeof(extreme) / sizeof(extreme[0]))];
		return (int64_t)rnd();
	}
}

/* Strings whose order and JSON text are easy to get wrong. */
static const char *const strings[] = {
	"", "a", "ab", "b", "B", "a\0", "\xff", "ba", "aa", "\"\\", "\n\x01",
	"\xc3\xa9",
};
static const size_t string_lens[] = { 0, 1, 2, 1, 1, 2, 1, 2, 2, 2, 2, 2 };
#define NSTRINGS (sizeof(strings) / sizeof(strings[0]))

static void put_le_double(unsigned char *p, double d)
{
	uint64_t u = dw(d);
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char)(u >> (8 * i));
}

static double get_le_double(const unsigned char *p)
{
	uint64_t u = 0;
	int i;

	for (i = 7; i >= 0; i--)
		u = u << 8 | p[i];
	return wd(u);
}

/* The bytes of a list<string>: each string as a varint length and bytes. */
static size_t strlist_bytes(unsigned char *out, const int *idx, size_t n)
{
	size_t len = 0, i;

	for (i = 0; i < n; i++) {
		out[len++] = (unsigned char)string_lens[idx[i]];
		memcpy(out + len, strings[idx[i]], string_lens[idx[i]]);
		len += string_lens[idx[i]];
	}
	return len;
}

struct data {
	size_t n;		/* events */
	uint64_t *w, *bw;	/* their value and bucket words */
	unsigned char *null;	/* 1: not folded */
	int kind;
	uint32_t dim;		/* vectors: the usual length */
	int mixed;		/* vectors: sometimes another length */
	/* The values folded, in order. */
	uint64_t *vw, *vbw;
	size_t nv;
};

static uint64_t rnd_word(enum feat_type t, const struct data *d)
{
	switch (t) {
	case FEAT_DOUBLE:
		return dw(rnd_double(d->kind));
	case FEAT_BOOL:
		return rnd() & 1;
	case FEAT_TIMESTAMP:
		return (uint64_t)(INT64_C(1784851200000) + (int64_t)(rnd() % 7) - 3);
	case FEAT_STRING: {
		size_t i = rnd() % NSTRINGS;

		return intern(strings[i], string_lens[i]);
	}
	case FEAT_VECTOR: {
		unsigned char buf[8 * 8];
		uint32_t dim = d->dim, i;

		if (d->mixed && rnd() % 8 == 0)
			dim = (uint32_t)(rnd() % 6);
		for (i = 0; i < dim; i++)
			put_le_double(buf + 8 * i, rnd_double(d->kind));
		return intern(buf, 8 * dim);
	}
	case FEAT_STRLIST: {
		unsigned char buf[64];
		int idx[3];
		size_t n = rnd() % 4, i;

		for (i = 0; i < n; i++)
			idx[i] = (int)(rnd() % NSTRINGS);
		n = strlist_bytes(buf, idx, n);
		return intern(buf, n);
	}
	default:
		return (uint64_t)rnd_int(d->kind);
	}
}

static uint64_t rnd_bucket(enum feat_type t)
{
	static const char *const bs[] = { "x", "y", "", "z\0w" };
	static const size_t bl[] = { 1, 1, 0, 3 };
	static const double bd[] = { 0.0, -0.0, 1.5, -2.0, 1e300 };

	switch (t) {
	case FEAT_STRING: {
		size_t i = rnd() % 4;

		return intern(bs[i], bl[i]);
	}
	case FEAT_DOUBLE:
		return dw(bd[rnd() % 5]);
	case FEAT_BOOL:
		return rnd() & 1;
	case FEAT_TIMESTAMP:
		return (uint64_t)(INT64_C(1784851200000) + (int64_t)(rnd() % 3));
	default:
		return (uint64_t)((int64_t)(rnd() % 5) - 2);
	}
}

static void data_gen(const struct feat_agg *a, struct data *d, size_t n, int kind)
{
	static const unsigned null_every[] = { 0, 8, 2, 1, 3 };
	unsigned nulls = null_every[rnd() % 5];
	const struct feat_agg *in = a->inner ? a->inner : a;
	size_t i;

	memset(d, 0, sizeof(*d));
	d->n = n;
	/* Values near DBL_MAX have a known bug in approx_percentile
	 * (test_bug_percentile_huge): other extremes for it. */
	d->kind = kind == 5 && in->op == FEAT_OP_APPROX_PERCENTILE ? 2 : kind;
	pick_alphabet();
	d->dim = (uint32_t)(rnd() % 5);
	d->mixed = rnd() % 4 == 0;
	d->w = calloc(n + 1, sizeof(*d->w));
	d->bw = calloc(n + 1, sizeof(*d->bw));
	d->null = calloc(n + 1, 1);
	d->vw = calloc(n + 1, sizeof(*d->vw));
	d->vbw = calloc(n + 1, sizeof(*d->vbw));
	require(d->w && d->bw && d->null && d->vw && d->vbw);
	for (i = 0; i < n; i++) {
		/* Nulls one in "nulls", sometimes in bursts; 1: all null. */
		d->null[i] = nulls == 1 || (nulls && rnd() % nulls == 0) ||
			     (i && d->null[i - 1] && rnd() % 2);
		d->w[i] = rnd_word(a->in_type, d);
		if (a->inner)
			d->bw[i] = rnd_bucket(a->by_type);
		if (!d->null[i]) {
			d->vw[d->nv] = d->w[i];
			d->vbw[d->nv++] = d->bw[i];
		}
	}
}

static void data_release(struct data *d)
{
	free(d->w);
	free(d->bw);
	free(d->null);
	free(d->vw);
	free(d->vbw);
}

static void fold(const struct feat_agg *a, struct feat_astate *s,
		 const struct data *d, size_t lo, size_t hi)
{
	size_t i;

	for (i = lo; i < hi; i++)
		if (!d->null[i])
			require(feat_aggop_add(a, &ctx, s, d->w[i], d->bw[i]) == 0);
}

/* The result of folding n values (and bucket words) into a new state. */
static void fold_text(const struct feat_agg *a, const uint64_t *w,
		      const uint64_t *bw, size_t n, struct feat_buf *out)
{
	struct feat_astate s;
	size_t i;

	require(feat_aggop_init(a, &s) == 0);
	for (i = 0; i < n; i++)
		require(feat_aggop_add(a, &ctx, &s, w[i], bw ? bw[i] : 0) == 0);
	result_text(a, &s, out);
	feat_aggop_release(a, &s);
}

/* ---- the reference ---------------------------------------------------- */

struct ent {
	uint64_t w;
	size_t i;		/* position: ties keep their order */
	int64_t cnt;
};

static enum feat_type sort_type;
static int sort_desc;

static int by_word(const void *x, const void *y)
{
	const struct ent *a = x, *b = y;
	int c = ref_cmp(sort_type, a->w, b->w);

	if (sort_desc)
		c = -c;
	if (c)
		return c;
	return a->i < b->i ? -1 : a->i > b->i;
}

static int by_count(const void *x, const void *y)
{
	const struct ent *a = x, *b = y;

	if (a->cnt != b->cnt)
		return a->cnt > b->cnt ? -1 : 1;
	return ref_cmp(sort_type, a->w, b->w);
}

/* The values, canonical, sorted, as (word, count) with distinct words. */
static size_t distinct(enum feat_type t, const uint64_t *w, size_t n,
		       struct ent *e)
{
	size_t i, m = 0;

	for (i = 0; i < n; i++) {
		e[i].w = ref_canon(t, w[i]);
		e[i].i = i;
	}
	sort_type = t;
	sort_desc = 0;
	qsort(e, n, sizeof(*e), by_word);
	for (i = 0; i < n; i++) {
		if (m && ref_cmp(t, e[m - 1].w, e[i].w) == 0 &&
		    (!is_bytes(t) || e[m - 1].w == e[i].w)) {
			e[m - 1].cnt++;
			continue;
		}
		e[m].w = e[i].w;
		e[m].i = e[i].i;
		e[m].cnt = 1;
		m++;
	}
	return m;
}

static void append_null(struct feat_buf *out, enum feat_type *type)
{
	*type = FEAT_NULL;
	feat_buf_adds(out, "null");
}

static void append_double(struct feat_buf *out, enum feat_type *type, double d)
{
	struct feat_value v;

	if (!isfinite(d)) {
		append_null(out, type);
		return;
	}
	v.type = *type = FEAT_DOUBLE;
	v.u.d = d;
	feat_fmt_json_value(out, &v);
}

static int naive(const struct feat_agg *a, const uint64_t *w,
		 const uint64_t *bw, size_t n, struct feat_buf *out,
		 enum feat_type *type);

/* "by": {"bucket": inner result, ...} in bucket order, null ones left out. */
static void naive_by(const struct feat_agg *a, const uint64_t *w,
		     const uint64_t *bw, size_t n, struct feat_buf *out,
		     enum feat_type *type)
{
	struct ent *e = calloc(n + 1, sizeof(*e));
	uint64_t *vals = calloc(n + 1, sizeof(*vals));
	struct feat_buf ib = FEAT_BUF_INIT;
	size_t i, j, m;
	int first = 1;

	require(e && vals);
	if (!n) {
		append_null(out, type);
		goto out;
	}
	for (i = 0; i < n; i++) {
		e[i].w = ref_canon(a->by_type, bw[i]);
		e[i].i = i;
	}
	sort_type = a->by_type;
	sort_desc = 0;
	qsort(e, n, sizeof(*e), by_word);
	feat_buf_addc(out, '{');
	for (i = 0; i < n; i = j) {
		enum feat_type it;

		for (j = i, m = 0; j < n && e[j].w == e[i].w; j++)
			vals[m++] = w[e[j].i];
		feat_buf_reset(&ib);
		if (!naive(a->inner, vals, NULL, m, &ib, &it)) {
			/* No exact reference for the inner operation (var,
			 * sketches): the library's own, checked elsewhere. */
			struct feat_buf t = FEAT_BUF_INIT;
			const char *colon;

			fold_text(a->inner, vals, NULL, m, &t);
			colon = strchr(t.ptr, ':');
			it = strncmp(t.ptr, "null:", 5) ? FEAT_JSON : FEAT_NULL;
			feat_buf_adds(&ib, colon + 1);
			feat_buf_release(&t);
		}
		if (it == FEAT_NULL)
			continue;
		if (!first)
			feat_buf_addc(out, ',');
		first = 0;
		json_key_of_word(out, a->by_type, e[i].w);
		feat_buf_addc(out, ':');
		feat_buf_add(out, ib.ptr, ib.len);
	}
	feat_buf_addc(out, '}');
	*type = FEAT_JSON;
out:
	feat_buf_release(&ib);
	free(e);
	free(vals);
}

/* Element-wise sum, avg, min, max of vectors; another length: null. */
static void naive_vector(const struct feat_agg *a, const uint64_t *w, size_t n,
			 struct feat_buf *out, enum feat_type *type)
{
	size_t dim, len, i, j;
	double *col;

	if (!n) {
		append_null(out, type);
		return;
	}
	feat_keymap_key(&strmap, w[0], &len);
	dim = len / 8;
	for (i = 1; i < n; i++) {
		feat_keymap_key(&strmap, w[i], &len);
		if (len / 8 != dim) {
			append_null(out, type);
			return;
		}
	}
	col = calloc(n + 1, sizeof(*col));
	require(col != NULL);
	feat_buf_addc(out, '[');
	for (j = 0; j < dim; j++) {
		double r = 0;
		enum feat_type et;

		for (i = 0; i < n; i++)
			col[i] = get_le_double(feat_keymap_key(&strmap, w[i], &len) + 8 * j);
		if (a->op == FEAT_OP_SUM || a->op == FEAT_OP_AVG) {
			r = exact_sum(col, n);
			if (a->op == FEAT_OP_AVG)
				r /= (double)n;
		} else {
			r = col[0];
			for (i = 1; i < n; i++)
				if (a->op == FEAT_OP_MIN ? col[i] < r : col[i] > r)
					r = col[i];
		}
		if (j)
			feat_buf_addc(out, ',');
		append_double(out, &et, r);
	}
	feat_buf_addc(out, ']');
	*type = FEAT_JSON;
	free(col);
}

/*
 * The result of a over the values w (bucket words bw) computed from the
 * definitions, as JSON appended to out, its type in *type. Returns 0 when
 * there is no exact reference (var, stddev, the sketches): those have
 * their own checks.
 */
static int naive(const struct feat_agg *a, const uint64_t *w,
		 const uint64_t *bw, size_t n, struct feat_buf *out,
		 enum feat_type *type)
{
	enum feat_type t = a->in_type;
	struct ent *e;
	size_t i, m;

	if (a->inner) {
		naive_by(a, w, bw, n, out, type);
		return 1;
	}
	if (t == FEAT_VECTOR && (a->op == FEAT_OP_SUM || a->op == FEAT_OP_AVG ||
				 a->op == FEAT_OP_MIN || a->op == FEAT_OP_MAX)) {
		naive_vector(a, w, n, out, type);
		return 1;
	}
	switch (a->op) {
	case FEAT_OP_VAR:
	case FEAT_OP_STDDEV:
	case FEAT_OP_APPROX_UNIQUE_COUNT:
	case FEAT_OP_APPROX_PERCENTILE:
		return 0;
	case FEAT_OP_COUNT:
		*type = FEAT_INT;
		feat_buf_addf(out, "%zu", n);
		return 1;
	case FEAT_OP_UNIQUE_COUNT:
		e = calloc(n + 1, sizeof(*e));
		require(e != NULL);
		*type = FEAT_INT;
		feat_buf_addf(out, "%zu", distinct(t, w, n, e));
		free(e);
		return 1;
	default:
		break;
	}
	if (!n) {
		append_null(out, type);
		return 1;
	}
	switch (a->op) {
	case FEAT_OP_SUM:
	case FEAT_OP_AVG:
		if (t == FEAT_DOUBLE) {
			double *x = calloc(n, sizeof(*x)), s;

			require(x != NULL);
			for (i = 0; i < n; i++)
				x[i] = wd(w[i]);
			s = exact_sum(x, n);
			free(x);
			append_double(out, type, a->op == FEAT_OP_AVG ? s / (double)n : s);
		} else {
			__extension__ __int128 s = 0;

			/* Integer sums are exact; beyond int64 a sum is null. */
			for (i = 0; i < n; i++)
				s += (int64_t)w[i];
			if (a->op == FEAT_OP_AVG) {
				append_double(out, type, (double)s / (double)n);
			} else if (s > INT64_MAX || s < INT64_MIN) {
				append_null(out, type);
			} else {
				*type = FEAT_INT;
				feat_buf_addf(out, "%lld", (long long)s);
			}
		}
		return 1;
	case FEAT_OP_MIN:
	case FEAT_OP_MAX:
	case FEAT_OP_FIRST:
	case FEAT_OP_LAST: {
		size_t best = a->op == FEAT_OP_LAST ? n - 1 : 0;

		/* Strictly better only: the earliest of equal values stays. */
		for (i = 1; i < n && (a->op == FEAT_OP_MIN || a->op == FEAT_OP_MAX); i++)
			if (a->op == FEAT_OP_MIN ? ref_cmp(t, w[i], w[best]) < 0
						 : ref_cmp(t, w[i], w[best]) > 0)
				best = i;
		*type = t;
		json_of_word(out, t, w[best]);
		return 1;
	}
	case FEAT_OP_FIRST_K:
	case FEAT_OP_LAST_K:
	case FEAT_OP_TOP_K:
	case FEAT_OP_BOTTOM_K:
		e = calloc(n + 1, sizeof(*e));
		require(e != NULL);
		for (i = 0; i < n; i++) {
			e[i].w = w[i];
			e[i].i = i;
		}
		if (a->op == FEAT_OP_LAST_K) {
			/* The most recent first. */
			for (i = 0; i < n; i++)
				e[i].w = w[n - 1 - i];
		} else if (a->op != FEAT_OP_FIRST_K) {
			sort_type = t;
			sort_desc = a->op == FEAT_OP_TOP_K;
			qsort(e, n, sizeof(*e), by_word);
		}
		m = n < a->k ? n : a->k;
		feat_buf_addc(out, '[');
		for (i = 0; i < m; i++) {
			if (i)
				feat_buf_addc(out, ',');
			json_of_word(out, t, e[i].w);
		}
		feat_buf_addc(out, ']');
		*type = FEAT_JSON;
		free(e);
		return 1;
	case FEAT_OP_HISTOGRAM:
		e = calloc(n + 1, sizeof(*e));
		require(e != NULL);
		m = distinct(t, w, n, e);
		if (a->k && m > a->k) {
			/* The k most frequent; equal counts: the smaller value. */
			sort_type = t;
			qsort(e, m, sizeof(*e), by_count);
			m = a->k;
			sort_desc = 0;
			qsort(e, m, sizeof(*e), by_word);
		}
		feat_buf_addc(out, '{');
		for (i = 0; i < m; i++) {
			if (i)
				feat_buf_addc(out, ',');
			json_key_of_word(out, t, e[i].w);
			feat_buf_addf(out, ":%lld", (long long)e[i].cnt);
		}
		feat_buf_addc(out, '}');
		*type = FEAT_JSON;
		free(e);
		return 1;
	default:
		ck_abort_msg("the reference has no %s", feat_op_name(a->op));
	}
	return 0;
}

/*
 * var and stddev. The reference is exact up to the last division:
 * D = n*S2 - S1^2 as an expansion, rounded once, then var = D / n^2. The
 * library computes S2/n - (S1/n)^2 in double-double arithmetic, whose
 * error is about 2^-104 of S2/n: the bound below allows that, plus a few
 * ulps of the result.
 */
static void check_var(const struct feat_agg *a, const uint64_t *w, size_t n,
		      const struct feat_astate *s, const char *what)
{
	struct expan s1 = { 0 }, s2 = { 0 }, d = { 0 };
	struct feat_value v;
	struct feat_buf json = FEAT_BUF_INIT;
	double nn = (double)n, D, var, m2, got, tol;
	size_t i, j;

	result_value(a, s, &v, &json);
	feat_buf_release(&json);
	if (!n) {
		require(v.type == FEAT_NULL);
		return;
	}
	ck_assert_msg(v.type == FEAT_DOUBLE, "%s: %s of %zu values is %s", what,
		      feat_op_name(a->op), n, tname(v.type));
	for (i = 0; i < n; i++) {
		double x = wnum(a->in_type, w[i]);

		ex_add(&s1, x);
		ex_add_product(&s2, x, x);
	}
	for (i = 0; i < s2.n; i++)
		ex_add_product(&d, s2.p[i], nn);
	for (i = 0; i < s1.n; i++)
		for (j = 0; j < s1.n; j++)
			ex_add_product(&d, -s1.p[i], s1.p[j]);
	D = ex_round(&d);
	m2 = ex_round(&s2) / nn;
	ex_free(&s1);
	ex_free(&s2);
	ex_free(&d);
	require(D >= 0);
	var = D / (nn * nn);
	got = v.u.d;
	tol = 2 * ulp(var) + ldexp(m2, -100);
	if (a->op == FEAT_OP_STDDEV) {
		require(got >= 0);
		got = got * got;
		tol += 4 * ulp(var);
	}
	ck_assert_msg(fabs(got - var) <= tol,
		      "%s: %s of %zu values: got %a (squared for stddev), want %a (+- %a)",
		      what, feat_op_name(a->op), n, got, var, tol);
}

/* approx_unique_count on small sets: near the true count. */
static void check_hll_small(const struct feat_agg *a, const uint64_t *w,
			    size_t n, const struct feat_astate *s,
			    const char *what)
{
	struct ent *e = calloc(n + 1, sizeof(*e));
	struct feat_buf json = FEAT_BUF_INIT;
	struct feat_value v;
	double u, sigma = 1.04 / sqrt((double)(1u << a->precision));

	require(e != NULL);
	u = (double)distinct(a->in_type, w, n, e);
	free(e);
	result_value(a, s, &v, &json);
	feat_buf_release(&json);
	require(v.type == FEAT_INT);
	ck_assert_msg(fabs((double)v.u.i - u) <= 4 * sigma * u + 2,
		      "%s: approx_unique_count (precision %u) gives %lld for %.0f distinct values",
		      what, a->precision, (long long)v.u.i, u);
}


static int cmp_double(const void *p, const void *q)
{
	double a = *(const double *)p, b = *(const double *)q;

	return a < b ? -1 : a > b;
}

/* The rank convention of aggop.c: 0-based index floor(q * (n - 1)). */
static size_t pct_index(double q, size_t n)
{
	return (size_t)floor(q * (double)(n - 1));
}

/*
 * approx_percentile: each value returned must be within the relative error
 * of the true percentile x[pct_index()] of the sorted values x (and 0 for
 * 0). The representative of a bucket is within rel_error of every value
 * in it; 1e-9 of slack covers the rounding of the bucket's bounds. Writes
 * each percentile's relative error to errs (if not NULL) and returns the
 * largest.
 */
static double check_pct(const struct feat_agg *a, const double *x, size_t n,
			const struct feat_astate *s, const char *what,
			double *errs)
{
	struct feat_buf json = FEAT_BUF_INIT;
	struct feat_value v;
	double worst = 0;
	json_error_t je;
	json_t *arr;
	size_t i;

	result_value(a, s, &v, &json);
	if (!n) {
		require(v.type == FEAT_NULL);
		feat_buf_release(&json);
		return 0;
	}
	require(v.type == FEAT_JSON);
	arr = json_loadb(v.u.s.ptr, v.u.s.len, JSON_DECODE_ANY, &je);
	ck_assert_msg(arr && json_is_array(arr) &&
		      json_array_size(arr) == a->npercentiles,
		      "%s: not a JSON list of %zu numbers: %.*s", what,
		      a->npercentiles, (int)v.u.s.len, v.u.s.ptr);
	for (i = 0; i < a->npercentiles; i++) {
		double q = a->percentiles[i], t = x[pct_index(q, n)];
		double got = json_number_value(json_array_get(arr, i)), err;

		if (t == 0) {
			ck_assert_msg(got == 0, "%s: percentile %g is %.17g, want 0",
				      what, q, got);
			err = 0;
		} else {
			err = fabs(got - t) / fabs(t);
			ck_assert_msg(err <= a->rel_error * (1 + 1e-9) && (got < 0) == (t < 0),
				      "%s: percentile %g of %zu values is %.17g, want %.17g within %g (error %g)",
				      what, q, n, got, t, a->rel_error, err);
		}
		if (errs)
			errs[i] = err;
		if (err > worst)
			worst = err;
	}
	json_decref(arr);
	feat_buf_release(&json);
	return worst;
}

/*
 * Where the value test applies. Outside, the reference itself would
 * overflow (sums near DBL_MAX; squares beyond 1e154 or below 1e-154, where
 * aggop.c also has a bug: test_bug_var_huge), or a known bug shows: avg of
 * integers whose sum wraps (test_bug_avg_int_overflow). The grouping test
 * runs on every kind.
 */
static int value_domain_ok(const struct feat_agg *a, int kind)
{
	const struct feat_agg *in = a->inner ? a->inner : a;
	int dbl = in->in_type == FEAT_DOUBLE || in->in_type == FEAT_VECTOR;

	switch (in->op) {
	case FEAT_OP_SUM:
		return !dbl || kind != 5;
	case FEAT_OP_AVG:
		return !dbl || kind != 5;
	case FEAT_OP_VAR:
	case FEAT_OP_STDDEV:
		return !dbl || (kind != 2 && kind != 5);
	default:
		return 1;
	}
}

/*
 * Folds the values w (buckets bw) into a new state and compares its result
 * with the reference: the same text where there is an exact one, the
 * operation's own bound where not. got (if not NULL) is the text some
 * other way gave, which must be the same.
 */
static void check_value(const struct feat_agg *a, const uint64_t *w,
			const uint64_t *bw, size_t n, int kind,
			const struct feat_buf *got, const char *what)
{
	struct feat_buf mine = FEAT_BUF_INIT, want = FEAT_BUF_INIT;
	struct feat_astate s;
	enum feat_type t;
	size_t i;

	require(feat_aggop_init(a, &s) == 0);
	for (i = 0; i < n; i++)
		require(feat_aggop_add(a, &ctx, &s, w[i], bw ? bw[i] : 0) == 0);
	result_text(a, &s, &mine);
	require_json(&mine, what);
	if (got && (got->len != mine.len || memcmp(got->ptr, mine.ptr, mine.len)))
		ck_abort_msg("%s: got %s, but one state folding the values gives %s",
			     what, got->ptr, mine.ptr);
	if (!value_domain_ok(a, kind))
		goto out;
	if (naive(a, w, bw, n, &want, &t)) {
		struct feat_buf full = FEAT_BUF_INIT;

		feat_buf_addf(&full, "%s:", tname(t));
		feat_buf_add(&full, want.ptr, want.len);
		if (full.len != mine.len || memcmp(full.ptr, mine.ptr, mine.len))
			ck_abort_msg("%s: got %s, want %s", what, mine.ptr, full.ptr);
		feat_buf_release(&full);
	} else if (a->op == FEAT_OP_VAR || a->op == FEAT_OP_STDDEV) {
		check_var(a, w, n, &s, what);
	} else if (a->op == FEAT_OP_APPROX_UNIQUE_COUNT) {
		check_hll_small(a, w, n, &s, what);
	} else if (a->op == FEAT_OP_APPROX_PERCENTILE) {
		double *x = calloc(n + 1, sizeof(*x));

		require(x != NULL);
		for (i = 0; i < n; i++)
			x[i] = wnum(a->in_type, w[i]);
		qsort(x, n, sizeof(*x), cmp_double);
		check_pct(a, x, n, &s, what, NULL);
		free(x);
	}
out:
	feat_aggop_release(a, &s);
	feat_buf_release(&mine);
	feat_buf_release(&want);
}

/* ---- groupings -------------------------------------------------------- */

#define MAXRUNS 64

/*
 * Merges the states st[lo..hi) into st[lo], each merge taking a later
 * state into an earlier one: shape 0 left to right ((a+b)+c)+d, shape 1
 * right to left a+(b+(c+d)), otherwise a random tree.
 */
static void merge_tree(const struct feat_agg *a, struct feat_astate *st,
		       size_t lo, size_t hi, int shape)
{
	size_t m;

	if (hi - lo < 2)
		return;
	if (shape == 0)
		m = hi - 1;
	else if (shape == 1)
		m = lo + 1;
	else
		m = lo + 1 + rnd() % (hi - lo - 1);
	merge_tree(a, st, lo, m, shape);
	merge_tree(a, st, m, hi, shape);
	require(feat_aggop_merge(a, &ctx, &st[lo], &st[m]) == 0);
}

static const char *const shape_names[] = {
	"left to right", "right to left", "a random tree", "another random tree",
	"single events, left to right", "one by one into an empty state",
};

/* Cuts [0, n) into nr runs at random: cut[0] = 0 <= cut[1] <= ... <=
 * cut[nr] = n, runs may be empty. */
static void random_cuts(size_t n, size_t nr, size_t *cut)
{
	size_t r, i;

	cut[0] = 0;
	cut[nr] = n;
	for (r = 1; r < nr; r++) {
		size_t c = (size_t)(rnd() % (n + 1));

		for (i = r; i > 1 && cut[i - 1] > c; i--)
			cut[i] = cut[i - 1];
		cut[i] = c;
	}
}

/*
 * Splits the events into contiguous runs (some empty, some all null),
 * folds each into its own state, merges them in each shape, and requires
 * the text want.
 */
static void check_groupings(const struct feat_agg *a, const struct data *d,
			    const struct feat_buf *want, const char *what)
{
	struct feat_astate st[MAXRUNS + 1];
	size_t cut[MAXRUNS + 1];
	struct feat_buf got = FEAT_BUF_INIT;
	int shape;

	for (shape = 0; shape < 6; shape++) {
		size_t nr, r;

		if (shape == 4 && d->n && d->n <= MAXRUNS) {
			/* The finest tiles: one event each. */
			nr = d->n;
			for (r = 0; r <= nr; r++)
				cut[r] = r;
		} else {
			nr = 1 + rnd() % (shape == 4 ? MAXRUNS : 12);
			random_cuts(d->n, nr, cut);
		}
		for (r = 0; r < nr; r++) {
			require(feat_aggop_init(a, &st[r]) == 0);
			fold(a, &st[r], d, cut[r], cut[r + 1]);
		}
		if (shape == 5) {
			/* As a sawtooth window does: into an empty state. */
			require(feat_aggop_init(a, &st[nr]) == 0);
			for (r = 0; r < nr; r++)
				require(feat_aggop_merge(a, &ctx, &st[nr], &st[r]) == 0);
			result_text(a, &st[nr], &got);
			feat_aggop_release(a, &st[nr]);
		} else {
			merge_tree(a, st, 0, nr, shape == 4 ? 0 : shape);
			result_text(a, &st[0], &got);
		}
		if (got.len != want->len || memcmp(got.ptr, want->ptr, got.len))
			ck_abort_msg("%s: %zu runs merged %s give %s, one state %s",
				     what, nr, shape_names[shape], got.ptr, want->ptr);
		for (r = 0; r < nr; r++)
			feat_aggop_release(a, &st[r]);
	}
	feat_buf_release(&got);
}

/*
 * The tile encoding of states (feat_aggop_encode/decode). Canonical: the
 * merge of runs encodes to the very bytes of the one state over all
 * events, and a state decoded (into this string map, or into a fresh one,
 * as another process would) encodes back to them and gives the same
 * result; runs that travel encoded and merge after decoding give it too.
 * Every strict prefix of an encoding is refused, and flipped bytes are
 * either refused or decode to some valid state, never a crash.
 */
static void encode(const struct feat_agg *a, const struct feat_aggctx *c,
		   const struct feat_astate *s, struct feat_buf *b)
{
	feat_buf_reset(b);
	require(feat_aggop_encode(a, c, s, b) == 0);
	require(feat_buf_addc(b, 0) == 0);	/* keep ptr set when empty */
	b->len--;
}

static void decode(const struct feat_agg *a, struct feat_keymap *m,
		   struct feat_astate *s, const struct feat_buf *b,
		   const char *what)
{
	const unsigned char *p = (const unsigned char *)b->ptr;
	int rc = feat_aggop_decode(a, m, s, &p, p + b->len);

	if (rc < 0 || p != (const unsigned char *)b->ptr + b->len)
		ck_abort_msg("%s: its own encoding does not decode (%d)", what, rc);
}

static void check_encoding(const struct feat_agg *a, const struct data *d,
			   const struct feat_buf *want, const char *what)
{
	struct feat_buf whole = FEAT_BUF_INIT, b = FEAT_BUF_INIT,
			got = FEAT_BUF_INIT;
	struct feat_astate s, t, st[13];
	struct feat_keymap fresh;
	struct feat_aggctx fctx;
	size_t cut[14], nr, r, i;

	require(feat_aggop_init(a, &s) == 0);
	require(feat_aggop_init(a, &t) == 0);
	fold(a, &s, d, 0, d->n);
	encode(a, &ctx, &s, &whole);
	decode(a, &strmap, &t, &whole, what);
	result_text(a, &t, &got);
	if (strcmp(got.ptr, want->ptr))
		ck_abort_msg("%s: decoded gives %s, the state %s", what, got.ptr,
			     want->ptr);
	encode(a, &ctx, &t, &b);
	if (b.len != whole.len || memcmp(b.ptr, whole.ptr, b.len))
		ck_abort_msg("%s: decoded and encoded again, %zu bytes differ from %zu",
			     what, b.len, whole.len);
	feat_aggop_release(a, &t);

	/* Another process: its own string ids. */
	feat_keymap_init(&fresh);
	fctx.strings = &fresh;
	require(feat_keymap_intern(&fresh, "another", 7, NULL) == 0);
	require(feat_aggop_init(a, &t) == 0);
	decode(a, &fresh, &t, &whole, what);
	encode(a, &fctx, &t, &b);
	if (b.len != whole.len || memcmp(b.ptr, whole.ptr, b.len))
		ck_abort_msg("%s: decoded with other string ids, encodes differently",
			     what);
	feat_aggop_release(a, &t);
	feat_keymap_release(&fresh);

	/* Runs encoded apart, decoded, merged. */
	nr = 1 + rnd() % 12;
	random_cuts(d->n, nr, cut);
	require(feat_aggop_init(a, &st[nr]) == 0);
	for (r = 0; r < nr; r++) {
		require(feat_aggop_init(a, &st[r]) == 0);
		fold(a, &st[r], d, cut[r], cut[r + 1]);
		encode(a, &ctx, &st[r], &b);
		decode(a, &strmap, &st[r], &b, what);
		require(feat_aggop_merge(a, &ctx, &st[nr], &st[r]) == 0);
	}
	result_text(a, &st[nr], &got);
	if (strcmp(got.ptr, want->ptr))
		ck_abort_msg("%s: %zu runs through the encoding merge to %s, not %s",
			     what, nr, got.ptr, want->ptr);
	encode(a, &ctx, &st[nr], &b);
	if (b.len != whole.len || memcmp(b.ptr, whole.ptr, b.len))
		ck_abort_msg("%s: %zu runs merged encode to other bytes than one state",
			     what, nr);
	for (r = 0; r <= nr; r++)
		feat_aggop_release(a, &st[r]);

	/* Cut short: refused. Flipped: refused or some state. */
	require(feat_aggop_init(a, &t) == 0);
	for (i = 0; i < whole.len; i++) {
		const unsigned char *p = (const unsigned char *)whole.ptr;

		if (feat_aggop_decode(a, &strmap, &t, &p, p + i) >= 0)
			ck_abort_msg("%s: the first %zu of %zu bytes decode", what,
				     i, whole.len);
	}
	for (i = 0; i < 8 && whole.len; i++) {
		const unsigned char *p;
		size_t at = (size_t)(rnd() % whole.len);

		feat_buf_reset(&b);
		require(feat_buf_add(&b, whole.ptr, whole.len) == 0);
		b.ptr[at] ^= (char)(1 + rnd() % 255);
		p = (const unsigned char *)b.ptr;
		if (feat_aggop_decode(a, &strmap, &t, &p, p + b.len) == 0)
			result_text(a, &t, &got);
	}
	feat_aggop_release(a, &t);
	feat_aggop_release(a, &s);
	feat_buf_release(&whole);
	feat_buf_release(&b);
	feat_buf_release(&got);
}

/* ---- every aggregation ------------------------------------------------ */

static const char *const configs[] = {
	/* count, sum, avg */
	"{\"op\": \"count\"}",
	"{\"op\": \"count\", \"of\": \"d\"}",
	"{\"op\": \"count\", \"of\": \"l\"}",
	"{\"op\": \"sum\", \"of\": \"i\"}",
	"{\"op\": \"sum\", \"of\": \"d\"}",
	"{\"op\": \"avg\", \"of\": \"i\"}",
	"{\"op\": \"avg\", \"of\": \"d\"}",
	/* min, max */
	"{\"op\": \"min\", \"of\": \"i\"}",
	"{\"op\": \"min\", \"of\": \"d\"}",
	"{\"op\": \"min\", \"of\": \"s\"}",
	"{\"op\": \"min\", \"of\": \"u\"}",
	"{\"op\": \"max\", \"of\": \"i\"}",
	"{\"op\": \"max\", \"of\": \"d\"}",
	"{\"op\": \"max\", \"of\": \"s\"}",
	"{\"op\": \"max\", \"of\": \"u\"}",
	/* var, stddev */
	"{\"op\": \"var\", \"of\": \"d\"}",
	"{\"op\": \"var\", \"of\": \"i\"}",
	"{\"op\": \"stddev\", \"of\": \"d\"}",
	"{\"op\": \"stddev\", \"of\": \"i\"}",
	/* first, last */
	"{\"op\": \"first\", \"of\": \"i\"}",
	"{\"op\": \"first\", \"of\": \"d\"}",
	"{\"op\": \"first\", \"of\": \"s\"}",
	"{\"op\": \"first\", \"of\": \"b\"}",
	"{\"op\": \"first\", \"of\": \"v\"}",
	"{\"op\": \"first\", \"of\": \"l\"}",
	"{\"op\": \"last\", \"of\": \"i\"}",
	"{\"op\": \"last\", \"of\": \"d\"}",
	"{\"op\": \"last\", \"of\": \"s\"}",
	"{\"op\": \"last\", \"of\": \"b\"}",
	"{\"op\": \"last\", \"of\": \"v\"}",
	"{\"op\": \"last\", \"of\": \"l\"}",
	/* the lists */
	"{\"op\": \"first_k\", \"k\": 3, \"of\": \"d\"}",
	"{\"op\": \"first_k\", \"k\": 1, \"of\": \"s\"}",
	"{\"op\": \"first_k\", \"k\": 2, \"of\": \"v\"}",
	"{\"op\": \"first_k\", \"k\": 3, \"of\": \"l\"}",
	"{\"op\": \"first_k\", \"k\": 50, \"of\": \"b\"}",
	"{\"op\": \"last_k\", \"k\": 3, \"of\": \"d\"}",
	"{\"op\": \"last_k\", \"k\": 1, \"of\": \"s\"}",
	"{\"op\": \"last_k\", \"k\": 2, \"of\": \"v\"}",
	"{\"op\": \"last_k\", \"k\": 3, \"of\": \"l\"}",
	"{\"op\": \"last_k\", \"k\": 50, \"of\": \"u\"}",
	"{\"op\": \"top_k\", \"k\": 3, \"of\": \"d\"}",
	"{\"op\": \"top_k\", \"k\": 1, \"of\": \"i\"}",
	"{\"op\": \"top_k\", \"k\": 50, \"of\": \"s\"}",
	"{\"op\": \"top_k\", \"k\": 5, \"of\": \"u\"}",
	"{\"op\": \"bottom_k\", \"k\": 3, \"of\": \"d\"}",
	"{\"op\": \"bottom_k\", \"k\": 1, \"of\": \"i\"}",
	"{\"op\": \"bottom_k\", \"k\": 50, \"of\": \"s\"}",
	"{\"op\": \"bottom_k\", \"k\": 5, \"of\": \"u\"}",
	/* sets and sketches */
	"{\"op\": \"unique_count\", \"of\": \"d\"}",
	"{\"op\": \"unique_count\", \"of\": \"i\"}",
	"{\"op\": \"unique_count\", \"of\": \"s\"}",
	"{\"op\": \"unique_count\", \"of\": \"b\"}",
	"{\"op\": \"approx_unique_count\", \"of\": \"s\"}",
	"{\"op\": \"approx_unique_count\", \"of\": \"d\", \"precision\": 4}",
	"{\"op\": \"approx_unique_count\", \"of\": \"i\", \"precision\": 14}",
	"{\"op\": \"approx_percentile\", \"of\": \"d\"}",
	"{\"op\": \"approx_percentile\", \"of\": \"i\", \"relative_error\": 0.05, "
		"\"percentiles\": [0, 0.25, 0.5, 0.75, 1]}",
	"{\"op\": \"approx_percentile\", \"of\": \"d\", \"relative_error\": 0.001, "
		"\"percentiles\": [0.001, 0.5, 0.999]}",
	"{\"op\": \"histogram\", \"of\": \"s\"}",
	"{\"op\": \"histogram\", \"of\": \"i\", \"k\": 2}",
	"{\"op\": \"histogram\", \"of\": \"d\"}",
	"{\"op\": \"histogram\", \"of\": \"b\"}",
	"{\"op\": \"histogram\", \"of\": \"d\", \"k\": 3}",
	"{\"op\": \"histogram\", \"of\": \"u\"}",
	/* element-wise over embeddings */
	"{\"op\": \"sum\", \"of\": \"v\"}",
	"{\"op\": \"avg\", \"of\": \"v\"}",
	"{\"op\": \"min\", \"of\": \"v\"}",
	"{\"op\": \"max\", \"of\": \"v\"}",
	/* explode: the state folds each element (test_explode_state); here
	 * the elements themselves */
	"{\"op\": \"sum\", \"of\": \"v\", \"explode\": true}",
	"{\"op\": \"top_k\", \"k\": 3, \"of\": \"v\", \"explode\": true}",
	"{\"op\": \"histogram\", \"of\": \"l\", \"explode\": true}",
	"{\"op\": \"unique_count\", \"of\": \"l\", \"explode\": true}",
	"{\"op\": \"min\", \"of\": \"l\", \"explode\": true}",
	/* bucketed */
	"{\"op\": \"count\", \"by\": \"s\"}",
	"{\"op\": \"count\", \"of\": \"d\", \"by\": \"i\"}",
	"{\"op\": \"sum\", \"of\": \"d\", \"by\": \"s\"}",
	"{\"op\": \"sum\", \"of\": \"i\", \"by\": \"b\"}",
	"{\"op\": \"avg\", \"of\": \"i\", \"by\": \"d\"}",
	"{\"op\": \"min\", \"of\": \"s\", \"by\": \"i\"}",
	"{\"op\": \"max\", \"of\": \"d\", \"by\": \"u\"}",
	"{\"op\": \"first\", \"of\": \"d\", \"by\": \"b\"}",
	"{\"op\": \"last\", \"of\": \"s\", \"by\": \"d\"}",
	"{\"op\": \"var\", \"of\": \"d\", \"by\": \"s\"}",
	"{\"op\": \"stddev\", \"of\": \"i\", \"by\": \"s\"}",
	"{\"op\": \"first_k\", \"k\": 2, \"of\": \"d\", \"by\": \"s\"}",
	"{\"op\": \"last_k\", \"k\": 2, \"of\": \"s\", \"by\": \"d\"}",
	"{\"op\": \"top_k\", \"k\": 2, \"of\": \"d\", \"by\": \"s\"}",
	"{\"op\": \"bottom_k\", \"k\": 2, \"of\": \"i\", \"by\": \"b\"}",
	"{\"op\": \"unique_count\", \"of\": \"d\", \"by\": \"s\"}",
	"{\"op\": \"approx_unique_count\", \"of\": \"s\", \"by\": \"b\"}",
	"{\"op\": \"approx_percentile\", \"of\": \"d\", \"by\": \"s\"}",
	"{\"op\": \"histogram\", \"of\": \"s\", \"by\": \"i\"}",
	"{\"op\": \"histogram\", \"of\": \"i\", \"k\": 1, \"by\": \"s\"}",
	"{\"op\": \"sum\", \"of\": \"v\", \"by\": \"s\"}",
	"{\"op\": \"avg\", \"of\": \"v\", \"by\": \"d\"}",
	"{\"op\": \"max\", \"of\": \"v\", \"by\": \"i\"}",
	"{\"op\": \"first\", \"of\": \"l\", \"by\": \"s\"}",
	"{\"op\": \"last\", \"of\": \"v\", \"by\": \"b\"}",
	"{\"op\": \"sum\", \"of\": \"v\", \"explode\": true, \"by\": \"s\"}",
	"{\"op\": \"count\", \"of\": \"l\", \"explode\": true, \"by\": \"b\"}",
};

#define NCONFIGS ((int)(sizeof(configs) / sizeof(configs[0])))

/*
 * One aggregation on datasets of every kind and size: the value test, the
 * groupings, and reset: one state reused (its memory kept) across all the
 * datasets, and the state just used, reset and refilled.
 */
START_TEST(test_ops)
{
	static const size_t sizes[] = { 0, 1, 2, 3, 7, 40, 150, 600 };
	struct feat_buf want = FEAT_BUF_INIT, got = FEAT_BUF_INIT;
	struct feat_astate reuse;
	struct feat_plan *p;
	const struct feat_agg *a;
	char what[512];
	int j;

	/* Check forks each test: seed by iteration, or all would be alike. */
	rng_state = 0xa66a66a66a660001u + (uint64_t)_i * 0x1000193u;
	ctx_init();
	p = plan_with(configs[_i]);
	a = the_agg(p);
	require(feat_aggop_init(a, &reuse) == 0);
	for (j = 0; j < 30; j++) {
		struct feat_astate s;
		struct data d;
		size_t n = j < 8 ? sizes[j] : sizes[rnd() % 8] + rnd() % 50;

		data_gen(a, &d, n, j % NKINDS);
		snprintf(what, sizeof(what), "%s, dataset %d (kind %d, %zu events, %zu values)",
			 configs[_i], j, d.kind, d.n, d.nv);
		require(feat_aggop_init(a, &s) == 0);
		fold(a, &s, &d, 0, d.n);
		result_text(a, &s, &want);
		require_json(&want, what);
		check_value(a, d.vw, d.vbw, d.nv, d.kind, &want, what);
		check_groupings(a, &d, &want, what);
		check_encoding(a, &d, &want, what);
		feat_aggop_reset(a, &reuse);
		fold(a, &reuse, &d, 0, d.n);
		result_text(a, &reuse, &got);
		if (strcmp(got.ptr, want.ptr))
			ck_abort_msg("%s: a reused state gives %s, a new one %s",
				     what, got.ptr, want.ptr);
		feat_aggop_reset(a, &s);
		fold(a, &s, &d, 0, d.n);
		result_text(a, &s, &got);
		if (strcmp(got.ptr, want.ptr))
			ck_abort_msg("%s: after a reset %s, before %s", what,
				     got.ptr, want.ptr);
		feat_aggop_release(a, &s);
		data_release(&d);
	}
	feat_aggop_release(a, &reuse);
	feat_buf_release(&want);
	feat_buf_release(&got);
	feat_plan_free(p);
	ctx_release();
}
END_TEST


/* ---- explode, through lib/state.c ------------------------------------ */

/*
 * Each is defined three times: unbounded (a running state), over an exact
 * window longer than the data (folded from the window's events at T),
 * and over the same window with a hop (hop buckets merged into an empty
 * state). The last two are whole vectors, element-wise and as values.
 */
static const char *const explode_specs[] = {
	"\"op\": \"count\", \"of\": \"v\", \"explode\": true",
	"\"op\": \"sum\", \"of\": \"v\", \"explode\": true",
	"\"op\": \"avg\", \"of\": \"v\", \"explode\": true",
	"\"op\": \"min\", \"of\": \"v\", \"explode\": true",
	"\"op\": \"max\", \"of\": \"v\", \"explode\": true",
	"\"op\": \"var\", \"of\": \"v\", \"explode\": true",
	"\"op\": \"first\", \"of\": \"v\", \"explode\": true",
	"\"op\": \"last\", \"of\": \"v\", \"explode\": true",
	"\"op\": \"first_k\", \"k\": 3, \"of\": \"v\", \"explode\": true",
	"\"op\": \"last_k\", \"k\": 3, \"of\": \"v\", \"explode\": true",
	"\"op\": \"top_k\", \"k\": 3, \"of\": \"v\", \"explode\": true",
	"\"op\": \"bottom_k\", \"k\": 3, \"of\": \"v\", \"explode\": true",
	"\"op\": \"unique_count\", \"of\": \"v\", \"explode\": true",
	"\"op\": \"approx_unique_count\", \"of\": \"v\", \"explode\": true",
	"\"op\": \"approx_percentile\", \"of\": \"v\", \"explode\": true",
	"\"op\": \"histogram\", \"k\": 3, \"of\": \"v\", \"explode\": true",
	"\"op\": \"sum\", \"of\": \"v\", \"explode\": true, \"by\": \"s\"",
	"\"op\": \"count\", \"of\": \"l\", \"explode\": true",
	"\"op\": \"min\", \"of\": \"l\", \"explode\": true",
	"\"op\": \"max\", \"of\": \"l\", \"explode\": true",
	"\"op\": \"first\", \"of\": \"l\", \"explode\": true",
	"\"op\": \"last\", \"of\": \"l\", \"explode\": true",
	"\"op\": \"first_k\", \"k\": 2, \"of\": \"l\", \"explode\": true",
	"\"op\": \"last_k\", \"k\": 2, \"of\": \"l\", \"explode\": true",
	"\"op\": \"top_k\", \"k\": 2, \"of\": \"l\", \"explode\": true",
	"\"op\": \"unique_count\", \"of\": \"l\", \"explode\": true",
	"\"op\": \"approx_unique_count\", \"of\": \"l\", \"explode\": true",
	"\"op\": \"histogram\", \"of\": \"l\", \"explode\": true",
	"\"op\": \"count\", \"of\": \"l\", \"explode\": true, \"by\": \"b\"",
	"\"op\": \"sum\", \"of\": \"v\"",
	"\"op\": \"last_k\", \"k\": 2, \"of\": \"v\"",
};

#define NEXPLODE (sizeof(explode_specs) / sizeof(explode_specs[0]))

static long col_index(const struct feat_group_by *g, const char *name)
{
	size_t i;

	for (i = 0; i < g->ncols; i++)
		if (!strcmp(g->cols[i].name, name))
			return (long)i;
	ck_abort_msg("no column %s", name);
	return -1;
}

/* An event as the reference keeps it: a word per column (in strmap). */
struct xevent {
	uint64_t w[16];
	unsigned char null[16];
};

/* The values agg a folds from events ev[0..n): each element of a list
 * with "explode"; events whose input or bucket is null skipped. */
static size_t flatten(const struct feat_group_by *g, const struct feat_agg *a,
		      const struct xevent *ev, size_t n, uint64_t *w,
		      uint64_t *bw)
{
	size_t col = g->inputs[a->input], m = 0, i;
	long bycol = a->by >= 0 ? (long)g->inputs[a->by] : -1;

	for (i = 0; i < n; i++) {
		uint64_t b = bycol >= 0 ? ev[i].w[bycol] : 0;
		const unsigned char *p, *end;
		size_t len;

		if (ev[i].null[col] || (bycol >= 0 && ev[i].null[bycol]))
			continue;
		if (!a->explode) {
			w[m] = ev[i].w[col];
			bw[m++] = b;
			continue;
		}
		p = feat_keymap_key(&strmap, ev[i].w[col], &len);
		end = p + len;
		while (p < end) {
			if (g->cols[col].type == FEAT_VECTOR) {
				w[m] = dw(get_le_double(p));
				p += 8;
			} else {
				size_t sl = *p++;

				w[m] = intern(p, sl);
				p += sl;
			}
			bw[m++] = b;
		}
	}
	return m;
}

START_TEST(test_explode_state)
{
	static const int kinds[] = { 0, 2, 3, 4 };
	struct feat_buf aggs = FEAT_BUF_INIT, json = FEAT_BUF_INIT, got = FEAT_BUF_INIT;
	struct feat_value *out;
	struct feat_state st;
	struct feat_error err;
	struct feat_plan *p;
	const struct feat_group_by *g;
	struct xevent *ev;
	uint64_t *w, *bw;
	struct data d;
	size_t i, j, nev = 300, queries = 0;
	long cv, cl, cs, cb;
	int64_t t = INT64_C(1784851200000), T = 0;
	char what[512];

	rng_state = 0xe8b10de000000001u + (uint64_t)_i * 0x1000193u;
	ctx_init();
	for (i = 0; i < NEXPLODE; i++)
		feat_buf_addf(&aggs, "%s{%s, \"name\": \"x%zu_u\"},\n"
			      " {%s, \"windows\": [\"100000d\"], \"name\": \"x%zu_e\"},\n"
			      " {%s, \"windows\": [\"100000d\"], \"hop\": \"5ms\", \"name\": \"x%zu_h\"}",
			      i ? ",\n " : "", explode_specs[i], i, explode_specs[i], i,
			      explode_specs[i], i);
	p = plan_with(aggs.ptr);
	g = &p->group_bys[0];
	require(g->nfeatures == 3 * NEXPLODE && g->ncols <= 16);
	cv = col_index(g, "v");
	cl = col_index(g, "l");
	cs = col_index(g, "s");
	cb = col_index(g, "b");
	feat_error_clear(&err);
	require(feat_state_init(&st, g, &err) == 0);
	/* The three ways a state keeps a feature, as intended. */
	for (i = 0; i < g->nfeatures; i++)
		ck_assert_int_eq(st.fkind[i], i % 3 == 0 ? FEAT_FK_RUN :
				 i % 3 == 1 ? FEAT_FK_FOLD : FEAT_FK_HOP);
	ev = calloc(nev, sizeof(*ev));
	w = calloc(8 * nev + 1, sizeof(*w));
	bw = calloc(8 * nev + 1, sizeof(*bw));
	out = calloc(g->nfeatures, sizeof(*out));
	require(ev && w && bw && out);
	memset(&d, 0, sizeof(d));
	d.kind = kinds[_i % 4];
	d.dim = 1 + (uint32_t)(rnd() % 4);
	d.mixed = 1;		/* lists of every length, and empty ones */
	for (i = 0; i < nev; i++) {
		struct feat_value row[16], in[16];
		size_t n;

		memset(row, 0, sizeof(row));
		for (j = 0; j < g->ncols; j++) {
			ev[i].null[j] = 1;
			row[j].type = FEAT_NULL;
		}
		ev[i].w[cv] = rnd_word(FEAT_VECTOR, &d);
		ev[i].w[cl] = rnd_word(FEAT_STRLIST, &d);
		ev[i].w[cs] = rnd_bucket(FEAT_STRING);
		ev[i].w[cb] = rnd_bucket(FEAT_BOOL);
		ev[i].null[cv] = rnd() % 6 == 0;
		ev[i].null[cl] = rnd() % 6 == 0;
		ev[i].null[cs] = rnd() % 8 == 0;
		ev[i].null[cb] = rnd() % 8 == 0;
		for (j = 0; j < g->ncols; j++) {
			if ((long)j != cv && (long)j != cl && (long)j != cs && (long)j != cb)
				continue;
			if (ev[i].null[j])
				continue;
			row[j].type = g->cols[j].type;
			if (row[j].type == FEAT_BOOL) {
				row[j].u.i = (int64_t)ev[i].w[j];
			} else {
				const unsigned char *bp = feat_keymap_key(&strmap, ev[i].w[j], &n);

				row[j].u.s.ptr = (const char *)bp;
				row[j].u.s.len = n;
			}
		}
		for (j = 0; j < g->ninputs; j++)
			in[j] = row[g->inputs[j]];
		t += rnd() % 3 ? 0 : (int64_t)(rnd() % 4);
		require(feat_state_add(&st, "a", 1, t, in, &err) == 0);
		if (rnd() % 25 && i + 1 < nev)
			continue;
		/* A query after every event so far: each window holds them all. */
		T = t + 1 + (int64_t)(rnd() % 3);
		feat_buf_reset(&json);
		require(feat_state_eval(&st, feat_state_find(&st, "a", 1), T, out,
					&json, &err) == 0);
		for (j = 0; j < g->nfeatures; j++) {
			const struct feat_agg *a = &g->aggs[g->features[j].agg];

			n = flatten(g, a, ev, i + 1, w, bw);
			value_text(&got, &out[j]);
			snprintf(what, sizeof(what), "{%s} as %s, after %zu events (%zu values, kind %d)",
				 explode_specs[j / 3], g->features[j].name, i + 1, n, d.kind);
			require_json(&got, what);
			check_value(a, w, bw, n, d.kind, &got, what);
		}
		queries++;
		t = T;
	}
	ck_assert_uint_ge(queries, 5);
	feat_state_release(&st);
	feat_buf_release(&aggs);
	feat_buf_release(&json);
	feat_buf_release(&got);
	free(ev);
	free(w);
	free(bw);
	free(out);
	feat_plan_free(p);
	ctx_release();
}
END_TEST

/* ---- the edges, one by one ------------------------------------------- */

/* The text of an aggregation over doubles (NaN: a null, not folded). */
static void over_doubles(const char *spec, const double *x, size_t n,
			 struct feat_buf *out)
{
	struct feat_plan *p = plan_with(spec);
	const struct feat_agg *a = the_agg(p);
	uint64_t *w = calloc(n + 1, sizeof(*w));
	size_t i, m = 0;

	require(w != NULL);
	for (i = 0; i < n; i++)
		if (!isnan(x[i]))
			w[m++] = a->in_type == FEAT_DOUBLE ? dw(x[i])
							   : (uint64_t)(int64_t)x[i];
	fold_text(a, w, NULL, m, out);
	free(w);
	feat_plan_free(p);
}

/* The text of an aggregation over strings. */
static void over_strings(const char *spec, const char *const *x, size_t n,
			 struct feat_buf *out)
{
	struct feat_plan *p = plan_with(spec);
	uint64_t w[64];
	size_t i;

	require(n <= 64);
	for (i = 0; i < n; i++)
		w[i] = intern(x[i], strlen(x[i]));
	fold_text(the_agg(p), w, NULL, n, out);
	feat_plan_free(p);
}

#define EXPECT_D(spec, want, ...) do { \
	static const double x_[] = { __VA_ARGS__ }; \
	struct feat_buf b_ = FEAT_BUF_INIT; \
	over_doubles(spec, x_, sizeof(x_) / sizeof(x_[0]), &b_); \
	ck_assert_msg(!strcmp(b_.ptr, want), "%s: got %s, want %s", spec, b_.ptr, want); \
	feat_buf_release(&b_); \
} while (0)

#define EXPECT_S(spec, want, ...) do { \
	static const char *const x_[] = { __VA_ARGS__ }; \
	struct feat_buf b_ = FEAT_BUF_INIT; \
	over_strings(spec, x_, sizeof(x_) / sizeof(x_[0]), &b_); \
	ck_assert_msg(!strcmp(b_.ptr, want), "%s: got %s, want %s", spec, b_.ptr, want); \
	feat_buf_release(&b_); \
} while (0)

/* No input: count, unique_count and approx_unique_count give 0, the
 * others null (DESIGN.md §3, "Empty and null"); two empty states merged
 * stay empty. */
/* The example of feat-format(5), "State records": the states of count,
 * sum of doubles and last of strings over 0.5 "a", then 0.25 "b". */
START_TEST(test_encoding_example)
{
	static const struct {
		const char *agg, *hex;
	} ex[] = {
		{ "{\"op\": \"count\"}", "02" },
		{ "{\"op\": \"sum\", \"of\": \"d\"}", "02 01 21 80 80 0c" },
		{ "{\"op\": \"last\", \"of\": \"s\"}", "02 01 62" },
	};
	struct feat_buf b = FEAT_BUF_INIT, hex = FEAT_BUF_INIT;
	size_t i, j;

	ctx_init();
	for (i = 0; i < sizeof(ex) / sizeof(ex[0]); i++) {
		struct feat_plan *p = plan_with(ex[i].agg);
		const struct feat_agg *a = the_agg(p);
		struct feat_astate s;

		require(feat_aggop_init(a, &s) == 0);
		if (a->in_type == FEAT_DOUBLE) {
			require(feat_aggop_add(a, &ctx, &s, dw(0.5), 0) == 0);
			require(feat_aggop_add(a, &ctx, &s, dw(0.25), 0) == 0);
		} else {
			require(feat_aggop_add(a, &ctx, &s, intern("a", 1), 0) == 0);
			require(feat_aggop_add(a, &ctx, &s, intern("b", 1), 0) == 0);
		}
		encode(a, &ctx, &s, &b);
		feat_buf_reset(&hex);
		for (j = 0; j < b.len; j++)
			feat_buf_addf(&hex, "%s%02x", j ? " " : "",
				      (unsigned char)b.ptr[j]);
		ck_assert_str_eq(hex.ptr, ex[i].hex);
		feat_aggop_release(a, &s);
		feat_plan_free(p);
	}
	feat_buf_release(&b);
	feat_buf_release(&hex);
	ctx_release();
}
END_TEST

START_TEST(test_empty)
{
	struct feat_buf b = FEAT_BUF_INIT;
	int i;

	ctx_init();
	for (i = 0; i < NCONFIGS; i++) {
		struct feat_plan *p = plan_with(configs[i]);
		const struct feat_agg *a = the_agg(p);
		struct feat_astate s, e;
		int zero = !a->inner && (a->op == FEAT_OP_COUNT ||
					 a->op == FEAT_OP_UNIQUE_COUNT ||
					 a->op == FEAT_OP_APPROX_UNIQUE_COUNT);

		require(feat_aggop_init(a, &s) == 0);
		require(feat_aggop_init(a, &e) == 0);
		require(feat_aggop_merge(a, &ctx, &s, &e) == 0);
		result_text(a, &s, &b);
		ck_assert_msg(!strcmp(b.ptr, zero ? "int:0" : "null:null"),
			      "%s over nothing: %s", configs[i], b.ptr);
		feat_aggop_release(a, &s);
		feat_aggop_release(a, &e);
		feat_plan_free(p);
	}
	feat_buf_release(&b);
	ctx_release();
}
END_TEST

/*
 * 0.0 and -0.0 are equal numbers with different bits: min, max and the
 * sorted lists keep the earliest of equal values, sets and histograms and
 * buckets count them as one value, 0.
 */
START_TEST(test_signed_zero)
{
	const double nan = NAN;

	ctx_init();
	EXPECT_D("{\"op\": \"min\", \"of\": \"d\"}", "double:0", 0.0, -0.0);
	EXPECT_D("{\"op\": \"min\", \"of\": \"d\"}", "double:-0", -0.0, nan, 0.0);
	EXPECT_D("{\"op\": \"max\", \"of\": \"d\"}", "double:-0", -0.0, 0.0);
	EXPECT_D("{\"op\": \"top_k\", \"k\": 1, \"of\": \"d\"}", "json:[-0]", -0.0, 0.0);
	EXPECT_D("{\"op\": \"top_k\", \"k\": 3, \"of\": \"d\"}", "json:[1,0,-0]", 0.0, -0.0, 1.0, -1.0);
	EXPECT_D("{\"op\": \"bottom_k\", \"k\": 3, \"of\": \"d\"}", "json:[-1,-0,0]", -0.0, -1.0, 0.0, 1.0);
	EXPECT_D("{\"op\": \"first\", \"of\": \"d\"}", "double:-0", -0.0, 0.0);
	EXPECT_D("{\"op\": \"last\", \"of\": \"d\"}", "double:-0", 0.0, -0.0);
	EXPECT_D("{\"op\": \"unique_count\", \"of\": \"d\"}", "int:2", -0.0, 0.0, 1.0, -0.0);
	EXPECT_D("{\"op\": \"histogram\", \"of\": \"d\"}", "json:{\"-1\":1,\"0\":3}", -0.0, 0.0, -1.0, -0.0);
	/* The exact sum of zeros is 0, whatever their signs. */
	EXPECT_D("{\"op\": \"sum\", \"of\": \"d\"}", "double:0", -0.0, -0.0);
	EXPECT_D("{\"op\": \"var\", \"of\": \"d\"}", "double:0", -0.0, 0.0);
	ctx_release();
}
END_TEST

/* The order of list results: last_k the most recent first; top and
 * bottom by value, equal values in arrival order; the k kept. */
START_TEST(test_list_order)
{
	ctx_init();
	EXPECT_D("{\"op\": \"last_k\", \"k\": 3, \"of\": \"d\"}", "json:[4,3,2]", 1, 2, 3, 4);
	EXPECT_D("{\"op\": \"last_k\", \"k\": 9, \"of\": \"d\"}", "json:[2,1]", 1, 2);
	EXPECT_D("{\"op\": \"first_k\", \"k\": 3, \"of\": \"d\"}", "json:[1,2,3]", 1, 2, 3, 4);
	EXPECT_D("{\"op\": \"top_k\", \"k\": 2, \"of\": \"i\"}", "json:[7,5]", 5, 7, -1, 5);
	EXPECT_D("{\"op\": \"bottom_k\", \"k\": 2, \"of\": \"i\"}", "json:[-4611686018427387904,-1]",
		 5, -0x1p62, -1, 5);
	EXPECT_S("{\"op\": \"top_k\", \"k\": 3, \"of\": \"s\"}", "json:[\"b\",\"ab\",\"a\"]",
		 "a", "", "b", "ab");
	EXPECT_S("{\"op\": \"bottom_k\", \"k\": 3, \"of\": \"s\"}", "json:[\"\",\"B\",\"a\"]",
		 "a", "", "b", "B");
	ctx_release();
}
END_TEST

/* histogram with k keeps the k most frequent, equal counts the smaller
 * values, and prints them in value order. */
START_TEST(test_histogram_k)
{
	ctx_init();
	EXPECT_S("{\"op\": \"histogram\", \"k\": 2, \"of\": \"s\"}", "json:{\"b\":2,\"c\":2}",
		 "d", "c", "b", "c", "b", "a", "d", "e", "e");
	EXPECT_S("{\"op\": \"histogram\", \"k\": 2, \"of\": \"s\"}", "json:{\"b\":2,\"d\":3}",
		 "d", "c", "b", "b", "d", "d", "a", "c");
	EXPECT_S("{\"op\": \"histogram\", \"of\": \"s\"}",
		 "json:{\"\":1,\"\\n\":2,\"\\\"q\\\"\":1}", "\n", "\"q\"", "", "\n");
	EXPECT_D("{\"op\": \"histogram\", \"k\": 1, \"of\": \"i\"}", "json:{\"-3\":2}", 4, -3, 4, -3);
	ctx_release();
}
END_TEST

/* Vectors of another length make the element-wise result null, in a
 * state and through merges; with "by", only that bucket goes. */
START_TEST(test_vector_lengths)
{
	struct feat_plan *p = plan_with("{\"op\": \"sum\", \"of\": \"v\"}");
	struct feat_plan *pb = plan_with("{\"op\": \"sum\", \"of\": \"v\", \"by\": \"s\"}");
	const struct feat_agg *a = the_agg(p), *ab = the_agg(pb);
	struct feat_astate s1, s2, s3;
	struct feat_buf b = FEAT_BUF_INIT;
	unsigned char buf[24];
	uint64_t v2, v3, v0, x, y;

	ctx_init();
	put_le_double(buf, 1.5);
	put_le_double(buf + 8, -2);
	put_le_double(buf + 16, 1e300);
	v2 = intern(buf, 16);
	v3 = intern(buf, 24);
	v0 = intern(buf, 0);
	x = intern("x", 1);
	y = intern("y", 1);
	require(feat_aggop_init(a, &s1) == 0 && feat_aggop_init(a, &s2) == 0 &&
		feat_aggop_init(a, &s3) == 0);
	require(feat_aggop_add(a, &ctx, &s1, v2, 0) == 0);
	require(feat_aggop_add(a, &ctx, &s1, v2, 0) == 0);
	result_text(a, &s1, &b);
	ck_assert_str_eq(b.ptr, "json:[3,-4]");
	require(feat_aggop_add(a, &ctx, &s2, v3, 0) == 0);
	require(feat_aggop_merge(a, &ctx, &s1, &s2) == 0);
	result_text(a, &s1, &b);
	ck_assert_str_eq(b.ptr, "null:null");
	/* Empty vectors sum to the empty vector. */
	require(feat_aggop_add(a, &ctx, &s3, v0, 0) == 0);
	result_text(a, &s3, &b);
	ck_assert_str_eq(b.ptr, "json:[]");
	feat_aggop_release(a, &s1);
	feat_aggop_release(a, &s2);
	feat_aggop_release(a, &s3);
	require(feat_aggop_init(ab, &s1) == 0);
	require(feat_aggop_add(ab, &ctx, &s1, v2, x) == 0);
	require(feat_aggop_add(ab, &ctx, &s1, v3, y) == 0);
	require(feat_aggop_add(ab, &ctx, &s1, v2, y) == 0);
	result_text(ab, &s1, &b);
	ck_assert_str_eq(b.ptr, "json:{\"x\":[1.5,-2]}");
	feat_aggop_release(ab, &s1);
	feat_buf_release(&b);
	feat_plan_free(p);
	feat_plan_free(pb);
	ctx_release();
}
END_TEST

/*
 * The rank convention of approx_percentile: the value at 0-based index
 * floor(q * (n - 1)) of the sorted values ("lower"). Of 1, 10, 100 the
 * 0.75 percentile is about 10 (nearest rank ceil(q * n) would give 100,
 * linear interpolation 55); of 1 and 100 the median is about 1.
 */
START_TEST(test_percentile_rank)
{
	struct feat_buf b = FEAT_BUF_INIT;
	json_error_t je;
	json_t *j;
	static const double want[] = { 1, 1, 10, 10, 10, 10, 100 };
	size_t i;

	ctx_init();
	{
		static const double x[] = { 100, 1, 10 };

		over_doubles("{\"op\": \"approx_percentile\", \"of\": \"d\", "
			     "\"percentiles\": [0, 0.25, 0.5, 0.74, 0.75, 0.99, 1]}", x, 3, &b);
	}
	j = json_loads(strchr(b.ptr, ':') + 1, 0, &je);
	require(j && json_array_size(j) == 7);
	for (i = 0; i < 7; i++) {
		double v = json_number_value(json_array_get(j, i));

		ck_assert_msg(fabs(v - want[i]) <= 0.01 * want[i], "percentile %zu: %g, want %g",
			      i, v, want[i]);
	}
	json_decref(j);
	{
		static const double x[] = { 100, 1 };

		over_doubles("{\"op\": \"approx_percentile\", \"of\": \"d\", "
			     "\"percentiles\": [0.5]}", x, 2, &b);
	}
	j = json_loads(strchr(b.ptr, ':') + 1, 0, &je);
	require(j && json_array_size(j) == 1);
	ck_assert_msg(fabs(json_number_value(json_array_get(j, 0)) - 1) <= 0.01,
		      "median of 1 and 100: %s", b.ptr);
	json_decref(j);
	feat_buf_release(&b);
	ctx_release();
}
END_TEST

/* The variance of equal values is exactly 0, however they round. */
START_TEST(test_var_constant)
{
	ctx_init();
	EXPECT_D("{\"op\": \"var\", \"of\": \"d\"}", "double:0", 0.1, 0.1, 0.1);
	EXPECT_D("{\"op\": \"var\", \"of\": \"d\"}", "double:0", 1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1);
	EXPECT_D("{\"op\": \"stddev\", \"of\": \"d\"}", "double:0", 1e15 + 0.3, 1e15 + 0.3, 1e15 + 0.3);
	EXPECT_D("{\"op\": \"var\", \"of\": \"d\"}", "double:0", 0x1.fffffffffffffp-400, 0x1.fffffffffffffp-400);
	EXPECT_D("{\"op\": \"var\", \"of\": \"i\"}", "double:0", 3, 3, 3);
	/* Small spreads around a large mean keep some digits (but see
	 * test_bug_var_large_mean). */
	EXPECT_D("{\"op\": \"var\", \"of\": \"d\"}", "double:0.25", 1e15 + 1, 1e15 + 2);
	EXPECT_D("{\"op\": \"var\", \"of\": \"i\"}", "double:0.25", 1e14 + 2, 1e14 + 3);
	ctx_release();
}
END_TEST

/* ---- sketch accuracy -------------------------------------------------- */

/*
 * approx_unique_count over n distinct values: the relative error of the
 * estimate. The values are folded once in order, once in random runs
 * merged as a random tree, and once each twice: all three must agree.
 */
static double hll_rel_error(uint32_t precision, size_t n, int as_strings)
{
	struct feat_buf spec = FEAT_BUF_INIT;
	struct feat_astate s, d, st[9];
	struct feat_value v1, v2, v3;
	struct feat_buf json = FEAT_BUF_INIT;
	struct feat_plan *p;
	const struct feat_agg *a;
	uint64_t salt = rnd(), *w = malloc(n * sizeof(*w));
	size_t i, r, cut[10];

	require(w != NULL);
	feat_buf_addf(&spec, "{\"op\": \"approx_unique_count\", \"of\": \"%s\", \"precision\": %u}",
		      as_strings ? "s" : "i", precision);
	p = plan_with(spec.ptr);
	a = the_agg(p);
	for (i = 0; i < n; i++) {
		if (as_strings) {
			char b[40];
			int len = snprintf(b, sizeof(b), "user-%zu-%llx", i,
					   (unsigned long long)salt);

			w[i] = intern(b, (size_t)len);
		} else {
			/* i times an odd number: distinct for distinct i. */
			w[i] = (uint64_t)i * 0x9e3779b97f4a7c15u + salt;
		}
	}
	require(feat_aggop_init(a, &s) == 0 && feat_aggop_init(a, &d) == 0);
	for (i = 0; i < n; i++) {
		require(feat_aggop_add(a, &ctx, &s, w[i], 0) == 0);
		require(feat_aggop_add(a, &ctx, &d, w[i], 0) == 0);
		require(feat_aggop_add(a, &ctx, &d, w[(i * 7) % n], 0) == 0);
	}
	cut[0] = 0;
	cut[9] = n;
	for (r = 1; r < 9; r++)
		cut[r] = cut[r - 1] + (size_t)(rnd() % (n - cut[r - 1] + 1));
	for (r = 0; r < 9; r++) {
		require(feat_aggop_init(a, &st[r]) == 0);
		for (i = cut[r]; i < cut[r + 1]; i++)
			require(feat_aggop_add(a, &ctx, &st[r], w[i], 0) == 0);
	}
	merge_tree(a, st, 0, 9, 2);
	result_value(a, &s, &v1, &json);
	result_value(a, &st[0], &v2, &json);
	result_value(a, &d, &v3, &json);
	require(v1.type == FEAT_INT && v2.type == FEAT_INT && v3.type == FEAT_INT);
	ck_assert_msg(v1.u.i == v2.u.i && v1.u.i == v3.u.i,
		      "approx_unique_count: %lld in order, %lld merged, %lld with repeats",
		      (long long)v1.u.i, (long long)v2.u.i, (long long)v3.u.i);
	for (r = 0; r < 9; r++)
		feat_aggop_release(a, &st[r]);
	feat_aggop_release(a, &s);
	feat_aggop_release(a, &d);
	feat_buf_release(&json);
	feat_buf_release(&spec);
	feat_plan_free(p);
	free(w);
	return ((double)v1.u.i - (double)n) / (double)n;
}

/*
 * Standard error 1.04/sqrt(2^p): at precision 12 (the default) every
 * estimate must be within 3 of them, at 10 and 14 within 4 (the seed is
 * fixed, but a change of hash should not fail one check in a hundred).
 * The default run covers 1e5 values at precisions 10, 12, 14 (integers)
 * and 12 (strings); FEAT_LONG_TESTS=1 adds 1e6 and prints the errors.
 */
static void hll_accuracy(const size_t *sizes, size_t nsizes, int print)
{
	static const uint32_t precisions[] = { 10, 12, 14 };
	size_t i, j;

	ctx_init();
	for (i = 0; i < nsizes; i++)
		for (j = 0; j < 4; j++) {
			uint32_t pr = precisions[j < 3 ? j : 1];
			double sigma = 1.04 / sqrt((double)(1u << pr));
			double e = hll_rel_error(pr, sizes[i], j == 3);

			if (print)
				printf("aggop: approx_unique_count precision %u, %zu distinct %s: "
				       "relative error %+.3f%% (standard error %.3f%%, %.2f of them)\n",
				       pr, sizes[i], j == 3 ? "strings" : "integers",
				       100 * e, 100 * sigma, fabs(e) / sigma);
			ck_assert_msg(fabs(e) <= (pr == 12 ? 3 : 4) * sigma,
				      "approx_unique_count precision %u, %zu distinct: error %g, standard error %g",
				      pr, sizes[i], e, sigma);
		}
	ctx_release();
}

START_TEST(test_hll_accuracy)
{
	static const size_t sizes[] = { 100000 };

	rng_state = 0x411a11a11a110001u;
	hll_accuracy(sizes, 1, 0);
}
END_TEST

/*
 * Below 2.5 * 2^p distinct values approx_unique_count counts empty
 * registers (linear counting), whose standard error is
 * sqrt(m * (e^t - t - 1)) / n for n values in m registers, t = n / m,
 * far below 1.04/sqrt(m) for small n. Over 20 sets each, the mean error
 * must be within 4 standard errors of the mean, and each within 5.
 */
START_TEST(test_hll_small)
{
	static const size_t sizes[] = { 10, 100, 1000, 3000, 8000 };
	size_t i;
	int k;

	rng_state = 0x411a11a11a120001u;
	ctx_init();
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		double m = 4096, n = (double)sizes[i], t = n / m;
		double se = sqrt(m * (exp(t) - t - 1)) / n, mean = 0;

		for (k = 0; k < 20; k++) {
			double e = hll_rel_error(12, sizes[i], 0);

			ck_assert_msg(fabs(e) <= 5 * se + 1 / n,
				      "approx_unique_count of %zu: error %g, standard error %g",
				      sizes[i], e, se);
			mean += e / 20;
		}
		ck_assert_msg(fabs(mean) <= 4 * se / sqrt(20) + 1 / n,
			      "approx_unique_count of %zu: mean error %g over 20 sets, standard error %g",
			      sizes[i], mean, se);
	}
	ctx_release();
}
END_TEST

/*
 * The raw HyperLogLog estimate is biased upwards just above the switch
 * from linear counting (2.5 * 2^p); aggop.c has no bias correction. The
 * long run prints the bias measured there, without a bound.
 */
static void hll_transition(uint32_t precision)
{
	size_t n = (size_t)(2.5 * (double)(1u << precision));
	double sum = 0, sq = 0;
	int k, trials = 200;

	ctx_init();
	for (k = 0; k < trials; k++) {
		double e = hll_rel_error(precision, n, 0);

		sum += e;
		sq += e * e;
	}
	printf("aggop: approx_unique_count precision %u, %zu distinct (2.5 * 2^p), %d sets: "
	       "mean error %+.3f%%, standard deviation %.3f%% (standard error %.3f%%)\n",
	       precision, n, trials, 100 * sum / trials,
	       100 * sqrt(sq / trials - (sum / trials) * (sum / trials)),
	       104 / sqrt((double)(1u << precision)));
	ctx_release();
}

START_TEST(test_hll_accuracy_long)
{
	static const size_t sizes[] = { 100000, 1000000 };

	rng_state = 0x411a11a11a110001u;
	hll_accuracy(sizes, 2, 1);
	hll_transition(10);
	hll_transition(12);
	hll_transition(14);
}
END_TEST

/* A standard normal (Box-Muller). */
static double rnd_normal(void)
{
	return sqrt(-2 * log(rnd_unit())) * cos(6.283185307179586 * rnd_unit());
}

static const char *const dists[] = {
	"lognormal(0, 2)", "Pareto(1, 1.16)", "signed lognormal(3, 1.5), 5% zeros",
	"integers round(lognormal(5, 2))",
};

static double rnd_dist(int dist)
{
	switch (dist) {
	case 0:
		return exp(2 * rnd_normal());
	case 1:
		return pow(rnd_unit(), -1 / 1.16);
	case 2:
		if (rnd() % 20 == 0)
			return rnd() & 1 ? 0.0 : -0.0;
		return (rnd() & 1 ? -1 : 1) * exp(3 + 1.5 * rnd_normal());
	default:
		return round(exp(5 + 2 * rnd_normal()));
	}
}

/*
 * approx_percentile on n skewed values, for three relative errors: every
 * percentile within its bound of the truth by sorting; the values folded
 * in order and in random runs merged as a random tree give the same text.
 */
static void dd_accuracy(size_t n, int print)
{
	static const double alphas[] = { 0.01, 0.05, 0.001 };
	static const char pcts[] = "[0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1]";
	double *x = malloc(n * sizeof(*x)), *sorted = malloc(n * sizeof(*x));
	uint64_t *w = malloc(n * sizeof(*w));
	struct feat_buf spec = FEAT_BUF_INIT, t1 = FEAT_BUF_INIT, t2 = FEAT_BUF_INIT;
	int dist, ai;
	size_t i, r;

	require(x && sorted && w);
	ctx_init();
	for (dist = 0; dist < 4; dist++) {
		for (i = 0; i < n; i++)
			x[i] = rnd_dist(dist);
		memcpy(sorted, x, n * sizeof(*x));
		qsort(sorted, n, sizeof(*x), cmp_double);
		for (ai = 0; ai < 3; ai++) {
			struct feat_astate s, st[8];
			struct feat_plan *p;
			const struct feat_agg *a;
			double errs[16], worst;
			size_t cut[9];
			char what[200];

			feat_buf_reset(&spec);
			feat_buf_addf(&spec, "{\"op\": \"approx_percentile\", \"of\": \"%s\", "
				      "\"relative_error\": %g, \"percentiles\": %s}",
				      dist == 3 ? "i" : "d", alphas[ai], pcts);
			p = plan_with(spec.ptr);
			a = the_agg(p);
			for (i = 0; i < n; i++)
				w[i] = dist == 3 ? (uint64_t)(int64_t)x[i] : dw(x[i]);
			require(feat_aggop_init(a, &s) == 0);
			for (i = 0; i < n; i++)
				require(feat_aggop_add(a, &ctx, &s, w[i], 0) == 0);
			cut[0] = 0;
			cut[8] = n;
			for (r = 1; r < 8; r++)
				cut[r] = cut[r - 1] + (size_t)(rnd() % (n - cut[r - 1] + 1));
			for (r = 0; r < 8; r++) {
				require(feat_aggop_init(a, &st[r]) == 0);
				for (i = cut[r]; i < cut[r + 1]; i++)
					require(feat_aggop_add(a, &ctx, &st[r], w[i], 0) == 0);
			}
			merge_tree(a, st, 0, 8, 3);
			result_text(a, &s, &t1);
			result_text(a, &st[0], &t2);
			ck_assert_msg(!strcmp(t1.ptr, t2.ptr), "%s: in order %s, merged %s",
				      spec.ptr, t1.ptr, t2.ptr);
			snprintf(what, sizeof(what), "%s over %zu values of %s", spec.ptr, n,
				 dists[dist]);
			worst = check_pct(a, sorted, n, &s, what, errs);
			if (print) {
				printf("aggop: approx_percentile relative_error %g, %zu values of %s: "
				       "largest error %.5f (%.2f of the bound); per percentile:",
				       alphas[ai], n, dists[dist], worst, worst / alphas[ai]);
				for (i = 0; i < a->npercentiles; i++)
					printf(" %g:%.5f", a->percentiles[i], errs[i]);
				printf("\n");
			}
			for (r = 0; r < 8; r++)
				feat_aggop_release(a, &st[r]);
			feat_aggop_release(a, &s);
			feat_plan_free(p);
		}
	}
	feat_buf_release(&spec);
	feat_buf_release(&t1);
	feat_buf_release(&t2);
	free(x);
	free(sorted);
	free(w);
	ctx_release();
}

START_TEST(test_dd_accuracy)
{
	rng_state = 0xddddddddddd00001u;
	dd_accuracy(100000, 0);
}
END_TEST

START_TEST(test_dd_accuracy_long)
{
	rng_state = 0xddddddddddd00001u;
	dd_accuracy(1000000, 1);
}
END_TEST

/* ---- extremes, and known limits (FEAT_KNOWN_BUGS=1) ------------------ */

/*
 * var and stddev of values beyond sqrt(DBL_MAX) ~ 1.34e154: the square
 * x*x is inf, which must not reach the exact accumulator (inf and the
 * -inf of its fma remainder would cancel, losing the squares, and the
 * variance would come out 0). Such a state answers null.
 */
START_TEST(test_bug_var_huge)
{
	ctx_init();
	/* A square beyond the doubles makes var and stddev null (as a sum
	 * beyond them makes sum null), never a wrong number. */
	EXPECT_D("{\"op\": \"var\", \"of\": \"d\"}", "null:null", 1e154, 3e154);
	EXPECT_D("{\"op\": \"stddev\", \"of\": \"d\"}", "null:null", 1e154, 3e154);
	EXPECT_D("{\"op\": \"var\", \"of\": \"d\"}", "null:null", 1e200, -1e200);
	ctx_release();
}
END_TEST

/*
 * KNOWN LIMIT (accuracy): var and stddev lose digits when the mean is large
 * against the spread. The sums are exact, but variance() finishes in
 * double-double arithmetic (about 106 bits): S2/n - (S1/n)^2 cancels and
 * the relative error is about 2^-106 * mean^2 / var. var(2^52 + 1,
 * 2^52 + 2) is 0.25; aggop.c gives 0.5. var(1e15 + 1, 1e15 + 2, 1e15 + 4)
 * is 1.5555555555555556; aggop.c gives 1.55712890625. Integer inputs are
 * also converted to double before they are summed (word_num()), so
 * integers beyond 2^53 (timestamps in nanoseconds) are rounded first:
 * var(2^60 + 1, 2^60 + 2) gives 0, and two nanosecond times 1000 apart
 * give 262144 instead of 250000. Exact results are within reach: n * S2 -
 * S1^2 is an exact integer multiple of the accumulators' unit.
 */
START_TEST(test_bug_var_large_mean)
{
	ctx_init();
	EXPECT_D("{\"op\": \"var\", \"of\": \"d\"}", "double:0.25", 0x1p52 + 1, 0x1p52 + 2);
	EXPECT_D("{\"op\": \"var\", \"of\": \"d\"}", "double:1.5555555555555556",
		 1e15 + 1, 1e15 + 2, 1e15 + 4);
	{
		struct feat_plan *p = plan_with("{\"op\": \"var\", \"of\": \"i\"}");
		uint64_t w[2] = { (UINT64_C(1) << 60) + 1, (UINT64_C(1) << 60) + 2 };
		struct feat_buf b = FEAT_BUF_INIT;

		fold_text(the_agg(p), w, NULL, 2, &b);
		ck_assert_str_eq(b.ptr, "double:0.25");
		w[0] = UINT64_C(1784851200000000000);
		w[1] = UINT64_C(1784851200000001000);
		fold_text(the_agg(p), w, NULL, 2, &b);
		ck_assert_str_eq(b.ptr, "double:250000");
		feat_buf_release(&b);
		feat_plan_free(p);
	}
	ctx_release();
}
END_TEST

/*
 * avg of integers whose sum leaves the int64 range: the sum is kept in
 * 128 bits, so the mean is right (a wrapping 64-bit sum would give
 * -1.5372286728091292e+18 for three times 2^62).
 */
START_TEST(test_bug_avg_int_overflow)
{
	ctx_init();
	EXPECT_D("{\"op\": \"avg\", \"of\": \"i\"}", "double:4.611686018427388e+18",
		 0x1p62, 0x1p62, 0x1p62);
	EXPECT_D("{\"op\": \"avg\", \"of\": \"i\"}", "double:-9.223372036854776e+18",
		 -0x1p63, -0x1p63);
	ctx_release();
}
END_TEST

/*
 * KNOWN LIMIT: avg of doubles whose sum exceeds the double range while the
 * mean does not: aggop.c rounds the exact sum first (+inf), then divides, and
 * the result is null; the avg of 1e308 and 1e308 is 1e308. Element-wise
 * avg of vectors has the same bug.
 */
START_TEST(test_bug_avg_double_overflow)
{
	struct feat_plan *p;
	struct feat_buf b = FEAT_BUF_INIT;
	unsigned char buf[8];
	uint64_t w[2];

	ctx_init();
	EXPECT_D("{\"op\": \"avg\", \"of\": \"d\"}", "double:1e+308", 1e308, 1e308);
	p = plan_with("{\"op\": \"avg\", \"of\": \"v\"}");
	put_le_double(buf, 1e308);
	w[0] = w[1] = intern(buf, 8);
	fold_text(the_agg(p), w, NULL, 2, &b);
	ck_assert_str_eq(b.ptr, "json:[1e+308]");
	feat_plan_free(p);
	feat_buf_release(&b);
	ctx_release();
}
END_TEST

/*
 * approx_percentile of values near DBL_MAX: the value of a top bucket,
 * 2 * gamma^key / (gamma + 1), must not be computed as gamma^key first,
 * which overflows to inf once x > DBL_MAX / gamma (about 1.76e308 at the
 * default relative error): the results are finite, JSON numbers.
 */
/*
 * Counts in an encoded state that add up beyond int64 (a bucket of
 * INT64_MAX events and another) are refused, not summed with an
 * overflow: a DDSketch's stores and the buckets of a "by".
 */
static int decode_bytes(const struct feat_agg *a, const struct feat_buf *b)
{
	struct feat_astate s;
	const unsigned char *p = (const unsigned char *)b->ptr;
	int rc;

	require(feat_aggop_init(a, &s) == 0);
	rc = feat_aggop_decode(a, &strmap, &s, &p, p + b->len);
	feat_aggop_release(a, &s);
	return rc;
}

START_TEST(test_decode_count_overflow)
{
	struct feat_buf b = FEAT_BUF_INIT;
	struct feat_plan *p;

	ctx_init();
	p = plan_with("{\"op\": \"approx_percentile\", \"of\": \"d\", "
		      "\"percentiles\": [0.5]}");
	require(feat_buf_add_varint(&b, INT64_MAX) == 0);	/* values */
	require(feat_buf_add_varint(&b, 0) == 0);		/* zeros */
	require(feat_buf_add_varint(&b, 0) == 0);		/* negative store */
	require(feat_buf_add_varint(&b, 2) == 0);		/* positive store */
	require(feat_buf_add_svarint(&b, 1) == 0);
	require(feat_buf_add_varint(&b, INT64_MAX) == 0);
	require(feat_buf_add_svarint(&b, 1) == 0);
	require(feat_buf_add_varint(&b, 64) == 0);
	ck_assert_int_eq(decode_bytes(the_agg(p), &b), -1);
	feat_plan_free(p);

	feat_buf_reset(&b);
	p = plan_with("{\"op\": \"count\", \"by\": \"i\"}");
	require(feat_buf_add_varint(&b, INT64_MAX) == 0);	/* events */
	require(feat_buf_add_varint(&b, 2) == 0);		/* buckets */
	require(feat_buf_add_svarint(&b, 1) == 0);
	require(feat_buf_add_varint(&b, INT64_MAX) == 0);
	require(feat_buf_add_svarint(&b, 2) == 0);
	require(feat_buf_add_varint(&b, 64) == 0);
	ck_assert_int_eq(decode_bytes(the_agg(p), &b), -1);
	feat_plan_free(p);
	feat_buf_release(&b);
	ctx_release();
}
END_TEST

START_TEST(test_bug_percentile_huge)
{
	struct feat_buf b = FEAT_BUF_INIT;
	static const double x[] = { 1.79e308, -1.79e308, DBL_MAX };

	ctx_init();
	over_doubles("{\"op\": \"approx_percentile\", \"of\": \"d\", "
		     "\"percentiles\": [0, 0.5, 1]}", x, 3, &b);
	require_json(&b, "approx_percentile of values near DBL_MAX");
	ctx_release();
	feat_buf_release(&b);
}
END_TEST

/*
 * approx_percentile with a small relative error: feat-compile accepts any
 * relative_error in (0, 0.5), and the bucket key ceil(log(x) / log(gamma))
 * then exceeds 32 bits once |log x| / (2 * relative_error) > 2^31, e.g.
 * x = 1e300 with relative_error 1e-7 (key about 3.45e9). Such keys must be
 * kept whole: no overflow, no write outside the store, the right value.
 */
START_TEST(test_bug_percentile_small_rel_error)
{
	struct feat_buf b = FEAT_BUF_INIT;
	static const double x[] = { 1e300 };

	ctx_init();
	over_doubles("{\"op\": \"approx_percentile\", \"of\": \"d\", "
		     "\"relative_error\": 1e-7, \"percentiles\": [0.5]}", x, 1, &b);
	ck_assert_msg(!strncmp(b.ptr, "json:[1e+300]", 13) || !strncmp(b.ptr, "json:[1.0000000", 15) ||
		      !strncmp(b.ptr, "json:[9.999999", 14),
		      "median of 1e300 with relative_error 1e-7: %s", b.ptr);
	ctx_release();
	feat_buf_release(&b);
}
END_TEST

/* ---- the suite -------------------------------------------------------- */

static int env_on(const char *name)
{
	const char *e = getenv(name);

	return e && *e && strcmp(e, "0") != 0;
}

static Suite *aggop_suite(void)
{
	Suite *s = suite_create("aggop");
	TCase *tc = tcase_create("edges");

	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_encoding_example);
	tcase_add_test(tc, test_signed_zero);
	tcase_add_test(tc, test_list_order);
	tcase_add_test(tc, test_histogram_k);
	tcase_add_test(tc, test_vector_lengths);
	tcase_add_test(tc, test_percentile_rank);
	tcase_add_test(tc, test_var_constant);
	suite_add_tcase(s, tc);

	tc = tcase_create("ops");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_ops, 0, NCONFIGS);
	tcase_add_loop_test(tc, test_explode_state, 0, 4);
	suite_add_tcase(s, tc);

	tc = tcase_create("sketches");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_hll_accuracy);
	tcase_add_test(tc, test_hll_small);
	tcase_add_test(tc, test_dd_accuracy);
	suite_add_tcase(s, tc);

	if (env_on("FEAT_LONG_TESTS")) {
		tc = tcase_create("long");
		tcase_set_timeout(tc, 1200);
		tcase_add_test(tc, test_hll_accuracy_long);
		tcase_add_test(tc, test_dd_accuracy_long);
		suite_add_tcase(s, tc);
	}
	tc = tcase_create("extremes");
	tcase_add_test(tc, test_bug_var_huge);
	tcase_add_test(tc, test_bug_avg_int_overflow);
	tcase_add_test(tc, test_bug_percentile_huge);
	tcase_add_test(tc, test_decode_count_overflow);
	tcase_add_test(tc, test_bug_percentile_small_rel_error);
	suite_add_tcase(s, tc);
	if (env_on("FEAT_KNOWN_BUGS")) {
		tc = tcase_create("known_bugs");
		tcase_add_test(tc, test_bug_var_large_mean);
		tcase_add_test(tc, test_bug_avg_double_overflow);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(aggop_suite());
	int failed;

	if (!env_on("FEAT_KNOWN_BUGS"))
		printf("aggop: 2 tests of known limits not run (FEAT_KNOWN_BUGS=1 runs them)\n");
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
