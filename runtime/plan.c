/*
 * plan.c - deciding what a run will do, before anything is created.
 *
 * Resolves the folders (--home, $AGENTOS_HOME, ~/.agentos; --items/--out or
 * the workflow's defaults), gets the items (a folder of *.md files, or the
 * workflow's own load hook), orders them by wave and cascades "pending" along
 * their dependencies, selects the pending or named ones, answers --dry-run
 * and --dot (which must touch no network, write no file and create no
 * segment, so they live here, before any of that exists), loads the
 * credentials and the environment knobs, and makes the run folder.
 * Everything that can be a usage or configuration error is found here and
 * reported in one line; the coordinator starts only when the plan holds.
 * Nothing here names a workflow: they differ only through struct wf_desc.
 * The checkpoints the plan finds on disk (where an item resumes, old ones
 * adopted, finished ones removed) are plan_ckpt.c; the run file and the
 * width, plan_size.c.
 */
#include "runtime/plan.h"
#include "runtime/plan_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "llm/budget_gate.h"
#include "runtime/deps.h"
#include "runtime/own.h"
#include "runtime/workspace.h"
#include "shm/util.h"

int run_cred_path(const struct run_opts *o, const char *home, char *out, size_t outlen)
{
    if (o->credentials)
        return util_pathf(out, outlen, "%s", o->credentials);
    return util_pathf(out, outlen, "%s/credentials.json", home);
}

/* A path that did not fit: one line naming it (its start) and the limit. */
static int too_long(const char *what, const char *start)
{
    PLAN_ERR("%s is too long (over %d bytes): %.60s...\n", what, PATH_MAX - 1, start);
    return -ENAMETOOLONG;
}

static int resolve_paths(struct run_ctx *rc)
{
    const struct run_opts *o = rc->o;
    struct wf_plan *p = &rc->plan;
    const char *home = o->home ? o->home : getenv("AGENTOS_HOME");
    int r;
    if (home && *home) {
        r = util_pathf(p->home, sizeof(p->home), "%s", home);
    } else {
        const char *h = getenv("HOME");
        if (!h || !*h) {
            PLAN_ERR("neither --home, $AGENTOS_HOME nor $HOME is set\n");
            return -EINVAL;
        }
        r = util_pathf(p->home, sizeof(p->home), "%s/.agentos", h);
    }
    if (r < 0)
        return too_long("the home folder", home && *home ? home : getenv("HOME"));
    const char *items = o->items_dir ? o->items_dir : rc->wf->items_dir;
    const char *out = o->out_dir ? o->out_dir : rc->wf->out_dir;
    if (util_pathf(p->items_dir, sizeof(p->items_dir), "%s", items ? items : "") < 0)
        return too_long("--items", items);
    if (util_pathf(p->out_dir, sizeof(p->out_dir), "%s", out ? out : "") < 0)
        return too_long("--out", out);
    if (util_pathf(p->ckpt_dir, sizeof(p->ckpt_dir), "%s/checkpoints", p->home) < 0)
        return too_long("the checkpoint folder", p->home);
    if (run_cred_path(o, p->home, rc->cred_path, sizeof(rc->cred_path)) < 0)
        return too_long("the credentials file", o->credentials ? o->credentials : p->home);
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
        PLAN_ERR("%s=\"%.40s\" is not a whole number from %ld to %ld\n", name, v, lo, hi);
        return -EINVAL;
    }
    *out = n;
    return 1;
}

/* ---- items -------------------------------------------------------------- */

/* Items from a folder of *.md files: the command line must say which. */
static int load_folder_items(struct run_ctx *rc)
{
    const struct run_opts *o = rc->o;
    struct wf_plan *p = &rc->plan;
    char err[PATH_MAX + 128];
    if (o->all && o->nids) {
        PLAN_ERR("give either --all or item IDs, not both (\"%s\")\n", o->ids[0]);
        return -EINVAL;
    }
    if (!o->all && !o->nids) {
        PLAN_ERR("nothing selected: give --all or item IDs\n");
        return -EINVAL;
    }
    int r =
        items_discover(rc->wf->id_prefix, p->items_dir, p->out_dir, &p->items, err, sizeof(err));
    if (r < 0) {
        PLAN_ERR("%s\n", err);
        return r;
    }
    for (size_t i = 0; i < p->items.n; i++)
        p->items.v[i].roles = rc->wf->roles;
    /* Checkpoints belong to this items folder: another clone or project sharing the
     * home has its own (ADR-14). */
    const char *where[] = {p->items_dir};
    char key[WORKSPACE_KEY_LEN + 1];
    r = workspace_key(where, 1, key, p->workspace, sizeof(p->workspace), err, sizeof(err));
    if (r < 0) {
        PLAN_ERR("%s\n", err);
        return r;
    }
    if (util_pathf(p->ckpt_dir, sizeof(p->ckpt_dir), "%s/checkpoints/%s", p->home, key) < 0)
        return too_long("the checkpoint folder", p->home);
    util_strlcpy(p->title, rc->wf->name, sizeof(p->title));
    util_errf(p->where, sizeof(p->where), "for %s in %s", rc->wf->name, p->items_dir);
    return 0;
}

