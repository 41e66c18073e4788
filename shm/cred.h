/*
 * cred.h - credential slots: reservation of API keys shared by all workers.
 *
 * Every slot is guarded by its own process-shared robust mutex. The protocol:
 *   - A worker reserves one request slot of a key (cred_reserve), sends one
 *     request, and always releases it (cred_release) with the outcome, whatever
 *     happened. A 429 releases with a rate-limit time; 401/403 disables.
 *   - A key is never handed out while disabled, rate-limited or resting (until
 *     its time) or with in_use == concurrency; with a pace (rpm, else the
 *     learned_rpm its provider announced) it also needs a token in its bucket
 *     (refilled at rpm/60 per second, capacity max(1, rpm/60 .. see .c));
 *     with a token budget (tpm, else learned_tpm) its second bucket must hold
 *     the request's estimate; and its endpoint's circuit breaker (breaker.h)
 *     must let the request go.
 *   - Each reservation records the holder's pid in holders[]. If a holder dies
 *     while holding the mutex, the next locker gets EOWNERDEAD and repairs the
 *     slot: holders whose pid is gone are dropped, in_use recomputed, state
 *     recomputed, then pthread_mutex_consistent(). The coordinator calls
 *     cred_release_dead() after reaping a worker so its keys come back even if
 *     it died outside the mutex.
 *   - Every locked change is republished at unlock through the slot's seqlock
 *     (pub_seq/pub), so readers that must never wait on a worker (the
 *     coordinator's view of the pool, agentos-shmstat) read cred_view
 *     lock-free; the coordinator locks a slot only with a bounded wait
 *     (cred_lock_within), since a worker stopped (SIGSTOP, a debugger) while
 *     holding it is alive and its mutex will not come back by itself.
 *   - A reservation ends in exactly one call, cred_end, on every way out of a
 *     request: the key's request slot comes back with the outcome, the
 *     endpoint's breaker hears how it went, and the place the reservation took
 *     at the endpoint's gate (below) is given back.
 *   - A reservation may be asked for on behalf of a worker slot (cred_ask):
 *     then only the keys of the caller's key mask are considered (the run
 *     file's `keys` of a node), and the key's endpoint gate (shm/gate.h: the
 *     adaptive limit of requests in flight to it) must have a place, which is
 *     taken under the slot mutex together with the reservation, after every
 *     other check and before the breaker's probe is claimed. A key whose
 *     endpoint gate is full is not eligible now; it still counts among the
 *     ready slots (the gate is the endpoint's, not the key's quota).
 *   - Never fork while holding a slot mutex.
 */
#ifndef AGENTOS_SHM_CRED_H
#define AGENTOS_SHM_CRED_H

#include <stdint.h>

#include "shm/breaker.h"
#include "shm/segment.h"

/* What a key is loaded with (no secret). */
struct cred_init {
    const char *id;
    const char *provider;
    const char *model;
    uint32_t roles;       /* CRED_ROLE_* bits; 0 means both */
    uint32_t concurrency; /* 0 means 1; capped to SHM_KEY_HOLDERS_MAX */
    uint32_t rpm;         /* 0 = unpaced */
    uint32_t tpm;         /* tokens per minute, 0 = no budget */
    uint32_t endpoint;    /* index of the key's endpoint slot (circuit breaker) */
};

/*
 * Initialise only the slot's mutex (PROCESS_SHARED, ROBUST). The segment does
 * this for every key slot at creation, so a slot nobody configured (roles 0,
 * concurrency 0) can still be locked and is never handed out. 0 or -errno.
 */
int cred_mutex_init(struct cred_slot_sh *slot);

/*
 * Initialise slot i (mutex attributes: PROCESS_SHARED, ROBUST) with ci: all
 * counters zero, state available, token bucket full. Re-initialises the
 * mutex, so call it before any other process uses the slot. 0 or -errno.
 */
int cred_slot_init(struct cred_slot_sh *slot, const struct cred_init *ci);

