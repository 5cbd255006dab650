/*
 * test_csvin.c - unit tests of lib/csvin.c: CSV rows of a source, pushed in
 * pieces of any size.
 *
 * Every parse is turned into one text, a transcript: a line per row with
 * the row's line number, its typed values and its fields, and at the end
 * either "end" or the error as feat_error_format() prints it. Tables pin
 * the transcripts of small inputs; the split tests then require the same
 * transcript whatever pieces the bytes arrive in (every two-way split, one
 * byte at a time, random pieces), since a live pipe and a file must give
 * the same rows and the same errors.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "csvin.h"
#include "error.h"
#include "plan.h"
#include "value.h"

#define require(cond) do { \
	if (!(cond)) \
		ck_abort_msg("%s", #cond); \
} while (0)

static uint64_t rng_state = 0xc5c5c5c5a1a1a1a1u;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* A source: columns "name:type" separated by spaces. */
struct src {
	struct feat_source s;
	struct feat_column cols[16];
	char names[16][32];
};

static void make_src(struct src *x, const char *spec, int header, char delim,
		     char quote, const char *null_text)
{
	const char *p = spec;

	memset(x, 0, sizeof(*x));
	x->s.name = (char *)"src";
	x->s.fmt.header = header;
	x->s.fmt.delim = delim;
	x->s.fmt.quote = quote;
	x->s.fmt.null_text = (char *)null_text;
	x->s.cols = x->cols;
	while (*p) {
		struct feat_column *c = &x->cols[x->s.ncols];
		char type[32];
		int used = 0;

		ck_assert_int_eq(sscanf(p, "%31[^:]:%31s%n", x->names[x->s.ncols],
					type, &used), 2);
		c->name = x->names[x->s.ncols];
		if (!strcmp(type, "int"))
			c->type = FEAT_INT;
		else if (!strcmp(type, "double"))
			c->type = FEAT_DOUBLE;
		else if (!strcmp(type, "string"))
			c->type = FEAT_STRING;
		else if (!strcmp(type, "bool"))
			c->type = FEAT_BOOL;
		else {
			c->type = FEAT_TIMESTAMP;
			c->unit = !strcmp(type, "timestamp_s") ? FEAT_TS_S
				: !strcmp(type, "timestamp_us") ? FEAT_TS_US
				: !strcmp(type, "timestamp_ns") ? FEAT_TS_NS
				: !strcmp(type, "timestamp") ? FEAT_TS_ISO
				: FEAT_TS_MS;
			x->s.time_col = x->s.ncols;
		}
		x->s.ncols++;
		p += used;
		while (*p == ' ')
			p++;
	}
}

/* Appends bytes with line breaks, CRs and NULs visible. */
static void add_visible(struct feat_buf *b, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\n')
			feat_buf_adds(b, "\\n");
		else if (s[i] == '\r')
			feat_buf_adds(b, "\\r");
		else if (s[i] == '\0')
			feat_buf_adds(b, "\\0");
		else
			feat_buf_addc(b, s[i]);
	}
}

struct transcript {
	struct feat_buf b;
	size_t ncols;
	int stop_at;		/* the callback fails on this row (1-based) */
	int rows;
};

static int on_row(void *ctx, const struct feat_csv_row *row,
		  struct feat_error *err)
{
	struct transcript *t = ctx;
	size_t i;

	t->rows++;
	feat_buf_addf(&t->b, "%ld:", row->line);
	/* The values, in the source's column order. */
	for (i = 0; i < t->ncols; i++) {
		const struct feat_value *v = &row->vals[i];

		feat_buf_addc(&t->b, ' ');
		switch (v->type) {
		case FEAT_NULL:
			feat_buf_adds(&t->b, "null");
			break;
		case FEAT_BOOL:
			feat_buf_adds(&t->b, v->u.i ? "true" : "false");
			break;
		case FEAT_INT:
			feat_buf_addf(&t->b, "i%lld", (long long)v->u.i);
			break;
		case FEAT_TIMESTAMP:
			feat_buf_addf(&t->b, "t%lld", (long long)v->u.i);
			break;
		case FEAT_DOUBLE:
			feat_buf_addf(&t->b, "d%.17g", v->u.d);
			break;
		case FEAT_STRING:
			feat_buf_addc(&t->b, '\'');
			add_visible(&t->b, v->u.s.ptr, v->u.s.len);
			feat_buf_addc(&t->b, '\'');
			break;
		default:
			feat_buf_addf(&t->b, "type%d", (int)v->type);
			break;
		}
	}
	/* The raw fields, which a row always has as many of as the file. */
	feat_buf_adds(&t->b, " |");
	for (i = 0; i < row->nfields; i++) {
		feat_buf_addc(&t->b, i ? ',' : ' ');
		require(row->fields[i][row->field_lens[i]] == '\0');
		add_visible(&t->b, row->fields[i], row->field_lens[i]);
	}
	feat_buf_addc(&t->b, '\n');
	if (t->rows == t->stop_at)
		return feat_error_set(err, "cb", 0, 0, "stop at row %d", t->rows);
	return 0;
}

