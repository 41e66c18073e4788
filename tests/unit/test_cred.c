/*
 * test_cred.c - unit tests of credential-slot reservation.
 *
 * Each test runs on a real segment (its own "/agentos-tcred-<pid>-<n>",
 * unlinked at teardown) and passes fake CLOCK_MONOTONIC values as now_ns, so
 * rate limits and the token bucket are tested without sleeping. The robust
 * tests fork a child that dies holding a reservation: once holding the slot
 * mutex itself (EOWNERDEAD repair), once outside it (cred_release_dead).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "shm/util.h"
#include "shm/cred.h"

#define SEC UTIL_NS_PER_SEC
#define T0 (100 * SEC) /* fake "now"; any positive value works */
#define NKEYS 4
#define STRESS_WORKERS 3
#define STRESS_ROUNDS 3000

static int seg_counter;

/* The segment of one test, with NKEYS configured-later key slots. */
static int setup(void **state)
{
    static struct shm_segment seg;
    struct shm_create_params p = {.workflow = "lld",
                                  .item_count = 2,
                                  .key_count = NKEYS,
                                  .worker_count = 2,
                                  .parallel_max = 2};
    char id[SHM_RUN_ID_MAX], err[256];

    snprintf(id, sizeof(id), "tcred-%d-%d", (int)getpid(), seg_counter++);
    p.run_id = id;
    if (shm_segment_create(&seg, &p, err, sizeof(err)) < 0) {
        print_error("%s\n", err);
        return -1;
    }
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

static void add_key(struct shm_segment *seg, uint32_t i, uint32_t roles, uint32_t conc,
                    uint32_t rpm)
{
    char id[16];
    struct cred_init ci = {.id = id,
                           .provider = "openai",
                           .model = "m",
                           .roles = roles,
                           .concurrency = conc,
                           .rpm = rpm};

    snprintf(id, sizeof(id), "key-%u", i + 1);
    assert_int_equal(cred_slot_init(shm_cred_slot(seg, i), &ci), 0);
}

static struct cred_slot_sh *key(struct shm_segment *seg, uint32_t i)
{
    return shm_cred_slot(seg, i);
}

static void test_unconfigured_pool(void **state)
{
    struct shm_segment *seg = *state;
    struct cred_wait w;

    /* Slots the coordinator never loaded have no role: nothing to hand out. */
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 100, T0, &w), -ENOKEY);
    assert_int_equal(w.usable_keys, 0);
}

static void test_reserve_release_basics(void **state)
{
    struct shm_segment *seg = *state;
    struct cred_slot_sh *k;
    struct cred_wait w;

    add_key(seg, 0, 0, 1, 0);
    k = key(seg, 0);
    assert_string_equal(k->st.id, "key-1");
    assert_int_equal(k->st.roles, CRED_ROLE_DRAFT | CRED_ROLE_REVIEW);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 100, T0, &w), 0);
    assert_int_equal(k->st.in_use, 1);
    assert_int_equal(k->st.holders[0], 100);
    assert_int_equal(k->st.state, CRED_RESERVED);
    assert_int_equal(k->st.reserved_since_ns, T0);
    assert_int_equal(atomic_load(&k->requests), 1);

    assert_int_equal(cred_reserve(seg, CRED_ROLE_REVIEW, 101, T0, &w), -EAGAIN);
    assert_int_equal(w.usable_keys, 1);
    assert_int_equal(w.ready_slots, 1);
    assert_true(w.retry_at_ns > T0 && w.retry_at_ns <= T0 + SEC / 10);

    assert_int_equal(cred_release(seg, 0, 101, CRED_OK, 0, NULL, 5), -ENOENT);
    assert_int_equal(cred_release(seg, 0, 100, CRED_FAILED, 0, NULL, 250), 0);
    assert_int_equal(k->st.in_use, 0);
    assert_int_equal(k->st.holders[0], 0);
    assert_int_equal(k->st.state, CRED_AVAILABLE);
    assert_int_equal(atomic_load(&k->errors), 1);
    assert_int_equal(atomic_load(&k->latency_ms_sum), 250);
    assert_int_equal(cred_release(seg, 0, 100, CRED_OK, 0, NULL, 0), -ENOENT);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_REVIEW, 101, T0, &w), 0);
    assert_string_equal(cred_state_name(k->st.state), "reserved");
    assert_string_equal(cred_state_name(CRED_RATE_LIMITED), "rate_limited");
    assert_string_equal(cred_state_name(42), "unknown");
}

