/*
 * budget_redis.c - the operations of the shared key budget: take, give,
 * renew, enable, heartbeat, leave, view. Each is one round trip: a script of
 * budget_lua.c (the decisions) or one plain command (the two that decide
 * nothing), called through budget_conn.c.
 *
 * Key names (docs/budget-redis.md): agentos:<pool>:{<id>}:state and
 * agentos:<pool>:{<id>}:leases per key, agentos:<pool>:coords for the live
 * coordinators. The braces are a Redis Cluster hash tag: one key's two names
 * live in one slot, which a script touching both requires. The id is written
 * as is when it is made of [A-Za-z0-9._-] and percent-encoded otherwise, so
 * any id of the credentials file works, and a '}' in it cannot end the tag.
 *
 * Every reply is checked for shape before use; a reply of another shape is
 * -EPROTO with the script's name in the error, never a guess.
 */
#include <stdio.h>
#include <string.h>

#include "llm/budget_private.h"

/* How long a key's state outlives its last change: a disabled key stays
 * disabled for a day after anyone last touched it, then Redis forgets it. */
#define BUDGET_STATE_KEEP_MS 86400000u
#define BUDGET_KEY_MAX (BUDGET_ID_MAX * 3 + BUDGET_ID_MAX + 32)
#define BUDGET_NUM 24

struct budget_names {
    char state[BUDGET_KEY_MAX];
    char leases[BUDGET_KEY_MAX];
};

/* The configuration with its defaults filled in. */
struct budget_conf_n {
    uint32_t rpm, rpm_burst, tpm, tpm_burst, concurrency, lease_ttl_ms;
};

static void conf_fill(const struct budget_key_conf *c, struct budget_conf_n *n)
{
    n->rpm = c->rpm;
    n->rpm_burst = c->rpm_burst ? c->rpm_burst : (c->rpm / 60 > 1 ? c->rpm / 60 : 1);
    n->tpm = c->tpm;
    n->tpm_burst = c->tpm_burst ? c->tpm_burst : c->tpm;
    n->concurrency = c->concurrency ? c->concurrency : 1;
    n->lease_ttl_ms = c->lease_ttl_ms ? c->lease_ttl_ms : BUDGET_LEASE_TTL_MS;
}

static int id_char_plain(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == '-';
}

/* The names of key_id's state and leases. -EINVAL for an empty or too long id. */
static int names_of(struct budget_redis *b, const char *key_id, struct budget_names *k)
{
    char enc[BUDGET_ID_MAX * 3];
    size_t n = key_id ? strlen(key_id) : 0, o = 0;

    if (n == 0 || n >= BUDGET_ID_MAX) {
        budget_errf(b, "key id \"%.80s\" must be 1..%d bytes", key_id ? key_id : "",
                    BUDGET_ID_MAX - 1);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)key_id[i];

        if (id_char_plain(ch))
            enc[o++] = (char)ch;
        else
            o += (size_t)snprintf(enc + o, sizeof(enc) - o, "%%%02X", ch);
    }
    enc[o] = '\0';
    snprintf(k->state, sizeof(k->state), "agentos:%s:{%s}:state", b->pool, enc);
    snprintf(k->leases, sizeof(k->leases), "agentos:%s:{%s}:leases", b->pool, enc);
    return 0;
}

static void num(char *dst, long long v)
{
    snprintf(dst, BUDGET_NUM, "%lld", v);
}

static int reply_array(struct budget_redis *b, const char *what, const redisReply *r, size_t n)
{
    if (r->type == REDIS_REPLY_ARRAY && r->elements == n)
        return 0;
    budget_errf(b, "%s: reply of type %d with %zu elements, expected an array of %zu", what,
                r->type, r->type == REDIS_REPLY_ARRAY ? r->elements : 0, n);
    return -EPROTO;
}

static int reply_int(struct budget_redis *b, const char *what, const redisReply *r, long long *v)
{
    if (r->type == REDIS_REPLY_INTEGER) {
        *v = r->integer;
        return 0;
    }
    budget_errf(b, "%s: reply of type %d, expected an integer", what, r->type);
    return -EPROTO;
}

static int reply_str(struct budget_redis *b, const char *what, const redisReply *r, char *dst,
                     size_t n)
{
    if (r->type == REDIS_REPLY_STRING) {
        snprintf(dst, n, "%.*s", (int)r->len, r->str);
        return 0;
    }
    budget_errf(b, "%s: reply of type %d, expected a string", what, r->type);
    return -EPROTO;
}

/* Elements [0, n) of array r as integers, skipping index skip (-1: none). */
static int reply_ints(struct budget_redis *b, const char *what, const redisReply *r, size_t n,
                      long n_skip, long long *v)
{
    for (size_t i = 0; i < n; i++) {
        int rc = (long)i == n_skip ? 0 : reply_int(b, what, r->element[i], &v[i]);

        if (rc)
            return rc;
    }
    return 0;
}

