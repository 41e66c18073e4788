/*
 * shm_layout.h - the byte layout of one run's shared-memory segment.
 *
 * This header is the single source of truth for what lives in the segment;
 * docs/shm-layout.md mirrors it byte by byte. Everything here is position
 * independent: regions are found through offsets from the segment base, never
 * through pointers, because the inspector (agentos-shmstat) maps the segment
 * read-only at another address. Every slot is cache-line aligned so two
 * workers never write the same line. Change anything incompatible here and
 * bump SHM_LAYOUT_VERSION; attachers refuse any other version.
 *
 *   offset 0                 struct shm_header_sh        (SHM_HEADER_SIZE)
 *   header.items_offset      struct prog_slot_sh[item_count]
 *   header.keys_offset       struct cred_slot_sh[key_count]
 *   header.workers_offset    struct shm_worker_sh[worker_count]
 *   header.endpoints_offset  struct endpoint_sh[endpoint_count]   (circuit breakers)
 *   header.nodes_offset      struct node_stat_sh[node_count]      (per-node counters)
 *   header.budget_offset     struct budget_run_sh, then struct budget_key_sh[key_count],
 *                            then struct budget_lease_sh[worker_count] (--budget, SPEC 13)
 *   header.gates_offset      struct gate_sh[gate_count]           (concurrency limits)
 *   header.lwin_offset       struct lwin_sh[worker_count * endpoint_count]
 *                                                       (adaptive limiter's samples)
 *
 * Ownership ("_sh" = the shared half of a structure, as in nginx):
 *   - header: written by the coordinator; run_state/parallelism are atomics
 *     that workers read; in_flight_mask holds the admission tickets (admit.h).
 *   - prog slots: seqlock-protected data written by the one process that owns
 *     the item (see prog.h); `claim` is a CAS word workers use to take items.
 *   - cred slots: `st` guarded by a process-shared robust mutex, `pub` its copy
 *     published through a seqlock at every unlock for lock-free readers (cred.h).
 *   - worker slots: written by the worker itself (pid, item, rss) with
 *     relaxed atomics; the coordinator resets a dead worker's slot.
 *   - endpoint slots: one per distinct provider endpoint (base_url); the
 *     circuit breaker's state, all atomics, changed by any worker.
 *   - node stats: one per node of the workflow; atomic counters.
 *   - budget region (shared key budget through Redis): the mode and Redis's
 *     view of each key, written by the coordinator (seqlock per key); the
 *     counters and the fallback pace by any worker (atomics); a lease record
 *     per worker slot, written by that worker.
 *   - gates (shm/gate.h): one per endpoint, then one per node, then one per
 *     item group; a bitmask of the worker slots holding a place, taken and
 *     given back with CAS by workers, limits written by the coordinator.
 *   - limiter windows: one per (worker slot, endpoint), cumulative counts
 *     written by that worker only (relaxed stores), read by the coordinator.
 */
#ifndef AGENTOS_SHM_LAYOUT_H
#define AGENTOS_SHM_LAYOUT_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SHM_MAGIC 0x314d4853534f4741ULL /* "AGOSSHM1" little-endian */
/*
 * What each version changed: 2, the claim word holds state+pid and admission is
 * a bitmask; 3, states passed/skipped and claim blocked (dependencies); 4, key
 * slots publish a lock-free copy of their state; 5, token accounting (items,
 * keys), tpm bucket, learned pace, rests, 256-byte reasons; 6, item state
 * other-run (an item another live run owns: runtime/own.h); 7, the shared
 * budget's region (SPEC 13); 8, concurrency gates (endpoint, node, group),
 * limiter windows, start pacing (SPEC 12). One line, so
 * scripts (and tests/integration/test_shmstat.sh) can read the number.
 */
#define SHM_LAYOUT_VERSION 8u
#define SHM_CACHELINE 64
#define SHM_HEADER_SIZE 512
#define SHM_NAME_PREFIX "/agentos-"

