#!/usr/bin/env bash
# --parallel parsing per SPEC 3, through the real binary.
source "$(dirname "$0")/lib.sh"
cd "$WS"
make_specs lld/pending 2
out=$(timeout 10 lld-workflow --all --dry-run --parallel 2>&1)
check "bare --parallel is 3" grep -q -- '--parallel 3)' <<<"$out"
out=$(timeout 10 lld-workflow --all --dry-run --parallel 20 2>&1)
check "20 is capped to 10" grep -q -- '--parallel 10)' <<<"$out"
check "with a warning" grep -q 'warning: --parallel is capped at 10' <<<"$out"
out=$(timeout 10 lld-workflow --all --dry-run 2>&1)
check "no flag is 1" grep -q -- '--parallel 1)' <<<"$out"
for bad in 0 -1 abc; do
    timeout 10 lld-workflow --all --parallel "$bad" >"$WS/o.txt" 2>&1
    check_eq "--parallel $bad exits 2" 2 "$?"
    check "--parallel $bad names the flag" grep -q -- '--parallel' "$WS/o.txt"
done
timeout 10 agentos-run nosuch --all >/dev/null 2>&1
check_eq "unknown workflow exits 2" 2 "$?"
timeout 10 lld-workflow --help >"$WS/help.txt" 2>&1
check "--help documents --parallel with an example" grep -q 'lld-workflow --all --parallel 3' "$WS/help.txt"
check "--help documents --dry-run with an example" grep -q 'lld-workflow --all --dry-run' "$WS/help.txt"
timeout 10 lld-workflow --all >"$WS/nocred.txt" 2>&1
check_eq "missing credentials file exits 2" 2 "$?"
check "and names the file" grep -q 'credentials.json' "$WS/nocred.txt"
finish