/* A reason fit for Redis and the console: one line, cut on a UTF-8 boundary. */
static void reason_copy(char *dst, const char *src)
{
    size_t n = 0;

    if (!src || !*src)
        src = "disabled";
    n = strlen(src);
    if (n > BUDGET_REASON_MAX - 1) {
        n = BUDGET_REASON_MAX - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n; i++)
        dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? ' ' : src[i];
    dst[n] = '\0';
}

static int take_decode(struct budget_redis *b, const redisReply *r, struct budget_verdict *v)
{
    long long x[5];
    int rc = reply_array(b, "take", r, 5);

    if (!rc)
        rc = reply_ints(b, "take", r, 4, -1, x);
    if (!rc)
        rc = reply_str(b, "take", r->element[4], v->reason, sizeof(v->reason));
    if (rc)
        return rc;
    if (x[0] < BUDGET_OK || x[0] > BUDGET_DISABLED || x[1] < 0 || x[1] > BUDGET_WHY_TPM) {
        budget_errf(b, "take: status %lld why %lld out of range", x[0], x[1]);
        return -EPROTO;
    }
    v->status = (enum budget_status)x[0];
    v->why = (enum budget_why)x[1];
    v->wait_ms = x[2];
    v->until_unix_ms = x[3];
    return 0;
}

int budget_redis_take(struct budget_redis *b, const char *key_id,
                      const struct budget_key_conf *conf, uint32_t estimate,
                      struct budget_lease *lease, struct budget_verdict *v)
{
    struct budget_names k;
    struct budget_conf_n c;
    char lid[BUDGET_LEASE_MAX], a[9][BUDGET_NUM];
    const char *keys[2] = {k.state, k.leases};
    const char *args[10] = {lid, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]};
    redisReply *r;
    int rc;

    if (!v)
        return -EINVAL;
    memset(v, 0, sizeof(*v));
    v->status = BUDGET_WAIT;
    if (!b || !conf || !lease)
        return -EINVAL;
    if ((rc = names_of(b, key_id, &k)))
        return rc;
    conf_fill(conf, &c);
    snprintf(lid, sizeof(lid), "%s:%llu", b->owner, (unsigned long long)++b->lease_seq);
    num(a[0], c.rpm);
    num(a[1], c.rpm_burst);
    num(a[2], c.tpm);
    num(a[3], c.tpm_burst);
    num(a[4], c.concurrency);
    num(a[5], c.lease_ttl_ms);
    num(a[6], estimate);
    num(a[7], BUDGET_STATE_KEEP_MS);
    num(a[8], BUDGET_BUSY_HINT_MS);
    rc = budget_eval(b, BUDGET_LUA_TAKE, 2, keys, 10, args, &r);
    if (rc)
        return rc;
    rc = take_decode(b, r, v);
    freeReplyObject(r);
    if (rc) {
        memset(v, 0, sizeof(*v));
        v->status = BUDGET_WAIT;
        return rc;
    }
    if (v->status == BUDGET_OK) {
        snprintf(lease->key_id, sizeof(lease->key_id), "%s", key_id);
        snprintf(lease->lease_id, sizeof(lease->lease_id), "%s", lid);
        lease->estimate = estimate;
    }
    return 0;
}

int budget_redis_give(struct budget_redis *b, const struct budget_lease *lease,
                      const struct budget_key_conf *conf, const struct budget_give *g)
{
    struct budget_names k;
    struct budget_conf_n c;
    char a[6][BUDGET_NUM], outcome[BUDGET_NUM], reason[BUDGET_REASON_MAX];
    const char *keys[2] = {k.state, k.leases};
    const char *args[9] = {
        lease ? lease->lease_id : "", outcome, a[0], a[1], a[2], a[3], a[4], reason, a[5]};
    redisReply *r;
    long long held;
    int rc;

    if (!b || !lease || !conf || !g || g->outcome < BUDGET_GIVE_OK ||
        g->outcome > BUDGET_GIVE_ABANDONED || g->tokens_used < -1)
        return -EINVAL;
    if ((rc = names_of(b, lease->key_id, &k)))
        return rc;
    conf_fill(conf, &c);
    num(outcome, g->outcome);
    num(a[0], c.rpm);
    num(a[1], c.tpm);
    num(a[2], lease->estimate);
    num(a[3], g->tokens_used);
    num(a[4], g->delay_ms);
    num(a[5], BUDGET_STATE_KEEP_MS);
    reason_copy(reason, g->outcome == BUDGET_GIVE_DISABLE ? g->reason : "");
    rc = budget_eval(b, BUDGET_LUA_GIVE, 2, keys, 9, args, &r);
    if (rc)
        return rc;
    rc = reply_int(b, "give", r, &held);
    freeReplyObject(r);
    if (rc)
        return rc;
    if (!held) {
        budget_errf(b, "give %s: lease %s had expired (longer than its TTL)", lease->key_id,
                    lease->lease_id);
        return -ENOENT;
    }
    return 0;
}

