#!/usr/bin/env bash
# Item discovery at scale (issue 9, finding 15): how long the plan of a folder of
# N specs takes, measured through `lld-workflow --all --dry-run` (discovery, the
# clash check, pending, resume points; no network, no segment). Target: 50,000
# items under 2 s. One in ten stems also exists in another case (a clash), so the
# clash check works on real duplicates.
#
#   perf/bench_discovery.sh [N ...]        (default: 2000 20000 50000)
#
# BUILD=dir picks another build (e.g. the code before the fix, for comparison).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) BIN="$BUILD/bin" ;; *) BIN="$ROOT/$BUILD/bin" ;; esac
export PATH="$BIN:$PATH"
WS=$(mktemp -d /tmp/agentos-bench-disc.XXXXXX)
trap 'rm -rf "$WS"' EXIT
export AGENTOS_HOME="$WS/home"
cd "$WS"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(2000 20000 50000)

now() { date +%s.%N; }

echo "agentos discovery benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r)"
printf '%10s %10s %10s %12s\n' items clashes seconds per-item-us
for n in "${sizes[@]}"; do
    rm -rf lld && mkdir -p lld/pending
    python3 - "$n" <<'PY'
import sys
n = int(sys.argv[1])
for i in range(n):
    open(f"lld/pending/spec{i:06d}.md", "w").write(f"# Spec {i}\n\nText.\n")
    if i % 10 == 0:
        open(f"lld/pending/SPEC{i:06d}.md", "w").write(f"# Spec {i}\n")
PY
    total=$((n + (n + 9) / 10))
    t0=$(now)
    lld-workflow --all --dry-run >"$WS/out.txt" 2>&1
    rc=$?
    t1=$(now)
    clashes=$(grep -c 'already SPEC' "$WS/out.txt")
    s=$(echo "$t1 - $t0" | bc -l)
    printf '%10d %10d %10.3f %12.1f\n' "$total" "$clashes" "$s" "$(echo "$s * 1000000 / $total" | bc -l)"
    [ "$rc" -eq 0 ] || { echo "dry run failed (exit $rc)"; tail -3 "$WS/out.txt"; }
done
