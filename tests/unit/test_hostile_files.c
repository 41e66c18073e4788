/*
 * test_hostile_files.c - files that are not what their names promise: a FIFO,
 * a folder or a dangling link where a spec, the credentials file, a prompt
 * override or a workstream file should be (issue 9, findings 8 and 15).
 *
 * Opening a FIFO for reading blocks until a writer comes, for ever if none
 * does; every reader of user-supplied files must see such a thing for what it
 * is, at once, and say so. Each case runs under an alarm: a read that blocks
 * ends the test binary with SIGALRM instead of hanging the suite.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "llm/credfile.h"
#include "runtime/wf.h"
#include "shm/util.h"
#include "tests/unit/testutil.h"
#include "workflows/prompt.h"
#include "workflows/workflows.h"
#include "workflows/workstream/ws.h"

#define BLOCK_LIMIT_S 5 /* a read that has not returned by then is blocked */

static char dir[256];

static int setup(void **state)
{
    (void)state;
    if (test_tmpdir(dir, sizeof(dir), "agentos-hostile-files") != 0)
        return -1;
    alarm(BLOCK_LIMIT_S);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    alarm(0);
    test_rmtree(dir);
    return 0;
}

/* dir/name as a FIFO; the path in out. */
static void make_fifo(const char *name, char *out, size_t len)
{
    assert_int_equal(util_pathf(out, len, "%s/%s", dir, name), 0);
    assert_int_equal(mkfifo(out, 0600), 0);
}

static void test_read_file_fifo(void **state)
{
    (void)state;
    char path[512], *buf = NULL;
    size_t len = 0;
    make_fifo("spec.md", path, sizeof(path));
    assert_int_equal(util_read_file(path, 1024, &buf, &len), -EINVAL);
    assert_null(buf);
    assert_string_equal(util_path_kind(path), "a FIFO");
}

static void test_credentials_fifo(void **state)
{
    (void)state;
    char path[512], err[512] = "";
    struct cred_file cf;
    make_fifo("credentials.json", path, sizeof(path));
    assert_true(credfile_load(path, 0, &cf, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "a FIFO"));
}

static void test_workstream_file_fifo(void **state)
{
    (void)state;
    char path[512], err[512] = "";
    struct workstream ws;
    make_fifo("ws.json", path, sizeof(path));
    assert_true(ws_load(path, &ws, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "a FIFO"));
}

static void test_prompt_override_fifo(void **state)
{
    (void)state;
    char prompts[512], path[512], err[512] = "", *out = NULL;
    const char *vars[] = {NULL};
    assert_int_equal(util_pathf(prompts, sizeof(prompts), "%s/prompts", dir), 0);
    assert_int_equal(mkdir(prompts, 0700), 0);
    make_fifo("prompts/lld_draft.md", path, sizeof(path));
    assert_true(prompt_render(dir, NULL, "lld_draft.md", vars, &out, err, sizeof(err)) < 0);
    assert_null(out);
    assert_non_null(strstr(err, "a FIFO"));
}

/* The load node of a built-in workflow, on the given input path. */
static int run_load(const char *input, struct wf_item *it)
{
    memset(it, 0, sizeof(*it));
    it->wf = &wf_lld;
    it->id = "LLD-42";
    it->stem = "42";
    it->input_path = input;
    it->state = cJSON_CreateObject();
    int r = wf_lld.nodes[0].run(it);
    cJSON_Delete(it->state);
    return r;
}

/* A spec replaced by a FIFO after discovery: the worker's load node fails the item at once. */
static void test_spec_replaced_by_fifo(void **state)
{
    (void)state;
    char path[512];
    struct wf_item it;
    make_fifo("42.md", path, sizeof(path));
    assert_true(run_load(path, &it) < 0);
    assert_non_null(strstr(it.reason, path));
    assert_non_null(strstr(it.reason, "a FIFO"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_file_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credentials_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workstream_file_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prompt_override_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spec_replaced_by_fifo, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
