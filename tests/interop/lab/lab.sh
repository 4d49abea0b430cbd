#!/bin/bash
# vpnctl interoperability lab: network namespaces around a strongSwan gateway.
#
# Two ways to use this file (the interface is documented in tests/interop/README.md):
#   - as a command:  lab.sh up PREFIX | down PREFIX | exec PREFIX HOST CMD... | ...
#   - as a library:  source lab.sh; lab_up PREFIX; lab_load_env PREFIX; ...
# The library functions run this file as a separate bash process, so its
# `set -e` keeps working even when the caller writes `lab_up P || fail`
# (bash ignores errexit inside functions called from an || or if context).
#
# Every instance is named by PREFIX: its namespaces are PREFIX-<host> and its
# files live in $LAB_TMPDIR/vpnlab.PREFIX. Nothing outside those namespaces and
# that directory is touched, so instances with different prefixes run side by
# side and the host's own network stays as it was.

_LAB_SELF="$(readlink -f -- "${BASH_SOURCE[0]}")"

# ---------------------------------------------------------------------------
# Library mode: thin wrappers around the command.
# ---------------------------------------------------------------------------
if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
	# The owner is this script ($$ stays the script in a subshell), for `sweep`.
	lab_up()             { LAB_OWNER_PID=${LAB_OWNER_PID:-$$} "$_LAB_SELF" up "$@"; }
	lab_down()           { "$_LAB_SELF" down "$@"; }
	lab_status()         { "$_LAB_SELF" status "$@"; }
	lab_env_file()       { "$_LAB_SELF" env "$@"; }
	lab_udp_block()      { "$_LAB_SELF" udp-block "$@"; }
	lab_blackhole()      { "$_LAB_SELF" blackhole "$@"; }
	lab_uplink()         { "$_LAB_SELF" uplink "$@"; }
	lab_counters()       { "$_LAB_SELF" counters "$@"; }
	lab_counter()        { "$_LAB_SELF" counter "$@"; }
	lab_gw_stop()        { "$_LAB_SELF" gw-stop "$@"; }
	lab_gw_start()       { "$_LAB_SELF" gw-start "$@"; }
	lab_gw_restart()     { "$_LAB_SELF" gw-restart "$@"; }
	lab_swanctl()        { "$_LAB_SELF" swanctl "$@"; }
	lab_ref_start()      { "$_LAB_SELF" ref-start "$@"; }
	lab_ref_stop()       { "$_LAB_SELF" ref-stop "$@"; }
	lab_ref_connect()    { "$_LAB_SELF" ref-connect "$@"; }
	lab_ref_disconnect() { "$_LAB_SELF" ref-disconnect "$@"; }
	# lab_exec PREFIX HOST CMD...: run CMD inside one of the lab's hosts.
	lab_exec() {
		local p=$1 h=$2
		shift 2
		ip netns exec "$p-$h" "$@"
	}
	# lab_load_env PREFIX: import the instance's facts (LAB_* variables).
	lab_load_env() {
		local f
		f="$("$_LAB_SELF" env "$1")" || return 1
		# shellcheck source=/dev/null
		source "$f"
	}
	return 0
fi

set -euo pipefail
umask 077

# ---------------------------------------------------------------------------
# Fixed facts of every instance (identical in all instances: each instance
# has its own namespaces, so addresses never clash).
# ---------------------------------------------------------------------------
LAB_HOSTS="cli home carrier inet gw lan"
CHARON=${LAB_CHARON:-/usr/lib/ipsec/charon}
LAB_TMPDIR=${LAB_TMPDIR:-/tmp}
LAB_WAIT=${LAB_WAIT:-15}          # seconds to wait for a daemon to come up
LAB_KEY_TYPE=${LAB_KEY_TYPE:-rsa} # rsa (2048 bit) or ecdsa (P-256) for CA, gateway and client

# Client: two uplinks.
CLI_WIFI_IF=wifi0;  CLI_WIFI_ADDR=192.168.1.100; HOME_LAN_ADDR=192.168.1.1;  WIFI_NET=192.168.1.0/24
CLI_LTE_IF=lte0;    CLI_LTE_ADDR=10.64.0.100;    CARRIER_LAN_ADDR=10.64.0.1; LTE_NET=10.64.0.0/24
WIFI_METRIC=100;    LTE_METRIC=200
# "Internet" (documentation ranges).
HOME_WAN_ADDR=198.51.100.10;  INET_HOME_ADDR=198.51.100.1;  HOME_WAN_PLEN=24
CARRIER_WAN_ADDR=203.0.113.10; INET_CARRIER_ADDR=203.0.113.1; CARRIER_WAN_PLEN=24
GW_ADDR=192.0.2.10;           INET_GW_ADDR=192.0.2.1;       GW_WAN_PLEN=25
INET_HOST_ADDR=192.0.2.200    # an "internet server" address on the router's loopback
# Behind the gateway.
LAN_NET=172.16.10.0/24; GW_LAN_ADDR=172.16.10.1; LAN_ADDR=172.16.10.10; DNS_ADDR=172.16.10.53
DNS_NAME=lan.corp.example.org   # the one name the LAN's DNS server answers (with LAN_ADDR)
POOL_SPLIT=10.200.0.0/24; POOL_FULL=10.201.0.0/24
IPERF_PORT=5201
# Identities.
GW_ID=gw.example.org
PSK_ID=psk@example.org
PSK_FULL_ID=psk-full@example.org
CLIENT_ID=client@example.org
EAP_USER=eapuser
# IKE and ESP proposals the gateway accepts. Every DH group the client may
# use is listed by name, so a client can negotiate each one.
# LAB_GW_IKE_GROUPS narrows them (for INVALID_KE_PAYLOAD tests).
IKE_GROUPS=${LAB_GW_IKE_GROUPS:-curve25519-ecp256-ecp384-modp3072-modp2048}
IKE_PROPOSALS="aes256gcm16-aes128gcm16-chacha20poly1305-prfsha256-prfsha384-prfsha512-$IKE_GROUPS, aes256-aes128-sha256-sha384-sha512-$IKE_GROUPS"
# Without groups for the first Child SA and rekeys without PFS, with groups
# for rekeys with PFS. No extended sequence numbers: kernel-libipsec has
# none ("IPsec SA: ESN not supported"), so ESN is proven by unit tests only.
ESP_PROPOSALS="aes256gcm16-aes128gcm16-chacha20poly1305, aes256gcm16-aes128gcm16-chacha20poly1305-$IKE_GROUPS, aes256-aes128-sha256-sha384-sha512, aes256-aes128-sha256-sha384-sha512-$IKE_GROUPS"
CHARON_PLUGINS="random nonce openssl pem pkcs1 pkcs8 x509 revocation constraints pubkey kdf hmac sha2 sha1 aes gcm chapoly gmp curve25519 kernel-libipsec kernel-netlink socket-default vici eap-identity eap-mschapv2"
TOOL_PLUGINS="random nonce openssl pem pkcs1 pkcs8 x509 pubkey kdf hmac sha2 sha1 aes gmp curve25519"

