#!/usr/bin/env bash
# with_sandbox.sh CMD [ARGS...] - run CMD with a throwaway PostgreSQL running.
#
# CZ_PG_VERSION (15, 17 or 18; default 15) picks the server's major version;
# the CZ_PG_* variables printed by pg_sandbox.sh describe the server to CMD.
# The cluster is stopped and its directory removed however CMD ends: success,
# failure, an interrupt or SIGTERM (CMD is stopped too), and even a SIGKILL of
# this script, which is how CTest ends a test past its TIMEOUT.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)

env_lines=$("$here/pg_sandbox.sh" start) || exit 1
eval "$env_lines"

# A SIGKILL runs no trap, and the server is a daemon outside this script's
# process tree, so it would outlive us.  A guardian outside that tree (its
# own session, parent gone) reads a pipe whose only write end is this
# script's fd 9: end of file means this script is gone, however it ended,
# and the guardian stops the sandbox (a no-op once cleanup below ran).
exec 9> >(
	exec 3<&0
	setsid "$here/pg_sandbox.sh" guard "$CZ_PG_SANDBOX" <&3 >/dev/null 2>&1 &
)

child=""
cleanup() {
	if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
		kill -TERM "$child" 2>/dev/null
		wait "$child" 2>/dev/null
	fi
	"$here/pg_sandbox.sh" stop "$CZ_PG_SANDBOX"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

"$@" 9>&- &
child=$!
wait "$child"
rc=$?
child=""
if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
	echo "--- last lines of the PostgreSQL $CZ_PG_VERSION sandbox server log ($CZ_PG_SANDBOX/server.log) ---" >&2
	tail -n 30 "$CZ_PG_SANDBOX/server.log" >&2 2>/dev/null || true
fi
exit "$rc"
