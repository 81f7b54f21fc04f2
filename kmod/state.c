// SPDX-License-Identifier: GPL-2.0
/*
 * dtrbd: role changes.
 *
 * Promotion while connected asks the peer first (P_PROMOTE_REQ), so two
 * sides that try at the same moment cannot both win: the side with the
 * tiebreak refuses the other's request while its own is pending, the other
 * grants it and gives up its own.
 */
#define pr_fmt(fmt) "dtrbd: " fmt

#include <linux/random.h>
#include <net/genetlink.h>

#include "dtrbd_int.h"

/*
 * Take dev->state_mutex for a command, unless the device is being
 * detached: commands run in parallel (nl.c), and DETACH releases the
 * backing disk once it holds state_mutex with dev->removing set, so a
 * command that finds removing clear may do I/O until it unlocks.
 */
int dtrbd_lock_for_cmd(struct dtrbd_device *dev,
		       struct netlink_ext_ack *extack)
{
	mutex_lock(&dev->state_mutex);
	if (READ_ONCE(dev->removing)) {
		mutex_unlock(&dev->state_mutex);
		NL_SET_ERR_MSG(extack, "the device is being detached; attach it again first");
		return -ENODEV;
	}
	return 0;
}

/* Ask the connected peer for permission; state_mutex held. */
static int dtrbd_ask_peer(struct dtrbd_device *dev,
			  struct netlink_ext_ack *extack)
{
	unsigned long timeout = msecs_to_jiffies(dev->timeout_ms);
	bool lost, connected;
	int result;

	spin_lock_irq(&dev->lock);
	dev->promoting = true;
	dev->promote_lost = false;
	dev->promote_result = -1;
	dev->send_promote_req = true;
	spin_unlock_irq(&dev->lock);
	wake_up(&dev->sender_wq);

	wait_event_interruptible_timeout(dev->state_wq,
		READ_ONCE(dev->promote_result) >= 0 ||
		READ_ONCE(dev->cstate) != DTRBD_CONN_CONNECTED, timeout);

	spin_lock_irq(&dev->lock);
	dev->promoting = false;
	result = dev->promote_result;
	lost = dev->promote_lost;
	connected = dev->cstate == DTRBD_CONN_CONNECTED;
	spin_unlock_irq(&dev->lock);

	if (!connected) {
		NL_SET_ERR_MSG(extack,
			       "the connection was lost while asking the peer; try again");
		return -EAGAIN;
	}
	if (result < 0) {
		NL_SET_ERR_MSG(extack, "the peer did not answer the promotion request");
		return -ETIMEDOUT;
	}
	if (lost)
		result = DTRBD_PR_CONCURRENT;
	switch (result) {
	case DTRBD_PR_OK:
		return 0;
	case DTRBD_PR_PEER_PRIMARY:
		NL_SET_ERR_MSG(extack, "the peer is Primary; make it Secondary first");
		return -EBUSY;
	case DTRBD_PR_SYNCING:
		NL_SET_ERR_MSG(extack, "the peer refused: this side is a resync target");
		return -EBUSY;
	default:
		NL_SET_ERR_MSG(extack,
			       "the peer is becoming Primary at the same moment and won");
		return -EBUSY;
	}
}

int dtrbd_set_primary(struct dtrbd_device *dev, bool force,
		      struct netlink_ext_ack *extack)
{
	bool connected, forced = false;
	int ret = 0;

	ret = dtrbd_lock_for_cmd(dev, extack);
	if (ret)
		return ret;
	spin_lock_irq(&dev->lock);
	connected = dev->cstate == DTRBD_CONN_CONNECTED;
	if (dev->role == DTRBD_ROLE_PRIMARY) {
		ret = 1;
	} else if (dev->cstate == DTRBD_CONN_CONNECTING ||
		   dev->cstate == DTRBD_CONN_DISCONNECTING) {
		NL_SET_ERR_MSG(extack,
			       "the connection is changing state; try again in a moment");
		ret = -EAGAIN;
	} else if (connected && dev->peer_role == DTRBD_ROLE_PRIMARY) {
		NL_SET_ERR_MSG(extack,
			       "the peer is Primary; run 'dtrbdctl secondary' on the peer first");
		ret = -EBUSY;
	} else if (dev->disk_state == DTRBD_DISK_DISKLESS) {
		NL_SET_ERR_MSG(extack,
			       "this side's disk failed (diskless); promote the peer instead, and detach this device to replace the disk");
		ret = -EIO;
	} else if (dev->sync == DTRBD_SYNC_TARGET) {
		NL_SET_ERR_MSG(extack,
			       "this side is a resync target and cannot be Primary until the resync has finished");
		ret = -EBUSY;
	} else if (dev->disk_state != DTRBD_DISK_UPTODATE) {
		if (!force) {
			NL_SET_ERR_MSG(extack,
				       "this side's data is Inconsistent; use --force only to make it the initial sync source");
			ret = -EINVAL;
		} else if (connected && dev->peer_disk == DTRBD_DISK_UPTODATE) {
			NL_SET_ERR_MSG(extack,
				       "the peer has UpToDate data and this side does not: wait for the resync instead of forcing");
			ret = -EBUSY;
		} else {
			forced = true;
		}
	}
	spin_unlock_irq(&dev->lock);
	if (ret)
		goto out;

