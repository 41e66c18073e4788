/*
 * deps.c - dependencies between a run's items: wave order and pending at
 * plan time, claim gating at run time (see deps.h for the protocol).
 */
#include "runtime/deps.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/run.h"
#include "shm/prog.h"
#include "shm/util.h"

/* Kahn's algorithm: waves in dependency order; -ELOOP if some item is never reached. */
static int deps_waves(struct item_list *items)
{
    size_t n = items->n;
    size_t *left = calloc(n + 1, sizeof(*left));   /* dependencies not placed yet */
    size_t *queue = calloc(n + 1, sizeof(*queue)); /* placed items, in placing order */
    size_t *nout = calloc(n + 1, sizeof(*nout));   /* dependents per item */
    size_t **out = calloc(n + 1, sizeof(*out));
    int rc = (!left || !queue || !nout || !out) ? -ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        for (size_t d = 0; d < items->v[i].ndeps; d++) {
            if (items->v[i].deps[d] >= n || items->v[i].deps[d] == i)
                rc = items->v[i].deps[d] == i ? -ELOOP : -EINVAL;
            else
                nout[items->v[i].deps[d]]++;
        }
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (nout[i] && !(out[i] = calloc(nout[i], sizeof(**out))))
            rc = -ENOMEM;
    size_t head = 0, tail = 0;
    if (rc == 0) {
        memset(nout, 0, (n + 1) * sizeof(*nout));
        for (size_t i = 0; i < n; i++) {
            struct item *it = &items->v[i];
            left[i] = it->ndeps;
            it->wave = 0;
            for (size_t d = 0; d < it->ndeps; d++)
                out[it->deps[d]][nout[it->deps[d]]++] = i;
            if (!it->ndeps)
                queue[tail++] = i;
        }
        while (head < tail) {
            size_t i = queue[head++];
            for (size_t k = 0; k < nout[i]; k++) {
                struct item *dep = &items->v[out[i][k]];
                if (dep->wave < items->v[i].wave + 1)
                    dep->wave = items->v[i].wave + 1;
                if (--left[out[i][k]] == 0)
                    queue[tail++] = out[i][k];
            }
        }
        if (tail != n)
            rc = -ELOOP;
    }
    for (size_t i = 0; out && i < n; i++)
        free(out[i]);
    free(out);
    free(nout);
    free(queue);
    free(left);
    return rc;
}

int deps_order(struct item_list *items, size_t **order, unsigned *nwaves)
{
    *order = NULL;
    *nwaves = 0;
    int rc = deps_waves(items);
    if (rc < 0)
        return rc;
    unsigned waves = 0;
    for (size_t i = 0; i < items->n; i++)
        if (items->v[i].wave + 1 > waves)
            waves = items->v[i].wave + 1;
    size_t *o = calloc(items->n + 1, sizeof(*o));
    size_t *start = calloc((size_t)waves + 1, sizeof(*start));
    if (!o || !start) {
        free(o);
        free(start);
        return -ENOMEM;
    }
    for (size_t i = 0; i < items->n; i++)
        start[items->v[i].wave + 1]++;
    for (unsigned w = 0; w < waves; w++)
        start[w + 1] += start[w];
    for (size_t i = 0; i < items->n; i++)
        o[start[items->v[i].wave]++] = i;
    free(start);
    *order = o;
    *nwaves = waves;
    return 0;
}

void deps_cascade_pending(struct item_list *items, const size_t *order)
{
    for (size_t k = 0; k < items->n; k++) { /* dependencies come first in wave order */
        struct item *it = &items->v[order[k]];
        for (size_t d = 0; d < it->ndeps && !it->pending; d++)
            it->pending = items->v[it->deps[d]].pending;
    }
}

static int deps_succeeded(uint32_t state)
{
    return state == PROG_APPROVED || state == PROG_PASSED;
}

enum deps_gate deps_gate(const struct item *it, const long *slot_of, deps_state_fn state_of,
                         void *arg, size_t *bad, uint32_t *bad_state)
{
    enum deps_gate gate = DEPS_READY;
    if (it->after && slot_of[it->after - 1] >= 0) {
        uint32_t state = 0; /* an order, not a dependency: any end will do */
        if (!state_of(arg, slot_of[it->after - 1], &state) || state == PROG_INTERRUPTED)
            gate = DEPS_WAIT;
    }
    for (size_t d = 0; d < it->ndeps; d++) {
        long slot = slot_of[it->deps[d]];
        uint32_t state = 0;
        if (slot < 0)
            continue; /* succeeded in an earlier run and still up to date */
        if (!state_of(arg, slot, &state) || state == PROG_INTERRUPTED) {
            gate = DEPS_WAIT; /* running, or stopped from outside and about to be retried */
            continue;
        }
        if (deps_succeeded(state))
            continue;
        *bad = it->deps[d];
        *bad_state = state;
        return DEPS_NEVER;
    }
    return gate;
}

/* deps_state_fn over the run's segment. */
static int slot_state(void *arg, long slot, uint32_t *state)
{
    struct run_ctx *rc = arg;
    struct prog_slot_sh *s = shm_prog_slot(&rc->seg, (uint32_t)slot);
    struct prog_item p;
    if (prog_claim_state(prog_claim_load(s)) != PROG_CLAIM_DONE || prog_read(s, &p) != 0)
        return 0;
    *state = p.state;
    return 1;
}

