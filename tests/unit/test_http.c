/*
 * test_http.c - request bodies and reply text for both providers, and real
 * requests against an in-test libmicrohttpd server on 127.0.0.1: the key
 * header, Retry-After capture, status capture, the body cap, a server that
 * stalls mid-body, cancellation through the abort flag, connect errors.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <microhttpd.h>

#include "llm/credfile.h"
#include "llm/http.h"
#include "llm/provider.h"
#include "shm/util.h"

#define SECRET "SECRET-MARKER-123"

/* ---- a scripted mock server ------------------------------------------------------------- */

enum mock_mode { MOCK_NORMAL, MOCK_BIG, MOCK_STALL };

struct mock_reply {
    int status;
    const char *retry_after;
    const char *body;
    enum mock_mode mode;
};

struct mock {
    struct MHD_Daemon *d;
    unsigned short port;
    pthread_mutex_t mu;
    struct mock_reply script[16];
    int nscript, next, requests;
    char path[256], auth[256], goog[256], ctype[128];
    char *req_body;
    atomic_int quit;
};

struct mock_upload {
    char *buf;
    size_t len;
};

/* The reply's Retry-After header ("" when absent). */
static const char *retry_after_of(const struct http_reply *r)
{
    static char v[128];
    http_reply_header(r, "retry-after", v, sizeof(v));
    return v;
}

static struct mock M;

static ssize_t mock_stall_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct mock *m = cls;
    static const char head[] = "{\"choices\":";
    if (pos == 0 && max >= sizeof(head) - 1) {
        memcpy(buf, head, sizeof(head) - 1);
        return (ssize_t)(sizeof(head) - 1);
    }
    for (int i = 0; i < 100 && !atomic_load(&m->quit); i++)
        usleep(50000);
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

#define MOCK_BIG_SIZE ((uint64_t)HTTP_BODY_MAX + 65536)

static ssize_t mock_big_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    if (pos >= MOCK_BIG_SIZE)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = MOCK_BIG_SIZE - pos < max ? (size_t)(MOCK_BIG_SIZE - pos) : max;
    memset(buf, 'a', n);
    return (ssize_t)n;
}

static void mock_copy_header(struct MHD_Connection *conn, const char *name, char *dst, size_t n)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
    util_strlcpy(dst, v ? v : "", n);
}

static enum MHD_Result mock_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
    (void)method, (void)version;
    struct mock *m = cls;
    struct mock_upload *u = *con_cls;
    if (!u) {
        *con_cls = calloc(1, sizeof(*u));
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size) {
        char *b = realloc(u->buf, u->len + *upload_data_size + 1);
        if (!b)
            return MHD_NO;
        memcpy(b + u->len, upload_data, *upload_data_size);
        u->buf = b;
        u->len += *upload_data_size;
        u->buf[u->len] = '\0';
        *upload_data_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&m->mu);
    util_strlcpy(m->path, url, sizeof(m->path));
    mock_copy_header(conn, "Authorization", m->auth, sizeof(m->auth));
    mock_copy_header(conn, "x-goog-api-key", m->goog, sizeof(m->goog));
    mock_copy_header(conn, "Content-Type", m->ctype, sizeof(m->ctype));
    free(m->req_body);
    m->req_body = u->buf ? strdup(u->buf) : NULL;
    struct mock_reply r = m->script[m->next];
    if (m->next + 1 < m->nscript)
        m->next++;
    m->requests++;
    pthread_mutex_unlock(&m->mu);

    struct MHD_Response *resp;
    if (r.mode == MOCK_STALL)
        resp = MHD_create_response_from_callback(1000, 64, mock_stall_cb, m, NULL);
    else if (r.mode == MOCK_BIG)
        resp = MHD_create_response_from_callback(MOCK_BIG_SIZE, 65536, mock_big_cb, m, NULL);
    else
        resp =
            MHD_create_response_from_buffer(strlen(r.body), (void *)r.body, MHD_RESPMEM_MUST_COPY);
    if (r.retry_after)
        MHD_add_response_header(resp, "Retry-After", r.retry_after);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void mock_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    struct mock_upload *u = *con_cls;
    if (u)
        free(u->buf);
    free(u);
    *con_cls = NULL;
}

static void mock_script(int n, const struct mock_reply *r)
{
    pthread_mutex_lock(&M.mu);
    memcpy(M.script, r, (size_t)n * sizeof(*r));
    M.nscript = n;
    M.next = 0;
    M.requests = 0;
    M.auth[0] = M.goog[0] = M.path[0] = '\0';
    pthread_mutex_unlock(&M.mu);
}

