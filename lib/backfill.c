/*
 * backfill.c - running aggregate and join over date partitions.
 *
 * For a day D, a group_by whose longest window is W needs the events from
 * floor((D*86400000 - W) / 86400000) to D (and every day on record when a
 * window is unbounded). Each event partition becomes a cached tile file the
 * first time a day needs it; the join then reads the day's left file and
 * those tile files, so the result is exactly feat-asof-join of that day.
 * Days run in forked workers when jobs > 1; cache files are written
 * atomically, so two workers building the same one is harmless.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aggregate.h"
#include "backfill.h"
#include "buf.h"
#include "error.h"
#include "io.h"
#include "join.h"
#include "plan.h"
#include "tile.h"

#define DAY_MS 86400000LL

static int exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static int mkdirs(const char *path, struct feat_error *err)
{
	char tmp[4096];
	char *p;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return feat_error_set(err, path, 0, 0, "path too long");
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0777) < 0 && errno != EEXIST)
			return feat_error_errno(err, errno, "cannot create directory '%s'", tmp);
		*p = '/';
	}
	if (mkdir(tmp, 0777) < 0 && errno != EEXIST)
		return feat_error_errno(err, errno, "cannot create directory '%s'", tmp);
	return 0;
}

/* Is a newer than b? (A changed event partition makes its cache stale.) */
static int newer(const char *a, const char *b)
{
	struct stat sa, sb;

	if (!*a || stat(a, &sa) < 0 || stat(b, &sb) < 0)
		return 0;
	return sa.st_mtim.tv_sec > sb.st_mtim.tv_sec ||
	       (sa.st_mtim.tv_sec == sb.st_mtim.tv_sec &&
		sa.st_mtim.tv_nsec > sb.st_mtim.tv_nsec);
}

/* The earliest day with an event partition of source, or INT64_MAX. */
static int64_t earliest_day(const char *root, const char *source)
{
	char dir[4096];
	DIR *d;
	struct dirent *e;
	int64_t best = INT64_MAX;

	snprintf(dir, sizeof(dir), "%s/events/%s", root, source);
	d = opendir(dir);
	if (!d)
		return best;
	while ((e = readdir(d)) != NULL) {
		char date[11];
		int64_t day;

		if (strlen(e->d_name) != 14 || strcmp(e->d_name + 10, ".csv"))
			continue;
		memcpy(date, e->d_name, 10);
		date[10] = '\0';
		if (feat_date_parse(date, &day) == 0 && day < best)
			best = day;
	}
	closedir(d);
	return best;
}

/* Is the cached tile file usable: written by this plan, complete? Only the
 * header and the end are checked; the join checks every block it reads. */
static int cache_ok(const struct feat_plan *plan, const char *path)
{
	struct feat_tile_reader rd;
	struct feat_tile_rec rec;
	struct feat_error err;
	FILE *f = fopen(path, "rb");
	unsigned char buf[4096];
	size_t n;
	int got = -1;

	if (!f)
		return 0;
	if (feat_tile_reader_init(&rd, path, plan, &err) < 0) {
		fclose(f);
		feat_tile_reader_release(&rd);
		return 0;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (feat_tile_reader_feed(&rd, buf, n, &err) == 0) {
		if (n < sizeof(buf))
			feat_tile_reader_eof(&rd);
		got = feat_tile_reader_next(&rd, &rec, &err);
		if (got == 0 && !feat_tile_reader_done(&rd) && n == sizeof(buf))
			got = 1;	/* header fine; blocks follow */
	}
	feat_tile_reader_release(&rd);
	return got >= 0;
}

static int build_tiles(const struct feat_backfill_opts *o,
		       const struct feat_plan *plan, size_t gi,
		       const char *events, const char *tiles,
		       struct feat_error *err)
{
	struct feat_aggregate_stats st;
	struct feat_output out;
	const char *inputs[1];

	inputs[0] = events;
	if (feat_output_open(&out, tiles, err) < 0)
		return -1;
	if (feat_aggregate_events(plan, gi, inputs, 1, &out, FEAT_OUT_TILES,
				  NULL, &st, err) < 0) {
		feat_output_abort(&out);
		return -1;
	}
	/* Late events are excluded from the cache as from any tiles, and
	 * said so: never silently lost. */
	if (st.late && o->warn) {
		char line[8192];

		snprintf(line, sizeof(line), "%s: %llu late event%s excluded (first: line %lld)",
			 events, (unsigned long long)st.late, st.late == 1 ? "" : "s",
			 (long long)st.first_late_line);
		o->warn(o->ctx, line);
	}
	return feat_output_commit(&out, err);
}

struct names {
	char **v;
	size_t n, cap;
};

static int names_add(struct names *ns, const char *s)
{
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 16;
		char **v = realloc(ns->v, cap * sizeof(*v));

		if (!v)
			return -1;
		ns->v = v;
		ns->cap = cap;
	}
	ns->v[ns->n] = strdup(s);
	return ns->v[ns->n] ? (int)++ns->n * 0 : -1;
}

