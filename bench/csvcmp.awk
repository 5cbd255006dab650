# bench/csvcmp.awk - compares two CSV result files row by row.
#
#   awk -v types=iiifffs -v other=OTHER.csv -f bench/csvcmp.awk REF.csv
#
# types gives each column's kind: i (an integer: equal as numbers, so that
# 5 and 5.0 agree), f (a double: equal within a relative 1e-9), s (a string:
# equal as text). An empty field, NULL and null all mean null, and null
# equals only null. Surrounding double quotes are removed; the fields must
# not contain commas (the benchmark's never do). The headers must be equal.
#
# Prints one summary line, and the first 5 mismatching rows; exits 1 when
# the files differ (or 2 when a file cannot be read).

function unq(x) {
	sub(/\r$/, "", x)
	if (x ~ /^".*"$/)
		x = substr(x, 2, length(x) - 2)
	return x
}

function isnull(x) {
	return x == "" || x == "NULL" || x == "null"
}

function absv(x) {
	return x < 0 ? -x : x
}

# Does field j agree? Sets why on a mismatch.
function same(x, y, t,    a, b, m) {
	if (isnull(x) || isnull(y))
		return isnull(x) && isnull(y)
	if (t == "s")
		return x == y
	if (t == "i") {
		if (x !~ /^-?[0-9]+(\.0*)?$/ || y !~ /^-?[0-9]+(\.0*)?$/)
			return 0
		return x + 0 == y + 0
	}
	a = x + 0
	b = y + 0
	if (a == b)
		return 1
	m = absv(a) > absv(b) ? absv(a) : absv(b)
	return absv(a - b) <= 1e-9 * m
}

BEGIN {
	FS = ","
	nt = length(types)
	bad = 0
	rows = 0
}

{
	r = (getline line < other)
	if (r < 0) {
		printf "cannot read %s\n", other
		exit 2
	}
	if (r == 0) {
		short = 1
		exit 1
	}
	nb = split(line, b, ",")
	if (NR == 1) {
		h1 = $0; h2 = line
		gsub(/"|\r/, "", h1); gsub(/"|\r/, "", h2)
		if (h1 != h2) {
			printf "headers differ: '%s' vs '%s'\n", h1, h2
			bad++
		}
		next
	}
	rows++
	what = ""
	if (NF != nt || nb != nt)
		what = "field count " NF "/" nb
	else
		for (j = 1; j <= nt; j++)
			if (!same(unq($j), unq(b[j]), substr(types, j, 1)))
				what = what (what == "" ? "" : " ") "column " j
	if (what != "") {
		bad++
		if (bad <= 5)
			printf "  row %d (%s):\n    ours:   %s\n    theirs: %s\n", rows, what, $0, line
	}
}

END {
	if (r < 0)
		exit 2
	if (short) {
		printf "%s has fewer rows than ours (%d)\n", other, rows
		exit 1
	}
	if ((getline line < other) > 0) {
		printf "%s has more rows than ours (%d)\n", other, rows
		exit 1
	}
	printf "%d rows, %d differ\n", rows, bad
	exit (bad > 0)
}
