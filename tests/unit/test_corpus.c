/*
 * test_corpus.c - every file of tests/corpus/ through the parser it targets.
 *
 * The corpus holds hostile input, one folder per parser (see each folder's
 * README.md). The promise under test is "a clean answer, never a crash": an
 * error code with a non-empty one-line message, or a valid parse. Under
 * `make asan` the same run proves there is no memory error and no leak.
 * Length-delimited parsers get an exact-size copy without a trailing NUL so
 * ASan sees any read past the end.
 *
 * A file's name prefix states what it must give: "ok-" a valid parse, "bad-"
 * an error, "any-" and "fuzz-" (inputs saved by tests/fuzz/run.sh) either, as
 * long as it is clean; in verdicts/ the prefix is the expected verdict
 * ("approved-", "revise-", "blocked-"). Every file must be listed in its
 * folder's README.md, and a missing or near-empty folder fails the test, so
 * it can never silently test nothing. Paths are relative to the repository
 * root (tests/run.sh runs tests from there).
 */
#include <dirent.h>
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

#include "runtime/ckpt.h"
#include "llm/credfile.h"
#include "llm/http.h"
#include "llm/provider.h"
#include "runtime/items.h"
#include "llm/retry.h"
#include "shm/util.h"
#include "workflows/verdict.h"

#define CORPUS "tests/corpus"
#define CORPUS_MIN_FILES 8
#define CORPUS_FILE_MAX (16 * 1024 * 1024)
#define SECRET "SECRET-MARKER-CORPUS"
#define NOW_S INT64_C(1700000000) /* 2023-11-14: fixed, so date verdicts do not drift */

enum expect { EXPECT_OK, EXPECT_ERR, EXPECT_ANY, EXPECT_UNKNOWN };

/* One corpus file: its path, name and bytes (NUL-terminated by util_read_file). */
struct cfile {
    char path[512];
    const char *name;
    char *data;
    size_t len;
};

/* Called once per file; returns the number of problems found. */
typedef int (*cfile_fn)(const struct cfile *f);

static int report(const struct cfile *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int report(const struct cfile *f, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    printf("# %s: %s\n", f->path, why);
    return 1;
}

static enum expect expect_of(const char *name)
{
    if (strncmp(name, "ok-", 3) == 0)
        return EXPECT_OK;
    if (strncmp(name, "bad-", 4) == 0)
        return EXPECT_ERR;
    if (strncmp(name, "any-", 4) == 0 || strncmp(name, "fuzz-", 5) == 0)
        return EXPECT_ANY;
    return EXPECT_UNKNOWN;
}

/* A clean error message: non-empty, one line, no secret. */
static int check_msg(const struct cfile *f, const char *err)
{
    if (!err[0])
        return report(f, "error without a message");
    if (strpbrk(err, "\r\n"))
        return report(f, "message is not one line: \"%s\"", err);
    if (strstr(err, SECRET))
        return report(f, "message quotes the secret");
    return 0;
}

/* An exact-size heap copy (no trailing NUL), so ASan catches reads past len. */
static char *dup_exact(const struct cfile *f)
{
    char *p = malloc(f->len ? f->len : 1);
    assert_non_null(p);
    memcpy(p, f->data, f->len);
    return p;
}

static int readme_lists(const char *readme, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = readme; (p = strstr(p, name)); p += n)
        if ((p == readme || strchr(" `\n|*-", p[-1])) && strchr(" `:|*\n", p[n] ? p[n] : '\n'))
            return 1;
    return 0;
}

static int skip_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] == '.' || strcmp(name, "README.md") == 0 ||
           (n > 3 && strcmp(name + n - 3, ".sh") == 0);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run fn on every regular file of CORPUS/sub; fails the test on any problem. */
