/*
 * test_budget_redis.c - unit tests of the shared key budget (llm/budget_*.c)
 * against a real redis-server: opening a handle, take and give, coordinators,
 * scripts, loss. The server and the two coordinators are redis_fixture.h's;
 * the URL parser, which needs no server, is test_budget_url.c's.
 *
 * Each test works in its own pool, so tests do not see each other's keys. Two
 * handles stand for two coordinators. The loss test starts a second server of
 * its own, stops, kills and restarts it on the same port.
 *
 * Redis's clock runs for real here, so the few sleeps are short (<= 250 ms)
 * and every bound on a time leaves room for a loaded machine: the bounds tell
 * "paced" from "not paced", they do not measure.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "llm/budget_redis.h"
#include "shm/util.h"
#include "redis_fixture.h"

/* ---- open ---------------------------------------------------------------- */
static void test_open_refused_names_url(void **state)
{
    struct budget_redis_opts o = {.pool = "p", .connect_timeout_ms = 500};
    struct budget_redis *b = (struct budget_redis *)&o; /* must be reset to NULL */
    char url[64], err[256];
    int64_t t0;

    (void)state;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", free_port());
    o.url = url;
    t0 = now_ms();
    assert_int_equal(budget_redis_open(&o, &b, err, sizeof(err)), -ENOTCONN);
    assert_true(now_ms() - t0 < 1500);
    assert_null(b);
    assert_non_null(strstr(err, url));
    assert_non_null(strstr(err, "refused"));
    assert_true(budget_redis_lost(-ENOTCONN));

    o.url = srv_url;
    o.pool = "a:b"; /* a ':' would blur the key names */
    assert_int_equal(budget_redis_open(&o, &b, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "pool"));
    o.pool = "p";
    o.owner = "has space";
    assert_int_equal(budget_redis_open(&o, &b, err, sizeof(err)), -EINVAL);
    o.owner = NULL;
    o.url = "redis://127.0.0.1:1/x";
    assert_int_equal(budget_redis_open(&o, &b, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "database"));
}

static void test_open_bad_db(void **state)
{
    struct budget_redis_opts o = {.pool = "p"};
    struct budget_redis *b = NULL;
    char url[64], err[256];

    (void)state;
    assert_int_equal(util_pathf(url, sizeof(url), "%s/99999", srv_url), 0);
    o.url = url;
    assert_int_equal(budget_redis_open(&o, &b, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "SELECT 99999"));
    assert_non_null(strstr(err, url));
    assert_int_equal(util_pathf(url, sizeof(url), "%s/2", srv_url), 0);
    assert_int_equal(budget_redis_open(&o, &b, err, sizeof(err)), 0);
    budget_redis_close(b);
}

/* ---- take and give ------------------------------------------------------- */

static void test_concurrency(void **state)
{
    struct duo *d = *state;
    struct budget_key_conf c = {.concurrency = 2};
    struct budget_lease l1, l2, l3;
    struct budget_view v;
    int64_t w;

    take_ok(d->a, "key-1", &c, 0, &l1);
    take_ok(d->b, "key-1", &c, 0, &l2);
    assert_string_not_equal(l1.lease_id, l2.lease_id);
    w = take_wait(d->a, "key-1", &c, 0, BUDGET_WHY_BUSY);
    assert_true(w <= BUDGET_BUSY_HINT_MS);
    assert_int_equal(budget_redis_view(d->b, "key-1", &c, &v), 0);
    assert_int_equal(v.leases, 2);
    assert_int_equal(v.disabled, 0);
    assert_int_equal(v.rate_limited_until_unix_ms, 0);

    assert_int_equal(budget_redis_give(d->a, &l1, &c, &give_ok), 0);
    take_ok(d->b, "key-1", &c, 0, &l3); /* the slot came back, for anyone */
    assert_int_equal(budget_redis_give(d->a, &l1, &c, &give_ok), -ENOENT); /* given twice */
    assert_int_equal(budget_redis_give(d->b, &l2, &c, &give_ok), 0);
    assert_int_equal(budget_redis_give(d->b, &l3, &c, &give_ok), 0);
    assert_int_equal(budget_redis_view(d->a, "key-1", &c, &v), 0);
    assert_int_equal(v.leases, 0);

    /* Another key of the same pool is untouched; an odd id still works. */
    take_ok(d->a, "key {2}:x", &c, 0, &l1);
    take_ok(d->a, "key {2}:x", &c, 0, &l2);
    take_wait(d->a, "key {2}:x", &c, 0, BUDGET_WHY_BUSY);
    take_ok(d->a, "key-2", &c, 0, &l3);
}

