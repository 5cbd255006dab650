/*
 * expr.c - parsing, type-checking, compiling and running expressions.
 *
 * The file has four parts, in the order the text goes through them:
 *
 *   1. The lexer cuts the text into tokens. String literals are decoded into
 *      the expression's literal pool as they are read.
 *   2. The parser is a recursive descent over the grammar in expr.h. It
 *      builds an array of AST nodes, resolves column names and type-checks
 *      each node as it is made, so errors come out in reading order.
 *   3. The canonical printer writes the AST back as fully parenthesised text
 *      (kept in the compiled expression for feat_expr_canonical()).
 *   4. The code generator turns the AST into a flat program of typed
 *      instructions, and the virtual machine runs it once per row.
 *
 * The program works on registers: struct feat_value slots owned by the
 * expression, the first of which hold the constants. An instruction operand
 * is either a register or a column of the row, so reading a column costs
 * nothing. Each operand carries the type it must have; a value of any other
 * type (in practice: FEAT_NULL) is null. That one comparison is the whole of
 * null handling in the arithmetic, and it also makes a row value of the wrong
 * type read as null instead of being misread. The null literal gets a type no
 * value has (T_NEVER), so it is null wherever it is used.
 *
 * Everything that can be decided once is decided by the code generator:
 * int/double promotion (an I2D instruction, folded away for literals),
 * instructions whose operands are all constants (run at compile time, even
 * those that make strings), if() and case with constant conditions, and
 * whether "and"/"or"/"if"/coalesce() arguments are cheap enough to evaluate
 * all of them without jumps. "case" is a chain of conditional jumps;
 * concat() and "in" are n-ary instructions whose operands follow them in
 * OP_ARG instructions. Functions that make strings, and split(), which
 * makes a list, write them into scratch space owned by the expression, one
 * slot per instruction (struct slot). Element access (x[i], m['k']) makes
 * nothing: a string element points into its list.
 */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "error.h"
#include "expr.h"
#include "suggest.h"
#include "time.h"
#include "value.h"

/* The operand type of the null literal: no value ever has it. */
#define T_NEVER 255

/*
 * Deeper texts are refused, so that the recursive passes stay within a few
 * hundred KiB of stack. MAX_DEPTH bounds the tree; MAX_NEST bounds the
 * parser's recursion (parentheses, unary operators, calls). Canonical text
 * nests at most two levels per tree level ("(-(-x))"), so MAX_NEST must be
 * twice MAX_DEPTH for the canonical text of every accepted expression to be
 * accepted in turn.
 */
#define MAX_DEPTH 256
#define MAX_NEST (2 * MAX_DEPTH)

/* Branches needing at most this many instructions are evaluated eagerly. */
#define CHEAP_COST 2

/* Longest token quoted whole in an error message. */
#define MAX_QUOTE 40

/* ----------------------------------------------------------------------
 * The virtual machine.
 */

enum opcode {
	OP_END,
	OP_MOV,			/* dst = a */
	OP_I2D,			/* dst = (double)a, a int, timestamp or bool */
	OP_ADD_I, OP_SUB_I, OP_MUL_I, OP_DIV_I, OP_MOD_I, OP_NEG_I,
	OP_ADD_D, OP_SUB_D, OP_MUL_D, OP_DIV_D, OP_MOD_D, OP_NEG_D,
	OP_CMP_I,		/* ints, timestamps and bools */
	OP_CMP_D,
	OP_CMP_S,
	OP_EQ_S,		/* == and != on strings: no ordering needed */
	OP_ISNULL, OP_NOTNULL,
	OP_NOT, OP_AND, OP_OR,	/* three-valued */
	OP_SEL,			/* dst = c is true ? a : b */
	OP_JMP,			/* goto c */
	OP_JNT,			/* if a is not true, goto c */
	OP_JF_SET,		/* if a is false, dst = false and goto c */
	OP_JT_SET,		/* if a is true, dst = true and goto c */
	OP_JNN,			/* if a is not null, goto c */
	OP_COAL,		/* dst = a unless it is null, else b */
	/*
	 * The n-ary instructions take b operands from the OP_ARG instructions
	 * that follow them, three to an OP_ARG (a, then b, then c).
	 */
	OP_ARG,
	OP_IN_I, OP_IN_D, OP_IN_S,	/* dst = a in (...); mask IN_NOT */
	OP_CONCAT,		/* dst = the operands joined, in slot c */
	/* casts */
	OP_RETYPE,		/* dst = a's value as type rt */
	OP_D2I,			/* truncated toward zero, rt int or timestamp */
	OP_I2B,			/* a != 0 */
	OP_S2I, OP_S2D, OP_S2B, OP_S2T,
	OP_I2S, OP_D2S, OP_B2S, OP_T2S,	/* text in slot c (not B2S) */
	/* strings */
	OP_LOWER, OP_UPPER,	/* in slot c */
	OP_SUBSTR,		/* a from character b for c characters */
	OP_LENGTH,
	OP_CONTAINS, OP_STARTS, OP_ENDS,
	/* math */
	OP_ABS_I, OP_ABS_D,
	OP_LN, OP_EXP, OP_SQRT, OP_POW,
	OP_FLOOR, OP_CEIL, OP_ROUND,
	OP_ROUNDN_I, OP_ROUNDN_D,	/* a rounded to b decimal digits */
	/* time */
	OP_HOUR, OP_DOW,
	OP_DATE,		/* 'YYYY-MM-DD' in slot c */
	/* lists and maps */
	OP_INDEX_V,		/* element b of list<double> a, or null */
	OP_INDEX_L,		/* element b of list<string> a, or null */
	OP_MAP_GET,		/* the value of key b in map a, or null */
	OP_LIST_LEN,		/* the number of elements of a (ta: which) */
	OP_LIST_HAS,		/* whether list a holds b, or map a key b */
	OP_SPLIT,		/* a cut at each b, a list<string> in slot c */
	OP_COUNT
};

/* What each opcode uses of struct ins. */
#define U_A 1
#define U_B 2
#define U_C 4
#define U_DST 8
#define U_JMP 16		/* c is a jump target, not an operand */

#define U_1 (U_A | U_DST)
#define U_2 (U_A | U_B | U_DST)

static const uint8_t op_uses[OP_COUNT] = {
	[OP_END] = 0,
	[OP_MOV] = U_1,
	[OP_I2D] = U_1,
	[OP_ADD_I] = U_2,
	[OP_SUB_I] = U_2,
	[OP_MUL_I] = U_2,
	[OP_DIV_I] = U_2,
	[OP_MOD_I] = U_2,
	[OP_NEG_I] = U_1,
	[OP_ADD_D] = U_2,
	[OP_SUB_D] = U_2,
	[OP_MUL_D] = U_2,
	[OP_DIV_D] = U_2,
	[OP_MOD_D] = U_2,
	[OP_NEG_D] = U_1,
	[OP_CMP_I] = U_2,
	[OP_CMP_D] = U_2,
	[OP_CMP_S] = U_2,
	[OP_EQ_S] = U_2,
	[OP_ISNULL] = U_1,
	[OP_NOTNULL] = U_1,
	[OP_NOT] = U_1,
	[OP_AND] = U_2,
	[OP_OR] = U_2,
	[OP_SEL] = U_A | U_B | U_C | U_DST,
	[OP_JMP] = U_JMP,
	[OP_JNT] = U_A | U_JMP,
	[OP_JF_SET] = U_A | U_DST | U_JMP,
	[OP_JT_SET] = U_A | U_DST | U_JMP,
	[OP_JNN] = U_A | U_JMP,
	[OP_COAL] = U_2,
	[OP_ARG] = U_A | U_B | U_C,
	[OP_IN_I] = U_1,	/* b: how many operands follow */
	[OP_IN_D] = U_1,
	[OP_IN_S] = U_1,
	[OP_CONCAT] = U_DST,	/* b: how many operands follow; c: slot */
	[OP_RETYPE] = U_1,
	[OP_D2I] = U_1,
	[OP_I2B] = U_1,
	[OP_S2I] = U_1,
	[OP_S2D] = U_1,
	[OP_S2B] = U_1,
	[OP_S2T] = U_1,
	[OP_I2S] = U_1,		/* c: slot, as for the others below */
	[OP_D2S] = U_1,
	[OP_B2S] = U_1,
	[OP_T2S] = U_1,
	[OP_LOWER] = U_1,
	[OP_UPPER] = U_1,
	[OP_SUBSTR] = U_A | U_B | U_C | U_DST,
	[OP_LENGTH] = U_1,
	[OP_CONTAINS] = U_2,
	[OP_STARTS] = U_2,
	[OP_ENDS] = U_2,
	[OP_ABS_I] = U_1,
	[OP_ABS_D] = U_1,
	[OP_LN] = U_1,
	[OP_EXP] = U_1,
	[OP_SQRT] = U_1,
	[OP_POW] = U_2,
	[OP_FLOOR] = U_1,
	[OP_CEIL] = U_1,
	[OP_ROUND] = U_1,
	[OP_ROUNDN_I] = U_2,
	[OP_ROUNDN_D] = U_2,
	[OP_HOUR] = U_1,
	[OP_DOW] = U_1,
	[OP_DATE] = U_1,
	[OP_INDEX_V] = U_2,
	[OP_INDEX_L] = U_2,
	[OP_MAP_GET] = U_2,
	[OP_LIST_LEN] = U_1,
	[OP_LIST_HAS] = U_2,
	[OP_SPLIT] = U_2,	/* c: slot */
};

/*
 * Comparison masks: bit 0 is the result when a < b, bit 1 when a == b,
 * bit 2 when a > b. One instruction then serves all six operators.
 */
#define CMP_LT 1
#define CMP_EQ 2
#define CMP_LE 3
#define CMP_GT 4
#define CMP_NE 5
#define CMP_GE 6

/* The mask of OP_IN_*: "not in". */
#define IN_NOT 1

struct ins {
	uint8_t op;
	uint8_t bank;		/* run time: bit 0/1/2 set when a/b/c is a row
				 * column; compile time: 2 bits per operand */
	uint8_t ta, tb, tc;	/* the type each operand must have */
	uint8_t rt;		/* the type of the result */
	uint8_t mask;		/* comparisons: CMP_*; OP_IN_*: IN_NOT */
	uint32_t dst;
	uint32_t a, b, c;
};

/*
 * Scratch space for the strings an instruction makes (lower(), concat(),
 * string(), date(), and the lists of split()). Each such instruction has a
 * slot of its own: it runs at most once per evaluation and no other
 * instruction writes the slot, so growing it never moves a string that
 * another instruction made, and its string lives until the instruction
 * runs again, in the next evaluation.
 * Slots of fixed-size results are allocated by the compiler; the others
 * grow by doubling, so that after a few rows evaluation stops allocating.
 */
struct slot {
	char *ptr;		/* NULL until first needed */
	size_t cap;
};

struct feat_expr {
	struct ins *prog;	/* ends with OP_END */
	struct feat_value *regs;	/* constants, then temporaries */
	size_t nregs;
	struct slot *slots;
	size_t nslots;
	const struct feat_expr *of;	/* a clone's original: prog, pool
					 * and canon are its */
	char *pool;		/* string literal bytes */
	char *canon;		/* canonical text, NUL-terminated */
	size_t canon_len;
	enum feat_type type;
	uint8_t res_row;	/* the result is a row column, not a register */
	uint8_t res_type;	/* type the result operand must have */
	uint32_t res_idx;
};

#define OPND_A (((in->bank & 1) ? row : regs) + in->a)
#define OPND_B (((in->bank & 2) ? row : regs) + in->b)
#define OPND_C (((in->bank & 4) ? row : regs) + in->c)

static inline int64_t wrap_add(int64_t x, int64_t y)
{
	return (int64_t)((uint64_t)x + (uint64_t)y);
}

static inline int64_t wrap_sub(int64_t x, int64_t y)
{
	return (int64_t)((uint64_t)x - (uint64_t)y);
}

static inline int64_t wrap_mul(int64_t x, int64_t y)
{
	return (int64_t)((uint64_t)x * (uint64_t)y);
}

static inline int cmp3(int lt, int gt)
{
	return gt - lt + 1;	/* 0 for <, 1 for ==, 2 for > */
}

#define MS_PER_HOUR INT64_C(3600000)
#define MS_PER_DAY INT64_C(86400000)

static inline int64_t floor_div(int64_t x, int64_t y)
{
	int64_t q = x / y;

	return (x % y != 0 && (x < 0) != (y < 0)) ? q - 1 : q;
}

static inline int64_t floor_mod(int64_t x, int64_t y)
{
	int64_t r = x % y;

	return (r != 0 && (r < 0) != (y < 0)) ? r + y : r;
}

/*
 * Gives the slot at least n bytes, dropping what it held. Returns the
 * bytes, or NULL when out of memory (the instruction's result is then null).
 */
static char *__attribute__((noinline)) slot_grow(struct slot *s, size_t n)
{
	size_t cap = s->cap ? s->cap : 32;

	while (cap < n)
		cap = cap > SIZE_MAX / 2 ? n : cap * 2;
	free(s->ptr);
	s->ptr = malloc(cap);
	s->cap = s->ptr ? cap : 0;
	return s->ptr;
}

static inline char *slot_room(struct slot *s, size_t n)
{
	if (s->ptr && n <= s->cap)
		return s->ptr;
	return slot_grow(s, n);
}

static inline int is_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/*
 * The characters of s[0..n). A character starts at the first byte and at
 * every byte that is not a UTF-8 continuation byte, so that text which is
 * not UTF-8 still has a length and positions.
 */
static int64_t utf8_len(const char *s, size_t n)
{
	int64_t k = n > 0 && is_cont((unsigned char)s[0]);
	size_t i;

	for (i = 0; i < n; i++)
		k += !is_cont((unsigned char)s[i]);
	return k;
}

/* The byte offset after k >= 0 characters of s[0..n), or n. */
static size_t utf8_skip(const char *s, size_t n, int64_t k)
{
	size_t i = 0;

	while (k > 0 && i < n) {
		i++;
		while (i < n && is_cont((unsigned char)s[i]))
			i++;
		k--;
	}
	return i;
}

/* substr(s, start, len): the characters at 1-based positions [start, start + len). */
static void do_substr(const struct feat_value *s, int64_t start, int64_t len,
		      struct feat_value *d)
{
	const char *p = s->u.s.ptr;
	size_t n = s->u.s.len, from, to;
	int64_t first, end;

	if (len < 0) {
		d->type = FEAT_NULL;
		return;
	}
	end = start > INT64_MAX - len ? INT64_MAX : start + len;
	first = start < 1 ? 1 : start;
	if (end <= first) {
		from = to = 0;
	} else {
		from = utf8_skip(p, n, first - 1);
		to = from + utf8_skip(p + from, n - from, end - first);
	}
	d->u.s.ptr = p + from;
	d->u.s.len = to - from;
	d->type = FEAT_STRING;
}

/*
 * x rounded to nd decimal digits after the point (before it when nd < 0),
 * half away from zero. The rounding is done on the shortest decimal text of
 * x, the text output shows, so that round(2.675, 2) is 2.68 as it reads,
 * although the double nearest 2.675 is a little below it. Not finite when
 * the result overflows.
 */
static double round_digits(double x, int64_t nd)
{
	static const double p10[] = {
		1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
		1e12, 1e13, 1e14, 1e15,
	};
	char txt[FEAT_NUMBUF + 1], dig[FEAT_NUMBUF + 2], out[FEAT_NUMBUF + 48];
	size_t n, i, k = 0, j;
	long intlen = 0, pt, keep, q;
	int dot = 0, neg = 0;

	/*
	 * The quick way, when it gives the same: y = x * 10^nd is within a
	 * few units in the last place of the decimal text times 10^nd, so
	 * unless y's fraction is that close to one half, rounding y rounds
	 * the text the same way. The integer then divided by the exact
	 * power of ten is correctly rounded, as strtod() of the text is.
	 */
	if (nd >= 0 && nd < (int64_t)(sizeof(p10) / sizeof(p10[0]))) {
		double y = x * p10[nd], fl, frac;

		if (fabs(y) < 4503599627370496.0) {	/* 2^52 */
			fl = floor(y);
			frac = y - fl;
			if (fabs(frac - 0.5) > fabs(y) * 0x1p-48 + 0x1p-60)
				return (frac > 0.5 ? fl + 1 : fl) / p10[nd];
		}
	}

	n = feat_fmt_double(txt, x);
	txt[n] = '\0';
	i = 0;
	if (txt[0] == '-') {
		neg = 1;
		i++;
	}
	for (; i < n && txt[i] != 'e'; i++) {
		if (txt[i] == '.') {
			dot = 1;
			continue;
		}
		dig[k++] = txt[i];
		if (!dot)
			intlen++;
	}
	/* The value is 0.DIGITS times 10^pt. */
	pt = intlen + (i < n ? strtol(txt + i + 1, NULL, 10) : 0);
	for (j = 0; j < k && dig[j] == '0'; j++)
		pt--;
	if (j == k)
		return 0.0;
	if (nd > 400)
		nd = 400;
	if (nd < -400)
		nd = -400;
	keep = pt + (long)nd;
	if (keep >= (long)(k - j))
		return x;
	if (keep < 0)
		return 0.0;
	memmove(dig + 1, dig + j, k - j);	/* room for a carry */
	if (dig[1 + keep] >= '5') {
		for (q = keep; q >= 1 && dig[q] == '9'; q--)
			dig[q] = '0';
		if (q >= 1) {
			dig[q]++;
			q = 1;
		} else {
			dig[0] = '1';
			q = 0;
			keep++;
			pt++;
		}
	} else {
		if (keep == 0)
			return 0.0;
		q = 1;
	}
	snprintf(out, sizeof(out), "%s0.%.*se%ld", neg ? "-" : "", (int)keep,
		 dig + q, pt);
	return strtod(out, NULL);
}

/*
 * x rounded to nd decimal digits, half away from zero: only nd < 0 changes
 * an int. Returns 0, or -1 when the result does not fit in int64.
 */
