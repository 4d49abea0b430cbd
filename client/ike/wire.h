/* IKEv2 wire formats and code points: the one header for the protocol's
 * numbers.
 *
 * Sources: RFC 7296 (IKEv2) and the IANA "Internet Key Exchange Version 2
 * (IKEv2) Parameters" registry; the extensions are named where they appear
 * (RFC 3948 NAT-T encapsulation, RFC 4555 MOBIKE, RFC 4478 AUTH_LIFETIME,
 * RFC 5998 EAP-only, RFC 7383 fragmentation, RFC 7427 signature auth,
 * RFC 7634 ChaCha20-Poly1305, RFC 8031 curve25519/448, RFC 8598 split DNS,
 * RFC 9242 IKE_INTERMEDIATE).
 *
 * Everything here is a number fixed by a registry, except KEEP_OLD_IKE_SA,
 * which comes from an expired draft and has no assignment (see its comment).
 * Enumerations list what we use or must recognise in logs, not the whole
 * registry; values not listed are still carried through the codec as plain
 * integers. */
#ifndef VPN_IKE_WIRE_H
#define VPN_IKE_WIRE_H

#ifdef __cplusplus
extern "C" {
#endif

/* ---- transport ----------------------------------------------------------- */

#define IKE_PORT 500       /* RFC 7296 2 */
#define IKE_NATT_PORT 4500 /* RFC 3948 / RFC 7296 2.23 */
/* On port 4500, IKE messages are prefixed by four zero bytes so they can be
 * told apart from ESP, whose SPI is never zero (RFC 3948 2.2). */
#define IKE_NON_ESP_MARKER_LEN 4

/* ---- header (RFC 7296 3.1) ----------------------------------------------- */

#define IKE_SPI_LEN 8
#define IKE_HDR_LEN 28 /* SPIi 8, SPIr 8, next 1, version 1, exch 1, flags 1, msgid 4, length 4 */
/* Offsets inside the header, for code that patches a built header. */
#define IKE_HDR_OFF_SPI_I 0
#define IKE_HDR_OFF_SPI_R 8
#define IKE_HDR_OFF_NEXT 16
#define IKE_HDR_OFF_VERSION 17
#define IKE_HDR_OFF_EXCHANGE 18
#define IKE_HDR_OFF_FLAGS 19
#define IKE_HDR_OFF_MSGID 20
#define IKE_HDR_OFF_LENGTH 24

#define IKE_VERSION_MAJOR 2
#define IKE_VERSION_MINOR 0
#define IKE_VERSION_BYTE 0x20 /* major in the high nibble, minor in the low */

/* Flags octet: bits 0-2 and 6-7 are reserved (sent 0, ignored). */
#define IKE_HDR_FLAG_INITIATOR 0x08 /* I: sent by the original initiator */
#define IKE_HDR_FLAG_VERSION 0x10   /* V: sender can speak a higher major */
#define IKE_HDR_FLAG_RESPONSE 0x20  /* R: this message is a response */

/* Message sizes every implementation MUST / SHOULD accept (RFC 7296 2);
 * larger ones are what fragmentation (RFC 7383) is for. */
#define IKE_MSG_MIN_ACCEPT 1280
#define IKE_MSG_SHOULD_ACCEPT 3000

enum ike_exchange_type {
	IKE_EXCH_IKE_SA_INIT = 34,
	IKE_EXCH_IKE_AUTH = 35,
	IKE_EXCH_CREATE_CHILD_SA = 36,
	IKE_EXCH_INFORMATIONAL = 37,
	IKE_EXCH_IKE_SESSION_RESUME = 38, /* RFC 5723; not implemented */
	IKE_EXCH_IKE_INTERMEDIATE = 43,   /* RFC 9242; not implemented */
};

/* ---- payloads (RFC 7296 3.2) --------------------------------------------- */

#define IKE_PAYLOAD_HDR_LEN 4 /* next 1, C|reserved 1, length 2 */
#define IKE_PAYLOAD_FLAG_CRITICAL 0x80

enum ike_payload_type {
	IKE_PT_NONE = 0, /* "no next payload" */
	IKE_PT_SA = 33,
	IKE_PT_KE = 34,
	IKE_PT_IDI = 35,
	IKE_PT_IDR = 36,
	IKE_PT_CERT = 37,
	IKE_PT_CERTREQ = 38,
	IKE_PT_AUTH = 39,
	IKE_PT_NONCE = 40,
	IKE_PT_NOTIFY = 41,
	IKE_PT_DELETE = 42,
	IKE_PT_VENDOR = 43,
	IKE_PT_TSI = 44,
	IKE_PT_TSR = 45,
	IKE_PT_SK = 46,
	IKE_PT_CP = 47,
	IKE_PT_EAP = 48,
	IKE_PT_GSPM = 49, /* RFC 6467; recognised, not parsed */
	IKE_PT_SKF = 53,  /* RFC 7383 */
};

/* ---- SA payload: proposals, transforms, attributes (RFC 7296 3.3) -------- */

/* First octet of a Proposal / Transform substructure: "last" or "more". */
#define IKE_PROP_LAST 0
#define IKE_PROP_MORE 2
#define IKE_XFORM_LAST 0
#define IKE_XFORM_MORE 3
#define IKE_PROP_HDR_LEN 8  /* last/more, reserved, length 2, num, proto, spi size, #transforms */
#define IKE_XFORM_HDR_LEN 8 /* last/more, reserved, length 2, type, reserved, id 2 */

enum ike_protocol_id {
	IKE_PROTO_NONE = 0, /* Notify and Delete about the IKE SA itself use 0 or 1 */
	IKE_PROTO_IKE = 1,
	IKE_PROTO_AH = 2,
	IKE_PROTO_ESP = 3,
};
#define IKE_CHILD_SPI_LEN 4 /* AH / ESP SPIs */

enum ike_transform_type {
	IKE_XFORM_ENCR = 1,
	IKE_XFORM_PRF = 2,
	IKE_XFORM_INTEG = 3,
	IKE_XFORM_DH = 4, /* "Key Exchange Method" since RFC 9370 */
	IKE_XFORM_ESN = 5,
};

enum ike_encr_id {
	IKE_ENCR_3DES = 3,
	IKE_ENCR_NULL = 11,
	IKE_ENCR_AES_CBC = 12,             /* RFC 3602; key length attribute required */
	IKE_ENCR_AES_CTR = 13,             /* RFC 3686 / RFC 5930 */
	IKE_ENCR_AES_CCM_8 = 14,           /* RFC 4309 / RFC 5282 */
	IKE_ENCR_AES_CCM_12 = 15,
	IKE_ENCR_AES_CCM_16 = 16,
	IKE_ENCR_AES_GCM_8 = 18,           /* RFC 4106 / RFC 5282: 8-octet ICV */
	IKE_ENCR_AES_GCM_12 = 19,          /* 12-octet ICV */
	IKE_ENCR_AES_GCM_16 = 20,          /* 16-octet ICV */
	IKE_ENCR_NULL_AUTH_AES_GMAC = 21,  /* RFC 4543, ESP only */
	IKE_ENCR_CHACHA20_POLY1305 = 28,   /* RFC 7634; no key length attribute */
};

enum ike_prf_id {
	IKE_PRF_HMAC_MD5 = 1,
	IKE_PRF_HMAC_SHA1 = 2,
	IKE_PRF_AES128_XCBC = 4,
	IKE_PRF_HMAC_SHA2_256 = 5, /* RFC 4868 */
	IKE_PRF_HMAC_SHA2_384 = 6,
	IKE_PRF_HMAC_SHA2_512 = 7,
	IKE_PRF_AES128_CMAC = 8,
};

enum ike_integ_id {
	IKE_INTEG_NONE = 0,
	IKE_INTEG_HMAC_MD5_96 = 1,
	IKE_INTEG_HMAC_SHA1_96 = 2,
	IKE_INTEG_AES_XCBC_96 = 5,
	IKE_INTEG_AES_CMAC_96 = 8,
	IKE_INTEG_HMAC_SHA2_256_128 = 12, /* RFC 4868 */
	IKE_INTEG_HMAC_SHA2_384_192 = 13,
	IKE_INTEG_HMAC_SHA2_512_256 = 14,
};

/* Values equal the crypto layer's enum crypto_dh_group on purpose. */
enum ike_dh_group {
	IKE_DH_NONE = 0,
	IKE_DH_MODP768 = 1,
	IKE_DH_MODP1024 = 2,
	IKE_DH_MODP1536 = 5,
	IKE_DH_MODP2048 = 14, /* RFC 3526 */
	IKE_DH_MODP3072 = 15,
	IKE_DH_MODP4096 = 16,
	IKE_DH_MODP6144 = 17,
	IKE_DH_MODP8192 = 18,
	IKE_DH_ECP256 = 19, /* RFC 5903 */
	IKE_DH_ECP384 = 20,
	IKE_DH_ECP521 = 21,
	IKE_DH_ECP192 = 25, /* RFC 5114 */
	IKE_DH_ECP224 = 26,
	IKE_DH_BRAINPOOL224 = 27, /* RFC 6954 */
	IKE_DH_BRAINPOOL256 = 28,
	IKE_DH_BRAINPOOL384 = 29,
	IKE_DH_BRAINPOOL512 = 30,
	IKE_DH_CURVE25519 = 31, /* RFC 8031 */
	IKE_DH_CURVE448 = 32,
};

enum ike_esn_id {
	IKE_ESN_NO = 0,
	IKE_ESN_YES = 1,
};

/* Transform attributes (RFC 7296 3.3.5): the high bit of the type says TV
 * (value in the length field) vs TLV. KEY_LENGTH is always TV. */
#define IKE_ATTR_FORMAT_TV 0x8000
#define IKE_ATTR_TYPE_MASK 0x7fff
#define IKE_ATTR_KEY_LENGTH 14

/* ---- KE (3.4) ------------------------------------------------------------- */

#define IKE_KE_HDR_LEN 4 /* group 2, reserved 2 (after the generic header) */

/* ---- ID (3.5) -------------------------------------------------------------- */

#define IKE_ID_HDR_LEN 4 /* type 1, reserved 3 */

enum ike_id_type {
	IKE_ID_IPV4_ADDR = 1,
	IKE_ID_FQDN = 2,
	IKE_ID_RFC822_ADDR = 3,
	IKE_ID_IPV6_ADDR = 5,
	IKE_ID_DER_ASN1_DN = 9,
	IKE_ID_DER_ASN1_GN = 10,
	IKE_ID_KEY_ID = 11,
	IKE_ID_NULL = 13, /* RFC 7619 */
};

/* ---- CERT / CERTREQ (3.6, 3.7) --------------------------------------------- */

enum ike_cert_encoding {
	IKE_CERT_PKCS7_X509 = 1,
	IKE_CERT_PGP = 2,
	IKE_CERT_DNS_SIGNED_KEY = 3,
	IKE_CERT_X509_SIG = 4, /* the one we send and expect */
	IKE_CERT_KERBEROS = 6,
	IKE_CERT_CRL = 7,
	IKE_CERT_ARL = 8,
	IKE_CERT_SPKI = 9,
	IKE_CERT_X509_ATTR = 10,
	IKE_CERT_RAW_RSA = 11,
	IKE_CERT_HASH_URL_X509 = 12,
	IKE_CERT_HASH_URL_BUNDLE = 13,
	IKE_CERT_OCSP = 14,    /* RFC 4806 */
	IKE_CERT_RAW_PUBKEY = 15, /* RFC 7670 */
};
/* CERTREQ for X.509 carries SHA-1 hashes of trusted CAs' SubjectPublicKeyInfo. */
#define IKE_CERTREQ_HASH_LEN 20

/* ---- AUTH (3.8) ------------------------------------------------------------ */

#define IKE_AUTH_HDR_LEN 4 /* method 1, reserved 3 */

enum ike_auth_method {
	IKE_AUTH_RSA_SIG = 1,
	IKE_AUTH_PSK = 2, /* "Shared Key Message Integrity Code" */
	IKE_AUTH_DSS_SIG = 3,
	IKE_AUTH_ECDSA_SHA256_P256 = 9, /* RFC 4754 */
	IKE_AUTH_ECDSA_SHA384_P384 = 10,
	IKE_AUTH_ECDSA_SHA512_P521 = 11,
	IKE_AUTH_GSPAM = 12,  /* RFC 6467 */
	IKE_AUTH_NULL = 13,   /* RFC 7619 */
	IKE_AUTH_DIGITAL_SIG = 14, /* RFC 7427 */
};

/* RFC 7427 3: the AlgorithmIdentifier in a type-14 AUTH is preceded by a
 * one-octet length. */
#define IKE_AUTH_SIG_ALGID_LEN_OCTETS 1

/* Hash algorithms of SIGNATURE_HASH_ALGORITHMS (RFC 7427 4, RFC 8420). */
enum ike_hash_alg {
	IKE_HASH_SHA1 = 1,
	IKE_HASH_SHA2_256 = 2,
	IKE_HASH_SHA2_384 = 3,
	IKE_HASH_SHA2_512 = 4,
	IKE_HASH_IDENTITY = 5, /* RFC 8420, for Ed25519/Ed448 */
};

/* ---- Nonce (3.9) ------------------------------------------------------------ */

#define IKE_NONCE_MIN_LEN 16
#define IKE_NONCE_MAX_LEN 256

/* ---- Notify (3.10) ---------------------------------------------------------- */

#define IKE_NOTIFY_HDR_LEN 4 /* protocol 1, spi size 1, type 2 */
/* Types below 16384 are errors, the rest status (RFC 7296 3.10.1). */
#define IKE_NOTIFY_ERROR_MAX 16383

enum ike_notify_type {
	/* errors */
	IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD = 1,
	IKE_N_INVALID_IKE_SPI = 4,
	IKE_N_INVALID_MAJOR_VERSION = 5,
	IKE_N_INVALID_SYNTAX = 7,
	IKE_N_INVALID_MESSAGE_ID = 9,
	IKE_N_INVALID_SPI = 11,
	IKE_N_NO_PROPOSAL_CHOSEN = 14,
	IKE_N_INVALID_KE_PAYLOAD = 17,
	IKE_N_AUTHENTICATION_FAILED = 24,
	IKE_N_SINGLE_PAIR_REQUIRED = 34,
	IKE_N_NO_ADDITIONAL_SAS = 35,
	IKE_N_INTERNAL_ADDRESS_FAILURE = 36,
	IKE_N_FAILED_CP_REQUIRED = 37,
	IKE_N_TS_UNACCEPTABLE = 38,
	IKE_N_INVALID_SELECTORS = 39,
	IKE_N_UNACCEPTABLE_ADDRESSES = 40,  /* RFC 4555 */
	IKE_N_UNEXPECTED_NAT_DETECTED = 41, /* RFC 4555 */
	IKE_N_TEMPORARY_FAILURE = 43,
	IKE_N_CHILD_SA_NOT_FOUND = 44,
	/* status */
	IKE_N_INITIAL_CONTACT = 16384,
	IKE_N_SET_WINDOW_SIZE = 16385,
	IKE_N_ADDITIONAL_TS_POSSIBLE = 16386,
	IKE_N_IPCOMP_SUPPORTED = 16387,
	IKE_N_NAT_DETECTION_SOURCE_IP = 16388,
	IKE_N_NAT_DETECTION_DESTINATION_IP = 16389,
	IKE_N_COOKIE = 16390,
	IKE_N_USE_TRANSPORT_MODE = 16391,
	IKE_N_HTTP_CERT_LOOKUP_SUPPORTED = 16392,
	IKE_N_REKEY_SA = 16393,
	IKE_N_ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
	IKE_N_NON_FIRST_FRAGMENTS_ALSO = 16395,
	IKE_N_MOBIKE_SUPPORTED = 16396,      /* RFC 4555 */
	IKE_N_ADDITIONAL_IP4_ADDRESS = 16397,
	IKE_N_ADDITIONAL_IP6_ADDRESS = 16398,
	IKE_N_NO_ADDITIONAL_ADDRESSES = 16399,
	IKE_N_UPDATE_SA_ADDRESSES = 16400,
	IKE_N_COOKIE2 = 16401,
	IKE_N_NO_NATS_ALLOWED = 16402,
	IKE_N_AUTH_LIFETIME = 16403,         /* RFC 4478 */
	IKE_N_MULTIPLE_AUTH_SUPPORTED = 16404, /* RFC 4739 */
	IKE_N_ANOTHER_AUTH_FOLLOWS = 16405,
	IKE_N_REDIRECT_SUPPORTED = 16406,    /* RFC 5685 */
	IKE_N_REDIRECT = 16407,
	IKE_N_REDIRECTED_FROM = 16408,
	IKE_N_EAP_ONLY_AUTHENTICATION = 16417, /* RFC 5998 */
	IKE_N_CHILDLESS_IKEV2_SUPPORTED = 16418, /* RFC 6023 */
	IKE_N_IKEV2_FRAGMENTATION_SUPPORTED = 16430, /* RFC 7383 */
	IKE_N_SIGNATURE_HASH_ALGORITHMS = 16431,     /* RFC 7427 */
	IKE_N_USE_PPK = 16435,                       /* RFC 8784 */
	IKE_N_INTERMEDIATE_EXCHANGE_SUPPORTED = 16438, /* RFC 9242 */
	/* KEEP_OLD_IKE_SA (draft-mglt-ipsecme-keep-old-ike-sa-00, expired, "TBD"
	 * in its IANA section). Until IANA assigns one we use a number from the
	 * status range's Private Use block 40960-65535 (RFC 7296 3.10.1), chosen
	 * at 0xC000 to stay clear of strongSwan's private notifies 40961-40969,
	 * so a strongSwan gateway ignores it as an unknown status notify. Change
	 * only this line if a number is assigned. */
	IKE_N_KEEP_OLD_IKE_SA = 49152,
};

/* Data of KEEP_OLD_IKE_SA (draft section 5): four octets,
 * |Q|reserved(7)| code (8) | reserved (16) |. Q is set by the initiator. */
#define IKE_KEEP_OLD_DATA_LEN 4
#define IKE_KEEP_OLD_FLAG_QUESTION 0x80
enum ike_keep_old_code {
	IKE_KEEP_OLD_KEEP = 0,   /* "Keep Old IKE_SA" */
	IKE_KEEP_OLD_UNUSED = 1, /* "Unused Old IKE_SA" */
};

/* NAT_DETECTION_*_IP data is a SHA-1 digest (RFC 7296 2.23). */
#define IKE_NATD_HASH_LEN 20
/* COOKIE data length bounds (RFC 7296 2.6: 1..64 octets). */
#define IKE_COOKIE_MAX_LEN 64
/* COOKIE2 data length bounds (RFC 4555 3.9: 8..64 octets). */
#define IKE_COOKIE2_MIN_LEN 8
#define IKE_COOKIE2_MAX_LEN 64

/* ---- Delete (3.11) ---------------------------------------------------------- */

#define IKE_DELETE_HDR_LEN 4 /* protocol 1, spi size 1, #spis 2 */

/* ---- Traffic selectors (3.13) ----------------------------------------------- */

#define IKE_TS_HDR_LEN 4 /* #TS 1, reserved 3 */

enum ike_ts_type {
	IKE_TS_IPV4_ADDR_RANGE = 7,
	IKE_TS_IPV6_ADDR_RANGE = 8,
};
/* type 1, ip proto 1, length 2, start port 2, end port 2, start, end */
#define IKE_TS_IPV4_LEN 16
#define IKE_TS_IPV6_LEN 40
#define IKE_IPPROTO_ANY 0

/* ---- Encrypted and Encrypted Fragment payloads (3.14, RFC 7383 2.5) ------- */

#define IKE_SKF_HDR_LEN 4 /* fragment number 2, total fragments 2 (after the generic header) */

/* ---- Configuration payload (3.15) ------------------------------------------- */

#define IKE_CP_HDR_LEN 4   /* cfg type 1, reserved 3 */
#define IKE_CP_ATTR_HDR_LEN 4 /* R|type 15 bits, length 2 */
#define IKE_CP_ATTR_TYPE_MASK 0x7fff

enum ike_cp_type {
	IKE_CFG_REQUEST = 1,
	IKE_CFG_REPLY = 2,
	IKE_CFG_SET = 3,
	IKE_CFG_ACK = 4,
};

/* Values 5, 9 and 11 are reserved in RFC 7296 (they were
 * INTERNAL_ADDRESS_EXPIRY, INTERNAL_IP6_NETMASK and INTERNAL_IP6_NBNS in
 * RFC 4306); IPv6 carries its prefix length inside INTERNAL_IP6_ADDRESS. */
enum ike_cp_attr_type {
	IKE_CP_INTERNAL_IP4_ADDRESS = 1, /* 0 or 4 octets */
	IKE_CP_INTERNAL_IP4_NETMASK = 2, /* 0 or 4 */
	IKE_CP_INTERNAL_IP4_DNS = 3,     /* 0 or 4 */
	IKE_CP_INTERNAL_IP4_NBNS = 4,    /* 0 or 4 */
	IKE_CP_INTERNAL_IP4_DHCP = 6,    /* 0 or 4 */
	IKE_CP_APPLICATION_VERSION = 7,  /* 0 or more, printable */
	IKE_CP_INTERNAL_IP6_ADDRESS = 8, /* 0 or 17: address + prefix length */
	IKE_CP_INTERNAL_IP6_DNS = 10,    /* 0 or 16 */
	IKE_CP_INTERNAL_IP6_DHCP = 12,   /* 0 or 16 */
	IKE_CP_INTERNAL_IP4_SUBNET = 13, /* 0 or 8: address + netmask */
	IKE_CP_SUPPORTED_ATTRIBUTES = 14, /* multiple of 2 */
	IKE_CP_INTERNAL_IP6_SUBNET = 15, /* 0 or 17 */
	IKE_CP_INTERNAL_DNS_DOMAIN = 25, /* RFC 8598: 0 or a DNS name */
	IKE_CP_INTERNAL_DNSSEC_TA = 26,  /* RFC 8598 */
};

/* ---- EAP (3.16) -------------------------------------------------------------- */

#define IKE_EAP_HDR_LEN 4 /* code 1, identifier 1, length 2 (the EAP message's own) */

#ifdef __cplusplus
}
#endif
#endif
