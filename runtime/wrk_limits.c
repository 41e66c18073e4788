/*
 * wrk_limits.c - the run's limits as a worker meets them (see wrk_limits.h).
 *
 * Start pacing is one CAS on the header's last_start_ns: a worker that moves
 * it from t to now (now >= t + gap) owns the start at now. A start slot taken
 * by a worker that then finds no item only makes a gap longer, never shorter,
 * so the pace holds whatever the race.
 */
#include "runtime/wrk_limits.h"

#include <errno.h>
#include <stdatomic.h>

#include "shm/gate.h"
#include "shm/prog.h"
#include "shm/util.h"

#define WLIM_POLL_NS (20 * UTIL_NS_PER_MS)

static int wlim_stopping(const struct run_ctx *rc, volatile sig_atomic_t *stop)
{
    return (stop && *stop) || atomic_load(&rc->seg.hdr->run_state) == SHM_RUN_SHUTTING_DOWN;
}

static struct gate_sh *wlim_group_gate(const struct run_ctx *rc, int idx)
{
    unsigned g = run_item(rc, (size_t)idx)->group;
    return g ? gate_group(&rc->seg, g - 1) : NULL;
}

int wlim_pace(struct run_ctx *rc, volatile sig_atomic_t *stop)
{
    struct shm_header_sh *h = rc->seg.hdr;
    if (h->start_gap_ns <= 0)
        return 0;
    for (;;) {
        if (wlim_stopping(rc, stop))
            return -ECANCELED;
        int64_t now = util_now_mono_ns();
        int64_t last = atomic_load(&h->last_start_ns);
        int64_t at = last ? last + h->start_gap_ns : now;
        if (now >= at && atomic_compare_exchange_strong(&h->last_start_ns, &last, now))
            return 0;
        int64_t left = at - now;
        util_sleep_ns(left > 0 && left < WLIM_POLL_NS ? left : WLIM_POLL_NS);
    }
}

/*
 * One pass over the free items: 1 and *out when one was taken; 0 when none is
 * free; 2 when some are free but their groups are full (come back later).
 */
static int wlim_pass(struct run_ctx *rc, unsigned worker, int32_t pid, volatile sig_atomic_t *stop,
                     int *out)
{
    int waiting = 0;
    for (uint32_t i = 0; i < rc->seg.hdr->item_count; i++) {
        struct prog_slot_sh *slot = shm_prog_slot(&rc->seg, i);
        if (prog_claim_state(prog_claim_load(slot)) != PROG_CLAIM_FREE)
            continue;
        struct gate_sh *g = wlim_group_gate(rc, (int)i);
        int64_t now = util_now_mono_ns();
        if (g && gate_expired(g, now))
            continue; /* the coordinator fails it */
        if (g && gate_held(g) >= atomic_load(&g->limit) && atomic_load(&g->limit)) {
            waiting = 1;
            continue;
        }
        if (wlim_pace(rc, stop) < 0)
            return 0;
        if (gate_try(g, worker, util_now_mono_ns()) != GATE_TAKEN) {
            waiting = 1;
            continue;
        }
        if (prog_claim(slot, pid)) {
            *out = (int)i;
            return 1;
        }
        gate_release(g, worker);
    }
    return waiting ? 2 : 0;
}

int wlim_claim(struct run_ctx *rc, unsigned worker, int32_t pid, volatile sig_atomic_t *stop)
{
    for (;;) {
        int idx = -1;
        if (wlim_stopping(rc, stop))
            return -1;
        int r = wlim_pass(rc, worker, pid, stop, &idx);
        if (r == 1)
            return idx;
        if (r == 0)
            return -1;
        util_sleep_ns(WLIM_POLL_NS);
    }
}

void wlim_release_item(struct run_ctx *rc, unsigned worker, int idx)
{
    gate_release(wlim_group_gate(rc, idx), worker);
}

int wlim_node_enter(struct run_ctx *rc, unsigned worker, int node, volatile sig_atomic_t *stop,
                    int64_t *waited_ns)
{
    struct gate_sh *g = node >= 0 ? gate_node(&rc->seg, (uint32_t)node) : NULL;
    int64_t start = util_now_mono_ns();
    *waited_ns = 0;
    while (gate_try(g, worker, util_now_mono_ns()) != GATE_TAKEN) {
        if (wlim_stopping(rc, stop))
            return -ECANCELED;
        util_sleep_ns(WLIM_POLL_NS);
    }
    *waited_ns = util_now_mono_ns() - start;
    return 0;
}

void wlim_node_leave(struct run_ctx *rc, unsigned worker, int node)
{
    if (node >= 0)
        gate_release(gate_node(&rc->seg, (uint32_t)node), worker);
}

int64_t wlim_deadline(const struct run_ctx *rc, int idx, const char **group, long *timeout_s)
{
    unsigned g = run_item(rc, (size_t)idx)->group;
    struct gate_sh *gate = wlim_group_gate(rc, idx);
    if (!gate || g > rc->plan.ngroups)
        return 0;
    *group = rc->plan.groups[g - 1].name;
    *timeout_s = rc->plan.groups[g - 1].timeout_s;
    return atomic_load(&gate->deadline_ns);
}
