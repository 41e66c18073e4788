/*
 * metrics_table.c - the snapshot as text tables for an 80-column terminal:
 * a run summary, then items, keys, endpoints, nodes and workers.
 *
 * Columns have fixed widths that add up to at most 80; a wider terminal gives
 * its extra columns to the ID columns (and, from 92 columns, shows the keys'
 * tokens in and out; they are always in --json and --prometheus). A value too wide for its column
 * is cut with an ellipsis, never wrapped, so a row is always one line and --watch can redraw in
 * place. Bytes from the segment that are control or non-ASCII characters are shown as '?': an item
 * ID holding an escape sequence must not drive the terminal.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "tools/shmstat/metrics.h"
#include "shm/prog.h"

#define METRICS_MIN_WIDTH 80
#define METRICS_LINE_MAX 1024

static uint64_t table_hist_count(const uint64_t *h)
{
    uint64_t n = 0;

    for (int i = 0; i < SHM_HIST_BUCKETS; i++)
        n += h[i];
    return n;
}

/* Item index i is busy with an item now. */
static int table_active(const struct snap_item *it)
{
    return it->readable && (it->p.state == PROG_RUNNING || it->p.state == PROG_WAITING_KEY);
}

static const char *table_item_id(const struct snap *s, int32_t index)
{
    if (index < 0 || (uint32_t)index >= s->item_count || !s->items[index].readable)
        return NULL;
    return s->items[index].p.id;
}

/* ---- text table ------------------------------------------------------ */

/* One output line, built cell by cell, trailing blanks dropped on emit. */
struct mline {
    char buf[METRICS_LINE_MAX];
    int len;
};

/* Append s cut to w columns ("…" when cut), padded; right-aligned if right. */
static void mcell(struct mline *l, const char *s, int w, int right)
{
    int n = (int)strlen(s), cut = n > w, shown = cut ? w - 1 : n, pad = w - (cut ? w : n);

    if (l->len + w + 4 >= METRICS_LINE_MAX)
        return;
    if (l->len > 0)
        l->buf[l->len++] = ' ';
    if (right)
        for (int i = 0; i < pad; i++)
            l->buf[l->len++] = ' ';
    for (int i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        l->buf[l->len++] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
    }
    if (cut) {
        memcpy(l->buf + l->len, "\xe2\x80\xa6", 3); /* U+2026, one column */
        l->len += 3;
    }
    if (!right)
        for (int i = 0; i < pad; i++)
            l->buf[l->len++] = ' ';
}

static void mcellu(struct mline *l, uint64_t v, int w)
{
    char b[24];

    snprintf(b, sizeof(b), "%" PRIu64, v);
    mcell(l, b, w, 1);
}

static void memit(struct mline *l, FILE *out)
{
    while (l->len > 0 && l->buf[l->len - 1] == ' ')
        l->len--;
    fwrite(l->buf, 1, (size_t)l->len, out);
    fputc('\n', out);
    l->len = 0;
}

/* Print words separated by ", ", wrapped at width. */
static void mwrap(FILE *out, const char *lead, char words[][40], int nwords, int width)
{
    int col = fprintf(out, "%s", lead);

    for (int i = 0; i < nwords; i++) {
        int n = (int)strlen(words[i]) + (i ? 2 : 0);
        if (col + n > width) {
            fputs(i ? ",\n  " : "\n  ", out);
            col = 2;
            n -= i ? 2 : 0;
        } else if (i) {
            fputs(", ", out);
        }
        fputs(words[i], out);
        col += n;
    }
    fputc('\n', out);
}

/* A count in at most 5 characters: 999, 9999, 12.3k, 123k, 1.2M. */
static void table_short(uint64_t n, char *b, size_t len)
{
    if (n < 10000)
        snprintf(b, len, "%" PRIu64, n);
    else if (n < 1000000)
        snprintf(b, len, n < 100000 ? "%.1fk" : "%.0fk", (double)n / 1e3);
    else
        snprintf(b, len, n < 100000000 ? "%.1fM" : "%.0fM", (double)n / 1e6);
}

/* "in/out" tokens, or "-" when none were reported. */
static void table_in_out(uint64_t in, uint64_t out, char *b, size_t len)
{
    char i[16], o[16];
    if (!in && !out) {
        snprintf(b, len, "-");
        return;
    }
    table_short(in, i, sizeof(i));
    table_short(out, o, sizeof(o));
    snprintf(b, len, "%s/%s", i, o);
}

