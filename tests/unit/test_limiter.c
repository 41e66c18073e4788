/*
 * test_limiter.c - unit tests of the adaptive per-endpoint limit.
 *
 * No clock and no server: each test builds the windows a run would have
 * closed (recorded series, or a small model of a server computed from the
 * limit in force), feeds them to limiter_decide() one by one and checks the
 * limits that come out. A "window" here is 10 s of simulated time.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/limiter.h"

#define WINDOW_MS 10000u

/* A closed window: ok successes at latency_ms each, errors failures. */
static struct limiter_window win(uint32_t ok, uint32_t errors, uint32_t latency_ms)
{
    struct limiter_window w;
    memset(&w, 0, sizeof(w));
    for (uint32_t i = 0; i < ok; i++)
        limiter_window_add(&w, latency_ms, 0);
    for (uint32_t i = 0; i < errors; i++)
        limiter_window_add(&w, 5, 1);
    w.duration_ms = WINDOW_MS;
    return w;
}

/*
 * A server that serves `capacity` requests at once in base_ms each and queues
 * the rest: with `limit` requests kept in flight, latency is base_ms *
 * max(1, limit / capacity) and goodput stays at capacity / base_ms.
 */
static struct limiter_window saturating(uint32_t limit, uint32_t capacity, uint32_t base_ms)
{
    uint32_t lat = limit <= capacity ? base_ms : base_ms * limit / capacity;
    return win(limit * WINDOW_MS / lat, 0, lat);
}

static void test_defaults_and_policy_check(void **state)
{
    (void)state;
    struct limiter_policy p = limiter_policy_default();
    assert_int_equal(p.window_s, 10);
    assert_int_equal(p.min_samples, 3);
    assert_true(p.error_share_high == 0.20 && p.error_share_low == 0.05);
    assert_true(p.latency_high_s == 30.0 && p.latency_low_s == 5.0);
    assert_true(p.decrease == 0.25 && p.increase == 0.33);
    assert_null(limiter_policy_invalid(&p));

    p.error_share_low = 0.3;
    assert_string_equal(limiter_policy_invalid(&p), "error_share_low");
    p = limiter_policy_default();
    p.latency_high_s = 0.0 / 0.0; /* NaN */
    assert_string_equal(limiter_policy_invalid(&p), "latency_high_s");
    p = limiter_policy_default();
    p.history_windows = LIMITER_HISTORY_MAX + 1;
    assert_string_equal(limiter_policy_invalid(&p), "history_windows");

    struct limiter l;
    assert_int_equal(limiter_init(&l, &p, 1, 10), -EINVAL);
    assert_int_equal(limiter_init(&l, NULL, 0, 0), 0);
    assert_int_equal(l.limit, 1);
    assert_int_equal(l.max, 1);
    assert_int_equal(limiter_init(&l, NULL, 50, 10), 0);
    assert_int_equal(l.limit, 10);
}

static void test_histogram_median_within_ten_percent(void **state)
{
    (void)state;
    for (uint32_t v = 0; v < (1u << 21); v = v < 64 ? v + 1 : v + v / 7) {
        uint32_t mid = limiter_bucket_mid_ms(limiter_bucket(v));
        uint32_t diff = mid > v ? mid - v : v - mid;
        assert_true(limiter_bucket(v) < LIMITER_BUCKETS);
        assert_true(diff * 16 <= v); /* 6.25 % */
    }
    /* buckets are monotonic: a larger latency never lands in a smaller bucket */
    for (uint32_t v = 1; v < 100000; v++)
        assert_true(limiter_bucket(v) >= limiter_bucket(v - 1));
    assert_int_equal(limiter_bucket(UINT32_MAX), LIMITER_BUCKETS - 1);

    struct limiter_window w;
    memset(&w, 0, sizeof(w));
    assert_int_equal(limiter_window_median_ms(&w), 0);
    uint32_t lat[] = {900, 1000, 1100, 1200, 30000};
    for (size_t i = 0; i < 5; i++)
        limiter_window_add(&w, lat[i], 0);
    limiter_window_add(&w, 120000, 1); /* a timeout: not a latency sample */
    assert_int_equal(w.finished, 6);
    assert_int_equal(w.errors, 1);
    uint32_t m = limiter_window_median_ms(&w);
    assert_true(m >= 1100 - 110 && m <= 1100 + 110);

    /* per-worker windows summed by the coordinator */
    struct limiter_window sum, a = win(3, 1, 2000), b = win(4, 0, 2000);
    memset(&sum, 0, sizeof(sum));
    limiter_window_merge(&sum, &a);
    limiter_window_merge(&sum, &b);
    assert_int_equal(sum.finished, 8);
    assert_int_equal(sum.errors, 1);
    assert_int_equal(sum.duration_ms, 0);
    assert_int_equal(sum.hist[limiter_bucket(2000)], 7);
}

