/*
 * test_llm_pool.c - the LLM client and the pool around it (setting in
 * tests/unit/llm_fixture.h): five 503s in a row open the endpoint's circuit
 * breaker, while 429s and 401s leave it alone; a worker waiting on a disabled
 * pool picks up reloaded secrets and goes on.
 */
#include "tests/unit/llm_fixture.h"

static void test_503_opens_breaker(void **state)
{
    struct fx *f = *state;
    fx_keys_endpoint(f, 2);
    struct endpoint_sh *e = shm_endpoint_slot(&f->seg, 0);
    atomic_store(&e->consecutive_failures, 4); /* as if four requests had failed before */
    struct mock_reply r[] = {{503, NULL, "busy"}, {200, NULL, openai_ok}};
    mock_script(2, r);
    /* the fifth failure opens it: the client waits (no attempt spent) instead of sending */
    assert_int_equal(complete_until(f, 800), -ECANCELED);
    assert_int_equal(M.requests, 1);
    assert_int_equal(atomic_load(&e->state), BREAKER_OPEN);
    assert_int_equal(atomic_load(&e->failures), 1);
    assert_int_equal(f->waits_on, 1);
    char line[200];
    snprintf(line, sizeof(line),
             "[COORDINATOR] Endpoint http://127.0.0.1:%u/v1 failing (5 errors in a row); no "
             "requests to it for 5s",
             M.port);
    assert_output_has(f, line);
    struct cred_wait w;
    int64_t now = atomic_load(&FK.now);
    assert_int_equal(cred_reserve(&f->seg, CRED_ROLE_DRAFT, f->c.pid, now, &w), -EAGAIN);
    assert_true(w.retry_at_ns > now + 3 * UTIL_NS_PER_SEC);
    assert_true(w.retry_at_ns <= now + 5 * UTIL_NS_PER_SEC);
}

static void test_429_and_401_for_breaker(void **state)
{
    struct fx *f = *state;
    fx_keys_endpoint(f, 1);
    struct endpoint_sh *e = shm_endpoint_slot(&f->seg, 0);
    atomic_store(&e->consecutive_failures, 4);
    /* a 429 says nothing about the endpoint: neither counted nor reset */
    struct mock_reply r429[] = {{429, "30", "{}"}};
    mock_script(1, r429);
    assert_int_equal(complete_until(f, 300), -ECANCELED);
    assert_int_equal(atomic_load(&e->state), BREAKER_CLOSED);
    assert_int_equal(atomic_load(&e->consecutive_failures), 4);
    /* a 401 is an answer: the endpoint works (the key does not) */
    cred_slot_reload(shm_cred_slot(&f->seg, 0), &(struct cred_init){.id = "key-0"}, 0);
    struct mock_reply r401[] = {{401, NULL, "{}"}};
    mock_script(1, r401);
    assert_int_equal(complete_until(f, 300), -ECANCELED);
    assert_int_equal(atomic_load(&e->state), BREAKER_CLOSED);
    assert_int_equal(atomic_load(&e->consecutive_failures), 0);
    assert_int_equal(atomic_load(&e->failures), 0);
}

struct reloader {
    struct fx *f;
    int calls;
};

/* The worker's hook, in small: the file now holds other secrets. */
static int refresh_hook(void *arg)
{
    struct reloader *rl = arg;
    struct fx *f = rl->f;
    char text[512], err[256];
    struct cred_file cf;
    snprintf(text, sizeof(text),
             "{\"credentials\":[{\"id\":\"key-0\",\"provider\":\"openai\",\"model\":\"m\","
             "\"base_url\":\"http://127.0.0.1:%u/v1\",\"api_key\":\"" SECRET "-NEW\"}]}",
             M.port);
    rl->calls++;
    if (credfile_parse("test", text, strlen(text), 0, &cf, err, sizeof(err)) < 0)
        return -EINVAL;
    credfile_free(&f->creds);
    f->creds = cf;
    return 0;
}

static void reload_now(void *arg)
{
    struct fx *f = arg;
    /* as pool_reload does: the generation first, then the slots (from the
     * coordinator's own copy: the worker's f->creds is the worker's to replace) */
    atomic_fetch_add(&f->seg.hdr->pool_generation, 1);
    struct cred_init ci = {.id = "key-0", .provider = "openai", .model = "m"};
    cred_slot_reload(shm_cred_slot(&f->seg, 0), &ci, 0);
}

static void test_disabled_pool_waits_for_reload(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    struct reloader rl = {.f = f};
    f->c.refresh_creds = refresh_hook;
    f->c.refresh_arg = &rl;
    struct mock_reply r[] = {{401, NULL, "{}"}, {200, NULL, openai_ok}};
    mock_script(2, r);
    fake_at(500 * UTIL_NS_PER_MS, reload_now, f);
    char *reply = NULL, err[256] = "";
    int64_t t0 = atomic_load(&FK.now);
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)), 0);
    int64_t ms = (atomic_load(&FK.now) - t0) / UTIL_NS_PER_MS;
    assert_string_equal(reply, "the answer");
    free(reply);
    assert_true(ms >= 500 && ms <= 500 + 200); /* it waited for the reload, it did not fail */
    assert_int_equal(rl.calls, 1);
    assert_int_equal(f->c.generation, 1);
    assert_int_equal(M.requests, 2);
    assert_non_null(strstr(M.auth[0], SECRET "-0"));
    assert_non_null(strstr(M.auth[1], SECRET "-NEW")); /* the new secret, not the old */
    assert_int_equal(slot_of(f, 0)->st.state, CRED_AVAILABLE);
    assert_int_equal(slot_of(f, 0)->st.in_use, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_503_opens_breaker),
        T(test_429_and_401_for_breaker),
        T(test_disabled_pool_waits_for_reload),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
