#!/usr/bin/env bash
# Build every libFuzzer target (tests/fuzz/fuzz_*.c) with clang into
# $BUILD/fuzz/ and run each for a bounded time.
#
#   BUILD=build FUZZ_SECONDS=20 tests/fuzz/run.sh [target...]
#
# FUZZ_SECONDS (default 20) is the time per target; FUZZ_SECONDS=0 only
# replays the seed corpus once. Seeds come from tests/corpus/<folder>/ (the
# folders each target reads are listed below); inputs that only add coverage
# stay in $BUILD/fuzz/corpus/<target>/ so the committed corpus does not fill
# up with noise. A crash, leak, timeout or slow input is copied into the
# target's first corpus folder as fuzz-<kind>-<sha1> (so `make test` replays
# it through tests/unit/test_corpus.c from then on) and the script fails.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
SECS=${FUZZ_SECONDS:-20}
CLANG=${CLANG:-clang}
OUT=$BUILD/fuzz
CORPUS=tests/corpus

# target -> corpus folders it is seeded from (the first receives new findings)
declare -A SEEDS=(
    [credfile]="credentials"
    [reply]="replies/openai replies/gemini"
    [retry]="retry_after replies/gemini"
    [verdict]="verdicts"
    [spec]="specs"
)
declare -A DICT=([credfile]=json [reply]=json [retry]=retry [verdict]=verdict [spec]=spec)

CFLAGS=(-std=c11 -D_GNU_SOURCE -g -O1 -I. -fno-omit-frame-pointer
    -fsanitize=address,undefined -fno-sanitize-recover=all)
read -r -a LIBS <<<"$(make -s --no-print-directory print-LDLIBS)"

die() {
    echo "fuzz: $*" >&2
    exit 1
}

command -v "$CLANG" >/dev/null || die "$CLANG not found (apt-get install clang)"
[[ $SECS =~ ^[0-9]+$ ]] || die "FUZZ_SECONDS must be a whole number of seconds"

# The library, once, instrumented for coverage (fuzzer-no-link) but without libFuzzer's main.
build_lib() {
    local src obj objs=()
    mkdir -p "$OUT/obj"
    for src in shm/*.c llm/*.c runtime/*.c workflows/*.c workflows/*/*.c; do
        obj=$OUT/obj/${src//\//_}
        obj=${obj%.c}.o
        if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find shm llm runtime workflows \
            -name '*.h' -newer "$obj" -print -quit)" ]; then
            "$CLANG" "${CFLAGS[@]}" -w -fsanitize=fuzzer-no-link -c "$src" -o "$obj" ||
                die "could not compile $src"
        fi
        objs+=("$obj")
    done
    rm -f "$OUT/libagentos-fuzz.a"
    ar rcs "$OUT/libagentos-fuzz.a" "${objs[@]}" || die "could not archive the library"
}

write_dicts() {
    cat >"$OUT/json.dict" <<'EOF'
"{"
"}"
"["
"]"
":"
","
"\""
"null"
"true"
"false"
"-1"
"1e999"
"0.5"
"\\u0000"
"\\ud800"
"credentials"
"id"
"provider"
"openai"
"gemini"
"model"
"base_url"
"http://"
"https://"
"api_key"
"api_key_env"
"AGENTOS_CORPUS_KEY"
"AGENTOS_CORPUS_UNSET"
"roles"
"draft"
"review"
"rpm"
"concurrency"
"choices"
"message"
"content"
"candidates"
"parts"
"text"
EOF
    cat >"$OUT/retry.dict" <<'EOF'
"GMT"
"Sun, 06 Nov 1994 08:49:37 GMT"
"Sunday, 06-Nov-94 08:49:37 GMT"
"Sun Nov  6 08:49:37 1994"
"Feb"
"."
"s"
" "
"\x09"
"\x0d\x0a"
"{"
"}"
"["
"]"
"error"
"details"
"@type"
"type.googleapis.com/google.rpc.RetryInfo"
"type.googleapis.com/google.rpc.QuotaFailure"
"retryDelay"
"violations"
"quotaId"
"quotaMetric"
"PerDay"
EOF
    cat >"$OUT/verdict.dict" <<'EOF'
"VERDICT:"
"verdict:"
"APPROVED"
"REVISE"
"BLOCKED"
"DISCUSS"
"[x]"
"[X]"
"[ ]"
"**"
"__"
"`"
"#"
">"
"- "
"\x0a"
"\x0d\x0a"
"\xe2\x80\x94"
"("
EOF
    cat >"$OUT/spec.dict" <<'EOF'
"# "
"\x0a"
"\x0d\x0a"
"\xef\xbb\xbf"
"\xed\xa0\x80"
"\xf4\x90\x80\x80"
"\xc0\xaf"
"LLD-"
"lld-"
"../"
EOF
}