static void test_rpm_burst_then_wait(void **state)
{
    struct duo *d = *state;
    struct budget_key_conf c = {.rpm = 60, .rpm_burst = 3, .concurrency = 8};
    struct budget_lease l;
    struct budget_view v;
    int64_t w;

    for (int i = 0; i < 3; i++) {
        take_ok(i % 2 ? d->b : d->a, "k", &c, 0, &l);
        assert_int_equal(budget_redis_give(d->a, &l, &c, &give_ok), 0);
    }
    w = take_wait(d->b, "k", &c, 0, BUDGET_WHY_RPM);
    assert_true(w > 800 && w <= 1000); /* one request a second */
    assert_int_equal(budget_redis_view(d->a, "k", &c, &v), 0);
    assert_int_equal(v.rpm_left, 0);
    assert_int_equal(v.leases, 0); /* the refused takes took nothing */
}

/* Two coordinators hammering one key never get more than burst + elapsed / gap. */
static void test_rpm_window(void **state)
{
    struct duo *d = *state;
    struct budget_key_conf c = {.rpm = 1200, .rpm_burst = 2, .concurrency = 8}; /* gap 50 ms */
    struct budget_lease l;
    struct budget_verdict v;
    int64_t t0 = now_ms(), elapsed;
    int admitted = 0, waits = 0;

    for (int i = 0; now_ms() - t0 < 400; i++) {
        struct budget_redis *b = i % 2 ? d->b : d->a;

        assert_int_equal(budget_redis_take(b, "paced", &c, 0, &l, &v), 0);
        if (v.status == BUDGET_OK) {
            admitted++;
            assert_int_equal(budget_redis_give(b, &l, &c, &give_ok), 0);
        } else {
            assert_int_equal(v.why, BUDGET_WHY_RPM);
            assert_true(v.wait_ms <= 50);
            waits++;
            sleep_ms(v.wait_ms < 10 ? v.wait_ms : 10);
        }
    }
    elapsed = now_ms() - t0;
    if (admitted > 2 + (int)(elapsed / 50) + 1)
        fail_msg("%d admitted in %lld ms at 1200 rpm, burst 2", admitted, (long long)elapsed);
    assert_true(admitted >= 3);
    assert_true(waits > 0);
}

static void test_abandoned_gives_back(void **state)
{
    struct duo *d = *state;
    struct budget_key_conf c = {.rpm = 60, .rpm_burst = 1};
    struct budget_give abandon = {.outcome = BUDGET_GIVE_ABANDONED, .tokens_used = -1};
    struct budget_lease l;

    take_ok(d->a, "k", &c, 0, &l);
    assert_int_equal(budget_redis_give(d->a, &l, &c, &abandon), 0);
    take_ok(d->b, "k", &c, 0, &l); /* the request never went: its charge came back */
    assert_int_equal(budget_redis_give(d->b, &l, &c, &give_ok), 0);
    take_wait(d->a, "k", &c, 0, BUDGET_WHY_RPM); /* a sent one keeps it */
}

