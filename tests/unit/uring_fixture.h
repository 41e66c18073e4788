/*
 * uring_fixture.h - the shared fixture of the io_uring writer tests (test_uring.c,
 * test_uring_bounded.c): a scratch folder, the choice between io_uring and the
 * write(2) fallback (AGENTOS_URING=off), and helpers that make and read back
 * numbered lines. Header-only because the build makes one binary per test file.
 */
#ifndef AGENTOS_TESTS_URING_FIXTURE_H
#define AGENTOS_TESTS_URING_FIXTURE_H

/* Each test file uses a different subset of the helpers below. */
#pragma GCC diagnostic ignored "-Wunused-function"

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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>
#include <liburing.h>

#include "runtime/uring.h"
#include "shm/util.h"

struct fixture {
    char dir[64];
    int fallback;
};

static int setup_common(void **state, int fallback)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    strcpy(f->dir, "/tmp/test_uring.XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    f->fallback = fallback;
    if (fallback)
        setenv("AGENTOS_URING", "off", 1);
    else
        unsetenv("AGENTOS_URING");
    *state = f;
    return 0;
}

static int setup_ring(void **state)
{
    return setup_common(state, 0);
}

static int setup_fallback(void **state)
{
    return setup_common(state, 1);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* io_uring instances this process holds (anon inodes named "[io_uring]"). */
static int count_ring_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    char link[300], target[64];
    int n = 0;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
        ssize_t k = readlink(link, target, sizeof(target) - 1);
        if (k > 0) {
            target[k] = '\0';
            n += strstr(target, "io_uring") != NULL;
        }
    }
    closedir(d);
    return n;
}

static int kernel_has_uring(void)
{
    struct io_uring ring;
    if (io_uring_queue_init(4, &ring, 0) != 0)
        return 0;
    io_uring_queue_exit(&ring);
    return 1;
}

static int open_file(const struct fixture *f, const char *name, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", f->dir, name);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    return fd;
}

static char *slurp(const char *path, size_t *len)
{
    char *buf = NULL;
    assert_int_equal(util_read_file(path, 64u << 20, &buf, len), 0);
    return buf;
}

/* Read a pipe to EOF into a malloc'd buffer. */
static char *drain_fd(int fd, size_t *len)
{
    size_t cap = 1 << 16, used = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (used == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        ssize_t n = read(fd, buf + used, cap - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
    }
    buf[used] = '\0';
    *len = used;
    return buf;
}

/*
 * Fork a reader that copies the pipe's read end into a file, reading at most
 * `chunk` bytes at a time and sleeping `pause_us` between reads (a slow reader).
 */
static pid_t fork_copier(int rfd, int wfd, const char *path, size_t chunk, unsigned pause_us)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(wfd);
        int out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        char buf[65536];
        if (chunk > sizeof(buf))
            chunk = sizeof(buf);
        for (;;) {
            ssize_t n = read(rfd, buf, chunk);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            if (write(out, buf, (size_t)n) != n)
                _exit(2);
            if (pause_us)
                usleep(pause_us);
        }
        _exit(0);
    }
    close(rfd);
    return pid;
}

static void wait_ok(pid_t pid)
{
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* The copier `pid` ends well and its file `path` holds exactly want[0, wlen). */
static void expect_copy(pid_t pid, const char *path, const char *want, size_t wlen)
{
    wait_ok(pid);
    size_t glen;
    char *got = slurp(path, &glen);
    assert_int_equal(glen, wlen);
    assert_memory_equal(got, want, wlen);
    free(got);
}

/* Expected text of lines [0, n): "<tag> <i> xxxxx...\n" with varying widths. */
static size_t make_lines(char *out, size_t cap, const char *tag, int n)
{
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        int pad = (i * 37) % 90;
        int k = snprintf(out + used, cap - used, "%s %d %.*s\n", tag, i, pad,
                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                         "xxxxxxxxxxxxxxxxxxxxxxxxxx");
        assert_true(k > 0 && (size_t)k < cap - used);
        used += (size_t)k;
    }
    return used;
}

/* Append text line by line (each line one append), flushing every `every` lines. */
static void append_lines(struct uring_writer *w, int fd, const char *text, size_t len, int every)
{
    int count = 0;
    for (size_t off = 0; off < len;) {
        const char *nl = memchr(text + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - (text + off)) + 1 : len - off;
        assert_int_equal(uring_writer_append(w, fd, text + off, n), 0);
        off += n;
        if (every > 0 && ++count % every == 0)
            assert_int_equal(uring_writer_flush(w), 0);
    }
}

/* Each test twice, named after the path it exercises. */
#define BOTH(fn)                                                                                   \
    {"ring:" #fn, fn, setup_ring, teardown, NULL},                                                 \
    {                                                                                              \
        "write2:" #fn, fn, setup_fallback, teardown, NULL                                          \
    }

#endif
