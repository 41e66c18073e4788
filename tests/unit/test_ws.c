/*
 * test_ws.c - workstream files: the SPEC example, defaults and ignored keys,
 * hashes that follow dependencies, every validation error (one table), cycle
 * reports, the transitive dependency relation, large graphs against the clock,
 * and reading from disk. Overlapping files and DOT are test_ws_graph.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/testutil.h"
#include "tests/unit/ws_fixture.h"

#include "shm/util.h"
#include "workflows/workstream/ws.h"

/* The step's hash recomputed from its definition and its dependencies' hashes. */
static void expect_sha(const struct workstream *ws, size_t i)
{
    const struct ws_step *st = &ws->steps[i];
    char *json = cJSON_PrintUnformatted(st->def);
    size_t jl = strlen(json);
    char *buf = malloc(jl + 64 * st->ndeps + 1), sha[65];
    memcpy(buf, json, jl);
    for (size_t k = 0; k < st->ndeps; k++)
        memcpy(buf + jl + 64 * k, ws->steps[st->deps[k]].sha256, 64);
    assert_int_equal(util_sha256_hex(buf, jl + 64 * st->ndeps, sha), 0);
    assert_string_equal(st->sha256, sha);
    free(buf);
    cJSON_free(json);
}

static void test_example(void **state)
{
    (void)state;
    struct workstream ws;
    char err[512] = "";
    assert_int_equal(parse(example, &ws, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_string_equal(ws.id, "ws-utils");
    assert_int_equal(ws.parallel, 1);
    assert_int_equal(ws.max_workers, 3);
    assert_int_equal(ws.timeout_per_step, 300);
    assert_int_equal(ws.nsteps, 2);
    assert_int_equal(ws.nwaves, 2);

    const struct ws_step *a = &ws.steps[0], *b = &ws.steps[1];
    assert_string_equal(a->id, "step-01");
    assert_string_equal(a->run, "make -C a");
    assert_null(a->prompt);
    assert_null(a->output);
    assert_int_equal(a->nfiles, 1);
    assert_string_equal(a->files[0], "a/");
    assert_int_equal(a->naccept, 1);
    assert_string_equal(a->accept[0], "test -f a/out");
    assert_int_equal(a->ndeps, 0);
    assert_int_equal(a->wave, 0);
    assert_ptr_equal(a->def, cJSON_GetArrayItem(cJSON_GetObjectItem(ws.doc, "steps"), 0));

    assert_string_equal(b->id, "step-02");
    assert_null(b->run);
    assert_string_equal(b->prompt, "Write ...");
    assert_string_equal(b->output, "b/notes.md");
    assert_int_equal(b->nfiles, 0);
    assert_int_equal(b->naccept, 0);
    assert_int_equal(b->ndeps, 1);
    assert_int_equal(b->deps[0], 0);
    assert_int_equal(b->wave, 1);

    assert_int_equal(strlen(a->sha256), 64);
    expect_sha(&ws, 0);
    expect_sha(&ws, 1);
    assert_string_not_equal(a->sha256, b->sha256);
    assert_true(ws_depends(&ws, 1, 0));
    assert_false(ws_depends(&ws, 0, 1));
    assert_int_equal(ws_check_files(&ws, "ws.json", err, sizeof(err)), 0);
    ws_free(&ws);
    assert_null(ws.steps);
    assert_null(ws.doc);
    ws_free(&ws); /* twice is harmless */
}

static void test_defaults_and_unknown_keys(void **state)
{
    (void)state;
    struct workstream ws;
    char err[512];
    const char *d =
        "{\"id\": \"w_1\", \"future\": {\"x\": 1}, \"steps\": [\n"
        "  {\"id\": \"a\", \"run\": \"true\", \"retries\": 3, \"env\": {\"K\": \"v\"}},\n"
        "  {\"id\": \"b\", \"prompt\": \"p\", \"output\": \"notes/..md\"}]}";
    assert_int_equal(parse(d, &ws, err, sizeof(err)), 0);
    assert_int_equal(ws.parallel, 1);
    assert_int_equal(ws.max_workers, 0);
    assert_int_equal(ws.timeout_per_step, 0);
    assert_int_equal(ws.nwaves, 1);
    assert_int_equal(ws.steps[0].wave, 0);
    assert_int_equal(ws.steps[1].wave, 0);
    assert_null(ws.steps[0].files);
    assert_null(ws.steps[0].accept);
    assert_null(ws.steps[0].deps);
    ws_free(&ws);

    d = "{\"id\": \"w\", \"execution\": {\"parallel\": false, \"max_workers\": 64, \"new\": 1, "
        "\"timeout_per_step\": 86400}, \"steps\": [{\"id\": \"a\", \"run\": \"x\"}]}";
    assert_int_equal(parse(d, &ws, err, sizeof(err)), 0);
    assert_int_equal(ws.parallel, 0);
    assert_int_equal(ws.max_workers, 64); /* above 10 is the caller's to cap */
    assert_int_equal(ws.timeout_per_step, 86400);
    ws_free(&ws);
}

/* Hashes of a (a <- b <- c) and an unrelated d, for a given command of a and of d. */
static void hashes(const char *run_a, const char *run_d, char out[4][65])
{
    char steps[512];
    snprintf(steps, sizeof(steps),
             "{\"id\": \"a\", \"run\": \"%s\"},"
             "{\"id\": \"b\", \"run\": \"rb\", \"depends_on\": [\"a\"]},"
             "{\"id\": \"c\", \"prompt\": \"pc\", \"output\": \"c.md\", \"depends_on\": [\"b\"]},"
             "{\"id\": \"d\", \"run\": \"%s\"}",
             run_a, run_d);
    struct workstream ws;
    load_ok(steps, &ws);
    for (size_t i = 0; i < 4; i++) {
        expect_sha(&ws, i);
        memcpy(out[i], ws.steps[i].sha256, 65);
    }
    ws_free(&ws);
}

static void test_sha_follows_dependencies(void **state)
{
    (void)state;
    char base[4][65], again[4][65], edit_a[4][65], edit_d[4][65];
    hashes("ra", "rd", base);
    hashes("ra", "rd", again);
    hashes("ra2", "rd", edit_a);
    hashes("ra", "rd2", edit_d);
    for (int i = 0; i < 4; i++)
        assert_string_equal(base[i], again[i]); /* stable */
    for (int i = 0; i < 3; i++)
        assert_string_not_equal(base[i], edit_a[i]); /* a and everything on it */
    assert_string_equal(base[3], edit_a[3]);         /* not the unrelated d */
    for (int i = 0; i < 3; i++)
        assert_string_equal(base[i], edit_d[i]);
    assert_string_not_equal(base[3], edit_d[3]);

    /* Same text, different dependency: different hash (the dep's hash is mixed in). */
    struct workstream ws;
    load_ok("{\"id\": \"a\", \"run\": \"x\"}, {\"id\": \"b\", \"run\": \"y\"},"
            "{\"id\": \"c\", \"run\": \"z\", \"depends_on\": [\"a\", \"b\"]}",
            &ws);
    expect_sha(&ws, 2);
    ws_free(&ws);
}

/* --- errors -------------------------------------------------------------- */

struct bad {
    const char *doc;
    const char *want; /* substring of the message after "ws.json: " */
};

#define ST(s) "{\"id\": \"w\", \"steps\": [" s "]}"

static const struct bad bad_docs[] = {
    {"[1, 2]", "top level must be a JSON object"},
    {"\"text\"", "top level must be a JSON object"},
    {"", "not valid JSON near byte 1"},
    {"{\"id\": ", "not valid JSON near byte"},
    {"{\"id\": \"w\",\n \"steps\": [}", "not valid JSON near byte 24 (line 2)"},
    {ST(RUN("a")) " trailing", "not valid JSON near byte 49 (line 1)"},
    {"{\"steps\": [" RUN("a") "]}", "id must be a string of 1-64 characters of A-Z a-z 0-9 _ -"},
    {"{\"id\": 7, \"steps\": [" RUN("a") "]}", "id must be a string of 1-64"},
    {"{\"id\": \"\", \"steps\": [" RUN("a") "]}", "id must be a string of 1-64"},
    {"{\"id\": \"a b\", \"steps\": [" RUN("a") "]}", "id must be a string of 1-64"},
    {"{\"id\": \"../x\", \"steps\": [" RUN("a") "]}", "id must be a string of 1-64"},
    {"{\"id\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", "
     "\"steps\": [" RUN("a") "]}",
     "id must be a string of 1-64"},
    {"{\"id\": \"w\", \"execution\": [], \"steps\": [" RUN("a") "]}",
     "execution must be an object"},
    {"{\"id\": \"w\", \"execution\": {\"parallel\": \"yes\"}, \"steps\": [" RUN("a") "]}",
     "execution.parallel must be true or false"},
    {"{\"id\": \"w\", \"execution\": {\"parallel\": 1}, \"steps\": [" RUN("a") "]}",
     "execution.parallel must be true or false"},
    {"{\"id\": \"w\", \"execution\": {\"max_workers\": 0}, \"steps\": [" RUN("a") "]}",
     "execution.max_workers must be a whole number of at least 1"},
    {"{\"id\": \"w\", \"execution\": {\"max_workers\": 2.5}, \"steps\": [" RUN("a") "]}",
     "execution.max_workers must be a whole number of at least 1"},
    {"{\"id\": \"w\", \"execution\": {\"max_workers\": \"three\"}, \"steps\": [" RUN("a") "]}",
     "execution.max_workers must be a whole number of at least 1, or \"auto\""},
    {"{\"id\": \"w\", \"execution\": {\"max_workers\": null}, \"steps\": [" RUN("a") "]}",
     "execution.max_workers must be a whole number of at least 1"},
    {"{\"id\": \"w\", \"execution\": {\"max_workers\": 1e300}, \"steps\": [" RUN("a") "]}",
     "execution.max_workers must be at most 1000000"},
    {"{\"id\": \"w\", \"execution\": {\"timeout_per_step\": 0}, \"steps\": [" RUN("a") "]}",
     "execution.timeout_per_step must be a whole number of at least 1"},
    {"{\"id\": \"w\", \"execution\": {\"timeout_per_step\": -5}, \"steps\": [" RUN("a") "]}",
     "execution.timeout_per_step must be a whole number of at least 1"},
    {"{\"id\": \"w\", \"execution\": {\"timeout_per_step\": 86401}, \"steps\": [" RUN("a") "]}",
     "execution.timeout_per_step must be at most 86400"},
    {"{\"id\": \"w\"}", "missing \"steps\""},
    {"{\"id\": \"w\", \"steps\": {}}", "steps must be an array of step objects"},
    {ST(""), "steps must list at least one step"},
    {ST(RUN("a") ", 3"), "steps[1] must be an object"},
    {ST(RUN("a") ", {\"run\": \"r\"}"), "steps[1].id must be a string of 1-64 characters"},
    {ST(RUN("a") ", " RUN("x.y")), "steps[1].id must be a string of 1-64"},
    {ST(RUN("a") ", " RUN("")), "steps[1].id must be"},
    {ST("{\"id\": 5, \"run\": \"r\"}"), "steps[0].id must be"},
    {ST(RUN("a") ", " RUN("b") ", " RUN("a") ", " RUN("b")),
     "duplicate step id \"a\" (steps[0] and steps[2])"},
    {ST(RUN("b") ", " RUN("a") ", " RUN("a") ", " RUN("b")),
     "duplicate step id \"a\" (steps[1] and steps[2])"},
    /* names that would pass for the coordinator's: its console prefix, its log file */
    {ST(RUN("a") ", " RUN("coordinator")),
     "steps[1].id \"coordinator\" is reserved: the coordinator's console lines and "
     "coordinator.log use that name"},
    {ST(RUN("COORDINATOR")), "steps[0].id \"COORDINATOR\" is reserved"},
    {ST(RUN("CoOrdinator")), "steps[0].id \"CoOrdinator\" is reserved"},
    /* ids that differ only in case: [Build] and [build] on one console, one log on some disks */
    {ST(RUN("Build") ", " RUN("x") ", " RUN("build")),
     "step ids \"Build\" and \"build\" differ only in case (steps[0] and steps[2])"},
    {ST("{\"id\": \"a\", \"run\": \"r\", \"prompt\": \"p\", \"output\": \"o\"}"),
     "step a has both \"run\" and \"prompt\""},
    {ST("{\"id\": \"a\"}"), "step a needs \"run\" (a command) or \"prompt\""},
    {ST("{\"id\": \"a\", \"run\": \"\"}"), "step a: run must be a non-empty string"},
    {ST("{\"id\": \"a\", \"run\": [\"make\"]}"), "step a: run must be a non-empty string"},
    {ST("{\"id\": \"a\", \"run\": \"r\", \"output\": \"o.md\"}"),
     "step a: \"output\" is only for prompt steps"},
    {ST("{\"id\": \"a\", \"prompt\": \"\", \"output\": \"o.md\"}"),
     "step a: prompt must be a non-empty string"},
    {ST("{\"id\": \"a\", \"prompt\": \"p\"}"), "step a: a prompt step needs \"output\""},
    {ST("{\"id\": \"a\", \"prompt\": \"p\", \"output\": \"\"}"),
     "step a: output must be a relative path without \"..\" components"},
    {ST("{\"id\": \"a\", \"prompt\": \"p\", \"output\": 3}"), "step a: output must be"},
    {ST("{\"id\": \"a\", \"prompt\": \"p\", \"output\": \"/etc/x\"}"), "step a: output must be"},
    {ST("{\"id\": \"a\", \"prompt\": \"p\", \"output\": \"..\"}"), "step a: output must be"},
    {ST("{\"id\": \"a\", \"prompt\": \"p\", \"output\": \"x/../../y\"}"), "step a: output must be"},
    {ST("{\"id\": \"a\", \"prompt\": \"p\", \"output\": \"x/..\"}"), "step a: output must be"},
    {ST("{\"id\": \"a\", \"run\": \"r\", \"files\": \"a/\"}"),
     "step a: files must be an array of non-empty strings"},
    {ST("{\"id\": \"a\", \"run\": \"r\", \"files\": [\"a\", \"\"]}"),
     "step a: files[1] must be a non-empty string"},
    {ST("{\"id\": \"a\", \"run\": \"r\", \"acceptance_tests\": [1]}"),
     "step a: acceptance_tests[0] must be a non-empty string"},
    {ST("{\"id\": \"a\", \"run\": \"r\", \"acceptance_tests\": {}}"),
     "step a: acceptance_tests must be an array"},
    {ST("{\"id\": \"a\", \"run\": \"r\", \"depends_on\": \"b\"}"),
     "step a: depends_on must be an array of non-empty strings"},
    {ST(RUN("b") ", {\"id\": \"a\", \"run\": \"r\", \"depends_on\": [\"b\", null]}"),
     "step a: depends_on[1] must be a non-empty string"},
    {ST(RUN("step-01") ", {\"id\": \"step-02\", \"run\": \"r\", \"depends_on\": [\"step-9\"]}"),
     "step step-02 depends on unknown step \"step-9\""},
    {ST("{\"id\": \"a\", \"run\": \"r\", \"depends_on\": [\"x\\ny\\u001b\"]}"),
     "step a depends on unknown step \"x?y?\""},
    {ST("{\"id\": \"step-a\", \"run\": \"r\", \"depends_on\": [\"step-b\"]},"
        "{\"id\": \"step-b\", \"run\": \"r\", \"depends_on\": [\"step-a\"]}"),
     "Step deadlock detected: step-a -> step-b -> step-a"},
};

static void expect_bad(const char *doc, size_t len, const char *want, int want_rc)
{
    struct workstream ws;
    char err[512] = "", full[600];
    int rc = ws_parse(doc, len, "ws.json", &ws, err, sizeof(err));
    snprintf(full, sizeof(full), "ws.json: %s", want);
    if (rc != want_rc || strncmp(err, "ws.json: ", 9) != 0 || !strstr(err, want))
        print_error("document: %s\nmessage: %s\nwanted: %s\n", doc, err, full);
    assert_int_equal(rc, want_rc);
    assert_true(strncmp(err, "ws.json: ", 9) == 0);
    assert_non_null(strstr(err, want));
    assert_null(strchr(err, '\n'));
    assert_null(ws.steps); /* nothing left to free */
    assert_null(ws.doc);
    assert_null(ws.reach);
    assert_int_equal(ws.nsteps, 0);
}

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_docs) / sizeof(bad_docs[0]); i++)
        expect_bad(bad_docs[i].doc, strlen(bad_docs[i].doc), bad_docs[i].want, -EINVAL);
}

