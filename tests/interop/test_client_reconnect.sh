#!/bin/bash
# Always on: an autoconnect profile comes up when vpnd starts, and is kept
# up: when the gateway restarts (politely, with a Delete; and killed, found
# by the liveness check) vpnd shows "reconnecting" with the reason, retries
# with back-off and gets the tunnel back. `vpnctl down` stops it for good.
set -euo pipefail
HERE=$(dirname "$(readlink -f "$0")")
source "$HERE/lab/testlib.sh"
t_lab 240 "$@"
source "$HERE/lab/vpnc.sh"
source "$HERE/lab/client_basic.sh"

# wait_state NAME STATE SECONDS: poll status until NAME is in STATE.
wait_state() {
	local i
	for i in $(seq 1 $(( $3 * 5 ))); do
		[[ $(vc_json "$1" state) == "$2" ]] && return 0
		sleep 0.2
	done
	vc status "$1" >&2 || true
	t_fail "$1 not $2 within $3 s"
}

{ vc_basic_profile psk; echo "autoconnect = yes"; echo "dpd = 5s"; } | vc_profile always
t0=$(t_ms)
vc_start "$P"
wait_state always connected 15
t_result autoconnect_ms "$(( $(t_ms) - t0 ))"
t_ping "$P" cli "$LAB_LAN_ADDR" 3 >/dev/null || t_fail "ping after autoconnect"
t_log "ok: autoconnect brought the tunnel up"

# 1. The gateway restarts politely: it deletes our IKE SA first.
lab_gw_stop "$P"
wait_state always reconnecting 10
reason=$(vc_json always reason)
[[ $reason == *"closed the connection"* || $reason == *"unreachable"* ]] ||
	t_fail "reconnecting without a clear reason: $reason"
vc status always | grep -q "reconnecting" || t_fail "human status does not say reconnecting"
t_log "ok: reconnecting ($reason)"
t0=$(t_ms)
lab_gw_start "$P"
wait_state always connected 40
t_result reconnect_after_restart_ms "$(( $(t_ms) - t0 ))"
t_ping "$P" cli "$LAB_LAN_ADDR" 3 >/dev/null || t_fail "ping after the reconnect"
t_log "ok: back after a gateway restart"

# 2. The gateway dies silently: the liveness check (dpd = 5s) finds out.
t0=$(t_ms)
lab_gw_restart "$P" --kill
wait_state always reconnecting 45
t_result dead_peer_detected_ms "$(( $(t_ms) - t0 ))"
wait_state always connected 60
t_result reconnect_after_kill_ms "$(( $(t_ms) - t0 ))"
t_ping "$P" cli "$LAB_LAN_ADDR" 3 >/dev/null || t_fail "ping after the second reconnect"
t_log "ok: back after the gateway was killed"

# 3. While the gateway is away, down stops the retries for good.
lab_gw_stop "$P" --kill
lab_blackhole "$P" wifi on
lab_blackhole "$P" lte on
wait_state always reconnecting 45
vc down always >/dev/null || t_fail "down while reconnecting"
wait_state always disconnected 5
lab_blackhole "$P" wifi off
lab_blackhole "$P" lte off
lab_gw_start "$P"
sleep 3
[[ $(vc_json always state) == disconnected ]] || t_fail "it came back after down"
vc_assert_clean "$P"
vc_stop
t_done
