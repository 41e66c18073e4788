#!/usr/bin/env bash
# An empty or blank reply is an error of that request, never a design (issue 9,
# finding 14): the stand-in's MOCK-EMPTY answers 200 with the empty string; the
# item is retried like a 5xx and then fails with "empty reply from <key>", no
# result is written, its checkpoint is kept, and the other items are approved.
source "$(dirname "$0")/lib.sh"
cd "$WS"
start_mock --latency-ms 10
write_credentials 1
make_specs lld/pending 2
printf '# Empty\n\nMOCK-EMPTY\n' >lld/pending/03.md
timeout 60 lld-workflow --all --parallel 2 --no-progress >"$WS/o.txt" 2>&1
check_eq "the run exits 1 (one item failed)" 1 "$?"
check "the item fails with the reason" \
    grep -qxF '[LLD-03] FAILED: LLM request failed after 5 attempts: empty reply from key-1' "$WS/o.txt"
check_eq "it was tried 5 times, all empty" 5 "$(mock_stats | jq '.completions - 4')"
check "no result for it" test ! -e lld/done/LLD-03.md
check_eq "its checkpoint is kept (the only one)" 1 "$(ckpt_files | wc -l)"
check "the other two are approved" grep -q '2 approved, 0 need revision, 1 failed' "$WS/o.txt"
run=$(latest_run_dir)
check "the audit names the empty reply" grep -qF '"error":"empty reply from key-1"' "$run/workflow-audit-LLD-03.jsonl"
finish
