/*
 * test_llm_reply.c - what real servers' replies mean (SPEC 6a), each class
 * with a real reply body: the llama-server bodies captured in
 * tests/corpus/replies/llama-server/, and the documented shapes of OpenAI,
 * Gemini and Anthropic errors. On the injected clock of llm_fixture.h:
 * rejected requests fail at once with the provider's words (one line, no
 * secret), quota-gone keys are disabled and never asked again, rate limits
 * rest for the time told, Anthropic's 529 is the endpoint's failure and not
 * the key's. Also: the generation settings reach each protocol's body,
 * usage is counted per item and per key, rate-limit headers make a key rest
 * and learn its pace, and a tpm budget is charged and corrected.
 */
#include <math.h>
#include <time.h>

#include "tests/unit/llm_fixture.h"

/* A captured llama-server body (read from the corpus; the test runs from the tree's root). */
static char *llama_body(const char *name)
{
    char path[256], *buf = NULL;
    size_t n;
    snprintf(path, sizeof(path), "tests/corpus/replies/llama-server/%s.json", name);
    assert_int_equal(util_read_file(path, 1 << 20, &buf, &n), 0);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return buf;
}

/* llm_complete on the draft role with prompt p: rc, and err / reply. */
static int complete(struct fx *f, const char *p, char *err, size_t errlen)
{
    char *reply = NULL;
    int rc = llm_complete(&f->c, LLM_ROLE_DRAFT, "N1_design", p, &reply, err, errlen);
    free(reply);
    return rc;
}

static int64_t gap_ms(int a, int b)
{
    return (M.at_ns[b] - M.at_ns[a]) / UTIL_NS_PER_MS;
}

/* ---- errors a retry cannot fix: rejected after exactly one request ------------------------ */

static void expect_rejected(struct fx *f, int status, const char *body, const char *want)
{
    struct mock_reply r[] = {{status, NULL, body}, {200, NULL, openai_ok}};
    mock_script(2, r);
    char err[512] = "";
    assert_int_equal(complete(f, "p", err, sizeof(err)), -EBADRQC);
    assert_string_equal(err, want);
    assert_int_equal(M.requests, 1); /* never retried */
    assert_int_equal(f->c.requests, 1);
    assert_int_equal(slot_of(f, 0)->st.state, CRED_AVAILABLE); /* the key is fine */
}

static void test_llama_exceed_context(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    char *b = llama_body("400-exceed-context");
    expect_rejected(f, 400, b,
                    "LLM request rejected: HTTP 400 exceed_context_size_error: request (328 "
                    "tokens) exceeds the available context size (256 tokens), try increasing it");
    free(b);
    assert_output_has(f, "\"error\":\"HTTP 400 exceed_context_size_error: request (328 tokens)");
}

static void test_llama_invalid_request(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    char *b = llama_body("400-no-messages");
    expect_rejected(f, 400, b,
                    "LLM request rejected: HTTP 400 invalid_request_error: 'messages' is required");
    free(b);
}

static void test_llama_not_found(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    char *b = llama_body("404-unknown-route");
    expect_rejected(f, 404, b, "LLM request rejected: HTTP 404 not_found_error: File Not Found");
    free(b);
}

static void test_llama_401_disables(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 2, "openai");
    char *b = llama_body("401-wrong-key");
    struct mock_reply r[] = {{401, NULL, b}, {200, NULL, openai_ok}};
    mock_script(2, r);
    char err[256] = "";
    assert_int_equal(complete(f, "p", err, sizeof(err)), 0);
    assert_int_equal(M.requests, 2);
    assert_string_not_equal(M.auth[0], M.auth[1]);
    int bad = slot_of(f, 0)->st.state == CRED_DISABLED ? 0 : 1;
    assert_int_equal(slot_of(f, bad)->st.state, CRED_DISABLED);
    assert_string_equal(slot_of(f, bad)->st.disabled_reason, "HTTP 401");
    free(b);
}

static void test_llama_500_retried(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    char *b = llama_body("500-invalid-json");
    struct mock_reply r[] = {{500, NULL, b}};
    mock_script(1, r);
    char err[256] = "";
    assert_int_equal(complete(f, "p", err, sizeof(err)), -EIO);
    assert_string_equal(err, "LLM request failed after 5 attempts: HTTP 500");
    assert_int_equal(M.requests, LLM_MAX_ATTEMPTS);
    free(b);
}

