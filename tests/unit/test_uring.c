/*
 * test_uring.c - unit tests for the batching io_uring writer (runtime/uring.c).
 *
 * Every test runs twice: once with io_uring and once with AGENTOS_URING=off
 * (the write(2) fallback), since both paths must keep the same guarantees:
 * exact content and order per fd, whole lines on UW_FD_ATOMIC_LINES pipes
 * shared by several processes, short writes and -EAGAIN re-queued, hard
 * errors reported.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>
#include <liburing.h>

#include "runtime/uring.h"
#include "runtime/util.h"

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

static void test_small_appends_regular(void **state)
{
    struct fixture *f = *state;
    char path[256];
    int fd = open_file(f, "a.log", path, sizeof(path));
    size_t cap = 1 << 20;
    char *want = malloc(cap);
    size_t wlen = make_lines(want, cap, "line", 5000); /* > 64 KiB: auto-flush kicks in */
    struct uring_writer *w;
    int before = count_ring_fds();
    assert_int_equal(uring_writer_open(&w, 8), 0);
    /* The writer really uses io_uring unless told not to (or the kernel can't). */
    assert_int_equal(count_ring_fds() - before, !f->fallback && kernel_has_uring());
    append_lines(w, fd, want, wlen, 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_true(st.st_size > 0);            /* the 64 KiB limit flushed already */
    assert_true((size_t)st.st_size < wlen); /* ...but not everything */
    assert_int_equal(uring_writer_flush(w), 0);
    assert_int_equal(uring_writer_flush(w), 0); /* nothing pending: no-op */
    size_t glen;
    char *got = slurp(path, &glen);
    assert_int_equal(glen, wlen);
    assert_memory_equal(got, want, wlen);
    uring_writer_close(w);
    close(fd);
    free(got);
    free(want);
}

static void test_interleaved_three_files(void **state)
{
    struct fixture *f = *state;
    char path[3][256], name[32];
    int fd[3];
    char *want[3];
    size_t wlen[3] = {0, 0, 0}, cap = 1 << 18;
    for (int k = 0; k < 3; k++) {
        snprintf(name, sizeof(name), "f%d.log", k);
        fd[k] = open_file(f, name, path[k], sizeof(path[k]));
        want[k] = malloc(cap);
    }
    struct uring_writer *w;
    assert_int_equal(uring_writer_open(&w, 4), 0); /* small ring: forces several rounds */
    for (int i = 0; i < 3000; i++) {
        int k = (i * 7) % 3;
        int n = snprintf(want[k] + wlen[k], cap - wlen[k], "file%d record %d\n", k, i);
        assert_int_equal(uring_writer_append(w, fd[k], want[k] + wlen[k], (size_t)n), 0);
        wlen[k] += (size_t)n;
        if (i % 97 == 0)
            assert_int_equal(uring_writer_flush(w), 0);
    }
    uring_writer_close(w);
    for (int k = 0; k < 3; k++) {
        size_t glen;
        char *got = slurp(path[k], &glen);
        assert_int_equal(glen, wlen[k]);
        assert_memory_equal(got, want[k], wlen[k]);
        free(got);
        free(want[k]);
        close(fd[k]);
    }
}

static void test_many_fds_and_large_append(void **state)
{
    struct fixture *f = *state;
    enum { NF = 20 };
    char path[NF][256], name[32];
    int fd[NF];
    size_t big = 3u << 20;
    char *blob = malloc(big);
    for (size_t i = 0; i < big; i++)
        blob[i] = (char)('a' + i % 26);
    struct uring_writer *w;
    assert_int_equal(uring_writer_open(&w, 0), 0);
    for (int k = 0; k < NF; k++) {
        snprintf(name, sizeof(name), "m%d.log", k);
        fd[k] = open_file(f, name, path[k], sizeof(path[k]));
        assert_int_equal(uring_writer_append(w, fd[k], "head\n", 5), 0);
    }
    assert_int_equal(uring_writer_append(w, fd[NF - 1], blob, big), 0); /* one 3 MiB record */
    assert_int_equal(uring_writer_append(w, fd[NF - 1], "tail\n", 5), 0);
    assert_int_equal(uring_writer_append(w, fd[0], NULL, 0), 0);
    assert_int_equal(uring_writer_flush(w), 0);
    for (int k = 0; k < NF; k++) {
        size_t glen;
        char *got = slurp(path[k], &glen);
        if (k == NF - 1) {
            assert_int_equal(glen, big + 10);
            assert_memory_equal(got + 5, blob, big);
            assert_memory_equal(got + 5 + big, "tail\n", 5);
        } else {
            assert_int_equal(glen, 5);
        }
        assert_memory_equal(got, "head\n", 5);
        free(got);
        assert_int_equal(uring_writer_forget_fd(w, fd[k]), 0);
        close(fd[k]);
    }
    uring_writer_close(w);
    free(blob);
}

