#!/bin/bash
# Rekeying with a live tunnel: first the gateway rekeys the IKE SA and the
# Child SA on short timers, then our client does (profile ike_rekey /
# esp_rekey). Traffic keeps flowing through every rekey, the old SAs go
# away on both sides, and the tunnel ends cleanly.
set -euo pipefail
HERE=$(dirname "$(readlink -f "$0")")
source "$HERE/lab/testlib.sh"
t_timebox "${LAB_TEST_TIMEOUT:-240}" "$@"
P=${1:?usage: $0 PREFIX}
source "$HERE/lab/vpnc.sh"
source "$HERE/lab/client_basic.sh"

# rekey_phase WHO SECONDS: keep pinging through the tunnel for SECONDS while
# the rekeys of WHO ("gateway" or "us") happen; check the log and the loss.
rekey_phase() {
	local who=$1 secs=$2 count loss rekeys children
	count=$(( secs * 5 ))
	out=$(lab_exec "$P" cli ping -q -n -i 0.2 -W 1 -c "$count" "$LAB_LAN_ADDR" || true)
	loss=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<<"$out")
	loss=$(( count - ${loss:-0} ))
	t_result "lost_pings[$who]" "$loss"
	(( loss <= 2 )) || t_fail "$loss of $count pings lost across the rekeys: $out"
	if [[ $who == gateway ]]; then
		rekeys=$(grep -c "IKE SA rekeyed (by the gateway)" "$(vc_dir)/vpnd.log" || true)
	else
		rekeys=$(grep -c "IKE SA rekeyed (by us)" "$(vc_dir)/vpnd.log" || true)
	fi
	children=$(grep -c "(rekeyed)" "$(vc_dir)/vpnd.log" || true)
	t_result "ike_rekeys[$who]" "$rekeys"
	t_result "child_rekeys[$who]" "$children"
	(( rekeys >= 1 )) || t_fail "no IKE SA rekey by $who in $secs s"
	(( children >= 2 )) || t_fail "fewer than two Child SA rekeys in $secs s"
	# Old SAs are gone on the gateway: one IKE SA, one Child SA left.
	[[ $(lab_swanctl "$P" gw --list-sas --raw | grep -o "child-sas {[^}]*" | wc -l) -ge 1 ]] ||
		t_fail "gateway lost the Child SA"
	[[ $(lab_swanctl "$P" gw --list-sas --raw | grep -c "ESTABLISHED") -eq 1 ]] ||
		t_fail "gateway keeps more than one IKE SA: $(lab_swanctl "$P" gw --list-sas)"
	t_log "ok: $who rekeyed ($rekeys IKE, $children Child) with $loss lost pings"
}

# Phase 1: the gateway rekeys every 20 s (IKE) and 14 s (Child SA). (Below
# about 12 s strongSwan's hard lifetime, rekey_time + 10 %, rounds down to
# the rekey time and the Child SA expires instead of being rekeyed.)
t_use "$P"
LAB_GW_IKE_REKEY=20s LAB_GW_CHILD_REKEY=14s lab_up "$P"
lab_load_env "$P"
vc_start "$P"
{ vc_basic_profile psk; echo "ike_rekey = 0"; echo "esp_rekey = 0"; } | vc_profile gwrekey
vc up gwrekey >/dev/null || t_fail "up"
rekey_phase gateway 34
vc down gwrekey >/dev/null
vc_assert_clean "$P"
vc_stop
t_teardown "$P" || t_fail "teardown"
_T_PREFIXES=()

# Phase 2: we rekey every 15 s (IKE) and 10 s (Child SA), with PFS.
t_use "$P"
lab_up "$P"
lab_load_env "$P"
vc_start "$P"
{ vc_basic_profile psk; echo "ike_rekey = 15s"; echo "esp_rekey = 10s";
  echo "esp = aes256gcm16-curve25519"; } | vc_profile ourrekey
vc up ourrekey >/dev/null || t_fail "up"
rekey_phase us 32
vc down ourrekey >/dev/null
vc_assert_clean "$P"
vc_stop
t_done
