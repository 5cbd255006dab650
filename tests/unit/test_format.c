/*
 * test_format.c - unit tests of lib/format.c: values as CSV fields and
 * JSON values, the text every human-readable output is made of.
 *
 * Two independent readers judge the output: jansson must parse every JSON
 * value back to the same string or number, and lib/csvin.c (libcsv) must
 * read every CSV field back to the same bytes. Numbers must read back with
 * strtod to the same bits, and print exactly as feat_fmt_double() and
 * feat_fmt_int() print them, so that a value looks the same in every output.
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "csvin.h"
#include "error.h"
#include "format.h"
#include "plan.h"
#include "value.h"

#define require(cond) do { \
	if (!(cond)) \
		ck_abort_msg("%s", #cond); \
} while (0)

static uint64_t rng_state = 0xf0f0f0f012345678u;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static struct feat_value v_null(void)
{
	struct feat_value v;

	memset(&v, 0, sizeof(v));
	v.type = FEAT_NULL;
	return v;
}

static struct feat_value v_int(enum feat_type t, int64_t i)
{
	struct feat_value v = v_null();

	v.type = t;
	v.u.i = i;
	return v;
}

static struct feat_value v_dbl(double d)
{
	struct feat_value v = v_null();

	v.type = FEAT_DOUBLE;
	v.u.d = d;
	return v;
}

static struct feat_value v_str(const char *s, size_t n)
{
	struct feat_value v = v_null();

	v.type = FEAT_STRING;
	v.u.s.ptr = s;
	v.u.s.len = n;
	return v;
}

/* The CSV / JSON text of v, in a static buffer (NUL-terminated). */
static const char *csv_of(struct feat_value v)
{
	static struct feat_buf b;

	feat_buf_release(&b);
	ck_assert_int_eq(feat_fmt_csv_value(&b, &v), 0);
	return b.ptr ? b.ptr : "";
}

static const char *json_of(struct feat_value v)
{
	static struct feat_buf b;

	feat_buf_release(&b);
	ck_assert_int_eq(feat_fmt_json_value(&b, &v), 0);
	return b.ptr ? b.ptr : "";
}

START_TEST(test_out_format_parse)
{
	enum feat_out_format f = FEAT_OUT_TILES;

	ck_assert_int_eq(feat_out_format_parse("csv", &f), 0);
	ck_assert_int_eq(f, FEAT_OUT_CSV);
	ck_assert_int_eq(feat_out_format_parse("jsonl", &f), 0);
	ck_assert_int_eq(f, FEAT_OUT_JSONL);
	f = FEAT_OUT_CSV;
	ck_assert_int_eq(feat_out_format_parse("json", &f), 0);
	ck_assert_int_eq(f, FEAT_OUT_JSONL);
	ck_assert_int_eq(feat_out_format_parse("tiles", &f), 0);
	ck_assert_int_eq(f, FEAT_OUT_TILES);
	ck_assert_int_eq(feat_out_format_parse("", &f), -1);
	ck_assert_int_eq(feat_out_format_parse("xml", &f), -1);
	ck_assert_int_eq(feat_out_format_parse("csv ", &f), -1);
	ck_assert_int_eq(feat_out_format_parse("tile", &f), -1);
}
END_TEST

START_TEST(test_scalars)
{
	/* Null: an empty CSV field, JSON null. */
	ck_assert_str_eq(csv_of(v_null()), "");
	ck_assert_str_eq(json_of(v_null()), "null");
	ck_assert_str_eq(csv_of(v_int(FEAT_BOOL, 1)), "true");
	ck_assert_str_eq(csv_of(v_int(FEAT_BOOL, 0)), "false");
	ck_assert_str_eq(json_of(v_int(FEAT_BOOL, 1)), "true");
	ck_assert_str_eq(json_of(v_int(FEAT_BOOL, 0)), "false");
	ck_assert_str_eq(csv_of(v_int(FEAT_INT, 0)), "0");
	ck_assert_str_eq(csv_of(v_int(FEAT_INT, -42)), "-42");
	ck_assert_str_eq(csv_of(v_int(FEAT_INT, INT64_MAX)), "9223372036854775807");
	ck_assert_str_eq(csv_of(v_int(FEAT_INT, INT64_MIN)), "-9223372036854775808");
	ck_assert_str_eq(json_of(v_int(FEAT_INT, INT64_MIN)), "-9223372036854775808");
	/* Timestamps print as integer milliseconds, negative ones too. */
	ck_assert_str_eq(csv_of(v_int(FEAT_TIMESTAMP, 1784851200000)), "1784851200000");
	ck_assert_str_eq(json_of(v_int(FEAT_TIMESTAMP, -1)), "-1");
	/* Doubles: integral values without a fraction, the shortest text. */
	ck_assert_str_eq(csv_of(v_dbl(3.0)), "3");
	ck_assert_str_eq(json_of(v_dbl(3.0)), "3");
	ck_assert_str_eq(csv_of(v_dbl(0.1)), "0.1");
	ck_assert_str_eq(csv_of(v_dbl(3.25)), "3.25");
	ck_assert_str_eq(json_of(v_dbl(-1.5)), "-1.5");
	ck_assert_str_eq(csv_of(v_dbl(0.0)), "0");
	ck_assert_str_eq(csv_of(v_dbl(-0.0)), "-0");
	ck_assert_str_eq(json_of(v_dbl(-0.0)), "-0");
	ck_assert_str_eq(csv_of(v_dbl(9007199254740992.0)), "9007199254740992");
	/* An average of the movie example (expected.csv). */
	ck_assert_str_eq(csv_of(v_dbl(7.3 / 2)), "3.65");
}
END_TEST

