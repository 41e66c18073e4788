/*
 * summarize.c - one summary of several runs' summary.json files (see
 * summarize.h for the command and the merge rules).
 *
 * The items of every run are read back into progress records, so the text is
 * drawn by the same pure renderer as a run's own summary (summary_render) and
 * the document by the same builder (summary_json); only what a merge adds
 * (the runs, the repeats, the sums) is written here. An item's own JSON
 * object is carried over as it is, so fields this build does not know (a
 * newer run's token counts) survive the merge.
 */
#include "runtime/summarize.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shm/prog.h"
#include "shm/util.h"

#define SUMMARIZE_FILE_MAX (64 * 1024 * 1024)

/* One item as merged: where it came from, and when that run ended (the latest wins). */
struct sm_item {
    struct prog_item p;
    cJSON *obj; /* its JSON object, owned by its run's document */
    double run_end_ms;
};

/* One run folder's summary.json. */
struct sm_run {
    const char *dir;
    cJSON *root;
    double start_ms, end_ms;
};

struct sm_state {
    struct sm_run *runs;
    struct sm_item *items;
    size_t n, cap;
    int parallel;
    double start_ms, end_ms;
};

/* "20261129T120945Z..." (a run id or a run folder's name) as Unix milliseconds; 0 if not. */
static double sm_time_of_id(const char *id)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = id ? strptime(id, "%Y%m%dT%H%M%SZ", &tm) : NULL;
    return end ? (double)timegm(&tm) * 1000.0 : 0.0;
}

static double sm_num(const cJSON *o, const char *name, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static const char *sm_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

/* A summary.json item into a progress record (what summary_render reads). */
static int sm_item_of(const cJSON *o, struct prog_item *p)
{
    const char *id = sm_str(o, "id"), *outcome = sm_str(o, "outcome"),
               *reason = sm_str(o, "reason");
    if (!id || !outcome)
        return -EINVAL;
    int st = prog_state_from_name(outcome);
    memset(p, 0, sizeof(*p));
    p->state = st < 0 ? PROG_PENDING : (uint32_t)st;
    util_strlcpy(p->id, id, sizeof(p->id));
    if (reason)
        util_strlcpy(p->reason, reason, sizeof(p->reason));
    p->rounds = (uint32_t)sm_num(o, "rounds", 0);
    p->attempts = (uint32_t)sm_num(o, "attempts", 0);
    p->requests = (uint32_t)sm_num(o, "requests", 0);
    p->http_429 = (uint32_t)sm_num(o, "http_429", 0);
    double s = sm_num(o, "duration_s", 0);
    p->started_ns = 1; /* summary_item_seconds wants a start; only the difference counts */
    p->finished_ns = 1 + (int64_t)(s > 0 ? s * 1e9 : 0);
    return 0;
}

/* Add run r's item o: a new one, or a newer outcome of one seen before. */
static int sm_add(struct sm_state *s, struct summarize_merge *m, const struct sm_run *r, cJSON *o)
{
    struct prog_item p;
    if (sm_item_of(o, &p) < 0)
        return -EINVAL;
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->items[i].p.id, p.id) != 0)
            continue;
        m->repeated++;
        if (r->end_ms >= s->items[i].run_end_ms)
            s->items[i] = (struct sm_item){.p = p, .obj = o, .run_end_ms = r->end_ms};
        return 0;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct sm_item *v = realloc(s->items, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        s->items = v;
        s->cap = cap;
    }
    s->items[s->n++] = (struct sm_item){.p = p, .obj = o, .run_end_ms = r->end_ms};
    return 0;
}

