/*
 * test_http_slow.c - http_post_llm against a slow ("thinking") model, the
 * opposite of test_hostile_http.c's misbehaving server (both use
 * hostile_fixture.h's): silence for minutes, then a good reply, which must be
 * accepted as long as it comes within timeout_s; silence past the timeout must
 * still end with -ETIMEDOUT.
 *
 * To test minutes in seconds this file defines clock_gettime, which libcurl
 * calls for all its timers: in the main thread, while fast_clock(1) is in
 * force, monotonic time runs FAST_CLOCK_X times faster (the server thread
 * keeps real time, so its delays are real). Time stays monotonic after: once
 * the fast clock is off, the time it gained stays added, so the tests after
 * test_slow_first_byte see a clock some minutes ahead.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "llm/http.h"
#include "llm/provider.h"
#include "shm/util.h"
#include "hostile_fixture.h"

#define FAST_CLOCK_X 100 /* THINK_MS is 250 s on curl's clock */

/* ---- a fast clock for libcurl -------------------------------------------------------------- */

/* Per thread: only the thread that runs curl sees fast time. */
static _Thread_local int fast_on;
static _Thread_local int64_t fast_t0, fast_extra; /* fast_extra keeps time monotonic after */

int clock_gettime(clockid_t id, struct timespec *ts)
{
    if (syscall(SYS_clock_gettime, id, ts) != 0)
        return -1;
    if (id != CLOCK_MONOTONIC && id != CLOCK_MONOTONIC_RAW)
        return 0;
    int64_t ns = ts_ns(ts), add = fast_extra;
    if (fast_on)
        add += (ns - fast_t0) * (FAST_CLOCK_X - 1);
    ns += add;
    ts->tv_sec = (time_t)(ns / UTIL_NS_PER_SEC);
    ts->tv_nsec = (long)(ns % UTIL_NS_PER_SEC);
    return 0;
}

static void fast_clock(int on)
{
    int64_t now = real_mono_ns();
    if (on) {
        fast_t0 = now;
    } else if (fast_on) {
        fast_extra += (now - fast_t0) * (FAST_CLOCK_X - 1);
    }
    fast_on = on;
}

/* ---- the cases -------------------------------------------------------------------------- */

/*
 * A model that thinks 250 s (on curl's clock) before its first byte, within a
 * 600 s timeout: the reply counts. A low-speed limit shorter than the timeout
 * (it was min(timeout, 120 s)) cut such a request off while it waited.
 */
static void test_slow_first_byte(void **state)
{
    (void)state;
    int64_t t0 = real_mono_ns();
    fast_clock(1);
    struct outcome o = request_t(H_THINK, &provider_openai, 600);
    fast_clock(0);
    long real_ms = (long)((real_mono_ns() - t0) / UTIL_NS_PER_MS);
    print_message("# think: %ld ms real\n", real_ms);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.r.status, 200);
    assert_true(real_ms >= THINK_MS - 100 && real_ms < THINK_MS + MARGIN_MS);
    char *text = NULL, err[256] = "";
    assert_int_equal(
        provider_parse_text(&provider_openai, o.r.body, o.r.body_len, &text, err, sizeof(err)), 0);
    assert_string_equal(text, "thought");
    free(text);
    http_reply_free(&o.r);
}

/* Silence past the timeout: -ETIMEDOUT, and the error says no reply came. Runs last: the
 * server thread is still "thinking" when it returns (server_stop ends that). */
static void test_silence_times_out(void **state)
{
    (void)state;
    struct outcome o = request_t(H_THINK, &provider_openai, 1);
    assert_non_null(strstr(o.r.error, "no reply within 1s"));
    assert_clean_failure(&o, -ETIMEDOUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_first_byte),
        cmocka_unit_test(test_silence_times_out),
    };
    return cmocka_run_group_tests(tests, server_start, server_stop);
}
