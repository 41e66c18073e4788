/*
 * metrics.c - a segment snapshot as one JSON document for scripts and as the
 * Prometheus text exposition a monitoring server scrapes (the text table is
 * in metrics_table.c), plus the formatting helpers all three share.
 *
 * Every renderer works from the snapshot alone, so what it shows is one
 * consistent copy per item (see shm/snapshot.h). Strings from the segment are
 * never trusted: the exposition escapes label values, cJSON escapes JSON
 * strings. Endpoint URLs lose any user-info and query string before they are
 * shown, so even a base_url that carried a credential would not leak through
 * the inspector. Histograms turn the segment's per-bucket counts into the
 * cumulative buckets Prometheus expects.
 */
#include "tools/shmstat/metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "shm/cred.h"
#include "shm/prog.h"
#include "shm/util.h"

static const uint64_t metrics_bounds_ms[SHM_HIST_BUCKETS - 1] = SHM_HIST_BOUNDS_MS_INIT;

/* ---- shared helpers -------------------------------------------------- */

void metrics_utc(int64_t real_ns, int iso, char *out, size_t outlen)
{
    time_t t = (time_t)(real_ns / 1000000000LL);
    struct tm tm;

    if (real_ns <= 0 || !gmtime_r(&t, &tm)) {
        snprintf(out, outlen, "-");
        return;
    }
    strftime(out, outlen, iso ? "%Y-%m-%dT%H:%M:%SZ" : "%H:%M:%S", &tm);
}

void metrics_duration(double s, char *out, size_t outlen)
{
    long whole;

    if (!(s > 0.0))
        s = 0.0;
    whole = (long)s;
    if (s < 100.0)
        snprintf(out, outlen, "%.1fs", s);
    else if (whole < 3600)
        snprintf(out, outlen, "%ldm%02lds", whole / 60, whole % 60);
    else
        snprintf(out, outlen, "%ldh%02ldm", whole / 3600, whole / 60 % 60);
}

void metrics_safe_url(const char *in, char *out, size_t outlen)
{
    const char *start = strstr(in, "://");
    const char *host = start ? start + 3 : in;
    const char *slash = strchr(host, '/');
    const char *at = strchr(host, '@');
    size_t n = 0;

    if (at && (!slash || at < slash)) {
        size_t scheme = (size_t)(host - in);
        n = scheme < outlen - 1 ? scheme : outlen - 1;
        memcpy(out, in, n);
        in = at + 1;
    }
    for (; *in && *in != '?' && *in != '#' && n + 1 < outlen; in++)
        out[n++] = *in;
    out[n] = '\0';
}

/* "shutting down" -> "shutting_down": the machine form of a run state. */
static const char *metrics_run_state_key(uint32_t st)
{
    return st == SHM_RUN_SHUTTING_DOWN ? "shutting_down" : snap_run_state_name(st);
}

const char *metrics_breaker_name(uint32_t st)
{
    return st == BREAKER_CLOSED      ? "closed"
           : st == BREAKER_OPEN      ? "open"
           : st == BREAKER_HALF_OPEN ? "half_open"
                                     : "unknown";
}

static uint64_t metrics_hist_count(const uint64_t *h)
{
    uint64_t n = 0;

    for (int i = 0; i < SHM_HIST_BUCKETS; i++)
        n += h[i];
    return n;
}

/* ---- JSON ------------------------------------------------------------ */

static cJSON *json_hist(const uint64_t *h)
{
    cJSON *a = cJSON_CreateArray();

    for (int i = 0; a && i < SHM_HIST_BUCKETS; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber((double)h[i]));
    return a;
}

static void json_utc(cJSON *o, const char *name, int64_t real_ns)
{
    char b[32];

    metrics_utc(real_ns, 1, b, sizeof(b));
    cJSON_AddStringToObject(o, name, b);
}

