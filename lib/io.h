/*
 * io.h - input and output streams with the care a Unix filter needs.
 *
 * Inputs: a file or stdin read with read(2) in whatever pieces arrive,
 * looping on EINTR; feat_input_ready() tells whether more bytes are waiting
 * right now, which is how writers decide to flush (a live pipe gets its
 * output as soon as it is final, a file gets large blocks).
 *
 * Outputs: buffered writes to stdout or, with a path, to a temporary file in
 * the same directory that feat_output_commit() fsyncs and renames over the
 * path, so readers never see half a file. Every write error (a full disk, a
 * closed pipe) is reported. Temporary files still open when the process is
 * killed are removed by feat_output_cleanup(), which the commands call from
 * their signal handlers and at exit.
 */
#ifndef FEAT_IO_H
#define FEAT_IO_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

struct feat_error;

struct feat_input {
	int fd;
	char *name;		/* for messages; "<stdin>" for stdin */
	int eof;
	unsigned char *buf;
	size_t cap;
};

/* Opens path ("-" or NULL: stdin). Returns 0, or -1 with err set. */
int feat_input_open(struct feat_input *in, const char *path,
		    struct feat_error *err);

/*
 * Reads what is available (blocking until something is) into in->buf.
 * Returns the byte count, 0 at end of input (in->eof is set), or -1.
 */
ssize_t feat_input_read(struct feat_input *in, struct feat_error *err);

/* 1 when a read would return at once (data or end of input waiting). */
int feat_input_ready(const struct feat_input *in);

/*
 * Fails with err set when two of the n paths name the same file (or "-"
 * appears twice): reading one stream twice would count its events twice.
 * Paths that cannot be stat'ed are left for the open to report.
 */
int feat_inputs_distinct(const char *const *paths, size_t n,
			 struct feat_error *err);

/* Closes the input (not stdin's descriptor) and frees its buffer. */
void feat_input_close(struct feat_input *in);

struct feat_output {
	int fd;
	char *path;		/* final path, or NULL for stdout */
	char *tmp;		/* temporary path while writing */
	char *name;		/* for messages */
	struct feat_buf buf;
	int failed;
	int direct;		/* a pipe or device written in place */
};

/*
 * Opens path for atomic writing, or stdout when path is NULL or "-".
 * Returns 0, or -1 with err set.
 */
int feat_output_open(struct feat_output *out, const char *path,
		     struct feat_error *err);

/* 1 when the output is a terminal (binary must not go there). */
int feat_output_isatty(const struct feat_output *out);

/* Queues n bytes; writes when the buffer is full. 0, or -1 with err set. */
int feat_output_write(struct feat_output *out, const void *p, size_t n,
		      struct feat_error *err);

/* Writes everything queued. 0, or -1 with err set. */
int feat_output_flush(struct feat_output *out, struct feat_error *err);

/*
 * Flushes and finishes: for a path, fsync, close and rename into place; for
 * stdout, nothing more (the command checks stdout at exit). 0 or -1.
 */
int feat_output_commit(struct feat_output *out, struct feat_error *err);

/* Abandons the output, removing the temporary file. */
void feat_output_abort(struct feat_output *out);

/* Removes every temporary file still open; async-signal-safe. */
void feat_output_cleanup(void);

/*
 * Writes a whole buffer to a path atomically (temp file + fsync + rename).
 * Returns 0, or -1 with err set.
 */
int feat_write_file(const char *path, const void *p, size_t n,
		    struct feat_error *err);

#endif
