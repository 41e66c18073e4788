/*
 * test_ws_env.c - unit tests of ${env...} in a workstream's execution block.
 *
 * The environment is a fixed table passed as the lookup callback, so the tests
 * neither read nor change the process environment.
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

#include "workflows/workstream/ws_env.h"

static const char *const fake_env[][2] = {
    {"MAXW", "4"},   {"CI", "true"}, {"EMPTY", ""},
    {"USER", "ada"}, {"_x9", "ok"},  {"NESTED", "${env.MAXW}"},
    {"RATE", "2.5"},
};

static int lookups;

static const char *fake_lookup(const char *name, void *ctx)
{
    assert_ptr_equal(ctx, &lookups);
    lookups++;
    for (size_t i = 0; i < sizeof(fake_env) / sizeof(fake_env[0]); i++)
        if (strcmp(fake_env[i][0], name) == 0)
            return fake_env[i][1];
    return NULL;
}

static char err[512];

/* Expand the JSON text under "execution"; the tree (caller frees) or NULL on error. */
static cJSON *expand(const char *json, int *rc)
{
    cJSON *v = cJSON_Parse(json);
    assert_non_null(v);
    *rc = ws_env_expand(v, "execution", fake_lookup, &lookups, err, sizeof(err));
    if (*rc) {
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

/* The string that json {"v": "<s>"} expands to (static buffer). */
static const char *str(const char *s)
{
    static char out[1024];
    cJSON *v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "v", s);
    int rc = ws_env_expand(v, "execution", fake_lookup, &lookups, err, sizeof(err));
    if (rc) {
        cJSON_Delete(v);
        return NULL;
    }
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(v, "v");
    if (cJSON_IsString(x))
        snprintf(out, sizeof(out), "%s", x->valuestring);
    else
        snprintf(out, sizeof(out), "<%s>", cJSON_IsTrue(x) ? "true" : "false");
    cJSON_Delete(v);
    return out;
}

static void test_plain_and_default(void **state)
{
    (void)state;
    assert_string_equal(str("${env.MAXW}"), "4");
    assert_string_equal(str("w=${env.MAXW}, u=${env.USER}!"), "w=4, u=ada!");
    assert_string_equal(str("${env._x9}"), "ok");
    assert_string_equal(str("${env.EMPTY}"), ""); /* set but empty: no error */
    assert_string_equal(str("${env.NOPE:-3}"), "3");
    assert_string_equal(str("${env.MAXW:-3}"), "4");
    assert_string_equal(str("${env.EMPTY:-3}"), "3"); /* :- as in sh: empty takes the default */
    assert_string_equal(str("${env.NOPE:-}"), "");
    assert_string_equal(str("${env.NOPE:-a b:-c 'd'}"), "a b:-c 'd'");
    assert_string_equal(str("no expansion here"), "no expansion here");
    /* a value is never expanded again */
    assert_string_equal(str("${env.NESTED}"), "${env.MAXW}");
}

static void test_comparison(void **state)
{
    (void)state;
    assert_string_equal(str("${env.CI == 'true'}"), "<true>");
    assert_string_equal(str("${env.CI=='false'}"), "<false>");
    assert_string_equal(str("${env.CI != 'true'}"), "<false>");
    assert_string_equal(str("${env.CI  !=  \"yes\" }"), "<true>");
    assert_string_equal(str("${env.NOPE == ''}"), "<true>"); /* unset compares as "" */
    assert_string_equal(str("${env.NOPE == 'true'}"), "<false>");
    assert_string_equal(str("${env.USER == 'a}b'}"), "<false>");

    int rc;
    cJSON *v = expand("{\"parallel\": \"${env.CI == 'true'}\", \"max_workers\": 3}", &rc);
    assert_int_equal(rc, 0);
    assert_true(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(v, "parallel")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "parallel")));
    char *text = cJSON_PrintUnformatted(v);
    assert_string_equal(text, "{\"parallel\":true,\"max_workers\":3}");
    free(text);
    cJSON_Delete(v);

    /* only as the whole string */
    assert_null(str("x${env.CI == 'true'}"));
    assert_string_equal(err, "execution.v: a comparison ${env.CI == ...} must be the whole string");
    assert_null(str("${env.CI != 'true'} "));
    assert_string_equal(err, "execution.v: a comparison ${env.CI != ...} must be the whole string");
}