# ---------------------------------------------------------------------------
# Helpers.
# ---------------------------------------------------------------------------
die()  { echo "lab.sh: $*" >&2; exit 1; }
note() { echo "lab.sh: $*" >&2; }

usage() {
	cat >&2 <<'EOF'
usage: lab.sh COMMAND PREFIX [ARGS]
  up PREFIX                          build the lab (removes a stale instance first)
  down PREFIX                        kill every process in the lab, delete namespaces and files
  sweep                              take down every instance whose owner (the process that
                                     ran `up`, or LAB_OWNER_PID) is gone: leftovers of a run
                                     that was killed before its traps could run
  status PREFIX                      namespaces, daemons, switches, gateway SAs
  env PREFIX                         print the path of the instance's lab.env
  exec PREFIX HOST CMD...            run CMD in HOST (cli home carrier inet gw lan)
  udp-block PREFIX on|off            the internet router drops all UDP
  blackhole PREFIX wifi|lte on|off   the internet router drops everything of one uplink (link stays up)
  uplink PREFIX wifi|lte up|down     take a client uplink's link down (routes go) or up (routes back)
  counters PREFIX                    packet/byte counters of the internet router
  counter PREFIX NAME                packets of one counter
  gw-stop PREFIX [--kill]            stop the gateway's charon (--kill: SIGKILL, no IKE deletes)
  gw-start PREFIX                    start the gateway's charon and load its configuration
  gw-restart PREFIX [--kill]         gw-stop then gw-start
  swanctl PREFIX gw|ref ARGS...      swanctl against the gateway's or the reference client's VICI socket
  ref-start PREFIX                   start strongSwan's own client (charon) in the cli namespace
  ref-stop PREFIX                    stop it
  ref-connect PREFIX CONN            connect it: CONN is psk, pubkey, eap, psk-full or
                                     psk-gcm-GROUP / psk-cbc-GROUP (GROUP: curve25519 ecp256
                                     ecp384 modp3072 modp2048; only that suite and group)
  ref-disconnect PREFIX CONN [--force]  terminate its IKE SA of CONN (--force: don't wait for the gateway)
EOF
	exit 2
}

check_prefix() {
	# The prefix names namespaces and a directory, and must keep the VICI
	# socket path short (sun_path is 108 bytes).
	[[ "$1" =~ ^[a-z0-9][a-z0-9-]{0,23}$ ]] ||
		die "bad prefix '$1': 1-24 characters of a-z, 0-9 and '-', starting with a letter or digit"
}

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces)"; }

set_instance() {
	P=$1
	check_prefix "$P"
	DIR="$LAB_TMPDIR/vpnlab.$P"
}

ns()   { echo "$P-$1"; }
nsx()  { local h=$1; shift; ip netns exec "$(ns "$h")" "$@"; }
ns_exists() { [[ -e "/run/netns/$(ns "$1")" ]]; }

# now_ms: monotonic-enough wall clock in milliseconds for the timing figures.
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# link HOST_A IF_A ADDR_A/PLEN HOST_B IF_B ADDR_B/PLEN: a veth pair made
# directly inside the two namespaces (never in the root namespace).
link() {
	local ha=$1 ia=$2 aa=$3 hb=$4 ib=$5 ab=$6
	ip -n "$(ns "$ha")" link add "$ia" type veth peer name "$ib" netns "$(ns "$hb")"
	ip -n "$(ns "$ha")" addr add "$aa" dev "$ia"
	ip -n "$(ns "$hb")" addr add "$ab" dev "$ib"
	ip -n "$(ns "$ha")" link set "$ia" up
	ip -n "$(ns "$hb")" link set "$ib" up
}

randhex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# ---------------------------------------------------------------------------
# Processes.
# ---------------------------------------------------------------------------

# pids_in HOST: processes whose network namespace is HOST's.
pids_in() {
	if ns_exists "$1"; then ip netns pids "$(ns "$1")" 2>/dev/null || true; fi
}

# pid_of HOST COMM: the one process named COMM in HOST.
pid_of() {
	local pid
	for pid in $(pids_in "$1"); do
		if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$2" ]]; then
			echo "$pid"
			return 0
		fi
	done
	return 1
}

# alive PID: PID exists and is not a zombie (PID 1 here reaps orphans only
# now and then, so a dead daemon may linger as a zombie for a while).
alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n "$st" && "$st" != Z ]]
}

