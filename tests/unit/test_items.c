/*
 * test_items.c - unit tests for item stems, IDs, command-line ID arguments,
 * discovery of an items folder (valid, invalid and ignored names), the
 * pending decision against result files, and spec-text validation.
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

#include "tests/unit/testutil.h"

#include "runtime/items.h"
#include "runtime/result.h"
#include "shm/util.h"

static void test_stem_valid(void **state)
{
    (void)state;
    char s65[66], s64[65];
    memset(s65, 'a', 65);
    s65[65] = '\0';
    memset(s64, 'Z', 64);
    s64[64] = '\0';
    assert_true(item_stem_valid("42"));
    assert_true(item_stem_valid("a-b_C9"));
    assert_true(item_stem_valid(s64));
    assert_false(item_stem_valid(s65));
    assert_false(item_stem_valid(""));
    assert_false(item_stem_valid(NULL));
    assert_false(item_stem_valid("../x"));
    assert_false(item_stem_valid("x.y"));
    assert_false(item_stem_valid("bad name"));
    assert_false(item_stem_valid("caf\xc3\xa9"));
}

static void test_make_id(void **state)
{
    (void)state;
    char id[SHM_ID_MAX];
    assert_int_equal(item_make_id("LLD", "42", id, sizeof(id)), 0);
    assert_string_equal(id, "LLD-42");
    assert_int_equal(item_make_id("ISSUE", "fix-login_2", id, sizeof(id)), 0);
    assert_string_equal(id, "ISSUE-FIX-LOGIN_2");
    assert_int_equal(item_make_id("LLD", "../x", id, sizeof(id)), -EINVAL);
    assert_int_equal(item_make_id("LLD", "42", id, 6), -EINVAL);
    char s64[65];
    memset(s64, 'q', 64);
    s64[64] = '\0';
    assert_int_equal(item_make_id("ISSUE", s64, id, sizeof(id)), 0);
    assert_int_equal(strlen(id), 6 + 64);
}

static void test_stem_from_arg(void **state)
{
    (void)state;
    char stem[ITEM_STEM_MAX + 1], err[256];
    assert_int_equal(item_stem_from_arg("LLD", "42", stem, sizeof(stem), err, sizeof(err)), 0);
    assert_string_equal(stem, "42");
    assert_int_equal(item_stem_from_arg("LLD", "LLD-42", stem, sizeof(stem), err, sizeof(err)), 0);
    assert_string_equal(stem, "42");
    assert_int_equal(item_stem_from_arg("LLD", "lld-7", stem, sizeof(stem), err, sizeof(err)), 0);
    assert_string_equal(stem, "7");
    assert_int_equal(item_stem_from_arg("LLD", "LLD-abc", stem, sizeof(stem), err, sizeof(err)), 0);
    assert_string_equal(stem, "abc");
    /* "LLDX-1" is not the prefix: the whole argument is the stem. */
    assert_int_equal(item_stem_from_arg("LLD", "LLDX-1", stem, sizeof(stem), err, sizeof(err)), 0);
    assert_string_equal(stem, "LLDX-1");

    err[0] = '\0';
    assert_int_equal(item_stem_from_arg("LLD", "../x", stem, sizeof(stem), err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err,
                        "invalid item ID \"../x\": IDs are 1-64 characters of A-Z a-z 0-9 _ -");
    assert_int_equal(item_stem_from_arg("LLD", "", stem, sizeof(stem), err, sizeof(err)), -EINVAL);
    assert_int_equal(item_stem_from_arg("LLD", "LLD-", stem, sizeof(stem), err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(item_stem_from_arg("LLD", "LLD-../x", stem, sizeof(stem), err, sizeof(err)),
                     -EINVAL);
    char s65[66];
    memset(s65, '1', 65);
    s65[65] = '\0';
    assert_int_equal(item_stem_from_arg("LLD", s65, stem, sizeof(stem), err, sizeof(err)), -EINVAL);
    /* Control bytes never reach the message. */
    assert_int_equal(item_stem_from_arg("LLD", "a\nb\x1b", stem, sizeof(stem), err, sizeof(err)),
                     -EINVAL);
    assert_null(strchr(err, '\n'));
    assert_null(strchr(err, '\x1b'));
}

/* --- discovery ---------------------------------------------------------- */

struct fx {
    char dir[64];
    char items[128];
    char out[128];
    char err[512];
};

static void put(const char *dir, const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    assert_int_equal(util_write_file_atomic(p, text, strlen(text)), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (test_tmpdir(f->dir, sizeof(f->dir), "test_items") != 0)
        return -1;
    snprintf(f->items, sizeof(f->items), "%s/lld/pending", f->dir);
    snprintf(f->out, sizeof(f->out), "%s/lld/done", f->dir);
    if (util_mkdir_p(f->items, 0700) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (test_rmtree(f->dir) != 0)
        return -1;
    free(f);
    return 0;
}

static const struct item *find(const struct item_list *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].id, id) == 0)
            return &l->v[i];
    return NULL;
}

static void test_discover(void **state)
{
    struct fx *f = *state;
    put(f->items, "42.md", "# Cache\n");
    put(f->items, "7.md", "# Seven\n");
    put(f->items, "abc.md", "# abc\n");
    put(f->items, "bad name.md", "# bad\n");
    put(f->items, "x.y.md", "# xy\n");
    put(f->items, "notes.txt", "ignored\n");
    put(f->items, "README", "ignored\n");
    put(f->items, ".hidden.md", "# hidden\n");
    char sub[256];
    snprintf(sub, sizeof(sub), "%s/folder.md", f->items);
    assert_int_equal(mkdir(sub, 0700), 0);

    struct item_list l;
    assert_int_equal(items_discover("LLD", f->items, f->out, &l, f->err, sizeof(f->err)), 0);
    assert_int_equal(l.n, 6);
    /* Sorted by name (bytewise). */
    assert_string_equal(l.v[0].id, "LLD-42");
    assert_string_equal(l.v[1].id, "LLD-7");
    assert_string_equal(l.v[2].id, "LLD-ABC");
    assert_string_equal(l.v[3].id, "bad name.md");
    assert_string_equal(l.v[4].id, "LLD-FOLDER"); /* a folder: fails, saying so */
    assert_string_equal(l.v[5].id, "x.y.md");

    const struct item *it = &l.v[0];
    assert_false(it->invalid_name);
    assert_string_equal(it->stem, "42");
    char want[512], sha[65];
    snprintf(want, sizeof(want), "%s/42.md", f->items);
    assert_string_equal(it->input_path, want);
    snprintf(want, sizeof(want), "%s/LLD-42.md", f->out);
    assert_string_equal(it->out_path, want);
    util_sha256_hex("# Cache\n", 8, sha);
    assert_string_equal(it->sha256, sha);
    assert_true(it->pending);
    assert_string_equal(l.v[2].stem, "abc"); /* file name keeps its case */

    for (int i = 3; i < 6; i++) {
        assert_true(l.v[i].invalid_name);
        assert_true(l.v[i].pending);
        assert_null(l.v[i].input_path);
        assert_null(l.v[i].out_path);
        assert_string_equal(l.v[i].stem, "");
    }
    items_free(&l);
    assert_int_equal(l.n, 0);
}

static void test_discover_missing_and_case_clash(void **state)
{
    struct fx *f = *state;
    struct item_list l;
    assert_int_equal(
        items_discover("LLD", "/nonexistent/lld/pending", f->out, &l, f->err, sizeof(f->err)),
        -ENOENT);
    assert_string_equal(f->err, "items folder \"/nonexistent/lld/pending\" does not exist");
    assert_int_equal(l.n, 0);

    /* Empty folder: no items, no error. */
    assert_int_equal(items_discover("LLD", f->items, f->out, &l, f->err, sizeof(f->err)), 0);
    assert_int_equal(l.n, 0);
    items_free(&l);

    /* "A.md" and "a.md" would share LLD-A: the second is refused, and says why. */
    put(f->items, "A.md", "# a\n");
    put(f->items, "a.md", "# a\n");
    assert_int_equal(items_discover("LLD", f->items, f->out, &l, f->err, sizeof(f->err)), 0);
    assert_int_equal(l.n, 2);
    assert_false(l.v[0].invalid_name);
    assert_string_equal(l.v[0].id, "LLD-A");
    assert_true(l.v[1].invalid_name);
    assert_string_equal(l.v[1].id, "a.md");
    assert_string_equal(item_fails_why(&l.v[1]),
                        "its ID LLD-A is already A.md's (file names that differ only in case "
                        "share an ID)");
    assert_null(l.v[1].input_path);
    items_free(&l);
}

/* A FIFO, a folder and a dangling link named *.md: items that fail saying what they are. */
static void test_discover_not_files(void **state)
{
    struct fx *f = *state;
    char p[512];
    put(f->items, "01.md", "# one\n");
    snprintf(p, sizeof(p), "%s/fifo.md", f->items);
    assert_int_equal(mkfifo(p, 0600), 0);
    snprintf(p, sizeof(p), "%s/dir.md", f->items);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof(p), "%s/gone.md", f->items);
    assert_int_equal(symlink("/nonexistent/gone.md", p), 0);
    snprintf(p, sizeof(p), "%s/link.md", f->items);
    assert_int_equal(symlink("01.md", p), 0); /* a link to a file is an item */
    struct item_list l;
    alarm(5); /* discovery must not open the FIFO */
    assert_int_equal(items_discover("LLD", f->items, f->out, &l, f->err, sizeof(f->err)), 0);
    alarm(0);
    assert_int_equal(l.n, 5);
    static const char *const want[][2] = {
        {"LLD-01", NULL},
        {"LLD-DIR", "dir.md is a folder, not a regular file"},
        {"LLD-FIFO", "fifo.md is a FIFO, not a regular file"},
        {"LLD-GONE", "gone.md is a dangling link, not a regular file"},
        {"LLD-LINK", NULL},
    };
    for (size_t i = 0; i < 5; i++) {
        const struct item *it = find(&l, want[i][0]);
        assert_non_null(it);
        if (!want[i][1]) {
            assert_false(it->invalid_name);
            continue;
        }
        assert_true(it->invalid_name);
        assert_true(it->pending);
        assert_null(it->input_path);
        assert_non_null(strstr(item_fails_why(it), want[i][1]));
        assert_non_null(strstr(item_fails_why(it), f->items));
    }
    items_free(&l);
}

