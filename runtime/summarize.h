/*
 * summarize.h - `agentos-run summarize RUN_DIR...` (SPEC 3, 13): one summary
 * of several runs of one batch (the shards of a Slurm job array, a run and
 * its re-run), from their run folders' summary.json files.
 *
 *   agentos-run summarize [--json] [--out FILE] RUN_DIR...
 *
 * The text is the run's own summary (runtime/summary.c renders both: counts,
 * speed-up, one line per item), then the runs it came from, the requests and
 * their 429s, and tokens and cost when the runs' summaries carry them. --json
 * prints the merged document instead of the text; --out FILE also writes it
 * to FILE (atomically). Nothing is written by default: summarize only reads.
 *
 * Merging: an item that appears in several runs (a shard re-run after its
 * task died) counts once, with the outcome of the run that ended last. The
 * wall time is from the first run's start to the last run's end, the
 * sequential time the sum of the items' times, and the efficiency is against
 * the sum of the runs' widths. Exit status: 0 every item processed, 1 one did
 * not (failed, skipped, interrupted, never started), 2 usage or an unreadable
 * or mismatched summary.json (the message names the folder).
 */
#ifndef AGENTOS_RUNTIME_SUMMARIZE_H
#define AGENTOS_RUNTIME_SUMMARIZE_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "runtime/summary.h"
#include "runtime/wf.h"

/* Several runs merged. */
struct summarize_merge {
    struct summary_view view;  /* what summary_render draws (items: malloc'd) */
    cJSON *doc;                /* the merged summary.json */
    unsigned runs;             /* run folders read */
    unsigned repeated;         /* items that appeared in more than one run */
    double requests, http_429; /* sums over the runs */
    double input_tokens, output_tokens, cost;
    int have_tokens, have_cost;
};

/* The workflow of a summary.json's "workflow" name, or NULL (agentos-run passes wf_find). */
typedef const struct wf_desc *(*summarize_find_fn)(const char *name);

/*
 * Read <dir>/summary.json for each of dirs[0..n) and merge them into m.
 * 0, or -errno with a one-line err naming the folder and what is wrong.
 */
int summarize_merge(const char *const *dirs, int n, summarize_find_fn find,
                    struct summarize_merge *m, char *err, size_t errlen);

void summarize_free(struct summarize_merge *m);

/* Print the merged summary as text, each line prefixed "[COORDINATOR] ". */
void summarize_print(const struct summarize_merge *m, FILE *out);

/* The whole subcommand: argv[0] is "summarize". Returns the exit status. */
int summarize_main(int argc, char **argv, summarize_find_fn find);

#endif
