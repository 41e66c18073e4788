/*
 * fuzz_reply.c - libFuzzer target for the provider reply parsers.
 *
 * Each input is read as an OpenAI chat-completions body, a Gemini
 * generateContent body and an Anthropic Messages body. Success must hand back
 * a NUL-terminated string; failure must be -EBADMSG with a non-empty one-line
 * message and no text. It is also explained as each protocol's error body
 * (400 and 429): type and message must come back one line each.
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

static void fuzz_explain(const struct llm_provider *p, long status, const uint8_t *data,
                         size_t size)
{
    struct provider_error pe = {.retry_ms = -1};
    p->explain(status, (const char *)data, size, &pe);
    if (strchr(pe.type, '\n') || strchr(pe.message, '\n') || pe.retry_ms < -1)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct llm_provider *const protos[] = {&provider_openai, &provider_gemini,
                                                        &provider_anthropic};
    for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
        fuzz_one(protos[i], data, size);
        fuzz_explain(protos[i], 400, data, size);
        fuzz_explain(protos[i], 429, data, size);
    }
    return 0;
}
