/*
 * format.c - printing values: CSV fields and JSON values, lists and maps
 * as JSON (feat(7) Output).
 */
#include <string.h>

#include "csvin.h"
#include "format.h"

int feat_out_format_parse(const char *s, enum feat_out_format *f)
{
	if (!strcmp(s, "csv"))
		*f = FEAT_OUT_CSV;
	else if (!strcmp(s, "jsonl") || !strcmp(s, "json"))
		*f = FEAT_OUT_JSONL;
	else if (!strcmp(s, "tiles"))
		*f = FEAT_OUT_TILES;
	else if (!strcmp(s, "resp"))
		*f = FEAT_OUT_RESP;
	else
		return -1;
	return 0;
}

static int number(struct feat_buf *b, const struct feat_value *v)
{
	char tmp[FEAT_NUMBUF];
	size_t n;

	if (feat_buf_grow(b, FEAT_NUMBUF) < 0)
		return -1;
	if (v->type == FEAT_DOUBLE)
		n = feat_fmt_double(tmp, v->u.d);
	else
		n = feat_fmt_int(tmp, v->u.i);
	memcpy(b->ptr + b->len, tmp, n);
	b->len += n;
	b->ptr[b->len] = '\0';
	return 0;
}

/*
 * A list value as a JSON array, a map as a JSON object in the order of its
 * keys. Bytes that are not a whole element (only in a corrupted value) end
 * it early.
 */
static int json_list(struct feat_buf *b, const struct feat_value *v)
{
	struct feat_value k, e;
	size_t off = 0;
	int first = 1, more;

	if (feat_buf_addc(b, v->type == FEAT_MAP ? '{' : '[') < 0)
		return -1;
	while ((more = feat_elem_next(v, &off, &k, &e)) > 0) {
		if (!first && feat_buf_addc(b, ',') < 0)
			return -1;
		first = 0;
		if (v->type == FEAT_MAP &&
		    (feat_fmt_json_string(b, k.u.s.ptr, k.u.s.len) < 0 ||
		     feat_buf_addc(b, ':') < 0))
			return -1;
		if (feat_fmt_json_value(b, &e) < 0)
			return -1;
	}
	return feat_buf_addc(b, v->type == FEAT_MAP ? '}' : ']');
}

int feat_fmt_csv_value(struct feat_buf *b, const struct feat_value *v)
{
	switch (v->type) {
	case FEAT_NULL:
		return 0;
	case FEAT_BOOL:
		return feat_buf_adds(b, v->u.i ? "true" : "false");
	case FEAT_STRING:
	case FEAT_JSON:
		return feat_csv_quote(b, v->u.s.ptr, v->u.s.len, ',', '"');
	case FEAT_VECTOR:
	case FEAT_STRLIST:
	case FEAT_MAP: {
		struct feat_buf tmp = FEAT_BUF_INIT;
		int rc = json_list(&tmp, v);

		if (rc == 0)
			rc = feat_csv_quote(b, tmp.ptr, tmp.len, ',', '"');
		feat_buf_release(&tmp);
		return rc;
	}
	default:
		return number(b, v);
	}
}

int feat_fmt_json_string(struct feat_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;

	if (feat_buf_addc(b, '"') < 0)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (feat_buf_add(b, s + run, i - run) < 0)
			return -1;
		run = i + 1;
		esc[0] = '\\';
		switch (c) {
		case '"': esc[1] = '"'; esc[2] = 0; break;
		case '\\': esc[1] = '\\'; esc[2] = 0; break;
		case '\n': esc[1] = 'n'; esc[2] = 0; break;
		case '\t': esc[1] = 't'; esc[2] = 0; break;
		case '\r': esc[1] = 'r'; esc[2] = 0; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			esc[6] = 0;
		}
		if (feat_buf_adds(b, esc) < 0)
			return -1;
	}
	if (feat_buf_add(b, s + run, n - run) < 0)
		return -1;
	return feat_buf_addc(b, '"');
}

int feat_fmt_json_value(struct feat_buf *b, const struct feat_value *v)
{
	switch (v->type) {
	case FEAT_NULL:
		return feat_buf_adds(b, "null");
	case FEAT_BOOL:
		return feat_buf_adds(b, v->u.i ? "true" : "false");
	case FEAT_STRING:
		return feat_fmt_json_string(b, v->u.s.ptr, v->u.s.len);
	case FEAT_JSON:
		return feat_buf_add(b, v->u.s.ptr, v->u.s.len);
	case FEAT_VECTOR:
	case FEAT_STRLIST:
	case FEAT_MAP:
		return json_list(b, v);
	default:
		return number(b, v);
	}
}

int feat_fmt_text_value(struct feat_buf *b, const struct feat_value *v)
{
	switch (v->type) {
	case FEAT_STRING:
	case FEAT_JSON:
		return feat_buf_add(b, v->u.s.ptr, v->u.s.len);
	case FEAT_VECTOR:
	case FEAT_STRLIST:
	case FEAT_MAP:
		return feat_fmt_json_value(b, v);
	default:
		return feat_fmt_csv_value(b, v);
	}
}

int feat_fmt_resp_bulk(struct feat_buf *b, const char *s, size_t n)
{
	if (feat_buf_addf(b, "$%zu\r\n", n) < 0 || feat_buf_add(b, s, n) < 0)
		return -1;
	return feat_buf_add(b, "\r\n", 2);
}
