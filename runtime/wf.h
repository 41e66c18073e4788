/*
 * wf.h - how the runtime runs a workflow: a table of nodes.
 *
 * The runtime never includes a workflow. tools/agentos-run.c passes a
 * struct wf_desc to the coordinator; the worker runs the item's nodes from it,
 * starting at desc->nodes[0] (or at the node a checkpoint names), and after
 * every node saves the state to the item's checkpoint in one transaction.
 *
 * A node function reads and updates it->state (a cJSON object that is the
 * whole persistent state of the item: whatever is not in it is lost at a
 * crash), sets it->next to the name of the next node (NULL = item finished)
 * and returns 0. On failure it fills it->reason ("Invalid spec format") and
 * returns a negative errno; -ECANCELED means "stopped by shutdown, not a
 * failure": the node is re-run on resume.
 * The finishing node sets it->outcome and writes the result file.
 */
#ifndef AGENTOS_RUNTIME_WF_H
#define AGENTOS_RUNTIME_WF_H

#include <signal.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "runtime/llm.h"
#include "runtime/log.h"

struct wf_item;

struct wf_node {
    const char *name; /* "N1_design" */
    int (*run)(struct wf_item *it);
};

struct wf_desc {
    const char *name;      /* "lld" */
    const char *id_prefix; /* "LLD" */
    const char *items_dir; /* default --items, "lld/pending" */
    const char *out_dir;   /* default --out, "lld/done" */
    const struct wf_node *nodes;
    size_t node_count;
};

enum wf_outcome {
    WF_OUTCOME_NONE = 0,
    WF_OUTCOME_APPROVED = 1,
    WF_OUTCOME_NEEDS_REVISION = 2,
    WF_OUTCOME_PASSED = 3, /* a workstream step whose acceptance tests passed */
};

struct wf_item {
    const struct wf_desc *wf;
    const char *id;   /* "LLD-42" */
    const char *stem; /* "42" */
    const char *input_path;
    const char *out_path;
    const char *home;        /* $AGENTOS_HOME (prompt overrides in home/prompts) */
    const char *prompts_dir; /* built-in templates (workflows/prompts or installed copy) */
    char source_sha256[65];  /* of the input when the run started */
    int max_reviews;
    cJSON *state;     /* persistent state; owned by the runtime */
    const char *next; /* set by the node */
    struct llm_client *llm;
    struct log_sink *log;
    char reason[256]; /* failure reason */
    int outcome;      /* enum wf_outcome, set by the finishing node */
    int rounds;       /* review rounds, set by the finishing node */
    /* For workflows whose items are not files (workstream steps): */
    const void *def;             /* the item's definition (struct ws_step), NULL otherwise */
    long timeout_s;              /* a node running longer fails the item */
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
