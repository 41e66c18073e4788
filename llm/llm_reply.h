/*
 * llm_reply.h - private to the LLM client (llm.c, llm_reply.c): one request's
 * state, and what a reply or a transport failure means for the key, the
 * endpoint and the item (llm_reply.c).
 */
#ifndef AGENTOS_LLM_LLM_REPLY_H
#define AGENTOS_LLM_LLM_REPLY_H

#include <stdint.h>

#include "llm/http.h"
#include "llm/llm.h"
#include "llm/provider.h"
#include "shm/cred.h"

/* Outcome of one try with one key. */
enum llm_step {
    LLM_STEP_DONE,      /* *reply filled */
    LLM_STEP_AGAIN,     /* 429 or key disabled: try again, no attempt spent */
    LLM_STEP_FAILED,    /* attempt spent; call->last_error says why */
    LLM_STEP_REJECTED,  /* the provider refused the request itself: no retry can help */
    LLM_STEP_CANCELLED, /* shutdown */
};

struct llm_call {
    struct llm_client *c;
    uint32_t role;
    const char *node;
    const char *prompt;
    unsigned attempts;
    unsigned hintless_429;
    int waiting;
    int simulated;      /* the last try was a simulated 429 (AGENTOS_SIMULATE_429) */
    int64_t tokens_est; /* what a reservation is charged against a tpm budget */
    int probe;          /* the last try was its endpoint's half-open probe (shm/breaker.h) */
    uint32_t probe_ep;
    char last_error[400];
};

/* A reply arrived on key idx (reservation still held): classify it and end the reservation. */
enum llm_step llm_reply_classify(struct llm_call *call, int idx, struct http_reply *r,
                                 char **reply);

/* No reply (rc from http_post): end the reservation and say why. */
enum llm_step llm_reply_transport(struct llm_call *call, int idx, const struct http_reply *r,
                                  int rc);

/* Shared helpers of llm.c. */
int64_t llm_now(const struct llm_client *c);
int64_t llm_real_ms(const struct llm_client *c);
void llm_say(struct llm_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void llm_audit(struct llm_call *call, const char *event, const char *key, long status,
               long latency_ms, const char *error, const struct llm_usage *u);
void llm_exchange(struct llm_client *c, const char *title, const char *text);
void llm_count_request(struct llm_client *c, int is_429);
/* The one way a reservation ends (cred_end), with its console lines. */
void llm_end(struct llm_client *c, int idx, const struct cred_end *e);
/* Exponential backoff for a 429 without a hint: the key's streak or the call's. */
int64_t llm_backoff_ms(struct llm_call *call, int idx);

#endif
