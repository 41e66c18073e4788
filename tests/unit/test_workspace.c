/*
 * test_workspace.c - the workspace key that checkpoints and step records are
 * kept under (runtime/workspace.h, ADR-14): one folder however it is spelled,
 * two folders never one key, and the note that names it.
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

#include "runtime/workspace.h"
#include "shm/util.h"
#include "tests/unit/testutil.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    return test_tmpdir(dir, sizeof(dir), "test_workspace");
}

static int teardown(void **state)
{
    (void)state;
    return test_rmtree(dir);
}

static void key_of(const char *path, char key[WORKSPACE_KEY_LEN + 1], char *resolved, size_t len)
{
    const char *paths[] = {path};
    char err[256] = "";
    assert_int_equal(workspace_key(paths, 1, key, resolved, len, err, sizeof(err)), 0);
    assert_int_equal(strlen(key), WORKSPACE_KEY_LEN);
}

static void test_key(void **state)
{
    (void)state;
    char a[512], b[512], link[512], dotted[600], res[1024], res2[1024], err[256];
    char ka[WORKSPACE_KEY_LEN + 1], kb[WORKSPACE_KEY_LEN + 1], kl[WORKSPACE_KEY_LEN + 1],
        kd[WORKSPACE_KEY_LEN + 1];
    snprintf(a, sizeof(a), "%s/A/lld/pending", dir);
    snprintf(b, sizeof(b), "%s/B/lld/pending", dir);
    snprintf(link, sizeof(link), "%s/link", dir);
    snprintf(dotted, sizeof(dotted), "%s/A/./lld/../lld/pending/", dir);
    assert_int_equal(util_mkdir_p(a, 0700), 0);
    assert_int_equal(util_mkdir_p(b, 0700), 0);
    assert_int_equal(symlink(a, link), 0);
    key_of(a, ka, res, sizeof(res));
    key_of(b, kb, res2, sizeof(res2));
    assert_string_not_equal(ka, kb); /* two clones: two workspaces */
    assert_non_null(strstr(res, "/A/lld/pending"));
    key_of(link, kl, res2, sizeof(res2));
    assert_string_equal(ka, kl); /* a symlink to the folder is the same workspace */
    assert_string_equal(res, res2);
    key_of(dotted, kd, res2, sizeof(res2));
    assert_string_equal(ka, kd);
    /* two paths (a workstream: its file and the current folder) differ from one */
    const char *two[] = {a, b};
    assert_int_equal(workspace_key(two, 2, kd, res2, sizeof(res2), err, sizeof(err)), 0);
    assert_string_not_equal(ka, kd);
    assert_non_null(strchr(res2, '\n'));
    /* the key is the hash of what it names */
    char sha[65];
    util_sha256_hex(res, strlen(res), sha);
    assert_memory_equal(sha, ka, WORKSPACE_KEY_LEN);
    /* a folder that does not exist has no key */
    const char *missing[] = {"/nonexistent/lld/pending"};
    assert_int_equal(workspace_key(missing, 1, kd, res2, sizeof(res2), err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/lld/pending"));
    assert_int_equal(workspace_key(two, 2, kd, res2, 10, err, sizeof(err)), -ENAMETOOLONG);
}

static void test_note(void **state)
{
    (void)state;
    char ck[512], path[600], *text = NULL;
    snprintf(ck, sizeof(ck), "%s/home/checkpoints/0123456789abcdef", dir);
    assert_int_equal(workspace_note(ck, "/w/lld/pending"), 0);
    snprintf(path, sizeof(path), "%s/WORKSPACE", ck);
    assert_int_equal(util_read_file(path, 4096, &text, NULL), 0);
    assert_string_equal(text, "/w/lld/pending\n");
    free(text);
    assert_int_equal(workspace_note(ck, "/other"), 0); /* written once */
    assert_int_equal(util_read_file(path, 4096, &text, NULL), 0);
    assert_string_equal(text, "/w/lld/pending\n");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_note, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
