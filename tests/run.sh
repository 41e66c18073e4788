#!/usr/bin/env bash
# Run the unit and/or integration suites and end with one line
# "N passed, M failed" that adds up every suite. Exit non-zero if any failed.
#
#   tests/run.sh unit | integration | adversarial | all   (BUILD=build by default)
#
# Unit tests are CMocka binaries run with TAP output; integration tests are
# tests/integration/test_*.sh scripts printing TAP lines through lib.sh;
# adversarial tests (tests/adversarial/test_*.sh: hostile servers, hostile
# limits) are scripts of the same kind. "all" runs the three.
# Every suite runs under `timeout` so nothing can hang the run.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
what=${1:-all}
export BUILD
passed=0
failed=0
failed_names=()

tally() { # name, tap-output-file, exit-code
    local name=$1 out=$2 rc=$3 p f
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
        echo "--- $name: $p passed, $f failed"
        grep -E '^not ok|^# ' "$out" | head -40
    else
        echo "--- $name: $p passed"
    fi
}

run_unit() {
    local t out rc
    for t in "$BUILD"/tests/test_*; do
        [ -x "$t" ] || continue
        out=$(mktemp)
        CMOCKA_MESSAGE_OUTPUT=TAP timeout 120 "$t" >"$out" 2>&1
        rc=$?
        tally "unit/$(basename "$t")" "$out" "$rc"
        rm -f "$out"
    done
}

run_scripts() { # folder: every test_*.sh in it
    local t out rc dir=$1
    for t in tests/"$dir"/test_*.sh; do
        [ -f "$t" ] || continue
        out=$(mktemp)
        timeout 300 bash "$t" >"$out" 2>&1
        rc=$?
        tally "$dir/$(basename "$t" .sh)" "$out" "$rc"
        [ -n "${VERBOSE:-}" ] && cat "$out"
        rm -f "$out"
    done
}

case "$what" in
unit) run_unit ;;
integration) run_scripts integration ;;
adversarial) run_scripts adversarial ;;
all) run_unit; run_scripts integration; run_scripts adversarial ;;
*) echo "usage: tests/run.sh unit|integration|adversarial|all" >&2; exit 2 ;;
esac

if [ ${#failed_names[@]} -gt 0 ]; then
    echo "failed suites: ${failed_names[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