static void corpus_each(const char *sub, cfile_fn fn)
{
    char dir[256], readme_path[300];
    snprintf(dir, sizeof(dir), "%s/%s", CORPUS, sub);
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("corpus folder %s is missing (run from the repository root): %s", dir,
                 strerror(errno));
    char *names[4096];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < sizeof(names) / sizeof(names[0]))
        if (de->d_type != DT_DIR && !skip_name(de->d_name))
            names[n++] = strdup(de->d_name);
    closedir(d);
    qsort(names, n, sizeof(names[0]), cmp_names);

    char *readme = NULL;
    size_t rlen = 0;
    snprintf(readme_path, sizeof(readme_path), "%s/README.md", dir);
    if (util_read_file(readme_path, 1 << 20, &readme, &rlen) != 0)
        readme = NULL;
    int problems = readme ? 0 : 1;
    if (!readme)
        printf("# %s is missing\n", readme_path);
    for (size_t i = 0; i < n; i++) {
        struct cfile f = {.name = names[i]};
        snprintf(f.path, sizeof(f.path), "%s/%s", dir, names[i]);
        int rc = util_read_file(f.path, CORPUS_FILE_MAX, &f.data, &f.len);
        if (rc)
            problems += report(&f, "could not read: %s", strerror(-rc));
        else
            problems += fn(&f);
        if (readme && !readme_lists(readme, names[i]))
            problems += report(&f, "not described in %s", readme_path);
        free(f.data);
        free(names[i]);
    }
    free(readme);
    printf("# %s: %zu files, %d problems\n", dir, n, problems);
    if (n < CORPUS_MIN_FILES)
        fail_msg("corpus folder %s has %zu files (want >= %d)", dir, n, CORPUS_MIN_FILES);
    assert_int_equal(problems, 0);
}

/* ---- credentials/ ----------------------------------------------------------------------- */

static int check_cred_result(const struct cfile *f, int rc, const struct cred_file *cf,
                             const char *err, enum expect want)
{
    if (rc == 0) {
        if (want == EXPECT_ERR)
            return report(f, "loaded, but must be refused");
        if (cf->n == 0 || !cf->v)
            return report(f, "success with an empty pool");
        for (size_t i = 0; i < cf->n; i++)
            if (!cf->v[i].base_url || !cf->v[i].secret || !cf->v[i].id[0])
                return report(f, "credentials[%zu] half filled", i);
        return 0;
    }
    if (want == EXPECT_OK)
        return report(f, "refused (%d: %s), but must load", rc, err);
    if (rc > 0)
        return report(f, "positive return %d", rc);
    if (cf->v || cf->n)
        return report(f, "failure left a half-loaded pool");
    return check_msg(f, err);
}

static int cred_one(const struct cfile *f)
{
    enum expect want = expect_of(f->name);
    if (want == EXPECT_UNKNOWN)
        return report(f, "name must start with ok-, bad-, any- or fuzz-");
    struct cred_file cf;
    char err[512] = "";
    int rc = credfile_load(f->path, 0, &cf, err, sizeof(err));
    int problems = check_cred_result(f, rc, &cf, err, want);
    credfile_free(&cf);

    /* the fuzzer's second pass: the buffer parser with AGENTOS_CREDENTIAL_LIMIT=1 */
    char *buf = dup_exact(f);
    err[0] = '\0';
    rc = credfile_parse(f->name, buf, f->len, 1, &cf, err, sizeof(err));
    problems += check_cred_result(f, rc, &cf, err, EXPECT_ANY);
    if (rc == 0 && cf.n != 1)
        problems += report(f, "limit 1 kept %zu keys", cf.n);
    credfile_free(&cf);
    free(buf);
    return problems;
}

static void test_credentials(void **state)
{
    (void)state;
    setenv("AGENTOS_CORPUS_KEY", SECRET "-ENV", 1);
    setenv("AGENTOS_CORPUS_EMPTY", "", 1);
    setenv("AGENTOS_CORPUS_CTRL", SECRET "\r\nX-Evil: 1", 1);
    unsetenv("AGENTOS_CORPUS_UNSET");
    corpus_each("credentials", cred_one);
}

/* ---- specs/ ----------------------------------------------------------------------------- */

static int spec_one(const struct cfile *f)
{
    enum expect want = expect_of(f->name);
    if (want == EXPECT_UNKNOWN)
        return report(f, "name must start with ok-, bad-, any- or fuzz-");
    char *buf = dup_exact(f);
    int rc = item_spec_valid(buf, f->len);
    free(buf);
    if (rc != 0 && rc != -EINVAL)
        return report(f, "item_spec_valid returned %d (want 0 or -EINVAL)", rc);
    if (want == EXPECT_OK && rc != 0)
        return report(f, "refused, but is a valid spec");
    if (want == EXPECT_ERR && rc == 0)
        return report(f, "accepted, but must be refused");
    return 0;
}

static void test_specs(void **state)
{
    (void)state;
    corpus_each("specs", spec_one);
}

/* ---- replies/ --------------------------------------------------------------------------- */

