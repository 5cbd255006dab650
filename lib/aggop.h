/*
 * aggop.h - the state of one aggregation over a set of events, for every
 * operation: start empty, fold values in, merge a later state in, read
 * the result.
 *
 * Values arrive as 64-bit words: integers, times and bools as int64, doubles
 * as their bits, strings as ids in a string map (so equal strings are equal
 * words). Merging is in time order: merge(dst, src) requires src's events to
 * come after dst's, which is how tiles and window buckets are combined; it
 * is associative, so any grouping of the same sequence gives the same state
 * and the same bits. Sums of doubles use the exact accumulator.
 *
 * Results of list and map operations are JSON text appended to a caller's
 * buffer (FEAT_JSON values).
 */
#ifndef FEAT_AGGOP_H
#define FEAT_AGGOP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hash.h"
#include "plan.h"
#include "value.h"

struct feat_agg;
struct feat_buf;
struct feat_keymap;

struct feat_astate {
	int64_t n;		/* values folded (events for count(*)) */
	uint64_t a, b;		/* op-specific words */
	struct feat_accum *s1;	/* exact sum (sum, avg, var, stddev) */
	struct feat_accum *s2;	/* exact sum of squares (var, stddev) */
	void *ext;		/* op-specific structure (lists, sets, sketches) */
};

/* What operations need to read words: the interned strings. */
struct feat_aggctx {
	const struct feat_keymap *strings;
};

/* Sets s to the empty state. Returns 0 or -1 (out of memory). */
int feat_aggop_init(const struct feat_agg *a, struct feat_astate *s);

/* Empties s, keeping its memory. */
void feat_aggop_reset(const struct feat_agg *a, struct feat_astate *s);

/* Frees what s holds. */
void feat_aggop_release(const struct feat_agg *a, struct feat_astate *s);

/*
 * Folds one non-null value (as a word of type a->in_type) into s; for
 * count(*) the word is ignored. With "by", bw is the (non-null) bucket's
 * word. Returns 0 or -1 (out of memory).
 */
int feat_aggop_add(const struct feat_agg *a, const struct feat_aggctx *ctx,
		   struct feat_astate *s, uint64_t w, uint64_t bw);

/* Merges src, whose events all come after dst's, into dst. 0 or -1. */
int feat_aggop_merge(const struct feat_agg *a, const struct feat_aggctx *ctx,
		     struct feat_astate *dst, const struct feat_astate *src);

/*
 * Writes the result into *out. Strings point into the string map; JSON
 * results are appended to json, and out->u.s.ptr holds their OFFSET in
 * json (cast to a pointer) until the caller fixes it up, since json may
 * move while further results are appended. Returns 0 or -1.
 */
int feat_aggop_result(const struct feat_agg *a, const struct feat_aggctx *ctx,
		      const struct feat_astate *s, struct feat_value *out,
		      struct feat_buf *json);

/*
 * Folds an event's input word w (bucket word bw) into s, as
 * feat_aggop_add(), except that with "explode" w names a list whose
 * elements are folded one by one (their strings interned in strings).
 * Returns 0 or -1 (out of memory).
 */
int feat_aggop_feed(const struct feat_agg *a, struct feat_keymap *strings,
		    struct feat_astate *s, uint64_t w, uint64_t bw);

/*
 * Appends the tile encoding of s (feat-format(5)): canonical, so that
 * states of the same events encode to the same bytes. Returns 0 or -1
 * (out of memory).
 */
int feat_aggop_encode(const struct feat_agg *a, const struct feat_aggctx *ctx,
		      const struct feat_astate *s, struct feat_buf *b);

/*
 * Sets s (initialised by feat_aggop_init) to the state encoded at *p,
 * interning its strings in strings, and advances *p. Returns 0, -1 when
 * the bytes are not a valid encoding, or -2 when out of memory.
 */
int feat_aggop_decode(const struct feat_agg *a, struct feat_keymap *strings,
		      struct feat_astate *s, const unsigned char **p,
		      const unsigned char *end);

/* 1 when an operation keeps nothing but a count and exact sums, i.e.
 * events can also be taken out of it (count, sum, avg). */
int feat_aggop_invertible(const struct feat_agg *a);

/* The word of a value of type t (strings must already be ids). */
uint64_t feat_word_of(const struct feat_value *v);

/*
 * The word of an event's value v into *w: a string, list or map interned
 * in strings, a double as its bits, anything else as its integer (null:
 * 0). Returns 0, or -1 when out of memory.
 */
static inline int feat_word_intern(struct feat_keymap *strings,
				   const struct feat_value *v, uint64_t *w)
{
	long id;

	switch (v->type) {
	case FEAT_NULL:
		*w = 0;
		return 0;
	case FEAT_DOUBLE:
		memcpy(w, &v->u.d, 8);
		return 0;
	case FEAT_STRING:
	case FEAT_VECTOR:
	case FEAT_STRLIST:
	case FEAT_MAP:
		id = feat_keymap_intern(strings, v->u.s.ptr, v->u.s.len, NULL);
		*w = (uint64_t)id;
		return id < 0 ? -1 : 0;
	default:
		*w = (uint64_t)v->u.i;
		return 0;
	}
}

/* 1 when an event whose null inputs are the bits of mask does not count
 * for a: its input, or its "by" bucket, is null. */
static inline int feat_agg_skips(const struct feat_agg *a, uint64_t mask)
{
	return (a->input >= 0 && (mask >> a->input & 1)) ||
	       (a->by >= 0 && (mask >> a->by & 1));
}

/* Compares two words of type t: -1, 0, 1. */
int feat_word_cmp(const struct feat_aggctx *ctx, enum feat_type t, uint64_t x,
		  uint64_t y);

/* The value of a word of type t. */
void feat_word_value(const struct feat_aggctx *ctx, enum feat_type t,
		     uint64_t w, struct feat_value *v);

#endif
