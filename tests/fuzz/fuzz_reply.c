/*
 * fuzz_reply.c - libFuzzer target for the provider reply parsers.
 *
 * Each input is read as an OpenAI chat-completions body and as a Gemini
 * generateContent body (http_extract_text for both providers). Success must
 * hand back a NUL-terminated string; failure must be -EBADMSG with a
 * non-empty one-line message and no text.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_one(enum cred_provider p, const uint8_t *data, size_t size)
{
    char *text = NULL;
    char err[256] = "";
    int rc = http_extract_text(p, (const char *)data, size, &text, err, sizeof(err));
    if (rc == 0) {
        if (!text || strlen(text) > size)
            abort(); /* the text is a part of the body: it cannot be longer */
    } else if (rc != -EBADMSG || text || !err[0] || strchr(err, '\n')) {
        abort();
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_one(PROVIDER_OPENAI, data, size);
    fuzz_one(PROVIDER_GEMINI, data, size);
    return 0;
}
