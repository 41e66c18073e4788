/*
 * test_segment.c - unit tests of segment creation, attach checks, listing and
 * stale-segment removal.
 *
 * Every segment is named "tseg-<pid>-<n>" and unlinked by the test that made
 * it. Bad segments (another layout version, random bytes, lying sizes) are
 * made by patching a real one or by writing a POSIX shm object by hand.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "shm/cred.h"
#include "shm/prog.h"
#include "shm/segment.h"

static int counter;

static void fresh_id(char *id, size_t len)
{
    snprintf(id, len, "tseg-%d-%d", (int)getpid(), counter++);
}

static void create_or_fail(struct shm_segment *seg, const char *id, uint32_t items)
{
    struct shm_create_params p = {.run_id = id,
                                  .workflow = "issue",
                                  .item_count = items,
                                  .key_count = 3,
                                  .worker_count = 4,
                                  .parallel_max = 4};
    char err[256];

    if (shm_segment_create(seg, &p, err, sizeof(err)) != 0)
        fail_msg("create: %s", err);
}

static void test_create_layout(void **state)
{
    struct shm_segment seg;
    const struct shm_header_sh *h;
    char id[SHM_RUN_ID_MAX], path[128];
    struct stat st;

    (void)state;
    fresh_id(id, sizeof(id));
    create_or_fail(&seg, id, 10);
    h = seg.hdr;
    assert_true(strncmp(seg.name, "/agentos-", 9) == 0);
    assert_string_equal(seg.name + 9, id);
    assert_int_equal(atomic_load(&h->magic), SHM_MAGIC);
    assert_int_equal(h->layout_version, SHM_LAYOUT_VERSION);
    assert_int_equal(h->header_size, SHM_HEADER_SIZE);
    struct shm_create_params sizes = {.item_count = 10, .key_count = 3, .worker_count = 4};
    assert_int_equal(h->total_size, shm_segment_size(&sizes));
    assert_int_equal(seg.size, h->total_size);
    assert_int_equal(h->items_offset % SHM_CACHELINE, 0);
    assert_int_equal(h->keys_offset % SHM_CACHELINE, 0);
    assert_int_equal(h->workers_offset % SHM_CACHELINE, 0);
    assert_true(h->items_offset >= SHM_HEADER_SIZE);
    assert_true(h->keys_offset >= h->items_offset + 10 * sizeof(struct prog_slot_sh));
    assert_true(h->workers_offset >= h->keys_offset + 3 * sizeof(struct cred_slot_sh));
    assert_true(h->total_size >= h->workers_offset + 4 * sizeof(struct shm_worker_sh));
    assert_int_equal(h->creator_pid, getpid());
    assert_int_equal(h->parallel_max, 4);
    assert_int_equal(atomic_load(&h->parallelism), 4);
    assert_int_equal(atomic_load(&h->run_state), SHM_RUN_STARTING);
    assert_string_equal(h->workflow, "issue");
    assert_string_equal(h->run_id, id);
    assert_true(h->started_realtime_ns > 0);
    for (uint32_t i = 0; i < 10; i++) {
        assert_int_equal(shm_prog_slot(&seg, i)->index, i);
        assert_int_equal(((uintptr_t)shm_prog_slot(&seg, i)) % SHM_CACHELINE, 0);
    }
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(atomic_load(&shm_worker_slot(&seg, i)->item_index), -1);
        assert_int_equal(atomic_load(&shm_worker_slot(&seg, i)->pid), 0);
    }
    assert_null(shm_prog_slot(&seg, 10));
    assert_null(shm_cred_slot(&seg, 3));
    assert_null(shm_worker_slot(&seg, 4));
    /* the key mutexes are ready to lock before any key is configured */
    assert_int_equal(cred_lock(shm_cred_slot(&seg, 2)), 0);
    cred_unlock(shm_cred_slot(&seg, 2));

    snprintf(path, sizeof(path), "/dev/shm/agentos-%s", id);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    shm_segment_detach(&seg);
    assert_int_equal(shm_segment_unlink(id), 0);
    assert_int_equal(shm_segment_unlink(id), -ENOENT);
}

