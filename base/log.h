/*
 * Structured logs: one line per event, with a time, a level, a message and
 * typed key=value fields, as logfmt or as JSON lines, to stderr unless told
 * otherwise. Thread-safe: each line is formatted apart and written with one
 * write(2) under a lock, so lines from threads never interleave.
 * Design and format: docs/observability.md.
 *
 *   stv_log(STV_LOG_INFO, "scale up", STV_LOG_STR("group", id), STV_LOG_INT("count", n));
 *   stv_log_msg(STV_LOG_WARN, "lease lost");
 *
 * logfmt:  ts=2026-05-01T12:00:00.123Z level=info msg="scale up" group=sim-a count=3
 * JSON:    {"ts":"2026-05-01T12:00:00.123Z","level":"info","msg":"scale up","group":"sim-a","count":3}
 */
#ifndef STV_LOG_H
#define STV_LOG_H

#include <stddef.h>
#include <stdint.h>

enum stv_log_level { STV_LOG_DEBUG, STV_LOG_INFO, STV_LOG_WARN, STV_LOG_ERROR };
enum stv_log_format { STV_LOG_LOGFMT, STV_LOG_JSON };

enum stv_log_type { STV_LOG_T_STR, STV_LOG_T_INT, STV_LOG_T_NUM, STV_LOG_T_BOOL };

/* One key=value field; build them with the macros below. */
struct stv_log_field {
  const char *key; /* [a-zA-Z0-9_.-]+ by convention; other bytes are written as '_' */
  enum stv_log_type type;
  union {
    const char *s; /* NULL is written as an empty string */
    int64_t i;
    double d; /* NaN and infinities: "NaN", "+Inf", "-Inf" (strings in JSON) */
  } v;
};

#define STV_LOG_STR(k, x)  ((struct stv_log_field){.key = (k), .type = STV_LOG_T_STR, .v.s = (x)})
#define STV_LOG_INT(k, x)  ((struct stv_log_field){.key = (k), .type = STV_LOG_T_INT, .v.i = (int64_t)(x)})
#define STV_LOG_NUM(k, x)  ((struct stv_log_field){.key = (k), .type = STV_LOG_T_NUM, .v.d = (double)(x)})
#define STV_LOG_BOOL(k, x) ((struct stv_log_field){.key = (k), .type = STV_LOG_T_BOOL, .v.i = (x) ? 1 : 0})

/* Logs msg with one or more fields (use stv_log_msg for none). */
#define stv_log(level, msg, ...)                                              \
  stv_log_fields((level), (msg), (const struct stv_log_field[]){__VA_ARGS__}, \
                 sizeof((const struct stv_log_field[]){__VA_ARGS__}) / sizeof(struct stv_log_field))

/* Writes one line: level, msg (borrowed) and fields f[0..n) (borrowed),
 * when level is at or above the configured level. Never fails: a line
 * that cannot be written (a full disk, a closed stderr) is dropped and
 * counted (stv_log_dropped). */
void stv_log_fields(enum stv_log_level level, const char *msg, const struct stv_log_field *f, size_t n);
/* Writes a line without fields. */
void stv_log_msg(enum stv_log_level level, const char *msg);
/* Whether a line at level would be written (to skip costly fields). */
int stv_log_enabled(enum stv_log_level level);

/* Configuration; each setter is thread-safe, but set it up before threads
 * start logging. Defaults: info, logfmt, fd 2, the system's real time. */
void stv_log_set_level(enum stv_log_level level);
void stv_log_set_format(enum stv_log_format format);
/* Sets the file descriptor lines go to (borrowed; never closed here). */
void stv_log_set_fd(int fd);
/* Sets the time source of ts: now(ctx) in seconds since 1970 UTC (for
 * `stevedore simulate`, the virtual clock's time); NULL: the real time. */
void stv_log_set_time(double (*now)(void *ctx), void *ctx);

/* Parses "debug", "info", "warn" (or "warning"), "error"; "logfmt",
 * "json". Returns 0 or STV_EINVAL. */
int stv_log_level_parse(const char *s, enum stv_log_level *out);
int stv_log_format_parse(const char *s, enum stv_log_format *out);
/* "debug", "info", "warn", "error". */
const char *stv_log_level_name(enum stv_log_level level);

/* Lines dropped because they could not be written, since the start. */
uint64_t stv_log_dropped(void);

/* Formats one line (with its newline) into b as the logger would, at time
 * unix_time; for tests and for callers that keep lines (a timeline).
 * Returns 0 or b's error. */
struct stv_buf;
int stv_log_format_line(struct stv_buf *b, enum stv_log_format format, double unix_time,
                        enum stv_log_level level, const char *msg, const struct stv_log_field *f, size_t n);

#endif
