/*
 * test_state.c - unit tests of lib/state.c: per-key window state.
 *
 * The state keeps rings, running sums and monotonic queues so that a query
 * costs O(1); the reference here keeps nothing: for each query it scans
 * every event applied so far and computes each feature from its definition
 * (DESIGN.md §3): the events of the key with time in [T - W, T), nulls
 * skipped; count 0 and everything else null over no input; ties in input
 * order (last is the later, first the earlier, min and max the earliest of
 * equal values). The aggregations covered: count, count(of), sum, avg, min,
 * max, first, last.
 * Double sums are computed with Shewchuk's non-overlapping partials and
 * rounded correctly at the end, a different method from the long
 * accumulator of lib/accum.c; results must match bit for bit.
 *
 * Random group_bys are built as JSON definitions and compiled, so the test
 * also covers how the state reads a plan (inputs, windows shared between
 * aggregations, features in definition order).
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "plan.h"
#include "state.h"

#define require(cond) do { \
	if (!(cond)) \
		ck_abort_msg("%s", #cond); \
} while (0)

static uint64_t rng_state = 0x57a7e57a7e000001u;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* ---- the reference ---------------------------------------------------- */

/*
 * The exact sum of n doubles, correctly rounded (half to even): Shewchuk's
 * grow-expansion keeps the running sum as non-overlapping partials whose
 * sum is exact; the last step is the half-way correction of CPython's
 * math.fsum. Exact as long as no partial overflows (inputs stay < 1e300).
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

START_TEST(test_exact_sum_reference)
{
	/* The reference itself, on sums known exactly. */
	double a[] = { 1e16, 1.0, -1e16 };
	double b[] = { 1.0, 0x1p-53 };			/* a tie: to even, 1 */
	double c[] = { 1.0, 0x1p-53, 0x1p-105 };	/* just above: up */
	double d[] = { 0x1p-1074, 0x1p-1074, -0x1p-1073 };
	double e[] = { 0.1, 0.2, 0.3 };
	double f[] = { -0.0, -0.0 };

	ck_assert(exact_sum(a, 3) == 1.0);
	ck_assert(exact_sum(b, 2) == 1.0);
	ck_assert(exact_sum(c, 3) == 1.0 + 0x1p-52);
	ck_assert(exact_sum(d, 3) == 0.0);
	ck_assert(exact_sum(e, 3) == 0.6);
	ck_assert(!signbit(exact_sum(f, 2)));
}
END_TEST

/* Columns of the source, in the plan's order (a header source: by name). */
static const char columns[] =
	"{\"b\": \"bool\", \"d\": \"double\", \"i\": \"int\", \"k\": \"string\", "
	"\"s\": \"string\", \"t\": \"timestamp_ms\"}";

enum { COL_B, COL_D, COL_I, COL_K, COL_S, COL_T, NCOLS };

struct event {
	int key;		/* index into keys[] */
	int64_t ts;
	struct feat_value row[NCOLS];
};

static const char *const keys[] = { "a", "b", "", "a\0b", "zz-never" };
static const size_t key_lens[] = { 1, 1, 0, 3, 8 };
#define NKEYS_USED 4		/* the last key never gets an event */

static const char *const strings[] = {
	"", "a", "ab", "b", "B", "a\0", "\xff", "ba", "aa",
};
static const size_t string_lens[] = { 0, 1, 2, 1, 1, 2, 1, 2, 2 };

/* -1, 0, 1: the order of the state (doubles as numbers, strings by bytes). */
static int cmp_value(const struct feat_value *a, const struct feat_value *b)
{
	switch (a->type) {
	case FEAT_DOUBLE:
		return a->u.d < b->u.d ? -1 : a->u.d > b->u.d;
	case FEAT_STRING: {
		size_t n = a->u.s.len < b->u.s.len ? a->u.s.len : b->u.s.len;
		int c = n ? memcmp(a->u.s.ptr, b->u.s.ptr, n) : 0;

		if (c)
			return c < 0 ? -1 : 1;
		return a->u.s.len < b->u.s.len ? -1 : a->u.s.len > b->u.s.len;
	}
	default:
		return a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
	}
}

/* Feature f of group_by g for key k at T, from all the events. */
static void reference(const struct feat_group_by *g, size_t f,
		      const struct event *ev, size_t nev, int k, int64_t T,
		      struct feat_value *out)
{
	const struct feat_agg *a = &g->aggs[g->features[f].agg];
	int64_t W = a->windows[g->features[f].window];
	size_t col = a->input < 0 ? 0 : g->inputs[a->input];
	double *ds = malloc((nev + 1) * sizeof(*ds));
	int64_t n = 0, all = 0;
	uint64_t isum = 0;
	const struct feat_value *best = NULL, *last = NULL, *first = NULL;
	size_t i;