/*
 * Parses data fed in the pieces given by cuts (ncuts increasing offsets),
 * or one byte at a time when ncuts is (size_t)-1. Returns the transcript,
 * which the caller frees.
 */
static char *parse_pieces(const struct feat_source *s, const char *data,
			  size_t n, const size_t *cuts, size_t ncuts)
{
	struct transcript t = { FEAT_BUF_INIT, s->ncols, 0, 0 };
	struct feat_error err;
	struct feat_csv *r = feat_csv_new(s, "f.csv", on_row, &t);
	size_t at = 0, k = 0;
	int rc = 0;

	ck_assert_ptr_nonnull(r);
	feat_error_clear(&err);
	while (at < n && rc == 0) {
		size_t next = ncuts == (size_t)-1 ? at + 1 : k < ncuts ? cuts[k++] : n;

		rc = feat_csv_feed(r, data + at, next - at, &err);
		at = next;
	}
	if (rc == 0)
		rc = feat_csv_finish(r, &err);
	if (rc == 0) {
		feat_buf_adds(&t.b, "end");
	} else {
		char msg[2048];

		feat_error_format(&err, msg, sizeof(msg));
		feat_buf_adds(&t.b, "error ");
		feat_buf_adds(&t.b, msg);
	}
	feat_csv_free(r);
	return t.b.ptr;
}

static char *parse_all(const struct feat_source *s, const char *data, size_t n)
{
	return parse_pieces(s, data, n, NULL, 0);
}

/*
 * Requires the same transcript for every two-way split, one byte at a time
 * and a few random splits; returns the whole-input transcript.
 */
static char *parse_every_way(const struct feat_source *s, const char *data,
			     size_t n)
{
	char *whole = parse_all(s, data, n), *t;
	size_t k, i;

	for (k = 0; k <= n; k++) {
		t = parse_pieces(s, data, n, &k, 1);
		if (strcmp(t, whole))
			ck_abort_msg("split at %zu of '%s':\n%s\nwhole:\n%s", k, data, t, whole);
		free(t);
	}
	t = parse_pieces(s, data, n, NULL, (size_t)-1);
	if (strcmp(t, whole))
		ck_abort_msg("byte at a time of '%s':\n%s\nwhole:\n%s", data, t, whole);
	free(t);
	for (i = 0; i < 20; i++) {
		size_t cuts[8], nc = 0, at = 0;

		while (nc < 8 && at < n) {
			at += 1 + rnd() % (n / 3 + 1);
			if (at < n)
				cuts[nc++] = at;
		}
		t = parse_pieces(s, data, n, cuts, nc);
		if (strcmp(t, whole))
			ck_abort_msg("random split of '%s':\n%s\nwhole:\n%s", data, t, whole);
		free(t);
	}
	return whole;
}

static void expect(const struct feat_source *s, const char *data,
		   const char *want)
{
	char *got = parse_every_way(s, data, strlen(data));

	ck_assert_msg(!strcmp(got, want), "input:\n%s\ngot:\n%s\nwant:\n%s", data, got, want);
	free(got);
}

static const char *const SPEC = "name:string n:int d:double t:timestamp_ms b:bool";

