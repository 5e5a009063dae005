/* SPDX-License-Identifier: Apache-2.0 */
/* I/O rate limiters: two token buckets (bytes, operations) with Firecracker's semantics. */
#ifndef KVMRUN_RATELIMIT_H
#define KVMRUN_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * One bucket, as Firecracker's `TokenBucket` JSON describes it: `size`
 * tokens when full, refilled continuously at `size` per `refill_ms`,
 * `one_time_burst` more at the start, spent first and never refilled. size
 * or refill_ms 0: no limit. Buckets start full.
 */
struct rl_bucket_spec {
	uint64_t size, one_time_burst, refill_ms;
};

/* A limiter: bandwidth (bytes) and ops (requests); either may be off. */
struct rl_spec {
	struct rl_bucket_spec bw, ops;
};

static inline bool rl_bucket_on(const struct rl_bucket_spec *b)
{
	return b->size && b->refill_ms;
}

static inline bool rl_on(const struct rl_spec *s)
{
	return rl_bucket_on(&s->bw) || rl_bucket_on(&s->ops);
}

struct rl_bucket {
	struct rl_bucket_spec spec;
	uint64_t refill_ns; /* spec.refill_ms in ns */
	uint64_t one_time;  /* one_time_burst left */
	int64_t budget;	    /* tokens now, <= size; below 0: owed by an over-sized request */
	uint64_t frac;	    /* refill remainder, in token-ns (no drift over many refills) */
	uint64_t last_ns;   /* when budget was brought up to date */
};

struct rl_stats {
	uint64_t throttled;    /* requests that had to wait */
	uint64_t throttled_ns; /* time spent waiting */
};

struct ratelimit {
	struct rl_bucket bw, ops;
	uint64_t blocked_since; /* 0: not waiting */
	struct rl_stats stats;
};

/* Set up (or replace, at run time) the buckets at time now_ns, full. */
void rl_init(struct ratelimit *rl, const struct rl_spec *s, uint64_t now_ns);

/*
 * May a request of `bytes` (and one operation) go now? true: both buckets
 * paid (a request larger than a bucket goes when that bucket is full and
 * leaves it owing). false: nothing is taken; *wait_ns is exactly how long
 * until both can pay (the caller arms a timer for it and stops taking
 * requests meanwhile).
 */
bool rl_admit(struct ratelimit *rl, uint64_t bytes, uint64_t now_ns, uint64_t *wait_ns);

/* CLOCK_MONOTONIC in ns. */
uint64_t rl_now(void);

/*
 * Parse a rate: "10M" bytes (K, M, G: powers of 1024; optional trailing
 * "/s") or a plain count. 0 and garbage are -1 (a limit of 0 is no limit:
 * leave the key out).
 */
int64_t rl_parse_rate(const char *s);

/*
 * One limit option of --disk / --net, `opt` being "KEY=VALUE" of `len`
 * bytes: bw=RATE and bw-burst=BYTES (the bandwidth bucket), iops=N (ops=N)
 * and iops-burst=N (ops-burst=N). A rate is per second: a bucket of that
 * size refilled every 1000 ms (Firecracker's refill_time). 1: taken; 0: not
 * a limit option; -1: a bad value.
 */
int rl_parse_opt(const char *opt, size_t len, struct rl_spec *s);

#endif
