#!/bin/bash
# Our client (vpnd + vpnctl) through the lab's strongSwan gateway with
# pubkey authentication: up, status --json, ping, DNS, iperf3, down, clean.
set -euo pipefail
HERE=$(dirname "$(readlink -f "$0")")
source "$HERE/lab/testlib.sh"
t_lab 240 "$@"
source "$HERE/lab/vpnc.sh"
source "$HERE/lab/client_basic.sh"
vc_basic_test pubkey
t_done
