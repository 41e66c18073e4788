/*
 * credfile_gen.c - the generation settings of credentials.json (SPEC 6a):
 * `max_tokens`, `temperature`, `system`, `timeout_s` and `extra`, written at
 * four levels and resolved per key and role, the most specific first:
 *
 *   key's roles.<role>  >  key  >  file's roles.<role>  >  file (top level)
 *
 * Each field is taken from the most specific level that sets it; `extra`
 * objects of every level are merged (objects key by key, the more specific
 * winning), so a file-wide {"top_p": 0.9} and a key's {"seed": 1} both reach
 * that key's requests. Nothing is set that no level set.
 *
 * Inside a roles.<role> object an unknown field is an error (a typo there
 * would silently do nothing); at a key's and the file's top level other
 * fields belong to the key or the file and are not looked at here.
 */
#include "llm/credfile_gen.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/provider.h"
#include "shm/shm_layout.h"
#include "shm/util.h"

static const char *const credgen_fields[] = {"max_tokens", "temperature", "system", "timeout_s",
                                             "extra"};

__attribute__((format(printf, 5, 6))) static int
credgen_fail(char *err, size_t errlen, const char *path, const char *field, const char *fmt, ...)
{
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    util_errf(err, errlen, "%s%s: %s", path, field, what);
    return -EINVAL;
}

/* A number field in [lo, hi] (integral if asked); 1 if set, 0 if absent, -EINVAL. */
static int credgen_number(const cJSON *obj, const char *field, double lo, double hi, int integral,
                          const char *path, double *out, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!v)
        return 0;
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d >= lo && d <= hi) || (integral && d != floor(d))) {
        if (integral)
            return credgen_fail(err, errlen, path, field, "must be an integer from %.0f to %.0f",
                                lo, hi);
        return credgen_fail(err, errlen, path, field, "must be a number from %g to %g", lo, hi);
    }
    *out = d;
    return 1;
}

int credgen_parse(const cJSON *obj, const char *path, int strict, struct credgen_level *out,
                  char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (strict) {
        const cJSON *it;
        cJSON_ArrayForEach(it, obj)
        {
            size_t k = 0, n = sizeof(credgen_fields) / sizeof(credgen_fields[0]);
            while (k < n && strcmp(it->string, credgen_fields[k]) != 0)
                k++;
            if (k == n)
                return credgen_fail(err, errlen, path, it->string,
                                    "unknown field (known: max_tokens, temperature, system, "
                                    "timeout_s, extra)");
        }
    }
    double d;
    int rc = credgen_number(obj, "max_tokens", 1, CREDGEN_MAX_TOKENS_MAX, 1, path, &d, err, errlen);
    if (rc < 0)
        return rc;
    out->max_tokens = rc ? (int64_t)d : 0;
    rc = credgen_number(obj, "temperature", 0, 2, 0, path, &d, err, errlen);
    if (rc < 0)
        return rc;
    out->temperature = rc ? d : -1;
    rc = credgen_number(obj, "timeout_s", 1, CREDGEN_TIMEOUT_MAX_S, 1, path, &d, err, errlen);
    if (rc < 0)
        return rc;
    out->timeout_s = rc ? (long)d : 0;

    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "system");
    if (v && (!cJSON_IsString(v) || !v->valuestring[0]))
        return credgen_fail(err, errlen, path, "system", "must be a non-empty string");
    if (v && strlen(v->valuestring) > CREDGEN_SYSTEM_MAX)
        return credgen_fail(err, errlen, path, "system", "longer than %d bytes",
                            CREDGEN_SYSTEM_MAX);
    out->system = v ? v->valuestring : NULL;

    v = cJSON_GetObjectItemCaseSensitive(obj, "extra");
    if (v && !cJSON_IsObject(v))
        return credgen_fail(err, errlen, path, "extra",
                            "must be a JSON object (merged into the request body)");
    out->extra = v;
    return 0;
}

int credgen_resolve(const struct credgen_level *const levels[], size_t n, struct llm_gen *out)
{
    memset(out, 0, sizeof(*out));
    out->temperature = -1;
    cJSON *extra = NULL;
    const char *system = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct credgen_level *l = levels[i];
        if (!l)
            continue;
        if (l->max_tokens > 0)
            out->max_tokens = l->max_tokens;
        if (l->temperature >= 0)
            out->temperature = l->temperature;
        if (l->timeout_s > 0)
            out->timeout_s = l->timeout_s;
        if (l->system)
            system = l->system;
        if (l->extra) {
            if (!extra)
                extra = cJSON_CreateObject();
            if (!extra || provider_json_merge(extra, l->extra) < 0)
                goto oom;
        }
    }
    if (system && !(out->system = strdup(system)))
        goto oom;
    if (extra && !(out->extra = cJSON_PrintUnformatted(extra)))
        goto oom;
    cJSON_Delete(extra);
    return 0;
oom:
    cJSON_Delete(extra);
    credgen_free(out);
    return -ENOMEM;
}

void credgen_free(struct llm_gen *g)
{
    free(g->system);
    free(g->extra);
    memset(g, 0, sizeof(*g));
    g->temperature = -1;
}

int credgen_roles_object(const cJSON *roles, const char *path, uint32_t *mask,
                         struct credgen_level out[2], char *err, size_t errlen)
{
    static const char *const names[2] = {"draft", "review"};
    *mask = 0;
    memset(out, 0, 2 * sizeof(*out));
    out[0].temperature = out[1].temperature = -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, roles)
    {
        int r = strcmp(it->string, "draft") == 0 ? 0 : strcmp(it->string, "review") == 0 ? 1 : -1;
        if (r < 0)
            return credgen_fail(err, errlen, path, "roles",
                                "keys must be \"draft\" or \"review\", not \"%.40s\"", it->string);
        char sub[96];
        util_errf(sub, sizeof(sub), "%sroles.%s", path, names[r]);
        if (!cJSON_IsObject(it))
            return credgen_fail(err, errlen, "", sub, "must be an object of settings");
        util_errf(sub, sizeof(sub), "%sroles.%s.", path, names[r]);
        int rc = credgen_parse(it, sub, 1, &out[r], err, errlen);
        if (rc)
            return rc;
        *mask |= r ? CRED_ROLE_REVIEW : CRED_ROLE_DRAFT;
    }
    return 0;
}