static void test_create_rejects(void **state)
{
    struct shm_create_params p = {
        .workflow = "lld", .item_count = 1, .key_count = 1, .worker_count = 1, .parallel_max = 1};
    const char *bad[] = {"", "a/b", "a b", "../x", "0123456789012345678901234567890123456789"};
    struct shm_segment seg, dup;
    char id[SHM_RUN_ID_MAX], err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p.run_id = bad[i];
        err[0] = '\0';
        assert_int_equal(shm_segment_create(&seg, &p, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "invalid run id"));
    }
    fresh_id(id, sizeof(id));
    p.run_id = id;
    p.item_count = SHM_MAX_ITEMS + 1;
    assert_int_equal(shm_segment_create(&seg, &p, err, sizeof(err)), -EINVAL);
    p.item_count = 1;
    p.workflow = "a-workflow-name-too-long";
    assert_int_equal(shm_segment_create(&seg, &p, err, sizeof(err)), -EINVAL);
    p.workflow = "lld";
    assert_int_equal(shm_segment_create(&seg, &p, err, sizeof(err)), 0);
    assert_int_equal(shm_segment_create(&dup, &p, err, sizeof(err)), -EEXIST);
    assert_non_null(strstr(err, seg.name));
    shm_segment_detach(&seg);
    assert_int_equal(shm_segment_unlink(id), 0);
}

static void test_attach(void **state)
{
    struct shm_segment seg, a, b, ro;
    struct prog_item it, out;
    char id[SHM_RUN_ID_MAX], err[256];
    int status;
    pid_t pid;

    (void)state;
    fresh_id(id, sizeof(id));
    create_or_fail(&seg, id, 5);
    assert_int_equal(shm_segment_attach(&a, id, 0, err, sizeof(err)), 0);
    assert_int_equal(shm_segment_attach(&b, seg.name, 0, err, sizeof(err)), 0);
    assert_int_equal(shm_segment_attach(&ro, id, 1, err, sizeof(err)), 0);
    assert_string_equal(a.name, seg.name);
    assert_string_equal(b.name, seg.name);
    assert_int_equal(ro.readonly, 1);
    assert_int_equal(a.hdr->item_count, 5);

    /* one mapping writes, the others (at other addresses) see it */
    memset(&it, 0, sizeof(it));
    it.state = PROG_RUNNING;
    strcpy(it.id, "LLD-7");
    prog_write(shm_prog_slot(&a, 3), &it);
    assert_int_equal(prog_read(shm_prog_slot(&ro, 3), &out), 0);
    assert_string_equal(out.id, "LLD-7");
    assert_int_equal(prog_read(shm_prog_slot(&seg, 3), &out), 0);
    assert_int_equal(out.state, PROG_RUNNING);

    /* the read-only mapping really is read-only */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL); /* a sanitizer's handler would turn it into exit(1) */
        ((volatile struct shm_header_sh *)ro.hdr)->parallel_max = 99;
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);

    shm_segment_detach(&a);
    shm_segment_detach(&b);
    shm_segment_detach(&ro);
    shm_segment_detach(&seg);
    assert_int_equal(shm_segment_unlink(seg.name), 0);
}

static void test_attach_missing(void **state)
{
    struct shm_segment seg;
    char id[SHM_RUN_ID_MAX], err[256];

    (void)state;
    fresh_id(id, sizeof(id));
    assert_int_equal(shm_segment_attach(&seg, id, 1, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, id));
    assert_int_equal(shm_segment_attach(&seg, "/other-prefix", 1, err, sizeof(err)), -EINVAL);
    assert_int_equal(shm_segment_attach(&seg, "x/../y", 1, err, sizeof(err)), -EINVAL);
    assert_int_equal(shm_segment_attach(&seg, NULL, 1, err, sizeof(err)), -EINVAL);
}

/* Patch one header field of a fresh segment, expect attach to refuse it. */
static void expect_refused(void (*patch)(struct shm_header_sh *), const char *msg)
{
    struct shm_segment seg, other;
    char id[SHM_RUN_ID_MAX], err[256];

    fresh_id(id, sizeof(id));
    create_or_fail(&seg, id, 2);
    patch(seg.hdr);
    err[0] = '\0';
    assert_int_equal(shm_segment_attach(&other, id, 1, err, sizeof(err)), -EPROTO);
    if (!strstr(err, msg))
        fail_msg("error \"%s\" lacks \"%s\"", err, msg);
    assert_null(other.base);
    shm_segment_detach(&seg);
    assert_int_equal(shm_segment_unlink(id), 0);
}

