/*
 * llm_reply.c - what a reply means (see llm.h for the policy): for the key
 * (ok, rate-limited for how long, disabled), for the endpoint's breaker
 * (answered, failing, says nothing), and for the item (done, try again, an
 * attempt spent, rejected for good). Each path ends the reservation exactly
 * once through llm_end, counts the request, writes its audit record and puts
 * the exchange in the item's log, scrubbed of every secret of the pool.
 */
#include "llm/llm_reply.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/ratelimit.h"
#include "llm/retry.h"
#include "shm/breaker.h"
#include "shm/util.h"

#define LLM_LOG_BODY_MAX 4000 /* bytes of an error body copied to the item log */
#define LLM_SCRUBBED "[REDACTED]"

size_t llm_scrub(const struct cred_file *cf, char *text)
{
    size_t n = 0;
    for (size_t i = 0; cf && text && i < cf->n; i++) {
        const char *s = cf->v[i].secret;
        size_t sl = s ? strlen(s) : 0;
        if (sl < 4)
            continue; /* too short to tell from ordinary text */
        for (char *p = strstr(text, s); p; p = strstr(p, s), n++) {
            if (sl >= sizeof(LLM_SCRUBBED) - 1) {
                memcpy(p, LLM_SCRUBBED, sizeof(LLM_SCRUBBED) - 1);
                memmove(p + sizeof(LLM_SCRUBBED) - 1, p + sl, strlen(p + sl) + 1);
                p += sizeof(LLM_SCRUBBED) - 1;
            } else {
                memset(p, '*', sl);
                p += sl;
            }
        }
    }
    return n;
}

/* 1 if text is empty or only white space: not a reply. */
static int llm_blank(const char *text)
{
    for (; text && *text; text++)
        if (!isspace((unsigned char)*text))
            return 0;
    return 1;
}

/* The exchange's reply in the item log: the text, the transport error, or the body (cut). */
static void llm_log_reply(struct llm_call *call, const struct http_reply *r, const char *text)
{
    struct llm_client *c = call->c;
    char title[160];
    util_errf(title, sizeof(title), "LLM reply (HTTP %ld, %ld ms)", r->status, r->latency_ms);
    if (text || !r->body) {
        llm_exchange(c, title, text ? text : r->error);
        return;
    }
    size_t n = r->body_len < LLM_LOG_BODY_MAX ? r->body_len : LLM_LOG_BODY_MAX;
    char *cut = strndup(r->body, n);
    if (cut) {
        llm_scrub(c->creds, cut); /* an error page may echo the key (some proxies do) */
        llm_exchange(c, title, cut);
    }
    free(cut);
}

/* Delay for a 429: retry-after-ms, Retry-After, the provider's hint, else backoff (SPEC 6). */
static int64_t llm_429_delay(struct llm_call *call, int idx, const struct http_reply *r,
                             const struct provider_error *pe)
{
    const struct llm_clock *k = call->c->clock ? call->c->clock : &llm_clock_system;
    char v[128];
    int64_t ms = -1;
    if (http_reply_header(r, "retry-after-ms", v, sizeof(v)))
        ms = retry_after_ms_parse(v);
    if (ms < 0 && http_reply_header(r, "retry-after", v, sizeof(v)))
        ms = retry_after_parse_ms(v, k->real_s(k->arg));
    if (ms < 0)
        ms = pe->retry_ms;
    /* "retry now" on a 429 would have us hammer the server: treat it as no hint */
    return ms > 0 ? ms : llm_backoff_ms(call, idx);
}

/* "HTTP 400 exceed_context_size_error: request (1048 tokens) exceeds ...", scrubbed. */
static void llm_rejection(struct llm_call *call, long status, const struct provider_error *pe)
{
    char *e = call->last_error;
    size_t len = sizeof(call->last_error);
    if (pe->type[0] && pe->message[0])
        util_errf(e, len, "HTTP %ld %s: %s", status, pe->type, pe->message);
    else if (pe->type[0] || pe->message[0])
        util_errf(e, len, "HTTP %ld %s", status, pe->type[0] ? pe->type : pe->message);
    else
        util_errf(e, len, "HTTP %ld", status);
    llm_scrub(call->c->creds, e);
}

