#!/usr/bin/env bash
# run_measured.sh [BUILD_DIR] [PART...] - the figures of results/bench-measured.md,
# measured (not derived) through an emulated network round trip, on this
# machine, against a throwaway PostgreSQL 15 (tests/sandbox/with_sandbox.sh)
# with TLS 1.3 (bench/enable_tls.sh):
#
#   rtt        the overhead against the round trip, --rtt 0.1,0.25,0.5,1,2,
#              select1 and audit, pool 4, 30 s per point (measured and derived)
#   lifetime   the overhead against --conn-lifetime 1,10,100,1000,never at
#              --rtt 1, and its two parts (per query, per connection)
#   precision  60 s runs: select1 and audit, at --rtt 1 and in the closed
#              loop on loopback: how wide the interval comes out
#   coverage   A/A 20 times x 60 s (plaintext against plaintext, and TLS
#              against TLS), in the closed loop and at --rtt 1: how many
#              intervals contain 0
#
# With no PART, all of them in that order (about 100 minutes).  Each run's
# command and the load average before and after it go to
# results/measured-commands.txt; results/measured-summary.md is generated
# from the JSON files (bench/summarize_measured.sh).  CZ_MEASURED_SCALE=0.1
# shortens every run (a dry run of this script); CZ_MEASURED_RESUME=1 keeps
# every run whose JSON report is already complete and makes only the rest.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
shift || true
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(rtt lifetime precision coverage)
if [ -z "${CZ_PG_SANDBOX:-}" ]; then
	exec "$src/tests/sandbox/with_sandbox.sh" bash "$0" "$build" "${parts[@]}"
fi
command -v jq >/dev/null || { echo "run_measured.sh: jq is needed" >&2; exit 1; }
export CZ_TOOL_BENCH_CERTS="$build/tests/bench_certs"
czctl="$build/czctl"
res="${CZ_RESULTS_DIR:-$src/results}"
mkdir -p "$res/coverage"
ca=$(bash "$src/bench/enable_tls.sh" ec)
export CZ_PG_BENCH_PASSWORD="$CZ_PG_PASSWORD"
base=(postgres tls bench --host 127.0.0.1 --port "$CZ_PG_PORT" --user "$CZ_PG_USER" --ca "$ca")
shown="czctl postgres tls bench --host 127.0.0.1 --port PORT --user cz_test --ca CA"
log="$res/measured-commands.txt"
scale=${CZ_MEASURED_SCALE:-1}
d() { awk -v a="$1" -v s="$scale" 'BEGIN { v = a * s; if (v < 1) v = 1; print v }'; }
[ -f "$log" ] || {
	echo "# bench/run_measured.sh: every run, with the load average (1, 5, 15 min) before and after"
	echo "# machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), kernel $(uname -r)"
	echo "# $("$CZ_PG_BIN/postgres" --version); $(openssl version); czctl $("$czctl" --version)"
} >"$log"

# bench NAME ARGS...: JSON to NAME.json (an SVG too for sweeps); logs the command and the load
bench() {
	local name=$1 before after
	shift
	# (jq 1.6 exits 0 on an empty file: hence the size test)
	if [ "${CZ_MEASURED_RESUME:-0}" = 1 ] && [ -s "$res/$name.json" ] &&
		jq -e '.result.status == "ok" and (.overhead // .runs // .points) != null' "$res/$name.json" >/dev/null 2>&1; then
		echo "== $name: kept (complete)" >&2
		return
	fi
	before=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' ,)
	echo "== $name: $*" >&2
	"$czctl" "${base[@]}" "$@" --json >"$res/$name.json" || true
	after=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' ,)
	# the command as anyone would type it: paths under the results directory relative to it
	echo "$(date -u +%H:%M:%S) $name load_before=$before load_after=$after : $shown ${*//$res\//results/}" >>"$log"
}

for part in "${parts[@]}"; do
	case $part in
	rtt)
		for w in select1 audit; do
			bench "rtt-$w" --workload "$w" --pool 4 --rtt 0.1,0.25,0.5,1,2 \
				--duration "$(d 30)" --svg "$res/rtt-$w.svg"
		done
		;;
	lifetime)
		bench lifetime --pool 4 --rtt 1 --conn-lifetime 1,10,100,1000,0 --duration "$(d 30)" \
			--svg "$res/lifetime.svg"
		;;
	precision)
		for w in select1 audit; do
			bench "precision-$w-rtt1" --workload "$w" --pool 4 --rtt 1 --duration "$(d 60)"
			bench "precision-$w-closed" --workload "$w" --pool 4 --duration "$(d 60)"
		done
		;;
	coverage)
		for i in $(seq -w 1 20); do
			bench "coverage/aa-plain-closed-$i" --aa --pool 4 --duration "$(d 60)" --seed "$i"
			bench "coverage/aa-tls-closed-$i" --aa-tls --pool 4 --duration "$(d 60)" --seed "$i"
		done
		for i in $(seq -w 1 20); do
			bench "coverage/aa-plain-rtt1-$i" --aa --pool 4 --rtt 1 --duration "$(d 60)" --seed "$i"
			bench "coverage/aa-tls-rtt1-$i" --aa-tls --pool 4 --rtt 1 --duration "$(d 60)" --seed "$i"
		done
		;;
	*)
		echo "run_measured.sh: unknown part '$part' (rtt, lifetime, precision, coverage)" >&2
		exit 2
		;;
	esac
done
bash "$src/bench/summarize_measured.sh" "$res" >"$res/measured-summary.md"
echo "results written to $res" >&2
