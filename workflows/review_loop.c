/*
 * review_loop.c - the draft / review / revise node functions shared by the
 * built-in workflows (see review_loop.h for the graph and the state keys).
 *
 * Every node reads what it needs from it->state and writes its product back
 * before returning, so the runtime's checkpoint after the node is the whole
 * truth: nothing here is static, and a node re-run on resume sends exactly
 * the request the interrupted run would have sent.
 */
#include "workflows/review_loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/items.h"
#include "runtime/result.h"
#include "shm/util.h"
#include "workflows/prompt.h"
#include "workflows/verdict.h"

static const char *state_str(const struct wf_item *it, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(it->state, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/*
 * Review rounds so far, from the state. The state comes from a checkpoint
 * file, so it is checked like any outside input: a negative, fractional or
 * absurd count (a damaged or forged checkpoint) would otherwise defeat
 * --max-reviews and loop the reviewer. -EBADMSG with the reason set.
 */
#define REVIEW_ROUNDS_MAX 100 /* --max-reviews is at most 100 */

static int state_rounds(struct wf_item *it, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(it->state, "rounds");
    *out = 0;
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > REVIEW_ROUNDS_MAX ||
        v->valuedouble != (double)(int)v->valuedouble) {
        util_strlcpy(it->reason, "checkpoint state has a bad \"rounds\" (not 0-100)",
                     sizeof(it->reason));
        return -EBADMSG;
    }
    *out = (int)v->valuedouble;
    return 0;
}

static int state_set(struct wf_item *it, const char *key, cJSON *v)
{
    if (!v) {
        util_strlcpy(it->reason, "out of memory", sizeof(it->reason));
        return -ENOMEM;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(it->state, key);
    cJSON_AddItemToObject(it->state, key, v);
    return 0;
}

/* A state key an earlier node must have written; its absence means a bad checkpoint. */
static const char *state_need(struct wf_item *it, const char *key)
{
    const char *s = state_str(it, key);
    if (!s)
        snprintf(it->reason, sizeof(it->reason), "checkpoint state has no \"%s\"", key);
    return s;
}

/*
 * Render prompt `tmpl` with the item's state and send it with `role`. On
 * failure it->reason is filled, except for -ECANCELED (shutdown is not a
 * failure).
 */
static int ask(struct wf_item *it, const char *node, enum llm_role role, const char *tmpl,
               int round, char **reply)
{
    char round_s[16], max_s[16], err[256] = "";
    snprintf(round_s, sizeof(round_s), "%d", round);
    snprintf(max_s, sizeof(max_s), "%d", it->max_reviews);
    const char *pairs[][2] = {
        {"id", it->id},
        {"workflow", it->wf ? it->wf->name : NULL},
        {"spec", state_str(it, "spec")},
        {"draft", state_str(it, "draft")},
        {"review", state_str(it, "review")},
        {"round", round_s},
        {"max_reviews", max_s},
    };
    const char *vars[2 * (sizeof(pairs) / sizeof(pairs[0])) + 1];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        if (!pairs[i][1])
            continue; /* absent: the placeholder stays visible rather than vanishing */
        vars[n++] = pairs[i][0];
        vars[n++] = pairs[i][1];
    }
    vars[n] = NULL;

    char *prompt = NULL;
    int r = prompt_render(it->home, it->prompts_dir, tmpl, vars, &prompt, err, sizeof(err));
    if (r < 0) {
        util_strlcpy(it->reason, err, sizeof(it->reason));
        return r;
    }
    *reply = NULL;
    r = llm_complete(it->llm, role, node, prompt, reply, err, sizeof(err));
    free(prompt);
    if (r == -ECANCELED) {
        it->reason[0] = '\0';
        return r;
    }
    if (r < 0) {
        if (err[0])
            util_strlcpy(it->reason, err, sizeof(it->reason));
        else
            snprintf(it->reason, sizeof(it->reason), "LLM request failed: %s", strerror(-r));
        free(*reply);
        *reply = NULL;
        return r;
    }
    if (!*reply && !(*reply = strdup(""))) {
        util_strlcpy(it->reason, "out of memory", sizeof(it->reason));
        return -ENOMEM;
    }
    return 0;
}

/* Store a reply under key, taking ownership of it. */
static int store_reply(struct wf_item *it, const char *key, char *reply)
{
    cJSON *v = cJSON_CreateString(reply);
    free(reply);
    return state_set(it, key, v);
}

/*
 * Why the spec could not be read, in the item's reason: its text is the
 * user's to fix ("Invalid spec format", SPEC 4), but a file that vanished,
 * cannot be read or is not a file at all says so instead.
 */
static int spec_unreadable(struct wf_item *it, int r)
{
    const char *p = it->input_path ? it->input_path : "(none)";
    if (r == -EFBIG)
        util_strlcpy(it->reason, "Invalid spec format", sizeof(it->reason));
    else if (r == -ENOENT)
        util_errf(it->reason, sizeof(it->reason),
                  "spec %s is gone (removed or renamed after the run found it)", p);
    else if (r == -EINVAL)
        util_errf(it->reason, sizeof(it->reason), "spec %s is %s, not a regular file", p,
                  util_path_kind(p));
    else
        util_errf(it->reason, sizeof(it->reason), "could not read spec %s: %s", p, strerror(-r));
    return r == -EFBIG ? -EINVAL : r;
}

int review_node_load(struct wf_item *it, const struct wf_review_cfg *cfg)
{
    char *text = NULL;
    size_t len = 0;
    int r =
        it->input_path ? util_read_file(it->input_path, ITEM_SPEC_MAX + 1, &text, &len) : -ENOENT;
    if (r < 0)
        return spec_unreadable(it, r);
    if (item_spec_valid(text, len) != 0) {
        free(text);
        util_strlcpy(it->reason, "Invalid spec format", sizeof(it->reason));
        return -EINVAL;
    }
    /* The result records the hash of this text, not of what discovery saw: an edit in
     * between must not leave B's design under A's hash (the next run would redo it). */
    char sha[65];
    if (util_sha256_hex(text, len, sha) == 0)
        util_strlcpy(it->source_sha256, sha, sizeof(it->source_sha256));
    r = store_reply(it, "spec", text);
    if (r == 0)
        r = state_set(it, "rounds", cJSON_CreateNumber(0));
    if (r < 0)
        return r;
    it->next = cfg->draft_node;
    return 0;
}

int review_node_draft(struct wf_item *it, const struct wf_review_cfg *cfg)
{
    char *reply;
    if (!state_need(it, "spec"))
        return -EINVAL;
    int r = ask(it, cfg->draft_node, LLM_ROLE_DRAFT, cfg->draft_prompt, 0, &reply);
    if (r == 0)
        r = store_reply(it, "draft", reply);
    if (r < 0)
        return r;
    it->next = cfg->review_node;
    return 0;
}

int review_node_review(struct wf_item *it, const struct wf_review_cfg *cfg)
{
    char *reply;
    if (!state_need(it, "spec") || !state_need(it, "draft"))
        return -EINVAL;
    int rounds;
    if (state_rounds(it, &rounds) < 0)
        return -EBADMSG;
    rounds++;
    int r = ask(it, cfg->review_node, LLM_ROLE_REVIEW, cfg->review_prompt, rounds, &reply);
    if (r < 0)
        return r;
    enum wf_verdict v = verdict_parse(reply);
    r = store_reply(it, "review", reply);
    if (r == 0)
        r = state_set(it, "verdict", cJSON_CreateString(verdict_name(v)));
    if (r == 0)
        r = state_set(it, "rounds", cJSON_CreateNumber(rounds));
    if (r < 0)
        return r;
    log_printf(it->log, "Review round %d: %s", rounds, verdict_name(v));
    if (v == VERDICT_APPROVED || rounds >= it->max_reviews)
        it->next = cfg->finalize_node;
    else
        it->next = cfg->revise_node;
    return 0;
}

int review_node_revise(struct wf_item *it, const struct wf_review_cfg *cfg)
{
    char *reply;
    if (!state_need(it, "spec") || !state_need(it, "draft") || !state_need(it, "review"))
        return -EINVAL;
    int rounds;
    if (state_rounds(it, &rounds) < 0)
        return -EBADMSG;
    int r = ask(it, cfg->revise_node, LLM_ROLE_DRAFT, cfg->revise_prompt, rounds, &reply);
    if (r == 0)
        r = store_reply(it, "draft", reply);
    if (r < 0)
        return r;
    it->next = cfg->review_node;
    return 0;
}

/* The result body: the draft, and for a needs-revision result the review that held it back. */
static char *result_body(const char *draft, const char *review, int approved)
{
    size_t dl = strlen(draft);
    const char *sep = dl > 0 && draft[dl - 1] == '\n' ? "" : "\n";
    if (approved || !review)
        return util_asprintf("%s%s", draft, sep);
    size_t rl = strlen(review);
    return util_asprintf("%s%s\n## Last review\n\n%s%s", draft, sep, review,
                         rl > 0 && review[rl - 1] == '\n' ? "" : "\n");
}

int review_node_finalize(struct wf_item *it, const struct wf_review_cfg *cfg)
{
    (void)cfg;
    const char *draft = state_need(it, "draft");
    if (!draft)
        return -EINVAL;
    int approved = verdict_from_name(state_str(it, "verdict")) == VERDICT_APPROVED;
    int rounds;
    if (state_rounds(it, &rounds) < 0)
        return -EBADMSG;
    char *body = result_body(draft, state_str(it, "review"), approved);
    if (!body) {
        util_strlcpy(it->reason, "out of memory", sizeof(it->reason));
        return -ENOMEM;
    }
    struct result_meta m = {
        .status = approved ? "approved" : "needs-revision",
        .rounds = rounds,
        .source_sha256 = it->source_sha256,
        .workflow = it->wf ? it->wf->name : "",
        .item_id = it->id,
    };
    char err[256] = "";
    int r = result_write(it->out_path, &m, body, err, sizeof(err));
    free(body);
    if (r < 0) {
        if (err[0]) /* result_write names the step that failed (folder or file) */
            util_strlcpy(it->reason, err, sizeof(it->reason));
        else
            snprintf(it->reason, sizeof(it->reason), "could not write result %s: %s", it->out_path,
                     strerror(-r));
        return r;
    }
    it->outcome = approved ? WF_OUTCOME_APPROVED : WF_OUTCOME_NEEDS_REVISION;
    it->rounds = rounds;
    it->next = NULL;
    return 0;
}
