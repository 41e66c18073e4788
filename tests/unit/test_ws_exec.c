/*
 * test_ws_exec.c - the SPEC 8 additions to the workstream format: ${env...} in
 * `execution`, max_workers "auto", rate_limit_delay, adaptive_scaling, a
 * step's timeout and retries, step_groups; each with its validation error
 * (one line naming the file and the field, step or group).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/ws_fixture.h"

static void test_env_in_execution(void **state)
{
    (void)state;
    struct workstream ws;
    char err[512] = "";
    const char *doc =
        "{\"id\": \"w\", \"execution\": {\"max_workers\": \"${env.WS_T_MAXW:-2}\", "
        "\"parallel\": \"${env.WS_T_CI == 'true'}\", \"timeout_per_step\": \"${env.WS_T_TO:-7}\", "
        "\"rate_limit_delay\": 0.5, \"adaptive_scaling\": true}, \"steps\": [" RUN("a") "]}";
    unsetenv("WS_T_MAXW");
    setenv("WS_T_CI", "true", 1);
    unsetenv("WS_T_TO");
    assert_int_equal(parse(doc, &ws, err, sizeof(err)), 0);
    assert_int_equal(ws.max_workers, 2);
    assert_int_equal(ws.parallel, 1);
    assert_int_equal(ws.timeout_per_step, 7);
    assert_true(ws.rate_limit_delay > 0.49 && ws.rate_limit_delay < 0.51);
    assert_int_equal(ws.adaptive, 1);
    ws_free(&ws);

    setenv("WS_T_MAXW", "4", 1);
    setenv("WS_T_CI", "false", 1);
    assert_int_equal(parse(doc, &ws, err, sizeof(err)), 0);
    assert_int_equal(ws.max_workers, 4);
    assert_int_equal(ws.parallel, 0);
    ws_free(&ws);

    setenv("WS_T_MAXW", "lots", 1);
    assert_int_equal(parse(doc, &ws, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "ws.json: execution.max_workers must be a whole number"));
    unsetenv("WS_T_MAXW");

    const char *unset = "{\"id\": \"w\", \"execution\": {\"max_workers\": \"${env.WS_T_NOPE}\"}, "
                        "\"steps\": [" RUN("a") "]}";
    unsetenv("WS_T_NOPE");
    assert_int_equal(parse(unset, &ws, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "ws.json: "));
    assert_non_null(strstr(err, "WS_T_NOPE"));
    assert_null(strchr(err, '\n'));
}

static void test_auto_and_steps(void **state)
{
    (void)state;
    struct workstream ws;
    char err[512] = "";
    const char *doc =
        "{\"id\": \"w\", \"execution\": {\"max_workers\": \"auto\"}, \"steps\": ["
        "{\"id\": \"a\", \"run\": \"true\", \"timeout\": 5, \"retries\": 2}," RUN("b") "]}";
    assert_int_equal(parse(doc, &ws, err, sizeof(err)), 0);
    assert_int_equal(ws.max_workers_auto, 1);
    assert_int_equal(ws.steps[0].timeout_s, 5);
    assert_int_equal(ws.steps[0].retries, 2);
    assert_int_equal(ws.steps[1].timeout_s, 0);
    assert_int_equal(ws.steps[1].retries, 0);
    ws_free(&ws);
}

static void test_groups(void **state)
{
    (void)state;
    struct workstream ws;
    char err[512] = "";
    const char *doc = "{\"id\": \"w\", \"steps\": [" RUN("a") "," RUN("b") "," RUN(
        "c") ","
             "{\"id\": \"d\", \"run\": \"true\", \"depends_on\": [\"a\"]}],"
             " \"step_groups\": [{\"id\": \"seq\", \"steps\": [\"c\", \"a\", \"d\"], "
             "\"execute\": \"sequential\", \"timeout\": 60},"
             " {\"id\": \"par\", \"steps\": [\"b\"], \"max_workers\": 2}]}";
    assert_int_equal(parse(doc, &ws, err, sizeof(err)), 0);
    assert_int_equal(ws.ngroups, 2);
    assert_string_equal(ws.groups[0].id, "seq");
    assert_int_equal(ws.groups[0].sequential, 1);
    assert_int_equal(ws.groups[0].timeout_s, 60);
    assert_int_equal(ws.groups[0].nsteps, 3);
    assert_int_equal(ws.groups[0].steps[0], 2); /* listed order, not file order */
    assert_int_equal(ws.groups[0].steps[1], 0);
    assert_int_equal(ws.groups[0].steps[2], 3);
    assert_int_equal(ws.groups[1].sequential, 0);
    assert_int_equal(ws.groups[1].max_workers, 2);
    assert_int_equal(ws.steps[0].group, 1);
    assert_int_equal(ws.steps[1].group, 2);
    assert_int_equal(ws.steps[2].group, 1);
    ws_free(&ws);
}

