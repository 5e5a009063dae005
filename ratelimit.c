// SPDX-License-Identifier: Apache-2.0
/*
 * Token buckets. Time is the caller's (CLOCK_MONOTONIC ns), so the
 * arithmetic is exact and testable: refills carry their remainder (no
 * drift however often they run), and a blocked request is told exactly when
 * it can go, where Firecracker retries after a flat 100 ms (which caps an
 * ops limit of 1000/s with a 10 ms refill at ~100/s).
 */
#include "ratelimit.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef unsigned __int128 u128;

uint64_t rl_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void bucket_init(struct rl_bucket *b, const struct rl_bucket_spec *s, uint64_t now)
{
	memset(b, 0, sizeof(*b));
	b->spec = *s;
	if (!rl_bucket_on(s))
		return;
	/* Sizes past 2^62 would overflow the signed budget: a bucket that big never limits. */
	if (b->spec.size > (1ull << 62))
		b->spec.size = 1ull << 62;
	b->refill_ns = s->refill_ms > UINT64_MAX / 1000000u ? UINT64_MAX : s->refill_ms * 1000000u;
	b->one_time = s->one_time_burst;
	b->budget = (int64_t)b->spec.size;
	b->last_ns = now;
}

void rl_init(struct ratelimit *rl, const struct rl_spec *s, uint64_t now_ns)
{
	struct rl_stats keep = rl->stats; /* counters go on across a change at run time */
	memset(rl, 0, sizeof(*rl));
	rl->stats = keep;
	bucket_init(&rl->bw, &s->bw, now_ns);
	bucket_init(&rl->ops, &s->ops, now_ns);
}

static void refill(struct rl_bucket *b, uint64_t now)
{
	uint64_t elapsed = now > b->last_ns ? now - b->last_ns : 0;
	b->last_ns = now > b->last_ns ? now : b->last_ns;
	int64_t size = (int64_t)b->spec.size;
	if (b->budget >= size) {
		b->frac = 0;
		return;
	}
	u128 acc = (u128)elapsed * b->spec.size + b->frac;
	u128 add = acc / b->refill_ns;
	b->frac = (uint64_t)(acc % b->refill_ns);
	if (add >= (u128)(size - b->budget)) {
		b->budget = size;
		b->frac = 0;
	} else {
		b->budget += (int64_t)add;
	}
}

/* What must be in the budget before n tokens (one-time burst first) can go. */
static int64_t needed(const struct rl_bucket *b, uint64_t n)
{
	if (n <= b->one_time)
		return 0;
	n -= b->one_time;
	/* Larger than the bucket: it goes when the bucket is full, and leaves it owing. */
	return n > b->spec.size ? (int64_t)b->spec.size : (int64_t)n;
}

static uint64_t wait_for(const struct rl_bucket *b, uint64_t n)
{
	if (!rl_bucket_on(&b->spec))
		return 0;
	int64_t need = needed(b, n);
	if (b->budget >= need)
		return 0;
	/* Tokens arrive when frac reaches refill_ns: need (need-budget)*refill_ns - frac more. */
	u128 deficit = (u128)(uint64_t)(need - b->budget) * b->refill_ns - b->frac;
	u128 ns = (deficit + b->spec.size - 1) / b->spec.size;
	return ns > UINT64_MAX ? UINT64_MAX : (ns ? (uint64_t)ns : 1);
}

static void pay(struct rl_bucket *b, uint64_t n)
{
	if (!rl_bucket_on(&b->spec))
		return;
	if (n <= b->one_time) {
		b->one_time -= n;
		return;
	}
	n -= b->one_time;
	b->one_time = 0;
	/* n may exceed the budget by at most... anything: clamp what the int64 can owe. */
	b->budget -= n > (1ull << 62) ? (int64_t)(1ull << 62) : (int64_t)n;
}

bool rl_admit(struct ratelimit *rl, uint64_t bytes, uint64_t now_ns, uint64_t *wait_ns)
{
	if (rl_bucket_on(&rl->bw.spec))
		refill(&rl->bw, now_ns);
	if (rl_bucket_on(&rl->ops.spec))
		refill(&rl->ops, now_ns);
	uint64_t wb = wait_for(&rl->bw, bytes), wo = wait_for(&rl->ops, 1);
	if (wb == 0 && wo == 0) {
		pay(&rl->bw, bytes);
		pay(&rl->ops, 1);
		if (rl->blocked_since) {
			rl->stats.throttled_ns += now_ns - rl->blocked_since;
			rl->blocked_since = 0;
		}
		*wait_ns = 0;
		return true;
	}
	if (!rl->blocked_since) {
		rl->blocked_since = now_ns ? now_ns : 1;
		rl->stats.throttled++;
	}
	*wait_ns = wb > wo ? wb : wo;
	return false;
}

int rl_parse_opt(const char *opt, size_t len, struct rl_spec *s)
{
	static const struct {
		const char *key;
		bool ops, burst; /* which bucket; its one-time burst or its rate */
	} keys[] = {
		{ "bw", false, false }, { "bw-burst", false, true },  { "iops", true, false },
		{ "ops", true, false }, { "iops-burst", true, true }, { "ops-burst", true, true },
	};
	const char *eq = memchr(opt, '=', len);
	if (!eq)
		return 0;
	size_t klen = (size_t)(eq - opt), vlen = len - klen - 1;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strlen(keys[i].key) != klen || strncmp(opt, keys[i].key, klen) != 0)
			continue;
		char v[32];
		if (vlen >= sizeof(v))
			return -1;
		memcpy(v, eq + 1, vlen);
		v[vlen] = 0;
		int64_t n = rl_parse_rate(v);
		if (n < 0)
			return -1;
		struct rl_bucket_spec *b = keys[i].ops ? &s->ops : &s->bw;
		if (keys[i].burst) {
			b->one_time_burst = (uint64_t)n;
		} else {
			b->size = (uint64_t)n;
			b->refill_ms = 1000;
		}
		return 1;
	}
	return 0;
}

int64_t rl_parse_rate(const char *s)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	unsigned shift = 0;
	switch (*end) {
	case 'K':
	case 'k':
		shift = 10, end++;
		break;
	case 'M':
	case 'm':
		shift = 20, end++;
		break;
	case 'G':
	case 'g':
		shift = 30, end++;
		break;
	}
	if (strcmp(end, "/s") == 0)
		end += 2;
	if (*end || v == 0 || v > (1ull << 62) >> shift)
		return -1;
	return (int64_t)(v << shift);
}
