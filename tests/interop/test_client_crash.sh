#!/bin/bash
# A crash leaves nothing behind for long: vpnd is killed (SIGKILL) with a
# full tunnel, the kill switch and DNS in place; the policy rules, the
# nftables table and the replaced resolv.conf outlive it, and both
# `vpnd --cleanup` and a restarted vpnd undo exactly those (a route that is
# not ours stays). Then the same profile connects again.
set -euo pipefail
HERE=$(dirname "$(readlink -f "$0")")
source "$HERE/lab/testlib.sh"
t_lab 240 "$@"
source "$HERE/lab/vpnc.sh"
source "$HERE/lab/client_basic.sh"

{ vc_basic_profile psk-full; echo "killswitch = yes"; } | vc_profile crashy

leftovers() { # prints what a tunnel of ours left in the client namespace
	lab_exec "$P" cli ip rule show | grep -E "^(30399|30400):" || true
	lab_exec "$P" cli nft list tables | grep vpnctl_ || true
	grep -q "nameserver $LAB_DNS_ADDR" "$LAB_CLI_RESOLV_CONF" && echo "resolv.conf" || true
}

crash() {
	vc up crashy >/dev/null || t_fail "up"
	kill -KILL "$VC_PID"
	wait "$VC_PID" 2>/dev/null || true
	VC_PID=
	left=$(leftovers)
	[[ -n $left ]] || t_fail "the crash left nothing to clean: the test proves nothing"
	t_log "ok: after SIGKILL: $(tr '\n' ' ' <<<"$left")"
}

# A route someone else added: the clean-up must leave it alone.
lab_exec "$P" cli ip route add 198.18.0.0/24 via "$LAB_CLI_WIFI_GW" table 77

vc_start "$P"
crash
lab_exec "$P" cli "$VC_VPND" --cleanup --state-dir "$(vc_dir)/state" ||
	t_fail "vpnd --cleanup failed"
[[ -z $(leftovers) ]] || t_fail "vpnd --cleanup left: $(leftovers)"
vc_assert_clean "$P"
lab_exec "$P" cli ip route show table 77 | grep -q 198.18.0.0/24 || t_fail "the clean-up removed a route that is not ours"
t_log "ok: vpnd --cleanup undid exactly what the crash left"

# The same through a restart: vpnd cleans up before it starts.
vc_start "$P"
crash
vc_start "$P"
[[ -z $(leftovers) ]] || t_fail "a restarted vpnd did not clean up: $(leftovers)"
vc_assert_clean "$P"
t_log "ok: a restarted vpnd cleaned up first"
vc up crashy >/dev/null || t_fail "up after the clean-up"
t_ping "$P" cli "$LAB_INET_HOST_ADDR" 3 >/dev/null || t_fail "ping after the clean-up"
vc down crashy >/dev/null
vc_assert_clean "$P"
vc_stop
t_done