	require(ds != NULL);
	for (i = 0; i < nev; i++) {
		const struct feat_value *x;

		if (ev[i].key != k)
			continue;
		require(ev[i].ts < T);
		if (W != FEAT_UNBOUNDED && ev[i].ts < T - W)
			continue;
		all++;
		if (a->input < 0)
			continue;
		x = &ev[i].row[col];
		if (x->type == FEAT_NULL)
			continue;
		if (x->type == FEAT_DOUBLE)
			ds[n] = x->u.d;
		else
			isum += (uint64_t)x->u.i;
		n++;
		last = x;
		if (!first)
			first = x;
		/* Strictly better only: the earliest of equal values stays. */
		if (!best || (a->op == FEAT_OP_MIN && cmp_value(x, best) < 0) ||
		    (a->op == FEAT_OP_MAX && cmp_value(x, best) > 0))
			best = x;
	}
	memset(out, 0, sizeof(*out));
	out->type = FEAT_NULL;
	switch (a->op) {
	case FEAT_OP_COUNT:
		out->type = FEAT_INT;
		out->u.i = a->input < 0 ? all : n;
		break;
	case FEAT_OP_SUM:
	case FEAT_OP_AVG:
		if (!n)
			break;
		if (g->cols[col].type == FEAT_DOUBLE) {
			double s = exact_sum(ds, (size_t)n);

			out->type = FEAT_DOUBLE;
			out->u.d = a->op == FEAT_OP_AVG ? s / (double)n : s;
		} else if (a->op == FEAT_OP_AVG) {
			out->type = FEAT_DOUBLE;
			out->u.d = (double)(int64_t)isum / (double)n;
		} else {
			out->type = FEAT_INT;
			out->u.i = (int64_t)isum;
		}
		break;
	case FEAT_OP_MIN:
	case FEAT_OP_MAX:
		if (best)
			*out = *best;
		break;
	case FEAT_OP_LAST:
		if (last)
			*out = *last;
		break;
	case FEAT_OP_FIRST:
		if (first)
			*out = *first;
		break;
	default:
		ck_abort_msg("the reference has no %s", feat_op_name(a->op));
	}
	free(ds);
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
		       (!a->u.s.len || !memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len));
	default:
		return a->u.i == b->u.i;
	}
}

static void describe(char *buf, size_t n, const struct feat_value *v)
{
	switch (v->type) {
	case FEAT_NULL:
		snprintf(buf, n, "null");
		break;
	case FEAT_DOUBLE:
		snprintf(buf, n, "double %a (%.17g)", v->u.d, v->u.d);
		break;
	case FEAT_STRING:
		snprintf(buf, n, "string '%.*s' (%zu bytes)", (int)v->u.s.len,
			 v->u.s.ptr, v->u.s.len);
		break;
	default:
		snprintf(buf, n, "%s %lld", feat_type_name(v->type), (long long)v->u.i);
		break;
	}
}

/* ---- a run: a group_by, events and queries ---------------------------- */

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

/* A definition of group_by "g" over the source with these aggregations. */
static struct feat_plan *plan_with(const char *aggs)
{
	struct feat_buf b = FEAT_BUF_INIT;
	struct feat_plan *p;

	feat_buf_addf(&b, "{\"sources\": {\"ev\": {\"time\": \"t\", \"columns\": %s}},\n"
		      " \"group_bys\": {\"g\": {\"source\": \"ev\", \"keys\": [\"k\"],\n"
		      "  \"aggregations\": [%s]}}}", columns, aggs);
	p = compile(b.ptr);
	feat_buf_release(&b);
	ck_assert_str_eq(p->group_bys[0].cols[COL_K].name, "k");
	ck_assert_str_eq(p->group_bys[0].cols[COL_T].name, "t");
	return p;
}

struct run {
	struct feat_plan *plan;
	const struct feat_group_by *g;
	struct feat_state st;
	struct event *ev;
	size_t nev, cap;
	int64_t last_ts;	/* of events applied */
	int64_t last_T;		/* of queries */
	size_t queries;
	struct feat_buf json;	/* for results of JSON type (none here) */
};

static void run_init(struct run *r, struct feat_plan *p)
{
	struct feat_error err;

	memset(r, 0, sizeof(*r));
	r->plan = p;
	r->g = &p->group_bys[0];
	feat_error_clear(&err);
	ck_assert_int_eq(feat_state_init(&r->st, r->g, &err), 0);
	r->last_ts = INT64_MIN;
	r->last_T = INT64_MIN;
}