/* The provider's words are one line and never carry a secret of the pool. */
static void test_rejection_one_line_scrubbed(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 2, "openai");
    expect_rejected(f, 422,
                    "{\"error\":{\"type\":\"invalid_request_error\",\"message\":\"key " SECRET
                    "-1 may not\\nuse this model\"}}",
                    "LLM request rejected: HTTP 422 invalid_request_error: key [REDACTED] may not "
                    "use this model");
}

/* ---- OpenAI: insufficient_quota disables; rate_limit_exceeded rests ------------------------ */

static const char openai_no_credit[] =
    "{\"error\":{\"message\":\"You exceeded your current quota, please check your plan and "
    "billing details. For more information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors.\",\"type\":"
    "\"insufficient_quota\",\"param\":null,\"code\":\"insufficient_quota\"}}";

static void test_openai_insufficient_quota(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    struct mock_reply r[] = {{429, NULL, openai_no_credit}, {200, NULL, openai_ok}};
    mock_script(2, r);
    /* the only key is gone for the run: the item waits for a reload, never asks again */
    assert_int_equal(complete_until(f, 30000), -ECANCELED);
    assert_int_equal(M.requests, 1);
    assert_int_equal(slot_of(f, 0)->st.state, CRED_DISABLED);
    assert_string_equal(slot_of(f, 0)->st.disabled_reason, "insufficient_quota");
    assert_output_has(f, "[COORDINATOR] Key key-0 disabled: insufficient_quota");
}

static void test_openai_rate_limit_rests(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    struct mock_reply r[] = {
        {429, NULL,
         "{\"error\":{\"message\":\"Rate limit reached for gpt-4o in organization org-x on "
         "requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.\","
         "\"type\":\"requests\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}"},
        {200, NULL, openai_ok}};
    mock_script(2, r);
    mock_headers(0, "retry-after-ms: 1500\nRetry-After: 2\n");
    char err[256] = "";
    assert_int_equal(complete(f, "p", err, sizeof(err)), 0);
    assert_int_equal(M.requests, 2);
    /* retry-after-ms before Retry-After: 1.5 s, not 2 s */
    assert_true(gap_ms(0, 1) >= 1500 && gap_ms(0, 1) < 2000);
    assert_int_equal(f->c.http_429, 1);
    assert_int_equal(slot_of(f, 0)->st.state, CRED_AVAILABLE);
}

/* ---- Gemini: per-day quota disables, per-minute rests ------------------------------------- */

static void test_gemini_daily_quota(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "gemini");
    struct mock_reply r[] = {
        {429, NULL,
         "{\"error\":{\"code\":429,\"message\":\"You exceeded your current quota, please check "
         "your plan and billing details.\\n* Quota exceeded for metric: "
         "generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 50\","
         "\"status\":\"RESOURCE_EXHAUSTED\",\"details\":[{\"@type\":\"type.googleapis.com/"
         "google.rpc.QuotaFailure\",\"violations\":[{\"quotaMetric\":\"generativelanguage."
         "googleapis.com/generate_content_free_tier_requests\",\"quotaId\":"
         "\"GenerateRequestsPerDayPerProjectPerModel-FreeTier\"}]},{\"@type\":\"type."
         "googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"32s\"}]}}"},
        {200, NULL, gemini_ok}};
    mock_script(2, r);
    assert_int_equal(complete_until(f, 60000), -ECANCELED);
    assert_int_equal(M.requests, 1); /* a RetryInfo beside a per-day quota does not bring it back */
    assert_int_equal(slot_of(f, 0)->st.state, CRED_DISABLED);
    assert_string_equal(slot_of(f, 0)->st.disabled_reason, "daily quota");
}

static void gemini_minute(struct fx *f, const char *body, int64_t lo_ms, int64_t hi_ms)
{
    fx_keys(f, 1, "gemini");
    struct mock_reply r[] = {{429, NULL, body}, {200, NULL, gemini_ok}};
    mock_script(2, r);
    char err[256] = "";
    assert_int_equal(complete(f, "p", err, sizeof(err)), 0);
    assert_int_equal(M.requests, 2);
    if (gap_ms(0, 1) < lo_ms || gap_ms(0, 1) > hi_ms)
        fail_msg("rested %lld ms, want %lld..%lld", (long long)gap_ms(0, 1), (long long)lo_ms,
                 (long long)hi_ms);
}

