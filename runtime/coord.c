/*
 * coord.c - the coordinator: one run from start to exit status.
 *
 * Shape (nginx's master process): set everything up, create the run's
 * segment, pre-fork N workers, then loop in ppoll() with the signals blocked
 * everywhere else, so a signal handler only sets a flag and the loop acts on
 * it. The loop copies worker console lines to stdout, reaps workers, notices
 * items that finished (their claim word turned DONE) and moves the progress
 * bar, and keeps enough workers alive while items wait.
 *
 * Crash policy (PostgreSQL's postmaster): the coordinator never takes a lock
 * a worker can hold: it reads the key slots lock-free (cred_view), and the
 * few changes it must make to them (a reload, a dead worker's keys) wait for
 * a slot's mutex only briefly and try again later. A worker that dies without
 * finishing its item has its keys returned (cred_release_dead), its admission
 * ticket given back (shm/admit.h), and its item is put back once (claim FREE)
 * to be resumed from its checkpoint by a fresh worker; a second death fails
 * the item. Other items are not disturbed. (Forking, reaping and that retry
 * live in coord_workers.c, the segment's creation in coord_segment.c; the
 * state these files share is in coord.h.)
 *
 * Shutdown protocol (SIGINT/SIGTERM, and SIGQUIT: Ctrl+\ must not dump a
 * core that holds every key, so it is an interrupt too): run state -> SHUTTING_DOWN, the console
 * line, SIGTERM to every worker (their handler sets a stop flag; an HTTP
 * transfer in flight is abandoned, the node's last checkpoint stands), wait
 * up to COORD_SHUTDOWN_NS, then SIGKILL what is left. Exit 130. A second
 * SIGINT kills the workers at once; checkpoints are SQLite transactions, so
 * they stay valid either way.
 *
 * The terminal never holds the coordinator up: its writer's flushes are
 * bounded (COORD_FLUSH_BUDGET_NS), so a stopped terminal (Ctrl+S) or a pipe to
 * a paused pager delays output, not signal handling. While stdout is that far
 * behind, the console pipe is left unread, so workers wait on it (ordinary
 * backpressure) instead of the coordinator buffering without limit. At the
 * end, see flush_before_exit().
 */
#include "runtime/run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/console.h"
#include "runtime/coord.h"
#include "runtime/plan.h"
#include "runtime/pool.h"
#include "runtime/deps.h"
#include "runtime/summary.h"
#include "shm/util.h"
#include "shm/admit.h"
#include "shm/prog.h"

#define COORD_SHUTDOWN_NS (4500 * UTIL_NS_PER_MS)
#define COORD_SHUTDOWN_LINE "Shutting down... waiting for workers to checkpoint"
#define COORD_TICK_MS 100
#define COORD_EXIT_NS (4800 * UTIL_NS_PER_MS)       /* Ctrl+C to exit, output included */
#define COORD_FLUSH_BUDGET_NS (50 * UTIL_NS_PER_MS) /* longest a console flush may wait */
#define COORD_EXIT_IDLE_NS (1000 * UTIL_NS_PER_MS)  /* an interrupted run's output stood still */

static volatile sig_atomic_t sig_int_count;
static volatile sig_atomic_t sig_chld;
static volatile sig_atomic_t sig_hup;
static volatile sig_atomic_t sig_tstp; /* Ctrl+Z: coord_tty.c */
static volatile sig_atomic_t sig_cont;

static void on_signal(int sig)
{
    if (sig == SIGINT || sig == SIGTERM || sig == SIGQUIT)
        sig_int_count++;
    else if (sig == SIGCHLD)
        sig_chld = 1;
    else if (sig == SIGHUP)
        sig_hup = 1;
    else if (sig == SIGTSTP)
        sig_tstp = 1;
    else if (sig == SIGCONT)
        sig_cont = 1;
}

/* ---- progress, signals, the loop -------------------------------------- */

static void begin_shutdown(struct coord *c, const char *why);

/*
 * --fail-fast: an item failed, so the run stops as a shutdown does (running
 * items checkpoint and end interrupted; no item starts), but ends with exit
 * status 1, not 130. Items not started end as skipped, with the reason.
 */