static void test_rate_limit_seen_by_all(void **state)
{
    struct duo *d = *state;
    struct budget_key_conf c = {.concurrency = 2};
    struct budget_give r2000 = {
        .outcome = BUDGET_GIVE_RATE_LIMIT, .tokens_used = 0, .delay_ms = 2000};
    struct budget_give r500 = r2000;
    struct budget_lease la, lb;
    struct budget_view v;
    int64_t w;

    r500.delay_ms = 500;
    take_ok(d->a, "k", &c, 0, &la);
    take_ok(d->b, "k", &c, 0, &lb);
    assert_int_equal(budget_redis_give(d->a, &la, &c, &r2000), 0);
    w = take_wait(d->b, "k", &c, 0, BUDGET_WHY_RATE_LIMITED);
    assert_true(w > 1500 && w <= 2000);
    /* A later, shorter 429 does not shorten the rest. */
    assert_int_equal(budget_redis_give(d->b, &lb, &c, &r500), 0);
    w = take_wait(d->a, "k", &c, 0, BUDGET_WHY_RATE_LIMITED);
    assert_true(w > 1500 && w <= 2000);
    assert_int_equal(budget_redis_view(d->a, "k", &c, &v), 0);
    assert_true(v.rate_limited_until_unix_ms - v.now_unix_ms > 1500);
    assert_int_equal(v.leases, 0);

    assert_int_equal(budget_redis_enable(d->b, "k"), 0); /* credentials reloaded */
    take_ok(d->a, "k", &c, 0, &la);
}

static void test_disable_seen_by_all(void **state)
{
    struct duo *d = *state;
    struct budget_key_conf c = {0};
    struct budget_give dis = {.outcome = BUDGET_GIVE_DISABLE,
                              .tokens_used = -1,
                              .reason = "HTTP 401: invalid key\nsecond line"};
    struct budget_lease l;
    struct budget_verdict v;
    struct budget_view view;

    take_ok(d->a, "k", &c, 0, &l);
    assert_int_equal(budget_redis_give(d->a, &l, &c, &dis), 0);
    assert_int_equal(budget_redis_take(d->b, "k", &c, 0, &l, &v), 0);
    assert_int_equal(v.status, BUDGET_DISABLED);
    assert_string_equal(v.reason, "HTTP 401: invalid key second line");
    assert_int_equal(budget_redis_view(d->b, "k", &c, &view), 0);
    assert_int_equal(view.disabled, 1);
    assert_string_equal(view.reason, "HTTP 401: invalid key second line");
    assert_int_equal(budget_redis_enable(d->a, "k"), 0);
    take_ok(d->b, "k", &c, 0, &l);
}

static void test_lease_expires_and_renews(void **state)
{
    struct duo *d = *state;
    struct budget_key_conf c = {.concurrency = 1, .lease_ttl_ms = 200};
    struct budget_lease dead, live;
    int64_t w;

    take_ok(d->a, "k", &c, 0, &dead); /* and coordinator a "dies": no give */
    w = take_wait(d->b, "k", &c, 0, BUDGET_WHY_BUSY);
    assert_true(w <= BUDGET_BUSY_HINT_MS);
    sleep_ms(220);
    take_ok(d->b, "k", &c, 0, &live);
    assert_int_equal(budget_redis_renew(d->a, &dead, 1000), -ENOENT);
    assert_int_equal(budget_redis_give(d->a, &dead, &c, &give_ok), -ENOENT);

    assert_int_equal(budget_redis_renew(d->b, &live, 1000), 0); /* a long request */
    sleep_ms(220);
    take_wait(d->a, "k", &c, 0, BUDGET_WHY_BUSY);
    assert_int_equal(budget_redis_give(d->b, &live, &c, &give_ok), 0);
    take_ok(d->a, "k", &c, 0, &live);
}

