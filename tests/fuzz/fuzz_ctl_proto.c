/* libFuzzer target: the control protocol's decoders (client/daemon/
 * ctl_proto.h) on arbitrary bytes, as vpnd reads them from a client
 * (ctl_request_decode) and vpnctl from vpnd (ctl_msg_decode, and the status
 * objects inside with ctl_status_from_json).
 *
 * Beyond "no crash, no leak": a request that decodes must encode and decode
 * to the same request; a status object that decodes must survive
 * to_json/from_json unchanged; ctl_text_clean must give one printable line
 * within its capacity. Invariant failures abort. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client/daemon/ctl_proto.h"
#include "client/util/log.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void request(const char *line, size_t len)
{
	struct ctl_request req, again;
	char why[CTL_TEXT_MAX];
	char *enc;

	if (ctl_request_decode(line, len, &req, why, sizeof(why)) != 0)
		return;
	fuzz_check(!req.has_name || ctl_name_valid(req.name));
	enc = ctl_request_encode(&req);
	if (!enc)
		return; /* out of memory */
	fuzz_check(strlen(enc) > 0 && enc[strlen(enc) - 1] == '\n');
	fuzz_check(ctl_request_decode(enc, strlen(enc) - 1, &again, why, sizeof(why)) == 0);
	fuzz_check(again.op == req.op && again.has_name == req.has_name);
	fuzz_check(strcmp(again.name, req.name) == 0);
	free(enc);
}

static void status_round_trip(const json_t *obj)
{
	static struct ctl_status st, again;
	char why[CTL_TEXT_MAX];
	json_t *j;

	memset(&st, 0, sizeof(st));
	memset(&again, 0, sizeof(again));
	if (ctl_status_from_json(obj, &st, why, sizeof(why)) != 0)
		return;
	j = ctl_status_to_json(&st, st.since);
	if (!j)
		return;
	fuzz_check(ctl_status_from_json(j, &again, why, sizeof(why)) == 0);
	fuzz_check(memcmp(&st, &again, sizeof(st)) == 0);
	json_decref(j);
}

static void response(const char *line, size_t len)
{
	struct ctl_msg msg;
	char why[CTL_TEXT_MAX];
	size_t i;

	memset(&msg, 0, sizeof(msg));
	if (ctl_msg_decode(line, len, &msg, why, sizeof(why)) != 0)
		return;
	if (msg.status) {
		fuzz_check(json_is_array(msg.status));
		for (i = 0; i < json_array_size(msg.status); i++)
			status_round_trip(json_array_get(msg.status, i));
	}
	ctl_msg_clear(&msg);
}

static void text_clean(const char *s)
{
	char out[64];
	size_t n = ctl_text_clean(out, sizeof(out), s);

	fuzz_check(n < sizeof(out) && out[n] == '\0' && strlen(out) == n);
	for (size_t i = 0; i < n; i++)
		fuzz_check((unsigned char)out[i] >= 0x20 && out[i] != 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	json_t *obj;
	char *s;

	if (!ready) {
		vlog_set_sink(fuzz_quiet, NULL);
		ready = 1;
	}
	if (size > CTL_REQUEST_MAX + 16)
		return 0;
	/* An exact-size copy: ASan sees any read past the line. */
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	request(s, size);
	response(s, size);
	/* The input as one status object, the way a status array's elements
	 * reach ctl_status_from_json. */
	obj = json_loadb(s, size, JSON_REJECT_DUPLICATES, NULL);
	if (obj) {
		if (json_is_object(obj))
			status_round_trip(obj);
		json_decref(obj);
	}
	text_clean(s);
	free(s);
	return 0;
}
