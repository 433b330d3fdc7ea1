#!/usr/bin/env bash
# run_results.sh [BUILD_DIR] - reproduce every figure in results/: starts a
# throwaway PostgreSQL 15 (tests/sandbox/with_sandbox.sh), turns TLS on
# (bench/enable_tls.sh) and runs, on this machine, in one window:
#   1. audit pooled, closed loop and open loop at a third of saturation
#   2. select1 pooled, the same
#   3. an A/A run (plaintext against plaintext)
#   4. pgbench, plaintext vs TLS (sslmode=disable / require), alternating runs
#   5. client CPU and syscalls per query: native engine, libpq pool, pgbench
#   6. connect mode with an ECDSA P-256 leaf, then an RSA-2048 leaf
# Output: results/*.json, results/*.txt, results/summary.md.  About 10 min.
# Needs: a build (cmake --build BUILD_DIR), jq, pgbench, strace, /usr/bin/time.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
if [ -z "${CZ_PG_SANDBOX:-}" ]; then
	exec "$src/tests/sandbox/with_sandbox.sh" bash "$0" "$build"
fi
export CZ_TOOL_BENCH_CERTS="$build/tests/bench_certs"
czctl="$build/czctl"
res="${CZ_RESULTS_DIR:-$src/results}"
mkdir -p "$res"
for t in jq pgbench strace /usr/bin/time; do
	command -v "$t" >/dev/null || { echo "run_results.sh: $t is needed" >&2; exit 1; }
done

ca=$(bash "$src/bench/enable_tls.sh" ec)
export CZ_PG_BENCH_PASSWORD="$CZ_PG_PASSWORD" PGPASSWORD="$CZ_PG_PASSWORD"
base=(postgres tls bench --host 127.0.0.1 --port "$CZ_PG_PORT" --user "$CZ_PG_USER" --ca "$ca")
shown_base="czctl postgres tls bench --host 127.0.0.1 --port PORT --user cz_test --ca CA"
log="$res/commands.txt"
# CZ_RESULTS_SCALE=0.1 shortens every run (a dry run of this script).
scale=${CZ_RESULTS_SCALE:-1}
d() { awk -v a="$1" -v s="$scale" 'BEGIN { v = a * s; if (v < 1) v = 1; print v }'; }

{
	echo "# machine"
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "kernel: $(uname -r)"
	echo "cpus: $(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
	echo "memory: $(free -g | awk '/Mem:/ {print $2}') GiB"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "postgres: $("$CZ_PG_BIN/postgres" --version)"
	echo "openssl: $(openssl version 2>/dev/null || echo '?')"
	echo "pgbench: $(pgbench --version)"
	echo "czctl: $("$czctl" --version)"
} >"$res/machine.txt"
: >"$log"

# bench NAME ARGS...: JSON to NAME.json, the human report to NAME.txt
bench() {
	local name=$1
	shift
	echo "$shown_base $*" >>"$log"
	echo "== $name: $*" >&2
	"$czctl" "${base[@]}" "$@" --json --svg "$res/$name.svg" >"$res/$name.json" || true
	jq -r '"   overhead \(.overhead.pct|tostring|.[0:6])% CI [\(.overhead.ci95_lo_pct|tostring|.[0:6]), \(.overhead.ci95_hi_pct|tostring|.[0:6])] pairs \(.pairs.count) exit \(.result.exit_code) \(.result.error // "")"' \
		"$res/$name.json" >&2 || true
}

# 1, 2: pooled closed loop, then open loop at a third of the plaintext saturation.
for w in audit select1; do
	bench "$w-closed" --workload "$w" --pool 4 --duration "$(d 60)"
	sat=$(jq '.pools[1].units_per_s' "$res/$w-closed.json")
	rate=$(awk -v s="$sat" 'BEGIN { r = int(s / 3); if (r < 100) r = 100; print r }')
	bench "$w-open" --workload "$w" --pool 4 --rate "$rate" --duration "$(d 60)"
done

# 3: A/A
bench aa-select1 --aa --pool 4 --duration "$(d 30)"

# 5: libpq pool, same closed-loop select1
bench libpq-select1 --client libpq --pool 4 --duration "$(d 20)"

