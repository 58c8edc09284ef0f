#!/usr/bin/env bash
# Checks that every C and C++ file in the repository is formatted with the project's
# .clang-format (clang-format 14, Debian's). Lists the files that differ and fails if any do.
# --fix formats them in place instead.
set -euo pipefail
cd "$(dirname "$0")/.."
clang_format=${CLANG_FORMAT:-clang-format-14}
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files -- '*.c' '*.cc' '*.cpp' '*.h' '*.hpp')
else  # an unpacked source tree
    mapfile -t files < <(find . -path ./build -prune -o -path './build-*' -prune -o -type f \
        \( -name '*.c' -o -name '*.cc' -o -name '*.cpp' -o -name '*.h' -o -name '*.hpp' \) -print)
fi
if [ "${1:-}" = --fix ]; then
    "$clang_format" -i -- "${files[@]}"
    exit 0
fi
bad=()
for f in "${files[@]}"; do
    "$clang_format" --dry-run -Werror -- "$f" >/dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
    echo "check-format: ${#bad[@]} file(s) differ from .clang-format ($clang_format):" >&2
    printf '  %s\n' "${bad[@]}" >&2
    echo "check-format: run scripts/check-format.sh --fix, or git clang-format-14 on a change" >&2
    exit 1
fi
echo "check-format: ${#files[@]} files formatted"
