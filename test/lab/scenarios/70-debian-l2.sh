# shellcheck shell=sh
# Debian's stock kernel (the same vmlinuz as L1) boots as L2 too, loading its
# virtio modules from the initramfs.
if need_kvmrun debian-l2; then
	l2_run deb.log --kernel "$DEBIAN_VMLINUZ" --initrd "$DEBIAN_INITRD" --memory 512M \
		--cmdline "quiet lab.run=report,reboot"
	if expect_clean debian-l2 deb.log '^L2: report done' && has deb.log '^L2: insmod .* failed'; then
		fail debian-l2-modules "$(grep '^L2: insmod' deb.log | head -3 | tr '\r\n' '  ')"
	fi
fi
