#!/usr/bin/env python3
"""Emit a C program that checks docs/shm-layout.md against shm/shm_layout.h.

Every table whose header row is "| offset | size | type | field | ..." documents
the struct named last (as `struct NAME`) in the text before it. For each row whose
field is a name in backticks, the program prints a line when offsetof or sizeof
differs from the page; a heading "(N bytes" gives sizeof of the struct it names.
"""
import re
import sys

text = open(sys.argv[1], encoding="utf-8").read()
checks = []
struct = None
in_table = False
for line in text.splitlines():
    if not line.startswith("|"):
        in_table = False
        for m in re.finditer(r"`struct (\w+)`", line):
            struct = m.group(1)
        m = re.search(r"`struct (\w+)`[^(]*\((?:offset \d+, )?(\d+) bytes", line)
        if m and "used of" not in line:
            checks.append(("size", m.group(1), None, int(m.group(2))))
        continue
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) >= 4 and cells[0] == "offset" and cells[3] == "field":
        in_table = True
        continue
    if not in_table or not struct or not cells[0].isdigit():
        continue
    m = re.fullmatch(r"`(\w+)`", cells[3])
    if not m:
        continue
    checks.append(("off", struct, m.group(1), int(cells[0])))
    if cells[1].isdigit():
        checks.append(("fsize", struct, m.group(1), int(cells[1])))

print('#include <stddef.h>\n#include <stdio.h>\n#include "shm/shm_layout.h"')
print("int main(void)\n{\n    int bad = 0;")
for kind, s, f, n in checks:
    if kind == "off":
        expr, what = f"offsetof(struct {s}, {f})", f"offset of {s}.{f}"
    elif kind == "fsize":
        expr, what = f"sizeof(((struct {s} *)0)->{f})", f"size of {s}.{f}"
    else:
        expr, what = f"sizeof(struct {s})", f"size of struct {s}"
    print(f'    if ({expr} != {n}) {{ printf("{what}: the page says {n}, the header %zu\\n", (size_t){expr}); bad++; }}')
print(f'    printf("%d checks, %d differ\\n", {len(checks)}, bad);\n    return bad != 0;\n}}')