static int llm_retryable_4xx(long status)
{
    return status == 408 || status == 409 || status == 429;
}

/*
 * A 2xx's usage: into the item's counters and cost, the key's counters
 * (through cred_end) and the correction of the token charge.
 */
static void llm_count_tokens(struct llm_client *c, const struct credential *cr,
                             const struct llm_usage *u, struct cred_end *e)
{
    int64_t in = u->input_tokens > 0 ? u->input_tokens : 0;
    int64_t out = u->output_tokens > 0 ? u->output_tokens : 0;
    c->input_tokens += in;
    c->output_tokens += out;
    if (cr->price_input >= 0)
        c->cost += ((double)in * cr->price_input + (double)out * cr->price_output) / 1e6;
    e->input_tokens = in;
    e->output_tokens = out;
    /* a reply that reports no usage leaves the estimate charged */
    e->tokens_used = u->input_tokens >= 0 || u->output_tokens >= 0 ? in + out : -1;
}

/*
 * What the reply's rate-limit headers say, for the key: a rest when nothing
 * is left (until the reset they gave), and the limits they announce, which
 * pace a key configured without rpm / tpm.
 */
static void llm_read_limits(struct llm_call *call, const struct http_reply *r, struct cred_end *e)
{
    struct llm_ratelimit rl;
    ratelimit_read(r, llm_real_ms(call->c), &rl);
    int64_t rest = ratelimit_rest_ms(&rl);
    if (rest > 0)
        e->rest_until_ns = llm_now(call->c) + rest * UTIL_NS_PER_MS;
    if (rl.limit_requests > 0)
        e->learned_rpm = rl.limit_requests < 1
                             ? 1
                             : (uint32_t)(rl.limit_requests > 1e9 ? 1e9 : rl.limit_requests);
    if (rl.limit_tokens > 0)
        e->learned_tpm =
            rl.limit_tokens < 1 ? 1 : (uint32_t)(rl.limit_tokens > 1e9 ? 1e9 : rl.limit_tokens);
}

/* A 2xx: the text, or a failed attempt (unreadable or empty). */
static enum llm_step llm_reply_ok(struct llm_call *call, int idx, struct http_reply *r,
                                  char **reply, struct llm_usage *u, struct cred_end *e)
{
    struct llm_client *c = call->c;
    const struct credential *cr = &c->creds->v[idx];
    char err[256] = "";
    int parsed = cr->proto->parse(r->body, r->body_len, reply, u, err, sizeof(err));
    llm_count_tokens(c, cr, u, e); /* an empty reply was billed too */
    if (parsed == 0 && !llm_blank(*reply)) {
        llm_scrub(c->creds, *reply);
        e->outcome = CRED_OK;
        return LLM_STEP_DONE;
    }
    if (*reply) /* an empty or blank text: an error of this request, retried like a 5xx */
        util_errf(err, sizeof(err), "empty reply from %s", cr->id);
    free(*reply);
    *reply = NULL;
    util_strlcpy(call->last_error, err, sizeof(call->last_error));
    e->outcome = CRED_FAILED;
    return LLM_STEP_FAILED;
}

enum llm_step llm_reply_classify(struct llm_call *call, int idx, struct http_reply *r, char **reply)
{
    struct llm_client *c = call->c;
    const struct credential *cr = &c->creds->v[idx];
    long st = r->status;
    struct llm_usage u = {-1, -1};
    struct provider_error pe = {.retry_ms = -1};
    struct cred_end e = {.endpoint = st >= 500 ? BREAKER_FAILURE : BREAKER_SUCCESS,
                         .latency_ms = (uint32_t)r->latency_ms,
                         .tokens_charged = call->tokens_est,
                         .tokens_used = 0}; /* a refusal costs nothing; a 2xx says what it did */
    enum llm_step step;
    char reason[96];

