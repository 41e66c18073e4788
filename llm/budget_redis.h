/*
 * budget_redis.h - one key budget shared by every coordinator, kept in Redis.
 *
 * The shared segment holds one run's view of its keys; this module holds the
 * view that all runs on all hosts share (SPEC 13, `--budget redis://...`): per
 * key id its concurrency leases, its rpm and tpm buckets, its rate-limit
 * deadline after a 429 and its disabled state. It knows nothing of the segment
 * or of workers: the caller reserves locally first, then takes from Redis.
 *
 * The protocol (docs/budget-redis.md has the key schema and the arithmetic):
 *   - budget_redis_take() is one Lua script run atomically in Redis on Redis's
 *     clock: it answers OK (a lease was added and the buckets charged), WAIT
 *     (nothing taken; how long and why) or DISABLED (with the reason). Nothing
 *     is taken unless every check passes.
 *   - Every OK take is followed by exactly one budget_redis_give() with the
 *     outcome, whatever happened (one script too). A lease not given back
 *     expires after its time-to-live, so a coordinator killed with -9 returns
 *     its keys within lease_ttl_ms; a holder of a long request renews it.
 *   - The configuration of a key travels with every call (no sync step). All
 *     coordinators sharing a pool must be given the same configuration.
 *   - Secrets never reach Redis: keys are named by their id only.
 *
 * Return values: 0 or -errno. Redis gone is -ENOTCONN (connection refused,
 * reset or closed, or a handle already lost) or -ETIMEDOUT (no answer within
 * the command timeout); budget_redis_lost() says whether a return is one of
 * the two. After either (and after a reply hiredis cannot parse, -EPROTO),
 * the connection is dropped and every call returns -ENOTCONN at once until
 * budget_redis_reconnect() succeeds: the module never waits longer than one
 * timeout per call and never reconnects behind the caller's back. Other
 * errors: -EINVAL (bad argument), -EPROTO (a reply of an unexpected shape or
 * a script error), -EAGAIN (Redis loading or busy), -EACCES (Redis wants a
 * password), -EROFS (a read-only replica), -ENOMEM. budget_redis_error() has a
 * one-line message naming the URL; the module logs nothing itself.
 *
 * A handle is one connection: not thread-safe, and not to be used across
 * fork() (open one per process, after forking). I/O is done with SIGPIPE
 * blocked, so a dead server never kills the caller.
 */
#ifndef AGENTOS_LLM_BUDGET_REDIS_H
#define AGENTOS_LLM_BUDGET_REDIS_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define BUDGET_ID_MAX 64     /* key id, pool, coordinator id: at most 63 bytes */
#define BUDGET_LEASE_MAX 112 /* "<owner>:<sequence>" */
#define BUDGET_REASON_MAX 128
#define BUDGET_HOST_MAX 256

#define BUDGET_CONNECT_TIMEOUT_MS 1000 /* defaults of struct budget_redis_opts */
#define BUDGET_COMMAND_TIMEOUT_MS 500
#define BUDGET_LEASE_TTL_MS 300000 /* default lease time-to-live: 5 minutes */
#define BUDGET_BUSY_HINT_MS 25     /* WAIT hint when every lease is held */

struct budget_redis;

/* A parsed `redis://HOST[:PORT][/DB]`. */
struct budget_url {
    char host[BUDGET_HOST_MAX]; /* name, IPv4, or IPv6 without its brackets */
    int port;                   /* 1..65535; 6379 when the URL has none */
    int db;                     /* 0 when the URL has none */
};

/*
 * Parse url strictly: `redis://HOST[:PORT][/DB]`, HOST a name, an IPv4
 * address or a bracketed IPv6 address. Rejected with a one-line message in err
 * naming the URL and what is wrong: another scheme (rediss:// included: no
 * TLS), user or password (`user:pass@`: a secret on a command line leaks into
 * ps and logs; not supported), query or fragment, an empty or odd host, a port
 * outside 1..65535, a DB that is not a number, anything after the DB.
 * 0 or -EINVAL.
 */
int budget_redis_parse_url(const char *url, struct budget_url *u, char *err, size_t errlen);

struct budget_redis_opts {
    const char *url;  /* redis://HOST[:PORT][/DB] */
    const char *pool; /* namespace of the key names: 1..63 of [A-Za-z0-9._-] */
    /* This process's name in lease ids; unique among every user of the pool.
     * NULL: "<hostname>:<pid>:<random>". 1..63 of [A-Za-z0-9._:-]. */
    const char *owner;
    uint32_t connect_timeout_ms; /* 0: BUDGET_CONNECT_TIMEOUT_MS */
    uint32_t command_timeout_ms; /* 0: BUDGET_COMMAND_TIMEOUT_MS */
};

