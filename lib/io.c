/*
 * io.c - reading inputs, writing outputs atomically.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "io.h"

#define INPUT_BUF (256 * 1024)
#define OUTPUT_BUF (256 * 1024)

/*
 * Temporary files being written, for removal from a signal handler. A fixed
 * table of plain pointers keeps the handler free of locks and allocation.
 */
#define MAX_TEMPS 64
static char *volatile temps[MAX_TEMPS];

static void temp_register(char *path)
{
	int i;

	for (i = 0; i < MAX_TEMPS; i++)
		if (!temps[i]) {
			temps[i] = path;
			return;
		}
}

static void temp_forget(const char *path)
{
	int i;

	for (i = 0; i < MAX_TEMPS; i++)
		if (temps[i] == path)
			temps[i] = NULL;
}

void feat_output_cleanup(void)
{
	int i;

	for (i = 0; i < MAX_TEMPS; i++)
		if (temps[i])
			unlink(temps[i]);
}

int feat_input_open(struct feat_input *in, const char *path,
		    struct feat_error *err)
{
	memset(in, 0, sizeof(*in));
	in->fd = -1;
	if (!path || !strcmp(path, "-")) {
		in->fd = 0;
		in->name = strdup("<stdin>");
	} else {
		in->fd = open(path, O_RDONLY);
		if (in->fd < 0)
			return feat_error_errno(err, errno, "cannot open '%s'", path);
		in->name = strdup(path);
	}
	in->buf = malloc(INPUT_BUF);
	in->cap = INPUT_BUF;
	if (!in->name || !in->buf) {
		feat_input_close(in);
		return feat_error_nomem(err);
	}
	return 0;
}

ssize_t feat_input_read(struct feat_input *in, struct feat_error *err)
{
	ssize_t n;

	if (in->eof)
		return 0;
	do
		n = read(in->fd, in->buf, in->cap);
	while (n < 0 && (errno == EINTR || errno == EAGAIN));
	if (n < 0)
		return feat_error_errno(err, errno, "cannot read '%s'", in->name);
	if (n == 0)
		in->eof = 1;
	return n;
}

int feat_input_ready(const struct feat_input *in)
{
	struct pollfd p;

	if (in->eof)
		return 1;
	p.fd = in->fd;
	p.events = POLLIN;
	p.revents = 0;
	return poll(&p, 1, 0) > 0;
}

int feat_inputs_distinct(const char *const *paths, size_t n,
			 struct feat_error *err)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		struct stat a, b;

		for (k = 0; k < i; k++) {
			int a_in = !strcmp(paths[i], "-"), b_in = !strcmp(paths[k], "-");

			if (a_in || b_in) {
				if (a_in && b_in)
					return feat_error_set(err, NULL, 0, 0,
							      "standard input given twice");
				continue;
			}
			if (stat(paths[i], &a) == 0 && stat(paths[k], &b) == 0 &&
			    a.st_dev == b.st_dev && a.st_ino == b.st_ino &&
			    S_ISREG(a.st_mode))
				return feat_error_set(err, NULL, 0, 0,
						      "'%s' and '%s' are the same file; its events would count twice",
						      paths[k], paths[i]);
		}
	}
	return 0;
}

void feat_input_close(struct feat_input *in)
{
	if (in->fd > 0)
		close(in->fd);
	in->fd = -1;
	free(in->name);
	free(in->buf);
	in->name = NULL;
	in->buf = NULL;
}

