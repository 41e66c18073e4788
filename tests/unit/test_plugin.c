/*
 * test_plugin.c - a workflow is a plug-in: a tiny third workflow, "count",
 * defined only here, runs through the real coordinator (coord_run: segment,
 * pre-forked workers, checkpoints, dependency gating, summary), in a scratch
 * AGENTOS_HOME. It brings its own two items from its load hook, B depending
 * on A, and two nodes that need no LLM: C1_count adds to a number in the
 * item's state and notes in a ledger when it ran; C2_write writes the result.
 * A second run makes A fail: B is skipped with the reason, exit status 1.
 */
#include <errno.h>
#include <fcntl.h>
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

#include "runtime/result.h"
#include "runtime/run.h"
#include "shm/util.h"
#include "tests/unit/testutil.h"

static char home[256];
static int fail_a; /* the next run's item A fails in C1_count */

/* ---- the workflow ------------------------------------------------------- */

struct count_def {
    const char *name; /* "a", "b" */
    int start;        /* C1_count adds one to it */
};

static const struct count_def count_defs[] = {{"a", 40}, {"b", 1}};

static void ledger(const struct wf_item *it, const char *what)
{
    char path[512], line[128];
    snprintf(path, sizeof(path), "%s/count/ledger.txt", it->home);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    int n = snprintf(line, sizeof(line), "%s %s\n", what, it->id);
    if (fd >= 0) {
        if (write(fd, line, (size_t)n) != n)
            perror("ledger");
        close(fd);
    }
}

static int count_c1(struct wf_item *it)
{
    const struct count_def *d = it->def;
    ledger(it, "start");
    if (fail_a && !strcmp(d->name, "a")) {
        snprintf(it->reason, sizeof(it->reason), "count %s refused to count", d->name);
        return -EIO;
    }
    cJSON_AddNumberToObject(it->state, "n", d->start + 1);
    it->next = "C2_write";
    return 0;
}

static int count_c2(struct wf_item *it)
{
    char body[64], err[256];
    cJSON *n = cJSON_GetObjectItemCaseSensitive(it->state, "n");
    snprintf(body, sizeof(body), "n=%d\n", cJSON_IsNumber(n) ? n->valueint : -1);
    struct result_meta m = {.status = "passed",
                            .rounds = 0,
                            .source_sha256 = it->source_sha256,
                            .workflow = "count",
                            .item_id = it->id};
    if (result_write(it->out_path, &m, body, err, sizeof(err)) < 0) {
        snprintf(it->reason, sizeof(it->reason), "%s", err);
        return -EIO;
    }
    ledger(it, "end");
    it->outcome = WF_OUTCOME_PASSED;
    it->next = NULL;
    return 0;
}

static int count_load(struct wf_plan *p, char *err, size_t errlen)
{
    size_t n = sizeof(count_defs) / sizeof(count_defs[0]);
    p->items.v = calloc(n, sizeof(*p->items.v));
    if (!p->items.v) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    p->items.n = n;
    for (size_t i = 0; i < n; i++) {
        struct item *it = &p->items.v[i];
        struct result_info ri;
        snprintf(it->id, sizeof(it->id), "CNT-%c", 'A' + (int)i);
        snprintf(it->stem, sizeof(it->stem), "%s", count_defs[i].name);
        util_sha256_hex(count_defs[i].name, strlen(count_defs[i].name), it->sha256);
        it->input_path = strdup("(built in)");
        it->out_path = util_asprintf("%s/count/%s.md", p->home, it->id);
        if (!it->input_path || !it->out_path)
            return -ENOMEM;
        it->def = &count_defs[i];
        it->pending = !(result_read(it->out_path, &ri) == 0 && !strcmp(ri.sha256, it->sha256));
    }
    p->items.v[1].deps = calloc(1, sizeof(size_t)); /* B depends on A */
    if (!p->items.v[1].deps)
        return -ENOMEM;
    p->items.v[1].ndeps = 1;
    p->items.v[1].deps[0] = 0;
    snprintf(p->title, sizeof(p->title), "count");
    snprintf(p->where, sizeof(p->where), "in count");
    return 0;
}

static const struct wf_node count_nodes[] = {{"C1_count", count_c1}, {"C2_write", count_c2}};

static const struct wf_desc wf_count = {
    .name = "count",
    .noun = "item",
    .outcomes = 1u << PROG_PASSED | 1u << PROG_FAILED | 1u << PROG_SKIPPED,
    .nodes = count_nodes,
    .node_count = 2,
    .load = count_load,
};

/* ---- running it --------------------------------------------------------- */

static char console[16384];

