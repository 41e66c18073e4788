/*
 * budget_coord.c - the coordinator's side of the shared key budget (see
 * budget_coord.h): the start check, the heartbeat, Redis's view of the keys
 * for the inspector, the mode and its console lines, a dead worker's lease,
 * and the figures at the end.
 *
 * The mode lives in the segment (budget_run_sh.mode) because workers find a
 * loss first, in the middle of a request; they move it SHARED -> LOCAL
 * (budget_gate_lost), and only the coordinator moves it back, once its own
 * reconnect and heartbeat succeeded, so a run never flaps between the two on
 * every failed call.
 */
#include "runtime/budget_coord.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "llm/budget_gate.h"
#include "shm/seqlock.h"
#include "shm/util.h"

#define BKEY_PUB_WORDS (sizeof(((struct budget_key_sh *)0)->pub) / sizeof(uint64_t))

/* "<host>:<run id>", cut to what the heartbeat set takes, odd characters as '_'. */
static void bcoord_make_id(struct bcoord *bc)
{
    char host[64] = "host";
    gethostname(host, sizeof(host) - 1);
    host[24] = '\0';
    util_errf(bc->id, sizeof(bc->id), "%s:%.38s", host, bc->rc->run_id); /* cut by design */
    for (char *p = bc->id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == ':' || *p == '-'))
            *p = '_';
}

int bcoord_open(struct bcoord *bc, struct run_ctx *rc)
{
    memset(bc, 0, sizeof(*bc));
    bc->rc = rc;
    if (!rc->budget_url[0])
        return 0;
    struct budget_redis_opts o = {.url = rc->budget_url,
                                  .pool = BUDGET_POOL,
                                  .connect_timeout_ms = BCOORD_CONNECT_TIMEOUT_MS,
                                  .command_timeout_ms = BCOORD_COMMAND_TIMEOUT_MS};
    char err[512];
    int r = budget_redis_open(&o, &bc->b, err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, "agentos-run: %s (the shared key budget: is Redis running there?)\n",
                err[0] ? err : rc->budget_url);
        return r;
    }
    bcoord_make_id(bc);
    return 0;
}

static struct budget_run_sh *bcoord_run(const struct bcoord *bc)
{
    return shm_budget_run(&bc->rc->seg);
}

static uint32_t bcoord_lease_ttl_ms(const struct bcoord *bc)
{
    return bc->rc->budget_lease_ms;
}

/* One heartbeat. 0, or the -errno of a lost Redis (the run then falls back). */
static int bcoord_beat(struct bcoord *bc)
{
    uint32_t n = 0;
    int r = budget_redis_heartbeat(bc->b, bc->id, BCOORD_BEAT_TTL_MS, &n);
    bc->next_beat_ns = util_now_mono_ns() + BCOORD_BEAT_MS * UTIL_NS_PER_MS;
    if (r == 0 && n > 0)
        atomic_store(&bcoord_run(bc)->n_live, n);
    return r;
}

void bcoord_start(struct bcoord *bc, struct coord_console *con)
{
    bc->con = con;
    if (!bc->b)
        return;
    bc->shown_mode = SHM_BUDGET_SHARED;
    if (bcoord_beat(bc) < 0) {
        bc->own_loss = 1;
        budget_gate_lost(&bc->rc->seg);
        return; /* the tick says so and probes */
    }
    uint32_t n = atomic_load(&bcoord_run(bc)->n_live);
    ccon_coord(con, "Keys shared through %s: %u run%s live on this pool", bc->rc->budget_url, n,
               n == 1 ? "" : "s");
}

/* Redis's view of key i into the segment (for agentos-shmstat). */
static void bcoord_view(struct bcoord *bc, uint32_t i)
{
    const struct credential *cr = &bc->rc->creds.v[i];
    struct budget_key_conf conf;
    struct budget_view v;
    budget_gate_conf(cr, bcoord_lease_ttl_ms(bc), &conf);
    if (budget_redis_view(bc->b, cr->id, &conf, &v) < 0)
        return;
    struct budget_key_pub p;
    memset(&p, 0, sizeof(p));
    p.valid = 1;
    p.leases = v.leases;
    p.disabled = (uint32_t)v.disabled;
    p.rate_limited_until_unix_ms = v.rate_limited_until_unix_ms;
    p.rpm_left = v.rpm_left;
    p.tpm_left = v.tpm_left;
    p.read_realtime_ns = util_now_real_ns();
    util_strlcpy(p.reason, v.reason, sizeof(p.reason));
    struct budget_key_sh *k = shm_budget_key(&bc->rc->seg, i);
    seqlock_write(&k->pub_seq, k->pub, BKEY_PUB_WORDS, &p, sizeof(p), NULL);
    bc->views++;
}

