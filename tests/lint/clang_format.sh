#!/usr/bin/env bash
# clang_format.sh - lint: every tracked C file under src, include, tests,
# bench and tools is formatted as the committed .clang-format says
# (clang-format --dry-run -Werror).  Lists the files that differ.
#
# Environment: CZ_SOURCE_DIR (the source tree), CZ_CLANG_FORMAT (optional:
# the program; default clang-format on PATH).
set -u
src=${CZ_SOURCE_DIR:?CZ_SOURCE_DIR is not set (run through ctest)}
cf=${CZ_CLANG_FORMAT:-clang-format}
cd "$src" || exit 1

if ! command -v "$cf" >/dev/null 2>&1; then
	echo "clang_format: $cf not found: install clang-format (./dev.sh setup does)" >&2
	exit 1
fi
# The files git tracks; outside a git checkout, the files that are there.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	mapfile -t files < <(git ls-files -- 'src/*.[ch]' 'include/*.[ch]' 'tests/*.[ch]' \
		'bench/*.[ch]' 'tools/*.[ch]')
else
	mapfile -t files < <(find src include tests bench tools -name '*.[ch]' 2>/dev/null | sort)
fi
if [ ${#files[@]} -eq 0 ]; then
	echo "clang_format: no C files found under $src" >&2
	exit 1
fi
bad=()
for f in "${files[@]}"; do
	[ -f "$f" ] || continue
	"$cf" --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
	echo "clang_format: ${#bad[@]} of ${#files[@]} files are not formatted" \
		"(clang-format -i FILE):" >&2
	printf '  %s\n' "${bad[@]}" >&2
	exit 1
fi
echo "clang_format: ${#files[@]} files formatted"
