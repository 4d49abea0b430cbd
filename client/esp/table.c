/* Inbound SAs by SPI: linear probing in a fixed array, at most half full, so
 * a lookup is a multiply, a shift and (almost always) one compare. Deletion
 * shifts the following cluster back instead of leaving tombstones, so the
 * table never degrades however often SAs are rekeyed. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "client/esp/drop.h"
#include "client/esp/esp.h"
#include "client/util/cursor.h"
#include "client/util/log.h"

_Static_assert((ESP_TABLE_SLOTS & (ESP_TABLE_SLOTS - 1)) == 0,
	       "table size must be a power of two");
_Static_assert(ESP_TABLE_MAX * 2 <= ESP_TABLE_SLOTS, "keep the table half empty");

#define TABLE_MASK (ESP_TABLE_SLOTS - 1)

static unsigned table_home(uint32_t spi)
{
	/* Fibonacci hashing: our SPIs are random, but a peer's choice (or a
	 * test's) may be sequential; the multiply spreads both. */
	return (unsigned)((spi * 2654435769u) >> 26) & TABLE_MASK;
}

void esp_table_init(struct esp_table *t)
{
	memset(t, 0, sizeof(*t));
}

static int table_index(const struct esp_table *t, uint32_t spi)
{
	unsigned i = table_home(spi), n;

	for (n = 0; n < ESP_TABLE_SLOTS; n++, i = (i + 1) & TABLE_MASK) {
		if (!t->slot[i])
			return -1;
		if (t->slot[i]->spi == spi)
			return (int)i;
	}
	return -1;
}

struct esp_sa *esp_table_find(const struct esp_table *t, uint32_t spi)
{
	int i = table_index(t, spi);

	return i < 0 ? NULL : t->slot[i];
}

int esp_table_add(struct esp_table *t, struct esp_sa *sa)
{
	unsigned i;

	if (!sa || sa->dir != ESP_DIR_IN)
		return -EINVAL;
	if (table_index(t, sa->spi) >= 0)
		return -EEXIST;
	if (t->count >= ESP_TABLE_MAX)
		return -ENOSPC;
	for (i = table_home(sa->spi); t->slot[i]; i = (i + 1) & TABLE_MASK)
		;
	t->slot[i] = sa;
	t->count++;
	return 0;
}

int esp_table_del(struct esp_table *t, uint32_t spi)
{
	int found = table_index(t, spi);
	unsigned hole, j, home;

	if (found < 0)
		return -ENOENT;
	hole = (unsigned)found;
	t->slot[hole] = NULL;
	t->count--;
	for (j = (hole + 1) & TABLE_MASK; t->slot[j]; j = (j + 1) & TABLE_MASK) {
		home = table_home(t->slot[j]->spi);
		/* Move the entry back into the hole unless its home lies
		 * cyclically in (hole, j]: then it would become unreachable. */
		if (((j - home) & TABLE_MASK) >= ((j - hole) & TABLE_MASK)) {
			t->slot[hole] = t->slot[j];
			t->slot[j] = NULL;
			hole = j;
		}
	}
	return 0;
}

int esp_table_open(struct esp_table *t, struct pkt *p, uint8_t *next_header,
		   struct esp_sa **sa_out)
{
	struct esp_sa *sa;
	uint32_t spi, seql = 0;
	struct cur c;

	if (sa_out)
		*sa_out = NULL;
	cur_init(&c, p->data, p->len);
	if (cur_be32(&c, &spi) < 0 || cur_be32(&c, &seql) < 0)
		return esp_drop(&t->stats, t->rl, ESP_DROP_SHORT, 0, 0, -EMSGSIZE);
	sa = esp_table_find(t, spi);
	if (!sa)
		return esp_drop(&t->stats, t->rl, ESP_DROP_SPI, spi, seql, -ENOENT);
	if (sa_out)
		*sa_out = sa;
	return esp_open(sa, p, next_header);
}
