/*
 * test_shard.c - `--shard I/N` and `--shard slurm` (SPEC 13): the hash is
 * FNV-1a 64 (published test vectors), the shards of one batch are disjoint
 * and cover it, bad values are usage errors that name the value or the
 * missing variable, and the Slurm variables map onto I/N for plain, offset
 * and stepped arrays.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/args.h"
#include "runtime/shard.h"

static void test_fnv1a_vectors(void **state)
{
    (void)state;
    /* from the FNV reference test suite (isthe.com/chongo/tech/comp/fnv) */
    assert_true(shard_hash("") == 0xcbf29ce484222325ULL);
    assert_true(shard_hash("a") == 0xaf63dc4c8601ec8cULL);
    assert_true(shard_hash("foobar") == 0x85944171f73967e8ULL);
    /* bytes above 0x7f are taken unsigned, whatever char's signedness */
    assert_true(shard_hash("\xff") == ((0xcbf29ce484222325ULL ^ 0xffULL) * 0x100000001b3ULL));
}

static void test_disjoint_and_cover(void **state)
{
    (void)state;
    char id[32];
    for (uint32_t n = 1; n <= 9; n++) {
        unsigned per[9] = {0};
        for (int k = 0; k < 1200; k++) {
            snprintf(id, sizeof(id), "LLD-%04d", k);
            unsigned owners = 0;
            for (uint32_t i = 0; i < n; i++) {
                struct shard s = {.index = i, .count = n};
                if (shard_has(&s, id)) {
                    owners++;
                    per[i]++;
                }
            }
            assert_int_equal(owners, 1); /* disjoint, and nobody's item is lost */
        }
        /* and the shares are even enough to be worth having: within 35 % of 1200/n */
        for (uint32_t i = 0; i < n; i++) {
            assert_true(per[i] * n * 100 >= 1200 * 65);
            assert_true(per[i] * n * 100 <= 1200 * 135);
        }
    }
}

static void test_stable(void **state)
{
    (void)state;
    /* what every machine must compute: pinned so a change of hash is noticed */
    assert_int_equal(shard_of("LLD-01", 4), (uint32_t)(shard_hash("LLD-01") % 4));
    assert_int_equal(shard_of("anything", 1), 0);
    uint32_t a = shard_of("ISSUE-42", 10), b = shard_of("ISSUE-42", 10);
    assert_int_equal(a, b);
}

static void expect_bad(const char *arg, const char *needle)
{
    char err[256] = "";
    assert_int_equal(shard_check_arg(arg, err, sizeof(err)), -EINVAL);
    if (!strstr(err, needle))
        fail_msg("\"%s\": message \"%s\" lacks \"%s\"", arg, err, needle);
}

static void test_bad_values(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(shard_check_arg("0/1", err, sizeof(err)), 0);
    assert_int_equal(shard_check_arg("3/4", err, sizeof(err)), 0);
    assert_int_equal(shard_check_arg("slurm", err, sizeof(err)), 0);
    expect_bad("4/4", "--shard 4/4: I must be below N");
    expect_bad("0/0", "N must be at least 1");
    expect_bad("-1/4", "give I/N");
    expect_bad("1", "give I/N");
    expect_bad("1/", "give I/N");
    expect_bad("/4", "give I/N");
    expect_bad("a/b", "give I/N");
    expect_bad("1/4x", "give I/N");
    expect_bad(" 1/4", "give I/N");
    expect_bad("1/2000000", "give I/N");
    expect_bad("SLURM", "give I/N");
}

/* A fake environment for shard_resolve. */
static const char *fake_env[16][2];

static const char *fake_getenv(const char *name)
{
    for (int i = 0; i < 16 && fake_env[i][0]; i++)
        if (!strcmp(fake_env[i][0], name))
            return fake_env[i][1];
    return NULL;
}

static void set_env(int n, ...)
{
    va_list ap;
    memset(fake_env, 0, sizeof(fake_env));
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        fake_env[i][0] = va_arg(ap, const char *);
        fake_env[i][1] = va_arg(ap, const char *);
    }
    va_end(ap);
}

