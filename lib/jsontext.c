/*
 * jsontext.c - JSON strings and arrays of scalars, scanned in place.
 */
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
			int i;

			while (q < end && *q != ',' && *q != ']' && *q != ' ')
				q++;
			if (feat_parse_double(p, (size_t)(q - p), &d) < 0 ||
			    !(d - d == 0))
				return -1;	/* embeddings hold numbers only */
			memcpy(&u, &d, 8);
			for (i = 0; i < 8; i++)
				le[i] = (unsigned char)(u >> (8 * i));
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

