#!/usr/bin/env bash
# pg_sandbox.sh - a throwaway PostgreSQL cluster of one major version for tests.
#
#   pg_sandbox.sh start            creates, configures and starts a cluster of
#                                  major version $CZ_PG_VERSION (15, 17 or 18;
#                                  default 15) in a new temporary directory;
#                                  prints `export` lines (eval them) describing it
#   pg_sandbox.sh stop DIR         stops the cluster in DIR and removes DIR
#   pg_sandbox.sh reload DIR       pg_ctl reload, then waits (10 s at most) until
#                                  the postmaster has processed the SIGHUP: its
#                                  new settings, pg_hba.conf and TLS files are
#                                  what the next connection gets; a rejected
#                                  postgresql.conf counts as processed (the
#                                  server keeps its settings; a line on stderr)
#   pg_sandbox.sh restart DIR      pg_ctl restart (tests that change listen_addresses)
#   pg_sandbox.sh exec DIR CMD...  runs CMD as the server's owner where the
#                                  server runs (in its chroot for 17 and 18, so
#                                  CMD's paths are the CZ_PG_SERVER_* ones)
#   pg_sandbox.sh guard DIR        reads stdin to its end, then stops DIR
#                                  (with_sandbox.sh's guardian)
#
# 15 runs from the host's packages.  17 and 18 run from the debootstrap
# chroots tests/sandbox/pg_root.sh builds (./dev.sh setup); the chroot shares
# the host's network, so its server on 127.0.0.1 is reached from the host.
# Two views of every path: CZ_PG_SANDBOX, CZ_PG_DATA and CZ_PG_SOCKDIR are
# host paths (the chroot's directory + the path inside it) for the tests and
# czctl; CZ_PG_SERVER_SANDBOX, CZ_PG_SERVER_DATA, CZ_PG_SERVER_SOCKDIR and
# CZ_PG_SERVER_BIN are the same places as the server sees them, under
# CZ_PG_SERVER_ROOT (empty for 15).  CZ_PG_BIN holds client tools the host
# can run (its own PostgreSQL 15 psql and pg_ctl, which speak to every
# version over a socket or TCP, and whose reload and stop only signal the
# postmaster).
#
# PostgreSQL refuses to run as root: as root, the cluster belongs to the
# `postgres` user (of the chroot, for 17 and 18: its uid may differ from the
# host's; CZ_PG_OWNER_UID says which) and every server command runs through
# runuser.  As any other user, 15 simply runs as that user; 17 and 18 need
# root for chroot.  Each sandbox has its own directory, port and Unix socket
# directory, so several of any versions can run at once.  A chrooted server
# gets /proc and /dev/shm in a mount namespace of its own, made for each
# server command: no mount is ever visible outside it, and the kernel removes
# them with the last process of the server, however it ends.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

die() {
	echo "pg_sandbox: $*" >&2
	exit 1
}

# Loads the description of the sandbox in DIR (written by start).
load() {
	local dir=$1
	[ -f "$dir/sandbox.env" ] || return 1
	# shellcheck disable=SC1091
	. "$dir/sandbox.env"
}

# Runs "$@" as the server's owner where the server runs.  For a chroot: a
# private mount namespace with the chroot's /proc and /dev/shm, a clean
# environment, and the chroot's runuser.
server_exec() {
	if [ -z "$CZ_PG_SERVER_ROOT" ]; then
		if [ "$(id -u)" = 0 ]; then
			(cd / && runuser -u "$CZ_PG_OWNER" -- "$@")
		else
			"$@"
		fi
		return
	fi
	unshare --mount --propagation private -- bash -euc '
		root=$1
		shift
		mount -t proc proc "$root/proc"
		mount -t tmpfs -o mode=1777,nosuid,nodev shm "$root/dev/shm"
		exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
			/usr/sbin/runuser -u "$0" -- "$@"
	' "$CZ_PG_OWNER" "$CZ_PG_SERVER_ROOT" "$@"
}

# stdin -> FILE (host path), owned by the server's owner.
owner_write() {
	cat >"$1"
	[ "$(id -u)" != 0 ] || chown "$CZ_PG_OWNER_UID:$CZ_PG_OWNER_GID" "$1"
}

