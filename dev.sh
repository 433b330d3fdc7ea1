#!/usr/bin/env bash
# dev.sh - set up, build, test and demonstrate czpg on a Debian 12 machine.
#
#   ./dev.sh setup   install the Debian packages the project needs (skips apt
#                    entirely when they are all present; needs root otherwise)
#                    and build the PostgreSQL 17 and 18 chroots the suite runs
#                    against (once; reused until missing or incomplete), and
#                    node-postgres for the independent-client test
#   ./dev.sh build   setup + the normal build (-Werror) into build/
#   ./dev.sh test    setup + the whole suite: normal build and ASan+UBSan
#                    build, every unit test and the integration suite against
#                    every PostgreSQL version (15, 17, 18) in both, and a
#                    bounded libFuzzer run of each fuzz target
#
# CZ_PG_VERSIONS (default "15 17 18") picks the integration columns of both
# builds, CZ_ASAN_PG_VERSIONS (default: the same) those of the ASan build.
#   ./dev.sh demo    setup + build + the end-to-end cutover against a
#                    throwaway local PostgreSQL (scripts/demo.sh)
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)

PACKAGES=(build-essential cmake pkg-config git libssl-dev openssl libpq-dev
	liburing-dev libcmocka-dev postgresql-15 postgresql-client-15 clang
	libclang-rt-14-dev ca-certificates jq python3 clang-format debootstrap
	pgbouncer nodejs)
# node-postgres, the independent client of test_node_pg: channel binding
# (enableChannelBinding) needs pg 8.14 or later.  Installed outside the
# checkout, next to the chroots.
NODE_PG_DIR=${CZ_NODE_PG_DIR:-/var/cache/czpg/node-pg}
NODE_PG_SPEC='pg@>=8.14.0 <9'
# The PostgreSQL major versions the integration suite runs against
# (docs/versions.md): 15 from the host, the others from chroots.
PG_VERSIONS=${CZ_PG_VERSIONS:-15 17 18}
# The sanitizer build runs every column too: on two shared cores a column
# takes 1 to 2 minutes there (docs/versions.md), far inside CI's 90 minutes.
ASAN_PG_VERSIONS=${CZ_ASAN_PG_VERSIONS:-$PG_VERSIONS}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
FUZZ_SECONDS=${FUZZ_SECONDS:-10}

log() { printf '==> %s\n' "$*"; }

setup() {
	install_packages
	install_node_pg
	local v
	for v in $(printf '%s\n' $PG_VERSIONS $ASAN_PG_VERSIONS | sort -un); do
		bash tests/sandbox/pg_root.sh ensure "$v"
	done
}

# npm comes with some builds of nodejs and is Debian's own package otherwise.
install_node_pg() {
	local have
	have=$(node -e "console.log(require('$NODE_PG_DIR/node_modules/pg/package.json').version)" \
		2>/dev/null || true)
	case "$have" in
	8.1[4-9].* | 8.[2-9][0-9].*)
		log "node-postgres $have present"
		return 0
		;;
	esac
	if ! command -v npm >/dev/null; then
		[ "$(id -u)" = 0 ] || {
			echo "dev.sh: npm is missing; run ./dev.sh setup as root" >&2
			exit 1
		}
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm \
			>/dev/null
	fi
	log "installing node-postgres ($NODE_PG_SPEC) into $NODE_PG_DIR"
	mkdir -p "$NODE_PG_DIR"
	npm install --silent --no-audit --no-fund --prefix "$NODE_PG_DIR" "$NODE_PG_SPEC" >/dev/null
}

install_packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		log "all packages present"
		return 0
	fi
	if [ "$(id -u)" != 0 ]; then
		echo "dev.sh: missing packages: ${missing[*]}; run ./dev.sh setup as root" >&2
		exit 1
	fi
	log "installing: ${missing[*]}"
	# The tests start their own clusters: keep the package from creating and
	# starting a default one on port 5432.
	mkdir -p /etc/postgresql-common/createcluster.d
	echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/czpg.conf
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

