# shellcheck shell=bash
# The basic journey of our client with one authentication method, shared by
# test_client_{psk,pubkey,eap}.sh: connect, check status --json, ping and a
# short iperf3 through the tunnel, DNS from the gateway, disconnect, and
# prove nothing is left behind.

# vc_basic_profile AUTH: the profile text for AUTH (psk, pubkey, eap), or
# psk-full: PSK with a full tunnel (the gateway's psk-full connection).
vc_basic_profile() {
	case $1 in
	psk) cat <<EOF
[connection]
gateway = $LAB_GW_ADDR
remote_id = $LAB_GW_ID
local_id = $LAB_PSK_ID
auth = psk
psk = $LAB_PSK
EOF
	;;
	psk-full) cat <<EOF
[connection]
gateway = $LAB_GW_ADDR
remote_id = $LAB_GW_ID
local_id = $LAB_PSK_FULL_ID
auth = psk
psk = $LAB_PSK
full_tunnel = yes
EOF
	;;
	pubkey) cat <<EOF
[connection]
gateway = $LAB_GW_ADDR
remote_id = $LAB_GW_ID
local_id = $LAB_CLIENT_ID
auth = pubkey
cert = $LAB_CLIENT_CERT
key = $LAB_CLIENT_KEY
ca = $LAB_CA_CERT
EOF
	;;
	eap) cat <<EOF
[connection]
gateway = $LAB_GW_ADDR
remote_id = $LAB_GW_ID
auth = eap-mschapv2
eap_identity = $LAB_EAP_USER
eap_password = $LAB_EAP_PASSWORD
ca = $LAB_CA_CERT
EOF
	;;
	*) t_fail "unknown auth $1" ;;
	esac
}

# vc_iperf SECS [ARGS]: iperf3 through the tunnel; prints Mbit/s received.
vc_iperf() {
	local secs=$1 out
	shift
	out=$(lab_exec "$VC_PREFIX" cli timeout $((secs + 10)) iperf3 -J -c "$LAB_LAN_ADDR" \
		-p "$LAB_IPERF_PORT" -t "$secs" "$@") || { echo "$out" >&2; return 1; }
	jq -r '.end.sum_received.bits_per_second / 1e6 | floor' <<<"$out"
}

vc_basic_test() {
	local auth=$1 name=$1 t0 ms v rtt up down k
	vc_start "$P"
	vc_basic_profile "$auth" | vc_profile "$name"

	t_check "LAN unreachable before the tunnel" t_no_reply "$P" cli "$LAB_LAN_ADDR"
	t0=$(t_ms)
	vc up "$name" || { tail -n 40 "$(vc_dir)/vpnd.log" >&2; t_fail "vpnctl up $name"; }
	ms=$(( $(t_ms) - t0 ))
	t_result connect_ms "$ms"

	# status --json carries the contract's keys with the right values.
	[[ $(vc_json "$name" state) == connected ]] || t_fail "state is not connected"
	[[ $(vc_json "$name" transport) == udp ]] || t_fail "transport is not udp"
	[[ $(vc_json "$name" interface) == vpn* ]] || t_fail "interface: $(vc_json "$name" interface)"
	[[ $(vc_json "$name" remote) == "$LAB_GW_ADDR:$LAB_GW_NATT_PORT" ]] ||
		t_fail "remote: $(vc_json "$name" remote)"
	[[ $(vc_json "$name" local) == "$LAB_CLI_WIFI_ADDR:"* ]] || t_fail "local: $(vc_json "$name" local)"
	[[ $(vc_json "$name" nat) == true ]] || t_fail "nat should be true behind the home NAT"
	[[ $(vc_json "$name" mobike) == true ]] || t_fail "mobike should be true"
	v=$(vc_json "$name" virtual_ip)
	[[ $v == 10.200.0.* ]] || t_fail "virtual_ip $v not from the pool $LAB_POOL_SPLIT"
	[[ $(vc_json "$name" 'dns[0]') == "$LAB_DNS_ADDR" ]] || t_fail "dns: $(vc_json "$name" dns)"
	[[ -n $(vc_json "$name" ike) && -n $(vc_json "$name" esp) ]] || t_fail "algorithms missing"
	[[ $(vc_json "$name" established_at) =~ ^[0-9]+$ ]] || t_fail "established_at"
	for k in bytes_in bytes_out packets_in packets_out last_error name; do
		vc status "$name" --json | jq -e "has(\"$k\")" >/dev/null || t_fail "status lacks $k"
	done
	t_log "ok: status --json ($v, $(vc_json "$name" ike) / $(vc_json "$name" esp))"

	# The gateway has an SA with our virtual IP.
	lab_swanctl "$P" gw --list-sas | grep -qF "$v" || t_fail "gateway has no SA for $v"

	rtt=$(t_ping "$P" cli "$LAB_LAN_ADDR" 20) || t_fail "ping through the tunnel"
	t_result ping_rtt_ms "$rtt"
	grep -q "nameserver $LAB_DNS_ADDR" "$LAB_CLI_RESOLV_CONF" || t_fail "DNS not applied"
	[[ $(t_dns_a "$P" cli "$LAB_DNS_ADDR" "$LAB_DNS_NAME") == "$LAB_LAN_ADDR" ]] ||
		t_fail "DNS query through the tunnel"
	t_log "ok: DNS from the gateway answers through the tunnel"
	up=$(vc_iperf 2) || t_fail "iperf3 up"
	down=$(vc_iperf 2 -R) || t_fail "iperf3 down"
	t_result iperf_up_mbit "$up"
	t_result iperf_down_mbit "$down"
	(( up > 10 && down > 10 )) || t_fail "throughput too low: $up / $down Mbit/s"
	(( $(vc_json "$name" packets_in) > 20 && $(vc_json "$name" bytes_out) > 1000000 )) ||
		t_fail "traffic counters do not move"

	vc down "$name" >/dev/null || t_fail "vpnctl down"
	[[ $(vc_json "$name" state) == disconnected ]] || t_fail "state after down"
	lab_swanctl "$P" gw --list-sas | grep -qF "$v" && t_fail "gateway still has the SA"
	vc_assert_clean "$P"
	t_check "LAN unreachable after the tunnel" t_no_reply "$P" cli "$LAB_LAN_ADDR"
	vc_stop
}
