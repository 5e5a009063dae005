/* SPDX-License-Identifier: Apache-2.0 */
/* PASS/FAIL lines for the unit tests without a virtqueue (harness.h has its own). */
#ifndef KVMRUN_TEST_CHECK_H
#define KVMRUN_TEST_CHECK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

/* Each test file defines CHECK_PREFIX ("unit/snap/") before including this. */
static int failures;

__attribute__((format(printf, 3, 4))) static void check(bool ok, const char *name, const char *fmt,
							...)
{
	if (ok) {
		printf("PASS " CHECK_PREFIX "%s\n", name);
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	printf("FAIL " CHECK_PREFIX "%s: ", name);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	failures++;
}

#endif
