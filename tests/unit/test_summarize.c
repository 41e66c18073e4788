/*
 * test_summarize.c - `agentos-run summarize` (SPEC 13): several runs'
 * summary.json merged into one view and one document: items of every run
 * once, an item seen twice takes the outcome of the run that ended last, the
 * wall time spans the runs, fields the merge does not know survive, and bad
 * folders are errors naming them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/summarize.h"
#include "shm/prog.h"
#include "shm/util.h"
#include "testutil.h"
#include "workflows/workflows.h"

static char root[256];

static void write_run(const char *name, const char *json)
{
    char dir[512], path[600];
    snprintf(dir, sizeof(dir), "%s/%s", root, name);
    util_mkdir_p(dir, 0700);
    snprintf(path, sizeof(path), "%s/summary.json", dir);
    assert_int_equal(util_write_file_atomic(path, json, strlen(json)), 0);
}

static int setup(void **state)
{
    (void)state;
    if (test_tmpdir(root, sizeof(root), "test_summarize") < 0)
        return -1;
    write_run("a", "{\"workflow\":\"lld\",\"parallel\":3,\"elapsed_s\":10,\"run\":\"r-a\","
                   "\"started_unix_ms\":1000000,\"ended_unix_ms\":1010000,\"requests\":6,"
                   "\"http_429\":1,\"shard\":\"0/2\",\"items\":["
                   "{\"id\":\"LLD-01\",\"outcome\":\"approved\",\"rounds\":1,\"duration_s\":4,"
                   "\"input_tokens\":100,\"output_tokens\":50,\"future_field\":7},"
                   "{\"id\":\"LLD-03\",\"outcome\":\"interrupted\",\"rounds\":0,\"duration_s\":2,"
                   "\"reason\":\"interrupted; checkpoint kept\"}]}");
    write_run("b", "{\"workflow\":\"lld\",\"parallel\":3,\"elapsed_s\":8,\"run\":\"r-b\","
                   "\"started_unix_ms\":1004000,\"ended_unix_ms\":1012000,\"requests\":4,"
                   "\"http_429\":0,\"items\":["
                   "{\"id\":\"LLD-02\",\"outcome\":\"needs-revision\",\"rounds\":3,"
                   "\"duration_s\":6}]}");
    /* a re-run of shard a that finished LLD-03, ending last */
    write_run("c", "{\"workflow\":\"lld\",\"parallel\":2,\"elapsed_s\":3,\"run\":\"r-c\","
                   "\"started_unix_ms\":1013000,\"ended_unix_ms\":1016000,\"requests\":2,"
                   "\"http_429\":0,\"items\":["
                   "{\"id\":\"LLD-03\",\"outcome\":\"approved\",\"rounds\":1,\"duration_s\":3}]}");
    write_run("issue", "{\"workflow\":\"issue\",\"parallel\":1,\"elapsed_s\":1,\"items\":[]}");
    write_run("junk", "{\"not\":\"a summary\"}");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return test_rmtree(root);
}

static const char *in(const char *name)
{
    static char bufs[4][512];
    static int k;
    char *b = bufs[k++ % 4];
    snprintf(b, 512, "%s/%s", root, name);
    return b;
}

static void test_merge(void **state)
{
    (void)state;
    const char *dirs[] = {in("a"), in("b"), in("c")};
    struct summarize_merge m;
    char err[512] = "";
    assert_int_equal(summarize_merge(dirs, 3, wf_find, &m, err, sizeof(err)), 0);
    assert_int_equal(m.runs, 3);
    assert_int_equal(m.view.n, 3); /* LLD-03 once */
    assert_int_equal(m.repeated, 1);
    unsigned c[PROG_STATE_COUNT];
    summary_count(&m.view, c);
    assert_int_equal(c[PROG_APPROVED], 2); /* LLD-03's latest run approved it */
    assert_int_equal(c[PROG_NEEDS_REVISION], 1);
    assert_int_equal(c[PROG_INTERRUPTED], 0);
    /* wall: 1000000 .. 1016000 ms; width: 3 + 3 + 2 */
    assert_true(m.view.elapsed_ns == (int64_t)16000 * 1000000);
    assert_int_equal(m.view.parallel, 8);
    assert_true(m.requests == 12 && m.http_429 == 1);
    assert_true(m.have_tokens && m.input_tokens == 100 && m.output_tokens == 50);
    /* the document: counts, the runs, and item fields the merge does not know */
    const cJSON *counts = cJSON_GetObjectItem(m.doc, "counts");
    assert_int_equal(cJSON_GetObjectItem(counts, "approved")->valueint, 2);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(m.doc, "runs")), 3);
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(m.doc, "items"), 0);
    assert_string_equal(cJSON_GetObjectItem(first, "id")->valuestring, "LLD-01");
    assert_int_equal(cJSON_GetObjectItem(first, "future_field")->valueint, 7);
    summarize_free(&m);
}

static void test_text(void **state)
{
    (void)state;
    const char *dirs[] = {in("a"), in("b"), in("c")};
    struct summarize_merge m;
    char err[512], *buf = NULL;
    size_t len = 0;
    assert_int_equal(summarize_merge(dirs, 3, wf_find, &m, err, sizeof(err)), 0);
    FILE *f = open_memstream(&buf, &len);
    summarize_print(&m, f);
    fclose(f);
    assert_non_null(strstr(buf, "[COORDINATOR] 3 runs merged; 1 item ran in more than one"));
    assert_non_null(strstr(buf, "[COORDINATOR] Summary: 2 approved, 1 need revision, 0 failed "
                                "(3 items, 16.0s)"));
    assert_non_null(strstr(buf, "Speed-up 0.81x (sequential 13.0s, wall 16.0s)"));
    assert_non_null(strstr(buf, "Requests: 12 sent, 1 answered 429"));
    assert_non_null(strstr(buf, "Tokens: 100 in, 50 out"));
    free(buf);
    summarize_free(&m);
}

static void expect_error(const char *name, const char *needle)
{
    const char *dirs[] = {in("a"), in(name)};
    struct summarize_merge m;
    char err[512] = "";
    assert_true(summarize_merge(dirs, 2, wf_find, &m, err, sizeof(err)) < 0);
    if (!strstr(err, needle) || !strstr(err, name))
        fail_msg("%s: \"%s\" lacks \"%s\" or the folder", name, err, needle);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("issue", "workflow issue");
    expect_error("junk", "not a summary.json");
    expect_error("missing", "No such file");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
