/*
 * pool.c - the coordinator's credential-pool monitor (see pool.h).
 *
 * The coordinator never takes a lock a worker can hold, as PostgreSQL's
 * postmaster keeps out of shared locks: its view of the pool reads each key
 * slot's published copy lock-free (cred_view), so a worker stopped while
 * holding a slot's mutex (SIGSTOP, a debugger) cannot hold the run up. A
 * reload must change the slots and takes each mutex with a bounded wait, and
 * says so when one stayed held.
 */
#include "runtime/pool.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "shm/util.h"
#include "shm/breaker.h"
#include "shm/cred.h"

/* Longest the coordinator waits for a key slot a worker holds (a reload). */
#define POOL_LOCK_WAIT_NS (200 * UTIL_NS_PER_MS)

void pool_view_add(struct pool_view *v, const struct cred_pub *k, int endpoint_ready,
                   int64_t now_ns)
{
    v->keys++;
    if (k->state != CRED_DISABLED)
        v->live_roles |= k->roles; /* rate limits and breakers pass: they end by themselves */
    if (k->state == CRED_DISABLED)
        v->disabled++;
    else if (k->rate_limited_until_ns > now_ns)
        v->limited++;
    else if (!endpoint_ready)
        v->cut_off++;
    else
        v->serving_slots += k->concurrency ? k->concurrency : 1;
}

uint32_t pool_parallelism(uint32_t parallel_max, uint32_t serving_slots)
{
    uint32_t want = parallel_max < serving_slots ? parallel_max : serving_slots;
    return want < 1 ? 1 : want;
}

uint32_t pool_missing_roles(const struct pool_view *v, uint32_t roles_needed)
{
    if (v->keys == 0 || v->disabled == v->keys)
        return roles_needed ? roles_needed : CRED_ROLE_DRAFT | CRED_ROLE_REVIEW;
    return roles_needed & ~v->live_roles;
}

static void look(struct pool_monitor *pm, struct pool_view *v)
{
    struct shm_segment *seg = &pm->rc->seg;
    int64_t now = util_now_mono_ns();
    memset(v, 0, sizeof(*v));
    for (uint32_t i = 0; i < seg->hdr->key_count; i++) {
        struct cred_pub k;
        if (cred_view(shm_cred_slot(seg, i), &k) < 0) {
            v->keys++; /* unreadable right now: counted, neither serving nor disabled */
            continue;
        }
        /* pid 0 is nobody's: a half-open endpoint counts as cut off until it closes */
        pool_view_add(v, &k, breaker_ready(seg, k.endpoint, 0, now, NULL), now);
    }
}

static void stat_creds(struct pool_monitor *pm, struct timespec *out)
{
    struct stat st;
    memset(out, 0, sizeof(*out));
    if (stat(pm->cred_path, &st) == 0)
        *out = st.st_mtim;
}

void pool_init(struct pool_monitor *pm, struct run_ctx *rc, struct coord_console *con)
{
    memset(pm, 0, sizeof(*pm));
    pm->rc = rc;
    pm->con = con;
    pm->last_parallelism =
        (uint32_t)rc->plan.parallel; /* the first tick says so if keys narrow it */
    util_strlcpy(pm->cred_path, rc->cred_path, sizeof(pm->cred_path));
    stat_creds(pm, &pm->cred_mtime);
}

static void set_parallelism(struct pool_monitor *pm, const struct pool_view *v)
{
    struct shm_header_sh *h = pm->rc->seg.hdr;
    uint32_t want = pool_parallelism(h->parallel_max, v->serving_slots);
    if (want == pm->last_parallelism)
        return;
    atomic_store(&h->parallelism, want);
    ccon_coord(pm->con, "%u of %u key%s can serve now; running %u workflow%s at a time (was %u)",
               v->keys - v->disabled - v->limited - v->cut_off, v->keys, v->keys == 1 ? "" : "s",
               want, want == 1 ? "" : "s", pm->last_parallelism);
    pm->last_parallelism = want;
}

static void watch_waiting(struct pool_monitor *pm, const struct pool_view *v)
{
    uint32_t waiting = atomic_load(&pm->rc->seg.hdr->waiting_for_key);
    if (waiting > 0 && pm->last_waiting == 0 && !pm->paused) {
        char why[64];
        snprintf(why, sizeof(why), "busy%s%s%s", v->limited ? " or rate-limited" : "",
                 v->disabled ? " or disabled" : "", v->cut_off ? " or cut off" : "");
        if (v->keys == 1)
            ccon_coord(pm->con, "The only key is %s; %u workflow%s waiting for a key", why, waiting,
                       waiting == 1 ? "" : "s");
        else
            ccon_coord(pm->con, "All %u keys %s; %u workflow%s waiting for a key", v->keys, why,
                       waiting, waiting == 1 ? "" : "s");
    }
    pm->last_waiting = waiting;
}

/* "draft", "review" or "draft and review" for a set of CRED_ROLE_* bits. */
static const char *pool_roles_name(uint32_t roles)
{
    switch (roles & (CRED_ROLE_DRAFT | CRED_ROLE_REVIEW)) {
    case CRED_ROLE_DRAFT:
        return "draft";
    case CRED_ROLE_REVIEW:
        return "review";
    default:
        return "draft and review";
    }
}

/*
 * The pool is exhausted when no key can come back by itself: every key is
 * disabled, or every key of a role the workflow needs is (a free draft key is
 * no use to a workflow that can never get its review).
 */
