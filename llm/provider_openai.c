/*
 * provider_openai.c - the OpenAI-compatible chat protocol (OpenAI, xAI,
 * Ollama, vLLM, llama.cpp's server):
 *
 *   POST {base_url}/chat/completions, Authorization: Bearer KEY,
 *   {"model":..,"messages":[{"role":"user","content":..}]},
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

static char *openai_body(const struct credential *c, const struct llm_prompt *p)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *msgs = root ? cJSON_AddArrayToObject(root, "messages") : NULL;
    cJSON *msg = cJSON_CreateObject();
    char *s = NULL;
    if (msgs && msg && cJSON_AddStringToObject(root, "model", c->model) &&
        cJSON_AddStringToObject(msg, "role", "user") &&
        cJSON_AddStringToObject(msg, "content", p->text)) {
        cJSON_AddItemToArray(msgs, msg);
        msg = NULL;
        s = cJSON_PrintUnformatted(root);
    }
    cJSON_Delete(msg);
    cJSON_Delete(root);
    return s;
}

static int openai_build(const struct credential *c, const struct llm_prompt *p,
                        struct provider_request *out)
{
    out->url = util_asprintf("%s/chat/completions", c->base_url);
    out->auth = util_asprintf("Authorization: Bearer %s", c->secret);
    out->body = openai_body(c, p);
    return out->url && out->auth && out->body ? 0 : -ENOMEM;
}

static int openai_parse(const char *body, size_t len, char **text, struct llm_usage *usage,
                        char *err, size_t errlen)
{
    *text = NULL;
    usage->input_tokens = usage->output_tokens = -1;
    cJSON *root = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    if (!root) {
        util_errf(err, errlen, "reply is not valid JSON");
        return -EBADMSG;
    }
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

static void openai_explain(long status, const char *body, size_t len, struct provider_error *out)
{
    (void)status;
    provider_explain_json(body, len, "type", out);
}

const struct llm_provider provider_openai = {
    .name = "openai",
    .build = openai_build,
    .parse = openai_parse,
    .explain = openai_explain,
};
