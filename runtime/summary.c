/*
 * summary.c - the run summary on the console and in summary.json (see summary.h).
 *
 * The counts line names the outcomes the workflow declares (wf_desc.outcomes:
 * "8 approved, 2 need revision, 1 failed" or "4 passed, 0 failed, 0 skipped"),
 * then any other outcome that occurred. The speed-up compares the sum of the
 * item times (what one at a time would have taken) with the wall time, and
 * the efficiency is that speed-up against the width used. Then the tokens
 * the replies reported and, when some key has a price, what they cost: per
 * key from its counters and price (the total), per item from what its worker
 * added up at the prices of the keys its requests went to.
 */
#include "runtime/summary.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/budget_coord.h"
#include "shm/cred.h"
#include "shm/util.h"

void summary_count(const struct summary_view *v, unsigned counts[PROG_STATE_COUNT])
{
    memset(counts, 0, PROG_STATE_COUNT * sizeof(*counts));
    for (uint32_t i = 0; i < v->n; i++)
        counts[prog_outcome(v->items[i].state)]++;
}

double summary_item_seconds(const struct prog_item *p)
{
    if (!p->started_ns)
        return 0.0;
    int64_t end = p->finished_ns ? p->finished_ns : p->updated_ns;
    return end > p->started_ns ? (double)(end - p->started_ns) / 1e9 : 0.0;
}

static double sequential_seconds(const struct summary_view *v)
{
    double sum = 0.0;
    for (uint32_t i = 0; i < v->n; i++)
        sum += summary_item_seconds(&v->items[i]);
    return sum;
}

/* Outcomes shown in the counts: the workflow's, then any other that occurred. */
static const uint32_t summary_order[] = {PROG_APPROVED,    PROG_NEEDS_REVISION, PROG_PASSED,
                                         PROG_FAILED,      PROG_SKIPPED,        PROG_OTHER_RUN,
                                         PROG_INTERRUPTED, PROG_PENDING};

static void counts_line(const struct summary_view *v, char *out, size_t len)
{
    unsigned c[PROG_STATE_COUNT];
    summary_count(v, c);
    size_t used = 0;
    out[0] = '\0';
    for (size_t k = 0; k < sizeof(summary_order) / sizeof(summary_order[0]); k++) {
        uint32_t s = summary_order[k];
        if (!(v->wf->outcomes & (1u << s)) && !c[s])
            continue;
        util_errf(out + used, len - used, "%s%u %s", used ? ", " : "", c[s], prog_count_label(s));
        used = strlen(out);
    }
}

