/*
 * plan.c - checking a definition and building the in-memory plan.
 *
 * The builder walks the jansson tree with a JSON pointer of where it is, so
 * that every error can be placed at the line and column of the offending
 * value (jsonpos.c). Objects whose member order carries no meaning (sources,
 * group_bys, select) are walked in name order, so the plan, its canonical
 * text and its hash do not depend on how the definition was laid out.
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "expr.h"
#include "hash.h"
#include "jsonpos.h"
#include "plan.h"
#include "suggest.h"

struct ctx {
	const char *file;
	const char *text;	/* the JSON text, for columns inside strings */
	size_t len;
	struct feat_jsonpos jp;
	struct feat_error *err;
	char path[1024];
	void *scratch;		/* freed when the build ends */
};

static const char *const op_names[FEAT_OP__COUNT] = {
	"count", "sum", "avg", "min", "max", "last", "first", "var", "stddev",
	"first_k", "last_k", "top_k", "bottom_k", "unique_count",
	"approx_unique_count", "approx_percentile", "histogram",
};

const char *feat_op_name(enum feat_op op)
{
	return op_names[op];
}

const char *feat_agg_type_text(const struct feat_agg *a, char *buf)
{
	if (a->inner) {
		char in[64];

		snprintf(buf, 64, "map<%s,%s>", feat_type_name(a->by_type),
			 feat_agg_type_text(a->inner, in));
		return buf;
	}
	if (a->in_type == FEAT_VECTOR && a->out_type == FEAT_JSON &&
	    a->op != FEAT_OP_FIRST_K && a->op != FEAT_OP_LAST_K)
		return "list<double>";
	switch (a->op) {
	case FEAT_OP_FIRST_K: case FEAT_OP_LAST_K: case FEAT_OP_TOP_K:
	case FEAT_OP_BOTTOM_K:
		snprintf(buf, 64, "list<%s>", feat_type_name(a->in_type));
		return buf;
	case FEAT_OP_APPROX_PERCENTILE:
		return "list<double>";
	case FEAT_OP_HISTOGRAM:
		snprintf(buf, 64, "map<%s,int>", feat_type_name(a->in_type));
		return buf;
	default:
		return feat_type_name(a->out_type);
	}
}

const char *feat_column_type_name(const struct feat_column *c)
{
	static const char *const units[] = {
		"timestamp_s", "timestamp_ms", "timestamp_us", "timestamp_ns",
		"timestamp",
	};

	if (c->type == FEAT_TIMESTAMP)
		return units[c->unit];
	return feat_type_name(c->type);
}

/* Reports an error at the value under ctx->path + "/" + leaf (leaf may be
 * NULL); at_key places it on the member name instead. */
static int verr(struct ctx *c, const char *leaf, int at_key, long extra_col,
		const char *fmt, va_list ap)
{
	char ptr[1200];
	const struct feat_jsonpos_ent *e;
	long line = 0, col = 0;

	if (leaf)
		snprintf(ptr, sizeof(ptr), "%s/%s", c->path, leaf);
	else
		snprintf(ptr, sizeof(ptr), "%s", c->path);
	e = feat_jsonpos_find(&c->jp, ptr);
	while (!e && strrchr(ptr, '/')) {
		*strrchr(ptr, '/') = '\0';
		e = feat_jsonpos_find(&c->jp, ptr);
	}
	if (e) {
		line = at_key && e->key_line ? e->key_line : e->line;
		col = at_key && e->key_line ? e->key_col : e->col + extra_col;
	}
	feat_error_set(c->err, c->file, line, col, "%s", "");
	vsnprintf(c->err->msg, sizeof(c->err->msg), fmt, ap);
	return -1;
}

static int __attribute__((format(printf, 3, 4)))
err_at(struct ctx *c, const char *leaf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(c, leaf, 0, 0, fmt, ap);
	va_end(ap);
	return -1;
}

static int __attribute__((format(printf, 3, 4)))
err_key(struct ctx *c, const char *leaf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(c, leaf, 1, 0, fmt, ap);
	va_end(ap);
	return -1;
}

/* Pushes a pointer segment; returns the old length for pop(). */
static size_t push(struct ctx *c, const char *seg)
{
	size_t old = strlen(c->path);
	size_t i = old;

	if (i + 1 < sizeof(c->path))
		c->path[i++] = '/';
	for (; *seg && i + 2 < sizeof(c->path); seg++) {
		if (*seg == '~' || *seg == '/') {
			c->path[i++] = '~';
			c->path[i++] = *seg == '~' ? '0' : '1';
		} else {
			c->path[i++] = *seg;
		}
	}
	c->path[i] = '\0';
	return old;
}

static size_t pushi(struct ctx *c, size_t idx)
{
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "%zu", idx);
	return push(c, tmp);
}

static void pop(struct ctx *c, size_t old)
{
	c->path[old] = '\0';
}

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE: case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* Every member of obj must be one of the NULL-terminated names. */
static int only_keys(struct ctx *c, json_t *obj, const char *what,
		     const char *const *names)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		size_t i;

		for (i = 0; names[i]; i++)
			if (!strcmp(key, names[i]))
				break;
		if (!names[i]) {
			char list[256] = "";
			const char *s;

			for (i = 0; names[i]; i++)
				;
			s = feat_suggest(key, strlen(key), names, sizeof(names[0]), i);
			if (s)
				return err_key(c, key, "unknown member '%s' in %s; did you mean '%s'?",
					       key, what, s);

			for (i = 0; names[i]; i++) {
				strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
				strncat(list, names[i], sizeof(list) - strlen(list) - 1);
			}
			return err_key(c, key, "unknown member '%s' in %s (expected one of: %s)",
				       key, what, list);
		}
	}
	return 0;
}

