/*
 * test_snapshot.c - unit tests of the inspector's snapshot (shm/snapshot.c),
 * its renderings (tools/shmstat/metrics.c, metrics_prom.c, metrics_table.c) and
 * the one-line errors of the agentos-shmstat binary.
 *
 * Every segment is a real one, "tsnap-<pid>-<n>", unlinked by the test that
 * made it. The consistency test forks a writer process that rewrites every
 * progress slot in a tight loop, each payload's fields all derived from one
 * counter, while the parent takes snapshots read-only: a torn copy shows as
 * fields that disagree, and the counts by state must always add up. (A slot
 * whose writer was preempted mid-write through all retries is reported as
 * unreadable, never torn; the test allows that for under 1% of the reads.) The error
 * tests run the built binary (found next to this test: ../bin/) on a missing
 * run and on a segment whose layout_version was patched.
 */
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "tools/shmstat/metrics.h"
#include "shm/util.h"
#include "shm/cred.h"
#include "shm/prog.h"
#include "shm/segment.h"
#include "shm/snapshot.h"

#define ITEMS 64
#define HAMMER_NS (1200 * UTIL_NS_PER_MS)

static int counter;

static void make_segment(struct shm_segment *seg, char *id, size_t idlen, uint32_t items)
{
    static const char *const urls[] = {"http://user:pw@127.0.0.1:9/v1?key=SECRET"};
    static const char *const nodes[] = {"N0_load", "N1_design"};
    struct shm_create_params p = {.workflow = "lld",
                                  .item_count = items,
                                  .key_count = 2,
                                  .worker_count = 2,
                                  .parallel_max = 2,
                                  .endpoint_count = 1,
                                  .endpoint_urls = urls,
                                  .node_count = 2,
                                  .node_names = nodes};
    char err[256];

    snprintf(id, idlen, "tsnap-%d-%d", (int)getpid(), counter++);
    p.run_id = id;
    if (shm_segment_create(seg, &p, err, sizeof(err)) != 0)
        fail_msg("create: %s", err);
}

/* Every field derived from n; any mix of two writes disagrees somewhere. */
static void fill_item(struct prog_item *it, uint32_t n)
{
    memset(it, 0, sizeof(*it));
    it->state = n % 7;
    it->attempts = n;
    it->worker_pid = (int32_t)(n ^ 0x5a5a5a5au);
    it->rounds = n * 3u;
    it->requests = ~n;
    it->http_429 = n + 7u;
    it->started_ns = (int64_t)n;
    it->updated_ns = (int64_t)n * 1000;
    it->finished_ns = (int64_t)n * 2;
    snprintf(it->id, sizeof(it->id), "ITEM-%u", n);
    snprintf(it->node, sizeof(it->node), "node-%u", n);
    for (size_t i = 0; i + 1 < sizeof(it->reason); i++)
        it->reason[i] = (char)('a' + (n + i) % 26);
}

static int item_whole(const struct prog_item *it)
{
    struct prog_item want;

    fill_item(&want, it->attempts);
    return memcmp(&want, it, sizeof(want)) == 0;
}

static void test_consistent_under_writer(void **state)
{
    struct shm_segment seg, ro;
    char id[SHM_RUN_ID_MAX], err[256];
    struct prog_item it;
    pid_t child;
    int snaps = 0, status;
    uint32_t max_seen = 0, unreadable = 0;

    (void)state;
    make_segment(&seg, id, sizeof(id), ITEMS);
    for (uint32_t i = 0; i < ITEMS; i++) {
        fill_item(&it, i + 1);
        prog_write(shm_prog_slot(&seg, i), &it);
    }
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        int64_t end = util_now_mono_ns() + HAMMER_NS;
        for (uint32_t n = ITEMS + 1; util_now_mono_ns() < end; n++) {
            fill_item(&it, n);
            prog_write(shm_prog_slot(&seg, n % ITEMS), &it);
        }
        _exit(0);
    }
    assert_int_equal(shm_segment_attach(&ro, id, 1, err, sizeof(err)), 0);
    while (waitpid(child, &status, WNOHANG) == 0) {
        struct snap s;
        uint32_t sum = 0;

        assert_int_equal(snap_take(&ro, &s), 0);
        assert_int_equal(s.item_count, ITEMS);
        for (unsigned k = 0; k < SNAP_STATE_COUNT; k++)
            sum += s.by_state[k];
        assert_int_equal(sum, ITEMS);
        unreadable += s.by_state[SNAP_STATE_UNREADABLE];
        for (uint32_t i = 0; i < ITEMS; i++) {
            if (!s.items[i].readable)
                continue;
            if (!item_whole(&s.items[i].p))
                fail_msg("snapshot %d: slot %u torn (attempts %u, id %s)", snaps, i,
                         s.items[i].p.attempts, s.items[i].p.id);
            if (s.items[i].p.attempts > max_seen)
                max_seen = s.items[i].p.attempts;
        }
        snap_free(&s);
        snaps++;
    }
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(snaps >= 20);
    /*
     * A slot stays unreadable only while its writer is preempted between its
     * bumps through every retry (a loaded 2-CPU box): rare, never torn.
     */
    if (unreadable * 100 > (uint32_t)snaps * ITEMS)
        fail_msg("%u unreadable slots in %d snapshots", unreadable, snaps);
    assert_true(max_seen > 10 * ITEMS); /* the writer really raced the snapshots */
    shm_segment_detach(&ro);
    shm_segment_detach(&seg);
    assert_int_equal(shm_segment_unlink(id), 0);
}

