/*
 * test_time.c - unit tests of lib/time.c: durations, timestamps in every
 * unit, ISO-8601, dates and the civil calendar.
 *
 * Expected values in the tables were computed with Python's datetime, an
 * independent implementation of the proleptic Gregorian calendar.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "time.h"

/*
 * For loops of many iterations: Check's ck_assert_*() records every passing
 * assertion through a pipe, which costs more than the code under test.
 */
#define require(cond) do { \
	if (!(cond)) \
		ck_abort_msg("%s", #cond); \
} while (0)

static uint64_t rng_state = 0x0123456789abcdefu;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static const struct {
	int64_t y;
	unsigned m, d;
	int64_t days;
} civil_cases[] = {
	{ 1970, 1, 1, 0 },
	{ 1969, 12, 31, -1 },
	{ 2000, 3, 1, 11017 },
	{ 2000, 2, 29, 11016 },
	{ 1900, 3, 1, -25508 },
	{ 1900, 2, 28, -25509 },
	{ 2024, 2, 29, 19782 },
	{ 2026, 11, 1, 20758 },
	{ 1, 1, 1, -719162 },
	{ 9999, 12, 31, 2932896 },
	{ 1600, 2, 29, -135081 },
	{ 0, 3, 1, -719468 },
};

START_TEST(test_civil_table)
{
	size_t i;

	for (i = 0; i < sizeof(civil_cases) / sizeof(civil_cases[0]); i++) {
		int64_t y;
		unsigned m, d;

		ck_assert_int_eq(feat_days_from_civil(civil_cases[i].y,
						      civil_cases[i].m,
						      civil_cases[i].d),
				 civil_cases[i].days);
		feat_civil_from_days(civil_cases[i].days, &y, &m, &d);
		ck_assert_int_eq(y, civil_cases[i].y);
		ck_assert_uint_eq(m, civil_cases[i].m);
		ck_assert_uint_eq(d, civil_cases[i].d);
	}
}
END_TEST

static int leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/*
 * Walks every day from 2000 BC to AD 3000 with a plain calendar counter:
 * both conversions must agree with it and with each other on every day.
 */
