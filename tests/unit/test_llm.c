/*
 * test_llm.c - the LLM client against a real shared segment (credential slots
 * from shm/cred.c), real log files, and an in-test libmicrohttpd server on
 * 127.0.0.1 that answers from a script: 429 then 200 moves to another key and
 * never fails; a rate-limited key gets no request before its time; 503 five
 * times fails with the SPEC message; 401 disables the key; a Gemini per-day
 * quota disables the key; AGENTOS_SIMULATE_429 answers without HTTP; shutdown
 * cancels a wait; five 503s in a row open the endpoint's circuit breaker; a
 * worker waiting on a disabled pool picks up reloaded secrets and goes on.
 * No secret may reach the console, the log or the audit file.
 */
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

#include "runtime/credfile.h"
#include "runtime/http.h"
#include "runtime/llm.h"
#include "runtime/log.h"
#include "runtime/uring.h"
#include "runtime/util.h"
#include "shm/breaker.h"
#include "shm/cred.h"
#include "shm/segment.h"

#define SECRET "SECRET-MARKER-123"
#define MAX_REQ 64

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
    int nscript, next, requests;
    char auth[MAX_REQ][64]; /* key header of each request */
    int64_t at_ns[MAX_REQ]; /* when each request arrived */
};

static struct mock M;

static enum MHD_Result mock_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
    (void)url, (void)method, (void)version, (void)upload_data;
    struct mock *m = cls;
    if (!*con_cls) {
        *con_cls = m; /* first call: headers only */
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    const char *a = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (!a)
        a = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-goog-api-key");
    pthread_mutex_lock(&m->mu);
    if (m->requests < MAX_REQ) {
        util_strlcpy(m->auth[m->requests], a ? a : "", sizeof(m->auth[0]));
        m->at_ns[m->requests] = util_now_mono_ns();
    }
    m->requests++;
    struct mock_reply r = m->script[m->next];
    if (m->next + 1 < m->nscript)
        m->next++;
    pthread_mutex_unlock(&m->mu);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(r.body), (void *)r.body, MHD_RESPMEM_MUST_COPY);
    if (r.retry_after)
        MHD_add_response_header(resp, "Retry-After", r.retry_after);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void mock_script(int n, const struct mock_reply *r)
{
    pthread_mutex_lock(&M.mu);
    memcpy(M.script, r, (size_t)n * sizeof(*r));
    M.nscript = n;
    M.next = 0;
    M.requests = 0;
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

/* nkeys keys "key-0".."key-N" of provider, with secrets SECRET-<i>, all on the mock server. */
static void fx_keys(struct fx *f, int nkeys, const char *provider)
{
    char text[4096];
    size_t off = (size_t)snprintf(text, sizeof(text), "{\"credentials\":[");
    for (int i = 0; i < nkeys; i++)
        off += (size_t)snprintf(text + off, sizeof(text) - off,
                                "%s{\"id\":\"key-%d\",\"provider\":\"%s\",\"model\":\"m\","
                                "\"base_url\":\"http://127.0.0.1:%u/v1\",\"api_key\":\"" SECRET
                                "-%d\"}",
                                i ? "," : "", i, provider, M.port, i);
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

/* fx_keys, with one endpoint slot (circuit breaker) that every key uses. */
static void fx_keys_endpoint(struct fx *f, int nkeys)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1", M.port);
    const char *urls[] = {url};
    fx_keys(f, nkeys, "openai");
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
    f->c.log = &f->log;
    f->c.simulate_429_after = -1;
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

/* ---- tests ------------------------------------------------------------------------------ */

static void test_success(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 2, "openai");
    struct mock_reply r[] = {{200, NULL, openai_ok}};
    mock_script(1, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(
        llm_complete(&f->c, LLM_ROLE_DRAFT, "N1_design", "prompt", &reply, err, sizeof(err)), 0);
    assert_string_equal(reply, "the answer");
    free(reply);
    assert_int_equal(f->c.requests, 1);
    assert_int_equal(f->c.http_429, 0);
    assert_int_equal(atomic_load(&f->seg.hdr->requests_total), 1);
    for (int i = 0; i < 2; i++)
        assert_int_equal(slot_of(f, i)->in_use, 0); /* released */
    assert_output_has(f, "\"event\":\"llm_request\"");
    assert_output_has(f, "\"http_status\":200");
    assert_output_has(f, "the answer");
}

static void test_429_moves_to_other_key(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 2, "openai");
    struct mock_reply r[] = {{429, "30", "{}"}, {200, NULL, openai_ok}};
    mock_script(2, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(
        llm_complete(&f->c, LLM_ROLE_REVIEW, "N2_review", "p", &reply, err, sizeof(err)), 0);
    assert_string_equal(reply, "the answer");
    free(reply);
    assert_int_equal(M.requests, 2);
    assert_string_not_equal(M.auth[0], M.auth[1]); /* the second went to the other key */
    assert_int_equal(f->c.requests, 2);
    assert_int_equal(f->c.http_429, 1);
    assert_int_equal(atomic_load(&f->seg.hdr->http_429_total), 1);
    assert_int_equal(f->waits_on, 0);
    int limited = slot_of(f, 0)->state == CRED_RATE_LIMITED ? 0 : 1;
    assert_int_equal(slot_of(f, limited)->state, CRED_RATE_LIMITED);
    assert_int_equal(slot_of(f, 1 - limited)->in_use, 0);
    char line[160];
    snprintf(line, sizeof(line),
             "[COORDINATOR] Rate limit hit on key-%d. Backing off for 30s. Redistributing work...",
             limited);
    assert_output_has(f, line);
    assert_output_has(f, "\"http_status\":429");
}

static void test_429_waits_for_its_time(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    struct mock_reply r[] = {{429, "1", "{}"}, {200, NULL, openai_ok}};
    mock_script(2, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)), 0);
    free(reply);
    assert_int_equal(M.requests, 2);
    int64_t gap_ms = (M.at_ns[1] - M.at_ns[0]) / UTIL_NS_PER_MS;
    assert_true(gap_ms >= 950 && gap_ms < 3000);
    assert_int_equal(f->waits_on, 1);
    assert_int_equal(f->waits_off, 1);
    assert_output_has(f, "\"event\":\"wait_key\"");
}

