/*
 * metrics.c - a segment snapshot as one JSON document for scripts (the
 * Prometheus text exposition is in metrics_prom.c, the text table in
 * metrics_table.c), plus the formatting helpers all three share.
 *
 * Every renderer works from the snapshot alone, so what it shows is one
 * consistent copy per item (see shm/snapshot.h). Strings from the segment are
 * never trusted: cJSON escapes JSON strings. Endpoint URLs lose any user-info
 * and query string before they are shown, so even a base_url that carried a
 * credential would not leak through the inspector. Histograms stay the
 * segment's per-bucket counts, with their bounds in "histogram_bounds_ms".
 */
#include "tools/shmstat/metrics.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "shm/cred.h"
#include "shm/prog.h"
#include "tools/shmstat/metrics_private.h"

const uint64_t metrics_bounds_ms[SHM_HIST_BUCKETS - 1] = SHM_HIST_BOUNDS_MS_INIT;

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
const char *metrics_run_state_key(uint32_t st)
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
