/*
 * csvin.c - CSV rows to typed values over libcsv's push parser.
 *
 * libcsv reports a field at a time (cb_field) and the end of a row
 * (cb_row); with CSV_REPALL_NL it also reports every line break outside a
 * record, which is how blank lines and "\r\n" are counted so that error
 * messages can give the line of a row even when quoted fields span lines.
 *
 * Most lines of most files are plain: no quote character, no '\r' but
 * perhaps one before the '\n', not blank; or their quoted fields end on
 * the line and hold no quote. For those libcsv's answer is known in
 * advance (a field per delimiter, a quoted one being its text between the
 * quotes, then the end of the row), so when libcsv stands between two
 * rows, fast_rows() splits such whole lines itself and runs them through
 * the same conversions, row checks and line counting as the callbacks
 * would. Anything else, and every line not yet complete in the bytes at
 * hand, goes to libcsv a line at a time until it stands between rows
 * again. Both paths give the same rows and the same
 * errors whatever pieces the input comes in: tests/unit/test_csvin.c
 * compares each input fed whole (mostly fast_rows) with the same bytes fed
 * one at a time (libcsv alone, as no line is ever complete in a piece).
 */
#include <csv.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "csvin.h"
#include "error.h"
#include "jsontext.h"
#include "plan.h"
#include "time.h"

struct feat_csv {
	struct csv_parser p;
	const struct feat_source *src;
	char *file;
	feat_csv_row_fn fn;
	void *ctx;
	struct feat_error *err;
	int failed;
	int cr_pending;		/* the last row ended with '\r' */
	size_t null_len;	/* strlen of the null spelling */
	long line;		/* line where the next row starts */
	long row_newlines;	/* line breaks inside this row's fields */
	int have_header;
	/* header: file field -> column, or -1 when the column is not used */
	long *field_col;
	long *col_field;	/* column -> file field, 1-based */
	unsigned char *col_kind;	/* column -> KIND_*, for fast_rows() */
	size_t nheader;
	char **header;
	/* the row being read */
	size_t nfields;
	struct feat_value *vals;
	struct feat_buf arena;
	struct feat_buf tmp;		/* a string being unescaped */
	size_t *field_off;
	size_t *field_lens;
	size_t *field_src;	/* fast_rows(): a quoted field's text in the
				 * input line (else where field_off says) */
	const char **fields;
	size_t fields_cap;
	int fast;		/* 0: libcsv alone (a line break as delimiter
				 * or quote, which definitions refuse) */
};

/* The value types held in the arena, addressed by offset until the row
 * ends. */
#define IN_ARENA ((1u << FEAT_STRING) | (1u << FEAT_VECTOR) | \
		  (1u << FEAT_STRLIST) | (1u << FEAT_MAP))

/* The column types fast_rows() converts itself. */
enum { KIND_OTHER, KIND_INT, KIND_TS_MS, KIND_DOUBLE, KIND_STRING };

static int no_space(unsigned char c)
{
	(void)c;
	return 0;
}

struct feat_csv *feat_csv_new(const struct feat_source *src, const char *file,
			      feat_csv_row_fn fn, void *ctx)
{
	struct feat_csv *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	if (csv_init(&r->p, CSV_STRICT | CSV_REPALL_NL | CSV_STRICT_FINI)) {
		free(r);
		return NULL;
	}
	csv_set_delim(&r->p, (unsigned char)src->fmt.delim);
	csv_set_quote(&r->p, (unsigned char)src->fmt.quote);
	/* libcsv trims spaces and tabs around unquoted fields unless told
	 * otherwise; they belong to the field. Its line breaks are ours. */
	csv_set_space_func(&r->p, no_space);
	r->src = src;
	r->null_len = strlen(src->fmt.null_text);
	r->file = strdup(file);
	r->fn = fn;
	r->ctx = ctx;
	r->line = 1;
	r->fast = src->fmt.delim != '\n' && src->fmt.delim != '\r' &&
		  src->fmt.quote != '\n' && src->fmt.quote != '\r';
	r->vals = calloc(src->ncols, sizeof(*r->vals));
	if (!r->file || !r->vals) {
		feat_csv_free(r);
		return NULL;
	}
	return r;
}

