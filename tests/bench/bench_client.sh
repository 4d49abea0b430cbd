#!/bin/bash
# Benchmark (a script that prints figures, not a test): our client (vpnd)
# against strongSwan's own client (charon + kernel-libipsec), one after the
# other, through the same lab gateway, in one run.
#
# Figures per client: connect time, iperf3 TCP throughput up and down (one
# stream, and N streams), client CPU seconds per GB moved (the gateway's as
# context), peak RSS; then the ratios ours/strongSwan and whether the bars of
# the issue are met (throughput ours >= strongSwan's, CPU per GB ours <=
# strongSwan's). The machine is shared and noisy: only ratios measured in the
# same run mean something; absolute figures are context.
#
# Usage (root):  tests/bench/bench_client.sh [OPTIONS]      (--help lists them)
#
# Method (why each choice, in short):
# - Fair suite: strongSwan's client uses the lab's psk-SUITE-GROUP connection
#   (exactly one IKE and one ESP proposal); our profile names the same two
#   proposal strings. The suites the gateway negotiated are read from the
#   gateway for both clients and must be equal, or the run stops.
# - Connect time: the clock starts just before the command (swanctl
#   --initiate / vpnctl up, both run from the root namespace against their
#   daemon's socket, so neither pays for `ip netns exec`). "usable" is the
#   first echo reply through the tunnel: a ping started at the same moment
#   sends every 2 ms and stamps its replies (ping -D). "cmd" is when the
#   command returned. Each repetition disconnects and waits until the
#   gateway has no IKE SA left. Not the same work: our client also writes
#   resolv.conf and its crash journal (fsync'ed), the lab's strongSwan client
#   has no resolve plugin; its TUN (ipsec0) exists before the connect.
# - CPU: utime+stime of the whole client process (all threads, from
#   /proc/PID/stat) across each iperf3 run, divided by the bytes the
#   receiving iperf3 counted. The same for the gateway's charon. Kernel work
#   done in softirq context lands on whoever runs at the time; that is the
#   same for both clients. As context: TCP retransmits, and datagrams the
#   kernel dropped because a UDP socket's receive buffer was full, on the
#   gateway and on the client (/proc/net/snmp RcvbufErrors of each namespace):
#   they tell which daemon did not keep up.
# - Pinning: none by default (the scheduler places the client, the gateway,
#   iperf3 and the routers' softirq work on the 2 cores; other developers'
#   work competes anyway, and a pinned process cannot dodge it). --pin split
#   models two machines: client daemon + iperf3 client on the first allowed
#   CPU, gateway charon + iperf3 server on the second.
# - Rounds: --rounds N repeats everything N times with a fresh daemon per
#   client and round; even rounds run our client first (ABBA order) so a
#   drift of the machine's load hits both alike. Figures are medians over
#   rounds (connect: over all repetitions) with min..max.
# - --profile: after the measured runs (so it cannot disturb them), one more
#   run per direction and client under `perf stat` (syscalls by kind) and
#   `perf record` (top symbols); syscalls per ESP packet use the gateway's
#   SA packet counters. Files go to --out DIR (or a fresh directory).
#
# Everything lives in lab instance --prefix (default bench-client): its
# namespaces, its directory, and the daemons in them. The whole run is
# bounded by `timeout`; on exit, failure or interrupt the instance goes down
# and the script checks that nothing of it is left.
set -euo pipefail

BENCH_SELF="$(readlink -f -- "$0")"
BENCH_ARGS=("$@")
BENCH_DIR="$(dirname "$BENCH_SELF")"
SRC_DIR="$(readlink -f -- "$BENCH_DIR/../..")"

usage() {
	cat <<'EOF'
usage: bench_client.sh [OPTIONS]       (as root)
  --prefix P        lab instance prefix (default bench-client)
  --build DIR       build tree with vpnd and vpnctl (default: VPN_BUILD_DIR or SRC/build)
  --suite gcm|cbc   cipher suite for both clients (default gcm: aes256gcm16; cbc: aes256-sha256)
  --group G         DH group for IKE (default curve25519; also ecp256 ecp384 modp3072 modp2048)
  --reps N          connect repetitions per client and round (default 5)
  --time S          seconds per iperf3 run (default 10)
  --parallel N      streams of the second throughput figure (default 4; 0: skip it)
  --rounds N        repeat everything N times, ABBA order (default 1)
  --pin none|split  CPU pinning (default none; split: client side on one CPU, gateway side on the other)
  --no-dns          our vpnd leaves resolv.conf alone (--resolv-conf ''), as the lab's strongSwan
                    client does: the same work for the connect time (default: vpnd sets DNS)
  --profile         afterwards, perf stat (syscalls) and perf record per client and direction
  --profile-time S  seconds per profiled run (default 5)
  --out DIR         keep raw files here (iperf3 JSON, daemon logs, perf data and reports)
  --json FILE       also write the summary as one JSON object
  --timeout S       bound for the whole run (default: computed from the options)
  -h, --help        this text
EOF
}

PREFIX=bench-client
BUILD=${VPN_BUILD_DIR:-$SRC_DIR/build}
SUITE=gcm
GROUP=curve25519
REPS=5
TIME=10
PAR=4
ROUNDS=1
PIN=none
PROFILE=0
NO_DNS=0
PROF_TIME=5
OUT=
JSON=
BOUND=