static void emitf(void (*emit)(void *, const char *), void *arg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void emitf(void (*emit)(void *, const char *), void *arg, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    emit(arg, line);
}

double summary_key_cost(const struct summary_key *k)
{
    if (k->price_input < 0)
        return -1;
    return ((double)k->input_tokens * k->price_input + (double)k->output_tokens * k->price_output) /
           1e6;
}

int summary_priced(const struct summary_view *v)
{
    for (uint32_t i = 0; i < v->nkeys; i++)
        if (v->keys[i].price_input >= 0)
            return 1;
    return 0;
}

static void item_line(const struct summary_view *v, const struct prog_item *p,
                      void (*emit)(void *, const char *), void *arg)
{
    uint32_t o = prog_outcome(p->state);
    int why = o == PROG_FAILED || o == PROG_SKIPPED || o == PROG_OTHER_RUN;
    const char *label = o == PROG_FAILED ? "  FAILED: " : "  ";
    char rounds[32] = "", tokens[80] = "";
    if (v->wf->flags & WF_REVIEW_ROUNDS)
        util_errf(rounds, sizeof(rounds), "rounds %u  ", p->rounds);
    if (p->input_tokens || p->output_tokens)
        util_errf(tokens, sizeof(tokens), "  tokens %llu/%llu", (unsigned long long)p->input_tokens,
                  (unsigned long long)p->output_tokens);
    if (summary_priced(v))
        util_errf(tokens + strlen(tokens), sizeof(tokens) - strlen(tokens), "  cost %.4f", p->cost);
    emitf(emit, arg, "  %-20s %-15s %s%6.1fs%s%s%.*s", p->id, prog_state_name(o), rounds,
          summary_item_seconds(p), tokens, why ? label : "", why ? SHM_REASON_MAX : 0, p->reason);
}

/* Sums over the keys: tokens, and the cost of the priced ones. */
static void key_totals(const struct summary_view *v, uint64_t *in, uint64_t *out, double *cost)
{
    *in = *out = 0;
    *cost = 0;
    for (uint32_t i = 0; i < v->nkeys; i++) {
        *in += v->keys[i].input_tokens;
        *out += v->keys[i].output_tokens;
        if (summary_key_cost(&v->keys[i]) > 0)
            *cost += summary_key_cost(&v->keys[i]);
    }
}

static void tokens_line(const struct summary_view *v, void (*emit)(void *, const char *), void *arg)
{
    uint64_t in, out;
    double cost;
    key_totals(v, &in, &out, &cost);
    if (!in && !out && !summary_priced(v))
        return;
    if (summary_priced(v))
        emitf(emit, arg, "Tokens: %llu in, %llu out; cost %.4f (at the keys' prices per million)",
              (unsigned long long)in, (unsigned long long)out, cost);
    else
        emitf(emit, arg, "Tokens: %llu in, %llu out", (unsigned long long)in,
              (unsigned long long)out);
}

void summary_render(const struct summary_view *v, const char *json_path,
                    void (*emit)(void *arg, const char *line), void *arg)
{
    char counts[256];
    counts_line(v, counts, sizeof(counts));
    double wall = (double)v->elapsed_ns / 1e9;
    emitf(emit, arg, "Summary: %s (%u %s%s, %.1fs)", counts, v->n, v->wf->noun,
          v->n == 1 ? "" : "s", wall);
    double seq = sequential_seconds(v);
    if (wall > 0.0 && v->parallel > 0 && v->n > 0) {
        double speedup = seq / wall;
        emitf(emit, arg,
              "Speed-up %.2fx (sequential %.1fs, wall %.1fs), efficiency %.0f%% of "
              "--parallel %d",
              speedup, seq, wall, 100.0 * speedup / v->parallel, v->parallel);
    }
    tokens_line(v, emit, arg);
    int all = v->n <= SUMMARY_LIST_MAX;
    unsigned hidden = 0;
    for (uint32_t i = 0; i < v->n; i++) {
        uint32_t o = prog_outcome(v->items[i].state);
        if (all || !(o == PROG_APPROVED || o == PROG_PASSED))
            item_line(v, &v->items[i], emit, arg);
        else
            hidden++;
    }
    if (hidden)
        emitf(emit, arg, "  (%u more %s%s succeeded; every %s is in %s)", hidden, v->wf->noun,
              hidden == 1 ? "" : "s", v->wf->noun, json_path ? json_path : "summary.json");
}

static cJSON *item_json(const struct prog_item *p, int priced)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", p->id);
    cJSON_AddStringToObject(o, "outcome", prog_state_name(prog_outcome(p->state)));
    cJSON_AddNumberToObject(o, "rounds", p->rounds);
    cJSON_AddNumberToObject(o, "duration_s",
                            (double)(long long)(summary_item_seconds(p) * 1000) / 1000);
    cJSON_AddNumberToObject(o, "attempts", p->attempts);
    cJSON_AddNumberToObject(o, "requests", p->requests);
    cJSON_AddNumberToObject(o, "http_429", p->http_429);
    cJSON_AddNumberToObject(o, "input_tokens", (double)p->input_tokens);
    cJSON_AddNumberToObject(o, "output_tokens", (double)p->output_tokens);
    if (priced)
        cJSON_AddNumberToObject(o, "cost", p->cost);
    if (p->reason[0])
        cJSON_AddStringToObject(o, "reason", p->reason);
    return o;
}

static cJSON *key_json(const struct summary_key *k)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", k->id);
    cJSON_AddNumberToObject(o, "requests", (double)k->requests);
    cJSON_AddNumberToObject(o, "http_429", (double)k->http_429);
    cJSON_AddNumberToObject(o, "rests", (double)k->rests);
    cJSON_AddNumberToObject(o, "input_tokens", (double)k->input_tokens);
    cJSON_AddNumberToObject(o, "output_tokens", (double)k->output_tokens);
    if (k->price_input >= 0) {
        cJSON *pr = cJSON_AddObjectToObject(o, "price");
        cJSON_AddNumberToObject(pr, "input", k->price_input);
        cJSON_AddNumberToObject(pr, "output", k->price_output);
        cJSON_AddNumberToObject(o, "cost", summary_key_cost(k));
    }
    return o;
}

