#!/usr/bin/env bash
# test_bench_gate.sh - the release gates' exit codes at the extremes, and
# usage errors: --max-overhead 1000 must pass (0), -50 must fail (1) -- TLS
# cannot make queries twice as fast -- and a gate whose threshold sits inside
# too few pairs must come out inconclusive (4) rather than a verdict.  The
# regression gate against a baseline file of an earlier run: a regression
# of at most 1000 points passes (0), of at most -1000 fails (1), a baseline
# of another pool size is refused before connecting (2), one of another
# server once connected (2), both naming the difference.
set -uo pipefail
# shellcheck source=../support/bench_test.sh
source "$(dirname "$0")/../support/bench_test.sh"

bench() {
	timeout 60 "$CZCTL" postgres tls bench --host 127.0.0.1 --port "$CZ_PG_PORT" \
		--user "$CZ_PG_USER" --ca "$ca" --duration 1 --round-ms 60 --warmup 1 --pool 2 "$@"
}

expect() { # name, expected exit, args...
	local name=$1 want=$2
	shift 2
	bench --json "$@" >"$out/$name.json" 2>"$out/$name.err"
	local rc=$?
	if [ "$rc" = "$want" ] && jq -e --argjson w "$want" '.result.exit_code == $w' "$out/$name.json" >/dev/null; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $name: exit $rc, expected $want"
		cat "$out/$name.err"
		jq -c '{gate, overhead: .overhead.pct, lo: .overhead.ci95_lo_pct, hi: .overhead.ci95_hi_pct, result}' "$out/$name.json"
	fi
}

expect gate-pass 0 --max-overhead 1000 --max-duration 8
jq -e '.gate.decision == "below" and .gate.max_overhead_pct == 1000' "$out/gate-pass.json" >/dev/null &&
	pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: gate-pass decision"; }
expect gate-fail 1 --max-overhead -50 --max-duration 8
jq -e '.gate.decision == "above"' "$out/gate-fail.json" >/dev/null &&
	pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: gate-fail decision"; }
# Too few pairs for a verdict: an A/A run whose time budget cannot reach the
# 10 pairs a verdict needs must come out inconclusive (4), whatever its
# (noisy) interval says.  (Whether a real A/A interval contains 0 is a
# property of the machine's noise, so it is measured in results/, not
# asserted here.)
expect gate-straddle 4 --aa --max-overhead 0 --duration 0.3 --max-duration 0.4 --min-pairs 2 \
	--round-units 5000
jq -e '.gate.decision == "straddle" and .pairs.count < 10 and .pairs.count % 2 == 0' \
	"$out/gate-straddle.json" >/dev/null && pass=$((pass + 1)) ||
	{ fail=$((fail + 1)); echo "FAIL: gate-straddle decision"; jq -c '{gate, pairs}' "$out/gate-straddle.json"; }

# Usage errors exit 2 before connecting.
for args in "--pool 0" "--protocol binary" "--connect --client libpq" "--max-overhead abc" \
	"--rate -5" "--client libpq --pipeline 4" "--sql /nonexistent/file" "--tls-records gnutls" \
	"--client libpq --tls-records czpg"; do
	# shellcheck disable=SC2086
	bench $args >/dev/null 2>"$out/usage.err"
	rc=$?
	if [ "$rc" = 2 ] && [ -s "$out/usage.err" ]; then pass=$((pass + 1)); else
		fail=$((fail + 1)); echo "FAIL: '$args' exit $rc, expected 2"; fi
done
"$CZCTL" postgres tls bench --help >"$out/help.txt"
grep -q -- "--max-overhead" "$out/help.txt" && grep -q -- "--max-regression" "$out/help.txt" &&
	pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: --help"; }

# The regression gate against a baseline file.
expect baseline 0 --duration 2
jq -e '.pairs.count >= 10 and .config.rtt_ms == 0 and .schema == "czctl.bench/2"' "$out/baseline.json" >/dev/null &&
	pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: baseline run"; }
expect regression-pass 0 --baseline "$out/baseline.json" --max-regression 1000 --max-duration 8
jq -e --arg b "$out/baseline.json" '.regression.decision == "below" and .regression.baseline == $b
	and .regression.ci95_lo_pp <= .regression.diff_pp and .regression.diff_pp <= .regression.ci95_hi_pp
	and ((.regression.diff_pp - (.overhead.pct - .regression.baseline_pct)) | fabs) < 1e-6' \
	"$out/regression-pass.json" >/dev/null && pass=$((pass + 1)) ||
	{ fail=$((fail + 1)); echo "FAIL: regression-pass"; jq -c .regression "$out/regression-pass.json"; }
expect regression-fail 1 --baseline "$out/baseline.json" --max-regression -1000 --max-duration 8
jq -e '.regression.decision == "above"' "$out/regression-fail.json" >/dev/null &&
	pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: regression-fail decision"; }
# Another pool size: refused before connecting, naming it.
bench --pool 3 --baseline "$out/baseline.json" --max-regression 1 >/dev/null 2>"$out/incomparable.err"
rc=$?
if [ "$rc" = 2 ] && grep -q "the baseline ran --pool 2, this run --pool 3" "$out/incomparable.err"; then
	pass=$((pass + 1))
else
	fail=$((fail + 1)); echo "FAIL: incomparable pool: exit $rc"; cat "$out/incomparable.err"
fi
# Another server: refused once connected, naming both versions.
jq '.session.server_version = "9.6.24"' "$out/baseline.json" >"$out/baseline-old.json"
expect incomparable-server 2 --baseline "$out/baseline-old.json" --max-regression 1
jq -e '.regression.decision == "incomparable" and (.regression.incomparable | test("^the baseline ran against server 9.6.24, this run "))' \
	"$out/incomparable-server.json" >/dev/null && pass=$((pass + 1)) ||
	{ fail=$((fail + 1)); echo "FAIL: incomparable server"; jq -c .regression "$out/incomparable-server.json"; }
# The two flags go together.
bench --baseline "$out/baseline.json" >/dev/null 2>&1
[ $? = 2 ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: --baseline alone"; }

# --sql FILE runs the statement.
printf 'SELECT count(*) FROM pg_class;\n' >"$out/q.sql"
expect sql 0 --sql "$out/q.sql" --protocol extended
jq -e '.config.workload == "sql" and ([.pools[] | .rows == .units and .errors == 0] | all)' "$out/sql.json" >/dev/null &&
	pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: --sql rows"; }

finish
