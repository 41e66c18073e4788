/*
 * completion.c - one LLM request through agentos-mockllm, end to end.
 *
 * A POST to a completion route is counted, its key taken from the headers or
 * Gemini's ?key=, and the admission checks of limits.c run; an admitted request
 * then waits its latency (--latency-ms, jitter, MOCK-SLOW-MS=N) watching for a
 * client that hangs up, may fail with 503 (--fail-rate, MOCK-FAIL-5XX), and is
 * answered with a draft or, for "AGENTOS-ROLE: review", a review. Each outcome is
 * counted for /stats, including prompts served before (prompts_sha256_repeats) and
 * prompts whose earlier reply had been delivered (delivered_repeats). The lock is
 * dropped while sleeping and writing, so concurrent requests overlap.
 */
#include "tools/mockllm/mockllm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shm/util.h"
/* The caller's key: Authorization: Bearer, x-goog-api-key, or Gemini's ?key=. */
static int mock_get_key(struct MHD_Connection *c, char *out, size_t size)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (v && strncasecmp(v, "Bearer ", 7) == 0)
        v += 7 + strspn(v + 7, " ");
    else
        v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-goog-api-key");
    if (!v)
        v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "key");
    if (!v || !*v || strlen(v) >= size)
        return -EINVAL;
    util_strlcpy(out, v, size);
    return 0;
}

/* Parses the body and serves it: latency, random 5xx, then a draft or a review. */
static void mock_serve(struct mock_reply *rp, struct mock_req *rq, int gemini, const char *url,
                       int *kind)
{
    char model[128] = "", *prompt = NULL;
    cJSON *doc = cJSON_ParseWithLength(rq->body ? rq->body : "", rq->len);
    const char *bad = doc ? mock_prompt(doc, gemini, &prompt, model, sizeof(model))
                          : "request body is not valid JSON";
    cJSON_Delete(doc);
    if (bad) {
        mock_error(rp, gemini, 400, bad);
        free(prompt);
        return;
    }
    if (gemini) {
        const char *m = url + strlen("/v1beta/models/");
        snprintf(model, sizeof(model), "%.*s", (int)(strcspn(m, ":")), m);
    }
    const char *slow = strstr(prompt, "MOCK-SLOW-MS=");
    long extra = slow ? strtol(slow + 13, NULL, 10) : 0;
    extra = extra < 0 ? 0 : extra > MOCK_SLEEP_MAX_MS ? MOCK_SLEEP_MAX_MS : extra;
    pthread_mutex_lock(&mock_st.mu);
    int fail = mock_cfg.fail_rate > 0 && mock_rand01_locked() < mock_cfg.fail_rate;
    long jitter = mock_cfg.jitter_ms > 0
                      ? (long)(mock_rand_locked() % (uint64_t)(mock_cfg.jitter_ms + 1))
                      : 0;
    pthread_mutex_unlock(&mock_st.mu);
    rq->hung_up = mock_sleep_watch(mock_cfg.latency_ms + jitter + extra, rq->fd);
    if (fail || strstr(prompt, "MOCK-FAIL-5XX")) {
        mock_error(rp, gemini, 503, "The model is overloaded. Please try again later.");
        free(prompt);
        return;
    }
    unsigned char d[32];
    size_t plen = strlen(prompt);
    mock_sha256(prompt, plen, d);
    *kind = strstr(prompt, "AGENTOS-ROLE: review") ? 2 : 1;
    char *text = *kind == 2 ? mock_review(prompt) : mock_draft(prompt, d);
    if (text)
        mock_success(rp, gemini, model, text, plen);
    else
        mock_error(rp, gemini, 500, "out of memory");
    if (rp->status == 200) {
        pthread_mutex_lock(&mock_st.mu);
        mock_st.c.repeats += mock_dig_bump(&mock_st.prompts, d) > 0;
        /* A prompt whose reply was delivered before means a finished step was redone;
         * one abandoned by the client (shutdown, crash) may legitimately come again. */
        mock_st.c.delivered_repeats += mock_dig_count(&mock_st.delivered, d) > 0;
        pthread_mutex_unlock(&mock_st.mu);
        memcpy(rq->digest, d, sizeof(d));
        rq->ok200 = !rq->hung_up;
    }
    free(text);
    free(prompt);
}

static void mock_account_locked(struct mock_key *k, unsigned status, int kind)
{
    struct mock_counters *c = &mock_st.c;
    c->completions += status == 200;
    c->drafts += status == 200 && kind == 1;
    c->reviews += status == 200 && kind == 2;
    c->h429 += status == 429;
    c->h5xx += status >= 500;
    c->h401 += status == 401;
    c->h403 += status == 403;
    c->h400 += status == 400;
    c->h413 += status == 413;
    if (k)
        k->http_429 += status == 429;
}

void mock_completion(struct MHD_Connection *c, struct mock_reply *rp, struct mock_req *rq,
                     int gemini, const char *url)
{
    char key[MOCK_KEY_MAX];
    int have_key = mock_get_key(c, key, sizeof(key)) == 0, kind = 0, rejected = 1;
    int64_t now = util_now_mono_ns();
    struct mock_key *k = NULL;
    if (have_key)
        mock_key_id(key, rq->key_id);
    pthread_mutex_lock(&mock_st.mu);
    mock_st.c.requests++;
    if (rq->too_big) {
        mock_error(rp, gemini, 413, "request body larger than 4 MiB");
    } else if (!have_key) {
        mock_error(rp, gemini, 401, "missing or too long API key");
    } else if (!(k = mock_key_get_locked(key))) {
        mock_error(rp, gemini, 500, "out of memory");
    } else {
        k->requests++;
        mock_note_arrival_locked(k, now);
        rejected = mock_gate_locked(rp, k, gemini, now);
    }
    pthread_mutex_unlock(&mock_st.mu);
    if (!rejected)
        mock_serve(rp, rq, gemini, url, &kind);
    pthread_mutex_lock(&mock_st.mu);
    mock_account_locked(k, rp->status, kind);
    pthread_mutex_unlock(&mock_st.mu);
}
