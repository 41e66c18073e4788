/*
 * http.c - one LLM request over libcurl, for the OpenAI-compatible and Gemini
 * protocols (see http.h).
 *
 * One easy handle per process is kept and reset between requests, so
 * connections to the provider are reused. Workers are forked: a handle made
 * before the fork belongs to the parent (its sockets and TLS state are shared),
 * so a process that finds a handle created by another pid abandons it without
 * cleanup rather than touch the parent's connections.
 *
 * The key goes only into one request header. URLs are built from base_url and
 * the model, never the key; curl's verbose mode stays off; an error string that
 * somehow contained the key is replaced by curl's generic text.
 */
#include "runtime/http.h"
#include "shm/crashpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "runtime/util.h"

static CURL *http_handle;
static pid_t http_handle_pid;

/* Transfer state shared with curl's callbacks. */
struct http_xfer {
    char *buf;
    size_t len, cap;
    int too_big;
    int got_bytes; /* any header or body byte came: a timeout is "incomplete", not "no reply" */
    struct http_reply *out;
    volatile sig_atomic_t *abort_flag;
};

int http_global_init(void)
{
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    return rc == CURLE_OK ? 0 : -EIO;
}

static CURL *http_get_handle(void)
{
    if (http_handle && http_handle_pid == getpid()) {
        curl_easy_reset(http_handle);
        return http_handle;
    }
    /* A parent's handle (inherited across fork) is left alone: see the file comment. */
    http_handle = curl_easy_init();
    http_handle_pid = getpid();
    return http_handle;
}

char *http_build_body(enum cred_provider p, const char *model, const char *prompt)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = NULL, *msg = cJSON_CreateObject();
    if (!root || !msg)
        goto fail;
    if (p == PROVIDER_OPENAI) {
        if (!cJSON_AddStringToObject(root, "model", model) ||
            !(arr = cJSON_AddArrayToObject(root, "messages")) ||
            !cJSON_AddStringToObject(msg, "role", "user") ||
            !cJSON_AddStringToObject(msg, "content", prompt))
            goto fail;
    } else {
        cJSON *parts, *part = cJSON_CreateObject();
        if (!part || !cJSON_AddStringToObject(part, "text", prompt) ||
            !(arr = cJSON_AddArrayToObject(root, "contents")) ||
            !cJSON_AddStringToObject(msg, "role", "user") ||
            !(parts = cJSON_AddArrayToObject(msg, "parts"))) {
            cJSON_Delete(part);
            goto fail;
        }
        cJSON_AddItemToArray(parts, part);
    }
    cJSON_AddItemToArray(arr, msg);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
fail:
    cJSON_Delete(msg);
    cJSON_Delete(root);
    return NULL;
}

/* Concatenate every "text" of a Gemini parts array (models may split a reply). */
static char *http_gemini_parts_text(const cJSON *parts)
{
    size_t total = 0;
    const cJSON *p;
    int found = 0;
    cJSON_ArrayForEach(p, parts)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (cJSON_IsString(t)) {
            total += strlen(t->valuestring);
            found = 1;
        }
    }
    if (!found)
        return NULL;
    char *s = malloc(total + 1), *w = s;
    if (!s)
        return NULL;
    cJSON_ArrayForEach(p, parts)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (cJSON_IsString(t)) {
            size_t n = strlen(t->valuestring);
            memcpy(w, t->valuestring, n);
            w += n;
        }
    }
    *w = '\0';
    return s;
}