static int round_int(int64_t x, int64_t nd, int64_t *out)
{
	uint64_t p = 1, ax, q, r, lim;
	int64_t k;

	if (nd >= 0) {
		*out = x;
		return 0;
	}
	if (nd < -19) {		/* 10^20 does not fit; |x| < 10^19 / 2 */
		*out = 0;
		return 0;
	}
	for (k = 0; k < -nd; k++)
		p *= 10;
	ax = x < 0 ? -(uint64_t)x : (uint64_t)x;
	lim = x < 0 ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	q = ax / p;
	r = ax % p;
	if (r >= p - r)
		q++;
	if (q > lim / p)
		return -1;
	q *= p;
	if (x >= 0)
		*out = (int64_t)q;
	else
		*out = q == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)q;
	return 0;
}

/* Writes the UTC date of ms as YYYY-MM-DD (at most 16 bytes), no NUL. */
static size_t fmt_date(char *buf, int64_t ms)
{
	static const char dd[] = "0001020304050607080910111213141516171819"
				 "2021222324252627282930313233343536373839"
				 "4041424344454647484950515253545556575859"
				 "6061626364656667686970717273747576777879"
				 "8081828384858687888990919293949596979899";
	int64_t y;
	uint64_t ay;
	unsigned m, d;
	char *p = buf;

	feat_civil_from_days(floor_div(ms, MS_PER_DAY), &y, &m, &d);
	if (y < 0)
		*p++ = '-';
	ay = y < 0 ? -(uint64_t)y : (uint64_t)y;
	if (ay < 10000) {
		memcpy(p, dd + 2 * (ay / 100), 2);
		memcpy(p + 2, dd + 2 * (ay % 100), 2);
		p += 4;
	} else {
		p += feat_fmt_int(p, (int64_t)ay);
	}
	*p++ = '-';
	memcpy(p, dd + 2 * m, 2);
	p[2] = '-';
	memcpy(p + 3, dd + 2 * d, 2);
	return (size_t)(p + 5 - buf);
}

/*
 * Where t[0..m) first occurs in s[0..n), 0 < m; NULL when it does not
 * (memmem is not in C11).
 */
static const char *find(const char *s, size_t n, const char *t, size_t m)
{
	const char *p = s, *last;

	if (m > n)
		return NULL;
	last = s + (n - m);
	while (p <= last) {
		p = memchr(p, t[0], (size_t)(last - p) + 1);
		if (!p)
			return NULL;
		if (memcmp(p, t, m) == 0)
			return p;
		p++;
	}
	return NULL;
}

static int str_eq(const struct feat_value *x, const struct feat_value *y)
{
	return x->u.s.len == y->u.s.len &&
	       (x->u.s.len == 0 ||
		memcmp(x->u.s.ptr, y->u.s.ptr, x->u.s.len) == 0);
}

/* -1, 0 or 1 as string x sorts before, with or after string y, bytewise. */
static int str_cmp(const struct feat_value *x, const struct feat_value *y)
{
	size_t n = x->u.s.len < y->u.s.len ? x->u.s.len : y->u.s.len;
	int c = n ? memcmp(x->u.s.ptr, y->u.s.ptr, n) : 0;

	if (c)
		return c < 0 ? -1 : 1;
	return x->u.s.len < y->u.s.len ? -1 : x->u.s.len > y->u.s.len;
}

/*
 * x[k] of a list (ta says which): the element, 0-based, or null when k is
 * out of range. A string element points into the list, so nothing is
 * copied.
 */
static void run_index(uint8_t ta, const struct feat_value *x, int64_t k,
		      struct feat_value *d)
{
	struct feat_value e;
	size_t off = 0;

	if (k >= 0 && ta == FEAT_VECTOR) {
		if ((uint64_t)k < x->u.s.len / 8) {
			d->u.d = feat_get_le_double(x->u.s.ptr + 8 * (size_t)k);
			d->type = FEAT_DOUBLE;
			return;
		}
	} else if (k >= 0) {
		while (feat_elem_next(x, &off, NULL, &e) > 0)
			if (k-- == 0) {
				*d = e;
				return;
			}
	}
	d->type = FEAT_NULL;
}

/*
 * The entry of map m whose key is k, in *val; returns 0 when there is
 * none. The keys are sorted, so the walk stops at the first greater one.
 */
static int map_find(const struct feat_value *m, const struct feat_value *k,
		    struct feat_value *val)
{
	struct feat_value key;
	size_t off = 0;
	int c;

	while (feat_elem_next(m, &off, &key, val) > 0) {
		c = str_cmp(&key, k);
		if (c == 0)
			return 1;
		if (c > 0)
			break;
	}
	return 0;
}

/* length(x) of a list or map: its number of elements. */
static int64_t elem_count(const struct feat_value *x)
{
	struct feat_value k, e;
	size_t off = 0;
	int64_t n = 0;

	if (x->type == FEAT_VECTOR)
		return (int64_t)(x->u.s.len / 8);
	while (feat_elem_next(x, &off, &k, &e) > 0)
		n++;
	return n;
}

/* contains(x, y) of a list or map: whether y is an element, or a key. */
static int elem_has(const struct feat_value *x, const struct feat_value *y)
{
	struct feat_value k, e;
	size_t off = 0;

	if (x->type == FEAT_MAP)
		return map_find(x, y, &e);
	while (feat_elem_next(x, &off, &k, &e) > 0)
		if (x->type == FEAT_VECTOR ? e.u.d == y->u.d : str_eq(&e, y))
			return 1;
	return 0;
}

/* Bytes of v as a varint. */
static size_t varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/*
 * split(x, sep): the pieces of x between the occurrences of sep, as a
 * list<string> in slot s, packed as value.h says. An empty x has no
 * pieces; an empty sep cuts x into its characters. The slot is made big
 * enough at once: there are at most n / m + 1 pieces (n characters for an
 * empty sep), each at most n bytes long.
 */
static void run_split(const struct feat_value *x, const struct feat_value *sep,
		      struct slot *s, struct feat_value *d)
{
	const char *p = x->u.s.ptr, *end = p + x->u.s.len, *t = sep->u.s.ptr;
	size_t n = x->u.s.len, m = sep->u.s.len, off = 0, pieces, room;
	char *buf;

	pieces = m ? n / m + 1 : n;
	room = n + pieces * varint_size(n);
	buf = slot_room(s, room ? room : 1);
	if (!buf) {
		d->type = FEAT_NULL;
		return;
	}
	while (n) {
		const char *q;
		uint64_t len;

		if (m) {
			q = find(p, (size_t)(end - p), t, m);
			if (!q)
				q = end;
		} else {
			for (q = p + 1; q < end && is_cont((unsigned char)*q); q++)
				;
		}
		len = (uint64_t)(q - p);
		do {
			buf[off++] = (char)((len & 0x7f) | (len > 0x7f ? 0x80 : 0));
			len >>= 7;
		} while (len);
		if (q > p)
			memcpy(buf + off, p, (size_t)(q - p));
		off += (size_t)(q - p);
		if (q == end)
			break;
		p = q + m;
	}
	d->u.s.ptr = buf;
	d->u.s.len = off;
	d->type = FEAT_STRLIST;
}

/* Operand k of the n-ary instruction in, from the OP_ARGs after it. */
static inline const struct feat_value *arg_opnd(const struct ins *in,
						uint32_t k,
						const struct feat_value *regs,
						const struct feat_value *row,
						uint8_t *type)
{
	const struct ins *ar = in + 1 + k / 3;

	switch (k % 3) {
	case 0:
		*type = ar->ta;
		return ((ar->bank & 1) ? row : regs) + ar->a;
	case 1:
		*type = ar->tb;
		return ((ar->bank & 2) ? row : regs) + ar->b;
	default:
		*type = ar->tc;
		return ((ar->bank & 4) ? row : regs) + ar->c;
	}
}

/* How many OP_ARGs follow an n-ary instruction of n operands. */
static inline uint32_t nargs_ins(uint32_t n)
{
	return (n + 2) / 3;
}

/* x in (...): true on a match, else null if x or an item is null, else false. */
static void run_in(const struct ins *in, struct feat_value *regs,
		   const struct feat_value *row, struct feat_value *d)
{
	const struct feat_value *x = OPND_A, *y;
	uint32_t k, n = in->b;
	int found = 0, sawnull = 0;
	uint8_t t;

	if (x->type != in->ta) {
		d->type = FEAT_NULL;
		return;
	}
	for (k = 0; k < n && !found; k++) {
		y = arg_opnd(in, k, regs, row, &t);
		if (y->type != t) {
			sawnull = 1;
			continue;
		}
		switch (in->op) {
		case OP_IN_I:
			found = x->u.i == y->u.i;
			break;
		case OP_IN_D:
			found = x->u.d == y->u.d;
			break;
		default:
			found = x->u.s.len == y->u.s.len &&
				(x->u.s.len == 0 ||
				 memcmp(x->u.s.ptr, y->u.s.ptr, x->u.s.len) == 0);
			break;
		}
	}
	if (!found && sawnull) {
		d->type = FEAT_NULL;
		return;
	}
	d->u.i = found ^ (in->mask & IN_NOT);
	d->type = FEAT_BOOL;
}

/* concat(...): null when any operand is null. */
static void run_concat(const struct ins *in, struct feat_value *regs,
		       const struct feat_value *row, struct slot *slots,
		       struct feat_value *d)
{
	const struct feat_value *y;
	uint32_t k, n = in->b;
	size_t total = 0, off = 0;
	char *buf;
	uint8_t t;

	for (k = 0; k < n; k++) {
		y = arg_opnd(in, k, regs, row, &t);
		if (y->type != t) {
			d->type = FEAT_NULL;
			return;
		}
		total += y->u.s.len;
	}
	buf = slot_room(&slots[in->c], total);
	if (!buf) {
		d->type = FEAT_NULL;
		return;
	}
	for (k = 0; k < n; k++) {
		y = arg_opnd(in, k, regs, row, &t);
		if (y->u.s.len)
			memcpy(buf + off, y->u.s.ptr, y->u.s.len);
		off += y->u.s.len;
	}
	d->u.s.ptr = buf;
	d->u.s.len = total;
	d->type = FEAT_STRING;
}

/* lower() and upper(): ASCII letters only; other bytes are copied. */
static void run_case_map(const struct feat_value *x, int upper,
			 struct slot *s, struct feat_value *d)
{
	size_t i, n = x->u.s.len;
	char *buf = slot_room(s, n);

	if (!buf) {
		d->type = FEAT_NULL;
		return;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)x->u.s.ptr[i];

		if ((unsigned)(c - (upper ? 'a' : 'A')) < 26u)
			c ^= 0x20;
		buf[i] = (char)c;
	}
	d->u.s.ptr = buf;
	d->u.s.len = n;
	d->type = FEAT_STRING;
}

/* string(x) of an int, double or timestamp, and date(ts). */
static void run_to_text(const struct ins *in, const struct feat_value *x,
			struct slot *s, struct feat_value *d)
{
	char *buf = slot_room(s, 40);
	size_t n;

	if (!buf) {
		d->type = FEAT_NULL;
		return;
	}
	switch (in->op) {
	case OP_I2S: n = feat_fmt_int(buf, x->u.i); break;
	case OP_D2S: n = feat_fmt_double(buf, x->u.d); break;
	case OP_T2S: n = feat_ts_format_iso(buf, x->u.i); break;
	default: n = fmt_date(buf, x->u.i); break;
	}
	d->u.s.ptr = buf;
	d->u.s.len = n;
	d->type = FEAT_STRING;
}

/* The casts from string that parse: int(), double(), bool(), timestamp(). */
static void run_parse(const struct ins *in, const struct feat_value *x,
		      struct feat_value *d)
{
	const char *s = x->u.s.ptr;
	size_t n = x->u.s.len;
	int ok, b = 0;

	switch (in->op) {
	case OP_S2I:
		ok = feat_parse_int(s, n, &d->u.i) == 0;
		break;
	case OP_S2D:
		ok = feat_parse_double(s, n, &d->u.d) == 0 && isfinite(d->u.d);
		break;
	case OP_S2B:
		ok = feat_parse_bool(s, n, &b) == 0;
		d->u.i = b;
		break;
	default:
		ok = feat_ts_parse(s, n, FEAT_TS_ISO, &d->u.i) == 0;
		break;
	}
	d->type = ok ? in->rt : FEAT_NULL;
}

/*
 * Runs prog over regs and row. Every instruction reads its operands before
 * writing dst, so dst may be one of them. row is not touched by a program
 * whose operands are all registers (constant folding passes NULL). A jump
 * only goes forward, so each instruction runs at most once.
 */