static void test_429_zero_hint_backs_off(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    struct mock_reply r[] = {{429, "0", "{}"}, {200, NULL, openai_ok}};
    mock_script(2, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)), 0);
    free(reply);
    /* "retry now" is not honoured: backoff from 1 s, -25 % at most */
    int64_t gap_ms = (M.at_ns[1] - M.at_ns[0]) / UTIL_NS_PER_MS;
    assert_true(gap_ms >= 700 && gap_ms < 2500);
}

static void test_missing_role(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    f->creds.v[0].roles = CRED_ROLE_DRAFT;
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_REVIEW, "N2", "p", &reply, err, sizeof(err)),
                     -ENOKEY);
    assert_string_equal(err, "no credential has role review");
    assert_int_equal(f->c.requests, 0);
}

static void test_gemini_retry_info(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "gemini");
    struct mock_reply r[] = {
        {429, NULL,
         "{\"error\":{\"code\":429,\"details\":[{\"@type\":"
         "\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"0.5s\"}]}}"},
        {200, NULL, gemini_ok}};
    mock_script(2, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)), 0);
    assert_string_equal(reply, "gem");
    free(reply);
    int64_t gap_ms = (M.at_ns[1] - M.at_ns[0]) / UTIL_NS_PER_MS;
    assert_true(gap_ms >= 450 && gap_ms < 2500);
    assert_output_has(f, "Rate limit hit on key-0. Backing off for 1s.");
}

static void test_503_fails_after_5(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 2, "openai");
    struct mock_reply r[] = {{503, NULL, "busy"}};
    mock_script(1, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)),
                     -EIO);
    assert_null(reply);
    assert_string_equal(err, "LLM request failed after 5 attempts: HTTP 503");
    assert_int_equal(M.requests, 5);
    assert_int_equal(f->c.requests, 5);
    assert_int_equal(atomic_load(&slot_of(f, 0)->errors) + atomic_load(&slot_of(f, 1)->errors), 5);
    /* backed off between attempts: 250+500+1000+2000 ms, +-25 % */
    int64_t total_ms = (M.at_ns[4] - M.at_ns[0]) / UTIL_NS_PER_MS;
    assert_true(total_ms >= 2700 && total_ms < 6000);
    for (int i = 0; i < 2; i++)
        assert_int_equal(slot_of(f, i)->in_use, 0);
}

