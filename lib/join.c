/*
 * join.c - the point-in-time join.
 *
 * Left rows are queued in input order (their output slots) and indexed by
 * (time, position) in a heap. Queries are answered in time order: for the
 * earliest pending query at T, every tile stream is read up to its first
 * record at or after T, the records before T are applied to their
 * group_by's state, and the state is evaluated at T. Answered rows wait in
 * their slots until every row before them is answered, then leave.
 *
 * A query can be answered only when no later left row can be earlier than
 * it: by default the left side has no lateness bound, so rows are answered
 * at the end of the left input; a "lateness" on the join's left lets them
 * be answered while the left input is still live.
 *
 * Slot texts live in two arenas: A (in slot order: the left row's output
 * text and its encoded values; a_off, beside the slots, says where) and B
 * (in answer order: the feature text). Both are compacted as rows leave,
 * so memory follows the rows waiting, not the rows seen. A slot keeps
 * offsets only: its time is in the heap and its keys are encoded again
 * from its values when it is answered.
 *
 * Once the left input has ended no query can join the heap, so it is
 * sorted once and read in order, which lets the memory of the next
 * queries be fetched ahead of their answers.
 *
 * When the left input is a regular file and has no lateness (every row
 * waits for its end), A holds no texts: a second reader parses the file
 * again from where the first began and gives the texts in row order as
 * rows leave (reread). The file must not change meanwhile; a change of
 * its size or modification time is an error. A then holds values only, so
 * once sorted they move to v in query order, and the pages of v and of
 * the sorted queries are given back as queries are answered: at the
 * peak, when most rows are answered and wait for an earlier one, a row
 * costs its slot and its feature text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "csvin.h"
#include "rowin.h"
#include "error.h"
#include "expr.h"
#include "io.h"
#include "join.h"
#include "plan.h"
#include "state.h"
#include "tile.h"
#include "tilein.h"

struct slot {
	uint64_t b_off;
	uint32_t left_len;
	uint32_t b_len;		/* 0 until answered (a row ends in a newline) */
};

/* A pending query in the heap: its time inline, so that sifting does not
 * chase slots. */
struct qref {
	int64_t T;
	uint64_t seq;
};

struct gbrun {
	struct feat_state st;
	struct feat_tilein **streams;
	size_t nstreams;
	int64_t *last_ts;	/* per stream, for the order check */
	int used;
	int by_seq;		/* the streams are shards of one run */
};

struct jrun {
	const struct feat_plan *plan;
	const struct feat_join *j;
	enum feat_out_format fmt;
	struct feat_output *out;
	struct feat_join_stats *stats;
	struct gbrun *gbs;
	/* left */
	struct feat_input in;
	struct feat_rows *csv;
	long *field_col;	/* left file field -> left column or -1 */
	size_t nfields;
	int header_done;
	int64_t left_max;
	int have_left_max;
	/* slots */
	struct slot *slots;
	uint64_t *a_off;		/* per slot: its left text, then values, in A */
	size_t front, count, cap;	/* slot seq front .. front + count */
	uint64_t first_seq;		/* seq of slots[front] */
	struct qref *heap;		/* pending queries by (T, seq) */
	size_t nheap, heap_cap;
	int sorted;			/* heap[hpos .. nheap) sorted, no more rows */
	size_t hpos;
	size_t hfreed;			/* bytes of heap given back */
	struct feat_buf v;		/* sorted, reread: values in query order */
	size_t vpos, vfreed;		/* the next query's; bytes given back */
	unsigned char *keep_col;	/* per left column: its value is kept */
	struct feat_buf key;		/* scratch: one part's encoded key */
	struct feat_buf a, b;
	size_t b_live;
	/* reread: the second reader of the left file */
	int reread;
	off_t origin;			/* where the first reader began */
	uint64_t left_bytes;		/* bytes the first reader read */
	struct stat left_st;		/* the file when opened */
	struct feat_rows *csv2;
	int csv2_done;
	struct feat_buf t2, t2len;	/* texts parsed, not yet written */
	size_t t2_pos, t2_i;
	uint64_t b_total, nanswered;	/* feature text ever written */
	/* scratch */
	struct feat_value *drow;	/* left values + outputs */
	struct feat_buf *json;		/* per part: its list and map values */
	struct feat_buf text;
};

