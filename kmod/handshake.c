// SPDX-License-Identifier: GPL-2.0
/*
 * dtrbd: the state exchange and what follows from it. The first P_STATE
 * of each side decides (dtrbd_decide_sync, dtrbd_logic.h) whether the
 * connection is refused (split brain, both Primary, unrelated data, a
 * Primary that would have to become a resync target) or goes CONNECTED,
 * and in which direction a resync runs; later P_STATEs follow the peer's
 * role and disk. Also here: the bitmap exchange that precedes a bitmap
 * resync, its end (P_SYNC_DONE, P_UUID_SYNC), invalidate and the
 * promotion handshake.
 */
#define pr_fmt(fmt) "dtrbd: " fmt

#include <linux/kthread.h>

#include "dtrbd_conn.h"

/*
 * The peer lost its disk: from now on we hold data it lacks. A new
 * generation, and every block marked (we do not know which writes its
 * disk missed before it failed), so its disk is fully resynced if it
 * ever comes back.
 */
static void dtrbd_peer_disk_failed(struct dtrbd_device *dev)
{
	dtrbd_warn(dev, "the peer's disk failed; it now works through ours\n");
	dtrbd_bm_set_all(dev);
	mutex_lock(&dev->md_mutex);
	dtrbd_new_current_uuid(dev);
	mutex_unlock(&dev->md_mutex);
	if (dtrbd_bm_write(dev, false) || dtrbd_md_write(dev))
		dtrbd_err(dev, "could not record that the peer's disk failed\n");
}

#define DTRBD_SB_REASON \
	"split brain: both sides changed the data since they were last connected, and nothing was merged. " \
	"On the side whose changes are to be thrown away run 'dtrbdctl secondary %u' and 'dtrbdctl connect %u ... --discard-my-data', " \
	"and the usual connect on the other side"
#define DTRBD_UNRELATED_REASON \
	"the peer's data has no history in common with ours (a different volume?); " \
	"on the side to be overwritten run 'dtrbdctl connect %u ... --discard-my-data' (a full resync follows)"

/*
 * Under dev->lock: claim the resync direction @dec (so that only one
 * caller starts it) and return it, or DTRBD_DEC_NONE.
 */
static enum dtrbd_sync_decision dtrbd_claim_sync(struct dtrbd_device *dev,
						 enum dtrbd_sync_decision dec)
{
	lockdep_assert_held(&dev->lock);
	if (dev->sync != DTRBD_SYNC_NONE)
		return DTRBD_DEC_NONE;
	if (dtrbd_dec_is_source(dec))
		dev->sync = DTRBD_SYNC_SOURCE;
	else if (dtrbd_dec_is_target(dec))
		dev->sync = DTRBD_SYNC_TARGET;
	else
		return DTRBD_DEC_NONE;
	dev->sync_kind = dtrbd_dec_is_full(dec) ? DTRBD_SK_FULL :
						   DTRBD_SK_BITMAP;
	dev->sync_total = 0;
	dev->sync_done = 0;
	return dec;
}

/*
 * Under dev->lock: does a resync have to start now that a state changed
 * while connected (a forced promotion, an invalidate)? Always a full one.
 */
static enum dtrbd_sync_decision dtrbd_sync_needed(struct dtrbd_device *dev)
{
	lockdep_assert_held(&dev->lock);
	if (dev->disk_state == DTRBD_DISK_UPTODATE &&
	    dev->peer_disk == DTRBD_DISK_INCONSISTENT)
		return dtrbd_claim_sync(dev, DTRBD_DEC_SOURCE_FULL);
	if (dev->disk_state == DTRBD_DISK_INCONSISTENT &&
	    dev->peer_disk == DTRBD_DISK_UPTODATE)
		return dtrbd_claim_sync(dev, DTRBD_DEC_TARGET_FULL);
	return DTRBD_DEC_NONE;
}

