/* Internal to the IKE codec files (codec*.c, frag.c, proposal.c): not part
 * of the module's interface. */
#ifndef VPN_IKE_CODEC_INT_H
#define VPN_IKE_CODEC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/ike/codec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Log one refusal line naming the payload and its offset; returns err. */
int ike_refuse(int err, uint8_t pt, bool inner, size_t off, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Notify type of a Notify view without a full parse; 0 if too short. */
uint16_t ike_peek_notify_type(const struct ike_payload *p);

#ifdef __cplusplus
}
#endif

#endif
