/*
 * test_retry.c - Retry-After parsing, Gemini RetryInfo / daily quota
 * detection / "retry in N s" messages, exponential backoff with jitter, and
 * the rate-limit headers: Go durations (OpenAI), RFC 3339 instants
 * (Anthropic), and reading both from a reply's header block.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "llm/ratelimit.h"
#include "llm/retry.h"

/* Sun, 06 Nov 1994 08:49:37 GMT */
#define T1994 784111777LL

static void test_delta_seconds(void **state)
{
    (void)state;
    assert_int_equal(retry_after_parse_ms("0", 0), 0);
    assert_int_equal(retry_after_parse_ms("12", 0), 12000);
    assert_int_equal(retry_after_parse_ms("  60 ", 0), 60000);
    assert_int_equal(retry_after_parse_ms("60\r\n", 0), 60000);
    assert_int_equal(retry_after_parse_ms("1.5", 0), 1500);
    assert_int_equal(retry_after_parse_ms("0.25", 0), 250);
}

static void test_clamp(void **state)
{
    (void)state;
    assert_int_equal(retry_after_parse_ms("600", 0), RETRY_MAX_MS);
    assert_int_equal(retry_after_parse_ms("601", 0), RETRY_MAX_MS);
    assert_int_equal(retry_after_parse_ms("86400", 0), RETRY_MAX_MS);
}

static void test_garbage(void **state)
{
    (void)state;
    const char *bad[] = {"abc",
                         "",
                         "   ",
                         "-5",
                         "+5",
                         "5s",
                         "1e3",
                         "0x10",
                         "1.",
                         ".5",
                         "1.5.2",
                         "99999999999999999999",
                         "inf",
                         "nan",
                         "Sun, 99 Foo",
                         "Sun, 06 Nov 1994 08:49:37 GMT trailing",
                         "Sun, 32 Nov 1994 08:49:37 GMT",
                         "Sun, 06 Nov 1994 25:49:37 GMT",
                         "5 5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v = retry_after_parse_ms(bad[i], T1994);
        if (v != -1)
            fail_msg("\"%s\" parsed as %lld", bad[i], (long long)v);
    }
    assert_int_equal(retry_after_parse_ms(NULL, 0), -1);
}

static void test_http_date(void **state)
{
    (void)state;
    /* the same instant in all three forms, 30 s ahead of now */
    int64_t now = T1994 - 30;
    assert_int_equal(retry_after_parse_ms("Sun, 06 Nov 1994 08:49:37 GMT", now), 30000);
    assert_int_equal(retry_after_parse_ms("Sunday, 06-Nov-94 08:49:37 GMT", now), 30000);
    assert_int_equal(retry_after_parse_ms("Sun Nov  6 08:49:37 1994", now), 30000);
    assert_int_equal(retry_after_parse_ms(" Sun, 06 Nov 1994 08:49:37 GMT ", now), 30000);
    /* past and present -> 0 */
    assert_int_equal(retry_after_parse_ms("Sun, 06 Nov 1994 08:49:37 GMT", T1994), 0);
    assert_int_equal(retry_after_parse_ms("Sun, 06 Nov 1994 08:49:37 GMT", T1994 + 3600), 0);
    /* far future -> clamped */
    assert_int_equal(retry_after_parse_ms("Sun, 06 Nov 1994 08:49:37 GMT", T1994 - 7200),
                     RETRY_MAX_MS);
    assert_int_equal(retry_after_parse_ms("Fri, 01 Jan 2100 00:00:00 GMT", T1994), RETRY_MAX_MS);
}

#define GEMINI_RETRY(d)                                                                            \
    "{\"error\":{\"code\":429,\"status\":\"RESOURCE_EXHAUSTED\",\"details\":["                     \
    "{\"@type\":\"type.googleapis.com/google.rpc.Help\"},"                                         \
    "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":" d "}]}}"

static int64_t gem(const char *body)
{
    return retry_gemini_delay_ms(body, strlen(body));
}

