#!/usr/bin/env bash
# agentos-shmstat against a real run in full swing: 18 specs (6 reviewed
# twice), --parallel 3, stand-in latency 500 ms. While the run lasts: many
# --json snapshots, each checked for consistency with jq; --prometheus
# checked by promtool; --watch in a real terminal (tmux) redrawn, then
# Ctrl+C and the terminal restored; a --watch without a terminal that must
# stop by itself when the run ends. Then "no such run" and a segment of
# another layout version: one line each, exit 1.
source "$(dirname "$0")/lib.sh"

TMUX_SOCK="agentos-shmstat-$$"
RUN_PID=""
WATCH_PID=""
FAKE=""
my_cleanup() {
    tmux -L "$TMUX_SOCK" kill-server 2>/dev/null
    [ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null
    [ -n "$RUN_PID" ] && kill "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null
    [ -n "$FAKE" ] && rm -f "/dev/shm/agentos-$FAKE"
    cleanup
}
trap my_cleanup EXIT

start_mock --latency-ms 500
write_credentials 3
cd "$WS"
make_specs lld/pending 18
for i in 01 04 07 10 13 16; do printf 'MOCK-REVISE-ONCE\n' >>"lld/pending/$i.md"; done

lld-workflow --all --parallel 3 >"$WS/run.out" 2>&1 &
RUN_PID=$!

# The run id is <timestamp>-<coordinator pid>; the list shows it with the pid.
RUN=$(run_id_of "$RUN_PID")
check "the list shows the run with its coordinator pid" test -n "$RUN"
check "the run id ends with the coordinator pid" test "${RUN%-"$RUN_PID"}" != "$RUN"
agentos-shmstat >"$WS/list.txt"
check "the list says the run is running" grep -qE "^$RUN +lld +$RUN_PID .* running +[0-9]+/18$" "$WS/list.txt"

# --watch in a real terminal, 100x40, redrawing every 0.5 s while we take snapshots.
tmux -L "$TMUX_SOCK" new-session -d -x 100 -y 40 \
    "agentos-shmstat $RUN --watch 0.5; echo WATCH-EXITED rc=\$?; sleep 30"
# And one without a terminal, which must stop by itself when the run ends.
# (--foreground: no SIGCONT after a signal, see test_terminal_manners.sh)
timeout --foreground -k 3 60 agentos-shmstat "${RUN:0:${#RUN}-1}" --watch 0.3 >"$WS/watch.out" 2>&1 &
WATCH_PID=$!

# Consistency of every snapshot: counts add up and agree with the items; no item
# in a state it cannot be in.
cat >"$WS/consistent.jq" <<'EOF'
def states: ["pending","running","waiting-key","approved","needs-revision","failed","interrupted","unreadable"];
. as $d
| ($d.counts.total == ($d.items | length))
  and ($d.counts.total == 18)
  and (([$d.counts | to_entries[] | select(.key != "total") | .value] | add) == $d.counts.total)
  and ([states[] | . as $s | ([$d.items[] | select(.state == $s)] | length) == $d.counts[$s]] | all)
  and ($d.counts.unreadable == 0)
  and ([$d.items[] | select(.state == "running" or .state == "waiting-key")
        | select(.worker_pid <= 0 or .attempts < 1 or .finished)] | length == 0)
  and ([$d.items[] | select(.state == "approved" or .state == "needs-revision")
        | select(.attempts < 1 or .requests < 2)] | length == 0)
  and ([$d.items[] | select(.state == "pending") | select(.finished)] | length == 0)
  and ($d.run.in_flight <= $d.run.parallel_max)
  and ($d.run.id == $d.run.segment[9:])
EOF
snaps=0 bad=0 busy=0
end=$((SECONDS + 45))
while kill -0 "$RUN_PID" 2>/dev/null && [ $SECONDS -lt $end ]; do
    agentos-shmstat "$RUN" --json >"$WS/snap.json" 2>/dev/null || break # the run just ended
    snaps=$((snaps + 1))
    if ! jq -e -f "$WS/consistent.jq" "$WS/snap.json" >/dev/null 2>&1; then
        bad=$((bad + 1))
        cp "$WS/snap.json" "$WS/bad-$bad.json"
    fi
    r=$(jq '.counts.running + .counts["waiting-key"]' "$WS/snap.json" 2>/dev/null)
    [ "${r:-0}" -ge 2 ] && busy=$((busy + 1))
    if [ $snaps -eq 8 ]; then
        agentos-shmstat "$RUN" --prometheus >"$WS/metrics.txt" 2>"$WS/prom.err"
        agentos-shmstat "$RUN" >"$WS/table.txt"
        tmux -L "$TMUX_SOCK" capture-pane -p >"$WS/pane.txt"
        tmux -L "$TMUX_SOCK" send-keys C-c
    fi
done
check_le "took at least 20 snapshots during the run" 20 "$snaps"
check_le "snapshots saw the run in full swing (2+ items in flight)" 5 "$busy"
check_eq "every snapshot is consistent" 0 "$bad"
[ "$bad" -gt 0 ] && diag <(head -c 3000 "$WS/bad-1.json")

# --prometheus, taken mid-run.
check "--prometheus has HELP and TYPE lines" grep -q '^# TYPE agentos_run_in_flight gauge$' "$WS/metrics.txt"
check "--prometheus counts items by state" grep -qE '^agentos_items\{state="running"\} [0-9]+$' "$WS/metrics.txt"
check "--prometheus has per-key counters" grep -qE '^agentos_key_requests_total\{key="key-1"\} [0-9]+$' "$WS/metrics.txt"
check "--prometheus has the latency histogram" grep -qE '^agentos_key_latency_seconds_bucket\{key="key-2",le="\+Inf"\} [0-9]+$' "$WS/metrics.txt"
if command -v promtool >/dev/null; then
    if promtool check metrics <"$WS/metrics.txt" >"$WS/promtool.out" 2>&1; then
        ok "promtool check metrics accepts --prometheus"
    else
        not_ok "promtool check metrics accepts --prometheus"; diag "$WS/promtool.out"
    fi
else
    not_ok "promtool is installed (Debian package prometheus)"
fi
check "no secret in any output" bash -c "! grep -rq 'test-key-' '$WS'/*.txt '$WS'/snap.json"

# The one-shot table fits 80 columns (not a terminal: 80).
w=$(awk '{ n = length($0); if (n > m) m = n } END { print m + 0 }' "$WS/table.txt")
check_le "the table fits 80 columns" "$w" 80
check "the table has the item, key and worker tables" \
    bash -c "grep -q '^ITEM ' '$WS/table.txt' && grep -q '^KEY ' '$WS/table.txt' && grep -q '^WORKER ' '$WS/table.txt'"

# --watch in tmux: the table was on screen; Ctrl+C ended it and restored the terminal.
check "--watch draws the run in the terminal" grep -q "^run $RUN " "$WS/pane.txt"
check "--watch draws the item table" grep -qE '^ITEM +STATE +NODE' "$WS/pane.txt"
for _ in $(seq 1 50); do
    tmux -L "$TMUX_SOCK" capture-pane -p 2>/dev/null | grep -q WATCH-EXITED && break
    sleep 0.1
done
tmux -L "$TMUX_SOCK" capture-pane -p >"$WS/pane2.txt" 2>/dev/null
check "--watch exits 0 on Ctrl+C" grep -q 'WATCH-EXITED rc=0' "$WS/pane2.txt"
check "the alternate screen was left (table gone)" bash -c "! grep -q '^ITEM ' '$WS/pane2.txt'"
check_eq "the cursor is visible again" 1 "$(tmux -L "$TMUX_SOCK" display -p '#{cursor_flag}' 2>/dev/null)"
check_eq "the terminal is back on the main screen" 0 "$(tmux -L "$TMUX_SOCK" display -p '#{alternate_on}' 2>/dev/null)"

# The run ends; the non-terminal --watch stops by itself and says so.
timeout 60 tail --pid="$RUN_PID" -f /dev/null
wait "$RUN_PID"
check_eq "the run succeeded" 0 "$?"
RUN_PID=""
for _ in $(seq 1 50); do kill -0 "$WATCH_PID" 2>/dev/null || break; sleep 0.1; done
wait "$WATCH_PID"
check_eq "--watch without a terminal exits 0 when the run ends" 0 "$?"
WATCH_PID=""
check "--watch says the run ended" grep -qE "^agentos-shmstat: run $RUN (is done|has ended)" "$WS/watch.out"
check "--watch without a terminal writes no escape sequences" bash -c "! grep -q $'\x1b' '$WS/watch.out'"

# A run that does not exist, and a segment of another layout version.
out=$(agentos-shmstat "nosuch-$$" 2>&1)
rc=$?
check_eq "no such run: exit 1" 1 "$rc"
check_eq "no such run: one line" "agentos-shmstat: no such run \"nosuch-$$\"" "$out"
FAKE="itfake-$$"
# (clang-format may put the value on the line after the #define)
LAYOUT=$(grep -A1 '^#define SHM_LAYOUT_VERSION' "$ROOT/shm/shm_layout.h" | grep -oE '\b[0-9]+u\b' | head -1 | tr -d u)
printf 'AGOSSHM1\x63\x00\x00\x00\x00\x02\x00\x00' >"/dev/shm/agentos-$FAKE"
truncate -s 4096 "/dev/shm/agentos-$FAKE"
out=$(agentos-shmstat "$FAKE" 2>&1)
rc=$?
check_eq "other layout version: exit 1" 1 "$rc"
check_eq "other layout version: one line naming both versions" \
    "agentos-shmstat: segment /agentos-$FAKE has layout version 99, this build reads $LAYOUT" "$out"
check "the list marks it as a mismatch" bash -c "agentos-shmstat | grep -qE '^$FAKE .* mismatch'"
out=$(agentos-shmstat x --watch=abc 2>&1)
check_eq "bad flag value: exit 2" 2 "$?"
check_eq "bad flag: one line" 1 "$(printf '%s\n' "$out" | wc -l)"
check "--help" bash -c "agentos-shmstat --help | grep -q -- '--prometheus'"

finish