/* The output is appended: earlier bytes of the buffer stay. */
START_TEST(test_appends)
{
	struct feat_buf b = FEAT_BUF_INIT;
	struct feat_value v = v_str("x,y", 3);

	ck_assert_int_eq(feat_buf_adds(&b, "a,"), 0);
	ck_assert_int_eq(feat_fmt_csv_value(&b, &v), 0);
	ck_assert_int_eq(feat_buf_adds(&b, ","), 0);
	v = v_dbl(2.5);
	ck_assert_int_eq(feat_fmt_csv_value(&b, &v), 0);
	ck_assert_int_eq(feat_buf_adds(&b, ","), 0);
	v = v_null();
	ck_assert_int_eq(feat_fmt_csv_value(&b, &v), 0);
	ck_assert_str_eq(b.ptr, "a,\"x,y\",2.5,");
	ck_assert_uint_eq(b.len, strlen(b.ptr));
	feat_buf_reset(&b);
	ck_assert_int_eq(feat_buf_adds(&b, "{\"k\":"), 0);
	v = v_int(FEAT_INT, 7);
	ck_assert_int_eq(feat_fmt_json_value(&b, &v), 0);
	ck_assert_int_eq(feat_buf_adds(&b, ",\"s\":"), 0);
	ck_assert_int_eq(feat_fmt_json_string(&b, "q\"", 2), 0);
	ck_assert_int_eq(feat_buf_adds(&b, "}"), 0);
	ck_assert_str_eq(b.ptr, "{\"k\":7,\"s\":\"q\\\"\"}");
	ck_assert_uint_eq(b.len, strlen(b.ptr));
	feat_buf_release(&b);
}
END_TEST

START_TEST(test_csv_quoting)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{ "plain", "plain" },
		{ "with space", "with space" },
		{ " lead and trail ", " lead and trail " },
		{ "a,b", "\"a,b\"" },
		{ ",", "\",\"" },
		{ "say \"hi\"", "\"say \"\"hi\"\"\"" },
		{ "\"", "\"\"\"\"" },
		{ "a\"b", "\"a\"\"b\"" },
		{ "two\nlines", "\"two\nlines\"" },
		{ "cr\rhere", "\"cr\rhere\"" },
		{ "crlf\r\n", "\"crlf\r\n\"" },
		{ "tab\there", "tab\there" },
		{ "semi;colon", "semi;colon" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = csv_of(v_str(cases[i].in, strlen(cases[i].in)));

		ck_assert_msg(!strcmp(got, cases[i].out), "csv of '%s': got '%s', want '%s'",
			      cases[i].in, got, cases[i].out);
	}
	/* The empty string prints as an empty field, like null. */
	ck_assert_str_eq(csv_of(v_str("", 0)), "");
	/* Zero bytes are data: the length counts, not the NUL. */
	{
		struct feat_buf b = FEAT_BUF_INIT;
		struct feat_value v = v_str("a\0,b", 4);

		ck_assert_int_eq(feat_fmt_csv_value(&b, &v), 0);
		ck_assert_uint_eq(b.len, 6);
		ck_assert(memcmp(b.ptr, "\"a\0,b\"", 6) == 0);
		feat_buf_release(&b);
	}
}
END_TEST

