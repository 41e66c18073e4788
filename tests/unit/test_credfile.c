/*
 * test_credfile.c - credentials.json loading: the SPEC example, every kind of
 * error (each naming file, entry and field), the key limit, insecure mode
 * detection, and that no error ever quotes a secret.
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

#include "llm/credfile.h"

#define SECRET "SECRET-MARKER-123"

static const char spec_example[] =
    "{\"credentials\": [\n"
    "  {\"id\": \"key-1\", \"provider\": \"gemini\", \"model\": \"gemini-2.5-pro\",\n"
    "   \"api_key_env\": \"TEST_CREDFILE_KEY_1\", \"rpm\": 60},\n"
    "  {\"id\": \"local\", \"provider\": \"openai\", \"base_url\": \"http://127.0.0.1:11434/v1\",\n"
    "   \"model\": \"llama3.1\", \"api_key\": \"x\", \"roles\": [\"draft\"]}\n"
    "]}\n";

static int setup(void **state)
{
    (void)state;
    setenv("TEST_CREDFILE_KEY_1", SECRET, 1);
    unsetenv("TEST_CREDFILE_UNSET");
    return 0;
}

static int parse(const char *text, size_t limit, struct cred_file *cf, char *err, size_t errlen)
{
    return credfile_parse("credentials.json", text, strlen(text), limit, cf, err, errlen);
}

static void test_spec_example(void **state)
{
    (void)state;
    struct cred_file cf;
    char err[512] = "";
    assert_int_equal(parse(spec_example, 0, &cf, err, sizeof(err)), 0);
    assert_int_equal(cf.n, 2);
    const struct credential *g = &cf.v[0], *o = &cf.v[1];
    assert_string_equal(g->id, "key-1");
    assert_ptr_equal(g->proto, &provider_gemini);
    assert_string_equal(g->provider_name, "gemini");
    assert_string_equal(g->model, "gemini-2.5-pro");
    assert_string_equal(g->base_url, "https://generativelanguage.googleapis.com");
    assert_string_equal(g->secret, SECRET);
    assert_int_equal(g->roles, CRED_ROLE_DRAFT | CRED_ROLE_REVIEW);
    assert_int_equal(g->rpm, 60);
    assert_int_equal(g->concurrency, 1);
    assert_string_equal(o->id, "local");
    assert_ptr_equal(o->proto, &provider_openai);
    assert_string_equal(o->base_url, "http://127.0.0.1:11434/v1");
    assert_string_equal(o->secret, "x");
    assert_int_equal(o->roles, CRED_ROLE_DRAFT);
    assert_int_equal(o->rpm, 0);

    struct cred_init ci;
    credfile_to_init(o, &ci);
    assert_string_equal(ci.id, "local");
    assert_string_equal(ci.provider, "openai");
    assert_string_equal(ci.model, "llama3.1");
    assert_int_equal(ci.roles, CRED_ROLE_DRAFT);
    assert_int_equal(ci.concurrency, 1);
    credfile_free(&cf);
    assert_null(cf.v);
    assert_int_equal(cf.n, 0);
}

static void test_fields_and_trim(void **state)
{
    (void)state;
    const char *text = "{\"credentials\":[{\"id\":\"a\",\"provider\":\"openai\",\"model\":\"m\","
                       "\"base_url\":\"https://api.example.com/v1///\",\"api_key\":\"" SECRET
                       "\",\"roles\":[\"review\",\"review\"],\"rpm\":100000,\"concurrency\":8,"
                       "\"unknown_field\":{\"x\":[1,2]},\"comment\":\"ignored\"}]}";
    struct cred_file cf;
    char err[512] = "";
    assert_int_equal(parse(text, 0, &cf, err, sizeof(err)), 0);
    assert_string_equal(cf.v[0].base_url, "https://api.example.com/v1");
    assert_int_equal(cf.v[0].roles, CRED_ROLE_REVIEW);
    assert_int_equal(cf.v[0].rpm, 100000);
    assert_int_equal(cf.v[0].concurrency, 8);
    credfile_free(&cf);
}

/* Expect parse failure with exactly this message. */
static void expect_error(const char *text, const char *want)
{
    struct cred_file cf;
    char err[512] = "";
    int rc = parse(text, 0, &cf, err, sizeof(err));
    if (rc == 0)
        fail_msg("accepted: %s", text);
    assert_int_equal(rc, -EINVAL);
    if (strcmp(err, want) != 0)
        fail_msg("got \"%s\", want \"%s\"", err, want);
    assert_null(strstr(err, SECRET));
    assert_null(strchr(err, '\n'));
    assert_null(cf.v);
}

