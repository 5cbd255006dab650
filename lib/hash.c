/*
 * hash.c - FNV-1a, the in-memory key hash and the key map.
 *
 * The key map is open addressing with linear probing over a table of slots
 * (id, part of the hash, and the first 8 bytes of the key, so that short
 * keys are found in one memory access);
 * keys live in large chunks that never move, so the pointers handed out stay
 * valid, and growing the table rehashes ids only (hashes are kept).
 */
#include <stdlib.h>
#include <string.h>

#include "hash.h"

uint32_t feat_fnv1a32(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint32_t h = 0x811c9dc5u;

	while (n--) {
		h ^= *s++;
		h *= 0x01000193u;
	}
	return h;
}

uint64_t feat_fnv1a64(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--) {
		h ^= *s++;
		h *= 0x100000001b3ull;
	}
	return h;
}

static inline uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/*
 * The n < 8 bytes at s as a little-endian word, zero-padded. Whole-word
 * loads rather than memcpy() into a word: a byte-wise copy followed by a
 * word load stalls on store forwarding, and keys are this short.
 */
static inline uint64_t load_short(const unsigned char *s, size_t n)
{
	uint32_t lo, hi;

	if (n >= 4) {
		memcpy(&lo, s, 4);
		memcpy(&hi, s + n - 4, 4);
		return (uint64_t)lo | (uint64_t)hi << (8 * (n - 4));
	}
	if (!n)
		return 0;
	return (uint64_t)s[0] | (uint64_t)s[n / 2] << (8 * (n / 2)) |
	       (uint64_t)s[n - 1] << (8 * (n - 1));
}

static inline uint64_t hash_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
	uint64_t w;

	while (n >= 8) {
		memcpy(&w, s, 8);
		h = (h ^ mix(w)) * 0x100000001b3ull;
		s += 8;
		n -= 8;
	}
	w = load_short(s, n);
	h ^= mix(w + n);
	return mix(h);
}

uint64_t feat_hash_bytes(const void *p, size_t n)
{
	return hash_bytes(p, n);
}

void feat_keymap_init(struct feat_keymap *m)
{
	memset(m, 0, sizeof(*m));
}

void feat_keymap_release(struct feat_keymap *m)
{
	size_t i;

	for (i = 0; i < m->nchunks; i++)
		free(m->chunks[i]);
	free(m->chunks);
	free(m->slots);
	free(m->ents);
	memset(m, 0, sizeof(*m));
}

static inline uint64_t first_word(const void *key, size_t len)
{
	uint64_t w;

	if (len < 8)
		return load_short(key, len);
	memcpy(&w, key, 8);
	return w;
}

static inline uint32_t meta_of(uint64_t h, size_t len)
{
	return (uint32_t)(h >> 40) << 8 | (uint32_t)(len < 255 ? len : 255);
}

static int rehash(struct feat_keymap *m, size_t nslots)
{
	struct feat_keymap_slot *slots = calloc(nslots, sizeof(*slots));
	size_t i;

	if (!slots)
		return -1;
	for (i = 0; i < m->count; i++) {
		const struct feat_keymap_ent *e = &m->ents[i];
		size_t j = e->hash & (nslots - 1);

		while (slots[j].id)
			j = (j + 1) & (nslots - 1);
		slots[j].word = first_word(e->key, e->len);
		slots[j].id = (uint32_t)(i + 1);
		slots[j].meta = meta_of(e->hash, e->len);
	}
	free(m->slots);
	m->slots = slots;
	m->nslots = nslots;
	return 0;
}

static unsigned char *store(struct feat_keymap *m, const void *key, size_t len)
{
	unsigned char *dst;

	if (m->chunk_used + len > m->chunk_cap || !m->nchunks) {
		size_t cap = len > 65536 ? len : 65536;
		unsigned char **chunks;
		unsigned char *c = malloc(cap ? cap : 1);

		if (!c)
			return NULL;
		chunks = realloc(m->chunks, (m->nchunks + 1) * sizeof(*chunks));
		if (!chunks) {
			free(c);
			return NULL;
		}
		m->chunks = chunks;
		m->chunks[m->nchunks++] = c;
		m->chunk_used = 0;
		m->chunk_cap = cap;
	}
	dst = m->chunks[m->nchunks - 1] + m->chunk_used;
	if (len)
		memcpy(dst, key, len);
	m->chunk_used += len;
	return dst;
}

/* The slot that holds key, or the empty slot where it would go. */
static inline size_t probe(const struct feat_keymap *m, const void *key,
			   size_t len, uint64_t h)
{
	uint64_t w = first_word(key, len);
	uint32_t meta = meta_of(h, len);
	size_t j = h & (m->nslots - 1);

	for (;; j = (j + 1) & (m->nslots - 1)) {
		const struct feat_keymap_slot *sl = &m->slots[j];
		const struct feat_keymap_ent *e;

		if (!sl->id)
			return j;
		if (sl->meta != meta || sl->word != w)
			continue;
		if (len <= 8)
			return j;
		e = &m->ents[sl->id - 1];
		if (e->hash == h && e->len == len && !memcmp(e->key, key, len))
			return j;
	}
}

void feat_keymap_prefetch(const struct feat_keymap *m, const void *key,
			  size_t len)
{
	feat_keymap_prefetch_hashed(m, hash_bytes(key, len));
}

void feat_keymap_prefetch_hashed(const struct feat_keymap *m, uint64_t hash)
{
	if (m->nslots)
		__builtin_prefetch(&m->slots[hash & (m->nslots - 1)]);
}

long feat_keymap_find(const struct feat_keymap *m, const void *key,
		      size_t len)
{
	size_t j;

	if (!m->nslots)
		return -1;
	j = probe(m, key, len, hash_bytes(key, len));
	return (long)m->slots[j].id - 1;
}

long feat_keymap_intern(struct feat_keymap *m, const void *key, size_t len,
			int *added)
{
	return feat_keymap_intern_hashed(m, key, len, hash_bytes(key, len), added);
}

long feat_keymap_intern_hashed(struct feat_keymap *m, const void *key,
			       size_t len, uint64_t h, int *added)
{
	size_t j;
	struct feat_keymap_ent *e;

	if (added)
		*added = 0;
	if (m->nslots) {
		j = probe(m, key, len, h);
		if (m->slots[j].id)
			return (long)m->slots[j].id - 1;
	}
	if (m->count >= UINT32_MAX - 1 || len > UINT32_MAX)
		return -1;
	if ((m->count + 1) * 2 > m->nslots &&
	    rehash(m, m->nslots ? m->nslots * 2 : 64) < 0)
		return -1;
	if (m->count == m->ents_cap) {
		size_t cap = m->ents_cap ? m->ents_cap * 2 : 64;
		struct feat_keymap_ent *ents = realloc(m->ents,
						       cap * sizeof(*ents));

		if (!ents)
			return -1;
		m->ents = ents;
		m->ents_cap = cap;
	}
	e = &m->ents[m->count];
	e->key = store(m, key, len);
	if (!e->key)
		return -1;
	e->len = (uint32_t)len;
	e->hash = h;
	j = h & (m->nslots - 1);
	while (m->slots[j].id)
		j = (j + 1) & (m->nslots - 1);
	m->slots[j].word = first_word(key, len);
	m->slots[j].id = (uint32_t)(m->count + 1);
	m->slots[j].meta = meta_of(h, len);
	if (added)
		*added = 1;
	return (long)m->count++;
}
