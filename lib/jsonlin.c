/*
 * jsonlin.c - JSON Lines rows over a small scanner.
 *
 * Each complete line is scanned once: members are walked depth first with
 * the dotted path of where the scanner is; a value whose path is a column
 * is converted in place, an object on the way to a column is entered, and
 * anything else is skipped by matching brackets. A line may arrive in
 * several pieces; the part before its newline waits in a buffer.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "jsonlin.h"
#include "jsontext.h"
#include "plan.h"
#include "time.h"

struct feat_jsonl {
	const struct feat_source *src;
	char *file;
	feat_csv_row_fn fn;
	void *ctx;
	struct feat_error *err;
	int failed;
	long line;
	struct feat_buf pending;	/* a line not yet ended */
	struct feat_value *vals;
	struct feat_buf arena;		/* strings and lists of the row */
	struct feat_buf tmp;
	struct feat_buf path;
	size_t *off;			/* per column: its text in arena */
	size_t *len;
	const char **fields;
	size_t *field_lens;
	long *col_field;
	const char **names;
	const char *line_start;
};

struct feat_jsonl *feat_jsonl_new(const struct feat_source *src,
				  const char *file, feat_csv_row_fn fn,
				  void *ctx)
{
	struct feat_jsonl *r = calloc(1, sizeof(*r));
	size_t i, n = src->ncols;

	if (!r)
		return NULL;
	r->src = src;
	r->file = strdup(file);
	r->fn = fn;
	r->ctx = ctx;
	r->vals = calloc(n + 1, sizeof(*r->vals));
	r->off = calloc(n + 1, sizeof(*r->off));
	r->len = calloc(n + 1, sizeof(*r->len));
	r->fields = calloc(n + 1, sizeof(*r->fields));
	r->field_lens = calloc(n + 1, sizeof(*r->field_lens));
	r->col_field = calloc(n + 1, sizeof(*r->col_field));
	r->names = calloc(n + 1, sizeof(*r->names));
	if (!r->file || !r->vals || !r->off || !r->len || !r->fields ||
	    !r->field_lens || !r->col_field || !r->names) {
		feat_jsonl_free(r);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		r->col_field[i] = (long)i + 1;
		r->names[i] = src->cols[i].name;
	}
	return r;
}

void feat_jsonl_free(struct feat_jsonl *r)
{
	if (!r)
		return;
	free(r->file);
	feat_buf_release(&r->pending);
	feat_buf_release(&r->arena);
	feat_buf_release(&r->tmp);
	feat_buf_release(&r->path);
	free(r->vals);
	free(r->off);
	free(r->len);
	free(r->fields);
	free(r->field_lens);
	free(r->col_field);
	free(r->names);
	free(r);
}

size_t feat_jsonl_header(const struct feat_jsonl *r, const char *const **names)
{
	*names = r->names;
	return r->src->ncols;
}

static int bad(struct feat_jsonl *r, const char *at, const char *what)
{
	feat_error_set(r->err, r->file, r->line, (long)(at - r->line_start) + 1,
		       "malformed JSON: %s", what);
	r->failed = 1;
	return -1;
}

/* Moves past one JSON value of any kind. */
static const char *skip_value(struct feat_jsonl *r, const char *p,
			      const char *end)
{
	int depth = 0;

	do {
		p = feat_json_skip_ws(p, end);
		if (p >= end)
			return bad(r, p, "the line ends inside a value"), NULL;
		if (*p == '"') {
			p++;
			while (p < end && *p != '"')
				p += *p == '\\' ? 2 : 1;
			if (p >= end)
				return bad(r, p, "unterminated string"), NULL;
			p++;
		} else if (*p == '{' || *p == '[') {
			depth++;
			p++;
			continue;
		} else if (*p == '}' || *p == ']') {
			depth--;
			p++;
		} else if (*p == ',' || *p == ':') {
			p++;
			continue;
		} else {
			const char *q = p;

			while (p < end && !strchr(",}] \t\r\n", *p))
				p++;
			if (p == q)
				return bad(r, p, "expected a value"), NULL;
		}
	} while (depth > 0);
	return p;
}

/* Is some column at or below path? (1: exactly, 2: below) */
static int wanted(const struct feat_jsonl *r, const char *path, size_t n,
		  size_t *col)
{
	size_t i;
	int below = 0;

	for (i = 0; i < r->src->ncols; i++) {
		const char *name = r->src->cols[i].name;

		if (strncmp(name, path, n))
			continue;
		if (!name[n]) {
			*col = i;
			return 1;
		}
		if (name[n] == '.')
			below = 2;
	}
	return below;
}

