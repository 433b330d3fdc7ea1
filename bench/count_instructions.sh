#!/usr/bin/env bash
# count_instructions.sh [BUILD_DIR] [OUT_DIR] - user-space instructions per
# pooled SELECT 1 and per connection, czctl's native client against
# pgbench/libpq, counted with callgrind (valgrind --tool=callgrind: every
# instruction the process runs in user space, its libraries included; the
# kernel's work is not counted).  Instruction counts do not drift with the
# machine's load the way times do, so they compare code paths on a shared
# machine.
#
# Marginal method: each program runs twice against the same server in this
# one run, with N1 and then N2 queries (connections); the difference of the
# two counts over the difference of the work is the cost of one more query
# (connection), start-up, connection set-up and the report cancelling out.
#
#   queries, plaintext   pgbench -n -c P -j 1 -t N/P -M simple -f select1.sql sslmode=disable
#                        czctl bench --aa     --pool P --round-units N/4 --warmup 0 --min-pairs 2 --duration 0
#   queries, TLS         pgbench ... sslmode=require (TLS 1.3, SCRAM-SHA-256-PLUS as libpq prefers)
#                        czctl bench --aa-tls --pool P ...   (verify-full, SCRAM-SHA-256-PLUS)
#   connections, TLS     pgbench -n -C -c 1 -j 1 -t N -M simple sslmode=require (libpq: PBKDF2 each time)
#                        czctl bench --aa-tls --connect --pool 1 ... (the salted password cached)
#
# czctl's A/A modes run the same kind of pool twice, so all its queries
# (connections) are of one kind.  --duration 0 makes the work fixed, whatever
# the speed: exactly --min-pairs pairs, 2 pairs x 2 rounds x N/4 = N, so both
# runs end with the same statistics.  The units each run really did (its
# JSON's units + warmup_units) are what the marginal divides by, and the
# report lists them.
#
# Starts a throwaway PostgreSQL 15 (tests/sandbox/with_sandbox.sh) with TLS
# 1.3 (bench/enable_tls.sh).  Writes OUT_DIR/instructions.json and
# OUT_DIR/instructions.md (OUT_DIR defaults to results/ of this checkout).
# Needs valgrind, jq and pgbench.  CZ_COUNT_POOL (4), CZ_COUNT_N1 (2000),
# CZ_COUNT_N2 (6000), CZ_COUNT_C1 (20), CZ_COUNT_C2 (60) change the sizes.
# Takes about 10 minutes.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
out=$(mkdir -p "${2:-$src/results}" && cd "${2:-$src/results}" && pwd)
if [ -z "${CZ_PG_SANDBOX:-}" ]; then
	exec "$src/tests/sandbox/with_sandbox.sh" bash "$0" "$build" "$out"
fi
for t in valgrind jq; do
	command -v "$t" >/dev/null || { echo "count_instructions.sh: $t is needed" >&2; exit 1; }
done
czctl="$build/czctl"
[ -x "$czctl" ] || czctl="$build/src/czctl"
pgbench="$CZ_PG_BIN/pgbench" # the binary itself: a wrapper script would be what callgrind counts
[ -x "$pgbench" ] || pgbench=$(command -v pgbench)
export CZ_TOOL_BENCH_CERTS="$build/tests/bench_certs"
ca=$(bash "$src/bench/enable_tls.sh" ec)
export CZ_PG_BENCH_PASSWORD="$CZ_PG_PASSWORD" PGPASSWORD="$CZ_PG_PASSWORD"
P=${CZ_COUNT_POOL:-4}
N1=${CZ_COUNT_N1:-2000} N2=${CZ_COUNT_N2:-6000}
C1=${CZ_COUNT_C1:-20} C2=${CZ_COUNT_C2:-60}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "SELECT 1;" >"$work/select1.sql"
conninfo="host=127.0.0.1 port=$CZ_PG_PORT user=$CZ_PG_USER dbname=$CZ_PG_DB"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# count NAME CMD...: runs CMD under callgrind, prints its total instruction count
count() {
	local name=$1
	shift
	valgrind --tool=callgrind --callgrind-out-file="$work/$name.cg" "$@" >"$work/$name.out" 2>"$work/$name.err" || {
		echo "count_instructions.sh: $name failed:" >&2
		tail -n 5 "$work/$name.err" "$work/$name.out" >&2
		exit 1
	}
	awk '/^summary:/ {print $2; exit}' "$work/$name.cg"
}

