/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * dtrbd: pure decision logic, shared by the module and the unit tests.
 *
 * No kernel objects here: plain values in, a decision out, so the same code
 * is compiled into dtrbd.ko and into the Catch2 tests (tests/unit/).
 */
#ifndef DTRBD_LOGIC_H
#define DTRBD_LOGIC_H

#include <linux/types.h>
#include "include/uapi/linux/dtrbd.h"

/* What one side knows about its disk when a connection is established. */
struct dtrbd_gen {
	__u8 disk;		/* enum dtrbd_disk_state */
	__u8 role;		/* enum dtrbd_role */
	__u8 crashed_primary;	/* attached after a crash as Primary */
	__u8 discard_my_data;	/* operator: on split brain, we are target */
	__u8 full_sync;		/* our bitmap is not trustworthy */
	__u8 after_sb;		/* enum dtrbd_after_sb this side runs */
	__u64 current_uuid;
	__u64 bitmap_uuid;
	__u64 history_uuid[2];
	__u64 oos_blocks;	/* bits set in this side's bitmap */
};

enum dtrbd_sync_decision {
	DTRBD_DEC_NONE,		/* both hold the same data */
	DTRBD_DEC_SOURCE,	/* we send the blocks both bitmaps mark */
	DTRBD_DEC_TARGET,	/* we receive them */
	DTRBD_DEC_SOURCE_FULL,	/* we send every block */
	DTRBD_DEC_TARGET_FULL,	/* we receive every block */
	DTRBD_DEC_BOTH_INCONSISTENT,	/* nothing to sync from: wait */
	DTRBD_DEC_SPLIT_BRAIN,	/* both changed since they last agreed */
	DTRBD_DEC_UNRELATED,	/* no common history at all */
};

static inline int dtrbd_dec_is_source(enum dtrbd_sync_decision d)
{
	return d == DTRBD_DEC_SOURCE || d == DTRBD_DEC_SOURCE_FULL;
}

static inline int dtrbd_dec_is_target(enum dtrbd_sync_decision d)
{
	return d == DTRBD_DEC_TARGET || d == DTRBD_DEC_TARGET_FULL;
}

static inline int dtrbd_dec_is_full(enum dtrbd_sync_decision d)
{
	return d == DTRBD_DEC_SOURCE_FULL || d == DTRBD_DEC_TARGET_FULL;
}

/* The same decision seen from the other side. */
static inline enum dtrbd_sync_decision
dtrbd_dec_mirror(enum dtrbd_sync_decision d)
{
	switch (d) {
	case DTRBD_DEC_SOURCE:
		return DTRBD_DEC_TARGET;
	case DTRBD_DEC_TARGET:
		return DTRBD_DEC_SOURCE;
	case DTRBD_DEC_SOURCE_FULL:
		return DTRBD_DEC_TARGET_FULL;
	case DTRBD_DEC_TARGET_FULL:
		return DTRBD_DEC_SOURCE_FULL;
	default:
		return d;
	}
}

static inline int dtrbd_gen_consistent(const struct dtrbd_gen *g)
{
	return g->disk == DTRBD_DISK_UPTODATE || g->disk == DTRBD_DISK_OUTDATED;
}

/*
 * Generation ids alone: which side has the newer data. @tiebreak is true on
 * exactly one side of a connection and only breaks exact ties.
 */
