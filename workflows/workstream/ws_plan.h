/*
 * ws_plan.h - the workstream workflow's plan hooks (struct wf_desc load, check,
 * write_dot, unload): a workstream file as the items of a run (ws_plan.c).
 */
#ifndef AGENTOS_WORKFLOWS_WS_PLAN_H
#define AGENTOS_WORKFLOWS_WS_PLAN_H

#include <stdio.h>

#include "runtime/wf.h"

/* Load the file named by the one operand into plan->items (priv: the workstream). 0 or -errno. */
int ws_plan_load(struct wf_plan *plan, char *err, size_t errlen);

/* Steps that may run at once must not list overlapping files. 0 or -errno with err. */
int ws_plan_check(const struct wf_plan *plan, char *err, size_t errlen);

/* The graph as Graphviz DOT. */
void ws_plan_dot(const struct wf_plan *plan, FILE *out);

/* Free the loaded workstream. */
void ws_plan_unload(struct wf_plan *plan);

#endif
