/*
 * test_expr.c - unit tests of lib/expr.c (Check suite "expr").
 *
 * Three tables drive most of it: expressions with their type and value over
 * a fixed row (which has nulls in it), texts that must fail with an exact
 * message and column, and texts with their canonical form. Every expression
 * of the first table is also compiled again from its canonical text, which
 * must give the same text, type and value.
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
#include "value.h"

enum {
	C_I, C_J, C_N, C_D, C_DN, C_S, C_T, C_SN, C_B, C_F, C_BN, C_TS,
	C_TS2, C_TSN, C_USER, C_ACTIVITY, C_MYCOL, C_USERID, C_BIG, C_ZERO,
	C_E, C_AND, NCOLS
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
		ck_assert_msg(v->u.s.len == strlen(exp) &&
			      memcmp(v->u.s.ptr, exp, v->u.s.len) == 0,
			      "%s: want '%s', got '%.*s'", text, exp,
			      (int)v->u.s.len, v->u.s.ptr);
		break;
	case FEAT_NULL:
		ck_abort_msg("%s: a non-null value of type null", text);
		break;
	default:
		ck_abort_msg("%s: a value of type %s", text, feat_type_name(t));
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
	{ "  i\t+\n1  ", FEAT_INT, "8" },
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
	{ "foo(1)", 1, "unknown function 'foo'" },
	{ "iff(b, 1, 2)", 1, "unknown function 'iff'; did you mean 'if'?" },
	{ "1 + foo (i)", 5, "unknown function 'foo'" },
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
	{ "i + and", 5, "unexpected 'and'" },
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
	  "if() branches have different types: timestamp and int" },
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
 * deep as they do ("(-(-(-i)))"); it must still be accepted.
 */
START_TEST(test_deepest_canonical)
{
	static const char *const ops[] = { "-", "not ", "-(", "not (" };
	struct feat_buf b = FEAT_BUF_INIT;
	struct feat_expr *e, *e2;
	size_t o;
	int k, depth;

	for (o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
		/* Find the deepest chain that compiles. */
		for (depth = 1;; depth++) {
			struct feat_error err;

			feat_buf_reset(&b);
			for (k = 0; k < depth; k++)
				ck_assert_int_eq(feat_buf_adds(&b, ops[o]), 0);
			ck_assert_int_eq(feat_buf_adds(&b, o % 2 ? "b" : "i"),
					 0);
			for (k = 0; o >= 2 && k < depth; k++)
				ck_assert_int_eq(feat_buf_addc(&b, ')'), 0);
			e = feat_expr_compile(b.ptr, cols, NCOLS, &err);
			if (!e) {
				ck_assert_str_eq(err.msg,
						 "expression is nested too deeply");
				break;
			}
			feat_expr_free(e);
		}
		ck_assert_int_gt(depth, 200);
		feat_buf_reset(&b);
		for (k = 0; k < depth - 1; k++)
			ck_assert_int_eq(feat_buf_adds(&b, ops[o]), 0);
		ck_assert_int_eq(feat_buf_adds(&b, o % 2 ? "b" : "i"), 0);
		for (k = 0; o >= 2 && k < depth - 1; k++)
			ck_assert_int_eq(feat_buf_addc(&b, ')'), 0);
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
	tcase_add_test(tc, test_wrong_row_type);
	tcase_add_test(tc, test_free_null);
	tcase_add_test(tc, test_no_columns);
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
