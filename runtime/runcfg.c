/*
 * runcfg.c - parsing and checking the run file (see runcfg.h).
 *
 * The tree cJSON builds is walked member by member, not looked up by name, so
 * an unknown or repeated field is seen and reported instead of silently
 * ignored (a misspelt "max_concurent" would otherwise leave a node unlimited).
 * Every message is one line: the file, the path of the field in the file's
 * own terms (nodes."lld.N2_review".keys[1]) and what is wrong. Names that come
 * from the file are shown with control characters replaced and cut short, so
 * a hostile file cannot forge console lines.
 */
#include "runtime/runcfg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "shm/util.h"
#include "shm/shm_layout.h"

_Static_assert(RUNCFG_MAX_KEYS >= SHM_MAX_KEYS, "a key mask must cover every key slot");
_Static_assert(RUNCFG_MAX_KEYS % 64 == 0, "the key mask is whole 64-bit words");

#define RUNCFG_SHOW_MAX 64  /* longest name from the file that a message quotes */
#define RUNCFG_LIST_MAX 240 /* longest "it has ..." list */

struct runcfg_ctx {
    const char *name;
    const struct runcfg_known *known;
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int runcfg_fail(struct runcfg_ctx *x, const char *fmt,
                                                             ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    util_errf(x->err, x->errlen, "%s: %s", x->name, what);
    return -EINVAL;
}

/* s as a message may show it: control characters as '?', at most RUNCFG_SHOW_MAX bytes. */
static const char *runcfg_show(const char *s, char *buf, size_t len)
{
    size_t i = 0;
    for (; s[i] && i + 1 < len && i < RUNCFG_SHOW_MAX; i++)
        buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    buf[i] = '\0';
    if (s[i] && i > 3) {
        i -= 3;
        while (i > 0 && ((unsigned char)buf[i] & 0xC0) == 0x80)
            i--; /* do not cut a UTF-8 sequence in two */
        memcpy(buf + i, "...", 4);
    }
    return buf;
}

/* "a, b, c" (cut with ", ..." past RUNCFG_LIST_MAX). */
static const char *runcfg_list(const char *const *v, size_t n, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && at < len; i++) {
        if (at + strlen(v[i]) + 2 > RUNCFG_LIST_MAX) {
            snprintf(buf + at, len - at, "%s...", i ? ", " : "");
            break;
        }
        at += (size_t)snprintf(buf + at, len - at, "%s%s", i ? ", " : "", v[i]);
    }
    return buf;
}

/* 1 if a member before item in obj has the same name. */
static int runcfg_seen_before(const cJSON *obj, const cJSON *item)
{
    for (const cJSON *c = obj->child; c && c != item; c = c->next)
        if (strcmp(c->string, item->string) == 0)
            return 1;
    return 0;
}

/* A whole number in [lo, hi]; range first: casting a huge double is undefined. */
static int runcfg_whole(const cJSON *v, double lo, double hi, uint32_t *out)
{
    if (!cJSON_IsNumber(v))
        return -1;
    double d = v->valuedouble;
    if (!(d >= lo && d <= hi) || d != (double)(uint32_t)d)
        return -1;
    *out = (uint32_t)d;
    return 0;
}

static int runcfg_find_key(const struct runcfg_known *k, const char *id)
{
    for (size_t i = 0; i < k->key_count && i < RUNCFG_MAX_KEYS; i++)
        if (strcmp(k->keys[i], id) == 0)
            return (int)i;
    return -1;
}

static int runcfg_node_keys(struct runcfg_ctx *x, const char *where, const cJSON *v,
                            struct runcfg_node *n)
{
    char show[RUNCFG_SHOW_MAX + 1], list[RUNCFG_LIST_MAX + 8];
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0)
        return runcfg_fail(x, "%s.keys: must be a non-empty array of key ids", where);
    int i = 0;
    const cJSON *id;
    cJSON_ArrayForEach(id, v)
    {
        if (!cJSON_IsString(id))
            return runcfg_fail(x, "%s.keys[%d]: must be a key id (a string)", where, i);
        int k = runcfg_find_key(x->known, id->valuestring);
        if (k < 0)
            return runcfg_fail(
                x, "%s.keys[%d]: no key \"%s\" in the credentials (it has %s)", where, i,
                runcfg_show(id->valuestring, show, sizeof(show)),
                runcfg_list(x->known->keys, x->known->key_count, list, sizeof(list)));
        uint64_t bit = 1ull << (k % 64);
        if (n->key_mask[k / 64] & bit)
            return runcfg_fail(x, "%s.keys[%d]: \"%s\" listed twice", where, i,
                               runcfg_show(id->valuestring, show, sizeof(show)));
        n->key_mask[k / 64] |= bit;
        n->key_count++;
        i++;
    }
    return 0;
}

