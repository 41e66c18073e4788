/*
 * test_summary.c - unit tests of the end-of-run summary (runtime/summary.h),
 * rendered from arrays of progress records with no segment: the counts line
 * per workflow's declared outcomes, the speed-up line, the item lines, the
 * short form past SUMMARY_LIST_MAX items, and summary.json's keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/summary.h"

#define SEC 1000000000LL

/* Two workflows that differ only in what they declare. */
static const struct wf_desc review_wf = {
    .name = "lld",
    .noun = "item",
    .outcomes = (1u << PROG_APPROVED) | (1u << PROG_NEEDS_REVISION) | (1u << PROG_FAILED),
    .flags = WF_REVIEW_ROUNDS,
};
static const struct wf_desc step_wf = {
    .name = "steps",
    .noun = "step",
    .outcomes = (1u << PROG_PASSED) | (1u << PROG_FAILED) | (1u << PROG_SKIPPED),
};

/* The emitted lines, kept in order. */
struct lines {
    char v[128][512];
    int n;
};

static void keep(void *arg, const char *line)
{
    struct lines *l = arg;
    assert_true(l->n < 128);
    snprintf(l->v[l->n++], sizeof(l->v[0]), "%s", line);
}

static struct prog_item rec(const char *id, uint32_t state, double secs, unsigned rounds,
                            const char *reason)
{
    struct prog_item p;
    memset(&p, 0, sizeof(p));
    snprintf(p.id, sizeof(p.id), "%s", id);
    p.state = state;
    p.rounds = rounds;
    if (secs > 0) {
        p.started_ns = 5 * SEC;
        p.finished_ns = 5 * SEC + (int64_t)(secs * 1e9);
    }
    if (reason)
        snprintf(p.reason, sizeof(p.reason), "%s", reason);
    return p;
}

static void test_counts_and_speedup(void **state)
{
    (void)state;
    struct prog_item items[] = {
        rec("LLD-01", PROG_APPROVED, 2.0, 1, NULL),
        rec("LLD-02", PROG_NEEDS_REVISION, 3.0, 3, NULL),
        rec("LLD-03", PROG_FAILED, 1.0, 0, "Invalid spec format"),
        rec("LLD-04", PROG_RUNNING, 2.0, 0, NULL), /* still running at the end: interrupted */
    };
    struct summary_view v = {
        .wf = &review_wf, .items = items, .n = 4, .elapsed_ns = 4 * SEC, .parallel = 2};
    struct lines l = {.n = 0};
    summary_render(&v, "/r/summary.json", keep, &l);
    assert_int_equal(l.n, 2 + 4);
    assert_string_equal(l.v[0], "Summary: 1 approved, 1 need revision, 1 failed, 1 interrupted "
                                "(4 items, 4.0s)");
    /* 8 s of items in 4 s of wall time at --parallel 2 */
    assert_string_equal(l.v[1], "Speed-up 2.00x (sequential 8.0s, wall 4.0s), efficiency 100% "
                                "of --parallel 2");
    assert_non_null(strstr(l.v[2], "LLD-01"));
    assert_non_null(strstr(l.v[2], "approved"));
    assert_non_null(strstr(l.v[2], "rounds 1"));
    assert_non_null(strstr(l.v[4], "LLD-03"));
    assert_non_null(strstr(l.v[4], "FAILED: Invalid spec format"));
    assert_non_null(strstr(l.v[5], "interrupted"));
    unsigned c[PROG_STATE_COUNT];
    summary_count(&v, c);
    assert_int_equal(c[PROG_INTERRUPTED], 1);
    assert_int_equal(c[PROG_RUNNING], 0);
}

static void test_outcomes_per_workflow(void **state)
{
    (void)state;
    struct prog_item items[] = {
        rec("s1", PROG_PASSED, 1.0, 0, NULL),
        rec("s2", PROG_SKIPPED, 0, 0, "skipped: it depends on s3, which failed"),
        rec("s3", PROG_FAILED, 1.0, 0, "acceptance test failed"),
    };
    struct summary_view v = {
        .wf = &step_wf, .items = items, .n = 3, .elapsed_ns = 2 * SEC, .parallel = 1};
    struct lines l = {.n = 0};
    summary_render(&v, NULL, keep, &l);
    /* the workflow's own outcomes, zero or not; nothing of the review workflow's */
    assert_string_equal(l.v[0], "Summary: 1 passed, 1 failed, 1 skipped (3 steps, 2.0s)");
    assert_null(strstr(l.v[2], "rounds")); /* no review rounds in this workflow */
    assert_non_null(strstr(l.v[3], "skipped: it depends on s3, which failed"));
    /* one step, none finished, no time: no speed-up line, and "1 step" */
    struct prog_item one[] = {rec("s1", PROG_PENDING, 0, 0, NULL)};
    struct summary_view w = {.wf = &step_wf, .items = one, .n = 1, .elapsed_ns = 0, .parallel = 1};
    l.n = 0;
    summary_render(&w, NULL, keep, &l);
    assert_string_equal(l.v[0], "Summary: 0 passed, 0 failed, 0 skipped, 1 not started "
                                "(1 step, 0.0s)");
    assert_int_equal(l.n, 2);
    assert_null(strstr(l.v[1], "Speed-up"));
}