posint() {
	if ! [[ "$2" =~ ^[0-9]+$ ]] || (( $2 < ${3:-1} )); then
		echo "bench: $1 needs an integer >= ${3:-1}, got '$2'" >&2
		exit 2
	fi
}
while [[ $# -gt 0 ]]; do
	case "$1" in
	--prefix)   PREFIX=${2:?}; shift ;;
	--build)    BUILD=${2:?}; shift ;;
	--suite)    SUITE=${2:?}; shift ;;
	--group)    GROUP=${2:?}; shift ;;
	--reps)     posint "$1" "${2:-}"; REPS=$2; shift ;;
	--time)     posint "$1" "${2:-}" 2; TIME=$2; shift ;;
	--parallel) posint "$1" "${2:-}" 0; PAR=$2; shift ;;
	--rounds)   posint "$1" "${2:-}"; ROUNDS=$2; shift ;;
	--pin)      PIN=${2:?}; shift ;;
	--profile)  PROFILE=1 ;;
	--no-dns)   NO_DNS=1 ;;
	--profile-time) posint "$1" "${2:-}" 2; PROF_TIME=$2; shift ;;
	--out)      OUT=${2:?}; shift ;;
	--json)     JSON=${2:?}; shift ;;
	--timeout)  posint "$1" "${2:-}" 30; BOUND=$2; shift ;;
	-h|--help)  usage; exit 0 ;;
	*)          echo "bench: unknown option '$1'" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
case "$SUITE" in gcm|cbc) ;; *) echo "bench: --suite gcm or cbc" >&2; exit 2 ;; esac
case "$GROUP" in curve25519|ecp256|ecp384|modp3072|modp2048) ;;
	*) echo "bench: --group: curve25519 ecp256 ecp384 modp3072 modp2048" >&2; exit 2 ;; esac
case "$PIN" in none|split) ;; *) echo "bench: --pin none or split" >&2; exit 2 ;; esac
[[ $(id -u) -eq 0 ]] || { echo "bench: run as root (network namespaces, TUN)" >&2; exit 2; }

# The whole run under `timeout` (once): on expiry every process of our group
# gets SIGTERM, the traps below take the lab down, SIGKILL follows 30 s later.
if [[ -z "${_BENCH_TIMEBOXED:-}" ]]; then
	if [[ -z "$BOUND" ]]; then
		runs=2; (( PAR > 0 )) && runs=4
		per_client=$(( REPS * 8 + runs * (TIME + 12) + 30 ))
		(( PROFILE )) && per_client=$(( per_client + 2 * (PROF_TIME + 25) ))
		BOUND=$(( 90 + ROUNDS * 2 * per_client ))
	fi
	export _BENCH_TIMEBOXED=1
	export BENCH_BOUND=$BOUND
	exec timeout -k 30 "$BOUND" bash "$BENCH_SELF" "${BENCH_ARGS[@]}"
fi

export VPN_BUILD_DIR="$BUILD"
# shellcheck source-path=SCRIPTDIR source=../interop/lab/testlib.sh
source "$SRC_DIR/tests/interop/lab/testlib.sh"
_T_NAME=bench

log()  { echo "[bench] $*"; }
die()  { echo "[bench] ERROR: $*" >&2; exit 1; }
ns_ms() { date +%s%N; }

# ---------------------------------------------------------------------------
# Clean-up: processes started here outside the lab's namespaces (perf), then
# the instance (lab down kills everything in its namespaces, our vpnd and
# the reference charon included) with a check that nothing is left.
# ---------------------------------------------------------------------------
BG_PIDS=()
bg_forget() {
	local p keep=()
	for p in "${BG_PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
	BG_PIDS=("${keep[@]}")
}
LOCK=
LAB_IS_UP=0
bench_exit() {
	local rc=$? pid
	trap - EXIT INT TERM HUP
	set +e
	for pid in "${BG_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	if (( LAB_IS_UP )); then
		if [[ -n "$OUT" && -d "${LAB_DIR:-}" ]]; then
			cp "$LAB_DIR"/vpnd/vpnd.log "$OUT/" 2>/dev/null
			cp "$LAB_DIR"/ref/charon.log "$OUT/ref-charon.log" 2>/dev/null
			cp "$LAB_DIR"/gw/charon.log "$OUT/gw-charon.log" 2>/dev/null
		fi
		if ! t_teardown "$PREFIX" >/dev/null; then
			echo "[bench] ERROR: lab instance $PREFIX not fully removed" >&2
			[[ $rc -eq 0 ]] && rc=1
		fi
	fi
	[[ -n "$LOCK" ]] && rm -f -- "$LOCK"
	[[ $rc -eq 0 ]] || echo "[bench] failed (exit $rc)" >&2
	exit $rc
}
trap bench_exit EXIT
trap 'log "terminated (SIGTERM: the time box of ${BENCH_BOUND}s ran out, or a kill)"; exit 143' TERM
trap 'log "interrupted"; exit 130' INT
trap 'log "hangup"; exit 129' HUP

# One run per prefix at a time (a second run would take the first's lab down).
LOCK_PATH="/run/lock/vpnctl-bench.$PREFIX.lock"
exec 9>"$LOCK_PATH"
flock -n 9 || { LOCK=; die "another benchmark uses prefix $PREFIX"; }
LOCK=$LOCK_PATH

VPND="$BUILD/client/daemon/vpnd/vpnd"
VPNCTL="$BUILD/ui-cli/vpnctl"
[[ -x "$VPND" && -x "$VPNCTL" ]] || die "vpnd/vpnctl not built in $BUILD"
for tool in iperf3 jq ping taskset flock; do
	command -v "$tool" >/dev/null || die "$tool missing"