int budget_redis_renew(struct budget_redis *b, const struct budget_lease *lease, uint32_t ttl_ms)
{
    struct budget_names k;
    char ttl[BUDGET_NUM];
    const char *keys[1] = {k.leases};
    const char *args[2] = {lease ? lease->lease_id : "", ttl};
    redisReply *r;
    long long renewed;
    int rc;

    if (!b || !lease || ttl_ms == 0)
        return -EINVAL;
    if ((rc = names_of(b, lease->key_id, &k)))
        return rc;
    num(ttl, ttl_ms);
    rc = budget_eval(b, BUDGET_LUA_RENEW, 1, keys, 2, args, &r);
    if (rc)
        return rc;
    rc = reply_int(b, "renew", r, &renewed);
    freeReplyObject(r);
    if (!rc && !renewed) {
        budget_errf(b, "renew %s: lease %s had expired", lease->key_id, lease->lease_id);
        rc = -ENOENT;
    }
    return rc;
}

int budget_redis_enable(struct budget_redis *b, const char *key_id)
{
    struct budget_names k;
    const char *argv[] = {"HDEL", k.state, "dis", "why", "rl"};
    redisReply *r;
    long long n;
    int rc;

    if (!b)
        return -EINVAL;
    if ((rc = names_of(b, key_id, &k)))
        return rc;
    rc = budget_command(b, "enable", 5, argv, &r);
    if (rc)
        return rc;
    if (r->type == REDIS_REPLY_ERROR) {
        budget_errf(b, "enable %s: %s", key_id, r->str);
        rc = budget_reply_errno(r->str);
    } else {
        rc = reply_int(b, "enable", r, &n);
    }
    freeReplyObject(r);
    return rc;
}

static void coords_name(const struct budget_redis *b, char *dst, size_t n)
{
    snprintf(dst, n, "agentos:%s:coords", b->pool);
}

int budget_redis_heartbeat(struct budget_redis *b, const char *coord_id, uint32_t ttl_ms,
                           uint32_t *n_live)
{
    char key[BUDGET_KEY_MAX], ttl[BUDGET_NUM];
    const char *keys[1] = {key};
    const char *args[2] = {coord_id, ttl};
    redisReply *r;
    long long n;
    int rc;

    if (!b || !n_live || ttl_ms == 0)
        return -EINVAL;
    if (!budget_name_ok(coord_id)) {
        budget_errf(b, "heartbeat: coordinator id \"%.80s\" must be 1..%d of [A-Za-z0-9._:-]",
                    coord_id ? coord_id : "", BUDGET_ID_MAX - 1);
        return -EINVAL;
    }
    coords_name(b, key, sizeof(key));
    num(ttl, ttl_ms);
    rc = budget_eval(b, BUDGET_LUA_HEARTBEAT, 1, keys, 2, args, &r);
    if (rc)
        return rc;
    rc = reply_int(b, "heartbeat", r, &n);
    freeReplyObject(r);
    if (rc)
        return rc;
    *n_live = n < 1 ? 1 : (uint32_t)n;
    return 0;
}

int budget_redis_leave(struct budget_redis *b, const char *coord_id)
{
    char key[BUDGET_KEY_MAX];
    const char *argv[] = {"ZREM", key, coord_id};
    redisReply *r;
    long long n;
    int rc;

    if (!b || !budget_name_ok(coord_id))
        return -EINVAL;
    coords_name(b, key, sizeof(key));
    rc = budget_command(b, "leave", 3, argv, &r);
    if (rc)
        return rc;
    if (r->type == REDIS_REPLY_ERROR) {
        budget_errf(b, "leave: %s", r->str);
        rc = budget_reply_errno(r->str);
    } else {
        rc = reply_int(b, "leave", r, &n);
    }
    freeReplyObject(r);
    return rc;
}

static int view_decode(struct budget_redis *b, const redisReply *r, struct budget_view *view)
{
    long long x[7];
    int rc = reply_array(b, "view", r, 7);

    if (!rc)
        rc = reply_ints(b, "view", r, 7, 1, x);
    if (!rc)
        rc = reply_str(b, "view", r->element[1], view->reason, sizeof(view->reason));
    if (rc)
        return rc;
    view->disabled = x[0] != 0;
    view->rate_limited_until_unix_ms = x[2];
    view->leases = x[3] < 0 ? 0 : (uint32_t)x[3];
    view->rpm_left = x[4];
    view->tpm_left = x[5];
    view->now_unix_ms = x[6];
    return 0;
}

int budget_redis_view(struct budget_redis *b, const char *key_id,
                      const struct budget_key_conf *conf, struct budget_view *view)
{
    struct budget_names k;
    struct budget_conf_n c;
    char a[4][BUDGET_NUM];
    const char *keys[2] = {k.state, k.leases};
    const char *args[4] = {a[0], a[1], a[2], a[3]};
    redisReply *r;
    int rc;

    if (!b || !conf || !view)
        return -EINVAL;
    memset(view, 0, sizeof(*view));
    if ((rc = names_of(b, key_id, &k)))
        return rc;
    conf_fill(conf, &c);
    num(a[0], c.rpm);
    num(a[1], c.rpm_burst);
    num(a[2], c.tpm);
    num(a[3], c.tpm_burst);
    rc = budget_eval(b, BUDGET_LUA_VIEW, 2, keys, 4, args, &r);
    if (rc)
        return rc;
    rc = view_decode(b, r, view);
    freeReplyObject(r);
    return rc;
}
