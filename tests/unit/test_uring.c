/*
 * test_uring.c - unit tests for the batching io_uring writer (runtime/uring.c).
 *
 * Every test runs twice: once with io_uring and once with AGENTOS_URING=off
 * (the write(2) fallback), since both paths must keep the same guarantees:
 * exact content and order per fd, whole lines on UW_FD_ATOMIC_LINES pipes
 * shared by several processes, short writes and -EAGAIN re-queued, hard
 * errors reported.
 */
#include "tests/unit/uring_fixture.h"

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
    expect_copy(pid, out, want, wlen);
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
    expect_copy(pid, out, want, wlen);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
