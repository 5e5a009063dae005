// SPDX-License-Identifier: Apache-2.0
/*
 * probe guest: entry points, the bench fast path and the switch to long mode.
 * Linked at 0x100000: the 32-bit PVH entry sits at +0 and the Linux 64-bit
 * entry at exactly +0x200, as the bzImage boot protocol wants.
 */
#include "layout.h"

/* Print "PROBE hello\n" unrolled: no LSR polling, one port exit per byte. */
.macro BENCH_HELLO
	mov	$0x3f8, %dx
	.irp	c, 0x50,0x52,0x4f,0x42,0x45,0x20,0x68,0x65,0x6c,0x6c,0x6f,0x0a
	mov	$\c, %al
	out	%al, %dx
	.endr
.endm

/*
 * If the NUL-terminated string at \di ends in the word "probe.bench", print
 * the hello and triple-fault; otherwise jump to \no. The last word, since a
 * monitor appends the user's words to its own defaults. REPNE SCASB finds
 * the end in one emulated instruction instead of a loop of them.
 */
.macro BENCH_CHECK di, no
	xor	%eax, %eax
	mov	$0x10000, %ecx		/* the longest command line we look at */
	cld
	repne scasb			/* \di ends one past the NUL */
	jne	\no
	cmp	$0x10000 - 12, %ecx	/* shorter than 11 characters? */
	ja	\no
	cmpl	$0x626f7270, -12(\di)	/* "prob" */
	jne	\no
	cmpl	$0x65622e65, -8(\di)	/* "e.be" */
	jne	\no
	cmpl	$0x0068636e, -4(\di)	/* "nch\0" */
	jne	\no
	cmp	$0x10000 - 12, %ecx	/* the whole line */
	je	.Lhello\@
	cmpb	$0x20, -13(\di)	/* or a word after a space */
	jne	\no
.Lhello\@:
	BENCH_HELLO
	lidt	idt_null
	ud2
.endm

/* 32-bit flat, paging off -> 64-bit code at \target (CR4.PAE, CR3, LME, PG). */
.macro ENTER_LONG target
	lgdt	gdt_ptr
	mov	%cr4, %eax
	or	$0x20, %eax
	mov	%eax, %cr4
	mov	$pml4, %eax
	mov	%eax, %cr3
	mov	$0xc0000080, %ecx
	rdmsr
	or	$0x100, %eax
	wrmsr
	mov	%cr0, %eax
	or	$0x80000001, %eax
	mov	%eax, %cr0
	ljmp	$SEL_CS64, $\target
.endm

	.section .head, "ax"
	.code32
/* PVH: EBX = hvm_start_info. Look for a trailing "probe.bench" first. */
	.globl	pvh_start32
pvh_start32:
	cli
	mov	SI_CMDLINE(%ebx), %edi
	cmpl	$0, SI_CMDLINE+4(%ebx)
	jne	1f
	test	%edi, %edi
	jz	1f
	BENCH_CHECK %edi, 1f
1:	mov	%ebx, %esi
	mov	$BOOT_PVH, %edi
	ENTER_LONG pvh_start64

	.org	0x200
	.code64
/* Linux 64-bit boot protocol: RSI = boot_params, low 4 GiB identity-mapped. */
	.globl	startup_64
startup_64:
	mov	$BOOT_BZIMAGE, %ebp
	jmp	1f
	.globl	elf_start64
elf_start64:
	mov	$BOOT_ELF, %ebp
1:	cli
	mov	BP_CMD_LINE_PTR(%rsi), %edi
	cmpl	$0, BP_EXT_CMD_LINE_PTR(%rsi)
	jne	2f
	test	%edi, %edi
	jz	2f
	BENCH_CHECK %rdi, 2f
	/* Our own stack, GDT and page tables: the protocol promises no stack. */
2:	mov	%ebp, %edi
	mov	$stack_top, %esp
	lgdt	gdt_ptr(%rip)
	mov	$pml4, %eax
	mov	%rax, %cr3
	push	$SEL_CS64
	lea	common64(%rip), %rax
	push	%rax
	lretq

pvh_start64:
	mov	%edi, %edi	/* upper halves are undefined after the switch */
	mov	%esi, %esi