/* "needs-revision" -> "needs_revision" for a JSON key. */
static void json_key(uint32_t state, char *out, size_t len)
{
    util_strlcpy(out, state == PROG_PENDING ? "not-started" : prog_state_name(state), len);
    for (char *c = out; *c; c++)
        if (*c == '-')
            *c = '_';
}

cJSON *summary_json(const struct summary_view *v)
{
    unsigned c[PROG_STATE_COUNT];
    summary_count(v, c);
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    cJSON_AddStringToObject(root, "workflow", v->wf->name);
    cJSON_AddNumberToObject(root, "parallel", v->parallel);
    double wall = (double)(v->elapsed_ns / 1000000) / 1000, seq = sequential_seconds(v);
    cJSON_AddNumberToObject(root, "elapsed_s", wall);
    cJSON *counts = cJSON_AddObjectToObject(root, "counts");
    for (size_t k = 0; k < sizeof(summary_order) / sizeof(summary_order[0]); k++) {
        uint32_t s = summary_order[k];
        char key[32];
        json_key(s, key, sizeof(key));
        cJSON_AddNumberToObject(counts, key, c[s]);
    }
    cJSON *sp = cJSON_AddObjectToObject(root, "speedup");
    cJSON_AddNumberToObject(sp, "sequential_s", (double)(long long)(seq * 1000) / 1000);
    cJSON_AddNumberToObject(sp, "wall_s", wall);
    double x = wall > 0 ? seq / wall : 0;
    cJSON_AddNumberToObject(sp, "factor", (double)(long long)(x * 100) / 100);
    cJSON_AddNumberToObject(sp, "efficiency",
                            v->parallel > 0 ? (double)(long long)(x / v->parallel * 100) / 100 : 0);
    cJSON *items = cJSON_AddArrayToObject(root, "items");
    int priced = summary_priced(v);
    for (uint32_t i = 0; i < v->n; i++)
        cJSON_AddItemToArray(items, item_json(&v->items[i], priced));
    uint64_t in, out;
    double cost;
    key_totals(v, &in, &out, &cost);
    cJSON *tok = cJSON_AddObjectToObject(root, "tokens");
    cJSON_AddNumberToObject(tok, "input", (double)in);
    cJSON_AddNumberToObject(tok, "output", (double)out);
    if (priced)
        cJSON_AddNumberToObject(root, "cost", cost);
    cJSON *keys = cJSON_AddArrayToObject(root, "keys");
    for (uint32_t i = 0; i < v->nkeys; i++)
        cJSON_AddItemToArray(keys, key_json(&v->keys[i]));
    return root;
}

/* Key i's counters (atomics, relaxed) and its price from the loaded credentials. */
static void key_of(const struct run_ctx *rc, uint32_t i, struct summary_key *k)
{
    const struct cred_slot_sh *slot = shm_cred_slot(&rc->seg, i);
    struct cred_pub pub;
    if (cred_view(slot, &pub) == 0)
        util_strlcpy(k->id, pub.id, sizeof(k->id));
    k->requests = atomic_load_explicit(&slot->requests, memory_order_relaxed);
    k->http_429 = atomic_load_explicit(&slot->http_429, memory_order_relaxed);
    k->rests = atomic_load_explicit(&slot->rests, memory_order_relaxed);
    k->input_tokens = atomic_load_explicit(&slot->input_tokens, memory_order_relaxed);
    k->output_tokens = atomic_load_explicit(&slot->output_tokens, memory_order_relaxed);
    k->price_input = k->price_output = -1;
    if (i < rc->creds.n) {
        k->price_input = rc->creds.v[i].price_input;
        k->price_output = rc->creds.v[i].price_output;
    }
}

