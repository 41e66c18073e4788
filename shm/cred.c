/*
 * cred.c - credential slots: reserving and releasing request slots of API
 * keys shared by every worker of a run.
 *
 * Each key slot has its own process-shared robust mutex. Reservation is two
 * passes, and only the second takes a mutex, one at a time (no lock order to
 * get wrong, and a worker dying or stopped in one slot blocks only that slot):
 *
 *   1. scan, lock-free: judge each key from its published copy (cred_view;
 *      every locked change is published at unlock) on a private copy (key
 *      mask, role, disabled, rate limit, rest, free request slot, token
 *      buckets refilled to now, endpoint gate and breaker); pick the eligible
 *      key with the fewest reservations, then the fewest requests, then the
 *      lowest index, so the load spreads over the pool. A scan waits for no
 *      mutex, so workers do not queue on each other's slots;
 *   2. take: lock the chosen slot (a bounded wait), judge it again for real
 *      (another worker may have taken it since it was published), take a
 *      place at the endpoint gate (a CAS, given back if the breaker then
 *      refuses), and only then record the reservation.
 *      If it changed, scan again, a bounded number of times.
 *
 * Invariants, under each slot's mutex: in_use == number of non-zero entries
 * in holders[] <= concurrency; a disabled key stays disabled until reload;
 * a key with rate_limited_until_ns > now is never handed out.
 *
 * Robustness: a worker killed while it holds a slot mutex leaves it to the
 * next locker with EOWNERDEAD, which repairs the slot (shm/cred_slot.c); a
 * worker killed outside the mutex has its reservations dropped by the
 * coordinator through cred_release_dead() once it has reaped it.
 *
 * The slot itself (configuration, mutex and repair, published copy, token
 * buckets, reload) is shm/cred_slot.c, which also says why the pacing
 * bucket holds one second's budget; judging one key for an asker (role,
 * limits, buckets, breaker, gate) is shm/cred_judge.c.
 *
 * Resting (rest_until_ns): a reply whose rate-limit headers said nothing is
 * left (remaining 0) makes the key wait for the reset they gave. It is
 * pacing, like an empty bucket: the state stays as it is, no 429 is counted,
 * and the coordinator's view of the pool does not see it as rate-limited.
 *
 * Token budget (tpm, else learned_tpm): a second bucket of LLM tokens,
 * capacity one minute's budget (a single request may need thousands), refilled
 * at tpm/60 a second. A reservation is charged the caller's estimate and
 * cred_end corrects the charge by what the reply reports (tokens_used), so
 * the bucket follows real usage. A request larger than the capacity waits for
 * a full bucket and takes it below zero, so it is never starved for good.
 */
#include "shm/cred.h"

#include <errno.h>
#include <string.h>

#include "shm/breaker.h"
#include "shm/crashpoint.h"
#include "shm/cred_private.h"
#include "shm/gate.h"
#include "shm/util.h"

#define CRED_PICK_ROUNDS 8
/*
 * Longest a reserver waits for one slot's mutex: a holder keeps it for
 * microseconds, so a longer wait means it is stopped (SIGSTOP, a debugger) or
 * descheduled; the reserver looks at the other keys and comes back.
 */
#define CRED_LOCK_WAIT_NS (20 * UTIL_NS_PER_MS)

/* 1 if key i is in the asker's key mask (no mask: every key). */
static int cred_in_mask(const struct cred_ask *a, uint32_t i)
{
    return !a->key_mask || ((a->key_mask[i / 64] >> (i % 64)) & 1);
}

/* a is a better pick than b: fewer reservations, then fewer requests. */
static int cred_better(const struct cred_judge *a, const struct cred_judge *b)
{
    if (a->in_use != b->in_use)
        return a->in_use < b->in_use;
    return a->requests < b->requests; /* ties keep the lower index */
}

