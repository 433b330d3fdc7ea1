#!/usr/bin/env bash
# test_bench_refused.sh - `czctl postgres tls bench` against a hardened box
# (pg_hba.conf: hostnossl ... reject): the plaintext pool is refused, and the
# bench says so in one line (which pool, the server's message, what to do)
# with no table above it, from the native client and from libpq; the JSON
# carries the same sentence.  Then a box whose pg_hba.conf refuses TLS: the
# line names the TLS pool and what it needs.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ca=$(bash "$here/../../bench/enable_tls.sh" ec) || { echo "FAIL: cannot enable TLS"; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# Replaces pg_hba.conf and waits until a plaintext (or TLS) login gets the
# answer the new file gives: a reload is asynchronous.
set_hba() { # text, sslmode to wait with, phrase its refusal must show
	local hba="$CZ_PG_DATA/pg_hba.conf" i
	printf '%s\n' "$1" >"$out/pg_hba.conf"
	install -o "$CZ_PG_OWNER_UID" -g "$CZ_PG_OWNER_GID" -m 0600 "$out/pg_hba.conf" "$hba"
	"$CZ_PG_SANDBOX_SH" reload "$CZ_PG_SANDBOX"
	for i in $(seq 1 100); do
		PGPASSWORD=$CZ_PG_PASSWORD PGCONNECT_TIMEOUT=5 "$CZ_PG_BIN/psql" -X -At \
			"host=127.0.0.1 port=$CZ_PG_PORT user=$CZ_PG_USER dbname=$CZ_PG_DB sslmode=$2" \
			-c 'SELECT 1' >/dev/null 2>"$out/psql.err"
		grep -q "$3" "$out/psql.err" && return 0
		sleep 0.1 # until the server has read the new file
	done
	echo "FAIL: the server never applied the new pg_hba.conf ($(cat "$out/psql.err"))"
	exit 1
}

bench() { # name, extra flags...
	local name=$1
	shift
	CZ_PG_BENCH_PASSWORD=$CZ_PG_PASSWORD timeout 60 "$CZCTL" postgres tls bench \
		--host 127.0.0.1 --port "$CZ_PG_PORT" --user "$CZ_PG_USER" --ca "$ca" \
		--duration 1 --round-ms 50 --warmup 1 --pool 2 "$@" \
		>"$out/$name.out" 2>"$out/$name.err"
	echo $? >"$out/$name.rc"
}

# One refused run, human output: exit 3, nothing on stdout, one line on stderr
# with every phrase given.
one_line() { # name, phrases...
	local name=$1 p
	shift
	[ "$(cat "$out/$name.rc")" = 3 ] && ok || bad "$name: exit $(cat "$out/$name.rc"), not 3"
	[ ! -s "$out/$name.out" ] && ok || bad "$name: a report above the error: $(head -c 400 "$out/$name.out")"
	[ "$(wc -l <"$out/$name.err")" = 1 ] && ok || bad "$name: not one line: $(cat "$out/$name.err")"
	for p in "$@"; do
		grep -qF -- "$p" "$out/$name.err" && ok || bad "$name: no '$p' in: $(cat "$out/$name.err")"
	done
	grep -q "server not on this machine" "$out/$name.err" "$out/$name.out" &&
		bad "$name: says the server is not on this machine" || ok
}

set_hba "local all all trust
hostnossl all all 127.0.0.1/32 reject
hostssl all all 127.0.0.1/32 scram-sha-256" disable "pg_hba.conf rejects connection"

plain_phrases=("czctl postgres tls bench: the plain pool was refused by the server's pg_hba.conf"
	"pg_hba.conf rejects connection for host" "no encryption"
	"bench before hardening" "or from a host that pg_hba.conf still lets in without TLS")
bench native
one_line native "${plain_phrases[@]}"
bench libpq --client libpq
one_line libpq "${plain_phrases[@]}"
bench json --json
[ "$(cat "$out/json.rc")" = 3 ] && ok || bad "json: exit $(cat "$out/json.rc")"
jq -e '.result.status == "error" and .result.partial == false and
	(.result.error | test("^the plain pool was refused by the server.s pg_hba.conf \\(.*pg_hba.conf rejects connection.*\\): .*bench before hardening"))' \
	"$out/json.out" >/dev/null && ok || bad "json: $(jq -c .result "$out/json.out" 2>&1 | head -c 600)"

# TLS refused, plaintext allowed: the TLS pool is the one named.
set_hba "local all all trust
hostssl all all 127.0.0.1/32 reject
host all all 127.0.0.1/32 scram-sha-256" require "pg_hba.conf rejects connection"
bench tls
one_line tls "the tls pool was refused by the server's pg_hba.conf" \
	"pg_hba.conf rejects connection for host" "no hostssl line lets this user"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
