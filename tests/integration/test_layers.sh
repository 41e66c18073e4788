#!/usr/bin/env bash
# The layers point one way (docs/architecture.md, ADR-12):
#   tools/ -> workflows/ -> runtime/ -> llm/ -> shm/
# A file may include only headers of its own layer or of layers below it, and
# nothing under runtime/ or shm/ names a workstream type (workflows are plug-ins).
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1

rank() {
    case "$1" in
    shm) echo 0 ;; llm) echo 1 ;; runtime) echo 2 ;; workflows) echo 3 ;; tools) echo 4 ;;
    *) echo 9 ;;
    esac
}

bad=""
for f in $(git ls-files 'shm/*.[ch]' 'llm/*.[ch]' 'runtime/*.[ch]' 'workflows/*.[ch]' \
    'workflows/*/*.[ch]'); do
    own=$(rank "${f%%/*}")
    while read -r inc; do
        top=${inc%%/*}
        [ "$(rank "$top")" -gt "$own" ] && bad="$bad $f->$inc"
    done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done
check_eq "no file includes a header from a layer above it" "" "$bad"
check_eq "runtime/ and shm/ name no workstream type" "" \
    "$(grep -rlE 'struct ws_|ws_step|rc->ws' runtime shm | xargs)"
check_eq "no runtime/ file is named after the workstream" "" "$(ls runtime | grep -iE '^(ws|steps|workstream)')"
finish