static void names_free(struct names *ns)
{
	size_t i;

	for (i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
}

struct day_plan {
	const struct feat_plan *plan;
	const struct feat_backfill_opts *o;
	const char *out_dir;
	int64_t *days;			/* days to compute */
	size_t ndays;
	struct names tiles;		/* tile caches to build: paths */
	size_t *tile_gb;		/* their group_by */
	char **tile_events;		/* their event partition */
	size_t tile_cap;
};

/* The event days group_by g needs for left day `day`: [*first, day]. */
static int64_t first_day(const struct feat_backfill_opts *o,
			 const struct feat_plan *plan,
			 const struct feat_group_by *g, int64_t day)
{
	int64_t reach;

	if (g->has_unbounded)
		return earliest_day(o->root, plan->sources[g->source].name);
	reach = day * DAY_MS - g->max_window;
	return reach >= 0 ? reach / DAY_MS : -((-reach + DAY_MS - 1) / DAY_MS);
}

static int part_uses(const struct feat_join *j, size_t gi)
{
	size_t p;

	for (p = 0; p < j->nparts; p++)
		if (j->parts[p].group_by == gi)
			return 1;
	return 0;
}

static void cache_path(char *buf, size_t n, const char *root,
		       const struct feat_group_by *g, int64_t day)
{
	char d[16];

	if (day == INT64_MIN) {
		snprintf(buf, n, "%s/tiles/%s/empty.tiles", root, g->name);
		return;
	}
	feat_date_format(d, day);
	snprintf(buf, n, "%s/tiles/%s/%s.tiles", root, g->name, d);
}

static void event_path(char *buf, size_t n, const char *root,
		       const char *source, int64_t day)
{
	char d[16];

	feat_date_format(d, day);
	snprintf(buf, n, "%s/events/%s/%s.csv", root, source, d);
}

/* The tile files the join of `day` reads, in time order per group_by. A
 * group_by without any event partition in reach gets the empty stream. */
static int day_tiles(struct day_plan *dp, int64_t day, struct names *out,
		     struct feat_error *err)
{
	const struct feat_plan *plan = dp->plan;
	size_t gi;

	for (gi = 0; gi < plan->ngroup_bys; gi++) {
		const struct feat_group_by *g = &plan->group_bys[gi];
		const char *src = plan->sources[g->source].name;
		char ev[4096], tp[4096];
		int64_t e;
		size_t before = out->n;

		if (!part_uses(plan->join, gi))
			continue;
		for (e = first_day(dp->o, plan, g, day); e <= day; e++) {
			event_path(ev, sizeof(ev), dp->o->root, src, e);
			if (!exists(ev))
				continue;
			cache_path(tp, sizeof(tp), dp->o->root, g, e);
			if (names_add(out, tp) < 0)
				return feat_error_nomem(err);
		}
		if (out->n == before) {
			cache_path(tp, sizeof(tp), dp->o->root, g, INT64_MIN);
			if (names_add(out, tp) < 0)
				return feat_error_nomem(err);
		}
	}
	return 0;
}

static int write_empty(const struct feat_plan *plan, size_t gi,
		       const char *path, struct feat_error *err)
{
	struct feat_output eo;
	struct feat_tile_writer w;

	if (feat_output_open(&eo, path, err) < 0)
		return -1;
	if (feat_tile_writer_init(&w, &eo, plan, gi, err) < 0 ||
	    feat_tile_writer_finish(&w, err) < 0) {
		feat_tile_writer_release(&w);
		feat_output_abort(&eo);
		return -1;
	}
	feat_tile_writer_release(&w);
	return feat_output_commit(&eo, err);
}

/* Adds every missing or stale cache file the days need to dp->tiles. */
static int plan_tiles(struct day_plan *dp, struct feat_backfill_stats *stats,
		      struct feat_error *err)
{
	const struct feat_plan *plan = dp->plan;
	size_t d, gi;

	for (d = 0; d < dp->ndays; d++) {
		for (gi = 0; gi < plan->ngroup_bys; gi++) {
			const struct feat_group_by *g = &plan->group_bys[gi];
			const char *src = plan->sources[g->source].name;
			char ev[4096], tp[4096], dir[4096];
			int64_t e, first = first_day(dp->o, plan, g, dp->days[d]);
			int any = 0;
			size_t k;

			if (!part_uses(plan->join, gi))
				continue;
			snprintf(dir, sizeof(dir), "%s/tiles/%s", dp->o->root, g->name);
			if (mkdirs(dir, err) < 0)
				return -1;
			/* No partition in reach: only the empty stream. */
			if (first > dp->days[d])
				first = dp->days[d] + 1;
			for (e = first; e <= dp->days[d] + 1; e++) {
				int64_t day = e <= dp->days[d] ? e : INT64_MIN;

				if (day != INT64_MIN) {
					event_path(ev, sizeof(ev), dp->o->root, src, e);
					if (!exists(ev))
						continue;
					any = 1;
				} else if (any) {
					break;
				} else {
					ev[0] = '\0';
				}
				cache_path(tp, sizeof(tp), dp->o->root, g, day);
				for (k = 0; k < dp->tiles.n; k++)
					if (!strcmp(dp->tiles.v[k], tp))
						break;
				if (k < dp->tiles.n)
					continue;
				if (dp->tiles.n + 1 > dp->tile_cap) {
					size_t cap = dp->tile_cap ? dp->tile_cap * 2 : 64;
					size_t *gbs = realloc(dp->tile_gb, cap * sizeof(*gbs));
					char **evs;

					if (!gbs)
						return feat_error_nomem(err);
					dp->tile_gb = gbs;
					evs = realloc(dp->tile_events, cap * sizeof(*evs));
					if (!evs)
						return feat_error_nomem(err);
					dp->tile_events = evs;
					dp->tile_cap = cap;
				}
				if (cache_ok(plan, tp) && !newer(ev, tp)) {
					/* count each reused file once */
					if (names_add(&dp->tiles, tp) < 0)
						return feat_error_nomem(err);
					dp->tile_gb[dp->tiles.n - 1] = SIZE_MAX;
					stats->tiles_reused++;
					continue;
				}
				if (names_add(&dp->tiles, tp) < 0)
					return feat_error_nomem(err);
				dp->tile_gb[dp->tiles.n - 1] = gi;
				dp->tile_events[dp->tiles.n - 1] = strdup(ev);
				if (!dp->tile_events[dp->tiles.n - 1])
					return feat_error_nomem(err);
			}
		}
	}
	return 0;
}

static int build_one(struct day_plan *dp, size_t i, struct feat_error *err)
{
	size_t gi = dp->tile_gb[i];

	if (gi == SIZE_MAX)
		return 0;
	if (!dp->tile_events[i][0])
		return write_empty(dp->plan, gi, dp->tiles.v[i], err);
	return build_tiles(dp->o, dp->plan, gi, dp->tile_events[i], dp->tiles.v[i], err);
}

static int join_day(struct day_plan *dp, size_t i, struct feat_error *err)
{
	const struct feat_backfill_opts *o = dp->o;
	struct names tiles = { NULL, 0, 0 };
	char date[16], left[4096], out_path[4096];
	struct feat_join_stats js;
	struct feat_output out;
	int ret = -1;

	feat_date_format(date, dp->days[i]);
	snprintf(out_path, sizeof(out_path), "%s/%s.%s", dp->out_dir, date,
		 o->fmt == FEAT_OUT_JSONL ? "jsonl" : "csv");
	snprintf(left, sizeof(left), "%s/left/%s.csv", o->root, date);
	if (day_tiles(dp, dp->days[i], &tiles, err) < 0)
		goto out;
	if (feat_output_open(&out, out_path, err) < 0)
		goto out;
	if (feat_join_run(dp->plan, left, (const char *const *)tiles.v, tiles.n,
			  &out, o->fmt, o->jobs > 1 ? 1 : 0, &js, err) < 0) {
		feat_output_abort(&out);
		goto out;
	}
	if (feat_output_commit(&out, err) < 0)
		goto out;
	if (o->progress) {
		char note[8192];

		snprintf(note, sizeof(note), "%s: %llu row%s from %zu tile file%s -> %s",
			 date, (unsigned long long)js.rows, js.rows == 1 ? "" : "s",
			 tiles.n, tiles.n == 1 ? "" : "s", out_path);
		o->progress(o->ctx, note);
	}
	ret = 0;
out:
	names_free(&tiles);
	return ret;
}

/*
 * Runs fn for items 0 .. n-1, in jobs forked workers at once (or in this
 * process when jobs is 1). A worker reports its own error through the
 * progress hook. Returns the number of items that failed; in this process
 * the first failure stops the run and fills err.
 */
static int run_all(struct day_plan *dp, size_t n,
		   int (*fn)(struct day_plan *, size_t, struct feat_error *),
		   struct feat_error *err, int *failed)
{
	size_t i;
	int running = 0, status;

	*failed = 0;
	for (i = 0; i < n; i++) {
		pid_t pid;

		if (dp->o->jobs <= 1) {
			if (fn(dp, i, err) < 0)
				return -1;
			continue;
		}
		if (running == dp->o->jobs) {
			if (wait(&status) > 0 &&
			    !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
				(*failed)++;
			running--;
		}
		fflush(NULL);
		pid = fork();
		if (pid < 0)
			return feat_error_errno(err, errno, "cannot fork");
		if (pid == 0) {
			struct feat_error ce;
			char buf[1200];

			feat_error_clear(&ce);
			if (fn(dp, i, &ce) < 0) {
				feat_error_format(&ce, buf, sizeof(buf));
				if (dp->o->warn)
					dp->o->warn(dp->o->ctx, buf);
				_exit(1);
			}
			_exit(0);
		}
		running++;
	}
	while (running > 0 && wait(&status) > 0) {
		if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
			(*failed)++;
		running--;
	}
	if (*failed)
		return feat_error_set(err, NULL, 0, 0, "%d of %zu failed", *failed, n);
	return 0;
}

int feat_backfill_run(const struct feat_plan *plan,
		      const struct feat_backfill_opts *o,
		      struct feat_backfill_stats *stats,
		      struct feat_error *err)
{
	struct day_plan dp;
	char out_dir[4096];
	int64_t day;
	size_t i;
	int failed = 0, ret = -1;

	memset(stats, 0, sizeof(*stats));
	memset(&dp, 0, sizeof(dp));
	if (!plan->join)
		return feat_error_set(err, NULL, 0, 0, "the plan has no \"join\": nothing to backfill");
	if (o->from > o->to)
		return feat_error_set(err, NULL, 0, 0, "--from is after --to");
	{
		struct stat st;
		char left[4096];

		snprintf(left, sizeof(left), "%s/left", o->root);
		if (stat(o->root, &st) < 0 || !S_ISDIR(st.st_mode))
			return feat_error_set(err, NULL, 0, 0, "no directory '%s' (--root)", o->root);
		if (stat(left, &st) < 0 || !S_ISDIR(st.st_mode))
			return feat_error_set(err, NULL, 0, 0,
					      "no directory '%s': the left rows go in %s/YYYY-MM-DD.csv",
					      left, left);
	}
	if (o->out_dir)
		snprintf(out_dir, sizeof(out_dir), "%s", o->out_dir);
	else
		snprintf(out_dir, sizeof(out_dir), "%s/training", o->root);
	if (mkdirs(out_dir, err) < 0)
		return -1;
	dp.plan = plan;
	dp.o = o;
	dp.out_dir = out_dir;
	dp.days = calloc((size_t)(o->to - o->from + 1), sizeof(*dp.days));
	if (!dp.days)
		return feat_error_nomem(err);
	for (day = o->from; day <= o->to; day++) {
		char date[16], path[8192], note[16384];

		feat_date_format(date, day);
		snprintf(path, sizeof(path), "%s/%s.%s", out_dir, date,
			 o->fmt == FEAT_OUT_JSONL ? "jsonl" : "csv");
		if (!o->force && exists(path)) {
			stats->days_skipped++;
			snprintf(note, sizeof(note), "%s: already done (%s); --force recomputes it",
				 date, path);
		} else {
			snprintf(path, sizeof(path), "%s/left/%s.csv", o->root, date);
			if (exists(path)) {
				dp.days[dp.ndays++] = day;
				continue;
			}
			stats->days_empty++;
			snprintf(note, sizeof(note), "%s: no left rows (%s is missing)",
				 date, path);
		}
		if (o->progress)
			o->progress(o->ctx, note);
	}
	/* Tiles first, each cache file once, so that days running at once
	 * never build the same file. */
	if (plan_tiles(&dp, stats, err) < 0)
		goto out;
	if (run_all(&dp, dp.tiles.n, build_one, err, &failed) < 0)
		goto out;
	for (i = 0; i < dp.tiles.n; i++)
		stats->tiles_built += dp.tile_gb[i] != SIZE_MAX;
	if (run_all(&dp, dp.ndays, join_day, err, &failed) < 0) {
		stats->days_written = dp.ndays - (size_t)failed;
		goto out;
	}
	stats->days_written = dp.ndays;
	ret = 0;
out:
	for (i = 0; i < dp.tiles.n; i++)
		if (dp.tile_gb[i] != SIZE_MAX)
			free(dp.tile_events[i]);
	names_free(&dp.tiles);
	free(dp.tile_gb);
	free(dp.tile_events);
	free(dp.days);
	return ret;
}
