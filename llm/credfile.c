/*
 * credfile.c - loading and validating credentials.json (see credfile.h).
 *
 * The file is parsed with cJSON and every field is checked before anything is
 * kept, so a bad file is one clear error naming the file, the entry and the
 * field, never a half-loaded pool. Secrets are copied into process memory only,
 * in pages left out of core dumps (llm/secret.h);
 * the raw text and the cJSON tree also hold them, so both are wiped before
 * they are freed. No error message ever quotes a secret: messages name fields
 * and environment variables, never their values.
 */
#include "llm/credfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "llm/credfile_gen.h"
#include "llm/secret.h"
#include "llm/budget_redis.h"
#include "shm/util.h"

#define CREDFILE_RPM_MAX 100000
#define CREDFILE_TPM_MAX 100000000
#define CREDFILE_PRICE_MAX 1e6

/* Where an error is: the file name and the entry being checked. */
struct credfile_ctx {
    const char *name;
    size_t index;
    char *err;
    size_t errlen;
    struct credgen_level top, top_role[2]; /* the file's settings (credfile_gen.c) */
};

__attribute__((format(printf, 3, 4))) static int
credfile_fail(struct credfile_ctx *x, const char *field, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (field)
        snprintf(x->err, x->errlen, "%s: credentials[%zu].%s: %s", x->name, x->index, field, what);
    else
        snprintf(x->err, x->errlen, "%s: credentials[%zu]: %s", x->name, x->index, what);
    return -EINVAL;
}

static int credfile_has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

/*
 * A string field: absent -> *out = NULL and 0 (unless required); present but
 * not a non-empty string of at most max-1 bytes without control characters ->
 * error.
 */
static int credfile_string(struct credfile_ctx *x, const cJSON *obj, const char *field, size_t max,
                           int required, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return credfile_fail(x, field, "missing");
        return 0;
    }
    if (!cJSON_IsString(v) || !v->valuestring)
        return credfile_fail(x, field, "must be a string");
    size_t n = strlen(v->valuestring);
    if (n == 0)
        return credfile_fail(x, field, "must not be empty");
    if (n >= max)
        return credfile_fail(x, field, "longer than %zu characters", max - 1);
    if (credfile_has_control(v->valuestring))
        return credfile_fail(x, field, "contains a control character");
    *out = v->valuestring;
    return 0;
}

/* An integer field in [lo, hi]; absent -> *out = dflt. */
static int credfile_int(struct credfile_ctx *x, const cJSON *obj, const char *field, long lo,
                        long hi, uint32_t dflt, uint32_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    *out = dflt;
    if (!v)
        return 0;
    /* range first: casting an out-of-range double to an integer is undefined */
    double d = cJSON_IsNumber(v) ? v->valuedouble : (double)lo - 1;
    if (!(d >= (double)lo && d <= (double)hi) || d != (double)(long)d)
        return credfile_fail(x, field, "must be an integer from %ld to %ld", lo, hi);
    *out = (uint32_t)d;
    return 0;
}

/* A settings error of this key: "<file>: credentials[i].<field>: <why> (key "<id>")". */
static int credfile_gen_fail(struct credfile_ctx *x, const struct credential *c, const char *what)
{
    snprintf(x->err, x->errlen, "%s: credentials[%zu].%s (key \"%s\")", x->name, x->index, what,
             c->id);
    return -EINVAL;
}

/*
 * roles: an array of names, or an object of per-role settings (role_set[r]
 * then holds them). Absent: both roles, no per-role settings.
 */
static int credfile_roles(struct credfile_ctx *x, const cJSON *obj, const struct credential *c,
                          uint32_t *out, struct credgen_level role_set[2])
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "roles");
    *out = CRED_ROLE_DRAFT | CRED_ROLE_REVIEW;
    memset(role_set, 0, 2 * sizeof(*role_set));
    role_set[0].temperature = role_set[1].temperature = -1;
    if (!v)
        return 0;
    if (cJSON_IsObject(v)) {
        char what[256];
        if (credgen_roles_object(v, "", out, role_set, what, sizeof(what)) < 0)
            return credfile_gen_fail(x, c, what);
        if (*out == 0)
            return credfile_fail(x, "roles", "must name \"draft\" and/or \"review\"");
        return 0;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0)
        return credfile_fail(x, "roles", "must be a non-empty array of \"draft\"/\"review\"");
    uint32_t roles = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, v)
    {
        if (cJSON_IsString(r) && strcmp(r->valuestring, "draft") == 0)
            roles |= CRED_ROLE_DRAFT;
        else if (cJSON_IsString(r) && strcmp(r->valuestring, "review") == 0)
            roles |= CRED_ROLE_REVIEW;
        else
            return credfile_fail(x, "roles", "entries must be \"draft\" or \"review\"");
    }
    *out = roles;
    return 0;
}