/* "lld.N2_review" -> workflow and node indexes. */
static int runcfg_node_name(struct runcfg_ctx *x, const char *where, const char *full,
                            struct runcfg_node *n)
{
    char wf[RUNCFG_SHOW_MAX + 1], show[RUNCFG_SHOW_MAX + 1], list[RUNCFG_LIST_MAX + 8];
    const char *dot = strchr(full, '.');
    if (!dot || dot == full || !dot[1])
        return runcfg_fail(x, "%s: expected \"workflow.node\", e.g. \"lld.N2_review\"", where);
    size_t wlen = (size_t)(dot - full);
    const struct runcfg_known *k = x->known;
    const char *names[16];
    size_t nnames = 0;
    for (size_t w = 0; w < k->workflow_count; w++) {
        if (nnames < sizeof(names) / sizeof(names[0]))
            names[nnames++] = k->workflows[w].name;
        if (strlen(k->workflows[w].name) != wlen || strncmp(k->workflows[w].name, full, wlen))
            continue;
        const struct runcfg_workflow *d = &k->workflows[w];
        for (size_t i = 0; i < d->node_count; i++)
            if (strcmp(d->nodes[i], dot + 1) == 0) {
                n->workflow = (uint32_t)w;
                n->node = (uint32_t)i;
                return 0;
            }
        return runcfg_fail(x, "%s: workflow %s has no node %s (it has %s)", where, d->name,
                           runcfg_show(dot + 1, show, sizeof(show)),
                           runcfg_list(d->nodes, d->node_count, list, sizeof(list)));
    }
    snprintf(wf, sizeof(wf), "%.*s", (int)(wlen < RUNCFG_SHOW_MAX ? wlen : RUNCFG_SHOW_MAX), full);
    return runcfg_fail(x, "%s: no workflow %s (known: %s)", where,
                       runcfg_show(wf, show, sizeof(show)),
                       runcfg_list(names, nnames, list, sizeof(list)));
}

static int runcfg_node(struct runcfg_ctx *x, const cJSON *entry, struct runcfg *cfg)
{
    char show[RUNCFG_SHOW_MAX + 1], where[RUNCFG_SHOW_MAX + 16];
    snprintf(where, sizeof(where), "nodes.\"%s\"", runcfg_show(entry->string, show, sizeof(show)));
    if (cfg->node_count >= RUNCFG_MAX_NODES)
        return runcfg_fail(x, "%s: more than %d node entries", where, RUNCFG_MAX_NODES);
    struct runcfg_node n;
    memset(&n, 0, sizeof(n));
    int rc = runcfg_node_name(x, where, entry->string, &n);
    if (rc)
        return rc;
    if (runcfg_find(cfg, n.workflow, n.node))
        return runcfg_fail(x, "%s: listed twice", where);
    if (!cJSON_IsObject(entry))
        return runcfg_fail(x, "%s: must be an object with max_concurrent and/or keys", where);
    const cJSON *f;
    cJSON_ArrayForEach(f, entry)
    {
        if (runcfg_seen_before(entry, f))
            return runcfg_fail(x, "%s.%s: listed twice", where,
                               runcfg_show(f->string, show, sizeof(show)));
        if (strcmp(f->string, "max_concurrent") == 0) {
            if (runcfg_whole(f, 0, RUNCFG_MAX_CONCURRENT, &n.max_concurrent))
                return runcfg_fail(x,
                                   "%s.max_concurrent: must be a whole number from 0 (no limit) "
                                   "to %d",
                                   where, RUNCFG_MAX_CONCURRENT);
        } else if (strcmp(f->string, "keys") == 0) {
            if ((rc = runcfg_node_keys(x, where, f, &n)))
                return rc;
        } else {
            return runcfg_fail(x, "%s.%s: unknown field (known: max_concurrent, keys)", where,
                               runcfg_show(f->string, show, sizeof(show)));
        }
    }
    cfg->nodes[cfg->node_count++] = n;
    return 0;
}

static int runcfg_nodes(struct runcfg_ctx *x, const cJSON *nodes, struct runcfg *cfg)
{
    if (!cJSON_IsObject(nodes))
        return runcfg_fail(x, "nodes: must be an object of \"workflow.node\": {...} entries");
    const cJSON *entry;
    cJSON_ArrayForEach(entry, nodes)
    {
        int rc = runcfg_node(x, entry, cfg);
        if (rc)
            return rc;
    }
    return 0;
}

/* The fields of "adaptive": where each goes in struct limiter_policy and its range. */
struct runcfg_field {
    const char *name;
    size_t off;
    int whole; /* uint32_t field, else double */
    double lo, hi;
};

