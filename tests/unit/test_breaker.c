/*
 * test_breaker.c - unit tests of the per-endpoint circuit breaker.
 *
 * Each test runs on a real segment with two endpoints (its own
 * "/agentos-tbrk-<pid>-<n>", unlinked at teardown) and passes fake
 * CLOCK_MONOTONIC values as now, so cool-downs are tested without sleeping.
 * Probes must be live processes (a dead probe is replaced), so the two
 * "workers" are this process and its parent; the race and dead-probe tests
 * fork real children.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "shm/util.h"
#include "shm/breaker.h"
#include "shm/cred.h"

#define SEC UTIL_NS_PER_SEC
#define T0 (1000 * SEC)
#define RACERS 8

static int seg_counter;
static int32_t A, B; /* two live pids: ours and our parent's */

static int setup(void **state)
{
    static struct shm_segment seg;
    static const char *const urls[] = {"http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"};
    struct shm_create_params p = {.workflow = "lld",
                                  .item_count = 1,
                                  .key_count = 2,
                                  .worker_count = 1,
                                  .parallel_max = 1,
                                  .endpoint_count = 2,
                                  .endpoint_urls = urls};
    char id[SHM_RUN_ID_MAX], err[256];

    snprintf(id, sizeof(id), "tbrk-%d-%d", (int)getpid(), seg_counter++);
    p.run_id = id;
    if (shm_segment_create(&seg, &p, err, sizeof(err)) < 0) {
        print_error("%s\n", err);
        return -1;
    }
    A = (int32_t)getpid();
    B = (int32_t)getppid();
    *state = &seg;
    return 0;
}

static int teardown(void **state)
{
    struct shm_segment *seg = *state;
    char name[64];

    util_strlcpy(name, seg->name, sizeof(name));
    shm_segment_detach(seg);
    return shm_segment_unlink(name);
}

static struct endpoint_sh *ep(struct shm_segment *seg, uint32_t i)
{
    return shm_endpoint_slot(seg, i);
}

/* n failures of pid at now; returns how many of them opened the breaker. */
static int fail_n(struct shm_segment *seg, uint32_t e, int32_t pid, int n, int64_t now)
{
    int opened = 0;

    for (int i = 0; i < n; i++)
        opened += breaker_report(seg, e, pid, BREAKER_FAILURE, now, NULL, NULL);
    return opened;
}

static void test_opens_at_threshold(void **state)
{
    struct shm_segment *seg = *state;
    int64_t cd = 0, retry = 0;
    uint32_t n = 0;

    assert_int_equal(breaker_allow(seg, 0, A, T0, NULL), 1);
    assert_int_equal(fail_n(seg, 0, A, BREAKER_THRESHOLD - 1, T0), 0);
    assert_int_equal(atomic_load(&ep(seg, 0)->state), BREAKER_CLOSED);
    assert_int_equal(breaker_report(seg, 0, A, BREAKER_FAILURE, T0, &cd, &n), 1);
    assert_int_equal(n, 5);
    assert_true(cd == 5 * SEC);
    assert_int_equal(atomic_load(&ep(seg, 0)->state), BREAKER_OPEN);
    assert_int_equal(atomic_load(&ep(seg, 0)->trips), 1);
    assert_int_equal(atomic_load(&ep(seg, 0)->failures), 5);
    assert_string_equal(breaker_state_name(BREAKER_OPEN), "open");

    assert_int_equal(breaker_allow(seg, 0, A, T0 + SEC, &retry), 0);
    assert_true(retry == T0 + 5 * SEC);
    assert_int_equal(breaker_ready(seg, 0, B, T0 + 5 * SEC - 1, &retry), 0);
    /* the other endpoint is not affected */
    assert_int_equal(breaker_allow(seg, 1, A, T0 + SEC, NULL), 1);
    assert_int_equal(atomic_load(&ep(seg, 0)->requests), 1);
}

static void test_success_resets_count(void **state)
{
    struct shm_segment *seg = *state;

    assert_int_equal(fail_n(seg, 0, A, 4, T0), 0);
    assert_int_equal(breaker_report(seg, 0, A, BREAKER_SUCCESS, T0, NULL, NULL), 0);
    assert_int_equal(fail_n(seg, 0, A, 4, T0), 0);
    assert_int_equal(atomic_load(&ep(seg, 0)->state), BREAKER_CLOSED);
    /* 429s (neutral) neither count nor reset */
    assert_int_equal(breaker_report(seg, 0, A, BREAKER_NEUTRAL, T0, NULL, NULL), 0);
    assert_int_equal(fail_n(seg, 0, A, 1, T0), 1);
}

