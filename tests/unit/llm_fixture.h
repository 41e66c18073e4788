/*
 * llm_fixture.h - the shared fixture of the LLM-client tests (test_llm.c,
 * test_llm_pool.c): a real shared segment with credential slots, real log
 * files, an in-test libmicrohttpd server on 127.0.0.1 that answers from a
 * script, and an injected clock: the client's sleeps advance a fake clock at
 * once, so a test of a 30 s back-off takes microseconds and asserts exact
 * times, never wall-clock windows. Things that happen "later" (a stop, a
 * reload) are hooks the fake clock fires when its time passes theirs.
 * Header-only because the build makes one binary per test file.
 */
#ifndef AGENTOS_TESTS_LLM_FIXTURE_H
#define AGENTOS_TESTS_LLM_FIXTURE_H

/* Each test file uses a different subset of the helpers below. */
#pragma GCC diagnostic ignored "-Wunused-function"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <microhttpd.h>

#include "llm/credfile.h"
#include "llm/http.h"
#include "llm/llm.h"
#include "runtime/log.h"
#include "runtime/uring.h"
#include "shm/util.h"
#include "shm/breaker.h"
#include "shm/cred.h"
#include "shm/segment.h"

#define SECRET "SECRET-MARKER-123"
#define MAX_REQ 64

/* ---- the fake clock ---------------------------------------------------------------------- */

#define FAKE_T0 (1000 * UTIL_NS_PER_SEC)

struct fake_clock {
    _Atomic int64_t now; /* CLOCK_MONOTONIC as the client sees it */
    int64_t at_ns;       /* when it passes this, at(at_arg) runs once */
    void (*at)(void *arg);
    void *at_arg;
    unsigned sleeps;
};

static struct fake_clock FK;

static int64_t fake_mono_ns(void *arg)
{
    (void)arg;
    return atomic_load(&FK.now);
}

static int64_t fake_real_s(void *arg)
{
    (void)arg;
    return 1700000000 + atomic_load(&FK.now) / UTIL_NS_PER_SEC;
}

static void fake_sleep_ns(void *arg, int64_t ns)
{
    (void)arg;
    FK.sleeps++;
    int64_t t = atomic_fetch_add(&FK.now, ns > 0 ? ns : 1) + (ns > 0 ? ns : 1);
    if (FK.at && t >= FK.at_ns) {
        void (*fn)(void *) = FK.at;
        FK.at = NULL;
        fn(FK.at_arg);
    }
}

static int64_t fake_real_ms(void *arg)
{
    (void)arg;
    return 1700000000000LL + atomic_load(&FK.now) / UTIL_NS_PER_MS;
}

static const struct llm_clock fake_clock = {fake_mono_ns, fake_real_s, fake_sleep_ns, NULL,
                                            fake_real_ms};

/* Run fn(arg) when the fake clock passes `after` ns from now. */
static void fake_at(int64_t after, void (*fn)(void *), void *arg)
{
    FK.at_ns = atomic_load(&FK.now) + after;
    FK.at_arg = arg;
    FK.at = fn;
}

/* ---- a scripted mock server ------------------------------------------------------------- */

struct mock_reply {
    int status;
    const char *retry_after;
    const char *body;
};

struct mock {
    struct MHD_Daemon *d;
    unsigned short port;
    pthread_mutex_t mu;
    struct mock_reply script[16];
    const char *headers[16]; /* further reply headers of script[i], "Name: value\n"... */
    int nscript, next, requests;
    char auth[MAX_REQ][64]; /* key header of each request */
    int64_t at_ns[MAX_REQ]; /* when each request arrived */
    char last_url[256];     /* the last request's path and query */
    char last_body[8192];   /* the last request's body (cut) */
    char last_version[64];  /* its anthropic-version header */
};

/* A request body being received (per connection). */
struct mock_upload {
    size_t len;
    char buf[8192];
};

