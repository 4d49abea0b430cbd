#!/bin/bash
# The lab's own behaviour, which later tests rely on: the client's two
# uplinks (Wi-Fi preferred) behind two NATs, the internet router's switches
# (drop all UDP, black-hole one uplink with its link still up) and the
# gateway stop/start/restart knobs, observed with strongSwan's client.
#
# usage: test_lab_switches.sh [PREFIX]   (root)
set -euo pipefail
source "$(dirname "$(readlink -f -- "$0")")/lab/testlib.sh"
t_timebox "${LAB_TEST_TIMEOUT:-150}" "$@"

P=${1:-sw$$}
t_use "$P"
lab_up "$P"
lab_load_env "$P"
HOST=$LAB_INET_HOST_ADDR

# counter_grows NAME CMD...: run CMD; the router's counter NAME must grow.
counter_grows() {
	local name=$1 before
	shift
	before=$(lab_counter "$P" "$name")
	"$@" >/dev/null 2>&1 || true
	(( $(lab_counter "$P" "$name") > before ))
}
# counter_still NAME CMD...: run CMD; the router's counter NAME must not move.
counter_still() {
	local name=$1 before
	shift
	before=$(lab_counter "$P" "$name")
	"$@" >/dev/null 2>&1 || true
	(( $(lab_counter "$P" "$name") == before ))
}
ping_host()  { lab_exec "$P" cli ping -q -n -c 1 -W 1 "$@" "$HOST"; }
send_udp()   { lab_exec "$P" cli bash -c "echo lab >/dev/udp/$HOST/9"; }
link_up()    { [[ "$(lab_exec "$P" "$1" cat "/sys/class/net/$2/operstate")" == up ]]; }

# nat_source LOCAL_ADDR: the source address the internet sees for a TCP
# connection the client makes from LOCAL_ADDR (a one-off iperf3 server on
# the internet host reports its peer).
nat_source() {
	local out="$LAB_DIR/nat_source.json"
	lab_exec "$P" inet timeout 10 iperf3 -s -1 -B "$HOST" -p 5301 -J >"$out" 2>&1 &
	for _ in $(seq 100); do
		lab_exec "$P" inet ss -Hltn "sport = :5301" | grep -q LISTEN && break
		sleep 0.05
	done
	lab_exec "$P" cli timeout 10 iperf3 -c "$HOST" -p 5301 -B "$1" -n 1K >/dev/null
	wait $!
	jq -r '.start.connected[0].remote_host' "$out"
}

# --- Uplinks and NATs --------------------------------------------------------
t_check "unbound traffic leaves by Wi-Fi (lower metric)" \
	lab_exec "$P" cli sh -c "ip route get $HOST | grep -q 'dev $LAB_CLI_WIFI_IF'"
t_check "LTE is the second default route" \
	lab_exec "$P" cli sh -c "ip route show default | grep -q 'dev $LAB_CLI_LTE_IF .*metric $LAB_CLI_LTE_METRIC'"
t_check "traffic from the LTE address leaves by LTE" \
	lab_exec "$P" cli sh -c "ip route get $HOST from $LAB_CLI_LTE_ADDR | grep -q 'dev $LAB_CLI_LTE_IF'"
t_check "ping to the internet arrives from the Wi-Fi side" counter_grows wifi_in ping_host
t_check "ping from the LTE address arrives from the LTE side" counter_grows lte_in ping_host -I "$LAB_CLI_LTE_ADDR"
src=$(nat_source "$LAB_CLI_WIFI_ADDR")
[[ "$src" == "$LAB_HOME_WAN_ADDR" ]] || t_fail "Wi-Fi traffic seen from $src, not the home NAT $LAB_HOME_WAN_ADDR"
t_log "ok: home NAT: the internet sees $src"
src=$(nat_source "$LAB_CLI_LTE_ADDR")
[[ "$src" == "$LAB_CARRIER_WAN_ADDR" ]] || t_fail "LTE traffic seen from $src, not the carrier NAT $LAB_CARRIER_WAN_ADDR"
t_log "ok: carrier NAT: the internet sees $src"

# --- Black holes ---------------------------------------------------------------
lab_blackhole "$P" wifi on
t_check "Wi-Fi black hole: no reply by Wi-Fi" t_no_reply "$P" cli "$HOST"
t_check "Wi-Fi black hole: the router counts the drops" counter_grows blackholed ping_host
t_check "Wi-Fi black hole: LTE still works" ping_host -I "$LAB_CLI_LTE_ADDR"
t_check "Wi-Fi black hole: client's wifi0 is still up" link_up cli "$LAB_CLI_WIFI_IF"
t_check "Wi-Fi black hole: router's home0 is still up" link_up inet home0
lab_blackhole "$P" wifi off
lab_blackhole "$P" wifi off   # idempotent
t_check "Wi-Fi black hole off: Wi-Fi works again" ping_host