static void table_run(const struct snap *s, int width, FILE *out)
{
    char started[32], el[16], words[SNAP_STATE_COUNT][40], lead[64];
    double elapsed = (double)(s->taken_real_ns - s->started_realtime_ns) / 1e9;
    int n = 0;

    metrics_utc(s->started_realtime_ns, 1, started, sizeof(started));
    metrics_duration(elapsed, el, sizeof(el));
    fprintf(out, "run %.40s  %.16s  coordinator %d  %s%s\n", s->run_id, s->workflow,
            (int)s->creator_pid, snap_run_state_name(s->run_state),
            s->stale ? "  STALE (coordinator gone)" : "");
    uint64_t in = 0, outt = 0;
    for (uint32_t i = 0; i < s->key_count; i++) {
        in += s->keys[i].input_tokens;
        outt += s->keys[i].output_tokens;
    }
    char tok[32];
    table_in_out(in, outt, tok, sizeof(tok));
    fprintf(out, "started %s  elapsed %s  requests %" PRIu64 "  429s %" PRIu64 "\n", started, el,
            s->requests_total, s->http_429_total);
    fprintf(out, "parallelism %u/%u  in flight %u  waiting for a key %u  tokens in/out %s\n",
            s->parallelism, s->parallel_max, s->in_flight, s->waiting_for_key, tok);
    for (unsigned i = 0; i < SNAP_STATE_COUNT; i++)
        if (s->by_state[i])
            snprintf(words[n++], sizeof(words[0]), "%u %s", s->by_state[i], snap_state_name(i));
    snprintf(lead, sizeof(lead), "items %u: ", s->item_count);
    mwrap(out, lead, words, n, width);
}

static void table_item_row(const struct snap *s, const struct snap_item *it, int idw, FILE *out)
{
    struct mline l = {.len = 0};
    char b[24];

    mcell(&l, it->readable ? it->p.id : "?", idw, 0);
    mcell(&l, it->readable ? prog_state_name(it->p.state) : "unreadable", 14, 0);
    mcell(&l, it->readable && it->p.node[0] ? it->p.node : "-", 12, 0);
    if (it->p.worker_pid > 0 && table_active(it))
        snprintf(b, sizeof(b), "%d", (int)it->p.worker_pid);
    else
        snprintf(b, sizeof(b), "-");
    mcell(&l, b, 7, 1);
    mcellu(&l, it->p.attempts, 3);
    mcellu(&l, it->p.rounds, 3);
    mcellu(&l, it->p.requests, 4);
    mcellu(&l, it->p.http_429, 4);
    metrics_duration(snap_item_elapsed_s(s, it), b, sizeof(b));
    mcell(&l, it->p.started_ns > 0 ? b : "-", 8, 1);
    memit(&l, out);
}

static void table_items(const struct snap *s, int extra, int max_rows, FILE *out)
{
    struct mline l = {.len = 0};
    int idw = 16 + extra, shown = 0;

    mcell(&l, "ITEM", idw, 0);
    mcell(&l, "STATE", 14, 0);
    mcell(&l, "NODE", 12, 0);
    mcell(&l, "WORKER", 7, 1);
    mcell(&l, "ATT", 3, 1);
    mcell(&l, "RND", 3, 1);
    mcell(&l, "REQ", 4, 1);
    mcell(&l, "429", 4, 1);
    mcell(&l, "ELAPSED", 8, 1);
    memit(&l, out);
    /* With a row budget (--watch) the items in flight come first. */
    for (int pass = max_rows ? 0 : 1; pass < 2; pass++)
        for (uint32_t i = 0; i < s->item_count; i++) {
            const struct snap_item *it = &s->items[i];
            if (max_rows && pass == 1 && table_active(it))
                continue;
            if (pass == 0 && !table_active(it))
                continue;
            if (max_rows && shown >= max_rows) {
                fprintf(out, "… %u more items\n", s->item_count - (uint32_t)shown);
                return;
            }
            table_item_row(s, it, idw, out);
            shown++;
        }
}

/* Terminals this much wider than 80 columns get the keys' tokens as a column. */
#define TABLE_TOKENS_W 12