START_TEST(test_rows_and_values)
{
	struct src x;

	make_src(&x, SPEC, 1, ',', '"', "");
	expect(&x.s,
	       "name,n,d,t,b\n"
	       "alice,1,2.5,1000,true\n"
	       "bob,-7,1e3,-2000,false\n"
	       "\"c,d\",9223372036854775807,-0.125,0,TRUE\n"
	       "\"say \"\"hi\"\"\",-9223372036854775808,5e-324,1,0\n",
	       "2: 'alice' i1 d2.5 t1000 true | alice,1,2.5,1000,true\n"
	       "3: 'bob' i-7 d1000 t-2000 false | bob,-7,1e3,-2000,false\n"
	       "4: 'c,d' i9223372036854775807 d-0.125 t0 true | c,d,9223372036854775807,-0.125,0,TRUE\n"
	       "5: 'say \"hi\"' i-9223372036854775808 d4.9406564584124654e-324 t1 false | say \"hi\",-9223372036854775808,5e-324,1,0\n"
	       "end");
	/* Spaces are data, not padding. */
	expect(&x.s,
	       "name,n,d,t,b\n"
	       " a ,1,2,3,true\n",
	       "2: ' a ' i1 d2 t3 true |  a ,1,2,3,true\n"
	       "end");
}
END_TEST

/* The header may order the columns freely and hold columns not declared. */
START_TEST(test_header_order)
{
	struct src x;

	make_src(&x, SPEC, 1, ',', '"', "");
	expect(&x.s,
	       "b,extra,t,d,n,name\n"
	       "true,zz,5,1.5,2,eve\n",
	       "2: 'eve' i2 d1.5 t5 true | true,zz,5,1.5,2,eve\n"
	       "end");
}
END_TEST

START_TEST(test_header_only_and_empty)
{
	struct src x;

	make_src(&x, SPEC, 1, ',', '"', "");
	expect(&x.s, "name,n,d,t,b\n", "end");
	expect(&x.s, "name,n,d,t,b", "end");
	expect(&x.s, "", "error f.csv: no header row (the source declares \"header\": true)");
	expect(&x.s, "\n\n", "error f.csv: no header row (the source declares \"header\": true)");
}
END_TEST

START_TEST(test_line_numbers)
{
	struct src x;

	make_src(&x, "a:string b:int", 1, ',', '"', "");
	/* CRLF line ends. */
	expect(&x.s, "a,b\r\nx,1\r\ny,2\r\n",
	       "2: 'x' i1 | x,1\n3: 'y' i2 | y,2\nend");
	/* Blank lines count. */
	expect(&x.s, "\na,b\n\nx,1\n\n\ny,2\n\n",
	       "4: 'x' i1 | x,1\n7: 'y' i2 | y,2\nend");
	/* A quoted field spanning lines: the row's first line. */
	expect(&x.s, "a,b\n\"two\nlines\",1\n\"three\n\nlines\",2\nz,3\n",
	       "2: 'two\\nlines' i1 | two\\nlines,1\n"
	       "4: 'three\\n\\nlines' i2 | three\\n\\nlines,2\n"
	       "7: 'z' i3 | z,3\nend");
	/* A CRLF inside a quoted field is one line break. */
	expect(&x.s, "a,b\r\n\"p\r\nq\",1\r\nz,2\r\n",
	       "2: 'p\\r\\nq' i1 | p\\r\\nq,1\n4: 'z' i2 | z,2\nend");
	/* No final line break. */
	expect(&x.s, "a,b\nx,1\ny,2",
	       "2: 'x' i1 | x,1\n3: 'y' i2 | y,2\nend");
	expect(&x.s, "a,b\r\nx,1\r\n\"y\ny\",2",
	       "2: 'x' i1 | x,1\n3: 'y\\ny' i2 | y\\ny,2\nend");
	/* Errors give the line too, after all of the above. */
	expect(&x.s, "a,b\r\n\"p\nq\",1\r\n\nz,oops\r\n",
	       "2: 'p\\nq' i1 | p\\nq,1\n"
	       "error f.csv:5:2: cannot parse 'oops' as int (column 'b')");
}
END_TEST

/*
 * Line numbers of CRLF files with blank lines: a blank line written
 * "\r\n" is one line (the '\r' of a line break outside a record must not
 * leave its '\n' to be counted again), so later line numbers stay right.
 */
START_TEST(test_line_numbers_crlf_blank)
{
	struct src x;

	make_src(&x, "a:string b:int", 1, ',', '"', "");
	expect(&x.s, "a,b\r\n\r\nx,1\r\n",
	       "3: 'x' i1 | x,1\nend");
	expect(&x.s, "\r\na,b\r\nx,1\r\n\r\n\r\ny,oops\r\n",
	       "3: 'x' i1 | x,1\n"
	       "error f.csv:6:2: cannot parse 'oops' as int (column 'b')");
}
END_TEST