#define GEMINI_MINUTE_QUOTA                                                                        \
    "{\"@type\":\"type.googleapis.com/google.rpc.QuotaFailure\",\"violations\":[{"                 \
    "\"quotaId\":\"GenerateRequestsPerMinutePerProjectPerModel-FreeTier\"}]}"

static void test_gemini_minute_retry_info(void **state)
{
    gemini_minute(*state,
                  "{\"error\":{\"code\":429,\"message\":\"Please retry in 9s.\",\"status\":"
                  "\"RESOURCE_EXHAUSTED\",\"details\":[" GEMINI_MINUTE_QUOTA
                  ",{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":"
                  "\"3s\"}]}}",
                  3000, 3200); /* RetryInfo first */
}

static void test_gemini_minute_message(void **state)
{
    gemini_minute(*state,
                  "{\"error\":{\"code\":429,\"message\":\"You exceeded your current quota, please "
                  "check your plan and billing details.\\n* Quota exceeded for metric: "
                  "generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: "
                  "10, model: gemini-2.0-flash\\nPlease retry in 2.566897451s.\",\"status\":"
                  "\"RESOURCE_EXHAUSTED\",\"details\":[" GEMINI_MINUTE_QUOTA "]}}",
                  2567, 2800);
}

static void test_gemini_minute_backoff(void **state)
{
    gemini_minute(*state,
                  "{\"error\":{\"code\":429,\"message\":\"Resource has been exhausted (e.g. check "
                  "quota).\",\"status\":\"RESOURCE_EXHAUSTED\"}}",
                  750, 1250 + 200); /* backoff from 1 s, +-25 % */
}

static void test_gemini_bad_key_400_disables(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 2, "gemini");
    struct mock_reply r[] = {
        {400, NULL,
         "{\"error\":{\"code\":400,\"message\":\"API key not valid. Please pass a valid API "
         "key.\",\"status\":\"INVALID_ARGUMENT\",\"details\":[{\"@type\":\"type.googleapis.com/"
         "google.rpc.ErrorInfo\",\"reason\":\"API_KEY_INVALID\",\"domain\":\"googleapis.com\"}]}}"},
        {200, NULL, gemini_ok}};
    mock_script(2, r);
    char err[256] = "";
    assert_int_equal(complete(f, "p", err, sizeof(err)), 0);
    assert_int_equal(M.requests, 2);
    int bad = slot_of(f, 0)->st.state == CRED_DISABLED ? 0 : 1;
    assert_string_equal(slot_of(f, bad)->st.disabled_reason, "HTTP 400 API_KEY_INVALID");
}

/* ---- Anthropic: the protocol, 529 against the endpoint, 429 rests, 400 rejected ----------- */

static const char anthropic_ok[] =
    "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":"
    "[{\"type\":\"thinking\",\"thinking\":\"hm\"},{\"type\":\"text\",\"text\":\"claude says\"}],"
    "\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":12,\"output_tokens\":7}}";
static const char anthropic_overloaded[] =
    "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}";

static void test_anthropic_protocol(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "anthropic");
    struct mock_reply r[] = {{200, NULL, anthropic_ok}};
    mock_script(1, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "hello", &reply, err, sizeof(err)),
                     0);
    assert_string_equal(reply, "claude says"); /* the first block of type text */
    free(reply);
    assert_string_equal(M.last_url, "/v1/v1/messages");
    assert_string_equal(M.last_version, "2023-06-01");
    assert_string_equal(M.auth[0], SECRET "-0"); /* x-api-key */
    assert_string_equal(M.last_body, "{\"model\":\"m\",\"max_tokens\":4096,\"messages\":[{\"role\":"
                                     "\"user\",\"content\":\"hello\"}]}");
    assert_int_equal(f->c.input_tokens, 12);
    assert_int_equal(f->c.output_tokens, 7);
}

