#!/usr/bin/env bash
# How agentos behaves in a real terminal (tmux) beyond the happy path (issue 9,
# finding 16): agentos-shmstat --watch in a terminal narrower than its tables,
# Ctrl+Z (SIGTSTP) and fg on a run, and Ctrl+C while the summary waits for a
# paused reader.
source "$(dirname "$0")/lib.sh"

TMUX_SOCK="agentos-manners-$$"
RUN_PID=""
my_cleanup() {
    tmux -L "$TMUX_SOCK" kill-server 2>/dev/null
    [ -n "$RUN_PID" ] && kill "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null
    cleanup
}
trap my_cleanup EXIT
tm() { tmux -L "$TMUX_SOCK" "$@"; }
# pane_wait TEXT [SECONDS]: until the pane shows TEXT (fixed string).
pane_wait() {
    for _ in $(seq 1 $((${2:-10} * 10))); do
        tm capture-pane -p 2>/dev/null | grep -qF -- "$1" && return 0
        sleep 0.1
    done
    return 1
}

start_mock --latency-ms 400
write_credentials 2
cd "$WS"

# 1. --watch in a 60-column terminal: every line is cut to the width, never wrapped,
#    so the frame redraws in place from the top (80-column rows used to wrap and
#    scroll the frame).
make_specs lld/pending 8
lld-workflow --all --parallel 2 --no-progress >"$WS/run1.txt" 2>&1 &
RUN_PID=$!
RUN=$(run_id_of "$RUN_PID")
check "the run is listed" test -n "$RUN"
tm new-session -d -x 60 -y 40 "agentos-shmstat $RUN --watch 0.3; sleep 30"
pane_wait "ITEM" 5
sleep 0.8
tm capture-pane -p >"$WS/narrow.txt"
tm capture-pane -p -J >"$WS/narrow-joined.txt"
check "the frame starts at the top of the screen" bash -c "head -1 '$WS/narrow.txt' | grep -q '^run $RUN'"
check "the item table is on screen" grep -qE '^ITEM +STATE' "$WS/narrow.txt"
check_eq "no line wrapped (tmux joins wrapped lines with -J)" \
    "$(grep -c '' "$WS/narrow.txt")" "$(grep -c '' "$WS/narrow-joined.txt")"
w=$(awk '{ n = length($0); if (n > m) m = n } END { print m + 0 }' "$WS/narrow-joined.txt")
check_le "every line fits 60 columns" "$w" 60
tm kill-server 2>/dev/null
# --foreground: timeout passes the INT on without its SIGCONT, which, landing while the
# exiting inspector's LeakSanitizer attaches to it (make asan), discards the stop the
# attach waits for and hangs both; -k bounds any other hang.
COLUMNS=70 timeout --foreground -k 3 10 agentos-shmstat "$RUN" --watch 0.2 >"$WS/cols.txt" 2>&1 &
sleep 0.7
kill -INT $! 2>/dev/null
wait $! 2>/dev/null
w=$(awk '{ n = length($0); if (n > m) m = n } END { print m + 0 }' "$WS/cols.txt")
check_le "without a terminal, COLUMNS sets the width (70)" "$w" 70
wait "$RUN_PID"
RUN_PID=""
rm -rf lld

