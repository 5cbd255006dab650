/*
 * test_expr.c - unit tests of lib/expr.c (Check suite "expr").
 *
 * Three tables drive most of it: expressions with their type and value over
 * a fixed row (which has nulls in it), texts that must fail with an exact
 * message and column, and texts with their canonical form. Every expression
 * of the first table is also compiled again from its canonical text, which
 * must give the same text, type and value.
 *
 * The lists and maps of the row are read from JSON text as input columns
 * are (feat_json_list(), feat_json_map()), and list and map results are
 * checked as the JSON that output prints (feat_fmt_json_value()), so the
 * packed forms of value.h are tested here end to end, with a table of
 * their own for the map's.
 */
#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "expr.h"
#include "format.h"
#include "jsontext.h"
#include "tile.h"
#include "value.h"

enum {
	C_I, C_J, C_N, C_D, C_DN, C_S, C_T, C_SN, C_B, C_F, C_BN, C_TS,
	C_TS2, C_TSN, C_USER, C_ACTIVITY, C_MYCOL, C_USERID, C_BIG, C_ZERO,
	C_E, C_AND, C_MIXED, C_UTF, C_NUM, C_DSTR, C_TSSTR, C_NEG, C_T3,
	C_TSNEG, C_JS, C_VEC, C_TAGS, C_END, C_EMB, C_GENRES, C_M, C_MN,
	C_EL, C_EM, NCOLS
};

static const struct feat_expr_col cols[NCOLS] = {
	[C_I] = { "i", FEAT_INT },
	[C_J] = { "j", FEAT_INT },
	[C_N] = { "n", FEAT_INT },
	[C_D] = { "d", FEAT_DOUBLE },
	[C_DN] = { "dn", FEAT_DOUBLE },
	[C_S] = { "s", FEAT_STRING },
	[C_T] = { "t", FEAT_STRING },
	[C_SN] = { "sn", FEAT_STRING },
	[C_B] = { "b", FEAT_BOOL },
	[C_F] = { "f", FEAT_BOOL },
	[C_BN] = { "bn", FEAT_BOOL },
	[C_TS] = { "ts", FEAT_TIMESTAMP },
	[C_TS2] = { "ts2", FEAT_TIMESTAMP },
	[C_TSN] = { "tsn", FEAT_TIMESTAMP },
	[C_USER] = { "user", FEAT_STRING },
	[C_ACTIVITY] = { "activity", FEAT_STRING },
	[C_MYCOL] = { "my col", FEAT_INT },
	[C_USERID] = { "user.id", FEAT_INT },
	[C_BIG] = { "big", FEAT_INT },
	[C_ZERO] = { "zero", FEAT_INT },
	[C_E] = { "e", FEAT_STRING },
	[C_AND] = { "and", FEAT_INT },
	[C_MIXED] = { "mixed", FEAT_STRING },
	[C_UTF] = { "utf", FEAT_STRING },
	[C_NUM] = { "num", FEAT_STRING },
	[C_DSTR] = { "dstr", FEAT_STRING },
	[C_TSSTR] = { "tsstr", FEAT_STRING },
	[C_NEG] = { "neg", FEAT_DOUBLE },
	[C_T3] = { "t3", FEAT_TIMESTAMP },
	[C_TSNEG] = { "tsneg", FEAT_TIMESTAMP },
	[C_JS] = { "js", FEAT_JSON },
	[C_VEC] = { "vec", FEAT_VECTOR },
	[C_TAGS] = { "tags", FEAT_STRLIST },
	[C_END] = { "end", FEAT_INT },
	[C_EMB] = { "emb", FEAT_VECTOR },
	[C_GENRES] = { "genres", FEAT_STRLIST },
	[C_M] = { "m", FEAT_MAP },
	[C_MN] = { "mn", FEAT_MAP },
	[C_EL] = { "el", FEAT_STRLIST },
	[C_EM] = { "em", FEAT_MAP },
};

static struct feat_value row[NCOLS];

static void set_int(int c, enum feat_type t, int64_t v)
{
	row[c].type = t;
	row[c].u.i = v;
}

static void set_str(int c, const char *s)
{
	row[c].type = FEAT_STRING;
	row[c].u.s.ptr = s;
	row[c].u.s.len = strlen(s);
}

/*
 * Sets column c to the list or map of type t read from the JSON text, as
 * an input column is read. The packed bytes stay in a buffer per column.
 */
static void set_json(int c, enum feat_type t, const char *json)
{
	static struct feat_buf packed[NCOLS];
	struct feat_buf tmp = FEAT_BUF_INIT;
	int rc;

	feat_buf_reset(&packed[c]);
	ck_assert_int_eq(feat_buf_addc(&packed[c], 0), 0);	/* not NULL */
	feat_buf_reset(&packed[c]);
	if (t == FEAT_MAP)
		rc = feat_json_map(json, strlen(json), &packed[c], &tmp);
	else
		rc = feat_json_list(t, json, strlen(json), &packed[c], &tmp);
	ck_assert_msg(rc == 0, "%s: cannot read", json);
	feat_buf_release(&tmp);
	row[c].type = t;
	row[c].u.s.ptr = packed[c].ptr;
	row[c].u.s.len = packed[c].len;
}

static void fill_row(void)
{
	memset(row, 0, sizeof(row));	/* every column null */
	set_int(C_I, FEAT_INT, 7);
	set_int(C_J, FEAT_INT, -3);
	row[C_D].type = FEAT_DOUBLE;
	row[C_D].u.d = 2.5;
	set_str(C_S, "item_view");
	set_str(C_T, "abc");
	set_int(C_B, FEAT_BOOL, 1);
	set_int(C_F, FEAT_BOOL, 0);
	set_int(C_TS, FEAT_TIMESTAMP, 1000);
	set_int(C_TS2, FEAT_TIMESTAMP, 400);
	set_str(C_USER, "u1");
	set_str(C_ACTIVITY, "item_view");
	set_int(C_MYCOL, FEAT_INT, 5);
	set_int(C_USERID, FEAT_INT, 9);
	set_int(C_BIG, FEAT_INT, INT64_MAX);
	set_int(C_ZERO, FEAT_INT, 0);
	set_str(C_E, "");
	set_int(C_AND, FEAT_INT, 2);
	set_str(C_MIXED, "Item_View");
	set_str(C_UTF, "h\xc3\xa9llo w\xc3\xb6rld");	/* 11 characters */
	set_str(C_NUM, "12");
	set_str(C_DSTR, "2.5");
	set_str(C_TSSTR, "2026-11-01T13:45:30.123Z");
	row[C_NEG].type = FEAT_DOUBLE;
	row[C_NEG].u.d = -2.5;
	set_int(C_T3, FEAT_TIMESTAMP, INT64_C(1793540730123));	/* a Sunday */
	set_int(C_TSNEG, FEAT_TIMESTAMP, -1);
	set_str(C_JS, "[1,2]");
	row[C_JS].type = FEAT_JSON;
	set_int(C_END, FEAT_INT, 4);
	set_json(C_EMB, FEAT_VECTOR, "[0.5, -1, 2.25]");
	set_json(C_GENRES, FEAT_STRLIST,
		 "[\"action\", \"drama\", \"\", \"d\\u00e9j\xc3\xa0 vu\"]");
	set_json(C_M, FEAT_MAP, "{\"b\": -2, \"z\xc3\xa9\": 0, \"a\": 1.5}");
	set_json(C_EL, FEAT_STRLIST, "[]");
	set_json(C_EM, FEAT_MAP, "{}");
}

/* Asserts that v has type t and the value written as exp ("null": null). */
static void check_value(const char *text, const struct feat_value *v,
			enum feat_type t, const char *exp)
{
	if (strcmp(exp, "null") == 0) {
		ck_assert_msg(v->type == FEAT_NULL, "%s: want null, got %s",
			      text, feat_type_name(v->type));
		return;
	}
	ck_assert_msg(v->type == t, "%s: want type %s, got %s", text,
		      feat_type_name(t), feat_type_name(v->type));
	switch (t) {
	case FEAT_INT:
	case FEAT_TIMESTAMP:
		ck_assert_msg(v->u.i == strtoll(exp, NULL, 10),
			      "%s: want %s, got %" PRId64, text, exp, v->u.i);
		break;
	case FEAT_DOUBLE:
		ck_assert_msg(v->u.d == strtod(exp, NULL),
			      "%s: want %s, got %.17g", text, exp, v->u.d);
		break;
	case FEAT_BOOL:
		ck_assert_msg(v->u.i == (strcmp(exp, "true") == 0),
			      "%s: want %s, got %" PRId64, text, exp, v->u.i);
		break;
	case FEAT_STRING:
	case FEAT_JSON:
		ck_assert_msg(v->u.s.len == strlen(exp) &&
			      memcmp(v->u.s.ptr, exp, v->u.s.len) == 0,
			      "%s: want '%s', got '%.*s'", text, exp,
			      (int)v->u.s.len, v->u.s.ptr);
		break;
	case FEAT_VECTOR:
	case FEAT_STRLIST:
	case FEAT_MAP: {
		struct feat_buf b = FEAT_BUF_INIT;

		ck_assert_int_eq(feat_fmt_json_value(&b, v), 0);
		ck_assert_msg(b.len == strlen(exp) &&
			      (b.len == 0 || memcmp(b.ptr, exp, b.len) == 0),
			      "%s: want %s, got %.*s", text, exp, (int)b.len,
			      b.ptr ? b.ptr : "");
		feat_buf_release(&b);
		break;
	}
	case FEAT_NULL:
		ck_abort_msg("%s: a non-null value of type null", text);
		break;
	}
}

static struct feat_expr *compile_ok(const char *text)
{
	struct feat_error err;
	struct feat_expr *e = feat_expr_compile(text, cols, NCOLS, &err);

	ck_assert_msg(e != NULL, "%s: %ld: %s", text, err.col, err.msg);
	return e;
}

static char *canonical(const struct feat_expr *e)
{
	struct feat_buf b = FEAT_BUF_INIT;

	ck_assert_int_eq(feat_expr_canonical(e, &b), 0);
	if (!b.ptr)
		ck_assert_int_eq(feat_buf_addc(&b, 0), 0);
	return b.ptr;
}

/* ---------------------------------------------------------------------- */

#define TS FEAT_TIMESTAMP

