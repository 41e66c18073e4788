/*
 * llm.h - the LLM client workflows call: reserve a key through the shared
 * credential slots, send the request, classify the reply, release the key,
 * retry.
 *
 * Policy (SPEC 6):
 *   - 429: release the key as rate-limited for the delay (retry.h), print the
 *     "[COORDINATOR] Rate limit hit on <key>. Backing off for Ns.
 *     Redistributing work..." line, and retry on another key or wait. A 429
 *     never fails the item and never counts as one of the 5 attempts.
 *   - 401/403 (and a Gemini per-day quota): disable the key, retry on another.
 *   - connect errors, timeouts, 5xx, unreadable 2xx bodies: up to 5 attempts
 *     with backoff, then -EIO with "LLM request failed after 5 attempts: HTTP 503".
 *   - circuit breaker (shm/breaker.h): connect errors, timeouts and 5xx count
 *     against the key's endpoint, any other reply but a 429 for it; when a
 *     report opens the breaker the client prints "[COORDINATOR] Endpoint <url>
 *     failing (5 errors in a row); no requests to it for 5s". While it is
 *     open the endpoint's keys are skipped (the item waits, no attempt spent).
 *   - reload: when the segment's pool_generation moves (the coordinator
 *     reloaded the credentials file), refresh_creds is called before the next
 *     reservation so requests carry the new secrets; a reservation that raced
 *     with a reload is given back and taken again with the new secrets.
 *     While every key is disabled the client keeps waiting for that reload.
 *   - while no key is eligible the item waits (progress state waiting-key),
 *     checking the run state so shutdown is never held up.
 *   - AGENTOS_SIMULATE_429=N: every request after the first N of the run gets a
 *     synthetic 429 with a 1 s delay, without calling the provider.
 */
#ifndef AGENTOS_RUNTIME_LLM_H
#define AGENTOS_RUNTIME_LLM_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/credfile.h"
#include "runtime/log.h"
#include "shm/segment.h"

#define LLM_MAX_ATTEMPTS 5

enum llm_role { LLM_ROLE_DRAFT = CRED_ROLE_DRAFT, LLM_ROLE_REVIEW = CRED_ROLE_REVIEW };

struct llm_client {
    struct shm_segment *seg;
    const struct cred_file *creds; /* index-aligned with the segment's key slots */
    int32_t pid;
    long timeout_s;              /* per request (--timeout-per-step) */
    volatile sig_atomic_t *stop; /* set on shutdown: abandon and return -ECANCELED */
    struct log_sink *log;        /* console, item log, audit */
    long simulate_429_after;     /* AGENTOS_SIMULATE_429, -1 = off */
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
    /* counters for this item, reset by the caller between items */
    uint32_t requests;
    uint32_t http_429;
    /* time spent waiting for a key, a rate limit or a backoff; the worker
     * leaves it out of --timeout-per-step (a 429 never fails an item) */
    int64_t waited_ns;
};

/*
 * Send prompt with a key that has `role`; on success *reply is the malloc'd
 * text. node names the node for audit lines. Returns 0, -ECANCELED (run is
 * shutting down; nothing is failed), -EIO (failed after LLM_MAX_ATTEMPTS, err
 * filled), or -ENOKEY (pool exhausted and the run is not waiting for a reload:
 * err filled).
 */
int llm_complete(struct llm_client *c, enum llm_role role, const char *node, const char *prompt,
                 char **reply, char *err, size_t errlen);

#endif
