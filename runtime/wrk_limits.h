/*
 * wrk_limits.h - private to the worker (worker.c, worker_item.c): the run's
 * limits as a worker meets them (SPEC 8 and 12), all through the segment's
 * gates (shm/gate.h) and the header's start pacing, never by a worker alone:
 *   - which item to take: the first free one whose group (a workstream's
 *     step group) has a place, and only once the run's least time between two
 *     item starts (rate_limit_delay) has passed;
 *   - a place in a node's gate (the run file's max_concurrent) before the
 *     node runs, given back when it ends;
 *   - the deadline of an item's group, which bounds its nodes.
 * Every wait polls, checks the stop flag and the run state, and is not the
 * item's time: it happens before the item starts or before a node's clock.
 */
#ifndef AGENTOS_RUNTIME_WRK_LIMITS_H
#define AGENTOS_RUNTIME_WRK_LIMITS_H

#include <signal.h>
#include <stdint.h>

#include "runtime/run.h"

/*
 * Take the next item for worker slot `worker` (pid): its progress slot index,
 * with its group's place held; -1 when no item is left to take (the worker
 * may exit) or the run is stopping.
 */
int wlim_claim(struct run_ctx *rc, unsigned worker, int32_t pid, volatile sig_atomic_t *stop);

/*
 * Wait for the run's next start slot (rate_limit_delay: the header's
 * start_gap_ns); a retry of an item takes one too. 0, or -ECANCELED.
 */
int wlim_pace(struct run_ctx *rc, volatile sig_atomic_t *stop);

/* Give back the group place that wlim_claim took for item idx. */
void wlim_release_item(struct run_ctx *rc, unsigned worker, int idx);

/*
 * Wait for a place in node `node`'s gate. 0 when taken; -ECANCELED when the
 * run is stopping. *waited_ns gets the time spent waiting.
 */
int wlim_node_enter(struct run_ctx *rc, unsigned worker, int node, volatile sig_atomic_t *stop,
                    int64_t *waited_ns);

/* Give the node's place back. */
void wlim_node_leave(struct run_ctx *rc, unsigned worker, int node);

/*
 * The deadline of item idx's group (CLOCK_MONOTONIC; 0 = none) and, when it
 * has one, its name and timeout for messages.
 */
int64_t wlim_deadline(const struct run_ctx *rc, int idx, const char **group, long *timeout_s);

#endif
