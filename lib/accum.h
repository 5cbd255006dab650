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

#endif
