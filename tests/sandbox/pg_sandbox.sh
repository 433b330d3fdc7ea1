#!/usr/bin/env bash
# pg_sandbox.sh - a throwaway PostgreSQL 15 cluster for tests.
#
#   pg_sandbox.sh start            creates, configures and starts a cluster in a
#                                  new temporary directory; prints `export` lines
#                                  (eval them) describing it
#   pg_sandbox.sh stop DIR         stops the cluster in DIR and removes DIR
#   pg_sandbox.sh reload DIR       pg_ctl reload
#   pg_sandbox.sh restart DIR      pg_ctl restart (tests that change listen_addresses)
#
# PostgreSQL refuses to run as root: as root, the cluster belongs to the
# `postgres` user and every server command runs through runuser.  As any other
# user it simply runs as that user.  Each sandbox has its own directory, port
# and Unix socket directory, so several can run at once.
set -euo pipefail

PGBIN=${CZ_PG_BIN:-/usr/lib/postgresql/15/bin}

as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

port_in_use() {
	# A connect that succeeds means something listens there.
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

cmd_start() {
	local dir data port try log
	dir=$(mktemp -d "${TMPDIR:-/tmp}/czpg-sandbox.XXXXXX")
	chmod 0755 "$dir"
	data="$dir/data"
	log="$dir/server.log"
	mkdir -p "$data" "$dir/sock"
	[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$dir"
	printf 'sandbox-pw-%s\n' "$RANDOM$RANDOM" > "$dir/superuser.pw"
	chmod 0600 "$dir/superuser.pw"
	[ "$(id -u)" = 0 ] && chown postgres "$dir/superuser.pw"

	as_owner "$PGBIN/initdb" -D "$data" -U postgres --auth-local=trust \
		--auth-host=scram-sha-256 --pwfile="$dir/superuser.pw" -E UTF8 \
		--no-instructions >"$dir/initdb.log" 2>&1 || {
		cat "$dir/initdb.log" >&2
		echo "pg_sandbox: initdb failed in $dir" >&2
		exit 1
	}
	as_owner mkdir -p "$data/conf.d"

	# Roles: cz_test (SCRAM password), cz_trust (trust from loopback, for tests
	# of the bare wire protocol).  First match wins in pg_hba.conf.
	as_owner tee "$data/pg_hba.conf" >/dev/null <<-HBA
	# pg_hba.conf of a czpg test sandbox
	local   all         all                      trust
	host    all         cz_trust   127.0.0.1/32  trust
	host    all         all        127.0.0.1/32  scram-sha-256
	host    all         all        ::1/128       scram-sha-256
	HBA

	for try in $(seq 1 40); do
		port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
		port_in_use "$port" && continue
		as_owner tee "$data/postgresql.auto.conf" >/dev/null <<-CONF
		listen_addresses = '127.0.0.1'
		port = $port
		unix_socket_directories = '$dir/sock'
		password_encryption = 'scram-sha-256'
		max_connections = 300
		shared_buffers = '32MB'
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		logging_collector = off
		log_min_messages = warning
		CONF
		if ! grep -q "^include_dir = 'conf.d'" "$data/postgresql.conf"; then
			echo "include_dir = 'conf.d'" | as_owner tee -a "$data/postgresql.conf" >/dev/null
		fi
		if as_owner "$PGBIN/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null 2>&1; then
			break
		fi
		port=""
	done
	if [ -z "$port" ]; then
		tail -20 "$log" >&2 || true
		echo "pg_sandbox: could not start PostgreSQL in $dir" >&2
		exit 1
	fi

	as_owner "$PGBIN/psql" -X -q -h "$dir/sock" -p "$port" -U postgres -d postgres \
		-v ON_ERROR_STOP=1 >/dev/null <<-SQL
	CREATE ROLE cz_test LOGIN PASSWORD 'cz-test-pw';
	CREATE ROLE cz_trust LOGIN;
	CREATE DATABASE cz_test OWNER cz_test;
	GRANT pg_read_all_stats TO cz_test;
	SQL

	cat <<-ENV
	export CZ_PG_SANDBOX='$dir'
	export CZ_PG_DATA='$data'
	export CZ_PG_HOST='127.0.0.1'
	export CZ_PG_PORT='$port'
	export CZ_PG_SOCKDIR='$dir/sock'
	export CZ_PG_USER='cz_test'
	export CZ_PG_PASSWORD='cz-test-pw'
	export CZ_PG_DB='cz_test'
	export CZ_PG_TRUST_USER='cz_trust'
	export CZ_PG_BIN='$PGBIN'
	export CZ_PG_SANDBOX_SH='$(readlink -f "$0")'
	ENV
}

cmd_stop() {
	local dir=$1
	[ -n "$dir" ] && [ -d "$dir/data" ] || return 0
	as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
	case "$dir" in
	*/czpg-sandbox.*) rm -rf -- "$dir" ;;
	esac
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop "${2:?directory}" ;;
reload) as_owner "$PGBIN/pg_ctl" -D "${2:?directory}/data" reload >/dev/null ;;
restart) as_owner "$PGBIN/pg_ctl" -D "${2:?directory}/data" -l "$2/server.log" -w -t 60 -m fast restart >/dev/null ;;
*)
	echo "usage: pg_sandbox.sh start | stop DIR | reload DIR | restart DIR" >&2
	exit 2
	;;
esac
