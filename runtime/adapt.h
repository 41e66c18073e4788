/*
 * adapt.h - the adaptive width per provider endpoint (SPEC 12): how the
 * limiter (runtime/limiter.h) is fed from the segment and how its decisions
 * reach the workers.
 *
 *   - a worker counts every request that reached an endpoint (a success with
 *     its latency, or an error: 429, 5xx, timeout, connect error) into its own
 *     cumulative counts of that endpoint (struct lwin_sh: one writer, no
 *     read-modify-write across processes; adapt_sample);
 *   - the coordinator, every policy.window_s seconds, sums the counts of
 *     every worker slot, takes the difference with what it saw at the last
 *     window (so a window is never reset under a worker's feet), feeds the
 *     window to the endpoint's limiter, and writes a new limit into the
 *     endpoint's gate (shm/gate.h), where workers find it when they take a
 *     place for their next request (adapt_tick). A window whose errors alone
 *     already decide it (min_samples requests, more than error_share_high of
 *     them errors: a server answering 503 or 429) closes at the next tick
 *     instead: trouble is acted on at once, growth takes a whole window. An
 *     endpoint's first window measures the run's ramp-up, not the server: it
 *     counts only when its errors decide it;
 *   - every closed window and every change is published in the gate's status
 *     for agentos-shmstat; every change is handed to the caller (console line,
 *     coordinator audit).
 * A lowered limit is reached as requests end: nothing in flight is cut.
 */
#ifndef AGENTOS_RUNTIME_ADAPT_H
#define AGENTOS_RUNTIME_ADAPT_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/limiter.h"
#include "shm/segment.h"

struct adapt {
    int on;
    struct shm_segment *seg;
    uint32_t nend, nworkers;
    struct limiter *lim;         /* per endpoint */
    struct limiter_window *seen; /* per worker slot x endpoint: counts taken so far */
    uint32_t *windows;           /* per endpoint: windows closed */
    int64_t *window_start_ns;    /* per endpoint: when its open window began */
    int64_t window_ns;
};

/* One change of an endpoint's limit, for the caller's console line and audit. */
struct adapt_change {
    uint32_t endpoint;
    const char *url;
    struct limiter_change ch;
    uint32_t finished, errors, median_ms;
};

/*
 * Set up one limiter per endpoint of seg, each starting at half `width`
 * requests at a time (rounded up), never above it, with policy p (NULL: the default). on 0 makes
 * every call a no-op (the gates keep no limit). now_ns opens the first window. 0, -EINVAL (bad
 * policy), -ENOMEM.
 */
int adapt_init(struct adapt *a, struct shm_segment *seg, const struct limiter_policy *p,
               uint32_t width, int on, int64_t now_ns);

/*
 * Coordinator, each tick: when the window is due, close it for every endpoint,
 * decide, write the limits and statuses into the gates, and call report for
 * each change. Returns how many limits changed.
 */
int adapt_tick(struct adapt *a, int64_t now_ns,
               void (*report)(void *arg, const struct adapt_change *c), void *arg);

void adapt_free(struct adapt *a);

/*
 * Worker in slot `worker`: one request to endpoint e ended (latency_ms; an
 * error or not). Only this worker writes its slot's counts.
 */
void adapt_sample(const struct shm_segment *seg, uint32_t worker, uint32_t e, uint32_t latency_ms,
                  int is_error);

/* "127.0.0.1:8080" out of "http://127.0.0.1:8080/v1" (scheme and path dropped). */
void adapt_endpoint_name(const char *url, char *out, size_t outlen);

#endif
