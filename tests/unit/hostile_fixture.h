/*
 * hostile_fixture.h - the misbehaving HTTP server of test_hostile_http.c and
 * test_http_slow.c, and the requests they send it.
 *
 * A tiny HTTP server runs in a thread on 127.0.0.1 (port 0) and answers every
 * connection according to the current mode (S.mode, set by the request): it
 * stalls mid-body or mid-headers, drips a byte at a time, closes early
 * (Content-Length larger than what it sends) or without a reply, sends a valid
 * chunked reply, a broken chunked reply, a body over HTTP_BODY_MAX, a header
 * over curl's limit, garbage instead of HTTP, a 200 with malformed JSON, a 429
 * with a garbage Retry-After, or (H_THINK) silence for THINK_MS and then a
 * good reply. It uses raw sockets rather than libmicrohttpd so it can break
 * HTTP itself. Its delays are real: a fast clock a test file installs
 * (test_http_slow.c) runs only in the thread that runs curl, and H_THINK waits
 * on real_mono_ns. server_start and server_stop are the group's setup and
 * teardown; a stall ends when the client gives up, server_stop is called or
 * STALL_MAX_MS pass.
 *
 * A request (request, request_t) goes out with the key SECRET; a failure must
 * be clean (assert_clean_failure): the wanted code, within TIMEOUT_S +
 * MARGIN_MS, no body, a one-line error that does not quote the key.
 * Header-only because the build makes one binary per test file.
 */
#ifndef AGENTOS_TESTS_HOSTILE_FIXTURE_H
#define AGENTOS_TESTS_HOSTILE_FIXTURE_H

/* Each test file uses a different subset of the helpers below. */
#pragma GCC diagnostic ignored "-Wunused-function"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>

#include <cmocka.h>

#include "llm/credfile.h"
#include "llm/http.h"
#include "llm/provider.h"
#include "shm/util.h"

#define SECRET "SECRET-MARKER-HOSTILE"
#define TIMEOUT_S 2
#define MARGIN_MS 3000 /* curl's clock, thread wake-ups, ASan */
#define STALL_MAX_MS 10000

enum hmode {
    H_STALL_BODY,
    H_STALL_HEADERS,
    H_DRIP,
    H_CLOSE_EARLY,
    H_CLOSE_NO_REPLY,
    H_CHUNKED,
    H_BAD_CHUNKED,
    H_HUGE_BODY,
    H_HUGE_HEADER,
    H_HUGE_STATUS_LINE, /* a 2 MB status line */
    H_GARBAGE,
    H_BAD_STATUS_LINE,
    H_MALFORMED_JSON,
    H_RETRY_AFTER_GARBAGE,
    H_THINK, /* silence for THINK_MS, then a complete reply */
};

#define THINK_MS 2500

static struct {
    int lfd;
    unsigned short port;
    pthread_t thread;
    atomic_int quit;
    atomic_int mode;
    atomic_int served;
    const char *_Atomic body; /* JSON for H_CHUNKED */
} S;

/* ---- real time ---------------------------------------------------------------------------- */

static int64_t ts_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * UTIL_NS_PER_SEC + ts->tv_nsec;
}

static int64_t real_mono_ns(void)
{
    struct timespec ts;
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    return ts_ns(&ts);
}

/* ---- the server ------------------------------------------------------------------------- */

static int send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_str(int fd, const char *s)
{
    return send_all(fd, s, strlen(s));
}

/* Read the request (headers + Content-Length body) so curl is never cut off mid-upload. */
static void read_request(int fd)
{
    char buf[65536];
    size_t used = 0;
    long want = -1;
    int64_t deadline = util_now_mono_ns() + 2 * UTIL_NS_PER_SEC;
    while (used < sizeof(buf) - 1 && util_now_mono_ns() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t n = recv(fd, buf + used, sizeof(buf) - 1 - used, 0);
        if (n <= 0)
            return;
        used += (size_t)n;
        buf[used] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (!end)
            continue;
        if (want < 0) {
            want = 0;
            for (char *h = buf; h && h < end; h = strstr(h, "\r\n"), h = h ? h + 2 : NULL)
                if (strncasecmp(h, "Content-Length:", 15) == 0)
                    want = strtol(h + 15, NULL, 10);
        }
        if ((long)(used - (size_t)(end + 4 - buf)) >= want)
            return;
    }
}

