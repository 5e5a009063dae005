// SPDX-License-Identifier: Apache-2.0
/*
 * probe guest: page tables built by the assembler, so boot runs no loop.
 * Identity map of the low 4 GiB with 2 MiB pages; PDPT entry 4 points at
 * pd_win, the window phys() moves over memory above 4 GiB.
 * Accessed/dirty bits are preset so no page walk has to write them.
 */
#define PTE_TABLE 0x23	/* present, writable, accessed */
#define PTE_2M 0xe3	/* present, writable, accessed, dirty, 2 MiB */
#define PTE_UC 0x18	/* PWT|PCD: the 3-4 GiB hole holds MMIO */

	.data
	.balign	4096
	.globl	pml4
pml4:
	.quad	pdpt + PTE_TABLE
	.fill	511, 8, 0
pdpt:
	.quad	pd + PTE_TABLE
	.quad	pd + 0x1000 + PTE_TABLE
	.quad	pd + 0x2000 + PTE_TABLE
	.quad	pd + 0x3000 + PTE_TABLE
	.quad	pd_win + PTE_TABLE
	.fill	507, 8, 0
pd:
	.set	.Li, 0
	.rept	1536
	.quad	(.Li << 21) | PTE_2M
	.set	.Li, .Li + 1
	.endr
	.rept	512
	.quad	(.Li << 21) | PTE_2M | PTE_UC
	.set	.Li, .Li + 1
	.endr
	.globl	pd_win
pd_win:
	.fill	512, 8, 0

	.section .note.GNU-stack, "", @progbits