static void test_anthropic_529_is_the_endpoints(void **state)
{
    struct fx *f = *state;
    fx_keys_endpoint_with(f, 1, "anthropic", "");
    struct mock_reply r[] = {{529, NULL, anthropic_overloaded},
                             {529, NULL, anthropic_overloaded},
                             {200, NULL, anthropic_ok}};
    mock_script(3, r);
    char err[256] = "";
    assert_int_equal(complete(f, "p", err, sizeof(err)), 0);
    assert_int_equal(M.requests, 3);
    assert_true(gap_ms(0, 1) >= 187 && gap_ms(1, 2) >= 375); /* backoff between attempts */
    struct endpoint_sh *e = shm_endpoint_slot(&f->seg, 0);
    assert_int_equal(atomic_load(&e->failures), 2);
    assert_int_equal(atomic_load(&slot_of(f, 0)->errors), 0); /* never the key's */
    assert_int_equal(slot_of(f, 0)->st.state, CRED_AVAILABLE);
    assert_int_equal(f->c.http_429, 0);
}

static void test_anthropic_529_five_times_fails(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "anthropic");
    struct mock_reply r[] = {{529, NULL, anthropic_overloaded}};
    mock_script(1, r);
    char err[256] = "";
    assert_int_equal(complete(f, "p", err, sizeof(err)), -EIO);
    assert_string_equal(err, "LLM request failed after 5 attempts: HTTP 529 overloaded_error");
    assert_int_equal(slot_of(f, 0)->st.state, CRED_AVAILABLE);
}

static void test_anthropic_429_rests(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "anthropic");
    struct mock_reply r[] = {
        {429, "2",
         "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"This "
         "request would exceed the rate limit for your organization of 50 requests per "
         "minute.\"}}"},
        {200, NULL, anthropic_ok}};
    mock_script(2, r);
    char err[256] = "";
    assert_int_equal(complete(f, "p", err, sizeof(err)), 0);
    assert_true(gap_ms(0, 1) >= 2000 && gap_ms(0, 1) <= 2200);
    assert_int_equal(f->c.http_429, 1);
}

static void test_anthropic_400_rejected(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "anthropic");
    expect_rejected(f, 400,
                    "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":"
                    "\"prompt is too long: 250000 tokens > 200000 maximum\"}}",
                    "LLM request rejected: HTTP 400 invalid_request_error: prompt is too long: "
                    "250000 tokens > 200000 maximum");
}

/* ---- generation settings reach each protocol's body --------------------------------------- */

#define SETTINGS                                                                                   \
    ",\"max_tokens\":50,\"temperature\":0.25,\"system\":\"be brief\",\"extra\":{\"seed\":7},"      \
    "\"roles\":{\"draft\":{},\"review\":{\"max_tokens\":9}}"

static void body_of(struct fx *f, const char *provider, const char *ok, const char *want)
{
    fx_keys_with(f, 1, provider, SETTINGS);
    struct mock_reply r[] = {{200, NULL, ok}};
    mock_script(1, r);
    char err[256] = "";
    assert_int_equal(complete(f, "hi", err, sizeof(err)), 0);
    assert_string_equal(M.last_body, want);
}

static void test_settings_openai(void **state)
{
    body_of(*state, "openai", openai_ok,
            "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
            "{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":50,\"temperature\":0.25,"
            "\"seed\":7}");
}

static void test_settings_gemini(void **state)
{
    body_of(*state, "gemini", gemini_ok,
            "{\"contents\":[{\"parts\":[{\"text\":\"hi\"}],\"role\":\"user\"}],"
            "\"systemInstruction\":{\"parts\":[{\"text\":\"be brief\"}]},\"generationConfig\":{"
            "\"maxOutputTokens\":50,\"temperature\":0.25},\"seed\":7}");
}

static void test_settings_anthropic(void **state)
{
    body_of(*state, "anthropic", anthropic_ok,
            "{\"model\":\"m\",\"max_tokens\":50,\"messages\":[{\"role\":\"user\",\"content\":"
            "\"hi\"}],\"system\":\"be brief\",\"temperature\":0.25,\"seed\":7}");
}

