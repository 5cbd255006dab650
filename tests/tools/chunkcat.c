/*
 * chunkcat - copy a file to stdout in random-sized chunks with random pauses,
 * to make a live tail out of a file.
 *
 *   chunkcat [--seed S] [--max N] [--pause P] [file]
 *
 * Each chunk is 1..N bytes (default 64). It is written with its own write(2),
 * and then the program sleeps 0..P microseconds (default 2000). The chunk
 * sizes and pauses depend only on the seed and the input bytes, not on how
 * the input arrives: when fewer bytes than the next chunk size are buffered,
 * we read until there are enough or the input ends. The same seed therefore
 * gives the same sequence of writes, which makes a failing test repeatable.
 *
 * Tests use it to check that feat's output does not depend on how its
 * input was chunked (DESIGN.md section 3, parity 1).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
	"usage: chunkcat [--seed S] [--max N] [--pause P] [file]\n"
	"\n"
	"    --seed S     seed of the chunk sizes and pauses (default 1)\n"
	"    --max N      largest chunk in bytes (default 64)\n"
	"    --pause P    longest pause after a chunk in microseconds (default 2000)\n"
	"    file         input file (default and '-': stdin)\n";

/* splitmix64: a tiny, well-mixed generator; enough for chunk sizes. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A number in [0, n]; the tiny modulo bias does not matter here. */
static uint64_t rng_upto(uint64_t n)
{
	return n == UINT64_MAX ? rng_next() : rng_next() % (n + 1);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

/* Writes all of p, one write(2) per call unless the kernel takes less. */
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

static void pause_us(uint64_t us)
{
	struct timespec ts, rem;

	if (us == 0)
		return;
	ts.tv_sec = (time_t)(us / 1000000);
	ts.tv_nsec = (long)(us % 1000000) * 1000;
	/* A signal may cut the sleep short; sleep the rest. */
	while (nanosleep(&ts, &rem) < 0 && errno == EINTR)
		ts = rem;
}

int main(int argc, char **argv)
{
	uint64_t seed = 1, max = 64, pause = 2000;
	const char *path = NULL;
	char *buf = NULL;
	size_t have = 0, off = 0, cap;
	int fd = 0, eof = 0, rc = 1, i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		uint64_t *dst = NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			return 0;
		}
		if (!strcmp(a, "--seed"))
			dst = &seed;
		else if (!strcmp(a, "--max"))
			dst = &max;
		else if (!strcmp(a, "--pause"))
			dst = &pause;
		if (dst) {
			if (i + 1 >= argc || parse_u64(argv[i + 1], dst) < 0) {
				fprintf(stderr, "chunkcat: option '%s' needs a number\n", a);
				fputs(usage, stderr);
				return 2;
			}
			i++;
			continue;
		}
		if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "chunkcat: unknown option '%s'\n", a);
			fputs(usage, stderr);
			return 2;
		}
		if (path) {
			fputs("chunkcat: more than one file\n", stderr);
			fputs(usage, stderr);
			return 2;
		}
		path = a;
	}
	if (max < 1 || max > (1u << 24)) {
		fputs("chunkcat: --max must be in 1..16777216\n", stderr);
		return 2;
	}
	if (path && strcmp(path, "-")) {
		fd = open(path, O_RDONLY);
		if (fd < 0) {
			fprintf(stderr, "chunkcat: %s: %s\n", path, strerror(errno));
			return 1;
		}
	}
	rng_state = seed;
	cap = (size_t)max;
	buf = malloc(cap);
	if (!buf) {
		fputs("chunkcat: out of memory\n", stderr);
		goto out;
	}
	for (;;) {
		size_t want = (size_t)rng_upto(max - 1) + 1;

		/* Move the unsent tail to the front and top the buffer up. */
		if (off > 0) {
			memmove(buf, buf + off, have - off);
			have -= off;
			off = 0;
		}
		while (!eof && have < want) {
			ssize_t r = read(fd, buf + have, cap - have);

			if (r < 0) {
				if (errno == EINTR)
					continue;
				fprintf(stderr, "chunkcat: %s: %s\n",
					path ? path : "stdin", strerror(errno));
				goto out;
			}
			if (r == 0)
				eof = 1;
			have += (size_t)r;
		}
		if (have == 0)
			break;
		if (want > have)
			want = have;
		if (write_all(1, buf, want) < 0) {
			fprintf(stderr, "chunkcat: write error: %s\n", strerror(errno));
			goto out;
		}
		off = want;
		pause_us(rng_upto(pause));
	}
	rc = 0;
out:
	free(buf);
	if (fd > 0)
		close(fd);
	return rc;
}
