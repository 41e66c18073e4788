/*
 * protocol.c - the two provider wire formats agentos-mockllm speaks.
 *
 * OpenAI chat-completions and Gemini generateContent differ in where the prompt
 * sits in a request ("messages[].content", a string or content parts, against
 * "contents[].parts[].text"), where the model is named (the body against the URL),
 * and how a success and an error look. This file reads the prompt out of a request
 * and builds reply bodies in the caller's format, so a client's parser meets the
 * shapes the real providers send, including Gemini's status names and "details".
 */
#include "tools/mockllm/mockllm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shm/util.h"
void mock_reply_json(struct mock_reply *rp, unsigned status, cJSON *o)
{
    rp->status = status;
    rp->ctype = "application/json";
    rp->body = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
}

static const char *mock_gemini_status(unsigned status)
{
    switch (status) {
    case 400:
        return "INVALID_ARGUMENT";
    case 401:
        return "UNAUTHENTICATED";
    case 403:
        return "PERMISSION_DENIED";
    case 404:
        return "NOT_FOUND";
    case 413:
        return "INVALID_ARGUMENT";
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

void mock_error(struct mock_reply *rp, int gemini, unsigned status, const char *msg)
{
    if (gemini) {
        mock_reply_json(rp, status, mock_gemini_error(status, msg, NULL));
        return;
    }
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type",
                            status == 429   ? "requests"
                            : status >= 500 ? "server_error"
                                            : "invalid_request_error");
    cJSON_AddNumberToObject(e, "code", status);
    mock_reply_json(rp, status, o);
}

/* Appends the text of a string or an OpenAI content-part array to *buf. */
static int mock_add_text(char **buf, size_t *len, const cJSON *v)
{
    if (cJSON_IsArray(v)) {
        const cJSON *part;
        cJSON_ArrayForEach(part, v)
        {
            if (mock_add_text(buf, len, cJSON_GetObjectItemCaseSensitive(part, "text")) != 0)
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

const char *mock_prompt(const cJSON *doc, int gemini, char **prompt, char *model, size_t msize)
{
    size_t len = 0;
    const cJSON *m, *list = cJSON_GetObjectItemCaseSensitive(doc, gemini ? "contents" : "messages");
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0)
        return gemini ? "\"contents\" must be a non-empty array"
                      : "\"messages\" must be a "
                        "non-empty array";
    cJSON_ArrayForEach(m, list)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, gemini ? "parts" : "content");
        if (!cJSON_IsObject(m) || mock_add_text(prompt, &len, t) != 0)
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

void mock_success(struct mock_reply *rp, int gemini, const char *model, const char *text,
                  size_t prompt_len)
{
    static uint64_t seq;
    double in_tok = (double)(prompt_len / 4 + 1), out_tok = (double)(strlen(text) / 4 + 1);
    cJSON *o = cJSON_CreateObject();
    if (gemini) {
        cJSON *cand = cJSON_CreateObject(), *content = cJSON_AddObjectToObject(cand, "content");
        cJSON *part = cJSON_CreateObject(), *u;
        cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "candidates"), cand);
        cJSON_AddStringToObject(content, "role", "model");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(content, "parts"), part);
        cJSON_AddStringToObject(part, "text", text);
        cJSON_AddStringToObject(cand, "finishReason", "STOP");
        cJSON_AddNumberToObject(cand, "index", 0);
        u = cJSON_AddObjectToObject(o, "usageMetadata");
        cJSON_AddNumberToObject(u, "promptTokenCount", in_tok);
        cJSON_AddNumberToObject(u, "candidatesTokenCount", out_tok);
        cJSON_AddNumberToObject(u, "totalTokenCount", in_tok + out_tok);
        cJSON_AddStringToObject(o, "modelVersion", model);
    } else {
        char id[48];
        snprintf(id, sizeof(id), "chatcmpl-mock-%llu",
                 (unsigned long long)__atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
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
        cJSON_AddNumberToObject(u, "prompt_tokens", in_tok);
        cJSON_AddNumberToObject(u, "completion_tokens", out_tok);
        cJSON_AddNumberToObject(u, "total_tokens", in_tok + out_tok);
    }
    mock_reply_json(rp, 200, o);
}
