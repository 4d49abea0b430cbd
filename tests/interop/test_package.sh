#!/bin/bash
# The Debian package, as a user gets it: built from the build tree with
# CPack; its metadata and contents checked (every file and mode, Depends
# against what the binaries really link); apt simulated on a minimal Debian
# (it must pull in the runtime libraries and nothing else); installed with
# `apt-get install ./vpnctl_*.deb`; the unit checked as installed
# (systemd-analyze verify, an offline security review); the installed vpnd
# and vpnctl run from /usr without LD_LIBRARY_PATH, vpnd confined like the
# unit confines it (in a network namespace of its own), talking to vpnctl
# over a socket with the packaged example profile; bash completion
# exercised; then removed and purged with proof that nothing is left. The
# machine ends as it was, also when a check fails: the package is purged
# and the group vpn deleted if the test created it.
#
# Without a vpnd target in the build tree there is no package: the test
# fails saying so.
#
# usage: test_package.sh [PREFIX]   (root; VPN_BUILD_DIR: a configured build tree)
set -euo pipefail
source "$(dirname "$(readlink -f -- "$0")")/lab/testlib.sh"
t_timebox "${LAB_TEST_TIMEOUT:-240}" "$@"

P=${1:-package$$}
BUILD=${VPN_BUILD_DIR:-}
TMP=""
VPND_PID=""
INSTALLED=0      # 1 once apt may have installed the package
GROUP_BEFORE=0   # 1 if the group vpn existed before the test
GROUP_BEFORE_LINE=""
APT_OPTS=(-y -q -o DPkg::Lock::Timeout=120)
export DEBIAN_FRONTEND=noninteractive

# What the package must hold (files; directories are checked apart), with
# the mode dpkg-deb -c shows, all owned by root/root.
declare -A EXPECT_FILES=(
	[/usr/sbin/vpnd]=-rwxr-xr-x
	[/usr/bin/vpnctl]=-rwxr-xr-x
	[/usr/lib/systemd/system/vpnd.service]=-rw-r--r--
	[/usr/lib/sysusers.d/vpnctl.conf]=-rw-r--r--
	[/usr/share/man/man8/vpnctl.8.gz]=-rw-r--r--
	[/usr/share/man/man8/vpnd.8.gz]=-rw-r--r--
	[/usr/share/man/man5/vpnctl-profile.5.gz]=-rw-r--r--
	[/usr/share/bash-completion/completions/vpnctl]=-rw-r--r--
	[/usr/share/doc/vpnctl/examples/example.conf]=-rw-r--r--
)
# Runtime libraries the package must depend on (the contract), on top of
# whatever else the binaries link.
REQUIRED_DEPENDS="android-libboringssl libuv1 libnl-3-200 libnl-route-3-200 libinih1 libjansson4 libsystemd0 libnftables1"

# Paths on the system that belong to vpnctl by name; compared before and
# after so that "nothing stays" covers files the test does not know about.
# Network namespaces are left out: other tests (run in parallel by ctest)
# name theirs after themselves, and they come and go meanwhile.
vpn_paths() {
	find /etc /usr /var /run /opt /srv -xdev \
		\( -path /var/tmp -o -path /var/cache -o -path /var/log -o -path /run/netns \
		-o -path /etc/netns -o -path /run/user \) -prune -o \
		\( -name '*vpnd*' -o -name '*vpnctl*' \) -print 2>/dev/null | sort
}

pkg_status() { dpkg-query -W -f='${Status}' vpnctl 2>/dev/null || true; }

stop_vpnd() {
	[[ -n "$VPND_PID" ]] || return 0
	if kill -0 "$VPND_PID" 2>/dev/null; then
		kill -TERM "$VPND_PID" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$VPND_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$VPND_PID" 2>/dev/null || true
	fi
	wait "$VPND_PID" 2>/dev/null || true
	VPND_PID=""
}

