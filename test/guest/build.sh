#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Build the probe guest three ways from one image: probe.pvh, probe.bzImage,
# probe.elf in OUTDIR (default test/guest/out), then check the code for
# instructions this host's KVM emulator cannot run.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/out}
CC=${CC:-gcc}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
B=$OUT/build
mkdir -p "$B"

CFLAGS=(-std=gnu11 -ffreestanding -nostdlib -fno-pic -fno-pie -static -O2
	-mgeneral-regs-only -mno-sse -mno-mmx -mno-80387 -mno-avx -mno-popcnt
	-mno-red-zone -fno-stack-protector -fno-asynchronous-unwind-tables
	-fno-zero-initialized-in-bss -fno-builtin -Wall -Wextra -Werror)
LDFLAGS=(-no-pie -Wl,--build-id=none
	-Wl,-z,max-page-size=4096 -Wl,--no-warn-rwx-segments)

objs=()
for src in head.S pagetables.S lib.c probe.c mp.c modes.c hostile.c hostile_net.c acpi_check.c; do
	obj=$B/${src%.*}.o
	$CC "${CFLAGS[@]}" -c "$HERE/$src" -o "$obj"
	objs+=("$obj")
done
$CC "${CFLAGS[@]}" "${LDFLAGS[@]}" -Wl,-T,"$HERE/probe.ld" -o "$B/probe.pvh" "${objs[@]}"

# probe.elf: the same objects without the PVH note (and its PT_NOTE), so a
# monitor enters it at e_entry; its bytes also make the bzImage payload.
sed -e '/PT_NOTE/d' -e 's|^\t\.note\.Xen .*$|\t/DISCARD/ : { *(.note.Xen) }|' \
	"$HERE/probe.ld" >"$B/elf.ld"
$CC "${CFLAGS[@]}" "${LDFLAGS[@]}" -Wl,-T,"$B/elf.ld" -o "$B/probe.elf" "${objs[@]}"
objcopy -O binary "$B/probe.elf" "$B/kernel.bin"

sym() { nm "${2:-$B/probe.elf}" | awk -v s="$1" '$3 == s { print "0x" $1 }'; }
# syssize counts 16-byte units: pad the payload so the header never claims more than the file
truncate -s $((($(stat -c %s "$B/kernel.bin") + 15) / 16 * 16)) "$B/kernel.bin"
size=$(stat -c %s "$B/kernel.bin")
$CC -c "$HERE/setup.S" -o "$B/setup.o" -DSETUP_SECTS=1 \
	-DSYSSIZE=$(((size + 15) / 16)) \
	-DINIT_SIZE=$(($(sym _end) - 0x100000)) \
	-DKERNEL_INFO_OFFSET=$(($(sym kernel_info) - 0x100000))
# objcopy -O binary applies no relocations: the header must have none
[ -z "$(readelf -rW "$B/setup.o" | grep -i 'r_x86')" ] || { echo "build.sh: setup.o has relocations" >&2; exit 1; }
objcopy -O binary -j .text "$B/setup.o" "$B/setup.bin"
[ "$(stat -c %s "$B/setup.bin")" = 1024 ] || { echo "setup.bin is not 1024 bytes" >&2; exit 1; }
cat "$B/setup.bin" "$B/kernel.bin" >"$B/probe.bzImage"

