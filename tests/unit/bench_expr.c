/*
 * bench_expr.c - nanoseconds per feat_expr_eval() for a few typical
 * expressions. Not part of "make check": timings depend on the machine.
 *
 *   gcc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -iquote lib \
 *       tests/unit/bench_expr.c lib/expr.c lib/buf.c lib/error.c \
 *       lib/suggest.c lib/time.c lib/value.c -o /tmp/bench_expr -lm && \
 *       /tmp/bench_expr
 *
 * (-iquote, not -I: with -Ilib, <time.h> would find lib/time.h.)
 *
 * Each expression runs over NROWS generated rows (about one in eight values
 * null, activities mixed so branches are not always taken the same way),
 * ROUNDS times; the best round is reported, since other work on the machine
 * can only make a round slower.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "expr.h"
#include "value.h"

#define NROWS 4096
#define NCOLS 6
#define ROUNDS 200

static const struct feat_expr_col cols[NCOLS] = {
	{ "activity", FEAT_STRING },
	{ "user", FEAT_STRING },
	{ "a", FEAT_INT },
	{ "b", FEAT_INT },
	{ "d", FEAT_DOUBLE },
	{ "ts", FEAT_TIMESTAMP },
};

static const char *const exprs[] = {
	"if(activity == 'item_view', 1, 0)",
	"user != null",
	"a * 2 + b > 10",
	"a",
	"a + 1",
	"d * 1.5 + a",
	"activity == 'item_view' and a > 3",
	"if(a > 5, a * 2 + 1, b * 3 - 1)",
	"a > 1 and (a + b > 3 and d * 2 > 1 or user == 'u7')",
	"ts - 3600000 > 1700000000000",
	"lower(activity) == 'item_view'",
	"coalesce(a, 0) + 1",
	"case when a > 10 then 'high' when a > 5 then 'mid' else 'low' end",
	"case activity when 'item_view' then 1 when 'click' then 2 else 0 end",
	"activity in ('click', 'purchase', 'item_view_long')",
	"a not in (1, 2, 3, 5, 8, 13)",
	"starts_with(activity, 'item')",
	"substr(user, 2)",
	"concat(user, ':', activity)",
	"string(a)",
	"int(substr(user, 2)) % 7",
	"round(d * 1.5, 1)",
	"sqrt(d) + ln(a + 1)",
	"hour(ts)",
	"date(ts)",
};

static const char *const activities[] = {
	"item_view", "click", "item_view", "purchase", "item_view_long",
};

static struct feat_value rows[NROWS][NCOLS];

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint32_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 32);
}

static void make_rows(void)
{
	static char users[NROWS][16];
	size_t r, c;

	for (r = 0; r < NROWS; r++) {
		struct feat_value *v = rows[r];
		const char *act = activities[next() % 5];

		snprintf(users[r], sizeof(users[r]), "u%u", next() % 1000);
		v[0].type = FEAT_STRING;
		v[0].u.s.ptr = act;
		v[0].u.s.len = strlen(act);
		v[1].type = FEAT_STRING;
		v[1].u.s.ptr = users[r];
		v[1].u.s.len = strlen(users[r]);
		v[2].type = FEAT_INT;
		v[2].u.i = (int64_t)(next() % 20);
		v[3].type = FEAT_INT;
		v[3].u.i = (int64_t)(next() % 20) - 5;
		v[4].type = FEAT_DOUBLE;
		v[4].u.d = (next() % 1000) / 100.0;
		v[5].type = FEAT_TIMESTAMP;
		v[5].u.i = 1700000000000 + (int64_t)(next() % 7200000);
		for (c = 0; c < NCOLS; c++)
			if (next() % 8 == 0)
				v[c].type = FEAT_NULL;
	}
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(void)
{
	struct feat_error err;
	size_t i, r;
	int round;
	uint64_t sink = 0;

	make_rows();
	for (i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
		struct feat_expr *e = feat_expr_compile(exprs[i], cols, NCOLS,
							&err);
		double best = 1e30, t;

		if (!e) {
			fprintf(stderr, "%s: %ld: %s\n", exprs[i], err.col,
				err.msg);
			return 1;
		}
		for (round = 0; round < ROUNDS; round++) {
			t = now_ns();
			for (r = 0; r < NROWS; r++) {
				struct feat_value out;

				feat_expr_eval(e, rows[r], &out);
				sink += (uint64_t)out.type + (uint64_t)out.u.i;
			}
			t = now_ns() - t;
			if (t < best)
				best = t;
		}
		printf("%6.2f ns/eval  %s\n", best / NROWS, exprs[i]);
		feat_expr_free(e);
	}
	/* Printing the sum keeps the compiler from dropping the work. */
	fprintf(stderr, "(checksum %llu)\n", (unsigned long long)sink);
	return 0;
}
