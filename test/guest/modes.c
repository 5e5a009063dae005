// SPDX-License-Identifier: Apache-2.0
/* probe guest: how the probe ends, chosen by probe.exit= on the command line. */
#include "acpi_check.h"
#include "hostile.h"
#include "hostile_net.h"
#include "probe.h"

#define COM1 0x3f8
#define I8042_DATA 0x60
#define I8042_STATUS 0x64
#define ECHO_VECTOR 0x24 /* ISA IRQ 4 at the conventional offset */
#define ECHO_MAX 200

struct mode {
	const char *name;
	void (*run)(void);
};

static void i8042_reset(void)
{
	outb(I8042_STATUS, 0xfe);
	/* a monitor that resets stops us here; give an asynchronous one time */
	delay_tsc(30000000);
	probe_error("reset-ignored");
	triple_fault();
}

static void mode_triple(void)
{
	triple_fault();
}

/*
 * For --on-reboot restart: each boot says whether the last run's memory is
 * still there (it must not be: the next run starts from zeroed RAM), leaves
 * its mark, and asks to reboot: through the i8042, or with a triple fault.
 * The mark sits at 32 MiB, where no loader writes.
 */
#define REBOOT_MARK_ADDR 0x2000000ULL
#define REBOOT_MARK 0x6b76726e72656274ULL

static void reboot_mark(void)
{
	volatile uint64_t *m = (volatile uint64_t *)REBOOT_MARK_ADDR;

	con_puts(*m == REBOOT_MARK ? "PROBE reboot.memory=stale\n" : "PROBE reboot.memory=clean\n");
	*m = REBOOT_MARK;
}

static void mode_reboot(void)
{
	reboot_mark();
	i8042_reset();
}

static void mode_reboot_triple(void)
{
	reboot_mark();
	triple_fault();
}

static void mode_halt(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* An instruction KVM must emulate and cannot: kvmrun must exit with status 3. */
#define EMULFAIL_ADDR 0xd8000000ULL /* in the 3-4 GiB hole, no device there */
static void mode_emulfail(void)
{
	do_emulfail(EMULFAIL_ADDR);
	probe_error("emulfail-survived");
	i8042_reset();
}

/* Ctrl-Alt-Del ends in Delete: e0 71 in set 2, e0 53 if the i8042 translates. */
static void mode_wait(void)
{
	uint8_t prev = 0;

	con_puts("PROBE waiting\n");
	for (;;) {
		if (inb(I8042_STATUS) & 1) {
			uint8_t b = inb(I8042_DATA);

			if (prev == 0xe0 && (b == 0x71 || b == 0x53))
				break;
			prev = b;
		}
		cpu_relax();
	}
	con_puts("PROBE ctrl-alt-del\n");
	i8042_reset();
}

/* --- echo: the serial receive interrupt through IOAPIC pin 4 ------------- */
struct gate {
	uint64_t lo, hi;
};
static struct gate idt[256] __attribute__((aligned(16))) = { { 0, 0 } };
static char line[ECHO_MAX + 1] = { 0 };
static int len = 0;

static void set_gate(int vec, void (*fn)(void))
{
	uint64_t a = (uint64_t)fn;

	idt[vec].lo = (a & 0xffff) | (uint64_t)SEL_CS64 << 16 | 0x8eULL << 40 |
		      ((a >> 16) & 0xffff) << 48;
	idt[vec].hi = a >> 32;
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(IOAPIC_BASE, reg);
	mmio_write32(IOAPIC_BASE + 0x10, v);
}

static void echo_byte(char c)
{
	if (c == '\r' || c == '\n') {
		if (!len)
			return; /* CR LF: one line, not two */
		line[len] = 0;
		len = 0;
		con_puts("PROBE echo=");
		con_puts(line);
		con_putc('\n');
		if (word_eq(line, "quit") && line[4] == 0)
			i8042_reset();
	} else if (c == 8 || c == 0x7f) {
		if (len)
			len--;
	} else if (c >= 0x20 && c < 0x7f && len < ECHO_MAX) {
		line[len++] = c; /* longer lines are cut, never overflow */
	} else if (c >= 0 && c < 0x20 && len + 1 < ECHO_MAX) {
		line[len++] = '^'; /* control bytes shown as ^A..^_, so tests can see them */
		line[len++] = (char)(c + 0x40);
	}
}

/* Called from irq_stub: drain the receiver, since the pin is edge-triggered. */
void echo_irq(void)
{
	while (inb(COM1 + 5) & 1)
		echo_byte((char)inb(COM1));
	mmio_write32(LAPIC_BASE + 0xb0, 0); /* EOI */
}

static void mode_echo(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (uint64_t)idt };
	uint32_t r[4];

	cpuid(1, r);
	set_gate(ECHO_VECTOR, irq_stub);
	set_gate(0xff, spurious_stub);
	__asm__ volatile("lidt %0" : : "m"(idtr));
	/* only the IOAPIC path: mask the 8259s and LINT0's ExtINT */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	mmio_write32(LAPIC_BASE + 0x350, 1u << 16);
	mmio_write32(LAPIC_BASE + 0x80, 0);	/* TPR: accept all */
	mmio_write32(LAPIC_BASE + 0xf0, 0x1ff); /* enabled, spurious 0xff */
	ioapic_write(0x19, (r[1] >> 24) << 24); /* to this CPU */
	ioapic_write(0x18, ECHO_VECTOR);	/* fixed, edge, high, unmasked */
	/* the UART last: a byte already waiting then makes a fresh edge */
	outb(COM1 + 4, 0x0b);
	outb(COM1 + 1, 0x01);
	con_puts("PROBE echo-ready\n");
	for (;;)
		__asm__ volatile("sti; hlt" ::: "memory");
}

