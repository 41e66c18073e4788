/*
 * llm.c - the LLM client workflows call (see llm.h for the policy).
 *
 * Invariant: a key reserved through cred_reserve is ended exactly once, by
 * llm_end (cred_end), on every path out of llm_try (success, any failure,
 * cancellation), so a worker never sits on a request slot it is not using,
 * and the key's endpoint breaker hears of every reservation's end (a
 * half-open probe that sent nothing hands its turn on, so no endpoint waits on
 * a probe that never comes). The only state carried from one try to the next
 * lives in struct llm_call: attempts spent (429s and disabled keys spend
 * none), consecutive hint-less 429s, and whether the item is shown as waiting
 * for a key. What a reply means is decided in llm_reply.c.
 *
 * Waiting (no key eligible) is a poll: sleep until the earliest time a key may
 * be usable (at most 200 ms), then ask again. Every sleep is cut into short
 * steps that check the stop flag and the run state, so shutdown is never held
 * up by a backoff. All time comes from the client's clock.
 */
#include "llm/llm.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "llm/budget_gate.h"
#include "llm/http.h"
#include "llm/llm_reply.h"
#include "llm/retry.h"
#include "shm/breaker.h"
#include "shm/cred.h"
#include "shm/heartbeat.h"
#include "shm/util.h"

#define LLM_WAIT_MAX_MS 200    /* longest single wait for a key before asking again */
#define LLM_WAIT_UNKNOWN_MS 25 /* all slots reserved: no known time, poll briskly */
#define LLM_SLEEP_STEP_MS 50   /* granularity of stop checks while sleeping */
#define LLM_FAIL_BASE_MS 250   /* backoff after a failed (non-429) attempt */
#define LLM_FAIL_CAP_MS 5000
#define LLM_SIMULATED_DELAY_MS 1000
#define LLM_LOG_BODY_MAX 4000 /* bytes of an error body copied to the item log */

static int64_t sys_mono_ns(void *arg)
{
    (void)arg;
    return util_now_mono_ns();
}

static int64_t sys_real_s(void *arg)
{
    (void)arg;
    return (int64_t)time(NULL);
}

static void sys_sleep_ns(void *arg, int64_t ns)
{
    (void)arg;
    util_sleep_ns(ns);
}

static int64_t sys_real_ms(void *arg)
{
    (void)arg;
    return util_now_real_ns() / UTIL_NS_PER_MS;
}

const struct llm_clock llm_clock_system = {sys_mono_ns, sys_real_s, sys_sleep_ns, NULL,
                                           sys_real_ms};

static const struct llm_clock *llm_clk(const struct llm_client *c)
{
    return c->clock ? c->clock : &llm_clock_system;
}

int64_t llm_now(const struct llm_client *c)
{
    return llm_clk(c)->mono_ns(llm_clk(c)->arg);
}

int64_t llm_real_ms(const struct llm_client *c)
{
    const struct llm_clock *k = llm_clk(c);
    return k->real_ms ? k->real_ms(k->arg) : k->real_s(k->arg) * 1000;
}

static uint32_t llm_random(void)
{
    static uint32_t state;
    if (state == 0)
        state = (uint32_t)getpid() ^ (uint32_t)util_now_mono_ns() ^ 0x9e3779b9u;
    /* xorshift32: jitter only needs to differ between workers, not be unpredictable */
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}

static int llm_stopping(const struct llm_client *c)
{
    if (c->stop && *c->stop)
        return 1;
    return atomic_load(&c->seg->hdr->run_state) == SHM_RUN_SHUTTING_DOWN;
}

static void llm_flush(struct llm_client *c)
{
    if (c->ev && c->ev->flush)
        c->ev->flush(c->ev->arg);
}

void llm_say(struct llm_client *c, const char *fmt, ...)
{
    if (!c->ev || !c->ev->coordinator)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    c->ev->coordinator(c->ev->arg, line);
}

/*
 * Sleep ms in short steps; -ECANCELED as soon as the run is stopping. Every
 * wait (for a key, a rate limit, a backoff) goes through here and is counted
 * in c->waited_ns: it is the pool's time, not the node's.
 */