static void test_roles(void **state)
{
    struct shm_segment *seg = *state;

    add_key(seg, 0, CRED_ROLE_DRAFT, 1, 0);
    add_key(seg, 1, CRED_ROLE_REVIEW, 1, 0);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_REVIEW, 100, T0, NULL), 1);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 101, T0, NULL), 0);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 102, T0, NULL), -EAGAIN);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_REVIEW, 102, T0, NULL), -EAGAIN);
    assert_int_equal(cred_release(seg, 1, 100, CRED_OK, 0, NULL, 0), 0);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 102, T0, NULL), -EAGAIN);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_REVIEW, 102, T0, NULL), 1);
}

static void test_concurrency_two(void **state)
{
    struct shm_segment *seg = *state;
    struct cred_slot_sh *k = key(seg, 0);
    struct cred_wait w;

    add_key(seg, 0, 0, 2, 0);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 100, T0, &w), 0);
    assert_int_equal(k->st.state, CRED_AVAILABLE);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 101, T0, &w), 0);
    assert_int_equal(k->st.state, CRED_RESERVED);
    assert_int_equal(k->st.in_use, 2);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 102, T0, &w), -EAGAIN);
    assert_int_equal(w.ready_slots, 2);
    assert_int_equal(cred_release(seg, 0, 100, CRED_OK, 0, NULL, 0), 0);
    assert_int_equal(k->st.state, CRED_AVAILABLE);
    assert_int_equal(k->st.holders[1], 101);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 102, T0, &w), 0);

    /* concurrency above the holder array is capped */
    add_key(seg, 1, 0, 100, 0);
    assert_int_equal(key(seg, 1)->st.concurrency, SHM_KEY_HOLDERS_MAX);
}

static void test_rate_limited_skipped_until_its_time(void **state)
{
    struct shm_segment *seg = *state;
    struct cred_slot_sh *k0 = key(seg, 0);
    struct cred_wait w;

    add_key(seg, 0, 0, 1, 0);
    add_key(seg, 1, 0, 1, 0);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 100, T0, &w), 0);
    assert_int_equal(cred_release(seg, 0, 100, CRED_RATE_LIMIT, T0 + 5 * SEC, NULL, 0), 0);
    assert_int_equal(k0->st.state, CRED_RATE_LIMITED);
    assert_int_equal(k0->st.rate_limited_until_ns, T0 + 5 * SEC);
    assert_int_equal(atomic_load(&k0->http_429), 1);
    assert_int_equal(k0->st.backoff_exp, 1);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 100, T0, &w), 1);
    assert_int_equal(cred_release(seg, 1, 100, CRED_OK, 0, NULL, 0), 0);

    for (int i = 0; i < 5; i++) { /* only key 1 is handed out meanwhile */
        assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 100, T0 + i * SEC, &w), 1);
        assert_int_equal(w.ready_slots, 1);
        assert_int_equal(cred_release(seg, 1, 100, CRED_OK, 0, NULL, 0), 0);
    }
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 100, T0 + SEC, &w), 1);
    /* key 1 busy, key 0 limited: wait for the earlier of the two */
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 101, T0 + SEC, &w), -EAGAIN);
    assert_int_equal(w.usable_keys, 2);
    assert_int_equal(w.ready_slots, 1);
    assert_true(w.retry_at_ns > T0 + SEC && w.retry_at_ns < T0 + 2 * SEC);
    assert_int_equal(cred_release(seg, 1, 100, CRED_RATE_LIMIT, T0 + 8 * SEC, NULL, 0), 0);
    /* both limited: the earliest end is the retry time */
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 101, T0 + SEC, &w), -EAGAIN);
    assert_int_equal(w.retry_at_ns, T0 + 5 * SEC);
    assert_int_equal(w.ready_slots, 0);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 101, T0 + 5 * SEC - 1, &w), -EAGAIN);
    /* at its time key 0 comes back, its state flipped */
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 101, T0 + 5 * SEC, &w), 0);
    assert_int_equal(k0->st.state, CRED_RESERVED);
    assert_int_equal(k0->st.rate_limited_until_ns, 0);
    assert_int_equal(cred_release(seg, 0, 101, CRED_OK, 0, NULL, 0), 0);
    assert_int_equal(k0->st.state, CRED_AVAILABLE);
    assert_int_equal(k0->st.backoff_exp, 0);
}

