/*
 * steps.h - the coordinator's side of a workstream run: the dependency
 * graph decides when a step may be taken.
 *
 * A step is an item whose progress slot starts BLOCKED when a step it
 * depends on runs in this run (steps already passed and up to date count as
 * passed). Workers only take FREE slots, so the graph is enforced through the
 * same claim word as everything else: each tick the coordinator frees the
 * blocked steps whose dependencies all passed, and marks done (skipped, with
 * the reason) those with a dependency that failed or was skipped; a skip
 * cascades through the graph in the same tick. Nothing here blocks or takes
 * a lock.
 */
#ifndef AGENTOS_RUNTIME_STEPS_H
#define AGENTOS_RUNTIME_STEPS_H

#include "runtime/console.h"
#include "runtime/run.h"

/* After the slots are written: BLOCKED for every step waiting for another of this run. */
void steps_init_claims(struct run_ctx *rc);

/* Free the steps that may run now; skip those that never can. */
void steps_release(struct run_ctx *rc, struct coord_console *con);

/*
 * --fail-fast: every step not started yet (free or blocked) ends as skipped
 * with reason `why`. Returns how many.
 */
unsigned steps_skip_unstarted(struct run_ctx *rc, const char *why);

#endif
