// SPDX-License-Identifier: Apache-2.0
/* A small AML generator (ACPI 6.x, chapter 20) and the resource descriptors the DSDT uses (6.4). */
#include "aml.h"

#include <string.h>

enum {
	AML_ZERO = 0x00,
	AML_ONE = 0x01,
	AML_NAME = 0x08,
	AML_BYTE_PREFIX = 0x0a,
	AML_WORD_PREFIX = 0x0b,
	AML_DWORD_PREFIX = 0x0c,
	AML_STRING_PREFIX = 0x0d,
	AML_QWORD_PREFIX = 0x0e,
	AML_SCOPE = 0x10,
	AML_METHOD = 0x14,
	AML_ARG0 = 0x68,
	AML_NOTIFY = 0x86,
	AML_LEQUAL = 0x93,
	AML_IF = 0xa0,
	AML_BUFFER = 0x11,
	AML_PACKAGE = 0x12,
	AML_DUAL_NAME = 0x2e,
	AML_MULTI_NAME = 0x2f,
	AML_EXT_PREFIX = 0x5b,
	AML_EXT_DEVICE = 0x82,
	AML_ROOT = 0x5c,
	AML_PARENT = 0x5e,
	AML_ONES = 0xff,
};

static void emit(struct aml *a, const void *src, size_t n)
{
	if (a->full || n > a->cap - a->len) {
		a->full = true;
		return;
	}
	memcpy(a->p + a->len, src, n);
	a->len += n;
}

static void emit_u8(struct aml *a, uint8_t v)
{
	emit(a, &v, 1);
}

