/*
 * test_plan.c - unit tests of the plan (runtime/plan.h): what a command line
 * means for a workflow's items before anything runs, on a scratch folder.
 * Every refusal is -EINVAL with one line on stderr naming the flag, the item
 * or the file; "nothing pending" is no error. These cases lived in test_args
 * until the parser stopped knowing workflows.
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

#include "runtime/plan.h"
#include "runtime/result.h"
#include "shm/util.h"
#include "tests/unit/testutil.h"
#include "workflows/workflows.h"

static char tmp[256], items_dir[300], out_dir[300], home[300];
static char out_text[8192], err_text[8192];

static int setup(void **state)
{
    (void)state;
    if (test_tmpdir(tmp, sizeof(tmp), "agentos-test-plan") < 0)
        return -1;
    snprintf(items_dir, sizeof(items_dir), "%s/pending", tmp);
    snprintf(out_dir, sizeof(out_dir), "%s/done", tmp);
    snprintf(home, sizeof(home), "%s/home", tmp);
    mkdir(items_dir, 0700);
    mkdir(home, 0700);
    const char *specs[] = {"01", "02"};
    for (int i = 0; i < 2; i++) {
        char path[400], text[64];
        snprintf(path, sizeof(path), "%s/%s.md", items_dir, specs[i]);
        snprintf(text, sizeof(text), "# Spec %s\n\nDesign it.\n", specs[i]);
        if (util_write_file_atomic(path, text, strlen(text)) < 0)
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return test_rmtree(tmp);
}

/* Read what fd got into buf (a file opened at the start), then restore fd. */
static void take_output(int fd, int saved, const char *path, char *buf, size_t len)
{
    fflush(fd == 1 ? stdout : stderr);
    dup2(saved, fd);
    close(saved);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, len - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    unlink(path);
}

/*
 * plan_run for workflow wf on the command line argv (after the workflow's
 * name), with stdout and stderr caught into out_text and err_text. Returns
 * plan_run's result; *done gets nothing_to_do.
 */
static int plan(const struct wf_desc *wf, int *done, int argc, ...)
{
    char *argv[32];
    argv[0] = "agentos-run";
    argv[1] = (char *)wf->name;
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc; i++)
        argv[2 + i] = va_arg(ap, char *);
    va_end(ap);
    argv[2 + argc] = NULL;
    struct run_opts o;
    char err[256], warn[256];
    assert_int_equal(args_parse(argc + 2, argv, NULL, &o, err, sizeof(err), warn, sizeof(warn)), 0);
    char opath[400], epath[400];
    snprintf(opath, sizeof(opath), "%s/stdout", tmp);
    snprintf(epath, sizeof(epath), "%s/stderr", tmp);
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    int fo = open(opath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(epath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fo, 1);
    dup2(fe, 2);
    close(fo);
    close(fe);
    struct run_ctx rc;
    memset(&rc, 0, sizeof(rc));
    rc.wf = wf;
    rc.o = &o;
    *done = -1;
    int r = plan_run(&rc, done);
    take_output(1, so, opath, out_text, sizeof(out_text));
    take_output(2, se, epath, err_text, sizeof(err_text));
    plan_free(&rc);
    args_free(&o);
    return r;
}

/* A refusal: -EINVAL and one line on stderr holding each of the given words. */
static void refused(int r, const char *w1, const char *w2)
{
    assert_int_equal(r, -EINVAL);
    const char *nl = strchr(err_text, '\n');
    assert_non_null(nl);
    assert_true(nl[1] == '\0'); /* one line */
    assert_non_null(strstr(err_text, "agentos-run: "));
    if (!strstr(err_text, w1) || (w2 && !strstr(err_text, w2)))
        fail_msg("\"%s\" does not name %s %s", err_text, w1, w2 ? w2 : "");
}

