/*
 * test_args.c - agentos-run's command line (SPEC 3): --parallel forms,
 * selection rules, value checks, and the program-name workflows.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/args.h"

static int parse(struct run_opts *o, char *err, char *warn, const char *wf, int argc, ...)
{
    char *argv[32];
    va_list ap;
    va_start(ap, argc);
    argv[0] = "agentos-run";
    for (int i = 1; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    argv[argc] = NULL;
    return args_parse(argc, argv, wf, o, err, 256, warn, 256);
}

static void test_defaults(void **state)
{
    (void)state;
    struct run_opts o;
    char err[256], warn[256];
    assert_int_equal(parse(&o, err, warn, "lld", 2, "--all"), 0);
    assert_int_equal(o.parallel, 1);
    assert_int_equal(o.max_reviews, 3);
    assert_int_equal(o.timeout_per_step, 300);
    assert_int_equal(o.pause_timeout, -1);
    assert_true(o.all);
    assert_string_equal(o.workflow, "lld");
    args_free(&o);
}

static void test_parallel_bare_is_3(void **state)
{
    (void)state;
    struct run_opts o;
    char err[256], warn[256];
    assert_int_equal(parse(&o, err, warn, "lld", 3, "--all", "--parallel"), 0);
    assert_int_equal(o.parallel, 3);
    args_free(&o);
    /* bare, followed by another option */
    assert_int_equal(parse(&o, err, warn, "lld", 4, "--parallel", "--all", "--quiet"), 0);
    assert_int_equal(o.parallel, 3);
    assert_true(o.quiet);
    args_free(&o);
}

static void test_parallel_values(void **state)
{
    (void)state;
    struct run_opts o;
    char err[256], warn[256];
    assert_int_equal(parse(&o, err, warn, "lld", 4, "--all", "--parallel", "7"), 0);
    assert_int_equal(o.parallel, 7);
    assert_string_equal(warn, "");
    args_free(&o);
    assert_int_equal(parse(&o, err, warn, "lld", 3, "--all", "--parallel=2"), 0);
    assert_int_equal(o.parallel, 2);
    args_free(&o);
    assert_int_equal(parse(&o, err, warn, "lld", 4, "--all", "--parallel", "20"), 0);
    assert_int_equal(o.parallel, 10);
    assert_non_null(strstr(warn, "capped"));
    args_free(&o);
}

static void test_parallel_auto_adaptive_config(void **state)
{
    (void)state;
    struct run_opts o;
    char err[256], warn[256];
    assert_int_equal(parse(&o, err, warn, "lld", 4, "--all", "--parallel", "auto"), 0);
    assert_int_equal(o.parallel_auto, 1);
    assert_int_equal(o.adaptive, 1); /* implied */
    assert_int_equal(o.parallel, 10);
    assert_int_equal(o.parallel_given, 1);
    assert_string_equal(warn, "");
    args_free(&o);
    assert_int_equal(parse(&o, err, warn, "lld", 3, "--all", "--parallel=auto"), 0);
    assert_int_equal(o.parallel_auto, 1);
    args_free(&o);
    /* a later number wins over auto; --adaptive stays */
    assert_int_equal(parse(&o, err, warn, "lld", 5, "--all", "--parallel=auto", "--parallel", "4"),
                     0);
    assert_int_equal(o.parallel_auto, 0);
    assert_int_equal(o.parallel, 4);
    args_free(&o);
    assert_int_equal(
        parse(&o, err, warn, "lld", 6, "--all", "--parallel", "8", "--adaptive", "--config=r.json"),
        0);
    assert_int_equal(o.adaptive, 1);
    assert_int_equal(o.parallel_auto, 0);
    assert_string_equal(o.config, "r.json");
    args_free(&o);
    assert_int_equal(parse(&o, err, warn, "lld", 3, "--all", "--adaptive=yes"), -EINVAL);
    assert_non_null(strstr(err, "--adaptive takes no value"));
    args_free(&o);
    assert_int_equal(parse(&o, err, warn, "lld", 3, "--all", "--config"), -EINVAL);
    assert_non_null(strstr(err, "--config needs a value"));
    args_free(&o);
    assert_int_equal(parse(&o, err, warn, "lld", 4, "--all", "--parallel", "automatic"), -EINVAL);
    assert_non_null(strstr(err, "(or auto)"));
    args_free(&o);
}

