/*
 * common.c - shared command plumbing.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "io.h"
#include "progress.h"
#include "time.h"
#include "value.h"

const char *progname = "feat";

static void on_signal(int sig)
{
	feat_output_cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* A write error on stdout that stdio kept to itself must not pass
 * silently: check it once more on the way out (git's run_builtin). */
static void check_stdout(void)
{
	feat_progress_clear();
	if (fflush(stdout) || ferror(stdout) || fclose(stdout)) {
		if (errno == EPIPE)
			_exit(141);
		fprintf(stderr, "%s: cannot write standard output: %s\n",
			progname, strerror(errno));
		_exit(EXIT_DATA);
	}
}

void cmd_init(const char *name)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	size_t i;

	progname = name;
	/* A closed downstream ends us quietly, even if our parent ignored
	 * SIGPIPE (as Python and some shells do). */
	signal(SIGPIPE, SIG_DFL);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], on_signal);
	atexit(check_stdout);
}

void die_error(const struct feat_error *err)
{
	char buf[2048];

	feat_error_format(err, buf, sizeof(buf));
	feat_progress_clear();
	fprintf(stderr, "%s: %s\n", progname, buf);
	feat_output_cleanup();
	exit(EXIT_DATA);
}

void die(const char *fmt, ...)
{
	va_list ap;

	feat_progress_clear();
	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	feat_output_cleanup();
	exit(EXIT_DATA);
}

void usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;

	feat_progress_clear();
	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", usage);
	exit(EXIT_USAGE);
}

void note(const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int n;

	feat_progress_clear();
	/* One write per line: workers running at once must not interleave. */
	n = snprintf(buf, sizeof(buf), "%s: ", progname);
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (int)strlen(buf);
	buf[n++] = '\n';
	fflush(stderr);
	if (write(2, buf, (size_t)n) < 0)
		return;
}

int parse_time_arg(const char *s, int64_t *ms)
{
	if (feat_parse_int(s, strlen(s), ms) == 0)
		return 0;
	return feat_ts_parse(s, strlen(s), FEAT_TS_ISO, ms);
}
