/*
 * fuzz_plan.c - libFuzzer target for the definition checker.
 *
 * Arbitrary bytes are compiled as a definition. A rejection must come with
 * a message; an accepted definition must serialize to a plan file that
 * loads back with the same hash and the same canonical text, so that every
 * command sees the plan feat-compile saw.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct feat_error err;
	struct feat_plan *p, *q;
	struct feat_buf b = FEAT_BUF_INIT;
	char path[] = "/tmp/fuzz-plan-XXXXXX";
	int fd;

	feat_error_clear(&err);
	p = feat_plan_compile((const char *)data, size, "fuzz.json", &err);
	if (!p) {
		if (!err.msg[0])
			abort();	/* a rejection must say why */
		return 0;
	}
	if (feat_plan_serialize(p, &b) < 0)
		abort();
	fd = mkstemp(path);
	if (fd < 0 || write(fd, b.ptr, b.len) != (ssize_t)b.len)
		abort();
	close(fd);
	q = feat_plan_load(path, &err);
	unlink(path);
	if (!q || q->hash != p->hash || strcmp(q->canonical, p->canonical))
		abort();
	feat_plan_free(q);
	feat_plan_free(p);
	feat_buf_release(&b);
	return 0;
}
