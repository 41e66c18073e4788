/*
 * test_llm_hostile.c - replies a provider should not send (issue 9), on the
 * injected clock of tests/unit/llm_fixture.h: an empty or blank 200 is an
 * error of that request (retried like a 5xx, then "empty reply from <key>"),
 * never a design; a 200 or an error body that quotes a key of the pool is
 * scrubbed before it is returned, logged or audited (the fixture's teardown
 * fails the test when "SECRET" reached any output). An endpoint cut off by
 * its circuit breaker: the failed probes that test it spend none of the
 * item's attempts, so the item waits for the endpoint however long it is
 * down, and goes on when it answers.
 */
#include "tests/unit/llm_fixture.h"

static const char openai_empty[] = "{\"choices\":[{\"message\":{\"content\":\"\"}}]}";
static const char openai_blank[] = "{\"choices\":[{\"message\":{\"content\":\" \\n\\t \\n\"}}]}";

static void expect_empty_fails(struct fx *f, const char *body)
{
    fx_keys(f, 1, "openai");
    struct mock_reply r[] = {{200, NULL, body}};
    mock_script(1, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)),
                     -EIO);
    assert_null(reply);
    assert_string_equal(err, "LLM request failed after 5 attempts: empty reply from key-0");
    assert_int_equal(M.requests, LLM_MAX_ATTEMPTS);
    /* retried like a 5xx: backed off between attempts (250+500+1000+2000 ms, +-25 %) */
    int64_t total_ms = (M.at_ns[4] - M.at_ns[0]) / UTIL_NS_PER_MS;
    assert_true(total_ms >= 3750 * 3 / 4 && total_ms <= 3750 * 5 / 4);
    assert_output_has(f, "\"error\":\"empty reply from key-0\"");
}

static void test_empty_reply_is_an_error(void **state)
{
    expect_empty_fails(*state, openai_empty);
}

static void test_blank_reply_is_an_error(void **state)
{
    expect_empty_fails(*state, openai_blank);
}

static void test_empty_then_text_succeeds(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    struct mock_reply r[] = {{200, NULL, openai_empty}, {200, NULL, openai_ok}};
    mock_script(2, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)), 0);
    assert_string_equal(reply, "the answer");
    free(reply);
    assert_int_equal(M.requests, 2);
}

static void test_quoted_key_in_200_is_scrubbed(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 2, "openai");
    /* the reply quotes both keys of the pool: the one sent and the other one */
    static const char body[] = "{\"choices\":[{\"message\":{\"content\":\"design; key " SECRET
                               "-0 and " SECRET "-1 end\"}}]}";
    struct mock_reply r[] = {{200, NULL, body}};
    mock_script(1, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)), 0);
    assert_string_equal(reply, "design; key [REDACTED] and [REDACTED] end");
    free(reply);
}

static void test_quoted_key_in_errors_is_scrubbed(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    static const char page[] = "<html>bad gateway; Authorization: Bearer " SECRET "-0</html>";
    static const char rejected[] =
        "{\"error\":{\"message\":\"key " SECRET
        "-0 may not use this model\",\"type\":\"invalid_request_error\"}}";
    struct mock_reply r[] = {{502, NULL, page}, {400, NULL, rejected}};
    mock_script(2, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)),
                     -EBADRQC);
    assert_string_equal(err, "LLM request rejected: HTTP 400 invalid_request_error: key [REDACTED] "
                             "may not use this model");
    assert_output_has(f, "Authorization: Bearer [REDACTED]");
}

static void test_failed_probes_spend_no_attempts(void **state)
{
    struct fx *f = *state;
    fx_keys_endpoint(f, 1);
    struct endpoint_sh *e = shm_endpoint_slot(&f->seg, 0);
    /* the endpoint was cut off by earlier failures (another item's) */
    atomic_store(&e->consecutive_failures, BREAKER_THRESHOLD);
    atomic_store(&e->open_until_ns, atomic_load(&FK.now) + BREAKER_COOLDOWN_NS);
    atomic_store(&e->state, BREAKER_OPEN);
    /* it stays down for 7 probes (5 s, 10 s, 20 s, 40 s, 60 s ... apart), then answers */
    struct mock_reply r[] = {{503, NULL, "down"}, {503, NULL, "down"},   {503, NULL, "down"},
                             {503, NULL, "down"}, {503, NULL, "down"},   {503, NULL, "down"},
                             {503, NULL, "down"}, {200, NULL, openai_ok}};
    mock_script(8, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)), 0);
    assert_string_equal(reply, "the answer");
    free(reply);
    assert_int_equal(M.requests, 8);
    /* one probe per cool-down, never two at once and never early */
    for (int i = 1; i < 8; i++)
        assert_true(M.at_ns[i] - M.at_ns[i - 1] >= BREAKER_COOLDOWN_NS);
    assert_int_equal(atomic_load(&e->state), BREAKER_CLOSED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_empty_reply_is_an_error),          T(test_blank_reply_is_an_error),
        T(test_empty_then_text_succeeds),         T(test_quoted_key_in_200_is_scrubbed),
        T(test_quoted_key_in_errors_is_scrubbed), T(test_failed_probes_spend_no_attempts),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
