/*
 * ws_exec.c - the parts of a workstream file that say how its steps run (the
 * SPEC 8 additions users bring from the seeds' examples):
 *
 *   "execution": {"parallel": true | "${env.CI == 'true'}",
 *                 "max_workers": 3 | "auto" | "${env.MAXW:-3}",
 *                 "timeout_per_step": 300, "rate_limit_delay": 0.5,
 *                 "adaptive_scaling": true}
 *   steps[].timeout (seconds, overrides timeout_per_step), steps[].retries
 *   "step_groups": [{"id": "g", "steps": ["a", "b"], "execute": "sequential",
 *                    "max_workers": 2, "timeout": 600}]
 *
 * Every string of `execution` goes through ${env...} first (ws_env.h), so a
 * number or a boolean may come from the environment as text ("3", "true"):
 * numbers are read with ws_env_number, booleans as true/false or their text.
 * Each mistake is one line naming the file and the field, step or group.
 *
 * Groups: a step is in at most one; `sequential` runs them one at a time in
 * the listed order (the runtime's per-item `after` and a group limit of 1),
 * which must not contradict their dependencies (a step listed before one it
 * depends on would wait forever); `max_workers` bounds how many run at once;
 * `timeout` counts from the group's first start (see docs/workstreams.md).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/items.h"
#include "shm/shm_layout.h"
#include "shm/util.h"
#include "workflows/workstream/ws_env.h"
#include "workflows/workstream/ws_private.h"

#define WS_WORKERS_LIMIT 1000000L /* only to keep the number a long; callers cap lower */
#define WS_TIMEOUT_LIMIT 86400L   /* one day, in seconds */
#define WS_RETRIES_LIMIT 100
#define WS_DELAY_LIMIT 3600.0

static const cJSON *ws_get(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/*
 * A number (or, from the environment, a numeric string) in [lo, hi], whole
 * unless frac. 0 and *out; -EINVAL when it is something else.
 */
static int ws_num(const cJSON *v, double lo, double hi, int frac, double *out)
{
    double d;
    if (ws_env_number(v, &d) < 0 || !(d >= lo && d <= hi))
        return -EINVAL;
    if (!frac && d != (double)(int64_t)d) /* d <= hi: the cast is defined */
        return -EINVAL;
    *out = d;
    return 0;
}

/* true/false, or "true"/"false" (what ${env...} may leave). 0 or -EINVAL. */
static int ws_bool(const cJSON *v, int *out)
{
    if (cJSON_IsBool(v)) {
        *out = cJSON_IsTrue(v);
        return 0;
    }
    if (cJSON_IsString(v) &&
        (!strcmp(v->valuestring, "true") || !strcmp(v->valuestring, "false"))) {
        *out = v->valuestring[0] == 't';
        return 0;
    }
    return -EINVAL;
}

static int ws_exec_workers(struct ws_ctx *x, const cJSON *v)
{
    double d;
    if (!v)
        return 0;
    if (cJSON_IsString(v) && !strcmp(v->valuestring, "auto")) {
        x->ws->max_workers_auto = 1;
        return 0;
    }
    if (ws_num(v, 1, INFINITY, 1, &d) == 0 && d > WS_WORKERS_LIMIT)
        return ws_fail(x, "execution.max_workers must be at most %ld", WS_WORKERS_LIMIT);
    if (ws_num(v, 1, WS_WORKERS_LIMIT, 0, &d) < 0)
        return ws_fail(x,
                       "execution.max_workers must be a whole number of at least 1, or \"auto\"");
    x->ws->max_workers = (long)d;
    return 0;
}

int ws_exec_parse(struct ws_ctx *x, cJSON *exec)
{
    struct workstream *ws = x->ws;
    char err[512];
    double d;
    if (!cJSON_IsObject(exec))
        return ws_fail(x, "execution must be an object");
    int rc = ws_env_expand(exec, "execution", ws_env_getenv, NULL, err, sizeof(err));
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0)
        return ws_fail(x, "%s", err);
    const cJSON *v = ws_get(exec, "parallel");
    if (v && ws_bool(v, &ws->parallel) < 0)
        return ws_fail(x, "execution.parallel must be true or false");
    if ((rc = ws_exec_workers(x, ws_get(exec, "max_workers"))) < 0)
        return rc;
    v = ws_get(exec, "timeout_per_step");
    if (v && ws_num(v, 1, INFINITY, 1, &d) == 0 && d > WS_TIMEOUT_LIMIT)
        return ws_fail(x, "execution.timeout_per_step must be at most %ld", WS_TIMEOUT_LIMIT);
    if (v && ws_num(v, 1, WS_TIMEOUT_LIMIT, 0, &d) < 0)
        return ws_fail(x, "execution.timeout_per_step must be a whole number of at least 1 "
                          "(seconds)");
    if (v)
        ws->timeout_per_step = (long)d;
    v = ws_get(exec, "rate_limit_delay");
    if (v && ws_num(v, 0, WS_DELAY_LIMIT, 1, &ws->rate_limit_delay) < 0)
        return ws_fail(x, "execution.rate_limit_delay must be a number of seconds from 0 to %g",
                       WS_DELAY_LIMIT);
    v = ws_get(exec, "adaptive_scaling");
    if (v && ws_bool(v, &ws->adaptive) < 0)
        return ws_fail(x, "execution.adaptive_scaling must be true or false");
    return 0;
}