/*
 * Start the resync claimed by dtrbd_claim_sync(), once both bitmaps are
 * merged (or, for a full one, at once). Called by the receiver, or by a
 * state change holding dev->state_mutex; the teardown stops the receiver,
 * then takes state_mutex before it looks at dev->conn->resyncer, so it never
 * misses a resyncer started here.
 */
static int dtrbd_start_sync(struct dtrbd_device *dev,
			    enum dtrbd_sync_decision dec)
{
	int ret;

	if (!dtrbd_dec_is_source(dec) && !dtrbd_dec_is_target(dec))
		return 0;
	if (dtrbd_dec_is_full(dec))
		dtrbd_bm_set_all(dev);
	spin_lock_irq(&dev->lock);
	dev->sync_total = dev->bm_set * DTRBD_MD_BLOCK;
	dev->sync_done = 0;
	dev->rate_stamp = jiffies;
	dev->rate_stamp_done = 0;
	dev->sync_rate = 0;
	spin_unlock_irq(&dev->lock);

	if (dtrbd_dec_is_target(dec)) {
		/* must be on disk before the first resync block lands */
		ret = dtrbd_bm_write(dev, false);
		if (ret)
			return ret;
		mutex_lock(&dev->md_mutex);
		dev->md_flags &= ~DTRBD_MDF_CONSISTENT;
		if (dtrbd_dec_is_full(dec))
			dev->md_flags |= DTRBD_MDF_FULL_SYNC;
		mutex_unlock(&dev->md_mutex);
		ret = dtrbd_md_write(dev);
		if (ret)
			return ret;
		spin_lock_irq(&dev->lock);
		dev->disk_state = DTRBD_DISK_INCONSISTENT;
		dev->send_state = true;
		spin_unlock_irq(&dev->lock);
		wake_up(&dev->sender_wq);
		dtrbd_info(dev, "resync started as target (%s), %llu KiB\n",
			   dtrbd_dec_is_full(dec) ? "full" : "bitmap",
			   dev->sync_total >> 10);
		dtrbd_notify(dev, DTRBD_EV_SYNC_STARTED, "target");
		return 0;
	}

	spin_lock_irq(&dev->lock);
	dev->peer_disk = DTRBD_DISK_INCONSISTENT;
	spin_unlock_irq(&dev->lock);
	return dtrbd_start_resyncer(dev, dev->sync_kind);
}

int dtrbd_maybe_start_sync(struct dtrbd_device *dev)
{
	enum dtrbd_sync_decision dec;

	spin_lock_irq(&dev->lock);
	dec = dev->cstate == DTRBD_CONN_CONNECTED ? dtrbd_sync_needed(dev) :
						     DTRBD_DEC_NONE;
	spin_unlock_irq(&dev->lock);
	return dtrbd_start_sync(dev, dec);
}

/*
 * Our data is not to be trusted (dtrbdctl invalidate here, or
 * invalidate-remote on the peer): become the target of a full resync.
 */
int dtrbd_invalidate_local(struct dtrbd_device *dev)
{
	enum dtrbd_sync_decision dec;

	spin_lock_irq(&dev->lock);
	if (dev->role == DTRBD_ROLE_PRIMARY ||
	    dev->peer_disk != DTRBD_DISK_UPTODATE ||
	    dev->cstate != DTRBD_CONN_CONNECTED) {
		spin_unlock_irq(&dev->lock);
		dtrbd_warn(dev, "invalidate refused: Primary, or the peer has no UpToDate data\n");
		return 0;
	}
	dec = dtrbd_claim_sync(dev, DTRBD_DEC_TARGET_FULL);
	spin_unlock_irq(&dev->lock);
	return dtrbd_start_sync(dev, dec);
}

