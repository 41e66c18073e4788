/*
 * run.h - what the coordinator and its workers share about one run, in
 * process memory (the part every forked worker inherits). The shared,
 * mutable part lives in the segment (shm_layout.h).
 */
#ifndef AGENTOS_RUNTIME_RUN_H
#define AGENTOS_RUNTIME_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "llm/credfile.h"
#include "runtime/shard.h"
#include "runtime/runcfg.h"
#include "runtime/wf.h"
#include "runtime/width.h"
#include "shm/segment.h"

/* Exit statuses of agentos-run (SPEC 3), in one place. */
enum run_exit {
    RUN_EXIT_OK = 0,           /* every item processed (approved, needs revision, passed) */
    RUN_EXIT_FAILED = 1,       /* an item failed, was skipped or never ended */
    RUN_EXIT_USAGE = 2,        /* usage or configuration error */
    RUN_EXIT_PAUSED = 75,      /* paused past --pause-timeout; checkpoints kept */
    RUN_EXIT_INTERRUPTED = 130 /* SIGINT/SIGTERM; checkpoints kept */
};

struct run_ctx {
    const struct wf_desc *wf;
    const struct run_opts *o;
    struct wf_plan plan;
    char run_dir[PATH_MAX];
    char run_id[SHM_RUN_ID_MAX];
    char cred_path[PATH_MAX]; /* run_cred_path() */
    const char *prompts_dir;
    const char *workflow_db; /* AGENTOS_WORKFLOW_DB when one item runs alone */
    long simulate_429;       /* AGENTOS_SIMULATE_429: every N-th request; 0 = off */
    struct shm_segment seg;
    struct cred_file creds;
    size_t *sel; /* prog slot k runs plan.items.v[sel[k]] */
    size_t nsel;
    long *slot_of;         /* per item: its progress slot in this run, -1 = not run */
    int console_wfd;       /* workers' end of the console pipe */
    uint32_t roles_needed; /* CRED_ROLE_* bits the selected items need; 0 = no LLM at all */
    int narrow_to_keys;    /* every selected item needs a key: admit no more than keys serve */
    /* CLOCK_REALTIME when the plan held: a result written since is another run's work,
     * even under --fresh (runtime/own.h) */
    int64_t started_real_ns;
    struct shard shard; /* --shard: this run's share of the items (count 1 = all) */
    size_t shard_items; /* items of the batch in this shard (any state) */
    /* --budget, else the credentials file's "budget": the shared key budget
     * (SPEC 13); "" = this run's keys are its own */
    char budget_url[320];
    uint32_t budget_lease_ms; /* a Redis lease's time-to-live (budget_lease_ttl_ms, or
                                 AGENTOS_BUDGET_LEASE_MS) */
    /* The run sizes itself (SPEC 12; runtime/plan_size.c) */
    struct runcfg cfg;                        /* the run file; defaults when there is none */
    char cfg_path[PATH_MAX];                  /* the run file read, "" when none */
    int cfg_wf;                               /* this run's workflow in the run file's terms, -1 */
    char width_why[WIDTH_WHY_MAX];            /* --parallel auto: what was chosen and why; "" */
    int adaptive;                             /* endpoint gates follow the adaptive limiter */
    const uint64_t *node_keys[SHM_MAX_NODES]; /* keys that may serve node n (a mask in cfg);
                                                 NULL = any key */
    uint32_t node_limits[SHM_MAX_NODES];      /* items in node n at once; 0 = no limit */
};

/* The item in progress slot k. */
static inline const struct item *run_item(const struct run_ctx *rc, size_t k)
{
    return &rc->plan.items.v[rc->sel[k]];
}

/*
 * Where item `it` keeps its checkpoint: <plan.ckpt_dir>/<workflow>_workflow_<stem>.db,
 * or AGENTOS_WORKFLOW_DB when one item runs alone. plan.ckpt_dir is per workspace
 * (<home>/checkpoints/<key>, or the workflow's folder below it: ADR-14).
 * 0 or -ENAMETOOLONG.
 */
int run_ckpt_path(const struct run_ctx *rc, const struct item *it, char *out, size_t outlen);

/* The credentials file: --credentials, else <home>/credentials.json. 0 or -ENAMETOOLONG. */
int run_cred_path(const struct run_opts *o, const char *home, char *out, size_t outlen);

/* Worker process body: take items from the segment until none is left. Returns the exit status. */
int wrk_main(struct run_ctx *rc, unsigned worker_index);

/* The PROG_* state an item ends in for a finishing node's enum wf_outcome
 * (approved, passed; anything else needs revision). Pure. */
uint32_t wrk_outcome_state(int outcome);

/* The PROG_* state a result file's "status:" stands for (approved, passed;
 * anything else, even garbage, needs revision: the result exists). Pure. */
uint32_t wrk_result_state(const char *status);

/* Coordinator: the whole run. Returns the process exit status (enum run_exit). */
int coord_run(const struct wf_desc *wf, const struct run_opts *o, const char *prompts_dir);

#endif