static size_t slot_index(const struct jrun *r, uint64_t seq)
{
	return (r->front + (seq - r->first_seq)) % r->cap;
}

static struct slot *slot_at(struct jrun *r, uint64_t seq)
{
	return &r->slots[slot_index(r, seq)];
}

static inline int heap_less(const struct qref *x, const struct qref *y)
{
	return x->T < y->T || (x->T == y->T && x->seq < y->seq);
}

static void heap_push(struct jrun *r, int64_t T, uint64_t seq)
{
	size_t i = r->nheap++;

	r->heap[i].T = T;
	r->heap[i].seq = seq;
	while (i) {
		size_t p = (i - 1) / 2;
		struct qref t;

		if (!heap_less(&r->heap[i], &r->heap[p]))
			break;
		t = r->heap[i];
		r->heap[i] = r->heap[p];
		r->heap[p] = t;
		i = p;
	}
}

static void heap_pop(struct jrun *r)
{
	size_t i = 0, n = --r->nheap;

	r->heap[0] = r->heap[n];
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		struct qref t;

		if (l < n && heap_less(&r->heap[l], &r->heap[m]))
			m = l;
		if (l + 1 < n && heap_less(&r->heap[l + 1], &r->heap[m]))
			m = l + 1;
		if (m == i)
			break;
		t = r->heap[i];
		r->heap[i] = r->heap[m];
		r->heap[m] = t;
		i = m;
	}
}

static int qref_cmp(const void *x, const void *y)
{
	const struct qref *a = x, *b = y;

	return heap_less(a, b) ? -1 : heap_less(b, a);
}

/* Bytes of a slot's left text held in A, before its values. */
static inline size_t held_len(const struct jrun *r, const struct slot *s)
{
	return r->reread ? 0 : s->left_len;
}

/* Asks for the slots, then the left values, of the next queries. */
static void prefetch_queries(struct jrun *r)
{
	if (r->hpos + 16 < r->nheap)
		__builtin_prefetch(slot_at(r, r->heap[r->hpos + 16].seq));
	if (r->hpos + 8 < r->nheap && !r->v.ptr) {
		size_t i = slot_index(r, r->heap[r->hpos + 8].seq);

		__builtin_prefetch(r->a.ptr + r->a_off[i] + held_len(r, &r->slots[i]));
	}
}

/* Gives back the pages of p[*freed .. upto) (a prefix no longer read). */
static void release_prefix(const void *p, size_t *freed, size_t upto)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo, hi;

	if (upto - *freed < (1u << 20) || !page)
		return;
	lo = ((uintptr_t)p + *freed + page - 1) & ~(uintptr_t)(page - 1);
	hi = ((uintptr_t)p + upto) & ~(uintptr_t)(page - 1);
	if (hi > lo)
		madvise((void *)lo, hi - lo, MADV_DONTNEED);
	*freed = upto;
}

/*
 * Once sorted, with the texts reread: moves every query's values from A
 * (in row order) to v (in query order), which answers then read in order,
 * giving back its pages as they go; A and the slots' offsets into it are
 * freed. Memory is lowest here (no answer yet), and highest when most
 * rows are answered but wait for an earlier one.
 */
static int values_in_query_order(struct jrun *r, struct feat_error *err)
{
	size_t h, i, nleft = r->j->left.ncols;
	const unsigned char *end = (const unsigned char *)r->a.ptr + r->a.len;

	if (feat_buf_grow(&r->v, r->a.len) < 0)
		return feat_error_nomem(err);
	for (h = 0; h < r->nheap; h++) {
		const unsigned char *p0 = (const unsigned char *)r->a.ptr +
					  r->a_off[slot_index(r, r->heap[h].seq)];
		const unsigned char *p = p0;

		for (i = 0; i < nleft; i++)
			if (feat_tile_get_value(&p, end, &r->drow[i]) < 0)
				return feat_error_set(err, NULL, 0, 0, "internal error: bad left row");
		feat_buf_add(&r->v, p0, (size_t)(p - p0));
	}
	feat_buf_release(&r->a);
	free(r->a_off);
	r->a_off = NULL;
	return 0;
}

/*
 * Gives the pages of the sorted queries already answered back to the
 * system: they are never read again, and the memory of the answers that
 * wait for earlier rows grows meanwhile. (free() later may write into
 * the first page again, which then reads as zeros: harmless.)
 */