/* Add the "Name: value" lines of hdrs to resp. */
static void mock_add_headers(struct MHD_Response *resp, const char *hdrs)
{
    while (hdrs && *hdrs) {
        const char *nl = strchr(hdrs, '\n'), *colon = strchr(hdrs, ':');
        size_t n = nl ? (size_t)(nl - hdrs) : strlen(hdrs);
        char name[128], value[256];
        if (colon && colon < hdrs + n && (size_t)(colon - hdrs) < sizeof(name)) {
            memcpy(name, hdrs, (size_t)(colon - hdrs));
            name[colon - hdrs] = '\0';
            const char *v = colon + 1;
            while (*v == ' ')
                v++;
            size_t vl = (size_t)(hdrs + n - v);
            if (vl < sizeof(value)) {
                memcpy(value, v, vl);
                value[vl] = '\0';
                MHD_add_response_header(resp, name, value);
            }
        }
        hdrs += n + (nl ? 1 : 0);
    }
}

static struct mock M;

static enum MHD_Result mock_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
    (void)method, (void)version;
    struct mock *m = cls;
    struct mock_upload *up = *con_cls;
    if (!up) {
        *con_cls = calloc(1, sizeof(*up)); /* first call: headers only */
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        if (n > sizeof(up->buf) - 1 - up->len)
            n = sizeof(up->buf) - 1 - up->len;
        memcpy(up->buf + up->len, upload_data, n);
        up->len += n;
        *upload_data_size = 0;
        return MHD_YES;
    }
    const char *a = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (!a)
        a = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-goog-api-key");
    if (!a)
        a = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-api-key");
    if (!a)
        a = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "api-key");
    const char *ver = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "anthropic-version");
    const char *q = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "api-version");
    pthread_mutex_lock(&m->mu);
    up->buf[up->len] = '\0';
    util_strlcpy(m->last_body, up->buf, sizeof(m->last_body));
    snprintf(m->last_url, sizeof(m->last_url), "%s%s%s", url, q ? "?api-version=" : "", q ? q : "");
    util_strlcpy(m->last_version, ver ? ver : "", sizeof(m->last_version));
    free(up);
    *con_cls = NULL;
    if (m->requests < MAX_REQ) {
        util_strlcpy(m->auth[m->requests], a ? a : "", sizeof(m->auth[0]));
        m->at_ns[m->requests] = atomic_load(&FK.now); /* the client's (fake) time */
    }
    m->requests++;
    struct mock_reply r = m->script[m->next];
    const char *hdrs = m->headers[m->next];
    if (m->next + 1 < m->nscript)
        m->next++;
    pthread_mutex_unlock(&m->mu);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(r.body), (void *)r.body, MHD_RESPMEM_MUST_COPY);
    if (r.retry_after)
        MHD_add_response_header(resp, "Retry-After", r.retry_after);
    mock_add_headers(resp, hdrs);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void mock_script(int n, const struct mock_reply *r)
{
    pthread_mutex_lock(&M.mu);
    memcpy(M.script, r, (size_t)n * sizeof(*r));
    memset(M.headers, 0, sizeof(M.headers));
    M.nscript = n;
    M.next = 0;
    M.requests = 0;
    pthread_mutex_unlock(&M.mu);
}

/* Further headers of reply i of the current script ("Name: value" lines). */
static void mock_headers(int i, const char *hdrs)
{
    pthread_mutex_lock(&M.mu);
    M.headers[i] = hdrs;
    pthread_mutex_unlock(&M.mu);
}

/* ---- fixture: segment + credentials + log sink ------------------------------------------ */

struct fx {
    char dir[64];
    char console_path[128];
    int console_fd;
    struct uring_writer *uw;
    struct log_sink log;
    struct shm_segment seg;
    struct cred_file creds;
    struct llm_client c;
    struct llm_events ev;
    volatile sig_atomic_t stop;
    int waits_on, waits_off;
};

