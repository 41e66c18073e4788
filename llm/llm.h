/*
 * llm.h - the LLM client workflows call: reserve a key through the shared
 * credential slots, send the request in the key's protocol, classify the
 * reply, end the reservation, retry.
 *
 * Policy (SPEC 6, 6a):
 *   - 429: the key rests for the delay (retry-after-ms, Retry-After, the
 *     provider's own hint such as Gemini's RetryInfo, else exponential backoff
 *     from 1 s with jitter), the "[COORDINATOR] Rate limit hit on <key>.
 *     Backing off for Ns. Redistributing work..." line is printed, and the
 *     request is retried on another key or waits. A 429 never fails the item
 *     and never counts as one of the 5 attempts.
 *   - 401/403, and a quota that does not come back within the run (Gemini's
 *     per-day quota): the key is disabled; the request goes to another key.
 *   - 4xx other than 408, 409 and 429: a retry cannot fix it; the item fails
 *     at once with the provider's own words, one line, scrubbed of secrets:
 *     "LLM request rejected: HTTP 400 <type>: <message>".
 *   - connect errors, timeouts, 5xx, 408, 409, unreadable or empty 2xx bodies:
 *     up to 5 attempts with backoff, then -EIO with "LLM request failed after
 *     5 attempts: HTTP 503". Anthropic's 529 (overloaded) is one of them: the
 *     endpoint's failure (its breaker hears it), never the key's.
 *   - OpenAI's 429 insufficient_quota (no credit left) disables the key like
 *     a 401; any other 429 rests it.
 *   - every reply's rate-limit headers (llm/ratelimit.h) are read: when they
 *     say nothing is left the key rests until the reset they gave (no 429
 *     counted, no request spent to learn it), and a key without rpm (tpm)
 *     takes the limit they announce as its pace (budget).
 *   - tokens: a reservation is charged prompt bytes / 4 + max_tokens (the
 *     largest of the role's keys) against a key's tpm budget; the reply's
 *     usage corrects it and is counted per item (input_tokens, output_tokens,
 *     cost) and per key (the segment's key slots).
 *   - each request carries its key's generation settings for the role
 *     (credfile_gen(), SPEC 6a) and times out after the key's timeout_s
 *     (default 120 s), never later than timeout_s of the client.
 *   - circuit breaker (shm/breaker.h): connect errors, timeouts and 5xx count
 *     against the key's endpoint, any other reply but a 429 for it; when a
 *     report opens the breaker the client prints "[COORDINATOR] Endpoint <url>
 *     failing (5 errors in a row); no requests to it for 5s". While it is
 *     open the endpoint's keys are skipped (the item waits, no attempt spent);
 *     a failed half-open probe spends no attempt either (it tests the
 *     endpoint, not the item), so an item waits out an endpoint that is down.
 *   - every reservation ends through cred_end, once, on every way out.
 *   - --budget (SPEC 13): a key the local slots gave is also taken from the
 *     shared budget (budget_gate_take); when it says wait, the reservation
 *     ends unsent (CRED_DEFERRED, or CRED_SHARED_LIMIT for another run's
 *     429) and the client asks again; the lease goes back in llm_end.
 *   - reload: when the segment's pool_generation moves (the coordinator
 *     reloaded the credentials file), refresh_creds is called before the next
 *     reservation so requests carry the new secrets; a reservation that raced
 *     with a reload is given back and taken again with the new secrets.
 *     While every key is disabled the client keeps waiting for that reload.
 *   - while no key is eligible the item waits (on_wait), checking the run
 *     state so shutdown is never held up.
 *   - reply text is scrubbed of every secret of the pool before it is
 *     returned, logged or forwarded.
 *   - AGENTOS_SIMULATE_429=N: every N-th request of the run (the N-th, 2N-th,
 *     ...) gets a synthetic 429 with a 1 s delay, without calling the provider.
 *
 * The client reports through struct llm_events (console lines, the item log,
 * audit records) and reads time through struct llm_clock, so it depends on
 * nothing above it and its tests run on an injected clock.
 */
#ifndef AGENTOS_LLM_LLM_H
#define AGENTOS_LLM_LLM_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "llm/credfile.h"
#include "shm/segment.h"

#define LLM_MAX_ATTEMPTS 5
#define LLM_TIMEOUT_DEFAULT_S 120 /* one request's limit when the key sets no timeout_s */

enum llm_role { LLM_ROLE_DRAFT = CRED_ROLE_DRAFT, LLM_ROLE_REVIEW = CRED_ROLE_REVIEW };

