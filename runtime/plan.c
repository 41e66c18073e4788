/*
 * plan.c - deciding what a run will do, before anything is created.
 *
 * Resolves the folders (--home, $AGENTOS_HOME, ~/.agentos; --items/--out or
 * the workflow's defaults), discovers the items and selects the pending or
 * named ones, answers --dry-run (which must touch no network, write no file
 * and create no segment, so it lives here, before any of that exists), loads
 * the credentials and the environment knobs, and makes the run folder.
 * Everything that can be a usage or configuration error is found here and
 * reported in one line; the coordinator starts only when the plan holds.
 */
#include "runtime/plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/ckpt.h"
#include "runtime/util.h"
#include "runtime/ws.h"

int run_ckpt_path(const struct run_ctx *rc, const struct item *it, char *out, size_t outlen)
{
    if (rc->workflow_db) {
        util_strlcpy(out, rc->workflow_db, outlen);
        return 0;
    }
    if (rc->ws) {
        int n = snprintf(out, outlen, "%s/checkpoints/workstream-%s/%s.db", rc->home, rc->ws->id,
                         it->stem);
        return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
    }
    return ckpt_path(out, outlen, rc->home, rc->wf->name, it->stem);
}

static int resolve_paths(struct run_ctx *rc)
{
    const struct run_opts *o = rc->o;
    const char *home = o->home ? o->home : getenv("AGENTOS_HOME");
    if (home && *home) {
        util_strlcpy(rc->home, home, sizeof(rc->home));
    } else {
        const char *h = getenv("HOME");
        if (!h || !*h) {
            fprintf(stderr, "agentos-run: neither --home, $AGENTOS_HOME nor $HOME is set\n");
            return -EINVAL;
        }
        snprintf(rc->home, sizeof(rc->home), "%s/.agentos", h);
    }
    util_strlcpy(rc->items_dir, o->items_dir ? o->items_dir : rc->wf->items_dir,
                 sizeof(rc->items_dir));
    util_strlcpy(rc->out_dir, o->out_dir ? o->out_dir : rc->wf->out_dir, sizeof(rc->out_dir));
    return 0;
}

static int env_long(const char *name, long lo, long hi, long *out)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return 0;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < lo || n > hi) {
        fprintf(stderr, "agentos-run: %s=\"%.40s\" is not a whole number from %ld to %ld\n", name,
                v, lo, hi);
        return -EINVAL;
    }
    *out = n;
    return 1;
}

/* Find an item by a command-line ID; index or -1. */
static long find_item(const struct run_ctx *rc, const char *arg)
{
    char stem[ITEM_STEM_MAX + 1], id[SHM_ID_MAX], err[256];
    if (item_stem_from_arg(rc->wf->id_prefix, arg, stem, sizeof(stem), err, sizeof(err)) < 0) {
        fprintf(stderr, "agentos-run: %s\n", err);
        return -2;
    }
    item_make_id(rc->wf->id_prefix, stem, id, sizeof(id));
    for (size_t i = 0; i < rc->items.n; i++)
        if (!rc->items.v[i].invalid_name && strcasecmp(rc->items.v[i].id, id) == 0)
            return (long)i;
    fprintf(stderr, "agentos-run: no item %s in %s\n", id, rc->items_dir);
    return -1;
}

/* Choose the items of this run into rc->sel. 0, or -EINVAL (usage error, printed). */
static int select_items(struct run_ctx *rc)
{
    const struct run_opts *o = rc->o;
    rc->sel = calloc(rc->items.n + 1, sizeof(*rc->sel));
    if (!rc->sel)
        return -ENOMEM;
    if (o->all) {
        for (size_t i = 0; i < rc->items.n; i++)
            if (rc->items.v[i].pending || o->fresh)
                rc->sel[rc->nsel++] = i;
        return 0;
    }
    for (int k = 0; k < o->nids; k++) {
        long i = find_item(rc, o->ids[k]);
        if (i < 0)
            return -EINVAL;
        int dup = 0;
        for (size_t j = 0; j < rc->nsel; j++)
            dup |= rc->sel[j] == (size_t)i;
        if (dup)
            continue;
        if (!rc->items.v[i].pending && !o->fresh) {
            printf("[COORDINATOR] %s is up to date (its result matches its input); "
                   "--fresh runs it again\n",
                   rc->items.v[i].id);
            fflush(stdout); /* before the coordinator's own (unbuffered) console output */
            continue;
        }
        rc->sel[rc->nsel++] = (size_t)i;
    }
    return 0;
}