static void test_half_open_one_probe(void **state)
{
    struct shm_segment *seg = *state;
    int64_t retry = 0, t = T0 + 5 * SEC;

    fail_n(seg, 0, A, 5, T0);
    /* not claiming: ready says yes to both, nothing changes */
    assert_int_equal(breaker_ready(seg, 0, A, t, NULL), 1);
    assert_int_equal(breaker_ready(seg, 0, B, t, NULL), 1);
    assert_int_equal(atomic_load(&ep(seg, 0)->state), BREAKER_OPEN);
    /* the first asker becomes the probe; the other waits */
    assert_int_equal(breaker_allow(seg, 0, A, t, NULL), 1);
    assert_int_equal(atomic_load(&ep(seg, 0)->state), BREAKER_HALF_OPEN);
    assert_int_equal(atomic_load(&ep(seg, 0)->probe_pid), A);
    assert_int_equal(breaker_allow(seg, 0, B, t, &retry), 0);
    assert_true(retry == t + BREAKER_HALF_OPEN_POLL_NS);
    assert_int_equal(breaker_ready(seg, 0, B, t, NULL), 0);
    assert_int_equal(breaker_allow(seg, 0, A, t, NULL), 1);
    /* the probe succeeds: closed for everybody */
    assert_int_equal(breaker_report(seg, 0, A, BREAKER_SUCCESS, t, NULL, NULL), 0);
    assert_int_equal(atomic_load(&ep(seg, 0)->state), BREAKER_CLOSED);
    assert_int_equal(atomic_load(&ep(seg, 0)->probe_pid), 0);
    assert_int_equal(atomic_load(&ep(seg, 0)->consecutive_failures), 0);
    assert_int_equal(breaker_allow(seg, 0, B, t, NULL), 1);
}

static void test_failed_probes_double_cooldown(void **state)
{
    struct shm_segment *seg = *state;
    static const int want_s[] = {10, 20, 40, 60, 60};
    int64_t t = T0, cd = 0;
    uint32_t n = 0;

    fail_n(seg, 0, A, 5, t);
    t += 5 * SEC;
    for (size_t i = 0; i < sizeof(want_s) / sizeof(want_s[0]); i++) {
        assert_int_equal(breaker_allow(seg, 0, A, t, NULL), 1); /* probe */
        /* a straggler of another worker neither re-opens nor counts */
        assert_int_equal(breaker_report(seg, 0, B, BREAKER_FAILURE, t, &cd, &n), 0);
        assert_int_equal(atomic_load(&ep(seg, 0)->state), BREAKER_HALF_OPEN);
        assert_int_equal(breaker_report(seg, 0, A, BREAKER_FAILURE, t, &cd, &n), 1);
        assert_true(cd == want_s[i] * SEC);
        assert_int_equal(n, 6 + i);
        assert_int_equal(atomic_load(&ep(seg, 0)->state), BREAKER_OPEN);
        assert_int_equal(breaker_allow(seg, 0, A, t + cd - 1, NULL), 0);
        t += cd;
    }
    assert_int_equal(atomic_load(&ep(seg, 0)->trips), 6);
}

static void test_straggler_in_open_ignored(void **state)
{
    struct shm_segment *seg = *state;
    int64_t retry = 0;

    fail_n(seg, 0, A, 5, T0);
    assert_int_equal(fail_n(seg, 0, B, 3, T0 + SEC), 0);
    assert_int_equal(breaker_allow(seg, 0, A, T0 + 2 * SEC, &retry), 0);
    assert_true(retry == T0 + 5 * SEC); /* not extended */
    assert_int_equal(atomic_load(&ep(seg, 0)->consecutive_failures), BREAKER_THRESHOLD);
    /* a late success of a request sent before the trip closes it: the endpoint answers */
    assert_int_equal(breaker_report(seg, 0, B, BREAKER_SUCCESS, T0 + SEC, NULL, NULL), 0);
    assert_int_equal(atomic_load(&ep(seg, 0)->state), BREAKER_CLOSED);
}

