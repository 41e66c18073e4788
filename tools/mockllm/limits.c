/*
 * limits.c - the provider trouble agentos-mockllm simulates before serving.
 *
 * A request that reached a key passes the admission checks in a fixed order:
 * --max-requests (503), --deny-key (401/403), --daily-quota (Gemini's per-day 429,
 * no delay told), --insufficient-quota (OpenAI's no-credit 429, no delay told),
 * --always-429 (a 1 s delay), then the per-key request and token buckets of
 * buckets.c (--rpm, --key-rpm, --tpm, --key-tpm), which are charged only when both
 * admit. A 429 tells its delay as --retry-style says (seconds, an HTTP date,
 * milliseconds, Gemini's RetryInfo or nothing), and the instant told is remembered
 * per key so a later request that arrives before it counts as early_requests. All
 * of it runs under mock_st.mu.
 */
#include "tools/mockllm/mockllm.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "shm/util.h"

/* "2.5s", "12s", "0.001s": Gemini's RetryInfo.retryDelay spelling. */
static void mock_delay_str(int64_t ns, char *out, size_t size)
{
    if (ns < UTIL_NS_PER_MS)
        ns = UTIL_NS_PER_MS;
    snprintf(out, size, "%.3f", (double)ns / 1e9);
    char *end = out + strlen(out);
    while (end[-1] == '0')
        *--end = '\0';
    if (end[-1] == '.')
        *--end = '\0';
    util_strlcpy(end, "s", size - (size_t)(end - out));
}

/* Sets rp's retry headers per --retry-style; returns the delay told (-1: none in a
 * header). A body-only style (gemini-body) is the caller's to tell. */
static int64_t mock_retry_headers(struct mock_reply *rp, int64_t delay_ns)
{
    if (mock_cfg.style == STYLE_SECONDS) {
        long long secs = (delay_ns + UTIL_NS_PER_SEC - 1) / UTIL_NS_PER_SEC;
        secs = secs < 1 ? 1 : secs;
        mock_reply_header(rp, "Retry-After", "%lld", secs);
        return secs * UTIL_NS_PER_SEC;
    }
    if (mock_cfg.style == STYLE_MS) {
        long long ms = (delay_ns + UTIL_NS_PER_MS - 1) / UTIL_NS_PER_MS;
        ms = ms < 1 ? 1 : ms;
        mock_reply_header(rp, "retry-after-ms", "%lld", ms);
        mock_reply_header(rp, "Retry-After", "%lld", (ms + 999) / 1000);
        return ms * UTIL_NS_PER_MS;
    }
    if (mock_cfg.style == STYLE_HTTP_DATE) {
        int64_t real = util_now_real_ns();
        time_t at = (time_t)((real + delay_ns + UTIL_NS_PER_SEC - 1) / UTIL_NS_PER_SEC);
        struct tm tm;
        char date[64];
        gmtime_r(&at, &tm);
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        mock_reply_header(rp, "Retry-After", "%s", date);
        return (int64_t)at * UTIL_NS_PER_SEC - real;
    }
    return -1;
}

/* A Gemini 429 body whose RetryInfo names told_ns (-1: no RetryInfo). */
static void mock_gemini_429(struct mock_reply *rp, int64_t told_ns)
{
    cJSON *details = NULL;
    cJSON *o = mock_gemini_error(429, "Resource has been exhausted (e.g. check quota).", &details);
    if (told_ns >= 0) {
        char d[32];
        mock_delay_str(told_ns, d, sizeof(d));
        cJSON *ri = cJSON_CreateObject();
        cJSON_AddStringToObject(ri, "@type", "type.googleapis.com/google.rpc.RetryInfo");
        cJSON_AddStringToObject(ri, "retryDelay", d);
        cJSON_AddItemToArray(details, ri);
    } else {
        cJSON_DeleteItemFromObject(cJSON_GetObjectItem(o, "error"), "details");
    }
    mock_reply_json(rp, 429, o);
}

/*
 * Answers 429 for key k, which could be served again in delay_ns (-1: never, nothing
 * told). What the client is told depends on --retry-style; the instant told is
 * remembered for early-request accounting. The Gemini route (and style gemini-body
 * on the OpenAI route) gets a Gemini body whose retryDelay names the same instant as
 * the header, so the two never disagree. type is OpenAI's "requests" or "tokens".
 */
static void mock_429_locked(struct mock_reply *rp, struct mock_key *k, enum mock_proto proto,
                            int64_t now, int64_t delay_ns, const char *type, const char *msg)
{
    int64_t told_ns = delay_ns < 0 ? -1 : mock_retry_headers(rp, delay_ns);
    int gemini_body =
        proto == PROTO_GEMINI || (proto == PROTO_OPENAI && mock_cfg.style == STYLE_GEMINI_BODY);
    if (delay_ns >= 0 && gemini_body && mock_cfg.style == STYLE_GEMINI_BODY)
        told_ns = delay_ns;
    if (told_ns >= 0)
        k->wait_until_ns = now + told_ns;
    if (gemini_body)
        mock_gemini_429(rp, told_ns);
    else if (proto == PROTO_ANTHROPIC)
        mock_anthropic_error(rp, 429, msg);
    else
        mock_reply_json(rp, 429, mock_openai_error(msg, type, "rate_limit_exceeded"));
}

