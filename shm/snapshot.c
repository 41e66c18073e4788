/*
 * snapshot.c - copy one run's segment without locks or writes.
 *
 * The reader's side of every protocol in shm_layout.h: progress slots and
 * key slots through their seqlocks (prog_read, cred_view: a key's state as
 * published at its last unlock, consistent, without taking its mutex, which
 * could leave this reader stuck behind a stopped worker or repairing a dead
 * one), everything else with relaxed atomic loads. Strings
 * copied from the segment are always cut to their field and NUL-terminated:
 * a torn or hostile segment cannot make the inspector read past a slot.
 */
#include "shm/snapshot.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shm/cred.h"
#include "shm/gate.h"
#include "shm/prog.h"
#include "shm/seqlock.h"

#define SNAP_RETRY_PASSES 8
#define SNAP_RETRY_SLEEP_NS 1000000L /* 1 ms, doubling, at most 8 ms: ~50 ms in all */

#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define ALOAD(p) atomic_load_explicit((p), memory_order_relaxed)

static int64_t snap_clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Copy a bounded string field byte by byte (relaxed loads), NUL-terminated. */
static void snap_copy_str(char *dst, const char *src, size_t size)
{
    size_t i;

    for (i = 0; i + 1 < size; i++) {
        char c = LOAD(&src[i]);
        if (c == '\0')
            break;
        dst[i] = c;
    }
    dst[i] = '\0';
}

static void snap_header(const struct shm_segment *seg, struct snap *s)
{
    const struct shm_header_sh *h = seg->hdr;

    snap_copy_str(s->segment, seg->name, sizeof(s->segment));
    snap_copy_str(s->run_id, h->run_id, sizeof(s->run_id));
    snap_copy_str(s->workflow, h->workflow, sizeof(s->workflow));
    s->creator_pid = h->creator_pid;
    s->stale = s->creator_pid <= 0 || (kill(s->creator_pid, 0) < 0 && errno == ESRCH);
    s->layout_version = h->layout_version;
    s->parallel_max = h->parallel_max;
    s->started_realtime_ns = h->started_realtime_ns;
    s->run_state = ALOAD(&h->run_state);
    s->parallelism = ALOAD(&h->parallelism);
    s->in_flight = ALOAD(&h->in_flight);
    s->waiting_for_key = ALOAD(&h->waiting_for_key);
    s->pool_generation = ALOAD(&h->pool_generation);
    s->requests_total = ALOAD(&h->requests_total);
    s->http_429_total = ALOAD(&h->http_429_total);
    s->items_done = ALOAD(&h->items_done);
    s->items_failed = ALOAD(&h->items_failed);
    s->item_count = h->item_count;
    s->key_count = h->key_count;
    s->worker_count = h->worker_count;
    s->endpoint_count = h->endpoint_count;
    s->gate_count = h->gate_count;
    s->adaptive = h->adaptive;
    s->start_gap_ns = h->start_gap_ns;
    s->node_count = h->node_count;
}

/* Copy slot i; 1 if the copy is whole. */
static int snap_item(const struct shm_segment *seg, uint32_t i, struct snap_item *it)
{
    if (prog_read(shm_prog_slot(seg, i), &it->p) != 0)
        return 0;
    /* The writer's strings are its own; never trust a NUL. */
    it->p.id[sizeof(it->p.id) - 1] = '\0';
    it->p.node[sizeof(it->p.node) - 1] = '\0';
    it->p.reason[sizeof(it->p.reason) - 1] = '\0';
    it->readable = 1;
    return 1;
}

/*
 * prog_read gives up when a writer sat between its two bumps for all its
 * retries: on a busy machine a writer preempted mid-copy does that. Such
 * slots get a few more tries after a short sleep, which lets the writer run;
 * only a writer killed mid-write leaves a slot unreadable for good.
 */
