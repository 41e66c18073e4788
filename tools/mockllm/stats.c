/*
 * stats.c - GET /stats and POST /stats/reset of agentos-mockllm.
 *
 * /stats is what tests check a client against: the counters of every outcome, the
 * token totals of the 200 replies the client received (overall and per key, to
 * compare with the client's own usage totals), what was in flight at most (all
 * requests, drafts, reviews, --capacity's queue), latency percentiles of 200
 * replies, and per key its requests, 429s, early requests and the most requests it
 * got in any 60 s. A reset zeroes all of that ("most" values restart from what is
 * in flight now); the rate buckets, Retry-After deadlines and MOCK-REVISE-ONCE
 * history are behaviour, not counters, and stay. docs/mockllm.md has the schema.
 */
#include "tools/mockllm/mockllm.h"

#include <string.h>

struct mock_field {
    const char *name;
    double v;
};

static void mock_add_fields(cJSON *o, const struct mock_field *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cJSON_AddNumberToObject(o, f[i].name, f[i].v);
}

static void mock_per_key_locked(cJSON *pk)
{
    for (const struct mock_key *k = mock_st.keys; k; k = k->next) {
        const struct mock_field f[] = {{"requests", (double)k->requests},
                                       {"completions", (double)k->completions},
                                       {"http_429", (double)k->http_429},
                                       {"early_requests", (double)k->early},
                                       {"prompt_tokens", (double)k->prompt_tokens},
                                       {"completion_tokens", (double)k->completion_tokens},
                                       {"max_in_any_60s", (double)k->max_60s}};
        mock_add_fields(cJSON_AddObjectToObject(pk, k->key), f, sizeof(f) / sizeof(f[0]));
    }
}

char *mock_stats_json(void)
{
    cJSON *o = cJSON_CreateObject();
    static const double q[2] = {0.50, 0.95};
    double pct[2];
    pthread_mutex_lock(&mock_st.mu);
    const struct mock_counters *c = &mock_st.c;
    mock_latency_ms_locked(q, pct, 2);
    const struct mock_field f[] = {{"requests", c->requests},
                                   {"completions", c->completions},
                                   {"drafts", c->drafts},
                                   {"reviews", c->reviews},
                                   {"http_429", c->h429},
                                   {"http_5xx", c->h5xx},
                                   {"http_401", c->h401},
                                   {"http_403", c->h403},
                                   {"http_400", c->h400},
                                   {"http_404", c->h404},
                                   {"http_413", c->h413},
                                   {"http_422", c->h422},
                                   {"http_529", c->h529},
                                   {"http_503_overload", c->h503_overload},
                                   {"early_requests", c->early},
                                   {"in_flight", (double)mock_st.in_flight},
                                   {"max_in_flight", (double)mock_st.max_in_flight},
                                   {"drafts_in_flight", (double)mock_st.drafts_in_flight},
                                   {"reviews_in_flight", (double)mock_st.reviews_in_flight},
                                   {"max_drafts_in_flight", (double)mock_st.max_drafts_in_flight},
                                   {"max_reviews_in_flight", (double)mock_st.max_reviews_in_flight},
                                   {"capacity", (double)mock_cfg.capacity},
                                   {"serving", (double)mock_st.serving},
                                   {"queued", (double)mock_st.queued},
                                   {"max_queued", (double)mock_st.max_queued},
                                   {"latency_ms_p50", pct[0]},
                                   {"latency_ms_p95", pct[1]},
                                   {"prompt_tokens", c->prompt_tokens},
                                   {"completion_tokens", c->completion_tokens},
                                   {"prompts_sha256_repeats", c->repeats},
                                   {"delivered_repeats", c->delivered_repeats}};
    mock_add_fields(o, f, sizeof(f) / sizeof(f[0]));
    mock_per_key_locked(cJSON_AddObjectToObject(o, "per_key"));
    pthread_mutex_unlock(&mock_st.mu);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

void mock_stats_reset(void)
{
    pthread_mutex_lock(&mock_st.mu);
    memset(&mock_st.c, 0, sizeof(mock_st.c));
    mock_st.max_in_flight = mock_st.in_flight;
    mock_st.max_drafts_in_flight = mock_st.drafts_in_flight;
    mock_st.max_reviews_in_flight = mock_st.reviews_in_flight;
    mock_st.max_queued = mock_st.queued;
    mock_ring_free(&mock_st.latency_us);
    mock_dig_clear(&mock_st.prompts);
    mock_dig_clear(&mock_st.delivered);
    for (struct mock_key *k = mock_st.keys; k; k = k->next) {
        k->requests = k->completions = k->http_429 = k->early = 0;
        k->prompt_tokens = k->completion_tokens = 0;
        mock_window_clear_locked(k);
    }
    pthread_mutex_unlock(&mock_st.mu);
}
