/*
 * metrics_budget.c - the shared key budget (SPEC 13, --budget) in the
 * inspector's three renderings: beside each key's local state (the run's own
 * view, from its slot), Redis's view of it (leases of every run, requests
 * left in the shared bucket, the shared rate-limit deadline, disabled), as
 * the coordinator last read it, and the run's budget counters. Only the
 * snapshot is read; nothing here is shown when the run has no --budget.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "shm/cred.h"
#include "shm/util.h"
#include "tools/shmstat/metrics.h"

static const char *budget_mode_name(uint32_t mode)
{
    return mode == SHM_BUDGET_SHARED ? "shared" : mode == SHM_BUDGET_LOCAL ? "local" : "off";
}

/* "in 12s 04:52:18" for a deadline on Redis's clock, or "-". */
static void budget_until(const struct snap *s, int64_t until_ms, char *out, size_t len)
{
    char d[16], t[16];
    int64_t left_ns = until_ms * 1000000 - s->taken_real_ns;
    if (until_ms <= 0 || left_ns <= 0) {
        snprintf(out, len, "-");
        return;
    }
    metrics_duration((double)left_ns / 1e9, d, sizeof(d));
    metrics_utc(until_ms * 1000000, 0, t, sizeof(t));
    util_errf(out, len, "in %s %s", d, t);
}

void metrics_budget_table(const struct snap *s, FILE *out)
{
    const struct snap_budget *b = &s->budget;
    char lost[48] = "";
    if (b->mode == SHM_BUDGET_OFF)
        return;
    if (b->mode == SHM_BUDGET_LOCAL && b->lost_since_realtime_ns > 0) {
        char t[16];
        metrics_utc(b->lost_since_realtime_ns, 0, t, sizeof(t));
        snprintf(lost, sizeof(lost), " (Redis lost since %s)", t);
    }
    fprintf(out, "\nShared budget %.70s: %s%s, %u run%s live\n", b->url, budget_mode_name(b->mode),
            lost, b->n_live, b->n_live == 1 ? "" : "s");
    fprintf(out,
            "%" PRIu64 " takes, %" PRIu64 " waits, %" PRIu64 " by the local share; %.2f ms a "
            "round trip\n",
            b->takes, b->waits, b->local_takes,
            b->round_trips ? (double)b->latency_ns / (double)b->round_trips / 1e6 : 0.0);
    fprintf(out, "%-16s %-8s %6s %8s %-18s %6s %6s\n", "KEY", "LOCAL", "LEASES", "RPM LEFT",
            "REDIS LIMITED", "TAKES", "WAITS");
    for (uint32_t i = 0; i < s->key_count; i++) {
        const struct snap_key *k = &s->keys[i];
        char id[17], leases[12] = "?", left[16] = "?", until[32] = "?";
        util_strlcpy(id, k->id, sizeof(id));
        for (char *p = id; *p; p++)
            if ((unsigned char)*p < 0x20)
                *p = '?';
        if (k->budget.valid) {
            snprintf(leases, sizeof(leases), "%u", k->budget.leases);
            if (k->rpm)
                snprintf(left, sizeof(left), "%" PRId64, k->budget.rpm_left);
            else
                snprintf(left, sizeof(left), "-");
            if (k->budget.disabled)
                snprintf(until, sizeof(until), "disabled");
            else
                budget_until(s, k->budget.rate_limited_until_unix_ms, until, sizeof(until));
        }
        static const char *const st[] = {"avail", "reserved", "limited", "disabled"};
        fprintf(out, "%-16s %-8s %6s %8s %-18s %6" PRIu64 " %6" PRIu64 "\n", id,
                k->state < 4 ? st[k->state] : "unknown", leases, left, until, k->budget_takes,
                k->budget_waits);
    }
}

