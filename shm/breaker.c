/*
 * breaker.c - the per-endpoint circuit breaker (see breaker.h), lock-free.
 *
 * The protocol over the atomics of struct endpoint_sh:
 *
 *   closed --(THRESHOLD failures in a row)--> open --(cool-down over, one
 *   CAS winner)--> half-open --(probe succeeds)--> closed
 *                                 \--(probe fails)--> open, cool-down doubled
 *
 * Invariants:
 *   - open_until_ns is written *before* the CAS that enters `open`, so a
 *     reader that sees `open` (acquire) also sees the deadline of that
 *     opening, never the stale one of an earlier opening;
 *   - in half-open the probe is taken by CAS of probe_pid from 0 (or from a
 *     dead pid) to the asker's pid, so exactly one request goes out per
 *     cool-down. The worker that switches open -> half-open takes it the same
 *     way, as a second step: half-open with probe_pid 0 simply means "probe
 *     free", so a worker killed between the switch and the take strands
 *     nothing (the next asker probes). No single point of death leaves the
 *     breaker stuck: a probe_pid of a dead process is taken over by the next
 *     asker (kill(pid, 0) says ESRCH) or handed on by the coordinator;
 *   - consecutive_failures counts failures while closed and the probe's own
 *     failures; failures of requests that were already in flight when the
 *     breaker opened are counted in `failures` only, so the cool-down doubles
 *     per failed probe and not per straggler. After a trip it is set to
 *     THRESHOLD, so the k-th failed probe in a row waits 5 s << k (cap 60 s);
 *   - any success closes the breaker (the endpoint answered) and resets it.
 *
 * A dead probe (worker killed mid-request) is replaced by the next asker
 * (CAS of probe_pid from the dead pid to its own), and the coordinator hands
 * it on after reaping (breaker_release_dead).
 */
#include "shm/breaker.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>

#define BREAKER_ROUNDS 4 /* state changes under us are rare; bound the retries */

static struct endpoint_sh *breaker_slot(const struct shm_segment *seg, uint32_t ep)
{
    if (!seg || !seg->hdr || ep >= seg->hdr->endpoint_count)
        return NULL;
    return shm_endpoint_slot(seg, ep);
}

static int breaker_pid_gone(int32_t pid)
{
    return pid > 0 && kill(pid, 0) < 0 && errno == ESRCH;
}

const char *breaker_state_name(uint32_t state)
{
    switch (state) {
    case BREAKER_CLOSED:
        return "closed";
    case BREAKER_OPEN:
        return "open";
    case BREAKER_HALF_OPEN:
        return "half-open";
    default:
        return "unknown";
    }
}

/* Cool-down after the k-th opening in a row (k >= 0): 5 s << k, at most 60 s. */
static int64_t breaker_cooldown(uint32_t k)
{
    int64_t ns = BREAKER_COOLDOWN_NS;

    while (k-- > 0 && ns < BREAKER_COOLDOWN_MAX_NS)
        ns *= 2;
    return ns > BREAKER_COOLDOWN_MAX_NS ? BREAKER_COOLDOWN_MAX_NS : ns;
}

static void breaker_set_retry(int64_t *retry_at_ns, int64_t at)
{
    if (retry_at_ns)
        *retry_at_ns = at;
}

/*
 * Half-open: may pid send? When claim is set, takes the probe if it is free
 * (0) or held by a dead process.
 */
static int breaker_half_open(struct endpoint_sh *e, int32_t pid, int64_t now_ns, int claim,
                             int64_t *retry_at_ns)
{
    int32_t probe = atomic_load(&e->probe_pid);

    if (probe == pid)
        return 1;
    if (probe == 0 || breaker_pid_gone(probe)) {
        if (!claim || atomic_compare_exchange_strong(&e->probe_pid, &probe, pid))
            return 1;
    }
    breaker_set_retry(retry_at_ns, now_ns + BREAKER_HALF_OPEN_POLL_NS);
    return 0;
}

static int breaker_judge(struct endpoint_sh *e, int32_t pid, int64_t now_ns, int claim,
                         int64_t *retry_at_ns)
{
    for (int round = 0; round < BREAKER_ROUNDS; round++) {
        uint32_t s = atomic_load(&e->state);

        if (s == BREAKER_CLOSED)
            return 1;
        if (s == BREAKER_HALF_OPEN)
            return breaker_half_open(e, pid, now_ns, claim, retry_at_ns);
        int64_t until = atomic_load(&e->open_until_ns);
        if (until > now_ns) {
            breaker_set_retry(retry_at_ns, until);
            return 0;
        }
        if (!claim)
            return 1;
        /* win or lose the switch, the probe goes to whoever takes it first */
        if (atomic_compare_exchange_strong(&e->state, &s, BREAKER_HALF_OPEN))
            return breaker_half_open(e, pid, now_ns, claim, retry_at_ns);
        /* someone else moved it: judge the new state */
    }
    breaker_set_retry(retry_at_ns, now_ns + BREAKER_HALF_OPEN_POLL_NS);
    return 0;
}

