/*
 * test_llm.c - the LLM client on an injected clock (see tests/unit/llm_fixture.h):
 * 429 then 200 moves to another key and never fails; a rate-limited key gets
 * no request before its time; 503 five times fails with the SPEC message; 401
 * disables the key; a Gemini per-day quota disables the key;
 * AGENTOS_SIMULATE_429 answers without HTTP; shutdown cancels a wait.
 * No secret may reach the console, the log or the audit file.
 */
#include "tests/unit/llm_fixture.h"

static void test_success(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 2, "openai");
    struct mock_reply r[] = {{200, NULL, openai_ok}};
    mock_script(1, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(
        llm_complete(&f->c, LLM_ROLE_DRAFT, "N1_design", "prompt", &reply, err, sizeof(err)), 0);
    assert_string_equal(reply, "the answer");
    free(reply);
    assert_int_equal(f->c.requests, 1);
    assert_int_equal(f->c.http_429, 0);
    assert_int_equal(atomic_load(&f->seg.hdr->requests_total), 1);
    for (int i = 0; i < 2; i++)
        assert_int_equal(slot_of(f, i)->st.in_use, 0); /* released */
    assert_output_has(f, "\"event\":\"llm_request\"");
    assert_output_has(f, "\"http_status\":200");
    assert_output_has(f, "the answer");
}

static void test_429_moves_to_other_key(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 2, "openai");
    struct mock_reply r[] = {{429, "30", "{}"}, {200, NULL, openai_ok}};
    mock_script(2, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(
        llm_complete(&f->c, LLM_ROLE_REVIEW, "N2_review", "p", &reply, err, sizeof(err)), 0);
    assert_string_equal(reply, "the answer");
    free(reply);
    assert_int_equal(M.requests, 2);
    assert_string_not_equal(M.auth[0], M.auth[1]); /* the second went to the other key */
    assert_int_equal(f->c.requests, 2);
    assert_int_equal(f->c.http_429, 1);
    assert_int_equal(atomic_load(&f->seg.hdr->http_429_total), 1);
    assert_int_equal(f->waits_on, 0);
    int limited = slot_of(f, 0)->st.state == CRED_RATE_LIMITED ? 0 : 1;
    assert_int_equal(slot_of(f, limited)->st.state, CRED_RATE_LIMITED);
    assert_int_equal(slot_of(f, 1 - limited)->st.in_use, 0);
    char line[160];
    snprintf(line, sizeof(line),
             "[COORDINATOR] Rate limit hit on key-%d. Backing off for 30s. Redistributing work...",
             limited);
    assert_output_has(f, line);
    assert_output_has(f, "\"http_status\":429");
}

static void test_429_waits_for_its_time(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    struct mock_reply r[] = {{429, "1", "{}"}, {200, NULL, openai_ok}};
    mock_script(2, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)), 0);
    free(reply);
    assert_int_equal(M.requests, 2);
    /* the key rested exactly its Retry-After (on the client's clock), not a moment less */
    int64_t gap_ms = (M.at_ns[1] - M.at_ns[0]) / UTIL_NS_PER_MS;
    assert_true(gap_ms >= 1000 && gap_ms <= 1000 + 200);
    assert_int_equal(f->waits_on, 1);
    assert_int_equal(f->waits_off, 1);
    assert_output_has(f, "\"event\":\"wait_key\"");
}

static void test_429_zero_hint_backs_off(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    struct mock_reply r[] = {{429, "0", "{}"}, {200, NULL, openai_ok}};
    mock_script(2, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)), 0);
    free(reply);
    /* "retry now" is not honoured: backoff from 1 s, +-25 % */
    int64_t gap_ms = (M.at_ns[1] - M.at_ns[0]) / UTIL_NS_PER_MS;
    assert_true(gap_ms >= 750 && gap_ms <= 1250 + 200);
}

static void test_missing_role(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    f->creds.v[0].roles = CRED_ROLE_DRAFT;
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_REVIEW, "N2", "p", &reply, err, sizeof(err)),
                     -ENOKEY);
    assert_string_equal(err, "no credential has role review");
    assert_int_equal(f->c.requests, 0);
}

static void test_gemini_retry_info(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "gemini");
    struct mock_reply r[] = {
        {429, NULL,
         "{\"error\":{\"code\":429,\"details\":[{\"@type\":"
         "\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"0.5s\"}]}}"},
        {200, NULL, gemini_ok}};
    mock_script(2, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)), 0);
    assert_string_equal(reply, "gem");
    free(reply);
    int64_t gap_ms = (M.at_ns[1] - M.at_ns[0]) / UTIL_NS_PER_MS;
    assert_true(gap_ms >= 500 && gap_ms <= 500 + 200);
    assert_output_has(f, "Rate limit hit on key-0. Backing off for 1s.");
}

