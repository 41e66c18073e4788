#!/usr/bin/env bash
# A worker stopped (SIGSTOP, as under a debugger) while it holds a key slot's
# robust mutex: robust mutexes repair a dead holder, not a stopped one, so the
# mutex stays held. The coordinator never takes a lock a worker can hold, so:
#   1. Ctrl+C still ends the run with exit 130 within 5 s (the shutdown sends the
#      stopped worker SIGCONT after SIGTERM, so it reaches its safe point; one
#      that still does not end is SIGKILLed at the shutdown deadline),
#      checkpoints kept, no process or segment left; repeated STOPPED_RUNS times
#      (default 3; 20 for the record: STOPPED_RUNS=20 bash
#      tests/integration/test_stopped_worker.sh).
#   2. Left alone, the run does not hang: the coordinator answers SIGHUP (the
#      held key keeps its settings, with a line saying why), the inspector still
#      reads the run, and the other workers go on: a reservation waits for a
#      slot's mutex at most 20 ms and then looks at the other keys.
#   3. The interrupted batch, run again, completes from its checkpoints.
#
# The stop is placed with the crash point cred_locked (shm/crashpoint.h) and
# AGENTOS_CRASH_SIGNAL=STOP. Its flag file exists from the start (so nothing
# stops) and is removed once items have checkpointed, so the next worker to
# take a slot's mutex stops there, exactly once.
source "$(dirname "$0")/lib.sh"
RUNS=${STOPPED_RUNS:-3}
start_mock --latency-ms 150
write_credentials 2
cd "$WS"

# stopped_worker COORD: pid of COORD's worker in state T (stopped); waits up to 10 s.
stopped_worker() {
    local w=""
    for _ in $(seq 1 200); do
        w=$(ps -o pid=,stat= --ppid "$1" 2>/dev/null | awk '$2 ~ /^T/ { print $1; exit }')
        [ -n "$w" ] && break
        sleep 0.05
    done
    echo "$w"
}

# start_stopping N PAR OUT: a batch of N items with PAR workers in the background
# (sets COORD), which runs until items have checkpointed, then lets the next worker
# that takes a key slot's mutex stop there; sets VICTIM to that worker (empty on
# time-out).
start_stopping() {
    rm -rf lld "$AGENTOS_HOME/checkpoints" "$AGENTOS_HOME/logs"
    make_specs lld/pending "$1"
    : >"$WS/stop.flag"
    AGENTOS_CRASH_POINT=cred_locked AGENTOS_CRASH_SIGNAL=STOP AGENTOS_CRASH_FLAG="$WS/stop.flag" \
        lld-workflow --all --parallel "$2" >"$3" 2>&1 &
    COORD=$!
    wait_for "$3" 'Executing: N2_review' 2
    rm -f "$WS/stop.flag"
    VICTIM=$(stopped_worker "$COORD")
}

# 1. SIGINT with a stopped worker holding a slot mutex, RUNS times.
fast=0 exited=0 kept=0 clean=0 stopped=0 worst=0
for r in $(seq 1 "$RUNS"); do
    start_stopping 6 3 "$WS/int$r.txt"
    [ -n "$VICTIM" ] && stopped=$((stopped + 1))
    t0=$(date +%s%N)
    kill -INT "$COORD"
    # bounded: the coordinator must be gone within 5 s; look for 10 before giving up
    for _ in $(seq 1 200); do kill -0 "$COORD" 2>/dev/null || break; sleep 0.05; done
    t1=$(date +%s%N)
    if kill -0 "$COORD" 2>/dev/null; then
        echo "# run $r: coordinator still there 10 s after SIGINT"
        ps -o pid,stat,wchan:20,cmd --ppid "$COORD" | diag /dev/stdin
        kill -9 "$COORD" 2>/dev/null
    fi
    wait "$COORD"
    rc=$?
    ms=$(((t1 - t0) / 1000000))
    [ "$ms" -gt "$worst" ] && worst=$ms
    [ "$rc" -eq 130 ] && exited=$((exited + 1))
    [ "$ms" -le 5000 ] && fast=$((fast + 1))
    n=$(ckpt_files | wc -l)
    good=1
    for db in $(ckpt_files); do
        [ -f "$db" ] && [ "$(sqlite3 "$db" 'PRAGMA integrity_check' 2>&1)" = ok ] || good=0
    done
    [ "$n" -ge 1 ] && [ "$good" -eq 1 ] && kept=$((kept + 1))
    left=0
    [ -n "$VICTIM" ] && kill -0 "$VICTIM" 2>/dev/null && left=1
    pgrep -P "$COORD" >/dev/null && left=1
    ls /dev/shm | grep -q -- "^agentos-.*-$COORD\$" && left=1
    [ "$left" -eq 0 ] && clean=$((clean + 1))
    if [ "$left" -ne 0 ]; then # leave nothing behind for the next round
        echo "# run $r: left behind: $(pgrep -P "$COORD" | tr '\n' ' ') $VICTIM"
        [ -n "$VICTIM" ] && kill -9 "$VICTIM" 2>/dev/null
        pkill -9 -P "$COORD" 2>/dev/null
    fi
    [ "$rc" -ne 130 ] || [ "$ms" -gt 5000 ] && { echo "# run $r: rc $rc after $ms ms"; diag "$WS/int$r.txt" | tail -8; }
