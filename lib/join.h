/*
 * join.h - feat-asof-join: point-in-time feature values for left rows.
 */
#ifndef FEAT_JOIN_H
#define FEAT_JOIN_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"

struct feat_error;
struct feat_output;
struct feat_plan;

struct feat_join_stats {
	uint64_t rows;		/* left rows read */
	uint64_t late;		/* left rows excluded as late */
	uint64_t events;	/* tiles applied */
};

/*
 * Joins the left rows of the file left ("-": stdin) with the tile streams
 * in tiles and writes one output row per left row, in left order, to out.
 * A left row at time T gets, for each feature, the value over its key's
 * events strictly before T. Output rows leave as soon as they are final.
 * threads bounds the threads that answer the rows of a join of one
 * group_by once the left input has ended (0: one per CPU, at most 4; 1:
 * the calling thread alone); the output is the same bytes whatever it is.
 * Returns 0, or -1 with err set; out is flushed but not committed.
 */
int feat_join_run(const struct feat_plan *plan, const char *left,
		  const char *const *tiles, size_t ntiles,
		  struct feat_output *out, enum feat_out_format fmt,
		  unsigned threads, struct feat_join_stats *stats,
		  struct feat_error *err);

#endif
