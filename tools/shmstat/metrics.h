/*
 * metrics.h - render a segment snapshot (shm/snapshot.h) for people and tools:
 * an 80-column text table, one JSON document, and the Prometheus text
 * exposition format. The schema of the JSON and the metric names are in
 * docs/shmstat.md; change them together. Nothing here reads the segment: the
 * renderers only see the snapshot, so they can be tested with a made-up one.
 */
#ifndef AGENTOS_TOOLS_SHMSTAT_METRICS_H
#define AGENTOS_TOOLS_SHMSTAT_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "shm/snapshot.h"

/* Version of the JSON document ("schema" field); bump on an incompatible change. */
#define METRICS_JSON_SCHEMA "agentos-shmstat/1"

struct metrics_table_opts {
    int width;         /* terminal columns; < 80 is treated as 80 */
    int max_item_rows; /* 0 = every item; else at most this many, active ones first */
};

/*
 * Write the human snapshot: run summary, then item, key, endpoint, node and
 * worker tables, each line at most opts->width columns (IDs cut with "…").
 * Control characters from the segment are shown as '?'. 0 or -errno.
 */
int metrics_table(const struct snap *s, const struct metrics_table_opts *opts, FILE *out);

/*
 * The run's limits (metrics_limits.c): endpoints (with the adaptive limit's
 * last window and change), nodes and groups with a limit or a timeout. As a
 * JSON array ("limits" of the document), Prometheus families agentos_limit*,
 * and the table's LIMIT section (lines cut at width).
 */
struct cJSON *metrics_limits_json(const struct snap *s);
void metrics_limits_prom(const struct snap *s, FILE *out);
void metrics_limits_table(const struct snap *s, int width, FILE *out);

/*
 * GET /healthz: *status 200 while the run is running and some key can serve
 * (or it needs none), else 503 with the reason (paused, shutting down, gone,
 * no key can serve). ended: why the run is over when its segment is gone
 * (s may then be NULL), or NULL. Returns the malloc'd JSON body, or NULL.
 */
char *metrics_health(const struct snap *s, const char *ended, unsigned *status);

/* Header line of the run list (agentos-shmstat without RUN). */
void metrics_list_header(int width, FILE *out);

/*
 * One row of the run list: s is the run's snapshot, or NULL when the segment
 * could not be read (why says so: "other layout", ...). name is
 * "/agentos-<id>", creator_pid and stale as shm_segment_list reports them.
 */
void metrics_list_row(const struct snap *s, const char *name, int32_t creator_pid, int stale,
                      const char *why, int width, FILE *out);

/*
 * The snapshot as one JSON document (schema METRICS_JSON_SCHEMA), malloc'd,
 * pretty-printed if pretty. NULL when out of memory.
 */
char *metrics_json(const struct snap *s, int pretty);

/*
 * The snapshot in the Prometheus text exposition format 0.0.4: every family
 * with # HELP and # TYPE, label values escaped. 0 or -errno.
 */
int metrics_prometheus(const struct snap *s, FILE *out);

/* Escape a Prometheus label value (\\, \", \n) into out (always NUL-terminated). */
void metrics_escape_label(const char *in, char *out, size_t outlen);

/* Format a CLOCK_REALTIME instant as UTC: "2026-11-23T04:52:18Z" (iso) or "04:52:18". */
void metrics_utc(int64_t real_ns, int iso, char *out, size_t outlen);

/* url without user-info, query or fragment ("http://u:p@h/x?k=v" -> "http://h/x"). */
void metrics_safe_url(const char *url, char *out, size_t outlen);

/* The shared key budget (--budget): a section of the table, "budget" in the
 * JSON, agentos_budget_* metrics; nothing when the run has none. */
void metrics_budget_table(const struct snap *s, FILE *out);
void metrics_budget_json(const struct snap *s, struct cJSON *root);
void metrics_budget_prometheus(const struct snap *s, FILE *out);

/* "closed", "open", "half_open" (enum breaker_state) or "unknown". */
const char *metrics_breaker_name(uint32_t state);

/* Format seconds compactly: "0.4s", "12.3s", "4m05s", "2h07m". */
void metrics_duration(double s, char *out, size_t outlen);

#endif
