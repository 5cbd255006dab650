/*
 * buf.c - growable byte buffers and varints.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void feat_buf_release(struct feat_buf *b)
{
	free(b->ptr);
	b->ptr = NULL;
	b->len = 0;
	b->cap = 0;
}

int feat_buf_grow_slow(struct feat_buf *b, size_t n)
{
	size_t want, cap;
	char *p;

	want = b->len + n + 1;
	if (want < b->len)
		return -1;
	cap = b->cap ? b->cap : 64;
	while (cap < want) {
		if (cap > SIZE_MAX / 2)
			return -1;
		cap *= 2;
	}
	p = realloc(b->ptr, cap);
	if (!p)
		return -1;
	b->ptr = p;
	b->cap = cap;
	b->ptr[b->len] = '\0';
	return 0;
}

int feat_buf_adds(struct feat_buf *b, const char *s)
{
	return feat_buf_add(b, s, strlen(s));
}

int feat_buf_addf(struct feat_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || feat_buf_grow(b, (size_t)n) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int feat_get_varint(const unsigned char **p, const unsigned char *end,
		    uint64_t *v)
{
	const unsigned char *s = *p;
	uint64_t r = 0;
	unsigned shift = 0;

	while (s < end && shift < 70) {
		unsigned char c = *s++;

		r |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*p = s;
			*v = r;
			return 0;
		}
		shift += 7;
	}
	return -1;
}

int feat_get_svarint(const unsigned char **p, const unsigned char *end,
		     int64_t *v)
{
	uint64_t u;

	if (feat_get_varint(p, end, &u) < 0)
		return -1;
	*v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
	return 0;
}