void metrics_budget_json(const struct snap *s, cJSON *root)
{
    const struct snap_budget *b = &s->budget;
    if (b->mode == SHM_BUDGET_OFF)
        return;
    cJSON *o = cJSON_AddObjectToObject(root, "budget");
    cJSON_AddStringToObject(o, "url", b->url);
    cJSON_AddStringToObject(o, "mode", budget_mode_name(b->mode));
    cJSON_AddNumberToObject(o, "runs_live", b->n_live);
    cJSON_AddNumberToObject(o, "lost_since_unix_ms", (double)(b->lost_since_realtime_ns / 1000000));
    cJSON_AddNumberToObject(o, "losses", (double)b->losses);
    cJSON_AddNumberToObject(o, "round_trips", (double)b->round_trips);
    cJSON_AddNumberToObject(o, "latency_mean_ms",
                            b->round_trips ? (double)b->latency_ns / (double)b->round_trips / 1e6
                                           : 0.0);
    cJSON_AddNumberToObject(o, "latency_max_ms", (double)b->latency_max_ns / 1e6);
    cJSON_AddNumberToObject(o, "takes", (double)b->takes);
    cJSON_AddNumberToObject(o, "waits", (double)b->waits);
    cJSON_AddNumberToObject(o, "gives", (double)b->gives);
    cJSON_AddNumberToObject(o, "local_takes", (double)b->local_takes);
    cJSON *keys = cJSON_AddArrayToObject(o, "keys");
    for (uint32_t i = 0; keys && i < s->key_count; i++) {
        const struct snap_key *k = &s->keys[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "id", k->id);
        cJSON_AddStringToObject(e, "local_state", cred_state_name(k->state));
        cJSON_AddNumberToObject(e, "takes", (double)k->budget_takes);
        cJSON_AddNumberToObject(e, "waits", (double)k->budget_waits);
        cJSON_AddNumberToObject(e, "shared_limits", (double)k->budget_shared_limits);
        if (k->budget.valid) {
            cJSON *r = cJSON_AddObjectToObject(e, "redis");
            cJSON_AddNumberToObject(r, "leases", k->budget.leases);
            cJSON_AddNumberToObject(r, "rpm_left", (double)k->budget.rpm_left);
            cJSON_AddNumberToObject(r, "tpm_left", (double)k->budget.tpm_left);
            cJSON_AddNumberToObject(r, "rate_limited_until_unix_ms",
                                    (double)k->budget.rate_limited_until_unix_ms);
            cJSON_AddBoolToObject(r, "disabled", k->budget.disabled != 0);
            if (k->budget.disabled)
                cJSON_AddStringToObject(r, "reason", k->budget.reason);
            cJSON_AddNumberToObject(r, "read_unix_ms",
                                    (double)(k->budget.read_realtime_ns / 1000000));
        }
        cJSON_AddItemToArray(keys, e);
    }
}

static void budget_family(FILE *o, const char *name, const char *type, const char *help)
{
    fprintf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_budget_prometheus(const struct snap *s, FILE *o)
{
    const struct snap_budget *b = &s->budget;
    char l[160];
    if (b->mode == SHM_BUDGET_OFF)
        return;
    budget_family(o, "agentos_budget_shared", "gauge",
                  "1 while the keys' budget is shared through Redis, 0 on the local share.");
    fprintf(o, "agentos_budget_shared %d\n", b->mode == SHM_BUDGET_SHARED);
    budget_family(o, "agentos_budget_runs_live", "gauge", "Runs live on the shared budget.");
    fprintf(o, "agentos_budget_runs_live %u\n", b->n_live);
    budget_family(o, "agentos_budget_round_trips_total", "counter", "Round trips to Redis.");
    fprintf(o, "agentos_budget_round_trips_total %" PRIu64 "\n", b->round_trips);
    budget_family(o, "agentos_budget_round_trip_seconds_total", "counter",
                  "Time spent in round trips to Redis.");
    fprintf(o, "agentos_budget_round_trip_seconds_total %.6f\n", (double)b->latency_ns / 1e9);
    budget_family(o, "agentos_budget_waits_total", "counter",
                  "Takes Redis answered WAIT, per key.");
    for (uint32_t i = 0; i < s->key_count; i++) {
        metrics_escape_label(s->keys[i].id, l, sizeof(l));
        fprintf(o, "agentos_budget_waits_total{key=\"%s\"} %" PRIu64 "\n", l,
                s->keys[i].budget_waits);
    }
    budget_family(o, "agentos_budget_leases", "gauge",
                  "Leases every run holds on the key, as last read from Redis.");
    for (uint32_t i = 0; i < s->key_count; i++) {
        if (!s->keys[i].budget.valid)
            continue;
        metrics_escape_label(s->keys[i].id, l, sizeof(l));
        fprintf(o, "agentos_budget_leases{key=\"%s\"} %u\n", l, s->keys[i].budget.leases);
    }
}
