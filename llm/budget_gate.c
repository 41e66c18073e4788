/*
 * budget_gate.c - one worker's side of the shared key budget (see
 * budget_gate.h for the protocol): the take after the local reservation, the
 * give at its end, the local share while Redis is lost, and the counters the
 * run reports (round trips, their latency, takes and waits).
 *
 * The local share is a GCRA pace per key in the segment (one atomic TAT, a
 * compare-and-swap loop: no lock, so a worker killed in the middle leaves a
 * valid value), at rpm / n_live without a burst (the shared bucket may be
 * drained when Redis goes); concurrency is capped at max(1, concurrency /
 * n_live) of the key's request slots. Runs pacing at their shares are not in
 * phase, so a provider that meters over one second may still answer a few
 * 429s; they are handled as any 429.
 */
#include "llm/budget_gate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm/seqlock.h"
#include "shm/util.h"

#define GATE_BUSY_RETRY_MS 25   /* local share: every request slot of the share is taken */
#define GATE_JITTER_MAX_MS 20   /* most jitter added to a WAIT (runs asking at one instant) */
#define GATE_REDIS_RETRY_MS 100 /* an answer that was neither OK nor WAIT: ask again then */

struct budget_gate {
    struct shm_segment *seg;
    unsigned worker;
    uint32_t ttl_ms;
    struct budget_redis *b; /* NULL until the first take (or after a failed open) */
    struct budget_stats last;
    struct budget_lease lease; /* the lease held, if held */
    int held;
    uint32_t held_idx;
    uint32_t rnd;
};

int budget_gate_new(struct shm_segment *seg, unsigned worker, uint32_t lease_ttl_ms,
                    struct budget_gate **out)
{
    struct budget_gate *g = calloc(1, sizeof(*g));
    *out = NULL;
    if (!g)
        return -ENOMEM;
    g->seg = seg;
    g->worker = worker;
    g->ttl_ms = lease_ttl_ms ? lease_ttl_ms : BUDGET_LEASE_TTL_MS;
    g->rnd = (uint32_t)getpid() * 2654435761u ^ (uint32_t)util_now_mono_ns();
    if (!g->rnd)
        g->rnd = 1;
    *out = g;
    return 0;
}

void budget_gate_free(struct budget_gate *g)
{
    if (!g)
        return;
    budget_redis_close(g->b);
    free(g);
}

void budget_gate_conf(const struct credential *cr, uint32_t lease_ttl_ms,
                      struct budget_key_conf *conf)
{
    memset(conf, 0, sizeof(*conf));
    conf->rpm = cr->rpm;
    conf->concurrency = cr->concurrency ? cr->concurrency : 1;
    conf->lease_ttl_ms = lease_ttl_ms;
    conf->tpm = cr->tpm; /* the estimate is charged at the take and corrected at the give */
}

static void gate_max(_Atomic uint64_t *a, uint64_t v)
{
    uint64_t cur = atomic_load_explicit(a, memory_order_relaxed);
    while (v > cur && !atomic_compare_exchange_weak_explicit(a, &cur, v, memory_order_relaxed,
                                                             memory_order_relaxed))
        ;
}

void budget_gate_account(struct shm_segment *seg, const struct budget_redis *b,
                         struct budget_stats *last)
{
    struct budget_run_sh *r = shm_budget_run(seg);
    struct budget_stats now;
    if (!b || !r)
        return;
    budget_redis_stats(b, &now);
    atomic_fetch_add_explicit(&r->round_trips, now.round_trips - last->round_trips,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&r->latency_ns, now.latency_ns - last->latency_ns,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&r->failures, now.failures - last->failures, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->reconnects, now.reconnects - last->reconnects,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&r->script_reloads, now.script_reloads - last->script_reloads,
                              memory_order_relaxed);
    gate_max(&r->latency_max_ns, now.latency_max_ns);
    *last = now;
}

int budget_gate_lost(struct shm_segment *seg)
{
    struct budget_run_sh *r = shm_budget_run(seg);
    uint32_t want = SHM_BUDGET_SHARED;
    if (!atomic_compare_exchange_strong(&r->mode, &want, SHM_BUDGET_LOCAL))
        return 0;
    atomic_store(&r->lost_since_realtime_ns, util_now_real_ns());
    atomic_fetch_add(&r->losses, 1);
    return 1;
}

static uint32_t gate_random(struct budget_gate *g)
{
    g->rnd ^= g->rnd << 13;
    g->rnd ^= g->rnd >> 17;
    g->rnd ^= g->rnd << 5;
    return g->rnd;
}

/*
 * Connected, or connect now: the first take of the process, or the first one
 * after the coordinator saw Redis come back. 0 or -errno (Redis still gone).
 */
static int gate_connect(struct budget_gate *g)
{
    if (g->b)
        return budget_redis_connected(g->b) ? 0 : budget_redis_reconnect(g->b);
    struct budget_redis_opts o = {.url = shm_budget_run(g->seg)->url, .pool = BUDGET_POOL};
    char err[256];
    memset(&g->last, 0, sizeof(g->last));
    return budget_redis_open(&o, &g->b, err, sizeof(err));
}

