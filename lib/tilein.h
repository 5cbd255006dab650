/*
 * tilein.h - tile streams read from files or pipes, one record at a time.
 *
 * Couples an input with a tile reader: feat_tilein_peek() returns the next
 * record, reading (and blocking) only when the reader has nothing decoded.
 * Before it blocks it calls the owner's flush hook, so that output which is
 * already final leaves before the program waits on a live input.
 */
#ifndef FEAT_TILEIN_H
#define FEAT_TILEIN_H

#include "io.h"
#include "tile.h"

struct feat_tilein {
	struct feat_input in;
	struct feat_tile_reader rd;
	struct feat_tile_rec rec;
	int have;			/* rec holds the next record */
	int done;			/* the stream has ended */
};

typedef int (*feat_flush_fn)(void *ctx, struct feat_error *err);

/* Opens path ("-": stdin) as a tile stream of plan. 0 or -1. */
int feat_tilein_open(struct feat_tilein *t, const char *path,
		     const struct feat_plan *plan, struct feat_error *err);

/*
 * Makes the next record available in t->rec (t->have = 1) or finds the end
 * (t->done = 1). Returns 0, or -1 with err set. The header has been read
 * once this returns, so t->rd.group_by is known.
 */
int feat_tilein_peek(struct feat_tilein *t, feat_flush_fn flush, void *ctx,
		     struct feat_error *err);

/* Pulls the next record the reader has decoded into t->rec (t->have =
 * 1): 1, or 0 when it needs more (bytes, or a block), -1 with err set. */
static inline int feat_tilein_next(struct feat_tilein *t,
				   struct feat_error *err)
{
	int got = feat_tile_reader_next(&t->rd, &t->rec, err);

	if (got > 0)
		t->have = 1;
	return got;
}

/* Reads the stream's header (so that t->rd.group_by is known). 0 or -1. */
int feat_tilein_header(struct feat_tilein *t, struct feat_error *err);

/*
 * Reads the next block, decompressed, into blk for readers like t->rd to
 * decode (feat_tile_reader_take()): returns 1 with *count its records, or
 * 0 at the end of the stream (t->done = 1), -1 with err set. Calls flush
 * as feat_tilein_peek() does. Not to be mixed with feat_tilein_peek().
 */
int feat_tilein_block(struct feat_tilein *t, struct feat_buf *blk,
		      uint32_t *count, feat_flush_fn flush, void *ctx,
		      struct feat_error *err);

/* Consumes the record in t->rec. */
static inline void feat_tilein_pop(struct feat_tilein *t)
{
	t->have = 0;
}

void feat_tilein_close(struct feat_tilein *t);

#endif
