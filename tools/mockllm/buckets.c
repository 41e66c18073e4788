/*
 * buckets.c - the per-key request and token buckets of agentos-mockllm, and the
 * rate-limit headers that report them.
 *
 * Requests: a token bucket of capacity max(1, rpm/60) refilled at rpm/60 a second,
 * kept in its GCRA form (one "theoretical arrival time" per key), which forgives an
 * arrival up to MOCK_GRACE_NS early so a client pacing at exactly the budget is not
 * punished for scheduling noise. Tokens: a bucket of capacity tpm refilled at tpm/60
 * a second, charged by prompt + completion tokens; its level may go below zero when
 * a reply turned out longer than predicted. limits.c asks both before admitting.
 *
 * The headers tell the truth about these buckets as they are when the reply is
 * sent: "remaining" is how many requests (tokens) the limiter would admit right now
 * (the grace included), and "reset" is the time until the bucket is full again, or,
 * when no request is left, the time until the next one would be admitted; a request
 * sent before that is refused. Durations and instants are rounded up to the
 * millisecond, so a client that waits for them is never early.
 */
#include "tools/mockllm/mockllm.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "shm/util.h"

double mock_key_rpm(const struct mock_key *k)
{
    const struct mock_kv *kv = mock_kv_find(mock_cfg.key_rpm, mock_cfg.n_key_rpm, k->key);
    return kv ? kv->val : mock_cfg.rpm;
}

double mock_key_tpm(const struct mock_key *k)
{
    const struct mock_kv *kv = mock_kv_find(mock_cfg.key_tpm, mock_cfg.n_key_tpm, k->key);
    return kv ? kv->val : mock_cfg.tpm;
}

/* ns rounded up to a whole nanosecond (no libm: the tool links without it). */
static int64_t mock_ceil_ns(double ns)
{
    int64_t i = (int64_t)ns;
    return i + ((double)i < ns);
}

/* The request bucket's shape: ns per request, and how far ahead tat may run. */
static void mock_rpm_shape(double rpm, double *per_ns, int64_t *burst)
{
    double cap = rpm / 60.0 < 1 ? 1 : rpm / 60.0;
    *per_ns = 60e9 / rpm;
    *burst = (int64_t)((cap - 1) * *per_ns);
}

int64_t mock_rpm_wait_locked(const struct mock_key *k, double rpm, int64_t now)
{
    double per_ns;
    int64_t burst;
    mock_rpm_shape(rpm, &per_ns, &burst);
    int64_t tat = k->tat_ns > now ? k->tat_ns : now;
    return tat - now > burst + MOCK_GRACE_NS ? tat - burst - now : 0;
}

/* Tokens in k's token bucket at now (full when it was never charged). */
static double mock_tok_level(const struct mock_key *k, double tpm, int64_t now)
{
    if (k->tok_at_ns == 0)
        return tpm;
    double lvl = k->tok_level + (double)(now - k->tok_at_ns) * tpm / 60e9;
    return lvl > tpm ? tpm : lvl;
}

int64_t mock_tpm_wait_locked(struct mock_key *k, double tpm, double cost, int64_t now)
{
    if (cost > tpm)
        return -1;
    double lvl = mock_tok_level(k, tpm, now);
    return lvl >= cost ? 0 : mock_ceil_ns((cost - lvl) * 60e9 / tpm);
}

void mock_buckets_take_locked(struct mock_key *k, double rpm, double tpm, double cost, int64_t now)
{
    if (rpm > 0) {
        double per_ns;
        int64_t burst;
        mock_rpm_shape(rpm, &per_ns, &burst);
        k->tat_ns = (k->tat_ns > now ? k->tat_ns : now) + (int64_t)per_ns;
    }
    if (tpm > 0) {
        double lvl = mock_tok_level(k, tpm, now) - cost;
        k->tok_level = lvl > tpm ? tpm : lvl;
        k->tok_at_ns = now;
    }
}

