/*
 * tile.c - writing and reading tile streams (feat-format(5)).
 *
 * Compressing a block costs about as much as parsing the CSV it came from,
 * so the writer hands each full block to a thread of its own (struct
 * feat_tile_bg, started when the first block fills) and goes on encoding
 * records into a second buffer. There is at most one block in the thread:
 * it is collected (waited for, then queued on the output) before the next
 * is handed over, and by every flush, so blocks leave in order, a flush
 * still sends everything, and the bytes are those one thread would write
 * (the same compression calls on the same blocks). Blocks cut by a flush
 * are compressed in the calling thread, as is everything when the thread
 * cannot start.
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

#include "error.h"
#include "hash.h"
#include "io.h"
#include "plan.h"
#include "time.h"
#include "tile.h"

static const unsigned char magic[8] = {
	0x89, 'F', 'T', 'I', 'L', 0x0d, 0x0a, 0x1a,
};

/* Value tags, feat-format(5): the numbers are the format. */
enum { TAG_NULL, TAG_FALSE, TAG_TRUE, TAG_INT, TAG_DOUBLE, TAG_STRING,
       TAG_TIMESTAMP, TAG_VECTOR, TAG_STRLIST, TAG_MAP };

#define BLOCK_HEADER 20
/*
 * zstd levels (bench/README.md has the measurements): 1 for a file, which
 * is kept; for a pipe, whose reader takes the blocks at once, -50, which
 * costs a third of level 1's CPU time for about twice the bytes.
 */
#define ZSTD_LEVEL 1
#define ZSTD_LEVEL_PIPE (-50)

static void put16(unsigned char *p, unsigned v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
}

