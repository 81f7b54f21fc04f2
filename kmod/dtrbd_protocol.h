/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * dtrbd wire protocol and on-disk metadata format.
 *
 * Shared by the module and dtrbdctl. Everything here is frozen: a change to
 * any structure, packet type or flag value requires a protocol (or metadata)
 * version bump. Sizes are checked at build time in the module
 * (dtrbd_check_layout()) and in the unit tests. Documentation/protocol.md
 * has the byte diagrams.
 *
 * Wire integers are big-endian; on-disk integers are little-endian.
 */
#ifndef DTRBD_PROTOCOL_H
#define DTRBD_PROTOCOL_H

#include <linux/types.h>

#ifndef __packed
#define __packed __attribute__((packed))
#endif

/* ---- Wire protocol ---------------------------------------------------- */

#define DTRBD_WIRE_MAGIC	0x64745242u	/* "dtRB" */
/*
 * Version 2 is the first released format (version 1 had no bitmap, no
 * barriers and no verify; it never left the development tree).
 */
#define DTRBD_PROTO_MIN		2
#define DTRBD_PROTO_MAX		2

/*
 * Feature bits, negotiated in the hello (AND of both sides); each is
 * documented with the reason it exists.
 *
 * DTRBD_FEAT_LIMITS: each side sends P_LIMITS (its logical and physical
 * block size and largest bio) right before its first P_STATE, and both
 * adopt the stricter of the two, or refuse the pair. Without it a
 * 512-byte Primary sends 512-byte writes a 4Kn Secondary cannot do, and
 * the Secondary's disk is declared failed. A peer without the bit gets
 * the old behaviour (no P_LIMITS in either direction).
 */
#define DTRBD_FEAT_LIMITS	(1ull << 0)
#define DTRBD_FEATURES_KNOWN	DTRBD_FEAT_LIMITS

/* Largest payload of one P_DATA / P_RS_DATA packet. */
#define DTRBD_MAX_PAYLOAD	(1u << 20)

enum dtrbd_packet_type {
	P_HELLO		= 1,	/* userspace handshake, before the handover */
	P_STATE		= 2,	/* role, disk state, uuids; on every change */
	P_DATA		= 3,	/* application write; payload follows */
	P_WRITE_ACK	= 4,	/* P_DATA written on the peer (every protocol) */
	P_RECV_ACK	= 5,	/* P_DATA received by the peer (protocol B) */
	P_RS_DATA	= 6,	/* resync block; payload follows */
	P_RS_ACK	= 7,	/* P_RS_DATA written */
	P_SYNC_DONE	= 8,	/* source: every block sent and acknowledged */
	P_PING		= 9,
	P_PING_ACK	= 10,
	P_PROMOTE_REQ	= 11,	/* may I become Primary? */
	P_PROMOTE_REPLY	= 12,
	P_BITMAP	= 13,	/* a slice of the sender's out-of-sync bitmap */
	P_BARRIER	= 14,	/* protocols A/B: write epoch boundary */
	P_OV_REQ	= 15,	/* verify: here is my checksum of a block run */
	P_OV_REPLY	= 16,	/* verify: per-block equal/different */
	P_CSUM_REQ	= 17,	/* checksum resync: send these blocks unless equal */
	P_RS_SAME	= 18,	/* checksum resync: blocks equal, nothing sent */
	P_UUID_SYNC	= 19,	/* new-current-uuid --clear-bitmap: adopt this */
	P_INVALIDATE	= 20,	/* start a full resync towards the sender */
	P_READ_REQ	= 21,	/* diskless: read this for me (p_data, no payload) */
	P_READ_REPLY	= 22,	/* p_ack, then the data when status is 0 */
	P_LIMITS	= 23,	/* DTRBD_FEAT_LIMITS: block sizes, before P_STATE */
};

struct dtrbd_hdr {
	__be32 magic;
	__be16 type;		/* enum dtrbd_packet_type */
	__be16 reserved;	/* zero */
	__be32 length;		/* bytes following this header */
	__be32 seq;		/* sender's packet counter, for debugging */
} __packed;

