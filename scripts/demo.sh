#!/bin/bash
# The client doing its job, on this machine: installs what is needed, builds,
# starts a strongSwan gateway and a LAN behind it in network namespaces
# (tests/interop/lab), and drives the real vpnd and vpnctl against it:
# up, status, a ping and a DNS lookup through the tunnel, down. Everything
# is torn down at the end, also when a step fails or you press Ctrl-C.
# Needs root (packages, namespaces, TUN). Nothing outside the namespaces is
# touched; traffic stays inside them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [[ $(id -u) -ne 0 ]]; then
	exec sudo -E "$0" "$@"
fi

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "Installing what is needed (scripts/setup.sh)"
scripts/setup.sh

say "Building"
cmake -S . -B build -DVPN_WERROR=ON >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
echo "built: build/client/daemon/vpnd/vpnd, build/ui-cli/vpnctl"

P=demo
LAB="$ROOT/tests/interop/lab/lab.sh"
VPND_PID=
cleanup() {
	trap - EXIT INT TERM
	set +e
	say "Cleaning up"
	if [[ -n "$VPND_PID" ]]; then
		kill -TERM "$VPND_PID" 2>/dev/null
		for _ in $(seq 1 50); do kill -0 "$VPND_PID" 2>/dev/null || break; sleep 0.1; done
	fi
	"$LAB" down "$P" >/dev/null 2>&1
	echo "lab '$P' removed: namespaces, processes and files"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "Starting the lab: a strongSwan gateway at 192.0.2.10 behind two NATs, a LAN 172.16.10.0/24 behind it"
"$LAB" sweep 2>/dev/null # leftovers of an earlier run that was killed
LAB_OWNER_PID=$$ "$LAB" up "$P" | tail -n 1
# shellcheck disable=SC1090
source "$("$LAB" env "$P")"
echo "client host: namespace $LAB_NS_CLI (Wi-Fi $LAB_CLI_WIFI_ADDR behind a home NAT, LTE $LAB_CLI_LTE_ADDR behind a carrier NAT)"

D="$LAB_DIR/vpnd"
mkdir -p "$D/profiles" "$D/state"
chmod 700 "$D/profiles" "$D/state"
cat >"$D/profiles/office.conf" <<EOF
[connection]
gateway = $LAB_GW_ADDR
remote_id = $LAB_GW_ID
auth = eap-mschapv2
eap_identity = $LAB_EAP_USER
eap_password = $LAB_EAP_PASSWORD
ca = $LAB_CA_CERT
EOF
chmod 600 "$D/profiles/office.conf"
say "The profile office.conf (EAP-MSCHAPv2; the gateway proves itself with its certificate)"
sed "s/^eap_password = .*/eap_password = ********/" "$D/profiles/office.conf"

say "Starting vpnd in the client namespace"
ip netns exec "$LAB_NS_CLI" build/client/daemon/vpnd/vpnd --foreground \
	--socket "$D/vpnd.sock" --profiles "$D/profiles" --state-dir "$D/state" \
	>"$D/vpnd.log" 2>&1 &
VPND_PID=$!
for _ in $(seq 1 50); do [[ -S "$D/vpnd.sock" ]] && break; sleep 0.1; done
echo "vpnd is running (log: $D/vpnd.log)"

vpnctl() { ip netns exec "$LAB_NS_CLI" "$ROOT/build/ui-cli/vpnctl" --socket "$D/vpnd.sock" "$@"; }

say "Before the tunnel, the LAN host $LAB_LAN_ADDR is out of reach"
ip netns exec "$LAB_NS_CLI" ping -c 1 -W 1 "$LAB_LAN_ADDR" >/dev/null 2>&1 &&
	echo "unexpected: reachable" || echo "ping $LAB_LAN_ADDR: no answer"

say "vpnctl up office"
run vpnctl up office

say "Through the tunnel: ping the LAN host and ask the gateway's DNS server"
run ip netns exec "$LAB_NS_CLI" ping -c 3 -i 0.3 "$LAB_LAN_ADDR"
echo "resolv.conf in the client namespace now says: $(grep nameserver "$LAB_CLI_RESOLV_CONF" | tr '\n' ' ')"
run ip netns exec "$LAB_NS_CLI" getent hosts "$LAB_DNS_NAME" || true

say "vpnctl status (the traffic counters include the pings and the DNS query)"
run vpnctl status office

say "vpnctl down office"
run vpnctl down office
run vpnctl status office
ip netns exec "$LAB_NS_CLI" ping -c 1 -W 1 "$LAB_LAN_ADDR" >/dev/null 2>&1 &&
	echo "unexpected: still reachable" || echo "the LAN is out of reach again; routes, address and DNS are restored"

say "Done"
