/*
 * tile.h - the tile stream, format version 1 (see feat-format(5)).
 *
 * A header names the plan (by hash) and the group_by; then come blocks, each
 * one zstd frame with a content checksum behind a small checksummed block
 * header; an end block closes the stream, so a stream cut short is detected
 * even at a block boundary. Records are tiles: in a stream of events, each
 * the finest tile, a single event (its key, time and aggregation inputs);
 * in a stream at a resolution R (feat-aggregate --resolution), the states
 * of every aggregation of one key over [start, start + R).
 *
 * The writer ends a block when it is full or when asked (feat_tile_writer_
 * flush, called when the input would block), so block boundaries follow the
 * input's timing but the records never do. A full block is compressed by a
 * thread of the writer's own while the next one fills, and written, in
 * order, once that one is full too or at the next flush; the bytes are the
 * same as with one thread. The reader is pushed bytes in any pieces and
 * pulls records one at a time.
 */
#ifndef FEAT_TILE_H
#define FEAT_TILE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "value.h"

struct feat_error;
struct feat_output;
struct feat_plan;

#define FEAT_TILE_VERSION 1
#define FEAT_TILE_BLOCK_MAX (1024 * 1024)	/* raw bytes per block, unless
						 * one record is larger */
#define FEAT_TILE_BLOCK_LIMIT (64 * 1024 * 1024)	/* what readers accept */

/* Appends the encoding of a value; decodes one (strings point into the
 * bytes). Return 0, or -1 (out of memory / malformed). */
int feat_tile_put_value(struct feat_buf *b, const struct feat_value *v);
int feat_tile_get_value(const unsigned char **p, const unsigned char *end,
			struct feat_value *v);

struct feat_tile_bg;

struct feat_tile_writer {
	struct feat_output *out;
	struct feat_buf raw;		/* the block being filled */
	struct feat_buf comp;
	void *cctx;
	size_t nrecords;		/* in the current block */
	uint64_t total;			/* in the stream */
	int64_t prev_ts;
	uint64_t prev_seq;
	int64_t resolution;		/* 0: events; else state records */
	struct feat_tile_bg *bg;	/* the thread compressing full blocks,
					 * once one has filled */
	int sync;			/* 1: compress every block in the
					 * calling thread (set after init) */
};

/*
 * Starts a stream of group_by gb of plan on out and writes its header.
 * Returns 0, or -1 with err set.
 */
int feat_tile_writer_init(struct feat_tile_writer *w, struct feat_output *out,
			  const struct feat_plan *plan, size_t gb,
			  struct feat_error *err);

/* The same for shard k (0-based) of n: the header says so (flag 1). */
int feat_tile_writer_init_shard(struct feat_tile_writer *w,
				struct feat_output *out,
				const struct feat_plan *plan, size_t gb,
				uint32_t k, uint32_t n, struct feat_error *err);

/*
 * The same for a stream of state records at resolution ms (> 0, one the
 * group_by allows: feat_group_by_resolution_ok), or of events (0); the
 * header says so (flag 2).
 */
int feat_tile_writer_init_res(struct feat_tile_writer *w,
			      struct feat_output *out,
			      const struct feat_plan *plan, size_t gb,
			      uint32_t k, uint32_t n, int64_t resolution,
			      struct feat_error *err);

/*
 * Appends a state record: the states (each aggregation's, encoded by
 * feat_aggop_encode, in plan order: slen bytes) of the encoded key over
 * [start, start + resolution), whose events (nevents of them) run from
 * time first to time last. Records go in order of (start, key bytes).
 * Returns 0, or -1 with err set.
 */
int feat_tile_write_state(struct feat_tile_writer *w, const void *key,
			  size_t klen, int64_t start, int64_t first,
			  int64_t last, uint64_t nevents, const void *states,
			  size_t slen, struct feat_error *err);

/*
 * Appends an event tile: the encoded key, the event time, its sequence
 * number (its place among the events of the run that read it, which
 * orders events of equal time) and the group_by's n input values.
 * Returns 0, or -1 with err set.
 */
int feat_tile_write_event(struct feat_tile_writer *w, const void *key,
			  size_t klen, int64_t ts, uint64_t seq,
			  const struct feat_value *inputs, size_t n,
			  struct feat_error *err);

/* Ends the current block (if any records) and flushes the output. */
int feat_tile_writer_flush(struct feat_tile_writer *w, struct feat_error *err);

/* Writes the last block and the end block. Returns 0 or -1. */
int feat_tile_writer_finish(struct feat_tile_writer *w, struct feat_error *err);

/* Stops the writer's thread and frees its memory (not its output). */
void feat_tile_writer_release(struct feat_tile_writer *w);

/*
 * A record: an event (kind 1) or the states of a key over an interval
 * (kind 2). For a state record ts is the interval's start, which orders
 * it among records: it holds no event before ts, and none at or after
 * the start of the next interval.
 */
struct feat_tile_rec {
	int kind;			/* 1: event, 2: states */
	const unsigned char *key;	/* encoded key; valid until next pull */
	size_t klen;
	uint64_t hash;			/* feat_hash_bytes() of the key */
	int64_t ts;
	uint64_t seq;			/* orders events of equal ts */
	struct feat_value *inputs;	/* ninputs values (events) */
	size_t ninputs;
	int64_t first, last;		/* the times of its earliest and latest
					 * events */
	uint64_t nevents;		/* how many events it holds */
	const unsigned char *states;	/* state records: the encoded states */
	size_t states_len;
	/* A later record of the stream, or NULL: a hint for readers that
	 * fetch memory ahead (valid until the next pull). */
	const struct feat_tile_rec *ahead;
};