# --- the instruction check -------------------------------------------------
# Forbidden: anything the emulator fails on (XSAVE family, SSE/AVX/x87/MMX,
# POPCNT, CMPXCHG16B, RDTSCP, MONITOR, INT3/INT n, RDPID) and MFENCE.
BAD='^(xsave[a-z0-9]*|xrstor[a-z0-9]*|xgetbv|xsetbv|popcnt|cmpxchg16b|rdtscp|rdpid|monitor|mwait|int3|int|int1|into|icebp|mfence|lfence|sfence|emms|ldmxcsr|stmxcsr|vldmxcsr|vstmxcsr|vzeroupper|vzeroall|movnti|f[a-rt-z][a-z0-9]*|fs[a-z0-9]+)$|%[xyz]mm|%mm[0-7]|%k[0-7]|%st'
# disasm MODE START STOP FILE: "addr mnemonic operands" lines of one range
disasm() {
	objdump -d --no-show-raw-insn -M "$1" --start-address="$2" --stop-address="$3" "$5" |
		awk -v m="$4" -F'\t' '/^ *[0-9a-f]+:\t/ { sub(/:$/, "", $1); gsub(/ /, "", $1); print m, $1, $2 }'
}
check() {
	local file=$1 allow=${2:-none} hits
	hits=$(awk -v bad="$BAD" -v allow="$allow" '{
		mn = $3; ops = $0; sub(/^[^ ]+ +[^ ]+ +[^ ]+/, "", ops)
		if ((mn ~ bad || ops ~ bad) && $2 != allow) print
	}')
	if [ -n "$hits" ]; then
		echo "build.sh: forbidden instructions in $file:" >&2
		echo "$hits" >&2
		exit 1
	fi
}
# check_image FILE: each range in its own mode; the 64-bit pass skips the
# 16/32-bit ranges. Exactly one popcnt, at probe_emulfail_insn.
check_image() {
	local E=$1 x16 x16e a32 a32e p32 p32e xs
	x16=$(sym tramp_start "$E") x16e=$(sym tramp_gdt "$E")
	a32=$(sym ap_start32 "$E") a32e=$(sym ap_start64 "$E")
	p32=$(sym pvh_start32 "$E") p32e=$(sym startup_64 "$E")
	xs=$(sym probe_emulfail_insn "$E" | sed 's/^0x0*//')
	{
		disasm i8086 "$x16" "$x16e" 16 "$E"
		disasm i386 "$a32" "$a32e" 32 "$E"
		disasm i386 "$p32" "$p32e" 32 "$E"
		objdump -d --no-show-raw-insn "$E" |
			awk -F'\t' '/^ *[0-9a-f]+:\t/ { sub(/:$/, "", $1); gsub(/ /, "", $1); print 64, $1, $2 }' |
			awk -v a="$x16" -v b="$x16e" -v c="$a32" -v d="$a32e" -v e="$p32" -v f="$p32e" '
				function n(h,  i, v) {	# mawk has no strtonum
					sub(/^0x/, "", h); v = 0
					for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
					return v
				}
				{ x = n($2) }
				!((x >= n(a) && x < n(b)) || (x >= n(c) && x < n(d)) || (x >= n(e) && x < n(f)))'
	} | sort -u -k2,2 >"$E.insns"
	check "$E" "$xs" <"$E.insns"
	[ "$(awk -v x="$xs" '$2 == x && $3 ~ /^popcnt/' "$E.insns" | wc -l)" = 1 ] ||
		{ echo "build.sh: the deliberate popcnt is missing in $E" >&2; exit 1; }
}
check_image "$B/probe.pvh"
check_image "$B/probe.elf"
# setup.o: only its code, not the header fields
S=$B/setup.o
disasm i8086 0x$(nm "$S" | awk '$3 == "start16" { print $1 }') \
	0x$(nm "$S" | awk '$3 == "msg" { print $1 }') 16 "$S" | check setup.o

# The same PVH image linked as ELF32 (as some PVH kernels are: the entry is
# 32-bit code), and the plain ELF as ELF32, which has no entry a monitor may use.
objcopy -O elf32-i386 "$B/probe.pvh" "$B/probe32.pvh"
objcopy -O elf32-i386 "$B/probe.elf" "$B/probe32.elf"
cp "$B/probe.pvh" "$B/probe.elf" "$B/probe.bzImage" "$B/probe32.pvh" "$B/probe32.elf" "$OUT/"
echo "built $OUT/probe.pvh probe.bzImage probe.elf probe32.pvh probe32.elf ($(wc -l <"$B/probe.pvh.insns") instructions checked)"
