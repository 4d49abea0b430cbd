/* MS-CHAPv2 (RFC 2759) for EAP-MSCHAPv2 in IKE_AUTH, and the MSK derived from
 * it with the MPPE key functions of RFC 3079. MD4 and single DES are what the
 * protocol is made of; they are used for nothing else. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/des.h>
#include <openssl/md4.h>
#include <openssl/sha.h>

#include "client/crypto/internal.h"
#include "client/util/log.h"

/* RFC 2759 section 4: passwords of up to 256 Unicode characters. */
#define MSCHAP_PW_MAX_UNITS 256

static const char magic_server_sign[] = "Magic server to client signing constant";
static const char magic_pad_iter[] = "Pad to make it do more than one iteration";
static const char magic_master[] = "This is the MPPE Master Key";
/* RFC 3079 3.4: Magic2 gives the client's send key (= the server's receive
 * key), Magic3 the client's receive key (= the server's send key). */
static const char magic_client_send[] =
	"On the client side, this is the send key; "
	"on the server side, it is the receive key.";
static const char magic_client_recv[] =
	"On the client side, this is the receive key; "
	"on the server side, it is the send key.";

/* UTF-8 -> UTF-16LE as NtPasswordHash wants it. Invalid UTF-8 (overlong,
 * surrogates, > U+10FFFF, truncated) is refused rather than guessed at. */