#define ENTRY_HEAD "{\"credentials\":[{\"id\":\"k\",\"api_key\":\"" SECRET "\","
#define OPENAI ENTRY_HEAD "\"provider\":\"openai\",\"base_url\":\"http://h/v1\","
#define GEMINI ENTRY_HEAD "\"provider\":\"gemini\","

static void test_structure_errors(void **state)
{
    (void)state;
    expect_error("", "credentials.json: not valid JSON (error near line 1)");
    expect_error("{\n\"credentials\": [\n{\"api_key\": \"" SECRET "\",,}]}",
                 "credentials.json: not valid JSON (error near line 3)");
    expect_error("[1,2]", "credentials.json: top level must be an object with \"credentials\"");
    expect_error("\"x\"", "credentials.json: top level must be an object with \"credentials\"");
    expect_error("{}", "credentials.json: missing \"credentials\"");
    expect_error("{\"credentials\":{}}", "credentials.json: credentials: must be an array");
    expect_error("{\"credentials\":[]}",
                 "credentials.json: credentials: must list at least one key");
    expect_error("{\"credentials\":[1]}", "credentials.json: credentials[0]: must be an object");
}

static void test_field_errors(void **state)
{
    (void)state;
    expect_error("{\"credentials\":[{\"provider\":\"openai\"}]}",
                 "credentials.json: credentials[0].id: missing");
    expect_error("{\"credentials\":[{\"id\":7}]}",
                 "credentials.json: credentials[0].id: must be a string");
    expect_error("{\"credentials\":[{\"id\":\"\"}]}",
                 "credentials.json: credentials[0].id: must not be empty");
    expect_error("{\"credentials\":[{\"id\":\"0123456789012345678901234567890123456789012345678"
                 "\"}]}",
                 "credentials.json: credentials[0].id: longer than 47 characters");
    expect_error("{\"credentials\":[{\"id\":\"a\\nb\"}]}",
                 "credentials.json: credentials[0].id: contains a control character");
    expect_error(ENTRY_HEAD "\"model\":\"m\"}]}",
                 "credentials.json: credentials[0].provider: missing");
    expect_error(ENTRY_HEAD "\"provider\":\"foo\",\"model\":\"m\"}]}",
                 "credentials.json: credentials[0].provider: unknown provider \"foo\" (use one "
                 "of: openai, gemini, anthropic, azure)");
    expect_error(ENTRY_HEAD "\"provider\":[\"openai\"]}]}",
                 "credentials.json: credentials[0].provider: must be a string");
    expect_error(OPENAI "\"x\":1}]}", "credentials.json: credentials[0].model: missing");
    expect_error(OPENAI "\"model\":1}]}",
                 "credentials.json: credentials[0].model: must be a string");
    expect_error(GEMINI "\"model\":\"a/b?c\"}]}",
                 "credentials.json: credentials[0].model: may only contain A-Z a-z 0-9 . _ -");
    expect_error(ENTRY_HEAD "\"provider\":\"openai\",\"model\":\"m\"}]}",
                 "credentials.json: credentials[0].base_url: missing");
    expect_error(ENTRY_HEAD "\"provider\":\"openai\",\"model\":\"m\",\"base_url\":true}]}",
                 "credentials.json: credentials[0].base_url: must be a string");
    expect_error(ENTRY_HEAD "\"provider\":\"openai\",\"model\":\"m\",\"base_url\":\"ftp://h\"}]}",
                 "credentials.json: credentials[0].base_url: must start with http:// or https://");
    expect_error(ENTRY_HEAD "\"provider\":\"openai\",\"model\":\"m\",\"base_url\":"
                            "\"http://u:" SECRET "@h/v1\"}]}",
                 "credentials.json: credentials[0].base_url: must not contain spaces, '?', '#' or "
                 "'@'");
    expect_error(ENTRY_HEAD "\"provider\":\"openai\",\"model\":\"m\",\"base_url\":\"https:///\"}]}",
                 "credentials.json: credentials[0].base_url: has no host");
    expect_error(OPENAI "\"model\":\"m\",\"roles\":\"draft\"}]}",
                 "credentials.json: credentials[0].roles: must be a non-empty array of "
                 "\"draft\"/\"review\"");
    expect_error(OPENAI "\"model\":\"m\",\"roles\":[]}]}",
                 "credentials.json: credentials[0].roles: must be a non-empty array of "
                 "\"draft\"/\"review\"");
    expect_error(OPENAI "\"model\":\"m\",\"roles\":[\"draft\",\"write\"]}]}",
                 "credentials.json: credentials[0].roles: entries must be \"draft\" or "
                 "\"review\"");
}