common64:
	mov	$SEL_DS, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	mov	%eax, %fs
	mov	%eax, %gs
	mov	$stack_top, %esp
	call	probe_main
	jmp	triple_fault

	.text
/* IDT limit 0: the #UD escalates through #GP and #DF to a shutdown. */
	.globl	triple_fault
triple_fault:
	lidt	idt_null(%rip)
	ud2

/*
 * The one deliberate POPCNT (build.sh allows exactly this address), on the
 * MMIO address in %rdi. No memory slot backs it, so every KVM must emulate
 * the access, and KVM's emulator has no POPCNT (0f b8 is empty in its
 * tables): a KVM internal error (emulation failure) on hardware KVM, nested
 * KVM and PVM alike.
 */
	.globl	do_emulfail
do_emulfail:
	.globl	probe_emulfail_insn
probe_emulfail_insn:
	popcnt	(%rdi), %rax
	ret

	.globl	irq_stub
irq_stub:
	push	%rax
	push	%rcx
	push	%rdx
	push	%rsi
	push	%rdi
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	cld
	call	echo_irq
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rdi
	pop	%rsi
	pop	%rdx
	pop	%rcx
	pop	%rax
	iretq

/* The count mode's LAPIC timer: one more tick, then EOI (no C, no stack beyond rax). */
	.globl	tick_stub
tick_stub:
	push	%rax
	lock incq	probe_ticks(%rip)
	movabs	$0xfee000b0, %rax
	movl	$0, (%rax)
	pop	%rax
	iretq

/* A spurious LAPIC interrupt needs no EOI. */
	.globl	spurious_stub
spurious_stub:
	iretq

/*
 * AP trampoline, copied to a free page P below 1 MiB; SIPI starts it at
 * CS = P >> 4, IP = 0, so it may only use offsets from tramp_start.
 */
	.code16
	.globl	tramp_start
tramp_start:
	cli
	lgdtl	%cs:(tramp_gdt - tramp_start)
	mov	%cr0, %eax
	or	$1, %eax
	mov	%eax, %cr0
	ljmpl	$SEL_CS32, $ap_start32
tramp_gdt:
	.word	gdt_end - gdt - 1
	.long	gdt
	.globl	tramp_end
tramp_end:

	.code32
ap_start32:
	mov	$SEL_DS, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	ENTER_LONG ap_start64

	.code64
/*
 * Record this APIC id, then count it: the BSP reads the count last. With
 * ap_park set (a mode that needs a second CPU), the AP with APIC id 1 then
 * waits on its own stack for ap_work and calls it; every other AP halts.
 */
ap_start64:
	mov	$1, %eax
	cpuid
	shr	$24, %ebx
	movb	$1, ap_seen(%rbx)
	lock incl ap_count(%rip)
	cmpl	$0, ap_park(%rip)
	je	1f
	cmp	$1, %ebx
	jne	1f
	mov	$ap_stack_top, %rsp
2:	pause
	mov	ap_work(%rip), %rax
	test	%rax, %rax
	jz	2b
	call	*%rax
1:	cli
	hlt
	jmp	1b

	.data
	.balign	16
gdt:
	.quad	0
	.quad	0x00cf9b000000ffff	/* 0x08: 32-bit code */
	.quad	0x00af9b000000ffff	/* 0x10: 64-bit code */
	.quad	0x00cf93000000ffff	/* 0x18: data */
gdt_end:
	.balign	8
gdt_ptr:	/* 32-bit LGDT reads the low 4 bytes of the base */
	.word	gdt_end - gdt - 1
	.quad	gdt
idt_null:
	.word	0
	.quad	0

	.section .rodata
/* Linux boot protocol 2.15 kernel_info: only the fixed part. */
	.balign	4
	.globl	kernel_info
kernel_info:
	.ascii	"LToP"
	.long	kernel_info_end - kernel_info
	.long	kernel_info_end - kernel_info
	.long	0
kernel_info_end:

/* XEN_ELFNOTE_PHYS32_ENTRY; build.sh strips it for probe.elf. */
	.section .note.Xen, "a", @note
	.balign	4
	.long	4, 4, 18
	.asciz	"Xen"
	.long	pvh_start32

	.section .stack, "aw", @nobits
	.balign	16
	.skip	16384
stack_top:
	.skip	16384
ap_stack_top:

	.section .note.GNU-stack, "", @progbits
