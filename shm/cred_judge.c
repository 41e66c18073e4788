/*
 * cred_judge.c - judging one key slot for one asker (shm/cred.c's two passes
 * call it: the lock-free scan on a private copy of the published slot, the
 * take under the slot's mutex). A key is eligible only when it has the role,
 * is in no rate limit or rest, has a free request slot, a token in its rpm
 * bucket and the request's estimate in its tpm bucket, and its endpoint's
 * breaker and gate let the request go; when it is not, the judgement says
 * when it may be.
 */
#include "shm/cred.h"

#include <string.h>

#include "shm/breaker.h"
#include "shm/cred_private.h"
#include "shm/gate.h"

/* The part of a request's estimate the budget bucket must hold (all of it, or a full bucket). */
static double cred_tpm_need(const struct cred_slot_sh *slot, int64_t tokens)
{
    double cap = cred_tpm(slot);
    return tokens > cap ? cap : (double)(tokens > 0 ? tokens : 0);
}

/* The key's endpoint gate, when the asker takes places at it. */
struct gate_sh *cred_gate(const struct shm_segment *seg, const struct cred_slot_sh *slot,
                          const struct cred_ask *a)
{
    return a->gate_worker ? gate_endpoint(seg, slot->st.endpoint) : NULL;
}

/* 1 if the asker would find the key's endpoint gate full (a look, nothing taken). */
static int cred_gate_full(const struct shm_segment *seg, const struct cred_slot_sh *slot,
                          const struct cred_ask *a, int64_t now_ns)
{
    struct gate_sh *g = cred_gate(seg, slot, a);
    uint32_t limit, bit;
    if (!g)
        return 0;
    (void)now_ns; /* endpoint gates have no deadline */
    limit = atomic_load(&g->limit);
    bit = 1u << (a->gate_worker - 1);
    return limit && !(atomic_load(&g->mask) & bit) && gate_held(g) >= limit;
}

/*
 * Judge the slot; ends an expired rate limit and refills the bucket. A key
 * whose endpoint's circuit breaker is open is not eligible (and tells when it
 * may be); it still counts among the ready slots, since the breaker is a
 * property of the endpoint, not of the key's quota.
 */
void cred_judge_locked(const struct shm_segment *seg, struct cred_slot_sh *slot,
                       const struct cred_ask *a, int64_t now_ns, struct cred_judge *v)
{
    int limited, busy, no_token = 0, cut_off, gated;
    uint32_t rpm = cred_rpm(slot), tpm = cred_tpm(slot);
    int64_t est = a->tokens;
    int64_t breaker_at = 0;
    uint32_t mask = a->role ? a->role : CRED_ROLE_ALL;
    int32_t pid = a->pid;

    memset(v, 0, sizeof(*v));
    if (!(slot->st.roles & mask) || slot->st.state == CRED_DISABLED)
        return;
    v->of_role = 1;
    limited = slot->st.rate_limited_until_ns > now_ns;
    if (!limited && slot->st.state == CRED_RATE_LIMITED) {
        slot->st.state = CRED_AVAILABLE;
        slot->st.rate_limited_until_ns = 0;
        slot->st.rate_limited_until_realtime_ns = 0;
        cred_settle_locked(slot);
    }
    cred_refill_locked(slot, now_ns);
    busy = slot->st.in_use >= slot->st.concurrency;
    v->ready_at = limited ? slot->st.rate_limited_until_ns : now_ns;
    if (rpm > 0 && slot->st.tokens < 1.0) {
        double wait_s = (1.0 - slot->st.tokens) * 60.0 / rpm;

        no_token = 1;
        /* Round up (+1 ns) so the retry never lands just short of a token. */
        v->ready_at = cred_max64(v->ready_at, now_ns + (int64_t)(wait_s * 1e9) + 1);
    }
    if (tpm > 0 && slot->st.tpm_tokens < cred_tpm_need(slot, est)) {
        double wait_s = (cred_tpm_need(slot, est) - slot->st.tpm_tokens) * 60.0 / tpm;

        no_token = 1;
        v->ready_at = cred_max64(v->ready_at, now_ns + (int64_t)(wait_s * 1e9) + 1);
    }
    if (slot->st.rest_until_ns > now_ns) {
        no_token = 1;
        v->ready_at = cred_max64(v->ready_at, slot->st.rest_until_ns);
    }
    if (busy)
        v->ready_at = cred_max64(v->ready_at, now_ns + CRED_BUSY_POLL_NS);
    cut_off = !breaker_ready(seg, slot->st.endpoint, pid, now_ns, &breaker_at);
    if (cut_off)
        v->ready_at = cred_max64(v->ready_at, breaker_at);
    gated = cred_gate_full(seg, slot, a, now_ns);
    if (gated)
        v->ready_at = cred_max64(v->ready_at, now_ns + CRED_BUSY_POLL_NS);
    v->ready_slots = limited ? 0 : slot->st.concurrency;
    v->eligible = !limited && !busy && !no_token && !cut_off && !gated;
    v->in_use = slot->st.in_use;
    v->requests = atomic_load_explicit(&slot->requests, memory_order_relaxed);
}
