/*
 * accum.h - an exact accumulator for sums of doubles.
 *
 * A double is m * 2^e with a 53-bit m and e in [-1074, 971]. The accumulator
 * keeps the sum as a fixed-point integer wide enough for every double, in
 * 32-bit limbs held in int64 so that carries can wait. Adding, subtracting
 * and merging are exact, so the rounded result does not depend on the order
 * or grouping of the operations: folding the same multiset of values in any
 * order, in any number of partial accumulators merged in any order, gives
 * the same bits. feat_accum_round() rounds to nearest, ties to even.
 *
 * Non-finite inputs must not be added (feat treats them as null).
 */
#ifndef FEAT_ACCUM_H
#define FEAT_ACCUM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "value.h"

#define FEAT_ACCUM_LIMBS 67

struct feat_accum {
	int64_t limb[FEAT_ACCUM_LIMBS];	/* limb i weighs 2^(32*i - 1074) */
	uint32_t pending;		/* operations since the last carry pass */
};

/* Sets the accumulator to zero. */
void feat_accum_init(struct feat_accum *a);

/* Adds d (finite) exactly. */
void feat_accum_add(struct feat_accum *a, double d);

/* Subtracts d (finite) exactly: the inverse of feat_accum_add(). */
void feat_accum_sub(struct feat_accum *a, double d);

/* Adds the whole of src into dst exactly. */
void feat_accum_merge(struct feat_accum *dst, const struct feat_accum *src);

/*
 * Returns the sum correctly rounded to a double (+-HUGE_VAL when it exceeds
 * the double range). Does not change the value held (it may normalise
 * carries, which is why a is not const).
 */
double feat_accum_round(struct feat_accum *a);

/* Returns 1 when the value held is exactly zero. */
int feat_accum_is_zero(struct feat_accum *a);

struct feat_buf;

/*
 * Appends the value held in its canonical form (feat-format(5)): the limbs
 * with their carries done, only those from the lowest to the highest
 * non-zero one. Equal values give equal bytes whatever produced them.
 * Returns 0 or -1 (out of memory).
 */
int feat_accum_encode(const struct feat_accum *a, struct feat_buf *b);

/* Sets a to the value encoded at *p (before end) and advances *p. Returns
 * 0, or -1 when the bytes are not such an encoding. */
int feat_accum_decode(struct feat_accum *a, const unsigned char **p,
		      const unsigned char *end);

/*
 * The fixed point. Sums of everyday doubles fit in far less than an
 * accumulator: a sum may be kept as a whole number of 2^-64 units in 128
 * bits for as long as every value added is such a number and no partial
 * sum overflows, and move into an accumulator, exactly, when one is not.
 * Both hold the exact sum and round it correctly, so the result is the
 * same bits either way.
 */

/*
 * d as a whole number of 2^-64 units, when it is one and below 2^62 in
 * magnitude (so below 2^126 units). Returns 1 and sets *x, or 0.
 */
static inline int feat_fix_of(double d, feat_i128 *x)
{
	uint64_t bits, mant;
	feat_i128 v;
	int e, sh;

	memcpy(&bits, &d, 8);
	e = (int)(bits >> 52 & 0x7ff);
	mant = bits & ((UINT64_C(1) << 52) - 1);
	if (!e) {
		if (mant)
			return 0;
		*x = 0;
		return 1;
	}
	mant |= UINT64_C(1) << 52;
	/* d = mant * 2^(e - 1075) = mant * 2^sh units */
	sh = e - 1075 + 64;
	if (sh >= 0) {
		if (sh > 126 - 53)
			return 0;
		v = (feat_i128)mant << sh;
	} else {
		if (sh < -52 || (mant & ((UINT64_C(1) << -sh) - 1)))
			return 0;
		v = (feat_i128)(mant >> -sh);
	}
	*x = bits >> 63 ? -v : v;
	return 1;
}

/* The fixed-point sum x, correctly rounded: the conversion from 128 bits
 * rounds to nearest, ties to even, and scaling by 2^-64 is exact (x is a
 * whole number of units, far above the subnormal range). */
static inline double feat_fix_round(feat_i128 x)
{
	return (double)x * 0x1p-64;
}

/* Adds the fixed-point value x (2^-64 units) exactly. */
void feat_accum_add_fix(struct feat_accum *a, feat_i128 x);

/* The value held as a fixed-point number, when it is one: returns 1 and
 * sets *x, or 0. */
int feat_accum_to_fix(struct feat_accum *a, feat_i128 *x);

/* Moves the fixed-point sum *x into a new accumulator, and sets *x to 0.
 * NULL: out of memory. */
struct feat_accum *feat_fix_widen(feat_i128 *x);

/*
 * A sum of doubles held in *x while *acc is NULL, then in *acc alone: adds
 * (sign 1) or subtracts (sign -1) d, widening when d or the result leaves
 * the fixed point. Returns 0, or -1 when out of memory.
 */
static inline int feat_fix_add(feat_i128 *x, struct feat_accum **acc,
			       double d, int sign)
{
	feat_i128 v, r;

	if (!*acc) {
		if (feat_fix_of(d, &v) &&
		    !(sign > 0 ? __builtin_add_overflow(*x, v, &r)
			       : __builtin_sub_overflow(*x, v, &r))) {
			*x = r;
			return 0;
		}
		*acc = feat_fix_widen(x);
		if (!*acc)
			return -1;
	}
	if (sign > 0)
		feat_accum_add(*acc, d);
	else
		feat_accum_sub(*acc, d);
	return 0;
}

#endif