static void run_pipe_lines(struct fixture *f, int nlines, int pipe_sz, int nonblock, size_t chunk,
                           unsigned pause_us)
{
    int p[2];
    char out[256];
    snprintf(out, sizeof(out), "%s/pipe.out", f->dir);
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    if (pipe_sz > 0)
        assert_true(fcntl(p[1], F_SETPIPE_SZ, pipe_sz) >= pipe_sz);
    if (nonblock)
        assert_int_equal(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
    pid_t pid = fork_copier(p[0], p[1], out, chunk, pause_us);
    size_t cap = (size_t)nlines * 120 + 64;
    char *want = malloc(cap);
    size_t wlen = make_lines(want, cap, "[LLD-7]", nlines);
    struct uring_writer *w;
    assert_int_equal(uring_writer_open(&w, 16), 0);
    assert_int_equal(uring_writer_set_fd_flags(w, p[1], UW_FD_ATOMIC_LINES), 0);
    append_lines(w, p[1], want, wlen, 500);
    assert_int_equal(uring_writer_forget_fd(w, p[1]), 0);
    uring_writer_close(w);
    close(p[1]);
    wait_ok(pid);
    size_t glen;
    char *got = slurp(out, &glen);
    assert_int_equal(glen, wlen);
    assert_memory_equal(got, want, wlen);
    free(got);
    free(want);
}

static void test_pipe_10000_lines(void **state)
{
    run_pipe_lines(*state, 10000, 0, 0, 65536, 0);
}

static void test_pipe_slow_reader(void **state)
{
    /* One-page pipe, reader takes 700 bytes at a time with pauses. */
    run_pipe_lines(*state, 1500, 4096, 0, 700, 50);
}

static void test_pipe_nonblocking_eagain(void **state)
{
    /* O_NONBLOCK on a full one-page pipe: writes answer -EAGAIN and must be retried. */
    run_pipe_lines(*state, 1500, 4096, 1, 1000, 50);
}

/*
 * A stream socket with a tiny send buffer takes part of a 4 KiB chunk (a
 * short write): with io_uring that breaks the linked chain, the rest of the
 * chain completes with -ECANCELED, and all of it must be re-queued in order.
 */
static void test_socket_short_writes_in_chain(void **state)
{
    struct fixture *f = *state;
    int sv[2], one = 1;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &one, sizeof(one)), 0);
    char out[256];
    snprintf(out, sizeof(out), "%s/sock.out", f->dir);
    pid_t pid = fork_copier(sv[1], sv[0], out, 300, 20);
    size_t cap = 3000 * 120;
    char *want = malloc(cap);
    size_t wlen = make_lines(want, cap, "[ISSUE-3]", 3000);
    struct uring_writer *w;
    assert_int_equal(uring_writer_open(&w, 16), 0);
    assert_int_equal(uring_writer_set_fd_flags(w, sv[0], UW_FD_ATOMIC_LINES), 0);
    append_lines(w, sv[0], want, wlen, 0);
    assert_int_equal(uring_writer_flush(w), 0);
    uring_writer_close(w);
    close(sv[0]);
    wait_ok(pid);
    size_t glen;
    char *got = slurp(out, &glen);
    assert_int_equal(glen, wlen);
    assert_memory_equal(got, want, wlen);
    free(got);
    free(want);
}

/* A pipe "line" longer than PIPE_BUF is cut, never lost. */
static void test_pipe_overlong_line(void **state)
{
    struct fixture *f = *state;
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    size_t n = 3 * 4096 + 123;
    char *line = malloc(n);
    memset(line, 'z', n - 1);
    line[n - 1] = '\n';
    char out[256];
    snprintf(out, sizeof(out), "%s/long.out", f->dir);
    pid_t pid = fork_copier(p[0], p[1], out, 65536, 0);
    struct uring_writer *w;
    assert_int_equal(uring_writer_open(&w, 2), 0);
    assert_int_equal(uring_writer_set_fd_flags(w, p[1], UW_FD_ATOMIC_LINES), 0);
    assert_int_equal(uring_writer_append(w, p[1], "short\n", 6), 0);
    assert_int_equal(uring_writer_append(w, p[1], line, n), 0);
    assert_int_equal(uring_writer_append(w, p[1], "no newline", 10), 0);
    uring_writer_close(w);
    close(p[1]);
    wait_ok(pid);
    size_t glen;
    char *got = slurp(out, &glen);
    assert_int_equal(glen, 6 + n + 10);
    assert_memory_equal(got, "short\n", 6);
    assert_memory_equal(got + 6, line, n);
    assert_memory_equal(got + 6 + n, "no newline", 10);
    free(got);
    free(line);
}

