#!/usr/bin/env bash
# Adaptive width against servers that saturate (SPEC 11, SPEC 12), side by side in
# one run: fixed --parallel 1..10, --parallel 10 --adaptive and --parallel auto.
#
#   perf/bench_adaptive.sh [mock|llama|both]     (default both)
#
# 1. mock: agentos-mockllm --capacity 3 --latency-ms 200 (3 served at once, 3 more
#    queued, 503 beyond 6), 30 lld items, 2 keys of concurrency 5 (10 slots).
# 2. llama: llama.cpp's llama-server with 2 slots (tests/real/llama.sh: built and
#    cached once; skipped if it is not built), LLAMA_STEPS (60) prompt steps of a workstream
#    (short prompts, max_tokens 24), the same two keys on it.
# Every configuration runs on a fresh workspace with the same run file, which sets
# the limiter's window to 1 s (the default 10 s is longer than these runs).
# For each: wall time, throughput (successful requests a second), errors (503, 5xx,
# timeouts, connect errors: requests that got no answer), p50/p95 request latency
# (from the audit lines), the most requests the server saw at once (stand-in only).
# BENCH_CONFIGS and BENCH_DEBUG: see below.
# Then the targets: adaptive >= 0.95 of the best fixed width's throughput with at
# most half its errors; against fixed 10: at most half its 503s, at most 1.05 of its
# time.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
export PATH="$ROOT/$BUILD/bin:$PATH"
export AGENTOS_PROMPTS_DIR="$ROOT/workflows/prompts"
WHAT=${1:-both}
LLAMA_STEPS=${LLAMA_STEPS:-60}
# The llama-server harness (tests/real/llama.sh) brings the integration helpers,
# which make a workspace of their own and an exit trap; ours replace them.
# shellcheck source=../tests/real/llama.sh
source "$ROOT/tests/real/llama.sh" >/dev/null 2>&1
LIB_WS=${WS:-}
export PATH="$ROOT/$BUILD/bin:$PATH"
WS=$(mktemp -d /tmp/agentos-bench-adapt.XXXXXX)
MOCK=""
bench_cleanup() {
    [ -n "$MOCK" ] && kill "$MOCK" 2>/dev/null && wait "$MOCK" 2>/dev/null
    [ -n "${LLAMA_PID:-}" ] && llama_stop
    rm -rf "$WS" "$LIB_WS"
}
trap bench_cleanup EXIT

now() { date +%s.%N; }
CONFIGS=("1" "2" "3" "4" "5" "6" "7" "8" "9" "10" "10 --adaptive" "auto")
# BENCH_CONFIGS="3,10 --adaptive": only these rows (comma-separated); BENCH_DEBUG=1 also
# prints each run's first lines and its width changes to stderr.
[ -n "${BENCH_CONFIGS:-}" ] && IFS=, read -r -a CONFIGS <<<"$BENCH_CONFIGS"
echo '{"adaptive": {"window_s": 1}}' >"$WS/runfile.json"

# creds URL: two keys of concurrency 5 (10 request slots) with the same secret
creds() {
    local k
    {
        echo '{"credentials": ['
        for k in 1 2; do
            [ $k = 2 ] && echo ','
            echo "{\"id\":\"k$k\",\"provider\":\"openai\",\"model\":\"m\",\"base_url\":\"$1\",\"api_key\":\"$BENCH_KEY\",\"concurrency\":5,\"max_tokens\":24}"
        done
        echo ']}'
    } >"$AGENTOS_HOME/credentials.json"
    chmod 600 "$AGENTOS_HOME/credentials.json"
}

# audit_figures RUN_DIR WALL: "ok errors p50 p95" of the run's LLM requests
audit_figures() {
    cat "$1"/workflow-audit-*.jsonl 2>/dev/null | jq -s -r '
        [.[] | select(.event == "llm_request")] as $r
        | ($r | map(select(.http_status != null and .http_status < 300))) as $ok
        | ($r | map(select(.http_status == null or .http_status >= 500 or .http_status == 429))) as $err
        | ($ok | map(.latency_ms) | sort) as $l
        | def pct(p): if ($l | length) == 0 then 0 else $l[((($l | length) - 1) * p | floor)] end;
          "\($ok | length) \($err | length) \(pct(0.5)) \(pct(0.95))"'
}