int http_extract_text(enum cred_provider p, const char *body, size_t len, char **text, char *err,
                      size_t errlen)
{
    *text = NULL;
    cJSON *root = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    if (!root) {
        snprintf(err, errlen, "reply is not valid JSON");
        return -EBADMSG;
    }
    if (p == PROVIDER_OPENAI) {
        cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "choices"), 0);
        cJSON *msg = cJSON_GetObjectItemCaseSensitive(choice, "message");
        cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
        if (cJSON_IsString(content))
            *text = strdup(content->valuestring);
        else
            snprintf(err, errlen, "reply has no choices[0].message.content");
    } else {
        cJSON *cand = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "candidates"), 0);
        cJSON *content = cJSON_GetObjectItemCaseSensitive(cand, "content");
        cJSON *parts = cJSON_GetObjectItemCaseSensitive(content, "parts");
        if (cJSON_IsArray(parts))
            *text = http_gemini_parts_text(parts);
        if (!*text)
            snprintf(err, errlen, "reply has no candidates[0].content.parts[0].text");
    }
    cJSON_Delete(root);
    return *text ? 0 : -EBADMSG;
}

static size_t http_on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct http_xfer *x = arg;
    size_t n = size * nmemb;
    x->got_bytes = 1;
    if (x->len + n > HTTP_BODY_MAX) {
        x->too_big = 1;
        return 0; /* curl aborts with CURLE_WRITE_ERROR */
    }
    if (x->len + n + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 16384;
        while (cap < x->len + n + 1)
            cap *= 2;
        char *b = realloc(x->buf, cap);
        if (!b)
            return 0;
        x->buf = b;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, data, n);
    x->len += n;
    x->buf[x->len] = '\0';
    return n;
}

static size_t http_on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct http_xfer *x = arg;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    x->got_bytes = 1;
    /* a new status line (after a 100 Continue) starts a new header block */
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0)
        x->out->retry_after[0] = '\0';
    if (n <= sizeof(name) - 1 || strncasecmp(data, name, sizeof(name) - 1) != 0)
        return n;
    const char *v = data + sizeof(name) - 1, *end = data + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t len = (size_t)(end - v);
    if (len >= sizeof(x->out->retry_after))
        len = sizeof(x->out->retry_after) - 1;
    memcpy(x->out->retry_after, v, len);
    x->out->retry_after[len] = '\0';
    return n;
}

static int http_on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                            curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    struct http_xfer *x = arg;
    return x->abort_flag && *x->abort_flag ? 1 : 0;
}

static char *http_url(const struct credential *c)
{
    if (c->provider == PROVIDER_OPENAI)
        return util_asprintf("%s/chat/completions", c->base_url);
    return util_asprintf("%s/v1beta/models/%s:generateContent", c->base_url, c->model);
}

static struct curl_slist *http_headers(const struct credential *c)
{
    struct curl_slist *h = NULL, *t;
    char *auth = c->provider == PROVIDER_OPENAI
                     ? util_asprintf("Authorization: Bearer %s", c->secret)
                     : util_asprintf("x-goog-api-key: %s", c->secret);
    if (!auth)
        return NULL;
    /* curl copies the string; wipe ours at once */
    const char *list[] = {"Content-Type: application/json", "Expect:", auth};
    for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++) {
        t = curl_slist_append(h, list[i]);
        if (!t) {
            curl_slist_free_all(h);
            h = NULL;
            break;
        }
        h = t;
    }
    explicit_bzero(auth, strlen(auth));
    free(auth);
    return h;
}

/* Wipe and free the header list (it holds the key). */
static void http_headers_free(struct curl_slist *h)
{
    for (struct curl_slist *p = h; p; p = p->next)
        explicit_bzero(p->data, strlen(p->data));
    curl_slist_free_all(h);
}

static void http_set_options(CURL *e, const char *url, const char *body, struct curl_slist *hdrs,
                             long timeout_s, struct http_xfer *x, char *errbuf)
{
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, http_on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, http_on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    /*
     * The whole request gets timeout_s and nothing less: a reasoning model may
     * think for minutes before its first byte, and libcurl's low-speed limit
     * cannot tell that silence from a stall, so none is set.
     */
    curl_easy_setopt(e, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* never carry the key to another host */
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "agentos/1");
}

