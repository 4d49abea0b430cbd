#!/bin/sh
# Install every Debian package that building, testing and the namespace lab
# need. Idempotent and non-interactive; run as root on Debian 12 (bookworm).
# Note: strongswan-charon conflicts with libreswan, which we never install.
set -eu

PACKAGES="
  build-essential cmake pkg-config git ca-certificates
  dpkg-dev systemd man-db
  clang libclang-rt-dev
  libuv1-dev android-libboringssl-dev libnl-route-3-dev libnl-3-dev
  libinih-dev libjansson-dev libsystemd-dev libnftables-dev
  libgtest-dev
  iproute2 nftables iputils-ping iperf3 tcpdump procps psmisc kmod tmux jq util-linux openssl
  dnsmasq-base dbus-daemon
  strongswan-charon strongswan-swanctl strongswan-pki
  libcharon-extra-plugins libstrongswan-extra-plugins libstrongswan-standard-plugins
"

if [ "$(id -u)" -ne 0 ]; then
	echo "setup.sh: run as root (it installs Debian packages)" >&2
	exit 1
fi

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -n "$missing" ]; then
	echo "setup.sh: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
else
	echo "setup.sh: all packages present"
fi

# The Debian packages enable a system-wide charon through systemd; the lab runs
# its own instances in namespaces and needs none outside them.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	systemctl disable --now strongswan-starter.service strongswan.service >/dev/null 2>&1 || true
fi