START_TEST(test_civil_walk)
{
	static const unsigned dim[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int64_t y = -2000, days = feat_days_from_civil(-2000, 1, 1);
	unsigned m = 1, d = 1;

	while (y <= 3000) {
		int64_t gy;
		unsigned gm, gd, last;

		require(feat_days_from_civil(y, m, d) == days);
		feat_civil_from_days(days, &gy, &gm, &gd);
		require(gy == y && gm == m && gd == d);
		last = m == 2 && leap(y) ? 29 : dim[m - 1];
		if (++d > last) {
			d = 1;
			if (++m > 12) {
				m = 1;
				y++;
			}
		}
		days++;
	}
}
END_TEST

START_TEST(test_civil_extremes)
{
	int64_t y;
	unsigned m, d;

	/* Must not overflow (UBSan watches) and must give a valid date. */
	feat_civil_from_days(INT64_MAX, &y, &m, &d);
	ck_assert(m >= 1 && m <= 12 && d >= 1 && d <= 31);
	feat_civil_from_days(INT64_MIN, &y, &m, &d);
	ck_assert(m >= 1 && m <= 12 && d >= 1 && d <= 31);
	ck_assert(y < 0);
	/* The range of int64 milliseconds, both ways. */
	feat_civil_from_days(INT64_MAX / 86400000, &y, &m, &d);
	ck_assert_int_eq(feat_days_from_civil(y, m, d), INT64_MAX / 86400000);
	feat_civil_from_days(INT64_MIN / 86400000 - 1, &y, &m, &d);
	ck_assert_int_eq(feat_days_from_civil(y, m, d), INT64_MIN / 86400000 - 1);
}
END_TEST

START_TEST(test_date)
{
	static const struct {
		const char *s;
		int ok;
		int64_t days;
	} cases[] = {
		{ "1970-01-01", 0, 0 },
		{ "1969-12-31", 0, -1 },
		{ "2024-02-29", 0, 19782 },
		{ "2000-02-29", 0, 11016 },
		{ "0001-01-01", 0, -719162 },
		{ "9999-12-31", 0, 2932896 },
		{ "2023-02-29", -1, 0 },
		{ "1900-02-29", -1, 0 },
		{ "2024-04-31", -1, 0 },
		{ "2024-13-01", -1, 0 },
		{ "2024-00-10", -1, 0 },
		{ "2024-01-00", -1, 0 },
		{ "2024-1-01", -1, 0 },
		{ "20240101", -1, 0 },
		{ "2024-01-01x", -1, 0 },
		{ "2024-01-01T00:00Z", -1, 0 },
		{ "2024/01/01", -1, 0 },
		{ "+024-01-01", -1, 0 },
		{ "", -1, 0 },
	};
	size_t i;
	char buf[16];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t days = 77;
		int r = feat_date_parse(cases[i].s, &days);

		ck_assert_msg(r == cases[i].ok, "'%s': got %d", cases[i].s, r);
		if (r)
			continue;
		ck_assert_int_eq(days, cases[i].days);
		feat_date_format(buf, days);
		ck_assert_str_eq(buf, cases[i].s);
	}
	feat_date_format(buf, feat_days_from_civil(-1, 12, 31));
	ck_assert_str_eq(buf, "-0001-12-31");
	feat_date_format(buf, feat_days_from_civil(12345, 6, 7));
	ck_assert_str_eq(buf, "12345-06-07");
	/* Far outside any timestamp: cut to fit, never overflowing. */
	feat_date_format(buf, INT64_MIN);
	ck_assert_uint_le(strlen(buf), 15);
}
END_TEST

static const struct {
	const char *s;
	int ok;
	int64_t ms;
} dur_cases[] = {
	{ "30s", 0, 30000 },
	{ "5m", 0, 300000 },
	{ "5h", 0, 18000000 },
	{ "1h30m", 0, 5400000 },
	{ "7d", 0, 604800000 },
	{ "90d", 0, 7776000000 },
	{ "250ms", 0, 250 },
	{ "1ms", 0, 1 },
	{ "1d2h3m4s5ms", 0, 93784005 },
	{ "2m30s", 0, 150000 },
	{ "1s500ms", 0, 1500 },
	{ "1h0m", 0, 3600000 },
	{ "90m", 0, 5400000 },
	{ "0010s", 0, 10000 },
	{ "106751991167d", 0, 106751991167 * 86400000 },
	{ "", -1, 0 },
	{ "5", -1, 0 },
	{ "5x", -1, 0 },
	{ "s", -1, 0 },
	{ "0s", -1, 0 },
	{ "0h0m", -1, 0 },
	{ "1m1h", -1, 0 },
	{ "1s1m", -1, 0 },
	{ "1ms1s", -1, 0 },
	{ "1h1h", -1, 0 },
	{ "1h 30m", -1, 0 },
	{ " 1h", -1, 0 },
	{ "1h ", -1, 0 },
	{ "-5m", -1, 0 },
	{ "+5m", -1, 0 },
	{ "1.5h", -1, 0 },
	{ "5M", -1, 0 },
	{ "1h30", -1, 0 },
	{ "5mss", -1, 0 },
	{ "1w", -1, 0 },
	{ "106751991168d", -1, 0 },
	{ "9223372036854775807ms", 0, INT64_MAX },
	{ "9223372036854775808ms", -1, 0 },
	{ "99999999999999999999s", -1, 0 },
	{ "106751991167d7h12m55s807ms", 0, INT64_MAX },
	{ "106751991167d7h12m55s808ms", -1, 0 },
};

