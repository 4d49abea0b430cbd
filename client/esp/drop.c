/* Refusals are counted always and logged at most once a second per reason
 * and SA: a flood of forged packets must cost us a counter increment, not a
 * journal write each. */
#define _GNU_SOURCE
#include "client/esp/drop.h"

#include <inttypes.h>
#include <time.h>

#include "client/util/log.h"

static const char *const drop_names[ESP_DROP_MAX] = {
	[ESP_DROP_SHORT] = "too short or misaligned",
	[ESP_DROP_SPI] = "unknown SPI",
	[ESP_DROP_REPLAY] = "replayed or too old",
	[ESP_DROP_ICV] = "integrity check failed",
	[ESP_DROP_PAD] = "bad padding",
	[ESP_DROP_EXPIRED] = "SA past its hard lifetime",
	[ESP_DROP_SEQ] = "sequence numbers exhausted",
	[ESP_DROP_NOROOM] = "no buffer room for ESP",
};

const char *esp_drop_name(enum esp_drop d)
{
	if ((unsigned)d >= ESP_DROP_MAX)
		return "unknown reason";
	return drop_names[d];
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	/* The coarse clock is a vDSO read, no syscall: fine even under a
	 * flood, and a tick of precision is plenty for rate limiting. */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int esp_drop(struct esp_stats *st, struct esp_ratelimit *rl, enum esp_drop why,
	     uint32_t spi, uint64_t seq, int err)
{
	struct esp_ratelimit *r = &rl[why];
	uint64_t now;
	int level;

	st->drops[why]++;
	now = now_ns();
	if (r->next_ns && now < r->next_ns) {
		r->suppressed++;
		return err;
	}
	/* Replays and unknown SPIs happen in normal operation (duplicates,
	 * packets in flight around a rekey); the rest means an attack or a bug. */
	level = (why == ESP_DROP_REPLAY || why == ESP_DROP_SPI) ? VLOG_INFO
								 : VLOG_WARNING;
	if (r->suppressed)
		vlog(level, "esp",
		     "SPI 0x%08" PRIx32 ": dropped packet (seq %" PRIu64 "): %s "
		     "(%" PRIu64 " more since the last report)",
		     spi, seq, esp_drop_name(why), r->suppressed);
	else
		vlog(level, "esp", "SPI 0x%08" PRIx32 ": dropped packet (seq %" PRIu64 "): %s",
		     spi, seq, esp_drop_name(why));
	r->suppressed = 0;
	r->next_ns = now + ESP_LOG_INTERVAL_NS;
	return err;
}
