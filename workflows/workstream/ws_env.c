/*
 * ws_env.c - ${env...} in a workstream's execution block (see ws_env.h).
 *
 * One left-to-right pass per string, writing into a growing buffer: literal
 * text is copied, each ${...} is parsed strictly and replaced by its value,
 * and the result replaces the string only when the whole string was read
 * without error. The pass never looks at what it inserted, so a value that
 * itself contains "${env.X}" stays literal (no recursive expansion, no
 * surprises from the environment).
 *
 * Why "$${" is the only escape: a literal "${env.X}" is rare in settings but
 * must stay possible, and "$$" alone is common in shell text ("kill $$"),
 * which must not change meaning when it passes through here.
 */
#include "workflows/workstream/ws_env.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WS_ENV_NAME_MAX 128
#define WS_ENV_PATH_MAX 256
#define WS_ENV_SHOW_MAX 40
#define WS_ENV_FORMS "expected ${env.NAME}, ${env.NAME:-default} or ${env.NAME == 'value'}"

struct ws_env_ctx {
    const char *path; /* the field being expanded */
    ws_env_lookup_fn lookup;
    void *lookup_ctx;
    char *err;
    size_t errlen;
};

struct ws_env_buf {
    char *p;
    size_t len, cap;
};

const char *ws_env_getenv(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

__attribute__((format(printf, 2, 3))) static int ws_env_fail(struct ws_env_ctx *x, const char *fmt,
                                                             ...)
{
    char what[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (x->err && x->errlen)
        snprintf(x->err, x->errlen, "%s: %s", x->path, what);
    return -EINVAL;
}

/* The ${...} at s as a message shows it: up to its '}', printable ASCII, cut short. */
static int ws_env_malformed(struct ws_env_ctx *x, const char *s, size_t offset, const char *why)
{
    char show[WS_ENV_SHOW_MAX + 4];
    size_t i = 0;
    int closed = 0;
    for (; s[i] && i < WS_ENV_SHOW_MAX && !closed; i++) {
        unsigned char ch = (unsigned char)s[i];
        show[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
        closed = ch == '}';
    }
    if (!closed && s[i]) {
        memcpy(show + i, "...", 3);
        i += 3;
    }
    show[i] = '\0';
    return ws_env_fail(x, "malformed \"%s\" at offset %zu: %s", show, offset, why);
}

static int ws_env_put(struct ws_env_ctx *x, struct ws_env_buf *b, const char *s, size_t n)
{
    if (b->len + n > WS_ENV_VALUE_MAX)
        return ws_env_fail(x, "expands to more than %d bytes", WS_ENV_VALUE_MAX);
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int ws_env_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static size_t ws_env_name_len(const char *s)
{
    size_t n = 0;
    if (!ws_env_alpha(s[0]))
        return 0;
    while (ws_env_alpha(s[n]) || (s[n] >= '0' && s[n] <= '9'))
        n++;
    return n;
}

static const char *ws_env_skip_spaces(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/*
 * The comparison at e (just after the name): sets *result and returns 0, or
 * returns 1 when e does not start an operator, or an error.
 */
static int ws_env_compare(struct ws_env_ctx *x, const char *s, size_t start, const char *name,
                          const char *e, int *result)
{
    const char *c = ws_env_skip_spaces(e);
    if (!((c[0] == '=' || c[0] == '!') && c[1] == '='))
        return 1;
    int negate = c[0] == '!';
    c = ws_env_skip_spaces(c + 2);
    char quote = *c;
    if (quote != '\'' && quote != '"')
        return ws_env_malformed(x, s + start, start, "the value to compare with must be quoted");
    const char *vs = c + 1, *ve = strchr(vs, quote);
    if (!ve)
        return ws_env_malformed(x, s + start, start, "no closing quote");
    c = ws_env_skip_spaces(ve + 1);
    if (*c != '}')
        return ws_env_malformed(x, s + start, start, "missing '}' after the quoted value");
    if (start != 0 || c[1] != '\0')
        return ws_env_fail(x, "a comparison ${env.%s %s ...} must be the whole string", name,
                           negate ? "!=" : "==");
    const char *val = x->lookup(name, x->lookup_ctx);
    if (!val)
        val = "";
    int eq = strlen(val) == (size_t)(ve - vs) && memcmp(val, vs, (size_t)(ve - vs)) == 0;
    *result = negate ? !eq : eq;
    return 0;
}

/*
 * One ${...} starting at s + *pos: its value appended to out and *pos moved
 * past it, or *boolean set when it was a comparison (the whole string).
 */
static int ws_env_one(struct ws_env_ctx *x, const char *s, size_t *pos, struct ws_env_buf *out,
                      int *boolean)
{
    size_t start = *pos;
    const char *e = s + start + 2;
    if (strncmp(e, "env.", 4) != 0)
        return ws_env_malformed(x, s + start, start, WS_ENV_FORMS);
    e += 4;
    size_t n = ws_env_name_len(e);
    if (n == 0)
        return ws_env_malformed(x, s + start, start, "a variable name is [A-Za-z_][A-Za-z0-9_]*");
    if (n >= WS_ENV_NAME_MAX)
        return ws_env_malformed(x, s + start, start, "variable name too long");
    char name[WS_ENV_NAME_MAX];
    memcpy(name, e, n);
    name[n] = '\0';
    e += n;

    const char *val;
    if (*e == '}') {
        if (!(val = x->lookup(name, x->lookup_ctx)))
            return ws_env_fail(x, "${env.%s} is not set and has no default", name);
        *pos = (size_t)(e + 1 - s);
        return ws_env_put(x, out, val, strlen(val));
    }
    if (e[0] == ':' && e[1] == '-') {
        const char *d = e + 2, *close = strchr(d, '}');
        if (!close)
            return ws_env_malformed(x, s + start, start, "missing '}'");
        const char *nested = strstr(d, "${");
        if (nested && nested < close)
            return ws_env_malformed(x, s + start, start, "a default cannot contain ${...}");
        val = x->lookup(name, x->lookup_ctx);
        *pos = (size_t)(close + 1 - s);
        if (val && *val)
            return ws_env_put(x, out, val, strlen(val));
        return ws_env_put(x, out, d, (size_t)(close - d));
    }
    int rc = ws_env_compare(x, s, start, name, e, boolean);
    if (rc <= 0) {
        *pos = strlen(s);
        return rc;
    }
    if (!strchr(e, '}'))
        return ws_env_malformed(x, s + start, start, "missing '}'");
    return ws_env_malformed(x, s + start, start, WS_ENV_FORMS);
}

/* Expand s into out; *boolean is -1, or 0/1 when s was a comparison. */
static int ws_env_string(struct ws_env_ctx *x, const char *s, struct ws_env_buf *out, int *boolean)
{
    size_t i = 0;
    int rc = 0;
    *boolean = -1;
    while (s[i] && rc == 0) {
        const char *dollar = strchr(s + i, '$');
        size_t lit = dollar ? (size_t)(dollar - (s + i)) : strlen(s + i);
        if (lit) {
            rc = ws_env_put(x, out, s + i, lit);
            i += lit;
        } else if (s[i + 1] == '$' && s[i + 2] == '{') {
            rc = ws_env_put(x, out, "${", 2); /* the escape */
            i += 3;
        } else if (s[i + 1] == '{') {
            rc = ws_env_one(x, s, &i, out, boolean);
        } else {
            rc = ws_env_put(x, out, "$", 1);
            i++;
        }
    }
    return rc;
}

/* Replace string node v by its expansion, or turn it into true/false. */
static int ws_env_node(struct ws_env_ctx *x, cJSON *v)
{
    if (!strchr(v->valuestring, '$'))
        return 0;
    struct ws_env_buf out = {0};
    int boolean, rc = ws_env_string(x, v->valuestring, &out, &boolean);
    if (rc == 0 && boolean >= 0) {
        /* in place, so the walk needs no parent: keep the flag bits, drop the text */
        if (!(v->type & cJSON_IsReference))
            cJSON_free(v->valuestring);
        v->valuestring = NULL;
        v->type = (v->type & ~0xFF) | (boolean ? cJSON_True : cJSON_False);
        v->valueint = boolean;
        v->valuedouble = boolean;
    } else if (rc == 0 && !cJSON_SetValuestring(v, out.p ? out.p : "")) {
        rc = -ENOMEM;
    }
    if (rc == -ENOMEM && x->err && x->errlen)
        snprintf(x->err, x->errlen, "%s: out of memory", x->path);
    free(out.p);
    return rc;
}

/* Append ".key" or "[i]" to path (control characters of a key shown as '?'). */
static size_t ws_env_path_push(char *path, size_t len, const cJSON *parent, const cJSON *child,
                               int index)
{
    if (cJSON_IsArray(parent)) {
        int n = snprintf(path + len, WS_ENV_PATH_MAX - len, "[%d]", index);
        return n < 0 || len + (size_t)n >= WS_ENV_PATH_MAX ? WS_ENV_PATH_MAX - 1 : len + (size_t)n;
    }
    const char *k = child->string ? child->string : "";
    if (len + 1 < WS_ENV_PATH_MAX)
        path[len++] = '.';
    for (; *k && len + 1 < WS_ENV_PATH_MAX; k++)
        path[len++] = (unsigned char)*k < 0x20 || *k == 0x7f ? '?' : *k;
    path[len] = '\0';
    return len;
}

static int ws_env_walk(struct ws_env_ctx *x, cJSON *v, char *path, size_t len)
{
    if (cJSON_IsString(v) && v->valuestring) {
        x->path = path;
        return ws_env_node(x, v);
    }
    if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
        return 0;
    int i = 0;
    for (cJSON *c = v->child; c; c = c->next, i++) {
        int rc = ws_env_walk(x, c, path, ws_env_path_push(path, len, v, c, i));
        path[len] = '\0';
        if (rc)
            return rc;
    }
    return 0;
}

int ws_env_expand(cJSON *v, const char *path, ws_env_lookup_fn lookup, void *ctx, char *err,
                  size_t errlen)
{
    char p[WS_ENV_PATH_MAX];
    struct ws_env_ctx x = {.lookup = lookup, .lookup_ctx = ctx, .err = err, .errlen = errlen};
    if (err && errlen)
        err[0] = '\0';
    if (!v)
        return 0;
    snprintf(p, sizeof(p), "%s", path ? path : "");
    return ws_env_walk(&x, v, p, strlen(p));
}

/* [+-]?digits[.digits][(e|E)[+-]?digits], and nothing else. */
static int ws_env_decimal(const char *s)
{
    size_t i = 0, d;
    if (s[i] == '+' || s[i] == '-')
        i++;
    for (d = i; s[i] >= '0' && s[i] <= '9'; i++)
        ;
    if (i == d)
        return 0;
    if (s[i] == '.') {
        for (d = ++i; s[i] >= '0' && s[i] <= '9'; i++)
            ;
        if (i == d)
            return 0;
    }
    if (s[i] == 'e' || s[i] == 'E') {
        i++;
        if (s[i] == '+' || s[i] == '-')
            i++;
        for (d = i; s[i] >= '0' && s[i] <= '9'; i++)
            ;
        if (i == d)
            return 0;
    }
    return s[i] == '\0';
}

int ws_env_number(const cJSON *v, double *out)
{
    double d;
    if (cJSON_IsNumber(v)) {
        d = v->valuedouble;
    } else if (cJSON_IsString(v) && v->valuestring && ws_env_decimal(v->valuestring)) {
        d = strtod(v->valuestring, NULL);
    } else {
        return -EINVAL;
    }
    if (!isfinite(d))
        return -EINVAL; /* "1e999" */
    *out = d;
    return 0;
}