static void snap_items(const struct shm_segment *seg, struct snap *s)
{
    uint32_t missing = 0;

    for (uint32_t i = 0; i < s->item_count; i++)
        missing += !snap_item(seg, i, &s->items[i]);
    for (int pass = 0; missing && pass < SNAP_RETRY_PASSES; pass++) {
        long ns = SNAP_RETRY_SLEEP_NS << (pass < 3 ? pass : 3);
        struct timespec ts = {0, ns};
        nanosleep(&ts, NULL);
        for (uint32_t i = 0; i < s->item_count; i++)
            if (!s->items[i].readable)
                missing -= snap_item(seg, i, &s->items[i]);
    }
    for (uint32_t i = 0; i < s->item_count; i++) {
        struct snap_item *it = &s->items[i];
        uint64_t word = prog_claim_load(shm_prog_slot(seg, i));
        it->claim = prog_claim_state(word);
        it->claim_pid = prog_claim_pid(word);
        if (it->readable && it->p.state < SNAP_STATE_UNREADABLE)
            s->by_state[it->p.state]++;
        else
            s->by_state[SNAP_STATE_UNREADABLE]++;
    }
}

/* A bucket as a reserver would see it now: refilled at per_min/60 per second up to cap. */
static double snap_bucket_now(double t, uint32_t per_min, double cap, int64_t updated_ns,
                              int64_t now_ns)
{
    if (per_min == 0)
        return 0.0;
    if (updated_ns > 0 && now_ns > updated_ns)
        t += (double)(now_ns - updated_ns) / 1e9 * per_min / 60.0;
    if (!(t >= 0.0))
        t = 0.0;
    return t > cap ? cap : t;
}

static void snap_key(const struct cred_slot_sh *c, struct snap_key *k, int64_t now_ns)
{
    struct cred_pub v;

    if (cred_view(c, &v) != 0)
        memset(&v, 0, sizeof(v)); /* raced every retry: shown as an empty key this once */
    snap_copy_str(k->id, v.id, sizeof(k->id));
    snap_copy_str(k->provider, v.provider, sizeof(k->provider));
    snap_copy_str(k->model, v.model, sizeof(k->model));
    snap_copy_str(k->disabled_reason, v.disabled_reason, sizeof(k->disabled_reason));
    k->state = v.state;
    k->roles = v.roles;
    k->concurrency = v.concurrency;
    k->in_use = v.in_use;
    k->endpoint = v.endpoint;
    k->rpm = v.rpm;
    for (int i = 0; i < SHM_KEY_HOLDERS_MAX; i++)
        k->holders[i] = v.holders[i];
    k->rate_limited_until_ns = v.rate_limited_until_ns;
    k->rate_limited_until_realtime_ns = v.rate_limited_until_realtime_ns;
    k->learned_rpm = v.learned_rpm;
    k->tpm = v.tpm;
    k->learned_tpm = v.learned_tpm;
    k->rest_until_ns = v.rest_until_ns;
    uint32_t rpm = v.rpm ? v.rpm : v.learned_rpm, tpm = v.tpm ? v.tpm : v.learned_tpm;
    k->tokens = snap_bucket_now(v.tokens, rpm, rpm / 60.0 < 1.0 ? 1.0 : rpm / 60.0,
                                v.tokens_updated_ns, now_ns);
    k->tpm_tokens = snap_bucket_now(v.tpm_tokens, tpm, tpm, v.tpm_updated_ns, now_ns);
    k->input_tokens = ALOAD(&c->input_tokens);
    k->output_tokens = ALOAD(&c->output_tokens);
    k->rests = ALOAD(&c->rests);
    k->requests = ALOAD(&c->requests);
    k->http_429 = ALOAD(&c->http_429);
    k->errors = ALOAD(&c->errors);
    k->latency_ms_sum = ALOAD(&c->latency_ms_sum);
    for (int i = 0; i < SHM_HIST_BUCKETS; i++)
        k->latency_hist[i] = ALOAD(&c->latency_hist[i]);
}

