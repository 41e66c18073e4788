/*
 * test_result.c - unit tests for result files: exact front matter, reading
 * source_sha256 back, atomic replacement (no temporary file left), creation
 * of the output folder, and rejection of bad metadata and bad front matter.
 */
#include <dirent.h>
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

#include "tests/unit/testutil.h"

#include "runtime/result.h"
#include "shm/util.h"

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct fx {
    char dir[64];
    char out[128];  /* <dir>/lld/done, not created by setup */
    char path[256]; /* <out>/LLD-42.md */
    char err[512];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (test_tmpdir(f->dir, sizeof(f->dir), "test_result") != 0)
        return -1;
    snprintf(f->out, sizeof(f->out), "%s/lld/done", f->dir);
    snprintf(f->path, sizeof(f->path), "%s/LLD-42.md", f->out);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (test_rmtree(f->dir) != 0)
        return -1;
    free(f);
    return 0;
}

static void put(const char *path, const char *text)
{
    assert_int_equal(util_write_file_atomic(path, text, strlen(text)), 0);
}

static void test_write_exact_and_read(void **state)
{
    struct fx *f = *state;
    struct result_meta m = {"approved", 2, SHA, "lld", "LLD-42"};
    assert_int_equal(result_write(f->path, &m, "# Design\n\ntext\n", f->err, sizeof(f->err)), 0);
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(util_read_file(f->path, 1 << 20, &buf, &len), 0);
    assert_string_equal(buf, "---\n"
                             "status: approved\n"
                             "rounds: 2\n"
                             "source_sha256: " SHA "\n"
                             "workflow: lld\n"
                             "item: LLD-42\n"
                             "---\n"
                             "\n"
                             "# Design\n\ntext\n");
    free(buf);
    char sha[65] = "";
    assert_int_equal(result_read_sha(f->path, sha), 0);
    assert_string_equal(sha, SHA);

    struct stat st;
    assert_int_equal(stat(f->out, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
}

static void test_overwrite_atomic_no_temp(void **state)
{
    struct fx *f = *state;
    struct result_meta m = {"needs-revision", 3, SHA, "issue", "ISSUE-7"};
    assert_int_equal(result_write(f->path, &m, "first", f->err, sizeof(f->err)), 0);
    assert_int_equal(result_write(f->path, &m, "second", f->err, sizeof(f->err)), 0);
    char *buf = NULL;
    assert_int_equal(util_read_file(f->path, 1 << 20, &buf, NULL), 0);
    assert_non_null(strstr(buf, "status: needs-revision\nrounds: 3\n"));
    assert_non_null(strstr(buf, "---\n\nsecond\n"));
    assert_null(strstr(buf, "first"));
    free(buf);
    DIR *d = opendir(f->out);
    assert_non_null(d);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        assert_string_equal(de->d_name, "LLD-42.md");
        files++;
    }
    closedir(d);
    assert_int_equal(files, 1);
}

static void test_bad_meta(void **state)
{
    struct fx *f = *state;
    struct result_meta m = {"done", 1, SHA, "lld", "LLD-42"};
    assert_int_equal(result_write(f->path, &m, "x", f->err, sizeof(f->err)), -EINVAL);
    assert_non_null(strstr(f->err, "status"));
    m.status = "approved";
    m.source_sha256 = "abc";
    assert_int_equal(result_write(f->path, &m, "x", f->err, sizeof(f->err)), -EINVAL);
    m.source_sha256 = SHA;
    m.item_id = "LLD-42\nstatus: approved";
    assert_int_equal(result_write(f->path, &m, "x", f->err, sizeof(f->err)), -EINVAL);
    struct stat st;
    assert_int_equal(stat(f->path, &st), -1); /* nothing written */
}

static void test_read_errors(void **state)
{
    struct fx *f = *state;
    char sha[65];
    assert_int_equal(result_read_sha(f->path, sha), -ENOENT);
    assert_int_equal(util_mkdir_p(f->out, 0700), 0);

    put(f->path, "# just a design\n");
    assert_int_equal(result_read_sha(f->path, sha), -EINVAL);
    put(f->path, "---\nstatus: approved\n---\n");
    assert_int_equal(result_read_sha(f->path, sha), -EINVAL); /* no sha field */
    put(f->path, "---\nsource_sha256: " SHA "\n");
    assert_int_equal(result_read_sha(f->path, sha), -EINVAL); /* block never closed */
    put(f->path, "---\nsource_sha256: 1234\n---\n");
    assert_int_equal(result_read_sha(f->path, sha), -EINVAL);
    put(f->path, "\n---\nsource_sha256: " SHA "\n---\n");
    assert_int_equal(result_read_sha(f->path, sha), -EINVAL); /* must be the first line */
    /* The field after the closing line is body, not front matter. */
    put(f->path, "---\nstatus: approved\n---\nsource_sha256: " SHA "\n---\n");
    assert_int_equal(result_read_sha(f->path, sha), -EINVAL);

    /* CRLF front matter written by an editor still reads. */
    put(f->path, "---\r\nsource_sha256: " SHA "\r\n---\r\nbody");
    assert_int_equal(result_read_sha(f->path, sha), 0);
    assert_string_equal(sha, SHA);

    /* More than 64 front-matter lines: not looked at. */
    size_t cap = 100 * 8 + 200;
    char *big = malloc(cap), *p = big;
    p += sprintf(p, "---\n");
    for (int i = 0; i < 70; i++)
        p += sprintf(p, "k%d: v\n", i);
    sprintf(p, "source_sha256: " SHA "\n---\n");
    put(f->path, big);
    free(big);
    assert_int_equal(result_read_sha(f->path, sha), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_exact_and_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overwrite_atomic_no_temp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_meta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