static void test_number_errors(void **state)
{
    (void)state;
    const char *rpm_msg =
        "credentials.json: credentials[0].rpm: must be an integer from 0 to 100000";
    const char *conc_msg =
        "credentials.json: credentials[0].concurrency: must be an integer from 1 to 8";
    expect_error(OPENAI "\"model\":\"m\",\"rpm\":-1}]}", rpm_msg);
    expect_error(OPENAI "\"model\":\"m\",\"rpm\":100001}]}", rpm_msg);
    expect_error(OPENAI "\"model\":\"m\",\"rpm\":1.5}]}", rpm_msg);
    expect_error(OPENAI "\"model\":\"m\",\"rpm\":\"60\"}]}", rpm_msg);
    expect_error(OPENAI "\"model\":\"m\",\"rpm\":1e300}]}", rpm_msg);
    expect_error(OPENAI "\"model\":\"m\",\"concurrency\":0}]}", conc_msg);
    expect_error(OPENAI "\"model\":\"m\",\"concurrency\":100}]}", conc_msg);
    expect_error(OPENAI "\"model\":\"m\",\"concurrency\":null}]}", conc_msg);
}

static void test_secret_errors(void **state)
{
    (void)state;
    expect_error("{\"credentials\":[{\"id\":\"k\",\"provider\":\"gemini\",\"model\":\"m\"}]}",
                 "credentials.json: credentials[0]: missing api_key or api_key_env");
    expect_error(GEMINI "\"model\":\"m\",\"api_key_env\":\"TEST_CREDFILE_KEY_1\"}]}",
                 "credentials.json: credentials[0]: give api_key or api_key_env, not both");
    expect_error("{\"credentials\":[{\"id\":\"k\",\"provider\":\"gemini\",\"model\":\"m\","
                 "\"api_key_env\":\"TEST_CREDFILE_UNSET\"}]}",
                 "credentials.json: credentials[0].api_key_env: environment variable "
                 "TEST_CREDFILE_UNSET is not set");
    setenv("TEST_CREDFILE_EMPTY", "", 1);
    expect_error("{\"credentials\":[{\"id\":\"k\",\"provider\":\"gemini\",\"model\":\"m\","
                 "\"api_key_env\":\"TEST_CREDFILE_EMPTY\"}]}",
                 "credentials.json: credentials[0].api_key_env: environment variable "
                 "TEST_CREDFILE_EMPTY is not set");
    setenv("TEST_CREDFILE_CRLF", SECRET "\r\nX-Evil: 1", 1);
    expect_error("{\"credentials\":[{\"id\":\"k\",\"provider\":\"gemini\",\"model\":\"m\","
                 "\"api_key_env\":\"TEST_CREDFILE_CRLF\"}]}",
                 "credentials.json: credentials[0].api_key_env: environment variable "
                 "TEST_CREDFILE_CRLF contains a control character");
    expect_error("{\"credentials\":[{\"id\":\"k\",\"provider\":\"gemini\",\"model\":\"m\","
                 "\"api_key\":5}]}",
                 "credentials.json: credentials[0].api_key: must be a string");
}

