#!/usr/bin/env bash
# The console on a real terminal (tmux): the progress bar stays at the bottom
# while whole prefixed lines scroll above it, and is erased before the
# summary; and the pool line when items wait for a key.
source "$(dirname "$0")/lib.sh"
start_mock --latency-ms 300
cd "$WS"

# 1. progress bar at the bottom
write_credentials 3
make_specs lld/pending 6
S=agentos-term-$$
tmux new-session -d -s "$S" -x 120 -y 50 \
    "cd '$WS' && AGENTOS_HOME='$AGENTOS_HOME' AGENTOS_PROMPTS_DIR='$AGENTOS_PROMPTS_DIR' PATH='$PATH' lld-workflow --all --parallel 3; echo EXIT=\$?; sleep 30"
bar_seen=0 bar_last=0
for _ in $(seq 1 100); do
    tmux capture-pane -p -t "$S" >"$WS/pane.txt" 2>/dev/null
    last=$(grep -v '^$' "$WS/pane.txt" | tail -1)
    if grep -qE '^\[[=> ]{20}\] [0-9]+/6 workflows complete$' <<<"$last"; then
        bar_seen=1
        # everything above the bar is whole prefixed lines
        grep -v '^$' "$WS/pane.txt" | head -n -1 | grep -vqE '^\[[A-Za-z0-9_.-]+\] ' || bar_last=1
    fi
    grep -q '^EXIT=' "$WS/pane.txt" && break
    sleep 0.1
done
tmux capture-pane -p -S -200 -t "$S" >"$WS/final.txt"
tmux kill-session -t "$S" 2>/dev/null
check_eq "the bar is drawn as the last line while the run goes" 1 "$bar_seen"
check_eq "with whole prefixed lines above it" 1 "$bar_last"
check "the run ended" grep -q '^EXIT=0' "$WS/final.txt"
check "the bar is erased before the summary (no bar left in the scrollback)" \
    bash -c "! grep -qE 'workflows complete' '$WS/final.txt'"
check "the summary is there" grep -qF '[COORDINATOR] Summary: 6 approved, 0 need revision, 0 failed' "$WS/final.txt"
check "no line carries a bar glued to other text" \
    bash -c "! grep -E '\\] [0-9]+/6 workflows complete.+|.+\\[[=> ]{20}\\] [0-9]+/6' '$WS/final.txt' | grep -q ."

# 2. the only key rate-limited (the stand-in meters 60 rpm and keeps its rate-limit
# headers to itself; the key declares no rpm, so agentos learns it from 429s): items
# wait for it, and never more run than it serves
stop_mock
start_mock --latency-ms 50 --rpm 60 --no-ratelimit-headers
rm -rf lld
make_specs lld/pending 3
write_credentials 1
timeout 90 lld-workflow --all --parallel 3 --no-progress >"$WS/wait.txt" 2>&1
check_eq "the run completes with one rate-limited key" 0 "$?"
check "the narrowing line" grep -qF '[COORDINATOR] 1 of 1 key can serve now; running 1 workflow at a time (was 3)' "$WS/wait.txt"
check "the rate-limit line" grep -qE '^\[COORDINATOR\] Rate limit hit on key-1\. Backing off for [0-9]+s\. Redistributing work\.\.\.$' "$WS/wait.txt"
check "the waiting line" grep -qE '^\[COORDINATOR\] The only key is busy or rate-limited; 1 workflow waiting for a key$' "$WS/wait.txt"
check_le "the stand-in never saw more than one request at once" "$(mock_stat max_in_flight)" 1
check_eq "no request reached the key before its Retry-After" 0 "$(mock_stat early_requests)"
finish