static void table_key_row(const struct snap *s, const struct snap_key *k, int idw, int tokens,
                          FILE *out)
{
    static const char *const st[] = {"avail", "reserved", "limited", "disabled"};
    struct mline l = {.len = 0};
    char b[64], t[16];
    int n = 0;

    mcell(&l, k->id, idw, 0);
    mcell(&l, k->provider, 6, 0);
    mcell(&l, k->state < 4 ? st[k->state] : "unknown", 8, 0);
    b[0] = '\0';
    for (int i = 0; i < SHM_KEY_HOLDERS_MAX; i++)
        if (k->holders[i] > 0)
            n += snprintf(b + n, sizeof(b) - (size_t)n, "%s%d", n ? "," : "", (int)k->holders[i]);
    mcell(&l, n ? b : "-", 8, 0);
    if (k->state == CRED_RATE_LIMITED && k->rate_limited_until_ns > 0) {
        metrics_duration((double)(k->rate_limited_until_ns - s->taken_mono_ns) / 1e9, t, sizeof(t));
        n = snprintf(b, sizeof(b), "in %s ", t);
        metrics_utc(k->rate_limited_until_realtime_ns, 0, b + n, sizeof(b) - (size_t)n);
    } else {
        snprintf(b, sizeof(b), "-");
    }
    mcell(&l, b, 17, 0);
    mcellu(&l, k->requests, 5);
    mcellu(&l, k->http_429, 4);
    mcellu(&l, k->errors, 3);
    n = (int)table_hist_count(k->latency_hist);
    if (n > 0) {
        double ms = (double)k->latency_ms_sum / n;
        if (ms < 1000)
            snprintf(b, sizeof(b), "%.0fms", ms);
        else
            snprintf(b, sizeof(b), "%.1fs", ms / 1000);
    } else {
        snprintf(b, sizeof(b), "-");
    }
    mcell(&l, b, 5, 1);
    if (k->rpm || k->learned_rpm)
        snprintf(b, sizeof(b), "%.1f", k->tokens);
    else
        snprintf(b, sizeof(b), "-");
    mcell(&l, b, 4, 1);
    if (tokens) {
        table_in_out(k->input_tokens, k->output_tokens, b, sizeof(b));
        mcell(&l, b, TABLE_TOKENS_W - 1, 1);
    }
    memit(&l, out);
}

static void table_keys(const struct snap *s, int extra, FILE *out)
{
    struct mline l = {.len = 0};
    int tokens = extra >= TABLE_TOKENS_W;
    int idw = 10 + extra - (tokens ? TABLE_TOKENS_W : 0);

    mcell(&l, "KEY", idw, 0);
    mcell(&l, "PROV", 6, 0);
    mcell(&l, "STATE", 8, 0);
    mcell(&l, "HOLDERS", 8, 0);
    mcell(&l, "LIMITED UNTIL UTC", 17, 0);
    mcell(&l, "REQ", 5, 1);
    mcell(&l, "429", 4, 1);
    mcell(&l, "ERR", 3, 1);
    mcell(&l, "LAT", 5, 1);
    mcell(&l, "TOK", 4, 1);
    if (tokens)
        mcell(&l, "TOK IN/OUT", TABLE_TOKENS_W - 1, 1);
    memit(&l, out);
    for (uint32_t i = 0; i < s->key_count; i++)
        table_key_row(s, &s->keys[i], idw, tokens, out);
}

static void table_endpoints(const struct snap *s, int extra, FILE *out)
{
    struct mline l = {.len = 0};
    char url[SHM_ENDPOINT_MAX];

    mcell(&l, "ENDPOINT", 44 + extra, 0);
    mcell(&l, "BREAKER", 9, 0);
    mcell(&l, "TRIPS", 6, 1);
    mcell(&l, "REQ", 8, 1);
    mcell(&l, "FAIL", 6, 1);
    memit(&l, out);
    for (uint32_t i = 0; i < s->endpoint_count; i++) {
        const struct snap_endpoint *e = &s->endpoints[i];
        metrics_safe_url(e->url, url, sizeof(url));
        mcell(&l, url, 44 + extra, 0);
        mcell(&l, metrics_breaker_name(e->state), 9, 0);
        mcellu(&l, e->trips, 6);
        mcellu(&l, e->requests, 8);
        mcellu(&l, e->failures, 6);
        memit(&l, out);
    }
}

static void table_nodes(const struct snap *s, FILE *out)
{
    struct mline l = {.len = 0};
    char b[16];

    mcell(&l, "NODE", 16, 0);
    mcell(&l, "RUNS", 8, 1);
    mcell(&l, "FAILED", 8, 1);
    mcell(&l, "MEAN", 8, 1);
    memit(&l, out);
    for (uint32_t i = 0; i < s->node_count; i++) {
        const struct snap_node *n = &s->nodes[i];
        mcell(&l, n->name, 16, 0);
        mcellu(&l, n->runs, 8);
        mcellu(&l, n->failures, 8);
        metrics_duration(n->runs ? (double)n->duration_ms_sum / 1000.0 / (double)n->runs : 0, b,
                         sizeof(b));
        mcell(&l, n->runs ? b : "-", 8, 1);
        memit(&l, out);
    }
}

static void table_rss(uint64_t kib, char *b, size_t n)
{
    if (kib == 0)
        snprintf(b, n, "-");
    else if (kib < 1024)
        snprintf(b, n, "%" PRIu64 "K", kib);
    else if (kib < 1024 * 1024)
        snprintf(b, n, "%.1fM", (double)kib / 1024);
    else
        snprintf(b, n, "%.1fG", (double)kib / 1024 / 1024);
}