static void test_duplicate_and_index(void **state)
{
    (void)state;
    expect_error(
        "{\"credentials\":["
        "{\"id\":\"a\",\"provider\":\"gemini\",\"model\":\"m\",\"api_key\":\"" SECRET "\"},"
        "{\"id\":\"b\",\"provider\":\"gemini\",\"model\":\"m\",\"api_key\":\"" SECRET "\"},"
        "{\"id\":\"a\",\"provider\":\"gemini\",\"model\":\"m\",\"api_key\":\"" SECRET "\"}]}",
        "credentials.json: credentials[2].id: duplicate id \"a\" (also credentials[0])");
    expect_error(
        "{\"credentials\":["
        "{\"id\":\"a\",\"provider\":\"gemini\",\"model\":\"m\",\"api_key\":\"" SECRET "\"},"
        "{\"id\":\"b\",\"provider\":\"gemini\",\"model\":\"m\",\"api_key\":\"" SECRET "\"},"
        "{\"id\":\"c\",\"provider\":\"gemini\",\"model\":\"m\",\"api_key\":\"" SECRET
        "\",\"rpm\":-3}]}",
        "credentials.json: credentials[2].rpm: must be an integer from 0 to 100000");
}

static void test_limit(void **state)
{
    (void)state;
    const char *text = "{\"credentials\":["
                       "{\"id\":\"a\",\"provider\":\"gemini\",\"model\":\"m\",\"api_key\":\"1\"},"
                       "{\"id\":\"b\",\"provider\":\"gemini\",\"model\":\"m\",\"api_key\":\"2\"},"
                       "{\"id\":\"c\",\"provider\":\"gemini\",\"model\":\"m\",\"api_key_env\":"
                       "\"TEST_CREDFILE_UNSET\"}"
                       "]}";
    struct cred_file cf;
    char err[512] = "";
    assert_int_equal(parse(text, 2, &cf, err, sizeof(err)), 0);
    assert_int_equal(cf.n, 2);
    assert_string_equal(cf.v[1].id, "b");
    credfile_free(&cf);
    assert_int_equal(parse(text, 1, &cf, err, sizeof(err)), 0);
    assert_int_equal(cf.n, 1);
    credfile_free(&cf);
    /* without a limit (or a limit past the end) the unset variable of "c" is an error */
    assert_int_equal(parse(text, 0, &cf, err, sizeof(err)), -EINVAL);
    assert_int_equal(parse(text, 9, &cf, err, sizeof(err)), -EINVAL);
}

/*
 * A 1,000-key file with AGENTOS_CREDENTIAL_LIMIT=256 (the segment's key slots):
 * the first 256 load; the rest is not even looked at (issue 9, finding 15).
 * Without the limit the file names the cap.
 */