static void test_nested_objects_and_arrays(void **state)
{
    (void)state;
    int rc;
    cJSON *v = expand("{\"max_workers\": \"${env.MAXW:-2}\", \"parallel\": true, \"n\": 7,"
                      " \"groups\": [{\"id\": \"g-${env.USER}\", \"tags\": [\"${env.CI}\", null,"
                      " 1.5, \"$${env.MAXW}\"]}], \"${env.MAXW}\": \"keys stay\"}",
                      &rc);
    assert_int_equal(rc, 0);
    char *text = cJSON_PrintUnformatted(v);
    assert_string_equal(text, "{\"max_workers\":\"4\",\"parallel\":true,\"n\":7,"
                              "\"groups\":[{\"id\":\"g-ada\",\"tags\":[\"true\",null,1.5,"
                              "\"${env.MAXW}\"]}],\"${env.MAXW}\":\"keys stay\"}");
    free(text);
    /* the caller turns "4" into a number where it wants one */
    double d = 0;
    assert_int_equal(ws_env_number(cJSON_GetObjectItemCaseSensitive(v, "max_workers"), &d), 0);
    assert_true(d == 4.0);
    cJSON_Delete(v);

    /* the path of a field deep down names it */
    assert_null(expand("{\"groups\": [{\"id\": \"a\"}, {\"id\": \"${env.GONE}\"}]}", &rc));
    assert_int_equal(rc, -EINVAL);
    assert_string_equal(err, "execution.groups[1].id: ${env.GONE} is not set and has no default");
}

static void test_errors(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"${env.MAXW2}", "execution.v: ${env.MAXW2} is not set and has no default"},
        {"${HOME}", "execution.v: malformed \"${HOME}\" at offset 0: expected ${env.NAME}, "
                    "${env.NAME:-default} or ${env.NAME == 'value'}"},
        {"a ${env.1X}", "execution.v: malformed \"${env.1X}\" at offset 2: a variable name is "
                        "[A-Za-z_][A-Za-z0-9_]*"},
        {"${env.}", "execution.v: malformed \"${env.}\" at offset 0: a variable name is "
                    "[A-Za-z_][A-Za-z0-9_]*"},
        {"${env.MAXW", "execution.v: malformed \"${env.MAXW\" at offset 0: missing '}'"},
        {"${env.MAXW:-3", "execution.v: malformed \"${env.MAXW:-3\" at offset 0: missing '}'"},
        {"${env.MAXW:3}", "execution.v: malformed \"${env.MAXW:3}\" at offset 0: expected "
                          "${env.NAME}, ${env.NAME:-default} or ${env.NAME == 'value'}"},
        {"${env.MA-XW}", "execution.v: malformed \"${env.MA-XW}\" at offset 0: expected "
                         "${env.NAME}, ${env.NAME:-default} or ${env.NAME == 'value'}"},
        {"${ env.MAXW }", "execution.v: malformed \"${ env.MAXW }\" at offset 0: expected "
                          "${env.NAME}, ${env.NAME:-default} or ${env.NAME == 'value'}"},
        {"${env.CI == true}", "execution.v: malformed \"${env.CI == true}\" at offset 0: the "
                              "value to compare with must be quoted"},
        {"${env.CI == 'true}", "execution.v: malformed \"${env.CI == 'true}\" at offset 0: no "
                               "closing quote"},
        {"${env.CI == 'a' x}", "execution.v: malformed \"${env.CI == 'a' x}\" at offset 0: "
                               "missing '}' after the quoted value"},
        {"${env.A:-${env.B}}", "execution.v: malformed \"${env.A:-${env.B}\" at offset 0: a "
                               "default cannot contain ${...}"},
        {"${env.A\x01}", "execution.v: malformed \"${env.A?}\" at offset 0: expected "
                         "${env.NAME}, ${env.NAME:-default} or ${env.NAME == 'value'}"},
        {"${env.ABCDEFGHIJKLMNOPQRSTUVWXYZ_ABCDEFGHIJKLMNOPQRSTUVWXYZ",
         "execution.v: malformed \"${env.ABCDEFGHIJKLMNOPQRSTUVWXYZ_ABCDEFG...\" at offset 0: "
         "missing '}'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = str(cases[i][0]);
        if (got || strcmp(err, cases[i][1]) != 0)
            print_error("case %zu: %s -> %s\n", i, cases[i][0], got ? got : err);
        assert_null(got);
        assert_string_equal(err, cases[i][1]);
    }
}

