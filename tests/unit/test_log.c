/*
 * test_log.c - unit tests for console lines, item logs and audit JSONL
 * (runtime/log.c): line splitting on newlines and at UTF-8 boundaries, the
 * prefixed console copy and the unprefixed log copy, quiet mode, audit lines
 * that always parse, and repair of an audit tail torn by kill -9.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "tests/unit/testutil.h"

#include "runtime/log.h"
#include "shm/util.h"

/* ---- log_split_lines ------------------------------------------------------ */

struct pieces {
    int n;
    char *p[512];
    size_t len[512];
};

static void collect(const char *piece, size_t len, void *arg)
{
    struct pieces *ps = arg;
    assert_true(ps->n < 512);
    ps->p[ps->n] = malloc(len + 1);
    memcpy(ps->p[ps->n], piece, len);
    ps->p[ps->n][len] = '\0';
    ps->len[ps->n++] = len;
}

static void free_pieces(struct pieces *ps)
{
    for (int i = 0; i < ps->n; i++)
        free(ps->p[i]);
    ps->n = 0;
}

static void test_split_newlines(void **state)
{
    (void)state;
    struct pieces ps = {0};
    log_split_lines("a\nbc\n\nd", collect, &ps);
    assert_int_equal(ps.n, 4);
    assert_string_equal(ps.p[0], "a");
    assert_string_equal(ps.p[1], "bc");
    assert_string_equal(ps.p[2], "");
    assert_string_equal(ps.p[3], "d");
    free_pieces(&ps);

    log_split_lines("done\n", collect, &ps); /* a final newline ends the line */
    assert_int_equal(ps.n, 1);
    assert_string_equal(ps.p[0], "done");
    free_pieces(&ps);

    log_split_lines("", collect, &ps); /* empty message: one empty line */
    assert_int_equal(ps.n, 1);
    assert_string_equal(ps.p[0], "");
    free_pieces(&ps);

    log_split_lines(NULL, collect, &ps);
    assert_int_equal(ps.n, 1);
    free_pieces(&ps);

    log_split_lines("crlf\r\nline\r\n", collect, &ps);
    assert_int_equal(ps.n, 2);
    assert_string_equal(ps.p[0], "crlf");
    assert_string_equal(ps.p[1], "line");
    free_pieces(&ps);
    log_split_lines("x", NULL, NULL); /* no callback: nothing, no crash */
}

static void test_split_long_ascii(void **state)
{
    (void)state;
    size_t n = 2 * LOG_LINE_MAX + 500;
    char *msg = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        msg[i] = (char)('a' + i % 26);
    msg[n] = '\0';
    struct pieces ps = {0};
    log_split_lines(msg, collect, &ps);
    assert_int_equal(ps.n, 3);
    assert_int_equal(ps.len[0], LOG_LINE_MAX);
    assert_int_equal(ps.len[1], LOG_LINE_MAX);
    assert_int_equal(ps.len[2], 500);
    assert_memory_equal(ps.p[1], msg + LOG_LINE_MAX, LOG_LINE_MAX);
    free_pieces(&ps);

    msg[LOG_LINE_MAX] = '\0'; /* exactly the limit: one piece */
    log_split_lines(msg, collect, &ps);
    assert_int_equal(ps.n, 1);
    assert_int_equal(ps.len[0], LOG_LINE_MAX);
    free_pieces(&ps);
    free(msg);
}

/* A 3-byte "€" placed across the cut moves whole to the next piece. */
static void test_split_utf8_straddle(void **state)
{
    (void)state;
    static const char *chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    for (int c = 0; c < 3; c++) {
        size_t clen = strlen(chars[c]);
        for (size_t lead = LOG_LINE_MAX - clen + 1; lead < LOG_LINE_MAX; lead++) {
            char msg[LOG_LINE_MAX + 16];
            memset(msg, 'a', lead);
            memcpy(msg + lead, chars[c], clen);
            strcpy(msg + lead + clen, "bc");
            struct pieces ps = {0};
            log_split_lines(msg, collect, &ps);
            assert_int_equal(ps.n, 2);
            assert_int_equal(ps.len[0], lead);
            assert_int_equal(ps.len[1], clen + 2);
            assert_memory_equal(ps.p[1], chars[c], clen);
            free_pieces(&ps);
        }
    }
}