/* Publish the lease in the worker's slot: the coordinator renews it, and gives it back if we die.
 */
static void gate_publish(struct budget_gate *g, int held, uint32_t idx)
{
    struct budget_lease_sh *ls = shm_budget_lease(g->seg, g->worker);
    struct budget_lease_pub p;
    memset(&p, 0, sizeof(p));
    g->held = held;
    g->held_idx = idx;
    if (!ls)
        return;
    p.held = (uint32_t)held;
    p.key_index = idx;
    if (held)
        util_strlcpy(p.lease_id, g->lease.lease_id, sizeof(p.lease_id));
    seqlock_write(&ls->seq, ls->pub, sizeof(ls->pub) / sizeof(ls->pub[0]), &p, sizeof(p), NULL);
}

static void gate_hold(struct budget_gate *g, uint32_t idx)
{
    gate_publish(g, 1, idx);
}

static void gate_unhold(struct budget_gate *g)
{
    gate_publish(g, 0, 0);
}

/* Redis is lost (or answered nothing usable): the run falls back to its local share. */
static void gate_fall_back(struct budget_gate *g)
{
    budget_gate_lost(g->seg);
}

/* The gap of a WAIT made into a local deadline, with a little jitter for runs asking at once. */
static int64_t gate_retry_at(struct budget_gate *g, const struct credential *cr, int64_t now_ns,
                             int64_t wait_ms)
{
    int64_t cap = cr->rpm ? 60000 / 8 / (int64_t)cr->rpm : 5;
    if (cap > GATE_JITTER_MAX_MS)
        cap = GATE_JITTER_MAX_MS;
    int64_t jitter = cap > 0 ? (int64_t)(gate_random(g) % (uint32_t)(cap + 1)) : 0;
    return now_ns + (wait_ms + jitter) * UTIL_NS_PER_MS;
}

static enum budget_gate_verdict gate_shared(struct budget_gate *g, uint32_t idx,
                                            const struct credential *cr, int64_t now_ns,
                                            int64_t est, struct budget_gate_wait *w, int *lost)
{
    struct budget_run_sh *r = shm_budget_run(g->seg);
    struct budget_key_sh *k = shm_budget_key(g->seg, idx);
    struct budget_key_conf conf;
    struct budget_verdict v;
    *lost = 0;
    if (gate_connect(g) < 0) {
        budget_gate_account(g->seg, g->b, &g->last);
        *lost = 1;
        return BUDGET_GATE_GO;
    }
    budget_gate_conf(cr, g->ttl_ms, &conf);
    int rc = budget_redis_take(g->b, cr->id, &conf, est > 0 ? est : 0, &g->lease, &v);
    /* A connection from before a Redis restart fails its first call: connect
     * once more before calling Redis lost. */
    if (budget_redis_lost(rc) && budget_redis_reconnect(g->b) == 0)
        rc = budget_redis_take(g->b, cr->id, &conf, est > 0 ? est : 0, &g->lease, &v);
    budget_gate_account(g->seg, g->b, &g->last);
    if (budget_redis_lost(rc)) {
        *lost = 1;
        return BUDGET_GATE_GO;
    }
    if (rc < 0) { /* a reply of another shape, Redis busy loading: ask again soon */
        w->retry_at_ns = now_ns + GATE_REDIS_RETRY_MS * UTIL_NS_PER_MS;
        return BUDGET_GATE_DEFER;
    }
    switch (v.status) {
    case BUDGET_OK:
        atomic_fetch_add_explicit(&r->takes, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&k->takes, 1, memory_order_relaxed);
        gate_hold(g, idx);
        return BUDGET_GATE_GO;
    case BUDGET_DISABLED:
        util_errf(w->reason, sizeof(w->reason), "disabled by another run: %s",
                  v.reason[0] ? v.reason : "disabled");
        return BUDGET_GATE_DISABLED;
    case BUDGET_WAIT:
    default:
        atomic_fetch_add_explicit(&r->waits, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&k->waits, 1, memory_order_relaxed);
        if (v.why == BUDGET_WHY_RATE_LIMITED) {
            atomic_fetch_add_explicit(&k->shared_limits, 1, memory_order_relaxed);
            w->retry_at_ns = now_ns + v.wait_ms * UTIL_NS_PER_MS;
            return BUDGET_GATE_SHARED_LIMIT;
        }
        w->retry_at_ns = gate_retry_at(g, cr, now_ns, v.wait_ms);
        return BUDGET_GATE_DEFER;
    }
}

/*
 * Redis lost: this run's share of the key, 1/n of its rpm (GCRA on one
 * atomic TAT) and of its request slots (the local slot's in_use, which
 * already counts this reservation).
 */