/*
 * Connect to o->url within the connect timeout, set the command timeout,
 * SELECT the DB and load the scripts (one pipelined round trip). On success
 * *out is the handle. On failure nothing is allocated, err says what failed
 * naming the URL (`budget redis://127.0.0.1:6390: connect: Connection
 * refused`), and the return is -EINVAL (options), -ENOTCONN / -ETIMEDOUT
 * (unreachable; the caller exits 2) or another -errno. Name resolution is
 * getaddrinfo's and is not bounded by the connect timeout.
 */
int budget_redis_open(const struct budget_redis_opts *o, struct budget_redis **out, char *err,
                      size_t errlen);

/* Close the connection and free b (NULL is fine). Leases held stay until their TTL. */
void budget_redis_close(struct budget_redis *b);

/*
 * Drop the connection if any and connect again, once, within the connect
 * timeout, re-loading the scripts. For a handle whose calls returned
 * -ENOTCONN / -ETIMEDOUT. 0 or the errors of budget_redis_open.
 */
int budget_redis_reconnect(struct budget_redis *b);

/* 1 while the handle has a connection (0 after a loss, until a reconnect succeeds). */
int budget_redis_connected(const struct budget_redis *b);

/* Whether rc (a return of this module) means Redis is gone: reconnect, fall back. */
static inline int budget_redis_lost(int rc)
{
    return rc == -ENOTCONN || rc == -ETIMEDOUT;
}

/* The last error, one line naming the URL; "" if none yet. */
const char *budget_redis_error(const struct budget_redis *b);

/* The URL this handle talks to, as given. */
const char *budget_redis_url(const struct budget_redis *b);

/* A key's budget, as configured in the credentials file. */
struct budget_key_conf {
    uint32_t rpm;          /* requests a minute; 0 = unpaced */
    uint32_t rpm_burst;    /* requests admitted back to back by a full bucket; 0 = max(1, rpm/60) */
    uint32_t tpm;          /* tokens a minute; 0 = no token budget */
    uint32_t tpm_burst;    /* tokens a full bucket holds; 0 = tpm (one minute's worth) */
    uint32_t concurrency;  /* leases held at once; 0 = 1 */
    uint32_t lease_ttl_ms; /* a lease's time-to-live; 0 = BUDGET_LEASE_TTL_MS */
};

/* What take answered. */
enum budget_status {
    BUDGET_OK = 0,       /* lease taken, buckets charged */
    BUDGET_WAIT = 1,     /* nothing taken; ask again after wait_ms */
    BUDGET_DISABLED = 2, /* the key is disabled (reason), until budget_redis_enable */
};

/* Why WAIT: the first that holds, in this order. */
enum budget_why {
    BUDGET_WHY_NONE = 0,
    BUDGET_WHY_RATE_LIMITED = 1, /* a 429 parked the key */
    BUDGET_WHY_BUSY = 2,         /* every lease is held */
    BUDGET_WHY_RPM = 3,          /* request bucket empty */
    BUDGET_WHY_TPM = 4,          /* token bucket short of the estimate */
};

struct budget_verdict {
    enum budget_status status;
    enum budget_why why;
    /* WAIT: when every known condition could pass, counted from Redis's now
     * (>= 1). A busy key says BUDGET_BUSY_HINT_MS or the first lease expiry,
     * whichever is sooner: nobody knows when a holder will give. */
    int64_t wait_ms;
    int64_t until_unix_ms;          /* the same instant on Redis's clock */
    char reason[BUDGET_REASON_MAX]; /* DISABLED: why, as given to budget_redis_give */
};

/* A lease on one key, filled by an OK take; the caller keeps it until it gives. */
struct budget_lease {
    char key_id[BUDGET_ID_MAX];
    char lease_id[BUDGET_LEASE_MAX];
    uint32_t estimate; /* tokens charged to the tpm bucket */
};

/*
 * Take one lease on key_id: in one script, refuse when disabled, when
 * rate-limited, when conf->concurrency live leases are held (expired ones are
 * purged first), when the rpm bucket is empty or the tpm bucket is short of
 * `estimate` tokens (a request larger than the whole bucket waits for a full
 * bucket and leaves it in debt); otherwise add a lease expiring in
 * lease_ttl_ms and charge both buckets. Returns 0 when Redis answered (v says
 * what; on OK *lease is filled), else -errno and v->status is BUDGET_WAIT.
 * A reply lost to a timeout may leave a lease taken: it expires by its TTL.
 */