static void release_answered(struct jrun *r)
{
	release_prefix(r->heap, &r->hfreed, r->hpos * sizeof(*r->heap));
	if (r->v.ptr)
		release_prefix(r->v.ptr, &r->vfreed, r->vpos);
}

static int grow_slots(struct jrun *r)
{
	size_t cap = r->cap ? r->cap * 2 : 1024, i;
	struct slot *s = malloc(cap * sizeof(*s));
	uint64_t *o = malloc(cap * sizeof(*o));
	struct qref *h;

	if (!s || !o) {
		free(s);
		free(o);
		return -1;
	}
	for (i = 0; i < r->count; i++) {
		s[i] = r->slots[(r->front + i) % r->cap];
		o[i] = r->a_off[(r->front + i) % r->cap];
	}
	free(r->slots);
	free(r->a_off);
	r->slots = s;
	r->a_off = o;
	r->front = 0;
	h = realloc(r->heap, cap * sizeof(*h));
	if (!h)
		return -1;
	r->heap = h;
	r->cap = cap;
	return 0;
}

static int write_header(struct jrun *r, struct feat_error *err)
{
	const char *const *names;
	size_t n, i;

	if (r->header_done)
		return 0;
	r->header_done = 1;
	n = feat_rows_header(r->csv, &names);
	if (r->fmt != FEAT_OUT_CSV)
		return 0;
	feat_buf_reset(&r->text);
	for (i = 0; i < n; i++) {
		if (i)
			feat_buf_addc(&r->text, ',');
		feat_csv_quote(&r->text, names[i], strlen(names[i]), ',', '"');
	}
	for (i = 0; i < r->j->noutputs; i++) {
		if (n || i)
			feat_buf_addc(&r->text, ',');
		feat_buf_adds(&r->text, r->j->outputs[i].name);
	}
	feat_buf_addc(&r->text, '\n');
	if (!r->text.ptr)
		return feat_error_nomem(err);
	return feat_output_write(r->out, r->text.ptr, r->text.len, err);
}

static int map_fields(struct jrun *r, struct feat_error *err)
{
	const char *const *names;
	size_t n = feat_rows_header(r->csv, &names), i, k;

	r->field_col = calloc(n + 1, sizeof(*r->field_col));
	if (!r->field_col)
		return feat_error_nomem(err);
	r->nfields = n;
	for (i = 0; i < n; i++) {
		r->field_col[i] = -1;
		for (k = 0; k < r->j->left.ncols; k++)
			if (!strcmp(names[i], r->j->left.cols[k].name))
				r->field_col[i] = (long)k;
	}
	return 0;
}

static void left_text(struct jrun *r, const struct feat_csv_row *row,
		      struct feat_buf *a);

static int on_left(void *ctx, const struct feat_csv_row *row,
		   struct feat_error *err)
{
	struct jrun *r = ctx;
	const struct feat_join *j = r->j;
	const struct feat_source *left = &j->left;
	struct feat_buf *a = &r->a;
	struct slot *s;
	size_t i;
	int64_t T;

	if (!r->field_col && map_fields(r, err) < 0)
		return -1;
	if (write_header(r, err) < 0)
		return -1;
	r->stats->rows++;
	if (row->vals[left->time_col].type == FEAT_NULL)
		return feat_error_set(err, r->in.name, row->line,
				      row->col_field[left->time_col],
				      "missing left row time (column '%s' is empty)",
				      left->cols[left->time_col].name);
	T = row->vals[left->time_col].u.i;
	if (left->lateness >= 0 && r->have_left_max &&
	    T < r->left_max - left->lateness) {
		r->stats->late++;
		return 0;
	}
	if (!r->have_left_max || T > r->left_max) {
		r->left_max = T;
		r->have_left_max = 1;
	}
	if (r->count == r->cap && grow_slots(r) < 0)
		return feat_error_nomem(err);
	s = &r->slots[(r->front + r->count) % r->cap];
	memset(s, 0, sizeof(*s));
	r->a_off[(r->front + r->count) % r->cap] = a->len;
	if (r->reread) {
		feat_buf_reset(&r->text);
		left_text(r, row, &r->text);
		s->left_len = (uint32_t)r->text.len;
		if (r->text.len > UINT32_MAX)
			return feat_error_set(err, r->in.name, row->line, 0,
					      "left row is longer than 4 GiB");
	} else {
		left_text(r, row, a);
		size_t a_off = r->a_off[(r->front + r->count) % r->cap];

		if (a->len - a_off > UINT32_MAX)
			return feat_error_set(err, r->in.name, row->line, 0,
					      "left row is longer than 4 GiB");
		s->left_len = (uint32_t)(a->len - a_off);
	}
	for (i = 0; i < left->ncols; i++) {
		static const struct feat_value null_value = { .type = FEAT_NULL };

		feat_tile_put_value(a, r->keep_col[i] ? &row->vals[i] : &null_value);
	}
	if (!a->ptr || (r->reread && !r->text.ptr))
		return feat_error_nomem(err);
	heap_push(r, T, r->first_seq + r->count);
	r->count++;
	return 0;
}

