// SPDX-License-Identifier: Apache-2.0
/*
 * probe guest: the bzImage setup sectors (boot sector + SETUP_SECTS), only the
 * Linux boot-protocol 2.15 header and a real-mode stub. build.sh passes the
 * sizes of the protected-mode part, which follows at (SETUP_SECTS+1)*512.
 * Field offsets follow Documentation/arch/x86/boot.rst; .org catches a slip.
 */
	.code16
	.text
	.globl	_start
_start:
	/* nothing runs from the boot sector */
	.org	0x1f1
	.byte	SETUP_SECTS		/* setup_sects */
	.word	0			/* root_flags */
	.long	SYSSIZE			/* syssize, 16-byte units */
	.word	0			/* ram_size */
	.word	0xffff			/* vid_mode: normal */
	.word	0			/* root_dev */
	.word	0xaa55			/* boot_flag */
	.org	0x200
	jmp	start16			/* real-mode entry, CS:0 = file offset 0x200 */
	.org	0x202
	.ascii	"HdrS"
	.word	0x020f			/* version 2.15 */
	.long	0			/* realmode_swtch */
	.word	0x1000			/* start_sys_seg (obsolete) */
	.word	kernel_version - _start - 0x200
	.byte	0			/* type_of_loader */
	.byte	0x01			/* loadflags: LOADED_HIGH */
	.word	0			/* setup_move_size */
	.long	0x100000		/* code32_start */
	.long	0			/* ramdisk_image */
	.long	0			/* ramdisk_size */
	.long	0			/* bootsect_kludge */
	.word	0			/* heap_end_ptr */
	.byte	0			/* ext_loader_ver */
	.byte	0			/* ext_loader_type */
	.long	0			/* cmd_line_ptr */
	.long	0x7fffffff		/* initrd_addr_max */
	.long	0x200000		/* kernel_alignment */
	.byte	0			/* relocatable_kernel: no, load at 1 MiB */
	.byte	21			/* min_alignment (log2) */
	.word	0x0003			/* xloadflags: KERNEL_64, CAN_BE_LOADED_ABOVE_4G */
	.long	65535			/* cmdline_size */
	.long	0			/* hardware_subarch */
	.quad	0			/* hardware_subarch_data */
	.long	0			/* payload_offset */
	.long	0			/* payload_length */
	.quad	0			/* setup_data */
	.quad	0x100000		/* pref_address */
	.long	INIT_SIZE		/* init_size */
	.long	0			/* handover_offset */
	.long	KERNEL_INFO_OFFSET	/* kernel_info_offset */
	.org	0x26c

/* A loader that runs the real-mode setup gets told this image cannot. */
	.globl	start16, msg
start16:
	mov	%cs, %ax
	mov	%ax, %ds
	mov	$(msg - _start - 0x200), %si
	mov	$0x3f8, %dx
1:	lodsb
	test	%al, %al
	jz	2f
	out	%al, %dx
	jmp	1b
2:	cli
	hlt
	jmp	2b
msg:
	.asciz	"PROBE error=real-mode-entry\r\n"
kernel_version:
	.asciz	"kvmrun probe"
	.org	(SETUP_SECTS + 1) * 512