int breaker_ready(const struct shm_segment *seg, uint32_t ep, int32_t pid, int64_t now_ns,
                  int64_t *retry_at_ns)
{
    struct endpoint_sh *e = breaker_slot(seg, ep);

    return e ? breaker_judge(e, pid, now_ns, 0, retry_at_ns) : 1;
}

int breaker_allow(struct shm_segment *seg, uint32_t ep, int32_t pid, int64_t now_ns,
                  int64_t *retry_at_ns)
{
    struct endpoint_sh *e = breaker_slot(seg, ep);

    if (!e)
        return 1;
    if (!breaker_judge(e, pid, now_ns, 1, retry_at_ns))
        return 0;
    atomic_fetch_add_explicit(&e->requests, 1, memory_order_relaxed);
    return 1;
}

/* Enter `open` from `from` for cooldown; 1 if this call made the change. */
static int breaker_open(struct endpoint_sh *e, uint32_t from, int64_t now_ns, int64_t cooldown)
{
    atomic_store(&e->open_until_ns, now_ns + cooldown);
    if (!atomic_compare_exchange_strong(&e->state, &from, BREAKER_OPEN))
        return 0;
    atomic_store(&e->probe_pid, 0);
    atomic_fetch_add(&e->trips, 1);
    return 1;
}

static int breaker_failure(struct endpoint_sh *e, int32_t pid, int64_t now_ns, int64_t *cooldown,
                           uint32_t *in_a_row)
{
    uint32_t s = atomic_load(&e->state), n;

    atomic_fetch_add_explicit(&e->failures, 1, memory_order_relaxed);
    if (s == BREAKER_CLOSED) {
        n = atomic_fetch_add(&e->consecutive_failures, 1) + 1;
        if (n < BREAKER_THRESHOLD || !breaker_open(e, s, now_ns, breaker_cooldown(0)))
            return 0;
        atomic_store(&e->consecutive_failures, BREAKER_THRESHOLD);
        *cooldown = breaker_cooldown(0);
        *in_a_row = n;
        return 1;
    }
    if (s != BREAKER_HALF_OPEN || atomic_load(&e->probe_pid) != pid)
        return 0; /* a straggler from before the breaker opened */
    n = atomic_fetch_add(&e->consecutive_failures, 1) + 1;
    int64_t cd = breaker_cooldown(n > BREAKER_THRESHOLD ? n - BREAKER_THRESHOLD : 1);
    if (!breaker_open(e, s, now_ns, cd))
        return 0;
    *cooldown = cd;
    *in_a_row = n;
    return 1;
}

/* The probe gives up its turn without a verdict: the next asker probes. */
static void breaker_hand_on(struct endpoint_sh *e, int32_t pid, int64_t now_ns)
{
    uint32_t s = BREAKER_HALF_OPEN;

    if (atomic_load(&e->probe_pid) != pid)
        return;
    atomic_store(&e->open_until_ns, now_ns);
    /* a CAS, not a store: never clear a probe someone else took meanwhile */
    if (atomic_compare_exchange_strong(&e->state, &s, BREAKER_OPEN))
        atomic_compare_exchange_strong(&e->probe_pid, &pid, 0);
}

int breaker_report(struct shm_segment *seg, uint32_t ep, int32_t pid, enum breaker_outcome outcome,
                   int64_t now_ns, int64_t *cooldown_ns, uint32_t *in_a_row)
{
    struct endpoint_sh *e = breaker_slot(seg, ep);
    int64_t cd = 0;
    uint32_t n = 0;
    int opened = 0;

    if (!e)
        return 0;
    switch (outcome) {
    case BREAKER_SUCCESS:
        atomic_store(&e->consecutive_failures, 0);
        if (atomic_load(&e->state) != BREAKER_CLOSED) {
            atomic_store(&e->state, BREAKER_CLOSED);
            atomic_store(&e->probe_pid, 0);
        }
        break;
    case BREAKER_FAILURE:
        opened = breaker_failure(e, pid, now_ns, &cd, &n);
        break;
    case BREAKER_NEUTRAL:
        breaker_hand_on(e, pid, now_ns);
        break;
    }
    if (cooldown_ns)
        *cooldown_ns = cd;
    if (in_a_row)
        *in_a_row = n;
    return opened;
}

int breaker_closed(const struct shm_segment *seg, uint32_t ep)
{
    struct endpoint_sh *e = breaker_slot(seg, ep);

    return !e || atomic_load(&e->state) == BREAKER_CLOSED;
}

int breaker_is_probe(const struct shm_segment *seg, uint32_t ep, int32_t pid)
{
    struct endpoint_sh *e = breaker_slot(seg, ep);

    return e && atomic_load(&e->state) == BREAKER_HALF_OPEN && atomic_load(&e->probe_pid) == pid;
}

int breaker_release_dead(struct shm_segment *seg, int32_t pid)
{
    int n = 0;

    if (!seg || !seg->hdr || pid <= 0)
        return 0;
    for (uint32_t i = 0; i < seg->hdr->endpoint_count; i++) {
        struct endpoint_sh *e = shm_endpoint_slot(seg, i);

        if (atomic_load(&e->state) == BREAKER_HALF_OPEN && atomic_load(&e->probe_pid) == pid) {
            breaker_hand_on(e, pid, 0);
            n++;
        }
    }
    return n;
}