START_TEST(test_nulls)
{
	struct src x;

	/* The default spelling of null is the empty field, for every type. */
	make_src(&x, SPEC, 1, ',', '"', "");
	expect(&x.s, "name,n,d,t,b\n,,,,\n\"\",1,2,3,true\n",
	       "2: null null null null null | ,,,,\n"
	       "3: null i1 d2 t3 true | ,1,2,3,true\n"
	       "end");
	/* Another spelling: then the empty string is a string... */
	make_src(&x, SPEC, 1, ',', '"', "NA");
	expect(&x.s, "name,n,d,t,b\nNA,NA,NA,NA,NA\n\"\",1,2,3,true\n\"NA\",1,2,3,true\n",
	       "2: null null null null null | NA,NA,NA,NA,NA\n"
	       "3: '' i1 d2 t3 true | ,1,2,3,true\n"
	       "4: null i1 d2 t3 true | NA,1,2,3,true\n"
	       "end");
	/* ... and an empty number is an error; "na" is not "NA". */
	expect(&x.s, "name,n,d,t,b\nx,,2,3,true\n",
	       "error f.csv:2:2: cannot parse '' as int (column 'n')");
	expect(&x.s, "name,n,d,t,b\nx,na,2,3,true\n",
	       "error f.csv:2:2: cannot parse 'na' as int (column 'n')");
}
END_TEST

/* NaN and infinities (also from overflow) are null, as DESIGN.md §3 says. */
START_TEST(test_non_finite_is_null)
{
	struct src x;

	make_src(&x, "d:double t:timestamp_ms", 1, ',', '"', "");
	expect(&x.s, "d,t\nnan,1\nNaN,2\ninf,3\n-inf,4\nInfinity,5\n1e999,6\n-1e999,7\n1e-999,8\n",
	       "2: null t1 | nan,1\n"
	       "3: null t2 | NaN,2\n"
	       "4: null t3 | inf,3\n"
	       "5: null t4 | -inf,4\n"
	       "6: null t5 | Infinity,5\n"
	       "7: null t6 | 1e999,6\n"
	       "8: null t7 | -1e999,7\n"
	       "9: d0 t8 | 1e-999,8\n"
	       "end");
}
END_TEST

START_TEST(test_timestamp_units)
{
	struct src x;

	make_src(&x, "a:timestamp_s b:timestamp_us c:timestamp_ns d:timestamp", 1,
		 ',', '"', "");
	expect(&x.s, "a,b,c,d\n"
	       "1,1999,1999999,2026-01-01T00:00:00Z\n"
	       "-1,-1,-1,1970-01-01T00:00:00.123+01:00\n",
	       "2: t1000 t1 t1 t1767225600000 | 1,1999,1999999,2026-01-01T00:00:00Z\n"
	       "3: t-1000 t-1 t-1 t-3599877 | -1,-1,-1,1970-01-01T00:00:00.123+01:00\n"
	       "end");
	expect(&x.s, "a,b,c,d\n1,2,3,2026-13-01T00:00:00Z\n",
	       "error f.csv:2:4: cannot parse '2026-13-01T00:00:00Z' as timestamp (column 'd')");
	expect(&x.s, "a,b,c,d\n1.5,2,3,2026-01-01\n",
	       "error f.csv:2:1: cannot parse '1.5' as timestamp_s (column 'a')");
}
END_TEST

