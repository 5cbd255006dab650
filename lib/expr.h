/*
 * expr.h - the expression language of definitions (where, select, derive).
 *
 * An expression is parsed and type-checked once against a schema (column
 * names and types) and compiled to a compact program that feat_expr_eval()
 * runs per row without allocating. Null follows SQL: arithmetic and
 * comparisons with a null operand give null, "and"/"or" use three-valued
 * logic, "if" takes the else branch when the condition is null. A comparison
 * with the literal null ("x == null", "x != null") means "x is null" /
 * "x is not null", since that is what people who write it mean.
 *
 * Grammar (lowest precedence first):
 *   expr    = or
 *   or      = and { "or" and }
 *   and     = not { "and" not }
 *   not     = "not" not | cmp
 *   cmp     = add [ ("=="|"="|"!="|"<>"|"<"|"<="|">"|">=") add ]
 *             | add "is" ["not"] "null"
 *   add     = mul { ("+"|"-") mul }
 *   mul     = unary { ("*"|"/"|"%") unary }
 *   unary   = "-" unary | primary
 *   primary = number | 'string' | "string" | true | false | null
 *             | name | name "(" [expr {"," expr}] ")" | "(" expr ")"
 * Functions: if(cond, then, else).
 * Keywords (and or not is null true false if) are case-insensitive; column
 * names ([A-Za-z_][A-Za-z0-9_.]*) are case-sensitive and may be quoted with
 * backticks (`my col`, a backtick doubled inside). Strings take \\ \' \"
 * \n \t escapes. Integer literals must fit in int64; a number with '.' or
 * an exponent is a double.
 *
 * Types and values:
 *   - int op int is int; with a double on either side the int is converted
 *     and the result is double. int / int is integer division truncating
 *     toward zero and % its remainder (sign of the left side), as in C and
 *     SQL: 7 / 2 = 3, -7 / 2 = -3, -7 % 3 = -1. Division or remainder by
 *     zero gives null. Int overflow wraps around (two's complement).
 *     % on doubles is fmod().
 *   - A double result that is not finite (1e308 * 10, 1.0 / 0) is null.
 *   - timestamp - timestamp is int (ms); timestamp +/- int and
 *     int + timestamp are timestamps; nothing else does arithmetic on them.
 *   - Comparisons: ints, doubles and timestamps compare with each other by
 *     value, strings byte-wise (a prefix sorts first), bools false < true.
 *     Anything else, such as a string with a number, is a type error.
 *   - and/or/not need bools; if() needs a bool condition and branches of
 *     one type (int and double give double). The literal null fits anywhere.
 */
#ifndef FEAT_EXPR_H
#define FEAT_EXPR_H

#include <stddef.h>
#include "value.h"

struct feat_error;
struct feat_buf;

struct feat_expr_col {
	const char *name;
	enum feat_type type;
};

struct feat_expr;

/*
 * Parses and type-checks text against the ncols columns of cols; the
 * compiled program refers to columns by their index in cols. On failure
 * returns NULL and fills err: err->col is the 1-based character position of
 * the problem inside text, err->line is 0, err->msg says what is wrong and,
 * where one helps, ends with a hint ("unknown column 'usr'; did you mean
 * 'user'?"). The caller owns the result (feat_expr_free()).
 */
struct feat_expr *feat_expr_compile(const char *text,
				    const struct feat_expr_col *cols,
				    size_t ncols, struct feat_error *err);

/*
 * The type of the expression's value. FEAT_NULL only when it is an untyped
 * null: null itself, null + null, if(c, null, null).
 */
enum feat_type feat_expr_type(const struct feat_expr *e);

/*
 * Evaluates e over row (indexed like the cols given to compile) into *out.
 * row[i] should be null or of cols[i].type; a value of another type reads
 * as null. A string result points into row's strings, the expression's
 * literals or scratch space owned by e that stays valid until the next
 * evaluation. Never fails: errors such as division by zero give null. Not
 * reentrant for one e (it runs in e's registers): give each thread its own.
 */
void feat_expr_eval(struct feat_expr *e, const struct feat_value *row,
		    struct feat_value *out);

/*
 * Appends the canonical text of e to out: fully parenthesised, keywords in
 * lowercase, "==" and "!=", "x == null" as "(x is null)", single-quoted
 * strings, column names backticked only when they must be, ints in decimal
 * ("-5" for -(5)), doubles in their shortest exact form, always with a '.'
 * or an exponent ("1.0", "1000.0" for 1e3). Two texts that parse to the
 * same expression give the same canonical text (plan hashes use it), and
 * the canonical text compiles to the same expression. Returns 0, or -1 when
 * out of memory.
 */
int feat_expr_canonical(const struct feat_expr *e, struct feat_buf *out);

/* Frees e. NULL is allowed. */
void feat_expr_free(struct feat_expr *e);

#endif
