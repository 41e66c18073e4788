/*
 * coord_workers.c - the coordinator's workers: fork them (each runs
 * wrk_main), keep enough of them alive while items wait, reap them, and deal
 * with a death: the dead worker's keys and admission ticket come back, and
 * its item is put back once (claim FREE) to be resumed from its checkpoint by
 * another worker; a second death fails the item (ADR-6).
 */
#include "runtime/coord.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm/util.h"
#include "shm/admit.h"
#include "shm/cred.h"
#include "shm/gate.h"
#include "shm/prog.h"

#define COORD_MAX_RETRIES 1     /* a dead worker's item is retried once */
#define COORD_MAX_START_FAILS 5 /* workers exiting with an error before any item ends */
#define COORD_FORK_GIVE_UP_NS (10 * UTIL_NS_PER_SEC) /* fork failing this long ends the run */
#define COORD_KEY_WAIT_NS (20 * UTIL_NS_PER_MS) /* longest wait for a key slot a worker holds */

static void spawn_worker(struct coord *c, unsigned slot)
{
    ccon_flush(&c->con);
    pid_t pid = fork();
    if (pid < 0) {
        if (!c->fork_fail_since) {
            c->fork_fail_since = util_now_mono_ns();
            ccon_coord(&c->con, "could not start a worker: %s; retrying", strerror(errno));
        }
        return;
    }
    if (pid == 0) {
        close(c->pipe_rd);
        if (c->log_fd >= 0)
            close(c->log_fd);
        _exit(wrk_main(&c->rc, slot));
    }
    c->wpid[slot] = pid;
    c->fork_fail_since = 0;
}

/* Workers cannot be kept alive: fork keeps failing, or they keep exiting with errors. */
int coord_workers_hopeless(const struct coord *c)
{
    return c->start_fails >= COORD_MAX_START_FAILS ||
           (c->fork_fail_since && util_now_mono_ns() - c->fork_fail_since > COORD_FORK_GIVE_UP_NS);
}

unsigned coord_alive_workers(const struct coord *c)
{
    unsigned n = 0;
    for (unsigned i = 0; i < c->nworkers; i++)
        n += c->wpid[i] != 0;
    return n;
}

/* Keep min(parallel, items waiting) workers alive. */
void coord_keep_workers(struct coord *c)
{
    if (c->shutting_down || coord_workers_hopeless(c))
        return;
    unsigned waiting = 0;
    for (uint32_t i = 0; i < c->rc.seg.hdr->item_count; i++)
        waiting +=
            prog_claim_state(prog_claim_load(shm_prog_slot(&c->rc.seg, i))) == PROG_CLAIM_FREE;
    unsigned alive = coord_alive_workers(c);
    for (unsigned s = 0; s < c->nworkers && alive < waiting; s++) {
        if (c->wpid[s] == 0) {
            spawn_worker(c, s);
            alive++;
        }
    }
}

static void describe_status(int status, char *buf, size_t len)
{
    if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
}

/*
 * Item i was left unfinished by its worker (it died, or was stopped from
 * outside): put it back once for another worker to resume from its
 * checkpoint, or fail it. The worker may have been half-way through writing
 * the item's progress slot, so the slot is rebuilt from what the coordinator
 * itself knows (the item list and its own count), never trusted.
 */
void coord_retry_or_fail(struct coord *c, uint32_t i, int32_t pid, const char *how)
{
    struct run_ctx *rc = &c->rc;
    struct prog_slot_sh *slot = shm_prog_slot(&rc->seg, i);
    struct prog_item p, old;
    memset(&p, 0, sizeof(p));
    int readable = prog_read(slot, &old) == 0;
    util_strlcpy(p.id, run_item(rc, i)->id, sizeof(p.id));
    c->deaths[i]++;
    p.attempts = c->deaths[i];
    p.rounds = readable ? old.rounds : 0;
    p.started_ns = readable ? old.started_ns : 0;
    p.updated_ns = util_now_mono_ns();
    if (c->deaths[i] <= COORD_MAX_RETRIES && !c->shutting_down) {
        p.state = PROG_PENDING;
        snprintf(p.reason, sizeof(p.reason), "worker %d %s; retrying from checkpoint", (int)pid,
                 how);
        prog_write(slot, &p);
        prog_set_claim(slot, PROG_CLAIM_FREE, 0);
        ccon_coord(&c->con, "Worker %d %s while running %s; retrying it from its checkpoint",
                   (int)pid, how, p.id);
    } else {
        p.state = c->shutting_down ? PROG_INTERRUPTED : PROG_FAILED;
        snprintf(p.reason, sizeof(p.reason), "worker died while running it (%s)", how);
        p.finished_ns = p.updated_ns;
        prog_write(slot, &p);
        prog_set_claim(slot, PROG_CLAIM_DONE, 0);
        if (!c->shutting_down)
            ccon_coord(&c->con, "Worker %d %s while running %s; %s FAILED: %s", (int)pid, how, p.id,
                       p.id, p.reason);
    }
}