static void test_selection_refused(void **state)
{
    (void)state;
    int done;
    int r = plan(&wf_lld, &done, 8, "--all", "01", "--items", items_dir, "--out", out_dir, "--home",
                 home);
    refused(r, "--all", "01");
    r = plan(&wf_lld, &done, 6, "--items", items_dir, "--out", out_dir, "--home", home);
    refused(r, "--all", "nothing selected");
    r = plan(&wf_lld, &done, 7, "99", "--items", items_dir, "--out", out_dir, "--home", home);
    refused(r, "LLD-99", items_dir);
    r = plan(&wf_lld, &done, 7, "../x", "--items", items_dir, "--out", out_dir, "--home", home);
    refused(r, "\"../x\"", NULL);
    /* a missing items folder is named */
    r = plan(&wf_lld, &done, 7, "--all", "--items", "/nonexistent/pending", "--out", out_dir,
             "--home", home);
    assert_int_equal(r, -ENOENT);
    assert_non_null(strstr(err_text, "/nonexistent/pending"));
    /* nothing was created for a refused plan */
    char runs[400];
    snprintf(runs, sizeof(runs), "%s/logs", home);
    assert_int_equal(access(runs, F_OK), -1);
}

static void test_dot_without_graph(void **state)
{
    (void)state;
    int done;
    int r = plan(&wf_lld, &done, 8, "--all", "--dot", "--items", items_dir, "--out", out_dir,
                 "--home", home);
    refused(r, "--dot", "lld");
    assert_non_null(strstr(err_text, "no graph"));
}

static void test_workstream_loader(void **state)
{
    (void)state;
    int done;
    char ws[400];
    snprintf(ws, sizeof(ws), "%s/ws.json", tmp);
    refused(plan(&wf_workstream, &done, 2, "--home", home), "FILE.json", NULL);
    refused(plan(&wf_workstream, &done, 4, "a.json", "b.json", "--home", home), "a.json", "b.json");
    refused(plan(&wf_workstream, &done, 5, ws, "--out", out_dir, "--home", home), "--out", NULL);
    refused(plan(&wf_workstream, &done, 5, ws, "--items", items_dir, "--home", home), "--items",
            NULL);
    refused(plan(&wf_workstream, &done, 4, ws, "--all", "--home", home), "--all", NULL);
    /* the file itself: missing, then named in the error */
    int r = plan(&wf_workstream, &done, 3, ws, "--home", home);
    assert_true(r < 0);
    assert_non_null(strstr(err_text, ws));
}

static void test_nothing_to_do(void **state)
{
    (void)state;
    int done;
    /* --dry-run answers and stops: nothing to do, no run folder */
    int r = plan(&wf_lld, &done, 8, "--all", "--dry-run", "--items", items_dir, "--out", out_dir,
                 "--home", home);
    assert_int_equal(r, 0);
    assert_int_equal(done, 1);
    assert_non_null(strstr(out_text, "2 items would run"));
    assert_non_null(strstr(out_text, "LLD-01"));
    /* both results written from the current inputs: nothing pending */
    const char *ids[] = {"01", "02"};
    for (int i = 0; i < 2; i++) {
        char in[400], out[400], sha[65], *buf;
        size_t len;
        snprintf(in, sizeof(in), "%s/%s.md", items_dir, ids[i]);
        snprintf(out, sizeof(out), "%s/LLD-%s.md", out_dir, ids[i]);
        assert_int_equal(util_read_file(in, 1 << 20, &buf, &len), 0);
        assert_int_equal(util_sha256_hex(buf, len, sha), 0);
        free(buf);
        struct result_meta m = {.status = "approved",
                                .rounds = 1,
                                .source_sha256 = sha,
                                .workflow = "lld",
                                .item_id = ids[i]};
        char err[256];
        assert_int_equal(result_write(out, &m, "body\n", err, sizeof(err)), 0);
    }
    r = plan(&wf_lld, &done, 7, "--all", "--items", items_dir, "--out", out_dir, "--home", home);
    assert_int_equal(r, 0);
    assert_int_equal(done, 1);
    assert_non_null(strstr(out_text, "Nothing pending for lld in"));
    assert_string_equal(err_text, "");
    /* naming an up-to-date item says so, and there is still nothing to do */
    r = plan(&wf_lld, &done, 7, "LLD-02", "--items", items_dir, "--out", out_dir, "--home", home);
    assert_int_equal(r, 0);
    assert_int_equal(done, 1);
    assert_non_null(strstr(out_text, "LLD-02 is up to date"));
    char runs[400];
    snprintf(runs, sizeof(runs), "%s/logs", home);
    assert_int_equal(access(runs, F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_selection_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dot_without_graph, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workstream_loader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing_to_do, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
