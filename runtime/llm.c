/*
 * llm.c - the LLM client workflows call (see llm.h for the policy).
 *
 * Invariant: a key reserved through cred_reserve is released exactly once on
 * every path out of llm_try (success, any failure, cancellation), so a worker
 * never sits on a request slot it is not using, and the key's endpoint breaker
 * hears of every reservation's end (a half-open probe that sent nothing hands
 * its turn on, so no endpoint waits on a probe that never comes). The only state carried from one
 * try to the next lives in struct llm_call: attempts spent (429s and disabled
 * keys spend none), consecutive hint-less 429s, and whether the item is shown
 * as waiting for a key.
 *
 * Waiting (no key eligible) is a poll: sleep until the earliest time a key may
 * be usable (at most 200 ms), then ask again. Every sleep is cut into short
 * steps that check the stop flag and the run state, so shutdown is never held
 * up by a backoff.
 */
#include "runtime/llm.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/http.h"
#include "runtime/retry.h"
#include "runtime/util.h"
#include "shm/breaker.h"
#include "shm/cred.h"

#define LLM_WAIT_MAX_MS 200    /* longest single wait for a key before asking again */
#define LLM_WAIT_UNKNOWN_MS 25 /* all slots reserved: no known time, poll briskly */
#define LLM_SLEEP_STEP_MS 50   /* granularity of stop checks while sleeping */
#define LLM_FAIL_BASE_MS 250   /* backoff after a failed (non-429) attempt */
#define LLM_FAIL_CAP_MS 5000
#define LLM_SIMULATED_DELAY_MS 1000
#define LLM_LOG_BODY_MAX 4000 /* bytes of an error body copied to the item log */

/* Outcome of one try with one key. */
enum llm_step {
    LLM_STEP_DONE,      /* *reply filled */
    LLM_STEP_AGAIN,     /* 429 or key disabled: try again, no attempt spent */
    LLM_STEP_FAILED,    /* attempt spent; call->last_error says why */
    LLM_STEP_CANCELLED, /* shutdown */
};

struct llm_call {
    struct llm_client *c;
    uint32_t role;
    const char *node;
    const char *prompt;
    unsigned attempts;
    unsigned hintless_429;
    int waiting;
    char last_error[256];
};

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
    if (c->log)
        log_flush(c->log);
}

/* Sleep ms in short steps; -ECANCELED as soon as the run is stopping. */
/* Every wait (for a key, a rate limit, a backoff) goes through here and is
 * counted in c->waited_ns: it is the pool's time, not the node's. */
static int llm_sleep_ms(struct llm_client *c, int64_t ms)
{
    llm_flush(c);
    int64_t start = util_now_mono_ns();
    int64_t end = start + ms * UTIL_NS_PER_MS;
    int rc = 0;
    for (;;) {
        if (llm_stopping(c)) {
            rc = -ECANCELED;
            break;
        }
        int64_t left = end - util_now_mono_ns();
        if (left <= 0)
            break;
        util_sleep_ns(
            left < LLM_SLEEP_STEP_MS * UTIL_NS_PER_MS ? left : LLM_SLEEP_STEP_MS * UTIL_NS_PER_MS);
    }
    c->waited_ns += util_now_mono_ns() - start;
    return rc;
}

static void llm_audit(struct llm_call *call, const char *event, const char *key, long status,
                      long latency_ms, const char *error)
{
    if (!call->c->log)
        return;
    struct audit_fields f = AUDIT_FIELDS_INIT;
    f.node = call->node;
    f.key = key;
    f.http_status = status > 0 ? status : -1;
    f.latency_ms = latency_ms;
    f.error = error && *error ? error : NULL;
    log_audit(call->c->log, event, &f);
}

static void llm_set_waiting(struct llm_call *call, int waiting)
{
    if (call->waiting == waiting)
        return;
    call->waiting = waiting;
    if (waiting)
        llm_audit(call, "wait_key", NULL, -1, -1, NULL);
    if (call->c->on_wait)
        call->c->on_wait(call->c->on_wait_arg, waiting);
}