/* Writer side of the multi-process test: 2000 lines "[P<n>] <seq> <padding>". */
static void child_writer(int fd, int n)
{
    struct uring_writer *w;
    if (uring_writer_open(&w, 32) != 0)
        _exit(3);
    if (uring_writer_set_fd_flags(w, fd, UW_FD_ATOMIC_LINES) != 0)
        _exit(3);
    char line[512];
    for (int seq = 0; seq < 2000; seq++) {
        int pad = 20 + (seq * 13 + n * 31) % 380;
        int k = snprintf(line, sizeof(line), "[P%d] %d %.*s\n", n, seq, pad,
                         "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
                         "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
                         "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
                         "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
                         "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
                         "pppppppppppppppppppppppppppppppppppppppppppppppp");
        if (uring_writer_append(w, fd, line, (size_t)k) != 0)
            _exit(4);
        if (seq % 150 == 149 && uring_writer_flush(w) != 0)
            _exit(5);
    }
    uring_writer_close(w);
    _exit(0);
}

/* Check one line "[P<n>] <seq> ppp..." against what child_writer wrote. */
static void check_line(const char *s, size_t len, int *next_seq, int nproc)
{
    int n, seq, used = 0;
    assert_true(sscanf(s, "[P%d] %d %n", &n, &seq, &used) == 2 && used > 0);
    assert_true(n >= 0 && n < nproc);
    assert_int_equal(seq, next_seq[n]);
    next_seq[n]++;
    int pad = 20 + (seq * 13 + n * 31) % 380;
    assert_int_equal(len - (size_t)used, (size_t)pad);
    for (size_t i = (size_t)used; i < len; i++)
        assert_int_equal(s[i], 'p');
}

static void test_multiprocess_pipe(void **state)
{
    (void)state;
    enum { NPROC = 5 };
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_true(fcntl(p[1], F_SETPIPE_SZ, 8192) >= 8192); /* small: writers contend */
    pid_t pids[NPROC];
    for (int n = 0; n < NPROC; n++) {
        pids[n] = fork();
        assert_true(pids[n] >= 0);
        if (pids[n] == 0) {
            close(p[0]);
            child_writer(p[1], n);
        }
    }
    close(p[1]);
    size_t len;
    char *all = drain_fd(p[0], &len);
    close(p[0]);
    for (int n = 0; n < NPROC; n++)
        wait_ok(pids[n]);
    int next_seq[NPROC] = {0};
    size_t lines = 0;
    for (size_t off = 0; off < len;) {
        char *nl = memchr(all + off, '\n', len - off);
        assert_non_null(nl); /* the stream ends on a whole line */
        *nl = '\0';
        check_line(all + off, (size_t)(nl - (all + off)), next_seq, NPROC);
        off = (size_t)(nl - all) + 1;
        lines++;
    }
    assert_int_equal(lines, NPROC * 2000);
    for (int n = 0; n < NPROC; n++)
        assert_int_equal(next_seq[n], 2000);
    free(all);
}

/*
 * RLIMIT_FSIZE makes the kernel accept only part of a write (a short write,
 * whose remainder is re-queued) and then refuse with EFBIG (a hard error that
 * must be reported, and sticky for the fd). Run in a child: rlimits are
 * per-process.
 */
static void test_short_write_then_error(void **state)
{
    struct fixture *f = *state;
    char path[256];
    snprintf(path, sizeof(path), "%s/limited.log", f->dir);
    enum { LIMIT = 10000 };
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {LIMIT, LIMIT};
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        struct uring_writer *w;
        if (fd < 0 || setrlimit(RLIMIT_FSIZE, &rl) != 0 || uring_writer_open(&w, 8) != 0)
            _exit(10);
        char buf[3000];
        memset(buf, 'q', sizeof(buf));
        for (int i = 0; i < 5; i++) /* 15000 bytes, 10000 fit */
            if (uring_writer_append(w, fd, buf, sizeof(buf)) != 0)
                _exit(11);
        if (uring_writer_flush(w) != -EFBIG)
            _exit(12);
        if (uring_writer_append(w, fd, "x", 1) != -EFBIG) /* sticky */
            _exit(13);
        if (uring_writer_forget_fd(w, fd) != -EFBIG)
            _exit(14);
        if (uring_writer_append(w, fd, "", 0) != 0) /* forgotten: fresh state */
            _exit(15);
        uring_writer_close(w);
        _exit(0);
    }
    wait_ok(pid);
    size_t glen;
    char *got = slurp(path, &glen);
    assert_int_equal(glen, LIMIT);
    for (size_t i = 0; i < glen; i++)
        assert_int_equal(got[i], 'q');
    free(got);
}