/* An earlier hint never shortens a limit already in force. */
static void test_rate_limit_keeps_later_time(void **state)
{
    struct shm_segment *seg = *state;
    struct cred_slot_sh *k = key(seg, 0);

    add_key(seg, 0, 0, 2, 0);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 100, T0, NULL), 0);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 101, T0, NULL), 0);
    assert_int_equal(cred_release(seg, 0, 100, CRED_RATE_LIMIT, T0 + 9 * SEC, NULL, 0), 0);
    assert_int_equal(cred_release(seg, 0, 101, CRED_RATE_LIMIT, T0 + 3 * SEC, NULL, 0), 0);
    assert_int_equal(k->st.rate_limited_until_ns, T0 + 9 * SEC);
    assert_int_equal(k->st.in_use, 0);
    assert_int_equal(atomic_load(&k->http_429), 2);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 100, T0 + 4 * SEC, NULL), -EAGAIN);
}

static void test_disabled_pool_exhausted(void **state)
{
    struct shm_segment *seg = *state;
    struct cred_init ci = {.id = "key-1", .provider = "gemini", .model = "g"};
    char long_reason[200];
    struct cred_wait w;

    add_key(seg, 0, 0, 1, 0);
    add_key(seg, 1, 0, 1, 0);
    memset(long_reason, 'x', sizeof(long_reason) - 1);
    long_reason[sizeof(long_reason) - 1] = '\0';
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 100, T0, &w), 0);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 101, T0, &w), 1);
    assert_int_equal(cred_release(seg, 0, 100, CRED_DISABLE, 0, "HTTP 401", 0), 0);
    assert_int_equal(key(seg, 0)->st.state, CRED_DISABLED);
    assert_string_equal(key(seg, 0)->st.disabled_reason, "HTTP 401");
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 100, T0, &w), -EAGAIN);
    assert_int_equal(w.usable_keys, 1);
    assert_int_equal(cred_release(seg, 1, 101, CRED_DISABLE, 0, long_reason, 0), 0);
    assert_int_equal(strlen(key(seg, 1)->st.disabled_reason),
                     sizeof(key(seg, 1)->st.disabled_reason) - 1);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 100, T0 + 3600 * SEC, &w), -ENOKEY);
    assert_int_equal(w.usable_keys, 0);
    assert_int_equal(w.ready_slots, 0);

    /* a reload brings the key back, counters kept */
    assert_int_equal(cred_slot_reload(key(seg, 0), &ci, 0), 0);
    assert_int_equal(key(seg, 0)->st.state, CRED_AVAILABLE);
    assert_string_equal(key(seg, 0)->st.disabled_reason, "");
    assert_string_equal(key(seg, 0)->st.provider, "gemini");
    assert_int_equal(atomic_load(&key(seg, 0)->requests), 1);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 100, T0, &w), 0);
}