START_TEST(test_errors)
{
	struct src x;

	make_src(&x, SPEC, 1, ',', '"', "");
	/* Too few fields: the message counts them. */
	expect(&x.s, "name,n,d,t,b\nalice,1,2.5,1000,true\nbob,2,3\n",
	       "2: 'alice' i1 d2.5 t1000 true | alice,1,2.5,1000,true\n"
	       "error f.csv:3:3: expected 5 fields, found 3");
	/* Too many: the column is the first field too many. */
	expect(&x.s, "name,n,d,t,b\nbob,2,3,4,true,extra\n",
	       "error f.csv:2:6: expected 5 fields, found 6");
	/* In a last row without a line break. */
	expect(&x.s, "name,n,d,t,b\nbob,2",
	       "error f.csv:2:2: expected 5 fields, found 2");
	expect(&x.s, "name,n,d,t,b\nalice,x1,2.5,1000,true\n",
	       "error f.csv:2:2: cannot parse 'x1' as int (column 'n')");
	expect(&x.s, "name,n,d,t,b\nalice,99999999999999999999,2.5,1000,true\n",
	       "error f.csv:2:2: cannot parse '99999999999999999999' as int (column 'n')");
	expect(&x.s, "name,n,d,t,b\nalice,1,2.5.1,1000,true\n",
	       "error f.csv:2:3: cannot parse '2.5.1' as double (column 'd')");
	expect(&x.s, "name,n,d,t,b\nalice,1,0x10,1000,true\n",
	       "error f.csv:2:3: cannot parse '0x10' as double (column 'd')");
	expect(&x.s, "name,n,d,t,b\nalice,1,2.5,abc,true\n",
	       "error f.csv:2:4: cannot parse 'abc' as timestamp_ms (column 't')");
	expect(&x.s, "name,n,d,t,b\nalice,1,2.5,1000,yes\n",
	       "error f.csv:2:5: cannot parse 'yes' as bool (column 'b')");
	/* The column counts fields of the file, whatever the header order. */
	expect(&x.s, "b,t,d,n,name\ntrue,1,2,three,x\n",
	       "error f.csv:2:4: cannot parse 'three' as int (column 'n')");
	/* Long text is cut in the message. */
	expect(&x.s, "name,n,d,t,b\nx,1234567890123456789012345678901234567890123456789012345678901234567890,2,3,true\n",
	       "error f.csv:2:2: cannot parse '123456789012345678901234567890123456789012345678901234567890' as int (column 'n')");
	/* The header. */
	expect(&x.s, "name,n,d,t\nalice,1,2.5,1000\n",
	       "error f.csv:1: missing column 'b'");
	expect(&x.s, "\n\nname,n,t,b\n",
	       "error f.csv:3: missing column 'd'");
	expect(&x.s, "name,n,d,t,b,n\n",
	       "error f.csv:1:6: column 'n' appears twice in the header");
	/* Quotes. */
	expect(&x.s, "name,n,d,t,b\nalice,1,2.5,1000,\"true\n",
	       "error f.csv:2:5: malformed CSV: unterminated quoted field at end of input");
	expect(&x.s, "name,n,d,t,b\n\"ali\nce,1,2.5,1000,true\n",
	       "error f.csv:2:1: malformed CSV: unterminated quoted field at end of input");
	expect(&x.s, "name,n,d,t,b\nal\"ice,1,2.5,1000,true\n",
	       "error f.csv:2:1: malformed CSV: error parsing data while strict checking enabled (a quote inside an unquoted field, or text after a closing quote)");
	expect(&x.s, "name,n,d,t,b\nx,1,2,3,true\n\"al\"ice,1,2.5,1000,true\n",
	       "2: 'x' i1 d2 t3 true | x,1,2,3,true\n"
	       "error f.csv:3:1: malformed CSV: error parsing data while strict checking enabled (a quote inside an unquoted field, or text after a closing quote)");
	expect(&x.s, "name,n,d,t,b\nx,1,2,3,tr\"ue\n",
	       "error f.csv:2:5: malformed CSV: error parsing data while strict checking enabled (a quote inside an unquoted field, or text after a closing quote)");
}
END_TEST

/* The callback stops the parse with its own error, and nothing follows. */
START_TEST(test_callback_error)
{
	struct src x;
	struct transcript t = { FEAT_BUF_INIT, 2, 2, 0 };
	struct feat_error err;
	struct feat_csv *r;
	static const char data[] = "a,b\nx,1\ny,2\nz,3\n";

	make_src(&x, "a:string b:int", 1, ',', '"', "");
	r = feat_csv_new(&x.s, "f.csv", on_row, &t);
	ck_assert_ptr_nonnull(r);
	feat_error_clear(&err);
	ck_assert_int_eq(feat_csv_feed(r, data, sizeof(data) - 1, &err), -1);
	ck_assert_str_eq(err.msg, "stop at row 2");
	ck_assert_int_eq(t.rows, 2);
	/* The reader stays failed. */
	ck_assert_int_eq(feat_csv_feed(r, "w,4\n", 4, &err), -1);
	ck_assert_int_eq(feat_csv_finish(r, &err), -1);
	ck_assert_int_eq(t.rows, 2);
	feat_csv_free(r);
	feat_buf_release(&t.b);
	feat_csv_free(NULL);
}
END_TEST