static const char *dtrbd_dec_name(enum dtrbd_sync_decision d)
{
	static const char *const names[] = {
		[DTRBD_DEC_NONE] = "in sync",
		[DTRBD_DEC_SOURCE] = "bitmap resync source",
		[DTRBD_DEC_TARGET] = "bitmap resync target",
		[DTRBD_DEC_SOURCE_FULL] = "full resync source",
		[DTRBD_DEC_TARGET_FULL] = "full resync target",
		[DTRBD_DEC_BOTH_INCONSISTENT] = "both inconsistent",
		[DTRBD_DEC_SPLIT_BRAIN] = "split brain",
		[DTRBD_DEC_UNRELATED] = "unrelated data",
	};

	return d < ARRAY_SIZE(names) ? names[d] : "?";
}

/* P_LIMITS (FEAT_LIMITS, while connecting): the peer's block sizes. */
int dtrbd_recv_limits(struct dtrbd_device *dev, u16 type, void *body,
		      u32 payload)
{
	struct dtrbd_p_limits p = *(struct dtrbd_p_limits *)body;

	if (!(dev->conn->features & DTRBD_FEAT_LIMITS) || dev->conn->peer_limits_rcvd ||
	    p.reserved)
		return -EPROTO;
	dev->conn->peer_limits.lbs = be32_to_cpu(p.logical_block_size);
	dev->conn->peer_limits.pbs = be32_to_cpu(p.physical_block_size);
	dev->conn->peer_limits.max_bio = be32_to_cpu(p.max_bio_size);
	dev->conn->peer_limits_rcvd = true;
	return 0;
}

/*
 * The first P_STATE with FEAT_LIMITS: adopt the stricter block sizes of
 * the pair on our queue, or refuse the pair with a sentence. Returns 0,
 * or an error after dtrbd_conn_fail().
 */
static int dtrbd_check_limits(struct dtrbd_device *dev)
{
	struct dtrbd_limits cur, out;
	enum dtrbd_limits_verdict v;

	if (!(dev->conn->features & DTRBD_FEAT_LIMITS))
		return 0;	/* an older peer: nothing was exchanged */
	if (!dev->conn->peer_limits_rcvd) {
		dtrbd_conn_fail(dev, "the peer did not send its block sizes before its state (a protocol violation)");
		return -EPROTO;
	}
	dtrbd_queue_limits(dev, &cur);
	spin_lock_irq(&dev->lock);
	v = dtrbd_limits_merge(&cur, &dev->conn->peer_limits, dev->open_count > 0,
			       &out);
	if (v == DTRBD_LIM_OK)
		dtrbd_adopt_limits(dev, &out);
	spin_unlock_irq(&dev->lock);
	switch (v) {
	case DTRBD_LIM_OK:
		if (out.lbs != cur.lbs || out.max_bio != cur.max_bio)
			dtrbd_info(dev, "block sizes of the pair: logical %u, physical %u, largest bio %u bytes\n",
				   out.lbs, out.pbs, out.max_bio);
		return 0;
	case DTRBD_LIM_IN_USE:
		dtrbd_conn_fail(dev, "the peer's disk has %u-byte logical blocks, larger than the %u bytes this device is open with; close the device (stop its users) and connect again, or give the peer a disk with %u-byte blocks",
				dev->conn->peer_limits.lbs, cur.lbs, cur.lbs);
		return -EPROTO;
	case DTRBD_LIM_UNSUPPORTED:
		dtrbd_conn_fail(dev, "the peer's disk has %u-byte logical blocks (or accepts writes of only %u bytes); dtrbd needs at most 4096-byte blocks and 4096-byte writes, so give the peer another disk",
				dev->conn->peer_limits.lbs, dev->conn->peer_limits.max_bio);
		return -EPROTO;
	default:
		dtrbd_conn_fail(dev, "the peer sent invalid block sizes (logical %u, physical %u, largest bio %u); a protocol violation",
				dev->conn->peer_limits.lbs, dev->conn->peer_limits.pbs,
				dev->conn->peer_limits.max_bio);
		return -EPROTO;
	}
}