static void test_neutral_probe_hands_on(void **state)
{
    struct shm_segment *seg = *state;
    int64_t t = T0 + 5 * SEC;

    fail_n(seg, 0, A, 5, T0);
    assert_int_equal(breaker_allow(seg, 0, A, t, NULL), 1);
    /* a neutral report of someone else changes nothing */
    breaker_report(seg, 0, B, BREAKER_NEUTRAL, t, NULL, NULL);
    assert_int_equal(atomic_load(&ep(seg, 0)->probe_pid), A);
    /* the probe got a 429: its turn goes to the next asker */
    assert_int_equal(breaker_report(seg, 0, A, BREAKER_NEUTRAL, t, NULL, NULL), 0);
    assert_int_equal(atomic_load(&ep(seg, 0)->state), BREAKER_OPEN);
    assert_int_equal(breaker_allow(seg, 0, B, t, NULL), 1);
    assert_int_equal(atomic_load(&ep(seg, 0)->probe_pid), B);
    assert_int_equal(breaker_allow(seg, 0, A, t, NULL), 0);
}

static int32_t dead_pid(void)
{
    pid_t p = fork();

    if (p == 0)
        _exit(0);
    waitpid(p, NULL, 0);
    return (int32_t)p;
}

static void test_dead_probe_replaced(void **state)
{
    struct shm_segment *seg = *state;
    int64_t t = T0 + 5 * SEC;
    int32_t dead = dead_pid();

    fail_n(seg, 0, A, 5, T0);
    assert_int_equal(breaker_allow(seg, 0, dead, t, NULL), 1);
    assert_int_equal(atomic_load(&ep(seg, 0)->probe_pid), dead);
    /* the next asker sees the probe's process is gone and takes over */
    assert_int_equal(breaker_ready(seg, 0, B, t, NULL), 1);
    assert_int_equal(breaker_allow(seg, 0, B, t, NULL), 1);
    assert_int_equal(atomic_load(&ep(seg, 0)->probe_pid), B);

    /* the coordinator hands on a dead probe's turn after reaping it */
    assert_int_equal(breaker_report(seg, 0, B, BREAKER_NEUTRAL, t, NULL, NULL), 0);
    dead = dead_pid();
    assert_int_equal(breaker_allow(seg, 0, dead, t, NULL), 1);
    assert_int_equal(breaker_release_dead(seg, dead), 1);
    assert_int_equal(atomic_load(&ep(seg, 0)->state), BREAKER_OPEN);
    assert_int_equal(breaker_release_dead(seg, dead), 0);
    assert_int_equal(breaker_allow(seg, 0, A, t, NULL), 1);
}

static void test_no_breaker_out_of_range(void **state)
{
    struct shm_segment *seg = *state;

    assert_int_equal(fail_n(seg, 7, A, 20, T0), 0);
    assert_int_equal(breaker_allow(seg, 7, A, T0, NULL), 1);
    assert_int_equal(breaker_ready(seg, 7, A, T0, NULL), 1);
    assert_int_equal(breaker_report(NULL, 0, A, BREAKER_FAILURE, T0, NULL, NULL), 0);
    assert_string_equal(breaker_state_name(99), "unknown");
}

/*
 * RACERS processes ask at once when the cool-down is over: exactly one probes.
 * Each stays alive until all have asked, since a dead probe is (rightly) replaced.
 */
static void test_one_probe_among_racers(void **state)
{
    struct shm_segment *seg = *state;
    /* shared counters to borrow from the header */
    _Atomic uint64_t *won = &seg->hdr->requests_total;
    _Atomic uint32_t *go = &seg->hdr->in_flight;
    _Atomic uint32_t *asked = &seg->hdr->waiting_for_key;
    pid_t kids[RACERS];

    fail_n(seg, 0, A, 5, T0);
    for (int i = 0; i < RACERS; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            while (!atomic_load(go))
                ;
            if (breaker_allow(seg, 0, (int32_t)getpid(), T0 + 5 * SEC, NULL))
                atomic_fetch_add(won, 1);
            atomic_fetch_add(asked, 1);
            while (atomic_load(asked) < RACERS)
                usleep(100);
            _exit(0);
        }
    }
    atomic_store(go, 1);
    for (int i = 0; i < RACERS; i++)
        waitpid(kids[i], NULL, 0);
    assert_int_equal(atomic_load(won), 1);
    assert_int_equal(atomic_load(&ep(seg, 0)->state), BREAKER_HALF_OPEN);
}

