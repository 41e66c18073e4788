/*
 * ws_private.h - what ws.c shares with ws_graph.c and with no other module:
 * the error context and the quoting of file text in messages, so that every
 * workstream error is worded the same way whichever file reports it.
 *
 * Everything quoted from the file in a message (an unknown dependency, a
 * files entry) is cut and has non-printable bytes replaced, so an error stays
 * one line; IDs are quoted as they are because only valid ones are kept.
 */
#ifndef AGENTOS_WORKFLOWS_WS_PRIVATE_H
#define AGENTOS_WORKFLOWS_WS_PRIVATE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "workflows/workstream/ws.h"

#define WS_SHOWN_MAX 80 /* longest piece of file text quoted in a message */

struct ws_ctx {
    const char *name; /* file name for messages */
    char *err;        /* may be NULL (or errlen 0): no message */
    size_t errlen;
    struct workstream *ws; /* the one being loaded; NULL for checks on a loaded one */
};

/* Set x->err to "<name>: <message>". Returns -EINVAL, for "return ws_fail(...)". */
__attribute__((format(printf, 2, 3))) int ws_fail(struct ws_ctx *x, const char *fmt, ...);

/*
 * Copy file text s into out for a message: printable ASCII kept, other bytes
 * '?', cut after WS_SHOWN_MAX characters with "...". Returns out.
 */
const char *ws_shown(char out[WS_SHOWN_MAX + 4], const char *s);

/*
 * ws_exec.c: the `execution` block (after ${env...} expansion), a step's
 * timeout and retries, and step_groups (once the steps are linked: lookup
 * finds a step by id, SIZE_MAX when there is none). 0 or -errno (reported).
 */
int ws_exec_parse(struct ws_ctx *x, cJSON *exec);
int ws_exec_step(struct ws_ctx *x, struct ws_step *st);
int ws_exec_groups(struct ws_ctx *x, const cJSON *groups,
                   size_t (*lookup)(const void *keys, size_t n, const char *id), const void *keys);
void ws_exec_free(struct workstream *ws);

#endif