static void stop_for_fail_fast(struct coord *c, const char *failed_id)
{
    atomic_store(&c->rc.seg.hdr->run_state, SHM_RUN_SHUTTING_DOWN); /* no new admissions */
    char why[SHM_REASON_MAX], msg[SHM_REASON_MAX + 64];
    util_errf(why, sizeof(why), "not started: --fail-fast after %s failed", failed_id);
    unsigned n = deps_skip_unstarted(&c->rc, why);
    util_errf(msg, sizeof(msg), "%s failed; --fail-fast stops the run (%u %s%s not started)",
              failed_id, n, c->rc.wf->noun, n == 1 ? "" : "s");
    c->fail_fast_stop = 1;
    begin_shutdown(c, msg);
}

static void count_finished(struct coord *c)
{
    struct shm_header_sh *h = c->rc.seg.hdr;
    for (uint32_t i = 0; i < h->item_count; i++) {
        if (c->reported[i])
            continue;
        if (prog_claim_state(prog_claim_load(shm_prog_slot(&c->rc.seg, i))) != PROG_CLAIM_DONE)
            continue;
        struct prog_item p;
        prog_read(shm_prog_slot(&c->rc.seg, i), &p);
        if (p.state == PROG_INTERRUPTED) {
            /* Stopped from outside (SIGTERM to a worker) while the run goes on: not an end. */
            if (!c->shutting_down)
                coord_retry_or_fail(c, i, p.worker_pid, "was stopped");
            continue; /* during a shutdown: the item resumes in the next run */
        }
        c->reported[i] = 1;
        c->start_fails = 0;
        c->done++;
        atomic_store(&h->items_done, c->done);
        if (p.state == PROG_FAILED)
            atomic_fetch_add(&h->items_failed, 1);
        if (p.state == PROG_FAILED && c->rc.o->fail_fast && !c->shutting_down)
            stop_for_fail_fast(c, p.id);
        if (p.state == PROG_OTHER_RUN && p.worker_pid != 0)
            ccon_coord(&c->con, "%s left to another run: %s", p.id, p.reason);
        if (p.state == PROG_FAILED && run_item(&c->rc, i)->invalid_name)
            ccon_coord(&c->con, "%s FAILED: %s", p.id, p.reason);
        ccon_progress(&c->con, c->done, h->item_count);
    }
}

/*
 * The header's display counts, derived from the authoritative state each tick
 * (workers never count them, so a worker's death cannot make them drift):
 * items in flight = admission bits set; items waiting for a key = claimed
 * items whose progress slot says so.
 */
static void derive_counts(struct coord *c)
{
    struct shm_header_sh *h = c->rc.seg.hdr;
    uint32_t waiting = 0;
    for (uint32_t i = 0; i < h->item_count; i++) {
        struct prog_slot_sh *slot = shm_prog_slot(&c->rc.seg, i);
        struct prog_item p;
        if (prog_claim_state(prog_claim_load(slot)) == PROG_CLAIM_TAKEN &&
            prog_read(slot, &p) == 0 && p.state == PROG_WAITING_KEY)
            waiting++;
    }
    atomic_store(&h->waiting_for_key, waiting);
    atomic_store(&h->in_flight, admit_count(h));
}

static int all_claims_done(const struct coord *c)
{
    for (uint32_t i = 0; i < c->rc.seg.hdr->item_count; i++)
        if (prog_claim_state(prog_claim_load(shm_prog_slot(&c->rc.seg, i))) != PROG_CLAIM_DONE)
            return 0;
    return 1;
}

/* Stop taking items; workers checkpoint and exit (SIGTERM). why is the console line. */
static void begin_shutdown(struct coord *c, const char *why)
{
    c->shutting_down = 1;
    c->shutdown_deadline = util_now_mono_ns() + COORD_SHUTDOWN_NS;
    c->exit_by = util_now_mono_ns() + COORD_EXIT_NS;
    atomic_store(&c->rc.seg.hdr->run_state, SHM_RUN_SHUTTING_DOWN);
    ccon_coord(&c->con, "%s", why);
    ccon_flush(&c->con);
    coord_signal_workers(c, SIGTERM);
}

static void install_signals(struct coord *c)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL); /* Ctrl+\ is an interrupt: no core full of keys */
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTSTP, &sa, NULL);
    sigaction(SIGCONT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGQUIT);
    sigaddset(&block, SIGCHLD);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGTSTP);
    sigaddset(&block, SIGCONT);
    sigprocmask(SIG_BLOCK, &block, &c->orig_mask);
}

/*
 * One ppoll round: console lines in, signals handled. While stdout is far
 * behind, worker lines stay in the pipe (they wait, the coordinator does not);
 * during a shutdown they are taken anyway so workers can reach their exit.
 */
