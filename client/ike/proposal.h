/* IKEv2 proposals: the structure shared by the SA payload codec and the
 * strongSwan-style proposal strings of profiles ("aes256gcm16-prfsha384-
 * ecp384", "aes128-sha256-modp2048"), plus the check that a responder's
 * choice is one of our offers.
 *
 * A proposal keeps its transforms as one list per transform type, in the
 * order of preference; the SA payload builder emits them type by type
 * (ENCR, INTEG, PRF, DH, ESN), which is the order strongSwan uses too (the
 * captures in tests/fixtures/strongswan show it).
 *
 * Errors are the IKE codec's own codes (client/ike/codec.h, -1000 and down),
 * every refusal also writes one log line naming the offending keyword. */
#ifndef VPN_IKE_PROPOSAL_H
#define VPN_IKE_PROPOSAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/ike/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IKE_PROPOSAL_MAX_PER_TYPE 16
/* Indexed by enum ike_transform_type (1..5); slot 0 unused. */
#define IKE_PROPOSAL_NTYPES (IKE_XFORM_ESN + 1)
/* Proposals per SA payload or per proposal string. */
#define IKE_MAX_PROPOSALS 16

struct ike_xform {
	uint16_t id;
	uint16_t key_bits; /* KEY_LENGTH attribute; 0 = none */
};

struct ike_proposal {
	uint8_t num;      /* Proposal Num; 1-based */
	uint8_t protocol; /* enum ike_protocol_id */
	uint8_t spi_len;  /* 0, 4 (ESP/AH) or 8 (IKE rekey) */
	uint8_t spi[IKE_SPI_LEN];
	uint8_t n[IKE_PROPOSAL_NTYPES];
	struct ike_xform x[IKE_PROPOSAL_NTYPES][IKE_PROPOSAL_MAX_PER_TYPE];
	/* Transforms received but not kept: unknown transform types (e.g. the
	 * additional key exchanges of RFC 9370) or transforms carrying an
	 * attribute we do not understand (RFC 7296 3.3.6 says to reject such a
	 * transform, not the message). A chosen proposal with any of these can
	 * never match our offer. */
	uint8_t n_ignored;
};

/* Append a transform; -ENOSPC past IKE_PROPOSAL_MAX_PER_TYPE, -EINVAL for a
 * type outside 1..5. */
int ike_proposal_add(struct ike_proposal *p, uint8_t type, uint16_t id,
		     uint16_t key_bits);
/* Does p list transform x (same id and key length) under `type`? */
bool ike_proposal_has(const struct ike_proposal *p, int type, const struct ike_xform *x);
/* As a responder: append to `out` the first transform of `type` in the
 * peer's proposal (its order is its preference) that `ours` lists. A type
 * neither lists is fine; for ESN, a proposal of ours without ESN transforms
 * takes "no ESN". -ENOENT if nothing fits. */
int ike_proposal_pick(const struct ike_proposal *theirs, const struct ike_proposal *ours,
		      int type, struct ike_proposal *out);
/* Does the proposal use an AEAD cipher (its first ENCR transform)? */
int ike_encr_is_aead(uint16_t encr_id);

/* Parse a comma-separated list of proposals for `protocol` (IKE_PROTO_IKE or
 * IKE_PROTO_ESP) into out[0..*n). Proposals are numbered 1, 2, ... in order.
 *
 * Keywords: aes128 aes192 aes256 (AES-CBC), aes{128,192,256}gcm{8,12,16} and
 * the ICV-in-bits aliases gcm64/gcm96/gcm128, chacha20poly1305; sha1 sha256
 * sha384 sha512 (integrity; also sha2_256 ...); prfsha1 prfsha256 prfsha384
 * prfsha512; modp2048 modp3072 modp4096 ecp256 ecp384 ecp521 curve25519
 * (x25519) curve448 (x448); esn noesn (ESP only).
 *
 * Like strongSwan, an IKE proposal without a PRF gets the PRFs matching its
 * integrity algorithms; an ESP proposal without esn/noesn gets noesn.
 * err (may be NULL) receives a human message naming the offending keyword.
 * Errors: IKE_ERR_PROPSTR_KEYWORD, _SYNTAX, _INCOMPLETE, _MIXED, _TOO_MANY. */
int ike_proposals_parse(const char *s, uint8_t protocol,
			struct ike_proposal *out, size_t max, size_t *n,
			char *err, size_t err_cap);

/* Canonical string of one proposal (every algorithm explicit: ENCR, INTEG,
 * PRF, DH, ESN), or of a list joined by commas. -ENOSPC if cap is too small,
 * -EINVAL for a transform that has no keyword. */
int ike_proposal_format(const struct ike_proposal *p, char *out, size_t cap);
int ike_proposals_format(const struct ike_proposal *p, size_t n, char *out,
			 size_t cap);

/* Is `chosen` (the responder's SA payload, one proposal) an acceptable pick
 * from our offer? It must carry the number of one of our proposals with the
 * same protocol, exactly one transform of each type that proposal has (DH may
 * be left out of an ESP proposal: no PFS in IKE_AUTH), each taken from our
 * list with the same key length, and nothing else. On success *which is the
 * index into offered. IKE_ERR_PROPOSAL_MISMATCH otherwise, with a log line. */
int ike_proposal_match(const struct ike_proposal *offered, size_t n,
		       const struct ike_proposal *chosen, size_t *which);

#ifdef __cplusplus
}
#endif
#endif
