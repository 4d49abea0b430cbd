/* libFuzzer target: SK payload decryption (ike_sk_open) under fixed keys.
 *
 * Input: one byte giving the aad length, then the message: aad followed by
 * the SK payload body (IV || ciphertext || ICV). The same input is opened
 * with every cipher client/crypto offers, each on its own copy (decryption
 * works in place). Nothing may crash, read out of bounds or leak; a forged
 * message must never open. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/crypto/crypto.h"
#include "client/ike/sk.h"
#include "client/util/log.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct suite {
	enum crypto_encr e;
	unsigned bits;
	enum crypto_integ i;
};

static const struct suite suites[] = {
	{CRYPTO_ENCR_AES_GCM_16, 128, CRYPTO_INTEG_NONE},
	{CRYPTO_ENCR_AES_GCM_16, 256, CRYPTO_INTEG_NONE},
	{CRYPTO_ENCR_CHACHA20_POLY1305, 256, CRYPTO_INTEG_NONE},
	{CRYPTO_ENCR_AES_CBC, 128, CRYPTO_INTEG_HMAC_SHA2_256_128},
	{CRYPTO_ENCR_AES_CBC, 256, CRYPTO_INTEG_HMAC_SHA2_384_192},
	{CRYPTO_ENCR_AES_CBC, 256, CRYPTO_INTEG_HMAC_SHA2_512_256},
};
#define NSUITES (sizeof(suites) / sizeof(suites[0]))
#define MAX_INPUT 65536

static struct crypto_cipher *ciphers[NSUITES];

/* The keys every seed in corpus/sk/ was sealed with: encryption key
 * material all 0x3c, integrity key all 0x4d. */
static void setup(void)
{
	uint8_t k[64], ik[64];

	memset(k, 0x3c, sizeof(k));
	memset(ik, 0x4d, sizeof(ik));
	crypto_init();
	vlog_set_sink(fuzz_quiet, NULL);
	for (size_t n = 0; n < NSUITES; n++) {
		size_t klen = crypto_encr_keymat_len(suites[n].e, suites[n].bits);
		size_t ilen = crypto_integ_key_len(suites[n].i);

		if (crypto_cipher_new(suites[n].e, suites[n].bits, k, klen, suites[n].i,
				      ilen ? ik : NULL, ilen, &ciphers[n]))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	uint8_t *copy;
	size_t aad_len;

	if (!ready) {
		setup();
		ready = 1;
	}
	if (size < 1 || size > MAX_INPUT)
		return 0;
	aad_len = data[0];
	data++;
	size--;
	if (aad_len > size)
		return 0;
	/* An exact-size heap copy so ASan sees any read past the message. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	for (size_t n = 0; n < NSUITES; n++) {
		uint8_t *inner = NULL;
		size_t inner_len = 0, pad_len = 0;
		int r;

		memcpy(copy, data, size);
		r = ike_sk_open(ciphers[n], copy, aad_len, copy + aad_len, size - aad_len,
				&inner, &inner_len, &pad_len);
		if (r == 0) {
			/* What opened must lie inside the body it came from. */
			if (inner < copy + aad_len || inner + inner_len > copy + size ||
			    inner_len + pad_len + 1 > size - aad_len)
				abort();
		}
	}
	free(copy);
	return 0;
}