static int load_items(struct run_ctx *rc)
{
    if (!rc->wf->load)
        return load_folder_items(rc);
    char err[1024] = "";
    int r = rc->wf->load(&rc->plan, err, sizeof(err));
    if (r < 0)
        PLAN_ERR("%s\n", err[0] ? err : strerror(-r));
    return r;
}

/* Find an item by a command-line ID; its index, or -1 (reported). */
static long find_item(const struct run_ctx *rc, const char *arg)
{
    const struct wf_plan *p = &rc->plan;
    char stem[ITEM_STEM_MAX + 1], id[SHM_ID_MAX], err[256];
    if (item_stem_from_arg(rc->wf->id_prefix, arg, stem, sizeof(stem), err, sizeof(err)) < 0) {
        PLAN_ERR("%s\n", err);
        return -1;
    }
    item_make_id(rc->wf->id_prefix, stem, id, sizeof(id));
    for (size_t i = 0; i < p->items.n; i++) /* a clash or a FIFO fails when named */
        if (strcasecmp(p->items.v[i].id, id) == 0)
            return (long)i;
    PLAN_ERR("no item %s in %s\n", id, p->items_dir);
    return -1;
}

/*
 * --shard: resolve the value (the Slurm variables are read here, not in the
 * pure parser) and count this shard's share of the batch. Items with
 * dependencies are refused: a shard could hold a step whose dependency is
 * another shard's, and neither run could wait for the other.
 */
static const char *plan_getenv(const char *name)
{
    return getenv(name);
}

static int plan_shard(struct run_ctx *rc)
{
    const struct item_list *l = &rc->plan.items;
    char err[256];
    memset(&rc->shard, 0, sizeof(rc->shard));
    rc->shard.count = 1;
    rc->shard_items = l->n;
    if (!rc->o->shard)
        return 0;
    if (shard_resolve(rc->o->shard, plan_getenv, &rc->shard, err, sizeof(err)) < 0) {
        PLAN_ERR("%s\n", err);
        return -EINVAL;
    }
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].ndeps) {
            PLAN_ERR("--shard: %s depends on other %ss; a batch with dependencies runs on one "
                     "machine, unsharded\n",
                     l->v[i].id, rc->wf->noun);
            return -EINVAL;
        }
    }
    rc->shard_items = 0;
    for (size_t i = 0; i < l->n; i++)
        rc->shard_items += shard_has(&rc->shard, l->v[i].id);
    return 0;
}

static void take(struct run_ctx *rc, size_t i)
{
    rc->slot_of[i] = (long)rc->nsel;
    rc->sel[rc->nsel++] = i;
}

/* Choose the items of this run into rc->sel, in wave order. 0 or -errno (reported). */
static int select_items(struct run_ctx *rc, const size_t *order)
{
    const struct run_opts *o = rc->o;
    const struct item_list *l = &rc->plan.items;
    rc->sel = calloc(l->n + 1, sizeof(*rc->sel));
    rc->slot_of = calloc(l->n + 1, sizeof(*rc->slot_of));
    if (!rc->sel || !rc->slot_of)
        return -ENOMEM;
    for (size_t i = 0; i < l->n; i++)
        rc->slot_of[i] = -1;
    if (rc->wf->load || o->all) { /* a workflow's own items: every pending one */
        for (size_t k = 0; k < l->n; k++)
            if ((l->v[order[k]].pending || o->fresh) && shard_has(&rc->shard, l->v[order[k]].id))
                take(rc, order[k]);
        return 0;
    }
    for (int k = 0; k < o->nids; k++) {
        long i = find_item(rc, o->ids[k]);
        if (i < 0)
            return -EINVAL;
        if (rc->slot_of[i] >= 0)
            continue;
        if (!shard_has(&rc->shard, l->v[i].id)) {
            printf("[COORDINATOR] %s is in shard %u/%u, not in this one (%u/%u)\n", l->v[i].id,
                   shard_of(l->v[i].id, rc->shard.count), rc->shard.count, rc->shard.index,
                   rc->shard.count);
            fflush(stdout);
            continue;
        }
        if (!l->v[i].pending && !o->fresh) {
            printf("[COORDINATOR] %s is up to date (its result matches its input); "
                   "--fresh runs it again\n",
                   l->v[i].id);
            fflush(stdout); /* before the coordinator's own (unbuffered) console output */
            continue;
        }
        take(rc, (size_t)i);
    }
    return 0;
}

