/*
 * fuzz_expr.c - libFuzzer target for the expression compiler (lib/expr.c).
 *
 * The input, cut at its first NUL, is compiled against a fixed schema that
 * has every type, nulls, and names that need quoting. A failure must come
 * with a message and a column inside the text. A success must hold up:
 *
 *   - over each of a few rows (ordinary values, all nulls, extremes, text
 *     that is not UTF-8) the value is null or of the expression's type,
 *     doubles are finite, and a second evaluation gives the same value;
 *   - the canonical text compiles, to the same canonical text and type,
 *     and gives the same values over the same rows.
 *
 * Anything else abort()s, so that libFuzzer keeps the input. Build and run
 * with tests/fuzz/run; see tests/fuzz/README.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "expr.h"
#include "value.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NCOLS 14
#define NROWS 4

static const struct feat_expr_col cols[NCOLS] = {
	{ "i", FEAT_INT },
	{ "j", FEAT_INT },
	{ "d", FEAT_DOUBLE },
	{ "s", FEAT_STRING },
	{ "t", FEAT_STRING },
	{ "b", FEAT_BOOL },
	{ "ts", FEAT_TIMESTAMP },
	{ "n", FEAT_INT },
	{ "sn", FEAT_STRING },
	{ "end", FEAT_INT },
	{ "my col", FEAT_DOUBLE },
	{ "user.id", FEAT_STRING },
	{ "js", FEAT_JSON },
	{ "tags", FEAT_STRLIST },
};

static struct feat_value rows[NROWS][NCOLS];

static void set_i(struct feat_value *v, enum feat_type t, int64_t i)
{
	v->type = t;
	v->u.i = i;
}

static void set_d(struct feat_value *v, double d)
{
	v->type = FEAT_DOUBLE;
	v->u.d = d;
}

static void set_s(struct feat_value *v, enum feat_type t, const char *s,
		  size_t n)
{
	v->type = t;
	v->u.s.ptr = s;
	v->u.s.len = n;
}

/* Row 0 ordinary, row 1 all null, row 2 extremes, row 3 odd text. */
static void make_rows(void)
{
	static const char tags[] = "\x01" "a\x02" "bc";
	struct feat_value *r;

	memset(rows, 0, sizeof(rows));
	r = rows[0];
	set_i(&r[0], FEAT_INT, 7);
	set_i(&r[1], FEAT_INT, -3);
	set_d(&r[2], 2.5);
	set_s(&r[3], FEAT_STRING, "item_view", 9);
	set_s(&r[4], FEAT_STRING, "H\xc3\xa9llo", 6);
	set_i(&r[5], FEAT_BOOL, 1);
	set_i(&r[6], FEAT_TIMESTAMP, INT64_C(1793540730123));
	set_s(&r[8], FEAT_STRING, "2026-11-01T00:00:00Z", 20);
	set_i(&r[9], FEAT_INT, 4);
	set_d(&r[10], -0.5);
	set_s(&r[11], FEAT_STRING, "42", 2);
	set_s(&r[12], FEAT_JSON, "[1,2]", 5);
	set_s(&r[13], FEAT_STRLIST, tags, sizeof(tags) - 1);

	r = rows[2];
	set_i(&r[0], FEAT_INT, INT64_MIN);
	set_i(&r[1], FEAT_INT, INT64_MAX);
	set_d(&r[2], 1.7976931348623157e308);
	set_s(&r[3], FEAT_STRING, "", 0);
	set_s(&r[4], FEAT_STRING, "9223372036854775807", 19);
	set_i(&r[5], FEAT_BOOL, 0);
	set_i(&r[6], FEAT_TIMESTAMP, INT64_MIN);
	set_i(&r[7], FEAT_INT, -1);
	set_s(&r[8], FEAT_STRING, "-1e308", 6);
	set_i(&r[9], FEAT_INT, 0);
	set_d(&r[10], 4.9e-324);
	set_s(&r[11], FEAT_STRING, "2.675", 5);

	r = rows[3];
	set_i(&r[0], FEAT_INT, 0);
	set_i(&r[1], FEAT_INT, -1);
	set_d(&r[2], -0.0);
	set_s(&r[3], FEAT_STRING, "\x80\xff" "a\xc3", 4);
	set_s(&r[4], FEAT_STRING, "\xe2\x82\xac\xe2\x82", 5);
	set_i(&r[6], FEAT_TIMESTAMP, -1);
	set_i(&r[7], FEAT_INT, INT64_MAX);
	set_s(&r[8], FEAT_STRING, "TRUE", 4);
	set_i(&r[9], FEAT_INT, INT64_MIN);
	set_d(&r[10], 0.49999999999999994);
	set_s(&r[11], FEAT_STRING, "x", 1);
	/* A value of the wrong type reads as null. */
	set_d(&r[12], 1.5);
}