/* The second reader's rows: their texts wait for next_text(). */
static int on_text(void *ctx, const struct feat_csv_row *row,
		   struct feat_error *err)
{
	struct jrun *r = ctx;
	size_t at = r->t2.len;
	uint32_t len;

	left_text(r, row, &r->t2);
	len = (uint32_t)(r->t2.len - at);
	feat_buf_add(&r->t2len, &len, sizeof(len));
	if (!r->t2.ptr || !r->t2len.ptr)
		return feat_error_nomem(err);
	return 0;
}

/* The text of the next row to leave, from the second reader. */
static int next_text(struct jrun *r, const struct slot *s, const char **p,
		     struct feat_error *err)
{
	uint32_t len;

	while (r->t2_i * sizeof(len) == r->t2len.len) {
		ssize_t n;

		feat_buf_reset(&r->t2);
		feat_buf_reset(&r->t2len);
		r->t2_pos = r->t2_i = 0;
		if (!r->left_bytes) {
			if (r->csv2_done)
				goto changed;
			r->csv2_done = 1;
			if (feat_rows_finish(r->csv2, err) < 0)
				return -1;
			continue;
		}
		do
			n = read(r->in.fd, r->in.buf,
				 r->left_bytes < r->in.cap ? r->left_bytes : r->in.cap);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return feat_error_errno(err, errno, "cannot read '%s'", r->in.name);
		if (n == 0)
			goto changed;
		r->left_bytes -= (uint64_t)n;
		if (feat_rows_feed(r->csv2, r->in.buf, (size_t)n, err) < 0)
			return -1;
	}
	memcpy(&len, r->t2len.ptr + r->t2_i * sizeof(len), sizeof(len));
	if (len != s->left_len)
		goto changed;
	*p = r->t2.ptr + r->t2_pos;
	r->t2_pos += len;
	r->t2_i++;
	return 0;
changed:
	return feat_error_set(err, r->in.name, 0, 0,
			      "left input changed while the join read it");
}

/* The output text of a left row, appended to a. */
static void left_text(struct jrun *r, const struct feat_csv_row *row,
		      struct feat_buf *a)
{
	size_t i;

	for (i = 0; i < row->nfields; i++) {
		if (r->fmt == FEAT_OUT_CSV) {
			if (i)
				feat_buf_addc(a, ',');
			feat_csv_quote(a, row->fields[i], row->field_lens[i],
				       ',', '"');
		} else {
			const char *const *names;
			long col = i < r->nfields ? r->field_col[i] : -1;

			feat_rows_header(r->csv, &names);
			feat_buf_addc(a, i ? ',' : '{');
			feat_fmt_json_string(a, names[i], strlen(names[i]));
			feat_buf_addc(a, ':');
			if (col >= 0)
				feat_fmt_json_value(a, &row->vals[col]);
			else
				feat_fmt_json_string(a, row->fields[i],
						     row->field_lens[i]);
		}
	}
	if (r->fmt == FEAT_OUT_JSONL && !row->nfields)
		feat_buf_addc(a, '{');
}

static int flush_out(void *ctx, struct feat_error *err)
{
	struct jrun *r = ctx;

	return feat_output_flush(r->out, err);
}

