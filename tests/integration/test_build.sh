#!/usr/bin/env bash
# The build itself (issue 8): `make all` builds the product only (no test, no
# -lcmocka), so `make install` needs no test library; install and uninstall
# into a scratch PREFIX; header dependencies are exact: a changed header
# rebuilds the objects that include it and nothing else; and make install on a
# machine without libcmocka-dev (hidden in a private mount namespace).
#
# Nothing here writes into the source tree: the dry runs use a scratch BUILD
# folder, the header change is make's what-if (-W: "pretend this file is
# new", no touch), and install reads the suite's own BUILD, which make test
# has just built (when it is not up to date, that check is skipped: building
# here could mix flags, e.g. into build-asan).
source "$(dirname "$0")/lib.sh"
MAKE=(make -C "$ROOT" --no-print-directory)
case "$BUILD" in /*) B=$BUILD ;; *) B=$ROOT/$BUILD ;; esac
# The compiler's .d files name objects as the build that wrote them did (build/x.o):
# ask make with the folder relative to the tree.
BUILD=${B#"$ROOT"/}

# 1. make all from scratch: the product only.
"${MAKE[@]}" -n all BUILD="$WS/fresh" >"$WS/all.txt" 2>&1
check_eq "make -n all: it plans a build" 0 "$?"
check "make -n all: builds agentos-run" grep -q -- "-o $WS/fresh/bin/agentos-run" "$WS/all.txt"
check "make -n all: no -lcmocka" bash -c "! grep -q -- -lcmocka '$WS/all.txt'"
check "make -n all: no test built" bash -c "! grep -qE 'tests/unit/|$WS/fresh/tests/' '$WS/all.txt'"
"${MAKE[@]}" -n install BUILD="$WS/fresh" PREFIX="$WS/prefix" >"$WS/install-n.txt" 2>&1
check "make -n install: no -lcmocka either" bash -c "! grep -q -- -lcmocka '$WS/install-n.txt'"
"${MAKE[@]}" -n tests BUILD="$WS/fresh" >"$WS/tests.txt" 2>&1
check "make -n tests: the tests do link -lcmocka (the check above can fail)" grep -q -- -lcmocka "$WS/tests.txt"

# 2. install and uninstall into a scratch PREFIX (and DESTDIR).
if "${MAKE[@]}" -q all BUILD="$BUILD" 2>/dev/null; then
    P=$WS/prefix
    "${MAKE[@]}" install BUILD="$BUILD" PREFIX="$P" >"$WS/install.txt" 2>&1
    check_eq "make install PREFIX=...: exit 0" 0 "$?"
    for f in bin/agentos-run bin/agentos-mockllm bin/agentos-shmstat bin/lld-workflow \
        bin/issue-workflow share/agentos/prompts/lld_design.md; do
        check "installed $f" test -e "$P/$f"
    done
    check "the installed agentos-run runs" "$P/bin/agentos-run" --version
    check "lld-workflow is a link to agentos-run" test "$(readlink "$P/bin/lld-workflow")" = agentos-run
    "${MAKE[@]}" uninstall BUILD="$BUILD" PREFIX="$P" >"$WS/uninstall.txt" 2>&1
    check_eq "make uninstall PREFIX=...: exit 0" 0 "$?"
    check_eq "make uninstall leaves no file or link" 0 "$(find "$P" \( -type f -o -type l \) | wc -l)"
    "${MAKE[@]}" install BUILD="$BUILD" PREFIX=/opt/agentos DESTDIR="$WS/dest" >/dev/null 2>&1
    check "DESTDIR is honoured" test -x "$WS/dest/opt/agentos/bin/agentos-run"
    "${MAKE[@]}" uninstall PREFIX=/opt/agentos DESTDIR="$WS/dest" >/dev/null 2>&1
    check_eq "and uninstalled with it" 0 "$(find "$WS/dest" \( -type f -o -type l \) | wc -l)"
else
    ok "make install/uninstall # SKIP $BUILD is not up to date (make all first)"
fi

# 2b. On a machine without libcmocka-dev: its header and library are hidden in a
# private mount namespace (root only: mount), the product is built from scratch
# there and installed; the tests, built in the same place, must fail (the hiding
# works, so the install check can fail).
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
    printf '#error "libcmocka-dev is not installed (hidden by test_build.sh)"\n' >"$WS/cmocka.h"
    : >"$WS/libcmocka.so" # empty: not a library
    without_cmocka() {    # command...: run it where cmocka's header and library are hidden
        unshare -m bash -c '
            mount --make-rprivate / || exit 90
            mount --bind "$0/cmocka.h" /usr/include/cmocka.h || exit 91
            for l in /usr/lib/*/libcmocka.so*; do
                [ -e "$l" ] && { mount --bind "$0/libcmocka.so" "$l" || exit 92; }
            done
            exec "$@"' "$WS" "$@"
    }
    without_cmocka "${MAKE[@]}" BUILD="$WS/nocmocka" install PREFIX="$WS/nocmocka-prefix" \
        >"$WS/nocmocka-install.txt" 2>&1
    check_eq "without libcmocka-dev: make install (from scratch) exits 0" 0 "$?"
    check "and installs a working agentos-run" "$WS/nocmocka-prefix/bin/agentos-run" --version
    without_cmocka "${MAKE[@]}" BUILD="$WS/nocmocka" tests >"$WS/nocmocka-tests.txt" 2>&1
    check_eq "there, make tests fails (the test library really is hidden)" 2 "$?"
    check "on the hidden header" grep -q 'libcmocka-dev is not installed' "$WS/nocmocka-tests.txt"
else
    ok "make install without libcmocka-dev # SKIP needs root and unshare (a private mount namespace)"
fi

# 3. A changed header rebuilds exactly its includers (from the compiler's .d files).
# what_if HEADER: the objects make would rebuild, sorted; the includers per .d, sorted.
what_if() {
    "${MAKE[@]}" -n -W "$1" all tests BUILD="$BUILD" 2>/dev/null |
        grep -oE -- "-c [^ ]+\.c -o [^ ]+\.o" | awk '{ print $4 }' | sed "s|^$BUILD/||" | sort
}
includers() {
    grep -lE "(^| )$1( |:|$)" "$B"/shm/*.d "$B"/llm/*.d "$B"/runtime/*.d "$B"/workflows/*.d \
        "$B"/workflows/*/*.d "$B"/tools/*.d "$B"/tools/*/*.d 2>/dev/null |
        sed "s|^$B/||; s|\.d$|.o|" | sort
}
total=$(find "$B" -name '*.o' | wc -l)
if [ "$total" -gt 0 ] && "${MAKE[@]}" -q all BUILD="$BUILD" 2>/dev/null; then
    for h in runtime/deps.h shm/crashpoint.h llm/retry.h; do
        want=$(includers "$h")
        got=$(what_if "$h")
        n=$(echo "$got" | grep -c .)
        check_eq "$h changed: the objects that include it are rebuilt, no other ($n of $total)" \
            "$want" "$got"
        check "$h changed: a few objects, not all" test "$n" -ge 1 -a "$n" -lt "$total"
    done
else
    ok "header dependencies # SKIP $BUILD is not built or not up to date"
fi
finish
