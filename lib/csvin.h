/*
 * csvin.h - reading CSV rows of a source, pushed in pieces of any size.
 *
 * A push parser (libcsv): bytes arrive through feat_csv_feed() however the
 * input delivers them, rows leave through a callback as typed values, so a
 * live pipe and a file give the same rows. Fields are converted to the
 * source's column types as they are parsed; strings live in a per-row arena
 * until the callback returns. Nothing is allocated per row once the arena
 * has grown to the largest row.
 */
#ifndef FEAT_CSVIN_H
#define FEAT_CSVIN_H

#include <stddef.h>

#include "value.h"

struct feat_error;
struct feat_source;

struct feat_csv_row {
	const struct feat_value *vals;	/* one per source column */
	size_t nfields;			/* fields in the file's row */
	const char *const *fields;	/* their text (unquoted), NUL-ended */
	const size_t *field_lens;
	long line;			/* the row's first line, 1-based */
	const long *col_field;		/* per source column: its field, 1-based */
	const char *raw;		/* JSON Lines: the line as read; else NULL */
	size_t raw_len;
};

/* Called once per data row. Returns 0, or -1 with err set to stop. */
typedef int (*feat_csv_row_fn)(void *ctx, const struct feat_csv_row *row,
			       struct feat_error *err);

struct feat_csv;

/*
 * A reader for the rows of src in a file called file (for messages).
 * Returns NULL when out of memory.
 */
struct feat_csv *feat_csv_new(const struct feat_source *src, const char *file,
			      feat_csv_row_fn fn, void *ctx);

/* Parses n more bytes. Returns 0, or -1 with err set (the reader is then
 * unusable). */
int feat_csv_feed(struct feat_csv *r, const void *p, size_t n,
		  struct feat_error *err);

/* Ends the input: parses a last row without a line break. 0 or -1. */
int feat_csv_finish(struct feat_csv *r, struct feat_error *err);

/* The file's column names (its header, or the declared columns when the
 * source has no header); valid once the first row has been parsed. */
size_t feat_csv_header(const struct feat_csv *r, const char *const **names);

/* Frees r. NULL is allowed. */
void feat_csv_free(struct feat_csv *r);

/*
 * Converts the text s[0..n) of an int, double, bool or timestamp column
 * (the conversions every row reader shares). Returns NULL, or the name of
 * the type the text is not, for the error message. A non-finite double
 * is null.
 */
struct feat_column;
const char *feat_parse_scalar(const struct feat_column *c, const char *s,
			      size_t n, struct feat_value *v);

/*
 * Appends one field to out, quoted when it holds the delimiter, the quote
 * character or a line break. Returns 0 or -1.
 */
struct feat_buf;
int feat_csv_quote(struct feat_buf *out, const char *s, size_t n, char delim,
		   char quote);

#endif