int summary_view_of(const struct run_ctx *rc, int64_t elapsed_ns, struct summary_view *v)
{
    memset(v, 0, sizeof(*v));
    v->wf = rc->wf;
    v->n = rc->seg.hdr->item_count;
    v->elapsed_ns = elapsed_ns;
    v->parallel = rc->plan.parallel;
    v->nkeys = rc->seg.hdr->key_count;
    /* one block, items then keys, so the caller frees v->items only */
    size_t items_bytes = (v->n + 1) * sizeof(struct prog_item);
    items_bytes = (items_bytes + 63) & ~(size_t)63;
    char *block = calloc(1, items_bytes + (v->nkeys + 1) * sizeof(struct summary_key));
    if (!block)
        return -ENOMEM;
    struct prog_item *items = (struct prog_item *)block;
    struct summary_key *keys = (struct summary_key *)(block + items_bytes);
    for (uint32_t i = 0; i < v->n; i++)
        if (prog_read(shm_prog_slot(&rc->seg, i), &items[i]) != 0)
            memset(&items[i], 0, sizeof(items[i]));
    for (uint32_t i = 0; i < v->nkeys; i++)
        key_of(rc, i, &keys[i]);
    v->items = items;
    v->keys = keys;
    return 0;
}

static void emit_console(void *arg, const char *line)
{
    ccon_coord(arg, "%s", line);
}

void summary_print(const struct summary_view *v, const struct run_ctx *rc,
                   struct coord_console *con)
{
    char path[PATH_MAX];
    if (util_pathf(path, sizeof(path), "%s/summary.json", rc->run_dir) < 0)
        util_strlcpy(path, "summary.json", sizeof(path));
    summary_render(v, path, emit_console, con);
}

unsigned summary_keys_reserved(const struct run_ctx *rc)
{
    unsigned n = 0;
    for (uint32_t i = 0; i < rc->seg.hdr->key_count; i++) {
        struct cred_pub kv;
        if (cred_view(shm_cred_slot(&rc->seg, i), &kv) == 0)
            n += kv.in_use;
    }
    return n;
}

int summary_write_json(const struct summary_view *v, const struct run_ctx *rc, int exit_status)
{
    char path[PATH_MAX];
    int r = util_pathf(path, sizeof(path), "%s/summary.json", rc->run_dir);
    if (r < 0)
        return r;
    cJSON *root = summary_json(v);
    if (!root)
        return -ENOMEM;
    cJSON_AddStringToObject(root, "run", rc->run_id);
    cJSON_AddStringToObject(root, "title", rc->plan.title);
    cJSON_AddNumberToObject(root, "exit_status", exit_status);
    /* When (Unix ms), and which shard: what `agentos-run summarize` needs to merge runs. */
    int64_t started_ms = rc->seg.hdr->started_realtime_ns / 1000000;
    cJSON_AddNumberToObject(root, "started_unix_ms", (double)started_ms);
    cJSON_AddNumberToObject(root, "ended_unix_ms", (double)(started_ms + v->elapsed_ns / 1000000));
    const char *job = getenv("SLURM_ARRAY_JOB_ID"), *task = getenv("SLURM_ARRAY_TASK_ID");
    if (job && task) { /* which task of which job array ran this shard */
        char slurm[64];
        snprintf(slurm, sizeof(slurm), "%.24s_%.24s", job, task);
        cJSON_AddStringToObject(root, "slurm_task", slurm);
    }
    if (rc->shard.count > 1 || rc->o->shard) {
        char shard[32];
        snprintf(shard, sizeof(shard), "%u/%u", rc->shard.index, rc->shard.count);
        cJSON_AddStringToObject(root, "shard", shard);
    }
    cJSON_AddNumberToObject(root, "requests", (double)atomic_load(&rc->seg.hdr->requests_total));
    cJSON_AddNumberToObject(root, "http_429", (double)atomic_load(&rc->seg.hdr->http_429_total));
    cJSON_AddNumberToObject(root, "keys_left_reserved", summary_keys_reserved(rc));
    bcoord_summary_json(&rc->seg, root);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    char *withnl = text ? util_asprintf("%s\n", text) : NULL;
    free(text);
    if (!withnl)
        return -ENOMEM;
    r = util_write_file_atomic(path, withnl, strlen(withnl));
    free(withnl);
    return r;
}