done
(( PROFILE )) && { command -v perf >/dev/null || die "perf missing (--profile)"; }
if (( PROFILE )) && [[ -z "$OUT" ]]; then OUT=$(mktemp -d /tmp/bench-client.XXXXXX); fi
if [[ -n "$OUT" ]]; then mkdir -p "$OUT"; OUT=$(readlink -f -- "$OUT"); fi

CLK_TCK=$(getconf CLK_TCK)
NCPU=$(nproc)
if [[ "$PIN" == split ]]; then
	mapfile -t CPUS < <(taskset -cp $$ | sed 's/.*: //' | tr ',' '\n' |
		awk -F- '{ if (NF == 2) for (i = $1; i <= $2; i++) print i; else print $1 }')
	(( ${#CPUS[@]} >= 2 )) || die "--pin split needs two CPUs (have ${CPUS[*]})"
	CPU_CLIENT=${CPUS[0]}
	CPU_GW=${CPUS[1]}
fi

# Proposals: the reference connection psk-SUITE-GROUP offers exactly these.
if [[ "$SUITE" == gcm ]]; then
	IKE_PROP="aes256gcm16-prfsha256-$GROUP"; ESP_PROP="aes256gcm16-$GROUP"
else
	IKE_PROP="aes256-sha256-$GROUP"; ESP_PROP="aes256-sha256-$GROUP"
fi
REF_CONN="psk-$SUITE-$GROUP"
OUR_NAME=bench

# ---------------------------------------------------------------------------
# Measurement helpers.
# ---------------------------------------------------------------------------

# cpu_ticks PID: utime+stime of the whole process (every thread, dead ones
# included), in clock ticks. The command name may hold spaces: cut after ')'.
cpu_ticks() {
	local s
	s=$(cat "/proc/$1/stat") || die "process $1 is gone"
	s=${s##*) }
	awk '{ print $12 + $13 }' <<<"$s"
}

# sys_cpu: "total idle" jiffies of the machine (all CPUs).
sys_cpu() { awk '/^cpu / { print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6; exit }' /proc/stat; }

# busy_pct "T0 I0" "T1 I1": share of the machine (all CPUs) that was busy.
busy_pct() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x); split(b, y); d = y[1] - x[1];
	printf "%.0f", (d > 0 ? 100 * (d - (y[2] - x[2])) / d : 0) }'; }

status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# sw ROLE ARGS: swanctl on the gateway's (gw) or reference client's (ref)
# socket, from the root namespace (what lab.sh swanctl does, minus a bash).
sw() {
	local role=$1
	shift
	if [[ $role == gw ]]; then
		STRONGSWAN_CONF="$LAB_GW_STRONGSWAN_CONF" SWANCTL_DIR="$LAB_GW_SWANCTL_DIR" timeout 60 swanctl "$@"
	else
		STRONGSWAN_CONF="$LAB_REF_STRONGSWAN_CONF" SWANCTL_DIR="$LAB_REF_SWANCTL_DIR" timeout 60 swanctl "$@"
	fi
}

# gw_raw: the gateway's SA list, raw (one line per IKE SA).
gw_raw() { sw gw --list-sas --raw | grep '^list-sa event' || true; }

# gw_field RAW KEY: first KEY=value of the raw text.
gw_field() { grep -o "[ {]$2=[^ }]*" <<<"$1" | head -n 1 | cut -d= -f2- || true; }

# gw_esp_counters: "bytes_in packets_in bytes_out packets_out" of the
# gateway's one child SA (its view: in = from the client).
gw_esp_counters() {
	local raw
	raw=$(gw_raw)
	echo "$(gw_field "$raw" bytes-in) $(gw_field "$raw" packets-in)" \
		"$(gw_field "$raw" bytes-out) $(gw_field "$raw" packets-out)"
}

# gw_suite: the IKE and ESP algorithms the gateway negotiated, one string.
gw_suite() {
	local raw ike child
	raw=$(gw_raw)
	[[ -n "$raw" ]] || { echo none; return; }
	ike=${raw%%child-sas*}
	child=${raw#*child-sas}
	echo "IKE $(gw_field "$ike" encr-alg)/$(gw_field "$ike" encr-keysize)" \
		"$(gw_field "$ike" integ-alg) $(gw_field "$ike" prf-alg) $(gw_field "$ike" dh-group);" \
		"ESP $(gw_field "$child" encr-alg)/$(gw_field "$child" encr-keysize) $(gw_field "$child" integ-alg)" |
		tr -s ' ' | sed 's/ ;/;/; s/ *$//'
}

gw_wait_no_sa() {
	local i
	for i in $(seq 1 100); do
		[[ -z "$(gw_raw)" ]] && return 0
		sleep 0.05
	done
	die "the gateway still has an IKE SA 5 s after the disconnect"
}

# udp_rcvbuf_errors HOST: datagrams the kernel dropped in HOST because a
# UDP socket's receive buffer was full (the ESP socket of a daemon that does
# not keep up), from the namespace's /proc/net/snmp.
udp_rcvbuf_errors() {
	# shellcheck disable=SC2016 # awk program
	lab_exec "$PREFIX" "$1" awk '$1 == "Udp:" { if (!h) { for (i = 2; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 }
		else print $c }' /proc/net/snmp
}

# bg_wait PID: wait for a command started in the background. Long commands
# run that way because bash runs a trap only after a foreground command has
# ended, while `wait` returns at once on a trapped signal: an interrupt or
# the time box then takes the lab down at once.
bg_wait() {
	local rc=0
	BG_PIDS+=("$1")
	wait "$1" || rc=$?
	bg_forget "$1"
	return $rc
}

# iperf_run FILE ARGS: the iperf3 client in the client namespace, JSON to
# FILE (pinned with the client daemon under --pin split).
iperf_run() {
	local f=$1 pin=()
	shift
	[[ "$PIN" == split ]] && pin=(taskset -c "$CPU_CLIENT")
	ip netns exec "$LAB_NS_CLI" "${pin[@]}" timeout $(( TIME + 15 )) \
		iperf3 -J -c "$LAB_LAN_ADDR" -p "$LAB_IPERF_PORT" "$@" >"$f" 2>&1 &
	bg_wait $!
}

# diagnose C: the state of a tunnel that failed to carry a run, for the
# report: does it still pass pings, what the gateway and the client count.
diagnose() {
	local c=$1
	echo "[bench] --- diagnosis ($c) ---" >&2
	{
		echo "ping through the tunnel:"
		ip netns exec "$LAB_NS_CLI" ping -n -q -c 5 -i 0.2 -W 1 "$LAB_LAN_ADDR" 2>&1 | tail -n 2
		echo "gateway SA: $(gw_raw | grep -o 'state=[A-Z]*\|bytes-[a-z]*=[0-9]*\|packets-[a-z]*=[0-9]*' | tr '\n' ' ')"
		echo "client process $CPID: $(awk '{ print "state", $3 }' "/proc/$CPID/stat" 2>/dev/null || echo gone)"
		if [[ $c == ours ]]; then
			echo "vpnctl status:"; vpnctl --timeout 5 status "$OUR_NAME" --json 2>&1
			echo "vpnd log (last 20 lines):"; tail -n 20 "$(vpnd_dir)/vpnd.log"
		else
			echo "reference client log (last 20 lines):"; tail -n 20 "$LAB_REF_LOG"
		fi
		echo "tunnel devices:"; ip -n "$LAB_NS_CLI" -s link show type tun
	} >&2 || true
}

# Figures: R[client.metric] holds every sample, space-separated.
declare -A R
add() { R[$1]="${R[$1]:+${R[$1]} }$2"; }
# stat3 KEY: "median min max" of the samples (empty if none).
stat3() {
	tr ' ' '\n' <<<"${R[$1]:-}" | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) exit; m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		print m, v[1], v[NR] }'
}
med() { local s; s=$(stat3 "$1"); echo "${s%% *}"; }