static int mock_start(void **state)
{
    (void)state;
    memset(&M, 0, sizeof(M));
    pthread_mutex_init(&M.mu, NULL);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    M.d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL,
                           NULL, mock_handler, &M, MHD_OPTION_SOCK_ADDR, &sa,
                           MHD_OPTION_NOTIFY_COMPLETED, mock_completed, NULL, MHD_OPTION_END);
    if (!M.d)
        return -1;
    M.port = MHD_get_daemon_info(M.d, MHD_DAEMON_INFO_BIND_PORT)->port;
    return http_global_init();
}

static int mock_stop(void **state)
{
    (void)state;
    atomic_store(&M.quit, 1);
    MHD_stop_daemon(M.d);
    free(M.req_body);
    pthread_mutex_destroy(&M.mu);
    return 0;
}

/* ---- helpers ---------------------------------------------------------------------------- */

static struct credential cred_for(const struct llm_provider *p, char *url_buf, size_t n)
{
    struct credential c;
    memset(&c, 0, sizeof(c));
    util_strlcpy(c.id, "key-1", sizeof(c.id));
    c.proto = p;
    util_strlcpy(c.model, p == &provider_openai ? "llama3.1" : "gemini-x", sizeof(c.model));
    snprintf(url_buf, n, p == &provider_openai ? "http://127.0.0.1:%u/v1" : "http://127.0.0.1:%u",
             M.port);
    c.base_url = url_buf;
    c.secret = SECRET;
    return c;
}

static const char openai_ok[] = "{\"choices\":[{\"message\":{\"role\":\"assistant\","
                                "\"content\":\"hello there\"}}]}";
static const char gemini_ok[] = "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hel\"},"
                                "{\"text\":\"lo\"}],\"role\":\"model\"}}]}";

/* ---- body building and text extraction -------------------------------------------------- */

/* The body a protocol builds for prompt (malloc'd). */
static char *http_build_body(const struct llm_provider *p, const char *model, const char *prompt)
{
    struct credential c;
    struct provider_request rq;
    memset(&c, 0, sizeof(c));
    memset(&rq, 0, sizeof(rq));
    util_strlcpy(c.model, model, sizeof(c.model));
    c.base_url = "http://127.0.0.1:1";
    c.secret = SECRET;
    c.proto = p;
    struct llm_prompt lp = {.text = prompt};
    char *body = NULL;
    if (p->build(&c, &lp, &rq) == 0) {
        body = rq.body;
        rq.body = NULL;
    }
    provider_request_free(&rq);
    return body;
}

static void test_build_openai(void **state)
{
    (void)state;
    char *s = http_build_body(&provider_openai, "gpt-x", "say \"hi\"\nplease");
    assert_non_null(s);
    cJSON *j = cJSON_Parse(s);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring, "gpt-x");
    cJSON *msgs = cJSON_GetObjectItem(j, "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 1);
    cJSON *m0 = cJSON_GetArrayItem(msgs, 0);
    assert_string_equal(cJSON_GetObjectItem(m0, "role")->valuestring, "user");
    assert_string_equal(cJSON_GetObjectItem(m0, "content")->valuestring, "say \"hi\"\nplease");
    cJSON_Delete(j);
    free(s);
}

static void test_build_gemini(void **state)
{
    (void)state;
    char *s = http_build_body(&provider_gemini, "gemini-x", "ünïcode\ttext");
    assert_non_null(s);
    cJSON *j = cJSON_Parse(s);
    assert_non_null(j);
    assert_null(cJSON_GetObjectItem(j, "model"));
    cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "contents"), 0);
    assert_string_equal(cJSON_GetObjectItem(c0, "role")->valuestring, "user");
    cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItem(c0, "parts"), 0);
    assert_string_equal(cJSON_GetObjectItem(p0, "text")->valuestring, "ünïcode\ttext");
    cJSON_Delete(j);
    free(s);
}

static int extract(const struct llm_provider *p, const char *body, char **text, char *err)
{
    return provider_parse_text(p, body, body ? strlen(body) : 0, text, err, 256);
}

