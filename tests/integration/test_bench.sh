#!/usr/bin/env bash
# test_bench.sh - a short `czctl postgres tls bench` against the sandbox in
# every mode (closed, open, extended, pipeline, connect, libpq, A/A, audit):
# the JSON must be complete and consistent: no errors, both pools did the
# same work, counts add up, the interval exists.
set -uo pipefail
# shellcheck source=../support/bench_test.sh
source "$(dirname "$0")/../support/bench_test.sh"

bench() {
	timeout 60 "$CZCTL" postgres tls bench --host 127.0.0.1 --port "$CZ_PG_PORT" \
		--user "$CZ_PG_USER" --ca "$ca" --duration 1 --round-ms 80 --warmup 1 \
		--pool 3 --json "$@"
}

# What a failed check shows of the report.
CHECK_DUMP='{result, pools: [.pools[] | {name, units, errors, rows, rounds}], pairs: .pairs.count, method}'

# The invariants every successful run must meet.
common() { # name file
	local f=$2
	check "$1 ok" '.result.status == "ok" and .result.exit_code == 0 and .result.partial == false' "$f"
	check "$1 pairs" '.pairs.count >= 2 and (.pairs.a_s | length) == .pairs.count and (.pairs.b_s | length) == .pairs.count and (.pairs.t_s | length) == .pairs.count' "$f"
	check "$1 same work" '.pools[0].units == .pools[1].units and .pools[0].rounds == .pools[1].rounds' "$f"
	check "$1 units = pairs x round" '. as $d | [.pools[] | .units == ($d.pairs.count * $d.method.round_units) and .rounds == $d.pairs.count] | all' "$f"
	check "$1 histogram counts every unit" '[.pools[] | .latency_us.count == .units] | all' "$f"
	check "$1 no errors" '[.pools[] | .errors == 0] | all' "$f"
	check "$1 interval" '.overhead.ci95_lo_pct <= .overhead.pct and .overhead.pct <= .overhead.ci95_hi_pct' "$f"
	check "$1 cpu" '[.pools[] | .client_cpu_us_per_unit > 0] | all' "$f"
	check "$1 pairs positive" '[.pairs.a_s[], .pairs.b_s[]] | all(. > 0)' "$f"
	check "$1 server local" '.machine.server_local == true and ([.pools[] | .server_cpu_us_per_unit > 0] | all)' "$f"
}

run() { # name, expected workload/shape..., bench args
	local name=$1
	shift
	local f="$out/$name.json"
	export CZ_PG_BENCH_PASSWORD="$CZ_PG_PASSWORD"
	bench "$@" >"$f" 2>"$out/$name.err"
	local rc=$?
	if [ "$rc" -ne 0 ] || ! jq -e . "$f" >/dev/null 2>&1; then
		fail=$((fail + 1))
		echo "FAIL: $name exited $rc"
		cat "$out/$name.err"
		head -c 2000 "$f"
		return
	fi
	common "$name" "$f"
}

run closed
check "closed: tls pool is TLS 1.3 + SCRAM" '.session.tls_version == "TLSv1.3" and (.session.auth_method | startswith("SCRAM-SHA-256")) and .pools[0].tls == true and .pools[1].tls == false' "$out/closed.json"
check "closed: select1 gives one row per query" '[.pools[] | .rows == .units] | all' "$out/closed.json"
check "closed: metric is round time" '.method.metric == "round_time" and .config.shape == "closed"' "$out/closed.json"
check "closed: engine stats" '[.pools[] | .io_uring_enters_per_unit > 0 and .io_uring_enters_per_unit <= 3] | all' "$out/closed.json"
check "closed: derived figures labelled" '(.derived.at_rtt | length) == 2 and (.derived.note | test("ASSUMED"))' "$out/closed.json"
check "closed: one PBKDF2 for the run" '.session.scram_cache_misses == 1' "$out/closed.json"
check "closed: TLS 1.3 records sealed by OpenSSL unless asked" '.session.tls_records == "openssl" and .config.tls_records == "openssl" and .schema == "czctl.bench/2"' "$out/closed.json"

run own_records --tls-records czpg
check "own records: sealed by czpg, same answers" '.session.tls_records == "czpg" and .config.tls_records == "czpg" and ([.pools[] | .rows == .units] | all)' "$out/own_records.json"

run open --rate 400
check "open: metric is latency" '.method.metric == "mean_latency" and .config.shape == "open" and .config.rate == 400' "$out/open.json"

run extended --protocol extended
check "extended: rows" '[.pools[] | .rows == .units] | all' "$out/extended.json"

run pipeline --pipeline 4 --protocol extended
check "pipeline: config" '.config.pipeline == 4' "$out/pipeline.json"

run audit --workload audit
check "audit: half the units read a row back" '. as $d | [.pools[] | .rows == .rounds * (($d.method.round_units / 2) | floor)] | all' "$out/audit.json"

run audit_ext --workload audit --protocol extended --pipeline 2
check "audit extended: rows" '. as $d | [.pools[] | .rows == .rounds * (($d.method.round_units / 2) | floor)] | all' "$out/audit_ext.json"
left=$("$CZ_PG_BIN/psql" -X -At -h "$CZ_PG_SOCKDIR" -p "$CZ_PG_PORT" -U postgres -d "$CZ_PG_DB" \
	-c "SELECT count(*) FROM pg_class WHERE relname LIKE 'czbench_audit_%'")
if [ "$left" = "0" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: audit table left behind"; fi

run aa --aa
check "aa: both plaintext" '.config.aa == true and ([.pools[] | .tls] | all(. == false)) and .pools[0].name == "plain-a"' "$out/aa.json"

run aatls --aa-tls
check "aa-tls: both TLS" '.config.aa_tls == true and ([.pools[] | .tls] | all) and .pools[0].name == "tls-a" and .session.tls_records == "openssl"' "$out/aatls.json"

run libpq --client libpq
check "libpq: polls counted" '.config.client == "libpq" and ([.pools[] | .polls_per_unit > 0] | all) and .session.tls_version == "TLSv1.3"' "$out/libpq.json"

run connect --connect --pool 2
check "connect: units are connections" '.config.mode == "connect" and .method.unit == "connection" and ([.pools[] | .connections == .units] | all)' "$out/connect.json"

svg="$out/chart.svg"
bench --duration 0.5 --svg "$svg" >/dev/null 2>&1
if grep -q 'data-series="tls"' "$svg" && grep -q '</svg>' "$svg"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: --svg"; fi

finish
