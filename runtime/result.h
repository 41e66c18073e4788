/*
 * result.h - result files: <out>/<ID>.md with a front-matter block, written
 * atomically (temporary file + rename) so a crash never leaves half a result.
 *
 *   ---
 *   status: approved | needs-revision
 *   rounds: 2
 *   source_sha256: <64 hex>
 *   workflow: lld
 *   item: LLD-42
 *   ---
 *   <body>
 */
#ifndef AGENTOS_RUNTIME_RESULT_H
#define AGENTOS_RUNTIME_RESULT_H

#include <stddef.h>

struct result_meta {
    const char *status; /* "approved" or "needs-revision" */
    int rounds;
    const char *source_sha256;
    const char *workflow;
    const char *item_id;
};

/* Write the result atomically (creating out's folder 0700 if needed). 0 or -errno. */
int result_write(const char *out_path, const struct result_meta *m, const char *body, char *err,
                 size_t errlen);

/* What a result's front matter says. */
struct result_info {
    char sha256[65]; /* source_sha256 */
    char status[20]; /* "approved", "needs-revision", "" if absent */
    int rounds;
};

/* Parse an existing result's front matter. 0, -ENOENT (no file), -EINVAL (malformed). */
int result_read(const char *out_path, struct result_info *ri);

/*
 * Read source_sha256 from an existing result's front matter into out[65].
 * 0, -ENOENT (no file), or -EINVAL (no front matter / field).
 */
int result_read_sha(const char *out_path, char out[65]);

#endif