static int utf8_to_utf16le(const char *s, uint8_t *out, size_t cap_units,
			   size_t *out_len)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t units = 0;

	while (*p) {
		uint32_t cp;
		int extra;

		if (p[0] < 0x80) {
			cp = p[0];
			extra = 0;
		} else if ((p[0] & 0xe0) == 0xc0) {
			cp = p[0] & 0x1f;
			extra = 1;
		} else if ((p[0] & 0xf0) == 0xe0) {
			cp = p[0] & 0x0f;
			extra = 2;
		} else if ((p[0] & 0xf8) == 0xf0) {
			cp = p[0] & 0x07;
			extra = 3;
		} else {
			return -EINVAL;
		}
		for (int i = 1; i <= extra; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return -EINVAL;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
		    (extra == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return -EINVAL;
		p += 1 + extra;
		if (cp >= 0x10000) {
			uint32_t v = cp - 0x10000;
			uint16_t hi = (uint16_t)(0xd800 | v >> 10);
			uint16_t lo = (uint16_t)(0xdc00 | (v & 0x3ff));

			if (units + 2 > cap_units)
				return -E2BIG;
			out[2 * units] = (uint8_t)hi;
			out[2 * units + 1] = (uint8_t)(hi >> 8);
			out[2 * units + 2] = (uint8_t)lo;
			out[2 * units + 3] = (uint8_t)(lo >> 8);
			units += 2;
		} else {
			if (units + 1 > cap_units)
				return -E2BIG;
			out[2 * units] = (uint8_t)cp;
			out[2 * units + 1] = (uint8_t)(cp >> 8);
			units++;
		}
	}
	*out_len = 2 * units;
	return 0;
}

/* NtPasswordHash (RFC 2759 8.3): MD4 of the UTF-16LE password. */
static int nt_password_hash(const char *password, uint8_t hash[MD4_DIGEST_LENGTH])
{
	uint8_t unicode[2 * MSCHAP_PW_MAX_UNITS];
	size_t len = 0;
	int err;

	if (!password)
		return -EINVAL;
	err = utf8_to_utf16le(password, unicode, MSCHAP_PW_MAX_UNITS, &len);
	if (!err)
		MD4(unicode, len, hash);
	else
		vlog_warn(CRYPTO_LOG, "MSCHAPv2 password is not valid UTF-8 or "
			  "longer than %d characters", MSCHAP_PW_MAX_UNITS);
	crypto_wipe(unicode, sizeof(unicode));
	return err;
}

/* RFC 2759 8.2: only the user name, without a "DOMAIN\" prefix, is hashed;
 * like strongSwan we cut at the first backslash. */
static void challenge_hash(const uint8_t peer_challenge[16],
			   const uint8_t auth_challenge[16], const char *username,
			   uint8_t out[8])
{
	const char *bs = strchr(username, '\\');
	const char *user = bs ? bs + 1 : username;
	uint8_t digest[SHA_DIGEST_LENGTH];
	SHA_CTX ctx;

	SHA1_Init(&ctx);
	SHA1_Update(&ctx, peer_challenge, 16);
	SHA1_Update(&ctx, auth_challenge, 16);
	SHA1_Update(&ctx, user, strlen(user));
	SHA1_Final(digest, &ctx);
	memcpy(out, digest, 8);
}

/* 7 key bytes -> the 8-byte DES key layout (parity bits are ignored). */
static void des_key_from_7(const uint8_t in[7], DES_cblock *key)
{
	uint8_t *k = key->bytes;

	k[0] = in[0];
	k[1] = (uint8_t)(in[0] << 7 | in[1] >> 1);
	k[2] = (uint8_t)(in[1] << 6 | in[2] >> 2);
	k[3] = (uint8_t)(in[2] << 5 | in[3] >> 3);
	k[4] = (uint8_t)(in[3] << 4 | in[4] >> 4);
	k[5] = (uint8_t)(in[4] << 3 | in[5] >> 5);
	k[6] = (uint8_t)(in[5] << 2 | in[6] >> 6);
	k[7] = (uint8_t)(in[6] << 1);
}

/* ChallengeResponse (RFC 2759 8.5). */
static void challenge_response(const uint8_t challenge[8],
			       const uint8_t pw_hash[MD4_DIGEST_LENGTH],
			       uint8_t response[24])
{
	uint8_t z[21];
	DES_key_schedule ks;
	DES_cblock key, in;

	memset(z, 0, sizeof(z));
	memcpy(z, pw_hash, MD4_DIGEST_LENGTH);
	memcpy(in.bytes, challenge, 8);
	for (int i = 0; i < 3; i++) {
		des_key_from_7(z + 7 * i, &key);
		DES_set_key_unchecked(&key, &ks);
		DES_ecb_encrypt(&in, (DES_cblock *)(response + 8 * i), &ks, DES_ENCRYPT);
	}
	crypto_wipe(z, sizeof(z));
	crypto_wipe(&ks, sizeof(ks));
	crypto_wipe(&key, sizeof(key));
}

int crypto_mschapv2_nt_response(const uint8_t auth_challenge[16],
				const uint8_t peer_challenge[16],
				const char *username, const char *password,
				uint8_t nt_response[24])
{
	uint8_t pw_hash[MD4_DIGEST_LENGTH], ch[8];
	int err;

	if (!auth_challenge || !peer_challenge || !username || !nt_response)
		return -EINVAL;
	err = nt_password_hash(password, pw_hash);
	if (err)
		return err;
	challenge_hash(peer_challenge, auth_challenge, username, ch);
	challenge_response(ch, pw_hash, nt_response);
	crypto_wipe(pw_hash, sizeof(pw_hash));
	return 0;
}

/* HashNtPasswordHash (RFC 2759 8.4) of the password. */
static int password_hash_hash(const char *password, uint8_t out[MD4_DIGEST_LENGTH])
{
	uint8_t pw_hash[MD4_DIGEST_LENGTH];
	int err = nt_password_hash(password, pw_hash);

	if (!err)
		MD4(pw_hash, sizeof(pw_hash), out);
	crypto_wipe(pw_hash, sizeof(pw_hash));
	return err;
}

int crypto_mschapv2_auth_response(const char *password,
				  const uint8_t nt_response[24],
				  const uint8_t peer_challenge[16],
				  const uint8_t auth_challenge[16],
				  const char *username, char out[43])
{
	uint8_t hh[MD4_DIGEST_LENGTH], digest[SHA_DIGEST_LENGTH], ch[8];
	SHA_CTX ctx;
	int err;

	if (!nt_response || !peer_challenge || !auth_challenge || !username || !out)
		return -EINVAL;
	err = password_hash_hash(password, hh);
	if (err)
		return err;
	/* GenerateAuthenticatorResponse, RFC 2759 8.7. */
	SHA1_Init(&ctx);
	SHA1_Update(&ctx, hh, sizeof(hh));
	SHA1_Update(&ctx, nt_response, 24);
	SHA1_Update(&ctx, magic_server_sign, strlen(magic_server_sign));
	SHA1_Final(digest, &ctx);
	challenge_hash(peer_challenge, auth_challenge, username, ch);
	SHA1_Init(&ctx);
	SHA1_Update(&ctx, digest, sizeof(digest));
	SHA1_Update(&ctx, ch, sizeof(ch));
	SHA1_Update(&ctx, magic_pad_iter, strlen(magic_pad_iter));
	SHA1_Final(digest, &ctx);
	out[0] = 'S';
	out[1] = '=';
	for (size_t i = 0; i < sizeof(digest); i++)
		snprintf(out + 2 + 2 * i, 3, "%02X", digest[i]);
	crypto_wipe(hh, sizeof(hh));
	crypto_wipe(&ctx, sizeof(ctx));
	return 0;
}

/* GetAsymmetricStartKey (RFC 3079 3.4) for a 128-bit session key. */
static void asymmetric_start_key(const uint8_t master[16], const char *magic,
				 uint8_t out[16])
{
	uint8_t pad1[40], pad2[40], digest[SHA_DIGEST_LENGTH];
	SHA_CTX ctx;

	memset(pad1, 0x00, sizeof(pad1));
	memset(pad2, 0xf2, sizeof(pad2));
	SHA1_Init(&ctx);
	SHA1_Update(&ctx, master, 16);
	SHA1_Update(&ctx, pad1, sizeof(pad1));
	SHA1_Update(&ctx, magic, strlen(magic));
	SHA1_Update(&ctx, pad2, sizeof(pad2));
	SHA1_Final(digest, &ctx);
	memcpy(out, digest, 16);
	crypto_wipe(digest, sizeof(digest));
	crypto_wipe(&ctx, sizeof(ctx));
}

int crypto_mschapv2_msk(const char *password, const uint8_t nt_response[24],
			uint8_t msk[64])
{
	uint8_t hh[MD4_DIGEST_LENGTH], digest[SHA_DIGEST_LENGTH];
	SHA_CTX ctx;
	int err;

	if (!nt_response || !msk)
		return -EINVAL;
	err = password_hash_hash(password, hh);
	if (err)
		return err;
	/* GetMasterKey, RFC 3079 3.4. */
	SHA1_Init(&ctx);
	SHA1_Update(&ctx, hh, sizeof(hh));
	SHA1_Update(&ctx, nt_response, 24);
	SHA1_Update(&ctx, magic_master, strlen(magic_master));
	SHA1_Final(digest, &ctx);
	asymmetric_start_key(digest, magic_client_send, msk);
	asymmetric_start_key(digest, magic_client_recv, msk + 16);
	memset(msk + 32, 0, 32);
	crypto_wipe(hh, sizeof(hh));
	crypto_wipe(digest, sizeof(digest));
	crypto_wipe(&ctx, sizeof(ctx));
	return 0;
}