static void test_text_errors(void **state)
{
    (void)state;
    static const char nul[] = "{\"id\": \"w\"\0, \"steps\": []}";
    expect_bad(nul, sizeof(nul) - 1, "contains a NUL byte at byte 11", -EINVAL);
    static const char latin1[] =
        "{\"id\": \"w\", \"steps\": [{\"id\": \"a\", \"run\": \"caf\xe9\"}]}";
    expect_bad(latin1, sizeof(latin1) - 1, "not valid UTF-8 near byte 46", -EINVAL);
    static const char overlong[] = "{\"id\": \"\xc0\xaf\"}";
    expect_bad(overlong, sizeof(overlong) - 1, "not valid UTF-8 near byte 9", -EINVAL);
    /* Only len bytes count: the same text cut short is not JSON... */
    expect_bad(example, 20, "not valid JSON near byte", -EINVAL);
    /* ...and text need not end in a NUL. */
    size_t el = strlen(example);
    char *exact = malloc(el);
    memcpy(exact, example, el);
    struct workstream ws;
    char err[256];
    assert_int_equal(ws_parse(exact, el, "ws.json", &ws, err, sizeof(err)), 0);
    ws_free(&ws);
    expect_bad(exact, el - 3, "not valid JSON near byte", -EINVAL);
    free(exact);

    /* Too large, before any parsing. */
    size_t n = WS_FILE_MAX + 1;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[n] = '\0';
    expect_bad(big, n, "larger than 4194304 bytes", -EFBIG);
    free(big);

    /* Valid UTF-8 in strings is fine. */
    assert_int_equal(parse(ST("{\"id\": \"a\", \"run\": \"echo caf\xc3\xa9 \xf0\x9f\x98\x80\"}"),
                           &ws, err, sizeof(err)),
                     0);
    ws_free(&ws);
}