# kill_wait SECONDS PID...: SIGTERM, then SIGKILL whatever is left after SECONDS.
kill_wait() {
	local secs=$1 pid alive deadline
	shift
	[[ $# -gt 0 ]] || return 0
	kill -TERM "$@" 2>/dev/null || true
	deadline=$(( $(now_ms) + secs * 1000 ))
	while :; do
		alive=()
		for pid in "$@"; do
			if alive "$pid"; then alive+=("$pid"); fi
		done
		[[ ${#alive[@]} -eq 0 ]] && return 0
		if (( $(now_ms) > deadline )); then
			note "killing ${alive[*]} (did not stop after SIGTERM)"
			kill -KILL "${alive[@]}" 2>/dev/null || true
			return 0
		fi
		sleep 0.1
	done
}

# start_daemon HOST LOGFILE CMD...: run CMD in HOST, detached from our session
# and our stdio (a test harness waits for its pipes to close; a daemon holding
# them would hang it). DAEMON_PID is the process that becomes CMD (setsid,
# ip, env and unshare all exec); `down` finds daemons through `ip netns pids`.
start_daemon() {
	local h=$1 log=$2
	shift 2
	setsid ip netns exec "$(ns "$h")" "$@" </dev/null >>"$log" 2>&1 &
	DAEMON_PID=$!
}

# ---------------------------------------------------------------------------
# strongSwan configuration.
# ---------------------------------------------------------------------------

# write_strongswan_conf ROLE: charon (with its private VICI socket and log
# file), swanctl and pki settings for one charon instance.
write_strongswan_conf() {
	local role=$1 d="$DIR/$1"
	cat >"$d/strongswan.conf" <<EOF
# Generated by lab.sh for instance $P, role $role.
charon {
	# Only what the lab needs; kernel-libipsec does ESP in userspace because
	# this kernel has no in-kernel ESP (it is load = no by default).
	# kdf is needed next to hmac/sha2 for the PRF-based key derivation.
	load = $CHARON_PLUGINS
	port = 500
	port_nat_t = 4500
	install_routes = yes
	install_virtual_ip = yes
	# Let the initiator's order pick among acceptable proposals, so a client
	# gets the group it proposes first without an INVALID_KE_PAYLOAD round.
	prefer_configured_proposals = no
	retransmit_tries = 3
	retransmit_timeout = 2.0
	plugins {
		vici {
			socket = unix://$d/charon.vici
		}
		openssl {
			# MD4 and DES for EAP-MSCHAPv2 are in OpenSSL 3's legacy provider.
			load_legacy = yes
		}
	}
	filelog {
		lab {
			path = $d/charon.log
			time_format = %H:%M:%S
			time_add_ms = yes
			ike_name = yes
			flush_line = yes
			append = yes
			default = 1
			ike = 2
			cfg = 2
			enc = 1
			net = 1
			knl = 1
			esp = 1
		}
	}
	syslog {
		daemon {
			default = -1
		}
	}
}
swanctl {
	load = $TOOL_PLUGINS
	socket = unix://$d/charon.vici
}
pki {
	load = $TOOL_PLUGINS
}
EOF
}

# make_pki: the lab's CA, the gateway's and the client's keys and
# certificates, all PEM, made fresh for every instance with strongSwan's pki.
make_pki() {
	local k="$DIR/pki" gen
	mkdir -p "$k"
	case "$LAB_KEY_TYPE" in
	rsa)   gen=(--gen --type rsa --size 2048 --outform pem) ;;
	ecdsa) gen=(--gen --type ecdsa --size 256 --outform pem) ;;
	*)     die "LAB_KEY_TYPE must be rsa or ecdsa" ;;
	esac
	export STRONGSWAN_CONF="$DIR/gw/strongswan.conf"
	pki "${gen[@]}" >"$k/ca.key.pem"
	pki --self --ca --lifetime 30 --in "$k/ca.key.pem" \
		--dn "C=XX, O=vpnctl lab, CN=vpnctl lab CA $P" --outform pem >"$k/ca.pem"
	pki "${gen[@]}" >"$k/gw.key.pem"
	pki --pub --in "$k/gw.key.pem" |
		pki --issue --lifetime 30 --cacert "$k/ca.pem" --cakey "$k/ca.key.pem" \
			--dn "C=XX, O=vpnctl lab, CN=$GW_ID" --san "$GW_ID" --san "$GW_ADDR" \
			--flag serverAuth --flag ikeIntermediate --outform pem >"$k/gw.pem"
	pki "${gen[@]}" >"$k/client.key.pem"
	pki --pub --in "$k/client.key.pem" |
		pki --issue --lifetime 30 --cacert "$k/ca.pem" --cakey "$k/ca.key.pem" \
			--dn "C=XX, O=vpnctl lab, CN=$CLIENT_ID" --san "$CLIENT_ID" \
			--flag clientAuth --outform pem >"$k/client.pem"
	# The same client key as PKCS#8, for readers that want only that form.
	openssl pkcs8 -topk8 -nocrypt -in "$k/client.key.pem" -out "$k/client.key.pk8.pem"
	unset STRONGSWAN_CONF
}

# mkdir_swanctl DIR: every directory swanctl --load-all reads, so it loads
# quietly.
mkdir_swanctl() {
	local sub
	for sub in x509 x509ca x509ocsp x509aa x509ac x509crl pubkey private rsa ecdsa bliss pkcs8 pkcs12; do
		mkdir -p "$1/$sub"
	done
}

# The secrets both ends know (gateway and reference client): the PSK of
# both PSK connections and the EAP user's password.
swanctl_secrets() {
	cat <<EOF
secrets {
	ike-psk {
		id = $PSK_ID
		secret = "$PSK"
	}
	ike-psk-full {
		id = $PSK_FULL_ID
		secret = "$PSK"
	}
	eap-user {
		id = $EAP_USER
		secret = "$EAP_PASSWORD"
	}
}
EOF
}

write_gw_swanctl() {
	local s="$DIR/gw/swanctl"
	mkdir_swanctl "$s"
	cp "$DIR/pki/ca.pem" "$s/x509ca/ca.pem"
	cp "$DIR/pki/gw.pem" "$s/x509/gw.pem"
	cp "$DIR/pki/gw.key.pem" "$s/private/gw.key.pem"
	# common CONN POOL: settings every gateway connection shares.
	common() {
		cat <<EOF
		version = 2
		local_addrs = $GW_ADDR
		pools = $2
		proposals = $IKE_PROPOSALS
		mobike = yes
		fragmentation = yes
		dpd_delay = ${LAB_GW_DPD:-30s}
		rekey_time = ${LAB_GW_IKE_REKEY:-4h}
EOF
	}
	child() {
		cat <<EOF
		children {
			$1 {
				local_ts = $2
				esp_proposals = $ESP_PROPOSALS
				rekey_time = ${LAB_GW_CHILD_REKEY:-1h}
				dpd_action = clear
			}
		}
EOF
	}
	cat >"$s/swanctl.conf" <<EOF
# Generated by lab.sh for instance $P: the gateway.
connections {
	psk {
$(common psk split)
		local {
			auth = psk
			id = $GW_ID
		}
		remote {
			auth = psk
			id = $PSK_ID
		}
$(child psk "$LAN_NET")
	}
	psk-full {
$(common psk-full full)
		local {
			auth = psk
			id = $GW_ID
		}
		remote {
			auth = psk
			id = $PSK_FULL_ID
		}
$(child psk-full 0.0.0.0/0)
	}
	pubkey {
$(common pubkey split)
		send_cert = always
		local {
			auth = pubkey
			certs = gw.pem
			id = $GW_ID
		}
		remote {
			auth = pubkey
			id = $CLIENT_ID
			cacerts = ca.pem
		}
$(child pubkey "$LAN_NET")
	}
	eap {
$(common eap split)
		send_cert = always
		local {
			auth = pubkey
			certs = gw.pem
			id = $GW_ID
		}
		remote {
			auth = eap-mschapv2
			# Ask for the EAP identity, whatever IKE identity the client used.
			eap_id = %any
			id = %any
		}
$(child eap "$LAN_NET")
	}
}
pools {
	split {
		addrs = $POOL_SPLIT
		dns = $DNS_ADDR
	}
	full {
		addrs = $POOL_FULL
		dns = $DNS_ADDR
	}
}
$(swanctl_secrets)
EOF
}

write_ref_swanctl() {
	local s="$DIR/ref/swanctl"
	mkdir_swanctl "$s"
	cp "$DIR/pki/ca.pem" "$s/x509ca/ca.pem"
	cp "$DIR/pki/client.pem" "$s/x509/client.pem"
	cp "$DIR/pki/client.key.pem" "$s/private/client.key.pem"
	# common [IKE_PROPOSALS]
	common() {
		cat <<EOF
		version = 2
		remote_addrs = $GW_ADDR
		vips = 0.0.0.0
		proposals = ${1:-$IKE_PROPOSALS}
		mobike = yes
		fragmentation = yes
EOF
	}
	# child NAME REMOTE_TS [ESP_PROPOSALS]
	child() {
		cat <<EOF
		children {
			$1 {
				remote_ts = $2
				esp_proposals = ${3:-$ESP_PROPOSALS}
			}
		}
EOF
	}
	# matrix: one PSK connection per cipher suite and group, each offering
	# only that, to prove the gateway negotiates every one (ESP with the
	# group, so a rekey of the Child SA uses it for PFS).
	matrix() {
		local g suite ike esp
		for suite in gcm cbc; do
			for g in ${IKE_GROUPS//-/ }; do
				if [[ $suite == gcm ]]; then
					ike="aes256gcm16-prfsha256-$g"; esp="aes256gcm16-$g"
				else
					ike="aes256-sha256-$g"; esp="aes256-sha256-$g"
				fi
				cat <<EOF
	psk-$suite-$g {
$(common "$ike")
		local {
			auth = psk
			id = $PSK_ID
		}
		remote {
			auth = psk
			id = $GW_ID
		}
$(child "psk-$suite-$g" "$LAN_NET" "$esp")
	}
EOF
			done
		done
	}
	cat >"$s/swanctl.conf" <<EOF
# Generated by lab.sh for instance $P: strongSwan's own client (reference).
connections {
	psk {
$(common)
		local {
			auth = psk
			id = $PSK_ID
		}
		remote {
			auth = psk
			id = $GW_ID
		}
$(child psk "$LAN_NET")
	}
	psk-full {
$(common)
		local {
			auth = psk
			id = $PSK_FULL_ID
		}
		remote {
			auth = psk
			id = $GW_ID
		}
$(child psk-full 0.0.0.0/0)
	}
	pubkey {
$(common)
		local {
			auth = pubkey
			certs = client.pem
			id = $CLIENT_ID
		}
		remote {
			auth = pubkey
			id = $GW_ID
		}
$(child pubkey "$LAN_NET")
	}
	eap {
$(common)
		local {
			auth = eap-mschapv2
			id = $EAP_USER
			eap_id = $EAP_USER
		}
		remote {
			auth = pubkey
			id = $GW_ID
		}
$(child eap "$LAN_NET")
	}
$(matrix)
}
$(swanctl_secrets)
EOF
}

write_env() {
	local f="$DIR/lab.env" v
	{
		echo "# vpnctl lab instance $P: every fact a test needs. Generated by lab.sh up."
		for v in \
			LAB_PREFIX="$P" LAB_DIR="$DIR" LAB_SH="$_LAB_SELF" \
			LAB_NS_CLI="$(ns cli)" LAB_NS_HOME="$(ns home)" LAB_NS_CARRIER="$(ns carrier)" \
			LAB_NS_INET="$(ns inet)" LAB_NS_GW="$(ns gw)" LAB_NS_LAN="$(ns lan)" \
			LAB_CLI_RESOLV_CONF="/etc/netns/$(ns cli)/resolv.conf" \
			LAB_CLI_WIFI_IF="$CLI_WIFI_IF" LAB_CLI_WIFI_ADDR="$CLI_WIFI_ADDR" LAB_CLI_WIFI_GW="$HOME_LAN_ADDR" \
			LAB_CLI_WIFI_METRIC="$WIFI_METRIC" LAB_CLI_WIFI_TABLE=101 \
			LAB_CLI_LTE_IF="$CLI_LTE_IF" LAB_CLI_LTE_ADDR="$CLI_LTE_ADDR" LAB_CLI_LTE_GW="$CARRIER_LAN_ADDR" \
			LAB_CLI_LTE_METRIC="$LTE_METRIC" LAB_CLI_LTE_TABLE=102 \
			LAB_CLI_WIFI_NET="$WIFI_NET" LAB_CLI_LTE_NET="$LTE_NET" \
			LAB_HOME_WAN_ADDR="$HOME_WAN_ADDR" LAB_CARRIER_WAN_ADDR="$CARRIER_WAN_ADDR" \
			LAB_INET_GW_ADDR="$INET_GW_ADDR" LAB_INET_HOST_ADDR="$INET_HOST_ADDR" \
			LAB_GW_ADDR="$GW_ADDR" LAB_GW_IKE_PORT=500 LAB_GW_NATT_PORT=4500 \
			LAB_GW_LAN_ADDR="$GW_LAN_ADDR" LAB_LAN_NET="$LAN_NET" LAB_LAN_ADDR="$LAN_ADDR" \
			LAB_DNS_ADDR="$DNS_ADDR" LAB_DNS_NAME="$DNS_NAME" LAB_POOL_SPLIT="$POOL_SPLIT" LAB_POOL_FULL="$POOL_FULL" \
			LAB_IPERF_PORT="$IPERF_PORT" \
			LAB_GW_ID="$GW_ID" \
			LAB_CONN_PSK=psk LAB_PSK_ID="$PSK_ID" LAB_PSK="$PSK" \
			LAB_CONN_PSK_FULL=psk-full LAB_PSK_FULL_ID="$PSK_FULL_ID" \
			LAB_CONN_PUBKEY=pubkey LAB_CLIENT_ID="$CLIENT_ID" \
			LAB_CA_CERT="$DIR/pki/ca.pem" LAB_CA_KEY="$DIR/pki/ca.key.pem" LAB_CLIENT_CERT="$DIR/pki/client.pem" \
			LAB_CLIENT_KEY="$DIR/pki/client.key.pem" LAB_CLIENT_KEY_PKCS8="$DIR/pki/client.key.pk8.pem" \
			LAB_GW_CERT="$DIR/pki/gw.pem" LAB_KEY_TYPE="$LAB_KEY_TYPE" \
			LAB_CONN_EAP=eap LAB_EAP_USER="$EAP_USER" LAB_EAP_PASSWORD="$EAP_PASSWORD" \
			LAB_IKE_PROPOSALS="$IKE_PROPOSALS" LAB_ESP_PROPOSALS="$ESP_PROPOSALS" \
			LAB_GW_LOG="$DIR/gw/charon.log" LAB_GW_VICI="unix://$DIR/gw/charon.vici" \
			LAB_GW_STRONGSWAN_CONF="$DIR/gw/strongswan.conf" LAB_GW_SWANCTL_DIR="$DIR/gw/swanctl" \
			LAB_REF_LOG="$DIR/ref/charon.log" LAB_REF_VICI="unix://$DIR/ref/charon.vici" \
			LAB_REF_STRONGSWAN_CONF="$DIR/ref/strongswan.conf" LAB_REF_SWANCTL_DIR="$DIR/ref/swanctl" \
			LAB_IPERF_LOG="$DIR/lan/iperf3.log" LAB_DNS_LOG="$DIR/lan/dnsmasq.log"; do
			# KEY='value': shell syntax that other readers parse easily too.
			[[ "$v" != *"'"* ]] || die "quote in lab.env value: $v"
			printf "%s='%s'\n" "${v%%=*}" "${v#*=}"
		done
	} >"$f.tmp"
	mv "$f.tmp" "$f"
}

# ---------------------------------------------------------------------------
# Network.
# ---------------------------------------------------------------------------

# uplink_vars wifi|lte: UP_IF UP_ADDR UP_GW UP_NET UP_METRIC UP_TABLE.
uplink_vars() {
	case "$1" in
	wifi) UP_IF=$CLI_WIFI_IF UP_ADDR=$CLI_WIFI_ADDR UP_GW=$HOME_LAN_ADDR UP_NET=$WIFI_NET
	      UP_METRIC=$WIFI_METRIC UP_TABLE=101 ;;
	lte)  UP_IF=$CLI_LTE_IF UP_ADDR=$CLI_LTE_ADDR UP_GW=$CARRIER_LAN_ADDR UP_NET=$LTE_NET
	      UP_METRIC=$LTE_METRIC UP_TABLE=102 ;;
	*)    usage ;;
	esac
}