static void put32(unsigned char *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

static uint32_t get16(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t get32(const unsigned char *p)
{
	return get16(p) | get16(p + 2) << 16;
}

/* Writes v as a varint at p, which has room for 10 bytes; returns the end. */
static inline unsigned char *put_varint(unsigned char *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (unsigned char)v;
	return p;
}

static inline unsigned char *put_svarint(unsigned char *p, int64_t v)
{
	return put_varint(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

/*
 * Copies n bytes to p. Keys and short strings are a few bytes: two
 * overlapping fixed-size moves beat a call to memcpy.
 */
static inline unsigned char *put_bytes(unsigned char *p, const void *s,
				       size_t n)
{
	const unsigned char *q = s;

	if (n >= 8 && n <= 16) {
		uint64_t a, b;

		memcpy(&a, q, 8);
		memcpy(&b, q + n - 8, 8);
		memcpy(p, &a, 8);
		memcpy(p + n - 8, &b, 8);
	} else if (n >= 4 && n < 8) {
		uint32_t a, b;

		memcpy(&a, q, 4);
		memcpy(&b, q + n - 4, 4);
		memcpy(p, &a, 4);
		memcpy(p + n - 4, &b, 4);
	} else if (n && n < 4) {
		p[0] = q[0];
		p[n / 2] = q[n / 2];
		p[n - 1] = q[n - 1];
	} else if (n) {
		memcpy(p, q, n);
	}
	return p + n;
}

/* The most bytes put_value() writes for v. */
static inline size_t value_room(const struct feat_value *v)
{
	switch (v->type) {
	case FEAT_VECTOR:
	case FEAT_STRLIST:
	case FEAT_MAP:
	case FEAT_STRING:
	case FEAT_JSON:
		return 11 + v->u.s.len;
	default:
		return 11;
	}
}

/*
 * Writes the encoding of v at p, which has room for value_room(v) bytes.
 * Returns the end, or NULL for a value of no known type. Encoding into
 * room made once per record, not byte by byte into a growing buffer, is
 * what keeps the writer off feat-aggregate's profile.
 */
static inline unsigned char *put_value(unsigned char *p,
				       const struct feat_value *v)
{
	switch (v->type) {
	case FEAT_NULL:
		*p++ = TAG_NULL;
		return p;
	case FEAT_BOOL:
		*p++ = v->u.i ? TAG_TRUE : TAG_FALSE;
		return p;
	case FEAT_INT:
		*p++ = TAG_INT;
		return put_svarint(p, v->u.i);
	case FEAT_TIMESTAMP:
		*p++ = TAG_TIMESTAMP;
		return put_svarint(p, v->u.i);
	case FEAT_DOUBLE: {
		uint64_t u;

		memcpy(&u, &v->u.d, 8);
		*p++ = TAG_DOUBLE;
		feat_put_le64(p, u);
		return p + 8;
	}
	case FEAT_VECTOR:
	case FEAT_STRLIST:
	case FEAT_MAP:
	case FEAT_STRING:
	case FEAT_JSON:
		*p++ = v->type == FEAT_VECTOR ? TAG_VECTOR :
		       v->type == FEAT_STRLIST ? TAG_STRLIST :
		       v->type == FEAT_MAP ? TAG_MAP : TAG_STRING;
		p = put_varint(p, v->u.s.len);
		return put_bytes(p, v->u.s.ptr, v->u.s.len);
	}
	return NULL;
}

int feat_tile_put_value(struct feat_buf *b, const struct feat_value *v)
{
	unsigned char *p;

	if (feat_buf_grow(b, value_room(v)) < 0)
		return -1;
	p = put_value((unsigned char *)b->ptr + b->len, v);
	if (!p)
		return -1;
	b->len = (size_t)(p - (unsigned char *)b->ptr);
	b->ptr[b->len] = '\0';
	return 0;
}

/*
 * Varints as buf.c reads them, with the one- and two-byte ones (most
 * lengths and time deltas) read here without a call.
 */
static inline int get_varint(const unsigned char **p, const unsigned char *end,
			     uint64_t *v)
{
	const unsigned char *s = *p;

	if (end - s >= 2 && !(s[1] & 0x80)) {
		if (!(s[0] & 0x80)) {
			*v = s[0];
			*p = s + 1;
		} else {
			*v = (uint64_t)(s[0] & 0x7f) | (uint64_t)s[1] << 7;
			*p = s + 2;
		}
		return 0;
	}
	return feat_get_varint(p, end, v);
}

static inline int get_svarint(const unsigned char **p,
			      const unsigned char *end, int64_t *v)
{
	uint64_t u;

	if (get_varint(p, end, &u) < 0)
		return -1;
	*v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
	return 0;
}

static inline int get_value(const unsigned char **p, const unsigned char *end,
			    struct feat_value *v)
{
	const unsigned char *s = *p;
	uint64_t u;
	int s0;

	if (s >= end)
		return -1;
	s0 = *s;
	switch (*s++) {
	case TAG_NULL:
		v->type = FEAT_NULL;
		break;
	case TAG_FALSE:
	case TAG_TRUE:
		v->type = FEAT_BOOL;
		v->u.i = s[-1] == TAG_TRUE;
		break;
	case TAG_INT:
	case TAG_TIMESTAMP:
		v->type = s[-1] == TAG_INT ? FEAT_INT : FEAT_TIMESTAMP;
		if (get_svarint(&s, end, &v->u.i) < 0)
			return -1;
		break;
	case TAG_DOUBLE: {
		if (end - s < 8)
			return -1;
		v->u.d = feat_get_le_double(s);
		s += 8;
		v->type = FEAT_DOUBLE;
		if (!(v->u.d - v->u.d == 0))
			return -1;	/* the format has finite doubles only */
		break;
	}
	case TAG_STRING:
	case TAG_VECTOR:
	case TAG_STRLIST:
	case TAG_MAP:
		if (get_varint(&s, end, &u) < 0 || u > (uint64_t)(end - s))
			return -1;
		v->type = s0 == TAG_STRING ? FEAT_STRING
			  : s0 == TAG_VECTOR ? FEAT_VECTOR
			  : s0 == TAG_STRLIST ? FEAT_STRLIST : FEAT_MAP;
		v->u.s.ptr = (const char *)s;
		v->u.s.len = (size_t)u;
		if (s0 == TAG_VECTOR) {
			uint64_t i;

			if (u % 8)
				return -1;
			for (i = 0; i < u; i += 8) {
				uint64_t bits = feat_get_le64(s + i);

				/* Exponent all ones: infinite or NaN. */
				if ((bits >> 52 & 0x7ff) == 0x7ff)
					return -1;
			}
		}
		s += u;
		break;
	default:
		return -1;
	}
	*p = s;
	return 0;
}

int feat_tile_get_value(const unsigned char **p, const unsigned char *end,
			struct feat_value *v)
{
	return get_value(p, end, v);
}

int feat_tile_writer_init(struct feat_tile_writer *w, struct feat_output *out,
			  const struct feat_plan *plan, size_t gb,
			  struct feat_error *err)
{
	return feat_tile_writer_init_shard(w, out, plan, gb, 0, 0, err);
}

int feat_tile_writer_init_shard(struct feat_tile_writer *w,
				struct feat_output *out,
				const struct feat_plan *plan, size_t gb,
				uint32_t k, uint32_t n, struct feat_error *err)
{
	return feat_tile_writer_init_res(w, out, plan, gb, k, n, 0, err);
}

int feat_tile_writer_init_res(struct feat_tile_writer *w,
			      struct feat_output *out,
			      const struct feat_plan *plan, size_t gb,
			      uint32_t k, uint32_t n, int64_t resolution,
			      struct feat_error *err)
{
	struct feat_buf h = FEAT_BUF_INIT;
	const char *gname = plan->group_bys[gb].name;
	const char *sname = plan->sources[plan->group_bys[gb].source].name;
	unsigned char fixed[24];
	struct stat st;
	int ret = -1;

	memset(w, 0, sizeof(*w));
	w->out = out;
	w->cctx = ZSTD_createCCtx();
	if (!w->cctx)
		return feat_error_nomem(err);
	if (ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel,
						fstat(out->fd, &st) == 0 &&
						S_ISFIFO(st.st_mode) ?
						ZSTD_LEVEL_PIPE : ZSTD_LEVEL)))
		return feat_error_set(err, NULL, 0, 0, "cannot set up zstd");
	memcpy(fixed, magic, 8);
	put16(fixed + 8, FEAT_TILE_VERSION);
	put16(fixed + 10, (n > 1 ? 1 : 0) | (resolution > 0 ? 2 : 0));
	put32(fixed + 12, (uint32_t)plan->hash);
	put32(fixed + 16, (uint32_t)(plan->hash >> 32));
	put16(fixed + 20, (unsigned)gb);
	put16(fixed + 22, (unsigned)strlen(gname));
	if (feat_buf_add(&h, fixed, 24) < 0 || feat_buf_adds(&h, gname) < 0)
		goto nomem;
	put16(fixed, (unsigned)strlen(sname));
	if (feat_buf_add(&h, fixed, 2) < 0 || feat_buf_adds(&h, sname) < 0)
		goto nomem;
	if (n > 1) {
		put16(fixed, (unsigned)k);
		put16(fixed + 2, (unsigned)n);
		if (feat_buf_add(&h, fixed, 4) < 0)
			goto nomem;
	}
	if (resolution > 0) {
		put32(fixed, (uint32_t)resolution);
		put32(fixed + 4, (uint32_t)((uint64_t)resolution >> 32));
		if (feat_buf_add(&h, fixed, 8) < 0)
			goto nomem;
	}
	w->resolution = resolution;
	put32(fixed, feat_fnv1a32(h.ptr, h.len));
	if (feat_buf_add(&h, fixed, 4) < 0)
		goto nomem;
	ret = feat_output_write(out, h.ptr, h.len, err);
	goto out;
nomem:
	feat_error_nomem(err);
out:
	feat_buf_release(&h);
	return ret;
}

static int end_full_block(struct feat_tile_writer *w, struct feat_error *err);

/*
 * Checks the record just appended to the block at raw offset at. Returns 0
 * when it stays; 1 when the block was full before it: the record is taken
 * back and the block ended, for the caller to write the record again as
 * the first of the next block (its deltas then count from 0); -1 with err
 * set when the record alone is larger than a block may be (what names it).
 */
static int record_fits(struct feat_tile_writer *w, size_t at,
		       const char *what, struct feat_error *err)
{
	struct feat_buf *b = &w->raw;

	if (b->len - at > FEAT_TILE_BLOCK_LIMIT) {
		size_t big = b->len - at;

		b->len = at;	/* the block stays whole */
		return feat_error_set(err, NULL, 0, 0,
				      "%s of %zu bytes is larger than a tile block may be (%d bytes)",
				      what, big, FEAT_TILE_BLOCK_LIMIT);
	}
	if (b->len > FEAT_TILE_BLOCK_MAX && w->nrecords) {
		b->len = at;
		return end_full_block(w, err) < 0 ? -1 : 1;
	}
	return 0;
}

int feat_tile_write_event(struct feat_tile_writer *w, const void *key,
			  size_t klen, int64_t ts, uint64_t seq,
			  const struct feat_value *inputs, size_t n,
			  struct feat_error *err)
{
	struct feat_buf *b = &w->raw;
	size_t i, start = b->len, room = 1 + 10 + klen + 10 + 10 + 10;
	unsigned char *p;

	for (i = 0; i < n; i++)
		room += value_room(&inputs[i]);
	if (feat_buf_grow(b, room) < 0)
		return feat_error_nomem(err);
	p = (unsigned char *)b->ptr + start;
	*p++ = 1;
	p = put_varint(p, klen);
	p = put_bytes(p, key, klen);
	p = put_svarint(p, (int64_t)((uint64_t)ts - (uint64_t)w->prev_ts));
	p = put_svarint(p, (int64_t)(seq - w->prev_seq));
	p = put_varint(p, n);
	for (i = 0; i < n && p; i++)
		p = put_value(p, &inputs[i]);
	if (!p) {
		b->ptr[start] = '\0';
		return feat_error_nomem(err);
	}
	b->len = (size_t)(p - (unsigned char *)b->ptr);
	b->ptr[b->len] = '\0';
	switch (record_fits(w, start, "an event", err)) {
	case -1:
		return -1;
	case 1:
		return feat_tile_write_event(w, key, klen, ts, seq, inputs, n, err);
	}
	w->prev_ts = ts;
	w->prev_seq = seq;
	w->nrecords++;
	return 0;
}

int feat_tile_write_state(struct feat_tile_writer *w, const void *key,
			  size_t klen, int64_t start, int64_t first,
			  int64_t last, uint64_t nevents, const void *states,
			  size_t slen, struct feat_error *err)
{
	struct feat_buf *b = &w->raw;
	size_t at = b->len;

	if (feat_buf_addc(b, 2) < 0 || feat_buf_add_varint(b, klen) < 0 ||
	    feat_buf_add(b, key, klen) < 0 ||
	    feat_buf_add_svarint(b, (int64_t)((uint64_t)start - (uint64_t)w->prev_ts)) < 0 ||
	    feat_buf_add_varint(b, (uint64_t)(first - start)) < 0 ||
	    feat_buf_add_varint(b, (uint64_t)(last - first)) < 0 ||
	    feat_buf_add_varint(b, nevents) < 0 ||
	    feat_buf_add_varint(b, slen) < 0 || feat_buf_add(b, states, slen) < 0)
		return feat_error_nomem(err);
	switch (record_fits(w, at, "a tile", err)) {
	case -1:
		return -1;
	case 1:
		return feat_tile_write_state(w, key, klen, start, first, last,
					     nevents, states, slen, err);
	}
	w->prev_ts = start;
	w->nrecords++;
	return 0;
}

/* Queues a block (kind 'B' with csize compressed bytes at comp, or the
 * end block 'E') on the output, behind its header. */
static int put_block(struct feat_tile_writer *w, int kind, const void *comp,
		     size_t csize, size_t rawlen, uint32_t count,
		     struct feat_error *err)
{
	unsigned char h[BLOCK_HEADER];

	memset(h, 0, sizeof(h));
	h[0] = (unsigned char)kind;
	put32(h + 4, (uint32_t)csize);
	put32(h + 8, (uint32_t)rawlen);
	put32(h + 12, count);
	put32(h + 16, feat_fnv1a32(h, 16));
	if (feat_output_write(w->out, h, sizeof(h), err) < 0 ||
	    (csize && feat_output_write(w->out, comp, csize, err) < 0))
		return -1;
	return 0;
}

/* Compresses raw into comp (grown to the bound). Returns the compressed
 * size, or a zstd error code; 0 when out of memory. */
static size_t compress_block(void *cctx, struct feat_buf *comp,
			     const struct feat_buf *raw)
{
	size_t bound = ZSTD_compressBound(raw->len);

	feat_buf_reset(comp);
	if (feat_buf_grow(comp, bound) < 0)
		return 0;
	return ZSTD_compress2(cctx, comp->ptr, bound, raw->ptr, raw->len);
}

static int compressed(size_t csize, struct feat_error *err)
{
	if (!csize)
		return feat_error_nomem(err);
	if (ZSTD_isError(csize))
		return feat_error_set(err, NULL, 0, 0, "zstd: %s",
				      ZSTD_getErrorName(csize));
	return 0;
}

static int write_block(struct feat_tile_writer *w, int kind,
		       struct feat_error *err)
{
	size_t csize = 0;

	if (kind == 'B') {
		csize = compress_block(w->cctx, &w->comp, &w->raw);
		if (compressed(csize, err) < 0)
			return -1;
		return put_block(w, 'B', w->comp.ptr, csize, w->raw.len,
				 (uint32_t)w->nrecords, err);
	}
	return put_block(w, 'E', NULL, 0, 0, (uint32_t)w->total, err);
}

struct feat_tile_bg {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	void *cctx;		/* the writer's, used by one thread at a time */
	int job;		/* under mu: raw holds a block to compress */
	int done;		/* under mu: comp holds its compressed bytes */
	int quit;		/* under mu: the thread is to end */
	int pending;		/* the writer's: a block is in the thread */
	struct feat_buf raw, comp;
	size_t csize;		/* as compress_block() returns it */
	uint32_t nrecords;
};

static void *bg_main(void *arg)
{
	struct feat_tile_bg *bg = arg;

	pthread_mutex_lock(&bg->mu);
	for (;;) {
		while (!bg->job && !bg->quit)
			pthread_cond_wait(&bg->cv, &bg->mu);
		if (bg->quit)
			break;
		pthread_mutex_unlock(&bg->mu);
		bg->csize = compress_block(bg->cctx, &bg->comp, &bg->raw);
		pthread_mutex_lock(&bg->mu);
		bg->job = 0;
		bg->done = 1;
		pthread_cond_signal(&bg->cv);
	}
	pthread_mutex_unlock(&bg->mu);
	return NULL;
}

/* Starts the thread. Returns 0, or -1 (then the writer stays single). */
static int bg_start(struct feat_tile_writer *w)
{
	struct feat_tile_bg *bg = calloc(1, sizeof(*bg));
	sigset_t all, old;
	int rc;

	if (!bg)
		return -1;
	bg->cctx = w->cctx;
	if (pthread_mutex_init(&bg->mu, NULL)) {
		free(bg);
		return -1;
	}
	if (pthread_cond_init(&bg->cv, NULL)) {
		pthread_mutex_destroy(&bg->mu);
		free(bg);
		return -1;
	}
	/* Signals are the calling thread's to take (the commands' handlers
	 * remove temporary files): the thread starts with all blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&bg->th, NULL, bg_main, bg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		pthread_cond_destroy(&bg->cv);
		pthread_mutex_destroy(&bg->mu);
		free(bg);
		return -1;
	}
	w->bg = bg;
	return 0;
}

/* Waits for the block in the thread, if any, and queues it on the output. */
static int bg_collect(struct feat_tile_writer *w, struct feat_error *err)
{
	struct feat_tile_bg *bg = w->bg;

	if (!bg || !bg->pending)
		return 0;
	pthread_mutex_lock(&bg->mu);
	while (!bg->done)
		pthread_cond_wait(&bg->cv, &bg->mu);
	bg->done = 0;
	pthread_mutex_unlock(&bg->mu);
	bg->pending = 0;
	if (compressed(bg->csize, err) < 0)
		return -1;
	return put_block(w, 'B', bg->comp.ptr, bg->csize, bg->raw.len,
			 bg->nrecords, err);
}

/* Ends the full current block: hands it to the thread, or, without one,
 * writes it as a flush does. */
static int end_full_block(struct feat_tile_writer *w, struct feat_error *err)
{
	struct feat_tile_bg *bg;
	struct feat_buf t;

	if (!w->bg && (w->sync || bg_start(w) < 0)) {
		w->sync = 1;
		return feat_tile_writer_flush(w, err);
	}
	if (bg_collect(w, err) < 0)
		return -1;
	bg = w->bg;
	t = bg->raw;
	bg->raw = w->raw;
	w->raw = t;
	feat_buf_reset(&w->raw);
	bg->nrecords = (uint32_t)w->nrecords;
	bg->pending = 1;
	pthread_mutex_lock(&bg->mu);
	bg->job = 1;
	pthread_cond_signal(&bg->cv);
	pthread_mutex_unlock(&bg->mu);
	w->total += w->nrecords;
	w->nrecords = 0;
	w->prev_ts = 0;
	w->prev_seq = 0;
	return 0;
}

int feat_tile_writer_flush(struct feat_tile_writer *w, struct feat_error *err)
{
	if (bg_collect(w, err) < 0)
		return -1;
	if (w->nrecords) {
		if (write_block(w, 'B', err) < 0)
			return -1;
		w->total += w->nrecords;
		w->nrecords = 0;
		w->prev_ts = 0;
		w->prev_seq = 0;
		feat_buf_reset(&w->raw);
	}
	return feat_output_flush(w->out, err);
}

int feat_tile_writer_finish(struct feat_tile_writer *w, struct feat_error *err)
{
	if (feat_tile_writer_flush(w, err) < 0 || write_block(w, 'E', err) < 0)
		return -1;
	return feat_output_flush(w->out, err);
}

void feat_tile_writer_release(struct feat_tile_writer *w)
{
	struct feat_tile_bg *bg = w->bg;

	if (bg) {
		pthread_mutex_lock(&bg->mu);
		bg->quit = 1;
		pthread_cond_signal(&bg->cv);
		pthread_mutex_unlock(&bg->mu);
		pthread_join(bg->th, NULL);
		pthread_cond_destroy(&bg->cv);
		pthread_mutex_destroy(&bg->mu);
		feat_buf_release(&bg->raw);
		feat_buf_release(&bg->comp);
		free(bg);
		w->bg = NULL;
	}
	feat_buf_release(&w->raw);
	feat_buf_release(&w->comp);
	ZSTD_freeCCtx(w->cctx);
	w->cctx = NULL;
}

int feat_tile_reader_init(struct feat_tile_reader *r, const char *name,
			  const struct feat_plan *plan, struct feat_error *err)
{
	size_t i, most = 0;

	memset(r, 0, sizeof(*r));
	r->name = strdup(name);
	r->plan = plan;
	r->hash = plan->hash;
	r->group_by = -1;
	r->dctx = ZSTD_createDCtx();
	for (i = 0; i < plan->ngroup_bys; i++)
		if (plan->group_bys[i].ninputs > most)
			most = plan->group_bys[i].ninputs;
	r->nvals = most + 1;
	r->vals = calloc(FEAT_TILE_AHEAD * r->nvals, sizeof(*r->vals));
	/* The input buffer always exists, so that offsets into it do too. */
	if (!r->name || !r->dctx || !r->vals || feat_buf_grow(&r->in, 4096) < 0)
		return feat_error_nomem(err);
	return 0;
}

void feat_tile_reader_release(struct feat_tile_reader *r)
{
	free(r->name);
	feat_buf_release(&r->in);
	feat_buf_release(&r->block);
	ZSTD_freeDCtx(r->dctx);
	free(r->vals);
	memset(r, 0, sizeof(*r));
}

int feat_tile_reader_feed(struct feat_tile_reader *r, const void *p, size_t n,
			  struct feat_error *err)
{
	/* Drop what has been consumed before growing. */
	if (r->in_off && r->in_off == r->in.len) {
		feat_buf_reset(&r->in);
		r->in_off = 0;
	} else if (r->in_off > 65536 && r->in_off * 2 > r->in.len) {
		memmove(r->in.ptr, r->in.ptr + r->in_off, r->in.len - r->in_off);
		r->in.len -= r->in_off;
		r->in_off = 0;
	}
	if (feat_buf_add(&r->in, p, n) < 0)
		return feat_error_nomem(err);
	return 0;
}

void feat_tile_reader_eof(struct feat_tile_reader *r)
{
	r->eof = 1;
}

static int bad(struct feat_tile_reader *r, struct feat_error *err,
	       const char *what)
{
	return feat_error_set(err, r->name, 0, 0, "%s", what);
}

static int read_header(struct feat_tile_reader *r, struct feat_error *err)
{
	const unsigned char *u = (const unsigned char *)r->in.ptr + r->in_off;
	size_t avail = r->in.len - r->in_off, glen, slen, need, extra;
	uint64_t hash;
	unsigned gb;

	if (avail < 8) {
		if (r->eof)
			return avail ? bad(r, err, "truncated tile stream (in the header)")
				     : bad(r, err, "empty input: not a tile stream");
		return 0;
	}
	if (memcmp(u, magic, 8))
		return bad(r, err, "not a tile stream (bad magic)");
	if (avail < 26)
		return r->eof ? bad(r, err, "truncated tile stream (in the header)") : 0;
	if (get16(u + 8) != FEAT_TILE_VERSION)
		return feat_error_set(err, r->name, 0, 0,
				      "unsupported tile stream version %u (this feat reads version %d)",
				      (unsigned)get16(u + 8), FEAT_TILE_VERSION);
	if (get16(u + 10) & ~3u)
		return bad(r, err, "tile stream uses flags this feat does not know");
	glen = get16(u + 22);
	if (avail < 24 + glen + 2)
		return r->eof ? bad(r, err, "truncated tile stream (in the header)") : 0;
	slen = get16(u + 24 + glen);
	extra = (get16(u + 10) & 1 ? 4 : 0) + (get16(u + 10) & 2 ? 8 : 0);
	need = 24 + glen + 2 + slen + extra + 4;
	if (avail < need)
		return r->eof ? bad(r, err, "truncated tile stream (in the header)") : 0;
	if (get32(u + need - 4) != feat_fnv1a32(u, need - 4))
		return bad(r, err, "tile stream header checksum mismatch (corrupted)");
	hash = (uint64_t)get32(u + 12) | (uint64_t)get32(u + 16) << 32;
	gb = get16(u + 20);
	if (hash != r->hash)
		return feat_error_set(err, r->name, 0, 0,
				      "tile stream is from another plan (hash %016" PRIx64 ", expected %016" PRIx64 ")",
				      hash, r->hash);
	if (gb >= r->plan->ngroup_bys ||
	    strlen(r->plan->group_bys[gb].name) != glen ||
	    memcmp(r->plan->group_bys[gb].name, u + 24, glen))
		return bad(r, err, "tile stream names a group_by the plan does not have");
	if (get16(u + 10) & 1) {
		r->shard = get16(u + 24 + glen + 2 + slen);
		r->nshards = get16(u + 24 + glen + 2 + slen + 2);
		if (r->nshards < 2 || r->shard >= r->nshards)
			return bad(r, err, "tile stream header names an impossible shard");
	}
	if (get16(u + 10) & 2) {
		const unsigned char *q = u + need - 12;

		r->resolution = (int64_t)((uint64_t)get32(q) | (uint64_t)get32(q + 4) << 32);
		if (r->resolution <= 0)
			return bad(r, err, "tile stream header names an impossible resolution");
		if (feat_group_by_resolution_ok(&r->plan->group_bys[gb], r->resolution,
						err) < 0) {
			snprintf(err->file, sizeof(err->file), "%s", r->name);
			return -1;
		}
	}
	r->group_by = gb;
	r->in_off += need;
	r->state = 1;
	return 1;
}

/*
 * Reads the next block into blk, decompressed: 1 with *count its records,
 * 2 at the end block, 0 when more bytes are needed, -1 with err set.
 */
static int frame_block(struct feat_tile_reader *r, struct feat_buf *blk,
		       uint32_t *count, struct feat_error *err)
{
	const unsigned char *u = (const unsigned char *)r->in.ptr + r->in_off;
	size_t avail = r->in.len - r->in_off;
	uint32_t csize, rsize, n;
	size_t got;

	if (avail < BLOCK_HEADER) {
		if (r->eof)
			return bad(r, err, avail ? "truncated tile stream (in a block header)"
						 : "truncated tile stream (no end block)");
		return 0;
	}
	if (get32(u + 16) != feat_fnv1a32(u, 16) || u[1] || u[2] || u[3] ||
	    (u[0] != 'B' && u[0] != 'E'))
		return bad(r, err, "tile stream block header is corrupted");
	csize = get32(u + 4);
	rsize = get32(u + 8);
	n = get32(u + 12);
	if (u[0] == 'E') {
		if (csize || rsize || n != r->total)
			return bad(r, err, "tile stream end block does not match its records");
		r->in_off += BLOCK_HEADER;
		r->state = 2;
		if (r->in_off != r->in.len)
			return bad(r, err, "bytes after the end of the tile stream");
		return 2;
	}
	if (rsize > FEAT_TILE_BLOCK_LIMIT || csize > ZSTD_compressBound(rsize) ||
	    !n)
		return bad(r, err, "tile stream block header is corrupted");
	if (avail < BLOCK_HEADER + (size_t)csize) {
		if (r->eof)
			return bad(r, err, "truncated tile stream (in a block)");
		return 0;
	}
	feat_buf_reset(blk);
	if (feat_buf_grow(blk, rsize) < 0)
		return feat_error_nomem(err);
	got = ZSTD_decompressDCtx(r->dctx, blk->ptr, rsize,
				  u + BLOCK_HEADER, csize);
	if (ZSTD_isError(got) || got != rsize)
		return feat_error_set(err, r->name, 0, 0,
				      "tile stream block is corrupted (%s)",
				      ZSTD_isError(got) ? ZSTD_getErrorName(got)
							: "wrong size");
	blk->len = rsize;
	r->total += n;
	r->in_off += BLOCK_HEADER + csize;
	*count = n;
	return 1;
}

/* Starts decoding the count records of the block at p. */
static void use_block(struct feat_tile_reader *r, const void *p, size_t len,
		      uint32_t count)
{
	r->bp = p;
	r->blen = len;
	r->block_off = 0;
	r->block_left = count;
	r->prev_ts = 0;
	r->prev_seq = 0;
}

static int read_block(struct feat_tile_reader *r, struct feat_error *err)
{
	uint32_t count;
	int got = frame_block(r, &r->block, &count, err);

	if (got == 1)
		use_block(r, r->block.ptr, r->block.len, count);
	return got < 0 ? -1 : got > 0;
}

int feat_tile_reader_header(struct feat_tile_reader *r, struct feat_error *err)
{
	return r->state ? 1 : read_header(r, err);
}

int feat_tile_reader_block(struct feat_tile_reader *r, struct feat_buf *blk,
			   uint32_t *count, struct feat_error *err)
{
	int got = r->state == 0 ? read_header(r, err) : 1;

	if (got <= 0)
		return got;
	if (r->state == 2)
		return 2;
	return frame_block(r, blk, count, err);
}

void feat_tile_reader_like(struct feat_tile_reader *r,
			   const struct feat_tile_reader *framer)
{
	r->group_by = framer->group_by;
	r->shard = framer->shard;
	r->nshards = framer->nshards;
	r->resolution = framer->resolution;
	r->state = 1;
}

void feat_tile_reader_take(struct feat_tile_reader *r, const void *p,
			   size_t len, uint32_t count)
{
	use_block(r, p, len, count);
}

/* Decodes the next record of the block into rec, with values in vals.
 * Returns 0, or -1 when it is corrupted. */
static int decode_record(struct feat_tile_reader *r, struct feat_tile_rec *rec,
			 struct feat_value *vals)
{
	const unsigned char *p, *end;
	uint64_t klen, n;
	int64_t d;
	size_t i;

	p = r->bp + r->block_off;
	end = r->bp + r->blen;
	if (p >= end || *p++ != (r->resolution ? 2 : 1) ||
	    get_varint(&p, end, &klen) < 0 || klen > (uint64_t)(end - p))
		return -1;
	rec->key = p;
	rec->klen = (size_t)klen;
	rec->hash = feat_hash_bytes(p, (size_t)klen);
	p += klen;
	rec->kind = r->resolution ? 2 : 1;
	if (r->resolution) {
		uint64_t to_first, span, slen;

		/* A state record: start, first and last event, events,
		 * states. */
		if (get_svarint(&p, end, &d) < 0 ||
		    get_varint(&p, end, &to_first) < 0 ||
		    get_varint(&p, end, &span) < 0 ||
		    get_varint(&p, end, &n) < 0 || !n ||
		    get_varint(&p, end, &slen) < 0 ||
		    slen > (uint64_t)(end - p) ||
		    to_first >= (uint64_t)r->resolution ||
		    span >= (uint64_t)r->resolution - to_first)
			return -1;
		r->prev_ts = (int64_t)((uint64_t)r->prev_ts + (uint64_t)d);
		rec->ts = r->prev_ts;
		if (rec->ts % r->resolution)
			return -1;
		rec->first = rec->ts + (int64_t)to_first;
		rec->last = rec->first + (int64_t)span;
		rec->nevents = n;
		rec->seq = 0;
		rec->states = p;
		rec->states_len = (size_t)slen;
		rec->inputs = NULL;
		rec->ninputs = 0;
		p += slen;
		goto done;
	}
	rec->nevents = 1;
	rec->states = NULL;
	rec->states_len = 0;
	if (get_svarint(&p, end, &d) < 0)
		return -1;
	r->prev_ts = (int64_t)((uint64_t)r->prev_ts + (uint64_t)d);
	rec->ts = r->prev_ts;
	if (get_svarint(&p, end, &d) < 0 || get_varint(&p, end, &n) < 0 ||
	    n != r->plan->group_bys[r->group_by].ninputs)
		return -1;
	r->prev_seq += (uint64_t)d;
	rec->seq = r->prev_seq;
	for (i = 0; i < n; i++) {
		const struct feat_group_by *g = &r->plan->group_bys[r->group_by];

		/* Each input null or of its column's type: the states take
		 * the values as words of that type. */
		if (get_value(&p, end, &vals[i]) < 0 ||
		    (vals[i].type != FEAT_NULL &&
		     vals[i].type != g->cols[g->inputs[i]].type))
			return -1;
	}
	rec->inputs = vals;
	rec->ninputs = (size_t)n;
	rec->first = rec->last = rec->ts;
done:
	r->block_off = (size_t)(p - r->bp);
	r->block_left--;
	if (!r->block_left && r->block_off != r->blen)
		return -1;
	return 0;
}

/*
 * Records are decoded up to FEAT_TILE_AHEAD ahead of the one pulled, within
 * the current block (whose bytes stay put until its last record is pulled),
 * so that a caller can fetch the memory later records will need. A
 * corrupted record stops the decoding ahead and is reported when it would
 * have been pulled, so errors come at the same point as without.
 */
int feat_tile_reader_next(struct feat_tile_reader *r,
			  struct feat_tile_rec *rec, struct feat_error *err)
{
	const struct feat_tile_rec *far;
	int got;

	while (!r->ahead_n) {
		if (r->ahead_bad)
			goto corrupt;
		if (!r->block_left) {
			if (r->state == 2)
				return 0;
			got = r->state == 0 ? read_header(r, err) : read_block(r, err);
			if (got <= 0)
				return got;
			continue;
		}
		break;
	}
	while (r->ahead_n < FEAT_TILE_AHEAD && r->block_left && !r->ahead_bad) {
		size_t slot = (r->ahead_head + r->ahead_n) % FEAT_TILE_AHEAD;

		if (decode_record(r, &r->ahead[slot], r->vals + slot * r->nvals) < 0)
			r->ahead_bad = 1;
		else
			r->ahead_n++;
	}
	if (!r->ahead_n)
		goto corrupt;
	*rec = r->ahead[r->ahead_head];
	far = &r->ahead[(r->ahead_head + r->ahead_n - 1) % FEAT_TILE_AHEAD];
	rec->ahead = r->ahead_n > 1 ? far : NULL;
	r->ahead_head = (r->ahead_head + 1) % FEAT_TILE_AHEAD;
	r->ahead_n--;
	return 1;
corrupt:
	return bad(r, err, "tile stream record is corrupted");
}

int feat_tile_readers_shards(struct feat_tile_reader *const *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (r[i]->nshards < 2 || r[i]->nshards != r[0]->nshards)
			return 0;
	return n > 1;
}

int feat_tile_same_resolution(const struct feat_tile_reader *a,
			      const struct feat_tile_reader *b,
			      struct feat_error *err)
{
	char ra[40] = "single events", rb[40] = "single events";

	if (a->resolution == b->resolution)
		return 0;
	if (a->resolution)
		feat_duration_format(ra, a->resolution);
	if (b->resolution)
		feat_duration_format(rb, b->resolution);
	return feat_error_set(err, b->name, 0, 0,
			      "tiles of %s cannot be read with tiles of %s (%s) of the same group_by; merge them first (feat-aggregate --resolution)",
			      rb, ra, a->name);
}