static void test_settings_per_role_and_azure(void **state)
{
    struct fx *f = *state;
    fx_keys_with(f, 1, "azure", SETTINGS);
    struct mock_reply r[] = {{200, NULL, openai_ok}};
    mock_script(1, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_REVIEW, "N2", "x", &reply, err, sizeof(err)), 0);
    free(reply);
    assert_string_equal(M.last_url,
                        "/v1/openai/deployments/m/chat/completions?api-version=2024-10-21");
    assert_string_equal(M.auth[0], SECRET "-0");              /* api-key: header */
    assert_non_null(strstr(M.last_body, "\"max_tokens\":9")); /* the review role's */
}

/* ---- tokens: per item, per key, cost ------------------------------------------------------ */

static void test_usage_counted(void **state)
{
    struct fx *f = *state;
    fx_keys_with(f, 1, "openai", ",\"price\":{\"input\":2,\"output\":10}");
    char *b = llama_body("200-chat-completion"); /* usage 31 in, 16 out */
    struct mock_reply r[] = {{200, NULL, b}};
    mock_script(1, r);
    char err[256] = "";
    assert_int_equal(complete(f, "p", err, sizeof(err)), 0);
    assert_int_equal(complete(f, "p", err, sizeof(err)), 0);
    free(b);
    assert_int_equal(f->c.input_tokens, 62);
    assert_int_equal(f->c.output_tokens, 32);
    assert_true(fabs(f->c.cost - (62 * 2.0 + 32 * 10.0) / 1e6) < 1e-12);
    assert_int_equal(atomic_load(&slot_of(f, 0)->input_tokens), 62);
    assert_int_equal(atomic_load(&slot_of(f, 0)->output_tokens), 32);
    assert_output_has(f, "\"input_tokens\":31,\"output_tokens\":16");
}

/* An empty reply is retried, but its tokens were billed: they count. */
static void test_empty_reply_tokens_count(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    struct mock_reply r[] = {
        {200, NULL,
         "{\"choices\":[{\"message\":{\"content\":\" \"}}],\"usage\":{\"prompt_tokens\":5,"
         "\"completion_tokens\":0}}"},
        {200, NULL,
         "{\"choices\":[{\"message\":{\"content\":\"x\"}}],\"usage\":{\"prompt_tokens\":5,"
         "\"completion_tokens\":1}}"}};
    mock_script(2, r);
    char err[256] = "";
    assert_int_equal(complete(f, "p", err, sizeof(err)), 0);
    assert_int_equal(M.requests, 2);
    assert_int_equal(f->c.input_tokens, 10);
    assert_int_equal(f->c.output_tokens, 1);
    assert_int_equal(atomic_load(&slot_of(f, 0)->input_tokens), 10);
}

/* ---- rate-limit headers: rest before a 429, learn the pace --------------------------------- */

static void test_openai_headers_rest_and_pace(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    struct mock_reply r[] = {{200, NULL, openai_ok}, {200, NULL, openai_ok}};
    mock_script(2, r);
    mock_headers(0, "x-ratelimit-limit-requests: 30\nx-ratelimit-remaining-requests: 0\n"
                    "x-ratelimit-reset-requests: 1.95s\n");
    char err[256] = "";
    assert_int_equal(complete(f, "p", err, sizeof(err)), 0);
    const struct cred_slot_sh *k = slot_of(f, 0);
    assert_int_equal(k->st.learned_rpm, 30);
    assert_int_equal(k->st.rpm, 0);
    assert_int_equal(atomic_load(&k->rests), 1);
    assert_int_equal(k->st.state, CRED_AVAILABLE); /* a rest is pacing, not a rate limit */
    assert_int_equal(complete(f, "p", err, sizeof(err)), 0);
    /* no request before the reset; then the learned pace (30/min: one per 2 s) */
    assert_true(gap_ms(0, 1) >= 1950 && gap_ms(0, 1) <= 2100);
    assert_int_equal(f->c.http_429, 0);
    assert_int_equal(atomic_load(&k->http_429), 0);
}