/* A value with its string copied, to outlive the next evaluation. */
struct kept {
	struct feat_value v;
	struct feat_buf s;
};

static void fail(const char *what, const char *text)
{
	fprintf(stderr, "fuzz_expr: %s: %s\n", what, text);
	abort();
}

static void keep(struct kept *k, const struct feat_value *v)
{
	k->v = *v;
	feat_buf_reset(&k->s);
	if (v->type == FEAT_STRING || v->type == FEAT_JSON ||
	    v->type == FEAT_VECTOR || v->type == FEAT_STRLIST) {
		if (v->u.s.len && feat_buf_add(&k->s, v->u.s.ptr, v->u.s.len) < 0)
			abort();
		k->v.u.s.ptr = k->s.ptr;
	}
}

static int same(const struct feat_value *a, const struct feat_value *b)
{
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case FEAT_NULL:
		return 1;
	case FEAT_DOUBLE:
		return memcmp(&a->u.d, &b->u.d, sizeof(double)) == 0;
	case FEAT_BOOL:
	case FEAT_INT:
	case FEAT_TIMESTAMP:
		return a->u.i == b->u.i;
	default:
		return a->u.s.len == b->u.s.len &&
		       (a->u.s.len == 0 ||
			memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0);
	}
}

/* Evaluates e over every row into out[], checking what must hold. */
static void eval_rows(struct feat_expr *e, struct kept *out, const char *text)
{
	enum feat_type t = feat_expr_type(e);
	struct feat_value v;
	int r;

	for (r = 0; r < NROWS; r++) {
		feat_expr_eval(e, rows[r], &v);
		if (v.type != FEAT_NULL && v.type != t)
			fail("value of another type than the expression",
			     text);
		if (v.type == FEAT_DOUBLE && !isfinite(v.u.d))
			fail("double not finite", text);
		if (v.type == FEAT_BOOL && v.u.i != 0 && v.u.i != 1)
			fail("bool neither 0 nor 1", text);
		keep(&out[r], &v);
		feat_expr_eval(e, rows[r], &v);
		if (!same(&v, &out[r].v))
			fail("a second evaluation differs", text);
	}
}

/* Characters of s as error columns count them. */
static long nchars(const char *s)
{
	long n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	static struct kept v1[NROWS], v2[NROWS];
	struct feat_buf text = FEAT_BUF_INIT, c1 = FEAT_BUF_INIT,
			c2 = FEAT_BUF_INIT;
	struct feat_error err;
	struct feat_expr *e = NULL, *e2 = NULL;
	int r;

	if (!ready) {
		make_rows();
		ready = 1;
	}
	if (feat_buf_add(&text, data, size) < 0 || feat_buf_addc(&text, 0) < 0)
		abort();
	e = feat_expr_compile(text.ptr, cols, NCOLS, &err);
	if (!e) {
		if (!err.msg[0] || err.col < 1 || err.col > nchars(text.ptr) + 1)
			fail("error without a message or a column in the text",
			     err.msg);
		goto out;
	}
	eval_rows(e, v1, text.ptr);
	if (feat_expr_canonical(e, &c1) < 0 || feat_buf_addc(&c1, 0) < 0)
		abort();
	e2 = feat_expr_compile(c1.ptr, cols, NCOLS, &err);
	if (!e2)
		fail("canonical text does not compile", c1.ptr);
	if (feat_expr_canonical(e2, &c2) < 0 || feat_buf_addc(&c2, 0) < 0)
		abort();
	if (strcmp(c1.ptr, c2.ptr) != 0)
		fail("canonical text of the canonical text differs", c1.ptr);
	if (feat_expr_type(e) != feat_expr_type(e2))
		fail("canonical text has another type", c1.ptr);
	eval_rows(e2, v2, c1.ptr);
	for (r = 0; r < NROWS; r++)
		if (!same(&v1[r].v, &v2[r].v))
			fail("canonical text has another value", c1.ptr);
out:
	feat_expr_free(e);
	feat_expr_free(e2);
	feat_buf_release(&text);
	feat_buf_release(&c1);
	feat_buf_release(&c2);
	return 0;
}