static void run_release(struct run *r)
{
	feat_state_release(&r->st);
	feat_buf_release(&r->json);
	free(r->ev);
	feat_plan_free(r->plan);
}

/* The one call of feat_state_eval(), so that its signature is in one place. */
static void eval(struct run *r, long id, int64_t T, struct feat_value *out)
{
	struct feat_error err;

	feat_error_clear(&err);
	feat_buf_reset(&r->json);
	if (feat_state_eval(&r->st, id, T, out, &r->json, &err) < 0)
		ck_abort_msg("feat_state_eval: %s", err.msg);
}

/* Applies an event (row given by column), keeping a copy for the reference. */
static void apply(struct run *r, int key, int64_t ts, const struct feat_value *row)
{
	struct feat_value in[NCOLS];
	struct feat_error err;
	size_t j;

	require(ts >= r->last_ts && ts >= r->last_T);
	if (r->nev == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 256;
		r->ev = realloc(r->ev, r->cap * sizeof(*r->ev));
		require(r->ev != NULL);
	}
	r->ev[r->nev].key = key;
	r->ev[r->nev].ts = ts;
	memcpy(r->ev[r->nev].row, row, sizeof(r->ev[r->nev].row));
	r->nev++;
	for (j = 0; j < r->g->ninputs; j++)
		in[j] = row[r->g->inputs[j]];
	require(feat_state_add(&r->st, keys[key], key_lens[key], ts, in, &err) == 0);
	r->last_ts = ts;
}

/* Evaluates key at T and compares every feature with the reference. */
static void query(struct run *r, int key, int64_t T)
{
	struct feat_value got[64], want;
	long id = feat_state_find(&r->st, keys[key], key_lens[key]);
	size_t f, i;
	int seen = 0;

	require(T > r->last_ts && T >= r->last_T);
	require(r->g->nfeatures <= 64);
	for (i = 0; i < r->nev; i++)
		seen |= r->ev[i].key == key;
	/* A key without events has no id. */
	require((id >= 0) == seen);
	require(id < (long)feat_state_nkeys(&r->st));
	eval(r, id, T, got);
	for (f = 0; f < r->g->nfeatures; f++) {
		reference(r->g, f, r->ev, r->nev, key, T, &want);
		if (!same_value(&got[f], &want)) {
			char a[128], b[128];

			describe(a, sizeof(a), &got[f]);
			describe(b, sizeof(b), &want);
			ck_abort_msg("feature %s, key %d, T %lld, after %zu events: got %s, want %s",
				     r->g->features[f].name, key, (long long)T, r->nev, a, b);
		}
	}
	r->last_T = T;
	r->queries++;
}

/* ---- random data -------------------------------------------------------- */

static double rnd_double(int kind)
{
	static const double small[] = { 0.0, -0.0, 1.0, -1.0, 0.5, 2.5, 0.1, -0.1, 3.0 };

	switch (kind) {
	case 0:		/* few values: many ties, -0.0 against 0.0 */
		return small[rnd() % 9];
	case 1:		/* ratings */
		return (double)(rnd() % 11) / 2;
	case 2: {	/* wide: every exponent up to 1e300, and subnormals */
		double m = (double)(rnd() >> 11) / 9007199254740992.0;
		int e = (int)(rnd() % 1990) - 1070;

		if (e > 995)
			e = 995;
		return (rnd() & 1 ? -1 : 1) * ldexp(m, e);
	}
	default:	/* cancellation: huge and tiny together */
		return rnd() % 2 ? (rnd() & 1 ? 1e16 : -1e16) : ldexp(1.0, -(int)(rnd() % 60));
	}
}

static void rnd_row(struct feat_value *row, int key, int64_t ts, int dkind)
{
	size_t s;

	memset(row, 0, NCOLS * sizeof(*row));
	row[COL_K].type = FEAT_STRING;
	row[COL_K].u.s.ptr = keys[key];
	row[COL_K].u.s.len = key_lens[key];
	row[COL_T].type = FEAT_TIMESTAMP;
	row[COL_T].u.i = ts;
	row[COL_B].type = FEAT_BOOL;
	row[COL_B].u.i = (int64_t)(rnd() & 1);
	row[COL_D].type = FEAT_DOUBLE;
	row[COL_D].u.d = rnd_double(dkind);
	row[COL_I].type = FEAT_INT;
	row[COL_I].u.i = rnd() % 3 ? (int64_t)(rnd() % 21) - 10
				   : (int64_t)(rnd() >> 24) - ((int64_t)1 << 39);
	s = rnd() % (sizeof(strings) / sizeof(strings[0]));
	row[COL_S].type = FEAT_STRING;
	row[COL_S].u.s.ptr = strings[s];
	row[COL_S].u.s.len = string_lens[s];
	/* Nulls, sometimes in bursts that empty a window of values. */
	for (s = 0; s < NCOLS; s++)
		if (s != COL_K && s != COL_T && rnd() % 6 == 0)
			row[s].type = FEAT_NULL;
}