/* Hold the connection open until the client gives up (EOF), the test ends or 10 s pass. */
static void hold(int fd)
{
    int64_t deadline = util_now_mono_ns() + (int64_t)STALL_MAX_MS * UTIL_NS_PER_MS;
    char c[512];
    while (!atomic_load(&S.quit) && util_now_mono_ns() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 20) > 0 && recv(fd, c, sizeof(c), 0) <= 0)
            return;
    }
}

static void serve_chunked(int fd, const char *body)
{
    char line[32];
    size_t len = strlen(body), third = len / 3 + 1;
    send_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    for (size_t off = 0; off < len; off += third) {
        size_t n = len - off < third ? len - off : third;
        snprintf(line, sizeof(line), "%zx\r\n", n);
        send_str(fd, line);
        send_all(fd, body + off, n);
        send_str(fd, "\r\n");
    }
    send_str(fd, "0\r\n\r\n");
}

static void serve_huge_body(int fd)
{
    static char block[65536];
    char head[160];
    size_t total = (size_t)HTTP_BODY_MAX + 1024 * 1024;
    memset(block, 'a', sizeof(block));
    snprintf(head, sizeof(head),
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
             total);
    send_str(fd, head);
    for (size_t sent = 0; sent < total && !atomic_load(&S.quit); sent += sizeof(block))
        if (send_all(fd, block, sizeof(block)) != 0)
            break; /* the client gave up: that is the point */
}

static void serve_huge_header(int fd)
{
    static char value[256 * 1024];
    memset(value, 'h', sizeof(value) - 1);
    send_str(fd, "HTTP/1.1 200 OK\r\nX-Huge: ");
    send_all(fd, value, sizeof(value) - 1);
    send_str(fd, "\r\nContent-Length: 2\r\n\r\n{}");
}

static void serve_huge_status_line(int fd)
{
    static char reason[2 * 1024 * 1024];
    memset(reason, 'x', sizeof(reason) - 1);
    send_str(fd, "HTTP/1.1 200 ");
    send_all(fd, reason, sizeof(reason) - 1);
    send_str(fd, "\r\nContent-Length: 2\r\n\r\n{}");
}

static void serve_drip(int fd)
{
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"choices\":[";
    for (size_t i = 0; !atomic_load(&S.quit); i++) {
        if (send_all(fd, &reply[i % (sizeof(reply) - 1)], 1) != 0)
            return;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char c[64];
        if (poll(&p, 1, 300) > 0 && recv(fd, c, sizeof(c), 0) <= 0)
            return;
    }
}

static void serve(int fd, enum hmode mode)
{
    static const char garbage[] = "\x00\xff\xfe garbage \x01\x02\r\n\r\n\x7f\x80 not http at all";
    static const char json_head[] = "{\"choices\":[{\"message\":{\"content\":\"";
    switch (mode) {
    case H_STALL_BODY:
        send_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: 200\r\n\r\n");
        send_str(fd, json_head);
        hold(fd);
        break;
    case H_STALL_HEADERS:
        send_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: appl");
        hold(fd);
        break;
    case H_DRIP:
        serve_drip(fd);
        break;
    case H_CLOSE_EARLY:
        send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
        send_str(fd, json_head);
        break;
    case H_CLOSE_NO_REPLY:
        break;
    case H_CHUNKED:
        serve_chunked(fd, atomic_load(&S.body));
        break;
    case H_BAD_CHUNKED:
        send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\n{\"a\":\r\nzz-not-hex\r\n1}\r\n0\r\n\r\n");
        break;
    case H_HUGE_BODY:
        serve_huge_body(fd);
        break;
    case H_HUGE_HEADER:
        serve_huge_header(fd);
        break;
    case H_HUGE_STATUS_LINE:
        serve_huge_status_line(fd);
        break;
    case H_GARBAGE:
        send_all(fd, garbage, sizeof(garbage) - 1);
        break;
    case H_BAD_STATUS_LINE:
        send_str(fd, "HTTP/1.1 abc not a status\r\nContent-Length: 2\r\n\r\n{}");
        break;
    case H_MALFORMED_JSON: {
        /* a complete HTTP reply whose JSON stops inside a string, on a lone backslash */
        char head[160];
        snprintf(head, sizeof(head),
                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                 strlen(json_head) + 1);
        send_str(fd, head);
        send_str(fd, json_head);
        send_str(fd, "\\");
        break;
    }
    case H_THINK: {
        static const char reply[] = "{\"choices\":[{\"message\":{\"content\":\"thought\"}}]}";
        char head[160];
        /* real time: this thread's clock is never fast */
        int64_t until = real_mono_ns() + (int64_t)THINK_MS * UTIL_NS_PER_MS;
        while (!atomic_load(&S.quit) && real_mono_ns() < until)
            poll(NULL, 0, 20);
        snprintf(head, sizeof(head),
                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                 strlen(reply));
        send_str(fd, head);
        send_str(fd, reply);
        break;
    }
    case H_RETRY_AFTER_GARBAGE: {
        char ra[400];
        memset(ra, 'z', sizeof(ra) - 1);
        ra[sizeof(ra) - 1] = '\0';
        send_str(fd, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: ");
        send_str(fd, ra);
        send_str(fd, "\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
        break;
    }
    }
}

static void *server_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&S.quit)) {
        struct pollfd p = {.fd = S.lfd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(S.lfd, NULL, NULL);
        if (fd < 0)
            continue;
        read_request(fd);
        serve(fd, (enum hmode)atomic_load(&S.mode));
        atomic_fetch_add(&S.served, 1);
        shutdown(fd, SHUT_RDWR);
        close(fd);
    }
    return NULL;
}

