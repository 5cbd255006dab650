/*
 * jsonpos.h - where each value of a JSON text starts, by JSON pointer.
 *
 * jansson gives values without positions; definitions need errors that point
 * at the line and column of the offending value. This scanner walks the text
 * once more and records, for every value, its pointer ("/group_bys/x/where",
 * RFC 6901 escaping) and the 1-based line and column of its first character
 * and of its member name. It trusts that jansson has accepted the text.
 */
#ifndef FEAT_JSONPOS_H
#define FEAT_JSONPOS_H

#include <stddef.h>

struct feat_jsonpos_ent {
	char *ptr;
	long line, col;		/* the value */
	size_t off;		/* its byte offset in the text */
	long key_line, key_col;	/* the member name; 0 for array elements */
};

struct feat_jsonpos {
	struct feat_jsonpos_ent *ents;
	size_t n, cap;
};

/* Indexes text. Returns 0, or -1 when out of memory. */
int feat_jsonpos_scan(struct feat_jsonpos *jp, const char *text, size_t len);

/* The entry for a pointer, or NULL. */
const struct feat_jsonpos_ent *feat_jsonpos_find(const struct feat_jsonpos *jp,
						 const char *ptr);

/* Frees the index. */
void feat_jsonpos_release(struct feat_jsonpos *jp);

#endif
