/*
 * protocol.c - the OpenAI and Gemini wire formats agentos-mockllm speaks, and
 * the shapes every route shares.
 *
 * OpenAI chat-completions and Gemini generateContent differ in where the prompt
 * sits in a request ("messages[].content", a string or content parts, against
 * "contents[].parts[].text"), where the model is named (the body against the URL),
 * and how a success and an error look. This file reads the prompt out of a request
 * and builds reply bodies in the caller's format, so a client's parser meets the
 * shapes the real providers send, including Gemini's status names and "details"
 * and OpenAI's "type"/"param"/"code". The Anthropic format is anthropic.c's; the
 * dispatch between the three is here. It also holds the stand-in's one token
 * counting rule, ceil(bytes / 4), so usage fields, /stats and the token bucket
 * agree with each other.
 */
#include "tools/mockllm/mockllm.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shm/util.h"

uint64_t mock_tokens(size_t len)
{
    return ((uint64_t)len + 3) / 4;
}

void mock_reply_json(struct mock_reply *rp, unsigned status, cJSON *o)
{
    rp->status = status;
    rp->ctype = "application/json";
    rp->body = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
}

void mock_reply_header(struct mock_reply *rp, const char *name, const char *fmt, ...)
{
    if (rp->nhdr >= MOCK_HDR_MAX)
        return;
    struct mock_hdr *h = &rp->hdr[rp->nhdr++];
    util_strlcpy(h->name, name, sizeof(h->name));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->val, sizeof(h->val), fmt, ap);
    va_end(ap);
}

static const char *mock_gemini_status(unsigned status)
{
    switch (status) {
    case 400:
    case 413:
    case 422:
        return "INVALID_ARGUMENT";
    case 401:
        return "UNAUTHENTICATED";
    case 403:
        return "PERMISSION_DENIED";
    case 404:
        return "NOT_FOUND";
    case 429:
        return "RESOURCE_EXHAUSTED";
    default:
        return status >= 500 ? "UNAVAILABLE" : "FAILED_PRECONDITION";
    }
}

cJSON *mock_gemini_error(unsigned status, const char *msg, cJSON **details)
{
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddNumberToObject(e, "code", status);
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "status", mock_gemini_status(status));
    if (details)
        *details = cJSON_AddArrayToObject(e, "details");
    return o;
}

cJSON *mock_openai_error(const char *msg, const char *type, const char *code)
{
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", type);
    cJSON_AddNullToObject(e, "param");
    if (code)
        cJSON_AddStringToObject(e, "code", code);
    else
        cJSON_AddNullToObject(e, "code");
    return o;
}

void mock_error_code(struct mock_reply *rp, enum mock_proto proto, unsigned status, const char *msg,
                     const char *code)
{
    if (proto == PROTO_GEMINI) {
        mock_reply_json(rp, status, mock_gemini_error(status, msg, NULL));
        return;
    }
    if (proto == PROTO_ANTHROPIC) {
        mock_anthropic_error(rp, status, msg);
        return;
    }
    const char *type = status == 429   ? "requests"
                       : status >= 500 ? "server_error"
                                       : "invalid_request_error";
    if (!code)
        code = status == 401 ? "invalid_api_key" : status == 429 ? "rate_limit_exceeded" : NULL;
    mock_reply_json(rp, status, mock_openai_error(msg, type, code));
}

void mock_error(struct mock_reply *rp, enum mock_proto proto, unsigned status, const char *msg)
{
    mock_error_code(rp, proto, status, msg, NULL);
}

int mock_add_text(char **buf, size_t *len, const cJSON *v, int skip_typed)
{
    if (cJSON_IsArray(v)) {
        const cJSON *part;
        cJSON_ArrayForEach(part, v)
        {
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
            if (skip_typed && cJSON_IsString(type) && strcmp(type->valuestring, "text") != 0)
                continue;
            if (mock_add_text(buf, len, cJSON_GetObjectItemCaseSensitive(part, "text"), 0) != 0)
                return -EINVAL;
        }
        return 0;
    }
    if (!cJSON_IsString(v))
        return -EINVAL;
    size_t n = strlen(v->valuestring);
    char *nb = realloc(*buf, *len + n + 2);
    if (!nb)
        return -ENOMEM;
    memcpy(nb + *len, v->valuestring, n);
    *len += n;
    nb[(*len)++] = '\n';
    nb[*len] = '\0';
    *buf = nb;
    return 0;
}

