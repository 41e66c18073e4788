/*
 * coord_watchdog.c - the coordinator's watchdog: a worker that holds an item
 * and gives no sign of life is ended, and its item retried once from its
 * checkpoint (a second death fails it, ADR-6).
 *
 * A worker beats its slot's heartbeat (shm/heartbeat.h) from every wait that
 * is bounded and legitimate: waiting for a key or a backoff, an HTTP transfer
 * within its time limit (curl's progress callback), an output flush behind a
 * slow reader, a shell step within its timeout; and at every node start. So
 * a heartbeat older than the limit means the worker is stopped (SIGSTOP, a
 * debugger) or stuck where nothing bounds it (an open() on a FIFO, a loop in
 * a node): --timeout-per-step no longer waits for the node to return to be
 * enforced. The limit is --timeout-per-step, but at least WATCHDOG_MIN_NS
 * (curl beats about once a second; scheduling noise must never kill a worker)
 * and at most WATCHDOG_MAX_NS (a stopped worker is found within a minute even
 * with long steps). Waiting for a key is never counted: those waits beat.
 *
 * The worker is ended with SIGKILL (a stopped process takes no other signal);
 * its keys and admission ticket come back through the ordinary reaping
 * (coord_workers.c), with the reason kept here for the console line.
 * During a shutdown the shutdown's own deadline applies instead.
 */
#include "runtime/coord.h"

#include <signal.h>
#include <stdio.h>

#include "shm/prog.h"
#include "shm/util.h"

#define WATCHDOG_MIN_NS (5 * UTIL_NS_PER_SEC)
#define WATCHDOG_MAX_NS (60 * UTIL_NS_PER_SEC)

int64_t coord_watchdog_limit_ns(const struct coord *c)
{
    int64_t ns = (int64_t)c->rc.plan.timeout_per_step * UTIL_NS_PER_SEC;
    return ns < WATCHDOG_MIN_NS ? WATCHDOG_MIN_NS : ns > WATCHDOG_MAX_NS ? WATCHDOG_MAX_NS : ns;
}

void coord_watchdog(struct coord *c)
{
    if (c->shutting_down)
        return;
    int64_t now = util_now_mono_ns(), limit = coord_watchdog_limit_ns(c);
    for (unsigned s = 0; s < c->nworkers && s < SHM_MAX_WORKERS; s++) {
        pid_t pid = c->wpid[s];
        if (!pid || c->stuck[s][0])
            continue; /* no worker, or already ended and not reaped yet */
        struct shm_worker_sh *w = shm_worker_slot(&c->rc.seg, s);
        int32_t item = atomic_load(&w->item_index);
        if (atomic_load(&w->pid) != pid || item < 0 || (uint32_t)item >= c->rc.seg.hdr->item_count)
            continue; /* not started yet, or holding no item */
        int64_t quiet = now - atomic_load(&w->heartbeat_ns);
        if (quiet <= limit)
            continue;
        struct prog_item p;
        if (prog_read(shm_prog_slot(&c->rc.seg, (uint32_t)item), &p) < 0 || !p.node[0])
            snprintf(p.node, sizeof(p.node), "its item");
        snprintf(c->stuck[s], sizeof(c->stuck[s]), "was stuck in %s (no sign of life for %llds)",
                 p.node, (long long)(quiet / UTIL_NS_PER_SEC));
        kill(pid, SIGKILL);
    }
}
