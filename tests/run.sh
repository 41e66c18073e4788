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
# Every suite runs under `timeout` so nothing can hang the run.
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

suite_started=$SECONDS

tally() { # name, tap-output-file, exit-code
    local name=$1 out=$2 rc=$3 p f took=$((SECONDS - suite_started))
    suite_started=$SECONDS
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
}

run_unit() {
    local t out rc n=0
    for t in "$BUILD"/tests/test_*; do
        [ -x "$t" ] || continue
        n=$((n + 1))
        out=$(mktemp)
        CMOCKA_MESSAGE_OUTPUT=TAP timeout 120 "$t" >"$out" 2>&1
        rc=$?
        tally "unit/$(basename "$t")" "$out" "$rc"
        rm -f "$out"
    done
    if [ "$n" -eq 0 ]; then
        out=$(mktemp)
        echo "not ok - no unit test binary in $BUILD/tests (make tests)" >"$out"
        tally "unit" "$out" 1
        rm -f "$out"
    fi
}

run_scripts() { # folder [seconds]: every test_*.sh in it, each within seconds (300)
    local t out rc dir=$1 n=0
    for t in tests/"$dir"/test_*.sh; do
        [ -f "$t" ] || continue
        n=$((n + 1))
        out=$(mktemp)
        timeout "${2:-300}" bash "$t" >"$out" 2>&1
        rc=$?
        tally "$dir/$(basename "$t" .sh)" "$out" "$rc"
        [ -n "${VERBOSE:-}" ] && cat "$out"
        rm -f "$out"
    done
    if [ "$n" -eq 0 ]; then # a suite that finds nothing to run is a failure, not a pass
        out=$(mktemp)
        echo "not ok - tests/$dir has no test_*.sh" >"$out"
        tally "$dir" "$out" 1
        rm -f "$out"
    fi
}


run_format() {
    local out rc
    out=$(mktemp)
    if make -s --no-print-directory format-check >"$out.log" 2>&1; then
        echo "ok - make format-check: the tree is clang-formatted" >"$out"
    else
        echo "not ok - make format-check: run make format (first differences below)" >"$out"
        head -20 "$out.log" | sed 's/^/# /' >>"$out"
    fi
    tally "format/clang-format" "$out" 0
    rm -f "$out" "$out.log"
}

# What git sees in the tree (untracked and ignored files included), build folders aside.
tree_state() {
    git status --porcelain --untracked-files=all --ignored 2>/dev/null |
        grep -vE '^.. "?build[^/]*/' | sort
}

# The run must leave the repository as it found it.
run_clean_tree() {
    local out new
    out=$(mktemp)
    new=$(comm -13 <(echo "$tree_before") <(tree_state))
    if [ -z "$new" ]; then
        echo "ok - the run left no new file in the repository" >"$out"
    else
        echo "not ok - the run left files in the repository (a test wrote outside its temporary folder)" >"$out"
        echo "$new" | head -20 | sed 's/^/# /' >>"$out"
    fi
    tally "repo/clean" "$out" 0
    rm -f "$out"
}

# Processes of ours alive now (pid and name), to find what a test left running.
our_procs() {
    pgrep -x 'agentos-mockllm|agentos-run|agentos-worker|agentos-shmstat|lld-workflow|issue-workflow' \
        -a 2>/dev/null | sort
}

run_clean_procs() {
    local out left
    out=$(mktemp)
    sleep 1 # a test's last stop is a signal: let it land
    left=$(comm -13 <(echo "$procs_before") <(our_procs))
    if [ -z "$left" ]; then
        echo "ok - the run left no agentos process running" >"$out"
    else
        echo "not ok - the run left processes running (a test did not stop what it started)" >"$out"
        echo "$left" | head -20 | sed 's/^/# /' >>"$out"
    fi
    tally "procs/clean" "$out" 0
    rm -f "$out"
}
procs_before=$(our_procs)

in_git=0
git rev-parse --is-inside-work-tree >/dev/null 2>&1 && in_git=1
[ "$in_git" -eq 1 ] && tree_before=$(tree_state)

[ "${FORMAT_CHECK:-}" = 1 ] && run_format
case "$what" in
unit) run_unit ;;
integration) run_scripts integration ;;
adversarial) run_scripts adversarial ;;
all) run_unit; run_scripts integration; run_scripts adversarial ;;
real) run_scripts real 900 ;; # real servers (tests/real/, SPEC 14), each started by its test
*) echo "usage: tests/run.sh unit|integration|adversarial|all|real" >&2; exit 2 ;;
esac
[ "$in_git" -eq 1 ] && run_clean_tree
run_clean_procs

if [ ${#failed_names[@]} -gt 0 ]; then
    echo "failed suites: ${failed_names[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
