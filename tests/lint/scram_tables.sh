#!/usr/bin/env bash
# scram_tables.sh - lint: src/core/scram_unicode_tables.h is exactly what
# tools/scram_unicode_gen.py generates.  The tables come from Python's
# Unicode database, so a Python with another Unicode version cannot confirm
# them: that is a failure of its own, saying so.
#
# Environment: CZ_SOURCE_DIR (the source tree), CZ_PYTHON3 (optional: the
# interpreter; default python3 on PATH).
set -u
src=${CZ_SOURCE_DIR:?CZ_SOURCE_DIR is not set (run through ctest)}
py=${CZ_PYTHON3:-python3}
gen="$src/tools/scram_unicode_gen.py"
table="$src/src/core/scram_unicode_tables.h"

if ! command -v "$py" >/dev/null 2>&1; then
	echo "scram_tables: $py not found: install python3 (./dev.sh setup does)" >&2
	exit 1
fi
committed=$(sed -n 's/^ \* Unicode \([0-9.]*\) (NFKC).*/\1/p' "$table" | head -1)
running=$("$py" -c 'import unicodedata; print(unicodedata.unidata_version)') || exit 1
if [ -z "$committed" ]; then
	echo "scram_tables: $table names no Unicode version in its header" >&2
	exit 1
fi
if [ "$committed" != "$running" ]; then
	echo "scram_tables: the committed table is Unicode $committed but $py has Unicode" \
		"$running: run the generator with a Python whose unicodedata is $committed," \
		"or regenerate the table on purpose and review the change" >&2
	exit 1
fi
out=$(mktemp)
trap 'rm -f "$out" "$out.diff"' EXIT
if ! "$py" "$gen" >"$out"; then
	echo "scram_tables: $gen failed" >&2
	exit 1
fi
if ! diff -u "$table" "$out" >"$out.diff"; then
	echo "scram_tables: $table differs from the output of $gen (Unicode $running):" >&2
	head -40 "$out.diff" >&2
	echo "regenerate it: python3 tools/scram_unicode_gen.py > src/core/scram_unicode_tables.h" >&2
	exit 1
fi
echo "scram_tables: the committed table matches the generator (Unicode $running)"