/*
 * A key whose every request slot looks taken, one of them by a process that is
 * gone, may have lost its holder inside the mutex: lock it once (briefly),
 * which repairs the slot on EOWNERDEAD (shm/cred_slot.c), as the scan's
 * locking used to. A holder that died outside the mutex is the coordinator's
 * to release (cred_release_dead, after it reaped it). 1 if the slot was locked.
 */
static int cred_repair_if_dead(struct cred_slot_sh *slot, const struct cred_pub *view)
{
    int dead = 0;
    if (view->in_use < view->concurrency)
        return 0;
    for (int i = 0; i < SHM_KEY_HOLDERS_MAX && !dead; i++)
        dead = view->holders[i] != 0 && cred_pid_gone(view->holders[i]);
    if (!dead || cred_lock_within(slot, CRED_LOCK_WAIT_NS) < 0)
        return 0;
    cred_unlock(slot);
    return 1;
}

/* Keys one cred_reserve_ask call already tried to take (bit i: key i), not picked again. */
struct cred_tried {
    uint64_t bits[SHM_MAX_KEYS / 64];
};

static int cred_was_tried(const struct cred_tried *t, uint32_t i)
{
    return (t->bits[i / 64] >> (i % 64)) & 1u;
}

/* Pass 1: the best eligible key (or -1), with the pool's summary in w. */
static int cred_scan(struct shm_segment *seg, const struct cred_ask *a, int64_t now_ns,
                     const struct cred_tried *tried, struct cred_wait *w)
{
    struct cred_judge best = {0}, v;
    struct cred_slot_sh look; /* a private copy to judge: never shared, never locked */
    int best_i = -1;

    memset(w, 0, sizeof(*w));
    for (uint32_t i = 0; i < seg->hdr->key_count; i++) {
        struct cred_slot_sh *slot = shm_cred_slot(seg, i);

        if (!cred_in_mask(a, i))
            continue;
        /*
         * Taking it just failed (a mutex held past the bounded wait, e.g. by a
         * stopped worker, whose published copy keeps looking best; or it stopped
         * being eligible): look at the others; it is usable, so come back soon.
         */
        if (cred_was_tried(tried, i)) {
            if (w->retry_at_ns == 0 || now_ns + CRED_BUSY_POLL_NS < w->retry_at_ns)
                w->retry_at_ns = now_ns + CRED_BUSY_POLL_NS;
            w->usable_keys++;
            continue;
        }
        /* The key as last published (every locked change is, at unlock): judging the
         * copy changes nothing shared and waits for nobody, however many workers look
         * at once or whoever holds the mutex (even a stopped worker). */
        int seen = cred_view(slot, &look.st) == 0;
        if (seen && cred_repair_if_dead(slot, &look.st))
            seen = cred_view(slot, &look.st) == 0;
        if (!seen) {
            if (w->retry_at_ns == 0 || now_ns + CRED_BUSY_POLL_NS < w->retry_at_ns)
                w->retry_at_ns = now_ns + CRED_BUSY_POLL_NS; /* raced every retry: soon */
            w->usable_keys++;
            continue;
        }
        atomic_store_explicit(&look.requests,
                              atomic_load_explicit(&slot->requests, memory_order_relaxed),
                              memory_order_relaxed);
        cred_judge_locked(seg, &look, a, now_ns, &v);
        if (!v.of_role)
            continue;
        w->usable_keys++;
        w->ready_slots += v.ready_slots;
        if (v.eligible) {
            if (best_i < 0 || cred_better(&v, &best)) {
                best = v;
                best_i = (int)i;
            }
        } else if (w->retry_at_ns == 0 || v.ready_at < w->retry_at_ns) {
            w->retry_at_ns = v.ready_at;
        }
    }
    return best_i;
}

/*
 * Pass 2: take a request slot of key i if it is still eligible. The breaker
 * is claimed last, under the slot mutex, once nothing else can refuse: a
 * half-open endpoint's one probe is then always a request that really goes.
 */