/* Read dir/summary.json into r. 0 or -errno (err). */
static int sm_read_run(const char *dir, struct sm_run *r, char *err, size_t errlen)
{
    char path[PATH_MAX];
    char *text = NULL;
    size_t len = 0;
    memset(r, 0, sizeof(*r));
    r->dir = dir;
    if (util_pathf(path, sizeof(path), "%s/summary.json", dir) < 0) {
        util_errf(err, errlen, "%.80s...: path too long", dir);
        return -ENAMETOOLONG;
    }
    int rc = util_read_file(path, SUMMARIZE_FILE_MAX, &text, &len);
    if (rc < 0) {
        util_errf(err, errlen, "%s: %s (not a run folder, or the run has not ended yet?)", path,
                  strerror(-rc));
        return rc;
    }
    r->root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(r->root, "items");
    if (!r->root || !sm_str(r->root, "workflow") || !cJSON_IsArray(items)) {
        util_errf(err, errlen, "%s: not a summary.json (no workflow or items)", path);
        return -EINVAL;
    }
    const char *run = sm_str(r->root, "run");
    double elapsed_ms = sm_num(r->root, "elapsed_s", 0) * 1000.0;
    r->start_ms = sm_num(r->root, "started_unix_ms", 0);
    if (r->start_ms <= 0)
        r->start_ms = sm_time_of_id(run);
    r->end_ms = sm_num(r->root, "ended_unix_ms", 0);
    if (r->end_ms <= 0)
        r->end_ms = r->start_ms + elapsed_ms;
    return 0;
}

/* Sums a run adds: requests, 429s, and tokens and cost where its items carry them. */
static void sm_sums(struct summarize_merge *m, const struct sm_run *r)
{
    m->requests += sm_num(r->root, "requests", 0);
    m->http_429 += sm_num(r->root, "http_429", 0);
}

static void sm_item_sums(struct summarize_merge *m, const cJSON *o)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(o, "input_tokens");
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(o, "output_tokens");
    const cJSON *cost = cJSON_GetObjectItemCaseSensitive(o, "cost");
    if (cJSON_IsNumber(in) || cJSON_IsNumber(out)) {
        m->have_tokens = 1;
        m->input_tokens += cJSON_IsNumber(in) ? in->valuedouble : 0;
        m->output_tokens += cJSON_IsNumber(out) ? out->valuedouble : 0;
    }
    if (cJSON_IsNumber(cost)) {
        m->have_cost = 1;
        m->cost += cost->valuedouble;
    }
}

/* The merged document: summary_json of the merged view, plus what a merge adds. */
static int sm_document(struct sm_state *s, struct summarize_merge *m, int n)
{
    m->doc = summary_json(&m->view);
    if (!m->doc)
        return -ENOMEM;
    /* Items as the runs wrote them (every field kept), in place of the rebuilt ones. */
    cJSON *items = cJSON_CreateArray();
    for (size_t i = 0; items && i < s->n; i++)
        cJSON_AddItemToArray(items, cJSON_Duplicate(s->items[i].obj, 1));
    if (items)
        cJSON_ReplaceItemInObjectCaseSensitive(m->doc, "items", items);
    cJSON_AddNumberToObject(m->doc, "started_unix_ms", s->start_ms);
    cJSON_AddNumberToObject(m->doc, "ended_unix_ms", s->end_ms);
    cJSON_AddNumberToObject(m->doc, "requests", m->requests);
    cJSON_AddNumberToObject(m->doc, "http_429", m->http_429);
    cJSON_AddNumberToObject(m->doc, "repeated_items", m->repeated);
    if (m->have_tokens) {
        cJSON_AddNumberToObject(m->doc, "input_tokens", m->input_tokens);
        cJSON_AddNumberToObject(m->doc, "output_tokens", m->output_tokens);
    }
    if (m->have_cost)
        cJSON_AddNumberToObject(m->doc, "cost", m->cost);
    cJSON *runs = cJSON_AddArrayToObject(m->doc, "runs");
    for (int k = 0; runs && k < n; k++) {
        const struct sm_run *r = &s->runs[k];
        cJSON *o = cJSON_CreateObject();
        const char *id = sm_str(r->root, "run"), *shard = sm_str(r->root, "shard");
        cJSON_AddStringToObject(o, "dir", r->dir);
        if (id)
            cJSON_AddStringToObject(o, "run", id);
        if (shard)
            cJSON_AddStringToObject(o, "shard", shard);
        cJSON_AddNumberToObject(o, "items",
                                cJSON_GetArraySize(cJSON_GetObjectItem(r->root, "items")));
        cJSON_AddNumberToObject(o, "elapsed_s", sm_num(r->root, "elapsed_s", 0));
        cJSON_AddNumberToObject(o, "exit_status", sm_num(r->root, "exit_status", -1));
        cJSON_AddItemToArray(runs, o);
    }
    return 0;
}

