/*
 * jsontext.c - JSON strings, arrays of scalars and objects of numbers,
 * scanned in place.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "jsontext.h"

const char *feat_json_skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* Appends the UTF-8 bytes of code point c. */
static void put_utf8(struct feat_buf *b, unsigned c)
{
	if (c < 0x80) {
		feat_buf_addc(b, (int)c);
	} else if (c < 0x800) {
		feat_buf_addc(b, (int)(0xc0 | c >> 6));
		feat_buf_addc(b, (int)(0x80 | (c & 0x3f)));
	} else if (c < 0x10000) {
		feat_buf_addc(b, (int)(0xe0 | c >> 12));
		feat_buf_addc(b, (int)(0x80 | ((c >> 6) & 0x3f)));
		feat_buf_addc(b, (int)(0x80 | (c & 0x3f)));
	} else {
		feat_buf_addc(b, (int)(0xf0 | c >> 18));
		feat_buf_addc(b, (int)(0x80 | ((c >> 12) & 0x3f)));
		feat_buf_addc(b, (int)(0x80 | ((c >> 6) & 0x3f)));
		feat_buf_addc(b, (int)(0x80 | (c & 0x3f)));
	}
}

/*
 * Parses a JSON string at *pp (after its opening quote) into tmp. Returns
 * 0 and moves *pp past the closing quote, or -1.
 */
int feat_json_unescape(const char **pp, const char *end, struct feat_buf *tmp)
{
	const char *p = *pp;

	feat_buf_reset(tmp);
	while (p < end && *p != '"') {
		if (*p != '\\') {
			feat_buf_addc(tmp, *p++);
			continue;
		}
		if (++p >= end)
			return -1;
		switch (*p++) {
		case '"': feat_buf_addc(tmp, '"'); break;
		case '\\': feat_buf_addc(tmp, '\\'); break;
		case '/': feat_buf_addc(tmp, '/'); break;
		case 'b': feat_buf_addc(tmp, '\b'); break;
		case 'f': feat_buf_addc(tmp, '\f'); break;
		case 'n': feat_buf_addc(tmp, '\n'); break;
		case 'r': feat_buf_addc(tmp, '\r'); break;
		case 't': feat_buf_addc(tmp, '\t'); break;
		case 'u': {
			unsigned c = 0;
			int i;

			for (i = 0; i < 4; i++, p++) {
				if (p >= end)
					return -1;
				c <<= 4;
				if (*p >= '0' && *p <= '9') c |= (unsigned)(*p - '0');
				else if (*p >= 'a' && *p <= 'f') c |= (unsigned)(*p - 'a' + 10);
				else if (*p >= 'A' && *p <= 'F') c |= (unsigned)(*p - 'A' + 10);
				else return -1;
			}
			put_utf8(tmp, c);
			break;
		}
		default:
			return -1;
		}
	}
	if (p >= end)
		return -1;
	*pp = p + 1;
	return 0;
}

/*
 * Converts a JSON array cell ("[0.1, 2.5]" or ["a", "b"]) to the packed
 * form of a list value, appended to the row arena. Returns 0 or -1.
 */
int feat_json_list(enum feat_type t, const char *s, size_t n,
		   struct feat_buf *out, struct feat_buf *tmp)
{
	const char *p = s, *end = s + n;
	int first = 1;

	p = feat_json_skip_ws(p, end);
	if (p >= end || *p++ != '[')
		return -1;
	for (;;) {
		p = feat_json_skip_ws(p, end);
		if (p < end && *p == ']' && first) {
			p++;
			break;
		}
		if (!first) {
			if (p < end && *p == ']') {
				p++;
				break;
			}
			if (p >= end || *p++ != ',')
				return -1;
			p = feat_json_skip_ws(p, end);
		}
		first = 0;
		if (t == FEAT_VECTOR) {
			const char *q = p;
			double d;
			unsigned char le[8];
			uint64_t u;

			while (q < end && *q != ',' && *q != ']' && *q != ' ')
				q++;
			if (feat_parse_double(p, (size_t)(q - p), &d) < 0 ||
			    !(d - d == 0))
				return -1;	/* embeddings hold numbers only */
			memcpy(&u, &d, 8);
			feat_put_le64(le, u);
			if (feat_buf_add(out, le, 8) < 0)
				return -1;
			p = q;
		} else {
			if (p >= end || *p++ != '"' ||
			    feat_json_unescape(&p, end, tmp) < 0)
				return -1;
			if (feat_buf_add_varint(out, tmp->len) < 0 ||
			    feat_buf_add(out, tmp->ptr, tmp->len) < 0)
				return -1;
		}
	}
	p = feat_json_skip_ws(p, end);
	return p == end ? 0 : -1;
}


/*
 * Where the entry with key k[0..kn) goes among the packed map entries
 * b[start..b->len): the offset of the first entry whose key is greater.
 * Returns -1 when an entry has that key.
 */
