/*
 * test_deps.c - unit tests of the dependency rules every workflow's items
 * share (runtime/deps.h): wave order, cycles and bad indexes refused,
 * "pending" cascading, and the claim gate (READY / WAIT / NEVER) over
 * states handed in by a function, as the coordinator's tick does.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/deps.h"
#include "shm/shm_layout.h"

#define NMAX 16

/* A list of n items whose dependencies are given as strings of indexes: "" or "0 2". */
struct graph {
    struct item v[NMAX];
    size_t deps[NMAX][NMAX];
    struct item_list l;
};

static void graph_make(struct graph *g, size_t n, const char *const *deps)
{
    memset(g, 0, sizeof(*g));
    for (size_t i = 0; i < n; i++) {
        const char *s = deps[i];
        char *end;
        g->v[i].deps = g->deps[i];
        while (*s) {
            g->deps[i][g->v[i].ndeps++] = strtoul(s, &end, 10);
            s = end;
        }
    }
    g->l.v = g->v;
    g->l.n = n;
}

static void test_waves_in_order(void **state)
{
    (void)state;
    /* 0 <- 2 <- 3, 1 <- 3, 4 alone, 5 <- 0 */
    const char *deps[] = {"", "", "0", "2 1", "", "0"};
    struct graph g;
    graph_make(&g, 6, deps);
    size_t *order;
    unsigned nwaves;
    assert_int_equal(deps_order(&g.l, &order, &nwaves), 0);
    assert_int_equal(nwaves, 3);
    unsigned want_wave[] = {0, 0, 1, 2, 0, 1};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(g.v[i].wave, want_wave[i]);
    /* by wave, list order within a wave */
    size_t want[] = {0, 1, 4, 2, 5, 3};
    for (size_t k = 0; k < 6; k++)
        assert_int_equal(order[k], want[k]);
    free(order);
}

static void test_no_deps_is_one_wave(void **state)
{
    (void)state;
    const char *deps[] = {"", "", ""};
    struct graph g;
    graph_make(&g, 3, deps);
    size_t *order;
    unsigned nwaves;
    assert_int_equal(deps_order(&g.l, &order, &nwaves), 0);
    assert_int_equal(nwaves, 1);
    for (size_t k = 0; k < 3; k++)
        assert_int_equal(order[k], k);
    free(order);
    g.l.n = 0; /* no item at all: no wave */
    assert_int_equal(deps_order(&g.l, &order, &nwaves), 0);
    assert_int_equal(nwaves, 0);
    free(order);
}

static void test_cycles_and_bad_indexes(void **state)
{
    (void)state;
    size_t *order = (size_t *)1;
    unsigned nwaves = 7;
    const char *cycle[] = {"2", "0", "1", ""};
    struct graph g;
    graph_make(&g, 4, cycle);
    assert_int_equal(deps_order(&g.l, &order, &nwaves), -ELOOP);
    assert_null(order);
    assert_int_equal(nwaves, 0);
    const char *self[] = {"", "1"};
    graph_make(&g, 2, self);
    assert_int_equal(deps_order(&g.l, &order, &nwaves), -ELOOP);
    const char *range[] = {"", "5"};
    graph_make(&g, 2, range);
    assert_int_equal(deps_order(&g.l, &order, &nwaves), -EINVAL);
    assert_null(order);
}

static void test_cascade_pending(void **state)
{
    (void)state;
    /* 0 <- 1 <- 2, 3 <- 4; only 0 is pending (edited): 1 and 2 must run again, 3 and 4 not */
    const char *deps[] = {"", "0", "1", "", "3"};
    struct graph g;
    graph_make(&g, 5, deps);
    g.v[0].pending = 1;
    size_t *order;
    unsigned nwaves;
    assert_int_equal(deps_order(&g.l, &order, &nwaves), 0);
    deps_cascade_pending(&g.l, order);
    int want[] = {1, 1, 1, 0, 0};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(g.v[i].pending, want[i]);
    free(order);
}

/* The states of a pretend run: slot k has ended with state[k] when ended[k]. */
struct run_states {
    int ended[NMAX];
    uint32_t state[NMAX];
};

