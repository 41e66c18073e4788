/*
 * bench_shm.c - cost of the shared-memory hot paths, with 1 and 10 contending
 * processes: a progress-table update (prog_write), a progress-table read
 * (prog_read), and a credential reserve + release (cred_reserve/cred_release
 * on a pool of 10 keys of concurrency 8, so contention is on the robust
 * mutexes, not on an empty pool). Prints ns per operation (mean over all
 * processes). A benchmark, not a test: see perf/bench_shm.sh.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm/util.h"
#include "shm/cred.h"
#include "shm/prog.h"
#include "shm/segment.h"

#define KEYS 10
#define ITEMS 16

static double child_loop(struct shm_segment *seg, int what, int idx, long iters)
{
    int32_t pid = (int32_t)getpid();
    struct prog_slot_sh *slot = shm_prog_slot(seg, (uint32_t)(idx % ITEMS));
    struct prog_item p;
    memset(&p, 0, sizeof(p));
    snprintf(p.id, sizeof(p.id), "LLD-%d", idx);
    int64_t t0 = util_now_mono_ns();
    for (long i = 0; i < iters; i++) {
        if (what == 0) {
            p.attempts = (uint32_t)i;
            prog_write(slot, &p);
        } else if (what == 1) {
            prog_read(slot, &p);
        } else {
            struct cred_wait w;
            int k = cred_reserve(seg, CRED_ROLE_DRAFT, pid, util_now_mono_ns(), &w);
            if (k >= 0)
                cred_release(seg, (uint32_t)k, pid, CRED_OK, 0, NULL, 1);
        }
    }
    return (double)(util_now_mono_ns() - t0) / (double)iters;
}

/* Run `procs` processes doing `what`; mean ns/op over them. */
static double run(struct shm_segment *seg, int what, int procs, long iters)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    for (int i = 0; i < procs; i++) {
        if (fork() == 0) {
            double ns = child_loop(seg, what, i, iters);
            if (write(fds[1], &ns, sizeof(ns)) != (ssize_t)sizeof(ns))
                _exit(1);
            _exit(0);
        }
    }
    double sum = 0;
    for (int i = 0; i < procs; i++) {
        double ns = 0;
        if (read(fds[0], &ns, sizeof(ns)) == (ssize_t)sizeof(ns))
            sum += ns;
        wait(NULL);
    }
    close(fds[0]);
    close(fds[1]);
    return sum / procs;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 200000;
    char id[40], err[256];
    snprintf(id, sizeof(id), "bench-%d", (int)getpid());
    struct shm_create_params p = {.run_id = id,
                                  .workflow = "bench",
                                  .item_count = ITEMS,
                                  .key_count = KEYS,
                                  .worker_count = 1,
                                  .parallel_max = 1};
    struct shm_segment seg;
    if (shm_segment_create(&seg, &p, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench_shm: %s\n", err);
        return 1;
    }
    for (int k = 0; k < KEYS; k++) {
        char kid[16];
        snprintf(kid, sizeof(kid), "key-%d", k);
        struct cred_init ci = {.id = kid, .provider = "openai", .model = "m", .concurrency = 8};
        cred_slot_init(shm_cred_slot(&seg, (uint32_t)k), &ci);
    }
    const char *names[] = {"progress update (prog_write)", "progress read (prog_read)",
                           "key reserve+release"};
    printf("%-32s %14s %14s\n", "operation", "1 process", "10 processes");
    for (int what = 0; what < 3; what++)
        printf("%-32s %11.0f ns %11.0f ns\n", names[what], run(&seg, what, 1, iters),
               run(&seg, what, 10, iters / 4));
    shm_segment_unlink(seg.name);
    shm_segment_detach(&seg);
    return 0;
}