#define RUNCFG_D(f, lo, hi)                                                                        \
    {                                                                                              \
#f, offsetof(struct limiter_policy, f), 0, lo, hi                                          \
    }
#define RUNCFG_U(f, lo, hi)                                                                        \
    {                                                                                              \
#f, offsetof(struct limiter_policy, f), 1, lo, hi                                          \
    }
static const struct runcfg_field runcfg_adaptive_fields[] = {
    RUNCFG_U(window_s, 1, 3600),          RUNCFG_D(error_share_high, 0, 1),
    RUNCFG_D(error_share_low, 0, 1),      RUNCFG_D(latency_high_s, 0.001, 3600),
    RUNCFG_D(latency_low_s, 0.001, 3600), RUNCFG_D(decrease, 0.01, 0.99),
    RUNCFG_D(increase, 0.01, 10),         RUNCFG_D(gradient_tolerance, 1.01, 100),
    RUNCFG_D(throughput_gain, 0, 10),     RUNCFG_U(gradient_persist, 1, 100),
    RUNCFG_U(min_samples, 1, 100000),     RUNCFG_U(history_windows, 2, LIMITER_HISTORY_MAX),
};
#define RUNCFG_NFIELDS (sizeof(runcfg_adaptive_fields) / sizeof(runcfg_adaptive_fields[0]))

static int runcfg_adaptive_field(struct runcfg_ctx *x, const cJSON *f, struct limiter_policy *p)
{
    char show[RUNCFG_SHOW_MAX + 1], list[RUNCFG_LIST_MAX + 8];
    for (size_t i = 0; i < RUNCFG_NFIELDS; i++) {
        const struct runcfg_field *d = &runcfg_adaptive_fields[i];
        if (strcmp(f->string, d->name) != 0)
            continue;
        char *at = (char *)p + d->off;
        if (d->whole) {
            uint32_t u;
            if (runcfg_whole(f, d->lo, d->hi, &u))
                return runcfg_fail(x, "adaptive.%s: must be a whole number from %g to %g", d->name,
                                   d->lo, d->hi);
            memcpy(at, &u, sizeof(u));
        } else {
            if (!cJSON_IsNumber(f) || !(f->valuedouble >= d->lo && f->valuedouble <= d->hi))
                return runcfg_fail(x, "adaptive.%s: must be a number from %g to %g", d->name, d->lo,
                                   d->hi);
            memcpy(at, &f->valuedouble, sizeof(double));
        }
        return 0;
    }
    const char *names[RUNCFG_NFIELDS];
    for (size_t i = 0; i < RUNCFG_NFIELDS; i++)
        names[i] = runcfg_adaptive_fields[i].name;
    return runcfg_fail(x, "adaptive.%s: unknown field (known: %s)",
                       runcfg_show(f->string, show, sizeof(show)),
                       runcfg_list(names, RUNCFG_NFIELDS, list, sizeof(list)));
}

static int runcfg_adaptive(struct runcfg_ctx *x, const cJSON *a, struct limiter_policy *p)
{
    char show[RUNCFG_SHOW_MAX + 1];
    if (!cJSON_IsObject(a))
        return runcfg_fail(x, "adaptive: must be an object");
    const cJSON *f;
    cJSON_ArrayForEach(f, a)
    {
        if (runcfg_seen_before(a, f))
            return runcfg_fail(x, "adaptive.%s: listed twice",
                               runcfg_show(f->string, show, sizeof(show)));
        int rc = runcfg_adaptive_field(x, f, p);
        if (rc)
            return rc;
    }
    /* each field is in range; what is left are the pairs */
    const char *bad = limiter_policy_invalid(p);
    if (bad && strcmp(bad, "error_share_low") == 0)
        return runcfg_fail(x, "adaptive.error_share_low: must be below error_share_high (%g)",
                           p->error_share_high);
    if (bad && strcmp(bad, "latency_low_s") == 0)
        return runcfg_fail(x, "adaptive.latency_low_s: must be below latency_high_s (%g)",
                           p->latency_high_s);
    if (bad)
        return runcfg_fail(x, "adaptive.%s: out of range", bad);
    return 0;
}

static int runcfg_root(struct runcfg_ctx *x, const cJSON *root, struct runcfg *cfg)
{
    char show[RUNCFG_SHOW_MAX + 1];
    if (!cJSON_IsObject(root))
        return runcfg_fail(x, "top level must be an object (with \"nodes\" and/or \"adaptive\")");
    const cJSON *f;
    cJSON_ArrayForEach(f, root)
    {
        int rc;
        if (runcfg_seen_before(root, f))
            return runcfg_fail(x, "%s: listed twice", runcfg_show(f->string, show, sizeof(show)));
        if (strcmp(f->string, "nodes") == 0)
            rc = runcfg_nodes(x, f, cfg);
        else if (strcmp(f->string, "adaptive") == 0)
            rc = runcfg_adaptive(x, f, &cfg->adaptive);
        else
            rc = runcfg_fail(x, "%s: unknown field (known: nodes, adaptive)",
                             runcfg_show(f->string, show, sizeof(show)));
        if (rc)
            return rc;
    }
    return 0;
}

