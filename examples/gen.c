/*
 * gen - writes the movies example (examples/movies) at any scale.
 *
 *   gen --out dir [--events N] [--users U] [--items I] [--days D]
 *       [--queries Q] [--seed S] [--start DATE] [--partition]
 *
 * It writes the same schema as the small hand-made files:
 *   views.csv    user,item,ts,activity   N view events
 *   ratings.csv  item,rating,ts          about N/10 ratings
 *   queries.csv  user,item,ts            Q left rows
 * With --partition it writes the layout that feat-backfill reads instead,
 * with one file per UTC day of event time, each file with its own header:
 *   dir/events/views/YYYY-MM-DD.csv
 *   dir/events/ratings/YYYY-MM-DD.csv
 *   dir/left/YYYY-MM-DD.csv
 * Every stream gets a file for every day from DATE to the last day with
 * output in any stream, even if it is only a header, so that a backfill never
 * finds a missing partition in the middle of the range.
 *
 * The model:
 *  - View times are spread over D days from DATE 00:00Z. The gaps between
 *    consecutive views are uniform around the mean gap, so the files are in
 *    time order and equal timestamps (ties) occur.
 *  - Users and items follow Zipf's law with exponent 1: "u1" and "m1" are the
 *    most frequent ones. About 0.1% of views have no user (which the movies
 *    definition filters out with its where clause), 0.05% no item and 0.1%
 *    no activity. 80% of the activities are item_view, 15% add_to_cart and
 *    5% purchase.
 *  - A view is followed by a rating of its item with probability 1/10,
 *    1 s to 1 h later. Ratings are half-stars from 0.5 to 5, and 1% of them
 *    are null (an empty cell).
 *  - Queries are spread evenly over the views. A query placed after view i
 *    has a time in [t(i), t(i+1)]. One in ten is exactly at t(i), for the
 *    user and item of view i, which checks that an event at the query's time
 *    is left out. 1% of the other queries are for the unknown user "u0".
 *
 * Determinism: the output is a function of the arguments alone. We use our
 * own generator (xoshiro256** seeded with splitmix64) and no libm. The only
 * floating point is the Zipf table, made of correctly rounded IEEE divisions
 * and additions in a fixed order, so every conforming platform gives the same
 * bytes. Each aspect (times, views, ratings, queries) draws from its own
 * stream. Changing --queries therefore leaves views.csv and ratings.csv as
 * they were.
 *
 * Speed: the output goes through 1 MiB buffers per file, and numbers are
 * formatted by hand. 1e7 events take a few seconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAY_MS 86400000LL
#define OUTBUF (1 << 20)
/* Longest line we write: two names of "u" + 20 digits, 3 numbers, commas. */
#define MAXLINE 256

static const char usage[] =
	"usage: gen --out dir [--events N] [--users U] [--items I] [--days D]\n"
	"           [--queries Q] [--seed S] [--start DATE] [--partition]\n"
	"\n"
	"Writes the movies example at scale: dir/views.csv, dir/ratings.csv and\n"
	"dir/queries.csv, or with --partition dir/events/views/DATE.csv,\n"
	"dir/events/ratings/DATE.csv and dir/left/DATE.csv (one file per UTC day).\n"
	"\n"
	"    --out dir       output directory (created if missing)\n"
	"    --events N      number of view events (default 100000)\n"
	"    --users U       number of users, Zipf-distributed (default 1000)\n"
	"    --items I       number of items, Zipf-distributed (default 1000)\n"
	"    --days D        days the views span (default 7)\n"
	"    --queries Q     number of left rows (default 10000)\n"
	"    --seed S        random seed (default 1)\n"
	"    --start DATE    first day, YYYY-MM-DD (default 2026-11-01)\n"
	"    --partition     write one file per day (the feat-backfill layout)\n"
	"\n"
	"The same arguments always give the same bytes.\n";

/* ---- random numbers ---------------------------------------------------- */

struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Seeds stream number `stream` of the run: independent streams per aspect. */
static void rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
	int i;

	for (i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256** by Blackman and Vigna. */
static inline uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

/*
 * A uniform number in [0, n), n > 0. We reject the top partial range rather
 * than take a plain modulo, so that small ranges are unbiased too. It costs
 * almost nothing.
 */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	uint64_t lim = UINT64_MAX - UINT64_MAX % n;
	uint64_t x;

	do
		x = rng_next(r);
	while (x >= lim);
	return x % n;
}