# uplink_routes wifi|lte: the uplink's default route in the main table
# (metric), and its source-based table.
uplink_routes() {
	uplink_vars "$1"
	ip -n "$(ns cli)" route replace default via "$UP_GW" dev "$UP_IF" metric "$UP_METRIC"
	ip -n "$(ns cli)" route replace "$UP_NET" dev "$UP_IF" src "$UP_ADDR" table "$UP_TABLE"
	ip -n "$(ns cli)" route replace default via "$UP_GW" dev "$UP_IF" table "$UP_TABLE"
}
# netns_etc: the client namespace's own /etc/resolv.conf. `ip netns exec`
# bind-mounts /etc/netns/NAME/resolv.conf over /etc/resolv.conf, so a VPN
# client run there changes this file, never the host's.
netns_etc() {
	local d try
	d="/etc/netns/$(ns cli)"
	for try in 1 2 3; do
		# Another instance's `down` may remove an empty /etc/netns meanwhile.
		mkdir -p "$d" 2>/dev/null && break
		[[ $try -lt 3 ]] || die "cannot create $d"
	done
	chmod 0755 /etc/netns "$d"
	printf '# vpnctl lab %s: resolv.conf of the client namespace (%s)\nnameserver %s\n' \
		"$P" "$(ns cli)" "$HOME_LAN_ADDR" >"$d/resolv.conf"
	chmod 0644 "$d/resolv.conf"
}