static void llm_count_request(struct llm_client *c, int is_429)
{
    c->requests++;
    atomic_fetch_add(&c->seg->hdr->requests_total, 1);
    if (is_429) {
        c->http_429++;
        atomic_fetch_add(&c->seg->hdr->http_429_total, 1);
    }
}

/* Release key idx as rate-limited for delay_ms and say so on the console. */
static void llm_rate_limited(struct llm_call *call, int idx, int64_t delay_ms, uint32_t latency)
{
    struct llm_client *c = call->c;
    int64_t retry_at = util_now_mono_ns() + delay_ms * UTIL_NS_PER_MS;
    cred_release(c->seg, (uint32_t)idx, c->pid, CRED_RATE_LIMIT, retry_at, NULL, latency);
    if (c->log)
        log_coordinator(c->log,
                        "Rate limit hit on %s. Backing off for %llds. Redistributing work...",
                        c->creds->v[idx].id, (long long)((delay_ms + 999) / 1000));
}

static void llm_disable(struct llm_call *call, int idx, const char *reason, uint32_t latency)
{
    struct llm_client *c = call->c;
    cred_release(c->seg, (uint32_t)idx, c->pid, CRED_DISABLE, 0, reason, latency);
    if (c->log)
        log_coordinator(c->log, "Key %s disabled: %s", c->creds->v[idx].id, reason);
}

/* Delay for a 429: Retry-After, else Gemini RetryInfo, else backoff (SPEC 6). */
static int64_t llm_429_delay(struct llm_call *call, int idx, const struct http_reply *r)
{
    int64_t ms = -1;
    if (r->retry_after[0])
        ms = retry_after_parse_ms(r->retry_after, (int64_t)time(NULL));
    if (ms < 0 && call->c->creds->v[idx].provider == PROVIDER_GEMINI)
        ms = retry_gemini_delay_ms(r->body, r->body_len);
    /* "retry now" on a 429 would have us hammer the server: treat it as no hint */
    if (ms > 0)
        return ms;
    /* the key's own streak of hint-less 429s, or ours if cred.c does not keep one */
    unsigned exp = call->hintless_429++;
    struct cred_slot_sh *slot = shm_cred_slot(call->c->seg, (uint32_t)idx);
    if (cred_lock(slot) == 0) {
        if (slot->backoff_exp > exp)
            exp = slot->backoff_exp;
        cred_unlock(slot);
    }
    return retry_backoff_ms(exp, llm_random());
}

/* Tell the key's endpoint breaker how the request went; say so if it opened. */
static void llm_breaker(struct llm_client *c, int idx, enum breaker_outcome outcome)
{
    int ep = cred_key_endpoint(c->seg, (uint32_t)idx);
    int64_t cooldown = 0;
    uint32_t n = 0;
    if (ep < 0 ||
        !breaker_report(c->seg, (uint32_t)ep, c->pid, outcome, util_now_mono_ns(), &cooldown, &n))
        return;
    if (c->log)
        log_coordinator(c->log,
                        "Endpoint %s failing (%u errors in a row); no requests to it for %llds",
                        shm_endpoint_slot(c->seg, (uint32_t)ep)->url, n,
                        (long long)(cooldown / UTIL_NS_PER_SEC));
}

/* 5xx says the endpoint is in trouble; a 429 is about the key; anything else: it answered. */
static enum breaker_outcome llm_breaker_outcome(long status)
{
    if (status >= 500)
        return BREAKER_FAILURE;
    return status == 429 ? BREAKER_NEUTRAL : BREAKER_SUCCESS;
}

static void llm_log_reply(struct llm_client *c, const struct http_reply *r, const char *text,
                          const char *secret)
{
    if (!c->log)
        return;
    char title[160];
    snprintf(title, sizeof(title), "LLM reply (HTTP %ld, %ld ms)", r->status, r->latency_ms);
    if (text) {
        log_file_only(c->log, title, text);
        return;
    }
    if (!r->body) {
        log_file_only(c->log, title, r->error);
        return;
    }
    size_t n = r->body_len < LLM_LOG_BODY_MAX ? r->body_len : LLM_LOG_BODY_MAX;
    char *cut = strndup(r->body, n);
    /* an error page that echoes the key (some proxies do) must not reach the log */
    if (cut && secret && strlen(secret) >= 4 && strstr(cut, secret))
        log_file_only(c->log, title, "(error body withheld: it quotes the API key)");
    else if (cut)
        log_file_only(c->log, title, cut);
    free(cut);
}

