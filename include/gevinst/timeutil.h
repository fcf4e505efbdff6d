#ifndef GEVINST_TIMEUTIL_H
#define GEVINST_TIMEUTIL_H

/* Time for the event path: RFC 3339 parsing into UTC microseconds, and local
 * calendar days in an IANA zone for the KPI code. All times are int64 UTC
 * microseconds since 1970-01-01T00:00:00Z; all days are int32 days since
 * 1970-01-01 (proleptic Gregorian), negative before 1970. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIMEUTIL_US_PER_SEC INT64_C(1000000)
#define TIMEUTIL_US_PER_DAY INT64_C(86400000000)

/* Parses an RFC 3339 date-time ("2025-02-03T08:12:44.250+01:00") of exactly
 * len bytes into UTC microseconds. Accepted, per RFC 3339 section 5.6:
 *   - years 0000..9999, real calendar dates only (2023-02-29 is refused);
 *   - hour 00..23, minute 00..59, second 00..59; second 60 only where a leap
 *     second can be (23:59:60 UTC on the last day of a month), read as
 *     23:59:59.999999 UTC because POSIX time has no leap seconds;
 *   - "T"/"t" between date and time, "Z"/"z" or a numeric offset
 *     +HH:MM/-HH:MM up to 23:59 ("-00:00" is UTC, RFC 3339 4.3);
 *   - a fraction of 1 or more digits, truncated (not rounded) to microseconds.
 * Refused: a space instead of "T", no offset, "+0100", "+01", a lone ".",
 * anything before or after. Returns false and leaves *utc_us alone on error. */
bool timeutil_parse_rfc3339(const char *s, size_t len, int64_t *utc_us);

/* Writes "YYYY-MM-DDTHH:MM:SS.ffffffZ" (27 chars + NUL) for logs and tests.
 * Returns false (and writes "") outside years 0000..9999. */
bool timeutil_format_utc(int64_t utc_us, char out[32]);

/* Days since 1970-01-01 of a proleptic Gregorian date; no range check. */
int32_t timeutil_days_from_civil(int year, int month, int day);
void timeutil_civil_from_days(int32_t days, int *year, int *month, int *day);
/* ISO weekday of a day number: 1 = Monday .. 7 = Sunday. */
int timeutil_iso_weekday(int32_t days);

/* A time zone loaded from the system's TZif database. The handle is
 * immutable once made, so any number of threads may query it at once. */
typedef struct timeutil_tz timeutil_tz_t;

/* Loads the IANA zone `name` ("Europe/Oslo", "UTC") from $TZDIR or
 * /usr/share/zoneinfo. "UTC" and "Etc/UTC" work without the database.
 * Refuses names with "..", absolute paths, and zones with leap seconds
 * ("right/..."), since their clocks count leap seconds and ours do not. */
timeutil_tz_t *timeutil_tz_new(const char *name, char *errstr, size_t errstr_size);
void timeutil_tz_destroy(timeutil_tz_t *tz);
const char *timeutil_tz_name(const timeutil_tz_t *tz);

/* Offset from UTC (seconds east, +3600 for CET) in force at utc_us. */
int32_t timeutil_utc_offset(const timeutil_tz_t *tz, int64_t utc_us);

/* The local calendar day (days since 1970-01-01) that utc_us falls on. */
int32_t timeutil_local_day(const timeutil_tz_t *tz, int64_t utc_us);

/* The first UTC instant of local day `day`: local midnight, or the end of the
 * DST gap when midnight itself is skipped. A day is
 * timeutil_local_day_start(d + 1) - timeutil_local_day_start(d) long:
 * 23 or 25 hours on DST change days. */
int64_t timeutil_local_day_start(const timeutil_tz_t *tz, int32_t day);

#endif
