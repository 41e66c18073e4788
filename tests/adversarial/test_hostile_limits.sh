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
check_eq "Ctrl+\\: the two checkpoints are kept" 2 "$(ckpt_files | wc -l)"
check_eq "Ctrl+\\: no core file in the project folder (core_pattern '$PATTERN')" "" "$(cores_in "$WS")"

# 2. ulimit -c unlimited, a worker killed by SIGSEGV mid-request: not dumpable, so no
#    core; its item is retried from its checkpoint and the run finishes.
rm -rf lld "$AGENTOS_HOME/checkpoints"
make_specs lld/pending 2
(
    ulimit -c unlimited
    # (under ASan the signal must kill, not be caught and reported as a crash of ours)
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0" \
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

# 3. ulimit -u low, as an ordinary user (RLIMIT_NPROC is not enforced for root): io_uring
#    cannot start its worker threads, so its writes come back cancelled. The output
#    falls back to write(2): every item is approved (before: "could not write the
#    logs ...: Input/output error", then workers waiting for ever on the ring).
NPROC_UID=64999 # a uid of nobody's, so no other process counts against its limit
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    U="$WS/u"
    mkdir -p "$U/home" && chmod 711 "$WS" && cd "$U"
    start_mock --latency-ms 20
    write_credentials 1 openai ', "concurrency": 3'
    cp "$AGENTOS_HOME/credentials.json" "$U/home/"
    make_specs lld/pending 4
    # The checkout may sit in a folder only root can enter (a fresh clone in a mktemp -d
    # is mode 700): the other user runs copies of the binaries and prompts from $U.
    cp -r "$BIN" "$U/bin" && cp -r "$AGENTOS_PROMPTS_DIR" "$U/prompts"
    chown -R "$NPROC_UID:$NPROC_UID" "$U"
    t0=$(date +%s%N)
    timeout 60 setpriv --reuid "$NPROC_UID" --regid "$NPROC_UID" --clear-groups \
        env AGENTOS_HOME="$U/home" PATH="$U/bin:$PATH" AGENTOS_PROMPTS_DIR="$U/prompts" bash -c "ulimit -u 5; exec lld-workflow --all --parallel 3 --no-progress" \
        >"$WS/nproc.txt" 2>&1
    rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    check_eq "ulimit -u 5: the run exits 0" 0 "$rc"
    check_le "ulimit -u 5: promptly" "$ms" 20000
    check "ulimit -u 5: every item approved" grep -q '4 approved, 0 need revision, 0 failed' "$WS/nproc.txt"
    check "ulimit -u 5: no write error" bash -c "! grep -q 'could not write' '$WS/nproc.txt'"
    check "ulimit -u 5: the logs are whole" grep -qF 'Completed: approved' "$(ls -d "$U"/home/logs/parallel/*/ | head -1)LLD-01.log"
    stop_mock
    cd "$WS"
else
    ok "# SKIP ulimit -u needs root (to act as another user) and setpriv"
fi

# 4. ulimit -n low: too few descriptors for a socket (12) or a checkpoint (8). Each
#    item fails with the real cause within a bound; the endpoint is not blamed (no
#    pause, no breaker line).
start_mock --latency-ms 20
write_credentials 1 openai ', "concurrency": 3'
for n in 12 8; do
    rm -rf lld "$AGENTOS_HOME/checkpoints"
    make_specs lld/pending 3
    t0=$(date +%s%N)
    (ulimit -n "$n"; timeout 30 lld-workflow --all --parallel 3 --no-progress >"$WS/nofile$n.txt" 2>&1; echo $? >"$WS/nofile$n.rc")
    ms=$((($(date +%s%N) - t0) / 1000000))
    check_eq "ulimit -n $n: the run ends with exit 1" 1 "$(cat "$WS/nofile$n.rc")"
    check_le "ulimit -n $n: within 15 s" "$ms" 15000
    check "ulimit -n $n: every failure names too many open files or the file it could not open" \
        bash -c "! grep 'FAILED' '$WS/nofile$n.txt' | grep -vqE 'Too many open files|could not (create|open) checkpoint'"
    check "ulimit -n $n: the endpoint is not blamed" bash -c "! grep -qE 'Endpoint .* failing|No provider endpoint' '$WS/nofile$n.txt'"
done
check "ulimit -n 12: the item says the real cause (too many open files)" \
    grep -qF 'Too many open files' "$WS/nofile12.txt"
stop_mock
finish
