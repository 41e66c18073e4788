#!/usr/bin/env bash
# Output that nobody takes never holds the coordinator up (SPEC 7: Ctrl+C exits
# 130 within 5 s). 1: a real terminal stopped with Ctrl+S (tmux), then Ctrl+C.
# 2: stdout a FIFO whose reader never reads: the run still finishes its items
# (the console backs up, workers wait on the pipe, nothing is lost), waits for
# the reader at the end, and SIGINT ends that wait at once (the exit status
# stays the run's: its work is done).
source "$(dirname "$0")/lib.sh"
start_mock --latency-ms 1500
cd "$WS"
write_credentials 3

# 1. Ctrl+S, then SIGTERM
make_specs lld/pending 6
S=agentos-stall-$$
tmux new-session -d -s "$S" -x 120 -y 40 \
    "cd '$WS' && AGENTOS_HOME='$AGENTOS_HOME' AGENTOS_PROMPTS_DIR='$AGENTOS_PROMPTS_DIR' PATH='$PATH' bash -c 'echo \$\$ >pid; exec lld-workflow --all --parallel 3'; echo \$? >rc; sleep 60"
started=0
for _ in $(seq 1 100); do
    tmux capture-pane -p -t "$S" 2>/dev/null | grep -q 'Executing' && { started=1; break; }
    sleep 0.1
done
check_eq "the run started in the terminal" 1 "$started"
tmux send-keys -t "$S" C-s
sleep 2 # nodes end meanwhile: their lines wait for the stopped terminal
run_dir=$(latest_run_dir)
before=$(tmux capture-pane -p -t "$S" | md5sum)
t0=$(date +%s%N)
kill -TERM "$(cat pid)"
for _ in $(seq 1 150); do [ -s rc ] && break; sleep 0.05; done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check_eq "the pane did not move while stopped" "$before" "$(tmux capture-pane -p -t "$S" | md5sum)"
check_eq "SIGTERM with the terminal stopped: exit 130" 130 "$(cat rc 2>/dev/null)"
check_le "within 5 s (ms: $ms)" "$ms" 5000
check "the shutdown reached coordinator.log" grep -qF '[COORDINATOR] Shutting down... waiting for workers to checkpoint' "$run_dir/coordinator.log"
check "checkpoints are kept" bash -c "ls '$AGENTOS_HOME'/checkpoints/*/*.db >/dev/null"
tmux send-keys -t "$S" C-q
tmux kill-session -t "$S" 2>/dev/null
stop_mock
start_mock --latency-ms 0
write_credentials 3
timeout 60 lld-workflow --all --parallel 3 --no-progress >"$WS/resume.txt" 2>&1
check_eq "the next run completes" 0 "$?"
check_eq "every item is done" 6 "$(ls lld/done/*.md 2>/dev/null | wc -l)"

# 2. a reader that never reads: 300 items print more than a pipe holds (~100 KiB)
rm -rf lld "$AGENTOS_HOME/logs"
make_specs lld/pending 300
mkfifo "$WS/out.fifo"
exec 3<>"$WS/out.fifo" # held open, never read
lld-workflow --all --parallel 4 >"$WS/out.fifo" 2>"$WS/err.txt" &
coord=$!
ended=0
for _ in $(seq 1 600); do
    ls "$AGENTOS_HOME"/logs/parallel/*/summary.json >/dev/null 2>&1 && { ended=1; break; }
    sleep 0.1
done
check_eq "the run finished every item while its output stood still" 1 "$ended"
check_eq "all 300 results written" 300 "$(ls lld/done/*.md 2>/dev/null | wc -l)"
sleep 0.5
check "it waits for the reader to take the summary" kill -0 "$coord"
t0=$(date +%s%N)
kill -INT "$coord"
for _ in $(seq 1 100); do kill -0 "$coord" 2>/dev/null || break; sleep 0.02; done
wait "$coord"
rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check_eq "SIGINT ends the wait; the exit status is the run's (all approved: 0)" 0 "$rc"
check_le "at once (ms)" "$ms" 1000
check "coordinator.log has the whole summary" grep -qF '[COORDINATOR] Summary: 300 approved, 0 need revision, 0 failed' "$(latest_run_dir)/coordinator.log"
timeout 5 dd if="$WS/out.fifo" iflag=nonblock bs=1M count=64 of="$WS/got.txt" 2>/dev/null <&3
check "what reached the reader is whole prefixed lines" every_line_prefixed "$WS/got.txt"
exec 3<&-
finish
