/*
 * agentos-mockllm.c - the bundled local LLM stand-in (SPEC section 10).
 *
 * A libmicrohttpd server on 127.0.0.1 that speaks the OpenAI chat-completions and
 * the Gemini generateContent protocols. It drafts and reviews by simple rules (markers
 * in the prompt steer the reviewer's verdict) and simulates provider trouble: latency,
 * a per-key requests-per-minute limit answered with 429 + Retry-After, random 5xx,
 * denied keys and per-day quotas. It counts what it served (GET /stats), including
 * every request that reached a key before the time it was told to wait. One thread per
 * connection, so the latency sleeps of concurrent requests overlap; all shared state
 * sits behind one mutex. Flags, markers and the /stats schema: docs/mockllm.md.
 */
#include "runtime/util.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MOCK_NAME "agentos-mockllm"
#define MOCK_BODY_MAX (4u << 20)
#define MOCK_KEY_MAX 512
#define MOCK_SLEEP_MAX_MS 600000L
/* Arrival jitter forgiven by the rate limiter and by early-request accounting. */
#define MOCK_GRACE_NS (50 * UTIL_NS_PER_MS)

enum mock_style { STYLE_SECONDS, STYLE_HTTP_DATE, STYLE_GEMINI_BODY, STYLE_NONE };

struct mock_kv {
    const char *key;
    double val;
};

/* Set once by the flag parser, read-only while the server runs. */
static struct mock_cfg {
    long port, latency_ms, jitter_ms;
    long long max_requests; /* -1: no limit */
    double rpm, fail_rate;
    enum mock_style style;
    const char *port_file, *log_path;
    unsigned long long seed;
    int seeded;
    struct mock_kv *key_rpm, *deny;
    const char **always_429, **daily;
    size_t n_key_rpm, n_deny, n_always_429, n_daily;
} cfg = {.max_requests = -1};

struct mock_key {
    struct mock_key *next;
    char *key;
    int64_t tat_ns;        /* rate limiter's theoretical arrival time */
    int64_t wait_until_ns; /* instant the last 429 told this key to wait for; 0 = none */
    uint64_t requests, http_429, early;
};

/* Open-addressing counter of SHA-256 digests (prompts seen, reviews per heading). */
struct dig_slot {
    unsigned char d[32];
    uint32_t n; /* 0 = empty slot */
};
struct dig_table {
    struct dig_slot *s;
    size_t cap, used;
};

struct mock_counters {
    uint64_t requests, completions, drafts, reviews, h429, h5xx, h401, h403, h400, h413;
    uint64_t early, repeats;
    uint64_t delivered_repeats; /* prompts whose earlier 200 reply was fully delivered */
};

static struct mock_state {
    pthread_mutex_t mu;
    pthread_cond_t stop_cv; /* broadcast at shutdown so latency sleeps end at once */
    int stopping;
    struct mock_counters c;
    int64_t in_flight, max_in_flight;
    uint64_t rng;
    struct mock_key *keys;
    struct dig_table prompts, headings;
    struct dig_table delivered; /* prompts whose 200 reply reached the client */
    int log_fd;
} st = {.mu = PTHREAD_MUTEX_INITIALIZER, .log_fd = -1};

struct mock_req {
    char *body;
    size_t len, cap;
    int too_big;
    int64_t t0;
    char key_id[32];          /* what the log may show of the key */
    unsigned char digest[32]; /* of the prompt, once a 200 was built */
    int ok200;
    int fd; /* the connection's socket, to notice a client that hung up */
    int hung_up;
};

struct mock_reply {
    unsigned status;
    char *body; /* malloc'd */
    const char *ctype;
    char retry_after[64]; /* "" = no Retry-After header */
};

/* ---- small helpers -------------------------------------------------------------- */

static uint64_t mock_rand_locked(void)
{
    uint64_t z = (st.rng += 0x9e3779b97f4a7c15ULL); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double mock_rand01_locked(void)
{
    return (double)(mock_rand_locked() >> 11) / 9007199254740992.0;
}

static void mock_sha256(const void *data, size_t len, unsigned char out[32])
{
    if (EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL) != 1)
        memset(out, 0, 32);
}

static int dig_grow(struct dig_table *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 64;
    struct dig_slot *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return -ENOMEM;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->s[i].n)
            continue;
        uint64_t h;
        memcpy(&h, t->s[i].d, sizeof(h));
        size_t j = h & (ncap - 1);
        while (ns[j].n)
            j = (j + 1) & (ncap - 1);
        ns[j] = t->s[i];
    }
    free(t->s);
    t->s = ns;
    t->cap = ncap;
    return 0;
}

/* Counts one more sighting of d; returns how often it was seen before. */
static uint32_t dig_bump(struct dig_table *t, const unsigned char d[32])
{
    if ((t->used + 1) * 2 > t->cap && dig_grow(t) != 0)
        return 0;
    uint64_t h;
    memcpy(&h, d, sizeof(h));
    size_t i = h & (t->cap - 1);
    while (t->s[i].n && memcmp(t->s[i].d, d, 32) != 0)
        i = (i + 1) & (t->cap - 1);
    if (!t->s[i].n) {
        memcpy(t->s[i].d, d, 32);
        t->used++;
    }
    return t->s[i].n++;
}