int dtrbd_recv_state(struct dtrbd_device *dev, u16 type, void *body,
		     u32 payload)
{
	struct dtrbd_p_state p = *(struct dtrbd_p_state *)body;
	struct dtrbd_gen me, peer;
	enum dtrbd_sync_decision dec;
	enum dtrbd_disk_state peer_was;
	bool first, bitmap;

	if (p.role < DTRBD_ROLE_SECONDARY || p.role > DTRBD_ROLE_PRIMARY ||
	    p.disk > DTRBD_DISK_UPTODATE || p.sync > DTRBD_SYNC_TARGET ||
	    p.flags & ~DTRBD_SF_KNOWN)
		return -EBADMSG;
	if (be64_to_cpu(p.size_bytes) != dev->size) {
		dtrbd_conn_fail(dev, "the peer's device has %llu bytes, ours %llu",
				be64_to_cpu(p.size_bytes), dev->size);
		return -EPROTO;
	}

	spin_lock_irq(&dev->lock);
	first = dev->cstate == DTRBD_CONN_CONNECTING;
	/*
	 * Once connected, the peer becomes Primary only through the promote
	 * handshake: our grant (dtrbd_recv_promote_req()) marks it Primary
	 * before its P_STATE says so. A P_STATE that claims it without one
	 * would let both sides write.
	 */
	if (!first && p.role == DTRBD_ROLE_PRIMARY &&
	    dev->peer_role != DTRBD_ROLE_PRIMARY) {
		spin_unlock_irq(&dev->lock);
		dtrbd_conn_fail(dev, "the peer says it is Primary without having asked us (no promotion was granted); a protocol violation, so the connection is closed: check the peer's dtrbd version and connect again");
		return -EPROTO;
	}
	peer_was = dev->peer_disk;
	dev->peer_role = p.role;
	dev->peer_disk = p.disk;
	memset(&me, 0, sizeof(me));
	memset(&peer, 0, sizeof(peer));
	me.disk = dev->disk_state;
	me.role = dev->role;
	me.crashed_primary = !!(dev->flags & DTRBD_F_CRASHED_PRIMARY);
	me.discard_my_data = dev->discard_my_data;
	me.full_sync = !!(dev->md_flags & DTRBD_MDF_FULL_SYNC);
	me.after_sb = dev->after_sb;
	me.current_uuid = dev->current_uuid;
	me.bitmap_uuid = dev->bitmap_uuid;
	me.history_uuid[0] = dev->history_uuid[0];
	me.history_uuid[1] = dev->history_uuid[1];
	me.oos_blocks = dev->bm_set;
	peer.disk = p.disk;
	peer.role = p.role;
	peer.crashed_primary = !!(p.flags & DTRBD_SF_CRASHED_PRIMARY);
	peer.discard_my_data = !!(p.flags & DTRBD_SF_DISCARD_MY_DATA);
	peer.full_sync = !!(p.flags & DTRBD_SF_FULL_SYNC);
	peer.after_sb = p.after_sb;
	peer.current_uuid = be64_to_cpu(p.current_uuid);
	peer.bitmap_uuid = be64_to_cpu(p.bitmap_uuid);
	peer.history_uuid[0] = be64_to_cpu(p.history_uuid[0]);
	peer.history_uuid[1] = be64_to_cpu(p.history_uuid[1]);
	peer.oos_blocks = be64_to_cpu(p.oos_blocks);
	if (!first) {
		bool peer_failed = p.disk == DTRBD_DISK_DISKLESS &&
				   peer_was != DTRBD_DISK_DISKLESS &&
				   dev->disk_state == DTRBD_DISK_UPTODATE;

		if (dev->uuid_syncing && p.disk == DTRBD_DISK_UPTODATE)
			dev->uuid_syncing = false;
		dec = dev->uuid_syncing ? DTRBD_DEC_NONE : dtrbd_sync_needed(dev);
		spin_unlock_irq(&dev->lock);
		if (peer_failed)
			dtrbd_peer_disk_failed(dev);
		dtrbd_notify(dev, DTRBD_EV_PEER, NULL);
		return dtrbd_start_sync(dev, dec);
	}
	spin_unlock_irq(&dev->lock);

	dec = dtrbd_decide_sync(&me, &peer, dev->conn->tiebreak);
	/*
	 * Before refusing, let our state reach the peer, so that it refuses
	 * for the same reason instead of seeing the connection just close.
	 */
	wait_event_interruptible_timeout(dev->state_wq,
					 READ_ONCE(dev->conn->state_sent) ||
					 dtrbd_rx_stopping(dev),
					 msecs_to_jiffies(dev->timeout_ms));
	if (dtrbd_check_limits(dev))
		return -EPROTO;
	/* a split brain is the news even when both are Primary now */
	if (p.role == DTRBD_ROLE_PRIMARY && me.role == DTRBD_ROLE_PRIMARY &&
	    dec != DTRBD_DEC_SPLIT_BRAIN && dec != DTRBD_DEC_UNRELATED) {
		dtrbd_conn_fail(dev, "both sides are Primary; make one of them Secondary");
		return -EPROTO;
	}
	dtrbd_info(dev, "handshake: %s (ours %016llx/%016llx, peer's %016llx/%016llx)\n",
		   dtrbd_dec_name(dec), me.current_uuid, me.bitmap_uuid,
		   peer.current_uuid, peer.bitmap_uuid);
	switch (dec) {
	case DTRBD_DEC_SPLIT_BRAIN:
		spin_lock_irq(&dev->lock);
		dev->flags |= DTRBD_F_SPLIT_BRAIN;
		spin_unlock_irq(&dev->lock);
		dtrbd_conn_fail(dev, DTRBD_SB_REASON, dev->minor, dev->minor);
		dtrbd_notify(dev, DTRBD_EV_SPLIT_BRAIN, dev->reason);
		return -EPROTO;
	case DTRBD_DEC_UNRELATED:
		spin_lock_irq(&dev->lock);
		dev->flags |= DTRBD_F_SPLIT_BRAIN;
		spin_unlock_irq(&dev->lock);
		dtrbd_conn_fail(dev, DTRBD_UNRELATED_REASON, dev->minor);
		dtrbd_notify(dev, DTRBD_EV_SPLIT_BRAIN, dev->reason);
		return -EPROTO;
	case DTRBD_DEC_TARGET:
	case DTRBD_DEC_TARGET_FULL:
		if (READ_ONCE(dev->role) == DTRBD_ROLE_PRIMARY) {
			dtrbd_conn_fail(dev, dev->discard_my_data ?
					"--discard-my-data needs this side to be Secondary; run dtrbdctl secondary first" :
					"the peer has newer data but we are Primary; make this side Secondary so it can resync");
			return -EPROTO;
		}
		break;
	case DTRBD_DEC_SOURCE:
	case DTRBD_DEC_SOURCE_FULL:
		if (p.role == DTRBD_ROLE_PRIMARY) {
			dtrbd_conn_fail(dev, "we have newer data but the peer is Primary; make the peer Secondary so it can resync");
			return -EPROTO;
		}
		break;
	default:
		break;
	}

	bitmap = dec == DTRBD_DEC_SOURCE || dec == DTRBD_DEC_TARGET;
	spin_lock_irq(&dev->lock);
	dev->cstate = DTRBD_CONN_CONNECTED;
	dev->gen_pending = false;
	dev->flags &= ~DTRBD_F_SPLIT_BRAIN;
	dec = dtrbd_claim_sync(dev, dec);
	if (bitmap && dec != DTRBD_DEC_NONE) {
		/* exchange bitmaps first; the last slice starts the resync */
		dev->pending_dec = dec;
		dev->bm_xchg = DTRBD_BMX_RUNNING;
		dev->conn->bm_sending = true;
		dev->conn->bm_tx_page = 0;
		wake_up(&dev->sender_wq);
	}
	spin_unlock_irq(&dev->lock);
	wake_up_all(&dev->state_wq);
	dtrbd_info(dev, "connected to %s (%s), protocol %c\n", dev->conn->peer_name,
		   dev->conn->peer_addr, 'A' + dev->protocol - DTRBD_PROT_A);
	dtrbd_notify(dev, DTRBD_EV_CONNECTED, NULL);
	dtrbd_freeze_reconnected(dev);
	if (bitmap)
		return 0;
	return dtrbd_start_sync(dev, dec);
}

