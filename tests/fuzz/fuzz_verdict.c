/*
 * fuzz_verdict.c - libFuzzer target for the reviewer-verdict parser.
 *
 * Each input is a review reply (as a C string: the LLM client hands the
 * workflow NUL-terminated text). verdict_parse must return one of the three
 * verdicts, verdict_name must name it, and verdict_from_name must read that
 * name back; verdict_from_name of the raw input must also be a verdict.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workflows/verdict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_is_verdict(enum wf_verdict v)
{
    return v == VERDICT_REVISE || v == VERDICT_APPROVED || v == VERDICT_BLOCKED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *reply = malloc(size + 1);
    if (!reply)
        return 0;
    memcpy(reply, data, size);
    reply[size] = '\0';
    enum wf_verdict v = verdict_parse(reply);
    if (!fuzz_is_verdict(v) || verdict_from_name(verdict_name(v)) != v)
        abort();
    if (!fuzz_is_verdict(verdict_from_name(reply)))
        abort();
    free(reply);
    return 0;
}