/* Records a reader decodes ahead of the one pulled (within a block). */
#define FEAT_TILE_AHEAD 8

/* Compares the keys of two records as byte strings: -1, 0, 1. */
static inline int feat_tile_key_cmp(const struct feat_tile_rec *a,
				    const struct feat_tile_rec *b)
{
	size_t n = a->klen < b->klen ? a->klen : b->klen;
	int c = n ? memcmp(a->key, b->key, n) : 0;

	return c ? (c < 0 ? -1 : 1) : (a->klen > b->klen) - (a->klen < b->klen);
}

/*
 * 1 when record a, the head of one input of a merge, goes before b, the
 * head of a later input: by time; at equal times by sequence number when
 * the inputs are key shards of one run (by_seq: their numbers count the
 * same rows), else the earlier input first (pieces of a log, in order).
 * Either way each key keeps its input order, and shards merge into the
 * very stream one run writes.
 */
static inline int feat_tile_rec_before(const struct feat_tile_rec *a,
				       const struct feat_tile_rec *b,
				       int by_seq)
{
	if (a->ts != b->ts)
		return a->ts < b->ts;
	/* State records of one start go by key; equal keys, input order. */
	if (a->kind == 2 && b->kind == 2)
		return feat_tile_key_cmp(a, b) < 0;
	return by_seq && a->seq < b->seq;
}

struct feat_tile_reader {
	char *name;
	uint64_t hash;			/* the plan's */
	const struct feat_plan *plan;
	long group_by;			/* from the header; -1 until read */
	uint32_t shard, nshards;	/* from the header; nshards 0: whole */
	int64_t resolution;		/* from the header; 0: events */
	int state;			/* header, blocks, ended */
	struct feat_buf in;		/* bytes not yet consumed */
	size_t in_off;
	struct feat_buf block;		/* the decompressed current block */
	const unsigned char *bp;	/* the block records are decoded from:
					 * block's, or one taken */
	size_t blen;
	size_t block_off;
	size_t block_left;		/* records left in the block */
	int64_t prev_ts;
	uint64_t prev_seq;
	uint64_t total;
	void *dctx;
	struct feat_value *vals;	/* [FEAT_TILE_AHEAD * (most inputs + 1)] */
	size_t nvals;
	int eof;
	/* decoded records not yet pulled: a ring */
	struct feat_tile_rec ahead[FEAT_TILE_AHEAD];
	size_t ahead_head, ahead_n;
	int ahead_bad;			/* the record after them is corrupted */
};

/* Starts a reader for a stream called name that must belong to plan. */
int feat_tile_reader_init(struct feat_tile_reader *r, const char *name,
			  const struct feat_plan *plan, struct feat_error *err);

/* Gives the reader n more bytes. Returns 0 or -1. */
int feat_tile_reader_feed(struct feat_tile_reader *r, const void *p, size_t n,
			  struct feat_error *err);

/* Tells the reader that no more bytes will come. */
void feat_tile_reader_eof(struct feat_tile_reader *r);

/*
 * Pulls the next record into *rec. Returns 1 with a record, 0 when more
 * bytes are needed (or, after the end block, when the stream is done:
 * feat_tile_reader_done()), -1 on a malformed, foreign or truncated stream
 * with err set.
 */
int feat_tile_reader_next(struct feat_tile_reader *r,
			  struct feat_tile_rec *rec, struct feat_error *err);

/* 1 when the end block has been read. */
static inline int feat_tile_reader_done(const struct feat_tile_reader *r)
{
	return r->state == 2;
}

void feat_tile_reader_release(struct feat_tile_reader *r);

/*
 * Reading a stream in two parts, each in a thread of its own: a framer
 * (fed bytes) reads the header and the blocks, decompressed; readers like
 * it take the blocks and decode their records.
 *
 * feat_tile_reader_header() returns 1 once the header is read, 0 when it
 * needs more bytes, -1 with err set. feat_tile_reader_block() reads the
 * next block into blk (its records' count in *count) and returns 1, or 2
 * at the end block, 0 when it needs more bytes, -1 with err set.
 *
 * feat_tile_reader_like() makes r (initialised, never fed) read the
 * stream framer reads, whose header has been read. feat_tile_reader_take()
 * gives it a block of count records, which must stay put until its last
 * record has been pulled; feat_tile_reader_next() returns 0 after it.
 */
int feat_tile_reader_header(struct feat_tile_reader *r, struct feat_error *err);
int feat_tile_reader_block(struct feat_tile_reader *r, struct feat_buf *blk,
			   uint32_t *count, struct feat_error *err);
void feat_tile_reader_like(struct feat_tile_reader *r,
			   const struct feat_tile_reader *framer);
void feat_tile_reader_take(struct feat_tile_reader *r, const void *p,
			   size_t len, uint32_t count);

/*
 * Returns 0 when streams a and b (headers read) hold tiles of the same
 * resolution, which readers that apply records as they come (joins, the
 * online view) need: a coarser tile would otherwise go before finer ones
 * of earlier events. Else -1 with err saying so.
 */
int feat_tile_same_resolution(const struct feat_tile_reader *a,
			      const struct feat_tile_reader *b,
			      struct feat_error *err);

/*
 * 1 when the n readers (headers read) are shards of one run: each says it
 * is a shard of the same count. Their records then merge by sequence.
 */
int feat_tile_readers_shards(struct feat_tile_reader *const *r, size_t n);

#endif
