/*
 * summary.h - the end of a run: the console summary (counts, then one line
 * per item) and summary.json in the run folder, both read from the progress
 * table, which holds every item's final state.
 */
#ifndef AGENTOS_RUNTIME_SUMMARY_H
#define AGENTOS_RUNTIME_SUMMARY_H

#include "runtime/console.h"
#include "runtime/run.h"

struct summary_counts {
    unsigned approved, needs_revision, failed, interrupted, not_started;
    unsigned passed, skipped; /* workstream steps */
};

/* Count outcomes from the progress table. */
void summary_count(const struct run_ctx *rc, struct summary_counts *out);

/* Print the summary to the console. elapsed_ns is the run's wall time. */
void summary_print(const struct run_ctx *rc, struct coord_console *con, int64_t elapsed_ns);

/*
 * Key request slots still reserved (sum of in_use over the key slots). After
 * every worker has exited this must be 0: the run's own check that no death
 * left a key reserved.
 */
unsigned summary_keys_reserved(const struct run_ctx *rc);

/* Write <run_dir>/summary.json atomically. 0 or -errno. */
int summary_write_json(const struct run_ctx *rc, int64_t elapsed_ns, int exit_status);

/* Outcome word of a final progress state: "approved", "needs-revision", "failed", ... */
const char *summary_outcome(uint32_t state);

#endif