static void test_errors(void **state)
{
    (void)state;
    struct uring_writer *w;
    assert_int_equal(uring_writer_open(NULL, 8), -EINVAL);
    assert_int_equal(uring_writer_append(NULL, 1, "x", 1), -EINVAL);
    assert_int_equal(uring_writer_flush(NULL), -EINVAL);
    assert_int_equal(uring_writer_set_fd_flags(NULL, 1, 0), -EINVAL);
    assert_int_equal(uring_writer_forget_fd(NULL, 1), -EINVAL);
    uring_writer_close(NULL);
    assert_int_equal(uring_writer_open(&w, 100000), 0); /* depth clamped */
    assert_int_equal(uring_writer_append(w, -1, "x", 1), -EINVAL);
    assert_int_equal(uring_writer_append(w, 1, NULL, 1), -EINVAL);
    assert_int_equal(uring_writer_set_fd_flags(w, -3, 0), -EINVAL);
    assert_int_equal(uring_writer_forget_fd(w, 12345), 0); /* unknown fd */

    /* A closed fd number: -EBADF reported by the flush. */
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(uring_writer_append(w, fd, "lost\n", 5), 0);
    assert_int_equal(uring_writer_flush(w), -EBADF);
    assert_int_equal(uring_writer_append(w, fd, "x", 1), -EBADF);
    assert_int_equal(uring_writer_forget_fd(w, fd), -EBADF);

    /* A pipe with no reader: -EPIPE, not a crash (SIGPIPE ignored as the runtime does). */
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    close(p[0]);
    assert_int_equal(uring_writer_set_fd_flags(w, p[1], UW_FD_ATOMIC_LINES), 0);
    assert_int_equal(uring_writer_append(w, p[1], "gone\n", 5), 0);
    assert_int_equal(uring_writer_flush(w), -EPIPE);
    assert_int_equal(uring_writer_forget_fd(w, p[1]), -EPIPE);
    close(p[1]);
    signal(SIGPIPE, old);
    uring_writer_close(w);
}

/* ---- bounded flushes ------------------------------------------------------ */

/* Read what is in a nonblocking fd now, appending to buf at *used. */
static void read_available(int fd, char *buf, size_t cap, size_t *used)
{
    for (;;) {
        ssize_t n = read(fd, buf + *used, cap - *used);
        if (n <= 0)
            break;
        *used += (size_t)n;
    }
}

/*
 * Nobody reads a one-page pipe: a flush with a 100 ms budget returns -ETIME
 * soon after it, the log file written in the same flush is complete, and the
 * pipe's unwritten bytes stay pending. While stalled, appends only queue
 * (no wait). Then the reader catches up and bounded flushes deliver every
 * byte once, in order.
 */
static void test_bounded_flush_full_pipe(void **state)
{
    struct fixture *f = *state;
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_true(fcntl(p[0], F_SETPIPE_SZ, 4096) >= 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK); /* the read end only; writes block */
    char path[128];
    int file = open_file(f, "log", path, sizeof(path));
    static char want[200000], got[200000 + 1];
    size_t wlen = make_lines(want, sizeof(want), "bounded", 1500);
    size_t half = wlen / 2;
    while (want[half - 1] != '\n')
        half--;

    struct uring_writer *w;
    assert_int_equal(uring_writer_open(&w, 16), 0);
    uring_writer_set_budget(w, 100 * UTIL_NS_PER_MS);
    assert_int_equal(uring_writer_append(w, p[1], want, 30000), 0);
    assert_int_equal(uring_writer_append(w, file, "file line\n", 10), 0);
    int64_t t0 = util_now_mono_ns();
    assert_int_equal(uring_writer_flush(w), -ETIME);
    int64_t took = util_now_mono_ns() - t0;
    assert_true(took >= 90 * UTIL_NS_PER_MS);
    assert_true(took < 1000 * UTIL_NS_PER_MS);
    size_t left = uring_writer_pending(w, p[1]);
    assert_true(left > 0 && left < 30000);
    assert_int_equal(uring_writer_pending(w, file), 0);
    size_t flen;
    char *fbuf = slurp(path, &flen);
    assert_int_equal(flen, 10);
    free(fbuf);

    /* stalled: more than the batch limit is queued without a wait */
    t0 = util_now_mono_ns();
    assert_int_equal(uring_writer_append(w, p[1], want + 30000, half - 30000), 0);
    assert_int_equal(uring_writer_append(w, p[1], want + half, wlen - half), 0);
    assert_true(util_now_mono_ns() - t0 < 50 * UTIL_NS_PER_MS);
    assert_int_equal(uring_writer_pending(w, p[1]), left + wlen - 30000);

    size_t used = 0;
    int rounds = 0, rc;
    do {
        read_available(p[0], got, sizeof(got) - 1, &used);
        rc = uring_writer_flush_within(w, 20 * UTIL_NS_PER_MS);
        assert_true(rc == 0 || rc == -ETIME);
        assert_true(++rounds < 5000);
    } while (rc != 0);
    read_available(p[0], got, sizeof(got) - 1, &used);
    assert_int_equal(uring_writer_pending(w, p[1]), 0);
    assert_int_equal(used, wlen);
    assert_memory_equal(got, want, wlen);
    uring_writer_close(w);
    close(file);
    close(p[0]);
    close(p[1]);
}