# ---------------------------------------------------------------------------
# The two clients behind one interface: start, pid, connect, disconnect, stop.
# ---------------------------------------------------------------------------
# Our vpnd: files under $LAB_DIR/vpnd (control socket, profiles, state),
# logging as the reference client's charon does (debug level, to a file).
# Started directly (not through a shell function) so $! is vpnd itself:
# `ip netns exec` execs it.
vpnd_dir() { echo "$LAB_DIR/vpnd"; }
vpnd_start() {
	local d i
	d=$(vpnd_dir)
	mkdir -p "$d/profiles" "$d/state"
	chmod 0700 "$d" "$d/profiles" "$d/state"
	# The profile holds the PSK: 0600, as vpnd wants.
	(umask 077; cat >"$d/profiles/$OUR_NAME.conf") <<EOF
[connection]
gateway = $LAB_GW_ADDR
remote_id = $LAB_GW_ID
local_id = $LAB_PSK_ID
auth = psk
psk = $LAB_PSK
ike = $IKE_PROP
esp = $ESP_PROP
EOF
	local dns=()
	(( NO_DNS )) && dns=(--resolv-conf "")
	ip netns exec "$LAB_NS_CLI" "$VPND" --foreground --debug --socket "$d/vpnd.sock" \
		--profiles "$d/profiles" --state-dir "$d/state" "${dns[@]}" >>"$d/vpnd.log" 2>&1 &
	VPND_PID=$!
	for i in $(seq 1 100); do
		[[ -S "$d/vpnd.sock" ]] && return 0
		kill -0 "$VPND_PID" 2>/dev/null || { tail -n 20 "$d/vpnd.log" >&2; die "vpnd exited at start"; }
		sleep 0.05
	done
	die "vpnd did not open its control socket within 5 s"
}

# vpnd_stop: SIGTERM, wait (bounded); a non-zero exit is reported.
vpnd_stop() {
	local i rc
	[[ -n "${VPND_PID:-}" ]] || return 0
	kill -TERM "$VPND_PID" 2>/dev/null || true
	for i in $(seq 1 100); do
		if ! kill -0 "$VPND_PID" 2>/dev/null; then
			wait "$VPND_PID" && rc=0 || rc=$?
			VPND_PID=
			if (( rc != 0 )); then
				# The log goes with the lab: show its end (a sanitizer
				# report of an instrumented build lands there).
				tail -n 40 "$(vpnd_dir)/vpnd.log" >&2
				die "vpnd exited with status $rc on SIGTERM (its log's end above)"
			fi
			return 0
		fi
		sleep 0.05
	done
	die "vpnd did not stop within 5 s of SIGTERM"
}

vpnctl() { "$VPNCTL" --socket "$(vpnd_dir)/vpnd.sock" "$@"; }

client_start() {
	case $1 in
	ref)
		lab_ref_start "$PREFIX" || die "reference client did not start"
		CPID=$(cat "$LAB_DIR/ref/charon.pid")
		;;
	ours)
		vpnd_start
		CPID=$VPND_PID
		[[ "$(cat "/proc/$CPID/comm")" == vpnd ]] || die "pid $CPID is not vpnd"
		;;
	esac
	if [[ "$PIN" == split ]]; then
		taskset -a -cp "$CPU_CLIENT" "$CPID" >/dev/null
	fi
}