lab_blackhole "$P" lte on
t_check "LTE black hole: no reply by LTE" t_no_reply "$P" cli "$HOST" -I "$LAB_CLI_LTE_ADDR"
t_check "LTE black hole: Wi-Fi still works" ping_host
t_check "LTE black hole: client's lte0 is still up" link_up cli "$LAB_CLI_LTE_IF"
lab_blackhole "$P" lte off
t_check "LTE black hole off: LTE works again" ping_host -I "$LAB_CLI_LTE_ADDR"

# --- UDP block ---------------------------------------------------------------------
t_check "UDP passes by default" counter_grows udp_passed send_udp
lab_udp_block "$P" on
t_check "UDP block: datagram dropped" counter_grows udp_dropped send_udp
t_check "UDP block: nothing passes" counter_still udp_passed send_udp
t_check "UDP block: ICMP still passes" ping_host
[[ "$(nat_source "$LAB_CLI_WIFI_ADDR")" == "$LAB_HOME_WAN_ADDR" ]] || t_fail "UDP block: TCP does not pass"
t_log "ok: UDP block: TCP still passes"
lab_udp_block "$P" off
t_check "UDP block off: UDP passes" counter_grows udp_passed send_udp

# --- With strongSwan's client: the switches act on the IKE/ESP path ------------
lab_ref_start "$P"
lab_ref_connect "$P" psk
[[ "$(t_sa_field "$P" gw psk remote-host)" == "$LAB_HOME_WAN_ADDR" ]] ||
	t_fail "gateway sees the client at $(t_sa_field "$P" gw psk remote-host), not behind the home NAT"
t_check "tunnel works" t_ping "$P" cli "$LAB_LAN_ADDR" 3
lab_udp_block "$P" on
t_check "UDP block: tunnel (ESP in UDP) is cut" t_no_reply "$P" cli "$LAB_LAN_ADDR"
lab_udp_block "$P" off
t_check "UDP block off: tunnel works again" t_ping "$P" cli "$LAB_LAN_ADDR" 3
lab_blackhole "$P" wifi on
t_check "Wi-Fi black hole: tunnel on Wi-Fi is cut" t_no_reply "$P" cli "$LAB_LAN_ADDR"
lab_blackhole "$P" wifi off
t_check "Wi-Fi black hole off: tunnel works again" t_ping "$P" cli "$LAB_LAN_ADDR" 3

# --- Gateway stop/start/restart ------------------------------------------------------
gw_has_charon() {
	local pid
	for pid in $(ip netns pids "$LAB_NS_GW"); do
		[[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == charon ]] && return 0
	done
	return 1
}
t_check "the gateway runs charon" gw_has_charon
lab_gw_stop "$P"
t_check_not "gw-stop: no charon in the gateway" gw_has_charon
# A graceful stop deletes the IKE SA at the client too.
gone=0
for _ in $(seq 40); do
	[[ -z "$(t_sa_field "$P" ref psk state)" ]] && { gone=1; break; }
	sleep 0.05
done
[[ $gone -eq 1 ]] || t_fail "gw-stop: the client still has its IKE SA"
t_log "ok: gw-stop: the gateway deleted the client's IKE SA"
lab_gw_start "$P"
lab_ref_connect "$P" psk
t_check "gw-start: tunnel works" t_ping "$P" cli "$LAB_LAN_ADDR" 3

lab_gw_restart "$P" --kill
[[ -z "$(t_sa_field "$P" gw psk state)" ]] || t_fail "gw-restart --kill: gateway still has an SA"
t_log "ok: gw-restart --kill: gateway restarted without SAs"
[[ "$(t_sa_field "$P" ref psk state)" == ESTABLISHED ]] || t_fail "gw-restart --kill: the client lost its SA (it must not be told)"
t_check "gw-restart --kill: the client's old tunnel is dead" t_no_reply "$P" cli "$LAB_LAN_ADDR"
lab_ref_disconnect "$P" psk --force
lab_ref_connect "$P" psk
t_check "gw-restart --kill: reconnect works" t_ping "$P" cli "$LAB_LAN_ADDR" 3
lab_status "$P" | grep -q "psk: #" || t_fail "status does not show the gateway's SA"
t_log "ok: status shows the gateway's SA"
t_done
