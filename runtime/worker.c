/*
 * worker.c - the body of one pre-forked worker process.
 *
 * A worker takes items from the progress table (CAS on a slot's claim word,
 * after taking an admission ticket that keeps the items in flight within the
 * run's current parallelism) and runs each to its end (worker_item.c: the
 * item's nodes from the workflow table, a checkpoint after every node). It
 * stops at the next safe point when SIGTERM arrives (the coordinator's
 * shutdown, or its death through PR_SET_PDEATHSIG): the handler only sets
 * wrk_stop; the item in hand is marked interrupted with its last checkpoint
 * kept (worker_item.c states the safe points), and no other item is taken.
 *
 * The process holds what outlives one item: the signal dispositions, the
 * io_uring writer and the log sink, the LLM client and its hooks (credentials
 * reloaded by the coordinator, the adaptive limiter's samples), the --budget
 * connection, and the admission ticket, held from before the claim until the
 * item is marked done.
 */
#include "runtime/worker_private.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "llm/budget_gate.h"
#include "llm/http.h"
#include "llm/llm.h"
#include "runtime/log.h"
#include "runtime/adapt.h"
#include "runtime/wrk_limits.h"
#include "shm/util.h"
#include "shm/admit.h"
#include "shm/crashpoint.h"
#include "shm/heartbeat.h"

volatile sig_atomic_t wrk_stop;

static void on_term(int sig)
{
    (void)sig;
    wrk_stop = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    /* Ctrl+C reaches the whole process group; the coordinator decides. */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL); /* Ctrl+\ too: never a core dump holding the keys */
    sigaction(SIGHUP, &sa, NULL);
    /* A dead coordinator closes the console pipe: see EPIPE, not SIGPIPE. */
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);
    /* Ctrl+Z stops a worker at once (the coordinator tidies the terminal: coord_tty.c). */
    sigaction(SIGTSTP, &sa, NULL);
    sigaction(SIGCONT, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Wait for this worker's admission ticket (shm/admit.h). 1 taken, 0 stopping. */
static int admit(struct shm_header_sh *h, unsigned slot)
{
    for (;;) {
        if (wrk_stop || atomic_load(&h->run_state) == SHM_RUN_SHUTTING_DOWN)
            return 0;
        if (admit_try(h, slot))
            return 1;
        heartbeat();
        util_sleep_ns(20 * UTIL_NS_PER_MS);
    }
}

/*
 * llm_client hook: after the coordinator reloaded the credentials file (the
 * pool generation moved), read it again the same way, so requests carry the
 * new secrets; the key table has a fixed size, so only the same key count is
 * taken. 0 or -errno (the old credentials stay).
 */
static int refresh_creds(void *arg)
{
    struct run_ctx *rc = arg;
    char err[512];
    struct cred_file cf;
    int r = credfile_load(rc->cred_path, rc->creds.n, &cf, err, sizeof(err));
    if (r < 0)
        return r;
    if (cf.n != rc->creds.n) {
        credfile_free(&cf);
        return -EINVAL;
    }
    credfile_free(&rc->creds);
    rc->creds = cf;
    return 0;
}

/* The adaptive limiter's samples: into this worker's own counts (runtime/adapt.h). */
static unsigned wrk_slot;

static void on_sample(void *arg, uint32_t endpoint, uint32_t latency_ms, int is_error)
{
    struct run_ctx *rc = arg;
    adapt_sample(&rc->seg, wrk_slot, endpoint, latency_ms, is_error);
}

int wrk_main(struct run_ctx *rc, unsigned worker_index)
{
    install_signals();
    crash_point_arm();
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    prctl(PR_SET_DUMPABLE, 0); /* inherited from the coordinator; said again where keys live */
    /* `ps -o comm` and `pgrep -x agentos-worker` tell workers from the coordinator */
    prctl(PR_SET_NAME, "agentos-worker");
    if (getppid() != rc->seg.hdr->creator_pid)
        return 0; /* the coordinator died before we got here */
    int32_t pid = (int32_t)getpid();
    struct shm_worker_sh *me = shm_worker_slot(&rc->seg, worker_index);
    atomic_store(&me->pid, pid);
    atomic_store(&me->rss_kib, util_rss_kib());
    heartbeat_attach(&me->heartbeat_ns); /* beaten by every bounded wait (shm/heartbeat.h) */

    struct uring_writer *uw = NULL;
    if (uring_writer_open(&uw, 64) < 0)
        return 3;
    uring_writer_set_fd_flags(uw, rc->console_wfd, UW_FD_ATOMIC_LINES);
    struct log_sink log;
    log_sink_init(&log, uw, rc->console_wfd, rc->run_id, NULL);
    log.quiet = rc->o->quiet;
    http_global_init();

    struct llm_client llm;
    memset(&llm, 0, sizeof(llm));
    llm.seg = &rc->seg;
    llm.creds = &rc->creds;
    llm.pid = pid;
    llm.timeout_s = rc->plan.timeout_per_step;
    llm.stop = &wrk_stop;
    struct llm_events ev;
    log_llm_events(&log, &ev);
    llm.ev = &ev;
    llm.simulate_429_every = rc->simulate_429;
    llm.on_wait = wrk_on_wait;
    llm.refresh_creds = refresh_creds;
    llm.refresh_arg = rc;
    llm.worker_id = worker_index + 1; /* places at the endpoints' gates */
    wrk_slot = worker_index;
    llm.on_sample = on_sample;
    llm.on_sample_arg = rc;
    /* A reload may land between our fork and now: re-read once before the first request. */
    llm.generation = UINT64_MAX;
    /* --budget: this worker's own connection (ADR-16); a lease outlives the longest request. */
    struct budget_gate *gate = NULL;
    if (rc->budget_url[0] &&
        budget_gate_new(&rc->seg, worker_index, rc->budget_lease_ms, &gate) == 0)
        llm.budget = gate;

    struct shm_header_sh *h = rc->seg.hdr;
    while (admit(h, worker_index)) {
        crash_point("admitted"); /* crash tests: holding a ticket, no item yet */
        int idx = wlim_claim(rc, worker_index, pid, &wrk_stop);
        if (idx < 0) {
            admit_release(h, worker_index);
            break;
        }
        wrk_run_one(rc, worker_index, me, &log, &llm, idx);
        wlim_release_item(rc, worker_index, idx);
        crash_point("item_released"); /* crash tests: item marked done, ticket still held */
        admit_release(h, worker_index);
    }
    budget_gate_free(gate);
    uring_writer_close(uw);
    atomic_store(&me->pid, 0);
    return 0;
}