/* How often d was counted, without counting it. */
static uint32_t dig_count(const struct dig_table *t, const unsigned char d[32])
{
    if (!t->cap)
        return 0;
    uint64_t h;
    memcpy(&h, d, sizeof(h));
    size_t i = h & (t->cap - 1);
    while (t->s[i].n && memcmp(t->s[i].d, d, 32) != 0)
        i = (i + 1) & (t->cap - 1);
    return t->s[i].n;
}

static void dig_clear(struct dig_table *t)
{
    free(t->s);
    memset(t, 0, sizeof(*t));
}

static int mock_list_has(const char **list, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], key) == 0)
            return 1;
    return 0;
}

static const struct mock_kv *mock_kv_find(const struct mock_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i].key, key) == 0)
            return &kv[i];
    return NULL;
}

/* A key is never shown whole: at most its first 6 characters (half of a short one). */
static void mock_key_id(const char *key, char out[32])
{
    size_t n = strlen(key), show = n > 12 ? 6 : n / 2;
    for (size_t i = 0; i < show; i++)
        out[i] = (key[i] > 0x20 && key[i] < 0x7f) ? key[i] : '?';
    strcpy(out + show, "\xe2\x80\xa6");
}

static struct mock_key *mock_key_get_locked(const char *key)
{
    for (struct mock_key *k = st.keys; k; k = k->next)
        if (strcmp(k->key, key) == 0)
            return k;
    struct mock_key *k = calloc(1, sizeof(*k));
    if (!k || !(k->key = strdup(key))) {
        free(k);
        return NULL;
    }
    k->next = st.keys;
    st.keys = k;
    return k;
}

/* Sleeps ms milliseconds without holding the lock; returns early at shutdown. */
static void mock_sleep_ms(long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t end = (int64_t)ts.tv_sec * UTIL_NS_PER_SEC + ts.tv_nsec + ms * UTIL_NS_PER_MS;
    ts.tv_sec = end / UTIL_NS_PER_SEC;
    ts.tv_nsec = end % UTIL_NS_PER_SEC;
    pthread_mutex_lock(&st.mu);
    while (!st.stopping && pthread_cond_timedwait(&st.stop_cv, &st.mu, &ts) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&st.mu);
}

/*
 * Sleep ms like mock_sleep_ms, in short slices, watching the client's socket:
 * returns 1 as soon as the client hung up (a worker abandoned the request on
 * shutdown or died), so its reply is not counted as delivered.
 */
static int mock_sleep_watch(long ms, int fd)
{
    while (ms > 0) {
        long slice = ms < 20 ? ms : 20;
        mock_sleep_ms(slice);
        ms -= slice;
        struct pollfd p = {.fd = fd, .events = POLLRDHUP};
        if (fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
            return 1;
        pthread_mutex_lock(&st.mu);
        int stopping = st.stopping;
        pthread_mutex_unlock(&st.mu);
        if (stopping)
            return 0;
    }
    return 0;
}

/* ---- replies -------------------------------------------------------------------- */

static void mock_reply_json(struct mock_reply *rp, unsigned status, cJSON *o)
{
    rp->status = status;
    rp->ctype = "application/json";
    rp->body = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
}

static const char *mock_gemini_status(unsigned status)
{
    switch (status) {
    case 400:
        return "INVALID_ARGUMENT";
    case 401:
        return "UNAUTHENTICATED";
    case 403:
        return "PERMISSION_DENIED";
    case 404:
        return "NOT_FOUND";
    case 413:
        return "INVALID_ARGUMENT";
    case 429:
        return "RESOURCE_EXHAUSTED";
    default:
        return status >= 500 ? "UNAVAILABLE" : "FAILED_PRECONDITION";
    }
}

/* A Gemini-shaped {"error":{...}} object; its "details" array is returned in *details. */
static cJSON *mock_gemini_error(unsigned status, const char *msg, cJSON **details)
{
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddNumberToObject(e, "code", status);
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "status", mock_gemini_status(status));
    if (details)
        *details = cJSON_AddArrayToObject(e, "details");
    return o;
}

static void mock_error(struct mock_reply *rp, int gemini, unsigned status, const char *msg)
{
    if (gemini) {
        mock_reply_json(rp, status, mock_gemini_error(status, msg, NULL));
        return;
    }
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type",
                            status == 429   ? "requests"
                            : status >= 500 ? "server_error"
                                            : "invalid_request_error");
    cJSON_AddNumberToObject(e, "code", status);
    mock_reply_json(rp, status, o);
}

/* "2.5s", "12s", "0.001s": Gemini's RetryInfo.retryDelay spelling. */
static void mock_delay_str(int64_t ns, char *out, size_t size)
{
    if (ns < UTIL_NS_PER_MS)
        ns = UTIL_NS_PER_MS;
    snprintf(out, size, "%.3f", (double)ns / 1e9);
    char *end = out + strlen(out);
    while (end[-1] == '0')
        *--end = '\0';
    if (end[-1] == '.')
        *--end = '\0';
    util_strlcpy(end, "s", size - (size_t)(end - out));
}

