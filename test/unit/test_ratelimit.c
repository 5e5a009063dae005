// SPDX-License-Identifier: Apache-2.0
/* Unit tests for the token buckets: refills, bursts, over-sized requests, exact waits, parsing. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "ratelimit.h"

#define CHECK_PREFIX "unit/ratelimit/"
#include "check.h"

#define SEC 1000000000ull
#define T0 (1000 * SEC) /* the clock does not start at 0 */

/*
 * A guest sending requests of `bytes` back to back for `secs` of simulated
 * time through `s`: when blocked it waits exactly as told (kvmrun), or a
 * flat 100 ms (Firecracker's retry). Requests per second achieved, after
 * the buckets' initial contents are spent (the first simulated second).
 */
static double achieved(const struct rl_spec *s, uint64_t bytes, double secs, bool flat,
		       double *bytes_per_s)
{
	struct ratelimit rl = { 0 };
	uint64_t t = T0, wait, n = 0, end = T0 + (uint64_t)(secs * SEC), from = T0 + SEC;
	uint64_t n_from = 0;
	rl_init(&rl, s, t);
	while (t < end) {
		if (t >= from && !n_from)
			n_from = n ? n : 1;
		if (rl_admit(&rl, bytes, t, &wait))
			n++;
		else
			t += flat ? SEC / 10 : wait;
	}
	double r = (double)(n - n_from) / (secs - 1);
	*bytes_per_s = r * (double)bytes;
	return r;
}

static void test_disabled(void)
{
	struct rl_spec s = { { 0, 0, 1000 }, { 100, 0, 0 } };
	struct ratelimit rl = { 0 };
	uint64_t w, ok = 0;
	rl_init(&rl, &s, T0);
	for (int i = 0; i < 100000; i++)
		ok += rl_admit(&rl, 1u << 20, T0, &w);
	check(ok == 100000 && !rl_on(&s), "disabled", "%llu of 100000 admitted",
	      (unsigned long long)ok);
}

static void test_start_full_and_wait(void)
{
	struct rl_spec s = { { 0, 0, 0 }, { 10, 0, 1000 } };
	struct ratelimit rl = { 0 };
	uint64_t w = 0, ok = 0;
	rl_init(&rl, &s, T0);
	for (int i = 0; i < 10; i++)
		ok += rl_admit(&rl, 0, T0, &w);
	bool blocked = !rl_admit(&rl, 0, T0, &w);
	uint64_t w1 = w;
	bool early = !rl_admit(&rl, 0, T0 + w1 - 1, &w);
	bool on_time = rl_admit(&rl, 0, T0 + w1, &w);
	check(ok == 10 && blocked && w1 == SEC / 10 && early && w == 0 && on_time &&
		      rl.stats.throttled == 1 && rl.stats.throttled_ns == w1,
	      "start-full-exact-wait", "%llu admitted, wait %llu ns, throttled %llu for %llu ns",
	      (unsigned long long)ok, (unsigned long long)w1,
	      (unsigned long long)rl.stats.throttled, (unsigned long long)rl.stats.throttled_ns);
}

static void test_ops_rates(void)
{
	/* Firecracker's own example: size 10, refill 10 ms = 1000/s. */
	static const uint64_t rates[] = { 10, 100, 1000, 10000, 100000 };
	for (unsigned i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		struct rl_spec s = { { 0, 0, 0 },
				     { rates[i] / 100 ? rates[i] / 100 : 1, 0,
				       rates[i] / 100 ? 10 : 100 } };
		double bps, got = achieved(&s, 4096, 11, false, &bps);
		double flat = achieved(&s, 4096, 11, true, &bps);
		char name[64];
		snprintf(name, sizeof(name), "ops-%llu-per-s", (unsigned long long)rates[i]);
		check(got > rates[i] * 0.999 && got < rates[i] * 1.001, name,
		      "achieved %.1f/s of %llu (size %llu, refill %llu ms)", got,
		      (unsigned long long)rates[i], (unsigned long long)s.ops.size,
		      (unsigned long long)s.ops.refill_ms);
		printf("INFO ratelimit: ops %llu/s (size %llu, refill %llu ms): exact waits "
		       "%.1f/s, "
		       "a flat 100 ms retry %.1f/s\n",
		       (unsigned long long)rates[i], (unsigned long long)s.ops.size,
		       (unsigned long long)s.ops.refill_ms, got, flat);
	}
}

static void test_bw_sizes(void)
{
	/* 10 MiB/s for every request size from 512 B to 1 MiB (the larger ones exceed no bucket). */
	struct rl_spec s = { { 10u << 20, 0, 1000 }, { 0, 0, 0 } };
	for (uint64_t b = 512; b <= (1u << 20); b *= 2) {
		double bps;
		achieved(&s, b, 21, false, &bps);
		char name[64];
		snprintf(name, sizeof(name), "bw-10MiB-requests-of-%llu", (unsigned long long)b);
		check(bps > (10u << 20) * 0.999 && bps < (10u << 20) * 1.001, name,
		      "achieved %.0f B/s of %u", bps, 10u << 20);
	}
}