# one_run LABEL CMD...: runs CMD in $WS/w, prints a row, appends "label wall ok err" to $ROWS
one_run() {
    local label=$1
    shift
    local t0 t1 wall rd f srv=""
    t0=$(now)
    (cd "$WS/w" && "$@" --config "$WS/runfile.json" --no-progress >"$WS/out.txt" 2>&1)
    [ -n "${BENCH_DEBUG:-}" ] && head -5 "$WS/out.txt" >&2 && grep 'requests at a time (' "$WS/out.txt" >&2
    t1=$(now)
    wall=$(echo "$t1 - $t0" | bc -l)
    rd=$(ls -1td "$AGENTOS_HOME"/logs/parallel/*/ | head -1)
    f=$(audit_figures "$rd")
    set -- $f
    local ok=$1 err=$2 p50=$3 p95=$4
    if [ -n "$MOCK" ]; then
        local st
        st=$(curl -s --max-time 5 "http://127.0.0.1:$PORT/stats")
        err=$(jq '.http_503_overload + .http_5xx' <<<"$st")
        srv=$(jq .max_in_flight <<<"$st")
    fi
    local changes width
    changes=$(grep -c 'requests at a time (' "$WS/out.txt")
    width=$(sed -n 's/.*--parallel auto: \([0-9]*\) .*/\1/p' "$WS/out.txt" | head -1)
    printf '%-16s %7.2f %8.2f %7s %7s %7s %7s %8s %s\n' "$label${width:+ ($width)}" "$wall" \
        "$(echo "$ok / $wall" | bc -l)" "$err" "$p50" "$p95" "${srv:--}" "$changes" \
        "$(sed -n 's/.*Summary: \([^(]*\) (.*/\1/p' "$WS/out.txt" | head -1)"
    echo "$label $wall $(echo "$ok / $wall" | bc -l) $err" >>"$ROWS"
}

header() {
    printf '%-16s %7s %8s %7s %7s %7s %7s %8s %s\n' "width" "wall s" "ok/s" "errors" "p50 ms" \
        "p95 ms" "srv max" "changes" "outcome"
}

# verdict: the SPEC 11 targets from $ROWS
verdict() {
    awk '
        $1 ~ /^[0-9]+$/ && NF == 4 { if ($3 > best) { best = $3; bw = $1; be = $4; bt = $2 }
                                     if ($1 == 10) { t10 = $2; e10 = $4 } }
        $1 == "10" && $2 == "--adaptive" { at = $3; ag = $4; ae = $5 }
        END {
            printf "best fixed width %d: %.2f ok/s, %d errors; adaptive (10 --adaptive): %.2f ok/s (%.3f of best), %d errors\n", bw, best, be, ag, ag / best, ae
            printf "  target >= 0.95 of the best throughput: %s; errors <= half the best width'"'"'s (%d): %s\n", (ag >= 0.95 * best) ? "met" : "NOT met", be, (ae <= be / 2) ? "met" : "NOT met"
            printf "  against fixed 10: errors %d vs %d (target <= half: %s), time %.2fs vs %.2fs = %.3f (target <= 1.05: %s)\n", ae, e10, (ae <= e10 / 2) ? "met" : "NOT met", at, t10, at / t10, (at <= 1.05 * t10) ? "met" : "NOT met"
        }' "$ROWS"
}

echo "agentos adaptive-width benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "$WHAT" = mock ] || [ "$WHAT" = both ]; then
    BENCH_KEY=bench-key-mock-1
    agentos-mockllm --port 0 --port-file "$WS/port" --capacity 3 --latency-ms 200 >/dev/null 2>&1 &
    MOCK=$!
    for _ in $(seq 1 100); do [ -s "$WS/port" ] && break; sleep 0.05; done
    PORT=$(cat "$WS/port")
    echo
    echo "1. stand-in --capacity 3 --latency-ms 200, 30 lld items (2 requests each at least)"
    header
    ROWS="$WS/rows-mock"
    : >"$ROWS"
    for c in "${CONFIGS[@]}"; do
        rm -rf "$WS/w" && mkdir -p "$WS/w/lld/pending" "$WS/w/home"
        export AGENTOS_HOME="$WS/w/home"
        for i in $(seq 1 30); do printf '# Spec %d\n\nBenchmark item.\n' "$i" >"$WS/w/lld/pending/$i.md"; done
        creds "http://127.0.0.1:$PORT/v1"
        curl -s -X POST "http://127.0.0.1:$PORT/stats/reset" >/dev/null
        # shellcheck disable=SC2086 # the configuration is words
        one_run "$c" lld-workflow --all --parallel $c
    done
    verdict
    kill "$MOCK" 2>/dev/null
    wait "$MOCK" 2>/dev/null
    MOCK=""
fi

if [ "$WHAT" = llama ] || [ "$WHAT" = both ]; then
    echo
    echo "2. llama-server -np 2 (tiny model, one thread), $LLAMA_STEPS prompt steps, max_tokens 24"
    if ! llama_available; then
        echo "   skipped: llama-server is not built (tests/real/llama.sh build)"
        exit 0
    fi
    BENCH_KEY=sk-bench-0123456789
    if ! llama_start auto "$BENCH_KEY" -np 2 >/dev/null 2>&1; then
        echo "   skipped: llama-server did not start"
        exit 0
    fi
    header
    ROWS="$WS/rows-llama"
    : >"$ROWS"
    for c in "${CONFIGS[@]}"; do
        rm -rf "$WS/w" && mkdir -p "$WS/w/home"
        export AGENTOS_HOME="$WS/w/home"
        creds "$LLAMA_URL/v1"
        {
            echo '{"id": "bench", "execution": {"timeout_per_step": 120}, "steps": ['
            for i in $(seq 1 "$LLAMA_STEPS"); do
                [ "$i" -gt 1 ] && echo ','
                echo "{\"id\": \"p$i\", \"prompt\": \"Say one word about the number $i.\", \"output\": \"out/$i.txt\"}"
            done
            echo ']}'
        } >"$WS/w/ws.json"
        # shellcheck disable=SC2086
        one_run "$c" agentos-run workstream ws.json --parallel $c
    done
    verdict
fi
