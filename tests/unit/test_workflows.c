/* LDFLAGS: -Wl,--wrap=llm_complete -Wl,--wrap=log_printf */
/*
 * test_workflows.c - the built-in workflows' nodes, prompt rendering and the
 * workflow table, without a real LLM: llm_complete and log_printf are
 * replaced at link time (-Wl,--wrap) by fakes that hand out canned replies
 * queued with will_return() and record every prompt they were sent.
 *
 * Items are driven the way the worker drives them: from nodes[0], following
 * it->next, and round-tripping it->state through JSON text after every node
 * (as a checkpoint would), so a node that kept state anywhere else would fail
 * here.
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

static void queue_error(int rc, const char *msg)
{
    will_return(__wrap_llm_complete, rc);
    will_return(__wrap_llm_complete, msg);
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

static char *read_text(const char *path)
{
    char *buf = NULL;
    assert_int_equal(util_read_file(path, 1 << 20, &buf, NULL), 0);
    return buf;
}

static int count_node(const char *node)
{
    int n = 0;
    for (int i = 0; i < ncalls; i++)
        n += strcmp(calls[i].node, node) == 0;
    return n;
}

#define SPEC "# Cache layer\n\nAdd an LRU cache in front of the store. SPEC-MARKER-7\n"

/* ---- node paths ----------------------------------------------------------- */

static void test_approve_path(void **state)
{
    struct fx *f = *state;
    char trace[256];
    write_input(f, SPEC);
    queue_reply("# Cache layer design\n\nDRAFT-ONE\n");
    queue_reply("Solid design.\n\n**VERDICT: APPROVED**\n");
    assert_int_equal(run_item(&f->it, trace, sizeof(trace)), 0);
    assert_string_equal(trace, "N0_load N1_design N2_review N4_finalize");
    assert_int_equal(f->it.outcome, WF_OUTCOME_APPROVED);
    assert_int_equal(f->it.rounds, 1);
    assert_int_equal(ncalls, 2);
    assert_int_equal(calls[0].role, LLM_ROLE_DRAFT);
    assert_string_equal(calls[0].node, "N1_design");
    assert_non_null(strstr(calls[0].prompt, "SPEC-MARKER-7")); /* the item's full text */
    assert_null(strstr(calls[0].prompt, "{{"));
    assert_int_equal(calls[1].role, LLM_ROLE_REVIEW);
    assert_string_equal(calls[1].node, "N2_review");
    assert_non_null(strstr(calls[1].prompt, "SPEC-MARKER-7"));
    assert_non_null(strstr(calls[1].prompt, "DRAFT-ONE"));
    assert_non_null(strstr(calls[1].prompt, "VERDICT: APPROVED"));
    assert_non_null(strstr(logbuf, "Review round 1: APPROVED"));

    char *res = read_text(f->out);
    char head[512];
    snprintf(
        head, sizeof(head),
        "---\nstatus: approved\nrounds: 1\nsource_sha256: %s\nworkflow: lld\nitem: LLD-42\n---\n",
        f->it.source_sha256);
    assert_true(strncmp(res, head, strlen(head)) == 0);
    assert_non_null(strstr(res, "DRAFT-ONE"));
    assert_null(strstr(res, "## Last review"));
    free(res);
}

/*
 * The spec is edited between discovery (which hashed version A) and the load
 * node (which reads version B): the result carries B's text and must carry
 * B's hash, or the next run finds it out of date and redoes the item.
 */
static void test_edit_after_discovery(void **state)
{
    struct fx *f = *state;
    char trace[256], sha_a[65], sha_b[65];
    static const char b[] = "# Cache layer, version B\n\nEDITED-MARKER\n";
    write_input(f, SPEC); /* discovery: A's hash in it.source_sha256 */
    util_strlcpy(sha_a, f->it.source_sha256, sizeof(sha_a));
    write_text(f->input, b); /* edited before the load node runs */
    util_sha256_hex(b, strlen(b), sha_b);
    queue_reply("# Design\n\nDRAFT\n");
    queue_reply("VERDICT: APPROVED\n");
    assert_int_equal(run_item(&f->it, trace, sizeof(trace)), 0);
    assert_non_null(strstr(calls[0].prompt, "EDITED-MARKER")); /* B's text was used */
    assert_string_equal(f->it.source_sha256, sha_b);
    char *res = read_text(f->out), want[128];
    snprintf(want, sizeof(want), "\nsource_sha256: %s\n", sha_b);
    assert_non_null(strstr(res, want));
    assert_null(strstr(res, sha_a));
    free(res);
}