/* Moves slot texts down once most of the arenas are dead. */
static void compact(struct jrun *r)
{
	size_t i;

	if (!r->a_off) {
		/* A is gone: values_in_query_order() */
	} else if (r->count && r->a_off[r->front] > (1u << 20) &&
		   r->a_off[r->front] * 2 > r->a.len) {
		size_t d = r->a_off[r->front];

		memmove(r->a.ptr, r->a.ptr + d, r->a.len - d);
		r->a.len -= d;
		for (i = 0; i < r->count; i++)
			r->a_off[(r->front + i) % r->cap] -= d;
	} else if (!r->count) {
		feat_buf_reset(&r->a);
	}
	/*
	 * A fresh arena for the live texts costs b_live bytes more while both
	 * exist. Once the left input has ended no row joins, so when the
	 * texts still to be written (estimated from those written so far)
	 * are fewer than b_live, growing the old arena to its end peaks
	 * lower than moving.
	 */
	if (r->sorted && r->nanswered &&
	    (r->nheap - r->hpos) * (r->b_total / r->nanswered) < r->b_live)
		return;
	if (r->b.len > 2 * r->b_live + (1u << 20)) {
		struct feat_buf fresh = FEAT_BUF_INIT;

		if (feat_buf_grow(&fresh, r->b_live) < 0)
			return;		/* keep the old arena; try later */
		for (i = 0; i < r->count; i++) {
			struct slot *s = &r->slots[(r->front + i) % r->cap];

			if (!s->b_len)
				continue;
			feat_buf_add(&fresh, r->b.ptr + s->b_off, s->b_len);
			s->b_off = fresh.len - s->b_len;
		}
		feat_buf_release(&r->b);
		r->b = fresh;
	}
}

/* Writes the answered rows at the front of the queue. */
static int emit_ready(struct jrun *r, struct feat_error *err)
{
	while (r->count && r->slots[r->front].b_len) {
		struct slot *s = &r->slots[r->front];
		const char *text = NULL;

		if (!r->reread)
			text = r->a.ptr + r->a_off[r->front];
		else if (next_text(r, s, &text, err) < 0)
			return -1;
		if (feat_output_write(r->out, text, s->left_len, err) < 0 ||
		    feat_output_write(r->out, r->b.ptr + s->b_off, s->b_len, err) < 0)
			return -1;
		r->b_live -= s->b_len;
		r->front = (r->front + 1) % r->cap;
		r->count--;
		r->first_seq++;
	}
	compact(r);
	return 0;
}

/* Applies every record of group_by gi before T, reading as needed. */
static int advance(struct jrun *r, size_t gi, int64_t T,
		   struct feat_error *err)
{
	struct gbrun *gr = &r->gbs[gi];

	for (;;) {
		long best = -1;
		size_t i;

		for (i = 0; i < gr->nstreams; i++) {
			struct feat_tilein *t = gr->streams[i];

			if (feat_tilein_peek(t, flush_out, r, err) < 0)
				return -1;
			if (t->have && t->rec.ts < gr->last_ts[i])
				return feat_error_set(err, t->in.name, 0, 0,
						      "tile stream is not in time order");
			if (t->have && (best < 0 ||
					feat_tile_rec_before(&t->rec, &gr->streams[best]->rec,
							     gr->by_seq)))
				best = (long)i;
		}
		if (best < 0 || gr->streams[best]->rec.ts >= T)
			return 0;
		{
			struct feat_tilein *t = gr->streams[best];

			gr->last_ts[best] = t->rec.ts;
			if (t->rec.ahead_key)
				feat_state_prefetch(&gr->st, t->rec.ahead_key,
						    t->rec.ahead_klen);
			if (feat_state_take(&gr->st, &t->rec, t->in.name, err) < 0)
				return -1;
			r->stats->events += t->rec.nevents;
			feat_tilein_pop(t);
		}
	}
}

static int answer(struct jrun *r, uint64_t seq, int64_t T,
		  struct feat_error *err)
{
	const struct feat_join *j = r->j;
	size_t si = slot_index(r, seq);
	struct slot *s = &r->slots[si];
	const unsigned char *p, *end;
	struct feat_buf *b = &r->b;
	size_t i, k, nleft = j->left.ncols;