/* A double in [0, 1) with 53 random bits. */
static inline double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- Zipf -------------------------------------------------------------- */

struct zipf {
	double *cdf;		/* cdf[k] = sum of 1/j for j = 1..k+1 */
	uint64_t n;
};

static int zipf_init(struct zipf *z, uint64_t n)
{
	double acc = 0;
	uint64_t k;

	z->n = n;
	z->cdf = malloc(n * sizeof(*z->cdf));
	if (!z->cdf)
		return -1;
	for (k = 0; k < n; k++) {
		acc += 1.0 / (double)(k + 1);
		z->cdf[k] = acc;
	}
	return 0;
}

/* Returns a rank in 1..n: rank k with probability (1/k) / H(n). */
static inline uint64_t zipf_draw(const struct zipf *z, struct rng *r)
{
	double u = rng_unit(r) * z->cdf[z->n - 1];
	uint64_t lo = 0, hi = z->n - 1;

	/* The first k with cdf[k] > u; cdf[n-1] > u always holds. */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (z->cdf[mid] > u)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo + 1;
}

/* ---- dates ------------------------------------------------------------- */

/* Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int parse_date(const char *s, int64_t *days)
{
	unsigned y, m, d;
	int n = 0;

	if (strlen(s) != 10 || sscanf(s, "%4u-%2u-%2u%n", &y, &m, &d, &n) != 3
	    || n != 10 || m < 1 || m > 12 || d < 1 || d > 31)
		return -1;
	*days = days_from_civil(y, m, d);
	/* Reject 2026-02-30 and the like: the date must survive a round trip. */
	{
		int64_t yy;
		unsigned mm, dd;

		civil_from_days(*days, &yy, &mm, &dd);
		if (yy != (int64_t)y || mm != m || dd != d)
			return -1;
	}
	return 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ---- buffered output --------------------------------------------------- */

/*
 * One output stream: a file, or with --partition a directory of day files
 * that follow each other as the stream's time advances.
 */
struct out {
	const char *name;	/* "views", "ratings", "queries" (for messages) */
	const char *header;	/* header line including "\n" */
	char path[4096];	/* current file */
	char dir[4096];		/* partition directory */
	int fd;
	int64_t day;		/* day of the open partition file */
	int64_t next_day;	/* first day that has no file yet */
	char *buf;
	size_t len;
};

static int failed;

