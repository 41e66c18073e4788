/*
 * provider_gemini.c - Google's Gemini generateContent protocol:
 *
 *   POST {base_url}/v1beta/models/{model}:generateContent, x-goog-api-key: KEY,
 *   {"contents":[{"role":"user","parts":[{"text":..}]}]},
 *   text at candidates[0].content.parts[*].text,
 *   usageMetadata.promptTokenCount/candidatesTokenCount;
 *   errors as {"error":{"code","message","status","details":[...]}}, where a
 *   429's details say whether a per-day quota ran out (QuotaFailure) and how
 *   long to wait (RetryInfo.retryDelay).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "llm/credfile.h"
#include "llm/provider.h"
#include "llm/retry.h"
#include "shm/util.h"

#define GEMINI_DEFAULT_URL "https://generativelanguage.googleapis.com"

static char *gemini_body(const struct llm_prompt *p)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *contents = root ? cJSON_AddArrayToObject(root, "contents") : NULL;
    cJSON *msg = cJSON_CreateObject(), *part = cJSON_CreateObject();
    cJSON *parts = msg ? cJSON_AddArrayToObject(msg, "parts") : NULL;
    char *s = NULL;
    if (contents && parts && part && cJSON_AddStringToObject(msg, "role", "user") &&
        cJSON_AddStringToObject(part, "text", p->text)) {
        cJSON_AddItemToArray(parts, part);
        part = NULL;
        cJSON_AddItemToArray(contents, msg);
        msg = NULL;
        s = cJSON_PrintUnformatted(root);
    }
    cJSON_Delete(part);
    cJSON_Delete(msg);
    cJSON_Delete(root);
    return s;
}

static int gemini_build(const struct credential *c, const struct llm_prompt *p,
                        struct provider_request *out)
{
    out->url = util_asprintf("%s/v1beta/models/%s:generateContent", c->base_url, c->model);
    out->auth = util_asprintf("x-goog-api-key: %s", c->secret);
    out->body = gemini_body(p);
    return out->url && out->auth && out->body ? 0 : -ENOMEM;
}

/* Concatenate every "text" of a parts array (models may split a reply). */
static char *gemini_parts_text(const cJSON *parts)
{
    size_t total = 0;
    const cJSON *p;
    int found = 0;
    cJSON_ArrayForEach(p, parts)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (cJSON_IsString(t)) {
            total += strlen(t->valuestring);
            found = 1;
        }
    }
    char *s = found ? malloc(total + 1) : NULL, *w = s;
    if (!s)
        return NULL;
    cJSON_ArrayForEach(p, parts)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (cJSON_IsString(t)) {
            size_t n = strlen(t->valuestring);
            memcpy(w, t->valuestring, n);
            w += n;
        }
    }
    *w = '\0';
    return s;
}

static int gemini_parse(const char *body, size_t len, char **text, struct llm_usage *usage,
                        char *err, size_t errlen)
{
    *text = NULL;
    usage->input_tokens = usage->output_tokens = -1;
    cJSON *root = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    if (!root) {
        util_errf(err, errlen, "reply is not valid JSON");
        return -EBADMSG;
    }
    cJSON *cand = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "candidates"), 0);
    cJSON *content = cJSON_GetObjectItemCaseSensitive(cand, "content");
    cJSON *parts = cJSON_GetObjectItemCaseSensitive(content, "parts");
    if (cJSON_IsArray(parts))
        *text = gemini_parts_text(parts);
    if (!*text)
        util_errf(err, errlen, "reply has no candidates[0].content.parts[0].text");
    provider_usage_json(cJSON_GetObjectItemCaseSensitive(root, "usageMetadata"), "promptTokenCount",
                        "candidatesTokenCount", usage);
    cJSON_Delete(root);
    return *text ? 0 : -EBADMSG;
}

static void gemini_explain(long status, const char *body, size_t len, struct provider_error *out)
{
    provider_explain_json(body, len, "status", out);
    if (status == 429 && retry_gemini_is_daily_quota(body, len))
        out->kind = PROVIDER_ERR_QUOTA_GONE;
    out->retry_ms = retry_gemini_delay_ms(body, len);
}

const struct llm_provider provider_gemini = {
    .name = "gemini",
    .default_base_url = GEMINI_DEFAULT_URL,
    .model_in_url = 1,
    .build = gemini_build,
    .parse = gemini_parse,
    .explain = gemini_explain,
};