static cJSON *json_run(const struct snap *s)
{
    cJSON *r = cJSON_CreateObject();

    cJSON_AddStringToObject(r, "id", s->run_id);
    cJSON_AddStringToObject(r, "segment", s->segment);
    cJSON_AddStringToObject(r, "workflow", s->workflow);
    cJSON_AddNumberToObject(r, "coordinator_pid", s->creator_pid);
    cJSON_AddBoolToObject(r, "stale", s->stale);
    cJSON_AddStringToObject(r, "state", metrics_run_state_key(s->run_state));
    json_utc(r, "started", s->started_realtime_ns);
    cJSON_AddNumberToObject(r, "elapsed_s",
                            (double)(s->taken_real_ns - s->started_realtime_ns) / 1e9);
    cJSON_AddNumberToObject(r, "parallelism", s->parallelism);
    cJSON_AddNumberToObject(r, "parallel_max", s->parallel_max);
    cJSON_AddNumberToObject(r, "in_flight", s->in_flight);
    cJSON_AddNumberToObject(r, "waiting_for_key", s->waiting_for_key);
    cJSON_AddNumberToObject(r, "pool_generation", (double)s->pool_generation);
    cJSON_AddNumberToObject(r, "requests", (double)s->requests_total);
    cJSON_AddNumberToObject(r, "http_429", (double)s->http_429_total);
    cJSON_AddNumberToObject(r, "items_done", s->items_done);
    cJSON_AddNumberToObject(r, "items_failed", s->items_failed);
    cJSON_AddBoolToObject(r, "adaptive", s->adaptive);
    cJSON_AddNumberToObject(r, "start_gap_s", (double)s->start_gap_ns / 1e9);
    return r;
}

static cJSON *json_counts(const struct snap *s)
{
    cJSON *c = cJSON_CreateObject();

    cJSON_AddNumberToObject(c, "total", s->item_count);
    for (unsigned i = 0; i < SNAP_STATE_COUNT; i++)
        cJSON_AddNumberToObject(c, snap_state_name(i), s->by_state[i]);
    return c;
}

static cJSON *json_item(const struct snap *s, uint32_t i)
{
    static const char *const claims[] = {"free", "taken", "done", "skip", "blocked"};
    const struct snap_item *it = &s->items[i];
    cJSON *o = cJSON_CreateObject();

    cJSON_AddNumberToObject(o, "index", i);
    cJSON_AddStringToObject(o, "id", it->p.id);
    cJSON_AddStringToObject(o, "state", it->readable ? prog_state_name(it->p.state) : "unreadable");
    cJSON_AddStringToObject(
        o, "claim", it->claim < sizeof(claims) / sizeof(claims[0]) ? claims[it->claim] : "unknown");
    cJSON_AddStringToObject(o, "node", it->p.node);
    cJSON_AddNumberToObject(o, "worker_pid", it->p.worker_pid);
    cJSON_AddNumberToObject(o, "attempts", it->p.attempts);
    cJSON_AddNumberToObject(o, "rounds", it->p.rounds);
    cJSON_AddNumberToObject(o, "requests", it->p.requests);
    cJSON_AddNumberToObject(o, "http_429", it->p.http_429);
    cJSON_AddNumberToObject(o, "input_tokens", (double)it->p.input_tokens);
    cJSON_AddNumberToObject(o, "output_tokens", (double)it->p.output_tokens);
    cJSON_AddNumberToObject(o, "cost", it->p.cost);
    cJSON_AddNumberToObject(o, "elapsed_s", snap_item_elapsed_s(s, it));
    cJSON_AddBoolToObject(o, "finished", it->p.finished_ns > it->p.started_ns);
    cJSON_AddStringToObject(o, "reason", it->p.reason);
    return o;
}

