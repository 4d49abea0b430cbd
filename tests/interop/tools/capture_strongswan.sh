#!/bin/bash
# capture_strongswan.sh [OUTDIR]: record real strongSwan IKEv2 exchanges as
# test fixtures (tests/fixtures/strongswan/ by default).
#
# For each capture it brings nothing new up: one lab instance (prefix
# $CAPTURE_PREFIX, default "fix-capture") serves all of them. Per capture the
# reference client (strongSwan's charon in the cli namespace) runs with the
# "ike" log subsystem raised to 4, which makes keymat_v2.c hex-dump the DH
# shared secret, SKEYSEED and the seven IKE SA keys; tcpdump records UDP
# 500/4500 in the cli namespace while the client connects, then disconnects
# (so the INFORMATIONAL Delete exchange is recorded too). pcap_ike.pl cuts the
# IKE messages out of the capture, charon_keys.pl the keys out of the log.
#
# Output, one directory per capture: NN-EXCHANGE-req|resp[-fragKofN].bin (the
# messages from the IKE header on), messages.txt (index), keys.txt (suite,
# SPIs, secrets; the lab's random PSK / EAP password of that run), README.md.
# OUTDIR is replaced only when every capture succeeded.
#
# Not a ctest test: a tool to regenerate fixtures, run by hand as root.
# Bounded in time (CAPTURE_TIMEOUT, default 180 s); the lab instance is
# taken down at exit whatever happens, and a leftover fails the run.
set -euo pipefail
TOOLS="$(dirname "$(readlink -f -- "$0")")"
SRC="$(readlink -f -- "$TOOLS/../../..")"
# shellcheck source-path=SCRIPTDIR source=../lab/testlib.sh
source "$TOOLS/../lab/testlib.sh"
t_timebox "${CAPTURE_TIMEOUT:-180}" "$@"

OUT=$(readlink -f -- "${1:-$SRC/tests/fixtures/strongswan}")
P=${CAPTURE_PREFIX:-fix-capture}
command -v tcpdump >/dev/null || t_fail "tcpdump missing (scripts/setup.sh)"
command -v perl >/dev/null || t_fail "perl missing"

# name CONNECTION WHAT: one capture each. psk-* offer exactly one suite and
# group; pubkey and eap offer the lab's full proposal list (the client's
# first proposal wins: AES-GCM-16-256, PRF SHA-256, curve25519).
CAPTURES=(
	"psk-gcm psk-gcm-curve25519 PSK, AES-GCM-16-256 / PRF-HMAC-SHA2-256 / curve25519"
	"psk-cbc psk-cbc-ecp256 PSK, AES-CBC-256 / HMAC-SHA2-256-128 / PRF-HMAC-SHA2-256 / ecp256"
	"eap eap EAP-MSCHAPv2 (client) and RSA certificate (gateway), lab proposal list"
	"pubkey pubkey RSA certificates both ways, lab proposal list"
)

t_use "$P"
lab_up "$P"
lab_load_env "$P"
WORK="$LAB_DIR/capture"
mkdir -p "$WORK/out"

# Raise the reference client's "ike" log level to 4 in this instance's own
# strongswan.conf (lab.sh writes "ike = 2" in its filelog section). The
# reference client is started only after this, per capture.
sed -i 's/^\(\t*\)ike = 2$/\1ike = 4/' "$LAB_REF_STRONGSWAN_CONF"
grep -q '^[[:space:]]*ike = 4$' "$LAB_REF_STRONGSWAN_CONF" ||
	t_fail "could not raise the ike log level in $LAB_REF_STRONGSWAN_CONF"

TCPDUMP_PID=
stop_tcpdump() {
	[[ -n "$TCPDUMP_PID" ]] || return 0
	# SIGINT makes tcpdump write what it holds and exit.
	kill -INT "$TCPDUMP_PID" 2>/dev/null || true
	wait "$TCPDUMP_PID" 2>/dev/null || true
	TCPDUMP_PID=
}