int feat_output_open(struct feat_output *out, const char *path,
		     struct feat_error *err)
{
	struct stat st;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (!path || !strcmp(path, "-")) {
		out->fd = 1;
		out->name = strdup("<stdout>");
		if (!out->name)
			return feat_error_nomem(err);
		return 0;
	}
	len = strlen(path);
	if ((stat(path, &st) == 0 && S_ISDIR(st.st_mode)) ||
	    (len && path[len - 1] == '/'))
		return feat_error_set(err, NULL, 0, 0, "cannot write '%s': Is a directory",
				      path);
	/*
	 * A pipe, a terminal or a device (/dev/null) is written in place:
	 * renaming over it would replace it with a file nobody reads.
	 */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		out->fd = open(path, O_WRONLY);
		if (out->fd < 0)
			return feat_error_errno(err, errno, "cannot open '%s'", path);
		out->name = strdup(path);
		out->path = NULL;
		out->direct = 1;
		if (!out->name) {
			close(out->fd);
			return feat_error_nomem(err);
		}
		return 0;
	}
	out->path = strdup(path);
	out->name = strdup(path);
	out->tmp = malloc(len + 16);
	if (!out->path || !out->name || !out->tmp) {
		feat_output_abort(out);
		return feat_error_nomem(err);
	}
	sprintf(out->tmp, "%s.tmp.XXXXXX", path);
	out->fd = mkstemp(out->tmp);
	if (out->fd < 0) {
		int e = errno;

		free(out->tmp);
		out->tmp = NULL;
		feat_output_abort(out);
		return feat_error_errno(err, e, "cannot create '%s'", path);
	}
	temp_register(out->tmp);
	/* mkstemp makes 0600; the result should get the usual permissions. */
	{
		mode_t mask = umask(0);

		umask(mask);
		if (fchmod(out->fd, 0666 & ~mask) < 0) {
			int e = errno;

			feat_output_abort(out);
			return feat_error_errno(err, e, "cannot create '%s'", path);
		}
	}
	return 0;
}

int feat_output_isatty(const struct feat_output *out)
{
	return isatty(out->fd);
}

static int write_all(struct feat_output *out, const char *p, size_t n,
		     struct feat_error *err)
{
	while (n) {
		ssize_t w = write(out->fd, p, n);

		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			out->failed = 1;
			return feat_error_errno(err, errno, "cannot write '%s'",
						out->name);
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int feat_output_write(struct feat_output *out, const void *p, size_t n,
		      struct feat_error *err)
{
	if (out->failed)
		return -1;
	if (out->buf.len + n > OUTPUT_BUF && feat_output_flush(out, err) < 0)
		return -1;
	if (n > OUTPUT_BUF)
		return write_all(out, p, n, err);
	if (feat_buf_add(&out->buf, p, n) < 0)
		return feat_error_nomem(err);
	return 0;
}

int feat_output_flush(struct feat_output *out, struct feat_error *err)
{
	if (out->failed)
		return -1;
	if (out->buf.len && write_all(out, out->buf.ptr, out->buf.len, err) < 0)
		return -1;
	feat_buf_reset(&out->buf);
	return 0;
}

int feat_output_commit(struct feat_output *out, struct feat_error *err)
{
	int ret = -1;

	if (feat_output_flush(out, err) < 0)
		goto out;
	if (out->direct) {
		if (close(out->fd) < 0) {
			out->fd = -1;
			feat_error_errno(err, errno, "cannot write '%s'", out->name);
			goto out;
		}
		out->fd = -1;
		ret = 0;
		goto out;
	}
	if (!out->path) {
		ret = 0;
		goto out;
	}
	if (fsync(out->fd) < 0) {
		feat_error_errno(err, errno, "cannot write '%s'", out->name);
		goto out;
	}
	if (close(out->fd) < 0) {
		out->fd = -1;
		feat_error_errno(err, errno, "cannot write '%s'", out->name);
		goto out;
	}
	out->fd = -1;
	if (rename(out->tmp, out->path) < 0) {
		feat_error_errno(err, errno, "cannot rename '%s' to '%s'",
				 out->tmp, out->path);
		goto out;
	}
	temp_forget(out->tmp);
	free(out->tmp);
	out->tmp = NULL;
	ret = 0;
out:
	feat_output_abort(out);
	return ret;
}

void feat_output_abort(struct feat_output *out)
{
	if (out->tmp) {
		temp_forget(out->tmp);
		unlink(out->tmp);
		free(out->tmp);
		out->tmp = NULL;
	}
	if ((out->path || out->direct) && out->fd > 1)
		close(out->fd);
	out->fd = -1;
	free(out->path);
	free(out->name);
	out->path = NULL;
	out->name = NULL;
	feat_buf_release(&out->buf);
}

int feat_write_file(const char *path, const void *p, size_t n,
		    struct feat_error *err)
{
	struct feat_output out;

	if (feat_output_open(&out, path, err) < 0)
		return -1;
	if (feat_output_write(&out, p, n, err) < 0) {
		feat_output_abort(&out);
		return -1;
	}
	return feat_output_commit(&out, err);
}