static const struct {
	const char *text;
	enum feat_type type;
	const char *value;
} evals[] = {
	/* arithmetic on ints */
	{ "1", FEAT_INT, "1" },
	{ "-1", FEAT_INT, "-1" },
	{ "1 + 2 * 3", FEAT_INT, "7" },
	{ "(1 + 2) * 3", FEAT_INT, "9" },
	{ "10 - 4 - 3", FEAT_INT, "3" },
	{ "i + 1", FEAT_INT, "8" },
	{ "i - j", FEAT_INT, "10" },
	{ "i * j", FEAT_INT, "-21" },
	{ "i / 2", FEAT_INT, "3" },
	{ "-7 / 2", FEAT_INT, "-3" },
	{ "j / 2", FEAT_INT, "-1" },
	{ "i % 3", FEAT_INT, "1" },
	{ "-7 % 3", FEAT_INT, "-1" },
	{ "i / zero", FEAT_INT, "null" },
	{ "i % zero", FEAT_INT, "null" },
	{ "i / 0", FEAT_INT, "null" },
	{ "7 % 0", FEAT_INT, "null" },
	{ "n + 1", FEAT_INT, "null" },
	{ "i + n", FEAT_INT, "null" },
	{ "i * 2 + j > 10", FEAT_BOOL, "true" },
	{ "big + 1", FEAT_INT, "-9223372036854775808" },
	{ "big * 2", FEAT_INT, "-2" },
	{ "-big - 2", FEAT_INT, "9223372036854775807" },
	{ "(-big - 1) / -1", FEAT_INT, "-9223372036854775808" },
	{ "(-big - 1) % -1", FEAT_INT, "0" },
	{ "-9223372036854775808", FEAT_INT, "-9223372036854775808" },
	{ "-9223372036854775808 / -1", FEAT_INT, "-9223372036854775808" },
	{ "9223372036854775807", FEAT_INT, "9223372036854775807" },
	{ "-i", FEAT_INT, "-7" },
	{ "- -i", FEAT_INT, "7" },
	{ "--5", FEAT_INT, "5" },
	{ "-n", FEAT_INT, "null" },
	/* doubles and promotion */
	{ "i + 0.5", FEAT_DOUBLE, "7.5" },
	{ "d * 2", FEAT_DOUBLE, "5" },
	{ "i / 2.0", FEAT_DOUBLE, "3.5" },
	{ "2.0 * 3", FEAT_DOUBLE, "6" },
	{ "d / 0", FEAT_DOUBLE, "null" },
	{ "d / 0.0", FEAT_DOUBLE, "null" },
	{ "d * 1e308", FEAT_DOUBLE, "null" },
	{ "1e308 * 10", FEAT_DOUBLE, "null" },
	{ "d % 1", FEAT_DOUBLE, "0.5" },
	{ "d % 0", FEAT_DOUBLE, "null" },
	{ "dn + 1", FEAT_DOUBLE, "null" },
	{ "i + dn", FEAT_DOUBLE, "null" },
	{ "-d", FEAT_DOUBLE, "-2.5" },
	{ "1.5e3", FEAT_DOUBLE, "1500" },
	{ "1E-2", FEAT_DOUBLE, "0.01" },
	{ ".5", FEAT_DOUBLE, "0.5" },
	{ "3.", FEAT_DOUBLE, "3" },
	{ "0.1 + 0.2", FEAT_DOUBLE, "0.30000000000000004" },
	/* null literals */
	{ "null", FEAT_NULL, "null" },
	{ "NULL", FEAT_NULL, "null" },
	{ "null + 1", FEAT_INT, "null" },
	{ "1.5 - null", FEAT_DOUBLE, "null" },
	{ "null + null", FEAT_NULL, "null" },
	{ "1 + null * 2", FEAT_INT, "null" },
	{ "-null", FEAT_NULL, "null" },
	/* timestamps */
	{ "ts - ts2", FEAT_INT, "600" },
	{ "ts + 5", TS, "1005" },
	{ "5 + ts", TS, "1005" },
	{ "ts - 5", TS, "995" },
	{ "ts + null", TS, "null" },
	{ "tsn - ts", FEAT_INT, "null" },
	{ "ts > ts2", FEAT_BOOL, "true" },
	{ "ts > 999", FEAT_BOOL, "true" },
	{ "1000 = ts", FEAT_BOOL, "true" },
	{ "ts < 1000.5", FEAT_BOOL, "true" },
	{ "ts", TS, "1000" },
	/* comparisons */
	{ "i > 5", FEAT_BOOL, "true" },
	{ "i >= 7", FEAT_BOOL, "true" },
	{ "i <= 6", FEAT_BOOL, "false" },
	{ "i < 7", FEAT_BOOL, "false" },
	{ "i == 7", FEAT_BOOL, "true" },
	{ "i = 7", FEAT_BOOL, "true" },
	{ "i != 7", FEAT_BOOL, "false" },
	{ "i <> 8", FEAT_BOOL, "true" },
	{ "i > d", FEAT_BOOL, "true" },
	{ "d == 2.5", FEAT_BOOL, "true" },
	{ "i == 7.0", FEAT_BOOL, "true" },
	{ "2 < 3", FEAT_BOOL, "true" },
	{ "n > 1", FEAT_BOOL, "null" },
	{ "dn <= d", FEAT_BOOL, "null" },
	{ "i < null", FEAT_BOOL, "null" },
	{ "s == 'item_view'", FEAT_BOOL, "true" },
	{ "s = \"item_view\"", FEAT_BOOL, "true" },
	{ "s != t", FEAT_BOOL, "true" },
	{ "t < s", FEAT_BOOL, "true" },
	{ "t < 'abcd'", FEAT_BOOL, "true" },
	{ "'abcd' > t", FEAT_BOOL, "true" },
	{ "t >= 'abc'", FEAT_BOOL, "true" },
	{ "t > 'abc'", FEAT_BOOL, "false" },
	{ "e < t", FEAT_BOOL, "true" },
	{ "e == ''", FEAT_BOOL, "true" },
	{ "'b' > 'abc'", FEAT_BOOL, "true" },
	{ "sn == 'x'", FEAT_BOOL, "null" },
	{ "b == true", FEAT_BOOL, "true" },
	{ "f < b", FEAT_BOOL, "true" },
	{ "bn == true", FEAT_BOOL, "null" },
	/* null tests */
	{ "user != null", FEAT_BOOL, "true" },
	{ "sn != null", FEAT_BOOL, "false" },
	{ "sn == null", FEAT_BOOL, "true" },
	{ "null == sn", FEAT_BOOL, "true" },
	{ "sn <> NULL", FEAT_BOOL, "false" },
	{ "n is null", FEAT_BOOL, "true" },
	{ "i is not null", FEAT_BOOL, "true" },
	{ "n IS NOT NULL", FEAT_BOOL, "false" },
	{ "null is null", FEAT_BOOL, "true" },
	{ "null == null", FEAT_BOOL, "true" },
	{ "null = 1", FEAT_BOOL, "false" },
	{ "i / zero is null", FEAT_BOOL, "true" },
	/* three-valued logic */
	{ "b and f", FEAT_BOOL, "false" },
	{ "b or f", FEAT_BOOL, "true" },
	{ "not b", FEAT_BOOL, "false" },
	{ "not not b", FEAT_BOOL, "true" },
	{ "not bn", FEAT_BOOL, "null" },
	{ "bn and f", FEAT_BOOL, "false" },
	{ "bn and b", FEAT_BOOL, "null" },
	{ "bn or b", FEAT_BOOL, "true" },
	{ "bn or f", FEAT_BOOL, "null" },
	{ "f and bn", FEAT_BOOL, "false" },
	{ "b or bn", FEAT_BOOL, "true" },
	{ "null and false", FEAT_BOOL, "false" },
	{ "null or true", FEAT_BOOL, "true" },
	{ "null and true", FEAT_BOOL, "null" },
	{ "true and b", FEAT_BOOL, "true" },
	{ "false or bn", FEAT_BOOL, "null" },
	{ "not null", FEAT_BOOL, "null" },
	{ "NOT b AND f OR bn", FEAT_BOOL, "null" },
	{ "i > 5 and s == 'item_view'", FEAT_BOOL, "true" },
	{ "n > 5 or i > 5", FEAT_BOOL, "true" },
	{ "n > 5 and i > 5", FEAT_BOOL, "null" },
	{ "n > 5 and i > 50", FEAT_BOOL, "false" },
	/* right sides long enough to be skipped by a jump */
	{ "f and (i + 1 > 2 and d * 2 > 1 or t == 'x')", FEAT_BOOL, "false" },
	{ "b and (i + 1 > 2 and d * 2 > 1 or t == 'x')", FEAT_BOOL, "true" },
	{ "bn and (i + 1 > 2 and d * 2 > 1 or t == 'x')", FEAT_BOOL, "null" },
	{ "bn and (i + 1 > 2 and d * 2 > 9 or t == 'x')", FEAT_BOOL, "false" },
	{ "b or (i * 2 > 100 or d * 3 > 100 or j * 2 > 0)", FEAT_BOOL, "true" },
	{ "f or (i * 2 > 100 or d * 3 > 100 or j * 2 > 0)", FEAT_BOOL, "false" },
	{ "bn or (i * 2 > 1 and d * 3 > 1 and j * 2 < 0)", FEAT_BOOL, "true" },
	{ "i > 5 and (i + 1 > 2 and d * 2 > 1 or t == 'x')", FEAT_BOOL,
	  "true" },
	{ "i > 50 or (i + 1 > 2 and d * 2 > 1 and n + 1 > 0)", FEAT_BOOL,
	  "null" },
	/* if() */
	{ "if(activity == 'item_view', 1, 0)", FEAT_INT, "1" },
	{ "if(s == 'x', 1, 0)", FEAT_INT, "0" },
	{ "if(bn, 1, 2)", FEAT_INT, "2" },
	{ "if(null, 1, 2)", FEAT_INT, "2" },
	{ "if(true, i, j)", FEAT_INT, "7" },
	{ "if(1 > 2, i, j)", FEAT_INT, "-3" },
	{ "if(true, i, 0.5)", FEAT_DOUBLE, "7" },
	{ "if(b, i, d)", FEAT_DOUBLE, "7" },
	{ "if(f, i, d)", FEAT_DOUBLE, "2.5" },
	{ "if(b, null, 1)", FEAT_INT, "null" },
	{ "if(f, null, 1)", FEAT_INT, "1" },
	{ "if(b, 2, null)", FEAT_INT, "2" },
	{ "if(b, null, null)", FEAT_NULL, "null" },
	{ "if(b, s, t)", FEAT_STRING, "item_view" },
	{ "if(f, s, sn)", FEAT_STRING, "null" },
	{ "if(b, ts, tsn)", TS, "1000" },
	{ "if(b, n, 1)", FEAT_INT, "null" },
	{ "if(i > 5, i * 2 + 1, j * 3 - 1)", FEAT_INT, "15" },
	{ "if(i > 50, i * 2 + 1, j * 3 - 1)", FEAT_INT, "-10" },
	{ "if(n > 5, i * 2 + 1, j * 3 - 1)", FEAT_INT, "-10" },
	{ "if(b, i * 2 + 1, d * 3)", FEAT_DOUBLE, "15" },
	{ "if(f, i * 2 + 1, d * 3)", FEAT_DOUBLE, "7.5" },
	{ "if(b, i * 2 + n, d * 3)", FEAT_DOUBLE, "null" },
	{ "if(b, if(f, 1, 2), 3)", FEAT_INT, "2" },
	{ "if(i > 5, if(j > 0, i * 2 + 1, j * 3), i - j * 2)", FEAT_INT,
	  "-9" },
	{ "IF(b, 1, 2)", FEAT_INT, "1" },
	{ "if(b and i > 5, 'yes', 'no')", FEAT_STRING, "yes" },
	{ "if(i > 5, 1, 0) + if(j > 5, 1, 0) * 10", FEAT_INT, "1" },
	/* columns, strings, literals */
	{ "`my col` + 1", FEAT_INT, "6" },
	{ "user.id * 2", FEAT_INT, "18" },
	{ "`and` + 1", FEAT_INT, "3" },
	{ "`i`", FEAT_INT, "7" },
	{ "s", FEAT_STRING, "item_view" },
	{ "sn", FEAT_STRING, "null" },
	{ "n", FEAT_INT, "null" },
	{ "'it\\'s'", FEAT_STRING, "it's" },
	{ "\"a\\\"b\"", FEAT_STRING, "a\"b" },
	{ "'a\\nb\\t\\\\'", FEAT_STRING, "a\nb\t\\" },
	{ "'say \"hi\"'", FEAT_STRING, "say \"hi\"" },
	{ "''", FEAT_STRING, "" },
	{ "'h\xc3\xa9'", FEAT_STRING, "h\xc3\xa9" },
	{ "TRUE", FEAT_BOOL, "true" },
	{ "False", FEAT_BOOL, "false" },
	{ "(i)", FEAT_INT, "7" },
	{ "((((i))))", FEAT_INT, "7" },
	{ "  i\t+\n1  ", FEAT_INT, "8" },	/* int() */
	{ "int('12')", FEAT_INT, "12" },
	{ "int(num)", FEAT_INT, "12" },
	{ "int('-7')", FEAT_INT, "-7" },
	{ "int('+7')", FEAT_INT, "7" },
	{ "int('x')", FEAT_INT, "null" },
	{ "int('2.5')", FEAT_INT, "null" },
	{ "int(' 12')", FEAT_INT, "null" },
	{ "int('')", FEAT_INT, "null" },
	{ "int('9223372036854775808')", FEAT_INT, "null" },
	{ "int(2.7)", FEAT_INT, "2" },
	{ "int(-2.7)", FEAT_INT, "-2" },
	{ "int(d)", FEAT_INT, "2" },
	{ "int(neg)", FEAT_INT, "-2" },
	{ "int(1e19)", FEAT_INT, "null" },
	{ "int(-9.3e18)", FEAT_INT, "null" },
	{ "int(-9223372036854775808.0)", FEAT_INT, "-9223372036854775808" },
	{ "int(true)", FEAT_INT, "1" },
	{ "int(f)", FEAT_INT, "0" },
	{ "int(ts)", FEAT_INT, "1000" },
	{ "int(i)", FEAT_INT, "7" },
	{ "int(n)", FEAT_INT, "null" },
	{ "int(sn)", FEAT_INT, "null" },
	{ "int(dn)", FEAT_INT, "null" },
	{ "int(null)", FEAT_INT, "null" },
	{ "int(double(dstr) * 2)", FEAT_INT, "5" },
	/* double() */
	{ "double('2.5')", FEAT_DOUBLE, "2.5" },
	{ "double(dstr)", FEAT_DOUBLE, "2.5" },
	{ "double(num)", FEAT_DOUBLE, "12" },
	{ "double('-1e-3')", FEAT_DOUBLE, "-0.001" },
	{ "double('abc')", FEAT_DOUBLE, "null" },
	{ "double('nan')", FEAT_DOUBLE, "null" },
	{ "double('inf')", FEAT_DOUBLE, "null" },
	{ "double('1e999')", FEAT_DOUBLE, "null" },
	{ "double(i)", FEAT_DOUBLE, "7" },
	{ "double(i) / 2", FEAT_DOUBLE, "3.5" },
	{ "double(true)", FEAT_DOUBLE, "1" },
	{ "double(ts)", FEAT_DOUBLE, "1000" },
	{ "double(d)", FEAT_DOUBLE, "2.5" },
	{ "double(sn)", FEAT_DOUBLE, "null" },
	{ "double(null)", FEAT_DOUBLE, "null" },
	/* string() */
	{ "string(2.5)", FEAT_STRING, "2.5" },
	{ "string(d)", FEAT_STRING, "2.5" },
	{ "string(0.1 + 0.2)", FEAT_STRING, "0.30000000000000004" },
	{ "string(3.0)", FEAT_STRING, "3" },
	{ "string(1e21)", FEAT_STRING, "1e+21" },
	{ "string(i)", FEAT_STRING, "7" },
	{ "string(j * 1000)", FEAT_STRING, "-3000" },
	{ "string(-9223372036854775808)", FEAT_STRING, "-9223372036854775808" },
	{ "string(true)", FEAT_STRING, "true" },
	{ "string(f)", FEAT_STRING, "false" },
	{ "string(ts)", FEAT_STRING, "1970-01-01T00:00:01.000Z" },
	{ "string(t3)", FEAT_STRING, "2026-11-01T13:45:30.123Z" },
	{ "string(tsneg)", FEAT_STRING, "1969-12-31T23:59:59.999Z" },
	{ "string(s)", FEAT_STRING, "item_view" },
	{ "string(js)", FEAT_STRING, "[1,2]" },
	{ "string(sn)", FEAT_STRING, "null" },
	{ "string(n)", FEAT_STRING, "null" },
	{ "string(null)", FEAT_STRING, "null" },
	{ "string(i) == '7'", FEAT_BOOL, "true" },
	/* timestamp() */
	{ "timestamp('2026-11-01T00:00:00Z')", TS, "1793491200000" },
	{ "timestamp('2026-11-01T02:00:00+02:00')", TS, "1793491200000" },
	{ "timestamp('2026-11-01')", TS, "1793491200000" },
	{ "timestamp(tsstr)", TS, "1793540730123" },
	{ "timestamp('2026-11-01T00:00:00')", TS, "null" },
	{ "timestamp('yesterday')", TS, "null" },
	{ "timestamp(1000)", TS, "1000" },
	{ "timestamp(i)", TS, "7" },
	{ "timestamp(2.9)", TS, "2" },
	{ "timestamp(ts)", TS, "1000" },
	{ "timestamp(null)", TS, "null" },
	{ "timestamp(sn)", TS, "null" },
	{ "timestamp(tsstr) - timestamp('2026-11-01')", FEAT_INT, "49530123" },
	/* bool() */
	{ "bool('true')", FEAT_BOOL, "true" },
	{ "bool('FALSE')", FEAT_BOOL, "false" },
	{ "bool('1')", FEAT_BOOL, "true" },
	{ "bool('yes')", FEAT_BOOL, "null" },
	{ "bool(0)", FEAT_BOOL, "false" },
	{ "bool(i)", FEAT_BOOL, "true" },
	{ "bool(b)", FEAT_BOOL, "true" },
	{ "bool(n)", FEAT_BOOL, "null" },
	/* lower(), upper() */
	{ "lower('ABC')", FEAT_STRING, "abc" },
	{ "lower(mixed)", FEAT_STRING, "item_view" },
	{ "lower(mixed) == 'item_view'", FEAT_BOOL, "true" },
	{ "upper(s)", FEAT_STRING, "ITEM_VIEW" },
	{ "upper(utf)", FEAT_STRING, "H\xc3\xa9LLO W\xc3\xb6RLD" },
	{ "lower('\xc3\x80" "B')", FEAT_STRING, "\xc3\x80" "b" },
	{ "lower(e)", FEAT_STRING, "" },
	{ "lower(sn)", FEAT_STRING, "null" },
	{ "upper(null)", FEAT_STRING, "null" },
	{ "lower(sn) is null", FEAT_BOOL, "true" },
	{ "upper(lower(mixed))", FEAT_STRING, "ITEM_VIEW" },
	/* substr() */
	{ "substr('hello', 2)", FEAT_STRING, "ello" },
	{ "substr('hello', 2, 3)", FEAT_STRING, "ell" },
	{ "substr('hello', 1, 5)", FEAT_STRING, "hello" },
	{ "substr('hello', 0, 2)", FEAT_STRING, "h" },
	{ "substr('hello', -1, 3)", FEAT_STRING, "h" },
	{ "substr('hello', 10)", FEAT_STRING, "" },
	{ "substr('hello', 1, 0)", FEAT_STRING, "" },
	{ "substr('hello', 1, -1)", FEAT_STRING, "null" },
	{ "substr('hello', 2, 9223372036854775807)", FEAT_STRING, "ello" },
	{ "substr('hello', -9223372036854775808, 9223372036854775807)",
	  FEAT_STRING, "" },
	{ "substr(s, 3, 4)", FEAT_STRING, "em_v" },
	{ "substr(utf, 2, 4)", FEAT_STRING, "\xc3\xa9llo" },
	{ "substr(utf, 8)", FEAT_STRING, "\xc3\xb6rld" },
	{ "substr(utf, 8, 1)", FEAT_STRING, "\xc3\xb6" },
	{ "substr(sn, 1)", FEAT_STRING, "null" },
	{ "substr(s, n)", FEAT_STRING, "null" },
	{ "substr(s, 1, n)", FEAT_STRING, "null" },
	{ "substr(s, i - 2, i - 5)", FEAT_STRING, "_v" },
	/* concat() */
	{ "concat('a', 'b')", FEAT_STRING, "ab" },
	{ "concat(s, '-', t)", FEAT_STRING, "item_view-abc" },
	{ "concat(user, ':', activity, ':', t)", FEAT_STRING,
	  "u1:item_view:abc" },
	{ "concat('x')", FEAT_STRING, "x" },
	{ "concat(e, e)", FEAT_STRING, "" },
	{ "concat(s, sn)", FEAT_STRING, "null" },
	{ "concat(s, null)", FEAT_STRING, "null" },
	{ "concat(upper(t), lower('X'), '!')", FEAT_STRING, "ABCx!" },
	{ "concat(string(i), '/', string(d))", FEAT_STRING, "7/2.5" },
	{ "concat(lower(mixed), upper(mixed))", FEAT_STRING,
	  "item_viewITEM_VIEW" },
	/* length(), contains(), starts_with(), ends_with() */
	{ "length('hello')", FEAT_INT, "5" },
	{ "length(utf)", FEAT_INT, "11" },
	{ "length('\xc3\xa9')", FEAT_INT, "1" },
	{ "length(e)", FEAT_INT, "0" },
	{ "length(sn)", FEAT_INT, "null" },
	{ "length(concat(s, t))", FEAT_INT, "12" },
	{ "contains(s, 'view')", FEAT_BOOL, "true" },
	{ "contains(s, 'x')", FEAT_BOOL, "false" },
	{ "contains(s, '')", FEAT_BOOL, "true" },
	{ "contains(e, '')", FEAT_BOOL, "true" },
	{ "contains(e, 'a')", FEAT_BOOL, "false" },
	{ "contains('aab', 'ab')", FEAT_BOOL, "true" },
	{ "contains(t, 'abcd')", FEAT_BOOL, "false" },
	{ "contains(sn, 'a')", FEAT_BOOL, "null" },
	{ "contains(s, sn)", FEAT_BOOL, "null" },
	{ "starts_with(s, 'item')", FEAT_BOOL, "true" },
	{ "starts_with(s, 'view')", FEAT_BOOL, "false" },
	{ "starts_with(utf, 'h\xc3\xa9')", FEAT_BOOL, "true" },
	{ "ends_with(s, 'view')", FEAT_BOOL, "true" },
	{ "ends_with(t, 'abcd')", FEAT_BOOL, "false" },
	{ "ends_with(t, '')", FEAT_BOOL, "true" },
	{ "ends_with(sn, '')", FEAT_BOOL, "null" },
	/* abs(), ln(), exp(), sqrt(), pow() */
	{ "abs(-5)", FEAT_INT, "5" },
	{ "abs(j)", FEAT_INT, "3" },
	{ "abs(i)", FEAT_INT, "7" },
	{ "abs(neg)", FEAT_DOUBLE, "2.5" },
	{ "abs(n)", FEAT_INT, "null" },
	{ "abs(null)", FEAT_NULL, "null" },
	{ "abs(-9223372036854775808)", FEAT_INT, "-9223372036854775808" },
	{ "ln(1)", FEAT_DOUBLE, "0" },
	{ "ln(zero)", FEAT_DOUBLE, "null" },
	{ "ln(-1)", FEAT_DOUBLE, "null" },
	{ "ln(dn)", FEAT_DOUBLE, "null" },
	{ "exp(0)", FEAT_DOUBLE, "1" },
	{ "exp(zero)", FEAT_DOUBLE, "1" },
	{ "exp(1000)", FEAT_DOUBLE, "null" },
	{ "sqrt(16)", FEAT_DOUBLE, "4" },
	{ "sqrt(i + 9)", FEAT_DOUBLE, "4" },
	{ "sqrt(d)", FEAT_DOUBLE, "1.5811388300841898" },
	{ "sqrt(-1)", FEAT_DOUBLE, "null" },
	{ "sqrt(null)", FEAT_DOUBLE, "null" },
	{ "pow(2, 10)", FEAT_DOUBLE, "1024" },
	{ "pow(i, 2)", FEAT_DOUBLE, "49" },
	{ "pow(d, 2)", FEAT_DOUBLE, "6.25" },
	{ "pow(2, -1)", FEAT_DOUBLE, "0.5" },
	{ "pow(zero, -1)", FEAT_DOUBLE, "null" },
	{ "pow(-8, 1.0 / 3)", FEAT_DOUBLE, "null" },
	{ "pow(10, 400)", FEAT_DOUBLE, "null" },
	{ "pow(i, n)", FEAT_DOUBLE, "null" },
	/* floor(), ceil(), round() */
	{ "floor(2.7)", FEAT_DOUBLE, "2" },
	{ "floor(-2.5)", FEAT_DOUBLE, "-3" },
	{ "floor(d)", FEAT_DOUBLE, "2" },
	{ "floor(i)", FEAT_INT, "7" },
	{ "ceil(2.1)", FEAT_DOUBLE, "3" },
	{ "ceil(neg)", FEAT_DOUBLE, "-2" },
	{ "ceil(j)", FEAT_INT, "-3" },
	{ "string(ceil(-0.5))", FEAT_STRING, "0" },
	{ "floor(dn)", FEAT_DOUBLE, "null" },
	{ "round(2.5)", FEAT_DOUBLE, "3" },
	{ "round(-2.5)", FEAT_DOUBLE, "-3" },
	{ "round(d)", FEAT_DOUBLE, "3" },
	{ "round(0.49999999999999994)", FEAT_DOUBLE, "0" },
	{ "string(round(-0.4))", FEAT_STRING, "0" },
	{ "round(i)", FEAT_INT, "7" },
	{ "round(2.675, 2)", FEAT_DOUBLE, "2.68" },
	{ "round(1.005, 2)", FEAT_DOUBLE, "1.01" },
	{ "round(-1.005, 2)", FEAT_DOUBLE, "-1.01" },
	{ "round(d, 0)", FEAT_DOUBLE, "3" },
	{ "round(1234.5678, 1)", FEAT_DOUBLE, "1234.6" },
	{ "round(1234.5678, -2)", FEAT_DOUBLE, "1200" },
	{ "round(9.99, 1)", FEAT_DOUBLE, "10" },
	{ "round(0.05, 1)", FEAT_DOUBLE, "0.1" },
	{ "round(0.04, 1)", FEAT_DOUBLE, "0" },
	{ "round(2.5e-7, 7)", FEAT_DOUBLE, "3e-07" },
	{ "round(0.1, 20)", FEAT_DOUBLE, "0.1" },
	{ "round(1e300, -300)", FEAT_DOUBLE, "1e300" },
	{ "round(1.7976931348623157e308, -308)", FEAT_DOUBLE, "null" },
	{ "round(1234, -2)", FEAT_INT, "1200" },
	{ "round(1250, -2)", FEAT_INT, "1300" },
	{ "round(-1250, -2)", FEAT_INT, "-1300" },
	{ "round(1249, 2)", FEAT_INT, "1249" },
	{ "round(i, -19)", FEAT_INT, "0" },
	{ "round(big, -1)", FEAT_INT, "null" },
	{ "round(d, n)", FEAT_DOUBLE, "null" },
	{ "round(null)", FEAT_NULL, "null" },
	/* hour(), day_of_week(), date() */
	{ "hour(ts)", FEAT_INT, "0" },
	{ "hour(t3)", FEAT_INT, "13" },
	{ "hour(tsneg)", FEAT_INT, "23" },
	{ "hour(timestamp('2026-11-01T23:59:59.999+01:00'))", FEAT_INT, "22" },
	{ "hour(tsn)", FEAT_INT, "null" },
	{ "day_of_week(ts)", FEAT_INT, "4" },
	{ "day_of_week(t3)", FEAT_INT, "7" },
	{ "day_of_week(t3 + 86400000)", FEAT_INT, "1" },
	{ "day_of_week(tsneg)", FEAT_INT, "3" },
	{ "day_of_week(tsn)", FEAT_INT, "null" },
	{ "date(t3)", FEAT_STRING, "2026-11-01" },
	{ "date(ts)", FEAT_STRING, "1970-01-01" },
	{ "date(tsneg)", FEAT_STRING, "1969-12-31" },
	{ "date(timestamp(-62135596800001))", FEAT_STRING, "0000-12-31" },
	{ "date(timestamp(253402300800000))", FEAT_STRING, "10000-01-01" },
	{ "date(timestamp(-9223372036854775808))", FEAT_STRING,
	  "-292275055-05-16" },
	{ "date(tsn)", FEAT_STRING, "null" },
	{ "date(t3) == '2026-11-01'", FEAT_BOOL, "true" },
	/* coalesce() */
	{ "coalesce(n, 0)", FEAT_INT, "0" },
	{ "coalesce(i, 0)", FEAT_INT, "7" },
	{ "coalesce(n, 0) + 1", FEAT_INT, "1" },
	{ "coalesce(n, j, 0)", FEAT_INT, "-3" },
	{ "coalesce(null, 1)", FEAT_INT, "1" },
	{ "coalesce(1, n)", FEAT_INT, "1" },
	{ "coalesce(null, null)", FEAT_NULL, "null" },
	{ "coalesce(n)", FEAT_INT, "null" },
	{ "coalesce(n, dn)", FEAT_DOUBLE, "null" },
	{ "coalesce(n, d)", FEAT_DOUBLE, "2.5" },
	{ "coalesce(i, d)", FEAT_DOUBLE, "7" },
	{ "coalesce(sn, s)", FEAT_STRING, "item_view" },
	{ "coalesce(sn, 'x')", FEAT_STRING, "x" },
	{ "coalesce(tsn, ts)", TS, "1000" },
	{ "coalesce(bn, f)", FEAT_BOOL, "false" },
	{ "coalesce(n + 1, n * 2, i / zero)", FEAT_INT, "null" },
	{ "coalesce(n, n + 1, i * 2 + 1)", FEAT_INT, "15" },
	{ "coalesce(i * 2 + n, j * 3 + 1, 0)", FEAT_INT, "-8" },
	{ "coalesce(n * 2 + 1, n - 1 + j, i)", FEAT_INT, "7" },
	{ "coalesce(n * 2 + 1, i - 1 + j, 0)", FEAT_INT, "3" },
	{ "coalesce(n * 2 + 1, n - 1 + j, null)", FEAT_INT, "null" },
	{ "coalesce(dn * 2 + 1, i * 2 + 1)", FEAT_DOUBLE, "15" },
	{ "coalesce(lower(sn), upper(t), 'z')", FEAT_STRING, "ABC" },
	/* case */
	{ "case when i > 5 then 'big' else 'small' end", FEAT_STRING, "big" },
	{ "case when i > 50 then 'big' else 'small' end", FEAT_STRING,
	  "small" },
	{ "case when i > 50 then 'big' end", FEAT_STRING, "null" },
	{ "case when bn then 1 else 2 end", FEAT_INT, "2" },
	{ "case when i > 10 then 'a' when i > 5 then 'b' else 'c' end",
	  FEAT_STRING, "b" },
	{ "case when i > 10 then 'a' when i > 8 then 'b' else 'c' end",
	  FEAT_STRING, "c" },
	{ "case when i > 10 then 'a' when i > 8 then 'b' end", FEAT_STRING,
	  "null" },
	{ "case when n > 1 then 1 when i > 1 then 2 end", FEAT_INT, "2" },
	{ "case when false then 1 when true then 2 else 3 end", FEAT_INT, "2" },
	{ "case when f then 1 when true then 2 else 3 end", FEAT_INT, "2" },
	{ "case when false then 1 else 3 end", FEAT_INT, "3" },
	{ "case when null then 1 end", FEAT_INT, "null" },
	{ "case when b then 1 else 2.5 end", FEAT_DOUBLE, "1" },
	{ "case when f then 1 when f then 2.5 else null end", FEAT_DOUBLE,
	  "null" },
	{ "case when f then i when b then d end", FEAT_DOUBLE, "2.5" },
	{ "case when f then 1 when i > 5 then i * 2 + 1 else j * 3 end",
	  FEAT_INT, "15" },
	{ "case when i > 5 and s == 'item_view' then upper(t) else lower(t) end",
	  FEAT_STRING, "ABC" },
	{ "case when b then null end", FEAT_NULL, "null" },
	{ "case when bn then 1 end + 1", FEAT_INT, "null" },
	{ "case when i > 5 then 1 else 0 end + case when j > 5 then 1 else 0 end * 10",
	  FEAT_INT, "1" },
	{ "CASE WHEN b THEN 1 END", FEAT_INT, "1" },
	{ "case i when 7 then 'seven' when 8 then 'eight' end", FEAT_STRING,
	  "seven" },
	{ "case i when 1 then 'one' else 'other' end", FEAT_STRING, "other" },
	{ "case s when 'click' then 1 when 'item_view' then 2 else 0 end",
	  FEAT_INT, "2" },
	{ "case n when 1 then 'one' else 'other' end", FEAT_STRING, "other" },
	{ "case i when null then 1 else 2 end", FEAT_INT, "2" },
	{ "case i when 7.0 then 'yes' end", FEAT_STRING, "yes" },
	{ "case d when 2 then 1 when 2.5 then 2 end", FEAT_INT, "2" },
	{ "case 3 when 1 then 'a' when 3 then 'c' end", FEAT_STRING, "c" },
	{ "case i + 1 when 8 then 'eight' end", FEAT_STRING, "eight" },
	{ "case ts when 1000 then 'one second' end", FEAT_STRING,
	  "one second" },
	{ "case lower(mixed) when 'item_view' then 1 else 0 end", FEAT_INT,
	  "1" },
	/* in */
	{ "i in (1, 7, 9)", FEAT_BOOL, "true" },
	{ "i in (1, 2)", FEAT_BOOL, "false" },
	{ "i in (1, null)", FEAT_BOOL, "null" },
	{ "i in (7, null)", FEAT_BOOL, "true" },
	{ "n in (1, 2)", FEAT_BOOL, "null" },
	{ "null in (1, 2)", FEAT_BOOL, "null" },
	{ "i not in (1, 2)", FEAT_BOOL, "true" },
	{ "i not in (7)", FEAT_BOOL, "false" },
	{ "i not in (1, null)", FEAT_BOOL, "null" },
	{ "i NOT IN (8, 9)", FEAT_BOOL, "true" },
	{ "s in ('click', 'item_view')", FEAT_BOOL, "true" },
	{ "s not in ('click', 'purchase')", FEAT_BOOL, "true" },
	{ "sn in ('a')", FEAT_BOOL, "null" },
	{ "e in ('')", FEAT_BOOL, "true" },
	{ "s in (sn, 'item_view')", FEAT_BOOL, "true" },
	{ "i in (7.0, 8.5)", FEAT_BOOL, "true" },
	{ "d in (2, 2.5)", FEAT_BOOL, "true" },
	{ "d in (1, 2)", FEAT_BOOL, "false" },
	{ "i in (j, i)", FEAT_BOOL, "true" },
	{ "i in (j, n)", FEAT_BOOL, "null" },
	{ "ts in (1000, 2000)", FEAT_BOOL, "true" },
	{ "b in (true)", FEAT_BOOL, "true" },
	{ "i in (1 + 6)", FEAT_BOOL, "true" },
	{ "7 in (1, 7)", FEAT_BOOL, "true" },
	{ "7 in (1, null)", FEAT_BOOL, "null" },
	{ "i + 1 in (8)", FEAT_BOOL, "true" },
	{ "not i in (1)", FEAT_BOOL, "true" },
	{ "i in (1, 2) or b", FEAT_BOOL, "true" },
	{ "lower(mixed) in ('item_view')", FEAT_BOOL, "true" },
	/* keywords as column names, json */
	{ "`end` + 1", FEAT_INT, "5" },
	{ "case when `end` > 3 then `end` end", FEAT_INT, "4" },
	{ "js is not null", FEAT_BOOL, "true" },
	{ "coalesce(js, js)", FEAT_JSON, "[1,2]" },
	{ "tags is null", FEAT_BOOL, "true" },
	{ "if(b, js, null) is not null", FEAT_BOOL, "true" },
	/* lists and maps as values */
	{ "emb", FEAT_VECTOR, "[0.5,-1,2.25]" },
	{ "genres", FEAT_STRLIST, "[\"action\",\"drama\",\"\",\"d\xc3\xa9j\xc3\xa0 vu\"]" },
	{ "m", FEAT_MAP, "{\"a\":1.5,\"b\":-2,\"z\xc3\xa9\":0}" },
	{ "em", FEAT_MAP, "{}" },
	{ "el", FEAT_STRLIST, "[]" },
	{ "coalesce(vec, emb)", FEAT_VECTOR, "[0.5,-1,2.25]" },
	{ "if(f, m, mn)", FEAT_MAP, "null" },
	{ "mn is null and m is not null", FEAT_BOOL, "true" },
	/* element access: lists from 0, out of range is null */
	{ "emb[0]", FEAT_DOUBLE, "0.5" },
	{ "emb[2]", FEAT_DOUBLE, "2.25" },
	{ "emb[3]", FEAT_DOUBLE, "null" },
	{ "emb[-1]", FEAT_DOUBLE, "null" },
	{ "emb[9223372036854775807]", FEAT_DOUBLE, "null" },
	{ "emb[i - 6]", FEAT_DOUBLE, "-1" },
	{ "emb[n]", FEAT_DOUBLE, "null" },
	{ "emb[null]", FEAT_DOUBLE, "null" },
	{ "vec[0]", FEAT_DOUBLE, "null" },
	{ "emb[0] + 1", FEAT_DOUBLE, "1.5" },
	{ "-emb[1]", FEAT_DOUBLE, "1" },
	{ "emb[0] * emb[2] > 1", FEAT_BOOL, "true" },
	{ "genres[0]", FEAT_STRING, "action" },
	{ "genres[1]", FEAT_STRING, "drama" },
	{ "genres[2]", FEAT_STRING, "" },
	{ "genres[3]", FEAT_STRING, "d\xc3\xa9j\xc3\xa0 vu" },
	{ "genres[4]", FEAT_STRING, "null" },
	{ "genres[-1]", FEAT_STRING, "null" },
	{ "genres[length(genres) - 1]", FEAT_STRING, "d\xc3\xa9j\xc3\xa0 vu" },
	{ "tags[0]", FEAT_STRING, "null" },
	{ "el[0]", FEAT_STRING, "null" },
	{ "upper(genres[0])", FEAT_STRING, "ACTION" },
	{ "genres[1] == 'drama'", FEAT_BOOL, "true" },
	{ "genres[9] == 'drama'", FEAT_BOOL, "null" },
	{ "genres[9] is null", FEAT_BOOL, "true" },
	{ "if(b, emb, vec)[1]", FEAT_DOUBLE, "-1" },
	{ "case when b then genres end[0]", FEAT_STRING, "action" },
	{ "coalesce(tags, genres)[1]", FEAT_STRING, "drama" },
	/* maps: a missing key is null */
	{ "m['a']", FEAT_DOUBLE, "1.5" },
	{ "m['b']", FEAT_DOUBLE, "-2" },
	{ "m['z\xc3\xa9']", FEAT_DOUBLE, "0" },
	{ "m['c']", FEAT_DOUBLE, "null" },
	{ "m['']", FEAT_DOUBLE, "null" },
	{ "m['A']", FEAT_DOUBLE, "null" },
	{ "m['zz']", FEAT_DOUBLE, "null" },
	{ "m[t]", FEAT_DOUBLE, "null" },
	{ "m[substr(t, 1, 1)]", FEAT_DOUBLE, "1.5" },
	{ "m[sn]", FEAT_DOUBLE, "null" },
	{ "m[null]", FEAT_DOUBLE, "null" },
	{ "mn['a']", FEAT_DOUBLE, "null" },
	{ "em['a']", FEAT_DOUBLE, "null" },
	{ "m[genres[0]]", FEAT_DOUBLE, "null" },
	{ "coalesce(m['c'], 0)", FEAT_DOUBLE, "0" },
	{ "m['a'] * 2 + m['b']", FEAT_DOUBLE, "1" },
	/* length() of lists and maps: elements */
	{ "length(emb)", FEAT_INT, "3" },
	{ "length(genres)", FEAT_INT, "4" },
	{ "length(m)", FEAT_INT, "3" },
	{ "length(el)", FEAT_INT, "0" },
	{ "length(em)", FEAT_INT, "0" },
	{ "length(vec)", FEAT_INT, "null" },
	{ "length(mn)", FEAT_INT, "null" },
	{ "length(genres[3])", FEAT_INT, "7" },
	/* contains() of lists: an element; of maps: a key */
	{ "contains(genres, 'drama')", FEAT_BOOL, "true" },
	{ "contains(genres, 'Drama')", FEAT_BOOL, "false" },
	{ "contains(genres, 'dram')", FEAT_BOOL, "false" },
	{ "contains(genres, '')", FEAT_BOOL, "true" },
	{ "contains(genres, sn)", FEAT_BOOL, "null" },
	{ "contains(genres, null)", FEAT_BOOL, "null" },
	{ "contains(tags, 'a')", FEAT_BOOL, "null" },
	{ "contains(el, '')", FEAT_BOOL, "false" },
	{ "contains(emb, 2.25)", FEAT_BOOL, "true" },
	{ "contains(emb, -1)", FEAT_BOOL, "true" },
	{ "contains(emb, 3)", FEAT_BOOL, "false" },
	{ "contains(emb, d - 2)", FEAT_BOOL, "true" },
	{ "contains(emb, dn)", FEAT_BOOL, "null" },
	{ "contains(vec, 1)", FEAT_BOOL, "null" },
	{ "contains(m, 'b')", FEAT_BOOL, "true" },
	{ "contains(m, 'c')", FEAT_BOOL, "false" },
	{ "contains(em, '')", FEAT_BOOL, "false" },
	{ "contains(mn, 'a')", FEAT_BOOL, "null" },
	{ "contains(s, 'view')", FEAT_BOOL, "true" },
	/* split(): pieces between separators, kept when empty */
	{ "split('a,b,,c', ',')", FEAT_STRLIST, "[\"a\",\"b\",\"\",\"c\"]" },
	{ "split(s, '_')", FEAT_STRLIST, "[\"item\",\"view\"]" },
	{ "split(s, 'item_view')", FEAT_STRLIST, "[\"\",\"\"]" },
	{ "split(s, 'x')", FEAT_STRLIST, "[\"item_view\"]" },
	{ "split(s, 'item_view!')", FEAT_STRLIST, "[\"item_view\"]" },
	{ "split('a::b::', '::')", FEAT_STRLIST, "[\"a\",\"b\",\"\"]" },
	{ "split(',', ',')", FEAT_STRLIST, "[\"\",\"\"]" },
	{ "split('', ',')", FEAT_STRLIST, "[]" },
	{ "split(e, e)", FEAT_STRLIST, "[]" },
	{ "split('abc', '')", FEAT_STRLIST, "[\"a\",\"b\",\"c\"]" },
	{ "split('h\xc3\xa9!', '')", FEAT_STRLIST, "[\"h\",\"\xc3\xa9\",\"!\"]" },
	{ "length(split(utf, ''))", FEAT_INT, "11" },
	{ "split(sn, ',')", FEAT_STRLIST, "null" },
	{ "split(s, sn)", FEAT_STRLIST, "null" },
	{ "split(null, ',')", FEAT_STRLIST, "null" },
	{ "split(s, '_')[0]", FEAT_STRING, "item" },
	{ "split(s, '_')[1]", FEAT_STRING, "view" },
	{ "split(s, '_')[2]", FEAT_STRING, "null" },
	{ "split('x,y', ',')[1]", FEAT_STRING, "y" },
	{ "length(split('a b  c', ' '))", FEAT_INT, "4" },
	{ "contains(split(s, '_'), 'view')", FEAT_BOOL, "true" },
	{ "split(concat(s, ',', t), ',')", FEAT_STRLIST, "[\"item_view\",\"abc\"]" },
	{ "coalesce(split(sn, ','), el)", FEAT_STRLIST, "[]" },
	{ "if(b, split(s, '_'), genres)", FEAT_STRLIST, "[\"item\",\"view\"]" },
	{ "upper(split(lower(mixed), '_')[1])", FEAT_STRING, "VIEW" },
};