static void test_slurm(void **state)
{
    (void)state;
    struct shard s;
    char err[256] = "";
    set_env(4, "SLURM_ARRAY_TASK_ID", "7", "SLURM_ARRAY_TASK_COUNT", "10", "SLURM_ARRAY_TASK_MIN",
            "0", "SLURM_ARRAY_TASK_MAX", "9");
    assert_int_equal(shard_resolve("slurm", fake_getenv, &s, err, sizeof(err)), 0);
    assert_int_equal(s.index, 7);
    assert_int_equal(s.count, 10);
    assert_true(s.from_slurm);
    /* --array=1-10 */
    set_env(4, "SLURM_ARRAY_TASK_ID", "10", "SLURM_ARRAY_TASK_COUNT", "10", "SLURM_ARRAY_TASK_MIN",
            "1", "SLURM_ARRAY_TASK_MAX", "10");
    assert_int_equal(shard_resolve("slurm", fake_getenv, &s, err, sizeof(err)), 0);
    assert_int_equal(s.index, 9);
    /* --array=0-18:2, no COUNT: from MAX */
    set_env(4, "SLURM_ARRAY_TASK_ID", "6", "SLURM_ARRAY_TASK_STEP", "2", "SLURM_ARRAY_TASK_MIN",
            "0", "SLURM_ARRAY_TASK_MAX", "18");
    assert_int_equal(shard_resolve("slurm", fake_getenv, &s, err, sizeof(err)), 0);
    assert_int_equal(s.index, 3);
    assert_int_equal(s.count, 10);
    /* only ID and COUNT, as SPEC 13 names them */
    set_env(2, "SLURM_ARRAY_TASK_ID", "2", "SLURM_ARRAY_TASK_COUNT", "4");
    assert_int_equal(shard_resolve("slurm", fake_getenv, &s, err, sizeof(err)), 0);
    assert_int_equal(s.index, 2);
    assert_int_equal(s.count, 4);
}

static void expect_slurm_bad(const char *needle)
{
    struct shard s;
    char err[256] = "";
    assert_int_equal(shard_resolve("slurm", fake_getenv, &s, err, sizeof(err)), -EINVAL);
    if (!strstr(err, needle))
        fail_msg("message \"%s\" lacks \"%s\"", err, needle);
}

static void test_slurm_bad(void **state)
{
    (void)state;
    set_env(0);
    expect_slurm_bad("SLURM_ARRAY_TASK_ID is not set");
    set_env(1, "SLURM_ARRAY_TASK_ID", "3");
    expect_slurm_bad("SLURM_ARRAY_TASK_MAX is not set");
    set_env(2, "SLURM_ARRAY_TASK_ID", "x", "SLURM_ARRAY_TASK_COUNT", "4");
    expect_slurm_bad("SLURM_ARRAY_TASK_ID=\"x\" is not a whole number");
    /* --array=1,4,9: COUNT 3, MIN 1, ID 9 */
    set_env(3, "SLURM_ARRAY_TASK_ID", "9", "SLURM_ARRAY_TASK_COUNT", "3", "SLURM_ARRAY_TASK_MIN",
            "1");
    expect_slurm_bad("give --shard I/N");
}

/* The flag itself: a bad value is a usage error of args_parse (exit 2). */
static void test_args(void **state)
{
    (void)state;
    struct run_opts o;
    char err[256], warn[256];
    char *ok[] = {"agentos-run", "lld", "--all", "--shard", "1/4", NULL};
    assert_int_equal(args_parse(5, ok, NULL, &o, err, sizeof(err), warn, sizeof(warn)), 0);
    assert_string_equal(o.shard, "1/4");
    args_free(&o);
    char *bad[] = {"agentos-run", "lld", "--all", "--shard=4/4", NULL};
    assert_int_equal(args_parse(4, bad, NULL, &o, err, sizeof(err), warn, sizeof(warn)), -EINVAL);
    assert_non_null(strstr(err, "--shard 4/4: I must be below N"));
    args_free(&o);
    char *none[] = {"agentos-run", "lld", "--all", "--shard", NULL};
    assert_int_equal(args_parse(4, none, NULL, &o, err, sizeof(err), warn, sizeof(warn)), -EINVAL);
    assert_non_null(strstr(err, "--shard needs a value"));
    args_free(&o);
    char *budget[] = {"agentos-run", "lld", "--all", "--budget", "redis://u:p@h:1", NULL};
    assert_int_equal(args_parse(5, budget, NULL, &o, err, sizeof(err), warn, sizeof(warn)),
                     -EINVAL);
    assert_null(strstr(err, "u:p")); /* the password is not echoed back */
    args_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fnv1a_vectors), cmocka_unit_test(test_disjoint_and_cover),
        cmocka_unit_test(test_stable),        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_slurm),         cmocka_unit_test(test_slurm_bad),
        cmocka_unit_test(test_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