netns_etc_remove() {
	local d
	d="/etc/netns/$(ns cli)"
	if [[ -d "$d" ]]; then rm -rf -- "$d"; fi
	rmdir /etc/netns 2>/dev/null || true
}

build_net() {
	local h
	for h in $LAB_HOSTS; do
		ip netns add "$(ns "$h")"
		ip -n "$(ns "$h")" link set lo up
		# IPv4 only: no link-local addresses for charon to try as MOBIKE
		# paths, no DAD delays.
		nsx "$h" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	done
	netns_etc

	# Client uplinks.
	link cli "$CLI_WIFI_IF" "$CLI_WIFI_ADDR/24" home lan0 "$HOME_LAN_ADDR/24"
	link cli "$CLI_LTE_IF" "$CLI_LTE_ADDR/24" carrier lan0 "$CARRIER_LAN_ADDR/24"
	# NAT routers to the internet router.
	link home wan0 "$HOME_WAN_ADDR/$HOME_WAN_PLEN" inet home0 "$INET_HOME_ADDR/$HOME_WAN_PLEN"
	link carrier wan0 "$CARRIER_WAN_ADDR/$CARRIER_WAN_PLEN" inet carrier0 "$INET_CARRIER_ADDR/$CARRIER_WAN_PLEN"
	# Gateway uplink and LAN.
	link gw wan0 "$GW_ADDR/$GW_WAN_PLEN" inet gw0 "$INET_GW_ADDR/$GW_WAN_PLEN"
	link gw lan0 "$GW_LAN_ADDR/24" lan eth0 "$LAN_ADDR/24"
	ip -n "$(ns lan)" addr add "$DNS_ADDR/24" dev eth0
	ip -n "$(ns inet)" addr add "$INET_HOST_ADDR/32" dev lo

	# Client: both uplinks have a default route, Wi-Fi preferred by metric.
	# Source-based tables send traffic bound to an uplink's address out of
	# that uplink (as a multi-homed desktop does), for MOBIKE path tests.
	uplink_routes wifi
	uplink_routes lte
	ip -n "$(ns cli)" rule add from "$CLI_WIFI_ADDR" table 101 priority 1001
	ip -n "$(ns cli)" rule add from "$CLI_LTE_ADDR" table 102 priority 1002
	nsx cli sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0

	# NAT routers.
	ip -n "$(ns home)" route add default via "$INET_HOME_ADDR"
	ip -n "$(ns carrier)" route add default via "$INET_CARRIER_ADDR"
	nsx home sysctl -qw net.ipv4.ip_forward=1
	nsx carrier sysctl -qw net.ipv4.ip_forward=1
	nsx home nft -f - <<'EOF'
table ip lab_nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan0" masquerade
	}
}
EOF
	# A carrier-grade NAT picks random external ports.
	nsx carrier nft -f - <<'EOF'