static void test_healthy_ramp_to_max(void **state)
{
    (void)state;
    struct limiter l;
    struct limiter_change c;
    uint32_t expect[] = {2, 3, 4, 5, 6, 7, 9, 10};

    assert_int_equal(limiter_init(&l, NULL, 1, 10), 0);
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        /* a server with room to spare: latency flat, goodput grows with the limit */
        struct limiter_window w = win(l.limit * 10, 0, 1000);
        assert_int_equal(limiter_decide(&l, &w, &c), 1);
        assert_int_equal(c.to, expect[i]);
        assert_int_equal(l.limit, expect[i]);
    }
    assert_string_equal(c.reason, "error share 0 %, median latency 1.0 s");
    struct limiter_window w = win(100, 0, 1000);
    assert_int_equal(limiter_decide(&l, &w, &c), 0); /* at the width: stays */
    assert_int_equal(l.limit, 10);
}

static void test_429_storm_shrinks_to_one(void **state)
{
    (void)state;
    struct limiter l;
    struct limiter_change c;
    uint32_t expect[] = {8, 6, 5, 4, 3, 2, 1};

    assert_int_equal(limiter_init(&l, NULL, 10, 10), 0);
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        struct limiter_window w = win(7, 3, 800); /* 30 % answered 429 */
        uint32_t from = l.limit;
        assert_int_equal(limiter_decide(&l, &w, &c), 1);
        assert_int_equal(c.from, from);
        assert_int_equal(c.to, expect[i]);
        /* each step takes a quarter (at least one) */
        assert_int_equal(c.to, from - (from / 4 ? from / 4 : 1));
        assert_string_equal(c.reason, "error share 30 %");
    }
    for (int i = 0; i < 5; i++) {
        struct limiter_window w = win(0, 10, 0);
        assert_int_equal(limiter_decide(&l, &w, &c), 0);
        assert_int_equal(l.limit, 1);
    }
    /* the storm passes: growth resumes */
    struct limiter_window w = win(10, 0, 800);
    assert_int_equal(limiter_decide(&l, &w, &c), 1);
    assert_int_equal(l.limit, 2);
}

/*
 * A server that turns requests away past 6 in flight: the limit that grew to
 * 7 and met errors at once is a ceiling; growth stops at 6 until
 * history_windows windows have passed, then 7 is probed again.
 */
