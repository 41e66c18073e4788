/*
 * provider.c - the table of provider protocols and what they share (see
 * provider.h): finding one by name, freeing a request, sending one, and
 * reading the `error` and `usage` objects most providers' bodies carry.
 */
#include "llm/provider.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "llm/credfile.h"
#include "llm/http.h"
#include "shm/util.h"

static const struct llm_provider *const provider_table[] = {
    &provider_openai, &provider_gemini, &provider_anthropic, &provider_azure, NULL,
};

const struct llm_provider *provider_find(const char *name)
{
    for (size_t i = 0; name && provider_table[i]; i++)
        if (strcmp(provider_table[i]->name, name) == 0)
            return provider_table[i];
    return NULL;
}

const char *provider_names(void)
{
    static char names[128];
    if (!names[0])
        for (size_t i = 0; provider_table[i]; i++)
            util_errf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? ", " : "",
                      provider_table[i]->name);
    return names;
}

void provider_request_free(struct provider_request *rq)
{
    if (rq->auth)
        explicit_bzero(rq->auth, strlen(rq->auth));
    free(rq->auth);
    free(rq->url);
    free(rq->body);
    memset(rq, 0, sizeof(*rq));
}

int provider_send(const struct credential *c, const struct llm_prompt *p, long timeout_s,
                  volatile sig_atomic_t *abort_flag, struct http_reply *out)
{
    struct provider_request rq;
    memset(&rq, 0, sizeof(rq));
    int rc = c->proto->build(c, p, &rq);
    if (rc < 0) {
        memset(out, 0, sizeof(*out));
        util_strlcpy(out->error, "out of memory", sizeof(out->error));
        provider_request_free(&rq);
        return rc;
    }
    const char *headers[PROVIDER_HEADERS_MAX + 2];
    size_t n = 0;
    headers[n++] = rq.auth;
    for (size_t i = 0; i < PROVIDER_HEADERS_MAX && rq.headers[i]; i++)
        headers[n++] = rq.headers[i];
    headers[n] = NULL;
    struct http_request hr = {
        .url = rq.url,
        .headers = headers,
        .body = rq.body,
        .secret = c->secret,
        .timeout_s = timeout_s,
        .abort_flag = abort_flag,
    };
    rc = http_post(&hr, out);
    provider_request_free(&rq);
    return rc;
}

int provider_json_merge(cJSON *dst, const cJSON *src)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, src)
    {
        cJSON *have = cJSON_GetObjectItemCaseSensitive(dst, it->string);
        if (cJSON_IsObject(have) && cJSON_IsObject(it)) {
            if (provider_json_merge(have, it) < 0)
                return -ENOMEM;
            continue;
        }
        cJSON *copy = cJSON_Duplicate(it, 1);
        if (!copy)
            return -ENOMEM;
        if (have)
            cJSON_ReplaceItemInObjectCaseSensitive(dst, it->string, copy);
        else
            cJSON_AddItemToObject(dst, it->string, copy);
    }
    return 0;
}

int provider_body_finish(cJSON *root, const struct llm_gen *gen, char **out)
{
    int rc = root ? 0 : -ENOMEM;
    *out = NULL;
    if (rc == 0 && gen && gen->extra) {
        /* validated as an object when the credentials were loaded */
        cJSON *extra = cJSON_Parse(gen->extra);
        rc = extra ? provider_json_merge(root, extra) : -ENOMEM;
        cJSON_Delete(extra);
    }
    if (rc == 0)
        *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return *out ? 0 : -ENOMEM;
}

int provider_send_text(const struct credential *c, const char *text, long timeout_s,
                       volatile sig_atomic_t *abort_flag, struct http_reply *out)
{
    struct llm_prompt p = {.text = text};
    return provider_send(c, &p, timeout_s, abort_flag, out);
}

int provider_parse_text(const struct llm_provider *p, const char *body, size_t len, char **text,
                        char *err, size_t errlen)
{
    struct llm_usage u;
    return p->parse(body, len, text, &u, err, errlen);
}

/* A string field of obj, cut into out; "" when absent. */
static void provider_copy_field(const cJSON *obj, const char *field, char *out, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    out[0] = '\0';
    if (cJSON_IsString(v) && v->valuestring)
        util_strlcpy(out, v->valuestring, len);
}

/* Control characters become spaces: an explanation is one line. */
static void provider_one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

void provider_explain_json(const char *body, size_t len, const char *type_field,
                           struct provider_error *out)
{
    cJSON *root = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (cJSON_IsObject(e)) {
        provider_copy_field(e, type_field, out->type, sizeof(out->type));
        provider_copy_field(e, "message", out->message, sizeof(out->message));
    } else if (cJSON_IsString(e) && e->valuestring) {
        util_strlcpy(out->message, e->valuestring, sizeof(out->message));
    }
    provider_one_line(out->type);
    provider_one_line(out->message);
    cJSON_Delete(root);
}

void provider_explain_field(const char *body, size_t len, const char *field, char *out,
                            size_t outlen)
{
    cJSON *root = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    provider_copy_field(cJSON_GetObjectItemCaseSensitive(root, "error"), field, out, outlen);
    provider_one_line(out);
    cJSON_Delete(root);
}

cJSON *provider_reply_root(const char *body, size_t len, char **text, struct llm_usage *usage,
                           char *err, size_t errlen)
{
    *text = NULL;
    usage->input_tokens = usage->output_tokens = -1;
    cJSON *root = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    if (!root)
        util_errf(err, errlen, "reply is not valid JSON");
    return root;
}

void provider_usage_json(const void *usage_obj, const char *in_field, const char *out_field,
                         struct llm_usage *out)
{
    const cJSON *u = usage_obj;
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(u, in_field);
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(u, out_field);
    out->input_tokens = cJSON_IsNumber(in) && in->valuedouble >= 0 && in->valuedouble < 1e15
                            ? (int64_t)in->valuedouble
                            : -1;
    out->output_tokens = cJSON_IsNumber(o) && o->valuedouble >= 0 && o->valuedouble < 1e15
                             ? (int64_t)o->valuedouble
                             : -1;
}
