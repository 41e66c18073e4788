/*
 * summary.c - the run summary on the console and in summary.json (see summary.h).
 */
#include "runtime/summary.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "runtime/util.h"
#include "runtime/ws.h"
#include "shm/cred.h"
#include "shm/prog.h"

const char *summary_outcome(uint32_t state)
{
    switch (state) {
    case PROG_APPROVED:
        return "approved";
    case PROG_NEEDS_REVISION:
        return "needs-revision";
    case PROG_FAILED:
        return "failed";
    case PROG_PASSED:
        return "passed";
    case PROG_SKIPPED:
        return "skipped";
    case PROG_INTERRUPTED:
    case PROG_RUNNING:
    case PROG_WAITING_KEY:
        return "interrupted";
    default:
        return "not-started";
    }
}

static void read_slot(const struct run_ctx *rc, uint32_t i, struct prog_item *p)
{
    if (prog_read(shm_prog_slot(&rc->seg, i), p) != 0)
        memset(p, 0, sizeof(*p));
}

void summary_count(const struct run_ctx *rc, struct summary_counts *out)
{
    memset(out, 0, sizeof(*out));
    for (uint32_t i = 0; i < rc->seg.hdr->item_count; i++) {
        struct prog_item p;
        read_slot(rc, i, &p);
        switch (p.state) {
        case PROG_APPROVED:
            out->approved++;
            break;
        case PROG_NEEDS_REVISION:
            out->needs_revision++;
            break;
        case PROG_FAILED:
            out->failed++;
            break;
        case PROG_PASSED:
            out->passed++;
            break;
        case PROG_SKIPPED:
            out->skipped++;
            break;
        case PROG_PENDING:
            out->not_started++;
            break;
        default:
            out->interrupted++;
        }
    }
}

static double item_seconds(const struct prog_item *p)
{
    if (!p->started_ns)
        return 0.0;
    int64_t end = p->finished_ns ? p->finished_ns : p->updated_ns;
    return (double)(end - p->started_ns) / 1e9;
}

void summary_print(const struct run_ctx *rc, struct coord_console *con, int64_t elapsed_ns)
{
    struct summary_counts n;
    summary_count(rc, &n);
    char extra[128] = "";
    if (n.interrupted || n.not_started)
        snprintf(extra, sizeof(extra), ", %u interrupted, %u not started", n.interrupted,
                 n.not_started);
    uint32_t count = rc->seg.hdr->item_count;
    if (rc->ws)
        ccon_coord(con, "Summary: %u passed, %u failed, %u skipped%s (%u step%s, %.1fs)", n.passed,
                   n.failed, n.skipped, extra, count, count == 1 ? "" : "s",
                   (double)elapsed_ns / 1e9);
    else
        ccon_coord(con, "Summary: %u approved, %u need revision, %u failed%s (%u items, %.1fs)",
                   n.approved, n.needs_revision, n.failed, extra, count, (double)elapsed_ns / 1e9);
    for (uint32_t i = 0; i < count; i++) {
        struct prog_item p;
        read_slot(rc, i, &p);
        int why = p.state == PROG_FAILED || p.state == PROG_SKIPPED;
        const char *label = p.state == PROG_FAILED ? "  FAILED: " : "  ";
        if (rc->ws)
            ccon_coord(con, "  %-20s %-15s %6.1fs%s%s", p.id, summary_outcome(p.state),
                       item_seconds(&p), why ? label : "", why ? p.reason : "");
        else
            ccon_coord(con, "  %-20s %-15s rounds %u  %6.1fs%s%s", p.id, summary_outcome(p.state),
                       p.rounds, item_seconds(&p), why ? label : "", why ? p.reason : "");
    }
}

static cJSON *item_json(const struct prog_item *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", p->id);
    cJSON_AddStringToObject(o, "outcome", summary_outcome(p->state));
    cJSON_AddNumberToObject(o, "rounds", p->rounds);
    cJSON_AddNumberToObject(o, "duration_s", (double)(long long)(item_seconds(p) * 1000) / 1000);
    cJSON_AddNumberToObject(o, "attempts", p->attempts);
    cJSON_AddNumberToObject(o, "requests", p->requests);
    cJSON_AddNumberToObject(o, "http_429", p->http_429);
    if (p->reason[0])
        cJSON_AddStringToObject(o, "reason", p->reason);
    return o;
}

unsigned summary_keys_reserved(const struct run_ctx *rc)
{
    unsigned n = 0;
    for (uint32_t i = 0; i < rc->seg.hdr->key_count; i++) {
        struct cred_slot_sh *s = shm_cred_slot(&rc->seg, i);
        if (cred_lock(s) < 0)
            continue;
        n += s->in_use;
        cred_unlock(s);
    }
    return n;
}

int summary_write_json(const struct run_ctx *rc, int64_t elapsed_ns, int exit_status)
{
    struct summary_counts n;
    summary_count(rc, &n);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "run", rc->run_id);
    cJSON_AddStringToObject(root, "workflow", rc->wf->name);
    cJSON_AddNumberToObject(root, "parallel", rc->parallel);
    if (rc->ws)
        cJSON_AddStringToObject(root, "workstream", rc->ws->id);
    cJSON_AddNumberToObject(root, "elapsed_s", (double)(elapsed_ns / 1000000) / 1000);
    cJSON_AddNumberToObject(root, "exit_status", exit_status);
    cJSON *counts = cJSON_AddObjectToObject(root, "counts");
    cJSON_AddNumberToObject(counts, "approved", n.approved);
    cJSON_AddNumberToObject(counts, "needs_revision", n.needs_revision);
    cJSON_AddNumberToObject(counts, "failed", n.failed);
    cJSON_AddNumberToObject(counts, "interrupted", n.interrupted);
    cJSON_AddNumberToObject(counts, "not_started", n.not_started);
    if (rc->ws) {
        cJSON_AddNumberToObject(counts, "passed", n.passed);
        cJSON_AddNumberToObject(counts, "skipped", n.skipped);
    }
    cJSON_AddNumberToObject(root, "requests", (double)atomic_load(&rc->seg.hdr->requests_total));
    cJSON_AddNumberToObject(root, "http_429", (double)atomic_load(&rc->seg.hdr->http_429_total));
    cJSON_AddNumberToObject(root, "keys_left_reserved", summary_keys_reserved(rc));
    cJSON *items = cJSON_AddArrayToObject(root, "items");
    for (uint32_t i = 0; i < rc->seg.hdr->item_count; i++) {
        struct prog_item p;
        read_slot(rc, i, &p);
        cJSON_AddItemToArray(items, item_json(&p));
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return -ENOMEM;
    char path[4096];
    snprintf(path, sizeof(path), "%s/summary.json", rc->run_dir);
    size_t len = strlen(text);
    text[len] = '\0';
    char *withnl = util_asprintf("%s\n", text);
    free(text);
    if (!withnl)
        return -ENOMEM;
    int r = util_write_file_atomic(path, withnl, strlen(withnl));
    free(withnl);
    return r;
}
