/*
 * retry.h - how long to wait after a 429 or a failed request.
 *
 * Order of precedence for a 429 (SPEC 6): the Retry-After header (delta
 * seconds or an HTTP-date), else Gemini's RetryInfo.retryDelay in the body
 * ("12s", "2.5s"), else exponential backoff from 1 s with jitter. Every delay
 * is clamped to [0, RETRY_MAX_MS]; garbage, negative or absurd values fall
 * through to the next source.
 */
#ifndef AGENTOS_LLM_RETRY_H
#define AGENTOS_LLM_RETRY_H

#include <stddef.h>
#include <stdint.h>

#define RETRY_MAX_MS (10LL * 60 * 1000)

/* Retry-After value -> delay in ms (clamped), or -1 if not parseable. now_s = time(NULL). */
int64_t retry_after_parse_ms(const char *value, int64_t now_s);

/* retry-after-ms value (milliseconds, possibly fractional) -> ms (clamped), or -1. */
int64_t retry_after_ms_parse(const char *value);

/* Gemini error body -> RetryInfo.retryDelay in ms (clamped), or -1 if absent. */
int64_t retry_gemini_delay_ms(const char *body, size_t len);

/* 1 if a Gemini 429 body says a per-day quota was exhausted (does not come back this run). */
int retry_gemini_is_daily_quota(const char *body, size_t len);

/*
 * Exponential backoff with jitter: base 1 s doubled per attempt (attempt 0 ->
 * ~1 s), +-25 % jitter from `rnd`, capped at RETRY_MAX_MS.
 */
int64_t retry_backoff_ms(unsigned attempt, uint32_t rnd);

#endif