static cJSON *json_key(const struct snap *s, uint32_t i)
{
    const struct snap_key *k = &s->keys[i];
    cJSON *o = cJSON_CreateObject(), *h = cJSON_CreateArray(), *roles = cJSON_CreateArray();
    uint64_t n = metrics_hist_count(k->latency_hist);

    cJSON_AddNumberToObject(o, "index", i);
    cJSON_AddStringToObject(o, "id", k->id);
    cJSON_AddStringToObject(o, "provider", k->provider);
    cJSON_AddStringToObject(o, "model", k->model);
    cJSON_AddStringToObject(o, "state", cred_state_name(k->state));
    if (k->roles & CRED_ROLE_DRAFT)
        cJSON_AddItemToArray(roles, cJSON_CreateString("draft"));
    if (k->roles & CRED_ROLE_REVIEW)
        cJSON_AddItemToArray(roles, cJSON_CreateString("review"));
    cJSON_AddItemToObject(o, "roles", roles);
    cJSON_AddNumberToObject(o, "concurrency", k->concurrency);
    cJSON_AddNumberToObject(o, "in_use", k->in_use);
    for (int j = 0; h && j < SHM_KEY_HOLDERS_MAX; j++)
        if (k->holders[j] > 0)
            cJSON_AddItemToArray(h, cJSON_CreateNumber(k->holders[j]));
    cJSON_AddItemToObject(o, "holders", h);
    if (k->state == CRED_RATE_LIMITED && k->rate_limited_until_ns > 0) {
        cJSON *u = cJSON_AddObjectToObject(o, "rate_limited_until");
        cJSON_AddNumberToObject(u, "in_s",
                                (double)(k->rate_limited_until_ns - s->taken_mono_ns) / 1e9);
        json_utc(u, "utc", k->rate_limited_until_realtime_ns);
    } else {
        cJSON_AddNullToObject(o, "rate_limited_until");
    }
    cJSON_AddNumberToObject(o, "endpoint", k->endpoint);
    cJSON_AddNumberToObject(o, "rpm", k->rpm);
    cJSON_AddNumberToObject(o, "learned_rpm", k->learned_rpm);
    if (k->rpm || k->learned_rpm)
        cJSON_AddNumberToObject(o, "tokens", k->tokens);
    else
        cJSON_AddNullToObject(o, "tokens");
    cJSON_AddNumberToObject(o, "tpm", k->tpm);
    cJSON_AddNumberToObject(o, "learned_tpm", k->learned_tpm);
    if (k->tpm || k->learned_tpm)
        cJSON_AddNumberToObject(o, "tpm_tokens", k->tpm_tokens);
    else
        cJSON_AddNullToObject(o, "tpm_tokens");
    cJSON_AddNumberToObject(o, "resting_s",
                            k->rest_until_ns > s->taken_mono_ns
                                ? (double)(k->rest_until_ns - s->taken_mono_ns) / 1e9
                                : 0.0);
    cJSON_AddNumberToObject(o, "rests", (double)k->rests);
    cJSON_AddNumberToObject(o, "input_tokens", (double)k->input_tokens);
    cJSON_AddNumberToObject(o, "output_tokens", (double)k->output_tokens);
    cJSON_AddNumberToObject(o, "requests", (double)k->requests);
    cJSON_AddNumberToObject(o, "http_429", (double)k->http_429);
    cJSON_AddNumberToObject(o, "errors", (double)k->errors);
    cJSON_AddNumberToObject(o, "latency_ms_sum", (double)k->latency_ms_sum);
    if (n)
        cJSON_AddNumberToObject(o, "latency_ms_mean", (double)k->latency_ms_sum / (double)n);
    else
        cJSON_AddNullToObject(o, "latency_ms_mean");
    cJSON_AddItemToObject(o, "latency_hist", json_hist(k->latency_hist));
    cJSON_AddStringToObject(o, "disabled_reason", k->disabled_reason);
    return o;
}

