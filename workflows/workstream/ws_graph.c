/*
 * ws_graph.c - questions about a loaded workstream's graph (see ws.h): may
 * two steps that can run at once touch the same files (ws_check_files), and
 * the graph drawn as Graphviz DOT (ws_write_dot). Loading and building the
 * graph is ws.c.
 *
 * The files check normalises every entry so that overlap becomes a plain
 * string prefix, sorts the entries, and compares each only with the entries
 * that follow it while they share its prefix: the cost is the sort plus one
 * O(1) ws_depends lookup per overlapping pair, never one per pair of entries.
 *
 * DOT labels hold file text (commands, output paths): it is escaped and cut so
 * a label stays one line of valid DOT whatever the file holds.
 */
#include "workflows/workstream/ws.h"
#include "workflows/workstream/ws_private.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm/util.h"

#define WS_DOT_RUN_MAX 40 /* characters of a command shown in a DOT label */

/* --- overlapping files ---------------------------------------------------- */

struct ws_entry {
    const char *norm; /* ws_norm_path form */
    const char *orig; /* as written */
    size_t step;
};

static int ws_entry_cmp(const void *pa, const void *pb)
{
    const struct ws_entry *a = pa, *b = pb;
    int c = strcmp(a->norm, b->norm);
    return c ? c : (a->step > b->step) - (a->step < b->step);
}

/*
 * Normalise a files entry into out as "c1/c2/" (each component followed by a
 * "/"), which turns overlap into a plain string prefix: "a/" is a prefix of
 * "a/x.c/" but not of "ab/". Empty and "." components are dropped; ".." drops
 * the component before it when there is one. The whole tree is "", an
 * absolute path keeps its leading "/". out needs strlen(p) + 2 bytes.
 */
static size_t ws_norm_path(const char *p, char *out)
{
    size_t o = 0, keep = 0; /* keep: what ".." may not remove */
    if (*p == '/')
        out[o++] = '/', keep = 1;
    while (*p) {
        size_t n = strcspn(p, "/");
        int dots = n == 2 && p[0] == '.' && p[1] == '.';
        if (dots && o > keep) {
            for (o--; o > keep && out[o - 1] != '/'; o--)
                ;
        } else if (n > 0 && !(n == 1 && p[0] == '.')) {
            memcpy(out + o, p, n);
            o += n;
            out[o++] = '/';
            if (dots)
                keep = o;
        }
        p += n;
        if (*p == '/')
            p++;
    }
    out[o] = '\0';
    return o;
}

/* The common ancestor of an overlap for a message: "a/b/" -> "a/b", "" -> ".". */
static const char *ws_norm_shown(char out[WS_SHOWN_MAX + 4], const char *norm)
{
    size_t n = strlen(norm);
    if (n == 0)
        return ".";
    if (n == 1)
        return "/";
    char tmp[WS_SHOWN_MAX + 2];
    size_t keep = n - 1 < WS_SHOWN_MAX + 1 ? n - 1 : WS_SHOWN_MAX + 1;
    memcpy(tmp, norm, keep);
    tmp[keep] = '\0';
    return ws_shown(out, tmp);
}

/* Report the pair e (an ancestor of, or equal to, f) from two unordered steps. */
static int ws_overlap(const struct workstream *ws, const struct ws_entry *e,
                      const struct ws_entry *f, struct ws_ctx *x)
{
    const struct ws_entry *a = e->step < f->step ? e : f, *b = a == e ? f : e;
    char under[WS_SHOWN_MAX + 4], sa[WS_SHOWN_MAX + 4], sb[WS_SHOWN_MAX + 4];
    return ws_fail(x,
                   "steps %s and %s may run at once but both list files under \"%s\" "
                   "(\"%s\" and \"%s\")",
                   ws->steps[a->step].id, ws->steps[b->step].id, ws_norm_shown(under, e->norm),
                   ws_shown(sa, a->orig), ws_shown(sb, b->orig));
}

/*
 * Sorted, the entries under an entry e (e itself, again, or below it) follow
 * e directly, so each entry is compared only with entries it overlaps: the
 * cost is the number of overlapping pairs, each one ws_depends lookup.
 */
static int ws_find_overlap(const struct workstream *ws, const struct ws_entry *v, size_t n,
                           struct ws_ctx *x)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(v[i].norm);
        for (size_t j = i + 1; j < n && strncmp(v[j].norm, v[i].norm, len) == 0; j++) {
            size_t a = v[i].step, b = v[j].step;
            if (a != b && !ws_depends(ws, a, b) && !ws_depends(ws, b, a))
                return ws_overlap(ws, &v[i], &v[j], x);
        }
    }
    return 0;
}

int ws_check_files(const struct workstream *ws, const char *name, char *err, size_t errlen)
{
    struct ws_ctx x = {.name = name ? name : "workstream", .err = err, .errlen = errlen};
    size_t n = 0, bytes = 0;
    for (size_t i = 0; i < ws->nsteps; i++)
        for (size_t k = 0; k < ws->steps[i].nfiles; k++, n++)
            bytes += strlen(ws->steps[i].files[k]) + 2;
    if (n < 2)
        return 0;
    struct ws_entry *v = malloc(n * sizeof(*v));
    char *arena = malloc(bytes), *p = arena;
    int rc = v && arena ? 0 : -ENOMEM;
    for (size_t i = 0, e = 0; rc == 0 && i < ws->nsteps; i++)
        for (size_t k = 0; k < ws->steps[i].nfiles; k++, e++) {
            v[e] = (struct ws_entry){p, ws->steps[i].files[k], i};
            p += ws_norm_path(ws->steps[i].files[k], p) + 1;
        }
    if (rc == 0) {
        qsort(v, n, sizeof(*v), ws_entry_cmp);
        rc = ws_find_overlap(ws, v, n, &x);
    } else {
        util_errf(err, errlen, "%s: out of memory", x.name);
    }
    free(v);
    free(arena);
    return rc;
}

/* --- DOT ------------------------------------------------------------------ */

/*
 * s inside a DOT string: '"' and '\' escaped, a newline as "\n", other control
 * bytes as spaces; cut after max characters (UTF-8 sequences count once) with
 * "...".
 */
static void ws_dot_str(FILE *out, const char *s, size_t max)
{
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xc0) != 0x80 && chars++ == max) {
            fputs("...", out);
            return;
        }
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p < 0x20 || *p == 0x7f ? ' ' : *p, out);
    }
}

void ws_write_dot(const struct workstream *ws, FILE *out)
{
    /* IDs are [A-Za-z0-9_-] (checked at load): safe inside quotes as they are. */
    fprintf(out, "digraph \"%s\" {\n", ws->id);
    fputs("    rankdir=LR;\n", out);
    for (size_t i = 0; i < ws->nsteps; i++) {
        const struct ws_step *st = &ws->steps[i];
        fprintf(out, "    \"%s\" [shape=%s, label=\"%s\\n", st->id, st->run ? "box" : "note",
                st->id);
        if (st->run) {
            fputs("run: ", out);
            ws_dot_str(out, st->run, WS_DOT_RUN_MAX);
        } else {
            fputs("prompt -> ", out);
            ws_dot_str(out, st->output ? st->output : "", SIZE_MAX);
        }
        fputs("\"];\n", out);
    }
    for (size_t i = 0; i < ws->nsteps; i++)
        for (size_t k = 0; k < ws->steps[i].ndeps; k++)
            fprintf(out, "    \"%s\" -> \"%s\";\n", ws->steps[ws->steps[i].deps[k]].id,
                    ws->steps[i].id);
    fputs("}\n", out);
}
