#!/usr/bin/env bash
# archives.sh - lint: what the layers' static libraries link against.
#
#   1. libczpg_core.a references no socket, resolver, poll, ring or libpq
#      symbol (socket, connect, send, recv, sendmsg, recvmsg, accept, bind,
#      listen, getaddrinfo, ..., io_uring_*, PQ*): the core is sans-I/O.
#   2. libczpg_net.a, libczpg_server.a and libczpg_report.a reference no
#      libpq symbol (PQ*): only the verbs use libpq, as a cross-check client.
#   3. The czpg_ functions core, net, server and report call are defined in
#      their own layer or below (core; net: net + core; server: server +
#      core; report: report + core: it prints verb results, calls no verb).
#   4. No czpg archive has a weak czpg_ symbol (nm types w, W, v, V): every
#      definition is the one the linker must find, none can be silently
#      replaced.
#
# Environment (set by CMake): CZ_NM (nm), CZ_LIB_CORE, CZ_LIB_NET,
# CZ_LIB_SERVER, CZ_LIB_REPORT, CZ_LIB_VERBS, CZ_LIB_CLI (archive paths).
set -u
nm=${CZ_NM:-nm}
fail=0

need() {
	local var=$1
	if [ -z "${!var:-}" ] || [ ! -f "${!var}" ]; then
		echo "archives: $var does not name a built archive (run through ctest)" >&2
		exit 1
	fi
}
for v in CZ_LIB_CORE CZ_LIB_NET CZ_LIB_SERVER CZ_LIB_REPORT CZ_LIB_VERBS CZ_LIB_CLI; do
	need "$v"
done

# Undefined symbols of an archive, one per line, without symbol versions.
undefined() {
	"$nm" -u "$1" | awk '$1 == "U" { sub(/@.*/, "", $2); print $2 }' | sort -u
}

# Symbols the archives define (global, weak or not).
defined() {
	local a
	for a in "$@"; do
		"$nm" --defined-only "$a" | awk 'NF == 3 && $2 ~ /^[A-Z]$/ { print $3 }'
	done | sort -u
}

# check_none ARCHIVE WHY REGEX: no undefined symbol of ARCHIVE matches REGEX.
check_none() {
	local archive=$1 why=$2 regex=$3 hits
	hits=$(undefined "$archive" | grep -E "$regex" | tr '\n' ' ')
	if [ -n "$hits" ]; then
		echo "archives: $(basename "$archive") references $hits($why)" >&2
		fail=1
	fi
}

io='^(socket|socketpair|connect|send|sendto|sendmsg|sendmmsg|recv|recvfrom|recvmsg|recvmmsg|accept|accept4|bind|listen|shutdown|setsockopt|getsockopt|getpeername|getsockname|getaddrinfo|freeaddrinfo|getnameinfo|gai_strerror|gethostbyname|poll|ppoll|select|pselect|epoll_[a-z_]*|io_uring_[a-z0-9_]*|__io_uring_[a-z0-9_]*|PQ[A-Za-z0-9_]*)$'
check_none "$CZ_LIB_CORE" "the core does no I/O: sockets and the ring belong to src/net" "$io"
for a in "$CZ_LIB_NET" "$CZ_LIB_SERVER" "$CZ_LIB_REPORT"; do
	check_none "$a" "libpq is for the verbs' cross-check client only" '^PQ[A-Za-z0-9_]*$'
done

# upward ARCHIVE LAYER-ARCHIVES...: czpg_ calls resolved by these archives only.
upward() {
	local archive=$1 missing
	shift
	missing=$(comm -23 <(undefined "$archive" | grep '^czpg_') <(defined "$@") | tr '\n' ' ')
	if [ -n "$missing" ]; then
		echo "archives: $(basename "$archive") calls $missing(defined in a layer above it)" >&2
		fail=1
	fi
}
upward "$CZ_LIB_CORE" "$CZ_LIB_CORE"
upward "$CZ_LIB_NET" "$CZ_LIB_NET" "$CZ_LIB_CORE"
upward "$CZ_LIB_SERVER" "$CZ_LIB_SERVER" "$CZ_LIB_CORE"
upward "$CZ_LIB_REPORT" "$CZ_LIB_REPORT" "$CZ_LIB_CORE"

for a in "$CZ_LIB_CORE" "$CZ_LIB_NET" "$CZ_LIB_SERVER" "$CZ_LIB_REPORT" "$CZ_LIB_VERBS" \
	"$CZ_LIB_CLI"; do
	weak=$("$nm" "$a" | awk 'NF >= 2 && $(NF - 1) ~ /^[wWvV]$/ && $NF ~ /^czpg_/ { print $NF }' |
		sort -u | tr '\n' ' ')
	if [ -n "$weak" ]; then
		echo "archives: $(basename "$a") has weak symbols: $weak" >&2
		fail=1
	fi
done

[ $fail -eq 0 ] || exit 1
echo "archives: core references no I/O or libpq symbol; net, server and report no libpq;" \
	"no upward calls from core, net, server or report; no weak czpg_ symbols"