/* A random set of aggregations: distinct (op, of), random windows. */
static void rnd_aggs(struct feat_buf *b)
{
	static const char *const pairs[][2] = {
		{ "count", NULL }, { "count", "i" }, { "count", "d" }, { "count", "s" },
		{ "count", "b" }, { "sum", "i" }, { "sum", "d" }, { "avg", "i" },
		{ "avg", "d" }, { "min", "i" }, { "min", "d" }, { "min", "s" },
		{ "max", "i" }, { "max", "d" }, { "max", "s" }, { "last", "i" },
		{ "last", "d" }, { "last", "s" }, { "last", "b" }, { "first", "i" },
		{ "first", "d" }, { "first", "s" }, { "first", "b" },
	};
	static const char *const wins[] = { "1ms", "7ms", "100ms", "unbounded" };
	size_t np = sizeof(pairs) / sizeof(pairs[0]);
	int used[32] = { 0 };
	size_t n = 1 + rnd() % 7, i;

	for (i = 0; i < n; i++) {
		size_t k = rnd() % np, w;
		unsigned mask;

		while (used[k])
			k = (k + 1) % np;
		used[k] = 1;
		feat_buf_addf(b, "%s{\"op\": \"%s\"", i ? ", " : "", pairs[k][0]);
		if (pairs[k][1])
			feat_buf_addf(b, ", \"of\": \"%s\"", pairs[k][1]);
		mask = (unsigned)(rnd() % 16);
		if (mask) {
			int first = 1;

			feat_buf_adds(b, ", \"windows\": [");
			for (w = 0; w < 4; w++)
				if (mask >> w & 1) {
					feat_buf_addf(b, "%s\"%s\"", first ? "" : ", ", wins[w]);
					first = 0;
				}
			feat_buf_adds(b, "]");
		}
		feat_buf_adds(b, "}");
	}
}

/*
 * One random run: events with times that mostly tie or step by a few ms
 * (windows of 1 and 7 ms see their edges often), gaps that empty windows,
 * and queries in between at times after every applied event.
 */
static void random_run(int64_t t0, size_t nevents, int dkind)
{
	struct feat_buf aggs = FEAT_BUF_INIT;
	struct run r;
	int64_t t = t0;
	size_t i;

	rnd_aggs(&aggs);
	run_init(&r, plan_with(aggs.ptr));
	feat_buf_release(&aggs);
	for (i = 0; i < nevents; i++) {
		struct feat_value row[NCOLS];
		int key = (int)(rnd() % NKEYS_USED);

		switch (rnd() % 10) {
		case 0:
			t += 1 + (int64_t)(rnd() % 150);
			break;
		case 1: case 2: case 3:
			t += (int64_t)(rnd() % 8);
			break;
		default:
			break;	/* a tie */
		}
		/* Queries between events: T after every event so far, and
		 * events after them at T or later. */
		while (rnd() % 3 == 0) {
			int64_t T = r.last_ts + 1 + (int64_t)(rnd() % 9);

			if (T < r.last_T)
				T = r.last_T;
			if (rnd() % 4 == 0 && r.last_T > r.last_ts)
				T = r.last_T;	/* a tie between queries */
			query(&r, (int)(rnd() % 5), T);
			if (t < T)
				t = T;
		}
		rnd_row(row, key, t, dkind);
		apply(&r, key, t, row);
	}
	/* Every key at the end, then much later (windows empty). */
	t = r.last_ts + 1 > r.last_T ? r.last_ts + 1 : r.last_T;
	for (i = 0; i < 5; i++)
		query(&r, (int)i, t);
	for (i = 0; i < 5; i++)
		query(&r, (int)i, t + 1000);
	ck_assert_uint_gt(r.queries, nevents / 4);
	run_release(&r);
}

START_TEST(test_random)
{
	int i;

	/* Check forks each test: seed by iteration, or all would be alike. */
	rng_state = 0x57a7e57a7e000001u + (uint64_t)_i * 0x1000193u;
	/* The iteration picks the data: small doubles with ties, ratings,
	 * wide doubles, cancellation; times around 0 or in 2026. */
	for (i = 0; i < 12; i++)
		random_run(_i % 2 ? 1784851200000 : -300, 1200, _i % 4);
}
END_TEST

