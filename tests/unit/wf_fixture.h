/*
 * wf_fixture.h - the shared fixture of the workflow tests (test_workflows.c,
 * test_prompts.c): llm_complete and log_printf are replaced at link time
 * (-Wl,--wrap, so each including file carries the LDFLAGS line) by fakes that
 * hand out canned replies queued with will_return() and record every prompt
 * they were sent; a scratch folder with an LLD item that uses the shipped
 * prompts; and run_item, which drives an item the way the worker does.
 * Header-only because the build makes one binary per test file.
 */
#ifndef AGENTOS_TESTS_WF_FIXTURE_H
#define AGENTOS_TESTS_WF_FIXTURE_H

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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "shm/util.h"
#include "runtime/wf.h"
#include "workflows/prompt.h"
#include "workflows/verdict.h"
#include "workflows/workflows.h"

#define ROLE_MARKER "AGENTOS-ROLE: review"
#define MAX_CALLS 32

/* ---- fakes ---------------------------------------------------------------- */

struct call {
    enum llm_role role;
    char node[32];
    char *prompt;
};

static struct call calls[MAX_CALLS];
static int ncalls;
static char logbuf[8192];

int __wrap_llm_complete(struct llm_client *c, enum llm_role role, const char *node,
                        const char *prompt, char **reply, char *err, size_t errlen);
void __wrap_log_printf(struct log_sink *s, const char *fmt, ...);

/*
 * Queue per call: an int (0 or -errno), then a string (the reply on 0, the
 * error text otherwise).
 */
int __wrap_llm_complete(struct llm_client *c, enum llm_role role, const char *node,
                        const char *prompt, char **reply, char *err, size_t errlen)
{
    (void)c;
    assert_true(ncalls < MAX_CALLS);
    calls[ncalls].role = role;
    util_strlcpy(calls[ncalls].node, node, sizeof(calls[ncalls].node));
    calls[ncalls].prompt = strdup(prompt);
    ncalls++;
    /* the mock server tells reviews from drafts by this marker: it must be exact */
    if (role == LLM_ROLE_REVIEW)
        assert_non_null(strstr(prompt, ROLE_MARKER));
    else
        assert_null(strstr(prompt, ROLE_MARKER));
    int rc = mock_type(int);
    const char *text = mock_ptr_type(const char *);
    if (rc == 0) {
        *reply = strdup(text);
        return 0;
    }
    util_strlcpy(err, text, errlen);
    return rc;
}

void __wrap_log_printf(struct log_sink *s, const char *fmt, ...)
{
    (void)s;
    size_t used = strlen(logbuf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(logbuf + used, sizeof(logbuf) - used, fmt, ap);
    va_end(ap);
    used = strlen(logbuf);
    if (used + 1 < sizeof(logbuf))
        strcat(logbuf, "\n");
}

static void queue_reply(const char *text)
{
    will_return(__wrap_llm_complete, 0);
    will_return(__wrap_llm_complete, text);
}

/* ---- fixture -------------------------------------------------------------- */

struct fx {
    char dir[64];
    char home[128];
    char input[128];
    char out[128];
    char prompts[4096];
    struct wf_item it;
};

static const char *find_prompts(char *buf, size_t len)
{
    struct stat st;
    if (stat("workflows/prompts/lld_design.md", &st) == 0) {
        util_strlcpy(buf, "workflows/prompts", len);
        return buf;
    }
    /* run from elsewhere: find them next to this source file */
    snprintf(buf, len, "%s", __FILE__);
    char *slash = strrchr(buf, '/');
    if (slash)
        *slash = '\0';
    else
        util_strlcpy(buf, ".", len);
    size_t n = strlen(buf);
    snprintf(buf + n, len - n, "/../../workflows/prompts");
    return buf;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    find_prompts(f->prompts, sizeof(f->prompts));
    char probe[4200];
    snprintf(probe, sizeof(probe), "%s/lld_design.md", f->prompts);
    if (access(probe, R_OK) != 0) {
        fprintf(stderr, "cannot find the shipped prompts at %s: run from the repository root\n",
                f->prompts);
        free(f);
        return -1;
    }
    util_strlcpy(f->dir, "/tmp/agentos-test-wf-XXXXXX", sizeof(f->dir));
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->home, sizeof(f->home), "%s/home", f->dir);
    snprintf(f->input, sizeof(f->input), "%s/42.md", f->dir);
    snprintf(f->out, sizeof(f->out), "%s/done/LLD-42.md", f->dir);
    f->it.wf = &wf_lld;
    f->it.id = "LLD-42";
    f->it.stem = "42";
    f->it.input_path = f->input;
    f->it.out_path = f->out;
    f->it.home = f->home;
    f->it.prompts_dir = f->prompts;
    f->it.max_reviews = 3;
    f->it.state = cJSON_CreateObject();
    ncalls = 0;
    logbuf[0] = '\0';
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    for (int i = 0; i < ncalls; i++)
        free(calls[i].prompt);
    ncalls = 0;
    cJSON_Delete(f->it.state);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    return 0;
}

static void write_text(const char *path, const char *text)
{
    assert_int_equal(util_write_file_atomic(path, text, strlen(text)), 0);
}

static void write_input(struct fx *f, const char *text)
{
    write_text(f->input, text);
    assert_int_equal(util_sha256_hex(text, strlen(text), f->it.source_sha256), 0);
}

/*
 * Run the item like the worker: returns the failing node's rc, or 0 when the
 * item finished. trace gets the node names, space-separated.
 */
static int run_item(struct wf_item *it, char *trace, size_t tracelen)
{
    const struct wf_desc *d = it->wf;
    int node = 0;
    trace[0] = '\0';
    for (int steps = 0; steps < 50; steps++) {
        const struct wf_node *n = &d->nodes[node];
        size_t tl = strlen(trace);
        snprintf(trace + tl, tracelen - tl, "%s%s", tl ? " " : "", n->name);
        it->next = NULL;
        it->reason[0] = '\0';
        int rc = n->run(it);
        if (rc < 0)
            return rc;
        /* checkpoint round trip: only what is in the JSON survives */
        char *json = cJSON_PrintUnformatted(it->state);
        assert_non_null(json);
        cJSON_Delete(it->state);
        it->state = cJSON_Parse(json);
        free(json);
        assert_non_null(it->state);
        if (!it->next)
            return 0;
        node = wf_node_index(d, it->next);
        assert_true(node >= 0);
    }
    fail_msg("item did not finish in 50 nodes");
    return -1;
}

#define SPEC "# Cache layer\n\nAdd an LRU cache in front of the store. SPEC-MARKER-7\n"

#endif /* AGENTOS_TESTS_WF_FIXTURE_H */