/* P_HELLO: exchanged by dtrbdctl before the socket is handed to the kernel. */
#define DTRBD_NODE_NAME_LEN	64
struct dtrbd_p_hello {
	__be32 proto_min;
	__be32 proto_max;
	__be64 features;
	__be64 size_bytes;	/* usable data size of the sender's device */
	__be64 device_uuid;	/* identity of the replicated volume */
	__be32 minor;
	__be32 reserved;
	char node_name[DTRBD_NODE_NAME_LEN];	/* NUL padded */
} __packed;

/* P_STATE */
#define DTRBD_SF_CRASHED_PRIMARY (1u << 0)	/* attached after a crash as Primary */
#define DTRBD_SF_DISCARD_MY_DATA (1u << 1)	/* operator: resolve split brain, we lose */
#define DTRBD_SF_FULL_SYNC	(1u << 2)	/* our bitmap is not trustworthy */
#define DTRBD_SF_KNOWN		0x7u
struct dtrbd_p_state {
	__u8 role;		/* enum dtrbd_role */
	__u8 disk;		/* enum dtrbd_disk_state */
	__u8 sync;		/* enum dtrbd_sync_state */
	__u8 flags;		/* DTRBD_SF_* */
	__u8 after_sb;		/* enum dtrbd_after_sb the sender runs */
	__u8 reserved[3];
	__be64 size_bytes;
	__be64 current_uuid;
	__be64 bitmap_uuid;
	__be64 history_uuid[2];
	__be64 oos_blocks;	/* bits set in the sender's bitmap */
} __packed;

/*
 * P_BITMAP: sent by both sides right after the state exchange decided a
 * bitmap resync, as consecutive slices. @offset is the first 64-bit word
 * of the slice; the payload is @words little-endian u64 words. The last
 * slice has DTRBD_BM_LAST set. The receiver ORs them into its bitmap.
 */
#define DTRBD_BM_LAST		(1u << 0)
#define DTRBD_BM_WORDS_MAX	(4096u / 8)
struct dtrbd_p_bitmap {
	__be64 offset;		/* in 64-bit words */
	__be32 words;		/* words of payload that follow */
	__be32 flags;		/* DTRBD_BM_* */
} __packed;

/* P_BARRIER: writes before it complete on the peer before any after it. */
struct dtrbd_p_barrier {
	__be32 epoch;
	__be32 reserved;
} __packed;

/*
 * P_OV_REQ and P_CSUM_REQ: a run of @blocks 4 KiB blocks from @sector,
 * followed by one crc32c (__be32) per block. P_OV_REPLY: the same header
 * followed by one byte per block: 0 equal, 1 different.
 * P_RS_SAME: the run is equal; the target marks it in sync.
 */
#define DTRBD_CSUM_BLOCKS_MAX	64
struct dtrbd_p_csum {
	__be64 id;		/* echoed in the reply */
	__be64 sector;		/* 512-byte units, 4 KiB aligned */
	__be32 blocks;
	__be32 reserved;
} __packed;

/*
 * P_LIMITS (only with DTRBD_FEAT_LIMITS): the sender's device queue
 * limits, in bytes. Sent once per connection, before the first P_STATE.
 */
struct dtrbd_p_limits {
	__be32 logical_block_size;	/* power of 2, 512..4096 */
	__be32 physical_block_size;	/* power of 2, >= logical */
	__be32 max_bio_size;		/* largest write it accepts, >= 4096 */
	__be32 reserved;		/* zero */
} __packed;

/* P_UUID_SYNC */
struct dtrbd_p_uuid_sync {
	__be64 current_uuid;	/* both sides adopt it, UpToDate, bitmaps clear */
} __packed;

