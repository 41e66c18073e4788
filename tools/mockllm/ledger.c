/*
 * ledger.c - what agentos-mockllm records for tests to audit a client by.
 *
 * Per key, the arrival instants of its last 60 s (a ring), from which the most
 * requests the key got in any 60 s window follows: a window holding the most
 * arrivals can always be slid to end at one, so counting the ring after each
 * arrival finds the maximum. Overall, the drafts and reviews in flight (a client
 * that promises "one review at a time" is checked against the most ever seen) and
 * the latencies of 200 replies, from which /stats computes percentiles. Each ring
 * keeps at most MOCK_LEDGER_MAX entries, so memory stays bounded: a key that gets
 * more than that in 60 s reports MOCK_LEDGER_MAX, and percentiles cover the last
 * MOCK_LEDGER_MAX replies. All of it runs under mock_st.mu.
 */
#include "tools/mockllm/mockllm.h"

#include <stdlib.h>
#include <string.h>

#include "shm/util.h"

#define MOCK_WINDOW_NS (60 * UTIL_NS_PER_SEC)

/* Appends v, growing the ring by doubling; when full, the oldest entry makes room. */
static void mock_ring_push(struct mock_ring *r, int64_t v)
{
    if (r->n == r->cap && r->cap < MOCK_LEDGER_MAX) {
        size_t ncap = r->cap ? r->cap * 2 : 64;
        ncap = ncap > MOCK_LEDGER_MAX ? MOCK_LEDGER_MAX : ncap;
        int64_t *nv = malloc(ncap * sizeof(*nv));
        if (nv) {
            for (size_t i = 0; i < r->n; i++) /* unroll, oldest first */
                nv[i] = r->v[(r->head + i) % r->cap];
            free(r->v);
            r->v = nv;
            r->cap = ncap;
            r->head = 0;
        }
    }
    if (r->cap == 0)
        return;
    if (r->n == r->cap) { /* full: drop the oldest */
        r->head = (r->head + 1) % r->cap;
        r->n--;
    }
    r->v[(r->head + r->n) % r->cap] = v;
    r->n++;
}

void mock_ring_free(struct mock_ring *r)
{
    free(r->v);
    memset(r, 0, sizeof(*r));
}

void mock_window_note_locked(struct mock_key *k, int64_t now)
{
    struct mock_ring *r = &k->window;
    while (r->n > 0 && r->v[r->head] <= now - MOCK_WINDOW_NS) {
        r->head = (r->head + 1) % r->cap;
        r->n--;
    }
    mock_ring_push(r, now);
    if (r->n > k->max_60s)
        k->max_60s = r->n;
}

void mock_window_clear_locked(struct mock_key *k)
{
    mock_ring_free(&k->window);
    k->max_60s = 0;
}

void mock_kind_flight_locked(enum mock_kind kind, int delta)
{
    int64_t *now = kind == KIND_REVIEW  ? &mock_st.reviews_in_flight
                   : kind == KIND_DRAFT ? &mock_st.drafts_in_flight
                                        : NULL;
    int64_t *max =
        kind == KIND_REVIEW ? &mock_st.max_reviews_in_flight : &mock_st.max_drafts_in_flight;
    if (!now)
        return;
    *now += delta;
    if (*now > *max)
        *max = *now;
}

void mock_latency_note_locked(int64_t ns)
{
    mock_ring_push(&mock_st.latency_us, ns / 1000);
}

static int mock_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void mock_latency_ms_locked(const double *q, double *out, size_t nq)
{
    const struct mock_ring *r = &mock_st.latency_us;
    int64_t *v = r->n ? malloc(r->n * sizeof(*v)) : NULL;
    for (size_t j = 0; j < nq; j++)
        out[j] = 0;
    if (!v)
        return;
    for (size_t i = 0; i < r->n; i++)
        v[i] = r->v[(r->head + i) % r->cap];
    qsort(v, r->n, sizeof(*v), mock_cmp_i64);
    for (size_t j = 0; j < nq; j++) {
        double want = q[j] * (double)r->n;
        size_t rank = (size_t)want + ((double)(size_t)want < want); /* nearest rank: ceil */
        rank = rank < 1 ? 1 : rank > r->n ? r->n : rank;
        out[j] = (double)v[rank - 1] / 1000.0;
    }
    free(v);
}