/* Model names that go into a URL path (Gemini's) may only hold URL-safe characters. */
static int credfile_model_url_safe(const char *m)
{
    return strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
           strlen(m);
}

static int credfile_base_url(struct credfile_ctx *x, const cJSON *obj, struct credential *c)
{
    const char *url;
    int rc = credfile_string(x, obj, "base_url", 2048, !c->proto->default_base_url, &url);
    if (rc)
        return rc;
    if (!url)
        url = c->proto->default_base_url;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return credfile_fail(x, "base_url", "must start with http:// or https://");
    /* '@' would carry user:password in the URL, which curl may print in errors */
    if (strpbrk(url, " ?#@"))
        return credfile_fail(x, "base_url", "must not contain spaces, '?', '#' or '@'");
    c->base_url = strdup(url);
    if (!c->base_url)
        return -ENOMEM;
    size_t n = strlen(c->base_url);
    while (n > 0 && c->base_url[n - 1] == '/')
        c->base_url[--n] = '\0';
    if (!strstr(c->base_url, "://") || strstr(c->base_url, "://")[3] == '\0')
        return credfile_fail(x, "base_url", "has no host");
    return 0;
}

static int credfile_secret(struct credfile_ctx *x, const cJSON *obj, struct credential *c)
{
    const char *key, *env;
    int rc = credfile_string(x, obj, "api_key", 8192, 0, &key);
    if (rc)
        return rc;
    if ((rc = credfile_string(x, obj, "api_key_env", 256, 0, &env)))
        return rc;
    if (key && env)
        return credfile_fail(x, NULL, "give api_key or api_key_env, not both");
    if (!key && !env)
        return credfile_fail(x, NULL, "missing api_key or api_key_env");
    if (env) {
        key = getenv(env);
        if (!key || !*key)
            return credfile_fail(x, "api_key_env", "environment variable %s is not set", env);
        /* a line break would split the header it goes into */
        if (credfile_has_control(key))
            return credfile_fail(x, "api_key_env",
                                 "environment variable %s contains a control character", env);
    }
    c->secret = secret_dup(key); /* pages out of core dumps (llm/secret.h) */
    return c->secret ? 0 : -ENOMEM;
}

/* price: {"input": n, "output": n} per million tokens; absent -> no price (-1). */
static int credfile_price(struct credfile_ctx *x, const cJSON *obj, struct credential *c)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "price");
    c->price_input = c->price_output = -1;
    if (!v)
        return 0;
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(v, "input");
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(v, "output");
    if (!cJSON_IsObject(v) || !cJSON_IsNumber(in) || !cJSON_IsNumber(out) ||
        !(in->valuedouble >= 0 && in->valuedouble <= CREDFILE_PRICE_MAX) ||
        !(out->valuedouble >= 0 && out->valuedouble <= CREDFILE_PRICE_MAX))
        return credfile_fail(x, "price",
                             "must be {\"input\": N, \"output\": N}, prices per million tokens "
                             "from 0 to 1000000");
    c->price_input = in->valuedouble;
    c->price_output = out->valuedouble;
    return 0;
}