static void emit_le(struct aml *a, uint64_t v, size_t bytes)
{
	uint8_t b[8];
	for (size_t i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	emit(a, b, bytes);
}

/* Put n bytes at position `at`, moving what follows up. */
static void insert(struct aml *a, size_t at, const uint8_t *src, size_t n)
{
	if (a->full || n > a->cap - a->len) {
		a->full = true;
		return;
	}
	memmove(a->p + at + n, a->p + at, a->len - at);
	memcpy(a->p + at, src, n);
	a->len += n;
}

/*
 * PkgLength (20.2.4): the package's length counting its own 1-4 encoding
 * bytes. One byte holds up to 63; otherwise bits 7:6 of the lead byte give
 * the number of following bytes, its bits 3:0 the low nibble, and each
 * following byte the next 8 bits.
 */
void aml_end(struct aml *a, size_t mark)
{
	size_t body = a->len - mark, n;
	uint8_t enc[4];

	if (a->full)
		return;
	if (body + 1 < 0x40)
		n = 1;
	else if (body + 2 < 0x1000)
		n = 2;
	else if (body + 3 < 0x100000)
		n = 3;
	else if (body + 4 < 0x10000000)
		n = 4;
	else {
		a->full = true;
		return;
	}
	size_t total = body + n;
	if (n == 1) {
		enc[0] = (uint8_t)total;
	} else {
		enc[0] = (uint8_t)((n - 1) << 6 | (total & 0xf));
		for (size_t i = 1; i < n; i++)
			enc[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	insert(a, mark, enc, n);
}

/* The shortest encoding of an integer constant (20.2.3): Zero/One/Ones or a prefixed value. */
static size_t integer_bytes(uint64_t v, uint8_t out[9])
{
	size_t n;
	if (v == 0 || v == 1) {
		out[0] = v ? AML_ONE : AML_ZERO;
		return 1;
	}
	if (v == UINT64_MAX) {
		out[0] = AML_ONES;
		return 1;
	}
	if (v <= 0xff)
		out[0] = AML_BYTE_PREFIX, n = 1;
	else if (v <= 0xffff)
		out[0] = AML_WORD_PREFIX, n = 2;
	else if (v <= 0xffffffff)
		out[0] = AML_DWORD_PREFIX, n = 4;
	else
		out[0] = AML_QWORD_PREFIX, n = 8;
	for (size_t i = 0; i < n; i++)
		out[1 + i] = (uint8_t)(v >> (8 * i));
	return 1 + n;
}

void aml_integer(struct aml *a, uint64_t v)
{
	uint8_t b[9];
	emit(a, b, integer_bytes(v, b));
}

void aml_string(struct aml *a, const char *s)
{
	emit_u8(a, AML_STRING_PREFIX);
	emit(a, s, strlen(s) + 1);
}

static bool name_char(char ch, bool lead)
{
	return ch == '_' || (ch >= 'A' && ch <= 'Z') || (!lead && ch >= '0' && ch <= '9');
}

/*
 * A NameString (20.2.2) from ASL spelling: optional '\' or '^' prefixes,
 * then segments of up to four characters separated by '.', short ones padded
 * with '_'. A malformed name marks the output unusable.
 */
static void aml_name_string(struct aml *a, const char *path)
{
	char segs[8][4];
	int nseg = 0;
	const char *s = path;

	for (; *s == '\\' || *s == '^'; s++)
		emit_u8(a, *s == '\\' ? AML_ROOT : AML_PARENT);
	while (*s) {
		size_t n = 0;
		if (nseg == 8)
			goto bad;
		while (s[n] && s[n] != '.')
			n++;
		if (n == 0 || n > 4)
			goto bad;
		for (size_t i = 0; i < 4; i++) {
			segs[nseg][i] = i < n ? s[i] : '_';
			if (!name_char(segs[nseg][i], i == 0))
				goto bad;
		}
		nseg++;
		s += n;
		if (*s == '.' && !*++s)
			goto bad;
	}
	if (nseg == 0)
		emit_u8(a, 0x00); /* NullName */
	else if (nseg == 2)
		emit_u8(a, AML_DUAL_NAME);
	else if (nseg > 2)
		emit_u8(a, AML_MULTI_NAME), emit_u8(a, (uint8_t)nseg);
	emit(a, segs, 4 * (size_t)nseg);
	return;
bad:
	a->full = true;
}

/* Name (name, <the object the caller emits next>) */
void aml_name(struct aml *a, const char *name)
{
	emit_u8(a, AML_NAME);
	aml_name_string(a, name);
}

/* Scope (name) { ... aml_end } */
size_t aml_scope(struct aml *a, const char *name)
{
	emit_u8(a, AML_SCOPE);
	size_t mark = a->len;
	aml_name_string(a, name);
	return mark;
}

/* Device (name) { ... aml_end } */
size_t aml_device(struct aml *a, const char *name)
{
	emit_u8(a, AML_EXT_PREFIX);
	emit_u8(a, AML_EXT_DEVICE);
	size_t mark = a->len;
	aml_name_string(a, name);
	return mark;
}

/* Method (name, nargs, Serialized) { ... aml_end } */
size_t aml_method(struct aml *a, const char *name, unsigned nargs)
{
	emit_u8(a, AML_METHOD);
	size_t mark = a->len;
	aml_name_string(a, name);
	emit_u8(a, (uint8_t)((nargs & 7) | 1u << 3)); /* MethodFlags: SerializeFlag */
	return mark;
}

/* If (LEqual (Arg<n>, v)) { ... aml_end } */
size_t aml_if_arg_equals(struct aml *a, unsigned n, uint64_t v)
{
	emit_u8(a, AML_IF);
	size_t mark = a->len;
	emit_u8(a, AML_LEQUAL);
	emit_u8(a, (uint8_t)(AML_ARG0 + (n & 7)));
	aml_integer(a, v);
	return mark;
}

/* Notify (name, v) */
void aml_notify(struct aml *a, const char *name, uint64_t v)
{
	emit_u8(a, AML_NOTIFY);
	aml_name_string(a, name);
	aml_integer(a, v);
}

/* Package (count) { ... aml_end } */
size_t aml_package(struct aml *a, uint8_t count)
{
	emit_u8(a, AML_PACKAGE);
	size_t mark = a->len;
	emit_u8(a, count);
	return mark;
}

/* Buffer () { ... aml_buffer_end }: the size operand comes before the bytes, so it is inserted too. */
size_t aml_buffer(struct aml *a)
{
	emit_u8(a, AML_BUFFER);
	return a->len;
}

void aml_buffer_end(struct aml *a, size_t mark)
{
	uint8_t b[9];
	if (a->full)
		return;
	insert(a, mark, b, integer_bytes(a->len - mark, b));
	aml_end(a, mark);
}

/* EisaId ("PNP0501"): three letters in 5 bits each and four hex digits, big-endian. */
uint32_t aml_eisa_id(const char *id)
{
	uint32_t v = (uint32_t)((id[0] - 0x40) << 26 | (id[1] - 0x40) << 21 | (id[2] - 0x40) << 16);
	for (int i = 3; i < 7; i++) {
		char ch = id[i];
		v |= (uint32_t)(ch <= '9' ? ch - '0' : ch - 'A' + 10) << (4 * (6 - i));
	}
	return __builtin_bswap32(v);
}

/* ---- resource descriptors (6.4), inside a ResourceTemplate buffer ---- */

#define RES_SMALL(name, len) ((uint8_t)((name) << 3 | (len)))
#define RES_LARGE(name) ((uint8_t)(0x80 | (name)))
#define RES_IRQ RES_SMALL(0x04, 3) /* with the information byte */
#define RES_IO RES_SMALL(0x08, 7)
#define RES_END_TAG RES_SMALL(0x0f, 1)
#define RES_MEMORY32_FIXED RES_LARGE(0x06)
#define RES_EXT_IRQ RES_LARGE(0x09)
/* Interrupt flags: bit 0 consumer (extended form only), 1 edge (_HE), 2 active low (_LL), 3 shared. */
#define IRQ_CONSUMER 0x01
#define IRQ_EDGE 0x02
#define IRQ_SMALL_EDGE 0x01 /* the small IRQ descriptor's own bit layout */

/* IO (Decode16, port, port, 1, len) */
void aml_res_io(struct aml *a, uint16_t port, uint8_t len)
{
	emit_u8(a, RES_IO);
	emit_u8(a, 0x01); /* decodes 16 address bits */
	emit_le(a, port, 2);
	emit_le(a, port, 2);
	emit_u8(a, 1); /* alignment */
	emit_u8(a, len);
}

/* IRQ (Edge, ActiveHigh, Exclusive) {irq} */
void aml_res_irq_edge(struct aml *a, unsigned irq)
{
	emit_u8(a, RES_IRQ);
	emit_le(a, 1u << irq, 2);
	emit_u8(a, IRQ_SMALL_EDGE);
}

/* Memory32Fixed (ReadWrite, base, len) */
void aml_res_memory32_fixed(struct aml *a, uint32_t base, uint32_t len)
{
	emit_u8(a, RES_MEMORY32_FIXED);
	emit_le(a, 9, 2); /* bytes after the length field */
	emit_u8(a, 0x01); /* read-write */
	emit_le(a, base, 4);
	emit_le(a, len, 4);
}

/* Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {gsi} */
void aml_res_interrupt_edge(struct aml *a, uint32_t gsi)
{
	emit_u8(a, RES_EXT_IRQ);
	emit_le(a, 6, 2); /* flags, count, one 32-bit interrupt */
	emit_u8(a, IRQ_CONSUMER | IRQ_EDGE);
	emit_u8(a, 1);
	emit_le(a, gsi, 4);
}

void aml_res_end(struct aml *a)
{
	emit_u8(a, RES_END_TAG);
	emit_u8(a, 0); /* checksum 0: "treat as correct" */
}