static int state_of(void *arg, long slot, uint32_t *state)
{
    struct run_states *s = arg;
    if (!s->ended[slot])
        return 0;
    *state = s->state[slot];
    return 1;
}

static void test_gate(void **state)
{
    (void)state;
    /* item 3 depends on 0, 1 and 2; 0 is up to date from an earlier run (no slot) */
    const char *deps[] = {"", "", "", "0 1 2"};
    struct graph g;
    graph_make(&g, 4, deps);
    long slot_of[] = {-1, 0, 1, 2};
    struct run_states s;
    memset(&s, 0, sizeof(s));
    size_t bad = 99;
    uint32_t bad_state = 99;
    const struct item *it = &g.v[3];

    /* slots: item 1 runs in slot 0, item 2 in slot 1 (item 3 itself in slot 2) */
    assert_int_equal(deps_gate(it, slot_of, state_of, &s, &bad, &bad_state), DEPS_WAIT);
    s.ended[0] = 1;
    s.state[0] = PROG_APPROVED;
    assert_int_equal(deps_gate(it, slot_of, state_of, &s, &bad, &bad_state), DEPS_WAIT);
    /* stopped from outside, about to be retried: still waiting, not a failure */
    s.ended[1] = 1;
    s.state[1] = PROG_INTERRUPTED;
    assert_int_equal(deps_gate(it, slot_of, state_of, &s, &bad, &bad_state), DEPS_WAIT);
    s.state[1] = PROG_PASSED; /* passed counts as approved does */
    assert_int_equal(deps_gate(it, slot_of, state_of, &s, &bad, &bad_state), DEPS_READY);
    assert_int_equal(bad, 99); /* untouched unless NEVER */

    uint32_t never[] = {PROG_FAILED, PROG_SKIPPED, PROG_NEEDS_REVISION};
    for (size_t k = 0; k < 3; k++) {
        s.state[1] = never[k];
        assert_int_equal(deps_gate(it, slot_of, state_of, &s, &bad, &bad_state), DEPS_NEVER);
        assert_int_equal(bad, 2); /* the item index, not the slot */
        assert_int_equal(bad_state, never[k]);
    }
    /* a failure decides even while another dependency still runs */
    s.ended[0] = 0;
    s.state[1] = PROG_FAILED;
    assert_int_equal(deps_gate(it, slot_of, state_of, &s, &bad, &bad_state), DEPS_NEVER);
    /* no dependency: ready at once */
    assert_int_equal(deps_gate(&g.v[1], slot_of, state_of, &s, &bad, &bad_state), DEPS_READY);
}

/* A chain of 10,000 items: linear, and each one wave deeper. */
static void test_long_chain(void **state)
{
    (void)state;
    enum { N = 10000 };
    struct item *v = calloc(N, sizeof(*v));
    size_t *dep = calloc(N, sizeof(*dep));
    assert_non_null(v);
    assert_non_null(dep);
    for (size_t i = 1; i < N; i++) { /* listed backwards: the last item depends on nothing */
        dep[i] = i - 1;
        v[N - 1 - i].deps = &dep[i];
    }
    for (size_t i = 0; i + 1 < N; i++) {
        v[i].deps = &dep[N - 1 - i];
        *v[i].deps = i + 1;
        v[i].ndeps = 1;
    }
    struct item_list l = {.v = v, .n = N};
    size_t *order;
    unsigned nwaves;
    assert_int_equal(deps_order(&l, &order, &nwaves), 0);
    assert_int_equal(nwaves, N);
    assert_int_equal(order[0], N - 1);
    assert_int_equal(order[N - 1], 0);
    assert_int_equal(v[0].wave, N - 1);
    free(order);
    free(dep);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_waves_in_order),
        cmocka_unit_test(test_no_deps_is_one_wave),
        cmocka_unit_test(test_cycles_and_bad_indexes),
        cmocka_unit_test(test_cascade_pending),
        cmocka_unit_test(test_gate),
        cmocka_unit_test(test_long_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
