/*
 * explain.c - the plan in words, for feat-compile --explain.
 */
#include <inttypes.h>
#include <string.h>

#include "buf.h"
#include "plan.h"

static void window_text(struct feat_buf *b, int64_t w)
{
	char tmp[40];

	if (w == FEAT_UNBOUNDED) {
		feat_buf_adds(b, "unbounded (all events before T)");
		return;
	}
	feat_duration_format(tmp, w);
	feat_buf_addf(b, "%s, exactly [T-%s, T)", tmp, tmp);
}

/* What the aggregation keeps per key, so people can size memory. */
static const char *state_text(enum feat_op op, int64_t w)
{
	int bounded = w != FEAT_UNBOUNDED;

	switch (op) {
	case FEAT_OP_COUNT:
		return bounded ? "a count, plus the window's events" : "a count";
	case FEAT_OP_SUM:
	case FEAT_OP_AVG:
		return bounded ? "an exact sum and a count, plus the window's events"
			       : "an exact sum and a count";
	case FEAT_OP_MIN:
	case FEAT_OP_MAX:
		return bounded ? "a monotonic queue of candidate events in the window"
			       : "one value";
	case FEAT_OP_LAST:
		return bounded ? "the position of the last non-null value, plus the window's events"
			       : "one value";
	}
	return "";
}

static void source_text(struct feat_buf *b, const struct feat_source *s,
			const char *title)
{
	char tmp[40];
	size_t i;

	feat_buf_addf(b, "%s '%s': CSV%s, delimiter '%c'", title, s->name,
		      s->fmt.header ? " with a header row" : " without a header (columns in declared order)",
		      s->fmt.delim);
	if (s->fmt.null_text[0])
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

			feat_buf_addf(b, "  feature %s %s = %s(%s) over ", f->name,
				      feat_type_name(f->type), feat_op_name(a->op),
				      a->input < 0 ? "*" : g->cols[g->inputs[a->input]].name);
			window_text(b, a->windows[f->window]);
			feat_buf_addf(b, "\n    state per key: %s; empty window: %s\n",
				      state_text(a->op, a->windows[f->window]),
				      a->op == FEAT_OP_COUNT ? "0" : "null");
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