/* --- cycles -------------------------------------------------------------- */

static void expect_cycle(const char *steps, const char *want)
{
    struct workstream ws;
    char err[512] = "";
    char *d = doc_of(steps);
    assert_int_equal(parse(d, &ws, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, want);
    assert_null(ws.steps);
    free(d);
}

static void test_cycles(void **state)
{
    (void)state;
    /* Entered at b from "entry"; printed from a, the member first in the file. */
    expect_cycle("{\"id\": \"entry\", \"run\": \"r\", \"depends_on\": [\"b\"]},"
                 "{\"id\": \"a\", \"run\": \"r\", \"depends_on\": [\"c\"]},"
                 "{\"id\": \"b\", \"run\": \"r\", \"depends_on\": [\"a\"]},"
                 "{\"id\": \"c\", \"run\": \"r\", \"depends_on\": [\"b\"]}",
                 "ws.json: Step deadlock detected: a -> c -> b -> a");
    expect_cycle("{\"id\": \"step-a\", \"run\": \"r\", \"depends_on\": [\"step-a\"]}",
                 "ws.json: Step deadlock detected: step-a -> step-a");
    /* A self-dependency behind a good edge. */
    expect_cycle(RUN("x") ", {\"id\": \"y\", \"run\": \"r\", \"depends_on\": [\"x\", \"y\"]}",
                 "ws.json: Step deadlock detected: y -> y");
    /* Two cycles: the one the file-order scan meets first, through s, although
     * q1 comes before p in the file. */
    expect_cycle("{\"id\": \"s\", \"run\": \"r\", \"depends_on\": [\"p\"]},"
                 "{\"id\": \"q1\", \"run\": \"r\", \"depends_on\": [\"q2\"]},"
                 "{\"id\": \"p\", \"run\": \"r\", \"depends_on\": [\"p2\"]},"
                 "{\"id\": \"q2\", \"run\": \"r\", \"depends_on\": [\"q1\"]},"
                 "{\"id\": \"p2\", \"run\": \"r\", \"depends_on\": [\"p\"]}",
                 "ws.json: Step deadlock detected: p -> p2 -> p");
    expect_cycle("{\"id\": \"q1\", \"run\": \"r\", \"depends_on\": [\"q2\"]},"
                 "{\"id\": \"p\", \"run\": \"r\", \"depends_on\": [\"p2\"]},"
                 "{\"id\": \"q2\", \"run\": \"r\", \"depends_on\": [\"q1\"]},"
                 "{\"id\": \"p2\", \"run\": \"r\", \"depends_on\": [\"p\"]}",
                 "ws.json: Step deadlock detected: q1 -> q2 -> q1");
    /* Past an acyclic branch (ok); entered at m1, printed from m3. */
    expect_cycle("{\"id\": \"top\", \"run\": \"r\", \"depends_on\": [\"ok\", \"m1\"]},"
                 "{\"id\": \"ok\", \"run\": \"r\"},"
                 "{\"id\": \"m3\", \"run\": \"r\", \"depends_on\": [\"m1\"]},"
                 "{\"id\": \"m1\", \"run\": \"r\", \"depends_on\": [\"m2\"]},"
                 "{\"id\": \"m2\", \"run\": \"r\", \"depends_on\": [\"m3\"]}",
                 "ws.json: Step deadlock detected: m3 -> m1 -> m2 -> m3");
}

/* --- the graph ------------------------------------------------------------ */

static void test_duplicate_dependency_counts_once(void **state)
{
    (void)state;
    struct workstream ws;
    load_ok(RUN("a") ", " RUN("b") ", {\"id\": \"c\", \"run\": \"r\", "
                                   "\"depends_on\": [\"b\", \"a\", \"b\", \"a\"]}",
            &ws);
    assert_int_equal(ws.steps[2].ndeps, 2);
    assert_int_equal(ws.steps[2].deps[0], 1); /* first-listed order */
    assert_int_equal(ws.steps[2].deps[1], 0);
    expect_sha(&ws, 2);
    ws_free(&ws);
}

static void test_depends_and_waves(void **state)
{
    (void)state;
    /* Diamond a <- b, a <- c, {b, c} <- d, plus d <- e and a lone f; listed out of order. */
    struct workstream ws;
    load_ok("{\"id\": \"e\", \"run\": \"r\", \"depends_on\": [\"d\"]},"
            "{\"id\": \"d\", \"run\": \"r\", \"depends_on\": [\"b\", \"c\"]},"
            "{\"id\": \"b\", \"run\": \"r\", \"depends_on\": [\"a\"]},"
            "{\"id\": \"c\", \"run\": \"r\", \"depends_on\": [\"a\"]}," RUN("a") "," RUN("f"),
            &ws);
    enum { E, D, B, C, A, F };
    assert_int_equal(ws.steps[A].wave, 0);
    assert_int_equal(ws.steps[B].wave, 1);
    assert_int_equal(ws.steps[C].wave, 1);
    assert_int_equal(ws.steps[D].wave, 2);
    assert_int_equal(ws.steps[E].wave, 3);
    assert_int_equal(ws.steps[F].wave, 0);
    assert_int_equal(ws.nwaves, 4);
    assert_true(ws_depends(&ws, E, A)); /* through d and b (or c) */
    assert_true(ws_depends(&ws, E, B));
    assert_true(ws_depends(&ws, D, A));
    assert_false(ws_depends(&ws, A, E));
    assert_false(ws_depends(&ws, B, C));
    assert_false(ws_depends(&ws, C, B));
    assert_false(ws_depends(&ws, E, F));
    assert_false(ws_depends(&ws, A, A));
    assert_false(ws_depends(&ws, A, 99)); /* out of range */
    for (size_t i = 0; i < ws.nsteps; i++)
        expect_sha(&ws, i);
    ws_free(&ws);
}

/* --- size ----------------------------------------------------------------- */

/* n steps, step i depending on step i-1; all list the same two files. */
static char *chain_doc(size_t n, size_t *len)
{
    char *buf;
    FILE *f = big_doc(&buf, len);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s{\"id\": \"s%zu\", \"run\": \"make %zu\", \"files\": [\"src/\", \"src/x.c\"]",
                i ? "," : "", i, i);
        if (i)
            fprintf(f, ", \"depends_on\": [\"s%zu\"]", i - 1);
        fputs("}", f);
    }
    big_end(f);
    return buf;
}

