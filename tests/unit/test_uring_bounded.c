/*
 * test_uring_bounded.c - unit tests for the io_uring writer's bounded flushes
 * (uring_writer_set_budget, uring_writer_flush_within): output that nobody
 * takes must not hold the caller up, and nothing appended may be lost or
 * reordered once the reader comes back.
 */
#include "tests/unit/uring_fixture.h"

#include <termios.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_bounded_flush_full_pipe),
        {"ring:test_bounded_flush_stopped_terminal", test_bounded_flush_stopped_terminal,
         setup_ring, teardown, NULL},
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
