/*
 * provider_azure.c - Azure OpenAI: the OpenAI chat protocol behind Azure's
 * own URL and key header:
 *
 *   POST {base_url}/openai/deployments/{model}/chat/completions?api-version=2024-10-21,
 *   api-key: KEY, the OpenAI body (provider_openai.c) with the deployment as
 *   `model`; replies, usage, errors and x-ratelimit-* headers as OpenAI's.
 *
 * base_url is the resource's endpoint (https://RESOURCE.openai.azure.com) and
 * `model` the deployment name, which goes into the URL path (so its
 * characters are restricted). A key of Azure's "v1" API, which takes
 * `Authorization: Bearer` on {endpoint}/openai/v1/chat/completions, needs no
 * provider of its own: it is provider "openai" with that base_url.
 */
#include <errno.h>
#include <stdlib.h>

#include "llm/credfile.h"
#include "llm/provider.h"
#include "shm/util.h"

#define AZURE_API_VERSION "2024-10-21"

static int azure_build(const struct credential *c, const struct llm_prompt *p,
                       struct provider_request *out)
{
    out->url = util_asprintf("%s/openai/deployments/%s/chat/completions?api-version=%s",
                             c->base_url, c->model, AZURE_API_VERSION);
    out->auth = util_asprintf("api-key: %s", c->secret);
    out->body = provider_openai_body(c, p);
    return out->url && out->auth && out->body ? 0 : -ENOMEM;
}

static int azure_parse(const char *body, size_t len, char **text, struct llm_usage *usage,
                       char *err, size_t errlen)
{
    return provider_openai.parse(body, len, text, usage, err, errlen);
}

static void azure_explain(long status, const char *body, size_t len, struct provider_error *out)
{
    provider_openai.explain(status, body, len, out);
}

const struct llm_provider provider_azure = {
    .name = "azure",
    .model_in_url = 1,
    .build = azure_build,
    .parse = azure_parse,
    .explain = azure_explain,
};
