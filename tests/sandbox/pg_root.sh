#!/usr/bin/env bash
# pg_root.sh - where the PostgreSQL server of a given major version comes from.
#
#   pg_root.sh versions          the major versions the suite knows, one a line
#   pg_root.sh path VERSION      prints the directory the server's files live in
#                                ("" for the host's own PostgreSQL 15); fails,
#                                naming what is missing, when it is not built
#   pg_root.sh ensure VERSION    builds the chroot of VERSION when it is missing
#                                or incomplete (needs root and debootstrap)
#   pg_root.sh rebuild VERSION   builds it again from scratch
#
# 15 is Debian 12's own package on the host.  17 (Debian 13, trixie) and 18
# (Debian unstable, sid) need their own glibc, so each lives in a debootstrap
# chroot under $CZ_PG_ROOT_CACHE (default /var/cache/czpg), outside any
# checkout so every clone and build directory shares one copy.  A chroot is
# built under a temporary name and renamed into place only once complete, so
# an interrupted build is never taken for a finished one.  Every mount a build
# needs (/proc for debootstrap and dpkg) lives in a private mount namespace
# that the kernel tears down with the build, even if it is killed.
set -euo pipefail

CACHE=${CZ_PG_ROOT_CACHE:-/var/cache/czpg}
MARKER=.czpg-root-complete

# major version -> Debian suite that ships it (empty: the host's package)
suite_of() {
	case "$1" in
	15) echo "" ;;
	17) echo trixie ;;
	18) echo sid ;;
	*) return 1 ;;
	esac
}

die() {
	echo "pg_root: $*" >&2
	exit 1
}

known() {
	suite_of "$1" >/dev/null || die "PostgreSQL $1 is not a version the suite runs (known: 15 17 18)"
}

root_dir() {
	echo "$CACHE/pg$1-$(suite_of "$1")"
}

complete() {
	local dir=$1 v=$2
	[ -f "$dir/$MARKER" ] && [ -x "$dir/usr/lib/postgresql/$v/bin/postgres" ] &&
		[ -x "$dir/usr/lib/postgresql/$v/bin/initdb" ] && [ -x "$dir/usr/lib/postgresql/$v/bin/pg_ctl" ]
}

# The Debian mirror apt already uses, read from apt's own configuration: the
# URI of the first enabled "deb" entry for the host's release (one-line .list
# files and deb822 .sources files).  CZ_DEBIAN_MIRROR overrides it.
apt_mirror() {
	local codename f uri
	if [ -n "${CZ_DEBIAN_MIRROR:-}" ]; then
		echo "$CZ_DEBIAN_MIRROR"
		return 0
	fi
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[ -n "$codename" ] || die "cannot tell the host's Debian release from /etc/os-release"
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		uri=$(case "$f" in
		*.sources)
			# deb822: stanzas separated by blank lines.
			awk -v want="$codename" '
			function flush() {
				if (types ~ /(^| )deb( |$)/ && enabled != "no" && (" " suites " ") ~ (" " want " ") && uris != "") {
					split(uris, u, " "); print u[1]; found = 1; exit
				}
				types = ""; suites = ""; uris = ""; enabled = ""
			}
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			{
				key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^[ \t]+/, "")
				if (key == "types") types = $0
				else if (key == "suites") suites = $0
				else if (key == "uris") uris = $0
				else if (key == "enabled") enabled = tolower($0)
			}
			END { if (!found) flush() }' "$f"
			;;
		*)
			awk -v want="$codename" '
			$1 == "deb" {
				i = 2
				if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
				if ($(i + 1) == want) { print $i; exit }
			}' "$f"
			;;
		esac)
		if [ -n "$uri" ]; then
			echo "$uri"
			return 0
		fi
	done
}

# The chroot's apt fetches the way the host's apt does: the same proxy and
# the same date checks (a mirror snapshot's Release file may be past its
# Valid-Until), as apt-config reports them on the host.
host_apt_conf() {
	local key val
	for key in Acquire::Check-Valid-Until Acquire::Check-Date Acquire::http::Proxy \
		Acquire::https::Proxy; do
		val=$(apt-config dump "$key" 2>/dev/null | sed -n "s|^$key \"\(.*\)\";\$|\1|p")
		[ -n "$val" ] && printf '%s "%s";\n' "$key" "$val"
	done
	return 0
}