/* ---- the edges, one by one ------------------------------------------- */

static struct feat_value vd(double d)
{
	struct feat_value v;

	memset(&v, 0, sizeof(v));
	v.type = FEAT_DOUBLE;
	v.u.d = d;
	return v;
}

static struct feat_value vs(const char *s)
{
	struct feat_value v;

	memset(&v, 0, sizeof(v));
	v.type = FEAT_STRING;
	v.u.s.ptr = s;
	v.u.s.len = strlen(s);
	return v;
}

static struct feat_value vnull(void)
{
	struct feat_value v;

	memset(&v, 0, sizeof(v));
	v.type = FEAT_NULL;
	return v;
}

/* A row with d and s set and everything else null. */
static void row_ds(struct feat_value *row, int key, int64_t ts,
		   struct feat_value d, struct feat_value s)
{
	size_t i;

	for (i = 0; i < NCOLS; i++)
		row[i] = vnull();
	row[COL_K].type = FEAT_STRING;
	row[COL_K].u.s.ptr = keys[key];
	row[COL_K].u.s.len = key_lens[key];
	row[COL_T].type = FEAT_TIMESTAMP;
	row[COL_T].u.i = ts;
	row[COL_D] = d;
	row[COL_S] = s;
}

/* The features of key at T, by name. */
static struct feat_value feature(struct run *r, int key, int64_t T,
				 const char *name)
{
	static struct feat_value out[64];
	size_t f;

	eval(r, feat_state_find(&r->st, keys[key], key_lens[key]), T, out);
	r->last_T = T;
	for (f = 0; f < r->g->nfeatures; f++)
		if (!strcmp(r->g->features[f].name, name))
			return out[f];
	ck_abort_msg("no feature %s", name);
	return out[0];
}

#define ASSERT_D(v, want) do { \
	struct feat_value v_ = (v); \
	double w_ = (want); \
	ck_assert_int_eq(v_.type, FEAT_DOUBLE); \
	ck_assert_msg(memcmp(&v_.u.d, &w_, 8) == 0, "%a, want %a", v_.u.d, w_); \
} while (0)

#define ASSERT_I(v, want) do { \
	struct feat_value v_ = (v); \
	ck_assert_int_eq(v_.type, FEAT_INT); \
	ck_assert_int_eq(v_.u.i, (want)); \
} while (0)

#define ASSERT_S(v, want) do { \
	struct feat_value v_ = (v); \
	ck_assert_int_eq(v_.type, FEAT_STRING); \
	ck_assert_uint_eq(v_.u.s.len, strlen(want)); \
	ck_assert(memcmp(v_.u.s.ptr, (want), v_.u.s.len) == 0); \
} while (0)

#define ASSERT_NULL(v) ck_assert_int_eq((v).type, FEAT_NULL)

/* [T - W, T): an event at T - W counts, one at T - W - 1 does not. */
START_TEST(test_window_edges)
{
	struct run r;
	struct feat_value row[NCOLS];

	run_init(&r, plan_with("{\"op\": \"count\", \"windows\": [\"7ms\", \"1ms\", \"unbounded\"]},"
			       "{\"op\": \"sum\", \"of\": \"d\", \"windows\": [\"7ms\"]}"));
	row_ds(row, 0, 992, vd(1), vnull());
	apply(&r, 0, 992, row);
	row_ds(row, 0, 993, vd(2), vnull());
	apply(&r, 0, 993, row);
	row_ds(row, 0, 999, vd(4), vnull());
	apply(&r, 0, 999, row);
	/* T = 1000: [993, 1000) for 7ms, [999, 1000) for 1ms. */
	ASSERT_I(feature(&r, 0, 1000, "g_count_7ms"), 2);
	ASSERT_I(feature(&r, 0, 1000, "g_count_1ms"), 1);
	ASSERT_I(feature(&r, 0, 1000, "g_count"), 3);
	ASSERT_D(feature(&r, 0, 1000, "g_d_sum_7ms"), 6);
	/* T = 1001: 993 is out (T - W - 1 = 993 < 994), 999 is out of 1ms. */
	ASSERT_I(feature(&r, 0, 1001, "g_count_7ms"), 1);
	ASSERT_I(feature(&r, 0, 1001, "g_count_1ms"), 0);
	ASSERT_D(feature(&r, 0, 1001, "g_d_sum_7ms"), 4);
	/* T = 1006: 999 = T - 7 still in; T = 1007: out. */
	ASSERT_I(feature(&r, 0, 1006, "g_count_7ms"), 1);
	ASSERT_I(feature(&r, 0, 1007, "g_count_7ms"), 0);
	ASSERT_NULL(feature(&r, 0, 1007, "g_d_sum_7ms"));
	ASSERT_I(feature(&r, 0, 1007, "g_count"), 3);
	run_release(&r);
}
END_TEST

