#!/usr/bin/env bash
# State that must belong to one workspace and one version of the input (issue 9,
# findings 1-3): a spec edited during a run is not processed twice; checkpoints and
# workstream step records of two folders sharing one $AGENTOS_HOME never meet.
source "$(dirname "$0")/lib.sh"
start_mock --latency-ms 700
write_credentials 1
cd "$WS"

# 3. A spec edited between discovery and its load node: the result holds the new text
#    and the new text's hash, so the next run finds nothing pending (it redid the item).
make_specs lld/pending 2
lld-workflow --all --parallel 1 --no-progress >"$WS/e1.txt" 2>&1 &
pid=$!
wait_for "$WS/e1.txt" "[LLD-01] >>> Executing: N1_design" || not_ok "the run did not start"
printf '# Spec 02, edited\n\nEDITED-DURING-RUN\n' >lld/pending/02.md
wait "$pid"
check_eq "the run with the edit completes" 0 "$?"
check "LLD-02's result is made from the edited text" grep -q 'Spec 02, edited' lld/done/LLD-02.md
check_eq "and records the edited text's hash" "$(sha256sum lld/pending/02.md | cut -d' ' -f1)" \
    "$(sed -n 's/^source_sha256: //p' lld/done/LLD-02.md)"
timeout 30 lld-workflow --all --no-progress >"$WS/e2.txt" 2>&1
check "the next run finds nothing pending" grep -q 'Nothing pending' "$WS/e2.txt"
rm -rf lld

# 2. Two projects sharing one home: A is interrupted on 42.md after its first review,
#    B (a different 42.md) runs to the end, then A's re-run resumes where it stopped.
#    (B used to say "Input changed since the last checkpoint", delete A's checkpoint,
#    and A redid its finished requests.)
stop_mock
start_mock --latency-ms 400
write_credentials 1
mkdir -p A/lld/pending B/lld/pending
printf '# Project A spec\n\nMOCK-REVISE-ALWAYS\n' >A/lld/pending/42.md
printf '# Project B spec\n\nSomething else.\n' >B/lld/pending/42.md
(cd A && exec lld-workflow --all --max-reviews 2 --no-progress) >"$WS/a1.txt" 2>&1 &
pid=$!
wait_for "$WS/a1.txt" "[LLD-42] >>> Executing: N3_revise" || not_ok "A did not reach N3_revise"
kill -INT "$pid"
wait "$pid"
check_eq "A interrupted: exit 130" 130 "$?"
(cd B && timeout 60 lld-workflow --all --no-progress) >"$WS/b1.txt" 2>&1
check_eq "B, same home, same item name: exit 0" 0 "$?"
check "B does not see A's checkpoint" bash -c "! grep -q 'Input changed' '$WS/b1.txt'"
mock_reset
(cd A && timeout 60 lld-workflow --all --max-reviews 2 --no-progress) >"$WS/a2.txt" 2>&1
check_eq "A's re-run: exit 0" 0 "$?"
check "A resumes from its checkpoint" grep -qE '^\[LLD-42\] Resuming at N(3_revise|2_review) from checkpoint$' "$WS/a2.txt"
check "and does not start anew" bash -c "! grep -q 'Input changed' '$WS/a2.txt'"
check_eq "A's finished requests are not redone (only revise + second review)" 2 "$(mock_stat requests)"
na=$(grep -lx "$(cd A/lld/pending && pwd -P)" "$AGENTOS_HOME"/checkpoints/*/WORKSPACE | wc -l)
nb=$(grep -lx "$(cd B/lld/pending && pwd -P)" "$AGENTOS_HOME"/checkpoints/*/WORKSPACE | wc -l)
check_eq "one checkpoint folder per workspace, naming it (A, B)" "1 1" "$na $nb"