static void test_big_chain(void **state)
{
    (void)state;
    size_t len;
    char *d = chain_doc(2000, &len), err[512];
    struct workstream ws;
    assert_int_equal(ws_parse(d, len, "big.json", &ws, err, sizeof(err)), 0);
    /* Every pair of the 4000 entries overlaps; every pair is ordered. */
    assert_int_equal(ws_check_files(&ws, "big.json", err, sizeof(err)), 0);
    assert_int_equal(ws.nwaves, 2000);
    assert_int_equal(ws.steps[1999].wave, 1999);
    assert_true(ws_depends(&ws, 1999, 0));
    assert_true(ws_depends(&ws, 1000, 999));
    assert_false(ws_depends(&ws, 999, 1000));
    ws_free(&ws);
    free(d);
}

static void test_step_limit(void **state)
{
    (void)state;
    size_t len;
    char err[512];
    struct workstream ws;
    char *d = chain_doc(WS_MAX_STEPS, &len);
    assert_int_equal(ws_parse(d, len, "max.json", &ws, err, sizeof(err)), 0);
    assert_int_equal(ws.nwaves, WS_MAX_STEPS);
    assert_true(ws_depends(&ws, WS_MAX_STEPS - 1, 0));
    ws_free(&ws);
    free(d);

    d = chain_doc(WS_MAX_STEPS + 1, &len);
    expect_bad(d, len, "steps lists 10001 steps, more than 10000", -EINVAL);
    free(d);
}