static void test_revise_until_out_of_rounds(void **state)
{
    struct fx *f = *state;
    char trace[256];
    write_input(f, SPEC);
    queue_reply("# D\nDRAFT-V1\n");
    queue_reply("Missing eviction policy.\nVERDICT: REVISE\n");
    queue_reply("# D\nDRAFT-V2\n");
    queue_reply("Still vague.\n- [x] **REVISE**\n");
    queue_reply("# D\nDRAFT-V3\n");
    queue_reply("No.\nREVIEW-THREE\nVERDICT: REVISE\n");
    assert_int_equal(run_item(&f->it, trace, sizeof(trace)), 0);
    assert_string_equal(trace, "N0_load N1_design N2_review N3_revise N2_review N3_revise "
                               "N2_review N4_finalize");
    assert_int_equal(f->it.outcome, WF_OUTCOME_NEEDS_REVISION);
    assert_int_equal(f->it.rounds, 3);
    assert_int_equal(count_node("N3_revise"), 2);
    assert_int_equal(count_node("N2_review"), 3);
    /* revise carries the spec, the previous draft and the review */
    assert_string_equal(calls[2].node, "N3_revise");
    assert_int_equal(calls[2].role, LLM_ROLE_DRAFT);
    assert_non_null(strstr(calls[2].prompt, "SPEC-MARKER-7"));
    assert_non_null(strstr(calls[2].prompt, "DRAFT-V1"));
    assert_non_null(strstr(calls[2].prompt, "Missing eviction policy."));
    /* the next review sees the revised draft, not the first one */
    assert_non_null(strstr(calls[3].prompt, "DRAFT-V2"));
    assert_null(strstr(calls[3].prompt, "DRAFT-V1"));
    assert_non_null(strstr(logbuf, "Review round 3: REVISE"));

    char *res = read_text(f->out);
    assert_true(strncmp(res, "---\nstatus: needs-revision\nrounds: 3\n", 37) == 0);
    assert_non_null(strstr(res, "DRAFT-V3"));
    assert_null(strstr(res, "DRAFT-V2"));
    const char *lr = strstr(res, "## Last review"), *rv = strstr(res, "REVIEW-THREE");
    assert_non_null(lr);
    assert_non_null(rv);
    assert_true(rv > lr);
    free(res);
}

static void test_issue_revise_then_approve(void **state)
{
    struct fx *f = *state;
    char trace[256];
    snprintf(f->out, sizeof(f->out), "%s/issues/done/ISSUE-7.md", f->dir);
    f->it.wf = wf_find("issue");
    f->it.id = "ISSUE-7";
    f->it.max_reviews = 5;
    write_input(f, "\n\n# Login fails\nUsers on SSO cannot log in.\n");
    queue_reply("# Login fails\nBRIEF-1\n");
    queue_reply("VERDICT: APPROVED\nActually, acceptance criteria are missing.\nVERDICT: REVISE\n");
    queue_reply("# Login fails\nBRIEF-2\n");
    queue_reply("- [ ] **REVISE**\n- [x] **APPROVED** - ready\n");
    assert_int_equal(run_item(&f->it, trace, sizeof(trace)), 0);
    assert_string_equal(trace, "N0_load N1_draft N2_review N3_revise N2_review N4_finalize");
    assert_string_equal(calls[0].node, "N1_draft");
    assert_int_equal(f->it.outcome, WF_OUTCOME_APPROVED);
    assert_int_equal(f->it.rounds, 2);
    char *res = read_text(f->out);
    assert_non_null(strstr(res, "status: approved\nrounds: 2\n"));
    assert_non_null(strstr(res, "workflow: issue\nitem: ISSUE-7\n"));
    assert_non_null(strstr(res, "BRIEF-2"));
    free(res);
}