/* Random multibyte text: pieces are <= the limit, whole chars, and add up to the input. */
static void test_split_utf8_random(void **state)
{
    (void)state;
    static const char *chars[] = {"a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\n"};
    char *msg = malloc(20000);
    char *joined = malloc(20000);
    srand(42);
    for (int round = 0; round < 20; round++) {
        size_t n = 0;
        while (n < 15000) {
            int k = rand() % 100;
            const char *ch = chars[k < 40 ? 0 : k < 55 ? 1 : k < 75 ? 2 : k < 99 ? 3 : 4];
            memcpy(msg + n, ch, strlen(ch));
            n += strlen(ch);
        }
        msg[n] = '\0';
        struct pieces ps = {0};
        log_split_lines(msg, collect, &ps);
        size_t j = 0;
        for (int i = 0; i < ps.n; i++) {
            assert_true(ps.len[i] <= LOG_LINE_MAX);
            if (ps.len[i] > 0) {
                assert_true(((unsigned char)ps.p[i][0] & 0xC0) != 0x80);
                size_t need = 0, back = 0;
                while (back < ps.len[i] &&
                       ((unsigned char)ps.p[i][ps.len[i] - 1 - back] & 0xC0) == 0x80)
                    back++;
                unsigned char lead = (unsigned char)ps.p[i][ps.len[i] - 1 - back];
                need = lead < 0x80 ? 0 : lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : 1;
                assert_int_equal(back, need); /* the last char is complete */
            }
            memcpy(joined + j, ps.p[i], ps.len[i]);
            j += ps.len[i];
        }
        /* Joined pieces == input without its newlines. */
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (msg[i] != '\n')
                msg[m++] = msg[i];
        assert_int_equal(j, m);
        assert_memory_equal(joined, msg, m);
        free_pieces(&ps);
    }
    free(msg);
    free(joined);
}

/* ---- sinks ------------------------------------------------------------------ */

