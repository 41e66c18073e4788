/*
 * test_ckpt.c - unit tests for the per-item SQLite checkpoints: save/resume,
 * finished flag, stale input reset, foreign and corrupt files, quarantine,
 * removal, file mode, and durability of committed saves across SIGKILL.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/testutil.h"
#include <sqlite3.h>

#include "runtime/ckpt.h"
#include "runtime/run.h"
#include "shm/util.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

struct fx {
    char dir[64];
    char path[256];
    char err[512];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (test_tmpdir(f->dir, sizeof(f->dir), "test_ckpt") != 0)
        return -1;
    if (util_pathf(f->path, sizeof(f->path), "%s/checkpoints/lld_workflow_42.db", f->dir) != 0)
        return -1;
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

static struct ckpt *open_ok(struct fx *f, const char *sha, int *stale)
{
    struct ckpt *c = NULL;
    int st = -1;
    int rc = ckpt_open(f->path, "lld", "LLD-42", sha, &c, &st, f->err, sizeof(f->err));
    if (rc != 0)
        print_error("ckpt_open: %d %s\n", rc, f->err);
    assert_int_equal(rc, 0);
    assert_non_null(c);
    if (stale)
        *stale = st;
    return c;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void write_bytes(const char *p, const void *data, size_t len)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* The one rule for where an item's checkpoint lives (run_ckpt_path). */
static void test_path(void **state)
{
    (void)state;
    static const struct wf_desc wf = {.name = "lld"};
    struct run_ctx *rc = calloc(1, sizeof(*rc));
    struct item it = {.stem = "42"};
    char p[128];
    rc->wf = &wf;
    util_strlcpy(rc->plan.ckpt_dir, "/h/checkpoints", sizeof(rc->plan.ckpt_dir));
    assert_int_equal(run_ckpt_path(rc, &it, p, sizeof(p)), 0);
    assert_string_equal(p, "/h/checkpoints/lld_workflow_42.db");
    assert_int_equal(run_ckpt_path(rc, &it, p, 10), -ENAMETOOLONG);
    assert_string_equal(p, "");      /* never a cut path */
    rc->workflow_db = "/tmp/one.db"; /* AGENTOS_WORKFLOW_DB, one item alone */
    assert_int_equal(run_ckpt_path(rc, &it, p, sizeof(p)), 0);
    assert_string_equal(p, "/tmp/one.db");
    free(rc);
}

static void test_save_reopen_load(void **state)
{
    struct fx *f = *state;
    int stale = -1;
    struct ckpt *c = open_ok(f, SHA_A, &stale);
    assert_int_equal(stale, 0);
    char *next = NULL, *js = NULL;
    int fin = -1;
    assert_int_equal(ckpt_load(c, &next, &js, &fin), -ENOENT);
    assert_int_equal(ckpt_saved_count(c), 0);
    assert_int_equal(ckpt_save(c, "N0_load", "N1_design", "{\"r\":0}", f->err, sizeof(f->err)), 0);
    assert_int_equal(ckpt_save(c, "N1_design", "N2_review", "{\"r\":1}", f->err, sizeof(f->err)),
                     0);
    assert_int_equal(ckpt_save(c, "N2_review", "N3_revise", "{\"r\":2}", f->err, sizeof(f->err)),
                     0);
    assert_int_equal(ckpt_saved_count(c), 3);
    ckpt_close(c);

    c = open_ok(f, SHA_A, &stale);
    assert_int_equal(stale, 0);
    assert_int_equal(ckpt_load(c, &next, &js, &fin), 0);
    assert_string_equal(next, "N3_revise");
    assert_string_equal(js, "{\"r\":2}");
    assert_int_equal(fin, 0);
    assert_int_equal(ckpt_saved_count(c), 3);
    free(next);
    free(js);
    ckpt_close(c);
}

static void test_finished(void **state)
{
    struct fx *f = *state;
    struct ckpt *c = open_ok(f, SHA_A, NULL);
    assert_int_equal(ckpt_save(c, "N0_load", "N4_finalize", "{}", f->err, sizeof(f->err)), 0);
    assert_int_equal(ckpt_save(c, "N4_finalize", NULL, "{\"done\":true}", f->err, sizeof(f->err)),
                     0);
    ckpt_close(c);
    c = open_ok(f, SHA_A, NULL);
    char *next = (char *)"x", *js = NULL;
    int fin = 0;
    assert_int_equal(ckpt_load(c, &next, &js, &fin), 0);
    assert_null(next);
    assert_int_equal(fin, 1);
    assert_string_equal(js, "{\"done\":true}");
    free(js);
    ckpt_close(c);
}

static void test_stale_sha_resets(void **state)
{
    struct fx *f = *state;
    struct ckpt *c = open_ok(f, SHA_A, NULL);
    assert_int_equal(ckpt_save(c, "N0_load", "N1_design", "{}", f->err, sizeof(f->err)), 0);
    ckpt_close(c);
    int stale = 0;
    c = open_ok(f, SHA_B, &stale);
    assert_int_equal(stale, 1);
    char *next = NULL, *js = NULL;
    assert_int_equal(ckpt_load(c, &next, &js, NULL), -ENOENT);
    assert_int_equal(ckpt_saved_count(c), 0);
    ckpt_close(c);
    /* The new sha is recorded: reopening with it is not stale again. */
    c = open_ok(f, SHA_B, &stale);
    assert_int_equal(stale, 0);
    ckpt_close(c);
}

