/*
 * provider_anthropic.c - Anthropic's Messages API:
 *
 *   POST {base_url}/v1/messages, x-api-key: KEY, anthropic-version: 2023-06-01,
 *   {"model":..,"max_tokens":..,"messages":[{"role":"user","content":..}],
 *    "system"?,"temperature"?} plus the key's `extra`,
 *   text from the first content block whose type is "text",
 *   usage.input_tokens/output_tokens;
 *   errors as {"type":"error","error":{"type","message"}}.
 *
 * max_tokens is required by this API: when the user set none, 4096 is sent.
 * A 529 (overloaded_error) is the server's trouble, not the key's: llm_reply.c
 * classifies it by status like any 5xx (retried with backoff, counted against
 * the endpoint's breaker), so nothing here needs to single it out.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "llm/credfile.h"
#include "llm/provider.h"
#include "shm/util.h"

#define ANTHROPIC_DEFAULT_URL "https://api.anthropic.com"
#define ANTHROPIC_VERSION "anthropic-version: 2023-06-01"
#define ANTHROPIC_MAX_TOKENS 4096

static char *anthropic_body(const struct credential *c, const struct llm_prompt *p)
{
    const struct llm_gen *g = p->gen;
    cJSON *root = cJSON_CreateObject();
    int ok = root && cJSON_AddStringToObject(root, "model", c->model) &&
             cJSON_AddNumberToObject(root, "max_tokens",
                                     g && g->max_tokens > 0 ? (double)g->max_tokens
                                                            : ANTHROPIC_MAX_TOKENS);
    cJSON *msgs = ok ? cJSON_AddArrayToObject(root, "messages") : NULL;
    cJSON *msg = cJSON_CreateObject();
    ok = ok && msgs && msg && cJSON_AddStringToObject(msg, "role", "user") &&
         cJSON_AddStringToObject(msg, "content", p->text);
    if (ok) {
        cJSON_AddItemToArray(msgs, msg);
        msg = NULL;
    }
    if (ok && g && g->system)
        ok = cJSON_AddStringToObject(root, "system", g->system) != NULL;
    if (ok && g && g->temperature >= 0)
        ok = cJSON_AddNumberToObject(root, "temperature", g->temperature) != NULL;
    cJSON_Delete(msg);
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    char *s;
    return provider_body_finish(root, g, &s) == 0 ? s : NULL;
}

static int anthropic_build(const struct credential *c, const struct llm_prompt *p,
                           struct provider_request *out)
{
    out->url = util_asprintf("%s/v1/messages", c->base_url);
    out->auth = util_asprintf("x-api-key: %s", c->secret);
    out->headers[0] = ANTHROPIC_VERSION;
    out->body = anthropic_body(c, p);
    return out->url && out->auth && out->body ? 0 : -ENOMEM;
}

static int anthropic_parse(const char *body, size_t len, char **text, struct llm_usage *usage,
                           char *err, size_t errlen)
{
    cJSON *root = provider_reply_root(body, len, text, usage, err, errlen);
    if (!root)
        return -EBADMSG;
    const cJSON *block;
    cJSON_ArrayForEach(block, cJSON_GetObjectItemCaseSensitive(root, "content"))
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(block, "type");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(block, "text");
        if (cJSON_IsString(type) && strcmp(type->valuestring, "text") == 0 && cJSON_IsString(t)) {
            *text = strdup(t->valuestring);
            break;
        }
    }
    if (!*text)
        util_errf(err, errlen, "reply has no content block of type text");
    provider_usage_json(cJSON_GetObjectItemCaseSensitive(root, "usage"), "input_tokens",
                        "output_tokens", usage);
    cJSON_Delete(root);
    return *text ? 0 : -EBADMSG;
}

static void anthropic_explain(long status, const char *body, size_t len, struct provider_error *out)
{
    (void)status;
    provider_explain_json(body, len, "type", out);
}

const struct llm_provider provider_anthropic = {
    .name = "anthropic",
    .default_base_url = ANTHROPIC_DEFAULT_URL,
    .default_max_tokens = ANTHROPIC_MAX_TOKENS,
    .build = anthropic_build,
    .parse = anthropic_parse,
    .explain = anthropic_explain,
};