static int reply_extract(const struct cfile *f, const struct llm_provider *p, enum expect want)
{
    char *buf = dup_exact(f), *text = NULL, err[256] = "";
    int rc = provider_parse_text(p, buf, f->len, &text, err, sizeof(err));
    free(buf);
    const char *pname = p == &provider_openai ? "openai" : "gemini";
    int problems = 0;
    if (rc == 0) {
        if (!text)
            problems += report(f, "%s: success without text", pname);
        else if (want == EXPECT_ERR)
            problems += report(f, "%s: extracted text, but must be refused", pname);
    } else if (rc != -EBADMSG) {
        problems += report(f, "%s: returned %d (want 0 or -EBADMSG)", pname, rc);
    } else if (want == EXPECT_OK) {
        problems += report(f, "%s: refused (%s), but holds a reply", pname, err);
    } else {
        if (text)
            problems += report(f, "%s: error but text set", pname);
        problems += check_msg(f, err);
    }
    free(text);
    return problems;
}

static int check_delay(const struct cfile *f, const char *what, int64_t ms)
{
    if (ms == -1 || (ms >= 0 && ms <= RETRY_MAX_MS))
        return 0;
    return report(f, "%s gave %lld ms (want -1 or 0..%lld)", what, (long long)ms,
                  (long long)RETRY_MAX_MS);
}

/* The Gemini 429 parsers read the same bodies (any answer in range is clean). */
static int gemini_error_parsers(const struct cfile *f)
{
    char *buf = dup_exact(f);
    int problems = check_delay(f, "retry_gemini_delay_ms", retry_gemini_delay_ms(buf, f->len));
    int daily = retry_gemini_is_daily_quota(buf, f->len);
    free(buf);
    if (daily != 0 && daily != 1)
        problems += report(f, "retry_gemini_is_daily_quota returned %d", daily);
    return problems;
}

static int reply_one(const struct cfile *f, const struct llm_provider *own)
{
    enum expect want = expect_of(f->name);
    if (want == EXPECT_UNKNOWN)
        return report(f, "name must start with ok-, bad-, any- or fuzz-");
    const struct llm_provider *other =
        own == &provider_openai ? &provider_gemini : &provider_openai;
    return reply_extract(f, own, want) + reply_extract(f, other, EXPECT_ANY) +
           gemini_error_parsers(f);
}

static int openai_one(const struct cfile *f)
{
    return reply_one(f, &provider_openai);
}

static int gemini_one(const struct cfile *f)
{
    return reply_one(f, &provider_gemini);
}

static void test_replies_openai(void **state)
{
    (void)state;
    corpus_each("replies/openai", openai_one);
}

static void test_replies_gemini(void **state)
{
    (void)state;
    corpus_each("replies/gemini", gemini_one);
}

/* ---- retry_after/ ----------------------------------------------------------------------- */

static int retry_one(const struct cfile *f)
{
    enum expect want = expect_of(f->name);
    if (want == EXPECT_UNKNOWN)
        return report(f, "name must start with ok-, bad-, any- or fuzz-");
    /* a header value is a C string: f->data is NUL-terminated, an embedded NUL ends it */
    int64_t ms = retry_after_parse_ms(f->data, NOW_S);
    int problems = check_delay(f, "retry_after_parse_ms", ms);
    if (want == EXPECT_OK && ms < 0)
        problems += report(f, "not understood, but is a valid Retry-After");
    if (want == EXPECT_ERR && ms >= 0)
        problems += report(f, "read as %lld ms, but must be refused", (long long)ms);
    return problems + gemini_error_parsers(f);
}

static void test_retry_after(void **state)
{
    (void)state;
    corpus_each("retry_after", retry_one);
}

/* ---- verdicts/ -------------------------------------------------------------------------- */

static int verdict_one(const struct cfile *f)
{
    static const struct {
        const char *prefix;
        int verdict; /* -1: any */
    } prefixes[] = {{"approved-", VERDICT_APPROVED},
                    {"revise-", VERDICT_REVISE},
                    {"blocked-", VERDICT_BLOCKED},
                    {"any-", -1},
                    {"fuzz-", -1}};
    int want = -2;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (strncmp(f->name, prefixes[i].prefix, strlen(prefixes[i].prefix)) == 0)
            want = prefixes[i].verdict;
    if (want == -2)
        return report(f, "name must start with approved-, revise-, blocked-, any- or fuzz-");
    enum wf_verdict v = verdict_parse(f->data); /* the LLM client hands over a C string */
    if (v != VERDICT_REVISE && v != VERDICT_APPROVED && v != VERDICT_BLOCKED)
        return report(f, "verdict_parse returned %d", (int)v);
    if (want >= 0 && (int)v != want)
        return report(f, "read as %s, want %s", verdict_name(v),
                      verdict_name((enum wf_verdict)want));
    return 0;
}

