/*
 * ratelimit.h - what a reply's rate-limit headers say (SPEC 6a), read on
 * every reply so a key can rest before a 429 tells it to:
 *
 *   OpenAI, Azure:  x-ratelimit-limit-requests / -tokens,
 *                   x-ratelimit-remaining-requests / -tokens,
 *                   x-ratelimit-reset-requests / -tokens   (Go durations: "1s", "6m0s", "20ms")
 *   Anthropic:      anthropic-ratelimit-requests-limit / -remaining / -reset,
 *                   anthropic-ratelimit-tokens-limit / -remaining / -reset   (RFC 3339 instants)
 *
 * Pure apart from reading the reply's header block; the policy (rest, learn
 * the pace) is llm_reply.c's.
 */
#ifndef AGENTOS_LLM_RATELIMIT_H
#define AGENTOS_LLM_RATELIMIT_H

#include <stdint.h>

#include "llm/http.h"

/* One reply's rate-limit headers; -1 = not sent (or not understood). */
struct llm_ratelimit {
    double limit_requests; /* per minute */
    int64_t remaining_requests;
    int64_t reset_requests_ms; /* from now */
    double limit_tokens;
    int64_t remaining_tokens;
    int64_t reset_tokens_ms;
};

/* Read r's headers; now_real_ms (Unix ms) turns Anthropic's instants into delays. */
void ratelimit_read(const struct http_reply *r, int64_t now_real_ms, struct llm_ratelimit *out);

/*
 * How long the key must rest: when the reply says no request (or no token)
 * is left, the reset it gave for that (the longer of the two); -1 when
 * something is left or no reset was given.
 */
int64_t ratelimit_rest_ms(const struct llm_ratelimit *rl);

#endif
