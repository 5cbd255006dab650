/*
 * rowin.h - rows of a source, whatever its format (CSV or JSON Lines).
 */
#ifndef FEAT_ROWIN_H
#define FEAT_ROWIN_H

#include "csvin.h"

struct feat_rows;

/* A reader for src's format; NULL when out of memory. */
struct feat_rows *feat_rows_new(const struct feat_source *src,
				const char *file, feat_csv_row_fn fn,
				void *ctx);
int feat_rows_feed(struct feat_rows *r, const void *p, size_t n,
		   struct feat_error *err);
int feat_rows_finish(struct feat_rows *r, struct feat_error *err);
/* The names of the row's fields (CSV: the header; JSON Lines: columns). */
size_t feat_rows_header(const struct feat_rows *r, const char *const **names);
void feat_rows_free(struct feat_rows *r);

#endif
