#!/usr/bin/env bash
# test_bench_rtt.sh - `bench --rtt`: a short run through an emulated 1 ms
# round trip must show it end to end (p50 latency of both pools at least
# 1 ms, every chunk held: the delay line released chunks, none early) with a
# complete, consistent JSON report labelled as measured through the emulated
# RTT, next to the derived figure for the same RTT; and a two-point sweep
# (--rtt 0,1) gives one run per point, the sweep's summary and its chart.
set -uo pipefail
# shellcheck source=../support/bench_test.sh
source "$(dirname "$0")/../support/bench_test.sh"

bench() {
	timeout 60 "$CZCTL" postgres tls bench --host 127.0.0.1 --port "$CZ_PG_PORT" \
		--user "$CZ_PG_USER" --ca "$ca" --duration 1 --round-ms 60 --warmup 1 --pool 2 "$@"
}

# What a failed check shows of the report.
CHECK_DUMP='{result, config: {rtt_ms: .config.rtt_ms}, pools: [.pools[]? | {name, units, errors, latency_us, delay}], pairs: .pairs.count}'

f="$out/rtt1.json"
bench --rtt 1 --json >"$f" 2>"$out/rtt1.err"
rc=$?
if [ "$rc" -ne 0 ] || ! jq -e . "$f" >/dev/null 2>&1; then
	echo "FAIL: --rtt 1 exited $rc"; cat "$out/rtt1.err"; head -c 2000 "$f"; exit 1
fi
check "ok" '.result.status == "ok" and .result.exit_code == 0 and .result.partial == false' "$f"
check "labelled" '.config.rtt_ms == 1 and .method.emulated_rtt.rtt_ms == 1 and .method.emulated_rtt.one_way_ms == 0.5
	and (.method.measured | test("emulated 1.00 ms RTT")) and (.overhead.measured | test("emulated"))' "$f"
check "p50 of both pools at least the RTT" '[.pools[] | .latency_us.p50 >= 1000 and .latency_us.min >= 1000] | all' "$f"
check "same work" '.pools[0].units == .pools[1].units and .pools[0].units == .pairs.count * .method.round_units
	and ([.pools[] | .latency_us.count == .units and .errors == 0 and .rows == .units] | all)' "$f"
# Each query is at least two chunks (out and back), each released no earlier than due.
check "delay line held every chunk" '[.pools[] | .delay.chunks >= 2 * .units and .delay.configured_one_way_us == 500
	and .delay.late_mean_us >= 0 and .delay.late_max_us >= .delay.late_mean_us] | all' "$f"
check "interval" '.pairs.count >= 2 and .overhead.ci95_lo_pct <= .overhead.pct and .overhead.pct <= .overhead.ci95_hi_pct
	and .overhead.widest_lo_pct <= .overhead.ci95_lo_pct and .overhead.widest_hi_pct >= .overhead.ci95_hi_pct' "$f"
check "derived for the same RTT" '(.derived.at_rtt | length) == 1 and .derived.at_rtt[0].rtt_ms == 1' "$f"
check "CPU estimate" '.overhead_cpu.pct != null and (.pairs.cpu_a_s | length) == .pairs.count' "$f"

# The libpq client owns its sockets: no emulated round trip for it.
bench --rtt 1 --client libpq >/dev/null 2>"$out/libpq.err"
rc=$?
if [ "$rc" = 2 ] && grep -q "native client only" "$out/libpq.err"; then pass=$((pass + 1)); else
	fail=$((fail + 1)); echo "FAIL: --rtt with libpq: exit $rc"; fi

# A sweep: one run per value, its summary, its chart.
s="$out/sweep.json"
bench --rtt 0,1 --duration 0.5 --json --svg "$out/sweep.svg" >"$s" 2>"$out/sweep.err"
rc=$?
if [ "$rc" -ne 0 ]; then
	fail=$((fail + 1)); echo "FAIL: sweep exited $rc"; cat "$out/sweep.err"
else
	check "sweep" '.schema == "czctl.bench-sweep/1" and .axis == "rtt_ms" and (.points | length) == 2
		and (.runs | length) == 2 and .result.status == "ok"
		and .points[0].rtt_ms == 0 and .points[1].rtt_ms == 1
		and .runs[1].config.rtt_ms == 1 and .runs[0].method.emulated_rtt == null
		and .points[1].plain_p50_us >= 1000 and .points[0].plain_p50_us < 1000
		and ([.points[] | .widest_lo_pct <= .overhead_pct and .overhead_pct <= .widest_hi_pct] | all)' "$s"
	if grep -q 'data-series="runbook"' "$out/sweep.svg" && [ "$(grep -c 'data-series="measured"' "$out/sweep.svg")" = 2 ] &&
		grep -q '</svg>' "$out/sweep.svg"; then pass=$((pass + 1)); else
		fail=$((fail + 1)); echo "FAIL: sweep chart"; fi
fi

finish