/* While lost: one reconnect and heartbeat a second; SHARED again when both answer. */
static void bcoord_probe(struct bcoord *bc, int64_t now)
{
    if (now < bc->next_probe_ns)
        return;
    bc->next_probe_ns = now + BCOORD_PROBE_MS * UTIL_NS_PER_MS;
    if (!budget_redis_connected(bc->b) && budget_redis_reconnect(bc->b) < 0)
        return;
    if (bcoord_beat(bc) < 0)
        return;
    uint32_t want = SHM_BUDGET_LOCAL;
    if (atomic_compare_exchange_strong(&bcoord_run(bc)->mode, &want, SHM_BUDGET_SHARED))
        atomic_store(&bcoord_run(bc)->lost_since_realtime_ns, 0);
    bc->own_loss = 0;
}

/* A console line whenever the mode changed since the last one. */
static void bcoord_say_mode(struct bcoord *bc, int64_t now)
{
    uint32_t mode = atomic_load(&bcoord_run(bc)->mode);
    if (mode == bc->shown_mode)
        return;
    bc->shown_mode = mode;
    if (mode == SHM_BUDGET_LOCAL) {
        uint32_t n = atomic_load(&bcoord_run(bc)->n_live);
        const char *why = bc->own_loss ? budget_redis_error(bc->b) : "a request found it gone";
        bc->lost_at_ns = now;
        ccon_coord(bc->con,
                   "Budget %s lost%s%s%s; each key falls back to 1/%u of its budget until Redis "
                   "returns",
                   bc->rc->budget_url, why[0] ? " (" : "", why, why[0] ? ")" : "", n ? n : 1);
    } else {
        ccon_coord(bc->con, "Budget %s is back after %llds; keys shared through Redis again",
                   bc->rc->budget_url,
                   (long long)((now - bc->lost_at_ns + UTIL_NS_PER_SEC / 2) / UTIL_NS_PER_SEC));
    }
}

static void bcoord_renew(struct bcoord *bc, int64_t now);

void bcoord_tick(struct bcoord *bc)
{
    if (!bc->b)
        return;
    int64_t now = util_now_mono_ns();
    uint64_t gen = atomic_load(&bc->rc->seg.hdr->pool_generation);
    if (gen != bc->generation) { /* the credentials were reloaded: keys enabled for every run */
        bc->generation = gen;
        bcoord_reloaded(bc);
    }
    uint32_t mode = atomic_load(&bcoord_run(bc)->mode);
    if (mode == SHM_BUDGET_SHARED) {
        bcoord_renew(bc, now);
        int r = now >= bc->next_beat_ns ? bcoord_beat(bc) : 0;
        if (budget_redis_lost(r) && budget_redis_reconnect(bc->b) == 0)
            r = bcoord_beat(bc); /* a connection from before a restart: once more */
        if (budget_redis_lost(r)) {
            bc->own_loss = 1;
            budget_gate_lost(&bc->rc->seg);
        } else if (bc->rc->creds.n) {
            bcoord_view(bc, bc->next_view % (uint32_t)bc->rc->creds.n);
            bc->next_view++;
        }
    } else if (mode == SHM_BUDGET_LOCAL) {
        bcoord_probe(bc, now);
    }
    bcoord_say_mode(bc, now);
}

/* The lease worker slot w holds, into *lease. 1 if it holds one. */
static int bcoord_lease_of(struct bcoord *bc, unsigned w, struct budget_lease *lease, uint32_t *key)
{
    struct budget_lease_sh *ls = shm_budget_lease(&bc->rc->seg, w);
    struct budget_lease_pub p;
    if (!ls ||
        seqlock_read(&ls->seq, ls->pub, sizeof(ls->pub) / sizeof(ls->pub[0]), &p, sizeof(p)) != 0)
        return 0;
    if (!p.held || p.key_index >= bc->rc->creds.n)
        return 0;
    memset(lease, 0, sizeof(*lease));
    util_strlcpy(lease->key_id, bc->rc->creds.v[p.key_index].id, sizeof(lease->key_id));
    p.lease_id[sizeof(p.lease_id) - 1] = '\0';
    util_strlcpy(lease->lease_id, p.lease_id, sizeof(lease->lease_id));
    *key = p.key_index;
    return 1;
}

/*
 * Leases stay short (a host that dies gives its keys back within one TTL);
 * the coordinator renews its workers' leases every third of it, while their
 * requests run. A renew of a lease given back meanwhile finds nothing: harmless.
 */
static void bcoord_renew(struct bcoord *bc, int64_t now)
{
    uint32_t ttl = bcoord_lease_ttl_ms(bc), key;
    struct budget_lease lease;
    if (now < bc->next_renew_ns)
        return;
    bc->next_renew_ns = now + (int64_t)ttl / 3 * UTIL_NS_PER_MS;
    for (unsigned w = 0; w < bc->rc->seg.hdr->worker_count; w++)
        if (bcoord_lease_of(bc, w, &lease, &key) &&
            budget_redis_lost(budget_redis_renew(bc->b, &lease, ttl)))
            return; /* the next beat finds the loss */
}