static void run(const struct ins *prog, struct feat_value *regs,
		const struct feat_value *row, struct slot *slots)
{
	const struct ins *in = prog;
	const struct feat_value *x, *y, *z;
	struct feat_value *d;
	int64_t xi, yi;
	double xd, yd, rd;
	int xv, yv;

	for (;;) {
		d = regs + in->dst;
		switch (in->op) {
		case OP_END:
			return;
		case OP_MOV:
			x = OPND_A;
			if (x->type == in->ta)
				*d = *x;
			else
				d->type = FEAT_NULL;
			break;
		case OP_I2D:
			x = OPND_A;
			if (x->type == in->ta) {
				d->u.d = (double)x->u.i;
				d->type = FEAT_DOUBLE;
			} else {
				d->type = FEAT_NULL;
			}
			break;

#define INT_BINOP(OP, EXPR)						\
		case OP:						\
			x = OPND_A;					\
			y = OPND_B;					\
			if (x->type != in->ta || y->type != in->tb) {	\
				d->type = FEAT_NULL;			\
				break;					\
			}						\
			xi = x->u.i;					\
			yi = y->u.i;					\
			d->u.i = (EXPR);				\
			d->type = in->rt;				\
			break;
		INT_BINOP(OP_ADD_I, wrap_add(xi, yi))
		INT_BINOP(OP_SUB_I, wrap_sub(xi, yi))
		INT_BINOP(OP_MUL_I, wrap_mul(xi, yi))
#undef INT_BINOP

		case OP_DIV_I:
		case OP_MOD_I:
			x = OPND_A;
			y = OPND_B;
			if (x->type != in->ta || y->type != in->tb ||
			    y->u.i == 0) {
				d->type = FEAT_NULL;
				break;
			}
			xi = x->u.i;
			yi = y->u.i;
			/* INT64_MIN / -1 overflows: wrap like the others. */
			if (yi == -1)
				d->u.i = in->op == OP_DIV_I ? wrap_sub(0, xi) : 0;
			else
				d->u.i = in->op == OP_DIV_I ? xi / yi : xi % yi;
			d->type = in->rt;
			break;
		case OP_NEG_I:
			x = OPND_A;
			if (x->type == in->ta) {
				d->u.i = wrap_sub(0, x->u.i);
				d->type = in->rt;
			} else {
				d->type = FEAT_NULL;
			}
			break;

#define DBL_BINOP(OP, EXPR)						\
		case OP:						\
			x = OPND_A;					\
			y = OPND_B;					\
			if (x->type != in->ta || y->type != in->tb) {	\
				d->type = FEAT_NULL;			\
				break;					\
			}						\
			xd = x->u.d;					\
			yd = y->u.d;					\
			rd = (EXPR);					\
			if (isfinite(rd)) {				\
				d->u.d = rd;				\
				d->type = FEAT_DOUBLE;			\
			} else {					\
				d->type = FEAT_NULL;			\
			}						\
			break;
		DBL_BINOP(OP_ADD_D, xd + yd)
		DBL_BINOP(OP_SUB_D, xd - yd)
		DBL_BINOP(OP_MUL_D, xd * yd)
		DBL_BINOP(OP_DIV_D, xd / yd)
		DBL_BINOP(OP_MOD_D, fmod(xd, yd))
#undef DBL_BINOP

		case OP_NEG_D:
			x = OPND_A;
			if (x->type == in->ta) {
				d->u.d = -x->u.d;
				d->type = FEAT_DOUBLE;
			} else {
				d->type = FEAT_NULL;
			}
			break;
		case OP_CMP_I:
			x = OPND_A;
			y = OPND_B;
			if (x->type != in->ta || y->type != in->tb) {
				d->type = FEAT_NULL;
				break;
			}
			xi = x->u.i;
			yi = y->u.i;
			d->u.i = (in->mask >> cmp3(xi < yi, xi > yi)) & 1;
			d->type = FEAT_BOOL;
			break;
		case OP_CMP_D:
			x = OPND_A;
			y = OPND_B;
			if (x->type != in->ta || y->type != in->tb) {
				d->type = FEAT_NULL;
				break;
			}
			xd = x->u.d;
			yd = y->u.d;
			d->u.i = (in->mask >> cmp3(xd < yd, xd > yd)) & 1;
			d->type = FEAT_BOOL;
			break;
		case OP_CMP_S: {
			size_t n;
			int r;

			x = OPND_A;
			y = OPND_B;
			if (x->type != in->ta || y->type != in->tb) {
				d->type = FEAT_NULL;
				break;
			}
			n = x->u.s.len < y->u.s.len ? x->u.s.len : y->u.s.len;
			r = n ? memcmp(x->u.s.ptr, y->u.s.ptr, n) : 0;
			if (r == 0)
				r = cmp3(x->u.s.len < y->u.s.len,
					 x->u.s.len > y->u.s.len);
			else
				r = r < 0 ? 0 : 2;
			d->u.i = (in->mask >> r) & 1;
			d->type = FEAT_BOOL;
			break;
		}
		case OP_EQ_S: {
			int eq;

			x = OPND_A;
			y = OPND_B;
			if (x->type != in->ta || y->type != in->tb) {
				d->type = FEAT_NULL;
				break;
			}
			eq = x->u.s.len == y->u.s.len &&
			     (x->u.s.len == 0 ||
			      memcmp(x->u.s.ptr, y->u.s.ptr, x->u.s.len) == 0);
			d->u.i = (in->mask >> (eq ? 1 : 2)) & 1;
			d->type = FEAT_BOOL;
			break;
		}
		case OP_ISNULL:
			x = OPND_A;
			d->u.i = x->type != in->ta;
			d->type = FEAT_BOOL;
			break;
		case OP_NOTNULL:
			x = OPND_A;
			d->u.i = x->type == in->ta;
			d->type = FEAT_BOOL;
			break;
		case OP_NOT:
			x = OPND_A;
			if (x->type == in->ta) {
				d->u.i = !x->u.i;
				d->type = FEAT_BOOL;
			} else {
				d->type = FEAT_NULL;
			}
			break;
		case OP_AND:
			x = OPND_A;
			y = OPND_B;
			xv = x->type == in->ta;
			yv = y->type == in->tb;
			xi = x->u.i;
			yi = y->u.i;
			if ((xv && !xi) || (yv && !yi)) {
				d->u.i = 0;
				d->type = FEAT_BOOL;
			} else if (xv && yv) {
				d->u.i = 1;
				d->type = FEAT_BOOL;
			} else {
				d->type = FEAT_NULL;
			}
			break;
		case OP_OR:
			x = OPND_A;
			y = OPND_B;
			xv = x->type == in->ta;
			yv = y->type == in->tb;
			xi = x->u.i;
			yi = y->u.i;
			if ((xv && xi) || (yv && yi)) {
				d->u.i = 1;
				d->type = FEAT_BOOL;
			} else if (xv && yv) {
				d->u.i = 0;
				d->type = FEAT_BOOL;
			} else {
				d->type = FEAT_NULL;
			}
			break;
		case OP_SEL:
			z = OPND_C;
			if (z->type == in->tc && z->u.i) {
				x = OPND_A;
				xv = x->type == in->ta;
			} else {
				x = OPND_B;
				xv = x->type == in->tb;
			}
			if (xv)
				*d = *x;
			else
				d->type = FEAT_NULL;
			break;
		case OP_JMP:
			in = prog + in->c;
			continue;
		case OP_JNT:
			x = OPND_A;
			if (x->type != in->ta || !x->u.i) {
				in = prog + in->c;
				continue;
			}
			break;
		case OP_JF_SET:
			x = OPND_A;
			if (x->type == in->ta && !x->u.i) {
				d->u.i = 0;
				d->type = FEAT_BOOL;
				in = prog + in->c;
				continue;
			}
			break;
		case OP_JT_SET:
			x = OPND_A;
			if (x->type == in->ta && x->u.i) {
				d->u.i = 1;
				d->type = FEAT_BOOL;
				in = prog + in->c;
				continue;
			}
			break;
		case OP_JNN:
			x = OPND_A;
			if (x->type == in->ta) {
				in = prog + in->c;
				continue;
			}
			break;
		case OP_COAL:
			x = OPND_A;
			if (x->type == in->ta) {
				*d = *x;
				break;
			}
			x = OPND_B;
			if (x->type == in->tb)
				*d = *x;
			else
				d->type = FEAT_NULL;
			break;
		case OP_IN_I:
		case OP_IN_D:
		case OP_IN_S:
			run_in(in, regs, row, d);
			in += nargs_ins(in->b);
			break;
		case OP_CONCAT:
			run_concat(in, regs, row, slots, d);
			in += nargs_ins(in->b);
			break;
		case OP_ARG:
			break;

#define UNOP(OP, EXPR)							\
		case OP:						\
			x = OPND_A;					\
			if (x->type != in->ta) {			\
				d->type = FEAT_NULL;			\
				break;					\
			}						\
			EXPR;						\
			d->type = in->rt;				\
			break;
		UNOP(OP_RETYPE, d->u = x->u)
		UNOP(OP_I2B, d->u.i = x->u.i != 0)
		UNOP(OP_ABS_I, d->u.i = x->u.i < 0 ? wrap_sub(0, x->u.i) : x->u.i)
		UNOP(OP_ABS_D, d->u.d = fabs(x->u.d))
		UNOP(OP_LENGTH, d->u.i = utf8_len(x->u.s.ptr, x->u.s.len))
		UNOP(OP_HOUR, d->u.i = floor_mod(x->u.i, MS_PER_DAY) / MS_PER_HOUR)
		/* 1970-01-01 was a Thursday, day 4 of the ISO week. */
		UNOP(OP_DOW, d->u.i = floor_mod(floor_div(x->u.i, MS_PER_DAY) + 3, 7) + 1)
#undef UNOP

		case OP_D2I:
			x = OPND_A;
			/* The range where (int64_t) is defined; -2^63 is exact. */
			if (x->type == in->ta && x->u.d >= -9223372036854775808.0 &&
			    x->u.d < 9223372036854775808.0) {
				d->u.i = (int64_t)x->u.d;
				d->type = in->rt;
			} else {
				d->type = FEAT_NULL;
			}
			break;
		case OP_S2I:
		case OP_S2D:
		case OP_S2B:
		case OP_S2T:
			x = OPND_A;
			if (x->type == in->ta)
				run_parse(in, x, d);
			else
				d->type = FEAT_NULL;
			break;
		case OP_B2S:
			x = OPND_A;
			if (x->type == in->ta) {
				d->u.s.ptr = x->u.i ? "true" : "false";
				d->u.s.len = x->u.i ? 4 : 5;
				d->type = FEAT_STRING;
			} else {
				d->type = FEAT_NULL;
			}
			break;
		case OP_I2S:
		case OP_D2S:
		case OP_T2S:
		case OP_DATE:
			x = OPND_A;
			if (x->type == in->ta)
				run_to_text(in, x, &slots[in->c], d);
			else
				d->type = FEAT_NULL;
			break;
		case OP_LOWER:
		case OP_UPPER:
			x = OPND_A;
			if (x->type == in->ta)
				run_case_map(x, in->op == OP_UPPER, &slots[in->c],
					     d);
			else
				d->type = FEAT_NULL;
			break;
		case OP_SUBSTR:
			x = OPND_A;
			y = OPND_B;
			z = OPND_C;
			if (x->type == in->ta && y->type == in->tb &&
			    z->type == in->tc)
				do_substr(x, y->u.i, z->u.i, d);
			else
				d->type = FEAT_NULL;
			break;
		case OP_CONTAINS:
		case OP_STARTS:
		case OP_ENDS: {
			size_t n, m;

			x = OPND_A;
			y = OPND_B;
			if (x->type != in->ta || y->type != in->tb) {
				d->type = FEAT_NULL;
				break;
			}
			n = x->u.s.len;
			m = y->u.s.len;
			if (m == 0)
				xv = 1;
			else if (m > n)
				xv = 0;
			else if (in->op == OP_STARTS)
				xv = memcmp(x->u.s.ptr, y->u.s.ptr, m) == 0;
			else if (in->op == OP_ENDS)
				xv = memcmp(x->u.s.ptr + n - m, y->u.s.ptr, m) == 0;
			else
				xv = find(x->u.s.ptr, n, y->u.s.ptr, m) != NULL;
			d->u.i = xv;
			d->type = FEAT_BOOL;
			break;
		}

		/* Not finite (ln(0), sqrt(-1), exp(1000)) is null; -0 is 0. */
#define DBL_FN(OP, EXPR)						\
		case OP:						\
			x = OPND_A;					\
			y = OPND_B;					\
			if (x->type != in->ta ||			\
			    (op_uses[OP] & U_B && y->type != in->tb)) {	\
				d->type = FEAT_NULL;			\
				break;					\
			}						\
			rd = (EXPR) + 0.0;				\
			if (isfinite(rd)) {				\
				d->u.d = rd;				\
				d->type = FEAT_DOUBLE;			\
			} else {					\
				d->type = FEAT_NULL;			\
			}						\
			break;
		DBL_FN(OP_LN, log(x->u.d))
		DBL_FN(OP_EXP, exp(x->u.d))
		DBL_FN(OP_SQRT, sqrt(x->u.d))
		DBL_FN(OP_POW, pow(x->u.d, y->u.d))
		DBL_FN(OP_FLOOR, floor(x->u.d))
		DBL_FN(OP_CEIL, ceil(x->u.d))
		DBL_FN(OP_ROUND, round(x->u.d))
		DBL_FN(OP_ROUNDN_D, round_digits(x->u.d, y->u.i))
#undef DBL_FN

		case OP_ROUNDN_I:
			x = OPND_A;
			y = OPND_B;
			if (x->type == in->ta && y->type == in->tb &&
			    round_int(x->u.i, y->u.i, &d->u.i) == 0)
				d->type = FEAT_INT;
			else
				d->type = FEAT_NULL;
			break;
		case OP_INDEX_V:
		case OP_INDEX_L:
			x = OPND_A;
			y = OPND_B;
			if (x->type == in->ta && y->type == in->tb)
				run_index(in->ta, x, y->u.i, d);
			else
				d->type = FEAT_NULL;
			break;
		case OP_MAP_GET: {
			struct feat_value val;

			x = OPND_A;
			y = OPND_B;
			if (x->type == in->ta && y->type == in->tb &&
			    map_find(x, y, &val))
				*d = val;
			else
				d->type = FEAT_NULL;
			break;
		}
		case OP_LIST_LEN:
			x = OPND_A;
			if (x->type == in->ta) {
				d->u.i = elem_count(x);
				d->type = FEAT_INT;
			} else {
				d->type = FEAT_NULL;
			}
			break;
		case OP_LIST_HAS:
			x = OPND_A;
			y = OPND_B;
			if (x->type == in->ta && y->type == in->tb) {
				d->u.i = elem_has(x, y);
				d->type = FEAT_BOOL;
			} else {
				d->type = FEAT_NULL;
			}
			break;
		case OP_SPLIT:
			x = OPND_A;
			y = OPND_B;
			if (x->type == in->ta && y->type == in->tb)
				run_split(x, y, &slots[in->c], d);
			else
				d->type = FEAT_NULL;
			break;
		default:
			return;
		}
		in++;
	}
}

/* ----------------------------------------------------------------------
 * Tokens and AST.
 */

enum tok_kind {
	TK_EOF,
	TK_INT,
	TK_DOUBLE,
	TK_STRING,
	TK_NAME,		/* identifiers and keywords */
	TK_QNAME,		/* `quoted name` */
	TK_LP,
	TK_RP,
	TK_COMMA,
	TK_PLUS,
	TK_MINUS,
	TK_STAR,
	TK_SLASH,
	TK_PCT,
	TK_EQ,
	TK_NE,
	TK_LT,
	TK_LE,
	TK_GT,
	TK_GE,
	TK_LB,			/* [ */
	TK_RB,			/* ] */
	TK_AND,			/* never made by the lexer: node operators */
	TK_OR,
};

struct tok {
	enum tok_kind kind;
	size_t pos, len;	/* the raw text */
	size_t soff, slen;	/* TK_STRING: decoded bytes in the pool;
				 * TK_QNAME: in the parser's scratch */
};

enum node_kind {
	N_INT,
	N_DOUBLE,
	N_STRING,
	N_BOOL,
	N_NULL,
	N_COL,
	N_NEG,
	N_NOT,
	N_ISNULL,
	N_NOTNULL,
	N_BIN,
	N_IF,
	N_CALL,			/* fn(args) other than if() */
	N_CASE,			/* children: [subject] when then ... [else] */
	N_IN,			/* children: x, then the items */
	N_INDEX,		/* a[b]: a list or map, an index or a key */
};

/* Flags of N_CASE and N_IN nodes. */
#define CASE_SUBJECT 1		/* case x when ... */
#define CASE_ELSE 2
#define IN_NEGATED 1		/* x not in (...) */

struct node {
	uint8_t kind;
	uint8_t op;		/* N_BIN: TK_PLUS ... TK_OR */
	uint8_t type;		/* enum feat_type of the value */
	uint8_t hascol;		/* the subtree reads a column */
	uint8_t fn;		/* N_IF, N_CALL: enum fn_id */
	uint8_t flags;		/* N_CASE: CASE_*; N_IN: IN_NEGATED */
	uint32_t depth;
	uint32_t cost;		/* about how many instructions it needs */
	uint32_t nargs;		/* N_CALL, N_IF: arguments; N_CASE: whens;
				 * N_IN: items */
	size_t pos;		/* byte offset where its text starts */
	int a, b, c;		/* children, -1 when absent */
	int next;		/* the next child of the parent, -1 if last */
	union {
		int64_t i;	/* N_INT, N_BOOL */
		double d;	/* N_DOUBLE */
		size_t col;	/* N_COL */
		struct {
			size_t off, len;
		} s;		/* N_STRING, in the pool */
	} v;
};

struct parser {
	const char *text;
	size_t pos;		/* where the lexer goes on */
	struct tok tok;		/* the current token */
	const struct feat_expr_col *cols;
	size_t ncols;
	struct node *nodes;
	size_t nnodes, cap;
	struct feat_buf *pool;
	struct feat_buf scratch;
	struct feat_error *err;
	int nest;
};

/* The 1-based character (not byte) position of byte off in text. */
static long char_col(const char *text, size_t off)
{
	long col = 1;
	size_t i;

	for (i = 0; i < off && text[i]; i++)
		if (((unsigned char)text[i] & 0xc0) != 0x80)
			col++;
	return col;
}