static void die_io(const char *what, const char *path)
{
	fprintf(stderr, "gen: %s '%s': %s\n", what, path, strerror(errno));
	failed = 1;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void out_flush(struct out *o)
{
	if (o->len && o->fd >= 0 && !failed
	    && write_all(o->fd, o->buf, o->len) < 0)
		die_io("cannot write", o->path);
	o->len = 0;
}

static void out_open(struct out *o, const char *path)
{
	snprintf(o->path, sizeof(o->path), "%s", path);
	o->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
	if (o->fd < 0) {
		die_io("cannot create", path);
		return;
	}
	o->len = strlen(o->header);
	memcpy(o->buf, o->header, o->len);
}

static void out_close(struct out *o)
{
	if (o->fd < 0)
		return;
	out_flush(o);
	if (close(o->fd) < 0 && !failed)
		die_io("cannot close", o->path);
	o->fd = -1;
}

static void day_path(char *buf, size_t n, const char *dir, int64_t day)
{
	int64_t y;
	unsigned m, d;

	civil_from_days(day, &y, &m, &d);
	snprintf(buf, n, "%s/%04" PRId64 "-%02u-%02u.csv", dir, y, m, d);
}

/* In partition mode: makes sure the file of `day` is the open one. */
static void out_day(struct out *o, int64_t day)
{
	char path[4200];

	if (o->day == day)
		return;
	out_close(o);
	/* Days without rows still get a file with just the header. */
	for (; o->next_day < day; o->next_day++) {
		day_path(path, sizeof(path), o->dir, o->next_day);
		out_open(o, path);
		out_close(o);
	}
	day_path(path, sizeof(path), o->dir, day);
	out_open(o, path);
	o->day = day;
	o->next_day = day + 1;
}

static inline void put_mem(struct out *o, const char *s, size_t n)
{
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static inline void put_u64(struct out *o, uint64_t v)
{
	char tmp[24];
	int i = 24;

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put_mem(o, tmp + i, (size_t)(24 - i));
}

static inline void put_i64(struct out *o, int64_t v)
{
	if (v < 0) {
		o->buf[o->len++] = '-';
		put_u64(o, (uint64_t)0 - (uint64_t)v);
	} else {
		put_u64(o, (uint64_t)v);
	}
}

/* A name such as "u17"; rank 0 means null, written as an empty field. */
static inline void put_name(struct out *o, char prefix, uint64_t rank)
{
	if (rank == 0)
		return;
	o->buf[o->len++] = prefix;
	put_u64(o, rank);
}

static inline void put_char(struct out *o, char c)
{
	o->buf[o->len++] = c;
}

/* Ends a line: flushes when the buffer could not take another one. */
static inline void put_eol(struct out *o)
{
	o->buf[o->len++] = '\n';
	if (o->len > OUTBUF - MAXLINE)
		out_flush(o);
}

/* ---- pending ratings (a binary min-heap on time, then creation order) --- */

struct rating {
	int64_t ts;
	uint64_t seq;
	uint64_t item;
	int half;		/* rating * 2, 1..10; 0 = null */
};

struct heap {
	struct rating *v;
	size_t n, cap;
};

static inline int rating_less(const struct rating *a, const struct rating *b)
{
	return a->ts < b->ts || (a->ts == b->ts && a->seq < b->seq);
}

static int heap_push(struct heap *h, struct rating r)
{
	size_t i;

	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 1024;
		struct rating *v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			return -1;
		h->v = v;
		h->cap = cap;
	}
	i = h->n++;
	while (i > 0 && rating_less(&r, &h->v[(i - 1) / 2])) {
		h->v[i] = h->v[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->v[i] = r;
	return 0;
}

static struct rating heap_pop(struct heap *h)
{
	struct rating top = h->v[0], last = h->v[--h->n];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && rating_less(&h->v[c + 1], &h->v[c]))
			c++;
		if (!rating_less(&h->v[c], &last))
			break;
		h->v[i] = h->v[c];
		i = c;
	}
	if (h->n > 0)
		h->v[i] = last;
	return top;
}

/* ---- the generator ----------------------------------------------------- */

struct opts {
	uint64_t events, users, items, days, queries, seed;
	int64_t start_day;
	int partition;
	const char *out;
};

static const char *const activities[] = { "item_view", "add_to_cart", "purchase" };

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

static int mkdir_p(const char *path)
{
	char tmp[4096];
	size_t i, n = strlen(path);

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, 0777) < 0 && errno != EEXIST) {
			fprintf(stderr, "gen: cannot create directory '%s': %s\n",
				tmp, strerror(errno));
			return -1;
		}
		tmp[i] = path[i];
	}
	return 0;
}

static void write_rating(struct out *o, const struct opts *op,
			 const struct rating *r)
{
	if (op->partition)
		out_day(o, floor_div(r->ts, DAY_MS));
	put_name(o, 'm', r->item);
	put_char(o, ',');
	if (r->half) {
		put_u64(o, (uint64_t)(r->half / 2));
		if (r->half & 1)
			put_mem(o, ".5", 2);
	}
	put_char(o, ',');
	put_i64(o, r->ts);
	put_eol(o);
}

struct query {
	int64_t ts;
	uint64_t user, item;
};