/*
 * Answers 429 for key k, which could be served again in delay_ns. What the client is
 * told depends on --retry-style; the instant told is remembered for early-request
 * accounting. The Gemini route (and style gemini-body) always gets a Gemini body whose
 * retryDelay names the same instant as the header, so the two never disagree.
 */
static void mock_429_locked(struct mock_reply *rp, struct mock_key *k, int gemini, int64_t now,
                            int64_t delay_ns)
{
    int64_t told_ns = -1; /* delay told, -1 = nothing told */
    if (cfg.style == STYLE_SECONDS) {
        long long secs = (delay_ns + UTIL_NS_PER_SEC - 1) / UTIL_NS_PER_SEC;
        secs = secs < 1 ? 1 : secs;
        snprintf(rp->retry_after, sizeof(rp->retry_after), "%lld", secs);
        told_ns = secs * UTIL_NS_PER_SEC;
    } else if (cfg.style == STYLE_HTTP_DATE) {
        int64_t real = util_now_real_ns();
        time_t at = (time_t)((real + delay_ns + UTIL_NS_PER_SEC - 1) / UTIL_NS_PER_SEC);
        struct tm tm;
        gmtime_r(&at, &tm);
        strftime(rp->retry_after, sizeof(rp->retry_after), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        told_ns = (int64_t)at * UTIL_NS_PER_SEC - real;
    } else if (cfg.style == STYLE_GEMINI_BODY) {
        told_ns = delay_ns;
    }
    if (told_ns >= 0)
        k->wait_until_ns = now + told_ns;
    if (!gemini && cfg.style != STYLE_GEMINI_BODY) {
        mock_error(rp, 0, 429, "Rate limit reached for requests (agentos-mockllm --rpm)");
        return;
    }
    cJSON *details = NULL;
    cJSON *o = mock_gemini_error(429, "Resource has been exhausted (e.g. check quota).", &details);
    if (told_ns >= 0) {
        char d[32];
        mock_delay_str(told_ns, d, sizeof(d));
        cJSON *ri = cJSON_CreateObject();
        cJSON_AddStringToObject(ri, "@type", "type.googleapis.com/google.rpc.RetryInfo");
        cJSON_AddStringToObject(ri, "retryDelay", d);
        cJSON_AddItemToArray(details, ri);
    } else {
        cJSON_DeleteItemFromObject(cJSON_GetObjectItem(o, "error"), "details");
    }
    mock_reply_json(rp, 429, o);
}

/* Gemini's per-day quota: a 429 that does not come back within a run, no Retry-After. */
static void mock_daily_quota(struct mock_reply *rp)
{
    cJSON *details = NULL;
    cJSON *o = mock_gemini_error(429,
                                 "Quota exceeded for metric: generativelanguage.googleapis.com/"
                                 "generate_content_free_tier_requests, limit: 50",
                                 &details);
    cJSON *qf = cJSON_CreateObject(), *v = cJSON_CreateObject();
    cJSON_AddStringToObject(qf, "@type", "type.googleapis.com/google.rpc.QuotaFailure");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(qf, "violations"), v);
    cJSON_AddStringToObject(
        v, "quotaMetric", "generativelanguage.googleapis.com/generate_content_free_tier_requests");
    cJSON_AddStringToObject(v, "quotaId", "GenerateRequestsPerDayPerProjectPerModel");
    cJSON_AddItemToArray(details, qf);
    mock_reply_json(rp, 429, o);
}

/*
 * The rate limit: a token bucket of capacity max(1, rpm/60) refilled continuously at
 * rpm/60 tokens a second, in its GCRA form (one "theoretical arrival time" per key).
 * Up to MOCK_GRACE_NS of arrival jitter is forgiven, so a client pacing at exactly the
 * budget is not punished for scheduling noise; the sustained rate is still exact.
 * Returns 0 and takes a token, or the delay until a token is available.
 */
static int64_t mock_bucket_locked(struct mock_key *k, double rpm, int64_t now)
{
    double per_ns = 60e9 / rpm, cap = rpm / 60.0 < 1 ? 1 : rpm / 60.0;
    int64_t burst = (int64_t)((cap - 1) * per_ns);
    int64_t tat = k->tat_ns > now ? k->tat_ns : now;
    if (tat - now > burst + MOCK_GRACE_NS)
        return tat - burst - now;
    k->tat_ns = tat + (int64_t)per_ns;
    return 0;
}

/* The simulated provider's admission checks; 1 when rp now holds a rejection. */
static int mock_gate_locked(struct mock_reply *rp, struct mock_key *k, int gemini, int64_t now)
{
    if (cfg.max_requests >= 0 && st.c.requests > (uint64_t)cfg.max_requests) {
        mock_error(rp, gemini, 503, "agentos-mockllm --max-requests reached");
        return 1;
    }
    const struct mock_kv *deny = mock_kv_find(cfg.deny, cfg.n_deny, k->key);
    if (deny) {
        mock_error(rp, gemini, (unsigned)deny->val,
                   deny->val == 401 ? "API key not valid" : "Permission denied for this key");
        return 1;
    }
    if (mock_list_has(cfg.daily, cfg.n_daily, k->key)) {
        mock_daily_quota(rp);
        return 1;
    }
    if (mock_list_has(cfg.always_429, cfg.n_always_429, k->key)) {
        mock_429_locked(rp, k, gemini, now, UTIL_NS_PER_SEC);
        return 1;
    }
    const struct mock_kv *kr = mock_kv_find(cfg.key_rpm, cfg.n_key_rpm, k->key);
    double rpm = kr ? kr->val : cfg.rpm;
    int64_t delay = rpm > 0 ? mock_bucket_locked(k, rpm, now) : 0;
    if (delay > 0) {
        mock_429_locked(rp, k, gemini, now, delay);
        return 1;
    }
    return 0;
}

