/*
 * plan_private.h - what the plan's files share (private to runtime/plan*.c):
 * plan.c decides what a run will do; plan_ckpt.c deals with the checkpoints
 * the plan finds on disk; plan_size.c reads the run file and sizes the run.
 * The public API is runtime/plan.h.
 */
#ifndef AGENTOS_RUNTIME_PLAN_PRIVATE_H
#define AGENTOS_RUNTIME_PLAN_PRIVATE_H

#include <stdio.h>

#include "runtime/run.h"

/* A usage or configuration error of the plan: one line on stderr, after the prefix. */
#define PLAN_ERR(...) fprintf(stderr, "agentos-run: " __VA_ARGS__)

/* "s" unless n is 1, for "%zu item%s". */
static inline const char *plan_plural(size_t n)
{
    return n == 1 ? "" : "s";
}

/*
 * Checkpoints from before per-workspace state: each selected item's old
 * checkpoint made from its current input moves into rc->plan.ckpt_dir, said
 * once on stdout. Never during --dry-run.
 */
void plan_adopt_legacy_checkpoints(const struct run_ctx *rc);

/*
 * Remove the checkpoint of every item whose result is up to date, only while
 * owning the item (runtime/own.h). Nothing with AGENTOS_WORKFLOW_DB.
 */
void plan_remove_finished_checkpoints(const struct run_ctx *rc);

#endif