static int generate(const struct opts *op)
{
	struct out outs[3] = {
		{ .name = "views", .header = "user,item,ts,activity\n" },
		{ .name = "ratings", .header = "item,rating,ts\n" },
		{ .name = "queries", .header = "user,item,ts\n" },
	};
	struct out *ov = &outs[0], *orr = &outs[1], *oq = &outs[2];
	struct rng rt, rv, rr, rq;
	struct zipf zu = { NULL, 0 }, zi = { NULL, 0 };
	struct heap heap = { NULL, 0, 0 };
	struct query *qs = NULL;
	size_t qcap = 0;
	uint64_t i, seq = 0, span, gap2, pos, qacc = 0;
	int64_t start, end, t, tnext, maxday;
	int rc = -1, k;

	for (k = 0; k < 3; k++) {
		outs[k].fd = -1;
		outs[k].day = INT64_MIN;
		outs[k].next_day = op->start_day;
		outs[k].buf = malloc(OUTBUF);
		if (!outs[k].buf)
			goto nomem;
	}
	if (op->partition) {
		snprintf(ov->dir, sizeof(ov->dir), "%s/events/views", op->out);
		snprintf(orr->dir, sizeof(orr->dir), "%s/events/ratings", op->out);
		snprintf(oq->dir, sizeof(oq->dir), "%s/left", op->out);
		for (k = 0; k < 3; k++)
			if (mkdir_p(outs[k].dir) < 0)
				goto out;
	} else {
		char path[4200];
		static const char *const files[] = {
			"views.csv", "ratings.csv", "queries.csv"
		};

		if (mkdir_p(op->out) < 0)
			goto out;
		for (k = 0; k < 3; k++) {
			snprintf(path, sizeof(path), "%s/%s", op->out, files[k]);
			out_open(&outs[k], path);
		}
		if (failed)
			goto out;
	}
	if (zipf_init(&zu, op->users) < 0 || zipf_init(&zi, op->items) < 0)
		goto nomem;

	rng_seed(&rt, op->seed, 1);
	rng_seed(&rv, op->seed, 2);
	rng_seed(&rr, op->seed, 3);
	rng_seed(&rq, op->seed, 4);

	/*
	 * Times advance in 1/1024 ms steps so that more events than
	 * milliseconds still spread out. The gaps are uniform in [0, 2 * mean].
	 */
	span = op->days * (uint64_t)DAY_MS;
	start = op->start_day * DAY_MS;
	end = start + (int64_t)span;
	gap2 = op->events ? span * 1024 / op->events * 2 : 0;
	pos = rng_below(&rt, gap2 + 1);
	tnext = start + (int64_t)(pos >> 10);
	if (tnext >= end)
		tnext = end - 1;

	for (i = 0; i < op->events && !failed; i++) {
		uint64_t user, item, nq;
		int act, exact;
		unsigned x;

		t = tnext;
		pos += rng_below(&rt, gap2 + 1);
		tnext = start + (int64_t)(pos >> 10);
		if (tnext >= end)
			tnext = end - 1;
		if (i + 1 == op->events)
			tnext = t + (int64_t)(gap2 >> 11);

		/* Pending ratings up to now go first: the ratings file is in time order. */
		while (heap.n && heap.v[0].ts <= t) {
			struct rating r = heap_pop(&heap);

			write_rating(orr, op, &r);
		}

		/* The view. */
		x = (unsigned)rng_below(&rv, 100000);
		user = x < 100 ? 0 : zipf_draw(&zu, &rv);
		item = x >= 100 && x < 150 ? 0 : zipf_draw(&zi, &rv);
		x = (unsigned)rng_below(&rv, 1000);
		act = x < 1 ? -1 : x < 800 ? 0 : x < 950 ? 1 : 2;
		if (op->partition)
			out_day(ov, floor_div(t, DAY_MS));
		put_name(ov, 'u', user);
		put_char(ov, ',');
		put_name(ov, 'm', item);
		put_char(ov, ',');
		put_i64(ov, t);
		put_char(ov, ',');
		if (act >= 0)
			put_mem(ov, activities[act], strlen(activities[act]));
		put_eol(ov);

		/* Sometimes a rating of the item, 1 s to 1 h later. */
		if (item && rng_below(&rr, 10) == 0) {
			struct rating r;

			r.ts = t + 1000 + (int64_t)rng_below(&rr, 3600000 - 1000 + 1);
			r.seq = seq++;
			r.item = item;
			r.half = rng_below(&rr, 100) == 0 ? 0 : 1 + (int)rng_below(&rr, 10);
			if (heap_push(&heap, r) < 0)
				goto nomem;
		}

		/*
		 * Queries: Q of them spread evenly over the N views (a Bresenham
		 * step), placed in [t, tnext] so they stay in time order.
		 */
		qacc += op->queries;
		nq = qacc / op->events;
		qacc %= op->events;
		if (nq == 0)
			continue;
		if (nq > qcap) {
			struct query *nqs = realloc(qs, nq * sizeof(*qs));

			if (!nqs)
				goto nomem;
			qs = nqs;
			qcap = nq;
		}
		for (uint64_t j = 0; j < nq; j++) {
			struct query *q = &qs[j];

			exact = rng_below(&rq, 10) == 0;
			if (exact) {
				q->ts = t;
				q->user = user ? user : zipf_draw(&zu, &rq);
				q->item = item ? item : zipf_draw(&zi, &rq);
			} else {
				q->ts = t + (int64_t)rng_below(&rq, (uint64_t)(tnext - t) + 1);
				q->user = rng_below(&rq, 100) == 0 ? UINT64_MAX : zipf_draw(&zu, &rq);
				q->item = zipf_draw(&zi, &rq);
			}
		}
		/* Insertion sort: nq is 1 unless there are more queries than views. */
		for (uint64_t j = 1; j < nq; j++) {
			struct query q = qs[j];
			uint64_t m = j;

			while (m > 0 && qs[m - 1].ts > q.ts) {
				qs[m] = qs[m - 1];
				m--;
			}
			qs[m] = q;
		}
		for (uint64_t j = 0; j < nq; j++) {
			if (op->partition)
				out_day(oq, floor_div(qs[j].ts, DAY_MS));
			if (qs[j].user == UINT64_MAX)
				put_mem(oq, "u0", 2);
			else
				put_name(oq, 'u', qs[j].user);
			put_char(oq, ',');
			put_name(oq, 'm', qs[j].item);
			put_char(oq, ',');
			put_i64(oq, qs[j].ts);
			put_eol(oq);
		}
	}
	while (heap.n && !failed) {
		struct rating r = heap_pop(&heap);

		write_rating(orr, op, &r);
	}

	if (op->partition) {
		/* Every stream gets files up to the last day any stream reached. */
		maxday = op->start_day;
		for (k = 0; k < 3; k++)
			if (outs[k].next_day - 1 > maxday)
				maxday = outs[k].next_day - 1;
		for (k = 0; k < 3; k++) {
			out_close(&outs[k]);
			outs[k].day = INT64_MIN;
			if (outs[k].next_day <= maxday)
				out_day(&outs[k], maxday);
		}
	}
	for (k = 0; k < 3; k++)
		out_close(&outs[k]);
	rc = failed ? -1 : 0;
	goto out;
nomem:
	fputs("gen: out of memory\n", stderr);
out:
	for (k = 0; k < 3; k++) {
		if (outs[k].fd >= 0)
			close(outs[k].fd);
		free(outs[k].buf);
	}
	free(zu.cdf);
	free(zi.cdf);
	free(heap.v);
	free(qs);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts op = {
		.events = 100000, .users = 1000, .items = 1000, .days = 7,
		.queries = 10000, .seed = 1, .partition = 0, .out = NULL,
	};
	const char *start = "2026-11-01";
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		uint64_t *num = NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			return 0;
		}
		if (!strcmp(a, "--partition")) {
			op.partition = 1;
			continue;
		}
		if (!strcmp(a, "--events"))
			num = &op.events;
		else if (!strcmp(a, "--users"))
			num = &op.users;
		else if (!strcmp(a, "--items"))
			num = &op.items;
		else if (!strcmp(a, "--days"))
			num = &op.days;
		else if (!strcmp(a, "--queries"))
			num = &op.queries;
		else if (!strcmp(a, "--seed"))
			num = &op.seed;
		else if (strcmp(a, "--out") && strcmp(a, "--start")) {
			fprintf(stderr, "gen: unknown argument '%s'\n", a);
			goto usage_error;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "gen: option '%s' needs a value\n", a);
			goto usage_error;
		}
		i++;
		if (!strcmp(a, "--out")) {
			op.out = argv[i];
		} else if (!strcmp(a, "--start")) {
			start = argv[i];
		} else if (parse_u64(argv[i], num) < 0) {
			fprintf(stderr, "gen: option '%s' needs a number, not '%s'\n",
				a, argv[i]);
			goto usage_error;
		}
	}
	if (!op.out) {
		fputs("gen: --out is required\n", stderr);
		goto usage_error;
	}
	if (parse_date(start, &op.start_day) < 0) {
		fprintf(stderr, "gen: cannot parse '%s' as a date (YYYY-MM-DD)\n", start);
		goto usage_error;
	}
	/* Limits keep every intermediate product inside 64 bits. */
	if (op.users < 1 || op.items < 1 || op.users > 100000000
	    || op.items > 100000000) {
		fputs("gen: --users and --items must be in 1..100000000\n", stderr);
		goto usage_error;
	}
	if (op.days < 1 || op.days > 36600) {
		fputs("gen: --days must be in 1..36600\n", stderr);
		goto usage_error;
	}
	if (op.events > ((uint64_t)1 << 40) || op.queries > ((uint64_t)1 << 40)) {
		fputs("gen: --events and --queries must be at most 2^40\n", stderr);
		goto usage_error;
	}
	return generate(&op) < 0 ? 1 : 0;
usage_error:
	fputs(usage, stderr);
	return 2;
}
