#!/bin/bash
# INVALID_KE_PAYLOAD against strongSwan (RFC 7296 1.2): a gateway that only
# takes ECP-256 and MODP-2048 refuses our first key exchange (X25519) and
# names ECP-256; we retry with it and connect, and vpnd remembers it, so the
# next `up` of the profile starts with ECP-256 and costs no extra round trip.
set -euo pipefail
HERE=$(dirname "$(readlink -f "$0")")
source "$HERE/lab/testlib.sh"
export LAB_GW_IKE_GROUPS=ecp256-modp2048
t_lab 120 "$@"
source "$HERE/lab/vpnc.sh"
source "$HERE/lab/client_basic.sh"
vc_start "$P"

{ vc_basic_profile psk; echo "ike = aes256gcm16-prfsha256-x25519-ecp256"; } | vc_profile kegroup
log="$(vc_dir)/vpnd.log"
asked() { grep -c "gateway asks for group 19 instead of 31" "$log" || true; }
inits() { grep -c "sending IKE_SA_INIT request" "$log" || true; }

vc up kegroup >/dev/null || { tail -30 "$log" >&2; t_fail "first up"; }
[[ "$(asked)" -eq 1 ]] || t_fail "the gateway's INVALID_KE_PAYLOAD was not seen once ($(asked))"
[[ "$(inits)" -eq 2 ]] || t_fail "first up: $(inits) IKE_SA_INIT requests, expected 2"
ike=$(vc_json kegroup ike)
[[ "$ike" == *ecp256* ]] || t_fail "IKE SA runs $ike, not ECP-256"
t_check "LAN host through the tunnel" t_ping "$P" cli "$LAB_LAN_ADDR" 3
grep -q "the next connect starts with key exchange group 19" "$log" || t_fail "vpnd did not keep the group"
vc down kegroup >/dev/null

vc up kegroup >/dev/null || { tail -30 "$log" >&2; t_fail "second up"; }
[[ "$(asked)" -eq 1 ]] || t_fail "the second up met INVALID_KE_PAYLOAD again"
[[ "$(inits)" -eq 3 ]] || t_fail "second up: $(( $(inits) - 2 )) IKE_SA_INIT requests, expected 1"
t_check "LAN host through the tunnel again" t_ping "$P" cli "$LAB_LAN_ADDR" 3
vc down kegroup >/dev/null
vc_stop
vc_assert_clean "$P"
t_done