table ip lab_nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan0" masquerade fully-random
	}
}
EOF

	# Internet router: switches (sets the commands fill) and counters.
	nsx inet sysctl -qw net.ipv4.ip_forward=1
	nsx inet nft -f - <<'EOF'
table inet lab {
	# Interfaces whose traffic is black-holed (links stay up).
	set blackhole_ifs {
		type ifname
	}
	# Layer-4 protocols dropped (udp-block puts udp here).
	set blocked_l4 {
		type inet_proto
	}
	counter wifi_in {}
	counter lte_in {}
	counter ike_to_gw {}
	counter natt_to_gw {}
	counter natt_from_gw {}
	counter tcp_to_gw {}
	counter udp_dropped {}
	counter udp_passed {}
	counter blackholed {}
	chain switch_in {
		type filter hook prerouting priority raw; policy accept;
		iifname @blackhole_ifs counter name blackholed drop
		meta l4proto @blocked_l4 counter name udp_dropped drop
		meta l4proto udp counter name udp_passed
		iifname "home0" counter name wifi_in
		iifname "carrier0" counter name lte_in
	}
	chain switch_out {
		type filter hook postrouting priority raw; policy accept;
		oifname @blackhole_ifs counter name blackholed drop
	}
	chain count_forward {
		type filter hook forward priority filter; policy accept;
		oifname "gw0" udp dport 500 counter name ike_to_gw
		oifname "gw0" udp dport 4500 counter name natt_to_gw
		iifname "gw0" udp sport 4500 counter name natt_from_gw
		oifname "gw0" meta l4proto tcp counter name tcp_to_gw
	}
}
EOF

	# Gateway: routes the LAN and, for the full tunnel, NATs the pool to the internet.
	ip -n "$(ns gw)" route add default via "$INET_GW_ADDR"
	nsx gw sysctl -qw net.ipv4.ip_forward=1
	nsx gw nft -f - <<EOF
table ip lab_nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan0" ip saddr $POOL_FULL masquerade
	}
}
EOF
	ip -n "$(ns lan)" route add default via "$GW_LAN_ADDR"
}

# ---------------------------------------------------------------------------
# Daemons.
# ---------------------------------------------------------------------------

# swanctl_as ROLE ARGS...: swanctl against ROLE's (gw or ref) private socket.
swanctl_as() {
	local role=$1
	shift
	STRONGSWAN_CONF="$DIR/$role/strongswan.conf" SWANCTL_DIR="$DIR/$role/swanctl" \
		timeout "${LAB_SWANCTL_TIMEOUT:-60}" swanctl "$@"
}

role_host() { case "$1" in gw) echo gw ;; ref) echo cli ;; *) die "role must be gw or ref" ;; esac; }

# charon_start ROLE: start charon in ROLE's namespace with its own /run (two
# charons on one machine would otherwise share /run/charon.pid), wait for
# its VICI socket and load its swanctl configuration.
charon_start() {
	local role=$1 h d="$DIR/$1" deadline
	h=$(role_host "$role")
	[[ -f "$d/strongswan.conf" ]] || die "instance $P has no $role configuration (is it up?)"
	if pid_of "$h" charon >/dev/null; then
		die "charon already runs in $(ns "$h")"
	fi
	rm -f "$d/charon.vici"
	echo "=== charon start $(date '+%F %T') ===" >>"$d/charon.out"
	# shellcheck disable=SC2016 # "$0" is for the inner sh to expand
	start_daemon "$h" "$d/charon.out" env STRONGSWAN_CONF="$d/strongswan.conf" \
		unshare --mount --propagation private \
		sh -c 'mount -t tmpfs -o mode=0755,size=4m vpnlab-run /run && exec "$0"' "$CHARON"
	deadline=$(( $(now_ms) + LAB_WAIT * 1000 ))
	until [[ -S "$d/charon.vici" ]] && swanctl_as "$role" --stats >/dev/null 2>&1; do
		if ! alive "$DAEMON_PID" || (( $(now_ms) > deadline )); then
			tail -n 20 "$d/charon.out" "$d/charon.log" >&2 2>/dev/null || true
			die "charon ($role) did not come up (exited, or not ready within ${LAB_WAIT}s)"
		fi
		sleep 0.05
	done
	pid_of "$h" charon >"$d/charon.pid" || die "charon ($role) is not running"
	if ! swanctl_as "$role" --load-all --noprompt >"$d/load.out" 2>&1; then
		cat "$d/load.out" >&2
		die "swanctl --load-all ($role) failed"
	fi
}