static void dry_run_line(const struct run_ctx *rc, const struct item *it)
{
    const char *detail = it->detail ? it->detail : it->input_path;
    char what[128] = "up to date";
    if (it->invalid_name) {
        printf("  %-20s %-40s fails: %s\n", it->id, "-", item_fails_why(it));
        return;
    }
    char lock[PATH_MAX], owner[SHM_RUN_ID_MAX];
    if (rc->slot_of[it - rc->plan.items.v] >= 0 && own_lock_path(rc, it, lock, sizeof(lock)) == 0 &&
        own_probe(lock, owner, sizeof(owner)) == 1)
        util_errf(what, sizeof(what), "being processed by %s%s", owner[0] ? "run " : "another run",
                  owner);
    else if (rc->slot_of[it - rc->plan.items.v] >= 0)
        plan_resume_point(rc, it, what, sizeof(what));
    printf("  %-20s %-*s %s\n", it->id, it->detail ? 7 : 40, detail, what);
}

/*
 * --dry-run: without dependencies, the selected items; with them, every item
 * wave by wave (a wave is the items whose longest chain of dependencies has
 * the same length), with what each would do.
 */
static void dry_run(const struct run_ctx *rc, const size_t *order, unsigned nwaves)
{
    const struct item_list *l = &rc->plan.items;
    const char *noun = rc->wf->noun;
    char par[16] = "auto"; /* the width of auto needs the keys, which a dry run does not read */
    if (!rc->plan.parallel_auto)
        snprintf(par, sizeof(par), "%d", rc->plan.parallel);
    if (rc->shard.count > 1 || rc->o->shard)
        printf("shard %u/%u: %zu of %zu %s%s (%s)\n", rc->shard.index, rc->shard.count,
               rc->shard_items, l->n, noun, plan_plural(l->n), rc->shard.origin);
    if (nwaves <= 1 && !rc->wf->write_dot) {
        printf("%zu %s%s would run (%s, --parallel %s):\n", rc->nsel, noun, plan_plural(rc->nsel),
               rc->plan.title, par);
        for (size_t k = 0; k < rc->nsel; k++)
            dry_run_line(rc, run_item(rc, k));
    } else {
        printf("%s: %zu of %zu %s%s would run, %u wave%s, --parallel %s:\n", rc->plan.title,
               rc->nsel, l->n, noun, plan_plural(l->n), nwaves, plan_plural(nwaves), par);
        unsigned wave = (unsigned)-1;
        for (size_t k = 0; k < l->n; k++) {
            const struct item *it = &l->v[order[k]];
            if (it->wave != wave) {
                wave = it->wave;
                printf("Wave %u:\n", wave + 1);
            }
            dry_run_line(rc, it);
        }
    }
    fflush(stdout);
}

/* Items, order, selection, --dot and --dry-run. 0 (*done set when they answered) or -errno. */
static int plan_items(struct run_ctx *rc, int *done)
{
    struct wf_plan *p = &rc->plan;
    int r = load_items(rc);
    if (r < 0)
        return r;
    if (rc->o->dot) {
        if (!rc->wf->write_dot) {
            PLAN_ERR("--dot: the %s workflow's items have no graph to draw\n", rc->wf->name);
            return -EINVAL;
        }
        rc->wf->write_dot(p, stdout);
        fflush(stdout);
        *done = 1;
        return 0;
    }
    char err[1024] = "";
    if (rc->wf->check && (r = rc->wf->check(p, err, sizeof(err))) < 0) {
        PLAN_ERR("%s\n", err);
        return r;
    }
    size_t *order = NULL;
    unsigned nwaves = 0;
    r = deps_order(&p->items, &order, &nwaves);
    if (r < 0) {
        PLAN_ERR("the %s workflow's items: %s\n", rc->wf->name,
                 r == -ELOOP ? "their dependencies form a cycle" : strerror(-r));
        return r;
    }
    deps_cascade_pending(&p->items, order);
    r = plan_shard(rc);
    if (r == 0)
        r = select_items(rc, order);
    if (r == 0 && rc->o->dry_run) {
        dry_run(rc, order, nwaves);
        *done = 1;
    }
    free(order);
    return r;
}

