/*
 * ws_fixture.h - the shared fixture of the workstream tests (test_ws.c,
 * test_ws_graph.c): the SPEC example, parsing a document or a steps array
 * that must load, and building large documents in memory with a clock to time
 * them. Header-only because the build makes one binary per test file.
 */
#ifndef AGENTOS_TESTS_WS_FIXTURE_H
#define AGENTOS_TESTS_WS_FIXTURE_H

/* Each test file uses a different subset of the helpers below. */
#pragma GCC diagnostic ignored "-Wunused-function"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shm/util.h"
#include "workflows/workstream/ws.h"

static const char example[] =
    "{\"id\": \"ws-utils\", \"execution\": {\"parallel\": true, \"max_workers\": 3, "
    "\"timeout_per_step\": 300},\n"
    " \"steps\": [\n"
    "   {\"id\": \"step-01\", \"run\": \"make -C a\", \"files\": [\"a/\"], \"depends_on\": [],\n"
    "    \"acceptance_tests\": [\"test -f a/out\"]},\n"
    "   {\"id\": \"step-02\", \"prompt\": \"Write ...\", \"output\": \"b/notes.md\", "
    "\"depends_on\": [\"step-01\"]}\n"
    " ]}\n";

static int parse(const char *text, struct workstream *ws, char *err, size_t errlen)
{
    return ws_parse(text, strlen(text), "ws.json", ws, err, errlen);
}

/* A document with the given steps array body and a fixed top level. */
static char *doc_of(const char *steps)
{
    char *d = util_asprintf("{\"id\": \"t\", \"steps\": [%s]}", steps);
    assert_non_null(d);
    return d;
}

static void load_ok(const char *steps, struct workstream *ws)
{
    char err[512] = "";
    char *d = doc_of(steps);
    int rc = parse(d, ws, err, sizeof(err));
    if (rc)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    free(d);
}

/* A run step with nothing else, for steps arrays. */
#define RUN(id) "{\"id\": \"" id "\", \"run\": \"r\"}"

/* A large document is written to a memory stream between big_doc and big_end. */
static FILE *big_doc(char **buf, size_t *len)
{
    FILE *f = open_memstream(buf, len);
    assert_non_null(f);
    fputs("{\"id\": \"big\", \"steps\": [", f);
    return f;
}

static void big_end(FILE *f)
{
    fputs("]}", f);
    assert_int_equal(fclose(f), 0);
}

#endif