static enum budget_gate_verdict gate_local(struct budget_gate *g, uint32_t idx,
                                           const struct credential *cr, int64_t now_ns,
                                           struct budget_gate_wait *w)
{
    struct budget_run_sh *r = shm_budget_run(g->seg);
    struct budget_key_sh *k = shm_budget_key(g->seg, idx);
    uint32_t n = atomic_load_explicit(&r->n_live, memory_order_relaxed);
    if (n < 1)
        n = 1;
    uint32_t conc = cr->concurrency ? cr->concurrency : 1;
    uint32_t share = conc / n ? conc / n : 1;
    struct cred_pub kv;
    if (cred_view(shm_cred_slot(g->seg, idx), &kv) == 0 && kv.in_use > share) {
        w->retry_at_ns = now_ns + GATE_BUSY_RETRY_MS * UTIL_NS_PER_MS;
        return BUDGET_GATE_DEFER;
    }
    if (cr->rpm > 0) {
        double rate = (double)cr->rpm / n; /* requests a minute */
        int64_t gap = (int64_t)(60e9 / rate);
        /* No burst: the shared bucket's state is unknown, assume it is drained. */
        const int64_t burst = 1;
        int64_t tat = atomic_load_explicit(&k->local_tat_ns, memory_order_relaxed);
        for (;;) {
            int64_t t0 = tat > now_ns ? tat : now_ns;
            int64_t admit_at = t0 + gap - burst * gap;
            if (admit_at > now_ns) {
                w->retry_at_ns = admit_at + 1;
                return BUDGET_GATE_DEFER;
            }
            if (atomic_compare_exchange_weak_explicit(&k->local_tat_ns, &tat, t0 + gap,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
        }
    }
    atomic_fetch_add_explicit(&r->local_takes, 1, memory_order_relaxed);
    return BUDGET_GATE_GO;
}

enum budget_gate_verdict budget_gate_take(struct budget_gate *g, uint32_t idx,
                                          const struct credential *cr, int64_t now_ns, int64_t est,
                                          struct budget_gate_wait *w)
{
    struct budget_run_sh *r = shm_budget_run(g->seg);
    memset(w, 0, sizeof(*w));
    if (!r || !shm_budget_key(g->seg, idx))
        return BUDGET_GATE_GO;
    uint32_t mode = atomic_load(&r->mode);
    if (mode == SHM_BUDGET_OFF)
        return BUDGET_GATE_GO;
    if (mode == SHM_BUDGET_SHARED) {
        int lost = 0;
        enum budget_gate_verdict v = gate_shared(g, idx, cr, now_ns, est, w, &lost);
        if (!lost)
            return v;
        gate_fall_back(g);
    }
    return gate_local(g, idx, cr, now_ns, w);
}

static enum budget_outcome gate_outcome(enum cred_outcome o)
{
    switch (o) {
    case CRED_OK:
        return BUDGET_GIVE_OK;
    case CRED_FAILED:
        return BUDGET_GIVE_FAILED;
    case CRED_RATE_LIMIT:
        return BUDGET_GIVE_RATE_LIMIT;
    case CRED_DISABLE:
        return BUDGET_GIVE_DISABLE;
    default:
        return BUDGET_GIVE_ABANDONED;
    }
}

void budget_gate_end(struct budget_gate *g, uint32_t idx, const struct credential *cr,
                     const struct cred_end *e, int64_t now_ns)
{
    if (!g || !g->held || g->held_idx != idx)
        return;
    struct budget_run_sh *r = shm_budget_run(g->seg);
    struct budget_key_conf conf;
    /* tokens: what the reply said it cost (the give corrects the estimate), or -1: keep it */
    struct budget_give give = {.outcome = gate_outcome(e->outcome),
                               .tokens_used = e->tokens_used >= 0 ? e->tokens_used : -1};
    if (give.outcome == BUDGET_GIVE_RATE_LIMIT) {
        int64_t ms = (e->retry_at_ns - now_ns + UTIL_NS_PER_MS - 1) / UTIL_NS_PER_MS;
        give.delay_ms = ms < 1 ? 1 : ms > 86400000 ? 86400000 : (uint32_t)ms;
        give.tokens_used = 0;
    }
    if (give.outcome == BUDGET_GIVE_DISABLE)
        give.reason = e->reason;
    gate_unhold(g);
    budget_gate_conf(cr, g->ttl_ms, &conf);
    int rc = budget_redis_give(g->b, &g->lease, &conf, &give);
    if (budget_redis_lost(rc) && budget_redis_reconnect(g->b) == 0) /* as in the take */
        rc = budget_redis_give(g->b, &g->lease, &conf, &give);
    budget_gate_account(g->seg, g->b, &g->last);
    if (rc == 0 || rc == -ENOENT)
        atomic_fetch_add_explicit(&r->gives, 1, memory_order_relaxed);
    if (rc == -ENOENT) /* the lease had expired: the TTL was shorter than the request */
        atomic_fetch_add_explicit(&r->gives_expired, 1, memory_order_relaxed);
    else if (budget_redis_lost(rc))
        gate_fall_back(g); /* the lease expires by its TTL */
}
