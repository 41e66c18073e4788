/*
 * budget_url.c - the `--budget redis://HOST[:PORT][/DB]` URL, parsed strictly.
 *
 * Strict because a typo here otherwise shows up as a run that quietly paces
 * itself alone: every refusal is one line naming the URL and the part that is
 * wrong. Not accepted, on purpose: rediss:// (no TLS in this client), a user
 * or password (it would sit in `ps` output, shell history and logs; a Redis
 * that needs one is for a later `budget_password_env`), unix sockets, query
 * strings and fragments.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "llm/budget_redis.h"

#define URL_SCHEME "redis://"

static int url_fail(char *err, size_t errlen, const char *url, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int url_fail(char *err, size_t errlen, const char *url, const char *fmt, ...)
{
    char why[192];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (err && errlen)
        snprintf(err, errlen, "budget URL \"%.200s\": %s", url, why);
    return -EINVAL;
}

/* A decimal number of 1..maxdigits digits into *v, nothing else. */
static int url_number(const char *s, size_t n, long max, long *v)
{
    long x = 0;

    if (n == 0 || n > 10)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    if (x > max)
        return -1;
    *v = x;
    return 0;
}

static int url_host_char(char ch, int ipv6)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return 1;
    return ipv6 ? ch == ':' || ch == '.' : ch == '-' || ch == '.' || ch == '_';
}

/* HOST of [s, s + n): a name or IPv4, or "[IPv6]". */
static int url_host(const char *url, const char *s, size_t n, struct budget_url *u, char *err,
                    size_t errlen)
{
    int ipv6 = n > 0 && s[0] == '[';

    if (ipv6) {
        if (n < 3 || s[n - 1] != ']')
            return url_fail(err, errlen, url, "IPv6 host must be written [ADDRESS]");
        s++;
        n -= 2;
    }
    if (n == 0)
        return url_fail(err, errlen, url, "no host");
    if (n >= sizeof(u->host))
        return url_fail(err, errlen, url, "host longer than %zu bytes", sizeof(u->host) - 1);
    for (size_t i = 0; i < n; i++)
        if (!url_host_char(s[i], ipv6))
            return url_fail(err, errlen, url, "host \"%.*s\" has a '%c'", (int)n, s, s[i]);
    memcpy(u->host, s, n);
    u->host[n] = '\0';
    return 0;
}

int budget_redis_parse_url(const char *url, struct budget_url *u, char *err, size_t errlen)
{
    const char *auth, *end, *colon, *slash, *hostend;
    long v;
    int rc;

    if (!url || !*url)
        return url_fail(err, errlen, "", "empty (expected redis://HOST:PORT[/DB])");
    memset(u, 0, sizeof(*u));
    u->port = 6379;
    if (strncmp(url, "rediss://", 9) == 0)
        return url_fail(err, errlen, url, "TLS (rediss://) is not supported");
    if (strncmp(url, URL_SCHEME, strlen(URL_SCHEME)) != 0)
        return url_fail(err, errlen, url, "must start with " URL_SCHEME);
    auth = url + strlen(URL_SCHEME);
    if (strpbrk(auth, "?#"))
        return url_fail(err, errlen, url, "query and fragment are not supported");
    slash = strchr(auth, '/');
    end = slash ? slash : auth + strlen(auth);
    const char *at = memrchr(auth, '@', (size_t)(end - auth));
    if (at) {
        /* The message must not repeat the password it refuses: "***" stands for it. */
        char shown[256];
        snprintf(shown, sizeof(shown), URL_SCHEME "***%.200s", at);
        return url_fail(err, errlen, shown,
                        "a user or password in the URL is not supported (it would leak "
                        "into ps and logs)");
    }
    /* The port's colon is the first one after the host (after the ']' of IPv6). */
    hostend = auth;
    if (auth[0] == '[') {
        hostend = memchr(auth, ']', (size_t)(end - auth));
        if (!hostend)
            return url_fail(err, errlen, url, "IPv6 host must be written [ADDRESS]");
        hostend++;
        if (hostend < end && *hostend != ':')
            return url_fail(err, errlen, url, "'%c' after the IPv6 host", *hostend);
    }
    colon = memchr(hostend, ':', (size_t)(end - hostend));
    rc = url_host(url, auth, (size_t)((colon ? colon : end) - auth), u, err, errlen);
    if (rc)
        return rc;
    if (colon) {
        if (url_number(colon + 1, (size_t)(end - colon - 1), 65535, &v) || v == 0)
            return url_fail(err, errlen, url, "port \"%.*s\" is not a number in 1..65535",
                            (int)(end - colon - 1), colon + 1);
        u->port = (int)v;
    }
    if (slash) {
        if (url_number(slash + 1, strlen(slash + 1), 2147483647L, &v))
            return url_fail(err, errlen, url, "database \"%s\" is not a number", slash + 1);
        u->db = (int)v;
    }
    return 0;
}