build() {
	local v=$1 suite dir tmp mirror t0 pkg stale
	suite=$(suite_of "$v")
	dir=$(root_dir "$v")
	pkg=postgresql-$v
	[ "$(id -u)" = 0 ] || die "building the PostgreSQL $v chroot $dir needs root (run ./dev.sh setup as root)"
	command -v debootstrap >/dev/null ||
		die "building the PostgreSQL $v chroot $dir needs debootstrap (apt-get install debootstrap, or ./dev.sh setup)"
	command -v unshare >/dev/null || die "building the PostgreSQL $v chroot needs unshare (util-linux)"
	mirror=$(apt_mirror)
	[ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d/*} (set CZ_DEBIAN_MIRROR)"
	mkdir -p "$CACHE"
	chmod 0755 "$CACHE"

	# With the lock held, a leftover temporary directory is an interrupted
	# build: remove it (never crossing into a mount point).
	for stale in "$CACHE"/.pg"$v"-"$suite".building.*; do
		[ -e "$stale" ] && rm -rf --one-file-system -- "$stale"
	done
	tmp=$(mktemp -d "$CACHE/.pg$v-$suite.building.XXXXXX")
	chmod 0755 "$tmp"
	t0=$(date +%s)
	echo "pg_root: building PostgreSQL $v from Debian $suite ($mirror) into $dir" >&2
	# Debootstrap first without the server, so the cluster-creation policy is
	# in place before the package's postinst runs: the tests make their own
	# clusters and none must start at install time (policy-rc.d).
	unshare --mount --propagation private -- bash -euo pipefail -c '
		tmp=$1 suite=$2 mirror=$3 pkg=$4
		debootstrap --variant=minbase --include=ca-certificates "$suite" "$tmp" "$mirror" \
			>"$tmp.log" 2>&1 || { tail -n 30 "$tmp.log" >&2; exit 1; }
		mkdir -p "$tmp/etc/postgresql-common/createcluster.d"
		echo "create_main_cluster = false" >"$tmp/etc/postgresql-common/createcluster.d/czpg.conf"
		printf "#!/bin/sh\nexit 101\n" >"$tmp/usr/sbin/policy-rc.d"
		chmod 0755 "$tmp/usr/sbin/policy-rc.d"
		cp /etc/resolv.conf "$tmp/etc/resolv.conf" 2>/dev/null || true
		printf "%s\n" "$5" >"$tmp/etc/apt/apt.conf.d/00czpg-host"
		mount -t proc proc "$tmp/proc"
		chroot "$tmp" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 \
			sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $pkg && apt-get clean" \
			>>"$tmp.log" 2>&1 || { tail -n 30 "$tmp.log" >&2; exit 1; }
		umount "$tmp/proc"
	' build "$tmp" "$suite" "$mirror" "$pkg" "$(host_apt_conf)" || {
		rm -rf --one-file-system -- "$tmp"
		rm -f -- "$tmp.log"
		die "building the PostgreSQL $v chroot failed (debootstrap $suite from $mirror)"
	}
	rm -f -- "$tmp.log"
	[ -x "$tmp/usr/lib/postgresql/$v/bin/postgres" ] || {
		rm -rf --one-file-system -- "$tmp"
		die "Debian $suite's $pkg did not install /usr/lib/postgresql/$v/bin/postgres"
	}
	{
		echo "version=$v"
		echo "suite=$suite"
		echo "mirror=$mirror"
		echo "package=$(chroot "$tmp" dpkg-query -W -f='${Version}' "$pkg")"
		echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "seconds=$(($(date +%s) - t0))"
	} >"$tmp/$MARKER"
	# The commit point: the complete tree takes the final name in one rename.
	[ -e "$dir" ] && rm -rf --one-file-system -- "$dir"
	mv -T -- "$tmp" "$dir"
	echo "pg_root: PostgreSQL $v ($(sed -n 's/^package=//p' "$dir/$MARKER")) ready in $dir after $(($(date +%s) - t0)) s" >&2
}

# Builds under an exclusive lock, so two set-ups at once build one chroot.
locked_build() {
	local v=$1 force=$2 dir
	dir=$(root_dir "$v")
	if [ "$force" = 0 ] && complete "$dir" "$v"; then
		echo "pg_root: PostgreSQL $v chroot $dir is complete" >&2
		return 0
	fi
	[ "$(id -u)" = 0 ] || die "building the PostgreSQL $v chroot $dir needs root (run ./dev.sh setup as root)"
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.pg$v.lock"
	flock 9
	if [ "$force" = 1 ] || ! complete "$dir" "$v"; then
		build "$v"
	else
		echo "pg_root: PostgreSQL $v chroot $dir is complete" >&2
	fi
	exec 9>&-
}

cmd=${1:-}
case "$cmd" in
versions)
	printf '%s\n' 15 17 18
	;;
path)
	v=${2:?version}
	known "$v"
	[ -n "$(suite_of "$v")" ] || exit 0
	dir=$(root_dir "$v")
	complete "$dir" "$v" ||
		die "PostgreSQL $v needs the chroot $dir, which is missing or was never finished: build it with ./dev.sh setup (as root: debootstrap of Debian $(suite_of "$v") with postgresql-$v, about 700 MB)"
	echo "$dir"
	;;
ensure | rebuild)
	v=${2:?version}
	known "$v"
	if [ -z "$(suite_of "$v")" ]; then
		[ -x "/usr/lib/postgresql/$v/bin/postgres" ] ||
			die "PostgreSQL $v comes from the host: install postgresql-$v (./dev.sh setup)"
		exit 0
	fi
	locked_build "$v" "$([ "$cmd" = rebuild ] && echo 1 || echo 0)"
	;;
mirror)
	apt_mirror
	;;
*)
	echo "usage: pg_root.sh versions | path VERSION | ensure VERSION | rebuild VERSION | mirror" >&2
	exit 2
	;;
esac
