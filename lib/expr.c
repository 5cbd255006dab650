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
 * instructions whose operands are all constants (run at compile time), if()
 * with a constant condition, and whether "and"/"or"/"if" branches are cheap
 * enough to evaluate both sides without jumps.
 */
#include <inttypes.h>
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
	OP_I2D,			/* dst = (double)a, a int or timestamp */
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
	OP_COUNT
};

/* What each opcode uses of struct ins. */
#define U_A 1
#define U_B 2
#define U_C 4
#define U_DST 8
#define U_JMP 16		/* c is a jump target, not an operand */

static const uint8_t op_uses[OP_COUNT] = {
	[OP_END] = 0,
	[OP_MOV] = U_A | U_DST,
	[OP_I2D] = U_A | U_DST,
	[OP_ADD_I] = U_A | U_B | U_DST,
	[OP_SUB_I] = U_A | U_B | U_DST,
	[OP_MUL_I] = U_A | U_B | U_DST,
	[OP_DIV_I] = U_A | U_B | U_DST,
	[OP_MOD_I] = U_A | U_B | U_DST,
	[OP_NEG_I] = U_A | U_DST,
	[OP_ADD_D] = U_A | U_B | U_DST,
	[OP_SUB_D] = U_A | U_B | U_DST,
	[OP_MUL_D] = U_A | U_B | U_DST,
	[OP_DIV_D] = U_A | U_B | U_DST,
	[OP_MOD_D] = U_A | U_B | U_DST,
	[OP_NEG_D] = U_A | U_DST,
	[OP_CMP_I] = U_A | U_B | U_DST,
	[OP_CMP_D] = U_A | U_B | U_DST,
	[OP_CMP_S] = U_A | U_B | U_DST,
	[OP_EQ_S] = U_A | U_B | U_DST,
	[OP_ISNULL] = U_A | U_DST,
	[OP_NOTNULL] = U_A | U_DST,
	[OP_NOT] = U_A | U_DST,
	[OP_AND] = U_A | U_B | U_DST,
	[OP_OR] = U_A | U_B | U_DST,
	[OP_SEL] = U_A | U_B | U_C | U_DST,
	[OP_JMP] = U_JMP,
	[OP_JNT] = U_A | U_JMP,
	[OP_JF_SET] = U_A | U_DST | U_JMP,
	[OP_JT_SET] = U_A | U_DST | U_JMP,
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

struct ins {
	uint8_t op;
	uint8_t bank;		/* run time: bit 0/1/2 set when a/b/c is a row
				 * column; compile time: 2 bits per operand */
	uint8_t ta, tb, tc;	/* the type each operand must have */
	uint8_t rt;		/* the type of the result */
	uint8_t mask;		/* comparisons: CMP_* */
	uint32_t dst;
	uint32_t a, b, c;
};

struct feat_expr {
	struct ins *prog;	/* ends with OP_END */
	struct feat_value *regs;	/* constants, then temporaries */
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

/*
 * Runs prog over regs and row. Every instruction reads its operands before
 * writing dst, so dst may be one of them. row is not touched by a program
 * whose operands are all registers (constant folding passes NULL).
 */
static void run(const struct ins *prog, struct feat_value *regs,
		const struct feat_value *row)
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
};

struct node {
	uint8_t kind;
	uint8_t op;		/* N_BIN: TK_PLUS ... TK_OR */
	uint8_t type;		/* enum feat_type of the value */
	uint8_t hascol;		/* the subtree reads a column */
	uint32_t depth;
	uint32_t cost;		/* about how many instructions it needs */
	size_t pos;		/* byte offset where its text starts */
	int a, b, c;		/* children, -1 when absent */
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
static const char *const functions[] = { "if" };

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
	nd->a = nd->b = nd->c = -1;
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

static const char *type_name(int t)
{
	return feat_type_name((enum feat_type)t);
}

static int is_num(int t)
{
	return t == FEAT_INT || t == FEAT_DOUBLE || t == FEAT_TIMESTAMP;
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
		if (!(ta == FEAT_NULL || tb == FEAT_NULL ||
		      (is_num(ta) && is_num(tb)) || ta == tb))
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

/* Parses name(args) with the name as the current token. */
static int parse_call(struct parser *p)
{
	size_t pos = p->tok.pos, len = p->tok.len;
	const char *name = p->text + pos;
	int args[3] = { -1, -1, -1 };
	int nargs = 0, a, n, t, tb, tc;
	const char *hint;
	char buf[MAX_QUOTE + 8];

	if (!(len == 2 && strncasecmp(name, "if", 2) == 0)) {
		quote_text(buf, sizeof(buf), name, len);
		hint = feat_suggest(name, len, functions, sizeof(functions[0]),
			       sizeof(functions) / sizeof(functions[0]));
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
			if (nargs < 3)
				args[nargs] = a;
			nargs++;
			if (p->tok.kind != TK_COMMA)
				break;
			if (lex(p) < 0)
				return -1;
		}
		if (p->tok.kind != TK_RP)
			return expected(p, "',' or ')'");
	}
	if (nargs != 3)
		return perr(p, pos, "if() takes 3 arguments, got %d", nargs);

	t = p->nodes[args[0]].type;
	if (t != FEAT_BOOL && t != FEAT_NULL)
		return perr(p, p->nodes[args[0]].pos,
			    "if() condition must be bool, got %s", type_name(t));
	tb = p->nodes[args[1]].type;
	tc = p->nodes[args[2]].type;
	if (tb == tc || tc == FEAT_NULL)
		t = tb;
	else if (tb == FEAT_NULL)
		t = tc;
	else if ((tb == FEAT_INT || tb == FEAT_DOUBLE) &&
		 (tc == FEAT_INT || tc == FEAT_DOUBLE))
		t = FEAT_DOUBLE;
	else
		return perr(p, p->nodes[args[2]].pos,
			    "if() branches have different types: %s and %s",
			    type_name(tb), type_name(tc));
	n = new_node(p, N_IF, pos);
	if (n < 0)
		return -1;
	p->nodes[n].type = (uint8_t)t;
	if (link_children(p, n, args[0], args[1], args[2], pos) < 0)
		return -1;
	if (lex(p) < 0)
		return -1;
	return n;
}

static int parse_primary(struct parser *p)
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
		if (is_keyword(p->text + p->tok.pos, p->tok.len) &&
		    !tok_is(p, "if"))
			return unexpected(p);
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
		return n;
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
	} else {
		return a;
	}
	if (n >= 0 && (is_cmp_tok(p->tok.kind) || tok_is(p, "is"))) {
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
 * Emits op over operands a, b, c (any may be NULL) into a new temporary, or,
 * when all operands are constants, runs it now and yields a new constant.
 */
static int emit(struct gen *g, uint8_t op, uint8_t rt, uint8_t mask,
		const struct opnd *a, const struct opnd *b,
		const struct opnd *c, struct opnd *res)
{
	const struct opnd *ops[3] = { a, b, c };
	struct opnd r;
	int i, folds = 1;

	for (i = 0; i < 3; i++)
		if (ops[i] && ops[i]->kind != K_CONST)
			folds = 0;
	if (folds) {
		struct feat_value v;
		struct ins prog[2];

		memset(&v, 0, sizeof(v));
		if (add_const(g, &v, &r) < 0)
			return -1;
		/*
		 * Constants are registers 0..nconst at run time too, so the
		 * instruction runs as it is over the constant array.
		 */
		memset(prog, 0, sizeof(prog));
		prog[0].op = op;
		prog[0].rt = rt;
		prog[0].mask = mask;
		for (i = 0; i < 3; i++)
			if (ops[i])
				set_opnd(&prog[0], i, ops[i]);
		prog[0].dst = r.idx;
		prog[1].op = OP_END;
		run(prog, g->consts, NULL);
		r.type = g->consts[r.idx].type == FEAT_NULL ? T_NEVER : rt;
		*res = r;
		return 0;
	}
	r.kind = K_TEMP;
	r.type = rt;
	r.idx = new_temp(g);
	if (push_op(g, op, rt, mask, a, b, c, r.idx) < 0)
		return -1;
	*res = r;
	return 0;
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

static int gen_if(struct gen *g, const struct node *nd, struct opnd *res)
{
	const struct node *then = &g->p->nodes[nd->b];
	const struct node *els = &g->p->nodes[nd->c];
	uint32_t mark = g->ntemp, r;
	struct opnd c, a, b;
	size_t jnt, jmp, since;

	if (nd->type == FEAT_NULL)
		return null_opnd(g, res);
	if (gen(g, nd->a, &c) < 0)
		return -1;
	if (c.kind == K_CONST) {
		int yes = c.type != T_NEVER && g->consts[c.idx].u.i;

		g->ntemp = mark;
		return gen(g, yes ? nd->b : nd->c, res) < 0 ? -1 :
		       to_type(g, res, nd->type);
	}
	if (then->cost + els->cost <= CHEAP_COST) {
		if (gen(g, nd->b, &a) < 0 || to_type(g, &a, nd->type) < 0 ||
		    gen(g, nd->c, &b) < 0 || to_type(g, &b, nd->type) < 0)
			return -1;
		g->ntemp = mark;
		return emit(g, OP_SEL, nd->type, 0, &a, &b, &c, res);
	}
	/* The condition is read by the jump only, so r may reuse its slot. */
	g->ntemp = mark;
	r = new_temp(g);
	if (emit_jump(g, OP_JNT, &c, 0, &jnt) < 0)
		return -1;
	since = g->nprog;
	if (gen(g, nd->b, &a) < 0 || to_type(g, &a, nd->type) < 0 ||
	    move_to(g, &a, r, since) < 0 ||
	    emit_jump(g, OP_JMP, NULL, 0, &jmp) < 0)
		return -1;
	place_label(g, jnt);
	g->ntemp = mark + 1;
	since = g->nprog;
	if (gen(g, nd->c, &b) < 0 || to_type(g, &b, nd->type) < 0 ||
	    move_to(g, &b, r, since) < 0)
		return -1;
	place_label(g, jmp);
	g->ntemp = mark + 1;
	res->kind = K_TEMP;
	res->type = nd->type;
	res->idx = r;
	return 0;
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
		return gen_if(g, nd, res);
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
	e->prog = g->prog;
	g->prog = NULL;
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

	run(e->prog, e->regs, row);
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

void feat_expr_free(struct feat_expr *e)
{
	if (!e)
		return;
	free(e->prog);
	free(e->regs);
	free(e->pool);
	free(e->canon);
	free(e);
}
