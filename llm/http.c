/*
 * http.c - one HTTP POST over libcurl (see http.h).
 *
 * One easy handle per process is kept and reset between requests, so
 * connections to the provider are reused. Workers are forked: a handle made
 * before the fork belongs to the parent (its sockets and TLS state are shared),
 * so a process that finds a handle created by another pid abandons it without
 * cleanup rather than touch the parent's connections.
 *
 * Header lines are copied into curl's list and that list is wiped before it
 * is freed (one of them holds the key). The reply's last header block is kept
 * whole (cut at HTTP_HEADERS_MAX) so the policy above can read whatever
 * headers a provider sends (Retry-After, rate-limit headers) without this
 * file knowing their names.
 */
#include "llm/http.h"
#include "shm/crashpoint.h"
#include "shm/heartbeat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "shm/util.h"

static CURL *http_handle;
static pid_t http_handle_pid;

/* Transfer state shared with curl's callbacks. */
struct http_xfer {
    char *buf;
    size_t len, cap;
    size_t hlen; /* bytes in out->headers */
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
    char *h = x->out->headers;
    x->got_bytes = 1;
    /* a new status line (after a 100 Continue) starts a new header block */
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        h[0] = '\0';
        x->hlen = 0;
        return n;
    }
    if (x->hlen + n < HTTP_HEADERS_MAX) {
        memcpy(h + x->hlen, data, n);
        x->hlen += n;
        h[x->hlen] = '\0';
    }
    return n;
}

int http_reply_header(const struct http_reply *r, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *p = r->headers;
    if (outlen)
        out[0] = '\0';
    while (p && *p) {
        const char *eol = strchr(p, '\n');
        const char *end = eol ? eol : p + strlen(p);
        if ((size_t)(end - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
                end--;
            size_t len = (size_t)(end - v);
            if (outlen) {
                if (len >= outlen)
                    len = outlen - 1;
                memcpy(out, v, len);
                out[len] = '\0';
            }
            return 1;
        }
        p = eol ? eol + 1 : NULL;
    }
    return 0;
}

static int http_on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                            curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    struct http_xfer *x = arg;
    heartbeat(); /* curl calls this about once a second even while nothing moves */
    return x->abort_flag && *x->abort_flag ? 1 : 0;
}

static struct curl_slist *http_headers(const char *const *lines)
{
    struct curl_slist *h = NULL, *t;
    static const char *const fixed[] = {"Content-Type: application/json", "Expect:"};
    for (size_t i = 0; i < 2; i++) {
        if (!(t = curl_slist_append(h, fixed[i])))
            goto fail;
        h = t;
    }
    for (size_t i = 0; lines && lines[i]; i++) {
        if (!(t = curl_slist_append(h, lines[i])))
            goto fail;
        h = t;
    }
    return h;
fail:
    curl_slist_free_all(h);
    return NULL;
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

/*
 * A request that could not start because this process is out of descriptors
 * or memory (a low ulimit -n) says so, and is not blamed on the endpoint:
 * -EMFILE, -ENFILE, -ENOBUFS or -ENOMEM with "could not open a socket: ...",
 * else 0. curl reports it as a connect failure with no errno.
 */
static int http_no_socket(struct http_reply *out)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s >= 0) {
        close(s);
        return 0;
    }
    int e = errno;
    if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM)
        return 0;
    snprintf(out->error, sizeof(out->error), "could not open a socket: %s", strerror(e));
    return -e;
}

/* Map a curl failure to -errno and a short, key-free out->error. */
static int http_fail(CURL *e, CURLcode rc, const char *errbuf, const struct http_request *rq,
                     long timeout_s, int got_bytes, struct http_reply *out)
{
    long os_errno = 0;
    char host[160];
    int local;
    if (rc != CURLE_ABORTED_BY_CALLBACK && rc != CURLE_OPERATION_TIMEDOUT &&
        (local = http_no_socket(out)) < 0)
        return local;
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        /* curl's own text is long ("Failed to connect ... after 0 ms: Couldn't connect"):
         * an item's failure reason wants "connect to 127.0.0.1:8080: Connection refused" */
        curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os_errno);
        if (os_errno > 0 && http_host_port(rq->url, host, sizeof(host)) == 0) {
            snprintf(out->error, sizeof(out->error), "connect to %s: %s", host,
                     strerror((int)os_errno));
            return -EIO;
        }
        break;
    case CURLE_OUT_OF_MEMORY:
        /* What libcurl returns for a header or status line over CURL_MAX_HTTP_HEADER (a
         * hostile or broken server): its text, "Out of memory", would send the user after
         * the wrong problem (a real allocation failure in libcurl is far less likely). */
        if (http_host_port(rq->url, host, sizeof(host)) != 0)
            snprintf(host, sizeof(host), "the server");
        util_errf(out->error, sizeof(out->error),
                  "reply from %s has a header line over %d KiB: not a usable HTTP reply", host,
                  CURL_MAX_HTTP_HEADER / 1024);
        return -EIO;
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
    if (rq->secret && strlen(rq->secret) >= 4 && strstr(out->error, rq->secret))
        util_strlcpy(out->error, curl_easy_strerror(rc), sizeof(out->error));
    return -EIO;
}

int http_post(const struct http_request *rq, struct http_reply *out)
{
    crash_point("http_request"); /* crash tests: die holding a reserved key */
    memset(out, 0, sizeof(*out));
    if (rq->abort_flag && *rq->abort_flag) {
        util_strlcpy(out->error, "cancelled", sizeof(out->error));
        return -ECANCELED;
    }
    CURL *e = http_get_handle();
    struct curl_slist *hdrs = http_headers(rq->headers);
    int ret = -ENOMEM;
    if (!e || !hdrs || !rq->url || !rq->body) {
        util_strlcpy(out->error, "out of memory", sizeof(out->error));
        goto done;
    }
    struct http_xfer x = {.out = out, .abort_flag = rq->abort_flag};
    char errbuf[CURL_ERROR_SIZE] = "";
    long timeout_s = rq->timeout_s > 0 ? rq->timeout_s : 300;
    http_set_options(e, rq->url, rq->body, hdrs, timeout_s, &x, errbuf);

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
            util_errf(out->error, sizeof(out->error), "reply larger than %d bytes", HTTP_BODY_MAX);
            ret = -EMSGSIZE;
        } else {
            ret = http_fail(e, rc, errbuf, rq, timeout_s, x.got_bytes, out);
        }
    }
    /* the handle keeps pointers to our headers, body and buffers: drop them now */
    curl_easy_reset(e);
done:
    http_headers_free(hdrs);
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
