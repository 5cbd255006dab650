/*
 * explain.c - the plan in words, for feat-compile --explain.
 */
#include <inttypes.h>
#include <string.h>

#include "buf.h"
#include "plan.h"

/* What the aggregation keeps per key and window, so people can size memory. */
static void state_text(struct feat_buf *b, const struct feat_agg *a, size_t w)
{
	int64_t len = a->windows[w], hop = a->hops[w];
	const char *what = "";

	switch (a->op) {
	case FEAT_OP_COUNT: what = "a count"; break;
	case FEAT_OP_SUM: case FEAT_OP_AVG:
		what = a->in_type == FEAT_DOUBLE ? "an exact sum and a count"
		       : a->in_type == FEAT_VECTOR ? "an exact sum per element and a count"
						   : "an integer sum and a count";
		break;
	case FEAT_OP_VAR: case FEAT_OP_STDDEV:
		what = "exact sums of values and of squares, and a count";
		break;
	case FEAT_OP_MIN: case FEAT_OP_MAX: case FEAT_OP_FIRST: case FEAT_OP_LAST:
		what = "one value";
		break;
	case FEAT_OP_FIRST_K: case FEAT_OP_LAST_K: case FEAT_OP_TOP_K:
	case FEAT_OP_BOTTOM_K:
		what = "up to k values";
		break;
	case FEAT_OP_UNIQUE_COUNT: what = "the set of distinct values"; break;
	case FEAT_OP_HISTOGRAM: what = "a count per distinct value"; break;
	case FEAT_OP_APPROX_UNIQUE_COUNT: what = "a HyperLogLog sketch"; break;
	case FEAT_OP_APPROX_PERCENTILE: what = "a DDSketch (counts per logarithmic bucket)"; break;
	case FEAT_OP__COUNT: break;
	}
	if (a->in_type == FEAT_VECTOR && (a->op == FEAT_OP_MIN || a->op == FEAT_OP_MAX))
		what = "one value per element";
	if (a->inner) {
		feat_buf_addf(b, "per %s value: ", "bucket");
		if (len == FEAT_UNBOUNDED)
			feat_buf_addf(b, "%s, kept running", what);
		else if (hop)
			feat_buf_addf(b, "%s per %lld ms bucket", what, (long long)hop);
		else
			feat_buf_addf(b, "the window's events, folded into %s at each T", what);
		feat_buf_adds(b, "; empty window: null");
		return;
	}
	if (len == FEAT_UNBOUNDED) {
		feat_buf_addf(b, "%s, kept running", what);
	} else if (hop) {
		feat_buf_addf(b, "%s per %lld ms bucket, at most %lld buckets",
			      what, (long long)hop, (long long)(len / hop + 2));
	} else if (a->op <= FEAT_OP_LAST && !a->explode &&
		   a->in_type != FEAT_VECTOR) {
		feat_buf_addf(b, "%s%s, plus the window's events", what,
			      a->op == FEAT_OP_MIN || a->op == FEAT_OP_MAX
				      ? " and a monotonic queue" : "");
	} else {
		feat_buf_addf(b, "the window's events, folded into %s at each T", what);
	}
	feat_buf_addf(b, "; empty window: %s",
		      a->op == FEAT_OP_COUNT || a->op == FEAT_OP_UNIQUE_COUNT ||
		      a->op == FEAT_OP_APPROX_UNIQUE_COUNT ? "0" : "null");
}

static void window_text(struct feat_buf *b, int64_t w, int64_t hop)
{
	char tmp[40], h[40];

	if (w == FEAT_UNBOUNDED) {
		feat_buf_adds(b, "unbounded (all events before T)");
		return;
	}
	feat_duration_format(tmp, w);
	if (!hop) {
		feat_buf_addf(b, "%s, exactly [T-%s, T)", tmp, tmp);
		return;
	}
	feat_duration_format(h, hop);
	feat_buf_addf(b, "%s hopping by %s: [floor_%s(T-%s), T)", tmp, h, h, tmp);
}

