/*
 * rowin.c - one reader interface over csvin.c and jsonlin.c.
 */
#include <stdlib.h>

#include "jsonlin.h"
#include "plan.h"
#include "rowin.h"

struct feat_rows {
	struct feat_csv *csv;
	struct feat_jsonl *jsonl;
};

struct feat_rows *feat_rows_new(const struct feat_source *src,
				const char *file, feat_csv_row_fn fn,
				void *ctx)
{
	struct feat_rows *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	if (src->fmt.jsonl)
		r->jsonl = feat_jsonl_new(src, file, fn, ctx);
	else
		r->csv = feat_csv_new(src, file, fn, ctx);
	if (!r->csv && !r->jsonl) {
		free(r);
		return NULL;
	}
	return r;
}

int feat_rows_feed(struct feat_rows *r, const void *p, size_t n,
		   struct feat_error *err)
{
	return r->csv ? feat_csv_feed(r->csv, p, n, err)
		      : feat_jsonl_feed(r->jsonl, p, n, err);
}

int feat_rows_finish(struct feat_rows *r, struct feat_error *err)
{
	return r->csv ? feat_csv_finish(r->csv, err)
		      : feat_jsonl_finish(r->jsonl, err);
}

size_t feat_rows_header(const struct feat_rows *r, const char *const **names)
{
	return r->csv ? feat_csv_header(r->csv, names)
		      : feat_jsonl_header(r->jsonl, names);
}

void feat_rows_free(struct feat_rows *r)
{
	if (!r)
		return;
	feat_csv_free(r->csv);
	feat_jsonl_free(r->jsonl);
	free(r);
}
