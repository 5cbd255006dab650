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
#include <malloc.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "csvin.h"
#include "rowin.h"
#include "error.h"
#include "expr.h"
#include "hash.h"
#include "io.h"
#include "join.h"
#include "plan.h"
#include "progress.h"
#include "state.h"
#include "tile.h"
#include "tilein.h"

#include <zstd.h>

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
	unsigned char *wtag;		/* per slot, with nw workers: its key's */
	size_t nw;			/* the workers the join will have (0: none) */
	size_t front, count, cap;	/* slot seq front .. front + count;
					 * cap a power of two */
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
	/* parallel: see "Workers" below */
	struct jpar *par;		/* NULL: one thread */
	long w;				/* a worker's index; -1: the main thread */
	unsigned char *hold;		/* a worker's, per stream: a block taken */
	struct abucket *bk;		/* a worker's answers, per bucket */
	void *cctx;			/* a worker's, compressing them */
	int status;			/* a worker's: 0 running, 1 done, -1
					 * failed, -2 stopped (under the lock) */
	int stopped;			/* a worker's: it saw the stop */
	struct qref fail;		/* a worker's failing query (status -1) */
	size_t answered;		/* a worker's queries answered, now and
					 * then (atomic): for the progress line */
	struct feat_error werr;
	struct feat_join_stats wstats;
	struct feat_expr **derive;	/* j->derive, or a worker's clones */
	/* scratch */
	struct feat_value *drow;	/* left values + outputs */
	struct feat_buf *json;		/* per part: its list and map values */
	struct feat_buf text;
};

