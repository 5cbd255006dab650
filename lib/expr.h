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
 * Keywords are case-insensitive; column names are case-sensitive and may be
 * quoted with backticks (`my col`).
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

/* The type of the expression's value (FEAT_NULL only for a bare null). */
enum feat_type feat_expr_type(const struct feat_expr *e);

/*
 * Evaluates e over row (indexed like the cols given to compile) into *out.
 * A string result points into row's strings, the expression's literals or
 * scratch space owned by e that stays valid until the next evaluation.
 * Never fails: errors such as division by zero give null.
 */
void feat_expr_eval(struct feat_expr *e, const struct feat_value *row,
		    struct feat_value *out);

/*
 * Appends the canonical text of e to out: fully parenthesised, keywords in
 * lowercase, single-quoted strings, numbers as parsed. Two texts that parse
 * to the same expression give the same canonical text (plan hashes use it).
 * Returns 0, or -1 when out of memory.
 */
int feat_expr_canonical(const struct feat_expr *e, struct feat_buf *out);

/* Frees e. NULL is allowed. */
void feat_expr_free(struct feat_expr *e);

#endif
