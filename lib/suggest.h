/*
 * suggest.h - "did you mean": the name a misspelling most likely meant.
 */
#ifndef FEAT_SUGGEST_H
#define FEAT_SUGGEST_H

#include <stddef.h>

/*
 * The candidate most likely meant by name[0..n), or NULL. The candidates
 * are ncands string pointers, stride bytes apart (so an array of structs
 * whose first member is the name works as well as an array of strings).
 * A case-insensitive match comes first, then the closest within two edits
 * (fewer than the name has characters), then a name the text starts.
 */
const char *feat_suggest(const char *name, size_t n, const char *const *cands,
			 size_t stride, size_t ncands);

#endif
