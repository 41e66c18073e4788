/*
 * breaker.h - a circuit breaker per provider endpoint, in the shared segment.
 *
 * Every distinct base_url has one struct endpoint_sh (shm_layout.h). Workers
 * report each request's outcome; after BREAKER_THRESHOLD connect errors,
 * timeouts or 5xx in a row the endpoint is cut off ("open") for a cool-down
 * that starts at 5 s and doubles with every failed probe up to 60 s. When the
 * cool-down ends one worker's request goes through as the probe
 * ("half-open"): its success closes the breaker, its failure opens it again
 * for twice as long. All transitions are lock-free (atomics, CAS), so a dead
 * worker can never leave the breaker locked; a dead probe is replaced.
 *
 * Endpoint indexes at or past the segment's endpoint_count have no breaker:
 * every call treats them as closed.
 */
#ifndef AGENTOS_SHM_BREAKER_H
#define AGENTOS_SHM_BREAKER_H

#include <stdint.h>

#include "shm/segment.h"

#define BREAKER_THRESHOLD 5                    /* failures in a row that open it */
#define BREAKER_COOLDOWN_NS (5 * 1000000000LL) /* first cool-down */
#define BREAKER_COOLDOWN_MAX_NS (60 * 1000000000LL)
#define BREAKER_HALF_OPEN_POLL_NS (50 * 1000000LL) /* re-ask while a probe is out */

/* How a request on an endpoint ended, for breaker_report. */
enum breaker_outcome {
    BREAKER_SUCCESS = 0, /* an HTTP reply other than 5xx or 429 */
    BREAKER_FAILURE = 1, /* connect error, timeout, 5xx */
    BREAKER_NEUTRAL = 2, /* 429, cancelled, not sent: says nothing about the endpoint */
};

/*
 * 1 if a request to endpoint ep could go now for pid, without claiming
 * anything (closed; open with its cool-down over; half-open with pid as the
 * probe, no probe yet, or the probe's process gone). 0 otherwise, with
 * *retry_at_ns (if not NULL) set to when to ask again. now_ns is
 * CLOCK_MONOTONIC.
 */
int breaker_ready(const struct shm_segment *seg, uint32_t ep, int32_t pid, int64_t now_ns,
                  int64_t *retry_at_ns);

/*
 * Like breaker_ready, but claims: when the cool-down is over, the breaker
 * moves to half-open and exactly one caller becomes its probe (probe_pid,
 * taken by CAS from 0 or from a dead pid).
 * Returns 1 if pid may send a request now, 0 if not (*retry_at_ns filled).
 * Counts the request in the endpoint's `requests` when it returns 1.
 */
int breaker_allow(struct shm_segment *seg, uint32_t ep, int32_t pid, int64_t now_ns,
                  int64_t *retry_at_ns);

/*
 * Report how pid's request on ep ended. SUCCESS closes the breaker and resets
 * the count; FAILURE counts one more in a row and opens the breaker at
 * BREAKER_THRESHOLD (or re-opens it when pid was the half-open probe);
 * NEUTRAL only hands the probe on if pid held it. Returns 1 when this report
 * opened the breaker (the caller says so on the console) with *cooldown_ns
 * and *in_a_row filled (either may be NULL), else 0.
 */
int breaker_report(struct shm_segment *seg, uint32_t ep, int32_t pid, enum breaker_outcome outcome,
                   int64_t now_ns, int64_t *cooldown_ns, uint32_t *in_a_row);

/*
 * Hand on the probe of every half-open endpoint held by a dead pid
 * (coordinator, after reaping). Returns how many probes were handed on.
 */
int breaker_release_dead(struct shm_segment *seg, int32_t pid);

/*
 * 1 when endpoint ep is closed (requests flow) or has no breaker; 0 while it is
 * cut off (open, or half-open with its probe out or due). Lock-free: for the
 * coordinator's "no provider endpoint reachable" pause, which must not flap
 * between one probe and the next.
 */
int breaker_closed(const struct shm_segment *seg, uint32_t ep);

/* 1 when pid holds the half-open probe of endpoint ep (its request decides). */
int breaker_is_probe(const struct shm_segment *seg, uint32_t ep, int32_t pid);

/* Name of a breaker state ("closed", "open", "half-open"). */
const char *breaker_state_name(uint32_t state);

#endif