static void test_blocked_with_one_round(void **state)
{
    struct fx *f = *state;
    char trace[256];
    f->it.max_reviews = 1;
    write_input(f, SPEC);
    queue_reply("# D\nDRAFT\n");
    queue_reply("The spec contradicts itself.\nVERDICT: BLOCKED\n");
    assert_int_equal(run_item(&f->it, trace, sizeof(trace)), 0);
    assert_string_equal(trace, "N0_load N1_design N2_review N4_finalize");
    assert_int_equal(f->it.outcome, WF_OUTCOME_NEEDS_REVISION);
    assert_int_equal(f->it.rounds, 1);
    assert_non_null(strstr(logbuf, "Review round 1: BLOCKED"));
}

static void test_no_verdict_is_revise(void **state)
{
    struct fx *f = *state;
    char trace[256];
    f->it.max_reviews = 2;
    write_input(f, SPEC);
    queue_reply("# D\nDRAFT\n");
    queue_reply("I like it.\n");
    queue_reply("# D\nDRAFT2\n");
    queue_reply("");
    assert_int_equal(run_item(&f->it, trace, sizeof(trace)), 0);
    assert_int_equal(f->it.outcome, WF_OUTCOME_NEEDS_REVISION);
    assert_int_equal(f->it.rounds, 2);
}

static void test_invalid_spec(void **state)
{
    struct fx *f = *state;
    char trace[256];
    static const char *bad[] = {"no heading here\n", "", "\n\n  \n", "#NoSpace\n", "## \xff\xfe\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_input(f, bad[i]);
        assert_int_equal(run_item(&f->it, trace, sizeof(trace)), -EINVAL);
        assert_string_equal(f->it.reason, "Invalid spec format");
        assert_string_equal(trace, "N0_load");
    }
    /* input that vanished after discovery: the reason says so, not "Invalid spec format" */
    unlink(f->input);
    assert_int_equal(run_item(&f->it, trace, sizeof(trace)), -ENOENT);
    assert_non_null(strstr(f->it.reason, f->input));
    assert_non_null(strstr(f->it.reason, "is gone"));
    /* unreadable input (root reads anything: only checked as another user) */
    write_input(f, SPEC);
    chmod(f->input, 0);
    if (geteuid() != 0) {
        assert_int_equal(run_item(&f->it, trace, sizeof(trace)), -EACCES);
        assert_non_null(strstr(f->it.reason, "Permission denied"));
    }
    unlink(f->input);
    /* a folder where the spec was */
    assert_int_equal(mkdir(f->input, 0700), 0);
    assert_int_equal(run_item(&f->it, trace, sizeof(trace)), -EINVAL);
    assert_non_null(strstr(f->it.reason, "is a folder, not a regular file"));
    rmdir(f->input);
    /* over 1 MiB */
    size_t big = 1024 * 1024 + 10;
    char *text = malloc(big + 1);
    assert_non_null(text);
    memset(text, 'a', big);
    memcpy(text, "# Big\n", 6);
    text[big] = '\0';
    write_input(f, text);
    free(text);
    assert_int_equal(run_item(&f->it, trace, sizeof(trace)), -EINVAL);
    assert_string_equal(f->it.reason, "Invalid spec format");
    assert_int_equal(ncalls, 0);
    assert_int_equal(access(f->out, F_OK), -1);
}

static void test_llm_error_reason(void **state)
{
    struct fx *f = *state;
    char trace[256];
    write_input(f, SPEC);
    queue_error(-EIO, "LLM request failed after 5 attempts: HTTP 503");
    assert_int_equal(run_item(&f->it, trace, sizeof(trace)), -EIO);
    assert_string_equal(f->it.reason, "LLM request failed after 5 attempts: HTTP 503");
    assert_null(cJSON_GetObjectItem(f->it.state, "draft"));
    /* an error with no text still gets a reason */
    queue_reply("# D\nDRAFT\n");
    queue_error(-ENOKEY, "");
    assert_int_equal(run_item(&f->it, trace, sizeof(trace)), -ENOKEY);
    assert_non_null(strstr(f->it.reason, "LLM request failed"));
}

