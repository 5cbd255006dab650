/*
 * expr.h - the expression language of definitions (where, select, derive).
 *
 * An expression is parsed and type-checked once against a schema (column
 * names and types) and compiled to a compact program that feat_expr_eval()
 * runs per row without allocating. Null follows SQL: arithmetic,
 * comparisons and functions with a null operand give null, "and"/"or" use
 * three-valued logic, "if" and "case" take the else branch when a condition
 * is null. A comparison with the literal null ("x == null", "x != null")
 * means "x is null" / "x is not null", since that is what people who write
 * it mean.
 *
 * Grammar (lowest precedence first):
 *   expr    = or
 *   or      = and { "or" and }
 *   and     = not { "and" not }
 *   not     = "not" not | cmp
 *   cmp     = add [ ("=="|"="|"!="|"<>"|"<"|"<="|">"|">=") add ]
 *             | add "is" ["not"] "null"
 *             | add ["not"] "in" "(" expr {"," expr} ")"
 *   add     = mul { ("+"|"-") mul }
 *   mul     = unary { ("*"|"/"|"%") unary }
 *   unary   = "-" unary | postfix
 *   postfix = primary { "[" expr "]" }
 *   primary = number | 'string' | "string" | true | false | null
 *             | name | name "(" [expr {"," expr}] ")" | "(" expr ")"
 *             | "case" [expr] "when" expr "then" expr
 *               {"when" expr "then" expr} ["else" expr] "end"
 * Keywords (and or not is in null true false if case when then else end)
 * and function names are case-insensitive; column names
 * ([A-Za-z_][A-Za-z0-9_.]*) are case-sensitive and may be quoted with
 * backticks (`my col`, a backtick doubled inside), which a column named
 * like a keyword needs (`end`). A function name is only a function before
 * "(", so columns may be called date or length. Strings take \\ \' \"
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
 *   - A double result that is not finite (1e308 * 10, 1.0 / 0, ln(0),
 *     sqrt(-1)) is null.
 *   - timestamp - timestamp is int (ms); timestamp +/- int and
 *     int + timestamp are timestamps; nothing else does arithmetic on them.
 *   - Comparisons: ints, doubles and timestamps compare with each other by
 *     value, strings byte-wise (a prefix sorts first), bools false < true.
 *     Anything else, such as a string with a number, is a type error.
 *   - and/or/not need bools; if() and case need bool conditions. The
 *     branches of if() and case and the arguments of coalesce() must have
 *     one type (int and double give double). The literal null fits anywhere.
 *   - Lists and maps (list<double>, list<string>, map<string,double>)
 *     can be passed on, tested with "is null", chosen by if/case/coalesce,
 *     and looked into: x[i], length(x), contains(x, y) (below). json (the
 *     text of a feature that is a list or map) can be passed on, tested
 *     and turned into its text with string(). Neither compares or does
 *     arithmetic.
 *
 * Conditionals:
 *   if(c, a, b)          a when c is true, else b (also when c is null).
 *   case when c1 then v1 [when c2 then v2 ...] [else e] end
 *                        the value of the first true condition, else e;
 *                        null when there is no else.
 *   case x when w1 then v1 ... end
 *                        the same with conditions x == w1 ...: a null x or
 *                        w matches nothing (so "when null" never matches).
 *   coalesce(a, ...)     the first argument that is not null, else null.
 *   x in (a, ...)        SQL's x == a or ...: true on a match; else null
 *                        when x or an item is null; else false. Items
 *                        may be expressions. "x not in (...)" is
 *                        "not (x in (...))": null stays null.
 *
 * Casts (every type to string; the others as listed, else a type error):
 *   int(x)       string: a whole decimal number with an optional sign and
 *                nothing else (int('12') = 12; int('2.5'), int(' 1') and
 *                int('x') are null; int(double(s)) truncates such text);
 *                double: truncated toward zero (int(-2.7) = -2), null out
 *                of int64 range; bool: 1 or 0; timestamp: its ms.
 *   double(x)    string: decimal or scientific text (null if not a number
 *                or not finite); int, timestamp (ms), bool (1 or 0).
 *   string(x)    int: decimal; double: the shortest text that reads back
 *                as the same double, as output writes it ('2.5', '1e+21');
 *                bool: 'true'/'false'; timestamp: ISO-8601 UTC with
 *                milliseconds ('2026-11-01T00:00:00.000Z'); json: its text.
 *   timestamp(x) string: ISO-8601 with an offset or a bare date, as input
 *                columns read it (timestamp('2026-11-01T02:00:00+02:00'));
 *                null if it is not one; int: milliseconds since the epoch;
 *                double: ms truncated toward zero.
 *   bool(x)      string: true/false/1/0 in any case, else null; int: x != 0.
 *
 * Strings (a character is a UTF-8 character; text that is not UTF-8 is
 * not refused: a character starts at the first byte and at every byte that
 * is not a continuation byte 10xxxxxx):
 *   lower(s), upper(s)   ASCII letters only; other bytes stay as they are.
 *   length(s)            int, in characters (of a list or map: below).
 *   substr(s, start[, len])
 *                        the characters at 1-based positions start to
 *                        start + len - 1 that exist, as in SQL:
 *                        substr('hello', 2, 3) = 'ell', substr('hello', 0,
 *                        2) = 'h', past the end ''; without len, to the
 *                        end; a negative len gives null.
 *   concat(s, ...)       the strings joined; null if any is null (SQL's ||;
 *                        wrap an argument in coalesce(x, '') to skip nulls).
 *   contains(s, t), starts_with(s, t), ends_with(s, t)
 *                        bool, byte-wise; an empty t is always found
 *                        (contains() of a list or map: below).
 *   Functions take the types they say: lower(1) is an error, whose message
 *   names the cast that fixes it.
 *
 * Math (ints are converted to double where a double is taken):
 *   abs(x)               int stays int (abs of the smallest int wraps to
 *                        itself), double stays double.
 *   ln(x), exp(x), sqrt(x), pow(x, y)
 *                        double; null when not finite: ln(0), ln(-1),
 *                        sqrt(-1), pow(0, -1), pow(-8, 1.0 / 3), exp(1000).
 *   floor(x), ceil(x)    int stays int; double gives double. These and
 *                        round() never give -0 (ceil(-0.5) is 0).
 *   round(x[, digits])   half away from zero (round(2.5) = 3, round(-2.5) =
 *                        -3); with digits, to that many decimals (before
 *                        the point when negative: round(1250, -2) = 1300).
 *                        A double is rounded as its shortest text reads,
 *                        so round(2.675, 2) = 2.68. The type is x's; an int
 *                        result out of range is null.
 *
 * Lists and maps (no element is ever null; a list counts from 0):
 *   x[i]                 list<double>[int] is double, list<string>[int]
 *                        string: the element i, null when i < 0 or i >=
 *                        length(x). map<string,double>[string] is double:
 *                        the value of the key, null when the map has none.
 *                        A null x or i gives null. A string element points
 *                        into the list: nothing is copied.
 *   length(x)            int: the number of elements, or of keys.
 *   contains(x, y)       bool: whether y is an element of list x (an int y
 *                        is compared as a double with a list<double>), or
 *                        a key of map x.
 *   split(s, sep)        list<string>: the pieces of s between the
 *                        occurrences of sep, from left to right, empty
 *                        pieces kept: split('a,,b', ',') = ['a', '', 'b'],
 *                        split('a,', ',') = ['a', '']; split('', sep) is
 *                        the empty list; an empty sep cuts s into its
 *                        characters. sep is text, not a pattern. Made in
 *                        the expression's scratch space, as strings are.
 *
 * Time (UTC; timestamps are ms since the epoch):
 *   hour(ts)             int 0-23.
 *   day_of_week(ts)      int, ISO: 1 = Monday ... 7 = Sunday.
 *   date(ts)             string 'YYYY-MM-DD' (a date is no timestamp: the
 *                        day's midnight is timestamp(date(ts))).
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
 * as null. A string or list result points into row's values, the
 * expression's literals or scratch space owned by e that stays valid until
 * the next evaluation of e. The scratch space grows to the longest strings seen, so
 * after the first rows evaluation does not allocate. Never fails: errors
 * such as division by zero give null, and so does running out of memory
 * for a string. Not reentrant for one e (it runs in e's registers and
 * scratch space): give each thread its own.
 */
void feat_expr_eval(struct feat_expr *e, const struct feat_value *row,
		    struct feat_value *out);

/*
 * Appends the canonical text of e to out: fully parenthesised, keywords in
 * lowercase, "==" and "!=", "x == null" as "(x is null)", single-quoted
 * strings, column names backticked only when they must be, ints in decimal
 * ("-5" for -(5)), doubles in their shortest exact form, always with a '.'
 * or an exponent ("1.0", "1000.0" for 1e3), x[i] with nothing around. Two texts that parse to the
 * same expression give the same canonical text (plan hashes use it), and
 * the canonical text compiles to the same expression. Returns 0, or -1 when
 * out of memory.
 */
int feat_expr_canonical(const struct feat_expr *e, struct feat_buf *out);

/* Frees e. NULL is allowed. */
/*
 * A copy of e that evaluates on its own (registers and scratch of its
 * own), for another thread; it shares e's program, so e must outlive it.
 * NULL when out of memory. Freed with feat_expr_free().
 */
struct feat_expr *feat_expr_clone(const struct feat_expr *e);

void feat_expr_free(struct feat_expr *e);

#endif