/*
 * Reload slot i's configuration in place (SIGHUP / edited credentials file):
 * keeps counters and current reservations, clears `disabled` and rate limits.
 * Waits at most wait_ns for the slot's mutex (a worker stopped while holding
 * it must not hold the coordinator up): -ETIMEDOUT then, and nothing changed.
 */
int cred_slot_reload(struct cred_slot_sh *slot, const struct cred_init *ci, int64_t wait_ns);

/* Result of a failed reservation attempt. */
struct cred_wait {
    int64_t retry_at_ns;  /* CLOCK_MONOTONIC when a key may next be usable; 0 = unknown */
    uint32_t usable_keys; /* keys of this role not disabled */
    uint32_t ready_slots; /* request slots of keys that can serve now (not rate-limited) */
};

/*
 * Reserve one request slot on a key that has `role` (CRED_ROLE_*) for pid.
 * Chooses the eligible key with the fewest reservations, then the fewest
 * requests (fair spread). now_ns is CLOCK_MONOTONIC. Keys whose endpoint's
 * breaker is open are skipped (w->retry_at_ns then says when it may close);
 * on a half-open endpoint the reservation makes pid the breaker's probe.
 * Returns the key index (>= 0); -EAGAIN when none is eligible now (w filled:
 * when to try again); -ENOKEY when every key of the role is disabled (or there
 * is none): the pool is exhausted until reloaded.
 */
int cred_reserve(struct shm_segment *seg, uint32_t role, int32_t pid, int64_t now_ns,
                 struct cred_wait *w);

/* Who asks for a reservation, and under which limits (cred_reserve_ask). */
struct cred_ask {
    uint32_t role;            /* CRED_ROLE_* bits; 0 = any */
    int32_t pid;              /* the holder */
    const uint64_t *key_mask; /* SHM_MAX_KEYS / 64 words, bit i: key i may serve; NULL = any */
    uint32_t gate_worker;     /* 1 + the worker slot that takes a place at the key's endpoint
                                 gate with the reservation; 0 = no gate */
    int64_t tokens;           /* the request's estimated LLM tokens: a key with a token budget
                                 is eligible only when its bucket holds them (or is full, for a
                                 request larger than a minute's budget), and is charged them;
                                 cred_end corrects the charge by the reply's usage */
};

/*
 * cred_reserve with a key mask and the endpoint gate (see the protocol
 * above). usable_keys and ready_slots in w count only the keys of the mask.
 * Same returns: the key index, -EAGAIN (an endpoint gate full counts as a
 * key busy: retry_at_ns is a short poll), -ENOKEY.
 */
int cred_reserve_ask(struct shm_segment *seg, const struct cred_ask *ask, int64_t now_ns,
                     struct cred_wait *w);

/* How a request ended, for cred_release. */
enum cred_outcome {
    CRED_OK = 0,         /* a reply came back (any non-429, non-auth status) */
    CRED_FAILED = 1,     /* transport error, 5xx: counted as an error */
    CRED_RATE_LIMIT = 2, /* 429: limited until retry_at_ns */
    CRED_DISABLE = 3,    /* 401/403/daily quota: disabled with reason */
    CRED_ABANDONED = 4,  /* not sent or abandoned (shutdown): no count */
    /* Not sent because the shared budget (--budget, Redis) said wait: the local
     * token and request count come back, and the key is not handed out before
     * retry_at_ns. DEFERRED: another run holds the pace or the leases;
     * SHARED_LIMIT: a 429 another run got rate-limits the key (shown as
     * rate_limited, not counted as a 429 of this run). */
    CRED_DEFERRED = 5,
    CRED_SHARED_LIMIT = 6,
};

/*
 * Release pid's reservation of key `index`. For CRED_RATE_LIMIT, retry_at_ns is
 * the CLOCK_MONOTONIC time before which the key gets no request; for
 * CRED_DISABLE, reason says why. latency_ms is added to the key's sum.
 * Returns 0, or -ENOENT if pid held no reservation on that key.
 */