void bcoord_worker_died(struct bcoord *bc, unsigned worker)
{
    struct budget_lease lease;
    uint32_t key;
    if (!bc->b || !bcoord_lease_of(bc, worker, &lease, &key))
        return;
    /* The dead worker's slot is reused by its successor, which publishes anew. */
    struct budget_lease_sh *ls = shm_budget_lease(&bc->rc->seg, worker);
    struct budget_lease_pub none;
    memset(&none, 0, sizeof(none));
    seqlock_write(&ls->seq, ls->pub, sizeof(ls->pub) / sizeof(ls->pub[0]), &none, sizeof(none),
                  NULL);
    const struct credential *cr = &bc->rc->creds.v[key];
    struct budget_key_conf conf;
    budget_gate_conf(cr, bcoord_lease_ttl_ms(bc), &conf);
    /* It may have been sent: its rpm charge stays; only the lease comes back. */
    struct budget_give g = {.outcome = BUDGET_GIVE_FAILED, .tokens_used = -1};
    if (budget_redis_give(bc->b, &lease, &conf, &g) == 0)
        atomic_fetch_add(&bcoord_run(bc)->gives, 1);
}

void bcoord_reloaded(struct bcoord *bc)
{
    if (!bc->b || atomic_load(&bcoord_run(bc)->mode) != SHM_BUDGET_SHARED)
        return;
    for (size_t i = 0; i < bc->rc->creds.n; i++)
        if (budget_redis_lost(budget_redis_enable(bc->b, bc->rc->creds.v[i].id))) {
            bc->own_loss = 1;
            budget_gate_lost(&bc->rc->seg);
            return;
        }
}

void bcoord_report(const struct bcoord *bc)
{
    if (!bc->b)
        return;
    const struct budget_run_sh *r = bcoord_run(bc);
    uint64_t rt = atomic_load(&r->round_trips),
             reqs = atomic_load(&bc->rc->seg.hdr->requests_total);
    uint64_t lat = atomic_load(&r->latency_ns), lmax = atomic_load(&r->latency_max_ns);
    uint64_t losses = atomic_load(&r->losses);
    ccon_coord(bc->con,
               "Budget %s: %llu takes, %llu waits, %llu by the local share; %.2f round trips a "
               "request, %.2f ms mean, %.2f ms max%s%llu time%s lost",
               bc->rc->budget_url, (unsigned long long)atomic_load(&r->takes),
               (unsigned long long)atomic_load(&r->waits),
               (unsigned long long)atomic_load(&r->local_takes),
               reqs ? (double)rt / (double)reqs : 0.0, rt ? (double)lat / (double)rt / 1e6 : 0.0,
               (double)lmax / 1e6, "; ", (unsigned long long)losses, losses == 1 ? "" : "s");
}

void bcoord_close(struct bcoord *bc)
{
    if (!bc->b)
        return;
    if (budget_redis_connected(bc->b))
        budget_redis_leave(bc->b, bc->id);
    budget_redis_close(bc->b);
    bc->b = NULL;
}

static double bcoord_round3(double x)
{
    return (double)(long long)(x * 1000 + 0.5) / 1000;
}

void bcoord_summary_json(const struct shm_segment *seg, cJSON *root)
{
    const struct budget_run_sh *r = shm_budget_run(seg);
    if (!r || atomic_load(&r->mode) == SHM_BUDGET_OFF)
        return;
    cJSON *o = cJSON_AddObjectToObject(root, "budget");
    uint64_t rt = atomic_load(&r->round_trips), reqs = atomic_load(&seg->hdr->requests_total);
    cJSON_AddStringToObject(o, "url", r->url);
    cJSON_AddStringToObject(o, "mode",
                            atomic_load(&r->mode) == SHM_BUDGET_SHARED ? "shared" : "local");
    cJSON_AddNumberToObject(o, "takes", (double)atomic_load(&r->takes));
    cJSON_AddNumberToObject(o, "waits", (double)atomic_load(&r->waits));
    cJSON_AddNumberToObject(o, "gives", (double)atomic_load(&r->gives));
    cJSON_AddNumberToObject(o, "gives_expired", (double)atomic_load(&r->gives_expired));
    cJSON_AddNumberToObject(o, "local_takes", (double)atomic_load(&r->local_takes));
    cJSON_AddNumberToObject(o, "round_trips", (double)rt);
    cJSON_AddNumberToObject(o, "round_trips_per_request",
                            reqs ? bcoord_round3((double)rt / (double)reqs) : 0);
    cJSON_AddNumberToObject(
        o, "latency_mean_ms",
        rt ? bcoord_round3((double)atomic_load(&r->latency_ns) / (double)rt / 1e6) : 0);
    cJSON_AddNumberToObject(o, "latency_max_ms",
                            bcoord_round3((double)atomic_load(&r->latency_max_ns) / 1e6));
    cJSON_AddNumberToObject(o, "failures", (double)atomic_load(&r->failures));
    cJSON_AddNumberToObject(o, "reconnects", (double)atomic_load(&r->reconnects));
    cJSON_AddNumberToObject(o, "losses", (double)atomic_load(&r->losses));
    cJSON_AddNumberToObject(o, "runs_live", atomic_load(&r->n_live));
}