/* ---- credentials, run folder ------------------------------------------ */

static const char *role_name(uint32_t roles)
{
    return (roles & CRED_ROLE_DRAFT) ? "draft" : "review";
}

static int load_credentials(struct run_ctx *rc)
{
    long limit = 0, sim = 0;
    const char *s429 = getenv("AGENTOS_SIMULATE_429");
    if (s429 && !strcmp(s429, "true"))
        sim = 3; /* SPEC 6: `true` means every third request */
    else if (env_long("AGENTOS_SIMULATE_429", 1, 1000000000, &sim) < 0)
        return -EINVAL;
    if (env_long("AGENTOS_CREDENTIAL_LIMIT", 1, 1000000, &limit) < 0)
        return -EINVAL;
    rc->simulate_429 = sim;
    if (!rc->roles_needed)
        return 0; /* no selected item sends a request: no key is read, none is needed */
    char err[PATH_MAX + 256];
    int r = credfile_load(rc->cred_path, (size_t)limit, &rc->creds, err, sizeof(err));
    if (r < 0) {
        PLAN_ERR("%s\n", err);
        return r;
    }
    /* A role no key has could never be served, and the run would wait for it forever.
     * (The pool pauses when a role's keys get disabled.) */
    uint32_t have = 0;
    for (size_t i = 0; i < rc->creds.n; i++)
        have |= rc->creds.v[i].roles;
    uint32_t lack = rc->roles_needed & ~have;
    if (lack) {
        size_t needing = 0;
        for (size_t k = 0; k < rc->nsel; k++)
            needing += (run_item(rc, k)->roles & lack) != 0;
        PLAN_ERR("no key in %s has role %s%s (%zu of the selected %s%s need%s one)\n",
                 rc->cred_path, role_name(lack),
                 limit > 0 ? " among those AGENTOS_CREDENTIAL_LIMIT keeps" : "", needing,
                 rc->wf->noun, plan_plural(rc->nsel), needing == 1 ? "s" : "");
        return -EINVAL;
    }
    if (rc->creds.insecure_mode)
        PLAN_ERR("warning: %s is readable by group or others; chmod 600 it\n", rc->cred_path);
    /* The shared budget: --budget, else the file's "budget" (both checked already). */
    const char *budget = rc->o->budget ? rc->o->budget : rc->creds.budget;
    long lease_ms = budget_lease_ttl_ms(rc->plan.timeout_per_step);
    if (env_long("AGENTOS_BUDGET_LEASE_MS", 100, 3600000, &lease_ms) < 0)
        return -EINVAL;
    rc->budget_lease_ms = (uint32_t)lease_ms;
    if (util_pathf(rc->budget_url, sizeof(rc->budget_url), "%s", budget) < 0 ||
        strlen(rc->budget_url) >= SHM_BUDGET_URL_MAX) {
        PLAN_ERR("--budget %.60s...: longer than %d bytes\n", budget, SHM_BUDGET_URL_MAX - 1);
        return -EINVAL;
    }
    return 0;
}

/* Run id "<UTC timestamp>-<pid>" and run folder logs/parallel/<UTC timestamp>[-N]. */
static int make_run_dir(struct run_ctx *rc)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char ts[32], parent[PATH_MAX];
    strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
    if (util_pathf(parent, sizeof(parent), "%s/logs/parallel", rc->plan.home) < 0)
        return too_long("the run folder", rc->plan.home);
    int r = util_mkdir_p(parent, 0700);
    if (r < 0) {
        PLAN_ERR("could not create %s: %s\n", parent, strerror(-r));
        return r;
    }
    for (int n = 1; n < 1000; n++) {
        r = n == 1 ? util_pathf(rc->run_dir, sizeof(rc->run_dir), "%s/%s", parent, ts)
                   : util_pathf(rc->run_dir, sizeof(rc->run_dir), "%s/%s-%d", parent, ts, n);
        if (r < 0)
            return too_long("the run folder", parent);
        if (mkdir(rc->run_dir, 0700) == 0)
            return util_pathf(rc->run_id, sizeof(rc->run_id), "%s-%ld", ts, (long)getpid());
        if (errno != EEXIST) {
            r = -errno;
            PLAN_ERR("could not create %s: %s\n", rc->run_dir, strerror(-r));
            return r;
        }
    }
    return -EEXIST;
}

