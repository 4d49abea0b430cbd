#!/bin/bash
# Full tunnel and kill switch: with full_tunnel the internet host is reached
# through the gateway; with the kill switch, when the tunnel goes down in
# the middle of the session (the gateway deletes it and is gone), a ping
# to that outside address does not leave the Wi-Fi uplink: a capture on the
# router side of the Wi-Fi path sees nothing. The same run without the kill
# switch does leak, which proves the capture would have seen it. The LAN
# stays reachable only with allow_lan; `down` removes the switch.
set -euo pipefail
HERE=$(dirname "$(readlink -f "$0")")
source "$HERE/lab/testlib.sh"
t_lab 240 "$@"
source "$HERE/lab/vpnc.sh"
source "$HERE/lab/client_basic.sh"

full_profile() { # NAME KILLSWITCH ALLOW_LAN
	{ vc_basic_profile psk-full; cat <<EOF
killswitch = $2
allow_lan = $3
dpd = 5s
EOF
	} | vc_profile "$1"
}

wait_state() {
	local i
	for i in $(seq 1 $(( $3 * 5 ))); do
		[[ $(vc_json "$1" state) == "$2" ]] && return 0
		sleep 0.2
	done
	t_fail "$1 not $2 within $3 s: $(vc status "$1")"
}

# leaked_pings: ping the internet host 5 times from the client while a
# capture on the router's Wi-Fi side counts ICMP echo requests to it.
leaked_pings() {
	local cap="$LAB_DIR/leak.txt" pid n
	lab_exec "$P" inet timeout 8 tcpdump -l -n -i home0 \
		"icmp[icmptype] == icmp-echo and dst host $LAB_INET_HOST_ADDR" >"$cap" 2>/dev/null &
	pid=$!
	sleep 1
	lab_exec "$P" cli ping -c 5 -i 0.2 -W 1 "$LAB_INET_HOST_ADDR" >/dev/null 2>&1 || true
	sleep 0.5
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	n=$(grep -c "ICMP echo request" "$cap" || true)
	echo "${n:-0}"
}

vc_start "$P"

# 1. Full tunnel with the kill switch.
full_profile ks yes no
vc up ks >/dev/null || t_fail "up ks"
t_ping "$P" cli "$LAB_INET_HOST_ADDR" 3 >/dev/null || t_fail "internet host through the full tunnel"
[[ $(leaked_pings) -eq 0 ]] || t_fail "ICMP to the internet host outside the tunnel while it is up"
t_log "ok: full tunnel: the internet host answers through the gateway, nothing in clear"
lab_exec "$P" cli nft list table inet vpnctl_ks >/dev/null || t_fail "no kill switch table"
t_check "LAN blocked without allow_lan" t_no_reply "$P" cli "$LAB_CLI_WIFI_GW"

# The tunnel goes down mid-session: the gateway deletes it and disappears.
lab_gw_stop "$P"
wait_state ks reconnecting 15
n=$(leaked_pings)
t_result leaked_with_killswitch "$n"
[[ $n -eq 0 ]] || t_fail "$n ICMP echo requests left the Wi-Fi uplink with the kill switch on"
t_log "ok: tunnel down, kill switch on: nothing left the Wi-Fi uplink"
lab_gw_start "$P"
wait_state ks connected 40
t_ping "$P" cli "$LAB_INET_HOST_ADDR" 3 >/dev/null || t_fail "internet host after the reconnect"
vc down ks >/dev/null
vc_assert_clean "$P"
lab_exec "$P" cli nft list table inet vpnctl_ks >/dev/null 2>&1 && t_fail "kill switch table left after down"
t_ping "$P" cli "$LAB_INET_HOST_ADDR" 2 >/dev/null || t_fail "the internet directly after down"
t_log "ok: down removed the kill switch"

# 2. allow_lan keeps the LAN reachable under the kill switch.
full_profile kslan yes yes
vc up kslan >/dev/null || t_fail "up kslan"
t_ping "$P" cli "$LAB_CLI_WIFI_GW" 2 >/dev/null || t_fail "LAN unreachable with allow_lan"
vc down kslan >/dev/null
vc_assert_clean "$P"
t_log "ok: allow_lan keeps the LAN"

# 3. Control: the same without the kill switch leaks, so the capture works.
full_profile nok no no
vc up nok >/dev/null || t_fail "up nok"
lab_gw_stop "$P"
wait_state nok reconnecting 15
n=$(leaked_pings)
t_result leaked_without_killswitch "$n"
[[ $n -gt 0 ]] || t_fail "the capture saw nothing even without the kill switch: it proves nothing"
t_log "ok: without the kill switch the same pings leak ($n seen), as expected"
vc down nok >/dev/null
lab_gw_start "$P"
vc_assert_clean "$P"
vc_stop
t_done