void plan_resume_point(const struct run_ctx *rc, const struct item *it, char *what, size_t len)
{
    char path[4096], next[64] = "";
    snprintf(what, len, "new");
    if (run_ckpt_path(rc, it, path, sizeof(path)) < 0)
        return;
    int r = rc->o->fresh ? -ENOENT : ckpt_peek(path, next, sizeof(next));
    if (r == 0 && next[0])
        snprintf(what, len, "resume at %s", next);
    else if (r == -EBADMSG)
        snprintf(what, len, "checkpoint unreadable (%s would fail)", rc->ws ? "step" : "item");
}

static void dry_run(const struct run_ctx *rc)
{
    printf("%zu item%s would run (%s, --parallel %d):\n", rc->nsel, rc->nsel == 1 ? "" : "s",
           rc->wf->name, rc->parallel);
    for (size_t k = 0; k < rc->nsel; k++) {
        const struct item *it = &rc->items.v[rc->sel[k]];
        if (it->invalid_name) {
            printf("  %-20s %-40s fails: Invalid item name\n", it->id, "-");
            continue;
        }
        char what[128];
        plan_resume_point(rc, it, what, sizeof(what));
        printf("  %-20s %-40s %s\n", it->id, it->input_path, what);
    }
    fflush(stdout);
}

/*
 * An item whose result is up to date needs no checkpoint. One is left only
 * if its worker died between writing the result (the item's commit point)
 * and removing the checkpoint, and the run ended before a retry noticed; it
 * is removed here, so a checkpoint on disk always means unfinished work.
 */
static void remove_finished_checkpoints(const struct run_ctx *rc)
{
    if (rc->workflow_db)
        return;
    for (size_t i = 0; i < rc->items.n; i++) {
        const struct item *it = &rc->items.v[i];
        if (it->pending || it->invalid_name)
            continue;
        char path[4096];
        if (run_ckpt_path(rc, it, path, sizeof(path)) == 0 && access(path, F_OK) == 0)
            ckpt_remove(path);
    }
}

static int load_credentials(struct run_ctx *rc)
{
    char path[4096];
    if (rc->o->credentials)
        util_strlcpy(path, rc->o->credentials, sizeof(path));
    else
        snprintf(path, sizeof(path), "%s/credentials.json", rc->home);
    long limit = 0;
    if (env_long("AGENTOS_CREDENTIAL_LIMIT", 1, 1000000, &limit) < 0)
        return -EINVAL;
    rc->simulate_429 = -1;
    long sim = -1;
    if (env_long("AGENTOS_SIMULATE_429", 0, 1000000000, &sim) < 0)
        return -EINVAL;
    rc->simulate_429 = sim;
    if (!rc->roles_needed)
        return 0; /* shell steps only: no key is read, none is needed */
    char err[512];
    int r = credfile_load(path, (size_t)limit, &rc->creds, err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, "agentos-run: %s\n", err);
        return -EINVAL;
    }
    /* A role no key has could never be served, and the run would wait for it forever.
     * (The pool pauses when a role's keys get disabled.) */
    uint32_t have = 0;
    for (size_t i = 0; i < rc->creds.n; i++)
        have |= rc->creds.v[i].roles;
    uint32_t lack = rc->roles_needed & ~have;
    const char *missing = (lack & CRED_ROLE_DRAFT)    ? "draft"
                          : (lack & CRED_ROLE_REVIEW) ? "review"
                                                      : NULL;
    if (missing) {
        fprintf(stderr, "agentos-run: no key in %s has role %s%s (%s)\n", path, missing,
                limit > 0 ? " among those AGENTOS_CREDENTIAL_LIMIT keeps" : "",
                rc->ws ? "prompt steps need a draft key"
                       : "every workflow needs a draft and a review key");
        return -EINVAL;
    }
    if (rc->creds.insecure_mode)
        fprintf(stderr, "agentos-run: warning: %s is readable by group or others; chmod 600 it\n",
                path);
    return 0;
}

