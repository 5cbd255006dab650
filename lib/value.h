/*
 * value.h - typed values, the unit every row, expression and aggregation
 * works with, and the text forms of numbers.
 *
 * A struct feat_value is a tagged union. Strings are not owned: ptr/len point
 * into a row buffer, an arena or a literal that outlives the value's use.
 */
#ifndef FEAT_VALUE_H
#define FEAT_VALUE_H

#include <stddef.h>
#include <stdint.h>

enum feat_type {
	FEAT_NULL = 0,		/* the type of the literal null; a value's null tag */
	FEAT_BOOL,
	FEAT_INT,		/* int64 */
	FEAT_DOUBLE,
	FEAT_STRING,
	FEAT_TIMESTAMP,		/* int64 milliseconds since the epoch, UTC */
	FEAT_JSON,		/* a list or map, as JSON text in u.s (outputs) */
	FEAT_VECTOR,		/* list<double>: u.s holds the doubles, 8 bytes
				 * little-endian each (an embedding) */
	FEAT_STRLIST,		/* list<string>: u.s holds each string as a
				 * varint length and its bytes */
	FEAT_MAP,		/* map<string,double>: u.s holds the entries
				 * in increasing bytewise order of their
				 * distinct keys, each a varint key length,
				 * the key's bytes and the value as 8 bytes
				 * little-endian (always finite) */
};

struct feat_value {
	enum feat_type type;	/* FEAT_NULL when the value is null */
	union {
		int64_t i;	/* FEAT_BOOL (0/1), FEAT_INT, FEAT_TIMESTAMP */
		double d;	/* FEAT_DOUBLE; always finite */
		struct {
			const char *ptr;
			size_t len;
		} s;		/* FEAT_STRING, FEAT_JSON, FEAT_VECTOR,
				 * FEAT_STRLIST, FEAT_MAP */
	} u;
};

/* A 128-bit integer: sums of int64 values that cannot overflow. */
__extension__ typedef __int128 feat_i128;

/*
 * Sets *v to an int sum if it fits int64, to null otherwise (an int sum
 * beyond int64 is no number, as a double sum beyond the doubles is not).
 */
static inline void feat_i128_value(feat_i128 s, struct feat_value *v)
{
	if (s > INT64_MAX || s < INT64_MIN) {
		v->type = FEAT_NULL;
	} else {
		v->type = FEAT_INT;
		v->u.i = (int64_t)s;
	}
}

/*
 * Returns "bool", "int", "double", "string", "timestamp", "json",
 * "list<double>", "list<string>", "map<string,double>" or "null".
 */
const char *feat_type_name(enum feat_type t);

/*
 * Steps through the elements of a list or map value v (FEAT_VECTOR,
 * FEAT_STRLIST or FEAT_MAP): *off is 0 for the first call, and is moved
 * past each element. Returns 1 with the element in *elem (a double or a
 * string pointing into v) and, for a map, its key in *key (a string; key
 * may be NULL otherwise); 0 after the last element; -1 when the bytes at
 * *off are not an element (a truncated or corrupted value) or v is of
 * another type.
 */
int feat_elem_next(const struct feat_value *v, size_t *off,
		   struct feat_value *key, struct feat_value *elem);

/*
 * Parses a whole decimal integer (optional sign). Returns 0, or -1 when the
 * text is not one or does not fit in int64.
 */
int feat_parse_int(const char *s, size_t n, int64_t *out);

/*
 * Parses a whole decimal or scientific double (also "nan", "inf" spellings).
 * Returns 0, or -1 when the text is not a number. White space anywhere and
 * hexadecimal floats are refused. Out-of-range text gives +-inf or 0 (the
 * caller treats non-finite values as null). Correctly rounded.
 */
int feat_parse_double(const char *s, size_t n, double *out);

/* Parses true/false (also 1/0, case-insensitive). Returns 0 or -1. */
int feat_parse_bool(const char *s, size_t n, int *out);

/* Longest text feat_fmt_double() and feat_fmt_int() write, without NUL. */
#define FEAT_NUMBUF 32

/*
 * Writes the shortest decimal text that reads back (strtod) as exactly d,
 * without a NUL, and returns its length. buf must hold FEAT_NUMBUF bytes.
 * d must be finite. The text is a pure function of d's bits:
 *   - integral values with |d| < 2^53 print as integers, without a
 *     fraction or exponent ("3", "1000000000000000", not "1e+15");
 *   - -0.0 prints "-0" (so that it reads back as -0.0);
 *   - anything else prints as %.Pg with the smallest P in 1..17 whose text
 *     reads back as d: "0.1", "2.5", "0.30000000000000004", "2.5e-07",
 *     "1e+21", "5e-324" (C's %g: exponent when it is < -4 or >= P, with a
 *     sign and at least two digits).
 */
size_t feat_fmt_double(char *buf, double d);

/* Writes v in decimal without a NUL and returns the length. */
size_t feat_fmt_int(char *buf, int64_t v);

#endif
