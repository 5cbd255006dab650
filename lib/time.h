/*
 * time.h - timestamps, durations and calendar dates.
 *
 * Every timestamp inside feat is int64 milliseconds since 1970-01-01T00:00Z.
 * Inputs are converted on the way in, according to the column's unit.
 */
#ifndef FEAT_TIME_H
#define FEAT_TIME_H

#include <stddef.h>
#include <stdint.h>

enum feat_ts_unit {
	FEAT_TS_S,		/* integer seconds */
	FEAT_TS_MS,		/* integer milliseconds */
	FEAT_TS_US,		/* integer microseconds (floored to ms) */
	FEAT_TS_NS,		/* integer nanoseconds (floored to ms) */
	FEAT_TS_ISO,		/* ISO-8601 / RFC 3339 text with an offset */
};

#define FEAT_TS_MIN INT64_MIN
#define FEAT_TS_MAX INT64_MAX

/*
 * Parses a duration such as "30s", "5m", "1h30m", "7d", "250ms": one or more
 * <digits><unit> pairs, units d h m s ms, each unit at most once and in
 * decreasing order. Returns 0 and the length in *ms (> 0), or -1.
 */
int feat_duration_parse(const char *s, int64_t *ms);

/*
 * Writes the canonical text of a duration (largest units first, zero parts
 * left out: 5400000 -> "1h30m"; 0 -> "0s") with a NUL. buf must hold 40
 * bytes. Returns the length.
 */
size_t feat_duration_format(char *buf, int64_t ms);

/*
 * Parses a timestamp in the given unit into milliseconds. ISO-8601 accepts
 * "2026-11-01T12:00:00Z", "2026-11-01T12:00:00.123+02:00",
 * "2026-11-01 12:00:00Z" and a bare date "2026-11-01" (midnight UTC);
 * seconds and fraction are optional, offsets may also be +HHMM or +HH, and
 * t/z may be lowercase. A date-time without an offset is refused (it names
 * no instant). Integer units accept an optional sign; us and ns and extra
 * fraction digits are floored toward minus infinity.
 * Returns 0, or -1 when the text is not such a timestamp or overflows.
 */
int feat_ts_parse(const char *s, size_t n, enum feat_ts_unit unit,
		  int64_t *ms);

/*
 * Writes ms as ISO-8601 UTC with milliseconds ("2026-11-01T12:00:00.000Z")
 * and a NUL. buf must hold 40 bytes. Returns the length.
 */
size_t feat_ts_format_iso(char *buf, int64_t ms);

/* Parses "YYYY-MM-DD" into days since 1970-01-01. Returns 0 or -1. */
int feat_date_parse(const char *s, int64_t *days);

/* Writes days since the epoch as "YYYY-MM-DD" with a NUL (buf >= 16). */
void feat_date_format(char *buf, int64_t days);

/* Days since the epoch of a civil date, and back (proleptic Gregorian). */
int64_t feat_days_from_civil(int64_t y, unsigned m, unsigned d);
void feat_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

#endif