static int convert(struct feat_jsonl *r, size_t col, const char *p,
		   const char *end, const char **next)
{
	const struct feat_column *c = &r->src->cols[col];
	struct feat_value *v = &r->vals[col];
	const char *what = NULL, *start = p, *q;
	size_t textoff, textlen;
	int is_str = *p == '"';

	q = skip_value(r, p, end);
	if (!q)
		return -1;
	*next = q;
	/* The value's text, unquoted for strings: the field of the row. */
	if (is_str) {
		const char *s = p + 1;

		if (feat_json_unescape(&s, end, &r->tmp) < 0)
			return bad(r, p, "bad escape in a string");
	} else {
		feat_buf_reset(&r->tmp);
		if (feat_buf_add(&r->tmp, p, (size_t)(q - p)) < 0)
			return feat_error_nomem(r->err);
	}
	textoff = r->arena.len;
	textlen = r->tmp.len;
	if (feat_buf_add(&r->arena, r->tmp.ptr ? r->tmp.ptr : "", textlen) < 0 ||
	    feat_buf_addc(&r->arena, 0) < 0)
		return feat_error_nomem(r->err);
	r->off[col] = textoff;
	r->len[col] = textlen;
	if (!is_str && q - p == 4 && !memcmp(p, "null", 4)) {
		v->type = FEAT_NULL;
		return 0;
	}
	{
		const char *s = r->arena.ptr + textoff;

		switch (c->type) {
		case FEAT_INT:
		case FEAT_DOUBLE:
		case FEAT_BOOL:
		case FEAT_TIMESTAMP:
			what = feat_parse_scalar(c, s, textlen, v);
			break;
		case FEAT_STRING:
			v->type = FEAT_STRING;
			v->u.s.ptr = (const char *)(uintptr_t)textoff;
			v->u.s.len = textlen;
			break;
		case FEAT_VECTOR:
		case FEAT_STRLIST: {
			size_t lstart = r->arena.len;

			v->type = c->type;
			if (feat_json_list(c->type, start, (size_t)(q - start),
					   &r->arena, &r->tmp) < 0) {
				r->arena.len = lstart;
				what = feat_column_type_name(c);
				break;
			}
			v->u.s.ptr = (const char *)(uintptr_t)lstart;
			v->u.s.len = r->arena.len - lstart;
			break;
		}
		case FEAT_MAP: {
			size_t mstart = r->arena.len;
			int rc;

			v->type = FEAT_MAP;
			rc = feat_json_map(start, (size_t)(q - start), &r->arena,
					   &r->tmp);
			if (rc < 0) {
				r->arena.len = mstart;
				what = rc == -2 ? "map<string,double> (a key appears twice)"
						: "map<string,double> (an object of numbers)";
				break;
			}
			v->u.s.ptr = (const char *)(uintptr_t)mstart;
			v->u.s.len = r->arena.len - mstart;
			break;
		}
		default:
			v->type = FEAT_NULL;
			break;
		}
		if (what) {
			/* A list or map may have moved the arena. */
			s = r->arena.ptr + textoff;
			feat_error_set(r->err, r->file, r->line,
				       (long)(start - r->line_start) + 1,
				       "cannot parse '%.*s' as %s (column '%s')",
				       (int)(textlen > 60 ? 60 : textlen), s, what,
				       c->name);
			r->failed = 1;
			return -1;
		}
	}
	return 0;
}