static void test_failed_probe_is_a_ceiling(void **state)
{
    (void)state;
    struct limiter l;
    struct limiter_change c;
    assert_int_equal(limiter_init(&l, NULL, 6, 10), 0);
    struct limiter_window ok = win(20, 0, 400), bad = win(5, 5, 400);
    assert_int_equal(limiter_decide(&l, &ok, &c), 1);
    assert_int_equal(c.to, 7);
    assert_int_equal(limiter_decide(&l, &bad, &c), 1); /* the probe of 7 failed */
    assert_int_equal(c.to, 6);
    for (int i = 0; i < 20; i++) { /* growth stops one below the ceiling */
        assert_int_equal(limiter_decide(&l, &ok, &c), 0);
        assert_int_equal(l.limit, 6);
    }
    /* a storm while shrinking sets no ceiling: from 7 down, then back up */
    struct limiter m;
    assert_int_equal(limiter_init(&m, NULL, 7, 10), 0);
    assert_int_equal(limiter_decide(&m, &bad, &c), 1);
    assert_int_equal(limiter_decide(&m, &bad, &c), 1);
    assert_int_equal(m.limit, 5);
    for (int i = 0; i < 4; i++) { /* a server with room: goodput follows the limit */
        struct limiter_window room = win(m.limit * 10, 0, 400);
        assert_int_equal(limiter_decide(&m, &room, &c), 1);
    }
    assert_int_equal(m.limit, 10);
    /* the ceiling is forgotten after history_windows windows */
    for (int i = 0; i < 12 && l.limit < 7; i++)
        limiter_decide(&l, &ok, &c);
    assert_true(l.limit >= 7);
}

static void test_middle_band_holds(void **state)
{
    (void)state;
    struct limiter l;
    assert_int_equal(limiter_init(&l, NULL, 4, 10), 0);
    /* 10 % errors, or a 10 s median: neither trouble nor health */
    struct limiter_window a = win(9, 1, 1000), b = win(20, 0, 10000);
    assert_int_equal(limiter_decide(&l, &a, NULL), 0);
    assert_int_equal(limiter_decide(&l, &b, NULL), 0);
    assert_int_equal(l.limit, 4);
}

static void test_slow_latency_shrinks(void **state)
{
    (void)state;
    struct limiter l;
    struct limiter_change c;
    assert_int_equal(limiter_init(&l, NULL, 8, 10), 0);
    struct limiter_window w = win(5, 0, 40000);
    assert_int_equal(limiter_decide(&l, &w, &c), 1);
    assert_int_equal(c.from, 8);
    assert_int_equal(c.to, 6);
    assert_string_equal(c.reason, "median latency 38.9 s"); /* 40 s, bucket midpoint */
    for (int i = 0; i < 10; i++)
        limiter_decide(&l, &w, NULL);
    assert_int_equal(l.limit, 1);
}

static void test_saturating_server_stops_near_capacity(void **state)
{
    (void)state;
    const uint32_t cap = 4, base = 1000, max = 10;
    struct limiter l;
    struct limiter_change c;
    uint32_t highest = 0, below = 0, shrinks = 0, probes = 0;
    double served = 0;

    assert_int_equal(limiter_init(&l, NULL, 1, max), 0);
    for (int i = 0; i < 120; i++) {
        struct limiter_window w = saturating(l.limit, cap, base);
        if (i >= 20) {
            served += (double)(limiter_window_median_ms(&w) ? w.finished : 0);
            below += l.limit < cap;
        }
        uint32_t from = l.limit;
        if (limiter_decide(&l, &w, &c)) {
            if (c.to < from && strstr(c.reason, "probing below")) {
                probes++;
                assert_int_equal(c.to, cap - 1); /* one step below the knee, no further */
            } else if (c.to < from) {
                shrinks++;
                assert_int_equal(c.to, cap); /* down to the knee, not below */
                assert_non_null(strstr(c.reason, "without more throughput"));
            }
        }
        if (l.limit > highest)
            highest = l.limit;
    }
    /* growth stops within the 1.5x tolerance (plus one step) of the capacity */
    assert_true(highest <= cap * 7 / 4);
    assert_true(highest < max);
    assert_true(shrinks > 0);
    /* below the knee only to check it again, once the windows below it have left the
     * history (one window in history_windows, 30) */
    assert_int_equal(below, probes);
    assert_true(probes <= 4);
    /* and next to nothing is lost: the server was kept busy in all but those windows */
    assert_true(served >= 0.99 * 100 * cap * WINDOW_MS / base);
}