void deps_init_claims(struct run_ctx *rc)
{
    for (uint32_t k = 0; k < rc->nsel; k++) {
        const struct item *it = run_item(rc, k);
        if (it->after && rc->slot_of[it->after - 1] >= 0) {
            prog_set_claim(shm_prog_slot(&rc->seg, k), PROG_CLAIM_BLOCKED, 0);
            continue;
        }
        for (size_t d = 0; d < it->ndeps; d++)
            if (rc->slot_of[it->deps[d]] >= 0) {
                prog_set_claim(shm_prog_slot(&rc->seg, k), PROG_CLAIM_BLOCKED, 0);
                break;
            }
    }
}

/* The coordinator owns the slot (BLOCKED or won by CAS): end it as skipped (or state). */
static void end_slot(struct run_ctx *rc, uint32_t k, uint32_t state, const char *reason)
{
    struct prog_slot_sh *slot = shm_prog_slot(&rc->seg, k);
    struct prog_item p;
    if (prog_read(slot, &p) != 0) {
        memset(&p, 0, sizeof(p));
        util_strlcpy(p.id, run_item(rc, k)->id, sizeof(p.id));
    }
    p.state = state;
    util_strlcpy(p.reason, reason, sizeof(p.reason));
    p.updated_ns = util_now_mono_ns();
    prog_write(slot, &p);
}

/*
 * Item k depends on item bad, which another live run owns (runtime/own.h):
 * k cannot start before that run is done with it, so it is left to that run
 * too (state other-run), not skipped: nothing failed.
 */
static void leave_with(struct run_ctx *rc, uint32_t k, size_t bad, struct coord_console *con)
{
    struct prog_item dep;
    char reason[SHM_REASON_MAX];
    struct prog_slot_sh *slot = shm_prog_slot(&rc->seg, k);
    if (prog_read(shm_prog_slot(&rc->seg, (uint32_t)rc->slot_of[bad]), &dep) != 0)
        util_strlcpy(dep.reason, "being processed by another run", sizeof(dep.reason));
    util_errf(reason, sizeof(reason), "it depends on %s, which is %s", rc->plan.items.v[bad].id,
              dep.reason);
    end_slot(rc, k, PROG_OTHER_RUN, reason);
    prog_claim_move(slot, PROG_CLAIM_BLOCKED, PROG_CLAIM_DONE);
    ccon_coord(con, "%s left to another run: %s", run_item(rc, k)->id, reason);
}

void deps_release(struct run_ctx *rc, struct coord_console *con)
{
    int moved;
    do { /* a skip may decide the fate of a later item in the same tick */
        moved = 0;
        for (uint32_t k = 0; k < rc->nsel; k++) {
            struct prog_slot_sh *slot = shm_prog_slot(&rc->seg, k);
            if (prog_claim_state(prog_claim_load(slot)) != PROG_CLAIM_BLOCKED)
                continue;
            size_t bad = 0;
            uint32_t bad_state = 0;
            enum deps_gate g =
                deps_gate(run_item(rc, k), rc->slot_of, slot_state, rc, &bad, &bad_state);
            if (g == DEPS_READY) {
                prog_claim_move(slot, PROG_CLAIM_BLOCKED, PROG_CLAIM_FREE);
            } else if (g == DEPS_NEVER && bad_state == PROG_OTHER_RUN) {
                leave_with(rc, k, bad, con);
                moved = 1;
            } else if (g == DEPS_NEVER) {
                const char *bad_id = rc->plan.items.v[bad].id;
                const char *how = bad_state == PROG_SKIPPED ? "was skipped" : "failed";
                char reason[SHM_REASON_MAX];
                util_errf(reason, sizeof(reason), "skipped: it depends on %s, which %s", bad_id,
                          how);
                end_slot(rc, k, PROG_SKIPPED, reason);
                prog_claim_move(slot, PROG_CLAIM_BLOCKED, PROG_CLAIM_DONE);
                ccon_coord(con, "%s SKIPPED: it depends on %s, which %s", run_item(rc, k)->id,
                           bad_id, how);
                moved = 1;
            }
        }
    } while (moved);
}

unsigned deps_skip_unstarted(struct run_ctx *rc, const char *why)
{
    unsigned n = 0;
    for (uint32_t k = 0; k < rc->nsel; k++) {
        struct prog_slot_sh *slot = shm_prog_slot(&rc->seg, k);
        uint32_t claim = prog_claim_state(prog_claim_load(slot));
        if (claim != PROG_CLAIM_FREE && claim != PROG_CLAIM_BLOCKED)
            continue;
        /* A free slot can be taken by a worker at any instant: own it first (SKIP is a
         * claim no worker takes), then write it; a seqlock has one writer at a time. */
        if (!prog_claim_move(slot, claim, PROG_CLAIM_SKIP))
            continue;
        end_slot(rc, k, PROG_SKIPPED, why);
        prog_set_claim(slot, PROG_CLAIM_DONE, 0);
        n++;
    }
    return n;
}