/*
 * --- count: LAPIC timer ticks and a memory pattern, for snapshots ----------
 * A periodic LAPIC timer (10 ms) counts ticks; every 10 ticks the probe
 * checks a 1 MiB pattern at 16 MiB and prints the tick and the check. A
 * restored snapshot must go on from its tick with the pattern intact, until
 * probe.count=N ticks (default 300), then reset.
 */
#define TICK_VECTOR 0x30
#define COUNT_BUF 0x1000000ULL
#define COUNT_WORDS (1u << 17)
volatile uint64_t probe_ticks = 0;
static uint64_t count_seed = 0;

static uint64_t dec_value(const char *v, uint64_t dflt)
{
	uint64_t n = 0;
	int digits = 0;

	for (; v && *v >= '0' && *v <= '9'; v++, digits++)
		n = n * 10 + (uint64_t)(*v - '0');
	return digits ? n : dflt;
}

static int count_pattern_ok(void)
{
	volatile uint64_t *w = phys(COUNT_BUF, COUNT_WORDS * 8);

	for (uint32_t i = 0; i < COUNT_WORDS; i++)
		if (w[i] != (i * 0x9e3779b97f4a7c15ULL ^ count_seed))
			return 0;
	return 1;
}

static void mode_count(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (uint64_t)idt };
	const char *v = 0;
	uint64_t end, next = 10;
	volatile uint64_t *w = phys(COUNT_BUF, COUNT_WORDS * 8);

	cmdline_find(hostile_cmdline, "probe.count=", &v);
	end = dec_value(v, 300);
	count_seed = rdtsc();
	for (uint32_t i = 0; i < COUNT_WORDS; i++)
		w[i] = i * 0x9e3779b97f4a7c15ULL ^ count_seed;
	set_gate(TICK_VECTOR, tick_stub);
	set_gate(0xff, spurious_stub);
	__asm__ volatile("lidt %0" : : "m"(idtr));
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	mmio_write32(LAPIC_BASE + 0x80, 0);			    /* TPR: accept all */
	mmio_write32(LAPIC_BASE + 0xf0, 0x1ff);			    /* enabled, spurious 0xff */
	mmio_write32(LAPIC_BASE + 0x3e0, 0xb);			    /* divide by 1 */
	mmio_write32(LAPIC_BASE + 0x320, (1u << 17) | TICK_VECTOR); /* periodic */
	mmio_write32(LAPIC_BASE + 0x380, 10000000);		    /* 10 ms of KVM's 1 GHz bus */
	con_puts("PROBE count-ready\n");
	for (;;) {
		__asm__ volatile("sti; hlt; cli" ::: "memory");
		if (probe_ticks < next)
			continue;
		con_puts("PROBE count tick=");
		con_dec(next);
		con_puts(count_pattern_ok() ? " mem=ok\n" : " mem=bad\n");
		next += 10;
		if (next > end) {
			con_puts("PROBE count done\n");
			i8042_reset();
		}
	}
}

/*
 * --- clock: the TSC and kvmclock side by side, for snapshots --------------
 * Enables kvmclock on a page at 32 MiB and prints, every ~200 ms of TSC,
 * the TSC and kvmclock's nanoseconds. Across a restore both must go on
 * from where they were, together.
 */
