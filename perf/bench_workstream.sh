#!/usr/bin/env bash
# Workstream dispatch, measured side by side in one run.
#
#   perf/bench_workstream.sh [STEPS]
#
# 1. STEPS independent shell steps (`true`), --parallel 10, vs GNU parallel -j10
#    running the same command STEPS times: per-step overhead and the ratio. Each
#    agentos step is a /bin/sh run in its own process group plus two checkpointed
#    nodes, a log, an audit file and a record, so a ratio near or below 1 means the
#    bookkeeping costs about what GNU parallel's own dispatch does.
# 2. A chain of 50 steps (each depends on the one before): the hand-off time from
#    one step passing to the next starting, per level.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
export PATH="$ROOT/$BUILD/bin:$PATH"
N=${1:-200}
WS=$(mktemp -d /tmp/agentos-bench-ws.XXXXXX)
trap 'rm -rf "$WS"' EXIT
export AGENTOS_HOME="$WS/home"
cd "$WS"

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l; }

python3 - "$N" <<'EOF'
import json, sys
n = int(sys.argv[1])
fan = [{"id": f"s{i}", "run": "true"} for i in range(n)]
json.dump({"id": "bench-fan", "steps": fan}, open("fan.json", "w"))
chain = [{"id": f"c{i}", "run": "true", "depends_on": [f"c{i-1}"] if i else []} for i in range(50)]
json.dump({"id": "bench-chain", "steps": chain}, open("chain.json", "w"))
EOF

echo "agentos workstream benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r)"

t0=$(now)
agentos-run workstream fan.json --parallel 10 --fresh --no-progress >/dev/null 2>&1
rc=$?
t1=$(now)
ag_t=$(elapsed "$t0" "$t1")
t0=$(now)
seq 1 "$N" | parallel -j10 true {} >/dev/null 2>&1
t1=$(now)
gp_t=$(elapsed "$t0" "$t1")
[ "$rc" -eq 0 ] || echo "agentos-run exited $rc"
printf '%d independent steps, --parallel/-j 10: agentos %.2f ms/step (sh + 2 checkpointed nodes + log + record), GNU parallel %.2f ms/job, ratio %.3f\n' \
    "$N" "$(echo "$ag_t * 1000 / $N" | bc -l)" "$(echo "$gp_t * 1000 / $N" | bc -l)" "$(echo "$ag_t / $gp_t" | bc -l)"

t0=$(now)
agentos-run workstream chain.json --fresh --no-progress >/dev/null 2>&1
t1=$(now)
ch_t=$(elapsed "$t0" "$t1")
printf 'chain of 50 dependent steps: %.2fs, %.1f ms per step including the hand-off\n' \
    "$ch_t" "$(echo "$ch_t * 1000 / 50" | bc -l)"