#define SHM_ID_MAX 72      /* "ISSUE-" + 64-char stem + NUL fits */
#define SHM_NODE_MAX 24    /* node names such as "N2_review" */
#define SHM_REASON_MAX 256 /* failure reason shown by the inspector: a provider's own words fit */
#define SHM_KEY_ID_MAX 48
#define SHM_PROVIDER_MAX 16
#define SHM_MODEL_MAX 48
#define SHM_WORKFLOW_MAX 16
#define SHM_RUN_ID_MAX 40
#define SHM_KEY_HOLDERS_MAX 8 /* most concurrent reservations of one key */
#define SHM_MAX_ITEMS 100000
#define SHM_MAX_KEYS 256
#define SHM_MAX_WORKERS 10
#define SHM_MAX_NODES 32
#define SHM_ENDPOINT_MAX 96 /* base_url, cut; never holds a secret */
#define SHM_MAX_GROUPS 64   /* item groups (a workstream's step_groups) */
#define SHM_GATE_NAME_MAX SHM_ENDPOINT_MAX
#define SHM_LIM_BUCKETS 152 /* runtime/limiter.h LIMITER_BUCKETS (asserted there) */

/*
 * Latency histograms: bucket i counts observations <= SHM_HIST_BOUNDS_MS[i]
 * (non-cumulative); the last bucket is everything above (+Inf).
 */
#define SHM_HIST_BUCKETS 12
#define SHM_HIST_BOUNDS_MS_INIT                                                                    \
    {                                                                                              \
        50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000                           \
    }

static inline unsigned shm_hist_bucket(uint64_t ms)
{
    static const uint64_t bounds[SHM_HIST_BUCKETS - 1] = SHM_HIST_BOUNDS_MS_INIT;
    unsigned i = 0;
    while (i < SHM_HIST_BUCKETS - 1 && ms > bounds[i])
        i++;
    return i;
}

/* Run state, in shm_header_sh.run_state. */
enum shm_run_state {
    SHM_RUN_STARTING = 0,
    SHM_RUN_RUNNING = 1,
    SHM_RUN_PAUSED = 2,        /* credential pool exhausted; workers wait */
    SHM_RUN_SHUTTING_DOWN = 3, /* SIGINT/SIGTERM: stop at next safe point */
    SHM_RUN_DONE = 4,
};

struct shm_header_sh {
    _Atomic uint64_t magic;  /* SHM_MAGIC, stored last with release order */
    uint32_t layout_version; /* SHM_LAYOUT_VERSION */
    uint32_t header_size;    /* SHM_HEADER_SIZE */
    uint64_t total_size;     /* bytes mapped */
    uint64_t items_offset;   /* from segment base */
    uint64_t keys_offset;
    uint64_t workers_offset;
    uint32_t item_count;
    uint32_t item_slot_size; /* sizeof(struct prog_slot_sh) */
    uint32_t key_count;
    uint32_t key_slot_size; /* sizeof(struct cred_slot_sh) */
    uint32_t worker_count;
    uint32_t worker_slot_size; /* sizeof(struct shm_worker_sh) */
    uint64_t endpoints_offset;
    uint64_t nodes_offset;
    uint32_t endpoint_count;
    uint32_t endpoint_slot_size; /* sizeof(struct endpoint_sh) */
    uint32_t node_count;
    uint32_t node_slot_size;     /* sizeof(struct node_stat_sh) */
    int32_t creator_pid;         /* coordinator; a dead creator = stale segment */
    uint32_t parallel_max;       /* --parallel N */
    int64_t started_realtime_ns; /* CLOCK_REALTIME at creation */
    char workflow[SHM_WORKFLOW_MAX];
    char run_id[SHM_RUN_ID_MAX];
    _Atomic uint32_t run_state;       /* enum shm_run_state */
    _Atomic uint32_t parallelism;     /* items allowed in flight now (<= parallel_max, >= 1) */
    _Atomic uint32_t in_flight;       /* popcount of in_flight_mask, for display */
    _Atomic uint32_t waiting_for_key; /* items waiting for a key (display; counted by the
                                         coordinator from the progress slots) */
    _Atomic uint64_t pool_generation; /* bumped when the credential pool is reloaded */
    _Atomic uint64_t requests_total;  /* LLM requests sent in this run */
    _Atomic uint64_t http_429_total;
    _Atomic uint64_t simulate_429_used; /* AGENTOS_SIMULATE_429 budget consumed */
    _Atomic uint32_t items_done;        /* items with a final outcome */
    _Atomic uint32_t items_failed;
    _Atomic uint32_t in_flight_mask; /* admission tickets: protocol in shm/admit.h */
    uint32_t budget_size;            /* bytes of the budget region */
    uint64_t budget_offset;          /* the budget region (see the layout above) */
    /* concurrency gates and the adaptive limiter's samples (SPEC 12) */
    uint64_t gates_offset;
    uint64_t lwin_offset;
    uint32_t gate_count; /* endpoint_count + node_count + groups */
    uint32_t gate_slot_size;
    uint32_t lwin_slot_size;       /* worker_count * endpoint_count of them */
    uint32_t adaptive;             /* 1: endpoint gate limits follow runtime/limiter.h */
    int64_t start_gap_ns;          /* least time between two item starts; 0 = none */
    _Atomic int64_t last_start_ns; /* CLOCK_MONOTONIC of the latest start slot taken */
};