/* The key's own settings, its roles' and the file's, resolved per role (credfile_gen.c). */
static int credfile_settings(struct credfile_ctx *x, const cJSON *obj, struct credential *c,
                             const struct credgen_level role_set[2])
{
    struct credgen_level own;
    char what[256];
    if (credgen_parse(obj, "", 0, &own, what, sizeof(what)) < 0)
        return credfile_gen_fail(x, c, what);
    for (int r = 0; r < 2; r++) {
        const struct credgen_level *const levels[] = {&x->top, &x->top_role[r], &own, &role_set[r]};
        if (credgen_resolve(levels, 4, &c->gen[r]) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int credfile_entry(struct credfile_ctx *x, const cJSON *obj, struct credential *c)
{
    struct credgen_level role_set[2];
    const char *s;
    int rc;
    if (!cJSON_IsObject(obj))
        return credfile_fail(x, NULL, "must be an object");
    if ((rc = credfile_string(x, obj, "id", SHM_KEY_ID_MAX, 1, &s)))
        return rc;
    util_strlcpy(c->id, s, sizeof(c->id));

    if ((rc = credfile_string(x, obj, "provider", SHM_PROVIDER_MAX, 1, &s)))
        return rc;
    c->proto = provider_find(s);
    if (!c->proto)
        return credfile_fail(x, "provider", "unknown provider \"%s\" (use one of: %s)", s,
                             provider_names());
    util_strlcpy(c->provider_name, s, sizeof(c->provider_name));

    if ((rc = credfile_string(x, obj, "model", SHM_MODEL_MAX, 1, &s)))
        return rc;
    if (c->proto->model_in_url && !credfile_model_url_safe(s))
        return credfile_fail(x, "model", "may only contain A-Z a-z 0-9 . _ -");
    util_strlcpy(c->model, s, sizeof(c->model));

    if ((rc = credfile_base_url(x, obj, c)))
        return rc;
    if ((rc = credfile_secret(x, obj, c)))
        return rc;
    if ((rc = credfile_roles(x, obj, c, &c->roles, role_set)))
        return rc;
    if ((rc = credfile_int(x, obj, "rpm", 0, CREDFILE_RPM_MAX, 0, &c->rpm)))
        return rc;
    if ((rc = credfile_int(x, obj, "tpm", 0, CREDFILE_TPM_MAX, 0, &c->tpm)))
        return rc;
    if ((rc = credfile_price(x, obj, c)))
        return rc;
    if ((rc = credfile_int(x, obj, "concurrency", 1, SHM_KEY_HOLDERS_MAX, 1, &c->concurrency)))
        return rc;
    return credfile_settings(x, obj, c, role_set);
}

/* Wipe every string of the tree: api_key values live in it. */
static void credfile_wipe_json(cJSON *node)
{
    for (; node; node = node->next) {
        if (node->valuestring)
            explicit_bzero(node->valuestring, strlen(node->valuestring));
        credfile_wipe_json(node->child);
    }
}

/* 1-based line of offset pos in text, for JSON syntax errors (the text itself is never quoted). */
static unsigned credfile_line_of(const char *text, size_t len, size_t pos)
{
    unsigned line = 1;
    for (size_t i = 0; i < pos && i < len; i++)
        line += text[i] == '\n';
    return line;
}

static int credfile_entries(struct credfile_ctx *x, const cJSON *arr, size_t limit,
                            struct cred_file *out)
{
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (limit > 0 && limit < n)
        n = limit; /* AGENTOS_CREDENTIAL_LIMIT: the rest is not even looked at */
    out->v = calloc(n, sizeof(*out->v));
    if (!out->v)
        return -ENOMEM;
    const cJSON *obj = arr->child;
    for (size_t i = 0; i < n; i++, obj = obj->next) {
        x->index = i;
        out->n = i + 1; /* so credfile_free sees a partly filled entry */
        int rc = credfile_entry(x, obj, &out->v[i]);
        if (rc == -ENOMEM)
            snprintf(x->err, x->errlen, "%s: out of memory", x->name);
        if (rc)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(out->v[j].id, out->v[i].id) == 0)
                return credfile_fail(x, "id", "duplicate id \"%s\" (also credentials[%zu])",
                                     out->v[i].id, j);
    }
    return 0;
}

/* The file's own settings: top-level fields and a top-level "roles" object. 0 or -EINVAL. */
static int credfile_top(struct credfile_ctx *x, const cJSON *root)
{
    char what[256];
    uint32_t mask;
    const cJSON *roles = cJSON_GetObjectItemCaseSensitive(root, "roles");
    int rc = credgen_parse(root, "", 0, &x->top, what, sizeof(what));
    if (rc == 0 && roles && !cJSON_IsObject(roles)) {
        util_errf(what, sizeof(what),
                  "roles: must be an object of per-role settings ({\"draft\": {...}, ...})");
        rc = -EINVAL;
    }
    if (rc == 0 && roles)
        rc = credgen_roles_object(roles, "", &mask, x->top_role, what, sizeof(what));
    if (rc == 0 && !roles)
        x->top_role[0].temperature = x->top_role[1].temperature = -1;
    if (rc)
        snprintf(x->err, x->errlen, "%s: %s", x->name, what);
    return rc;
}

/* The optional top-level "budget": the shared key budget's Redis URL. 0 or -EINVAL. */
static int credfile_budget(const char *name, const cJSON *root, struct cred_file *out, char *err,
                           size_t errlen)
{
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "budget");
    struct budget_url u;
    char why[300];
    if (!b)
        return 0;
    if (!cJSON_IsString(b) || !b->valuestring) {
        snprintf(err, errlen, "%s: budget: must be a string \"redis://HOST:PORT[/DB]\"", name);
        return -EINVAL;
    }
    if (budget_redis_parse_url(b->valuestring, &u, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "%s: budget: %s", name, why);
        return -EINVAL;
    }
    if (strlen(b->valuestring) >= sizeof(out->budget)) {
        snprintf(err, errlen, "%s: budget: longer than %zu bytes", name, sizeof(out->budget) - 1);
        return -EINVAL;
    }
    util_strlcpy(out->budget, b->valuestring, sizeof(out->budget));
    return 0;
}

int credfile_parse(const char *name, const char *text, size_t len, size_t limit,
                   struct cred_file *out, char *err, size_t errlen)
{
    struct credfile_ctx x = {.name = name, .err = err, .errlen = errlen};
    memset(out, 0, sizeof(*out));
    if (len > CREDFILE_MAX_BYTES) {
        snprintf(err, errlen, "%s: larger than %d bytes", name, CREDFILE_MAX_BYTES);
        return -EFBIG;
    }
    /* cJSON would stop a string at a raw NUL: "k\0x" would load as "k". */
    if (memchr(text, '\0', len)) {
        snprintf(err, errlen, "%s: contains a NUL byte (not a JSON text file)", name);
        return -EINVAL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t pos = end && end >= text ? (size_t)(end - text) : 0;
        snprintf(err, errlen, "%s: not valid JSON (error near line %u)", name,
                 credfile_line_of(text, len, pos));
        return -EINVAL;
    }
    int rc = -EINVAL;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "credentials");
    if (!cJSON_IsObject(root))
        snprintf(err, errlen, "%s: top level must be an object with \"credentials\"", name);
    else if (!arr)
        snprintf(err, errlen, "%s: missing \"credentials\"", name);
    else if (!cJSON_IsArray(arr))
        snprintf(err, errlen, "%s: credentials: must be an array", name);
    else if (cJSON_GetArraySize(arr) == 0)
        snprintf(err, errlen, "%s: credentials: must list at least one key", name);
    else if (cJSON_GetArraySize(arr) > SHM_MAX_KEYS && !(limit > 0 && limit <= SHM_MAX_KEYS))
        snprintf(err, errlen,
                 "%s: credentials: more than %d keys (AGENTOS_CREDENTIAL_LIMIT=N uses the first N)",
                 name, SHM_MAX_KEYS);
    else if (credfile_top(&x, root) == 0)
        rc = credfile_entries(&x, arr, limit, out);
    if (rc == 0)
        rc = credfile_budget(name, root, out, err, errlen);
    credfile_wipe_json(root);
    cJSON_Delete(root);
    if (rc)
        credfile_free(out);
    return rc;
}

