/*
 * feat-aggregate - events to tiles, or tile streams merged.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "aggregate.h"
#include "common.h"
#include "io.h"
#include "plan.h"
#include "progress.h"
#include "time.h"

static const char usage[] =
	"usage: feat-aggregate [-fq] [-o file] [--format tiles|csv|jsonl] [--late file]\n"
	"                      [--shard k/n] [--resolution duration] [--source name]\n"
	"                      [--group-by name] [--progress] plan [file ...]\n";

static const char help[] =
	"\n"
	"With --source or --group-by, reads CSV events and writes the group_by's\n"
	"tile stream; without, merges the tile streams given into one.\n"
	"\n"
	"  -s, --source NAME     the events are of source NAME\n"
	"  -g, --group-by NAME   write the tiles of group_by NAME (default: the one\n"
	"                        group_by that reads the source)\n"
	"  -o, --output FILE     write to FILE atomically (default: stdout)\n"
	"  -F, --format FORMAT   tiles (default), csv or jsonl (readable tiles)\n"
	"      --late FILE       write late events to FILE (as they came)\n"
	"      --shard K/N       write only the keys of shard K of N (1 <= K <= N);\n"
	"                        the N shards' tiles merged equal the whole\n"
	"  -r, --resolution DUR  write the states of each key over intervals of\n"
	"                        DUR (e.g. 1h) instead of single events; every\n"
	"                        window must be unbounded or hop by a multiple\n"
	"                        of DUR (default: events, or merging tiles, the\n"
	"                        coarsest input's)\n"
	"  -f, --force           write binary tiles even to a terminal\n"
	"  -q, --quiet           no summary or progress on stderr\n"
	"      --progress        show progress on stderr even when it is not a\n"
	"                        terminal (or is the output), a line an update\n"
	"  -h, --help            show this help\n";

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "source", required_argument, NULL, 's' },
		{ "group-by", required_argument, NULL, 'g' },
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'F' },
		{ "late", required_argument, NULL, 'L' },
		{ "shard", required_argument, NULL, 'S' },
		{ "resolution", required_argument, NULL, 'r' },
		{ "force", no_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "progress", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *source = NULL, *group_by = NULL, *output = NULL;
	const char *late_path = NULL;
	enum feat_out_format fmt = FEAT_OUT_TILES;
	int force = 0, quiet = 0, progress = 0, c;
	struct feat_error err;
	struct feat_plan *plan;
	struct feat_output out, late;
	struct feat_aggregate_stats st;
	long gb = -1;
	uint32_t shard_k = 0, shard_n = 1;
	int64_t resolution = -1;

	cmd_init("feat-aggregate");
	feat_error_clear(&err);
	while ((c = getopt_long(argc, argv, "s:g:o:F:r:fqh", opts, NULL)) != -1) {
		switch (c) {
		case 's': source = optarg; break;
		case 'g': group_by = optarg; break;
		case 'o': output = optarg; break;
		case 'F':
			if (feat_out_format_parse(optarg, &fmt) < 0)
				usage_error(usage, "unknown format '%s' (tiles, csv, jsonl)", optarg);
			break;
		case 'L': late_path = optarg; break;
		case 'S': {
			char *slash = strchr(optarg, '/');
			int64_t a, b;

			if (!slash || feat_parse_int(optarg, (size_t)(slash - optarg), &a) < 0 ||
			    feat_parse_int(slash + 1, strlen(slash + 1), &b) < 0 ||
			    b < 1 || b > 65536 || a < 1 || a > b)
				usage_error(usage, "--shard needs K/N with 1 <= K <= N <= 65536, not '%s'",
					    optarg);
			shard_k = (uint32_t)(a - 1);
			shard_n = (uint32_t)b;
			break;
		}
		case 'r':
			if (feat_duration_parse(optarg, &resolution) < 0 ||
			    resolution <= 0)
				usage_error(usage, "--resolution needs a duration such as 1h, not '%s'",
					    optarg);
			break;
		case 'f': force = 1; break;
		case 'q': quiet = 1; break;
		case 'P': progress = 1; break;
		case 'h': fputs(usage, stdout); fputs(help, stdout); return 0;
		default: fputs(usage, stderr); return EXIT_USAGE;
		}
	}
	if (optind == argc)
		usage_error(usage, "no plan given");
	feat_progress_start(progname, progress, quiet, output);
	plan = feat_plan_load(argv[optind++], &err);
	if (!plan)
		die_error(&err);
	if (group_by) {
		gb = feat_plan_group_by(plan, group_by);
		if (gb < 0)
			usage_error(usage, "the plan has no group_by '%s'", group_by);
		if (source && strcmp(plan->sources[plan->group_bys[gb].source].name, source))
			usage_error(usage, "group_by '%s' reads source '%s', not '%s'",
				    group_by, plan->sources[plan->group_bys[gb].source].name,
				    source);
	} else if (source) {
		long s = feat_plan_source(plan, source);
		size_t i, n = 0;

		if (s < 0)
			usage_error(usage, "the plan has no source '%s'", source);
		for (i = 0; i < plan->ngroup_bys; i++)
			if (plan->group_bys[i].source == (size_t)s) {
				if (!n++)
					gb = (long)i;
			}
		if (n == 0)
			die("no group_by reads source '%s'", source);
		if (n > 1)
			usage_error(usage, "%zu group_bys read source '%s'; choose one with --group-by",
				    n, source);
	}
	if (resolution > 0 && gb >= 0 &&
	    feat_group_by_resolution_ok(&plan->group_bys[gb], resolution, &err) < 0)
		usage_error(usage, "%s", err.msg);
	if (late_path && gb < 0)
		usage_error(usage, "--late needs --source or --group-by (events input)");
	if (shard_n > 1 && gb < 0)
		usage_error(usage, "--shard needs --source or --group-by (events input)");
	if (feat_output_open(&out, output, &err) < 0)
		die_error(&err);
	if (fmt == FEAT_OUT_TILES && !force && feat_output_isatty(&out)) {
		feat_output_abort(&out);
		die("not writing binary tiles to a terminal; use -o FILE, --format csv or -f");
	}
	if (late_path && feat_output_open(&late, late_path, &err) < 0)
		die_error(&err);
	if (gb >= 0) {
		if (feat_aggregate_events_res(plan, (size_t)gb,
					      (const char *const *)argv + optind,
					      (size_t)(argc - optind), shard_k, shard_n,
					      resolution < 0 ? 0 : resolution,
					      &out, fmt, late_path ? &late : NULL,
					      &st, &err) < 0)
			die_error(&err);
	} else if (feat_aggregate_merge_res(plan, (const char *const *)argv + optind,
					    (size_t)(argc - optind), resolution,
					    &out, fmt, &st, &err) < 0) {
		die_error(&err);
	}
	if (feat_output_commit(&out, &err) < 0)
		die_error(&err);
	if (late_path && feat_output_commit(&late, &err) < 0)
		die_error(&err);
	if (st.late)
		note("%llu late event%s excluded (first: %s:%lld)%s",
		     (unsigned long long)st.late, st.late > 1 ? "s" : "",
		     st.first_late_file, (long long)st.first_late_line,
		     late_path ? "" : "; --late FILE keeps them");
	if (!quiet) {
		if (gb >= 0)
			note("%llu rows, %llu filtered by where, %llu late, %llu tiles written",
			     (unsigned long long)st.rows, (unsigned long long)st.filtered,
			     (unsigned long long)st.late, (unsigned long long)st.tiles);
		else
			note("%llu tiles merged", (unsigned long long)st.tiles);
	}
	feat_plan_free(plan);
	return 0;
}
