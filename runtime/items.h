/*
 * items.h - finding the items of a workflow, validating them, and deciding
 * which are pending.
 *
 * Items are the *.md files of the items folder, in name order. A stem (file
 * name without .md) is valid when it is 1..64 characters of [A-Za-z0-9_-];
 * its ID is "<PREFIX>-<STEM upper-cased>". An entry that cannot be an item is
 * kept in the list with invalid_name set, no path derived from it, and the
 * reason it fails in `why`: an invalid stem, a stem whose ID another file
 * already has (names differing only in case), or something that is not a
 * regular file (a FIFO, a folder, a dangling link). An item is pending when
 * <out>/<ID>.md is missing or its front matter's source_sha256 differs from
 * the SHA-256 of the input's bytes.
 */
#ifndef AGENTOS_RUNTIME_ITEMS_H
#define AGENTOS_RUNTIME_ITEMS_H

#include <stddef.h>
#include <stdint.h>

#include "shm/shm_layout.h"

#define ITEM_STEM_MAX 64
#define ITEM_SPEC_MAX (1024 * 1024)

/*
 * One item of a run. Items discovered in a folder fill the first group; a
 * workflow that brings its own items (wf_desc.load) fills the rest as well.
 */
struct item {
    char id[SHM_ID_MAX];          /* "LLD-42"; for an invalid name: the raw name, cut */
    char stem[ITEM_STEM_MAX + 1]; /* "42"; empty when invalid_name */
    char *input_path;             /* <items>/<stem>.md; NULL when invalid_name */
    char *out_path;               /* <out>/<ID>.md; NULL when invalid_name */
    char sha256[65];              /* of the input bytes; "" if unreadable */
    int invalid_name; /* it cannot run: fails at once with `why`; no path derived from it */
    char *why;        /* that failure (malloc'd); NULL: "Invalid item name" */
    int pending;
    uint32_t roles; /* CRED_ROLE_* bits its nodes may need; 0 = it sends no LLM request */
    /* Items with dependencies: */
    size_t *deps; /* indexes of the items that must succeed first (malloc'd) */
    size_t ndeps;
    unsigned wave;      /* 0 without dependencies, else 1 + the largest wave of its deps */
    const void *def;    /* the workflow's own definition of the item; opaque to the runtime */
    const char *detail; /* --dry-run's second column ("run", "prompt"); NULL: input_path */
    /* Run settings of the item, honoured by the runtime for any workflow (0 = none): */
    long timeout_s;   /* a node running longer fails it; 0 = the run's --timeout-per-step */
    unsigned retries; /* runs again from its checkpoint after a failure, this many times */
    unsigned group;   /* 1 + index into the plan's groups (struct item_group); 0 = none */
    size_t after;     /* 1 + index of an item that must have ended first, whatever its
                         outcome (a sequential group's order); 0 = none */
};

/*
 * A group of items with limits of its own (a workstream's step_groups): at
 * most max_concurrent of its items run at once (0 = no limit), and once its
 * first item has started, timeout_s later (0 = never) its running items are
 * stopped and failed and the ones not started fail without running.
 */
struct item_group {
    char name[SHM_ID_MAX];
    uint32_t max_concurrent;
    long timeout_s;
};

struct item_list {
    struct item *v;
    size_t n;
};

/* 1 if stem is a valid item stem. */
int item_stem_valid(const char *stem);

/*
 * Build the ID for a stem: prefix "LLD" + "42" -> "LLD-42". 0 or -EINVAL.
 */
int item_make_id(const char *prefix, const char *stem, char *out, size_t outlen);

/*
 * Turn a command-line ID argument ("42", "LLD-42", "lld-42") into a stem.
 * -EINVAL (with err naming the argument) for anything that is not a valid
 * stem, e.g. "../x".
 */
int item_stem_from_arg(const char *prefix, const char *arg, char *stem, size_t stemlen, char *err,
                       size_t errlen);

/*
 * List every *.md in items_dir (sorted), with IDs, paths, sha256 and pending.
 * -ENOENT (err names the folder) when items_dir does not exist.
 */
int items_discover(const char *prefix, const char *items_dir, const char *out_dir,
                   struct item_list *out, char *err, size_t errlen);

void items_free(struct item_list *l);

/* Why an item with invalid_name set fails: its `why`, else "Invalid item name". */
static inline const char *item_fails_why(const struct item *it)
{
    return it->why ? it->why : "Invalid item name";
}

/*
 * Validate spec text: valid UTF-8, at most ITEM_SPEC_MAX bytes, no NUL, and
 * the first non-blank line starts with "# ". 0 or -EINVAL.
 */
int item_spec_valid(const char *text, size_t len);

#endif
