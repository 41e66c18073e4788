/*
 * retry.c - delays after a 429 or a failed request (see retry.h).
 *
 * Three sources, each a pure function so they can be tested without a server:
 * the Retry-After header (delta seconds, possibly fractional, or an HTTP-date
 * in any of the three RFC 9110 forms), Gemini's google.rpc.RetryInfo in the
 * JSON error body, and exponential backoff with jitter. Parsers return -1 for
 * anything they do not fully understand so the caller falls through to the
 * next source instead of trusting a half-parsed number.
 */
#include "llm/retry.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "shm/util.h"

/* Longest value we accept before calling it absurd: ~31 years in ms, far past the clamp. */
#define RETRY_ABSURD_MS 1e12

static int64_t retry_clamp(int64_t ms)
{
    if (ms < 0)
        return 0;
    return ms > RETRY_MAX_MS ? RETRY_MAX_MS : ms;
}

/*
 * "<digits>[.<digits>]" followed by exactly `suffix` and nothing else ->
 * milliseconds, or -1. strtod alone would accept signs, hex, "inf" and
 * exponents, none of which a server may send here.
 */
static int64_t retry_parse_seconds(const char *s, size_t len, char suffix)
{
    size_t i = 0, digits = 0;
    while (i < len && isdigit((unsigned char)s[i])) {
        i++;
        digits++;
    }
    if (digits == 0)
        return -1;
    if (i < len && s[i] == '.') {
        size_t frac = 0;
        for (i++; i < len && isdigit((unsigned char)s[i]); i++)
            frac++;
        if (frac == 0)
            return -1;
    }
    if (suffix) {
        if (i >= len || s[i] != suffix)
            return -1;
        i++;
    }
    if (i != len || len > 64)
        return -1;
    char buf[72];
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    double sec = strtod(buf, NULL);
    if (errno == ERANGE || !isfinite(sec) || sec * 1000.0 > RETRY_ABSURD_MS)
        return -1;
    /* round up by hand: a 1.0001 s hint must not be retried early, and no libm needed */
    double msd = sec * 1000.0;
    int64_t ms = (int64_t)msd;
    if ((double)ms < msd)
        ms++;
    return retry_clamp(ms);
}

/* HTTP-date (IMF-fixdate, RFC 850, asctime) -> time_t, or -1. */
static time_t retry_parse_http_date(const char *s)
{
    static const char *const formats[] = {
        "%a, %d %b %Y %H:%M:%S GMT", /* Sun, 06 Nov 1994 08:49:37 GMT */
        "%A, %d-%b-%y %H:%M:%S GMT", /* Sunday, 06-Nov-94 08:49:37 GMT */
        "%a %b %d %H:%M:%S %Y",      /* Sun Nov  6 08:49:37 1994 */
    };
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        const char *end = strptime(s, formats[i], &tm);
        if (!end)
            continue;
        while (*end == ' ' || *end == '\t')
            end++;
        if (*end != '\0')
            continue;
        time_t t = timegm(&tm);
        if (t != (time_t)-1)
            return t;
    }
    return (time_t)-1;
}

int64_t retry_after_parse_ms(const char *value, int64_t now_s)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t len = strlen(value);
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t' || value[len - 1] == '\r' ||
                       value[len - 1] == '\n'))
        len--;
    if (len == 0 || len > 100)
        return -1;
    if (isdigit((unsigned char)value[0]))
        return retry_parse_seconds(value, len, '\0');

    char buf[128];
    memcpy(buf, value, len);
    buf[len] = '\0';
    time_t t = retry_parse_http_date(buf);
    if (t == (time_t)-1)
        return -1;
    if ((int64_t)t <= now_s)
        return 0;
    int64_t delta = (int64_t)t - now_s;
    if (delta > (int64_t)(RETRY_ABSURD_MS / 1000))
        return RETRY_MAX_MS;
    return retry_clamp(delta * 1000);
}

