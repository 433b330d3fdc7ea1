#!/usr/bin/env bash
# run_verify_process.sh [BUILD_DIR] [OUT_DIR] [ROUNDS] - `czctl postgres tls
# verify` as a whole process, side by side with psql making the same proof:
# verify-full against the CA, SCRAM-SHA-256-PLUS (channel_binding=require),
# and this session's pg_stat_ssl row.  Each command is one process start
# to exit; `perf stat` counts its CPU (task-clock: user + system of the
# process) and its wall time.  The commands alternate in ROUNDS rounds
# (default 10) of 20 runs each, so drift on the shared machine falls on both
# alike; the figures are the medians of the per-round means, with the
# rounds' range.  Also measured: the libpq client of verify, and each
# program's start-up alone (--version), and the instructions of one run of
# each under callgrind (which do not drift with the load).
#
# Starts a throwaway PostgreSQL 15 (tests/sandbox/with_sandbox.sh) with TLS
# 1.3 (bench/enable_tls.sh).  Writes OUT_DIR/verify-process.json and .md
# (OUT_DIR defaults to results/ of this checkout).  Needs perf, jq and
# valgrind.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
out=$(mkdir -p "${2:-$src/results}" && cd "${2:-$src/results}" && pwd)
rounds=${3:-10}
if [ -z "${CZ_PG_SANDBOX:-}" ]; then
	exec "$src/tests/sandbox/with_sandbox.sh" bash "$0" "$build" "$out" "$rounds"
fi
for t in perf jq valgrind; do
	command -v "$t" >/dev/null || { echo "run_verify_process.sh: $t is needed" >&2; exit 1; }
done
czctl="$build/czctl"
psql="$CZ_PG_BIN/psql" # the program itself, not a wrapper script
export CZ_TOOL_BENCH_CERTS="$build/tests/bench_certs"
ca=$(bash "$src/bench/enable_tls.sh" ec)
export CZ_PG_VERIFY_PASSWORD="$CZ_PG_PASSWORD" PGPASSWORD="$CZ_PG_PASSWORD"
# The row verify reads (src/verbs/verify.c, SSL_ROW_QUERY): pg_stat_ssl joined with pg_stat_activity.
query="SELECT s.ssl, s.version, s.cipher, s.bits, a.pid, pg_catalog.host(a.client_addr), a.client_port FROM pg_catalog.pg_stat_ssl s JOIN pg_catalog.pg_stat_activity a USING (pid) WHERE s.pid = pg_catalog.pg_backend_pid()"
conninfo="host=127.0.0.1 port=$CZ_PG_PORT user=$CZ_PG_USER dbname=$CZ_PG_DB sslmode=verify-full sslrootcert=$ca channel_binding=require"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmd_native=("$czctl" postgres tls verify --host 127.0.0.1 --port "$CZ_PG_PORT" --user "$CZ_PG_USER" --ca "$ca" --channel-binding require)
cmd_libpq=("${cmd_native[@]}" --client libpq)
cmd_psql=("$psql" -X -A -t -c "$query" "$conninfo")
cmd_czctl_start=("$czctl" --version)
cmd_psql_start=("$psql" --version)
# The proof must hold for every command before anything is timed.
"${cmd_native[@]}" >"$work/native.txt" || { echo "run_verify_process.sh: verify failed" >&2; cat "$work/native.txt" >&2; exit 1; }
"${cmd_libpq[@]}" >"$work/libpq.txt" || { echo "run_verify_process.sh: verify --client libpq failed" >&2; exit 1; }
case $("${cmd_psql[@]}") in
"t|TLSv1.3|TLS_AES_256_GCM_SHA384|256|"*) ;;
*) echo "run_verify_process.sh: psql's proof failed" >&2; exit 1 ;;
esac

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
# stat NAME CMD...: one perf stat of 20 runs; appends "NAME cpu_ms wall_ms" (means) to the samples
stat() {
	local name=$1
	shift
	perf stat -r 20 -e task-clock -o "$work/perf.txt" "$@" >/dev/null 2>&1
	awk -v n="$name" '/msec task-clock/ {cpu = $1} /seconds time elapsed/ {wall = $1 * 1000}
		END {print n, cpu, wall}' "$work/perf.txt" >>"$work/samples.txt"
}
: >"$work/samples.txt"
for ((r = 1; r <= rounds; r++)); do
	echo "== round $r of $rounds" >&2
	stat native "${cmd_native[@]}"
	stat psql "${cmd_psql[@]}"
	stat libpq "${cmd_libpq[@]}"
	stat czctl_start "${cmd_czctl_start[@]}"
	stat psql_start "${cmd_psql_start[@]}"
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# Instructions of one run each (user space, libraries included).
instr() {
	valgrind --tool=callgrind --callgrind-out-file="$work/$1.cg" "${@:2}" >/dev/null 2>&1
	awk '/^summary:/ {print $2; exit}' "$work/$1.cg"
}
i_native=$(instr native "${cmd_native[@]}")
i_psql=$(instr psql "${cmd_psql[@]}")
i_libpq=$(instr libpq "${cmd_libpq[@]}")
maps_native=$(ldd "$czctl" | wc -l)
maps_psql=$(ldd "$psql" | wc -l)

