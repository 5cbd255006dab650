/*
 * feat-serve-dump - the online view: every feature of every key at a time.
 */
#include <getopt.h>
#include <stdio.h>

#include "common.h"
#include "io.h"
#include "plan.h"
#include "progress.h"
#include "serve.h"

static const char usage[] =
	"usage: feat-serve-dump [-fq] [-o file] [--format jsonl|csv|resp] [--at T]\n"
	"                       [--group-by name] [--progress] plan [tiles ...]\n";

static const char help[] =
	"\n"
	"The value of every feature for every key as of time T, from tile streams.\n"
	"\n"
	"  -a, --at T           the time: milliseconds since the epoch or ISO-8601\n"
	"                       (default: 1 ms after the latest event)\n"
	"  -f, --follow         a live upsert stream: as tiles arrive, the rows of\n"
	"                       the keys they change, each as of 1 ms after its\n"
	"                       latest event\n"
	"  -g, --group-by NAME  only this group_by\n"
	"  -o, --output FILE    write to FILE atomically (default: stdout)\n"
	"  -F, --format FORMAT  jsonl (default), csv (one group_by), or resp: Redis\n"
	"                       protocol (DEL and HSET <group_by>:<key> per key) for\n"
	"                       redis-cli --pipe\n"
	"  -q, --quiet          no progress on stderr\n"
	"      --progress       show progress on stderr even when it is not a\n"
	"                       terminal (or is the output), a line an update\n"
	"  -h, --help           show this help\n";

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "at", required_argument, NULL, 'a' },
		{ "group-by", required_argument, NULL, 'g' },
		{ "follow", no_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'F' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "progress", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *output = NULL, *group_by = NULL;
	enum feat_out_format fmt = FEAT_OUT_JSONL;
	int64_t at = FEAT_SERVE_END;
	int c, follow = 0, quiet = 0, progress = 0;
	struct feat_error err;
	struct feat_plan *plan;
	struct feat_output out;
	long gb = -1;

	cmd_init("feat-serve-dump");
	feat_error_clear(&err);
	while ((c = getopt_long(argc, argv, "a:g:o:F:fqh", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (parse_time_arg(optarg, &at) < 0 || at == FEAT_SERVE_END)
				usage_error(usage, "cannot parse '%s' as a time (milliseconds or ISO-8601 with an offset)",
					    optarg);
			break;
		case 'g': group_by = optarg; break;
		case 'f': follow = 1; break;
		case 'o': output = optarg; break;
		case 'F':
			if (feat_out_format_parse(optarg, &fmt) < 0 || fmt == FEAT_OUT_TILES)
				usage_error(usage, "unknown format '%s' (jsonl, csv, resp)", optarg);
			break;
		case 'q': quiet = 1; break;
		case 'P': progress = 1; break;
		case 'h': fputs(usage, stdout); fputs(help, stdout); return 0;
		default: fputs(usage, stderr); return EXIT_USAGE;
		}
	}
	if (optind == argc)
		usage_error(usage, "no plan given");
	if (follow && at != FEAT_SERVE_END)
		usage_error(usage, "--follow writes values as events come; it takes no --at");
	feat_progress_start(progname, progress && !follow, quiet || follow, output);
	plan = feat_plan_load(argv[optind++], &err);
	if (!plan)
		die_error(&err);
	if (group_by && (gb = feat_plan_group_by(plan, group_by)) < 0)
		usage_error(usage, "the plan has no group_by '%s'", group_by);
	if (feat_output_open(&out, output, &err) < 0)
		die_error(&err);
	if ((follow ? feat_serve_follow(plan, (const char *const *)argv + optind,
					(size_t)(argc - optind), gb, &out, fmt, &err)
		    : feat_serve_dump(plan, (const char *const *)argv + optind,
				      (size_t)(argc - optind), at, gb, &out, fmt,
				      &err)) < 0 ||
	    feat_output_commit(&out, &err) < 0)
		die_error(&err);
	feat_plan_free(plan);
	return 0;
}