int64_t retry_after_ms_parse(const char *value)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t len = strlen(value), digits = 0, i = 0;
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    while (i < len && isdigit((unsigned char)value[i]))
        i++, digits++;
    if (i < len && value[i] == '.')
        for (i++; i < len && isdigit((unsigned char)value[i]); i++)
            ;
    if (digits == 0 || i != len || len > 32)
        return -1;
    char buf[40];
    memcpy(buf, value, len);
    buf[len] = '\0';
    double ms = strtod(buf, NULL);
    if (!isfinite(ms) || ms > RETRY_ABSURD_MS)
        return -1;
    int64_t whole = (int64_t)ms;
    return retry_clamp((double)whole < ms ? whole + 1 : whole);
}

/* error.details of a Gemini error body (object, or the array form some endpoints send). */
static cJSON *retry_gemini_details(cJSON *root)
{
    if (cJSON_IsArray(root))
        root = cJSON_GetArrayItem(root, 0);
    cJSON *error = cJSON_GetObjectItemCaseSensitive(root, "error");
    cJSON *details = cJSON_GetObjectItemCaseSensitive(error, "details");
    return cJSON_IsArray(details) ? details : NULL;
}

static int retry_type_is(const cJSON *entry, const char *suffix)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(entry, "@type");
    if (!cJSON_IsString(type))
        return 0;
    size_t n = strlen(type->valuestring), m = strlen(suffix);
    return n >= m && strcmp(type->valuestring + n - m, suffix) == 0;
}

int64_t retry_gemini_delay_ms(const char *body, size_t len)
{
    if (!body || len == 0)
        return -1;
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root)
        return -1;
    int64_t ms = -1;
    cJSON *details = retry_gemini_details(root), *entry;
    cJSON_ArrayForEach(entry, details)
    {
        if (!retry_type_is(entry, "RetryInfo"))
            continue;
        const cJSON *delay = cJSON_GetObjectItemCaseSensitive(entry, "retryDelay");
        if (cJSON_IsString(delay))
            ms = retry_parse_seconds(delay->valuestring, strlen(delay->valuestring), 's');
        break;
    }
    cJSON_Delete(root);
    return ms;
}

static int retry_field_says_per_day(const cJSON *violation, const char *field)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(violation, field);
    return cJSON_IsString(v) && strcasestr(v->valuestring, "PerDay") != NULL;
}

int retry_gemini_is_daily_quota(const char *body, size_t len)
{
    if (!body || len == 0)
        return 0;
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root)
        return 0;
    int daily = 0;
    cJSON *details = retry_gemini_details(root), *entry;
    cJSON_ArrayForEach(entry, details)
    {
        if (!retry_type_is(entry, "QuotaFailure"))
            continue;
        cJSON *violations = cJSON_GetObjectItemCaseSensitive(entry, "violations");
        if (!cJSON_IsArray(violations))
            continue;
        cJSON *v;
        cJSON_ArrayForEach(v, violations)
        {
            if (retry_field_says_per_day(v, "quotaId") ||
                retry_field_says_per_day(v, "quotaMetric"))
                daily = 1;
        }
    }
    cJSON_Delete(root);
    return daily;
}

int64_t retry_gemini_message_delay_ms(const char *body, size_t len)
{
    cJSON *root = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    if (cJSON_IsArray(root) && cJSON_GetArraySize(root) > 0) {
        cJSON *first = cJSON_DetachItemFromArray(root, 0);
        cJSON_Delete(root);
        root = first;
    }
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "error"), "message");
    const char *at = cJSON_IsString(msg) ? strcasestr(msg->valuestring, "retry in ") : NULL;
    int64_t ms = -1;
    if (at) {
        at += strlen("retry in ");
        size_t n = strspn(at, "0123456789.");
        if (n > 0 && strncmp(at + n, "ms", 2) == 0) {
            char buf[72];
            if (n < sizeof(buf) - 1) {
                memcpy(buf, at, n);
                buf[n] = '\0';
                ms = retry_after_ms_parse(buf);
            }
        } else if (n > 0 && at[n] == 's') {
            ms = retry_parse_seconds(at, n + 1, 's');
        }
    }
    cJSON_Delete(root);
    return ms;
}