static int sm_by_id(const void *a, const void *b)
{
    return strcmp(((const struct sm_item *)a)->p.id, ((const struct sm_item *)b)->p.id);
}

static void sm_free_state(struct sm_state *s, int n)
{
    for (int k = 0; s->runs && k < n; k++)
        cJSON_Delete(s->runs[k].root);
    free(s->runs);
    free(s->items);
}

/* Every run read, checked against the first, and its items added. 0 or -errno (err). */
static int sm_read_all(struct sm_state *s, struct summarize_merge *m, const char *const *dirs,
                       int n, summarize_find_fn find, char *err, size_t errlen)
{
    for (int k = 0; k < n; k++) {
        struct sm_run *r = &s->runs[k];
        int rc = sm_read_run(dirs[k], r, err, errlen);
        if (rc < 0)
            return rc;
        const char *wf = sm_str(r->root, "workflow");
        if (k == 0 && !(m->view.wf = find(wf))) {
            util_errf(err, errlen, "%s/summary.json: unknown workflow \"%s\"", dirs[k], wf);
            return -EINVAL;
        }
        if (strcmp(wf, m->view.wf->name) != 0) {
            util_errf(err, errlen, "%s/summary.json: workflow %s, but %s is %s", dirs[k], wf,
                      dirs[0], m->view.wf->name);
            return -EINVAL;
        }
        if (k == 0 || r->start_ms < s->start_ms)
            s->start_ms = r->start_ms;
        if (k == 0 || r->end_ms > s->end_ms)
            s->end_ms = r->end_ms;
        s->parallel += (int)sm_num(r->root, "parallel", 1);
        sm_sums(m, r);
        cJSON *o;
        cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(r->root, "items"))
        {
            rc = sm_add(s, m, r, o);
            if (rc < 0) {
                util_errf(err, errlen, "%s/summary.json: an item without id or outcome", dirs[k]);
                return rc;
            }
        }
        m->runs++;
    }
    return 0;
}

int summarize_merge(const char *const *dirs, int n, summarize_find_fn find,
                    struct summarize_merge *m, char *err, size_t errlen)
{
    struct sm_state s;
    memset(m, 0, sizeof(*m));
    memset(&s, 0, sizeof(s));
    s.runs = calloc((size_t)(n > 0 ? n : 1), sizeof(*s.runs));
    if (!s.runs)
        return -ENOMEM;
    int rc = sm_read_all(&s, m, dirs, n, find, err, errlen);
    struct prog_item *items = rc == 0 ? calloc(s.n + 1, sizeof(*items)) : NULL;
    if (rc == 0 && !items)
        rc = -ENOMEM;
    if (rc == 0) {
        qsort(s.items, s.n, sizeof(*s.items), sm_by_id); /* shards interleave: show them in order */
        for (size_t i = 0; i < s.n; i++) {
            items[i] = s.items[i].p;
            sm_item_sums(m, s.items[i].obj);
        }
        m->view.items = items;
        m->view.n = (uint32_t)s.n;
        m->view.parallel = s.parallel;
        m->view.elapsed_ns = (int64_t)((s.end_ms - s.start_ms) * 1e6);
        rc = sm_document(&s, m, n);
    }
    sm_free_state(&s, n);
    if (rc < 0)
        summarize_free(m);
    return rc;
}

