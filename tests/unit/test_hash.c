/*
 * test_hash.c - unit tests of lib/hash.c: FNV-1a, the key map.
 *
 * FNV-1a names plans and guards tile headers, so its values are part of
 * the file formats: they are checked against the published test vectors
 * (also printed in feat-format(5)). The key map gives every distinct key of
 * a group_by a dense id; the tests hold it to its contract with many keys,
 * keys that differ only after a zero byte, the empty key and huge keys, and
 * check that ids and stored pointers never change while the map grows.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

/*
 * For loops of many iterations: Check's ck_assert_*() records every passing
 * assertion through a pipe, which costs more than the code under test.
 */
#define require(cond) do { \
	if (!(cond)) \
		ck_abort_msg("%s", #cond); \
} while (0)

static uint64_t rng_state = 0x7a11ab1e5eed0001u;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

START_TEST(test_fnv_vectors)
{
	/* From the FNV reference test suite (and feat-format(5)). */
	ck_assert_uint_eq(feat_fnv1a32("", 0), 0x811c9dc5u);
	ck_assert_uint_eq(feat_fnv1a32("a", 1), 0xe40c292cu);
	ck_assert_uint_eq(feat_fnv1a32("foobar", 6), 0xbf9cf968u);
	ck_assert(feat_fnv1a64("", 0) == UINT64_C(0xcbf29ce484222325));
	ck_assert(feat_fnv1a64("a", 1) == UINT64_C(0xaf63dc4c8601ec8c));
	ck_assert(feat_fnv1a64("foobar", 6) == UINT64_C(0x85944171f73967e8));
	/* Bytes after n are not read, a zero byte is a byte like any other. */
	ck_assert_uint_eq(feat_fnv1a32("foobarbaz", 6), 0xbf9cf968u);
	ck_assert_uint_ne(feat_fnv1a32("a\0", 2), feat_fnv1a32("a", 1));
	ck_assert(feat_fnv1a64("a\0", 2) != feat_fnv1a64("a", 1));
	/* The tile example of feat-format(5): FNV-1a 32 of an end block. */
	{
		static const unsigned char end2[16] = { 'E', 0, 0, 0, 0, 0, 0, 0,
							0, 0, 0, 0, 2, 0, 0, 0 };
		static const unsigned char end0[16] = { 'E' };

		ck_assert_uint_eq(feat_fnv1a32(end2, 16), 0xed177ba2u);
		ck_assert_uint_eq(feat_fnv1a32(end0, 16), 0x4cbefd80u);
	}
}
END_TEST

/* A single-byte change anywhere changes FNV-1a: every step is a bijection. */
START_TEST(test_fnv_byte_changes)
{
	unsigned char buf[64];
	size_t i;
	int bit;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)rnd();
	for (i = 0; i < sizeof(buf); i++)
		for (bit = 0; bit < 8; bit++) {
			uint32_t h32 = feat_fnv1a32(buf, sizeof(buf));
			uint64_t h64 = feat_fnv1a64(buf, sizeof(buf));

			buf[i] ^= (unsigned char)(1u << bit);
			require(feat_fnv1a32(buf, sizeof(buf)) != h32);
			require(feat_fnv1a64(buf, sizeof(buf)) != h64);
			buf[i] ^= (unsigned char)(1u << bit);
		}
}
END_TEST

START_TEST(test_hash_bytes_deterministic)
{
	unsigned char a[100], b[100];
	size_t n;

	for (n = 0; n < sizeof(a); n++)
		a[n] = (unsigned char)rnd();
	memcpy(b, a, sizeof(a));
	/* Same bytes at different addresses (alignment) hash alike. */
	for (n = 0; n <= 90; n++)
		require(feat_hash_bytes(a, n) == feat_hash_bytes(b, n));
	{
		unsigned char *c = malloc(128);

		ck_assert_ptr_nonnull(c);
		for (n = 0; n <= 90; n++) {
			memcpy(c + 3, a, n);
			require(feat_hash_bytes(c + 3, n) == feat_hash_bytes(a, n));
		}
		free(c);
	}
	/* Lengths matter even when the extra bytes are zero. */
	ck_assert(feat_hash_bytes("\0\0\0\0\0\0\0\0\0", 8) !=
		  feat_hash_bytes("\0\0\0\0\0\0\0\0\0", 9));
	ck_assert(feat_hash_bytes("", 0) != feat_hash_bytes("\0", 1));
}
END_TEST

