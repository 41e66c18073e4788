/*
 * coord_limits.c - the coordinator's side of the run's limits (SPEC 8, 12):
 *   - the gates the segment is created with: a limit per node (the run file's
 *     max_concurrent), per endpoint (the adaptive limit, starting at the
 *     width), per item group (max_workers; timeout), and the least time
 *     between two item starts;
 *   - every tick: the adaptive limiter's windows (runtime/adapt.h), each
 *     change a console line ("endpoint 127.0.0.1:8080: 4 -> 3 requests at a
 *     time (error share 31 %)") and a line of coordinator-audit.jsonl; groups
 *     past their timeout fail their items that have not started;
 *   - a dead worker's places in every gate come back (coord_workers.c calls
 *     gate_release_dead with its slot).
 * Like the rest of the coordinator it only reads and writes atomics: no lock.
 */
#include "runtime/coord.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "shm/gate.h"
#include "shm/prog.h"
#include "shm/util.h"

void climits_params(struct coord *c, struct shm_create_params *p)
{
    struct run_ctx *rc = &c->rc;
    struct coord_limits *l = &c->lim;
    size_t ng = rc->plan.ngroups < SHM_MAX_GROUPS ? rc->plan.ngroups : SHM_MAX_GROUPS;
    for (size_t g = 0; g < ng; g++) {
        l->group_names[g] = rc->plan.groups[g].name;
        l->group_limits[g] = rc->plan.groups[g].max_concurrent;
        l->group_timeouts[g] = (int64_t)rc->plan.groups[g].timeout_s * UTIL_NS_PER_SEC;
    }
    p->node_limits = rc->node_limits;
    p->adaptive = rc->adaptive;
    p->endpoint_limit = 0; /* adapt_init sets it when adaptive */
    p->group_count = (uint32_t)ng;
    p->group_names = l->group_names;
    p->group_limits = l->group_limits;
    p->group_timeouts_ns = l->group_timeouts;
    p->start_gap_ns = (int64_t)(rc->plan.start_gap_s * 1e9);
}

static void climits_iso_now(char out[32])
{
    int64_t ns = util_now_real_ns();
    time_t sec = (time_t)(ns / UTIL_NS_PER_SEC);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)((ns % UTIL_NS_PER_SEC) / UTIL_NS_PER_MS));
}

/* One line of coordinator-audit.jsonl: ts, run, event, then o's fields. Takes o. */
static void climits_audit(struct coord *c, const char *event, cJSON *o)
{
    char ts[32];
    if (!o)
        return;
    climits_iso_now(ts);
    cJSON_AddStringToObject(o, "ts", ts);
    cJSON_AddStringToObject(o, "run", c->rc.run_id);
    cJSON_AddStringToObject(o, "event", event);
    char *line = c->lim.audit_fd >= 0 ? cJSON_PrintUnformatted(o) : NULL;
    if (line) {
        size_t n = strlen(line);
        line[n] = '\n'; /* one write: a line is whole or absent, even after kill -9 */
        if (write(c->lim.audit_fd, line, n + 1) < 0)
            c->lim.audit_fd = -1; /* the console line stands; no loop on a full disk */
        cJSON_free(line);
    }
    cJSON_Delete(o);
}

static void climits_report(void *arg, const struct adapt_change *ch)
{
    struct coord *c = arg;
    char name[SHM_ENDPOINT_MAX];
    adapt_endpoint_name(ch->url, name, sizeof(name));
    ccon_coord(&c->con, "endpoint %s: %u -> %u request%s at a time (%s)", name, ch->ch.from,
               ch->ch.to, ch->ch.to == 1 ? "" : "s", ch->ch.reason);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    cJSON_AddStringToObject(o, "endpoint", ch->url);
    cJSON_AddNumberToObject(o, "from", ch->ch.from);
    cJSON_AddNumberToObject(o, "to", ch->ch.to);
    cJSON_AddStringToObject(o, "reason", ch->ch.reason);
    cJSON_AddNumberToObject(o, "finished", ch->finished);
    cJSON_AddNumberToObject(o, "errors", ch->errors);
    cJSON_AddNumberToObject(o, "median_ms", ch->median_ms);
    climits_audit(c, "limit_change", o);
}