static void test_cancel_propagates(void **state)
{
    struct fx *f = *state;
    write_input(f, SPEC);
    assert_int_equal(f->it.wf->nodes[0].run(&f->it), 0);
    util_strlcpy(f->it.reason, "stale", sizeof(f->it.reason));
    queue_error(-ECANCELED, "shutting down");
    assert_int_equal(f->it.wf->nodes[1].run(&f->it), -ECANCELED);
    assert_string_equal(f->it.reason, "");
    assert_null(cJSON_GetObjectItem(f->it.state, "draft"));

    /* cancel during a review: rounds not advanced, so the re-run asks the same round */
    queue_reply("# D\nDRAFT\n");
    assert_int_equal(f->it.wf->nodes[1].run(&f->it), 0);
    queue_error(-ECANCELED, "");
    assert_int_equal(f->it.wf->nodes[2].run(&f->it), -ECANCELED);
    assert_int_equal(cJSON_GetObjectItem(f->it.state, "rounds")->valueint, 0);
    assert_string_equal(f->it.reason, "");
}

static void test_result_write_failure(void **state)
{
    struct fx *f = *state;
    char trace[256], blocker[160];
    snprintf(blocker, sizeof(blocker), "%s/file", f->dir);
    write_text(blocker, "x");
    snprintf(f->out, sizeof(f->out), "%s/file/done/LLD-42.md", f->dir);
    write_input(f, SPEC);
    queue_reply("# D\nDRAFT\n");
    queue_reply("VERDICT: APPROVED");
    assert_true(run_item(&f->it, trace, sizeof(trace)) < 0);
    assert_true(strncmp(f->it.reason, "could not ", 10) == 0);
    assert_non_null(strstr(f->it.reason, f->out));
}

static void test_resume_needs_state(void **state)
{
    struct fx *f = *state;
    /* a checkpoint whose state lacks what the node needs fails cleanly */
    assert_int_equal(f->it.wf->nodes[4].run(&f->it), -EINVAL);
    assert_non_null(strstr(f->it.reason, "draft"));
    assert_int_equal(f->it.wf->nodes[2].run(&f->it), -EINVAL);
    assert_non_null(strstr(f->it.reason, "spec"));
}

static void test_forged_rounds_refused(void **state)
{
    struct fx *f = *state;
    /* rounds comes from a checkpoint file: a forged count must not defeat --max-reviews */
    const double bad[] = {-20, 2147483647.0, 1e300, 1.5};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cJSON_Delete(f->it.state);
        f->it.state = cJSON_CreateObject();
        cJSON_AddStringToObject(f->it.state, "spec", "# T\n");
        cJSON_AddStringToObject(f->it.state, "draft", "# D\n");
        cJSON_AddStringToObject(f->it.state, "review", "VERDICT: REVISE\n");
        cJSON_AddNumberToObject(f->it.state, "rounds", bad[i]);
        f->it.reason[0] = '\0';
        assert_int_equal(f->it.wf->nodes[2].run(&f->it), -EBADMSG); /* review */
        assert_non_null(strstr(f->it.reason, "rounds"));
        assert_int_equal(f->it.wf->nodes[3].run(&f->it), -EBADMSG); /* revise */
        assert_int_equal(f->it.wf->nodes[4].run(&f->it), -EBADMSG); /* finalize */
    }
}