static inline enum dtrbd_sync_decision
dtrbd_decide_uuids(const struct dtrbd_gen *me, const struct dtrbd_gen *peer,
		   int tiebreak)
{
	if (me->current_uuid == peer->current_uuid) {
		/*
		 * Same generation. A side that crashed as Primary may hold
		 * writes the other never saw, in its activity-log extents:
		 * it sends those.
		 */
		if (me->crashed_primary && !peer->crashed_primary)
			return DTRBD_DEC_SOURCE;
		if (peer->crashed_primary && !me->crashed_primary)
			return DTRBD_DEC_TARGET;
		if (me->crashed_primary && peer->crashed_primary)
			return tiebreak ? DTRBD_DEC_SOURCE : DTRBD_DEC_TARGET;
		return DTRBD_DEC_NONE;
	}
	/*
	 * One side moved on from the generation the other still has. Ids
	 * pointing at each other (impossible with random ids, but not with
	 * damaged metadata) decide nothing: treat them as split brain.
	 */
	if (me->bitmap_uuid && me->bitmap_uuid == peer->current_uuid)
		return peer->bitmap_uuid &&
		       peer->bitmap_uuid == me->current_uuid ?
		       DTRBD_DEC_SPLIT_BRAIN : DTRBD_DEC_SOURCE;
	if (peer->bitmap_uuid && peer->bitmap_uuid == me->current_uuid)
		return DTRBD_DEC_TARGET;
	/* both moved on from the same point: both have changes */
	if (me->bitmap_uuid && me->bitmap_uuid == peer->bitmap_uuid)
		return DTRBD_DEC_SPLIT_BRAIN;
	/* the other side is an older generation whose bitmap we dropped */
	if (peer->current_uuid && (peer->current_uuid == me->history_uuid[0] ||
				   peer->current_uuid == me->history_uuid[1])) {
		if (me->current_uuid &&
		    (me->current_uuid == peer->history_uuid[0] ||
		     me->current_uuid == peer->history_uuid[1]))
			return DTRBD_DEC_SPLIT_BRAIN;	/* again a cycle */
		return DTRBD_DEC_SOURCE_FULL;
	}
	if (me->current_uuid && (me->current_uuid == peer->history_uuid[0] ||
				 me->current_uuid == peer->history_uuid[1]))
		return DTRBD_DEC_TARGET_FULL;
	/* moved on from points that share history: still split brain */
	if (me->bitmap_uuid && (me->bitmap_uuid == peer->history_uuid[0] ||
				me->bitmap_uuid == peer->history_uuid[1]))
		return DTRBD_DEC_SPLIT_BRAIN;
	if (peer->bitmap_uuid && (peer->bitmap_uuid == me->history_uuid[0] ||
				  peer->bitmap_uuid == me->history_uuid[1]))
		return DTRBD_DEC_SPLIT_BRAIN;
	return DTRBD_DEC_UNRELATED;
}

/*
 * Resolve a split brain by the operator's word or an automatic policy; both
 * sides evaluate it with mirrored inputs and reach mirrored answers. The
 * policy applies only when both sides run the same one.
 */
static inline enum dtrbd_sync_decision
dtrbd_resolve_split_brain(const struct dtrbd_gen *me,
			  const struct dtrbd_gen *peer, int tiebreak)
{
	if (me->discard_my_data && !peer->discard_my_data)
		return DTRBD_DEC_TARGET;
	if (peer->discard_my_data && !me->discard_my_data)
		return DTRBD_DEC_SOURCE;
	if (me->discard_my_data || me->after_sb != peer->after_sb)
		return DTRBD_DEC_SPLIT_BRAIN;

	switch (me->after_sb) {
	case DTRBD_SB_DISCARD_ZERO_CHANGES:
		if (!me->oos_blocks && peer->oos_blocks)
			return DTRBD_DEC_TARGET;
		if (me->oos_blocks && !peer->oos_blocks)
			return DTRBD_DEC_SOURCE;
		if (!me->oos_blocks && !peer->oos_blocks)
			return tiebreak ? DTRBD_DEC_SOURCE : DTRBD_DEC_TARGET;
		break;
	case DTRBD_SB_DISCARD_SECONDARY:
		if (me->role == DTRBD_ROLE_SECONDARY &&
		    peer->role == DTRBD_ROLE_PRIMARY)
			return DTRBD_DEC_TARGET;
		if (me->role == DTRBD_ROLE_PRIMARY &&
		    peer->role == DTRBD_ROLE_SECONDARY)
			return DTRBD_DEC_SOURCE;
		break;
	default:
		break;
	}
	return DTRBD_DEC_SPLIT_BRAIN;
}

/*
 * Decide the resync from both sides' states at connect time.
 *
 * The rules are symmetric: given (a, b, t) one side computes X and given
 * (b, a, !t) the other computes dtrbd_dec_mirror(X), so both sides agree
 * without another round trip. Documentation/architecture.md has the table.
 */
