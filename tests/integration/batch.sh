# A whole batch (sourced by test_lld_batch.sh and test_issue_batch.sh with
# PROG, PREFIX, ITEMS, OUT, WFNAME set): 10 specs, 2 that the reviewer always
# sends back, 1 invalid; --parallel 3.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_mock --latency-ms 150
write_credentials 3
cd "$WS"
make_specs "$ITEMS" 7
printf '# Spec r1\n\nMOCK-REVISE-ALWAYS\n' >"$ITEMS/r1.md"
printf '# Spec r2\n\nMOCK-REVISE-ALWAYS please\n' >"$ITEMS/r2.md"
printf 'no heading here\n' >"$ITEMS/bad.md"

timeout 120 "$PROG" --all --parallel 3 >"$WS/out.txt" 2>"$WS/err.txt"
rc=$?
check_eq "$PROG exits 1 when an item failed" 1 "$rc"
check "summary counts 7 approved, 2 need revision, 1 failed" \
    grep -q '7 approved, 2 need revision, 1 failed' "$WS/out.txt"
check "invalid spec fails with the reason" grep -qF "[$PREFIX-BAD] FAILED: Invalid spec format" "$WS/out.txt"
check "every console line is whole and prefixed" every_line_prefixed "$WS/out.txt"
check "nodes are announced" grep -qF "[$PREFIX-01] >>> Executing: N2_review" "$WS/out.txt"
check "no output on stderr" test ! -s "$WS/err.txt"
n=$(grep -l '^status: approved$' "$OUT"/*.md 2>/dev/null | wc -l)
check_eq "7 approved result files" 7 "$n"
n=$(grep -l '^status: needs-revision$' "$OUT"/*.md 2>/dev/null | wc -l)
check_eq "2 needs-revision result files" 2 "$n"
check "result has full front matter" grep -qE '^source_sha256: [0-9a-f]{64}$' "$OUT/$PREFIX-01.md"
check "result names its workflow" grep -qx "workflow: $WFNAME" "$OUT/$PREFIX-01.md"
check "needs-revision took 3 rounds" grep -qx 'rounds: 3' "$OUT/$PREFIX-R1.md"
check "no result for the invalid spec" test ! -e "$OUT/$PREFIX-BAD.md"
run=$(latest_run_dir)
n=$(ls "$run"/*.log 2>/dev/null | grep -vc coordinator.log)
check_eq "one log per item" 10 "$n"
n=$(ls "$run"/workflow-audit-*.jsonl 2>/dev/null | wc -l)
check_eq "one audit file per item" 10 "$n"
check "every audit line is JSON with ts/run/item/event" audit_valid "$run"
check "summary.json parses" jq -e '.items | length == 10' "$run/summary.json"
check "summary.json counts" jq -e '.counts.approved == 7 and .counts.needs_revision == 2 and .counts.failed == 1' "$run/summary.json"
check "coordinator.log written" test -s "$run/coordinator.log"
ck=$(ls "$(ckpt_dir "$ITEMS")" 2>/dev/null | grep -v "^WORKSPACE$")
check_eq "only the failed item's checkpoint is kept" "${WFNAME}_workflow_bad.db" "$ck"
mif=$(mock_stat max_in_flight)
check_le "the stand-in never saw more than 3 requests at once" "$mif" 3
check_le "requests really overlapped" 2 "$mif"
check "item log holds the LLM exchange" grep -q 'VERDICT' "$run/$PREFIX-01.log"
perm=$(stat -c %a "$run")
check_eq "run folder is 0700" 700 "$perm"

# A re-run finds nothing pending but the failed one; editing a spec makes only it pending.
rm -f "$ITEMS/bad.md"
timeout 60 "$PROG" --all --dry-run >"$WS/dry.txt"
check "re-run after success finds nothing pending" grep -q '^0 items would run' "$WS/dry.txt"
printf '\nOne more line.\n' >>"$ITEMS/03.md"
timeout 60 "$PROG" --all --dry-run >"$WS/dry2.txt"
check "an edited spec becomes pending" grep -q "$PREFIX-03 " "$WS/dry2.txt"
check "and only it" grep -q '^1 item would run' "$WS/dry2.txt"
finish