/*
 * The load node read other bytes than discovery hashed (an edit in between):
 * the save after it records the new hash with the state, so the next run,
 * which hashes the same new bytes, resumes instead of starting anew; a save
 * that fails records nothing.
 */
static void test_set_source_goes_with_the_save(void **state)
{
    struct fx *f = *state;
    int stale = -1;
    struct ckpt *c = open_ok(f, SHA_A, NULL);
    assert_int_equal(ckpt_set_source(c, SHA_B), 0);
    ckpt_close(c); /* never saved: the staged hash is dropped */
    c = open_ok(f, SHA_A, &stale);
    assert_int_equal(stale, 0);
    assert_int_equal(ckpt_set_source(c, SHA_B), 0);
    assert_int_equal(
        ckpt_save(c, "N0_load", "N1_design", "{\"spec\":\"B\"}", f->err, sizeof(f->err)), 0);
    ckpt_close(c);
    c = open_ok(f, SHA_B, &stale);
    assert_int_equal(stale, 0); /* resumes with B's text */
    char *next = NULL, *js = NULL;
    assert_int_equal(ckpt_load(c, &next, &js, NULL), 0);
    assert_string_equal(js, "{\"spec\":\"B\"}");
    free(next);
    free(js);
    assert_int_equal(ckpt_set_source(c, "x"), 0);
    assert_int_equal(ckpt_set_source(c, SHA_A "toolong"), -EINVAL);
    ckpt_close(c);
}

static void test_foreign_workflow_and_item(void **state)
{
    struct fx *f = *state;
    struct ckpt *c = open_ok(f, SHA_A, NULL);
    ckpt_close(c);
    c = (struct ckpt *)1;
    int rc = ckpt_open(f->path, "issue", "LLD-42", SHA_A, &c, NULL, f->err, sizeof(f->err));
    assert_int_equal(rc, -EBADMSG);
    assert_null(c);
    assert_non_null(strstr(f->err, f->path));
    assert_non_null(strstr(f->err, "belongs to workflow \"lld\", not \"issue\""));
    assert_null(strchr(f->err, '\n'));
    rc = ckpt_open(f->path, "lld", "LLD-43", SHA_A, &c, NULL, f->err, sizeof(f->err));
    assert_int_equal(rc, -EBADMSG);
    assert_non_null(strstr(f->err, "item \"LLD-42\""));
}

static void test_random_bytes(void **state)
{
    struct fx *f = *state;
    assert_int_equal(util_mkdir_p(f->dir, 0700), 0);
    char cdir[300];
    snprintf(cdir, sizeof(cdir), "%s/checkpoints", f->dir);
    assert_int_equal(util_mkdir_p(cdir, 0700), 0);
    unsigned char junk[8192];
    srand(7);
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (unsigned char)rand();
    write_bytes(f->path, junk, sizeof(junk));
    struct ckpt *c = NULL;
    int rc = ckpt_open(f->path, "lld", "LLD-42", SHA_A, &c, NULL, f->err, sizeof(f->err));
    assert_int_equal(rc, -EBADMSG);
    assert_null(c);
    assert_non_null(strstr(f->err, "is corrupt"));
    assert_non_null(strstr(f->err, f->path));
    /* Plain text, a few bytes. */
    write_bytes(f->path, "hello\n", 6);
    rc = ckpt_open(f->path, "lld", "LLD-42", SHA_A, &c, NULL, f->err, sizeof(f->err));
    assert_int_equal(rc, -EBADMSG);
}

static void test_foreign_sqlite_schema(void **state)
{
    struct fx *f = *state;
    struct ckpt *c = open_ok(f, SHA_A, NULL);
    ckpt_close(c);
    /* A valid SQLite file that lacks one of our tables. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE history", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    int rc = ckpt_open(f->path, "lld", "LLD-42", SHA_A, &c, NULL, f->err, sizeof(f->err));
    assert_int_equal(rc, -EBADMSG);
    assert_non_null(strstr(f->err, "schema"));

    /* Someone else's database altogether. */
    assert_int_equal(unlink(f->path), 0);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES(1)", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    rc = ckpt_open(f->path, "lld", "LLD-42", SHA_A, &c, NULL, f->err, sizeof(f->err));
    assert_int_equal(rc, -EBADMSG);
}

static void test_truncated(void **state)
{
    struct fx *f = *state;
    struct ckpt *c = open_ok(f, SHA_A, NULL);
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (int i = 0; i < 40; i++)
        assert_int_equal(ckpt_save(c, "N", "M", big, f->err, sizeof(f->err)), 0);
    ckpt_close(c);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_true(st.st_size > 8192);
    assert_int_equal(truncate(f->path, st.st_size / 2), 0);
    c = NULL;
    int rc = ckpt_open(f->path, "lld", "LLD-42", SHA_A, &c, NULL, f->err, sizeof(f->err));
    if (rc == 0) {
        char *next = NULL, *js = NULL;
        int lr = ckpt_load(c, &next, &js, NULL);
        assert_true(lr == 0 || lr < 0);
        free(next);
        free(js);
        ckpt_close(c);
    } else {
        assert_int_equal(rc, -EBADMSG);
        assert_non_null(strstr(f->err, "is corrupt"));
    }
}