/* feat_csv_quote with another delimiter and quote character. */
START_TEST(test_csv_quote_custom)
{
	struct feat_buf b = FEAT_BUF_INIT;

	ck_assert_int_eq(feat_csv_quote(&b, "a,b", 3, ';', '\''), 0);
	ck_assert_str_eq(b.ptr, "a,b");
	feat_buf_reset(&b);
	ck_assert_int_eq(feat_csv_quote(&b, "a;b", 3, ';', '\''), 0);
	ck_assert_str_eq(b.ptr, "'a;b'");
	feat_buf_reset(&b);
	ck_assert_int_eq(feat_csv_quote(&b, "it's", 4, ';', '\''), 0);
	ck_assert_str_eq(b.ptr, "'it''s'");
	feat_buf_reset(&b);
	ck_assert_int_eq(feat_csv_quote(&b, "say \"x\"", 7, '\t', '\''), 0);
	ck_assert_str_eq(b.ptr, "say \"x\"");
	feat_buf_reset(&b);
	ck_assert_int_eq(feat_csv_quote(&b, "a\tb", 3, '\t', '"'), 0);
	ck_assert_str_eq(b.ptr, "\"a\tb\"");
	feat_buf_release(&b);
}
END_TEST

START_TEST(test_json_escapes)
{
	static const struct {
		const char *in;
		size_t n;
		const char *out;
	} cases[] = {
		{ "plain", 5, "\"plain\"" },
		{ "", 0, "\"\"" },
		{ "say \"hi\"", 8, "\"say \\\"hi\\\"\"" },
		{ "back\\slash", 10, "\"back\\\\slash\"" },
		{ "a\nb", 3, "\"a\\nb\"" },
		{ "a\tb", 3, "\"a\\tb\"" },
		{ "a\rb", 3, "\"a\\rb\"" },
		{ "\0", 1, "\"\\u0000\"" },
		{ "\x01", 1, "\"\\u0001\"" },
		{ "\b\f", 2, "\"\\u0008\\u000c\"" },
		{ "\x1f", 1, "\"\\u001f\"" },
		{ "\x1b[0m", 4, "\"\\u001b[0m\"" },
		/* Not control characters: printed as they are. */
		{ " ~\x7f", 3, "\" ~\x7f\"" },
		{ "/", 1, "\"/\"" },
		{ "caf\xc3\xa9 \xe2\x82\xac", 9, "\"caf\xc3\xa9 \xe2\x82\xac\"" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = json_of(v_str(cases[i].in, cases[i].n));

		ck_assert_msg(!strcmp(got, cases[i].out), "json of case %zu: got '%s', want '%s'",
			      i, got, cases[i].out);
	}
}
END_TEST

/* Parses text as one JSON value with jansson; the string must come back. */
static void json_string_roundtrip(const char *s, size_t n)
{
	struct feat_buf b = FEAT_BUF_INIT;
	json_error_t je;
	json_t *j;

	require(feat_fmt_json_string(&b, s, n) == 0);
	j = json_loadb(b.ptr, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	if (!j)
		ck_abort_msg("jansson rejects %s: %s", b.ptr, je.text);
	require(json_is_string(j));
	require(json_string_length(j) == n);
	require(n == 0 || memcmp(json_string_value(j), s, n) == 0);
	json_decref(j);
	feat_buf_release(&b);
}

START_TEST(test_json_string_roundtrip)
{
	char s[64];
	int c, i;

	/* Every ASCII byte, alone and among others. */
	for (c = 0; c < 128; c++) {
		s[0] = (char)c;
		json_string_roundtrip(s, 1);
		s[0] = 'a';
		s[1] = (char)c;
		s[2] = 'z';
		json_string_roundtrip(s, 3);
	}
	/* Random ASCII strings full of quotes, backslashes and controls. */
	for (i = 0; i < 20000; i++) {
		static const char pick[] = "\"\\\n\r\t\b\f\x01\x1f\x7f abc/";
		size_t n = rnd() % sizeof(s), k;

		for (k = 0; k < n; k++)
			s[k] = rnd() & 1 ? pick[rnd() % (sizeof(pick) - 1)]
					 : (char)(rnd() % 128);
		json_string_roundtrip(s, n);
	}
	/* Multi-byte UTF-8 passes through unchanged. */
	json_string_roundtrip("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9);
}
END_TEST

/* Numbers print as feat_fmt_double/int print them, and read back exactly. */
static void check_number(struct feat_value v)
{
	char want[FEAT_NUMBUF + 1];
	size_t n = v.type == FEAT_DOUBLE ? feat_fmt_double(want, v.u.d)
					 : feat_fmt_int(want, v.u.i);
	const char *c, *j;

	want[n] = '\0';
	c = csv_of(v);
	require(strcmp(c, want) == 0);
	j = json_of(v);
	require(strcmp(j, want) == 0);
	if (v.type == FEAT_DOUBLE) {
		char *end;
		double d = strtod(c, &end);

		require(*end == '\0');
		require(memcmp(&d, &v.u.d, sizeof(d)) == 0);
		/* No JSON reader accepts these. */
		require(!strchr(c, 'n') && !strchr(c, 'N') && !strchr(c, 'i'));
	} else {
		require(strtoll(c, NULL, 10) == v.u.i);
	}
	/* Valid JSON (jansson reads -0 and 1e400-free numbers fine). */
	{
		json_error_t je;
		json_t *x = json_loads(j, JSON_DECODE_ANY, &je);

		if (!x)
			ck_abort_msg("jansson rejects number %s: %s", j, je.text);
		require(json_is_number(x));
		json_decref(x);
	}
}

START_TEST(test_numbers)
{
	static const double ds[] = {
		0.0, -0.0, 1.0, -1.0, 0.1, 1e-7, 123456.789, 1e15, 1e16, 1e21,
		1e22, 1e300, -1e-300, 5e-324, 2.2250738585072014e-308,
		1.7976931348623157e308, 9007199254740993.0, 0.3,
	};
	size_t i;

	for (i = 0; i < sizeof(ds) / sizeof(ds[0]); i++)
		check_number(v_dbl(ds[i]));
	check_number(v_int(FEAT_INT, INT64_MIN));
	check_number(v_int(FEAT_INT, INT64_MAX));
	check_number(v_int(FEAT_TIMESTAMP, -62135596800000));
	for (i = 0; i < 20000; i++) {
		uint64_t bits = rnd();
		double d;

		memcpy(&d, &bits, sizeof(d));
		if (isfinite(d))
			check_number(v_dbl(d));
		check_number(v_dbl((double)(int64_t)(rnd() % 2000001) / 1000.0 - 1000.0));
		check_number(v_int(FEAT_INT, (int64_t)rnd() >> (rnd() % 64)));
	}
}
END_TEST

/*
 * CSV fields read back: a headerless one-column source parses each line
 * printed by feat_fmt_csv_value() to the same bytes.
 */
struct one_field {
	struct feat_buf got;
	int rows;
};

static int collect_field(void *ctx, const struct feat_csv_row *row,
			 struct feat_error *err)
{
	struct one_field *o = ctx;

	(void)err;
	o->rows++;
	feat_buf_reset(&o->got);
	if (row->vals[0].type == FEAT_STRING)
		feat_buf_add(&o->got, row->vals[0].u.s.ptr, row->vals[0].u.s.len);
	else
		feat_buf_adds(&o->got, "<null>");
	return 0;
}

START_TEST(test_csv_field_roundtrip)
{
	struct feat_column col = { (char *)"s", FEAT_STRING, 0 };
	struct feat_column tcol = { (char *)"t", FEAT_TIMESTAMP, FEAT_TS_MS };
	struct feat_column cols[2];
	struct feat_source src;
	struct feat_error err;
	int i;

	cols[0] = col;
	cols[1] = tcol;
	memset(&src, 0, sizeof(src));
	src.name = (char *)"src";
	src.fmt.header = 0;
	src.fmt.delim = ',';
	src.fmt.quote = '"';
	src.fmt.null_text = (char *)"";
	src.cols = cols;
	src.ncols = 2;
	src.time_col = 1;
	for (i = 0; i < 5000; i++) {
		static const char pick[] = "\",\r\n a;'\t\\x";
		struct one_field o = { FEAT_BUF_INIT, 0 };
		struct feat_buf line = FEAT_BUF_INIT;
		struct feat_csv *r;
		char s[24];
		size_t n = 1 + rnd() % (sizeof(s) - 1), k;
		struct feat_value v;

		for (k = 0; k < n; k++)
			s[k] = pick[rnd() % (sizeof(pick) - 1)];
		v = v_str(s, n);
		require(feat_fmt_csv_value(&line, &v) == 0);
		require(feat_buf_adds(&line, ",0\n") == 0);
		r = feat_csv_new(&src, "rt.csv", collect_field, &o);
		require(r != NULL);
		feat_error_clear(&err);
		if (feat_csv_feed(r, line.ptr, line.len, &err) < 0 ||
		    feat_csv_finish(r, &err) < 0)
			ck_abort_msg("csvin rejects %s: %s", line.ptr, err.msg);
		require(o.rows == 1);
		require(o.got.len == n && memcmp(o.got.ptr, s, n) == 0);
		feat_csv_free(r);
		feat_buf_release(&o.got);
		feat_buf_release(&line);
	}
}
END_TEST

static Suite *format_suite(void)
{
	Suite *s = suite_create("format");
	TCase *tc = tcase_create("format");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_out_format_parse);
	tcase_add_test(tc, test_scalars);
	tcase_add_test(tc, test_appends);
	tcase_add_test(tc, test_csv_quoting);
	tcase_add_test(tc, test_csv_quote_custom);
	tcase_add_test(tc, test_json_escapes);
	tcase_add_test(tc, test_json_string_roundtrip);
	tcase_add_test(tc, test_numbers);
	tcase_add_test(tc, test_csv_field_roundtrip);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(format_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
