/*
 * log.h - console lines, per-item log files and audit JSONL, all written
 * through the process's uring writer.
 *
 * Console lines are whole and prefixed ("[LLD-42] >>> Executing: N1_design",
 * "[COORDINATOR] ..."). A message with newlines, or longer than LOG_LINE_MAX
 * bytes, is cut (on a UTF-8 boundary) into several whole prefixed lines. In a
 * worker the console fd is the pipe to the coordinator (flagged
 * UW_FD_ATOMIC_LINES), which prints them; in the coordinator it is stdout.
 * The same text goes unprefixed to the item's `<ID>.log`.
 * Audit lines are one JSON object per line built with cJSON (so always valid
 * JSON), with fields ts, run, item, event, node and, where set, key,
 * http_status, latency_ms, error. On open, an audit file whose last line was
 * cut short by a kill -9 is truncated back to its last newline, so every line
 * parses.
 */
#ifndef AGENTOS_RUNTIME_LOG_H
#define AGENTOS_RUNTIME_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "llm/llm.h"
#include "runtime/uring.h"
#include "shm/shm_layout.h"

#define LOG_LINE_MAX 1000 /* bytes of message text per console line */

struct log_sink {
    struct uring_writer *uw;
    int console_fd;              /* -1 = no console */
    int log_fd;                  /* <ID>.log, -1 = none */
    int audit_fd;                /* workflow-audit-<ID>.jsonl, -1 = none */
    int quiet;                   /* --quiet: console gets only FAILED lines and COORDINATOR lines */
    char prefix[SHM_ID_MAX + 4]; /* "[LLD-42] " or "[COORDINATOR] " */
    char run_id[SHM_RUN_ID_MAX];
    char item_id[SHM_ID_MAX];
};

/* Set up a sink with no item files: prefix "[COORDINATOR] " when item is NULL. */
void log_sink_init(struct log_sink *s, struct uring_writer *uw, int console_fd, const char *run_id,
                   const char *item_id);

/*
 * Open (O_APPEND|O_CREAT, 0600) run_dir/<ID>.log and
 * run_dir/workflow-audit-<ID>.jsonl for item_id, repairing a torn audit tail,
 * and set the prefix to "[<ID>] ". 0 or -errno.
 */
int log_open_item(struct log_sink *s, const char *run_dir, const char *item_id);

/* Flush and close the item's files; the sink keeps its console. */
void log_close_item(struct log_sink *s);

/* One console message (prefixed, cut into whole lines) + the same unprefixed in the log. */
void log_line(struct log_sink *s, const char *msg);
void log_printf(struct log_sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A "[COORDINATOR] ..." console line emitted from any process (e.g. a worker seeing a 429). */
void log_coordinator(struct log_sink *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Text for the item log file only (LLM exchanges). */
void log_file_only(struct log_sink *s, const char *title, const char *text);

/* Optional audit fields; NULL / -1 mean absent. */
struct audit_fields {
    const char *node;
    const char *key;
    const char *error;
    long http_status;      /* -1 = absent */
    long latency_ms;       /* -1 = absent */
    int64_t input_tokens;  /* -1 = absent */
    int64_t output_tokens; /* -1 = absent */
};
#define AUDIT_FIELDS_INIT                                                                          \
    {                                                                                              \
        NULL, NULL, NULL, -1, -1, -1, -1                                                           \
    }

/* Append one audit JSON line. */
void log_audit(struct log_sink *s, const char *event, const struct audit_fields *f);

/* Flush everything queued (call before blocking, at node ends). */
int log_flush(struct log_sink *s);

/*
 * Flush, then the first write error ever recorded on the item's log or audit
 * file (-errno), or 0: whether everything the item logged reached its files.
 */
int log_item_error(struct log_sink *s);

/* Point the LLM client's reports (struct llm_events) at this sink. */
void log_llm_events(struct log_sink *s, struct llm_events *ev);

/*
 * Cut msg into console-sized pieces: calls fn for each piece (no newline,
 * at most LOG_LINE_MAX bytes, never splitting a UTF-8 sequence). Exposed for
 * tests and for the coordinator's own printing.
 */
void log_split_lines(const char *msg, void (*fn)(const char *piece, size_t len, void *arg),
                     void *arg);

#endif
