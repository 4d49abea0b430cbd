# shellcheck shell=bash
# Helpers to run our own client (vpnd + vpnctl) in a lab instance's client
# namespace; source after testlib.sh and lab_load_env.
#
#   vc_start "$P"                      # vpnd in $P-cli, files under $LAB_DIR/vpnd
#   vc_profile NAME <<EOF ... EOF      # write $LAB_DIR/vpnd/profiles/NAME.conf (0600)
#   vc up NAME                         # vpnctl in $P-cli against that vpnd
#   vc_json NAME KEY                   # one key of `vpnctl status NAME --json`
#   vc_assert_clean "$P"               # no TUN, rule, tunnel route or DNS change left
#   vc_stop                            # SIGTERM vpnd, wait for it (bounded)
#
# The binaries come from VPN_BUILD_DIR (set by ctest).

VC_BUILD=${VPN_BUILD_DIR:?VPN_BUILD_DIR is not set (run through ctest)}
VC_VPND="$VC_BUILD/client/daemon/vpnd/vpnd"
VC_VPNCTL="$VC_BUILD/ui-cli/vpnctl"
VC_TABLE=30320   # the first connection's routing table (vpnd.c)
VC_RULE=30400    # and its rule priority

vc_dir() { echo "$LAB_DIR/vpnd"; }

# vc_start PREFIX [VPND ARGS...]
vc_start() {
	local p=$1 d
	shift
	d=$(vc_dir)
	VC_PREFIX=$p
	mkdir -p "$d/profiles" "$d/state"
	chmod 700 "$d/profiles" "$d/state"
	[[ -x "$VC_VPND" && -x "$VC_VPNCTL" ]] || t_fail "vpnd/vpnctl not built in $VC_BUILD"
	# Keep the namespace's resolv.conf to prove it comes back.
	[[ -e "$d/resolv.conf.orig" ]] || cp "$LAB_CLI_RESOLV_CONF" "$d/resolv.conf.orig"
	rm -f "$d/vpnd.sock" # a killed vpnd's socket must not count as ready
	# `ip netns exec` execs vpnd: $! is vpnd itself (signals reach it).
	ip netns exec "$LAB_NS_CLI" "$VC_VPND" --foreground --debug --socket "$d/vpnd.sock" \
		--profiles "$d/profiles" --state-dir "$d/state" "$@" >>"$d/vpnd.log" 2>&1 &
	VC_PID=$!
	local i
	for i in $(seq 1 50); do
		[[ -S "$d/vpnd.sock" ]] && return 0
		kill -0 "$VC_PID" 2>/dev/null || { cat "$d/vpnd.log" >&2; t_fail "vpnd exited at start"; }
		sleep 0.1
	done
	t_fail "vpnd did not open its socket"
}

vc() { lab_exec "$VC_PREFIX" cli "$VC_VPNCTL" --socket "$(vc_dir)/vpnd.sock" "$@"; }

# vc_profile NAME: the profile text comes on stdin.
vc_profile() {
	local f
	mkdir -p "$(vc_dir)/profiles"
	chmod 700 "$(vc_dir)/profiles"
	f="$(vc_dir)/profiles/$1.conf"
	cat >"$f"
	chmod 600 "$f"
}

# vc_json NAME KEY: a key of the status object (jq syntax after the dot).
vc_json() { vc status "$1" --json | jq -r ".$2"; }

# vc_stop: SIGTERM and wait (vpnd takes every tunnel down first).
vc_stop() {
	[[ -n "${VC_PID:-}" ]] || return 0
	kill -TERM "$VC_PID" 2>/dev/null || true
	local i
	for i in $(seq 1 50); do
		kill -0 "$VC_PID" 2>/dev/null || { VC_PID=; return 0; }
		sleep 0.1
	done
	kill -KILL "$VC_PID" 2>/dev/null || true
	VC_PID=
	t_fail "vpnd did not stop on SIGTERM within 5 s"
}

# vc_assert_clean PREFIX: nothing of a tunnel is left in the client namespace.
vc_assert_clean() {
	local p=$1 left
	left=$(lab_exec "$p" cli ip -o link show type tun 2>/dev/null || true)
	[[ -z "$left" ]] || t_fail "TUN device left behind: $left"
	left=$(lab_exec "$p" cli ip rule show | grep -E "^($VC_RULE|$((VC_RULE - 1))):" || true)
	[[ -z "$left" ]] || t_fail "policy rule left behind: $left"
	left=$(lab_exec "$p" cli ip route show table "$VC_TABLE" 2>/dev/null || true)
	[[ -z "$left" ]] || t_fail "tunnel route left behind: $left"
	left=$(lab_exec "$p" cli ip -o addr show | grep -F " 10.20" || true)
	[[ -z "$left" ]] || t_fail "virtual IP left behind: $left"
	cmp -s "$LAB_CLI_RESOLV_CONF" "$(vc_dir)/resolv.conf.orig" ||
		t_fail "resolv.conf not restored: $(cat "$LAB_CLI_RESOLV_CONF")"
	t_log "ok: nothing of the tunnel left in $p-cli"
}

# vc_expect_fail NAME CODE PATTERN SECONDS: `vpnctl up NAME` fails with exit
# CODE within SECONDS and its error line matches PATTERN (grep -E).
vc_expect_fail() {
	local name=$1 code=$2 pattern=$3 secs=$4 out rc t0 ms
	t0=$(t_ms)
	out=$(vc --timeout "$secs" up "$name" 2>&1) && rc=0 || rc=$?
	ms=$(( $(t_ms) - t0 ))
	[[ $rc -eq $code ]] || t_fail "up $name: exit $rc, expected $code; output: $out"
	grep -qE "$pattern" <<<"$out" || t_fail "up $name: message does not match /$pattern/: $out"
	(( ms <= secs * 1000 )) || t_fail "up $name took $ms ms (bound $secs s)"
	t_log "ok: up $name failed in $ms ms: $(tail -n 1 <<<"$out")"
	t_result "fail_ms[$name]" "$ms"
}
