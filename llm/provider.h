/*
 * provider.h - a provider's wire protocol: how a prompt becomes an HTTP
 * request, and what a reply says. One file per protocol (provider_openai.c,
 * provider_gemini.c), one line per protocol in the table (provider.c): a new
 * provider is one new file.
 *
 * A protocol knows nothing of keys' state, retries or the pool (llm.c does);
 * it only translates. The secret goes into exactly one header, built here and
 * wiped by provider_request_free; it never enters the URL or the body.
 */
#ifndef AGENTOS_LLM_PROVIDER_H
#define AGENTOS_LLM_PROVIDER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

struct credential;
struct http_reply;

/* What one request asks for. */
struct llm_prompt {
    const char *text; /* the user message */
};

/* Token counts a reply reports; -1 = not reported. */
struct llm_usage {
    int64_t input_tokens;
    int64_t output_tokens;
};

#define PROVIDER_HEADERS_MAX 4

/* One request, built by a protocol. */
struct provider_request {
    char *url;
    char *auth;                                /* "Authorization: Bearer KEY" (wiped on free) */
    const char *headers[PROVIDER_HEADERS_MAX]; /* further constant header lines, NULL-ended */
    char *body;                                /* JSON */
};

/* What an error reply means beyond its status (provider-specific kinds). */
enum provider_error_kind {
    PROVIDER_ERR_PLAIN = 0,      /* nothing special: classify by status */
    PROVIDER_ERR_QUOTA_GONE = 1, /* a quota that does not come back within the run (per-day) */
};

/* An error reply, explained: the provider's own words, one line, no secret. */
struct provider_error {
    enum provider_error_kind kind;
    char type[64];     /* "exceed_context_size_error", "INVALID_ARGUMENT"; "" if none */
    char message[256]; /* the provider's message, cut; "" if none */
    int64_t retry_ms;  /* a retry delay the body states (Gemini RetryInfo), -1 if none */
};

struct llm_provider {
    const char *name;             /* "openai": the credentials file's `provider` */
    const char *default_base_url; /* NULL: base_url is required */
    int model_in_url;             /* the model is part of the URL: restrict its characters */
    /* The request for prompt p on credential c. 0 or -ENOMEM. */
    int (*build)(const struct credential *c, const struct llm_prompt *p,
                 struct provider_request *out);
    /*
     * A 2xx body: the reply text (*text, malloc'd) and usage (-1 when absent).
     * 0, or -EBADMSG with a one-line err naming what is missing.
     */
    int (*parse)(const char *body, size_t len, char **text, struct llm_usage *usage, char *err,
                 size_t errlen);
    /* An error reply's body: kind, type, message, stated retry delay. */
    void (*explain)(long status, const char *body, size_t len, struct provider_error *out);
};

extern const struct llm_provider provider_openai;
extern const struct llm_provider provider_gemini;

/* The protocol called name ("openai"), or NULL. */
const struct llm_provider *provider_find(const char *name);

/* "openai, gemini": the known names, for messages. */
const char *provider_names(void);

/* Free a request, wiping the header that holds the secret. */
void provider_request_free(struct provider_request *rq);

/*
 * Build the request for credential c and send it (http_post). 0 when an HTTP
 * reply arrived (any status), else -errno as http_post returns.
 */
int provider_send(const struct credential *c, const struct llm_prompt *p, long timeout_s,
                  volatile sig_atomic_t *abort_flag, struct http_reply *out);

/* The same for a plain text prompt. */
int provider_send_text(const struct credential *c, const char *text, long timeout_s,
                       volatile sig_atomic_t *abort_flag, struct http_reply *out);

/* p->parse without the usage: the text of a 2xx body (tests, fuzzing). */
int provider_parse_text(const struct llm_provider *p, const char *body, size_t len, char **text,
                        char *err, size_t errlen);

/* Helpers for protocol files: the "error" object's fields of a JSON body. */
void provider_explain_json(const char *body, size_t len, const char *type_field,
                           struct provider_error *out);

/* usage[a] and usage[b] as int64 of a JSON object, -1 when absent. */
void provider_usage_json(const void *usage_obj, const char *in_field, const char *out_field,
                         struct llm_usage *out);

#endif
