/*
 * plan.h - a compiled feature definition.
 *
 * feat-compile reads the JSON definition (feat-definition(5)), checks it and
 * writes a plan file: the definition in a canonical form (defaults filled
 * in, durations and expressions normalised, unordered members sorted) with
 * a hash of everything that affects results. Every other command loads the
 * plan file, which runs the same checks again on the canonical text, so the
 * in-memory plan of every command is built by one code path.
 *
 * Indices: group_bys and sources are in name order; a group_by's row schema
 * is its source's columns followed by its select columns; its inputs are the
 * distinct "of" columns of its aggregations, in order of first use.
 */
#ifndef FEAT_PLAN_H
#define FEAT_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "time.h"
#include "value.h"

struct feat_error;
struct feat_expr;
struct feat_buf;

#define FEAT_UNBOUNDED 0	/* a window length meaning "all of the past" */

enum feat_op {
	FEAT_OP_COUNT,
	FEAT_OP_SUM,
	FEAT_OP_AVG,
	FEAT_OP_MIN,
	FEAT_OP_MAX,
	FEAT_OP_LAST,
	FEAT_OP_FIRST,
	FEAT_OP_VAR,
	FEAT_OP_STDDEV,
	FEAT_OP_FIRST_K,
	FEAT_OP_LAST_K,
	FEAT_OP_TOP_K,
	FEAT_OP_BOTTOM_K,
	FEAT_OP_UNIQUE_COUNT,
	FEAT_OP_APPROX_UNIQUE_COUNT,
	FEAT_OP_APPROX_PERCENTILE,
	FEAT_OP_HISTOGRAM,
	FEAT_OP__COUNT		/* the number of operations */
};

struct feat_column {
	char *name;		/* JSON Lines: also the path, "context.page" */
	enum feat_type type;
	enum feat_ts_unit unit;	/* FEAT_TIMESTAMP only */
};

/* How a source is read. */
struct feat_format {
	int jsonl;		/* 1: JSON Lines, one object per line; 0: CSV */
	int header;		/* 1: the first row names the columns */
	char delim;
	char quote;
	char *null_text;	/* the spelling of null; "" by default */
};

struct feat_source {
	char *name;
	struct feat_format fmt;
	struct feat_column *cols;
	size_t ncols;
	size_t time_col;
	int64_t lateness;	/* ms; -1 (left rows only): until end of input */
};

struct feat_agg {
	enum feat_op op;
	long input;		/* index into the group_by's inputs; -1: count(*) */
	enum feat_type in_type;	/* the input's type (FEAT_INT for count(*)) */
	int explode;		/* "explode": each element of a list input
				 * counts as one value (in_type: the element's) */
	long by;		/* bucketed ("by"): the bucket input, or -1 */
	enum feat_type by_type;
	struct feat_agg *inner;	/* with "by": the same aggregation per bucket */
	int64_t *windows;	/* FEAT_UNBOUNDED or a length in ms */
	int64_t *hops;		/* per window: 0 (exact) or the hop in ms */
	size_t nwindows;
	/* parameters */
	uint32_t k;		/* *_k: how many; histogram: keep the k most
				 * frequent (0: all) */
	uint32_t precision;	/* approx_unique_count: 2^precision registers */
	double rel_error;	/* approx_percentile: relative accuracy */
	double *percentiles;	/* approx_percentile: which, in [0, 1] */
	size_t npercentiles;
	char *name;		/* NULL unless the definition names it */
	char *label;		/* its features' name without the window */
	enum feat_type out_type;
	size_t first_feature;	/* its first column in group_by->features */
};

struct feat_feature {
	char *name;
	enum feat_type type;
	size_t agg;		/* index into group_by->aggs */
	size_t window;		/* index into that aggregation's windows */
};

struct feat_group_by {
	char *name;
	size_t source;
	/* The row schema: the source's columns, then the select columns. */
	struct feat_column *cols;
	size_t ncols;
	char **select_text;	/* canonical text of each select column */
	struct feat_expr **select;
	size_t nselect;
	char *where_text;	/* canonical, or NULL */
	struct feat_expr *where;	/* over the source's columns */
	size_t *keys;		/* indices into cols */
	size_t nkeys;
	size_t *inputs;		/* indices into cols */
	size_t ninputs;
	struct feat_agg *aggs;
	size_t naggs;
	struct feat_feature *features;
	size_t nfeatures;
	int64_t max_window;	/* how far back a bounded window reaches, its
				 * hop included ([floor_H(T-W), T) starts up
				 * to W + H before T); 0 if none */
	int has_unbounded;
};

struct feat_part {
	size_t group_by;
	size_t *left_keys;	/* per group_by key, a left column index */
	char *prefix;		/* NULL or the prefix */
	size_t first_output;	/* its first feature in join->outputs */
};

struct feat_join {
	struct feat_source left;	/* name "left" */
	struct feat_part *parts;
	size_t nparts;
	/*
	 * Output columns after the left row: every part's features (prefixed),
	 * then the derived columns. Derive expressions see the left columns
	 * followed by these outputs.
	 */
	struct feat_column *outputs;
	size_t noutputs;
	size_t nfeature_outputs;
	char **derive_text;
	struct feat_expr **derive;
	size_t nderive;
};

struct feat_plan {
	char *name;
	struct feat_source *sources;
	size_t nsources;
	struct feat_group_by *group_bys;
	size_t ngroup_bys;
	struct feat_join *join;	/* NULL when the definition has none */
	uint64_t hash;
	char *canonical;	/* the canonical JSON text */
};

/*
 * Compiles the definition in text (from a file called file, for messages).
 * Returns a plan the caller frees with feat_plan_free(), or NULL with *err
 * pointing at the offending place.
 */
struct feat_plan *feat_plan_compile(const char *text, size_t len,
				    const char *file, struct feat_error *err);

/* Reads a definition file and compiles it. */
struct feat_plan *feat_plan_compile_file(const char *path,
					 struct feat_error *err);

/*
 * Writes the binary plan file of feat-format(5) to out. Returns 0, or -1
 * when out of memory.
 */
int feat_plan_serialize(const struct feat_plan *plan, struct feat_buf *out);

/*
 * Loads a plan file. Returns the plan, or NULL with *err set (bad magic,
 * version, checksum, or a body that does not compile).
 */
struct feat_plan *feat_plan_load(const char *path, struct feat_error *err);

/* Appends the plan in words (feat-compile --explain). 0 or -1. */
int feat_plan_explain(const struct feat_plan *plan, struct feat_buf *out);

/* Frees the plan. NULL is allowed. */
void feat_plan_free(struct feat_plan *plan);

/* Finds a source or group_by by name; -1 when absent. */
long feat_plan_source(const struct feat_plan *plan, const char *name);
long feat_plan_group_by(const struct feat_plan *plan, const char *name);

/*
 * Returns 0 when tiles of g may hold states over intervals of res ms
 * (DESIGN.md §3: never coarser than a window's hop, nor than single
 * events where a window is exact): every window of g is unbounded, or has
 * a hop that is a multiple of res. Else -1 with err saying which window.
 */
int feat_group_by_resolution_ok(const struct feat_group_by *g, int64_t res,
				struct feat_error *err);

/* "count", "sum", ... */
const char *feat_op_name(enum feat_op op);

/*
 * The type of an aggregation's result in words: "int", "list<string>",
 * "map<string,int>" (buf holds at least 64 bytes).
 */
const char *feat_agg_type_text(const struct feat_agg *a, char *buf);

/* The name of a column type as written in definitions ("timestamp_ms"). */
const char *feat_column_type_name(const struct feat_column *c);

#endif
