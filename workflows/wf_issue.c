/*
 * wf_issue.c - the "issue" workflow: turn a rough issue description into
 * a reviewed, self-contained issue brief (SPEC 5). N0_load -> N1_draft -> N2_review ->
 * (N3_revise -> N2_review)* -> N4_finalize, on the shared review loop.
 */
#include "workflows/review_loop.h"
#include "workflows/workflows.h"

static const struct wf_review_cfg issue_cfg = {
    .load_node = "N0_load",
    .draft_node = "N1_draft",
    .review_node = "N2_review",
    .revise_node = "N3_revise",
    .finalize_node = "N4_finalize",
    .draft_prompt = "issue_draft.md",
    .review_prompt = "issue_review.md",
    .revise_prompt = "issue_revise.md",
};

static int issue_load(struct wf_item *it)
{
    return review_node_load(it, &issue_cfg);
}

static int issue_draft(struct wf_item *it)
{
    return review_node_draft(it, &issue_cfg);
}

static int issue_review(struct wf_item *it)
{
    return review_node_review(it, &issue_cfg);
}

static int issue_revise(struct wf_item *it)
{
    return review_node_revise(it, &issue_cfg);
}

static int issue_finalize(struct wf_item *it)
{
    return review_node_finalize(it, &issue_cfg);
}

static const struct wf_node issue_nodes[] = {
    {"N0_load", issue_load},     {"N1_draft", issue_draft},       {"N2_review", issue_review},
    {"N3_revise", issue_revise}, {"N4_finalize", issue_finalize},
};

const struct wf_desc wf_issue = {
    .name = "issue",
    .id_prefix = "ISSUE",
    .items_dir = "issues/pending",
    .out_dir = "issues/done",
    .noun = "item",
    .roles = CRED_ROLE_DRAFT | CRED_ROLE_REVIEW,
    .outcomes = 1u << PROG_APPROVED | 1u << PROG_NEEDS_REVISION | 1u << PROG_FAILED,
    .flags = WF_REVIEW_ROUNDS,
    .nodes = issue_nodes,
    .node_count = sizeof(issue_nodes) / sizeof(issue_nodes[0]),
};
