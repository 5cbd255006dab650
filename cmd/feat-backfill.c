/*
 * feat-backfill - training sets over date-partitioned files.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backfill.h"
#include "common.h"
#include "plan.h"
#include "time.h"
#include "value.h"

static const char usage[] =
	"usage: feat-backfill [-q] [--force] [-j n] [--format csv|jsonl] --from date --to date\n"
	"                     [--root dir] [--out dir] plan\n";

static const char help[] =
	"\n"
	"For each day from --from to --to, joins the day's left rows\n"
	"(ROOT/left/DATE.csv) with the events before each row's time\n"
	"(ROOT/events/SOURCE/DATE.csv) and writes OUT/DATE.csv atomically.\n"
	"\n"
	"      --from DATE      first day (YYYY-MM-DD, UTC)\n"
	"      --to DATE        last day, inclusive\n"
	"  -r, --root DIR       the partitioned data (default: .)\n"
	"      --out DIR        where results go (default: ROOT/training)\n"
	"      --force          recompute days whose result exists\n"
	"  -j, --jobs N         compute N days at once (default 1)\n"
	"  -F, --format FORMAT  csv (default) or jsonl\n"
	"  -q, --quiet          no progress on stderr\n"
	"  -h, --help           show this help\n";

static void progress(void *ctx, const char *line)
{
	(void)ctx;
	note("%s", line);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'A' },
		{ "to", required_argument, NULL, 'B' },
		{ "root", required_argument, NULL, 'r' },
		{ "out", required_argument, NULL, 'O' },
		{ "force", no_argument, NULL, 'X' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "format", required_argument, NULL, 'F' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct feat_backfill_opts o = { ".", NULL, 0, 0, 0, 1, FEAT_OUT_CSV, progress, progress, NULL };
	struct feat_backfill_stats st;
	struct feat_error err;
	struct feat_plan *plan;
	int have_from = 0, have_to = 0, c;
	int64_t jobs;

	cmd_init("feat-backfill");
	feat_error_clear(&err);
	while ((c = getopt_long(argc, argv, "r:j:F:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'A':
			if (feat_date_parse(optarg, &o.from) < 0)
				usage_error(usage, "cannot parse '%s' as a date (YYYY-MM-DD)", optarg);
			have_from = 1;
			break;
		case 'B':
			if (feat_date_parse(optarg, &o.to) < 0)
				usage_error(usage, "cannot parse '%s' as a date (YYYY-MM-DD)", optarg);
			have_to = 1;
			break;
		case 'r': o.root = optarg; break;
		case 'O': o.out_dir = optarg; break;
		case 'X': o.force = 1; break;
		case 'j':
			if (feat_parse_int(optarg, strlen(optarg), &jobs) < 0 ||
			    jobs < 1 || jobs > 1024)
				usage_error(usage, "--jobs needs a number from 1 to 1024");
			o.jobs = (int)jobs;
			break;
		case 'F':
			if (feat_out_format_parse(optarg, &o.fmt) < 0 || o.fmt == FEAT_OUT_TILES)
				usage_error(usage, "unknown format '%s' (csv, jsonl)", optarg);
			break;
		case 'q': o.progress = NULL; break;
		case 'h': fputs(usage, stdout); fputs(help, stdout); return 0;
		default: fputs(usage, stderr); return EXIT_USAGE;
		}
	}
	if (!have_from || !have_to)
		usage_error(usage, "--from and --to are required");
	if (o.from > o.to)
		usage_error(usage, "--from is after --to");
	if (optind + 1 != argc)
		usage_error(usage, optind == argc ? "no plan given" : "one plan at a time");
	plan = feat_plan_load(argv[optind], &err);
	if (!plan)
		die_error(&err);
	if (feat_backfill_run(plan, &o, &st, &err) < 0)
		die_error(&err);
	if (o.progress)
		note("%llu day%s written, %llu skipped, %llu without left rows; tiles: %llu built, %llu reused",
		     (unsigned long long)st.days_written, st.days_written == 1 ? "" : "s",
		     (unsigned long long)st.days_skipped, (unsigned long long)st.days_empty,
		     (unsigned long long)st.tiles_built, (unsigned long long)st.tiles_reused);
	feat_plan_free(plan);
	return 0;
}
