# shellcheck shell=sh
# The lab itself: L1 has /dev/kvm from kvm-amd with nested paging.
if [ ! -c /dev/kvm ]; then
	fail l1-kvm "no /dev/kvm in L1 ($(lsmod | awk 'NR>1 {printf "%s ", $1}'))"
elif [ "$(cat /sys/module/kvm_amd/parameters/npt)" != 1 ] &&
	[ "$(cat /sys/module/kvm_amd/parameters/npt)" != Y ]; then
	fail l1-kvm "kvm_amd without nested paging"
else
	ls -l /dev/kvm
	pass l1-kvm
fi