/* P_BITMAP: OR the peer's slice in; the last one starts the resync. */
int dtrbd_recv_bitmap(struct dtrbd_device *dev, u16 type, void *body,
		      u32 payload)
{
	u64 words_total = DIV_ROUND_UP(dev->bm_bits, 64), offset;
	struct dtrbd_p_bitmap b = *(struct dtrbd_p_bitmap *)body;
	enum dtrbd_sync_decision dec;
	unsigned int words, flags;
	int ret;

	offset = be64_to_cpu(b.offset);
	words = be32_to_cpu(b.words);
	flags = be32_to_cpu(b.flags);
	if (payload != words * 8 || words > DTRBD_BM_WORDS_MAX ||
	    offset % DTRBD_BM_WORDS_MAX || offset >= words_total ||
	    words > words_total - offset || flags & ~DTRBD_BM_LAST ||
	    READ_ONCE(dev->bm_xchg) != DTRBD_BMX_RUNNING)
		return -EBADMSG;
	ret = dtrbd_recv_buf(dev, page_address(dev->conn->rx_page), words * 8);
	if (ret)
		return ret;
	spin_lock_irq(&dev->lock);
	dtrbd_bm_merge(dev, offset / DTRBD_BM_WORDS_MAX,
		       page_address(dev->conn->rx_page), words);
	spin_unlock_irq(&dev->lock);
	if (!(flags & DTRBD_BM_LAST))
		return 0;

	spin_lock_irq(&dev->lock);
	dec = dev->pending_dec;
	dev->pending_dec = DTRBD_DEC_NONE;
	dev->bm_xchg = DTRBD_BMX_NONE;
	spin_unlock_irq(&dev->lock);
	return dtrbd_start_sync(dev, dec);
}