/* Gemini's per-day quota: a 429 that does not come back within a run, no Retry-After. */
static void mock_daily_quota(struct mock_reply *rp)
{
    cJSON *details = NULL;
    cJSON *o = mock_gemini_error(429,
                                 "Quota exceeded for metric: generativelanguage.googleapis.com/"
                                 "generate_content_free_tier_requests, limit: 50",
                                 &details);
    cJSON *qf = cJSON_CreateObject(), *v = cJSON_CreateObject();
    cJSON_AddStringToObject(qf, "@type", "type.googleapis.com/google.rpc.QuotaFailure");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(qf, "violations"), v);
    cJSON_AddStringToObject(
        v, "quotaMetric", "generativelanguage.googleapis.com/generate_content_free_tier_requests");
    cJSON_AddStringToObject(v, "quotaId", "GenerateRequestsPerDayPerProjectPerModel");
    cJSON_AddItemToArray(details, qf);
    mock_reply_json(rp, 429, o);
}

/* A key without credit: OpenAI's insufficient_quota 429 (no delay told); Anthropic's
 * answer to the same is a 400, Gemini's its per-day quota. */
static void mock_no_credit(struct mock_reply *rp, enum mock_proto proto)
{
    if (proto == PROTO_GEMINI) {
        mock_daily_quota(rp);
    } else if (proto == PROTO_ANTHROPIC) {
        mock_anthropic_error(rp, 400,
                             "Your credit balance is too low to access the Anthropic API. "
                             "Please go to Plans & Billing to upgrade or purchase credits.");
    } else {
        mock_reply_json(
            rp, 429,
            mock_openai_error("You exceeded your current quota, please check your plan and "
                              "billing details. For more information on this error, read the "
                              "docs: https://platform.openai.com/docs/guides/error-codes/"
                              "api-errors.",
                              "insufficient_quota", "insufficient_quota"));
    }
}

void mock_note_arrival_locked(struct mock_key *k, int64_t now)
{
    if (k->wait_until_ns && now < k->wait_until_ns - MOCK_GRACE_NS) {
        k->early++;
        mock_st.c.early++;
    }
}

/* The buckets: both must admit; the longer wait is the one told. */
static int mock_buckets_gate_locked(struct mock_reply *rp, struct mock_key *k,
                                    enum mock_proto proto, double cost, int64_t now)
{
    double rpm = mock_key_rpm(k), tpm = mock_key_tpm(k);
    int64_t rwait = rpm > 0 ? mock_rpm_wait_locked(k, rpm, now) : 0;
    int64_t twait = tpm > 0 ? mock_tpm_wait_locked(k, tpm, cost, now) : 0;
    char msg[256], in[32];
    if (twait < 0) {
        snprintf(msg, sizeof(msg),
                 "Request too large for tokens per min (TPM): Limit %.15g, Requested %.0f. "
                 "The input or output tokens must be reduced in order to run successfully.",
                 tpm, cost);
        mock_429_locked(rp, k, proto, now, -1, "tokens", msg);
        return 1;
    }
    if (rwait == 0 && twait == 0) {
        mock_buckets_take_locked(k, rpm, tpm, cost, now);
        return 0;
    }
    int tokens = twait > rwait;
    mock_delay_str(tokens ? twait : rwait, in, sizeof(in));
    if (tokens)
        snprintf(msg, sizeof(msg),
                 "Rate limit reached for tokens per min (TPM): Limit %.15g, Requested %.0f. "
                 "Please try again in %s.",
                 tpm, cost, in);
    else
        snprintf(msg, sizeof(msg),
                 "Rate limit reached for requests per min (RPM): Limit %.15g, Requested 1. "
                 "Please try again in %s.",
                 rpm, in);
    mock_429_locked(rp, k, proto, now, tokens ? twait : rwait, tokens ? "tokens" : "requests", msg);
    return 1;
}

int mock_gate_locked(struct mock_reply *rp, struct mock_key *k, enum mock_proto proto, double cost,
                     int64_t now, int *limited)
{
    *limited = 0;
    if (mock_cfg.max_requests >= 0 && mock_st.c.requests > (uint64_t)mock_cfg.max_requests) {
        mock_error(rp, proto, 503, "agentos-mockllm --max-requests reached");
        return 1;
    }
    const struct mock_kv *deny = mock_kv_find(mock_cfg.deny, mock_cfg.n_deny, k->key);
    if (deny) {
        mock_error(rp, proto, (unsigned)deny->val,
                   deny->val == 401 ? "API key not valid" : "Permission denied for this key");
        return 1;
    }
    if (mock_list_has(mock_cfg.daily, mock_cfg.n_daily, k->key)) {
        mock_daily_quota(rp);
        return 1;
    }
    if (mock_list_has(mock_cfg.no_quota, mock_cfg.n_no_quota, k->key)) {
        mock_no_credit(rp, proto);
        return 1;
    }
    if (mock_list_has(mock_cfg.always_429, mock_cfg.n_always_429, k->key)) {
        mock_429_locked(rp, k, proto, now, UTIL_NS_PER_SEC, "requests",
                        "Rate limit reached for requests (agentos-mockllm --always-429)");
        return 1;
    }
    *limited = 1;
    return mock_buckets_gate_locked(rp, k, proto, cost, now);
}