# client_alive C: the client process still runs (a crash is a finding).
client_alive() {
	local st
	st=$(awk '{ print $3 }' "/proc/$CPID/stat" 2>/dev/null) || st=
	[[ -n "$st" && "$st" != Z ]] || die "$1: the client process $CPID is gone (crash?); see the logs"
}

client_connect() {
	case $1 in
	ref)
		STRONGSWAN_CONF="$LAB_REF_STRONGSWAN_CONF" SWANCTL_DIR="$LAB_REF_SWANCTL_DIR" timeout 30 \
			swanctl --initiate --child "$REF_CONN" --timeout 20 >"$LAB_DIR/ref/initiate.out" 2>&1 &
		bg_wait $! || { cat "$LAB_DIR/ref/initiate.out" >&2; return 1; } ;;
	ours)
		"$VPNCTL" --socket "$(vpnd_dir)/vpnd.sock" --timeout 20 up "$OUR_NAME" >"$LAB_DIR/vpnd/up.out" 2>&1 &
		bg_wait $! || { cat "$LAB_DIR/vpnd/up.out" >&2; return 1; } ;;
	esac
}

client_disconnect() {
	case $1 in
	ref)  sw ref --terminate --ike "$REF_CONN" --timeout 10 >/dev/null 2>&1 || die "swanctl --terminate failed" ;;
	ours) vpnctl down "$OUR_NAME" >/dev/null || die "vpnctl down failed" ;;
	esac
	gw_wait_no_sa
}

client_stop() {
	case $1 in
	ref)  lab_ref_stop "$PREFIX" || die "reference client did not stop" ;;
	ours) vpnd_stop ;;
	esac
}

# tunnel_mtu: MTU of the tunnel device in the client namespace (ipsec0 for
# strongSwan's kernel-libipsec, vpn* for ours).
tunnel_mtu() {
	lab_exec "$PREFIX" cli ip -o link show type tun | awk '{ for (i = 1; i < NF; i++) if ($i == "mtu") print $2 " mtu " $(i + 1) }' |
		tr -d ':' | paste -sd, -
}

# ---------------------------------------------------------------------------
# One client, one round.
# ---------------------------------------------------------------------------

# measure_connect C: REPS connects, each timed, each but the last undone.
# The ping runs throughout (it gets "net unreachable" from the internet
# router until the tunnel routes the LAN); its first stamped reply is the
# moment the tunnel carried traffic both ways.
measure_connect() {
	local c=$1 i t0 t1 pf ppid ts usable cmd
	pf="$LAB_DIR/ping.out"
	for i in $(seq 1 "$REPS"); do
		[[ -z "$(gw_raw)" ]] || die "gateway has an SA before connect $i"
		t0=$(ns_ms)
		lab_exec "$PREFIX" cli timeout 20 ping -D -n -i 0.002 "$LAB_LAN_ADDR" >"$pf" 2>&1 &
		ppid=$!
		BG_PIDS+=("$ppid")
		client_connect "$c" || die "$c: connect $i failed"
		t1=$(ns_ms)
		ts=
		while [[ -z "$ts" ]] && kill -0 "$ppid" 2>/dev/null; do
			ts=$(sed -n 's/^\[\([0-9]*\.[0-9]*\)\] [0-9]* bytes from.*/\1/p' "$pf" | head -n 1)
			[[ -n "$ts" ]] || sleep 0.01
		done
		kill -TERM "$ppid" 2>/dev/null || true
		wait "$ppid" 2>/dev/null || true
		bg_forget "$ppid"
		[[ -n "$ts" ]] || { tail -n 5 "$pf" >&2; die "$c: no ping reply through the tunnel within 20 s"; }
		usable=$(awk -v t="$ts" -v z="$t0" 'BEGIN { printf "%.1f", t * 1000 - z / 1e6 }')
		cmd=$(awk -v a="$t1" -v z="$t0" 'BEGIN { printf "%.1f", (a - z) / 1e6 }')
		add "$c.connect_usable_ms" "$usable"
		add "$c.connect_cmd_ms" "$cmd"
		log "$c: connect $i: usable after $usable ms, command returned after $cmd ms"
		if (( i < REPS )); then client_disconnect "$c"; fi
	done
	SUITE_SEEN[$c]=$(gw_suite)
	MTU_SEEN[$c]=$(tunnel_mtu)
	log "$c: negotiated ${SUITE_SEEN[$c]}; tunnel device ${MTU_SEEN[$c]}"
}

