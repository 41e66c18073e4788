/*
 * limiter.c - the adaptive per-endpoint limit (see limiter.h for the policy).
 *
 * Why the gradient is built the way it is. A server that queues keeps its
 * throughput flat at its capacity C while its latency grows with the requests
 * in flight (Little's law: latency = in_flight / C). An error/latency rule alone
 * would climb to the ceiling as long as the latency stays under 5 s, which an
 * LLM endpoint that answers in 1 s does until ~5x past its capacity. So:
 *
 *   - the baseline is the lowest median of the last history_windows windows,
 *     not an ever-lasting minimum (the endpoint may really get slower: a new
 *     model, longer prompts) and not a slowly rising average (a rising average
 *     follows the queue up and lets the limit creep to the ceiling). A sliding
 *     minimum forgets a stale baseline after history_windows windows (5 min at
 *     10 s), and every shrink to the knee drains the queue, so the window that
 *     follows measures the uncongested latency afresh, the way Envoy's filter
 *     re-measures its minRTT by dropping to a small concurrency.
 *   - queueing needs both signals: latency 1.5x the baseline (Gradient2's
 *     default tolerance; LLM latencies vary with the length of each answer, so
 *     a tighter bound would fire on noise) and goodput less than 10 % above
 *     the best recent window. Latency that rises while goodput rises is a
 *     heavier load being served, not a queue.
 *   - the first queueing window only stops growth (one window may be a burst
 *     of long answers); gradient_persist windows in a row shrink the limit to
 *     the knee, the smallest recent limit that already reached the best goodput
 *     within throughput_gain. Going down to the knee costs no throughput by
 *     definition and empties the queue in one step, where -25 % steps would
 *     sit above the knee window after window and keep the latency up.
 *   - the width that queued becomes a ceiling for history_windows windows, as
 *     a probe that failed does: without it the limit would climb back to it
 *     the next window and spend two of every three windows queueing.
 *   - a knee is only as good as the widths tried below it. A limit that starts
 *     above the server's capacity (half the run's width, say 5, against a
 *     server with 2 slots) finds every width it tries equally good, so it
 *     descends: down a step a window while the goodput holds, until the first
 *     width that loses throughput. Against llama-server this is the difference
 *     between holding 5-6 requests in flight (0.67 of the best fixed width's
 *     throughput: a one-thread server batching more slots serves each slower)
 *     and holding 3.
 *
 * Goodput counts successes only: a server answering 429 fast would otherwise
 * look like throughput. The record of a window is kept after the decision, so
 * a window is compared with the ones before it, never with itself.
 */
#include "runtime/limiter.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct limiter_policy limiter_policy_default(void)
{
    return (struct limiter_policy){
        .window_s = 10,
        .min_samples = 3,
        .error_share_high = 0.20,
        .error_share_low = 0.05,
        .latency_high_s = 30.0,
        .latency_low_s = 5.0,
        .decrease = 0.25,
        .increase = 0.33,
        .gradient_tolerance = 1.5,
        .throughput_gain = 0.10,
        .gradient_persist = 2,
        .history_windows = 30,
    };
}

/* NaN fails every comparison, so "!(lo <= x && x <= hi)" rejects it too. */
static int limiter_out(double x, double lo, double hi)
{
    return !(x >= lo && x <= hi);
}

const char *limiter_policy_invalid(const struct limiter_policy *p)
{
    if (p->window_s < 1 || p->window_s > 3600)
        return "window_s";
    if (p->min_samples < 1 || p->min_samples > 100000)
        return "min_samples";
    if (limiter_out(p->error_share_high, 0.0, 1.0))
        return "error_share_high";
    if (limiter_out(p->error_share_low, 0.0, 1.0) || p->error_share_low >= p->error_share_high)
        return "error_share_low";
    if (limiter_out(p->latency_high_s, 0.001, 3600.0))
        return "latency_high_s";
    if (limiter_out(p->latency_low_s, 0.001, 3600.0) || p->latency_low_s >= p->latency_high_s)
        return "latency_low_s";
    if (limiter_out(p->decrease, 0.01, 0.99))
        return "decrease";
    if (limiter_out(p->increase, 0.01, 10.0))
        return "increase";
    if (limiter_out(p->gradient_tolerance, 1.01, 100.0))
        return "gradient_tolerance";
    if (limiter_out(p->throughput_gain, 0.0, 10.0))
        return "throughput_gain";
    if (p->gradient_persist < 1 || p->gradient_persist > 100)
        return "gradient_persist";
    if (p->history_windows < 2 || p->history_windows > LIMITER_HISTORY_MAX)
        return "history_windows";
    return NULL;
}

int limiter_init(struct limiter *l, const struct limiter_policy *p, uint32_t start, uint32_t max)
{
    struct limiter_policy d = limiter_policy_default();
    if (!p)
        p = &d;
    if (limiter_policy_invalid(p))
        return -EINVAL;
    memset(l, 0, sizeof(*l));
    l->policy = *p;
    l->max = max ? max : 1;
    l->limit = start < 1 ? 1 : start > l->max ? l->max : start;
    return 0;
}

