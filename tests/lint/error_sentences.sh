#!/usr/bin/env bash
# error_sentences.sh - lint: the error sentences of the protocol core and
# the engine (src/core, src/net) follow the convention: one sentence, lower
# case (a first word that is a name such as TLS, SCRAM or OpenSSL is fine),
# no final period; and they are written through czpg_errf / czpg_verrf,
# which mark a cut sentence with "...", never with snprintf or vsnprintf
# straight into an error buffer.
#
# Checked: the format string of every call to czpg_errf, czpg_verrf, and the
# modules' own error setters (fail, *_fail, set_error, put_err).
#
# Environment: CZ_SOURCE_DIR (the source tree), CZ_PYTHON3 (optional).
set -u
src=${CZ_SOURCE_DIR:?CZ_SOURCE_DIR is not set (run through ctest)}
py=${CZ_PYTHON3:-python3}
if ! command -v "$py" >/dev/null 2>&1; then
	echo "error_sentences: $py not found: install python3 (./dev.sh setup does)" >&2
	exit 1
fi
cd "$src" || exit 1
# errf.c is the one place that calls vsnprintf for a sentence.
files=()
for f in src/core/*.c src/net/*.c; do
	[ "$f" = src/core/errf.c ] || files+=("$f")
done
exec "$py" - "${files[@]}" <<'PY'
import re
import sys

SETTERS = r"(?<![A-Za-z0-9_])(czpg_errf|czpg_verrf|fail|[a-z_]+_fail|set_error|put_err)\s*\("
RAW = re.compile(r"(?<![A-Za-z0-9_])v?snprintf\s*\(\s*([a-z_>.\-]*err)\s*,")
LIT = re.compile(r'"((?:[^"\\]|\\.)*)"')


def call_args(text, start):
    """The argument text of the call whose '(' ends at start."""
    depth, i = 1, start
    while depth and i < len(text):
        c = text[i]
        if c == '"':
            i += 1
            while text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "'":
            i += 1
            while text[i] != "'":
                i += 2 if text[i] == "\\" else 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        i += 1
    return text[start:i - 1]


def format_string(args):
    """The first run of adjacent string literals in args, joined."""
    parts, end = [], None
    for m in LIT.finditer(args):
        if end is not None and args[end:m.start()].strip() != "":
            break
        parts.append(m.group(1))
        end = m.end()
    return "".join(parts) if parts else None


bad = 0
checked = 0
for path in sys.argv[1:]:
    text = open(path, encoding="utf-8").read()
    # Comments could hold example calls: blank them, keeping line numbers.
    text = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)
    for m in re.finditer(SETTERS, text):
        line = text.count("\n", 0, m.start()) + 1
        before = text[max(0, m.start() - 40):m.start()]
        if re.search(r"(static|void|int)\s+\**$", before):
            continue  # a definition or declaration, not a call
        fmt = format_string(call_args(text, m.end()))
        if fmt is None or fmt in ("%s",):
            continue
        checked += 1
        first = re.match(r"[A-Za-z][A-Za-z0-9-]*", fmt)
        if first and re.fullmatch(r"[A-Z][a-z]+", first.group(0)):
            print("%s:%d: starts with a capital: \"%s\"" % (path, line, fmt[:60]), file=sys.stderr)
            bad += 1
        if fmt.endswith(".") and not fmt.endswith("..."):
            print("%s:%d: ends with a period: \"...%s\"" % (path, line, fmt[-60:]), file=sys.stderr)
            bad += 1
    for m in RAW.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        print("%s:%d: writes %s with %s: use czpg_errf, which marks a cut sentence"
              % (path, line, m.group(1), m.group(0).split("(")[0].strip()), file=sys.stderr)
        bad += 1
if bad:
    print("error_sentences: %d problem(s) in %d sentences" % (bad, checked), file=sys.stderr)
    sys.exit(1)
print("error_sentences: %d sentences in src/core and src/net follow the convention" % checked)
PY
