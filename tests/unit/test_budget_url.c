/*
 * test_budget_url.c - unit tests of the `--budget redis://HOST[:PORT][/DB]`
 * parser (llm/budget_url.c): the URLs it takes and what they mean, and the
 * ones it refuses, each with an error that names the URL (a password shown as
 * "***") and says what is wrong. No server: test_budget_redis.c opens handles.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "llm/budget_redis.h"

/* ---- URL ----------------------------------------------------------------- */

static void test_url_good(void **state)
{
    static const struct {
        const char *url, *host;
        int port, db;
    } ok[] = {
        {"redis://127.0.0.1:6379", "127.0.0.1", 6379, 0},
        {"redis://localhost", "localhost", 6379, 0},
        {"redis://cache.example.org:7000/3", "cache.example.org", 7000, 3},
        {"redis://redis_1:6380", "redis_1", 6380, 0},
        {"redis://[::1]:6380/1", "::1", 6380, 1},
        {"redis://[::1]", "::1", 6379, 0},
    };
    struct budget_url u;
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(budget_redis_parse_url(ok[i].url, &u, err, sizeof(err)), 0);
        assert_string_equal(u.host, ok[i].host);
        assert_int_equal(u.port, ok[i].port);
        assert_int_equal(u.db, ok[i].db);
    }
}

static void test_url_bad(void **state)
{
    static const struct {
        const char *url, *says;
    } bad[] = {
        {"", "empty"},
        {"http://h:1", "must start with redis://"},
        {"rediss://h:1", "TLS"},
        {"redis://user:secret@h:1", "password"},
        {"redis://:secret@h:1/0", "password"},
        {"redis://h:0", "port \"0\""},
        {"redis://h:65536", "1..65535"},
        {"redis://h:abc", "port \"abc\""},
        {"redis://h:", "port \"\""},
        {"redis://h:1:2", "port \"1:2\""},
        {"redis://:6379", "no host"},
        {"redis://", "no host"},
        {"redis://h:1/x", "database \"x\""},
        {"redis://h:1/", "database \"\""},
        {"redis://h:1/0/1", "database \"0/1\""},
        {"redis://h:1?db=2", "query"},
        {"redis://h%20:1", "has a '%'"},
        {"redis://[::1:6379", "[ADDRESS]"},
        {"redis://[::1]x", "after the IPv6"},
        {"redis://[]:1", "[ADDRESS]"},
    };
    struct budget_url u;
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(budget_redis_parse_url(bad[i].url, &u, err, sizeof(err)), -EINVAL);
        /* The URL is named, except a password: that is shown as "***" */
        int named = strchr(bad[i].url, '@') ? strstr(err, "***@h:1") && !strstr(err, "secret")
                                            : strstr(err, bad[i].url) != NULL;
        if (!strstr(err, bad[i].says) || !named || strchr(err, '\n'))
            fail_msg("URL \"%s\": error \"%s\" should say \"%s\"", bad[i].url, err, bad[i].says);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_good),
        cmocka_unit_test(test_url_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