/* P_UUID_SYNC: the peer says our data is identical; adopt its generation. */
int dtrbd_recv_uuid_sync(struct dtrbd_device *dev, u16 type, void *body,
			 u32 payload)
{
	struct dtrbd_p_uuid_sync u = *(struct dtrbd_p_uuid_sync *)body;
	const char *why = NULL;

	/*
	 * Only what new-current-uuid --clear-bitmap on the peer sends: both
	 * sides Secondary, no resync, a disk here. Anything else would throw
	 * away our bitmap (the blocks the peer lacks) or our generation.
	 */
	spin_lock_irq(&dev->lock);
	if (dev->role == DTRBD_ROLE_PRIMARY || dev->promoting)
		why = "we are Primary";
	else if (dev->peer_role != DTRBD_ROLE_SECONDARY)
		why = "the peer is not Secondary";
	else if (dev->sync != DTRBD_SYNC_NONE)
		why = "a resync or verify is running";
	else if (dev->disk_state == DTRBD_DISK_DISKLESS)
		why = "our disk failed";
	spin_unlock_irq(&dev->lock);
	if (why) {
		dtrbd_conn_fail(dev, "the peer asked us to adopt its data generation without a resync (new-current-uuid --clear-bitmap), but %s; refused, the connection is closed, connect again",
				why);
		return -EPROTO;
	}
	return dtrbd_adopt_uuid(dev, be64_to_cpu(u.current_uuid), false);
}