START_TEST(test_eval)
{
	const char *text = evals[_i].text;
	struct feat_expr *e, *e2;
	struct feat_value v;
	char *c1, *c2;

	fill_row();
	e = compile_ok(text);
	ck_assert_msg(feat_expr_type(e) == evals[_i].type,
		      "%s: want type %s, got %s", text,
		      feat_type_name(evals[_i].type),
		      feat_type_name(feat_expr_type(e)));
	memset(&v, 0xa5, sizeof(v));
	feat_expr_eval(e, row, &v);
	check_value(text, &v, evals[_i].type, evals[_i].value);
	/* Again: registers left from the first run must not matter. */
	memset(&v, 0xa5, sizeof(v));
	feat_expr_eval(e, row, &v);
	check_value(text, &v, evals[_i].type, evals[_i].value);

	/* The canonical text means the same and is its own canonical text. */
	c1 = canonical(e);
	e2 = compile_ok(c1);
	c2 = canonical(e2);
	ck_assert_msg(strcmp(c1, c2) == 0, "%s: '%s' then '%s'", text, c1, c2);
	ck_assert(feat_expr_type(e2) == evals[_i].type);
	feat_expr_eval(e2, row, &v);
	check_value(c1, &v, evals[_i].type, evals[_i].value);
	free(c1);
	free(c2);
	feat_expr_free(e);
	feat_expr_free(e2);
}
END_TEST