	if (connected) {
		ret = dtrbd_ask_peer(dev, extack);
		if (ret)
			goto out;
	}

	mutex_lock(&dev->md_mutex);
	if (forced) {
		/* a brand-new data generation that the peer has not got */
		dev->md_flags |= DTRBD_MDF_CONSISTENT;
		dev->bitmap_uuid = 0;
		dev->current_uuid = 0;
		dtrbd_new_current_uuid(dev);
	} else if (!connected) {
		/* writes from now on are ours alone */
		dtrbd_new_current_uuid(dev);
	}
	dev->md_flags |= DTRBD_MDF_PRIMARY;
	/* the crash's extents are in the bitmap; the uuids take over now */
	if (!connected)
		dev->md_flags &= ~DTRBD_MDF_CRASHED_PRIMARY;
	mutex_unlock(&dev->md_mutex);
	ret = dtrbd_md_write(dev);
	if (ret) {
		NL_SET_ERR_MSG(extack, "cannot write the metadata to the disk");
		/* tell the peer we stayed Secondary after all */
		spin_lock_irq(&dev->lock);
		dev->send_state = connected;
		spin_unlock_irq(&dev->lock);
		wake_up(&dev->sender_wq);
		goto out;
	}

	spin_lock_irq(&dev->lock);
	dev->role = DTRBD_ROLE_PRIMARY;
	if (!connected)
		dev->flags &= ~DTRBD_F_CRASHED_PRIMARY;
	if (forced)
		dev->disk_state = DTRBD_DISK_UPTODATE;
	dev->send_state = connected;
	spin_unlock_irq(&dev->lock);
	wake_up(&dev->sender_wq);
	dtrbd_info(dev, "Primary%s\n", forced ? " (forced: UpToDate)" : "");
	if (connected) {
		ret = dtrbd_maybe_start_sync(dev);
		if (ret)
			dtrbd_conn_fail(dev, "cannot start the resync (error %d)",
					ret);
		ret = 0;
	}
	dtrbd_notify(dev, DTRBD_EV_ROLE, NULL);
out:
	mutex_unlock(&dev->state_mutex);
	return ret > 0 ? 0 : ret;
}

int dtrbd_set_secondary(struct dtrbd_device *dev,
			struct netlink_ext_ack *extack)
{
	bool io_failed = false;
	int ret = 0;

	ret = dtrbd_lock_for_cmd(dev, extack);
	if (ret)
		return ret;
	spin_lock_irq(&dev->lock);
	if (dev->role == DTRBD_ROLE_SECONDARY) {
		ret = 1;
	} else if (dev->open_count) {
		NL_SET_ERR_MSG(extack,
			       "the device is open; close it (unmount, stop the VM) first");
		ret = -EBUSY;
	} else {
		dev->role = DTRBD_ROLE_SECONDARY;
		dev->gen_pending = false;	/* nothing was written */
		dev->send_state = dev->cstate == DTRBD_CONN_CONNECTED;
		/*
		 * FAIL_IO was the answer for this Primary's writes; it must
		 * not outlive the role (a later promotion starts afresh).
		 * Nothing is deferred: the device is closed.
		 */
		io_failed = dev->io_failed;
		dev->io_failed = false;
	}
	spin_unlock_irq(&dev->lock);
	if (ret)
		goto out;
	wake_up(&dev->sender_wq);
	if (io_failed)
		dtrbd_notify(dev, DTRBD_EV_RESUMED,
			     "demoted to Secondary: writes no longer fail");