# shellcheck disable=SC2317 # called from the EXIT trap
# Put the machine back: no vpnd of ours, no package, the group as it was.
# Returns non-zero (and says what) if something could not be restored.
restore_machine() {
	local bad=0
	stop_vpnd
	if [[ $INSTALLED -eq 1 && -n "$(pkg_status)" && "$(pkg_status)" != "unknown ok not-installed" ]]; then
		t_log "cleanup: purging the package"
		apt-get purge "${APT_OPTS[@]}" vpnctl >/dev/null 2>&1 ||
			dpkg --purge vpnctl >/dev/null 2>&1 || true
		if dpkg-query -W vpnctl >/dev/null 2>&1 &&
			[[ "$(pkg_status)" != "unknown ok not-installed" ]]; then
			echo "[$_T_NAME] left behind: package vpnctl ($(pkg_status))" >&2
			bad=1
		fi
	fi
	if [[ $INSTALLED -eq 1 && $GROUP_BEFORE -eq 0 ]] && getent group vpn >/dev/null; then
		groupdel vpn || { echo "[$_T_NAME] left behind: group vpn" >&2; bad=1; }
	fi
	if [[ $GROUP_BEFORE -eq 1 && "$(getent group vpn || true)" != "$GROUP_BEFORE_LINE" ]]; then
		echo "[$_T_NAME] group vpn changed: was '$GROUP_BEFORE_LINE', is '$(getent group vpn || true)'" >&2
		bad=1
	fi
	[[ -n "$TMP" ]] && rm -rf "$TMP"
	return "$bad"
}

# shellcheck disable=SC2317 # the EXIT trap
_pkg_on_exit() {
	local rc=$?
	set +e
	if ! restore_machine; then
		echo "[$_T_NAME] FAIL: the machine was not put back as it was" >&2
		[[ $rc -eq 0 ]] && rc=1
	fi
	(exit "$rc")
	_t_on_exit
}
trap '_pkg_on_exit' EXIT

# --- Preconditions ---------------------------------------------------------------
[[ -n "$BUILD" && -f "$BUILD/CMakeCache.txt" ]] ||
	t_fail "VPN_BUILD_DIR must name a configured build tree (got '${BUILD}')"
for tool in apt-get dpkg-deb dpkg-query systemd-analyze systemd-sysusers man groff unshare setpriv jq readelf flock; do
	command -v "$tool" >/dev/null || t_fail "$tool is missing (scripts/setup.sh installs it)"
done

# One package test per machine at a time: the package and the group are global.
mkdir -p /run/lock
exec 9>/run/lock/vpn-pkgtest.lock
flock -w 120 9 || t_fail "another package test holds /run/lock/vpn-pkgtest.lock"

status=$(pkg_status)
if [[ -n "$status" && "$status" != "unknown ok not-installed" ]]; then
	t_fail "vpnctl is already on this machine ($status); this test installs and purges it: remove it first"
fi
for d in /etc/vpnctl /var/lib/vpnctl /run/vpnctl; do
	[[ ! -e "$d" ]] || t_fail "$d exists while vpnctl is not installed: refusing to let a purge delete it"
done
if getent group vpn >/dev/null; then
	GROUP_BEFORE=1
	GROUP_BEFORE_LINE=$(getent group vpn)
fi
PATHS_BEFORE=$(vpn_paths)
TMP=$(mktemp -d "/tmp/vpnpkg.$P.XXXXXX")
ARCH=$(dpkg --print-architecture)

# --- Build ------------------------------------------------------------------------
t_log "building vpnd"
if ! out=$(cmake --build "$BUILD" --target vpnd 2>&1); then
	echo "$out" | tail -n 15 >&2
	t_fail "could not build the vpnd target: this tree must define the vpnd executable (client/daemon) and it must build; there is no package without it"
fi
t_log "building the package"
rm -f "$BUILD"/vpnctl_*.deb
if ! out=$(cmake --build "$BUILD" --target package 2>&1); then
	echo "$out" | tail -n 25 >&2
	t_fail "cmake --build --target package failed"
