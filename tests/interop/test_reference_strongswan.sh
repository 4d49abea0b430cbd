#!/bin/bash
# The reference: strongSwan's own client (charon + swanctl in the client
# namespace) connects through the lab's home NAT to the lab gateway with each
# of the gateway's connections (PSK, certificate, EAP-MSCHAPv2, and the
# full-tunnel PSK variant), pings the LAN host through the tunnel and proves
# the traffic went through ESP; PSK also runs a 3-second iperf3. The RESULT
# lines are the figures later tests and benchmarks compare our client with.
#
# usage: test_reference_strongswan.sh [PREFIX]   (root)
set -euo pipefail
source "$(dirname "$(readlink -f -- "$0")")/lab/testlib.sh"
t_timebox "${LAB_TEST_TIMEOUT:-180}" "$@"

P=${1:-ref$$}
PINGS=20
t_use "$P"

t0=$(t_ms)
lab_up "$P"
t_result lab_up_ms "$(( $(t_ms) - t0 ))"
lab_load_env "$P"

t_check "LAN host unreachable without a tunnel" t_no_reply "$P" cli "$LAB_LAN_ADDR"
t_check_not "LAN DNS server unreachable without a tunnel" t_dns_a "$P" cli "$LAB_DNS_ADDR" "$LAB_DNS_NAME"
lab_ref_start "$P"

# in_pool ADDR NET: ADDR lies in the /24 NET.
in_pool() { [[ "${1%.*}" == "${2%.*/*}" && -n "$1" ]]; }

# prove_esp CONN DEST COUNT: ping DEST through the tunnel of CONN and show
# that COUNT more packets each way went through the client's and the
# gateway's ESP SAs and through the internet router on UDP 4500.
prove_esp() {
	local conn=$1 dest=$2 n=$3 out0 in0 gin0 natt0 rtt
	out0=$(t_sa_field "$P" ref "$conn" packets-out)
	in0=$(t_sa_field "$P" ref "$conn" packets-in)
	gin0=$(t_sa_field "$P" gw "$conn" packets-in)
	natt0=$(lab_counter "$P" natt_to_gw)
	rtt=$(t_ping "$P" cli "$dest" "$n") || t_fail "$conn: ping $dest through the tunnel"
	(( $(t_sa_field "$P" ref "$conn" packets-out) >= out0 + n )) || t_fail "$conn: client ESP out counter"
	(( $(t_sa_field "$P" ref "$conn" packets-in) >= in0 + n )) || t_fail "$conn: client ESP in counter"
	(( $(t_sa_field "$P" gw "$conn" packets-in) >= gin0 + n )) || t_fail "$conn: gateway ESP in counter"
	(( $(lab_counter "$P" natt_to_gw) >= natt0 + n )) || t_fail "$conn: UDP 4500 counter of the internet router"
	t_log "ok: $conn: $n pings to $dest through ESP in UDP 4500, avg rtt $rtt ms"
	RTT=$rtt
}

# protocol_ms CONN: from the client's "initiating IKE_SA" to "CHILD_SA
# established" of the latest connect of CONN, by the client's log time
# stamps (without the process start-up that the wall-clock figure includes).
protocol_ms() {
	awk -v c="$1" '
		function ms(t,  a) { split(t, a, /[:.]/); return ((a[1] * 60 + a[2]) * 60 + a[3]) * 1000 + a[4] }
		index($0, "initiating IKE_SA " c "[") { start = ms($1); done = "" }
		$0 ~ ("CHILD_SA " c "\\{[0-9]+\\} established") && start != "" { done = ms($1) - start }
		END { if (done == "") exit 1; print done }
	' "$LAB_REF_LOG"
}