int credfile_load(const char *path, size_t limit, struct cred_file *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    /* O_NONBLOCK: --credentials naming a FIFO must not block start-up */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        snprintf(err, errlen, "could not read credentials file \"%s\": %s", path, strerror(e));
        if (fd >= 0)
            close(fd);
        return -e;
    }
    close(fd);
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file (%s)", path, util_mode_kind(st.st_mode));
        return -EINVAL;
    }
    char *text = NULL;
    size_t len = 0;
    int rc = util_read_file(path, CREDFILE_MAX_BYTES, &text, &len);
    if (rc == -EFBIG) {
        snprintf(err, errlen, "%s: larger than %d bytes", path, CREDFILE_MAX_BYTES);
        return rc;
    }
    if (rc) {
        snprintf(err, errlen, "could not read credentials file \"%s\": %s", path, strerror(-rc));
        return rc;
    }
    rc = credfile_parse(path, text, len, limit, out, err, errlen);
    explicit_bzero(text, len);
    free(text);
    if (rc == 0)
        out->insecure_mode = (st.st_mode & (S_IRWXG | S_IRWXO)) != 0;
    return rc;
}

void credfile_free(struct cred_file *cf)
{
    if (!cf)
        return;
    for (size_t i = 0; i < cf->n && cf->v; i++) {
        secret_free(cf->v[i].secret);
        free(cf->v[i].base_url);
        credgen_free(&cf->v[i].gen[0]);
        credgen_free(&cf->v[i].gen[1]);
    }
    free(cf->v);
    memset(cf, 0, sizeof(*cf));
}

void credfile_to_init(const struct credential *c, struct cred_init *ci)
{
    memset(ci, 0, sizeof(*ci));
    ci->id = c->id;
    ci->provider = c->provider_name;
    ci->model = c->model;
    ci->roles = c->roles;
    ci->concurrency = c->concurrency;
    ci->rpm = c->rpm;
    ci->tpm = c->tpm;
}