static void test_tpm(void **state)
{
    struct duo *d = *state;
    /* 100 tokens a second, a bucket of 1000; rpm with room to spare */
    struct budget_key_conf c = {
        .tpm = 6000, .tpm_burst = 1000, .rpm = 60, .rpm_burst = 3, .concurrency = 4};
    struct budget_give used200 = {.outcome = BUDGET_GIVE_OK, .tokens_used = 200};
    struct budget_give abandon = {.outcome = BUDGET_GIVE_ABANDONED, .tokens_used = -1};
    struct budget_lease l1, l2;
    struct budget_view v;
    int64_t w;

    take_ok(d->a, "k", &c, 800, &l1);
    w = take_wait(d->b, "k", &c, 300, BUDGET_WHY_TPM); /* 100 short: about a second */
    assert_true(w > 900 && w <= 1000);
    assert_int_equal(budget_redis_view(d->a, "k", &c, &v), 0);
    assert_true(v.tpm_left >= 199 && v.tpm_left <= 210);
    assert_int_equal(v.rpm_left, 2); /* the refused take charged no request */
    assert_int_equal(v.leases, 1);

    assert_int_equal(budget_redis_give(d->a, &l1, &c, &used200), 0); /* 600 back */
    assert_int_equal(budget_redis_view(d->a, "k", &c, &v), 0);
    assert_true(v.tpm_left >= 799 && v.tpm_left <= 810);
    take_ok(d->b, "k", &c, 300, &l2);
    assert_int_equal(budget_redis_give(d->b, &l2, &c, &abandon), 0);
    assert_int_equal(budget_redis_view(d->a, "k", &c, &v), 0);
    assert_true(v.tpm_left >= 799 && v.tpm_left <= 820);

    /* Larger than the bucket: waits for a full bucket, then leaves it in debt. */
    take_wait(d->a, "k", &c, 5000, BUDGET_WHY_TPM);
    take_ok(d->a, "big", &c, 5000, &l1);
    assert_int_equal(budget_redis_view(d->a, "big", &c, &v), 0);
    assert_true(v.tpm_left <= -3990 && v.tpm_left >= -4000);
    w = take_wait(d->b, "big", &c, 1, BUDGET_WHY_TPM);
    assert_true(w > 39000 && w <= 40010);
    /* A correction upwards (the reply used more than estimated) charges more. */
    used200.tokens_used = 5500;
    assert_int_equal(budget_redis_give(d->a, &l1, &c, &used200), 0);
    assert_int_equal(budget_redis_view(d->a, "big", &c, &v), 0);
    assert_true(v.tpm_left <= -4490 && v.tpm_left >= -4500);
}

/* ---- coordinators, scripts, loss ----------------------------------------- */