static int llm_sleep_ms(struct llm_client *c, int64_t ms)
{
    const struct llm_clock *k = llm_clk(c);
    llm_flush(c);
    int64_t start = llm_now(c);
    int64_t end = start + ms * UTIL_NS_PER_MS;
    int rc = 0;
    for (;;) {
        if (llm_stopping(c)) {
            rc = -ECANCELED;
            break;
        }
        heartbeat(); /* a wait for the pool: the worker is alive (shm/heartbeat.h) */
        int64_t left = end - llm_now(c);
        if (left <= 0)
            break;
        k->sleep_ns(k->arg, left < LLM_SLEEP_STEP_MS * UTIL_NS_PER_MS
                                ? left
                                : LLM_SLEEP_STEP_MS * UTIL_NS_PER_MS);
    }
    c->waited_ns += llm_now(c) - start;
    return rc;
}

void llm_audit(struct llm_call *call, const char *event, const char *key, long status,
               long latency_ms, const char *error, const struct llm_usage *u)
{
    const struct llm_events *ev = call->c->ev;
    if (!ev || !ev->audit)
        return;
    struct llm_audit a = {
        .event = event,
        .node = call->node,
        .key = key,
        .error = error && *error ? error : NULL,
        .http_status = status > 0 ? status : -1,
        .latency_ms = latency_ms,
        .input_tokens = u ? u->input_tokens : -1,
        .output_tokens = u ? u->output_tokens : -1,
    };
    ev->audit(ev->arg, &a);
}

void llm_exchange(struct llm_client *c, const char *title, const char *text)
{
    if (c->ev && c->ev->exchange)
        c->ev->exchange(c->ev->arg, title, text);
}

static void llm_set_waiting(struct llm_call *call, int waiting)
{
    if (call->waiting == waiting)
        return;
    call->waiting = waiting;
    if (waiting)
        llm_audit(call, "wait_key", NULL, -1, -1, NULL, NULL);
    if (call->c->on_wait)
        call->c->on_wait(call->c->on_wait_arg, waiting);
}

void llm_count_request(struct llm_client *c, int is_429)
{
    c->requests++;
    atomic_fetch_add(&c->seg->hdr->requests_total, 1);
    if (is_429) {
        c->http_429++;
        atomic_fetch_add(&c->seg->hdr->http_429_total, 1);
    }
}

/*
 * What a request's end says about its endpoint's load, for the adaptive
 * limiter: a reply is a success with its latency; a transport failure, 5xx or
 * 429 an error; a disabled key or a request not sent says nothing.
 */
static void llm_sample(struct llm_client *c, const struct cred_end *e, uint32_t endpoint)
{
    if (!c->on_sample)
        return;
    if (e->outcome == CRED_OK)
        c->on_sample(c->on_sample_arg, endpoint, e->latency_ms, 0);
    else if (e->outcome == CRED_FAILED || e->outcome == CRED_RATE_LIMIT)
        c->on_sample(c->on_sample_arg, endpoint, e->latency_ms, 1);
}

/* llm_end; sent 0 for a synthetic answer that never reached the endpoint. */
static void llm_end_as(struct llm_client *c, int idx, const struct cred_end *e, int sent)
{
    struct cred_end_report rep;
    struct cred_end at = *e;
    at.now_ns = llm_now(c);
    /* The shared lease first: the local slot must not be taken again while it is still out. */
    if (c->budget && (size_t)idx < c->creds->n)
        budget_gate_end(c->budget, (uint32_t)idx, &c->creds->v[idx], &at, at.now_ns);
    at.gate_worker = c->worker_id;
    cred_end(c->seg, (uint32_t)idx, c->pid, &at, &rep);
    if (sent)
        llm_sample(c, e, rep.endpoint);
    if (e->outcome == CRED_RATE_LIMIT) {
        int64_t ms = (e->retry_at_ns - llm_now(c)) / UTIL_NS_PER_MS;
        llm_say(c, "Rate limit hit on %s. Backing off for %llds. Redistributing work...",
                c->creds->v[idx].id, (long long)((ms + 999) / 1000));
    } else if (e->outcome == CRED_SHARED_LIMIT) {
        int64_t ms = (e->retry_at_ns - llm_now(c)) / UTIL_NS_PER_MS;
        llm_say(c, "Rate limit hit on %s by another run. Backing off for %llds.",
                c->creds->v[idx].id, (long long)((ms + 999) / 1000));
    } else if (e->outcome == CRED_DISABLE) {
        llm_say(c, "Key %s disabled: %s", c->creds->v[idx].id, e->reason);
    }
    if (rep.breaker_opened)
        llm_say(c, "Endpoint %s failing (%u errors in a row); no requests to it for %llds",
                shm_endpoint_slot(c->seg, rep.endpoint)->url, rep.in_a_row,
                (long long)(rep.cooldown_ns / UTIL_NS_PER_SEC));
}