# measure_iperf C KIND ARGS: one iperf3 run with CPU accounting.
measure_iperf() {
	local c=$1 kind=$2 f c0 c1 g0 g1 s0 s1 e0 e1 bytes bps retr cs gs busy d0 d1 q0 q1 gd qd
	shift 2
	f="$LAB_DIR/iperf-$c-$kind-r$ROUND.json"
	e0=$(gw_esp_counters)
	d0=$(udp_rcvbuf_errors gw); q0=$(udp_rcvbuf_errors cli)
	s0=$(sys_cpu); c0=$(cpu_ticks "$CPID"); g0=$(cpu_ticks "$GWPID")
	client_alive "$c"
	if ! iperf_run "$f" -t "$TIME" "$@"; then
		jq -r '.error // empty' "$f" >&2 2>/dev/null || tail -n 5 "$f" >&2
		diagnose "$c"
		die "$c: iperf3 $kind failed (exit status, or no result within $(( TIME + 15 )) s)"
	fi
	client_alive "$c"
	c1=$(cpu_ticks "$CPID"); g1=$(cpu_ticks "$GWPID"); s1=$(sys_cpu)
	e1=$(gw_esp_counters)
	d1=$(udp_rcvbuf_errors gw); q1=$(udp_rcvbuf_errors cli)
	gd=$(( d1 - d0 )); qd=$(( q1 - q0 ))
	add "$c.$kind.gw_rcvbuf_drops" "$gd"
	add "$c.$kind.cli_rcvbuf_drops" "$qd"
	if [[ -n "$OUT" ]]; then cp "$f" "$OUT/"; fi
	bytes=$(jq -r '.end.sum_received.bytes' "$f")
	bps=$(jq -r '.end.sum_received.bits_per_second' "$f")
	retr=$(jq -r '.end.sum_sent.retransmits // 0' "$f")
	if ! [[ "$bytes" =~ ^[0-9]+$ ]] || (( bytes == 0 )); then die "$c: iperf3 $kind moved no bytes"; fi
	cs=$(awk -v a="$c0" -v b="$c1" -v t="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / t }')
	gs=$(awk -v a="$g0" -v b="$g1" -v t="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / t }')
	busy=$(busy_pct "$s0" "$s1")
	add "$c.$kind.mbit" "$(awk -v b="$bps" 'BEGIN { printf "%.1f", b / 1e6 }')"
	add "$c.$kind.gb" "$(awk -v b="$bytes" 'BEGIN { printf "%.3f", b / 1e9 }')"
	add "$c.$kind.cpu_s" "$cs"
	add "$c.$kind.cpu_s_per_gb" "$(awk -v s="$cs" -v b="$bytes" 'BEGIN { printf "%.2f", s / (b / 1e9) }')"
	add "$c.$kind.gw_cpu_s_per_gb" "$(awk -v s="$gs" -v b="$bytes" 'BEGIN { printf "%.2f", s / (b / 1e9) }')"
	add "$c.$kind.retransmits" "$retr"
	add "$c.$kind.machine_busy_pct" "$busy"
	# ESP packets both ways, as the gateway counted them.
	add "$c.$kind.esp_pkts" "$(awk -v a="$e0" -v b="$e1" 'BEGIN { split(a, x); split(b, y);
		print (y[2] - x[2]) + (y[4] - x[4]) }')"
	log "$c: $kind: $(awk -v b="$bps" 'BEGIN { printf "%.0f", b / 1e6 }') Mbit/s," \
		"$(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1e9 }') GB, client $cs CPU-s, gateway $gs CPU-s," \
		"machine $busy% busy, $retr retransmits; UDP receive-buffer drops: gateway $gd, client $qd"
}

# profile_run C DIR ARGS: one extra iperf3 run under perf; syscalls per ESP
# packet and the top symbols of the client process.
profile_run() {
	local c=$1 kind=$2 base ip ps pr e0 e1 pkts ev sc
	shift 2
	base="$OUT/profile-$c-$kind-r$ROUND"
	ev=raw_syscalls:sys_enter
	for sc in read readv write writev recvmsg recvmmsg recvfrom sendmsg sendmmsg sendto \
		epoll_wait epoll_pwait epoll_pwait2 poll ppoll select pselect6 futex io_uring_enter; do
		ev+=",syscalls:sys_enter_$sc"
	done
	ip netns exec "$LAB_NS_CLI" timeout $(( PROF_TIME + 30 )) iperf3 -J -c "$LAB_LAN_ADDR" -p "$LAB_IPERF_PORT" \
		-t $(( PROF_TIME + 2 )) "$@" >"$base.iperf.json" 2>&1 &
	ip=$!
	BG_PIDS+=("$ip")
	sleep 1
	e0=$(gw_esp_counters)
	perf stat -x, -e "$ev" -p "$CPID" -o "$base.syscalls.csv" -- sleep "$PROF_TIME" 2>/dev/null &
	ps=$!
	BG_PIDS+=("$ps")
	perf record -q -F 999 -p "$CPID" -o "$base.perf.data" -- sleep "$PROF_TIME" >/dev/null 2>&1 &
	pr=$!
	BG_PIDS+=("$pr")
	wait "$ps" || log "$c: perf stat failed (see $base.syscalls.csv)"
	wait "$pr" || log "$c: perf record failed"
	e1=$(gw_esp_counters)
	wait "$ip" || log "$c: profiled iperf3 $kind failed"
	bg_forget "$ip"; bg_forget "$ps"; bg_forget "$pr"
	pkts=$(awk -v a="$e0" -v b="$e1" 'BEGIN { split(a, x); split(b, y); print (y[2] - x[2]) + (y[4] - x[4]) }')
	perf report -i "$base.perf.data" --stdio --no-children --sort dso,sym --percent-limit 1 \
		>"$base.report.txt" 2>/dev/null || true
	perf report -i "$base.perf.data" --stdio --no-children --sort dso --percent-limit 0.5 \
		>"$base.report-dso.txt" 2>/dev/null || true
	# A report that perf could not make leaves its lines out; the run goes on.
	{
		set +e
		echo "$c $kind: $pkts ESP packets (both ways, gateway's count) in ${PROF_TIME}s"
		awk -F, -v p="$pkts" '$1 ~ /^[0-9]+$/ && $1 > 0 {
			n = $3; sub(/^syscalls:sys_enter_/, "", n); sub(/^raw_syscalls:sys_enter/, "ALL", n)
			printf "  %-14s %10d  %6.3f per ESP packet\n", n, $1, (p > 0 ? $1 / p : 0) }' "$base.syscalls.csv"
		echo "  where the client's CPU time goes (perf record, % of its samples):"
		grep -E '^ +[0-9.]+%' "$base.report-dso.txt" | awk '{ printf "%s%s %s", (NR > 1 ? ", " : "    "), $1, $2 } END { print "" }'
		echo "  top symbols:"
		grep -E '^ +[0-9.]+%' "$base.report.txt" | head -n 12 | sed 's/^ */    /'
		true
	} | tee "$base.summary.txt"
	add "$c.$kind.syscalls_per_pkt" "$(awk -F, -v p="$pkts" '$3 == "raw_syscalls:sys_enter" && p > 0 {
		printf "%.3f", $1 / p }' "$base.syscalls.csv")"
}