void feat_csv_free(struct feat_csv *r)
{
	size_t i;

	if (!r)
		return;
	csv_free(&r->p);
	free(r->file);
	free(r->field_col);
	free(r->col_field);
	free(r->col_kind);
	for (i = 0; i < r->nheader; i++)
		free(r->header[i]);
	free(r->header);
	free(r->vals);
	feat_buf_release(&r->arena);
	feat_buf_release(&r->tmp);
	free(r->field_off);
	free(r->field_lens);
	free(r->field_src);
	free(r->fields);
	free(r);
}

size_t feat_csv_header(const struct feat_csv *r, const char *const **names)
{
	*names = (const char *const *)r->header;
	return r->nheader;
}

static int fail(struct feat_csv *r)
{
	r->failed = 1;
	return -1;
}

static int grow_fields(struct feat_csv *r)
{
	size_t cap = r->fields_cap ? r->fields_cap * 2 : 16;
	size_t *off = realloc(r->field_off, cap * sizeof(*off));

	if (!off)
		return -1;
	r->field_off = off;
	off = realloc(r->field_lens, cap * sizeof(*off));
	if (!off)
		return -1;
	r->field_lens = off;
	off = realloc(r->field_src, cap * sizeof(*off));
	if (!off)
		return -1;
	r->field_src = off;
	{
		const char **f = realloc(r->fields, cap * sizeof(*f));

		if (!f)
			return -1;
		r->fields = f;
	}
	r->fields_cap = cap;
	return 0;
}

const char *feat_parse_scalar(const struct feat_column *c, const char *s,
			      size_t n, struct feat_value *v)
{
	int b;

	v->type = c->type;
	switch (c->type) {
	case FEAT_INT:
		return feat_parse_int(s, n, &v->u.i) < 0 ? "int" : NULL;
	case FEAT_DOUBLE:
		if (feat_parse_double(s, n, &v->u.d) < 0)
			return "double";
		if (!(v->u.d - v->u.d == 0))
			v->type = FEAT_NULL;	/* NaN and infinities are null */
		return NULL;
	case FEAT_BOOL:
		if (feat_parse_bool(s, n, &b) < 0)
			return "bool";
		v->u.i = b;
		return NULL;
	case FEAT_TIMESTAMP:
		return feat_ts_parse(s, n, c->unit, &v->u.i) < 0
		       ? feat_column_type_name(c) : NULL;
	default:
		v->type = FEAT_NULL;
		return NULL;
	}
}

static int convert(struct feat_csv *r, size_t col, const char *s, size_t n,
		   size_t off)
{
	const struct feat_column *c = &r->src->cols[col];
	struct feat_value *v = &r->vals[col];
	const char *what = NULL;

	if (n == r->null_len && !memcmp(s, r->src->fmt.null_text, n)) {
		v->type = FEAT_NULL;
		return 0;
	}
	switch (c->type) {
	case FEAT_INT:
	case FEAT_DOUBLE:
	case FEAT_BOOL:
	case FEAT_TIMESTAMP:
		what = feat_parse_scalar(c, s, n, v);
		break;
	case FEAT_STRING:
		/* The arena may move while the row grows: keep the offset
		 * and point into the arena when the row is complete. */
		v->type = FEAT_STRING;
		v->u.s.ptr = (const char *)(uintptr_t)off;
		v->u.s.len = n;
		break;
	case FEAT_VECTOR:
	case FEAT_STRLIST: {
		/* The packed list goes after the field's text in the arena;
		 * like strings, it is addressed by offset until the row ends. */
		size_t start = r->arena.len;

		v->type = c->type;
		if (feat_json_list(c->type, s, n, &r->arena, &r->tmp) < 0) {
			r->arena.len = start;
			what = c->type == FEAT_VECTOR ? "list<double> (a JSON array of numbers)"
						      : "list<string> (a JSON array of strings)";
			break;
		}
		v->u.s.ptr = (const char *)(uintptr_t)start;
		v->u.s.len = r->arena.len - start;
		break;
	}
	case FEAT_MAP: {
		size_t start = r->arena.len;
		int rc;

		v->type = FEAT_MAP;
		rc = feat_json_map(s, n, &r->arena, &r->tmp);
		if (rc < 0) {
			r->arena.len = start;
			what = rc == -2 ? "map<string,double> (a key appears twice)"
					: "map<string,double> (a JSON object of numbers)";
			break;
		}
		v->u.s.ptr = (const char *)(uintptr_t)start;
		v->u.s.len = r->arena.len - start;
		break;
	}
	case FEAT_NULL:
	case FEAT_JSON:
		break;
	}
	if (what) {
		feat_error_set(r->err, r->file, r->line, (long)r->nfields + 1,
			       "cannot parse '%.*s' as %s (column '%s')",
			       (int)(n > 60 ? 60 : n), s, what, c->name);
		return fail(r);
	}
	return 0;
}

