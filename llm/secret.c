/*
 * secret.c - API keys in pages of their own, out of core dumps (see
 * secret.h). One anonymous private mapping per secret: the size is the
 * string's length rounded up to whole pages, recomputed at free from the
 * string itself (a secret never contains a NUL). The mapping, and its
 * DONTDUMP mark, are inherited by forked workers.
 */
#include "llm/secret.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t secret_span(size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return (len + 1 + page - 1) / page * page;
}

char *secret_dup(const char *s)
{
    size_t len = strlen(s), span = secret_span(len);
    char *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* best effort: a kernel without MADV_DONTDUMP still gets the non-dumpable process */
    (void)madvise(p, span, MADV_DONTDUMP);
    memcpy(p, s, len + 1);
    return p;
}

void secret_free(char *s)
{
    if (!s)
        return;
    size_t len = strlen(s);
    explicit_bzero(s, len);
    munmap(s, secret_span(len));
}