static void test_parallel_bad(void **state)
{
    (void)state;
    struct run_opts o;
    char err[256], warn[256];
    const char *bad[] = {"0", "-1", "abc", "3x", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(&o, err, warn, "lld", 4, "--all", "--parallel", bad[i]), -EINVAL);
        assert_non_null(strstr(err, "--parallel"));
        args_free(&o);
    }
}

static void test_selection(void **state)
{
    (void)state;
    struct run_opts o;
    char err[256], warn[256];
    assert_int_equal(parse(&o, err, warn, "lld", 3, "42", "LLD-43"), 0);
    assert_int_equal(o.nids, 2);
    assert_string_equal(o.ids[1], "LLD-43");
    args_free(&o);
    /* whether a selection makes sense is the plan's to say (test_plan): args knows no workflow */
    assert_int_equal(parse(&o, err, warn, "lld", 1), 0);
    assert_int_equal(o.nids, 0);
    assert_false(o.all);
    args_free(&o);
    /* agentos-run takes the workflow as its first operand */
    assert_int_equal(parse(&o, err, warn, NULL, 3, "issue", "--all"), 0);
    assert_string_equal(o.workflow, "issue");
    args_free(&o);
    assert_int_equal(parse(&o, err, warn, NULL, 2, "--all"), -EINVAL);
    args_free(&o);
}

static void test_values(void **state)
{
    (void)state;
    struct run_opts o;
    char err[256], warn[256];
    assert_int_equal(parse(&o, err, warn, "lld", 9, "--all", "--max-reviews", "2",
                           "--timeout-per-step=9", "--pause-timeout", "0", "--home", "/h"),
                     0);
    assert_int_equal(o.max_reviews, 2);
    assert_int_equal(o.timeout_per_step, 9);
    assert_int_equal(o.pause_timeout, 0);
    assert_string_equal(o.home, "/h");
    args_free(&o);
    assert_int_equal(parse(&o, err, warn, "lld", 4, "--all", "--max-reviews", "x"), -EINVAL);
    assert_non_null(strstr(err, "--max-reviews"));
    args_free(&o);
    assert_int_equal(parse(&o, err, warn, "lld", 3, "--all", "--items"), -EINVAL);
    assert_non_null(strstr(err, "--items"));
    args_free(&o);
    assert_int_equal(parse(&o, err, warn, "lld", 3, "--all", "--bogus"), -EINVAL);
    assert_non_null(strstr(err, "--bogus"));
    args_free(&o);
    /* --dot parses for any workflow; one whose items have no graph is refused by the plan */
    assert_int_equal(parse(&o, err, warn, "lld", 3, "--all", "--dot"), 0);
    assert_true(o.dot);
    args_free(&o);
    assert_int_equal(parse(&o, err, warn, "lld", 2, "--help"), 0);
    assert_true(o.help);
    args_free(&o);
}

/* agentos-run workstream FILE: the file operand, the flags, and what the plan needs to
 * know (whether --parallel / --timeout-per-step were given, to override the file). */
static void test_workstream(void **state)
{
    (void)state;
    struct run_opts o;
    char err[256], warn[256];
    assert_int_equal(parse(&o, err, warn, NULL, 5, "workstream", "ws.json", "--fail-fast", "--dot"),
                     0);
    assert_string_equal(o.workflow, "workstream");
    assert_int_equal(o.nids, 1);
    assert_string_equal(o.ids[0], "ws.json"); /* the workflow's load hook reads it */
    assert_true(o.fail_fast);
    assert_true(o.dot);
    assert_false(o.parallel_given);
    assert_false(o.timeout_given);
    args_free(&o);
    assert_int_equal(parse(&o, err, warn, NULL, 6, "workstream", "ws.json", "--parallel", "4",
                           "--timeout-per-step=7"),
                     0);
    assert_true(o.parallel_given);
    assert_int_equal(o.parallel, 4);
    assert_true(o.timeout_given);
    assert_int_equal(o.timeout_per_step, 7);
    args_free(&o);
    /* a missing file, two files, --out: refused by the workstream's loader (test_plan) */
}

static void test_argv0(void **state)
{
    (void)state;
    assert_string_equal(args_workflow_from_argv0("/usr/bin/lld-workflow"), "lld");
    assert_string_equal(args_workflow_from_argv0("issue-workflow"), "issue");
    assert_null(args_workflow_from_argv0("agentos-run"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_parallel_bare_is_3),
        cmocka_unit_test(test_parallel_values),
        cmocka_unit_test(test_parallel_bad),
        cmocka_unit_test(test_parallel_auto_adaptive_config),
        cmocka_unit_test(test_selection),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_argv0),
        cmocka_unit_test(test_workstream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