static void cb_field(void *s, size_t n, void *data)
{
	struct feat_csv *r = data;
	size_t off;

	if (r->failed)
		return;
	if (!s)
		s = "";
	if (memchr(s, '\n', n)) {
		const char *p = s, *end = p + n;

		while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
			r->row_newlines++;
			p++;
		}
	}
	if (r->nfields == r->fields_cap && grow_fields(r) < 0) {
		feat_error_nomem(r->err);
		fail(r);
		return;
	}
	off = r->arena.len;
	if (feat_buf_add(&r->arena, s, n) < 0 || feat_buf_addc(&r->arena, 0) < 0) {
		feat_error_nomem(r->err);
		fail(r);
		return;
	}
	r->field_off[r->nfields] = off;
	r->field_lens[r->nfields] = n;
	if (r->have_header) {
		long col = r->nfields < r->nheader ? r->field_col[r->nfields] : -1;

		if (col >= 0 && convert(r, (size_t)col, s, n, off) < 0)
			return;
	}
	r->nfields++;
}

static int take_header(struct feat_csv *r)
{
	const struct feat_source *src = r->src;
	size_t i, n = src->fmt.header ? r->nfields : src->ncols;

	r->header = calloc(n ? n : 1, sizeof(*r->header));
	r->field_col = calloc(n ? n : 1, sizeof(*r->field_col));
	if (!r->header || !r->field_col)
		return feat_error_nomem(r->err);
	for (i = 0; i < n; i++) {
		const char *name = src->fmt.header ? r->arena.ptr + r->field_off[i]
						   : src->cols[i].name;
		size_t k;

		r->header[i] = strdup(name);
		if (!r->header[i])
			return feat_error_nomem(r->err);
		r->nheader = i + 1;
		r->field_col[i] = -1;
		for (k = 0; k < src->ncols; k++)
			if (!strcmp(src->cols[k].name, name))
				break;
		if (k < src->ncols) {
			size_t m;

			for (m = 0; m < i; m++)
				if (r->field_col[m] == (long)k)
					return feat_error_set(r->err, r->file, r->line,
							      (long)i + 1,
							      "column '%s' appears twice in the header",
							      name);
			r->field_col[i] = (long)k;
		}
	}
	r->col_field = calloc(src->ncols + 1, sizeof(*r->col_field));
	if (!r->col_field)
		return feat_error_nomem(r->err);
	for (i = 0; i < src->ncols; i++) {
		size_t m;

		for (m = 0; m < n; m++)
			if (r->field_col[m] == (long)i)
				break;
		if (m == n)
			return feat_error_set(r->err, r->file, r->line, 0,
					      "missing column '%s'", src->cols[i].name);
		r->col_field[i] = (long)m + 1;
	}
	r->col_kind = calloc(src->ncols + 1, 1);
	if (!r->col_kind)
		return feat_error_nomem(r->err);
	for (i = 0; i < src->ncols; i++) {
		const struct feat_column *c = &src->cols[i];

		r->col_kind[i] = c->type == FEAT_INT ? KIND_INT
			: c->type == FEAT_TIMESTAMP && c->unit == FEAT_TS_MS ? KIND_TS_MS
			: c->type == FEAT_DOUBLE ? KIND_DOUBLE
			: c->type == FEAT_STRING ? KIND_STRING : KIND_OTHER;
	}
	r->have_header = 1;
	return 0;
}

