/*
 * test_coord.c - unit tests of the coordinator's pure part: the exit status
 * from how the run ended and the items' final outcomes (SPEC 3).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/coord.h"

static void test_done_runs(void **state)
{
    (void)state;
    unsigned n[PROG_STATE_COUNT];
    memset(n, 0, sizeof(n));
    n[PROG_APPROVED] = 3;
    n[PROG_NEEDS_REVISION] = 1; /* processed: needs revision is not a failure */
    n[PROG_PASSED] = 2;
    n[PROG_OTHER_RUN] = 2; /* processed: left to the live run that owns them, nothing failed */
    assert_int_equal(coord_exit_status(COORD_END_DONE, n, 1), RUN_EXIT_OK);
    assert_int_equal(coord_exit_status(COORD_END_DONE, n, 0), RUN_EXIT_FAILED); /* unreadable */
    const uint32_t bad[] = {PROG_FAILED, PROG_SKIPPED, PROG_INTERRUPTED, PROG_PENDING};
    for (size_t k = 0; k < 4; k++) {
        unsigned m[PROG_STATE_COUNT];
        memcpy(m, n, sizeof(m));
        m[bad[k]] = 1;
        assert_int_equal(coord_exit_status(COORD_END_DONE, m, 1), RUN_EXIT_FAILED);
    }
    memset(n, 0, sizeof(n)); /* no item at all */
    assert_int_equal(coord_exit_status(COORD_END_DONE, n, 1), RUN_EXIT_OK);
}

static void test_ended_early(void **state)
{
    (void)state;
    unsigned n[PROG_STATE_COUNT];
    memset(n, 0, sizeof(n));
    n[PROG_FAILED] = 1;
    /* how the run ended decides before the outcomes do */
    assert_int_equal(coord_exit_status(COORD_END_INTERRUPTED, n, 1), RUN_EXIT_INTERRUPTED);
    assert_int_equal(coord_exit_status(COORD_END_KILLED, n, 0), RUN_EXIT_INTERRUPTED);
    assert_int_equal(coord_exit_status(COORD_END_PAUSED, n, 1), RUN_EXIT_PAUSED);
    memset(n, 0, sizeof(n));
    n[PROG_APPROVED] = 2;
    assert_int_equal(coord_exit_status(COORD_END_INTERRUPTED, n, 1), 130);
    assert_int_equal(coord_exit_status(COORD_END_PAUSED, n, 1), 75);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_done_runs),
        cmocka_unit_test(test_ended_early),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
