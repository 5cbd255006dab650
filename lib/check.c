/*
 * check.c - consistency figures between two tables of the same rows.
 *
 * Both files are read whole through csvin.c with a schema of string
 * columns built from the plan's join (left columns and outputs), so the
 * comparison is of the printed text: equal text is a match; otherwise two
 * numbers count towards the mean relative difference |a - b| / max(|a|,|b|).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "csvin.h"
#include "error.h"
#include "io.h"
#include "plan.h"
#include "value.h"

struct table {
	struct feat_source src;
	struct feat_buf text;		/* every field, NUL-terminated */
	size_t *off;			/* [row * ncols + col] */
	size_t nrows, cap;
	int *present;			/* per column: in the file's header */
};

static int on_row(void *ctx, const struct feat_csv_row *row,
		  struct feat_error *err)
{
	struct table *t = ctx;
	size_t i, n = t->src.ncols;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1024;
		size_t *off = realloc(t->off, cap * n * sizeof(*off));

		if (!off)
			return feat_error_nomem(err);
		t->off = off;
		t->cap = cap;
	}
	for (i = 0; i < n; i++) {
		const struct feat_value *v = &row->vals[i];

		t->off[t->nrows * n + i] = t->text.len;
		if (v->type == FEAT_STRING &&
		    feat_buf_add(&t->text, v->u.s.ptr, v->u.s.len) < 0)
			return feat_error_nomem(err);
		if (feat_buf_addc(&t->text, 0) < 0)
			return feat_error_nomem(err);
	}
	t->nrows++;
	return 0;
}

/* Reads path as a table of the columns of src (which it borrows). */
static int load(struct table *t, const char *path, struct feat_error *err)
{
	struct feat_input in;
	struct feat_csv *csv = NULL;
	int ret = -1;

	if (feat_input_open(&in, path, err) < 0)
		return -1;
	csv = feat_csv_new(&t->src, in.name, on_row, t);
	if (!csv) {
		feat_error_nomem(err);
		goto out;
	}
	for (;;) {
		ssize_t n = feat_input_read(&in, err);

		if (n < 0)
			goto out;
		if (n == 0)
			break;
		if (feat_csv_feed(csv, in.buf, (size_t)n, err) < 0)
			goto out;
	}
	ret = feat_csv_finish(csv, err);
out:
	feat_csv_free(csv);
	feat_input_close(&in);
	return ret;
}

static const char *field(const struct table *t, size_t row, size_t col)
{
	return t->text.ptr + t->off[row * t->src.ncols + col];
}

/* The names in path's header line that are output columns of the join. */
static int header_cols(const char *path, const struct feat_join *j,
		       struct feat_column **cols, size_t *n,
		       struct feat_error *err)
{
	struct feat_input in;
	struct feat_buf line = FEAT_BUF_INIT;
	size_t i;
	int ret = -1;

	if (feat_input_open(&in, path, err) < 0)
		return -1;
	while (!memchr(line.ptr ? line.ptr : "", '\n', line.len)) {
		ssize_t r = feat_input_read(&in, err);

		if (r < 0)
			goto out;
		if (r == 0)
			break;
		if (feat_buf_add(&line, in.buf, (size_t)r) < 0) {
			feat_error_nomem(err);
			goto out;
		}
	}
	*cols = calloc(j->noutputs + 1, sizeof(**cols));
	if (!*cols) {
		feat_error_nomem(err);
		goto out;
	}
	*n = 0;
	for (i = 0; i < j->noutputs; i++) {
		const char *name = j->outputs[i].name, *p = line.ptr;
		size_t len = strlen(name);

		/* A whole field of the header line: bounded by , or ends. */
		while (p && (p = strstr(p, name)) != NULL) {
			int before = p == line.ptr || p[-1] == ',';
			char after = p[len];

			if (before && (after == ',' || after == '\n' ||
				       after == '\r' || after == '\0'))
				break;
			p += len;
		}
		if (!p)
			continue;
		(*cols)[*n].name = (char *)name;
		(*cols)[*n].type = FEAT_STRING;
		(*n)++;
	}
	ret = 0;
out:
	feat_buf_release(&line);
	feat_input_close(&in);
	return ret;
}

int feat_check_against(const struct feat_plan *plan, const char *ours,
		       const char *logged, struct feat_buf *report,
		       struct feat_error *err)
{
	const struct feat_join *j = plan->join;
	struct table a, b;
	struct feat_column *cols = NULL;
	size_t n = 0, c, r;
	int ret = -1;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	if (!j)
		return feat_error_set(err, NULL, 0, 0, "the plan has no \"join\"");
	if (header_cols(logged, j, &cols, &n, err) < 0)
		return -1;
	if (!n) {
		feat_error_set(err, logged, 1, 0, "no feature column of the join in the header");
		goto out;
	}
	a.src.name = b.src.name = "check";
	a.src.cols = b.src.cols = cols;
	a.src.ncols = b.src.ncols = n;
	a.src.fmt.header = b.src.fmt.header = 1;
	a.src.fmt.delim = b.src.fmt.delim = ',';
	a.src.fmt.quote = b.src.fmt.quote = '"';
	/* No text is null: an empty field is an empty string here. */
	a.src.fmt.null_text = b.src.fmt.null_text = "\x01";
	if (load(&a, ours, err) < 0 || load(&b, logged, err) < 0)
		goto out;
	if (a.nrows != b.nrows) {
		feat_error_set(err, logged, 0, 0,
			       "%zu rows, but the join gave %zu: the log must hold one row per left row, in left order",
			       b.nrows, a.nrows);
		goto out;
	}
	feat_buf_adds(report, "feature,rows,matches,mismatches,both_null,only_online_null,only_offline_null,mean_relative_difference\n");
	for (c = 0; c < n; c++) {
		size_t match = 0, mis = 0, bothnull = 0, onull = 0, fnull = 0, nrel = 0;
		double rel = 0;
		char num[FEAT_NUMBUF];

		for (r = 0; r < a.nrows; r++) {
			const char *x = field(&a, r, c), *y = field(&b, r, c);
			double dx, dy;

			if (!*x && !*y) {
				bothnull++;
				continue;
			}
			if (!*y) {
				onull++;
				continue;
			}
			if (!*x) {
				fnull++;
				continue;
			}
			if (!strcmp(x, y))
				match++;
			else
				mis++;
			if (feat_parse_double(x, strlen(x), &dx) == 0 &&
			    feat_parse_double(y, strlen(y), &dy) == 0) {
				double m = fmax(fabs(dx), fabs(dy));

				rel += m > 0 ? fabs(dx - dy) / m : 0;
				nrel++;
			}
		}
		feat_buf_addf(report, "%s,%zu,%zu,%zu,%zu,%zu,%zu,", cols[c].name,
			      a.nrows, match, mis, bothnull, onull, fnull);
		if (nrel)
			feat_buf_add(report, num, feat_fmt_double(num, rel / (double)nrel));
		feat_buf_addc(report, '\n');
	}
	ret = report->ptr ? 0 : feat_error_nomem(err);
out:
	feat_buf_release(&a.text);
	feat_buf_release(&b.text);
	free(a.off);
	free(b.off);
	free(cols);
	return ret;
}
