/*
 * test_plan.c - unit tests of lib/plan.c: compiling definitions, the plan
 * hash, plan files.
 *
 * The plan hash ties tile streams to their plan, so it must depend on what
 * affects results and on nothing else: the tests rewrite the movie example
 * with jansson (whitespace, member order of unordered objects, defaults
 * spelled out, equivalent durations and expressions) and require the same
 * hash, then change one thing that matters at a time and require a new one.
 * Plan files must round-trip, and every corruption of one must be refused.
 * A table pins the message and position of rejected definitions.
 */
#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "hash.h"
#include "plan.h"

#define require(cond) do { \
	if (!(cond)) \
		ck_abort_msg("%s", #cond); \
} while (0)

/* examples/movies/movies.json, as the README shows it. */
static const char movies[] =
	"{\n"
	"  \"name\": \"movies\",\n"
	"  \"sources\": {\n"
	"    \"views\": {\n"
	"      \"format\": \"csv\",\n"
	"      \"time\": \"ts\",\n"
	"      \"lateness\": \"1m\",\n"
	"      \"columns\": {\"user\": \"string\", \"item\": \"string\", \"ts\": \"timestamp_ms\", \"activity\": \"string\"}\n"
	"    },\n"
	"    \"ratings\": {\n"
	"      \"format\": \"csv\",\n"
	"      \"time\": \"ts\",\n"
	"      \"columns\": {\"item\": \"string\", \"rating\": \"double\", \"ts\": \"timestamp_ms\"}\n"
	"    }\n"
	"  },\n"
	"  \"group_bys\": {\n"
	"    \"user_views\": {\n"
	"      \"source\": \"views\",\n"
	"      \"keys\": [\"user\"],\n"
	"      \"where\": \"user != null\",\n"
	"      \"select\": {\"view\": \"if(activity == 'item_view', 1, 0)\"},\n"
	"      \"aggregations\": [\n"
	"        {\"op\": \"sum\", \"of\": \"view\", \"windows\": [\"5h\"]},\n"
	"        {\"op\": \"count\", \"windows\": [\"5h\"]},\n"
	"        {\"op\": \"last\", \"of\": \"item\", \"windows\": [\"unbounded\"]}\n"
	"      ]\n"
	"    },\n"
	"    \"item_ratings\": {\n"
	"      \"source\": \"ratings\",\n"
	"      \"keys\": [\"item\"],\n"
	"      \"aggregations\": [\n"
	"        {\"op\": \"avg\", \"of\": \"rating\", \"windows\": [\"90d\"]},\n"
	"        {\"op\": \"count\", \"of\": \"rating\", \"windows\": [\"90d\"]}\n"
	"      ]\n"
	"    }\n"
	"  },\n"
	"  \"join\": {\n"
	"    \"left\": {\n"
	"      \"format\": \"csv\",\n"
	"      \"time\": \"ts\",\n"
	"      \"columns\": {\"user\": \"string\", \"item\": \"string\", \"ts\": \"timestamp_ms\"}\n"
	"    },\n"
	"    \"parts\": [{\"group_by\": \"user_views\"}, {\"group_by\": \"item_ratings\"}],\n"
	"    \"derive\": {\"heavy_viewer\": \"user_views_view_sum_5h >= 3\"}\n"
	"  }\n"
	"}\n";

static struct feat_plan *compile(const char *text)
{
	struct feat_error err;
	struct feat_plan *p;

	feat_error_clear(&err);
	p = feat_plan_compile(text, strlen(text), "def.json", &err);
	if (!p)
		ck_abort_msg("does not compile: %d:%d: %s\n%s\n%s", (int)err.line,
			     (int)err.col, err.msg, err.detail, text);
	return p;
}

static uint64_t hash_of(const char *text)
{
	struct feat_plan *p = compile(text);
	uint64_t h = p->hash;

	feat_plan_free(p);
	return h;
}

/* Parses the movie definition with jansson; the caller decrefs. */
static json_t *movies_json(void)
{
	json_error_t je;
	json_t *j = json_loads(movies, 0, &je);

	ck_assert_msg(j != NULL, "jansson: %s", je.text);
	return j;
}

/* The hash of a jansson document dumped with flags. */
static uint64_t hash_json(const json_t *j, size_t flags)
{
	char *s = json_dumps(j, flags);
	uint64_t h;

	ck_assert_ptr_nonnull(s);
	h = hash_of(s);
	free(s);
	return h;
}

/* A copy of j with the members of every object in reverse order. */
static json_t *reversed(const json_t *j)
{
	if (json_is_object(j)) {
		const char *keys[64], *k;
		json_t *v, *o = json_object();
		size_t n = 0;

		json_object_foreach((json_t *)j, k, v) {
			ck_assert_uint_lt(n, 64);
			keys[n++] = k;
		}
		while (n--)
			json_object_set_new(o, keys[n],
					    reversed(json_object_get(j, keys[n])));
		return o;
	}
	if (json_is_array(j)) {
		json_t *a = json_array();
		size_t i;

		for (i = 0; i < json_array_size(j); i++)
			json_array_append_new(a, reversed(json_array_get(j, i)));
		return a;
	}
	return json_deep_copy(j);
}

