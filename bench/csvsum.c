/*
 * bench/csvsum - the CSV parsing ceiling: what libcsv alone costs.
 *
 *   csvsum [file|-] [column]
 *
 * Parses the file (default: standard input) with csv_parse() and field and
 * row callbacks over 1 MiB reads, sums one column (0-based, default 3, the
 * events' value) with strtod, and prints the row count and the sum. It is
 * the least any libcsv-based reader of the events must do, so
 * feat-aggregate's time over this one says what the rest of feat costs.
 * After /work/shared/bench/limits/libcsv_sum.c.
 */
#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sum {
	int col, want;
	unsigned long long rows;
	double sum;
};

static void on_field(void *s, size_t len, void *data)
{
	struct sum *st = data;

	(void)len;
	if (st->col == st->want && st->rows > 0)	/* not the header */
		st->sum += strtod(s, NULL);
	st->col++;
}

static void on_row(int c, void *data)
{
	struct sum *st = data;

	(void)c;
	st->col = 0;
	st->rows++;
}

int main(int argc, char **argv)
{
	static char buf[1 << 20];
	struct csv_parser p;
	struct sum st = { 0, 3, 0, 0.0 };
	const char *path = argc > 1 ? argv[1] : "-";
	int fd = 0;
	ssize_t n;

	if (argc > 2)
		st.want = atoi(argv[2]);
	if (strcmp(path, "-") && (fd = open(path, 0)) < 0) {
		fprintf(stderr, "csvsum: cannot open '%s': %s\n", path, strerror(errno));
		return 1;
	}
	if (csv_init(&p, CSV_APPEND_NULL) != 0)
		return 1;
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "csvsum: cannot read '%s': %s\n", path, strerror(errno));
			return 1;
		}
		if (n == 0)
			break;
		if (csv_parse(&p, buf, (size_t)n, on_field, on_row, &st) != (size_t)n) {
			fprintf(stderr, "csvsum: %s: %s\n", path, csv_strerror(csv_error(&p)));
			return 1;
		}
	}
	csv_fini(&p, on_field, on_row, &st);
	csv_free(&p);
	printf("%llu rows, sum of column %d = %.2f\n",
	       st.rows ? st.rows - 1 : 0, st.want, st.sum);
	return 0;
}