/* ---------------------------------------------------------------------- */

static const struct {
	const char *text;
	long col;
	const char *msg;
} errors[] = {
	{ "usr", 1, "unknown column 'usr'; did you mean 'user'?" },
	{ "i + usr", 5, "unknown column 'usr'; did you mean 'user'?" },
	{ "USER", 1, "unknown column 'USER'; did you mean 'user'?" },
	{ "activ == 'x'", 1, "unknown column 'activ'; did you mean 'activity'?" },
	{ "`my_col`", 1, "unknown column 'my_col'; did you mean 'my col'?" },
	{ "xyzzy", 1, "unknown column 'xyzzy'" },
	{ "x", 1, "unknown column 'x'" },
	{ "xyzzy(1)", 1, "unknown function 'xyzzy'" },
	{ "iff(b, 1, 2)", 1, "unknown function 'iff'; did you mean 'if'?" },
	{ "1 + xyzzy (i)", 5, "unknown function 'xyzzy'" },
	{ "if(b, 1)", 1, "if() takes 3 arguments, got 2" },
	{ "if()", 1, "if() takes 3 arguments, got 0" },
	{ "i + if(b, 1, 2, 3)", 5, "if() takes 3 arguments, got 4" },
	{ "if(b, 1 2)", 9, "expected ',' or ')' but found '2'" },
	{ "if", 1, "expected '(' after 'if'" },
	{ "(i + 1 x", 8, "expected ')' but found 'x'" },
	{ "(i + 1", 7, "expected ')' but found end of expression" },
	{ "i +", 4, "unexpected end of expression" },
	{ "", 1, "unexpected end of expression" },
	{ "   ", 4, "unexpected end of expression" },
	{ "not", 4, "unexpected end of expression" },
	{ "i + )", 5, "unexpected ')'" },
	{ "i j", 3, "unexpected 'j'" },
	{ "i + and", 5, "unexpected 'and'; write `and` for the column" },
	{ "i + or", 5, "unexpected 'or'" },
	{ "(i))", 4, "unexpected ')'" },
	{ "i @ 1", 3, "unexpected '@'" },
	{ "'\xc3\xa9' == s x", 10, "unexpected 'x'" },
	{ "i \xc3\xa9", 3, "unexpected '\xc3\xa9'" },
	{ "i && b", 3, "unexpected '&&'; did you mean 'and'?" },
	{ "i || b", 3, "unexpected '||'; did you mean 'or'?" },
	{ "!b", 1, "unexpected '!'; did you mean 'not'?" },
	{ "1 < 2 < 3", 7, "unexpected '<'; comparisons do not chain, use 'and'" },
	{ "i is 5", 6, "expected 'null' but found '5'" },
	{ "i is not", 9, "expected 'null' but found end of expression" },
	{ "'abc", 1, "unterminated string" },
	{ "s == \"abc", 6, "unterminated string" },
	{ "'abc\\", 1, "unterminated string" },
	{ "'a\\qb'", 3,
	  "unknown escape '\\q' in string; use \\\\, \\', \\\", \\n or \\t" },
	{ "`my col", 1, "unterminated column name" },
	{ "``", 1, "empty column name" },
	{ "12abc", 1, "invalid number '12abc'" },
	{ "1.2.3", 1, "invalid number '1.2.3'" },
	{ "999999999999999999999", 1,
	  "integer literal '999999999999999999999' is out of range" },
	{ "9223372036854775808", 1,
	  "integer literal '9223372036854775808' is out of range" },
	{ "i - -9223372036854775809", 5,
	  "integer literal '-9223372036854775809' is out of range" },
	{ "1e999", 1, "double literal '1e999' is out of range" },
	{ "s == 1", 3, "cannot compare string with int" },
	{ "i == s", 3, "cannot compare int with string" },
	{ "b < 1", 3, "cannot compare bool with int" },
	{ "ts > 'x'", 4, "cannot compare timestamp with string" },
	{ "s + 1", 3, "'+' is not defined for string" },
	{ "s + t", 3, "'+' is not defined for string" },
	{ "1 * s", 3, "'*' is not defined for string" },
	{ "b + 1", 3, "'+' is not defined for bool" },
	{ "-s", 1, "'-' is not defined for string" },
	{ "-ts", 1, "'-' is not defined for timestamp" },
	{ "ts * 2", 4, "'*' is not defined for timestamp" },
	{ "ts + ts2", 4, "'+' is not defined for timestamp and timestamp" },
	{ "1 - ts", 3, "'-' is not defined for int and timestamp" },
	{ "ts + 1.5", 4, "'+' is not defined for timestamp and double" },
	{ "i and b", 3, "'and' needs bool operands, got int" },
	{ "b and i", 3, "'and' needs bool operands, got int" },
	{ "b or s", 3, "'or' needs bool operands, got string" },
	{ "not i", 1, "'not' needs a bool operand, got int" },
	{ "if(s, 1, 2)", 4, "if() condition must be bool, got string" },
	{ "if(i, 1, 2)", 4, "if() condition must be bool, got int" },
	{ "if(b, s, 1)", 10, "if() branches have different types: string and int" },
	{ "if(b, ts, 1)", 11,
	  "if() branches have different types: timestamp and int" },	/* function calls */
	{ "lowr(s)", 1, "unknown function 'lowr'; did you mean 'lower'?" },
	{ "coalese(n, 0)", 1,
	  "unknown function 'coalese'; did you mean 'coalesce'?" },
	{ "lower(i)", 7, "lower() takes a string, got int; cast with string()" },
	{ "upper(1.5)", 7,
	  "upper() takes a string, got double; cast with string()" },
	{ "length(ts)", 8,
	  "length() takes a string, a list or a map, got timestamp; cast with string()" },
	{ "lower()", 1, "lower() takes 1 argument, got 0" },
	{ "lower(s, t)", 1, "lower() takes 1 argument, got 2" },
	{ "substr(s)", 1, "substr() takes 2 or 3 arguments, got 1" },
	{ "substr(s, 1, 2, 3)", 1, "substr() takes 2 or 3 arguments, got 4" },
	{ "substr(i, 1)", 8,
	  "substr() takes a string, got int; cast with string()" },
	{ "substr(s, 1.5)", 11,
	  "substr() start must be int, got double; cast with int()" },
	{ "substr(s, 1, '2')", 14,
	  "substr() length must be int, got string; cast with int()" },
	{ "concat()", 1, "concat() takes at least 1 argument, got 0" },
	{ "concat(s, i)", 11, "concat() takes strings, got int; cast with string()" },
	{ "contains(s, 1)", 13,
	  "contains() takes strings, got int; cast with string()" },
	{ "starts_with(b, 'x')", 13,
	  "starts_with() takes strings, got bool; cast with string()" },
	{ "ends_with(s)", 1, "ends_with() takes 2 arguments, got 1" },
	{ "abs(s)", 5, "abs() takes a number, got string; cast with double()" },
	{ "abs(b)", 5, "abs() takes a number, got bool; cast with int()" },
	{ "floor(ts)", 7, "floor() takes a number, got timestamp" },
	{ "ceil(s)", 6, "ceil() takes a number, got string; cast with double()" },
	{ "ln(s)", 4, "ln() takes a number, got string; cast with double()" },
	{ "exp(b)", 5, "exp() takes a number, got bool; cast with int()" },
	{ "sqrt()", 1, "sqrt() takes 1 argument, got 0" },
	{ "pow(2)", 1, "pow() takes 2 arguments, got 1" },
	{ "pow(2, s)", 8, "pow() takes numbers, got string; cast with double()" },
	{ "round(d, 1.5)", 10,
	  "round() digits must be int, got double; cast with int()" },
	{ "round(d, 1, 2)", 1, "round() takes 1 or 2 arguments, got 3" },
	{ "round(s)", 7, "round() takes a number, got string; cast with double()" },
	{ "hour(i)", 6,
	  "hour() takes a timestamp, got int; cast with timestamp()" },
	{ "day_of_week(s)", 13,
	  "day_of_week() takes a timestamp, got string; cast with timestamp()" },
	{ "date(b)", 6, "date() takes a timestamp, got bool" },
	{ "int()", 1, "int() takes 1 argument, got 0" },
	{ "double(1, 2)", 1, "double() takes 1 argument, got 2" },
	{ "timestamp(b)", 11,
	  "timestamp() takes an int, double or string, got bool" },
	{ "bool(d)", 6, "bool() takes an int or string, got double" },
	{ "bool(ts)", 6, "bool() takes an int or string, got timestamp" },
	{ "int(js)", 5, "int() cannot convert json" },
	{ "coalesce()", 1, "coalesce() takes at least 1 argument, got 0" },
	{ "coalesce(s, 1)", 13,
	  "coalesce() arguments have different types: string and int" },
	{ "coalesce(i, d, s)", 16,
	  "coalesce() arguments have different types: double and string" },
	{ "lower(s) + 1", 10, "'+' is not defined for string" },
	/* case */
	{ "case i end", 8, "expected 'when' but found 'end'" },
	{ "case when b 1 end", 13, "expected 'then' but found '1'" },
	{ "case when b then 1", 19,
	  "expected 'when', 'else' or 'end' but found end of expression" },
	{ "case when b then 1 x", 20,
	  "expected 'when', 'else' or 'end' but found 'x'" },
	{ "case when b then 1 else 2", 26,
	  "expected 'end' but found end of expression" },
	{ "case when i then 1 end", 11, "'when' condition must be bool, got int" },
	{ "case when b then 1 else 's' end", 25,
	  "case branches have different types: int and string" },
	{ "case when b then 's' when f then 2 end", 34,
	  "case branches have different types: string and int" },
	{ "case s when 1 then 2 end", 13, "cannot compare string with int" },
	{ "case when b then 1 end end", 24, "unexpected 'end'" },
	/* in */
	{ "i in 1", 6, "expected '(' but found '1'" },
	{ "i in ()", 7, "unexpected ')'" },
	{ "i in (1, 2", 11, "expected ',' or ')' but found end of expression" },
	{ "i in (1, 's')", 10, "cannot compare int with string" },
	{ "s not in (1)", 11, "cannot compare string with int" },
	{ "null in (1, 's')", 13, "cannot compare int with string" },
	{ "i not 1", 3, "unexpected 'not'" },
	{ "i in (1) in (2)", 10,
	  "unexpected 'in'; comparisons do not chain, use 'and'" },
	{ "i in (1) == true", 10,
	  "unexpected '=='; comparisons do not chain, use 'and'" },
	/* keywords, json */
	{ "end + 1", 1, "unexpected 'end'; write `end` for the column" },
	{ "when", 1, "unexpected 'when'" },
	{ "js == js", 4, "cannot compare json with json" },
	{ "js in (js)", 8, "cannot compare json with json" },
	{ "js + 1", 4, "'+' is not defined for json" },
	{ "1 - vec", 3, "'-' is not defined for list<double>" },
	{ "vec < vec", 5, "cannot compare list<double> with list<double>" },
	{ "tags in ('a')", 10, "cannot compare list<string> with string" },
	{ "string(vec)", 8, "string() cannot convert list<double>" },
	{ "double(tags)", 8, "double() cannot convert list<string>" },
	{ "lower(tags)", 7, "lower() takes a string, got list<string>" },
	{ "case vec when vec then 1 end", 15,
	  "cannot compare list<double> with list<double>" },
	/* element access */
	{ "i[0]", 2, "cannot index int; only lists and maps have elements" },
	{ "s[0]", 2, "cannot index string; only lists and maps have elements" },
	{ "1 + d[0]", 6, "cannot index double; only lists and maps have elements" },
	{ "-5[0]", 3, "cannot index int; only lists and maps have elements" },
	{ "'abc'[0]", 6, "cannot index string; only lists and maps have elements" },
	{ "null[0]", 5, "cannot index null; only lists and maps have elements" },
	{ "emb[0][0]", 7, "cannot index double; only lists and maps have elements" },
	{ "genres[0][0]", 10,
	  "cannot index string; only lists and maps have elements" },
	{ "js[0]", 3,
	  "cannot index json (a feature's list or map); only list and map columns have elements" },
	{ "genres['a']", 8, "a list index must be an int, got string; cast with int()" },
	{ "emb[1.5]", 5, "a list index must be an int, got double; cast with int()" },
	{ "emb[b]", 5, "a list index must be an int, got bool; cast with int()" },
	{ "emb[ts]", 5, "a list index must be an int, got timestamp; cast with int()" },
	{ "emb[emb]", 5, "a list index must be an int, got list<double>" },
	{ "m[1]", 3, "map<string,double> keys are strings, got int; cast with string()" },
	{ "m[d]", 3,
	  "map<string,double> keys are strings, got double; cast with string()" },
	{ "m[genres]", 3, "map<string,double> keys are strings, got list<string>" },
	{ "emb[0", 6, "expected ']' but found end of expression" },
	{ "emb[0 1]", 7, "expected ']' but found '1'" },
	{ "emb[]", 5, "unexpected ']'" },
	{ "emb]", 4, "unexpected ']'" },
	{ "emb[0] == genres[0]", 8, "cannot compare double with string" },
	{ "m == m", 3, "cannot compare map<string,double> with map<string,double>" },
	{ "m + 1", 3, "'+' is not defined for map<string,double>" },
	{ "double(m)", 8, "double() cannot convert map<string,double>" },
	{ "lower(genres)", 7, "lower() takes a string, got list<string>" },
	/* length(), contains(), split() */
	{ "length(i)", 8,
	  "length() takes a string, a list or a map, got int; cast with string()" },
	{ "length(js)", 8, "length() takes a string, a list or a map, got json" },
	{ "length(emb, 1)", 1, "length() takes 1 argument, got 2" },
	{ "contains(genres, 1)", 18,
	  "contains() of list<string> looks for a string, got int; cast with string()" },
	{ "contains(emb, 'x')", 15,
	  "contains() of list<double> looks for a number, got string; cast with double()" },
	{ "contains(emb, ts)", 15,
	  "contains() of list<double> looks for a number, got timestamp" },
	{ "contains(m, 1)", 13,
	  "contains() of map<string,double> looks for a key, a string, got int; cast with string()" },
	{ "contains(genres, genres)", 18,
	  "contains() of list<string> looks for a string, got list<string>" },
	{ "contains(i, 'x')", 10,
	  "contains() takes a string, a list or a map, got int; cast with string()" },
	{ "contains(genres)", 1, "contains() takes 2 arguments, got 1" },
	{ "split(s)", 1, "split() takes 2 arguments, got 1" },
	{ "split(s, ',', 1)", 1, "split() takes 2 arguments, got 3" },
	{ "split(i, ',')", 7, "split() takes strings, got int; cast with string()" },
	{ "split(s, 0)", 10, "split() takes strings, got int; cast with string()" },
	{ "split(genres, ',')", 7, "split() takes strings, got list<string>" },
	{ "split(s, ',') == split(s, ',')", 15,
	  "cannot compare list<string> with list<string>" },
	{ "split(s, ',') + 1", 15, "'+' is not defined for list<string>" },
	{ "splt(s, ',')", 1, "unknown function 'splt'; did you mean 'split'?" },
};