static void test_limit_on_a_big_file(void **state)
{
    (void)state;
    enum { N = 1000 };
    size_t cap = (size_t)N * 120 + 64, used = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    used += (size_t)snprintf(text + used, cap - used, "{\"credentials\":[");
    for (int i = 0; i < N; i++)
        used += (size_t)snprintf(text + used, cap - used,
                                 "%s{\"id\":\"k%d\",\"provider\":\"gemini\",\"model\":\"m\","
                                 "\"api_key\":\"s%d\"}",
                                 i ? "," : "", i, i);
    used += (size_t)snprintf(text + used, cap - used, "]}");
    assert_true(used < cap);
    struct cred_file cf;
    char err[512] = "";
    int r = parse(text, SHM_MAX_KEYS, &cf, err, sizeof(err));
    if (r != 0)
        print_error("%s\n", err);
    assert_int_equal(r, 0);
    assert_int_equal(cf.n, SHM_MAX_KEYS);
    assert_string_equal(cf.v[SHM_MAX_KEYS - 1].id, "k255");
    credfile_free(&cf);
    assert_int_equal(parse(text, SHM_MAX_KEYS + 1, &cf, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "256"));
    assert_int_equal(parse(text, 0, &cf, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "256"));
    free(text);
}

static void test_size_limit(void **state)
{
    (void)state;
    size_t n = CREDFILE_MAX_BYTES + 10;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, ' ', n);
    memcpy(big, spec_example, strlen(spec_example));
    big[n] = '\0';
    struct cred_file cf;
    char err[512] = "";
    assert_int_equal(credfile_parse("credentials.json", big, n, 0, &cf, err, sizeof(err)), -EFBIG);
    assert_non_null(strstr(err, "credentials.json: larger than"));
    free(big);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_load_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_credfile.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], big[256];
    snprintf(path, sizeof(path), "%s/credentials.json", dir);
    snprintf(big, sizeof(big), "%s/big.json", dir);
    struct cred_file cf;
    char err[512] = "";

    write_text(path, spec_example, 0600);
    assert_int_equal(credfile_load(path, 0, &cf, err, sizeof(err)), 0);
    assert_int_equal(cf.n, 2);
    assert_int_equal(cf.insecure_mode, 0);
    credfile_free(&cf);

    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(credfile_load(path, 0, &cf, err, sizeof(err)), 0);
    assert_int_equal(cf.insecure_mode, 1);
    credfile_free(&cf);
    assert_int_equal(chmod(path, 0620), 0);
    assert_int_equal(credfile_load(path, 0, &cf, err, sizeof(err)), 0);
    assert_int_equal(cf.insecure_mode, 1);
    credfile_free(&cf);

    /* errors name the path given */
    write_text(path, "{\"credentials\":[{\"id\":\"k\",\"provider\":\"x\"}]}", 0600);
    assert_int_equal(credfile_load(path, 0, &cf, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "credentials[0].provider: unknown provider \"x\""));

    FILE *f = fopen(big, "w");
    assert_non_null(f);
    for (int i = 0; i < CREDFILE_MAX_BYTES / 8 + 1; i++)
        fputs("        ", f);
    fclose(f);
    assert_int_equal(credfile_load(big, 0, &cf, err, sizeof(err)), -EFBIG);

    char missing[300];
    snprintf(missing, sizeof(missing), "%s/nope.json", dir);
    assert_int_equal(credfile_load(missing, 0, &cf, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "No such file"));
    assert_int_equal(credfile_load(dir, 0, &cf, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "not a regular file"));

    unlink(path);
    unlink(big);
    rmdir(dir);
}

/* Mangle the SPEC example byte by byte: never a crash, never the secret in a message. */
static void test_no_secret_in_errors(void **state)
{
    (void)state;
    const char *text = "{\"credentials\":[{\"id\":\"k\",\"provider\":\"gemini\",\"model\":\"m\","
                       "\"api_key\":\"" SECRET "\",\"rpm\":5,\"roles\":[\"draft\"]}]}";
    size_t n = strlen(text);
    char *buf = malloc(n + 1);
    assert_non_null(buf);
    const char subst[] = {'"', '}', ']', '1', 'x', ',', '\n', '\\'};
    for (size_t i = 0; i < n; i++) {
        for (size_t s = 0; s < sizeof(subst); s++) {
            memcpy(buf, text, n + 1);
            buf[i] = subst[s];
            struct cred_file cf;
            char err[512] = "";
            if (credfile_parse("c.json", buf, n, 0, &cf, err, sizeof(err)) == 0) {
                credfile_free(&cf);
                continue;
            }
            if (strstr(err, "SECRET") || strstr(err, "MARKER"))
                fail_msg("secret in error: %s", err);
            assert_true(strncmp(err, "c.json: ", 8) == 0);
        }
    }
    free(buf);
}