START_TEST(test_headerless)
{
	struct src x;
	struct feat_csv *r;
	struct transcript t = { FEAT_BUF_INIT, 3, 0, 0 };
	struct feat_error err;
	const char *const *names;

	/* The declared order is the file's order. */
	make_src(&x, "user:string ts:timestamp_ms score:double", 0, ',', '"', "");
	expect(&x.s, "u1,5,0.5\nu2,6,\n",
	       "1: 'u1' t5 d0.5 | u1,5,0.5\n2: 'u2' t6 null | u2,6,\nend");
	/* A first row that looks like a header is data, and fails as such. */
	expect(&x.s, "user,ts,score\n",
	       "error f.csv:1:2: cannot parse 'ts' as timestamp_ms (column 'ts')");
	expect(&x.s, "u1,5\n", "error f.csv:1:2: expected 3 fields, found 2");
	expect(&x.s, "", "end");
	/* The header names are the declared columns, known at once. */
	r = feat_csv_new(&x.s, "f.csv", on_row, &t);
	ck_assert_ptr_nonnull(r);
	feat_error_clear(&err);
	ck_assert_int_eq(feat_csv_feed(r, "u1,5,0.5\n", 9, &err), 0);
	ck_assert_uint_eq(feat_csv_header(r, &names), 3);
	ck_assert_str_eq(names[0], "user");
	ck_assert_str_eq(names[2], "score");
	ck_assert_int_eq(feat_csv_finish(r, &err), 0);
	feat_csv_free(r);
	feat_buf_release(&t.b);
}
END_TEST

START_TEST(test_header_names)
{
	struct src x;
	struct feat_csv *r;
	struct transcript t = { FEAT_BUF_INIT, 2, 0, 0 };
	struct feat_error err;
	const char *const *names;
	static const char data[] = "b,x,a\ntrue,1,2\n";

	make_src(&x, "a:timestamp_ms b:bool", 1, ',', '"', "");
	r = feat_csv_new(&x.s, "f.csv", on_row, &t);
	ck_assert_ptr_nonnull(r);
	feat_error_clear(&err);
	ck_assert_int_eq(feat_csv_feed(r, data, sizeof(data) - 1, &err), 0);
	ck_assert_int_eq(feat_csv_finish(r, &err), 0);
	ck_assert_uint_eq(feat_csv_header(r, &names), 3);
	ck_assert_str_eq(names[0], "b");
	ck_assert_str_eq(names[1], "x");
	ck_assert_str_eq(names[2], "a");
	ck_assert_str_eq(t.b.ptr, "2: t2 true | true,1,2\n");
	feat_csv_free(r);
	feat_buf_release(&t.b);
}
END_TEST

START_TEST(test_custom_delimiter)
{
	struct src x;

	make_src(&x, "a:string b:double t:timestamp_ms", 1, ';', '\'', "");
	expect(&x.s, "a;b;t\n'x;y';1,5;1\nplain,comma;2;2\n'it''s';3;3\n\"q\";4;4\n",
	       "error f.csv:2:2: cannot parse '1,5' as double (column 'b')");
	expect(&x.s, "a;b;t\n'x;y';1.5;1\nplain,comma;2;2\n'it''s';3;3\n\"q\";4;4\n",
	       "2: 'x;y' d1.5 t1 | x;y,1.5,1\n"
	       "3: 'plain,comma' d2 t2 | plain,comma,2,2\n"
	       "4: 'it's' d3 t3 | it's,3,3\n"
	       "5: '\"q\"' d4 t4 | \"q\",4,4\n"
	       "end");
	make_src(&x, "a:string t:timestamp_ms", 0, '\t', '"', "\\N");
	expect(&x.s, "a b\t1\n\\N\t2\n\"t\tab\"\t3\n",
	       "1: 'a b' t1 | a b,1\n2: null t2 | \\N,2\n3: 't\tab' t3 | t\tab,3\nend");
}
END_TEST

/*
 * A long input with everything in it: CRLF and LF line ends, blank lines
 * (written "\r\n" too when crlf_blanks), quoted fields with line breaks.
 */