static json_t *get_typed(struct ctx *c, json_t *obj, const char *key,
			 json_type type, int required, const char *what)
{
	json_t *v = json_object_get(obj, key);
	static const char *const kinds[] = {
		"an object", "an array", "a string", "an integer", "a number",
		"a boolean", "a boolean", "null",
	};

	if (!v) {
		if (required)
			err_at(c, NULL, "%s needs \"%s\"", what, key);
		return NULL;
	}
	if (json_typeof(v) != type &&
	    !(type == JSON_TRUE && json_typeof(v) == JSON_FALSE)) {
		err_at(c, key, "\"%s\" must be %s, not %s", key, kinds[type],
		       json_kind(v));
		return NULL;
	}
	return v;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The member names of obj in byte order; the caller frees the array. */
static const char **sorted_keys(json_t *obj, size_t *n)
{
	const char **keys;
	const char *key;
	json_t *v;
	size_t i = 0;

	*n = json_object_size(obj);
	keys = calloc(*n ? *n : 1, sizeof(*keys));
	if (!keys)
		return NULL;
	json_object_foreach(obj, key, v)
		keys[i++] = key;
	qsort(keys, *n, sizeof(*keys), cmp_str);
	return keys;
}

static int valid_name(const char *s)
{
	if (!*s || !(*s == '_' || (*s >= 'a' && *s <= 'z') ||
		     (*s >= 'A' && *s <= 'Z')))
		return 0;
	for (; *s; s++)
		if (!(*s == '_' || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
			return 0;
	return 1;
}

/* A JSON Lines column: names joined by dots, "context.page". */
static int valid_path(const char *s)
{
	char seg[256];

	for (;;) {
		const char *dot = strchr(s, '.');
		size_t n = dot ? (size_t)(dot - s) : strlen(s);

		if (!n || n >= sizeof(seg))
			return 0;
		memcpy(seg, s, n);
		seg[n] = '\0';
		if (!valid_name(seg))
			return 0;
		if (!dot)
			return 1;
		s = dot + 1;
	}
}

static int parse_type(const char *s, struct feat_column *col)
{
	static const struct {
		const char *name;
		enum feat_type type;
		enum feat_ts_unit unit;
	} types[] = {
		{ "int", FEAT_INT, 0 },
		{ "double", FEAT_DOUBLE, 0 },
		{ "string", FEAT_STRING, 0 },
		{ "bool", FEAT_BOOL, 0 },
		{ "timestamp_s", FEAT_TIMESTAMP, FEAT_TS_S },
		{ "timestamp_ms", FEAT_TIMESTAMP, FEAT_TS_MS },
		{ "timestamp_us", FEAT_TIMESTAMP, FEAT_TS_US },
		{ "timestamp_ns", FEAT_TIMESTAMP, FEAT_TS_NS },
		{ "timestamp", FEAT_TIMESTAMP, FEAT_TS_ISO },
		{ "list<double>", FEAT_VECTOR, 0 },
		{ "list<string>", FEAT_STRLIST, 0 },
		{ "map<string,double>", FEAT_MAP, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (!strcmp(s, types[i].name)) {
			col->type = types[i].type;
			col->unit = types[i].unit;
			return 0;
		}
	}
	return -1;
}

static long find_col(const struct feat_column *cols, size_t n,
		     const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(cols[i].name, name))
			return (long)i;
	return -1;
}

/* "; did you mean 'x'?" for name among the stride-spaced candidates, or "". */
static const char *hint(char *buf, size_t n, const char *name,
			const void *cands, size_t stride, size_t ncands)
{
	const char *s = ncands ? feat_suggest(name, strlen(name), cands, stride,
					      ncands) : NULL;

	buf[0] = '\0';
	if (!s)
		return buf;
	snprintf(buf, n, "; did you mean '%s'?", s);
	return buf;
}

#define HINT(what, arr, n) hint(hb, sizeof(hb), (what), &(arr)[0].name, sizeof((arr)[0]), (n))

static char *xstrdup(struct ctx *c, const char *s)
{
	char *d = strdup(s);

	if (!d)
		feat_error_nomem(c->err);
	return d;
}

/* Reads a one-character option such as "delimiter". */
static int get_char(struct ctx *c, json_t *obj, const char *key, char def,
		    char *out)
{
	json_t *v = json_object_get(obj, key);

	*out = def;
	if (!v)
		return 0;
	if (!json_is_string(v) || json_string_length(v) != 1)
		return err_at(c, key, "\"%s\" must be a string of one character",
			      key);
	*out = json_string_value(v)[0];
	if (*out == '\n' || *out == '\r')
		return err_at(c, key, "\"%s\" cannot be a line break", key);
	return 0;
}

/* "0", "0s", "0ms", ...: no lateness at all. */
static int is_zero_duration(const char *s)
{
	if (*s != '0')
		return 0;
	while (*s == '0')
		s++;
	return !*s || !strcmp(s, "ms") || !strcmp(s, "s") || !strcmp(s, "m") ||
	       !strcmp(s, "h") || !strcmp(s, "d");
}

static int get_duration(struct ctx *c, json_t *v, const char *leaf,
			int64_t *ms, int allow_unbounded)
{
	const char *s;

	if (!json_is_string(v))
		return err_at(c, leaf, "a duration must be a string such as \"5h\", not %s",
			      json_kind(v));
	s = json_string_value(v);
	if (allow_unbounded && !strcmp(s, "unbounded")) {
		*ms = FEAT_UNBOUNDED;
		return 0;
	}
	if (feat_duration_parse(s, ms) < 0)
		return err_at(c, leaf, "cannot parse '%s' as a duration (examples: 30s, 5m, 1h30m, 7d%s)",
			      s, allow_unbounded ? ", unbounded" : "");
	return 0;
}

/*
 * The file column, relative to the opening quote, of character ecol
 * (1-based) of the decoded JSON string starting at p: escapes such as \"
 * or \u00e9 take more columns in the file than in the string.
 */
static long string_column(const char *p, const char *end, long ecol)
{
	long col = 1, ch = 1;

	p++;			/* the opening quote */
	while (p < end && *p != '"' && ch < ecol) {
		if (*p == '\\') {
			int n = p + 1 < end && p[1] == 'u' ? 6 : 2;

			p += n;
			col += n;
		} else {
			/* one column per character, not per UTF-8 byte */
			p++;
			while (p < end && (*p & 0xc0) == 0x80)
				p++;
			col++;
		}
		ch++;
	}
	return col;
}

/*
 * The detail lines of an expression error: the line of the expression that
 * holds byte pos, and a caret under it. Tabs before the caret are copied so
 * that it lines up however the terminal expands them.
 */
static void caret_detail(struct feat_error *err, const char *text, size_t pos)
{
	const char *start = text, *end, *p;
	size_t n, i = 0;
	char *d = err->detail;
	size_t cap = sizeof(err->detail);

	if (pos > strlen(text))
		pos = strlen(text);
	for (p = text; p < text + pos; p++)
		if (*p == '\n')
			start = p + 1;
	end = strchr(start, '\n');
	if (!end)
		end = start + strlen(start);
	n = (size_t)(end - start);
	i = (size_t)snprintf(d, cap, "    %.*s\n    ", (int)n, start);
	for (p = start; p < text + pos && i + 2 < cap; p++) {
		if ((*p & 0xc0) == 0x80)
			continue;	/* one column per UTF-8 character */
		d[i++] = *p == '\t' ? '\t' : ' ';
	}
	if (i + 1 < cap)
		d[i++] = '^';
	d[i < cap ? i : cap - 1] = '\0';
}

/* Compiles an expression found at c->path/leaf, placing its errors at the
 * column inside the JSON string and adding a caret line. */
static struct feat_expr *compile_expr(struct ctx *c, const char *leaf,
				      const char *text,
				      const struct feat_expr_col *cols,
				      size_t ncols)
{
	struct feat_error e;
	struct feat_expr *x;
	long ecol;

	feat_error_clear(&e);
	x = feat_expr_compile(text, cols, ncols, &e);
	if (x)
		return x;
	ecol = e.col > 0 ? e.col : 1;
	{
		char ptr[1200];
		const struct feat_jsonpos_ent *pe;
		long fcol = 0;

		snprintf(ptr, sizeof(ptr), "%s/%s", c->path, leaf);
		pe = feat_jsonpos_find(&c->jp, ptr);
		if (pe)
			fcol = pe->col + string_column(c->text + pe->off,
						       c->text + c->len, ecol);
		feat_error_set(c->err, c->file, pe ? pe->line : 0, fcol, "%s",
			       e.msg);
	}
	caret_detail(c->err, text, (size_t)(ecol - 1));
	return NULL;
}

static int canonical_expr(struct ctx *c, const struct feat_expr *x,
			  char **out)
{
	struct feat_buf b = FEAT_BUF_INIT;

	if (feat_expr_canonical(x, &b) < 0 || !b.ptr) {
		feat_buf_release(&b);
		return feat_error_nomem(c->err);
	}
	*out = b.ptr;
	return 0;
}

static void free_source(struct feat_source *s)
{
	size_t i;

	free(s->name);
	for (i = 0; i < s->ncols; i++)
		free(s->cols[i].name);
	free(s->cols);
	free(s->fmt.null_text);
}

static int build_columns(struct ctx *c, json_t *cols, int keep_order,
			 struct feat_source *s)
{
	const char **keys = NULL;
	const char *key;
	json_t *v;
	size_t n, i;
	int ret = -1;

	n = json_object_size(cols);
	if (!n)
		return err_at(c, "columns", "\"columns\" must name at least one column");
	if (keep_order) {
		keys = calloc(n, sizeof(*keys));
		if (!keys)
			return feat_error_nomem(c->err);
		i = 0;
		json_object_foreach(cols, key, v)
			keys[i++] = key;
	} else {
		keys = sorted_keys(cols, &n);
		if (!keys)
			return feat_error_nomem(c->err);
	}
	s->cols = calloc(n, sizeof(*s->cols));
	if (!s->cols) {
		feat_error_nomem(c->err);
		goto out;
	}
	{
		size_t old = push(c, "columns");

		for (i = 0; i < n; i++) {
			v = json_object_get(cols, keys[i]);
			if (!(s->fmt.jsonl ? valid_path(keys[i]) : valid_name(keys[i]))) {
				err_key(c, keys[i], s->fmt.jsonl
					? "'%s' is not a valid column path (names of letters, digits and _, joined by '.')"
					: "'%s' is not a valid column name (letters, digits and _, not starting with a digit)",
					keys[i]);
				pop(c, old);
				goto out;
			}
			if (json_is_string(v) &&
			    parse_type(json_string_value(v), &s->cols[i]) < 0) {
				static const char *const tn[] = {
					"int", "double", "string", "bool", "timestamp_s",
					"timestamp_ms", "timestamp_us", "timestamp_ns",
					"timestamp", "list<double>", "list<string>",
					"map<string,double>",
				};
				char hb[200];

				if (*hint(hb, sizeof(hb), json_string_value(v), tn,
					  sizeof(tn[0]), sizeof(tn) / sizeof(tn[0]))) {
					err_at(c, keys[i], "unknown type '%s' for column '%s'%s",
					       json_string_value(v), keys[i], hb);
					pop(c, old);
					goto out;
				}
			}
			if (!json_is_string(v) ||
			    parse_type(json_string_value(v), &s->cols[i]) < 0) {
				err_at(c, keys[i], "unknown type %s%s%s for column '%s' (types: int, double, string, bool, timestamp_s, timestamp_ms, timestamp_us, timestamp_ns, timestamp, list<double>, list<string>, map<string,double>)",
				       json_is_string(v) ? "'" : "",
				       json_is_string(v) ? json_string_value(v) : json_kind(v),
				       json_is_string(v) ? "'" : "", keys[i]);
				pop(c, old);
				goto out;
			}
			s->cols[i].name = xstrdup(c, keys[i]);
			if (!s->cols[i].name) {
				pop(c, old);
				goto out;
			}
			s->ncols++;
		}
		pop(c, old);
	}
	ret = 0;
out:
	free(keys);
	return ret;
}

static int build_source(struct ctx *c, const char *name, json_t *obj,
			struct feat_source *s, int is_left)
{
	static const char *const members[] = {
		"format", "time", "lateness", "columns", "header", "delimiter",
		"quote", "null", NULL,
	};
	json_t *v, *cols;
	const char *what = is_left ? "the join's left" : "a source";
	long t;

	memset(s, 0, sizeof(*s));
	s->lateness = is_left ? -1 : 0;
	if (!json_is_object(obj))
		return err_at(c, NULL, "%s must be an object, not %s", what,
			      json_kind(obj));
	if (only_keys(c, obj, what, members) < 0)
		return -1;
	s->name = xstrdup(c, name);
	if (!s->name)
		return -1;
	v = json_object_get(obj, "format");
	if (v && json_is_string(v) && !strcmp(json_string_value(v), "jsonl"))
		s->fmt.jsonl = 1;
	else if (v && (!json_is_string(v) || strcmp(json_string_value(v), "csv")))
		return err_at(c, "format", "unknown format %s%s%s (\"csv\" or \"jsonl\")",
			      json_is_string(v) ? "'" : "",
			      json_is_string(v) ? json_string_value(v) : json_kind(v),
			      json_is_string(v) ? "'" : "");
	s->fmt.header = 1;
	v = json_object_get(obj, "header");
	if (v) {
		if (!json_is_boolean(v))
			return err_at(c, "header", "\"header\" must be true or false");
		s->fmt.header = json_is_true(v);
	}
	if (get_char(c, obj, "delimiter", ',', &s->fmt.delim) < 0 ||
	    get_char(c, obj, "quote", '"', &s->fmt.quote) < 0)
		return -1;
	if (s->fmt.delim == s->fmt.quote)
		return err_at(c, "quote", "the quote and the delimiter must differ");
	v = json_object_get(obj, "null");
	if (v && !json_is_string(v))
		return err_at(c, "null", "\"null\" must be a string (the spelling of null)");
	s->fmt.null_text = xstrdup(c, v ? json_string_value(v) : "");
	if (!s->fmt.null_text)
		return -1;
	cols = get_typed(c, obj, "columns", JSON_OBJECT, 1, what);
	if (!cols)
		return -1;
	if (build_columns(c, cols, !s->fmt.header || s->fmt.jsonl, s) < 0)
		return -1;
	v = get_typed(c, obj, "time", JSON_STRING, 1, what);
	if (!v)
		return -1;
	t = find_col(s->cols, s->ncols, json_string_value(v));
	if (t < 0) {
		char hb[200];

		return err_at(c, "time", "time column '%s' is not among the columns%s",
			      json_string_value(v),
			      HINT(json_string_value(v), s->cols, s->ncols));
	}
	if (s->cols[t].type != FEAT_TIMESTAMP)
		return err_at(c, "time", "time column '%s' must be a timestamp type (timestamp_ms, ...), not %s",
			      s->cols[t].name, feat_column_type_name(&s->cols[t]));
	s->time_col = (size_t)t;
	v = json_object_get(obj, "lateness");
	if (v && json_is_string(v) && is_zero_duration(json_string_value(v))) {
		s->lateness = 0;
	} else if (v) {
		if (get_duration(c, v, "lateness", &s->lateness, is_left) < 0)
			return -1;
		if (s->lateness == FEAT_UNBOUNDED)
			s->lateness = -1;
	}
	return 0;
}

static int build_sources(struct ctx *c, json_t *root, struct feat_plan *p)
{
	json_t *obj = get_typed(c, root, "sources", JSON_OBJECT, 1,
				"a definition");
	const char **keys;
	size_t n, i, old;
	int ret = -1;

	if (!obj)
		return -1;
	keys = sorted_keys(obj, &n);
	if (!keys)
		return feat_error_nomem(c->err);
	if (!n) {
		err_at(c, "sources", "\"sources\" must declare at least one source");
		goto out;
	}
	p->sources = calloc(n, sizeof(*p->sources));
	if (!p->sources) {
		feat_error_nomem(c->err);
		goto out;
	}
	old = push(c, "sources");
	for (i = 0; i < n; i++) {
		size_t o2 = push(c, keys[i]);

		if (!valid_name(keys[i])) {
			err_key(c, NULL, "'%s' is not a valid source name", keys[i]);
			goto out;
		}
		if (build_source(c, keys[i], json_object_get(obj, keys[i]),
				 &p->sources[i], 0) < 0) {
			p->nsources = i + 1;
			goto out;
		}
		p->nsources = i + 1;
		pop(c, o2);
	}
	pop(c, old);
	ret = 0;
out:
	free(keys);
	return ret;
}

static const char *window_suffix(int64_t w, char *buf)
{
	if (w == FEAT_UNBOUNDED)
		return NULL;
	feat_duration_format(buf, w);
	return buf;
}

static int build_aggs(struct ctx *c, json_t *arr, struct feat_group_by *g)
{
	static const char *const members[] = {
		"op", "of", "by", "explode", "windows", "hop", "name", "k", "precision",
		"relative_error", "percentiles", NULL,
	};
	size_t i, j, old;

	if (!json_array_size(arr))
		return err_at(c, "aggregations", "\"aggregations\" must list at least one aggregation");
	g->aggs = calloc(json_array_size(arr), sizeof(*g->aggs));
	g->inputs = calloc(2 * json_array_size(arr), sizeof(*g->inputs));
	if (!g->aggs || !g->inputs)
		return feat_error_nomem(c->err);
	old = push(c, "aggregations");
	for (i = 0; i < json_array_size(arr); i++) {
		json_t *a = json_array_get(arr, i), *v, *wins;
		struct feat_agg *ag = &g->aggs[i];
		size_t o2 = pushi(c, i), k;
		int64_t hop = 0;
		const char *op;
		enum feat_type t = FEAT_INT;

		g->naggs = i + 1;
		if (!json_is_object(a))
			return err_at(c, NULL, "an aggregation must be an object, not %s",
				      json_kind(a));
		if (only_keys(c, a, "an aggregation", members) < 0)
			return -1;
		v = get_typed(c, a, "op", JSON_STRING, 1, "an aggregation");
		if (!v)
			return -1;
		op = json_string_value(v);
		for (k = 0; k < FEAT_OP__COUNT; k++)
			if (!strcmp(op, op_names[k]))
				break;
		if (k == FEAT_OP__COUNT) {
			char hb[200], list[400] = "";

			if (!*hint(hb, sizeof(hb), op, op_names, sizeof(op_names[0]),
				   FEAT_OP__COUNT)) {
				for (k = 0; k < FEAT_OP__COUNT; k++) {
					strcat(list, k ? ", " : " (one of: ");
					strcat(list, op_names[k]);
				}
				strcat(list, ")");
			}
			return err_at(c, "op", "unknown aggregation '%s'%s", op,
				      *hb ? hb : list);
		}
		ag->op = (enum feat_op)k;
		ag->input = -1;
		v = json_object_get(a, "of");
		if (v) {
			long col;

			if (!json_is_string(v))
				return err_at(c, "of", "\"of\" must name a column");
			col = find_col(g->cols, g->ncols, json_string_value(v));
			if (col < 0) {
				char hb[200];

				return err_at(c, "of", "unknown column '%s' in \"of\"%s",
					      json_string_value(v),
					      HINT(json_string_value(v), g->cols, g->ncols));
			}
			t = g->cols[col].type;
			v = json_object_get(a, "explode");
			if (v && !json_is_boolean(v))
				return err_at(c, "explode", "\"explode\" must be true or false");
			if (v && json_is_true(v)) {
				if (t != FEAT_VECTOR && t != FEAT_STRLIST)
					return err_at(c, "explode", "\"explode\" needs a list column, and '%s' is %s",
						      g->cols[col].name, feat_type_name(t));
				ag->explode = 1;
				t = t == FEAT_VECTOR ? FEAT_DOUBLE : FEAT_STRING;
			}
			if (t == FEAT_STRLIST && ag->op != FEAT_OP_COUNT &&
			    ag->op != FEAT_OP_FIRST && ag->op != FEAT_OP_LAST &&
			    ag->op != FEAT_OP_FIRST_K && ag->op != FEAT_OP_LAST_K)
				return err_at(c, "of", "%s of list<string> is not defined; add \"explode\": true to aggregate its elements",
					      op);
			if (t == FEAT_MAP && ag->op != FEAT_OP_COUNT &&
			    ag->op != FEAT_OP_FIRST && ag->op != FEAT_OP_LAST &&
			    ag->op != FEAT_OP_FIRST_K && ag->op != FEAT_OP_LAST_K)
				return err_at(c, "of", "%s of map<string,double> is not defined (count, first, last, first_k and last_k keep whole maps; for one key, \"select\": %s['key'])",
					      op, g->cols[col].name);
			if (t == FEAT_VECTOR && ag->op != FEAT_OP_COUNT &&
			    ag->op != FEAT_OP_SUM && ag->op != FEAT_OP_AVG &&
			    ag->op != FEAT_OP_MIN && ag->op != FEAT_OP_MAX &&
			    ag->op != FEAT_OP_FIRST && ag->op != FEAT_OP_LAST &&
			    ag->op != FEAT_OP_FIRST_K && ag->op != FEAT_OP_LAST_K)
				return err_at(c, "of", "%s of list<double> is not defined (element-wise: sum, avg, min, max; or add \"explode\": true)",
					      op);
			switch (ag->op) {
			case FEAT_OP_SUM: case FEAT_OP_AVG: case FEAT_OP_VAR:
			case FEAT_OP_STDDEV: case FEAT_OP_APPROX_PERCENTILE:
				if (t != FEAT_INT && t != FEAT_DOUBLE &&
				    !(t == FEAT_VECTOR && (ag->op == FEAT_OP_SUM ||
							   ag->op == FEAT_OP_AVG)))
					return err_at(c, "of", "%s of %s is not defined; cast with double()",
						      op, feat_type_name(t));
				break;
			case FEAT_OP_MIN: case FEAT_OP_MAX: case FEAT_OP_TOP_K:
			case FEAT_OP_BOTTOM_K:
				if (t == FEAT_BOOL)
					return err_at(c, "of", "%s of bool is not defined; cast with int()", op);
				break;
			default:
				break;
			}
			for (k = 0; k < g->ninputs; k++)
				if (g->inputs[k] == (size_t)col)
					break;
			if (k == g->ninputs)
				g->inputs[g->ninputs++] = (size_t)col;
			ag->input = (long)k;
		} else if (ag->op != FEAT_OP_COUNT) {
			return err_at(c, NULL, "%s needs \"of\": the column it aggregates", op);
		} else if (json_object_get(a, "explode")) {
			return err_key(c, "explode", "\"explode\" needs \"of\": the list column");
		}
		ag->in_type = t;
		ag->by = -1;
		v = json_object_get(a, "by");
		if (v) {
			long col;

			if (!json_is_string(v))
				return err_at(c, "by", "\"by\" must name a column: its values become the keys of a map");
			col = find_col(g->cols, g->ncols, json_string_value(v));
			if (col < 0) {
				char hb[200];

				return err_at(c, "by", "unknown column '%s' in \"by\"%s",
					      json_string_value(v),
					      HINT(json_string_value(v), g->cols, g->ncols));
			}
			for (k = 0; k < g->ninputs; k++)
				if (g->inputs[k] == (size_t)col)
					break;
			if (k == g->ninputs)
				g->inputs[g->ninputs++] = (size_t)col;
			ag->by = (long)k;
			ag->by_type = g->cols[col].type;
		}
		switch (ag->op) {
		case FEAT_OP_COUNT: case FEAT_OP_UNIQUE_COUNT:
		case FEAT_OP_APPROX_UNIQUE_COUNT:
			ag->out_type = FEAT_INT;
			break;
		case FEAT_OP_AVG: case FEAT_OP_VAR: case FEAT_OP_STDDEV:
			ag->out_type = FEAT_DOUBLE;
			break;
		case FEAT_OP_FIRST_K: case FEAT_OP_LAST_K: case FEAT_OP_TOP_K:
		case FEAT_OP_BOTTOM_K: case FEAT_OP_APPROX_PERCENTILE:
		case FEAT_OP_HISTOGRAM:
			ag->out_type = FEAT_JSON;
			break;
		default:
			ag->out_type = t;
			break;
		}
		if (t == FEAT_VECTOR && ag->op != FEAT_OP_COUNT &&
		    ag->op != FEAT_OP_FIRST && ag->op != FEAT_OP_LAST)
			ag->out_type = FEAT_JSON;	/* element-wise: a list */
		/* Parameters: each only where it means something. */
		v = json_object_get(a, "k");
		if (ag->op == FEAT_OP_FIRST_K || ag->op == FEAT_OP_LAST_K ||
		    ag->op == FEAT_OP_TOP_K || ag->op == FEAT_OP_BOTTOM_K) {
			if (!v)
				return err_at(c, NULL, "%s needs \"k\": how many values to keep", op);
		} else if (v && ag->op != FEAT_OP_HISTOGRAM) {
			return err_key(c, "k", "\"k\" means nothing to %s", op);
		}
		if (v) {
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > 1000000)
				return err_at(c, "k", "\"k\" must be an integer from 1 to 1000000");
			ag->k = (uint32_t)json_integer_value(v);
		}
		v = json_object_get(a, "precision");
		ag->precision = 12;
		if (v && ag->op != FEAT_OP_APPROX_UNIQUE_COUNT)
			return err_key(c, "precision", "\"precision\" means nothing to %s", op);
		if (v) {
			if (!json_is_integer(v) || json_integer_value(v) < 4 ||
			    json_integer_value(v) > 18)
				return err_at(c, "precision", "\"precision\" must be an integer from 4 to 18 (2^precision registers)");
			ag->precision = (uint32_t)json_integer_value(v);
		}
		v = json_object_get(a, "relative_error");
		ag->rel_error = 0.01;
		if (v && ag->op != FEAT_OP_APPROX_PERCENTILE)
			return err_key(c, "relative_error", "\"relative_error\" means nothing to %s", op);
		if (v) {
			if (!json_is_number(v) || json_number_value(v) <= 0 ||
			    json_number_value(v) >= 0.5)
				return err_at(c, "relative_error", "\"relative_error\" must be a number in (0, 0.5)");
			ag->rel_error = json_number_value(v);
		}
		v = json_object_get(a, "percentiles");
		if (v && ag->op != FEAT_OP_APPROX_PERCENTILE)
			return err_key(c, "percentiles", "\"percentiles\" means nothing to %s", op);
		if (ag->op == FEAT_OP_APPROX_PERCENTILE) {
			static const double dflt[] = { 0.5, 0.9, 0.99 };
			size_t n = v ? json_array_size(v) : 3;

			if (v && (!json_is_array(v) || !n))
				return err_at(c, "percentiles", "\"percentiles\" must be a non-empty array of numbers in [0, 1]");
			ag->percentiles = calloc(n, sizeof(double));
			if (!ag->percentiles)
				return feat_error_nomem(c->err);
			ag->npercentiles = n;
			for (k = 0; k < n; k++) {
				json_t *q = v ? json_array_get(v, k) : NULL;

				if (q && (!json_is_number(q) || json_number_value(q) < 0 ||
					  json_number_value(q) > 1))
					return err_at(c, "percentiles", "\"percentiles\" must be a non-empty array of numbers in [0, 1]");
				ag->percentiles[k] = q ? json_number_value(q) : dflt[k];
			}
		}
		if (ag->by >= 0) {
			ag->inner = malloc(sizeof(*ag->inner));
			if (!ag->inner)
				return feat_error_nomem(c->err);
			*ag->inner = *ag;
			ag->inner->by = -1;
			ag->inner->inner = NULL;
			ag->out_type = FEAT_JSON;
		}
		v = json_object_get(a, "hop");
		if (v && get_duration(c, v, "hop", &hop, 0) < 0)
			return -1;
		wins = json_object_get(a, "windows");
		if (wins && (!json_is_array(wins) || !json_array_size(wins)))
			return err_at(c, "windows", "\"windows\" must be a non-empty array of durations");
		ag->nwindows = wins ? json_array_size(wins) : 1;
		ag->windows = calloc(ag->nwindows, sizeof(*ag->windows));
		ag->hops = calloc(ag->nwindows, sizeof(*ag->hops));
		if (!ag->windows || !ag->hops)
			return feat_error_nomem(c->err);
		for (k = 0; wins && k < ag->nwindows; k++) {
			json_t *w = json_array_get(wins, k);
			char leaf[64];
			size_t m;

			snprintf(leaf, sizeof(leaf), "windows/%zu", k);
			ag->hops[k] = hop;
			if (json_is_object(w)) {
				static const char *const wm[] = { "length", "hop", NULL };
				size_t o3 = push(c, "windows");
				json_t *len = json_object_get(w, "length");
				json_t *h = json_object_get(w, "hop");

				pushi(c, k);
				if (only_keys(c, w, "a window", wm) < 0)
					return -1;
				if (!len)
					return err_at(c, NULL, "a window object needs \"length\"");
				if (get_duration(c, len, "length", &ag->windows[k], 0) < 0)
					return -1;
				if (h && get_duration(c, h, "hop", &ag->hops[k], 0) < 0)
					return -1;
				pop(c, o3);
			} else if (get_duration(c, w, leaf, &ag->windows[k], 1) < 0) {
				return -1;
			}
			if (ag->windows[k] == FEAT_UNBOUNDED)
				ag->hops[k] = 0;
			else if (ag->hops[k] > ag->windows[k])
				return err_at(c, leaf, "the hop is longer than the window");
			for (m = 0; m < k; m++)
				if (ag->windows[m] == ag->windows[k]) {
					char d[40];

					feat_duration_format(d, ag->windows[k]);
					return err_at(c, leaf, "window %s listed twice; its features would have the same name",
						      ag->windows[k] ? d : "unbounded");
				}
		}
		v = json_object_get(a, "name");
		if (v) {
			if (!json_is_string(v) || !valid_name(json_string_value(v)))
				return err_at(c, "name", "\"name\" must be a valid column name");
			ag->name = xstrdup(c, json_string_value(v));
			if (!ag->name)
				return -1;
		}
		pop(c, o2);
	}
	pop(c, old);
	/* Features: one per aggregation and window, in definition order. */
	for (i = 0; i < g->naggs; i++)
		g->nfeatures += g->aggs[i].nwindows;
	g->features = calloc(g->nfeatures, sizeof(*g->features));
	if (!g->features)
		return feat_error_nomem(c->err);
	{
		size_t f = 0;

		for (i = 0; i < g->naggs; i++) {
			struct feat_agg *ag = &g->aggs[i];

			ag->first_feature = f;
			for (j = 0; j < ag->nwindows; j++, f++) {
				struct feat_buf b = FEAT_BUF_INIT;
				char wb[40];
				const char *ws = window_suffix(ag->windows[j], wb);

				char opn[64];

				/* The *_k operations are named with their k:
				 * last_k with k 3 is "last3" (as in Chronon). */
				if (ag->op == FEAT_OP_FIRST_K || ag->op == FEAT_OP_LAST_K ||
				    ag->op == FEAT_OP_TOP_K || ag->op == FEAT_OP_BOTTOM_K)
					snprintf(opn, sizeof(opn), "%.*s%u",
						 (int)(strlen(op_names[ag->op]) - 2),
						 op_names[ag->op], ag->k);
				else
					snprintf(opn, sizeof(opn), "%s", op_names[ag->op]);
				if (ag->by >= 0)
					snprintf(opn + strlen(opn), sizeof(opn) - strlen(opn),
						 "_by_%s", g->cols[g->inputs[ag->by]].name);
				if (ag->name)
					feat_buf_adds(&b, ag->name);
				else if (ag->input < 0)
					feat_buf_addf(&b, "%s_%s", g->name, opn);
				else {
					size_t at = b.len + strlen(g->name) + 1, q;

					feat_buf_addf(&b, "%s_%s_%s", g->name,
						      g->cols[g->inputs[ag->input]].name,
						      opn);
					/* a path's dots become underscores */
					for (q = at; b.ptr && q < b.len; q++)
						if (b.ptr[q] == '.')
							b.ptr[q] = '_';
				}
				if (j == 0 && b.ptr && !ag->label &&
				    !(ag->label = strdup(b.ptr))) {
					feat_buf_release(&b);
					return feat_error_nomem(c->err);
				}
				if (ws && (!ag->name || ag->nwindows > 1))
					feat_buf_addf(&b, "_%s", ws);
				if (!b.ptr)
					return feat_error_nomem(c->err);
				g->features[f].name = b.ptr;
				g->features[f].type = ag->out_type;
				g->features[f].agg = i;
				g->features[f].window = j;
				if (ag->windows[j] == FEAT_UNBOUNDED)
					g->has_unbounded = 1;
				else if (ag->windows[j] + ag->hops[j] > g->max_window)
					g->max_window = ag->windows[j] + ag->hops[j];
			}
		}
		for (i = 0; i < g->nfeatures; i++)
			for (j = 0; j < i; j++)
				if (!strcmp(g->features[i].name, g->features[j].name)) {
					size_t o3 = push(c, "aggregations");

					pushi(c, g->features[i].agg);
					err_at(c, NULL, "two features are named '%s'",
					       g->features[i].name);
					pop(c, o3);
					return -1;
				}
	}
	return 0;
}

static int build_group_by(struct ctx *c, const char *name, json_t *obj,
			  struct feat_plan *p, struct feat_group_by *g)
{
	static const char *const members[] = {
		"source", "keys", "where", "select", "aggregations", NULL,
	};
	struct feat_expr_col *ecols = NULL;
	const struct feat_source *src;
	json_t *v, *sel, *keys;
	const char **names = NULL;
	size_t i, n;
	long s;
	int ret = -1;

	if (!json_is_object(obj))
		return err_at(c, NULL, "a group_by must be an object, not %s",
			      json_kind(obj));
	if (only_keys(c, obj, "a group_by", members) < 0)
		return -1;
	g->name = xstrdup(c, name);
	if (!g->name)
		return -1;
	v = get_typed(c, obj, "source", JSON_STRING, 1, "a group_by");
	if (!v)
		return -1;
	s = feat_plan_source(p, json_string_value(v));
	if (s < 0) {
		char hb[200];

		return err_at(c, "source", "unknown source '%s'%s", json_string_value(v),
			      HINT(json_string_value(v), p->sources, p->nsources));
	}
	g->source = (size_t)s;
	src = &p->sources[s];
	sel = json_object_get(obj, "select");
	if (sel && !json_is_object(sel))
		return err_at(c, "select", "\"select\" must be an object of name: expression");
	g->nselect = 0;
	n = sel ? json_object_size(sel) : 0;
	g->cols = calloc(src->ncols + n, sizeof(*g->cols));
	ecols = calloc(src->ncols + n + 1, sizeof(*ecols));
	g->select = calloc(n + 1, sizeof(*g->select));
	g->select_text = calloc(n + 1, sizeof(*g->select_text));
	if (!g->cols || !ecols || !g->select || !g->select_text) {
		feat_error_nomem(c->err);
		goto out;
	}
	for (i = 0; i < src->ncols; i++) {
		g->cols[i] = src->cols[i];
		g->cols[i].name = xstrdup(c, src->cols[i].name);
		if (!g->cols[i].name)
			goto out;
		g->ncols++;
		ecols[i].name = g->cols[i].name;
		ecols[i].type = g->cols[i].type;
	}
	v = json_object_get(obj, "where");
	if (v) {
		if (!json_is_string(v)) {
			err_at(c, "where", "\"where\" must be an expression string");
			goto out;
		}
		g->where = compile_expr(c, "where", json_string_value(v), ecols,
					src->ncols);
		if (!g->where)
			goto out;
		if (feat_expr_type(g->where) != FEAT_BOOL &&
		    feat_expr_type(g->where) != FEAT_NULL) {
			err_at(c, "where", "\"where\" must be a bool expression, not %s",
			       feat_type_name(feat_expr_type(g->where)));
			goto out;
		}
		if (canonical_expr(c, g->where, &g->where_text) < 0)
			goto out;
	}
	if (sel) {
		size_t old = push(c, "select");

		names = sorted_keys(sel, &n);
		if (!names) {
			feat_error_nomem(c->err);
			goto out;
		}
		for (i = 0; i < n; i++) {
			json_t *e = json_object_get(sel, names[i]);
			struct feat_column *col = &g->cols[g->ncols];
			struct feat_expr *x;

			if (!valid_name(names[i])) {
				err_key(c, names[i], "'%s' is not a valid column name", names[i]);
				goto out;
			}
			if (find_col(g->cols, g->ncols, names[i]) >= 0) {
				err_key(c, names[i], "select column '%s' is already a column of source '%s'",
					names[i], src->name);
				goto out;
			}
			if (!json_is_string(e)) {
				err_at(c, names[i], "a select entry must be an expression string");
				goto out;
			}
			/* Select expressions see the source's columns only,
			 * so that their order does not matter. */
			x = compile_expr(c, names[i], json_string_value(e),
					 ecols, src->ncols);
			if (!x)
				goto out;
			g->select[g->nselect] = x;
			if (canonical_expr(c, x, &g->select_text[g->nselect]) < 0)
				goto out;
			g->nselect++;
			col->name = xstrdup(c, names[i]);
			if (!col->name)
				goto out;
			g->ncols++;	/* now plan_free frees the name */
			col->type = feat_expr_type(x);
			if (col->type == FEAT_NULL) {
				err_at(c, names[i], "select column '%s' is always null; give it a type, e.g. if(false, 0, null)",
				       names[i]);
				goto out;
			}
			col->unit = FEAT_TS_MS;
		}
		pop(c, old);
	}
	keys = get_typed(c, obj, "keys", JSON_ARRAY, 1, "a group_by");
	if (!keys)
		goto out;
	if (!json_array_size(keys)) {
		err_at(c, "keys", "\"keys\" must list at least one column");
		goto out;
	}
	g->keys = calloc(json_array_size(keys), sizeof(*g->keys));
	if (!g->keys) {
		feat_error_nomem(c->err);
		goto out;
	}
	for (i = 0; i < json_array_size(keys); i++) {
		json_t *k = json_array_get(keys, i);
		char leaf[32];
		long col;
		size_t j;

		snprintf(leaf, sizeof(leaf), "keys/%zu", i);
		if (!json_is_string(k)) {
			err_at(c, leaf, "a key must be a column name");
			goto out;
		}
		col = find_col(g->cols, g->ncols, json_string_value(k));
		if (col < 0) {
			char hb[200];

			err_at(c, leaf, "unknown key column '%s'%s", json_string_value(k),
			       HINT(json_string_value(k), g->cols, g->ncols));
			goto out;
		}
		for (j = 0; j < g->nkeys; j++)
			if (g->keys[j] == (size_t)col) {
				err_at(c, leaf, "key column '%s' listed twice",
				       json_string_value(k));
				goto out;
			}
		g->keys[g->nkeys++] = (size_t)col;
	}
	v = get_typed(c, obj, "aggregations", JSON_ARRAY, 1, "a group_by");
	if (!v || build_aggs(c, v, g) < 0)
		goto out;
	ret = 0;
out:
	free(names);
	free(ecols);
	return ret;
}

static int build_group_bys(struct ctx *c, json_t *root, struct feat_plan *p)
{
	json_t *obj = get_typed(c, root, "group_bys", JSON_OBJECT, 1,
				"a definition");
	const char **keys;
	size_t n, i, old;
	int ret = -1;

	if (!obj)
		return -1;
	keys = sorted_keys(obj, &n);
	if (!keys)
		return feat_error_nomem(c->err);
	if (!n) {
		err_at(c, "group_bys", "\"group_bys\" must declare at least one group_by");
		goto out;
	}
	p->group_bys = calloc(n, sizeof(*p->group_bys));
	if (!p->group_bys) {
		feat_error_nomem(c->err);
		goto out;
	}
	old = push(c, "group_bys");
	for (i = 0; i < n; i++) {
		size_t o2 = push(c, keys[i]);

		p->ngroup_bys = i + 1;
		if (!valid_name(keys[i])) {
			err_key(c, NULL, "'%s' is not a valid group_by name", keys[i]);
			goto out;
		}
		if (build_group_by(c, keys[i], json_object_get(obj, keys[i]), p,
				   &p->group_bys[i]) < 0)
			goto out;
		pop(c, o2);
	}
	pop(c, old);
	ret = 0;
out:
	free(keys);
	return ret;
}

static int build_join(struct ctx *c, json_t *root, struct feat_plan *p)
{
	static const char *const members[] = {
		"left", "parts", "derive", NULL,
	};
	static const char *const part_members[] = {
		"group_by", "keys", "prefix", NULL,
	};
	json_t *obj = json_object_get(root, "join"), *v, *parts, *derive;
	struct feat_join *j;
	struct feat_expr_col *ecols;
	size_t i, k, old, nout = 0;

	if (!obj)
		return 0;
	old = push(c, "join");
	if (!json_is_object(obj))
		return err_at(c, NULL, "\"join\" must be an object");
	if (only_keys(c, obj, "the join", members) < 0)
		return -1;
	j = p->join = calloc(1, sizeof(*p->join));
	if (!j)
		return feat_error_nomem(c->err);
	v = get_typed(c, obj, "left", JSON_OBJECT, 1, "the join");
	if (!v)
		return -1;
	{
		size_t o2 = push(c, "left");

		if (build_source(c, "left", v, &j->left, 1) < 0)
			return -1;
		pop(c, o2);
	}
	parts = get_typed(c, obj, "parts", JSON_ARRAY, 1, "the join");
	if (!parts)
		return -1;
	if (!json_array_size(parts))
		return err_at(c, "parts", "\"parts\" must list at least one group_by");
	j->parts = calloc(json_array_size(parts), sizeof(*j->parts));
	if (!j->parts)
		return feat_error_nomem(c->err);
	{
		size_t o2 = push(c, "parts");

		for (i = 0; i < json_array_size(parts); i++) {
			json_t *pt = json_array_get(parts, i), *km;
			struct feat_part *part = &j->parts[i];
			const struct feat_group_by *g;
			size_t o3 = pushi(c, i);
			long gi;

			j->nparts = i + 1;
			if (!json_is_object(pt))
				return err_at(c, NULL, "a join part must be an object");
			if (only_keys(c, pt, "a join part", part_members) < 0)
				return -1;
			v = get_typed(c, pt, "group_by", JSON_STRING, 1, "a join part");
			if (!v)
				return -1;
			gi = feat_plan_group_by(p, json_string_value(v));
			if (gi < 0) {
				char hb[200];

				return err_at(c, "group_by", "unknown group_by '%s'%s",
					      json_string_value(v),
					      HINT(json_string_value(v), p->group_bys,
						   p->ngroup_bys));
			}
			part->group_by = (size_t)gi;
			g = &p->group_bys[gi];
			km = json_object_get(pt, "keys");
			if (km && !json_is_object(km))
				return err_at(c, "keys", "\"keys\" must map left columns to keys: {\"left_col\": \"key\"}");
			part->left_keys = calloc(g->nkeys, sizeof(size_t));
			if (!part->left_keys)
				return feat_error_nomem(c->err);
			for (k = 0; k < g->nkeys; k++) {
				const char *kname = g->cols[g->keys[k]].name;
				const char *lname = kname, *key;
				json_t *kv;
				long lc;

				json_object_foreach(km, key, kv) {
					if (json_is_string(kv) &&
					    !strcmp(json_string_value(kv), kname))
						lname = key;
				}
				lc = find_col(j->left.cols, j->left.ncols, lname);
				if (lc < 0)
					return err_at(c, km ? "keys" : "group_by",
						      "key '%s' of group_by '%s' has no left column; map one with \"keys\": {\"left_col\": \"%s\"}",
						      kname, g->name, kname);
				if (j->left.cols[lc].type != g->cols[g->keys[k]].type)
					return err_at(c, km ? "keys" : "group_by",
						      "left column '%s' is %s but key '%s' is %s",
						      lname, feat_type_name(j->left.cols[lc].type),
						      kname, feat_type_name(g->cols[g->keys[k]].type));
				part->left_keys[k] = (size_t)lc;
			}
			{
				const char *key;
				json_t *kv;

				json_object_foreach(km, key, kv) {
					if (!json_is_string(kv) ||
					    find_col(g->cols, g->ncols, json_string_value(kv)) < 0)
						return err_at(c, "keys", "'%s' is not a key of group_by '%s'",
							      json_is_string(kv) ? json_string_value(kv) : key,
							      g->name);
					if (find_col(j->left.cols, j->left.ncols, key) < 0)
						return err_at(c, "keys", "'%s' is not a left column", key);
				}
			}
			v = json_object_get(pt, "prefix");
			if (v) {
				if (!json_is_string(v) || !valid_name(json_string_value(v)))
					return err_at(c, "prefix", "\"prefix\" must be a valid name");
				part->prefix = xstrdup(c, json_string_value(v));
				if (!part->prefix)
					return -1;
			}
			part->first_output = nout;
			nout += g->nfeatures;
			pop(c, o3);
		}
		pop(c, o2);
	}
	derive = json_object_get(obj, "derive");
	if (derive && !json_is_object(derive))
		return err_at(c, "derive", "\"derive\" must be an object of name: expression");
	j->nfeature_outputs = nout;
	j->noutputs = nout + (derive ? json_object_size(derive) : 0);
	j->outputs = calloc(j->noutputs + 1, sizeof(*j->outputs));
	j->derive = calloc(j->noutputs + 1, sizeof(*j->derive));
	j->derive_text = calloc(j->noutputs + 1, sizeof(*j->derive_text));
	ecols = c->scratch = calloc(j->left.ncols + j->noutputs + 1, sizeof(*ecols));
	if (!j->outputs || !j->derive || !j->derive_text || !ecols)
		return feat_error_nomem(c->err);
	for (i = 0; i < j->nparts; i++) {
		const struct feat_group_by *g = &p->group_bys[j->parts[i].group_by];

		for (k = 0; k < g->nfeatures; k++) {
			struct feat_column *o = &j->outputs[j->parts[i].first_output + k];
			struct feat_buf b = FEAT_BUF_INIT;

			if (j->parts[i].prefix)
				feat_buf_addf(&b, "%s_", j->parts[i].prefix);
			feat_buf_adds(&b, g->features[k].name);
			if (!b.ptr)
				return feat_error_nomem(c->err);
			o->name = b.ptr;
			o->type = g->features[k].type;
			o->unit = FEAT_TS_MS;
		}
	}
	for (i = 0; i < j->left.ncols; i++) {
		ecols[i].name = j->left.cols[i].name;
		ecols[i].type = j->left.cols[i].type;
	}
	for (i = 0; i < nout; i++) {
		size_t o2 = push(c, "parts");

		for (k = 0; k < i; k++)
			if (!strcmp(j->outputs[i].name, j->outputs[k].name))
				return err_at(c, NULL, "two output columns are named '%s'; give a part a \"prefix\"",
					      j->outputs[i].name);
		if (find_col(j->left.cols, j->left.ncols, j->outputs[i].name) >= 0)
			return err_at(c, NULL, "output column '%s' is also a left column; give its part a \"prefix\"",
				      j->outputs[i].name);
		pop(c, o2);
		ecols[j->left.ncols + i].name = j->outputs[i].name;
		ecols[j->left.ncols + i].type = j->outputs[i].type;
	}
	if (derive) {
		const char *key;
		json_t *e;
		size_t o2 = push(c, "derive");

		/* Derived columns keep their order: it is the output order.
		 * Each sees the left columns, the features and the derived
		 * columns before it. */
		json_object_foreach(derive, key, e) {
			struct feat_column *o = &j->outputs[nout];
			struct feat_expr *x;

			if (!valid_name(key))
				return err_key(c, key, "'%s' is not a valid column name", key);
			if (find_col(j->outputs, nout, key) >= 0 ||
			    find_col(j->left.cols, j->left.ncols, key) >= 0)
				return err_key(c, key, "derived column '%s' is already a column", key);
			if (!json_is_string(e))
				return err_at(c, key, "a derived column must be an expression string");
			x = compile_expr(c, key, json_string_value(e), ecols,
					 j->left.ncols + nout);
			if (!x)
				return -1;
			j->derive[j->nderive] = x;
			if (canonical_expr(c, x, &j->derive_text[j->nderive]) < 0)
				return -1;
			j->nderive++;
			o->name = xstrdup(c, key);
			if (!o->name)
				return -1;
			o->type = feat_expr_type(x);
			if (o->type == FEAT_NULL)
				o->type = FEAT_STRING;
			o->unit = FEAT_TS_MS;
			ecols[j->left.ncols + nout].name = o->name;
			ecols[j->left.ncols + nout].type = o->type;
			nout++;
		}
		pop(c, o2);
	}
	pop(c, old);
	return 0;
}

long feat_plan_source(const struct feat_plan *plan, const char *name)
{
	size_t i;

	for (i = 0; i < plan->nsources; i++)
		if (!strcmp(plan->sources[i].name, name))
			return (long)i;
	return -1;
}

long feat_plan_group_by(const struct feat_plan *plan, const char *name)
{
	size_t i;

	for (i = 0; i < plan->ngroup_bys; i++)
		if (!strcmp(plan->group_bys[i].name, name))
			return (long)i;
	return -1;
}

void feat_plan_free(struct feat_plan *p)
{
	size_t i, k;

	if (!p)
		return;
	for (i = 0; i < p->nsources; i++)
		free_source(&p->sources[i]);
	free(p->sources);
	for (i = 0; i < p->ngroup_bys; i++) {
		struct feat_group_by *g = &p->group_bys[i];

		free(g->name);
		for (k = 0; k < g->ncols; k++)
			free(g->cols[k].name);
		free(g->cols);
		for (k = 0; k < g->nselect; k++) {
			feat_expr_free(g->select[k]);
			free(g->select_text[k]);
		}
		free(g->select);
		free(g->select_text);
		feat_expr_free(g->where);
		free(g->where_text);
		free(g->keys);
		free(g->inputs);
		for (k = 0; k < g->naggs; k++) {
			free(g->aggs[k].windows);
			free(g->aggs[k].hops);
			free(g->aggs[k].percentiles);
			free(g->aggs[k].label);
			free(g->aggs[k].inner);
			free(g->aggs[k].name);
		}
		free(g->aggs);
		for (k = 0; k < g->nfeatures; k++)
			free(g->features[k].name);
		free(g->features);
	}
	free(p->group_bys);
	if (p->join) {
		struct feat_join *j = p->join;

		free_source(&j->left);
		for (i = 0; i < j->nparts; i++) {
			free(j->parts[i].left_keys);
			free(j->parts[i].prefix);
		}
		free(j->parts);
		for (i = 0; i < j->noutputs; i++)
			free(j->outputs[i].name);
		free(j->outputs);
		for (i = 0; i < j->nderive; i++) {
			feat_expr_free(j->derive[i]);
			free(j->derive_text[i]);
		}
		free(j->derive);
		free(j->derive_text);
		free(j);
	}
	free(p->name);
	free(p->canonical);
	free(p);
}

/*
 * The canonical text: a JSON document in the definition's own shape, built
 * from the plan (so defaults are explicit and names sorted), with every
 * duration and expression in canonical form. Member order inside objects is
 * fixed here and written without sorting, since the order of columns of a
 * headerless source and of derived columns means something.
 */
static json_t *source_json(const struct feat_source *s, int is_left)
{
	json_t *o = json_object(), *cols = json_object();
	char buf[40];
	size_t i;

	json_object_set_new(o, "format", json_string(s->fmt.jsonl ? "jsonl" : "csv"));
	json_object_set_new(o, "header", json_boolean(s->fmt.header));
	buf[0] = s->fmt.delim;
	buf[1] = '\0';
	json_object_set_new(o, "delimiter", json_string(buf));
	buf[0] = s->fmt.quote;
	json_object_set_new(o, "quote", json_string(buf));
	json_object_set_new(o, "null", json_string(s->fmt.null_text));
	json_object_set_new(o, "time", json_string(s->cols[s->time_col].name));
	if (s->lateness < 0) {
		json_object_set_new(o, "lateness", json_string("unbounded"));
	} else if (s->lateness > 0) {
		feat_duration_format(buf, s->lateness);
		json_object_set_new(o, "lateness", json_string(buf));
	} else if (is_left) {
		/* A left's default is unbounded: its 0 must be said. */
		json_object_set_new(o, "lateness", json_string("0s"));
	}
	for (i = 0; i < s->ncols; i++)
		json_object_set_new(cols, s->cols[i].name,
				    json_string(feat_column_type_name(&s->cols[i])));
	json_object_set_new(o, "columns", cols);
	return o;
}

static json_t *canonical_json(const struct feat_plan *p, int with_name)
{
	json_t *root = json_object(), *srcs = json_object(), *gbs = json_object();
	size_t i, k, w;
	char buf[40];

	json_object_set_new(root, "feat_plan", json_integer(1));
	if (with_name && p->name)
		json_object_set_new(root, "name", json_string(p->name));
	for (i = 0; i < p->nsources; i++)
		json_object_set_new(srcs, p->sources[i].name,
				    source_json(&p->sources[i], 0));
	json_object_set_new(root, "sources", srcs);
	for (i = 0; i < p->ngroup_bys; i++) {
		const struct feat_group_by *g = &p->group_bys[i];
		json_t *o = json_object(), *keys = json_array(),
		       *aggs = json_array();

		json_object_set_new(o, "source",
				    json_string(p->sources[g->source].name));
		for (k = 0; k < g->nkeys; k++)
			json_array_append_new(keys, json_string(g->cols[g->keys[k]].name));
		json_object_set_new(o, "keys", keys);
		if (g->where_text)
			json_object_set_new(o, "where", json_string(g->where_text));
		if (g->nselect) {
			json_t *sel = json_object();
			size_t base = g->ncols - g->nselect;

			for (k = 0; k < g->nselect; k++)
				json_object_set_new(sel, g->cols[base + k].name,
						    json_string(g->select_text[k]));
			json_object_set_new(o, "select", sel);
		}
		for (k = 0; k < g->naggs; k++) {
			const struct feat_agg *a = &g->aggs[k];
			json_t *ao = json_object(), *wins = json_array();

			json_object_set_new(ao, "op", json_string(op_names[a->op]));
			if (a->input >= 0)
				json_object_set_new(ao, "of",
						    json_string(g->cols[g->inputs[a->input]].name));
			if (a->explode)
				json_object_set_new(ao, "explode", json_true());
			if (a->by >= 0)
				json_object_set_new(ao, "by",
						    json_string(g->cols[g->inputs[a->by]].name));
			if (a->k)
				json_object_set_new(ao, "k", json_integer(a->k));
			if (a->op == FEAT_OP_APPROX_UNIQUE_COUNT)
				json_object_set_new(ao, "precision", json_integer(a->precision));
			if (a->op == FEAT_OP_APPROX_PERCENTILE) {
				json_t *ps = json_array();

				json_object_set_new(ao, "relative_error", json_real(a->rel_error));
				for (w = 0; w < a->npercentiles; w++)
					json_array_append_new(ps, json_real(a->percentiles[w]));
				json_object_set_new(ao, "percentiles", ps);
			}
			for (w = 0; w < a->nwindows; w++) {
				if (a->windows[w] == FEAT_UNBOUNDED) {
					json_array_append_new(wins, json_string("unbounded"));
				} else if (a->hops[w]) {
					json_t *wo = json_object();

					feat_duration_format(buf, a->windows[w]);
					json_object_set_new(wo, "length", json_string(buf));
					feat_duration_format(buf, a->hops[w]);
					json_object_set_new(wo, "hop", json_string(buf));
					json_array_append_new(wins, wo);
				} else {
					feat_duration_format(buf, a->windows[w]);
					json_array_append_new(wins, json_string(buf));
				}
			}
			json_object_set_new(ao, "windows", wins);
			if (a->name)
				json_object_set_new(ao, "name", json_string(a->name));
			json_array_append_new(aggs, ao);
		}
		json_object_set_new(o, "aggregations", aggs);
		json_object_set_new(gbs, g->name, o);
	}
	json_object_set_new(root, "group_bys", gbs);
	if (p->join) {
		const struct feat_join *j = p->join;
		json_t *jo = json_object(), *parts = json_array();

		json_object_set_new(jo, "left", source_json(&j->left, 1));
		for (i = 0; i < j->nparts; i++) {
			const struct feat_part *pt = &j->parts[i];
			const struct feat_group_by *g = &p->group_bys[pt->group_by];
			json_t *po = json_object(), *km = json_object();

			json_object_set_new(po, "group_by", json_string(g->name));
			for (k = 0; k < g->nkeys; k++)
				json_object_set_new(km, j->left.cols[pt->left_keys[k]].name,
						    json_string(g->cols[g->keys[k]].name));
			json_object_set_new(po, "keys", km);
			if (pt->prefix)
				json_object_set_new(po, "prefix", json_string(pt->prefix));
			json_array_append_new(parts, po);
		}
		json_object_set_new(jo, "parts", parts);
		if (j->nderive) {
			json_t *d = json_object();

			for (k = 0; k < j->nderive; k++)
				json_object_set_new(d, j->outputs[j->nfeature_outputs + k].name,
						    json_string(j->derive_text[k]));
			json_object_set_new(jo, "derive", d);
		}
		json_object_set_new(root, "join", jo);
	}
	return root;
}

static struct feat_plan *build(const char *text, size_t len, const char *file,
			       struct feat_error *err)
{
	struct ctx c;
	struct feat_plan *p = NULL;
	json_error_t je;
	json_t *root, *v;
	char *dump;

	memset(&c, 0, sizeof(c));
	c.file = file;
	c.text = text;
	c.len = len;
	c.err = err;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		feat_error_set(err, file, je.line > 0 ? je.line : 0,
			       je.column > 0 ? je.column : 0, "%s", je.text);
		return NULL;
	}
	if (feat_jsonpos_scan(&c.jp, text, len) < 0) {
		feat_error_nomem(err);
		goto fail;
	}
	if (!json_is_object(root)) {
		err_at(&c, NULL, "a definition must be a JSON object, not %s",
		       json_kind(root));
		goto fail;
	}
	{
		static const char *const members[] = {
			"feat_plan", "name", "sources", "group_bys", "join", NULL,
		};

		if (only_keys(&c, root, "a definition", members) < 0)
			goto fail;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		feat_error_nomem(err);
		goto fail;
	}
	v = json_object_get(root, "name");
	if (v && !json_is_string(v)) {
		err_at(&c, "name", "\"name\" must be a string");
		goto fail;
	}
	if (v && !(p->name = xstrdup(&c, json_string_value(v))))
		goto fail;
	if (build_sources(&c, root, p) < 0 || build_group_bys(&c, root, p) < 0 ||
	    build_join(&c, root, p) < 0)
		goto fail;
	json_decref(root);
	root = canonical_json(p, 0);
	dump = root ? json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	if (!dump) {
		feat_error_nomem(err);
		goto fail;
	}
	p->hash = feat_fnv1a64(dump, strlen(dump));
	free(dump);
	json_decref(root);
	root = canonical_json(p, 1);
	p->canonical = root ? json_dumps(root, JSON_INDENT(2) | JSON_ENSURE_ASCII) : NULL;
	if (!p->canonical) {
		feat_error_nomem(err);
		goto fail;
	}
	json_decref(root);
	feat_jsonpos_release(&c.jp);
	free(c.scratch);
	return p;
fail:
	json_decref(root);
	feat_jsonpos_release(&c.jp);
	free(c.scratch);
	feat_plan_free(p);
	return NULL;
}

struct feat_plan *feat_plan_compile(const char *text, size_t len,
				    const char *file, struct feat_error *err)
{
	return build(text, len, file, err);
}

static int slurp(const char *path, struct feat_buf *b, struct feat_error *err)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	char tmp[65536];
	size_t n;

	if (!f)
		return feat_error_errno(err, errno, "cannot open '%s'", path);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		if (feat_buf_add(b, tmp, n) < 0) {
			if (f != stdin)
				fclose(f);
			return feat_error_nomem(err);
		}
	if (ferror(f)) {
		int e = errno;

		if (f != stdin)
			fclose(f);
		return feat_error_errno(err, e, "cannot read '%s'", path);
	}
	if (f != stdin)
		fclose(f);
	if (!b->ptr && feat_buf_grow(b, 1) < 0)
		return feat_error_nomem(err);
	return 0;
}

