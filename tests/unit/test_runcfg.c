/*
 * test_runcfg.c - unit tests of the run file (--config, agentos.json).
 *
 * The parser is fed strings checked against a fixed pair of workflows and
 * three keys; every mistake must come back as -EINVAL with the one line a user
 * would see. The loader is tried on real files in a scratch folder: a missing
 * default, a missing explicit file, a folder, a FIFO (which must not block:
 * an alarm fails the test if it does) and a file past the size cap.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime/runcfg.h"
#include "shm/util.h"
#include "tests/unit/testutil.h"

static const char *const lld_nodes[] = {"N0_load", "N1_design", "N2_review", "N3_revise",
                                        "N4_finalize"};
static const char *const issue_nodes[] = {"N0_load", "N1_draft", "N2_review", "N3_revise",
                                          "N4_finalize"};
static const struct runcfg_workflow wfs[] = {
    {"lld", lld_nodes, 5},
    {"issue", issue_nodes, 5},
};
static const char *const keys[] = {"key-1", "key-2", "key-3"};
static const struct runcfg_known known = {wfs, 2, keys, 3};

static char err[512];

static int parse(const char *text, struct runcfg *cfg)
{
    err[0] = '\0';
    return runcfg_parse("agentos.json", text, strlen(text), &known, cfg, err, sizeof(err));
}

static void test_spec_example(void **state)
{
    (void)state;
    struct runcfg cfg;
    assert_int_equal(parse("{\"nodes\": {\"lld.N2_review\": {\"max_concurrent\": 2, \"keys\": "
                           "[\"key-1\",\"key-2\"]}},\n"
                           " \"adaptive\": {\"window_s\": 10, \"error_share_high\": 0.2, "
                           "\"error_share_low\": 0.05, \"latency_high_s\": 30, "
                           "\"latency_low_s\": 5, \"decrease\": 0.25, \"increase\": 0.33}}",
                           &cfg),
                     0);
    assert_int_equal(cfg.loaded, 1);
    assert_int_equal(cfg.node_count, 1);
    const struct runcfg_node *n = runcfg_find(&cfg, 0, 2);
    assert_non_null(n);
    assert_int_equal(n->max_concurrent, 2);
    assert_int_equal(n->key_count, 2);
    assert_true(runcfg_key_allowed(n, 0));
    assert_true(runcfg_key_allowed(n, 1));
    assert_false(runcfg_key_allowed(n, 2));
    assert_false(runcfg_key_allowed(n, 1000));
    assert_null(runcfg_find(&cfg, 1, 2)); /* issue.N2_review is not lld.N2_review */
    assert_true(runcfg_key_allowed(runcfg_find(&cfg, 1, 2), 2));
    struct limiter_policy d = limiter_policy_default();
    assert_memory_equal(&cfg.adaptive, &d, sizeof(d)); /* the example restates the defaults */
}

static void test_settings_and_defaults(void **state)
{
    (void)state;
    struct runcfg cfg;
    struct limiter_policy d = limiter_policy_default();

    runcfg_init(&cfg);
    assert_int_equal(cfg.loaded, 0);
    assert_int_equal(cfg.node_count, 0);
    assert_memory_equal(&cfg.adaptive, &d, sizeof(d));

    assert_int_equal(parse("{}", &cfg), 0);
    assert_int_equal(cfg.loaded, 1);
    assert_int_equal(cfg.node_count, 0);
    assert_memory_equal(&cfg.adaptive, &d, sizeof(d));

    assert_int_equal(parse("{\"nodes\": {\"issue.N1_draft\": {\"keys\": [\"key-3\"]},"
                           " \"lld.N4_finalize\": {\"max_concurrent\": 0}},"
                           " \"adaptive\": {\"window_s\": 30, \"decrease\": 0.5,"
                           " \"gradient_tolerance\": 2, \"history_windows\": 8}}",
                           &cfg),
                     0);
    assert_int_equal(cfg.node_count, 2);
    const struct runcfg_node *n = runcfg_find(&cfg, 1, 1);
    assert_int_equal(n->max_concurrent, 0);
    assert_true(runcfg_key_allowed(n, 2));
    assert_false(runcfg_key_allowed(n, 0));
    n = runcfg_find(&cfg, 0, 4);
    assert_int_equal(n->key_count, 0);
    assert_true(runcfg_key_allowed(n, 0)); /* no keys listed: any key */
    assert_int_equal(cfg.adaptive.window_s, 30);
    assert_true(cfg.adaptive.decrease == 0.5);
    assert_true(cfg.adaptive.gradient_tolerance == 2.0);
    assert_int_equal(cfg.adaptive.history_windows, 8);
    assert_true(cfg.adaptive.increase == d.increase); /* untouched fields keep the default */

    char path[64];
    assert_int_equal(runcfg_default_path("/home/u/.agentos", path, sizeof(path)), 0);
    assert_string_equal(path, "/home/u/.agentos/agentos.json");
    assert_int_equal(runcfg_default_path("/a/very/long/home", path, 10), -ENAMETOOLONG);
}

