/*
 * snapshot.h - a read-only, lock-free copy of one run's shared segment.
 *
 * The inspector (agentos-shmstat) never takes a lock a dying worker could
 * leave behind and never writes to the segment, so it copies what it shows:
 *   - the header's fixed fields and its atomics (each loaded once);
 *   - every progress slot through prog_read (the seqlock, bounded retries):
 *     each item copy is whole, never torn; a slot that stayed odd through
 *     every retry is counted as unreadable instead of shown half-written;
 *   - every key slot's state through cred_view (its seqlock, published at
 *     each unlock): whole and consistent, as of the key's last change;
 *   - the worker, endpoint and node slots and the key counters, which are
 *     atomics, with relaxed loads.
 * Counts by state are computed from the item copies, so they always add up
 * to item_count. Nothing secret is in the segment, so nothing secret is here.
 */
#ifndef AGENTOS_SHM_SNAPSHOT_H
#define AGENTOS_SHM_SNAPSHOT_H

#include <stdint.h>

#include "shm/segment.h"

/* Index of the "unreadable" count in snap.by_state (after every prog_state). */
#define SNAP_STATE_UNREADABLE (PROG_OTHER_RUN + 1)
#define SNAP_STATE_COUNT (SNAP_STATE_UNREADABLE + 1)

struct snap_item {
    struct prog_item p; /* whole copy (strings NUL-terminated) */
    uint32_t claim;     /* enum prog_claim, read after the payload */
    int32_t claim_pid;  /* the claiming worker (from the same claim word) */
    int readable;       /* 0: prog_read gave up, p is zeroed but for its index */
};

struct snap_key {
    char id[SHM_KEY_ID_MAX];
    char provider[SHM_PROVIDER_MAX];
    char model[SHM_MODEL_MAX];
    char disabled_reason[64];
    uint32_t state, roles, concurrency, in_use, endpoint, rpm;
    int32_t holders[SHM_KEY_HOLDERS_MAX];
    int64_t rate_limited_until_ns;          /* CLOCK_MONOTONIC; 0 = none */
    int64_t rate_limited_until_realtime_ns; /* for display */
    double tokens;                          /* refilled up to the snapshot time */
    uint32_t learned_rpm, tpm, learned_tpm; /* see cred_pub */
    double tpm_tokens;                      /* budget bucket, refilled up to the snapshot time */
    int64_t rest_until_ns;                  /* CLOCK_MONOTONIC; 0 = not resting */
    uint64_t requests, http_429, errors, latency_ms_sum;
    uint64_t input_tokens, output_tokens, rests;
    uint64_t latency_hist[SHM_HIST_BUCKETS];
    /* The shared budget (--budget): Redis's view as the coordinator last read it
     * (budget.valid 0: not read yet, or no --budget), and this run's counters. */
    struct budget_key_pub budget;
    uint64_t budget_takes, budget_waits, budget_shared_limits;
};

/* The run's side of the shared key budget (SPEC 13); mode SHM_BUDGET_OFF without --budget. */
struct snap_budget {
    char url[SHM_BUDGET_URL_MAX];
    uint32_t mode, n_live;
    int64_t lost_since_realtime_ns;
    uint64_t losses, round_trips, latency_ns, latency_max_ns, failures, reconnects;
    uint64_t takes, waits, gives, gives_expired, local_takes;
};

struct snap_worker {
    int32_t pid; /* 0 = unused */
    int32_t item_index;
    uint64_t rss_kib, items_processed;
    int64_t heartbeat_ns;
};

struct snap_endpoint {
    char url[SHM_ENDPOINT_MAX];
    uint32_t state, consecutive_failures;
    int64_t open_until_ns;
    int32_t probe_pid;
    uint64_t trips, requests, failures;
};

struct snap_node {
    char name[SHM_NODE_MAX];
    uint64_t runs, failures, duration_ms_sum;
    uint64_t duration_hist[SHM_HIST_BUCKETS];
};

/* A concurrency gate (shm/gate.h): endpoint, node or group limit. */
struct snap_gate {
    char name[SHM_GATE_NAME_MAX];
    uint32_t kind, ref;
    uint32_t limit, held, max_held, changes;
    uint64_t taken, refused;
    int64_t deadline_ns, timeout_ns;
    int has_status; /* status read (seqlock) */
    struct gate_status status;
};

struct snap {
    char segment[64]; /* "/agentos-<run id>" */
    char run_id[SHM_RUN_ID_MAX];
    char workflow[SHM_WORKFLOW_MAX];
    int32_t creator_pid;
    int stale; /* the creator process is gone */
    uint32_t layout_version, parallel_max;
    int64_t started_realtime_ns;
    int64_t taken_mono_ns, taken_real_ns; /* when this snapshot was taken */
    uint32_t run_state, parallelism, in_flight, waiting_for_key;
    uint64_t pool_generation, requests_total, http_429_total;
    uint32_t items_done, items_failed; /* as the coordinator counted them */
    uint32_t item_count, key_count, worker_count, endpoint_count, node_count, gate_count;
    uint32_t adaptive;                   /* endpoint limits follow the adaptive limiter */
    int64_t start_gap_ns;                /* least time between two item starts; 0 = none */
    uint32_t by_state[SNAP_STATE_COUNT]; /* sums to item_count */
    struct snap_budget budget;
    struct snap_item *items;
    struct snap_key *keys;
    struct snap_worker *workers;
    struct snap_endpoint *endpoints;
    struct snap_node *nodes;
    struct snap_gate *gates; /* endpoints first, then nodes, then groups */
};

/*
 * Copy seg (attached read-only or not; never written, never locked) into s.
 * Returns 0, or -ENOMEM (s is then empty). Free with snap_free.
 */
int snap_take(const struct shm_segment *seg, struct snap *s);

/* Release what snap_take allocated; s may be zeroed or already freed. */
void snap_free(struct snap *s);

/* "starting", "running", "paused", "shutting down", "done" or "unknown". */
const char *snap_run_state_name(uint32_t run_state);

/* Name of by_state index i: prog_state_name(i), or "unreadable". */
const char *snap_state_name(unsigned i);

/* 1 if the item is done in this run: approved, needs-revision or failed. */
int snap_state_final(uint32_t state);

/* Elapsed seconds of item it at the snapshot (0 if not started). */
double snap_item_elapsed_s(const struct snap *s, const struct snap_item *it);

#endif
