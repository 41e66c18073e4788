/*
 * completion.c - one LLM request through agentos-mockllm, end to end.
 *
 * A POST to a completion route is counted and its key taken from the headers
 * (x-api-key on the Anthropic route, which also needs anthropic-version); its body
 * is parsed before any check, so its kind (draft or review) and its token cost
 * (prompt tokens plus those of the reply it will get, which is deterministic) are
 * known to the ledgers and the token bucket. Then the admission checks of limits.c
 * run (after --overloaded-rate's 529 on the Anthropic route); an admitted request
 * is refused at once when malformed or asked to be by a marker or
 * --max-prompt-tokens, else it takes a --capacity slot (overload.c), waits its
 * latency (--latency-ms, jitter, MOCK-SLOW-MS=N) watching for a client that hangs
 * up, may fail with 503 (--fail-rate, MOCK-FAIL-5XX), and is answered with a draft
 * or, for "AGENTOS-ROLE: review", a review. Each outcome is counted for /stats, and
 * a reply of a request that reached the buckets carries their rate-limit headers as
 * they are when it is sent. The lock is dropped while parsing, queueing, sleeping
 * and writing, so concurrent requests overlap.
 */
#include "tools/mockllm/mockllm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shm/util.h"

/* The caller's key: x-api-key on the Anthropic route; elsewhere Authorization:
 * Bearer, x-goog-api-key, or Gemini's ?key=. */
static int mock_get_key(struct MHD_Connection *c, enum mock_proto proto, char *out, size_t size)
{
    const char *v;
    if (proto == PROTO_ANTHROPIC) {
        v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-api-key");
    } else {
        v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        if (v && strncasecmp(v, "Bearer ", 7) == 0)
            v += 7 + strspn(v + 7, " ");
        else
            v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-goog-api-key");
        if (!v)
            v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "key");
    }
    if (!v || !*v || strlen(v) >= size)
        return -EINVAL;
    util_strlcpy(out, v, size);
    return 0;
}

/* Reads the request into j: prompt, model, kind, tokens, the 4xx it asks for, and the
 * reply it will get (predicted: MOCK-REVISE-ONCE is not counted yet). */
static void mock_job_parse(struct mock_job *j, const struct mock_req *rq, const char *url)
{
    cJSON *doc = cJSON_ParseWithLength(rq->body ? rq->body : "", rq->len);
    j->bad = doc ? mock_prompt(doc, j->proto, &j->prompt, j->model, sizeof(j->model))
                 : "request body is not valid JSON";
    cJSON_Delete(doc);
    if (j->bad)
        return;
    if (j->proto == PROTO_GEMINI) {
        const char *m = url + strlen("/v1beta/models/");
        snprintf(j->model, sizeof(j->model), "%.*s", (int)(strcspn(m, ":")), m);
    }
    size_t plen = strlen(j->prompt);
    j->ptok = mock_tokens(plen - 1); /* the texts joined by newlines: no final one */
    mock_sha256(j->prompt, plen, j->digest);
    j->kind = strstr(j->prompt, "AGENTOS-ROLE: review") ? KIND_REVIEW : KIND_DRAFT;
    j->reject = mock_marker_status(j->prompt);
    if (!j->reject && mock_cfg.max_prompt_tokens > 0 &&
        j->ptok > (uint64_t)mock_cfg.max_prompt_tokens) {
        j->reject = 400;
        j->over_ctx = 1;
    }
    if (!j->reject && (j->text = mock_reply_text(j, 0)))
        j->ctok_est = mock_tokens(strlen(j->text));
}

/* What the token bucket charges j at admission: nothing for a request refused anyway. */
static double mock_job_cost(const struct mock_job *j)
{
    return j->bad || j->reject || !j->text ? 0 : (double)(j->ptok + j->ctok_est);
}

/* llama.cpp's answer to a prompt over its context (Gemini's and Anthropic's words on
 * their routes), with the real numbers. */
static void mock_over_ctx(struct mock_reply *rp, const struct mock_job *j)
{
    unsigned long long n = (unsigned long long)j->ptok,
                       ctx = (unsigned long long)mock_cfg.max_prompt_tokens;
    char msg[256];
    if (j->proto == PROTO_OPENAI) {
        snprintf(msg, sizeof(msg),
                 "request (%llu tokens) exceeds the available context size (%llu tokens), try "
                 "increasing it",
                 n, ctx);
        cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
        cJSON_AddNumberToObject(e, "code", 400);
        cJSON_AddStringToObject(e, "message", msg);
        cJSON_AddStringToObject(e, "type", "exceed_context_size_error");
        cJSON_AddNumberToObject(e, "n_prompt_tokens", (double)n);
        cJSON_AddNumberToObject(e, "n_ctx", (double)ctx);
        mock_reply_json(rp, 400, o);
        return;
    }
    if (j->proto == PROTO_GEMINI)
        snprintf(msg, sizeof(msg),
                 "The input token count (%llu) exceeds the maximum number of tokens allowed "
                 "(%llu).",
                 n, ctx);
    else
        snprintf(msg, sizeof(msg), "prompt is too long: %llu tokens > %llu maximum", n, ctx);
    mock_error(rp, j->proto, 400, msg);
}