/* P_DATA and P_RS_DATA, followed by @size payload bytes. */
#define DTRBD_DP_FLUSH		(1u << 0)	/* REQ_PREFLUSH */
#define DTRBD_DP_FUA		(1u << 1)	/* REQ_FUA */
#define DTRBD_DP_SYNC		(1u << 2)	/* REQ_SYNC */
#define DTRBD_DP_ACK_RECV	(1u << 3)	/* protocol B: P_RECV_ACK */
#define DTRBD_DP_ACK_NONE	(1u << 4)	/* protocol A: no receive ack */
#define DTRBD_DP_KNOWN		0x1fu
struct dtrbd_p_data {
	__be64 id;		/* echoed in the ack */
	__be64 sector;		/* 512-byte units */
	__be32 size;		/* payload bytes, multiple of 512, may be 0 */
	__be32 flags;		/* DTRBD_DP_* */
} __packed;

/* P_WRITE_ACK, P_RECV_ACK, P_RS_ACK */
struct dtrbd_p_ack {
	__be64 id;
	__be64 sector;
	__be32 size;
	__be32 status;		/* 0 or a positive errno from the peer */
} __packed;

/* P_SYNC_DONE */
struct dtrbd_p_sync_done {
	__be64 current_uuid;	/* the target adopts it */
} __packed;

/* P_PROMOTE_REPLY */
struct dtrbd_p_promote_reply {
	__be32 granted;		/* 1 or 0 */
	__be32 reason;		/* enum dtrbd_promote_refusal when refused */
} __packed;

enum dtrbd_promote_refusal {
	DTRBD_PR_OK,
	DTRBD_PR_PEER_PRIMARY,	/* the replying side is Primary */
	DTRBD_PR_CONCURRENT,	/* both asked at once; the other side won */
	DTRBD_PR_SYNCING,	/* the requester is a resync target */
};

/* ---- On-disk metadata --------------------------------------------------- */

/*
 * Internal metadata lives at the end of the backing device; data starts at
 * byte 0 and maps 1:1, so the backing device alone is a plain copy of the
 * data. Layout, from the end of the device (rounded down to 4 KiB):
 *
 *   [ data ............ | bitmap | activity log | superblock (4 KiB) ]
 *   0             data_size   bm_offset    al_offset    sb_offset
 */
#define DTRBD_MD_MAGIC		0x314d4442525444ull	/* "DTRBDM1\0" LE */
#define DTRBD_MD_VERSION	2
#define DTRBD_MD_SB_SIZE	4096u
#define DTRBD_MD_BLOCK		4096u		/* one bitmap bit covers this */
#define DTRBD_MD_AL_SIZE	(32u * 1024)	/* reserved for the activity log */
#define DTRBD_MD_AL_EXTENT	(4u << 20)
#define DTRBD_MD_MIN_DATA	(1ull << 20)	/* smallest usable device */

#define DTRBD_MDF_CONSISTENT	(1u << 0)	/* data is a valid image */
#define DTRBD_MDF_WAS_UPTODATE	(1u << 1)	/* last known UpToDate */
#define DTRBD_MDF_PRIMARY	(1u << 2)	/* was Primary (crash = set) */
#define DTRBD_MDF_PEER_OUTDATED	(1u << 3)	/* peer known to be behind */
#define DTRBD_MDF_CRASHED_PRIMARY (1u << 4)	/* found MDF_PRIMARY at attach */
#define DTRBD_MDF_EXTERNAL	(1u << 5)	/* metadata on its own device */
#define DTRBD_MDF_FULL_SYNC	(1u << 6)	/* next resync must be full */
#define DTRBD_MDF_ALL		0x7fu

struct dtrbd_md_super {
	__le64 magic;
	__le32 version;
	__le32 sb_size;
	__le64 dev_size;	/* backing size when created, bytes */
	__le64 data_size;	/* usable bytes, multiple of 4096 */
	__le64 bm_offset;	/* bytes from device start */
	__le64 bm_size;		/* bytes, multiple of 4096 */
	__le64 al_offset;
	__le32 al_size;
	__le32 al_extent_size;
	__le32 bm_block_size;
	__le32 flags;		/* DTRBD_MDF_* */
	__le64 current_uuid;
	__le64 bitmap_uuid;
	__le64 history_uuid[2];
	__le64 device_uuid;
	__u8 reserved[140];
	__le32 crc;		/* crc32c (seed ~0, no final xor) of the
				 * preceding bytes */
} __packed;

