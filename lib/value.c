/*
 * value.c - type names and the text forms of numbers.
 *
 * Parsing and printing numbers is on the hot path of every command (every
 * CSV field read, every number written), so each function has a fast path
 * for the common shapes and falls back to the C library only for the rest.
 * The C library calls (strtod, snprintf) assume the "C" LC_NUMERIC locale;
 * the commands never call setlocale(), so the decimal point is always '.'.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "value.h"

const char *feat_type_name(enum feat_type t)
{
	switch (t) {
	case FEAT_NULL:
		return "null";
	case FEAT_BOOL:
		return "bool";
	case FEAT_INT:
		return "int";
	case FEAT_DOUBLE:
		return "double";
	case FEAT_STRING:
		return "string";
	case FEAT_TIMESTAMP:
		return "timestamp";
	}
	return "null";
}

int feat_parse_int(const char *s, size_t n, int64_t *out)
{
	const char *end = s + n;
	uint64_t v = 0, lim;
	int neg = 0;

	if (s < end && (*s == '-' || *s == '+')) {
		neg = *s == '-';
		s++;
	}
	if (s == end)
		return -1;
	/* The magnitude of INT64_MIN is one more than INT64_MAX. */
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; s < end; s++) {
		unsigned dig = (unsigned char)*s - '0';

		if (dig > 9)
			return -1;
		if (v > (lim - dig) / 10)
			return -1;
		v = v * 10 + dig;
	}
	if (neg)
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*out = (int64_t)v;
	return 0;
}

/* Powers of ten that are exact doubles (5^22 < 2^53). */
static const double exact_pow10[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/*
 * Clinger's fast path: when the decimal significand w fits in 53 bits and
 * the power of ten is exact, w * 10^e (or w / 10^-e) is a single correctly
 * rounded operation, so the result equals what strtod gives. Returns 0 with
 * the value, or -1 when the text needs the general parser (which also
 * decides whether it is a number at all). Accepts exactly a subset of what
 * strtod accepts: [+-] digits [. digits] [(e|E) [+-] digits], with at least
 * one digit in the significand.
 */
static int parse_double_fast(const char *s, const char *end, double *out)
{
	uint64_t w = 0;
	int ndig = 0, nsig = 0, exp10 = 0, neg = 0;
	double r;

	if (s < end && (*s == '-' || *s == '+'))
		neg = *s++ == '-';
	for (; s < end && (unsigned)(*s - '0') <= 9; s++, ndig++) {
		if (w || *s != '0')
			nsig++;
		w = w * 10 + (unsigned)(*s - '0');
		if (nsig > 19)
			return -1;
	}
	if (s < end && *s == '.') {
		for (s++; s < end && (unsigned)(*s - '0') <= 9; s++, ndig++) {
			if (w || *s != '0')
				nsig++;
			w = w * 10 + (unsigned)(*s - '0');
			if (nsig > 19)
				return -1;
			exp10--;
		}
	}
	if (!ndig)
		return -1;
	if (s < end && (*s == 'e' || *s == 'E')) {
		int eneg = 0, e = 0, edig = 0;

		s++;
		if (s < end && (*s == '-' || *s == '+'))
			eneg = *s++ == '-';
		for (; s < end && (unsigned)(*s - '0') <= 9; s++, edig++) {
			if (e < 10000)
				e = e * 10 + (*s - '0');
		}
		if (!edig)
			return -1;
		exp10 += eneg ? -e : e;
	}
	if (s != end)
		return -1;
	if (w > (UINT64_C(1) << 53))
		return -1;
	if (w == 0)
		r = 0.0;
	else if (exp10 >= 0 && exp10 <= 22)
		r = (double)w * exact_pow10[exp10];
	else if (exp10 < 0 && exp10 >= -22)
		r = (double)w / exact_pow10[-exp10];
	else
		return -1;
	*out = neg ? -r : r;
	return 0;
}

int feat_parse_double(const char *s, size_t n, double *out)
{
	char stack[64], *heap = NULL, *copy, *end;
	size_t i;
	double d;
	int ret = -1;

	if (!parse_double_fast(s, s + n, out))
		return 0;
	/*
	 * strtod skips leading white space and reads hexadecimal floats;
	 * neither is a number in a CSV field, so both are refused here.
	 */
	if (n == 0 || s[0] == ' ' || (unsigned)(s[0] - '\t') <= '\r' - '\t')
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] == 'x' || s[i] == 'X' || s[i] == '\0')
			return -1;
	}
	/* strtod needs a NUL; long numbers are rare enough to allocate. */
	if (n < sizeof(stack)) {
		copy = stack;
	} else {
		heap = malloc(n + 1);
		if (!heap)
			goto out;
		copy = heap;
	}
	memcpy(copy, s, n);
	copy[n] = '\0';
	d = strtod(copy, &end);
	if (end != copy + n)
		goto out;
	*out = d;
	ret = 0;
