#!/usr/bin/env bash
# Hostile limits (issue 9): the run under `ulimit -c unlimited` (no core file may
# hold the keys: Ctrl+\ is an interrupt, and a worker that crashes dumps nothing),
# under a low `ulimit -u` (io_uring cannot start its worker threads: the output
# falls back to write(2); items neither fail nor hang) and under a low `ulimit -n`.
# Each case ends within a bound with a finished run or clear failures.
source "$(dirname "$0")/../integration/lib.sh"
cd "$WS"
PATTERN=$(cat /proc/sys/kernel/core_pattern 2>/dev/null)
# cores_in DIR: core files written below DIR (none can be, with a piped core_pattern)
cores_in() { find "$1" -name 'core*' -type f 2>/dev/null; }

# 1. ulimit -c unlimited, Ctrl+\ (SIGQUIT to the foreground process group): exit 130,
#    checkpoints kept, no core anywhere in the project folder.
start_mock --latency-ms 3000
write_credentials 2
make_specs lld/pending 3
(
    ulimit -c unlimited
    set -m
    lld-workflow --all --parallel 2 --no-progress >"$WS/quit.txt" 2>&1 &
    pid=$!
    set +m
    wait_for "$WS/quit.txt" ">>> Executing: N1_design" 2
    sleep 0.3
    kill -QUIT -- "-$pid"
    timeout 10 tail --pid="$pid" -f /dev/null
    wait "$pid"
    echo $? >"$WS/quit.rc"
)
check_eq "Ctrl+\\: the run exits 130" 130 "$(cat "$WS/quit.rc")"
check "Ctrl+\\: it shut down as for Ctrl+C" \
    grep -qF '[COORDINATOR] Shutting down... waiting for workers to checkpoint' "$WS/quit.txt"
check_eq "Ctrl+\\: the two checkpoints are kept" 2 "$(ls "$AGENTOS_HOME"/checkpoints/*.db 2>/dev/null | wc -l)"
check_eq "Ctrl+\\: no core file in the project folder (core_pattern '$PATTERN')" "" "$(cores_in "$WS")"

# 2. ulimit -c unlimited, a worker killed by SIGSEGV mid-request: not dumpable, so no
#    core; its item is retried from its checkpoint and the run finishes.
rm -rf lld "$AGENTOS_HOME/checkpoints"
make_specs lld/pending 2
(
    ulimit -c unlimited
    lld-workflow --all --parallel 2 --no-progress >"$WS/segv.txt" 2>&1 &
    pid=$!
    w=$(busy_worker "$pid")
    wait_for "$WS/segv.txt" ">>> Executing: N1_design" 1
    [ -n "$w" ] && kill -SEGV "$w"
    timeout 30 tail --pid="$pid" -f /dev/null
    wait "$pid"
    echo $? >"$WS/segv.rc"
)
check_eq "SIGSEGV in a worker: the run still exits 0" 0 "$(cat "$WS/segv.rc")"
check "the worker's death was seen and its item retried" \
    grep -qE '^\[COORDINATOR\] Worker [0-9]+ killed by signal 11 while running LLD-0[12]; retrying it from its checkpoint$' "$WS/segv.txt"
check_eq "SIGSEGV: no core file in the project folder" "" "$(cores_in "$WS")"
stop_mock
finish
