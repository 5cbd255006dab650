/*
 * accum.c - an exact accumulator for sums of doubles (a "long accumulator"
 * in the manner of Kulisch, and of Radford Neal's xsum "large" variant).
 *
 * Layout. The value held is sum(limb[i] * 2^(32*i - 1074)). A double's
 * lowest possible bit weighs 2^-1074 (limb 0, bit 0) and its highest 2^1023
 * (bit 2097, limb 65); limb 66 takes the carries out of the top. Every limb
 * is an int64 that may hold any signed amount, so adding a double touches
 * only the (at most three) limbs its 53-bit significand spans, with no
 * carry: the carries wait.
 *
 * Order independence. Many limb vectors hold the same value; nothing
 * looks at the limbs except through magnitude(), which carries a copy into
 * digits of the exact value. So the rounded result, and is_zero, are
 * functions of the exact value alone, whatever the order or grouping of
 * the operations that produced it.
 *
 * Carries. Each add or sub changes a limb by less than 1.5 * 2^32, so
 * "pending" counts the operations since the last normalise() and bounds
 * every limb by (pending + 1) * 1.5 * 2^32; normalising (limbs 0..65 into
 * [0, 2^32), the rest into limb 66) when pending reaches 2^30 keeps that
 * below 2^63. A merge adds the two bounds, hence pending = dst + src + 1.
 * Pending only has to be an upper bound, so a caller that copies the
 * struct or raises the count stays safe.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "accum.h"
#include "buf.h"

#define TOP		(FEAT_ACCUM_LIMBS - 1)
#define LIMB_MASK	INT64_C(0xffffffff)
#define PENDING_MAX	(UINT32_C(1) << 30)
#define FRAC_MASK	((UINT64_C(1) << 52) - 1)

/* Propagates the carries so that every limb is small again. */
static void normalise(struct feat_accum *a)
{
	int64_t carry = 0;
	int i;

	for (i = 0; i < TOP; i++) {
		int64_t v = a->limb[i] + carry;

		/* Arithmetic shift: floor division by 2^32 (GCC, Clang). */
		carry = v >> 32;
		a->limb[i] = v & LIMB_MASK;
	}
	a->limb[TOP] += carry;
	a->pending = 0;
}

void feat_accum_init(struct feat_accum *a)
{
	memset(a, 0, sizeof(*a));
}

/*
 * Adds d (flip 0) or -d (flip -1): d's significand goes into the limbs it
 * spans. A normal double is (2^52 + frac) * 2^(e - 1075) and a subnormal
 * frac * 2^-1074, so the significand's lowest bit sits at bit p = e - 1
 * (normal) or 0 (subnormal) of the accumulator. A non-finite d (e = 2047)
 * would still stay inside the array, only making the sum meaningless.
 */
static inline void add_bits(struct feat_accum *a, double d, int64_t flip)
{
	uint64_t bits, frac, mant, lo, hi;
	unsigned e, p, s;
	int64_t neg, a0, a1, a2;
	int64_t *l;

	if (a->pending >= PENDING_MAX)
		normalise(a);
	a->pending++;
	memcpy(&bits, &d, sizeof(bits));
	e = (unsigned)(bits >> 52) & 0x7ff;
	frac = bits & FRAC_MASK;
	mant = frac | ((uint64_t)(e != 0) << 52);
	p = e - (e != 0);
	s = p & 31;
	/* Split first so that no shift exceeds 64 bits: 32 + 21 bits. */
	lo = (mant & 0xffffffff) << s;		/* < 2^63 */
	hi = (mant >> 32) << s;			/* < 2^52 */
	a0 = (int64_t)(lo & 0xffffffff);
	a1 = (int64_t)((lo >> 32) + (hi & 0xffffffff));
	a2 = (int64_t)(hi >> 32);
	/* neg is 0 or -1: (x ^ neg) - neg is x or -x, without a branch. */
	neg = -(int64_t)(bits >> 63) ^ flip;
	l = a->limb + (p >> 5);
	l[0] += (a0 ^ neg) - neg;
	l[1] += (a1 ^ neg) - neg;
	l[2] += (a2 ^ neg) - neg;
}

void feat_accum_add(struct feat_accum *a, double d)
{
	add_bits(a, d, 0);
}

void feat_accum_sub(struct feat_accum *a, double d)
{
	add_bits(a, d, -1);
}

