/*
 * feat-compile - check a feature definition and write its plan.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "common.h"
#include "io.h"
#include "plan.h"

static const char usage[] =
	"usage: feat-compile [-fq] [--explain] [--check] [-o plan] definition.json\n";

static const char help[] =
	"\n"
	"Checks a feature definition and writes its compiled plan.\n"
	"\n"
	"  -o, --output FILE  write the plan to FILE (atomically; default: stdout)\n"
	"      --explain      print the plan in words on stdout\n"
	"      --check        check the definition only; write nothing\n"
	"  -f, --force        write the binary plan even to a terminal\n"
	"  -q, --quiet        no summary on stderr\n"
	"  -h, --help         show this help\n";

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "explain", no_argument, NULL, 'E' },
		{ "check", no_argument, NULL, 'C' },
		{ "force", no_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *output = NULL;
	int explain = 0, check = 0, force = 0, quiet = 0, c;
	struct feat_error err;
	struct feat_plan *plan;
	struct feat_buf b = FEAT_BUF_INIT;
	struct feat_output out;

	cmd_init("feat-compile");
	feat_error_clear(&err);
	while ((c = getopt_long(argc, argv, "o:fqh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': output = optarg; break;
		case 'E': explain = 1; break;
		case 'C': check = 1; break;
		case 'f': force = 1; break;
		case 'q': quiet = 1; break;
		case 'h': fputs(usage, stdout); fputs(help, stdout); return 0;
		default: fputs(usage, stderr); return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc)
		usage_error(usage, optind == argc ? "no definition file given"
						 : "one definition file at a time");
	plan = feat_plan_compile_file(argv[optind], &err);
	if (!plan)
		die_error(&err);
	if (explain) {
		if (feat_plan_explain(plan, &b) < 0)
			die("out of memory");
		fwrite(b.ptr, 1, b.len, stdout);
		feat_buf_reset(&b);
	}
	if (!check && (!explain || output)) {
		if (feat_output_open(&out, output, &err) < 0)
			die_error(&err);
		if (!force && feat_output_isatty(&out)) {
			feat_output_abort(&out);
			die("not writing a binary plan to a terminal; use -o FILE or -f");
		}
		if (feat_plan_serialize(plan, &b) < 0)
			die("out of memory");
		if (feat_output_write(&out, b.ptr, b.len, &err) < 0 ||
		    feat_output_commit(&out, &err) < 0)
			die_error(&err);
		if (!quiet && output)
			note("%s: plan %016llx written to %s", argv[optind],
			     (unsigned long long)plan->hash, output);
	} else if (check && !quiet) {
		note("%s: ok (plan %016llx)", argv[optind],
		     (unsigned long long)plan->hash);
	}
	feat_buf_release(&b);
	feat_plan_free(plan);
	return 0;
}