static void end_row(struct feat_csv *r)
{
	const struct feat_source *src = r->src;
	struct feat_csv_row row;
	size_t i;

	if (src->fmt.header && !r->have_header) {
		if (take_header(r) < 0)
			fail(r);
		return;
	}
	if (r->nfields != r->nheader) {
		feat_error_set(r->err, r->file, r->line,
			       (long)(r->nfields < r->nheader ? r->nfields : r->nheader + 1),
			       "expected %zu fields, found %zu", r->nheader,
			       r->nfields);
		fail(r);
		return;
	}
	for (i = 0; i < r->nfields; i++)
		r->fields[i] = r->arena.ptr + r->field_off[i];
	for (i = 0; i < src->ncols; i++)
		if ((1u << r->vals[i].type) & IN_ARENA)
			r->vals[i].u.s.ptr = r->arena.ptr +
					     (uintptr_t)r->vals[i].u.s.ptr;
	row.vals = r->vals;
	row.nfields = r->nfields;
	row.fields = r->fields;
	row.field_lens = r->field_lens;
	row.line = r->line;
	row.col_field = r->col_field;
	row.raw = NULL;
	row.raw_len = 0;
	if (r->fn(r->ctx, &row, r->err) < 0)
		fail(r);
}

static void cb_row(int c, void *data)
{
	struct feat_csv *r = data;

	if (r->failed)
		return;
	if (r->nfields == 0) {
		/* A line break outside a record: a blank line, or the '\n'
		 * of a "\r\n" that already ended the row. */
		if (!(c == '\n' && r->cr_pending))
			r->line++;
		r->cr_pending = c == '\r';
		return;
	}
	if (!r->have_header && !r->src->fmt.header && take_header(r) < 0) {
		fail(r);
		return;
	}
	if (!r->have_header && !r->src->fmt.header)
		return;
	end_row(r);
	r->line += 1 + r->row_newlines;
	r->row_newlines = 0;
	r->cr_pending = c == '\r';
	r->nfields = 0;
	feat_buf_reset(&r->arena);
}

/* A headerless source knows its columns before the first field. */
static int start(struct feat_csv *r)
{
	if (!r->have_header && !r->src->fmt.header && take_header(r) < 0)
		return fail(r);
	return 0;
}

/*
 * Copies the line s[0..len) to a (which has room for len + 16 bytes) and
 * splits it there at its delimiters into field_off/field_lens, each
 * delimiter becoming the NUL that ends its field, as cb_field lays fields
 * out in the arena. avail is how many bytes s has (the rest of the input).
 * Returns the number of fields, 0 when the line holds the quote or a '\r'
 * (it is then libcsv's to read), -1 when out of memory.
 */
static inline long split_line(struct feat_csv *r, const char *s,
			      size_t avail, char *a, size_t len)
{
	const char delim = r->src->fmt.delim;
	size_t nf = 0, fstart = 0, at;
#ifdef __SSE2__
	/* Sixteen bytes at a time, copied and turned into a bit mask of the
	 * delimiters and one of the bytes that stop the fast path. The
	 * loads may pass the line's end, not the input's: near that, they
	 * read a padded copy. */
	const __m128i vd = _mm_set1_epi8(delim);
	const __m128i vq = _mm_set1_epi8(r->src->fmt.quote);
	const __m128i vr = _mm_set1_epi8('\r');
	const char *src = s;
	size_t k;

	if (avail < (len | 15) + 1) {
		memcpy(a, s, len);
		memset(a + len, 0, 16);
		src = a;
	}
	for (k = 0; k < len; k += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(src + k));
		unsigned dm = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, vd));
		unsigned sm = (unsigned)_mm_movemask_epi8(
			_mm_or_si128(_mm_cmpeq_epi8(x, vq), _mm_cmpeq_epi8(x, vr)));

		_mm_storeu_si128((__m128i *)(void *)(a + k), x);
		if (len - k < 16) {
			unsigned keep = (1u << (len - k)) - 1;

			dm &= keep;
			sm &= keep;
		}
		if (sm)
			return 0;
		for (; dm; dm &= dm - 1) {
			at = k + (unsigned)__builtin_ctz(dm);
			if (nf == r->fields_cap && grow_fields(r) < 0)
				return -1;
			r->field_off[nf] = fstart;
			r->field_lens[nf++] = at - fstart;
			a[at] = '\0';
			fstart = at + 1;
		}
	}
	a[len] = '\0';
