/*
 * width.c - `--parallel auto` (see width.h).
 *
 * One bound per resource, the smallest wins. The rules and their reasons:
 *
 *   keys    A worker with no key to use only waits, so the width never goes
 *           past the request slots of the keys that can serve. 0 slots still
 *           gives 1: SPEC 6 never lets the run drop below one.
 *   cpus    4 workers a CPU. A worker spends its item waiting for an LLM
 *           reply (seconds) and works for milliseconds around it (prompt,
 *           JSON, checkpoint): even 4 a CPU leave the CPU mostly idle, and
 *           more than that would only matter for a workstream of heavy
 *           commands, which --parallel N is for.
 *   memory  Half of MemAvailable, over one worker's RSS. MemAvailable already
 *           counts reclaimable cache; the other half is headroom for the
 *           coordinator, the commands a workstream runs and whoever else
 *           shares the machine. Until a worker has been measured, 32 MiB is
 *           assumed: several times the few MiB a worker should take (SPEC 11),
 *           so a wrong guess errs towards fewer workers.
 *   load    Above one runnable task a CPU the machine is already
 *           oversubscribed; the cpus bound is scaled by cpus / load (a load
 *           twice the CPUs halves it). At or below one a CPU the load takes
 *           nothing away: our workers mostly sleep.
 *   files   Each worker holds about 16 descriptors (its connections, its
 *           log and audit files, its checkpoint database and journal, the
 *           io_uring ring, pipes), and the coordinator keeps 64 for itself.
 */
#include "runtime/width.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

enum width_res { WIDTH_KEYS, WIDTH_CPUS, WIDTH_MEM, WIDTH_LOAD, WIDTH_FILES, WIDTH_NRES };

#define WIDTH_UNBOUNDED UINT64_MAX

struct width_bounds {
    uint64_t n[WIDTH_NRES]; /* WIDTH_UNBOUNDED when the resource sets no bound */
    uint32_t cpus;
    uint64_t rss_kib;
};

static void width_compute(const struct width_machine *m, uint32_t pool_slots,
                          struct width_bounds *b)
{
    b->cpus = m->online_cpus ? m->online_cpus : 1;
    b->rss_kib = m->worker_rss_kib ? m->worker_rss_kib : WIDTH_DEFAULT_WORKER_RSS_KIB;
    uint64_t cpu_bound = (uint64_t)b->cpus * WIDTH_WORKERS_PER_CPU;
    uint32_t fds = m->fds_per_worker ? m->fds_per_worker : WIDTH_DEFAULT_FDS_PER_WORKER;

    b->n[WIDTH_KEYS] = pool_slots == WIDTH_NO_POOL ? WIDTH_UNBOUNDED : pool_slots;
    b->n[WIDTH_CPUS] = cpu_bound;
    b->n[WIDTH_MEM] =
        m->mem_available_kib ? m->mem_available_kib / 2 / b->rss_kib : WIDTH_UNBOUNDED;
    b->n[WIDTH_LOAD] = m->loadavg1 > (double)b->cpus
                           ? (uint64_t)((double)cpu_bound * b->cpus / m->loadavg1)
                           : WIDTH_UNBOUNDED;
    if (m->nofile_limit == 0 || m->nofile_limit == UINT64_MAX)
        b->n[WIDTH_FILES] = WIDTH_UNBOUNDED;
    else
        b->n[WIDTH_FILES] =
            m->nofile_limit > WIDTH_FD_RESERVE ? (m->nofile_limit - WIDTH_FD_RESERVE) / fds : 0;
}

/* "7", or "10+" when the bound is past the cap. */
static const char *width_allows(uint64_t n, char *buf, size_t len)
{
    if (n > WIDTH_CAP)
        snprintf(buf, len, "%d+", WIDTH_CAP);
    else
        snprintf(buf, len, "%llu", (unsigned long long)n);
    return buf;
}

static void width_mem_text(uint64_t kib, char *buf, size_t len)
{
    if (kib >= 1024 * 1024)
        snprintf(buf, len, "%.1f GiB", (double)kib / (1024.0 * 1024.0));
    else
        snprintf(buf, len, "%llu MiB", (unsigned long long)(kib / 1024));
}