static void patch_version(struct shm_header_sh *h)
{
    h->layout_version = SHM_LAYOUT_VERSION + 1;
}

static void patch_magic(struct shm_header_sh *h)
{
    atomic_store(&h->magic, 0);
}

static void patch_total(struct shm_header_sh *h)
{
    h->total_size += 4096 * 16;
}

static void patch_count(struct shm_header_sh *h)
{
    h->item_count = 1000;
}

static void patch_slot_size(struct shm_header_sh *h)
{
    h->key_slot_size = 128;
}

static void patch_offset(struct shm_header_sh *h)
{
    h->workers_offset = h->total_size - 8;
}

static void test_attach_refuses(void **state)
{
    char want[128];

    (void)state;
    snprintf(want, sizeof(want), "has layout version %u, this build reads %u",
             SHM_LAYOUT_VERSION + 1, SHM_LAYOUT_VERSION);
    expect_refused(patch_version, want);
    expect_refused(patch_magic, "not an agentos segment");
    expect_refused(patch_total, "outside");
    expect_refused(patch_count, "outside");
    expect_refused(patch_slot_size, "slot sizes");
    expect_refused(patch_offset, "outside");
}

/* A shm object named like ours but holding len random bytes. */
static void make_garbage(const char *name, size_t len, int age_s)
{
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    unsigned char *buf = malloc(len + 1);

    assert_true(fd >= 0);
    assert_non_null(buf);
    srand((unsigned)getpid());
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)rand();
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    if (age_s > 0) {
        struct timespec ts[2];
        clock_gettime(CLOCK_REALTIME, &ts[0]);
        ts[0].tv_sec -= age_s;
        ts[1] = ts[0];
        assert_int_equal(futimens(fd, ts), 0);
    }
    free(buf);
    close(fd);
}

static void test_attach_garbage(void **state)
{
    struct shm_segment seg;
    char id[SHM_RUN_ID_MAX], name[80], err[256];

    (void)state;
    fresh_id(id, sizeof(id));
    snprintf(name, sizeof(name), "/agentos-%s", id);
    make_garbage(name, 8192, 0);
    assert_int_equal(shm_segment_attach(&seg, id, 1, err, sizeof(err)), -EPROTO);
    assert_non_null(strstr(err, "not an agentos segment"));
    assert_int_equal(shm_unlink(name), 0);

    make_garbage(name, 10, 0); /* smaller than a header */
    assert_int_equal(shm_segment_attach(&seg, id, 0, err, sizeof(err)), -EPROTO);
    assert_int_equal(shm_unlink(name), 0);
}

struct seen {
    const char *name;
    int found, stale;
    int32_t pid;
};

static void on_segment(const char *name, int32_t creator_pid, int stale, void *arg)
{
    struct seen *s = arg;

    if (strcmp(name, s->name) == 0) {
        s->found = 1;
        s->stale = stale;
        s->pid = creator_pid;
    }
}

static pid_t dead_pid(void)
{
    int status;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return pid;
}

static int exists(const char *name)
{
    int fd = shm_open(name, O_RDONLY, 0);

    if (fd >= 0)
        close(fd);
    return fd >= 0;
}

