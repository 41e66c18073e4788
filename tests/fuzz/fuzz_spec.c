/*
 * fuzz_spec.c - libFuzzer target for item input validation.
 *
 * Each input is an item spec (item_spec_valid: 0 or -EINVAL, and 0 only for
 * text without NUL that fits ITEM_SPEC_MAX) and, as a C string, a
 * command-line ID argument (item_stem_from_arg: a valid stem or -EINVAL with
 * a one-line message; a stem it returns must pass item_stem_valid and make an
 * ID with item_make_id).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/items.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_spec(const uint8_t *data, size_t size)
{
    int rc = item_spec_valid((const char *)data, size);
    if (rc != 0 && rc != -EINVAL)
        abort();
    if (rc == 0 && (size > ITEM_SPEC_MAX || memchr(data, '\0', size)))
        abort();
}

static void fuzz_arg(const char *arg)
{
    char stem[ITEM_STEM_MAX + 1], err[256] = "", id[SHM_ID_MAX];
    int rc = item_stem_from_arg("LLD", arg, stem, sizeof(stem), err, sizeof(err));
    if (rc == 0) {
        if (!item_stem_valid(stem) || item_make_id("LLD", stem, id, sizeof(id)) != 0)
            abort();
    } else if (rc != -EINVAL || !err[0] || strchr(err, '\n')) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_spec(data, size);
    char *arg = malloc(size + 1);
    if (!arg)
        return 0;
    memcpy(arg, data, size);
    arg[size] = '\0';
    fuzz_arg(arg);
    free(arg);
    return 0;
}