/* Time, injected: the system's by default (llm_clock_system), a fake one in tests. */
struct llm_clock {
    int64_t (*mono_ns)(void *arg);           /* CLOCK_MONOTONIC */
    int64_t (*real_s)(void *arg);            /* wall clock seconds (HTTP-date Retry-After) */
    void (*sleep_ns)(void *arg, int64_t ns); /* may return early */
    void *arg;
    int64_t (*real_ms)(void *arg); /* wall clock ms (RFC 3339 resets); NULL: real_s * 1000 */
};

extern const struct llm_clock llm_clock_system;

/* One audit record of the client (fields NULL / -1 when absent). */
struct llm_audit {
    const char *event; /* "llm_request", "http_429", "wait_key" */
    const char *node;
    const char *key;
    const char *error;
    long http_status;
    long latency_ms;
    int64_t input_tokens; /* usage the reply reported, -1 = none */
    int64_t output_tokens;
};

/* Where the client's reports go (any hook may be NULL). */
struct llm_events {
    void (*coordinator)(void *arg, const char *line);                 /* a console line */
    void (*exchange)(void *arg, const char *title, const char *text); /* the item's log only */
    void (*audit)(void *arg, const struct llm_audit *a);
    void (*flush)(void *arg); /* before the client blocks */
    void *arg;
};

struct llm_client {
    struct shm_segment *seg;
    const struct cred_file *creds; /* index-aligned with the segment's key slots */
    int32_t pid;
    long timeout_s;                /* longest request (--timeout-per-step); the key's
                                      timeout_s (default 120) within it */
    volatile sig_atomic_t *stop;   /* set on shutdown: abandon and return -ECANCELED */
    const struct llm_events *ev;   /* NULL: silent */
    const struct llm_clock *clock; /* NULL: llm_clock_system */
    long simulate_429_every;       /* AGENTOS_SIMULATE_429, <= 0 = off */
    /* called when the item starts/stops waiting for a key (progress table) */
    void (*on_wait)(void *arg, int waiting);
    void *on_wait_arg;
    /*
     * Re-read the credentials (new secrets) into *creds when the pool
     * generation moved; returns 0 or -errno (then the old ones stay). NULL:
     * never refreshed. generation is the pool generation creds belong to.
     */
    int (*refresh_creds)(void *arg);
    void *refresh_arg;
    uint64_t generation;
    /* --budget: the shared key budget (llm/budget_gate.h), asked after every
     * local reservation and told at its end; NULL: the run's keys are its own */
    struct budget_gate *budget;
    /*
     * Limits of the run (SPEC 12), all optional: the keys that may serve the
     * current node (SHM_MAX_KEYS / 64 words, bit i = key i; NULL = any), and
     * 1 + the worker slot that takes a place at a key's endpoint gate with
     * each reservation (shm/gate.h; 0 = none). on_sample hears every request
     * that reached an endpoint (a success with its latency, or an error: 429,
     * 5xx, timeout, connect error), for the adaptive limiter.
     */
    const uint64_t *key_mask;
    uint32_t worker_id;
    void (*on_sample)(void *arg, uint32_t endpoint, uint32_t latency_ms, int is_error);
    void *on_sample_arg;
    /* counters for this item, reset by the caller between items */
    uint32_t requests;
    uint32_t http_429;
    int64_t input_tokens; /* usage the replies reported */
    int64_t output_tokens;
    double cost; /* those tokens at their keys' prices (per million); unpriced keys add 0 */
    /* time spent waiting for a key, a rate limit or a backoff; the worker
     * leaves it out of --timeout-per-step (a 429 never fails an item) */
    int64_t waited_ns;
};

/*
 * Send prompt with a key that has `role`; on success *reply is the malloc'd
 * text. node names the node for audit lines. Returns 0, -ECANCELED (run is
 * shutting down; nothing is failed), -EIO (failed after LLM_MAX_ATTEMPTS, err
 * filled), -EBADRQC (the provider rejected the request: a retry cannot fix it;
 * err filled), or -ENOKEY (no key could ever serve: err filled).
 */
int llm_complete(struct llm_client *c, enum llm_role role, const char *node, const char *prompt,
                 char **reply, char *err, size_t errlen);

/*
 * Replace, in place, every occurrence of a secret of cf in text with
 * "[REDACTED]" (the text can only shrink or keep its length when secrets are
 * at least 10 bytes; shorter ones are replaced by as many '*'). Returns how
 * many were replaced.
 */
size_t llm_scrub(const struct cred_file *cf, char *text);

#endif
