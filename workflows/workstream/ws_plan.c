/*
 * ws_plan.c - a workstream file (SPEC 8) as the items of a run: the
 * workstream workflow's load, check, write_dot and unload hooks (runtime/wf.h).
 *
 *   - the one operand is the file; it is loaded and validated (ws.c: ids,
 *     fields, unknown dependencies, cycles as "Step deadlock detected: a -> b
 *     -> a");
 *   - every step becomes an item with its dependencies, its definition
 *     (struct ws_step) and the roles it needs (a draft key for a prompt step);
 *   - parallelism: execution.parallel false runs one step at a time whatever
 *     --parallel says; otherwise --parallel N (or auto), else
 *     execution.max_workers ("auto": the runtime's --parallel auto), else 3
 *     (the value of a bare --parallel), capped at 10; adaptive_scaling is
 *     --adaptive;
 *   - a step's timeout and retries, its group (step_groups: a limit of
 *     max_workers, 1 when sequential, and a timeout) and, in a sequential
 *     group, the step listed before it as the one it starts after, become
 *     the runtime's per-item settings; rate_limit_delay the least time
 *     between two step starts;
 *   - state is kept per workspace (runtime/workspace.h, ADR-14): the key is
 *     made of the resolved workstream file and the resolved current folder
 *     (where the commands run), so a clone or a second folder running the same
 *     file runs its own steps;
 *   - a step is pending when its record under
 *     $AGENTOS_HOME/workstreams/<id>/<key>/<step>.md is missing or was made
 *     from another definition (its hash covers the step and its
 *     dependencies); the runtime adds "or a step it depends on is pending";
 *   - check: when steps can run at once, two steps that may run together must
 *     not list overlapping files (--dot and --dry-run can still show such a
 *     graph).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/result.h"
#include "runtime/workspace.h"
#include "shm/util.h"
#include "workflows/workflows.h"
#include "workflows/workstream/ws.h"
#include "workflows/workstream/ws_plan.h"

static const char *ws_file(const struct wf_plan *p)
{
    return p->o->ids[0];
}

static void set_parallel(struct wf_plan *p, const struct workstream *ws)
{
    const struct run_opts *o = p->o;
    long par;
    if (ws->adaptive)
        p->adaptive = 1;
    p->start_gap_s = ws->rate_limit_delay;
    if (!ws->parallel) {
        par = 1;
        p->parallel_auto = 0;
        if (o->parallel_given && o->parallel > 1)
            fprintf(stderr,
                    "agentos-run: note: %s sets execution.parallel to false; running one step "
                    "at a time\n",
                    ws_file(p));
    } else if (o->parallel_given) {
        par = o->parallel;
    } else if (ws->max_workers_auto) {
        par = ARGS_PARALLEL_MAX; /* the plan picks the width (runtime/plan_size.c) */
        p->parallel_auto = 1;
    } else if (ws->max_workers > 0) {
        par = ws->max_workers;
        if (par > ARGS_PARALLEL_MAX) {
            fprintf(stderr, "agentos-run: warning: execution.max_workers %ld is capped at %d\n",
                    par, ARGS_PARALLEL_MAX);
            par = ARGS_PARALLEL_MAX;
        }
    } else {
        par = ARGS_PARALLEL_BARE;
    }
    p->parallel = (int)par;
    if (!o->timeout_given && ws->timeout_per_step > 0)
        p->timeout_per_step = ws->timeout_per_step;
}

/* Was this step passed by an earlier run from the same definition? */
static int recorded_passed(const struct item *it)
{
    struct result_info ri;
    return result_read(it->out_path, &ri) == 0 && !strcmp(ri.status, "passed") &&
           !strcmp(ri.sha256, it->sha256);
}

/* One item per step: record path, hash, dependencies, definition, roles, pending. */
static int build_items(struct wf_plan *p, const struct workstream *ws, const char *key)
{
    p->items.v = calloc(ws->nsteps + 1, sizeof(*p->items.v));
    if (!p->items.v)
        return -ENOMEM;
    p->items.n = ws->nsteps;
    for (size_t i = 0; i < ws->nsteps; i++) {
        struct item *it = &p->items.v[i];
        const struct ws_step *st = &ws->steps[i];
        util_strlcpy(it->id, st->id, sizeof(it->id));
        util_strlcpy(it->stem, st->id, sizeof(it->stem));
        util_strlcpy(it->sha256, st->sha256, sizeof(it->sha256));
        it->input_path = strdup(ws_file(p));
        it->out_path = util_asprintf("%s/workstreams/%s/%s/%s.md", p->home, ws->id, key, st->id);
        it->deps = st->ndeps ? calloc(st->ndeps, sizeof(*it->deps)) : NULL;
        if (!it->input_path || !it->out_path || (st->ndeps && !it->deps))
            return -ENOMEM;
        if (st->ndeps) /* memcpy from NULL is undefined even for 0 bytes (UBSan) */
            memcpy(it->deps, st->deps, st->ndeps * sizeof(*it->deps));
        it->ndeps = st->ndeps;
        it->def = st;
        it->detail = st->run ? "run" : "prompt";
        it->roles = st->prompt ? CRED_ROLE_DRAFT : 0;
        it->pending = !recorded_passed(it);
        it->timeout_s = st->timeout_s;
        it->retries = st->retries;
        it->group = st->group;
    }
    return 0;
}

