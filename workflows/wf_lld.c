/*
 * wf_lld.c - the "lld" workflow: turn a design spec into a reviewed
 * low-level design (SPEC 5). N0_load -> N1_design -> N2_review ->
 * (N3_revise -> N2_review)* -> N4_finalize, on the shared review loop.
 */
#include "workflows/review_loop.h"
#include "workflows/workflows.h"

static const struct wf_review_cfg lld_cfg = {
    .load_node = "N0_load",
    .draft_node = "N1_design",
    .review_node = "N2_review",
    .revise_node = "N3_revise",
    .finalize_node = "N4_finalize",
    .draft_prompt = "lld_design.md",
    .review_prompt = "lld_review.md",
    .revise_prompt = "lld_revise.md",
};

static int lld_load(struct wf_item *it)
{
    return review_node_load(it, &lld_cfg);
}

static int lld_design(struct wf_item *it)
{
    return review_node_draft(it, &lld_cfg);
}

static int lld_review(struct wf_item *it)
{
    return review_node_review(it, &lld_cfg);
}

static int lld_revise(struct wf_item *it)
{
    return review_node_revise(it, &lld_cfg);
}

static int lld_finalize(struct wf_item *it)
{
    return review_node_finalize(it, &lld_cfg);
}

static const struct wf_node lld_nodes[] = {
    {"N0_load", lld_load},     {"N1_design", lld_design},     {"N2_review", lld_review},
    {"N3_revise", lld_revise}, {"N4_finalize", lld_finalize},
};

const struct wf_desc wf_lld = {
    .name = "lld",
    .id_prefix = "LLD",
    .items_dir = "lld/pending",
    .out_dir = "lld/done",
    .noun = "item",
    .roles = CRED_ROLE_DRAFT | CRED_ROLE_REVIEW,
    .outcomes = 1u << PROG_APPROVED | 1u << PROG_NEEDS_REVISION | 1u << PROG_FAILED,
    .flags = WF_REVIEW_ROUNDS,
    .nodes = lld_nodes,
    .node_count = sizeof(lld_nodes) / sizeof(lld_nodes[0]),
};
