/*
 * limits.c - the provider trouble agentos-mockllm simulates before serving.
 *
 * A request that reached a key passes the admission checks in a fixed order:
 * --max-requests (503), --deny-key (401/403), --daily-quota (Gemini's per-day 429,
 * no delay told), --always-429 (a 1 s delay), then the per-key rate limit, a token
 * bucket (--rpm, --key-rpm). A 429 tells its delay as --retry-style says (seconds,
 * an HTTP date, Gemini's RetryInfo or nothing), and the instant told is remembered
 * per key so a later request that arrives before it counts as early_requests. All
 * of it runs under mock_st.mu.
 */
#include "tools/mockllm/mockllm.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "shm/util.h"

/* Arrival jitter forgiven by the rate limiter and by early-request accounting. */
#define MOCK_GRACE_NS (50 * UTIL_NS_PER_MS)
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

/*
 * Answers 429 for key k, which could be served again in delay_ns. What the client is
 * told depends on --retry-style; the instant told is remembered for early-request
 * accounting. The Gemini route (and style gemini-body) always gets a Gemini body whose
 * retryDelay names the same instant as the header, so the two never disagree.
 */
static void mock_429_locked(struct mock_reply *rp, struct mock_key *k, int gemini, int64_t now,
                            int64_t delay_ns)
{
    int64_t told_ns = -1; /* delay told, -1 = nothing told */
    if (mock_cfg.style == STYLE_SECONDS) {
        long long secs = (delay_ns + UTIL_NS_PER_SEC - 1) / UTIL_NS_PER_SEC;
        secs = secs < 1 ? 1 : secs;
        snprintf(rp->retry_after, sizeof(rp->retry_after), "%lld", secs);
        told_ns = secs * UTIL_NS_PER_SEC;
    } else if (mock_cfg.style == STYLE_HTTP_DATE) {
        int64_t real = util_now_real_ns();
        time_t at = (time_t)((real + delay_ns + UTIL_NS_PER_SEC - 1) / UTIL_NS_PER_SEC);
        struct tm tm;
        gmtime_r(&at, &tm);
        strftime(rp->retry_after, sizeof(rp->retry_after), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        told_ns = (int64_t)at * UTIL_NS_PER_SEC - real;
    } else if (mock_cfg.style == STYLE_GEMINI_BODY) {
        told_ns = delay_ns;
    }
    if (told_ns >= 0)
        k->wait_until_ns = now + told_ns;
    if (!gemini && mock_cfg.style != STYLE_GEMINI_BODY) {
        mock_error(rp, 0, 429, "Rate limit reached for requests (agentos-mockllm --rpm)");
        return;
    }
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

/*
 * The rate limit: a token bucket of capacity max(1, rpm/60) refilled continuously at
 * rpm/60 tokens a second, in its GCRA form (one "theoretical arrival time" per key).
 * Up to MOCK_GRACE_NS of arrival jitter is forgiven, so a client pacing at exactly the
 * budget is not punished for scheduling noise; the sustained rate is still exact.
 * Returns 0 and takes a token, or the delay until a token is available.
 */
static int64_t mock_bucket_locked(struct mock_key *k, double rpm, int64_t now)
{
    double per_ns = 60e9 / rpm, cap = rpm / 60.0 < 1 ? 1 : rpm / 60.0;
    int64_t burst = (int64_t)((cap - 1) * per_ns);
    int64_t tat = k->tat_ns > now ? k->tat_ns : now;
    if (tat - now > burst + MOCK_GRACE_NS)
        return tat - burst - now;
    k->tat_ns = tat + (int64_t)per_ns;
    return 0;
}

void mock_note_arrival_locked(struct mock_key *k, int64_t now)
{
    if (k->wait_until_ns && now < k->wait_until_ns - MOCK_GRACE_NS) {
        k->early++;
        mock_st.c.early++;
    }
}

int mock_gate_locked(struct mock_reply *rp, struct mock_key *k, int gemini, int64_t now)
{
    if (mock_cfg.max_requests >= 0 && mock_st.c.requests > (uint64_t)mock_cfg.max_requests) {
        mock_error(rp, gemini, 503, "agentos-mockllm --max-requests reached");
        return 1;
    }
    const struct mock_kv *deny = mock_kv_find(mock_cfg.deny, mock_cfg.n_deny, k->key);
    if (deny) {
        mock_error(rp, gemini, (unsigned)deny->val,
                   deny->val == 401 ? "API key not valid" : "Permission denied for this key");
        return 1;
    }
    if (mock_list_has(mock_cfg.daily, mock_cfg.n_daily, k->key)) {
        mock_daily_quota(rp);
        return 1;
    }
    if (mock_list_has(mock_cfg.always_429, mock_cfg.n_always_429, k->key)) {
        mock_429_locked(rp, k, gemini, now, UTIL_NS_PER_SEC);
        return 1;
    }
    const struct mock_kv *kr = mock_kv_find(mock_cfg.key_rpm, mock_cfg.n_key_rpm, k->key);
    double rpm = kr ? kr->val : mock_cfg.rpm;
    int64_t delay = rpm > 0 ? mock_bucket_locked(k, rpm, now) : 0;
    if (delay > 0) {
        mock_429_locked(rp, k, gemini, now, delay);
        return 1;
    }
    return 0;
}
