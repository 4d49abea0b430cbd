# shellcheck shell=bash
# Helpers for the interop test scripts (tests/interop/test_*.sh); source it.
#
#   source "$(dirname "$0")/lab/testlib.sh"
#   t_timebox 120 "$@"        # re-runs the script under `timeout` (once)
#   t_use "$P"                # tear instance P down at exit and prove nothing is left
#   lab_up "$P"; lab_load_env "$P"
#   t_check "LAN reachable" lab_exec "$P" cli ping -c1 -W1 "$LAB_LAN_ADDR"
#   t_result connect_ms 17    # "RESULT connect_ms=17" (also appended to $LAB_RESULTS_FILE)
#   t_done                    # end of a passing test
#
# A test fails by exiting non-zero (t_fail, a failed t_check, or set -e);
# the EXIT trap always takes every instance down, whatever happened, and
# turns a passing test into a failure if anything was left behind.

_T_LIB_DIR="$(dirname "$(readlink -f -- "${BASH_SOURCE[0]}")")"
# shellcheck source-path=SCRIPTDIR source=lab.sh
source "$_T_LIB_DIR/lab.sh"

_T_PREFIXES=()
_T_NAME="$(basename "$0" .sh)"

t_log()  { echo "[$_T_NAME] $*"; }
t_fail() { echo "[$_T_NAME] FAIL: $*" >&2; exit 1; }
t_ms()   { echo $(( $(date +%s%N) / 1000000 )); }

# t_timebox SECONDS ARGS...: bound the whole test in time. On expiry
# `timeout` sends SIGTERM to the test and its foreground commands; the traps
# below then tear the lab down, and SIGKILL follows 30 s later at the latest.
t_timebox() {
	local secs=$1
	shift
	if [[ -z "${_T_TIMEBOXED:-}" ]]; then
		export _T_TIMEBOXED=1
		exec timeout -k 30 "$secs" bash "$0" "$@"
	fi
	[[ $(id -u) -eq 0 ]] || t_fail "interop tests need root (network namespaces)"
	trap '_t_on_exit' EXIT
	trap 't_log "interrupted"; exit 143' TERM
	trap 't_log "interrupted"; exit 130' INT
	trap 't_log "hangup"; exit 129' HUP
}

# t_lab SECONDS ARGS...: how most tests start. Bounded to SECONDS
# (LAB_TEST_TIMEOUT overrides), instance P named by the first argument,
# owned by this test, up, and its facts (LAB_*) loaded.
t_lab() {
	local secs=$1
	shift
	t_timebox "${LAB_TEST_TIMEOUT:-$secs}" "$@"
	P=${1:?usage: $0 PREFIX}
	t_use "$P"
	lab_up "$P"
	lab_load_env "$P"
}

# t_use PREFIX: this test owns instance PREFIX; it is taken down at exit.
t_use() { _T_PREFIXES+=("$1"); }

# t_instance_pids PREFIX: every process in the instance's namespaces.
t_instance_pids() {
	local h
	for h in cli home carrier inet gw lan; do
		[[ -e "/run/netns/$1-$h" ]] && ip netns pids "$1-$h" 2>/dev/null
	done
	return 0
}

# t_teardown PREFIX: lab down, then prove that no namespace, no process and
# no file of the instance remains. Prints the time `down` took.
t_teardown() {
	local p=$1 pids pid h t0 left=0 state
	pids=$(t_instance_pids "$p")
	t0=$(t_ms)
	lab_down "$p" || left=1
	t_result "lab_down_ms[$p]" "$(( $(t_ms) - t0 ))"
	for h in cli home carrier inet gw lan; do
		if [[ -e "/run/netns/$p-$h" ]]; then
			echo "[$_T_NAME] left behind: namespace $p-$h" >&2
			left=1
		fi
	done
	for pid in $pids; do
		# A zombie is already dead; its reaping is up to PID 1.
		state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
		if [[ -n "$state" && "$state" != Z ]]; then
			echo "[$_T_NAME] left behind: process $pid ($(cat "/proc/$pid/comm" 2>/dev/null))" >&2
			left=1
		fi
	done
	if [[ -e "/etc/netns/$p-cli" ]]; then
		echo "[$_T_NAME] left behind: /etc/netns/$p-cli" >&2
		left=1
	fi
	if [[ -e "${LAB_TMPDIR:-/tmp}/vpnlab.$p" ]]; then
		echo "[$_T_NAME] left behind: ${LAB_TMPDIR:-/tmp}/vpnlab.$p" >&2
		left=1
	fi
	return $left
}