czbench() { # czctl bench args for N units (queries, or connections with --connect)
	local n=$1
	shift
	echo "$czctl" postgres tls bench --host 127.0.0.1 --port "$CZ_PG_PORT" --user "$CZ_PG_USER" \
		--ca "$ca" --round-units $((n / 4)) --warmup 0 --min-pairs 2 --duration 0 --json "$@"
}

declare -A I
for n in "$N1" "$N2"; do
	echo "== pgbench_plain $n" >&2
	I[pgbench_plain.$n]=$(count "pgbench_plain.$n" "$pgbench" -n -c "$P" -j 1 -t $((n / P)) -M simple \
		-f "$work/select1.sql" "$conninfo sslmode=disable")
	echo "== pgbench_tls $n" >&2
	I[pgbench_tls.$n]=$(count "pgbench_tls.$n" "$pgbench" -n -c "$P" -j 1 -t $((n / P)) -M simple \
		-f "$work/select1.sql" "$conninfo sslmode=require")
	echo "== czctl_plain $n" >&2
	# shellcheck disable=SC2046
	I[czctl_plain.$n]=$(count "czctl_plain.$n" $(czbench "$n" --aa --pool "$P"))
	echo "== czctl_tls $n" >&2
	# shellcheck disable=SC2046
	I[czctl_tls.$n]=$(count "czctl_tls.$n" $(czbench "$n" --aa-tls --pool "$P"))
	echo "== czctl_tls_own $n" >&2
	# shellcheck disable=SC2046
	I[czctl_tls_own.$n]=$(count "czctl_tls_own.$n" $(czbench "$n" --aa-tls --pool "$P" --tls-records czpg))
done
for n in "$C1" "$C2"; do
	echo "== pgbench_connect $n" >&2
	I[pgbench_connect.$n]=$(count "pgbench_connect.$n" "$pgbench" -n -C -c 1 -j 1 -t "$n" -M simple \
		-f "$work/select1.sql" "$conninfo sslmode=require")
	echo "== czctl_connect $n" >&2
	# shellcheck disable=SC2046
	I[czctl_connect.$n]=$(count "czctl_connect.$n" $(czbench "$n" --aa-tls --connect --pool 1))
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# The work each run did, from its own output: pgbench's transactions, czctl's units.
done_units() { # key n
	case $1 in
	pgbench*) awk '/actually processed/ {split($NF, a, "/"); print a[1]}' "$work/$1.$2.out" ;;
	czctl*) jq '[.pools[] | .units + .warmup_units] | add' "$work/$1.$2.out" ;;
	esac
}
marginal() { # key n1 n2 -> instructions per unit
	local u1 u2
	u1=$(done_units "$1" "$2")
	u2=$(done_units "$1" "$3")
	awk -v a="${I[$1.$2]}" -v b="${I[$1.$3]}" -v u1="$u1" -v u2="$u2" 'BEGIN { printf "%.0f", (b - a) / (u2 - u1) }'
}
pp=$(marginal pgbench_plain "$N1" "$N2")
pt=$(marginal pgbench_tls "$N1" "$N2")
cp=$(marginal czctl_plain "$N1" "$N2")
ct=$(marginal czctl_tls "$N1" "$N2")
co=$(marginal czctl_tls_own "$N1" "$N2")
pc=$(marginal pgbench_connect "$C1" "$C2")
cc=$(marginal czctl_connect "$C1" "$C2")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