/* Classify a reply that arrived; releases the key. */
static enum llm_step llm_classify(struct llm_call *call, int idx, struct http_reply *r,
                                  char **reply)
{
    struct llm_client *c = call->c;
    const struct credential *cr = &c->creds->v[idx];
    uint32_t lat = (uint32_t)r->latency_ms;
    char err[256] = "";
    enum llm_step step;

    if (r->status >= 200 && r->status < 300 &&
        http_extract_text(cr->provider, r->body, r->body_len, reply, err, sizeof(err)) == 0) {
        cred_release(c->seg, (uint32_t)idx, c->pid, CRED_OK, 0, NULL, lat);
        step = LLM_STEP_DONE;
    } else if (r->status == 429) {
        if (cr->provider == PROVIDER_GEMINI && retry_gemini_is_daily_quota(r->body, r->body_len))
            llm_disable(call, idx, "daily quota", lat);
        else
            llm_rate_limited(call, idx, llm_429_delay(call, idx, r), lat);
        step = LLM_STEP_AGAIN;
    } else if (r->status == 401 || r->status == 403) {
        snprintf(err, sizeof(err), "HTTP %ld", r->status);
        llm_disable(call, idx, err, lat);
        step = LLM_STEP_AGAIN;
    } else {
        if (r->status < 200 || r->status >= 300)
            snprintf(err, sizeof(err), "HTTP %ld", r->status);
        cred_release(c->seg, (uint32_t)idx, c->pid, CRED_FAILED, 0, NULL, lat);
        util_strlcpy(call->last_error, err, sizeof(call->last_error));
        step = LLM_STEP_FAILED;
    }
    llm_breaker(c, idx, llm_breaker_outcome(r->status));
    llm_count_request(c, r->status == 429);
    llm_audit(call, "llm_request", cr->id, r->status, r->latency_ms,
              step == LLM_STEP_DONE ? NULL : err);
    llm_log_reply(c, r, step == LLM_STEP_DONE ? *reply : NULL, cr->secret);
    return step;
}

/* One request on reserved key idx. Always releases the key. */
static enum llm_step llm_try(struct llm_call *call, int idx, char **reply)
{
    struct llm_client *c = call->c;
    if (c->simulate_429_after >= 0 &&
        atomic_fetch_add(&c->seg->hdr->simulate_429_used, 1) >= (uint64_t)c->simulate_429_after) {
        llm_rate_limited(call, idx, LLM_SIMULATED_DELAY_MS, 0);
        llm_breaker(c, idx, BREAKER_NEUTRAL);
        llm_count_request(c, 1);
        llm_audit(call, "http_429", c->creds->v[idx].id, 429, -1, "simulated 429");
        return LLM_STEP_AGAIN;
    }

    const struct credential *cr = &c->creds->v[idx];
    if (c->log) {
        char title[160];
        snprintf(title, sizeof(title), "LLM request (%s, key %s, attempt %u)", call->node, cr->id,
                 call->attempts + 1);
        log_file_only(c->log, title, call->prompt);
    }
    llm_flush(c);