/*
 * Generation settings at four levels: a key's role > the key > the file's
 * role > the file; each field from the most specific level that sets it;
 * extra objects merged; nothing set that no level set.
 */
static void test_settings_precedence(void **state)
{
    (void)state;
    static const char text[] =
        "{\"max_tokens\": 100, \"temperature\": 0.5, \"system\": \"file\", \"timeout_s\": 60,\n"
        " \"extra\": {\"top_p\": 0.9, \"opts\": {\"a\": 1}},\n"
        " \"roles\": {\"review\": {\"max_tokens\": 200, \"system\": \"file-review\"}},\n"
        " \"credentials\": [\n"
        "  {\"id\": \"a\", \"provider\": \"openai\", \"base_url\": \"http://h\", \"model\": "
        "\"m\",\n"
        "   \"api_key\": \"k1\", \"temperature\": 0.1, \"extra\": {\"opts\": {\"b\": 2}},\n"
        "   \"roles\": {\"draft\": {\"max_tokens\": 300}, \"review\": {\"timeout_s\": 5}}},\n"
        "  {\"id\": \"b\", \"provider\": \"anthropic\", \"model\": \"c\", \"api_key\": \"k2\",\n"
        "   \"roles\": [\"review\"], \"tpm\": 40000, \"price\": {\"input\": 3, \"output\": 15}}]}";
    struct cred_file cf;
    char err[512] = "";
    assert_int_equal(parse(text, 0, &cf, err, sizeof(err)), 0);
    const struct llm_gen *ad = credfile_gen(&cf.v[0], CRED_ROLE_DRAFT);
    const struct llm_gen *ar = credfile_gen(&cf.v[0], CRED_ROLE_REVIEW);
    const struct llm_gen *br = credfile_gen(&cf.v[1], CRED_ROLE_REVIEW);
    assert_int_equal(cf.v[0].roles, CRED_ROLE_DRAFT | CRED_ROLE_REVIEW); /* the object names both */
    assert_int_equal(ad->max_tokens, 300);                               /* key role */
    assert_int_equal(ar->max_tokens, 200); /* file role beats file; the key sets none */
    assert_true(ad->temperature == 0.1 && ar->temperature == 0.1); /* key beats file */
    assert_string_equal(ad->system, "file");
    assert_string_equal(ar->system, "file-review");
    assert_int_equal(ad->timeout_s, 60);
    assert_int_equal(ar->timeout_s, 5);
    assert_string_equal(ad->extra, "{\"top_p\":0.9,\"opts\":{\"a\":1,\"b\":2}}");
    assert_int_equal(br->max_tokens, 200);
    assert_string_equal(br->system, "file-review");
    assert_true(br->temperature == 0.5);
    assert_string_equal(br->extra, "{\"top_p\":0.9,\"opts\":{\"a\":1}}");
    assert_int_equal(cf.v[1].tpm, 40000);
    assert_true(cf.v[1].price_input == 3 && cf.v[1].price_output == 15);
    assert_true(cf.v[0].price_input < 0); /* no price */
    assert_string_equal(cf.v[1].base_url, "https://api.anthropic.com");
    credfile_free(&cf);

    /* nothing set anywhere: nothing to send */
    assert_int_equal(parse(spec_example, 0, &cf, err, sizeof(err)), 0);
    const struct llm_gen *g = credfile_gen(&cf.v[0], CRED_ROLE_DRAFT);
    assert_int_equal(g->max_tokens, 0);
    assert_true(g->temperature < 0);
    assert_null(g->system);
    assert_null(g->extra);
    assert_int_equal(g->timeout_s, 0);
    credfile_free(&cf);
}

