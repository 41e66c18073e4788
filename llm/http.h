/*
 * http.h - one HTTP POST over libcurl: the transport under every provider
 * protocol (llm/provider.h builds the URL, headers and body).
 *
 * The request's secret (in one of its header lines) is only ever sent in
 * that header: curl's verbose output is off, redirects are not followed (they
 * would carry the key to another host), and an error string that somehow
 * contains the secret is replaced by curl's generic text.
 */
#ifndef AGENTOS_LLM_HTTP_H
#define AGENTOS_LLM_HTTP_H

#include <signal.h>
#include <stddef.h>

#define HTTP_BODY_MAX (8 * 1024 * 1024)

#define HTTP_HEADERS_MAX 8192 /* bytes of a reply's header block kept */

struct http_request {
    const char *url;
    const char *const *headers; /* "Name: value" lines, NULL-ended */
    const char *body;
    const char *secret;                /* never to appear in an error text (may be NULL) */
    long timeout_s;                    /* the whole request; <= 0 means 300 */
    volatile sig_atomic_t *abort_flag; /* non-zero: abandon the transfer (-ECANCELED) */
};

struct http_reply {
    long status; /* HTTP status; 0 when no reply */
    char *body;  /* NUL-terminated, malloc'd; may be NULL */
    size_t body_len;
    char headers[HTTP_HEADERS_MAX]; /* the last header block, "name: value\r\n"..., cut */
    long latency_ms;
    char error[256]; /* transport error text, "" when a reply came */
};

/* Call once per process before any request (curl_global_init). */
int http_global_init(void);

/*
 * Send rq. Returns 0 when an HTTP reply arrived (any status, out filled),
 * -ETIMEDOUT, -ECANCELED, -EMSGSIZE (body over HTTP_BODY_MAX), -ENOMEM or -EIO
 * (connect error etc.), or -EMFILE / -ENFILE / -ENOBUFS when this process could
 * not open a socket (its own limits, not the endpoint's fault); out->error then
 * says which, in one line.
 */
int http_post(const struct http_request *rq, struct http_reply *out);

/*
 * The value of the reply's header `name` (any case), trimmed, into out: 1 if
 * present, 0 if not (out is then "").
 */
int http_reply_header(const struct http_reply *r, const char *name, char *out, size_t outlen);

void http_reply_free(struct http_reply *r);

#endif