/* Per-item state, in prog_slot_sh data. */
enum prog_state {
    PROG_PENDING = 0,
    PROG_RUNNING = 1,
    PROG_WAITING_KEY = 2, /* running, blocked on the credential pool */
    PROG_APPROVED = 3,
    PROG_NEEDS_REVISION = 4,
    PROG_FAILED = 5,
    PROG_INTERRUPTED = 6, /* stopped by shutdown/pause; checkpoint kept */
    PROG_PASSED = 7,      /* ran, and the workflow's own checks passed (no review) */
    PROG_SKIPPED = 8,     /* never ran: an item it depends on did not succeed, or
                             --fail-fast ended the run first */
    PROG_OTHER_RUN = 9,   /* another live run owns it (runtime/own.h); left to that run */
};

/*
 * Claim word of a progress slot (not seqlock-protected; CAS only): the low 32
 * bits are the state below, the high 32 bits the pid of the claiming worker,
 * so one CAS takes both and a death can never leave a claim without its pid.
 */
enum prog_claim {
    PROG_CLAIM_FREE = 0,    /* waiting to be taken by a worker */
    PROG_CLAIM_TAKEN = 1,   /* a worker is processing it */
    PROG_CLAIM_DONE = 2,    /* finished (any outcome); never taken again */
    PROG_CLAIM_SKIP = 3,    /* the coordinator owns a slot no worker took, to end it
                               (--fail-fast): won by CAS from FREE or BLOCKED, then
                               written, then DONE; no worker ever takes it */
    PROG_CLAIM_BLOCKED = 4, /* waiting for the items it depends on (runtime/deps.h); the
                               coordinator moves it to FREE, or writes it skipped and
                               sets DONE */
};

/*
 * The seqlock-protected payload of a progress slot. Plain old data: the
 * writer builds a copy locally and copies it in between seq bumps; readers
 * copy it out and retry on a changed/odd seq.
 */
struct prog_item {
    uint32_t state;    /* enum prog_state */
    uint32_t attempts; /* times a worker started this item in this run */
    int32_t worker_pid;
    uint32_t rounds;    /* review rounds so far */
    uint32_t requests;  /* LLM requests sent for this item in this run */
    uint32_t http_429;  /* of which answered 429 */
    int64_t started_ns; /* CLOCK_MONOTONIC, 0 = not started */
    int64_t updated_ns;
    int64_t finished_ns;
    uint64_t input_tokens; /* usage the replies reported, summed over the item's requests */
    uint64_t output_tokens;
    double cost; /* those tokens at their keys' prices (per million); 0 = no price */
    char id[SHM_ID_MAX];
    char node[SHM_NODE_MAX];
    char reason[SHM_REASON_MAX];
};

