#!/bin/bash
# Build nettool (nettool.c: UDP echo and checker, tap-fd launcher) as a
# static binary for L1 and the L2 initramfs. Cached by inputs; prints its path.
set -euo pipefail
. "$(dirname "$0")/common.sh"

need_pkgs gcc libc6-dev
key=$(key_of "$LAB/build-nettool.sh" "$LAB/nettool.c" -s "$(gcc --version | head -1)" -s "$(pkg_version libc6-dev)")
out=$LAB_CACHE/nettool-$key
if ! cache_done "$out"; then
	cache_begin "$out"
	gcc -static -O2 -Wall -Wextra -Werror -o "$out.tmp/nettool" "$LAB/nettool.c" >&2
	strip "$out.tmp/nettool"
	cache_commit "$out"
	# Keep the newest few builds only.
	find "$LAB_CACHE" -maxdepth 1 -name 'nettool-*' ! -name '*.tmp' -printf '%T@ %p\n' |
		sort -rn | tail -n +4 | cut -d' ' -f2- | xargs -r rm -rf
fi
echo "$out/nettool"
