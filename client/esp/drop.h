/* Internal to client/esp: counting and rate-limited logging of refusals. */
#ifndef VPN_ESP_DROP_H
#define VPN_ESP_DROP_H

#include "client/esp/esp.h"

/* Count a refusal and log it unless one of the same reason was logged less
 * than ESP_LOG_INTERVAL_NS ago; the next line then says how many were
 * suppressed. Returns `err` so callers can `return esp_drop(...)`. */
int esp_drop(struct esp_stats *st, struct esp_ratelimit *rl, enum esp_drop why,
	     uint32_t spi, uint64_t seq, int err);

#endif
