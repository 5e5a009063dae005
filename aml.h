/* SPDX-License-Identifier: Apache-2.0 */
/* A small AML generator: what acpi.c's DSDT is written with. */
#ifndef KVMRUN_AML_H
#define KVMRUN_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * AML grows at the end of a fixed buffer. A package's PkgLength is only known
 * once its contents are written, so the opener returns a mark and aml_end()
 * inserts the encoding there. When a write does not fit, `full` is set and
 * the output is unusable (the caller checks once at the end).
 */
struct aml {
	uint8_t *p;
	size_t len, cap;
	bool full;
};

/*
 * Openers return a mark; aml_end(a, mark) closes the package there (its
 * PkgLength is only known then). Names are ASL spellings ("\\_SB_",
 * "_HID", "^COM1.X"); a malformed one marks the output unusable.
 */
size_t aml_scope(struct aml *a, const char *name);  /* Scope (name) { */
size_t aml_device(struct aml *a, const char *name); /* Device (name) { */
size_t aml_package(struct aml *a, uint8_t count);   /* Package (count) { */
size_t aml_method(struct aml *a, const char *name,
		  unsigned nargs); /* Method (name, n, Serialized) { */
size_t aml_if_arg_equals(struct aml *a, unsigned n, uint64_t v); /* If (LEqual (Arg<n>, v)) { */
void aml_notify(struct aml *a, const char *name, uint64_t v);	 /* Notify (name, v) */
void aml_end(struct aml *a, size_t mark);			 /* } */
size_t aml_buffer(struct aml *a);				 /* Buffer () { */
void aml_buffer_end(struct aml *a, size_t mark);		 /* } (inserts the size too) */
void aml_name(struct aml *a, const char *name); /* Name (name, <what comes next>) */
void aml_integer(struct aml *a, uint64_t v);	/* the shortest encoding of v */
void aml_string(struct aml *a, const char *s);
/* EisaId ("PNP0501") as the integer the namespace holds. */
uint32_t aml_eisa_id(const char *id);

/* Resource descriptors, inside a Buffer that holds a ResourceTemplate. */
void aml_res_io(struct aml *a, uint16_t port, uint8_t len); /* IO (Decode16, ...) */
void aml_res_irq_edge(struct aml *a, unsigned irq);	    /* IRQ (Edge, ...) {irq} */
void aml_res_memory32_fixed(struct aml *a, uint32_t base, uint32_t len);
void aml_res_interrupt_edge(struct aml *a, uint32_t gsi); /* Interrupt (Edge) {gsi} */
void aml_res_end(struct aml *a);			  /* EndTag */

#endif
