/* INFORMATIONAL (RFC 7296 1.4): liveness checks both ways, Delete of the
 * IKE SA and of Child SAs both ways. */
#include <errno.h>
#include <string.h>

#include "client/ike/ike_int.h"
#include "client/util/log.h"

static int build_empty(struct ike_sa *sa, struct ike_builder *b)
{
	(void)sa;
	(void)b;
	return 0;
}

static int build_delete_ike(struct ike_sa *sa, struct ike_builder *b)
{
	(void)sa;
	return ike_build_delete(b, IKE_PROTO_IKE, 0, NULL, 0);
}

static int build_delete_children(struct ike_sa *sa, struct ike_builder *b)
{
	uint8_t spis[IKE_MAX_CHILDREN * 4];
	unsigned i;

	if (!sa->resp_n_del)
		return 0;
	for (i = 0; i < sa->resp_n_del; i++)
		put_be32(spis + 4 * i, sa->resp_del_spis[i]);
	return ike_build_delete(b, IKE_PROTO_ESP, 4, spis, (uint16_t)sa->resp_n_del);
}

static int build_delete_child_req(struct ike_sa *sa, struct ike_builder *b)
{
	uint8_t spi[4];

	put_be32(spi, sa->del_child_spi_in);
	return ike_build_delete(b, IKE_PROTO_ESP, 4, spi, 1);
}

int ike_dpd_send(struct ike_sa *sa)
{
	vlog_debug(IKE_LOG, "liveness check");
	return ike_send_request(sa, IKE_TASK_DPD, IKE_EXCH_INFORMATIONAL, build_empty);
}

int ike_delete_ike_send(struct ike_sa *sa)
{
	return ike_send_request(sa, IKE_TASK_DELETE_IKE, IKE_EXCH_INFORMATIONAL,
				build_delete_ike);
}

int ike_delete_child_send(struct ike_sa *sa)
{
	if (!ike_child_by_spi_in(sa, sa->del_child_spi_in))
		return 0; /* already gone (the peer deleted it first) */
	return ike_send_request(sa, IKE_TASK_DELETE_CHILD, IKE_EXCH_INFORMATIONAL,
				build_delete_child_req);
}

/* The peer deletes Child SAs by its inbound SPIs (our outbound ones); we
 * answer with our inbound SPIs of the same SAs (RFC 7296 1.4.1). */
static void collect_child_deletes(struct ike_sa *sa, const struct ike_delete *d)
{
	struct cur c;
	uint16_t i;

	if (d->spi_len != 4 || (d->protocol != IKE_PROTO_ESP && d->protocol != IKE_PROTO_AH))
		return;
	cur_init(&c, d->spis, (size_t)d->n_spi * 4);
	for (i = 0; i < d->n_spi; i++) {
		uint32_t spi_out;
		struct ike_child *ch;

		if (cur_be32(&c, &spi_out))
			break;
		ch = ike_child_by_spi_out(sa, spi_out);
		if (!ch) {
			vlog_info(IKE_LOG, "peer deletes unknown Child SA %08x", spi_out);
			continue;
		}
		/* If we deleted it too at the same time, it is in our request. */
		if (sa->resp_n_del < IKE_MAX_CHILDREN)
			sa->resp_del_spis[sa->resp_n_del++] = ch->spi_in;
		vlog_info(IKE_LOG, "peer deletes Child SA %08x_i %08x_o", ch->spi_in, spi_out);
		ike_child_remove(sa, ch, true);
	}
}

void ike_info_recv_request(struct ike_sa *sa, const struct ike_header *h,
			   const struct ike_chain *c)
{
	bool delete_ike = false;
	unsigned i;

	sa->resp_n_del = 0;
	for (i = 0; i < c->n; i++) {
		struct ike_delete d;

		if (c->pl[i].type != IKE_PT_DELETE || ike_parse_delete(&c->pl[i], &d))
			continue;
		if (d.protocol == IKE_PROTO_IKE)
			delete_ike = true;
		else
			collect_child_deletes(sa, &d);
	}
	if (delete_ike) {
		ike_send_response(sa, IKE_EXCH_INFORMATIONAL, h->msgid, build_empty);
		ike_fail(sa, IKE_FAIL_DELETED, "the gateway closed the connection");
		return;
	}
	if (!sa->resp_n_del && c->n == 0)
		vlog_debug(IKE_LOG, "answering the gateway's liveness check");
	ike_send_response(sa, IKE_EXCH_INFORMATIONAL, h->msgid, build_delete_children);
	sa->resp_n_del = 0;
}

void ike_info_recv_response(struct ike_sa *sa, const struct ike_header *h,
			    const struct ike_chain *c)
{
	enum ike_task task = sa->task;
	struct ike_child *ch;

	(void)h;
	(void)c;
	ike_request_done(sa);
	switch (task) {
	case IKE_TASK_DELETE_IKE:
		ike_fail(sa, IKE_FAIL_CLOSED_BY_USER, "closed");
		break;
	case IKE_TASK_DELETE_OLD_IKE:
		ike_drop_old(sa);
		break;
	case IKE_TASK_DELETE_CHILD:
		ch = ike_child_by_spi_in(sa, sa->del_child_spi_in);
		if (ch)
			ike_child_remove(sa, ch, true);
		break;
	case IKE_TASK_DPD:
	default:
		break;
	}
}