    llm_read_limits(call, r, &e);
    if (!(st >= 200 && st < 300))
        cr->proto->explain(st, r->body, r->body_len, &pe);
    if (st >= 200 && st < 300) {
        step = llm_reply_ok(call, idx, r, reply, &u, &e);
    } else if (st == 429 && pe.kind == PROVIDER_ERR_QUOTA_GONE) {
        util_errf(reason, sizeof(reason), "%s", pe.type[0] ? pe.type : "daily quota");
        e.outcome = CRED_DISABLE;
        e.reason = !strcmp(cr->proto->name, "gemini") ? "daily quota" : reason;
        e.endpoint = BREAKER_NEUTRAL;
        step = LLM_STEP_AGAIN;
    } else if (st == 429) {
        e.outcome = CRED_RATE_LIMIT;
        e.retry_at_ns = llm_now(c) + llm_429_delay(call, idx, r, &pe) * UTIL_NS_PER_MS;
        e.endpoint = BREAKER_NEUTRAL;
        step = LLM_STEP_AGAIN;
    } else if (st == 401 || st == 403 || pe.kind == PROVIDER_ERR_KEY_INVALID) {
        util_errf(reason, sizeof(reason), "HTTP %ld%s%s", st, pe.kind ? " " : "",
                  pe.kind ? "API_KEY_INVALID" : "");
        e.outcome = CRED_DISABLE;
        e.reason = reason;
        step = LLM_STEP_AGAIN;
    } else if (st >= 400 && st < 500 && !llm_retryable_4xx(st)) {
        llm_rejection(call, st, &pe);
        e.outcome = CRED_OK; /* the key is fine: the request was not */
        step = LLM_STEP_REJECTED;
    } else {
        util_errf(call->last_error, sizeof(call->last_error), "HTTP %ld", st);
        if (st == 529 && pe.type[0])
            util_errf(call->last_error, sizeof(call->last_error), "HTTP %ld %s", st, pe.type);
        /* 529 "overloaded": the server's trouble, counted by its endpoint's breaker only */
        e.outcome = st == 529 ? CRED_OK : CRED_FAILED;
        step = LLM_STEP_FAILED;
    }
    llm_end(c, idx, &e);
    llm_count_request(c, st == 429);
    llm_audit(call, "llm_request", cr->id, st, r->latency_ms,
              step == LLM_STEP_DONE                                 ? NULL
              : step == LLM_STEP_AGAIN && e.outcome == CRED_DISABLE ? e.reason
              : step == LLM_STEP_AGAIN                              ? "rate limited"
                                                                    : call->last_error,
              &u);
    llm_log_reply(call, r, step == LLM_STEP_DONE ? *reply : NULL);
    return step;
}

enum llm_step llm_reply_transport(struct llm_call *call, int idx, const struct http_reply *r,
                                  int rc)
{
    struct llm_client *c = call->c;
    const struct credential *cr = &c->creds->v[idx];
    struct cred_end e = {.latency_ms = (uint32_t)r->latency_ms};
    if (rc == -ECANCELED) {
        e.outcome = CRED_ABANDONED;
        e.endpoint = BREAKER_NEUTRAL;
        e.tokens_charged = call->tokens_est;
        e.tokens_used = -1;
        llm_end(c, idx, &e);
        llm_audit(call, "llm_request", cr->id, -1, r->latency_ms, "cancelled", NULL);
        return LLM_STEP_CANCELLED;
    }
    /* out of descriptors or memory here: nothing reached the key or its endpoint */
    int local = rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM;
    e.outcome = local ? CRED_ABANDONED : CRED_FAILED;
    e.endpoint = local ? BREAKER_NEUTRAL : BREAKER_FAILURE;
    e.tokens_charged = call->tokens_est;
    e.tokens_used = local ? 0 : -1; /* the server may have done the work: keep the charge */
    llm_end(c, idx, &e);
    if (!local)
        llm_count_request(c, 0);
    util_strlcpy(call->last_error, r->error[0] ? r->error : strerror(-rc),
                 sizeof(call->last_error));
    llm_audit(call, "llm_request", cr->id, r->status, r->latency_ms, call->last_error, NULL);
    llm_log_reply(call, r, NULL);
    return LLM_STEP_FAILED;
}