void llm_end(struct llm_client *c, int idx, const struct cred_end *e)
{
    llm_end_as(c, idx, e, 1);
}

/* End a reservation that sent nothing (raced a reload): its token charge comes back. */
static void llm_give_back(struct llm_call *call, int idx)
{
    struct cred_end e = {.outcome = CRED_ABANDONED,
                         .endpoint = BREAKER_NEUTRAL,
                         .tokens_charged = call->tokens_est,
                         .tokens_used = 0};
    llm_end(call->c, idx, &e);
}

int64_t llm_backoff_ms(struct llm_call *call, int idx)
{
    /* the key's own streak of hint-less 429s, or ours if the slot does not keep one */
    unsigned exp = call->hintless_429++;
    struct cred_pub k;
    if (cred_view(shm_cred_slot(call->c->seg, (uint32_t)idx), &k) == 0 && k.backoff_exp > exp)
        exp = k.backoff_exp;
    return retry_backoff_ms(exp, llm_random());
}

/*
 * AGENTOS_SIMULATE_429=N: is this request of the run the N-th, 2N-th, ...?
 * The try right after a simulated 429 of the same call is never simulated,
 * so even N = 1 lets every request through on its second try and the run
 * finishes.
 */
static int llm_simulated_429(struct llm_call *call)
{
    struct llm_client *c = call->c;
    if (c->simulate_429_every <= 0)
        return 0;
    uint64_t n = atomic_fetch_add(&c->seg->hdr->simulate_429_used, 1) + 1;
    int hit = !call->simulated && n % (uint64_t)c->simulate_429_every == 0;
    call->simulated = hit;
    return hit;
}

/* One request on reserved key idx. Always ends the reservation. */
static enum llm_step llm_try(struct llm_call *call, int idx, char **reply)
{
    struct llm_client *c = call->c;
    const struct credential *cr = &c->creds->v[idx];
    if (llm_simulated_429(call)) {
        struct cred_end e = {.outcome = CRED_RATE_LIMIT,
                             .endpoint = BREAKER_NEUTRAL,
                             .retry_at_ns = llm_now(c) + LLM_SIMULATED_DELAY_MS * UTIL_NS_PER_MS,
                             .tokens_charged = call->tokens_est,
                             .tokens_used = 0};
        llm_end_as(c, idx, &e, 0);
        llm_count_request(c, 1);
        llm_audit(call, "http_429", cr->id, 429, -1, "simulated 429", NULL);
        return LLM_STEP_AGAIN;
    }
    char title[160];
    util_errf(title, sizeof(title), "LLM request (%s, key %s, attempt %u)", call->node, cr->id,
              call->attempts + 1);
    llm_exchange(c, title, call->prompt);
    llm_flush(c);

    /* A cut-off endpoint's probe tests the endpoint, not the item: its failure spends
     * no attempt (SPEC 6: an item waiting for a cut-off endpoint spends none). */
    struct cred_pub k;
    memset(&k, 0, sizeof(k));
    call->probe = cred_view(shm_cred_slot(c->seg, (uint32_t)idx), &k) == 0 &&
                  breaker_is_probe(c->seg, k.endpoint, c->pid);
    call->probe_ep = k.endpoint;
    static volatile sig_atomic_t never;
    struct http_reply r;
    struct llm_prompt p = {.text = call->prompt, .gen = credfile_gen(cr, call->role)};
    long timeout = p.gen->timeout_s > 0 ? p.gen->timeout_s : LLM_TIMEOUT_DEFAULT_S;
    if (c->timeout_s > 0 && c->timeout_s < timeout)
        timeout = c->timeout_s;
    int rc = provider_send(cr, &p, timeout, c->stop ? c->stop : &never, &r);
    enum llm_step step;
    if (rc == 0)
        step = llm_reply_classify(call, idx, &r, reply);
    else
        step = llm_reply_transport(call, idx, &r, rc);
    http_reply_free(&r);
    return step;
}

