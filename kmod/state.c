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

#include <net/genetlink.h>

#include "dtrbd_int.h"

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

	mutex_lock(&dev->state_mutex);
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
	int ret = 0;

	mutex_lock(&dev->state_mutex);
	spin_lock_irq(&dev->lock);
	if (dev->role == DTRBD_ROLE_SECONDARY) {
		ret = 1;
	} else if (dev->open_count) {
		NL_SET_ERR_MSG(extack,
			       "the device is open; close it (unmount, stop the VM) first");
		ret = -EBUSY;
	} else {
		dev->role = DTRBD_ROLE_SECONDARY;
		dev->send_state = dev->cstate == DTRBD_CONN_CONNECTED;
	}
	spin_unlock_irq(&dev->lock);
	if (ret)
		goto out;
	wake_up(&dev->sender_wq);

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
