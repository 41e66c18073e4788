/*
 * ratelimit.c - reading the rate-limit headers of a reply (see ratelimit.h).
 *
 * Both providers' spellings are looked for on every reply, whatever the
 * key's protocol: an OpenAI-compatible proxy in front of another provider
 * may pass either on. A value that does not parse counts as not sent, so a
 * garbled header never makes a key rest.
 */
#include "llm/ratelimit.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm/retry.h"

/* A non-negative number header ("30", "0.5"); -1 when absent or not a number. */
static double ratelimit_number(const struct http_reply *r, const char *name)
{
    char v[64], *end;
    if (!http_reply_header(r, name, v, sizeof(v)) || !isdigit((unsigned char)v[0]))
        return -1;
    double d = strtod(v, &end);
    return *end == '\0' && isfinite(d) && d < 1e15 ? d : -1;
}

static int64_t ratelimit_count(const struct http_reply *r, const char *name)
{
    double d = ratelimit_number(r, name);
    return d < 0 ? -1 : (int64_t)d;
}

static int64_t ratelimit_go_reset(const struct http_reply *r, const char *name)
{
    char v[64];
    return http_reply_header(r, name, v, sizeof(v)) ? retry_go_duration_ms(v) : -1;
}

static int64_t ratelimit_rfc3339_reset(const struct http_reply *r, const char *name, int64_t now_ms)
{
    char v[80];
    return http_reply_header(r, name, v, sizeof(v)) ? retry_rfc3339_delay_ms(v, now_ms) : -1;
}

void ratelimit_read(const struct http_reply *r, int64_t now_real_ms, struct llm_ratelimit *out)
{
    out->limit_requests = ratelimit_number(r, "x-ratelimit-limit-requests");
    out->remaining_requests = ratelimit_count(r, "x-ratelimit-remaining-requests");
    out->reset_requests_ms = ratelimit_go_reset(r, "x-ratelimit-reset-requests");
    out->limit_tokens = ratelimit_number(r, "x-ratelimit-limit-tokens");
    out->remaining_tokens = ratelimit_count(r, "x-ratelimit-remaining-tokens");
    out->reset_tokens_ms = ratelimit_go_reset(r, "x-ratelimit-reset-tokens");
    if (out->limit_requests < 0)
        out->limit_requests = ratelimit_number(r, "anthropic-ratelimit-requests-limit");
    if (out->remaining_requests < 0)
        out->remaining_requests = ratelimit_count(r, "anthropic-ratelimit-requests-remaining");
    if (out->reset_requests_ms < 0)
        out->reset_requests_ms =
            ratelimit_rfc3339_reset(r, "anthropic-ratelimit-requests-reset", now_real_ms);
    if (out->limit_tokens < 0)
        out->limit_tokens = ratelimit_number(r, "anthropic-ratelimit-tokens-limit");
    if (out->remaining_tokens < 0)
        out->remaining_tokens = ratelimit_count(r, "anthropic-ratelimit-tokens-remaining");
    if (out->reset_tokens_ms < 0)
        out->reset_tokens_ms =
            ratelimit_rfc3339_reset(r, "anthropic-ratelimit-tokens-reset", now_real_ms);
}

int64_t ratelimit_rest_ms(const struct llm_ratelimit *rl)
{
    int64_t ms = -1;
    if (rl->remaining_requests == 0 && rl->reset_requests_ms > 0)
        ms = rl->reset_requests_ms;
    if (rl->remaining_tokens == 0 && rl->reset_tokens_ms > ms)
        ms = rl->reset_tokens_ms;
    return ms;
}