run_client() {
	local c=$1 k
	log "=== round $ROUND: $( [[ $c == ref ]] && echo "strongSwan's client ($REF_CONN)" || echo "our client (vpnd, $IKE_PROP / $ESP_PROP)") ==="
	[[ -z "$(gw_raw)" ]] || die "the gateway has an SA before $c starts"
	client_start "$c"
	measure_connect "$c"
	measure_iperf "$c" up
	measure_iperf "$c" down -R
	if (( PAR > 0 )); then
		measure_iperf "$c" "up_p$PAR" -P "$PAR"
		measure_iperf "$c" "down_p$PAR" -R -P "$PAR"
	fi
	for k in VmHWM VmRSS; do add "$c.${k,,}_kib" "$(status_kib "$CPID" "$k")"; done
	add "$c.threads" "$(status_kib "$CPID" Threads)"
	log "$c: peak RSS $(status_kib "$CPID" VmHWM) KiB, RSS now $(status_kib "$CPID" VmRSS) KiB," \
		"$(status_kib "$CPID" Threads) threads"
	if (( PROFILE )); then
		profile_run "$c" up
		profile_run "$c" down -R
	fi
	client_disconnect "$c"
	client_stop "$c"
}

# ---------------------------------------------------------------------------
# Main.
# ---------------------------------------------------------------------------
declare -A SUITE_SEEN MTU_SEEN
log "prefix $PREFIX, build $BUILD, suite $IKE_PROP / $ESP_PROP, $REPS connects," \
	"${TIME}s iperf3 runs, parallel $PAR, $ROUNDS round(s), pin $PIN, ours $( (( NO_DNS )) && echo "without" || echo "with") DNS, bound ${BENCH_BOUND}s"
log "machine: $NCPU CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), kernel $(uname -r)"
LAB_IS_UP=1
lab_up "$PREFIX" || die "lab up failed"
lab_load_env "$PREFIX"
GWPID=$(cat "$LAB_DIR/gw/charon.pid")
if [[ "$PIN" == split ]]; then
	taskset -a -cp "$CPU_GW" "$GWPID" >/dev/null
	for pid in $(ip netns pids "$LAB_NS_LAN"); do
		[[ "$(cat "/proc/$pid/comm")" == iperf3 ]] && taskset -a -cp "$CPU_GW" "$pid" >/dev/null
	done
	log "pinned: client daemon and iperf3 client on CPU $CPU_CLIENT; gateway charon and iperf3 server on CPU $CPU_GW"
fi

for ROUND in $(seq 1 "$ROUNDS"); do
	s0=$(sys_cpu); sleep 1; s1=$(sys_cpu)
	add "background_busy_pct" "$(busy_pct "$s0" "$s1")"
	log "round $ROUND: machine busy before (1 s, lab idle): $(busy_pct "$s0" "$s1")%"
	if (( ROUND % 2 )); then order="ref ours"; else order="ours ref"; fi
	for c in $order; do run_client "$c"; done
done

[[ "${SUITE_SEEN[ref]}" == "${SUITE_SEEN[ours]}" ]] ||
	die "the clients negotiated different suites: ref '${SUITE_SEEN[ref]}', ours '${SUITE_SEEN[ours]}'"

# ---------------------------------------------------------------------------
# Report.
# ---------------------------------------------------------------------------
KINDS="up down"
(( PAR > 0 )) && KINDS+=" up_p$PAR down_p$PAR"
KV=()
kv() { KV+=("$1=$2"); }

# fmt KEY: "median [min..max]" for the table.
fmt() {
	local s
	s=$(stat3 "$1")
	[[ -n "$s" ]] || { echo "-"; return; }
	awk -v s="$s" 'BEGIN { split(s, v)
		f = (v[1] >= 100 || v[1] == int(v[1])) ? "%.0f" : "%.1f"
		if (v[2] == v[3]) printf f, v[1]; else printf f " [" f ".." f "]", v[1], v[2], v[3] }'
}
ratio() { awk -v a="$(med "ours.$1")" -v b="$(med "ref.$1")" 'BEGIN { if (a != "" && b > 0) printf "%.2f", a / b; else print "-" }'; }

# row LABEL METRIC BAR: BAR is ge or le (ours must be >= or <= strongSwan's),
# - (no bar) or none (no bar and no ratio: a figure of the whole machine).
BARS_ALL=1
row() {
	local label=$1 m=$2 bar=$3 r=- verdict=""
	[[ $bar == none ]] || r=$(ratio "$m")
	if [[ $bar == ge || $bar == le ]] && [[ $r != - ]]; then
		if awk -v a="$(med "ours.$m")" -v b="$(med "ref.$m")" -v o="$bar" \
			'BEGIN { exit !(o == "ge" ? a >= b : a <= b) }'; then
			verdict="bar met"; kv "bench.bar.$m" met
		else
			verdict="bar NOT met"; kv "bench.bar.$m" not_met; BARS_ALL=0
		fi
	fi
	printf '%-38s %-22s %-22s %-6s %s\n' "$label" "$(fmt "ref.$m")" "$(fmt "ours.$m")" "$r" "$verdict"
}

