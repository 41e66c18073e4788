/*
 * metrics_limits.c - the run's limits (shm/gate.h) as agentos-shmstat shows
 * them: the adaptive limit of each provider endpoint with its last window
 * and last change, the per-node limits of the run file and the step groups'
 * limits and deadlines, in the table, the JSON document and the Prometheus
 * metrics; and the run's health for GET /healthz (SPEC 12). Like the rest of
 * the renderers it only sees a snapshot.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "shm/gate.h"
#include "shm/util.h"
#include "tools/shmstat/metrics.h"

/* The gate's name as shown: an endpoint's URL without userinfo, others as they are. */
static void limits_name(const struct snap_gate *g, char *out, size_t len)
{
    if (g->kind == GATE_ENDPOINT)
        metrics_safe_url(g->name, out, len);
    else
        util_strlcpy(out, g->name, len);
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

/* A gate worth showing: an endpoint, or a node or group with a limit or a deadline. */
static int limits_shown(const struct snap_gate *g)
{
    return g->kind == GATE_ENDPOINT || g->limit || g->timeout_ns;
}

static cJSON *limits_json_one(const struct snap *s, const struct snap_gate *g)
{
    cJSON *o = cJSON_CreateObject();
    char name[SHM_GATE_NAME_MAX];
    limits_name(g, name, sizeof(name));
    cJSON_AddStringToObject(o, "kind", gate_kind_name(g->kind));
    cJSON_AddStringToObject(o, "name", name);
    if (g->limit)
        cJSON_AddNumberToObject(o, "limit", g->limit);
    else
        cJSON_AddNullToObject(o, "limit");
    cJSON_AddNumberToObject(o, "in_flight", g->held);
    cJSON_AddNumberToObject(o, "max_in_flight", g->max_held);
    cJSON_AddNumberToObject(o, "taken", (double)g->taken);
    cJSON_AddNumberToObject(o, "refused", (double)g->refused);
    if (g->timeout_ns) {
        cJSON_AddNumberToObject(o, "timeout_s", (double)g->timeout_ns / 1e9);
        if (g->deadline_ns)
            cJSON_AddNumberToObject(o, "deadline_in_s",
                                    (double)(g->deadline_ns - s->taken_mono_ns) / 1e9);
        else
            cJSON_AddNullToObject(o, "deadline_in_s");
    }
    if (g->kind == GATE_ENDPOINT && s->adaptive && g->has_status) {
        const struct gate_status *st = &g->status;
        cJSON *a = cJSON_AddObjectToObject(o, "adaptive");
        cJSON_AddNumberToObject(a, "changes", g->changes);
        cJSON_AddNumberToObject(a, "windows", st->windows);
        cJSON *w = cJSON_AddObjectToObject(a, "last_window");
        cJSON_AddNumberToObject(w, "finished", st->win_finished);
        cJSON_AddNumberToObject(w, "errors", st->win_errors);
        cJSON_AddNumberToObject(w, "median_ms", st->win_median_ms);
        cJSON_AddNumberToObject(w, "goodput_per_s", st->win_goodput);
        if (st->changed_realtime_ns) {
            char at[40];
            cJSON *c = cJSON_AddObjectToObject(a, "last_change");
            cJSON_AddNumberToObject(c, "from", st->from);
            cJSON_AddNumberToObject(c, "to", st->to);
            cJSON_AddStringToObject(c, "reason", st->reason);
            metrics_utc(st->changed_realtime_ns, 1, at, sizeof(at));
            cJSON_AddStringToObject(c, "at", at);
        } else {
            cJSON_AddNullToObject(a, "last_change");
        }
    }
    return o;
}

cJSON *metrics_limits_json(const struct snap *s)
{
    cJSON *a = cJSON_CreateArray();
    for (uint32_t i = 0; a && i < s->gate_count; i++)
        if (limits_shown(&s->gates[i]))
            cJSON_AddItemToArray(a, limits_json_one(s, &s->gates[i]));
    return a;
}

static void limits_prom_family(FILE *o, const char *name, const char *type, const char *help)
{
    fprintf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_limits_prom(const struct snap *s, FILE *o)
{
    static const struct {
        const char *name, *type, *help;
        int field;
    } fam[] = {
        {"agentos_limit", "gauge",
         "Places of the limit (0 = none): requests in flight to an "
         "endpoint, items in a node or a group.",
         0},
        {"agentos_limit_in_flight", "gauge", "Places held now.", 1},
        {"agentos_limit_max_in_flight", "gauge", "Most places held at once in this run.", 2},
        {"agentos_limit_changes_total", "counter", "Changes of the adaptive limit.", 3},
        {"agentos_limit_refused_total", "counter", "Takes refused: full or past its deadline.", 4},
    };
    char name[SHM_GATE_NAME_MAX], esc[3 * SHM_GATE_NAME_MAX];
    for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
        limits_prom_family(o, fam[f].name, fam[f].type, fam[f].help);
        for (uint32_t i = 0; i < s->gate_count; i++) {
            const struct snap_gate *g = &s->gates[i];
            uint64_t v = fam[f].field == 0   ? g->limit
                         : fam[f].field == 1 ? g->held
                         : fam[f].field == 2 ? g->max_held
                         : fam[f].field == 3 ? g->changes
                                             : g->refused;
            if (!limits_shown(g))
                continue;
            limits_name(g, name, sizeof(name));
            metrics_escape_label(name, esc, sizeof(esc));
            fprintf(o, "%s{kind=\"%s\",name=\"%s\"} %" PRIu64 "\n", fam[f].name,
                    gate_kind_name(g->kind), esc, v);
        }
    }
}

void metrics_limits_table(const struct snap *s, int width, FILE *out)
{
    char line[512], name[SHM_GATE_NAME_MAX], lim[16], last[96];
    int any = 0;
    for (uint32_t i = 0; i < s->gate_count; i++) {
        const struct snap_gate *g = &s->gates[i];
        if (!limits_shown(g))
            continue;
        if (!any++)
            fprintf(out, "\n%-8s %-30s %5s %6s %6s %7s %s\n", "LIMIT", "NAME", "NOW", "HELD",
                    "PEAK", "CHANGES", "LAST");
        limits_name(g, name, sizeof(name));
        snprintf(lim, sizeof(lim), g->limit ? "%u" : "-", g->limit);
        last[0] = '\0';
        if (g->has_status && g->status.changed_realtime_ns)
            snprintf(last, sizeof(last), "%u -> %u (%s)", g->status.from, g->status.to,
                     g->status.reason);
        else if (g->timeout_ns && g->deadline_ns)
            snprintf(last, sizeof(last), "deadline in %.1fs",
                     (double)(g->deadline_ns - s->taken_mono_ns) / 1e9);
        else if (g->timeout_ns)
            snprintf(last, sizeof(last), "timeout %.0fs, not started", (double)g->timeout_ns / 1e9);
        snprintf(line, sizeof(line), "%-8s %-30.30s %5s %6u %6u %7u %s", gate_kind_name(g->kind),
                 name, lim, g->held, g->max_held, g->changes, last);
        if (width > 0 && width < (int)sizeof(line))
            line[width] = '\0';
        fprintf(out, "%s\n", line);
    }
}

/* Keys that can serve now: not disabled, not rate-limited, endpoint not cut off. */
static uint32_t health_serving(const struct snap *s)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->key_count; i++) {
        const struct snap_key *k = &s->keys[i];
        const struct snap_endpoint *e =
            k->endpoint < s->endpoint_count ? &s->endpoints[k->endpoint] : NULL;
        if (k->state == CRED_DISABLED || k->rate_limited_until_ns > s->taken_mono_ns)
            continue;
        if (e && e->state == BREAKER_OPEN && e->open_until_ns > s->taken_mono_ns)
            continue;
        n++;
    }
    return n;
}