fi
debs=("$BUILD"/vpnctl_*_"$ARCH".deb)
[[ ${#debs[@]} -eq 1 && -f "${debs[0]}" ]] || t_fail "expected one vpnctl_*_$ARCH.deb in $BUILD, found: ${debs[*]}"
DEB=$TMP/$(basename "${debs[0]}")
cp "${debs[0]}" "$DEB"
chmod 0644 "$DEB"
VERSION=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$BUILD/CPackConfig.cmake")
[[ -n "$VERSION" ]] || t_fail "no CPACK_PACKAGE_VERSION in $BUILD/CPackConfig.cmake"
t_check "the file is named vpnctl_${VERSION}_$ARCH.deb" test "$(basename "$DEB")" = "vpnctl_${VERSION}_$ARCH.deb"
t_result deb_bytes "$(stat -c %s "$DEB")"

# --- Metadata ---------------------------------------------------------------------
field() { dpkg-deb -f "$DEB" "$1"; }
t_check "Package: vpnctl" test "$(field Package)" = vpnctl
t_check "Version: $VERSION" test "$(field Version)" = "$VERSION"
t_check "Architecture: $ARCH" test "$(field Architecture)" = "$ARCH"
t_check "Section: net" test "$(field Section)" = net
t_check "a Maintainer" test -n "$(field Maintainer)"
t_check "a description with a summary and a body" test "$(field Description | wc -l)" -ge 3
t_check "no Recommends (apt would install them)" test -z "$(field Recommends)"
t_result installed_size_kib "$(field Installed-Size)"

depends=$(field Depends)
t_log "Depends: $depends"
dep_names=$(tr ',' '\n' <<<"$depends" | sed 's/^ *//; s/[ (].*//' | sort -u)
for d in $REQUIRED_DEPENDS; do
	grep -qx "$d" <<<"$dep_names" || t_fail "Depends lacks $d"
done
t_log "ok: Depends has $REQUIRED_DEPENDS"

listing=$(dpkg-deb -c "$DEB")
# "MODE OWNER SIZE DATE TIME ./PATH" -> "PATH MODE OWNER"
entries=$(awk '{ p = $6; sub(/^\./, "", p); sub(/\/$/, "", p); print p, $1, $2 }' <<<"$listing")
for f in "${!EXPECT_FILES[@]}"; do
	line=$(awk -v p="$f" '$1 == p' <<<"$entries")
	[[ -n "$line" ]] || t_fail "the package lacks $f"
	[[ "$line" == "$f ${EXPECT_FILES[$f]} root/root" ]] ||
		t_fail "$f: expected ${EXPECT_FILES[$f]} root/root, got '${line#* }'"
done
t_log "ok: every file is there with its mode, owned by root"
line=$(awk '$1 == "/etc/vpnctl/profiles"' <<<"$entries")
t_check "/etc/vpnctl/profiles is in the package, drwx------ root/root" \
	test "$line" = "/etc/vpnctl/profiles drwx------ root/root"
extra=$(awk '$2 !~ /^d/ { print $1 }' <<<"$entries" | while read -r f; do
	[[ -n "${EXPECT_FILES[$f]:-}" ]] || echo "$f"
done)
[[ -z "$extra" ]] || t_fail "files the package should not hold: $extra"
t_log "ok: nothing else in the package"

mkdir "$TMP/control"
dpkg-deb -e "$DEB" "$TMP/control"
for s in postinst prerm postrm; do
	t_check "maintainer script $s is there, executable and valid sh" \
		bash -c "test -x '$TMP/control/$s' && sh -n '$TMP/control/$s'"
done
t_check "no conffiles (nothing under /etc but the profiles directory)" test ! -e "$TMP/control/conffiles"

# Every library the binaries link directly (NEEDED, found as ld.so finds
# it, RUNPATH included) comes from a package in Depends, and every library
# package in Depends is linked by a binary: Depends is derived, not guessed.
mkdir "$TMP/root"
dpkg-deb -x "$DEB" "$TMP/root"
lib_owner() {
	local path=$1
	# On merged-/usr systems dpkg may know the file by its /lib or /usr/lib name.
	{ dpkg -S "$path" 2>/dev/null || dpkg -S "$(readlink -f "$path")" 2>/dev/null ||
		dpkg -S "${path#/usr}" 2>/dev/null || dpkg -S "/usr$path" 2>/dev/null; } |
		head -n 1 | sed 's/:.*//'
}
needed_pkgs=$(for b in "$TMP/root/usr/sbin/vpnd" "$TMP/root/usr/bin/vpnctl"; do
	map=$(ldd "$b")
	readelf -d "$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p' | while read -r soname; do
		path=$(awk -v n="$soname" '$1 == n && $2 == "=>" { print $3 }' <<<"$map")
		[[ -n "$path" && "$path" != "not" ]] || { echo "UNRESOLVED:$soname"; continue; }
		owner=$(lib_owner "$path")
		echo "${owner:-UNOWNED:$path}"
	done
done | sort -u)
if grep -E '^(UNRESOLVED|UNOWNED):' <<<"$needed_pkgs" >&2; then
	t_fail "a library the binaries link is not found or belongs to no package"
fi
t_log "the binaries link libraries of: $(tr '\n' ' ' <<<"$needed_pkgs")"
for p in $needed_pkgs; do
	grep -qx "$p" <<<"$dep_names" || t_fail "the binaries link a library of $p, which Depends lacks"
done
for p in $dep_names; do
	[[ "$p" == passwd ]] && continue   # groupadd in postinst
	grep -qx "$p" <<<"$needed_pkgs" || t_fail "Depends names $p, which no binary links"
done
t_log "ok: Depends is exactly what vpnd and vpnctl link (+ passwd for postinst)"

# --- A fresh machine ------------------------------------------------------------------
# What `apt install ./vpnctl_*.deb` would pull in on a minimal Debian (the
# Essential and Priority: required packages with everything they depend on,
# as debootstrap's minbase has them), simulated with that set as apt's dpkg
# status: only vpnctl and its runtime dependencies, and the same set whether
# apt installs Recommends or not.
minimal_closure() {
	dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Essential}\t${Priority}\t${Pre-Depends}, ${Depends}\t${Provides}\n' |
	awk -F'\t' '
	$1 ~ /^ii/ {
		inst[$2] = 1; dep[$2] = $5
		n = split($6, pv, ",")
		for (i = 1; i <= n; i++) {
			p = pv[i]; sub(/^ +/, "", p); sub(/[ (].*/, "", p)
			if (p != "" && !(p in prov)) prov[p] = $2
		}
		if ($3 == "yes" || $4 == "required") work[++w] = $2
	}
	END {
		while (w > 0) {
			x = work[w--]
			if (x in seen) continue
			seen[x] = 1
			n = split(dep[x], groups, ",")
			for (i = 1; i <= n; i++) {
				m = split(groups[i], alts, "|")
				for (j = 1; j <= m; j++) {
					a = alts[j]; gsub(/^ +| +$/, "", a); sub(/[ (].*/, "", a); sub(/:.*/, "", a)
					if (a in inst) { work[++w] = a; break }
					if (a in prov) { work[++w] = prov[a]; break }
				}
			}
		}
		for (x in seen) print x
	}' | sort
}
simulate_fresh() {
	(cd "$TMP" && apt-get -s -q -o Dir::State::status="$TMP/minimal.status" \
		-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= \
		-o APT::Install-Recommends="$1" install "./$(basename "$DEB")" 2>&1)
}
new_packages() {
	awk '/^The following NEW packages will be installed:/ { on = 1; next }
	     on && /^  / { print; next } { on = 0 }' | tr ' ' '\n' | sed '/^$/d' | sort -u
}
# shellcheck disable=SC2046 # one name per word
dpkg-query -s $(minimal_closure) >"$TMP/minimal.status"
# Packages the minimal system lacks come from apt's lists: fetch them if
# this machine has none (a new machine whose packages were all there).
# shellcheck disable=SC2086 # one name per word
have=$(apt-cache -o Dir::State::status="$TMP/minimal.status" -o Dir::Cache::pkgcache= \
	-o Dir::Cache::srcpkgcache= policy $REQUIRED_DEPENDS 2>/dev/null | grep -c 'Candidate: [0-9]' || true)
if [[ "$have" -ne $(wc -w <<<"$REQUIRED_DEPENDS") ]]; then
	t_log "apt's package lists lack the runtime libraries: apt-get update"
	apt-get update -q -o DPkg::Lock::Timeout=120 >/dev/null || t_fail "apt-get update failed"
fi
out=$(simulate_fresh true) || { echo "$out" | tail -n 20 >&2; t_fail "apt cannot install the package on a minimal system"; }
fresh=$(new_packages <<<"$out")
fresh_norec=$(simulate_fresh false | new_packages)
t_log "on a minimal system apt would install: $(tr '\n' ' ' <<<"$fresh")"
[[ "$fresh" == "$fresh_norec" ]] || t_fail "apt would pull in Recommends on a fresh machine: $(comm -23 <(echo "$fresh") <(echo "$fresh_norec") | tr '\n' ' ')"
# shellcheck disable=SC2086 # one name per word
allowed=$( { echo vpnctl; apt-cache depends --recurse --no-recommends --no-suggests \
	--no-conflicts --no-breaks --no-replaces --no-enhances $dep_names 2>/dev/null |
	grep -v '^ '; } | sort -u)
for p in $fresh; do
	grep -qx "$p" <<<"$allowed" || t_fail "on a fresh machine apt would pull in $p, which vpnctl does not depend on"
done
minimal_names=$(sed -n 's/^Package: //p' "$TMP/minimal.status" | sort -u)
for p in $REQUIRED_DEPENDS; do
	grep -qx "$p" <<<"$minimal_names" || grep -qx "$p" <<<"$fresh" ||
		t_fail "on a fresh machine apt would not install $p"
done
t_log "ok: on a fresh machine apt installs vpnctl and its runtime dependencies only"

# --- Install ----------------------------------------------------------------------
t_log "apt-get install ./$(basename "$DEB")"
INSTALLED=1
if ! out=$(cd "$TMP" && apt-get install "${APT_OPTS[@]}" "./$(basename "$DEB")" 2>&1); then
	echo "$out" | tail -n 30 >&2
	t_fail "apt-get install ./$(basename "$DEB") failed"
fi
new=$(awk '/^The following NEW packages will be installed:/ { on = 1; next }
	   on && /^  / { print; next } { on = 0 }' <<<"$out" | tr ' ' '\n' | sed '/^$/d' | sort -u)
t_log "apt installed: $(tr '\n' ' ' <<<"$new")"
grep -qx vpnctl <<<"$new" || t_fail "apt did not report installing vpnctl"
for p in $new; do
	[[ "$p" == vpnctl ]] && continue
	grep -qx "$p" <<<"$dep_names" || t_fail "apt pulled in $p, which is not a dependency"
done
t_log "ok: apt installed vpnctl and nothing but its dependencies"
t_check "dpkg: install ok installed" test "$(pkg_status)" = "install ok installed"

for f in "${!EXPECT_FILES[@]}"; do
	[[ -f "$f" ]] || t_fail "$f was not installed"
done
t_log "ok: every file landed"
t_check "/etc/vpnctl/profiles is 700 root root" \
	test "$(stat -c '%a %U %G' /etc/vpnctl/profiles)" = "700 root root"
t_check "group vpn exists" getent group vpn
t_check "vpnd.service is enabled (deb-systemd-helper, no running systemd needed)" \
	test -L /etc/systemd/system/multi-user.target.wants/vpnd.service

# The binaries run from /usr as installed, without LD_LIBRARY_PATH.
run_clean() { env -u LD_LIBRARY_PATH -u LD_PRELOAD PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
t_check "ld.so finds every library of vpnd and vpnctl" \
	bash -c '! ldd /usr/sbin/vpnd /usr/bin/vpnctl | grep -q "not found"'
out=$(run_clean vpnctl --help) || t_fail "vpnctl --help failed"
grep -q "^Usage: vpnctl" <<<"$out" || t_fail "vpnctl --help: no usage text"
t_log "ok: vpnctl --help"
out=$(run_clean vpnd --help) || t_fail "vpnd --help failed"
grep -qi "usage" <<<"$out" || t_fail "vpnd --help: no usage text"
t_log "ok: vpnd --help"
t_check "vpnctl --version says $VERSION" bash -c "$(declare -f run_clean); run_clean vpnctl --version | grep -qx 'vpnctl $VERSION'"
t_check "vpnctl without vpnd exits 3" \
	bash -c "$(declare -f run_clean); run_clean vpnctl --socket '$TMP/none.sock' list 2>/dev/null; test \$? -eq 3"

# --- The unit, as installed ---------------------------------------------------------
UNIT=/usr/lib/systemd/system/vpnd.service
if ! out=$(systemd-analyze verify "$UNIT" 2>&1); then
	echo "$out" >&2
	t_fail "systemd-analyze verify $UNIT"
fi
[[ -z "$out" ]] || { echo "$out" >&2; t_fail "systemd-analyze verify complained"; }
t_log "ok: systemd-analyze verify (binaries and man pages resolved)"
t_check "ExecStart is the installed vpnd" grep -qx 'ExecStart=/usr/sbin/vpnd' "$UNIT"
t_check "clean-up before start" grep -qx 'ExecStartPre=/usr/sbin/vpnd --cleanup' "$UNIT"
t_check "clean-up after stop" grep -qx 'ExecStopPost=/usr/sbin/vpnd --cleanup' "$UNIT"
for setting in CapabilityBoundingSet=CAP_NET_ADMIN AmbientCapabilities= NoNewPrivileges=yes \
	ProtectSystem=strict ReadWritePaths=-/etc/resolv.conf ProtectHome=yes PrivateTmp=yes \
	DevicePolicy=closed "DeviceAllow=/dev/net/tun rw" \
	"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK" \
	RuntimeDirectory=vpnctl StateDirectory=vpnctl StateDirectoryMode=0700 Restart=on-failure; do
	grep -qxF "$setting" "$UNIT" || t_fail "the unit lacks '$setting'"
done
t_log "ok: the unit's hardening settings are there"
# Exposure in tenths: 2.1 when written; 2.5 leaves room for systemd's
# scoring to move, not for the unit to lose a setting.
if ! out=$(systemd-analyze security --offline=yes --threshold=25 "$UNIT" 2>&1); then
	echo "$out" | tail -n 5 >&2
	t_fail "systemd-analyze security: exposure above 2.5"
fi
t_result exposure "$(sed -n 's/.*Overall exposure level for vpnd.service: \([0-9.]*\).*/\1/p' <<<"$out")"

t_check "man finds vpnctl(8), vpnd(8), vpnctl-profile(5)" \
	bash -c 'man -w 8 vpnctl && man -w 8 vpnd && man -w 5 vpnctl-profile'
for page in /usr/share/man/man8/vpnctl.8.gz /usr/share/man/man8/vpnd.8.gz \
	/usr/share/man/man5/vpnctl-profile.5.gz; do
	warn=$(zcat "$page" | LC_ALL=C.UTF-8 groff -man -ww -z -Tutf8 2>&1)
	[[ -z "$warn" ]] || { echo "$warn" >&2; t_fail "$page: groff warnings"; }
done
t_log "ok: the man pages render without warnings"

# --- vpnd and vpnctl together, with the example profile ------------------------------
# systemd is not PID 1 here, so the unit cannot be started; vpnd runs under
# the unit's main restrictions instead: a network namespace of its own
# (only lo; nothing to touch on the host), a read-only view of the whole
# file system but our temporary directory (ProtectSystem=strict), only
# CAP_NET_ADMIN in its bounding set, no ambient or inheritable capabilities,
# no new privileges, and the group vpn as a supplementary group
# (SupplementaryGroups=vpn), which is what lets it give its socket to vpn.
mkdir -m 0700 "$TMP/profiles" "$TMP/state"
install -m 0600 /usr/share/doc/vpnctl/examples/example.conf "$TMP/profiles/example.conf"
(umask 077 && echo "package-test-secret" >"$TMP/profiles/example.psk")
SOCK=$TMP/vpnd.sock
VPN_GID=$(getent group vpn | cut -d: -f3)
# shellcheck disable=SC2016 # expanded by the inner sh
env -u LD_LIBRARY_PATH unshare --net --mount -- sh -c '
	set -e
	mount --bind "$1" "$1"
	mount -o remount,bind,ro /
	exec setpriv --bounding-set -all,+net_admin --inh-caps -all --groups "$2" \
		--no-new-privs -- /usr/sbin/vpnd --foreground --socket "$1/vpnd.sock" \
		--profiles "$1/profiles" --state-dir "$1/state"' _ "$TMP" "$VPN_GID" \
	>"$TMP/vpnd.log" 2>&1 &
VPND_PID=$!
for _ in $(seq 100); do
	[[ -S "$SOCK" ]] && break
	kill -0 "$VPND_PID" 2>/dev/null || break
	sleep 0.1
done
[[ -S "$SOCK" ]] || { cat "$TMP/vpnd.log" >&2; t_fail "the installed vpnd did not create its socket within 10 s"; }
t_log "ok: the installed vpnd, confined like the unit, listens on its socket"
t_check "socket is root:vpn 0660" test "$(stat -c '%a %U %G' "$SOCK")" = "660 root vpn"
out=$(run_clean vpnctl --socket "$SOCK" --timeout 10 list) || { cat "$TMP/vpnd.log" >&2; t_fail "vpnctl list failed"; }
grep -Eq '^example +disconnected$' <<<"$out" ||
	{ echo "$out" >&2; cat "$TMP/vpnd.log" >&2; t_fail "vpnctl list does not show the example profile as disconnected"; }
t_log "ok: vpnd accepts the packaged example profile; vpnctl lists it"
out=$(run_clean vpnctl --socket "$SOCK" --timeout 10 --json list)
t_check "vpnctl --json list names it" test "$(jq -r '.[0].name' <<<"$out")" = example
out=$(run_clean vpnctl --socket "$SOCK" --timeout 10 status example) || t_fail "vpnctl status example failed"
grep -q '^example: disconnected' <<<"$out" || { echo "$out" >&2; t_fail "vpnctl status example"; }
t_log "ok: vpnctl status example"

# Bash completion, as installed, against this vpnd.
complete_words() {
	bash -c 'source /usr/share/bash-completion/completions/vpnctl
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _vpnctl
		printf "%s\n" "${COMPREPLY[@]}"' _ "$@"
}
t_check "completion: commands" test "$(complete_words vpnctl "" | tr '\n' ' ')" = "up down status list "
t_check "completion: options" test "$(complete_words vpnctl --j)" = --json
t_check "completion: up offers the idle profile" \
	test "$(complete_words /usr/bin/vpnctl --socket "$SOCK" up "")" = example
t_check "completion: down offers no idle profile" \
	test -z "$(complete_words /usr/bin/vpnctl --socket "$SOCK" down "")"
t_check "completion: status offers every profile" \
	test "$(complete_words /usr/bin/vpnctl -s "$SOCK" status ex)" = example
t_check "completion: nothing when vpnd does not answer" \
	test -z "$(complete_words /usr/bin/vpnctl -s "$TMP/none.sock" up "")"

stop_vpnd
t_check "vpnd --cleanup on its state directory exits 0" \
	env -u LD_LIBRARY_PATH unshare --net /usr/sbin/vpnd --cleanup --state-dir "$TMP/state"

# --- Remove, then purge ------------------------------------------------------------
if ! out=$(apt-get remove "${APT_OPTS[@]}" vpnctl 2>&1); then
	echo "$out" | tail -n 20 >&2
	t_fail "apt-get remove vpnctl failed"
fi
grep -q "vpnd --cleanup' failed" <<<"$out" && { echo "$out" >&2; t_fail "prerm: vpnd --cleanup failed"; }
for f in "${!EXPECT_FILES[@]}"; do
	[[ ! -e "$f" ]] || t_fail "$f is still there after remove"
done
t_log "ok: remove took every file away"
t_check "/etc/vpnctl is gone (it was empty)" test ! -e /etc/vpnctl
if ! out=$(apt-get purge "${APT_OPTS[@]}" vpnctl 2>&1); then
	echo "$out" | tail -n 20 >&2
	t_fail "apt-get purge vpnctl failed"
fi
status=$(pkg_status)
[[ -z "$status" || "$status" == "unknown ok not-installed" ]] || t_fail "after purge dpkg says: $status"
for d in /var/lib/vpnctl /run/vpnctl /etc/vpnctl /etc/systemd/system/vpnd.service \
	/etc/systemd/system/multi-user.target.wants/vpnd.service \
	/var/lib/systemd/deb-systemd-helper-enabled/vpnd.service.dsh-also \
	/var/lib/systemd/deb-systemd-helper-masked/vpnd.service; do
	[[ ! -e "$d" && ! -L "$d" ]] || t_fail "$d is still there after purge"
done
# Only paths that were not there before count: something that vanished
# meanwhile is not ours.
left=$(comm -13 <(echo "$PATHS_BEFORE") <(vpn_paths))
[[ -z "$left" ]] || t_fail "left on the system after purge: $left"
t_log "ok: purge left nothing named vpnd or vpnctl on the system"
if [[ $GROUP_BEFORE -eq 1 ]]; then
	t_check "group vpn is kept (it was there before)" getent group vpn
else
	t_check "group vpn is kept by purge (files may still belong to it)" getent group vpn
fi
t_done
