#!/usr/bin/env bash
# --dry-run lists the items and changes nothing: no file, no segment, no request.
source "$(dirname "$0")/lib.sh"
start_mock
write_credentials 2
cd "$WS"
make_specs lld/pending 4
before_files=$(find "$WS" -newer "$AGENTOS_HOME/credentials.json" | sort)
sleep 0.01
# (the shell writes its pid, then becomes the run: a segment would end in it)
timeout 30 bash -c 'echo $$ >"$0"; exec lld-workflow --all --dry-run --parallel 3' "$WS/dry.pid" >"$WS/dry.txt" 2>&1
rc=$?
dry=$(cat "$WS/dry.pid")
check_eq "dry run exits 0" 0 "$rc"
check "lists every item" grep -q '^4 items would run' "$WS/dry.txt"
check "shows the input path" grep -qE 'LLD-01 +lld/pending/01.md +new' "$WS/dry.txt"
check_eq "no request reached the stand-in" 0 "$(mock_stat requests)"
after_files=$(find "$WS" -newer "$AGENTOS_HOME/credentials.json" | grep -v "$WS/dry.txt" | grep -v "$WS/dry.pid" | sort)
check_eq "no file written" "$before_files" "$after_files"
check "no checkpoint folder" test ! -e "$AGENTOS_HOME/checkpoints"
check "no run folder" test ! -e "$AGENTOS_HOME/logs"
check_eq "no segment left (other suites' runs may hold theirs)" 0 "$(ls /dev/shm | grep -c -- "^agentos-.*-$dry\$")"

# With a checkpoint present, the dry run says where the item resumes.
timeout 60 lld-workflow 02 >/dev/null 2>&1
printf '# Spec 03\n\nMOCK-REVISE-ALWAYS\n' >lld/pending/03.md
stop_mock
start_mock --fail-rate 1
write_credentials 1
timeout 60 lld-workflow 03 --timeout-per-step 5 >"$WS/fail.txt" 2>&1
timeout 30 lld-workflow --all --dry-run >"$WS/dry2.txt" 2>&1
check "a finished item is not listed" bash -c "! grep -q 'LLD-02 ' '$WS/dry2.txt'"
check "an item with a checkpoint shows where it resumes" grep -qE 'LLD-03 .*resume at N1_design' "$WS/dry2.txt"
check "a dry run with an unknown ID is a usage error" bash -c "timeout 10 lld-workflow 99 --dry-run; [ \$? -eq 2 ]"
check "a path-like ID is a usage error" bash -c "timeout 10 lld-workflow ../x --dry-run; [ \$? -eq 2 ]"
finish