static void test_fair_spread(void **state)
{
    struct shm_segment *seg = *state;
    int got[3] = {-1, -1, -1};

    for (uint32_t i = 0; i < 3; i++)
        add_key(seg, i, 0, 1, 0);
    /* one at a time: round-robin by request count */
    for (int n = 0; n < 30; n++) {
        int k = cred_reserve(seg, CRED_ROLE_DRAFT, 100, T0, NULL);
        assert_int_equal(k, n % 3);
        assert_int_equal(cred_release(seg, (uint32_t)k, 100, CRED_OK, 0, NULL, 0), 0);
    }
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(atomic_load(&key(seg, i)->requests), 10);
    /* held at once: three different keys */
    for (int n = 0; n < 3; n++)
        got[n] = cred_reserve(seg, CRED_ROLE_REVIEW, 200 + n, T0, NULL);
    assert_true(got[0] >= 0 && got[1] >= 0 && got[2] >= 0);
    assert_true(got[0] != got[1] && got[1] != got[2] && got[0] != got[2]);
}

static void test_fewest_in_use_first(void **state)
{
    struct shm_segment *seg = *state;

    add_key(seg, 0, 0, 4, 0);
    add_key(seg, 1, 0, 4, 0);
    /* key 1 has more requests but key 0 is busier: key 1 wins */
    atomic_store(&key(seg, 1)->requests, 50);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 100, T0, NULL), 0);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 101, T0, NULL), 1);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 102, T0, NULL), 0);
}

/* A thread that holds key 0's slot mutex until told (a worker stopped while holding it). */
struct holder {
    struct cred_slot_sh *slot;
    int locked[2], go[2];
};

static void *hold_mutex(void *arg)
{
    struct holder *h = arg;
    char c = 1;

    if (cred_lock(h->slot) != 0)
        return NULL;
    if (write(h->locked[1], &c, 1) != 1 || read(h->go[0], &c, 1) != 1)
        c = 0;
    cred_unlock(h->slot);
    return NULL;
}

static void test_held_mutex_skipped(void **state)
{
    struct shm_segment *seg = *state;
    struct holder h = {.slot = key(seg, 0)};
    pthread_t t;
    char c = 1;

    add_key(seg, 0, 0, 4, 0);
    add_key(seg, 1, 0, 4, 0);
    assert_int_equal(pipe(h.locked), 0);
    assert_int_equal(pipe(h.go), 0);
    assert_int_equal(pthread_create(&t, NULL, hold_mutex, &h), 0);
    assert_int_equal(read(h.locked[0], &c, 1), 1);
    /* key 0 looks best in its published copy for ever; after one bounded wait on its
     * mutex the reservation takes key 1 instead of picking key 0 again every round */
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 100, T0, NULL), 1);
    assert_int_equal(write(h.go[1], &c, 1), 1);
    assert_int_equal(pthread_join(t, NULL), 0);
    /* held no longer: key 0 (fewer in use) serves again */
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 101, T0, NULL), 0);
    for (int i = 0; i < 2; i++) {
        close(h.locked[i]);
        close(h.go[i]);
    }
}

static void test_token_bucket(void **state)
{
    struct shm_segment *seg = *state;
    struct cred_wait w;

    add_key(seg, 0, CRED_ROLE_DRAFT, 4, 60); /* one request a second */
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 100, T0, &w), 0);
    assert_int_equal(cred_release(seg, 0, 100, CRED_OK, 0, NULL, 0), 0);
    /* no burst: the bucket holds one second's budget, here 1 request */
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 100, T0 + 1, &w), -EAGAIN);
    assert_int_equal(w.ready_slots, 4);
    assert_true(w.retry_at_ns >= T0 + SEC - 2 && w.retry_at_ns <= T0 + SEC + 2);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 100, T0 + SEC / 2, &w), -EAGAIN);
    assert_true(w.retry_at_ns >= T0 + SEC - 2 && w.retry_at_ns <= T0 + SEC + 2);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 100, w.retry_at_ns, &w), 0);
    /* an idle minute does not bank 60 requests */
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 101, T0 + 61 * SEC, &w), 0);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 102, T0 + 61 * SEC, &w), -EAGAIN);

    /* rpm 120: a burst of two, then one every half second */
    add_key(seg, 1, CRED_ROLE_REVIEW, 4, 120);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_REVIEW, 100, T0, &w), 1);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_REVIEW, 101, T0, &w), 1);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_REVIEW, 102, T0, &w), -EAGAIN);
    assert_true(w.retry_at_ns >= T0 + SEC / 2 - 2 && w.retry_at_ns <= T0 + SEC / 2 + 2);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_REVIEW, 102, T0 + SEC / 2 + 1, &w), 1);
}