static void wait_events(struct coord *c)
{
    int hold = !c->shutting_down && ccon_backlogged(&c->con);
    struct pollfd pfd = {.fd = hold ? -1 : c->pipe_rd, .events = POLLIN};
    struct timespec tick = {.tv_sec = 0, .tv_nsec = COORD_TICK_MS * UTIL_NS_PER_MS};
    sigset_t open_mask = c->orig_mask;
    sigdelset(&open_mask, SIGINT);
    sigdelset(&open_mask, SIGTERM);
    sigdelset(&open_mask, SIGQUIT);
    sigdelset(&open_mask, SIGCHLD);
    sigdelset(&open_mask, SIGHUP);
    sigdelset(&open_mask, SIGTSTP);
    sigdelset(&open_mask, SIGCONT);
    ppoll(&pfd, 1, &tick, &open_mask);
    if (!hold)
        ccon_drain(&c->con, c->pipe_rd);
}

/* Let a pending SIGINT/SIGTERM run its handler now (they are blocked outside ppoll). */
static void poll_signals(struct coord *c)
{
    sigset_t open_mask = c->orig_mask;
    sigdelset(&open_mask, SIGINT);
    sigdelset(&open_mask, SIGTERM);
    sigdelset(&open_mask, SIGQUIT);
    struct timespec zero = {0, 0};
    ppoll(NULL, 0, &zero, &open_mask);
}

/* The main loop, until the run ends one of the ways above. */
static enum coord_end loop(struct coord *c)
{
    int handled_int = 0;
    for (;;) {
        coord_keep_workers(c);
        wait_events(c);
        if (sig_chld) {
            sig_chld = 0;
            coord_reap(c);
        }
        coord_retry_keys(c);
        if (sig_hup) {
            sig_hup = 0;
            pool_reload(&c->pool, "SIGHUP");
        }
        if (sig_tstp && !c->shutting_down) {
            sig_tstp = sig_cont = 0;
            coord_suspend(c);
        } else if (sig_cont) {
            sig_cont = 0;
            coord_resumed(c);
        }
        if (sig_int_count > handled_int) {
            handled_int = sig_int_count;
            if (handled_int == 1) {
                begin_shutdown(c, COORD_SHUTDOWN_LINE);
            } else {
                coord_signal_workers(c, SIGKILL);
                return COORD_END_KILLED;
            }
        }
        count_finished(c);
        if (!c->shutting_down)
            deps_release(&c->rc, &c->con);
        derive_counts(c);
        coord_watchdog(c);
        if (!c->shutting_down) {
            pool_tick(&c->pool);
            climits_tick(c);
        }
        bcoord_tick(&c->budget);
        ccon_flush(&c->con);
        if (coord_alive_workers(c) == 0 && (c->shutting_down || all_claims_done(c)))
            break;
        if (!c->shutting_down && coord_alive_workers(c) == 0 && coord_workers_hopeless(c)) {
            ccon_coord(&c->con, "workers keep failing to start; stopping the run");
            break;
        }
        if (c->shutting_down && util_now_mono_ns() > c->shutdown_deadline) {
            coord_signal_workers(c, SIGKILL);
            c->shutdown_deadline = INT64_MAX;
        }
        if (pool_should_exit(&c->pool) && !c->shutting_down) {
            begin_shutdown(c, COORD_SHUTDOWN_LINE);
            return COORD_END_PAUSED;
        }
    }
    return c->shutting_down && !c->fail_fast_stop ? COORD_END_INTERRUPTED : COORD_END_DONE;
}

/* ---- the run ---------------------------------------------------------- */

static int start_console(struct coord *c)
{
    struct run_ctx *rc = &c->rc;
    int r = uring_writer_open(&c->uw, 64);
    if (r < 0) {
        fprintf(stderr, "agentos-run: could not set up io_uring: %s\n", strerror(-r));
        return r;
    }
    uring_writer_set_budget(c->uw, COORD_FLUSH_BUDGET_NS);
    /* Whole lines of at most PIPE_BUF per write: a pipe takes such a write whole or not
     * at all, so output cut short at exit (a paused reader) still ends on a line. */
    uring_writer_set_fd_flags(c->uw, STDOUT_FILENO, UW_FD_ATOMIC_LINES);
    ccon_init(&c->con, c->uw, STDOUT_FILENO, !rc->o->no_progress && !rc->o->quiet);
    char path[PATH_MAX];
    c->log_fd = util_pathf(path, sizeof(path), "%s/coordinator.log", rc->run_dir) < 0
                    ? -1
                    : open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (c->log_fd >= 0)
        ccon_set_log(&c->con, c->log_fd);
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        fprintf(stderr, "agentos-run: could not create the console pipe: %s\n", strerror(errno));
        return -errno;
    }
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    c->pipe_rd = p[0];
    rc->console_wfd = p[1];
    return 0;
}

