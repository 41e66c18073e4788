/*
 * test_own.c - unit tests for item ownership (runtime/own.h): one owner at a
 * time, its run id readable by others, a probe that takes nothing and
 * creates nothing, release that leaves no file, a killed owner (-9) that
 * stops nobody, a stale file's id replaced, close-on-exec, checkpoints
 * deleted only while owned, and the plan's selection without the items (and
 * their dependents) another run holds, with the console line that says so.
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

#include "runtime/own.h"
#include "shm/util.h"

struct fx {
    char dir[64];
    char lock[128]; /* <dir>/lld_workflow_42.db.lock */
    char ckpt[128]; /* <dir>/lld_workflow_42.db */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f || test_tmpdir(f->dir, sizeof(f->dir), "test_own") != 0)
        return -1;
    if (util_pathf(f->ckpt, sizeof(f->ckpt), "%s/lld_workflow_42.db", f->dir) < 0 ||
        util_pathf(f->lock, sizeof(f->lock), "%s.lock", f->ckpt) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    test_rmtree(f->dir);
    free(f);
    return 0;
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void read_text(const char *path, char *out, size_t len)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(out, 1, len - 1, fp);
    out[n] = '\0';
    fclose(fp);
}

static void one_owner_at_a_time(void **state)
{
    struct fx *f = *state;
    char owner[SHM_RUN_ID_MAX], text[64];
    int a = -1, b = -1;
    assert_int_equal(own_take(f->lock, "20261129T120900Z-4242", &a, owner, sizeof(owner)), 0);
    assert_true(a >= 0);
    read_text(f->lock, text, sizeof(text));
    assert_string_equal(text, "20261129T120900Z-4242");
    assert_int_equal(own_take(f->lock, "20261129T121000Z-5555", &b, owner, sizeof(owner)),
                     -EWOULDBLOCK);
    assert_int_equal(b, -1);
    assert_string_equal(owner, "20261129T120900Z-4242");
    assert_int_equal(own_probe(f->lock, owner, sizeof(owner)), 1);
    assert_string_equal(owner, "20261129T120900Z-4242");
    own_release(f->lock, a);
    assert_int_equal(access(f->lock, F_OK), -1); /* released: no file left */
    assert_int_equal(own_probe(f->lock, owner, sizeof(owner)), 0);
    assert_int_equal(own_take(f->lock, "20261129T121000Z-5555", &b, NULL, 0), 0);
    own_release(f->lock, b);
}

static void probe_takes_and_creates_nothing(void **state)
{
    struct fx *f = *state;
    char owner[SHM_RUN_ID_MAX] = "x";
    assert_int_equal(own_probe(f->lock, owner, sizeof(owner)), 0);
    assert_string_equal(owner, "");
    assert_int_equal(access(f->lock, F_OK), -1);
    /* A probe between a taker's attempts never makes the taker fail. */
    int a = -1;
    write_text(f->lock, "");
    assert_int_equal(own_probe(f->lock, owner, sizeof(owner)), 0);
    assert_int_equal(own_take(f->lock, "r1", &a, NULL, 0), 0);
    assert_int_equal(own_probe(f->lock, owner, sizeof(owner)), 1);
    assert_string_equal(owner, "r1");
    own_release(f->lock, a);
}

static void killed_owner_stops_nobody(void **state)
{
    struct fx *f = *state;
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd;
        char c = own_take(f->lock, "20261129T120900Z-4242-long-run-id", &fd, NULL, 0) == 0;
        (void)!write(ready[1], &c, 1);
        pause(); /* killed with -9 while holding the item */
        _exit(0);
    }
    char c = 0;
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(c, 1);
    char owner[SHM_RUN_ID_MAX];
    assert_int_equal(own_probe(f->lock, owner, sizeof(owner)), 1);
    assert_string_equal(owner, "20261129T120900Z-4242-long-run-id");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    assert_int_equal(access(f->lock, F_OK), 0);                    /* the stale file stays... */
    assert_int_equal(own_probe(f->lock, owner, sizeof(owner)), 0); /* ...holding nothing */
    int fd = -1;
    assert_int_equal(own_take(f->lock, "20261129T130000Z-7", &fd, NULL, 0), 0);
    char text[64];
    read_text(f->lock, text, sizeof(text));
    assert_string_equal(text, "20261129T130000Z-7"); /* the longer stale id is gone */
    own_release(f->lock, fd);
    close(ready[0]);
    close(ready[1]);
}

