#!/usr/bin/env bash
# with_sandbox.sh CMD [ARGS...] - run CMD with a throwaway PostgreSQL running.
#
# The CZ_PG_* variables printed by pg_sandbox.sh describe the server to CMD.
# The cluster is stopped and its directory removed however CMD ends: success,
# failure, or an interrupt (CTest's timeout sends SIGTERM).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)

env_lines=$("$here/pg_sandbox.sh" start) || exit 1
eval "$env_lines"

cleanup() {
	"$here/pg_sandbox.sh" stop "$CZ_PG_SANDBOX"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

"$@" &
child=$!
wait "$child"
rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
	echo "--- last lines of the sandbox server log ($CZ_PG_SANDBOX/server.log) ---" >&2
	tail -n 30 "$CZ_PG_SANDBOX/server.log" >&2 2>/dev/null || true
fi
exit "$rc"