static void test_prompt_override_wins(void **state)
{
    struct fx *f = *state;
    char trace[256], dir[200], path[260];
    snprintf(dir, sizeof(dir), "%s/prompts", f->home);
    assert_int_equal(util_mkdir_p(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/lld_design.md", dir);
    write_text(path, "OVERRIDE for {{id}}: {{spec}} {{unknown}}");
    write_input(f, SPEC);
    queue_reply("# D\nDRAFT\n");
    queue_reply("VERDICT: APPROVED");
    assert_int_equal(run_item(&f->it, trace, sizeof(trace)), 0);
    assert_true(strncmp(calls[0].prompt, "OVERRIDE for LLD-42: # Cache layer", 34) == 0);
    assert_non_null(strstr(calls[0].prompt, "{{unknown}}"));
    /* the review prompt still comes from the built-in folder */
    assert_non_null(strstr(calls[1].prompt, ROLE_MARKER));
}

static void test_missing_template(void **state)
{
    struct fx *f = *state;
    char trace[256];
    f->it.prompts_dir = f->dir; /* no templates there */
    write_input(f, SPEC);
    assert_int_equal(run_item(&f->it, trace, sizeof(trace)), -ENOENT);
    assert_non_null(strstr(f->it.reason, "lld_design.md"));
    assert_non_null(strstr(f->it.reason, f->dir));
    assert_int_equal(ncalls, 0);
}

/* ---- templates and rendering ---------------------------------------------- */

/* 1 if text has line as a whole line */
static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = strstr(text, line); p; p = strstr(p + 1, line))
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}

static void test_shipped_templates(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *name;
        int review;
    } t[] = {
        {"lld_design.md", 0},  {"lld_review.md", 1},   {"lld_revise.md", 0},
        {"issue_draft.md", 0}, {"issue_review.md", 1}, {"issue_revise.md", 0},
    };
    const char *vars[] = {"id",       "X-1",   "workflow",    "lld",    "spec",
                          "SPECTEXT", "draft", "DRAFTTEXT",   "review", "REVIEWTEXT",
                          "round",    "2",     "max_reviews", "3",      NULL};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char *out = NULL, err[256] = "";
        assert_int_equal(prompt_render(NULL, f->prompts, t[i].name, vars, &out, err, sizeof(err)),
                         0);
        if (t[i].review) {
            assert_true(has_line(out, ROLE_MARKER));
            assert_non_null(strstr(out, "VERDICT: APPROVED"));
            assert_non_null(strstr(out, "VERDICT: REVISE"));
            assert_non_null(strstr(out, "VERDICT: BLOCKED"));
            assert_non_null(strstr(out, "DRAFTTEXT"));
        } else {
            assert_null(strstr(out, "AGENTOS-ROLE"));
        }
        assert_non_null(strstr(out, "SPECTEXT"));
        if (strstr(t[i].name, "revise")) {
            assert_non_null(strstr(out, "DRAFTTEXT"));
            assert_non_null(strstr(out, "REVIEWTEXT"));
        }
        assert_null(strstr(out, "{{"));
        free(out);
    }
}

static void test_substitute_rules(void **state)
{
    (void)state;
    const char *vars[] = {"spec", "S {{draft}}", "draft", "D", "empty", "", NULL};
    char *out = NULL;
    assert_int_equal(prompt_substitute("a {{spec}} b {{draft}} c", vars, &out), 0);
    assert_string_equal(out, "a S {{draft}} b D c"); /* values are not re-scanned */
    free(out);
    assert_int_equal(prompt_substitute("{{ draft }}|{{nope}}|{{}}|{{draft|{{{draft}}}", vars, &out),
                     0);
    assert_string_equal(out, "D|{{nope}}|{{}}|{{draft|{D}");
    free(out);
    assert_int_equal(prompt_substitute("[{{empty}}]", vars, &out), 0);
    assert_string_equal(out, "[]");
    free(out);
    assert_int_equal(prompt_substitute("", vars, &out), 0);
    assert_string_equal(out, "");
    free(out);
    assert_int_equal(prompt_substitute("x {{spec}}", NULL, &out), 0);
    assert_string_equal(out, "x {{spec}}");
    free(out);
    const char *odd[] = {"k", NULL}; /* a key without a value is ignored */
    assert_int_equal(prompt_substitute("{{k}}", odd, &out), 0);
    assert_string_equal(out, "{{k}}");
    free(out);
}

