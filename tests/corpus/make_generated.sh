#!/usr/bin/env bash
# Regenerate the large, binary and deeply nested corpus files that are awkward
# to write by hand (the small files are hand-written and committed as they
# are). Deterministic: running it twice gives the same bytes. Also runs
# make_checkpoints.sh. Usage: tests/corpus/make_generated.sh
set -eu
cd "$(dirname "$0")"

rep() { # string count -> string repeated count times
    local s=$1 n=$2
    printf "%${n}s" "" | sed "s| |$s|g"
}
fill() { # byte count char
    head -c "$1" /dev/zero | tr '\0' "$2"
}
bytes_1_255() {
    local i
    for i in $(seq 1 255); do printf "\\$(printf '%03o' "$i")"; done
}
ENTRY='"provider": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key": "SECRET-MARKER-CORPUS"'
entries() { # count
    local i sep=""
    for i in $(seq 1 "$1"); do
        printf '%s{"id": "k%d", %s}' "$sep" "$i" "$ENTRY"
        sep=", "
    done
}

# credentials/
{ printf '{"credentials": [{"id": "k1", %s, "pad": "' "$ENTRY"; fill $((2 * 1024 * 1024)) x; printf '"}]}'; } \
    >credentials/bad-huge-2mib.json
{ printf '{"credentials": ['; fill 5000 '['; fill 5000 ']'; printf ']}'; } >credentials/bad-deep-nesting.json
{ printf '{"credentials": [{"id": "k1", %s, "roles": ' "$ENTRY"; fill 900 '['; printf '"draft"'; fill 900 ']'; printf '}]}'; } \
    >credentials/bad-deep-roles.json
{ printf '{"credentials": [{"id": "k1", %s, "extra": ' "$ENTRY"; fill 990 '{' | sed 's/{/{"a":/g'; printf '1'; fill 990 '}'; printf '}]}'; } \
    >credentials/any-deep-unknown-field.json
{ printf '{"credentials": ['; entries 257; printf ']}'; } >credentials/bad-too-many-keys.json
{ printf '{"credentials": ['; entries 256; printf ']}'; } >credentials/ok-256-keys.json
{ bytes_1_255; printf '\0'; bytes_1_255; } >credentials/bad-binary.json

# specs/
{ printf '# Big\n'; fill $((2 * 1024 * 1024)) a; } >specs/bad-2mib.md
h='# Exactly the limit'
{ printf '%s\n' "$h"; fill $((1024 * 1024 - ${#h} - 1)) a; } >specs/ok-exactly-1mib.md
{ printf '%s\n' "$h"; fill $((1024 * 1024 - ${#h})) a; } >specs/bad-1mib-plus-1.md
{ printf '# '; fill $((512 * 1024)) b; } >specs/ok-long-line.md
{ bytes_1_255; printf '\0'; bytes_1_255; } >specs/bad-binary.md
{ printf '# Binary after the heading\n'; bytes_1_255; } >specs/bad-binary-after-heading.md
{ fill 100000 '\n'; printf '# After many blank lines\n'; } >specs/ok-many-blank-lines.md

# replies/
{ printf '{"choices":[{"message":{"role":"assistant","content":"'; fill $((1024 * 1024)) z; printf '"}}]}'; } \
    >replies/openai/ok-huge-content.json
{ fill 100000 '['; fill 100000 ']'; } >replies/openai/bad-deep-nesting.json
{ printf '{"choices":[{"message":{"content":'; fill 999 '['; printf '"x"'; fill 999 ']'; printf '}}]}'; } \
    >replies/openai/bad-content-nested-arrays.json
{ printf '{"candidates":[{"content":{"parts":[{"text":"'; fill $((1024 * 1024)) z; printf '"}]}}]}'; } \
    >replies/gemini/ok-huge-text.json
{ printf '{"candidates":[{"content":{"parts":['; rep '{"text":"ab"},' 20000; printf '{"text":"end"}]}}]}'; } \
    >replies/gemini/ok-many-parts.json
{ fill 100000 '{' | sed 's/{/{"a":/g'; printf '1'; fill 100000 '}'; } >replies/gemini/bad-deep-objects.json
{ printf '{"candidates":[{"content":{"parts":'; fill 999 '['; printf '{"text":"x"}'; fill 999 ']'; printf '}}]}'; } \
    >replies/gemini/bad-parts-nested-arrays.json
{ printf '{"error":{"code":429,"details":['; rep '{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"PerMinute"}]},' 5000; printf '{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"3s"}]}}'; } \
    >replies/gemini/bad-429-many-details.json

# retry_after/
fill 200 1 >retry_after/bad-very-long.txt
{ printf '1.'; fill 70 0; } >retry_after/bad-long-fraction.txt

# verdicts/
{ fill $((256 * 1024)) V; } >verdicts/revise-long-line.txt
{ rep 'VERDICT:' 20000; printf ' APPROVED'; } >verdicts/revise-verdict-repeated.txt
{ rep 'text line\n' 100000; printf 'VERDICT: APPROVED\n'; } >verdicts/approved-after-100k-lines.txt
{ rep '[x] ' 50000; } >verdicts/revise-many-checkboxes.txt
{ bytes_1_255; } >verdicts/any-binary.txt
{ fill 100000 '*'; printf 'VERDICT: BLOCKED'; fill 100000 '*'; } >verdicts/blocked-much-emphasis.txt

./make_checkpoints.sh
