/*
 * fuzz_retry.c - libFuzzer target for the 429 delay parsers.
 *
 * Each input is a Retry-After header value (as a C string, like the one
 * http.c captures) and a Gemini error body (retry_gemini_delay_ms,
 * retry_gemini_is_daily_quota, retry_gemini_message_delay_ms), and a
 * rate-limit reset (a Go duration, an RFC 3339 instant). Delays must be -1 ("not understood") or
 * within [0, RETRY_MAX_MS]; the daily-quota answer must be 0 or 1.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llm/retry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_delay_ok(int64_t ms)
{
    if (ms != -1 && (ms < 0 || ms > RETRY_MAX_MS))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *value = malloc(size + 1);
    if (!value)
        return 0;
    memcpy(value, data, size);
    value[size] = '\0';
    /* now: a fixed 2024 instant, the epoch, and far in the future */
    static const int64_t nows[] = {1700000000, 0, INT64_C(253402300799)};
    for (size_t i = 0; i < sizeof(nows) / sizeof(nows[0]); i++)
        fuzz_delay_ok(retry_after_parse_ms(value, nows[i]));
    for (size_t i = 0; i < sizeof(nows) / sizeof(nows[0]); i++)
        fuzz_delay_ok(retry_rfc3339_delay_ms(value, nows[i] * 1000));
    fuzz_delay_ok(retry_go_duration_ms(value));
    fuzz_delay_ok(retry_after_ms_parse(value));
    free(value);
    fuzz_delay_ok(retry_gemini_message_delay_ms((const char *)data, size));

    fuzz_delay_ok(retry_gemini_delay_ms((const char *)data, size));
    int daily = retry_gemini_is_daily_quota((const char *)data, size);
    if (daily != 0 && daily != 1)
        abort();
    return 0;
}
