/*
 * error.c - filling and formatting struct feat_error.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

void feat_error_clear(struct feat_error *err)
{
	err->file[0] = '\0';
	err->line = 0;
	err->col = 0;
	err->msg[0] = '\0';
	err->detail[0] = '\0';
}

int feat_error_set(struct feat_error *err, const char *file, long line,
		   long col, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	feat_error_clear(err);
	if (file)
		snprintf(err->file, sizeof(err->file), "%s", file);
	err->line = line;
	err->col = col;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int feat_error_errno(struct feat_error *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (!err)
		return -1;
	feat_error_clear(err);
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
	return -1;
}

int feat_error_nomem(struct feat_error *err)
{
	return feat_error_set(err, NULL, 0, 0, "out of memory");
}

size_t feat_error_format(const struct feat_error *err, char *buf, size_t n)
{
	int len = 0;

	if (!n)
		return 0;
	buf[0] = '\0';
	if (err->file[0] && err->line && err->col)
		len = snprintf(buf, n, "%s:%ld:%ld: ", err->file, err->line,
			       err->col);
	else if (err->file[0] && err->line)
		len = snprintf(buf, n, "%s:%ld: ", err->file, err->line);
	else if (err->file[0])
		len = snprintf(buf, n, "%s: ", err->file);
	if (len < 0 || (size_t)len >= n)
		return strlen(buf);
	len += snprintf(buf + len, n - len, "%s", err->msg);
	if ((size_t)len < n && err->detail[0])
		len += snprintf(buf + len, n - len, "\n%s", err->detail);
	return (size_t)len < n ? (size_t)len : n - 1;
}
