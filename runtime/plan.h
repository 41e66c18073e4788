/*
 * plan.h - deciding what a run will do, before anything is created: folders,
 * items, --dry-run, credentials, the run folder (see plan.c).
 */
#ifndef AGENTOS_RUNTIME_PLAN_H
#define AGENTOS_RUNTIME_PLAN_H

#include "runtime/run.h"

/*
 * Fill rc (home, folders, items, selection, credentials, run folder and id)
 * from rc->o and rc->wf. Returns 0 when the run should start; -1 when there
 * is nothing to start and the exit status is 0 (--dry-run printed its list,
 * or nothing is pending); 2 for a usage or configuration error, already
 * reported in one line on stderr.
 */
int plan_run(struct run_ctx *rc);

/*
 * The steps of a workstream file (rc->o->workstream) as the run's items:
 * load and validate the file, answer --dot and --dry-run, set the effective
 * parallelism and timeout, select the pending steps (plan_ws.c). 0, -1 or 2
 * as plan_run.
 */
int plan_ws_steps(struct run_ctx *rc);

/* "new", "resume at NODE" or "checkpoint unreadable ..." for --dry-run. */
void plan_resume_point(const struct run_ctx *rc, const struct item *it, char *what, size_t len);

#endif
