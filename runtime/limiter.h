/*
 * limiter.h - the adaptive limit of requests in flight to one provider
 * endpoint (SPEC 12).
 *
 * A limiter is a small object fed one closed window at a time: how many
 * requests finished, how many of them failed (429, 5xx, timeout, connect
 * error), a histogram of the latencies of the ones that succeeded, and how
 * long the window lasted. It knows nothing of HTTP, the segment or the clock:
 * workers add into a struct limiter_window (in the segment, with atomic adds),
 * the coordinator closes the window every policy.window_s seconds, stamps its
 * duration and calls limiter_decide() once. Same windows in, same limits out.
 *
 * Every struct here is plain old data (fixed arrays, no pointers), so the
 * limiter and its open window can both live in the shared segment.
 *
 * Policy, in the order it is applied to a window (at most one change a window):
 *   1. fewer than min_samples finished requests: nothing is decided.
 *   2. error share above error_share_high: limit - decrease (at least -1).
 *   3. fewer than min_samples successes: nothing more is decided.
 *   4. median latency above latency_high_s: limit - decrease (at least -1).
 *   5. the gradient (Netflix Gradient2 / Envoy adaptive concurrency): the
 *      median against a baseline, the lowest median of the last
 *      history_windows windows, and the goodput (successes per second) against
 *      the best goodput of those windows. Median > gradient_tolerance x
 *      baseline while goodput < (1 + throughput_gain) x best: the server is
 *      queueing our requests. The first such window stops growth; after
 *      gradient_persist windows in a row the limit drops to the knee, the
 *      smallest recent limit whose goodput came within throughput_gain of the
 *      best (where throughput stopped growing).
 *      A plateau counts as queueing too: a recent window at a lower limit
 *      already had this window's goodput within throughput_gain (more width
 *      bought nothing, whatever the latency says: the server may have been
 *      queueing since before the first window, so no baseline shows it).
 *      The width that bought nothing becomes a ceiling (see 6). When no recent
 *      window ran below the knee, the knee may be above the server's capacity
 *      too (the limit started there): the limiter then descends, limit -
 *      decrease (at least -1) each window while the goodput stays within
 *      throughput_gain of the best, and stops at the first width that loses
 *      throughput, from which growth climbs back one step to the real knee.
 *   6. error share below error_share_low and median below latency_low_s:
 *      limit + increase (at least +1), but never back to a ceiling: a limit
 *      that was reached by growing and whose very next window had too many
 *      errors (a probe that failed: the server turned requests away at that
 *      width), or that queued without more throughput, is not tried again for
 *      history_windows windows; growth stops one below it. Errors while
 *      shrinking set no ceiling, so a storm of 429s that passes leaves the
 *      way up open.
 * The limit stays within [1, max] throughout.
 */
#ifndef AGENTOS_RUNTIME_LIMITER_H
#define AGENTOS_RUNTIME_LIMITER_H

#include <stddef.h>
#include <stdint.h>

/*
 * Latency histogram: values below 16 ms have a bucket each; above, every
 * power of two is cut into 8 equal buckets (HdrHistogram with 3 sub-bucket
 * bits), up to 2^21 ms (35 min); longer latencies land in the last bucket.
 * A bucket is at most 1/8 of its lower bound wide, so its midpoint is within
 * 6.25 % of any value in it: that is the accuracy of limiter_window_median_ms.
 */
#define LIMITER_HIST_LINEAR 16
#define LIMITER_HIST_SUB 8
#define LIMITER_HIST_TOP_EXP 21
#define LIMITER_BUCKETS (LIMITER_HIST_LINEAR + (LIMITER_HIST_TOP_EXP - 4) * LIMITER_HIST_SUB)

#define LIMITER_HISTORY_MAX 32 /* most windows the gradient remembers */
#define LIMITER_REASON_MAX 64

