/*
 * steps.c - dependencies between workstream steps, enforced through the
 * progress slots' claim words (see steps.h).
 */
#include "runtime/steps.h"

#include <stdio.h>
#include <string.h>

#include "runtime/util.h"
#include "runtime/ws.h"
#include "shm/prog.h"

static const struct ws_step *step_of_slot(const struct run_ctx *rc, uint32_t k)
{
    return &rc->ws->steps[rc->sel[k]];
}

void steps_init_claims(struct run_ctx *rc)
{
    if (!rc->ws)
        return;
    for (uint32_t k = 0; k < rc->nsel; k++) {
        const struct ws_step *st = step_of_slot(rc, k);
        for (size_t d = 0; d < st->ndeps; d++)
            if (rc->slot_of[st->deps[d]] >= 0) {
                prog_set_claim(shm_prog_slot(&rc->seg, k), PROG_CLAIM_BLOCKED, 0);
                break;
            }
    }
}

/*
 * Where the step in slot k stands with its dependencies: 1 all passed, 0 some
 * still to finish, -1 one did not pass (*bad names it, *how says why).
 */
static int deps_state(const struct run_ctx *rc, uint32_t k, const char **bad, const char **how)
{
    const struct ws_step *st = step_of_slot(rc, k);
    int ready = 1;
    for (size_t d = 0; d < st->ndeps; d++) {
        long ds = rc->slot_of[st->deps[d]];
        if (ds < 0)
            continue; /* passed in an earlier run and still up to date */
        struct prog_slot_sh *slot = shm_prog_slot(&rc->seg, (uint32_t)ds);
        if (prog_claim_state(prog_claim_load(slot)) != PROG_CLAIM_DONE) {
            ready = 0;
            continue;
        }
        struct prog_item p;
        if (prog_read(slot, &p) != 0) {
            ready = 0;
            continue;
        }
        if (p.state == PROG_PASSED)
            continue;
        if (p.state == PROG_INTERRUPTED) { /* stopped from outside: it is about to be retried */
            ready = 0;
            continue;
        }
        *bad = rc->ws->steps[st->deps[d]].id;
        *how = p.state == PROG_SKIPPED ? "was skipped" : "failed";
        return -1;
    }
    return ready;
}

static void skip_slot(struct run_ctx *rc, uint32_t k, const char *reason)
{
    struct prog_slot_sh *slot = shm_prog_slot(&rc->seg, k);
    struct prog_item p;
    if (prog_read(slot, &p) != 0) {
        memset(&p, 0, sizeof(p));
        util_strlcpy(p.id, step_of_slot(rc, k)->id, sizeof(p.id));
    }
    p.state = PROG_SKIPPED;
    util_strlcpy(p.reason, reason, sizeof(p.reason));
    p.updated_ns = util_now_mono_ns();
    prog_write(slot, &p);
}

void steps_release(struct run_ctx *rc, struct coord_console *con)
{
    if (!rc->ws)
        return;
    int moved;
    do { /* a skip may decide the fate of a later step in the same tick */
        moved = 0;
        for (uint32_t k = 0; k < rc->nsel; k++) {
            struct prog_slot_sh *slot = shm_prog_slot(&rc->seg, k);
            if (prog_claim_state(prog_claim_load(slot)) != PROG_CLAIM_BLOCKED)
                continue;
            const char *bad = NULL, *how = NULL;
            int st = deps_state(rc, k, &bad, &how);
            if (st > 0) {
                prog_claim_move(slot, PROG_CLAIM_BLOCKED, PROG_CLAIM_FREE);
            } else if (st < 0) {
                char reason[SHM_REASON_MAX];
                snprintf(reason, sizeof(reason), "skipped: it depends on %s, which %s", bad, how);
                skip_slot(rc, k, reason);
                prog_claim_move(slot, PROG_CLAIM_BLOCKED, PROG_CLAIM_DONE);
                ccon_coord(con, "%s SKIPPED: it depends on %s, which %s", step_of_slot(rc, k)->id,
                           bad, how);
                moved = 1;
            }
        }
    } while (moved);
}

unsigned steps_skip_unstarted(struct run_ctx *rc, const char *why)
{
    unsigned n = 0;
    if (!rc->ws)
        return 0;
    for (uint32_t k = 0; k < rc->nsel; k++) {
        struct prog_slot_sh *slot = shm_prog_slot(&rc->seg, k);
        uint32_t claim = prog_claim_state(prog_claim_load(slot));
        if (claim != PROG_CLAIM_FREE && claim != PROG_CLAIM_BLOCKED)
            continue;
        /* A free slot can be taken by a worker at any instant: own it first (SKIP is a
         * claim no worker takes), then write it; a seqlock has one writer at a time. */
        if (!prog_claim_move(slot, claim, PROG_CLAIM_SKIP))
            continue;
        skip_slot(rc, k, why);
        prog_set_claim(slot, PROG_CLAIM_DONE, 0);
        n++;
    }
    return n;
}
