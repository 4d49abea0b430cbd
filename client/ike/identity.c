/* Identities (RFC 7296 3.5) as profiles write them and as logs show them. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "client/ike/ike_int.h"

static int set(struct ike_identity *out, uint8_t type, const void *data, size_t len)
{
	if (len == 0 || len > IKE_ID_MAX)
		return -EINVAL;
	out->type = type;
	out->len = (uint16_t)len;
	memcpy(out->data, data, len);
	return 0;
}

static bool looks_like_dn(const char *s)
{
	/* "C=CH, O=lab, CN=gw": an attribute name, '=', and a separator. */
	const char *eq = strchr(s, '=');

	return eq && eq != s && (strchr(s, ',') || strchr(s, '/')) && !strchr(s, '@');
}

int ike_identity_parse(const char *s, struct ike_identity *out)
{
	uint8_t addr[16], der[IKE_ID_MAX];
	size_t der_len;

	memset(out, 0, sizeof(*out));
	if (!s || !*s)
		return -EINVAL;
	if (!strncmp(s, "fqdn:", 5))
		return set(out, IKE_ID_FQDN, s + 5, strlen(s + 5));
	if (!strncmp(s, "email:", 6))
		return set(out, IKE_ID_RFC822_ADDR, s + 6, strlen(s + 6));
	if (!strncmp(s, "dn:", 3)) {
		if (crypto_dn_from_string(s + 3, der, sizeof(der), &der_len))
			return -EINVAL;
		return set(out, IKE_ID_DER_ASN1_DN, der, der_len);
	}
	if (!strncmp(s, "ip:", 3))
		s += 3;
	if (inet_pton(AF_INET, s, addr) == 1)
		return set(out, IKE_ID_IPV4_ADDR, addr, 4);
	if (inet_pton(AF_INET6, s, addr) == 1)
		return set(out, IKE_ID_IPV6_ADDR, addr, 16);
	if (strchr(s, '@') && !looks_like_dn(s))
		return set(out, IKE_ID_RFC822_ADDR, s, strlen(s));
	if (looks_like_dn(s)) {
		if (crypto_dn_from_string(s, der, sizeof(der), &der_len))
			return -EINVAL;
		return set(out, IKE_ID_DER_ASN1_DN, der, der_len);
	}
	return set(out, IKE_ID_FQDN, s, strlen(s));
}

static void printable(const uint8_t *d, size_t len, char *out, size_t cap)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 1 < cap; i++)
		out[o++] = isprint(d[i]) ? (char)d[i] : '?';
	out[o] = 0;
}

void ike_identity_str(const struct ike_identity *id, char *out, size_t cap)
{
	char tmp[INET6_ADDRSTRLEN];

	if (!cap)
		return;
	switch (id->type) {
	case IKE_ID_IPV4_ADDR:
		if (id->len == 4 && inet_ntop(AF_INET, id->data, tmp, sizeof(tmp))) {
			snprintf(out, cap, "%s", tmp);
			return;
		}
		break;
	case IKE_ID_IPV6_ADDR:
		if (id->len == 16 && inet_ntop(AF_INET6, id->data, tmp, sizeof(tmp))) {
			snprintf(out, cap, "%s", tmp);
			return;
		}
		break;
	case IKE_ID_FQDN:
	case IKE_ID_RFC822_ADDR:
		printable(id->data, id->len, out, cap);
		return;
	case IKE_ID_DER_ASN1_DN:
		snprintf(out, cap, "dn:<%u octets>", id->len);
		return;
	default:
		break;
	}
	snprintf(out, cap, "id-type-%u:<%u octets>", id->type, id->len);
}
