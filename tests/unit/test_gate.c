/*
 * test_gate.c - concurrency gates in the segment (shm/gate.h) and the
 * adaptive limiter's coordinator side over them (runtime/adapt.h): limits
 * obeyed by contending processes, places of a dead worker given back, group
 * deadlines, a key mask and an endpoint gate in the reservation, and windows
 * closed from the workers' cumulative counts on an injected clock.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime/adapt.h"
#include "shm/cred.h"
#include "shm/gate.h"
#include "shm/segment.h"
#include "shm/util.h"

#define SEC UTIL_NS_PER_SEC

static int counter;

static void make_seg(struct shm_segment *seg, uint32_t keys, uint32_t group_limit,
                     int64_t group_timeout_ns)
{
    char id[SHM_RUN_ID_MAX], err[256];
    const char *urls[] = {"http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"};
    const char *nodes[] = {"N1_design", "N2_review"};
    const uint32_t node_limits[] = {0, 1};
    const char *groups[] = {"g1"};
    snprintf(id, sizeof(id), "tgate-%d-%d", (int)getpid(), counter++);
    struct shm_create_params p = {.run_id = id,
                                  .workflow = "lld",
                                  .item_count = 4,
                                  .key_count = keys,
                                  .worker_count = 10,
                                  .parallel_max = 10,
                                  .endpoint_count = 2,
                                  .endpoint_urls = urls,
                                  .node_count = 2,
                                  .node_names = nodes,
                                  .node_limits = node_limits,
                                  .group_count = 1,
                                  .group_names = groups,
                                  .group_limits = &group_limit,
                                  .group_timeouts_ns = &group_timeout_ns,
                                  .start_gap_ns = SEC / 2};
    if (shm_segment_create(seg, &p, err, sizeof(err)) != 0)
        fail_msg("create: %s", err);
}

static void drop_seg(struct shm_segment *seg)
{
    shm_segment_unlink(seg->name);
    shm_segment_detach(seg);
}

static void test_layout_and_lookup(void **state)
{
    (void)state;
    struct shm_segment seg;
    make_seg(&seg, 1, 2, 0);
    assert_int_equal(seg.hdr->layout_version, SHM_LAYOUT_VERSION);
    assert_int_equal(seg.hdr->gate_count, 5);
    assert_int_equal(seg.hdr->start_gap_ns, SEC / 2);
    assert_int_equal(gate_group_count(&seg), 1);
    assert_string_equal(gate_endpoint(&seg, 1)->name, "http://127.0.0.1:2/v1");
    assert_int_equal(gate_endpoint(&seg, 1)->kind, GATE_ENDPOINT);
    assert_string_equal(gate_node(&seg, 1)->name, "N2_review");
    assert_int_equal(atomic_load(&gate_node(&seg, 1)->limit), 1);
    assert_int_equal(atomic_load(&gate_node(&seg, 0)->limit), 0);
    assert_string_equal(gate_group(&seg, 0)->name, "g1");
    assert_int_equal(atomic_load(&gate_group(&seg, 0)->limit), 2);
    assert_null(gate_group(&seg, 1));
    assert_null(gate_node(&seg, 2));
    assert_null(gate_endpoint(&seg, 2));
    assert_non_null(shm_lwin_slot(&seg, 9, 1));
    assert_null(shm_lwin_slot(&seg, 10, 0));
    /* attach checks the new regions too */
    struct shm_segment ro;
    char err[256];
    assert_int_equal(shm_segment_attach(&ro, seg.name, 1, err, sizeof(err)), 0);
    shm_segment_detach(&ro);
    drop_seg(&seg);
}

static void test_limit_release_dead(void **state)
{
    (void)state;
    struct shm_segment seg;
    make_seg(&seg, 1, 2, 0);
    struct gate_sh *g = gate_group(&seg, 0);
    assert_int_equal(gate_try(g, 0, 1), GATE_TAKEN);
    assert_int_equal(gate_try(g, 0, 1), GATE_TAKEN); /* held already: no second place */
    assert_int_equal(gate_held(g), 1);
    assert_int_equal(gate_try(g, 3, 1), GATE_TAKEN);
    assert_int_equal(gate_try(g, 5, 1), GATE_FULL);
    assert_int_equal(atomic_load(&g->refused), 1);
    gate_release(g, 0);
    assert_int_equal(gate_try(g, 5, 1), GATE_TAKEN);
    assert_int_equal(atomic_load(&g->max_held), 2);
    /* worker 5 dies holding places in two gates: both come back */
    assert_int_equal(gate_try(gate_node(&seg, 1), 5, 1), GATE_TAKEN);
    assert_int_equal(gate_release_dead(&seg, 5), 2);
    assert_int_equal(gate_held(g), 1);
    assert_int_equal(gate_held(gate_node(&seg, 1)), 0);
    /* a lowered limit is reached as places come back */
    atomic_store(&g->limit, 1);
    assert_int_equal(gate_try(g, 7, 1), GATE_FULL);
    gate_release(g, 3);
    assert_int_equal(gate_try(g, 7, 1), GATE_TAKEN);
    assert_int_equal(gate_try(NULL, 7, 1), GATE_TAKEN); /* no gate: no limit */
    drop_seg(&seg);
}