static cJSON *json_endpoint(const struct snap *s, uint32_t i)
{
    const struct snap_endpoint *e = &s->endpoints[i];
    cJSON *o = cJSON_CreateObject();
    char url[SHM_ENDPOINT_MAX];
    double open_s = (double)(e->open_until_ns - s->taken_mono_ns) / 1e9;

    metrics_safe_url(e->url, url, sizeof(url));
    cJSON_AddNumberToObject(o, "index", i);
    cJSON_AddStringToObject(o, "url", url);
    cJSON_AddStringToObject(o, "breaker", metrics_breaker_name(e->state));
    cJSON_AddNumberToObject(o, "consecutive_failures", e->consecutive_failures);
    cJSON_AddNumberToObject(o, "open_for_s", e->state == BREAKER_OPEN && open_s > 0 ? open_s : 0);
    cJSON_AddNumberToObject(o, "probe_pid", e->probe_pid);
    cJSON_AddNumberToObject(o, "trips", (double)e->trips);
    cJSON_AddNumberToObject(o, "requests", (double)e->requests);
    cJSON_AddNumberToObject(o, "failures", (double)e->failures);
    return o;
}

static cJSON *json_node(const struct snap_node *n)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "name", n->name);
    cJSON_AddNumberToObject(o, "runs", (double)n->runs);
    cJSON_AddNumberToObject(o, "failures", (double)n->failures);
    cJSON_AddNumberToObject(o, "duration_ms_sum", (double)n->duration_ms_sum);
    cJSON_AddItemToObject(o, "duration_hist", json_hist(n->duration_hist));
    return o;
}

static cJSON *json_worker(const struct snap *s, uint32_t i)
{
    const struct snap_worker *w = &s->workers[i];
    cJSON *o = cJSON_CreateObject();
    int busy = w->item_index >= 0 && (uint32_t)w->item_index < s->item_count;

    cJSON_AddNumberToObject(o, "index", i);
    cJSON_AddNumberToObject(o, "pid", w->pid);
    cJSON_AddNumberToObject(o, "item_index", busy ? w->item_index : -1);
    if (busy)
        cJSON_AddStringToObject(o, "item", s->items[w->item_index].p.id);
    else
        cJSON_AddNullToObject(o, "item");
    cJSON_AddNumberToObject(o, "rss_kib", (double)w->rss_kib);
    cJSON_AddNumberToObject(o, "items_processed", (double)w->items_processed);
    if (w->heartbeat_ns > 0)
        cJSON_AddNumberToObject(o, "heartbeat_age_s",
                                (double)(s->taken_mono_ns - w->heartbeat_ns) / 1e9);
    else
        cJSON_AddNullToObject(o, "heartbeat_age_s");
    return o;
}

