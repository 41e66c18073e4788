#!/usr/bin/env bash
# A corrupt, truncated or foreign checkpoint fails its item with a clear
# reason, is kept aside as .corrupt, and is never reused; other items go on.
source "$(dirname "$0")/lib.sh"
start_mock --latency-ms 20
write_credentials 2
cd "$WS"
# 1. garbage bytes
make_specs lld/pending 3
ck=$(ckpt_dir lld/pending)
mkdir -p "$ck" && chmod 700 "$AGENTOS_HOME/checkpoints" "$ck"
head -c 3000 /dev/urandom >"$ck/lld_workflow_01.db"
timeout 60 lld-workflow --all --parallel 2 >"$WS/o1.txt" 2>&1
check_eq "a corrupt checkpoint fails its item (exit 1)" 1 "$?"
check "with a clear reason" grep -qE '^\[LLD-01\] FAILED: checkpoint .*lld_workflow_01.db is corrupt' "$WS/o1.txt"
check "it is kept aside as .corrupt" test -e "$ck/lld_workflow_01.db.corrupt"
check "the others are approved" test "$(grep -l '^status: approved$' lld/done/*.md | wc -l)" -eq 2
timeout 60 lld-workflow --all >"$WS/o2.txt" 2>&1
check_eq "the next run starts that item anew" 0 "$?"

# 2. a checkpoint of another workflow under this item's name
rm -rf lld issues "$ck"/*
make_specs issues/pending 1
ick=$(ckpt_dir issues/pending)
stop_mock
start_mock --fail-rate 1
write_credentials 1
timeout 60 issue-workflow --all --timeout-per-step 5 >"$WS/o3.txt" 2>&1
check "an issue checkpoint exists" test -e "$ick/issue_workflow_01.db"
stop_mock
start_mock --latency-ms 20
write_credentials 1
make_specs lld/pending 1
cp "$ick/issue_workflow_01.db" "$ck/lld_workflow_01.db"
timeout 60 lld-workflow --all >"$WS/o4.txt" 2>&1
check_eq "a foreign checkpoint fails its item" 1 "$?"
check "naming the other workflow" grep -qE '^\[LLD-01\] FAILED: checkpoint .*issue' "$WS/o4.txt"
check "and is kept aside" test -e "$ck/lld_workflow_01.db.corrupt"

# 3. a truncated checkpoint
rm -f "$ck"/lld_workflow_01.db*
cp "$ick/issue_workflow_01.db" "$WS/full.db"
size=$(stat -c %s "$WS/full.db")
head -c $((size / 2)) "$WS/full.db" >"$ick/issue_workflow_01.db"
timeout 60 issue-workflow --all >"$WS/o5.txt" 2>&1
rc=$?
if grep -q 'FAILED: checkpoint' "$WS/o5.txt"; then
    check_eq "a truncated checkpoint fails cleanly" 1 "$rc"
    check "and is kept aside" test -e "$ick/issue_workflow_01.db.corrupt"
else
    check_eq "a truncated checkpoint that still opens resumes cleanly" 0 "$rc"
fi
check "no crash or hang either way" test "$rc" -le 1

# 4. a checkpoint whose last save is damaged (a live row without a next node)
rm -rf "$ck"/* lld issues
make_specs lld/pending 1
stop_mock
start_mock --fail-rate 1
write_credentials 1
timeout 60 lld-workflow --all --timeout-per-step 5 >/dev/null 2>&1
check "a checkpoint to damage exists" test -e "$ck/lld_workflow_01.db"
sqlite3 "$ck/lld_workflow_01.db" "UPDATE progress SET next_node = NULL, finished = 0"
stop_mock
start_mock --latency-ms 20
write_credentials 1
timeout 60 lld-workflow --all >"$WS/o6.txt" 2>&1
check_eq "a damaged save fails its item" 1 "$?"
check "as corrupt" grep -qE '^\[LLD-01\] FAILED: checkpoint .* is corrupt' "$WS/o6.txt"
check "and is kept aside, not reused" test -e "$ck/lld_workflow_01.db.corrupt"
timeout 60 lld-workflow --all >"$WS/o7.txt" 2>&1
check_eq "the next run starts the item anew" 0 "$?"
finish
