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
 * The "retry in N s" (or "N ms") a Gemini error message ends with ("Please
 * retry in 26.566897451s."), from the body's error.message -> ms (clamped,
 * rounded up), or -1 if absent.
 */
int64_t retry_gemini_message_delay_ms(const char *body, size_t len);

/*
 * A Go time.Duration string as OpenAI's x-ratelimit-reset-* headers send
 * ("1s", "6m0s", "20ms", "1m30.5s", "1h0m0s", "0s"; units h m s ms us µs ns)
 * -> ms (rounded up, clamped), or -1 if not parseable.
 */
int64_t retry_go_duration_ms(const char *value);

/*
 * An RFC 3339 instant as Anthropic's anthropic-ratelimit-*-reset headers
 * send ("2025-01-01T12:00:00Z", "...:00.123Z", "...:00+01:00") -> ms from
 * now_ms (Unix ms) until it (0 when past; clamped), or -1 if not parseable.
 */
int64_t retry_rfc3339_delay_ms(const char *value, int64_t now_ms);

/*
 * Exponential backoff with jitter: base 1 s doubled per attempt (attempt 0 ->
 * ~1 s), +-25 % jitter from `rnd`, capped at RETRY_MAX_MS.
 */
int64_t retry_backoff_ms(unsigned attempt, uint32_t rnd);

#endif