/* Walks the members of the object at p (just after '{'). */
static const char *walk(struct feat_jsonl *r, const char *p, const char *end,
			int depth)
{
	size_t base = r->path.len;

	if (depth > 64)
		return bad(r, p, "nested too deeply"), NULL;
	for (;;) {
		size_t col;
		int w;

		p = feat_json_skip_ws(p, end);
		if (p < end && *p == '}')
			return p + 1;
		if (p >= end || *p != '"')
			return bad(r, p, "expected a member name"), NULL;
		p++;
		if (feat_json_unescape(&p, end, &r->tmp) < 0)
			return bad(r, p, "bad member name"), NULL;
		r->path.len = base;
		if (base)
			feat_buf_addc(&r->path, '.');
		feat_buf_add(&r->path, r->tmp.ptr ? r->tmp.ptr : "", r->tmp.len);
		if (!r->path.ptr)
			return feat_error_nomem(r->err), NULL;
		p = feat_json_skip_ws(p, end);
		if (p >= end || *p != ':')
			return bad(r, p, "expected ':'"), NULL;
		p = feat_json_skip_ws(p + 1, end);
		if (p >= end)
			return bad(r, p, "the line ends inside an object"), NULL;
		w = wanted(r, r->path.ptr, r->path.len, &col);
		if (w == 1) {
			if (convert(r, col, p, end, &p) < 0)
				return NULL;
		} else if (w == 2 && *p == '{') {
			p = walk(r, p + 1, end, depth + 1);
		} else {
			p = skip_value(r, p, end);
		}
		if (!p)
			return NULL;
		r->path.len = base;
		p = feat_json_skip_ws(p, end);
		if (p < end && *p == ',') {
			p = feat_json_skip_ws(p + 1, end);
			if (p < end && *p == '}')
				return bad(r, p, "a ',' before '}'"), NULL;
			continue;
		}
		if (p < end && *p == '}')
			return p + 1;
		return bad(r, p, "expected ',' or '}'"), NULL;
	}
}

static int do_line(struct feat_jsonl *r, const char *s, size_t n)
{
	const struct feat_source *src = r->src;
	struct feat_csv_row row;
	const char *p, *end = s + n;
	size_t i;

	if (n && s[n - 1] == '\r')
		end--;
	r->line_start = s;
	p = feat_json_skip_ws(s, end);
	if (p == end)
		return 0;	/* a blank line */
	for (i = 0; i < src->ncols; i++) {
		r->vals[i].type = FEAT_NULL;
		r->off[i] = 0;
		r->len[i] = 0;
	}
	feat_buf_reset(&r->arena);
	feat_buf_reset(&r->path);
	if (feat_buf_addc(&r->arena, 0) < 0)
		return feat_error_nomem(r->err);
	if (*p != '{')
		return bad(r, p, "a line must hold one JSON object");
	p = walk(r, p + 1, end, 0);
	if (!p)
		return -1;
	if (feat_json_skip_ws(p, end) != end)
		return bad(r, p, "text after the object");
	for (i = 0; i < src->ncols; i++) {
		struct feat_value *v = &r->vals[i];

		r->fields[i] = r->arena.ptr + r->off[i];
		r->field_lens[i] = r->len[i];
		if (v->type == FEAT_STRING || v->type == FEAT_VECTOR ||
		    v->type == FEAT_STRLIST || v->type == FEAT_MAP)
			v->u.s.ptr = r->arena.ptr + (uintptr_t)v->u.s.ptr;
	}
	row.vals = r->vals;
	row.nfields = src->ncols;
	row.fields = r->fields;
	row.field_lens = r->field_lens;
	row.line = r->line;
	row.col_field = r->col_field;
	row.raw = s;
	row.raw_len = (size_t)(end - s);
	if (r->fn(r->ctx, &row, r->err) < 0) {
		r->failed = 1;
		return -1;
	}
	return 0;
}

int feat_jsonl_feed(struct feat_jsonl *r, const void *buf, size_t n,
		    struct feat_error *err)
{
	const char *p = buf, *end = p + n;

	r->err = err;
	if (r->failed)
		return -1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (!nl) {
			if (feat_buf_add(&r->pending, p, (size_t)(end - p)) < 0)
				return feat_error_nomem(err);
			break;
		}
		r->line++;
		if (r->pending.len) {
			int rc;

			if (feat_buf_add(&r->pending, p, (size_t)(nl - p)) < 0)
				return feat_error_nomem(err);
			rc = do_line(r, r->pending.ptr, r->pending.len);
			feat_buf_reset(&r->pending);
			if (rc < 0)
				return -1;
		} else if (do_line(r, p, (size_t)(nl - p)) < 0) {
			return -1;
		}
		p = nl + 1;
	}
	return 0;
}

int feat_jsonl_finish(struct feat_jsonl *r, struct feat_error *err)
{
	int rc = 0;

	r->err = err;
	if (r->failed)
		return -1;
	if (r->pending.len) {
		r->line++;
		rc = do_line(r, r->pending.ptr, r->pending.len);
		feat_buf_reset(&r->pending);
	}
	return rc;
}