out:
	free(heap);
	return ret;
}

static int lower_eq(const char *s, size_t n, const char *word)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != (unsigned char)word[i] || !word[i])
			return 0;
	}
	return word[n] == '\0';
}

int feat_parse_bool(const char *s, size_t n, int *out)
{
	if ((n == 1 && s[0] == '1') || lower_eq(s, n, "true")) {
		*out = 1;
		return 0;
	}
	if ((n == 1 && s[0] == '0') || lower_eq(s, n, "false")) {
		*out = 0;
		return 0;
	}
	return -1;
}

static const char digit_pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/* Writes v in decimal at buf and returns the length (at most 20). */
static size_t fmt_u64(char *buf, uint64_t v)
{
	char tmp[24];
	char *p = tmp + sizeof(tmp);
	size_t len;

	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);

		v /= 100;
		p -= 2;
		memcpy(p, digit_pairs + 2 * r, 2);
	}
	if (v >= 10) {
		p -= 2;
		memcpy(p, digit_pairs + 2 * v, 2);
	} else {
		*--p = (char)('0' + v);
	}
	len = (size_t)(tmp + sizeof(tmp) - p);
	memcpy(buf, p, len);
	return len;
}

size_t feat_fmt_int(char *buf, int64_t v)
{
	if (v < 0) {
		buf[0] = '-';
		/* Negating in unsigned arithmetic is defined for INT64_MIN. */
		return 1 + fmt_u64(buf + 1, -(uint64_t)v);
	}
	return fmt_u64(buf, (uint64_t)v);
}

#define TWO53 9007199254740992.0	/* 2^53 */
#define TWO48 281474976710656.0		/* 2^48 */

/*
 * The fast path for numbers with few decimals (prices, ratings, ratios of
 * small integers printed short): the smallest k for which an integer r
 * makes r / 10^k read back as a (= |d|, 1e-3 <= a < 2^48, not integral).
 * Since strtod rounds correctly, r / 10^k (one correctly rounded division of
 * exact operands) equals what strtod makes of the text, so the check is
 * exact. While a * 10^k < 2^48 the error of a * 10^k is below 0.1, so if any
 * such r exists the rounded product finds it, and it is unique (the
 * interval of decimals that read as a is narrower than 10^-k). The digits
 * are then those of the shortest text, and the same text %.15g/%.16g/%.17g
 * would print (fixed notation, since 1e-3 <= a < 1e15). Returns the length
 * written after the sign, or 0 when the slow path must decide.
 */
static size_t fmt_short_decimal(char *buf, double a)
{
	double p = 1.0;
	int k;

	for (k = 1; k <= 17; k++) {
		double m;
		uint64_t r, ip, fp;
		size_t len;
		int j;

		p *= 10.0;
		m = a * p;
		if (m >= TWO48)
			return 0;
		r = (uint64_t)(m + 0.5);
		if ((double)r / p != a)
			continue;
		ip = r / (uint64_t)p;
		fp = r % (uint64_t)p;
		len = fmt_u64(buf, ip);
		buf[len++] = '.';
		while (k > 0 && fp % 10 == 0) {
			fp /= 10;
			k--;
		}
		for (j = k - 1; j >= 0; j--) {
			buf[len + (size_t)j] = (char)('0' + fp % 10);
			fp /= 10;
		}
		return len + (size_t)k;
	}
	return 0;
}

size_t feat_fmt_double(char *buf, double d)
{
	double a = d < 0 ? -d : d;
	size_t len;
	int prec, n;

	if (a < TWO53 && (double)(int64_t)d == d) {
		/* -0.0 keeps its sign, so that it reads back as -0.0. */
		if (d == 0 && signbit(d)) {
			memcpy(buf, "-0", 2);
			return 2;
		}
		return feat_fmt_int(buf, (int64_t)d);
	}
	if (a >= 1e-3 && a < TWO48) {
		len = d < 0;
		buf[0] = '-';
		n = (int)fmt_short_decimal(buf + len, a);
		if (n)
			return len + (size_t)n;
	}
	/*
	 * Any decimal of at most 15 significant digits survives the trip
	 * through a normal double (DBL_DIG), so if a 15-digit or shorter text
	 * reads back as d, %.15g prints exactly that text (%g drops trailing
	 * zeros) and no shorter precision needs trying. Otherwise 16 or 17
	 * digits are needed, and 17 always round-trips. Subnormals have fewer
	 * bits, so for them every precision is tried (5e-324, not
	 * 4.94065645841247e-324); they are rare.
	 */
	for (prec = a < DBL_MIN ? 1 : 15; prec < 17; prec++) {
		n = snprintf(buf, FEAT_NUMBUF, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return (size_t)n;
	}
	n = snprintf(buf, FEAT_NUMBUF, "%.17g", d);
	return (size_t)n;
}
