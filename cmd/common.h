/*
 * common.h - what every feat command does the same way: its name in
 * messages, exit codes, signals, and checking stdout at exit.
 */
#ifndef FEAT_CMD_COMMON_H
#define FEAT_CMD_COMMON_H

#include <stdint.h>

#include "error.h"

#define EXIT_DATA 1
#define EXIT_USAGE 2

extern const char *progname;

/* Sets the program name, installs the signal handlers that remove
 * temporary files, and arranges for stdout to be checked at exit. */
void cmd_init(const char *name);

/* Prints "prog: <error>" and exits 1. */
void die_error(const struct feat_error *err) __attribute__((noreturn));

/* Prints "prog: message" and exits 1. */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Prints "prog: message", the usage text, and exits 2. */
void usage_error(const char *usage, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));

/* Prints a note on stderr: "prog: message". */
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses a time for --at/--from: integer milliseconds or ISO-8601. */
int parse_time_arg(const char *s, int64_t *ms);

#endif
