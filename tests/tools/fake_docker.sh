#!/usr/bin/env bash
# fake_docker.sh - a stand-in `docker` for the provision tests: there is no
# container engine on the test machines, so `docker kill -s HUP <c>`,
# `docker exec [-u USER] <c> psql ...` and `docker logs` are forwarded to the
# local sandbox server (CZ_PG_* variables), as if it ran in container <c>.
#
#   CZ_FAKE_DOCKER_CONTAINER  the only container name that exists
#   CZ_FAKE_DOCKER_LOG        every invocation's arguments are appended here,
#                             one line each, control characters as \xHH
#   CZ_FAKE_DOCKER_ENV_LOG    (optional) the names of the environment variables
#                             holding "PASSWORD" that each invocation got
#
# `docker logs --since UNIXTIME <c>` prints the sandbox server log's lines from
# that second on (its lines start with their UTC time), on stderr as docker
# does with a container's stderr.
set -u
log=${CZ_FAKE_DOCKER_LOG:?CZ_FAKE_DOCKER_LOG is not set}
want=${CZ_FAKE_DOCKER_CONTAINER:?CZ_FAKE_DOCKER_CONTAINER is not set}

line=""
for a in "$@"; do
	line+="$(printf '%s' "$a" | sed 's/\x1f/\\x1f/g; s/\x1e/\\x1e/g') "
done
printf '%s\n' "${line% }" >>"$log"
if [ -n "${CZ_FAKE_DOCKER_ENV_LOG:-}" ]; then
	{
		echo "--- docker $1"
		env | sed -n 's/^\([A-Za-z_0-9]*PASSWORD[A-Za-z_0-9]*\)=.*/\1/p'
	} >>"$CZ_FAKE_DOCKER_ENV_LOG"
fi

case "${1:-}" in
logs)
	if [ "${2:-}" != "--since" ] || [ $# -ne 4 ]; then
		echo "fake docker: only 'logs --since UNIXTIME <container>' is supported" >&2
		exit 125
	fi
	if [ "$4" != "$want" ]; then
		echo "Error response from daemon: No such container: $4" >&2
		exit 1
	fi
	from=$(date -u -d "@${3%%.*}" '+%Y-%m-%d %H:%M:%S') || exit 1
	awk -v from="$from" 'substr($0, 1, 19) >= from' "$CZ_PG_SANDBOX/server.log" >&2
	;;
kill)
	if [ "${2:-}" != "-s" ] || [ "${3:-}" != "HUP" ] || [ $# -ne 4 ]; then
		echo "fake docker: only 'kill -s HUP <container>' is supported" >&2
		exit 125
	fi
	if [ "$4" != "$want" ]; then
		echo "Error response from daemon: No such container: $4" >&2
		exit 1
	fi
	# PID 1 of the official image is the postmaster: signal ours.
	pid=$(head -n 1 "$CZ_PG_DATA/postmaster.pid")
	kill -HUP "$pid" || exit 1
	echo "$4"
	;;
exec)
	shift
	user=postgres
	if [ "${1:-}" = "-u" ]; then
		user=$2
		shift 2
	fi
	c=${1:-}
	shift
	if [ "$c" != "$want" ]; then
		echo "Error response from daemon: No such container: $c" >&2
		exit 1
	fi
	if [ "${1:-}" != "psql" ]; then
		echo "fake docker: only psql is forwarded into the container" >&2
		exit 126
	fi
	shift
	cd / || exit 1
	# setpriv (no PAM session) is much cheaper than runuser on a busy box.
	exec setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups \
		env PGHOST="$CZ_PG_SOCKDIR" PGPORT="$CZ_PG_PORT" "$CZ_PG_BIN/psql" "$@"
	;;
*)
	echo "fake docker: unsupported command '${1:-}'" >&2
	exit 125
	;;
esac
