/*
 * plan_ws.c - planning a workstream run (SPEC 8): the steps of one file
 * become the run's items, and everything that can be a configuration error
 * is found before anything is created.
 *
 *   - the file is loaded and validated (ws.c: ids, fields, unknown
 *     dependencies, cycles as "Step deadlock detected: a -> b -> a");
 *   - --dot prints the graph and stops;
 *   - parallelism: execution.parallel false runs one step at a time whatever
 *     --parallel says; otherwise --parallel N, else execution.max_workers,
 *     else 3 (the value of a bare --parallel), capped at 10;
 *   - when steps can run at once, two steps that may run together must not
 *     list overlapping files;
 *   - a step is pending when its record under
 *     $AGENTOS_HOME/workstreams/<id>/<step>.md is missing or was made from
 *     another definition (its hash covers the step and its dependencies), or
 *     when a step it depends on is pending;
 *   - --dry-run prints the steps wave by wave (a wave is the steps whose
 *     longest chain of dependencies has the same length), with what each
 *     would do: new, resume at NODE, or up to date.
 */
#include "runtime/plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/result.h"
#include "runtime/util.h"
#include "runtime/ws.h"

static void set_parallel(struct run_ctx *rc)
{
    const struct run_opts *o = rc->o;
    const struct workstream *ws = rc->ws;
    long par;
    if (!ws->parallel) {
        par = 1;
        if (o->parallel_given && o->parallel > 1)
            fprintf(stderr,
                    "agentos-run: note: %s sets execution.parallel to false; running one step "
                    "at a time\n",
                    o->workstream);
    } else if (o->parallel_given) {
        par = o->parallel;
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
    rc->parallel = (int)par;
    if (!o->timeout_given && ws->timeout_per_step > 0)
        rc->timeout_per_step = ws->timeout_per_step;
}

/* Was step i passed by an earlier run from the same definition? */
static int recorded_passed(const struct item *it)
{
    struct result_info ri;
    return result_read(it->out_path, &ri) == 0 && !strcmp(ri.status, "passed") &&
           !strcmp(ri.sha256, it->sha256);
}

/*
 * Step indexes ordered by wave (dependencies before what needs them), file
 * order within a wave: a counting sort, linear even for a 10000-step chain.
 */
static size_t *wave_order(const struct workstream *ws)
{
    size_t *order = calloc(ws->nsteps + 1, sizeof(*order));
    size_t *start = calloc((size_t)ws->nwaves + 1, sizeof(*start));
    if (!order || !start) {
        free(order);
        free(start);
        return NULL;
    }
    for (size_t i = 0; i < ws->nsteps; i++)
        start[ws->steps[i].wave + 1]++;
    for (unsigned w = 0; w < ws->nwaves; w++)
        start[w + 1] += start[w];
    for (size_t i = 0; i < ws->nsteps; i++)
        order[start[ws->steps[i].wave]++] = i;
    free(start);
    return order;
}

/* One item per step, with its record path, hash and pending flag. */
static int build_items(struct run_ctx *rc, const size_t *order)
{
    const struct workstream *ws = rc->ws;
    rc->items.v = calloc(ws->nsteps + 1, sizeof(*rc->items.v));
    if (!rc->items.v)
        return -ENOMEM;
    rc->items.n = ws->nsteps;
    for (size_t i = 0; i < ws->nsteps; i++) {
        struct item *it = &rc->items.v[i];
        const struct ws_step *st = &ws->steps[i];
        util_strlcpy(it->id, st->id, sizeof(it->id));
        util_strlcpy(it->stem, st->id, sizeof(it->stem));
        util_strlcpy(it->sha256, st->sha256, sizeof(it->sha256));
        it->input_path = strdup(rc->o->workstream);
        it->out_path = util_asprintf("%s/workstreams/%s/%s.md", rc->home, ws->id, st->id);
        if (!it->input_path || !it->out_path)
            return -ENOMEM;
    }
    for (size_t k = 0; k < ws->nsteps; k++) { /* dependencies first, so pending cascades */
        size_t i = order[k];
        const struct ws_step *st = &ws->steps[i];
        int pending = !recorded_passed(&rc->items.v[i]);
        for (size_t d = 0; d < st->ndeps && !pending; d++)
            pending = rc->items.v[st->deps[d]].pending;
        rc->items.v[i].pending = pending;
    }
    return 0;
}

/* Pending steps (every step with --fresh) into rc->sel, in wave order. */
static int select_steps(struct run_ctx *rc, const size_t *order)
{
    size_t n = rc->items.n;
    rc->sel = calloc(n + 1, sizeof(*rc->sel));
    rc->slot_of = calloc(n + 1, sizeof(*rc->slot_of));
    if (!rc->sel || !rc->slot_of)
        return -ENOMEM;
    rc->roles_needed = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        rc->slot_of[i] = -1;
        if (!rc->items.v[i].pending && !rc->o->fresh)
            continue;
        rc->slot_of[i] = (long)rc->nsel;
        rc->sel[rc->nsel++] = i;
        if (rc->ws->steps[i].prompt)
            rc->roles_needed |= CRED_ROLE_DRAFT;
    }
    return 0;
}

static void dry_run(const struct run_ctx *rc, const size_t *order)
{
    const struct workstream *ws = rc->ws;
    printf("Workstream %s: %zu of %zu step%s would run, %u wave%s, --parallel %d:\n", ws->id,
           rc->nsel, ws->nsteps, ws->nsteps == 1 ? "" : "s", ws->nwaves, ws->nwaves == 1 ? "" : "s",
           rc->parallel);
    unsigned wave = (unsigned)-1;
    for (size_t k = 0; k < ws->nsteps; k++) {
        size_t i = order[k];
        const struct ws_step *st = &ws->steps[i];
        if (st->wave != wave) {
            wave = st->wave;
            printf("Wave %u:\n", wave + 1);
        }
        char what[128] = "up to date";
        if (rc->slot_of[i] >= 0)
            plan_resume_point(rc, &rc->items.v[i], what, sizeof(what));
        printf("  %-20s %-7s %s\n", st->id, st->run ? "run" : "prompt", what);
    }
    fflush(stdout);
}

int plan_ws_steps(struct run_ctx *rc)
{
    const struct run_opts *o = rc->o;
    char err[1024];
    rc->ws = calloc(1, sizeof(*rc->ws));
    if (!rc->ws)
        return 2;
    if (ws_load(o->workstream, rc->ws, err, sizeof(err)) < 0) {
        fprintf(stderr, "agentos-run: %s\n", err);
        return 2;
    }
    if (o->dot) {
        ws_write_dot(rc->ws, stdout);
        fflush(stdout);
        return -1;
    }
    set_parallel(rc);
    if (rc->parallel > 1 && ws_check_files(rc->ws, o->workstream, err, sizeof(err)) < 0) {
        fprintf(stderr, "agentos-run: %s\n", err);
        return 2;
    }
    size_t *order = wave_order(rc->ws);
    int status = 2;
    if (order && build_items(rc, order) == 0 && select_steps(rc, order) == 0) {
        status = 0;
        if (o->dry_run) {
            dry_run(rc, order);
            status = -1;
        }
    }
    if (status == 2)
        fprintf(stderr, "agentos-run: out of memory planning %s\n", o->workstream);
    free(order);
    return status;
}