static size_t slot_index(const struct jrun *r, uint64_t seq)
{
	return (r->front + (seq - r->first_seq)) & (r->cap - 1);
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
	/* Without lateness no row is answered before the end: the rows stay
	 * in seq order, for sort_queries(). */
	while (i && r->j->left.lateness >= 0) {
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

/*
 * Sorts the n queries of q, in seq order, by (T, seq): a stable radix sort
 * on T - min T, 11 bits a pass. 0, or -1 when out of memory (q as it was).
 */
static int sort_queries(struct qref **q, size_t n)
{
	struct qref *src = *q, *dst;
	uint64_t min = (uint64_t)INT64_MAX, max = 0, range;
	size_t i, shift;

	for (i = 0; i < n; i++) {
		uint64_t t = (uint64_t)src[i].T ^ (UINT64_C(1) << 63);

		min = t < min ? t : min;
		max = t > max ? t : max;
	}
	if (n < 2 || min == max)
		return 0;
	range = max - min;
	if (!(dst = malloc(n * sizeof(*dst))))
		return -1;
	for (shift = 0; shift < 64 && range >> shift; shift += 11) {
		size_t count[2048] = { 0 }, sum = 0, c;
		struct qref *t;

		for (i = 0; i < n; i++)
			count[((((uint64_t)src[i].T ^ (UINT64_C(1) << 63)) - min) >> shift) & 2047]++;
		for (c = 0; c < 2048; c++) {
			size_t k = count[c];

			count[c] = sum;
			sum += k;
		}
		for (i = 0; i < n; i++)
			dst[count[((((uint64_t)src[i].T ^ (UINT64_C(1) << 63)) - min) >> shift) & 2047]++] = src[i];
		t = src;
		src = dst;
		dst = t;
	}
	*q = src;
	free(dst);
	return 0;
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
	unsigned char *t = r->nw ? malloc(cap) : NULL;
	struct qref *h;

	if (!s || !o || (r->nw && !t)) {
		free(s);
		free(o);
		free(t);
		return -1;
	}
	for (i = 0; i < r->count; i++) {
		s[i] = r->slots[(r->front + i) & (r->cap - 1)];
		o[i] = r->a_off[(r->front + i) & (r->cap - 1)];
		if (t)
			t[i] = r->wtag[(r->front + i) & (r->cap - 1)];
	}
	free(r->slots);
	free(r->a_off);
	free(r->wtag);
	r->slots = s;
	r->a_off = o;
	r->wtag = t;
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
static long worker_of(struct jrun *r, const struct feat_value *vals);

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
	if (feat_progress_due(++r->stats->rows))
		feat_progress_show(r->stats->rows, 0, "left rows read");
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
	s = &r->slots[(r->front + r->count) & (r->cap - 1)];
	memset(s, 0, sizeof(*s));
	r->a_off[(r->front + r->count) & (r->cap - 1)] = a->len;
	if (r->reread) {
		feat_buf_reset(&r->text);
		left_text(r, row, &r->text);
		s->left_len = (uint32_t)r->text.len;
		if (r->text.len > UINT32_MAX)
			return feat_error_set(err, r->in.name, row->line, 0,
					      "left row is longer than 4 GiB");
	} else {
		left_text(r, row, a);
		size_t a_off = r->a_off[(r->front + r->count) & (r->cap - 1)];

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
	if (r->nw) {
		long w = worker_of(r, row->vals);

		if (w < 0)
			return feat_error_nomem(err);
		r->wtag[(r->front + r->count) & (r->cap - 1)] = (unsigned char)w;
	}
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
			r->a_off[(r->front + i) & (r->cap - 1)] -= d;
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
			struct slot *s = &r->slots[(r->front + i) & (r->cap - 1)];

			if (!s->b_len)
				continue;
			feat_buf_add(&fresh, r->b.ptr + s->b_off, s->b_len);
			s->b_off = fresh.len - s->b_len;
		}
		feat_buf_release(&r->b);
		r->b = fresh;
	}
}

static int bucket_ready(struct jrun *r, struct feat_error *err);
static const char *bucket_text(const struct jrun *r, uint64_t b_off);

/* Writes the answered rows at the front of the queue. */
static int emit_ready(struct jrun *r, struct feat_error *err)
{
	while (r->count) {
		struct slot *s = &r->slots[r->front];
		const char *text = NULL, *feats;
		int ready = r->par ? bucket_ready(r, err) : s->b_len > 0;

		if (ready < 0)
			return -1;
		if (!ready)
			break;

		if (!r->reread)
			text = r->a.ptr + r->a_off[r->front];
		else if (next_text(r, s, &text, err) < 0)
			return -1;
		feats = r->par ? bucket_text(r, s->b_off) : r->b.ptr + s->b_off;
		if (feat_output_write(r->out, text, s->left_len, err) < 0 ||
		    feat_output_write(r->out, feats, s->b_len, err) < 0)
			return -1;
		if (!r->par)
			r->b_live -= s->b_len;
		r->front = (r->front + 1) & (r->cap - 1);
		r->count--;
		r->first_seq++;
	}
	compact(r);
	return 0;
}

/*
 * Workers. Once the left input has ended, a join of one part with no
 * lateness (every row waits for the end) splits its keys among workers,
 * threads of their own: worker w keeps the state of the keys whose hash
 * part_of() gives w, answers the queries of those keys in time order
 * from its own sorted list, and writes each answer's text where it stays
 * put. The main thread reads the tile streams and decompresses their
 * blocks, which every worker decodes (skipping the records of the others'
 * keys), and writes the rows out in left order as they are answered.
 * A key's events and queries meet in one worker in the order one thread
 * would apply them, so the output is the same bytes.
 *
 * Blocks of a stream wait in a ring of RING until every worker still
 * running has moved past them. Worker 0, once its queries are answered,
 * reads every stream to its end, so that a corrupted tail is reported as
 * without workers; a stream's error travels in the ring to the place
 * where it was found.
 */
#define MAX_WORKERS 8
#define RING 2

struct pblock {
	struct feat_buf buf;
	uint32_t count;
	int end;			/* the stream ended here */
	int bad;			/* reading it failed: err */
	struct feat_error err;
};

struct pstream {
	struct feat_tilein *t;		/* the main thread's */
	struct pblock ring[RING];
	uint64_t made;			/* blocks read */
	uint64_t used[MAX_WORKERS];	/* per worker: blocks done with */
	int ended;
	int wanted;			/* a worker waits for its next block */
};

struct jpar {
	pthread_mutex_t mu;
	pthread_cond_t work;		/* workers wait for blocks */
	pthread_cond_t main;		/* the main thread waits for room */
	int stop;
	int failing;			/* a worker failed, at fail */
	struct qref fail;		/* the earliest failing query */
	uint64_t news;			/* counts the signals to main */
	size_t nw, running;
	struct jrun *wk;
	pthread_t *tid;
	struct pstream *ps;
	size_t nps;
	size_t gi;			/* the group_by */
	uint64_t seq0, nrows;		/* the rows: seqs seq0 .. + nrows */
	size_t nbuckets;
	uint32_t *bdone;		/* per bucket: rows answered (atomic) */
	size_t loaded;			/* the bucket in text, or -1 */
	struct feat_buf *text;		/* per worker: its part of it */
	void *dctx;
};


/* The worker of a key whose feat_hash_bytes() is hash, among nw. */
static inline long part_of_hash(uint64_t hash, size_t nw)
{
	return (long)(((hash >> 32) * nw) >> 32);
}

/* 1 when r keeps the state of rec's key: always, but in a worker. */
static inline int mine(const struct jrun *r, const struct feat_tile_rec *rec)
{
	return r->w < 0 || part_of_hash(rec->hash, r->par->nw) == r->w;
}

/*
 * Answers wait, compressed, for the rows before them (see "Workers"): the
 * rows are cut into buckets of BUCKET_ROWS in left order, and a worker
 * appends the text of each answer to its part of the row's bucket, in
 * blocks of ZBLOCK compressed as they fill. The main thread writes a
 * bucket's rows once all are answered: no worker touches it again.
 */
#define BUCKET_SHIFT 16
#define ZBLOCK (64 * 1024)
#define OFF_BITS 56

struct abucket {
	struct feat_buf z;		/* compressed blocks, one after another */
	uint64_t zraw;			/* the bytes they hold */
	struct feat_buf raw;		/* the block being filled */
};

/* The worker of a left row's key (its values as read); null keys match
 * nothing, and go to worker 0. -1 when out of memory. */
static long worker_of(struct jrun *r, const struct feat_value *vals)
{
	const struct feat_part *pt = &r->j->parts[0];
	const struct feat_group_by *g = &r->plan->group_bys[pt->group_by];
	size_t k;

	feat_buf_reset(&r->key);
	for (k = 0; k < g->nkeys; k++) {
		if (vals[pt->left_keys[k]].type == FEAT_NULL)
			return 0;
		feat_tile_put_value(&r->key, &vals[pt->left_keys[k]]);
	}
	if (!r->key.ptr && g->nkeys)
		return -1;
	return part_of_hash(feat_hash_bytes(r->key.ptr, r->key.len), r->nw);
}

/* Appends an answer's text to its row's bucket; *off is where it will be
 * once the bucket is decompressed. 0 or -1 (out of memory). */
static int keep_answer(struct jrun *r, uint64_t seq, const char *p, size_t n,
		       uint64_t *off)
{
	struct abucket *bk = &r->bk[(seq - r->par->seq0) >> BUCKET_SHIFT];

	*off = bk->zraw + bk->raw.len;
	if (feat_buf_add(&bk->raw, p, n) < 0)
		return -1;
	if (bk->raw.len >= ZBLOCK) {
		size_t bound = ZSTD_compressBound(bk->raw.len), got;

		if (!r->cctx && !(r->cctx = ZSTD_createCCtx()))
			return -1;
		if (feat_buf_grow(&bk->z, bound) < 0)
			return -1;
		got = ZSTD_compressCCtx(r->cctx, bk->z.ptr + bk->z.len, bound,
					bk->raw.ptr, bk->raw.len, 1);
		if (ZSTD_isError(got))
			return -1;
		bk->z.len += got;
		bk->zraw += bk->raw.len;
		feat_buf_reset(&bk->raw);
	}
	return 0;
}

/* Decompresses every worker's part of bucket b into p->text (main
 * thread), freeing the parts. 0 or -1 with err set. */
static int load_bucket(struct jpar *p, size_t b, struct feat_error *err)
{
	size_t w;

	for (w = 0; w < p->nw; w++) {
		struct abucket *bk = &p->wk[w].bk[b];
		struct feat_buf *t = &p->text[w];
		size_t got;

		feat_buf_reset(t);
		if (feat_buf_grow(t, bk->zraw + bk->raw.len + 1) < 0)
			return feat_error_nomem(err);
		if (bk->zraw) {
			got = ZSTD_decompressDCtx(p->dctx, t->ptr, bk->zraw,
						  bk->z.ptr, bk->z.len);
			if (ZSTD_isError(got) || got != bk->zraw)
				return feat_error_set(err, NULL, 0, 0,
						      "internal error: answers lost");
		}
		memcpy(t->ptr + bk->zraw, bk->raw.ptr ? bk->raw.ptr : "", bk->raw.len);
		t->len = bk->zraw + bk->raw.len;
		feat_buf_release(&bk->z);
		feat_buf_release(&bk->raw);
	}
	p->loaded = b;
	return 0;
}

/* With workers: 1 when the front row's bucket is all answered and in
 * text, 0 when not yet, -1 with err set. */
static int bucket_ready(struct jrun *r, struct feat_error *err)
{
	struct jpar *p = r->par;
	size_t b = (r->first_seq - p->seq0) >> BUCKET_SHIFT;
	uint64_t lo = p->seq0 + ((uint64_t)b << BUCKET_SHIFT), hi;

	if (b == p->loaded)
		return 1;
	hi = lo + ((uint64_t)1 << BUCKET_SHIFT);
	if (hi > p->seq0 + p->nrows)
		hi = p->seq0 + p->nrows;
	if (__atomic_load_n(&p->bdone[b], __ATOMIC_ACQUIRE) < hi - lo)
		return 0;
	return load_bucket(p, b, err) < 0 ? -1 : 1;
}

/* With workers: the text at b_off of the bucket in text. */
static const char *bucket_text(const struct jrun *r, uint64_t b_off)
{
	return r->par->text[b_off >> OFF_BITS].ptr +
	       (b_off & ((UINT64_C(1) << OFF_BITS) - 1));
}

/* Wakes the main thread, the lock held. */
static void signal_main(struct jpar *p)
{
	p->news++;
	pthread_cond_signal(&p->main);
}

/* The oldest block of ps a running worker still reads. */
static uint64_t oldest_used(const struct jpar *p, const struct pstream *ps)
{
	uint64_t lo = ps->made;
	size_t w;

	for (w = 0; w < p->nw; w++)
		if (!p->wk[w].status && ps->used[w] < lo)
			lo = ps->used[w];
	return lo;
}

/* A worker's feat_tilein_peek(): records of the blocks the main thread
 * reads. A stop is an error with r->status -2. */
static int wpeek(struct jrun *r, struct gbrun *gr, size_t i,
		 struct feat_error *err)
{
	struct feat_tilein *t = gr->streams[i];
	struct jpar *p = r->par;
	struct pstream *ps = &p->ps[i];
	size_t w = (size_t)r->w;

	while (!t->have && !t->done) {
		const struct pblock *b;
		int got = feat_tilein_next(t, err);

		if (got < 0)
			return -1;
		if (got > 0)
			break;
		pthread_mutex_lock(&p->mu);
		if (r->hold[i]) {
			r->hold[i] = 0;
			ps->used[w]++;
			signal_main(p);
		}
		while (ps->used[w] == ps->made && !p->stop) {
			ps->wanted = 1;
			signal_main(p);
			pthread_cond_wait(&p->work, &p->mu);
		}
		b = &ps->ring[ps->used[w] % RING];
		if (p->stop) {
			pthread_mutex_unlock(&p->mu);
			r->stopped = 1;
			return feat_error_set(err, NULL, 0, 0, "stopped");
		}
		pthread_mutex_unlock(&p->mu);
		if (b->bad) {
			*err = b->err;
			return -1;
		}
		if (b->end) {
			t->done = 1;
			break;
		}
		feat_tile_reader_take(&t->rd, b->buf.ptr, b->buf.len, b->count);
		r->hold[i] = 1;
	}
	return 0;
}

static int peek(struct jrun *r, struct gbrun *gr, size_t i,
		struct feat_error *err)
{
	if (r->w >= 0)
		return wpeek(r, gr, i, err);
	return feat_tilein_peek(gr->streams[i], flush_out, r, err);
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

			if (peek(r, gr, i, err) < 0)
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
			r->stats->events += t->rec.nevents;
			if (t->rec.ahead && mine(r, t->rec.ahead))
				feat_state_prefetch(&gr->st, t->rec.ahead);
			if (mine(r, &t->rec) &&
			    feat_state_take(&gr->st, &t->rec, t->in.name, err) < 0)
				return -1;
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
		feat_expr_eval(r->derive[i], r->drow,
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
	if (r->par) {
		/* a worker: the text waits in its bucket; the bucket counts
		 * the row answered for the main thread */
		size_t len = b->len - s->b_off;
		uint64_t off;

		if (keep_answer(r, seq, b->ptr + s->b_off, len, &off) < 0)
			return feat_error_nomem(err);
		if (off >> OFF_BITS)
			return feat_error_set(err, NULL, 0, 0,
					      "features of the rows are too long");
		feat_buf_reset(b);
		s->b_off = (uint64_t)r->w << OFF_BITS | off;
		s->b_len = (uint32_t)len;
		__atomic_add_fetch(&r->par->bdone[(seq - r->par->seq0) >> BUCKET_SHIFT],
				   1, __ATOMIC_RELEASE);
		return 0;
	}
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
		if (feat_tilein_header(t, err) < 0) {
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

/* 1 when a worker has failed at a query before (T, seq): rows after it
 * need no answer, as one thread would have stopped there. */
static int past_failure(struct jpar *p, int64_t T, uint64_t seq)
{
	struct qref q = { T, seq };
	int past;

	if (!__atomic_load_n(&p->failing, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&p->mu);
	past = heap_less(&p->fail, &q);
	pthread_mutex_unlock(&p->mu);
	return past;
}

static void *work(void *arg)
{
	struct jrun *r = arg;
	struct jpar *p = r->par;
	struct gbrun *gr = &r->gbs[p->gi];
	struct feat_error *err = &r->werr;
	struct qref at = { INT64_MAX, UINT64_MAX };	/* the failing query */
	int rc = 0;
	size_t i;

	for (; r->hpos < r->nheap; r->hpos++) {
		uint64_t q = r->heap[r->hpos].seq;
		int64_t T = r->heap[r->hpos].T;

		if (!(r->hpos & 4095))
			__atomic_store_n(&r->answered, r->hpos, __ATOMIC_RELAXED);
		if ((!(r->hpos & 4095) && __atomic_load_n(&p->stop, __ATOMIC_RELAXED)) ||
		    past_failure(p, T, q)) {
			r->stopped = 1;
			rc = -1;
			break;
		}
		prefetch_queries(r);
		if (advance(r, p->gi, T, err) < 0 || answer(r, q, T, err) < 0) {
			at.T = T;
			at.seq = q;
			rc = -1;
			break;
		}
		release_answered(r);
	}
	/* worker 0 reads the streams to their end, as one thread does once
	 * every row is answered */
	for (i = 0; !rc && r->w == 0 && i < gr->nstreams; i++) {
		struct feat_tilein *t = gr->streams[i];

		while (!rc && !t->done && !past_failure(p, INT64_MAX, UINT64_MAX)) {
			rc = wpeek(r, gr, i, err);
			feat_tilein_pop(t);
		}
	}
	pthread_mutex_lock(&p->mu);
	if (rc < 0 && !r->stopped) {
		/* the others go on to this query, so that the error reported
		 * is the one the earliest query meets, as with one thread */
		r->status = -1;
		r->fail = at;
		if (!p->failing || heap_less(&at, &p->fail)) {
			p->fail = at;
			__atomic_store_n(&p->failing, 1, __ATOMIC_RELEASE);
		}
	} else {
		r->status = rc < 0 ? -2 : 1;
	}
	p->running--;
	signal_main(p);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* The number of workers for a join, should it have rows: 0 for none. */
static size_t workers_for(const struct jrun *r, unsigned threads)
{
	long n = threads ? (long)threads : sysconf(_SC_NPROCESSORS_ONLN);

	if (!threads && n > 4)
		n = 4;
	if (n > MAX_WORKERS)
		n = MAX_WORKERS;
	if (n < 2 || r->j->nparts != 1 || r->j->left.lateness >= 0)
		return 0;
	return (size_t)n;
}

static void free_worker(struct jrun *w, size_t gi)
{
	struct gbrun *gr = w->gbs ? &w->gbs[gi] : NULL;
	size_t i;

	for (i = 0; gr && i < gr->nstreams; i++) {
		if (gr->streams[i])
			feat_tile_reader_release(&gr->streams[i]->rd);
		free(gr->streams[i]);
	}
	if (gr) {
		free(gr->streams);
		free(gr->last_ts);
		feat_state_release(&gr->st);
	}
	free(w->gbs);
	free(w->hold);
	for (i = 0; w->bk && i < w->par->nbuckets; i++) {
		feat_buf_release(&w->bk[i].z);
		feat_buf_release(&w->bk[i].raw);
	}
	free(w->bk);
	ZSTD_freeCCtx(w->cctx);
	free(w->heap);
	feat_buf_release(&w->v);
	feat_buf_release(&w->b);
	feat_buf_release(&w->key);
	free(w->drow);
	for (i = 0; w->json && i < w->j->nparts; i++)
		feat_buf_release(&w->json[i]);
	free(w->json);
	for (i = 0; w->derive && i < w->j->nderive; i++)
		feat_expr_free(w->derive[i]);
	free(w->derive);
}

/* Worker w as a copy of r with state, streams, scratch and queries of
 * its own. 0 or -1. */
static int init_worker(struct jrun *r, struct jpar *p, size_t w,
		       struct feat_error *err)
{
	struct jrun *k = &p->wk[w];
	const struct gbrun *mg = &r->gbs[p->gi];
	struct gbrun *gr;
	size_t i;

	*k = *r;
	k->w = (long)w;
	k->stats = &k->wstats;
	memset(&k->wstats, 0, sizeof(k->wstats));
	k->a = (struct feat_buf)FEAT_BUF_INIT;
	k->a_off = NULL;
	k->b = k->v = k->key = k->text = (struct feat_buf)FEAT_BUF_INIT;
	k->t2 = k->t2len = (struct feat_buf)FEAT_BUF_INIT;
	k->csv = k->csv2 = NULL;
	k->heap = NULL;
	k->nheap = k->heap_cap = k->hpos = k->hfreed = 0;
	k->vpos = k->vfreed = 0;
	k->cctx = NULL;
	k->bk = calloc(p->nbuckets, sizeof(*k->bk));
	k->status = k->stopped = 0;
	k->gbs = calloc(r->plan->ngroup_bys, sizeof(*k->gbs));
	k->drow = calloc(r->j->left.ncols + r->j->noutputs + 1, sizeof(*k->drow));
	k->json = calloc(r->j->nparts, sizeof(*k->json));
	k->derive = calloc(r->j->nderive + 1, sizeof(*k->derive));
	k->hold = calloc(mg->nstreams + 1, 1);
	if (!k->gbs || !k->drow || !k->json || !k->derive || !k->hold || !k->bk)
		return feat_error_nomem(err);
	for (i = 0; i < r->j->nderive; i++)
		if (!(k->derive[i] = feat_expr_clone(r->j->derive[i])))
			return feat_error_nomem(err);
	gr = &k->gbs[p->gi];
	gr->used = 1;
	gr->by_seq = mg->by_seq;
	if (feat_state_init(&gr->st, &r->plan->group_bys[p->gi], err) < 0)
		return -1;
	gr->streams = calloc(mg->nstreams, sizeof(*gr->streams));
	gr->last_ts = calloc(mg->nstreams, sizeof(*gr->last_ts));
	if (!gr->streams || !gr->last_ts)
		return feat_error_nomem(err);
	for (i = 0; i < mg->nstreams; i++) {
		struct feat_tilein *t = calloc(1, sizeof(*t));

		if (!t)
			return feat_error_nomem(err);
		gr->streams[i] = t;
		gr->nstreams++;
		gr->last_ts[i] = INT64_MIN;
		if (feat_tile_reader_init(&t->rd, mg->streams[i]->in.name,
					  r->plan, err) < 0)
			return -1;
		feat_tile_reader_like(&t->rd, &mg->streams[i]->rd);
		t->in.name = mg->streams[i]->in.name;
		if (t->rd.resolution && feat_state_tiled(&gr->st, err) < 0)
			return -1;
	}
	return 0;
}

/* Moves every query, with its values, to the list of its key's worker
 * (in time order still); the queries' heap and, when the texts are
 * reread, A go. 0 or -1. */
static int deal_queries(struct jrun *r, struct jpar *p, struct feat_error *err)
{
	size_t h, w, n[MAX_WORKERS] = { 0 }, vbytes[MAX_WORKERS] = { 0 };

	/* A is in seq order: a row's values end where the next row begins */
	for (h = 0; h < r->count; h++) {
		size_t si = (r->front + h) & (r->cap - 1);
		uint64_t end = h + 1 < r->count ? r->a_off[(si + 1) & (r->cap - 1)] : r->a.len;

		n[r->wtag[si]]++;
		vbytes[r->wtag[si]] += end - r->a_off[si] - held_len(r, &r->slots[si]);
	}
	for (w = 0; w < p->nw; w++) {
		struct jrun *wk = &p->wk[w];

		wk->heap = malloc((n[w] ? n[w] : 1) * sizeof(*wk->heap));
		if (!wk->heap || feat_buf_grow(&wk->v, vbytes[w] + 1) < 0)
			return feat_error_nomem(err);
	}
	for (h = 0; h < r->nheap; h++) {
		uint64_t d = r->heap[h].seq - r->first_seq;

		if (h + 8 < r->nheap) {
			size_t ahead = slot_index(r, r->heap[h + 8].seq);

			__builtin_prefetch(&r->a_off[ahead]);
			__builtin_prefetch(&r->wtag[ahead]);
			__builtin_prefetch(&r->slots[ahead]);
			if (h + 4 < r->nheap)
				__builtin_prefetch(r->a.ptr + r->a_off[slot_index(r, r->heap[h + 4].seq)]);
		}
		size_t si = slot_index(r, r->heap[h].seq);
		uint64_t at = r->a_off[si] + held_len(r, &r->slots[si]);
		uint64_t end = d + 1 < r->count ? r->a_off[(si + 1) & (r->cap - 1)] : r->a.len;
		struct jrun *wk = &p->wk[r->wtag[si]];

		wk->heap[wk->nheap++] = r->heap[h];
		feat_buf_add(&wk->v, r->a.ptr + at, (size_t)(end - at));
	}
	free(r->heap);
	r->heap = NULL;
	r->nheap = r->heap_cap = 0;
	if (r->reread) {
		feat_buf_release(&r->a);
		free(r->a_off);
		r->a_off = NULL;
	}
	return 0;
}

/* Reads the next block of stream i into its ring, the lock not held. */
static void read_block(struct jrun *r, struct pstream *ps)
{
	struct pblock *b = &ps->ring[ps->made % RING];
	int got;

	b->end = b->bad = 0;
	got = feat_tilein_block(ps->t, &b->buf, &b->count, flush_out, r, &b->err);
	if (got < 0) {
		b->bad = 1;
		ps->ended = 1;
	} else if (got == 0) {
		b->end = 1;
		ps->ended = 1;
	}
}

/* The progress line: the queries the workers have answered. */
static void show_answered(struct jpar *p, size_t total)
{
	size_t w, n = 0;

	for (w = 0; w < p->nw; w++)
		n += __atomic_load_n(&p->wk[w].answered, __ATOMIC_RELAXED);
	if (feat_progress_due(n))
		feat_progress_show(n, total, "rows answered");
}

/*
 * The main thread's part once the workers run: reads blocks where a
 * worker waits or room is, writes the rows answered, until every worker
 * has stopped. 0, or -1 with err set (its own failures: writing).
 */
static int feed_workers(struct jrun *r, struct jpar *p, struct feat_error *err)
{
	int rc = 0;

	pthread_mutex_lock(&p->mu);
	while (p->running) {
		long best = -1;
		size_t i;

		for (i = 0; !p->stop && i < p->nps; i++) {
			struct pstream *ps = &p->ps[i];

			if (ps->ended || ps->made - oldest_used(p, ps) >= RING)
				continue;
			if (ps->wanted) {
				best = (long)i;
				break;
			}
			if (best < 0 && feat_input_ready(&ps->t->in))
				best = (long)i;
		}
		if (best < 0) {
			uint64_t news = p->news;

			pthread_mutex_unlock(&p->mu);
			rc = rc < 0 ? rc : emit_ready(r, err);
			pthread_mutex_lock(&p->mu);
			if (rc < 0 && !p->stop) {
				p->stop = 1;
				pthread_cond_broadcast(&p->work);
			}
			/* what a worker said meanwhile is not missed */
			while (p->running && p->news == news)
				pthread_cond_wait(&p->main, &p->mu);
			continue;
		}
		pthread_mutex_unlock(&p->mu);
		read_block(r, &p->ps[best]);
		rc = rc < 0 ? rc : emit_ready(r, err);
		show_answered(p, p->nrows);
		pthread_mutex_lock(&p->mu);
		p->ps[best].made++;
		p->ps[best].wanted = 0;
		if (rc < 0)
			p->stop = 1;
		pthread_cond_broadcast(&p->work);
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

/*
 * Answers every query with workers (see "Workers"); the rows are written
 * once it returns 0 (as many as answered when -1, with err set).
 */
static int run_workers(struct jrun *r, size_t nw, struct feat_error *err)
{
	struct jpar p;
	struct gbrun *mg;
	size_t i, started = 0;
	int rc = -1;

	memset(&p, 0, sizeof(p));
	p.nw = nw;
	for (i = 0; i < r->plan->ngroup_bys; i++)
		if (r->gbs[i].used)
			p.gi = i;
	mg = &r->gbs[p.gi];
	p.nps = mg->nstreams;
	p.seq0 = r->first_seq;
	p.nrows = r->count;
	p.nbuckets = (size_t)((p.nrows >> BUCKET_SHIFT) + 1);
	p.loaded = (size_t)-1;
	p.wk = calloc(nw, sizeof(*p.wk));
	p.tid = calloc(nw, sizeof(*p.tid));
	p.ps = calloc(p.nps, sizeof(*p.ps));
	p.bdone = calloc(p.nbuckets, sizeof(*p.bdone));
	p.text = calloc(nw, sizeof(*p.text));
	p.dctx = ZSTD_createDCtx();
	if (!p.wk || !p.tid || !p.ps || !p.bdone || !p.text || !p.dctx) {
		feat_error_nomem(err);
		goto out;
	}
	for (i = 0; i < p.nps; i++) {
		p.ps[i].t = mg->streams[i];
		if (feat_tilein_header(mg->streams[i], err) < 0)
			goto out;
	}
	r->par = &p;
	for (i = 0; i < nw; i++)
		if (init_worker(r, &p, i, err) < 0)
			goto out;
	if (deal_queries(r, &p, err) < 0)
		goto out;
#ifdef M_ARENA_MAX
	/* The workers' allocations share one arena (glibc's default, one per
	 * thread, costs their slack and fragments each time). */
	mallopt(M_ARENA_MAX, 2);
#endif
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.work, NULL);
	pthread_cond_init(&p.main, NULL);
	for (started = 0; started < nw; started++) {
		p.running++;
		if (pthread_create(&p.tid[started], NULL, work, &p.wk[started])) {
			p.running--;
			pthread_mutex_lock(&p.mu);
			p.stop = 1;
			pthread_cond_broadcast(&p.work);
			pthread_mutex_unlock(&p.mu);
			feat_error_set(err, NULL, 0, 0, "cannot start a thread");
			break;
		}
	}
	rc = feed_workers(r, &p, err) < 0 || started < nw ? -1 : 0;
	for (i = 0; i < started; i++)
		pthread_join(p.tid[i], NULL);
	if (rc == 0 && p.failing) {
		/* the error of the earliest failing query */
		for (i = 0; i < nw; i++)
			if (p.wk[i].status == -1 && !heap_less(&p.fail, &p.wk[i].fail) &&
			    !heap_less(&p.wk[i].fail, &p.fail))
				break;
		*err = p.wk[i].werr;
		rc = -1;
	}
	for (i = 0; i < nw; i++)
		if (p.wk[i].wstats.events > r->stats->events)
			r->stats->events = p.wk[i].wstats.events;
	if (rc == 0)
		rc = emit_ready(r, err);
	pthread_cond_destroy(&p.work);
	pthread_cond_destroy(&p.main);
	pthread_mutex_destroy(&p.mu);
out:
	for (i = 0; p.wk && i < nw; i++)
		free_worker(&p.wk[i], p.gi);
	for (i = 0; p.ps && i < p.nps; i++) {
		size_t k;

		for (k = 0; k < RING; k++)
			feat_buf_release(&p.ps[i].ring[k].buf);
	}
	for (i = 0; p.text && i < nw; i++)
		feat_buf_release(&p.text[i]);
	free(p.text);
	free(p.bdone);
	ZSTD_freeDCtx(p.dctx);
	free(p.wk);
	free(p.tid);
	free(p.ps);
	r->par = NULL;
	return rc;
}

int feat_join_run(const struct feat_plan *plan, const char *left,
		  const char *const *tiles, size_t ntiles,
		  struct feat_output *out, enum feat_out_format fmt,
		  unsigned threads, struct feat_join_stats *stats,
		  struct feat_error *err)
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
	r.derive = r.j->derive;
	r.w = -1;
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
	r.nw = workers_for(&r, threads);
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
			if (r.j->left.lateness < 0) {
				if (sort_queries(&r.heap, r.nheap) < 0) {
					feat_error_nomem(err);
					goto out;
				}
			} else if (r.nheap) {
				qsort(r.heap, r.nheap, sizeof(*r.heap), qref_cmp);
			}
			r.sorted = 1;
			r.hpos = 0;
			feat_progress_phase();
			if (r.nw && r.nheap) {
				if (run_workers(&r, r.nw, err) < 0)
					goto out;
				continue;
			}
			if (r.reread && r.nheap && values_in_query_order(&r, err) < 0)
				goto out;
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
			if (feat_progress_due(r.hpos))
				feat_progress_show(r.hpos, r.nheap, "rows answered");
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
	free(r.wtag);
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
