/*
 * progress.c - the progress line.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

#define STEP 16384		/* units between looks at the clock */

uint64_t feat_progress_next = UINT64_MAX;

static struct {
	const char *prog;
	int on, tty, shown;
	double last;		/* when shown, on the monotonic clock (s) */
} pg;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void feat_progress_start(const char *prog, int force, int quiet,
			 const char *output)
{
	int out_tty = (!output || !strcmp(output, "-")) && isatty(1);

	pg.prog = prog;
	pg.tty = isatty(2);
	/* rows written to the same terminal would mix with the line */
	pg.on = !quiet && (force || (pg.tty && !out_tty));
	pg.last = now() + 0.75;	/* on a terminal: after a second */
	feat_progress_phase();
}

void feat_progress_phase(void)
{
	feat_progress_next = pg.on ? STEP : UINT64_MAX;
	/* asked for: a new phase shows at its first update */
	if (pg.on && !pg.tty)
		pg.last = 0;
}

/* n in at most four significant characters and a suffix: 12.3M. */
static void human(char *buf, size_t size, uint64_t n)
{
	static const char suffix[] = " kMGTPE";
	double v = (double)n;
	int i = 0;

	if (n < 10000) {
		snprintf(buf, size, "%llu", (unsigned long long)n);
		return;
	}
	while (v >= 999.95 && i < 6) {
		v /= 1000;
		i++;
	}
	snprintf(buf, size, v < 99.95 ? "%.1f%c" : "%.0f%c", v, suffix[i]);
}

void feat_progress_show(uint64_t n, uint64_t total, const char *what)
{
	char a[32], of[48] = "", pct[16] = "";
	double t = now();

	feat_progress_next = n + STEP;
	if (!pg.on || t - pg.last < 0.25)
		return;
	pg.last = t;
	human(a, sizeof(a), n);
	if (total) {
		memcpy(of, " of ", 4);
		human(of + 4, sizeof(of) - 4, total);
		snprintf(pct, sizeof(pct), " (%d%%)",
			 (int)(100.0 * (double)n / (double)total));
	}
	fprintf(stderr, "%s%s: %s%s %s%s%s", pg.tty ? "\r" : "", pg.prog, a, of,
		what, pct, pg.tty ? "\033[K" : "\n");
	fflush(stderr);
	pg.shown = pg.tty;
}

void feat_progress_clear(void)
{
	if (!pg.shown)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	pg.shown = 0;
}
