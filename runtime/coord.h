/*
 * coord.h - the coordinator's state, shared by its files (private to
 * runtime/: coord.c runs the loop, signals, shutdown and exit;
 * coord_segment.c creates the run's segment; coord_workers.c forks, reaps and
 * replaces workers and retries a dead worker's item; coord_watchdog.c,
 * coord_tty.c and coord_limits.c as declared below).
 */
#ifndef AGENTOS_RUNTIME_COORD_H
#define AGENTOS_RUNTIME_COORD_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/budget_coord.h"
#include "runtime/adapt.h"
#include "runtime/console.h"
#include "runtime/pool.h"
#include "runtime/run.h"
#include "runtime/uring.h"
#include "shm/prog.h"

#define COORD_DEAD_MAX 64

/* How the main loop ended. */
enum coord_end {
    COORD_END_DONE = 0,        /* every item ended (or workers could not be kept alive) */
    COORD_END_INTERRUPTED = 1, /* SIGINT/SIGTERM: workers are checkpointing */
    COORD_END_KILLED = 2,      /* a second SIGINT: workers were killed at once */
    COORD_END_PAUSED = 3,      /* --pause-timeout passed: workers are checkpointing */
};

/*
 * The run's exit status (enum run_exit) from how the loop ended and the final
 * outcome counts (summary_count): paused 75; interrupted or killed 130; else 1
 * when an item failed, was skipped, interrupted or never started, or when the
 * outcomes could not be read (counted = 0), and 0 when every item was
 * processed (approved, needs revision, passed). Pure.
 */
int coord_exit_status(enum coord_end how, const unsigned counts[PROG_STATE_COUNT], int counted);

/* The run's limits as the coordinator keeps them (coord_limits.c). */
struct coord_limits {
    const char *group_names[SHM_MAX_GROUPS];
    uint32_t group_limits[SHM_MAX_GROUPS];
    int64_t group_timeouts[SHM_MAX_GROUPS];
    struct adapt adapt;
    int audit_fd; /* coordinator-audit.jsonl, -1 = none */
};

struct coord {
    struct run_ctx rc;
    struct coord_console con;
    struct uring_writer *uw;
    struct pool_monitor pool;
    struct bcoord budget; /* --budget: the shared key budget (runtime/budget_coord.h) */
    int pipe_rd;
    int log_fd;
    pid_t *wpid;        /* per worker slot, 0 = none */
    unsigned nworkers;  /* slots */
    unsigned *reported; /* items whose end was counted */
    unsigned *deaths;   /* workers that died running each item (ours, not the slot's) */
    unsigned done;
    int start_fails;         /* workers that exited with an error since an item last ended */
    int64_t fork_fail_since; /* fork() has been failing since (0 = it works) */
    int shutting_down;
    int fail_fast_stop; /* the shutdown is --fail-fast's, not a signal's */
    int64_t shutdown_deadline;
    int64_t exit_by; /* an interrupted run exits by then, written or not */
    int64_t started_ns;
    sigset_t orig_mask;
    int32_t dead_keys[COORD_DEAD_MAX]; /* reaped workers whose keys are not all back yet */
    char stuck[SHM_MAX_WORKERS][SHM_REASON_MAX]; /* why the watchdog ended a slot's worker */
    struct coord_limits lim;
};

/*
 * Create the run's segment from the plan (coord_segment.c), after removing
 * stale ones: every key and progress slot set up, then the run state
 * RUNNING. 0, or -errno (reported; exit 2).
 */
int coord_create_segment(struct coord *c);

/* Keep min(parallel, items waiting to be taken) workers alive. */
void coord_keep_workers(struct coord *c);

/* Workers alive now. */
unsigned coord_alive_workers(const struct coord *c);

/* Workers cannot be kept alive: fork keeps failing, or they keep exiting with errors. */
int coord_workers_hopeless(const struct coord *c);

/* Reap every exited worker; a worker that died has its keys, ticket and item dealt with. */
void coord_reap(struct coord *c);

/* Give a dead worker's keys back, now or (a slot held by a stopped worker) on a later tick. */
void coord_return_keys(struct coord *c, int32_t pid);

/* Try again for the dead workers whose keys could not all be returned yet. */
void coord_retry_keys(struct coord *c);

/* Send sig to every live worker. */
void coord_signal_workers(struct coord *c, int sig);

/*
 * The watchdog (coord_watchdog.c): end (SIGKILL) every worker that holds an
 * item and whose heartbeat is older than coord_watchdog_limit_ns; the reaping
 * then retries its item once from its checkpoint, with the reason kept in
 * c->stuck[slot] for the console line. Call every tick.
 */
void coord_watchdog(struct coord *c);

/* How long a worker holding an item may give no sign of life. */
int64_t coord_watchdog_limit_ns(const struct coord *c);

/*
 * Item i was left unfinished by worker pid (`how`: "was stopped", "killed by
 * signal 9"): put it back once for another worker, or fail it.
 */
void coord_retry_or_fail(struct coord *c, uint32_t i, int32_t pid, const char *how);

/* Ctrl+Z (SIGTSTP): tidy the terminal, stop the process group; returns once continued. */
void coord_suspend(struct coord *c);

/* Continued after a stop we did not arrange (SIGSTOP, then SIGCONT): redraw the bar. */
void coord_resumed(struct coord *c);
/* The gates' settings for the segment to be created (limits, groups, pacing). */
void climits_params(struct coord *c, struct shm_create_params *p);

/* After the segment exists: the adaptive limits and coordinator-audit.jsonl. 0 or -errno. */
int climits_start(struct coord *c);

/* The run's first lines: the width chosen and why, the run file, adaptive limits. */
void climits_announce(struct coord *c);

/* Every tick: adaptive windows, groups past their timeout. */
void climits_tick(struct coord *c);

void climits_free(struct coord *c);

#endif