	/* the values end themselves; the arena's end bounds them */
	if (r->v.ptr) {
		p = (const unsigned char *)r->v.ptr + r->vpos;
		end = (const unsigned char *)r->v.ptr + r->v.len;
	} else {
		p = (const unsigned char *)r->a.ptr + r->a_off[si] + held_len(r, s);
		end = (const unsigned char *)r->a.ptr + r->a.len;
	}
	for (i = 0; i < nleft; i++)
		if (feat_tile_get_value(&p, end, &r->drow[i]) < 0)
			return feat_error_set(err, NULL, 0, 0, "internal error: bad left row");
	if (r->v.ptr)
		r->vpos = (size_t)(p - (const unsigned char *)r->v.ptr);
	for (i = 0; i < j->nparts; i++) {
		const struct feat_part *pt = &j->parts[i];
		const struct feat_group_by *g = &r->plan->group_bys[pt->group_by];
		struct gbrun *gr = &r->gbs[pt->group_by];
		long id = -1;
		int null_key = 0;

		/* A null key matches nothing, as in SQL. */
		feat_buf_reset(&r->key);
		for (k = 0; k < g->nkeys; k++) {
			if (r->drow[pt->left_keys[k]].type == FEAT_NULL)
				null_key = 1;
			feat_tile_put_value(&r->key, &r->drow[pt->left_keys[k]]);
		}
		if (!r->key.ptr && g->nkeys)
			return feat_error_nomem(err);
		if (!null_key)
			id = feat_state_find(&gr->st, r->key.ptr, r->key.len);
		feat_buf_reset(&r->json[i]);
		if (feat_state_eval(&gr->st, id, T,
				    r->drow + nleft + pt->first_output,
				    &r->json[i], err) < 0)
			return -1;
	}
	for (i = 0; i < j->nderive; i++)
		feat_expr_eval(j->derive[i], r->drow,
			       &r->drow[nleft + j->nfeature_outputs + i]);
	s->b_off = b->len;
	for (i = 0; i < j->noutputs; i++) {
		const struct feat_value *v = &r->drow[nleft + i];

		if (r->fmt == FEAT_OUT_CSV) {
			if (i || s->left_len)
				feat_buf_addc(b, ',');
			feat_fmt_csv_value(b, v);
		} else {
			if (i || s->left_len > 1)
				feat_buf_addc(b, ',');
			feat_fmt_json_string(b, j->outputs[i].name,
					     strlen(j->outputs[i].name));
			feat_buf_addc(b, ':');
			feat_fmt_json_value(b, v);
		}
	}
	feat_buf_adds(b, r->fmt == FEAT_OUT_CSV ? "\n" : "}\n");
	if (!b->ptr)
		return feat_error_nomem(err);
	if (b->len - s->b_off > UINT32_MAX)
		return feat_error_set(err, NULL, 0, 0,
				      "features of a row are longer than 4 GiB");
	s->b_len = (uint32_t)(b->len - s->b_off);
	r->b_live += s->b_len;
	r->b_total += s->b_len;
	r->nanswered++;
	return 0;
}

static int read_left(struct jrun *r, struct feat_error *err)
{
	ssize_t n;

	if (!feat_input_ready(&r->in) && flush_out(r, err) < 0)
		return -1;
	n = feat_input_read(&r->in, err);
	if (n < 0)
		return -1;
	r->left_bytes += (uint64_t)n;
	if (n == 0) {
		if (feat_rows_finish(r->csv, err) < 0)
			return -1;
		if (!r->field_col && map_fields(r, err) < 0)
			return -1;
		return write_header(r, err);
	}
	return feat_rows_feed(r->csv, r->in.buf, (size_t)n, err);
}

static int open_tiles(struct jrun *r, const char *const *tiles, size_t ntiles,
		      struct feat_error *err)
{
	const struct feat_plan *plan = r->plan;
	size_t i;