struct bad_case {
    const char *text;
    const char *msg;
};

static void test_each_error(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
        {"{\"node\": {}}", "agentos.json: node: unknown field (known: nodes, adaptive)"},
        {"[]", "agentos.json: top level must be an object (with \"nodes\" and/or \"adaptive\")"},
        {"{\"nodes\": []}",
         "agentos.json: nodes: must be an object of \"workflow.node\": {...} entries"},
        {"{\"nodes\": {\"lld.N9_x\": {}}}",
         "agentos.json: nodes.\"lld.N9_x\": workflow lld has no node N9_x (it has N0_load, "
         "N1_design, N2_review, N3_revise, N4_finalize)"},
        {"{\"nodes\": {\"ldd.N2_review\": {}}}",
         "agentos.json: nodes.\"ldd.N2_review\": no workflow ldd (known: lld, issue)"},
        {"{\"nodes\": {\"N2_review\": {}}}",
         "agentos.json: nodes.\"N2_review\": expected \"workflow.node\", e.g. \"lld.N2_review\""},
        {"{\"nodes\": {\"lld.\": {}}}",
         "agentos.json: nodes.\"lld.\": expected \"workflow.node\", e.g. \"lld.N2_review\""},
        {"{\"nodes\": {\"lld.N2_review\": 2}}",
         "agentos.json: nodes.\"lld.N2_review\": must be an object with max_concurrent and/or "
         "keys"},
        {"{\"nodes\": {\"lld.N2_review\": {\"max_concurent\": 2}}}",
         "agentos.json: nodes.\"lld.N2_review\".max_concurent: unknown field (known: "
         "max_concurrent, keys)"},
        {"{\"nodes\": {\"lld.N2_review\": {\"max_concurrent\": \"2\"}}}",
         "agentos.json: nodes.\"lld.N2_review\".max_concurrent: must be a whole number from 0 (no "
         "limit) to 1000"},
        {"{\"nodes\": {\"lld.N2_review\": {\"max_concurrent\": -1}}}",
         "agentos.json: nodes.\"lld.N2_review\".max_concurrent: must be a whole number from 0 (no "
         "limit) to 1000"},
        {"{\"nodes\": {\"lld.N2_review\": {\"max_concurrent\": 1.5}}}",
         "agentos.json: nodes.\"lld.N2_review\".max_concurrent: must be a whole number from 0 (no "
         "limit) to 1000"},
        {"{\"nodes\": {\"lld.N2_review\": {\"max_concurrent\": 1e300}}}",
         "agentos.json: nodes.\"lld.N2_review\".max_concurrent: must be a whole number from 0 (no "
         "limit) to 1000"},
        {"{\"nodes\": {\"lld.N2_review\": {\"keys\": [\"key-1\", \"key-9\"]}}}",
         "agentos.json: nodes.\"lld.N2_review\".keys[1]: no key \"key-9\" in the credentials (it "
         "has key-1, key-2, key-3)"},
        {"{\"nodes\": {\"lld.N2_review\": {\"keys\": [\"key-1\", \"key-1\"]}}}",
         "agentos.json: nodes.\"lld.N2_review\".keys[1]: \"key-1\" listed twice"},
        {"{\"nodes\": {\"lld.N2_review\": {\"keys\": []}}}",
         "agentos.json: nodes.\"lld.N2_review\".keys: must be a non-empty array of key ids"},
        {"{\"nodes\": {\"lld.N2_review\": {\"keys\": \"key-1\"}}}",
         "agentos.json: nodes.\"lld.N2_review\".keys: must be a non-empty array of key ids"},
        {"{\"nodes\": {\"lld.N2_review\": {\"keys\": [1]}}}",
         "agentos.json: nodes.\"lld.N2_review\".keys[0]: must be a key id (a string)"},
        {"{\"nodes\": {\"lld.N2_review\": {}, \"lld.N2_review\": {}}}",
         "agentos.json: nodes.\"lld.N2_review\": listed twice"},
        {"{\"nodes\": {\"lld.N2_review\": {\"keys\": [\"key-1\"], \"keys\": [\"key-2\"]}}}",
         "agentos.json: nodes.\"lld.N2_review\".keys: listed twice"},
        {"{\"nodes\": {}, \"nodes\": {}}", "agentos.json: nodes: listed twice"},
        {"{\"adaptive\": 1}", "agentos.json: adaptive: must be an object"},
        {"{\"adaptive\": {\"window\": 10}}",
         "agentos.json: adaptive.window: unknown field (known: window_s, error_share_high, "
         "error_share_low, latency_high_s, latency_low_s, decrease, increase, "
         "gradient_tolerance, throughput_gain, gradient_persist, min_samples, history_windows)"},
        {"{\"adaptive\": {\"window_s\": 0}}",
         "agentos.json: adaptive.window_s: must be a whole number from 1 to 3600"},
        {"{\"adaptive\": {\"error_share_high\": 1.5}}",
         "agentos.json: adaptive.error_share_high: must be a number from 0 to 1"},
        {"{\"adaptive\": {\"decrease\": \"0.25\"}}",
         "agentos.json: adaptive.decrease: must be a number from 0.01 to 0.99"},
        {"{\"adaptive\": {\"decrease\": 1}}",
         "agentos.json: adaptive.decrease: must be a number from 0.01 to 0.99"},
        {"{\"adaptive\": {\"error_share_low\": 0.3}}",
         "agentos.json: adaptive.error_share_low: must be below error_share_high (0.2)"},
        {"{\"adaptive\": {\"latency_high_s\": 4}}",
         "agentos.json: adaptive.latency_low_s: must be below latency_high_s (4)"},
        {"{\"adaptive\": {\"history_windows\": 33}}",
         "agentos.json: adaptive.history_windows: must be a whole number from 2 to 32"},
        {"{\"nodes\": {\"lld.N\\u0001x\": {}}}",
         "agentos.json: nodes.\"lld.N?x\": workflow lld has no node N?x (it has N0_load, "
         "N1_design, N2_review, N3_revise, N4_finalize)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct runcfg cfg;
        int rc = parse(cases[i].text, &cfg);
        if (rc != -EINVAL || strcmp(err, cases[i].msg) != 0)
            print_error("case %zu: %s\n  rc %d, got: %s\n", i, cases[i].text, rc, err);
        assert_int_equal(rc, -EINVAL);
        assert_string_equal(err, cases[i].msg);
        assert_null(strchr(err, '\n'));
        /* a failed parse leaves nothing half-applied */
        assert_int_equal(cfg.loaded, 0);
        assert_int_equal(cfg.node_count, 0);
    }
}

