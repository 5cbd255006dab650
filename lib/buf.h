/*
 * buf.h - a growable byte buffer (in the manner of git's strbuf).
 *
 * The bytes are always NUL-terminated after len (when ptr is not NULL) so a
 * buffer can be used as a C string. Growing fails only when out of memory;
 * then the functions return -1 and leave the buffer as it was.
 */
#ifndef FEAT_BUF_H
#define FEAT_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct feat_buf {
	char *ptr;
	size_t len;
	size_t cap;
};

#define FEAT_BUF_INIT { NULL, 0, 0 }

/* Releases the memory and leaves an empty, reusable buffer. */
void feat_buf_release(struct feat_buf *b);

/* Makes room for n more bytes (the slow path of feat_buf_grow). */
int feat_buf_grow_slow(struct feat_buf *b, size_t n);

/* Makes room for n more bytes. Returns 0 or -1. */
static inline int feat_buf_grow(struct feat_buf *b, size_t n)
{
	return b->len + n + 1 <= b->cap ? 0 : feat_buf_grow_slow(b, n);
}

/* Appends n bytes. Returns 0 or -1. */
static inline int feat_buf_add(struct feat_buf *b, const void *p, size_t n)
{
	if (feat_buf_grow(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->ptr + b->len, p, n);
	b->len += n;
	b->ptr[b->len] = '\0';
	return 0;
}

/* Appends a C string. Returns 0 or -1. */
int feat_buf_adds(struct feat_buf *b, const char *s);

/* Appends one byte. Returns 0 or -1. */
static inline int feat_buf_addc(struct feat_buf *b, int c)
{
	if (feat_buf_grow(b, 1) < 0)
		return -1;
	b->ptr[b->len++] = (char)c;
	b->ptr[b->len] = '\0';
	return 0;
}

/* Appends printf-style text. Returns 0 or -1. */
int feat_buf_addf(struct feat_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Appends v as an unsigned LEB128 varint. Returns 0 or -1. */
static inline int feat_buf_add_varint(struct feat_buf *b, uint64_t v)
{
	char *p;

	if (feat_buf_grow(b, 10) < 0)
		return -1;
	p = b->ptr + b->len;
	while (v >= 0x80) {
		*p++ = (char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (char)v;
	b->len = (size_t)(p - b->ptr);
	b->ptr[b->len] = '\0';
	return 0;
}

/* Appends v as a zigzag-encoded signed varint. Returns 0 or -1. */
static inline int feat_buf_add_svarint(struct feat_buf *b, int64_t v)
{
	return feat_buf_add_varint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

/* Empties the buffer, keeping its memory. */
static inline void feat_buf_reset(struct feat_buf *b)
{
	b->len = 0;
	if (b->ptr)
		b->ptr[0] = '\0';
}

/* The 8 bytes at p as a little-endian integer, the byte order of feat's
 * binary formats (doubles are stored as their bits this way). */
static inline uint64_t feat_get_le64(const void *p)
{
	uint64_t v;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(&v, p, 8);
#else
	const unsigned char *u = p;
	int i;

	for (v = 0, i = 7; i >= 0; i--)
		v = v << 8 | u[i];
#endif
	return v;
}

/* Stores v at p as 8 little-endian bytes. */
static inline void feat_put_le64(void *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(p, &v, 8);
#else
	unsigned char *u = p;
	int i;

	for (i = 0; i < 8; i++)
		u[i] = (unsigned char)(v >> (8 * i));
#endif
}

/* The double whose bits are the 8 little-endian bytes at p. */
static inline double feat_get_le_double(const void *p)
{
	uint64_t v = feat_get_le64(p);
	double d;

	memcpy(&d, &v, 8);
	return d;
}

/*
 * Reads a varint from [*p, end). Returns 0 and advances *p, or -1 when the
 * bytes end first or the varint is longer than 10 bytes.
 */
int feat_get_varint(const unsigned char **p, const unsigned char *end,
		    uint64_t *v);
int feat_get_svarint(const unsigned char **p, const unsigned char *end,
		     int64_t *v);

#endif
