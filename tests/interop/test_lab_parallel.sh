#!/bin/bash
# Two lab instances side by side: built at the same time, each with its own
# gateway and reference client connected at the same time, isolated from
# each other, a stale instance replaced by `up`, and `sweep` removing an
# orphaned instance while keeping live ones. The host's root network
# namespace (addresses, links, routes, rules, nftables) is the same after the
# test as before it, and so is the host's /etc/resolv.conf.
#
# usage: test_lab_parallel.sh [PREFIX]   (root; instances PREFIX-a and PREFIX-b)
set -euo pipefail
source "$(dirname "$(readlink -f -- "$0")")/lab/testlib.sh"
t_timebox "${LAB_TEST_TIMEOUT:-150}" "$@"

BASE=${1:-par$$}
A=$BASE-a
B=$BASE-b

root_snapshot() {
	ip -o link show | sed 's/ state [A-Z]* / /'
	ip -o addr show
	ip route show table all
	ip rule show
	nft list ruleset
	cat /etc/resolv.conf
}
before=$(root_snapshot)
t_use "$A"
t_use "$B"

# Both up at once.
t0=$(t_ms)
lab_up "$A" & pa=$!
lab_up "$B" & pb=$!
wait $pa || t_fail "lab up $A"
wait $pb || t_fail "lab up $B"
t_result parallel_up_ms "$(( $(t_ms) - t0 ))"

# `up` on a live instance replaces it (stale instance removal).
lab_up "$A"
lab_load_env "$A"
[[ -n "$LAB_PSK" ]] || t_fail "no PSK in lab.env"
psk_a=$LAB_PSK
lab_load_env "$B"
[[ "$psk_a" != "$LAB_PSK" ]] || t_fail "two instances share a PSK"
t_check "instance directories differ" test "$LAB_DIR" != "${LAB_TMPDIR:-/tmp}/vpnlab.$A"

# Both reference clients connect at the same time through their own labs.
lab_ref_start "$A"
lab_ref_start "$B"
lab_ref_connect "$A" psk & pa=$!
lab_ref_connect "$B" pubkey & pb=$!
wait $pa || t_fail "connect in $A"
wait $pb || t_fail "connect in $B"
for p in "$A" "$B"; do
	lab_load_env "$p"
	t_check "$p: LAN host through the tunnel" t_ping "$p" cli "$LAB_LAN_ADDR" 5
done
[[ "$(t_sa_field "$A" gw psk state)" == ESTABLISHED ]] || t_fail "$A: gateway has no psk SA"
[[ -z "$(t_sa_field "$A" gw pubkey state)" ]] || t_fail "$A: gateway sees $B's client"
[[ "$(t_sa_field "$B" gw pubkey state)" == ESTABLISHED ]] || t_fail "$B: gateway has no pubkey SA"
[[ -z "$(t_sa_field "$B" gw psk state)" ]] || t_fail "$B: gateway sees $A's client"
t_log "ok: each gateway sees only its own client"

# A switch in one instance leaves the other alone.
lab_blackhole "$A" wifi on
t_check "$A: Wi-Fi black hole cuts $A's tunnel" t_no_reply "$A" cli "$LAB_LAN_ADDR"
t_check "$B: tunnel unaffected by $A's black hole" t_ping "$B" cli "$LAB_LAN_ADDR" 3
lab_blackhole "$A" wifi off

# `sweep` (run before a test suite) keeps instances whose owner runs and
# removes one whose owner is gone, as after a run killed with SIGKILL.
C=$BASE-c
t_use "$C"
sleep 600 & owner=$!
LAB_OWNER_PID=$owner lab_up "$C"
"$_LAB_SELF" sweep
t_check "sweep keeps $C while its owner runs" test -e "/run/netns/$C-gw"
kill "$owner"; wait "$owner" 2>/dev/null || true
"$_LAB_SELF" sweep
t_check "sweep removed orphaned $C" test ! -e "/run/netns/$C-gw"
t_check "sweep removed $C's directory" test ! -e "${LAB_TMPDIR:-/tmp}/vpnlab.$C"
t_check "sweep kept $A" test -e "/run/netns/$A-gw"
t_check "sweep kept $B" test -e "/run/netns/$B-gw"
lab_load_env "$A"
t_check "$A still carries its tunnel" t_ping "$A" cli "$LAB_LAN_ADDR" 3

# Both down at once; the EXIT trap proves nothing is left, here we check the
# root namespace.
lab_down "$A" & pa=$!
lab_down "$B" & pb=$!
wait $pa || t_fail "lab down $A"
wait $pb || t_fail "lab down $B"
after=$(root_snapshot)
if [[ "$before" != "$after" ]]; then
	diff <(echo "$before") <(echo "$after") >&2 || true
	t_fail "the root network namespace changed"
fi
t_log "ok: root network namespace unchanged"
t_done
