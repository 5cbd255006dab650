/*
 * bench/gen - the benchmark's event log and query table, deterministic and
 * fast enough to feed feat-aggregate through a pipe (1e8 events, no file).
 *
 *   gen --events N --users U --queries Q [--days D] [--seed S]
 *       [--items I] [--zipf Z] [--exact-frac F]
 *       (--out DIR | [--events-out FILE] [--queries-out FILE])
 *
 * Files (the schema of /work/shared/bench/gen.py, whose semantics this
 * reproduces, though not its bytes):
 *   events.csv   user,item,ts_ms,value   N rows in time order
 *   queries.csv  user,ts_ms              Q rows in random order
 *
 * The model:
 *  - Event times are N points drawn uniformly over D days from
 *    2023-11-14T22:13:20Z (1700000000000 ms), sorted: a Poisson process
 *    conditioned on N events. They are generated in increasing order, one at
 *    a time, by Bentley and Saxe's method ("Generating sorted lists of random
 *    numbers", 1980): the gap to the next of the n points left is the
 *    minimum of n uniforms, 1 - V^(1/n). Times are in whole milliseconds, so
 *    equal times (ties) occur.
 *  - Users are U distinct random integers in [1e6, 1e9); the user of an
 *    event or query is drawn from a Zipf law over them: rank k with weight
 *    1/k^Z (default Z = 1). The ids are shuffled with respect to the ranks.
 *  - Items are "i<R>", R a Zipf(1.1) rank from 0 over I items (default
 *    50000); i0 is the most frequent.
 *  - Values are lognormal: cents = floor(exp(N(7.5, 1.3))) clamped to
 *    1..999999, printed with exactly two decimals (0.01 .. 9999.99).
 *  - Queries: round(Q * F) of them (F = --exact-frac, default 0.2) copy the
 *    (user, ts) of an event drawn uniformly (with replacement), so that an
 *    event exactly at the query time must be left out; the others take a
 *    Zipf user and a time uniform over the span. Then all are shuffled.
 *
 * Determinism: every aspect (times, users, items, values, queries) has its
 * own xoshiro256** stream seeded from --seed with splitmix64, so the same
 * arguments give the same bytes on the same platform. Writing only the
 * queries (--queries-out without --events-out) still walks the event times
 * and users, but skips the items, values and all formatting; that is how
 * the large size makes its query file before piping its events.
 *
 * Speed: Zipf draws use Walker's alias tables (one random number, O(1)),
 * the output goes through a 1 MiB buffer and numbers are formatted by hand.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define START_MS 1700000000000LL
#define DAY_MS 86400000.0
#define OUTBUF (1 << 20)
#define MAXLINE 128

static const char usage[] =
	"usage: gen --events N --users U --queries Q [--days D] [--seed S]\n"
	"           [--items I] [--zipf Z] [--exact-frac F]\n"
	"           (--out DIR | [--events-out FILE] [--queries-out FILE])\n"
	"\n"
	"Writes the benchmark's events (user,item,ts_ms,value; time order) and\n"
	"queries (user,ts_ms; random order). FILE may be - for stdout.\n"
	"\n"
	"    --events N        number of events\n"
	"    --users U         number of users, Zipf-distributed\n"
	"    --queries Q       number of queries\n"
	"    --days D          days the events span, may be fractional (default 30)\n"
	"    --seed S          random seed (default 1)\n"
	"    --items I         number of items, Zipf(1.1) (default 50000)\n"
	"    --zipf Z          exponent of the users' Zipf law (default 1)\n"
	"    --exact-frac F    share of queries at an event's (user, ts) (default 0.2)\n"
	"    --out DIR         write DIR/events.csv and DIR/queries.csv\n"
	"    --events-out F    write the events to F\n"
	"    --queries-out F   write the queries to F\n"
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

/* A uniform integer in [0, n), n > 0, without modulo bias. */
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