#else
	const char quote = r->src->fmt.quote;

	(void)avail;
	memcpy(a, s, len);
	a[len] = '\0';
	for (at = 0; at < len; at++) {
		if (a[at] == delim) {
			if (nf == r->fields_cap && grow_fields(r) < 0)
				return -1;
			r->field_off[nf] = fstart;
			r->field_lens[nf++] = at - fstart;
			a[at] = '\0';
			fstart = at + 1;
		} else if (a[at] == quote || a[at] == '\r') {
			return 0;
		}
	}
#endif
	if (nf == r->fields_cap && grow_fields(r) < 0)
		return -1;
	r->field_off[nf] = fstart;
	r->field_lens[nf++] = len - fstart;
	return (long)nf;
}

/*
 * The split of a line that split_line() leaves, one byte at a time: plain
 * fields as there, and quoted fields that hold no quote (a '\r' is text
 * there) and end at a delimiter or the line's end, which libcsv reads as
 * their text between the quotes. Also fills field_src, where a field's
 * text is in s. Returns as split_line() does; 0 (libcsv's) for a doubled
 * quote, a quote inside a plain field or after a closing one, a '\r' in a
 * plain field, or a quoted field that goes on past the line (its '\r'
 * before the '\n', cut off as a line end, is then inside it: no closing
 * quote is found before it).
 */
static long split_quoted(struct feat_csv *r, const char *s, char *a,
			 size_t len)
{
	const char delim = r->src->fmt.delim, quote = r->src->fmt.quote;
	size_t pos = 0, out = 0, nf = 0, start, flen;

	for (;;) {
		if (nf == r->fields_cap && grow_fields(r) < 0)
			return -1;
		if (pos < len && s[pos] == quote) {
			const char *q = memchr(s + pos + 1, quote, len - pos - 1);

			if (!q)
				return 0;
			start = pos + 1;
			flen = (size_t)(q - s) - start;
			pos = (size_t)(q - s) + 1;
			if (pos < len && s[pos] != delim)
				return 0;
		} else {
			for (start = pos; pos < len && s[pos] != delim; pos++)
				if (s[pos] == quote || s[pos] == '\r')
					return 0;
			flen = pos - start;
		}
		memcpy(a + out, s + start, flen);
		a[out + flen] = '\0';
		r->field_off[nf] = out;
		r->field_src[nf] = start;
		r->field_lens[nf++] = flen;
		out += flen + 1;
		if (pos == len)
			return (long)nf;
		pos++;		/* the delimiter */
	}
}

/*
 * Splits the plain lines at the start of [s, end) into rows, exactly as
 * libcsv would, and returns where the first line that is not plain, or not
 * complete, starts (end when there is none); NULL when a row failed. A
 * plain line is not blank and holds no '\r' but perhaps one right before
 * its '\n', and no quote character but around whole fields that hold none
 * (split_quoted()): libcsv then reports one field per delimiter and the
 * end of the row, and nothing else (its '\n' after a '\r' ends no row and,
 * cr_pending being set, counts no line). Called only when libcsv stands
 * between two rows, past the header.
 */