struct fx {
    char dir[64];
    char console_path[128];
    int console_fd;
    struct uring_writer *uw;
    struct log_sink s;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    if (test_tmpdir(f->dir, sizeof(f->dir), "test_log") != 0)
        return -1;
    snprintf(f->console_path, sizeof(f->console_path), "%s/console.txt", f->dir);
    f->console_fd = open(f->console_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (f->console_fd < 0 || uring_writer_open(&f->uw, 16) != 0)
        return -1;
    log_sink_init(&f->s, f->uw, f->console_fd, "20261123T050102Z", NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    log_close_item(&f->s);
    uring_writer_close(f->uw);
    close(f->console_fd);
    int rc = test_rmtree(f->dir);
    free(f);
    return rc == 0 ? 0 : -1;
}

static char *read_rel(struct fx *f, const char *name)
{
    char path[256];
    char *buf = NULL;
    size_t len;
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    assert_int_equal(util_read_file(path, 1 << 24, &buf, &len), 0);
    return buf;
}

static void test_coordinator_sink(void **state)
{
    struct fx *f = *state;
    assert_string_equal(f->s.prefix, "[COORDINATOR] ");
    f->s.quiet = 1; /* the coordinator's own lines always show */
    log_line(&f->s, "Starting 3 workers");
    log_printf(&f->s, "%d/%d workflows complete", 5, 10);
    assert_int_equal(log_flush(&f->s), 0);
    char *c = read_rel(f, "console.txt");
    assert_string_equal(c, "[COORDINATOR] Starting 3 workers\n"
                           "[COORDINATOR] 5/10 workflows complete\n");
    free(c);
}

static void test_item_line_console_and_log(void **state)
{
    struct fx *f = *state;
    assert_int_equal(log_open_item(&f->s, f->dir, "LLD-42"), 0);
    assert_string_equal(f->s.prefix, "[LLD-42] ");
    log_line(&f->s, ">>> Executing: N1_design");
    log_line(&f->s, "two\nlines\n");
    log_coordinator(&f->s, "Rate limited on key %s, rotating", "k1");
    log_file_only(&f->s, "LLM request", "{\"model\":\"m\"}");
    assert_int_equal(log_flush(&f->s), 0);
    char *c = read_rel(f, "console.txt");
    assert_string_equal(c, "[LLD-42] >>> Executing: N1_design\n"
                           "[LLD-42] two\n"
                           "[LLD-42] lines\n"
                           "[COORDINATOR] Rate limited on key k1, rotating\n");
    char *l = read_rel(f, "LLD-42.log");
    assert_string_equal(l, ">>> Executing: N1_design\n"
                           "two\n"
                           "lines\n"
                           "[COORDINATOR] Rate limited on key k1, rotating\n"
                           "----- LLM request -----\n{\"model\":\"m\"}\n");
    free(c);
    free(l);

    /* A long message: several whole prefixed lines, each <= prefix + LOG_LINE_MAX + 1. */
    size_t n = 2500;
    char *msg = malloc(n + 1);
    memset(msg, 'y', n);
    msg[n] = '\0';
    log_printf(&f->s, "%s", msg);
    log_close_item(&f->s);
    assert_int_equal(f->s.log_fd, -1);
    c = read_rel(f, "console.txt");
    int lines = 0;
    for (char *p = strstr(c, "[LLD-42] yyy"); p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (!*p)
            break;
        assert_memory_equal(p, "[LLD-42] ", 9);
        assert_true((size_t)(strchr(p, '\n') - p) <= 9 + LOG_LINE_MAX);
        lines++;
    }
    assert_int_equal(lines, 3);
    free(c);
    free(msg);
}

static void test_quiet(void **state)
{
    struct fx *f = *state;
    assert_int_equal(log_open_item(&f->s, f->dir, "ISSUE-7"), 0);
    f->s.quiet = 1;
    log_line(&f->s, ">>> Executing: N1_triage");
    log_line(&f->s, "FAILED: Invalid spec format\ndetails here");
    log_coordinator(&f->s, "Shutting down... waiting for workers to checkpoint");
    assert_int_equal(log_flush(&f->s), 0);
    char *c = read_rel(f, "console.txt");
    assert_string_equal(c, "[ISSUE-7] FAILED: Invalid spec format\n"
                           "[ISSUE-7] details here\n"
                           "[COORDINATOR] Shutting down... waiting for workers to checkpoint\n");
    char *l = read_rel(f, "ISSUE-7.log"); /* the log file keeps everything */
    assert_non_null(strstr(l, ">>> Executing: N1_triage\n"));
    assert_non_null(strstr(l, "FAILED: Invalid spec format\ndetails here\n"));
    free(c);
    free(l);
}

static void check_ts(const char *ts)
{
    /* 2026-11-23T05:01:02.123Z */
    assert_int_equal(strlen(ts), 24);
    assert_int_equal(ts[4], '-');
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[13], ':');
    assert_int_equal(ts[19], '.');
    assert_int_equal(ts[23], 'Z');
}

static void test_audit_lines_parse(void **state)
{
    struct fx *f = *state;
    assert_int_equal(log_open_item(&f->s, f->dir, "LLD-9"), 0);
    struct audit_fields a = AUDIT_FIELDS_INIT;
    log_audit(&f->s, "item_start", NULL);
    a.node = "N1_design";
    a.key = "openai-1";
    a.http_status = 429;
    a.latency_ms = 1234;
    a.error = "rate limited: \"slow down\"\nretry";
    log_audit(&f->s, "llm_call", &a);
    assert_int_equal(log_flush(&f->s), 0);
    char *t = read_rel(f, "workflow-audit-LLD-9.jsonl");
    char *save = NULL;
    char *l1 = strtok_r(t, "\n", &save), *l2 = strtok_r(NULL, "\n", &save);
    assert_non_null(l1);
    assert_non_null(l2);
    assert_null(strtok_r(NULL, "\n", &save));

    cJSON *o = cJSON_Parse(l1);
    assert_non_null(o);
    check_ts(cJSON_GetObjectItem(o, "ts")->valuestring);
    assert_string_equal(cJSON_GetObjectItem(o, "run")->valuestring, "20261123T050102Z");
    assert_string_equal(cJSON_GetObjectItem(o, "item")->valuestring, "LLD-9");
    assert_string_equal(cJSON_GetObjectItem(o, "event")->valuestring, "item_start");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "node")));
    assert_null(cJSON_GetObjectItem(o, "key"));
    assert_null(cJSON_GetObjectItem(o, "http_status"));
    assert_null(cJSON_GetObjectItem(o, "latency_ms"));
    assert_null(cJSON_GetObjectItem(o, "error"));
    cJSON_Delete(o);

    o = cJSON_Parse(l2);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "node")->valuestring, "N1_design");
    assert_string_equal(cJSON_GetObjectItem(o, "key")->valuestring, "openai-1");
    assert_int_equal(cJSON_GetObjectItem(o, "http_status")->valueint, 429);
    assert_int_equal(cJSON_GetObjectItem(o, "latency_ms")->valueint, 1234);
    assert_string_equal(cJSON_GetObjectItem(o, "error")->valuestring, a.error);
    cJSON_Delete(o);
    free(t);
}