static void watch_pause(struct pool_monitor *pm, const struct pool_view *v)
{
    struct shm_header_sh *h = pm->rc->seg.hdr;
    uint32_t missing = pool_missing_roles(v, pm->rc->roles_needed);
    int exhausted = missing != 0;
    if (exhausted && !pm->paused) {
        pm->paused = 1;
        pm->paused_since_ns = util_now_mono_ns();
        atomic_store(&h->run_state, SHM_RUN_PAUSED);
        ccon_coord(pm->con, "Credential pool exhausted. Pausing all workflows...");
        if (v->disabled < v->keys && missing)
            ccon_coord(pm->con, "No usable key has role %s", pool_roles_name(missing));
        ccon_coord(pm->con, "Edit %s or send SIGHUP to reload it%s", pm->cred_path,
                   pm->rc->o->pause_timeout >= 0 ? "; --pause-timeout is running" : "");
    } else if (!exhausted && pm->paused) {
        pm->paused = 0;
        atomic_store(&h->run_state, SHM_RUN_RUNNING);
        ccon_coord(pm->con, "Credential pool has usable keys again; resuming");
    }
    if (pm->paused && pm->rc->o->pause_timeout >= 0 &&
        util_now_mono_ns() - pm->paused_since_ns >= pm->rc->o->pause_timeout * UTIL_NS_PER_SEC &&
        !pm->expired) {
        pm->expired = 1;
        ccon_coord(pm->con, "Paused for %lds (--pause-timeout); checkpointing and exiting",
                   pm->rc->o->pause_timeout);
    }
}

void pool_tick(struct pool_monitor *pm)
{
    if (!pm->rc->roles_needed)
        return; /* no item of this run sends a request */
    struct timespec mt;
    stat_creds(pm, &mt);
    if (mt.tv_sec != pm->cred_mtime.tv_sec || mt.tv_nsec != pm->cred_mtime.tv_nsec)
        pool_reload(pm, "edited file");
    struct pool_view v;
    look(pm, &v);
    /* An item that needs no key (a shell command, say) must not wait for the pool:
     * the run narrows to the keys that serve only when every item needs one. */
    if (pm->rc->narrow_to_keys)
        set_parallelism(pm, &v);
    /* the pause first: once paused, "All keys busy; waiting" would only mislead */
    watch_pause(pm, &v);
    watch_waiting(pm, &v);
}

void pool_reload(struct pool_monitor *pm, const char *why)
{
    struct run_ctx *rc = pm->rc;
    stat_creds(pm, &pm->cred_mtime);
    struct cred_file cf;
    char err[512];
    if (credfile_load(pm->cred_path, rc->creds.n, &cf, err, sizeof(err)) < 0) {
        ccon_coord(pm->con, "Credentials not reloaded (%s): %s", why, err);
        return;
    }
    /* The segment's key table has a fixed size: a reload keeps the keys' places. */
    if (cf.n != rc->creds.n) {
        ccon_coord(pm->con,
                   "Credentials not reloaded (%s): the file now has %zu keys, the run has %zu; "
                   "restart the run to change the number of keys",
                   why, cf.n, rc->creds.n);
        credfile_free(&cf);
        return;
    }
    size_t n = cf.n;
    struct cred_init ci;
    for (size_t i = 0; i < n; i++) {
        if (pool_cred_init(&rc->seg, &cf.v[i], &ci) < 0) {
            ccon_coord(pm->con,
                       "Credentials not reloaded (%s): key %s has a new base_url; restart the "
                       "run to change endpoints",
                       why, cf.v[i].id);
            credfile_free(&cf);
            return;
        }
    }
    /*
     * Workers re-read the file when the generation changes (new secrets). It
     * moves before any slot comes back, so a worker that reserves a reloaded
     * key also sees the new generation and never sends an old secret with it.
     */
    atomic_fetch_add(&rc->seg.hdr->pool_generation, 1);
    for (size_t i = 0; i < n; i++) {
        pool_cred_init(&rc->seg, &cf.v[i], &ci);
        if (cred_slot_reload(shm_cred_slot(&rc->seg, (uint32_t)i), &ci, POOL_LOCK_WAIT_NS) < 0)
            ccon_coord(pm->con,
                       "Key %s keeps its old settings: a worker holding its slot does not "
                       "answer (stopped?); the next reload tries again",
                       cf.v[i].id);
    }
    credfile_free(&rc->creds);
    rc->creds = cf;
    ccon_coord(pm->con, "Credentials reloaded (%s): %zu key%s", why, n, n == 1 ? "" : "s");
}

int pool_should_exit(const struct pool_monitor *pm)
{
    return pm->expired;
}

void pool_free(struct pool_monitor *pm)
{
    (void)pm;
}

uint32_t pool_endpoints(const struct cred_file *cf, const char **urls)
{
    uint32_t n = 0;
    for (size_t i = 0; i < cf->n; i++) {
        uint32_t j;
        for (j = 0; j < n && strcmp(urls[j], cf->v[i].base_url) != 0; j++)
            ;
        if (j == n)
            urls[n++] = cf->v[i].base_url;
    }
    return n;
}

int pool_endpoint_index(const struct shm_segment *seg, const char *url)
{
    char cut[SHM_ENDPOINT_MAX];
    util_strlcpy(cut, url, sizeof(cut));
    for (uint32_t i = 0; i < seg->hdr->endpoint_count; i++)
        if (strcmp(shm_endpoint_slot(seg, i)->url, cut) == 0)
            return (int)i;
    return -1;
}

int pool_cred_init(const struct shm_segment *seg, const struct credential *c, struct cred_init *ci)
{
    credfile_to_init(c, ci);
    int e = pool_endpoint_index(seg, c->base_url);
    if (e < 0)
        return -ENOENT;
    ci->endpoint = (uint32_t)e;
    return 0;
}
