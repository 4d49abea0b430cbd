#!/bin/sh
# Run every test on this machine: installs what is missing (scripts/setup.sh),
# configures and builds with warnings as errors, runs the unit tests and the
# interoperability tests against a real strongSwan gateway in network
# namespaces, then the bounded fuzz runs. Needs root (packages, namespaces,
# TUN). Environment: VPN_FUZZ_SECONDS (default 60), VPN_SKIP_FUZZ=1 to leave
# the fuzzers out of a quick local run, JOBS (parallel ctest jobs, default 2).
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	exec sudo -E "$0" "$@"
fi

jobs=${JOBS:-2}
scripts/setup.sh

echo "== build (warnings are errors)"
cmake -S . -B build -DVPN_WERROR=ON
cmake --build build -j "$(nproc)"

echo "== unit and interoperability tests"
# Lab instances left by an earlier run that was killed (SIGKILL, power loss)
# before its traps ran; instances of runs still going are kept.
tests/interop/lab/lab.sh sweep
ctest --test-dir build --output-on-failure -j "$jobs" -L 'unit|interop'

if [ "${VPN_SKIP_FUZZ:-0}" != 1 ]; then
	echo "== fuzzing (${VPN_FUZZ_SECONDS:-60} s per target)"
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -DVPN_FUZZ=ON -DVPN_TESTS=OFF \
		-DVPN_WERROR=ON -DVPN_FUZZ_SECONDS="${VPN_FUZZ_SECONDS:-60}"
	cmake --build build-fuzz -j "$(nproc)"
	ctest --test-dir build-fuzz --output-on-failure -j "$jobs" -L fuzz
fi
echo "== all tests passed"
