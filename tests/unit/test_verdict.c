/*
 * test_verdict.c - the reviewer-verdict parser: both forms, case, emphasis,
 * last-one-wins, and everything that must NOT approve.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "workflows/verdict.h"

#define APPROVED VERDICT_APPROVED
#define REVISE VERDICT_REVISE
#define BLOCKED VERDICT_BLOCKED

struct vcase {
    const char *reply;
    enum wf_verdict want;
};

static void check_cases(const struct vcase *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        enum wf_verdict got = verdict_parse(c[i].reply);
        if (got != c[i].want)
            fail_msg("case %zu: %s -> %s, want %s", i, c[i].reply ? c[i].reply : "(null)",
                     verdict_name(got), verdict_name(c[i].want));
    }
}

#define CHECK(cases) check_cases(cases, sizeof(cases) / sizeof(cases[0]))

static void test_plain_lines(void **state)
{
    (void)state;
    static const struct vcase cases[] = {
        {"Looks good.\n\nVERDICT: APPROVED\n", APPROVED},
        {"Needs work.\nVERDICT: REVISE", REVISE},
        {"Spec contradicts itself.\nVERDICT: BLOCKED\n", BLOCKED},
        {"VERDICT: APPROVED", APPROVED},
        {"VERDICT:APPROVED", APPROVED},
        {"VERDICT :  APPROVED  ", APPROVED},
        {"VERDICT: APPROVED\r\n", APPROVED},
        {"VERDICT: APPROVED.", APPROVED},
        {"VERDICT: APPROVED!\n\n\n", APPROVED},
    };
    CHECK(cases);
}

static void test_case_insensitive(void **state)
{
    (void)state;
    static const struct vcase cases[] = {
        {"verdict: approved", APPROVED}, {"Verdict: Approved", APPROVED},
        {"vErDiCt: aPpRoVeD", APPROVED}, {"verdict: blocked", BLOCKED},
        {"Verdict: revise", REVISE},
    };
    CHECK(cases);
}

static void test_emphasis_and_markers(void **state)
{
    (void)state;
    static const struct vcase cases[] = {
        {"**VERDICT: APPROVED**", APPROVED}, {"**VERDICT:** APPROVED", APPROVED},
        {"**Verdict**: Approved", APPROVED}, {"VERDICT: **APPROVED**", APPROVED},
        {"__VERDICT: APPROVED__", APPROVED}, {"`VERDICT: APPROVED`", APPROVED},
        {"   VERDICT: APPROVED", APPROVED},  {"\tVERDICT: BLOCKED", BLOCKED},
        {"## Verdict: APPROVED", APPROVED},  {"> VERDICT: APPROVED", APPROVED},
        {"- VERDICT: APPROVED", APPROVED},   {"* **VERDICT:** *APPROVED*", APPROVED},
    };
    CHECK(cases);
}

static void test_last_one_wins(void **state)
{
    (void)state;
    static const struct vcase cases[] = {
        {"VERDICT: REVISE\nafter thought...\nVERDICT: APPROVED\n", APPROVED},
        {"VERDICT: APPROVED\nOn reflection, no.\nVERDICT: REVISE\n", REVISE},
        {"VERDICT: APPROVED\nVERDICT: BLOCKED", BLOCKED},
        {"VERDICT: BLOCKED\nVERDICT: APPROVED", APPROVED},
        /* the two forms combine: the last verdict line of either form decides */
        {"- [x] **APPROVED**\n\nVERDICT: REVISE\n", REVISE},
        {"VERDICT: REVISE\n- [x] **APPROVED**\n", APPROVED},
        /* a later unclear verdict line withdraws an earlier approval */
        {"VERDICT: APPROVED\nVERDICT: APPROVED with changes\n", REVISE},
        /* text after the last verdict line that bears no verdict does not matter */
        {"VERDICT: APPROVED\n\nThanks, nice work.\n", APPROVED},
        {"VERDICT: APPROVED\n- [x] Tests pass\n- [ ] **REVISE**\n", APPROVED},
    };
    CHECK(cases);
}