/* Equal times keep input order: last is the later one, first the earlier. */
START_TEST(test_ties_last)
{
	struct run r;
	struct feat_value row[NCOLS];

	run_init(&r, plan_with("{\"op\": \"last\", \"of\": \"s\", \"windows\": [\"1ms\", \"unbounded\"]},"
			       "{\"op\": \"last\", \"of\": \"d\", \"windows\": [\"1ms\"]},"
			       "{\"op\": \"first\", \"of\": \"d\", \"windows\": [\"1ms\", \"unbounded\"]}"));
	row_ds(row, 0, 5, vd(1), vs("x"));
	apply(&r, 0, 5, row);
	row_ds(row, 0, 5, vd(2), vs("y"));
	apply(&r, 0, 5, row);
	/* A null is skipped, not "last". */
	row_ds(row, 0, 5, vnull(), vs("z"));
	apply(&r, 0, 5, row);
	row_ds(row, 0, 5, vd(3), vnull());
	apply(&r, 0, 5, row);
	ASSERT_S(feature(&r, 0, 6, "g_s_last_1ms"), "z");
	ASSERT_S(feature(&r, 0, 6, "g_s_last"), "z");
	ASSERT_D(feature(&r, 0, 6, "g_d_last_1ms"), 3);
	/* And first is the earlier one. */
	ASSERT_D(feature(&r, 0, 6, "g_d_first_1ms"), 1);
	ASSERT_D(feature(&r, 0, 6, "g_d_first"), 1);
	/* Other keys are not mixed in. */
	ASSERT_NULL(feature(&r, 1, 6, "g_s_last"));
	ASSERT_NULL(feature(&r, 0, 7, "g_s_last_1ms"));
	ASSERT_S(feature(&r, 0, 7, "g_s_last"), "z");
	run_release(&r);
}
END_TEST

/*
 * Equal extremes: the earliest wins. 0.0 and -0.0 are equal numbers with
 * different bits, so the choice shows.
 */
START_TEST(test_ties_min_max)
{
	struct run r;
	struct feat_value row[NCOLS];

	run_init(&r, plan_with("{\"op\": \"min\", \"of\": \"d\", \"windows\": [\"7ms\", \"unbounded\"]},"
			       "{\"op\": \"max\", \"of\": \"d\", \"windows\": [\"7ms\", \"unbounded\"]}"));
	row_ds(row, 0, 10, vd(0.0), vnull());
	apply(&r, 0, 10, row);
	row_ds(row, 0, 12, vd(-0.0), vnull());
	apply(&r, 0, 12, row);
	ASSERT_D(feature(&r, 0, 13, "g_d_min_7ms"), 0.0);
	ASSERT_D(feature(&r, 0, 13, "g_d_max_7ms"), 0.0);
	ASSERT_D(feature(&r, 0, 13, "g_d_min"), 0.0);
	ASSERT_D(feature(&r, 0, 13, "g_d_max"), 0.0);
	/* Once the first has left the window, the second is the extreme. */
	ASSERT_D(feature(&r, 0, 18, "g_d_min_7ms"), -0.0);
	ASSERT_D(feature(&r, 0, 18, "g_d_max_7ms"), -0.0);
	ASSERT_D(feature(&r, 0, 18, "g_d_min"), 0.0);
	/* The other way round, for another key. */
	row_ds(row, 1, 20, vd(-0.0), vnull());
	apply(&r, 1, 20, row);
	row_ds(row, 1, 20, vd(0.0), vnull());
	apply(&r, 1, 20, row);
	ASSERT_D(feature(&r, 1, 21, "g_d_min_7ms"), -0.0);
	ASSERT_D(feature(&r, 1, 21, "g_d_max"), -0.0);
	run_release(&r);
}
END_TEST