struct prog_slot_sh {
    alignas(SHM_CACHELINE) _Atomic uint32_t seq; /* odd while a write is in progress */
    uint32_t index;                              /* position in the table (constant) */
    _Atomic uint64_t claim; /* (pid << 32) | enum prog_claim: see prog_claim_state/pid */
    uint64_t data[(sizeof(struct prog_item) + 7) / 8]; /* struct prog_item, word-accessed */
};

/* Credential key state, in cred_slot_sh.state. */
enum cred_state {
    CRED_AVAILABLE = 0,
    CRED_RESERVED = 1,     /* every request slot (concurrency) taken */
    CRED_RATE_LIMITED = 2, /* until rate_limited_until_ns */
    CRED_DISABLED = 3,     /* 401/403/daily quota; reason in disabled_reason */
};

#define CRED_ROLE_DRAFT 1u
#define CRED_ROLE_REVIEW 2u

/*
 * A key slot's state as lock-free readers see it (the coordinator's view of
 * the pool, agentos-shmstat): a copy of the mutex-guarded fields, republished
 * through the slot's seqlock (pub_seq, pub) every time the mutex is released.
 */
struct cred_pub {
    uint32_t state;                         /* enum cred_state */
    uint32_t roles;                         /* CRED_ROLE_* bits */
    uint32_t concurrency;                   /* request slots */
    uint32_t in_use;                        /* reservations held now */
    int32_t holders[SHM_KEY_HOLDERS_MAX];   /* pids holding a reservation, 0 = none */
    int64_t reserved_since_ns;              /* CLOCK_MONOTONIC of the latest reserve */
    int64_t rate_limited_until_ns;          /* CLOCK_MONOTONIC; 0 = not limited */
    int64_t rate_limited_until_realtime_ns; /* same instant, for display */
    uint32_t endpoint;                      /* index into the endpoint slots */
    uint32_t rpm;                           /* configured; 0 = unpaced */
    uint32_t backoff_exp;                   /* consecutive 429s without a hint */
    uint32_t learned_rpm; /* the provider's announced limit, when rpm is 0; 0 = none */
    double tokens;        /* token bucket (requests), rpm or learned_rpm > 0 */
    int64_t tokens_updated_ns;
    uint32_t tpm;         /* configured tokens per minute; 0 = no budget */
    uint32_t learned_tpm; /* the provider's announced limit, when tpm is 0; 0 = none */
    double tpm_tokens;    /* token budget bucket (LLM tokens), tpm or learned_tpm > 0 */
    int64_t tpm_updated_ns;
    int64_t rest_until_ns; /* CLOCK_MONOTONIC: no request before (a reply said nothing is left,
                              or the shared budget said wait); pacing, not a rate limit (state
                              stays, no 429 counted); 0 = none */
    char id[SHM_KEY_ID_MAX];
    char provider[SHM_PROVIDER_MAX];
    char model[SHM_MODEL_MAX];
    char disabled_reason[64];
};

/*
 * One API key. No secret ever lives here: only the key's id, provider and
 * model. `st` is guarded by the robust mutex `mu` and read or written only
 * with it held (shm/cred.c); readers that must never block (the coordinator,
 * the inspector) read `pub`, its copy published at every unlock. The counters
 * are atomics, written by any worker.
 */
