/*
 * test_retry.c - Retry-After parsing, Gemini RetryInfo / daily quota
 * detection, and exponential backoff with jitter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delta_seconds),  cmocka_unit_test(test_clamp),
        cmocka_unit_test(test_garbage),        cmocka_unit_test(test_http_date),
        cmocka_unit_test(test_gemini_delay),   cmocka_unit_test(test_gemini_delay_bad),
        cmocka_unit_test(test_daily_quota),    cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_backoff_jitter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
