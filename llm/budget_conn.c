/*
 * budget_conn.c - the connection under the Redis key budget: open, close,
 * reconnect, one command, one script call, and the counters of round trips.
 *
 * Bounded waiting is the point of this file. The connect is
 * redisConnectWithTimeout; every read and write after it carries the command
 * timeout (redisSetTimeout: SO_RCVTIMEO / SO_SNDTIMEO). A call that fails on
 * the transport drops the connection at once: a late reply would otherwise be
 * read as the answer to the next command. Until budget_redis_reconnect() the
 * handle answers -ENOTCONN without touching the network, so a coordinator
 * that lost Redis pays one timeout, not one per request.
 *
 * Scripts are loaded once per connection (SCRIPT LOAD, pipelined with the
 * SELECT: one round trip) and called by SHA. A NOSCRIPT answer (Redis
 * restarted with the same address, or SCRIPT FLUSH) loads that script again
 * and retries the call once.
 *
 * hiredis writes with write(2): a server that died turns the next write into
 * SIGPIPE. I/O is done with SIGPIPE blocked and a SIGPIPE it raised is
 * consumed, so the caller's disposition does not matter.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "llm/budget_private.h"
#include "shm/util.h"

static uint64_t conn_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct timeval conn_tv(uint32_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (long)(ms % 1000) * 1000};

    return tv;
}

void budget_errf(struct budget_redis *b, const char *fmt, ...)
{
    char msg[BUDGET_ERR_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    util_errf(b->err, sizeof(b->err), "budget %s: %s", b->url, msg); /* a message: may be cut */
}

/* SIGPIPE blocked around I/O; *pending says whether one was already waiting. */
struct conn_pipe {
    sigset_t old;
    int pending;
};

static void conn_pipe_block(struct conn_pipe *p)
{
    sigset_t s, pend;

    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &s, &p->old);
    p->pending = sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE);
}

