/*
 * test_value.c - unit tests of lib/value.c: type names, number parsing and
 * the shortest round-trip printing of doubles.
 *
 * The printing tests compare feat_fmt_double() with a slow reference that
 * tries every precision of %.*g from 1 to 17 and keeps the first whose text
 * strtod reads back as the same double; random doubles come from a seeded
 * generator so that a failure can be replayed.
 */
#include <check.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "value.h"

/*
 * For loops of many iterations: Check's ck_assert_*() records every passing
 * assertion through a pipe, which costs more than the code under test.
 */
#define require(cond) do { \
	if (!(cond)) \
		ck_abort_msg("%s", #cond); \
} while (0)

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

/* splitmix64: small, fast and good enough to pick test inputs. */
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static double bits_to_double(uint64_t b)
{
	double d;

	memcpy(&d, &b, sizeof(d));
	return d;
}

static uint64_t double_to_bits(double d)
{
	uint64_t b;

	memcpy(&b, &d, sizeof(b));
	return b;
}

/* A random finite double: every exponent and sign equally likely. */
static double rnd_finite(void)
{
	double d;

	do
		d = bits_to_double(rnd());
	while (!isfinite(d));
	return d;
}

/* The slow, obviously right shortest text (see the file comment). */
static void ref_fmt(char *buf, size_t n, double d)
{
	int p;

	if (fabs(d) < 9007199254740992.0 && d == floor(d)) {
		snprintf(buf, n, "%.0f", d);
		return;
	}
	for (p = 1; p <= 17; p++) {
		snprintf(buf, n, "%.*g", p, d);
		if (strtod(buf, NULL) == d)
			return;
	}
}

static void check_fmt(double d)
{
	char got[FEAT_NUMBUF + 1], want[64];
	size_t n;

	memset(got, 'X', sizeof(got));
	n = feat_fmt_double(got, d);
	require(n <= FEAT_NUMBUF);
	got[n] = '\0';
	ref_fmt(want, sizeof(want), d);
	if (strcmp(got, want) != 0)
		ck_abort_msg("%.17g (0x%016llx): got '%s', want '%s'", d,
			     (unsigned long long)double_to_bits(d), got, want);
	if (double_to_bits(strtod(got, NULL)) != double_to_bits(d))
		ck_abort_msg("'%s' does not read back as %.17g", got, d);
}

START_TEST(test_type_name)
{
	ck_assert_str_eq(feat_type_name(FEAT_NULL), "null");
	ck_assert_str_eq(feat_type_name(FEAT_BOOL), "bool");
	ck_assert_str_eq(feat_type_name(FEAT_INT), "int");
	ck_assert_str_eq(feat_type_name(FEAT_DOUBLE), "double");
	ck_assert_str_eq(feat_type_name(FEAT_STRING), "string");
	ck_assert_str_eq(feat_type_name(FEAT_TIMESTAMP), "timestamp");
}
END_TEST

static const struct {
	const char *s;
	int ok;
	int64_t v;
} int_cases[] = {
	{ "0", 0, 0 },
	{ "-0", 0, 0 },
	{ "+0", 0, 0 },
	{ "7", 0, 7 },
	{ "+42", 0, 42 },
	{ "-42", 0, -42 },
	{ "007", 0, 7 },
	{ "9223372036854775807", 0, INT64_MAX },
	{ "-9223372036854775808", 0, INT64_MIN },
	{ "9223372036854775808", -1, 0 },
	{ "-9223372036854775809", -1, 0 },
	{ "99999999999999999999", -1, 0 },
	{ "18446744073709551616", -1, 0 },
	{ "", -1, 0 },
	{ "-", -1, 0 },
	{ "+", -1, 0 },
	{ "+-1", -1, 0 },
	{ " 1", -1, 0 },
	{ "1 ", -1, 0 },
	{ "1.0", -1, 0 },
	{ "1e3", -1, 0 },
	{ "0x10", -1, 0 },
	{ "12a", -1, 0 },
};

