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

#endif