static void test_bad_json_and_bytes(void **state)
{
    (void)state;
    struct runcfg cfg;
    assert_int_equal(parse("{\n  \"nodes\": {\n    \"lld.N2_review\": {,}\n}}", &cfg), -EINVAL);
    assert_string_equal(err, "agentos.json: not valid JSON (error at line 3, column 24, byte 38)");
    assert_int_equal(parse("{} {}", &cfg), -EINVAL); /* trailing text */
    assert_string_equal(err, "agentos.json: not valid JSON (error at line 1, column 4, byte 3)");
    assert_int_equal(parse("{}\n\n", &cfg), 0);
    assert_int_equal(parse(" \n", &cfg), -EINVAL);
    assert_string_equal(err, "agentos.json: empty (an empty object {} sets nothing)");
    assert_int_equal(parse("{\"x\xff\": 1}", &cfg), -EINVAL);
    assert_string_equal(err, "agentos.json: not valid UTF-8 (byte 3)");
    assert_int_equal(runcfg_parse("agentos.json", "{}\0{}", 5, &known, &cfg, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "agentos.json: contains a NUL byte (not a JSON text file)");
    /* a long name from the file is cut in messages */
    char text[512];
    snprintf(text, sizeof(text), "{\"nodes\": {\"lld.%0200d\": {}}}", 7);
    assert_int_equal(parse(text, &cfg), -EINVAL);
    assert_true(strlen(err) < 250);
    assert_non_null(strstr(err, "...\": workflow lld has no node"));
}

static void test_long_key_list_is_cut(void **state)
{
    (void)state;
    static char names[60][8];
    const char *ids[60];
    struct runcfg cfg;
    for (int i = 0; i < 60; i++) {
        assert_int_equal(util_pathf(names[i], sizeof(names[i]), "key-%02d", i), 0);
        ids[i] = names[i];
    }
    struct runcfg_known many = {wfs, 2, ids, 60};
    const char *t = "{\"nodes\": {\"lld.N1_design\": {\"keys\": [\"key-59\", \"nope\"]}}}";
    assert_int_equal(runcfg_parse("a.json", t, strlen(t), &many, &cfg, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "keys[1]: no key \"nope\" in the credentials (it has key-00, "));
    assert_non_null(strstr(err, ", ...)"));
    assert_true(strlen(err) < 400);
    t = "{\"nodes\": {\"lld.N1_design\": {\"keys\": [\"key-59\", \"key-00\"]}}}";
    assert_int_equal(runcfg_parse("a.json", t, strlen(t), &many, &cfg, err, sizeof(err)), 0);
    assert_true(runcfg_key_allowed(&cfg.nodes[0], 59));
    assert_true(runcfg_key_allowed(&cfg.nodes[0], 0));
    assert_false(runcfg_key_allowed(&cfg.nodes[0], 58));
}

static int dir_setup(void **state)
{
    static char dir[64];
    if (test_tmpdir(dir, sizeof(dir), "trcfg") != 0)
        return -1;
    *state = dir;
    return 0;
}

static int dir_teardown(void **state)
{
    return test_rmtree(*state);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char m[] = "runcfg_load blocked on a FIFO\n";
    if (write(2, m, sizeof(m) - 1) < 0)
        _exit(3);
    _exit(2);
}

static void test_load_files(void **state)
{
    const char *dir = *state;
    char path[128];
    struct runcfg cfg;

    snprintf(path, sizeof(path), "%s/agentos.json", dir);
    /* missing: fine when it was the default, an error when it was asked for */
    assert_int_equal(runcfg_load(path, 1, &known, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.loaded, 0);
    assert_int_equal(runcfg_load(path, 0, &known, &cfg, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "could not open run file \""));
    assert_non_null(strstr(err, "No such file or directory"));

    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"nodes\": {\"issue.N2_review\": {\"max_concurrent\": 1}}}\n", f);
    fclose(f);
    assert_int_equal(runcfg_load(path, 1, &known, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.loaded, 1);
    assert_int_equal(runcfg_find(&cfg, 1, 2)->max_concurrent, 1);

    f = fopen(path, "w");
    fputs("{\"nodes\": {\"issue.N7\": {}}}", f);
    fclose(f);
    assert_int_equal(runcfg_load(path, 1, &known, &cfg, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "/agentos.json: nodes.\"issue.N7\": workflow issue has no node"));

    /* a folder and a FIFO are refused, and the FIFO without waiting for a writer */
    assert_int_equal(runcfg_load(dir, 0, &known, &cfg, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, ": not a regular file"));
    snprintf(path, sizeof(path), "%s/fifo.json", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    signal(SIGALRM, on_alarm);
    alarm(5);
    assert_int_equal(runcfg_load(path, 0, &known, &cfg, err, sizeof(err)), -EINVAL);
    alarm(0);
    assert_non_null(strstr(err, "fifo.json: not a regular file"));

    /* past the size cap */
    snprintf(path, sizeof(path), "%s/big.json", dir);
    f = fopen(path, "w");
    fputc('{', f);
    for (int i = 0; i < RUNCFG_MAX_BYTES; i++)
        fputc(' ', f);
    fputc('}', f);
    fclose(f);
    assert_int_equal(runcfg_load(path, 0, &known, &cfg, err, sizeof(err)), -EFBIG);
    assert_non_null(strstr(err, "big.json: larger than 1048576 bytes"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example),
        cmocka_unit_test(test_settings_and_defaults),
        cmocka_unit_test(test_each_error),
        cmocka_unit_test(test_bad_json_and_bytes),
        cmocka_unit_test(test_long_key_list_is_cut),
        cmocka_unit_test_setup_teardown(test_load_files, dir_setup, dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
