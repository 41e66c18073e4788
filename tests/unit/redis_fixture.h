/*
 * redis_fixture.h - the redis-server harness of test_budget_redis.c: the
 * group starts its own `redis-server --port <free> --save '' --appendonly no`
 * on 127.0.0.1 (fork/exec, PR_SET_PDEATHSIG so it dies with the test even on
 * a crash, ready when it answers PING within a bounded wait) and kills it at
 * the end; srv2 is a second server a test may start, stop and restart, stopped
 * at teardown whatever happened. Then two handles ("coordinators") on a pool
 * of each test's own, and takes that must say OK or WAIT. Header-only because
 * the build makes one binary per test file.
 */
#ifndef AGENTOS_TESTS_REDIS_FIXTURE_H
#define AGENTOS_TESTS_REDIS_FIXTURE_H

#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "llm/budget_redis.h"

#define READY_WAIT_MS 3000

struct redis_srv {
    pid_t pid;
    int port;
};

static struct redis_srv srv;  /* the group's server */
static struct redis_srv srv2; /* test_lost_and_back's, stopped at teardown whatever happened */
static char srv_url[64];
static int pool_seq;

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* A port nobody listens on right now (bind to 0, read it back, close). */
static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int in_path(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[512];

    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
        size_t n = strcspn(p, ":");

        snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, prog);
        if (access(buf, X_OK) == 0)
            return 1;
        p += n + (p[n] == ':');
    }
    return 0;
}

/* PONG from 127.0.0.1:port within 100 ms? */
static int srv_pings(int port)
{
    struct timeval tv = {0, 100000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    redisReply *r = NULL;
    int ok = 0;

    if (c && !c->err && redisSetTimeout(c, tv) == REDIS_OK)
        r = redisCommand(c, "PING");
    ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    if (r)
        freeReplyObject(r);
    if (c)
        redisFree(c);
    return ok;
}

static void srv_stop(struct redis_srv *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
    }
    s->pid = 0;
}

/* Start redis-server on s->port (0: a free one) and wait until it answers. */
static int srv_start(struct redis_srv *s)
{
    char port[16];
    pid_t parent = getpid();
    int64_t deadline;

    if (!in_path("redis-server")) {
        print_error("redis-server not found in PATH: install the Debian package redis-server "
                    "(`make deps` does)\n");
        return -1;
    }
    if (s->port == 0)
        s->port = free_port();
    if (s->port <= 0)
        return -1;
    snprintf(port, sizeof(port), "%d", s->port);
    s->pid = fork();
    if (s->pid < 0)
        return -1;
    if (s->pid == 0) {
        char *argv[] = {"redis-server", "--port",      port,   "--bind",
                        "127.0.0.1",    "--save",      "",     "--appendonly",
                        "no",           "--daemonize", "no",   "--loglevel",
                        "warning",      "--dir",       "/tmp", NULL};

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        if (!freopen("/dev/null", "w", stdout))
            _exit(1);
        execvp(argv[0], argv);
        _exit(127);
    }
    for (deadline = now_ms() + READY_WAIT_MS; now_ms() < deadline; sleep_ms(10)) {
        int st;

        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            print_error("redis-server on port %d exited (status %d)\n", s->port, st);
            s->pid = 0;
            return -1;
        }
        if (srv_pings(s->port))
            return 0;
    }
    print_error("redis-server on port %d did not answer PING within %d ms\n", s->port,
                READY_WAIT_MS);
    srv_stop(s);
    return -1;
}

static int group_setup(void **state)
{
    (void)state;
    if (srv_start(&srv) < 0)
        return -1;
    snprintf(srv_url, sizeof(srv_url), "redis://127.0.0.1:%d", srv.port);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    srv_stop(&srv);
    srv_stop(&srv2);
    return 0;
}

/* Two coordinators (handles) on a pool of the test's own. */
struct duo {
    struct budget_redis *a, *b;
};

static struct budget_redis *open_on(const char *url, const char *pool, const char *owner,
                                    uint32_t command_ms)
{
    struct budget_redis_opts o = {.url = url,
                                  .pool = pool,
                                  .owner = owner,
                                  .connect_timeout_ms = 500,
                                  .command_timeout_ms = command_ms};
    struct budget_redis *b = NULL;
    char err[256];

    if (budget_redis_open(&o, &b, err, sizeof(err)) < 0)
        print_error("%s\n", err);
    return b;
}

static int duo_setup(void **state)
{
    static struct duo d;
    char pool[32];

    snprintf(pool, sizeof(pool), "t%d-%d", (int)getpid(), pool_seq++);
    d.a = open_on(srv_url, pool, "coord-a", 1000);
    d.b = open_on(srv_url, pool, "coord-b", 1000);
    if (!d.a || !d.b)
        return -1;
    *state = &d;
    return 0;
}

static int duo_teardown(void **state)
{
    struct duo *d = *state;

    budget_redis_close(d->a);
    budget_redis_close(d->b);
    d->a = d->b = NULL;
    return 0;
}

static const struct budget_give give_ok = {.outcome = BUDGET_GIVE_OK, .tokens_used = -1};

/* Take that must say OK. */
static void take_ok(struct budget_redis *b, const char *key, const struct budget_key_conf *c,
                    uint32_t est, struct budget_lease *l)
{
    struct budget_verdict v;

    assert_int_equal(budget_redis_take(b, key, c, est, l, &v), 0);
    assert_int_equal(v.status, BUDGET_OK);
    assert_string_equal(l->key_id, key);
}

/* Take that must say WAIT for `why`; returns wait_ms. */
static int64_t take_wait(struct budget_redis *b, const char *key, const struct budget_key_conf *c,
                         uint32_t est, enum budget_why why)
{
    struct budget_lease l;
    struct budget_verdict v;

    assert_int_equal(budget_redis_take(b, key, c, est, &l, &v), 0);
    assert_int_equal(v.status, BUDGET_WAIT);
    assert_int_equal(v.why, why);
    assert_true(v.wait_ms >= 1);
    assert_true(v.until_unix_ms > 1600000000000LL);
    return v.wait_ms;
}

#endif /* AGENTOS_TESTS_REDIS_FIXTURE_H */