# phase CONN POOL REMOTE_ID: connect, check the gateway's view, prove ESP,
# disconnect and check the tunnel is gone.
phase() {
	local conn=$1 pool=$2 rid=$3 t0 ms vip uid
	t0=$(t_ms)
	lab_ref_connect "$P" "$conn"
	ms=$(( $(t_ms) - t0 ))
	t_result "connect_${conn}_ms" "$ms"
	t_result "connect_${conn}_protocol_ms" "$(protocol_ms "$conn")"
	[[ "$(t_sa_field "$P" gw "$conn" state)" == ESTABLISHED ]] || t_fail "$conn: gateway has no ESTABLISHED IKE SA"
	[[ "$(t_sa_field "$P" gw "$conn" remote-id)" == "$rid" ]] || t_fail "$conn: gateway sees remote id $(t_sa_field "$P" gw "$conn" remote-id), not $rid"
	uid=$(t_sa_field "$P" gw "$conn" uniqueid)
	grep -qF "<$conn|$uid> peer supports MOBIKE" "$LAB_GW_LOG" || t_fail "$conn: gateway did not see MOBIKE support"
	grep -qE "<$conn\|$uid> generating IKE_AUTH response .*CPRP\(ADDR DNS\)" "$LAB_GW_LOG" ||
		t_fail "$conn: gateway did not hand out a virtual IP and a DNS server"
	vip=$(t_sa_field "$P" gw "$conn" remote-vips | tr -d '[]')
	in_pool "$vip" "$pool" || t_fail "$conn: virtual IP '$vip' not from $pool"
	t_check "$conn: client has the virtual IP $vip" \
		lab_exec "$P" cli sh -c "ip -o addr show | grep -q ' $vip/'"
	prove_esp "$conn" "$LAB_LAN_ADDR" "$PINGS"
	t_result "ping_rtt_${conn}_ms" "$RTT"
	[[ "$(t_dns_a "$P" cli "$LAB_DNS_ADDR" "$LAB_DNS_NAME")" == "$LAB_LAN_ADDR" ]] ||
		t_fail "$conn: the DNS server handed out does not answer through the tunnel"
	t_log "ok: $conn: DNS server $LAB_DNS_ADDR answers through the tunnel"
}

disconnect() {
	lab_ref_disconnect "$P" "$1"
	[[ -z "$(t_sa_field "$P" gw "$1" state)" ]] || t_fail "$1: gateway still has the IKE SA"
	t_check "$1: LAN host unreachable after disconnect" t_no_reply "$P" cli "$LAB_LAN_ADDR"
}

# PSK, with connect timing over several runs and a throughput figure.
phase psk "$LAB_POOL_SPLIT" "$LAB_PSK_ID"
bytes0=$(t_sa_field "$P" ref psk bytes-out)
json=$(lab_exec "$P" cli timeout 20 iperf3 -c "$LAB_LAN_ADDR" -p "$LAB_IPERF_PORT" -t 3 -J) ||
	t_fail "iperf3 through the psk tunnel"
sent=$(jq -r '.end.sum_sent.bytes' <<<"$json")
bps=$(jq -r '.end.sum_received.bits_per_second' <<<"$json")
(( sent > 0 )) || t_fail "iperf3 sent nothing"
(( $(t_sa_field "$P" ref psk bytes-out) >= bytes0 + sent )) || t_fail "iperf3 bytes did not go through ESP"
t_result iperf3_psk_mbit_s "$(awk -v b="$bps" 'BEGIN { printf "%.1f", b / 1e6 }')"
disconnect psk

samples=()
for _ in 1 2 3 4 5; do
	t0=$(t_ms)
	lab_ref_connect "$P" psk 2>/dev/null
	samples+=("$(( $(t_ms) - t0 ))")
	t_ping "$P" cli "$LAB_LAN_ADDR" 1 >/dev/null || t_fail "psk reconnect: LAN host unreachable"
	lab_ref_disconnect "$P" psk
done
t_result connect_psk_median_ms "$(printf '%s\n' "${samples[@]}" | sort -n | sed -n 3p)"
t_log "psk connect samples (ms): ${samples[*]}"

phase pubkey "$LAB_POOL_SPLIT" "$LAB_CLIENT_ID"
t_check "pubkey: gateway verified the client's certificate signature" \
	grep -qE "<pubkey\|[0-9]+> authentication of '$LAB_CLIENT_ID' with [A-Z0-9_]+ successful" "$LAB_GW_LOG"
disconnect pubkey

phase eap "$LAB_POOL_SPLIT" "$LAB_EAP_USER"
t_check "eap: gateway ran EAP-MSCHAPv2 for $LAB_EAP_USER" \
	grep -qE "<eap\|[0-9]+> EAP method EAP_MSCHAPV2 succeeded" "$LAB_GW_LOG"
disconnect eap

# Every IKE cipher suite and DH group the gateway offers, one at a time:
# negotiated as offered, and a Child SA rekey with PFS in that group.
declare -A KE_NAME=([curve25519]=CURVE_25519 [ecp256]=ECP_256 [ecp384]=ECP_384
	[modp3072]=MODP_3072 [modp2048]=MODP_2048)