static void test_verdicts(void **state)
{
    (void)state;
    corpus_each("verdicts", verdict_one);
}

/* ---- checkpoints/ ----------------------------------------------------------------------- */

static char ckpt_tmp[64];

static int copy_file(const struct cfile *f, const char *to)
{
    FILE *out = fopen(to, "wb");
    if (!out)
        return -errno;
    size_t w = fwrite(f->data, 1, f->len, out);
    int rc = fclose(out);
    if (w != f->len || rc != 0)
        return -EIO;
    return chmod(to, 0600) == 0 ? 0 : -errno;
}

/* After a successful open: a stale file is reported so, and ckpt_load answers cleanly (an
 * "ok-" file with a save or nothing saved; an "any-" one may also hold a damaged row). */
static int ckpt_opened(const struct cfile *f, struct ckpt *c, int stale, enum expect want)
{
    int problems = 0;
    if (strstr(f->name, "stale") && !stale)
        problems += report(f, "checkpoint of other input not reported stale");
    char *next = NULL, *state = NULL;
    int fin = 0, rc = ckpt_load(c, &next, &state, &fin);
    if (rc != 0 && rc != -ENOENT && (want == EXPECT_OK || rc != -EBADMSG))
        problems += report(f, "opened, but ckpt_load gave %d", rc);
    free(next);
    free(state);
    return problems;
}

static int ckpt_one(const struct cfile *f)
{
    enum expect want = expect_of(f->name);
    if (want == EXPECT_UNKNOWN)
        return report(f, "name must start with ok-, bad-, any- or fuzz-");
    char path[256], err[512] = "";
    snprintf(path, sizeof(path), "%s/checkpoints/lld_workflow_1.db", ckpt_tmp);
    int rc = copy_file(f, path);
    if (rc)
        return report(f, "could not copy to %s: %s", path, strerror(-rc));
    char sha[65];
    memset(sha, 'a', 64);
    sha[64] = '\0';
    struct ckpt *c = NULL;
    int stale = 0, problems = 0;
    rc = ckpt_open(path, "lld", "LLD-1", sha, &c, &stale, err, sizeof(err));
    if (rc == 0) {
        if (want == EXPECT_ERR)
            problems += report(f, "opened, but must be refused");
        problems += ckpt_opened(f, c, stale, want);
        ckpt_close(c);
    } else if (rc != -EBADMSG) {
        problems += report(f, "ckpt_open returned %d (%s), want 0 or -EBADMSG", rc, err);
    } else if (want == EXPECT_OK) {
        problems += report(f, "refused (%s), but is a valid checkpoint", err);
    } else {
        problems += check_msg(f, err);
        if (ckpt_quarantine(path) != 0)
            problems += report(f, "ckpt_quarantine failed");
        char q[300];
        snprintf(q, sizeof(q), "%s.corrupt", path);
        if (unlink(q) != 0)
            problems += report(f, "no %s after quarantine", q);
    }
    ckpt_remove(path);
    return problems;
}

static void test_checkpoints(void **state)
{
    (void)state;
    snprintf(ckpt_tmp, sizeof(ckpt_tmp), "/tmp/agentos-corpus-XXXXXX");
    assert_non_null(mkdtemp(ckpt_tmp));
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/checkpoints", ckpt_tmp);
    assert_int_equal(mkdir(sub, 0700), 0);
    corpus_each("checkpoints", ckpt_one);
    assert_int_equal(rmdir(sub), 0); /* fails if a file was left behind */
    assert_int_equal(rmdir(ckpt_tmp), 0);
}

static int teardown_tmp(void **state)
{
    (void)state;
    if (ckpt_tmp[0]) { /* after a failed test: best effort */
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ckpt_tmp);
        if (access(ckpt_tmp, F_OK) == 0 && system(cmd) != 0)
            return -1;
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credentials),
        cmocka_unit_test(test_specs),
        cmocka_unit_test(test_replies_openai),
        cmocka_unit_test(test_replies_gemini),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test_teardown(test_checkpoints, teardown_tmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
