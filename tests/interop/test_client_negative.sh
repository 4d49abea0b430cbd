#!/bin/bash
# Our client's failures, each against the lab's real strongSwan gateway:
# wrong PSK, untrusted gateway certificate, wrong remote_id, wrong EAP
# password, no proposal in common (IKE and ESP), gateway not running. Each
# must fail within a bound, with the right exit code and one clear line, and
# leave no TUN device, address, route, rule or DNS change behind.
set -euo pipefail
HERE=$(dirname "$(readlink -f "$0")")
source "$HERE/lab/testlib.sh"
t_lab 240 "$@"
source "$HERE/lab/vpnc.sh"
source "$HERE/lab/client_basic.sh"

vc_start "$P"

# Exit codes of vpnctl (ui-cli/main.c): 6 auth, 7 not trusted, 8 negotiation,
# 9 unreachable.
vc_basic_profile psk | sed "s/^psk = .*/psk = not-the-right-key-$RANDOM/" | vc_profile badpsk
vc_expect_fail badpsk 6 "authentication failed" 15
vc_assert_clean "$P"

# A CA of our own that never signed the gateway's certificate.
other="$LAB_DIR/otherca"
mkdir -p "$other"
pki --gen --type ecdsa --size 256 --outform pem >"$other/ca.key"
pki --self --in "$other/ca.key" --type ecdsa --dn "C=CH, O=elsewhere, CN=Other CA" --ca \
	--outform pem >"$other/ca.pem"
vc_basic_profile pubkey | sed "s|^ca = .*|ca = $other/ca.pem|" | vc_profile untrusted
vc_expect_fail untrusted 7 "certificate not trusted" 15
vc_assert_clean "$P"

vc_basic_profile pubkey | sed "s/^remote_id = .*/remote_id = vpn.elsewhere.example/" | vc_profile wrongid
vc_expect_fail wrongid 7 "identity mismatch.*gw.example.org.*vpn.elsewhere.example" 15
vc_assert_clean "$P"

vc_basic_profile eap | sed "s/^eap_password = .*/eap_password = wrong-$RANDOM/" | vc_profile badeap
vc_expect_fail badeap 6 "authentication failed.*EAP" 15
vc_assert_clean "$P"

# The gateway offers no AES-192, neither for IKE nor for ESP.
{ vc_basic_profile psk; echo "ike = aes192-sha256-curve25519"; } | vc_profile noike
vc_expect_fail noike 8 "no proposal chosen" 15
vc_assert_clean "$P"

# A group the parser knows but vpnctl does not implement: refused at load.
{ vc_basic_profile psk; echo "ike = aes256gcm16-prfsha256-modp4096"; } | vc_profile unsupported
vc_expect_fail unsupported 5 "modp4096.*not supported" 5

{ vc_basic_profile psk; echo "esp = aes192-sha256"; } | vc_profile noesp
vc_expect_fail noesp 8 "no proposal chosen" 15
vc_assert_clean "$P"

# The gateway's charon is stopped: its host answers ICMP port unreachable,
# which ends the attempt after a few tries instead of the whole back-off.
lab_gw_stop "$P"
vc_basic_profile psk | vc_profile gwdown
vc_expect_fail gwdown 9 "gateway unreachable: 192.0.2.10 refuses IKE" 20
vc_assert_clean "$P"

# A gateway that does not answer at all (black hole, no ICMP): the
# retransmission back-off is bounded.
lab_gw_start "$P"
lab_blackhole "$P" wifi on
lab_blackhole "$P" lte on
vc_expect_fail gwdown 9 "gateway unreachable: no answer from 192.0.2.10" 40
vc_assert_clean "$P"
lab_blackhole "$P" wifi off
lab_blackhole "$P" lte off

# And after all that, the same daemon still connects.
vc_basic_profile psk | vc_profile good
vc up good >/dev/null || t_fail "a good profile after the failures"
t_ping "$P" cli "$LAB_LAN_ADDR" 3 >/dev/null || t_fail "ping after the failures"
vc down good >/dev/null
vc_assert_clean "$P"
vc_stop
t_done