/*
 * A worker died: return its keys and its admission ticket, and retry or fail
 * the item it held. The claim word carries the holder's pid, so the item is
 * found whatever instant the worker died at.
 */
static void worker_died(struct coord *c, unsigned wslot, pid_t pid, int status)
{
    struct shm_header_sh *h = c->rc.seg.hdr;
    char how[SHM_REASON_MAX];
    if (wslot < SHM_MAX_WORKERS && c->stuck[wslot][0])
        util_strlcpy(how, c->stuck[wslot], sizeof(how)); /* the watchdog ended it */
    else
        describe_status(status, how, sizeof(how));
    coord_return_keys(c, pid);
    bcoord_worker_died(&c->budget, wslot);
    gate_release_dead(&c->rc.seg, wslot); /* its places at endpoints, nodes, groups */
    admit_release(h, wslot);
    for (uint32_t i = 0; i < h->item_count; i++) {
        uint64_t claim = prog_claim_load(shm_prog_slot(&c->rc.seg, i));
        if (prog_claim_state(claim) == PROG_CLAIM_TAKEN && prog_claim_pid(claim) == pid)
            coord_retry_or_fail(c, i, pid, how);
    }
}

/*
 * Give a dead worker's key reservations back. A slot whose mutex another
 * worker holds and does not release (stopped) is not waited for: the pid is
 * kept and tried again every tick until every slot is clean.
 */
void coord_return_keys(struct coord *c, int32_t pid)
{
    int dropped = 0;
    if (cred_release_dead(&c->rc.seg, pid, COORD_KEY_WAIT_NS, &dropped) == 0)
        return;
    for (unsigned i = 0; i < COORD_DEAD_MAX; i++)
        if (c->dead_keys[i] == pid || c->dead_keys[i] == 0) {
            c->dead_keys[i] = pid;
            return;
        }
    ccon_coord(&c->con, "could not return the keys of dead worker %d yet", (int)pid);
}

void coord_retry_keys(struct coord *c)
{
    for (unsigned i = 0; i < COORD_DEAD_MAX; i++) {
        int dropped = 0;
        if (c->dead_keys[i] &&
            cred_release_dead(&c->rc.seg, c->dead_keys[i], COORD_KEY_WAIT_NS, &dropped) == 0)
            c->dead_keys[i] = 0;
    }
}

void coord_reap(struct coord *c)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        unsigned s;
        for (s = 0; s < c->nworkers && c->wpid[s] != pid; s++)
            ;
        if (s == c->nworkers)
            continue;
        c->wpid[s] = 0;
        struct shm_worker_sh *w = shm_worker_slot(&c->rc.seg, s);
        atomic_store(&w->pid, 0);
        atomic_store(&w->item_index, -1);
        int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!clean) {
            if (WIFEXITED(status))
                c->start_fails++;
            worker_died(c, s, pid, status);
        }
        if (s < SHM_MAX_WORKERS)
            c->stuck[s][0] = '\0';
    }
}

void coord_signal_workers(struct coord *c, int sig)
{
    for (unsigned s = 0; s < c->nworkers; s++) {
        if (!c->wpid[s])
            continue;
        kill(c->wpid[s], sig);
        /* A worker stopped (Ctrl+Z, SIGSTOP) cannot reach its safe point, and may hold
         * a key slot's mutex others wait for: let it go on, to checkpoint and exit. */
        if (sig == SIGTERM)
            kill(c->wpid[s], SIGCONT);
    }
}
