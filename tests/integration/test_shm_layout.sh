#!/usr/bin/env bash
# docs/shm-layout.md against shm/shm_layout.h: every documented offset and size
# is compiled against the header (shm_layout_check.py writes the program), so the
# page cannot drift from the code. The page describes x86-64 Linux with glibc.
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1
prog="$WS/layout_check"
python3 tests/integration/shm_layout_check.py docs/shm-layout.md >"$prog.c"
check "the checks compile against the header" cc -std=c11 -D_GNU_SOURCE -I. -o "$prog" "$prog.c"
out=$("$prog")
rc=$?
echo "$out" | sed 's/^/# /'
check_eq "every documented offset and size matches the header" 0 "$rc"
n=$(echo "$out" | sed -n 's/^\([0-9]*\) checks.*/\1/p')
check_le "the page documents the structures (over 100 numbers)" 100 "${n:-0}"
check "the page states the header's layout version" grep -q "SHM_LAYOUT_VERSION\` = $(sed -n 's/^#define SHM_LAYOUT_VERSION \([0-9]*\)u.*/\1/p' shm/shm_layout.h)" docs/shm-layout.md
finish
