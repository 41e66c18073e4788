/*
 * fuzz_credfile.c - libFuzzer target for the credentials.json parser.
 *
 * Every input goes through credfile_parse twice (no key limit, then a limit of
 * one key, as AGENTOS_CREDENTIAL_LIMIT=1 does). The contract checked on top of
 * "no crash, no leak": success means a non-empty pool whose every entry has a
 * base URL and a secret; failure means -errno with a non-empty one-line
 * message that never quotes the secret the environment variable holds.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llm/credfile.h"

#define FUZZ_SECRET "SECRET-MARKER-FUZZ"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    /* the corpus names these variables in api_key_env */
    setenv("AGENTOS_CORPUS_KEY", FUZZ_SECRET, 1);
    unsetenv("AGENTOS_CORPUS_UNSET");
    return 0;
}

/*
 * quoted_ok: the input itself holds the marker, e.g. inside an environment variable's
 * name, which messages may quote; only the variable's value is secret.
 */
static void fuzz_check(int rc, const struct cred_file *cf, const char *err, size_t limit,
                       int quoted_ok)
{
    if (rc == 0) {
        if (cf->n == 0 || !cf->v || (limit && cf->n > limit))
            abort();
        for (size_t i = 0; i < cf->n; i++)
            if (!cf->v[i].base_url || !cf->v[i].secret || !cf->v[i].id[0] ||
                cf->v[i].concurrency == 0)
                abort();
        return;
    }
    if (rc >= 0 || !err[0] || strchr(err, '\n') || (!quoted_ok && strstr(err, FUZZ_SECRET)))
        abort();
    if (cf->n != 0 || cf->v)
        abort(); /* a failed parse must not hand back a half-loaded pool */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t limits[] = {0, 1};
    int quoted_ok = memmem(data, size, FUZZ_SECRET, strlen(FUZZ_SECRET)) != NULL;
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        struct cred_file cf;
        char err[512] = "";
        int rc =
            credfile_parse("fuzz.json", (const char *)data, size, limits[i], &cf, err, sizeof(err));
        fuzz_check(rc, &cf, err, limits[i], quoted_ok);
        credfile_free(&cf);
    }
    return 0;
}