/* No input in the window: count 0, everything else null; and unseen keys. */
START_TEST(test_empty)
{
	struct run r;
	struct feat_value row[NCOLS], out[16];
	size_t f;

	run_init(&r, plan_with("{\"op\": \"count\", \"windows\": [\"7ms\"]},"
			       "{\"op\": \"count\", \"of\": \"d\", \"windows\": [\"7ms\", \"unbounded\"]},"
			       "{\"op\": \"sum\", \"of\": \"d\", \"windows\": [\"7ms\", \"unbounded\"]},"
			       "{\"op\": \"avg\", \"of\": \"d\", \"windows\": [\"7ms\"]},"
			       "{\"op\": \"min\", \"of\": \"s\", \"windows\": [\"7ms\"]},"
			       "{\"op\": \"max\", \"of\": \"s\", \"windows\": [\"unbounded\"]},"
			       "{\"op\": \"last\", \"of\": \"s\", \"windows\": [\"unbounded\"]}"));
	ck_assert_uint_eq(feat_state_nkeys(&r.st), 0);
	ck_assert_int_eq(feat_state_find(&r.st, "a", 1), -1);
	/* A key without events: id -1. */
	eval(&r, -1, 5, out);
	for (f = 0; f < r.g->nfeatures; f++) {
		if (r.g->aggs[r.g->features[f].agg].op == FEAT_OP_COUNT)
			ASSERT_I(out[f], 0);
		else
			ASSERT_NULL(out[f]);
	}
	/* Events with null inputs only: counted by count(*), not count(d). */
	row_ds(row, 0, 10, vnull(), vnull());
	apply(&r, 0, 10, row);
	ck_assert_uint_eq(feat_state_nkeys(&r.st), 1);
	ck_assert_int_eq(feat_state_find(&r.st, "a", 1), 0);
	ck_assert_int_eq(feat_state_find(&r.st, "b", 1), -1);
	ASSERT_I(feature(&r, 0, 11, "g_count_7ms"), 1);
	ASSERT_I(feature(&r, 0, 11, "g_d_count_7ms"), 0);
	ASSERT_I(feature(&r, 0, 11, "g_d_count"), 0);
	ASSERT_NULL(feature(&r, 0, 11, "g_d_sum_7ms"));
	ASSERT_NULL(feature(&r, 0, 11, "g_d_sum"));
	ASSERT_NULL(feature(&r, 0, 11, "g_d_avg_7ms"));
	ASSERT_NULL(feature(&r, 0, 11, "g_s_min_7ms"));
	ASSERT_NULL(feature(&r, 0, 11, "g_s_max"));
	ASSERT_NULL(feature(&r, 0, 11, "g_s_last"));
	/* Values, then a window that has moved past them. */
	row_ds(row, 0, 20, vd(-1.5), vs("m"));
	apply(&r, 0, 20, row);
	ASSERT_D(feature(&r, 0, 21, "g_d_avg_7ms"), -1.5);
	ASSERT_S(feature(&r, 0, 21, "g_s_min_7ms"), "m");
	ASSERT_I(feature(&r, 0, 100, "g_count_7ms"), 0);
	ASSERT_I(feature(&r, 0, 100, "g_d_count_7ms"), 0);
	ASSERT_NULL(feature(&r, 0, 100, "g_d_sum_7ms"));
	ASSERT_NULL(feature(&r, 0, 100, "g_d_avg_7ms"));
	ASSERT_NULL(feature(&r, 0, 100, "g_s_min_7ms"));
	ASSERT_I(feature(&r, 0, 100, "g_d_count"), 1);
	ASSERT_D(feature(&r, 0, 100, "g_d_sum"), -1.5);
	ASSERT_S(feature(&r, 0, 100, "g_s_max"), "m");
	/* The empty key and keys with zero bytes are keys like others. */
	row_ds(row, 2, 200, vd(1), vnull());
	apply(&r, 2, 200, row);
	row_ds(row, 3, 200, vd(2), vnull());
	apply(&r, 3, 200, row);
	ck_assert_int_eq(feat_state_find(&r.st, "", 0), 1);
	ck_assert_int_eq(feat_state_find(&r.st, "a\0b", 3), 2);
	ck_assert_int_eq(feat_state_find(&r.st, "a\0c", 3), -1);
	ASSERT_D(feature(&r, 3, 201, "g_d_sum"), 2);
	run_release(&r);
}
END_TEST

