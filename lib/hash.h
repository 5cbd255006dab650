/*
 * hash.h - hashes, a map from byte strings to dense ids, and a string pool.
 *
 * FNV-1a (32 and 64 bit) names plans and guards headers; it is slow per byte
 * but specified in one line, which matters for a file format. feat_hash_bytes
 * is the fast hash for keys in memory; it is never written to a file.
 */
#ifndef FEAT_HASH_H
#define FEAT_HASH_H

#include <stddef.h>
#include <stdint.h>

uint32_t feat_fnv1a32(const void *p, size_t n);
uint64_t feat_fnv1a64(const void *p, size_t n);

/* A fast 64-bit hash of n bytes (not stable across versions). */
uint64_t feat_hash_bytes(const void *p, size_t n);

/*
 * A map from byte strings to ids 0, 1, 2, ... in order of first insertion.
 * The map keeps its own copy of every key; feat_keymap_key() returns it and
 * the pointer stays valid until the map is released.
 */
struct feat_keymap {
	/*
	 * A probe reads one slot: a key of up to 8 bytes is there whole
	 * (word, and its length in meta), so finding it needs no other
	 * memory; a longer key's slot holds its first 8 bytes and part of
	 * its hash, and only a likely match is compared in full.
	 */
	struct feat_keymap_slot {
		uint64_t word;	/* the key's first 8 bytes, zero-padded */
		uint32_t id;	/* id + 1, 0 = empty */
		uint32_t meta;	/* hash bits 40-63 << 8 | min(len, 255) */
	} *slots;
	size_t nslots;		/* a power of two */
	size_t count;
	struct feat_keymap_ent {
		const unsigned char *key;
		uint32_t len;
		uint64_t hash;
	} *ents;
	size_t ents_cap;
	unsigned char **chunks;	/* key storage; never moves */
	size_t nchunks, chunk_used, chunk_cap;
};

/* Initialises an empty map. Cannot fail. */
void feat_keymap_init(struct feat_keymap *m);

/* Frees everything the map holds. The map may be initialised again. */
void feat_keymap_release(struct feat_keymap *m);

/*
 * Finds key, inserting it when absent. Returns its id, or -1 when out of
 * memory. *added is set to 1 when the key was inserted (added may be NULL).
 */
long feat_keymap_intern(struct feat_keymap *m, const void *key, size_t len,
			int *added);

/* feat_keymap_intern() of a key whose feat_hash_bytes() is hash. */
long feat_keymap_intern_hashed(struct feat_keymap *m, const void *key,
			       size_t len, uint64_t hash, int *added);

/* Asks the CPU for the memory that looking key up will read first: a
 * hint, with no effect on the map. The second takes the key's
 * feat_hash_bytes(). */
void feat_keymap_prefetch(const struct feat_keymap *m, const void *key,
			  size_t len);
void feat_keymap_prefetch_hashed(const struct feat_keymap *m, uint64_t hash);

/* Returns the id of key, or -1 when absent. */
long feat_keymap_find(const struct feat_keymap *m, const void *key,
		      size_t len);

/* The stored bytes of id and their length. */
static inline const unsigned char *feat_keymap_key(const struct feat_keymap *m,
						   size_t id, size_t *len)
{
	*len = m->ents[id].len;
	return m->ents[id].key;
}

#endif