/* Run id "<UTC timestamp>-<pid>" and run folder logs/parallel/<UTC timestamp>[-N]. */
static int make_run_dir(struct run_ctx *rc)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char ts[32];
    strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
    char parent[2100];
    snprintf(parent, sizeof(parent), "%s/logs/parallel", rc->home);
    int r = util_mkdir_p(parent, 0700);
    if (r < 0) {
        fprintf(stderr, "agentos-run: could not create %s: %s\n", parent, strerror(-r));
        return r;
    }
    for (int n = 1; n < 1000; n++) {
        if (n == 1)
            snprintf(rc->run_dir, sizeof(rc->run_dir), "%s/%s", parent, ts);
        else
            snprintf(rc->run_dir, sizeof(rc->run_dir), "%s/%s-%d", parent, ts, n);
        if (mkdir(rc->run_dir, 0700) == 0) {
            snprintf(rc->run_id, sizeof(rc->run_id), "%s-%ld", ts, (long)getpid());
            return 0;
        }
        if (errno != EEXIST) {
            r = -errno;
            fprintf(stderr, "agentos-run: could not create %s: %s\n", rc->run_dir, strerror(-r));
            return r;
        }
    }
    return -EEXIST;
}

/* The items of an item workflow: discover, select, answer --dry-run. 0, -1 or 2 as plan_run. */
static int plan_items(struct run_ctx *rc)
{
    char err[512];
    if (items_discover(rc->wf->id_prefix, rc->items_dir, rc->out_dir, &rc->items, err,
                       sizeof(err)) < 0) {
        fprintf(stderr, "agentos-run: %s\n", err);
        return 2;
    }
    if (select_items(rc) < 0)
        return 2;
    const char *db = getenv("AGENTOS_WORKFLOW_DB");
    if (db && *db && rc->nsel == 1)
        rc->workflow_db = db;
    else if (db && *db && rc->nsel > 1 && !rc->o->dry_run)
        fprintf(stderr, "agentos-run: AGENTOS_WORKFLOW_DB is ignored when more than one item "
                        "runs\n");
    if (rc->o->dry_run) {
        dry_run(rc);
        return -1;
    }
    return 0;
}

int plan_run(struct run_ctx *rc)
{
    if (resolve_paths(rc) < 0)
        return 2;
    rc->parallel = rc->o->parallel;
    rc->timeout_per_step = rc->o->timeout_per_step;
    rc->roles_needed = CRED_ROLE_DRAFT | CRED_ROLE_REVIEW;
    int status = rc->o->workstream ? plan_ws_steps(rc) : plan_items(rc);
    if (status != 0)
        return status;
    remove_finished_checkpoints(rc);
    if (rc->nsel == 0) {
        if (rc->ws)
            printf("[COORDINATOR] Nothing pending in workstream %s (%zu step%s up to date)\n",
                   rc->ws->id, rc->items.n, rc->items.n == 1 ? "" : "s");
        else
            printf("[COORDINATOR] Nothing pending for %s in %s (%zu item%s up to date)\n",
                   rc->wf->name, rc->items_dir, rc->items.n, rc->items.n == 1 ? "" : "s");
        return -1;
    }
    if (load_credentials(rc) < 0 || make_run_dir(rc) < 0)
        return 2;
    if (rc->o->fresh)
        for (size_t k = 0; k < rc->nsel; k++) {
            const struct item *it = &rc->items.v[rc->sel[k]];
            char path[4096];
            if (!it->invalid_name && run_ckpt_path(rc, it, path, sizeof(path)) == 0)
                ckpt_remove(path);
        }
    char ck[2200];
    if (rc->ws)
        snprintf(ck, sizeof(ck), "%s/checkpoints/workstream-%s", rc->home, rc->ws->id);
    else
        snprintf(ck, sizeof(ck), "%s/checkpoints", rc->home);
    int r = util_mkdir_p(ck, 0700);
    if (r < 0) {
        fprintf(stderr, "agentos-run: could not create %s: %s\n", ck, strerror(-r));
        return 2;
    }
    return 0;
}
