/*
 * workflows.h - the built-in workflows and the table tools look them up in.
 *
 * Adding a workflow: one new file in workflows/ (or a folder, for one that
 * brings its own items, as workstream/ does) defining a const struct wf_desc,
 * its declaration here, and one line in wf_builtin[] (workflows.c).
 */
#ifndef AGENTOS_WORKFLOWS_WORKFLOWS_H
#define AGENTOS_WORKFLOWS_WORKFLOWS_H

#include "runtime/wf.h"
#include "shm/shm_layout.h"

extern const struct wf_desc wf_lld;   /* low-level designs: lld/pending -> lld/done */
extern const struct wf_desc wf_issue; /* issue briefs: issues/pending -> issues/done */

/* Workstream steps (SPEC 8): the items come from a workstream file, not a folder. */
extern const struct wf_desc wf_workstream;

/* Every built-in workflow, NULL-terminated. */
extern const struct wf_desc *const wf_builtin[];

/* The built-in workflow called name ("lld", "issue"), or NULL. */
const struct wf_desc *wf_find(const char *name);

#endif
