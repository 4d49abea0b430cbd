/* Certificates, trust anchors, chain verification, identity matching and
 * private keys from PEM files. Runs at IKE_AUTH time, never per packet. */
#define _POSIX_C_SOURCE 200809L /* fileno */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/bytestring.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "client/crypto/internal.h"
#include "client/crypto/pki_internal.h"
#include "client/util/log.h"

/* Certificates, keys and CA bundles are small; refuse anything absurd before
 * reading it into memory. */
#define PKI_FILE_MAX (1024 * 1024)

struct crypto_cert {
	X509 *x509;
	uint8_t *der;
	size_t der_len;
	struct crypto_pubkey pub;
};

struct crypto_ca_store {
	X509_STORE *store;
};

/* Reads a whole (small) file; the buffer is wiped by the caller when it held
 * a secret. */
static int read_small_file(const char *path, uint8_t **out, size_t *out_len)
{
	struct stat st;
	uint8_t *buf;
	size_t got;
	FILE *f;
	int err;

	if (!path || !out || !out_len)
		return -EINVAL;
	f = fopen(path, "rb");
	if (!f) {
		err = -errno;
		vlog_warn(CRYPTO_LOG, "cannot open %s: %s", path, strerror(-err));
		return err;
	}
	if (fstat(fileno(f), &st) || st.st_size <= 0 || st.st_size > PKI_FILE_MAX) {
		vlog_warn(CRYPTO_LOG, "%s: empty or larger than %d bytes", path,
			  PKI_FILE_MAX);
		fclose(f);
		return -EINVAL;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	got = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	if (got != (size_t)st.st_size) {
		crypto_wipe(buf, got);
		free(buf);
		return -EIO;
	}
	*out = buf;
	*out_len = got;
	return 0;
}

enum crypto_key_type crypto_pkey_type(const EVP_PKEY *pkey)
{
	const EC_KEY *ec;

	switch (EVP_PKEY_id(pkey)) {
	case EVP_PKEY_RSA:
		return CRYPTO_KEY_RSA;
	case EVP_PKEY_ED25519:
		return CRYPTO_KEY_ED25519;
	case EVP_PKEY_EC:
		ec = EVP_PKEY_get0_EC_KEY(pkey);
		switch (ec ? EC_GROUP_get_curve_name(EC_KEY_get0_group(ec)) : 0) {
		case NID_X9_62_prime256v1:
			return CRYPTO_KEY_EC_P256;
		case NID_secp384r1:
			return CRYPTO_KEY_EC_P384;
		case NID_secp521r1:
			return CRYPTO_KEY_EC_P521;
		}
		return CRYPTO_KEY_OTHER;
	}
	return CRYPTO_KEY_OTHER;
}

/* ---- private keys ------------------------------------------------------ */

int crypto_privkey_load_pem(const char *path, struct crypto_privkey **out)
{
	struct crypto_privkey *k;
	uint8_t *buf = NULL;
	size_t len = 0;
	EVP_PKEY *pkey;
	BIO *bio;
	int err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	err = read_small_file(path, &buf, &len);
	if (err)
		return err;
	bio = BIO_new_mem_buf(buf, (int)len);
	/* Handles PKCS#8 as well as the traditional RSA and EC encodings. */
	pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	crypto_wipe(buf, len);
	free(buf);
	if (!pkey) {
		crypto_clear_errors();
		vlog_warn(CRYPTO_LOG, "%s: no private key we understand (PEM RSA, "
			  "EC or PKCS#8 expected)", path);
		return -EINVAL;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		EVP_PKEY_free(pkey);
		return -ENOMEM;
	}
	k->pkey = pkey;
	*out = k;
	return 0;
}

void crypto_privkey_free(struct crypto_privkey *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey); /* BoringSSL clears key material it frees */
	free(k);
}

enum crypto_key_type crypto_privkey_type(const struct crypto_privkey *k)
{
	return k ? crypto_pkey_type(k->pkey) : CRYPTO_KEY_OTHER;
}