START_TEST(test_error)
{
	const char *text = errors[_i].text;
	struct feat_error err;
	struct feat_expr *e;

	memset(&err, 0x5a, sizeof(err));
	e = feat_expr_compile(text, cols, NCOLS, &err);
	ck_assert_msg(e == NULL, "%s: compiled", text);
	ck_assert_str_eq(err.msg, errors[_i].msg);
	ck_assert_msg(err.col == errors[_i].col, "%s: want col %ld, got %ld",
		      text, errors[_i].col, err.col);
	ck_assert_int_eq(err.line, 0);
	ck_assert_str_eq(err.file, "");
}
END_TEST

/* Nesting too deep for the recursive passes is refused, not crashed on. */
START_TEST(test_too_deep)
{
	struct feat_buf b = FEAT_BUF_INIT;
	struct feat_error err;
	struct feat_expr *e;
	int k;

	for (k = 0; k < 5000; k++)
		ck_assert_int_eq(feat_buf_addc(&b, '('), 0);
	e = feat_expr_compile(b.ptr, cols, NCOLS, &err);
	ck_assert_ptr_null(e);
	ck_assert_str_eq(err.msg, "expression is nested too deeply");

	feat_buf_reset(&b);
	for (k = 0; k < 5000; k++)
		ck_assert_int_eq(feat_buf_adds(&b, "-"), 0);
	ck_assert_int_eq(feat_buf_adds(&b, "i"), 0);
	e = feat_expr_compile(b.ptr, cols, NCOLS, &err);
	ck_assert_ptr_null(e);
	ck_assert_str_eq(err.msg, "expression is nested too deeply");

	/* A long flat chain is fine up to the depth limit. */
	feat_buf_reset(&b);
	ck_assert_int_eq(feat_buf_adds(&b, "i"), 0);
	for (k = 0; k < 200; k++)
		ck_assert_int_eq(feat_buf_adds(&b, " + i"), 0);
	e = compile_ok(b.ptr);
	{
		struct feat_value v;

		fill_row();
		feat_expr_eval(e, row, &v);
		check_value(b.ptr, &v, FEAT_INT, "1407");
	}
	feat_expr_free(e);
	for (k = 0; k < 100; k++)
		ck_assert_int_eq(feat_buf_adds(&b, " + i"), 0);
	e = feat_expr_compile(b.ptr, cols, NCOLS, &err);
	ck_assert_ptr_null(e);
	ck_assert_str_eq(err.msg, "expression is nested too deeply");
	feat_buf_release(&b);
}
END_TEST

