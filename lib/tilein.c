/*
 * tilein.c - pulling records from tile stream inputs.
 */
#include <string.h>

#include "error.h"
#include "tilein.h"

int feat_tilein_open(struct feat_tilein *t, const char *path,
		     const struct feat_plan *plan, struct feat_error *err)
{
	memset(t, 0, sizeof(*t));
	if (feat_input_open(&t->in, path, err) < 0)
		return -1;
	if (feat_tile_reader_init(&t->rd, t->in.name, plan, err) < 0) {
		feat_input_close(&t->in);
		return -1;
	}
	return 0;
}

/* Reads more bytes into the reader: 0, or -1 with err set. */
static int fill(struct feat_tilein *t, feat_flush_fn flush, void *ctx,
		struct feat_error *err)
{
	ssize_t n;

	if (t->in.eof)
		return feat_error_set(err, t->in.name, 0, 0, "truncated tile stream");
	if (flush && !feat_input_ready(&t->in) && flush(ctx, err) < 0)
		return -1;
	n = feat_input_read(&t->in, err);
	if (n < 0)
		return -1;
	if (n == 0)
		feat_tile_reader_eof(&t->rd);
	else if (feat_tile_reader_feed(&t->rd, t->in.buf, (size_t)n, err) < 0)
		return -1;
	return 0;
}

/* After the end block: nothing may follow it. 0 or -1. */
static int at_end(struct feat_tilein *t, struct feat_error *err)
{
	if (!t->in.eof) {
		ssize_t n = feat_input_read(&t->in, err);

		if (n < 0)
			return -1;
		if (n > 0)
			return feat_error_set(err, t->in.name, 0, 0,
					      "bytes after the end of the tile stream");
	}
	t->done = 1;
	return 0;
}

int feat_tilein_peek(struct feat_tilein *t, feat_flush_fn flush, void *ctx,
		     struct feat_error *err)
{
	while (!t->have && !t->done) {
		int got = feat_tilein_next(t, err);

		if (got < 0)
			return -1;
		if (got > 0)
			break;
		if (feat_tile_reader_done(&t->rd))
			return at_end(t, err);
		if (fill(t, flush, ctx, err) < 0)
			return -1;
	}
	return 0;
}

int feat_tilein_header(struct feat_tilein *t, struct feat_error *err)
{
	for (;;) {
		int got = feat_tile_reader_header(&t->rd, err);

		if (got)
			return got < 0 ? -1 : 0;
		if (fill(t, NULL, NULL, err) < 0)
			return -1;
	}
}

int feat_tilein_block(struct feat_tilein *t, struct feat_buf *blk,
		      uint32_t *count, feat_flush_fn flush, void *ctx,
		      struct feat_error *err)
{
	for (;;) {
		int got = feat_tile_reader_block(&t->rd, blk, count, err);

		if (got < 0)
			return -1;
		if (got == 2)
			return at_end(t, err);
		if (got == 1)
			return 1;
		if (fill(t, flush, ctx, err) < 0)
			return -1;
	}
}

void feat_tilein_close(struct feat_tilein *t)
{
	feat_tile_reader_release(&t->rd);
	feat_input_close(&t->in);
}