/* The phrase for one resource; `won` adds what the reader needs to check it. */
static void width_phrase(enum width_res r, const struct width_machine *m,
                         const struct width_bounds *b, int won, char *out, size_t len)
{
    char a[16], mem[32], rss[32];
    uint64_t n = b->n[r];
    switch (r) {
    case WIDTH_KEYS:
        if (n == WIDTH_UNBOUNDED)
            snprintf(out, len, "no key needed");
        else
            snprintf(out, len, "the keys' request slots: %llu", (unsigned long long)n);
        break;
    case WIDTH_CPUS:
        snprintf(out, len, "cpus %u allow %s", b->cpus, width_allows(n, a, sizeof(a)));
        break;
    case WIDTH_MEM:
        if (n == WIDTH_UNBOUNDED) {
            snprintf(out, len, "memory unknown");
            break;
        }
        width_mem_text(m->mem_available_kib, mem, sizeof(mem));
        width_mem_text(b->rss_kib, rss, sizeof(rss));
        if (won)
            snprintf(out, len, "memory %s available at %s a worker allows %s", mem, rss,
                     width_allows(n, a, sizeof(a)));
        else
            snprintf(out, len, "memory %s allows %s", mem, width_allows(n, a, sizeof(a)));
        break;
    case WIDTH_LOAD:
        if (m->loadavg1 < 0)
            snprintf(out, len, "load unknown");
        else if (n == WIDTH_UNBOUNDED)
            snprintf(out, len, "load %.2f", m->loadavg1);
        else
            snprintf(out, len, "load %.2f on %u cpus allows %s", m->loadavg1, b->cpus,
                     width_allows(n, a, sizeof(a)));
        break;
    case WIDTH_FILES:
        if (n == WIDTH_UNBOUNDED)
            snprintf(out, len, "open files unlimited");
        else
            snprintf(out, len, "open files %llu allow %s", (unsigned long long)m->nofile_limit,
                     width_allows(n, a, sizeof(a)));
        break;
    case WIDTH_NRES:
        out[0] = '\0';
        break;
    }
}

uint32_t width_auto(const struct width_machine *m, uint32_t pool_slots, char *why, size_t whylen)
{
    struct width_bounds b;
    width_compute(m, pool_slots, &b);

    int win = -1; /* -1: the cap */
    uint64_t w = WIDTH_CAP;
    for (int r = 0; r < WIDTH_NRES; r++)
        if (b.n[r] < w || (b.n[r] == w && win < 0)) { /* a bound at the cap says more */
            w = b.n[r];
            win = r;
        }
    if (w < 1)
        w = 1;
    if (!why || whylen == 0)
        return (uint32_t)w;

    char phrase[128];
    size_t at = 0;
    if (win < 0)
        snprintf(phrase, sizeof(phrase), "the cap of %d", WIDTH_CAP);
    else
        width_phrase((enum width_res)win, m, &b, 1, phrase, sizeof(phrase));
    at = (size_t)snprintf(why, whylen, "--parallel auto: %u (bounded by %s", (unsigned)w, phrase);
    const char *sep = "; ";
    for (int r = 0; r < WIDTH_NRES && at < whylen; r++) {
        if (r == win)
            continue;
        width_phrase((enum width_res)r, m, &b, 0, phrase, sizeof(phrase));
        at += (size_t)snprintf(why + at, whylen - at, "%s%s", sep, phrase);
        sep = ", ";
    }
    if (at < whylen)
        snprintf(why + at, whylen - at, ")");
    return (uint32_t)w;
}

uint64_t width_meminfo_available_kib(const char *text)
{
    uint64_t avail = 0, free_kib = 0;
    const char *line = text;
    while (line && *line) {
        unsigned long long v;
        if (sscanf(line, "MemAvailable: %llu kB", &v) == 1)
            avail = v;
        else if (sscanf(line, "MemFree: %llu kB", &v) == 1)
            free_kib = v;
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return avail ? avail : free_kib;
}

static int width_read_meminfo(uint64_t *kib)
{
    char buf[16384];
    size_t len = 0;
    int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    while (len < sizeof(buf) - 1) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    *kib = width_meminfo_available_kib(buf);
    return *kib ? 0 : -ENODATA;
}

int width_probe(struct width_machine *m)
{
    int rc = 0, r;
    memset(m, 0, sizeof(*m));
    m->loadavg1 = -1;
    m->worker_rss_kib = WIDTH_DEFAULT_WORKER_RSS_KIB;
    m->fds_per_worker = WIDTH_DEFAULT_FDS_PER_WORKER;

    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus > 0)
        m->online_cpus = cpus > UINT32_MAX ? UINT32_MAX : (uint32_t)cpus;
    else
        rc = -EINVAL;
    if ((r = width_read_meminfo(&m->mem_available_kib)) < 0 && rc == 0)
        rc = r;
    double load[1];
    if (getloadavg(load, 1) == 1)
        m->loadavg1 = load[0];
    else if (rc == 0)
        rc = -ENODATA;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        m->nofile_limit = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
    else if (rc == 0)
        rc = -errno;
    return rc;
}
