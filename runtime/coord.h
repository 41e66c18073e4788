/*
 * coord.h - the coordinator's state, shared by its two files (private to
 * runtime/: coord.c runs the loop, signals, shutdown and exit; coord_workers.c
 * forks, reaps and replaces workers and retries a dead worker's item).
 */
#ifndef AGENTOS_RUNTIME_COORD_H
#define AGENTOS_RUNTIME_COORD_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/adapt.h"
#include "runtime/console.h"
#include "runtime/pool.h"
#include "runtime/run.h"
#include "runtime/uring.h"

#define COORD_DEAD_MAX 64

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
    struct coord_limits lim;
};

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
 * Item i was left unfinished by worker pid (`how`: "was stopped", "killed by
 * signal 9"): put it back once for another worker, or fail it.
 */
void coord_retry_or_fail(struct coord *c, uint32_t i, int32_t pid, const char *how);

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