void runcfg_init(struct runcfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->adaptive = limiter_policy_default();
}

int runcfg_default_path(const char *home, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/agentos.json", home);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Line and column (1-based) of offset pos, for JSON syntax errors. */
static void runcfg_where(const char *text, size_t len, size_t pos, unsigned *line, unsigned *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < pos && i < len; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

int runcfg_parse(const char *name, const char *text, size_t len, const struct runcfg_known *known,
                 struct runcfg *cfg, char *err, size_t errlen)
{
    struct runcfg_ctx x = {.name = name, .known = known, .err = err, .errlen = errlen};
    runcfg_init(cfg);
    if (len > RUNCFG_MAX_BYTES) {
        util_errf(err, errlen, "%s: larger than %d bytes", name, RUNCFG_MAX_BYTES);
        return -EFBIG;
    }
    /* cJSON stops a string at a raw NUL, and names from the file reach the console */
    if (memchr(text, '\0', len))
        return runcfg_fail(&x, "contains a NUL byte (not a JSON text file)");
    size_t bad = util_utf8_invalid_at(text, len);
    if (bad < len)
        return runcfg_fail(&x, "not valid UTF-8 (byte %zu)", bad);
    size_t lead = 0;
    while (lead < len && strchr(" \t\r\n", text[lead]))
        lead++;
    if (lead == len)
        return runcfg_fail(&x, "empty (an empty object {} sets nothing)");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    size_t pos = end && end >= text ? (size_t)(end - text) : 0;
    if (root) { /* cJSON stops after the first value: anything but spaces after it is an error */
        while (pos < len && strchr(" \t\r\n", text[pos]))
            pos++;
        if (pos < len) {
            cJSON_Delete(root);
            root = NULL;
        }
    }
    if (!root) {
        unsigned line, col;
        runcfg_where(text, len, pos, &line, &col);
        return runcfg_fail(&x, "not valid JSON (error at line %u, column %u, byte %zu)", line, col,
                           pos);
    }
    int rc = runcfg_root(&x, root, cfg);
    cJSON_Delete(root);
    if (rc) {
        runcfg_init(cfg);
        return rc;
    }
    cfg->loaded = 1;
    return 0;
}

/* Read all of a regular file's fd, at most max bytes (-EFBIG past that). */
static int runcfg_read_fd(int fd, size_t max, char **out, size_t *outlen)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (len == cap) {
            if (cap > max) {
                free(buf);
                return -EFBIG;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return -ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            return -e;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max) {
        free(buf);
        return -EFBIG;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

int runcfg_load(const char *path, int is_default, const struct runcfg_known *known,
                struct runcfg *cfg, char *err, size_t errlen)
{
    runcfg_init(cfg);
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT && is_default)
            return 0;
        util_errf(err, errlen, "could not open run file \"%s\": %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    int rc = 0;
    char *text = NULL;
    size_t len = 0;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        util_errf(err, errlen, "could not read run file \"%s\": %s", path, strerror(-rc));
    } else if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        util_errf(err, errlen, "%s: not a regular file", path);
    } else if (st.st_size > RUNCFG_MAX_BYTES) {
        rc = -EFBIG;
        util_errf(err, errlen, "%s: larger than %d bytes", path, RUNCFG_MAX_BYTES);
    } else if ((rc = runcfg_read_fd(fd, RUNCFG_MAX_BYTES, &text, &len)) == -EFBIG) {
        util_errf(err, errlen, "%s: larger than %d bytes", path, RUNCFG_MAX_BYTES);
    } else if (rc) {
        util_errf(err, errlen, "could not read run file \"%s\": %s", path, strerror(-rc));
    }
    close(fd);
    if (rc)
        return rc;
    rc = runcfg_parse(path, text, len, known, cfg, err, errlen);
    free(text);
    return rc;
}

const struct runcfg_node *runcfg_find(const struct runcfg *cfg, uint32_t workflow, uint32_t node)
{
    for (size_t i = 0; i < cfg->node_count; i++)
        if (cfg->nodes[i].workflow == workflow && cfg->nodes[i].node == node)
            return &cfg->nodes[i];
    return NULL;
}

int runcfg_key_allowed(const struct runcfg_node *n, uint32_t key)
{
    if (!n || n->key_count == 0)
        return 1;
    if (key >= RUNCFG_MAX_KEYS)
        return 0;
    return (n->key_mask[key / 64] >> (key % 64)) & 1;
}