struct limiter_policy {
    uint32_t window_s;         /* how often the coordinator closes a window (10) */
    uint32_t min_samples;      /* a window with fewer finished requests decides nothing (3) */
    double error_share_high;   /* above: shrink (0.20) */
    double error_share_low;    /* below (and latency low): grow (0.05) */
    double latency_high_s;     /* median above: shrink (30) */
    double latency_low_s;      /* median below (and errors low): grow (5) */
    double decrease;           /* share of the limit taken off when shrinking (0.25) */
    double increase;           /* share of the limit added when growing (0.33) */
    double gradient_tolerance; /* median over baseline that means queueing (1.5) */
    double throughput_gain;    /* goodput growth that still counts as growth (0.10) */
    uint32_t gradient_persist; /* queueing windows in a row before shrinking to the knee (2) */
    uint32_t history_windows;  /* windows behind the baseline and the knee (30, max 32) */
};

/* One window's aggregate. Zero it to open a window. */
struct limiter_window {
    uint32_t finished;              /* requests that ended, successes and errors */
    uint32_t errors;                /* of which failed: 429, 5xx, timeout, connect error */
    uint64_t duration_ms;           /* set when the window is closed */
    uint32_t hist[LIMITER_BUCKETS]; /* latencies of the successes */
};

/* What the gradient remembers of one past window. */
struct limiter_record {
    uint32_t limit;     /* the limit in force during the window */
    uint32_t median_ms; /* its median latency */
    double goodput;     /* its successes per second */
};

struct limiter {
    struct limiter_policy policy;
    uint32_t limit;
    uint32_t max;
    uint32_t queueing;     /* consecutive windows that looked like queueing */
    int grew;              /* the last change was a growth (a probe of a new width) */
    int descending;        /* probing below the knee: shrink while the goodput holds */
    uint32_t ceiling;      /* a width that failed as a probe or bought nothing; 0 = none */
    uint32_t ceiling_left; /* decided windows before the ceiling is forgotten */
    uint32_t history_len;
    uint32_t history_next; /* ring index of the next record */
    struct limiter_record history[LIMITER_HISTORY_MAX];
};

struct limiter_change {
    uint32_t from, to;
    char reason[LIMITER_REASON_MAX]; /* "error share 31 %" */
};

/* The seeds' numbers (see struct limiter_policy). */
struct limiter_policy limiter_policy_default(void);

/*
 * The name of the first field of p that is out of range or inconsistent with
 * another (error_share_low must be below error_share_high, latency_low_s below
 * latency_high_s), or NULL when p is usable.
 */
const char *limiter_policy_invalid(const struct limiter_policy *p);

/*
 * Start a limiter at `start` requests in flight, never above `max`. p NULL
 * means the default policy. start and max are clamped to at least 1 and start
 * to at most max. -EINVAL (and l untouched) if p is invalid.
 */
int limiter_init(struct limiter *l, const struct limiter_policy *p, uint32_t start, uint32_t max);

/*
 * Change the ceiling (the run's width narrowed or widened). The limit is
 * clamped into [1, max] at once; returns 1 if that changed it, else 0.
 */
int limiter_set_max(struct limiter *l, uint32_t max);

/*
 * Count one finished request into w: an error counts toward the error share
 * only (a 429 answers in milliseconds and a timeout takes the whole timeout:
 * neither says how long the server takes to serve), a success also goes into
 * the latency histogram.
 */
void limiter_window_add(struct limiter_window *w, uint32_t latency_ms, int is_error);

/*
 * Add src's counts into dst (durations are not added: the caller stamps the
 * window it closes). For a window kept per worker, each written by its own
 * worker only, and summed by the coordinator when it closes the window: no
 * atomics, and a worker that dies mid-add costs at most its own counts.
 */
void limiter_window_merge(struct limiter_window *dst, const struct limiter_window *src);

/* Histogram bucket of a latency, and the midpoint of a bucket, in ms. */
uint32_t limiter_bucket(uint32_t latency_ms);
uint32_t limiter_bucket_mid_ms(uint32_t bucket);

/* Median latency of w's successes (bucket midpoint, within 6.25 %), 0 if none. */
uint32_t limiter_window_median_ms(const struct limiter_window *w);

/*
 * Feed one closed window. Returns 1 when the limit changed (out->from, out->to
 * and a short reason filled in), 0 when it did not (out untouched). out may be
 * NULL. Deterministic: depends only on l and w.
 */
int limiter_decide(struct limiter *l, const struct limiter_window *w, struct limiter_change *out);

#endif