static void test_quarantine_and_remove(void **state)
{
    struct fx *f = *state;
    struct ckpt *c = open_ok(f, SHA_A, NULL);
    ckpt_close(c);
    char q[300], j[300], qj[300];
    snprintf(q, sizeof(q), "%s.corrupt", f->path);
    snprintf(j, sizeof(j), "%s-journal", f->path);
    snprintf(qj, sizeof(qj), "%s.corrupt-journal", f->path);
    write_bytes(j, "junk", 4);
    assert_int_equal(ckpt_quarantine(f->path), 0);
    assert_false(exists(f->path));
    assert_false(exists(j));
    assert_true(exists(q));
    assert_true(exists(qj));
    /* A second quarantine replaces the older .corrupt. */
    c = open_ok(f, SHA_A, NULL);
    ckpt_close(c);
    assert_int_equal(ckpt_quarantine(f->path), 0);
    assert_true(exists(q));
    assert_int_equal(ckpt_quarantine(f->path), -ENOENT);

    c = open_ok(f, SHA_A, NULL);
    ckpt_close(c);
    write_bytes(j, "junk", 4);
    assert_int_equal(ckpt_remove(f->path), 0);
    assert_false(exists(f->path));
    assert_false(exists(j));
    assert_int_equal(ckpt_remove(f->path), 0); /* already gone is fine */
}

static void test_mode_0600(void **state)
{
    struct fx *f = *state;
    mode_t old = umask(0);
    struct ckpt *c = open_ok(f, SHA_A, NULL);
    umask(old);
    assert_int_equal(ckpt_save(c, "a", "b", "{}", f->err, sizeof(f->err)), 0);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    ckpt_close(c);
    /* One file per item: no companions once closed. */
    char j[300];
    snprintf(j, sizeof(j), "%s-wal", f->path);
    assert_false(exists(j));
    snprintf(j, sizeof(j), "%s-journal", f->path);
    assert_false(exists(j));
}

static void test_empty_file_is_new(void **state)
{
    struct fx *f = *state;
    struct ckpt *c = open_ok(f, SHA_A, NULL);
    ckpt_close(c);
    assert_int_equal(truncate(f->path, 0), 0);
    c = open_ok(f, SHA_A, NULL);
    assert_int_equal(ckpt_save(c, "a", "b", "{}", f->err, sizeof(f->err)), 0);
    ckpt_close(c);
}

/* Child: save in a loop, reporting each save that returned 0 through the pipe. */
static void kill_child(const char *path, int wfd)
{
    struct ckpt *c = NULL;
    char err[256], js[64];
    if (ckpt_open(path, "lld", "LLD-42", SHA_A, &c, NULL, err, sizeof(err)) != 0)
        _exit(2);
    for (uint32_t n = 1;; n++) {
        snprintf(js, sizeof(js), "{\"n\":%u}", n);
        if (ckpt_save(c, "N1_design", "N2_review", js, err, sizeof(err)) != 0)
            _exit(3);
        if (write(wfd, &n, sizeof(n)) != sizeof(n))
            _exit(4);
    }
}

static void test_sigkill_keeps_committed(void **state)
{
    struct fx *f = *state;
    struct ckpt *c = open_ok(f, SHA_A, NULL); /* create folder + file first */
    ckpt_close(c);
    for (int round = 0; round < 6; round++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            kill_child(f->path, p[1]);
        }
        close(p[1]);
        uint32_t last = 0, n;
        int want = 3 + round * 7;
        for (int i = 0; i < want && read(p[0], &n, sizeof(n)) == sizeof(n); i++)
            last = n;
        kill(pid, SIGKILL);
        /* Drain what the child reported before dying: those saves returned 0. */
        while (read(p[0], &n, sizeof(n)) == sizeof(n))
            last = n;
        close(p[0]);
        int ws;
        assert_int_equal(waitpid(pid, &ws, 0), pid);
        assert_true(WIFSIGNALED(ws));
        assert_true(last > 0);

        c = open_ok(f, SHA_A, NULL);
        char *next = NULL, *js = NULL;
        assert_int_equal(ckpt_load(c, &next, &js, NULL), 0);
        unsigned got = 0;
        assert_int_equal(sscanf(js, "{\"n\":%u}", &got), 1);
        assert_true(got >= last);
        assert_string_equal(next, "N2_review");
        free(next);
        free(js);
        ckpt_close(c);
        assert_int_equal(ckpt_remove(f->path), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path),
        cmocka_unit_test_setup_teardown(test_save_reopen_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finished, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_sha_resets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_source_goes_with_the_save, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_workflow_and_item, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_sqlite_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quarantine_and_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mode_0600, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_file_is_new, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigkill_keeps_committed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