/*
 * Activity log: DTRBD_MD_AL_SIZE bytes hold a ring of 4 KiB transaction
 * blocks; block (seq % DTRBD_AL_SLOTS) holds transaction @seq, which lists
 * every extent that is hot after it. Recovery takes the valid block with
 * the highest seq. A torn write leaves the previous one intact.
 */
#define DTRBD_AL_MAGIC		0x314c4144u	/* "DAL1" LE */
#define DTRBD_AL_SLOTS		(DTRBD_MD_AL_SIZE / 4096u)
#define DTRBD_AL_BLOCK_EXTENTS	1018
struct dtrbd_al_block {
	__le32 magic;
	__le32 crc;		/* crc32c (seed ~0) of the block, crc = 0 */
	__le64 seq;
	__le32 n;		/* extents listed */
	__le32 reserved;
	__le32 extents[DTRBD_AL_BLOCK_EXTENTS];
} __packed;

/*
 * Compute the metadata layout for a backing device of @dev_size bytes.
 * Pure arithmetic, shared by the module and dtrbdctl. Returns 0 and fills
 * the offsets, or -1 when the device is too small.
 */
struct dtrbd_md_layout {
	__u64 data_size;
	__u64 bm_offset;
	__u64 bm_size;
	__u64 al_offset;
	__u64 sb_offset;
};

static inline int dtrbd_md_layout(__u64 dev_size, struct dtrbd_md_layout *l)
{
	__u64 end = dev_size & ~(__u64)(DTRBD_MD_BLOCK - 1);
	__u64 bits, fixed;

	fixed = DTRBD_MD_SB_SIZE + DTRBD_MD_AL_SIZE;
	if (end < fixed + DTRBD_MD_MIN_DATA)
		return -1;
	/* one bit per block of the whole device: a slight over-estimate */
	bits = end / DTRBD_MD_BLOCK;
	l->bm_size = ((bits + 7) / 8 + DTRBD_MD_BLOCK - 1) &
		     ~(__u64)(DTRBD_MD_BLOCK - 1);
	l->sb_offset = end - DTRBD_MD_SB_SIZE;
	l->al_offset = l->sb_offset - DTRBD_MD_AL_SIZE;
	l->bm_offset = l->al_offset - l->bm_size;
	l->data_size = l->bm_offset;
	if (l->data_size < DTRBD_MD_MIN_DATA)
		return -1;
	return 0;
}

/*
 * External metadata: the data device is all data (rounded down to 4 KiB);
 * the metadata device holds [ superblock | activity log | bitmap ] from
 * byte 0. Returns -1 when the metadata device is too small for the bitmap
 * of that data device, or the data device is too small.
 */
static inline int dtrbd_md_layout_external(__u64 data_dev_size,
					   __u64 meta_dev_size,
					   struct dtrbd_md_layout *l)
{
	__u64 data = data_dev_size & ~(__u64)(DTRBD_MD_BLOCK - 1);
	__u64 bits = data / DTRBD_MD_BLOCK;

	if (data < DTRBD_MD_MIN_DATA)
		return -1;
	l->data_size = data;
	l->sb_offset = 0;
	l->al_offset = DTRBD_MD_SB_SIZE;
	l->bm_offset = l->al_offset + DTRBD_MD_AL_SIZE;
	l->bm_size = ((bits + 7) / 8 + DTRBD_MD_BLOCK - 1) &
		     ~(__u64)(DTRBD_MD_BLOCK - 1);
	if (meta_dev_size < l->bm_offset + l->bm_size)
		return -1;
	return 0;
}

#endif /* DTRBD_PROTOCOL_H */