/*
 * A terminal stopped with Ctrl+S (tcflow TCOOFF on a pty): a write blocks in
 * the kernel, and only a cancelled io_uring request gets it back; the write(2)
 * fallback cannot be bounded here (documented), so this runs with the ring.
 * Output resumed, the same bytes arrive whole.
 */
static void test_bounded_flush_stopped_terminal(void **state)
{
    (void)state;
    if (!kernel_has_uring())
        fail_msg("io_uring is not available here, and this test needs it");
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(slave >= 0);
    struct termios t;
    assert_int_equal(tcgetattr(slave, &t), 0);
    cfmakeraw(&t);
    assert_int_equal(tcsetattr(slave, TCSANOW, &t), 0);
    assert_int_equal(tcflow(slave, TCOOFF), 0);

    struct uring_writer *w;
    assert_int_equal(uring_writer_open(&w, 16), 0);
    uring_writer_set_fd_flags(w, slave, UW_FD_ATOMIC_LINES);
    uring_writer_set_budget(w, 150 * UTIL_NS_PER_MS);
    static char want[3000], got[3000 + 1];
    size_t wlen = make_lines(want, sizeof(want), "tty", 40);
    assert_int_equal(uring_writer_append(w, slave, want, wlen), 0);
    int64_t t0 = util_now_mono_ns();
    assert_int_equal(uring_writer_flush(w), -ETIME);
    int64_t took = util_now_mono_ns() - t0;
    assert_true(took < 1500 * UTIL_NS_PER_MS);
    assert_true(uring_writer_pending(w, slave) > 0);

    assert_int_equal(tcflow(slave, TCOON), 0);
    fcntl(master, F_SETFL, O_NONBLOCK);
    size_t used = 0;
    int rounds = 0, rc;
    do {
        read_available(master, got, sizeof(got) - 1, &used);
        rc = uring_writer_flush_within(w, 20 * UTIL_NS_PER_MS);
        assert_true(++rounds < 500);
    } while (rc != 0);
    for (int i = 0; i < 100 && used < wlen; i++) {
        usleep(2000);
        read_available(master, got, sizeof(got) - 1, &used);
    }
    assert_int_equal(used, wlen);
    assert_memory_equal(got, want, wlen);
    uring_writer_close(w);
    close(slave);
    close(master);
}

/* Each test twice, named after the path it exercises. */
#define BOTH(fn)                                                                                   \
    {"ring:" #fn, fn, setup_ring, teardown, NULL},                                                 \
    {                                                                                              \
        "write2:" #fn, fn, setup_fallback, teardown, NULL                                          \
    }

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_small_appends_regular),
        BOTH(test_interleaved_three_files),
        BOTH(test_many_fds_and_large_append),
        BOTH(test_pipe_10000_lines),
        BOTH(test_pipe_slow_reader),
        BOTH(test_pipe_nonblocking_eagain),
        BOTH(test_pipe_overlong_line),
        BOTH(test_socket_short_writes_in_chain),
        BOTH(test_multiprocess_pipe),
        BOTH(test_short_write_then_error),
        BOTH(test_errors),
        BOTH(test_bounded_flush_full_pipe),
        {"ring:test_bounded_flush_stopped_terminal", test_bounded_flush_stopped_terminal, setup_ring,
         teardown, NULL},
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