static void snap_worker(const struct shm_worker_sh *w, struct snap_worker *o)
{
    o->pid = ALOAD(&w->pid);
    o->item_index = ALOAD(&w->item_index);
    o->rss_kib = ALOAD(&w->rss_kib);
    o->items_processed = ALOAD(&w->items_processed);
    o->heartbeat_ns = ALOAD(&w->heartbeat_ns);
}

static void snap_endpoint(const struct endpoint_sh *e, struct snap_endpoint *o)
{
    snap_copy_str(o->url, e->url, sizeof(o->url));
    o->state = ALOAD(&e->state);
    o->consecutive_failures = ALOAD(&e->consecutive_failures);
    o->open_until_ns = ALOAD(&e->open_until_ns);
    o->probe_pid = ALOAD(&e->probe_pid);
    o->trips = ALOAD(&e->trips);
    o->requests = ALOAD(&e->requests);
    o->failures = ALOAD(&e->failures);
}

static void snap_node(const struct node_stat_sh *n, struct snap_node *o)
{
    snap_copy_str(o->name, n->name, sizeof(o->name));
    o->runs = ALOAD(&n->runs);
    o->failures = ALOAD(&n->failures);
    o->duration_ms_sum = ALOAD(&n->duration_ms_sum);
    for (int i = 0; i < SHM_HIST_BUCKETS; i++)
        o->duration_hist[i] = ALOAD(&n->duration_hist[i]);
}

/* The shared budget's region: atomics loaded once, each key's Redis view through its seqlock. */
static void snap_budget(const struct shm_segment *seg, struct snap *s)
{
    const struct budget_run_sh *r = shm_budget_run(seg);
    struct snap_budget *b = &s->budget;
    snap_copy_str(b->url, r->url, sizeof(b->url));
    b->mode = ALOAD(&r->mode);
    b->n_live = ALOAD(&r->n_live);
    b->lost_since_realtime_ns = ALOAD(&r->lost_since_realtime_ns);
    b->losses = ALOAD(&r->losses);
    b->round_trips = ALOAD(&r->round_trips);
    b->latency_ns = ALOAD(&r->latency_ns);
    b->latency_max_ns = ALOAD(&r->latency_max_ns);
    b->failures = ALOAD(&r->failures);
    b->reconnects = ALOAD(&r->reconnects);
    b->takes = ALOAD(&r->takes);
    b->waits = ALOAD(&r->waits);
    b->gives = ALOAD(&r->gives);
    b->gives_expired = ALOAD(&r->gives_expired);
    b->local_takes = ALOAD(&r->local_takes);
    for (uint32_t i = 0; i < s->key_count; i++) {
        const struct budget_key_sh *k = shm_budget_key(seg, i);
        struct snap_key *o = &s->keys[i];
        if (seqlock_read(&k->pub_seq, k->pub, sizeof(k->pub) / sizeof(k->pub[0]), &o->budget,
                         sizeof(o->budget)) != 0)
            memset(&o->budget, 0, sizeof(o->budget));
        o->budget.reason[sizeof(o->budget.reason) - 1] = '\0';
        o->budget_takes = ALOAD(&k->takes);
        o->budget_waits = ALOAD(&k->waits);
        o->budget_shared_limits = ALOAD(&k->shared_limits);
    }
}

static void snap_gate(const struct gate_sh *g, struct snap_gate *o)
{
    snap_copy_str(o->name, g->name, sizeof(o->name));
    o->kind = g->kind;
    o->ref = g->ref;
    o->limit = ALOAD(&g->limit);
    o->held = (uint32_t)__builtin_popcount(ALOAD(&g->mask));
    o->max_held = ALOAD(&g->max_held);
    o->changes = ALOAD(&g->changes);
    o->taken = ALOAD(&g->taken);
    o->refused = ALOAD(&g->refused);
    o->deadline_ns = ALOAD(&g->deadline_ns);
    o->timeout_ns = g->timeout_ns;
    o->has_status = gate_status_read(g, &o->status) == 0;
    if (o->has_status)
        o->status.reason[sizeof(o->status.reason) - 1] = '\0';
}