static void test_heartbeat(void **state)
{
    struct duo *d = *state;
    uint32_t n = 0;

    assert_int_equal(budget_redis_heartbeat(d->a, "coord-a", 5000, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(budget_redis_heartbeat(d->b, "coord-b", 150, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(budget_redis_heartbeat(d->a, "coord-a", 5000, &n), 0);
    assert_int_equal(n, 2);
    sleep_ms(200); /* b stops beating (killed) */
    assert_int_equal(budget_redis_heartbeat(d->a, "coord-a", 5000, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(budget_redis_heartbeat(d->b, "coord-b", 5000, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(budget_redis_leave(d->b, "coord-b"), 0); /* b exits cleanly */
    assert_int_equal(budget_redis_heartbeat(d->a, "coord-a", 5000, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(budget_redis_heartbeat(d->a, "bad id", 5000, &n), -EINVAL);
}

static void test_noscript_reload(void **state)
{
    struct duo *d = *state;
    struct budget_key_conf c = {.concurrency = 4};
    struct budget_stats s0, s1;
    struct budget_lease l;
    struct timeval tv = {1, 0};
    redisContext *raw = redisConnectWithTimeout("127.0.0.1", srv.port, tv);
    redisReply *r;

    assert_true(raw && !raw->err);
    r = redisCommand(raw, "SCRIPT FLUSH");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisFree(raw);

    budget_redis_stats(d->a, &s0);
    take_ok(d->a, "k", &c, 0, &l);
    budget_redis_stats(d->a, &s1);
    assert_int_equal(s1.script_reloads - s0.script_reloads, 1);
    assert_int_equal(s1.round_trips - s0.round_trips, 3); /* NOSCRIPT, LOAD, EVALSHA */
    assert_true(s1.latency_ns > s0.latency_ns);
    assert_int_equal(budget_redis_give(d->b, &l, &c, &give_ok), 0); /* b reloads give */
    budget_redis_stats(d->a, &s0);
    take_ok(d->a, "k", &c, 0, &l);
    budget_redis_stats(d->a, &s1);
    assert_int_equal(s1.round_trips - s0.round_trips, 1); /* one decision, one round trip */
    assert_int_equal(s1.script_reloads, s0.script_reloads);
}

static void test_lost_and_back(void **state)
{
    struct redis_srv *s2 = &srv2;
    struct budget_key_conf c = {.concurrency = 2};
    struct budget_redis *b;
    struct budget_lease l;
    struct budget_verdict v;
    struct budget_stats st;
    char url[64];
    uint32_t n;
    int64_t t0, dt;
    int rc;

    (void)state;
    assert_int_equal(srv_start(s2), 0);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", s2->port);
    b = open_on(url, "lost", "coord-x", 200);
    if (!b) {
        srv_stop(s2);
        fail();
    }
    take_ok(b, "k", &c, 0, &l);

    /* A server that hangs: the call ends by the command timeout. */
    kill(s2->pid, SIGSTOP);
    t0 = now_ms();
    rc = budget_redis_take(b, "k", &c, 0, &l, &v);
    dt = now_ms() - t0;
    kill(s2->pid, SIGCONT);
    assert_int_equal(rc, -ETIMEDOUT);
    assert_int_equal(v.status, BUDGET_WAIT);
    assert_true(dt >= 150 && dt < 700);
    assert_true(budget_redis_lost(rc));
    assert_non_null(strstr(budget_redis_error(b), url));
    t0 = now_ms();
    assert_int_equal(budget_redis_give(b, &l, &c, &give_ok), -ENOTCONN); /* no new wait */
    assert_true(now_ms() - t0 < 50);
    assert_int_equal(budget_redis_reconnect(b), 0);
    assert_int_equal(budget_redis_give(b, &l, &c, &give_ok), 0);

    /* A server that dies: the next call says so at once, and so does a reconnect. */
    srv_stop(s2);
    t0 = now_ms();
    rc = budget_redis_take(b, "k", &c, 0, &l, &v);
    assert_true(rc == -ENOTCONN);
    assert_true(now_ms() - t0 < 500);
    assert_non_null(strstr(budget_redis_error(b), url));
    assert_int_equal(budget_redis_heartbeat(b, "coord-x", 1000, &n), -ENOTCONN);
    assert_int_equal(budget_redis_reconnect(b), -ENOTCONN);

    /* Back on the same port, empty: scripts re-loaded, a full budget. */
    assert_int_equal(srv_start(s2), 0);
    assert_int_equal(budget_redis_reconnect(b), 0);
    take_ok(b, "k", &c, 0, &l);
    assert_int_equal(budget_redis_heartbeat(b, "coord-x", 1000, &n), 0);
    assert_int_equal(n, 1);
    budget_redis_stats(b, &st);
    assert_true(st.failures >= 3);
    assert_int_equal(st.reconnects, 2);
    budget_redis_close(b);
    srv_stop(s2);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, duo_setup, duo_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_refused_names_url),
        cmocka_unit_test(test_open_bad_db),
        T(test_concurrency),
        T(test_rpm_burst_then_wait),
        T(test_rpm_window),
        T(test_abandoned_gives_back),
        T(test_rate_limit_seen_by_all),
        T(test_disable_seen_by_all),
        T(test_lease_expires_and_renews),
        T(test_tpm),
        T(test_heartbeat),
        T(test_noscript_reload),
        cmocka_unit_test(test_lost_and_back),
    };
#undef T
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