_t_on_exit() {
	local rc=$? p bad=0
	trap - EXIT TERM INT HUP
	set +e
	for p in "${_T_PREFIXES[@]}"; do
		t_teardown "$p" || bad=1
	done
	if [[ $bad -ne 0 ]]; then
		echo "[$_T_NAME] FAIL: teardown left something behind" >&2
		[[ $rc -eq 0 ]] && rc=1
	fi
	if [[ $rc -eq 0 ]]; then t_log "PASS"; else t_log "FAILED (exit $rc)"; fi
	exit $rc
}

# t_check DESCRIPTION CMD...: CMD must succeed.
t_check() {
	local what=$1
	shift
	if "$@" >/dev/null; then t_log "ok: $what"; else t_fail "$what"; fi
}

# t_check_not DESCRIPTION CMD...: CMD must fail.
t_check_not() {
	local what=$1
	shift
	if "$@" >/dev/null 2>&1; then t_fail "$what"; else t_log "ok: $what"; fi
}

# t_result KEY VALUE: a measured figure, for the log and for benchmarks.
t_result() {
	echo "[$_T_NAME] RESULT $1=$2"
	if [[ -n "${LAB_RESULTS_FILE:-}" ]]; then
		echo "$_T_NAME $1=$2" >>"$LAB_RESULTS_FILE"
	fi
}

# t_sa_field PREFIX gw|ref CONN FIELD: one field of the IKE SA named CONN in
# `swanctl --list-sas --raw` (IKE fields and child fields have distinct
# names, except name/state/uniqueid, of which the IKE SA's comes first).
# Empty if there is no such SA.
t_sa_field() {
	lab_swanctl "$1" "$2" --list-sas --ike "$3" --raw |
		grep -o "[ {]$4=[^ }]*" | head -n 1 | cut -d= -f2- || true
}

# t_ping PREFIX HOST DEST COUNT: ping with no loss; prints the average RTT (ms).
t_ping() {
	local out
	out=$(lab_exec "$1" "$2" ping -q -n -c "$4" -i 0.05 -W 2 "$3") || {
		echo "$out" >&2
		return 1
	}
	grep -q " 0% packet loss" <<<"$out" || { echo "$out" >&2; return 1; }
	sed -n 's|^rtt min/avg/max/mdev = [0-9.]*/\([0-9.]*\)/.*|\1|p' <<<"$out"
}

# t_no_reply PREFIX HOST DEST [PING ARGS]: a single ping gets no reply.
t_no_reply() {
	local p=$1 h=$2 d=$3
	shift 3
	! lab_exec "$p" "$h" ping -q -n -c 1 -W 1 "$@" "$d" >/dev/null 2>&1
}

# _t_dns_a_here SERVER NAME: one DNS query for NAME's A record to SERVER
# (UDP, bash's /dev/udp); prints the address of a single-answer reply.
_t_dns_a_here() {
	local label bytes q
	exec 3<>"/dev/udp/$1/53" || return 1
	# One printf, so the query leaves in one datagram.
	q='\x4c\x41\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00'   # id, RD, 1 question
	for label in ${2//./ }; do q+="\\x$(printf %02x ${#label})$label"; done
	q+='\x00\x00\x01\x00\x01'                                     # root, A, IN
	# shellcheck disable=SC2059 # the query is the format
	printf "$q" >&3
	read -ra bytes <<<"$(timeout 3 dd bs=512 count=1 <&3 2>/dev/null | od -An -tu1 -v | tr '\n' ' ')"
	# Header: same id, QR set, RCODE 0, exactly one answer; the A record's
	# four data bytes end the message.
	(( ${#bytes[@]} > 16 && bytes[0] == 0x4c && bytes[1] == 0x41 )) || return 1
	(( (bytes[2] & 0x80) && (bytes[3] & 0x0f) == 0 && bytes[6] == 0 && bytes[7] == 1 )) || return 1
	local n=${#bytes[@]}
	echo "${bytes[n-4]}.${bytes[n-3]}.${bytes[n-2]}.${bytes[n-1]}"
}

# t_dns_a PREFIX HOST SERVER NAME: the A record of NAME as SERVER answers it
# to HOST; fails if there is no answer.
t_dns_a() {
	lab_exec "$1" "$2" bash -c "$(declare -f _t_dns_a_here); _t_dns_a_here \"\$@\"" _ "$3" "$4"
}

t_done() { exit 0; }
