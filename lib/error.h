/*
 * error.h - the error record every libfeat function fills instead of printing.
 *
 * The library never prints and never exits. A failing function returns -1
 * (or NULL) and describes the failure in a caller-owned struct feat_error:
 * where (file, line, column; 0 when unknown) and what. Commands turn it into
 * one line on stderr with feat_error_format().
 */
#ifndef FEAT_ERROR_H
#define FEAT_ERROR_H

#include <stddef.h>

struct feat_error {
	char file[256];		/* "" when the error has no file */
	long line;		/* 1-based; 0 when unknown */
	long col;		/* 1-based; 0 when unknown */
	char msg[512];		/* lowercase, no full stop */
	char detail[512];	/* optional extra lines (caret, hint); "" if none */
};

/* Clears *err so that it describes no error. */
void feat_error_clear(struct feat_error *err);

/*
 * Fills *err with a formatted message and a location. file may be NULL.
 * Returns -1 so that callers can write "return feat_error_set(...)".
 */
int feat_error_set(struct feat_error *err, const char *file, long line,
		   long col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Sets the message to strerror(errnum) prefixed by the formatted text. */
int feat_error_errno(struct feat_error *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Sets an "out of memory" message. Returns -1. */
int feat_error_nomem(struct feat_error *err);

/*
 * Writes "file:line:col: msg" (the parts that are known) into buf, followed
 * by "\n" and the detail lines when there are any. Returns the length.
 */
size_t feat_error_format(const struct feat_error *err, char *buf, size_t n);

#endif