static void conn_pipe_restore(struct conn_pipe *p)
{
    sigset_t s, pend;
    struct timespec zero = {0, 0};

    if (!p->pending && sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE)) {
        sigemptyset(&s);
        sigaddset(&s, SIGPIPE);
        while (sigtimedwait(&s, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &p->old, NULL);
}

void budget_disconnect(struct budget_redis *b)
{
    if (b->c)
        redisFree(b->c);
    b->c = NULL;
}

/* The connection failed under `what` (errno as the failing call left it): drop it. */
static int conn_lost(struct budget_redis *b, const char *what, int saved_errno)
{
    int rc;

    switch (b->c->err) {
    case REDIS_ERR_IO:
        rc = saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT
                 ? -ETIMEDOUT
                 : -ENOTCONN;
        break;
    case REDIS_ERR_EOF:
        rc = -ENOTCONN;
        break;
    case REDIS_ERR_OOM:
        rc = -ENOMEM;
        break;
    default:
        rc = -EPROTO;
        break;
    }
    if (rc == -ETIMEDOUT)
        budget_errf(b, "%s: no answer within %u ms", what, b->command_ms);
    else
        budget_errf(b, "%s: %s", what, b->c->errstr[0] ? b->c->errstr : "connection lost");
    budget_disconnect(b);
    if (rc == -ETIMEDOUT || rc == -ENOTCONN)
        b->st.failures++;
    return rc;
}

static void conn_count(struct budget_redis *b, uint64_t t0)
{
    uint64_t dt = conn_now_ns() - t0;

    b->st.round_trips++;
    b->st.latency_ns += dt;
    if (dt > b->st.latency_max_ns)
        b->st.latency_max_ns = dt;
}

int budget_reply_errno(const char *msg)
{
    static const struct {
        const char *prefix;
        int rc;
    } map[] = {
        {"LOADING", -EAGAIN},    {"BUSY", -EAGAIN},    {"TRYAGAIN", -EAGAIN},
        {"MASTERDOWN", -EAGAIN}, {"NOAUTH", -EACCES},  {"NOPERM", -EACCES},
        {"WRONGPASS", -EACCES},  {"READONLY", -EROFS}, {"OOM", -ENOMEM},
    };

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (msg && strncmp(msg, map[i].prefix, strlen(map[i].prefix)) == 0)
            return map[i].rc;
    return -EPROTO;
}

int budget_command(struct budget_redis *b, const char *what, int argc, const char **argv,
                   redisReply **out)
{
    size_t len[BUDGET_EVAL_ARGS_MAX + 3];
    struct conn_pipe pipe;
    uint64_t t0;
    redisReply *r;
    int saved;

    *out = NULL;
    if (!b->c) {
        b->st.failures++;
        return -ENOTCONN; /* b->err still says how it was lost */
    }
    if (argc > (int)(sizeof(len) / sizeof(len[0])))
        return -EINVAL;
    for (int i = 0; i < argc; i++)
        len[i] = strlen(argv[i]);
    conn_pipe_block(&pipe);
    t0 = conn_now_ns();
    errno = 0;
    r = redisCommandArgv(b->c, argc, argv, len);
    saved = errno;
    conn_count(b, t0);
    conn_pipe_restore(&pipe);
    if (!r)
        return conn_lost(b, what, saved);
    *out = r;
    return 0;
}

/* Check a SCRIPT LOAD reply and keep its SHA. */
static int conn_keep_sha(struct budget_redis *b, enum budget_script s, redisReply *r)
{
    if (r->type == REDIS_REPLY_ERROR) {
        budget_errf(b, "SCRIPT LOAD %s: %s", budget_lua_name[s], r->str);
        return budget_reply_errno(r->str);
    }
    if (r->type != REDIS_REPLY_STRING || r->len != BUDGET_SHA_LEN) {
        budget_errf(b, "SCRIPT LOAD %s: reply of type %d, not a SHA", budget_lua_name[s], r->type);
        return -EPROTO;
    }
    memcpy(b->sha[s], r->str, BUDGET_SHA_LEN);
    b->sha[s][BUDGET_SHA_LEN] = '\0';
    return 0;
}

static int conn_load_one(struct budget_redis *b, enum budget_script s)
{
    const char *argv[] = {"SCRIPT", "LOAD", budget_lua_src[s]};
    redisReply *r;
    int rc;

    rc = budget_command(b, "SCRIPT LOAD", 3, argv, &r);
    if (rc)
        return rc;
    rc = conn_keep_sha(b, s, r);
    freeReplyObject(r);
    return rc;
}

/* Check the SELECT reply of a fresh connection. */
static int conn_check_select(struct budget_redis *b, redisReply *r)
{
    if (r->type == REDIS_REPLY_ERROR) {
        budget_errf(b, "SELECT %d: %s", b->u.db, r->str);
        return r->str && strstr(r->str, "out of range") ? -EINVAL : budget_reply_errno(r->str);
    }
    if (r->type != REDIS_REPLY_STATUS) {
        budget_errf(b, "SELECT %d: reply of type %d", b->u.db, r->type);
        return -EPROTO;
    }
    return 0;
}

/* SELECT (when DB > 0) and every SCRIPT LOAD in one pipelined round trip. */
static int conn_setup(struct budget_redis *b)
{
    char db[16];
    const char *sel[] = {"SELECT", db};
    struct conn_pipe pipe;
    int n = 0, rc = 0, saved = 0;
    uint64_t t0;

    snprintf(db, sizeof(db), "%d", b->u.db);
    if (b->u.db > 0) {
        if (redisAppendCommandArgv(b->c, 2, sel, NULL) != REDIS_OK)
            return conn_lost(b, "SELECT", ENOMEM);
        n++;
    }
    for (int s = 0; s < BUDGET_LUA_COUNT; s++) {
        const char *argv[] = {"SCRIPT", "LOAD", budget_lua_src[s]};

        if (redisAppendCommandArgv(b->c, 3, argv, NULL) != REDIS_OK)
            return conn_lost(b, "SCRIPT LOAD", ENOMEM);
    }
    conn_pipe_block(&pipe);
    t0 = conn_now_ns();
    for (int i = 0; i < n + BUDGET_LUA_COUNT; i++) {
        void *v = NULL;
        int err;

        errno = 0;
        if (redisGetReply(b->c, &v) != REDIS_OK) {
            saved = errno;
            conn_count(b, t0);
            conn_pipe_restore(&pipe);
            return conn_lost(b, i < n ? "SELECT" : "SCRIPT LOAD", saved);
        }
        err = i < n ? conn_check_select(b, v) : conn_keep_sha(b, i - n, v);
        freeReplyObject(v);
        if (err && !rc)
            rc = err;
    }
    conn_count(b, t0);
    conn_pipe_restore(&pipe);
    return rc;
}

int budget_connect(struct budget_redis *b)
{
    redisContext *c;
    int rc;

    budget_disconnect(b);
    errno = 0;
    c = redisConnectWithTimeout(b->u.host, b->u.port, conn_tv(b->connect_ms));
    if (!c) {
        budget_errf(b, "connect: out of memory");
        return -ENOMEM;
    }
    if (c->err) {
        rc = c->err == REDIS_ERR_IO &&
                     (errno == ETIMEDOUT || errno == EINPROGRESS || strstr(c->errstr, "timed out"))
                 ? -ETIMEDOUT
                 : -ENOTCONN;
        budget_errf(b, "connect: %s", c->errstr);
        redisFree(c);
        return rc;
    }
    if (redisSetTimeout(c, conn_tv(b->command_ms)) != REDIS_OK) {
        rc = errno ? -errno : -EIO;
        budget_errf(b, "set command timeout: %s", strerror(-rc));
        redisFree(c);
        return rc;
    }
    b->c = c;
    rc = conn_setup(b);
    if (rc)
        budget_disconnect(b);
    return rc;
}

int budget_eval(struct budget_redis *b, enum budget_script s, int nkeys, const char *const *keys,
                int nargs, const char *const *args, redisReply **out)
{
    const char *argv[3 + BUDGET_EVAL_ARGS_MAX];
    char nk[12];
    redisReply *r = NULL;
    int argc = 0, rc;

    *out = NULL;
    if (nkeys < 0 || nargs < 0 || nkeys + nargs > BUDGET_EVAL_ARGS_MAX)
        return -EINVAL;
    snprintf(nk, sizeof(nk), "%d", nkeys);
    argv[argc++] = "EVALSHA";
    argv[argc++] = b->sha[s];
    argv[argc++] = nk;
    for (int i = 0; i < nkeys; i++)
        argv[argc++] = keys[i];
    for (int i = 0; i < nargs; i++)
        argv[argc++] = args[i];
    for (int attempt = 0;; attempt++) {
        rc = budget_command(b, budget_lua_name[s], argc, argv, &r);
        if (rc)
            return rc;
        if (attempt > 0 || r->type != REDIS_REPLY_ERROR || strncmp(r->str, "NOSCRIPT", 8) != 0)
            break;
        freeReplyObject(r);
        b->st.script_reloads++;
        rc = conn_load_one(b, s); /* argv[1] is b->sha[s]: the retry uses the new SHA */
        if (rc)
            return rc;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        budget_errf(b, "%s: %s", budget_lua_name[s], r->str);
        rc = budget_reply_errno(r->str);
        freeReplyObject(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* [A-Za-z0-9._-], plus ':' when colon_ok; 1..BUDGET_ID_MAX-1 bytes. */
static int conn_name_ok(const char *s, int colon_ok)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n >= BUDGET_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-' || (colon_ok && ch == ':')))
            return 0;
    }
    return 1;
}

int budget_name_ok(const char *s)
{
    return conn_name_ok(s, 1);
}

/* "<hostname>:<pid>:<8 hex>", cut to fit; the random part tells apart pids reused across boots. */
static void conn_default_owner(char *dst, size_t n)
{
    char host[BUDGET_ID_MAX] = "host";
    uint32_t rnd = 0;

    if (gethostname(host, sizeof(host)) != 0 || !conn_name_ok(host, 0))
        snprintf(host, sizeof(host), "host");
    if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
        rnd = (uint32_t)conn_now_ns() ^ (uint32_t)getpid();
    host[32] = '\0';
    util_errf(dst, n, "%s:%d:%08x", host, (int)getpid(), rnd); /* fits: host is cut at 32 */
}

static int conn_init(struct budget_redis *b, const struct budget_redis_opts *o, char *err,
                     size_t errlen)
{
    int rc = budget_redis_parse_url(o->url, &b->u, err, errlen);

    if (rc)
        return rc;
    snprintf(b->url, sizeof(b->url), "%s", o->url);
    if (!conn_name_ok(o->pool, 0)) {
        snprintf(err, errlen, "budget %s: pool \"%.80s\" must be 1..%d of [A-Za-z0-9._-]", b->url,
                 o->pool ? o->pool : "", BUDGET_ID_MAX - 1);
        return -EINVAL;
    }
    if (o->owner && !conn_name_ok(o->owner, 1)) {
        snprintf(err, errlen, "budget %s: owner \"%.80s\" must be 1..%d of [A-Za-z0-9._:-]", b->url,
                 o->owner, BUDGET_ID_MAX - 1);
        return -EINVAL;
    }
    snprintf(b->pool, sizeof(b->pool), "%s", o->pool);
    if (o->owner)
        snprintf(b->owner, sizeof(b->owner), "%s", o->owner);
    else
        conn_default_owner(b->owner, sizeof(b->owner));
    b->connect_ms = o->connect_timeout_ms ? o->connect_timeout_ms : BUDGET_CONNECT_TIMEOUT_MS;
    b->command_ms = o->command_timeout_ms ? o->command_timeout_ms : BUDGET_COMMAND_TIMEOUT_MS;
    return 0;
}

int budget_redis_open(const struct budget_redis_opts *o, struct budget_redis **out, char *err,
                      size_t errlen)
{
    struct budget_redis *b;
    char dummy[1];
    int rc;

    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    *err = '\0';
    if (!o || !out) {
        snprintf(err, errlen, "budget: no options");
        return -EINVAL;
    }
    *out = NULL;
    b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, errlen, "budget %.200s: out of memory", o->url ? o->url : "");
        return -ENOMEM;
    }
    rc = conn_init(b, o, err, errlen);
    if (!rc) {
        rc = budget_connect(b);
        if (rc)
            snprintf(err, errlen, "%s", b->err);
    }
    if (rc) {
        free(b);
        return rc;
    }
    *out = b;
    return 0;
}

void budget_redis_close(struct budget_redis *b)
{
    if (!b)
        return;
    budget_disconnect(b);
    free(b);
}

int budget_redis_reconnect(struct budget_redis *b)
{
    int rc;

    if (!b)
        return -EINVAL;
    rc = budget_connect(b);
    if (rc == 0)
        b->st.reconnects++;
    return rc;
}

const char *budget_redis_error(const struct budget_redis *b)
{
    return b ? b->err : "";
}

const char *budget_redis_url(const struct budget_redis *b)
{
    return b ? b->url : "";
}

int budget_redis_connected(const struct budget_redis *b)
{
    return b && b->c != NULL;
}

void budget_redis_stats(const struct budget_redis *b, struct budget_stats *st)
{
    if (b && st)
        *st = b->st;
}