/*
 * The canonical text of the deepest expressions accepted nests twice as
 * deep as they do ("(-(-(-i)))", "((b in ((b in (b)))))"); it must still
 * be accepted. Each chain is prefix repeated, the leaf, suffix repeated.
 */
START_TEST(test_deepest_canonical)
{
	static const struct {
		const char *prefix, *leaf, *suffix;
	} chains[] = {
		{ "-", "i", "" },
		{ "not ", "b", "" },
		{ "-(", "i", ")" },
		{ "not (", "b", ")" },
		{ "lower(", "s", ")" },
		{ "coalesce(n, ", "i", ")" },
		{ "b in (", "b", ")" },
		{ "(b not in (", "b", "))" },
		{ "case when b then ", "i", " end" },
		{ "case b when ", "b", " then b end" },
		{ "if(b, ", "i", ", 0)" },
	};
	struct feat_buf b = FEAT_BUF_INIT;
	struct feat_expr *e, *e2;
	size_t o;
	int k, depth;

	for (o = 0; o < sizeof(chains) / sizeof(chains[0]); o++) {
		/* Find the deepest chain that compiles. */
		for (depth = 1;; depth++) {
			struct feat_error err;

			feat_buf_reset(&b);
			for (k = 0; k < depth; k++)
				ck_assert_int_eq(feat_buf_adds(&b,
							       chains[o].prefix),
						 0);
			ck_assert_int_eq(feat_buf_adds(&b, chains[o].leaf), 0);
			for (k = 0; k < depth; k++)
				ck_assert_int_eq(feat_buf_adds(&b,
							       chains[o].suffix),
						 0);
			e = feat_expr_compile(b.ptr, cols, NCOLS, &err);
			if (!e) {
				ck_assert_msg(strcmp(err.msg,
						     "expression is nested too deeply") == 0,
					      "%s...: %s", chains[o].prefix,
					      err.msg);
				break;
			}
			feat_expr_free(e);
		}
		ck_assert_int_gt(depth, 100);
		feat_buf_reset(&b);
		for (k = 0; k < depth - 1; k++)
			ck_assert_int_eq(feat_buf_adds(&b, chains[o].prefix), 0);
		ck_assert_int_eq(feat_buf_adds(&b, chains[o].leaf), 0);
		for (k = 0; k < depth - 1; k++)
			ck_assert_int_eq(feat_buf_adds(&b, chains[o].suffix), 0);
		e = compile_ok(b.ptr);
		{
			char *c = canonical(e);

			e2 = compile_ok(c);
			free(c);
		}
		feat_expr_free(e);
		feat_expr_free(e2);
	}
	feat_buf_release(&b);
}
END_TEST

/* ---------------------------------------------------------------------- */