kind_label() {
	case $1 in
	up) echo "up (1 stream)" ;;
	down) echo "down (1 stream)" ;;
	up_p*) echo "up (${1#up_p} streams)" ;;
	down_p*) echo "down (${1#down_p} streams)" ;;
	esac
}

echo
echo "=== vpnctl client benchmark: ours (vpnd) vs strongSwan's client, same lab gateway ==="
echo "suite: ${SUITE_SEEN[ours]} (both); tunnel devices: ref ${MTU_SEEN[ref]}, ours ${MTU_SEEN[ours]}"
echo "$ROUNDS round(s), $REPS connects per client and round, ${TIME}s iperf3 TCP runs, pin $PIN," \
	"ours $( (( NO_DNS )) && echo "without DNS (like strongSwan's client here)" || echo "with DNS (strongSwan's client here sets none)")," \
	"$NCPU CPUs; machine busy before the runs: $(fmt background_busy_pct)%"
echo "median [min..max] over rounds (connect: over all repetitions); ratio = ours / strongSwan"
echo
printf '%-38s %-22s %-22s %-6s %s\n' "figure" "strongSwan client" "ours (vpnd)" "ratio" "bar"
printf '%s\n' "$(printf '%.0s-' {1..110})"
row "connect, usable (ms)" connect_usable_ms -
row "connect, command returned (ms)" connect_cmd_ms -
for k in $KINDS; do
	row "throughput $(kind_label "$k") (Mbit/s)" "$k.mbit" ge
done
for k in $KINDS; do
	row "client CPU-s/GB $(kind_label "$k")" "$k.cpu_s_per_gb" le
done
for k in $KINDS; do
	row "gateway CPU-s/GB $(kind_label "$k")" "$k.gw_cpu_s_per_gb" -
done
for k in $KINDS; do
	row "machine busy % $(kind_label "$k")" "$k.machine_busy_pct" none
done
for k in up down; do
	row "TCP retransmits $(kind_label "$k")" "$k.retransmits" -
done
for k in up down; do
	row "UDP rcvbuf drops $k: gateway" "$k.gw_rcvbuf_drops" none
	row "UDP rcvbuf drops $k: client" "$k.cli_rcvbuf_drops" none
done
if (( PROFILE )); then
	for k in up down; do row "syscalls per ESP packet $k" "$k.syscalls_per_pkt" -; done
fi
row "peak RSS VmHWM (KiB)" vmhwm_kib -
row "RSS after the runs (KiB)" vmrss_kib -
row "threads" threads -
echo
echo "bars (issue): throughput ours >= strongSwan's, client CPU per GB ours <= strongSwan's:" \
	"$( (( BARS_ALL )) && echo "all met" || echo "NOT all met")"
(( ! PROFILE )) || echo "profiles, syscall counts and perf reports: $OUT"

# Machine-readable: medians (with .min and .max where there were several
# samples), the ratios of the figures that have a bar or compare the
# clients' cost, and the verdicts.
# kv_stat KEY: median, min and max of samples KEY as bench.KEY[.min|.max].
kv_stat() {
	local a b d
	read -r a b d <<<"$(stat3 "$1")"
	[[ -n "$a" ]] || return 0
	kv "bench.$1" "$a"
	if [[ "$(wc -w <<<"${R[$1]}")" -gt 1 ]]; then kv "bench.$1.min" "$b"; kv "bench.$1.max" "$d"; fi
}
kv bench.suite "\"${SUITE_SEEN[ours]}\""
kv bench.rounds "$ROUNDS"; kv bench.reps "$REPS"; kv bench.iperf_seconds "$TIME"; kv bench.pin "$PIN"
kv bench.cpus "$NCPU"; kv bench.ours_dns "$( (( NO_DNS )) && echo no || echo yes)"; kv_stat background_busy_pct
for m in connect_usable_ms connect_cmd_ms vmhwm_kib vmrss_kib threads; do
	for c in ref ours; do kv_stat "$c.$m"; done
	kv "bench.ratio.$m" "$(ratio "$m")"
done
for k in $KINDS; do
	for m in mbit cpu_s_per_gb gw_cpu_s_per_gb syscalls_per_pkt cpu_s gb esp_pkts retransmits gw_rcvbuf_drops cli_rcvbuf_drops machine_busy_pct; do
		[[ -n "${R[ref.$k.$m]:-}${R[ours.$k.$m]:-}" ]] || continue
		for c in ref ours; do kv_stat "$c.$k.$m"; done
		case $m in mbit|cpu_s_per_gb|gw_cpu_s_per_gb|syscalls_per_pkt) kv "bench.ratio.$k.$m" "$(ratio "$k.$m")" ;; esac
	done
done
kv bench.bars_all_met "$( (( BARS_ALL )) && echo yes || echo no)"
echo
echo "--- machine-readable ---"
printf '%s\n' "${KV[@]}"
if [[ -n "$JSON" ]]; then
	printf '%s\n' "${KV[@]}" | jq -R -n '[inputs | capture("^(?<k>[^=]+)=(?<v>.*)$")]
		| map({key: .k, value: (.v | (tonumber? // (if startswith("\"") then fromjson else . end)))})
		| from_entries' >"$JSON"
	log "summary written to $JSON"
fi