/* A small populated segment: items in several states, two keys, node stats. */
static void populate(struct shm_segment *seg)
{
    struct cred_init k1 = {.id = "key-1", .provider = "openai", .model = "m1", .rpm = 120};
    struct cred_init k2 = {.id = "k\"e\\y", .provider = "gemini", .model = "m2"};
    struct prog_item it;

    assert_int_equal(cred_slot_init(shm_cred_slot(seg, 0), &k1), 0);
    assert_int_equal(cred_slot_init(shm_cred_slot(seg, 1), &k2), 0);
    for (uint32_t i = 0; i < seg->hdr->item_count; i++) {
        memset(&it, 0, sizeof(it));
        snprintf(it.id, sizeof(it.id), "LLD-%02u-%s", i,
                 i == 1 ? "a-very-long-item-name-that-will-not-fit-in-any-column" : "x");
        it.state = i % 4;
        it.attempts = it.state ? 1 : 0;
        it.worker_pid = it.state == PROG_RUNNING ? 4242 : 0;
        it.started_ns = it.state ? util_now_mono_ns() - 2 * UTIL_NS_PER_MS * 1000 : 0;
        prog_write(shm_prog_slot(seg, i), &it);
    }
    struct cred_slot_sh *c = shm_cred_slot(seg, 0);
    atomic_store(&c->requests, 7);
    atomic_store(&c->http_429, 2);
    atomic_store(&c->latency_ms_sum, 900);
    atomic_store(&c->latency_hist[shm_hist_bucket(100)], 2);
    atomic_store(&c->latency_hist[shm_hist_bucket(700)], 1);
    atomic_store(&c->latency_hist[shm_hist_bucket(200000)], 1);
    assert_int_equal(cred_lock(c), 0); /* a change to a key is published at unlock */
    c->st.state = CRED_RATE_LIMITED;
    c->st.rate_limited_until_ns = util_now_mono_ns() + 12 * UTIL_NS_PER_MS * 1000;
    c->st.rate_limited_until_realtime_ns = util_now_real_ns() + 12 * UTIL_NS_PER_MS * 1000;
    cred_unlock(c);
    atomic_store(&shm_node_slot(seg, 0)->runs, 3);
    atomic_store(&shm_node_slot(seg, 0)->duration_ms_sum, 300);
    atomic_store(&shm_node_slot(seg, 0)->duration_hist[shm_hist_bucket(100)], 3);
    atomic_store(&shm_worker_slot(seg, 0)->pid, 4242);
    atomic_store(&shm_worker_slot(seg, 0)->item_index, 1);
    atomic_store(&shm_worker_slot(seg, 0)->rss_kib, 2048);
    atomic_store(&seg->hdr->run_state, SHM_RUN_RUNNING);
}

