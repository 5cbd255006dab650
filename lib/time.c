/*
 * time.c - timestamps, durations and calendar dates.
 *
 * The calendar arithmetic is Howard Hinnant's days_from_civil and
 * civil_from_days (http://howardhinnant.github.io/date_algorithms.html):
 * the proleptic Gregorian calendar counted in 400-year eras of 146097 days,
 * with years starting on March 1 so that the leap day is the last day of a
 * year. Every division that can see a negative operand floors, so times
 * before 1970 work like times after it.
 */
#include <stdio.h>
#include <string.h>

#include "time.h"
#include "value.h"

#define MS_PER_S	INT64_C(1000)
#define MS_PER_MIN	INT64_C(60000)
#define MS_PER_H	INT64_C(3600000)
#define MS_PER_DAY	INT64_C(86400000)

/* Floor division and the matching non-negative remainder (b > 0). */
static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if (a % b < 0)
		q--;
	return q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
	int64_t r = a % b;

	return r < 0 ? r + b : r;
}

/*
 * Valid for |y| up to about 2^50 (era * 146097 must fit in int64), far
 * beyond any date an int64 millisecond timestamp can name.
 */
int64_t feat_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;					/* [0, 399] */
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;	/* [0, 365] */
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;		/* [0, 146096] */
	return era * 146097 + doe - 719468;
}

/*
 * Defined for every int64: the era is split off before the epoch shift
 * (719468 days from 0000-03-01 to 1970-01-01) so nothing can overflow.
 */
void feat_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era = floor_div(days, 146097);
	int64_t doe = floor_mod(days, 146097) + 719468;
	int64_t yoe, doy, mp;

	era += doe / 146097;
	doe %= 146097;						/* [0, 146096] */
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);		/* [0, 365] */
	mp = (5 * doy + 2) / 153;				/* [0, 11] */
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const unsigned char dim[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};

	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Reads exactly n digits at s. Returns the value, or -1. */
static int digits(const char *s, int n)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		unsigned dig = (unsigned char)s[i] - '0';

		if (dig > 9)
			return -1;
		v = v * 10 + (int)dig;
	}
	return v;
}

/*
 * Parses "YYYY-MM-DD" at the start of s[0..n) (exactly four year digits)
 * into days since the epoch. Returns 0 or -1.
 */
static int parse_ymd(const char *s, size_t n, int64_t *days)
{
	int y, m, d;

	if (n < 10 || s[4] != '-' || s[7] != '-')
		return -1;
	y = digits(s, 4);
	m = digits(s + 5, 2);
	d = digits(s + 8, 2);
	if (y < 0 || m < 1 || m > 12 || d < 1 ||
	    (unsigned)d > days_in_month(y, (unsigned)m))
		return -1;
	*days = feat_days_from_civil(y, (unsigned)m, (unsigned)d);
	return 0;
}

int feat_date_parse(const char *s, int64_t *days)
{
	size_t n = strlen(s);

	if (n != 10)
		return -1;
	return parse_ymd(s, n, days);
}

void feat_date_format(char *buf, int64_t days)
{
	char tmp[48];
	int64_t y;
	unsigned m, d;

	feat_civil_from_days(days, &y, &m, &d);
	snprintf(tmp, sizeof(tmp), "%s%04lld-%02u-%02u", y < 0 ? "-" : "",
		 y < 0 ? -(long long)y : (long long)y, m, d);
	/*
	 * Only years beyond nine digits (days far past any timestamp) do not
	 * fit in the 16 bytes promised; they are cut rather than overflow.
	 */
	tmp[15] = '\0';
	memcpy(buf, tmp, strlen(tmp) + 1);
}

/* Units of durations, largest first: the order a duration must follow. */
static const struct {
	const char *name;
	int64_t ms;
} dur_units[] = {
	{ "d", MS_PER_DAY },
	{ "h", MS_PER_H },
	{ "m", MS_PER_MIN },
	{ "s", MS_PER_S },
	{ "ms", 1 },
};

#define NUNITS (sizeof(dur_units) / sizeof(dur_units[0]))

int feat_duration_parse(const char *s, int64_t *ms)
{
	int64_t total = 0;
	size_t next = 0;	/* the first unit still allowed */

	if (!*s)
		return -1;
	while (*s) {
		int64_t v = 0, part;
		size_t u;
		int nd = 0;

		for (; (unsigned)(*s - '0') <= 9; s++, nd++) {
			int dig = *s - '0';

			if (v > (INT64_MAX - dig) / 10)
				return -1;
			v = v * 10 + dig;
		}
		if (!nd)
			return -1;
		/* "ms" before "m", so that "5ms" is not "5m" then "s". */
		if (s[0] == 'm' && s[1] == 's')
			u = 4;
		else if (s[0] == 'd')
			u = 0;
		else if (s[0] == 'h')
			u = 1;
		else if (s[0] == 'm')
			u = 2;
		else if (s[0] == 's')
			u = 3;
		else
			return -1;
		if (u < next)
			return -1;
		next = u + 1;
		s += strlen(dur_units[u].name);
		if (v > INT64_MAX / dur_units[u].ms)
			return -1;
		part = v * dur_units[u].ms;
		if (part > INT64_MAX - total)
			return -1;
		total += part;
	}
	if (total <= 0)
		return -1;
	*ms = total;
	return 0;
}

