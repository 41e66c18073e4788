/*
 * test_pool.c - unit tests of the pure parts of the coordinator's pool
 * monitor (runtime/pool.h): how one look at the keys is counted, the width
 * rule (items in flight = min(--parallel, request slots of the keys that can
 * serve now), never below 1) and when the pool counts as exhausted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/pool.h"

#define NOW 1000000000LL

static struct cred_pub key(uint32_t state, uint32_t conc, uint32_t roles, int64_t until)
{
    struct cred_pub k;
    memset(&k, 0, sizeof(k));
    k.state = state;
    k.concurrency = conc;
    k.roles = roles;
    k.rate_limited_until_ns = until;
    return k;
}

static void test_parallelism_rule(void **state)
{
    (void)state;
    assert_int_equal(pool_parallelism(5, 2), 2);  /* two keys' slots narrow five */
    assert_int_equal(pool_parallelism(3, 10), 3); /* never past --parallel */
    assert_int_equal(pool_parallelism(4, 4), 4);
    assert_int_equal(pool_parallelism(4, 0), 1); /* no key serves: still one */
    assert_int_equal(pool_parallelism(0, 0), 1);
    assert_int_equal(pool_parallelism(1, 100), 1);
}

static void test_view_counts_each_state(void **state)
{
    (void)state;
    struct pool_view v;
    memset(&v, 0, sizeof(v));
    struct cred_pub serving = key(CRED_AVAILABLE, 3, CRED_ROLE_DRAFT, 0);
    struct cred_pub reserved = key(CRED_RESERVED, 0, CRED_ROLE_REVIEW, 0); /* 0 counts as 1 */
    struct cred_pub limited = key(CRED_RATE_LIMITED, 2, CRED_ROLE_REVIEW, NOW + 1);
    struct cred_pub expired = key(CRED_RATE_LIMITED, 2, CRED_ROLE_DRAFT, NOW); /* its time came */
    struct cred_pub disabled = key(CRED_DISABLED, 5, CRED_ROLE_REVIEW | CRED_ROLE_DRAFT, 0);
    struct cred_pub cut = key(CRED_AVAILABLE, 4, CRED_ROLE_DRAFT, 0);
    pool_view_add(&v, &serving, 1, NOW);
    pool_view_add(&v, &reserved, 1, NOW);
    pool_view_add(&v, &limited, 1, NOW);
    pool_view_add(&v, &expired, 1, NOW);
    pool_view_add(&v, &disabled, 1, NOW);
    pool_view_add(&v, &cut, 0, NOW); /* its endpoint's breaker is open */
    assert_int_equal(v.keys, 6);
    assert_int_equal(v.disabled, 1);
    assert_int_equal(v.limited, 1);
    assert_int_equal(v.cut_off, 1);
    assert_int_equal(v.serving_slots, 3 + 1 + 2);
    /* a disabled key's roles are not live; a limited or cut-off key's are (they come back) */
    assert_int_equal(v.live_roles, CRED_ROLE_DRAFT | CRED_ROLE_REVIEW);
    assert_int_equal(pool_parallelism(10, v.serving_slots), 6);
}

static void test_exhausted(void **state)
{
    (void)state;
    struct pool_view v;
    const uint32_t both = CRED_ROLE_DRAFT | CRED_ROLE_REVIEW;
    memset(&v, 0, sizeof(v));
    assert_int_equal(pool_missing_roles(&v, both), both); /* no key at all */
    struct cred_pub d = key(CRED_DISABLED, 1, both, 0);
    pool_view_add(&v, &d, 1, NOW);
    pool_view_add(&v, &d, 1, NOW);
    assert_int_equal(pool_missing_roles(&v, CRED_ROLE_DRAFT), CRED_ROLE_DRAFT);
    assert_int_equal(pool_missing_roles(&v, 0), both); /* every key disabled */
    /* one draft key left alive: a run that needs review has no key that can come back */
    struct cred_pub drafter = key(CRED_RATE_LIMITED, 1, CRED_ROLE_DRAFT, NOW + 5);
    pool_view_add(&v, &drafter, 1, NOW);
    assert_int_equal(pool_missing_roles(&v, both), CRED_ROLE_REVIEW);
    assert_int_equal(pool_missing_roles(&v, CRED_ROLE_DRAFT), 0);
    struct cred_pub reviewer = key(CRED_AVAILABLE, 1, CRED_ROLE_REVIEW, 0);
    pool_view_add(&v, &reviewer, 0, NOW); /* cut off: still comes back by itself */
    assert_int_equal(pool_missing_roles(&v, both), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parallelism_rule),
        cmocka_unit_test(test_view_counts_each_state),
        cmocka_unit_test(test_exhausted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
