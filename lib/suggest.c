/*
 * suggest.c - edit distances for error hints.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "suggest.h"

/*
 * Optimal string alignment distance (edits, and swaps of neighbours) between
 * a[0..n) and b[0..m), or SIZE_MAX when either is too long to bother.
 */
static size_t edit_distance(const char *a, size_t n, const char *b, size_t m)
{
	enum { MAXLEN = 64 };
	uint8_t d[MAXLEN + 1][MAXLEN + 1];
	size_t i, j, cost, best;

	if (n > MAXLEN || m > MAXLEN)
		return SIZE_MAX;
	for (i = 0; i <= n; i++)
		d[i][0] = (uint8_t)i;
	for (j = 0; j <= m; j++)
		d[0][j] = (uint8_t)j;
	for (i = 1; i <= n; i++) {
		for (j = 1; j <= m; j++) {
			cost = a[i - 1] != b[j - 1];
			best = d[i - 1][j] + 1u;
			if (d[i][j - 1] + 1u < best)
				best = d[i][j - 1] + 1u;
			if (d[i - 1][j - 1] + cost < best)
				best = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1u < best)
				best = d[i - 2][j - 2] + 1u;
			d[i][j] = (uint8_t)best;
		}
	}
	return d[n][m];
}

/*
 * The candidate most likely meant by name[0..n), or NULL: a case-insensitive
 * match first, then the closest within two edits (and fewer edits than the
 * name has characters, or "x" would suggest every short name), then a name
 * that the text is the start of.
 */
const char *feat_suggest(const char *name, size_t n,
			   const char *const *cands, size_t stride,
			   size_t ncands)
{
	const char *best = NULL, *prefix = NULL, *c;
	size_t best_d = SIZE_MAX, dist, len, i;

#define CAND(i) (*(const char *const *)((const char *)cands + (i) * stride))
	for (i = 0; i < ncands; i++) {
		c = CAND(i);
		len = strlen(c);
		if (len == n && strncasecmp(c, name, n) == 0)
			return c;
	}
	for (i = 0; i < ncands; i++) {
		c = CAND(i);
		len = strlen(c);
		dist = edit_distance(name, n, c, len);
		if (dist <= 2 && dist < n && dist < best_d) {
			best = c;
			best_d = dist;
		}
		if (!prefix && n >= 2 && len > n && strncmp(c, name, n) == 0)
			prefix = c;
	}
#undef CAND
	return best ? best : prefix;
}