static void test_extract(void **state)
{
    (void)state;
    char *t = NULL, err[256] = "";
    assert_int_equal(extract(&provider_openai, openai_ok, &t, err), 0);
    assert_string_equal(t, "hello there");
    free(t);
    assert_int_equal(extract(&provider_gemini, gemini_ok, &t, err), 0);
    assert_string_equal(t, "hello");
    free(t);

    const char *bad_openai[] = {"{}", "{\"choices\":[]}", "{\"choices\":[{\"message\":{}}]}",
                                "{\"choices\":[{\"message\":{\"content\":null}}]}",
                                "{\"choices\":{\"message\":{\"content\":\"x\"}}}"};
    for (size_t i = 0; i < sizeof(bad_openai) / sizeof(bad_openai[0]); i++) {
        assert_int_equal(extract(&provider_openai, bad_openai[i], &t, err), -EBADMSG);
        assert_null(t);
        assert_string_equal(err, "reply has no choices[0].message.content");
    }
    const char *bad_gemini[] = {"{}", "{\"candidates\":[]}", "{\"candidates\":[{\"content\":{}}]}",
                                "{\"candidates\":[{\"content\":{\"parts\":[{\"x\":1}]}}]}",
                                "{\"candidates\":[{\"finishReason\":\"SAFETY\"}]}"};
    for (size_t i = 0; i < sizeof(bad_gemini) / sizeof(bad_gemini[0]); i++) {
        assert_int_equal(extract(&provider_gemini, bad_gemini[i], &t, err), -EBADMSG);
        assert_null(t);
        assert_string_equal(err, "reply has no candidates[0].content.parts[0].text");
    }
    assert_int_equal(extract(&provider_openai, "{\"choices\":[", &t, err), -EBADMSG);
    assert_string_equal(err, "reply is not valid JSON");
    assert_int_equal(extract(&provider_gemini, "", &t, err), -EBADMSG);
    assert_int_equal(extract(&provider_gemini, NULL, &t, err), -EBADMSG);
}

/* ---- real requests ---------------------------------------------------------------------- */

static void test_openai_request(void **state)
{
    (void)state;
    struct mock_reply r[] = {{.status = 200, .body = openai_ok}};
    mock_script(1, r);
    char url[128];
    struct credential c = cred_for(&provider_openai, url, sizeof(url));
    struct http_reply out;
    assert_int_equal(provider_send_text(&c, "the prompt", 10, NULL, &out), 0);
    assert_int_equal(out.status, 200);
    assert_string_equal(retry_after_of(&out), "");
    assert_string_equal(out.error, "");
    assert_true(out.latency_ms >= 0 && out.latency_ms < 5000);
    assert_string_equal(out.body, openai_ok);
    assert_int_equal(out.body_len, strlen(openai_ok));
    assert_string_equal(M.path, "/v1/chat/completions");
    assert_string_equal(M.auth, "Bearer " SECRET);
    assert_string_equal(M.goog, "");
    assert_string_equal(M.ctype, "application/json");
    cJSON *j = cJSON_Parse(M.req_body);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring, "llama3.1");
    assert_null(strstr(M.req_body, SECRET));
    cJSON_Delete(j);
    http_reply_free(&out);
    assert_null(out.body);
}

static void test_gemini_request(void **state)
{
    (void)state;
    struct mock_reply r[] = {{.status = 200, .body = gemini_ok}};
    mock_script(1, r);
    char url[128];
    struct credential c = cred_for(&provider_gemini, url, sizeof(url));
    struct http_reply out;
    assert_int_equal(provider_send_text(&c, "p", 10, NULL, &out), 0);
    assert_int_equal(out.status, 200);
    assert_string_equal(M.path, "/v1beta/models/gemini-x:generateContent");
    assert_string_equal(M.goog, SECRET);
    assert_string_equal(M.auth, "");
    assert_null(strstr(M.path, SECRET));
    char *t, err[256];
    assert_int_equal(provider_parse_text(&provider_gemini, out.body, out.body_len, &t, err, 256),
                     0);
    assert_string_equal(t, "hello");
    free(t);
    http_reply_free(&out);
}

static void test_status_and_retry_after(void **state)
{
    (void)state;
    struct mock_reply r[] = {
        {.status = 429, .retry_after = "7", .body = "{\"error\":\"slow down\"}"},
        {.status = 503, .body = "unavailable"},
        {.status = 200, .body = openai_ok},
    };
    mock_script(3, r);
    char url[128];
    struct credential c = cred_for(&provider_openai, url, sizeof(url));
    struct http_reply out;
    assert_int_equal(provider_send_text(&c, "p", 10, NULL, &out), 0);
    assert_int_equal(out.status, 429);
    assert_string_equal(retry_after_of(&out), "7");
    assert_string_equal(out.body, "{\"error\":\"slow down\"}");
    http_reply_free(&out);
    /* the handle is reused: nothing of the previous reply may leak into the next */
    assert_int_equal(provider_send_text(&c, "p", 10, NULL, &out), 0);
    assert_int_equal(out.status, 503);
    assert_string_equal(retry_after_of(&out), "");
    assert_string_equal(out.body, "unavailable");
    http_reply_free(&out);
    assert_int_equal(provider_send_text(&c, "p", 10, NULL, &out), 0);
    assert_int_equal(out.status, 200);
    http_reply_free(&out);
    assert_int_equal(M.requests, 3);
}

