/*
 * serve.h - feat-serve-dump: every feature of every key as of a time.
 */
#ifndef FEAT_SERVE_H
#define FEAT_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"

struct feat_error;
struct feat_output;
struct feat_plan;

#define FEAT_SERVE_END INT64_MIN	/* "as of the end of input" */

/*
 * Reads the tile streams in tiles and writes, for each group_by among them
 * (in plan order; only_gb >= 0 selects one), one row per key (in key order)
 * with the value of every feature as of time at: over the key's events
 * strictly before at. With at == FEAT_SERVE_END, at is one millisecond
 * after the latest event of all the streams. CSV output needs a single
 * group_by. Returns 0, or -1 with err set.
 */
int feat_serve_dump(const struct feat_plan *plan, const char *const *tiles,
		    size_t ntiles, int64_t at, long only_gb,
		    struct feat_output *out, enum feat_out_format fmt,
		    struct feat_error *err);

/*
 * The live upsert stream: reads the tile streams as they grow and writes,
 * each time records of a later time come (and at the end of input), the
 * rows of the keys the records before changed, each as of 1 ms after its
 * latest event, in the order they were first changed. Every row equals
 * what feat_serve_dump() gives for its key at that time. The output is
 * flushed whenever an input would block. Returns 0, or -1 with err set.
 */
int feat_serve_follow(const struct feat_plan *plan, const char *const *tiles,
		      size_t ntiles, long only_gb, struct feat_output *out,
		      enum feat_out_format fmt, struct feat_error *err);

#endif
