/*
 * progress.h - a progress line on stderr while long work goes on.
 *
 * On a terminal, one line rewritten in place, first once the work has
 * taken a second, then at most four times a second, and erased before any
 * other message and at the end; asked for elsewhere (a notebook, a log),
 * a line at each update. Off unless feat_progress_start() turned it on.
 *
 * A hot loop counts its units and calls feat_progress_due() with the
 * count, which costs one compare; only when it says so does it call
 * feat_progress_show(), which looks at the clock. One thread shows it.
 */
#ifndef FEAT_PROGRESS_H
#define FEAT_PROGRESS_H

#include <stdint.h>

/* The count at which to look at the clock next: UINT64_MAX when off. */
extern uint64_t feat_progress_next;

/*
 * Turns the line on for program prog when stderr is a terminal and the
 * output (a path, or stdout for NULL or "-") is not, or always when
 * force; quiet turns it off whatever the rest.
 */
void feat_progress_start(const char *prog, int force, int quiet,
			 const char *output);

/* A new count begins (another phase of the work, counted from 0). */
void feat_progress_phase(void);

static inline int feat_progress_due(uint64_t n)
{
	return n >= feat_progress_next;
}

/*
 * Shows "prog: N what" (N rounded: 12.3M), with "of TOTAL (P%)" when
 * total is not 0, if the time has come.
 */
void feat_progress_show(uint64_t n, uint64_t total, const char *what);

/* Erases the line on the terminal, if one is there. */
void feat_progress_clear(void);

#endif