static const struct {
	const char *text;
	const char *canon;
} canons[] = {
	{ "i+1>2", "((i + 1) > 2)" },
	{ "if(activity == 'item_view', 1, 0)",
	  "if((activity == 'item_view'), 1, 0)" },
	{ "IF( activity=\"item_view\" ,1,0 )",
	  "if((activity == 'item_view'), 1, 0)" },
	{ "user != null", "(user is not null)" },
	{ "user <> NULL", "(user is not null)" },
	{ "NULL = user", "(user is null)" },
	{ "user IS NOT null", "(user is not null)" },
	{ "i Is Null", "(i is null)" },
	{ "NOT b AND f OR bn", "(((not b) and f) or bn)" },
	{ "b or f and bn", "(b or (f and bn))" },
	{ "not i > 1", "(not (i > 1))" },
	{ "1 + 2 * 3 - 4 / 5 % 6", "((1 + (2 * 3)) - ((4 / 5) % 6))" },
	{ "i = 1", "(i == 1)" },
	{ "i <> 1", "(i != 1)" },
	{ "-i", "(-i)" },
	{ "-(5)", "-5" },
	{ "- 5", "-5" },
	{ "-(-5)", "5" },
	{ "i - -5", "(i - -5)" },
	{ "-(i + 1)", "(-(i + 1))" },
	{ "1.0", "1.0" },
	{ "1.50", "1.5" },
	{ "1e3", "1000.0" },
	{ "-2.5", "-2.5" },
	{ "0.1", "0.1" },
	{ "\"it's\"", "'it\\'s'" },
	{ "'a\\nb\\tc\\\\'", "'a\\nb\\tc\\\\'" },
	{ "TRUE or False", "(true or false)" },
	{ "null", "null" },
	{ "`my col` + `i`", "(`my col` + i)" },
	{ "`and` * 2", "(`and` * 2)" },
	{ "user.id", "user.id" },
	{ "ts - 5", "(ts - 5)" },
	{ "if(b, if(f, 1, 2), 3)", "if(b, if(f, 1, 2), 3)" },
	{ "LOWER(s)", "lower(s)" },
	{ "Day_Of_Week(ts)", "day_of_week(ts)" },
	{ "substr(s,1,2)", "substr(s, 1, 2)" },
	{ "concat(s,'-',t)", "concat(s, '-', t)" },
	{ "coalesce(n,0)+1", "(coalesce(n, 0) + 1)" },
	{ "string(2.0)", "string(2.0)" },
	{ "round(d,-1)", "round(d, -1)" },
	{ "case when i>1 then 'a' else null end",
	  "case when (i > 1) then 'a' end" },
	{ "CASE WHEN b THEN 1 WHEN f THEN 2 ELSE 3 END",
	  "case when b then 1 when f then 2 else 3 end" },
	{ "CASE i WHEN 1 THEN 'a' ELSE 'b' END",
	  "case i when 1 then 'a' else 'b' end" },
	{ "case (i + 1) when 2 then 'a' end", "case (i + 1) when 2 then 'a' end" },
	{ "case when b then 1 end * 2", "(case when b then 1 end * 2)" },
	{ "i IN (1)", "(i in (1))" },
	{ "i not in (1,2)", "(i not in (1, 2))" },
	{ "i NOT  IN(1, null)", "(i not in (1, null))" },
	{ "not i in (1)", "(not (i in (1)))" },
	{ "i + 1 in (2)", "((i + 1) in (2))" },
	{ "`end` * `and`", "(`end` * `and`)" },
	{ "emb[ 0 ]", "emb[0]" },
	{ "m[\"a\"]", "m['a']" },
	{ "m [ 'a' ]", "m['a']" },
	{ "(emb)[i+1]", "emb[(i + 1)]" },
	{ "-emb[1]", "(-emb[1])" },
	{ "emb[-1]", "emb[-1]" },
	{ "SPLIT(s,',')[0]", "split(s, ',')[0]" },
	{ "Length(genres)", "length(genres)" },
	{ "if(b, genres, null)[0]", "if(b, genres, null)[0]" },
	{ "case when b then m end['a']", "case when b then m end['a']" },
};

START_TEST(test_canonical)
{
	struct feat_expr *e = compile_ok(canons[_i].text);
	char *c = canonical(e);

	ck_assert_str_eq(c, canons[_i].canon);
	free(c);
	feat_expr_free(e);
}
END_TEST

/* Canonical text is appended, not written over what the buffer holds. */
START_TEST(test_canonical_appends)
{
	struct feat_buf b = FEAT_BUF_INIT;
	struct feat_expr *e = compile_ok("i+1");

	ck_assert_int_eq(feat_buf_adds(&b, "x="), 0);
	ck_assert_int_eq(feat_expr_canonical(e, &b), 0);
	ck_assert_str_eq(b.ptr, "x=(i + 1)");
	feat_buf_release(&b);
	feat_expr_free(e);
}
END_TEST

/* ---------------------------------------------------------------------- */

/* One compiled expression over rows that differ. */
START_TEST(test_many_rows)
{
	struct feat_expr *e1 = compile_ok("if(i > 5, i * 2 + 1, j * 3 - 1)");
	struct feat_expr *e2 =
		compile_ok("b and (i + 1 > 2 and d * 2 > 1 or t == 'x')");
	struct feat_expr *e3 = compile_ok("if(activity == 'item_view', 1, 0)");
	struct feat_value v;
	int k;

	for (k = 0; k < 4; k++) {
		fill_row();
		if (k % 2) {
			set_int(C_I, FEAT_INT, 1);
			set_int(C_J, FEAT_INT, 4);
			set_int(C_B, FEAT_BOOL, 0);
			set_str(C_ACTIVITY, "click");
		}
		feat_expr_eval(e1, row, &v);
		check_value("e1", &v, FEAT_INT, k % 2 ? "11" : "15");
		feat_expr_eval(e2, row, &v);
		check_value("e2", &v, FEAT_BOOL, k % 2 ? "false" : "true");
		feat_expr_eval(e3, row, &v);
		check_value("e3", &v, FEAT_INT, k % 2 ? "0" : "1");
	}
	feat_expr_free(e1);
	feat_expr_free(e2);
	feat_expr_free(e3);
}
END_TEST

/* A string result points into the row, which the caller owns. */
START_TEST(test_string_result)
{
	struct feat_expr *e = compile_ok("if(b, s, 'lit')");
	struct feat_value v;

	fill_row();
	feat_expr_eval(e, row, &v);
	ck_assert_ptr_eq(v.u.s.ptr, row[C_S].u.s.ptr);
	row[C_B].u.i = 0;
	feat_expr_eval(e, row, &v);
	check_value("lit", &v, FEAT_STRING, "lit");
	feat_expr_free(e);
}
END_TEST

/*
 * Strings made by the expression live in its scratch space: the space is
 * reused from row to row (no allocation once it is large enough), grows
 * when a longer string comes, and one expression's strings are not touched
 * by evaluating another.
 */
START_TEST(test_scratch)
{
	static char longer[300];
	struct feat_expr *e = compile_ok("concat(lower(s), '/', upper(t))");
	struct feat_expr *e2 = compile_ok("lower(t)");
	struct feat_value v, v2;
	const char *first;

	fill_row();
	feat_expr_eval(e, row, &v);
	check_value("scratch 1", &v, FEAT_STRING, "item_view/ABC");
	first = v.u.s.ptr;
	feat_expr_eval(e2, row, &v2);
	check_value("scratch 1", &v, FEAT_STRING, "item_view/ABC");
	check_value("scratch 2", &v2, FEAT_STRING, "abc");

	set_str(C_S, "CLICK");
	feat_expr_eval(e, row, &v);
	check_value("scratch 3", &v, FEAT_STRING, "click/ABC");
	ck_assert_ptr_eq(v.u.s.ptr, first);

	memset(longer, 'X', sizeof(longer) - 1);
	set_str(C_T, longer);
	feat_expr_eval(e, row, &v);
	ck_assert_uint_eq(v.u.s.len, 6 + sizeof(longer) - 1);
	ck_assert(memcmp(v.u.s.ptr, "click/XXX", 9) == 0);
	ck_assert(v.u.s.ptr[v.u.s.len - 1] == 'X');

	set_str(C_T, "q");
	feat_expr_eval(e, row, &v);
	check_value("scratch 4", &v, FEAT_STRING, "click/Q");
	check_value("scratch 2 again", &v2, FEAT_STRING, "abc");
	feat_expr_free(e);
	feat_expr_free(e2);
}
END_TEST

/* The new constructs over rows that differ, so no branch is always taken. */
START_TEST(test_many_rows_functions)
{
	static const struct {
		const char *text;
		enum feat_type type;
		const char *value[4];
	} cases[] = {
		{ "case when i > 5 then 'big' when i > 2 then 'mid' else 'small' end",
		  FEAT_STRING, { "big", "small", "mid", "small" } },
		{ "case s when 'item_view' then 1 when 'click' then 2 end",
		  FEAT_INT, { "1", "2", "null", "null" } },
		{ "coalesce(i * 2 + 1, j * 3 + 1, -1)", FEAT_INT,
		  { "15", "3", "9", "-1" } },
		{ "coalesce(i, j)", FEAT_INT, { "7", "1", "4", "null" } },
		{ "i in (1, 4, n)", FEAT_BOOL, { "null", "true", "true", "null" } },
		{ "s not in ('click', 'purchase')", FEAT_BOOL,
		  { "true", "false", "false", "null" } },
		{ "concat(s, ':', string(i))", FEAT_STRING,
		  { "item_view:7", "click:1", "purchase:4", "null" } },
		{ "upper(substr(s, 2, 3))", FEAT_STRING,
		  { "TEM", "LIC", "URC", "null" } },
		{ "round(d * i, 1)", FEAT_DOUBLE, { "17.5", "0.3", "null", "null" } },
	};
	size_t c;
	int k;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct feat_expr *e = compile_ok(cases[c].text);

		for (k = 0; k < 8; k++) {
			struct feat_value v;

			fill_row();
			switch (k % 4) {
			case 1:
				set_int(C_I, FEAT_INT, 1);
				set_int(C_J, FEAT_INT, 0);
				set_str(C_S, "click");
				row[C_D].u.d = 0.25;
				break;
			case 2:
				set_int(C_I, FEAT_INT, 4);
				set_str(C_S, "purchase");
				row[C_D].type = FEAT_NULL;
				break;
			case 3:
				row[C_I].type = FEAT_NULL;
				row[C_J].type = FEAT_NULL;
				row[C_S].type = FEAT_NULL;
				break;
			}
			feat_expr_eval(e, row, &v);
			check_value(cases[c].text, &v, cases[c].type,
				    cases[c].value[k % 4]);
		}
		feat_expr_free(e);
	}
}
END_TEST

/* A row value whose type is not the column's reads as null. */
START_TEST(test_wrong_row_type)
{
	struct feat_expr *e = compile_ok("i + 1");
	struct feat_expr *e2 = compile_ok("s == 'x'");
	struct feat_value v;

	fill_row();
	row[C_I].type = FEAT_DOUBLE;
	row[C_I].u.d = 1.5;
	row[C_S].type = FEAT_INT;
	feat_expr_eval(e, row, &v);
	ck_assert(v.type == FEAT_NULL);
	feat_expr_eval(e2, row, &v);
	ck_assert(v.type == FEAT_NULL);
	feat_expr_free(e);
	feat_expr_free(e2);
}
END_TEST

/*
 * split() makes its list in the scratch space of the expression, like the
 * string functions: the same space from row to row once it is large
 * enough, grown for a longer string, and untouched by the evaluation of
 * another expression. An element taken from the list points into it.
 * This is what a "select" of a list relies on: its value stays valid until
 * the same expression runs again, for the next row.
 */
START_TEST(test_split_scratch)
{
	static char longer[600];
	struct feat_expr *e = compile_ok("split(s, '_')");
	struct feat_expr *e1 = compile_ok("split(s, '_')[1]");
	struct feat_expr *e2 = compile_ok("split(t, '')");
	struct feat_value v, v1, v2;
	const char *first;
	size_t k;

	fill_row();
	feat_expr_eval(e, row, &v);
	check_value("split 1", &v, FEAT_STRLIST, "[\"item\",\"view\"]");
	first = v.u.s.ptr;
	feat_expr_eval(e1, row, &v1);
	feat_expr_eval(e2, row, &v2);
	check_value("split 1", &v, FEAT_STRLIST, "[\"item\",\"view\"]");
	check_value("split 1 [1]", &v1, FEAT_STRING, "view");
	check_value("split 2", &v2, FEAT_STRLIST, "[\"a\",\"b\",\"c\"]");

	set_str(C_S, "a_b_c");
	feat_expr_eval(e, row, &v);
	check_value("split 3", &v, FEAT_STRLIST, "[\"a\",\"b\",\"c\"]");
	ck_assert_ptr_eq(v.u.s.ptr, first);

	/* 300 pieces of one letter: more room than before. */
	for (k = 0; k + 1 < sizeof(longer); k += 2) {
		longer[k] = 'x';
		longer[k + 1] = '_';
	}
	longer[sizeof(longer) - 2] = 'y';
	longer[sizeof(longer) - 1] = '\0';
	set_str(C_S, longer);
	feat_expr_eval(e, row, &v);
	ck_assert(v.type == FEAT_STRLIST);
	ck_assert_uint_eq(v.u.s.len, 600);	/* 300 of 01 'x' or 'y' */
	feat_expr_eval(e1, row, &v1);
	check_value("split 4 [1]", &v1, FEAT_STRING, "x");

	set_str(C_S, "p_q");
	feat_expr_eval(e, row, &v);
	check_value("split 5", &v, FEAT_STRLIST, "[\"p\",\"q\"]");
	check_value("split 2 again", &v2, FEAT_STRLIST, "[\"a\",\"b\",\"c\"]");
	feat_expr_free(e);
	feat_expr_free(e1);
	feat_expr_free(e2);
}
END_TEST