static void test_list_and_remove_stale(void **state)
{
    struct shm_segment live, dead;
    char live_id[SHM_RUN_ID_MAX], dead_id[SHM_RUN_ID_MAX], young[80], old[80];
    struct seen s = {0};
    pid_t gone = dead_pid();

    (void)state;
    fresh_id(live_id, sizeof(live_id));
    fresh_id(dead_id, sizeof(dead_id));
    create_or_fail(&live, live_id, 1);
    create_or_fail(&dead, dead_id, 1);
    dead.hdr->creator_pid = gone; /* as if its coordinator was killed with -9 */
    snprintf(young, sizeof(young), "/agentos-tseg-%d-young", (int)getpid());
    snprintf(old, sizeof(old), "/agentos-tseg-%d-old", (int)getpid());
    make_garbage(young, 4096, 0); /* maybe a segment being created right now */
    make_garbage(old, 4096, 60);

    s.name = live.name;
    assert_true(shm_segment_list(on_segment, &s) >= 4);
    assert_true(s.found && !s.stale);
    assert_int_equal(s.pid, getpid());
    s = (struct seen){.name = dead.name};
    assert_true(shm_segment_list(on_segment, &s) >= 4);
    assert_true(s.found && s.stale);
    assert_int_equal(s.pid, gone);

    assert_true(shm_segment_remove_stale(NULL, NULL) >= 2);
    assert_false(exists(dead.name));
    assert_false(exists(old));
    assert_true(exists(live.name));
    assert_true(exists(young));

    shm_segment_detach(&live);
    shm_segment_detach(&dead);
    assert_int_equal(shm_segment_unlink(live.name), 0);
    assert_int_equal(shm_unlink(young), 0);
}

/*
 * Entries that anyone can put in /dev/shm under our prefix: a FIFO (opening it
 * blocked every run before the first line), a folder, a symlink to one of our
 * own segments, and one of our segments for contrast. Stale-segment removal
 * and listing must return at once, report the foreign ones, and touch none.
 * It runs in a child with a private /dev/shm (a mount namespace: root only),
 * so a FIFO there cannot hang anybody else's runs on this machine.
 */
struct foreign_seen {
    int fifo, dir, link, other;
};

static void on_foreign(const char *name, const char *why, void *arg)
{
    struct foreign_seen *f = arg;
    if (strstr(name, "-fifo") && !strcmp(why, "a FIFO"))
        f->fifo++;
    else if (strstr(name, "-dir") && !strcmp(why, "a folder"))
        f->dir++;
    else if (strstr(name, "-link") && !strcmp(why, "a symbolic link"))
        f->link++;
    else
        f->other++;
}

static int foreign_entries_child(void)
{
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", "/dev/shm", "tmpfs", 0, "mode=1777") != 0)
        return 77;
    alarm(5); /* a blocking open ends the child with SIGALRM */
    struct shm_segment seg;
    char id[SHM_RUN_ID_MAX], target[128];
    fresh_id(id, sizeof(id));
    create_or_fail(&seg, id, 1);
    snprintf(target, sizeof(target), "/dev/shm%s", seg.name);
    if (mkfifo("/dev/shm/agentos-x-fifo", 0600) != 0 || mkdir("/dev/shm/agentos-x-dir", 0700) ||
        symlink(target, "/dev/shm/agentos-x-link") != 0)
        return 3;
    struct foreign_seen f = {0};
    if (shm_segment_remove_stale(on_foreign, &f) != 0)
        return 4;
    if (f.fifo != 1 || f.dir != 1 || f.link != 1 || f.other != 0)
        return 5;
    if (shm_segment_list(NULL, NULL) != 1) /* our segment only */
        return 6;
    struct stat st;
    if (lstat("/dev/shm/agentos-x-fifo", &st) || !S_ISFIFO(st.st_mode) ||
        lstat("/dev/shm/agentos-x-dir", &st) || lstat("/dev/shm/agentos-x-link", &st))
        return 7;
    char err[256];
    struct shm_segment fifo;
    if (shm_segment_attach(&fifo, "/agentos-x-fifo", 1, err, sizeof(err)) != -EPROTO ||
        !strstr(err, "a FIFO"))
        return 8;
    shm_segment_detach(&seg);
    return 0;
}

static void test_foreign_entries_left_alone(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(foreign_entries_child());
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
        skip(); /* no mount namespace here */
    if (WIFSIGNALED(st))
        fail_msg("blocked: killed by signal %d", WTERMSIG(st));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_foreign_entries_left_alone),
        cmocka_unit_test(test_create_layout),
        cmocka_unit_test(test_create_rejects),
        cmocka_unit_test(test_attach),
        cmocka_unit_test(test_attach_missing),
        cmocka_unit_test(test_attach_refuses),
        cmocka_unit_test(test_attach_garbage),
        cmocka_unit_test(test_list_and_remove_stale),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