START_TEST(test_duration_parse)
{
	size_t i;

	for (i = 0; i < sizeof(dur_cases) / sizeof(dur_cases[0]); i++) {
		int64_t ms = -7;
		int r = feat_duration_parse(dur_cases[i].s, &ms);

		ck_assert_msg(r == dur_cases[i].ok, "'%s': got %d", dur_cases[i].s, r);
		if (!r)
			ck_assert_int_eq(ms, dur_cases[i].ms);
		else
			ck_assert_int_eq(ms, -7);
	}
}
END_TEST

START_TEST(test_duration_format)
{
	static const struct {
		int64_t ms;
		const char *s;
	} cases[] = {
		{ 5400000, "1h30m" },
		{ 18000000, "5h" },
		{ 7776000000, "90d" },
		{ 30000, "30s" },
		{ 250, "250ms" },
		{ 1500, "1s500ms" },
		{ 93784005, "1d2h3m4s5ms" },
		{ 86400001, "1d1ms" },
		{ 0, "0s" },
		{ -90000, "-1m30s" },
		{ INT64_MAX, "106751991167d7h12m55s807ms" },
		{ INT64_MIN, "-106751991167d7h12m55s808ms" },
	};
	char buf[40];
	size_t i;
	int k;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = feat_duration_format(buf, cases[i].ms);

		ck_assert_str_eq(buf, cases[i].s);
		ck_assert_uint_eq(n, strlen(cases[i].s));
	}
	/* The canonical text parses back to the same length. */
	for (k = 0; k < 100000; k++) {
		int64_t ms = (int64_t)(rnd() >> (1 + rnd() % 63)), back;

		if (!ms)
			continue;
		feat_duration_format(buf, ms);
		require(feat_duration_parse(buf, &back) == 0);
		require(back == ms);
	}
}
END_TEST