/*
 * A server already queueing at the first window (the limit starts above its
 * capacity): no window ever shows its unqueued latency, but the goodput does
 * not grow with the limit. The limit does not climb past where it started
 * plus one, then descends while the goodput holds, and settles at the
 * capacity: one step below it loses throughput, so that is as low as it goes.
 */
static void test_plateau_from_the_start(void **state)
{
    (void)state;
    const uint32_t cap = 3;
    struct limiter l;
    struct limiter_change c;
    uint32_t highest = 0, lowest = 100, drops = 0, probes = 0, at_cap = 0;
    assert_int_equal(limiter_init(&l, NULL, 5, 10), 0);
    for (int i = 0; i < 60; i++) {
        struct limiter_window w = saturating(l.limit, cap, 200);
        uint32_t from = l.limit;
        if (limiter_decide(&l, &w, &c) && c.to < from) {
            if (strstr(c.reason, "probing below"))
                probes++;
            else
                assert_non_null(strstr(c.reason, "without more throughput"));
            drops++;
        }
        highest = l.limit > highest ? l.limit : highest;
        lowest = l.limit < lowest ? l.limit : lowest;
        at_cap += i >= 30 && l.limit == cap;
    }
    assert_true(highest <= 6);
    assert_int_equal(lowest, cap - 1);
    assert_true(drops > 0);
    assert_true(probes > 0);
    assert_true(at_cap >= 27); /* settled: the last 30 windows at the capacity (but a re-check) */
    assert_int_equal(l.limit, cap);
}

static void test_latency_with_more_throughput_keeps_growing(void **state)
{
    (void)state;
    struct limiter l;
    assert_int_equal(limiter_init(&l, NULL, 1, 10), 0);
    /* heavier answers as the batch goes on, but each window serves more */
    for (uint32_t lat = 1000; l.limit < 10; lat += 500) {
        struct limiter_window w = win(l.limit * 4 * 10, 0, lat);
        assert_int_equal(limiter_decide(&l, &w, NULL), 1);
    }
}

static void test_slower_endpoint_relearned(void **state)
{
    (void)state;
    struct limiter l;
    struct limiter_policy p = limiter_policy_default();
    p.history_windows = 8;
    assert_int_equal(limiter_init(&l, &p, 3, 10), 0);
    for (int i = 0; i < 8; i++) {
        struct limiter_window w = win(30, 0, 1000);
        limiter_decide(&l, &w, NULL);
        l.limit = 3; /* hold the limit still while the baseline is learned */
    }
    /* the endpoint gets 3x slower for good, whatever the load: growth stops ... */
    uint32_t grew_at = 0;
    for (uint32_t i = 1; i <= 20 && !grew_at; i++) {
        struct limiter_window w = win(10, 0, 3000);
        if (limiter_decide(&l, &w, NULL) && l.limit > 3)
            grew_at = i;
    }
    /* ... until the old baseline has left the history, then it resumes */
    assert_true(grew_at > 1);
    assert_true(grew_at <= p.history_windows + 1);
}