done
echo "# stopped worker + SIGINT: $RUNS runs; exit 130 in $exited, within 5 s in $fast (slowest $worst ms)"
check_eq "a worker stopped holding a slot mutex in every run" "$RUNS" "$stopped"
check_eq "SIGINT: exit 130 in every run" "$RUNS" "$exited"
check_eq "SIGINT: within 5 s in every run" "$RUNS" "$fast"
check_eq "checkpoints kept and sound in every run" "$RUNS" "$kept"
check_eq "no worker, stopped worker or segment left in any run" "$RUNS" "$clean"
check "the shutdown line" grep -qF '[COORDINATOR] Shutting down... waiting for workers to checkpoint' "$WS/int1.txt"

# 3. The last interrupted batch resumes and completes.
timeout 60 lld-workflow --all --parallel 3 >"$WS/resume.txt" 2>&1
check_eq "the interrupted batch, run again, exits 0" 0 "$?"
check "it resumes from checkpoints" grep -q 'Resuming at N' "$WS/resume.txt"
check_eq "all 6 approved" 6 "$(grep -l '^status: approved$' lld/done/*.md 2>/dev/null | wc -l)"
check "no checkpoint left" test -z "$(ckpt_files)"

# 2. Not interrupted: the coordinator keeps ticking while the mutex stays held.
start_stopping 6 3 "$WS/alone.txt"
check "alone: a worker stopped holding a slot mutex" test -n "$VICTIM"
run=$(run_id_of "$COORD")
done0=$(grep -c 'Completed: ' "$WS/alone.txt")
t0=$(date +%s%N)
check "alone: the inspector reads the run (lock-free)" timeout 5 agentos-shmstat --json "$run"
# every key's entry changes (a reload leaves unchanged keys alone), so the reload must
# lock each slot, the held one too: it waits for it only briefly
write_credentials 2 openai ', "rpm": 6000'
kill -HUP "$COORD"
check "alone: the coordinator answers SIGHUP" wait_for "$WS/alone.txt" 'Credentials reloaded (SIGHUP): 2 keys'
t1=$(date +%s%N)
check "alone: and says which key a stopped holder keeps" \
    grep -qE '^\[COORDINATOR\] Key key-[12] keeps its old settings: a worker holding its slot does not answer \(stopped\?\)' "$WS/alone.txt"
check_le "alone: inspector and reload answered within 3 s" $(((t1 - t0) / 1000000)) 3000
check "alone: the coordinator is not stopped" bash -c "ps -o stat= -p $COORD | grep -qv '^T'"
# The other workers skip a slot whose mutex stays held (bounded lock) and go on with
# the other key: an item completes while the holder is stopped.
check "alone: the other workers go on (an item completes meanwhile)" \
    bash -c "for _ in \$(seq 1 200); do [ \$(grep -c 'Completed: ' '$WS/alone.txt') -gt $done0 ] && exit 0; sleep 0.1; done; exit 1"
echo "# alone: items completed while the worker was stopped: $(($(grep -c 'Completed: ' "$WS/alone.txt") - done0)); workers: $(ps -o pid=,stat=,wchan:16= --ppid "$COORD" | tr -s ' ' | tr '\n' ';')"
t0=$(date +%s%N)
kill -INT "$COORD"
for _ in $(seq 1 200); do kill -0 "$COORD" 2>/dev/null || break; sleep 0.05; done
t1=$(date +%s%N)
kill -0 "$COORD" 2>/dev/null && kill -9 "$COORD"
wait "$COORD"
check_eq "alone: SIGINT afterwards still exits 130" 130 "$?"
check_le "alone: within 5 s" $(((t1 - t0) / 1000000)) 5000
check "alone: the stopped worker is gone" bash -c "! kill -0 $VICTIM 2>/dev/null"
kill -9 "$VICTIM" 2>/dev/null
finish