/* ---- prompts and generated text ------------------------------------------------- */

/* Appends the text of a string or an OpenAI content-part array to *buf. */
static int mock_add_text(char **buf, size_t *len, const cJSON *v)
{
    if (cJSON_IsArray(v)) {
        const cJSON *part;
        cJSON_ArrayForEach(part, v)
        {
            if (mock_add_text(buf, len, cJSON_GetObjectItemCaseSensitive(part, "text")) != 0)
                return -EINVAL;
        }
        return 0;
    }
    if (!cJSON_IsString(v))
        return -EINVAL;
    size_t n = strlen(v->valuestring);
    char *nb = realloc(*buf, *len + n + 2);
    if (!nb)
        return -ENOMEM;
    memcpy(nb + *len, v->valuestring, n);
    *len += n;
    nb[(*len)++] = '\n';
    nb[*len] = '\0';
    *buf = nb;
    return 0;
}

/* Joins the request's message texts into *prompt; NULL and a reason when malformed. */
static const char *mock_prompt(const cJSON *doc, int gemini, char **prompt, char *model,
                               size_t msize)
{
    size_t len = 0;
    const cJSON *m, *list = cJSON_GetObjectItemCaseSensitive(doc, gemini ? "contents" : "messages");
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0)
        return gemini ? "\"contents\" must be a non-empty array"
                      : "\"messages\" must be a "
                        "non-empty array";
    cJSON_ArrayForEach(m, list)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, gemini ? "parts" : "content");
        if (!cJSON_IsObject(m) || mock_add_text(prompt, &len, t) != 0)
            return gemini ? "every content needs \"parts\" with \"text\""
                          : "every message needs a string \"content\"";
    }
    if (!gemini) {
        const cJSON *mo = cJSON_GetObjectItemCaseSensitive(doc, "model");
        if (mo && !cJSON_IsString(mo))
            return "\"model\" must be a string";
        util_strlcpy(model, mo ? mo->valuestring : "mock-model", msize);
    }
    return *prompt ? NULL : "empty prompt";
}

