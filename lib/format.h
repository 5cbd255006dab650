/*
 * format.h - values as CSV fields and JSON Lines members.
 *
 * Every human-readable output goes through here, so that a value prints the
 * same everywhere: null as an empty CSV field or JSON null, doubles as the
 * shortest text that reads back exactly, bools as true/false, timestamps as
 * integer milliseconds.
 */
#ifndef FEAT_FORMAT_H
#define FEAT_FORMAT_H

#include "buf.h"
#include "value.h"

enum feat_out_format {
	FEAT_OUT_CSV,
	FEAT_OUT_JSONL,
	FEAT_OUT_TILES,
	FEAT_OUT_RESP,		/* Redis protocol, for redis-cli --pipe */
};

/* Parses "csv", "jsonl" (or "json"), "tiles". Returns 0 or -1. */
int feat_out_format_parse(const char *s, enum feat_out_format *f);

/* Appends v as a CSV field (quoted when needed). Returns 0 or -1. */
int feat_fmt_csv_value(struct feat_buf *b, const struct feat_value *v);

/* Appends v as a JSON value. Returns 0 or -1. */
int feat_fmt_json_value(struct feat_buf *b, const struct feat_value *v);

/* Appends v as plain text, unquoted: a string's bytes, a number's
 * shortest text, true/false, a list's or map's JSON; nothing for null.
 * 0 or -1. */
int feat_fmt_text_value(struct feat_buf *b, const struct feat_value *v);

/* Appends a Redis protocol bulk string ($len, CRLF, bytes, CRLF). */
int feat_fmt_resp_bulk(struct feat_buf *b, const char *s, size_t n);

/* Appends s as a JSON string with quotes and escapes. Returns 0 or -1. */
int feat_fmt_json_string(struct feat_buf *b, const char *s, size_t n);

#endif