/* Pick up reloaded credentials; 1 if the generation moved since creds were loaded. */
static int llm_refresh(struct llm_client *c)
{
    uint64_t g = atomic_load(&c->seg->hdr->pool_generation);
    if (g == c->generation)
        return 0;
    c->generation = g;
    if (c->refresh_creds)
        c->refresh_creds(c->refresh_arg); /* on failure the old secrets stay: best we have */
    return 1;
}

/* How long to sleep before asking for a key again. */
static int64_t llm_wait_ms(int idx, const struct cred_wait *w, int64_t now)
{
    if (idx != -EAGAIN)
        return LLM_WAIT_MAX_MS;
    int64_t ms = w->retry_at_ns > 0 ? (w->retry_at_ns - now + UTIL_NS_PER_MS - 1) / UTIL_NS_PER_MS
                                    : LLM_WAIT_UNKNOWN_MS;
    return ms < 1 ? 1 : ms > LLM_WAIT_MAX_MS ? LLM_WAIT_MAX_MS : ms;
}

/*
 * --budget: the shared budget's say on key idx, just reserved locally. 1: the
 * request may go; 0: the reservation was ended unsent (the key rests until
 * the shared budget's time, or is disabled), ask again.
 */
static int llm_shared_budget(struct llm_call *call, int idx, int64_t now)
{
    struct llm_client *c = call->c;
    struct budget_gate_wait w;
    enum budget_gate_verdict v =
        budget_gate_take(c->budget, (uint32_t)idx, &c->creds->v[idx], now, call->tokens_est, &w);
    if (v == BUDGET_GATE_GO)
        return 1;
    struct cred_end e = {.outcome = v == BUDGET_GATE_DISABLED       ? CRED_DISABLE
                                    : v == BUDGET_GATE_SHARED_LIMIT ? CRED_SHARED_LIMIT
                                                                    : CRED_DEFERRED,
                         .endpoint = BREAKER_NEUTRAL,
                         .retry_at_ns = w.retry_at_ns,
                         .reason = w.reason,
                         .tokens_charged = call->tokens_est,
                         .tokens_used = 0}; /* unsent: the local token charge comes back */
    llm_end(c, idx, &e);
    return 0;
}

/*
 * Wait for a key: >= 0 key index, -ECANCELED on shutdown. -EAGAIN sleeps until
 * the earliest time a key may be usable; -ENOKEY (every key disabled) waits for
 * the coordinator to reload the pool or end the run.
 */
static int llm_reserve(struct llm_call *call)
{
    struct llm_client *c = call->c;
    for (;;) {
        if (llm_stopping(c))
            return -ECANCELED;
        llm_refresh(c);
        struct cred_wait w;
        memset(&w, 0, sizeof(w));
        int64_t now = llm_now(c);
        struct cred_ask ask = {.role = call->role,
                               .pid = c->pid,
                               .key_mask = c->key_mask,
                               .gate_worker = c->worker_id,
                               .tokens = call->tokens_est};
        int idx = cred_reserve_ask(c->seg, &ask, now, &w);
        /*
         * The coordinator bumps the generation before it reloads the slots, so
         * a key that came back in a reload is seen together with the new
         * generation: give it back and take one again with the new secrets.
         */
        if (idx >= 0 && llm_refresh(c)) {
            llm_give_back(call, idx);
            continue;
        }
        if (idx >= 0 && (size_t)idx < c->creds->n && c->budget &&
            !llm_shared_budget(call, idx, now))
            continue; /* the key rests now: another key, or the wait below */
        if (idx >= 0) {
            llm_set_waiting(call, 0);
            if ((size_t)idx < c->creds->n)
                return idx;
            /* a slot with no loaded credential (pool reloaded under us): never use it */
            llm_give_back(call, idx);
            return -ENOKEY;
        }
        if (idx != -EAGAIN && idx != -ENOKEY)
            return idx;
        llm_set_waiting(call, 1);
        if (llm_sleep_ms(c, llm_wait_ms(idx, &w, now)) < 0)
            return -ECANCELED;
    }
}