static void test_bad_body_counts_as_attempt(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    struct mock_reply r[] = {{200, NULL, "{\"choices\":[]}"}, {200, NULL, openai_ok}};
    mock_script(2, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)), 0);
    free(reply);
    assert_int_equal(M.requests, 2);
    assert_int_equal(atomic_load(&slot_of(f, 0)->errors), 1);
    assert_output_has(f, "reply has no choices[0].message.content");
}

static void test_401_disables(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 2, "openai");
    struct mock_reply r[] = {{401, NULL, "{\"error\":\"bad key\"}"}, {200, NULL, openai_ok}};
    mock_script(2, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)), 0);
    free(reply);
    int dis = slot_of(f, 0)->state == CRED_DISABLED ? 0 : 1;
    assert_int_equal(slot_of(f, dis)->state, CRED_DISABLED);
    assert_string_equal(slot_of(f, dis)->disabled_reason, "HTTP 401");
    assert_int_equal(slot_of(f, 1 - dis)->state, CRED_AVAILABLE);
    char line[96];
    snprintf(line, sizeof(line), "[COORDINATOR] Key key-%d disabled: HTTP 401", dis);
    assert_output_has(f, line);
    assert_int_equal(f->c.http_429, 0);
}

static void test_gemini_daily_quota_disables(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 2, "gemini");
    struct mock_reply r[] = {
        {429, "5",
         "{\"error\":{\"code\":429,\"details\":[{\"@type\":"
         "\"type.googleapis.com/google.rpc.QuotaFailure\",\"violations\":[{\"quotaId\":"
         "\"GenerateRequestsPerDayPerProjectPerModel\"}]}]}}"},
        {200, NULL, gemini_ok}};
    mock_script(2, r);
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)), 0);
    free(reply);
    int dis = slot_of(f, 0)->state == CRED_DISABLED ? 0 : 1;
    assert_string_equal(slot_of(f, dis)->disabled_reason, "daily quota");
    assert_output_has(f, "disabled: daily quota");
}

struct stopper {
    volatile sig_atomic_t *flag;
    _Atomic uint32_t *run_state;
    int ms;
};

/*
 * In agentos the stop flag is set by the worker's SIGTERM handler, so the test
 * sets it the same way: the helper thread signals the main thread, whose
 * handler sets the flag (no data race, as in production).
 */
static volatile sig_atomic_t *stopper_flag;
static pthread_t stopper_target;

static void on_stop_signal(int sig)
{
    (void)sig;
    if (stopper_flag)
        *stopper_flag = 1;
}

static void *stop_later(void *arg)
{
    struct stopper *s = arg;
    usleep((useconds_t)s->ms * 1000);
    if (s->flag)
        pthread_kill(stopper_target, SIGUSR1);
    if (s->run_state)
        atomic_store(s->run_state, SHM_RUN_SHUTTING_DOWN);
    return NULL;
}

/* Start a stopper thread for s (call from the thread running llm_complete). */
static int start_stopper(pthread_t *t, struct stopper *s)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigaction(SIGUSR1, &sa, NULL);
    stopper_flag = s->flag;
    stopper_target = pthread_self();
    return pthread_create(t, NULL, stop_later, s);
}

static void test_simulate_429(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    struct mock_reply r[] = {{200, NULL, openai_ok}};
    mock_script(1, r);
    f->c.simulate_429_after = 1;
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)), 0);
    free(reply);
    /* from now on every request is a synthetic 429 with a 1 s delay, until we stop */
    struct stopper s = {.flag = &f->stop, .ms = 1500};
    pthread_t t;
    assert_int_equal(start_stopper(&t, &s), 0);
    int64_t t0 = util_now_mono_ns();
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)),
                     -ECANCELED);
    int64_t ms = (util_now_mono_ns() - t0) / UTIL_NS_PER_MS;
    pthread_join(t, NULL);
    assert_true(ms >= 1400 && ms < 2500);
    assert_int_equal(M.requests, 1);    /* no HTTP for simulated answers */
    assert_int_equal(f->c.http_429, 2); /* at 0 s and at 1 s */
    assert_int_equal(slot_of(f, 0)->in_use, 0);
    assert_int_equal(slot_of(f, 0)->state, CRED_RATE_LIMITED);
    assert_output_has(f, "Rate limit hit on key-0. Backing off for 1s. Redistributing work...");
    assert_output_has(f, "\"event\":\"http_429\"");
}