/* The child reserves key 0, locks its mutex and is killed holding it. */
static pid_t die_holding(struct shm_segment *seg, int in_mutex)
{
    int status;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        if (cred_reserve(seg, CRED_ROLE_DRAFT, (int32_t)getpid(), T0, NULL) != 0)
            _exit(2);
        if (in_mutex) {
            if (cred_lock(key(seg, 0)) != 0)
                _exit(3);
            kill(getpid(), SIGKILL);
        }
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid); /* reaped: kill(pid, 0) says ESRCH */
    if (in_mutex)
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    else
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return pid;
}

static void test_robust_owner_died(void **state)
{
    struct shm_segment *seg = *state;
    struct cred_slot_sh *k = key(seg, 0);
    int32_t me = (int32_t)getpid();
    pid_t child;

    add_key(seg, 0, 0, 1, 0);
    child = die_holding(seg, 1);
    assert_int_equal(k->st.in_use, 1); /* the dead child's reservation, for now */
    assert_int_equal(k->st.holders[0], child);
    /* the reserve meets EOWNERDEAD, repairs, and the key is free again */
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, me, T0, NULL), 0);
    assert_int_equal(k->st.in_use, 1);
    for (int i = 0; i < SHM_KEY_HOLDERS_MAX; i++)
        assert_int_equal(k->st.holders[i], i == 0 ? me : 0);
    assert_int_equal(cred_release(seg, 0, me, CRED_OK, 0, NULL, 0), 0);
    assert_int_equal(k->st.in_use, 0);
    assert_int_equal(k->st.state, CRED_AVAILABLE);
    /* the mutex is consistent again: a plain lock works */
    assert_int_equal(cred_lock(k), 0);
    cred_unlock(k);
}

static void test_release_dead(void **state)
{
    struct shm_segment *seg = *state;
    struct cred_slot_sh *k = key(seg, 0);
    pid_t child;

    add_key(seg, 0, 0, 1, 0);
    child = die_holding(seg, 0);
    assert_int_equal(k->st.in_use, 1);
    assert_int_equal(k->st.state, CRED_RESERVED);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 100, T0, NULL), -EAGAIN);
    int dropped = -1;
    assert_int_equal(cred_release_dead(seg, child, 0, &dropped), 0);
    assert_int_equal(dropped, 1);
    assert_int_equal(k->st.in_use, 0);
    assert_int_equal(k->st.holders[0], 0);
    assert_int_equal(k->st.state, CRED_AVAILABLE);
    assert_int_equal(cred_release_dead(seg, child, 0, &dropped), 0);
    assert_int_equal(dropped, 0);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 100, T0, NULL), 0);
}

/* Many reservers at once: a key is never held by more than concurrency. */
struct stress {
    struct shm_segment *seg;
    _Atomic int held[2];
    _Atomic int violations;
    _Atomic long taken;
};

static void stress_loop(struct stress *st, int32_t pid)
{
    for (int n = 0; n < STRESS_ROUNDS; n++) {
        int k = cred_reserve(st->seg, CRED_ROLE_DRAFT, pid, util_now_mono_ns(), NULL);

        if (k < 0)
            continue;
        if (atomic_fetch_add(&st->held[k], 1) != 0)
            atomic_fetch_add(&st->violations, 1);
        atomic_fetch_sub(&st->held[k], 1);
        atomic_fetch_add(&st->taken, 1);
        if (cred_release(st->seg, (uint32_t)k, pid, CRED_OK, 0, NULL, 1) != 0)
            atomic_fetch_add(&st->violations, 1);
    }
}

