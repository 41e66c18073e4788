#!/usr/bin/env bash
# Quota use under per-key rpm budgets (SPEC 6 pacing, issue 3).
#
#   perf/bench_quota.sh [--quick] [--keys K] [--rpm R]
#
# K keys (default 3), each with "rpm": R (default 120) in credentials.json, against
# agentos-mockllm --rpm R (the same budget, enforced per key with 429 + Retry-After).
# Enough items to keep the keys busy for about 60 s (--quick: about 20 s), --parallel K.
# Prints:
#   budget used = requests / (K * R * minutes of the run)      target >= 0.90
#   429 share   = requests answered 429 / requests             target <  0.01
# and exits 1 if either target is missed.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) BIN="$BUILD/bin" ;; *) BIN="$ROOT/$BUILD/bin" ;; esac
export PATH="$BIN:$PATH"
export AGENTOS_PROMPTS_DIR="$ROOT/workflows/prompts"
unset AGENTOS_CREDENTIAL_LIMIT AGENTOS_SIMULATE_429 AGENTOS_WORKFLOW_DB

SECONDS_WANTED=60
KEYS=3
RPM=120
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) SECONDS_WANTED=20 ;;
    --keys) KEYS=$2; shift ;;
    --rpm) RPM=$2; shift ;;
    *) echo "usage: $0 [--quick] [--keys K] [--rpm R]" >&2; exit 2 ;;
    esac
    shift
done

WS=$(mktemp -d /tmp/agentos-bench-rpm.XXXXXX)
MOCK=""
trap '[ -n "$MOCK" ] && kill "$MOCK" 2>/dev/null && wait "$MOCK" 2>/dev/null; rm -rf "$WS"' EXIT

agentos-mockllm --port 0 --port-file "$WS/port" --rpm "$RPM" --retry-style seconds \
    --latency-ms 20 >/dev/null 2>&1 &
MOCK=$!
for _ in $(seq 1 100); do [ -s "$WS/port" ] && break; sleep 0.05; done
PORT=$(cat "$WS/port")
[ -n "$PORT" ] || { echo "the stand-in did not start" >&2; exit 1; }

# Every item approves on its first review: 2 requests (draft, review).
ITEMS=$((KEYS * RPM * SECONDS_WANTED / 60 / 2))
export AGENTOS_HOME="$WS/home"
mkdir -p "$AGENTOS_HOME" "$WS/lld/pending"
for i in $(seq 1 "$ITEMS"); do printf '# Spec %d\n\nBenchmark item.\n' "$i" >"$WS/lld/pending/$i.md"; done
{
    echo '{"credentials": ['
    sep=""
    for i in $(seq 1 "$KEYS"); do
        echo "$sep{\"id\":\"k$i\",\"provider\":\"openai\",\"model\":\"m\",\"base_url\":\"http://127.0.0.1:$PORT/v1\",\"api_key\":\"bench-$i\",\"rpm\":$RPM}"
        sep=","
    done
    echo ']}'
} >"$AGENTOS_HOME/credentials.json"
chmod 600 "$AGENTOS_HOME/credentials.json"

echo "bench_quota: $KEYS keys x rpm $RPM, $ITEMS items (~${SECONDS_WANTED}s), --parallel $KEYS"
cd "$WS"
t0=$(date +%s.%N)
lld-workflow --all --parallel "$KEYS" --no-progress --quiet >"$WS/out.txt" 2>&1
rc=$?
t1=$(date +%s.%N)
[ "$rc" -eq 0 ] || { echo "the run exited $rc" >&2; tail -5 "$WS/out.txt" >&2; exit 1; }

stats=$(curl -s --max-time 5 "http://127.0.0.1:$PORT/stats")
req=$(jq .requests <<<"$stats")
h429=$(jq .http_429 <<<"$stats")
early=$(jq .early_requests <<<"$stats")
secs=$(echo "$t1 - $t0" | bc -l)
used=$(echo "$req / ($KEYS * $RPM * $secs / 60)" | bc -l)
share=$(echo "$h429 / $req" | bc -l)
printf 'run            %.1f s\n' "$secs"
printf 'requests       %d (%d answered 429, %d before their Retry-After)\n' "$req" "$h429" "$early"
printf 'budget used    %.3f   (target >= 0.90)\n' "$used"
printf '429 share      %.4f  (target <  0.01)\n' "$share"
ok=1
[ "$(echo "$used >= 0.90" | bc -l)" = 1 ] || ok=0
[ "$(echo "$share < 0.01" | bc -l)" = 1 ] || ok=0
[ "$ok" = 1 ] && echo "bench_quota: targets met" || { echo "bench_quota: target missed"; exit 1; }