# 4: pgbench, interleaved, alternating short runs (plaintext first, then TLS).
echo "SELECT 1;" >"$res/.select1.sql"
pgb() { # sslmode seconds -> "tps transactions cpu_seconds"
	local out
	out=$( { /usr/bin/time -f "CPU %U %S" pgbench -n -c 4 -j 1 -T "${2%.*}" -M simple -f "$res/.select1.sql" \
		"host=127.0.0.1 port=$CZ_PG_PORT user=$CZ_PG_USER dbname=$CZ_PG_DB sslmode=$1"; } 2>&1)
	echo "$out" | awk '/^tps/ {tps=$3} /actually processed/ {n=$NF} /^CPU/ {cpu=$2+$3} END {print tps, n, cpu}'
}
echo "pgbench -n -c 4 -j 1 -T 5 -M simple -f select1.sql 'host=127.0.0.1 ... sslmode=disable|require' (8 pairs, alternating)" >>"$log"
echo "== pgbench interleaved" >&2
: >"$res/pgbench-interleaved.txt"
for i in 1 2 3 4 5 6 7 8; do
	p=$(pgb disable "$(d 5)")
	t=$(pgb require "$(d 5)")
	echo "$i plain $p tls $t" >>"$res/pgbench-interleaved.txt"
done

# 5: syscalls per query under strace -c (counts only; strace slows the run).
echo "strace -f -c: czctl bench select1 (native, libpq), pgbench 3 s each way" >>"$log"
echo "== syscalls" >&2
strace -f -c -o "$res/.strace-native.txt" "$czctl" "${base[@]}" --pool 4 --duration "$(d 3)" --json >"$res/.strace-native.json" || true
strace -f -c -o "$res/.strace-libpq.txt" "$czctl" "${base[@]}" --client libpq --pool 4 --duration "$(d 3)" --json >"$res/.strace-libpq.json" || true
for m in disable require; do
	strace -f -c -o "$res/.strace-pgbench-$m.txt" pgbench -n -c 4 -j 1 -T 3 -M simple -f "$res/.select1.sql" \
		"host=127.0.0.1 port=$CZ_PG_PORT user=$CZ_PG_USER dbname=$CZ_PG_DB sslmode=$m" >"$res/.pgbench-$m.out" 2>&1 || true
done
# strace -c's last line: % time, seconds, usecs/call, calls, [errors,] "total"
total_calls() { awk '$NF == "total" {print $4; exit}' "$1"; }
{
	echo "# syscalls per query under strace -f -c (both pools / both runs together)"
	for c in native libpq; do
		q=$(jq '[.pools[] | .units + .warmup_units] | add' "$res/.strace-$c.json")
		echo "$c: $(total_calls "$res/.strace-$c.txt") syscalls / $q queries"
		awk '$NF ~ /^(io_uring_enter|poll|sendto|recvfrom|read|write)$/ {print "    " $NF ": " $4}' "$res/.strace-$c.txt"
	done
	for m in disable require; do
		n=$(awk '/actually processed/ {print $NF}' "$res/.pgbench-$m.out")
		echo "pgbench sslmode=$m: $(total_calls "$res/.strace-pgbench-$m.txt") syscalls / $n transactions"
	done
} >"$res/syscalls.txt"
cp "$res/.strace-native.txt" "$res/strace-native.txt"
cp "$res/.strace-libpq.txt" "$res/strace-libpq.txt"
cp "$res/.strace-pgbench-disable.txt" "$res/strace-pgbench-plain.txt"
cp "$res/.strace-pgbench-require.txt" "$res/strace-pgbench-tls.txt"

# 6: connect mode, ECDSA P-256 leaf, then RSA-2048 leaf.
bench connect-ecdsa --connect --pool 2 --duration "$(d 20)"
bash "$src/bench/enable_tls.sh" rsa >/dev/null
bench connect-rsa --connect --pool 2 --duration "$(d 20)"
bash "$src/bench/enable_tls.sh" ec >/dev/null
rm -f "$res"/.strace-* "$res"/.pgbench-* "$res/.select1.sql"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$res/machine.txt"

# summary.md from the JSON files
bash "$src/bench/summarize.sh" "$res" >"$res/summary.md"
echo "results written to $res" >&2