static void expect_err(const char *doc, const char *want)
{
    struct workstream ws;
    char err[512] = "";
    int rc = parse(doc, &ws, err, sizeof(err));
    if (rc != -EINVAL || !strstr(err, want))
        print_error("document: %s\nmessage: %s\nwanted: %s\n", doc, err, want);
    assert_int_equal(rc, -EINVAL);
    assert_true(strncmp(err, "ws.json: ", 9) == 0);
    assert_non_null(strstr(err, want));
    assert_null(strchr(err, '\n'));
    assert_null(ws.steps);
    assert_null(ws.groups);
}

#define TWO "\"steps\": [" RUN("a") "," RUN("b") "]"

static void test_errors(void **state)
{
    (void)state;
    expect_err("{\"id\": \"w\", \"execution\": {\"rate_limit_delay\": -1}, " TWO "}",
               "execution.rate_limit_delay must be a number of seconds from 0 to 3600");
    expect_err("{\"id\": \"w\", \"execution\": {\"adaptive_scaling\": \"maybe\"}, " TWO "}",
               "execution.adaptive_scaling must be true or false");
    expect_err("{\"id\": \"w\", \"steps\": [{\"id\": \"a\", \"run\": \"x\", \"timeout\": 0}]}",
               "step a: timeout must be a whole number of seconds");
    expect_err("{\"id\": \"w\", \"steps\": [{\"id\": \"a\", \"run\": \"x\", \"retries\": -1}]}",
               "step a: retries must be a whole number from 0 to 100");
    expect_err("{\"id\": \"w\", \"steps\": [{\"id\": \"a\", \"run\": \"x\", \"retries\": \"2\"}]}",
               "step a: retries must be a whole number");
    expect_err("{\"id\": \"w\", " TWO ", \"step_groups\": {}}",
               "step_groups must be an array of group objects");
    expect_err("{\"id\": \"w\", " TWO ", \"step_groups\": [{\"id\": \"g/1\", \"steps\": [\"a\"]}]}",
               "step_groups[0].id must be");
    expect_err("{\"id\": \"w\", " TWO ", \"step_groups\": [{\"id\": \"g\", \"steps\": [\"z\"]}]}",
               "step group g lists unknown step \"z\"");
    expect_err("{\"id\": \"w\", " TWO ", \"step_groups\": [{\"id\": \"g\", \"steps\": []}]}",
               "step group g: steps must be a non-empty array of step ids");
    expect_err("{\"id\": \"w\", " TWO ", \"step_groups\": [{\"id\": \"g\", \"steps\": [\"a\"]},"
               " {\"id\": \"h\", \"steps\": [\"b\", \"a\"]}]}",
               "step a is in two step groups: g and h");
    expect_err("{\"id\": \"w\", " TWO ", \"step_groups\": [{\"id\": \"g\", \"steps\": [\"a\"]},"
               " {\"id\": \"g\", \"steps\": [\"b\"]}]}",
               "duplicate step group id \"g\"");
    expect_err("{\"id\": \"w\", " TWO ", \"step_groups\": [{\"id\": \"g\", \"steps\": [\"a\"], "
               "\"execute\": \"random\"}]}",
               "step group g: execute must be \"parallel\" or \"sequential\"");
    expect_err("{\"id\": \"w\", " TWO ", \"step_groups\": [{\"id\": \"g\", \"steps\": [\"a\"], "
               "\"max_workers\": 0}]}",
               "step group g: max_workers must be a whole number of at least 1");
    expect_err("{\"id\": \"w\", " TWO ", \"step_groups\": [{\"id\": \"g\", \"steps\": [\"a\"], "
               "\"timeout\": 1.5}]}",
               "step group g: timeout must be a whole number of seconds");
    expect_err(
        "{\"id\": \"w\", \"steps\": [" RUN(
            "a") ", {\"id\": \"b\", \"run\": \"x\", "
                 "\"depends_on\": [\"a\"]}], \"step_groups\": [{\"id\": \"g\", \"steps\": [\"b\", "
                 "\"a\"], \"execute\": \"sequential\"}]}",
        "step group g is sequential and lists b before a, but b depends on a");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_in_execution),
        cmocka_unit_test(test_auto_and_steps),
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
