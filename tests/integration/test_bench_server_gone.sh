#!/usr/bin/env bash
# test_bench_server_gone.sh - the server going away mid-bench ends the bench
# promptly with a clear error and a partial report (exit 3), never a hang:
# first its backends are terminated (native and libpq clients), then the
# whole server is stopped with pg_ctl stop -m immediate.  Each stop waits
# for the bench's progress line (CZ_PG_BENCH_PROGRESS=1 writes it to stderr,
# a file here) to show a measured pair, so the partial report has figures.
set -uo pipefail
# shellcheck source=../support/bench_test.sh
source "$(dirname "$0")/../support/bench_test.sh"
export CZ_PG_BENCH_PROGRESS=1

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

psql_su() {
	"$CZ_PG_BIN/psql" -X -At -h "$CZ_PG_SOCKDIR" -p "$CZ_PG_PORT" -U postgres -d postgres -c "$1"
}

# Starts a long bench in the background; sets $bpid.
start_bench() { # name, extra args...
	local name=$1
	shift
	"$CZCTL" postgres tls bench --host 127.0.0.1 --port "$CZ_PG_PORT" --user "$CZ_PG_USER" \
		--ca "$ca" --duration 60 --round-ms 100 --warmup 1 --pool 2 --timeout 5 --json "$@" \
		>"$out/$name.json" 2>"$out/$name.err" &
	bpid=$!
}

# Waits for the bench to end by itself within $2 seconds; sets $rc.
wait_bench() { # pid, seconds
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$1" 2>/dev/null; then
		kill -9 "$1"
		wait "$1" 2>/dev/null
		rc=hang
		return
	fi
	wait "$1"
	rc=$?
}

expect_partial() { # name, rc, error regex
	local f="$out/$1.json"
	[ "$2" = 3 ] && ok || bad "$1: exit $2, expected 3"
	jq -e '.result.status == "error" and .result.exit_code == 3' "$f" >/dev/null && ok ||
		bad "$1: result is not an error: $(jq -c .result "$f" 2>/dev/null || head -c 300 "$f")"
	jq -e --arg re "$3" '.result.error | test($re)' "$f" >/dev/null && ok ||
		bad "$1: error does not say what happened: $(jq -r .result.error "$f" 2>/dev/null)"
	jq -e '.result.partial == true and .pairs.count >= 1 and .pools[0].units > 0' "$f" >/dev/null && ok ||
		bad "$1: no partial figures: $(jq -c '{partial: .result.partial, pairs: .pairs.count}' "$f")"
	grep -q "czctl postgres tls bench: " "$out/$1.err" && ok || bad "$1: nothing on stderr"
}

# Waits until the progress line of bench $1 (pid $2) counts a measured pair;
# gives up when the bench ends or after 60 s.
wait_measuring() { # name, pid
	local i
	for ((i = 0; i < 600; i++)); do
		grep -qE 'pairs [1-9]' "$out/$1.err" && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	bad "$1: measuring never started: $(tr '\r' '\n' <"$out/$1.err" | tail -n 3)"
	return 1
}

for client in native libpq; do
	start_bench "terminate-$client" --client "$client"
	wait_measuring "terminate-$client" "$bpid"
	n=$(psql_su "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE 'czctl bench%'")
	[ "${n:-0}" -ge 1 ] && ok || bad "$client: no bench backend to terminate"
	wait_bench "$bpid" 20
	expect_partial "terminate-$client" "$rc" "fail|terminat|closed"
done

start_bench stop-immediate --workload audit
wait_measuring stop-immediate "$bpid"
# As the server's owner, with the server's own pg_ctl and paths (in its chroot
# for 17 and 18).
"$CZ_PG_SANDBOX_SH" exec "$CZ_PG_SANDBOX" "$CZ_PG_SERVER_BIN/pg_ctl" -D "$CZ_PG_SERVER_DATA" \
	-m immediate -w stop >/dev/null
wait_bench "$bpid" 20
expect_partial stop-immediate "$rc" "fail|closed|reset|connect"

finish