START_TEST(test_parse_int)
{
	size_t i;

	for (i = 0; i < sizeof(int_cases) / sizeof(int_cases[0]); i++) {
		int64_t v = 12345;
		int r = feat_parse_int(int_cases[i].s, strlen(int_cases[i].s), &v);

		ck_assert_msg(r == int_cases[i].ok, "'%s': got %d", int_cases[i].s, r);
		if (!r)
			ck_assert_int_eq(v, int_cases[i].v);
		else
			ck_assert_int_eq(v, 12345);
	}
}
END_TEST

START_TEST(test_parse_int_not_terminated)
{
	int64_t v;

	/* Only the first n bytes count; the rest of the buffer is ignored. */
	ck_assert_int_eq(feat_parse_int("123,456", 3, &v), 0);
	ck_assert_int_eq(v, 123);
	ck_assert_int_eq(feat_parse_int("12\0" "3", 4, &v), -1);
}
END_TEST

START_TEST(test_parse_int_random)
{
	int i;

	for (i = 0; i < 100000; i++) {
		int64_t x = (int64_t)(rnd() >> (rnd() % 64)) * (rnd() & 1 ? -1 : 1);
		char buf[32];
		int64_t v;
		int n = snprintf(buf, sizeof(buf), "%lld", (long long)x);

		require(feat_parse_int(buf, (size_t)n, &v) == 0);
		require(v == x);
	}
}
END_TEST

/*
 * Random texts over digits, signs and a stray letter, up to 24 bytes (so
 * both the eight-digits-at-a-time path and the checked one), must be
 * accepted exactly when strtoll reads all of them in range, with its value.
 */
START_TEST(test_parse_int_vs_strtoll)
{
	static const char alphabet[] = "0123456789-+x :/\xb9\xf0\x7f";
	int i;

	for (i = 0; i < 300000; i++) {
		char buf[32], *end;
		size_t n = 1 + rnd() % 24, j;
		long long want;
		int64_t got = 0;
		int r, ok;

		for (j = 0; j < n; j++)
			buf[j] = rnd() % 8 ? (char)('0' + rnd() % 10)
					   : alphabet[rnd() % (sizeof(alphabet) - 1)];
		if (rnd() % 4 == 0)
			buf[0] = rnd() & 1 ? '-' : '+';
		buf[n] = '\0';
		errno = 0;
		want = strtoll(buf, &end, 10);
		ok = end == buf + n && errno == 0 && buf[0] != ' ';
		r = feat_parse_int(buf, n, &got);
		if (ok) {
			if (r != 0 || got != want)
				ck_abort_msg("'%s': got %d %lld, want %lld", buf, r,
					     (long long)got, want);
		} else if (r != -1) {
			ck_abort_msg("'%s' accepted", buf);
		}
	}
}
END_TEST

static const struct {
	const char *s;
	int ok;
	double v;
} dbl_cases[] = {
	{ "0", 0, 0.0 },
	{ "1", 0, 1.0 },
	{ "-1.5", 0, -1.5 },
	{ "+2.25", 0, 2.25 },
	{ ".5", 0, 0.5 },
	{ "5.", 0, 5.0 },
	{ "1e3", 0, 1000.0 },
	{ "1E-3", 0, 0.001 },
	{ "2.5e-07", 0, 2.5e-07 },
	{ "1e+21", 0, 1e21 },
	{ "0.1", 0, 0.1 },
	{ "123456789012345678901234567890", 0, 1.2345678901234568e+29 },
	{ "1.7976931348623157e308", 0, DBL_MAX },
	{ "4.9406564584124654e-324", 0, 4.9406564584124654e-324 },
	{ "2.2250738585072011e-308", 0, 2.2250738585072011e-308 },
	{ "9007199254740993", 0, 9007199254740992.0 },
	{ "1e-400", 0, 0.0 },
	{ "", -1, 0 },
	{ ".", -1, 0 },
	{ "-", -1, 0 },
	{ "e5", -1, 0 },
	{ "1e", -1, 0 },
	{ "1e+", -1, 0 },
	{ " 1", -1, 0 },
	{ "\t1", -1, 0 },
	{ "1 ", -1, 0 },
	{ "1,5", -1, 0 },
	{ "0x1p3", -1, 0 },
	{ "0X10", -1, 0 },
	{ "1.5.2", -1, 0 },
	{ "abc", -1, 0 },
	{ "--1", -1, 0 },
	{ "1e5x", -1, 0 },
};