build_target() { # name
    local t=$1
    "$CLANG" "${CFLAGS[@]}" -fsanitize=fuzzer "tests/fuzz/fuzz_$t.c" "$OUT/libagentos-fuzz.a" \
        "${LIBS[@]}" -o "$OUT/fuzz_$t" || die "could not build fuzz_$t"
}

# One line for a README: the sanitizer's verdict and the first frame in our code.
finding_text() { # name
    local log=$OUT/fuzz_$1.log what where
    what=$(grep -m1 -oE 'runtime error: .*|ERROR: [A-Za-z]+Sanitizer: [^ ]+( [^ ]+)?|ERROR: libFuzzer: .*' \
        "$log" | cut -c1-100)
    where=$(grep -m1 -oE '(shm|runtime|workflows|tests/fuzz)/[A-Za-z0-9_]+\.c:[0-9]+' "$log")
    echo "${what:-unknown failure}${where:+ at $where}"
}

# Copy every finding of target t into its first corpus folder; print how many.
collect_findings() { # name
    local t=$1 f kind sum dest n=0
    dest=$CORPUS/${SEEDS[$t]%% *}
    for f in "$OUT/artifacts/$t"/*; do
        [ -f "$f" ] || continue
        kind=$(basename "$f")
        kind=${kind%%-*}
        sum=$(sha1sum "$f" | cut -c1-16)
        cp "$f" "$dest/fuzz-$kind-$sum"
        # test_corpus.c wants every file described in its folder's README.md
        grep -q "fuzz-$kind-$sum" "$dest/README.md" 2>/dev/null ||
            echo "- \`fuzz-$kind-$sum\`: found by fuzz_$t on $(date -u +%F): $(finding_text "$t")" \
                >>"$dest/README.md"
        echo "fuzz_$t: $kind input saved as $dest/fuzz-$kind-$sum" >&2
        n=$((n + 1))
    done
    echo "$n"
}

run_target() { # name -> 0 when nothing was found
    local t=$1 d seeds=() log rc found runs cov
    for d in ${SEEDS[$t]}; do
        [ -d "$CORPUS/$d" ] || die "seed folder $CORPUS/$d is missing"
        seeds+=("$CORPUS/$d")
    done
    mkdir -p "$OUT/corpus/$t"
    rm -rf "$OUT/artifacts/$t"
    mkdir -p "$OUT/artifacts/$t"
    log=$OUT/fuzz_$t.log
    local limit=(-max_total_time="$SECS")
    [ "$SECS" -eq 0 ] && limit=(-runs=0)
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        timeout -k 5 $((SECS + 120)) "$OUT/fuzz_$t" "${limit[@]}" -max_len=65536 -timeout=10 \
        -report_slow_units=5 -rss_limit_mb=2048 -print_final_stats=1 \
        -dict="$OUT/${DICT[$t]}.dict" -artifact_prefix="$OUT/artifacts/$t/" \
        "$OUT/corpus/$t" "${seeds[@]}" >"$log" 2>&1
    rc=$?
    found=$(collect_findings "$t")
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
    echo "fuzz_$t: ${runs:-?} runs, ${cov:-cov: ?}, $found finding(s), exit $rc (log $log)"
    if [ "$found" -gt 0 ] || [ "$rc" -ne 0 ]; then
        grep -E 'ERROR|SUMMARY|runtime error' "$log" | head -5 >&2
        return 1
    fi
    return 0
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(credfile reply retry verdict spec)
for t in "${targets[@]}"; do
    [ -n "${SEEDS[$t]:-}" ] || die "unknown target $t (have: ${!SEEDS[*]})"
done

build_lib
write_dicts
failed=0
for t in "${targets[@]}"; do
    build_target "$t"
    run_target "$t" || failed=$((failed + 1))
done
echo "fuzz: ${#targets[@]} targets, $failed with findings"
[ "$failed" -eq 0 ]