static void on_wait(void *arg, int waiting)
{
    struct fx *f = arg;
    if (waiting)
        f->waits_on++;
    else
        f->waits_off++;
}

static const char openai_ok[] = "{\"choices\":[{\"message\":{\"content\":\"the answer\"}}]}";
static const char gemini_ok[] = "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"gem\"}]}}]}";

/*
 * nkeys keys "key-0".."key-N" of provider, with secrets SECRET-<i>, all on the
 * mock server; fields (",\"rpm\":30") go into every entry.
 */
static void fx_keys_with(struct fx *f, int nkeys, const char *provider, const char *fields)
{
    char text[8192];
    size_t off = (size_t)snprintf(text, sizeof(text), "{\"credentials\":[");
    for (int i = 0; i < nkeys; i++)
        off += (size_t)snprintf(text + off, sizeof(text) - off,
                                "%s{\"id\":\"key-%d\",\"provider\":\"%s\",\"model\":\"m\","
                                "\"base_url\":\"http://127.0.0.1:%u/v1\",\"api_key\":\"" SECRET
                                "-%d\"%s}",
                                i ? "," : "", i, provider, M.port, i, fields);
    snprintf(text + off, sizeof(text) - off, "]}");
    char err[256];
    assert_int_equal(credfile_parse("test", text, strlen(text), 0, &f->creds, err, sizeof(err)), 0);

    char run_id[40];
    snprintf(run_id, sizeof(run_id), "test-llm-%d-%lld", (int)getpid(),
             (long long)(util_now_mono_ns() % 1000000000));
    struct shm_create_params p = {.run_id = run_id,
                                  .workflow = "lld",
                                  .item_count = 1,
                                  .key_count = (uint32_t)nkeys,
                                  .worker_count = 1,
                                  .parallel_max = 1};
    assert_int_equal(shm_segment_create(&f->seg, &p, err, sizeof(err)), 0);
    for (int i = 0; i < nkeys; i++) {
        struct cred_init ci;
        credfile_to_init(&f->creds.v[i], &ci);
        assert_int_equal(cred_slot_init(shm_cred_slot(&f->seg, (uint32_t)i), &ci), 0);
    }
    atomic_store(&f->seg.hdr->run_state, SHM_RUN_RUNNING);
    f->c.seg = &f->seg;
    f->c.creds = &f->creds;
}

static void fx_keys(struct fx *f, int nkeys, const char *provider)
{
    fx_keys_with(f, nkeys, provider, "");
}

/* fx_keys_with, with one endpoint slot (circuit breaker) that every key uses. */
static void fx_keys_endpoint_with(struct fx *f, int nkeys, const char *provider, const char *fields)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1", M.port);
    const char *urls[] = {url};
    fx_keys_with(f, nkeys, provider, fields);
    /* fx_keys made a segment without endpoints: make it again with one */
    shm_segment_unlink(f->seg.name);
    shm_segment_detach(&f->seg);
    char run_id[40], err[256];
    snprintf(run_id, sizeof(run_id), "test-llm-ep-%d", (int)getpid());
    struct shm_create_params p = {.run_id = run_id,
                                  .workflow = "lld",
                                  .item_count = 1,
                                  .key_count = (uint32_t)nkeys,
                                  .worker_count = 1,
                                  .parallel_max = 1,
                                  .endpoint_count = 1,
                                  .endpoint_urls = urls};
    assert_int_equal(shm_segment_create(&f->seg, &p, err, sizeof(err)), 0);
    for (int i = 0; i < nkeys; i++) {
        struct cred_init ci;
        credfile_to_init(&f->creds.v[i], &ci);
        ci.endpoint = 0;
        assert_int_equal(cred_slot_init(shm_cred_slot(&f->seg, (uint32_t)i), &ci), 0);
    }
    atomic_store(&f->seg.hdr->run_state, SHM_RUN_RUNNING);
}