/* ---- certificates -------------------------------------------------------- */

static int cert_wrap(X509 *x, struct crypto_cert **out)
{
	struct crypto_cert *c = calloc(1, sizeof(*c));
	uint8_t *der = NULL;
	int len;

	if (!c) {
		X509_free(x);
		return -ENOMEM;
	}
	c->x509 = x;
	len = i2d_X509(x, &der);
	c->pub.pkey = X509_get_pubkey(x);
	if (len <= 0 || !c->pub.pkey) {
		OPENSSL_free(der);
		crypto_clear_errors();
		crypto_cert_free(c);
		return -EINVAL;
	}
	c->der = der;
	c->der_len = (size_t)len;
	*out = c;
	return 0;
}

int crypto_cert_from_der(const uint8_t *der, size_t len, struct crypto_cert **out)
{
	const uint8_t *p = der;
	X509 *x;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!der || !len || len > PKI_FILE_MAX)
		return -EINVAL;
	x = d2i_X509(NULL, &p, (long)len);
	if (!x || p != der + len) {
		/* Trailing bytes mean the CERT payload was not one certificate. */
		X509_free(x);
		crypto_clear_errors();
		vlog_warn(CRYPTO_LOG, "certificate DER does not parse (%zu bytes)", len);
		return -EINVAL;
	}
	return cert_wrap(x, out);
}

int crypto_cert_load_pem(const char *path, struct crypto_cert **out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	X509 *x;
	BIO *bio;
	int err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	err = read_small_file(path, &buf, &len);
	if (err)
		return err;
	bio = BIO_new_mem_buf(buf, (int)len);
	x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	free(buf);
	if (!x) {
		crypto_clear_errors();
		vlog_warn(CRYPTO_LOG, "%s: no PEM certificate found", path);
		return -EINVAL;
	}
	return cert_wrap(x, out);
}

void crypto_cert_free(struct crypto_cert *c)
{
	if (!c)
		return;
	EVP_PKEY_free(c->pub.pkey);
	OPENSSL_free(c->der);
	X509_free(c->x509);
	free(c);
}

int crypto_cert_der(const struct crypto_cert *c, const uint8_t **der, size_t *len)
{
	if (!c || !der || !len)
		return -EINVAL;
	*der = c->der;
	*len = c->der_len;
	return 0;
}

static int name_der(const X509_NAME *name, uint8_t *out, size_t cap, size_t *len)
{
	uint8_t *p = out;
	int n = i2d_X509_NAME((X509_NAME *)name, NULL);

	if (n <= 0) {
		crypto_clear_errors();
		return -EINVAL;
	}
	if ((size_t)n > cap)
		return -ENOSPC;
	if (i2d_X509_NAME((X509_NAME *)name, &p) != n)
		return -EINVAL;
	*len = (size_t)n;
	return 0;
}

int crypto_cert_subject_der(const struct crypto_cert *c, uint8_t *out, size_t cap,
			    size_t *len)
{
	if (!c || !out || !len)
		return -EINVAL;
	return name_der(X509_get_subject_name(c->x509), out, cap, len);
}

int crypto_cert_subject_str(const struct crypto_cert *c, char *out, size_t cap)
{
	/* "C=CH, O=lab, CN=gw.lab": subject order, UTF-8 kept as is. */
	const unsigned long flags = XN_FLAG_ONELINE & ~XN_FLAG_SPC_EQ &
				    ~ASN1_STRFLGS_ESC_MSB;
	const uint8_t *data;
	size_t n;
	BIO *bio;
	int err = 0;

	if (!c || !out || !cap)
		return -EINVAL;
	bio = BIO_new(BIO_s_mem());
	if (!bio)
		return -ENOMEM;
	if (X509_NAME_print_ex(bio, X509_get_subject_name(c->x509), 0, flags) < 0 ||
	    !BIO_mem_contents(bio, &data, &n)) {
		err = -EINVAL;
	} else if (n + 1 > cap) {
		err = -ENOSPC;
	} else {
		memcpy(out, data, n);
		out[n] = '\0';
	}
	BIO_free(bio);
	if (err)
		crypto_clear_errors();
	return err;
}