static void test_shutdown_cancels_wait(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    struct mock_reply r[] = {{401, NULL, "{}"}};
    mock_script(1, r);
    /* the only key gets disabled: the client waits for a reload until the run shuts down */
    struct stopper s = {.run_state = &f->seg.hdr->run_state, .ms = 600};
    pthread_t t;
    assert_int_equal(start_stopper(&t, &s), 0);
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)),
                     -ECANCELED);
    pthread_join(t, NULL);
    assert_int_equal(M.requests, 1);
    assert_int_equal(f->waits_on, 1);
    assert_int_equal(f->waits_off, 1);
}

static void test_transport_error_message(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    /* point the key at a port that was just free: bind, read it back, close */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    free(f->creds.v[0].base_url);
    f->creds.v[0].base_url = util_asprintf("http://127.0.0.1:%u/v1", ntohs(sa.sin_port));
    char *reply = NULL, err[256] = "";
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)),
                     -EIO);
    char want[128];
    snprintf(want, sizeof(want),
             "LLM request failed after 5 attempts: connect to 127.0.0.1:%u: Connection refused",
             ntohs(sa.sin_port));
    assert_string_equal(err, want);
    assert_null(strstr(err, "SECRET"));
}

/* Run llm_complete until stop_ms, when the stop flag is raised; returns its result. */
static int complete_until(struct fx *f, int stop_ms)
{
    struct stopper s = {.flag = &f->stop, .ms = stop_ms};
    pthread_t t;
    assert_int_equal(start_stopper(&t, &s), 0);
    char *reply = NULL, err[256] = "";
    int rc = llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err));
    pthread_join(t, NULL);
    free(reply);
    f->stop = 0;
    return rc;
}

static void test_503_opens_breaker(void **state)
{
    struct fx *f = *state;
    fx_keys_endpoint(f, 2);
    struct endpoint_sh *e = shm_endpoint_slot(&f->seg, 0);
    atomic_store(&e->consecutive_failures, 4); /* as if four requests had failed before */
    struct mock_reply r[] = {{503, NULL, "busy"}, {200, NULL, openai_ok}};
    mock_script(2, r);
    /* the fifth failure opens it: the client waits (no attempt spent) instead of sending */
    assert_int_equal(complete_until(f, 800), -ECANCELED);
    assert_int_equal(M.requests, 1);
    assert_int_equal(atomic_load(&e->state), BREAKER_OPEN);
    assert_int_equal(atomic_load(&e->failures), 1);
    assert_int_equal(f->waits_on, 1);
    char line[200];
    snprintf(line, sizeof(line),
             "[COORDINATOR] Endpoint http://127.0.0.1:%u/v1 failing (5 errors in a row); no "
             "requests to it for 5s",
             M.port);
    assert_output_has(f, line);
    struct cred_wait w;
    int64_t now = util_now_mono_ns();
    assert_int_equal(cred_reserve(&f->seg, CRED_ROLE_DRAFT, f->c.pid, now, &w), -EAGAIN);
    assert_true(w.retry_at_ns > now + 3 * UTIL_NS_PER_SEC);
    assert_true(w.retry_at_ns <= now + 5 * UTIL_NS_PER_SEC);
}

