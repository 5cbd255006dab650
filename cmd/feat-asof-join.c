/*
 * feat-asof-join - point-in-time feature values for left rows.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "check.h"
#include "common.h"
#include "io.h"
#include "join.h"
#include "plan.h"
#include "progress.h"

static const char usage[] =
	"usage: feat-asof-join [-q] [-o file] [--format csv|jsonl] [--check-against file]\n"
	"                      [--threads n] [--progress] --left file plan tiles ...\n";

static const char help[] =
	"\n"
	"For every left row (keys and a time T), the value of every feature over\n"
	"the events of its key strictly before T. Left order and columns are kept.\n"
	"\n"
	"  -l, --left FILE      the left rows (CSV; - for stdin)\n"
	"  -o, --output FILE    write to FILE atomically (default: stdout)\n"
	"  -F, --format FORMAT  csv (default) or jsonl\n"
	"      --check-against FILE\n"
	"                       compare with values logged online (CSV, one row per\n"
	"                       left row, in left order) and print, per feature, the\n"
	"                       rows, matches, mismatches, nulls and the mean relative\n"
	"                       difference on stdout (the join goes to -o, if given)\n"
	"  -t, --threads N      answer with N threads at most (default: one per CPU,\n"
	"                       at most 4; 1: no threads); the output is the same\n"
	"  -q, --quiet          no summary or progress on stderr\n"
	"      --progress       show progress on stderr even when it is not a\n"
	"                       terminal (or is the output), a line an update\n"
	"  -h, --help           show this help\n";

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "left", required_argument, NULL, 'l' },
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'F' },
		{ "check-against", required_argument, NULL, 'C' },
		{ "threads", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "progress", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *left = NULL, *output = NULL, *check = NULL;
	char tmp[] = "/tmp/feat-check-XXXXXX";
	enum feat_out_format fmt = FEAT_OUT_CSV;
	int quiet = 0, progress = 0, c;
	unsigned threads = 0;
	struct feat_error err;
	struct feat_plan *plan;
	struct feat_output out;
	struct feat_join_stats st;

	cmd_init("feat-asof-join");
	feat_error_clear(&err);
	while ((c = getopt_long(argc, argv, "l:o:F:t:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'l': left = optarg; break;
		case 'o': output = optarg; break;
		case 'F':
			if (feat_out_format_parse(optarg, &fmt) < 0 || fmt == FEAT_OUT_TILES)
				usage_error(usage, "unknown format '%s' (csv, jsonl)", optarg);
			break;
		case 't': {
			char *end;
			unsigned long n;

			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' ||
			    n < 1 || n > 64)
				usage_error(usage, "--threads wants a number from 1 to 64, not '%s'", optarg);
			threads = (unsigned)n;
			break;
		}
		case 'q': quiet = 1; break;
		case 'P': progress = 1; break;
		case 'C': check = optarg; break;
		case 'h': fputs(usage, stdout); fputs(help, stdout); return 0;
		default: fputs(usage, stderr); return EXIT_USAGE;
		}
	}
	if (!left)
		usage_error(usage, "no left rows given (--left FILE)");
	if (optind == argc)
		usage_error(usage, "no plan given");
	feat_progress_start(progname, progress, quiet, output);
	plan = feat_plan_load(argv[optind++], &err);
	if (!plan)
		die_error(&err);
	if (optind == argc)
		usage_error(usage, "no tile streams given");
	if (check && fmt != FEAT_OUT_CSV)
		usage_error(usage, "--check-against compares CSV; leave out --format");
	if (check && !output) {
		/* The join still has to be written somewhere to compare. */
		int fd = mkstemp(tmp);

		if (fd < 0)
			die("cannot create a temporary file: %s", strerror(errno));
		close(fd);
		output = tmp;
	}
	if (feat_output_open(&out, output, &err) < 0)
		die_error(&err);
	if (feat_join_run(plan, left, (const char *const *)argv + optind,
			  (size_t)(argc - optind), &out, fmt, threads, &st, &err) < 0 ||
	    feat_output_commit(&out, &err) < 0)
		die_error(&err);
	if (check) {
		struct feat_buf report = FEAT_BUF_INIT;
		int rc = feat_check_against(plan, output, check, &report, &err);

		if (output == tmp)
			unlink(tmp);
		if (rc < 0)
			die_error(&err);
		fwrite(report.ptr, 1, report.len, stdout);
		feat_buf_release(&report);
	}
	if (st.late)
		note("%llu late left row%s excluded (earlier than the left lateness allows)",
		     (unsigned long long)st.late, st.late > 1 ? "s" : "");
	if (!quiet)
		note("%llu left row%s joined, %llu tile%s applied",
		     (unsigned long long)(st.rows - st.late),
		     st.rows - st.late == 1 ? "" : "s",
		     (unsigned long long)st.events, st.events == 1 ? "" : "s");
	feat_plan_free(plan);
	return 0;
}