port_in_use() {
	# A connect that succeeds means something listens there.
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The host path of a path inside the chroot: resolved in the chroot first, so
# an absolute link there (its /var/run -> /run) stays inside it.
host_path() {
	if [ -z "$CZ_PG_SERVER_ROOT" ]; then
		realpath -m -- "$1"
	else
		echo "$CZ_PG_SERVER_ROOT$(chroot "$CZ_PG_SERVER_ROOT" /usr/bin/realpath -m -- "$1")"
	fi
}

cmd_start() {
	local version root dir sdir data sdata log slog port try ids pw server_num
	version=${CZ_PG_VERSION:-15}
	root=$("$here/pg_root.sh" path "$version") || exit 1
	CZ_PG_SERVER_ROOT=$root
	if [ -n "$root" ]; then
		[ "$(id -u)" = 0 ] || die "PostgreSQL $version runs in the chroot $root: starting it needs root"
		command -v unshare >/dev/null || die "PostgreSQL $version runs in a chroot: starting it needs unshare (util-linux)"
		CZ_PG_SERVER_BIN=/usr/lib/postgresql/$version/bin
		CZ_PG_OWNER=postgres
		ids=$(awk -F: '$1 == "postgres" { print $3 ":" $4 }' "$root/etc/passwd")
		[ -n "$ids" ] || die "the chroot $root has no postgres user (rebuild it: tests/sandbox/pg_root.sh rebuild $version)"
		CZ_PG_OWNER_UID=${ids%%:*}
		CZ_PG_OWNER_GID=${ids##*:}
		sdir=$(mktemp -d "$root/tmp/czpg-sandbox.XXXXXX")
		sdir=${sdir#"$root"}
		dir=$(host_path "$sdir")
	else
		CZ_PG_SERVER_BIN=/usr/lib/postgresql/$version/bin
		[ -x "$CZ_PG_SERVER_BIN/postgres" ] ||
			die "PostgreSQL $version is not installed on the host ($CZ_PG_SERVER_BIN/postgres): run ./dev.sh setup"
		if [ "$(id -u)" = 0 ]; then
			CZ_PG_OWNER=postgres
			CZ_PG_OWNER_UID=$(id -u postgres)
			CZ_PG_OWNER_GID=$(id -g postgres)
		else
			CZ_PG_OWNER=$(id -un)
			CZ_PG_OWNER_UID=$(id -u)
			CZ_PG_OWNER_GID=$(id -g)
		fi
		dir=$(mktemp -d "${TMPDIR:-/tmp}/czpg-sandbox.XXXXXX")
		sdir=$dir
	fi
	# Tools that run on the host: its own client of version 15 for every server.
	CZ_PG_BIN=/usr/lib/postgresql/15/bin
	[ -x "$CZ_PG_BIN/psql" ] || die "the host's PostgreSQL 15 client is missing ($CZ_PG_BIN/psql): run ./dev.sh setup"
	chmod 0755 "$dir"
	data="$dir/data"
	sdata="$sdir/data"
	log="$dir/server.log"
	slog="$sdir/server.log"
	mkdir -p "$data" "$dir/sock"
	[ "$(id -u)" != 0 ] || chown -R "$CZ_PG_OWNER_UID:$CZ_PG_OWNER_GID" "$dir"
	# Whatever happens from here, a failed start leaves nothing behind.
	START_DIR=$dir
	trap 'cmd_stop "$START_DIR" >/dev/null 2>&1 || true' EXIT
	pw="sandbox-pw-$RANDOM$RANDOM"
	printf '%s\n' "$pw" | owner_write "$dir/superuser.pw"
	chmod 0600 "$dir/superuser.pw"
	write_env "$dir" "$sdir" "$version" "" >"$dir/sandbox.env"

	server_exec "$CZ_PG_SERVER_BIN/initdb" -D "$sdata" -U postgres --auth-local=trust \
		--auth-host=scram-sha-256 --pwfile="$sdir/superuser.pw" -E UTF8 \
		--no-instructions >"$dir/initdb.log" 2>&1 || {
		cat "$dir/initdb.log" >&2
		die "initdb of PostgreSQL $version failed in $dir"
	}
	mkdir -p "$data/conf.d"
	[ "$(id -u)" != 0 ] || chown "$CZ_PG_OWNER_UID:$CZ_PG_OWNER_GID" "$data/conf.d"

	# Roles: cz_test (SCRAM password), cz_trust (trust from loopback, for tests
	# of the bare wire protocol).  First match wins in pg_hba.conf.
	owner_write "$data/pg_hba.conf" <<-HBA
	# pg_hba.conf of a czpg test sandbox
	local   all         all                      trust
	host    all         cz_trust   127.0.0.1/32  trust
	host    all         all        127.0.0.1/32  scram-sha-256
	host    all         all        ::1/128       scram-sha-256
	HBA
	if ! grep -q "^include_dir = 'conf.d'" "$data/postgresql.conf"; then
		echo "include_dir = 'conf.d'" >>"$data/postgresql.conf"
	fi

	# A free port: another sandbox may take the same one between the check
	# and the bind, so a failed start is retried on another.  The server's
	# messages are in English whatever the host's locale: reload reads the
	# log for a rejected configuration.
	for try in $(seq 1 40); do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		port_in_use "$port" && continue
		owner_write "$data/postgresql.auto.conf" <<-CONF
		listen_addresses = '127.0.0.1'
		port = $port
		unix_socket_directories = '$sdir/sock'
		password_encryption = 'scram-sha-256'
		max_connections = 300
		shared_buffers = '32MB'
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		logging_collector = off
		log_min_messages = warning
		lc_messages = 'C'
		CONF
		if server_exec "$CZ_PG_SERVER_BIN/pg_ctl" -D "$sdata" -l "$slog" -w -t 60 start \
			>/dev/null 2>&1; then
			break
		fi
		port=""
	done
	if [ -z "$port" ]; then
		tail -20 "$log" >&2 || true
		die "could not start PostgreSQL $version in $dir"
	fi

	"$CZ_PG_BIN/psql" -X -q -h "$dir/sock" -p "$port" -U postgres -d postgres \
		-v ON_ERROR_STOP=1 >/dev/null <<-SQL
	CREATE ROLE cz_test LOGIN PASSWORD 'cz-test-pw';
	CREATE ROLE cz_trust LOGIN;
	CREATE DATABASE cz_test OWNER cz_test;
	GRANT pg_read_all_stats TO cz_test;
	SQL
	# The server says which version it is: a chroot of another version, or a
	# host package in the wrong place, is an error here, not a wrong column.
	server_num=$("$CZ_PG_BIN/psql" -X -At -h "$dir/sock" -p "$port" -U postgres -d postgres \
		-c 'SHOW server_version_num')
	[ "$((server_num / 10000))" = "$version" ] ||
		die "asked for PostgreSQL $version, the server in $dir is $server_num"

	write_env "$dir" "$sdir" "$version" "$port" "$server_num" >"$dir/sandbox.env"
	trap - EXIT
	cat "$dir/sandbox.env"
}

# The export lines describing a sandbox (DIR SERVER_DIR VERSION PORT [NUM]).
write_env() {
	local dir=$1 sdir=$2 version=$3 port=$4 num=${5:-}
	cat <<-ENV
	export CZ_PG_VERSION='$version'
	export CZ_PG_SERVER_VERSION_NUM='$num'
	export CZ_PG_SANDBOX='$dir'
	export CZ_PG_DATA='$dir/data'
	export CZ_PG_HOST='127.0.0.1'
	export CZ_PG_PORT='$port'
	export CZ_PG_SOCKDIR='$dir/sock'
	export CZ_PG_USER='cz_test'
	export CZ_PG_PASSWORD='cz-test-pw'
	export CZ_PG_DB='cz_test'
	export CZ_PG_TRUST_USER='cz_trust'
	export CZ_PG_BIN='$CZ_PG_BIN'
	export CZ_PG_OWNER='$CZ_PG_OWNER'
	export CZ_PG_OWNER_UID='$CZ_PG_OWNER_UID'
	export CZ_PG_OWNER_GID='$CZ_PG_OWNER_GID'
	export CZ_PG_SERVER_ROOT='$CZ_PG_SERVER_ROOT'
	export CZ_PG_SERVER_SANDBOX='$sdir'
	export CZ_PG_SERVER_DATA='$sdir/data'
	export CZ_PG_SERVER_SOCKDIR='$sdir/sock'
	export CZ_PG_SERVER_BIN='$CZ_PG_SERVER_BIN'
	export CZ_PG_SANDBOX_SH='$here/pg_sandbox.sh'
	ENV
}

cmd_stop() {
	local dir=$1 pid
	[ -n "$dir" ] && [ -d "$dir" ] || return 0
	case "$dir" in
	*/czpg-sandbox.*) ;;
	*) die "refusing to remove $dir: not a sandbox directory" ;;
	esac
	if load "$dir" && [ -f "$dir/data/postmaster.pid" ]; then
		server_exec "$CZ_PG_SERVER_BIN/pg_ctl" -D "$CZ_PG_SERVER_DATA" -m immediate -w -t 30 stop \
			>/dev/null 2>&1 || true
		# A server pg_ctl could not stop (its directory broken by a test) is
		# killed: its backends exit when the postmaster dies.
		pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
		case "$pid" in
		'' | *[!0-9]*) ;;
		*) kill -KILL "$pid" 2>/dev/null || true ;;
		esac
	fi
	rm -rf --one-file-system -- "$dir"
}

