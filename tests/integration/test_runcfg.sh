#!/usr/bin/env bash
# The run file (SPEC 12): --config FILE, else $AGENTOS_HOME/agentos.json. A limit of
# one item at a time in lld.N2_review at --parallel 4: the stand-in never sees two
# reviews in flight at once, while drafts still go four at a time; `keys` limits
# which keys serve a node; unknown workflows, nodes and keys exit 2 naming them.
source "$(dirname "$0")/lib.sh"
cd "$WS"
start_mock --latency-ms 150
write_credentials 3

# 1. max_concurrent 1 on the review, enforced across all workers.
cat >"$WS/one-review.json" <<'JSON'
{"nodes": {"lld.N2_review": {"max_concurrent": 1}}}
JSON
make_specs lld/pending 8
timeout 120 lld-workflow --all --parallel 4 --config "$WS/one-review.json" --no-progress \
    >"$WS/one.txt" 2>&1
check_eq "the run exits 0" 0 "$?"
check "8 approved" grep -qF '8 approved, 0 need revision, 0 failed' "$WS/one.txt"
check "the run file is named on the console" grep -qF "Run file $WS/one-review.json: 1 node setting" "$WS/one.txt"
check_eq "never two reviews in flight at once" 1 "$(mock_stat max_reviews_in_flight)"
check_eq "8 reviews" 8 "$(mock_stat reviews)"
check_le "drafts still went more than one at a time" 2 "$(mock_stat max_drafts_in_flight)"

# 2. keys: only key-3 serves the review; the default file is used without --config.
mock_reset
rm -rf lld && make_specs lld/pending 4
cat >"$AGENTOS_HOME/agentos.json" <<'JSON'
{"nodes": {"lld.N2_review": {"keys": ["key-3"]}, "issue.N2_review": {"max_concurrent": 2}}}
JSON
timeout 120 lld-workflow --all --parallel 3 --no-progress >"$WS/keys.txt" 2>&1
check_eq "the default run file: exit 0" 0 "$?"
check "it is named" grep -qF "Run file $AGENTOS_HOME/agentos.json: 2 node settings" "$WS/keys.txt"
RD=$(latest_run_dir)
check_eq "every review request went to key-3 (the audit says)" '["key-3"]' \
    "$(cat "$RD"/workflow-audit-*.jsonl | jq -s -c '[.[] | select(.event == "llm_request" and .node == "N2_review") | .key] | unique')"
check_eq "4 reviews" 4 "$(mock_stat reviews)"
check_le "the drafts were spread over the other keys too" 1 \
    "$(cat "$RD"/workflow-audit-*.jsonl | jq -s '[.[] | select(.event == "llm_request" and .node == "N1_design" and .key != "key-3")] | length')"
rm "$AGENTOS_HOME/agentos.json"

# 3. configuration errors: exit 2, one line naming the file and the thing.
bad() { # bad DESCRIPTION JSON EXPECTED-TEXT
    printf '%s\n' "$2" >"$WS/bad.json"
    timeout 10 lld-workflow --all --fresh --config "$WS/bad.json" >"$WS/bad.txt" 2>&1
    check_eq "$1: exit 2" 2 "$?"
    check "$1: names it" grep -qF -- "$3" "$WS/bad.txt"
    check "$1: one line" test "$(wc -l <"$WS/bad.txt")" -eq 1
}
bad "unknown node" '{"nodes": {"lld.N9_x": {"max_concurrent": 1}}}' 'workflow lld has no node N9_x'
bad "unknown workflow" '{"nodes": {"nosuch.N2_review": {"max_concurrent": 1}}}' 'no workflow nosuch'
bad "unknown key" '{"nodes": {"lld.N2_review": {"keys": ["key-9"]}}}' 'no key "key-9" in the credentials'
bad "misspelt field" '{"nodes": {"lld.N2_review": {"max_concurent": 1}}}' 'max_concurent'
timeout 10 lld-workflow --all --fresh --config "$WS/nonexistent.json" >"$WS/bad.txt" 2>&1
check_eq "a --config file that does not exist: exit 2" 2 "$?"
check "naming it" grep -qF 'nonexistent.json' "$WS/bad.txt"
check "no run folder was made for a configuration error" \
    test "$(ls "$AGENTOS_HOME/logs/parallel" | wc -l)" -eq 2
finish