static void table_workers(const struct snap *s, int extra, FILE *out)
{
    struct mline l = {.len = 0};
    char b[24];

    mcell(&l, "WORKER", 6, 1);
    mcell(&l, "PID", 7, 1);
    mcell(&l, "ITEM", 24 + extra, 0);
    mcell(&l, "RSS", 8, 1);
    mcell(&l, "ITEMS DONE", 10, 1);
    memit(&l, out);
    for (uint32_t i = 0; i < s->worker_count; i++) {
        const struct snap_worker *w = &s->workers[i];
        const char *id = table_item_id(s, w->item_index);
        mcellu(&l, i, 6);
        snprintf(b, sizeof(b), "%d", (int)w->pid);
        mcell(&l, w->pid > 0 ? b : "-", 7, 1);
        mcell(&l, id ? id : "idle", 24 + extra, 0);
        table_rss(w->rss_kib, b, sizeof(b));
        mcell(&l, b, 8, 1);
        mcellu(&l, w->items_processed, 10);
        memit(&l, out);
    }
}

int metrics_table(const struct snap *s, const struct metrics_table_opts *opts, FILE *out)
{
    int width = opts && opts->width > METRICS_MIN_WIDTH ? opts->width : METRICS_MIN_WIDTH;
    int extra = width - METRICS_MIN_WIDTH;

    /* Wide terminals give their extra columns to the ID columns only. */
    if (extra > 200)
        extra = 200;
    table_run(s, width, out);
    fputc('\n', out);
    table_items(s, extra, opts ? opts->max_item_rows : 0, out);
    if (s->key_count) {
        fputc('\n', out);
        table_keys(s, extra, out);
        metrics_budget_table(s, out);
    }
    if (s->endpoint_count) {
        fputc('\n', out);
        table_endpoints(s, extra, out);
    }
    if (s->node_count) {
        fputc('\n', out);
        table_nodes(s, out);
    }
    metrics_limits_table(s, width, out); /* with its blank line, when it has any */
    if (s->worker_count) {
        fputc('\n', out);
        table_workers(s, extra, out);
    }
    return ferror(out) ? -EIO : 0;
}

/* Run list: RUN 24+, WORKFLOW 8, PID 7, STARTED 19, STATE 8, PROGRESS 9 = 80. */
void metrics_list_header(int width, FILE *out)
{
    struct mline l = {.len = 0};
    int extra = width > METRICS_MIN_WIDTH ? width - METRICS_MIN_WIDTH : 0;

    mcell(&l, "RUN", 24 + (extra > 40 ? 40 : extra), 0);
    mcell(&l, "WORKFLOW", 8, 0);
    mcell(&l, "PID", 7, 1);
    mcell(&l, "STARTED (UTC)", 19, 0);
    mcell(&l, "STATE", 8, 0);
    mcell(&l, "PROGRESS", 9, 1);
    memit(&l, out);
}

void metrics_list_row(const struct snap *s, const char *name, int32_t creator_pid, int stale,
                      const char *why, int width, FILE *out)
{
    struct mline l = {.len = 0};
    int extra = width > METRICS_MIN_WIDTH ? width - METRICS_MIN_WIDTH : 0;
    char b[40];
    uint32_t done = 0;

    if (!strncmp(name, SHM_NAME_PREFIX, strlen(SHM_NAME_PREFIX)))
        name += strlen(SHM_NAME_PREFIX);
    mcell(&l, s ? s->run_id : name, 24 + (extra > 40 ? 40 : extra), 0);
    mcell(&l, s ? s->workflow : "-", 8, 0);
    snprintf(b, sizeof(b), "%d", (int)creator_pid);
    mcell(&l, creator_pid > 0 ? b : "-", 7, 1);
    if (s) {
        metrics_utc(s->started_realtime_ns, 1, b, sizeof(b));
        b[10] = ' ';
        b[19] = '\0'; /* "2026-11-23 04:52:18" */
    }
    mcell(&l, s ? b : "-", 19, 0);
    mcell(&l,
          stale                                   ? "stale"
          : why                                   ? why
          : s->run_state == SHM_RUN_SHUTTING_DOWN ? "stopping"
                                                  : snap_run_state_name(s->run_state),
          8, 0);
    if (s) {
        for (uint32_t st = 0; st < SNAP_STATE_UNREADABLE; st++)
            if (snap_state_final(st))
                done += s->by_state[st];
        snprintf(b, sizeof(b), "%u/%u", done, s->item_count);
    }
    mcell(&l, s ? b : "-", 9, 1);
    memit(&l, out);
}