/* The 4xx a malformed body, a MOCK-HTTP-4xx marker or --max-prompt-tokens asks for. */
static void mock_reject(struct mock_reply *rp, const struct mock_job *j)
{
    char msg[256];
    if (j->bad) {
        mock_error(rp, j->proto, 400, j->bad);
    } else if (j->over_ctx) {
        mock_over_ctx(rp, j);
    } else if (j->reject == 404) {
        if (j->proto == PROTO_GEMINI)
            snprintf(msg, sizeof(msg),
                     "models/%s is not found for API version v1beta, or is not supported for "
                     "generateContent.",
                     j->model);
        else if (j->proto == PROTO_ANTHROPIC)
            snprintf(msg, sizeof(msg), "model: %s", j->model);
        else
            snprintf(msg, sizeof(msg),
                     "The model `%s` does not exist or you do not have access to it.", j->model);
        mock_error_code(rp, j->proto, 404, msg, "model_not_found");
    } else {
        snprintf(msg, sizeof(msg), "Invalid request: rejected on purpose (MOCK-HTTP-%u).",
                 j->reject);
        mock_error_code(rp, j->proto, j->reject, msg,
                        j->reject == 400 ? "invalid_value" : "unprocessable_entity");
    }
}

/* Takes a --capacity slot, waits the latency, and answers 503 or the reply. */
static void mock_serve(struct mock_reply *rp, struct mock_req *rq, struct mock_job *j)
{
    int slot = mock_slot_take(rq->fd);
    if (slot != 0) {
        rq->hung_up = slot == -ECANCELED;
        mock_error(rp, j->proto, 503,
                   slot == -EBUSY ? "The server is overloaded (agentos-mockllm --capacity)."
                                  : "The request was abandoned while queued.");
        return;
    }
    const char *slow = strstr(j->prompt, "MOCK-SLOW-MS=");
    long extra = slow ? strtol(slow + 13, NULL, 10) : 0;
    extra = extra < 0 ? 0 : extra > MOCK_SLEEP_MAX_MS ? MOCK_SLEEP_MAX_MS : extra;
    pthread_mutex_lock(&mock_st.mu);
    int fail = mock_cfg.fail_rate > 0 && mock_rand01_locked() < mock_cfg.fail_rate;
    long jitter = mock_cfg.jitter_ms > 0
                      ? (long)(mock_rand_locked() % (uint64_t)(mock_cfg.jitter_ms + 1))
                      : 0;
    pthread_mutex_unlock(&mock_st.mu);
    rq->hung_up = mock_sleep_watch(mock_cfg.latency_ms + jitter + extra, rq->fd);
    mock_slot_give();
    if (fail || strstr(j->prompt, "MOCK-FAIL-5XX")) {
        mock_error(rp, j->proto, 503, "The model is overloaded. Please try again later.");
        return;
    }
    free(j->text); /* now for real: MOCK-REVISE-ONCE counts this review */
    if (!(j->text = mock_reply_text(j, 1))) {
        mock_error(rp, j->proto, 500, "out of memory");
        return;
    }
    rq->ptok = j->ptok;
    rq->ctok = mock_tokens(strlen(j->text));
    mock_success(rp, j->proto, j->model, j->text, rq->ptok, rq->ctok);
    if (rp->status == 200) {
        pthread_mutex_lock(&mock_st.mu);
        mock_st.c.repeats += mock_dig_bump(&mock_st.prompts, j->digest) > 0;
        /* A prompt whose reply was delivered before means a finished step was redone;
         * one abandoned by the client (shutdown, crash) may legitimately come again. */
        mock_st.c.delivered_repeats += mock_dig_count(&mock_st.delivered, j->digest) > 0;
        pthread_mutex_unlock(&mock_st.mu);
        memcpy(rq->digest, j->digest, sizeof(j->digest));
        rq->ok200 = !rq->hung_up;
    }
}

