/*
 * jsonpos.c - a second, position-recording walk over an accepted JSON text.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonpos.h"

struct scan {
	const char *s, *end, *start;
	long line, col;
	struct feat_jsonpos *jp;
	struct feat_buf path;
};

static void adv(struct scan *sc)
{
	if (sc->s < sc->end) {
		if (*sc->s == '\n') {
			sc->line++;
			sc->col = 1;
		} else if ((*sc->s & 0xc0) != 0x80) {
			sc->col++;
		}
		sc->s++;
	}
}

static void skip_ws(struct scan *sc)
{
	while (sc->s < sc->end && (*sc->s == ' ' || *sc->s == '\t' ||
				   *sc->s == '\n' || *sc->s == '\r'))
		adv(sc);
}

/* Reads a string token, appending its decoded text escaped as a pointer
 * segment to out when out is not NULL. */
static void read_string(struct scan *sc, struct feat_buf *out)
{
	adv(sc);		/* opening quote */
	while (sc->s < sc->end && *sc->s != '"') {
		char c = *sc->s;

		if (c == '\\') {
			adv(sc);
			c = sc->s < sc->end ? *sc->s : 0;
			switch (c) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'u': {
				/* Names with \u escapes are rare; keep the escape. */
				if (out)
					feat_buf_adds(out, "\\u");
				adv(sc);
				continue;
			}
			default: break;
			}
		}
		if (out) {
			if (c == '~')
				feat_buf_adds(out, "~0");
			else if (c == '/')
				feat_buf_adds(out, "~1");
			else
				feat_buf_addc(out, c);
		}
		adv(sc);
	}
	adv(sc);		/* closing quote */
}

static int record(struct scan *sc, long kl, long kc)
{
	struct feat_jsonpos *jp = sc->jp;
	struct feat_jsonpos_ent *e;

	if (jp->n == jp->cap) {
		size_t cap = jp->cap ? jp->cap * 2 : 64;
		void *p = realloc(jp->ents, cap * sizeof(*jp->ents));

		if (!p)
			return -1;
		jp->ents = p;
		jp->cap = cap;
	}
	e = &jp->ents[jp->n];
	e->ptr = strdup(sc->path.ptr ? sc->path.ptr : "");
	if (!e->ptr)
		return -1;
	e->line = sc->line;
	e->col = sc->col;
	e->off = (size_t)(sc->s - sc->start);
	e->key_line = kl;
	e->key_col = kc;
	jp->n++;
	return 0;
}

/* Moves past one value without recording anything (too deep to index). */
static void skip_value(struct scan *sc)
{
	int depth = 0;

	do {
		skip_ws(sc);
		if (sc->s >= sc->end)
			return;
		if (*sc->s == '"') {
			read_string(sc, NULL);
		} else if (*sc->s == '{' || *sc->s == '[') {
			depth++;
			adv(sc);
		} else if (*sc->s == '}' || *sc->s == ']') {
			depth--;
			adv(sc);
		} else if (*sc->s == ',' || *sc->s == ':') {
			adv(sc);
		} else {
			while (sc->s < sc->end &&
			       (!*sc->s || !strchr(",]}: \t\r\n", *sc->s)))
				adv(sc);
		}
	} while (depth > 0 && sc->s < sc->end);
}

static int value(struct scan *sc, long kl, long kc, int depth)
{
	size_t base;
	long idx = 0;

	skip_ws(sc);
	if (sc->s >= sc->end)
		return 0;
	if (depth > 200) {
		/* Deeper than any definition goes: no positions, but move on,
		 * or the caller would see the same value forever. */
		skip_value(sc);
		return 0;
	}
	if (record(sc, kl, kc) < 0)
		return -1;
	base = sc->path.len;
	if (*sc->s == '{') {
		adv(sc);
		for (;;) {
			long l, c;

			skip_ws(sc);
			if (sc->s >= sc->end || *sc->s == '}')
				break;
			if (*sc->s == ',') {
				adv(sc);
				continue;
			}
			l = sc->line;
			c = sc->col;
			feat_buf_addc(&sc->path, '/');
			read_string(sc, &sc->path);
			skip_ws(sc);
			if (sc->s < sc->end && *sc->s == ':')
				adv(sc);
			{
				const char *at = sc->s;

				if (value(sc, l, c, depth + 1) < 0)
					return -1;
				if (sc->s == at && sc->s < sc->end && *sc->s != '}')
					adv(sc);	/* always move on */
			}
			sc->path.len = base;
			sc->path.ptr[base] = '\0';
		}
		adv(sc);
	} else if (*sc->s == '[') {
		adv(sc);
		for (;;) {
			skip_ws(sc);
			if (sc->s >= sc->end || *sc->s == ']')
				break;
			if (*sc->s == ',') {
				adv(sc);
				continue;
			}
			feat_buf_addf(&sc->path, "/%ld", idx++);
			{
				const char *at = sc->s;

				if (value(sc, 0, 0, depth + 1) < 0)
					return -1;
				if (sc->s == at)
					adv(sc);	/* always move on */
			}
			sc->path.len = base;
			sc->path.ptr[base] = '\0';
		}
		adv(sc);
	} else if (*sc->s == '"') {
		read_string(sc, NULL);
	} else {
		/* (strchr finds a NUL byte in any set: test it first) */
		while (sc->s < sc->end &&
		       (!*sc->s || !strchr(",]} \t\r\n", *sc->s)))
			adv(sc);
	}
	return 0;
}

int feat_jsonpos_scan(struct feat_jsonpos *jp, const char *text, size_t len)
{
	struct scan sc;
	int ret;

	memset(jp, 0, sizeof(*jp));
	sc.s = text;
	sc.start = text;
	sc.end = text + len;
	sc.line = 1;
	sc.col = 1;
	sc.jp = jp;
	memset(&sc.path, 0, sizeof(sc.path));
	if (feat_buf_grow(&sc.path, 64) < 0)
		return -1;
	ret = value(&sc, 0, 0, 0);
	feat_buf_release(&sc.path);
	return ret;
}

const struct feat_jsonpos_ent *feat_jsonpos_find(const struct feat_jsonpos *jp,
						 const char *ptr)
{
	size_t i;

	for (i = 0; i < jp->n; i++)
		if (!strcmp(jp->ents[i].ptr, ptr))
			return &jp->ents[i];
	return NULL;
}

void feat_jsonpos_release(struct feat_jsonpos *jp)
{
	size_t i;

	for (i = 0; i < jp->n; i++)
		free(jp->ents[i].ptr);
	free(jp->ents);
	memset(jp, 0, sizeof(*jp));
}