void feat_accum_merge(struct feat_accum *dst, const struct feat_accum *src)
{
	struct feat_accum tmp;
	int i;

	if ((uint64_t)dst->pending + src->pending + 1 > PENDING_MAX) {
		normalise(dst);
		if ((uint64_t)src->pending + 1 > PENDING_MAX) {
			tmp = *src;
			normalise(&tmp);
			src = &tmp;
		}
	}
	for (i = 0; i < FEAT_ACCUM_LIMBS; i++)
		dst->limb[i] += src->limb[i];
	dst->pending += src->pending + 1;
}

/*
 * Writes the magnitude of the value held into w[0..n) as 32-bit digits
 * (w[n - 1] != 0), digit j weighing limb base + j, sets *neg, and returns
 * n, 0 when the value is zero. Only the limbs between the lowest and the
 * highest non-zero ones are carried, on a copy: for data of one order of
 * magnitude that is a handful of limbs, not all 67. Without normalising,
 * the top limb T of that range holds the sign: the limbs below it add up
 * to less than 2^32 of T's units once carried, so the value is negative
 * exactly when T is, and its magnitude is then -T units minus the lower
 * digits.
 */
static int magnitude(const struct feat_accum *a, int64_t *w, int *base,
		     int *neg)
{
	int lo, hi, n, i;
	int64_t c;

	for (lo = 0; lo < FEAT_ACCUM_LIMBS && !a->limb[lo]; lo++)
		;
	if (lo == FEAT_ACCUM_LIMBS)
		return 0;
	for (hi = TOP; !a->limb[hi]; hi--)
		;
	n = hi - lo + 1;
	c = 0;
	for (i = 0; i < n - 1; i++) {
		int64_t v = a->limb[lo + i] + c;

		c = v >> 32;
		w[i] = v & LIMB_MASK;
	}
	w[n - 1] = a->limb[hi] + c;
	*neg = w[n - 1] < 0;
	if (*neg) {
		/* -(T * 2^32k + lower) = (-T) * 2^32k - lower, borrowing. */
		c = 0;
		for (i = 0; i < n - 1; i++) {
			int64_t v = c - w[i];

			c = v >> 32;
			w[i] = v & LIMB_MASK;
		}
		w[n - 1] = c - w[n - 1];
	}
	/* The top may exceed 32 bits (up to 63): split it. */
	if (w[n - 1] >> 32) {
		w[n] = w[n - 1] >> 32;
		w[n - 1] &= LIMB_MASK;
		n++;
	}
	while (n > 0 && !w[n - 1])
		n--;
	*base = lo;
	return n;
}

int feat_accum_is_zero(struct feat_accum *a)
{
	int64_t w[FEAT_ACCUM_LIMBS + 1];
	int base, neg;

	return magnitude(a, w, &base, &neg) == 0;
}

/* Number of significant bits of a non-zero value. */
static unsigned bit_length(uint64_t v)
{
	return 64 - (unsigned)__builtin_clzll(v);
}

double feat_accum_round(struct feat_accum *a)
{
	int64_t w[FEAT_ACCUM_LIMBS + 1];
	uint64_t hi, mid, lo, top, mant, bits;
	unsigned b, round, sticky;
	int64_t h;
	double r;
	int base, n, neg, t, i;

	n = magnitude(a, w, &base, &neg);
	if (!n)
		return 0.0;
	/* t: the top digit, now in absolute limb numbers. */
	t = base + n - 1;
	if (t <= 1) {
		uint64_t v = (uint64_t)w[n - 1];

		if (n == 2 || (n == 1 && t == 1))
			v <<= 32;
		if (n == 2)
			v |= (uint64_t)w[0];
		/*
		 * Below 2^53 units the value is a subnormal or one of the
		 * smallest normals, each exactly representable.
		 */
		if (v < (UINT64_C(1) << 53)) {
			r = ldexp((double)v, -1074);
			return neg ? -r : r;
		}
	}
	/*
	 * The top three digits hold 64 + b bits, b being the bit length of the
	 * top one; shifting them right by b leaves a 64-bit window whose top
	 * bit is the leading bit of the value: 53 bits of significand, the
	 * round bit and 10 bits that join the sticky bits below.
	 */
	hi = (uint64_t)w[n - 1];
	mid = n >= 2 ? (uint64_t)w[n - 2] : 0;
	lo = n >= 3 ? (uint64_t)w[n - 3] : 0;
	b = bit_length(hi);
	top = ((hi << 32 | mid) << (32 - b)) | (lo >> b);
	mant = top >> 11;
	round = (unsigned)(top >> 10) & 1;
	sticky = (top & 0x3ff) != 0 || (lo & ((UINT64_C(1) << b) - 1)) != 0;
	for (i = n - 4; i >= 0 && !sticky; i--)
		sticky = w[i] != 0;
	/* h: the position of the leading bit, counted from 2^-1074. */
	h = 32 * (int64_t)t + b - 1;
	if (round && (sticky || (mant & 1))) {
		mant++;
		if (mant >> 53) {
			mant >>= 1;
			h++;
		}
	}
	/* The leading bit weighs 2^(h - 1074); past 2^1023 is overflow. */
	if (h - 1074 > 1023)
		return neg ? -HUGE_VAL : HUGE_VAL;
	bits = (uint64_t)neg << 63 | (uint64_t)(h - 1074 + 1023) << 52 |
		(mant & FRAC_MASK);
	memcpy(&r, &bits, sizeof(r));
	return r;
}