static int perr(struct parser *p, size_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int perr(struct parser *p, size_t off, const char *fmt, ...)
{
	char msg[sizeof(p->err->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	feat_error_set(p->err, NULL, 0, char_col(p->text, off), "%s", msg);
	return -1;
}

static int nomem(struct parser *p)
{
	feat_error_nomem(p->err);
	return -1;
}

/*
 * Writes s[0..n) into buf (of size bufsz) for quoting in a message, cut at
 * MAX_QUOTE bytes (on a character boundary) with "...".
 */
static const char *quote_text(char *buf, size_t bufsz, const char *s,
			      size_t n)
{
	if (n > MAX_QUOTE) {
		n = MAX_QUOTE - 3;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		snprintf(buf, bufsz, "%.*s...", (int)n, s);
	} else {
		snprintf(buf, bufsz, "%.*s", (int)n, s);
	}
	return buf;
}

static const char *tok_text(struct parser *p, char *buf, size_t bufsz)
{
	return quote_text(buf, bufsz, p->text + p->tok.pos, p->tok.len);
}

static int is_name_start(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_name_char(int c)
{
	return is_name_start(c) || (c >= '0' && c <= '9') || c == '.';
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static size_t skip_space(const char *s, size_t i)
{
	while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
		i++;
	return i;
}

/* Reads a string literal that starts at p->pos (the quote). */
static int lex_string(struct parser *p)
{
	const char *s = p->text;
	size_t start = p->pos, i = p->pos + 1;
	char q = s[start];
	char c;

	p->tok.soff = p->pool->len;
	for (;;) {
		c = s[i];
		if (c == '\0')
			return perr(p, start, "unterminated string");
		if (c == q)
			break;
		if (c == '\\') {
			switch (s[i + 1]) {
			case '\\': c = '\\'; break;
			case '\'': c = '\''; break;
			case '"': c = '"'; break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case '\0':
				return perr(p, start, "unterminated string");
			default: {
				size_t n = 1;

				while (((unsigned char)s[i + 1 + n] & 0xc0) ==
				       0x80)
					n++;
				return perr(p, i,
					    "unknown escape '\\%.*s' in string; use \\\\, \\', \\\", \\n or \\t",
					    (int)n, s + i + 1);
			}
			}
			i++;
		}
		if (feat_buf_addc(p->pool, c) < 0)
			return nomem(p);
		i++;
	}
	p->tok.slen = p->pool->len - p->tok.soff;
	/* A NUL after each literal keeps every pointer into the pool valid. */
	if (feat_buf_addc(p->pool, '\0') < 0)
		return nomem(p);
	p->tok.kind = TK_STRING;
	p->tok.len = i + 1 - start;
	p->pos = i + 1;
	return 0;
}

/* Reads a `quoted name`; a doubled backtick stands for one. */
static int lex_qname(struct parser *p)
{
	const char *s = p->text;
	size_t start = p->pos, i = p->pos + 1;

	feat_buf_reset(&p->scratch);
	for (;;) {
		if (s[i] == '\0')
			return perr(p, start, "unterminated column name");
		if (s[i] == '`') {
			if (s[i + 1] != '`')
				break;
			i++;
		}
		if (feat_buf_addc(&p->scratch, s[i]) < 0)
			return nomem(p);
		i++;
	}
	if (p->scratch.len == 0)
		return perr(p, start, "empty column name");
	p->tok.kind = TK_QNAME;
	p->tok.len = i + 1 - start;
	p->tok.soff = 0;
	p->tok.slen = p->scratch.len;
	p->pos = i + 1;
	return 0;
}

static int lex_number(struct parser *p)
{
	const char *s = p->text;
	size_t start = p->pos, i = p->pos;
	int dbl = 0;

	while (is_digit(s[i]))
		i++;
	if (s[i] == '.') {
		dbl = 1;
		i++;
		while (is_digit(s[i]))
			i++;
	}
	if (s[i] == 'e' || s[i] == 'E') {
		size_t j = i + 1;

		if (s[j] == '+' || s[j] == '-')
			j++;
		if (is_digit(s[j])) {
			dbl = 1;
			i = j;
			while (is_digit(s[i]))
				i++;
		}
	}
	if (is_name_char((unsigned char)s[i])) {
		char buf[MAX_QUOTE + 8];

		while (is_name_char((unsigned char)s[i]))
			i++;
		return perr(p, start, "invalid number '%s'",
			    quote_text(buf, sizeof(buf), s + start, i - start));
	}
	p->tok.kind = dbl ? TK_DOUBLE : TK_INT;
	p->tok.len = i - start;
	p->pos = i;
	return 0;
}

/* Reads the next token into p->tok. */
static int lex(struct parser *p)
{
	const char *s = p->text;
	size_t i = skip_space(s, p->pos);
	unsigned char c = (unsigned char)s[i];
	size_t n = 1;

	p->pos = i;
	p->tok.pos = i;
	p->tok.len = 0;
	if (c == '\0') {
		p->tok.kind = TK_EOF;
		return 0;
	}
	if (is_name_start(c)) {
		while (is_name_char((unsigned char)s[i]))
			i++;
		p->tok.kind = TK_NAME;
		p->tok.len = i - p->pos;
		p->pos = i;
		return 0;
	}
	if (is_digit(c) || (c == '.' && is_digit((unsigned char)s[i + 1])))
		return lex_number(p);
	if (c == '\'' || c == '"')
		return lex_string(p);
	if (c == '`')
		return lex_qname(p);
	switch (c) {
	case '(': p->tok.kind = TK_LP; break;
	case ')': p->tok.kind = TK_RP; break;
	case ',': p->tok.kind = TK_COMMA; break;
	case '[': p->tok.kind = TK_LB; break;
	case ']': p->tok.kind = TK_RB; break;
	case '+': p->tok.kind = TK_PLUS; break;
	case '-': p->tok.kind = TK_MINUS; break;
	case '*': p->tok.kind = TK_STAR; break;
	case '/': p->tok.kind = TK_SLASH; break;
	case '%': p->tok.kind = TK_PCT; break;
	case '=':
		p->tok.kind = TK_EQ;
		if (s[i + 1] == '=')
			n = 2;
		break;
	case '!':
		if (s[i + 1] != '=')
			return perr(p, i, "unexpected '!'; did you mean 'not'?");
		p->tok.kind = TK_NE;
		n = 2;
		break;
	case '<':
		p->tok.kind = TK_LT;
		if (s[i + 1] == '=') {
			p->tok.kind = TK_LE;
			n = 2;
		} else if (s[i + 1] == '>') {
			p->tok.kind = TK_NE;
			n = 2;
		}
		break;
	case '>':
		p->tok.kind = TK_GT;
		if (s[i + 1] == '=') {
			p->tok.kind = TK_GE;
			n = 2;
		}
		break;
	case '&':
		if (s[i + 1] == '&')
			return perr(p, i, "unexpected '&&'; did you mean 'and'?");
		return perr(p, i, "unexpected '&'");
	case '|':
		if (s[i + 1] == '|')
			return perr(p, i, "unexpected '||'; did you mean 'or'?");
		return perr(p, i, "unexpected '|'");
	default:
		/* Quote a whole UTF-8 character, not a lone byte. */
		while (((unsigned char)s[i + n] & 0xc0) == 0x80)
			n++;
		return perr(p, i, "unexpected '%.*s'", (int)n, s + i);
	}
	p->tok.len = n;
	p->pos = i + n;
	return 0;
}

static int tok_is(const struct parser *p, const char *kw)
{
	size_t n = strlen(kw);

	return p->tok.kind == TK_NAME && p->tok.len == n &&
	       strncasecmp(p->text + p->tok.pos, kw, n) == 0;
}

static const char *const keywords[] = {
	"and", "or", "not", "is", "null", "true", "false", "if",
	"case", "when", "then", "else", "end", "in",
};

static int is_keyword(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
		if (strlen(keywords[i]) == n && strncasecmp(s, keywords[i], n) == 0)
			return 1;
	return 0;
}

/* Functions the language knows, for calls and for "did you mean". */
enum fn_id {
	F_IF, F_COALESCE,
	F_INT, F_DOUBLE, F_STRING, F_TIMESTAMP, F_BOOL,
	F_LOWER, F_UPPER, F_SUBSTR, F_CONCAT, F_LENGTH,
	F_CONTAINS, F_STARTS_WITH, F_ENDS_WITH,
	F_ABS, F_LN, F_EXP, F_SQRT, F_POW, F_FLOOR, F_CEIL, F_ROUND,
	F_HOUR, F_DAY_OF_WEEK, F_DATE,
	F_SPLIT,
	NFNS
};

#define ANY_ARGS 255		/* fninfo.max: no upper limit */

/* The name comes first, as feat_suggest() wants. */
static const struct fninfo {
	const char *name;
	uint8_t min, max;	/* how many arguments */
} fns[NFNS] = {
	[F_IF] = { "if", 3, 3 },
	[F_COALESCE] = { "coalesce", 1, ANY_ARGS },
	[F_INT] = { "int", 1, 1 },
	[F_DOUBLE] = { "double", 1, 1 },
	[F_STRING] = { "string", 1, 1 },
	[F_TIMESTAMP] = { "timestamp", 1, 1 },
	[F_BOOL] = { "bool", 1, 1 },
	[F_LOWER] = { "lower", 1, 1 },
	[F_UPPER] = { "upper", 1, 1 },
	[F_SUBSTR] = { "substr", 2, 3 },
	[F_CONCAT] = { "concat", 1, ANY_ARGS },
	[F_LENGTH] = { "length", 1, 1 },
	[F_CONTAINS] = { "contains", 2, 2 },
	[F_STARTS_WITH] = { "starts_with", 2, 2 },
	[F_ENDS_WITH] = { "ends_with", 2, 2 },
	[F_ABS] = { "abs", 1, 1 },
	[F_LN] = { "ln", 1, 1 },
	[F_EXP] = { "exp", 1, 1 },
	[F_SQRT] = { "sqrt", 1, 1 },
	[F_POW] = { "pow", 2, 2 },
	[F_FLOOR] = { "floor", 1, 1 },
	[F_CEIL] = { "ceil", 1, 1 },
	[F_ROUND] = { "round", 1, 2 },
	[F_HOUR] = { "hour", 1, 1 },
	[F_DAY_OF_WEEK] = { "day_of_week", 1, 1 },
	[F_DATE] = { "date", 1, 1 },
	[F_SPLIT] = { "split", 2, 2 },
};

static int new_node(struct parser *p, enum node_kind kind, size_t pos)
{
	struct node *nd;

	if (p->nnodes == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct node *nn = realloc(p->nodes, cap * sizeof(*nn));

		if (!nn)
			return nomem(p);
		p->nodes = nn;
		p->cap = cap;
	}
	nd = &p->nodes[p->nnodes];
	memset(nd, 0, sizeof(*nd));
	nd->kind = kind;
	nd->pos = pos;
	nd->a = nd->b = nd->c = nd->next = -1;
	nd->depth = 1;
	return (int)p->nnodes++;
}

/*
 * Links children to node n and works out depth and cost from them. Fails
 * when the tree gets too deep for the recursive passes.
 */
static int link_children(struct parser *p, int n, int a, int b, int c,
			 size_t opos)
{
	struct node *nd = &p->nodes[n];
	int kids[3] = { a, b, c };
	uint32_t cost = 0;
	int i;

	nd->a = a;
	nd->b = b;
	nd->c = c;
	for (i = 0; i < 3; i++) {
		const struct node *k;

		if (kids[i] < 0)
			continue;
		k = &p->nodes[kids[i]];
		if (k->depth + 1 > nd->depth)
			nd->depth = k->depth + 1;
		nd->hascol |= k->hascol;
		cost += k->cost;
	}
	nd->cost = nd->hascol ? cost + 1 : 0;
	if (nd->depth > MAX_DEPTH)
		return perr(p, opos, "expression is nested too deeply");
	return 0;
}

/* Like link_children() for a node whose children are the list at first. */
static int link_list(struct parser *p, int n, int first, size_t opos)
{
	struct node *nd = &p->nodes[n];
	uint32_t cost = 0;
	int k;

	nd->a = first;
	for (k = first; k >= 0; k = p->nodes[k].next) {
		const struct node *kid = &p->nodes[k];

		if (kid->depth + 1 > nd->depth)
			nd->depth = kid->depth + 1;
		nd->hascol |= kid->hascol;
		cost += kid->cost;
	}
	nd->cost = nd->hascol ? cost + 1 : 0;
	if (nd->depth > MAX_DEPTH)
		return perr(p, opos, "expression is nested too deeply");
	return 0;
}

static const char *type_name(int t)
{
	return feat_type_name((enum feat_type)t);
}

static int is_num(int t)
{
	return t == FEAT_INT || t == FEAT_DOUBLE || t == FEAT_TIMESTAMP;
}

/*
 * Whether t is a type with operators: not a list or map (json, list<double>,
 * list<string>), which expressions can only pass on, test for null, and
 * for json turn into its text with string().
 */
static int is_scalar(int t)
{
	return t <= FEAT_TIMESTAMP;
}

/* Whether t is a type with elements: list<double>, list<string>, a map. */
static int has_elems(int t)
{
	return t == FEAT_VECTOR || t == FEAT_STRLIST || t == FEAT_MAP;
}

/* Whether values of types ta and tb may be compared (==, <, in, case x). */
static int comparable(int ta, int tb)
{
	if (!is_scalar(ta) || !is_scalar(tb))
		return 0;	/* lists and maps: no order, no equality yet */
	return ta == FEAT_NULL || tb == FEAT_NULL || (is_num(ta) && is_num(tb)) ||
	       ta == tb;
}

/*
 * The type of a value that is of type ta or tb (the branches of if() and
 * case, the arguments of coalesce()), or -1 when there is none.
 */
static int unify(int ta, int tb)
{
	if (ta == tb || tb == FEAT_NULL)
		return ta;
	if (ta == FEAT_NULL)
		return tb;
	if ((ta == FEAT_INT || ta == FEAT_DOUBLE) &&
	    (tb == FEAT_INT || tb == FEAT_DOUBLE))
		return FEAT_DOUBLE;
	return -1;
}

static const char *op_text(int op)
{
	switch (op) {
	case TK_PLUS: return "+";
	case TK_MINUS: return "-";
	case TK_STAR: return "*";
	case TK_SLASH: return "/";
	case TK_PCT: return "%";
	case TK_EQ: return "==";
	case TK_NE: return "!=";
	case TK_LT: return "<";
	case TK_LE: return "<=";
	case TK_GT: return ">";
	case TK_GE: return ">=";
	case TK_AND: return "and";
	case TK_OR: return "or";
	default: return "?";
	}
}

/* The result type of an arithmetic operator, or -1 after an error. */
static int arith_type(struct parser *p, int op, int ta, int tb, size_t opos)
{
	const char *o = op_text(op);

	if (ta == FEAT_STRING || tb == FEAT_STRING)
		return perr(p, opos, "'%s' is not defined for string", o);
	if (ta == FEAT_BOOL || tb == FEAT_BOOL)
		return perr(p, opos, "'%s' is not defined for bool", o);
	if (!is_scalar(ta) || !is_scalar(tb))
		return perr(p, opos, "'%s' is not defined for %s", o,
			    type_name(is_scalar(ta) ? tb : ta));
	if (ta == FEAT_TIMESTAMP || tb == FEAT_TIMESTAMP) {
		if (op != TK_PLUS && op != TK_MINUS)
			return perr(p, opos, "'%s' is not defined for timestamp",
				    o);
		/* An untyped null takes the other side's type. */
		if (ta == FEAT_NULL || tb == FEAT_NULL)
			return FEAT_TIMESTAMP;
		if (ta == FEAT_TIMESTAMP && tb == FEAT_TIMESTAMP &&
		    op == TK_MINUS)
			return FEAT_INT;
		if (ta == FEAT_TIMESTAMP && tb == FEAT_INT)
			return FEAT_TIMESTAMP;
		if (ta == FEAT_INT && tb == FEAT_TIMESTAMP && op == TK_PLUS)
			return FEAT_TIMESTAMP;
		return perr(p, opos, "'%s' is not defined for %s and %s", o,
			    type_name(ta), type_name(tb));
	}
	if (ta == FEAT_NULL)
		return tb;
	if (tb == FEAT_NULL)
		return ta;
	if (ta == FEAT_DOUBLE || tb == FEAT_DOUBLE)
		return FEAT_DOUBLE;
	return FEAT_INT;
}

/* Makes the node for "a op b" with its type, or fails on a type error. */
static int mk_bin(struct parser *p, int op, int a, int b, size_t opos)
{
	int ta = p->nodes[a].type, tb = p->nodes[b].type, t, n;

	switch (op) {
	case TK_AND:
	case TK_OR:
		if (ta != FEAT_BOOL && ta != FEAT_NULL)
			return perr(p, opos, "'%s' needs bool operands, got %s",
				    op_text(op), type_name(ta));
		if (tb != FEAT_BOOL && tb != FEAT_NULL)
			return perr(p, opos, "'%s' needs bool operands, got %s",
				    op_text(op), type_name(tb));
		t = FEAT_BOOL;
		break;
	case TK_EQ:
	case TK_NE:
	case TK_LT:
	case TK_LE:
	case TK_GT:
	case TK_GE:
		if (!comparable(ta, tb))
			return perr(p, opos, "cannot compare %s with %s",
				    type_name(ta), type_name(tb));
		t = FEAT_BOOL;
		break;
	default:
		t = arith_type(p, op, ta, tb, opos);
		if (t < 0)
			return -1;
		break;
	}
	n = new_node(p, N_BIN, p->nodes[a].pos);
	if (n < 0)
		return -1;
	p->nodes[n].op = (uint8_t)op;
	p->nodes[n].type = (uint8_t)t;
	if (link_children(p, n, a, b, -1, opos) < 0)
		return -1;
	return n;
}

static int parse_expr(struct parser *p);

static int enter(struct parser *p)
{
	if (++p->nest > MAX_NEST)
		return perr(p, p->tok.pos, "expression is nested too deeply");
	return 0;
}

static int expected(struct parser *p, const char *what)
{
	char buf[MAX_QUOTE + 8];

	if (p->tok.kind == TK_EOF)
		return perr(p, p->tok.pos,
			    "expected %s but found end of expression", what);
	return perr(p, p->tok.pos, "expected %s but found '%s'", what,
		    tok_text(p, buf, sizeof(buf)));
}

static int unexpected(struct parser *p)
{
	char buf[MAX_QUOTE + 8];

	if (p->tok.kind == TK_EOF)
		return perr(p, p->tok.pos, "unexpected end of expression");
	return perr(p, p->tok.pos, "unexpected '%s'",
		    tok_text(p, buf, sizeof(buf)));
}

static int parse_int_lit(const char *s, size_t n, int neg, int64_t *out)
{
	uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : INT64_MAX;
	unsigned d;
	size_t i;

	for (i = 0; i < n; i++) {
		d = (unsigned)(s[i] - '0');
		if (v > (lim - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (neg)
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*out = (int64_t)v;
	return 0;
}

/* Makes an int literal node of the current token, negated when neg. */
static int int_literal(struct parser *p, int neg, size_t pos)
{
	int64_t v;
	int n;

	if (parse_int_lit(p->text + p->tok.pos, p->tok.len, neg, &v) < 0) {
		char buf[MAX_QUOTE + 8];

		return perr(p, pos, "integer literal '%s%s' is out of range",
			    neg ? "-" : "", tok_text(p, buf, sizeof(buf)));
	}
	n = new_node(p, N_INT, pos);
	if (n < 0)
		return -1;
	p->nodes[n].type = FEAT_INT;
	p->nodes[n].v.i = v;
	return n;
}

static int double_literal(struct parser *p)
{
	char small[64], *buf = small, *end;
	double v;
	int n = -1;

	if (p->tok.len >= sizeof(small)) {
		buf = malloc(p->tok.len + 1);
		if (!buf)
			return nomem(p);
	}
	memcpy(buf, p->text + p->tok.pos, p->tok.len);
	buf[p->tok.len] = '\0';
	v = strtod(buf, &end);
	if (end != buf + p->tok.len || !isfinite(v)) {
		char q[MAX_QUOTE + 8];

		perr(p, p->tok.pos, "double literal '%s' is out of range",
		     tok_text(p, q, sizeof(q)));
		goto out;
	}
	n = new_node(p, N_DOUBLE, p->tok.pos);
	if (n < 0)
		goto out;
	p->nodes[n].type = FEAT_DOUBLE;
	p->nodes[n].v.d = v;
out:
	if (buf != small)
		free(buf);
	return n;
}

/* Makes a column node for name[0..len), or fails with a suggestion. */
static int column(struct parser *p, const char *name, size_t len, size_t pos)
{
	const char *hint;
	char buf[MAX_QUOTE + 8];
	size_t i;
	int n;

	for (i = 0; i < p->ncols; i++) {
		if (strlen(p->cols[i].name) == len &&
		    memcmp(p->cols[i].name, name, len) == 0)
			break;
	}
	if (i == p->ncols) {
		quote_text(buf, sizeof(buf), name, len);
		hint = p->ncols ? feat_suggest(name, len, &p->cols[0].name,
					       sizeof(p->cols[0]), p->ncols) : NULL;
		if (hint)
			return perr(p, pos,
				    "unknown column '%s'; did you mean '%s'?",
				    buf, hint);
		return perr(p, pos, "unknown column '%s'", buf);
	}
	n = new_node(p, N_COL, pos);
	if (n < 0)
		return -1;
	p->nodes[n].type = (uint8_t)p->cols[i].type;
	p->nodes[n].v.col = i;
	p->nodes[n].hascol = 1;
	return n;
}

/* What a function argument must be, for the message when it is not. */
enum want {
	W_STRING,
	W_NUMBER,		/* int or double */
	W_INT,
	W_TIMESTAMP,
};

static int fits(enum want w, int t)
{
	switch (w) {
	case W_STRING: return t == FEAT_STRING || t == FEAT_NULL;
	case W_NUMBER:
		return t == FEAT_INT || t == FEAT_DOUBLE || t == FEAT_NULL;
	case W_INT: return t == FEAT_INT || t == FEAT_NULL;
	case W_TIMESTAMP: return t == FEAT_TIMESTAMP || t == FEAT_NULL;
	}
	return 0;
}

/* The cast that turns a value of type got into what w wants, as a hint. */
static const char *cast_hint(enum want w, int got)
{
	if (!is_scalar(got))
		return "";
	switch (w) {
	case W_STRING:
		return "; cast with string()";
	case W_NUMBER:
		if (got == FEAT_STRING)
			return "; cast with double()";
		return got == FEAT_BOOL ? "; cast with int()" : "";
	case W_INT:
		return "; cast with int()";
	case W_TIMESTAMP:
		return got == FEAT_BOOL ? "" : "; cast with timestamp()";
	}
	return "";
}

/*
 * Checks that argument a of function fn is what w wants. what names the
 * parameter ("start") or, when NULL, the argument is described by the
 * function: "lower() takes a string, got int; cast with string()".
 */
static int want_arg(struct parser *p, int fn, int a, enum want w,
		    const char *what)
{
	static const char *const desc[] = {
		[W_STRING] = "a string", [W_NUMBER] = "a number",
		[W_INT] = "int", [W_TIMESTAMP] = "a timestamp",
	};
	static const char *const plural[] = {
		[W_STRING] = "strings", [W_NUMBER] = "numbers",
		[W_INT] = "ints", [W_TIMESTAMP] = "timestamps",
	};
	const struct node *nd = &p->nodes[a];

	if (fits(w, nd->type))
		return 0;
	if (what && strcmp(what, "+") == 0)
		return perr(p, nd->pos, "%s() takes %s, got %s%s", fns[fn].name,
			    plural[w], type_name(nd->type),
			    cast_hint(w, nd->type));
	if (what)
		return perr(p, nd->pos, "%s() %s must be %s, got %s%s",
			    fns[fn].name, what, w == W_INT ? "int" : desc[w],
			    type_name(nd->type), cast_hint(w, nd->type));
	return perr(p, nd->pos, "%s() takes %s, got %s%s", fns[fn].name,
		    desc[w], type_name(nd->type), cast_hint(w, nd->type));
}

/* The argument k (from 0) in the list at first. */
static int nth(const struct parser *p, int first, int k)
{
	while (k-- > 0)
		first = p->nodes[first].next;
	return first;
}

/* The type of fn over its arguments (the list at first), or -1. */
static int call_type(struct parser *p, int fn, int first, int nargs)
{
	int a0 = first, t0 = p->nodes[first].type, t, u, k;

	switch (fn) {
	case F_IF:
		if (t0 != FEAT_BOOL && t0 != FEAT_NULL)
			return perr(p, p->nodes[a0].pos,
				    "if() condition must be bool, got %s",
				    type_name(t0));
		t = p->nodes[nth(p, first, 1)].type;
		u = p->nodes[nth(p, first, 2)].type;
		if (unify(t, u) < 0)
			return perr(p, p->nodes[nth(p, first, 2)].pos,
				    "if() branches have different types: %s and %s",
				    type_name(t), type_name(u));
		return unify(t, u);
	case F_COALESCE:
		t = t0;
		for (k = p->nodes[first].next; k >= 0; k = p->nodes[k].next) {
			u = unify(t, p->nodes[k].type);
			if (u < 0)
				return perr(p, p->nodes[k].pos,
					    "coalesce() arguments have different types: %s and %s",
					    type_name(t),
					    type_name(p->nodes[k].type));
			t = u;
		}
		return t;
	case F_STRING:
		if (t0 == FEAT_JSON)
			break;
		/* fall through */
	case F_INT:
	case F_DOUBLE:
	case F_TIMESTAMP:
	case F_BOOL:
		if (!is_scalar(t0))
			return perr(p, p->nodes[a0].pos,
				    "%s() cannot convert %s", fns[fn].name,
				    type_name(t0));
		break;
	}
	switch (fn) {
	case F_INT:
		return FEAT_INT;
	case F_DOUBLE:
		return FEAT_DOUBLE;
	case F_STRING:
		return FEAT_STRING;	/* of json: the JSON text */
	case F_TIMESTAMP:
		if (t0 == FEAT_BOOL)
			return perr(p, p->nodes[a0].pos,
				    "timestamp() takes an int, double or string, got bool");
		return FEAT_TIMESTAMP;
	case F_BOOL:
		if (t0 == FEAT_DOUBLE || t0 == FEAT_TIMESTAMP)
			return perr(p, p->nodes[a0].pos,
				    "bool() takes an int or string, got %s",
				    type_name(t0));
		return FEAT_BOOL;
	case F_LOWER:
	case F_UPPER:
		return want_arg(p, fn, a0, W_STRING, NULL) < 0 ? -1 : FEAT_STRING;
	case F_LENGTH:
		if (!has_elems(t0) && !fits(W_STRING, t0))
			return perr(p, p->nodes[a0].pos,
				    "length() takes a string, a list or a map, got %s%s",
				    type_name(t0), cast_hint(W_STRING, t0));
		return FEAT_INT;
	case F_SPLIT:
		for (k = first; k >= 0; k = p->nodes[k].next)
			if (want_arg(p, fn, k, W_STRING, "+") < 0)
				return -1;
		return FEAT_STRLIST;
	case F_SUBSTR:
		if (want_arg(p, fn, a0, W_STRING, NULL) < 0 ||
		    want_arg(p, fn, nth(p, first, 1), W_INT, "start") < 0 ||
		    (nargs == 3 &&
		     want_arg(p, fn, nth(p, first, 2), W_INT, "length") < 0))
			return -1;
		return FEAT_STRING;
	case F_CONTAINS:
		if (has_elems(t0)) {
			enum want w = t0 == FEAT_VECTOR ? W_NUMBER : W_STRING;

			k = nth(p, first, 1);
			u = p->nodes[k].type;
			if (!fits(w, u))
				return perr(p, p->nodes[k].pos,
					    "contains() of %s looks for %s, got %s%s",
					    type_name(t0),
					    t0 == FEAT_VECTOR ? "a number" :
					    t0 == FEAT_MAP ? "a key, a string" :
					    "a string", type_name(u),
					    cast_hint(w, u));
			return FEAT_BOOL;
		}
		if (!fits(W_STRING, t0))
			return perr(p, p->nodes[a0].pos,
				    "contains() takes a string, a list or a map, got %s%s",
				    type_name(t0), cast_hint(W_STRING, t0));
		/* fall through */
	case F_CONCAT:
	case F_STARTS_WITH:
	case F_ENDS_WITH:
		for (k = first; k >= 0; k = p->nodes[k].next)
			if (want_arg(p, fn, k, W_STRING, "+") < 0)
				return -1;
		return fn == F_CONCAT ? FEAT_STRING : FEAT_BOOL;
	case F_ABS:
	case F_FLOOR:
	case F_CEIL:
		return want_arg(p, fn, a0, W_NUMBER, NULL) < 0 ? -1 : t0;
	case F_ROUND:
		if (want_arg(p, fn, a0, W_NUMBER, NULL) < 0 ||
		    (nargs == 2 &&
		     want_arg(p, fn, nth(p, first, 1), W_INT, "digits") < 0))
			return -1;
		return t0;
	case F_LN:
	case F_EXP:
	case F_SQRT:
		return want_arg(p, fn, a0, W_NUMBER, NULL) < 0 ? -1 : FEAT_DOUBLE;
	case F_POW:
		for (k = first; k >= 0; k = p->nodes[k].next)
			if (want_arg(p, fn, k, W_NUMBER, "+") < 0)
				return -1;
		return FEAT_DOUBLE;
	case F_HOUR:
	case F_DAY_OF_WEEK:
		return want_arg(p, fn, a0, W_TIMESTAMP, NULL) < 0 ? -1 : FEAT_INT;
	case F_DATE:
		return want_arg(p, fn, a0, W_TIMESTAMP, NULL) < 0 ? -1 : FEAT_STRING;
	}
	return perr(p, p->nodes[a0].pos, "internal error: function %d", fn);
}

/* Fails with "f() takes 2 or 3 arguments, got 1". */
static int arity_error(struct parser *p, size_t pos, const struct fninfo *f,
		       int nargs)
{
	if (f->min == f->max)
		return perr(p, pos, "%s() takes %d argument%s, got %d", f->name,
			    f->min, f->min == 1 ? "" : "s", nargs);
	if (f->max == ANY_ARGS)
		return perr(p, pos, "%s() takes at least %d argument%s, got %d",
			    f->name, f->min, f->min == 1 ? "" : "s", nargs);
	return perr(p, pos, "%s() takes %d or %d arguments, got %d", f->name,
		    f->min, f->max, nargs);
}

/* Parses name(args) with the name as the current token. */
static int parse_call(struct parser *p)
{
	size_t pos = p->tok.pos, len = p->tok.len;
	const char *name = p->text + pos;
	int first = -1, last = -1, nargs = 0, fn, a, n, t;
	const char *hint;
	char buf[MAX_QUOTE + 8];

	for (fn = 0; fn < NFNS; fn++)
		if (strlen(fns[fn].name) == len &&
		    strncasecmp(name, fns[fn].name, len) == 0)
			break;
	if (fn == NFNS) {
		quote_text(buf, sizeof(buf), name, len);
		hint = feat_suggest(name, len, &fns[0].name, sizeof(fns[0]),
				    NFNS);
		if (hint)
			return perr(p, pos,
				    "unknown function '%s'; did you mean '%s'?",
				    buf, hint);
		return perr(p, pos, "unknown function '%s'", buf);
	}
	if (lex(p) < 0 || lex(p) < 0)	/* the name, then the '(' */
		return -1;
	if (p->tok.kind != TK_RP) {
		for (;;) {
			a = parse_expr(p);
			if (a < 0)
				return -1;
			if (last < 0)
				first = a;
			else
				p->nodes[last].next = a;
			last = a;
			if (nargs < INT_MAX)
				nargs++;
			if (p->tok.kind != TK_COMMA)
				break;
			if (lex(p) < 0)
				return -1;
		}
		if (p->tok.kind != TK_RP)
			return expected(p, "',' or ')'");
	}
	if (nargs < fns[fn].min ||
	    (fns[fn].max != ANY_ARGS && nargs > fns[fn].max))
		return arity_error(p, pos, &fns[fn], nargs);
	t = call_type(p, fn, first, nargs);
	if (t < 0)
		return -1;
	n = new_node(p, fn == F_IF ? N_IF : N_CALL, pos);
	if (n < 0)
		return -1;
	p->nodes[n].type = (uint8_t)t;
	p->nodes[n].fn = (uint8_t)fn;
	p->nodes[n].nargs = (uint32_t)nargs;
	if (link_list(p, n, first, pos) < 0)
		return -1;
	if (fn == F_IF) {
		p->nodes[n].b = nth(p, first, 1);
		p->nodes[n].c = nth(p, first, 2);
	}
	if (lex(p) < 0)
		return -1;
	return n;
}

/* Appends node n to the list first..last. */
static void append(struct parser *p, int *first, int *last, int n)
{
	if (*last < 0)
		*first = n;
	else
		p->nodes[*last].next = n;
	*last = n;
}

/*
 * Parses case [x] when ... then ... [else ...] end, with "case" the current
 * token. An "else null" is left out: it means what no else means.
 */
static int parse_case(struct parser *p)
{
	size_t pos = p->tok.pos;
	int first = -1, last = -1, subj = -1, t = FEAT_NULL, flags = 0;
	int c, v, u, n;
	uint32_t nwhen = 0;

	if (lex(p) < 0)
		return -1;
	if (!tok_is(p, "when")) {
		subj = parse_expr(p);
		if (subj < 0)
			return -1;
		append(p, &first, &last, subj);
		flags |= CASE_SUBJECT;
		if (!tok_is(p, "when"))
			return expected(p, "'when'");
	}
	while (tok_is(p, "when")) {
		if (lex(p) < 0)
			return -1;
		c = parse_expr(p);
		if (c < 0)
			return -1;
		u = p->nodes[c].type;
		if (subj >= 0 && !comparable(p->nodes[subj].type, u))
			return perr(p, p->nodes[c].pos,
				    "cannot compare %s with %s",
				    type_name(p->nodes[subj].type),
				    type_name(u));
		if (subj < 0 && u != FEAT_BOOL && u != FEAT_NULL)
			return perr(p, p->nodes[c].pos,
				    "'when' condition must be bool, got %s",
				    type_name(u));
		if (!tok_is(p, "then"))
			return expected(p, "'then'");
		if (lex(p) < 0)
			return -1;
		v = parse_expr(p);
		if (v < 0)
			return -1;
		u = unify(t, p->nodes[v].type);
		if (u < 0)
			return perr(p, p->nodes[v].pos,
				    "case branches have different types: %s and %s",
				    type_name(t), type_name(p->nodes[v].type));
		t = u;
		append(p, &first, &last, c);
		append(p, &first, &last, v);
		nwhen++;
	}
	if (tok_is(p, "else")) {
		if (lex(p) < 0)
			return -1;
		v = parse_expr(p);
		if (v < 0)
			return -1;
		u = unify(t, p->nodes[v].type);
		if (u < 0)
			return perr(p, p->nodes[v].pos,
				    "case branches have different types: %s and %s",
				    type_name(t), type_name(p->nodes[v].type));
		t = u;
		if (p->nodes[v].kind != N_NULL) {
			append(p, &first, &last, v);
			flags |= CASE_ELSE;
		}
		if (!tok_is(p, "end"))
			return expected(p, "'end'");
	} else if (!tok_is(p, "end")) {
		return expected(p, "'when', 'else' or 'end'");
	}
	n = new_node(p, N_CASE, pos);
	if (n < 0)
		return -1;
	p->nodes[n].type = (uint8_t)t;
	p->nodes[n].flags = (uint8_t)flags;
	p->nodes[n].nargs = nwhen;
	if (link_list(p, n, first, pos) < 0 || lex(p) < 0)
		return -1;
	return n;
}

/*
 * Fails on a keyword where an operand should be, pointing out the quotes
 * when a column has that name ("unexpected 'end'; write `end` for the
 * column").
 */
static int keyword_unexpected(struct parser *p)
{
	const char *s = p->text + p->tok.pos;
	size_t i, n = p->tok.len;

	for (i = 0; i < p->ncols; i++)
		if (strlen(p->cols[i].name) == n &&
		    memcmp(p->cols[i].name, s, n) == 0)
			return perr(p, p->tok.pos,
				    "unexpected '%.*s'; write `%.*s` for the column",
				    (int)n, s, (int)n, s);
	return unexpected(p);
}

/*
 * Parses the element accesses a[i][j]... that follow the operand n, with
 * the token after it current. Returns the outermost node, or -1.
 */
static int parse_postfix(struct parser *p, int n)
{
	while (n >= 0 && p->tok.kind == TK_LB) {
		size_t opos = p->tok.pos;
		int t = p->nodes[n].type, i, ti, m;

		if (t == FEAT_JSON)
			return perr(p, opos,
				    "cannot index json (a feature's list or map); only list and map columns have elements");
		if (!has_elems(t))
			return perr(p, opos,
				    "cannot index %s; only lists and maps have elements",
				    type_name(t));
		if (enter(p) < 0 || lex(p) < 0)
			return -1;
		i = parse_expr(p);
		if (i < 0)
			return -1;
		if (p->tok.kind != TK_RB)
			return expected(p, "']'");
		p->nest--;
		ti = p->nodes[i].type;
		if (t == FEAT_MAP && !fits(W_STRING, ti))
			return perr(p, p->nodes[i].pos,
				    "map<string,double> keys are strings, got %s%s",
				    type_name(ti), cast_hint(W_STRING, ti));
		if (t != FEAT_MAP && !fits(W_INT, ti))
			return perr(p, p->nodes[i].pos,
				    "a list index must be an int, got %s%s",
				    type_name(ti), cast_hint(W_INT, ti));
		m = new_node(p, N_INDEX, p->nodes[n].pos);
		if (m < 0)
			return -1;
		p->nodes[m].type = t == FEAT_STRLIST ? FEAT_STRING : FEAT_DOUBLE;
		if (link_children(p, m, n, i, -1, opos) < 0 || lex(p) < 0)
			return -1;
		n = m;
	}
	return n;
}

/* An operand, without the element accesses after it. */
static int parse_operand(struct parser *p)
{
	int n = -1;

	switch (p->tok.kind) {
	case TK_INT:
		n = int_literal(p, 0, p->tok.pos);
		break;
	case TK_DOUBLE:
		n = double_literal(p);
		break;
	case TK_STRING:
		n = new_node(p, N_STRING, p->tok.pos);
		if (n < 0)
			return -1;
		p->nodes[n].type = FEAT_STRING;
		p->nodes[n].v.s.off = p->tok.soff;
		p->nodes[n].v.s.len = p->tok.slen;
		break;
	case TK_QNAME:
		n = column(p, p->scratch.ptr, p->tok.slen, p->tok.pos);
		break;
	case TK_NAME:
		if (tok_is(p, "true") || tok_is(p, "false")) {
			n = new_node(p, N_BOOL, p->tok.pos);
			if (n < 0)
				return -1;
			p->nodes[n].type = FEAT_BOOL;
			p->nodes[n].v.i = tok_is(p, "true");
			break;
		}
		if (tok_is(p, "null")) {
			n = new_node(p, N_NULL, p->tok.pos);
			if (n < 0)
				return -1;
			p->nodes[n].type = FEAT_NULL;
			break;
		}
		if (tok_is(p, "case")) {
			if (enter(p) < 0)
				return -1;
			n = parse_case(p);
			p->nest--;
			return n;
		}
		if (is_keyword(p->text + p->tok.pos, p->tok.len) &&
		    !tok_is(p, "if"))
			return keyword_unexpected(p);
		if (p->text[skip_space(p->text, p->pos)] == '(') {
			if (enter(p) < 0)
				return -1;
			n = parse_call(p);
			p->nest--;
			return n;
		}
		if (tok_is(p, "if"))
			return perr(p, p->tok.pos, "expected '(' after 'if'");
		n = column(p, p->text + p->tok.pos, p->tok.len, p->tok.pos);
		break;
	case TK_LP:
		if (enter(p) < 0 || lex(p) < 0)
			return -1;
		n = parse_expr(p);
		if (n < 0)
			return -1;
		if (p->tok.kind != TK_RP)
			return expected(p, "')'");
		p->nest--;
		break;
	default:
		return unexpected(p);
	}
	if (n < 0 || lex(p) < 0)
		return -1;
	return n;
}

static int parse_primary(struct parser *p)
{
	return parse_postfix(p, parse_operand(p));
}

static int parse_unary(struct parser *p)
{
	size_t pos = p->tok.pos;
	struct node *nd;
	int a, n;

	if (p->tok.kind != TK_MINUS)
		return parse_primary(p);
	if (lex(p) < 0)
		return -1;
	/* -9223372036854775808 must parse although its digits alone do not. */
	if (p->tok.kind == TK_INT) {
		n = int_literal(p, 1, pos);
		if (n < 0 || lex(p) < 0)
			return -1;
		return parse_postfix(p, n);	/* an error if there is a [ */
	}
	if (enter(p) < 0)
		return -1;
	a = parse_unary(p);
	if (a < 0)
		return -1;
	p->nest--;
	nd = &p->nodes[a];
	/* A negated number is a number, so -(5) and -5 print the same. */
	if (nd->kind == N_INT) {
		nd->v.i = wrap_sub(0, nd->v.i);
		nd->pos = pos;
		return a;
	}
	if (nd->kind == N_DOUBLE) {
		nd->v.d = -nd->v.d;
		nd->pos = pos;
		return a;
	}
	if (nd->type != FEAT_INT && nd->type != FEAT_DOUBLE &&
	    nd->type != FEAT_NULL)
		return perr(p, pos, "'-' is not defined for %s",
			    type_name(nd->type));
	n = new_node(p, N_NEG, pos);
	if (n < 0)
		return -1;
	p->nodes[n].type = p->nodes[a].type;
	if (link_children(p, n, a, -1, -1, pos) < 0)
		return -1;
	return n;
}

static int parse_mul(struct parser *p)
{
	int a, b, op;
	size_t opos;

	a = parse_unary(p);
	while (a >= 0 && (p->tok.kind == TK_STAR || p->tok.kind == TK_SLASH ||
			  p->tok.kind == TK_PCT)) {
		op = p->tok.kind;
		opos = p->tok.pos;
		if (lex(p) < 0)
			return -1;
		b = parse_unary(p);
		if (b < 0)
			return -1;
		a = mk_bin(p, op, a, b, opos);
	}
	return a;
}

static int parse_add(struct parser *p)
{
	int a, b, op;
	size_t opos;

	a = parse_mul(p);
	while (a >= 0 && (p->tok.kind == TK_PLUS || p->tok.kind == TK_MINUS)) {
		op = p->tok.kind;
		opos = p->tok.pos;
		if (lex(p) < 0)
			return -1;
		b = parse_mul(p);
		if (b < 0)
			return -1;
		a = mk_bin(p, op, a, b, opos);
	}
	return a;
}

static int is_cmp_tok(enum tok_kind k)
{
	return k == TK_EQ || k == TK_NE || k == TK_LT || k == TK_LE ||
	       k == TK_GT || k == TK_GE;
}

static int mk_isnull(struct parser *p, int a, int negate, size_t pos)
{
	int n = new_node(p, negate ? N_NOTNULL : N_ISNULL, pos);

	if (n < 0)
		return -1;
	p->nodes[n].type = FEAT_BOOL;
	if (link_children(p, n, a, -1, -1, pos) < 0)
		return -1;
	return n;
}

/* Whether the word after the current token is kw (any case). */
static int next_is(const struct parser *p, const char *kw)
{
	size_t i = skip_space(p->text, p->pos), n = strlen(kw);

	return strncasecmp(p->text + i, kw, n) == 0 &&
	       !is_name_char((unsigned char)p->text[i + n]);
}

/* Parses [not] in (item, ...) after x, with "in" or "not" the current token. */
static int parse_in(struct parser *p, int x)
{
	size_t opos = p->tok.pos;
	int negate = tok_is(p, "not"), first = x, last = x, t, it, n;
	uint32_t nitems = 0;

	if ((negate && lex(p) < 0) || lex(p) < 0)
		return -1;
	if (p->tok.kind != TK_LP)
		return expected(p, "'('");
	if (enter(p) < 0 || lex(p) < 0)
		return -1;
	t = p->nodes[x].type;
	for (;;) {
		it = parse_expr(p);
		if (it < 0)
			return -1;
		if (!comparable(t, p->nodes[it].type))
			return perr(p, p->nodes[it].pos,
				    "cannot compare %s with %s", type_name(t),
				    type_name(p->nodes[it].type));
		if (t == FEAT_NULL)
			t = p->nodes[it].type;
		append(p, &first, &last, it);
		nitems++;
		if (p->tok.kind != TK_COMMA)
			break;
		if (lex(p) < 0)
			return -1;
	}
	if (p->tok.kind != TK_RP)
		return expected(p, "',' or ')'");
	p->nest--;
	if (lex(p) < 0)
		return -1;
	n = new_node(p, N_IN, p->nodes[x].pos);
	if (n < 0)
		return -1;
	p->nodes[n].type = FEAT_BOOL;
	p->nodes[n].flags = negate ? IN_NEGATED : 0;
	p->nodes[n].nargs = nitems;
	if (link_list(p, n, first, opos) < 0)
		return -1;
	return n;
}

static int parse_cmp(struct parser *p)
{
	int a, b, op, n;
	size_t opos;

	a = parse_add(p);
	if (a < 0)
		return -1;
	if (is_cmp_tok(p->tok.kind)) {
		op = p->tok.kind;
		opos = p->tok.pos;
		if (lex(p) < 0)
			return -1;
		b = parse_add(p);
		if (b < 0)
			return -1;
		/* "x == null" can only mean "x is null". */
		if ((op == TK_EQ || op == TK_NE) &&
		    (p->nodes[a].kind == N_NULL || p->nodes[b].kind == N_NULL))
			n = mk_isnull(p, p->nodes[a].kind == N_NULL ? b : a,
				      op == TK_NE, p->nodes[a].pos);
		else
			n = mk_bin(p, op, a, b, opos);
	} else if (tok_is(p, "is")) {
		int negate = 0;

		if (lex(p) < 0)
			return -1;
		if (tok_is(p, "not")) {
			negate = 1;
			if (lex(p) < 0)
				return -1;
		}
		if (!tok_is(p, "null"))
			return expected(p, "'null'");
		if (lex(p) < 0)
			return -1;
		n = mk_isnull(p, a, negate, p->nodes[a].pos);
	} else if (tok_is(p, "in") || (tok_is(p, "not") && next_is(p, "in"))) {
		n = parse_in(p, a);
	} else {
		return a;
	}
	if (n >= 0 && (is_cmp_tok(p->tok.kind) || tok_is(p, "is") ||
		       tok_is(p, "in"))) {
		char buf[MAX_QUOTE + 8];

		return perr(p, p->tok.pos,
			    "unexpected '%s'; comparisons do not chain, use 'and'",
			    tok_text(p, buf, sizeof(buf)));
	}
	return n;
}

static int parse_not(struct parser *p)
{
	size_t pos = p->tok.pos;
	int a, n, t;

	if (!tok_is(p, "not"))
		return parse_cmp(p);
	if (enter(p) < 0 || lex(p) < 0)
		return -1;
	a = parse_not(p);
	if (a < 0)
		return -1;
	p->nest--;
	t = p->nodes[a].type;
	if (t != FEAT_BOOL && t != FEAT_NULL)
		return perr(p, pos, "'not' needs a bool operand, got %s",
			    type_name(t));
	n = new_node(p, N_NOT, pos);
	if (n < 0)
		return -1;
	p->nodes[n].type = FEAT_BOOL;
	if (link_children(p, n, a, -1, -1, pos) < 0)
		return -1;
	return n;
}

static int parse_and(struct parser *p)
{
	int a, b;
	size_t opos;

	a = parse_not(p);
	while (a >= 0 && tok_is(p, "and")) {
		opos = p->tok.pos;
		if (lex(p) < 0)
			return -1;
		b = parse_not(p);
		if (b < 0)
			return -1;
		a = mk_bin(p, TK_AND, a, b, opos);
	}
	return a;
}

static int parse_expr(struct parser *p)
{
	int a, b;
	size_t opos;

	a = parse_and(p);
	while (a >= 0 && tok_is(p, "or")) {
		opos = p->tok.pos;
		if (lex(p) < 0)
			return -1;
		b = parse_and(p);
		if (b < 0)
			return -1;
		a = mk_bin(p, TK_OR, a, b, opos);
	}
	return a;
}

/* ----------------------------------------------------------------------
 * Canonical text.
 */

static int canon_string(struct feat_buf *b, const char *s, size_t n)
{
	size_t i;
	int r = feat_buf_addc(b, '\'');

	for (i = 0; i < n && r == 0; i++) {
		switch (s[i]) {
		case '\\': r = feat_buf_adds(b, "\\\\"); break;
		case '\'': r = feat_buf_adds(b, "\\'"); break;
		case '\n': r = feat_buf_adds(b, "\\n"); break;
		case '\t': r = feat_buf_adds(b, "\\t"); break;
		default: r = feat_buf_addc(b, s[i]); break;
		}
	}
	return r ? r : feat_buf_addc(b, '\'');
}

static int canon_name(struct feat_buf *b, const char *s)
{
	size_t i, n = strlen(s);
	int bare = n > 0 && is_name_start((unsigned char)s[0]) &&
		   !is_keyword(s, n);
	int r;

	for (i = 0; i < n && bare; i++)
		bare = is_name_char((unsigned char)s[i]);
	if (bare)
		return feat_buf_add(b, s, n);
	r = feat_buf_addc(b, '`');
	for (i = 0; i < n && r == 0; i++)
		r = s[i] == '`' ? feat_buf_adds(b, "``")
				: feat_buf_addc(b, s[i]);
	return r ? r : feat_buf_addc(b, '`');
}

static int canon_double(struct feat_buf *b, double d)
{
	char buf[FEAT_NUMBUF + 4];
	size_t n = feat_fmt_double(buf, d);

	/* "3" would read back as an int: keep the text a double. */
	if (!memchr(buf, '.', n) && !memchr(buf, 'e', n) &&
	    !memchr(buf, 'E', n)) {
		buf[n++] = '.';
		buf[n++] = '0';
	}
	return feat_buf_add(b, buf, n);
}

static int canon(const struct parser *p, int n, struct feat_buf *b);

/* Writes the list of nodes at first, separated by ", ". */
static int canon_list(const struct parser *p, int first, struct feat_buf *b)
{
	int k;

	for (k = first; k >= 0; k = p->nodes[k].next)
		if ((k != first && feat_buf_adds(b, ", ") < 0) ||
		    canon(p, k, b) < 0)
			return -1;
	return 0;
}

static int canon_case(const struct parser *p, const struct node *nd,
		      struct feat_buf *b)
{
	int k = nd->a;
	uint32_t i;

	if (feat_buf_adds(b, "case") < 0)
		return -1;
	if (nd->flags & CASE_SUBJECT) {
		if (feat_buf_addc(b, ' ') < 0 || canon(p, k, b) < 0)
			return -1;
		k = p->nodes[k].next;
	}
	for (i = 0; i < nd->nargs; i++) {
		if (feat_buf_adds(b, " when ") < 0 || canon(p, k, b) < 0)
			return -1;
		k = p->nodes[k].next;
		if (feat_buf_adds(b, " then ") < 0 || canon(p, k, b) < 0)
			return -1;
		k = p->nodes[k].next;
	}
	if (nd->flags & CASE_ELSE)
		if (feat_buf_adds(b, " else ") < 0 || canon(p, k, b) < 0)
			return -1;
	return feat_buf_adds(b, " end");
}

static int canon(const struct parser *p, int n, struct feat_buf *b)
{
	const struct node *nd = &p->nodes[n];

	switch (nd->kind) {
	case N_INT:
		return feat_buf_addf(b, "%" PRId64, nd->v.i);
	case N_DOUBLE:
		return canon_double(b, nd->v.d);
	case N_STRING:
		return canon_string(b, p->pool->ptr + nd->v.s.off,
				    nd->v.s.len);
	case N_BOOL:
		return feat_buf_adds(b, nd->v.i ? "true" : "false");
	case N_NULL:
		return feat_buf_adds(b, "null");
	case N_COL:
		return canon_name(b, p->cols[nd->v.col].name);
	case N_NEG:
		if (feat_buf_adds(b, "(-") < 0 || canon(p, nd->a, b) < 0)
			return -1;
		return feat_buf_addc(b, ')');
	case N_NOT:
		if (feat_buf_adds(b, "(not ") < 0 || canon(p, nd->a, b) < 0)
			return -1;
		return feat_buf_addc(b, ')');
	case N_ISNULL:
	case N_NOTNULL:
		if (feat_buf_addc(b, '(') < 0 || canon(p, nd->a, b) < 0)
			return -1;
		return feat_buf_adds(b, nd->kind == N_ISNULL ? " is null)"
							    : " is not null)");
	case N_BIN:
		if (feat_buf_addc(b, '(') < 0 || canon(p, nd->a, b) < 0 ||
		    feat_buf_addf(b, " %s ", op_text(nd->op)) < 0 ||
		    canon(p, nd->b, b) < 0)
			return -1;
		return feat_buf_addc(b, ')');
	case N_IF:
		if (feat_buf_adds(b, "if(") < 0 || canon(p, nd->a, b) < 0 ||
		    feat_buf_adds(b, ", ") < 0 || canon(p, nd->b, b) < 0 ||
		    feat_buf_adds(b, ", ") < 0 || canon(p, nd->c, b) < 0)
			return -1;
		return feat_buf_addc(b, ')');
	case N_CALL:
		if (feat_buf_adds(b, fns[nd->fn].name) < 0 ||
		    feat_buf_addc(b, '(') < 0 || canon_list(p, nd->a, b) < 0)
			return -1;
		return feat_buf_addc(b, ')');
	case N_IN:
		if (feat_buf_addc(b, '(') < 0 || canon(p, nd->a, b) < 0 ||
		    feat_buf_adds(b, nd->flags & IN_NEGATED ? " not in ("
							     : " in (") < 0 ||
		    canon_list(p, p->nodes[nd->a].next, b) < 0)
			return -1;
		return feat_buf_adds(b, "))");
	case N_CASE:
		return canon_case(p, nd, b);
	case N_INDEX:
		if (canon(p, nd->a, b) < 0 || feat_buf_addc(b, '[') < 0 ||
		    canon(p, nd->b, b) < 0)
			return -1;
		return feat_buf_addc(b, ']');
	}
	return -1;
}

/* ----------------------------------------------------------------------
 * Code generation.
 */

/* Where an operand lives while compiling. */
enum { K_CONST, K_TEMP, K_ROW };

struct opnd {
	uint8_t kind;
	uint8_t type;		/* the type it must have; T_NEVER: always null */
	uint32_t idx;
};

struct gen {
	const struct parser *p;
	struct ins *prog;
	size_t nprog, capprog;
	struct feat_value *consts;
	size_t nconst, capconst;
	uint32_t ntemp, maxtemp;
	size_t label_pc;	/* the last jump target placed */
	struct slot *slots;	/* handed to the expression at the end */
	size_t nslots;
	struct feat_error *err;
};

static int gen_nomem(struct gen *g)
{
	feat_error_nomem(g->err);
	return -1;
}

static int add_const(struct gen *g, const struct feat_value *v,
		     struct opnd *res)
{
	if (g->nconst == g->capconst) {
		size_t cap = g->capconst ? g->capconst * 2 : 8;
		struct feat_value *nc = realloc(g->consts, cap * sizeof(*nc));

		if (!nc)
			return gen_nomem(g);
		g->consts = nc;
		g->capconst = cap;
	}
	g->consts[g->nconst] = *v;
	res->kind = K_CONST;
	res->type = v->type == FEAT_NULL ? T_NEVER : (uint8_t)v->type;
	res->idx = (uint32_t)g->nconst++;
	return 0;
}

static int null_opnd(struct gen *g, struct opnd *res)
{
	struct feat_value v;

	memset(&v, 0, sizeof(v));
	v.type = FEAT_NULL;
	return add_const(g, &v, res);
}

static int push(struct gen *g, const struct ins *in)
{
	if (g->nprog == g->capprog) {
		size_t cap = g->capprog ? g->capprog * 2 : 16;
		struct ins *np = realloc(g->prog, cap * sizeof(*np));

		if (!np)
			return gen_nomem(g);
		g->prog = np;
		g->capprog = cap;
	}
	g->prog[g->nprog++] = *in;
	return 0;
}

static uint32_t new_temp(struct gen *g)
{
	uint32_t t = g->ntemp++;

	if (g->ntemp > g->maxtemp)
		g->maxtemp = g->ntemp;
	return t;
}

static void set_opnd(struct ins *in, int which, const struct opnd *o)
{
	in->bank |= (uint8_t)(o->kind << (2 * which));
	switch (which) {
	case 0: in->a = o->idx; in->ta = o->type; break;
	case 1: in->b = o->idx; in->tb = o->type; break;
	default: in->c = o->idx; in->tc = o->type; break;
	}
}

/* Appends op over operands a, b, c (any may be NULL) writing temporary dst. */
static int push_op(struct gen *g, uint8_t op, uint8_t rt, uint8_t mask,
		   const struct opnd *a, const struct opnd *b,
		   const struct opnd *c, uint32_t dst)
{
	struct ins in;

	memset(&in, 0, sizeof(in));
	in.op = op;
	in.rt = rt;
	in.mask = mask;
	if (a)
		set_opnd(&in, 0, a);
	if (b)
		set_opnd(&in, 1, b);
	if (c)
		set_opnd(&in, 2, c);
	in.dst = dst;
	return push(g, &in);
}

/*
 * Gives the instruction about to be emitted a slot for the strings it makes,
 * of size bytes to start with (0: allocated when first needed). Returns the
 * slot's number, or -1 when out of memory.
 */
static int64_t new_slot(struct gen *g, size_t size)
{
	struct slot *ns = realloc(g->slots, (g->nslots + 1) * sizeof(*ns));

	if (!ns)
		return gen_nomem(g);
	g->slots = ns;
	ns[g->nslots].ptr = NULL;
	ns[g->nslots].cap = 0;
	if (size && !slot_room(&ns[g->nslots], size))
		return gen_nomem(g);
	return (int64_t)g->nslots++;
}

/*
 * Emits the instructions ins[0..n) (one, or an n-ary one and its OP_ARGs),
 * which have their operands, writing a new temporary; or, when all operands
 * are constants, runs them now and yields a new constant. A string made at
 * compile time stays in the instruction's slot, which nothing else writes.
 */
static int emit_ins(struct gen *g, struct ins *ins, size_t n, int folds,
		    struct opnd *res)
{
	struct opnd r;
	size_t i;

	if (folds) {
		struct feat_value v;
		struct ins *prog;

		memset(&v, 0, sizeof(v));
		if (add_const(g, &v, &r) < 0)
			return -1;
		prog = malloc((n + 1) * sizeof(*prog));
		if (!prog)
			return gen_nomem(g);
		/*
		 * Constants are registers 0..nconst at run time too, so the
		 * instructions run as they are over the constant array.
		 */
		memcpy(prog, ins, n * sizeof(*prog));
		memset(&prog[n], 0, sizeof(prog[n]));
		prog[0].dst = r.idx;
		prog[n].op = OP_END;
		run(prog, g->consts, NULL, g->slots);
		free(prog);
		r.type = g->consts[r.idx].type == FEAT_NULL ? T_NEVER : ins->rt;
		*res = r;
		return 0;
	}
	r.kind = K_TEMP;
	r.type = ins->rt;
	r.idx = new_temp(g);
	ins[0].dst = r.idx;
	for (i = 0; i < n; i++)
		if (push(g, &ins[i]) < 0)
			return -1;
	*res = r;
	return 0;
}

/* Makes the instruction op over operands a, b, c (any may be NULL). */
static void make_ins(struct ins *in, uint8_t op, uint8_t rt, uint8_t mask,
		     const struct opnd *a, const struct opnd *b,
		     const struct opnd *c)
{
	memset(in, 0, sizeof(*in));
	in->op = op;
	in->rt = rt;
	in->mask = mask;
	if (a)
		set_opnd(in, 0, a);
	if (b)
		set_opnd(in, 1, b);
	if (c)
		set_opnd(in, 2, c);
}

static int all_const(const struct opnd *a, const struct opnd *b,
		     const struct opnd *c)
{
	return (!a || a->kind == K_CONST) && (!b || b->kind == K_CONST) &&
	       (!c || c->kind == K_CONST);
}

/*
 * Emits op over operands a, b, c (any may be NULL) into a new temporary, or,
 * when all operands are constants, runs it now and yields a new constant.
 */
static int emit(struct gen *g, uint8_t op, uint8_t rt, uint8_t mask,
		const struct opnd *a, const struct opnd *b,
		const struct opnd *c, struct opnd *res)
{
	struct ins in;

	make_ins(&in, op, rt, mask, a, b, c);
	return emit_ins(g, &in, 1, all_const(a, b, c), res);
}

/* Like emit() for an instruction that makes strings in a slot of size. */
static int emit_slot(struct gen *g, uint8_t op, const struct opnd *a,
		     size_t size, struct opnd *res)
{
	int64_t slot = new_slot(g, size);
	struct ins in;

	if (slot < 0)
		return -1;
	make_ins(&in, op, FEAT_STRING, 0, a, NULL, NULL);
	in.c = (uint32_t)slot;
	return emit_ins(g, &in, 1, all_const(a, NULL, NULL), res);
}

/*
 * Emits the n-ary instruction head over the n operands ops, which go into
 * the OP_ARGs after it.
 */
static int emit_nary(struct gen *g, struct ins *head, const struct opnd *ops,
		     size_t n, struct opnd *res)
{
	size_t nins = 1 + (n + 2) / 3, k;
	struct ins *ins = calloc(nins, sizeof(*ins));
	int folds = head->bank == 0, ret;	/* K_CONST is 0 */

	if (!ins)
		return gen_nomem(g);
	ins[0] = *head;
	ins[0].b = (uint32_t)n;
	for (k = 0; k < n; k++) {
		if (k % 3 == 0)
			ins[1 + k / 3].op = OP_ARG;
		set_opnd(&ins[1 + k / 3], (int)(k % 3), &ops[k]);
		if (ops[k].kind != K_CONST)
			folds = 0;
	}
	ret = emit_ins(g, ins, nins, folds, res);
	free(ins);
	return ret;
}

/* Emits a jump (to be patched) and returns its index in *at. */
static int emit_jump(struct gen *g, uint8_t op, const struct opnd *a,
		     uint32_t dst, size_t *at)
{
	struct ins in;

	memset(&in, 0, sizeof(in));
	in.op = op;
	if (a)
		set_opnd(&in, 0, a);
	in.dst = dst;
	*at = g->nprog;
	return push(g, &in);
}

/* Points the jump at index at to the next instruction. */
static void place_label(struct gen *g, size_t at)
{
	g->prog[at].c = (uint32_t)g->nprog;
	g->label_pc = g->nprog;
}

/*
 * Lists of jumps to one label still to be placed: each jump's c holds the
 * index of the one before it, NO_JUMP ending the list.
 */
#define NO_JUMP UINT32_MAX

static void add_to_list(struct gen *g, size_t at, uint32_t *list)
{
	g->prog[at].c = *list;
	*list = (uint32_t)at;
}

/* Points every jump of list to the next instruction. */
static void place_labels(struct gen *g, uint32_t list)
{
	while (list != NO_JUMP) {
		uint32_t prev = g->prog[list].c;

		g->prog[list].c = (uint32_t)g->nprog;
		list = prev;
	}
	g->label_pc = g->nprog;
}

/* Converts an int or timestamp operand to double. */
static int to_double(struct gen *g, struct opnd *o)
{
	if (o->type == FEAT_DOUBLE || o->type == T_NEVER)
		return 0;
	return emit(g, OP_I2D, FEAT_DOUBLE, 0, o, NULL, NULL, o);
}

/* Converts o to the type of an if() result. */
static int to_type(struct gen *g, struct opnd *o, int type)
{
	if (type == FEAT_DOUBLE)
		return to_double(g, o);
	return 0;
}

/*
 * Puts o into temporary r. When o is the temporary the last instruction
 * wrote, and nothing jumps past that instruction, it writes r instead.
 */
static int move_to(struct gen *g, const struct opnd *o, uint32_t r,
		   size_t since)
{
	if (o->kind == K_TEMP && o->idx == r)
		return 0;
	if (o->kind == K_TEMP && g->nprog > since && g->label_pc != g->nprog) {
		struct ins *last = &g->prog[g->nprog - 1];

		if ((op_uses[last->op] & (U_DST | U_JMP)) == U_DST &&
		    last->dst == o->idx) {
			last->dst = r;
			return 0;
		}
	}
	return push_op(g, OP_MOV, o->type, 0, o, NULL, NULL, r);
}

static int gen(struct gen *g, int n, struct opnd *res);

static int gen_arith(struct gen *g, const struct node *nd, struct opnd *res)
{
	static const uint8_t iops[] = {
		[TK_PLUS] = OP_ADD_I, [TK_MINUS] = OP_SUB_I,
		[TK_STAR] = OP_MUL_I, [TK_SLASH] = OP_DIV_I,
		[TK_PCT] = OP_MOD_I,
	};
	static const uint8_t dops[] = {
		[TK_PLUS] = OP_ADD_D, [TK_MINUS] = OP_SUB_D,
		[TK_STAR] = OP_MUL_D, [TK_SLASH] = OP_DIV_D,
		[TK_PCT] = OP_MOD_D,
	};
	uint32_t mark = g->ntemp;
	int dbl = nd->type == FEAT_DOUBLE;
	struct opnd a, b;

	if (gen(g, nd->a, &a) < 0 || (dbl && to_double(g, &a) < 0) ||
	    gen(g, nd->b, &b) < 0 || (dbl && to_double(g, &b) < 0))
		return -1;
	g->ntemp = mark;
	if (a.type == T_NEVER || b.type == T_NEVER)
		return null_opnd(g, res);
	return emit(g, dbl ? dops[nd->op] : iops[nd->op], nd->type, 0, &a, &b,
		    NULL, res);
}

static int gen_cmp(struct gen *g, const struct node *nd, struct opnd *res)
{
	static const uint8_t masks[] = {
		[TK_EQ] = CMP_EQ, [TK_NE] = CMP_NE, [TK_LT] = CMP_LT,
		[TK_LE] = CMP_LE, [TK_GT] = CMP_GT, [TK_GE] = CMP_GE,
	};
	int ta = g->p->nodes[nd->a].type, tb = g->p->nodes[nd->b].type;
	int dbl = ta == FEAT_DOUBLE || tb == FEAT_DOUBLE;
	uint32_t mark = g->ntemp;
	struct opnd a, b;
	uint8_t op;

	if (gen(g, nd->a, &a) < 0 || (dbl && to_double(g, &a) < 0) ||
	    gen(g, nd->b, &b) < 0 || (dbl && to_double(g, &b) < 0))
		return -1;
	g->ntemp = mark;
	if (a.type == T_NEVER || b.type == T_NEVER)
		return null_opnd(g, res);
	if (dbl)
		op = OP_CMP_D;
	else if (ta == FEAT_STRING)
		op = nd->op == TK_EQ || nd->op == TK_NE ? OP_EQ_S : OP_CMP_S;
	else
		op = OP_CMP_I;
	return emit(g, op, FEAT_BOOL, masks[nd->op], &a, &b, NULL, res);
}

static int gen_logic(struct gen *g, const struct node *nd, struct opnd *res)
{
	int is_and = nd->op == TK_AND;
	uint32_t mark = g->ntemp, r;
	struct opnd a, b;
	size_t jump;

	if (gen(g, nd->a, &a) < 0)
		return -1;
	if (a.kind == K_CONST && a.type != T_NEVER) {
		/* false and x, true or x: decided; true and x, false or x: x */
		if ((g->consts[a.idx].u.i == 0) == is_and) {
			*res = a;
			return 0;
		}
		g->ntemp = mark;
		return gen(g, nd->b, res);
	}
	if (g->p->nodes[nd->b].cost <= CHEAP_COST || a.kind == K_CONST) {
		if (gen(g, nd->b, &b) < 0)
			return -1;
		g->ntemp = mark;
		return emit(g, is_and ? OP_AND : OP_OR, FEAT_BOOL, 0, &a, &b,
			    NULL, res);
	}
	/*
	 * Skip the right side when the left decides. The result may go to a's
	 * own register: the jump writes it only when a no longer matters, and
	 * the final instruction reads a before writing.
	 */
	r = a.kind == K_TEMP ? a.idx : new_temp(g);
	if (emit_jump(g, is_and ? OP_JF_SET : OP_JT_SET, &a, r, &jump) < 0 ||
	    gen(g, nd->b, &b) < 0 ||
	    push_op(g, is_and ? OP_AND : OP_OR, FEAT_BOOL, 0, &a, &b, NULL,
		    r) < 0)
		return -1;
	place_label(g, jump);
	g->ntemp = r + 1;
	res->kind = K_TEMP;
	res->type = FEAT_BOOL;
	res->idx = r;
	return 0;
}

/* Generates node n, or the null literal when n is -1. */
static int gen_or_null(struct gen *g, int n, struct opnd *res)
{
	return n < 0 ? null_opnd(g, res) : gen(g, n, res);
}

static uint32_t cost_of(const struct gen *g, int n)
{
	return n < 0 ? 0 : g->p->nodes[n].cost;
}

/* if(cn, tn, en) of type t; en -1 stands for null. */
static int gen_if(struct gen *g, int t, int cn, int tn, int en,
		  struct opnd *res)
{
	uint32_t mark = g->ntemp, r;
	struct opnd c, a, b;
	size_t jnt, jmp, since;

	if (t == FEAT_NULL)
		return null_opnd(g, res);
	if (gen(g, cn, &c) < 0)
		return -1;
	if (c.kind == K_CONST) {
		int yes = c.type != T_NEVER && g->consts[c.idx].u.i;

		g->ntemp = mark;
		return gen_or_null(g, yes ? tn : en, res) < 0 ? -1 :
		       to_type(g, res, t);
	}
	if (cost_of(g, tn) + cost_of(g, en) <= CHEAP_COST) {
		if (gen(g, tn, &a) < 0 || to_type(g, &a, t) < 0 ||
		    gen_or_null(g, en, &b) < 0 || to_type(g, &b, t) < 0)
			return -1;
		g->ntemp = mark;
		return emit(g, OP_SEL, (uint8_t)t, 0, &a, &b, &c, res);
	}
	/* The condition is read by the jump only, so r may reuse its slot. */
	g->ntemp = mark;
	r = new_temp(g);
	if (emit_jump(g, OP_JNT, &c, 0, &jnt) < 0)
		return -1;
	since = g->nprog;
	if (gen(g, tn, &a) < 0 || to_type(g, &a, t) < 0 ||
	    move_to(g, &a, r, since) < 0 ||
	    emit_jump(g, OP_JMP, NULL, 0, &jmp) < 0)
		return -1;
	place_label(g, jnt);
	g->ntemp = mark + 1;
	since = g->nprog;
	if (gen_or_null(g, en, &b) < 0 || to_type(g, &b, t) < 0 ||
	    move_to(g, &b, r, since) < 0)
		return -1;
	place_label(g, jmp);
	g->ntemp = mark + 1;
	res->kind = K_TEMP;
	res->type = (uint8_t)t;
	res->idx = r;
	return 0;
}

/*
 * Emits the comparison a == b for "case x when b" and "in": no null
 * special case, a null on either side gives null.
 */
static int gen_eq(struct gen *g, struct opnd *a, struct opnd *b, int at,
		  int bt, struct opnd *res)
{
	int dbl = at == FEAT_DOUBLE || bt == FEAT_DOUBLE;
	uint8_t op = dbl ? OP_CMP_D : at == FEAT_STRING || bt == FEAT_STRING ?
		     OP_EQ_S : OP_CMP_I;

	if (a->type == T_NEVER || b->type == T_NEVER)
		return null_opnd(g, res);
	if (dbl && (to_double(g, a) < 0 || to_double(g, b) < 0))
		return -1;
	return emit(g, op, FEAT_BOOL, CMP_EQ, a, b, NULL, res);
}

/*
 * case [x] when c1 then v1 ... [else e] end: a chain of tests, each jumping
 * to the next when it fails and to the end when it holds. Tests that are
 * constant are decided here. A searched case of one "when" is an if().
 */
static int gen_case(struct gen *g, const struct node *nd, struct opnd *res)
{
	const struct node *nodes = g->p->nodes;
	int t = nd->type, k = nd->a, fin = -1, st = FEAT_NULL, used = 0;
	uint32_t mark = g->ntemp, r, ends = NO_JUMP, i;
	struct opnd subj, c, w, v;
	size_t jnt, jmp, since;

	if (t == FEAT_NULL)
		return null_opnd(g, res);
	if (!(nd->flags & CASE_SUBJECT) && nd->nargs == 1)
		return gen_if(g, t, k, nodes[k].next,
			      nd->flags & CASE_ELSE ? nodes[nodes[k].next].next
						    : -1, res);
	if (nd->flags & CASE_SUBJECT) {
		st = nodes[k].type;
		if (gen(g, k, &subj) < 0)
			return -1;
		k = nodes[k].next;
		/* Convert x once if any "when" is a double. */
		if (st != FEAT_DOUBLE)
			for (i = 0, fin = k; i < nd->nargs;
			     i++, fin = nodes[nodes[fin].next].next)
				if (nodes[fin].type == FEAT_DOUBLE) {
					if (to_double(g, &subj) < 0)
						return -1;
					st = FEAT_DOUBLE;
					break;
				}
		fin = -1;
	}
	r = new_temp(g);
	for (i = 0; i < nd->nargs; i++, k = nodes[nodes[k].next].next) {
		g->ntemp = r + 1;
		if (nd->flags & CASE_SUBJECT) {
			if (gen(g, k, &w) < 0 ||
			    gen_eq(g, &subj, &w, st, nodes[k].type, &c) < 0)
				return -1;
		} else if (gen(g, k, &c) < 0) {
			return -1;
		}
		if (c.kind == K_CONST) {
			if (c.type != T_NEVER && g->consts[c.idx].u.i) {
				fin = nodes[k].next;
				goto tail;
			}
			continue;
		}
		if (emit_jump(g, OP_JNT, &c, 0, &jnt) < 0)
			return -1;
		g->ntemp = r + 1;
		since = g->nprog;
		if (gen(g, nodes[k].next, &v) < 0 || to_type(g, &v, t) < 0 ||
		    move_to(g, &v, r, since) < 0 ||
		    emit_jump(g, OP_JMP, NULL, 0, &jmp) < 0)
			return -1;
		add_to_list(g, jmp, &ends);
		place_label(g, jnt);
		used = 1;
	}
	if (nd->flags & CASE_ELSE)
		fin = k;
tail:
	/* Nothing was emitted but constant tests: the case is fin alone. */
	g->ntemp = used ? r + 1 : mark;
	since = g->nprog;
	if (gen_or_null(g, fin, &v) < 0 || to_type(g, &v, t) < 0)
		return -1;
	if (!used) {
		*res = v;
		return 0;
	}
	if (move_to(g, &v, r, since) < 0)
		return -1;
	place_labels(g, ends);
	g->ntemp = r + 1;
	res->kind = K_TEMP;
	res->type = (uint8_t)t;
	res->idx = r;
	return 0;
}

/*
 * coalesce(a, ...): the first argument that is not null. Cheap arguments
 * make a chain of OP_COAL; others are skipped by a jump once one is found.
 */
static int gen_coalesce(struct gen *g, const struct node *nd,
			struct opnd *res)
{
	const struct node *nodes = g->p->nodes;
	int t = nd->type, k;
	uint32_t mark = g->ntemp, r, cost = 0, ends = NO_JUMP;
	struct opnd acc, b, rr;
	size_t at, since;
	int used = 0;

	if (t == FEAT_NULL)
		return null_opnd(g, res);
	for (k = nodes[nd->a].next; k >= 0; k = nodes[k].next)
		cost += nodes[k].cost;
	if (cost <= CHEAP_COST) {
		if (gen(g, nd->a, &acc) < 0 || to_type(g, &acc, t) < 0)
			return -1;
		for (k = nodes[nd->a].next; k >= 0; k = nodes[k].next) {
			if (acc.kind == K_CONST && acc.type != T_NEVER)
				break;	/* decided */
			if (gen(g, k, &b) < 0 || to_type(g, &b, t) < 0)
				return -1;
			if (b.type == T_NEVER)
				continue;
			if (acc.type == T_NEVER) {
				acc = b;
				continue;
			}
			g->ntemp = mark;
			if (emit(g, OP_COAL, (uint8_t)t, 0, &acc, &b, NULL,
				 &acc) < 0)
				return -1;
		}
		*res = acc;
		return 0;
	}
	r = new_temp(g);
	rr.kind = K_TEMP;
	rr.type = (uint8_t)t;
	rr.idx = r;
	for (k = nd->a; k >= 0; k = nodes[k].next) {
		g->ntemp = r + 1;
		since = g->nprog;
		if (gen(g, k, &b) < 0 || to_type(g, &b, t) < 0)
			return -1;
		if (b.type == T_NEVER)
			continue;
		if (move_to(g, &b, r, since) < 0)
			return -1;
		used = 1;
		if (b.kind == K_CONST)
			break;	/* never null: the rest cannot matter */
		if (nodes[k].next >= 0) {
			if (emit_jump(g, OP_JNN, &rr, 0, &at) < 0)
				return -1;
			add_to_list(g, at, &ends);
		}
	}
	if (!used) {
		g->ntemp = mark;
		return null_opnd(g, res);
	}
	place_labels(g, ends);
	g->ntemp = r + 1;
	*res = rr;
	return 0;
}

/* x [not] in (items): one n-ary instruction over x and the items. */
static int gen_in(struct gen *g, const struct node *nd, struct opnd *res)
{
	const struct node *nodes = g->p->nodes;
	uint32_t mark = g->ntemp, i;
	int dbl = 0, str = 0, k, ret = -1;
	struct opnd x, *ops;
	struct ins head;
	uint8_t op;

	for (k = nd->a; k >= 0; k = nodes[k].next) {
		dbl |= nodes[k].type == FEAT_DOUBLE;
		str |= nodes[k].type == FEAT_STRING;
	}
	if (gen(g, nd->a, &x) < 0 || (dbl && to_double(g, &x) < 0))
		return -1;
	if (x.type == T_NEVER) {
		g->ntemp = mark;
		return null_opnd(g, res);
	}
	ops = calloc(nd->nargs, sizeof(*ops));
	if (!ops)
		return gen_nomem(g);
	for (i = 0, k = nodes[nd->a].next; k >= 0; i++, k = nodes[k].next)
		if (gen(g, k, &ops[i]) < 0 ||
		    (dbl && to_double(g, &ops[i]) < 0))
			goto out;
	op = dbl ? OP_IN_D : str ? OP_IN_S : OP_IN_I;
	g->ntemp = mark;
	make_ins(&head, op, FEAT_BOOL,
		 nd->flags & IN_NEGATED ? IN_NOT : 0, &x, NULL, NULL);
	ret = emit_nary(g, &head, ops, nd->nargs, res);
out:
	free(ops);
	return ret;
}

/* concat(a, ...): one n-ary instruction; null if an argument is. */
static int gen_concat(struct gen *g, const struct node *nd,
		      struct opnd *res)
{
	const struct node *nodes = g->p->nodes;
	uint32_t mark = g->ntemp, i;
	struct opnd *ops;
	struct ins head;
	int64_t slot;
	int k, ret = -1;

	ops = calloc(nd->nargs, sizeof(*ops));
	if (!ops)
		return gen_nomem(g);
	for (i = 0, k = nd->a; k >= 0; i++, k = nodes[k].next) {
		if (gen(g, k, &ops[i]) < 0)
			goto out;
		if (ops[i].type == T_NEVER) {
			g->ntemp = mark;
			ret = null_opnd(g, res);
			goto out;
		}
	}
	g->ntemp = mark;
	slot = new_slot(g, 0);
	if (slot < 0)
		goto out;
	make_ins(&head, OP_CONCAT, FEAT_STRING, 0, NULL, NULL, NULL);
	head.c = (uint32_t)slot;
	ret = emit_nary(g, &head, ops, nd->nargs, res);
out:
	free(ops);
	return ret;
}

/* The opcode of a function of one or two arguments, by argument type. */
static uint8_t fn_op(int fn, int at)
{
	switch (fn) {
	case F_INT:
		return at == FEAT_DOUBLE ? OP_D2I : at == FEAT_STRING ? OP_S2I
								   : OP_RETYPE;
	case F_DOUBLE:
		return at == FEAT_STRING ? OP_S2D : OP_I2D;
	case F_STRING:
		return at == FEAT_INT ? OP_I2S : at == FEAT_DOUBLE ? OP_D2S :
		       at == FEAT_BOOL ? OP_B2S : at == FEAT_JSON ? OP_RETYPE :
		       OP_T2S;
	case F_TIMESTAMP:
		return at == FEAT_DOUBLE ? OP_D2I : at == FEAT_STRING ? OP_S2T
								   : OP_RETYPE;
	case F_BOOL:
		return at == FEAT_STRING ? OP_S2B : OP_I2B;
	case F_LOWER: return OP_LOWER;
	case F_UPPER: return OP_UPPER;
	case F_LENGTH: return has_elems(at) ? OP_LIST_LEN : OP_LENGTH;
	case F_CONTAINS: return has_elems(at) ? OP_LIST_HAS : OP_CONTAINS;
	case F_SPLIT: return OP_SPLIT;
	case F_STARTS_WITH: return OP_STARTS;
	case F_ENDS_WITH: return OP_ENDS;
	case F_ABS: return at == FEAT_INT ? OP_ABS_I : OP_ABS_D;
	case F_LN: return OP_LN;
	case F_EXP: return OP_EXP;
	case F_SQRT: return OP_SQRT;
	case F_POW: return OP_POW;
	case F_FLOOR: return OP_FLOOR;
	case F_CEIL: return OP_CEIL;
	case F_ROUND: return at == FEAT_INT ? OP_ROUNDN_I : OP_ROUNDN_D;
	case F_HOUR: return OP_HOUR;
	case F_DAY_OF_WEEK: return OP_DOW;
	case F_DATE: return OP_DATE;
	}
	return OP_END;
}

/* A call of any function but if(). */
static int gen_call(struct gen *g, const struct node *nd, struct opnd *res)
{
	const struct node *nodes = g->p->nodes;
	int fn = nd->fn, at = nodes[nd->a].type, k, i;
	uint32_t mark = g->ntemp;
	struct opnd ops[3];
	uint8_t op;

	switch (fn) {
	case F_COALESCE:
		return gen_coalesce(g, nd, res);
	case F_CONCAT:
		return gen_concat(g, nd, res);
	}
	if (nd->type == FEAT_NULL)
		return null_opnd(g, res);
	for (i = 0, k = nd->a; k >= 0 && i < 3; i++, k = nodes[k].next) {
		if (gen(g, k, &ops[i]) < 0)
			return -1;
		if ((fn == F_LN || fn == F_EXP || fn == F_SQRT || fn == F_POW ||
		     (fn == F_CONTAINS && at == FEAT_VECTOR && i == 1)) &&
		    to_double(g, &ops[i]) < 0)
			return -1;
	}
	g->ntemp = mark;
	for (k = 0; k < i; k++)
		if (ops[k].type == T_NEVER)
			return null_opnd(g, res);
	/* Casts to the type the value has already, and rounding an int. */
	if ((fn == F_INT && at == FEAT_INT) ||
	    (fn == F_DOUBLE && at == FEAT_DOUBLE) ||
	    (fn == F_STRING && at == FEAT_STRING) ||
	    (fn == F_TIMESTAMP && at == FEAT_TIMESTAMP) ||
	    (fn == F_BOOL && at == FEAT_BOOL) ||
	    ((fn == F_FLOOR || fn == F_CEIL || fn == F_ROUND) && i == 1 &&
	     at == FEAT_INT)) {
		*res = ops[0];
		return 0;
	}
	if (fn == F_SUBSTR) {
		if (i == 2) {	/* to the end */
			struct feat_value v;

			memset(&v, 0, sizeof(v));
			v.type = FEAT_INT;
			v.u.i = INT64_MAX;
			if (add_const(g, &v, &ops[2]) < 0)
				return -1;
		}
		return emit(g, OP_SUBSTR, FEAT_STRING, 0, &ops[0], &ops[1],
			    &ops[2], res);
	}
	op = fn == F_ROUND && i == 1 ? OP_ROUND : fn_op(fn, at);
	switch (op) {
	case OP_I2S: case OP_D2S: case OP_T2S: case OP_DATE:
		return emit_slot(g, op, &ops[0], 40, res);
	case OP_LOWER: case OP_UPPER:
		return emit_slot(g, op, &ops[0], 0, res);
	case OP_SPLIT: {
		int64_t slot = new_slot(g, 0);
		struct ins in;

		if (slot < 0)
			return -1;
		make_ins(&in, op, FEAT_STRLIST, 0, &ops[0], &ops[1], NULL);
		in.c = (uint32_t)slot;
		return emit_ins(g, &in, 1, all_const(&ops[0], &ops[1], NULL),
				res);
	}
	}
	return emit(g, op, (uint8_t)nd->type, 0, &ops[0], i > 1 ? &ops[1] : NULL,
		    NULL, res);
}

static int gen(struct gen *g, int n, struct opnd *res)
{
	const struct node *nd = &g->p->nodes[n];
	const struct parser *p = g->p;
	uint32_t mark = g->ntemp;
	struct feat_value v;
	struct opnd a;
	int t;

	memset(&v, 0, sizeof(v));
	switch (nd->kind) {
	case N_INT:
	case N_BOOL:
		v.type = nd->kind == N_INT ? FEAT_INT : FEAT_BOOL;
		v.u.i = nd->v.i;
		return add_const(g, &v, res);
	case N_DOUBLE:
		v.type = FEAT_DOUBLE;
		v.u.d = nd->v.d;
		return add_const(g, &v, res);
	case N_STRING:
		v.type = FEAT_STRING;
		v.u.s.ptr = p->pool->ptr + nd->v.s.off;
		v.u.s.len = nd->v.s.len;
		return add_const(g, &v, res);
	case N_NULL:
		return null_opnd(g, res);
	case N_COL:
		t = p->cols[nd->v.col].type;
		res->kind = K_ROW;
		res->type = t == FEAT_NULL ? T_NEVER : (uint8_t)t;
		res->idx = (uint32_t)nd->v.col;
		return 0;
	case N_NEG:
		if (gen(g, nd->a, &a) < 0)
			return -1;
		g->ntemp = mark;
		if (a.type == T_NEVER)
			return null_opnd(g, res);
		return emit(g, nd->type == FEAT_DOUBLE ? OP_NEG_D : OP_NEG_I,
			    nd->type, 0, &a, NULL, NULL, res);
	case N_NOT:
		if (gen(g, nd->a, &a) < 0)
			return -1;
		g->ntemp = mark;
		if (a.type == T_NEVER)
			return null_opnd(g, res);
		return emit(g, OP_NOT, FEAT_BOOL, 0, &a, NULL, NULL, res);
	case N_ISNULL:
	case N_NOTNULL:
		if (gen(g, nd->a, &a) < 0)
			return -1;
		g->ntemp = mark;
		return emit(g, nd->kind == N_ISNULL ? OP_ISNULL : OP_NOTNULL,
			    FEAT_BOOL, 0, &a, NULL, NULL, res);
	case N_BIN:
		if (nd->op == TK_AND || nd->op == TK_OR)
			return gen_logic(g, nd, res);
		if (nd->op >= TK_EQ && nd->op <= TK_GE)
			return gen_cmp(g, nd, res);
		return gen_arith(g, nd, res);
	case N_IF:
		return gen_if(g, nd->type, nd->a, nd->b, nd->c, res);
	case N_CALL:
		return gen_call(g, nd, res);
	case N_CASE:
		return gen_case(g, nd, res);
	case N_IN:
		return gen_in(g, nd, res);
	case N_INDEX: {
		struct opnd b;
		int at = p->nodes[nd->a].type;

		if (gen(g, nd->a, &a) < 0 || gen(g, nd->b, &b) < 0)
			return -1;
		g->ntemp = mark;
		if (a.type == T_NEVER || b.type == T_NEVER)
			return null_opnd(g, res);
		return emit(g, at == FEAT_VECTOR ? OP_INDEX_V :
			       at == FEAT_STRLIST ? OP_INDEX_L : OP_MAP_GET,
			    nd->type, 0, &a, &b, NULL, res);
	}
	}
	return -1;
}

/* Rewrites compile-time operand places into run-time register numbers. */
static uint32_t reloc(uint8_t kind, uint32_t idx, size_t nconst)
{
	return kind == K_TEMP ? (uint32_t)(idx + nconst) : idx;
}

static void relocate(struct gen *g)
{
	size_t i;
	int k;

	for (i = 0; i < g->nprog; i++) {
		struct ins *in = &g->prog[i];
		uint8_t uses = op_uses[in->op], bank = 0;
		uint32_t *idx[3] = { &in->a, &in->b, &in->c };

		for (k = 0; k < 3; k++) {
			uint8_t kind = (in->bank >> (2 * k)) & 3;

			if (!(uses & (1 << k)))
				continue;
			if (k == 2 && (uses & U_JMP))
				continue;
			*idx[k] = reloc(kind, *idx[k], g->nconst);
			if (kind == K_ROW)
				bank |= (uint8_t)(1 << k);
		}
		if (uses & U_DST)
			in->dst = reloc(K_TEMP, in->dst, g->nconst);
		in->bank = bank;
	}
}

static void free_slots(struct slot *slots, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(slots[i].ptr);
	free(slots);
}

static int finish(struct gen *g, struct feat_expr *e, const struct opnd *res)
{
	struct ins end;
	size_t nregs = g->nconst + g->maxtemp, i;

	memset(&end, 0, sizeof(end));
	end.op = OP_END;
	if (push(g, &end) < 0)
		return -1;
	relocate(g);
	e->regs = calloc(nregs ? nregs : 1, sizeof(*e->regs));
	if (!e->regs)
		return gen_nomem(g);
	for (i = 0; i < g->nconst; i++)
		e->regs[i] = g->consts[i];
	for (; i < nregs; i++)
		e->regs[i].type = FEAT_NULL;
	e->nregs = nregs ? nregs : 1;
	e->prog = g->prog;
	g->prog = NULL;
	e->slots = g->slots;
	e->nslots = g->nslots;
	g->slots = NULL;
	g->nslots = 0;
	e->res_row = res->kind == K_ROW;
	e->res_type = res->type;
	e->res_idx = reloc(res->kind, res->idx, g->nconst);
	return 0;
}

/* ----------------------------------------------------------------------
 * The public functions.
 */

struct feat_expr *feat_expr_compile(const char *text,
				    const struct feat_expr_col *cols,
				    size_t ncols, struct feat_error *err)
{
	struct feat_buf pool = FEAT_BUF_INIT, cb = FEAT_BUF_INIT;
	struct feat_expr *e = NULL, *ret = NULL;
	struct parser p;
	struct gen g;
	struct opnd res;
	int root;

	memset(&p, 0, sizeof(p));
	memset(&g, 0, sizeof(g));
	p.text = text;
	p.cols = cols;
	p.ncols = ncols;
	p.pool = &pool;
	p.err = err;
	if (err)
		feat_error_clear(err);

	e = calloc(1, sizeof(*e));
	if (!e) {
		nomem(&p);
		goto out;
	}
	if (lex(&p) < 0)
		goto out;
	root = parse_expr(&p);
	if (root < 0)
		goto out;
	if (p.tok.kind != TK_EOF) {
		unexpected(&p);
		goto out;
	}
	e->type = (enum feat_type)p.nodes[root].type;
	if (canon(&p, root, &cb) < 0 || feat_buf_addc(&cb, '\0') < 0) {
		nomem(&p);
		goto out;
	}
	e->canon = cb.ptr;
	e->canon_len = cb.len - 1;
	cb.ptr = NULL;

	/* The pool no longer grows, so pointers into it stay put. */
	g.p = &p;
	g.err = err;
	g.label_pc = SIZE_MAX;
	if (gen(&g, root, &res) < 0 || finish(&g, e, &res) < 0)
		goto out;
	e->pool = pool.ptr;
	pool.ptr = NULL;
	ret = e;
	e = NULL;
out:
	feat_expr_free(e);
	feat_buf_release(&pool);
	feat_buf_release(&cb);
	feat_buf_release(&p.scratch);
	free(p.nodes);
	free(g.prog);
	free(g.consts);
	free_slots(g.slots, g.nslots);
	return ret;
}

enum feat_type feat_expr_type(const struct feat_expr *e)
{
	return e->type;
}

void feat_expr_eval(struct feat_expr *e, const struct feat_value *row,
		    struct feat_value *out)
{
	const struct feat_value *r;

	run(e->prog, e->regs, row, e->slots);
	r = (e->res_row ? row : e->regs) + e->res_idx;
	if (r->type == e->res_type) {
		*out = *r;
	} else {
		out->type = FEAT_NULL;
		out->u.i = 0;
	}
}

int feat_expr_canonical(const struct feat_expr *e, struct feat_buf *out)
{
	return feat_buf_add(out, e->canon, e->canon_len);
}

struct feat_expr *feat_expr_clone(const struct feat_expr *e)
{
	struct feat_expr *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	*c = *e;
	c->of = e;
	c->regs = malloc(e->nregs * sizeof(*c->regs));
	c->slots = calloc(e->nslots ? e->nslots : 1, sizeof(*c->slots));
	if (!c->regs || !c->slots) {
		free(c->regs);
		free(c->slots);
		free(c);
		return NULL;
	}
	memcpy(c->regs, e->regs, e->nregs * sizeof(*c->regs));
	return c;
}

void feat_expr_free(struct feat_expr *e)
{
	if (!e)
		return;
	if (e->of) {
		free(e->regs);
		free_slots(e->slots, e->nslots);
		free(e);
		return;
	}
	free(e->prog);
	free(e->regs);
	free_slots(e->slots, e->nslots);
	free(e->pool);
	free(e->canon);
	free(e);
}
