/*
 * ws.c - workstream files (see ws.h).
 *
 * Loading runs in passes, each reporting the first problem it meets in file
 * order: the text (size, NUL bytes, UTF-8, JSON); the top level and every step
 * on its own; duplicate step IDs, through an index sorted by ID that also
 * resolves depends_on in O(log n); a depth-first search, roots and edges in
 * file order, that reports the first cycle it closes and otherwise yields a
 * topological order; and, in that order, waves, hashes and the transitive
 * closure. The search is iterative because a chain of WS_MAX_STEPS steps is
 * that deep.
 *
 * The closure is one bitset row per step (row a has bit b when a depends on
 * b): n*n/8 bytes, 12.5 MB at WS_MAX_STEPS, built in O(edges * n/64). It makes
 * ws_depends O(1), which ws_check_files (ws_graph.c) calls for every
 * overlapping pair. Messages are worded through ws_private.h, shared with
 * ws_graph.c.
 */
#include "workflows/workstream/ws.h"
#include "workflows/workstream/ws_private.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime/items.h"
#include "shm/util.h"

/* IDs end up in file names: the item-stem rule. */
_Static_assert(WS_ID_MAX == ITEM_STEM_MAX, "workstream and item IDs share a rule");
#define WS_ID_RULE "a string of 1-64 characters of A-Z a-z 0-9 _ -"
#define WS_RESERVED_ID "coordinator" /* in any case: the coordinator's prefix and log */

