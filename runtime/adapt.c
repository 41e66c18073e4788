/*
 * adapt.c - the adaptive width per provider endpoint (see adapt.h).
 *
 * Why cumulative counts and differences: the window a worker adds to and the
 * window the coordinator closes would otherwise be one shared object that the
 * coordinator zeroes while workers add to it, which needs either a lock the
 * coordinator would share with workers (never: coord.c) or atomic
 * read-modify-writes from every worker on shared lines. A counter with one
 * writer that only grows needs neither; 32-bit wrap-around is harmless since
 * the difference is taken modulo 2^32.
 */
#include "runtime/adapt.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "shm/gate.h"
#include "shm/util.h"

_Static_assert(SHM_LIM_BUCKETS == LIMITER_BUCKETS, "segment windows carry the limiter's buckets");

int adapt_init(struct adapt *a, struct shm_segment *seg, const struct limiter_policy *p,
               uint32_t width, int on, int64_t now_ns)
{
    memset(a, 0, sizeof(*a));
    a->seg = seg;
    a->on = on && seg->hdr->endpoint_count > 0;
    if (!a->on)
        return 0;
    a->nend = seg->hdr->endpoint_count;
    a->nworkers = seg->hdr->worker_count;
    a->lim = calloc(a->nend, sizeof(*a->lim));
    a->seen = calloc((size_t)a->nend * (a->nworkers ? a->nworkers : 1), sizeof(*a->seen));
    a->windows = calloc(a->nend, sizeof(*a->windows));
    a->window_start_ns = calloc(a->nend, sizeof(*a->window_start_ns));
    if (!a->lim || !a->seen || !a->windows || !a->window_start_ns) {
        adapt_free(a);
        return -ENOMEM;
    }
    for (uint32_t e = 0; e < a->nend; e++) {
        /* Half the width first: a burst of the full width at a server of unknown
         * capacity is what the limit is there to prevent; two healthy windows
         * (+33 % each) reach the width. */
        if (limiter_init(&a->lim[e], p, (width + 1) / 2, width) < 0) {
            adapt_free(a);
            return -EINVAL;
        }
        struct gate_sh *g = gate_endpoint(seg, e);
        atomic_store(&g->limit, a->lim[e].limit);
        struct gate_status st = {.from = a->lim[e].limit, .to = a->lim[e].limit};
        gate_status_write(g, &st);
    }
    a->window_ns = (int64_t)a->lim[0].policy.window_s * UTIL_NS_PER_SEC;
    for (uint32_t e = 0; e < a->nend; e++)
        a->window_start_ns[e] = now_ns;
    return 0;
}

void adapt_free(struct adapt *a)
{
    free(a->lim);
    free(a->seen);
    free(a->windows);
    free(a->window_start_ns);
    a->window_start_ns = NULL;
    a->lim = NULL;
    a->seen = NULL;
    a->windows = NULL;
    a->on = 0;
}

void adapt_sample(const struct shm_segment *seg, uint32_t worker, uint32_t e, uint32_t latency_ms,
                  int is_error)
{
    struct lwin_sh *w = shm_lwin_slot(seg, worker, e);
    if (!w)
        return;
    /* One writer per slot: a load and a store, no read-modify-write. */
    _Atomic uint32_t *c = is_error ? &w->errors : &w->hist[limiter_bucket(latency_ms)];
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&w->finished,
                          atomic_load_explicit(&w->finished, memory_order_relaxed) + 1,
                          memory_order_release);
}

/*
 * Add worker slot w's counts of endpoint e since the last window into out;
 * with commit, they become the counts seen (the window is closed).
 */
static void adapt_take(struct adapt *a, uint32_t w, uint32_t e, struct limiter_window *out,
                       int commit)
{
    struct lwin_sh *s = shm_lwin_slot(a->seg, w, e);
    struct limiter_window *seen = &a->seen[(size_t)w * a->nend + e];
    struct limiter_window now;
    if (!s)
        return;
    /* finished first (acquire): the counts it covers were stored before it */
    now.finished = atomic_load_explicit(&s->finished, memory_order_acquire);
    now.errors = atomic_load_explicit(&s->errors, memory_order_relaxed);
    for (uint32_t b = 0; b < LIMITER_BUCKETS; b++)
        now.hist[b] = atomic_load_explicit(&s->hist[b], memory_order_relaxed);
    out->finished += now.finished - seen->finished;
    out->errors += now.errors - seen->errors;
    for (uint32_t b = 0; b < LIMITER_BUCKETS; b++)
        out->hist[b] += now.hist[b] - seen->hist[b];
    if (commit)
        *seen = now;
}