/*
 * Clash detection at scale (discovery sorts instead of scanning every earlier
 * item): 3,000 stems, every third of them also present in another case. The
 * timing of 50,000 items is perf/bench_discovery.sh's business.
 */
static void test_discover_clashes_at_scale(void **state)
{
    struct fx *f = *state;
    enum { N = 3000 };
    char name[64];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "item%05d.md", i);
        put(f->items, name, "# x\n");
        if (i % 3 == 0) {
            snprintf(name, sizeof(name), "ITEM%05d.md", i);
            put(f->items, name, "# x\n");
        }
    }
    struct item_list l;
    assert_int_equal(items_discover("LLD", f->items, f->out, &l, f->err, sizeof(f->err)), 0);
    assert_int_equal(l.n, N + N / 3);
    size_t valid = 0, clashes = 0;
    for (size_t i = 0; i < l.n; i++) {
        const struct item *it = &l.v[i];
        if (!it->invalid_name) {
            valid++;
            continue;
        }
        clashes++;
        /* "ITEM..." sorts first and keeps the ID; the lower-case twin fails naming it */
        assert_int_equal(strncmp(it->id, "item", 4), 0);
        char upper[64];
        snprintf(upper, sizeof(upper), "is already ITEM%.5s.md's", it->id + 4);
        assert_non_null(strstr(item_fails_why(it), upper));
    }
    assert_int_equal(valid, N);
    assert_int_equal(clashes, N / 3);
    items_free(&l);
}