static inline enum dtrbd_sync_decision
dtrbd_decide_sync(const struct dtrbd_gen *me, const struct dtrbd_gen *peer,
		  int tiebreak)
{
	int me_ok = dtrbd_gen_consistent(me);
	int peer_ok = dtrbd_gen_consistent(peer);
	enum dtrbd_sync_decision d;

	/* a side whose disk failed works through the other: nothing to sync */
	if (me->disk == DTRBD_DISK_DISKLESS || peer->disk == DTRBD_DISK_DISKLESS)
		return DTRBD_DEC_NONE;
	if (!me_ok && !peer_ok)
		return DTRBD_DEC_BOTH_INCONSISTENT;
	if (!me_ok) {
		/* an interrupted resync continues from the bitmaps */
		if (me->current_uuid && !me->full_sync &&
		    peer->bitmap_uuid == me->current_uuid)
			return DTRBD_DEC_TARGET;
		return DTRBD_DEC_TARGET_FULL;
	}
	if (!peer_ok) {
		if (peer->current_uuid && !peer->full_sync &&
		    me->bitmap_uuid == peer->current_uuid)
			return DTRBD_DEC_SOURCE;
		return DTRBD_DEC_SOURCE_FULL;
	}
	/* an Outdated side knows it is behind */
	if (me->disk == DTRBD_DISK_OUTDATED && peer->disk == DTRBD_DISK_UPTODATE &&
	    me->current_uuid != peer->current_uuid)
		return peer->bitmap_uuid == me->current_uuid ?
		       DTRBD_DEC_TARGET : DTRBD_DEC_TARGET_FULL;
	if (peer->disk == DTRBD_DISK_OUTDATED && me->disk == DTRBD_DISK_UPTODATE &&
	    me->current_uuid != peer->current_uuid)
		return me->bitmap_uuid == peer->current_uuid ?
		       DTRBD_DEC_SOURCE : DTRBD_DEC_SOURCE_FULL;

	d = dtrbd_decide_uuids(me, peer, tiebreak);
	if (d == DTRBD_DEC_SPLIT_BRAIN)
		return dtrbd_resolve_split_brain(me, peer, tiebreak);
	if (d == DTRBD_DEC_UNRELATED) {
		if (me->discard_my_data && !peer->discard_my_data)
			return DTRBD_DEC_TARGET_FULL;
		if (peer->discard_my_data && !me->discard_my_data)
			return DTRBD_DEC_SOURCE_FULL;
	}
	return d;
}

/*
 * The request timer (kmod/conn.c): what may wait for the peer, and how
 * long. Times are ticks of a wrapping counter (jiffies); everything that
 * waits started at some tick, and has waited too long once
 * now - start >= limit, also across a wrap of the counter.
 */
enum dtrbd_wait_kind {
	DTRBD_TW_NONE,
	DTRBD_TW_CONNECTING,	/* the handshake has not finished */
	DTRBD_TW_WRITE,		/* a write the peer has not written */
	DTRBD_TW_READ,		/* a read the peer has not answered */
	DTRBD_TW_RESYNC,	/* a resync chunk the peer has not answered */
};

/* The request timeout: ko_count peer timeouts, in milliseconds. */
static inline __u64 dtrbd_request_timeout_ms(__u32 ko_count, __u32 timeout_ms)
{
	return (__u64)ko_count * timeout_ms;
}

/* The handshake deadline, in milliseconds. */
static inline __u64 dtrbd_connecting_timeout_ms(__u32 timeout_ms)
{
	return (__u64)DTRBD_CONNECTING_TIMEOUTS * timeout_ms;
}

/*
 * One look at everything that waits: the first waiter found past its
 * limit, and otherwise the ticks until the earliest one will be.
 */
struct dtrbd_tscan {
	unsigned long now;
	unsigned long next;		/* ticks until the next look */
	enum dtrbd_wait_kind expired;	/* DTRBD_TW_NONE: nothing yet */
	unsigned long waited;		/* ticks the expired one waited */
};

/*
 * @idle: ticks until the next look when nothing waits; a waiter that
 * starts later cannot expire earlier than that if @idle is its limit.
 */
static inline void dtrbd_tscan_init(struct dtrbd_tscan *s, unsigned long now,
				    unsigned long idle)
{
	s->now = now;
	s->next = idle;
	s->expired = DTRBD_TW_NONE;
	s->waited = 0;
}

static inline void dtrbd_tscan_add(struct dtrbd_tscan *s, unsigned long start,
				   unsigned long limit, enum dtrbd_wait_kind what)
{
	unsigned long waited = s->now - start;

	/* a start after now (read before it was stamped): no wait yet */
	if ((long)waited < 0)
		waited = 0;
	if (waited >= limit) {
		if (s->expired == DTRBD_TW_NONE) {
			s->expired = what;
			s->waited = waited;
		}
		return;
	}
	if (limit - waited < s->next)
		s->next = limit - waited;
}

