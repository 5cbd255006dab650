/*
 * backfill.h - feat-backfill: training sets for a range of days.
 *
 * Layout under root (feat-backfill(1)):
 *   events/<source>/YYYY-MM-DD.csv   events whose time falls on that UTC day
 *   left/YYYY-MM-DD.csv              left rows of that day
 *   tiles/<group_by>/YYYY-MM-DD.tiles  the tile cache (written here)
 *   <out>/YYYY-MM-DD.csv (or .jsonl)   the result for the day
 */
#ifndef FEAT_BACKFILL_H
#define FEAT_BACKFILL_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"

struct feat_error;
struct feat_plan;

struct feat_backfill_opts {
	const char *root;
	const char *out_dir;		/* NULL: <root>/training */
	int64_t from, to;		/* days since the epoch, inclusive */
	int force;			/* recompute days already written */
	int jobs;			/* days computed at once */
	enum feat_out_format fmt;
	/* Called after each day with a line for the user (may be NULL). */
	void (*progress)(void *ctx, const char *line);
	/* Called with what must not pass unseen: late events, a worker's
	 * error (may be NULL). */
	void (*warn)(void *ctx, const char *line);
	void *ctx;
};

struct feat_backfill_stats {
	uint64_t days_written, days_skipped, days_empty;
	uint64_t tiles_built, tiles_reused;
};

/*
 * Computes every day of [from, to]: the day's left rows joined, per
 * feat_join_run(), with tiles of all the events the day's windows can
 * reach, each output written atomically. Returns 0, or -1 with err set.
 */
int feat_backfill_run(const struct feat_plan *plan,
		      const struct feat_backfill_opts *opts,
		      struct feat_backfill_stats *stats,
		      struct feat_error *err);

#endif