int ws_exec_step(struct ws_ctx *x, struct ws_step *st)
{
    double d;
    const cJSON *v = ws_get(st->def, "timeout");
    if (v && (!cJSON_IsNumber(v) || ws_num(v, 1, WS_TIMEOUT_LIMIT, 0, &d) < 0))
        return ws_fail(x, "step %s: timeout must be a whole number of seconds from 1 to %ld",
                       st->id, WS_TIMEOUT_LIMIT);
    if (v)
        st->timeout_s = (long)d;
    v = ws_get(st->def, "retries");
    if (v && (!cJSON_IsNumber(v) || ws_num(v, 0, WS_RETRIES_LIMIT, 0, &d) < 0))
        return ws_fail(x, "step %s: retries must be a whole number from 0 to %d", st->id,
                       WS_RETRIES_LIMIT);
    if (v)
        st->retries = (unsigned)d;
    return 0;
}

/* The group's scalar fields: id, execute, max_workers, timeout. */
static int ws_group_fields(struct ws_ctx *x, size_t i, const cJSON *def, struct ws_group *g)
{
    double d;
    const cJSON *id = ws_get(def, "id");
    if (!cJSON_IsString(id) || !item_stem_valid(id->valuestring))
        return ws_fail(x,
                       "step_groups[%zu].id must be a string of 1-64 characters of A-Z a-z "
                       "0-9 _ -",
                       i);
    util_strlcpy(g->id, id->valuestring, sizeof(g->id));
    for (size_t k = 0; k < i; k++)
        if (!strcmp(x->ws->groups[k].id, g->id))
            return ws_fail(x, "duplicate step group id \"%s\" (step_groups[%zu] and [%zu])", g->id,
                           k, i);
    const cJSON *ex = ws_get(def, "execute");
    if (ex && !(cJSON_IsString(ex) &&
                (!strcmp(ex->valuestring, "parallel") || !strcmp(ex->valuestring, "sequential"))))
        return ws_fail(x, "step group %s: execute must be \"parallel\" or \"sequential\"", g->id);
    g->sequential = ex && !strcmp(ex->valuestring, "sequential");
    const cJSON *mw = ws_get(def, "max_workers");
    if (mw && (!cJSON_IsNumber(mw) || ws_num(mw, 1, WS_WORKERS_LIMIT, 0, &d) < 0))
        return ws_fail(x, "step group %s: max_workers must be a whole number of at least 1", g->id);
    g->max_workers = mw ? (long)d : 0;
    const cJSON *to = ws_get(def, "timeout");
    if (to && (!cJSON_IsNumber(to) || ws_num(to, 1, WS_TIMEOUT_LIMIT, 0, &d) < 0))
        return ws_fail(x, "step group %s: timeout must be a whole number of seconds from 1 to %ld",
                       g->id, WS_TIMEOUT_LIMIT);
    g->timeout_s = to ? (long)d : 0;
    return 0;
}

