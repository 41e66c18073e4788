/*
 * provider_openai.c - the OpenAI-compatible chat protocol (OpenAI, xAI,
 * Ollama, vLLM, llama.cpp's server):
 *
 *   POST {base_url}/chat/completions, Authorization: Bearer KEY,
 *   {"model":..,"messages":[{"role":"system",..}?,{"role":"user","content":..}],
 *    "max_tokens"?,"temperature"?} plus the key's `extra`,
 *   text at choices[0].message.content, usage.prompt_tokens/completion_tokens;
 *   errors as {"error":{"message","type","code"}}.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "llm/credfile.h"
#include "llm/provider.h"
#include "shm/util.h"

/* {"role": role, "content": text} appended to msgs; 0 or -ENOMEM. */
static int openai_message(cJSON *msgs, const char *role, const char *text)
{
    cJSON *msg = cJSON_CreateObject();
    if (!msg || !cJSON_AddStringToObject(msg, "role", role) ||
        !cJSON_AddStringToObject(msg, "content", text) || !cJSON_AddItemToArray(msgs, msg)) {
        cJSON_Delete(msg);
        return -ENOMEM;
    }
    return 0;
}

char *provider_openai_body(const struct credential *c, const struct llm_prompt *p)
{
    const struct llm_gen *g = p->gen;
    cJSON *root = cJSON_CreateObject();
    int ok = root && cJSON_AddStringToObject(root, "model", c->model);
    cJSON *msgs = ok ? cJSON_AddArrayToObject(root, "messages") : NULL;
    ok = ok && msgs && (!g || !g->system || openai_message(msgs, "system", g->system) == 0) &&
         openai_message(msgs, "user", p->text) == 0;
    if (ok && g && g->max_tokens > 0)
        ok = cJSON_AddNumberToObject(root, "max_tokens", (double)g->max_tokens) != NULL;
    if (ok && g && g->temperature >= 0)
        ok = cJSON_AddNumberToObject(root, "temperature", g->temperature) != NULL;
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    char *s;
    return provider_body_finish(root, g, &s) == 0 ? s : NULL;
}

static int openai_build(const struct credential *c, const struct llm_prompt *p,
                        struct provider_request *out)
{
    out->url = util_asprintf("%s/chat/completions", c->base_url);
    out->auth = util_asprintf("Authorization: Bearer %s", c->secret);
    out->body = provider_openai_body(c, p);
    return out->url && out->auth && out->body ? 0 : -ENOMEM;
}

static int openai_parse(const char *body, size_t len, char **text, struct llm_usage *usage,
                        char *err, size_t errlen)
{
    cJSON *root = provider_reply_root(body, len, text, usage, err, errlen);
    if (!root)
        return -EBADMSG;
    cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "choices"), 0);
    cJSON *msg = cJSON_GetObjectItemCaseSensitive(choice, "message");
    cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (cJSON_IsString(content))
        *text = strdup(content->valuestring);
    else
        util_errf(err, errlen, "reply has no choices[0].message.content");
    provider_usage_json(cJSON_GetObjectItemCaseSensitive(root, "usage"), "prompt_tokens",
                        "completion_tokens", usage);
    cJSON_Delete(root);
    return *text ? 0 : -EBADMSG;
}

/*
 * OpenAI says "no credit left" as a 429 whose error code (and type) is
 * insufficient_quota: it does not come back within the run, so the key is
 * disabled like a 401, never retried. Any other 429 (rate_limit_exceeded,
 * type requests/tokens) is a passing rate limit.
 */
static void openai_explain(long status, const char *body, size_t len, struct provider_error *out)
{
    provider_explain_json(body, len, "type", out);
    char code[64];
    provider_explain_field(body, len, "code", code, sizeof(code));
    if (status == 429 &&
        (!strcmp(code, "insufficient_quota") || !strcmp(out->type, "insufficient_quota")))
        out->kind = PROVIDER_ERR_QUOTA_GONE;
}

const struct llm_provider provider_openai = {
    .name = "openai",
    .build = openai_build,
    .parse = openai_parse,
    .explain = openai_explain,
};