START_TEST(test_parse_double)
{
	size_t i;

	for (i = 0; i < sizeof(dbl_cases) / sizeof(dbl_cases[0]); i++) {
		double v = 42.0;
		int r = feat_parse_double(dbl_cases[i].s, strlen(dbl_cases[i].s), &v);

		ck_assert_msg(r == dbl_cases[i].ok, "'%s': got %d", dbl_cases[i].s, r);
		if (!r)
			ck_assert_msg(double_to_bits(v) == double_to_bits(dbl_cases[i].v),
				      "'%s': got %.17g", dbl_cases[i].s, v);
	}
}
END_TEST

START_TEST(test_parse_double_special)
{
	double v;

	ck_assert_int_eq(feat_parse_double("-0", 2, &v), 0);
	ck_assert(v == 0 && signbit(v));
	ck_assert_int_eq(feat_parse_double("-0.0e5", 6, &v), 0);
	ck_assert(v == 0 && signbit(v));
	ck_assert_int_eq(feat_parse_double("nan", 3, &v), 0);
	ck_assert(isnan(v));
	ck_assert_int_eq(feat_parse_double("NaN", 3, &v), 0);
	ck_assert(isnan(v));
	ck_assert_int_eq(feat_parse_double("inf", 3, &v), 0);
	ck_assert(isinf(v) && v > 0);
	ck_assert_int_eq(feat_parse_double("-Infinity", 9, &v), 0);
	ck_assert(isinf(v) && v < 0);
	ck_assert_int_eq(feat_parse_double("1e999", 5, &v), 0);
	ck_assert(isinf(v));
	/* Only n bytes are read, even when a digit follows. */
	ck_assert_int_eq(feat_parse_double("2.57", 3, &v), 0);
	ck_assert(v == 2.5);
	ck_assert_int_eq(feat_parse_double("1\0" "2", 3, &v), -1);
}
END_TEST

START_TEST(test_parse_double_long)
{
	char buf[600];
	double v;
	int n;

	/* Longer than the stack copy: the heap path. */
	n = snprintf(buf, sizeof(buf), "0.%0200d1", 0);
	ck_assert_int_eq(feat_parse_double(buf, (size_t)n, &v), 0);
	ck_assert(v == 1e-201);
	memset(buf, '9', 400);
	ck_assert_int_eq(feat_parse_double(buf, 400, &v), 0);
	ck_assert(v == strtod("1e400", NULL));
	buf[399] = 'x';
	ck_assert_int_eq(feat_parse_double(buf, 400, &v), -1);
}
END_TEST

/*
 * Random decimal texts, many of them inside Clinger's fast path and many
 * just outside, must give what strtod gives, bit for bit, and be accepted
 * exactly when strtod consumes the whole text.
 */
START_TEST(test_parse_double_vs_strtod)
{
	static const char alphabet[] = "0123456789012345678901234567890123456789.e-+";
	int i;

	for (i = 0; i < 300000; i++) {
		char buf[48], *end;
		size_t n = 0, len = 1 + rnd() % 24, j;
		double want, got = 0;
		int r, shape = (int)(rnd() % 3);

		if (shape == 0) {
			/* Arbitrary strings over the number alphabet. */
			for (j = 0; j < len; j++)
				buf[n++] = alphabet[rnd() % (sizeof(alphabet) - 1)];
		} else {
			/* Well-formed numbers: [-]digits[.digits][e[-]digits]. */
			if (rnd() & 1)
				buf[n++] = '-';
			for (j = 1 + rnd() % 18; j > 0; j--)
				buf[n++] = (char)('0' + rnd() % 10);
			if (rnd() & 1) {
				buf[n++] = '.';
				for (j = rnd() % 18; j > 0; j--)
					buf[n++] = (char)('0' + rnd() % 10);
			}
			if (shape == 2) {
				n += (size_t)sprintf(buf + n, "e%d", (int)(rnd() % 80) - 40);
			}
		}
		buf[n] = '\0';
		want = strtod(buf, &end);
		r = feat_parse_double(buf, n, &got);
		if (end == buf + n && n > 0) {
			if (r != 0)
				ck_abort_msg("'%s' rejected", buf);
			if (double_to_bits(got) != double_to_bits(want))
				ck_abort_msg("'%s': got %.17g, want %.17g", buf,
					     got, want);
		} else if (r != -1) {
			ck_abort_msg("'%s' accepted", buf);
		}
	}
}
END_TEST