    static volatile sig_atomic_t never;
    struct http_reply r;
    int rc = http_post_llm(cr, call->prompt, c->timeout_s, c->stop ? c->stop : &never, &r);
    if (rc == 0) {
        enum llm_step step = llm_classify(call, idx, &r, reply);
        http_reply_free(&r);
        return step;
    }
    uint32_t lat = (uint32_t)r.latency_ms;
    if (rc == -ECANCELED) {
        cred_release(c->seg, (uint32_t)idx, c->pid, CRED_ABANDONED, 0, NULL, lat);
        llm_breaker(c, idx, BREAKER_NEUTRAL);
        llm_audit(call, "llm_request", cr->id, -1, r.latency_ms, "cancelled");
        return LLM_STEP_CANCELLED;
    }
    cred_release(c->seg, (uint32_t)idx, c->pid, CRED_FAILED, 0, NULL, lat);
    llm_breaker(c, idx, BREAKER_FAILURE);
    llm_count_request(c, 0);
    util_strlcpy(call->last_error, r.error[0] ? r.error : strerror(-rc), sizeof(call->last_error));
    llm_audit(call, "llm_request", cr->id, r.status, r.latency_ms, call->last_error);
    llm_log_reply(c, &r, NULL, cr->secret);
    return LLM_STEP_FAILED;
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
        int64_t now = util_now_mono_ns();
        int idx = cred_reserve(c->seg, call->role, c->pid, now, &w);
        /*
         * The coordinator bumps the generation before it reloads the slots, so
         * a key that came back in a reload is seen together with the new
         * generation: give it back and take one again with the new secrets.
         */
        if (idx >= 0 && llm_refresh(c)) {
            cred_release(c->seg, (uint32_t)idx, c->pid, CRED_ABANDONED, 0, NULL, 0);
            llm_breaker(c, idx, BREAKER_NEUTRAL);
            continue;
        }
        if (idx >= 0) {
            llm_set_waiting(call, 0);
            if ((size_t)idx < c->creds->n)
                return idx;
            /* a slot with no loaded credential (pool reloaded under us): never use it */
            cred_release(c->seg, (uint32_t)idx, c->pid, CRED_ABANDONED, 0, NULL, 0);
            llm_breaker(c, idx, BREAKER_NEUTRAL);
            return -ENOKEY;
        }
        if (idx != -EAGAIN && idx != -ENOKEY)
            return idx;
        llm_set_waiting(call, 1);
        int64_t ms = LLM_WAIT_MAX_MS;
        if (idx == -EAGAIN) {
            ms = w.retry_at_ns > 0 ? (w.retry_at_ns - now + UTIL_NS_PER_MS - 1) / UTIL_NS_PER_MS
                                   : LLM_WAIT_UNKNOWN_MS;
            ms = ms < 1 ? 1 : ms > LLM_WAIT_MAX_MS ? LLM_WAIT_MAX_MS : ms;
        }
        if (llm_sleep_ms(c, ms) < 0)
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

int llm_complete(struct llm_client *c, enum llm_role role, const char *node, const char *prompt,
                 char **reply, char *err, size_t errlen)
{
    struct llm_call call = {.c = c, .role = (uint32_t)role, .node = node, .prompt = prompt};
    *reply = NULL;
    int ret;
    if (!llm_role_exists(c, call.role)) {
        snprintf(err, errlen, "no credential has role %s",
                 role == LLM_ROLE_REVIEW ? "review" : "draft");
        return -ENOKEY;
    }
    for (;;) {
        int idx = llm_reserve(&call);
        if (idx < 0) {
            ret = idx;
            if (idx == -ENOKEY)
                snprintf(err, errlen, "the credential pool changed under a request; reload it");
            else if (idx != -ECANCELED)
                snprintf(err, errlen, "could not reserve a key: %s", strerror(-idx));
            break;
        }
        enum llm_step step = llm_try(&call, idx, reply);
        if (step == LLM_STEP_DONE) {
            ret = 0;
            break;
        }
        if (step == LLM_STEP_CANCELLED) {
            ret = -ECANCELED;
            break;
        }
        if (step == LLM_STEP_AGAIN)
            continue;
        if (++call.attempts >= LLM_MAX_ATTEMPTS) {
            snprintf(err, errlen, "LLM request failed after %d attempts: %s", LLM_MAX_ATTEMPTS,
                     call.last_error);
            ret = -EIO;
            break;
        }
        if (llm_sleep_ms(c, llm_fail_backoff_ms(call.attempts)) < 0) {
            ret = -ECANCELED;
            break;
        }
    }
    llm_set_waiting(&call, 0);
    if (ret == -ECANCELED)
        snprintf(err, errlen, "cancelled: the run is shutting down");
    llm_flush(c);
    return ret;
}