/*
 * Step records from before records were kept per folder
 * (<home>/workstreams/<id>/<step>.md) do not say which folder made them, so
 * none can be trusted for this one: they move to pre-workspace/ beside them,
 * kept, and the run says so once (the move makes it once). Not for --dry-run
 * or --dot, which change nothing.
 */
static void set_aside_unkeyed_records(const struct wf_plan *p, const struct workstream *ws)
{
    char dir[PATH_MAX], aside[PATH_MAX + 16], from[2 * PATH_MAX], to[2 * PATH_MAX];
    if (p->o->dry_run || p->o->dot ||
        util_pathf(dir, sizeof(dir), "%s/workstreams/%s", p->home, ws->id) < 0 ||
        util_pathf(aside, sizeof(aside), "%s/pre-workspace", dir) < 0)
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    size_t moved = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        struct stat st;
        if (n < 4 || strcmp(de->d_name + n - 3, ".md") || de->d_name[0] == '.' ||
            util_pathf(from, sizeof(from), "%s/%s", dir, de->d_name) < 0 ||
            util_pathf(to, sizeof(to), "%s/%s", aside, de->d_name) < 0 || lstat(from, &st) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        if ((moved || util_mkdir_p(aside, 0700) == 0) && rename(from, to) == 0)
            moved++;
    }
    closedir(d);
    if (moved) {
        printf("[COORDINATOR] Step records are now kept per folder; %zu record%s of %s from "
               "before do not say which folder made %s: moved to %s, and the steps run again "
               "here\n",
               moved, moved == 1 ? "" : "s", ws->id, moved == 1 ? "it" : "them", aside);
        fflush(stdout);
    }
}

/* step_groups as the runtime's item groups; a sequential group's order as `after`. */
static int build_groups(struct wf_plan *p, struct workstream *ws)
{
    if (!ws->ngroups)
        return 0;
    struct item_group *v = calloc(ws->ngroups, sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (size_t g = 0; g < ws->ngroups; g++) {
        const struct ws_group *wg = &ws->groups[g];
        util_strlcpy(v[g].name, wg->id, sizeof(v[g].name));
        v[g].max_concurrent = wg->sequential ? 1 : (uint32_t)wg->max_workers;
        v[g].timeout_s = wg->timeout_s;
        for (size_t k = 1; wg->sequential && k < wg->nsteps; k++)
            p->items.v[wg->steps[k]].after = wg->steps[k - 1] + 1;
    }
    p->groups = v;
    p->ngroups = ws->ngroups;
    return 0;
}

int ws_plan_load(struct wf_plan *p, char *err, size_t errlen)
{
    const struct run_opts *o = p->o;
    if (o->nids > 1) {
        util_errf(err, errlen, "a workstream run takes one FILE.json: %s, then %s", o->ids[0],
                  o->ids[1]);
        return -EINVAL;
    }
    if (o->nids != 1 || o->all) {
        util_errf(err, errlen, "%s",
                  o->all ? "--all applies to item workflows, not workstreams"
                         : "workstream needs a FILE.json");
        return -EINVAL;
    }
    if (o->items_dir || o->out_dir) {
        util_errf(err, errlen, "%s applies to item workflows, not workstreams",
                  o->items_dir ? "--items" : "--out");
        return -EINVAL;
    }
    struct workstream *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return -ENOMEM;
    p->priv = ws;
    int r = ws_load(ws_file(p), ws, err, errlen);
    if (r < 0)
        return r;
    set_parallel(p, ws);
    util_errf(p->title, sizeof(p->title), "Workstream %s", ws->id);
    util_errf(p->where, sizeof(p->where), "in workstream %s", ws->id);
    /* The commands run in the current folder: it is part of the workspace. */
    const char *where[] = {ws_file(p), "."};
    char key[WORKSPACE_KEY_LEN + 1];
    r = workspace_key(where, 2, key, p->workspace, sizeof(p->workspace), err, errlen);
    if (r < 0)
        return r;
    if (util_pathf(p->ckpt_dir, sizeof(p->ckpt_dir), "%s/checkpoints/workstream-%s/%s", p->home,
                   ws->id, key) < 0) {
        util_errf(err, errlen, "the checkpoint folder under %.60s... is too long", p->home);
        return -ENAMETOOLONG;
    }
    set_aside_unkeyed_records(p, ws);
    r = build_items(p, ws, key);
    if (r == 0)
        r = build_groups(p, ws);
    if (r == -ENOMEM)
        util_errf(err, errlen, "out of memory planning %s", ws_file(p));
    return r;
}

int ws_plan_check(const struct wf_plan *p, char *err, size_t errlen)
{
    if (p->parallel <= 1)
        return 0;
    return ws_check_files(p->priv, ws_file(p), err, errlen);
}

void ws_plan_dot(const struct wf_plan *p, FILE *out)
{
    ws_write_dot(p->priv, out);
}

void ws_plan_unload(struct wf_plan *p)
{
    free((void *)p->groups);
    p->groups = NULL;
    p->ngroups = 0;
    if (p->priv) {
        ws_free(p->priv);
        free(p->priv);
        p->priv = NULL;
    }
}