/* "host:port" of url (default port filled in), for error messages. */
static int http_host_port(const char *url, char *out, size_t n)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    int rc = -EINVAL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        snprintf(out, n, "%s:%s", host, port);
        rc = 0;
    }
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

/* Map a curl failure to -errno and a short, key-free out->error. */
static int http_fail(CURL *e, CURLcode rc, const char *errbuf, const struct credential *c,
                     long timeout_s, int got_bytes, struct http_reply *out)
{
    long os_errno = 0;
    char host[160];
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        /* curl's own text is long ("Failed to connect ... after 0 ms: Couldn't connect"):
         * an item's failure reason wants "connect to 127.0.0.1:8080: Connection refused" */
        curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os_errno);
        if (os_errno > 0 && http_host_port(c->base_url, host, sizeof(host)) == 0) {
            snprintf(out->error, sizeof(out->error), "connect to %s: %s", host,
                     strerror((int)os_errno));
            return -EIO;
        }
        break;
    case CURLE_ABORTED_BY_CALLBACK:
        snprintf(out->error, sizeof(out->error), "cancelled");
        return -ECANCELED;
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(out->error, sizeof(out->error),
                 got_bytes ? "timeout: reply not complete within %lds"
                           : "timeout: no reply within %lds",
                 timeout_s);
        return -ETIMEDOUT;
    default:
        break;
    }
    util_strlcpy(out->error, errbuf[0] ? errbuf : curl_easy_strerror(rc), sizeof(out->error));
    size_t n = strlen(out->error);
    while (n > 0 && (out->error[n - 1] == '\n' || out->error[n - 1] == '\r'))
        out->error[--n] = '\0';
    if (c->secret && strlen(c->secret) >= 4 && strstr(out->error, c->secret))
        util_strlcpy(out->error, curl_easy_strerror(rc), sizeof(out->error));
    return -EIO;
}

int http_post_llm(const struct credential *c, const char *prompt, long timeout_s,
                  volatile sig_atomic_t *abort_flag, struct http_reply *out)
{
    crash_point("http_request"); /* crash tests: die holding a reserved key */
    memset(out, 0, sizeof(*out));
    if (abort_flag && *abort_flag) {
        snprintf(out->error, sizeof(out->error), "cancelled");
        return -ECANCELED;
    }
    CURL *e = http_get_handle();
    char *url = http_url(c);
    char *body = http_build_body(c->provider, c->model, prompt);
    struct curl_slist *hdrs = http_headers(c);
    int ret = -ENOMEM;
    if (!e || !url || !body || !hdrs) {
        snprintf(out->error, sizeof(out->error), "out of memory");
        goto done;
    }
    struct http_xfer x = {.out = out, .abort_flag = abort_flag};
    char errbuf[CURL_ERROR_SIZE] = "";
    if (timeout_s <= 0)
        timeout_s = 300; /* the documented --timeout-per-step default */
    http_set_options(e, url, body, hdrs, timeout_s, &x, errbuf);

    int64_t t0 = util_now_mono_ns();
    CURLcode rc = curl_easy_perform(e);
    out->latency_ms = (long)((util_now_mono_ns() - t0) / UTIL_NS_PER_MS);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out->status);

    if (rc == CURLE_OK) {
        out->body = x.buf;
        out->body_len = x.len;
        ret = 0;
    } else {
        free(x.buf);
        if (x.too_big) {
            snprintf(out->error, sizeof(out->error), "reply larger than %d bytes", HTTP_BODY_MAX);
            ret = -EMSGSIZE;
        } else {
            ret = http_fail(e, rc, errbuf, c, timeout_s, x.got_bytes, out);
        }
    }
    /* the handle keeps pointers to our headers, body and buffers: drop them now */
    curl_easy_reset(e);
done:
    http_headers_free(hdrs);
    free(url);
    free(body);
    return ret;
}

void http_reply_free(struct http_reply *r)
{
    if (!r)
        return;
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
}