START_TEST(test_keymap_empty)
{
	struct feat_keymap m;

	feat_keymap_init(&m);
	ck_assert_int_eq(feat_keymap_find(&m, "a", 1), -1);
	ck_assert_int_eq(feat_keymap_find(&m, "", 0), -1);
	ck_assert_uint_eq(m.count, 0);
	feat_keymap_release(&m);
	/* Release of a released map is harmless, and it can be used again. */
	feat_keymap_release(&m);
	feat_keymap_init(&m);
	ck_assert_int_eq(feat_keymap_intern(&m, "x", 1, NULL), 0);
	feat_keymap_release(&m);
}
END_TEST

START_TEST(test_keymap_small)
{
	struct feat_keymap m;
	size_t len;
	int added = -1;
	const unsigned char *k;

	feat_keymap_init(&m);
	ck_assert_int_eq(feat_keymap_intern(&m, "", 0, &added), 0);
	ck_assert_int_eq(added, 1);
	ck_assert_int_eq(feat_keymap_intern(&m, "a", 1, &added), 1);
	ck_assert_int_eq(added, 1);
	/* Keys that differ only at or after a zero byte are distinct. */
	ck_assert_int_eq(feat_keymap_intern(&m, "a\0", 2, &added), 2);
	ck_assert_int_eq(added, 1);
	ck_assert_int_eq(feat_keymap_intern(&m, "a\0b", 3, &added), 3);
	ck_assert_int_eq(feat_keymap_intern(&m, "a\0c", 3, &added), 4);
	ck_assert_int_eq(feat_keymap_intern(&m, "\0", 1, &added), 5);
	ck_assert_int_eq(feat_keymap_intern(&m, "\0\0", 2, &added), 6);
	ck_assert_int_eq(added, 1);
	/* Again: the same ids, nothing added. */
	ck_assert_int_eq(feat_keymap_intern(&m, "", 0, &added), 0);
	ck_assert_int_eq(added, 0);
	ck_assert_int_eq(feat_keymap_intern(&m, "a\0c", 3, &added), 4);
	ck_assert_int_eq(added, 0);
	ck_assert_int_eq(feat_keymap_intern(&m, "\0\0", 2, NULL), 6);
	ck_assert_uint_eq(m.count, 7);
	ck_assert_int_eq(feat_keymap_find(&m, "", 0), 0);
	ck_assert_int_eq(feat_keymap_find(&m, "a\0b", 3), 3);
	ck_assert_int_eq(feat_keymap_find(&m, "a\0d", 3), -1);
	ck_assert_int_eq(feat_keymap_find(&m, "\0\0\0", 3), -1);
	ck_assert_int_eq(feat_keymap_find(&m, "b", 1), -1);
	k = feat_keymap_key(&m, 3, &len);
	ck_assert_uint_eq(len, 3);
	ck_assert(memcmp(k, "a\0b", 3) == 0);
	k = feat_keymap_key(&m, 0, &len);
	ck_assert_uint_eq(len, 0);
	feat_keymap_release(&m);
}
END_TEST

/* The map keeps its own copy: the caller's buffer may change afterwards. */
START_TEST(test_keymap_copies_keys)
{
	struct feat_keymap m;
	char buf[16] = "hello";
	size_t len;

	feat_keymap_init(&m);
	ck_assert_int_eq(feat_keymap_intern(&m, buf, 5, NULL), 0);
	memcpy(buf, "world", 5);
	ck_assert_int_eq(feat_keymap_find(&m, "hello", 5), 0);
	ck_assert_int_eq(feat_keymap_find(&m, buf, 5), -1);
	ck_assert(memcmp(feat_keymap_key(&m, 0, &len), "hello", 5) == 0);
	ck_assert_int_eq(feat_keymap_intern(&m, buf, 5, NULL), 1);
	feat_keymap_release(&m);
}
END_TEST

/* Key number i: 0 to 40 bytes, with zero bytes, unique because i is in it. */
static size_t make_key(unsigned char *buf, uint32_t i)
{
	size_t n = i % 41, j;

	for (j = 0; j < n; j++)
		buf[j] = (unsigned char)((j * 7 + i) % 3 == 0 ? 0 : i >> (j % 4 * 8));
	/* Distinct lengths alone do not make keys unique: append i itself. */
	memcpy(buf + n, &i, 4);
	return n + 4;
}