static int cred_take(struct shm_segment *seg, struct cred_slot_sh *slot, const struct cred_ask *a,
                     int64_t now_ns)
{
    struct cred_judge v;
    struct gate_sh *g;
    int free_i = -1;
    int32_t pid = a->pid;

    if (cred_lock_within(slot, CRED_LOCK_WAIT_NS) < 0)
        return -EAGAIN;
    crash_point("cred_locked"); /* crash tests: stop or die holding the slot's mutex */
    cred_judge_locked(seg, slot, a, now_ns, &v);
    for (int i = 0; i < SHM_KEY_HOLDERS_MAX && free_i < 0; i++)
        if (slot->st.holders[i] == 0)
            free_i = i;
    g = cred_gate(seg, slot, a);
    if (!v.eligible || free_i < 0 || gate_try(g, a->gate_worker - 1, now_ns) != GATE_TAKEN) {
        cred_unlock(slot);
        return -EAGAIN;
    }
    if (!breaker_allow(seg, slot->st.endpoint, pid, now_ns, NULL)) {
        gate_release(g, a->gate_worker - 1);
        cred_unlock(slot);
        return -EAGAIN;
    }
    slot->st.holders[free_i] = pid;
    slot->st.in_use++;
    slot->st.reserved_since_ns = now_ns;
    if (cred_rpm(slot) > 0)
        slot->st.tokens -= 1.0;
    if (cred_tpm(slot) > 0 && a->tokens > 0)
        slot->st.tpm_tokens -= (double)a->tokens;
    atomic_fetch_add_explicit(&slot->requests, 1, memory_order_relaxed);
    cred_settle_locked(slot);
    cred_unlock(slot);
    return 0;
}

int cred_reserve(struct shm_segment *seg, uint32_t role, int32_t pid, int64_t now_ns,
                 struct cred_wait *w)
{
    struct cred_ask a = {.role = role, .pid = pid};

    return cred_reserve_ask(seg, &a, now_ns, w);
}

int cred_reserve_ask(struct shm_segment *seg, const struct cred_ask *a, int64_t now_ns,
                     struct cred_wait *w)
{
    struct cred_wait local;
    struct cred_tried tried = {{0}};

    if (!w)
        w = &local;
    if (a->pid <= 0 || a->gate_worker > SHM_MAX_WORKERS)
        return -EINVAL;
    for (int round = 0; round < CRED_PICK_ROUNDS; round++) {
        int i = cred_scan(seg, a, now_ns, &tried, w);

        if (w->usable_keys == 0)
            return -ENOKEY;
        if (i < 0)
            return -EAGAIN;
        if (cred_take(seg, shm_cred_slot(seg, (uint32_t)i), a, now_ns) == 0)
            return i;
        tried.bits[i / 64] |= 1ull << (i % 64);
    }
    /* Lost every race: the pool is contended, come back very soon. */
    w->retry_at_ns = now_ns + UTIL_NS_PER_MS;
    return -EAGAIN;
}

/* Remove one holder entry of pid; 1 if there was one. */
static int cred_drop_holder_locked(struct cred_slot_sh *slot, int32_t pid)
{
    for (int i = 0; i < SHM_KEY_HOLDERS_MAX; i++) {
        if (slot->st.holders[i] == pid) {
            slot->st.holders[i] = 0;
            return 1;
        }
    }
    return 0;
}

static void cred_rate_limit_locked(struct cred_slot_sh *slot, int64_t retry_at_ns)
{
    int64_t until = cred_max64(slot->st.rate_limited_until_ns, retry_at_ns);

    slot->st.rate_limited_until_ns = until;
    slot->st.rate_limited_until_realtime_ns = util_now_real_ns() + (until - util_now_mono_ns());
    slot->st.backoff_exp++;
    if (slot->st.state != CRED_DISABLED)
        slot->st.state = CRED_RATE_LIMITED;
    atomic_fetch_add_explicit(&slot->http_429, 1, memory_order_relaxed);
}

