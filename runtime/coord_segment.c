/*
 * coord_segment.c - the coordinator creates the run's segment (shm/segment.h)
 * before the first fork, from the plan: its sizes (the selected items, the
 * keys, the width, the endpoints, the workflow's nodes, the --budget URL) and
 * the gates' settings (coord_limits.c).
 *
 * Segments left by coordinators that died (kill -9) are removed first; an
 * entry in /dev/shm that only looks like one is named and left alone. Every
 * key slot and every progress slot is written before the run state turns
 * RUNNING: an item whose name cannot be used is FAILED with its claim DONE
 * (no worker takes it), the others PENDING, and items that wait for another
 * item of the run BLOCKED (runtime/deps.h). Items in flight start limited
 * to the keys' request slots when those are fewer than the width, unless
 * some item needs no key (it must not wait for one).
 */
#include "runtime/coord.h"

#include <stdio.h>
#include <string.h>

#include "runtime/deps.h"
#include "runtime/pool.h"
#include "shm/util.h"
#include "shm/cred.h"
#include "shm/prog.h"

/* The key and progress slots of a new segment. 0 or -errno (reported). */
static int init_slots(struct coord *c)
{
    struct run_ctx *rc = &c->rc;
    for (size_t i = 0; i < rc->creds.n; i++) {
        struct cred_init ci;
        int r = pool_cred_init(&rc->seg, &rc->creds.v[i], &ci);
        if (r == 0)
            r = cred_slot_init(shm_cred_slot(&rc->seg, (uint32_t)i), &ci);
        if (r < 0) {
            fprintf(stderr, "agentos-run: could not set up the slot of key %s: %s\n",
                    rc->creds.v[i].id, strerror(-r));
            return r;
        }
    }
    for (size_t k = 0; k < rc->nsel; k++) {
        const struct item *it = run_item(rc, k);
        struct prog_item p;
        memset(&p, 0, sizeof(p));
        util_strlcpy(p.id, it->id, sizeof(p.id));
        struct prog_slot_sh *slot = shm_prog_slot(&rc->seg, (uint32_t)k);
        if (it->invalid_name) {
            p.state = PROG_FAILED;
            util_strlcpy(p.reason, item_fails_why(it), sizeof(p.reason));
            prog_write(slot, &p);
            prog_set_claim(slot, PROG_CLAIM_DONE, 0);
        } else {
            p.state = PROG_PENDING;
            prog_write(slot, &p);
        }
    }
    deps_init_claims(rc);
    return 0;
}

/* A /dev/shm entry named like a segment that is not one of ours: left alone, named. */
static void warn_foreign_shm(const char *name, const char *why, void *arg)
{
    (void)arg;
    fprintf(stderr,
            "agentos-run: warning: /dev/shm%s is not an agentos segment of this user (%s); "
            "left alone\n",
            name, why);
}

int coord_create_segment(struct coord *c)
{
    struct run_ctx *rc = &c->rc;
    shm_segment_remove_stale(warn_foreign_shm, NULL);
    const char *urls[SHM_MAX_KEYS];
    const char *nodes[SHM_MAX_NODES];
    size_t nn = rc->wf->node_count < SHM_MAX_NODES ? rc->wf->node_count : SHM_MAX_NODES;
    for (size_t i = 0; i < nn; i++)
        nodes[i] = rc->wf->nodes[i].name;
    struct shm_create_params p = {
        .run_id = rc->run_id,
        .workflow = rc->wf->name,
        .item_count = (uint32_t)rc->nsel,
        .key_count = (uint32_t)rc->creds.n,
        .worker_count = (uint32_t)rc->plan.parallel,
        .parallel_max = (uint32_t)rc->plan.parallel,
        .endpoint_count = pool_endpoints(&rc->creds, urls),
        .endpoint_urls = urls,
        .node_count = (uint32_t)nn,
        .node_names = nodes,
        .budget_url = rc->budget_url,
    };
    climits_params(c, &p);
    char err[256];
    int r = shm_segment_create(&rc->seg, &p, err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, "agentos-run: %s\n", err);
        return r;
    }
    if ((r = init_slots(c)) < 0)
        return r;
    /* Items in flight never exceed the keys' request slots, from the first item on
     * (unless some item needs no key: it must not wait for one). */
    uint32_t slots = 0;
    for (size_t i = 0; i < rc->creds.n; i++) {
        uint32_t cc = rc->creds.v[i].concurrency ? rc->creds.v[i].concurrency : 1;
        slots += cc < SHM_KEY_HOLDERS_MAX ? cc : SHM_KEY_HOLDERS_MAX;
    }
    uint32_t par = (uint32_t)rc->plan.parallel;
    atomic_store(&rc->seg.hdr->parallelism,
                 rc->narrow_to_keys && slots && slots < par ? slots : par);
    atomic_store(&rc->seg.hdr->run_state, SHM_RUN_RUNNING);
    return climits_start(c);
}