/* Lists and maps over rows that differ, nulls among them. */
START_TEST(test_many_rows_lists)
{
	static const struct {
		const char *text;
		enum feat_type type;
		const char *value[4];
	} cases[] = {
		{ "emb[i - 7]", FEAT_DOUBLE, { "0.5", "0.5", "null", "null" } },
		{ "emb[j]", FEAT_DOUBLE, { "null", "0.5", "null", "null" } },
		{ "genres[j]", FEAT_STRING, { "null", "a", "null", "null" } },
		{ "m[s]", FEAT_DOUBLE, { "null", "2", "null", "null" } },
		{ "length(genres)", FEAT_INT, { "4", "2", "0", "null" } },
		{ "contains(genres, s)", FEAT_BOOL,
		  { "false", "true", "false", "null" } },
		{ "split(s, '_')", FEAT_STRLIST,
		  { "[\"item\",\"view\"]", "[\"click\"]", "[\"\",\"\"]", "null" } },
		{ "length(split(s, 'i'))", FEAT_INT, { "3", "2", "1", "null" } },
	};
	size_t c;
	int k;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct feat_expr *e = compile_ok(cases[c].text);

		for (k = 0; k < 8; k++) {
			struct feat_value v;

			fill_row();
			switch (k % 4) {
			case 1:
				set_int(C_J, FEAT_INT, 0);
				set_str(C_S, "click");
				set_json(C_GENRES, FEAT_STRLIST, "[\"a\", \"click\"]");
				set_json(C_M, FEAT_MAP, "{\"click\": 2}");
				set_json(C_EMB, FEAT_VECTOR, "[0.5]");
				break;
			case 2:
				set_str(C_S, "_");
				set_int(C_I, FEAT_INT, 10);
				set_json(C_GENRES, FEAT_STRLIST, "[]");
				set_json(C_EMB, FEAT_VECTOR, "[]");
				break;
			case 3:
				row[C_I].type = FEAT_NULL;
				row[C_J].type = FEAT_NULL;
				row[C_S].type = FEAT_NULL;
				row[C_GENRES].type = FEAT_NULL;
				row[C_M].type = FEAT_NULL;
				row[C_EMB].type = FEAT_NULL;
				break;
			}
			feat_expr_eval(e, row, &v);
			check_value(cases[c].text, &v, cases[c].type,
				    cases[c].value[k % 4]);
		}
		feat_expr_free(e);
	}
}
END_TEST

/*
 * The packed map of value.h as input columns read it (feat_json_map()):
 * entries sorted by key bytewise whatever the order of the text, null
 * members and numbers beyond a double left out, a key given twice an
 * error (-2), anything but an object of numbers an error (-1). The map is
 * shown as output prints it.
 */
static const struct {
	const char *json;
	int rc;
	const char *printed;
} maps[] = {
	{ "{}", 0, "{}" },
	{ " { } ", 0, "{}" },
	{ "{\"a\": 1.5, \"b\": 2}", 0, "{\"a\":1.5,\"b\":2}" },
	{ "{\"b\": 2, \"a\": 1.5}", 0, "{\"a\":1.5,\"b\":2}" },
	{ "{\"aa\":1,\"a\":2,\"B\":3,\"\":4,\"\\u00e9\":5,\"z\":6}", 0,
	  "{\"\":4,\"B\":3,\"a\":2,\"aa\":1,\"z\":6,\"\xc3\xa9\":5}" },
	{ "{\"x\": -0.0, \"y\": 1e-7, \"z\": 0.1e1}", 0,
	  "{\"x\":-0,\"y\":1e-07,\"z\":1}" },
	{ "{\"a\": null, \"b\": 1}", 0, "{\"b\":1}" },
	{ "{\"a\": 1e999, \"b\": -1e999}", 0, "{}" },
	{ "{\"q\\\"\\n\": 1}", 0, "{\"q\\\"\\n\":1}" },
	{ "{\n\t\"a\" :\t1 ,\r\n\"b\":2\n}", 0, "{\"a\":1,\"b\":2}" },
	{ "{\"a\": 1, \"a\": 2}", -2, NULL },
	{ "{\"a\": 1, \"b\": 2, \"a\": null}", -2, NULL },
	{ "{\"a\": null, \"a\": 1}", -2, NULL },
	{ "", -1, NULL },
	{ "[1]", -1, NULL },
	{ "{", -1, NULL },
	{ "{\"a\"}", -1, NULL },
	{ "{\"a\": }", -1, NULL },
	{ "{\"a\": 1,}", -1, NULL },
	{ "{,\"a\": 1}", -1, NULL },
	{ "{\"a\": 1 \"b\": 2}", -1, NULL },
	{ "{\"a\": 1} x", -1, NULL },
	{ "{a: 1}", -1, NULL },
	{ "{\"a\": \"1\"}", -1, NULL },
	{ "{\"a\": true}", -1, NULL },
	{ "{\"a\": [1]}", -1, NULL },
	{ "{\"a\": {\"b\": 1}}", -1, NULL },
	{ "{\"a\": nan}", -1, NULL },
	{ "{\"a\": inf}", -1, NULL },
	{ "{\"a\": +1}", -1, NULL },
	{ "{\"a\": .5}", -1, NULL },
	{ "{\"a\": 0x10}", -1, NULL },
	{ "{\"a\\x\": 1}", -1, NULL },
};

START_TEST(test_json_map)
{
	struct feat_buf out = FEAT_BUF_INIT, tmp = FEAT_BUF_INIT;
	struct feat_buf b = FEAT_BUF_INIT;
	const char *json = maps[_i].json;
	struct feat_value v;
	int rc;

	/* After something, as in a row's arena. */
	ck_assert_int_eq(feat_buf_adds(&out, "prefix"), 0);
	rc = feat_json_map(json, strlen(json), &out, &tmp);
	ck_assert_msg(rc == maps[_i].rc, "%s: want %d, got %d", json,
		      maps[_i].rc, rc);
	ck_assert(memcmp(out.ptr, "prefix", 6) == 0);
	if (rc == 0) {
		v.type = FEAT_MAP;
		v.u.s.ptr = out.ptr + 6;
		v.u.s.len = out.len - 6;
		ck_assert_int_eq(feat_fmt_json_value(&b, &v), 0);
		ck_assert_msg(strcmp(b.ptr, maps[_i].printed) == 0,
			      "%s: want %s, got %s", json, maps[_i].printed,
			      b.ptr);
	}
	feat_buf_release(&out);
	feat_buf_release(&tmp);
	feat_buf_release(&b);
}
END_TEST

/* Asserts that the tile encoding of the JSON text, read as type t, is hex. */
static void check_packed(enum feat_type t, const char *json, const char *hex)
{
	struct feat_buf packed = FEAT_BUF_INIT, tmp = FEAT_BUF_INIT;
	struct feat_buf b = FEAT_BUF_INIT;
	struct feat_value v;
	char got[256] = "";
	size_t i;

	ck_assert_int_eq(feat_buf_addc(&packed, 0), 0);
	feat_buf_reset(&packed);
	if (t == FEAT_MAP)
		ck_assert_int_eq(feat_json_map(json, strlen(json), &packed, &tmp), 0);
	else
		ck_assert_int_eq(feat_json_list(t, json, strlen(json), &packed,
						&tmp), 0);
	v.type = t;
	v.u.s.ptr = packed.ptr;
	v.u.s.len = packed.len;
	ck_assert_int_eq(feat_tile_put_value(&b, &v), 0);
	for (i = 0; i < b.len && i < 80; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%02x",
			 i ? " " : "", (unsigned char)b.ptr[i]);
	ck_assert_str_eq(got, hex);
	feat_buf_release(&packed);
	feat_buf_release(&tmp);
	feat_buf_release(&b);
}

/*
 * A map through a tile value (tag 9, feat-format(5), whose examples of
 * tags 7 to 9 these are) comes back the same; in CSV it is its JSON,
 * quoted. A value cut short ends where its whole elements do.
 */
START_TEST(test_map_value)
{
	struct feat_buf b = FEAT_BUF_INIT;
	const unsigned char *p;
	struct feat_value v, k, e;
	size_t off = 0;

	check_packed(FEAT_VECTOR, "[1]", "07 08 00 00 00 00 00 00 f0 3f");
	check_packed(FEAT_STRLIST, "[\"m1\"]", "08 03 02 6d 31");
	check_packed(FEAT_MAP, "{\"a\":1.5}",
		     "09 0a 01 61 00 00 00 00 00 00 f8 3f");
	check_packed(FEAT_MAP, "{}", "09 00");
	check_packed(FEAT_STRLIST, "[]", "08 00");

	fill_row();
	ck_assert_int_eq(feat_tile_put_value(&b, &row[C_M]), 0);
	ck_assert_uint_eq((unsigned char)b.ptr[0], 9);
	ck_assert_uint_eq((unsigned char)b.ptr[1], row[C_M].u.s.len);
	p = (const unsigned char *)b.ptr;
	ck_assert_int_eq(feat_tile_get_value(&p, p + b.len, &v), 0);
	ck_assert(v.type == FEAT_MAP);
	ck_assert_uint_eq(v.u.s.len, row[C_M].u.s.len);
	ck_assert(memcmp(v.u.s.ptr, row[C_M].u.s.ptr, v.u.s.len) == 0);
	/* 01 'a' 1.5, 01 'b' -2, 03 'z' c3 a9 0 */
	ck_assert_uint_eq(v.u.s.len, 3 * 10 + 2);
	ck_assert(memcmp(v.u.s.ptr, "\x01" "a" "\0\0\0\0\0\0\xf8\x3f", 10) == 0);

	feat_buf_reset(&b);
	ck_assert_int_eq(feat_fmt_csv_value(&b, &row[C_M]), 0);
	ck_assert_str_eq(b.ptr,
			 "\"{\"\"a\"\":1.5,\"\"b\"\":-2,\"\"z\xc3\xa9\"\":0}\"");

	/* Cut in the middle of the second entry. */
	v = row[C_M];
	v.u.s.len = 14;
	ck_assert_int_eq(feat_elem_next(&v, &off, &k, &e), 1);
	ck_assert(k.u.s.len == 1 && k.u.s.ptr[0] == 'a' && e.u.d == 1.5);
	ck_assert_int_eq(feat_elem_next(&v, &off, &k, &e), -1);
	feat_buf_reset(&b);
	ck_assert_int_eq(feat_fmt_json_value(&b, &v), 0);
	ck_assert_str_eq(b.ptr, "{\"a\":1.5}");
	/* A vector cut short, and a value of another type. */
	v = row[C_EMB];
	v.u.s.len = 12;
	feat_buf_reset(&b);
	ck_assert_int_eq(feat_fmt_json_value(&b, &v), 0);
	ck_assert_str_eq(b.ptr, "[0.5]");
	off = 0;
	ck_assert_int_eq(feat_elem_next(&row[C_S], &off, &k, &e), -1);
	feat_buf_release(&b);
}
END_TEST

START_TEST(test_free_null)
{
	feat_expr_free(NULL);
}
END_TEST

/* An empty schema: literals work, any name is unknown with no hint. */
START_TEST(test_no_columns)
{
	struct feat_error err;
	struct feat_expr *e = feat_expr_compile("1 + 2", NULL, 0, &err);
	struct feat_value v;

	ck_assert_ptr_nonnull(e);
	feat_expr_eval(e, NULL, &v);
	check_value("1 + 2", &v, FEAT_INT, "3");
	feat_expr_free(e);
	e = feat_expr_compile("a", NULL, 0, &err);
	ck_assert_ptr_null(e);
	ck_assert_str_eq(err.msg, "unknown column 'a'");
}
END_TEST

static Suite *expr_suite(void)
{
	Suite *s = suite_create("expr");
	TCase *tc;

	tc = tcase_create("eval");
	tcase_add_loop_test(tc, test_eval, 0, sizeof(evals) / sizeof(evals[0]));
	tcase_add_test(tc, test_many_rows);
	tcase_add_test(tc, test_string_result);
	tcase_add_test(tc, test_scratch);
	tcase_add_test(tc, test_many_rows_functions);
	tcase_add_test(tc, test_wrong_row_type);
	tcase_add_test(tc, test_free_null);
	tcase_add_test(tc, test_no_columns);
	tcase_add_test(tc, test_split_scratch);
	tcase_add_test(tc, test_many_rows_lists);
	suite_add_tcase(s, tc);

	tc = tcase_create("packed");
	tcase_add_loop_test(tc, test_json_map, 0, sizeof(maps) / sizeof(maps[0]));
	tcase_add_test(tc, test_map_value);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_loop_test(tc, test_error, 0,
			    sizeof(errors) / sizeof(errors[0]));
	tcase_add_test(tc, test_too_deep);
	tcase_add_test(tc, test_deepest_canonical);
	suite_add_tcase(s, tc);

	tc = tcase_create("canonical");
	tcase_add_loop_test(tc, test_canonical, 0,
			    sizeof(canons) / sizeof(canons[0]));
	tcase_add_test(tc, test_canonical_appends);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(expr_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