# charon_stop ROLE [--kill]
charon_stop() {
	local role=$1 mode=${2:-} h pid
	[[ -z "$mode" || "$mode" == --kill ]] || usage
	h=$(role_host "$role")
	pid=$(pid_of "$h" charon) || { note "no charon ($role) running"; return 0; }
	if [[ "$mode" == --kill ]]; then
		kill -KILL "$pid"
		kill_wait 2 "$pid"
	else
		kill_wait 10 "$pid"
	fi
	rm -f "$DIR/$role/charon.vici" "$DIR/$role/charon.pid"
}

# start_dns: a DNS server on the LAN host at the address the gateway hands
# out, reachable only through the tunnel, answering for one name.
start_dns() {
	start_daemon lan "$DIR/lan/dnsmasq.out" dnsmasq --keep-in-foreground --conf-file=/dev/null \
		--no-resolv --no-hosts --no-poll --pid-file= --user=root \
		--bind-interfaces --listen-address="$DNS_ADDR" --port=53 \
		--host-record="$DNS_NAME,$LAN_ADDR" --log-queries --log-facility="$DIR/lan/dnsmasq.log"
	local deadline=$(( $(now_ms) + LAB_WAIT * 1000 ))
	until nsx lan ss -Hlun "sport = :53" | grep -q "$DNS_ADDR"; do
		if ! alive "$DAEMON_PID" || (( $(now_ms) > deadline )); then
			cat "$DIR/lan/dnsmasq.out" >&2
			die "DNS server did not start"
		fi
		sleep 0.05
	done
}

start_iperf() {
	mkdir -p "$DIR/lan"
	start_daemon lan "$DIR/lan/iperf3.log" iperf3 -s -B "$LAN_ADDR" -p "$IPERF_PORT"
	local deadline=$(( $(now_ms) + LAB_WAIT * 1000 ))
	until nsx lan ss -Hltn "sport = :$IPERF_PORT" | grep -q LISTEN; do
		if ! alive "$DAEMON_PID" || (( $(now_ms) > deadline )); then
			cat "$DIR/lan/iperf3.log" >&2
			die "iperf3 server did not start"
		fi
		sleep 0.05
	done
}

# ---------------------------------------------------------------------------
# Commands.
# ---------------------------------------------------------------------------
exists() {
	local h
	[[ -e "$DIR" || -e "/etc/netns/$(ns cli)" ]] && return 0
	for h in $LAB_HOSTS; do ns_exists "$h" && return 0; done
	return 1
}

cmd_down() {
	local h pids=() p t0
	t0=$(now_ms)
	for h in $LAB_HOSTS; do
		for p in $(pids_in "$h"); do pids+=("$p"); done
	done
	kill_wait 10 "${pids[@]}"
	for h in $LAB_HOSTS; do
		if ns_exists "$h"; then
			ip netns del "$(ns "$h")" || note "could not delete namespace $(ns "$h")"
		fi
	done
	# Safety net: only ever remove our own instance directory.
	if [[ -d "$DIR" && "$DIR" == */vpnlab."$P" ]]; then
		rm -rf -- "$DIR"
	fi
	netns_etc_remove
	local left=0
	for h in $LAB_HOSTS; do ns_exists "$h" && left=1; done
	[[ -e "$DIR" || -e "/etc/netns/$(ns cli)" ]] && left=1
	[[ $left -eq 0 ]] || die "instance $P not fully removed"
	note "down $P in $(( $(now_ms) - t0 )) ms"
}

# up_failed: EXIT trap while `up` runs; a half-built instance goes away.
up_failed() {
	local rc=$?
	if [[ $rc -ne 0 ]]; then
		note "up failed, tearing $P down"
		cmd_down || true
	fi
}

# The owner of an instance: the process that ran `up` (a test script), by
# PID and start time so a reused PID does not count as alive.
proc_start() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null; }
write_owner() {
	local pid=${LAB_OWNER_PID:-$PPID}
	echo "$pid $(proc_start "$pid")" >"$DIR/owner"
}
owner_alive() {
	local pid start
	[[ -r "$DIR/owner" ]] || return 1
	read -r pid start <"$DIR/owner" || return 1
	[[ -n "$start" && "$(proc_start "$pid")" == "$start" ]]
}

# sweep: every instance on this machine (by its directory or by any of its
# namespaces) whose owner is gone goes down. An instance being built by a
# live test always has its owner file (written before any namespace).
cmd_sweep() {
	local prefixes=() p f h seen=" "
	for f in "$LAB_TMPDIR"/vpnlab.*; do
		[[ -d "$f" ]] && prefixes+=("${f##*/vpnlab.}")
	done
	for f in /run/netns/*; do
		[[ -e "$f" ]] || continue
		for h in $LAB_HOSTS; do
			[[ "${f##*/}" == *-"$h" ]] && prefixes+=("$(basename "$f" "-$h")")
		done
	done
	for p in "${prefixes[@]}"; do
		[[ "$seen" == *" $p "* ]] && continue
		seen+="$p "
		[[ "$p" =~ ^[a-z0-9][a-z0-9-]{0,23}$ ]] || continue
		set_instance "$p"
		exists || continue
		if owner_alive; then
			note "keeping $P (its owner runs)"
		else
			note "sweeping $P (its owner is gone)"
			cmd_down || true
		fi
	done
}

cmd_up() {
	local t0
	t0=$(now_ms)
	if exists; then
		note "removing stale instance $P"
		cmd_down
	fi
	command -v pki >/dev/null || die "pki missing (strongswan-pki)"
	[[ -x "$CHARON" ]] || die "$CHARON missing (strongswan-charon)"
	# From here on any failure takes the half-built instance down again.
	trap up_failed EXIT
	mkdir -m 0700 "$DIR"
	write_owner
	mkdir -m 0700 "$DIR/gw" "$DIR/ref" "$DIR/lan"
	PSK=$(randhex 16)
	EAP_PASSWORD=$(randhex 12)
	build_net
	write_strongswan_conf gw
	write_strongswan_conf ref
	make_pki
	write_gw_swanctl
	write_ref_swanctl
	write_env
	start_iperf
	start_dns
	charon_start gw
	trap - EXIT
	note "up $P in $(( $(now_ms) - t0 )) ms; facts in $DIR/lab.env"
}