static void test_anthropic_headers_rest(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "anthropic");
    /* the fake wall clock is 1700000000 s + the fake monotonic clock */
    time_t at = (time_t)(fake_real_ms(NULL) / 1000) + 3;
    struct tm tm;
    gmtime_r(&at, &tm);
    char hdrs[256], when[40];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S.500Z", &tm);
    snprintf(hdrs, sizeof(hdrs),
             "anthropic-ratelimit-tokens-limit: 40000\nanthropic-ratelimit-tokens-remaining: 0\n"
             "anthropic-ratelimit-tokens-reset: %s\n",
             when);
    struct mock_reply r[] = {{200, NULL, anthropic_ok}, {200, NULL, anthropic_ok}};
    mock_script(2, r);
    mock_headers(0, hdrs);
    char err[256] = "";
    assert_int_equal(complete(f, "p", err, sizeof(err)), 0);
    assert_int_equal(slot_of(f, 0)->st.learned_tpm, 40000);
    assert_int_equal(complete(f, "p", err, sizeof(err)), 0);
    /* the fake clock stands on a whole second when the headers are made: 3.5 s */
    assert_true(gap_ms(0, 1) >= 3500 && gap_ms(0, 1) <= 3700);
}

static void test_headers_garbage_ignored(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    struct mock_reply r[] = {{200, NULL, openai_ok}, {200, NULL, openai_ok}};
    mock_script(2, r);
    mock_headers(0, "x-ratelimit-remaining-requests: 0\nx-ratelimit-reset-requests: soon\n");
    char err[256] = "";
    assert_int_equal(complete(f, "p", err, sizeof(err)), 0);
    assert_int_equal(complete(f, "p", err, sizeof(err)), 0);
    assert_true(gap_ms(0, 1) < 50); /* no reset understood: no rest */
    assert_int_equal(atomic_load(&slot_of(f, 0)->rests), 0);
}

/* ---- tpm: charged by an estimate, corrected by the usage ---------------------------------- */

static void test_tpm_budget(void **state)
{
    struct fx *f = *state;
    /* 600 tokens a minute; a 400-byte prompt (100) + max_tokens 400 = 500 charged */
    fx_keys_with(f, 1, "anthropic", ",\"tpm\":600,\"max_tokens\":400");
    struct mock_reply r[] = {
        {200, NULL,
         "{\"content\":[{\"type\":\"text\",\"text\":\"ok\"}],\"usage\":{\"input_tokens\":100,"
         "\"output_tokens\":450}}"},
        {200, NULL, anthropic_ok}};
    mock_script(2, r);
    char prompt[401], err[256] = "";
    memset(prompt, 'a', 400);
    prompt[400] = '\0';
    assert_int_equal(complete(f, prompt, err, sizeof(err)), 0);
    /* corrected: 600 - 550 used = 50 left, not 600 - 500 = 100 */
    assert_true(fabs(slot_of(f, 0)->st.tpm_tokens - 50.0) < 0.5);
    assert_int_equal(complete(f, prompt, err, sizeof(err)), 0);
    /* the next 500 waited for (500 - 50) / (600 / 60) = 45 s of refill */
    assert_true(gap_ms(0, 1) >= 45000 && gap_ms(0, 1) <= 45300);
    /* this reply said 19 tokens: 500 - 19 = 481 come back */
    assert_true(fabs(slot_of(f, 0)->st.tpm_tokens - 481.0) < 0.5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_llama_exceed_context),
        T(test_llama_invalid_request),
        T(test_llama_not_found),
        T(test_llama_401_disables),
        T(test_llama_500_retried),
        T(test_rejection_one_line_scrubbed),
        T(test_openai_insufficient_quota),
        T(test_openai_rate_limit_rests),
        T(test_gemini_daily_quota),
        T(test_gemini_minute_retry_info),
        T(test_gemini_minute_message),
        T(test_gemini_minute_backoff),
        T(test_gemini_bad_key_400_disables),
        T(test_anthropic_protocol),
        T(test_anthropic_529_is_the_endpoints),
        T(test_anthropic_529_five_times_fails),
        T(test_anthropic_429_rests),
        T(test_anthropic_400_rejected),
        T(test_settings_openai),
        T(test_settings_gemini),
        T(test_settings_anthropic),
        T(test_settings_per_role_and_azure),
        T(test_usage_counted),
        T(test_empty_reply_tokens_count),
        T(test_openai_headers_rest_and_pace),
        T(test_anthropic_headers_rest),
        T(test_headers_garbage_ignored),
        T(test_tpm_budget),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