const char *mock_prompt(const cJSON *doc, enum mock_proto proto, char **prompt, char *model,
                        size_t msize)
{
    if (proto == PROTO_ANTHROPIC)
        return mock_anthropic_prompt(doc, prompt, model, msize);
    int gemini = proto == PROTO_GEMINI;
    size_t len = 0;
    const cJSON *m, *list = cJSON_GetObjectItemCaseSensitive(doc, gemini ? "contents" : "messages");
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0)
        return gemini ? "\"contents\" must be a non-empty array"
                      : "\"messages\" must be a non-empty array";
    cJSON_ArrayForEach(m, list)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, gemini ? "parts" : "content");
        if (!cJSON_IsObject(m) || mock_add_text(prompt, &len, t, 0) != 0)
            return gemini ? "every content needs \"parts\" with \"text\""
                          : "every message needs a string \"content\"";
    }
    if (!gemini) {
        const cJSON *mo = cJSON_GetObjectItemCaseSensitive(doc, "model");
        if (mo && !cJSON_IsString(mo))
            return "\"model\" must be a string";
        util_strlcpy(model, mo ? mo->valuestring : "mock-model", msize);
    }
    return *prompt ? NULL : "empty prompt";
}

static cJSON *mock_gemini_success(const char *model, const char *text, uint64_t ptok, uint64_t ctok)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *cand = cJSON_CreateObject(), *content = cJSON_AddObjectToObject(cand, "content");
    cJSON *part = cJSON_CreateObject(), *u;
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "candidates"), cand);
    cJSON_AddStringToObject(content, "role", "model");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(content, "parts"), part);
    cJSON_AddStringToObject(part, "text", text);
    cJSON_AddStringToObject(cand, "finishReason", "STOP");
    cJSON_AddNumberToObject(cand, "index", 0);
    u = cJSON_AddObjectToObject(o, "usageMetadata");
    cJSON_AddNumberToObject(u, "promptTokenCount", (double)ptok);
    cJSON_AddNumberToObject(u, "candidatesTokenCount", (double)ctok);
    cJSON_AddNumberToObject(u, "totalTokenCount", (double)(ptok + ctok));
    cJSON_AddStringToObject(o, "modelVersion", model);
    return o;
}

static cJSON *mock_openai_success(const char *model, const char *text, uint64_t ptok, uint64_t ctok)
{
    static uint64_t seq;
    char id[48];
    snprintf(id, sizeof(id), "chatcmpl-mock-%llu",
             (unsigned long long)__atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
    cJSON *o = cJSON_CreateObject();
    cJSON *ch = cJSON_CreateObject(), *msg = cJSON_AddObjectToObject(ch, "message"), *u;
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "object", "chat.completion");
    cJSON_AddNumberToObject(o, "created", (double)time(NULL));
    cJSON_AddStringToObject(o, "model", model);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), ch);
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON_AddStringToObject(msg, "role", "assistant");
    cJSON_AddStringToObject(msg, "content", text);
    cJSON_AddStringToObject(ch, "finish_reason", "stop");
    u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)ptok);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)ctok);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(ptok + ctok));
    return o;
}

void mock_success(struct mock_reply *rp, enum mock_proto proto, const char *model, const char *text,
                  uint64_t ptok, uint64_t ctok)
{
    if (proto == PROTO_ANTHROPIC)
        mock_anthropic_success(rp, model, text, ptok, ctok);
    else if (proto == PROTO_GEMINI)
        mock_reply_json(rp, 200, mock_gemini_success(model, text, ptok, ctok));
    else
        mock_reply_json(rp, 200, mock_openai_success(model, text, ptok, ctok));
}
