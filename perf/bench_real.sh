#!/usr/bin/env bash
# One batch against a real LLM server (llama.cpp's llama-server, tiny random
# model; tests/real/llama.sh), side by side:
#
#   agentos            lld-workflow --all --parallel W, W = 1, 2, 4
#   GNU parallel+curl  parallel -jW running, per item, the same chain of requests
#                      with curl and jq (design, then review/revise rounds until
#                      --max-reviews, as the lld workflow does for a model that
#                      gives no verdict), from the same prompt templates; no
#                      checkpoints, logs or key pool: what a user would script
#                      by hand (a jq and a curl process per request)
#
#   perf/bench_real.sh [ITEMS] [MAX_TOKENS]      default 24 items, 24 tokens
#
# Reports items per second, requests per second, and the server's own time per
# request (prompt + generation, from llama-server's /metrics counters; for the
# peer also the mean of the `timings` each reply carries). The server caps
# generation at MAX_TOKENS itself (-n), and the key says max_tokens too, so both
# clients ask for the same work. Needs tests/real/llama.sh build (once). Bounded:
# every run has a timeout; the server stops at exit.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
source "$ROOT/tests/real/llama.sh" # $WS, agentos on PATH, llama_start/llama_stop, exit hooks
ITEMS=${1:-24}
MAX_TOKENS=${2:-24}
ROUNDS=3 # --max-reviews default: design + 3 reviews + 2 revisions = 6 requests an item
KEY="sk-bench-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PROMPTS="$ROOT/workflows/prompts"

llama_available || { echo "llama-server is not built: tests/real/llama.sh build" >&2; exit 2; }
# (twice: a port picked free may be taken by someone else before the server binds it)
llama_start auto "$KEY" -c 4096 --metrics -n "$MAX_TOKENS" ||
    llama_start auto "$KEY" -c 4096 --metrics -n "$MAX_TOKENS" || { echo "llama-server did not start" >&2; exit 1; }

now() { date +%s.%N; }
metric() {
    curl -s --max-time 5 -H "Authorization: Bearer $KEY" "$LLAMA_URL/metrics" |
        awk -v m="llamacpp:$1" '$1 == m { printf "%.6f\n", $2 }'
}
# server seconds spent so far (prompt + generation)
server_s() { echo "$(metric prompt_seconds_total) + $(metric tokens_predicted_seconds_total)" | bc -l; }

specs() {
    rm -rf "$1" && mkdir -p "$1"
    for i in $(seq 1 "$ITEMS"); do
        printf '# Spec %02d\n\nDesign a small key-value cache, number %d, with an LRU policy.\n' "$i" "$i" \
            >"$1/$(printf %02d "$i").md"
    done
}

# ---- agentos --------------------------------------------------------------------
agentos_run() { # WIDTH -> "wall_s requests server_s"
    local w=$1 t0 t1 s0 s1 req
    rm -rf "$WS/a" && mkdir -p "$WS/a/home"
    specs "$WS/a/lld/pending"
    export AGENTOS_HOME="$WS/a/home"
    jq -n --arg url "$LLAMA_URL/v1" --arg k "$KEY" --argjson m "$MAX_TOKENS" \
        '{credentials: [{id: "llama", provider: "openai", model: "agentos-tiny", base_url: $url,
          api_key: $k, concurrency: 4, max_tokens: $m}]}' >"$AGENTOS_HOME/credentials.json"
    chmod 600 "$AGENTOS_HOME/credentials.json"
    s0=$(server_s)
    t0=$(now)
    (cd "$WS/a" && timeout 600 lld-workflow --all --parallel "$w" --no-progress >"$WS/a.out" 2>&1) ||
        { echo "agentos --parallel $w failed:" >&2; tail -5 "$WS/a.out" >&2; }
    t1=$(now)
    s1=$(server_s)
    req=$(jq .requests "$(ls -1d "$AGENTOS_HOME"/logs/parallel/*/ | tail -1)summary.json")
    echo "$(echo "$t1 - $t0" | bc -l) $req $(echo "$s1 - $s0" | bc -l)"
}

