#!/usr/bin/env bash
# test_bench_lifetime.sh - `bench --conn-lifetime N`: every connection
# reconnects after N queries.  With one connection per pool and a fixed
# round, the bench must connect exactly ceil(queries / N) times per pool,
# and the server must have seen exactly those sessions (pg_stat_database's
# session count, read before and after); with the extended protocol the
# statements are prepared again on every new connection (no errors).
set -uo pipefail
# shellcheck source=../support/bench_test.sh
source "$(dirname "$0")/../support/bench_test.sh"

sessions() {
	"$CZ_PG_BIN/psql" -X -At -h "$CZ_PG_SOCKDIR" -p "$CZ_PG_PORT" -U postgres -d postgres -c \
		"SELECT sessions FROM pg_stat_database WHERE datname = '$CZ_PG_DB'"
}

bench() {
	timeout 60 "$CZCTL" postgres tls bench --host 127.0.0.1 --port "$CZ_PG_PORT" \
		--user "$CZ_PG_USER" --ca "$ca" --json "$@"
}

before=$(sessions)
bench --pool 1 --round-units 12 --warmup 1 --min-pairs 4 --duration 0.2 --conn-lifetime 5 \
	>"$out/l5.json" 2>"$out/l5.err"
rc=$?
if [ "$rc" -ne 0 ]; then echo "FAIL: --conn-lifetime 5 exited $rc"; cat "$out/l5.err"; exit 1; fi
# queries per pool: (warm-up + measured pairs) x 12; connections: ceil(queries / 5)
if jq -e '.config.conn_lifetime == 5 and .pairs.count >= 4 and ([.pools[] |
	(.units + .warmup_units) as $q | .connects == (($q + 4) / 5 | floor) and .errors == 0] | all)' \
	"$out/l5.json" >/dev/null; then
	pass=$((pass + 1))
else
	fail=$((fail + 1)); echo "FAIL: connects"; jq -c '[.pools[] | {name, units, warmup_units, connects, measured_connects}]' "$out/l5.json"
fi
# The server's count of sessions in the bench's database: the bench's connections of both
# pools (psql reads it from another database).  A session is counted when its backend
# reports, at the latest when it exits: wait for the last ones, up to 10 s.
want=$(jq '[.pools[].connects] | add' "$out/l5.json")
for ((i = 0; i < 100; i++)); do
	after=$(sessions)
	[ $((after - before)) -ge "$want" ] && break
	sleep 0.1
done
if [ $((after - before)) = "$want" ]; then pass=$((pass + 1)); else
	fail=$((fail + 1)); echo "FAIL: the server saw $((after - before)) bench sessions, the bench reports $want"; fi

# Extended protocol, pipelining, two connections, the audit workload: prepared again each time.
bench --pool 2 --pipeline 2 --protocol extended --workload audit --round-ms 60 --warmup 1 \
	--duration 0.5 --conn-lifetime 7 >"$out/ext.json" 2>"$out/ext.err"
rc=$?
if [ "$rc" = 0 ] && jq -e '.result.status == "ok" and ([.pools[] | .errors == 0 and .connects > 2
	and .measured_connects > 0 and .server_cpu_us_per_unit == null] | all)' "$out/ext.json" >/dev/null; then
	pass=$((pass + 1))
else
	fail=$((fail + 1)); echo "FAIL: extended with --conn-lifetime: exit $rc"; cat "$out/ext.err"
	jq -c '{result, pools: [.pools[] | {name, units, errors, connects}]}' "$out/ext.json"
fi

# Usage: connect mode has no lifetime; libpq cannot reconnect here.
for args in "--connect --conn-lifetime 5" "--client libpq --conn-lifetime 5" "--conn-lifetime 1.5" \
	"--rtt 1,2 --conn-lifetime 1,2"; do
	# shellcheck disable=SC2086
	bench --pool 1 $args >/dev/null 2>&1
	rc=$?
	[ "$rc" = 2 ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: '$args' exit $rc, expected 2"; }
done

finish
