#!/usr/bin/env bash
# core_includes.sh - lint: the protocol core (src/core) stays sans-I/O.
#
# Every file under src/core, and every header it reaches through
# "czpg/..." or local includes, must not include a socket, event-loop, ring
# or libpq header: <sys/socket.h>, <netdb.h>, <netinet/...>, <sys/epoll.h>,
# <poll.h>, <sys/poll.h>, <liburing.h>, <libpq-fe.h>.  <arpa/inet.h> is allowed
# in src/core/parse.c alone (inet_pton/inet_ntop turn text into bytes).  A
# core file may include the public headers of core modules only (one per
# src/core/*.c), never a header of a higher layer (czpg/engine.h, ...).
#
# Environment: CZ_SOURCE_DIR (the source tree).
set -u
src=${CZ_SOURCE_DIR:?CZ_SOURCE_DIR is not set (run through ctest)}
cd "$src" || exit 1

forbidden='^[[:space:]]*#[[:space:]]*include[[:space:]]*<(sys/socket\.h|netdb\.h|netinet/[^>]*|sys/epoll\.h|poll\.h|sys/poll\.h|liburing\.h|libpq-fe\.h)>'
arpa='^[[:space:]]*#[[:space:]]*include[[:space:]]*<arpa/[^>]*>'

# The core modules' public headers: czpg/<module>.h for each src/core/<module>.c.
declare -A core_header
for c in src/core/*.c; do
	core_header["czpg/$(basename "$c" .c).h"]=1
done

fail=0
declare -A seen
queue=(src/core/*.c src/core/*.h)
while [ ${#queue[@]} -gt 0 ]; do
	f=${queue[0]}
	queue=("${queue[@]:1}")
	[ -n "${seen[$f]:-}" ] && continue
	seen[$f]=1
	if [ ! -f "$f" ]; then
		echo "core_includes: $f is included but does not exist" >&2
		fail=1
		continue
	fi
	while IFS= read -r hit; do
		echo "core_includes: $f:${hit%%:*}: ${hit#*:} (the core does no I/O)" >&2
		fail=1
	done < <(grep -nE "$forbidden" "$f")
	if [ "$f" != src/core/parse.c ]; then
		while IFS= read -r hit; do
			echo "core_includes: $f:${hit%%:*}: ${hit#*:} (only src/core/parse.c may" \
				"include <arpa/inet.h>, for inet_pton/inet_ntop)" >&2
			fail=1
		done < <(grep -nE "$arpa" "$f")
	elif grep -E "$arpa" "$f" | grep -qv 'arpa/inet\.h'; then
		echo "core_includes: $f: includes an <arpa/...> header other than <arpa/inet.h>" >&2
		fail=1
	fi
	# Follow quoted includes: czpg/... from include/, others next to the file.
	while IFS= read -r inc; do
		case $inc in
		czpg/*)
			if [ -z "${core_header[$inc]:-}" ]; then
				echo "core_includes: $f includes \"$inc\", a header of a layer above" \
					"the core" >&2
				fail=1
			fi
			queue+=("include/$inc")
			;;
		*)
			queue+=("$(dirname "$f")/$inc")
			;;
		esac
	done < <(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/p' "$f")
done
if [ $fail -ne 0 ]; then
	exit 1
fi
echo "core_includes: ${#seen[@]} files checked: no I/O header in the core"
