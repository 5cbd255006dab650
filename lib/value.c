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

#include "buf.h"
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
	case FEAT_JSON:
		return "json";
	case FEAT_VECTOR:
		return "list<double>";
	case FEAT_STRLIST:
		return "list<string>";
	case FEAT_MAP:
		return "map<string,double>";
	}
	return "null";
}

int feat_elem_next(const struct feat_value *v, size_t *off,
		   struct feat_value *key, struct feat_value *elem)
{
	const unsigned char *base = (const unsigned char *)v->u.s.ptr;
	const unsigned char *p = base + *off, *end = base + v->u.s.len;
	uint64_t n;

	if (v->type != FEAT_VECTOR && v->type != FEAT_STRLIST &&
	    v->type != FEAT_MAP)
		return -1;
	if (*off >= v->u.s.len)
		return *off == v->u.s.len ? 0 : -1;
	if (v->type != FEAT_VECTOR) {
		/* A string: the element of a list<string>, the key of a map. */
		struct feat_value *s = v->type == FEAT_MAP ? key : elem;
		struct feat_value ignored;

		if (!s)
			s = &ignored;
		if (feat_get_varint(&p, end, &n) < 0 ||
		    n > (uint64_t)(end - p))
			return -1;
		s->type = FEAT_STRING;
		s->u.s.ptr = (const char *)p;
		s->u.s.len = (size_t)n;
		p += n;
		if (v->type == FEAT_STRLIST) {
			*off = (size_t)(p - base);
			return 1;
		}
	}
	if (end - p < 8)
		return -1;
	elem->type = FEAT_DOUBLE;
	elem->u.d = feat_get_le_double(p);
	*off = (size_t)(p + 8 - base);
	return 1;
}

/*
 * Eight ASCII digits at s, the first the most significant: 1 with their
 * value in *v, or 0 when one of them is not a digit. The first skip of
 * them count as '0' (already read as the end of an earlier group). SWAR:
 * the bytes are checked all at once ('0'..'9' is 0x30..0x39: the high
 * nibble must be 3, and adding 6 must not carry out of the low one), then
 * pairs, quads and the two halves are combined by three multiply-adds.
 */
static inline int digits8(const char *s, unsigned skip, uint64_t *v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const uint64_t hi = UINT64_C(0xF0F0F0F0F0F0F0F0);
	const uint64_t zeros = UINT64_C(0x3030303030303030);
	uint64_t x;

	memcpy(&x, s, 8);
	if (skip) {
		uint64_t low = (UINT64_C(1) << (8 * skip)) - 1;

		x = (x & ~low) | (zeros & low);
	}
	if (((x & hi) | (((x + UINT64_C(0x0606060606060606)) & hi) >> 4)) !=
	    UINT64_C(0x3333333333333333))
		return 0;
	x -= zeros;
	x = (x * 10 + (x >> 8)) & UINT64_C(0x00FF00FF00FF00FF);
	x = (x * 100 + (x >> 16)) & UINT64_C(0x0000FFFF0000FFFF);
	*v = (x * 10000 + (x >> 32)) & UINT64_C(0xFFFFFFFF);
	return 1;
#else
	uint64_t x = 0;
	unsigned i;

	for (i = skip; i < 8; i++) {
		unsigned dig = (unsigned char)s[i] - '0';

		if (dig > 9)
			return 0;
		x = x * 10 + dig;
	}
	*v = x;
	return 1;
#endif
}

static const uint64_t pow10_u32[9] = {
	1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000,
};

/* feat_parse_int() for digit counts other than 9 to 16, from s, the first
 * digit (neg: there was a '-'). Apart so that the common case stays a
 * small leaf function. */