static void test_discover_nonprintable_and_long_names(void **state)
{
    struct fx *f = *state;
    put(f->items, "tab\there.md", "# t\n");
    char longname[200];
    memset(longname, 'k', 150);
    strcpy(longname + 150, ".md");
    put(f->items, longname, "# k\n");
    struct item_list l;
    assert_int_equal(items_discover("LLD", f->items, f->out, &l, f->err, sizeof(f->err)), 0);
    assert_int_equal(l.n, 2);
    for (size_t i = 0; i < l.n; i++) {
        assert_true(l.v[i].invalid_name);
        assert_true(strlen(l.v[i].id) < SHM_ID_MAX);
        assert_null(strchr(l.v[i].id, '\t'));
    }
    items_free(&l);
}

static void test_pending(void **state)
{
    struct fx *f = *state;
    const char *text = "# Spec\nbody\n";
    put(f->items, "1.md", text);
    put(f->items, "2.md", text);
    put(f->items, "3.md", text);
    put(f->items, "4.md", text);
    char sha[65], other[65], err[256], p[512];
    util_sha256_hex(text, strlen(text), sha);
    memset(other, 'f', 64);
    other[64] = '\0';
    struct result_meta m = {"approved", 1, sha, "lld", "LLD-1"};
    snprintf(p, sizeof(p), "%s/LLD-1.md", f->out);
    assert_int_equal(result_write(p, &m, "done", err, sizeof(err)), 0);
    m.source_sha256 = other;
    m.item_id = "LLD-2";
    snprintf(p, sizeof(p), "%s/LLD-2.md", f->out);
    assert_int_equal(result_write(p, &m, "done", err, sizeof(err)), 0);
    put(f->out, "LLD-3.md", "no front matter, just text\n");

    struct item_list l;
    assert_int_equal(items_discover("LLD", f->items, f->out, &l, f->err, sizeof(f->err)), 0);
    assert_int_equal(l.n, 4);
    assert_false(find(&l, "LLD-1")->pending); /* matching sha */
    assert_true(find(&l, "LLD-2")->pending);  /* other input */
    assert_true(find(&l, "LLD-3")->pending);  /* no front matter */
    assert_true(find(&l, "LLD-4")->pending);  /* no result */
    items_free(&l);
}