static void test_long_list_shows_failures_only(void **state)
{
    (void)state;
    enum { N = SUMMARY_LIST_MAX + 10 };
    struct prog_item *items = calloc(N, sizeof(*items));
    assert_non_null(items);
    char id[32];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "LLD-%03d", i);
        items[i] = rec(id, PROG_APPROVED, 1.0, 1, NULL);
    }
    items[7].state = PROG_FAILED;
    items[40].state = PROG_NEEDS_REVISION;
    struct summary_view v = {
        .wf = &review_wf, .items = items, .n = N, .elapsed_ns = 10 * SEC, .parallel = 8};
    struct lines l = {.n = 0};
    summary_render(&v, "/runs/x/summary.json", keep, &l);
    assert_int_equal(l.n, 2 + 2 + 1);
    assert_non_null(strstr(l.v[2], "LLD-007"));
    assert_non_null(strstr(l.v[3], "LLD-040"));
    char want[128];
    snprintf(want, sizeof(want),
             "  (%d more items succeeded; every item is in /runs/x/summary.json)", N - 2);
    assert_string_equal(l.v[4], want);
    /* exactly SUMMARY_LIST_MAX items: every one listed */
    v.n = SUMMARY_LIST_MAX;
    l.n = 0;
    summary_render(&v, NULL, keep, &l);
    assert_int_equal(l.n, 2 + SUMMARY_LIST_MAX);
    free(items);
}

static void test_json(void **state)
{
    (void)state;
    struct prog_item items[] = {
        rec("LLD-01", PROG_APPROVED, 1.5, 2, NULL),
        rec("LLD-02", PROG_FAILED, 0.5, 0, "worker died"),
        rec("LLD-03", PROG_PENDING, 0, 0, NULL),
    };
    items[0].attempts = 1;
    items[0].requests = 4;
    items[1].attempts = 2;
    items[1].http_429 = 1;
    struct summary_view v = {
        .wf = &review_wf, .items = items, .n = 3, .elapsed_ns = 1 * SEC, .parallel = 2};
    cJSON *j = summary_json(&v);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "workflow")->valuestring, "lld");
    assert_int_equal(cJSON_GetObjectItem(j, "parallel")->valueint, 2);
    assert_true(cJSON_GetObjectItem(j, "elapsed_s")->valuedouble == 1.0);
    cJSON *c = cJSON_GetObjectItem(j, "counts");
    const char *keys[] = {"approved", "needs_revision", "passed",      "failed",
                          "skipped",  "other_run",      "interrupted", "not_started"};
    int want[] = {1, 0, 0, 1, 0, 0, 0, 1};
    assert_int_equal(cJSON_GetArraySize(c), 8);
    for (int k = 0; k < 8; k++) {
        assert_non_null(cJSON_GetObjectItem(c, keys[k]));
        assert_int_equal(cJSON_GetObjectItem(c, keys[k])->valueint, want[k]);
    }
    cJSON *sp = cJSON_GetObjectItem(j, "speedup");
    assert_true(cJSON_GetObjectItem(sp, "sequential_s")->valuedouble == 2.0);
    assert_true(cJSON_GetObjectItem(sp, "wall_s")->valuedouble == 1.0);
    assert_true(cJSON_GetObjectItem(sp, "factor")->valuedouble == 2.0);
    assert_true(cJSON_GetObjectItem(sp, "efficiency")->valuedouble == 1.0);
    cJSON *arr = cJSON_GetObjectItem(j, "items");
    assert_int_equal(cJSON_GetArraySize(arr), 3);
    cJSON *a = cJSON_GetArrayItem(arr, 0), *b = cJSON_GetArrayItem(arr, 1);
    assert_string_equal(cJSON_GetObjectItem(a, "id")->valuestring, "LLD-01");
    assert_string_equal(cJSON_GetObjectItem(a, "outcome")->valuestring, "approved");
    assert_int_equal(cJSON_GetObjectItem(a, "rounds")->valueint, 2);
    assert_true(cJSON_GetObjectItem(a, "duration_s")->valuedouble == 1.5);
    assert_int_equal(cJSON_GetObjectItem(a, "requests")->valueint, 4);
    assert_null(cJSON_GetObjectItem(a, "reason")); /* only when there is one */
    assert_string_equal(cJSON_GetObjectItem(b, "outcome")->valuestring, "failed");
    assert_int_equal(cJSON_GetObjectItem(b, "attempts")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(b, "http_429")->valueint, 1);
    assert_string_equal(cJSON_GetObjectItem(b, "reason")->valuestring, "worker died");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 2), "outcome")->valuestring,
                        "pending");
    cJSON_Delete(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_and_speedup),
        cmocka_unit_test(test_outcomes_per_workflow),
        cmocka_unit_test(test_long_list_shows_failures_only),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
