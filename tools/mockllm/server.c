/*
 * server.c - the HTTP side of agentos-mockllm: the libmicrohttpd callbacks.
 *
 * The handler gathers a request's body (up to 4 MiB; a larger one is drained and
 * answered 413), routes it (the OpenAI, Gemini and Anthropic completion routes to
 * completion.c; GET /stats and POST /stats/reset to stats.c; GET /healthz here;
 * 404/405 otherwise), counts completions in flight, sends the reply with its extra
 * headers and writes one log line per request with the key cut short. The
 * completion callback learns whether a 200 reached the client in full, which is
 * what delivered_repeats and the token totals of /stats are measured against.
 */
#include "tools/mockllm/mockllm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shm/util.h"
static void mock_in_flight(int delta)
{
    pthread_mutex_lock(&mock_st.mu);
    mock_st.in_flight += delta;
    if (mock_st.in_flight > mock_st.max_in_flight)
        mock_st.max_in_flight = mock_st.in_flight;
    pthread_mutex_unlock(&mock_st.mu);
}

/* The protocol of a completion route, or -1 for any other URL. */
static int mock_llm_route(const char *url)
{
    if (strcmp(url, "/v1/chat/completions") == 0 || strcmp(url, "/chat/completions") == 0)
        return PROTO_OPENAI;
    if (strcmp(url, "/v1/messages") == 0)
        return PROTO_ANTHROPIC;
    const char *pre = "/v1beta/models/", *suf = ":generateContent";
    size_t n = strlen(url), lp = strlen(pre), ls = strlen(suf);
    if (n > lp + ls && strncmp(url, pre, lp) == 0 && strcmp(url + n - ls, suf) == 0 &&
        !memchr(url + lp, '/', n - lp - ls))
        return PROTO_GEMINI;
    return -1;
}

static void mock_route(struct MHD_Connection *c, const char *url, const char *method,
                       struct mock_req *rq, struct mock_reply *rp)
{
    int post = strcmp(method, "POST") == 0, get = strcmp(method, "GET") == 0;
    int llm = mock_llm_route(url);
    if (llm >= 0 && post) {
        mock_completion(c, rp, rq, (enum mock_proto)llm, url);
    } else if (strcmp(url, "/stats") == 0 && get) {
        rp->status = 200;
        rp->ctype = "application/json";
        rp->body = mock_stats_json();
    } else if (strcmp(url, "/stats/reset") == 0 && post) {
        mock_stats_reset();
        rp->status = 200;
        rp->ctype = "application/json";
        rp->body = strdup("{\"reset\":true}");
    } else if (strcmp(url, "/healthz") == 0 && get) {
        rp->status = 200;
        rp->ctype = "text/plain";
        rp->body = strdup("ok\n");
    } else if (llm >= 0 || strcmp(url, "/stats") == 0 || strcmp(url, "/stats/reset") == 0 ||
               strcmp(url, "/healthz") == 0) {
        mock_error(rp, llm >= 0 ? (enum mock_proto)llm : PROTO_OPENAI, 405, "method not allowed");
    } else {
        mock_error(rp, PROTO_OPENAI, 404, "no such route");
    }
}

static void mock_log(const char *method, const char *url, const struct mock_req *rq,
                     unsigned status)
{
    if (mock_st.log_fd < 0)
        return;
    int64_t real = util_now_real_ns();
    time_t sec = (time_t)(real / UTIL_NS_PER_SEC);
    struct tm tm;
    char ts[32], line[512];
    gmtime_r(&sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    /* The URL may carry ?key=...: MHD hands it over without the query string. */
    int n = snprintf(line, sizeof(line), "%s.%03dZ %s %.200s key=%s status=%u latency_ms=%lld\n",
                     ts, (int)(real % UTIL_NS_PER_SEC / UTIL_NS_PER_MS), method, url,
                     rq->key_id[0] ? rq->key_id : "-", status,
                     (long long)((util_now_mono_ns() - rq->t0) / UTIL_NS_PER_MS));
    /* O_APPEND and one write per line keep concurrent lines whole. */
    ssize_t w =
        n > 0 ? write(mock_st.log_fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1)
              : 0;
    (void)w;
}

static void mock_req_append(struct mock_req *rq, const char *data, size_t n)
{
    if (rq->too_big)
        return;
    if (rq->len + n > MOCK_BODY_MAX) {
        rq->too_big = 1; /* keep reading (MHD must drain the body) but keep nothing */
        free(rq->body);
        rq->body = NULL;
        rq->len = 0;
        return;
    }
    if (rq->len + n + 1 > rq->cap) {
        size_t ncap = rq->cap ? rq->cap : 4096;
        while (ncap < rq->len + n + 1)
            ncap *= 2;
        char *nb = realloc(rq->body, ncap);
        if (!nb) {
            rq->too_big = 1;
            return;
        }
        rq->body = nb;
        rq->cap = ncap;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
    rq->body[rq->len] = '\0';
}

enum MHD_Result mock_handler(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *data,
                             size_t *data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    struct mock_req *rq = *con_cls;
    if (!rq) { /* first call: headers only */
        if (!(rq = calloc(1, sizeof(*rq))))
            return MHD_NO;
        rq->t0 = util_now_mono_ns();
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        rq->fd = ci ? ci->connect_fd : -1;
        *con_cls = rq;
        return MHD_YES;
    }
    if (*data_size) {
        mock_req_append(rq, data, *data_size);
        *data_size = 0;
        return MHD_YES;
    }
    int counted = mock_llm_route(url) >= 0;
    struct mock_reply rp = {0};
    if (counted)
        mock_in_flight(+1);
    mock_route(c, url, method, rq, &rp);
    if (!rp.body) {
        rp.status = 500;
        rp.ctype = "text/plain";
        rp.body = strdup("out of memory\n");
    }
    struct MHD_Response *resp =
        rp.body ? MHD_create_response_from_buffer(strlen(rp.body), rp.body, MHD_RESPMEM_MUST_FREE)
                : NULL;
    enum MHD_Result r = MHD_NO;
    if (resp) {
        MHD_add_response_header(resp, "Content-Type", rp.ctype);
        for (int i = 0; i < rp.nhdr; i++)
            MHD_add_response_header(resp, rp.hdr[i].name, rp.hdr[i].val);
        r = MHD_queue_response(c, rp.status, resp);
        MHD_destroy_response(resp);
    } else {
        free(rp.body);
    }
    if (counted)
        mock_in_flight(-1);
    mock_log(method, url, rq, rp.status);
    return r;
}

void mock_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)c;
    struct mock_req *rq = *con_cls;
    if (rq && rq->ok200 && code == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        pthread_mutex_lock(&mock_st.mu);
        mock_dig_bump(&mock_st.delivered, rq->digest);
        /* Tokens count once the client has the reply, as its own totals do. */
        mock_st.c.prompt_tokens += rq->ptok;
        mock_st.c.completion_tokens += rq->ctok;
        if (rq->key) {
            rq->key->prompt_tokens += rq->ptok;
            rq->key->completion_tokens += rq->ctok;
        }
        pthread_mutex_unlock(&mock_st.mu);
    }
    if (rq)
        free(rq->body);
    free(rq);
    *con_cls = NULL;
}