/* The group's steps: known, each in one group only; sequential order consistent. */
static int ws_group_steps(struct ws_ctx *x, const cJSON *def, struct ws_group *g, size_t gi,
                          size_t (*lookup)(const void *, size_t, const char *), const void *keys)
{
    struct workstream *ws = x->ws;
    const cJSON *arr = ws_get(def, "steps"), *e;
    char shown[WS_SHOWN_MAX + 4];
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
        return ws_fail(x, "step group %s: steps must be a non-empty array of step ids", g->id);
    if (!(g->steps = calloc((size_t)cJSON_GetArraySize(arr), sizeof(*g->steps))))
        return -ENOMEM;
    cJSON_ArrayForEach(e, arr)
    {
        if (!cJSON_IsString(e))
            return ws_fail(x, "step group %s: steps[%zu] must be a step id", g->id, g->nsteps);
        size_t s = lookup(keys, ws->nsteps, e->valuestring);
        if (s == SIZE_MAX)
            return ws_fail(x, "step group %s lists unknown step \"%s\"", g->id,
                           ws_shown(shown, e->valuestring));
        if (ws->steps[s].group == gi + 1)
            return ws_fail(x, "step group %s lists step %s twice", g->id, ws->steps[s].id);
        if (ws->steps[s].group)
            return ws_fail(x, "step %s is in two step groups: %s and %s (a step is in at most one)",
                           ws->steps[s].id, ws->groups[ws->steps[s].group - 1].id, g->id);
        ws->steps[s].group = (unsigned)(gi + 1);
        g->steps[g->nsteps++] = s;
    }
    for (size_t a = 0; g->sequential && a < g->nsteps; a++)
        for (size_t b = a + 1; b < g->nsteps; b++)
            if (ws_depends(ws, g->steps[a], g->steps[b]))
                return ws_fail(x,
                               "step group %s is sequential and lists %s before %s, but %s "
                               "depends on %s",
                               g->id, ws->steps[g->steps[a]].id, ws->steps[g->steps[b]].id,
                               ws->steps[g->steps[a]].id, ws->steps[g->steps[b]].id);
    return 0;
}

int ws_exec_groups(struct ws_ctx *x, const cJSON *groups,
                   size_t (*lookup)(const void *keys, size_t n, const char *id), const void *keys)
{
    struct workstream *ws = x->ws;
    if (!groups)
        return 0;
    if (!cJSON_IsArray(groups))
        return ws_fail(x, "step_groups must be an array of group objects");
    int n = cJSON_GetArraySize(groups);
    if (n > SHM_MAX_GROUPS)
        return ws_fail(x, "step_groups lists %d groups, more than %d", n, SHM_MAX_GROUPS);
    if (n == 0)
        return 0;
    if (!(ws->groups = calloc((size_t)n, sizeof(*ws->groups))))
        return -ENOMEM;
    const cJSON *def;
    size_t i = 0;
    cJSON_ArrayForEach(def, groups)
    {
        struct ws_group *g = &ws->groups[i];
        ws->ngroups = i + 1;
        if (!cJSON_IsObject(def))
            return ws_fail(x, "step_groups[%zu] must be an object", i);
        int rc = ws_group_fields(x, i, def, g);
        if (rc == 0)
            rc = ws_group_steps(x, def, g, i, lookup, keys);
        if (rc)
            return rc;
        i++;
    }
    return 0;
}

void ws_exec_free(struct workstream *ws)
{
    for (size_t i = 0; ws->groups && i < ws->ngroups; i++)
        free(ws->groups[i].steps);
    free(ws->groups);
    ws->groups = NULL;
    ws->ngroups = 0;
}