struct cred_slot_sh {
    alignas(SHM_CACHELINE) pthread_mutex_t mu;       /* PROCESS_SHARED + ROBUST */
    struct cred_pub st;                              /* guarded by mu */
    _Atomic uint32_t pub_seq;                        /* seqlock over pub (shm/seqlock.h) */
    uint64_t pub[(sizeof(struct cred_pub) + 7) / 8]; /* struct cred_pub, word-accessed */
    _Atomic uint64_t requests;
    _Atomic uint64_t http_429;
    _Atomic uint64_t errors;
    _Atomic uint64_t latency_ms_sum;
    _Atomic uint64_t latency_hist[SHM_HIST_BUCKETS]; /* see shm_hist_bucket */
    _Atomic uint64_t input_tokens;                   /* usage the replies reported */
    _Atomic uint64_t output_tokens;
    _Atomic uint64_t rests; /* rests the reply headers asked for (nothing left; no 429) */
};

/* One pre-forked worker, written by that worker. */
struct shm_worker_sh {
    alignas(SHM_CACHELINE) _Atomic int32_t pid; /* 0 = slot unused */
    _Atomic int32_t item_index;                 /* -1 = idle */
    _Atomic uint64_t rss_kib;
    _Atomic uint64_t items_processed;
    _Atomic int64_t heartbeat_ns; /* CLOCK_MONOTONIC */
};

/* Circuit breaker state, in endpoint_sh.state. */
enum breaker_state {
    BREAKER_CLOSED = 0,    /* requests flow */
    BREAKER_OPEN = 1,      /* no request until open_until_ns */
    BREAKER_HALF_OPEN = 2, /* one probe request (probe_pid) decides */
};

/* One provider endpoint (distinct base_url) and its circuit breaker. */
struct endpoint_sh {
    alignas(SHM_CACHELINE) char url[SHM_ENDPOINT_MAX]; /* constant after creation */
    _Atomic uint32_t state;                            /* enum breaker_state */
    _Atomic uint32_t consecutive_failures;             /* connect errors, timeouts, 5xx in a row */
    _Atomic int64_t open_until_ns;                     /* CLOCK_MONOTONIC */
    _Atomic int32_t probe_pid;                         /* the half-open probe's worker */
    _Atomic uint64_t trips;                            /* times the breaker opened */
    _Atomic uint64_t requests;
    _Atomic uint64_t failures;
};

/* Counters of one workflow node, across all items of the run. */
struct node_stat_sh {
    alignas(SHM_CACHELINE) char name[SHM_NODE_MAX]; /* constant after creation */
    _Atomic uint64_t runs;                          /* node executions finished (ok or failed) */
    _Atomic uint64_t failures;
    _Atomic uint64_t duration_ms_sum;
    _Atomic uint64_t duration_hist[SHM_HIST_BUCKETS];
};

/*
 * The shared key budget (SPEC 13, --budget redis://...): its mode, in
 * budget_run_sh.mode. The coordinator moves SHARED -> LOCAL when it loses
 * Redis (a worker that loses it first moves it too), and LOCAL -> SHARED when
 * Redis answers again.
 */
enum shm_budget_mode {
    SHM_BUDGET_OFF = 0,    /* no --budget: the run's keys are its own */
    SHM_BUDGET_SHARED = 1, /* every reservation also takes from Redis */
    SHM_BUDGET_LOCAL = 2,  /* Redis lost: each key paced at 1/n_live of its budget */
};

#define SHM_BUDGET_URL_MAX 128   /* redis://HOST[:PORT][/DB]: never holds a password */
#define SHM_BUDGET_LEASE_MAX 112 /* a lease id: "<owner>:<sequence>" */