static void add_key(struct shm_segment *seg, uint32_t i, uint32_t endpoint)
{
    char id[16];
    struct cred_init ci = {
        .id = id, .provider = "openai", .model = "m", .concurrency = 2, .endpoint = endpoint};

    snprintf(id, sizeof(id), "key-%u", i + 1);
    assert_int_equal(cred_slot_init(shm_cred_slot(seg, i), &ci), 0);
}

/* cred_reserve skips keys behind an open breaker and says when to come back. */
static void test_reserve_skips_open_endpoint(void **state)
{
    struct shm_segment *seg = *state;
    struct cred_wait w;
    int64_t t = T0 + 5 * SEC;

    add_key(seg, 0, 0);
    add_key(seg, 1, 1);
    fail_n(seg, 0, A, 5, T0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, A, T0 + SEC, &w), 1);
        assert_int_equal(cred_release(seg, 1, A, CRED_OK, 0, NULL, 0), 0);
    }
    struct cred_pub kv;
    assert_int_equal(cred_view(shm_cred_slot(seg, 1), &kv), 0);
    assert_int_equal(kv.endpoint, 1);
    fail_n(seg, 1, A, 5, T0 + 2 * SEC);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, A, T0 + 3 * SEC, &w), -EAGAIN);
    assert_true(w.retry_at_ns == T0 + 5 * SEC); /* the earlier of the two */
    assert_int_equal(w.usable_keys, 2);
    /* cool-down over: the reservation makes A the probe; B's key waits for it */
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, A, t, &w), 0);
    assert_int_equal(atomic_load(&ep(seg, 0)->probe_pid), A);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, B, t, &w), -EAGAIN);
    assert_true(w.retry_at_ns == t + BREAKER_HALF_OPEN_POLL_NS);
    assert_int_equal(shm_cred_slot(seg, 0)->st.in_use, 1); /* B took nothing */
    assert_int_equal(cred_release(seg, 0, A, CRED_OK, 0, NULL, 0), 0);
    breaker_report(seg, 0, A, BREAKER_SUCCESS, t, NULL, NULL);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, B, t, &w), 0);
    assert_int_equal(cred_release(seg, 0, B, CRED_OK, 0, NULL, 0), 0);
}

/*
 * A worker killed between the open -> half-open switch and taking the probe
 * leaves half-open with probe_pid 0: that must mean "probe free", not
 * "being chosen" forever.
 */
static void test_half_open_without_probe_is_free(void **state)
{
    struct shm_segment *seg = *state;
    int64_t t = T0 + 5 * SEC;

    fail_n(seg, 0, A, 5, T0);
    atomic_store(&ep(seg, 0)->state, BREAKER_HALF_OPEN); /* the switch, then death */
    atomic_store(&ep(seg, 0)->probe_pid, 0);
    assert_int_equal(breaker_ready(seg, 0, B, t, NULL), 1);
    assert_int_equal(breaker_allow(seg, 0, B, t, NULL), 1);
    assert_int_equal(atomic_load(&ep(seg, 0)->probe_pid), B);
    assert_int_equal(breaker_allow(seg, 0, A, t, NULL), 0); /* still one probe */
    assert_int_equal(breaker_report(seg, 0, B, BREAKER_SUCCESS, t, NULL, NULL), 0);
    assert_int_equal(atomic_load(&ep(seg, 0)->state), BREAKER_CLOSED);

    /* the same through cred_reserve, which is what a worker really calls */
    add_key(seg, 0, 0);
    fail_n(seg, 0, A, 5, t);
    atomic_store(&ep(seg, 0)->state, BREAKER_HALF_OPEN);
    atomic_store(&ep(seg, 0)->probe_pid, 0);
    struct cred_wait w;
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, A, t + 5 * SEC, &w), 0);
    assert_int_equal(atomic_load(&ep(seg, 0)->probe_pid), A);
    assert_int_equal(cred_release(seg, 0, A, CRED_OK, 0, NULL, 0), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_opens_at_threshold),
        T(test_success_resets_count),
        T(test_half_open_one_probe),
        T(test_failed_probes_double_cooldown),
        T(test_straggler_in_open_ignored),
        T(test_neutral_probe_hands_on),
        T(test_dead_probe_replaced),
        T(test_no_breaker_out_of_range),
        T(test_one_probe_among_racers),
        T(test_reserve_skips_open_endpoint),
        T(test_half_open_without_probe_is_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