static void test_503_fails_after_5(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 2, "openai");
    struct mock_reply r[] = {{503, NULL, "busy"}};
    mock_script(1, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)),
                     -EIO);
    assert_null(reply);
    assert_string_equal(err, "LLM request failed after 5 attempts: HTTP 503");
    assert_int_equal(M.requests, 5);
    assert_int_equal(f->c.requests, 5);
    assert_int_equal(atomic_load(&slot_of(f, 0)->errors) + atomic_load(&slot_of(f, 1)->errors), 5);
    /* backed off between attempts: 250+500+1000+2000 ms, +-25 % (the fake clock is exact) */
    int64_t total_ms = (M.at_ns[4] - M.at_ns[0]) / UTIL_NS_PER_MS;
    assert_true(total_ms >= 3750 * 3 / 4 && total_ms <= 3750 * 5 / 4);
    for (int i = 0; i < 2; i++)
        assert_int_equal(slot_of(f, i)->st.in_use, 0);
}

static void test_bad_body_counts_as_attempt(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    struct mock_reply r[] = {{200, NULL, "{\"choices\":[]}"}, {200, NULL, openai_ok}};
    mock_script(2, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)), 0);
    free(reply);
    assert_int_equal(M.requests, 2);
    assert_int_equal(atomic_load(&slot_of(f, 0)->errors), 1);
    assert_output_has(f, "reply has no choices[0].message.content");
}

static void test_401_disables(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 2, "openai");
    struct mock_reply r[] = {{401, NULL, "{\"error\":\"bad key\"}"}, {200, NULL, openai_ok}};
    mock_script(2, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)), 0);
    free(reply);
    int dis = slot_of(f, 0)->st.state == CRED_DISABLED ? 0 : 1;
    assert_int_equal(slot_of(f, dis)->st.state, CRED_DISABLED);
    assert_string_equal(slot_of(f, dis)->st.disabled_reason, "HTTP 401");
    assert_int_equal(slot_of(f, 1 - dis)->st.state, CRED_AVAILABLE);
    char line[96];
    snprintf(line, sizeof(line), "[COORDINATOR] Key key-%d disabled: HTTP 401", dis);
    assert_output_has(f, line);
    assert_int_equal(f->c.http_429, 0);
}

static void test_gemini_daily_quota_disables(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 2, "gemini");
    struct mock_reply r[] = {
        {429, "5",
         "{\"error\":{\"code\":429,\"details\":[{\"@type\":"
         "\"type.googleapis.com/google.rpc.QuotaFailure\",\"violations\":[{\"quotaId\":"
         "\"GenerateRequestsPerDayPerProjectPerModel\"}]}]}}"},
        {200, NULL, gemini_ok}};
    mock_script(2, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)), 0);
    free(reply);
    int dis = slot_of(f, 0)->st.state == CRED_DISABLED ? 0 : 1;
    assert_string_equal(slot_of(f, dis)->st.disabled_reason, "daily quota");
    assert_output_has(f, "disabled: daily quota");
}

static void test_simulate_429(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    struct mock_reply r[] = {{200, NULL, openai_ok}};
    mock_script(1, r);
    f->c.simulate_429_every = 2; /* the 2nd, 4th, ... request of the run */
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)), 0);
    free(reply);
    assert_int_equal(f->c.http_429, 0); /* request 1 went out */
    int64_t t0 = atomic_load(&FK.now);
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)), 0);
    free(reply);
    /* request 2 was a synthetic 429 (no HTTP), the key rested 1 s, request 3 went out */
    assert_int_equal(M.requests, 2);
    assert_int_equal(f->c.http_429, 1);
    assert_true(atomic_load(&FK.now) - t0 >= UTIL_NS_PER_SEC);
    assert_int_equal(slot_of(f, 0)->st.in_use, 0);
    assert_output_has(f, "Rate limit hit on key-0. Backing off for 1s. Redistributing work...");
    assert_output_has(f, "\"event\":\"http_429\"");
    /* N = 1: every request is simulated once, and still every call finishes */
    f->c.simulate_429_every = 1;
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)), 0);
    free(reply);
    assert_int_equal(M.requests, 3);
    assert_int_equal(f->c.http_429, 2);
}

static void test_shutdown_cancels_wait(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    struct mock_reply r[] = {{401, NULL, "{}"}};
    mock_script(1, r);
    /* the only key gets disabled: the client waits for a reload until the run shuts down */
    fake_at(600 * UTIL_NS_PER_MS, begin_shutdown, f);
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)),
                     -ECANCELED);
    assert_int_equal(M.requests, 1);
    assert_int_equal(f->waits_on, 1);
    assert_int_equal(f->waits_off, 1);
}

static void test_transport_error_message(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    /* point the key at a port that was just free: bind, read it back, close */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    free(f->creds.v[0].base_url);
    f->creds.v[0].base_url = util_asprintf("http://127.0.0.1:%u/v1", ntohs(sa.sin_port));
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)),
                     -EIO);
    char want[128];
    snprintf(want, sizeof(want),
             "LLM request failed after 5 attempts: connect to 127.0.0.1:%u: Connection refused",
             ntohs(sa.sin_port));
    assert_string_equal(err, want);
    assert_null(strstr(err, "SECRET"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_success),
        T(test_429_moves_to_other_key),
        T(test_429_waits_for_its_time),
        T(test_429_zero_hint_backs_off),
        T(test_missing_role),
        T(test_gemini_retry_info),
        T(test_503_fails_after_5),
        T(test_bad_body_counts_as_attempt),
        T(test_401_disables),
        T(test_gemini_daily_quota_disables),
        T(test_simulate_429),
        T(test_shutdown_cancels_wait),
        T(test_transport_error_message),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
