/*
 * bench_uring.c - what a log line costs through each write path (SPEC 11:
 * "log and console writes through io_uring: no slower per line than plain
 * write(2)"). A benchmark, not a test: it prints numbers and checks only that
 * every byte arrived.
 *
 * 200,000 lines of ~80 bytes go to a file in /tmp (O_APPEND) four ways:
 *   write      one write(2) per line;
 *   naive      raw liburing, one SQE + io_uring_submit + wait per line;
 *   batch64    runtime/uring.c, uring_writer_flush() every 64 lines;
 *   batch1024  runtime/uring.c, uring_writer_flush() every 1024 lines.
 * Each way runs REPEAT times on a fresh file; the median is reported in ns/line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <liburing.h>

#include "runtime/uring.h"
#include "shm/util.h"

#define LINES 200000
#define LINE_LEN 80
#define REPEAT 3

static char lines[LINES][LINE_LEN];

static void make_lines(void)
{
    for (int i = 0; i < LINES; i++) {
        int n = snprintf(lines[i], LINE_LEN, "[LLD-%d] >>> Executing: N%d_design (attempt %d) ",
                         i % 100, i % 7, i % 3);
        memset(lines[i] + n, '.', (size_t)(LINE_LEN - 1 - n));
        lines[i][LINE_LEN - 1] = '\n';
    }
}

static int open_fresh(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "bench_uring: could not open \"%s\": %s\n", path, strerror(errno));
        exit(1);
    }
    return fd;
}

static int run_write(int fd)
{
    for (int i = 0; i < LINES; i++)
        if (write(fd, lines[i], LINE_LEN) != LINE_LEN)
            return -EIO;
    return 0;
}

static int run_naive(int fd)
{
    struct io_uring ring;
    int rc = io_uring_queue_init(8, &ring, 0);
    if (rc < 0)
        return rc;
    for (int i = 0; i < LINES && rc == 0; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
        struct io_uring_cqe *cqe;
        io_uring_prep_write(sqe, fd, lines[i], LINE_LEN, (uint64_t)-1);
        rc = io_uring_submit_and_wait(&ring, 1);
        if (rc >= 0)
            rc = io_uring_wait_cqe(&ring, &cqe);
        if (rc == 0) {
            rc = cqe->res == LINE_LEN ? 0 : -EIO;
            io_uring_cqe_seen(&ring, cqe);
        }
    }
    io_uring_queue_exit(&ring);
    return rc;
}

static int run_batched(int fd, int every)
{
    struct uring_writer *w;
    int rc = uring_writer_open(&w, 64);
    for (int i = 0; i < LINES && rc == 0; i++) {
        rc = uring_writer_append(w, fd, lines[i], LINE_LEN);
        if (rc == 0 && (i + 1) % every == 0)
            rc = uring_writer_flush(w);
    }
    if (rc == 0)
        rc = uring_writer_flush(w);
    uring_writer_close(w);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median ns/line of REPEAT runs of one way (0 = write, 1 = naive, else flush interval). */
static double measure(const char *path, int way)
{
    double ns[REPEAT];
    for (int r = 0; r < REPEAT; r++) {
        int fd = open_fresh(path);
        int64_t t0 = util_now_mono_ns();
        int rc = way == 0 ? run_write(fd) : way == 1 ? run_naive(fd) : run_batched(fd, way);
        int64_t t1 = util_now_mono_ns();
        struct stat st;
        if (rc != 0 || fstat(fd, &st) != 0 || st.st_size != (off_t)LINES * LINE_LEN) {
            fprintf(stderr, "bench_uring: way %d failed (%s) or wrote a wrong size\n", way,
                    strerror(rc < 0 ? -rc : EIO));
            exit(1);
        }
        close(fd);
        ns[r] = (double)(t1 - t0) / LINES;
    }
    qsort(ns, REPEAT, sizeof(ns[0]), cmp_double);
    return ns[REPEAT / 2];
}

int main(void)
{
    char path[] = "/tmp/bench_uring.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("bench_uring: mkstemp");
        return 1;
    }
    close(fd);
    make_lines();
    printf("bench_uring: %d lines of %d bytes to %s, median of %d runs\n", LINES, LINE_LEN, path,
           REPEAT);
    double w = measure(path, 0);
    double naive = measure(path, 1);
    double b64 = measure(path, 64);
    double b1024 = measure(path, 1024);
    unlink(path);
    printf("%-28s %9.1f ns/line\n", "write(2) per line", w);
    printf("%-28s %9.1f ns/line\n", "io_uring naive (1 submit/line)", naive);
    printf("%-28s %9.1f ns/line\n", "uring_writer flush/64", b64);
    printf("%-28s %9.1f ns/line\n", "uring_writer flush/1024", b1024);
    printf("ratio batched(64)/write   %.3f\n", b64 / w);
    printf("ratio batched(1024)/write %.3f\n", b1024 / w);
    printf("ratio naive/write         %.3f\n", naive / w);
    return 0;
}
