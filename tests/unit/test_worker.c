/*
 * test_worker.c - unit tests of the worker's pure parts: the state an item
 * ends in, from its finishing node's outcome and from a result file already
 * written (a retry that finds the item's commit point takes its outcome from
 * there, so both must agree).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "runtime/run.h"
#include "shm/prog.h"

static void test_outcome_state(void **state)
{
    (void)state;
    assert_int_equal(wrk_outcome_state(WF_OUTCOME_APPROVED), PROG_APPROVED);
    assert_int_equal(wrk_outcome_state(WF_OUTCOME_PASSED), PROG_PASSED);
    assert_int_equal(wrk_outcome_state(WF_OUTCOME_NEEDS_REVISION), PROG_NEEDS_REVISION);
    assert_int_equal(wrk_outcome_state(WF_OUTCOME_NONE), PROG_NEEDS_REVISION);
}

static void test_result_state(void **state)
{
    (void)state;
    assert_int_equal(wrk_result_state("approved"), PROG_APPROVED);
    assert_int_equal(wrk_result_state("passed"), PROG_PASSED);
    assert_int_equal(wrk_result_state("needs-revision"), PROG_NEEDS_REVISION);
    /* a result exists, whatever it says: never failed, never running again */
    assert_int_equal(wrk_result_state("failed"), PROG_NEEDS_REVISION);
    assert_int_equal(wrk_result_state("running"), PROG_NEEDS_REVISION);
    assert_int_equal(wrk_result_state(""), PROG_NEEDS_REVISION);
    assert_int_equal(wrk_result_state("APPROVED"), PROG_NEEDS_REVISION);
    assert_int_equal(wrk_result_state(NULL), PROG_NEEDS_REVISION);
    /* the two agree: what a node ends with is what its result file says */
    const int outcomes[] = {WF_OUTCOME_APPROVED, WF_OUTCOME_PASSED, WF_OUTCOME_NEEDS_REVISION};
    for (int k = 0; k < 3; k++) {
        uint32_t s = wrk_outcome_state(outcomes[k]);
        assert_int_equal(wrk_result_state(prog_state_name(s)), s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outcome_state),
        cmocka_unit_test(test_result_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