# 2. Ctrl+Z on a run in an interactive shell: the progress bar is erased and a line says
#    what happened, the coordinator and its workers stop, and `fg` resumes the run to
#    its normal end. (The bar used to stay on the line where the shell wrote "Stopped".)
make_specs lld/pending 8
tm new-session -d -x 120 -y 50 "env PS1='PROMPT\$ ' bash --norc -i"
tm send-keys "cd '$WS'" Enter
tm send-keys "lld-workflow --all --parallel 2 & echo \$! >'$WS/coord.pid'" Enter
tm send-keys "fg" Enter
pane_wait "] Completed: approved" 20 || not_ok "no item finished in tmux" # the bar is drawn
sleep 0.2
tm send-keys C-z
pane_wait "Stopped" 5
sleep 0.3
tm capture-pane -p -S - >"$WS/tstp.txt"
cpid=$(cat "$WS/coord.pid")
check "Ctrl+Z: the coordinator says it is suspended" grep -qF '[COORDINATOR] Suspended (Ctrl+Z)' "$WS/tstp.txt"
check "no progress bar left on the screen" bash -c "! grep -q 'workflows complete' '$WS/tstp.txt'"
check_eq "the coordinator is stopped" T "$(ps -o stat= -p "$cpid" | cut -c1)"
check_eq "and so are its workers" "" "$(ps -o stat= --ppid "$cpid" | cut -c1 | grep -v T | tr -d '\n')"
tm send-keys "fg" Enter
tm send-keys "echo RUN-EXITED rc=\$?" Enter
for _ in $(seq 1 600); do
    tm capture-pane -p -S - | grep -qE '^RUN-EXITED rc=[0-9]' && break
    sleep 0.1
done
tm capture-pane -p -S - >"$WS/tstp2.txt"
check "fg: the run says it resumed" grep -qF '[COORDINATOR] Resumed' "$WS/tstp2.txt"
check "and ends normally (exit 0)" grep -q 'RUN-EXITED rc=0' "$WS/tstp2.txt"
check "all eight approved" grep -qE '8 approved' "$WS/tstp2.txt"
tm kill-server 2>/dev/null
rm -rf lld

# 3. Ctrl+C while the summary waits for a paused reader: a pipe that is full, then read
#    a little (as `less` reads one screen), then left alone. What reached the reader ends
#    on a line boundary. (A write that the reader's little read let half through left
#    the last line cut, without its newline.)
stop_mock
start_mock --latency-ms 0
write_credentials 3 openai ', "concurrency": 3'
rm -rf "$AGENTOS_HOME/logs" # the run's coordinator.log is then the only one
mkdir -p lld/pending
long=$(printf 'x%.0s' $(seq 1 50))
for i in $(seq -w 1 150); do printf '# Spec %s\n\nText.\n' "$i" >"lld/pending/${long}-$i.md"; done
python3 - "$WS" >"$WS/cut.txt" 2>&1 <<'PY'
import glob, os, signal, subprocess, sys, time
ws = sys.argv[1]
r, w = os.pipe()
p = subprocess.Popen(["lld-workflow", "--all", "--parallel", "3"], cwd=ws,
                     stdout=w, stderr=subprocess.STDOUT)
os.close(w)
summary_waits = False
for _ in range(900):  # the summary is in coordinator.log once it waits for the reader
    logs = glob.glob(os.path.join(ws, "home/logs/parallel/*/coordinator.log"))
    if logs and "Run folder:" in open(logs[0], errors="replace").read():
        summary_waits = True
        break
    time.sleep(0.1)
time.sleep(0.3)
data = os.read(r, 10000)  # one screenful, then the reader pauses again
time.sleep(0.5)
p.send_signal(signal.SIGINT)
try:
    rc = p.wait(timeout=15)
except subprocess.TimeoutExpired:
    p.kill()
    rc = "hung"
while True:
    chunk = os.read(r, 65536)
    if not chunk:
        break
    data += chunk
print("summary-waited", summary_waits)
print("rc", rc)
print("bytes", len(data))
print("ends-with-newline", data.endswith(b"\n"))
print("every-line-whole", all(l.startswith(b"[") for l in data.split(b"\n")[:-1]))
print("tail", repr(data[-80:]))
open(os.path.join(ws, "got.txt"), "wb").write(data)
PY
check "the summary waited for the paused reader" grep -qx 'summary-waited True' "$WS/cut.txt"
check "Ctrl+C ends the wait" grep -qE '^rc (0|1|130)$' "$WS/cut.txt"
check "what the reader got ends with a newline" grep -qx 'ends-with-newline True' "$WS/cut.txt"
check "and every line of it is whole (prefixed)" grep -qx 'every-line-whole True' "$WS/cut.txt"
grep -q 'ends-with-newline True' "$WS/cut.txt" || diag "$WS/cut.txt"
rm -rf lld

finish