void mock_go_duration(int64_t ns, char *out, size_t size)
{
    long long ms = ns <= 0 ? 0 : (long long)((ns + UTIL_NS_PER_MS - 1) / UTIL_NS_PER_MS);
    if (ms == 0) {
        util_strlcpy(out, "0s", size);
        return;
    }
    if (ms < 1000) {
        snprintf(out, size, "%lldms", ms);
        return;
    }
    long long h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
    char sec[24];
    if (frac) {
        snprintf(sec, sizeof(sec), "%lld.%03lld", s, frac);
        char *end = sec + strlen(sec);
        while (end[-1] == '0')
            *--end = '\0';
    } else {
        snprintf(sec, sizeof(sec), "%lld", s);
    }
    if (h)
        snprintf(out, size, "%lldh%lldm%ss", h, m, sec);
    else if (m)
        snprintf(out, size, "%lldm%ss", m, sec);
    else
        snprintf(out, size, "%ss", sec);
}

/* The RFC 3339 UTC instant ns from now, rounded up to the millisecond. */
static void mock_rfc3339_in(int64_t ns, char *out, size_t size)
{
    int64_t at = util_now_real_ns() + (ns > 0 ? ns : 0);
    at = (at + UTIL_NS_PER_MS - 1) / UTIL_NS_PER_MS * UTIL_NS_PER_MS;
    time_t sec = (time_t)(at / UTIL_NS_PER_SEC);
    struct tm tm;
    char ts[32];
    gmtime_r(&sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%s.%03dZ", ts, (int)(at % UTIL_NS_PER_SEC / UTIL_NS_PER_MS));
}

/* Adds one limit/remaining/reset trio, named the way proto's provider names it. */
static void mock_rl_trio(struct mock_reply *rp, enum mock_proto proto, const char *what,
                         double limit, long long remaining, int64_t reset_ns)
{
    char name[48], reset[40];
    const char *pre = proto == PROTO_ANTHROPIC ? "anthropic-ratelimit-" : "x-ratelimit-";
    if (proto == PROTO_ANTHROPIC)
        mock_rfc3339_in(reset_ns, reset, sizeof(reset));
    else
        mock_go_duration(reset_ns, reset, sizeof(reset));
    for (int i = 0; i < 3; i++) {
        const char *part = i == 0 ? "limit" : i == 1 ? "remaining" : "reset";
        if (proto == PROTO_ANTHROPIC)
            snprintf(name, sizeof(name), "%s%s-%s", pre, what, part);
        else
            snprintf(name, sizeof(name), "%s%s-%s", pre, part, what);
        if (i == 0)
            mock_reply_header(rp, name, "%.15g", limit);
        else if (i == 1)
            mock_reply_header(rp, name, "%lld", remaining);
        else
            mock_reply_header(rp, name, "%s", reset);
    }
}

/* Requests the request bucket would admit at now, and its reset (see the file comment). */
static void mock_rpm_state(const struct mock_key *k, double rpm, int64_t now, long long *left,
                           int64_t *reset)
{
    double per_ns;
    int64_t burst;
    mock_rpm_shape(rpm, &per_ns, &burst);
    int64_t ahead = (k->tat_ns > now ? k->tat_ns : now) - now;
    int64_t slack = burst + MOCK_GRACE_NS - ahead;
    *left = slack < 0 ? 0 : (long long)((double)slack / per_ns) + 1;
    *reset = *left > 0 ? ahead : -slack;
}

void mock_rl_headers_locked(struct mock_reply *rp, struct mock_key *k, enum mock_proto proto,
                            int64_t now)
{
    double rpm = mock_key_rpm(k), tpm = mock_key_tpm(k);
    if (mock_cfg.no_rl_headers || proto == PROTO_GEMINI)
        return;
    if (rpm > 0) {
        long long left;
        int64_t reset;
        mock_rpm_state(k, rpm, now, &left, &reset);
        mock_rl_trio(rp, proto, "requests", rpm, left, reset);
    }
    if (tpm > 0) {
        double lvl = mock_tok_level(k, tpm, now);
        long long left = lvl < 0 ? 0 : (long long)lvl;
        int64_t reset = lvl >= tpm ? 0 : mock_ceil_ns((tpm - lvl) * 60e9 / tpm);
        mock_rl_trio(rp, proto, "tokens", tpm, left, reset);
    }
}