int climits_start(struct coord *c)
{
    struct run_ctx *rc = &c->rc;
    char path[PATH_MAX];
    c->lim.audit_fd = -1;
    if (util_pathf(path, sizeof(path), "%s/coordinator-audit.jsonl", rc->run_dir) == 0)
        c->lim.audit_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int r = adapt_init(&c->lim.adapt, &rc->seg, &rc->cfg.adaptive, (uint32_t)rc->plan.parallel,
                       rc->adaptive, util_now_mono_ns());
    if (r < 0)
        fprintf(stderr, "agentos-run: could not set up the adaptive limits: %s\n", strerror(-r));
    return r;
}

/* The first lines of a run that sized itself: what was chosen, and why. */
void climits_announce(struct coord *c)
{
    struct run_ctx *rc = &c->rc;
    if (rc->width_why[0])
        ccon_coord(&c->con, "%s", rc->width_why);
    if (rc->cfg_path[0])
        ccon_coord(&c->con, "Run file %s: %zu node setting%s", rc->cfg_path, rc->cfg.node_count,
                   rc->cfg.node_count == 1 ? "" : "s");
    if (c->lim.adapt.on)
        ccon_coord(&c->con,
                   "Adaptive: each endpoint starts at %d requests at a time (at most %d), "
                   "reviewed every %us",
                   (rc->plan.parallel + 1) / 2, rc->plan.parallel, rc->cfg.adaptive.window_s);
}

/* Fail item k (the coordinator owns its claim: SKIP) with reason. */
static void climits_fail_slot(struct coord *c, uint32_t k, const char *reason)
{
    struct prog_slot_sh *slot = shm_prog_slot(&c->rc.seg, k);
    struct prog_item p;
    if (prog_read(slot, &p) != 0) {
        memset(&p, 0, sizeof(p));
        util_strlcpy(p.id, run_item(&c->rc, k)->id, sizeof(p.id));
    }
    p.state = PROG_FAILED;
    util_strlcpy(p.reason, reason, sizeof(p.reason));
    p.updated_ns = p.finished_ns = util_now_mono_ns();
    prog_write(slot, &p);
    prog_set_claim(slot, PROG_CLAIM_DONE, 0);
}

/*
 * Groups past their timeout: their items not started fail without running
 * (running ones are stopped by their worker, whose nodes are bounded by the
 * deadline). A free item is owned first (SKIP) since a worker may take it.
 */
static void climits_groups(struct coord *c, int64_t now)
{
    struct run_ctx *rc = &c->rc;
    for (uint32_t k = 0; k < rc->nsel; k++) {
        unsigned g = run_item(rc, k)->group;
        struct gate_sh *gate = g ? gate_group(&rc->seg, g - 1) : NULL;
        if (!gate || !gate_expired(gate, now))
            continue;
        struct prog_slot_sh *slot = shm_prog_slot(&rc->seg, k);
        uint32_t claim = prog_claim_state(prog_claim_load(slot));
        if ((claim != PROG_CLAIM_FREE && claim != PROG_CLAIM_BLOCKED) ||
            !prog_claim_move(slot, claim, PROG_CLAIM_SKIP))
            continue;
        const struct item_group *ig = &rc->plan.groups[g - 1];
        char reason[SHM_REASON_MAX];
        util_errf(reason, sizeof(reason), "not started: group %s passed its timeout of %lds",
                  ig->name, ig->timeout_s);
        climits_fail_slot(c, k, reason);
        ccon_coord(&c->con, "%s FAILED: %s", run_item(rc, k)->id, reason);
        cJSON *o = cJSON_CreateObject();
        if (o) {
            cJSON_AddStringToObject(o, "group", ig->name);
            cJSON_AddStringToObject(o, "item", run_item(rc, k)->id);
            cJSON_AddNumberToObject(o, "timeout_s", (double)ig->timeout_s);
            climits_audit(c, "group_timeout", o);
        }
    }
}

void climits_tick(struct coord *c)
{
    int64_t now = util_now_mono_ns();
    adapt_tick(&c->lim.adapt, now, climits_report, c);
    if (c->rc.plan.ngroups)
        climits_groups(c, now);
}

void climits_free(struct coord *c)
{
    adapt_free(&c->lim.adapt);
    if (c->lim.audit_fd >= 0)
        close(c->lim.audit_fd);
    c->lim.audit_fd = -1;
}