static void long_input(struct feat_buf *in, int crlf_blanks)
{
	int i;

	feat_buf_adds(in, "b,name,t,n,d\r\n");
	for (i = 0; i < 60; i++) {
		switch (rnd() % 6) {
		case 0:
			feat_buf_adds(in, crlf_blanks ? "\r\n" : "\n");
			break;
		case 1:
			feat_buf_adds(in, "\n");
			break;
		default:
			break;
		}
		feat_buf_addf(in, "%s,", rnd() & 1 ? "true" : "NULL");
		switch (rnd() % 4) {
		case 0:
			feat_buf_addf(in, "\"q,%d\r\nx\"\"y\",", i);
			break;
		case 1:
			feat_buf_adds(in, "\"\",");
			break;
		case 2:
			feat_buf_adds(in, "NULL,");
			break;
		default:
			feat_buf_addf(in, "n%d,", i);
		}
		feat_buf_addf(in, "%d,%lld,%g", i * 1000,
			      (long long)(rnd() % 2000001) - 1000000,
			      (double)(int64_t)(rnd() % 20001 - 10000) / 64);
		feat_buf_adds(in, i % 2 ? "\r\n" : "\n");
	}
	feat_buf_adds(in, "true,last,1,2,3");
}

/* The line number of the last row of a transcript. */
static long last_row_line(const char *t)
{
	const char *last = strrchr(t, '\n');

	while (last > t && last[-1] != '\n')
		last--;
	return strtol(last, NULL, 10);
}

static long count_lines(const struct feat_buf *in)
{
	long lines = 1;
	size_t k;

	for (k = 0; k < in->len; k++)
		lines += in->ptr[k] == '\n';
	return lines;
}

START_TEST(test_splits_long)
{
	struct src x;
	struct feat_buf in = FEAT_BUF_INIT;
	char *t;
	int crlf;

	make_src(&x, SPEC, 1, ',', '"', "NULL");
	for (crlf = 0; crlf < 2; crlf++) {
		feat_buf_reset(&in);
		long_input(&in, crlf);
		t = parse_every_way(&x.s, in.ptr, in.len);
		ck_assert_ptr_nonnull(strstr(t, "\nend"));
		/* The last row is on the last line (see the CRLF bug below). */
		if (!crlf)
			ck_assert_int_eq(last_row_line(t), count_lines(&in));
		free(t);
	}
	feat_buf_release(&in);
}
END_TEST

/* As test_line_numbers_crlf_blank, on a long input. */
START_TEST(test_lines_long_crlf_blank)
{
	struct src x;
	struct feat_buf in = FEAT_BUF_INIT;
	char *t;

	make_src(&x, SPEC, 1, ',', '"', "NULL");
	long_input(&in, 1);
	t = parse_all(&x.s, in.ptr, in.len);
	ck_assert_int_eq(last_row_line(t), count_lines(&in));
	free(t);
	feat_buf_release(&in);
}
END_TEST

/*
 * Random inputs, mostly well-formed rows with now and then a quoted field
 * (with a delimiter, a '\r', a line break or a doubled quote in it, or text
 * after it), a quote or '\r' in a plain field, a NUL, a blank line, a wrong
 * field count or a bad number. The reader splits plain lines and simply
 * quoted ones itself when a whole line is at hand and leaves the rest to
 * libcsv, so parse_every_way() compares the two: fed whole, most rows take
 * the fast path; fed a byte at a time, none can.
 */