	for (i = 0; i < r->j->nparts; i++)
		r->gbs[r->j->parts[i].group_by].used = 1;
	for (i = 0; i < ntiles; i++) {
		struct feat_tilein *t = calloc(1, sizeof(*t));
		struct gbrun *gr;
		void *p;

		if (!t)
			return feat_error_nomem(err);
		if (feat_tilein_open(t, tiles[i], plan, err) < 0) {
			free(t);
			return -1;
		}
		if (feat_tilein_peek(t, NULL, NULL, err) < 0) {
			feat_tilein_close(t);
			free(t);
			return -1;
		}
		gr = &r->gbs[t->rd.group_by];
		if (gr->nstreams &&
		    feat_tile_same_resolution(&gr->streams[0]->rd, &t->rd, err) < 0) {
			feat_tilein_close(t);
			free(t);
			return -1;
		}
		if (gr->used && t->rd.resolution &&
		    feat_state_tiled(&gr->st, err) < 0) {
			feat_tilein_close(t);
			free(t);
			return -1;
		}
		if (!gr->used) {
			feat_error_set(err, t->in.name, 0, 0,
				       "tile stream of group_by '%s', which the join does not use",
				       plan->group_bys[t->rd.group_by].name);
			feat_tilein_close(t);
			free(t);
			return -1;
		}
		p = realloc(gr->streams, (gr->nstreams + 1) * sizeof(*gr->streams));
		if (p)
			gr->streams = p;
		p = p ? realloc(gr->last_ts, (gr->nstreams + 1) * sizeof(*gr->last_ts)) : NULL;
		if (!p) {
			feat_tilein_close(t);
			free(t);
			return feat_error_nomem(err);
		}
		gr->last_ts = p;
		gr->last_ts[gr->nstreams] = INT64_MIN;
		gr->streams[gr->nstreams++] = t;
	}
	for (i = 0; i < plan->ngroup_bys; i++) {
		struct gbrun *gr = &r->gbs[i];
		struct feat_tile_reader **rd = calloc(gr->nstreams + 1, sizeof(*rd));
		size_t k;

		if (!rd)
			return feat_error_nomem(err);
		for (k = 0; k < gr->nstreams; k++)
			rd[k] = &gr->streams[k]->rd;
		gr->by_seq = feat_tile_readers_shards(rd, gr->nstreams);
		free(rd);
	}
	for (i = 0; i < plan->ngroup_bys; i++)
		if (r->gbs[i].used && !r->gbs[i].nstreams)
			return feat_error_set(err, NULL, 0, 0,
					      "no tile stream for group_by '%s'; give its tiles (feat-aggregate --group-by %s)",
					      plan->group_bys[i].name, plan->group_bys[i].name);
	return 0;
}

int feat_join_run(const struct feat_plan *plan, const char *left,
		  const char *const *tiles, size_t ntiles,
		  struct feat_output *out, enum feat_out_format fmt,
		  struct feat_join_stats *stats, struct feat_error *err)
{
	struct jrun r;
	size_t i, k;
	int ret = -1, in_open = 0;