const struct crypto_pubkey *crypto_cert_pubkey(const struct crypto_cert *c)
{
	return c ? &c->pub : NULL;
}

enum crypto_key_type crypto_pubkey_type(const struct crypto_pubkey *k)
{
	return k ? crypto_pkey_type(k->pkey) : CRYPTO_KEY_OTHER;
}

int crypto_cert_spki_sha1(const struct crypto_cert *c, uint8_t out[20])
{
	uint8_t *der = NULL;
	int len;

	if (!c || !out)
		return -EINVAL;
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(c->x509), &der);
	if (len <= 0) {
		crypto_clear_errors();
		return -EINVAL;
	}
	SHA1(der, (size_t)len, out);
	OPENSSL_free(der);
	return 0;
}

/* ---- identities ------------------------------------------------------------ */

static int bytes_casecmp_eq(const uint8_t *a, size_t alen, const uint8_t *b,
			    size_t blen)
{
	if (alen != blen)
		return 0;
	for (size_t i = 0; i < alen; i++) {
		uint8_t x = a[i], y = b[i];

		if (x >= 'A' && x <= 'Z')
			x = (uint8_t)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (uint8_t)(y - 'A' + 'a');
		if (x != y)
			return 0;
	}
	return 1;
}

/* Mailbox: the local part is case-sensitive (RFC 5321 2.4), the domain not. */
static int email_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	const uint8_t *at_a = memchr(a, '@', alen), *at_b = memchr(b, '@', blen);
	size_t la, lb;

	if (!at_a || !at_b)
		return alen == blen && !memcmp(a, b, alen);
	la = (size_t)(at_a - a);
	lb = (size_t)(at_b - b);
	return la == lb && !memcmp(a, b, la) &&
	       bytes_casecmp_eq(at_a, alen - la, at_b, blen - lb);
}

static int cn_matches(X509 *x, const uint8_t *id, size_t id_len)
{
	X509_NAME *subj = X509_get_subject_name(x);
	int pos = -1, found = 0;

	while (!found && (pos = X509_NAME_get_index_by_NID(subj, NID_commonName, pos)) >= 0) {
		ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, pos));
		uint8_t *utf8 = NULL;
		int n = ASN1_STRING_to_UTF8(&utf8, s);

		if (n > 0 && bytes_casecmp_eq(utf8, (size_t)n, id, id_len))
			found = 1;
		OPENSSL_free(utf8);
	}
	crypto_clear_errors();
	return found;
}

static int san_matches(X509 *x, enum crypto_id_type t, const uint8_t *id,
		       size_t id_len, int *saw_dns)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int found = 0;

	*saw_dns = 0;
	for (size_t i = 0; names && !found && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		const ASN1_STRING *s;

		switch (gn->type) {
		case GEN_DNS:
			*saw_dns = 1;
			s = gn->d.dNSName;
			found = t == CRYPTO_ID_FQDN &&
				bytes_casecmp_eq(ASN1_STRING_get0_data(s),
						 (size_t)ASN1_STRING_length(s), id, id_len);
			break;
		case GEN_EMAIL:
			s = gn->d.rfc822Name;
			found = t == CRYPTO_ID_EMAIL &&
				email_eq(ASN1_STRING_get0_data(s),
					 (size_t)ASN1_STRING_length(s), id, id_len);
			break;
		case GEN_IPADD:
			s = gn->d.iPAddress;
			found = (t == CRYPTO_ID_IPV4 || t == CRYPTO_ID_IPV6) &&
				(size_t)ASN1_STRING_length(s) == id_len &&
				!memcmp(ASN1_STRING_get0_data(s), id, id_len);
			break;
		default:
			break;
		}
	}
	GENERAL_NAMES_free(names);
	crypto_clear_errors();
	return found;
}

