/*
 * summary.h - the end of a run: the console summary (counts, speed-up, then
 * the items) and summary.json in the run folder, both made from the progress
 * table, which holds every item's final state.
 *
 * The rendering is pure (summary_render, summary_json over an array of
 * progress records) so it is unit-tested without a segment; summary_print and
 * summary_write_json read the run's segment and hand it over.
 */
#ifndef AGENTOS_RUNTIME_SUMMARY_H
#define AGENTOS_RUNTIME_SUMMARY_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "runtime/console.h"
#include "runtime/run.h"
#include "shm/prog.h"

/* Past this many items the console lists only the items that did not succeed. */
#define SUMMARY_LIST_MAX 50

/* One key's counters at the end of the run, and its price (the credentials file's). */
struct summary_key {
    char id[SHM_KEY_ID_MAX];
    uint64_t requests, http_429, input_tokens, output_tokens, rests;
    double price_input, price_output; /* per million tokens; < 0 = no price */
};

/* What a summary is made from. */
struct summary_view {
    const struct wf_desc *wf;
    const struct prog_item *items; /* final progress records, in slot order */
    uint32_t n;
    const struct summary_key *keys; /* every key of the run (may be NULL) */
    uint32_t nkeys;
    int64_t elapsed_ns; /* the run's wall time */
    int parallel;       /* the width the run used */
};

/* What key k's tokens cost at its price; < 0 if it has none. */
double summary_key_cost(const struct summary_key *k);

/* 1 if some key of the run has a price: the summary then shows costs. */
int summary_priced(const struct summary_view *v);

/* Outcome counts, indexed by PROG_* state (running and waiting count as interrupted). */
void summary_count(const struct summary_view *v, unsigned counts[PROG_STATE_COUNT]);

/* Seconds an item ran (0 if it never started). */
double summary_item_seconds(const struct prog_item *p);

/*
 * The console summary as lines (without the "[COORDINATOR] " prefix), each
 * handed to emit: the counts, the speed-up, then one line per item (past
 * SUMMARY_LIST_MAX items only those that failed, need revision, were skipped
 * or interrupted, and a pointer to summary.json for the rest).
 */
void summary_render(const struct summary_view *v, const char *json_path,
                    void (*emit)(void *arg, const char *line), void *arg);

/* summary.json's document (run and exit status are added by the caller). NULL if out of memory. */
cJSON *summary_json(const struct summary_view *v);

/*
 * Read the run's progress table and key slots into a malloc'd view: one
 * block at v->items, which also holds v->keys (free v->items only).
 * 0 or -ENOMEM.
 */
int summary_view_of(const struct run_ctx *rc, int64_t elapsed_ns, struct summary_view *v);

/* Print the summary to the console. */
void summary_print(const struct summary_view *v, const struct run_ctx *rc,
                   struct coord_console *con);

/*
 * Key request slots still reserved (sum of in_use over the key slots, read
 * lock-free). After every worker has exited this must be 0: the run's own
 * check that no death left a key reserved.
 */
unsigned summary_keys_reserved(const struct run_ctx *rc);

/* Write <run_dir>/summary.json atomically. 0 or -errno. */
int summary_write_json(const struct summary_view *v, const struct run_ctx *rc, int exit_status);

#endif
