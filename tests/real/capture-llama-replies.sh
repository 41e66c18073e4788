#!/usr/bin/env bash
# Capture what a real llama-server answers, into tests/corpus/replies/llama-server/,
# for the unit tests of error classification (SPEC 6a): for each case NAME, the
# body exactly as received (NAME.json) and the status line and headers
# (NAME.headers, CRs removed), plus a README.md saying how each was made.
#
#   tests/real/capture-llama-replies.sh [OUT_DIR]
#
# Needs the cached build (tests/real/llama.sh build). Bodies of 200 replies
# carry ids, times and random text, so a new capture differs from the last.
source "$(dirname "$0")/llama.sh"

OUT=${1:-$ROOT/tests/corpus/replies/llama-server}
KEY=sk-capture-0123456789
llama_available || { echo "llama-server is not built: tests/real/llama.sh build" >&2; exit 1; }
llama_start auto "$KEY" || exit 1
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.headers
README_ROWS=""

# capture NAME DESCRIPTION CURL-ARGS...: one request against the server; the
# files are named STATUS-NAME after the status it really gave.
capture() {
    local name=$1 what=$2 code
    shift 2
    code=$(curl -s --max-time 30 -D "$WS/h" -o "$WS/b" -w '%{http_code}' "$@")
    name="$code-$name"
    sed 's/\r$//; /^$/d' "$WS/h" >"$OUT/$name.headers"
    mv "$WS/b" "$OUT/$name.json"
    README_ROWS+="| \`$name\` | $what |"$'\n'
    echo "$name" >&2
}

AUTH="Authorization: Bearer $KEY"
LONG=$(printf 'word %.0s' $(seq 1 300))
post() { # KEY-HEADER BODY -> curl arguments (a body file per call)
    local f
    f=$(mktemp "$WS/body.XXXXXX")
    printf '%s' "$2" >"$f"
    CURL_ARGS=("$LLAMA_URL/v1/chat/completions" -H 'Content-Type: application/json' --data-binary "@$f")
    [ -n "$1" ] && CURL_ARGS+=(-H "$1")
}

post "$AUTH" '{"model":"tiny","messages":[{"role":"user","content":"Say hello"}],"max_tokens":16}'
capture chat-completion 'POST /v1/chat/completions, right key, `max_tokens` 16: a full reply with `usage` (and llama.cpp'"'"'s `timings`); `finish_reason` "length"' "${CURL_ARGS[@]}"
post "$AUTH" "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"$LONG\"}],\"max_tokens\":8}"
capture exceed-context 'the same with a 300-word prompt (328 tokens) against a 256-token slot' "${CURL_ARGS[@]}"
post "Authorization: Bearer sk-wrong" '{"model":"tiny","messages":[{"role":"user","content":"Say hello"}]}'
capture wrong-key 'a wrong key in `Authorization: Bearer`' "${CURL_ARGS[@]}"
post "" '{"model":"tiny","messages":[{"role":"user","content":"Say hello"}]}'
capture no-key 'no `Authorization` header at all' "${CURL_ARGS[@]}"
post "$AUTH" '{"model":"tiny","messages":[{"role":"user","content":'
capture invalid-json 'a body cut in the middle (not JSON)' "${CURL_ARGS[@]}"
post "$AUTH" '{"model":"tiny"}'
capture no-messages 'a JSON body without `messages`' "${CURL_ARGS[@]}"
post "$AUTH" '{"model":"tiny","messages":[{"role":"user","content":"Say hello"}],"max_tokens":16}'
CURL_ARGS[0]="$LLAMA_URL/v1/no-such-route"
capture unknown-route 'POST to a path the server does not have, right key' "${CURL_ARGS[@]}"
capture health 'GET /health (needs no key)' "$LLAMA_URL/health"
capture models 'GET /v1/models, right key' -H "$AUTH" "$LLAMA_URL/v1/models"

version=$(sed -n '2,3p' "$LLAMA_BIN.stamp" | paste -sd ';' | sed 's/;/; /')
cat >"$OUT/README.md" <<EOF
# replies/llama-server/: what a real llama-server answers

Captured by \`tests/real/capture-llama-replies.sh\` (run it again to refresh) from
llama.cpp's \`llama-server\` built by \`tests/real/llama.sh build\` (the stamp says:
$version).
It served the tiny random model of \`tests/real/gen_tiny_llama.py\` on 127.0.0.1 with
\`--api-key $KEY ${LLAMA_ARGS[*]}\` (4 slots of 256 tokens each).

For each case, \`NAME.json\` is the body exactly as received and \`NAME.headers\` the
status line and headers. Every body is JSON (\`Content-Type: application/json;
charset=utf-8\`), errors as \`{"error":{"code","message","type"}}\`, and a body
that is not JSON gets a 500, not a 400. llama-server sends no Date header; \`Access-Control-Allow-Origin\`
is empty; a keep-alive reply says \`Keep-Alive: timeout=5, max=100\`, an error reply
\`Connection: close\`. The \`model\` field of a request is ignored (the reply names the
\`--alias\`).

| file | request |
|---|---|
$README_ROWS
These folders are not read by \`tests/unit/test_corpus.c\` (its list of folders is
explicit); they are for the unit tests of error classification (SPEC 6a): 400, 401,
404 are not retried, the 401 disables the key, and the item fails with the server's
own words (\`HTTP 400 exceed_context_size_error: request (328 tokens) exceeds ...\`).
EOF
echo "wrote $OUT" >&2