START_TEST(test_parse_bool)
{
	static const struct {
		const char *s;
		int ok, v;
	} cases[] = {
		{ "true", 0, 1 }, { "TRUE", 0, 1 }, { "True", 0, 1 },
		{ "false", 0, 0 }, { "FaLsE", 0, 0 }, { "1", 0, 1 },
		{ "0", 0, 0 }, { "", -1, 0 }, { "t", -1, 0 }, { "yes", -1, 0 },
		{ "truex", -1, 0 }, { "tru", -1, 0 }, { "01", -1, 0 },
		{ " true", -1, 0 }, { "2", -1, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int v = 7, r = feat_parse_bool(cases[i].s, strlen(cases[i].s), &v);

		ck_assert_msg(r == cases[i].ok, "'%s': got %d", cases[i].s, r);
		if (!r)
			ck_assert_int_eq(v, cases[i].v);
	}
	/* A prefix of a longer buffer. */
	{
		int v;

		ck_assert_int_eq(feat_parse_bool("truest", 4, &v), 0);
		ck_assert_int_eq(v, 1);
	}
}
END_TEST

START_TEST(test_fmt_int)
{
	static const int64_t cases[] = {
		0, 1, -1, 9, 10, 99, 100, -100, 12345, 1000000007,
		INT64_MAX, INT64_MIN, INT64_MIN + 1,
	};
	char got[FEAT_NUMBUF], want[32];
	size_t i;
	int k;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = feat_fmt_int(got, cases[i]);

		snprintf(want, sizeof(want), "%lld", (long long)cases[i]);
		ck_assert_uint_eq(n, strlen(want));
		ck_assert(memcmp(got, want, n) == 0);
	}
	for (k = 0; k < 100000; k++) {
		int64_t v = (int64_t)(rnd() >> (rnd() % 64));
		size_t n;

		if (rnd() & 1)
			v = -v;
		n = feat_fmt_int(got, v);
		snprintf(want, sizeof(want), "%lld", (long long)v);
		require(n == strlen(want) && memcmp(got, want, n) == 0);
	}
}
END_TEST

static const struct {
	double d;
	const char *s;
} fmt_cases[] = {
	{ 0.0, "0" },
	{ -0.0, "-0" },
	{ 3.0, "3" },
	{ -42.0, "-42" },
	{ 0.1, "0.1" },
	{ 0.3, "0.3" },
	{ 0.1 + 0.2, "0.30000000000000004" },
	{ 2.5, "2.5" },
	{ -1.5, "-1.5" },
	{ 100.25, "100.25" },
	{ 123.456, "123.456" },
	{ 0.001, "0.001" },
	{ 0.0001, "0.0001" },
	{ 1e-5, "1e-05" },
	{ 2.5e-07, "2.5e-07" },
	{ 1.0 / 3.0, "0.3333333333333333" },
	{ 2.0 / 3.0, "0.6666666666666666" },
	{ 1e15, "1000000000000000" },
	{ 1e15 + 0.5, "1000000000000000.5" },
	{ 4503599627370495.5, "4503599627370495.5" },
	{ 9007199254740991.0, "9007199254740991" },
	{ -9007199254740991.0, "-9007199254740991" },
	{ 9007199254740992.0, "9007199254740992" },
	{ 1e16, "1e+16" },
	{ 1e21, "1e+21" },
	{ 1.5e300, "1.5e+300" },
	{ DBL_MAX, "1.7976931348623157e+308" },
	{ -DBL_MAX, "-1.7976931348623157e+308" },
	{ DBL_MIN, "2.2250738585072014e-308" },
	{ 4.9406564584124654e-324, "5e-324" },
	{ 1e-320, "1e-320" },
	{ 281474976710655.5, "281474976710655.5" },
	{ 0.07, "0.07" },
	{ -0.07, "-0.07" },
	{ 5e-324 * 3, "1.5e-323" },
};