# start_tcpdump FILE: record IKE and NAT-T in the client namespace (before
# the home NAT); returns once tcpdump listens.
start_tcpdump() {
	local pcap=$1 deadline
	# Not through lab_exec: a backgrounded shell function would make $! a
	# subshell, and tcpdump's SIGINT would never reach it.
	ip netns exec "$LAB_NS_CLI" tcpdump -i any -nn -U --immediate-mode -s 0 -w "$pcap" \
		'udp and (port 500 or port 4500)' 2>"$pcap.err" &
	TCPDUMP_PID=$!
	deadline=$(( $(t_ms) + 10000 ))
	until grep -q 'listening on' "$pcap.err"; do
		if ! kill -0 "$TCPDUMP_PID" 2>/dev/null || (( $(t_ms) > deadline )); then
			cat "$pcap.err" >&2
			t_fail "tcpdump did not start"
		fi
		sleep 0.05
	done
}

# capture NAME CONN DESCRIPTION
capture() {
	local name=$1 conn=$2 what=$3 d="$WORK/out/$1" pcap="$WORK/$1.pcap" count
	mkdir -p "$d"
	t_log "capture $name: reference client connects $conn"
	rm -f "$LAB_REF_LOG"
	start_tcpdump "$pcap"
	lab_ref_start "$P"
	lab_ref_connect "$P" "$conn"
	# Let the last IKE_AUTH settle (MOBIKE may follow with an INFORMATIONAL),
	# then record the Delete exchange too.
	sleep 0.5
	lab_ref_disconnect "$P" "$conn"
	sleep 0.3
	stop_tcpdump
	lab_ref_stop "$P"
	count=$(perl "$TOOLS/pcap_ike.pl" "$pcap" "$d")
	{
		echo "# $name: strongSwan IKE SA secrets, from the reference client's charon log (ike 4)"
		echo "connection $conn"
		perl "$TOOLS/charon_keys.pl" "$LAB_REF_LOG"
		# Random per lab instance (lab.sh up): what the AUTH payloads
		# were computed from, for tests that check them.
		case "$conn" in
		psk*) echo "psk $(printf %s "$LAB_PSK" | od -An -tx1 -v | tr -d ' \n')" ;;
		eap)  echo "eap_user $LAB_EAP_USER"; echo "eap_password $LAB_EAP_PASSWORD" ;;
		esac
	} >"$d/keys.txt"
	cp "$LAB_REF_LOG" "$WORK/$name.charon.log"
	write_readme "$name" "$conn" "$what" "$d" "$count"
	t_log "capture $name: $count messages"
}

write_readme() {
	local name=$1 conn=$2 what=$3 d=$4 count=$5 frag="no"
	ls "$d" | grep -q -- '-frag' && frag="yes (SKF, RFC 7383)"
	cat >"$d/README.md" <<EOR
# strongSwan capture: $name

$what.

- Made: $(date -u '+%Y-%m-%d %H:%M UTC') by \`tests/interop/tools/capture_strongswan.sh\`
  ($(/usr/lib/ipsec/charon --version 2>&1 | head -n 1 || echo charon) both ends, lab key type $LAB_KEY_TYPE).
- Initiator: the lab's reference client (strongSwan charon in the cli namespace),
  connection \`$conn\`, behind the lab's home NAT (so IKE moves to UDP 4500 after
  IKE_SA_INIT). Responder: the lab gateway, $LAB_GW_ADDR.
- Recorded with tcpdump in the cli namespace; each file is one UDP datagram's
  IKE message from the IKE header on (IP, UDP and the non-ESP marker removed).
- $count messages, in capture order; see messages.txt. IKE fragmentation: $frag.
- keys.txt: the suite charon selected, the DH shared secret (g_ir), SKEYSEED and
  SK_d, SK_ai, SK_ar (CBC only), SK_ei, SK_er (AEAD: key || 4-byte salt),
  SK_pi, SK_pr as charon 5.9.8 logs them with "ike = 4"; the lab instance's
  random PSK (hex of its ASCII) or EAP-MSCHAPv2 credentials. Nonces and SPIs
  are in the messages.
- The certificates in CERT payloads come from that lab instance's throw-away CA.
EOR
}

for c in "${CAPTURES[@]}"; do
	read -r name conn what <<<"$c"
	capture "$name" "$conn" "$what"
done

# Replace the fixtures only now that every capture worked.
mkdir -p "$OUT"
for c in "${CAPTURES[@]}"; do
	read -r name _ <<<"$c"
	rm -rf -- "${OUT:?}/$name"
	cp -r "$WORK/out/$name" "$OUT/$name"
done
t_log "fixtures written to $OUT"
t_done
