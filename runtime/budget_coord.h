/*
 * budget_coord.h - the coordinator's side of the shared key budget (SPEC 13,
 * `--budget redis://...`; ADR-16 in docs/architecture.md).
 *
 * Workers take and give through their own Redis connections
 * (llm/budget_gate.h). The coordinator holds one more, for what is the run's
 * and not a request's:
 *   - at start, the check that Redis answers (else exit 2 naming the URL);
 *   - a heartbeat every second (this run is live; how many runs share the
 *     pool, which sets the local share if Redis is lost);
 *   - Redis's view of one key per tick into the segment, for agentos-shmstat
 *     (bounded: 10 views a second, whatever the number of keys);
 *   - the mode: a console line when the run falls back to its local share and
 *     when Redis is back, and the probe (one reconnect a second) that brings
 *     it back;
 *   - the lease of a worker that died holding one, given back at once rather
 *     than after its time-to-live; the keys enabled again on a reload;
 *   - leaving the pool at exit, and the budget's figures in the summary.
 * Every call is bounded by short timeouts (BCOORD_*_TIMEOUT_MS), so a Redis
 * that hangs delays a tick, never the run's signals for long.
 */
#ifndef AGENTOS_RUNTIME_BUDGET_COORD_H
#define AGENTOS_RUNTIME_BUDGET_COORD_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "llm/budget_redis.h"
#include "runtime/console.h"
#include "runtime/run.h"

#define BCOORD_BEAT_MS 1000      /* heartbeat period */
#define BCOORD_BEAT_TTL_MS 10000 /* a run not heard of for this long is not counted live */
#define BCOORD_PROBE_MS 1000     /* while lost: one reconnect attempt a second */
#define BCOORD_CONNECT_TIMEOUT_MS 500
#define BCOORD_COMMAND_TIMEOUT_MS 300

struct bcoord {
    struct run_ctx *rc;
    struct coord_console *con;
    struct budget_redis *b; /* NULL: no --budget */
    struct budget_stats last;
    char id[BUDGET_ID_MAX]; /* this run in the pool's heartbeat set */
    uint32_t shown_mode;    /* the mode the console last said */
    int64_t next_beat_ns, next_probe_ns, next_renew_ns, lost_at_ns;
    uint32_t next_view;
    uint64_t views;
    int own_loss;        /* the coordinator's own call found Redis gone (its error says why) */
    uint64_t generation; /* the pool generation last seen (a reload enables the keys) */
};

/*
 * Before the segment exists: connect to rc->budget_url (nothing to do when it
 * is ""). 0, or -errno after one line on stderr naming the URL (exit 2).
 */
int bcoord_open(struct bcoord *bc, struct run_ctx *rc);

/* The segment exists: first heartbeat, and the console line saying how the keys are shared. */
void bcoord_start(struct bcoord *bc, struct coord_console *con);

/* Once per coordinator tick: heartbeat, one key's view, the mode and its console lines. */
void bcoord_tick(struct bcoord *bc);

/* Worker slot `worker` was reaped dead: give back the Redis lease it held, if any. */
void bcoord_worker_died(struct bcoord *bc, unsigned worker);

/* The credentials were reloaded (SIGHUP, edited file): disabled keys come back for every run.
 * (bcoord_tick calls it when the pool generation moves.) */
void bcoord_reloaded(struct bcoord *bc);

/* The run's end: one console line with the budget's figures. */
void bcoord_report(const struct bcoord *bc);

/* Leave the pool (clean exit) and close. */
void bcoord_close(struct bcoord *bc);

/* Add the run's budget figures to summary.json's root (nothing without --budget). */
void bcoord_summary_json(const struct shm_segment *seg, cJSON *root);

#endif
