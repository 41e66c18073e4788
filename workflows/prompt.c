/*
 * prompt.c - prompt template loading and {{placeholder}} substitution
 * (see prompt.h).
 *
 * Rendering is one pass over the template into a growing buffer; values are
 * copied in and the scan resumes after the placeholder, which is what keeps
 * item text (which may contain braces) from being expanded again.
 */
#include "workflows/prompt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm/util.h"

struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
};

static void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static int is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/*
 * If p starts a well-formed placeholder, return its value from vars and set
 * *skip to the placeholder's length; NULL otherwise (left as is).
 */
static const char *lookup(const char *p, const char *const *vars, size_t *skip)
{
    const char *k = p + 2, *q;
    while (*k == ' ')
        k++;
    for (q = k; is_key_char(*q); q++)
        ;
    size_t klen = (size_t)(q - k);
    while (*q == ' ')
        q++;
    if (klen == 0 || q[0] != '}' || q[1] != '}')
        return NULL;
    for (size_t i = 0; vars && vars[i] && vars[i + 1]; i += 2) {
        if (strlen(vars[i]) == klen && memcmp(vars[i], k, klen) == 0) {
            *skip = (size_t)(q + 2 - p);
            return vars[i + 1];
        }
    }
    return NULL;
}

int prompt_substitute(const char *tmpl, const char *const *vars, char **out)
{
    struct sbuf b = {0};
    const char *p = tmpl;
    sbuf_add(&b, "", 0); /* an empty template still renders to "" */
    for (;;) {
        const char *open = strstr(p, "{{");
        if (!open) {
            sbuf_add(&b, p, strlen(p));
            break;
        }
        size_t skip = 0;
        const char *val = lookup(open, vars, &skip);
        if (val) {
            sbuf_add(&b, p, (size_t)(open - p));
            sbuf_add(&b, val, strlen(val));
            p = open + skip;
        } else {
            /* keep one brace and rescan: "{{{spec}}}" still finds "{{spec}}" */
            sbuf_add(&b, p, (size_t)(open - p) + 1);
            p = open + 1;
        }
    }
    if (b.oom) {
        free(b.p);
        return -ENOMEM;
    }
    *out = b.p;
    return 0;
}

static int name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    return n > 0 && n <= PROMPT_NAME_MAX && !strchr(name, '/') && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0;
}

/* Read dir/name into path and *text: 0, -ENOENT, or another error with err filled. */
static int load_one(char *path, size_t pathlen, const char *dir, const char *name, char **text,
                    char *err, size_t errlen)
{
    int n = snprintf(path, pathlen, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= pathlen) {
        snprintf(err, errlen, "prompt template path under %s is too long", dir);
        return -ENAMETOOLONG;
    }
    int r = util_read_file(path, PROMPT_TEMPLATE_MAX, text, NULL);
    if (r == -EFBIG)
        snprintf(err, errlen, "prompt template %s is larger than %d KiB", path,
                 PROMPT_TEMPLATE_MAX / 1024);
    else if (r == -EINVAL)
        snprintf(err, errlen, "prompt template %s is not a regular file (%s)", path,
                 util_path_kind(path));
    else if (r < 0)
        snprintf(err, errlen, "could not read prompt template %s: %s", path, strerror(-r));
    return r;
}

int prompt_render(const char *home, const char *prompts_dir, const char *name,
                  const char *const *vars, char **out, char *err, size_t errlen)
{
    char path[4096], dir[4096];
    char *text = NULL;
    int r = -ENOENT;
    if (!name_ok(name)) {
        snprintf(err, errlen, "invalid prompt template name \"%s\"", name ? name : "(null)");
        return -EINVAL;
    }
    if (home && *home) {
        /* an override that exists but cannot be used is an error, not a silent fallback */
        int n = snprintf(dir, sizeof(dir), "%s/prompts", home);
        if (n < 0 || (size_t)n >= sizeof(dir)) {
            snprintf(err, errlen, "prompt override folder under %s is too long", home);
            return -ENAMETOOLONG;
        }
        r = load_one(path, sizeof(path), dir, name, &text, err, errlen);
        if (r < 0 && r != -ENOENT)
            return r;
    }
    if (r == -ENOENT) {
        if (!prompts_dir || !*prompts_dir) {
            snprintf(err, errlen, "prompt template %s not found (no prompts folder)", name);
            return -ENOENT;
        }
        r = load_one(path, sizeof(path), prompts_dir, name, &text, err, errlen);
        if (r == -ENOENT)
            snprintf(err, errlen, "prompt template %s not found", path);
        if (r < 0)
            return r;
    }
    r = prompt_substitute(text, vars, out);
    free(text);
    if (r < 0)
        snprintf(err, errlen, "could not render prompt template %s: %s", path, strerror(-r));
    return r;
}