static void test_settings_errors(void **state)
{
    (void)state;
    expect_error(OPENAI "\"model\":\"m\",\"max_tokens\":0}]}",
                 "credentials.json: credentials[0].max_tokens: must be an integer from 1 to "
                 "1000000 (key \"k\")");
    expect_error(OPENAI "\"model\":\"m\",\"temperature\":\"hot\"}]}",
                 "credentials.json: credentials[0].temperature: must be a number from 0 to 2 "
                 "(key \"k\")");
    expect_error(OPENAI "\"model\":\"m\",\"timeout_s\":1.5}]}",
                 "credentials.json: credentials[0].timeout_s: must be an integer from 1 to 86400 "
                 "(key \"k\")");
    expect_error(OPENAI "\"model\":\"m\",\"system\":\"\"}]}",
                 "credentials.json: credentials[0].system: must be a non-empty string (key \"k\")");
    expect_error(OPENAI "\"model\":\"m\",\"extra\":[1]}]}",
                 "credentials.json: credentials[0].extra: must be a JSON object (merged into the "
                 "request body) (key \"k\")");
    expect_error(OPENAI "\"model\":\"m\",\"roles\":{\"review\":{\"max_token\":5}}}]}",
                 "credentials.json: credentials[0].roles.review.max_token: unknown field (known: "
                 "max_tokens, temperature, system, timeout_s, extra) (key \"k\")");
    expect_error(OPENAI "\"model\":\"m\",\"roles\":{\"draft\":{\"temperature\":3}}}]}",
                 "credentials.json: credentials[0].roles.draft.temperature: must be a number from "
                 "0 to 2 (key \"k\")");
    expect_error(OPENAI "\"model\":\"m\",\"roles\":{\"writer\":{}}}]}",
                 "credentials.json: credentials[0].roles: keys must be \"draft\" or \"review\", "
                 "not \"writer\" (key \"k\")");
    expect_error(OPENAI "\"model\":\"m\",\"roles\":{\"draft\":1}}]}",
                 "credentials.json: credentials[0].roles.draft: must be an object of settings "
                 "(key \"k\")");
    expect_error(OPENAI "\"model\":\"m\",\"roles\":{}}]}",
                 "credentials.json: credentials[0].roles: must name \"draft\" and/or \"review\"");
    expect_error(OPENAI "\"model\":\"m\",\"price\":{\"input\":1}}]}",
                 "credentials.json: credentials[0].price: must be {\"input\": N, \"output\": N}, "
                 "prices per million tokens from 0 to 1000000");
    expect_error(OPENAI "\"model\":\"m\",\"tpm\":-1}]}",
                 "credentials.json: credentials[0].tpm: must be an integer from 0 to 100000000");
    expect_error("{\"temperature\": -1, \"credentials\": [{}]}",
                 "credentials.json: temperature: must be a number from 0 to 2");
    expect_error("{\"roles\": {\"review\": {\"extra\": 1}}, \"credentials\": [{}]}",
                 "credentials.json: roles.review.extra: must be a JSON object (merged into the "
                 "request body)");
    expect_error("{\"roles\": [\"draft\"], \"credentials\": [{}]}",
                 "credentials.json: roles: must be an object of per-role settings "
                 "({\"draft\": {...}, ...})");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example),        cmocka_unit_test(test_fields_and_trim),
        cmocka_unit_test(test_structure_errors),    cmocka_unit_test(test_field_errors),
        cmocka_unit_test(test_number_errors),       cmocka_unit_test(test_secret_errors),
        cmocka_unit_test(test_duplicate_and_index), cmocka_unit_test(test_limit),
        cmocka_unit_test(test_limit_on_a_big_file), cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_load_file),           cmocka_unit_test(test_no_secret_in_errors),
        cmocka_unit_test(test_settings_precedence), cmocka_unit_test(test_settings_errors),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