/* A double in (0, 1]: safe to take the logarithm of. */
static inline double rng_unit_pos(struct rng *r)
{
	return (double)((rng_next(r) >> 11) + 1) * (1.0 / 9007199254740992.0);
}

/*
 * A standard normal deviate, Marsaglia's polar method. It makes two at a
 * time; the second is kept for the next call.
 */
struct gauss {
	struct rng r;
	double spare;
	int have;
};

static inline double gauss_next(struct gauss *g)
{
	double u, v, s, f;

	if (g->have) {
		g->have = 0;
		return g->spare;
	}
	do {
		u = 2.0 * rng_unit(&g->r) - 1.0;
		v = 2.0 * rng_unit(&g->r) - 1.0;
		s = u * u + v * v;
	} while (s >= 1.0 || s == 0.0);
	f = sqrt(-2.0 * log(s) / s);
	g->spare = v * f;
	g->have = 1;
	return u * f;
}

/* ---- Zipf, by Walker's alias method ------------------------------------ */

/*
 * Rank k (0-based) has weight 1/(k+1)^s. A draw takes one 64-bit random
 * number: its top bits pick a column, its low 32 bits the coin that keeps
 * the column or takes its alias.
 */
struct zipf {
	uint32_t *alias;
	uint32_t *cut;		/* keep the column when coin < cut */
	uint64_t n;
};

static int zipf_init(struct zipf *z, uint64_t n, double s)
{
	double *p = malloc(n * sizeof(*p)), sum = 0;
	uint32_t *small = malloc(n * sizeof(*small));
	uint32_t *large = malloc(n * sizeof(*large));
	uint64_t k, ns = 0, nl = 0;
	int rc = -1;

	z->n = n;
	z->alias = malloc(n * sizeof(*z->alias));
	z->cut = malloc(n * sizeof(*z->cut));
	if (!p || !small || !large || !z->alias || !z->cut)
		goto out;
	for (k = 0; k < n; k++) {
		p[k] = s == 1.0 ? 1.0 / (double)(k + 1) : pow((double)(k + 1), -s);
		sum += p[k];
	}
	/* Scale so that the mean column weight is 1. */
	for (k = 0; k < n; k++) {
		p[k] = p[k] * (double)n / sum;
		z->alias[k] = (uint32_t)k;
		if (p[k] < 1.0)
			small[ns++] = (uint32_t)k;
		else
			large[nl++] = (uint32_t)k;
	}
	while (ns && nl) {
		uint32_t a = small[--ns], b = large[nl - 1];

		z->alias[a] = b;
		z->cut[a] = (uint32_t)(p[a] * 4294967296.0);
		p[b] -= 1.0 - p[a];
		if (p[b] < 1.0) {
			nl--;
			small[ns++] = b;
		}
	}
	/* What is left has weight 1 up to rounding: always keep it. */
	while (ns)
		z->cut[small[--ns]] = UINT32_MAX;
	while (nl)
		z->cut[large[--nl]] = UINT32_MAX;
	rc = 0;
out:
	free(p);
	free(small);
	free(large);
	return rc;
}

static inline uint64_t zipf_draw(const struct zipf *z, struct rng *r)
{
	uint64_t x = rng_next(r);
	uint64_t col = ((x >> 32) * z->n) >> 32;	/* n < 2^32: no overflow */
	uint32_t coin = (uint32_t)x;

	return coin < z->cut[col] ? col : z->alias[col];
}

static void zipf_free(struct zipf *z)
{
	free(z->alias);
	free(z->cut);
}

/* ---- buffered output --------------------------------------------------- */

struct out {
	const char *path;
	int fd;
	char *buf;
	size_t len;
	int failed;
};

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
	if (o->len && !o->failed && write_all(o->fd, o->buf, o->len) < 0) {
		fprintf(stderr, "gen: cannot write '%s': %s\n", o->path, strerror(errno));
		o->failed = 1;
	}
	o->len = 0;
}