size_t feat_duration_format(char *buf, int64_t ms)
{
	uint64_t left;
	size_t len = 0, u;

	if (ms == 0) {
		memcpy(buf, "0s", 3);
		return 2;
	}
	/* Durations are positive; a negative one still prints readably. */
	if (ms < 0) {
		buf[len++] = '-';
		left = -(uint64_t)ms;
	} else {
		left = (uint64_t)ms;
	}
	for (u = 0; u < NUNITS; u++) {
		uint64_t unit = (uint64_t)dur_units[u].ms, q = left / unit;

		if (!q)
			continue;
		left -= q * unit;
		len += feat_fmt_int(buf + len, (int64_t)q);
		memcpy(buf + len, dur_units[u].name, strlen(dur_units[u].name));
		len += strlen(dur_units[u].name);
	}
	buf[len] = '\0';
	return len;
}

/*
 * Parses the ISO-8601 forms feat accepts:
 *
 *   YYYY-MM-DD                                      midnight UTC
 *   YYYY-MM-DD(T|t| )HH:MM[:SS[.fraction]](Z|z|+HH:MM|-HH:MM|+HHMM|-HHMM|+HH|-HH)
 *
 * A date-time must carry its offset: without one it names no instant, and
 * guessing UTC would silently shift data written in local time. The bare
 * "+HH" form is what PostgreSQL prints. Seconds are 00-59 (no leap
 * seconds, which Unix time does not count). Fraction digits beyond the
 * millisecond are dropped, which floors toward minus infinity since the
 * fraction is a non-negative addend.
 */
static int parse_iso(const char *s, size_t n, int64_t *ms)
{
	const char *end = s + n, *p;
	int64_t days, t;
	int hh, mm, ss = 0, frac = 0, oh, om = 0, sign;

	if (parse_ymd(s, n, &days) < 0)
		return -1;
	t = days * MS_PER_DAY;
	if (n == 10) {
		*ms = t;
		return 0;
	}
	p = s + 10;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -1;
	p++;
	if (end - p < 5 || p[2] != ':')
		return -1;
	hh = digits(p, 2);
	mm = digits(p + 3, 2);
	if (hh < 0 || hh > 23 || mm < 0 || mm > 59)
		return -1;
	p += 5;
	if (p < end && *p == ':') {
		if (end - p < 3 || (ss = digits(p + 1, 2)) < 0 || ss > 59)
			return -1;
		p += 3;
		if (p < end && *p == '.') {
			int nd = 0;

			for (p++; p < end && (unsigned)(*p - '0') <= 9; p++) {
				if (nd++ < 3)
					frac = frac * 10 + (*p - '0');
			}
			if (!nd)
				return -1;
			for (; nd < 3; nd++)
				frac *= 10;
		}
	}
	t += hh * MS_PER_H + mm * MS_PER_MIN + ss * MS_PER_S + frac;
	if (p == end)
		return -1;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		p++;
		if (end - p < 2 || (oh = digits(p, 2)) < 0 || oh > 23)
			return -1;
		p += 2;
		if (p < end) {
			if (*p == ':')
				p++;
			if (end - p < 2 || (om = digits(p, 2)) < 0 || om > 59)
				return -1;
			p += 2;
		}
		/* Local time = UTC + offset, so UTC = local - offset. */
		t -= sign * (oh * MS_PER_H + om * MS_PER_MIN);
	} else {
		return -1;
	}
	if (p != end)
		return -1;
	*ms = t;
	return 0;
}

int feat_ts_parse(const char *s, size_t n, enum feat_ts_unit unit,
		  int64_t *ms)
{
	int64_t v;

	if (unit == FEAT_TS_ISO)
		return parse_iso(s, n, ms);
	if (feat_parse_int(s, n, &v) < 0)
		return -1;
	switch (unit) {
	case FEAT_TS_S:
		if (v > INT64_MAX / MS_PER_S || v < INT64_MIN / MS_PER_S)
			return -1;
		*ms = v * MS_PER_S;
		return 0;
	case FEAT_TS_MS:
		*ms = v;
		return 0;
	case FEAT_TS_US:
		*ms = floor_div(v, 1000);
		return 0;
	case FEAT_TS_NS:
		*ms = floor_div(v, 1000000);
		return 0;
	case FEAT_TS_ISO:
		break;
	}
	return -1;
}

size_t feat_ts_format_iso(char *buf, int64_t ms)
{
	int64_t days = floor_div(ms, MS_PER_DAY);
	int64_t rem = floor_mod(ms, MS_PER_DAY);
	int64_t y;
	unsigned m, d;
	int n;

	feat_civil_from_days(days, &y, &m, &d);
	n = snprintf(buf, 40, "%s%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ",
		     y < 0 ? "-" : "", y < 0 ? -(long long)y : (long long)y,
		     m, d, (int)(rem / MS_PER_H), (int)(rem / MS_PER_MIN % 60),
		     (int)(rem / MS_PER_S % 60), (int)(rem % MS_PER_S));
	return n < 0 ? 0 : (size_t)n;
}