/* coord_run with the console caught into `console`. */
static int run_count(void)
{
    char *argv[] = {"agentos-run", "count", "--parallel", "2", "--no-progress", NULL};
    struct run_opts o;
    char err[256], warn[256], out[300];
    assert_int_equal(args_parse(5, argv, NULL, &o, err, sizeof(err), warn, sizeof(warn)), 0);
    snprintf(out, sizeof(out), "%s/console.txt", home);
    fflush(stdout);
    int saved = dup(1), fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    close(fd);
    int status = coord_run(&wf_count, &o, NULL);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    args_free(&o);
    FILE *f = fopen(out, "r");
    size_t n = f ? fread(console, 1, sizeof(console) - 1, f) : 0;
    console[n] = '\0';
    if (f)
        fclose(f);
    return status;
}

/* The text of <home>/<rel>, malloc'd, or NULL. */
static char *slurp(const char *rel)
{
    char path[512], *buf = NULL;
    size_t len;
    snprintf(path, sizeof(path), "%s/%s", home, rel);
    return util_read_file(path, 1 << 20, &buf, &len) == 0 ? buf : NULL;
}

/* 1 if <home>/<rel> exists. */
static int exists(const char *rel)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", home, rel);
    return access(path, F_OK) == 0;
}

/* summary.json of the run whose folder the console named last. */
static cJSON *summary(void)
{
    const char *p = strstr(console, "Run folder: ");
    assert_non_null(p);
    char dir[512];
    assert_int_equal(sscanf(p + 12, "%511s", dir), 1);
    char path[600], *buf = NULL;
    size_t len;
    snprintf(path, sizeof(path), "%s/summary.json", dir);
    assert_int_equal(util_read_file(path, 1 << 20, &buf, &len), 0);
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    assert_non_null(j);
    return j;
}

static const char *item_field(cJSON *j, int i, const char *key)
{
    cJSON *it = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "items"), i);
    cJSON *v = cJSON_GetObjectItem(it, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int setup(void **state)
{
    (void)state;
    if (test_tmpdir(home, sizeof(home), "agentos-test-plugin") < 0)
        return -1;
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/count", home);
    mkdir(dir, 0700);
    setenv("AGENTOS_HOME", home, 1);
    fail_a = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unsetenv("AGENTOS_HOME");
    return test_rmtree(home);
}

static void test_runs_through_the_coordinator(void **state)
{
    (void)state;
    assert_int_equal(run_count(), RUN_EXIT_OK);
    assert_non_null(strstr(console, "Summary: 2 passed, 0 failed, 0 skipped (2 items"));
    char *a = slurp("count/CNT-A.md"), *b = slurp("count/CNT-B.md");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(strstr(a, "status: passed"));
    assert_non_null(strstr(a, "n=41"));
    assert_non_null(strstr(b, "n=2"));
    free(a);
    free(b);
    /* B started only after A had ended */
    char *l = slurp("count/ledger.txt");
    assert_non_null(l);
    assert_string_equal(l, "start CNT-A\nend CNT-A\nstart CNT-B\nend CNT-B\n");
    free(l);
    cJSON *j = summary();
    assert_string_equal(cJSON_GetObjectItem(j, "workflow")->valuestring, "count");
    assert_int_equal(cJSON_GetObjectItem(j, "exit_status")->valueint, 0);
    assert_string_equal(item_field(j, 0, "id"), "CNT-A");
    assert_string_equal(item_field(j, 0, "outcome"), "passed");
    assert_string_equal(item_field(j, 1, "outcome"), "passed");
    assert_int_equal(cJSON_GetObjectItem(j, "keys_left_reserved")->valueint, 0);
    cJSON_Delete(j);
    /* no checkpoint left behind */
    assert_false(exists("checkpoints/count_workflow_a.db"));
    assert_false(exists("checkpoints/count_workflow_b.db"));
    assert_true(exists("checkpoints")); /* the folder is there: the names above are right */
    /* a second run finds both up to date */
    assert_int_equal(run_count(), RUN_EXIT_OK);
    assert_non_null(strstr(console, "Nothing pending in count (2 items up to date)"));
}

static void test_failure_skips_dependent(void **state)
{
    (void)state;
    fail_a = 1;
    assert_int_equal(run_count(), RUN_EXIT_FAILED);
    assert_non_null(strstr(console, "CNT-B SKIPPED: it depends on CNT-A, which failed"));
    assert_non_null(strstr(console, "Summary: 0 passed, 1 failed, 1 skipped (2 items"));
    char *l = slurp("count/ledger.txt");
    assert_non_null(l);
    assert_null(strstr(l, "CNT-B")); /* B never ran */
    free(l);
    cJSON *j = summary();
    assert_string_equal(item_field(j, 0, "outcome"), "failed");
    assert_string_equal(item_field(j, 0, "reason"), "count a refused to count");
    assert_string_equal(item_field(j, 1, "outcome"), "skipped");
    assert_int_equal(cJSON_GetObjectItem(j, "exit_status")->valueint, 1);
    cJSON_Delete(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_runs_through_the_coordinator, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_skips_dependent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