	/*
	 * Leaving Primary ends crash recovery by activity log for this
	 * period: every out-of-sync bit must be on disk first.
	 */
	if (dtrbd_bm_write(dev, false))
		dtrbd_warn(dev, "could not write the bitmap at demotion\n");
	mutex_lock(&dev->md_mutex);
	dev->md_flags &= ~DTRBD_MDF_PRIMARY;
	mutex_unlock(&dev->md_mutex);
	if (dtrbd_md_write(dev))
		dtrbd_warn(dev, "could not record the role change on disk\n");
	dtrbd_info(dev, "Secondary\n");
	dtrbd_notify(dev, DTRBD_EV_ROLE, NULL);
out:
	mutex_unlock(&dev->state_mutex);
	return ret > 0 ? 0 : ret;
}

/*
 * Both sides hold identical data (P_UUID_SYNC from the peer, or our own
 * new-current-uuid --clear-bitmap): adopt @uuid, UpToDate, nothing out of
 * sync.
 */
int dtrbd_adopt_uuid(struct dtrbd_device *dev, u64 uuid, bool tell_peer)
{
	int ret;

	dtrbd_bm_clear_all(dev);
	ret = dtrbd_bm_write(dev, false);
	if (ret)
		return ret;
	mutex_lock(&dev->md_mutex);
	dev->current_uuid = uuid;
	dev->bitmap_uuid = 0;
	dev->md_flags |= DTRBD_MDF_CONSISTENT;
	dev->md_flags &= ~(DTRBD_MDF_FULL_SYNC | DTRBD_MDF_CRASHED_PRIMARY);
	mutex_unlock(&dev->md_mutex);
	ret = dtrbd_md_write(dev);
	if (ret)
		return ret;
	spin_lock_irq(&dev->lock);
	dev->disk_state = DTRBD_DISK_UPTODATE;
	dev->flags &= ~DTRBD_F_CRASHED_PRIMARY;
	dev->send_state = dev->cstate == DTRBD_CONN_CONNECTED;
	/* the sender puts P_UUID_SYNC before P_STATE */
	dev->send_uuid_sync = tell_peer && dev->send_state;
	spin_unlock_irq(&dev->lock);
	wake_up(&dev->sender_wq);
	dtrbd_info(dev, "data generation %016llx adopted: UpToDate\n", uuid);
	dtrbd_notify(dev, DTRBD_EV_DISK, NULL);
	return 0;
}

int dtrbd_new_uuid_cmd(struct dtrbd_device *dev, bool clear_bitmap,
		       struct netlink_ext_ack *extack)
{
	u64 uuid;
	int ret = 0;

	ret = dtrbd_lock_for_cmd(dev, extack);
	if (ret)
		return ret;
	spin_lock_irq(&dev->lock);
	if (dev->sync != DTRBD_SYNC_NONE) {
		NL_SET_ERR_MSG(extack, "a resync or verify is running; wait for it to finish");
		ret = -EBUSY;
	} else if (dev->disk_state == DTRBD_DISK_DISKLESS ||
		   (clear_bitmap && dev->peer_disk == DTRBD_DISK_DISKLESS)) {
		NL_SET_ERR_MSG(extack, "a disk of this pair failed (diskless); there is no data generation to start");
		ret = -EIO;
	} else if (clear_bitmap && dev->cstate != DTRBD_CONN_CONNECTED) {
		NL_SET_ERR_MSG(extack,
			       "--clear-bitmap needs the peer connected, so that both sides adopt the same generation");
		ret = -ENOTCONN;
	} else if (clear_bitmap && (dev->role == DTRBD_ROLE_PRIMARY ||
				    dev->peer_role == DTRBD_ROLE_PRIMARY)) {
		NL_SET_ERR_MSG(extack,
			       "--clear-bitmap is for two Secondaries whose data is known identical (e.g. both freshly zeroed)");
		ret = -EBUSY;
	} else if (!clear_bitmap && dev->disk_state != DTRBD_DISK_UPTODATE) {
		NL_SET_ERR_MSG(extack, "this side's data is not UpToDate");
		ret = -EINVAL;
	}
	spin_unlock_irq(&dev->lock);
	if (ret)
		goto out;

	if (!clear_bitmap) {
		mutex_lock(&dev->md_mutex);
		dtrbd_new_current_uuid(dev);
		mutex_unlock(&dev->md_mutex);
		ret = dtrbd_md_write(dev);
		if (ret)
			NL_SET_ERR_MSG(extack, "cannot write the metadata to the disk");
		else
			dtrbd_notify(dev, DTRBD_EV_DISK, NULL);
		goto out;
	}
	do {
		uuid = get_random_u64();
	} while (!uuid);
	/* the peer adopts it before it sees us UpToDate: no full sync */
	spin_lock_irq(&dev->lock);
	dev->uuid_syncing = true;
	spin_unlock_irq(&dev->lock);
	ret = dtrbd_adopt_uuid(dev, uuid, true);
	if (ret)
		NL_SET_ERR_MSG(extack, "cannot write the metadata to the disk");
out:
	mutex_unlock(&dev->state_mutex);
	return ret;
}