/*
 * Block size limits of one side (P_LIMITS), in bytes. The pair works with
 * the stricter of each: the larger logical and physical block size, the
 * smaller largest bio.
 */
struct dtrbd_limits {
	__u32 lbs;		/* logical block size */
	__u32 pbs;		/* physical block size */
	__u32 max_bio;		/* largest bio */
};

#define DTRBD_LIMITS_MAX_LBS	4096u	/* the bitmap's block: no larger */
#define DTRBD_LIMITS_MIN_BIO	4096u	/* resync and bitmap I/O are 4 KiB */

enum dtrbd_limits_verdict {
	DTRBD_LIM_OK,		/* *out holds the limits to adopt */
	DTRBD_LIM_INVALID,	/* malformed: a protocol violation */
	DTRBD_LIM_UNSUPPORTED,	/* the peer's blocks are larger than 4 KiB */
	DTRBD_LIM_IN_USE,	/* we would have to grow our block size while open */
};

static inline int dtrbd_is_pow2(__u32 x)
{
	return x && !(x & (x - 1));
}

/*
 * @cur: our device's limits now; @peer: the peer's (from the wire);
 * @in_use: our device is open (its users picked their I/O sizes from the
 * current logical block size, which must not grow under them).
 */
static inline enum dtrbd_limits_verdict
dtrbd_limits_merge(const struct dtrbd_limits *cur,
		   const struct dtrbd_limits *peer, int in_use,
		   struct dtrbd_limits *out)
{
	if (!dtrbd_is_pow2(peer->lbs) || peer->lbs < 512 ||
	    !dtrbd_is_pow2(peer->pbs) || peer->pbs < peer->lbs ||
	    peer->max_bio < peer->lbs || peer->max_bio % peer->lbs)
		return DTRBD_LIM_INVALID;
	if (peer->lbs > DTRBD_LIMITS_MAX_LBS ||
	    peer->max_bio < DTRBD_LIMITS_MIN_BIO)
		return DTRBD_LIM_UNSUPPORTED;
	out->lbs = cur->lbs > peer->lbs ? cur->lbs : peer->lbs;
	out->pbs = cur->pbs > peer->pbs ? cur->pbs : peer->pbs;
	out->max_bio = cur->max_bio < peer->max_bio ? cur->max_bio :
						      peer->max_bio;
	out->max_bio -= out->max_bio % out->lbs;
	if (in_use && out->lbs > cur->lbs)
		return DTRBD_LIM_IN_USE;
	return DTRBD_LIM_OK;
}

/*
 * Every packet from the peer that names a range of our device goes through
 * here before any shift or multiplication of its fields: is
 * [sector * 512, sector * 512 + bytes) inside a device of dev_bytes bytes,
 * with the start and length multiples of align bytes (512 or the 4 KiB
 * bitmap block)? An empty range is in range; callers that need a payload
 * refuse bytes == 0 themselves. Never overflows, whatever the peer sent.
 */
static inline int dtrbd_peer_range_ok(__u64 sector, __u64 bytes,
				      __u64 dev_bytes, __u32 align)
{
	__u64 start;

	if (!align || align & 511 || sector > dev_bytes >> 9)
		return 0;
	start = sector << 9;
	if (start % align || bytes % align)
		return 0;
	return bytes <= dev_bytes - start;
}

/*
 * P_DATA without a payload is only meaningful as an empty flush; anything
 * else with size 0 is malformed.
 */
static inline int dtrbd_peer_data_size_ok(__u32 size, __u32 flags,
					  __u32 flush_flag)
{
	return size || (flags & flush_flag);
}

/*
 * A resource name for DTRBD_A_RES_NAME: 1 .. DTRBD_RES_NAME_MAX bytes of
 * [A-Za-z0-9_.-], not starting with '.' or '-', so that it is safe as the
 * file name /dev/dtrbd/by-res/NAME (no '/', no "..", no spaces or shell
 * characters in udev's environment). len excludes the terminating NUL.
 */
static inline int dtrbd_res_name_ok(const char *s, __u32 len)
{
	__u32 i;

	if (!len || len > DTRBD_RES_NAME_MAX || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == '.'))
			return 0;
	}
	return 1;
}

#endif /* DTRBD_LOGIC_H */