/*
 * A resync target holds the source's data now: whatever it wrote as a
 * crashed (or frozen) Primary is overwritten, so it no longer claims to
 * hold writes the peer lacks. Without this, its next handshake in the same
 * generation would make it the source again, towards a Primary.
 */
static int dtrbd_clear_crashed(struct dtrbd_device *dev)
{
	bool was;

	mutex_lock(&dev->md_mutex);
	was = dev->md_flags & DTRBD_MDF_CRASHED_PRIMARY;
	dev->md_flags &= ~DTRBD_MDF_CRASHED_PRIMARY;
	mutex_unlock(&dev->md_mutex);
	spin_lock_irq(&dev->lock);
	dev->flags &= ~DTRBD_F_CRASHED_PRIMARY;
	spin_unlock_irq(&dev->lock);
	return was ? dtrbd_md_write(dev) : 0;
}

int dtrbd_recv_sync_done(struct dtrbd_device *dev, u16 type, void *body,
			 u32 payload)
{
	struct dtrbd_p_sync_done p = *(struct dtrbd_p_sync_done *)body;
	int ret;

	/* a repair after verify resyncs an UpToDate peer: nothing to adopt */
	if (READ_ONCE(dev->sync) != DTRBD_SYNC_TARGET)
		return 0;
	/* every resync write was acked only after it was on disk */
	ret = dtrbd_peer_drain(dev);
	if (ret)
		return ret;
	spin_lock_irq(&dev->lock);
	dev->sync = DTRBD_SYNC_NONE;
	dev->sync_kind = DTRBD_SK_NONE;
	dev->sync_done = dev->sync_total;
	spin_unlock_irq(&dev->lock);
	/* we hold the source's data now: its generation, nothing out of sync */
	ret = dtrbd_adopt_uuid(dev, be64_to_cpu(p.current_uuid), false);
	if (ret)
		return ret;
	ret = dtrbd_clear_crashed(dev);
	if (ret)
		return ret;
	dtrbd_info(dev, "resync finished: UpToDate\n");
	dtrbd_notify(dev, DTRBD_EV_SYNC_FINISHED, NULL);
	return 0;
}

int dtrbd_recv_promote_req(struct dtrbd_device *dev, u16 type, void *body,
			   u32 payload)
{
	spin_lock_irq(&dev->lock);
	if (dev->role == DTRBD_ROLE_PRIMARY) {
		dev->send_promote_reply = DTRBD_PR_PEER_PRIMARY;
	} else if (dev->promoting && dev->conn->tiebreak) {
		dev->send_promote_reply = DTRBD_PR_CONCURRENT;
	} else {
		/* a concurrent request of ours loses */
		if (dev->promoting)
			dev->promote_lost = true;
		dev->peer_role = DTRBD_ROLE_PRIMARY;
		dev->send_promote_reply = DTRBD_PR_OK;
	}
	spin_unlock_irq(&dev->lock);
	wake_up(&dev->sender_wq);
	return 0;
}

int dtrbd_recv_promote_reply(struct dtrbd_device *dev, u16 type, void *body,
			     u32 payload)
{
	struct dtrbd_p_promote_reply *r = body;

	spin_lock_irq(&dev->lock);
	if (dev->promoting)
		dev->promote_result = be32_to_cpu(r->granted) ? DTRBD_PR_OK :
				      be32_to_cpu(r->reason) ?: DTRBD_PR_CONCURRENT;
	spin_unlock_irq(&dev->lock);
	wake_up_all(&dev->state_wq);
	return 0;
}

/* P_INVALIDATE: the peer's operator says our data is not to be trusted. */
int dtrbd_recv_invalidate(struct dtrbd_device *dev, u16 type, void *body,
			  u32 payload)
{
	return dtrbd_invalidate_local(dev);
}