/*
 * Write what is left for stdout before exiting. After a run that ended by
 * itself, as long as the output takes (a pager read slowly still gets the
 * summary) unless SIGINT/SIGTERM arrives meanwhile. After a Ctrl+C, while the
 * output moves, until the exit deadline; a stopped terminal gets
 * COORD_EXIT_IDLE_NS. After a second Ctrl+C, hardly at all. What stdout has
 * not taken by then is dropped (coordinator.log has it). A signal that cuts
 * the wait short leaves the exit status as it was: the work is done, and
 * summary.json says so. What stdout did take ends on a line boundary: its
 * writes are whole lines of at most PIPE_BUF (start_console), which a pipe
 * accepts whole or not at all. (A terminal stopped with Ctrl+S keeps what it
 * showed, the progress bar included; coordinator.log has every line.)
 */
static void flush_before_exit(struct coord *c, enum coord_end how)
{
    int64_t now = util_now_mono_ns();
    int64_t until = how == COORD_END_KILLED        ? now + 100 * UTIL_NS_PER_MS
                    : how == COORD_END_INTERRUPTED ? c->exit_by
                                                   : INT64_MAX;
    size_t left_bytes = uring_writer_pending(c->uw, c->con.out_fd);
    int64_t moved_at = now;
    int seen = sig_int_count;
    for (;;) {
        now = util_now_mono_ns();
        int64_t left = until - now;
        if (left < 0)
            left = 0;
        if (uring_writer_flush_within(
                c->uw, left < COORD_FLUSH_BUDGET_NS ? left : COORD_FLUSH_BUDGET_NS) != -ETIME ||
            left == 0)
            return;
        size_t pending = uring_writer_pending(c->uw, c->con.out_fd);
        if (pending < left_bytes) {
            left_bytes = pending;
            moved_at = util_now_mono_ns();
        } else if (how == COORD_END_INTERRUPTED &&
                   util_now_mono_ns() - moved_at > COORD_EXIT_IDLE_NS) {
            return;
        }
        poll_signals(c);
        if (sig_int_count > seen)
            return;
    }
}

int coord_exit_status(enum coord_end how, const unsigned counts[PROG_STATE_COUNT], int counted)
{
    /* Items that never ended (workers could not be kept alive) are not "processed". */
    int unfinished = counts[PROG_FAILED] || counts[PROG_SKIPPED] || counts[PROG_INTERRUPTED] ||
                     counts[PROG_PENDING] || !counted;
    return how == COORD_END_PAUSED ? RUN_EXIT_PAUSED
           : how != COORD_END_DONE ? RUN_EXIT_INTERRUPTED
           : unfinished            ? RUN_EXIT_FAILED
                                   : RUN_EXIT_OK;
}

static int finish(struct coord *c, enum coord_end how)
{
    struct run_ctx *rc = &c->rc;
    /* Workers are gone: whatever is left in the pipe is theirs. */
    close(rc->console_wfd);
    rc->console_wfd = -1;
    while (!ccon_drain(&c->con, c->pipe_rd))
        util_sleep_ns(UTIL_NS_PER_MS);
    int64_t elapsed = util_now_mono_ns() - c->started_ns;
    struct summary_view v;
    unsigned n[PROG_STATE_COUNT];
    if (summary_view_of(rc, elapsed, &v) < 0)
        memset(&v, 0, sizeof(v)); /* out of memory: an empty summary, the status still right */
    v.wf = rc->wf;
    summary_count(&v, n);
    int status = coord_exit_status(how, n, v.items != NULL || rc->nsel == 0);
    unsigned stuck = summary_keys_reserved(rc);
    if (stuck)
        ccon_coord(&c->con, "BUG: %u key request slot%s still reserved after every worker exited",
                   stuck, stuck == 1 ? "" : "s");
    if (how != COORD_END_KILLED) {
        ccon_finish(&c->con);
        summary_print(&v, rc, &c->con);
        bcoord_report(&c->budget);
        ccon_coord(&c->con, "Run folder: %s", rc->run_dir);
    }
    int r = summary_write_json(&v, rc, status);
    if (r < 0)
        ccon_coord(&c->con, "could not write %s/summary.json: %s", rc->run_dir, strerror(-r));
    free((void *)v.items);
    ccon_finish(&c->con);
    flush_before_exit(c, how);
    return status;
}