void summarize_free(struct summarize_merge *m)
{
    free((void *)m->view.items);
    cJSON_Delete(m->doc);
    memset(m, 0, sizeof(*m));
}

static void sm_emit(void *arg, const char *line)
{
    fprintf(arg, "[COORDINATOR] %s\n", line);
}

void summarize_print(const struct summarize_merge *m, FILE *out)
{
    fprintf(out, "[COORDINATOR] %u run%s merged", m->runs, m->runs == 1 ? "" : "s");
    if (m->repeated)
        fprintf(out, "; %u %s%s ran in more than one (the latest outcome counts)", m->repeated,
                m->view.wf->noun, m->repeated == 1 ? "" : "s");
    fputc('\n', out);
    summary_render(&m->view, "the merged summary (--json)", sm_emit, out);
    fprintf(out, "[COORDINATOR] Requests: %.0f sent, %.0f answered 429 (%.2f %%)\n", m->requests,
            m->http_429, m->requests > 0 ? 100.0 * m->http_429 / m->requests : 0.0);
    if (m->have_tokens)
        fprintf(out, "[COORDINATOR] Tokens: %.0f in, %.0f out\n", m->input_tokens,
                m->output_tokens);
    if (m->have_cost)
        fprintf(out, "[COORDINATOR] Cost: %.4f\n", m->cost);
}

/* 0 if every item was processed (approved, needs revision, passed), else 1. */
static int sm_status(const struct summarize_merge *m)
{
    unsigned c[PROG_STATE_COUNT];
    summary_count(&m->view, c);
    return c[PROG_FAILED] || c[PROG_SKIPPED] || c[PROG_INTERRUPTED] || c[PROG_PENDING] ? 1 : 0;
}

static int sm_usage(const char *what)
{
    fprintf(stderr, "agentos-run summarize: %s\n", what);
    fprintf(stderr, "usage: agentos-run summarize [--json] [--out FILE] RUN_DIR...\n");
    return 2;
}

static int sm_write(const struct summarize_merge *m, const char *path, FILE *to)
{
    char *text = cJSON_Print(m->doc);
    char *withnl = text ? util_asprintf("%s\n", text) : NULL;
    free(text);
    if (!withnl)
        return -ENOMEM;
    int rc = 0;
    if (to)
        fputs(withnl, to);
    else
        rc = util_write_file_atomic(path, withnl, strlen(withnl));
    free(withnl);
    return rc;
}

int summarize_main(int argc, char **argv, summarize_find_fn find)
{
    const char **dirs = calloc((size_t)argc + 1, sizeof(*dirs));
    const char *out = NULL;
    int n = 0, json = 0, status = 2;
    if (!dirs)
        return 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out = argv[++i];
        else if (!strncmp(argv[i], "--out=", 6))
            out = argv[i] + 6;
        else if (argv[i][0] == '-' && argv[i][1]) {
            char what[128];
            util_errf(what, sizeof(what), "unknown option \"%s\"", argv[i]);
            free(dirs);
            return sm_usage(what);
        } else
            dirs[n++] = argv[i];
    }
    if (n == 0) {
        free(dirs);
        return sm_usage("no run folder given");
    }
    struct summarize_merge m;
    char err[PATH_MAX + 256];
    if (summarize_merge(dirs, n, find, &m, err, sizeof(err)) < 0) {
        fprintf(stderr, "agentos-run summarize: %s\n", err);
        free(dirs);
        return 2;
    }
    if (json)
        sm_write(&m, NULL, stdout);
    else
        summarize_print(&m, stdout);
    status = sm_status(&m);
    int rc = out ? sm_write(&m, out, NULL) : 0;
    if (rc < 0) {
        fprintf(stderr, "agentos-run summarize: could not write %s: %s\n", out, strerror(-rc));
        status = 2;
    }
    summarize_free(&m);
    free(dirs);
    return status;
}
