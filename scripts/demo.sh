#!/usr/bin/env bash
# demo.sh CZCTL - the main job, end to end, against a throwaway PostgreSQL 15.
#
# Starts a plaintext PostgreSQL 15 (SCRAM passwords) on a free loopback port
# in a temporary directory, then runs the runbook's 9-step cutover with the
# real czctl: provision (dry run, then transition), verify, harden, verify
# that plaintext is refused, status, probe, and a short pooled overhead
# bench.  The server is stopped and the directory removed however it ends.
set -euo pipefail
czctl=$(readlink -f "${1:?usage: demo.sh path/to/czctl}")
here=$(cd "$(dirname "$0")/.." && pwd)
sandbox="$here/tests/sandbox/pg_sandbox.sh"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() {
	printf '$ %s\n' "$*"
	"$@"
}

eval "$("$sandbox" start)"
work=$(mktemp -d "${TMPDIR:-/tmp}/czpg-demo.XXXXXX")
chmod 0755 "$work" # the database user must reach the server key below it
app_pid=""
cleanup() {
	[ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null || true
	"$sandbox" stop "$CZ_PG_SANDBOX"
	rm -rf "$work"
}
trap cleanup EXIT
export CZ_PG_VERIFY_PASSWORD="$CZ_PG_PASSWORD"
export PGPASSWORD="$CZ_PG_PASSWORD"
psql_plain() {
	psql -X -q -At "host=127.0.0.1 port=$CZ_PG_PORT user=$CZ_PG_USER dbname=$CZ_PG_DB sslmode=disable connect_timeout=5" "$@"
}

step "A plaintext PostgreSQL 15 box on 127.0.0.1:$CZ_PG_PORT (data in $CZ_PG_DATA)"
run psql_plain -c "SELECT 'application connected, ssl=' || ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"

# The "application": one persistent plaintext session running a query every
# 200 ms for the whole cutover.  It must never break.
(
	{
		echo "SELECT 'app session pid ' || pg_backend_pid();"
		while sleep 0.2; do echo "SELECT 1;"; done
	} | psql_plain -v ON_ERROR_STOP=1 >"$work/app.log" 2>&1
	echo "exit $?" >>"$work/app.log"
) &
app_pid=$!
sleep 0.5

common=(--ip 127.0.0.1 --dns localhost --allow-cidr 127.0.0.1/32 --role "$CZ_PG_USER"
	--pgdata "$CZ_PG_DATA" --hba-path "$CZ_PG_DATA/pg_hba.conf" --cert-dir "$work/tls"
	--export-ca "$work/export/ca.crt" --verify-host 127.0.0.1 --verify-dbname "$CZ_PG_DB")

step "Step 0: dry run (the default): prints the plan, writes nothing"
printf '$ %s\n' "$czctl postgres tls provision ${common[*]} --mode transition"
"$czctl" postgres tls provision "${common[@]}" --mode transition >"$work/plan.txt"
head -n 60 "$work/plan.txt"
echo "... ($(wc -l <"$work/plan.txt") lines in all; nothing was written)"

step "Steps 1-3: provision --mode transition --apply (certs, TLS block, pg_hba block, reload, export, self-verify)"
run "$czctl" postgres tls provision "${common[@]}" --mode transition --apply

step "Step 2: the application, still on sslmode=disable, keeps working"
run psql_plain -c "SELECT 'new plaintext connection still accepted'"

step "Steps 4-6: the application box trusts the exported CA and connects with verify-full"
run "$czctl" postgres tls verify --host localhost --port "$CZ_PG_PORT" --user "$CZ_PG_USER" \
	--dbname "$CZ_PG_DB" --ca "$work/export/ca.crt"
run "$czctl" postgres tls verify --host 127.0.0.1 --port "$CZ_PG_PORT" --user "$CZ_PG_USER" \
	--dbname "$CZ_PG_DB" --ca "$work/export/ca.crt" --client libpq --channel-binding require

if "$czctl" postgres tls bench --help >/dev/null 2>&1; then
	step "bench (still in transition mode, so both pools can connect): pooled TLS against pooled plaintext, interleaved, with a 95% interval"
	run "$czctl" postgres tls bench --host 127.0.0.1 --port "$CZ_PG_PORT" --user "$CZ_PG_USER" \
		--dbname "$CZ_PG_DB" --ca "$work/export/ca.crt" --workload select1 --pool 4 \
		--duration 12
fi

step "Steps 7-8: provision --mode harden --apply (hostssl only; the reload applies it)"
run "$czctl" postgres tls provision "${common[@]}" --mode harden --apply

step "Step 9: verify-full still passes, and plaintext is refused"
run "$czctl" postgres tls verify --host 127.0.0.1 --port "$CZ_PG_PORT" --user "$CZ_PG_USER" \
	--dbname "$CZ_PG_DB" --ca "$work/export/ca.crt" --expect-plaintext-refused
if psql_plain -c "SELECT 1" >/dev/null 2>"$work/plain.err"; then
	echo "UNEXPECTED: a new plaintext connection was accepted" >&2
	exit 1
fi
echo "new plaintext connection refused: $(head -n 1 "$work/plain.err")"

step "Re-running is idempotent: nothing changes, the CA is not rotated"
sum_before=$(find "$work/tls" "$CZ_PG_DATA/conf.d" "$CZ_PG_DATA/pg_hba.conf" -type f -exec sha256sum {} + | sort)
run "$czctl" postgres tls provision "${common[@]}" --mode harden --apply >/dev/null
sum_after=$(find "$work/tls" "$CZ_PG_DATA/conf.d" "$CZ_PG_DATA/pg_hba.conf" -type f -exec sha256sum {} + | sort)
[ "$sum_before" = "$sum_after" ] && echo "no file changed"

step "The application's session opened before the cutover is still alive"
kill "$app_pid" 2>/dev/null || true
wait "$app_pid" 2>/dev/null || true
app_pid=""
queries=$(grep -c '^1$' "$work/app.log" || true)
if grep -qiE 'error|fatal|terminat' "$work/app.log"; then
	cat "$work/app.log" >&2
	echo "UNEXPECTED: the application's plaintext session broke" >&2
	exit 1
fi
echo "$(head -n 1 "$work/app.log"): $queries queries, no error"

if "$czctl" postgres tls status --help >/dev/null 2>&1; then
	step "status: certificate expiry, key permissions, pg_hba mode"
	run "$czctl" postgres tls status --cert-dir "$work/tls" --hba-path "$CZ_PG_DATA/pg_hba.conf" || true
fi

if "$czctl" postgres tls probe --help >/dev/null 2>&1; then
	step "probe: what the box speaks, seen from outside, without credentials"
	run "$czctl" postgres tls probe --host 127.0.0.1 --port "$CZ_PG_PORT" --ca "$work/export/ca.crt" \
		--user "$CZ_PG_USER" || true
fi

step "Done: the box serves TLS 1.3 only, verify-full passes, plaintext is refused"