static void cleanup(struct coord *c)
{
    struct run_ctx *rc = &c->rc;
    bcoord_close(&c->budget);
    if (rc->seg.base) {
        atomic_store(&rc->seg.hdr->run_state, SHM_RUN_DONE);
        shm_segment_unlink(rc->seg.name);
        shm_segment_detach(&rc->seg);
    }
    pool_free(&c->pool);
    climits_free(c);
    if (c->uw)
        uring_writer_close(c->uw);
    ccon_free(&c->con);
    if (c->log_fd >= 0)
        close(c->log_fd);
    if (c->pipe_rd >= 0)
        close(c->pipe_rd);
    free(c->wpid);
    free(c->reported);
    free(c->deaths);
    plan_free(rc);
}

/* Everything before the first fork. 0, or -errno (reported; exit 2); *nothing: exit 0 now. */
static int prepare(struct coord *c, int *nothing)
{
    int r = plan_run(&c->rc, nothing);
    if (r < 0 || *nothing)
        return r;
    if ((r = bcoord_open(&c->budget, &c->rc)) < 0) /* Redis unreachable at start: exit 2 */
        return r;
    return coord_create_segment(c);
}

int coord_run(const struct wf_desc *wf, const struct run_opts *o, const char *prompts_dir)
{
    struct coord c;
    memset(&c, 0, sizeof(c));
    c.pipe_rd = -1;
    c.log_fd = -1;
    c.rc.wf = wf;
    c.rc.o = o;
    c.rc.prompts_dir = prompts_dir;
    c.rc.console_wfd = -1;
    c.lim.audit_fd = -1;
    c.started_ns = util_now_mono_ns();
    umask(077);
    /* This process and its forked workers hold every key: no core dump, no ptrace by peers. */
    prctl(PR_SET_DUMPABLE, 0);
    int nothing = 0;
    if (prepare(&c, &nothing) < 0 || nothing || start_console(&c) < 0) {
        cleanup(&c);
        return nothing ? RUN_EXIT_OK : RUN_EXIT_USAGE;
    }
    c.nworkers = (unsigned)c.rc.plan.parallel;
    c.wpid = calloc(c.nworkers, sizeof(*c.wpid));
    c.reported = calloc(c.rc.nsel + 1, sizeof(*c.reported));
    c.deaths = calloc(c.rc.nsel + 1, sizeof(*c.deaths));
    if (!c.wpid || !c.reported || !c.deaths) {
        cleanup(&c);
        return 2;
    }
    pool_init(&c.pool, &c.rc, &c.con);
    climits_announce(&c);
    ccon_coord(&c.con, "Run %s: %s, %zu %s%s, --parallel %d, %zu key%s", c.rc.run_id,
               c.rc.plan.title, c.rc.nsel, wf->noun, c.rc.nsel == 1 ? "" : "s", c.rc.plan.parallel,
               c.rc.creds.n, c.rc.creds.n == 1 ? "" : "s");
    if (c.rc.shard.count > 1 || o->shard)
        ccon_coord(&c.con, "Shard %u/%u (%s): %zu of %zu %s%s", c.rc.shard.index, c.rc.shard.count,
                   c.rc.shard.origin, c.rc.shard_items, c.rc.plan.items.n, wf->noun,
                   c.rc.plan.items.n == 1 ? "" : "s");
    bcoord_start(&c.budget, &c.con);
    install_signals(&c);
    enum coord_end how = loop(&c);
    if (how == COORD_END_PAUSED || how == COORD_END_INTERRUPTED) {
        /* let the shutdown finish: workers checkpoint and exit */
        while (coord_alive_workers(&c) > 0) {
            wait_events(&c);
            coord_reap(&c);
            if (sig_int_count > 1)
                coord_signal_workers(&c, SIGKILL);
            if (util_now_mono_ns() > c.shutdown_deadline) {
                coord_signal_workers(&c, SIGKILL);
                c.shutdown_deadline = INT64_MAX;
            }
        }
    } else if (how == COORD_END_KILLED) {
        while (coord_alive_workers(&c) > 0) {
            util_sleep_ns(5 * UTIL_NS_PER_MS);
            coord_reap(&c);
        }
    }
    int status = finish(&c, how);
    sigprocmask(SIG_SETMASK, &c.orig_mask, NULL);
    cleanup(&c);
    return status;
}