static void test_group_deadline(void **state)
{
    (void)state;
    struct shm_segment seg;
    make_seg(&seg, 1, 0, 2 * SEC);
    struct gate_sh *g = gate_group(&seg, 0);
    assert_false(gate_expired(g, 100 * SEC)); /* not started: no deadline yet */
    assert_int_equal(gate_try(g, 1, 10 * SEC), GATE_TAKEN);
    assert_int_equal(atomic_load(&g->deadline_ns), 12 * SEC);
    assert_int_equal(gate_try(g, 2, 11 * SEC), GATE_TAKEN); /* the first start set it */
    assert_int_equal(atomic_load(&g->deadline_ns), 12 * SEC);
    assert_false(gate_expired(g, 12 * SEC));
    assert_true(gate_expired(g, 12 * SEC + 1));
    assert_int_equal(gate_try(g, 3, 13 * SEC), GATE_EXPIRED);
    drop_seg(&seg);
}

/* Ten processes take and give places of a gate of 3; none ever sees more than 3 held. */
static void test_contention(void **state)
{
    (void)state;
    struct shm_segment seg;
    make_seg(&seg, 1, 3, 0);
    struct gate_sh *g = gate_group(&seg, 0);
    pid_t pids[10];
    for (unsigned w = 0; w < 10; w++) {
        pids[w] = fork();
        if (pids[w] == 0) {
            int bad = 0;
            for (int i = 0; i < 3000; i++) {
                if (gate_try(g, w, 1) != GATE_TAKEN)
                    continue;
                bad |= gate_held(g) > 3;
                gate_release(g, w);
            }
            _exit(bad);
        }
    }
    for (unsigned w = 0; w < 10; w++) {
        int st;
        assert_int_equal(waitpid(pids[w], &st, 0), pids[w]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    assert_true(atomic_load(&g->max_held) <= 3);
    assert_int_equal(gate_held(g), 0);
    drop_seg(&seg);
}

static void init_key(struct shm_segment *seg, uint32_t i, uint32_t endpoint, uint32_t conc)
{
    char id[16];
    snprintf(id, sizeof(id), "key-%u", i + 1);
    struct cred_init ci = {
        .id = id, .provider = "openai", .model = "m", .concurrency = conc, .endpoint = endpoint};
    assert_int_equal(cred_slot_init(shm_cred_slot(seg, i), &ci), 0);
}

static void test_reserve_mask_and_endpoint_gate(void **state)
{
    (void)state;
    struct shm_segment seg;
    make_seg(&seg, 3, 0, 0);
    init_key(&seg, 0, 0, 4);
    init_key(&seg, 1, 0, 4);
    init_key(&seg, 2, 1, 4);
    int32_t me = (int32_t)getpid();
    uint64_t mask[SHM_MAX_KEYS / 64] = {1u << 2}; /* key-3 only */
    struct cred_ask a = {.role = CRED_ROLE_REVIEW, .pid = me, .key_mask = mask, .gate_worker = 1};
    struct cred_wait w;
    for (int i = 0; i < 3; i++) {
        int k = cred_reserve_ask(&seg, &a, util_now_mono_ns(), &w);
        assert_int_equal(k, 2);
        struct cred_end e = {.outcome = CRED_OK, .endpoint = BREAKER_SUCCESS, .gate_worker = 1};
        struct cred_end_report rep;
        assert_int_equal(gate_held(gate_endpoint(&seg, 1)), 1);
        assert_int_equal(cred_end(&seg, (uint32_t)k, me, &e, &rep), 0);
        assert_int_equal(gate_held(gate_endpoint(&seg, 1)), 0);
    }
    /* endpoint 0's gate at 1, held by worker 2: workers 1 cannot reserve keys 1-2 now */
    atomic_store(&gate_endpoint(&seg, 0)->limit, 1);
    assert_int_equal(gate_try(gate_endpoint(&seg, 0), 2, 1), GATE_TAKEN);
    struct cred_ask b = {.role = CRED_ROLE_DRAFT, .pid = me, .gate_worker = 1};
    mask[0] = 3u; /* key-1, key-2 */
    b.key_mask = mask;
    assert_int_equal(cred_reserve_ask(&seg, &b, util_now_mono_ns(), &w), -EAGAIN);
    assert_int_equal(w.usable_keys, 2);
    assert_true(w.retry_at_ns > 0);
    gate_release(gate_endpoint(&seg, 0), 2);
    int k = cred_reserve_ask(&seg, &b, util_now_mono_ns(), &w);
    assert_true(k == 0 || k == 1);
    assert_int_equal(gate_held(gate_endpoint(&seg, 0)), 1);
    int dropped = 0;
    assert_int_equal(cred_release_dead(&seg, me, SEC, &dropped), 0);
    assert_int_equal(dropped, 1);
    assert_int_equal(gate_release_dead(&seg, 0), 1); /* the coordinator's part */
    drop_seg(&seg);
}

struct changes {
    int n;
    struct adapt_change last;
};

static void on_change(void *arg, const struct adapt_change *c)
{
    struct changes *ch = arg;
    ch->n++;
    ch->last = *c;
}

static void test_adapt_windows(void **state)
{
    (void)state;
    struct shm_segment seg;
    struct adapt a;
    struct changes ch = {0};
    make_seg(&seg, 1, 0, 0);
    struct limiter_policy p = limiter_policy_default();
    p.window_s = 10;
    assert_int_equal(adapt_init(&a, &seg, &p, 8, 1, 0), 0);
    struct gate_sh *g = gate_endpoint(&seg, 0);
    assert_int_equal(atomic_load(&g->limit), 4); /* half the width first */
    /* healthy samples from two workers: nothing before the window is due */
    for (int i = 0; i < 10; i++)
        adapt_sample(&seg, (uint32_t)(i % 2), 0, 300, 0);
    assert_int_equal(adapt_tick(&a, 5 * SEC, on_change, &ch), 0);
    /* the first window is the run's ramp-up: closed, but no decision */
    assert_int_equal(adapt_tick(&a, 10 * SEC, on_change, &ch), 0);
    for (int i = 0; i < 10; i++)
        adapt_sample(&seg, (uint32_t)(i % 2), 0, 300, 0);
    assert_int_equal(adapt_tick(&a, 20 * SEC, on_change, &ch), 1);
    assert_int_equal(ch.last.ch.from, 4);
    assert_int_equal(ch.last.ch.to, 5);
    assert_int_equal(ch.last.finished, 10);
    assert_int_equal(atomic_load(&g->limit), 5);
    struct gate_status st;
    assert_int_equal(gate_status_read(g, &st), 0);
    assert_int_equal(st.windows, 2);
    assert_int_equal(st.win_finished, 10);
    assert_int_equal(st.to, 5);
    /* errors decide a window before it is due: closed at the next tick */
    for (int i = 0; i < 4; i++)
        adapt_sample(&seg, 3, 0, 5, 1);
    assert_int_equal(adapt_tick(&a, 20 * SEC + SEC / 10, on_change, &ch), 1);
    assert_int_equal(ch.last.ch.to, 4);
    assert_int_equal(ch.last.errors, 4);
    assert_non_null(strstr(ch.last.ch.reason, "error share 100 %"));
    /* the other endpoint saw nothing: no change there */
    assert_int_equal(atomic_load(&gate_endpoint(&seg, 1)->limit), 4);
    char name[64];
    adapt_endpoint_name(ch.last.url, name, sizeof(name));
    assert_string_equal(name, "127.0.0.1:1");
    adapt_free(&a);
    drop_seg(&seg);
    /* off: gates keep no limit */
    make_seg(&seg, 1, 0, 0);
    assert_int_equal(adapt_init(&a, &seg, &p, 8, 0, 0), 0);
    assert_int_equal(atomic_load(&gate_endpoint(&seg, 0)->limit), 0);
    assert_int_equal(adapt_tick(&a, 100 * SEC, on_change, &ch), 0);
    drop_seg(&seg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_and_lookup),
        cmocka_unit_test(test_limit_release_dead),
        cmocka_unit_test(test_group_deadline),
        cmocka_unit_test(test_contention),
        cmocka_unit_test(test_reserve_mask_and_endpoint_gate),
        cmocka_unit_test(test_adapt_windows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
