/*
 * test_accum.c - unit tests of lib/accum.c, the exact accumulator.
 *
 * Three independent references check the rounded sums:
 *   - hand-made cases whose exact sums are known (ties, overflow bounds,
 *     subnormals, cancellation);
 *   - IEEE addition itself: the exact sum of two doubles correctly rounded
 *     is what a + b gives;
 *   - a port of CPython's math.fsum (Shewchuk's grow-expansion with
 *     non-overlapping partials and a final half-even correction), which is
 *     correctly rounded as long as no partial overflows, so it is fed
 *     values below 2^1000.
 * Property tests then fold the same multiset in random orders, splits and
 * merge trees, and require the same bits every time.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accum.h"
#include "buf.h"

/*
 * For loops of many iterations: Check's ck_assert_*() records every passing
 * assertion through a pipe, which costs more than the code under test.
 */
#define require(cond) do { \
	if (!(cond)) \
		ck_abort_msg("%s", #cond); \
} while (0)

static uint64_t rng_state = 0x5eed5eed5eed5eedu;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static uint64_t bits(double d)
{
	uint64_t b;

	memcpy(&b, &d, sizeof(b));
	return b;
}

static double from_bits(uint64_t b)
{
	double d;

	memcpy(&d, &b, sizeof(d));
	return d;
}

/* Same double, where +0 and -0 count as the same (the sum of nothing). */
static int same(double a, double b)
{
	return bits(a) == bits(b) || (a == 0 && b == 0);
}

/* A double with a random significand and a biased exponent in [lo, hi]. */
static double rnd_exp(unsigned lo, unsigned hi)
{
	uint64_t e = lo + rnd() % (hi - lo + 1);

	return from_bits((rnd() & 0x800fffffffffffffu) | e << 52);
}

/* CPython's math.fsum without its special-value handling. */
static double fsum(const double *v, size_t n)
{
	double *p = malloc((n + 1) * sizeof(double));
	size_t np = 0, k, i, j;
	double x, y, t, hi = 0.0, lo = 0.0, yr;

	ck_assert_ptr_nonnull(p);
	for (k = 0; k < n; k++) {
		x = v[k];
		i = 0;
		for (j = 0; j < np; j++) {
			y = p[j];
			if (fabs(x) < fabs(y)) {
				t = x;
				x = y;
				y = t;
			}
			hi = x + y;
			lo = y - (hi - x);
			if (lo != 0.0)
				p[i++] = lo;
			x = hi;
		}
		np = i;
		p[np++] = x;
	}
	hi = 0.0;
	if (np > 0) {
		hi = p[--np];
		while (np > 0) {
			x = hi;
			y = p[--np];
			hi = x + y;
			yr = hi - x;
			lo = y - yr;
			if (lo != 0.0)
				break;
		}
		if (np > 0 && ((lo < 0.0 && p[np - 1] < 0.0) ||
			       (lo > 0.0 && p[np - 1] > 0.0))) {
			y = lo * 2.0;
			x = hi + y;
			yr = x - hi;
			if (y == yr)
				hi = x;
		}
	}
	free(p);
	return hi;
}

static double accum_sum(const double *v, size_t n)
{
	struct feat_accum a;
	size_t i;

	feat_accum_init(&a);
	for (i = 0; i < n; i++)
		feat_accum_add(&a, v[i]);
	return feat_accum_round(&a);
}

/* Kinds of random data, each a known hard case for summation. */
enum dist {
	D_UNIFORM,	/* [-1, 1) */
	D_WIDE,		/* every exponent up to 2^1000, both signs */
	D_TINY,		/* subnormals and the smallest normals */
	D_CANCEL,	/* pairs x, -x around a little noise */
	D_HUGE_TINY,	/* near 2^900 and near 2^-1000 together */
	D_TIES,		/* powers of two that make exact halfway sums */
	D_MIXED,	/* all of the above in one set */
	D_COUNT,
};

