/*
 * test_shmstat_guard.c - the inspector survives a segment truncated under it
 * (issue 9, finding 9): guard_snap_take refuses a segment whose file is now
 * shorter than the mapping (fstat), and turns the SIGBUS of a copy from a
 * mapping whose file shrank and was unlinked (so fstat cannot see it) into
 * -EFAULT; the built agentos-shmstat --watch, watching a segment that is
 * truncated, exits 1 with one line instead of dying of SIGBUS, and so does
 * --listen when the segment is cut to nothing while it serves.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "shm/segment.h"
#include "shm/snapshot.h"
#include "shm/util.h"
#include "tools/shmstat/guard.h"

static int counter;

/* A real segment "tguard-<pid>-<n>" (creator: this process, so never stale). */
static void make_segment(struct shm_segment *seg, char *id, size_t idlen)
{
    struct shm_create_params p = {.workflow = "lld",
                                  .item_count = 2000,
                                  .key_count = 2,
                                  .worker_count = 2,
                                  .parallel_max = 2};
    char err[256];

    snprintf(id, idlen, "tguard-%d-%d", (int)getpid(), counter++);
    p.run_id = id;
    if (shm_segment_create(seg, &p, err, sizeof(err)) != 0)
        fail_msg("create: %s", err);
    atomic_store(&seg->hdr->run_state, SHM_RUN_RUNNING);
}

static void truncate_segment(const char *name, off_t size)
{
    int fd = shm_open(name, O_RDWR, 0);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, size), 0);
    close(fd);
}

static void test_whole_segment_snaps(void **state)
{
    (void)state;
    struct shm_segment seg, ro;
    char id[64], err[256];
    struct snap s;
    make_segment(&seg, id, sizeof(id));
    assert_int_equal(shm_segment_attach(&ro, seg.name, 1, err, sizeof(err)), 0);
    assert_int_equal(guard_snap_take(&ro, &s), 0);
    assert_int_equal(s.item_count, 2000);
    snap_free(&s);
    shm_segment_detach(&ro);
    shm_segment_unlink(seg.name);
    shm_segment_detach(&seg);
}

static void test_truncated_segment_is_refused(void **state)
{
    (void)state;
    struct shm_segment seg, ro;
    char id[64], err[256];
    struct snap s;
    make_segment(&seg, id, sizeof(id));
    assert_int_equal(shm_segment_attach(&ro, seg.name, 1, err, sizeof(err)), 0);
    truncate_segment(seg.name, 4096);
    assert_int_equal(guard_snap_take(&ro, &s), -EFAULT);
    shm_segment_detach(&ro);
    shm_segment_unlink(seg.name);
    /* the creator's own mapping is past the end too: leave it unread */
    munmap(seg.base, seg.size);
}

static void test_sigbus_in_the_copy_is_caught(void **state)
{
    (void)state;
    struct shm_segment seg, ro;
    char id[64], err[256];
    struct snap s;
    make_segment(&seg, id, sizeof(id));
    guard_install(); /* after cmocka's own handlers, which it sets around each test */
    assert_int_equal(shm_segment_attach(&ro, seg.name, 1, err, sizeof(err)), 0);
    /* shrink, then unlink: the name is gone, so only the copy can find out */
    truncate_segment(seg.name, 4096);
    shm_segment_unlink(seg.name);
    assert_int_equal(guard_snap_take(&ro, &s), -EFAULT);
    /* and again: the handler is still armed after a jump */
    assert_int_equal(guard_snap_take(&ro, &s), -EFAULT);
    munmap(ro.base, ro.size);
    munmap(seg.base, seg.size);
}

/* The directory of the built tools, from this test binary's path (BUILD/tests/x). */
static void bin_dir(char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    assert_int_equal(util_pathf(out, len, "%s/../bin", exe), 0);
}

/* The inspector exited 1 and said, in one line, that run id's segment was truncated. */
static void assert_stopped_on_truncation(int status, const char *said, const char *id)
{
    char want[160];
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    snprintf(want, sizeof(want),
             "agentos-shmstat: run %s: its segment was truncated under the inspector; stopping\n",
             id);
    assert_string_equal(said, want);
}

static void test_watch_survives_truncation(void **state)
{
    (void)state;
    struct shm_segment seg;
    char id[64], bin[PATH_MAX], cmd[PATH_MAX + 200], out[512] = "";
    make_segment(&seg, id, sizeof(id));
    bin_dir(bin, sizeof(bin));
    snprintf(cmd, sizeof(cmd), "exec '%s/agentos-shmstat' '%s' --watch 0.02 2>&1 >/dev/null", bin,
             id);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    util_sleep_ns(300 * UTIL_NS_PER_MS); /* a few frames */
    truncate_segment(seg.name, 4096);
    size_t got = fread(out, 1, sizeof(out) - 1, p);
    out[got] = '\0';
    int st = pclose(p);
    shm_segment_unlink(seg.name);
    munmap(seg.base, seg.size);
    assert_stopped_on_truncation(st, out, id);
}

static void test_listen_survives_truncation(void **state)
{
    (void)state;
    struct shm_segment seg;
    char id[64], bin[PATH_MAX], cmd[PATH_MAX + 200], line[512] = "", rest[512] = "";
    make_segment(&seg, id, sizeof(id));
    bin_dir(bin, sizeof(bin));
    /* bounded: a listener that never notices exits 124 */
    snprintf(cmd, sizeof(cmd),
             "exec timeout 10 '%s/agentos-shmstat' '%s' --listen 127.0.0.1:0 2>&1", bin, id);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof(line), p)); /* "... serving ... on port N" */
    truncate_segment(seg.name, 0); /* the header too: an unguarded read would die of SIGBUS */
    size_t got = fread(rest, 1, sizeof(rest) - 1, p);
    rest[got] = '\0';
    int st = pclose(p);
    shm_segment_unlink(seg.name);
    munmap(seg.base, seg.size);
    assert_non_null(strstr(line, "serving /metrics and /healthz"));
    assert_stopped_on_truncation(st, rest, id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_segment_snaps),
        cmocka_unit_test(test_truncated_segment_is_refused),
        cmocka_unit_test(test_sigbus_in_the_copy_is_caught),
        cmocka_unit_test(test_watch_survives_truncation),
        cmocka_unit_test(test_listen_survives_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