char *metrics_health(const struct snap *s, const char *ended, unsigned *status)
{
    const char *why = ended;
    uint32_t serving = s ? health_serving(s) : 0;
    if (!why && s->stale)
        why = "gone: its coordinator is gone";
    else if (!why && s->run_state == SHM_RUN_PAUSED)
        why = "paused: no key can serve (credential pool exhausted or endpoints cut off)";
    else if (!why && s->run_state == SHM_RUN_SHUTTING_DOWN)
        why = "shutting down";
    else if (!why && s->run_state == SHM_RUN_DONE)
        why = "gone: the run is done";
    else if (!why && s->key_count && !serving)
        why = "no key can serve now (every key disabled, rate-limited or cut off)";
    *status = why ? 503 : 200;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "status", why ? "unavailable" : "ok");
    if (why)
        cJSON_AddStringToObject(o, "reason", why);
    if (s) {
        cJSON_AddStringToObject(o, "run", s->run_id);
        cJSON_AddStringToObject(o, "state", snap_run_state_name(s->run_state));
        cJSON_AddNumberToObject(o, "keys", s->key_count);
        cJSON_AddNumberToObject(o, "keys_serving", serving);
        cJSON_AddNumberToObject(o, "items", s->item_count);
        cJSON_AddNumberToObject(o, "items_done", s->items_done);
        cJSON_AddNumberToObject(o, "in_flight", s->in_flight);
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}