char *metrics_json(const struct snap *s, int pretty)
{
    cJSON *root = cJSON_CreateObject(), *a, *b;
    char *text;

    if (!root)
        return NULL;
    cJSON_AddStringToObject(root, "schema", METRICS_JSON_SCHEMA);
    cJSON_AddNumberToObject(root, "layout_version", s->layout_version);
    json_utc(root, "taken_at", s->taken_real_ns);
    cJSON_AddItemToObject(root, "run", json_run(s));
    cJSON_AddItemToObject(root, "counts", json_counts(s));
    a = cJSON_AddArrayToObject(root, "items");
    for (uint32_t i = 0; a && i < s->item_count; i++)
        cJSON_AddItemToArray(a, json_item(s, i));
    a = cJSON_AddArrayToObject(root, "keys");
    for (uint32_t i = 0; a && i < s->key_count; i++)
        cJSON_AddItemToArray(a, json_key(s, i));
    metrics_budget_json(s, root);
    a = cJSON_AddArrayToObject(root, "endpoints");
    for (uint32_t i = 0; a && i < s->endpoint_count; i++)
        cJSON_AddItemToArray(a, json_endpoint(s, i));
    a = cJSON_AddArrayToObject(root, "nodes");
    for (uint32_t i = 0; a && i < s->node_count; i++)
        cJSON_AddItemToArray(a, json_node(&s->nodes[i]));
    cJSON_AddItemToObject(root, "limits", metrics_limits_json(s));
    a = cJSON_AddArrayToObject(root, "workers");
    for (uint32_t i = 0; a && i < s->worker_count; i++)
        cJSON_AddItemToArray(a, json_worker(s, i));
    b = cJSON_AddArrayToObject(root, "histogram_bounds_ms");
    for (int i = 0; b && i < SHM_HIST_BUCKETS - 1; i++)
        cJSON_AddItemToArray(b, cJSON_CreateNumber((double)metrics_bounds_ms[i]));
    text = pretty ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

/* ---- Prometheus ------------------------------------------------------ */

void metrics_escape_label(const char *in, char *out, size_t outlen)
{
    size_t n = 0;

    for (; *in && n + 3 < outlen; in++) {
        if (*in == '\\' || *in == '"') {
            out[n++] = '\\';
            out[n++] = *in;
        } else if (*in == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else {
            out[n++] = *in;
        }
    }
    out[n] = '\0';
}

static void prom_family(FILE *o, const char *name, const char *type, const char *help)
{
    fprintf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample; label is "" or a rendered label set without braces. */
static void prom_u(FILE *o, const char *name, const char *labels, uint64_t v)
{
    fprintf(o, "%s%s%s%s %" PRIu64 "\n", name, *labels ? "{" : "", labels, *labels ? "}" : "", v);
}

static void prom_d(FILE *o, const char *name, const char *labels, double v)
{
    fprintf(o, "%s%s%s%s %.9g\n", name, *labels ? "{" : "", labels, *labels ? "}" : "", v);
}

/* Cumulative _bucket lines, then _sum (seconds) and _count, for one label set. */
static void prom_hist(FILE *o, const char *name, const char *labels, const uint64_t *h,
                      uint64_t sum_ms)
{
    uint64_t cum = 0;

    for (int i = 0; i < SHM_HIST_BUCKETS; i++) {
        char le[32];
        cum += h[i];
        if (i < SHM_HIST_BUCKETS - 1)
            snprintf(le, sizeof(le), "%g", (double)metrics_bounds_ms[i] / 1000.0);
        else
            snprintf(le, sizeof(le), "+Inf");
        fprintf(o, "%s_bucket{%s,le=\"%s\"} %" PRIu64 "\n", name, labels, le, cum);
    }
    fprintf(o, "%s_sum{%s} %.9g\n", name, labels, (double)sum_ms / 1000.0);
    fprintf(o, "%s_count{%s} %" PRIu64 "\n", name, labels, cum);
}

/* Room for one label: name="value" with every byte of the longest field escaped. */
#define PROM_LABEL_MAX (3 * SHM_ENDPOINT_MAX + 32)

/*
 * name="escaped value" into out (PROM_LABEL_MAX bytes). Every field that
 * becomes a label is at most SHM_ENDPOINT_MAX bytes, so the label always fits;
 * were it not to, the label is left empty rather than cut mid-escape.
 */
static void prom_label(char *out, size_t outlen, const char *name, const char *value)
{
    char esc[3 * SHM_ENDPOINT_MAX];

    metrics_escape_label(value, esc, sizeof(esc));
    if (util_pathf(out, outlen, "%s=\"%s\"", name, esc) < 0)
        out[0] = '\0';
}

static void prom_run(const struct snap *s, FILE *o)
{
    char l[3 * PROM_LABEL_MAX + 8], a[PROM_LABEL_MAX], b[PROM_LABEL_MAX], c[PROM_LABEL_MAX];

    prom_family(o, "agentos_run_info", "gauge", "The run being inspected (always 1).");
    prom_label(a, sizeof(a), "run", s->run_id);
    prom_label(b, sizeof(b), "workflow", s->workflow);
    prom_label(c, sizeof(c), "segment", s->segment);
    snprintf(l, sizeof(l), "%s,%s,%s", a, b, c);
    prom_u(o, "agentos_run_info", l, 1);
    prom_family(o, "agentos_run_state", "gauge", "1 for the run's current state, else 0.");
    for (uint32_t st = SHM_RUN_STARTING; st <= SHM_RUN_DONE; st++) {
        snprintf(l, sizeof(l), "state=\"%s\"", metrics_run_state_key(st));
        prom_u(o, "agentos_run_state", l, s->run_state == st);
    }
    prom_family(o, "agentos_run_stale", "gauge", "1 if the run's coordinator process is gone.");
    prom_u(o, "agentos_run_stale", "", (uint64_t)s->stale);
    prom_family(o, "agentos_run_parallelism", "gauge", "Items allowed in flight now.");
    prom_u(o, "agentos_run_parallelism", "", s->parallelism);
    prom_family(o, "agentos_run_parallelism_max", "gauge", "The run's --parallel N.");
    prom_u(o, "agentos_run_parallelism_max", "", s->parallel_max);
    prom_family(o, "agentos_run_in_flight", "gauge", "Items being processed now.");
    prom_u(o, "agentos_run_in_flight", "", s->in_flight);
    prom_family(o, "agentos_run_waiting_for_key", "gauge", "Workers waiting for a key now.");
    prom_u(o, "agentos_run_waiting_for_key", "", s->waiting_for_key);
    prom_family(o, "agentos_run_start_time_seconds", "gauge", "Unix time the run started.");
    prom_d(o, "agentos_run_start_time_seconds", "", (double)s->started_realtime_ns / 1e9);
    prom_family(o, "agentos_run_pool_generation", "gauge", "Credential pool reloads so far.");
    prom_u(o, "agentos_run_pool_generation", "", s->pool_generation);
    prom_family(o, "agentos_run_requests_total", "counter", "LLM requests sent in this run.");
    prom_u(o, "agentos_run_requests_total", "", s->requests_total);
    prom_family(o, "agentos_run_http_429_total", "counter", "LLM requests answered 429.");
    prom_u(o, "agentos_run_http_429_total", "", s->http_429_total);
    uint64_t in = 0, out = 0;
    for (uint32_t i = 0; i < s->key_count; i++) {
        in += s->keys[i].input_tokens;
        out += s->keys[i].output_tokens;
    }
    prom_family(o, "agentos_run_input_tokens_total", "counter",
                "Input (prompt) tokens the replies of this run reported.");
    prom_u(o, "agentos_run_input_tokens_total", "", in);
    prom_family(o, "agentos_run_output_tokens_total", "counter",
                "Output (completion) tokens the replies of this run reported.");
    prom_u(o, "agentos_run_output_tokens_total", "", out);
    prom_family(o, "agentos_run_items", "gauge", "Items in the run.");
    prom_u(o, "agentos_run_items", "", s->item_count);
    prom_family(o, "agentos_items", "gauge", "Items by state (unreadable: torn slot).");
    for (unsigned i = 0; i < SNAP_STATE_COUNT; i++) {
        snprintf(l, sizeof(l), "state=\"%s\"", snap_state_name(i));
        prom_u(o, "agentos_items", l, s->by_state[i]);
    }
}

/* Labels of key i, or "" for a slot never configured. */
static void prom_key_label(const struct snap_key *k, char *l, size_t n)
{
    if (k->id[0])
        prom_label(l, n, "key", k->id);
    else
        l[0] = '\0';
}

static void prom_keys(const struct snap *s, FILE *o)
{
    char l[PROM_LABEL_MAX], m[3 * PROM_LABEL_MAX + 8];

    prom_family(o, "agentos_key_info", "gauge", "A configured key (always 1).");
    for (uint32_t i = 0; i < s->key_count; i++) {
        char p[PROM_LABEL_MAX], md[PROM_LABEL_MAX];
        prom_key_label(&s->keys[i], l, sizeof(l));
        if (!l[0])
            continue;
        prom_label(p, sizeof(p), "provider", s->keys[i].provider);
        prom_label(md, sizeof(md), "model", s->keys[i].model);
        snprintf(m, sizeof(m), "%s,%s,%s", l, p, md);
        prom_u(o, "agentos_key_info", m, 1);
    }
    prom_family(o, "agentos_key_state", "gauge", "1 for the key's current state, else 0.");
    for (uint32_t i = 0; i < s->key_count; i++) {
        prom_key_label(&s->keys[i], l, sizeof(l));
        for (uint32_t st = CRED_AVAILABLE; l[0] && st <= CRED_DISABLED; st++) {
            snprintf(m, sizeof(m), "%s,state=\"%s\"", l, cred_state_name(st));
            prom_u(o, "agentos_key_state", m, s->keys[i].state == st);
        }
    }
#define PROM_KEY_FAMILY(name, type, help, expr)                                                    \
    do {                                                                                           \
        prom_family(o, name, type, help);                                                          \
        for (uint32_t i = 0; i < s->key_count; i++) {                                              \
            const struct snap_key *k = &s->keys[i];                                                \
            prom_key_label(k, l, sizeof(l));                                                       \
            if (l[0])                                                                              \
                prom_d(o, name, l, (double)(expr));                                                \
        }                                                                                          \
    } while (0)
    PROM_KEY_FAMILY("agentos_key_in_use", "gauge", "Reservations of the key held now.", k->in_use);
    PROM_KEY_FAMILY("agentos_key_concurrency", "gauge", "Request slots of the key.",
                    k->concurrency);
    PROM_KEY_FAMILY("agentos_key_requests_total", "counter", "Requests sent with the key.",
                    k->requests);
    PROM_KEY_FAMILY("agentos_key_http_429_total", "counter", "Requests answered 429.", k->http_429);
    PROM_KEY_FAMILY("agentos_key_errors_total", "counter", "Transport errors and 5xx.", k->errors);
    PROM_KEY_FAMILY("agentos_key_rate_limited_seconds", "gauge",
                    "Seconds until the key's rate limit ends (0 if not limited).",
                    k->state == CRED_RATE_LIMITED && k->rate_limited_until_ns > s->taken_mono_ns
                        ? (double)(k->rate_limited_until_ns - s->taken_mono_ns) / 1e9
                        : 0.0);
    PROM_KEY_FAMILY("agentos_key_tokens", "gauge",
                    "Requests left in the key's token bucket (0 for unpaced keys).",
                    k->rpm || k->learned_rpm ? k->tokens : 0.0);
    PROM_KEY_FAMILY("agentos_key_rpm_learned", "gauge",
                    "Requests per minute the provider's headers announced (0: none).",
                    k->learned_rpm);
    PROM_KEY_FAMILY("agentos_key_tpm_budget_tokens", "gauge",
                    "LLM tokens left in the key's tpm budget (0 without one).",
                    k->tpm || k->learned_tpm ? k->tpm_tokens : 0.0);
    PROM_KEY_FAMILY("agentos_key_rests_total", "counter",
                    "Rests the provider's rate-limit headers asked for (nothing left).", k->rests);
    PROM_KEY_FAMILY("agentos_key_input_tokens_total", "counter",
                    "Input (prompt) tokens the key's replies reported.", k->input_tokens);
    PROM_KEY_FAMILY("agentos_key_output_tokens_total", "counter",
                    "Output (completion) tokens the key's replies reported.", k->output_tokens);
#undef PROM_KEY_FAMILY
    prom_family(o, "agentos_key_latency_seconds", "histogram", "Latency of the key's requests.");
    for (uint32_t i = 0; i < s->key_count; i++) {
        prom_key_label(&s->keys[i], l, sizeof(l));
        if (l[0])
            prom_hist(o, "agentos_key_latency_seconds", l, s->keys[i].latency_hist,
                      s->keys[i].latency_ms_sum);
    }
}

static void prom_endpoints(const struct snap *s, FILE *o)
{
    char url[SHM_ENDPOINT_MAX], l[PROM_LABEL_MAX];

#define PROM_EP_FAMILY(name, type, help, expr)                                                     \
    do {                                                                                           \
        prom_family(o, name, type, help);                                                          \
        for (uint32_t i = 0; i < s->endpoint_count; i++) {                                         \
            const struct snap_endpoint *e = &s->endpoints[i];                                      \
            metrics_safe_url(e->url, url, sizeof(url));                                            \
            prom_label(l, sizeof(l), "endpoint", url);                                             \
            if (url[0])                                                                            \
                prom_u(o, name, l, (uint64_t)(expr));                                              \
        }                                                                                          \
    } while (0)
    PROM_EP_FAMILY("agentos_endpoint_breaker_open", "gauge",
                   "1 while the endpoint's circuit breaker is open.", e->state == BREAKER_OPEN);
    PROM_EP_FAMILY("agentos_endpoint_breaker_half_open", "gauge",
                   "1 while the breaker lets one probe request through.",
                   e->state == BREAKER_HALF_OPEN);
    PROM_EP_FAMILY("agentos_endpoint_consecutive_failures", "gauge",
                   "Failures in a row at the endpoint.", e->consecutive_failures);
    PROM_EP_FAMILY("agentos_endpoint_breaker_trips_total", "counter",
                   "Times the endpoint's breaker opened.", e->trips);
    PROM_EP_FAMILY("agentos_endpoint_requests_total", "counter", "Requests sent to the endpoint.",
                   e->requests);
    PROM_EP_FAMILY("agentos_endpoint_failures_total", "counter",
                   "Connect errors, timeouts and 5xx from the endpoint.", e->failures);
#undef PROM_EP_FAMILY
}

static void prom_nodes(const struct snap *s, FILE *o)
{
    char l[PROM_LABEL_MAX];

    prom_family(o, "agentos_node_runs_total", "counter", "Finished executions of the node.");
    for (uint32_t i = 0; i < s->node_count; i++) {
        prom_label(l, sizeof(l), "node", s->nodes[i].name);
        if (s->nodes[i].name[0])
            prom_u(o, "agentos_node_runs_total", l, s->nodes[i].runs);
    }
    prom_family(o, "agentos_node_failures_total", "counter", "Failed executions of the node.");
    for (uint32_t i = 0; i < s->node_count; i++) {
        prom_label(l, sizeof(l), "node", s->nodes[i].name);
        if (s->nodes[i].name[0])
            prom_u(o, "agentos_node_failures_total", l, s->nodes[i].failures);
    }
    prom_family(o, "agentos_node_duration_seconds", "histogram", "Duration of node executions.");
    for (uint32_t i = 0; i < s->node_count; i++) {
        prom_label(l, sizeof(l), "node", s->nodes[i].name);
        if (s->nodes[i].name[0])
            prom_hist(o, "agentos_node_duration_seconds", l, s->nodes[i].duration_hist,
                      s->nodes[i].duration_ms_sum);
    }
}

static void prom_workers(const struct snap *s, FILE *o)
{
    char l[32];

#define PROM_W_FAMILY(name, type, help, expr)                                                      \
    do {                                                                                           \
        prom_family(o, name, type, help);                                                          \
        for (uint32_t i = 0; i < s->worker_count; i++) {                                           \
            const struct snap_worker *w = &s->workers[i];                                          \
            snprintf(l, sizeof(l), "worker=\"%u\"", i);                                            \
            prom_u(o, name, l, (uint64_t)(expr));                                                  \
        }                                                                                          \
    } while (0)
    PROM_W_FAMILY("agentos_worker_pid", "gauge", "Process id of the worker (0 = not running).",
                  w->pid > 0 ? w->pid : 0);
    PROM_W_FAMILY("agentos_worker_busy", "gauge", "1 while the worker processes an item.",
                  w->item_index >= 0);
    PROM_W_FAMILY("agentos_worker_rss_bytes", "gauge", "Resident set size of the worker.",
                  w->rss_kib * 1024);
    PROM_W_FAMILY("agentos_worker_items_processed_total", "counter", "Items the worker finished.",
                  w->items_processed);
#undef PROM_W_FAMILY
}

int metrics_prometheus(const struct snap *s, FILE *out)
{
    prom_run(s, out);
    prom_keys(s, out);
    metrics_budget_prometheus(s, out);
    prom_endpoints(s, out);
    prom_nodes(s, out);
    metrics_limits_prom(s, out);
    prom_workers(s, out);
    return ferror(out) ? -EIO : 0;
}