static void test_json_round_trip(void **state)
{
    struct shm_segment seg;
    char id[SHM_RUN_ID_MAX];
    struct snap s;
    char *text;
    cJSON *doc, *x;
    double sum = 0;

    (void)state;
    make_segment(&seg, id, sizeof(id), 8);
    populate(&seg);
    assert_int_equal(snap_take(&seg, &s), 0);
    text = metrics_json(&s, 1);
    assert_non_null(text);
    assert_null(strstr(text, "SECRET"));
    assert_null(strstr(text, "pw@"));
    doc = cJSON_Parse(text);
    assert_non_null(doc);
    assert_string_equal(cJSON_GetObjectItem(doc, "schema")->valuestring, METRICS_JSON_SCHEMA);
    x = cJSON_GetObjectItem(doc, "run");
    assert_string_equal(cJSON_GetObjectItem(x, "id")->valuestring, id);
    assert_string_equal(cJSON_GetObjectItem(x, "state")->valuestring, "running");
    x = cJSON_GetObjectItem(doc, "counts");
    assert_int_equal(cJSON_GetObjectItem(x, "total")->valueint, 8);
    for (cJSON *c = x->child; c; c = c->next)
        if (strcmp(c->string, "total"))
            sum += c->valuedouble;
    assert_true(sum == 8);
    assert_int_equal(cJSON_GetObjectItem(x, "running")->valueint, 2);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "items")), 8);
    x = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "keys"), 0);
    assert_string_equal(cJSON_GetObjectItem(x, "state")->valuestring, "rate_limited");
    assert_true(
        cJSON_GetObjectItem(cJSON_GetObjectItem(x, "rate_limited_until"), "in_s")->valuedouble >
        10);
    assert_int_equal(cJSON_GetObjectItem(x, "requests")->valueint, 7);
    assert_true(cJSON_GetObjectItem(x, "latency_ms_mean")->valuedouble == 225.0);
    x = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "keys"), 1);
    assert_string_equal(cJSON_GetObjectItem(x, "id")->valuestring, "k\"e\\y");
    x = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "endpoints"), 0);
    assert_string_equal(cJSON_GetObjectItem(x, "url")->valuestring, "http://127.0.0.1:9/v1");
    x = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "workers"), 0);
    assert_string_equal(cJSON_GetObjectItem(x, "item")->valuestring, s.items[1].p.id);
    cJSON_Delete(doc);
    free(text);
    snap_free(&s);
    shm_segment_detach(&seg);
    assert_int_equal(shm_segment_unlink(id), 0);
}

/* Value of the first sample line starting with prefix, or -1. */
static double sample(const char *text, const char *prefix)
{
    const char *p = text;

    while ((p = strstr(p, prefix)) != NULL) {
        if (p == text || p[-1] == '\n')
            return strtod(p + strlen(prefix), NULL);
        p++;
    }
    return -1;
}

static void check_exposition_lines(char *text)
{
    regex_t sample_re, meta_re;
    char *save = NULL, typed[128] = "";

    assert_int_equal(regcomp(&sample_re,
                             "^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|"
                             "\\\\[\"\\\\n])*\",?)*\\})? -?[0-9.e+]+$",
                             REG_EXTENDED),
                     0);
    assert_int_equal(regcomp(&meta_re, "^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$", REG_EXTENDED),
                     0);
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (l[0] == '#') {
            if (regexec(&meta_re, l, 0, NULL, 0) != 0)
                fail_msg("bad comment line: %s", l);
            if (!strncmp(l, "# TYPE ", 7))
                sscanf(l + 7, "%127s", typed);
            continue;
        }
        if (regexec(&sample_re, l, 0, NULL, 0) != 0)
            fail_msg("bad sample line: %s", l);
        /* Every sample belongs to the family typed just above it. */
        if (strncmp(l, typed, strlen(typed)) != 0)
            fail_msg("sample outside its family %s: %s", typed, l);
    }
    regfree(&sample_re);
    regfree(&meta_re);
}

static void test_prometheus_format(void **state)
{
    struct shm_segment seg;
    char id[SHM_RUN_ID_MAX], esc[64];
    struct snap s;
    char *text = NULL;
    size_t len = 0;
    FILE *f;

    (void)state;
    make_segment(&seg, id, sizeof(id), 8);
    populate(&seg);
    assert_int_equal(snap_take(&seg, &s), 0);
    f = open_memstream(&text, &len);
    assert_int_equal(metrics_prometheus(&s, f), 0);
    fclose(f);
    assert_null(strstr(text, "SECRET"));
    assert_true(sample(text, "agentos_items{state=\"running\"} ") == 2);
    assert_true(sample(text, "agentos_run_state{state=\"running\"} ") == 1);
    assert_true(sample(text, "agentos_key_requests_total{key=\"key-1\"} ") == 7);
    assert_true(sample(text, "agentos_key_http_429_total{key=\"key-1\"} ") == 2);
    assert_true(sample(text, "agentos_key_state{key=\"key-1\",state=\"rate_limited\"} ") == 1);
    assert_true(sample(text, "agentos_key_state{key=\"key-1\",state=\"available\"} ") == 0);
    /* Buckets are cumulative; +Inf equals _count; _sum is in seconds. */
    assert_true(sample(text, "agentos_key_latency_seconds_bucket{key=\"key-1\",le=\"0.1\"} ") == 2);
    assert_true(sample(text, "agentos_key_latency_seconds_bucket{key=\"key-1\",le=\"1\"} ") == 3);
    assert_true(sample(text, "agentos_key_latency_seconds_bucket{key=\"key-1\",le=\"120\"} ") == 3);
    assert_true(sample(text, "agentos_key_latency_seconds_bucket{key=\"key-1\",le=\"+Inf\"} ") ==
                4);
    assert_true(sample(text, "agentos_key_latency_seconds_count{key=\"key-1\"} ") == 4);
    assert_true(sample(text, "agentos_key_latency_seconds_sum{key=\"key-1\"} ") == 0.9);
    assert_true(sample(text, "agentos_node_duration_seconds_count{node=\"N0_load\"} ") == 3);
    assert_true(sample(text, "agentos_worker_rss_bytes{worker=\"0\"} ") == 2048.0 * 1024);
    assert_true(
        sample(text, "agentos_endpoint_breaker_open{endpoint=\"http://127.0.0.1:9/v1\"} ") == 0);
    /* The odd key id is escaped in every label. */
    assert_non_null(strstr(text, "agentos_key_requests_total{key=\"k\\\"e\\\\y\"} 0\n"));
    metrics_escape_label("a\"b\\c\nd", esc, sizeof(esc));
    assert_string_equal(esc, "a\\\"b\\\\c\\nd");
    check_exposition_lines(text);
    free(text);
    snap_free(&s);
    shm_segment_detach(&seg);
    assert_int_equal(shm_segment_unlink(id), 0);
}