/* --- files on disk ------------------------------------------------------- */

static void test_load(void **state)
{
    (void)state;
    char dir[64], path[128], err[512];
    struct workstream ws;
    assert_int_equal(test_tmpdir(dir, sizeof(dir), "test_ws"), 0);

    snprintf(path, sizeof(path), "%s/ws.json", dir);
    assert_int_equal(util_write_file_atomic(path, example, strlen(example)), 0);
    assert_int_equal(ws_load(path, &ws, err, sizeof(err)), 0);
    assert_string_equal(ws.id, "ws-utils");
    assert_int_equal(ws.nsteps, 2);
    ws_free(&ws);

    /* Messages carry the path as given. */
    const char *bad = "{\"id\": \"w\", \"steps\": []}";
    assert_int_equal(util_write_file_atomic(path, bad, strlen(bad)), 0);
    assert_int_equal(ws_load(path, &ws, err, sizeof(err)), -EINVAL);
    char want[256];
    snprintf(want, sizeof(want), "%s: steps must list at least one step", path);
    assert_string_equal(err, want);

    snprintf(path, sizeof(path), "%s/missing.json", dir);
    assert_int_equal(ws_load(path, &ws, err, sizeof(err)), -ENOENT);
    snprintf(want, sizeof(want), "%s: could not read: No such file or directory", path);
    assert_string_equal(err, want);
    assert_null(ws.steps);

    assert_int_equal(ws_load(dir, &ws, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want), "%s: not a regular file (a folder)", dir);
    assert_string_equal(err, want);

    snprintf(path, sizeof(path), "%s/big.json", dir);
    size_t n = WS_FILE_MAX + 1;
    char *big = malloc(n);
    memset(big, ' ', n);
    assert_int_equal(util_write_file_atomic(path, big, n), 0);
    free(big);
    assert_int_equal(ws_load(path, &ws, err, sizeof(err)), -EFBIG);
    snprintf(want, sizeof(want), "%s: larger than 4194304 bytes", path);
    assert_string_equal(err, want);
    assert_null(ws.doc);

    assert_int_equal(test_rmtree(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example),
        cmocka_unit_test(test_defaults_and_unknown_keys),
        cmocka_unit_test(test_sha_follows_dependencies),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_text_errors),
        cmocka_unit_test(test_cycles),
        cmocka_unit_test(test_duplicate_dependency_counts_once),
        cmocka_unit_test(test_depends_and_waves),
        cmocka_unit_test(test_big_chain),
        cmocka_unit_test(test_step_limit),
        cmocka_unit_test(test_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
