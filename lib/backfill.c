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

static int build_tiles(const struct feat_plan *plan, size_t gi,
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

static int run_day(const struct feat_plan *plan,
		   const struct feat_backfill_opts *o, const char *out_dir,
		   int64_t day, struct feat_backfill_stats *stats,
		   char *note, size_t note_len, struct feat_error *err)
{
	const struct feat_join *j = plan->join;
	struct names tiles = { NULL, 0, 0 };
	char date[16], left[4096], out_path[4096];
	struct feat_join_stats js;
	struct feat_output out;
	size_t gi;
	int ret = -1;

	feat_date_format(date, day);
	snprintf(out_path, sizeof(out_path), "%s/%s.%s", out_dir, date,
		 o->fmt == FEAT_OUT_JSONL ? "jsonl" : "csv");
	snprintf(left, sizeof(left), "%s/left/%s.csv", o->root, date);
	if (!o->force && exists(out_path)) {
		stats->days_skipped++;
		snprintf(note, note_len, "%s: already done (%s); --force recomputes it",
			 date, out_path);
		return 0;
	}
	if (!exists(left)) {
		stats->days_empty++;
		snprintf(note, note_len, "%s: no left rows (%s is missing)", date, left);
		return 0;
	}
	for (gi = 0; gi < plan->ngroup_bys; gi++) {
		const struct feat_group_by *g = &plan->group_bys[gi];
		const char *src = plan->sources[g->source].name;
		int64_t first, e;
		size_t p;
		int used = 0;
		char dir[4096];

		for (p = 0; p < j->nparts; p++)
			used |= j->parts[p].group_by == gi;
		if (!used)
			continue;
		if (g->has_unbounded) {
			first = earliest_day(o->root, src);
		} else {
			int64_t reach = day * DAY_MS - g->max_window;

			first = reach >= 0 ? reach / DAY_MS
					   : -((-reach + DAY_MS - 1) / DAY_MS);
		}
		snprintf(dir, sizeof(dir), "%s/tiles/%s", o->root, g->name);
		if (mkdirs(dir, err) < 0)
			goto out;
		for (e = first; e <= day; e++) {
			char ev[4096], tp[8192], ed[16];

			feat_date_format(ed, e);
			snprintf(ev, sizeof(ev), "%s/events/%s/%s.csv", o->root, src, ed);
			snprintf(tp, sizeof(tp), "%s/%s.tiles", dir, ed);
			if (!exists(ev))
				continue;
			if (cache_ok(plan, tp)) {
				stats->tiles_reused++;
			} else {
				if (build_tiles(plan, gi, ev, tp, err) < 0)
					goto out;
				stats->tiles_built++;
			}
			if (names_add(&tiles, tp) < 0) {
				feat_error_nomem(err);
				goto out;
			}
		}
	}
	/* A group_by without any event partition still needs a stream:
	 * the join insists on one per part. An empty one says "no events". */
	for (gi = 0; gi < plan->ngroup_bys; gi++) {
		const struct feat_group_by *g = &plan->group_bys[gi];
		size_t p, t;
		int used = 0, have = 0;
		char tp[4096];

		for (p = 0; p < j->nparts; p++)
			used |= j->parts[p].group_by == gi;
		for (t = 0; t < tiles.n; t++) {
			char pre[4096];

			snprintf(pre, sizeof(pre), "%s/tiles/%s/", o->root, g->name);
			have |= !strncmp(tiles.v[t], pre, strlen(pre));
		}
		if (!used || have)
			continue;
		snprintf(tp, sizeof(tp), "%s/tiles/%s/empty.tiles", o->root, g->name);
		if (!cache_ok(plan, tp) && build_tiles(plan, gi, "/dev/null", tp, err) < 0) {
			/* /dev/null has no header row; write the stream directly */
			struct feat_output eo;
			struct feat_tile_writer w;

			if (feat_output_open(&eo, tp, err) < 0)
				goto out;
			if (feat_tile_writer_init(&w, &eo, plan, gi, err) < 0 ||
			    feat_tile_writer_finish(&w, err) < 0) {
				feat_tile_writer_release(&w);
				feat_output_abort(&eo);
				goto out;
			}
			feat_tile_writer_release(&w);
			if (feat_output_commit(&eo, err) < 0)
				goto out;
		}
		if (names_add(&tiles, tp) < 0) {
			feat_error_nomem(err);
			goto out;
		}
	}
	if (feat_output_open(&out, out_path, err) < 0)
		goto out;
	if (feat_join_run(plan, left, (const char *const *)tiles.v, tiles.n,
			  &out, o->fmt, &js, err) < 0) {
		feat_output_abort(&out);
		goto out;
	}
	if (feat_output_commit(&out, err) < 0)
		goto out;
	stats->days_written++;
	snprintf(note, note_len, "%s: %llu rows from %zu tile files -> %s", date,
		 (unsigned long long)js.rows, tiles.n, out_path);
	ret = 0;
out:
	names_free(&tiles);
	return ret;
}

int feat_backfill_run(const struct feat_plan *plan,
		      const struct feat_backfill_opts *o,
		      struct feat_backfill_stats *stats,
		      struct feat_error *err)
{
	char out_dir[4096], note[16384];
	int64_t day;
	int running = 0, failed = 0;

	memset(stats, 0, sizeof(*stats));
	if (!plan->join)
		return feat_error_set(err, NULL, 0, 0, "the plan has no \"join\": nothing to backfill");
	if (o->from > o->to)
		return feat_error_set(err, NULL, 0, 0, "--from is after --to");
	if (o->out_dir)
		snprintf(out_dir, sizeof(out_dir), "%s", o->out_dir);
	else
		snprintf(out_dir, sizeof(out_dir), "%s/training", o->root);
	if (mkdirs(out_dir, err) < 0)
		return -1;
	for (day = o->from; day <= o->to; day++) {
		if (o->jobs <= 1) {
			if (run_day(plan, o, out_dir, day, stats, note,
				    sizeof(note), err) < 0)
				return -1;
			if (o->progress)
				o->progress(o->ctx, note);
			continue;
		}
		/* Parallel: each day in a child; the child reports its own
		 * error and the parent counts failures. */
		if (running == o->jobs) {
			int status;

			if (wait(&status) > 0 &&
			    !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
				failed++;
			running--;
		}
		fflush(NULL);
		{
			pid_t pid = fork();

			if (pid < 0)
				return feat_error_errno(err, errno, "cannot fork");
			if (pid == 0) {
				struct feat_backfill_stats cs;
				struct feat_error ce;
				char buf[1200];

				memset(&cs, 0, sizeof(cs));
				if (run_day(plan, o, out_dir, day, &cs, note,
					    sizeof(note), &ce) < 0) {
					feat_error_format(&ce, buf, sizeof(buf));
					if (o->progress)
						o->progress(o->ctx, buf);
					_exit(1);
				}
				if (o->progress)
					o->progress(o->ctx, note);
				_exit(0);
			}
			running++;
			stats->days_written++;
		}
	}
	while (running > 0) {
		int status;

		if (wait(&status) < 0)
			break;
		if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
			failed++;
		running--;
	}
	if (failed) {
		stats->days_written -= (uint64_t)failed;
		return feat_error_set(err, NULL, 0, 0, "%d day%s failed", failed,
				      failed > 1 ? "s" : "");
	}
	return 0;
}