static int dn_matches(X509 *x, const uint8_t *id, size_t id_len)
{
	const uint8_t *p = id;
	X509_NAME *name = d2i_X509_NAME(NULL, &p, (long)id_len);
	int eq;

	if (!name || p != id + id_len) {
		X509_NAME_free(name);
		crypto_clear_errors();
		return -EINVAL;
	}
	/* Canonical comparison (as chain building does): string types, case
	 * and spacing differences between encoders do not matter. */
	eq = X509_NAME_cmp(X509_get_subject_name(x), name) == 0;
	X509_NAME_free(name);
	return eq;
}

int crypto_cert_matches_id(const struct crypto_cert *c, enum crypto_id_type t,
			   const uint8_t *id, size_t id_len)
{
	int saw_dns;

	if (!c || !id || !id_len)
		return -EINVAL;
	switch (t) {
	case CRYPTO_ID_FQDN:
		if (memchr(id, '\0', id_len))
			return 0;
		if (san_matches(c->x509, t, id, id_len, &saw_dns))
			return 1;
		return saw_dns ? 0 : cn_matches(c->x509, id, id_len);
	case CRYPTO_ID_EMAIL:
		if (memchr(id, '\0', id_len))
			return 0;
		return san_matches(c->x509, t, id, id_len, &saw_dns);
	case CRYPTO_ID_IPV4:
		if (id_len != 4)
			return -EINVAL;
		return san_matches(c->x509, t, id, id_len, &saw_dns);
	case CRYPTO_ID_IPV6:
		if (id_len != 16)
			return -EINVAL;
		return san_matches(c->x509, t, id, id_len, &saw_dns);
	case CRYPTO_ID_DN:
		return dn_matches(c->x509, id, id_len);
	}
	return -EINVAL;
}

/* Attribute names are matched case-insensitively (as strongSwan does) and
 * written the way OBJ_txt2nid knows them; anything else (an OID in dotted
 * form, a long name) is passed on unchanged. */
static void dn_canonical_key(char *key)
{
	static const char *const names[][2] = {
		{"C", "C"}, {"ST", "ST"}, {"L", "L"}, {"O", "O"}, {"OU", "OU"},
		{"CN", "CN"}, {"DC", "DC"}, {"UID", "UID"}, {"SN", "SN"},
		{"GN", "GN"}, {"title", "title"}, {"serialNumber", "serialNumber"},
		{"E", "emailAddress"}, {"email", "emailAddress"},
		{"emailAddress", "emailAddress"},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcasecmp(key, names[i][0])) {
			strcpy(key, names[i][1]);
			return;
		}
	}
}

/* One "key=value" element of a textual DN; backslash escapes the next char. */
static int dn_add_rdn(X509_NAME *name, const char *s, size_t len)
{
	char key[64], value[1024];
	size_t k = 0, v = 0, i = 0;

	while (i < len && s[i] == ' ')
		i++;
	for (; i < len && s[i] != '='; i++) {
		if (k + 1 >= sizeof(key))
			return -EINVAL;
		key[k++] = s[i];
	}
	if (i == len)
		return -EINVAL;
	while (k && key[k - 1] == ' ')
		k--;
	key[k] = '\0';
	for (i++; i < len && s[i] == ' '; i++)
		;
	for (; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len)
			i++;
		if (v + 1 >= sizeof(value))
			return -EINVAL;
		value[v++] = s[i];
	}
	while (v && value[v - 1] == ' ' && (v < 2 || value[v - 2] != '\\'))
		v--;
	value[v] = '\0';
	if (!k || !v)
		return -EINVAL;
	dn_canonical_key(key);
	if (!X509_NAME_add_entry_by_txt(name, key, MBSTRING_UTF8,
					(const uint8_t *)value, (int)v, -1, 0)) {
		crypto_clear_errors();
		vlog_warn(CRYPTO_LOG, "DN attribute '%s' is unknown or its value "
			  "is invalid", key);
		return -EINVAL;
	}
	return 0;
}