static long map_slot(const struct feat_buf *b, size_t start, const char *k,
		     size_t kn)
{
	const unsigned char *p = (const unsigned char *)b->ptr + start;
	const unsigned char *end = (const unsigned char *)b->ptr + b->len;

	while (p < end) {
		const unsigned char *at = p;
		uint64_t n;
		size_t m;
		int c;

		if (feat_get_varint(&p, end, &n) < 0)
			return -1;	/* cannot happen: we wrote it */
		m = (size_t)n < kn ? (size_t)n : kn;
		c = m ? memcmp(p, k, m) : 0;
		if (c == 0 && (size_t)n == kn)
			return -1;
		if (c > 0 || (c == 0 && (size_t)n > kn))
			return (long)(at - (const unsigned char *)b->ptr);
		p += n + 8;
	}
	return (long)b->len;
}

/* Inserts the entry key, d at offset at of out. Returns 0 or -1. */
static int map_insert(struct feat_buf *out, size_t at, const char *key,
		      size_t kn, double d)
{
	unsigned char ent[10];
	size_t elen = 0, need;
	uint64_t u, kl = kn;
	char *p;

	do {	/* the key's length as a varint, as feat_buf_add_varint() */
		ent[elen++] = (unsigned char)((kl & 0x7f) | (kl > 0x7f ? 0x80 : 0));
		kl >>= 7;
	} while (kl);
	need = elen + kn + 8;
	if (feat_buf_grow(out, need) < 0)
		return -1;
	p = out->ptr + at;
	memmove(p + need, p, out->len - at);
	memcpy(p, ent, elen);
	if (kn)
		memcpy(p + elen, key, kn);
	memcpy(&u, &d, 8);
	feat_put_le64(p + elen + kn, u);
	out->len += need;
	out->ptr[out->len] = '\0';
	return 0;
}

/* Drops the entries of out[start..) whose value is NaN (the null ones). */
static void map_drop_nulls(struct feat_buf *out, size_t start)
{
	const unsigned char *p = (const unsigned char *)out->ptr + start;
	const unsigned char *end = (const unsigned char *)out->ptr + out->len;
	size_t w = start;

	while (p < end) {
		const unsigned char *at = p;
		uint64_t n;
		double d;

		if (feat_get_varint(&p, end, &n) < 0)
			break;	/* cannot happen: we wrote it */
		p += n;
		d = feat_get_le_double(p);
		p += 8;
		if (isnan(d))
			continue;
		memmove(out->ptr + w, at, (size_t)(p - at));
		w += (size_t)(p - at);
	}
	out->len = w;
	out->ptr[w] = '\0';
}

/*
 * Converts a JSON object cell ({"a": 1.5, "b": 2}) to the packed form of
 * a map value. Each entry is put in its place as it is read (insertion
 * into a sorted run: maps in events are small, and this needs no memory
 * beyond the output). Null members are inserted too, as NaN, so that a
 * key given twice is found whatever its values, and dropped at the end.
 */
int feat_json_map(const char *s, size_t n, struct feat_buf *out,
		  struct feat_buf *tmp)
{
	const char *p = s, *end = s + n;
	size_t start = out->len;
	int first = 1;

	p = feat_json_skip_ws(p, end);
	if (p >= end || *p++ != '{')
		return -1;
	for (;;) {
		const char *q, *num;
		double d;
		long at;

		p = feat_json_skip_ws(p, end);
		if (p < end && *p == '}') {	/* {} or after an entry */
			p++;
			break;
		}
		if (!first) {
			if (p >= end || *p++ != ',')
				return -1;
			p = feat_json_skip_ws(p, end);
		}
		first = 0;
		if (p >= end || *p++ != '"' || feat_json_unescape(&p, end, tmp) < 0)
			return -1;
		p = feat_json_skip_ws(p, end);
		if (p >= end || *p++ != ':')
			return -1;
		p = feat_json_skip_ws(p, end);
		q = p;
		while (q < end && *q != ',' && *q != '}' && *q != ' ' &&
		       *q != '\t' && *q != '\n' && *q != '\r')
			q++;
		at = map_slot(out, start, tmp->ptr ? tmp->ptr : "", tmp->len);
		if (at < 0)
			return -2;
		/* JSON's numbers only: no nan, inf, +1 or .5. */
		num = p < q && *p == '-' ? p + 1 : p;
		if (q - p == 4 && !memcmp(p, "null", 4))
			d = NAN;
		else if (num >= q || *num < '0' || *num > '9' ||
			 feat_parse_double(p, (size_t)(q - p), &d) < 0)
			return -1;
		else if (!(d - d == 0))
			d = NAN;	/* beyond a double's range: null */
		if (map_insert(out, (size_t)at, tmp->ptr ? tmp->ptr : "",
			       tmp->len, d) < 0)
			return -1;
		p = q;
	}
	map_drop_nulls(out, start);
	p = feat_json_skip_ws(p, end);
	return p == end ? 0 : -1;
}