static void fx_keys_endpoint(struct fx *f, int nkeys)
{
    fx_keys_endpoint_with(f, nkeys, "openai", "");
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    strcpy(f->dir, "/tmp/test_llm.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->console_path, sizeof(f->console_path), "%s/console.txt", f->dir);
    f->console_fd = open(f->console_path, O_CREAT | O_RDWR | O_APPEND, 0600);
    if (f->console_fd < 0 || uring_writer_open(&f->uw, 64) < 0)
        return -1;
    log_sink_init(&f->log, f->uw, f->console_fd, "run-1", NULL);
    if (log_open_item(&f->log, f->dir, "LLD-1") < 0)
        return -1;
    f->c.pid = (int32_t)getpid();
    f->c.timeout_s = 10;
    f->c.stop = &f->stop;
    log_llm_events(&f->log, &f->ev);
    f->c.ev = &f->ev;
    memset(&FK, 0, sizeof(FK));
    atomic_store(&FK.now, FAKE_T0);
    f->c.clock = &fake_clock;
    f->c.simulate_429_every = 0;
    f->c.on_wait = on_wait;
    f->c.on_wait_arg = f;
    *state = f;
    return 0;
}

/* Concatenation of every file in the run folder (console, item log, audit). */
static char *fx_all_output(struct fx *f)
{
    log_flush(&f->log);
    char *all = calloc(1, 1);
    size_t len = 0;
    DIR *d = opendir(f->dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[400], *buf;
        size_t n;
        snprintf(path, sizeof(path), "%s/%s", f->dir, e->d_name);
        if (util_read_file(path, 1 << 24, &buf, &n) != 0)
            continue;
        all = realloc(all, len + n + 1);
        memcpy(all + len, buf, n + 1);
        len += n;
        free(buf);
    }
    if (d)
        closedir(d);
    return all;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    char *all = fx_all_output(f);
    int leaked = strstr(all, "SECRET") != NULL;
    free(all);
    log_close_item(&f->log);
    uring_writer_close(f->uw);
    close(f->console_fd);
    if (f->seg.base) {
        shm_segment_unlink(f->seg.name);
        shm_segment_detach(&f->seg);
    }
    credfile_free(&f->creds);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    if (leaked)
        fprintf(stderr, "a secret reached the console, the log or the audit file\n");
    return leaked ? -1 : 0;
}

static void assert_output_has(struct fx *f, const char *needle)
{
    char *all = fx_all_output(f);
    if (!strstr(all, needle))
        fail_msg("output lacks \"%s\":\n%s", needle, all);
    free(all);
}

static const struct cred_slot_sh *slot_of(struct fx *f, int i)
{
    return shm_cred_slot(&f->seg, (uint32_t)i);
}

static void raise_stop(void *arg)
{
    struct fx *f = arg;
    f->stop = 1; /* as the worker's SIGTERM handler does */
}

static void begin_shutdown(void *arg)
{
    struct fx *f = arg;
    atomic_store(&f->seg.hdr->run_state, SHM_RUN_SHUTTING_DOWN);
}

/* Run llm_complete until the fake clock has run stop_ms further, when the stop flag is raised. */
static int complete_until(struct fx *f, int stop_ms)
{
    fake_at(stop_ms * UTIL_NS_PER_MS, raise_stop, f);
    char *reply = NULL, err[256] = "";
    int rc = llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err));
    free(reply);
    f->stop = 0;
    FK.at = NULL;
    return rc;
}

static int group_setup(void **state)
{
    (void)state;
    memset(&M, 0, sizeof(M));
    pthread_mutex_init(&M.mu, NULL);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    M.d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL,
                           NULL, mock_handler, &M, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
    if (!M.d)
        return -1;
    M.port = MHD_get_daemon_info(M.d, MHD_DAEMON_INFO_BIND_PORT)->port;
    return http_global_init();
}

static int group_teardown(void **state)
{
    (void)state;
    MHD_stop_daemon(M.d);
    pthread_mutex_destroy(&M.mu);
    return 0;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

#endif
