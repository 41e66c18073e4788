/*
 * width.h - `--parallel auto`: how many workers a run starts (SPEC 12).
 *
 * The width is the smallest of one bound per resource, capped at WIDTH_CAP and
 * never below 1. width_auto() is pure: it takes the machine's figures as a
 * struct and the pool's request slots as a number, so it is tested against
 * fixed machines; width_probe() is the only part that reads the real one.
 *
 * Rules (why each is what it is, in width.c):
 *   keys     the request slots of the keys that can serve now
 *   cpus     WIDTH_WORKERS_PER_CPU workers a CPU (workers mostly wait on HTTP)
 *   memory   half of MemAvailable over one worker's RSS
 *   load     when the 1-minute load exceeds the CPUs, the cpus bound shrinks
 *            by cpus / load
 *   files    (open-file limit - WIDTH_FD_RESERVE) over each worker's fds
 */
#ifndef AGENTOS_RUNTIME_WIDTH_H
#define AGENTOS_RUNTIME_WIDTH_H

#include <stddef.h>
#include <stdint.h>

#define WIDTH_CAP 10
#define WIDTH_WORKERS_PER_CPU 4
#define WIDTH_DEFAULT_WORKER_RSS_KIB (32u * 1024) /* until one has been measured */
#define WIDTH_DEFAULT_FDS_PER_WORKER 16
#define WIDTH_FD_RESERVE 64      /* the coordinator's own files */
#define WIDTH_NO_POOL UINT32_MAX /* pool_slots for work that needs no key */
#define WIDTH_WHY_MAX 256

struct width_machine {
    uint32_t online_cpus;       /* 0 = unknown, counted as 1 */
    uint64_t mem_available_kib; /* MemAvailable; 0 = unknown, does not bound */
    uint64_t worker_rss_kib;    /* measured RSS of one worker; 0 = the default estimate */
    double loadavg1;            /* 1-minute load average; < 0 = unknown */
    uint64_t nofile_limit;      /* RLIMIT_NOFILE soft limit; 0 or UINT64_MAX = unlimited */
    uint32_t fds_per_worker;    /* 0 = the default */
};

/*
 * The width for this machine and pool, in [1, WIDTH_CAP]. pool_slots is the
 * sum of the request slots (concurrency) of the keys that can serve now:
 * 0 still gives 1 (the run waits for a key with one worker rather than none),
 * WIDTH_NO_POOL means the work needs no key (a workstream of commands).
 * why (may be NULL) gets one line naming the choice, the bound that made it
 * and what the other resources allowed:
 *   --parallel auto: 4 (bounded by the keys' request slots: 4; cpus 2 allow 8,
 *   memory 7.8 GiB allows 10+, load 0.30, open files 1024 allow 10+)
 */
uint32_t width_auto(const struct width_machine *m, uint32_t pool_slots, char *why, size_t whylen);

/*
 * Fill m from this machine: sysconf(_SC_NPROCESSORS_ONLN), MemAvailable of
 * /proc/meminfo, getloadavg(), getrlimit(RLIMIT_NOFILE); worker_rss_kib and
 * fds_per_worker get the defaults. A figure that cannot be read is left at
 * its "unknown" value. Returns 0, or -errno of the first figure that failed
 * (m is still usable).
 */
int width_probe(struct width_machine *m);

/* MemAvailable (else MemFree) in KiB from the text of /proc/meminfo; 0 if absent. */
uint64_t width_meminfo_available_kib(const char *text);

#endif