/* Endpoint e's open window so far; with commit, closed. */
static void adapt_window(struct adapt *a, uint32_t e, struct limiter_window *w, int commit)
{
    memset(w, 0, sizeof(*w));
    for (uint32_t k = 0; k < a->nworkers; k++)
        adapt_take(a, k, e, w, commit);
}

/*
 * Whether endpoint e's window ends now: after window_s, or earlier as soon as
 * its errors alone decide it (at least min_samples requests, more than
 * error_share_high of them errors). Trouble is acted on at once; growth
 * still takes a whole window of health, as AIMD limiters do.
 */
static int adapt_due(const struct adapt *a, uint32_t e, const struct limiter_window *w,
                     int64_t now_ns)
{
    const struct limiter_policy *p = &a->lim[e].policy;
    if (now_ns - a->window_start_ns[e] >= a->window_ns)
        return 1;
    return w->finished >= p->min_samples &&
           (double)w->errors > p->error_share_high * (double)w->finished;
}

/* Close endpoint e's window; 1 and *c filled when its limit changed. */
static int adapt_close(struct adapt *a, uint32_t e, int64_t took_ns, struct adapt_change *c)
{
    struct limiter_window w;
    struct gate_sh *g = gate_endpoint(a->seg, e);
    struct gate_status st;
    adapt_window(a, e, &w, 1);
    w.duration_ms = (uint64_t)(took_ns / UTIL_NS_PER_MS);
    memset(c, 0, sizeof(*c));
    /*
     * An endpoint's first window starts with the run: workers and items ramp
     * up, so its goodput and latency measure the ramp, not the server, and a
     * later window would look like growth that paid. It counts only when its
     * errors decide it.
     */
    const struct limiter_policy *p = &a->lim[e].policy;
    int ramp =
        a->windows[e] == 0 && !((double)w.errors > p->error_share_high * (double)w.finished &&
                                w.finished >= p->min_samples);
    int changed = !ramp && limiter_decide(&a->lim[e], &w, &c->ch);
    if (gate_status_read(g, &st) < 0)
        memset(&st, 0, sizeof(st));
    a->windows[e]++;
    st.windows = a->windows[e];
    st.win_finished = w.finished;
    st.win_errors = w.errors;
    st.win_median_ms = limiter_window_median_ms(&w);
    st.win_goodput = w.duration_ms ? (w.finished - w.errors) * 1000.0 / (double)w.duration_ms : 0;
    if (changed) {
        atomic_store(&g->limit, a->lim[e].limit);
        atomic_fetch_add(&g->changes, 1);
        st.from = c->ch.from;
        st.to = c->ch.to;
        st.changed_realtime_ns = util_now_real_ns();
        util_strlcpy(st.reason, c->ch.reason, sizeof(st.reason));
        c->endpoint = e;
        c->url = g->name;
        c->finished = w.finished;
        c->errors = w.errors;
        c->median_ms = st.win_median_ms;
    }
    gate_status_write(g, &st);
    return changed;
}

int adapt_tick(struct adapt *a, int64_t now_ns,
               void (*report)(void *arg, const struct adapt_change *c), void *arg)
{
    int n = 0;
    if (!a->on)
        return 0;
    for (uint32_t e = 0; e < a->nend; e++) {
        struct adapt_change c;
        struct limiter_window w;
        adapt_window(a, e, &w, 0);
        if (!adapt_due(a, e, &w, now_ns))
            continue;
        int64_t took = now_ns - a->window_start_ns[e];
        a->window_start_ns[e] = now_ns;
        if (adapt_close(a, e, took, &c)) {
            n++;
            if (report)
                report(arg, &c);
        }
    }
    return n;
}

void adapt_endpoint_name(const char *url, char *out, size_t outlen)
{
    const char *s = strstr(url, "://");
    s = s ? s + 3 : url;
    size_t n = strcspn(s, "/");
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}
