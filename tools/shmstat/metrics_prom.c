/*
 * metrics_prom.c - a segment snapshot in the Prometheus text exposition
 * format 0.0.4, the page a monitoring server scrapes from --listen's
 * /metrics or reads from --prometheus (the JSON document and the helpers the
 * renderers share are in metrics.c). metrics_prometheus writes the run, key,
 * endpoint, node and worker families here and, in their place, those of the
 * shared budget (metrics_budget.c) and the limits (metrics_limits.c).
 *
 * Each family written here has its # HELP and # TYPE, even when no sample
 * follows. Strings from the segment are never trusted: every one that becomes
 * a label value is escaped, and a label that would not fit is left empty
 * rather than cut mid-escape. Endpoint labels go through metrics_safe_url, so
 * no user-info or query string reaches the page. Histograms turn the
 * segment's per-bucket counts into the cumulative buckets Prometheus expects,
 * with the bounds of metrics_bounds_ms in seconds.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "shm/cred.h"
#include "shm/util.h"
#include "tools/shmstat/metrics.h"
#include "tools/shmstat/metrics_private.h"

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

/* A family of one unlabelled sample: HELP, TYPE and the value. */
static void prom_single(FILE *o, const char *name, const char *type, const char *help, uint64_t v)
{
    prom_family(o, name, type, help);
    prom_u(o, name, "", v);
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
    prom_single(o, "agentos_run_stale", "gauge", "1 if the run's coordinator process is gone.",
                (uint64_t)s->stale);
    prom_single(o, "agentos_run_parallelism", "gauge", "Items allowed in flight now.",
                s->parallelism);
    prom_single(o, "agentos_run_parallelism_max", "gauge", "The run's --parallel N.",
                s->parallel_max);
    prom_single(o, "agentos_run_in_flight", "gauge", "Items being processed now.", s->in_flight);
    prom_single(o, "agentos_run_waiting_for_key", "gauge", "Workers waiting for a key now.",
                s->waiting_for_key);
    prom_family(o, "agentos_run_start_time_seconds", "gauge", "Unix time the run started.");
    prom_d(o, "agentos_run_start_time_seconds", "", (double)s->started_realtime_ns / 1e9);
    prom_single(o, "agentos_run_pool_generation", "gauge", "Credential pool reloads so far.",
                s->pool_generation);
    prom_single(o, "agentos_run_requests_total", "counter", "LLM requests sent in this run.",
                s->requests_total);
    prom_single(o, "agentos_run_http_429_total", "counter", "LLM requests answered 429.",
                s->http_429_total);
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
    prom_single(o, "agentos_run_items", "gauge", "Items in the run.", s->item_count);
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
