/*
 * items.c - finding a workflow's items, validating names and spec text, and
 * deciding which items are pending (see items.h).
 *
 * File names come from the user's folder and are untrusted: a stem is used in
 * a path (result file, checkpoint) only after item_stem_valid accepted it, and
 * an invalid name is kept only as a display string with every non-printable
 * byte replaced. Discovery follows the shell glob "*.md" in the items folder:
 * dot-files are not items, and a symlink counts when it points to a regular
 * file. Two stems that differ only in case would map to the same ID and the
 * same result file; the later one (in name order) is reported as an invalid
 * name instead of letting two items fight over one output.
 */
#include "runtime/items.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "runtime/result.h"
#include "shm/util.h"

#define ITEMS_STEM_RULE "IDs are 1-64 characters of A-Z a-z 0-9 _ -"

/* Copy s for display: printable ASCII kept, anything else '?', cut to outlen-1. */
static void items_sanitize(char *out, size_t outlen, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < outlen; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    if (outlen > 0)
        out[i] = '\0';
}

int item_stem_valid(const char *stem)
{
    if (!stem)
        return 0;
    size_t n = 0;
    for (; stem[n]; n++) {
        unsigned char ch = (unsigned char)stem[n];
        if (n >= ITEM_STEM_MAX || !((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                                    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            return 0;
    }
    return n > 0;
}

int item_make_id(const char *prefix, const char *stem, char *out, size_t outlen)
{
    if (!prefix || !*prefix || !item_stem_valid(stem) || !out)
        return -EINVAL;
    size_t pl = strlen(prefix), sl = strlen(stem);
    if (pl + 1 + sl + 1 > outlen)
        return -EINVAL;
    memcpy(out, prefix, pl);
    out[pl] = '-';
    for (size_t i = 0; i < sl; i++)
        out[pl + 1 + i] = (char)toupper((unsigned char)stem[i]);
    out[pl + 1 + sl] = '\0';
    return 0;
}

int item_stem_from_arg(const char *prefix, const char *arg, char *stem, size_t stemlen, char *err,
                       size_t errlen)
{
    if (!arg)
        arg = "";
    const char *s = arg;
    size_t pl = prefix ? strlen(prefix) : 0;
    if (pl > 0 && strncasecmp(arg, prefix, pl) == 0 && arg[pl] == '-')
        s = arg + pl + 1;
    if (!item_stem_valid(s) || strlen(s) >= stemlen) {
        char shown[80];
        items_sanitize(shown, sizeof(shown), arg);
        util_errf(err, errlen, "invalid item ID \"%s\": " ITEMS_STEM_RULE, shown);
        return -EINVAL;
    }
    util_strlcpy(stem, s, stemlen);
    return 0;
}

void items_free(struct item_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].input_path);
        free(l->v[i].out_path);
        free(l->v[i].deps);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int items_cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void items_free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Collect the sorted names of regular *.md files (not dot-files) in dir. */
static int items_list_names(DIR *d, const char *dir, char ***out, size_t *outn)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len < 3 || strcmp(de->d_name + len - 3, ".md") != 0)
            continue;
        char *full = util_asprintf("%s/%s", dir, de->d_name);
        struct stat st;
        int reg = full && stat(full, &st) == 0 && S_ISREG(st.st_mode);
        free(full);
        if (!reg)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **nn = realloc(names, nc * sizeof(*names));
            if (!nn)
                goto nomem;
            names = nn;
            cap = nc;
        }
        if (!(names[n] = strdup(de->d_name)))
            goto nomem;
        n++;
    }
    if (n > 1)
        qsort(names, n, sizeof(*names), items_cmp_names);
    *out = names;
    *outn = n;
    return 0;
nomem:
    items_free_names(names, n);
    return -ENOMEM;
}

/* 1 when an earlier valid item already has this ID (stems differing only in case). */
static int items_id_taken(const struct item_list *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (!l->v[i].invalid_name && strcmp(l->v[i].id, id) == 0)
            return 1;
    return 0;
}

