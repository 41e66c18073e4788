/*
 * test_ws_graph.c - questions about a loaded workstream (ws_graph.c):
 * overlapping files between steps that may run at once, including large fans
 * against the clock, and the graph as DOT.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/ws_fixture.h"

#include "shm/util.h"
#include "workflows/workstream/ws.h"

/* --- files ------------------------------------------------------------- */

/* Load steps and run the files check; returns its rc with the message in err. */
static int files_check(const char *steps, char *err, size_t errlen)
{
    struct workstream ws;
    load_ok(steps, &ws);
    err[0] = '\0';
    int rc = ws_check_files(&ws, "ws.json", err, errlen);
    ws_free(&ws);
    return rc;
}

#define FS(id, files) "{\"id\": \"" id "\", \"run\": \"r\", \"files\": [" files "]}"
#define FSD(id, files, dep)                                                                        \
    "{\"id\": \"" id "\", \"run\": \"r\", \"files\": [" files "], \"depends_on\": [\"" dep "\"]}"

static void expect_overlap(const char *steps, const char *want)
{
    char err[512];
    assert_int_equal(files_check(steps, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, want);
}

static void expect_no_overlap(const char *steps)
{
    char err[512];
    int rc = files_check(steps, err, sizeof(err));
    if (rc)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
}

static void test_files(void **state)
{
    (void)state;
    expect_overlap(
        FS("step-01", "\"a/\"") "," FS("step-02", "\"b\"") "," FS("step-03", "\"a/x.c\""),
        "ws.json: steps step-01 and step-03 may run at once but both list files "
        "under \"a\" (\"a/\" and \"a/x.c\")");
    /* Reported in file order whichever entry is the shorter. */
    expect_overlap(FS("s1", "\"a/x.c\"") "," FS("s2", "\"a\""),
                   "ws.json: steps s1 and s2 may run at once but both list files under \"a\" "
                   "(\"a/x.c\" and \"a\")");
    expect_overlap(FS("s1", "\"src/lib.c\"") "," FS("s2", "\"src/lib.c\""),
                   "ws.json: steps s1 and s2 may run at once but both list files under "
                   "\"src/lib.c\" (\"src/lib.c\" and \"src/lib.c\")");
    /* Along a dependency path, direct or transitive, sharing is fine. */
    expect_no_overlap(FS("a", "\"a/\"") "," FSD("b", "\"a/x.c\"", "a"));
    expect_no_overlap(FS("a", "\"lib\"") "," FSD("b", "\"x\"", "a") "," FSD("c", "\"lib/y\"", "b"));
    expect_no_overlap(FSD("c", "\"lib/y\"", "b") "," FSD("b", "\"x\"", "a") "," FS("a", "\"lib\""));
    /* A step may list overlapping entries itself. */
    expect_no_overlap(FS("a", "\"a\", \"a/b\", \"a\""));
    /* Prefix only at a "/" boundary. */
    expect_no_overlap(
        FS("a", "\"a\"") "," FS("b", "\"ab\"") "," FS("c", "\"a-b/x\"") "," FS("d", "\"a.c\""));
    expect_overlap(
        FS("a", "\"a\"") "," FS("b", "\"ab\"") "," FS("c", "\"a-b/x\"") "," FS("d", "\"a/c\""),
        "ws.json: steps a and d may run at once but both list files under \"a\" "
        "(\"a\" and \"a/c\")");
    /* Normalisation: "./", "//", trailing "/", "." components, "..". */
    expect_overlap(FS("a", "\"./src//lib/\"") "," FS("b", "\"src/lib/x.c\""),
                   "ws.json: steps a and b may run at once but both list files under "
                   "\"src/lib\" (\"./src//lib/\" and \"src/lib/x.c\")");
    expect_overlap(FS("a", "\"src/./x\"") "," FS("b", "\"src/tmp/../x/\""),
                   "ws.json: steps a and b may run at once but both list files under "
                   "\"src/x\" (\"src/./x\" and \"src/tmp/../x/\")");
    expect_no_overlap(FS("a", "\"../x\"") "," FS("b", "\"x\""));
    /* "." and "" are the whole tree. */
    expect_overlap(FS("a", "\"deep/er/file\"") "," FS("b", "\".\""),
                   "ws.json: steps a and b may run at once but both list files under \".\" "
                   "(\"deep/er/file\" and \".\")");
    expect_overlap(FS("a", "\"./\"") "," FS("b", "\"z\""),
                   "ws.json: steps a and b may run at once but both list files under \".\" "
                   "(\"./\" and \"z\")");
    /* Absolute paths compare among themselves. */
    expect_overlap(FS("a", "\"/\"") "," FS("b", "\"/etc/x\""),
                   "ws.json: steps a and b may run at once but both list files under \"/\" "
                   "(\"/\" and \"/etc/x\")");
    expect_no_overlap(FS("a", "\"/a\"") "," FS("b", "\"a\""));
    /* No files at all. */
    expect_no_overlap(RUN("a") "," RUN("b"));
}

static void test_big_fan(void **state)
{
    (void)state;
    char *d, err[512];
    size_t len;
    FILE *f = big_doc(&d, &len);
    fputs("{\"id\": \"root\", \"run\": \"r\", \"files\": [\".\"]}", f);
    for (size_t i = 0; i < 2000; i++)
        fprintf(f,
                ",{\"id\": \"w%zu\", \"run\": \"r\", \"files\": [\"d%zu/\", \"d%zu/x\"], "
                "\"depends_on\": [\"root\"]}",
                i, i, i);
    fputs(",{\"id\": \"sink\", \"run\": \"r\", \"files\": [\"./\"], \"depends_on\": [", f);
    for (size_t i = 0; i < 2000; i++)
        fprintf(f, "%s\"w%zu\"", i ? "," : "", i);
    fputs("]}", f);
    big_end(f);

    struct workstream ws;
    assert_int_equal(ws_parse(d, len, "fan.json", &ws, err, sizeof(err)), 0);
    assert_int_equal(ws_check_files(&ws, "fan.json", err, sizeof(err)), 0);
    assert_int_equal(ws.nsteps, 2002);
    assert_int_equal(ws.nwaves, 3);
    assert_int_equal(ws.steps[2001].ndeps, 2000);
    assert_true(ws_depends(&ws, 2001, 0));
    assert_false(ws_depends(&ws, 1, 2));
    ws_free(&ws);
    free(d);

    /* The same fan where two workers share a file: found. */
    f = big_doc(&d, &len);
    fputs("{\"id\": \"root\", \"run\": \"r\"}", f);
    for (size_t i = 0; i < 2000; i++)
        fprintf(f,
                ",{\"id\": \"w%zu\", \"run\": \"r\", \"files\": [\"d%zu/\", \"d%zu/x\"], "
                "\"depends_on\": [\"root\"]}",
                i, i, i == 1500 ? (size_t)7 : i);
    big_end(f);
    assert_int_equal(ws_parse(d, len, "fan.json", &ws, err, sizeof(err)), 0);
    assert_int_equal(ws_check_files(&ws, "fan.json", err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "fan.json: steps w7 and w1500 may run at once but both list files "
                             "under \"d7\" (\"d7/\" and \"d7/x\")");
    ws_free(&ws);
    free(d);
}

/* --- DOT ----------------------------------------------------------------- */

static char *dot_of(const struct workstream *ws)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    ws_write_dot(ws, f);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void test_dot(void **state)
{
    (void)state;
    struct workstream ws;
    char err[256];
    assert_int_equal(parse(example, &ws, err, sizeof(err)), 0);
    char *dot = dot_of(&ws);
    assert_string_equal(dot,
                        "digraph \"ws-utils\" {\n"
                        "    rankdir=LR;\n"
                        "    \"step-01\" [shape=box, label=\"step-01\\nrun: make -C a\"];\n"
                        "    \"step-02\" [shape=note, label=\"step-02\\nprompt -> b/notes.md\"];\n"
                        "    \"step-01\" -> \"step-02\";\n"
                        "}\n");
    free(dot);
    ws_free(&ws);
}

static void test_dot_escaping(void **state)
{
    (void)state;
    struct workstream ws;
    /* Quotes, backslashes, a newline, a tab; a command longer than 40 characters
     * (the cut counts the 2-byte \u00e9 once); a prompt output with a quote. */
    load_ok("{\"id\": \"q\", \"run\": \"echo \\\"hi\\\" \\\\n\\nls\\tx\"},"
            "{\"id\": \"long\", \"run\": \"\u00e9123456789012345678901234567890123456789-cut\","
            "\"depends_on\": [\"q\"]},"
            "{\"id\": \"p\", \"prompt\": \"x\", \"output\": \"o\\\"d.md\", "
            "\"depends_on\": [\"q\", \"long\"]}",
            &ws);
    char *dot = dot_of(&ws);
    assert_string_equal(dot,
                        "digraph \"t\" {\n"
                        "    rankdir=LR;\n"
                        "    \"q\" [shape=box, label=\"q\\nrun: echo \\\"hi\\\" \\\\n\\nls x\"];\n"
                        "    \"long\" [shape=box, label=\"long\\nrun: "
                        "\u00e9123456789012345678901234567890123456789...\"];\n"
                        "    \"p\" [shape=note, label=\"p\\nprompt -> o\\\"d.md\"];\n"
                        "    \"q\" -> \"long\";\n"
                        "    \"q\" -> \"p\";\n"
                        "    \"long\" -> \"p\";\n"
                        "}\n");
    free(dot);
    ws_free(&ws);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_big_fan),
        cmocka_unit_test(test_dot),
        cmocka_unit_test(test_dot_escaping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