int budget_redis_take(struct budget_redis *b, const char *key_id,
                      const struct budget_key_conf *conf, uint32_t estimate,
                      struct budget_lease *lease, struct budget_verdict *v);

/* How a request ended; the values are those of shm/cred.h's enum cred_outcome. */
enum budget_outcome {
    BUDGET_GIVE_OK = 0,         /* a reply came back */
    BUDGET_GIVE_FAILED = 1,     /* sent, no usable reply (transport error, 5xx) */
    BUDGET_GIVE_RATE_LIMIT = 2, /* 429: the key rests delay_ms, for everyone */
    BUDGET_GIVE_DISABLE = 3,    /* 401/403/quota: disabled for everyone */
    BUDGET_GIVE_ABANDONED = 4,  /* never sent: the rpm and tpm charges come back */
};

struct budget_give {
    enum budget_outcome outcome;
    /* Tokens the reply reported; the tpm bucket is corrected by
     * tokens_used - estimate (refund when negative). -1: unknown, the
     * estimate stays charged. A 429 used none: pass 0. Ignored for
     * ABANDONED (the whole estimate comes back). */
    int64_t tokens_used;
    uint32_t delay_ms;  /* RATE_LIMIT: rest until Redis's now + delay_ms (the later
                           of this and a deadline already set wins) */
    const char *reason; /* DISABLE: one line, no secret; cut to BUDGET_REASON_MAX - 1 */
};

/*
 * Give lease back with outcome g, in one script: remove the lease, correct
 * the tpm bucket, refund an abandoned request, set the rate-limit deadline or
 * the disabled state. conf is the key's configuration (for the refunds).
 * 0 when the lease was held; -ENOENT when it had already expired (the outcome
 * is applied all the same: nothing to retry, but the TTL was too short for
 * the request); other -errno: Redis did not answer and nothing is known.
 */
int budget_redis_give(struct budget_redis *b, const struct budget_lease *lease,
                      const struct budget_key_conf *conf, const struct budget_give *g);

/*
 * Push lease's expiry to Redis's now + ttl_ms, for a request that outlives
 * its lease. 0, or -ENOENT if the lease already expired (the key may now be
 * over-committed: finish the request, give it back as usual).
 */
int budget_redis_renew(struct budget_redis *b, const struct budget_lease *lease, uint32_t ttl_ms);

/*
 * Clear key_id's disabled state and rate-limit deadline (credentials
 * reloaded). Leases and buckets are kept. 0 or -errno.
 */
int budget_redis_enable(struct budget_redis *b, const char *key_id);

/*
 * Register or refresh coordinator coord_id (1..63 of [A-Za-z0-9._:-]) as
 * live for ttl_ms, drop those whose time ran out, and set *n_live to how
 * many are live, this one included: the share of a key's budget a coordinator
 * falls back to when Redis is lost is 1 / *n_live. 0 or -errno.
 */
int budget_redis_heartbeat(struct budget_redis *b, const char *coord_id, uint32_t ttl_ms,
                           uint32_t *n_live);

/* Remove coord_id from the live coordinators (clean exit). 0 or -errno. */
int budget_redis_leave(struct budget_redis *b, const char *coord_id);

/* One key as every coordinator sees it, for the inspector (no secret). */
struct budget_view {
    uint32_t leases;                    /* live leases */
    int64_t rate_limited_until_unix_ms; /* 0: not rate-limited now */
    int disabled;
    char reason[BUDGET_REASON_MAX];
    int64_t rpm_left;    /* requests a burst could take now; 0 when conf->rpm is 0 */
    int64_t tpm_left;    /* tokens left, negative in debt; 0 when conf->tpm is 0 */
    int64_t now_unix_ms; /* Redis's clock */
};

/* Read key_id's shared state without changing it (one script). 0 or -errno. */
int budget_redis_view(struct budget_redis *b, const char *key_id,
                      const struct budget_key_conf *conf, struct budget_view *view);

/* Round trips to Redis, for the benchmark and the metrics. */
struct budget_stats {
    uint64_t round_trips;    /* commands sent and answered (or timed out) */
    uint64_t latency_ns;     /* their total wall time */
    uint64_t latency_max_ns; /* the slowest */
    uint64_t script_reloads; /* NOSCRIPT answers (Redis restarted or flushed) */
    uint64_t failures;       /* calls that ended -ENOTCONN / -ETIMEDOUT */
    uint64_t reconnects;     /* successful budget_redis_reconnect calls */
};

void budget_redis_stats(const struct budget_redis *b, struct budget_stats *st);

#endif