/* What the selected items need: key roles, and whether admission follows the keys. */
static void selection_needs(struct run_ctx *rc)
{
    rc->roles_needed = 0;
    rc->narrow_to_keys = rc->nsel > 0;
    for (size_t k = 0; k < rc->nsel; k++) {
        uint32_t roles = run_item(rc, k)->roles;
        rc->roles_needed |= roles;
        if (!roles && !run_item(rc, k)->invalid_name)
            rc->narrow_to_keys = 0; /* an item that needs no key must not wait for one */
    }
}

static void use_workflow_db(struct run_ctx *rc)
{
    const char *db = getenv("AGENTOS_WORKFLOW_DB");
    if (db && *db && rc->nsel == 1)
        rc->workflow_db = db;
    else if (db && *db && rc->nsel > 1 && !rc->o->dry_run)
        PLAN_ERR("AGENTOS_WORKFLOW_DB is ignored when more than one %s runs\n", rc->wf->noun);
}

/* The checkpoint folder, where workers lock their items. (--fresh deletes an item's
 * checkpoint in the worker, once it owns the item: runtime/own.h.) */
static int make_ckpt_dir(const struct run_ctx *rc)
{
    int r = util_mkdir_p(rc->plan.ckpt_dir, 0700);
    if (r < 0)
        PLAN_ERR("could not create %s: %s\n", rc->plan.ckpt_dir, strerror(-r));
    else if (rc->plan.workspace[0])
        workspace_note(rc->plan.ckpt_dir, rc->plan.workspace); /* for people: whose folder */
    return r;
}

int plan_run(struct run_ctx *rc, int *nothing_to_do)
{
    struct wf_plan *p = &rc->plan;
    *nothing_to_do = 0;
    p->wf = rc->wf;
    p->o = rc->o;
    p->parallel = rc->o->parallel;
    p->parallel_auto = rc->o->parallel_auto;
    p->adaptive = rc->o->adaptive;
    p->timeout_per_step = rc->o->timeout_per_step;
    rc->simulate_429 = 0;
    int r = resolve_paths(rc);
    if (r == 0)
        r = plan_items(rc, nothing_to_do);
    if (r < 0 || *nothing_to_do)
        return r;
    use_workflow_db(rc);
    plan_adopt_legacy_checkpoints(rc);
    plan_remove_finished_checkpoints(rc);
    if (rc->nsel == 0 && rc->o->shard) {
        printf("[COORDINATOR] Nothing pending %s in shard %u/%u (%zu of %zu %s%s, up to date)\n",
               p->where, rc->shard.index, rc->shard.count, rc->shard_items, p->items.n,
               rc->wf->noun, plan_plural(p->items.n));
        *nothing_to_do = 1;
        return 0;
    }
    if (rc->nsel == 0) {
        printf("[COORDINATOR] Nothing pending %s (%zu %s%s up to date)\n", p->where, p->items.n,
               rc->wf->noun, plan_plural(p->items.n));
        *nothing_to_do = 1;
        return 0;
    }
    if ((r = own_leave_held(rc)) < 0)
        return r;
    if (rc->nsel == 0) { /* own_leave_held said why */
        *nothing_to_do = 1;
        return 0;
    }
    selection_needs(rc);
    if ((r = load_credentials(rc)) < 0 || (r = plan_runcfg(rc)) < 0 || (r = plan_width(rc)) < 0 ||
        (r = make_run_dir(rc)) < 0)
        return r;
    rc->started_real_ns = util_now_real_ns();
    return make_ckpt_dir(rc);
}

void plan_free(struct run_ctx *rc)
{
    if (rc->wf && rc->wf->unload)
        rc->wf->unload(&rc->plan);
    free(rc->sel);
    free(rc->slot_of);
    rc->sel = NULL;
    rc->slot_of = NULL;
    items_free(&rc->plan.items);
    credfile_free(&rc->creds);
}