START_TEST(test_fmt_double_table)
{
	size_t i;

	for (i = 0; i < sizeof(fmt_cases) / sizeof(fmt_cases[0]); i++) {
		char got[FEAT_NUMBUF];
		size_t n = feat_fmt_double(got, fmt_cases[i].d);

		ck_assert_msg(n == strlen(fmt_cases[i].s) &&
			      memcmp(got, fmt_cases[i].s, n) == 0,
			      "%.17g: got '%.*s', want '%s'", fmt_cases[i].d,
			      (int)n, got, fmt_cases[i].s);
		check_fmt(fmt_cases[i].d);
	}
}
END_TEST

START_TEST(test_fmt_double_random_bits)
{
	int i;

	for (i = 0; i < 100000; i++)
		check_fmt(rnd_finite());
}
END_TEST

/* Short decimals: the shapes real data has (prices, ratings, averages). */
START_TEST(test_fmt_double_random_decimals)
{
	int i;

	for (i = 0; i < 50000; i++) {
		char buf[64];
		int digits = 1 + (int)(rnd() % 17), scale = (int)(rnd() % 20) - 4;
		uint64_t p10 = 1, m;
		double d;

		while (digits-- > 0)
			p10 *= 10;
		m = rnd() % p10;
		snprintf(buf, sizeof(buf), "%s%llue%d", rnd() & 1 ? "-" : "",
			 (unsigned long long)m, -scale);
		d = strtod(buf, NULL);
		check_fmt(d);
		/* And its neighbours, whose texts are long. */
		check_fmt(nextafter(d, HUGE_VAL));
		check_fmt(nextafter(d, -HUGE_VAL));
	}
}
END_TEST

/* Every binade edge, where the spacing of doubles changes. */
START_TEST(test_fmt_double_powers_of_two)
{
	int e;

	for (e = -1074; e <= 1023; e++) {
		double d = ldexp(1.0, e);

		check_fmt(d);
		check_fmt(-d);
		check_fmt(nextafter(d, 0));
		check_fmt(nextafter(d, HUGE_VAL));
	}
}
END_TEST

/*
 * Dyadic rationals n / 2^j have short exact decimal expansions, so rounding
 * them to 15 or 16 digits often lands exactly halfway (ties to even).
 */
START_TEST(test_fmt_double_dyadic)
{
	int i;

	for (i = 0; i < 100000; i++) {
		int j = 1 + (int)(rnd() % 40);
		uint64_t n = rnd() >> (11 + rnd() % 53);

		check_fmt(ldexp((double)n, -j));
		check_fmt(-ldexp((double)(n | 1), -j));
	}
}
END_TEST

/* Ratios of small integers, as averages give. */
START_TEST(test_fmt_double_ratios)
{
	int a, b;

	for (a = -300; a <= 300; a++)
		for (b = 1; b <= 300; b++)
			check_fmt((double)a / b);
}
END_TEST

static Suite *value_suite(void)
{
	Suite *s = suite_create("value");
	TCase *tc = tcase_create("parse");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_type_name);
	tcase_add_test(tc, test_parse_int);
	tcase_add_test(tc, test_parse_int_not_terminated);
	tcase_add_test(tc, test_parse_int_random);
	tcase_add_test(tc, test_parse_int_vs_strtoll);
	tcase_add_test(tc, test_parse_double);
	tcase_add_test(tc, test_parse_double_special);
	tcase_add_test(tc, test_parse_double_long);
	tcase_add_test(tc, test_parse_double_vs_strtod);
	tcase_add_test(tc, test_parse_bool);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_fmt_int);
	tcase_add_test(tc, test_fmt_double_table);
	tcase_add_test(tc, test_fmt_double_random_bits);
	tcase_add_test(tc, test_fmt_double_random_decimals);
	tcase_add_test(tc, test_fmt_double_powers_of_two);
	tcase_add_test(tc, test_fmt_double_dyadic);
	tcase_add_test(tc, test_fmt_double_ratios);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(value_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