/* Display columns of a UTF-8 line (every code point one column). */
static int columns(const char *l, size_t n)
{
    int c = 0;

    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)l[i] & 0xc0) != 0x80;
    return c;
}

static void test_table_fits_80(void **state)
{
    struct metrics_table_opts o = {.width = 80};
    struct shm_segment seg;
    char id[SHM_RUN_ID_MAX];
    struct snap s;
    char *text = NULL;
    size_t len = 0;
    FILE *f;

    (void)state;
    make_segment(&seg, id, sizeof(id), 8);
    populate(&seg);
    assert_int_equal(snap_take(&seg, &s), 0);
    f = open_memstream(&text, &len);
    assert_int_equal(metrics_table(&s, &o, f), 0);
    fclose(f);
    for (char *l = text, *nl; *l; l = nl + 1) {
        nl = strchr(l, '\n');
        assert_non_null(nl);
        if (columns(l, (size_t)(nl - l)) > 80)
            fail_msg("line wider than 80: %.*s", (int)(nl - l), l);
    }
    assert_non_null(strstr(text, "LLD-01-a-very-l\xe2\x80\xa6"));
    assert_non_null(strstr(text, "items 8: 2 pending, 2 running, 2 waiting-key, 2 approved"));
    assert_non_null(strstr(text, "limited  -"));
    assert_non_null(strstr(text, "in 1"));
    assert_null(strstr(text, "SECRET"));
    free(text);
    snap_free(&s);
    shm_segment_detach(&seg);
    assert_int_equal(shm_segment_unlink(id), 0);
}

/* Run the built agentos-shmstat with one argument; stderr into err. Exit status. */
static int run_tool(const char *arg, char *err, size_t errlen)
{
    char exe[PATH_MAX], cmd[PATH_MAX * 2];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    FILE *p;
    size_t got;
    int status;

    assert_true(n > 0);
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    snprintf(cmd, sizeof(cmd), "'%s/../bin/agentos-shmstat' '%s' 2>&1 >/dev/null", exe, arg);
    p = popen(cmd, "r");
    assert_non_null(p);
    got = fread(err, 1, errlen - 1, p);
    err[got] = '\0';
    status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_no_such_run(void **state)
{
    char out[512];

    (void)state;
    assert_int_equal(run_tool("tsnap-no-such-run-0", out, sizeof(out)), 1);
    assert_string_equal(out, "agentos-shmstat: no such run \"tsnap-no-such-run-0\"\n");
    assert_int_equal(run_tool("/agentos-tsnap-nothing", out, sizeof(out)), 1);
    assert_string_equal(out, "agentos-shmstat: no such run \"/agentos-tsnap-nothing\"\n");
    assert_int_equal(run_tool("--bogus", out, sizeof(out)), 2);
    assert_int_equal((int)(strchr(out, '\n') - out) + 1, (int)strlen(out)); /* one line */
}

static void test_layout_mismatch(void **state)
{
    struct shm_segment seg;
    char id[SHM_RUN_ID_MAX], out[512], want[256];

    (void)state;
    make_segment(&seg, id, sizeof(id), 4);
    seg.hdr->layout_version = SHM_LAYOUT_VERSION + 98;
    assert_int_equal(run_tool(id, out, sizeof(out)), 1);
    snprintf(want, sizeof(want),
             "agentos-shmstat: segment /agentos-%s has layout version %u, this build reads %u\n",
             id, SHM_LAYOUT_VERSION + 98, SHM_LAYOUT_VERSION);
    assert_string_equal(out, want);
    shm_segment_detach(&seg);
    assert_int_equal(shm_segment_unlink(id), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consistent_under_writer),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_prometheus_format),
        cmocka_unit_test(test_table_fits_80),
        cmocka_unit_test(test_no_such_run),
        cmocka_unit_test(test_layout_mismatch),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