/* A reservation the shared budget turned back: nothing was sent, nothing is spent here. */
static void cred_defer_locked(struct cred_slot_sh *slot, enum cred_outcome outcome,
                              int64_t retry_at_ns)
{
    double cap = cred_capacity(slot->st.rpm);

    if (slot->st.rpm > 0 && (slot->st.tokens += 1.0) > cap)
        slot->st.tokens = cap;
    atomic_fetch_sub_explicit(&slot->requests, 1, memory_order_relaxed);
    if (outcome == CRED_DEFERRED) { /* the shared budget said wait: a rest, like a reply's */
        slot->st.rest_until_ns = cred_max64(slot->st.rest_until_ns, retry_at_ns);
        return;
    }
    int64_t until = cred_max64(slot->st.rate_limited_until_ns, retry_at_ns);
    slot->st.rate_limited_until_ns = until;
    slot->st.rate_limited_until_realtime_ns = util_now_real_ns() + (until - util_now_mono_ns());
    if (slot->st.state != CRED_DISABLED)
        slot->st.state = CRED_RATE_LIMITED;
}

static void cred_apply_outcome_locked(struct cred_slot_sh *slot, enum cred_outcome outcome,
                                      int64_t retry_at_ns, const char *reason)
{
    switch (outcome) {
    case CRED_DEFERRED:
    case CRED_SHARED_LIMIT:
        cred_defer_locked(slot, outcome, retry_at_ns);
        break;
    case CRED_OK:
        slot->st.backoff_exp = 0;
        break;
    case CRED_FAILED:
        atomic_fetch_add_explicit(&slot->errors, 1, memory_order_relaxed);
        break;
    case CRED_RATE_LIMIT:
        cred_rate_limit_locked(slot, retry_at_ns);
        break;
    case CRED_DISABLE:
        slot->st.state = CRED_DISABLED;
        util_strlcpy(slot->st.disabled_reason, reason && *reason ? reason : "disabled",
                     sizeof(slot->st.disabled_reason));
        break;
    case CRED_ABANDONED:
        break;
    }
}

/*
 * What the reply's headers taught (the pace and budget its provider announced,
 * a rest until its reset) and the token charge corrected by its usage.
 */
static void cred_learn_locked(struct cred_slot_sh *slot, const struct cred_end *e, int64_t now_ns)
{
    int tpm_new = 0;

    if (e->learned_rpm && slot->st.rpm == 0 && e->learned_rpm != slot->st.learned_rpm) {
        if (slot->st.learned_rpm == 0) { /* this request spent the first token */
            slot->st.tokens = 0.0;
            slot->st.tokens_updated_ns = now_ns;
        }
        slot->st.learned_rpm = e->learned_rpm;
        if (slot->st.tokens > cred_capacity(e->learned_rpm))
            slot->st.tokens = cred_capacity(e->learned_rpm);
    }
    if (e->learned_tpm && slot->st.tpm == 0 && e->learned_tpm != slot->st.learned_tpm) {
        tpm_new = slot->st.learned_tpm == 0;
        slot->st.learned_tpm = e->learned_tpm;
        if (tpm_new || slot->st.tpm_tokens > e->learned_tpm)
            slot->st.tpm_tokens = e->learned_tpm;
        slot->st.tpm_updated_ns = now_ns;
    }
    if (!tpm_new && cred_tpm(slot) > 0 && e->tokens_charged > 0 && e->tokens_used >= 0) {
        slot->st.tpm_tokens += (double)(e->tokens_charged - e->tokens_used);
        if (slot->st.tpm_tokens > cred_tpm(slot))
            slot->st.tpm_tokens = cred_tpm(slot);
    }
    if (e->rest_until_ns > now_ns && e->rest_until_ns > slot->st.rest_until_ns) {
        slot->st.rest_until_ns = e->rest_until_ns;
        atomic_fetch_add_explicit(&slot->rests, 1, memory_order_relaxed);
    }
}

