/*
 * test_secret.c - API keys live in pages left out of core dumps (issue 9,
 * finding 10): secret_dup's copy and every secret credfile_parse keeps are in
 * a mapping whose VmFlags (/proc/self/smaps) carry "dd" (MADV_DONTDUMP),
 * and secret_free gives the pages back.
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

#include "llm/credfile.h"
#include "llm/secret.h"

/* 1 if addr is in a mapping marked dd, 0 if in one that is not, -1 if in none. */
static int dontdump_at(const void *addr)
{
    FILE *f = fopen("/proc/self/smaps", "re");
    char line[512];
    int in = 0, found = -1;
    uintptr_t a = (uintptr_t)addr;
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = a >= lo && a < hi;
            continue;
        }
        if (in && !strncmp(line, "VmFlags:", 8)) {
            found = strstr(line, " dd") != NULL;
            break;
        }
    }
    fclose(f);
    return found;
}

static void test_secret_dup_is_dontdump(void **state)
{
    (void)state;
    char *s = secret_dup("sk-test-0123456789");
    assert_non_null(s);
    assert_string_equal(s, "sk-test-0123456789");
    assert_int_equal(dontdump_at(s), 1);
    char *heap = malloc(32);
    assert_int_equal(dontdump_at(heap), 0); /* the check can tell */
    free(heap);
    secret_free(s);
    assert_int_equal(dontdump_at(s), -1); /* unmapped */
    secret_free(NULL);
}

static void test_loaded_keys_are_dontdump(void **state)
{
    (void)state;
    static const char text[] =
        "{\"credentials\":[{\"id\":\"a\",\"provider\":\"openai\",\"model\":\"m\","
        "\"base_url\":\"http://127.0.0.1:9/v1\",\"api_key\":\"sk-one-0123456789\"},"
        "{\"id\":\"b\",\"provider\":\"gemini\",\"model\":\"g\",\"api_key\":\"sk-two-0123456789\"}]"
        "}";
    struct cred_file cf;
    char err[256];
    assert_int_equal(credfile_parse("t", text, strlen(text), 0, &cf, err, sizeof(err)), 0);
    assert_int_equal(cf.n, 2);
    for (size_t i = 0; i < cf.n; i++)
        assert_int_equal(dontdump_at(cf.v[i].secret), 1);
    credfile_free(&cf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_dup_is_dontdump),
        cmocka_unit_test(test_loaded_keys_are_dontdump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
