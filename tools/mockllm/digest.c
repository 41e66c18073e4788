/*
 * digest.c - counting tables of SHA-256 digests for agentos-mockllm.
 *
 * The mock remembers prompts by their digest, never their text: how often each
 * prompt was served (prompts_sha256_repeats), which prompts' replies reached the
 * client (delivered_repeats), and how often each heading was reviewed (the
 * MOCK-REVISE-ONCE marker). A table is open addressing with linear probing over the
 * digest's first 8 bytes, kept at most half full; it only grows, and is freed whole
 * by POST /stats/reset. Callers hold mock_st.mu.
 */
#include "tools/mockllm/mockllm.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
void mock_sha256(const void *data, size_t len, unsigned char out[32])
{
    if (EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL) != 1)
        memset(out, 0, 32);
}

static int mock_dig_grow(struct mock_dig_table *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 64;
    struct mock_dig_slot *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return -ENOMEM;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->s[i].n)
            continue;
        uint64_t h;
        memcpy(&h, t->s[i].d, sizeof(h));
        size_t j = h & (ncap - 1);
        while (ns[j].n)
            j = (j + 1) & (ncap - 1);
        ns[j] = t->s[i];
    }
    free(t->s);
    t->s = ns;
    t->cap = ncap;
    return 0;
}

uint32_t mock_dig_bump(struct mock_dig_table *t, const unsigned char d[32])
{
    if ((t->used + 1) * 2 > t->cap && mock_dig_grow(t) != 0)
        return 0;
    uint64_t h;
    memcpy(&h, d, sizeof(h));
    size_t i = h & (t->cap - 1);
    while (t->s[i].n && memcmp(t->s[i].d, d, 32) != 0)
        i = (i + 1) & (t->cap - 1);
    if (!t->s[i].n) {
        memcpy(t->s[i].d, d, 32);
        t->used++;
    }
    return t->s[i].n++;
}

uint32_t mock_dig_count(const struct mock_dig_table *t, const unsigned char d[32])
{
    if (!t->cap)
        return 0;
    uint64_t h;
    memcpy(&h, d, sizeof(h));
    size_t i = h & (t->cap - 1);
    while (t->s[i].n && memcmp(t->s[i].d, d, 32) != 0)
        i = (i + 1) & (t->cap - 1);
    return t->s[i].n;
}

void mock_dig_clear(struct mock_dig_table *t)
{
    free(t->s);
    memset(t, 0, sizeof(*t));
}