static void source_text(struct feat_buf *b, const struct feat_source *s,
			const char *title)
{
	char tmp[40];
	size_t i;

	if (s->fmt.jsonl)
		feat_buf_addf(b, "%s '%s': JSON Lines, one object per line, columns by path",
			      title, s->name);
	else
		feat_buf_addf(b, "%s '%s': CSV%s, delimiter '%c'", title, s->name,
			      s->fmt.header ? " with a header row" : " without a header (columns in declared order)",
			      s->fmt.delim);
	if (!s->fmt.jsonl && s->fmt.null_text[0])
		feat_buf_addf(b, ", null spelled '%s'", s->fmt.null_text);
	feat_buf_addf(b, "\n  time: %s (%s)", s->cols[s->time_col].name,
		      feat_column_type_name(&s->cols[s->time_col]));
	if (s->lateness < 0)
		feat_buf_adds(b, "; rows are answered at end of input");
	else {
		feat_duration_format(tmp, s->lateness);
		feat_buf_addf(b, "; allowed lateness %s", tmp);
	}
	feat_buf_adds(b, "\n  columns:");
	for (i = 0; i < s->ncols; i++)
		feat_buf_addf(b, " %s %s%s", s->cols[i].name,
			      feat_column_type_name(&s->cols[i]),
			      i + 1 < s->ncols ? "," : "");
	feat_buf_addc(b, '\n');
}

int feat_plan_explain(const struct feat_plan *p, struct feat_buf *b)
{
	size_t i, k;

	feat_buf_addf(b, "plan %s, hash %016" PRIx64 "\n\n",
		      p->name ? p->name : "(unnamed)", p->hash);
	for (i = 0; i < p->nsources; i++)
		source_text(b, &p->sources[i], "source");
	for (i = 0; i < p->ngroup_bys; i++) {
		const struct feat_group_by *g = &p->group_bys[i];

		feat_buf_addf(b, "\ngroup_by '%s' over source '%s'\n  keys:",
			      g->name, p->sources[g->source].name);
		for (k = 0; k < g->nkeys; k++)
			feat_buf_addf(b, " %s (%s)%s", g->cols[g->keys[k]].name,
				      feat_type_name(g->cols[g->keys[k]].type),
				      k + 1 < g->nkeys ? "," : "");
		feat_buf_addc(b, '\n');
		if (g->where_text)
			feat_buf_addf(b, "  where: %s (rows where it is not true are skipped)\n",
				      g->where_text);
		for (k = 0; k < g->nselect; k++) {
			const struct feat_column *c = &g->cols[g->ncols - g->nselect + k];

			feat_buf_addf(b, "  select %s %s = %s\n", c->name,
				      feat_type_name(c->type), g->select_text[k]);
		}
		for (k = 0; k < g->nfeatures; k++) {
			const struct feat_feature *f = &g->features[k];
			const struct feat_agg *a = &g->aggs[f->agg];

			char tb[64];

			feat_buf_addf(b, "  feature %s %s = %s(%s%s)%s%s over ", f->name,
				      feat_agg_type_text(a, tb), feat_op_name(a->op),
				      a->input < 0 ? "*" : g->cols[g->inputs[a->input]].name,
				      a->explode ? ", each element" : "",
				      a->inner ? " by " : "",
				      a->inner ? g->cols[g->inputs[a->by]].name : "");
			window_text(b, a->windows[f->window], a->hops[f->window]);
			feat_buf_adds(b, "\n    state per key: ");
			state_text(b, a, f->window);
			feat_buf_addc(b, '\n');
		}
	}
	if (p->join) {
		const struct feat_join *j = p->join;

		feat_buf_adds(b, "\njoin\n");
		source_text(b, &j->left, "left");
		for (i = 0; i < j->nparts; i++) {
			const struct feat_part *pt = &j->parts[i];
			const struct feat_group_by *g = &p->group_bys[pt->group_by];

			feat_buf_addf(b, "  part %zu: group_by '%s' on", i + 1, g->name);
			for (k = 0; k < g->nkeys; k++)
				feat_buf_addf(b, " left.%s = %s%s",
					      j->left.cols[pt->left_keys[k]].name,
					      g->cols[g->keys[k]].name,
					      k + 1 < g->nkeys ? "," : "");
			if (pt->prefix)
				feat_buf_addf(b, ", prefix '%s'", pt->prefix);
			feat_buf_addc(b, '\n');
		}
		feat_buf_adds(b, "  output: the left columns, then");
		for (i = 0; i < j->noutputs; i++)
			feat_buf_addf(b, "\n    %s %s%s", j->outputs[i].name,
				      feat_type_name(j->outputs[i].type),
				      i >= j->nfeature_outputs ? " (derived)" : "");
		feat_buf_addc(b, '\n');
		for (i = 0; i < j->nderive; i++)
			feat_buf_addf(b, "  derive %s = %s\n",
				      j->outputs[j->nfeature_outputs + i].name,
				      j->derive_text[i]);
		feat_buf_adds(b, "  a feature at left time T uses the events of its key strictly before T\n");
	}
	return b->ptr ? 0 : -1;
}