static void test_dollar_without_braces(void **state)
{
    (void)state;
    int before = lookups;
    assert_string_equal(str("$env.MAXW"), "$env.MAXW");
    assert_string_equal(str("kill $$; echo $1 $"), "kill $$; echo $1 $");
    assert_string_equal(str("cost 5$"), "cost 5$");
    assert_string_equal(str("{env.MAXW}"), "{env.MAXW}");
    assert_int_equal(lookups, before); /* nothing was looked up */
    /* $${ is the one escape */
    assert_string_equal(str("$${env.MAXW} is ${env.MAXW}"), "${env.MAXW} is 4");
    /* read left to right: a lone '$', then the escape */
    assert_string_equal(str("$$${env.MAXW}"), "$${env.MAXW}");
    assert_string_equal(str("$ ${env.MAXW}"), "$ 4");
    assert_string_equal(str("$${HOME"), "${HOME");
}

static void test_number_helper(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int ok;
        double v;
    } cases[] = {
        {"3", 1, 3},       {"-2.5", 1, -2.5}, {"+7", 1, 7},    {"1e3", 1, 1000},
        {"0.25", 1, 0.25}, {"", 0, 0},        {" 3", 0, 0},    {"3 ", 0, 0},
        {"0x10", 0, 0},    {"inf", 0, 0},     {"nan", 0, 0},   {"1.", 0, 0},
        {".5", 0, 0},      {"1e", 0, 0},      {"1e999", 0, 0}, {"auto", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *v = cJSON_CreateString(cases[i].s);
        double d = -1;
        int rc = ws_env_number(v, &d);
        if ((rc == 0) != cases[i].ok)
            print_error("case \"%s\"\n", cases[i].s);
        assert_int_equal(rc == 0, cases[i].ok);
        if (cases[i].ok)
            assert_true(d == cases[i].v);
        cJSON_Delete(v);
    }
    cJSON *n = cJSON_CreateNumber(12), *b = cJSON_CreateTrue();
    double d;
    assert_int_equal(ws_env_number(n, &d), 0);
    assert_true(d == 12);
    assert_int_equal(ws_env_number(b, &d), -EINVAL);
    cJSON_Delete(n);
    cJSON_Delete(b);
}

static void test_limits_and_getenv(void **state)
{
    (void)state;
    /* an expansion past WS_ENV_VALUE_MAX is refused, not truncated */
    size_t n = WS_ENV_VALUE_MAX / 4 + 1;
    char *s = malloc(n * 13 + 1);
    assert_non_null(s);
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        at += (size_t)sprintf(s + at, "%s", "${env.RATE}xx"); /* 5 bytes each after expansion */
    cJSON *v = cJSON_CreateString(s);
    assert_int_equal(ws_env_expand(v, "execution.x", fake_lookup, &lookups, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "execution.x: expands to more than 65536 bytes");
    cJSON_Delete(v);
    free(s);

    /* a scalar at the top is expanded in place */
    v = cJSON_CreateString("${env.CI == 'true'}");
    assert_int_equal(
        ws_env_expand(v, "execution.parallel", fake_lookup, &lookups, err, sizeof(err)), 0);
    assert_true(cJSON_IsTrue(v));
    cJSON_Delete(v);
    assert_int_equal(ws_env_expand(NULL, "execution", fake_lookup, &lookups, err, sizeof(err)), 0);

    /* the production lookup is getenv */
    assert_non_null(ws_env_getenv("PATH", NULL));
    assert_null(ws_env_getenv("AGENTOS_TEST_SURELY_UNSET_VARIABLE", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_default),         cmocka_unit_test(test_comparison),
        cmocka_unit_test(test_nested_objects_and_arrays), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_dollar_without_braces),     cmocka_unit_test(test_number_helper),
        cmocka_unit_test(test_limits_and_getenv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