static int snap_alloc(struct snap *s)
{
    /* calloc(0) may return NULL: ask for at least one element. */
    s->items = calloc(s->item_count ? s->item_count : 1, sizeof(*s->items));
    s->keys = calloc(s->key_count ? s->key_count : 1, sizeof(*s->keys));
    s->workers = calloc(s->worker_count ? s->worker_count : 1, sizeof(*s->workers));
    s->endpoints = calloc(s->endpoint_count ? s->endpoint_count : 1, sizeof(*s->endpoints));
    s->nodes = calloc(s->node_count ? s->node_count : 1, sizeof(*s->nodes));
    s->gates = calloc(s->gate_count ? s->gate_count : 1, sizeof(*s->gates));
    if (!s->items || !s->keys || !s->workers || !s->endpoints || !s->nodes || !s->gates) {
        snap_free(s);
        return -ENOMEM;
    }
    return 0;
}

int snap_take(const struct shm_segment *seg, struct snap *s)
{
    memset(s, 0, sizeof(*s));
    snap_header(seg, s);
    if (snap_alloc(s) < 0)
        return -ENOMEM;
    s->taken_mono_ns = snap_clock_ns(CLOCK_MONOTONIC);
    s->taken_real_ns = snap_clock_ns(CLOCK_REALTIME);
    snap_items(seg, s);
    for (uint32_t i = 0; i < s->key_count; i++)
        snap_key(shm_cred_slot(seg, i), &s->keys[i], s->taken_mono_ns);
    for (uint32_t i = 0; i < s->worker_count; i++)
        snap_worker(shm_worker_slot(seg, i), &s->workers[i]);
    for (uint32_t i = 0; i < s->endpoint_count; i++)
        snap_endpoint(shm_endpoint_slot(seg, i), &s->endpoints[i]);
    for (uint32_t i = 0; i < s->node_count; i++)
        snap_node(shm_node_slot(seg, i), &s->nodes[i]);
    snap_budget(seg, s);
    for (uint32_t i = 0; i < s->gate_count; i++)
        snap_gate(shm_gate_slot(seg, i), &s->gates[i]);
    return 0;
}

void snap_free(struct snap *s)
{
    free(s->items);
    free(s->keys);
    free(s->workers);
    free(s->endpoints);
    free(s->nodes);
    free(s->gates);
    s->gates = NULL;
    s->items = NULL;
    s->keys = NULL;
    s->workers = NULL;
    s->endpoints = NULL;
    s->nodes = NULL;
    s->item_count = s->key_count = s->worker_count = s->endpoint_count = s->node_count = 0;
    s->gate_count = 0;
}

const char *snap_run_state_name(uint32_t run_state)
{
    static const char *const names[] = {
        [SHM_RUN_STARTING] = "starting", [SHM_RUN_RUNNING] = "running",
        [SHM_RUN_PAUSED] = "paused",     [SHM_RUN_SHUTTING_DOWN] = "shutting down",
        [SHM_RUN_DONE] = "done",
    };

    return run_state < sizeof(names) / sizeof(names[0]) ? names[run_state] : "unknown";
}

const char *snap_state_name(unsigned i)
{
    return i == SNAP_STATE_UNREADABLE ? "unreadable" : prog_state_name(i);
}

int snap_state_final(uint32_t state)
{
    return state == PROG_APPROVED || state == PROG_NEEDS_REVISION || state == PROG_FAILED;
}

double snap_item_elapsed_s(const struct snap *s, const struct snap_item *it)
{
    int64_t end;

    if (!it->readable || it->p.started_ns <= 0)
        return 0.0;
    /* finished_ns of an earlier attempt is older than this attempt's start. */
    end = it->p.finished_ns > it->p.started_ns ? it->p.finished_ns : s->taken_mono_ns;
    return end > it->p.started_ns ? (double)(end - it->p.started_ns) / 1e9 : 0.0;
}