require_up() {
	[[ -f "$DIR/lab.env" ]] || die "instance $P is not up"
}

cmd_status() {
	local h pid
	[[ -f "$DIR/lab.env" ]] || { echo "instance $P: not up"; return 1; }
	echo "instance $P: $DIR/lab.env"
	for h in $LAB_HOSTS; do
		printf '  %-8s %-20s' "$h" "$(ns "$h")"
		if ns_exists "$h"; then
			for pid in $(pids_in "$h"); do printf ' %s(%s)' "$(cat "/proc/$pid/comm" 2>/dev/null)" "$pid"; done
			echo
		else
			echo " MISSING"
		fi
	done
	echo "switches: udp-block=$(nsx inet nft list set inet lab blocked_l4 | grep -q 'elements' && echo on || echo off)" \
		"blackhole=[$(nsx inet nft -j list set inet lab blackhole_ifs | jq -r '[.nftables[].set.elem // empty | .[]] | join(",")')]"
	if pid_of gw charon >/dev/null; then
		echo "gateway SAs:"
		swanctl_as gw --list-sas || true
	else
		echo "gateway charon: not running"
	fi
}

cmd_udp_block() {
	case "${1:-}" in
	on)  nsx inet nft add element inet lab blocked_l4 '{ udp }' ;;
	off) nsx inet nft flush set inet lab blocked_l4 ;;
	*)   usage ;;
	esac
}

cmd_blackhole() {
	local ifn
	case "${1:-}" in
	wifi) ifn=home0 ;;
	lte)  ifn=carrier0 ;;
	*)    usage ;;
	esac
	case "${2:-}" in
	on)  nsx inet nft add element inet lab blackhole_ifs "{ \"$ifn\" }" ;;
	off)
		if nsx inet nft get element inet lab blackhole_ifs "{ \"$ifn\" }" >/dev/null 2>&1; then
			nsx inet nft delete element inet lab blackhole_ifs "{ \"$ifn\" }"
		fi
		;;
	*)   usage ;;
	esac
}

# cmd_uplink wifi|lte up|down: take a client uplink down as a lost link
# does (the kernel drops its routes), or bring it back with its routes.
cmd_uplink() {
	uplink_vars "${1:-}"
	case "${2:-}" in
	down) ip -n "$(ns cli)" link set "$UP_IF" down ;;
	up)   ip -n "$(ns cli)" link set "$UP_IF" up; uplink_routes "$1" ;;
	*)    usage ;;
	esac
}

cmd_counters() {
	nsx inet nft -j list counters table inet lab |
		jq -r '.nftables[] | select(.counter) | .counter | "\(.name) \(.packets) \(.bytes)"'
}

cmd_counter() {
	[[ -n "${1:-}" ]] || usage
	local n
	n=$(cmd_counters | awk -v c="$1" '$1 == c { print $2 }')
	[[ -n "$n" ]] || die "no counter '$1'"
	echo "$n"
}

cmd_ref_connect() {
	local conn=${1:-} t0
	[[ "$conn" =~ ^[a-z0-9-]+$ ]] || usage
	pid_of cli charon >/dev/null || die "reference client is not running (ref-start)"
	t0=$(now_ms)
	swanctl_as ref --initiate --child "$conn" --timeout "${LAB_CONNECT_TIMEOUT:-20}" >"$DIR/ref/initiate.out" 2>&1 || {
		cat "$DIR/ref/initiate.out" >&2
		die "reference client failed to connect $conn"
	}
	note "reference client connected $conn in $(( $(now_ms) - t0 )) ms"
}

# cmd_ref_disconnect CONN [--force]: --force does not wait for the
# gateway's answer (for a gateway that lost the SA).
cmd_ref_disconnect() {
	local conn=${1:-} how
	[[ "$conn" =~ ^[a-z0-9-]+$ ]] || usage
	# With --force swanctl would wait out --timeout before forcing; without a
	# timeout it forces at once.
	case "${2:-}" in --force) how=(--force) ;; "") how=(--timeout 10) ;; *) usage ;; esac
	swanctl_as ref --terminate --ike "$conn" "${how[@]}" >"$DIR/ref/terminate.out" 2>&1 || {
		cat "$DIR/ref/terminate.out" >&2
		die "reference client failed to terminate $conn"
	}
}

main() {
	if [[ "${1:-}" == sweep ]]; then
		need_root
		cmd_sweep
		return
	fi
	[[ $# -ge 2 ]] || usage
	local cmd=$1
	set_instance "$2"
	shift 2
	need_root
	case "$cmd" in up|down) ;; *) require_up ;; esac
	case "$cmd" in
	up)        cmd_up ;;
	down)      cmd_down ;;
	status)    cmd_status ;;
	env)       echo "$DIR/lab.env" ;;
	exec)      [[ $# -ge 2 ]] || usage; local h=$1; shift
	           [[ " $LAB_HOSTS " == *" $h "* ]] || die "no host '$h' (hosts: $LAB_HOSTS)"
	           exec ip netns exec "$(ns "$h")" "$@" ;;
	udp-block) cmd_udp_block "$@" ;;
	blackhole) cmd_blackhole "$@" ;;
	uplink)    cmd_uplink "$@" ;;
	counters)  cmd_counters ;;
	counter)   cmd_counter "$@" ;;
	gw-stop)   charon_stop gw "${1:-}" ;;
	gw-start)  charon_start gw ;;
	gw-restart) charon_stop gw "${1:-}"; charon_start gw ;;
	swanctl)   [[ $# -ge 1 ]] || usage; local role=$1; shift; role_host "$role" >/dev/null
	           swanctl_as "$role" "$@" ;;
	ref-start) charon_start ref ;;
	ref-stop)  charon_stop ref "${1:-}" ;;
	ref-connect) cmd_ref_connect "$@" ;;
	ref-disconnect) cmd_ref_disconnect "$@" ;;
	*)         usage ;;
	esac
}

main "$@"