/* Backoff after failed attempt n (1-based): 250 ms doubling, +-25 %, at most 5 s. */
static int64_t llm_fail_backoff_ms(unsigned n)
{
    int64_t ms = retry_backoff_ms(n - 1, llm_random()) * LLM_FAIL_BASE_MS / 1000;
    return ms > LLM_FAIL_CAP_MS ? LLM_FAIL_CAP_MS : ms;
}

/* 1 if some loaded credential may serve role (disabled or not): else waiting is pointless. */
static int llm_role_exists(const struct llm_client *c, uint32_t role)
{
    for (size_t i = 0; i < c->creds->n; i++)
        if (c->creds->v[i].roles & role)
            return 1;
    return 0;
}

/*
 * What a request of this prompt is charged against a key's token budget
 * before its reply tells: prompt bytes / 4 plus the reply it may get, the
 * largest max_tokens among the keys of the role (a protocol's default when
 * none is set, as Anthropic's 4096).
 */
static int64_t llm_tokens_estimate(const struct llm_client *c, uint32_t role, const char *prompt)
{
    int64_t most = 0;
    for (size_t i = 0; i < c->creds->n; i++) {
        const struct credential *cr = &c->creds->v[i];
        int64_t m = credfile_gen(cr, role)->max_tokens;
        if (m <= 0)
            m = cr->proto->default_max_tokens;
        if ((cr->roles & role) && m > most)
            most = m;
    }
    return (int64_t)(strlen(prompt) / 4) + most;
}

/* The loop of tries: 0, or -errno with err filled. */
static int llm_loop(struct llm_call *call, char **reply, char *err, size_t errlen)
{
    for (;;) {
        int idx = llm_reserve(call);
        if (idx < 0) {
            if (idx == -ENOKEY)
                util_errf(err, errlen, "the credential pool changed under a request; reload it");
            else if (idx != -ECANCELED)
                util_errf(err, errlen, "could not reserve a key: %s", strerror(-idx));
            return idx;
        }
        switch (llm_try(call, idx, reply)) {
        case LLM_STEP_DONE:
            return 0;
        case LLM_STEP_CANCELLED:
            return -ECANCELED;
        case LLM_STEP_REJECTED:
            util_errf(err, errlen, "LLM request rejected: %s", call->last_error);
            return -EBADRQC;
        case LLM_STEP_AGAIN:
            continue;
        case LLM_STEP_FAILED:
            break;
        }
        if (call->probe && !breaker_closed(call->c->seg, call->probe_ep))
            continue; /* the probe failed, the endpoint is cut off again: wait, no attempt */
        if (++call->attempts >= LLM_MAX_ATTEMPTS) {
            util_errf(err, errlen, "LLM request failed after %d attempts: %s", LLM_MAX_ATTEMPTS,
                      call->last_error);
            return -EIO;
        }
        if (llm_sleep_ms(call->c, llm_fail_backoff_ms(call->attempts)) < 0)
            return -ECANCELED;
    }
}

int llm_complete(struct llm_client *c, enum llm_role role, const char *node, const char *prompt,
                 char **reply, char *err, size_t errlen)
{
    struct llm_call call = {.c = c, .role = (uint32_t)role, .node = node, .prompt = prompt};
    *reply = NULL;
    if (!llm_role_exists(c, call.role)) {
        util_errf(err, errlen, "no credential has role %s",
                  role == LLM_ROLE_REVIEW ? "review" : "draft");
        return -ENOKEY;
    }
    call.tokens_est = llm_tokens_estimate(c, call.role, prompt);
    int ret = llm_loop(&call, reply, err, errlen);
    llm_set_waiting(&call, 0);
    if (ret == -ECANCELED)
        util_errf(err, errlen, "cancelled: the run is shutting down");
    llm_flush(c);
    return ret;
}
