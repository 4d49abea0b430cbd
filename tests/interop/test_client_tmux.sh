#!/bin/bash
# vpnctl driven in a real terminal (tmux), as a user who belongs to the
# allowed group and as one who does not: the member connects (progress
# lines, status, down) and can cancel a hanging `up` with Ctrl-C; the
# outsider gets "permission denied (join the group ...)" and changes
# nothing, but may read the status.
set -euo pipefail
HERE=$(dirname "$(readlink -f "$0")")
source "$HERE/lab/testlib.sh"
t_timebox "${LAB_TEST_TIMEOUT:-240}" "$@"
P=${1:?usage: $0 PREFIX}
command -v tmux >/dev/null || t_fail "tmux is not installed (scripts/setup.sh)"

# Our own group and users, removed at exit (the EXIT trap of testlib runs
# t_teardown; ours runs first through this wrapper).
tag=$(printf '%s' "$P" | md5sum | cut -c1-6)
GRP="vpnt$tag"
UIN="vpnin$tag"
UOUT="vpnout$tag"
TSOCK="vpntmux$tag"
users_cleanup() {
	tmux -L "$TSOCK" kill-server 2>/dev/null || true
	userdel "$UIN" 2>/dev/null || true
	userdel "$UOUT" 2>/dev/null || true
	groupdel "$GRP" 2>/dev/null || true
}
trap 'rc=$?; users_cleanup; (exit $rc); _t_on_exit' EXIT
users_cleanup
groupadd "$GRP"
useradd --no-create-home --shell /bin/bash --groups "$GRP" "$UIN"
useradd --no-create-home --shell /bin/bash "$UOUT"

t_use "$P"
lab_up "$P"
lab_load_env "$P"
source "$HERE/lab/vpnc.sh"
source "$HERE/lab/client_basic.sh"
vc_basic_profile psk | vc_profile office
vc_start "$P" --group "$GRP"
chmod 755 "$LAB_DIR"
[[ $(stat -c '%G %a' "$(vc_dir)/vpnd.sock") == "$GRP 660" ]] ||
	t_fail "socket is $(stat -c '%U:%G %a' "$(vc_dir)/vpnd.sock"), expected root:$GRP 0660"

SOCK="$(vc_dir)/vpnd.sock"
# term USER: a tmux window with a login shell of USER in the client namespace.
term() {
	tmux -L "$TSOCK" new-session -d -s "$1" -x 160 -y 50 \
		"cd / && ip netns exec $P-cli su -s /bin/bash $1"
	sleep 0.5
}
type_line() { tmux -L "$TSOCK" send-keys -t "$1" "$2" Enter; }
screen() { tmux -L "$TSOCK" capture-pane -p -t "$1" -S -200; }
# wait_screen USER REGEX SECONDS
wait_screen() {
	local i
	for i in $(seq 1 $(( $3 * 5 ))); do
		screen "$1" | grep -qE "$2" && return 0
		sleep 0.2
	done
	screen "$1" >&2
	t_fail "terminal of $1 never showed /$2/"
}
VPNCTL="$VC_VPNCTL --socket $SOCK"

# The member of the group.
term "$UIN"
type_line "$UIN" "$VPNCTL up office; echo EXIT=\$?"
wait_screen "$UIN" "EXIT=0" 20
screen "$UIN" | grep -q "\[IKE_SA_INIT\]" || t_fail "no progress lines in the terminal"
screen "$UIN" | grep -q "office: connected" || t_fail "no 'connected' line"
type_line "$UIN" "clear; $VPNCTL; echo EXIT=\$?"
wait_screen "$UIN" "EXIT=0" 5
screen "$UIN" | grep -qE "virtual IP: +10\.200\.0\." || t_fail "bare vpnctl shows no status"
t_log "ok: a member of $GRP connects from a terminal and sees progress and status"

# The outsider: the socket is root:GROUP 0660, so it cannot even connect;
# vpnctl says which group to join, and nothing changes.
term "$UOUT"
type_line "$UOUT" "clear; $VPNCTL down office; echo EXIT=\$?"
wait_screen "$UOUT" "EXIT=[0-9]+" 5
screen "$UOUT" | grep -q "permission denied.*(join the group $GRP)" ||
	t_fail "the outsider got no clear refusal: $(screen "$UOUT")"
screen "$UOUT" | grep -q "EXIT=4" || t_fail "the outsider's exit code is not 4"
[[ $(vc_json office state) == connected ]] || t_fail "the outsider's down changed something"
t_log "ok: an outsider is refused with one clear line and changes nothing"

type_line "$UIN" "clear; $VPNCTL down office; echo EXIT=\$?"
wait_screen "$UIN" "EXIT=0" 10

# Ctrl-C on an `up` that cannot finish (the gateway is black-holed).
lab_blackhole "$P" wifi on
lab_blackhole "$P" lte on
type_line "$UIN" "clear; $VPNCTL up office; echo EXIT=\$?"
wait_screen "$UIN" "IKE_SA_INIT" 10
tmux -L "$TSOCK" send-keys -t "$UIN" C-c
wait_screen "$UIN" "EXIT=11" 15
sleep 0.5
[[ $(vc_json office state) == disconnected ]] || t_fail "Ctrl-C did not cancel the connection"
t_log "ok: Ctrl-C in the terminal cancels the connection attempt"
lab_blackhole "$P" wifi off
lab_blackhole "$P" lte off
vc_assert_clean "$P"
vc_stop
t_done
