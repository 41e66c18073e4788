/*
 * anthropic.c - the Anthropic Messages wire format agentos-mockllm speaks.
 *
 * POST /v1/messages carries {"model","max_tokens","messages":[{"role","content"}],
 * "system"?}, where a content (and the system prompt) is a string or an array of
 * blocks of which the {"type":"text","text":..} ones hold the prompt. The reply is
 * a "message" object with one text block, stop_reason "end_turn" and usage
 * {input_tokens, output_tokens}; errors are {"type":"error","error":{"type",
 * "message"}} with Anthropic's type names, overloaded_error (HTTP 529) included.
 * The required headers (x-api-key, anthropic-version) are checked by completion.c,
 * which knows the order of the checks.
 */
#include "tools/mockllm/mockllm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm/util.h"

static const char *mock_anthropic_type(unsigned status)
{
    switch (status) {
    case 400:
    case 422:
        return "invalid_request_error";
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 529:
        return "overloaded_error";
    default:
        return "api_error";
    }
}

void mock_anthropic_error(struct mock_reply *rp, unsigned status, const char *msg)
{
    cJSON *o = cJSON_CreateObject(), *e;
    cJSON_AddStringToObject(o, "type", "error");
    e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "type", mock_anthropic_type(status));
    cJSON_AddStringToObject(e, "message", msg);
    mock_reply_json(rp, status, o);
}

/* The messages' texts after the system prompt's, so both count as input tokens. */
static const char *mock_anthropic_texts(const cJSON *doc, char **prompt)
{
    size_t len = 0;
    const cJSON *m, *sys = cJSON_GetObjectItemCaseSensitive(doc, "system");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "messages");
    if (sys && mock_add_text(prompt, &len, sys, 1) != 0)
        return "system: Input should be a valid string or a list of text blocks";
    if (!cJSON_IsArray(list))
        return "messages: Field required";
    if (cJSON_GetArraySize(list) == 0)
        return "messages: at least one message is required";
    cJSON_ArrayForEach(m, list)
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role))
            return "messages: every message needs a \"role\"";
        if (mock_add_text(prompt, &len, cJSON_GetObjectItemCaseSensitive(m, "content"), 1) != 0)
            return "messages: every message needs a \"content\" string or text blocks";
    }
    return *prompt ? NULL : "messages: no text content";
}

const char *mock_anthropic_prompt(const cJSON *doc, char **prompt, char *model, size_t msize)
{
    const cJSON *mo = cJSON_GetObjectItemCaseSensitive(doc, "model");
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(doc, "max_tokens");
    if (!mo)
        return "model: Field required";
    if (!cJSON_IsString(mo))
        return "model: Input should be a valid string";
    if (!mt)
        return "max_tokens: Field required";
    if (!cJSON_IsNumber(mt) || mt->valuedouble != (double)(long long)mt->valuedouble ||
        mt->valuedouble < 1)
        return "max_tokens: Input should be a positive integer";
    util_strlcpy(model, mo->valuestring, msize);
    return mock_anthropic_texts(doc, prompt);
}

void mock_anthropic_success(struct mock_reply *rp, const char *model, const char *text,
                            uint64_t ptok, uint64_t ctok)
{
    static uint64_t seq;
    char id[48];
    snprintf(id, sizeof(id), "msg_mock_%llu",
             (unsigned long long)__atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
    cJSON *o = cJSON_CreateObject(), *block = cJSON_CreateObject(), *u;
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "type", "message");
    cJSON_AddStringToObject(o, "role", "assistant");
    cJSON_AddStringToObject(o, "model", model);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "content"), block);
    cJSON_AddStringToObject(block, "type", "text");
    cJSON_AddStringToObject(block, "text", text);
    cJSON_AddStringToObject(o, "stop_reason", "end_turn");
    cJSON_AddNullToObject(o, "stop_sequence");
    u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "input_tokens", (double)ptok);
    cJSON_AddNumberToObject(u, "output_tokens", (double)ctok);
    mock_reply_json(rp, 200, o);
}