static int server_start(void **state)
{
    (void)state;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    S.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (S.lfd < 0 || bind(S.lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(S.lfd, 16) != 0 || getsockname(S.lfd, (struct sockaddr *)&sa, &sl) != 0)
        return -1;
    S.port = ntohs(sa.sin_port);
    atomic_store(&S.quit, 0);
    if (pthread_create(&S.thread, NULL, server_main, NULL) != 0)
        return -1;
    return http_global_init();
}

static int server_stop(void **state)
{
    (void)state;
    atomic_store(&S.quit, 1);
    pthread_join(S.thread, NULL);
    close(S.lfd);
    return 0;
}

/* ---- helpers ---------------------------------------------------------------------------- */

struct outcome {
    int rc;
    long ms;
    struct http_reply r;
};

static struct outcome request_t(enum hmode mode, const struct llm_provider *p, long timeout_s)
{
    char url[64];
    struct credential c;
    memset(&c, 0, sizeof(c));
    util_strlcpy(c.id, "hostile", sizeof(c.id));
    c.proto = p;
    util_strlcpy(c.model, "m-1", sizeof(c.model));
    snprintf(url, sizeof(url),
             p == &provider_openai ? "http://127.0.0.1:%u/v1" : "http://127.0.0.1:%u", S.port);
    c.base_url = url;
    c.secret = SECRET;
    atomic_store(&S.mode, (int)mode);
    struct outcome o;
    int64_t t0 = util_now_mono_ns();
    o.rc = provider_send_text(&c, "prompt", timeout_s, NULL, &o.r);
    o.ms = (long)((util_now_mono_ns() - t0) / UTIL_NS_PER_MS);
    print_message("# mode %d: rc %d, status %ld, %ld ms, error \"%s\"\n", (int)mode, o.rc,
                  o.r.status, o.ms, o.r.error);
    return o;
}

static struct outcome request(enum hmode mode, const struct llm_provider *p)
{
    return request_t(mode, p, TIMEOUT_S);
}

/* A failed request: the wanted code (or any of -EIO/-ETIMEDOUT when want is 0), in time,
 * no body, a one-line error without the key. */
static void assert_clean_failure(struct outcome *o, int want)
{
    if (want)
        assert_int_equal(o->rc, want);
    else
        assert_true(o->rc == -EIO || o->rc == -ETIMEDOUT);
    assert_true(o->ms < TIMEOUT_S * 1000 + MARGIN_MS);
    assert_null(o->r.body);
    assert_true(o->r.error[0] != '\0');
    assert_null(strpbrk(o->r.error, "\r\n"));
    assert_null(strstr(o->r.error, SECRET));
    http_reply_free(&o->r);
}

#endif
