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

#include "llm/http.h"
#include "llm/provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_one(const struct llm_provider *p, const uint8_t *data, size_t size)
{
    char *text = NULL;
    char err[256] = "";
    int rc = provider_parse_text(p, (const char *)data, size, &text, err, sizeof(err));
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
    fuzz_one(&provider_openai, data, size);
    fuzz_one(&provider_gemini, data, size);
    return 0;
}