/* The run's side of the shared budget. Counters are atomics any worker adds to. */
struct budget_run_sh {
    alignas(SHM_CACHELINE) char url[SHM_BUDGET_URL_MAX]; /* constant after creation */
    _Atomic uint32_t mode;                               /* enum shm_budget_mode */
    _Atomic uint32_t n_live;                /* coordinators live at the last heartbeat (>= 1) */
    _Atomic int64_t lost_since_realtime_ns; /* Redis lost since then; 0 = not lost */
    _Atomic uint64_t losses;                /* times Redis was lost */
    _Atomic uint64_t round_trips;           /* of every process of the run (budget_stats) */
    _Atomic uint64_t latency_ns;            /* their total */
    _Atomic uint64_t latency_max_ns;        /* the slowest */
    _Atomic uint64_t failures;              /* calls that found Redis gone */
    _Atomic uint64_t reconnects;
    _Atomic uint64_t script_reloads;
    _Atomic uint64_t takes;         /* takes answered OK */
    _Atomic uint64_t waits;         /* takes answered WAIT (any reason) */
    _Atomic uint64_t gives;         /* gives answered */
    _Atomic uint64_t gives_expired; /* gives whose lease had expired (TTL too short) */
    _Atomic uint64_t local_takes;   /* reservations admitted by the local share (Redis lost) */
};

/* Redis's view of one key, as the coordinator last read it (no secret). */
struct budget_key_pub {
    uint32_t valid; /* 1 once read */
    uint32_t leases;
    uint32_t disabled;
    uint32_t pad0;
    int64_t rate_limited_until_unix_ms; /* 0 = not rate-limited */
    int64_t rpm_left;                   /* requests a burst could take now */
    int64_t tpm_left;
    int64_t read_realtime_ns; /* when it was read */
    char reason[64];          /* disabled: why */
};

/* One key's shared-budget side: Redis's view (seqlock, coordinator writes) and counters. */
struct budget_key_sh {
    alignas(SHM_CACHELINE) _Atomic uint32_t pub_seq;
    uint64_t pub[(sizeof(struct budget_key_pub) + 7) / 8]; /* struct budget_key_pub */
    _Atomic int64_t local_tat_ns;   /* Redis lost: the 1/N pace (GCRA TAT, CLOCK_MONOTONIC) */
    _Atomic uint64_t takes;         /* OK answers for this key */
    _Atomic uint64_t waits;         /* WAIT answers */
    _Atomic uint64_t shared_limits; /* WAITs because a 429 elsewhere parked the key */
};

/*
 * The Redis lease a worker holds (one request at a time), published through
 * a seqlock (its one writer is that worker) so the coordinator can renew it
 * while the request runs (leases stay short, so a host that dies gives its
 * keys back soon) and give it back at once when it reaps the worker dead.
 */
struct budget_lease_pub {
    uint32_t held; /* 1: lease_id names a lease this worker holds */
    uint32_t key_index;
    char lease_id[SHM_BUDGET_LEASE_MAX];
};

struct budget_lease_sh {
    alignas(SHM_CACHELINE) _Atomic uint32_t seq;
    uint64_t pub[(sizeof(struct budget_lease_pub) + 7) / 8]; /* struct budget_lease_pub */
};

/* What a gate limits, in gate_sh.kind. */
enum gate_kind {
    GATE_ENDPOINT = 0, /* requests in flight to one provider endpoint */
    GATE_NODE = 1,     /* items in one workflow node (the run file's max_concurrent) */
    GATE_GROUP = 2,    /* items of one group running (a workstream's step_groups) */
};

/*
 * The adaptive limiter's last window and decision for an endpoint gate,
 * written by the coordinator only, through the gate's seqlock (status_seq).
 */
struct gate_status {
    uint32_t from, to;           /* the last change of the limit (equal: none yet) */
    uint32_t win_finished;       /* requests that ended in the last closed window */
    uint32_t win_errors;         /* of which errors (429, 5xx, timeouts, connect errors) */
    uint32_t win_median_ms;      /* median latency of its successes */
    uint32_t windows;            /* windows closed so far */
    double win_goodput;          /* successes per second in it */
    int64_t changed_realtime_ns; /* CLOCK_REALTIME of the last change; 0 = none */
    char reason[64];             /* "error share 31 %" */
};