#define CLOCK_PAGE 0x2000000ULL
struct pvti {
	uint32_t version, pad0;
	uint64_t tsc_timestamp, system_time;
	uint32_t mul;
	int8_t shift;
	uint8_t flags, pad[2];
};

/* kvmclock at the TSC read into *tsc: one reading of both, as Linux's clocksource watchdog takes. */
static uint64_t kvmclock_ns(volatile struct pvti *p, uint64_t *tsc)
{
	uint32_t v;
	uint64_t ns;

	do {
		v = p->version;
		__asm__ volatile("" ::: "memory");
		*tsc = rdtsc();
		uint64_t d = *tsc - p->tsc_timestamp;
		d = p->shift < 0 ? d >> -p->shift : d << p->shift;
		ns = p->system_time + (uint64_t)(((unsigned __int128)d * p->mul) >> 32);
		__asm__ volatile("" ::: "memory");
	} while ((v & 1) || v != p->version);
	return ns;
}

static void mode_clock(void)
{
	volatile struct pvti *p = phys(CLOCK_PAGE, 4096);
	uint64_t a = CLOCK_PAGE | 1;

	__asm__ volatile("wrmsr" : : "c"(0x4b564d01), "a"((uint32_t)a), "d"((uint32_t)(a >> 32)));
	con_puts("PROBE clock-ready\n");
	for (;;) {
		uint64_t tsc, ns = kvmclock_ns(p, &tsc);
		con_puts("PROBE clock tsc=");
		con_dec(tsc);
		con_puts(" kvm=");
		con_dec(ns);
		con_puts("\n");
		delay_tsc(200 * TSC_MS);
	}
}

/*
 * --- print: console output without end, for the output limiter ----------
 * Prints probe.count= bytes (default 102400) as 64-byte lines
 * "PROBE print NNNNNNNN ....", then `PROBE print done`.
 */
static void mode_print(void)
{
	const char *v = 0;
	uint64_t n;

	cmdline_find(hostile_cmdline, "probe.count=", &v);
	n = dec_value(v, 102400);
	for (uint64_t done = 0; done < n; done += 64) {
		char line[65];
		uint64_t x = done;

		memcpy(line, "PROBE print ", 12);
		for (int i = 19; i >= 12; i--, x /= 10)
			line[i] = (char)('0' + x % 10);
		for (int i = 20; i < 63; i++)
			line[i] = (char)('a' + i % 26);
		line[20] = ' ';
		line[63] = '\n';
		line[64] = 0;
		con_puts(line);
	}
	con_puts("PROBE print done\n");
}

/* Later modes (virtio poking, ACPI checks) are one line here. */
static const struct mode modes[] = {
	{ "reset", i8042_reset },
	{ "triple", mode_triple },
	{ "emulfail", mode_emulfail },
	{ "reboot", mode_reboot },
	{ "reboot-triple", mode_reboot_triple },
	{ "halt", mode_halt },
	{ "wait", mode_wait },
	{ "echo", mode_echo },
	{ "count", mode_count },
	{ "clock", mode_clock },
	{ "print", mode_print },
	{ "acpi", mode_acpi }, /* acpi_check.c */
	/* hostile.c, usually chosen as probe.hostile=NAME */
	{ "blk-chains", hostile_blk_chains },
	{ "blk-ops", hostile_blk_ops },
	{ "blk-loop", hostile_blk_loop },
	{ "blk-rate", hostile_blk_rate },
	{ "mmio-poke", hostile_mmio_poke },
	{ "serial-poke", hostile_serial_poke },
	{ "i8042-poke", hostile_i8042_poke },
	{ "reg-read", hostile_reg_read },
	{ "net-chains", hostile_net_chains },
	{ "rx-flood", hostile_rx_flood }, /* hostile_net.c */
};

static const struct mode *mode_find(const char *cmdline)
{
	const char *v;

	if (!cmdline_find(cmdline, "probe.exit=", &v) &&
	    !cmdline_find(cmdline, "probe.hostile=", &v))
		return &modes[0];
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (word_eq(v, modes[i].name))
			return &modes[i];
	return 0;
}

int mode_check(const char *cmdline)
{
	if (mode_find(cmdline))
		return 0;
	probe_error("unknown-exit-mode");
	return -1;
}

void mode_run(const char *cmdline)
{
	const struct mode *m = mode_find(cmdline);

	hostile_cmdline = cmdline;
	(m ? m : &modes[0])->run();
	triple_fault();
}