/* One Go duration unit at s: its length in *n and its size in ns; 0 if none. */
static double retry_go_unit(const char *s, size_t *n)
{
    static const struct {
        const char *name;
        double ns;
    } units[] = {{"ns", 1},   {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3},
                 {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},        {"h", 3600e9}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        size_t l = strlen(units[i].name);
        if (strncmp(s, units[i].name, l) == 0) {
            *n = l;
            return units[i].ns;
        }
    }
    return 0;
}

int64_t retry_go_duration_ms(const char *value)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    const char *s = value;
    double ns = 0;
    if (strcmp(s, "0") == 0)
        return 0;
    while (*s && *s != ' ' && *s != '\t' && *s != '\r') {
        size_t digits = strspn(s, "0123456789"), frac = 0;
        const char *num = s;
        s += digits;
        if (*s == '.') {
            frac = strspn(s + 1, "0123456789");
            s += 1 + frac;
        }
        if (digits + frac == 0 || (size_t)(s - num) > 30)
            return -1;
        char buf[32];
        memcpy(buf, num, (size_t)(s - num));
        buf[s - num] = '\0';
        size_t ul;
        double unit = retry_go_unit(s, &ul);
        if (unit == 0)
            return -1;
        ns += strtod(buf, NULL) * unit;
        s += ul;
        if (!isfinite(ns) || ns / 1e6 > RETRY_ABSURD_MS)
            return -1;
    }
    if (s == value || (*s && strspn(s, " \t\r\n") != strlen(s)))
        return -1;
    double msd = ns / 1e6;
    int64_t ms = (int64_t)msd;
    return retry_clamp((double)ms < msd ? ms + 1 : ms);
}

/* "+HH:MM" / "-HH:MM" / "Z" at s -> offset east of UTC in seconds in *off; 0 or -1. */
static int retry_tz_offset(const char *s, long *off)
{
    if ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0') {
        *off = 0;
        return 0;
    }
    if ((s[0] != '+' && s[0] != '-') || !isdigit((unsigned char)s[1]) ||
        !isdigit((unsigned char)s[2]) || s[3] != ':' || !isdigit((unsigned char)s[4]) ||
        !isdigit((unsigned char)s[5]) || s[6] != '\0')
        return -1;
    long h = (s[1] - '0') * 10 + (s[2] - '0'), m = (s[4] - '0') * 10 + (s[5] - '0');
    if (h > 23 || m > 59)
        return -1;
    *off = (s[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
    return 0;
}

int64_t retry_rfc3339_delay_ms(const char *value, int64_t now_ms)
{
    if (!value || strlen(value) > 64)
        return -1;
    while (*value == ' ')
        value++;
    char buf[72];
    util_strlcpy(buf, value, sizeof(buf));
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\r' || buf[n - 1] == '\n'))
        buf[--n] = '\0';
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end)
        return -1;
    double frac = 0;
    if (*end == '.') {
        size_t d = strspn(end + 1, "0123456789");
        if (d == 0 || d > 9)
            return -1;
        frac = strtod(end, NULL);
        end += 1 + d;
    }
    long off;
    if (retry_tz_offset(end, &off) < 0)
        return -1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    double at_ms = ((double)t - (double)off + frac) * 1000.0;
    double delta = at_ms - (double)now_ms;
    if (delta <= 0)
        return 0;
    if (delta > RETRY_ABSURD_MS)
        return RETRY_MAX_MS;
    int64_t ms = (int64_t)delta;
    return retry_clamp((double)ms < delta ? ms + 1 : ms);
}

int64_t retry_backoff_ms(unsigned attempt, uint32_t rnd)
{
    /* 1000 << 20 already exceeds the cap; stop shifting before it can overflow. */
    int64_t base = attempt >= 20 ? RETRY_MAX_MS : 1000LL << attempt;
    if (base > RETRY_MAX_MS)
        base = RETRY_MAX_MS;
    /* factor in [0.75, 1.25): spreads workers that hit the same limit at once */
    double factor = 0.75 + 0.5 * ((double)rnd / 4294967296.0);
    return retry_clamp((int64_t)((double)base * factor));
}
