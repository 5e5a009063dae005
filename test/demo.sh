#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The demo behind ./build.sh demo: a Linux guest to a busybox shell (through the
# nested lab where /dev/kvm cannot boot Linux), or, without the lab, the probe
# guest echoing console lines.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
if [ -f "$TOP/test/lab/demo.sh" ]; then
	exec bash "$TOP/test/lab/demo.sh" "$@"
fi
echo "demo: the probe guest echoes each line you type; 'quit' resets it, Ctrl-A x quits." >&2
exec "$TOP/kvmrun" --kernel "$TOP/test/guest/out/probe.pvh" --cmdline "probe.exit=echo" "$@"