/* The item's title: the first "# " line, without "Design: " prefixes earlier drafts add. */
static void mock_title(const char *prompt, char *out, size_t size)
{
    const char *p = prompt;
    while (p && strncmp(p, "# ", 2) != 0) {
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    if (!p) {
        util_strlcpy(out, "Untitled", size);
        return;
    }
    p += 2;
    for (;;) {
        p += strspn(p, " \t");
        if (strncmp(p, "Design:", 7) != 0)
            break;
        p += 7;
    }
    size_t n = strcspn(p, "\r\n");
    n = n >= size ? size - 1 : n;
    while (n > 0 && (((unsigned char)p[n] & 0xC0) == 0x80 || p[n - 1] == ' '))
        n--; /* never cut a UTF-8 sequence; drop trailing blanks */
    memcpy(out, p, n);
    out[n] = '\0';
    if (n == 0)
        util_strlcpy(out, "Untitled", size);
}

/* Every distinct line of the prompt naming a MOCK- marker, so drafts carry them on. */
static char *mock_marker_lines(const char *prompt)
{
    size_t len = 0, count = 0;
    char *out = calloc(1, 1);
    for (const char *p = prompt; out && *p && count < 64;) {
        size_t n = strcspn(p, "\n");
        char *line = strndup(p, n);
        if (line && strstr(line, "MOCK-") && !strstr(out, line)) {
            char *no = realloc(out, len + n + 2);
            if (no) {
                memcpy(no + len, line, n);
                len += n;
                no[len++] = '\n';
                no[len] = '\0';
                out = no;
                count++;
            }
        }
        free(line);
        p += n + (p[n] == '\n');
    }
    return out;
}

static char *mock_draft(const char *prompt, const unsigned char digest[32])
{
    char title[256], *markers = mock_marker_lines(prompt);
    mock_title(prompt, title, sizeof(title));
    char *s = util_asprintf(
        "# Design: %s\n\n## Overview\n\nThis design covers \"%s\". Mock draft "
        "%02x%02x%02x%02x%02x%02x.\n\n## Components\n\n- Interface: one entry point with "
        "validated input.\n- Storage: state kept in a single file, replaced atomically.\n"
        "- Errors: every failure is reported once, with its cause.\n\n## Testing\n\nUnit "
        "tests per component; one end-to-end test.\n%s%s",
        title, title, digest[0], digest[1], digest[2], digest[3], digest[4], digest[5],
        markers && *markers ? "\n" : "", markers ? markers : "");
    free(markers);
    return s;
}

/* The reviewer: approves unless a marker in the reviewed text says otherwise. */
static char *mock_review(const char *prompt)
{
    const char *verdict = "APPROVED";
    if (strstr(prompt, "MOCK-BLOCKED")) {
        verdict = "BLOCKED";
    } else if (strstr(prompt, "MOCK-REVISE-ALWAYS")) {
        verdict = "REVISE";
    } else if (strstr(prompt, "MOCK-REVISE-ONCE")) {
        char title[256];
        unsigned char d[32];
        mock_title(prompt, title, sizeof(title));
        mock_sha256(title, strlen(title), d);
        pthread_mutex_lock(&st.mu);
        verdict = dig_bump(&st.headings, d) == 0 ? "REVISE" : "APPROVED";
        pthread_mutex_unlock(&st.mu);
    } else if (strstr(prompt, "MOCK-NO-VERDICT")) {
        verdict = NULL;
    }
    char line[64] = "";
    if (verdict && strstr(prompt, "MOCK-CHECKBOX"))
        snprintf(line, sizeof(line), "- [x] **%s**\n",
                 strcmp(verdict, "BLOCKED") == 0 ? "DISCUSS" : verdict);
    else if (verdict)
        snprintf(line, sizeof(line), "VERDICT: %s\n", verdict);
    return util_asprintf("Review notes (agentos-mockllm)\n\n- The overview states the goal.\n"
                         "- Components and error handling are described.\n- Testing is "
                         "covered.\n\n%s",
                         line);
}

static void mock_success(struct mock_reply *rp, int gemini, const char *model, const char *text,
                         size_t prompt_len)
{
    static uint64_t seq;
    double in_tok = (double)(prompt_len / 4 + 1), out_tok = (double)(strlen(text) / 4 + 1);
    cJSON *o = cJSON_CreateObject();
    if (gemini) {
        cJSON *cand = cJSON_CreateObject(), *content = cJSON_AddObjectToObject(cand, "content");
        cJSON *part = cJSON_CreateObject(), *u;
        cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "candidates"), cand);
        cJSON_AddStringToObject(content, "role", "model");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(content, "parts"), part);
        cJSON_AddStringToObject(part, "text", text);
        cJSON_AddStringToObject(cand, "finishReason", "STOP");
        cJSON_AddNumberToObject(cand, "index", 0);
        u = cJSON_AddObjectToObject(o, "usageMetadata");
        cJSON_AddNumberToObject(u, "promptTokenCount", in_tok);
        cJSON_AddNumberToObject(u, "candidatesTokenCount", out_tok);
        cJSON_AddNumberToObject(u, "totalTokenCount", in_tok + out_tok);
        cJSON_AddStringToObject(o, "modelVersion", model);
    } else {
        char id[48];
        snprintf(id, sizeof(id), "chatcmpl-mock-%llu",
                 (unsigned long long)__atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
        cJSON *ch = cJSON_CreateObject(), *msg = cJSON_AddObjectToObject(ch, "message"), *u;
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddStringToObject(o, "object", "chat.completion");
        cJSON_AddNumberToObject(o, "created", (double)time(NULL));
        cJSON_AddStringToObject(o, "model", model);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), ch);
        cJSON_AddNumberToObject(ch, "index", 0);
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddStringToObject(msg, "content", text);
        cJSON_AddStringToObject(ch, "finish_reason", "stop");
        u = cJSON_AddObjectToObject(o, "usage");
        cJSON_AddNumberToObject(u, "prompt_tokens", in_tok);
        cJSON_AddNumberToObject(u, "completion_tokens", out_tok);
        cJSON_AddNumberToObject(u, "total_tokens", in_tok + out_tok);
    }
    mock_reply_json(rp, 200, o);
}

/* ---- the completion routes ------------------------------------------------------ */

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
    pthread_mutex_lock(&st.mu);
    int fail = cfg.fail_rate > 0 && mock_rand01_locked() < cfg.fail_rate;
    long jitter =
        cfg.jitter_ms > 0 ? (long)(mock_rand_locked() % (uint64_t)(cfg.jitter_ms + 1)) : 0;
    pthread_mutex_unlock(&st.mu);
    rq->hung_up = mock_sleep_watch(cfg.latency_ms + jitter + extra, rq->fd);
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
        pthread_mutex_lock(&st.mu);
        st.c.repeats += dig_bump(&st.prompts, d) > 0;
        /* A prompt whose reply was delivered before means a finished step was redone;
         * one abandoned by the client (shutdown, crash) may legitimately come again. */
        st.c.delivered_repeats += dig_count(&st.delivered, d) > 0;
        pthread_mutex_unlock(&st.mu);
        memcpy(rq->digest, d, sizeof(d));
        rq->ok200 = !rq->hung_up;
    }
    free(text);
    free(prompt);
}

