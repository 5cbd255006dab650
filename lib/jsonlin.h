/*
 * jsonlin.h - reading JSON Lines events: one object per line, columns
 * taken by path ("context.page" is member page of member context).
 *
 * Like csvin.h: bytes are pushed in any pieces, rows leave through the
 * same callback as typed values. Missing members and JSON null are null.
 * Values are picked out of the text without building a tree, so nothing
 * is allocated per row once the buffers have grown.
 */
#ifndef FEAT_JSONLIN_H
#define FEAT_JSONLIN_H

#include "csvin.h"

struct feat_jsonl;

struct feat_jsonl *feat_jsonl_new(const struct feat_source *src,
				  const char *file, feat_csv_row_fn fn,
				  void *ctx);
int feat_jsonl_feed(struct feat_jsonl *r, const void *p, size_t n,
		    struct feat_error *err);
int feat_jsonl_finish(struct feat_jsonl *r, struct feat_error *err);
/* The column names (paths), in declared order. */
size_t feat_jsonl_header(const struct feat_jsonl *r, const char *const **names);
void feat_jsonl_free(struct feat_jsonl *r);

#endif
