/*
 * plan.h - deciding what a run will do, before anything is created: folders,
 * items, --dry-run and --dot, credentials, the run folder (see plan.c;
 * plan_ckpt.c for the checkpoints it finds, plan_size.c for the run file).
 */
#ifndef AGENTOS_RUNTIME_PLAN_H
#define AGENTOS_RUNTIME_PLAN_H

#include "runtime/run.h"

/*
 * Fill rc (plan, selection, credentials, run folder and id) from rc->o and
 * rc->wf. Returns 0 with *nothing_to_do = 0 when the run should start, or
 * with *nothing_to_do = 1 when there is nothing to start and the exit status
 * is 0 (--dry-run or --dot printed, or nothing is pending); -errno for a usage
 * or configuration error, already reported in one line on stderr (exit 2).
 */
int plan_run(struct run_ctx *rc, int *nothing_to_do);

/* Free what plan_run allocated (safe on a partly filled plan). */
void plan_free(struct run_ctx *rc);

/* "new", "resume at NODE" or "checkpoint unreadable ..." for --dry-run. */
void plan_resume_point(const struct run_ctx *rc, const struct item *it, char *what, size_t len);

/*
 * The built-in workflows (NULL-terminated), which a run file may name besides
 * the run's own (tools/agentos-run.c hands the table over before coord_run).
 */
void plan_known_workflows(const struct wf_desc *const *table);

/*
 * Read the run file (--config, else <home>/agentos.json if present) into
 * rc->cfg, checked against the known workflows and rc->creds' key ids, and
 * keep its limits and key masks of this run's nodes (rc->node_limits,
 * rc->node_keys). 0, or -errno reported in one line naming file and field.
 */
int plan_runcfg(struct run_ctx *rc);

/*
 * rc->adaptive from the plan; with plan.parallel_auto, plan.parallel from the
 * machine and the keys' request slots (runtime/width.h) and the reason in
 * rc->width_why. 0.
 */
int plan_width(struct run_ctx *rc);

#endif