static void mock_account_locked(struct mock_key *k, unsigned status, int kind)
{
    struct mock_counters *c = &st.c;
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

static void mock_completion(struct MHD_Connection *c, struct mock_reply *rp, struct mock_req *rq,
                            int gemini, const char *url)
{
    char key[MOCK_KEY_MAX];
    int have_key = mock_get_key(c, key, sizeof(key)) == 0, kind = 0, rejected = 1;
    int64_t now = util_now_mono_ns();
    struct mock_key *k = NULL;
    if (have_key)
        mock_key_id(key, rq->key_id);
    pthread_mutex_lock(&st.mu);
    st.c.requests++;
    if (rq->too_big) {
        mock_error(rp, gemini, 413, "request body larger than 4 MiB");
    } else if (!have_key) {
        mock_error(rp, gemini, 401, "missing or too long API key");
    } else if (!(k = mock_key_get_locked(key))) {
        mock_error(rp, gemini, 500, "out of memory");
    } else {
        k->requests++;
        if (k->wait_until_ns && now < k->wait_until_ns - MOCK_GRACE_NS) {
            k->early++;
            st.c.early++;
        }
        rejected = mock_gate_locked(rp, k, gemini, now);
    }
    pthread_mutex_unlock(&st.mu);
    if (!rejected)
        mock_serve(rp, rq, gemini, url, &kind);
    pthread_mutex_lock(&st.mu);
    mock_account_locked(k, rp->status, kind);
    pthread_mutex_unlock(&st.mu);
}

/* ---- stats, routing, the MHD callbacks ------------------------------------------ */

static char *mock_stats_json(void)
{
    cJSON *o = cJSON_CreateObject(), *pk;
    pthread_mutex_lock(&st.mu);
    const struct mock_counters *c = &st.c;
    const struct {
        const char *name;
        double v;
    } f[] = {{"requests", c->requests},
             {"completions", c->completions},
             {"drafts", c->drafts},
             {"reviews", c->reviews},
             {"http_429", c->h429},
             {"http_5xx", c->h5xx},
             {"http_401", c->h401},
             {"http_403", c->h403},
             {"http_400", c->h400},
             {"http_413", c->h413},
             {"early_requests", c->early},
             {"in_flight", (double)st.in_flight},
             {"max_in_flight", (double)st.max_in_flight},
             {"prompts_sha256_repeats", c->repeats},
             {"delivered_repeats", c->delivered_repeats}};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        cJSON_AddNumberToObject(o, f[i].name, f[i].v);
    pk = cJSON_AddObjectToObject(o, "per_key");
    for (const struct mock_key *k = st.keys; k; k = k->next) {
        cJSON *e = cJSON_AddObjectToObject(pk, k->key);
        cJSON_AddNumberToObject(e, "requests", (double)k->requests);
        cJSON_AddNumberToObject(e, "http_429", (double)k->http_429);
        cJSON_AddNumberToObject(e, "early_requests", (double)k->early);
    }
    pthread_mutex_unlock(&st.mu);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* Zeroes what /stats reports; rate buckets, Retry-After deadlines and REVISE-ONCE
 * history are behaviour, not counters, and stay. */
static void mock_stats_reset(void)
{
    pthread_mutex_lock(&st.mu);
    memset(&st.c, 0, sizeof(st.c));
    st.max_in_flight = st.in_flight;
    dig_clear(&st.prompts);
    dig_clear(&st.delivered);
    for (struct mock_key *k = st.keys; k; k = k->next)
        k->requests = k->http_429 = k->early = 0;
    pthread_mutex_unlock(&st.mu);
}

static void mock_in_flight(int delta)
{
    pthread_mutex_lock(&st.mu);
    st.in_flight += delta;
    if (st.in_flight > st.max_in_flight)
        st.max_in_flight = st.in_flight;
    pthread_mutex_unlock(&st.mu);
}

/* 1 = OpenAI route, 2 = Gemini route, 0 = neither. */
static int mock_llm_route(const char *url)
{
    if (strcmp(url, "/v1/chat/completions") == 0 || strcmp(url, "/chat/completions") == 0)
        return 1;
    const char *pre = "/v1beta/models/", *suf = ":generateContent";
    size_t n = strlen(url), lp = strlen(pre), ls = strlen(suf);
    if (n > lp + ls && strncmp(url, pre, lp) == 0 && strcmp(url + n - ls, suf) == 0 &&
        !memchr(url + lp, '/', n - lp - ls))
        return 2;
    return 0;
}

static void mock_route(struct MHD_Connection *c, const char *url, const char *method,
                       struct mock_req *rq, struct mock_reply *rp)
{
    int post = strcmp(method, "POST") == 0, get = strcmp(method, "GET") == 0;
    int llm = mock_llm_route(url);
    if (llm && post) {
        mock_completion(c, rp, rq, llm == 2, url);
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
    } else if (llm || strcmp(url, "/stats") == 0 || strcmp(url, "/stats/reset") == 0 ||
               strcmp(url, "/healthz") == 0) {
        mock_error(rp, llm == 2, 405, "method not allowed");
    } else {
        mock_error(rp, 0, 404, "no such route");
    }
}

static void mock_log(const char *method, const char *url, const struct mock_req *rq,
                     unsigned status)
{
    if (st.log_fd < 0)
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
        n > 0 ? write(st.log_fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) : 0;
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

static enum MHD_Result mock_handler(void *cls, struct MHD_Connection *c, const char *url,
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
    int counted = mock_llm_route(url) != 0;
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
        if (rp.retry_after[0])
            MHD_add_response_header(resp, "Retry-After", rp.retry_after);
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

static void mock_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                           enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)c;
    struct mock_req *rq = *con_cls;
    if (rq && rq->ok200 && code == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        pthread_mutex_lock(&st.mu);
        dig_bump(&st.delivered, rq->digest);
        pthread_mutex_unlock(&st.mu);
    }
    if (rq)
        free(rq->body);
    free(rq);
    *con_cls = NULL;
}

/* ---- flags and main ------------------------------------------------------------- */

static const char mock_usage[] =
    "usage: " MOCK_NAME " [options]\n"
    "Local LLM stand-in on 127.0.0.1 (OpenAI chat-completions and Gemini generateContent).\n"
    "Prints '" MOCK_NAME " listening on 127.0.0.1:PORT' once ready; SIGINT/SIGTERM stop it.\n"
    "  --port P                 port to listen on; 0 picks a free one (default 0)\n"
    "  --port-file F            also write the port to F (atomically) once listening\n"
    "  --latency-ms L           fixed latency per served request (default 0)\n"
    "  --latency-jitter-ms J    plus a uniform random 0..J ms\n"
    "  --rpm R                  per-key requests/minute (token bucket); 0 = no limit\n"
    "  --key-rpm KEY=R          per-key override of --rpm (repeatable)\n"
    "  --retry-style S          429 delay as: seconds (default), http-date, gemini-body, none\n"
    "  --fail-rate F            share 0..1 of served requests answered 503\n"
    "  --always-429 KEY         KEY always gets 429 with a 1 s delay (repeatable)\n"
    "  --deny-key KEY=401|403   KEY always gets that status (repeatable)\n"
    "  --daily-quota KEY        KEY gets Gemini's per-day quota 429, no Retry-After (repeatable)\n"
    "  --max-requests N         answer 503 to every request after the first N\n"
    "  --seed S                 seed of the random choices (latency jitter, --fail-rate)\n"
    "  --log FILE               one line per request (keys shown as 6 chars + ...)\n"
    "  -h, --help               this text\n"
    "Prompt markers: AGENTOS-ROLE: review, MOCK-REVISE-ONCE, MOCK-REVISE-ALWAYS, MOCK-BLOCKED,\n"
    "MOCK-NO-VERDICT, MOCK-CHECKBOX, MOCK-FAIL-5XX, MOCK-SLOW-MS=N. Routes: POST\n"
    "/v1/chat/completions, /chat/completions, /v1beta/models/M:generateContent; GET /stats,\n"
    "/healthz; POST /stats/reset. See docs/mockllm.md.\n";

static _Noreturn void mock_die_usage(const char *flag, const char *what)
{
    fprintf(stderr, MOCK_NAME ": %s %s (see --help)\n", flag, what);
    exit(2);
}

static double mock_num(const char *flag, const char *s, double lo, double hi, int integer)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !(v >= lo && v <= hi) || (integer && v != (double)(long long)v)) {
        char what[128];
        snprintf(what, sizeof(what), "needs %s in %g..%g", integer ? "an integer" : "a number", lo,
                 hi);
        mock_die_usage(flag, what);
    }
    return v;
}