struct feat_plan *feat_plan_compile_file(const char *path,
					 struct feat_error *err)
{
	struct feat_buf b = FEAT_BUF_INIT;
	struct feat_plan *p = NULL;

	if (slurp(path, &b, err) == 0)
		p = build(b.ptr, b.len, strcmp(path, "-") ? path : "<stdin>",
			  err);
	feat_buf_release(&b);
	return p;
}

static const unsigned char plan_magic[8] = {
	0x89, 'F', 'P', 'L', 'N', 0x0d, 0x0a, 0x1a,
};

static void put16(unsigned char *p, unsigned v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
}

static void put32(unsigned char *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

static void put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

int feat_plan_serialize(const struct feat_plan *plan, struct feat_buf *out)
{
	unsigned char h[24];
	size_t n = strlen(plan->canonical);

	memcpy(h, plan_magic, 8);
	put16(h + 8, 1);
	put16(h + 10, 0);
	put64(h + 12, plan->hash);
	put32(h + 20, (uint32_t)n);
	if (feat_buf_add(out, h, sizeof(h)) < 0 ||
	    feat_buf_add(out, plan->canonical, n) < 0)
		return -1;
	put32(h, feat_fnv1a32(plan->canonical, n));
	return feat_buf_add(out, h, 4);
}

struct feat_plan *feat_plan_load(const char *path, struct feat_error *err)
{
	struct feat_buf b = FEAT_BUF_INIT;
	struct feat_plan *p = NULL;
	const unsigned char *u;
	uint64_t hash;
	uint32_t n;

	if (slurp(path, &b, err) < 0)
		goto out;
	u = (const unsigned char *)b.ptr;
	if (b.len < 28 || memcmp(u, plan_magic, 8)) {
		if (b.len && b.ptr[0] == '{')
			feat_error_set(err, path, 0, 0, "not a plan file but a definition; compile it with feat-compile first");
		else
			feat_error_set(err, path, 0, 0, "not a plan file (bad magic)");
		goto out;
	}
	if (u[8] != 1 || u[9] != 0) {
		feat_error_set(err, path, 0, 0, "unsupported plan version %u (this feat reads version 1)",
			       (unsigned)(u[8] | u[9] << 8));
		goto out;
	}
	if (u[10] || u[11]) {
		feat_error_set(err, path, 0, 0, "plan file uses flags this feat does not know");
		goto out;
	}
	hash = feat_get_le64(u + 12);
	n = (uint32_t)(u[20] | u[21] << 8 | u[22] << 16 | (uint32_t)u[23] << 24);
	if (b.len < 28 + (size_t)n) {
		feat_error_set(err, path, 0, 0, "truncated plan file");
		goto out;
	}
	if (b.len > 28 + (size_t)n) {
		feat_error_set(err, path, 0, 0, "bytes after the end of the plan file");
		goto out;
	}
	{
		const unsigned char *c = u + 24 + n;
		uint32_t sum = (uint32_t)(c[0] | c[1] << 8 | c[2] << 16 |
					  (uint32_t)c[3] << 24);

		if (sum != feat_fnv1a32(u + 24, n)) {
			feat_error_set(err, path, 0, 0, "plan file checksum mismatch (corrupted)");
			goto out;
		}
	}
	p = build((const char *)u + 24, n, path, err);
	if (p && p->hash != hash) {
		feat_error_set(err, path, 0, 0, "plan hash mismatch: the file was written by an incompatible feat-compile");
		feat_plan_free(p);
		p = NULL;
	}
out:
	feat_buf_release(&b);
	return p;
}

int feat_group_by_resolution_ok(const struct feat_group_by *g, int64_t res,
				struct feat_error *err)
{
	char rs[64], ws[64], hs[64];
	size_t f;

	feat_duration_format(rs, res);
	for (f = 0; f < g->nfeatures; f++) {
		const struct feat_agg *a = &g->aggs[g->features[f].agg];
		size_t w = g->features[f].window;

		if (a->windows[w] == FEAT_UNBOUNDED)
			continue;
		feat_duration_format(ws, a->windows[w]);
		if (!a->hops[w])
			return feat_error_set(err, NULL, 0, 0,
					      "resolution %s does not suit group_by '%s': feature '%s' has an exact window (%s), which needs tiles of single events",
					      rs, g->name, g->features[f].name, ws);
		if (a->hops[w] % res) {
			feat_duration_format(hs, a->hops[w]);
			return feat_error_set(err, NULL, 0, 0,
					      "resolution %s does not suit group_by '%s': feature '%s' hops by %s (window %s), which is not a multiple of it",
					      rs, g->name, g->features[f].name, hs, ws);
		}
	}
	return 0;
}