# ---- the peer: GNU parallel driving curl ------------------------------------------
# fill TEMPLATE VAR=VALUE...: the template with {{var}} replaced (literally).
fill() {
    local tpl=$1 args=()
    shift
    for kv in "$@"; do args+=(--arg "${kv%%=*}" "${kv#*=}"); done
    jq -Rrs "${args[@]}" 'reduce ($ARGS.named | to_entries[]) as $e (.; split("{{" + $e.key + "}}") | join($e.value))' "$tpl"
}
# ask PROMPT: the reply's text; its timings appended to $TIMINGS.
ask() {
    jq -n --arg p "$1" --argjson m "$MAX_TOKENS" \
        '{model: "agentos-tiny", messages: [{role: "user", content: $p}], max_tokens: $m}' |
        curl -s --max-time 120 -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
            --data-binary @- "$LLAMA_URL/v1/chat/completions" >"$TMPREPLY"
    jq -c '.timings | {prompt_ms, predicted_ms}' "$TMPREPLY" >>"$TIMINGS"
    jq -r '.choices[0].message.content // ""' "$TMPREPLY"
}
peer_item() { # SPEC_FILE
    local f=$1 id spec draft review round
    id="LLD-$(basename "$f" .md)"
    spec=$(cat "$f")
    export TMPREPLY="$WS/p/reply.$id" TIMINGS="$WS/p/timings.$id"
    draft=$(ask "$(fill "$PROMPTS/lld_design.md" id="$id" spec="$spec")")
    for round in $(seq 1 $ROUNDS); do
        review=$(ask "$(fill "$PROMPTS/lld_review.md" id="$id" spec="$spec" draft="$draft" \
            round="$round" max_reviews="$ROUNDS")")
        [ "$round" -eq $ROUNDS ] && break
        draft=$(ask "$(fill "$PROMPTS/lld_revise.md" id="$id" spec="$spec" draft="$draft" \
            review="$review" round="$round")")
    done
    printf -- '---\nstatus: needs-revision\n---\n%s\n' "$draft" >"$WS/p/done/$id.md"
}
export -f fill ask peer_item
export KEY MAX_TOKENS ROUNDS PROMPTS LLAMA_URL WS

peer_run() { # WIDTH -> "wall_s requests server_s mean_reply_timing_ms"
    local w=$1 t0 t1 s0 s1
    rm -rf "$WS/p" && mkdir -p "$WS/p/done"
    specs "$WS/p/pending"
    s0=$(server_s)
    t0=$(now)
    ls "$WS"/p/pending/*.md | timeout 600 parallel -j"$w" peer_item {} >/dev/null 2>&1
    t1=$(now)
    s1=$(server_s)
    cat "$WS"/p/timings.* >"$WS/p/all.timings"
    echo "$(echo "$t1 - $t0" | bc -l) $(wc -l <"$WS/p/all.timings") $(echo "$s1 - $s0" | bc -l)" \
        "$(jq -s 'map(.prompt_ms + .predicted_ms) | add / length' "$WS/p/all.timings")"
}

line() { # CLIENT WIDTH WALL REQUESTS SERVER_S [REPLY_MS]
    printf '%-18s %5s %8.2f %8.2f %8.1f %9.2f %s\n' "$1" "$2" "$3" "$(echo "$ITEMS / $3" | bc -l)" \
        "$(echo "$4 / $3" | bc -l)" "$(echo "1000 * $5 / $4" | bc -l)" \
        "${6:+$(printf '%.2f' "$6")}"
}

echo "bench_real: $ITEMS lld items x 6 requests, llama-server $(sed -n 's/.*(\(.*\)).*/\1/p' "$LLAMA_BIN.stamp" | head -1)" \
    "(tiny random model, -np 4 -c 4096 -t 1, $MAX_TOKENS tokens a reply)," \
    "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-18s %5s %8s %8s %8s %9s %s\n' client width wall_s items/s req/s "server ms" "(reply timings ms)"
for w in 1 2 4; do
    read -r wall req srv <<<"$(agentos_run "$w")"
    line agentos "$w" "$wall" "$req" "$srv"
    read -r wall req srv reply <<<"$(peer_run "$w")"
    line "parallel+curl" "$w" "$wall" "$req" "$srv" "$reply"
done
echo "server ms: llama-server's own prompt + generation seconds (/metrics) per request"