/* KEY=N with N from the allowed range; the key itself is never echoed in an error. */
static struct mock_kv mock_kv_parse(const char *flag, const char *s, double lo, double hi)
{
    const char *eq = strrchr(s, '=');
    if (!eq || eq == s)
        mock_die_usage(flag, "needs KEY=VALUE");
    struct mock_kv kv = {strndup(s, (size_t)(eq - s)), 0};
    char *end;
    kv.val = strtod(eq + 1, &end);
    if (!kv.key || !eq[1] || *end || !(kv.val >= lo && kv.val <= hi))
        mock_die_usage(flag, "has a bad VALUE after '='");
    return kv;
}

static int mock_known_flag(const char *flag)
{
    static const char *const known[] = {
        "--port",       "--port-file", "--latency-ms",  "--latency-jitter-ms",
        "--rpm",        "--key-rpm",   "--retry-style", "--fail-rate",
        "--always-429", "--deny-key",  "--daily-quota", "--max-requests",
        "--seed",       "--log"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(flag, known[i]) == 0)
            return 1;
    return 0;
}

static void mock_parse_args(int argc, char **argv)
{
    size_t cap = (size_t)argc;
    cfg.key_rpm = calloc(cap, sizeof(*cfg.key_rpm));
    cfg.deny = calloc(cap, sizeof(*cfg.deny));
    cfg.always_429 = calloc(cap, sizeof(char *));
    cfg.daily = calloc(cap, sizeof(char *));
    if (!cfg.key_rpm || !cfg.deny || !cfg.always_429 || !cfg.daily)
        mock_die_usage("arguments", "could not be stored: out of memory");
    for (int i = 1; i < argc; i++) {
        char flag[64];
        const char *a = argv[i], *eq = strchr(a, '='), *v;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(mock_usage, stdout);
            exit(0);
        }
        snprintf(flag, sizeof(flag), "%.*s", (int)(eq ? eq - a : (long)strlen(a)), a);
        if (!mock_known_flag(flag)) {
            fprintf(stderr, MOCK_NAME ": unknown %s '%.60s' (see --help)\n",
                    a[0] == '-' ? "flag" : "argument", flag);
            exit(2);
        }
        if (eq)
            v = eq + 1;
        else if (i + 1 < argc)
            v = argv[++i];
        else
            mock_die_usage(flag, "needs a value");
        if (!strcmp(flag, "--port"))
            cfg.port = (long)mock_num(flag, v, 0, 65535, 1);
        else if (!strcmp(flag, "--port-file"))
            cfg.port_file = v;
        else if (!strcmp(flag, "--latency-ms"))
            cfg.latency_ms = (long)mock_num(flag, v, 0, MOCK_SLEEP_MAX_MS, 1);
        else if (!strcmp(flag, "--latency-jitter-ms"))
            cfg.jitter_ms = (long)mock_num(flag, v, 0, MOCK_SLEEP_MAX_MS, 1);
        else if (!strcmp(flag, "--rpm"))
            cfg.rpm = mock_num(flag, v, 0, 1e9, 0);
        else if (!strcmp(flag, "--key-rpm"))
            cfg.key_rpm[cfg.n_key_rpm++] = mock_kv_parse(flag, v, 0, 1e9);
        else if (!strcmp(flag, "--deny-key")) {
            struct mock_kv kv = mock_kv_parse(flag, v, 401, 403);
            if (kv.val != 401 && kv.val != 403)
                mock_die_usage(flag, "needs KEY=401 or KEY=403");
            cfg.deny[cfg.n_deny++] = kv;
        } else if (!strcmp(flag, "--retry-style")) {
            const char *names[] = {"seconds", "http-date", "gemini-body", "none"};
            size_t s = 0;
            while (s < 4 && strcmp(v, names[s]) != 0)
                s++;
            if (s == 4)
                mock_die_usage(flag, "needs seconds, http-date, gemini-body or none");
            cfg.style = (enum mock_style)s;
        } else if (!strcmp(flag, "--fail-rate"))
            cfg.fail_rate = mock_num(flag, v, 0, 1, 0);
        else if (!strcmp(flag, "--always-429"))
            cfg.always_429[cfg.n_always_429++] = v;
        else if (!strcmp(flag, "--daily-quota"))
            cfg.daily[cfg.n_daily++] = v;
        else if (!strcmp(flag, "--max-requests"))
            cfg.max_requests = (long long)mock_num(flag, v, 0, 1e15, 1);
        else if (!strcmp(flag, "--seed")) {
            cfg.seed = (unsigned long long)mock_num(flag, v, 0, 1e18, 1);
            cfg.seeded = 1;
        } else if (!strcmp(flag, "--log"))
            cfg.log_path = v;
        else
            mock_die_usage(flag, "is unknown");
    }
}