int dtrbd_invalidate_cmd(struct dtrbd_device *dev, bool remote,
			 struct netlink_ext_ack *extack)
{
	int ret = 0;

	ret = dtrbd_lock_for_cmd(dev, extack);
	if (ret)
		return ret;
	spin_lock_irq(&dev->lock);
	if (dev->cstate != DTRBD_CONN_CONNECTED) {
		NL_SET_ERR_MSG(extack, "the peer is not connected; a full resync needs it");
		ret = -ENOTCONN;
	} else if (dev->sync != DTRBD_SYNC_NONE) {
		NL_SET_ERR_MSG(extack, "a resync or verify is running; wait for it to finish");
		ret = -EBUSY;
	} else if (!remote && dev->role == DTRBD_ROLE_PRIMARY) {
		NL_SET_ERR_MSG(extack,
			       "this side is Primary; its data cannot be overwritten while in use (make it Secondary first)");
		ret = -EBUSY;
	} else if (!remote && dev->peer_disk != DTRBD_DISK_UPTODATE) {
		NL_SET_ERR_MSG(extack, "the peer has no UpToDate data to resync from");
		ret = -EINVAL;
	} else if (remote && dev->peer_role == DTRBD_ROLE_PRIMARY) {
		NL_SET_ERR_MSG(extack,
			       "the peer is Primary; its data cannot be overwritten while in use (make it Secondary first)");
		ret = -EBUSY;
	} else if (remote && dev->disk_state != DTRBD_DISK_UPTODATE) {
		NL_SET_ERR_MSG(extack, "this side has no UpToDate data to resync from");
		ret = -EINVAL;
	} else if (remote) {
		dev->send_invalidate = true;
	}
	spin_unlock_irq(&dev->lock);
	if (!ret && remote)
		wake_up(&dev->sender_wq);
	else if (!ret)
		ret = dtrbd_invalidate_local(dev);
	mutex_unlock(&dev->state_mutex);
	return ret;
}

int dtrbd_verify_cmd(struct dtrbd_device *dev, bool repair,
		     struct netlink_ext_ack *extack)
{
	int ret = 0;

	ret = dtrbd_lock_for_cmd(dev, extack);
	if (ret)
		return ret;
	spin_lock_irq(&dev->lock);
	if (dev->cstate != DTRBD_CONN_CONNECTED) {
		NL_SET_ERR_MSG(extack, "the peer is not connected; verify compares with it");
		ret = -ENOTCONN;
	} else if (dev->sync != DTRBD_SYNC_NONE || dev->bm_xchg != DTRBD_BMX_NONE) {
		NL_SET_ERR_MSG(extack, "a resync or verify is running; wait for it to finish");
		ret = -EBUSY;
	} else if (dev->disk_state != DTRBD_DISK_UPTODATE ||
		   dev->peer_disk != DTRBD_DISK_UPTODATE) {
		NL_SET_ERR_MSG(extack, "both sides must be UpToDate to verify");
		ret = -EINVAL;
	} else if (repair && dev->peer_role == DTRBD_ROLE_PRIMARY) {
		NL_SET_ERR_MSG(extack,
			       "--repair copies this side's blocks over the peer's, but the peer is Primary: run verify --repair on the Primary");
		ret = -EBUSY;
	} else {
		dev->sync = DTRBD_SYNC_SOURCE;
		dev->sync_kind = DTRBD_SK_VERIFY;
		dev->sync_total = dev->size;
		dev->sync_done = 0;
		dev->rate_stamp = jiffies;
		dev->rate_stamp_done = 0;
		dev->verify_checked = 0;
		dev->verify_differing = 0;
		dev->verify_repair = repair;
	}
	spin_unlock_irq(&dev->lock);
	if (!ret) {
		ret = dtrbd_start_resyncer(dev, DTRBD_SK_VERIFY);
		if (ret) {
			spin_lock_irq(&dev->lock);
			dev->sync = DTRBD_SYNC_NONE;
			dev->sync_kind = DTRBD_SK_NONE;
			spin_unlock_irq(&dev->lock);
			NL_SET_ERR_MSG(extack, "cannot start the verify thread");
		}
	}
	mutex_unlock(&dev->state_mutex);
	return ret;
}
