#!/usr/bin/env bash
# Run the unit and/or integration suites and end with one line
# "N passed, M failed" that adds up every suite. Exit non-zero if any failed.
#
#   tests/run.sh unit | integration | adversarial | all | real   (BUILD=build by default)
#
# Unit tests are CMocka binaries run with TAP output; integration tests are
# tests/integration/test_*.sh scripts printing TAP lines through lib.sh;
# adversarial tests (tests/adversarial/test_*.sh: hostile servers, hostile
# limits) are scripts of the same kind. "all" runs the three.
# Every suite runs under `timeout` so nothing can hang the run. Suites run side
# by side (TEST_JOBS at a time, see below); the real-server suites one by one.
#
# FORMAT_CHECK=1 (make test sets it) adds `make format-check` as a suite of one
# check. Inside a git work tree, a last suite checks that the run left nothing
# new in the repository (git status, ignored files included, build*/ aside):
# tests write only under their own temporary folders.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
what=${1:-all}
export BUILD
passed=0
failed=0
failed_names=()

# Suites run side by side, at most TEST_JOBS at a time (default: cores + 2;
# most suites spend their time waiting on servers, timers and child processes,
# not on the CPU). Each suite writes to its own file and is tallied as it ends.
# TEST_JOBS=1 runs them one after the other. A suite that needs the machine to
# itself (its timing is what it checks) says so on a line "# test: alone":
# it starts when nothing else runs, and nothing starts beside it.
JOBS=${TEST_JOBS:-$(($(nproc 2>/dev/null || echo 1) + 2))}
case "$JOBS" in '' | *[!0-9]* | 0) echo "tests/run.sh: TEST_JOBS must be a positive number, not '$JOBS'" >&2; exit 2 ;; esac

