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

#include <cjson/cJSON.h>

struct credential;
struct http_reply;

/*
 * Generation settings of a request (SPEC 6a), resolved per key and role by
 * credfile.c: only what the user set is sent (the "not set" values below),
 * except what a protocol requires (Anthropic's max_tokens).
 */
struct llm_gen {
    int64_t max_tokens; /* 0 = not set */
    double temperature; /* < 0 = not set */
    char *system;       /* a system prompt; NULL = not set */
    long timeout_s;     /* one request's limit; 0 = not set (LLM_TIMEOUT_DEFAULT_S) */
    char *extra;        /* a JSON object's text, merged into the body as-is; NULL = none */
};

/* What one request asks for. */
struct llm_prompt {
    const char *text;          /* the user message */
    const struct llm_gen *gen; /* the key's settings for the role; NULL = none */
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
    PROVIDER_ERR_PLAIN = 0,       /* nothing special: classify by status */
    PROVIDER_ERR_QUOTA_GONE = 1,  /* a quota that does not come back within the run (per-day) */
    PROVIDER_ERR_KEY_INVALID = 2, /* the key itself is refused, whatever the status says */
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
    int64_t default_max_tokens;   /* sent when the user sets no max_tokens; 0 = none sent */
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
extern const struct llm_provider provider_anthropic;
extern const struct llm_provider provider_azure;

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

/* error.<field> of a JSON body if it is a string, one line, cut; "" if not. */
void provider_explain_field(const char *body, size_t len, const char *field, char *out,
                            size_t outlen);

/*
 * Finish a body: merge gen->extra into root (objects merged key by key,
 * recursively; anything else replaces what was there), print it into *out
 * and free root. 0 or -ENOMEM.
 */
int provider_body_finish(cJSON *root, const struct llm_gen *gen, char **out);

/* Merge object src into object dst as provider_body_finish does. 0 or -ENOMEM. */
int provider_json_merge(cJSON *dst, const cJSON *src);

/* The OpenAI chat body {"model","messages":[system?, user],"max_tokens"?,"temperature"?}. */
char *provider_openai_body(const struct credential *c, const struct llm_prompt *p);

/*
 * The start of every protocol's parse: *text = NULL, usage unknown, and the
 * body's JSON root (cJSON *, the caller deletes it), or NULL with err "reply
 * is not valid JSON".
 */
cJSON *provider_reply_root(const char *body, size_t len, char **text, struct llm_usage *usage,
                           char *err, size_t errlen);

/* usage[a] and usage[b] as int64 of a JSON object, -1 when absent. */
void provider_usage_json(const void *usage_obj, const char *in_field, const char *out_field,
                         struct llm_usage *out);

#endif
