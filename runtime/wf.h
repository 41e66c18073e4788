/*
 * wf.h - what a workflow is to the runtime: a table of nodes, and optionally
 * where its items come from. The contract between runtime/ and workflows/.
 *
 * The runtime never includes a workflow. tools/agentos-run.c picks a struct
 * wf_desc from the table in workflows/ and passes it to the coordinator; the
 * runtime calls the workflow only through the function pointers below.
 *
 * Items. By default a workflow's items are the *.md files of a folder
 * (items_dir, ID "<id_prefix>-<STEM>", pending while <out_dir>/<ID>.md is
 * missing or made from other input). A workflow whose items come from
 * somewhere else supplies `load`: it fills plan->items (IDs, checkpoint stems,
 * input and result paths, hashes, pending, and optionally dependencies and an
 * opaque per-item definition) and may set the plan's effective settings. The
 * runtime then does the rest for every workflow alike: it cascades "pending"
 * along dependencies, orders the items by wave, selects, answers --dry-run,
 * and at run time gates each item's claim on its dependencies (runtime/deps.h):
 * an item starts only when every item it depends on succeeded (approved or
 * passed), and is skipped when one did not.
 *
 * Nodes. The worker runs an item's nodes from desc->nodes[0] (or from the node
 * a checkpoint names) and after every node saves the state to the item's
 * checkpoint in one transaction. A node function reads and updates it->state
 * (a cJSON object that is the whole persistent state of the item: whatever is
 * not in it is lost at a crash), sets it->next to the name of the next node
 * (NULL = item finished) and returns 0. On failure it fills it->reason
 * ("Invalid spec format") and returns a negative errno; -ECANCELED means
 * "stopped by shutdown, not a failure": the node is re-run on resume. The
 * finishing node sets it->outcome and writes the result file.
 */
#ifndef AGENTOS_RUNTIME_WF_H
#define AGENTOS_RUNTIME_WF_H

#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "llm/llm.h"
#include "runtime/args.h"
#include "runtime/items.h"
#include "runtime/log.h"

struct wf_item;
struct wf_plan;

struct wf_node {
    const char *name; /* "N1_design" */
    int (*run)(struct wf_item *it);
};

/* wf_desc.flags */
#define WF_REVIEW_ROUNDS 1u /* items go through review rounds: the summary shows them */

struct wf_desc {
    const char *name;      /* "lld" */
    const char *id_prefix; /* "LLD" (folder items) */
    const char *items_dir; /* default --items, "lld/pending" (folder items) */
    const char *out_dir;   /* default --out, "lld/done" (folder items) */
    const char *noun;      /* what an item is called on the console: "item", "step" */
    uint32_t roles;        /* CRED_ROLE_* bits a folder item's nodes need */
    uint32_t outcomes;     /* 1u << PROG_* of the outcomes the summary always counts */
    unsigned flags;        /* WF_* */
    const struct wf_node *nodes;
    size_t node_count;
    /*
     * Optional: bring the items yourself instead of a folder of *.md files.
     * plan->o holds the command line (its ids[] are the operands after the
     * workflow name); plan->home, ->parallel, ->timeout_per_step and
     * ->ckpt_dir hold defaults the hook may change; it sets plan->title and
     * plan->where, and keys its state by workspace (runtime/workspace.h:
     * ->ckpt_dir below a folder named by the key, ->workspace). 0, or -errno
     * with a one-line err naming the file and field.
     */
    int (*load)(struct wf_plan *plan, char *err, size_t errlen);
    /* Optional (with load): check what --dry-run and --dot do not need (0 or -errno, err). */
    int (*check)(const struct wf_plan *plan, char *err, size_t errlen);
    /* Optional: print the items' graph as Graphviz DOT (--dot). */
    void (*write_dot)(const struct wf_plan *plan, FILE *out);
    /* Optional: free what load attached to plan->priv. */
    void (*unload)(struct wf_plan *plan);
};

/*
 * A run's plan: what the runtime decided before anything was created. Filled
 * by runtime/plan.c, partly by a workflow's load hook.
 */
struct wf_plan {
    const struct wf_desc *wf;
    const struct run_opts *o;
    char home[PATH_MAX];
    char items_dir[PATH_MAX]; /* folder items */
    char out_dir[PATH_MAX];
    char ckpt_dir[PATH_MAX];      /* <home>/checkpoints/<workspace key>, or the workflow's choice */
    char workspace[2 * PATH_MAX]; /* what the key was made of (resolved paths), or "" */
    char title[96];               /* "lld", "Workstream ws-utils" */
    char where[PATH_MAX + 32];    /* "for lld in lld/pending", "in workstream ws-utils" */
    struct item_list items;       /* everything discovered, in wave order */
    int parallel;                 /* effective width */
    int parallel_auto;            /* the load hook asks for --parallel auto (max_workers "auto") */
    int adaptive;                 /* the load hook asks for --adaptive (adaptive_scaling) */
    long timeout_per_step;        /* seconds */
    const struct item_group *groups; /* groups the items may belong to (item.group); owned by
                                        the load hook */
    size_t ngroups;
    double start_gap_s; /* at least this long between two item starts (rate_limit_delay) */
    void *priv;         /* the workflow's own (load/unload) */
};

enum wf_outcome {
    WF_OUTCOME_NONE = 0,
    WF_OUTCOME_APPROVED = 1,
    WF_OUTCOME_NEEDS_REVISION = 2,
    WF_OUTCOME_PASSED = 3, /* ran, and its acceptance checks passed */
};

struct wf_item {
    const struct wf_desc *wf;
    const struct wf_plan *plan;
    const char *id;   /* "LLD-42" */
    const char *stem; /* "42" */
    const char *input_path;
    const char *out_path;
    const char *home;        /* $AGENTOS_HOME (prompt overrides in home/prompts) */
    const char *prompts_dir; /* built-in templates (workflows/prompts or installed copy) */
    /* Of the input: from discovery; a node that reads the input sets it to the hash of
     * the bytes it read (they may have changed since), and the runtime records that in
     * the checkpoint with the node's save, so the result and the text agree. */
    char source_sha256[65];
    int max_reviews;
    cJSON *state;     /* persistent state; owned by the runtime */
    const char *next; /* set by the node */
    struct llm_client *llm;
    struct log_sink *log;
    char reason[256];    /* failure reason */
    int outcome;         /* enum wf_outcome, set by the finishing node */
    int rounds;          /* review rounds, set by the finishing node */
    const void *def;     /* the item's definition from the workflow's load hook, else NULL */
    long timeout_s;      /* a node running longer fails the item */
    int64_t deadline_ns; /* CLOCK_MONOTONIC by which the item must end (its group's timeout);
                            0 = none. A node that waits bounds its wait by it */
    volatile sig_atomic_t *stop; /* set at shutdown: a node stops and returns -ECANCELED */
};

/* Index of a node by name, or -1. */
static inline int wf_node_index(const struct wf_desc *d, const char *name)
{
    for (size_t i = 0; i < d->node_count; i++)
        if (__builtin_strcmp(d->nodes[i].name, name) == 0)
            return (int)i;
    return -1;
}

#endif
