#!/usr/bin/env bash
# enable_tls.sh [ec|rsa] - turn TLS on in the sandbox described by the CZ_PG_*
# variables (tests/sandbox/pg_sandbox.sh): certificates from the bench_certs
# tool (an ECDSA P-256 CA; a P-256 or an RSA-2048 server leaf with
# DNS:localhost and IP:127.0.0.1), TLS 1.3 only, then a reload.  Prints the CA
# path.  Running it again with the other leaf switches the served leaf.
#
# Needs: CZ_PG_SANDBOX, CZ_PG_DATA, CZ_PG_SANDBOX_SH, and the bench_certs tool
# (CZ_TOOL_BENCH_CERTS, or build/tests/bench_certs under the source tree).
set -euo pipefail
kind=${1:-ec}
here=$(cd "$(dirname "$0")" && pwd)
tool=${CZ_TOOL_BENCH_CERTS:-}
if [ -z "$tool" ]; then
	for t in "${CZ_BUILD_DIR:-$here/../build}/tests/bench_certs" "$here/../build/tests/bench_certs"; do
		[ -x "$t" ] && tool=$t && break
	done
fi
[ -x "$tool" ] || { echo "enable_tls.sh: the bench_certs tool is not built" >&2; exit 1; }

certs="$CZ_PG_SANDBOX/bench-certs"
if [ ! -f "$certs/ca.crt" ]; then
	mkdir -p "$certs"
	"$tool" "$certs"
	chmod 0755 "$certs"
	chmod 0644 "$certs/ca.crt"
fi
case "$kind" in
ec) leaf=server ;;
rsa) leaf=server-rsa ;;
*) echo "enable_tls.sh: leaf kind is ec or rsa" >&2; exit 2 ;;
esac

# Numeric ids: the server of 17 and 18 runs in a chroot whose postgres user
# the host may not know by name.
owner=$(stat -c %u:%g "$CZ_PG_DATA")
install -o "${owner%:*}" -g "${owner#*:}" -m 0644 "$certs/$leaf.crt" "$CZ_PG_DATA/bench-server.crt"
install -o "${owner%:*}" -g "${owner#*:}" -m 0600 "$certs/$leaf.key" "$CZ_PG_DATA/bench-server.key"
install -o "${owner%:*}" -g "${owner#*:}" -m 0644 "$certs/ca.crt" "$CZ_PG_DATA/bench-ca.crt"
cat > "$CZ_PG_DATA/conf.d/cz-bench-tls.conf" <<CONF
ssl = on
ssl_cert_file = 'bench-server.crt'
ssl_key_file = 'bench-server.key'
ssl_ca_file = 'bench-ca.crt'
ssl_min_protocol_version = 'TLSv1.3'
CONF
chown "$owner" "$CZ_PG_DATA/conf.d/cz-bench-tls.conf"
# Returns once the server has processed the reload (TLS is on for the next connection).
"$CZ_PG_SANDBOX_SH" reload "$CZ_PG_SANDBOX"
echo "$certs/ca.crt"