static void items_mark_invalid(struct item *it, const char *name)
{
    items_sanitize(it->id, sizeof(it->id), name);
    it->stem[0] = '\0';
    it->invalid_name = 1;
    it->pending = 1;
}

/* Fill one item from its file name. Only -ENOMEM is fatal. */
static int items_fill(struct item_list *l, struct item *it, const char *prefix, const char *dir,
                      const char *out_dir, const char *name)
{
    char stem[ITEM_STEM_MAX + 2];
    size_t sl = strlen(name) - 3;
    memset(it, 0, sizeof(*it));
    if (sl > ITEM_STEM_MAX) {
        items_mark_invalid(it, name);
        return 0;
    }
    memcpy(stem, name, sl);
    stem[sl] = '\0';
    if (!item_stem_valid(stem) || item_make_id(prefix, stem, it->id, sizeof(it->id)) != 0 ||
        items_id_taken(l, it->id)) {
        items_mark_invalid(it, name);
        return 0;
    }
    util_strlcpy(it->stem, stem, sizeof(it->stem));
    it->input_path = util_asprintf("%s/%s", dir, name);
    it->out_path = util_asprintf("%s/%s.md", out_dir, it->id);
    if (!it->input_path || !it->out_path)
        return -ENOMEM;
    char *buf = NULL;
    size_t len = 0;
    /* Too big or unreadable: no sha; the worker reports the item's format. */
    if (util_read_file(it->input_path, ITEM_SPEC_MAX, &buf, &len) == 0 &&
        util_sha256_hex(buf, len, it->sha256) != 0)
        it->sha256[0] = '\0';
    free(buf);
    char have[65];
    it->pending =
        !it->sha256[0] || result_read_sha(it->out_path, have) != 0 || strcmp(have, it->sha256);
    return 0;
}

int items_discover(const char *prefix, const char *items_dir, const char *out_dir,
                   struct item_list *out, char *err, size_t errlen)
{
    out->v = NULL;
    out->n = 0;
    if (!prefix || !*prefix || !items_dir || !*items_dir || !out_dir || !*out_dir) {
        util_errf(err, errlen, "items: missing prefix or folder");
        return -EINVAL;
    }
    DIR *d = opendir(items_dir);
    if (!d) {
        int e = -errno;
        if (e == -ENOENT)
            util_errf(err, errlen, "items folder \"%s\" does not exist", items_dir);
        else if (e == -ENOTDIR)
            util_errf(err, errlen, "items folder \"%s\" is not a folder", items_dir);
        else
            util_errf(err, errlen, "could not open items folder \"%s\": %s", items_dir,
                      strerror(-e));
        return e;
    }
    char **names = NULL;
    size_t n = 0;
    int e = items_list_names(d, items_dir, &names, &n);
    closedir(d);
    if (e == 0 && n > 0 && !(out->v = calloc(n, sizeof(*out->v))))
        e = -ENOMEM;
    for (size_t i = 0; e == 0 && i < n; i++) {
        e = items_fill(out, &out->v[i], prefix, items_dir, out_dir, names[i]);
        out->n = i + 1;
    }
    items_free_names(names, n);
    if (e) {
        util_errf(err, errlen, "could not list items folder \"%s\": %s", items_dir, strerror(-e));
        items_free(out);
    }
    return e;
}

int item_spec_valid(const char *text, size_t len)
{
    if (!text || len > ITEM_SPEC_MAX || memchr(text, '\0', len))
        return -EINVAL;
    const unsigned char *p = (const unsigned char *)text;
    if (util_utf8_invalid_at(p, len) != len)
        return -EINVAL;
    size_t i = 0;
    if (len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
        i = 3;
    while (i < len) {
        size_t j = i;
        while (j < len && (p[j] == ' ' || p[j] == '\t' || p[j] == '\r'))
            j++;
        if (j < len && p[j] != '\n')
            return len - i >= 2 && p[i] == '#' && p[i + 1] == ' ' ? 0 : -EINVAL;
        i = j + 1; /* blank line: skip past its newline */
    }
    return -EINVAL;
}
