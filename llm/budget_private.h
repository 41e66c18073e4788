/*
 * budget_private.h - what the files of the Redis key budget share: the
 * handle, and the transport of budget_conn.c (connect, one command, one
 * script call with its NOSCRIPT recovery). Not for use outside llm/budget_*.c.
 */
#ifndef AGENTOS_LLM_BUDGET_PRIVATE_H
#define AGENTOS_LLM_BUDGET_PRIVATE_H

#include <hiredis/hiredis.h>

#include "llm/budget_lua.h"
#include "llm/budget_redis.h"

#define BUDGET_URL_MAX 320
#define BUDGET_ERR_MAX 384
#define BUDGET_SHA_LEN 40
#define BUDGET_EVAL_ARGS_MAX 16 /* keys + arguments of one script call */

struct budget_redis {
    redisContext *c; /* NULL once lost, until a reconnect succeeds */
    char url[BUDGET_URL_MAX];
    struct budget_url u;
    char pool[BUDGET_ID_MAX];
    char owner[BUDGET_ID_MAX];
    uint32_t connect_ms, command_ms;
    char sha[BUDGET_LUA_COUNT][BUDGET_SHA_LEN + 1];
    uint64_t lease_seq;
    struct budget_stats st;
    char err[BUDGET_ERR_MAX];
};

/* Set b->err to "budget <url>: <message>". */
void budget_errf(struct budget_redis *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Connect, set the command timeout, SELECT, load every script. 0 or -errno. */
int budget_connect(struct budget_redis *b);

/* Drop the connection (if any). */
void budget_disconnect(struct budget_redis *b);

/*
 * Send one command and read its reply (what names the call in errors). A
 * reply of type error is returned as such, for the caller to judge. On a
 * transport failure the connection is dropped. 0 with *out to free with
 * freeReplyObject, or -errno.
 */
int budget_command(struct budget_redis *b, const char *what, int argc, const char **argv,
                   redisReply **out);

/*
 * EVALSHA script s with nkeys keys then nargs arguments; on NOSCRIPT load it
 * again and retry once. An error reply becomes -errno (budget_reply_errno).
 * 0 with *out to free with freeReplyObject, or -errno.
 */
int budget_eval(struct budget_redis *b, enum budget_script s, int nkeys, const char *const *keys,
                int nargs, const char *const *args, redisReply **out);

/* An owner or coordinator id: 1..BUDGET_ID_MAX-1 of [A-Za-z0-9._:-]. */
int budget_name_ok(const char *s);

/* The -errno for a Redis error reply: -EAGAIN, -EACCES, -EROFS, -ENOMEM or -EPROTO. */
int budget_reply_errno(const char *msg);

#endif