# One value from a new connection as the superuser over the sandbox's Unix
# socket (a conninfo string, so the caller's PG* variables cannot redirect it).
su_query() {
	"$CZ_PG_BIN/psql" -X -At -v ON_ERROR_STOP=1 -c "$1" \
		"host=$CZ_PG_SOCKDIR port=$CZ_PG_PORT user=postgres dbname=postgres connect_timeout=5 application_name=pg_sandbox"
}

# pg_conf_load_time() in microseconds, the resolution the server keeps.
load_time_sql='SELECT (extract(epoch FROM pg_conf_load_time()) * 1000000)::bigint'

now_us() {
	local t=$EPOCHREALTIME
	echo "${t//[.,]/}"
}

# pg_ctl reload only signals the postmaster and returns.  PostgreSQL 15 to 18
# happen to handle a pending SIGHUP before they accept the next connection,
# but that is their implementation, so the wait checks the reload itself: it
# has happened when a new backend, which inherits the postmaster's
# pg_conf_load_time(), reports another value than before the signal
# (different, not later, so a clock stepped back cannot hang the wait).  A
# postgresql.conf the postmaster rejects changes nothing, pg_conf_load_time()
# included; the postmaster says so in its log (lc_messages = 'C', set at
# start), and that counts as processed.  Either way the postmaster finishes
# the whole reload (settings, pg_hba.conf, TLS files) before it accepts
# another connection, so the connection that saw the change, and every later
# one, gets the reloaded server.
cmd_reload() {
	local dir=$1 log offset before now deadline rejected="" err
	log="$dir/server.log"
	err=$(mktemp "${TMPDIR:-/tmp}/czpg-reload.XXXXXX")
	before=$(su_query "$load_time_sql" 2>"$err") || {
		cat "$err" >&2
		rm -f -- "$err"
		die "cannot read pg_conf_load_time() of the server in $dir before reloading it"
	}
	offset=$(stat -c %s "$log" 2>/dev/null || echo 0)
	server_exec "$CZ_PG_SERVER_BIN/pg_ctl" -D "$CZ_PG_SERVER_DATA" reload >/dev/null
	deadline=$(($(now_us) + 10000000))
	while :; do
		# Looked at before the connection: the postmaster logs the rejection
		# before it finishes the reload, and accepts that connection after.
		# (No pipe: with pipefail, grep -q leaving early could fail tail.)
		if [ -z "$rejected" ] && grep -q 'contains errors; no changes were applied' \
			<(tail -c "+$((offset + 1))" "$log" 2>/dev/null); then
			rejected=yes
		fi
		if now=$(su_query "$load_time_sql" 2>"$err"); then
			[ "$now" = "$before" ] || break
			[ -z "$rejected" ] || break
		fi
		if [ "$(now_us)" -ge "$deadline" ]; then
			cat "$err" >&2
			rm -f -- "$err"
			die "the server in $dir did not process the reload within 10 s (pg_conf_load_time() still $before; see $log)"
		fi
		sleep 0.01 # the next look at the server
	done
	rm -f -- "$err"
	if [ -n "$rejected" ]; then
		echo "pg_sandbox: the server in $dir rejected its configuration files on reload and kept its settings (see $log)" >&2
	fi
}

cmd=${1:-}
case "$cmd" in
start)
	cmd_start
	;;
stop)
	cmd_stop "${2:?directory}"
	;;
reload)
	load "${2:?directory}" || die "no sandbox in $2"
	cmd_reload "$2"
	;;
restart)
	load "${2:?directory}" || die "no sandbox in $2"
	server_exec "$CZ_PG_SERVER_BIN/pg_ctl" -D "$CZ_PG_SERVER_DATA" -l "$CZ_PG_SERVER_SANDBOX/server.log" \
		-w -t 60 -m fast restart >/dev/null
	;;
guard)
	# with_sandbox.sh's guardian: waits for end of file on stdin, then stops.
	cat >/dev/null || true
	cmd_stop "${2:?directory}"
	;;
exec)
	load "${2:?directory}" || die "no sandbox in $2"
	shift 2
	[ $# -gt 0 ] || die "exec needs a command"
	server_exec "$@"
	;;
*)
	echo "usage: pg_sandbox.sh start | stop DIR | reload DIR | restart DIR | exec DIR CMD... | guard DIR" >&2
	exit 2
	;;
esac