int crypto_dn_from_string(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	X509_NAME *name;
	size_t start = 0, i;
	int err = 0;

	if (!s || !out || !len || !*s)
		return -EINVAL;
	name = X509_NAME_new();
	if (!name)
		return -ENOMEM;
	for (i = 0;; i++) {
		if (s[i] == '\\' && s[i + 1]) {
			i++;
			continue;
		}
		if (s[i] == ',' || s[i] == '\0') {
			err = dn_add_rdn(name, s + start, i - start);
			if (err || s[i] == '\0')
				break;
			start = i + 1;
		}
	}
	if (!err)
		err = name_der(name, out, cap, len);
	X509_NAME_free(name);
	return err;
}

/* ---- trust anchors and chains ------------------------------------------------ */

int crypto_ca_store_load(const char *path, struct crypto_ca_store **out)
{
	struct crypto_ca_store *s;
	uint8_t *buf = NULL;
	size_t len = 0;
	int err, count = 0;
	BIO *bio;
	X509 *x;

	if (!out)
		return -EINVAL;
	*out = NULL;
	err = read_small_file(path, &buf, &len);
	if (err)
		return err;
	s = calloc(1, sizeof(*s));
	bio = BIO_new_mem_buf(buf, (int)len);
	if (!s || !bio || !(s->store = X509_STORE_new())) {
		err = -ENOMEM;
		goto out;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		int ok = X509_STORE_add_cert(s->store, x);

		X509_free(x);
		if (!ok) {
			err = -EINVAL;
			goto out;
		}
		count++;
	}
	crypto_clear_errors(); /* the end of the file reads as "no start line" */
	if (!count) {
		vlog_warn(CRYPTO_LOG, "%s: no CA certificate found", path);
		err = -EINVAL;
	}
out:
	BIO_free(bio);
	free(buf);
	if (err) {
		crypto_clear_errors();
		crypto_ca_store_free(s);
		return err;
	}
	*out = s;
	return 0;
}

void crypto_ca_store_free(struct crypto_ca_store *s)
{
	if (!s)
		return;
	X509_STORE_free(s->store);
	free(s);
}

static void set_reason(char *reason, size_t cap, const char *text)
{
	if (reason && cap)
		snprintf(reason, cap, "%s", text);
}

int crypto_cert_verify(const struct crypto_ca_store *s, const struct crypto_cert *leaf,
		       struct crypto_cert *const *chain, size_t nchain, int64_t now,
		       char *reason, size_t reason_cap)
{
	STACK_OF(X509) *untrusted = NULL;
	X509_STORE_CTX *ctx = NULL;
	int err = 0;

	set_reason(reason, reason_cap, "");
	if (!s || !leaf || (nchain && !chain) || now < 0)
		return -EINVAL;
	untrusted = sk_X509_new_null();
	ctx = X509_STORE_CTX_new();
	if (!untrusted || !ctx) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nchain; i++) {
		if (!chain[i] || !sk_X509_push(untrusted, chain[i]->x509)) {
			err = chain[i] ? -ENOMEM : -EINVAL;
			goto out;
		}
	}
	if (!X509_STORE_CTX_init(ctx, s->store, leaf->x509, untrusted)) {
		err = -ENOMEM;
		goto out;
	}
	if (now)
		X509_STORE_CTX_set_time(ctx, 0, (time_t)now);
	if (X509_verify_cert(ctx) != 1) {
		int code = X509_STORE_CTX_get_error(ctx);

		set_reason(reason, reason_cap, X509_verify_cert_error_string(code));
		vlog_info(CRYPTO_LOG, "certificate chain rejected: %s",
			  X509_verify_cert_error_string(code));
		err = -EKEYREJECTED;
	}
out:
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted); /* the certificates stay with their owners */
	crypto_clear_errors();
	return err;
}