# median, min and max of column $2 (cpu) or $3 (wall) for NAME
summary() { # name column
	awk -v n="$1" -v c="$2" '$1 == n {print $c}' "$work/samples.txt" | sort -g |
		awk '{v[NR] = $1} END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f %.2f %.2f", m, v[1], v[NR]}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
read -r nc nc_lo nc_hi <<<"$(summary native 2)"
read -r nw nw_lo nw_hi <<<"$(summary native 3)"
read -r pc pc_lo pc_hi <<<"$(summary psql 2)"
read -r pw pw_lo pw_hi <<<"$(summary psql 3)"
read -r lc lc_lo lc_hi <<<"$(summary libpq 2)"
read -r lw lw_lo lw_hi <<<"$(summary libpq 3)"
read -r sc _ _ <<<"$(summary czctl_start 2)"
read -r sw _ _ <<<"$(summary czctl_start 3)"
read -r qc _ _ <<<"$(summary psql_start 2)"
read -r qw _ _ <<<"$(summary psql_start 3)"

{
	echo "{"
	echo "  \"schema\": \"czctl.verify-process/1\", \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
	echo "  \"rounds\": $rounds, \"runs_per_round\": 20,"
	echo "  \"load_average_start\": \"$load_start\", \"load_average_end\": \"$load_end\","
	echo "  \"postgres\": \"$("$CZ_PG_BIN/postgres" --version)\", \"openssl\": \"$(openssl version)\","
	echo "  \"median_ms\": {"
	echo "    \"verify_native\": {\"cpu\": $nc, \"wall\": $nw},"
	echo "    \"psql\": {\"cpu\": $pc, \"wall\": $pw},"
	echo "    \"verify_libpq\": {\"cpu\": $lc, \"wall\": $lw},"
	echo "    \"czctl_version\": {\"cpu\": $sc, \"wall\": $sw},"
	echo "    \"psql_version\": {\"cpu\": $qc, \"wall\": $qw}"
	echo "  },"
	echo "  \"instructions\": {\"verify_native\": $i_native, \"psql\": $i_psql, \"verify_libpq\": $i_libpq},"
	echo "  \"shared_objects\": {\"czctl\": $maps_native, \"psql\": $maps_psql},"
	echo "  \"ratio_native_to_psql\": {\"cpu\": $(ratio "$nc" "$pc"), \"wall\": $(ratio "$nw" "$pw"), \"instructions\": $(ratio "$i_native" "$i_psql")},"
	echo "  \"samples\": ["
	awk 'NR > 1 {print ","} {printf "    {\"cmd\": \"%s\", \"cpu_ms\": %s, \"wall_ms\": %s}", $1, $2, $3} END {print ""}' "$work/samples.txt"
	echo "  ]"
	echo "}"
} >"$out/verify-process.json"
jq . "$out/verify-process.json" >/dev/null

{
	echo "# verify as a whole process, against psql making the same proof"
	echo
	echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') by \`bench/run_verify_process.sh\` ($rounds rounds x 20"
	echo "runs of each command, alternating; \`perf stat\` task-clock = the process's user +"
	echo "system CPU; wall = start to exit).  $("$CZ_PG_BIN/postgres" --version), $(openssl version | cut -d' ' -f1-2),"
	echo "TLS 1.3, ECDSA P-256 leaf, server on the same machine (loopback).  Load average"
	echo "$load_start at the start, $load_end at the end."
	echo
	echo "The proof: verify-full against the CA, SCRAM-SHA-256-PLUS (channel binding"
	echo "required), and the server's own row for this session (pg_stat_ssl joined with"
	echo "pg_stat_activity, the query verify runs):"
	echo
	echo '```'
	echo "czctl postgres tls verify --host 127.0.0.1 --port PORT --user cz_test --ca CA --channel-binding require"
	echo "psql -X -A -t -c \"$query\" \\"
	echo "     'host=127.0.0.1 port=PORT user=cz_test dbname=cz_test sslmode=verify-full sslrootcert=CA channel_binding=require'"
	echo '```'
	echo
	echo "| command | CPU ms (median of rounds) | range | wall ms | range | instructions (one run) | shared objects |"
	echo "|---|---:|---|---:|---|---:|---:|"
	echo "| czctl verify (native) | $nc | $nc_lo-$nc_hi | $nw | $nw_lo-$nw_hi | $i_native | $maps_native |"
	echo "| psql | $pc | $pc_lo-$pc_hi | $pw | $pw_lo-$pw_hi | $i_psql | $maps_psql |"
	echo "| czctl verify --client libpq | $lc | $lc_lo-$lc_hi | $lw | $lw_lo-$lw_hi | $i_libpq | (libpq loaded at run time) |"
	echo "| czctl --version (start-up only) | $sc | | $sw | | | |"
	echo "| psql --version (start-up only) | $qc | | $qw | | | |"
	echo
	echo "czctl verify / psql: CPU $(ratio "$nc" "$pc")x, wall $(ratio "$nw" "$pw")x, instructions $(ratio "$i_native" "$i_psql")x."
	echo "Raw samples: verify-process.json."
} >"$out/verify-process.md"
cat "$out/verify-process.md"