static void test_pending_big_input(void **state)
{
    struct fx *f = *state;
    size_t n = ITEM_SPEC_MAX + 1;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    memcpy(big, "# T\n", 4);
    big[n] = '\0';
    put(f->items, "big.md", big);
    free(big);
    struct item_list l;
    assert_int_equal(items_discover("LLD", f->items, f->out, &l, f->err, sizeof(f->err)), 0);
    assert_int_equal(l.n, 1);
    assert_true(l.v[0].pending);
    assert_string_equal(l.v[0].sha256, "");
    assert_non_null(l.v[0].input_path);
    items_free(&l);
}

/* --- spec validation ---------------------------------------------------- */

#define SPEC_OK(s) assert_int_equal(item_spec_valid(s, sizeof(s) - 1), 0)
#define SPEC_BAD(s) assert_int_equal(item_spec_valid(s, sizeof(s) - 1), -EINVAL)

static void test_spec_valid(void **state)
{
    (void)state;
    SPEC_OK("# Title\nbody\n");
    SPEC_OK("# T");
    SPEC_OK("\n\n  \t\r\n# T\n");
    SPEC_OK("\r\n# T\r\nbody");
    SPEC_OK("\xef\xbb\xbf# With BOM\n");
    SPEC_OK("# caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n"); /* 2-, 3-, 4-byte sequences */
    SPEC_OK("# max \xf4\x8f\xbf\xbf\n");                      /* U+10FFFF */

    SPEC_BAD("");
    SPEC_BAD("\n\n   \n");
    SPEC_BAD("#T\n");
    SPEC_BAD("#");
    SPEC_BAD("  # indented\n");
    SPEC_BAD("Title\n# T\n");
    SPEC_BAD("## \n"); /* starts with '#' then '#' */
    SPEC_BAD("# T\0binary\n");
    SPEC_BAD("# T \xff\n");
    SPEC_BAD("# T \xc0\xaf\n");              /* overlong '/' */
    SPEC_BAD("# T \xe0\x80\xaf\n");          /* overlong 3-byte */
    SPEC_BAD("# T \xf0\x80\x80\xaf\n");      /* overlong 4-byte */
    SPEC_BAD("# T \xed\xa0\x80\n");          /* surrogate U+D800 */
    SPEC_BAD("# T \xf4\x90\x80\x80\n");      /* U+110000 */
    SPEC_BAD("# T \xe2\x82");                /* truncated sequence */
    SPEC_BAD("# T \x80\n");                  /* lone continuation */
    SPEC_BAD("\xef\xbb\xbf\xef\xbb\xbf# T"); /* only one BOM is skipped */
    assert_int_equal(item_spec_valid(NULL, 0), -EINVAL);

    size_t n = ITEM_SPEC_MAX + 1;
    char *big = malloc(n);
    memset(big, 'a', n);
    memcpy(big, "# T\n", 4);
    assert_int_equal(item_spec_valid(big, n), -EINVAL);
    assert_int_equal(item_spec_valid(big, n - 1), 0); /* exactly 1 MiB is fine */
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stem_valid),
        cmocka_unit_test(test_make_id),
        cmocka_unit_test(test_stem_from_arg),
        cmocka_unit_test_setup_teardown(test_discover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discover_missing_and_case_clash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discover_not_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discover_clashes_at_scale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discover_nonprintable_and_long_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_big_input, setup, teardown),
        cmocka_unit_test(test_spec_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