static void test_checkbox_form(void **state)
{
    (void)state;
    static const struct vcase cases[] = {
        {"- [x] **APPROVED**", APPROVED},
        {"- [X] **APPROVED**", APPROVED},
        {"[x] **APPROVED**", APPROVED},
        {"[x] APPROVED", APPROVED},
        {"* [x] approved", APPROVED},
        {"- [x] **REVISE**", REVISE},
        {"- [x] **DISCUSS**", REVISE},
        {"- [x] **BLOCKED**", BLOCKED},
        {"- [x] **APPROVED** - Ready for implementation", APPROVED},
        {"- [x] **APPROVED**: ready", APPROVED},
        {"- [x] **APPROVED** (ready)", APPROVED},
        {"- [x] **APPROVED** \xe2\x80\x94 ready", APPROVED},
        {"## Verdict\n"
         "- [x] **APPROVED** - Ready for implementation\n"
         "- [ ] **REVISE** - Needs changes\n"
         "- [ ] **DISCUSS** - Needs a decision\n",
         APPROVED},
        {"## Verdict\n"
         "- [ ] **APPROVED** - Ready for implementation\n"
         "- [x] **REVISE** - Needs changes\n"
         "- [ ] **DISCUSS** - Needs a decision\n",
         REVISE},
        {"- [ ] **APPROVED**\n- [ ] **REVISE**\n- [x] **DISCUSS**\n", REVISE},
    };
    CHECK(cases);
}

static void test_unchecked_and_checklists_do_not_count(void **state)
{
    (void)state;
    static const struct vcase cases[] = {
        {"- [ ] **APPROVED**", REVISE},
        {"[ ] APPROVED", REVISE},
        {"[] APPROVED", REVISE},
        {"- [x] Tests pass\n- [x] Docs updated\n", REVISE},
        {"VERDICT: APPROVED\n- [x] **Security** reviewed\n", APPROVED},
        {"[y] APPROVED", REVISE},
    };
    CHECK(cases);
}

static void test_unclear_is_revise(void **state)
{
    (void)state;
    static const struct vcase cases[] = {
        {NULL, REVISE},
        {"", REVISE},
        {"\n\n\n", REVISE},
        {"This design is approved.", REVISE},
        {"APPROVED", REVISE},
        {"I would say APPROVED", REVISE},
        {"VERDICT: APPROVED with changes", REVISE},
        {"VERDICT: APPROVED (with minor nits)", REVISE},
        {"VERDICT: APPROVED if the tests are added", REVISE},
        {"VERDICT: APPROVEDISH", REVISE},
        {"VERDICT: see above", REVISE},
        {"VERDICT:", REVISE},
        {"VERDICT: APPROVED/REVISE/BLOCKED", REVISE},
        {"VERDICT APPROVED", REVISE},
        {"The final verdict: APPROVED", REVISE},
        {"VERDICT: \xe2\x9c\x85 APPROVED", REVISE},
        {"- [x] **APPROVED with changes**", REVISE},
        {"- [x] **APPROVED** with changes", REVISE},
        {"- [x] Approved by nobody", REVISE},
        {"VERDICT: NOT APPROVED", REVISE},
        {"VERDICT: DISCUSS", REVISE},
    };
    CHECK(cases);
}

static void test_code_fences_not_special(void **state)
{
    (void)state;
    /* models sometimes wrap the whole answer in a fence: it must still count */
    static const struct vcase cases[] = {
        {"```markdown\nFine.\nVERDICT: APPROVED\n```\n", APPROVED},
        {"```\nVERDICT: REVISE\n```\n", REVISE},
    };
    CHECK(cases);
}

static void test_no_trailing_newline_and_long_lines(void **state)
{
    (void)state;
    char big[8192];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(verdict_parse(big), REVISE);
    static char reply[9000];
    snprintf(reply, sizeof(reply), "%s\nVERDICT: APPROVED", big);
    assert_int_equal(verdict_parse(reply), APPROVED);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(verdict_name(VERDICT_APPROVED), "APPROVED");
    assert_string_equal(verdict_name(VERDICT_REVISE), "REVISE");
    assert_string_equal(verdict_name(VERDICT_BLOCKED), "BLOCKED");
    assert_string_equal(verdict_name((enum wf_verdict)42), "REVISE");
    assert_int_equal(verdict_from_name("APPROVED"), VERDICT_APPROVED);
    assert_int_equal(verdict_from_name("approved"), VERDICT_APPROVED);
    assert_int_equal(verdict_from_name("BLOCKED"), VERDICT_BLOCKED);
    assert_int_equal(verdict_from_name("REVISE"), VERDICT_REVISE);
    assert_int_equal(verdict_from_name("bogus"), VERDICT_REVISE);
    assert_int_equal(verdict_from_name(NULL), VERDICT_REVISE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_lines),
        cmocka_unit_test(test_case_insensitive),
        cmocka_unit_test(test_emphasis_and_markers),
        cmocka_unit_test(test_last_one_wins),
        cmocka_unit_test(test_checkbox_form),
        cmocka_unit_test(test_unchecked_and_checklists_do_not_count),
        cmocka_unit_test(test_unclear_is_revise),
        cmocka_unit_test(test_code_fences_not_special),
        cmocka_unit_test(test_no_trailing_newline_and_long_lines),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