static const char *fast_rows(struct feat_csv *r, const char *s,
			     const char *end)
{
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t len, nf, i;
		long got;
		char *a;
		int quoted;

		if (!nl)
			break;
		len = (size_t)(nl - s);
		if (len && s[len - 1] == '\r')
			len--;
		if (!len)
			break;		/* a blank line */
		/* The line goes to the arena whole, split there. */
		feat_buf_reset(&r->arena);
		if (feat_buf_grow(&r->arena, len + 16) < 0)
			goto nomem;
		a = r->arena.ptr;
		quoted = 0;
		got = split_line(r, s, (size_t)(end - s), a, len);
		if (!got) {
			got = split_quoted(r, s, a, len);
			quoted = 1;
		}
		if (got < 0)
			goto nomem;
		if (!got)
			return s;	/* libcsv's to read */
		nf = (size_t)got;
		r->arena.len = len + 1;
		/* Converted in field order, as cb_field does, so that the
		 * first bad field is the one reported; from the input bytes,
		 * since a list or map column appends to the arena. The
		 * common types are converted here; the others, and every
		 * text that is not what its column wants, go to convert(),
		 * which decides (and words the error) as for libcsv. */
		for (i = 0; i < nf; i++) {
			long col = i < r->nheader ? r->field_col[i] : -1;
			const char *f = s + (quoted ? r->field_src[i] : r->field_off[i]);
			size_t fl = r->field_lens[i];
			struct feat_value *v;

			if (col < 0)
				continue;
			v = &r->vals[col];
			if (fl == r->null_len && !memcmp(f, r->src->fmt.null_text, fl)) {
				v->type = FEAT_NULL;
				continue;
			}
			switch (r->col_kind[col]) {
			case KIND_INT:
				if (!feat_parse_int(f, fl, &v->u.i)) {
					v->type = FEAT_INT;
					continue;
				}
				break;
			case KIND_TS_MS:
				if (!feat_parse_int(f, fl, &v->u.i)) {
					v->type = FEAT_TIMESTAMP;
					continue;
				}
				break;
			case KIND_DOUBLE:
				if (!feat_parse_double(f, fl, &v->u.d)) {
					/* NaN and infinities are null */
					v->type = v->u.d - v->u.d == 0 ? FEAT_DOUBLE
									: FEAT_NULL;
					continue;
				}
				break;
			case KIND_STRING:
				v->type = FEAT_STRING;
				v->u.s.ptr = (const char *)(uintptr_t)r->field_off[i];
				v->u.s.len = fl;
				continue;
			}
			r->nfields = i;
			if (convert(r, (size_t)col, f, fl, r->field_off[i]) < 0)
				return NULL;
		}
		r->nfields = nf;
		end_row(r);
		if (r->failed)
			return NULL;
		r->line++;
		r->cr_pending = 0;
		r->nfields = 0;
		feat_buf_reset(&r->arena);
		s = nl + 1;
	}
	return s;
nomem:
	feat_error_nomem(r->err);
	fail(r);
	return NULL;
}

int feat_csv_feed(struct feat_csv *r, const void *p, size_t n,
		  struct feat_error *err)
{
	const char *s = p, *end = s + n;

	r->err = err;
	if (r->failed)
		return -1;
	if (start(r) < 0)
		return -1;
	while (s < end) {
		const char *nl;
		size_t len, done;

		/* libcsv between rows (its state ROW_NOT_BEGUN, 0, holding
		 * no field): plain lines need no state machine. */
		if (r->fast && r->have_header && r->p.pstate == 0 &&
		    r->p.entry_pos == 0) {
			s = fast_rows(r, s, end);
			if (!s)
				return -1;
			if (s == end)
				break;
		}
		/* One line (or what there is of it) through libcsv. */
		nl = memchr(s, '\n', (size_t)(end - s));
		len = nl ? (size_t)(nl + 1 - s) : (size_t)(end - s);
		done = csv_parse(&r->p, s, len, cb_field, cb_row, r);
		if (r->failed)
			return -1;
		if (done < len) {
			feat_error_set(err, r->file, r->line, (long)r->nfields + 1,
				       "malformed CSV: %s (a quote inside an unquoted field, or text after a closing quote)",
				       csv_strerror(csv_error(&r->p)));
			return fail(r);
		}
		s += len;
	}
	return 0;
}

int feat_csv_finish(struct feat_csv *r, struct feat_error *err)
{
	r->err = err;
	if (r->failed)
		return -1;
	if (start(r) < 0)
		return -1;
	if (csv_fini(&r->p, cb_field, cb_row, r)) {
		if (r->failed)
			return -1;
		feat_error_set(err, r->file, r->line, (long)r->nfields + 1,
			       "malformed CSV: unterminated quoted field at end of input");
		return fail(r);
	}
	if (r->failed)
		return -1;
	if (r->src->fmt.header && !r->have_header)
		return feat_error_set(err, r->file, 0, 0,
				      "no header row (the source declares \"header\": true)");
	return 0;
}

int feat_csv_quote(struct feat_buf *out, const char *s, size_t n, char delim,
		   char quote)
{
	size_t i;
	int need = 0;

	for (i = 0; i < n; i++)
		if (s[i] == delim || s[i] == quote || s[i] == '\n' ||
		    s[i] == '\r') {
			need = 1;
			break;
		}
	if (!need)
		return feat_buf_add(out, s, n);
	if (feat_buf_addc(out, quote) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] == quote && feat_buf_addc(out, quote) < 0)
			return -1;
		if (feat_buf_addc(out, s[i]) < 0)
			return -1;
	}
	return feat_buf_addc(out, quote);
}