/* Sums are exact and do not depend on the order of events. */
START_TEST(test_exact_sums)
{
	struct run r;
	struct feat_value row[NCOLS];

	run_init(&r, plan_with("{\"op\": \"sum\", \"of\": \"d\", \"windows\": [\"7ms\", \"unbounded\"]},"
			       "{\"op\": \"avg\", \"of\": \"d\", \"windows\": [\"unbounded\"]}"));
	row_ds(row, 0, 1, vd(1e16), vnull());
	apply(&r, 0, 1, row);
	row_ds(row, 0, 9, vd(1.0), vnull());
	apply(&r, 0, 9, row);
	row_ds(row, 0, 9, vd(-1e16), vnull());
	apply(&r, 0, 9, row);
	/* A double += would give 0 here (and 0.6000000000000001 below). */
	ASSERT_D(feature(&r, 0, 10, "g_d_sum"), 1.0);
	ASSERT_D(feature(&r, 0, 10, "g_d_avg"), 1.0 / 3);
	/* 1e16 has left [3, 10): 1 - 1e16, rounded once. */
	ASSERT_D(feature(&r, 0, 10, "g_d_sum_7ms"), 1.0 - 1e16);
	row_ds(row, 1, 20, vd(0.1), vnull());
	apply(&r, 1, 20, row);
	row_ds(row, 1, 20, vd(0.2), vnull());
	apply(&r, 1, 20, row);
	row_ds(row, 1, 20, vd(0.3), vnull());
	apply(&r, 1, 20, row);
	ASSERT_D(feature(&r, 1, 21, "g_d_sum"), 0.6);
	ASSERT_D(feature(&r, 1, 21, "g_d_avg"), 0.6 / 3);
	run_release(&r);
}
END_TEST

/*
 * Sums of doubles start in a 128-bit fixed point of 2^-64 units and move
 * into the full accumulator when a value is not a whole number of units
 * or a partial sum would overflow (state.c). Each case crosses one of
 * those edges while the window holds events, then lets events leave, and
 * checks every step against the reference.
 */
START_TEST(test_fixed_point_sums)
{
	static const double cases[][6] = {
		/* a value below the fixed point's unit, then it leaves */
		{ 1.5, 0x1p-70, 3.25, 0x1p-64, -0.75, 1e-300 },
		/* partial sums past 2^63 (2^127 units), then back */
		{ 0x1.fffffffffffffp61, 0x1.fffffffffffffp61, 0x1.fffffffffffffp61,
		  -0x1.fffffffffffffp61, 1.0, 0x1p-64 },
		{ -0x1.fffffffffffffp61, -0x1.fffffffffffffp61, -0x1.fffffffffffffp61,
		  -0x1.fffffffffffffp61, 0.5, -0.5 },
		/* beyond the fixed point's range, and a subnormal */
		{ 0x1p62, 1.0, -0x1p62, 0x1p-1074, 0x1p-1074, 2.0 },
		/* ties of the final rounding within the fixed point */
		{ 0x1p53, 1.0, 0x1p-60, 0x1p53, -1.0, 3.0 },
		{ 1.0, 0x1p-53, 0x1p-64, 2.0, 0x1p-52, 0x1p-64 },
		{ 15.33, 4.91, 0.01, 1e3, 1e-3, 123456.789 },
	};
	size_t c;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct run r;
		struct feat_value row[NCOLS];
		size_t i, j;

		run_init(&r, plan_with("{\"op\": \"sum\", \"of\": \"d\", \"windows\": [\"3ms\", \"unbounded\"]},"
				       "{\"op\": \"avg\", \"of\": \"d\", \"windows\": [\"3ms\"]}"));
		for (i = 0; i < 6; i++) {
			size_t lo = i >= 2 ? i - 2 : 0;

			row_ds(row, 0, (int64_t)i, vd(cases[c][i]), vnull());
			apply(&r, 0, (int64_t)i, row);
			/* [i + 1 - 3, i + 1) holds events lo .. i */
			ASSERT_D(feature(&r, 0, (int64_t)i + 1, "g_d_sum_3ms"),
				 exact_sum(cases[c] + lo, i - lo + 1));
			ASSERT_D(feature(&r, 0, (int64_t)i + 1, "g_d_avg_3ms"),
				 exact_sum(cases[c] + lo, i - lo + 1) / (double)(i - lo + 1));
			ASSERT_D(feature(&r, 0, (int64_t)i + 1, "g_d_sum"),
				 exact_sum(cases[c], i + 1));
		}
		/* the events leave one by one */
		for (j = 1; j <= 2; j++)
			ASSERT_D(feature(&r, 0, 6 + (int64_t)j, "g_d_sum_3ms"),
				 exact_sum(cases[c] + 3 + j, 3 - j));
		run_release(&r);
	}
}
END_TEST

static Suite *state_suite(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("edges");

	tcase_add_test(tc, test_exact_sum_reference);
	tcase_add_test(tc, test_window_edges);
	tcase_add_test(tc, test_ties_last);
	tcase_add_test(tc, test_ties_min_max);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_exact_sums);
	tcase_add_test(tc, test_fixed_point_sums);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_random, 0, 8);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(state_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