/* Binds 127.0.0.1:port ourselves so a failure names its errno and port 0 is resolvable. */
static int mock_listen(long port, unsigned *bound)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    socklen_t sl = sizeof(sa);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 512) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return -err;
    }
    *bound = ntohs(sa.sin_port);
    return fd;
}

static int mock_setup(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&st.stop_cv, &ca);
    pthread_condattr_destroy(&ca);
    st.rng = cfg.seeded ? cfg.seed : (uint64_t)util_now_real_ns() ^ ((uint64_t)getpid() << 32);
    if (cfg.log_path) {
        st.log_fd = open(cfg.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (st.log_fd < 0) {
            fprintf(stderr, MOCK_NAME ": could not open log \"%s\": %s\n", cfg.log_path,
                    strerror(errno));
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    mock_parse_args(argc, argv);
    if (mock_setup() != 0)
        return 1;
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* MHD's threads inherit the mask */
    signal(SIGPIPE, SIG_IGN);
    unsigned port = 0;
    int fd = mock_listen(cfg.port, &port);
    if (fd < 0) {
        fprintf(stderr, MOCK_NAME ": could not listen on 127.0.0.1:%ld: %s\n", cfg.port,
                strerror(-fd));
        return 1;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
        NULL, mock_handler, NULL, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED,
        mock_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_CONNECTION_LIMIT,
        1000u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, MOCK_NAME ": could not start the HTTP server on 127.0.0.1:%u\n", port);
        return 1;
    }
    char pbuf[16];
    int plen = snprintf(pbuf, sizeof(pbuf), "%u\n", port);
    int rc = cfg.port_file ? util_write_file_atomic(cfg.port_file, pbuf, (size_t)plen) : 0;
    if (rc != 0) {
        fprintf(stderr, MOCK_NAME ": could not write port file \"%s\": %s\n", cfg.port_file,
                strerror(-rc));
        MHD_stop_daemon(d);
        return 1;
    }
    printf(MOCK_NAME " listening on 127.0.0.1:%u\n", port);
    fflush(stdout);
    int sig = 0;
    while (sigwait(&sigs, &sig) != 0)
        ;
    pthread_mutex_lock(&st.mu);
    st.stopping = 1;
    pthread_cond_broadcast(&st.stop_cv);
    pthread_mutex_unlock(&st.mu);
    MHD_stop_daemon(d);
    if (st.log_fd >= 0)
        close(st.log_fd);
    return 0;
}