configure_build() {
	local dir=$1
	shift
	cmake -S "$root" -B "$dir" -DCZPG_WERROR=ON "$@" >/dev/null
	cmake --build "$dir" -j"$JOBS" -- --no-print-directory >/dev/null 2>"$dir/build.log" || {
		cat "$dir/build.log" >&2
		echo "dev.sh: build in $dir failed" >&2
		exit 1
	}
}

# The unit tests, then one integration column per version, each timed; every
# column runs even when an earlier one failed, and the suite fails if any did.
run_ctest() {
	local dir=$1 v label t0 failed=()
	shift
	for v in unit "$@"; do
		t0=$(date +%s)
		if [ "$v" = unit ]; then
			label=unit
			log "$dir: unit tests"
		else
			label=pg$v
			log "$dir: integration suite against PostgreSQL $v"
		fi
		(cd "$dir" && ctest --output-on-failure -j"$JOBS" --timeout 900 -L "^$label\$") ||
			failed+=("$label")
		log "$dir: $label done in $(($(date +%s) - t0)) s"
	done
	if [ ${#failed[@]} -gt 0 ]; then
		echo "dev.sh: failures in $dir: ${failed[*]}" >&2
		return 1
	fi
}

# "15 17 18" -> "15;17;18" (a CMake list)
cmake_list() {
	local IFS=' '
	# shellcheck disable=SC2086
	set -- $1
	IFS=';'
	echo "$*"
}

fuzz() {
	local f name corpus work
	if ! command -v clang >/dev/null; then
		log "clang not found: fuzz targets skipped"
		return 0
	fi
	local targets=()
	for f in tests/fuzz/fuzz_*.c; do
		[ -e "$f" ] && targets+=("$(basename "$f" .c)")
	done
	[ ${#targets[@]} -gt 0 ] || return 0
	CC=clang cmake -S "$root" -B build-fuzz -DCZPG_FUZZ=ON -DCZPG_TESTS=ON >/dev/null
	cmake --build build-fuzz -j"$JOBS" --target "${targets[@]}" -- --no-print-directory \
		>/dev/null 2>build-fuzz/build.log || {
		cat build-fuzz/build.log >&2
		echo "dev.sh: fuzz build failed" >&2
		exit 1
	}
	for name in "${targets[@]}"; do
		f=build-fuzz/tests/$name
		corpus="tests/fuzz/corpus/${name#fuzz_}"
		work=$(mktemp -d)
		[ -d "$corpus" ] && cp -r "$corpus/." "$work/"
		log "fuzzing $name for ${FUZZ_SECONDS}s"
		"$f" -max_total_time="$FUZZ_SECONDS" -print_final_stats=0 "$work" >"$work.log" 2>&1 || {
			tail -40 "$work.log" >&2
			echo "dev.sh: $name found a failure" >&2
			rm -rf "$work" "$work.log"
			exit 1
		}
		grep -E '^Done [0-9]+ runs' "$work.log" | tail -1 || true
		rm -rf "$work" "$work.log"
	done
}

cmd=${1:-}
case "$cmd" in
setup)
	setup
	;;
build)
	setup
	configure_build build
	log "built build/czctl"
	;;
test)
	setup
	log "normal build (-Werror)"
	configure_build build -DCZPG_PG_VERSIONS="$(cmake_list "$PG_VERSIONS")"
	log "AddressSanitizer + UndefinedBehaviorSanitizer build"
	configure_build build-asan -DCZPG_SANITIZE=ON -DCZPG_PG_VERSIONS="$(cmake_list "$ASAN_PG_VERSIONS")"
	fuzz
	log "suite: normal build"
	status=0
	# shellcheck disable=SC2086
	run_ctest build $PG_VERSIONS || status=1
	log "suite: ASan+UBSan build"
	# shellcheck disable=SC2086
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		run_ctest build-asan $ASAN_PG_VERSIONS || status=1
	exit "$status"
	;;
demo)
	setup
	configure_build build
	exec bash scripts/demo.sh "$root/build/czctl"
	;;
*)
	echo "usage: ./dev.sh setup|build|test|demo" >&2
	exit 2
	;;
esac