static void test_one_time_burst(void)
{
	struct rl_spec s = { { 1000, 5000, 1000 }, { 0, 0, 0 } };
	struct ratelimit rl = { 0 };
	uint64_t w;
	rl_init(&rl, &s, T0);
	bool a = rl_admit(&rl, 5000, T0, &w);		       /* the burst */
	bool b = rl_admit(&rl, 1000, T0, &w);		       /* then the bucket */
	bool c = !rl_admit(&rl, 1, T0, &w) && w == SEC / 1000; /* empty: 1 ms per byte */
	bool d = rl_admit(&rl, 1000, T0 + 100 * SEC, &w);      /* refilled to size only */
	bool e = !rl_admit(&rl, 1, T0 + 100 * SEC, &w);	       /* the burst never returns */
	check(a && b && c && d && e, "one-time-burst", "%d %d %d %d %d", a, b, c, d, e);
}

static void test_oversized(void)
{
	struct rl_spec s = { { 1000, 0, 1000 }, { 0, 0, 0 } };
	struct ratelimit rl = { 0 };
	uint64_t w, w2;
	rl_init(&rl, &s, T0);
	bool a = rl_admit(&rl, 5000, T0, &w); /* full: goes, owes 4000 */
	bool b = !rl_admit(&rl, 1, T0, &w);   /* 4001 bytes to wait for: 4.001 s */
	rl_admit(&rl, 1, T0 + SEC, &w2);
	bool c = !rl_admit(&rl, 5000, T0 + SEC, &w2) && w2 == 4 * SEC; /* waits until full */
	check(a && b && w == 4001 * SEC / 1000 && c, "oversized-request", "%d %d wait %llu, %d", a,
	      b, (unsigned long long)w, c);
}

static void test_long_gaps_and_overflow(void)
{
	struct rl_spec s = { { 1ull << 40, 0, 1 }, { UINT64_MAX, 0, UINT64_MAX } };
	struct ratelimit rl = { 0 };
	uint64_t w, ok = 0;
	rl_init(&rl, &s, T0);
	for (int i = 0; i < 4; i++)
		ok += rl_admit(&rl, 1ull << 39, T0, &w);
	/* A gap of centuries refills to size, no more, and does not overflow. */
	bool full = rl_admit(&rl, 1ull << 40, T0 + (UINT64_MAX >> 2), &w) &&
		    !rl_admit(&rl, 1, T0 + (UINT64_MAX >> 2), &w);
	/* A nanosecond later: 2^40 bytes per ms is 1099511 per ns. */
	bool ns = rl_admit(&rl, 1099511, T0 + (UINT64_MAX >> 2) + 1, &w);
	check(ok == 2 && full && ns, "long-gaps-huge-rates", "ok %llu full %d ns %d",
	      (unsigned long long)ok, full, ns);
}

static void test_update(void)
{
	struct rl_spec s = { { 0, 0, 0 }, { 1, 0, 1000 } }, t = { { 0, 0, 0 }, { 100, 0, 1000 } };
	struct ratelimit rl = { 0 };
	uint64_t w, ok = 0;
	rl_init(&rl, &s, T0);
	rl_admit(&rl, 0, T0, &w);
	rl_admit(&rl, 0, T0, &w); /* throttled once */
	rl_init(&rl, &t, T0);
	for (int i = 0; i < 200; i++)
		ok += rl_admit(&rl, 0, T0, &w);
	check(ok == 100 && rl.stats.throttled == 2, "runtime-update",
	      "%llu admitted after the update, throttled %llu (counts kept)",
	      (unsigned long long)ok, (unsigned long long)rl.stats.throttled);
}

static void test_parse(void)
{
	struct {
		const char *s;
		int64_t want;
	} cases[] = { { "10M", 10 << 20 },
		      { "10M/s", 10 << 20 },
		      { "512", 512 },
		      { "1k", 1024 },
		      { "2G", 2ll << 30 },
		      { "0", -1 },
		      { "-5", -1 },
		      { "abc", -1 },
		      { "10X", -1 },
		      { "", -1 },
		      { "99999999999999999999", -1 },
		      { "5000000000G", -1 } };
	int bad = 0;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (rl_parse_rate(cases[i].s) != cases[i].want) {
			printf("    '%s' -> %lld\n", cases[i].s,
			       (long long)rl_parse_rate(cases[i].s));
			bad++;
		}
	check(bad == 0, "parse-rate", "%d cases wrong", bad);
}

int main(void)
{
	test_disabled();
	test_start_full_and_wait();
	test_ops_rates();
	test_bw_sizes();
	test_one_time_burst();
	test_oversized();
	test_long_gaps_and_overflow();
	test_update();
	test_parse();
	return failures != 0;
}