/* Set err to "<name>: <message>". Returns -EINVAL, for "return ws_fail(...)". */
int ws_fail(struct ws_ctx *x, const char *fmt, ...)
{
    if (!x->err || x->errlen == 0)
        return -EINVAL;
    int n = snprintf(x->err, x->errlen, "%s: ", x->name);
    if (n >= 0 && (size_t)n < x->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(x->err + n, x->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* Copy file text s for a message: printable ASCII kept, other bytes '?', cut with "...". */
const char *ws_shown(char out[WS_SHOWN_MAX + 4], const char *s)
{
    size_t i = 0;
    for (; s[i] && i < WS_SHOWN_MAX; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    strcpy(out + i, s[i] ? "..." : "");
    return out;
}

static const cJSON *ws_get(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static int ws_nonempty(const cJSON *v)
{
    return cJSON_IsString(v) && v->valuestring[0] != '\0';
}

static size_t ws_words(size_t nsteps)
{
    return (nsteps + 63) / 64;
}

/* --- the text ------------------------------------------------------------ */

static size_t ws_line_of(const char *text, size_t at)
{
    size_t line = 1;
    for (size_t i = 0; i < at; i++)
        line += text[i] == '\n';
    return line;
}

/*
 * Parse text into ws->doc. Positions in messages count bytes from 1, as
 * editors' "go to byte" does. cJSON stops a string at a raw NUL and does not
 * check UTF-8, so both are checked first; it also stops after the first
 * value, so anything but whitespace after it is refused here.
 */
static int ws_parse_text(struct ws_ctx *x, const char *text, size_t len)
{
    if (len > WS_FILE_MAX) {
        ws_fail(x, "larger than %d bytes", WS_FILE_MAX);
        return -EFBIG;
    }
    const char *nul = memchr(text, '\0', len);
    if (nul)
        return ws_fail(x, "contains a NUL byte at byte %zu (not a JSON text file)",
                       (size_t)(nul - text) + 1);
    size_t bad = util_utf8_invalid_at(text, len);
    if (bad < len)
        return ws_fail(x, "not valid UTF-8 near byte %zu", bad + 1);
    const char *end = NULL;
    x->ws->doc = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (x->ws->doc)
        while (end < text + len && (unsigned char)*end <= ' ')
            end++;
    if (!x->ws->doc || end < text + len) {
        size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        return ws_fail(x, "not valid JSON near byte %zu (line %zu)", at + 1, ws_line_of(text, at));
    }
    if (!cJSON_IsObject(x->ws->doc))
        return ws_fail(x, "top level must be a JSON object");
    return 0;
}

/* --- the top level and each step ------------------------------------------ */

static int ws_parse_execution(struct ws_ctx *x, const cJSON *exec)
{
    x->ws->parallel = 1;
    if (!exec)
        return 0;
    /* the doc is ours: ${env...} is expanded in place (ws_exec.c) */
    return ws_exec_parse(x, (cJSON *)exec);
}

/* Relative, and no ".." component: a prompt's reply stays inside the tree. */
static int ws_relpath_ok(const char *p)
{
    if (p[0] == '/')
        return 0;
    while (*p) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 0;
        p += n;
        if (*p == '/')
            p++;
    }
    return 1;
}

/* Exactly one of run and prompt; output on prompt steps only, and required there. */
static int ws_parse_action(struct ws_ctx *x, struct ws_step *st)
{
    const cJSON *run = ws_get(st->def, "run"), *prompt = ws_get(st->def, "prompt");
    const cJSON *output = ws_get(st->def, "output");
    if (run && prompt)
        return ws_fail(x, "step %s has both \"run\" and \"prompt\" (a step is one or the other)",
                       st->id);
    if (!run && !prompt)
        return ws_fail(x, "step %s needs \"run\" (a command) or \"prompt\"", st->id);
    if (run) {
        if (!ws_nonempty(run))
            return ws_fail(x, "step %s: run must be a non-empty string", st->id);
        if (output)
            return ws_fail(x, "step %s: \"output\" is only for prompt steps", st->id);
        st->run = run->valuestring;
        return 0;
    }
    if (!ws_nonempty(prompt))
        return ws_fail(x, "step %s: prompt must be a non-empty string", st->id);
    if (!output)
        return ws_fail(x, "step %s: a prompt step needs \"output\" (where the reply goes)", st->id);
    if (!ws_nonempty(output) || !ws_relpath_ok(output->valuestring))
        return ws_fail(x, "step %s: output must be a relative path without \"..\" components",
                       st->id);
    st->prompt = prompt->valuestring;
    st->output = output->valuestring;
    return 0;
}

/*
 * The step's <key>, when present: an array of non-empty strings. With out,
 * the strings (pointers into the doc) go to *out and their count to *n; *out
 * is set as soon as it is allocated so a failure leaves it for ws_free.
 */
static int ws_strings(struct ws_ctx *x, const struct ws_step *st, const char *key, char ***out,
                      size_t *n)
{
    const cJSON *arr = ws_get(st->def, key);
    if (!arr)
        return 0;
    if (!cJSON_IsArray(arr))
        return ws_fail(x, "step %s: %s must be an array of non-empty strings", st->id, key);
    size_t cnt = (size_t)cJSON_GetArraySize(arr), i = 0;
    char **v = NULL;
    if (out && cnt > 0 && !(*out = v = calloc(cnt, sizeof(*v))))
        return -ENOMEM;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        if (!ws_nonempty(e))
            return ws_fail(x, "step %s: %s[%zu] must be a non-empty string", st->id, key, i);
        if (v)
            v[i] = e->valuestring;
        i++;
    }
    if (n)
        *n = i;
    return 0;
}

static int ws_parse_step(struct ws_ctx *x, size_t i, const cJSON *def)
{
    struct ws_step *st = &x->ws->steps[i];
    st->def = def;
    if (!cJSON_IsObject(def))
        return ws_fail(x, "steps[%zu] must be an object", i);
    const cJSON *id = ws_get(def, "id");
    if (!cJSON_IsString(id) || !item_stem_valid(id->valuestring))
        return ws_fail(x, "steps[%zu].id must be " WS_ID_RULE, i);
    /* A step's ID is its console prefix and its log's name: never the coordinator's. */
    if (strcasecmp(id->valuestring, WS_RESERVED_ID) == 0)
        return ws_fail(x,
                       "steps[%zu].id \"%s\" is reserved: the coordinator's console lines and "
                       "coordinator.log use that name",
                       i, id->valuestring);
    util_strlcpy(st->id, id->valuestring, sizeof(st->id));
    char **accept = NULL;
    int rc = ws_parse_action(x, st);
    if (rc == 0)
        rc = ws_strings(x, st, "files", &st->files, &st->nfiles);
    if (rc == 0)
        rc = ws_strings(x, st, "acceptance_tests", &accept, &st->naccept);
    st->accept = (const char **)accept;
    if (rc == 0) /* resolved once every ID is known (ws_resolve) */
        rc = ws_strings(x, st, "depends_on", NULL, NULL);
    if (rc == 0)
        rc = ws_exec_step(x, st);
    return rc;
}

static int ws_parse_top(struct ws_ctx *x)
{
    struct workstream *ws = x->ws;
    const cJSON *id = ws_get(ws->doc, "id");
    if (!cJSON_IsString(id) || !item_stem_valid(id->valuestring))
        return ws_fail(x, "id must be " WS_ID_RULE);
    util_strlcpy(ws->id, id->valuestring, sizeof(ws->id));
    int rc = ws_parse_execution(x, ws_get(ws->doc, "execution"));
    if (rc)
        return rc;
    const cJSON *steps = ws_get(ws->doc, "steps");
    if (!steps)
        return ws_fail(x, "missing \"steps\"");
    if (!cJSON_IsArray(steps))
        return ws_fail(x, "steps must be an array of step objects");
    int n = cJSON_GetArraySize(steps);
    if (n == 0)
        return ws_fail(x, "steps must list at least one step");
    if (n > WS_MAX_STEPS)
        return ws_fail(x, "steps lists %d steps, more than %d", n, WS_MAX_STEPS);
    if (!(ws->steps = calloc((size_t)n, sizeof(*ws->steps))))
        return -ENOMEM;
    ws->nsteps = (size_t)n;
    size_t i = 0;
    const cJSON *def;
    cJSON_ArrayForEach(def, steps)
    {
        if ((rc = ws_parse_step(x, i++, def)) != 0)
            return rc;
    }
    return 0;
}

/* --- the graph ----------------------------------------------------------- */

struct ws_key {
    const char *id;
    size_t i;
};

/* IDs in case-blind order (so IDs that differ only in case sit together), then exact. */
static int ws_id_cmp(const char *a, const char *b)
{
    int c = strcasecmp(a, b);
    return c ? c : strcmp(a, b);
}

static int ws_key_cmp(const void *pa, const void *pb)
{
    const struct ws_key *a = pa, *b = pb;
    int c = ws_id_cmp(a->id, b->id);
    return c ? c : (a->i > b->i) - (a->i < b->i);
}

/*
 * Sort the IDs into keys; report the duplicate whose second use comes first.
 * IDs that differ only in case count as duplicates too: "[Build]" and
 * "[build]" would be two console prefixes a reader takes for one, and
 * Build.log and build.log one file on a case-blind disk.
 */
static int ws_index(struct ws_ctx *x, struct ws_key *keys)
{
    const struct workstream *ws = x->ws;
    for (size_t i = 0; i < ws->nsteps; i++)
        keys[i] = (struct ws_key){ws->steps[i].id, i};
    qsort(keys, ws->nsteps, sizeof(*keys), ws_key_cmp);
    size_t dup = 0;
    for (size_t k = 1; k < ws->nsteps; k++)
        if (strcasecmp(keys[k - 1].id, keys[k].id) == 0 && (!dup || keys[k].i < keys[dup].i))
            dup = k;
    if (!dup)
        return 0;
    const struct ws_key *a = &keys[dup - 1], *b = &keys[dup];
    if (strcmp(a->id, b->id) == 0)
        return ws_fail(x, "duplicate step id \"%s\" (steps[%zu] and steps[%zu])", b->id, a->i,
                       b->i);
    const struct ws_key *first = a->i < b->i ? a : b, *second = a->i < b->i ? b : a;
    return ws_fail(x, "step ids \"%s\" and \"%s\" differ only in case (steps[%zu] and steps[%zu])",
                   first->id, second->id, first->i, second->i);
}

/* Index of the step called id, or SIZE_MAX. */
static size_t ws_lookup(const struct ws_key *keys, size_t n, const char *id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = ws_id_cmp(keys[mid].id, id);
        if (c == 0)
            return keys[mid].i;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return SIZE_MAX;
}

/*
 * depends_on names to indexes. A dependency listed twice counts once (seen[j]
 * holds 1 + the last step that listed j), so the graph has no parallel edges.
 */
static int ws_resolve(struct ws_ctx *x, const struct ws_key *keys, size_t *seen)
{
    struct workstream *ws = x->ws;
    for (size_t i = 0; i < ws->nsteps; i++) {
        struct ws_step *st = &ws->steps[i];
        const cJSON *arr = ws_get(st->def, "depends_on"), *e;
        size_t cnt = arr ? (size_t)cJSON_GetArraySize(arr) : 0;
        if (cnt == 0)
            continue;
        if (!(st->deps = malloc(cnt * sizeof(*st->deps))))
            return -ENOMEM;
        cJSON_ArrayForEach(e, arr)
        {
            size_t j = ws_lookup(keys, ws->nsteps, e->valuestring);
            char shown[WS_SHOWN_MAX + 4];
            if (j == SIZE_MAX)
                return ws_fail(x, "step %s depends on unknown step \"%s\"", st->id,
                               ws_shown(shown, e->valuestring));
            if (seen[j] == i + 1)
                continue;
            seen[j] = i + 1;
            st->deps[st->ndeps++] = j;
        }
    }
    return 0;
}

/*
 * The cycle closed by an edge from the top of the DFS stack back to d (on the
 * stack): "a -> b -> a", starting and ending at the member first in the file.
 */
static int ws_deadlock(struct ws_ctx *x, const size_t *stack, size_t sp, size_t d)
{
    size_t k = sp - 1;
    while (stack[k] != d)
        k--;
    size_t len = sp - k, first = 0;
    for (size_t t = 1; t < len; t++)
        if (stack[k + t] < stack[k + first])
            first = t;
    char *chain = malloc((len + 1) * (WS_ID_MAX + 4));
    if (!chain)
        return -ENOMEM;
    size_t o = 0;
    for (size_t t = 0; t <= len; t++) {
        const char *id = x->ws->steps[stack[k + (first + t) % len]].id;
        o += (size_t)sprintf(chain + o, "%s%s", t ? " -> " : "", id);
    }
    ws_fail(x, "Step deadlock detected: %s", chain);
    free(chain);
    return -EINVAL;
}

/*
 * Depth-first search along depends_on, roots and edges in file order. Fills
 * topo with every step after all of its dependencies, or reports the first
 * cycle met (an edge to a step still on the stack).
 */
static int ws_order(struct ws_ctx *x, size_t *topo)
{
    enum { WHITE, GREY, BLACK };
    const struct workstream *ws = x->ws;
    size_t n = ws->nsteps, nt = 0;
    unsigned char *color = calloc(n, 1);
    size_t *next = calloc(n, sizeof(*next)), *stack = malloc(n * sizeof(*stack));
    int rc = color && next && stack ? 0 : -ENOMEM;
    for (size_t r = 0; r < n && rc == 0; r++) {
        if (color[r] != WHITE)
            continue;
        size_t sp = 0;
        stack[sp++] = r;
        color[r] = GREY;
        while (sp > 0 && rc == 0) {
            size_t v = stack[sp - 1];
            if (next[v] == ws->steps[v].ndeps) {
                color[v] = BLACK;
                topo[nt++] = v;
                sp--;
                continue;
            }
            size_t d = ws->steps[v].deps[next[v]++];
            if (color[d] == WHITE) {
                color[d] = GREY;
                stack[sp++] = d;
            } else if (color[d] == GREY) {
                rc = ws_deadlock(x, stack, sp, d);
            }
        }
    }
    free(color);
    free(next);
    free(stack);
    return rc;
}

/* SHA-256 of the step's compact JSON followed by its dependencies' hashes. */
static int ws_hash(struct ws_step *st, const struct ws_step *steps)
{
    char *json = cJSON_PrintUnformatted(st->def);
    if (!json)
        return -ENOMEM;
    size_t jl = strlen(json);
    char *buf = malloc(jl + 64 * st->ndeps + 1);
    int rc = -ENOMEM;
    if (buf) {
        memcpy(buf, json, jl);
        for (size_t k = 0; k < st->ndeps; k++)
            memcpy(buf + jl + 64 * k, steps[st->deps[k]].sha256, 64);
        rc = util_sha256_hex(buf, jl + 64 * st->ndeps, st->sha256);
    }
    free(buf);
    cJSON_free(json);
    return rc;
}

/* Waves, hashes and the closure, each step after its dependencies. */
static int ws_derive(struct workstream *ws, const size_t *topo)
{
    size_t n = ws->nsteps, words = ws_words(n);
    if (!(ws->reach = calloc(n * words, sizeof(*ws->reach))))
        return -ENOMEM;
    for (size_t t = 0; t < n; t++) {
        struct ws_step *st = &ws->steps[topo[t]];
        uint64_t *row = ws->reach + topo[t] * words;
        for (size_t k = 0; k < st->ndeps; k++) {
            size_t d = st->deps[k];
            const uint64_t *drow = ws->reach + d * words;
            for (size_t w = 0; w < words; w++)
                row[w] |= drow[w];
            row[d / 64] |= (uint64_t)1 << (d % 64);
            if (ws->steps[d].wave + 1 > st->wave)
                st->wave = ws->steps[d].wave + 1;
        }
        if (st->wave + 1 > ws->nwaves)
            ws->nwaves = st->wave + 1;
        int rc = ws_hash(st, ws->steps);
        if (rc)
            return rc;
    }
    return 0;
}

static size_t ws_lookup_any(const void *keys, size_t n, const char *id)
{
    return ws_lookup(keys, n, id);
}

static int ws_link(struct ws_ctx *x)
{
    size_t n = x->ws->nsteps;
    struct ws_key *keys = malloc(n * sizeof(*keys));
    size_t *seen = calloc(n, sizeof(*seen)), *topo = malloc(n * sizeof(*topo));
    int rc = keys && seen && topo ? 0 : -ENOMEM;
    if (rc == 0)
        rc = ws_index(x, keys);
    if (rc == 0)
        rc = ws_resolve(x, keys, seen);
    if (rc == 0)
        rc = ws_order(x, topo);
    if (rc == 0)
        rc = ws_derive(x->ws, topo);
    if (rc == 0)
        rc = ws_exec_groups(x, ws_get(x->ws->doc, "step_groups"), ws_lookup_any, keys);
    free(keys);
    free(seen);
    free(topo);
    return rc;
}

int ws_parse(const char *text, size_t len, const char *name, struct workstream *ws, char *err,
             size_t errlen)
{
    struct ws_ctx x = {.name = name ? name : "workstream", .err = err, .errlen = errlen, .ws = ws};
    memset(ws, 0, sizeof(*ws));
    if (err && errlen)
        err[0] = '\0';
    int rc = ws_parse_text(&x, text ? text : "", text ? len : 0);
    if (rc == 0)
        rc = ws_parse_top(&x);
    if (rc == 0)
        rc = ws_link(&x);
    if (rc == -ENOMEM)
        util_errf(err, errlen, "%s: out of memory", x.name);
    if (rc)
        ws_free(ws);
    return rc;
}

int ws_load(const char *path, struct workstream *ws, char *err, size_t errlen)
{
    memset(ws, 0, sizeof(*ws));
    char *text = NULL;
    size_t len = 0;
    int rc = util_read_file(path, WS_FILE_MAX, &text, &len);
    if (rc == -EFBIG)
        util_errf(err, errlen, "%s: larger than %d bytes", path, WS_FILE_MAX);
    else if (rc == -EINVAL)
        util_errf(err, errlen, "%s: not a regular file (%s)", path, util_path_kind(path));
    else if (rc)
        util_errf(err, errlen, "%s: could not read: %s", path, strerror(-rc));
    if (rc)
        return rc;
    rc = ws_parse(text, len, path, ws, err, errlen);
    free(text);
    return rc;
}

int ws_depends(const struct workstream *ws, size_t a, size_t b)
{
    if (!ws || !ws->reach || a >= ws->nsteps || b >= ws->nsteps)
        return 0;
    return (int)((ws->reach[a * ws_words(ws->nsteps) + b / 64] >> (b % 64)) & 1);
}

void ws_free(struct workstream *ws)
{
    if (!ws)
        return;
    for (size_t i = 0; ws->steps && i < ws->nsteps; i++) {
        free(ws->steps[i].files);
        free(ws->steps[i].accept);
        free(ws->steps[i].deps);
    }
    ws_exec_free(ws);
    free(ws->steps);
    free(ws->reach);
    cJSON_Delete(ws->doc);
    memset(ws, 0, sizeof(*ws));
}