static void random_input(struct feat_buf *in, char delim, char quote)
{
	static const char *const plain[] = {
		"", "1", "-2", "1.5", "x", "NA", "1e3", "abc", " 7 ", "nan",
		"9223372036854775807", "99999999999999999999", "0.1", "true",
		"1700000000123", "-17000000001234", "12345678", "123456789",
	};
	int rows = 1 + (int)(rnd() % 6), i, k;

	feat_buf_addf(in, "s%cn%cd%ct", delim, delim, delim);
	feat_buf_adds(in, rnd() % 4 ? "\n" : "\r\n");
	for (i = 0; i < rows; i++) {
		int nf = rnd() % 8 ? 4 : 1 + (int)(rnd() % 6);

		if (rnd() % 8 == 0)
			feat_buf_adds(in, rnd() & 1 ? "\n" : "\r\n");
		for (k = 0; k < nf; k++) {
			if (k)
				feat_buf_addc(in, delim);
			switch (rnd() % 20) {
			case 0:
				feat_buf_addf(in, "%cq%c%cx%c", quote, delim, quote, quote);
				break;
			case 1:
				feat_buf_addf(in, "%c%s%c", quote, rnd() & 1 ? "a\nb" : "a\r\nb", quote);
				break;
			case 2:
				feat_buf_addf(in, "a%cb", quote);
				break;
			case 3:
				feat_buf_add(in, "n\0l", 3);
				break;
			case 4:
				feat_buf_adds(in, "a\rb");
				break;
			case 5:
			case 6:
				feat_buf_addf(in, "%c%s%c", quote,
					      plain[rnd() % (sizeof(plain) / sizeof(plain[0]))], quote);
				break;
			case 7:
				feat_buf_addf(in, "%cx%cy%c%s", quote, delim, quote,
					      rnd() % 4 ? "" : " ");
				break;
			case 8:
				feat_buf_addf(in, "%c%c%s", quote, quote, rnd() % 4 ? "" : "z");
				break;
			case 9:
				feat_buf_addf(in, "%ca\rb%c", quote, quote);
				break;
			default:
				feat_buf_adds(in, plain[rnd() % (sizeof(plain) / sizeof(plain[0]))]);
				break;
			}
		}
		switch (rnd() % 6) {
		case 0:
			feat_buf_adds(in, "\r\n");
			break;
		case 1:
			if (i == rows - 1)
				break;
			/* fall through */
		default:
			feat_buf_adds(in, "\n");
			break;
		}
	}
	/* Some inputs with a few random bytes flipped to special ones. */
	if (rnd() % 4 == 0 && in->len) {
		static const char special[] = { '\n', '\r', '\0', 'x' };

		for (k = 0; k < 2; k++) {
			size_t at = rnd() % in->len;
			int c = (int)(rnd() % 6);

			in->ptr[at] = c == 4 ? delim : c == 5 ? quote : special[c];
		}
	}
}

START_TEST(test_fast_path_random)
{
	static const char delims[][2] = { { ',', '"' }, { ';', '\'' }, { '\t', '"' },
					  { ',', '\0' }, { '\0', '"' } };
	struct feat_buf in = FEAT_BUF_INIT;
	struct src x;
	size_t d;
	int i;

	for (d = 0; d < sizeof(delims) / sizeof(delims[0]); d++) {
		make_src(&x, "s:string n:int d:double t:timestamp_ms", 1,
			 delims[d][0], delims[d][1], d == 1 ? "NA" : "");
		for (i = 0; i < 300; i++) {
			feat_buf_reset(&in);
			random_input(&in, delims[d][0], delims[d][1]);
			free(parse_every_way(&x.s, in.ptr, in.len));
		}
		/* Other types: the fast path leaves them to convert(). */
		make_src(&x, "s:bool n:timestamp_s d:int t:timestamp_us", 1,
			 delims[d][0], delims[d][1], "");
		for (i = 0; i < 100; i++) {
			feat_buf_reset(&in);
			random_input(&in, delims[d][0], delims[d][1]);
			free(parse_every_way(&x.s, in.ptr, in.len));
		}
		/* Headerless: the fast path starts at the first byte. */
		make_src(&x, "s:string n:int d:double t:timestamp_ms", 0,
			 delims[d][0], delims[d][1], "");
		for (i = 0; i < 100; i++) {
			feat_buf_reset(&in);
			random_input(&in, delims[d][0], delims[d][1]);
			free(parse_every_way(&x.s, in.ptr, in.len));
		}
	}
	feat_buf_release(&in);
}
END_TEST

static Suite *csvin_suite(void)
{
	Suite *s = suite_create("csvin");
	TCase *tc = tcase_create("rows");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_rows_and_values);
	tcase_add_test(tc, test_header_order);
	tcase_add_test(tc, test_header_only_and_empty);
	tcase_add_test(tc, test_line_numbers);
	tcase_add_test(tc, test_line_numbers_crlf_blank);
	tcase_add_test(tc, test_nulls);
	tcase_add_test(tc, test_non_finite_is_null);
	tcase_add_test(tc, test_timestamp_units);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_callback_error);
	tcase_add_test(tc, test_headerless);
	tcase_add_test(tc, test_header_names);
	tcase_add_test(tc, test_custom_delimiter);
	tcase_add_test(tc, test_splits_long);
	tcase_add_test(tc, test_lines_long_crlf_blank);
	tcase_add_test(tc, test_fast_path_random);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(csvin_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
