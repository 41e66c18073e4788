/*
 * deps.h - dependencies between the items of a run.
 *
 * Any workflow's items may depend on others (struct item deps). At plan time
 * the runtime orders the items by wave (an item's wave is 0 without
 * dependencies, else one more than its dependencies' largest) and cascades
 * "pending": an item that depends on a pending item is pending too.
 *
 * At run time the graph is enforced through the progress slots' claim words,
 * the same CAS word workers take items with, so workers stay simple and a
 * worker's death at any instant cannot break the graph. The protocol:
 *   - an item starts BLOCKED when an item it depends on runs in this run
 *     (one that is up to date and not run counts as succeeded);
 *   - workers only ever take FREE slots;
 *   - each tick the coordinator, the only writer of BLOCKED slots, moves a
 *     blocked item to FREE when all its dependencies succeeded (approved or
 *     passed), or to DONE with state skipped and the reason when one failed
 *     or was skipped; a skip cascades through the graph in the same tick;
 *   - an item stopped from outside (state interrupted, about to be retried)
 *     keeps its dependents blocked;
 *   - an item with `after` (a sequential group's order) also stays blocked
 *     until that item has ended, whatever its outcome.
 * Nothing here blocks or takes a lock.
 */
#ifndef AGENTOS_RUNTIME_DEPS_H
#define AGENTOS_RUNTIME_DEPS_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/console.h"
#include "runtime/items.h"

struct run_ctx;

/*
 * Set each item's wave and return, in *order (malloc'd, items->n entries), the
 * item indexes by wave, list order within a wave: a counting sort, linear even
 * for a 10,000-item chain. *nwaves gets 1 + the largest wave. 0, -ELOOP when
 * the dependencies have a cycle (a workflow's loader should have refused it
 * with a better message), -EINVAL for a dependency index out of range, -ENOMEM.
 */
int deps_order(struct item_list *items, size_t **order, unsigned *nwaves);

/* An item that depends on a pending item is pending. order from deps_order. */
void deps_cascade_pending(struct item_list *items, const size_t *order);

/* Where an item stands with its dependencies (deps_gate). */
enum deps_gate {
    DEPS_WAIT = 0,  /* some are still to finish */
    DEPS_READY = 1, /* all succeeded */
    DEPS_NEVER = 2, /* one failed or was skipped: the item can never run */
};

/*
 * Look up the state of the item in progress slot `slot`: 1 and *state (a
 * PROG_* value) when it has ended (claim DONE), 0 while it has not.
 */
typedef int (*deps_state_fn)(void *arg, long slot, uint32_t *state);

/*
 * The gate of item `it`: slot_of maps item indexes to progress slots (-1 = not
 * run, up to date). On DEPS_NEVER *bad is the index of the dependency that
 * did not succeed and *bad_state its PROG_* state. Pure: the states come from
 * state_of.
 */
enum deps_gate deps_gate(const struct item *it, const long *slot_of, deps_state_fn state_of,
                         void *arg, size_t *bad, uint32_t *bad_state);

/* After the slots are written: BLOCKED for every item waiting for another of this run. */
void deps_init_claims(struct run_ctx *rc);

/* Free the items that may run now; skip those that never can (one console line each). */
void deps_release(struct run_ctx *rc, struct coord_console *con);

/*
 * --fail-fast: every item not started yet (free or blocked) ends as skipped
 * with reason `why`. Returns how many.
 */
unsigned deps_skip_unstarted(struct run_ctx *rc, const char *why);

#endif
