/*
 * testutil.h - small helpers shared by the unit tests: a scratch folder under
 * /tmp and its removal (nftw, no shell). Header-only: one binary per test file.
 */
#ifndef AGENTOS_TESTS_TESTUTIL_H
#define AGENTOS_TESTS_TESTUTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

/* Create /tmp/<name>.XXXXXX into buf. 0 or -1. */
static inline int test_tmpdir(char *buf, size_t len, const char *name)
{
    if ((size_t)snprintf(buf, len, "/tmp/%s.XXXXXX", name) >= len)
        return -1;
    return mkdtemp(buf) ? 0 : -1;
}

static inline int test_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Remove dir and everything below it. 0 or -1. */
static inline int test_rmtree(const char *dir)
{
    return nftw(dir, test_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
