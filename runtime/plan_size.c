/*
 * plan_size.c - the run sizes itself, before the segment exists (SPEC 12).
 *
 * The run file (--config FILE, else <home>/agentos.json when it exists) is
 * checked against every built-in workflow and the run's own, so one file can
 * hold the settings of lld and issue runs alike, and against the key ids of
 * the credentials file; its per-node limits and key masks are kept for the
 * nodes of this run's workflow. `--parallel auto` (or a workstream's
 * max_workers "auto") takes its width from the machine and the keys' request
 * slots (runtime/width.h); the reason is kept for the run's first console
 * line. Everything here is a configuration error (exit 2) when it fails.
 */
#include "runtime/plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/plan_private.h"
#include "shm/util.h"

#define PLAN_MAX_WORKFLOWS 16

static const struct wf_desc *const *plan_table; /* the built-in workflows, NULL-terminated */

void plan_known_workflows(const struct wf_desc *const *table)
{
    plan_table = table;
}

/* The workflows a run file may name: the built-in table, and this run's if it is not in it. */
static size_t plan_workflows(const struct run_ctx *rc, const struct wf_desc **v)
{
    size_t n = 0;
    int have_own = 0;
    for (size_t i = 0; plan_table && plan_table[i] && n < PLAN_MAX_WORKFLOWS - 1; i++) {
        v[n++] = plan_table[i];
        have_own |= plan_table[i] == rc->wf;
    }
    if (!have_own)
        v[n++] = rc->wf;
    return n;
}

/* Node names of each workflow, for struct runcfg_known. 0 or -ENOMEM. */
static int plan_known(const struct run_ctx *rc, const struct wf_desc **wfs, size_t nwf,
                      struct runcfg_workflow *kw, const char ***names, const char ***keys,
                      struct runcfg_known *k)
{
    for (size_t w = 0; w < nwf; w++) {
        names[w] = calloc(wfs[w]->node_count + 1, sizeof(**names));
        if (!names[w])
            return -ENOMEM;
        for (size_t i = 0; i < wfs[w]->node_count; i++)
            names[w][i] = wfs[w]->nodes[i].name;
        kw[w] = (struct runcfg_workflow){wfs[w]->name, names[w], wfs[w]->node_count};
    }
    *keys = calloc(rc->creds.n + 1, sizeof(**keys));
    if (!*keys)
        return -ENOMEM;
    for (size_t i = 0; i < rc->creds.n; i++)
        (*keys)[i] = rc->creds.v[i].id;
    *k = (struct runcfg_known){kw, nwf, *keys, rc->creds.n};
    return 0;
}

/* Keep the settings of this run's workflow's nodes. */
static void plan_take_nodes(struct run_ctx *rc, size_t own)
{
    for (size_t i = 0; i < rc->cfg.node_count; i++) {
        const struct runcfg_node *n = &rc->cfg.nodes[i];
        if (n->workflow != own || n->node >= SHM_MAX_NODES)
            continue;
        rc->node_limits[n->node] = n->max_concurrent;
        rc->node_keys[n->node] = n->key_count ? n->key_mask : NULL;
    }
}

int plan_runcfg(struct run_ctx *rc)
{
    const struct wf_desc *wfs[PLAN_MAX_WORKFLOWS];
    struct runcfg_workflow kw[PLAN_MAX_WORKFLOWS];
    const char **names[PLAN_MAX_WORKFLOWS] = {0}, **keys = NULL;
    struct runcfg_known k;
    char path[PATH_MAX], err[PATH_MAX + 512];
    size_t nwf = plan_workflows(rc, wfs);
    int r;

    runcfg_init(&rc->cfg);
    rc->cfg_wf = -1;
    if (rc->o->config)
        r = util_pathf(path, sizeof(path), "%s", rc->o->config);
    else
        r = runcfg_default_path(rc->plan.home, path, sizeof(path));
    if (r < 0) {
        PLAN_ERR("the run file's path is too long: %.60s...\n",
                 rc->o->config ? rc->o->config : rc->plan.home);
        return r;
    }
    r = plan_known(rc, wfs, nwf, kw, names, &keys, &k);
    if (r == 0) {
        r = runcfg_load(path, !rc->o->config, &k, &rc->cfg, err, sizeof(err));
        if (r < 0)
            PLAN_ERR("%s\n", err);
    } else {
        PLAN_ERR("out of memory reading the run file %s\n", path);
    }
    for (size_t w = 0; w < nwf; w++)
        free(names[w]);
    free(keys);
    if (r < 0)
        return r;
    if (rc->cfg.loaded)
        util_strlcpy(rc->cfg_path, path, sizeof(rc->cfg_path));
    for (size_t w = 0; w < nwf; w++)
        if (wfs[w] == rc->wf)
            rc->cfg_wf = (int)w;
    plan_take_nodes(rc, (size_t)rc->cfg_wf);
    return 0;
}

/* The request slots of the keys that can serve the selected items (their roles). */
static uint32_t plan_pool_slots(const struct run_ctx *rc)
{
    uint32_t slots = 0;
    for (size_t i = 0; i < rc->creds.n; i++) {
        uint32_t conc = rc->creds.v[i].concurrency ? rc->creds.v[i].concurrency : 1;
        if (rc->creds.v[i].roles & rc->roles_needed)
            slots += conc < SHM_KEY_HOLDERS_MAX ? conc : SHM_KEY_HOLDERS_MAX;
    }
    return slots;
}

int plan_width(struct run_ctx *rc)
{
    struct wf_plan *p = &rc->plan;
    struct width_machine m;

    rc->adaptive = p->adaptive || p->parallel_auto;
    rc->width_why[0] = '\0';
    if (!p->parallel_auto)
        return 0;
    width_probe(&m); /* a figure it cannot read stays unknown and bounds nothing */
    /* A worker is a fork of this process: its RSS starts as ours. */
    m.worker_rss_kib = util_rss_kib();
    uint32_t slots = rc->narrow_to_keys ? plan_pool_slots(rc) : WIDTH_NO_POOL;
    p->parallel = (int)width_auto(&m, slots, rc->width_why, sizeof(rc->width_why));
    return 0;
}