{
	echo "{"
	echo "  \"schema\": \"czctl.instructions/1\","
	echo "  \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
	echo "  \"pool\": $P, \"queries\": [$N1, $N2], \"connections\": [$C1, $C2],"
	echo "  \"load_average_start\": \"$load_start\", \"load_average_end\": \"$load_end\","
	echo "  \"postgres\": \"$("$CZ_PG_BIN/postgres" --version)\", \"openssl\": \"$(openssl version)\","
	echo "  \"totals\": {"
	first=1
	for k in "${!I[@]}"; do
		[ $first = 1 ] || echo ","
		first=0
		printf '    "%s": %s' "$k" "${I[$k]}"
	done
	echo
	echo "  },"
	echo "  \"per_query\": {\"pgbench_plain\": $pp, \"pgbench_tls\": $pt, \"czctl_plain\": $cp, \"czctl_tls\": $ct, \"czctl_tls_own_records\": $co},"
	echo "  \"per_connection\": {\"pgbench_tls\": $pc, \"czctl_tls\": $cc},"
	echo "  \"ratio\": {\"plain\": $(ratio "$cp" "$pp"), \"tls\": $(ratio "$ct" "$pt"), \"tls_own_records\": $(ratio "$co" "$pt"), \"connection\": $(ratio "$cc" "$pc")}"
	echo "}"
} >"$out/instructions.json"
jq . "$out/instructions.json" >/dev/null

{
	echo "# Instructions per query and per connection: czctl against pgbench (libpq)"
	echo
	echo "Counted $(date -u '+%Y-%m-%d %H:%M UTC') by \`bench/count_instructions.sh\` with callgrind"
	echo "($(valgrind --version)): user-space instructions of the whole process, its"
	echo "libraries included; marginal cost between a short and a long run (pgbench: $N1 and"
	echo "$N2 queries, $C1 and $C2 connections; czctl: the units below), the same server,"
	echo "one run.  $("$CZ_PG_BIN/postgres" --version),"
	echo "$(openssl version | cut -d' ' -f1-2), TLS 1.3 with an ECDSA P-256 leaf, SCRAM-SHA-256-PLUS."
	echo "Pool of $P connections (pgbench -c $P -j 1: one thread, as czctl).  Load average"
	echo "$load_start at the start, $load_end at the end (counts do not depend on it)."
	echo
	echo "| per unit | czctl (native) | pgbench (libpq) | ratio |"
	echo "|---|---:|---:|---:|"
	echo "| plaintext query | $cp | $pp | $(ratio "$cp" "$pp")x |"
	echo "| TLS query (OpenSSL's records, the default) | $ct | $pt | $(ratio "$ct" "$pt")x |"
	echo "| TLS query (czpg's records, --tls-records czpg) | $co | $pt | $(ratio "$co" "$pt")x |"
	echo "| TLS + SCRAM connection (czctl: salted password cached) | $cc | $pc | $(ratio "$cc" "$pc")x |"
	echo
	echo "Units each run did (queries; connections for the connect runs), from its own output:"
	echo
	echo "| run | short | long |"
	echo "|---|---:|---:|"
	for k in pgbench_plain pgbench_tls czctl_plain czctl_tls czctl_tls_own; do
		echo "| $k | $(done_units "$k" "$N1") | $(done_units "$k" "$N2") |"
	done
	for k in pgbench_connect czctl_connect; do
		echo "| $k | $(done_units "$k" "$C1") | $(done_units "$k" "$C2") |"
	done
	echo
	echo "Commands (PORT, CA: the sandbox's; N per run):"
	echo
	echo '```'
	echo "pgbench -n -c $P -j 1 -t N/$P -M simple -f select1.sql 'host=127.0.0.1 ... sslmode=disable|require'"
	echo "pgbench -n -C -c 1 -j 1 -t N -M simple -f select1.sql '... sslmode=require'"
	echo "czctl postgres tls bench --host 127.0.0.1 --port PORT --user cz_test --ca CA --round-units N/4 --warmup 0 --min-pairs 2 --duration 0 --json --aa --pool $P"
	echo "czctl ... --aa-tls --pool $P"
	echo "czctl ... --aa-tls --pool $P --tls-records czpg"
	echo "czctl ... --aa-tls --connect --pool 1"
	echo '```'
	echo
	echo "each under \`valgrind --tool=callgrind\`; raw totals in instructions.json."
} >"$out/instructions.md"
cat "$out/instructions.md"
