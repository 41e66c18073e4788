/* LDFLAGS: -Wl,--wrap=llm_complete -Wl,--wrap=log_printf */
/*
 * test_prompts.c - the workflows' prompt templates: a user's override in
 * <home>/prompts wins over the shipped one, a missing template fails the node
 * by name, the shipped templates render with every variable (and the review
 * ones with the exact role marker), the {{var}} substitution rules, and
 * prompt_render's errors. Uses the fakes and the fixture of
 * tests/unit/wf_fixture.h.
 */
#include "tests/unit/wf_fixture.h"

/* ---- overrides and missing templates -------------------------------------- */

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

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_prompt_override_wins), T(test_missing_template), T(test_shipped_templates),
        T(test_substitute_rules),     T(test_render_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