int limiter_set_max(struct limiter *l, uint32_t max)
{
    uint32_t old = l->limit;
    l->max = max ? max : 1;
    if (l->limit > l->max)
        l->limit = l->max;
    return l->limit != old;
}

uint32_t limiter_bucket(uint32_t v)
{
    if (v < LIMITER_HIST_LINEAR)
        return v;
    uint32_t e = 31u - (uint32_t)__builtin_clz(v); /* floor(log2 v), >= 4 */
    if (e >= LIMITER_HIST_TOP_EXP)
        return LIMITER_BUCKETS - 1;
    uint32_t sub = (v >> (e - 3)) & (LIMITER_HIST_SUB - 1);
    return LIMITER_HIST_LINEAR + (e - 4) * LIMITER_HIST_SUB + sub;
}

uint32_t limiter_bucket_mid_ms(uint32_t b)
{
    if (b < LIMITER_HIST_LINEAR)
        return b;
    if (b >= LIMITER_BUCKETS)
        b = LIMITER_BUCKETS - 1;
    uint32_t e = 4 + (b - LIMITER_HIST_LINEAR) / LIMITER_HIST_SUB;
    uint32_t sub = (b - LIMITER_HIST_LINEAR) % LIMITER_HIST_SUB;
    return ((LIMITER_HIST_SUB + sub) << (e - 3)) + ((1u << (e - 3)) >> 1);
}

void limiter_window_add(struct limiter_window *w, uint32_t latency_ms, int is_error)
{
    w->finished++;
    if (is_error)
        w->errors++;
    else
        w->hist[limiter_bucket(latency_ms)]++;
}

void limiter_window_merge(struct limiter_window *dst, const struct limiter_window *src)
{
    dst->finished += src->finished;
    dst->errors += src->errors;
    for (size_t i = 0; i < LIMITER_BUCKETS; i++)
        dst->hist[i] += src->hist[i];
}

static uint64_t limiter_window_successes(const struct limiter_window *w)
{
    uint64_t n = 0;
    for (size_t i = 0; i < LIMITER_BUCKETS; i++)
        n += w->hist[i];
    return n;
}

uint32_t limiter_window_median_ms(const struct limiter_window *w)
{
    uint64_t n = limiter_window_successes(w), seen = 0;
    if (n == 0)
        return 0;
    for (uint32_t i = 0; i < LIMITER_BUCKETS; i++) {
        seen += w->hist[i];
        if (seen >= (n + 1) / 2) /* the lower median */
            return limiter_bucket_mid_ms(i);
    }
    return limiter_bucket_mid_ms(LIMITER_BUCKETS - 1);
}

/* limit - max(1, limit * share), at least 1 (and at least floor). */
static uint32_t limiter_shrunk(uint32_t limit, double share)
{
    uint32_t step = (uint32_t)((double)limit * share);
    if (step < 1)
        step = 1;
    return limit > step ? limit - step : 1;
}

static uint32_t limiter_grown(uint32_t limit, double share, uint32_t max)
{
    uint32_t step = (uint32_t)((double)limit * share);
    if (step < 1)
        step = 1;
    return limit >= max || max - limit < step ? max : limit + step;
}

/* What the recent windows say: the baseline latency, the best goodput, the knee. */
struct limiter_past {
    uint32_t base_ms;
    double best;
    uint32_t knee;
};

static int limiter_recall(const struct limiter *l, struct limiter_past *p)
{
    if (l->history_len == 0)
        return 0;
    p->base_ms = UINT32_MAX;
    p->best = 0;
    for (uint32_t i = 0; i < l->history_len; i++) {
        const struct limiter_record *r = &l->history[i];
        if (r->median_ms < p->base_ms)
            p->base_ms = r->median_ms;
        if (r->goodput > p->best)
            p->best = r->goodput;
    }
    p->knee = UINT32_MAX;
    for (uint32_t i = 0; i < l->history_len; i++) {
        const struct limiter_record *r = &l->history[i];
        if (r->goodput * (1.0 + l->policy.throughput_gain) >= p->best && r->limit < p->knee)
            p->knee = r->limit;
    }
    return 1;
}

static void limiter_remember(struct limiter *l, uint32_t median_ms, double goodput)
{
    uint32_t cap = l->policy.history_windows;
    if (l->history_next >= cap)
        l->history_next = 0;
    l->history[l->history_next++] =
        (struct limiter_record){.limit = l->limit, .median_ms = median_ms, .goodput = goodput};
    if (l->history_len < cap)
        l->history_len++;
}

/*
 * Past the knee: some recent window at a lower limit already had this
 * window's goodput (within throughput_gain). More width bought nothing, so
 * growing further would only lengthen a queue, or reach a width the server
 * turns away, whatever the latency says.
 */