static void test_429_and_401_for_breaker(void **state)
{
    struct fx *f = *state;
    fx_keys_endpoint(f, 1);
    struct endpoint_sh *e = shm_endpoint_slot(&f->seg, 0);
    atomic_store(&e->consecutive_failures, 4);
    /* a 429 says nothing about the endpoint: neither counted nor reset */
    struct mock_reply r429[] = {{429, "30", "{}"}};
    mock_script(1, r429);
    assert_int_equal(complete_until(f, 300), -ECANCELED);
    assert_int_equal(atomic_load(&e->state), BREAKER_CLOSED);
    assert_int_equal(atomic_load(&e->consecutive_failures), 4);
    /* a 401 is an answer: the endpoint works (the key does not) */
    cred_slot_reload(shm_cred_slot(&f->seg, 0), &(struct cred_init){.id = "key-0"});
    struct mock_reply r401[] = {{401, NULL, "{}"}};
    mock_script(1, r401);
    assert_int_equal(complete_until(f, 300), -ECANCELED);
    assert_int_equal(atomic_load(&e->state), BREAKER_CLOSED);
    assert_int_equal(atomic_load(&e->consecutive_failures), 0);
    assert_int_equal(atomic_load(&e->failures), 0);
}

struct reloader {
    struct fx *f;
    int calls;
};

/* The worker's hook, in small: the file now holds other secrets. */
static int refresh_hook(void *arg)
{
    struct reloader *rl = arg;
    struct fx *f = rl->f;
    char text[512], err[256];
    struct cred_file cf;
    snprintf(text, sizeof(text),
             "{\"credentials\":[{\"id\":\"key-0\",\"provider\":\"openai\",\"model\":\"m\","
             "\"base_url\":\"http://127.0.0.1:%u/v1\",\"api_key\":\"" SECRET "-NEW\"}]}",
             M.port);
    rl->calls++;
    if (credfile_parse("test", text, strlen(text), 0, &cf, err, sizeof(err)) < 0)
        return -EINVAL;
    credfile_free(&f->creds);
    f->creds = cf;
    return 0;
}

static void *reload_later(void *arg)
{
    struct fx *f = arg;
    usleep(500 * 1000);
    /* as pool_reload does: the generation first, then the slots (from the
     * coordinator's own copy: the worker's f->creds is the worker's to replace) */
    atomic_fetch_add(&f->seg.hdr->pool_generation, 1);
    struct cred_init ci = {.id = "key-0", .provider = "openai", .model = "m"};
    cred_slot_reload(shm_cred_slot(&f->seg, 0), &ci);
    return NULL;
}

static void test_disabled_pool_waits_for_reload(void **state)
{
    struct fx *f = *state;
    fx_keys(f, 1, "openai");
    struct reloader rl = {.f = f};
    f->c.refresh_creds = refresh_hook;
    f->c.refresh_arg = &rl;
    struct mock_reply r[] = {{401, NULL, "{}"}, {200, NULL, openai_ok}};
    mock_script(2, r);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reload_later, f), 0);
    char *reply = NULL, err[256] = "";
    int64_t t0 = util_now_mono_ns();
    assert_int_equal(llm_complete(&f->c, LLM_ROLE_DRAFT, "N1", "p", &reply, err, sizeof(err)), 0);
    int64_t ms = (util_now_mono_ns() - t0) / UTIL_NS_PER_MS;
    pthread_join(t, NULL);
    assert_string_equal(reply, "the answer");
    free(reply);
    assert_true(ms >= 450 && ms < 3000); /* it waited for the reload, it did not fail */
    assert_int_equal(rl.calls, 1);
    assert_int_equal(f->c.generation, 1);
    assert_int_equal(M.requests, 2);
    assert_non_null(strstr(M.auth[0], SECRET "-0"));
    assert_non_null(strstr(M.auth[1], SECRET "-NEW")); /* the new secret, not the old */
    assert_int_equal(slot_of(f, 0)->state, CRED_AVAILABLE);
    assert_int_equal(slot_of(f, 0)->in_use, 0);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_success),
        T(test_429_moves_to_other_key),
        T(test_429_waits_for_its_time),
        T(test_429_zero_hint_backs_off),
        T(test_missing_role),
        T(test_gemini_retry_info),
        T(test_503_fails_after_5),
        T(test_bad_body_counts_as_attempt),
        T(test_401_disables),
        T(test_gemini_daily_quota_disables),
        T(test_simulate_429),
        T(test_shutdown_cancels_wait),
        T(test_transport_error_message),
        T(test_503_opens_breaker),
        T(test_429_and_401_for_breaker),
        T(test_disabled_pool_waits_for_reload),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