START_TEST(test_ts_units)
{
	static const struct {
		const char *s;
		enum feat_ts_unit unit;
		int ok;
		int64_t ms;
	} cases[] = {
		{ "0", FEAT_TS_S, 0, 0 },
		{ "1", FEAT_TS_S, 0, 1000 },
		{ "-1", FEAT_TS_S, 0, -1000 },
		{ "1793534400", FEAT_TS_S, 0, 1793534400000 },
		{ "9223372036854775", FEAT_TS_S, 0, 9223372036854775000 },
		{ "9223372036854776", FEAT_TS_S, -1, 0 },
		{ "-9223372036854775", FEAT_TS_S, 0, -9223372036854775000 },
		{ "-9223372036854776", FEAT_TS_S, -1, 0 },
		{ "1.5", FEAT_TS_S, -1, 0 },
		{ "1793534400123", FEAT_TS_MS, 0, 1793534400123 },
		{ "-5", FEAT_TS_MS, 0, -5 },
		{ "+5", FEAT_TS_MS, 0, 5 },
		{ "9223372036854775807", FEAT_TS_MS, 0, INT64_MAX },
		{ "9223372036854775808", FEAT_TS_MS, -1, 0 },
		{ "1999", FEAT_TS_US, 0, 1 },
		{ "1000", FEAT_TS_US, 0, 1 },
		{ "999", FEAT_TS_US, 0, 0 },
		{ "-1", FEAT_TS_US, 0, -1 },
		{ "-1000", FEAT_TS_US, 0, -1 },
		{ "-1001", FEAT_TS_US, 0, -2 },
		{ "-9223372036854775808", FEAT_TS_US, 0, -9223372036854776 },
		{ "1999999", FEAT_TS_NS, 0, 1 },
		{ "-1", FEAT_TS_NS, 0, -1 },
		{ "-1000000", FEAT_TS_NS, 0, -1 },
		{ "-1000001", FEAT_TS_NS, 0, -2 },
		{ "1793534400123456789", FEAT_TS_NS, 0, 1793534400123 },
		{ "", FEAT_TS_MS, -1, 0 },
		{ " 1", FEAT_TS_MS, -1, 0 },
		{ "1e3", FEAT_TS_MS, -1, 0 },
		{ "abc", FEAT_TS_NS, -1, 0 },
		{ "2026-11-01", FEAT_TS_MS, -1, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t ms = 99;
		int r = feat_ts_parse(cases[i].s, strlen(cases[i].s), cases[i].unit, &ms);

		ck_assert_msg(r == cases[i].ok, "'%s' unit %d: got %d", cases[i].s,
			      (int)cases[i].unit, r);
		if (!r)
			ck_assert_int_eq(ms, cases[i].ms);
	}
}
END_TEST

static const struct {
	const char *s;
	int ok;
	int64_t ms;
} iso_cases[] = {
	{ "1970-01-01T00:00:00Z", 0, 0 },
	{ "1970-01-01", 0, 0 },
	{ "2026-11-01", 0, 1793491200000 },
	{ "2026-11-01T12:00:00Z", 0, 1793534400000 },
	{ "2026-11-01T12:00:00+00:00", 0, 1793534400000 },
	{ "2026-11-01T12:00:00-00:00", 0, 1793534400000 },
	{ "2026-11-01 12:00:00Z", 0, 1793534400000 },
	{ "2026-11-01t12:00:00z", 0, 1793534400000 },
	{ "2026-11-01T12:00Z", 0, 1793534400000 },
	{ "2026-11-01T12:00:00.123+02:00", 0, 1793527200123 },
	{ "2026-11-01T12:00:00.123+0200", 0, 1793527200123 },
	{ "2026-11-01T12:00:00.123+02", 0, 1793527200123 },
	{ "2026-11-01T12:00:00-05:30", 0, 1793554200000 },
	{ "2026-11-01T12:00:00.1Z", 0, 1793534400100 },
	{ "2026-11-01T12:00:00.12Z", 0, 1793534400120 },
	{ "2026-11-01T12:00:00.123456789Z", 0, 1793534400123 },
	{ "2026-11-01T12:00:00.999999Z", 0, 1793534400999 },
	{ "1969-12-31T23:59:59.999Z", 0, -1 },
	{ "1969-12-31T23:59:59.9999Z", 0, -1 },
	{ "2000-02-29T23:59:59Z", 0, 951868799000 },
	{ "0001-01-01T00:00:00Z", 0, -62135596800000 },
	{ "9999-12-31T23:59:59.999Z", 0, 253402300799999 },
	{ "2024-03-10T02:30:00+14:00", 0, 1709987400000 },
	{ "1900-01-01T00:00:00-12:00", 0, -2208945600000 },
	{ "2026-11-01T12:00:00", -1, 0 },
	{ "2026-11-01 12:00", -1, 0 },
	{ "2026-11-01Z", -1, 0 },
	{ "2026-11-01T", -1, 0 },
	{ "2026-11-01T12Z", -1, 0 },
	{ "2026-11-01T24:00:00Z", -1, 0 },
	{ "2026-11-01T12:60:00Z", -1, 0 },
	{ "2026-11-01T12:00:60Z", -1, 0 },
	{ "2026-11-01T12:00:00.Z", -1, 0 },
	{ "2026-11-01T12:00:00+5:00", -1, 0 },
	{ "2026-11-01T12:00:00+05:", -1, 0 },
	{ "2026-11-01T12:00:00+05:0", -1, 0 },
	{ "2026-11-01T12:00:00+24:00", -1, 0 },
	{ "2026-11-01T12:00:00+05:60", -1, 0 },
	{ "2026-11-01T12:00:00Zx", -1, 0 },
	{ "2026-11-01T12:00:00Z ", -1, 0 },
	{ "2026-11-01T1:00:00Z", -1, 0 },
	{ "2026-02-30T12:00:00Z", -1, 0 },
	{ "2026-11-01X12:00:00Z", -1, 0 },
	{ "2026-11-1", -1, 0 },
	{ "1793534400000", -1, 0 },
	{ "", -1, 0 },
};

START_TEST(test_ts_iso)
{
	size_t i;

	for (i = 0; i < sizeof(iso_cases) / sizeof(iso_cases[0]); i++) {
		int64_t ms = 99;
		int r = feat_ts_parse(iso_cases[i].s, strlen(iso_cases[i].s),
				      FEAT_TS_ISO, &ms);

		ck_assert_msg(r == iso_cases[i].ok, "'%s': got %d", iso_cases[i].s, r);
		if (!r)
			ck_assert_msg(ms == iso_cases[i].ms, "'%s': got %lld",
				      iso_cases[i].s, (long long)ms);
	}
}
END_TEST

START_TEST(test_ts_iso_not_terminated)
{
	int64_t ms;

	/* A field inside a CSV line: only n bytes count. */
	ck_assert_int_eq(feat_ts_parse("2026-11-01,x", 10, FEAT_TS_ISO, &ms), 0);
	ck_assert_int_eq(ms, 1793491200000);
	ck_assert_int_eq(feat_ts_parse("2026-11-01T12:00:00Z,3", 20, FEAT_TS_ISO, &ms), 0);
	ck_assert_int_eq(ms, 1793534400000);
	ck_assert_int_eq(feat_ts_parse("2026-11-01T12:00:00+02:00", 23, FEAT_TS_ISO, &ms), -1);
	ck_assert_int_eq(feat_ts_parse("2026-11-01", 9, FEAT_TS_ISO, &ms), -1);
}
END_TEST

START_TEST(test_ts_format_iso)
{
	static const struct {
		int64_t ms;
		const char *s;
	} cases[] = {
		{ 0, "1970-01-01T00:00:00.000Z" },
		{ -1, "1969-12-31T23:59:59.999Z" },
		{ 1793534400123, "2026-11-01T12:00:00.123Z" },
		{ 951868799000, "2000-02-29T23:59:59.000Z" },
		{ -62135596800000, "0001-01-01T00:00:00.000Z" },
		{ 253402300799999, "9999-12-31T23:59:59.999Z" },
		{ INT64_MAX, "292278994-08-17T07:12:55.807Z" },
		{ INT64_MIN, "-292275055-05-16T16:47:04.192Z" },
	};
	char buf[40];
	size_t i;
	int k;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = feat_ts_format_iso(buf, cases[i].ms);

		ck_assert_str_eq(buf, cases[i].s);
		ck_assert_uint_eq(n, strlen(buf));
	}
	/* Years 0000-9999 print as four digits and parse back exactly. */
	for (k = 0; k < 100000; k++) {
		int64_t span = 253402300800000 + 62167219200000;
		int64_t ms = (int64_t)(rnd() % (uint64_t)span) - 62167219200000, back;
		size_t n = feat_ts_format_iso(buf, ms);

		require(feat_ts_parse(buf, n, FEAT_TS_ISO, &back) == 0);
		require(back == ms);
	}
}
END_TEST

static Suite *time_suite(void)
{
	Suite *s = suite_create("time");
	TCase *tc = tcase_create("calendar");

	tcase_add_test(tc, test_civil_table);
	tcase_add_test(tc, test_civil_walk);
	tcase_add_test(tc, test_civil_extremes);
	tcase_add_test(tc, test_date);
	suite_add_tcase(s, tc);

	tc = tcase_create("duration");
	tcase_add_test(tc, test_duration_parse);
	tcase_add_test(tc, test_duration_format);
	suite_add_tcase(s, tc);

	tc = tcase_create("timestamp");
	tcase_add_test(tc, test_ts_units);
	tcase_add_test(tc, test_ts_iso);
	tcase_add_test(tc, test_ts_iso_not_terminated);
	tcase_add_test(tc, test_ts_format_iso);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(time_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