static void test_gemini_delay(void **state)
{
    (void)state;
    assert_int_equal(gem(GEMINI_RETRY("\"12s\"")), 12000);
    assert_int_equal(gem(GEMINI_RETRY("\"2.5s\"")), 2500);
    assert_int_equal(gem(GEMINI_RETRY("\"0.5s\"")), 500);
    assert_int_equal(gem(GEMINI_RETRY("\"0s\"")), 0);
    assert_int_equal(gem(GEMINI_RETRY("\"9000s\"")), RETRY_MAX_MS);
    /* the array-wrapped form */
    assert_int_equal(gem("[" GEMINI_RETRY("\"3s\"") "]"), 3000);
}

static void test_gemini_delay_bad(void **state)
{
    (void)state;
    assert_int_equal(gem(GEMINI_RETRY("\"12\"")), -1);
    assert_int_equal(gem(GEMINI_RETRY("\"1m\"")), -1);
    assert_int_equal(gem(GEMINI_RETRY("\"-3s\"")), -1);
    assert_int_equal(gem(GEMINI_RETRY("\"abc\"")), -1);
    assert_int_equal(gem(GEMINI_RETRY("12")), -1);
    assert_int_equal(gem(GEMINI_RETRY("\"999999999999999999999999s\"")), -1);
    assert_int_equal(gem("{\"error\":{\"code\":429,\"details\":[]}}"), -1);
    assert_int_equal(gem("{\"error\":{\"code\":429}}"), -1);
    assert_int_equal(gem("{\"error\":{\"details\":{\"a\":1}}}"), -1);
    assert_int_equal(gem("{\"error\": {\"details\": [ {\"@type\": "), -1);
    assert_int_equal(gem("not json"), -1);
    assert_int_equal(gem("[]"), -1);
    assert_int_equal(retry_gemini_delay_ms(NULL, 0), -1);
    assert_int_equal(retry_gemini_delay_ms("", 0), -1);
}

static int daily(const char *body)
{
    return retry_gemini_is_daily_quota(body, strlen(body));
}

static void test_daily_quota(void **state)
{
    (void)state;
    const char *per_day = "{\"error\":{\"code\":429,\"details\":[{\"@type\":"
                          "\"type.googleapis.com/google.rpc.QuotaFailure\",\"violations\":["
                          "{\"quotaMetric\":\"generativelanguage.googleapis.com/"
                          "generate_content_free_tier_requests\",\"quotaId\":"
                          "\"GenerateRequestsPerDayPerProjectPerModel-FreeTier\"}]}]}}";
    const char *metric_only = "{\"error\":{\"details\":[{\"@type\":\"x.QuotaFailure\","
                              "\"violations\":[{\"quotaMetric\":\"requests_perday\"}]}]}}";
    const char *per_minute = "{\"error\":{\"details\":[{\"@type\":\"x.QuotaFailure\","
                             "\"violations\":[{\"quotaId\":\"GenerateRequestsPerMinute\"}]}]}}";
    const char *wrong_type = "{\"error\":{\"details\":[{\"@type\":\"x.RetryInfo\","
                             "\"violations\":[{\"quotaId\":\"RequestsPerDay\"}]}]}}";
    assert_int_equal(daily(per_day), 1);
    assert_int_equal(daily(metric_only), 1);
    assert_int_equal(daily(per_minute), 0);
    assert_int_equal(daily(wrong_type), 0);
    assert_int_equal(daily(GEMINI_RETRY("\"12s\"")), 0);
    assert_int_equal(daily("garbage"), 0);
    assert_int_equal(retry_gemini_is_daily_quota(NULL, 0), 0);
}

static void test_backoff(void **state)
{
    (void)state;
    const uint32_t mid = 1u << 31; /* factor exactly 1.0 */
    assert_int_equal(retry_backoff_ms(0, mid), 1000);
    assert_int_equal(retry_backoff_ms(1, mid), 2000);
    assert_int_equal(retry_backoff_ms(2, mid), 4000);
    assert_int_equal(retry_backoff_ms(5, mid), 32000);
    assert_int_equal(retry_backoff_ms(9, mid), 512000);
    assert_int_equal(retry_backoff_ms(10, mid), RETRY_MAX_MS);
    assert_int_equal(retry_backoff_ms(63, mid), RETRY_MAX_MS);
    assert_int_equal(retry_backoff_ms(64, mid), RETRY_MAX_MS);
    assert_int_equal(retry_backoff_ms(4000000000u, 0xffffffffu), RETRY_MAX_MS);
}

