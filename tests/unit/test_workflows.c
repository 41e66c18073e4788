/* LDFLAGS: -Wl,--wrap=llm_complete -Wl,--wrap=log_printf */
/*
 * test_workflows.c - the built-in workflows' nodes and the workflow table,
 * without a real LLM (the fakes and the fixture are in
 * tests/unit/wf_fixture.h; the prompt templates are tested in test_prompts.c).
 *
 * Items are driven the way the worker drives them: from nodes[0], following
 * it->next, and round-tripping it->state through JSON text after every node
 * (as a checkpoint would), so a node that kept state anywhere else would fail
 * here.
 */
#include "tests/unit/wf_fixture.h"

static void queue_error(int rc, const char *msg)
{
    will_return(__wrap_llm_complete, rc);
    will_return(__wrap_llm_complete, msg);
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
        cmocka_unit_test(test_workflow_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