static void lock_is_close_on_exec(void **state)
{
    struct fx *f = *state;
    int fd = -1;
    assert_int_equal(own_take(f->lock, "r", &fd, NULL, 0), 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    struct stat st;
    assert_int_equal(stat(f->lock, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    own_release(f->lock, fd);
}

static void take_fails_in_a_missing_folder(void **state)
{
    struct fx *f = *state;
    char path[192];
    int fd = 5;
    assert_int_equal(util_pathf(path, sizeof(path), "%s/nope/x.lock", f->dir), 0);
    assert_int_equal(own_take(path, "r", &fd, NULL, 0), -ENOENT);
    assert_int_equal(fd, -1);
}

static void checkpoint_deleted_only_while_owned(void **state)
{
    struct fx *f = *state;
    int fd = -1;
    write_text(f->ckpt, "x");
    assert_int_equal(own_take(f->lock, "other", &fd, NULL, 0), 0);
    assert_int_equal(own_remove_checkpoint(f->ckpt), -EWOULDBLOCK);
    assert_int_equal(access(f->ckpt, F_OK), 0);
    own_release(f->lock, fd);
    write_text(f->lock, "stale");
    assert_int_equal(own_remove_checkpoint(f->ckpt), 0);
    assert_int_equal(access(f->ckpt, F_OK), -1);
    assert_int_equal(access(f->lock, F_OK), -1);         /* the stale lock file went with it */
    assert_int_equal(own_remove_checkpoint(f->ckpt), 0); /* nothing there: nothing to do */
}

/* ---- own_leave_held ------------------------------------------------------ */

static const struct wf_desc test_wf = {.name = "lld", .noun = "item"};

/* A plan of n items 01..n, all selected; item 2 (index 1) depends on item 1 (index 0). */
static void make_plan(struct run_ctx *rc, struct fx *f, struct item *v, size_t n, size_t *sel,
                      long *slot_of, size_t *deps)
{
    memset(rc, 0, sizeof(*rc));
    memset(v, 0, n * sizeof(*v));
    rc->wf = &test_wf;
    util_strlcpy(rc->plan.ckpt_dir, f->dir, sizeof(rc->plan.ckpt_dir));
    rc->plan.items.v = v;
    rc->plan.items.n = n;
    for (size_t i = 0; i < n; i++) {
        snprintf(v[i].stem, sizeof(v[i].stem), "%02zu", i + 1);
        snprintf(v[i].id, sizeof(v[i].id), "LLD-%02zu", i + 1);
        sel[i] = i;
        slot_of[i] = (long)i;
    }
    deps[0] = 0;
    v[1].deps = deps;
    v[1].ndeps = 1;
    rc->sel = sel;
    rc->slot_of = slot_of;
    rc->nsel = n;
}

/* Run own_leave_held with stdout in a file; its output in out. */
static void leave_held(struct run_ctx *rc, struct fx *f, char *out, size_t len)
{
    char path[128];
    assert_int_equal(util_pathf(path, sizeof(path), "%s/stdout", f->dir), 0);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, STDOUT_FILENO);
    close(fd);
    int r = own_leave_held(rc);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    assert_int_equal(r, 0);
    read_text(path, out, len);
    unlink(path);
}

static void plan_leaves_held_items_and_dependents(void **state)
{
    struct fx *f = *state;
    struct run_ctx rc;
    struct item v[5];
    size_t sel[5], deps[1];
    long slot_of[5];
    make_plan(&rc, f, v, 5, sel, slot_of, deps);
    char l1[192], l4[192], out[512];
    assert_int_equal(own_lock_path(&rc, &v[0], l1, sizeof(l1)), 0);
    assert_int_equal(own_lock_path(&rc, &v[3], l4, sizeof(l4)), 0);
    char want[256];
    assert_int_equal(util_pathf(want, sizeof(want), "%s/lld_workflow_01.db.lock", f->dir), 0);
    assert_string_equal(l1, want); /* beside the checkpoint run_ckpt_path names */
    int a = -1, b = -1;
    assert_int_equal(own_take(l1, "20261129T120900Z-4242", &a, NULL, 0), 0);
    assert_int_equal(own_take(l4, "20261129T120900Z-4242", &b, NULL, 0), 0);
    leave_held(&rc, f, out, sizeof(out));
    assert_string_equal(out, "[COORDINATOR] 2 items are being processed by run "
                             "20261129T120900Z-4242 (and 1 that depend on them); "
                             "taking the other 2\n");
    assert_int_equal(rc.nsel, 2);
    assert_int_equal(rc.sel[0], 2);
    assert_int_equal(rc.sel[1], 4);
    assert_int_equal(slot_of[0], -1);
    assert_int_equal(slot_of[1], -1); /* depends on a held item */
    assert_int_equal(slot_of[2], 0);
    assert_int_equal(slot_of[3], -1);
    assert_int_equal(slot_of[4], 1);
    own_release(l1, a);
    own_release(l4, b);
}

static void plan_with_nothing_left_says_why(void **state)
{
    struct fx *f = *state;
    struct run_ctx rc;
    struct item v[3];
    size_t sel[3], deps[1];
    long slot_of[3];
    make_plan(&rc, f, v, 3, sel, slot_of, deps);
    v[1].ndeps = 0;
    int fd[3];
    char lock[3][192], out[512];
    const char *owners[3] = {"20261129T120900Z-1", "20261129T120900Z-2", "20261129T120900Z-1"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(own_lock_path(&rc, &v[i], lock[i], sizeof(lock[i])), 0);
        assert_int_equal(own_take(lock[i], owners[i], &fd[i], NULL, 0), 0);
    }
    leave_held(&rc, f, out, sizeof(out));
    assert_string_equal(out, "[COORDINATOR] Nothing to take: all 3 items are being processed by "
                             "runs 20261129T120900Z-1 (2) and 20261129T120900Z-2 (1)\n");
    assert_int_equal(rc.nsel, 0);
    for (int i = 0; i < 3; i++)
        own_release(lock[i], fd[i]);
}

static void plan_with_one_item_held_by_an_unnamed_run(void **state)
{
    struct fx *f = *state;
    struct run_ctx rc;
    struct item v[2];
    size_t sel[2], deps[1];
    long slot_of[2];
    char lock[192], out[256];
    make_plan(&rc, f, v, 2, sel, slot_of, deps);
    v[1].ndeps = 0;
    rc.nsel = 1; /* only LLD-01 selected (by ID) */
    int fd;
    assert_int_equal(own_lock_path(&rc, &v[0], lock, sizeof(lock)), 0);
    assert_int_equal(own_take(lock, "", &fd, NULL, 0), 0); /* an owner that wrote no id */
    leave_held(&rc, f, out, sizeof(out));
    assert_string_equal(out, "[COORDINATOR] Nothing to take: 1 item is being processed by "
                             "another run\n");
    assert_int_equal(rc.nsel, 0);
    own_release(lock, fd);
}

static void plan_with_nothing_held_says_nothing(void **state)
{
    struct fx *f = *state;
    struct run_ctx rc;
    struct item v[3];
    size_t sel[3], deps[1];
    long slot_of[3];
    char out[64];
    make_plan(&rc, f, v, 3, sel, slot_of, deps);
    leave_held(&rc, f, out, sizeof(out));
    assert_string_equal(out, "");
    assert_int_equal(rc.nsel, 3);
    assert_int_equal(slot_of[2], 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(one_owner_at_a_time, setup, teardown),
        cmocka_unit_test_setup_teardown(probe_takes_and_creates_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(killed_owner_stops_nobody, setup, teardown),
        cmocka_unit_test_setup_teardown(lock_is_close_on_exec, setup, teardown),
        cmocka_unit_test_setup_teardown(take_fails_in_a_missing_folder, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoint_deleted_only_while_owned, setup, teardown),
        cmocka_unit_test_setup_teardown(plan_leaves_held_items_and_dependents, setup, teardown),
        cmocka_unit_test_setup_teardown(plan_with_nothing_left_says_why, setup, teardown),
        cmocka_unit_test_setup_teardown(plan_with_one_item_held_by_an_unnamed_run, setup, teardown),
        cmocka_unit_test_setup_teardown(plan_with_nothing_held_says_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