static void test_backoff_jitter(void **state)
{
    (void)state;
    for (unsigned a = 0; a < 12; a++) {
        int64_t base = a >= 10 ? RETRY_MAX_MS : 1000LL << a;
        int64_t lo = retry_backoff_ms(a, 0), hi = retry_backoff_ms(a, 0xffffffffu);
        assert_int_equal(lo, base * 3 / 4);
        assert_true(hi <= base * 5 / 4 && hi <= RETRY_MAX_MS);
        assert_true(hi >= base * 5 / 4 - 1 || hi == RETRY_MAX_MS);
        for (uint32_t r = 1; r < 1000; r++) {
            int64_t v = retry_backoff_ms(a, r * 4294967u);
            assert_true(v >= lo && v <= hi);
        }
    }
    /* different random inputs give different delays */
    assert_int_not_equal(retry_backoff_ms(3, 1000000), retry_backoff_ms(3, 3000000000u));
}

static void test_go_duration(void **state)
{
    (void)state;
    assert_int_equal(retry_go_duration_ms("1s"), 1000);
    assert_int_equal(retry_go_duration_ms("6m0s"), 360000);
    assert_int_equal(retry_go_duration_ms("20ms"), 20);
    assert_int_equal(retry_go_duration_ms("1m30.5s"), 90500);
    assert_int_equal(retry_go_duration_ms("0s"), 0);
    assert_int_equal(retry_go_duration_ms("0"), 0);
    assert_int_equal(retry_go_duration_ms("2.58s"), 2580);
    assert_int_equal(retry_go_duration_ms("950ms"), 950);
    assert_int_equal(retry_go_duration_ms("1.5us"), 1);  /* rounded up: never early */
    assert_int_equal(retry_go_duration_ms("1500ns"), 1); /* the same */
    assert_int_equal(retry_go_duration_ms("3\xc2\xb5s"), 1);
    assert_int_equal(retry_go_duration_ms("1h0m0s"), RETRY_MAX_MS); /* clamped */
    assert_int_equal(retry_go_duration_ms(" 2s\r"), 2000);
    assert_int_equal(retry_go_duration_ms(".5s"), 500); /* Go's spelling allows both */
    assert_int_equal(retry_go_duration_ms("1.s"), 1000);
    const char *bad[] = {
        "",  "s", "1", "1x", "-1s", "1s2", ".s", "1 s", "soon", "1e3s", "99999999999999999999h",
        NULL};
    for (int i = 0; bad[i]; i++)
        if (retry_go_duration_ms(bad[i]) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
}

static void test_rfc3339(void **state)
{
    (void)state;
    int64_t now = T1994 * 1000; /* 1994-11-06T08:49:37Z */
    assert_int_equal(retry_rfc3339_delay_ms("1994-11-06T08:49:40Z", now), 3000);
    assert_int_equal(retry_rfc3339_delay_ms("1994-11-06T08:49:37.250Z", now), 250);
    assert_int_equal(retry_rfc3339_delay_ms("1994-11-06T09:49:40+01:00", now), 3000);
    assert_int_equal(retry_rfc3339_delay_ms("1994-11-06T07:49:40-01:00", now), 3000);
    assert_int_equal(retry_rfc3339_delay_ms("1994-11-06T08:49:30Z", now), 0); /* past */
    assert_int_equal(retry_rfc3339_delay_ms("2094-11-06T08:49:30Z", now), RETRY_MAX_MS);
    const char *bad[] = {"",
                         "1994-11-06",
                         "1994-11-06T08:49:40",
                         "1994-11-06T08:49:40.Z",
                         "1994-11-06T08:49:40+0100",
                         "1994-11-06 08:49:40Z",
                         "soon",
                         NULL};
    for (int i = 0; bad[i]; i++)
        if (retry_rfc3339_delay_ms(bad[i], now) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
}

static void test_gemini_message_delay(void **state)
{
    (void)state;
    const char *b = "{\"error\":{\"code\":429,\"message\":\"...limit: 10\\nPlease retry in "
                    "26.566897451s.\",\"status\":\"RESOURCE_EXHAUSTED\"}}";
    assert_int_equal(retry_gemini_message_delay_ms(b, strlen(b)), 26567);
    b = "[{\"error\":{\"message\":\"Please retry in 500ms.\"}}]";
    assert_int_equal(retry_gemini_message_delay_ms(b, strlen(b)), 500);
    b = "{\"error\":{\"message\":\"Please retry in a while.\"}}";
    assert_int_equal(retry_gemini_message_delay_ms(b, strlen(b)), -1);
    b = "{\"error\":{\"message\":\"Please retry in 5 minutes.\"}}";
    assert_int_equal(retry_gemini_message_delay_ms(b, strlen(b)), -1);
    assert_int_equal(retry_gemini_message_delay_ms("{}", 2), -1);
    assert_int_equal(retry_gemini_message_delay_ms("not json", 8), -1);
}

static void reply_with(struct http_reply *r, const char *headers)
{
    memset(r, 0, sizeof(*r));
    strncpy(r->headers, headers, sizeof(r->headers) - 1);
}

static void test_ratelimit_headers(void **state)
{
    (void)state;
    struct http_reply r;
    struct llm_ratelimit rl;
    reply_with(&r, "HTTP/1.1 200 OK\r\nx-ratelimit-limit-requests: 30\r\n"
                   "x-ratelimit-remaining-requests: 0\r\nx-ratelimit-reset-requests: 1.95s\r\n"
                   "x-ratelimit-limit-tokens: 0.5\r\nx-ratelimit-remaining-tokens: 120\r\n"
                   "x-ratelimit-reset-tokens: 6m0s\r\n");
    ratelimit_read(&r, 0, &rl);
    assert_true(rl.limit_requests == 30 && rl.limit_tokens == 0.5);
    assert_int_equal(rl.remaining_requests, 0);
    assert_int_equal(rl.reset_requests_ms, 1950);
    assert_int_equal(rl.remaining_tokens, 120);
    assert_int_equal(rl.reset_tokens_ms, 360000);
    assert_int_equal(ratelimit_rest_ms(&rl), 1950); /* requests ran out, tokens did not */

    reply_with(&r, "HTTP/1.1 200 OK\r\nanthropic-ratelimit-requests-limit: 50\r\n"
                   "anthropic-ratelimit-requests-remaining: 3\r\n"
                   "anthropic-ratelimit-requests-reset: 1994-11-06T08:49:38Z\r\n"
                   "anthropic-ratelimit-tokens-remaining: 0\r\n"
                   "anthropic-ratelimit-tokens-reset: 1994-11-06T08:49:47.5Z\r\n");
    ratelimit_read(&r, T1994 * 1000, &rl);
    assert_true(rl.limit_requests == 50 && rl.limit_tokens < 0);
    assert_int_equal(rl.remaining_requests, 3);
    assert_int_equal(rl.reset_requests_ms, 1000);
    assert_int_equal(ratelimit_rest_ms(&rl), 10500);

    reply_with(&r, "HTTP/1.1 200 OK\r\nx-ratelimit-remaining-requests: -1\r\n"
                   "x-ratelimit-reset-requests: 1s\r\n");
    ratelimit_read(&r, 0, &rl);
    assert_int_equal(rl.remaining_requests, -1); /* not understood: as if not sent */
    assert_int_equal(ratelimit_rest_ms(&rl), -1);
    reply_with(&r, "HTTP/1.1 200 OK\r\nx-ratelimit-remaining-requests: 0\r\n");
    ratelimit_read(&r, 0, &rl);
    assert_int_equal(ratelimit_rest_ms(&rl), -1); /* nothing left, but no reset told */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delta_seconds),     cmocka_unit_test(test_clamp),
        cmocka_unit_test(test_garbage),           cmocka_unit_test(test_http_date),
        cmocka_unit_test(test_gemini_delay),      cmocka_unit_test(test_gemini_delay_bad),
        cmocka_unit_test(test_daily_quota),       cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_backoff_jitter),    cmocka_unit_test(test_go_duration),
        cmocka_unit_test(test_rfc3339),           cmocka_unit_test(test_gemini_message_delay),
        cmocka_unit_test(test_ratelimit_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
