# bench_test.sh - sourced by the bench's integration scripts
# (tests/integration/test_bench*.sh), inside a sandbox: skips without jq,
# turns the sandbox's TLS on (bench/enable_tls.sh; $ca is the CA), makes a
# scratch directory $out removed on exit, puts the password in the
# environment, and starts the pass/fail tally.
command -v jq >/dev/null || { echo "SKIP: jq is not installed"; exit 77; }
bench_test_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ca=$(bash "$bench_test_dir/../../bench/enable_tls.sh" ec) || { echo "FAIL: cannot enable TLS"; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export CZ_PG_BENCH_PASSWORD="$CZ_PG_PASSWORD"
pass=0 fail=0

# check NAME JQ-EXPRESSION FILE [JQ-FILTER]: a pass when the expression holds
# for FILE; else a failure, with FILTER of FILE shown (default: $CHECK_DUMP,
# else the result).
check() {
	if jq -e "$2" "$3" >/dev/null; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $1: $2"
		jq -c "${4:-${CHECK_DUMP:-{result\}}}" "$3"
	fi
}

# finish: prints the tally; its status is the script's verdict.
finish() {
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