int feat_accum_encode(const struct feat_accum *a, struct feat_buf *b)
{
	struct feat_accum t = *a;
	int lo, hi, i;

	normalise(&t);
	for (lo = 0; lo < FEAT_ACCUM_LIMBS && !t.limb[lo]; lo++)
		;
	if (lo == FEAT_ACCUM_LIMBS)
		return feat_buf_add_varint(b, 0);
	for (hi = TOP; !t.limb[hi]; hi--)
		;
	if (feat_buf_add_varint(b, (uint64_t)(hi - lo + 1)) < 0 ||
	    feat_buf_add_varint(b, (uint64_t)lo) < 0)
		return -1;
	for (i = lo; i <= hi; i++)
		if ((i < TOP ? feat_buf_add_varint(b, (uint64_t)t.limb[i])
			     : feat_buf_add_svarint(b, t.limb[i])) < 0)
			return -1;
	return 0;
}

int feat_accum_decode(struct feat_accum *a, const unsigned char **p,
		      const unsigned char *end)
{
	uint64_t n, lo, v;
	int64_t top;
	uint64_t i;

	feat_accum_init(a);
	if (feat_get_varint(p, end, &n) < 0)
		return -1;
	if (!n)
		return 0;
	if (n > FEAT_ACCUM_LIMBS || feat_get_varint(p, end, &lo) < 0 ||
	    lo > FEAT_ACCUM_LIMBS - n)
		return -1;
	for (i = lo; i < lo + n; i++) {
		if (i < TOP) {
			/* Carried limbs are digits: below 2^32. */
			if (feat_get_varint(p, end, &v) < 0 || v > (uint64_t)LIMB_MASK)
				return -1;
			a->limb[i] = (int64_t)v;
		} else {
			/* The top limb takes carries only: small either way. */
			if (feat_get_svarint(p, end, &top) < 0 ||
			    top > LIMB_MASK || top < -LIMB_MASK)
				return -1;
			a->limb[i] = top;
		}
	}
	/* The ends are non-zero in a canonical encoding. */
	if (!a->limb[lo] || !a->limb[lo + n - 1])
		return -1;
	a->pending = 1;
	return 0;
}

void feat_accum_add_fix(struct feat_accum *a, feat_i128 x)
{
	const uint64_t m = (UINT64_C(1) << 52) - 1;
	unsigned __int128 u = x < 0 ? -(unsigned __int128)x : (unsigned __int128)x;
	/* three pieces of at most 52 bits, each an exact double */
	double lo = (double)(uint64_t)(u & m) * 0x1p-64;
	double mid = (double)(uint64_t)(u >> 52 & m) * 0x1p-12;
	double hi = (double)(uint64_t)(u >> 104) * 0x1p40;

	if (x < 0) {
		feat_accum_sub(a, lo);
		feat_accum_sub(a, mid);
		feat_accum_sub(a, hi);
	} else {
		feat_accum_add(a, lo);
		feat_accum_add(a, mid);
		feat_accum_add(a, hi);
	}
}

struct feat_accum *feat_fix_widen(feat_i128 *x)
{
	struct feat_accum *a = malloc(sizeof(*a));

	if (!a)
		return NULL;
	feat_accum_init(a);
	feat_accum_add_fix(a, *x);
	*x = 0;
	return a;
}

int feat_accum_to_fix(struct feat_accum *a, feat_i128 *x)
{
	struct feat_accum t = *a;
	feat_i128 sum = 0, v;
	int i;

	/*
	 * Each rounding takes the leading 53 bits of what is left, and what
	 * is left after it is at most half its last place: a value of 128
	 * significant bits is gone after three.
	 */
	for (i = 0; i < 3; i++) {
		double d = feat_accum_round(&t);

		if (d == 0)
			break;
		if (!isfinite(d) || !feat_fix_of(d, &v) ||
		    __builtin_add_overflow(sum, v, &sum))
			return 0;
		feat_accum_sub(&t, d);
	}
	if (!feat_accum_is_zero(&t))
		return 0;
	*x = sum;
	return 1;
}