static void test_body_cap(void **state)
{
    (void)state;
    struct mock_reply r[] = {{.status = 200, .mode = MOCK_BIG}};
    mock_script(1, r);
    char url[128];
    struct credential c = cred_for(&provider_openai, url, sizeof(url));
    struct http_reply out;
    assert_int_equal(provider_send_text(&c, "p", 10, NULL, &out), -EMSGSIZE);
    assert_null(out.body);
    assert_non_null(strstr(out.error, "larger than"));
    http_reply_free(&out);
}

static void test_stall_times_out(void **state)
{
    (void)state;
    struct mock_reply r[] = {{.status = 200, .mode = MOCK_STALL}};
    mock_script(1, r);
    char url[128];
    struct credential c = cred_for(&provider_openai, url, sizeof(url));
    struct http_reply out;
    int64_t t0 = util_now_mono_ns();
    assert_int_equal(provider_send_text(&c, "p", 1, NULL, &out), -ETIMEDOUT);
    int64_t ms = (util_now_mono_ns() - t0) / UTIL_NS_PER_MS;
    assert_true(ms >= 900 && ms < 4000);
    assert_string_equal(out.error, "timeout: reply not complete within 1s");
    assert_null(strstr(out.error, SECRET));
    assert_null(out.body);
    http_reply_free(&out);
}

static volatile sig_atomic_t abort_flag;

/* In agentos the flag is set by a signal handler (SIGTERM); do the same here. */
static void on_alarm(int sig)
{
    (void)sig;
    abort_flag = 1;
}

static void set_abort_in_300ms(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {.it_value = {.tv_sec = 0, .tv_usec = 300000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static void test_abort_flag(void **state)
{
    (void)state;
    struct mock_reply r[] = {{.status = 200, .mode = MOCK_STALL}};
    mock_script(1, r);
    char url[128];
    struct credential c = cred_for(&provider_openai, url, sizeof(url));
    struct http_reply out;
    abort_flag = 1;
    assert_int_equal(provider_send_text(&c, "p", 30, &abort_flag, &out), -ECANCELED);
    abort_flag = 0;
    set_abort_in_300ms();
    int64_t t0 = util_now_mono_ns();
    assert_int_equal(provider_send_text(&c, "p", 30, &abort_flag, &out), -ECANCELED);
    int64_t ms = (util_now_mono_ns() - t0) / UTIL_NS_PER_MS;
    assert_true(ms >= 250 && ms < 3000);
    assert_null(out.body);
    abort_flag = 0;
}

static void test_connect_refused(void **state)
{
    (void)state;
    /* a port that was just free: bind, read it back, close */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    struct credential c;
    memset(&c, 0, sizeof(c));
    c.proto = &provider_openai;
    util_strlcpy(c.model, "m", sizeof(c.model));
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1", ntohs(sa.sin_port));
    c.base_url = url;
    c.secret = SECRET;
    struct http_reply out;
    assert_int_equal(provider_send_text(&c, "p", 5, NULL, &out), -EIO);
    assert_int_equal(out.status, 0);
    char want[96];
    snprintf(want, sizeof(want), "connect to 127.0.0.1:%u: Connection refused", ntohs(sa.sin_port));
    assert_string_equal(out.error, want);
    assert_null(strstr(out.error, SECRET));
    assert_null(strchr(out.error, '\n'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_openai),   cmocka_unit_test(test_build_gemini),
        cmocka_unit_test(test_extract),        cmocka_unit_test(test_openai_request),
        cmocka_unit_test(test_gemini_request), cmocka_unit_test(test_status_and_retry_after),
        cmocka_unit_test(test_body_cap),       cmocka_unit_test(test_stall_times_out),
        cmocka_unit_test(test_abort_flag),     cmocka_unit_test(test_connect_refused),
    };
    return cmocka_run_group_tests(tests, mock_start, mock_stop);
}
