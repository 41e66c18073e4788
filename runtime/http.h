/*
 * http.h - one LLM request over libcurl, for both provider protocols.
 *
 * openai: POST {base_url}/chat/completions, Authorization: Bearer KEY,
 *         {"model":..,"messages":[{"role":"user","content":..}]},
 *         text at choices[0].message.content.
 * gemini: POST {base_url}/v1beta/models/{model}:generateContent,
 *         x-goog-api-key: KEY, {"contents":[{"role":"user","parts":[{"text":..}]}]},
 *         text at candidates[0].content.parts[0].text.
 * The key only ever goes into a request header; curl's verbose output is off
 * and error strings never contain it.
 */
#ifndef AGENTOS_RUNTIME_HTTP_H
#define AGENTOS_RUNTIME_HTTP_H

#include <signal.h>
#include <stddef.h>

#include "runtime/credfile.h"

#define HTTP_BODY_MAX (8 * 1024 * 1024)

struct http_reply {
    long status; /* HTTP status; 0 when no reply */
    char *body;  /* NUL-terminated, malloc'd; may be NULL */
    size_t body_len;
    char retry_after[128]; /* raw Retry-After header value, "" if none */
    long latency_ms;
    char error[256]; /* transport error text, "" when a reply came */
};

/* Call once per process before any request (curl_global_init). */
int http_global_init(void);

/*
 * Send prompt to credential c. timeout_s bounds the whole request. If
 * *abort_flag becomes non-zero the transfer is abandoned (-ECANCELED).
 * Returns 0 when an HTTP reply arrived (any status, out filled), -ETIMEDOUT,
 * -ECANCELED, -EMSGSIZE (body over HTTP_BODY_MAX), or -EIO (connect error etc.,
 * out->error says which).
 */
int http_post_llm(const struct credential *c, const char *prompt, long timeout_s,
                  volatile sig_atomic_t *abort_flag, struct http_reply *out);

/* Build the request body JSON for provider (malloc'd) - exposed for tests. */
char *http_build_body(enum cred_provider p, const char *model, const char *prompt);

/*
 * Extract the reply text from a 2xx body (malloc'd into *text). -EBADMSG with a
 * one-line err ("reply has no choices[0].message.content") when missing.
 */
int http_extract_text(enum cred_provider p, const char *body, size_t len, char **text, char *err,
                      size_t errlen);

void http_reply_free(struct http_reply *r);

#endif
