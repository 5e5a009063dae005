# SPDX-License-Identifier: Apache-2.0
"""What this host's /dev/kvm can do, for test/run.sh: prints one line, "KIND why".

  hw    /dev/kvm works and is hardware virtualization (kvm_intel, kvm_amd):
        every test runs directly.
  pvm   /dev/kvm works but is PVM (module kvm_pvm): the probe guest runs
        directly; stock Linux cannot (HOST-NOTES), so Linux guests run in the lab.
  none  no usable /dev/kvm: every test that needs KVM runs inside L1 (test/l1/).
"""
import fcntl
import os

KVM_GET_API_VERSION = 0xAE00
KVM_CREATE_VM = 0xAE01


def module(name):
    return os.path.isdir(f"/sys/module/{name}")


def kind():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        why = e.strerror
        if module("kvm_pvm") and e.errno == 2:
            why += " (kvm_pvm is loaded but did not bind: this machine is itself a PVM guest)"
        return "none", f"/dev/kvm: {why}"
    try:
        if fcntl.ioctl(fd, KVM_GET_API_VERSION, 0) != 12:
            return "none", "/dev/kvm: KVM API version is not 12"
        vm = fcntl.ioctl(fd, KVM_CREATE_VM, 0)
        os.close(vm)
    except OSError as e:
        return "none", f"/dev/kvm: KVM_CREATE_VM: {e.strerror}"
    finally:
        os.close(fd)
    if module("kvm_pvm") and not (module("kvm_intel") or module("kvm_amd")):
        return "pvm", "/dev/kvm is PVM (module kvm_pvm)"
    mod = "kvm_intel" if module("kvm_intel") else "kvm_amd" if module("kvm_amd") else "kvm"
    return "hw", f"/dev/kvm is hardware KVM (module {mod})"


if __name__ == "__main__":
    k, why = kind()
    print(k, why)