int cred_release(struct shm_segment *seg, uint32_t index, int32_t pid, enum cred_outcome outcome,
                 int64_t retry_at_ns, const char *reason, uint32_t latency_ms);

/* How a request went, for cred_end: the key's outcome and the endpoint's. */
struct cred_end {
    enum cred_outcome outcome;
    enum breaker_outcome endpoint; /* for the key's endpoint's circuit breaker */
    int64_t retry_at_ns;           /* CRED_RATE_LIMIT: no request before (CLOCK_MONOTONIC) */
    const char *reason;            /* CRED_DISABLE: why */
    uint32_t latency_ms;
    int64_t now_ns; /* CLOCK_MONOTONIC (the caller's clock) of the end; 0: read it now */
    /* what the reply's rate-limit headers said (0 = nothing) */
    int64_t rest_until_ns; /* nothing left: no request before (CLOCK_MONOTONIC); no 429 counted */
    uint32_t learned_rpm;  /* announced requests-per-minute limit (kept when rpm is 0) */
    uint32_t learned_tpm;  /* announced tokens-per-minute limit (kept when tpm is 0) */
    /* token accounting */
    int64_t tokens_charged; /* the estimate the reservation charged (cred_ask.tokens) */
    int64_t tokens_used;    /* what the request really cost; < 0 = keep the charge */
    int64_t input_tokens;   /* usage the reply reported (added to the key's counters) */
    int64_t output_tokens;
    uint32_t gate_worker; /* as in cred_ask: 1 + the worker slot whose endpoint place ends too */
};

/* What cred_end did to the endpoint (for the console line when its breaker opened). */
struct cred_end_report {
    uint32_t endpoint;
    int breaker_opened;  /* this request's end cut the endpoint off */
    int64_t cooldown_ns; /* for how long */
    uint32_t in_a_row;   /* after how many failures in a row */
};

/*
 * The one way a reservation ends: release pid's reservation of key `index`
 * with the request's outcome (cred_release), tell the key's endpoint
 * breaker how the request went (breaker_report) and give back the endpoint
 * gate's place (e->gate_worker), whatever happened, on every way out of a
 * request. 0, or -ENOENT if pid held no reservation on the key
 * (the breaker still hears of it).
 */
int cred_end(struct shm_segment *seg, uint32_t index, int32_t pid, const struct cred_end *e,
             struct cred_end_report *out);

/*
 * Drop every reservation held by a dead pid (coordinator, after waitpid), and
 * hand on any circuit-breaker probe it held. Only slots whose published view
 * names the pid are locked, each for at most wait_ns. *dropped gets how many
 * reservations were dropped. 0, or -ETIMEDOUT when a slot could not be locked
 * in time (a stopped worker holds it): call again later; the call is
 * idempotent.
 */
int cred_release_dead(struct shm_segment *seg, int32_t pid, int64_t wait_ns, int *dropped);

/*
 * Copy key slot's state as last published (at the end of every locked change)
 * into out, without taking its lock: for the coordinator and the inspector,
 * which must never wait on a worker. 0 or -EAGAIN (raced every retry).
 */
int cred_view(const struct cred_slot_sh *slot, struct cred_pub *out);

/* Name of a cred_state ("available", "reserved", "rate_limited", "disabled"). */
const char *cred_state_name(uint32_t state);

/*
 * Lock a slot's robust mutex, repairing it on EOWNERDEAD. 0 or -errno.
 * Workers only: the coordinator uses cred_lock_within, or cred_view.
 */
int cred_lock(struct cred_slot_sh *slot);

/* The same, waiting at most wait_ns: -ETIMEDOUT when the mutex stayed held. */
int cred_lock_within(struct cred_slot_sh *slot, int64_t wait_ns);

/* Publish the slot's state for lock-free readers (cred_view), then unlock. */
void cred_unlock(struct cred_slot_sh *slot);

#endif