static void test_noisy_series_one_change_per_window(void **state)
{
    (void)state;
    uint32_t trace[2][400];
    int changes = 0;
    for (int run = 0; run < 2; run++) {
        struct limiter l;
        struct limiter_change c;
        uint32_t seed = 12345;
        assert_int_equal(limiter_init(&l, NULL, 5, 10), 0);
        for (int i = 0; i < 400; i++) {
            struct limiter_window w;
            memset(&w, 0, sizeof(w));
            seed = seed * 1103515245u + 12345u;
            uint32_t n = seed >> 27;                        /* 0..31 requests */
            uint32_t err_pct = (seed >> 8) % 30;            /* 0..29 % errors */
            uint32_t slow = (seed >> 4) % 8 ? 4000 : 60000; /* now and then a slow window */
            for (uint32_t k = 0; k < n; k++) {
                seed = seed * 1103515245u + 12345u;
                uint32_t lat = 200 + (seed >> 16) % slow;
                limiter_window_add(&w, lat, (seed >> 8) % 100 < err_pct);
            }
            w.duration_ms = WINDOW_MS;
            uint32_t from = l.limit;
            int changed = limiter_decide(&l, &w, &c);
            assert_true(l.limit >= 1 && l.limit <= 10);
            if (changed) {
                assert_int_equal(c.from, from);
                assert_int_equal(c.to, l.limit);
                assert_int_not_equal(c.to, from);
                assert_true(c.reason[0] != '\0');
                /* one step: at most +33 % (at least 1) up, or down to the knee or -25 % */
                if (c.to > from)
                    assert_true(c.to - from <= (from / 3 ? from / 3 : 1));
            } else {
                assert_int_equal(l.limit, from);
            }
            trace[run][i] = l.limit;
            changes += changed;
        }
    }
    assert_true(changes > 40); /* the series does exercise the limiter */
    assert_memory_equal(trace[0], trace[1], sizeof(trace[0])); /* deterministic */
}

static void test_bounds(void **state)
{
    (void)state;
    struct limiter l;
    struct limiter_change c;
    assert_int_equal(limiter_init(&l, NULL, 3, 3), 0);
    struct limiter_window good = win(30, 0, 500), bad = win(1, 9, 500);
    assert_int_equal(limiter_decide(&l, &good, &c), 0);
    assert_int_equal(l.limit, 3);
    /* the width narrows (keys cooled down) and widens again */
    assert_int_equal(limiter_set_max(&l, 2), 1);
    assert_int_equal(l.limit, 2);
    assert_int_equal(limiter_set_max(&l, 0), 1);
    assert_int_equal(l.limit, 1);
    assert_int_equal(limiter_decide(&l, &bad, &c), 0);
    assert_int_equal(limiter_set_max(&l, 6), 0);
    assert_int_equal(limiter_decide(&l, &good, &c), 1);
    assert_int_equal(c.to, 2);
}

static void test_too_few_samples(void **state)
{
    (void)state;
    struct limiter l;
    struct limiter_change c;
    assert_int_equal(limiter_init(&l, NULL, 4, 10), 0);
    struct limiter_window two_bad = win(0, 2, 0), two_slow = win(2, 0, 60000);
    struct limiter_window empty = win(0, 0, 0), two_good = win(2, 0, 100);
    assert_int_equal(limiter_decide(&l, &two_bad, &c), 0);
    assert_int_equal(limiter_decide(&l, &two_slow, &c), 0);
    assert_int_equal(limiter_decide(&l, &empty, &c), 0);
    assert_int_equal(limiter_decide(&l, &two_good, &c), 0);
    assert_int_equal(l.limit, 4);
    /* three is enough: one error in three is a 33 % error share */
    struct limiter_window three = win(2, 1, 100);
    assert_int_equal(limiter_decide(&l, &three, &c), 1);
    assert_string_equal(c.reason, "error share 33 %");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_policy_check),
        cmocka_unit_test(test_histogram_median_within_ten_percent),
        cmocka_unit_test(test_healthy_ramp_to_max),
        cmocka_unit_test(test_429_storm_shrinks_to_one),
        cmocka_unit_test(test_failed_probe_is_a_ceiling),
        cmocka_unit_test(test_middle_band_holds),
        cmocka_unit_test(test_slow_latency_shrinks),
        cmocka_unit_test(test_saturating_server_stops_near_capacity),
        cmocka_unit_test(test_plateau_from_the_start),
        cmocka_unit_test(test_latency_with_more_throughput_keeps_growing),
        cmocka_unit_test(test_slower_endpoint_relearned),
        cmocka_unit_test(test_noisy_series_one_change_per_window),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_too_few_samples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