/*
 * One concurrency limit shared by every worker (shm/gate.h): `mask` has bit i
 * set while worker slot i holds one of its places; a place is taken with one
 * CAS only while fewer than `limit` bits are set, and given back with one
 * atomic AND, by the worker or, for a dead worker, by the coordinator.
 */
struct gate_sh {
    alignas(SHM_CACHELINE) _Atomic uint32_t mask; /* worker slots holding a place */
    _Atomic uint32_t limit;                       /* places; 0 = no limit */
    uint32_t kind;                                /* enum gate_kind (constant) */
    uint32_t ref;                                 /* endpoint, node or group index (constant) */
    int64_t timeout_ns;           /* groups: how long after its first start it may run; 0 = none */
    _Atomic int64_t deadline_ns;  /* set by the first taker: first start + timeout_ns */
    _Atomic uint64_t taken;       /* places given */
    _Atomic uint64_t refused;     /* takes refused: full, or past the deadline */
    _Atomic uint32_t max_held;    /* most places held at once */
    _Atomic uint32_t changes;     /* adaptive limit changes */
    char name[SHM_GATE_NAME_MAX]; /* constant: endpoint URL, node or group name */
    _Atomic uint32_t status_seq;  /* seqlock over status */
    uint32_t pad0;
    uint64_t status[(sizeof(struct gate_status) + 7) / 8]; /* struct gate_status */
};

/*
 * One worker slot's cumulative samples of one endpoint, for the adaptive
 * limiter (runtime/limiter.h: finished, errors and a latency histogram of the
 * successes). Written only by the worker in that slot (a load and a store,
 * relaxed), never reset: the coordinator keeps what it saw at the last
 * window and takes the difference, so nobody ever needs a read-modify-write
 * across processes and a worker dying mid-update costs at most its own count.
 */
struct lwin_sh {
    alignas(SHM_CACHELINE) _Atomic uint32_t finished;
    _Atomic uint32_t errors;
    _Atomic uint32_t hist[SHM_LIM_BUCKETS];
};

_Static_assert(SHM_MAX_WORKERS <= 32, "one admission bit per worker in in_flight_mask");
_Static_assert(SHM_MAX_WORKERS <= 32, "one gate bit per worker in gate_sh.mask");
_Static_assert(sizeof(struct gate_sh) % SHM_CACHELINE == 0, "gate slot is whole lines");
_Static_assert(sizeof(struct lwin_sh) % SHM_CACHELINE == 0, "window slot is whole lines");
_Static_assert(sizeof(struct shm_header_sh) <= SHM_HEADER_SIZE, "header fits its region");
_Static_assert(sizeof(struct prog_slot_sh) % SHM_CACHELINE == 0, "prog slot is whole lines");
_Static_assert(sizeof(struct cred_slot_sh) % SHM_CACHELINE == 0, "cred slot is whole lines");
_Static_assert(sizeof(struct shm_worker_sh) % SHM_CACHELINE == 0, "worker slot is whole lines");
_Static_assert(sizeof(struct endpoint_sh) % SHM_CACHELINE == 0, "endpoint slot is whole lines");
_Static_assert(sizeof(struct node_stat_sh) % SHM_CACHELINE == 0, "node slot is whole lines");
_Static_assert(sizeof(struct budget_run_sh) % SHM_CACHELINE == 0, "budget run is whole lines");
_Static_assert(sizeof(struct budget_key_sh) % SHM_CACHELINE == 0, "budget key is whole lines");
_Static_assert(sizeof(struct budget_lease_sh) % SHM_CACHELINE == 0, "budget lease is whole lines");
_Static_assert(sizeof(struct prog_item) <= sizeof(((struct prog_slot_sh *)0)->data),
               "prog item fits the slot payload");

/*
 * docs/shm-layout.md documents every offset and size of these structures;
 * tests/integration/test_shm_layout.sh compiles each documented number
 * against this header (offsetof, sizeof), so a change that moves a field
 * fails `make test` until the page (and SHM_LAYOUT_VERSION) follow.
 */

#endif