declare -A ENCR_NAME=([gcm]=AES_GCM_16 [cbc]=AES_CBC)
# gw_children_raw: the gateway's psk IKE SA from its Child SAs on.
gw_children_raw() { lab_swanctl "$P" gw --list-sas --ike psk --raw | sed -n 's/.*child-sas //p'; }
for suite in gcm cbc; do
	for g in curve25519 ecp256 ecp384 modp3072 modp2048; do
		conn=psk-$suite-$g
		lab_ref_connect "$P" "$conn" 2>/dev/null
		[[ "$(t_sa_field "$P" gw psk encr-alg)" == "${ENCR_NAME[$suite]}" ]] ||
			t_fail "$conn: gateway chose $(t_sa_field "$P" gw psk encr-alg)"
		[[ "$(t_sa_field "$P" gw psk dh-group)" == "${KE_NAME[$g]}" ]] ||
			t_fail "$conn: gateway chose group $(t_sa_field "$P" gw psk dh-group)"
		t_ping "$P" cli "$LAB_LAN_ADDR" 2 >/dev/null || t_fail "$conn: no ping through the tunnel"
		lab_swanctl "$P" ref --rekey --child "$conn" >/dev/null
		rekeyed=0
		for _ in $(seq 50); do
			gw_children_raw | grep -q "dh-group=${KE_NAME[$g]}" && { rekeyed=1; break; }
			sleep 0.05
		done
		[[ $rekeyed -eq 1 ]] || t_fail "$conn: no Child SA rekeyed with PFS ${KE_NAME[$g]} at the gateway"
		t_ping "$P" cli "$LAB_LAN_ADDR" 2 >/dev/null || t_fail "$conn: no ping after the rekey"
		lab_ref_disconnect "$P" "$conn"
		t_log "ok: $conn: IKE ${ENCR_NAME[$suite]} ${KE_NAME[$g]}, Child SA rekeyed with PFS"
	done
done

# MOBIKE: when the Wi-Fi link goes, the client moves the SAs to LTE (behind
# the carrier NAT); when it comes back, to Wi-Fi again. The figure is the
# time until the gateway has the new path.
# wait_remote ADDR: wait (10 s at most) until the gateway's psk SA has the
# client at ADDR.
wait_remote() {
	for _ in $(seq 500); do
		[[ "$(t_sa_field "$P" gw psk remote-host)" == "$1" ]] && return 0
		sleep 0.02
	done
	return 1
}
lab_ref_connect "$P" psk 2>/dev/null
wait_remote "$LAB_HOME_WAN_ADDR" || t_fail "psk: gateway does not see the client behind the home NAT"
t0=$(t_ms)
lab_uplink "$P" wifi down
wait_remote "$LAB_CARRIER_WAN_ADDR" || t_fail "MOBIKE: client did not move to LTE"
t_result mobike_wifi_to_lte_ms "$(( $(t_ms) - t0 ))"
lte0=$(lab_counter "$P" lte_in)
t_ping "$P" cli "$LAB_LAN_ADDR" 5 >/dev/null || t_fail "MOBIKE: no ping through the tunnel over LTE"
(( $(lab_counter "$P" lte_in) >= lte0 + 5 )) || t_fail "MOBIKE: pings did not go over LTE"
t_log "ok: MOBIKE: tunnel moved to LTE"
# strongSwan keeps a working path, so Wi-Fi coming back alone does not move
# it; LTE going then does.
lab_uplink "$P" wifi up
t0=$(t_ms)
lab_uplink "$P" lte down
wait_remote "$LAB_HOME_WAN_ADDR" || t_fail "MOBIKE: client did not move back to Wi-Fi"
t_result mobike_lte_to_wifi_ms "$(( $(t_ms) - t0 ))"
lab_uplink "$P" lte up
wifi0=$(lab_counter "$P" wifi_in)
t_ping "$P" cli "$LAB_LAN_ADDR" 5 >/dev/null || t_fail "MOBIKE: no ping through the tunnel back on Wi-Fi"
(( $(lab_counter "$P" wifi_in) >= wifi0 + 5 )) || t_fail "MOBIKE: pings did not go over Wi-Fi"
t_log "ok: MOBIKE: tunnel back on Wi-Fi"
lab_ref_disconnect "$P" psk

# Full tunnel: the LAN and the internet both go through the tunnel.
phase psk-full "$LAB_POOL_FULL" "$LAB_PSK_FULL_ID"
prove_esp psk-full "$LAB_INET_HOST_ADDR" 10
disconnect psk-full

lab_ref_stop "$P"
t_done