/* The value at a path such as "group_bys/user_views/aggregations/0". */
static json_t *at(json_t *j, const char *path)
{
	char buf[256], *seg, *save;

	snprintf(buf, sizeof(buf), "%s", path);
	for (seg = strtok_r(buf, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
		j = json_is_array(j) ? json_array_get(j, (size_t)atoi(seg))
				     : json_object_get(j, seg);
		ck_assert_msg(j != NULL, "no %s in the definition", path);
	}
	return j;
}

static void set_str(json_t *root, const char *path, const char *key,
		    const char *val)
{
	json_object_set_new(at(root, path), key, json_string(val));
}

START_TEST(test_movies_compiles)
{
	struct feat_plan *p = compile(movies);
	const struct feat_group_by *g;
	const struct feat_join *j;
	static const char *const outputs[] = {
		"user_views_view_sum_5h", "user_views_count_5h",
		"user_views_item_last", "item_ratings_rating_avg_90d",
		"item_ratings_rating_count_90d", "heavy_viewer",
	};
	size_t i;

	ck_assert_str_eq(p->name, "movies");
	/* Sources and group_bys in name order. */
	ck_assert_uint_eq(p->nsources, 2);
	ck_assert_str_eq(p->sources[0].name, "ratings");
	ck_assert_str_eq(p->sources[1].name, "views");
	ck_assert_int_eq(feat_plan_source(p, "views"), 1);
	ck_assert_int_eq(feat_plan_source(p, "clicks"), -1);
	ck_assert_int_eq(p->sources[1].lateness, 60000);
	ck_assert_int_eq(p->sources[0].lateness, 0);
	ck_assert_str_eq(p->sources[1].cols[p->sources[1].time_col].name, "ts");
	ck_assert_int_eq(p->sources[1].fmt.header, 1);
	ck_assert_int_eq(p->sources[1].fmt.delim, ',');
	ck_assert_str_eq(p->sources[1].fmt.null_text, "");
	ck_assert_uint_eq(p->ngroup_bys, 2);
	ck_assert_str_eq(p->group_bys[0].name, "item_ratings");
	ck_assert_int_eq(feat_plan_group_by(p, "user_views"), 1);
	ck_assert_int_eq(feat_plan_group_by(p, "views"), -1);
	/* user_views: its row is the source's columns then "view". */
	g = &p->group_bys[1];
	ck_assert_uint_eq(g->ncols, 5);
	ck_assert_str_eq(g->cols[4].name, "view");
	ck_assert_int_eq(g->cols[4].type, FEAT_INT);
	ck_assert_ptr_nonnull(g->where);
	ck_assert_uint_eq(g->nkeys, 1);
	ck_assert_str_eq(g->cols[g->keys[0]].name, "user");
	/* Inputs: the distinct "of" columns in order of first use. */
	ck_assert_uint_eq(g->ninputs, 2);
	ck_assert_str_eq(g->cols[g->inputs[0]].name, "view");
	ck_assert_str_eq(g->cols[g->inputs[1]].name, "item");
	ck_assert_int_eq(g->aggs[1].input, -1);
	ck_assert_int_eq(g->aggs[1].op, FEAT_OP_COUNT);
	ck_assert_uint_eq(g->nfeatures, 3);
	ck_assert_int_eq(g->max_window, 5 * 3600000);
	ck_assert_int_eq(g->has_unbounded, 1);
	ck_assert_int_eq(g->aggs[2].windows[0], FEAT_UNBOUNDED);
	g = &p->group_bys[0];
	ck_assert_uint_eq(g->ninputs, 1);
	ck_assert_int_eq(g->aggs[0].out_type, FEAT_DOUBLE);
	ck_assert_int_eq(g->aggs[1].out_type, FEAT_INT);
	ck_assert_int_eq(g->max_window, 90 * 86400000LL);
	ck_assert_int_eq(g->has_unbounded, 0);
	/* The join's columns are those of examples/movies/expected.csv. */
	j = p->join;
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(j->left.lateness, -1);
	ck_assert_uint_eq(j->noutputs, 6);
	ck_assert_uint_eq(j->nfeature_outputs, 5);
	for (i = 0; i < 6; i++)
		ck_assert_str_eq(j->outputs[i].name, outputs[i]);
	ck_assert_int_eq(j->outputs[5].type, FEAT_BOOL);
	ck_assert_str_eq(feat_op_name(FEAT_OP_LAST), "last");
	ck_assert_str_eq(feat_column_type_name(&p->sources[0].cols[2]), "timestamp_ms");
	feat_plan_free(p);
	feat_plan_free(NULL);
}
END_TEST

/* The file in examples/ is the one this suite describes. */
START_TEST(test_movies_file)
{
	char path[1024];
	const char *me = __FILE__, *slash = strrchr(me, '/');
	struct feat_error err;
	struct feat_plan *p;

	/* __FILE__ is tests/unit/test_plan.c, relative to the top. */
	snprintf(path, sizeof(path), "%.*s/../../examples/movies/movies.json",
		 slash ? (int)(slash - me) : 1, slash ? me : ".");
	feat_error_clear(&err);
	p = feat_plan_compile_file(path, &err);
	ck_assert_msg(p != NULL, "%s: %s", path, err.msg);
	ck_assert(p->hash == hash_of(movies));
	feat_plan_free(p);
	p = feat_plan_compile_file("no/such/file.json", &err);
	ck_assert_ptr_null(p);
	ck_assert_str_eq(err.msg, "cannot open 'no/such/file.json': No such file or directory");
}
END_TEST

START_TEST(test_hash_layout_independent)
{
	uint64_t h = hash_of(movies);
	json_t *j = movies_json(), *r;

	/* Whitespace. */
	ck_assert(hash_json(j, JSON_COMPACT) == h);
	ck_assert(hash_json(j, JSON_INDENT(7)) == h);
	/* Member order of every object: in this definition none carries
	 * meaning (headers name the columns; one derived column). */
	r = reversed(j);
	ck_assert(hash_json(r, JSON_COMPACT) == h);
	json_decref(r);
	ck_assert(hash_json(j, JSON_SORT_KEYS) == h);
	/* Select columns: add a second and swap the two. */
	{
		json_t *sel = at(j, "group_bys/user_views/select");
		json_t *a, *b;
		uint64_t h2;

		json_object_set_new(sel, "zz", json_string("if(item == 'a', 1, 2)"));
		h2 = hash_json(j, 0);
		ck_assert(h2 != h);
		a = json_object();
		json_object_set_new(a, "zz", json_string("if(item == 'a', 1, 2)"));
		json_object_set(a, "view", json_object_get(sel, "view"));
		b = at(j, "group_bys/user_views");
		json_object_set_new(b, "select", a);
		ck_assert(hash_json(j, 0) == h2);
		json_object_del(a, "zz");
		ck_assert(hash_json(j, 0) == h);
	}
	/* The definition's name names it; it does not change results. */
	json_object_set_new(j, "name", json_string("films"));
	ck_assert(hash_json(j, 0) == h);
	json_object_del(j, "name");
	ck_assert(hash_json(j, 0) == h);
	json_decref(j);
}
END_TEST

/* What is implied may be written out, and equal things spelled otherwise. */
START_TEST(test_hash_normalised)
{
	uint64_t h = hash_of(movies);
	json_t *j = movies_json(), *o;

	o = at(j, "sources/ratings");
	json_object_set_new(o, "header", json_true());
	json_object_set_new(o, "delimiter", json_string(","));
	json_object_set_new(o, "quote", json_string("\""));
	json_object_set_new(o, "null", json_string(""));
	json_object_set_new(o, "lateness", json_string("0s"));
	ck_assert(hash_json(j, 0) == h);
	/* Durations. */
	json_array_set_new(at(j, "group_bys/user_views/aggregations/0/windows"), 0,
			   json_string("300m"));
	ck_assert(hash_json(j, 0) == h);
	json_array_set_new(at(j, "group_bys/item_ratings/aggregations/1/windows"), 0,
			   json_string("2160h"));
	ck_assert(hash_json(j, 0) == h);
	set_str(j, "sources/views", "lateness", "60s");
	ck_assert(hash_json(j, 0) == h);
	/* No windows is one unbounded window. */
	json_object_del(at(j, "group_bys/user_views/aggregations/2"), "windows");
	ck_assert(hash_json(j, 0) == h);
	/* Expressions: spacing, parentheses, keyword case, quotes. */
	set_str(j, "group_bys/user_views", "where", "(user!=null)");
	set_str(j, "group_bys/user_views/select", "view",
		"IF( activity == \"item_view\" , 1 , 0 )");
	set_str(j, "join/derive", "heavy_viewer", "(user_views_view_sum_5h)>=3");
	ck_assert(hash_json(j, 0) == h);
	json_decref(j);
}
END_TEST

/* One change at a time; every one makes a hash unlike all the others. */
START_TEST(test_hash_changes)
{
	enum { N = 12 };
	uint64_t hs[N];
	size_t n = 0, a, b;
	json_t *j;

	hs[n++] = hash_of(movies);
	/* A window. */
	j = movies_json();
	json_array_set_new(at(j, "group_bys/user_views/aggregations/0/windows"), 0,
			   json_string("6h"));
	set_str(j, "join/derive", "heavy_viewer", "user_views_view_sum_6h >= 3");
	hs[n++] = hash_json(j, 0);
	json_decref(j);
	/* A window added. */
	j = movies_json();
	json_array_append_new(at(j, "group_bys/item_ratings/aggregations/0/windows"),
			      json_string("1d"));
	hs[n++] = hash_json(j, 0);
	json_decref(j);
	/* The where expression. */
	j = movies_json();
	set_str(j, "group_bys/user_views", "where", "item != null");
	hs[n++] = hash_json(j, 0);
	json_decref(j);
	/* A select expression. */
	j = movies_json();
	set_str(j, "group_bys/user_views/select", "view",
		"if(activity == 'item_view', 2, 0)");
	hs[n++] = hash_json(j, 0);
	json_decref(j);
	/* A type. */
	j = movies_json();
	json_object_set_new(at(j, "sources/ratings"), "columns", json_pack(
		"{s:s, s:s, s:s}", "item", "string", "rating", "int", "ts", "timestamp_ms"));
	hs[n++] = hash_json(j, 0);
	json_decref(j);
	/* A time unit. */
	j = movies_json();
	set_str(j, "sources/ratings/columns", "ts", "timestamp_s");
	hs[n++] = hash_json(j, 0);
	json_decref(j);
	/* A feature's name. */
	j = movies_json();
	set_str(j, "group_bys/item_ratings/aggregations/1", "name", "n_ratings");
	hs[n++] = hash_json(j, 0);
	json_decref(j);
	/* A group_by's name (which names its features). */
	j = movies_json();
	{
		json_t *gbs = at(j, "group_bys");

		json_object_set(gbs, "item_stats", json_object_get(gbs, "item_ratings"));
		json_object_del(gbs, "item_ratings");
		set_str(j, "join/parts/1", "group_by", "item_stats");
	}
	hs[n++] = hash_json(j, 0);
	json_decref(j);
	/* The lateness. */
	j = movies_json();
	set_str(j, "sources/views", "lateness", "2m");
	hs[n++] = hash_json(j, 0);
	json_decref(j);
	/* An aggregation. */
	j = movies_json();
	set_str(j, "group_bys/item_ratings/aggregations/0", "op", "sum");
	hs[n++] = hash_json(j, 0);
	json_decref(j);
	/* The null spelling of a source. */
	j = movies_json();
	set_str(j, "sources/ratings", "null", "NA");
	hs[n++] = hash_json(j, 0);
	json_decref(j);
	ck_assert_uint_eq(n, N);
	for (a = 0; a < n; a++)
		for (b = 0; b < a; b++)
			ck_assert_msg(hs[a] != hs[b], "changes %zu and %zu hash alike", b, a);
}
END_TEST

/* Columns of a headerless source are in file order: order matters there. */
START_TEST(test_hash_headerless_order)
{
	static const char a[] =
		"{\"sources\": {\"s\": {\"header\": false, \"time\": \"t\",\n"
		"  \"columns\": {\"k\": \"string\", \"t\": \"timestamp_ms\"}}},\n"
		" \"group_bys\": {\"g\": {\"source\": \"s\", \"keys\": [\"k\"],\n"
		"  \"aggregations\": [{\"op\": \"count\"}]}}}";
	static const char b[] =
		"{\"sources\": {\"s\": {\"header\": false, \"time\": \"t\",\n"
		"  \"columns\": {\"t\": \"timestamp_ms\", \"k\": \"string\"}}},\n"
		" \"group_bys\": {\"g\": {\"source\": \"s\", \"keys\": [\"k\"],\n"
		"  \"aggregations\": [{\"op\": \"count\"}]}}}";
	struct feat_plan *p = compile(b);

	ck_assert(hash_of(a) != hash_of(b));
	ck_assert_str_eq(p->sources[0].cols[0].name, "t");
	ck_assert_str_eq(p->sources[0].cols[1].name, "k");
	ck_assert_int_eq(p->sources[0].fmt.header, 0);
	feat_plan_free(p);
}
END_TEST

/* A temporary path; the file is removed by the caller. */
static void temp_path(char *buf, size_t n)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	snprintf(buf, n, "%s/feat-test-plan.XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(buf);
	ck_assert_int_ge(fd, 0);
	close(fd);
}

static void write_bytes(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

START_TEST(test_serialize_load)
{
	struct feat_plan *p = compile(movies), *q;
	struct feat_buf b = FEAT_BUF_INIT, b2 = FEAT_BUF_INIT;
	struct feat_error err;
	const unsigned char *u;
	char path[512];
	size_t L;

	ck_assert_int_eq(feat_plan_serialize(p, &b), 0);
	u = (const unsigned char *)b.ptr;
	/* The layout of feat-format(5). */
	L = strlen(p->canonical);
	ck_assert_uint_eq(b.len, 28 + L);
	ck_assert(memcmp(u, "\x89" "FPLN\r\n\x1a", 8) == 0);
	ck_assert(u[8] == 1 && u[9] == 0 && u[10] == 0 && u[11] == 0);
	ck_assert(le64(u + 12) == p->hash);
	ck_assert_uint_eq(le32(u + 20), L);
	ck_assert(memcmp(u + 24, p->canonical, L) == 0);
	ck_assert_uint_eq(le32(u + 24 + L), feat_fnv1a32(p->canonical, L));
	/* The canonical text is JSON, and compiles to the same plan. */
	ck_assert(hash_of(p->canonical) == p->hash);

	temp_path(path, sizeof(path));
	write_bytes(path, b.ptr, b.len);
	feat_error_clear(&err);
	q = feat_plan_load(path, &err);
	ck_assert_msg(q != NULL, "%s", err.msg);
	ck_assert(q->hash == p->hash);
	ck_assert_str_eq(q->canonical, p->canonical);
	ck_assert_str_eq(q->name, "movies");
	ck_assert_uint_eq(q->join->noutputs, p->join->noutputs);
	/* And again: a loaded plan writes the same bytes. */
	ck_assert_int_eq(feat_plan_serialize(q, &b2), 0);
	ck_assert_uint_eq(b2.len, b.len);
	ck_assert(memcmp(b.ptr, b2.ptr, b.len) == 0);
	feat_plan_free(q);
	/* Every layout of the definition gives the same file. */
	{
		json_t *j = movies_json(), *r = reversed(j);
		char *s = json_dumps(r, JSON_COMPACT);
		struct feat_plan *pr = compile(s);

		feat_buf_reset(&b2);
		ck_assert_int_eq(feat_plan_serialize(pr, &b2), 0);
		ck_assert_uint_eq(b2.len, b.len);
		ck_assert(memcmp(b.ptr, b2.ptr, b.len) == 0);
		feat_plan_free(pr);
		free(s);
		json_decref(r);
		json_decref(j);
	}
	unlink(path);
	feat_buf_release(&b);
	feat_buf_release(&b2);
	feat_plan_free(p);
}
END_TEST

/*
 * feat-format(5): "The plan hash is the FNV-1a 64 of the body without its
 * name member and without any white space outside strings: the body in
 * compact form." The body is rebuilt here that way with jansson. The page
 * also gives the movie plan's hash.
 */
START_TEST(test_hash_is_fnv_of_compact_body)
{
	struct feat_plan *p = compile(movies);
	struct feat_buf b = FEAT_BUF_INIT;
	const unsigned char *u;
	json_error_t je;
	json_t *body;
	char *compact;

	ck_assert_int_eq(feat_plan_serialize(p, &b), 0);
	u = (const unsigned char *)b.ptr;
	body = json_loadb((const char *)u + 24, le32(u + 20), 0, &je);
	ck_assert_msg(body != NULL, "the body is not JSON: %s", je.text);
	/* The first member is "feat_plan": 1. */
	ck_assert(!strncmp((const char *)u + 24, "{\n  \"feat_plan\": 1,\n", 20));
	ck_assert_str_eq(json_string_value(json_object_get(body, "name")), "movies");
	json_object_del(body, "name");
	compact = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII);
	ck_assert_ptr_nonnull(compact);
	ck_assert_msg(le64(u + 12) == feat_fnv1a64(compact, strlen(compact)),
		      "plan hash %016llx, FNV-1a 64 of the compact body %016llx",
		      (unsigned long long)le64(u + 12),
		      (unsigned long long)feat_fnv1a64(compact, strlen(compact)));
	ck_assert(p->hash == UINT64_C(0xa7de59ef7ccdd20d));
	free(compact);
	json_decref(body);
	feat_buf_release(&b);
	feat_plan_free(p);
}
END_TEST

/* Loads bytes as a plan file; returns the message, or NULL if it loads. */
static const char *load_bytes(const char *path, const void *p, size_t n,
			      struct feat_error *err)
{
	struct feat_plan *q;

	write_bytes(path, p, n);
	feat_error_clear(err);
	q = feat_plan_load(path, err);
	if (q) {
		feat_plan_free(q);
		return NULL;
	}
	require(strcmp(err->file, path) == 0);
	return err->msg;
}

START_TEST(test_load_corrupted)
{
	struct feat_plan *p = compile(movies);
	struct feat_buf b = FEAT_BUF_INIT;
	struct feat_error err;
	unsigned char *u;
	char path[512];
	const char *msg;
	size_t i, n, L;
	int m;

	ck_assert_int_eq(feat_plan_serialize(p, &b), 0);
	u = (unsigned char *)b.ptr;
	n = b.len;
	L = n - 28;
	temp_path(path, sizeof(path));
	/* Every byte flipped, in three ways: always refused, and why. */
	for (i = 0; i < n; i++)
		for (m = 0; m < 3; m++) {
			static const unsigned char masks[] = { 0x01, 0x80, 0xff };
			const char *want;

			u[i] ^= masks[m];
			msg = load_bytes(path, u, n, &err);
			u[i] ^= masks[m];
			if (!msg)
				ck_abort_msg("byte %zu ^ %02x: the plan loads", i, masks[m]);
			if (i < 8)
				want = "not a plan file (bad magic)";
			else if (i < 10)
				want = "unsupported plan version";
			else if (i < 12)
				want = "plan file uses flags this feat does not know";
			else if (i < 20)
				want = "plan hash mismatch: the file was written by an incompatible feat-compile";
			else if (i < 24)
				/* The body length: too long or too short. */
				want = strncmp(msg, "bytes", 5) ? "truncated plan file"
					: "bytes after the end of the plan file";
			else
				want = "plan file checksum mismatch (corrupted)";
			if (strncmp(msg, want, strlen(want)))
				ck_abort_msg("byte %zu ^ %02x: '%s', want '%s'", i,
					     masks[m], msg, want);
		}
	/* Every truncation. */
	for (i = 0; i < n; i++) {
		msg = load_bytes(path, u, i, &err);
		if (!msg)
			ck_abort_msg("cut at %zu: the plan loads", i);
		if (i < 8)
			require(strcmp(msg, "not a plan file (bad magic)") == 0);
		else if (i < 28)
			/* The magic is there: "truncated" would say it better
			 * (see the report), "bad magic" is what it says now. */
			require(strcmp(msg, "not a plan file (bad magic)") == 0 ||
				strcmp(msg, "truncated plan file") == 0);
		else
			require(strcmp(msg, "truncated plan file") == 0);
	}
	/* Bytes after the end. */
	{
		unsigned char *x = malloc(n + 1);

		memcpy(x, u, n);
		x[n] = '\n';
		msg = load_bytes(path, x, n + 1, &err);
		ck_assert_ptr_nonnull(msg);
		ck_assert_str_eq(msg, "bytes after the end of the plan file");
		free(x);
	}
	/* A body that checks out but does not compile. */
	{
		static const char body[] = "{\"sources\": {}}";
		unsigned char h[28 + sizeof(body)];
		size_t bl = sizeof(body) - 1;
		uint32_t c = feat_fnv1a32(body, bl);

		memcpy(h, u, 24);
		h[20] = (unsigned char)bl;
		h[21] = h[22] = h[23] = 0;
		memcpy(h + 24, body, bl);
		for (i = 0; i < 4; i++)
			h[24 + bl + i] = (unsigned char)(c >> (8 * i));
		msg = load_bytes(path, h, 28 + bl, &err);
		ck_assert_ptr_nonnull(msg);
		ck_assert_str_eq(msg, "\"sources\" must declare at least one source");
		ck_assert_int_eq(err.line, 1);
		ck_assert_int_eq(err.col, 13);
	}
	/* A definition given where a plan is expected. */
	msg = load_bytes(path, movies, strlen(movies), &err);
	ck_assert_ptr_nonnull(msg);
	ck_assert_str_eq(msg, "not a plan file but a definition; compile it with feat-compile first");
	/* Version 2. */
	u[8] = 2;
	msg = load_bytes(path, u, n, &err);
	ck_assert_ptr_nonnull(msg);
	ck_assert_str_eq(msg, "unsupported plan version 2 (this feat reads version 1)");
	u[8] = 1;
	u[11] = 0x80;
	msg = load_bytes(path, u, n, &err);
	ck_assert_ptr_nonnull(msg);
	ck_assert_str_eq(msg, "plan file uses flags this feat does not know");
	u[11] = 0;
	/* Still loads once put back. */
	ck_assert_ptr_null(load_bytes(path, u, n, &err));
	(void)L;
	unlink(path);
	ck_assert_ptr_null(feat_plan_load(path, &err));
	ck_assert_msg(strstr(err.msg, "No such file or directory") != NULL, "%s", err.msg);
	feat_buf_release(&b);
	feat_plan_free(p);
}
END_TEST

/*
 * Rejected definitions: each is the small definition below with one thing
 * wrong, and the error must say what and point at the right line and
 * column (1-based, of the offending value, or of the member name when the
 * name is the problem, or of the character inside an expression).
 */
static const char base[] =
	"{\"sources\": {\"ev\": {\"time\": \"ts\",\n"
	"  \"columns\": {\"k\": \"string\", \"ts\": \"timestamp_ms\", \"x\": \"double\", \"b\": \"bool\"}}},\n"
	" \"group_bys\": {\"g\": {\"source\": \"ev\", \"keys\": [\"k\"],\n"
	"  \"aggregations\": [{\"op\": \"sum\", \"of\": \"x\", \"windows\": [\"1h\"]}]}}}";

static const char join_base[] =
	"{\"sources\": {\"ev\": {\"time\": \"ts\",\n"
	"  \"columns\": {\"k\": \"string\", \"ts\": \"timestamp_ms\", \"x\": \"double\", \"b\": \"bool\"}}},\n"
	" \"group_bys\": {\"g\": {\"source\": \"ev\", \"keys\": [\"k\"],\n"
	"  \"aggregations\": [{\"op\": \"sum\", \"of\": \"x\", \"windows\": [\"1h\"]}]}},\n"
	" \"join\": {\"left\": {\"time\": \"ts\", \"columns\": {\"k\": \"string\", \"ts\": \"timestamp_ms\"}},\n"
	"  \"parts\": [{\"group_by\": \"g\"}],\n"
	"  \"derive\": {\"big\": \"g_x_sum_1h > 10\"}}}";

static const struct bad {
	const char *from;	/* base or join_base; NULL: text is whole */
	const char *old;	/* replaced once by new */
	const char *new;
	const char *want;	/* "line:col: message" */
} bads[] = {
	/* JSON itself (jansson's words). */
	{ NULL, NULL, "{\"sources\": ", "1:12: unexpected token near end of file" },
	{ NULL, NULL, "{\"sources\": {},\n}", "2:1: string or '}' expected near '}'" },
	{ NULL, NULL, "{\"sources\": {},\n \"sources\": {}}",
	  "2:10: duplicate object key near '\"sources\"'" },
	{ NULL, NULL, "[]", "1:1: a definition must be a JSON object, not an array" },
	/* The top level. */
	{ base, "\"group_bys\"", "\"group_by\"",
	  "3:2: unknown member 'group_by' in a definition; did you mean 'group_bys'?" },
	{ NULL, NULL, "{\"group_bys\": {}}", "1:1: a definition needs \"sources\"" },
	{ base, "{\"sources\"", "{\"name\": 3, \"sources\"", "1:10: \"name\" must be a string" },
	/* Sources. */
	{ base, "{\"ev\": {\"time\": \"ts\",\n  \"columns\": {\"k\": \"string\", \"ts\": \"timestamp_ms\", \"x\": \"double\", \"b\": \"bool\"}}}",
	  "{}", "1:13: \"sources\" must declare at least one source" },
	{ base, "\"ev\": {", "\"e v\": {", "1:14: 'e v' is not a valid source name" },
	{ base, "\"ev\": {\"time\": \"ts\",\n  \"columns\": {\"k\": \"string\", \"ts\": \"timestamp_ms\", \"x\": \"double\", \"b\": \"bool\"}}",
	  "\"ev\": 3", "1:20: a source must be an object, not an integer" },
	{ base, "{\"time\": \"ts\",", "{\"time\": \"ts\", \"format\": \"json\",",
	  "1:45: unknown format 'json' (\"csv\" or \"jsonl\")" },
	{ base, "\"x\": \"double\"", "\"x\": \"float\"",
	  "2:57: unknown type 'float' for column 'x' (types: int, double, string, bool, timestamp_s, timestamp_ms, timestamp_us, timestamp_ns, timestamp, list<double>, list<string>, map<string,double>)" },
	{ base, "\"x\": \"double\"", "\"1x\": \"double\"",
	  "2:52: '1x' is not a valid column name (letters, digits and _, not starting with a digit)" },
	{ base, "\"columns\": {\"k\": \"string\", \"ts\": \"timestamp_ms\", \"x\": \"double\", \"b\": \"bool\"}",
	  "\"columns\": {}", "2:14: \"columns\" must name at least one column" },
	{ base, "\"time\": \"ts\"", "\"time\": \"when\"",
	  "1:29: time column 'when' is not among the columns" },
	{ base, "\"time\": \"ts\"", "\"time\": \"x\"",
	  "1:29: time column 'x' must be a timestamp type (timestamp_ms, ...), not double" },
	{ base, "\"time\": \"ts\",", "\"time\": \"ts\", \"lateness\": \"5 minutes\",",
	  "1:47: cannot parse '5 minutes' as a duration (examples: 30s, 5m, 1h30m, 7d)" },
	{ base, "\"time\": \"ts\",", "\"time\": \"ts\", \"lateness\": \"-5m\",",
	  "1:47: cannot parse '-5m' as a duration (examples: 30s, 5m, 1h30m, 7d)" },
	{ base, "\"time\": \"ts\",", "\"time\": \"ts\", \"colour\": \"red\",",
	  "1:35: unknown member 'colour' in a source (expected one of: format, time, lateness, columns, header, delimiter, quote, null)" },
	{ base, "\"time\": \"ts\",", "\"time\": \"ts\", \"delimiter\": \"ab\",",
	  "1:48: \"delimiter\" must be a string of one character" },
	{ base, "\"time\": \"ts\",", "\"time\": \"ts\", \"quote\": \",\",",
	  "1:44: the quote and the delimiter must differ" },
	{ base, "\"time\": \"ts\",", "\"time\": \"ts\", \"header\": \"yes\",",
	  "1:45: \"header\" must be true or false" },
	{ base, "\"time\": \"ts\",", "\"time\": \"ts\", \"null\": 0,",
	  "1:43: \"null\" must be a string (the spelling of null)" },
	/* Group_bys. */
	{ base, "\"g\": {", "\"my-gb\": {", "3:16: 'my-gb' is not a valid group_by name" },
	{ base, "\"source\": \"ev\"", "\"source\": \"evs\"", "3:32: unknown source 'evs'; did you mean 'ev'?" },
	{ base, "\"keys\": [\"k\"]", "\"keys\": []", "3:46: \"keys\" must list at least one column" },
	{ base, "\"keys\": [\"k\"]", "\"keys\": \"k\"", "3:46: \"keys\" must be an array, not a string" },
	{ base, "\"keys\": [\"k\"]", "\"keys\": [\"k\", \"user\"]", "3:52: unknown key column 'user'" },
	{ base, "\"keys\": [\"k\"]", "\"keys\": [\"k\", \"k\"]", "3:52: key column 'k' listed twice" },
	{ base, ",\n  \"aggregations\": [{\"op\": \"sum\", \"of\": \"x\", \"windows\": [\"1h\"]}]", "",
	  "3:21: a group_by needs \"aggregations\"" },
	{ base, "\"aggregations\": [{\"op\": \"sum\", \"of\": \"x\", \"windows\": [\"1h\"]}]",
	  "\"aggregations\": []", "4:19: \"aggregations\" must list at least one aggregation" },
	{ base, "\"aggregations\": [{\"op\": \"sum\", \"of\": \"x\", \"windows\": [\"1h\"]}]",
	  "\"aggregations\": [3]", "4:20: an aggregation must be an object, not an integer" },
	{ base, "\"op\": \"sum\"", "\"op\": \"median\"",
	  "4:27: unknown aggregation 'median' (one of: count, sum, avg, min, max, last, first, var, stddev, first_k, last_k, top_k, bottom_k, unique_count, approx_unique_count, approx_percentile, histogram)" },
	{ base, "\"windows\": [\"1h\"]", "\"window\": [\"1h\"]",
	  "4:45: unknown member 'window' in an aggregation; did you mean 'windows'?" },
	{ base, "\"of\": \"x\"", "\"of\": \"k\"", "4:40: sum of string is not defined; cast with double()" },
	{ base, "\"op\": \"sum\", \"of\": \"x\"", "\"op\": \"min\", \"of\": \"b\"",
	  "4:40: min of bool is not defined; cast with int()" },
	{ base, "\"op\": \"sum\", \"of\": \"x\"", "\"op\": \"var\", \"of\": \"k\"",
	  "4:40: var of string is not defined; cast with double()" },
	{ base, "\"op\": \"sum\"", "\"op\": \"top_k\"",
	  "4:20: top_k needs \"k\": how many values to keep" },
	{ base, "\"windows\": [\"1h\"]", "\"windows\": [\"1h\"], \"op2\": 1",
	  "4:64: unknown member 'op2' in an aggregation; did you mean 'op'?" },
	{ base, "\"op\": \"sum\", \"of\": \"x\", \"windows\": [\"1h\"]",
	  "\"op\": \"approx_percentile\", \"of\": \"x\", \"percentiles\": [1.5]",
	  "4:74: \"percentiles\" must be a non-empty array of numbers in [0, 1]" },
	{ base, "\"op\": \"sum\", \"of\": \"x\", ", "\"op\": \"sum\", ",
	  "4:20: sum needs \"of\": the column it aggregates" },
	{ base, "\"of\": \"x\"", "\"of\": \"y\"", "4:40: unknown column 'y' in \"of\"" },
	{ base, "\"windows\": [\"1h\"]", "\"windows\": [\"1h\", \"5x\"]",
	  "4:63: cannot parse '5x' as a duration (examples: 30s, 5m, 1h30m, 7d, unbounded)" },
	{ base, "\"windows\": [\"1h\"]", "\"windows\": [\"1h\", \"60m\"]", "4:63: window 1h listed twice; its features would have the same name" },
	{ base, "\"windows\": [\"1h\"]", "\"windows\": []",
	  "4:56: \"windows\" must be a non-empty array of durations" },
	{ base, "\"windows\": [\"1h\"]", "\"windows\": [3600]",
	  "4:57: a duration must be a string such as \"5h\", not an integer" },
	{ base, "{\"op\": \"sum\", \"of\": \"x\", \"windows\": [\"1h\"]}",
	  "{\"op\": \"sum\", \"of\": \"x\", \"windows\": [\"1h\"], \"name\": \"n\"},\n    {\"op\": \"count\", \"name\": \"n\"}",
	  "5:5: two features are named 'n'" },
	/* Expressions: the column is that of the character in the text. */
	{ base, "\"source\": \"ev\",", "\"source\": \"ev\", \"where\": \"x + 1\",",
	  "3:47: \"where\" must be a bool expression, not double" },
	{ base, "\"source\": \"ev\",", "\"source\": \"ev\", \"where\": \"kk != null\",",
	  "3:48: unknown column 'kk'; did you mean 'k'?\n    kk != null\n    ^" },
	{ base, "\"source\": \"ev\",", "\"source\": \"ev\", \"where\": \"x > 'a'\",",
	  "3:50: cannot compare double with string\n    x > 'a'\n      ^" },
	{ base, "\"source\": \"ev\",", "\"source\": \"ev\",\n  \"select\": {\"y\": \"if(x > 1, 1\"},",
	  "4:31: expected ',' or ')' but found end of expression\n    if(x > 1, 1\n               ^" },
	{ base, "\"source\": \"ev\",", "\"source\": \"ev\", \"select\": {\"x\": \"1\"},",
	  "3:49: select column 'x' is already a column of source 'ev'" },
	/*
	 * Under SANITIZE=1, LeakSanitizer checks that the select column's
	 * name, copied before the null type is refused, is freed with the
	 * refused plan.
	 */
	{ base, "\"source\": \"ev\",", "\"source\": \"ev\", \"select\": {\"y\": \"null\"},",
	  "3:54: select column 'y' is always null; give it a type, e.g. if(false, 0, null)" },
	/* The join. */
	{ join_base, "\"parts\": [{\"group_by\": \"g\"}]", "\"parts\": []",
	  "6:12: \"parts\" must list at least one group_by" },
	{ join_base, "[{\"group_by\": \"g\"}]", "[{\"group_by\": \"h\"}]", "6:26: unknown group_by 'h'" },
	{ join_base, "\"columns\": {\"k\": \"string\", \"ts\": \"timestamp_ms\"}",
	  "\"columns\": {\"user\": \"string\", \"ts\": \"timestamp_ms\"}",
	  "6:26: key 'k' of group_by 'g' has no left column; map one with \"keys\": {\"left_col\": \"k\"}" },
	{ join_base, "\"columns\": {\"k\": \"string\", \"ts\": \"timestamp_ms\"}",
	  "\"columns\": {\"k\": \"int\", \"ts\": \"timestamp_ms\"}",
	  "6:26: left column 'k' is int but key 'k' is string" },
	{ join_base, "\"columns\": {\"k\": \"string\", \"ts\": \"timestamp_ms\"}",
	  "\"columns\": {\"k\": \"string\", \"ts\": \"timestamp_ms\", \"g_x_sum_1h\": \"int\"}",
	  "6:12: output column 'g_x_sum_1h' is also a left column; give its part a \"prefix\"" },
	{ join_base, "\"g_x_sum_1h > 10\"", "\"g_x_sum_2h > 10\"",
	  "7:22: unknown column 'g_x_sum_2h'; did you mean 'g_x_sum_1h'?\n    g_x_sum_2h > 10\n    ^" },
	{ join_base, "\"derive\": {\"big\": \"g_x_sum_1h > 10\"}", "\"derive\": {\"k\": \"1\"}",
	  "7:14: derived column 'k' is already a column" },
};

START_TEST(test_rejected)
{
	const struct bad *t = &bads[_i];
	struct feat_error err;
	struct feat_plan *p;
	struct feat_buf text = FEAT_BUF_INIT;
	char got[2048], want[2048];

	if (t->from) {
		const char *hit = strstr(t->from, t->old);

		ck_assert_msg(hit != NULL, "case %d: '%s' not in the base", _i, t->old);
		feat_buf_add(&text, t->from, (size_t)(hit - t->from));
		feat_buf_adds(&text, t->new);
		feat_buf_adds(&text, hit + strlen(t->old));
	} else {
		feat_buf_adds(&text, t->new);
	}
	feat_error_clear(&err);
	p = feat_plan_compile(text.ptr, text.len, "d.json", &err);
	if (p)
		ck_abort_msg("case %d compiles:\n%s", _i, text.ptr);
	feat_error_format(&err, got, sizeof(got));
	snprintf(want, sizeof(want), "d.json:%s", t->want);
	ck_assert_msg(!strcmp(got, want), "case %d:\n%s\ngot:  %s\nwant: %s", _i,
		      text.ptr, got, want);
	ck_assert_str_eq(err.file, "d.json");
	feat_buf_release(&text);
}
END_TEST

/* The base definitions themselves compile (or the table proves nothing). */
START_TEST(test_rejected_bases_compile)
{
	feat_plan_free(compile(base));
	feat_plan_free(compile(join_base));
}
END_TEST

static Suite *plan_suite(void)
{
	Suite *s = suite_create("plan");
	TCase *tc = tcase_create("compile");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_movies_compiles);
	tcase_add_test(tc, test_movies_file);
	tcase_add_test(tc, test_rejected_bases_compile);
	tcase_add_loop_test(tc, test_rejected, 0, (int)(sizeof(bads) / sizeof(bads[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("hash");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_hash_layout_independent);
	tcase_add_test(tc, test_hash_normalised);
	tcase_add_test(tc, test_hash_changes);
	tcase_add_test(tc, test_hash_headerless_order);
	suite_add_tcase(s, tc);

	tc = tcase_create("file");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_serialize_load);
	tcase_add_test(tc, test_hash_is_fnv_of_compact_body);
	tcase_add_test(tc, test_load_corrupted);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(plan_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