static double rnd_value(enum dist dist)
{
	switch (dist) {
	case D_UNIFORM:
		return (double)(int64_t)(rnd() >> 11) / 4503599627370496.0 - 1.0;
	case D_WIDE:
		return rnd_exp(0, 1023 + 1000);
	case D_TINY:
		return rnd_exp(0, 3);
	case D_CANCEL:
		return rnd_exp(900, 1100);
	case D_HUGE_TINY:
		return rnd() & 1 ? rnd_exp(1023 + 890, 1023 + 900) : rnd_exp(20, 30);
	case D_TIES:
		return (rnd() & 1 ? -1.0 : 1.0) * ldexp(1.0, (int)(rnd() % 120) - 60);
	case D_MIXED:
	case D_COUNT:
		break;
	}
	return rnd_value((enum dist)(rnd() % D_MIXED));
}

/* Fills v with n values of the distribution. Returns n. */
static size_t fill(double *v, size_t n, enum dist dist)
{
	size_t i;

	for (i = 0; i < n; i++) {
		v[i] = rnd_value(dist);
		/* Cancellation: every other value undoes an earlier one. */
		if (dist == D_CANCEL && i > 0 && (rnd() & 1))
			v[i] = -v[rnd() % i];
	}
	return n;
}

static void shuffle(double *v, size_t n)
{
	size_t i;

	for (i = n; i > 1; i--) {
		size_t j = rnd() % i;
		double t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

START_TEST(test_zero)
{
	struct feat_accum a;
	double r;

	feat_accum_init(&a);
	ck_assert(feat_accum_is_zero(&a));
	r = feat_accum_round(&a);
	ck_assert(bits(r) == 0);
	feat_accum_add(&a, -0.0);
	feat_accum_add(&a, 0.0);
	feat_accum_sub(&a, 0.0);
	ck_assert(feat_accum_is_zero(&a));
	/* The exact sum is zero: +0, whatever signs the zeros had. */
	ck_assert(bits(feat_accum_round(&a)) == 0);
	feat_accum_add(&a, 5e-324);
	ck_assert(!feat_accum_is_zero(&a));
	feat_accum_sub(&a, 5e-324);
	ck_assert(feat_accum_is_zero(&a));
}
END_TEST

START_TEST(test_single_values)
{
	int i;

	for (i = 0; i < 200000; i++) {
		struct feat_accum a;
		double d;

		do
			d = from_bits(rnd());
		while (!isfinite(d));
		feat_accum_init(&a);
		feat_accum_add(&a, d);
		require(same(feat_accum_round(&a), d));
		feat_accum_init(&a);
		feat_accum_sub(&a, d);
		require(same(feat_accum_round(&a), -d));
	}
}
END_TEST

#define P2(e) ldexp(1.0, (e))
#define END_OF_CASE 1234.5678

/* Each case: the values, END_OF_CASE, then the exact rounded sum. */
START_TEST(test_known_sums)
{
	const double big_odd = DBL_MAX;		/* significand all ones */
	const double max_sub = DBL_MIN - P2(-1074);
	const double cases[] = {
		1e308, 1.0, -1e308, END_OF_CASE, 1.0,
		1e100, 1.0, -1e100, 1e-100, END_OF_CASE, 1.0,
		0.1, 0.2, END_OF_CASE, 0.30000000000000004,
		0.1, 0.2, -0.3, END_OF_CASE, 2.7755575615628914e-17,
		big_odd, big_odd, END_OF_CASE, HUGE_VAL,
		big_odd, big_odd, -big_odd, END_OF_CASE, big_odd,
		big_odd, P2(970), END_OF_CASE, HUGE_VAL,
		big_odd, P2(970), -P2(-1074), END_OF_CASE, big_odd,
		big_odd, P2(969), END_OF_CASE, big_odd,
		big_odd, P2(970), -P2(970), END_OF_CASE, big_odd,
		-big_odd, -P2(970), END_OF_CASE, -HUGE_VAL,
		-big_odd, -P2(970), P2(-1074), END_OF_CASE, -big_odd,
		P2(1023), P2(1023), END_OF_CASE, HUGE_VAL,
		P2(1023), P2(1023), -P2(1023), END_OF_CASE, P2(1023),
		1.0, P2(-53), END_OF_CASE, 1.0,
		1.0, P2(-53), P2(-1074), END_OF_CASE, 1.0 + P2(-52),
		1.0 + P2(-52), P2(-53), END_OF_CASE, 1.0 + P2(-51),
		-1.0, -P2(-53), END_OF_CASE, -1.0,
		-1.0 - P2(-52), -P2(-53), END_OF_CASE, -1.0 - P2(-51),
		1.0, -P2(-54), END_OF_CASE, 1.0,
		1.0, -P2(-54), -P2(-1074), END_OF_CASE, 1.0 - P2(-53),
		P2(53), 1.0, END_OF_CASE, P2(53),
		P2(53), 3.0, END_OF_CASE, P2(53) + 4.0,
		P2(53), 1.0, P2(-1074), END_OF_CASE, P2(53) + 2.0,
		P2(-1074), P2(-1074), P2(-1074), END_OF_CASE, 3 * P2(-1074),
		-P2(-1074), -P2(-1074), END_OF_CASE, -2 * P2(-1074),
		DBL_MIN, -P2(-1074), END_OF_CASE, max_sub,
		max_sub, P2(-1074), END_OF_CASE, DBL_MIN,
		max_sub, max_sub, END_OF_CASE, 2 * max_sub,
		-max_sub, -max_sub, -max_sub, END_OF_CASE, -3 * max_sub,
		P2(-1074), -P2(-1074), END_OF_CASE, 0.0,
		P2(-1022), P2(-1074), P2(-1074), END_OF_CASE, P2(-1022) + P2(-1073),
		P2(1000), P2(-1000), -P2(1000), END_OF_CASE, P2(-1000),
		P2(1023), P2(-1074), -P2(1023), END_OF_CASE, P2(-1074),
		/* Limbs of opposite signs before the carries settle. */
		P2(-1010), -P2(-1074), END_OF_CASE, P2(-1010),
		-P2(-1010), P2(-1074), END_OF_CASE, -P2(-1010),
		P2(-1030), -P2(-1074), END_OF_CASE, P2(-1030) - P2(-1074),
		-P2(-1030), P2(-1074), END_OF_CASE, P2(-1074) - P2(-1030),
		-P2(-1042), P2(-1074), END_OF_CASE, P2(-1074) - P2(-1042),
		P2(-1042), -P2(-1074), END_OF_CASE, P2(-1042) - P2(-1074),
		-P2(64), P2(0), END_OF_CASE, -P2(64),
		-P2(1000), P2(-1000), END_OF_CASE, -P2(1000),
		P2(1023), P2(1022), -P2(1023), -P2(1022), -P2(1), END_OF_CASE, -2.0,
		/* A tie decided by one bit 2100 places below. */
		P2(1000), P2(947), P2(-1074), END_OF_CASE, P2(1000) + P2(948),
		P2(1000), P2(947), -P2(-1074), END_OF_CASE, P2(1000),
		P2(1000), P2(947), END_OF_CASE, P2(1000),
		P2(1000) + P2(948), P2(947), END_OF_CASE, P2(1000) + P2(949),
	};
	size_t i = 0, start = 0, ncase = 0;

	while (i < sizeof(cases) / sizeof(cases[0])) {
		if (cases[i] != END_OF_CASE) {
			i++;
			continue;
		}
		{
			double want = cases[i + 1], got;
			struct feat_accum a;
			size_t j;

			feat_accum_init(&a);
			for (j = start; j < i; j++)
				feat_accum_add(&a, cases[j]);
			got = feat_accum_round(&a);
			ck_assert_msg(same(got, want), "case %zu: got %a, want %a",
				      ncase, got, want);
			/* The negated values give the negated sum. */
			feat_accum_init(&a);
			for (j = start; j < i; j++)
				feat_accum_sub(&a, cases[j]);
			got = feat_accum_round(&a);
			ck_assert_msg(same(got, -want), "case %zu negated: got %a",
				      ncase, got);
			/* And so does every order, here reversed. */
			feat_accum_init(&a);
			for (j = i; j > start; j--)
				feat_accum_add(&a, cases[j - 1]);
			ck_assert(same(feat_accum_round(&a), want));
		}
		ncase++;
		i += 2;
		start = i;
	}
	ck_assert_uint_gt(ncase, 30);
}
END_TEST

/* Two values: the correctly rounded exact sum is IEEE's a + b. */
START_TEST(test_pairs_vs_ieee)
{
	int i;

	for (i = 0; i < 500000; i++) {
		struct feat_accum acc;
		double a, b, s;
		unsigned ea = (unsigned)(rnd() % 2047), eb;

		/* Nearby exponents overlap, which is where rounding happens. */
		eb = rnd() & 1 ? (unsigned)(rnd() % 2047) :
			(unsigned)((ea + rnd() % 120 + 2047 - 60) % 2047);
		a = from_bits((rnd() & 0x800fffffffffffffu) | (uint64_t)ea << 52);
		b = from_bits((rnd() & 0x800fffffffffffffu) | (uint64_t)eb << 52);
		s = a + b;
		feat_accum_init(&acc);
		feat_accum_add(&acc, a);
		feat_accum_add(&acc, b);
		if (!same(feat_accum_round(&acc), s))
			ck_abort_msg("%a + %a: got %a, want %a", a, b,
				     feat_accum_round(&acc), s);
	}
}
END_TEST

START_TEST(test_vs_fsum)
{
	static double v[4000];
	int dist, trial;

	for (dist = 0; dist < D_COUNT; dist++) {
		for (trial = 0; trial < 60; trial++) {
			size_t n = fill(v, 1 + rnd() % 4000, (enum dist)dist);
			double want = fsum(v, n), got = accum_sum(v, n);

			if (!same(got, want))
				ck_abort_msg("dist %d trial %d n %zu: got %a, want %a",
					     dist, trial, n, got, want);
		}
	}
}
END_TEST

/* Integers below 2^40: the exact sum fits an int64, whose conversion rounds. */
START_TEST(test_vs_int64)
{
	static double v[100000];
	int trial;

	for (trial = 0; trial < 20; trial++) {
		size_t n = 1 + rnd() % 100000, i;
		int64_t exact = 0;

		for (i = 0; i < n; i++) {
			int64_t x = (int64_t)(rnd() >> 24) - (INT64_C(1) << 39);

			exact += x;
			v[i] = (double)x;
		}
		/* Scaled by a power of two, still exact; any binade will do. */
		for (i = 0; i < n; i++)
			v[i] = ldexp(v[i], trial * 40 - 600);
		ck_assert(same(accum_sum(v, n), ldexp((double)exact, trial * 40 - 600)));
	}
}
END_TEST

/*
 * The heart of it: the same multiset, folded in a random order into a
 * random number of accumulators (some by subtracting the negated value),
 * rounded midway (which normalises), then merged pairwise in a random order,
 * gives the same bits as one accumulator in input order.
 */
START_TEST(test_order_and_grouping)
{
	static double v[3000];
	struct feat_accum part[16];
	int dist, trial;

	for (dist = 0; dist < D_COUNT; dist++) {
		size_t n = fill(v, 3000, (enum dist)dist);
		double want = accum_sum(v, n);

		for (trial = 0; trial < 25; trial++) {
			size_t k = 1 + rnd() % 16, i, alive;

			shuffle(v, n);
			for (i = 0; i < k; i++)
				feat_accum_init(&part[i]);
			for (i = 0; i < n; i++) {
				struct feat_accum *a = &part[rnd() % k];

				if (rnd() & 1)
					feat_accum_add(a, v[i]);
				else
					feat_accum_sub(a, -v[i]);
				if (rnd() % 500 == 0)
					(void)feat_accum_round(a);
			}
			for (alive = k; alive > 1; alive--) {
				size_t d = rnd() % alive, s = rnd() % (alive - 1);

				if (s >= d)
					s++;
				feat_accum_merge(&part[d], &part[s]);
				part[s] = part[alive - 1];
			}
			if (bits(feat_accum_round(&part[0])) != bits(want))
				ck_abort_msg("dist %d trial %d: got %a, want %a",
					     dist, trial, feat_accum_round(&part[0]), want);
		}
	}
}
END_TEST

/* Adding then subtracting everything, interleaved, returns exactly to 0. */
START_TEST(test_add_sub_zero)
{
	static double v[2000];
	int dist;

	for (dist = 0; dist < D_COUNT; dist++) {
		size_t n = fill(v, 2000, (enum dist)dist), i, j;
		struct feat_accum a, b;

		feat_accum_init(&a);
		for (i = 0; i < n; i++)
			feat_accum_add(&a, v[i]);
		/* A window sliding over the values: add the new, drop the old. */
		feat_accum_init(&b);
		for (i = 0, j = 0; i < n; i++) {
			feat_accum_add(&b, v[i]);
			if (i >= 100)
				feat_accum_sub(&b, v[j++]);
			if (i % 97 == 0) {
				/* b must hold exactly v[j..i]. */
				ck_assert(same(feat_accum_round(&b),
					       accum_sum(v + j, i - j + 1)));
			}
		}
		shuffle(v, n);
		for (i = 0; i < n; i++)
			feat_accum_sub(&a, v[i]);
		ck_assert(feat_accum_is_zero(&a));
		ck_assert(bits(feat_accum_round(&a)) == 0);
	}
}
END_TEST

/*
 * The carry machinery: forcing the pending count to its limit makes add
 * and merge normalise (pending is only a bound, so raising it is safe), and
 * millions of additions of a value that loads its limbs as much as possible
 * must not overflow them.
 */
START_TEST(test_carries)
{
	/* 2^53 - 1 at bit 31 of a limb: the largest limb increments. */
	const double heavy = ldexp(9007199254740991.0, 32 * 10 + 31 - 1074);
	static double v[3000];
	struct feat_accum a, b, c;
	size_t n = fill(v, 3000, D_MIXED), i;
	double want = accum_sum(v, n), x;
	uint32_t limit = UINT32_C(1) << 30;
	long k;

	/* add and sub at the limit. */
	feat_accum_init(&a);
	for (i = 0; i < n; i++) {
		a.pending = limit - (uint32_t)(rnd() % 3);
		if (i & 1)
			feat_accum_add(&a, v[i]);
		else
			feat_accum_sub(&a, -v[i]);
	}
	ck_assert(bits(feat_accum_round(&a)) == bits(want));

	/* merge with either side, or both, at the limit. */
	for (k = 0; k < 4; k++) {
		feat_accum_init(&a);
		feat_accum_init(&b);
		for (i = 0; i < n; i++)
			feat_accum_add(i & 1 ? &a : &b, v[i]);
		if (k & 1)
			a.pending = limit;
		if (k & 2)
			b.pending = limit;
		c = b;
		feat_accum_merge(&a, &b);
		ck_assert(memcmp(&b, &c, sizeof(b)) == 0);	/* src untouched */
		ck_assert(bits(feat_accum_round(&a)) == bits(want));
	}

	/* Three million heavy additions, with a normalisation in the middle. */
	feat_accum_init(&a);
	a.pending = limit - 1500000;
	for (k = 0; k < 3000000; k++)
		feat_accum_add(&a, heavy);
	ck_assert(a.pending < 3000000);
	/* 3e6 * (2^53 - 1) * 2^e, rounded: exact in two pieces. */
	x = ldexp(3000000.0 * 9007199254740992.0 - 3000000.0, 32 * 10 + 31 - 1074);
	ck_assert(same(feat_accum_round(&a), x));

	/* Many merges of merges, each counting toward the bound. */
	feat_accum_init(&a);
	feat_accum_add(&a, heavy);
	for (k = 0; k < 40; k++) {
		b = a;
		feat_accum_merge(&a, &b);
	}
	ck_assert(same(feat_accum_round(&a), ldexp(heavy, 40)));
}
END_TEST

START_TEST(test_round_keeps_value)
{
	static double v[1000];
	struct feat_accum a;
	size_t n = fill(v, 1000, D_MIXED), i;
	double want = accum_sum(v, n);

	feat_accum_init(&a);
	for (i = 0; i < n; i++) {
		feat_accum_add(&a, v[i]);
		if (i % 10 == 0) {
			double r1 = feat_accum_round(&a), r2 = feat_accum_round(&a);

			ck_assert(bits(r1) == bits(r2));
			ck_assert(feat_accum_is_zero(&a) == (r1 == 0));
		}
	}
	ck_assert(bits(feat_accum_round(&a)) == bits(want));
}
END_TEST

/* A random 128-bit integer of at most nbits bits (below 2^127), either
 * sign. */
static feat_i128 rnd_i128(unsigned nbits)
{
	unsigned __int128 u = (unsigned __int128)rnd() << 64 | rnd();

	u >>= 128 - nbits;
	return rnd() & 1 ? -(feat_i128)u : (feat_i128)u;
}

static int same_bytes(const struct feat_accum *a, const struct feat_accum *b)
{
	struct feat_buf x = { 0 }, y = { 0 };
	int r;

	ck_assert(feat_accum_encode(a, &x) == 0 && feat_accum_encode(b, &y) == 0);
	r = x.len == y.len && !memcmp(x.ptr, y.ptr, x.len);
	feat_buf_release(&x);
	feat_buf_release(&y);
	return r;
}

/*
 * The fixed point (2^-64 units in 128 bits) and the accumulator hold the
 * same sums: a fixed-point value moves into an accumulator and back
 * unchanged, both round it to the same double (ties included: low bits
 * that are exactly half of the last place), and a double converts into
 * the fixed point exactly when it is a whole number of units below 2^62.
 */
START_TEST(test_fixed_point)
{
	struct feat_accum a, b;
	feat_i128 x, y;
	double d;
	int i;

	for (i = 0; i < 300000; i++) {
		x = rnd_i128(1 + (unsigned)(rnd() % 127));
		if (i % 3 == 0) {
			/* a tie: 53 bits, then a one and zeros */
			unsigned sh = (unsigned)(rnd() % 70);
			uint64_t m = rnd() >> 11 | UINT64_C(1) << 52;

			x = (feat_i128)((unsigned __int128)(m << 1 | 1) << sh);
			if (rnd() & 1)
				x = -x;
		}
		feat_accum_init(&a);
		feat_accum_add_fix(&a, x);
		require(feat_accum_to_fix(&a, &y) || (x < 0 ? -x : x) >> 62 >> 64);
		if ((x < 0 ? -x : x) >> 62 >> 64 == 0)
			require(y == x);
		require(same(feat_accum_round(&a), feat_fix_round(x)));
	}
	for (i = 0; i < 300000; i++) {
		d = rnd_exp(1023 - 70, 1023 + 64);
		feat_accum_init(&a);
		feat_accum_add(&a, d);
		if (feat_fix_of(d, &x)) {
			require(fabs(d) < 0x1p62 && fmod(d * 0x1p64, 1) == 0);
			feat_accum_init(&b);
			feat_accum_add_fix(&b, x);
			require(same_bytes(&a, &b));
			require(feat_accum_to_fix(&a, &y) && y == x);
		} else {
			require(fabs(d) >= 0x1p62 || fmod(d * 0x1p64, 1) != 0);
			require(!feat_accum_to_fix(&a, &y));
		}
	}
	/* Not fixed-point numbers: below a unit, or a sum that needs more
	 * than 128 bits. */
	feat_accum_init(&a);
	feat_accum_add(&a, 0x1p-65);
	ck_assert(!feat_accum_to_fix(&a, &y));
	feat_accum_add(&a, 1.0);
	ck_assert(!feat_accum_to_fix(&a, &y));
	feat_accum_add(&a, 0x1p-65);
	ck_assert(feat_accum_to_fix(&a, &y) && y == ((feat_i128)1 << 64 | 1));
	feat_accum_init(&a);
	feat_accum_add(&a, 1e300);
	ck_assert(!feat_accum_to_fix(&a, &y));
	feat_accum_init(&a);
	ck_assert(feat_accum_to_fix(&a, &y) && y == 0);
}
END_TEST

static Suite *accum_suite(void)
{
	Suite *s = suite_create("accum");
	TCase *tc = tcase_create("exact");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_zero);
	tcase_add_test(tc, test_single_values);
	tcase_add_test(tc, test_known_sums);
	tcase_add_test(tc, test_pairs_vs_ieee);
	tcase_add_test(tc, test_vs_fsum);
	tcase_add_test(tc, test_vs_int64);
	suite_add_tcase(s, tc);

	tc = tcase_create("properties");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_order_and_grouping);
	tcase_add_test(tc, test_add_sub_zero);
	tcase_add_test(tc, test_carries);
	tcase_add_test(tc, test_round_keeps_value);
	tcase_add_test(tc, test_fixed_point);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(accum_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