static int out_open(struct out *o, const char *path)
{
	o->path = path;
	o->len = 0;
	o->failed = 0;
	if (!strcmp(path, "-")) {
		o->path = "stdout";
		o->fd = 1;
	} else {
		o->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
		if (o->fd < 0) {
			fprintf(stderr, "gen: cannot create '%s': %s\n", path, strerror(errno));
			return -1;
		}
	}
	o->buf = malloc(OUTBUF);
	if (!o->buf) {
		fputs("gen: out of memory\n", stderr);
		return -1;
	}
	return 0;
}

static int out_close(struct out *o)
{
	out_flush(o);
	if (o->fd > 1 && close(o->fd) < 0 && !o->failed) {
		fprintf(stderr, "gen: cannot close '%s': %s\n", o->path, strerror(errno));
		o->failed = 1;
	}
	free(o->buf);
	return o->failed ? -1 : 0;
}

static inline void put_mem(struct out *o, const char *s, size_t n)
{
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static inline void put_char(struct out *o, char c)
{
	o->buf[o->len++] = c;
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

/* Ends a line: flushes when the buffer could not take another one. */
static inline int put_eol(struct out *o)
{
	o->buf[o->len++] = '\n';
	if (o->len > OUTBUF - MAXLINE)
		out_flush(o);
	return o->failed;
}

/* ---- the generator ----------------------------------------------------- */

struct opts {
	uint64_t events, users, queries, items, seed;
	double days, zipf, exact_frac;
	const char *events_out, *queries_out;
};

struct query {
	uint64_t user;
	int64_t ts;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * U distinct ids in [1e6, 1e9), in random order: rank k of the Zipf law is
 * ids[k]. An open-addressing set rejects repeats.
 */
static uint64_t *make_ids(uint64_t n, struct rng *r)
{
	uint64_t cap = 16, k = 0, *ids, *set;

	while (cap < 2 * n)
		cap *= 2;
	ids = malloc(n * sizeof(*ids));
	set = calloc(cap, sizeof(*set));
	if (!ids || !set) {
		free(ids);
		free(set);
		return NULL;
	}
	while (k < n) {
		uint64_t id = 1000000 + rng_below(r, 999000000), h;

		for (h = (id * 0x9e3779b97f4a7c15ULL) & (cap - 1); set[h] && set[h] != id;
		     h = (h + 1) & (cap - 1))
			;
		if (set[h])
			continue;
		set[h] = id;
		ids[k++] = id;
	}
	free(set);
	return ids;
}

static int generate(const struct opts *op)
{
	struct rng rt, ru, ri, rq, rx;
	struct gauss gv;
	struct zipf zu = { 0 }, zi = { 0 };
	struct out ev = { 0 }, qo = { 0 };
	uint64_t *ids = NULL, *src = NULL, n_exact, k, pos = 0, nq = 0;
	struct query *qs = NULL;
	const int64_t span = (int64_t)(op->days * DAY_MS);
	const int write_events = op->events_out != NULL;
	double rem = 1.0;	/* 1 - (the last event's position in [0, 1)) */
	int rc = -1;

	rng_seed(&rt, op->seed, 1);
	rng_seed(&ru, op->seed, 2);
	rng_seed(&ri, op->seed, 3);
	rng_seed(&gv.r, op->seed, 4);
	gv.have = 0;
	rng_seed(&rq, op->seed, 5);
	rng_seed(&rx, op->seed, 6);

	ids = make_ids(op->users, &rx);
	if (!ids || zipf_init(&zu, op->users, op->zipf) < 0
	    || zipf_init(&zi, op->items, 1.1) < 0)
		goto nomem;

	/* Which events the exact queries copy: sorted indices, with repeats. */
	n_exact = op->events ? (uint64_t)llround((double)op->queries * op->exact_frac) : 0;
	if (n_exact > op->queries)
		n_exact = op->queries;
	if (op->queries_out) {
		qs = malloc((op->queries ? op->queries : 1) * sizeof(*qs));
		src = malloc((n_exact ? n_exact : 1) * sizeof(*src));
		if (!qs || !src)
			goto nomem;
		for (k = 0; k < n_exact; k++)
			src[k] = rng_below(&rq, op->events);
		qsort(src, n_exact, sizeof(*src), cmp_u64);
	} else {
		n_exact = 0;
	}

	if (write_events) {
		if (out_open(&ev, op->events_out) < 0)
			goto out;
		put_mem(&ev, "user,item,ts_ms,value\n", 22);
	}
	for (k = 0; k < op->events; k++) {
		uint64_t user;
		int64_t ts;

		/* The next of the N - k points left: the minimum of N - k uniforms. */
		rem *= exp(log(rng_unit_pos(&rt)) / (double)(op->events - k));
		ts = (int64_t)((1.0 - rem) * (double)span);
		if (ts >= span)
			ts = span - 1;
		ts += START_MS;
		user = ids[zipf_draw(&zu, &ru)];

		while (pos < n_exact && src[pos] == k) {
			qs[nq].user = user;
			qs[nq].ts = ts;
			nq++;
			pos++;
		}
		if (!write_events)
			continue;
		{
			uint64_t item = zipf_draw(&zi, &ri);
			double c = floor(exp(7.5 + 1.3 * gauss_next(&gv)));
			uint64_t cents = c < 1 ? 1 : c > 999999 ? 999999 : (uint64_t)c;

			put_u64(&ev, user);
			put_mem(&ev, ",i", 2);
			put_u64(&ev, item);
			put_char(&ev, ',');
			put_u64(&ev, (uint64_t)ts);
			put_char(&ev, ',');
			put_u64(&ev, cents / 100);
			put_char(&ev, '.');
			put_char(&ev, (char)('0' + cents / 10 % 10));
			put_char(&ev, (char)('0' + cents % 10));
			if (put_eol(&ev))
				goto out;
		}
	}
	if (write_events) {
		int r = out_close(&ev);

		ev.buf = NULL;
		if (r < 0)
			goto out;
	}

	if (op->queries_out) {
		for (; nq < op->queries; nq++) {
			qs[nq].user = ids[zipf_draw(&zu, &rq)];
			qs[nq].ts = START_MS + (int64_t)(rng_unit(&rq) * (double)span);
		}
		/* Fisher-Yates: exact and random queries mixed, in no time order. */
		for (k = nq; k > 1; k--) {
			uint64_t j = rng_below(&rq, k);
			struct query t = qs[k - 1];

			qs[k - 1] = qs[j];
			qs[j] = t;
		}
		if (out_open(&qo, op->queries_out) < 0)
			goto out;
		put_mem(&qo, "user,ts_ms\n", 11);
		for (k = 0; k < nq; k++) {
			put_u64(&qo, qs[k].user);
			put_char(&qo, ',');
			put_u64(&qo, (uint64_t)qs[k].ts);
			if (put_eol(&qo))
				goto out;
		}
		{
			int r = out_close(&qo);

			qo.buf = NULL;
			if (r < 0)
				goto out;
		}
	}
	rc = 0;
	goto out;
nomem:
	fputs("gen: out of memory\n", stderr);
out:
	/* Only after an error are these still open. */
	if (ev.buf && ev.fd > 1)
		close(ev.fd);
	if (qo.buf && qo.fd > 1)
		close(qo.fd);
	free(ev.buf);
	free(qo.buf);
	free(ids);
	free(src);
	free(qs);
	zipf_free(&zu);
	zipf_free(&zi);
	return rc;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;
	double d;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 10);
	if (!errno && !*end)
		return 0;
	/* 1e7 and the like, when they are whole numbers. */
	d = strtod(s, &end);
	if (*end || d < 0 || d > 1e18 || d != floor(d))
		return -1;
	*v = (uint64_t)d;
	return 0;
}

static int parse_double(const char *s, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return errno || *end || end == s || !isfinite(*v) ? -1 : 0;
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

int main(int argc, char **argv)
{
	struct opts op = {
		.events = UINT64_MAX, .users = 0, .queries = UINT64_MAX,
		.items = 50000, .seed = 1, .days = 30, .zipf = 1.0,
		.exact_frac = 0.2,
	};
	const char *dir = NULL;
	char evpath[4200], qpath[4200];
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		uint64_t *num = NULL;
		double *dbl = NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			return 0;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "gen: option '%s' needs a value\n", a);
			goto usage_error;
		}
		v = argv[++i];
		if (!strcmp(a, "--events"))
			num = &op.events;
		else if (!strcmp(a, "--users"))
			num = &op.users;
		else if (!strcmp(a, "--queries"))
			num = &op.queries;
		else if (!strcmp(a, "--items"))
			num = &op.items;
		else if (!strcmp(a, "--seed"))
			num = &op.seed;
		else if (!strcmp(a, "--days"))
			dbl = &op.days;
		else if (!strcmp(a, "--zipf"))
			dbl = &op.zipf;
		else if (!strcmp(a, "--exact-frac"))
			dbl = &op.exact_frac;
		else if (!strcmp(a, "--out"))
			dir = v;
		else if (!strcmp(a, "--events-out"))
			op.events_out = v;
		else if (!strcmp(a, "--queries-out"))
			op.queries_out = v;
		else {
			fprintf(stderr, "gen: unknown option '%s'\n", a);
			goto usage_error;
		}
		if (num && parse_u64(v, num) < 0) {
			fprintf(stderr, "gen: option '%s' needs a whole number, not '%s'\n", a, v);
			goto usage_error;
		}
		if (dbl && parse_double(v, dbl) < 0) {
			fprintf(stderr, "gen: option '%s' needs a number, not '%s'\n", a, v);
			goto usage_error;
		}
	}
	if (op.events == UINT64_MAX || op.queries == UINT64_MAX || !op.users) {
		fputs("gen: --events, --users and --queries are required\n", stderr);
		goto usage_error;
	}
	if (dir && (op.events_out || op.queries_out)) {
		fputs("gen: --out excludes --events-out and --queries-out\n", stderr);
		goto usage_error;
	}
	if (!dir && !op.events_out && !op.queries_out) {
		fputs("gen: nothing to write: give --out, --events-out or --queries-out\n", stderr);
		goto usage_error;
	}
	if (op.users > UINT32_MAX / 2 || op.items < 1 || op.items > UINT32_MAX / 2
	    || op.users > 100000000) {
		fputs("gen: --users and --items must be in 1..100000000\n", stderr);
		goto usage_error;
	}
	if (!(op.days * DAY_MS >= 1) || op.days > 36600) {
		fputs("gen: --days must be positive (at least 1 ms) and at most 36600\n", stderr);
		goto usage_error;
	}
	if (!(op.zipf >= 0) || !(op.exact_frac >= 0 && op.exact_frac <= 1)) {
		fputs("gen: --zipf must be >= 0 and --exact-frac in [0, 1]\n", stderr);
		goto usage_error;
	}
	if (op.events_out && op.queries_out && !strcmp(op.events_out, "-")
	    && !strcmp(op.queries_out, "-")) {
		fputs("gen: events and queries cannot both go to stdout\n", stderr);
		goto usage_error;
	}
	if (dir) {
		if (mkdir_p(dir) < 0)
			return 1;
		snprintf(evpath, sizeof(evpath), "%s/events.csv", dir);
		snprintf(qpath, sizeof(qpath), "%s/queries.csv", dir);
		op.events_out = evpath;
		op.queries_out = qpath;
	}
	return generate(&op) < 0 ? 1 : 0;
usage_error:
	fputs(usage, stderr);
	return 2;
}