#define NKEYS 100000

START_TEST(test_keymap_many)
{
	struct feat_keymap m;
	const unsigned char **ptrs = calloc(NKEYS, sizeof(*ptrs));
	unsigned char key[64];
	uint32_t i;
	int added;

	ck_assert_ptr_nonnull(ptrs);
	feat_keymap_init(&m);
	for (i = 0; i < NKEYS; i++) {
		size_t n = make_key(key, i), len;
		long id = feat_keymap_intern(&m, key, n, &added);

		/* Dense ids in order of first insertion. */
		require(id == (long)i && added == 1);
		ptrs[i] = feat_keymap_key(&m, i, &len);
		require(len == n && memcmp(ptrs[i], key, n) == 0);
		/* An earlier key is still found at once, mid-growth. */
		if (i) {
			uint32_t j = (uint32_t)(rnd() % i);

			n = make_key(key, j);
			require(feat_keymap_intern(&m, key, n, &added) == (long)j &&
				added == 0);
		}
	}
	ck_assert_uint_eq(m.count, NKEYS);
	for (i = 0; i < NKEYS; i++) {
		size_t n = make_key(key, i), len;
		const unsigned char *p = feat_keymap_key(&m, i, &len);

		/* Stable ids and stable pointers after all the growth. */
		require(feat_keymap_find(&m, key, n) == (long)i);
		require(p == ptrs[i] && len == n && memcmp(p, key, n) == 0);
		/* A near miss (one byte more, one byte less) is not found. */
		key[n] = 0xa5;
		require(feat_keymap_find(&m, key, n + 1) == -1 ||
			feat_keymap_find(&m, key, n + 1) != (long)i);
		require(feat_keymap_find(&m, key, n - 1) != (long)i);
	}
	/* Keys never inserted. */
	for (i = 0; i < 1000; i++) {
		size_t n = make_key(key, NKEYS + i);

		require(feat_keymap_find(&m, key, n) == -1);
	}
	feat_keymap_release(&m);
	free(ptrs);
}
END_TEST

/* Keys bigger than a storage chunk, among small ones. */
START_TEST(test_keymap_huge_keys)
{
	struct feat_keymap m;
	size_t sizes[] = { 65535, 65536, 65537, 200000, 1, 0, 70000 };
	unsigned char *big = malloc(200001);
	const unsigned char *ptr[7];
	size_t i, len;

	ck_assert_ptr_nonnull(big);
	for (i = 0; i < 200001; i++)
		big[i] = (unsigned char)rnd();
	feat_keymap_init(&m);
	for (i = 0; i < 7; i++) {
		ck_assert_int_eq(feat_keymap_intern(&m, big, sizes[i], NULL), (long)i);
		ptr[i] = feat_keymap_key(&m, i, &len);
		ck_assert_uint_eq(len, sizes[i]);
	}
	for (i = 0; i < 5000; i++) {
		char small[16];
		int n = snprintf(small, sizeof(small), "k%zu", i);

		ck_assert_int_eq(feat_keymap_intern(&m, small, (size_t)n, NULL),
				 (long)(7 + i));
	}
	for (i = 0; i < 7; i++) {
		ck_assert_int_eq(feat_keymap_find(&m, big, sizes[i]), (long)i);
		ck_assert_ptr_eq(feat_keymap_key(&m, i, &len), ptr[i]);
		ck_assert(memcmp(ptr[i], big, sizes[i]) == 0);
	}
	feat_keymap_release(&m);
	free(big);
}
END_TEST

static Suite *hash_suite(void)
{
	Suite *s = suite_create("hash");
	TCase *tc = tcase_create("fnv");

	tcase_add_test(tc, test_fnv_vectors);
	tcase_add_test(tc, test_fnv_byte_changes);
	tcase_add_test(tc, test_hash_bytes_deterministic);
	suite_add_tcase(s, tc);

	tc = tcase_create("keymap");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_keymap_empty);
	tcase_add_test(tc, test_keymap_small);
	tcase_add_test(tc, test_keymap_copies_keys);
	tcase_add_test(tc, test_keymap_many);
	tcase_add_test(tc, test_keymap_huge_keys);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(hash_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