static __attribute__((noinline)) int parse_int_other(const char *s,
						     const char *end, int neg,
						     int64_t *out)
{
	uint64_t v = 0, lim, d8;

	if (s == end)
		return -1;
	/* Up to 18 digits cannot overflow: no check per digit, eight at a
	 * time while they last. */
	if (end - s <= 18) {
		for (; end - s >= 8; s += 8) {
			if (!digits8(s, 0, &d8))
				return -1;
			v = v * 100000000 + d8;
		}
		for (; s < end; s++) {
			unsigned dig = (unsigned char)*s - '0';

			if (dig > 9)
				return -1;
			v = v * 10 + dig;
		}
		*out = neg ? -(int64_t)v : (int64_t)v;
		return 0;
	}
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

int feat_parse_int(const char *s, size_t n, int64_t *out)
{
	const char *end = s + n;
	uint64_t v, d8;
	unsigned tail;
	int neg = 0;

	if (s < end && (*s == '-' || *s == '+')) {
		neg = *s == '-';
		s++;
	}
	/* From 9 to 16 digits (ids, millisecond times), which cannot
	 * overflow: the first eight and the last eight (the two groups
	 * overlapping) at once. */
	if (end - s <= 8 || end - s > 16)
		return parse_int_other(s, end, neg, out);
	tail = (unsigned)(end - s) - 8;
	if (!digits8(s, 0, &v) || !digits8(end - 8, 8 - tail, &d8))
		return -1;
	v = v * pow10_u32[tail] + d8;
	*out = neg ? -(int64_t)v : (int64_t)v;
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
	size_t nint, nfrac = 0;
	int exp10, neg = 0;
	const char *d;
	double r;

	if (s < end && (*s == '-' || *s == '+'))
		neg = *s++ == '-';
	for (d = s; s < end && (unsigned)(*s - '0') <= 9; s++)
		w = w * 10 + (unsigned)(*s - '0');
	nint = (size_t)(s - d);
	if (s < end && *s == '.') {
		for (d = ++s; s < end && (unsigned)(*s - '0') <= 9; s++)
			w = w * 10 + (unsigned)(*s - '0');
		nfrac = (size_t)(s - d);
	}
	/* Up to 19 digits cannot overflow w; longer numbers, even when
	 * only leading zeros make them long, are the general parser's. */
	if (!(nint + nfrac) || nint + nfrac > 19)
		return -1;
	exp10 = -(int)nfrac;
	if (s < end && (*s == 'e' || *s == 'E')) {
		int eneg = 0, e = 0;

		s++;
		if (s < end && (*s == '-' || *s == '+'))
			eneg = *s++ == '-';
		for (d = s; s < end && (unsigned)(*s - '0') <= 9; s++) {
			if (e < 10000)
				e = e * 10 + (*s - '0');
		}
		if (s == d)
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

#ifdef __SIZEOF_INT128__
__extension__ typedef unsigned __int128 u128;

static const uint64_t pow10_u64[20] = {
	UINT64_C(1), UINT64_C(10), UINT64_C(100), UINT64_C(1000),
	UINT64_C(10000), UINT64_C(100000), UINT64_C(1000000),
	UINT64_C(10000000), UINT64_C(100000000), UINT64_C(1000000000),
	UINT64_C(10000000000), UINT64_C(100000000000),
	UINT64_C(1000000000000), UINT64_C(10000000000000),
	UINT64_C(100000000000000), UINT64_C(1000000000000000),
	UINT64_C(10000000000000000), UINT64_C(100000000000000000),
	UINT64_C(1000000000000000000), UINT64_C(10000000000000000000),
};

/*
 * 10^-3 .. 10^16 as doubles. The three negative powers are inexact, but
 * each is rounded up, so "a >= 1e-2" still means a >= 1/100 exactly.
 */
static const double pow10_dbl[20] = {
	1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8,
	1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
};

/*
 * a = m * 2^-s exactly (m the 53-bit significand, 1 <= s <= 62). Returns
 * a rounded to k decimals (half to even, as printf rounds), times 10^k.
 */
static uint64_t round_decimals(uint64_t m, int s, int k)
{
	u128 prod = (u128)m * pow10_u64[k];
	u128 half = (u128)1 << (s - 1);
	u128 rem = prod & (((u128)1 << s) - 1);
	uint64_t q = (uint64_t)(prod >> s);

	if (rem > half || (rem == half && (q & 1)))
		q++;
	return q;
}

/*
 * Whether r / 10^k reads back (strtod, round to nearest even) as
 * a = m * 2^-s: whether it lies strictly between the midpoints to a's
 * neighbours, or on one with m even. Everything is scaled by 10^k * 2^(s+2)
 * to stay in integers: a's upper midpoint (2m + 1) * 2^(-s-1) becomes
 * (2m + 1) * 2 * 10^k, and the lower one likewise, except that at m = 2^52
 * the neighbour below is only half as far. With r < 2^57, s <= 62 and
 * k <= 19 every product stays below 2^122.
 */
static int reads_back(uint64_t m, int s, uint64_t r, int k)
{
	u128 x = (u128)r << (s + 2);
	u128 p = pow10_u64[k];
	u128 hi = (u128)(2 * m + 1) * p * 2;
	u128 lo = m == UINT64_C(1) << 52 ? (u128)(4 * m - 1) * p :
		(u128)(2 * m - 1) * p * 2;

	if (x > lo && x < hi)
		return 1;
	return (x == lo || x == hi) && !(m & 1);
}

/*
 * The fast path for 1e-3 <= a < 2^53, a not integral (a = |d|): the range
 * where %g prints fixed notation, and where exact 128-bit integers can do
 * what the slow path does with snprintf and strtod. As there, try 15
 * significant digits, then 16, then 17; the 15-digit rounding, trailing
 * zeros dropped, is the shortest text whenever any of at most 15 digits
 * reads back (DBL_DIG). 15 significant digits are k = 14 - x decimals, x
 * being floor(log10(a)) in [-3, 15]. Returns the length written, or 0
 * when the slow path must decide (never, if the reasoning holds; the unit
 * tests compare both on millions of values).
 */
static size_t fmt_fixed(char *buf, double a)
{
	uint64_t bits, m, r = 0, ip, fp;
	int s, x, k, j;
	size_t len;

	memcpy(&bits, &a, sizeof(bits));
	m = (bits & ((UINT64_C(1) << 52) - 1)) | UINT64_C(1) << 52;
	s = 1075 - (int)(bits >> 52);
	/* floor(log10(a)): from the binary exponent, then one correction. */
	x = ((52 - s) * 78913) >> 18;
	if (x + 1 <= 16 && a >= pow10_dbl[x + 1 + 3])
		x++;
	for (k = 14 - x; k <= 16 - x; k++) {
		if (k < 1)
			continue;	/* an integer cannot read back as a */
		r = round_decimals(m, s, k);
		if (reads_back(m, s, r, k))
			break;
	}
	if (k > 16 - x)
		return 0;
	/* Trailing zeros come from the 15-digit rounding; drop them in bulk. */
	while (k >= 8 && r % 100000000 == 0) {
		r /= 100000000;
		k -= 8;
	}
	if (k >= 4 && r % 10000 == 0) {
		r /= 10000;
		k -= 4;
	}
	if (k >= 2 && r % 100 == 0) {
		r /= 100;
		k -= 2;
	}
	if (k >= 1 && r % 10 == 0) {
		r /= 10;
		k--;
	}
	ip = r / pow10_u64[k];
	fp = r % pow10_u64[k];
	len = fmt_u64(buf, ip);
	buf[len++] = '.';
	for (j = k - 1; j >= 0; j--) {
		buf[len + (size_t)j] = (char)('0' + fp % 10);
		fp /= 10;
	}
	return len + (size_t)k;
}
#endif

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
#ifdef __SIZEOF_INT128__
	if (a >= 1e-3 && a < TWO53) {
		len = d < 0;
		buf[0] = '-';
		n = (int)fmt_fixed(buf + len, a);
		if (n)
			return len + (size_t)n;
	}
#endif
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
