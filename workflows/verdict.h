/*
 * verdict.h - reading the reviewer's verdict out of its free-text reply.
 *
 * Two forms are recognised, line by line (SPEC 5):
 *
 *   1. A verdict line: "VERDICT:" followed by APPROVED, REVISE or BLOCKED, in
 *      any case. Leading whitespace, heading/quote/list markers ("#", ">",
 *      "-", "+") and markdown emphasis ("*", "_", "`") anywhere on the line
 *      are ignored, so "**VERDICT: APPROVED**", "**VERDICT:** Approved" and
 *      "### Verdict: revise." all count. After the word only whitespace and
 *      punctuation may follow: "VERDICT: APPROVED with changes" is a verdict
 *      line, but not a clear one, and reads as REVISE. Any other line that
 *      starts with "VERDICT:" (e.g. "VERDICT: see above") also reads as REVISE.
 *
 *   2. A checked box from the checkbox review templates: "[x]" or "[X]"
 *      followed by APPROVED, REVISE, DISCUSS or BLOCKED, optionally
 *      emphasised ("- [x] **APPROVED** - ready to build"). A description may
 *      follow the word after a separator ("-", an en/em dash, ":", "(") or a
 *      closing emphasis marker; a word that runs on into other text
 *      ("[x] **APPROVED with changes**") reads as REVISE. DISCUSS reads as
 *      REVISE. Unchecked boxes ("[ ]") and checked boxes naming anything else
 *      ("[x] Tests pass") are not verdict lines at all.
 *
 * The last verdict line of either form wins. Code fences are not special
 * (models sometimes wrap their whole answer in one). Only a clear APPROVED
 * approves: no verdict line, or a NULL reply, is REVISE.
 */
#ifndef AGENTOS_WORKFLOWS_VERDICT_H
#define AGENTOS_WORKFLOWS_VERDICT_H

enum wf_verdict { VERDICT_REVISE = 0, VERDICT_APPROVED = 1, VERDICT_BLOCKED = 2 };

/* The verdict of a review reply (rules above). reply may be NULL. */
enum wf_verdict verdict_parse(const char *reply);

/* "APPROVED", "REVISE" or "BLOCKED"; "REVISE" for an out-of-range value. */
const char *verdict_name(enum wf_verdict v);

/* Parse a verdict name as verdict_name writes it (any case); REVISE for anything else. */
enum wf_verdict verdict_from_name(const char *name);

#endif
