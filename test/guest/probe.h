// SPDX-License-Identifier: Apache-2.0
/* probe guest: shared declarations of the freestanding C part. */
#ifndef PROBE_H
#define PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "layout.h"

#define E820_MAX 128
#define LAPIC_BASE 0xfee00000UL
#define IOAPIC_BASE 0xfec00000UL

struct e820 {
	uint64_t addr, size;
	uint32_t type;
};

/* What the monitor handed over, read once from start_info or boot_params. */
struct bootinfo {
	int kind;
	const char *cmdline; /* NUL-terminated, "" when none */
	uint64_t initrd_addr, initrd_size;
	uint32_t e820_count;
	struct e820 e820[E820_MAX];
	/* physical ranges the AP trampoline must not overwrite */
	uint64_t busy[6][2];
	int nbusy;
};

/* --- port and MMIO access ------------------------------------------------ */
static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t mmio_read32(uint64_t a)
{
	return *(volatile uint32_t *)a;
}
static inline void mmio_write32(uint64_t a, uint32_t v)
{
	*(volatile uint32_t *)a = v;
}
static inline void cpuid(uint32_t leaf, uint32_t r[4])
{
	__asm__ volatile("cpuid"
			 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(leaf), "c"(0));
}
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}
static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}
static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

/* --- lib.c: console, formatting, physical memory ------------------------- */
/* Write one byte to COM1, waiting for the transmitter to be free. */
void con_putc(char c);
void con_puts(const char *s);
void con_hex(uint64_t v); /* "0x" and lowercase digits, no padding */
void con_dec(uint64_t v);
/* Start a "PROBE " line; the caller ends it with con_puts("\n"). */
void probe_line(const char *key);
void probe_error(const char *reason);
size_t strlen(const char *s);
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
/* 1 when `word` is a space-separated word of s; *value points after '=' for "key=" words. */
int cmdline_find(const char *s, const char *key, const char **value);
/* Compare a cmdline value (ends at space or NUL) with name. */
int word_eq(const char *value, const char *name);
/*
 * A pointer to physical [pa, pa+len) with len <= 2 MiB. Below 4 GiB this is
 * the identity map; above, a two-entry 2 MiB window that the next call
 * replaces, so only one high pointer is valid at a time.
 */
void *phys(uint64_t pa, uint64_t len);
void delay_tsc(uint64_t cycles);
/*
 * TSC cycles in a millisecond, taken as 3 GHz: waits for the monitor are
 * bounds, not measurements. They must be time, not a number of register
 * reads: kvmrun maps the virtio registers read-only, so a read costs
 * nanoseconds on hardware KVM and microseconds only in PVM's emulator.
 */
#define TSC_MS 3000000ULL
/*
 * virtio 1.x negotiation on the virtio-mmio window at `base`: reset,
 * ACKNOWLEDGE, DRIVER, driver features `feat` (low word) and VERSION_1,
 * FEATURES_OK. 0; -1: no device `id` there; -2: `feat` or VERSION_1 not
 * offered; -3: FEATURES_OK did not stick.
 */
int virtio_negotiate(uint64_t base, uint32_t id, uint32_t feat);

/* --- probe.c ------------------------------------------------------------- */
void probe_main(int kind, uint64_t info);

/* --- mp.c ---------------------------------------------------------------- */
/* Find and check the MP table; print mp_cpus and mp_ioapic. */
void mp_report(void);
/* Start every other enabled CPU of the MP table; print cpus_up. */
void smp_report(const struct bootinfo *bi);

/* --- modes.c ------------------------------------------------------------- */
/* Run the probe.exit= mode chosen on the command line; never returns. */
__attribute__((noreturn)) void mode_run(const char *cmdline);
/* Report an unknown mode before the report starts; 0 when fine. */
int mode_check(const char *cmdline);
void echo_irq(void);

/* --- head.S -------------------------------------------------------------- */
__attribute__((noreturn)) void triple_fault(void);
uint64_t do_emulfail(uint64_t mmio_addr);
void irq_stub(void);
void spurious_stub(void);
void tick_stub(void);
extern volatile uint64_t probe_ticks;
extern char tramp_start[], tramp_end[];
extern uint64_t pd_win[512];
extern volatile uint32_t ap_count;
/* Set before smp_report: the AP with APIC id 1 waits for ap_work and runs it. */
extern volatile uint32_t ap_park;
extern void (*volatile ap_work)(void);
extern volatile uint8_t ap_seen[256];

#endif