	memset(&r, 0, sizeof(r));
	memset(stats, 0, sizeof(*stats));
	if (!plan->join)
		return feat_error_set(err, NULL, 0, 0, "the plan has no \"join\"");
	r.plan = plan;
	r.j = plan->join;
	r.fmt = fmt;
	r.out = out;
	r.stats = stats;
	{
		const char **all = calloc(ntiles + 1, sizeof(*all));

		if (!all)
			return feat_error_nomem(err);
		all[0] = left ? left : "-";
		memcpy(all + 1, tiles, ntiles * sizeof(*all));
		i = (size_t)feat_inputs_distinct(all, ntiles + 1, err);
		free(all);
		if ((int)i < 0)
			return -1;
	}
	r.gbs = calloc(plan->ngroup_bys, sizeof(*r.gbs));
	r.drow = calloc(r.j->left.ncols + r.j->noutputs + 1, sizeof(*r.drow));
	r.json = calloc(r.j->nparts, sizeof(*r.json));
	r.keep_col = calloc(r.j->left.ncols + 1, 1);
	if (!r.gbs || !r.drow || !r.json || !r.keep_col) {
		feat_error_nomem(err);
		goto out;
	}
	/* A row keeps the values of its keys; derived columns may read any. */
	for (i = 0; i < r.j->left.ncols; i++)
		r.keep_col[i] = r.j->nderive > 0;
	for (i = 0; i < r.j->nparts; i++)
		for (k = 0; k < plan->group_bys[r.j->parts[i].group_by].nkeys; k++)
			r.keep_col[r.j->parts[i].left_keys[k]] = 1;
	for (i = 0; i < plan->ngroup_bys; i++)
		if (feat_state_init(&r.gbs[i].st, &plan->group_bys[i], err) < 0)
			goto out;
	if (open_tiles(&r, tiles, ntiles, err) < 0)
		goto out;
	if (feat_input_open(&r.in, left, err) < 0)
		goto out;
	in_open = 1;
	r.origin = lseek(r.in.fd, 0, SEEK_CUR);
	r.reread = r.j->left.lateness < 0 && r.origin >= 0 &&
		   fstat(r.in.fd, &r.left_st) == 0 && S_ISREG(r.left_st.st_mode);
	r.csv = feat_rows_new(&r.j->left, r.in.name, on_left, &r);
	if (!r.csv) {
		feat_error_nomem(err);
		goto out;
	}
	for (;;) {
		uint64_t q;
		int64_t T;

		if (!r.in.eof && (r.j->left.lateness < 0 || !r.nheap ||
				  r.heap[0].T > r.left_max - r.j->left.lateness)) {
			if (read_left(&r, err) < 0)
				goto out;
			continue;
		}
		if (r.in.eof && !r.sorted) {
			if (r.reread) {
				if (lseek(r.in.fd, r.origin, SEEK_SET) < 0) {
					feat_error_errno(err, errno, "cannot read '%s'", r.in.name);
					goto out;
				}
				r.csv2 = feat_rows_new(&r.j->left, r.in.name, on_text, &r);
				if (!r.csv2) {
					feat_error_nomem(err);
					goto out;
				}
			}
			if (r.nheap)
				qsort(r.heap, r.nheap, sizeof(*r.heap), qref_cmp);
			if (r.reread && r.nheap && values_in_query_order(&r, err) < 0)
				goto out;
			r.sorted = 1;
			r.hpos = 0;
		}
		if (r.sorted) {
			if (r.hpos == r.nheap)
				break;
			q = r.heap[r.hpos].seq;
			T = r.heap[r.hpos].T;
			prefetch_queries(&r);
		} else {
			if (!r.nheap)
				break;
			q = r.heap[0].seq;
			T = r.heap[0].T;
		}
		for (i = 0; i < plan->ngroup_bys; i++)
			if (r.gbs[i].used && advance(&r, i, T, err) < 0)
				goto out;
		if (answer(&r, q, T, err) < 0)
			goto out;
		if (r.sorted) {
			r.hpos++;
			release_answered(&r);
		} else
			heap_pop(&r);
		if (emit_ready(&r, err) < 0)
			goto out;
	}
	/* Read every stream to its end, so that a truncated or corrupted
	 * stream is an error even when no query needed its tail. */
	for (i = 0; i < plan->ngroup_bys; i++)
		for (k = 0; k < r.gbs[i].nstreams; k++) {
			struct feat_tilein *t = r.gbs[i].streams[k];

			while (!t->done) {
				if (feat_tilein_peek(t, flush_out, &r, err) < 0)
					goto out;
				feat_tilein_pop(t);
			}
		}
	if (r.reread) {
		struct stat now;

		if (fstat(r.in.fd, &now) < 0 || now.st_size != r.left_st.st_size ||
		    now.st_mtim.tv_sec != r.left_st.st_mtim.tv_sec ||
		    now.st_mtim.tv_nsec != r.left_st.st_mtim.tv_nsec) {
			feat_error_set(err, r.in.name, 0, 0,
				       "left input changed while the join read it");
			goto out;
		}
	}
	ret = feat_output_flush(out, err);
out:
	for (i = 0; r.gbs && i < plan->ngroup_bys; i++) {
		for (k = 0; k < r.gbs[i].nstreams; k++) {
			feat_tilein_close(r.gbs[i].streams[k]);
			free(r.gbs[i].streams[k]);
		}
		free(r.gbs[i].streams);
		free(r.gbs[i].last_ts);
		feat_state_release(&r.gbs[i].st);
	}
	free(r.gbs);
	feat_rows_free(r.csv);
	feat_rows_free(r.csv2);
	feat_buf_release(&r.t2);
	feat_buf_release(&r.t2len);
	if (in_open)
		feat_input_close(&r.in);
	free(r.field_col);
	free(r.keep_col);
	free(r.slots);
	free(r.a_off);
	free(r.heap);
	feat_buf_release(&r.v);
	feat_buf_release(&r.a);
	feat_buf_release(&r.b);
	feat_buf_release(&r.text);
	feat_buf_release(&r.key);
	free(r.drow);
	for (i = 0; r.json && i < r.j->nparts; i++)
		feat_buf_release(&r.json[i]);
	free(r.json);
	return ret;
}