# 2b. A checkpoint from before per-workspace state (the old place, no folder): adopted by
#     the folder whose input made it, said once; one made from other input is left alone.
rm -rf A/lld/done "$AGENTOS_HOME/checkpoints"
(cd A && exec lld-workflow --all --max-reviews 2 --no-progress) >"$WS/a3.txt" 2>&1 &
pid=$!
wait_for "$WS/a3.txt" "[LLD-42] >>> Executing: N2_review" || not_ok "A did not reach N2_review"
kill -INT "$pid"
wait "$pid"
mv "$AGENTOS_HOME"/checkpoints/*/lld_workflow_42.db "$AGENTOS_HOME/checkpoints/"
rm -rf "$AGENTOS_HOME"/checkpoints/*/
rm -rf B/lld/done
(cd B && timeout 60 lld-workflow --all --no-progress) >"$WS/b2.txt" 2>&1
check "another project's input leaves the old checkpoint alone" test -f "$AGENTOS_HOME/checkpoints/lld_workflow_42.db"
(cd A && timeout 60 lld-workflow --all --dry-run) >"$WS/a4.txt" 2>&1
check "a dry run shows it would resume from it" grep -qE 'resume at N2_review \(checkpoint from before per-workspace state\)' "$WS/a4.txt"
(cd A && timeout 60 lld-workflow --all --max-reviews 2 --no-progress) >"$WS/a5.txt" 2>&1
check_eq "the folder that made it: exit 0" 0 "$?"
check "says once that it moved it" grep -qF "[COORDINATOR] Moved 1 checkpoint made before checkpoints were kept per workspace into $AGENTOS_HOME/checkpoints/" "$WS/a5.txt"
check "and resumes from it" grep -qE '^\[LLD-42\] Resuming at N2_review from checkpoint$' "$WS/a5.txt"
check "nothing is left at the old place" test ! -e "$AGENTOS_HOME/checkpoints/lld_workflow_42.db"
rm -rf A B

# 1. A workstream run from a second folder (a fresh clone, a worktree) runs its steps
#    there. (It printed "Nothing pending ... (1 step up to date)" and made nothing.)
mkdir -p X Y
ws='{"id": "build", "steps": [{"id": "compile", "run": "echo built > out.txt"}]}'
echo "$ws" >X/ws.json
echo "$ws" >Y/ws.json
(cd X && timeout 30 agentos-run workstream ws.json --no-progress) >"$WS/x1.txt" 2>&1
check_eq "folder X: exit 0" 0 "$?"
check "X has out.txt" test -f X/out.txt
(cd Y && timeout 30 agentos-run workstream ws.json --no-progress) >"$WS/y1.txt" 2>&1
check_eq "folder Y, same home: exit 0" 0 "$?"
check "Y runs the step (it is not up to date there)" bash -c "! grep -q 'Nothing pending' '$WS/y1.txt'"
check "Y has out.txt" test -f Y/out.txt
(cd X && timeout 30 agentos-run workstream ws.json --no-progress) >"$WS/x2.txt" 2>&1
check "X's own record still holds" grep -q 'Nothing pending in workstream build (1 step up to date)' "$WS/x2.txt"
(cd Y && timeout 30 agentos-run workstream "$WS/X/ws.json" --no-progress) >"$WS/y2.txt" 2>&1
check "X's file run in Y is Y's work (the commands run in Y)" bash -c "! grep -q 'Nothing pending' '$WS/y2.txt'"

# 1b. Step records from before (no folder in their path): set aside once, never trusted.
rec=$(ls "$AGENTOS_HOME"/workstreams/build/*/compile.md | head -1)
mv "$rec" "$AGENTOS_HOME/workstreams/build/compile.md"
rm -rf "$AGENTOS_HOME"/workstreams/build/*/ X/out.txt
(cd X && timeout 30 agentos-run workstream ws.json --dry-run) >"$WS/x3.txt" 2>&1
check "a dry run moves nothing" test -f "$AGENTOS_HOME/workstreams/build/compile.md"
(cd X && timeout 30 agentos-run workstream ws.json --no-progress) >"$WS/x4.txt" 2>&1
check "the run says once that old records are not used" grep -qF "1 record of build from before do not say which folder made it: moved to $AGENTOS_HOME/workstreams/build/pre-workspace" "$WS/x4.txt"
check "the step runs again here" test -f X/out.txt
check "the old record is kept aside" test -f "$AGENTOS_HOME/workstreams/build/pre-workspace/compile.md"
(cd X && timeout 30 agentos-run workstream ws.json --no-progress) >"$WS/x5.txt" 2>&1
check "and is not mentioned again" bash -c "! grep -q 'from before' '$WS/x5.txt'"
rm -rf X Y

finish
