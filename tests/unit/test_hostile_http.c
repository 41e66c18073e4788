/*
 * test_hostile_http.c - http_post_llm and http_extract_text against a server
 * that misbehaves on purpose (hostile_fixture.h's).
 *
 * The server stalls mid-body or mid-headers, drips a byte at a time, closes
 * early (Content-Length larger than what it sends) or without a reply, sends a
 * valid chunked reply, a broken chunked reply, a body over HTTP_BODY_MAX, a
 * header over curl's limit, garbage instead of HTTP, a 200 with malformed
 * JSON, or a 429 with a garbage Retry-After. Every request must end within
 * timeout + a margin with a clean result: -ETIMEDOUT / -EIO / -EMSGSIZE with
 * a one-line, key-free error and no body, or (chunked) a reply whose text
 * extracts. A slow model, which must not be cut off, is test_http_slow.c's.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llm/http.h"
#include "llm/provider.h"
#include "llm/retry.h"
#include "hostile_fixture.h"

/* The reply's Retry-After header ("" when absent). */
static const char *retry_after_of(const struct http_reply *r)
{
    static char v[128];
    http_reply_header(r, "retry-after", v, sizeof(v));
    return v;
}

/* ---- the cases -------------------------------------------------------------------------- */

static void test_stall_mid_body(void **state)
{
    (void)state;
    struct outcome o = request(H_STALL_BODY, &provider_openai);
    assert_non_null(strstr(o.r.error, "reply not complete within"));
    assert_clean_failure(&o, -ETIMEDOUT);
    assert_true(o.ms >= TIMEOUT_S * 1000 - 200); /* it did wait for the server */
}

static void test_stall_mid_headers(void **state)
{
    (void)state;
    struct outcome o = request(H_STALL_HEADERS, &provider_gemini);
    assert_clean_failure(&o, -ETIMEDOUT);
}

static void test_drip_feed(void **state)
{
    (void)state;
    /* a byte every 300 ms beats the low-speed limit; the total timeout must still end it */
    struct outcome o = request(H_DRIP, &provider_openai);
    assert_clean_failure(&o, -ETIMEDOUT);
}

static void test_closed_early(void **state)
{
    (void)state;
    struct outcome o = request(H_CLOSE_EARLY, &provider_openai);
    assert_clean_failure(&o, -EIO);
}

static void test_closed_without_reply(void **state)
{
    (void)state;
    struct outcome o = request(H_CLOSE_NO_REPLY, &provider_gemini);
    assert_clean_failure(&o, -EIO);
}

static void chunked_case(const struct llm_provider *p, const char *body, const char *want)
{
    atomic_store(&S.body, body);
    struct outcome o = request(H_CHUNKED, p);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.r.status, 200);
    assert_int_equal(o.r.body_len, strlen(body));
    char *text = NULL, err[256] = "";
    assert_int_equal(provider_parse_text(p, o.r.body, o.r.body_len, &text, err, sizeof(err)), 0);
    assert_string_equal(text, want);
    free(text);
    http_reply_free(&o.r);
}

static void test_chunked_openai(void **state)
{
    (void)state;
    chunked_case(&provider_openai,
                 "{\"choices\":[{\"message\":{\"role\":\"assistant\","
                 "\"content\":\"chunked reply, split over three chunks\"}}]}",
                 "chunked reply, split over three chunks");
}

static void test_chunked_gemini(void **state)
{
    (void)state;
    chunked_case(&provider_gemini,
                 "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"chun\"},"
                 "{\"text\":\"ked\"}],\"role\":\"model\"}}]}",
                 "chunked");
}

static void test_bad_chunked(void **state)
{
    (void)state;
    struct outcome o = request(H_BAD_CHUNKED, &provider_openai);
    assert_clean_failure(&o, -EIO);
}

static void test_huge_body(void **state)
{
    (void)state;
    struct outcome o = request(H_HUGE_BODY, &provider_openai);
    assert_clean_failure(&o, -EMSGSIZE);
}

static void test_huge_header(void **state)
{
    (void)state;
    struct outcome o = request(H_HUGE_HEADER, &provider_gemini);
    assert_clean_failure(&o, -EIO);
}

/* libcurl refuses a header line over its limit as CURLE_OUT_OF_MEMORY: the reason must say
 * what is wrong with the reply, not "Out of memory" (issue 9, finding 15). */
static void test_huge_header_says_so(void **state)
{
    (void)state;
    enum hmode modes[] = {H_HUGE_HEADER, H_HUGE_STATUS_LINE};
    for (size_t i = 0; i < 2; i++) {
        struct outcome o = request(modes[i], &provider_openai);
        assert_null(strcasestr(o.r.error, "out of memory"));
        assert_non_null(strstr(o.r.error, "header line over"));
        assert_non_null(strstr(o.r.error, "127.0.0.1:"));
        assert_clean_failure(&o, -EIO);
    }
}

static void test_garbage(void **state)
{
    (void)state;
    struct outcome o = request(H_GARBAGE, &provider_openai);
    assert_clean_failure(&o, -EIO);
}

static void test_bad_status_line(void **state)
{
    (void)state;
    struct outcome o = request(H_BAD_STATUS_LINE, &provider_gemini);
    assert_clean_failure(&o, -EIO);
}

static void malformed_case(const struct llm_provider *p)
{
    struct outcome o = request(H_MALFORMED_JSON, p);
    assert_int_equal(o.rc, 0); /* HTTP worked; the body is the problem */
    assert_int_equal(o.r.status, 200);
    char *text = NULL, err[256] = "";
    assert_int_equal(provider_parse_text(p, o.r.body, o.r.body_len, &text, err, sizeof(err)),
                     -EBADMSG);
    assert_null(text);
    assert_true(err[0] != '\0');
    assert_null(strchr(err, '\n'));
    http_reply_free(&o.r);
}

static void test_malformed_json_openai(void **state)
{
    (void)state;
    malformed_case(&provider_openai);
}

static void test_malformed_json_gemini(void **state)
{
    (void)state;
    malformed_case(&provider_gemini);
}

static void test_retry_after_garbage(void **state)
{
    (void)state;
    struct outcome o = request(H_RETRY_AFTER_GARBAGE, &provider_gemini);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.r.status, 429);
    assert_int_equal(strlen(retry_after_of(&o.r)), 127); /* cut to the caller's buffer */
    assert_int_equal(retry_after_parse_ms(retry_after_of(&o.r), 1700000000), -1);
    assert_int_equal(retry_gemini_delay_ms(o.r.body, o.r.body_len), -1);
    http_reply_free(&o.r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stall_mid_body),
        cmocka_unit_test(test_stall_mid_headers),
        cmocka_unit_test(test_drip_feed),
        cmocka_unit_test(test_closed_early),
        cmocka_unit_test(test_closed_without_reply),
        cmocka_unit_test(test_chunked_openai),
        cmocka_unit_test(test_chunked_gemini),
        cmocka_unit_test(test_bad_chunked),
        cmocka_unit_test(test_huge_body),
        cmocka_unit_test(test_huge_header),
        cmocka_unit_test(test_huge_header_says_so),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_bad_status_line),
        cmocka_unit_test(test_malformed_json_openai),
        cmocka_unit_test(test_malformed_json_gemini),
        cmocka_unit_test(test_retry_after_garbage),
    };
    return cmocka_run_group_tests(tests, server_start, server_stop);
}
