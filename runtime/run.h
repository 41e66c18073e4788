/*
 * run.h - what the coordinator and its workers share about one run, in
 * process memory (the part every forked worker inherits). The shared,
 * mutable part lives in the segment (shm_layout.h).
 */
#ifndef AGENTOS_RUNTIME_RUN_H
#define AGENTOS_RUNTIME_RUN_H

#include <signal.h>
#include <stddef.h>

#include "runtime/args.h"
#include "runtime/credfile.h"
#include "runtime/items.h"
#include "runtime/wf.h"
#include "shm/segment.h"

struct workstream;

struct run_ctx {
    const struct wf_desc *wf;
    const struct run_opts *o;
    char home[2048];
    char items_dir[2048];
    char out_dir[2048];
    char run_dir[2048];
    char run_id[SHM_RUN_ID_MAX];
    const char *prompts_dir;
    const char *workflow_db; /* AGENTOS_WORKFLOW_DB when one item runs alone */
    long simulate_429;       /* AGENTOS_SIMULATE_429, -1 = off */
    struct shm_segment seg;
    struct cred_file creds;
    struct item_list items; /* everything discovered */
    size_t *sel;            /* prog slot i runs items.v[sel[i]] */
    size_t nsel;
    int console_wfd; /* workers' end of the console pipe */
    /* Effective settings (the flags, or for a workstream its execution block). */
    int parallel;
    long timeout_per_step;
    uint32_t roles_needed; /* CRED_ROLE_* bits the items' requests need; 0 = no LLM at all */
    /* Workstream runs: the steps are the items (items.v[i] is ws->steps[i]). */
    struct workstream *ws;
    long *slot_of; /* per step: its progress slot in this run, -1 = not run (up to date) */
};

/* Where item `it` keeps its checkpoint. 0 or -ENAMETOOLONG. */
int run_ckpt_path(const struct run_ctx *rc, const struct item *it, char *out, size_t outlen);

/* Worker process body: take items from the segment until none is left. Returns the exit status. */
int wrk_main(struct run_ctx *rc, unsigned worker_index);

/* Coordinator: the whole run. Returns the process exit status (SPEC 3). */
int coord_run(const struct wf_desc *wf, const struct run_opts *o, const char *prompts_dir);

#endif
