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