tally() { # name, tap-output-file, exit-code, seconds
    local name=$1 out=$2 rc=$3 took=${4:-0} p f
    p=$(grep -cE '^ok ' "$out")
    f=$(grep -cE '^not ok ' "$out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1 # crashed, timed out or failed outside a test case
        echo "not ok - $name exited with status $rc" >>"$out"
    fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "not ok - $name ran no test" >>"$out"
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$f" -gt 0 ]; then
        failed_names+=("$name")
        echo "--- $name: $p passed, $f failed (${took}s)"
        grep -E '^not ok|^# ' "$out" | head -40
    else
        echo "--- $name: $p passed (${took}s)"
    fi
    if [ -n "${VERBOSE:-}" ]; then cat "$out"; fi
}

# The queue: one entry per suite, "name<TAB>alone(0/1)<TAB>command...".
queue=()
enqueue() { # name alone command...
    local name=$1 alone=$2
    shift 2
    queue+=("$name"$'\t'"$alone"$'\t'"$(printf '%q ' "$@")")
}

declare -A job_name job_out job_start
running=0
alone_running=0

start_job() { # queue entry
    local name alone cmd out
    IFS=$'\t' read -r name alone cmd <<<"$1"
    out=$(mktemp)
    eval "$cmd" >"$out" 2>&1 </dev/null &
    job_name[$!]=$name
    job_out[$!]=$out
    job_start[$!]=$SECONDS
    running=$((running + 1))
    [ "$alone" = 1 ] && alone_running=1
}

reap_job() { # wait for any suite to end and tally it
    local pid rc
    wait -n -p pid
    rc=$?
    if [ -z "${pid:-}" ]; then # no child left although some were counted: never loop on it
        for pid in "${!job_name[@]}"; do
            tally "${job_name[$pid]}" "${job_out[$pid]}" 1 $((SECONDS - job_start[$pid]))
        done
        job_name=() job_out=() job_start=() running=0 alone_running=0
        return 0
    fi
    [ -n "${job_name[$pid]:-}" ] || return 0
    tally "${job_name[$pid]}" "${job_out[$pid]}" "$rc" $((SECONDS - job_start[$pid]))
    rm -f "${job_out[$pid]}"
    unset "job_name[$pid]" "job_out[$pid]" "job_start[$pid]"
    running=$((running - 1))
    [ "$running" -eq 0 ] && alone_running=0
}

run_queue() {
    local i=0 alone
    while [ "$i" -lt ${#queue[@]} ] || [ "$running" -gt 0 ]; do
        if [ "$i" -lt ${#queue[@]} ] && [ "$alone_running" -eq 0 ]; then
            alone=$(cut -f2 <<<"${queue[$i]}")
            if [ "$running" -lt "$JOBS" ] && { [ "$alone" = 0 ] || [ "$running" -eq 0 ]; }; then
                start_job "${queue[$i]}"
                i=$((i + 1))
                continue
            fi
        fi
        reap_job
    done
    queue=()
}

# A suite of one check: name, 0 (passed) or 1, the check's text, and lines of detail
# (shown as TAP diagnostics, the first 20) when it failed.
one_check() {
    local out
    out=$(mktemp)
    if [ "$2" -eq 0 ]; then
        echo "ok - $3" >"$out"
    else
        echo "not ok - $3" >"$out"
        [ -n "${4:-}" ] && printf '%s\n' "$4" | head -20 | sed 's/^/# /' >>"$out"
    fi
    tally "$1" "$out" 0
    rm -f "$out"
}

queue_unit() {
    local t n=0
    for t in "$BUILD"/tests/test_*; do
        [ -x "$t" ] || continue
        n=$((n + 1))
        enqueue "unit/$(basename "$t")" 0 env CMOCKA_MESSAGE_OUTPUT=TAP timeout 120 "$t"
    done
    [ "$n" -eq 0 ] && one_check unit 1 "no unit test binary in $BUILD/tests (make tests)"
}

queue_scripts() { # folder [seconds]: every test_*.sh in it, each within seconds (300)
    local t dir=$1 n=0 alone
    for t in tests/"$dir"/test_*.sh; do
        [ -f "$t" ] || continue
        n=$((n + 1))
        alone=0
        grep -q '^# test: alone' "$t" && alone=1
        enqueue "$dir/$(basename "$t" .sh)" "$alone" timeout "${2:-300}" bash "$t"
    done
    # a suite that finds nothing to run is a failure, not a pass
    [ "$n" -eq 0 ] && one_check "$dir" 1 "tests/$dir has no test_*.sh"
}

run_format() {
    local log
    if log=$(make -s --no-print-directory format-check 2>&1); then
        one_check format/clang-format 0 "make format-check: the tree is clang-formatted"
    else
        one_check format/clang-format 1 "make format-check: run make format (first differences below)" "$log"
    fi
}

# What git sees in the tree (untracked and ignored files included), build folders aside.
tree_state() {
    git status --porcelain --untracked-files=all --ignored 2>/dev/null |
        grep -vE '^.. "?build[^/]*/' | sort
}

# A suite of one check that nothing appeared between two listings:
# name, before, now, the check's text, its text when something did.
nothing_new() {
    local new
    new=$(comm -13 <(echo "$2") <(echo "$3"))
    if [ -z "$new" ]; then one_check "$1" 0 "$4"; else one_check "$1" 1 "$5" "$new"; fi
}

# The run must leave the repository as it found it.
run_clean_tree() {
    nothing_new repo/clean "$tree_before" "$(tree_state)" "the run left no new file in the repository" \
        "the run left files in the repository (a test wrote outside its temporary folder)"
}

# Processes of ours alive now (pid and name), to find what a test left running.
# our_procs: agentos processes running this checkout's binaries ("PID command line"),
# so a test run in another checkout on the same machine is not counted.
our_procs() {
    local root pid cmd
    root=$(pwd -P)
    pgrep -x 'agentos-mockllm|agentos-run|agentos-worker|agentos-shmstat|lld-workflow|issue-workflow' \
        -a 2>/dev/null | while read -r pid cmd; do
        case "$(readlink "/proc/$pid/exe" 2>/dev/null)" in "$root"/*) echo "$pid $cmd" ;; esac
    done | sort
}

run_clean_procs() {
    sleep 1 # a test's last stop is a signal: let it land
    nothing_new procs/clean "$procs_before" "$(our_procs)" "the run left no agentos process running" \
        "the run left processes running (a test did not stop what it started)"
}
procs_before=$(our_procs)

in_git=0
git rev-parse --is-inside-work-tree >/dev/null 2>&1 && in_git=1
[ "$in_git" -eq 1 ] && tree_before=$(tree_state)

[ "${FORMAT_CHECK:-}" = 1 ] && run_format
case "$what" in
unit) queue_unit ;;
integration) queue_scripts integration ;;
adversarial) queue_scripts adversarial ;;
all) queue_unit; queue_scripts integration; queue_scripts adversarial ;;
real) JOBS=1; queue_scripts real 900 ;; # real servers (tests/real/, SPEC 14), one at a time: llama-server takes both cores
*) echo "usage: tests/run.sh unit|integration|adversarial|all|real" >&2; exit 2 ;;
esac
run_queue
[ "$in_git" -eq 1 ] && run_clean_tree
run_clean_procs

if [ ${#failed_names[@]} -gt 0 ]; then
    echo "failed suites: ${failed_names[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
