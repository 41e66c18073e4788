/*
 * workflows.c - the table of built-in workflows (see workflows.h).
 */
#include "workflows/workflows.h"

#include <string.h>

const struct wf_desc *const wf_builtin[] = {
    &wf_lld,
    &wf_issue,
    &wf_workstream,
    NULL,
};

const struct wf_desc *wf_find(const char *name)
{
    for (size_t i = 0; name && wf_builtin[i]; i++)
        if (strcmp(wf_builtin[i]->name, name) == 0)
            return wf_builtin[i];
    return NULL;
}