static void write_raw(struct fx *f, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void test_torn_audit_tail(void **state)
{
    struct fx *f = *state;
    const char *good = "{\"ts\":\"a\",\"event\":\"one\"}\n{\"ts\":\"b\",\"event\":\"two\"}\n";
    char *torn = util_asprintf("%s{\"ts\":\"x\",\"ev", good);
    write_raw(f, "workflow-audit-LLD-1.jsonl", torn);
    assert_int_equal(log_open_item(&f->s, f->dir, "LLD-1"), 0);
    char *t = read_rel(f, "workflow-audit-LLD-1.jsonl");
    assert_string_equal(t, good);
    free(t);

    /* After repair new records follow whole lines, and every line parses. */
    log_audit(&f->s, "resume", NULL);
    log_close_item(&f->s);
    t = read_rel(f, "workflow-audit-LLD-1.jsonl");
    int lines = 0;
    char *save = NULL;
    for (char *l = strtok_r(t, "\n", &save); l; l = strtok_r(NULL, "\n", &save), lines++) {
        cJSON *o = cJSON_Parse(l);
        assert_non_null(o);
        cJSON_Delete(o);
    }
    assert_int_equal(lines, 3);
    free(t);
    free(torn);

    /* No newline at all: nothing whole survives. A tail longer than one read chunk. */
    char *big = malloc(10000);
    memset(big, 'z', 9999);
    big[9999] = '\0';
    write_raw(f, "workflow-audit-LLD-2.jsonl", big);
    assert_int_equal(log_open_item(&f->s, f->dir, "LLD-2"), 0);
    t = read_rel(f, "workflow-audit-LLD-2.jsonl");
    assert_string_equal(t, "");
    free(t);
    big[10] = '\n';
    write_raw(f, "workflow-audit-LLD-3.jsonl", big);
    assert_int_equal(log_open_item(&f->s, f->dir, "LLD-3"), 0); /* closes LLD-2 first */
    t = read_rel(f, "workflow-audit-LLD-3.jsonl");
    assert_int_equal(strlen(t), 11);
    free(t);
    free(big);
}

/* A failed write to the item's log is remembered: every later check sees it. */
static void test_item_error_is_sticky(void **state)
{
    struct fx *f = *state;
    assert_int_equal(log_open_item(&f->s, f->dir, "LLD-9"), 0);
    assert_int_equal(log_item_error(&f->s), 0);
    int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
    assert_true(full >= 0);
    uring_writer_forget_fd(f->uw, f->s.log_fd);
    close(f->s.log_fd);
    f->s.log_fd = full; /* the disk is now full under the item log */
    log_printf(&f->s, "first line after the disk filled");
    assert_int_equal(log_item_error(&f->s), -ENOSPC);
    log_printf(&f->s, "second line");
    log_flush(&f->s);
    assert_int_equal(log_item_error(&f->s), -ENOSPC); /* still, after a clean-looking flush */
}

static void test_bad_input(void **state)
{
    struct fx *f = *state;
    assert_int_equal(log_open_item(&f->s, f->dir, "../escape"), -EINVAL);
    assert_int_equal(log_open_item(&f->s, f->dir, ""), -EINVAL);
    assert_int_equal(log_open_item(&f->s, f->dir, NULL), -EINVAL);
    assert_int_equal(log_open_item(&f->s, f->dir, "bad\nid"), -EINVAL);
    assert_int_equal(log_open_item(NULL, f->dir, "X"), -EINVAL);
    assert_int_equal(log_open_item(&f->s, "/nonexistent/dir", "LLD-1"), -ENOENT);
    assert_int_equal(f->s.log_fd, -1);
    log_line(NULL, "x");
    log_line(&f->s, NULL);
    log_audit(&f->s, "no file open", NULL); /* audit_fd == -1: ignored */
    log_file_only(&f->s, NULL, NULL);
    log_close_item(NULL);
    assert_int_equal(log_flush(NULL), 0);

    /* A sink without a writer writes directly. */
    struct log_sink s;
    log_sink_init(&s, NULL, f->console_fd, NULL, "LLD-5");
    log_line(&s, "direct");
    char *c = read_rel(f, "console.txt");
    assert_non_null(strstr(c, "[LLD-5] direct\n"));
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_newlines),
        cmocka_unit_test(test_split_long_ascii),
        cmocka_unit_test(test_split_utf8_straddle),
        cmocka_unit_test(test_split_utf8_random),
        cmocka_unit_test_setup_teardown(test_coordinator_sink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_item_line_console_and_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quiet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_lines_parse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_audit_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_item_error_is_sticky, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
