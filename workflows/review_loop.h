/*
 * review_loop.h - the draft / review / revise loop shared by the built-in
 * workflows (SPEC 5):
 *
 *   load -> draft -> review --APPROVED, or no rounds left--> finalize
 *                      ^  \--otherwise--> revise --/
 *
 * A workflow describes its node names and prompt templates in a
 * struct wf_review_cfg and wraps each review_node_* in a one-line node
 * function (wf_node.run takes only the item). All progress lives in
 * it->state, so a node re-run after a crash or on resume sees exactly what
 * the previous node left:
 *
 *   "spec"    the item's text, as loaded (resume never rereads the input)
 *   "rounds"  review rounds done
 *   "draft"   the current draft
 *   "review"  the last review reply
 *   "verdict" the last verdict, as verdict_name() writes it
 *
 * Prompt templates get the placeholders {{id}}, {{workflow}}, {{spec}},
 * {{draft}}, {{review}}, {{round}} (the review round being asked for or
 * just done) and {{max_reviews}}.
 */
#ifndef AGENTOS_WORKFLOWS_REVIEW_LOOP_H
#define AGENTOS_WORKFLOWS_REVIEW_LOOP_H

#include "runtime/wf.h"

struct wf_review_cfg {
    const char *load_node, *draft_node, *review_node, *revise_node, *finalize_node;
    const char *draft_prompt, *review_prompt, *revise_prompt; /* template file names */
};

/*
 * Read it->input_path, validate it (item_spec_valid) and store it as "spec"
 * with "rounds" 0. -EINVAL with reason "Invalid spec format" when the input
 * is unreadable, too big or not a spec.
 */
int review_node_load(struct wf_item *it, const struct wf_review_cfg *cfg);

/*
 * Ask the drafter for the first draft ("draft"). LLM and prompt errors fill
 * it->reason and are returned; -ECANCELED is returned with no reason.
 */
int review_node_draft(struct wf_item *it, const struct wf_review_cfg *cfg);

/*
 * Ask the reviewer about the draft; store "review", "verdict", "rounds"+1
 * and log "Review round N: VERDICT". Next is finalize when approved or when
 * it->max_reviews rounds are done, else revise. Errors as review_node_draft.
 */
int review_node_review(struct wf_item *it, const struct wf_review_cfg *cfg);

/* Ask the drafter to revise the draft after the review. Errors as review_node_draft. */
int review_node_revise(struct wf_item *it, const struct wf_review_cfg *cfg);

/*
 * Write the result (front matter + final draft; a needs-revision result also
 * carries the last review under "## Last review"), set it->outcome and
 * it->rounds, and end the item. A write failure fills the reason.
 */
int review_node_finalize(struct wf_item *it, const struct wf_review_cfg *cfg);

#endif