static int limiter_plateau(const struct limiter *l, double goodput)
{
    for (uint32_t i = 0; i < l->history_len; i++) {
        const struct limiter_record *r = &l->history[i];
        if (r->limit < l->limit && goodput < (1.0 + l->policy.throughput_gain) * r->goodput)
            return 1;
    }
    return 0;
}

/* Whether a recent window ran at a limit below `limit`. */
static int limiter_tried_below(const struct limiter *l, uint32_t limit)
{
    for (uint32_t i = 0; i < l->history_len; i++)
        if (l->history[i].limit < limit)
            return 1;
    return 0;
}

/* Keep growth below `width` for history_windows windows (the lower of two ceilings). */
static void limiter_cap(struct limiter *l, uint32_t width)
{
    if (l->ceiling == 0 || width < l->ceiling)
        l->ceiling = width;
    l->ceiling_left = l->policy.history_windows;
}

static int limiter_change_to(struct limiter *l, uint32_t to, struct limiter_change *out,
                             const char *reason)
{
    if (to < 1)
        to = 1;
    if (to > l->max)
        to = l->max;
    if (to == l->limit)
        return 0;
    l->grew = to > l->limit;
    if (out) {
        out->from = l->limit;
        out->to = to;
        snprintf(out->reason, sizeof(out->reason), "%s", reason);
    }
    l->limit = to;
    return 1;
}

static unsigned limiter_pct(double share)
{
    return (unsigned)(share * 100.0 + 0.5);
}

int limiter_decide(struct limiter *l, const struct limiter_window *w, struct limiter_change *out)
{
    const struct limiter_policy *p = &l->policy;
    char why[LIMITER_REASON_MAX];
    if (w->finished < p->min_samples)
        return 0;
    double share = (double)w->errors / (double)w->finished;
    int probing = l->grew; /* this window is the first at a width just grown to */
    l->grew = 0;
    if (l->ceiling_left && --l->ceiling_left == 0)
        l->ceiling = 0;
    if (share > p->error_share_high) {
        l->queueing = 0;
        l->descending = 0;
        if (probing) /* the width just probed failed: do not come back to it soon */
            limiter_cap(l, l->limit);
        snprintf(why, sizeof(why), "error share %u %%", limiter_pct(share));
        return limiter_change_to(l, limiter_shrunk(l->limit, p->decrease), out, why);
    }
    uint64_t ok = limiter_window_successes(w);
    if (ok < p->min_samples)
        return 0;
    uint32_t median = limiter_window_median_ms(w);
    int has_rate = w->duration_ms > 0;
    double goodput = has_rate ? (double)ok * 1000.0 / (double)w->duration_ms : 0;

    struct limiter_past past = {0};
    int recalled = has_rate && limiter_recall(l, &past);
    int queueing = recalled && past.base_ms > 0 &&
                   (double)median > p->gradient_tolerance * past.base_ms &&
                   goodput < (1.0 + p->throughput_gain) * past.best;
    int plateau = recalled && !queueing && limiter_plateau(l, goodput);
    queueing |= plateau;
    if (has_rate)
        limiter_remember(l, median, goodput);
    l->queueing = queueing ? l->queueing + 1 : 0;

    if ((double)median > p->latency_high_s * 1000.0) {
        snprintf(why, sizeof(why), "median latency %.1f s", median / 1000.0);
        return limiter_change_to(l, limiter_shrunk(l->limit, p->decrease), out, why);
    }
    if (l->descending) {
        if (recalled && l->limit > 1 && goodput * (1.0 + p->throughput_gain) >= past.best) {
            snprintf(why, sizeof(why), "probing below: %u serves as much as the best", l->limit);
            return limiter_change_to(l, limiter_shrunk(l->limit, p->decrease), out, why);
        }
        l->descending = 0; /* this width loses throughput: growth goes back up a step */
        l->queueing = 0;
        queueing = 0;
    }
    if (queueing) {
        if (l->queueing < p->gradient_persist || past.knee >= l->limit)
            return 0; /* growth stops */
        l->queueing = 0;
        if (plateau)
            snprintf(why, sizeof(why), "without more throughput than at %u", past.knee);
        else
            snprintf(why, sizeof(why), "latency rising %.1fx without more throughput",
                     (double)median / past.base_ms);
        limiter_cap(l, l->limit);
        l->descending = !limiter_tried_below(l, past.knee);
        return limiter_change_to(l, past.knee, out, why);
    }
    if (share < p->error_share_low && (double)median < p->latency_low_s * 1000.0) {
        snprintf(why, sizeof(why), "error share %u %%, median latency %.1f s", limiter_pct(share),
                 median / 1000.0);
        uint32_t to = limiter_grown(l->limit, p->increase, l->max);
        if (l->ceiling && to >= l->ceiling)
            to = l->ceiling - 1;
        return to > l->limit && limiter_change_to(l, to, out, why);
    }
    return 0;
}
