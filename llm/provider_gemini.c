/*
 * provider_gemini.c - Google's Gemini generateContent protocol:
 *
 *   POST {base_url}/v1beta/models/{model}:generateContent, x-goog-api-key: KEY,
 *   {"contents":[{"role":"user","parts":[{"text":..}]}],
 *    "systemInstruction"?:{"parts":[{"text":..}]},
 *    "generationConfig"?:{"maxOutputTokens"?,"temperature"?}} plus the key's `extra`,
 *   text at candidates[0].content.parts[*].text,
 *   usageMetadata.promptTokenCount/candidatesTokenCount;
 *   errors as {"error":{"code","message","status","details":[...]}}, where a
 *   429's details say whether a per-day quota ran out (QuotaFailure) and how
 *   long to wait (RetryInfo.retryDelay, else the "Please retry in N s" of the
 *   message).
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

/* {"parts":[{"text": text}]} as field of obj (role set when given); 0 or -ENOMEM. */
static int gemini_content(cJSON *into, const char *field, const char *role, const char *text)
{
    cJSON *msg = cJSON_CreateObject(), *part = cJSON_CreateObject();
    cJSON *parts = msg ? cJSON_AddArrayToObject(msg, "parts") : NULL;
    if (!parts || !part || (role && !cJSON_AddStringToObject(msg, "role", role)) ||
        !cJSON_AddStringToObject(part, "text", text)) {
        cJSON_Delete(part);
        cJSON_Delete(msg);
        return -ENOMEM;
    }
    cJSON_AddItemToArray(parts, part);
    if (field)
        cJSON_AddItemToObject(into, field, msg);
    else
        cJSON_AddItemToArray(into, msg);
    return 0;
}

/* generationConfig with what the user set, if anything; 0 or -ENOMEM. */
static int gemini_config(cJSON *root, const struct llm_gen *g)
{
    if (!g || (g->max_tokens <= 0 && g->temperature < 0))
        return 0;
    cJSON *cfg = cJSON_AddObjectToObject(root, "generationConfig");
    if (!cfg)
        return -ENOMEM;
    if (g->max_tokens > 0 &&
        !cJSON_AddNumberToObject(cfg, "maxOutputTokens", (double)g->max_tokens))
        return -ENOMEM;
    if (g->temperature >= 0 && !cJSON_AddNumberToObject(cfg, "temperature", g->temperature))
        return -ENOMEM;
    return 0;
}

static char *gemini_body(const struct llm_prompt *p)
{
    const struct llm_gen *g = p->gen;
    cJSON *root = cJSON_CreateObject();
    cJSON *contents = root ? cJSON_AddArrayToObject(root, "contents") : NULL;
    int ok =
        contents && gemini_content(contents, NULL, "user", p->text) == 0 &&
        (!g || !g->system || gemini_content(root, "systemInstruction", NULL, g->system) == 0) &&
        gemini_config(root, g) == 0;
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    char *s;
    return provider_body_finish(root, g, &s) == 0 ? s : NULL;
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
    cJSON *root = provider_reply_root(body, len, text, usage, err, errlen);
    if (!root)
        return -EBADMSG;
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

/* 1 if the body's details hold an ErrorInfo whose reason is API_KEY_INVALID. */
static int gemini_key_invalid(const char *body, size_t len)
{
    cJSON *root = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *d, *details = cJSON_GetObjectItemCaseSensitive(
                        cJSON_GetObjectItemCaseSensitive(root, "error"), "details");
    int bad = 0;
    cJSON_ArrayForEach(d, details)
    {
        const cJSON *reason = cJSON_GetObjectItemCaseSensitive(d, "reason");
        bad |= cJSON_IsString(reason) && strcmp(reason->valuestring, "API_KEY_INVALID") == 0;
    }
    cJSON_Delete(root);
    return bad;
}

/*
 * Gemini answers a wrong key with 400 INVALID_ARGUMENT (reason API_KEY_INVALID
 * in its details), not 401: that key is disabled like a 401's, instead of
 * failing every item as a rejected request.
 */
static void gemini_explain(long status, const char *body, size_t len, struct provider_error *out)
{
    provider_explain_json(body, len, "status", out);
    if (status == 429 && retry_gemini_is_daily_quota(body, len))
        out->kind = PROVIDER_ERR_QUOTA_GONE;
    else if (status == 400 && gemini_key_invalid(body, len))
        out->kind = PROVIDER_ERR_KEY_INVALID;
    out->retry_ms = retry_gemini_delay_ms(body, len);
    if (out->retry_ms < 0)
        out->retry_ms = retry_gemini_message_delay_ms(body, len);
}

const struct llm_provider provider_gemini = {
    .name = "gemini",
    .default_base_url = GEMINI_DEFAULT_URL,
    .model_in_url = 1,
    .build = gemini_build,
    .parse = gemini_parse,
    .explain = gemini_explain,
};