static void test_render_errors(void **state)
{
    struct fx *f = *state;
    char *out = NULL, err[256] = "", path[200];
    assert_int_equal(prompt_render(f->home, f->dir, "nope.md", NULL, &out, err, sizeof(err)),
                     -ENOENT);
    snprintf(path, sizeof(path), "%s/nope.md", f->dir);
    assert_non_null(strstr(err, path));
    assert_int_equal(prompt_render(NULL, NULL, "x.md", NULL, &out, err, sizeof(err)), -ENOENT);
    assert_int_equal(prompt_render(NULL, f->dir, "../x.md", NULL, &out, err, sizeof(err)), -EINVAL);
    assert_int_equal(prompt_render(NULL, f->dir, "", NULL, &out, err, sizeof(err)), -EINVAL);
    assert_int_equal(prompt_render(NULL, f->dir, NULL, NULL, &out, err, sizeof(err)), -EINVAL);

    /* too big */
    size_t n = PROMPT_TEMPLATE_MAX + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, 'x', n);
    snprintf(path, sizeof(path), "%s/big.md", f->dir);
    assert_int_equal(util_write_file_atomic(path, big, n), 0);
    free(big);
    assert_int_equal(prompt_render(NULL, f->dir, "big.md", NULL, &out, err, sizeof(err)), -EFBIG);
    assert_non_null(strstr(err, "big.md"));

    /* an override that exists but is unusable is reported, not skipped */
    snprintf(path, sizeof(path), "%s/prompts/ok.md", f->home);
    assert_int_equal(util_mkdir_p(path, 0700), 0); /* a folder where a file should be */
    snprintf(path, sizeof(path), "%s/ok.md", f->dir);
    write_text(path, "fine");
    assert_int_equal(prompt_render(f->home, f->dir, "ok.md", NULL, &out, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "prompts/ok.md"));
    assert_int_equal(prompt_render(NULL, f->dir, "ok.md", NULL, &out, err, sizeof(err)), 0);
    assert_string_equal(out, "fine");
    free(out);
}

/* ---- the table ------------------------------------------------------------ */

static void test_workflow_table(void **state)
{
    (void)state;
    assert_ptr_equal(wf_find("lld"), &wf_lld);
    assert_ptr_equal(wf_find("issue"), &wf_issue);
    assert_null(wf_find("LLD"));
    assert_null(wf_find("nope"));
    assert_null(wf_find(NULL));
    assert_string_equal(wf_lld.id_prefix, "LLD");
    assert_string_equal(wf_lld.items_dir, "lld/pending");
    assert_string_equal(wf_lld.out_dir, "lld/done");
    assert_string_equal(wf_issue.id_prefix, "ISSUE");
    assert_string_equal(wf_issue.items_dir, "issues/pending");
    assert_string_equal(wf_issue.out_dir, "issues/done");
    static const char *lld[] = {"N0_load", "N1_design", "N2_review", "N3_revise", "N4_finalize"};
    static const char *issue[] = {"N0_load", "N1_draft", "N2_review", "N3_revise", "N4_finalize"};
    assert_int_equal(wf_lld.node_count, 5);
    assert_int_equal(wf_issue.node_count, 5);
    for (int i = 0; i < 5; i++) {
        assert_string_equal(wf_lld.nodes[i].name, lld[i]);
        assert_string_equal(wf_issue.nodes[i].name, issue[i]);
        assert_non_null(wf_lld.nodes[i].run);
        assert_non_null(wf_issue.nodes[i].run);
    }
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_approve_path),
        T(test_edit_after_discovery),
        T(test_revise_until_out_of_rounds),
        T(test_issue_revise_then_approve),
        T(test_blocked_with_one_round),
        T(test_no_verdict_is_revise),
        T(test_invalid_spec),
        T(test_llm_error_reason),
        T(test_cancel_propagates),
        T(test_result_write_failure),
        T(test_resume_needs_state),
        T(test_forged_rounds_refused),
        T(test_prompt_override_wins),
        T(test_missing_template),
        T(test_shipped_templates),
        T(test_substitute_rules),
        T(test_render_errors),
        cmocka_unit_test(test_workflow_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