static void mock_account_locked(struct mock_key *k, unsigned status, enum mock_kind kind)
{
    struct mock_counters *c = &mock_st.c;
    c->completions += status == 200;
    c->drafts += status == 200 && kind == KIND_DRAFT;
    c->reviews += status == 200 && kind == KIND_REVIEW;
    c->h429 += status == 429;
    c->h5xx += status >= 500;
    c->h529 += status == 529;
    c->h401 += status == 401;
    c->h403 += status == 403;
    c->h400 += status == 400;
    c->h404 += status == 404;
    c->h413 += status == 413;
    c->h422 += status == 422;
    if (k) {
        k->http_429 += status == 429;
        k->completions += status == 200;
    }
}

/* The checks that need no body and no key record: 413, 401, Anthropic's version. */
static int mock_precheck(struct MHD_Connection *c, struct mock_reply *rp, const struct mock_req *rq,
                         enum mock_proto proto, int have_key)
{
    if (rq->too_big) {
        mock_error(rp, proto, 413, "request body larger than 4 MiB");
    } else if (!have_key) {
        mock_error(rp, proto, 401,
                   proto == PROTO_ANTHROPIC ? "x-api-key header is required"
                                            : "missing or too long API key");
    } else if (proto == PROTO_ANTHROPIC &&
               !MHD_lookup_connection_value(c, MHD_HEADER_KIND, "anthropic-version")) {
        mock_error(rp, proto, 400, "anthropic-version: header is required");
    } else {
        return 0;
    }
    return 1;
}

/* Admission under the lock; 1 when rp holds a rejection. *limited: the buckets were asked. */
static int mock_admit_locked(struct mock_reply *rp, struct mock_key *k, const struct mock_job *j,
                             int64_t now, int *limited)
{
    k->requests++;
    mock_window_note_locked(k, now);
    mock_note_arrival_locked(k, now);
    if (j->proto == PROTO_ANTHROPIC && mock_cfg.overloaded_rate > 0 &&
        mock_rand01_locked() < mock_cfg.overloaded_rate) {
        mock_error(rp, j->proto, 529, "Overloaded");
        return 1;
    }
    return mock_gate_locked(rp, k, j->proto, mock_job_cost(j), now, limited);
}

/* After the reply is built: counters, the token bucket's correction, ledgers, headers. */
static void mock_finish_locked(struct mock_reply *rp, struct mock_req *rq, struct mock_key *k,
                               const struct mock_job *j, int rejected, int limited)
{
    int64_t now = util_now_mono_ns();
    double tpm = k ? mock_key_tpm(k) : 0;
    mock_account_locked(k, rp->status, j->kind);
    if (k && !rejected && tpm > 0) /* charged the prediction: settle what really happened */
        mock_buckets_take_locked(
            k, 0, tpm,
            rp->status == 200 ? (double)rq->ctok - (double)j->ctok_est : -mock_job_cost(j), now);
    if (k && limited)
        mock_rl_headers_locked(rp, k, j->proto, now);
    if (rp->status == 200) {
        mock_latency_note_locked(now - rq->t0);
        rq->key = k;
    }
}

void mock_completion(struct MHD_Connection *c, struct mock_reply *rp, struct mock_req *rq,
                     enum mock_proto proto, const char *url)
{
    char key[MOCK_KEY_MAX];
    int have_key = mock_get_key(c, proto, key, sizeof(key)) == 0, rejected = 1, limited = 0;
    struct mock_job j = {.proto = proto, .key = key};
    struct mock_key *k = NULL;
    if (have_key)
        mock_key_id(key, rq->key_id);
    int pre = mock_precheck(c, rp, rq, proto, have_key);
    if (!pre)
        mock_job_parse(&j, rq, url); /* without the lock: bodies may be large */
    int64_t now = util_now_mono_ns();
    pthread_mutex_lock(&mock_st.mu);
    mock_st.c.requests++;
    if (!pre && !(k = mock_key_get_locked(key)))
        mock_error(rp, proto, 500, "out of memory");
    if (k) {
        mock_kind_flight_locked(j.kind, +1);
        rejected = mock_admit_locked(rp, k, &j, now, &limited);
    }
    pthread_mutex_unlock(&mock_st.mu);
    if (!rejected && (j.bad || j.reject))
        mock_reject(rp, &j);
    else if (!rejected)
        mock_serve(rp, rq, &j);
    pthread_mutex_lock(&mock_st.mu);
    mock_finish_locked(rp, rq, k, &j, rejected, limited);
    if (k)
        mock_kind_flight_locked(j.kind, -1);
    pthread_mutex_unlock(&mock_st.mu);
    free(j.prompt);
    free(j.text);
}
