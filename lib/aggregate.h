/*
 * aggregate.h - feat-aggregate: events to tiles, and tile streams merged.
 */
#ifndef FEAT_AGGREGATE_H
#define FEAT_AGGREGATE_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"

struct feat_error;
struct feat_output;
struct feat_plan;

struct feat_aggregate_stats {
	uint64_t rows;		/* data rows read */
	uint64_t filtered;	/* skipped by "where" */
	uint64_t late;		/* excluded as late */
	uint64_t tiles;		/* records written */
	int64_t first_late_line;	/* where the first late row was */
	char first_late_file[256];
};

/*
 * Reads the CSV events in the files of inputs ("-": stdin), one stream in
 * that order, applies the group_by's where and select, keys the rows and
 * writes the tile stream (or its text form) to out. Late events (DESIGN §3)
 * are excluded, counted and, when late is not NULL, written there as CSV
 * with the file's header. Returns 0, or -1 with err set; out is flushed but
 * not committed.
 */
int feat_aggregate_events(const struct feat_plan *plan, size_t gb,
			  const char *const *inputs, size_t ninputs,
			  struct feat_output *out, enum feat_out_format fmt,
			  struct feat_output *late,
			  struct feat_aggregate_stats *stats,
			  struct feat_error *err);

/*
 * Like feat_aggregate_events(), writing only the keys of shard k of n
 * (0 <= k < n): those whose feat_key_shard() is k. Every event still
 * moves the watermark, so each shard excludes exactly the late events a
 * single run would: the shards' streams merged equal the whole.
 */
int feat_aggregate_events_shard(const struct feat_plan *plan, size_t gb,
				const char *const *inputs, size_t ninputs,
				uint32_t k, uint32_t n, struct feat_output *out,
				enum feat_out_format fmt,
				struct feat_output *late,
				struct feat_aggregate_stats *stats,
				struct feat_error *err);

/*
 * Like feat_aggregate_events_shard() (n 1: every key), writing at
 * resolution ms (> 0) state records, the states of each key over each
 * interval [start, start + resolution) that has events, instead of the
 * events themselves (0). The group_by must allow the resolution
 * (feat_group_by_resolution_ok).
 */
int feat_aggregate_events_res(const struct feat_plan *plan, size_t gb,
			      const char *const *inputs, size_t ninputs,
			      uint32_t k, uint32_t n, int64_t resolution,
			      struct feat_output *out, enum feat_out_format fmt,
			      struct feat_output *late,
			      struct feat_aggregate_stats *stats,
			      struct feat_error *err);

/* The shard of an encoded key among n: FNV-1a 64 of its bytes mod n
 * (specified in feat-format(5), so shards agree across machines). */
uint32_t feat_key_shard(const void *key, size_t klen, uint32_t n);

/*
 * Merges tile streams of one group_by (files in inputs, "-": stdin) into
 * one, in time order (ties: the order of inputs). Returns 0 or -1.
 */
int feat_aggregate_merge(const struct feat_plan *plan,
			 const char *const *inputs, size_t ninputs,
			 struct feat_output *out, enum feat_out_format fmt,
			 struct feat_aggregate_stats *stats,
			 struct feat_error *err);

/*
 * Like feat_aggregate_merge(), re-tiling at resolution ms: events and state
 * records of every input whose resolution divides it are folded into state
 * records of that resolution. With -1, the coarsest input's resolution.
 * Tiles never get finer: an input whose resolution does not divide the
 * one asked for is an error.
 */
int feat_aggregate_merge_res(const struct feat_plan *plan,
			     const char *const *inputs, size_t ninputs,
			     int64_t resolution, struct feat_output *out,
			     enum feat_out_format fmt,
			     struct feat_aggregate_stats *stats,
			     struct feat_error *err);

#endif
