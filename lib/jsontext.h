/*
 * jsontext.h - small pieces of JSON text read without building a tree:
 * strings, arrays that become list values and objects that become map
 * values (in CSV cells and in JSON Lines events).
 */
#ifndef FEAT_JSONTEXT_H
#define FEAT_JSONTEXT_H

#include <stddef.h>

#include "buf.h"
#include "value.h"

/* The first byte at or after p that is not JSON whitespace (or end). */
const char *feat_json_skip_ws(const char *p, const char *end);

/*
 * Decodes a JSON string whose opening quote is just before *pp into tmp
 * (which is reset first; \u escapes become UTF-8). Returns 0 and moves *pp
 * past the closing quote, or -1 when the string is malformed.
 */
int feat_json_unescape(const char **pp, const char *end, struct feat_buf *tmp);

/*
 * Appends the packed form of the JSON array s[0..n) to out: for
 * FEAT_VECTOR, numbers as 8-byte little-endian doubles; for FEAT_STRLIST,
 * strings as varint length and bytes. tmp is scratch. Returns 0, or -1
 * when s is not such an array (out may then hold part of it).
 */
int feat_json_list(enum feat_type t, const char *s, size_t n,
		   struct feat_buf *out, struct feat_buf *tmp);

/*
 * Appends the packed form of the JSON object s[0..n), whose members are
 * numbers, to out as a FEAT_MAP (value.h): its entries sorted by key,
 * bytewise. A member whose value is null, or a number beyond the range
 * of a double, is left out: a map gives null for a key it does not hold
 * anyway. tmp is scratch. Returns 0; -1 when s is not such an object, and
 * -2 when a key appears twice (out may then hold part of it).
 */
int feat_json_map(const char *s, size_t n, struct feat_buf *out,
		  struct feat_buf *tmp);

#endif
