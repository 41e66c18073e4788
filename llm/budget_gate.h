/*
 * budget_gate.h - one worker's door to the shared key budget (SPEC 13,
 * `--budget redis://...`): between the local reservation of a key (shm/cred.c)
 * and the request, and again when the reservation ends.
 *
 * The protocol (docs/cluster.md has the whole picture, ADR-16 who holds what):
 *   - The local slot decides first: a key is asked of Redis only when this
 *     run's own view says it is ready (not reserved, not rate-limited, its
 *     local bucket has a token, its breaker lets it go). So Redis sees about
 *     one take per request, not one per waiting worker.
 *   - budget_gate_take() then asks Redis (one EVALSHA). OK: the request goes,
 *     holding a lease. WAIT: nothing was taken; the caller ends the local
 *     reservation as CRED_DEFERRED (another run holds the pace or the leases:
 *     the key rests locally until Redis's admit time, plus a little jitter)
 *     or CRED_SHARED_LIMIT (a 429 another run got: the key shows as
 *     rate-limited here too). DISABLED: another run's 401 disabled the key;
 *     the caller ends the reservation as CRED_DISABLE.
 *   - budget_gate_end() is called from the one place a reservation ends
 *     (llm_end, before cred_end): the lease goes back with the outcome (a
 *     429's deadline, a disabled key), so every other run sees it on its
 *     next take. A reservation without a lease (deferred, or admitted while
 *     Redis was lost) gives nothing.
 *   - Redis lost (a call answers -ENOTCONN / -ETIMEDOUT, or any error that
 *     leaves the answer unknown): the run's budget mode moves to LOCAL in the
 *     segment (the coordinator says so on the console and probes for Redis's
 *     return), and until it is SHARED again each key is paced at 1/n_live of
 *     its rpm and concurrency, n_live being the coordinators live at the last
 *     heartbeat. A lease taken before the loss expires by its time-to-live.
 *   - The worker's lease is also written to its slot of the segment's budget
 *     region, so the coordinator gives it back if the worker dies holding it.
 *
 * One gate per worker process (the hiredis handle is not shared across fork):
 * opened lazily on the first take. Not thread-safe. Nothing here sleeps.
 */
#ifndef AGENTOS_LLM_BUDGET_GATE_H
#define AGENTOS_LLM_BUDGET_GATE_H

#include <stdint.h>

#include "llm/budget_redis.h"
#include "llm/credfile.h"
#include "shm/cred.h"
#include "shm/segment.h"

#define BUDGET_POOL "default"       /* the key names' namespace: teams apart use another DB */
#define BUDGET_LEASE_MARGIN_MS 5000 /* a short lease outlives the longest request by this */
#define BUDGET_LEASE_SHORT_MS 30000 /* longest lease: the coordinator renews it while it runs */

/*
 * A lease's time-to-live for requests limited to timeout_s: the request's
 * limit plus BUDGET_LEASE_MARGIN_MS, at most BUDGET_LEASE_SHORT_MS (a
 * longer request has its lease renewed by the coordinator every third of it).
 * A host that dies gives its keys back within this.
 */
static inline uint32_t budget_lease_ttl_ms(long timeout_s)
{
    uint64_t ms = (uint64_t)(timeout_s > 0 ? timeout_s : 1) * 1000u + BUDGET_LEASE_MARGIN_MS;
    return ms > BUDGET_LEASE_SHORT_MS ? BUDGET_LEASE_SHORT_MS : (uint32_t)ms;
}

struct budget_gate;

/* What budget_gate_take decided. */
enum budget_gate_verdict {
    BUDGET_GATE_GO = 0,    /* send the request (a lease is held, or the local share admitted it) */
    BUDGET_GATE_DEFER = 1, /* end the reservation CRED_DEFERRED, until w->retry_at_ns */
    BUDGET_GATE_SHARED_LIMIT = 2, /* end it CRED_SHARED_LIMIT, until w->retry_at_ns */
    BUDGET_GATE_DISABLED = 3,     /* end it CRED_DISABLE with w->reason */
};

struct budget_gate_wait {
    int64_t retry_at_ns; /* the caller's clock (DEFER, SHARED_LIMIT) */
    char reason[160];    /* DISABLED: why, no secret */
};

/*
 * A gate for worker slot `worker` of seg (whose budget region names the URL),
 * leases living lease_ttl_ms. Connects on the first take. 0 or -ENOMEM.
 */
int budget_gate_new(struct shm_segment *seg, unsigned worker, uint32_t lease_ttl_ms,
                    struct budget_gate **out);

/* Close the connection and free g (NULL is fine). A lease still held expires by its TTL. */
void budget_gate_free(struct budget_gate *g);

/*
 * The local slot reserved key idx (credential cr) at now_ns (the caller's
 * CLOCK_MONOTONIC): may the request go? See the protocol above. Never fails:
 * a Redis that does not answer moves the run to its local share, which
 * decides instead.
 */
enum budget_gate_verdict budget_gate_take(struct budget_gate *g, uint32_t idx,
                                          const struct credential *cr, int64_t now_ns, int64_t est,
                                          struct budget_gate_wait *w);

/*
 * The reservation of key idx ends with e at now_ns (same clock as
 * e->retry_at_ns): give its lease back with the outcome, if it holds one.
 */
void budget_gate_end(struct budget_gate *g, uint32_t idx, const struct credential *cr,
                     const struct cred_end *e, int64_t now_ns);

/* A key's configuration as the shared budget needs it (no secret). */
void budget_gate_conf(const struct credential *cr, uint32_t lease_ttl_ms,
                      struct budget_key_conf *conf);

/* Add handle b's round trips since *last to the run's counters in seg; *last becomes now's. */
void budget_gate_account(struct shm_segment *seg, const struct budget_redis *b,
                         struct budget_stats *last);

/* The mode moves SHARED -> LOCAL (Redis lost). 1 if this call moved it. */
int budget_gate_lost(struct shm_segment *seg);

#endif
