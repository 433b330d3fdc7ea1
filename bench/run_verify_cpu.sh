#!/usr/bin/env bash
# run_verify_cpu.sh BIN [OUTDIR] [N] - runs the verify_cpu measurement (BIN, an
# already built bench/verify_cpu) against a throwaway PostgreSQL 15 sandbox
# with TLS 1.3 on, and writes OUTDIR/verify-cpu.json and OUTDIR/verify-cpu.md
# (OUTDIR defaults to results/ of this checkout; N connections per case, 200).
# Builds nothing.  The certificates (EC P-256 CA and leaf with SANs
# IP:127.0.0.1 and DNS:localhost) are made with the openssl command.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

if [ "${1:-}" = "--inner" ]; then
	shift
	bin=$1 out=$2 n=$3 cmdline=$4
	certs=$(mktemp -d "${TMPDIR:-/tmp}/czpg-bench-certs.XXXXXX")
	trap 'rm -rf -- "$certs"' EXIT
	(
		cd "$certs"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout ca.key -out ca.crt -subj "/CN=verify_cpu bench CA" -days 2 \
			-addext basicConstraints=critical,CA:TRUE 2>/dev/null
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout server.key -out server.csr -subj "/CN=verify_cpu bench server" 2>/dev/null
		printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
			"basicConstraints=CA:FALSE" "extendedKeyUsage=serverAuth" > leaf.ext
		openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
			-out server.crt -days 1 -sha256 -extfile leaf.ext 2>/dev/null
	)
	install -o "$CZ_PG_OWNER_UID" -g "$CZ_PG_OWNER_GID" -m 0644 "$certs/server.crt" "$CZ_PG_DATA/bench-server.crt"
	install -o "$CZ_PG_OWNER_UID" -g "$CZ_PG_OWNER_GID" -m 0600 "$certs/server.key" "$CZ_PG_DATA/bench-server.key"
	printf '%s\n' "ssl = on" "ssl_cert_file = 'bench-server.crt'" \
		"ssl_key_file = 'bench-server.key'" "ssl_min_protocol_version = 'TLSv1.3'" |
		install -o "$CZ_PG_OWNER_UID" -g "$CZ_PG_OWNER_GID" -m 0644 /dev/stdin "$CZ_PG_DATA/conf.d/cz-bench-tls.conf"
	# Returns once the server has processed the reload: TLS is on from here.
	"$CZ_PG_SANDBOX_SH" reload "$CZ_PG_SANDBOX"

	mkdir -p "$out"
	load_before=$(cut -d' ' -f1-3 /proc/loadavg)
	table=$("$bin" --host "$CZ_PG_HOST" --port "$CZ_PG_PORT" --user "$CZ_PG_USER" \
		--password-env CZ_PG_PASSWORD --dbname "$CZ_PG_DB" --trust-user "$CZ_PG_TRUST_USER" \
		--ca "$certs/ca.crt" -n "$n" --rounds 10 --json "$out/verify-cpu.json")
	load_after=$(cut -d' ' -f1-3 /proc/loadavg)
	pgver=$("$CZ_PG_BIN/postgres" --version)
	{
		echo "# Client CPU per connection: native client vs libpq"
		echo
		echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') with:"
		echo
		echo '```'
		echo "$cmdline"
		echo '```'
		echo
		echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'),"
		echo "kernel $(uname -r); $pgver; $(openssl version | cut -d' ' -f1-2)."
		echo "Server and client share the machine (loopback, 127.0.0.1); load average"
		echo "$load_before before and $load_after after the run (the machine is shared)."
		echo
		echo "Each case opens $n connections one after another (like \`pgbench -C\`),"
		echo "interleaved in 10 rounds whose case order rotates; client CPU is"
		echo "getrusage(RUSAGE_SELF) user + system time of the measuring process"
		echo "(the server's CPU is not counted).  TLS 1.3 verify-full against an"
		echo "EC P-256 leaf; SCRAM with PostgreSQL 15's 4096 PBKDF2 iterations."
		echo
		echo "- native_scram_plus_first: native, TLS + SCRAM-SHA-256-PLUS + startup + Terminate, PBKDF2 every time"
		echo "- native_scram_plus_cached: the same with a shared czpg_scram_cache (PBKDF2 once)"
		echo "- libpq_scram_plus: PQconnectdbParams with sslmode=verify-full, channel_binding=require, then PQfinish"
		echo "- native_tls_trust / libpq_tls_trust: TLS + startup as a trusted role (no SCRAM)"
		echo "- native_tls_handshake: TLS handshake only (CZPG_GOAL_TLS)"
		echo
		echo "$table"
		echo
		echo "Raw figures (per round too): verify-cpu.json."
	} > "$out/verify-cpu.md"
	cat "$out/verify-cpu.md"
	exit 0
fi

[ $# -ge 1 ] || { echo "usage: run_verify_cpu.sh BIN [OUTDIR] [N]" >&2; exit 2; }
bin=$(readlink -f "$1")
out=$(mkdir -p "${2:-$root/results}" && cd "${2:-$root/results}" && pwd)
n=${3:-200}
cmdline="bench/run_verify_cpu.sh $* (binary built with CMAKE_BUILD_TYPE RelWithDebInfo)"
exec "$root/tests/sandbox/with_sandbox.sh" bash "$here/run_verify_cpu.sh" --inner "$bin" "$out" "$n" "$cmdline"
