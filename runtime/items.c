/*
 * items.c - finding a workflow's items, validating names and spec text, and
 * deciding which items are pending (see items.h).
 *
 * File names come from the user's folder and are untrusted: a stem is used in
 * a path (result file, checkpoint) only after item_stem_valid accepted it, and
 * an invalid name is kept only as a display string with every non-printable
 * byte replaced. Discovery follows the shell glob "*.md" in the items folder:
 * dot-files are not items, and a symlink counts when it points to a regular
 * file; anything else named *.md (a FIFO, a folder, a dangling link) is an
 * item that fails at once, saying what it is, rather than a silent omission.
 * Two stems that differ only in case would map to the same ID and the same
 * result file; the later one (in name order) fails, naming the file that has
 * the ID, instead of letting two items fight over one output.
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
        free(l->v[i].why);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* One directory entry named *.md: its name and, when it is no regular file, what it is. */
struct items_name {
    char *name;
    const char *kind; /* NULL: a regular file (or a link to one); else "a FIFO", ... */
};

static int items_cmp_names(const void *a, const void *b)
{
    return strcmp(((const struct items_name *)a)->name, ((const struct items_name *)b)->name);
}

static void items_free_names(struct items_name *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i].name);
    free(names);
}

/* What dir/name is when it is not a regular file (stat follows links; nothing is opened). */
static const char *items_kind(const char *dir, const char *name)
{
    char *full = util_asprintf("%s/%s", dir, name);
    if (!full)
        return "unreadable (out of memory)";
    struct stat st;
    const char *kind = stat(full, &st) == 0 && S_ISREG(st.st_mode) ? NULL : util_path_kind(full);
    free(full);
    return kind;
}

/* Collect the sorted *.md entries (not dot-files) of dir, with their kinds. */
static int items_list_names(DIR *d, const char *dir, struct items_name **out, size_t *outn)
{
    struct items_name *names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len < 3 || strcmp(de->d_name + len - 3, ".md") != 0)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct items_name *nn = realloc(names, nc * sizeof(*names));
            if (!nn)
                goto nomem;
            names = nn;
            cap = nc;
        }
        names[n].kind = de->d_type == DT_REG ? NULL : items_kind(dir, de->d_name);
        if (!(names[n].name = strdup(de->d_name)))
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

/* The item cannot run: keep only a display name and why (NULL: "Invalid item name"). */
static int items_mark_invalid(struct item *it, const char *shown, char *why)
{
    free(it->input_path);
    free(it->out_path);
    it->input_path = it->out_path = NULL;
    it->sha256[0] = '\0';
    items_sanitize(it->id, sizeof(it->id), shown);
    it->stem[0] = '\0';
    it->invalid_name = 1;
    it->pending = 1;
    it->why = why;
    return 0;
}

/* Fill one item from its directory entry. Only -ENOMEM is fatal. */
static int items_fill(struct item *it, const char *prefix, const char *dir, const char *out_dir,
                      const struct items_name *e)
{
    char stem[ITEM_STEM_MAX + 2];
    size_t sl = strlen(e->name) - 3;
    memset(it, 0, sizeof(*it));
    if (sl > ITEM_STEM_MAX)
        return items_mark_invalid(it, e->name, NULL);
    memcpy(stem, e->name, sl);
    stem[sl] = '\0';
    if (!item_stem_valid(stem) || item_make_id(prefix, stem, it->id, sizeof(it->id)) != 0)
        return items_mark_invalid(it, e->name, NULL);
    if (e->kind) { /* a valid ID, but nothing that can be read as a spec */
        char *why = util_asprintf("%s/%s is %s, not a regular file", dir, e->name, e->kind);
        char id[SHM_ID_MAX];
        util_strlcpy(id, it->id, sizeof(id));
        return why ? items_mark_invalid(it, id, why) : -ENOMEM;
    }
    util_strlcpy(it->stem, stem, sizeof(it->stem));
    it->input_path = util_asprintf("%s/%s", dir, e->name);
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

/* Order of item indexes by ID, then by position (the earlier name first). */
static int items_cmp_ids(const void *a, const void *b, void *base)
{
    const struct item *v = base;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = strcmp(v[i].id, v[j].id);
    return c ? c : (i > j) - (i < j);
}

/*
 * Two stems that differ only in case map to one ID and one result file: every
 * one after the first in name order fails, naming the file that has the ID.
 * Sorting the indexes by ID puts clashes side by side: O(n log n) for the
 * whole folder (an earlier scan of all earlier items made 50,000 items take
 * 15 s). 0 or -ENOMEM.
 */
static int items_mark_clashes(struct item_list *l)
{
    size_t *ix = malloc((l->n + 1) * sizeof(*ix)), m = 0;
    if (!ix)
        return -ENOMEM;
    for (size_t i = 0; i < l->n; i++)
        if (!l->v[i].invalid_name)
            ix[m++] = i;
    qsort_r(ix, m, sizeof(*ix), items_cmp_ids, l->v);
    int e = 0;
    for (size_t k = 1, first = 0; k < m && !e; k++) {
        struct item *a = &l->v[ix[first]], *b = &l->v[ix[k]];
        if (strcmp(a->id, b->id) != 0) {
            first = k;
            continue;
        }
        const char *keep = strrchr(a->input_path, '/') + 1;
        const char *mine = strrchr(b->input_path, '/') + 1;
        char *why = util_asprintf("its ID %s is already %s's (file names that differ only in "
                                  "case share an ID)",
                                  a->id, keep);
        char shown[SHM_ID_MAX];
        util_strlcpy(shown, mine, sizeof(shown));
        e = why ? items_mark_invalid(b, shown, why) : -ENOMEM;
    }
    free(ix);
    return e;
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
    struct items_name *names = NULL;
    size_t n = 0;
    int e = items_list_names(d, items_dir, &names, &n);
    closedir(d);
    if (e == 0 && n > 0 && !(out->v = calloc(n, sizeof(*out->v))))
        e = -ENOMEM;
    for (size_t i = 0; e == 0 && i < n; i++) {
        e = items_fill(&out->v[i], prefix, items_dir, out_dir, &names[i]);
        out->n = i + 1;
    }
    items_free_names(names, n);
    if (e == 0)
        e = items_mark_clashes(out);
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