/* Release pid's reservation with everything e says (cred_release, cred_end). */
static int cred_release_end(struct shm_segment *seg, uint32_t index, int32_t pid,
                            const struct cred_end *e, int64_t now_ns)
{
    struct cred_slot_sh *slot = shm_cred_slot(seg, index);
    int rc;

    if (!slot || pid <= 0)
        return -EINVAL;
    rc = cred_lock(slot);
    if (rc < 0)
        return rc;
    if (!cred_drop_holder_locked(slot, pid)) {
        cred_unlock(slot);
        return -ENOENT;
    }
    slot->st.in_use--;
    cred_apply_outcome_locked(slot, e->outcome, e->retry_at_ns, e->reason);
    cred_learn_locked(slot, e, now_ns);
    cred_settle_locked(slot);
    cred_unlock(slot);
    if (e->outcome < CRED_ABANDONED) { /* a request not sent has no latency to speak of */
        atomic_fetch_add_explicit(&slot->latency_ms_sum, e->latency_ms, memory_order_relaxed);
        atomic_fetch_add_explicit(&slot->latency_hist[shm_hist_bucket(e->latency_ms)], 1,
                                  memory_order_relaxed);
    }
    if (e->input_tokens > 0)
        atomic_fetch_add_explicit(&slot->input_tokens, (uint64_t)e->input_tokens,
                                  memory_order_relaxed);
    if (e->output_tokens > 0)
        atomic_fetch_add_explicit(&slot->output_tokens, (uint64_t)e->output_tokens,
                                  memory_order_relaxed);
    return 0;
}

int cred_release(struct shm_segment *seg, uint32_t index, int32_t pid, enum cred_outcome outcome,
                 int64_t retry_at_ns, const char *reason, uint32_t latency_ms)
{
    struct cred_end e = {.outcome = outcome,
                         .retry_at_ns = retry_at_ns,
                         .reason = reason,
                         .latency_ms = latency_ms,
                         .tokens_used = -1};

    return cred_release_end(seg, index, pid, &e, util_now_mono_ns());
}

int cred_release_dead(struct shm_segment *seg, int32_t pid, int64_t wait_ns, int *dropped)
{
    int rc = 0;

    *dropped = 0;
    if (pid <= 0)
        return -EINVAL;
    breaker_release_dead(seg, pid);
    for (uint32_t i = 0; i < seg->hdr->key_count; i++) {
        struct cred_slot_sh *slot = shm_cred_slot(seg, i);
        struct cred_pub v;
        int held = 0;

        /* Look first, lock-free: most slots never saw this pid. */
        if (cred_view(slot, &v) == 0) {
            for (int k = 0; k < SHM_KEY_HOLDERS_MAX; k++)
                held |= v.holders[k] == pid;
            if (!held)
                continue;
        }
        int lr = cred_lock_within(slot, wait_ns);
        if (lr < 0) {
            rc = lr; /* e.g. a stopped worker holds it: try again later */
            continue;
        }
        while (cred_drop_holder_locked(slot, pid))
            (*dropped)++;
        cred_recount_locked(slot);
        cred_unlock(slot);
    }
    return rc;
}

int cred_end(struct shm_segment *seg, uint32_t index, int32_t pid, const struct cred_end *e,
             struct cred_end_report *out)
{
    struct cred_pub v;
    int64_t now = e->now_ns ? e->now_ns : util_now_mono_ns();

    memset(out, 0, sizeof(*out));
    /* The endpoint is fixed for the slot's life in a run (a reload keeps the URL set). */
    int have_ep = cred_view(shm_cred_slot(seg, index), &v) == 0;
    int rc = cred_release_end(seg, index, pid, e, now);
    if (e->gate_worker && e->gate_worker <= SHM_MAX_WORKERS) {
        /* A worker holds at most one endpoint place: unknown endpoint, clear them all. */
        for (uint32_t i = 0; i < seg->hdr->endpoint_count; i++)
            if (!have_ep || i == v.endpoint)
                gate_release(gate_endpoint(seg, i), e->gate_worker - 1);
    }
    if (have_ep) {
        out->endpoint = v.endpoint;
        out->breaker_opened = breaker_report(seg, v.endpoint, pid, e->endpoint, now,
                                             &out->cooldown_ns, &out->in_a_row);
    }
    return rc;
}
