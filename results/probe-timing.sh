#!/usr/bin/env bash
# probe-timing.sh - how long `czctl postgres tls probe` takes on loopback, for
# one box and for a fleet of 1,000 targets, next to testssl.sh and nmap's
# ssl-enum-ciphers against the same throwaway PostgreSQL 15.
#
#   results/probe-timing.sh BUILD_DIR [OUT_PREFIX]
#
# Writes OUT_PREFIX.json and OUT_PREFIX.csv (default results/probe-timing).
# SKIP_EXTERNAL=1 skips testssl.sh and nmap (they take minutes).  RUNS (10)
# repeats the single-box runs; SERIAL_SAMPLE (100) is how many of the 1,000
# fleet targets are also probed one at a time (all 1,000 serially takes long).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?build directory}" && pwd)
out=${2:-$here/probe-timing}
czctl=$build/czctl
sandbox_sh=$here/../tests/sandbox/pg_sandbox.sh
runs=${RUNS:-10}

eval "$("$sandbox_sh" start)"
work=$(mktemp -d)
cleanup() { "$sandbox_sh" stop "$CZ_PG_SANDBOX"; rm -rf "$work"; }
trap cleanup EXIT

# An EC P-256 CA and a 90-day leaf for 127.0.0.1 (as provision makes them).
cd "$work"
openssl ecparam -name prime256v1 -genkey -noout -out ca.key
openssl req -x509 -new -key ca.key -subj "/CN=timing CA" -days 3650 -out ca.crt 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out server.key
openssl req -new -key server.key -subj "/CN=timing server" -out server.csr
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 90 \
	-extfile ext -out server.crt 2>/dev/null
cp server.crt server.key ca.crt "$CZ_PG_DATA/"
chown postgres "$CZ_PG_DATA/server.crt" "$CZ_PG_DATA/server.key" "$CZ_PG_DATA/ca.crt"
chmod 0600 "$CZ_PG_DATA/server.key"
cat >"$CZ_PG_DATA/conf.d/timing-tls.conf" <<-CONF
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
ssl_ca_file = 'ca.crt'
ssl_min_protocol_version = 'TLSv1.2'
CONF
# 63 loopback addresses (PostgreSQL listens on at most 64 sockets, one is Unix).
addrs=$(seq -s, -f '127.0.0.%g' 1 63)
sed -i '/^listen_addresses/d' "$CZ_PG_DATA/postgresql.auto.conf"
echo "listen_addresses = '$addrs'" >>"$CZ_PG_DATA/postgresql.auto.conf"
chown postgres "$CZ_PG_DATA/conf.d/timing-tls.conf"
(cd / && "$sandbox_sh" restart "$CZ_PG_SANDBOX")
port=$CZ_PG_PORT
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

ms() { date +%s%N; }
rows=()
record() { rows+=("$1,$2,$3,$4"); echo "$1,$2,$3,$4" >&2; } # name,run,ms,connections

# One box, the whole probe (and --quick), through the CLI: probe-reported
# elapsed time and connection count, plus wall time of the process.
for i in $(seq 1 "$runs"); do
	t0=$(ms)
	j=$("$czctl" postgres tls probe --host 127.0.0.1 --port "$port" --ca ca.crt --json || true)
	t1=$(ms)
	e=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(round(d["elapsed_ms"],1), d["connections"])' "$j")
	record full_probe "$i" "${e% *}" "${e#* }"
	record full_probe_wall "$i" $(( (t1 - t0) / 1000000 )) "${e#* }"
done
for i in $(seq 1 "$runs"); do
	j=$("$czctl" postgres tls probe --host 127.0.0.1 --port "$port" --ca ca.crt --quick --json || true)
	e=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(round(d["elapsed_ms"],1), d["connections"])' "$j")
	record quick_probe "$i" "${e% *}" "${e#* }"
done
# What one TLS connection costs this server: openssl s_client, one at a time.
for i in $(seq 1 "$runs"); do
	t0=$(ms)
	timeout 20 openssl s_client -starttls postgres -connect "127.0.0.1:$port" </dev/null >/dev/null 2>&1 || true
	t1=$(ms)
	record s_client_handshake "$i" $(( (t1 - t0) / 1000000 )) 1
done

# Fleet: 1,000 targets (63 addresses x 15 = 945 live, 55 closed).
: >targets
for r in $(seq 1 15); do for a in $(seq 1 63); do echo "127.0.0.$a:$port" >>targets; done; done
for a in $(seq 1 55); do echo "127.0.1.$a:$port" >>targets; done
head -"${SERIAL_SAMPLE:-100}" targets >targets-serial
for spec in "targets 64 fleet1000_quick_c64" "targets-serial 1 serial${SERIAL_SAMPLE:-100}_quick_c1"; do
	set -- $spec
	t0=$(ms)
	"$czctl" postgres tls probe --targets "$1" --ca ca.crt --quick --concurrency "$2" \
		--json >"$3.json" || true
	t1=$(ms)
	conns=$(python3 -c 'import json,sys; print(sum(json.loads(l).get("connections",0) for l in open(sys.argv[1]) if not l.startswith("{\"summary\"")))' "$3.json")
	record "$3" 1 $(( (t1 - t0) / 1000000 )) "$conns"
done
# The whole probe for 20 targets at once, against one at a time.
head -20 targets >targets63
for c in 64 1; do
	t0=$(ms)
	"$czctl" postgres tls probe --targets targets63 --ca ca.crt --full --concurrency "$c" \
		--json >fleet63-$c.json || true
	t1=$(ms)
	conns=$(python3 -c 'import json,sys; print(sum(json.loads(l).get("connections",0) for l in open(sys.argv[1]) if not l.startswith("{\"summary\"")))' fleet63-$c.json)
	record "fleet20_full_c$c" 1 $(( (t1 - t0) / 1000000 )) "$conns"
done

if [ "${SKIP_EXTERNAL:-0}" != 1 ]; then
	if command -v testssl >/dev/null; then
		t0=$(ms)
		timeout 900 testssl --starttls postgres --quiet --color 0 -p -E -f -S \
			"127.0.0.1:$port" >testssl.out 2>&1 || true
		t1=$(ms)
		record testssl_p_E_f_S 1 $(( (t1 - t0) / 1000000 )) ""
	fi
	if command -v nmap >/dev/null; then
		t0=$(ms)
		timeout 900 nmap -Pn -sV -p "$port" --script ssl-enum-ciphers 127.0.0.1 \
			>nmap.out 2>&1 || true
		t1=$(ms)
		record nmap_ssl_enum_ciphers 1 $(( (t1 - t0) / 1000000 )) ""
	fi
fi
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

{
	echo "name,run,ms,connections"
	printf '%s\n' "${rows[@]}"
} >"$out.csv"
python3 - "$out.csv" "$out.json" "$load_start" "$load_end" "$(nproc)" <<'PY'
import csv, json, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
by = {}
for r in rows:
    by.setdefault(r["name"], []).append(r)
summary = {}
for name, rs in by.items():
    v = [float(r["ms"]) for r in rs]
    c = [int(r["connections"]) for r in rs if r["connections"]]
    summary[name] = {"runs": len(v), "median_ms": statistics.median(v), "min_ms": min(v),
                     "max_ms": max(v), "connections": c[0] if c else None}
json.dump({"machine": {"cpus": int(sys.argv[5]), "loadavg_start": sys.argv[3],
                       "loadavg_end": sys.argv[4]},
           "summary": summary, "runs": rows}, open(sys.argv[2], "w"), indent=1)
print(json.dumps(summary, indent=1))
PY