static void stress_check(struct shm_segment *seg, struct stress *st)
{
    assert_int_equal(atomic_load(&st->violations), 0);
    assert_true(atomic_load(&st->taken) > 0);
    for (uint32_t i = 0; i < 2; i++) {
        assert_int_equal(key(seg, i)->st.in_use, 0);
        assert_int_equal(key(seg, i)->st.state, CRED_AVAILABLE);
    }
    assert_int_equal(atomic_load(&key(seg, 0)->requests) + atomic_load(&key(seg, 1)->requests),
                     (uint64_t)atomic_load(&st->taken));
}

static void test_stress_processes(void **state)
{
    struct shm_segment *seg = *state;
    /* the shared counters live in a spare prog slot of the same segment */
    struct stress *st = (struct stress *)shm_prog_slot(seg, 0);
    pid_t pids[STRESS_WORKERS];

    _Static_assert(sizeof(struct stress) <= sizeof(struct prog_slot_sh), "fits");
    memset(st, 0, sizeof(*st));
    st->seg = seg;
    add_key(seg, 0, 0, 1, 0);
    add_key(seg, 1, 0, 1, 0);
    for (int c = 0; c < STRESS_WORKERS; c++) {
        pids[c] = fork();
        assert_true(pids[c] >= 0);
        if (pids[c] == 0) {
            stress_loop(st, (int32_t)getpid());
            _exit(0);
        }
    }
    for (int c = 0; c < STRESS_WORKERS; c++) {
        int status;
        assert_int_equal(waitpid(pids[c], &status, 0), pids[c]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    stress_check(seg, st);
}

struct stress_arg {
    struct stress *st;
    int32_t pid;
};

static void *stress_thread(void *p)
{
    struct stress_arg *a = p;

    stress_loop(a->st, a->pid);
    return NULL;
}

/* The same with threads (distinct fake pids), so TSan sees every access. */
static void test_stress_threads(void **state)
{
    struct shm_segment *seg = *state;
    static struct stress st;
    struct stress_arg args[STRESS_WORKERS];
    pthread_t t[STRESS_WORKERS];

    add_key(seg, 0, 0, 1, 0);
    add_key(seg, 1, 0, 1, 0);
    memset(&st, 0, sizeof(st));
    st.seg = seg;
    for (int c = 0; c < STRESS_WORKERS; c++) {
        args[c] = (struct stress_arg){.st = &st, .pid = 1000000 + c};
        assert_int_equal(pthread_create(&t[c], NULL, stress_thread, &args[c]), 0);
    }
    for (int c = 0; c < STRESS_WORKERS; c++)
        assert_int_equal(pthread_join(t[c], NULL), 0);
    stress_check(seg, &st);
}

static void test_bad_arguments(void **state)
{
    struct shm_segment *seg = *state;

    add_key(seg, 0, 0, 1, 0);
    assert_int_equal(cred_reserve(seg, CRED_ROLE_DRAFT, 0, T0, NULL), -EINVAL);
    assert_int_equal(cred_release(seg, NKEYS, 100, CRED_OK, 0, NULL, 0), -EINVAL);
    int dropped;
    assert_int_equal(cred_release_dead(seg, 0, 0, &dropped), -EINVAL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_unconfigured_pool),
        T(test_reserve_release_basics),
        T(test_roles),
        T(test_concurrency_two),
        T(test_rate_limited_skipped_until_its_time),
        T(test_rate_limit_keeps_later_time),
        T(test_disabled_pool_exhausted),
        T(test_fair_spread),
        T(test_fewest_in_use_first),
        T(test_held_mutex_skipped),
        T(test_token_bucket),
        T(test_robust_owner_died),
        T(test_release_dead),
        T(test_stress_processes),
        T(test_stress_threads),
        T(test_bad_arguments),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
