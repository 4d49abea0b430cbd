// The bounds-checked cursor and the sticky-error writer every parser stands on.
#include <gtest/gtest.h>

#include "client/util/cursor.h"

TEST(Cursor, ReadsBigEndianAndStopsAtTheEnd)
{
	const uint8_t buf[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};
	struct cur c;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;

	cur_init(&c, buf, sizeof(buf));
	ASSERT_EQ(cur_u8(&c, &u8), 0);
	EXPECT_EQ(u8, 0x01);
	ASSERT_EQ(cur_be16(&c, &u16), 0);
	EXPECT_EQ(u16, 0x0203);
	ASSERT_EQ(cur_be32(&c, &u32), 0);
	EXPECT_EQ(u32, 0x04050607u);
	EXPECT_EQ(cur_left(&c), 0u);
	EXPECT_EQ(cur_u8(&c, &u8), -ENODATA);
}

TEST(Cursor, ShortReadFailsWithoutMoving)
{
	const uint8_t buf[] = {0xaa, 0xbb, 0xcc};
	struct cur c;
	uint32_t u32;
	uint64_t u64;

	cur_init(&c, buf, sizeof(buf));
	EXPECT_EQ(cur_be32(&c, &u32), -ENODATA);
	EXPECT_EQ(cur_be64(&c, &u64), -ENODATA);
	EXPECT_EQ(c.off, 0u);
	EXPECT_EQ(cur_skip(&c, 4), -ENODATA);
	EXPECT_EQ(cur_skip(&c, 3), 0);
}

TEST(Cursor, SubCursorIsConfinedToItsLength)
{
	const uint8_t buf[] = {0, 4, 0xde, 0xad, 0xbe, 0xef, 0x99};
	struct cur c, sub;
	uint16_t len;
	uint32_t v;
	uint8_t extra;

	cur_init(&c, buf, sizeof(buf));
	ASSERT_EQ(cur_be16(&c, &len), 0);
	ASSERT_EQ(cur_sub(&c, len, &sub), 0);
	ASSERT_EQ(cur_be32(&sub, &v), 0);
	EXPECT_EQ(v, 0xdeadbeefu);
	EXPECT_EQ(cur_u8(&sub, &extra), -ENODATA); // the parent's last byte is out of reach
	ASSERT_EQ(cur_u8(&c, &extra), 0);
	EXPECT_EQ(extra, 0x99);

	// A length field that claims more than is there is refused.
	cur_init(&c, buf, sizeof(buf));
	EXPECT_EQ(cur_sub(&c, 8, &sub), -ENODATA);
}

TEST(Wbuf, StickyErrorOnOverflow)
{
	uint8_t buf[6];
	struct wbuf w;

	wbuf_init(&w, buf, sizeof(buf));
	wbuf_be32(&w, 0x01020304);
	wbuf_be16(&w, 0);
	EXPECT_EQ(wbuf_err(&w), 0);
	wbuf_patch_be16(&w, 4, 0xabcd);
	EXPECT_EQ(buf[4], 0xab);
	EXPECT_EQ(buf[5], 0xcd);
	wbuf_u8(&w, 1);
	EXPECT_EQ(wbuf_err(&w), -ENOSPC);
	EXPECT_EQ(w.len, 6u);
	wbuf_u8(&w, 1); // stays failed, writes nothing
	EXPECT_EQ(w.len, 6u);
	EXPECT_EQ(buf[0], 0x01);
}
