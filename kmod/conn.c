// SPDX-License-Identifier: GPL-2.0
/*
 * dtrbd: the connection to the peer: its life (connect, failure, teardown).
 *
 * dtrbdctl connects and handshakes the TCP socket, then hands it over
 * (DTRBD_CMD_CONNECT). From then on two threads own it: the receiver reads
 * packets and acts on them, the sender writes everything this side owes the
 * peer (state, data, acks, resync chunks, keep-alives). Nothing else writes
 * to the socket, so packets never interleave and the receiver never blocks
 * on a full send buffer.
 *
 * Any failure (socket error, protocol violation, peer silent for longer
 * than timeout_ms, a request the peer left waiting for longer than the
 * request timeout, a handshake that did not finish in time; see
 * dtrbd_req_timer()) goes through dtrbd_conn_fail(): the state becomes
 * DISCONNECTING, the socket is shut down (waking both threads), and the
 * teardown work stops the threads, completes every write that waited for
 * the peer, rotates the data generation on a Primary, and returns to
 * STANDALONE. No I/O waits for a peer that is gone for longer than that.
 *
 * The files: conn.c (this life), sender.c, receiver.c (dispatch),
 * peer_req.c (I/O on the peer's behalf), handshake.c (state exchange,
 * resync decision and start).
 */
#define pr_fmt(fmt) "dtrbd: " fmt

#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/moduleparam.h>
#include <linux/sched/mm.h>
#include <linux/file.h>
#include <linux/uio.h>
#include <net/sock.h>
#include <net/tcp.h>
#include <net/genetlink.h>

#include "dtrbd_conn.h"

/*
 * Fault injection, for the lab only (scenario connect-race): the teardown
 * sleeps this long after the device went StandAlone and before it releases
 * the connection, which widens the window in which a new CONNECT runs
 * while the old connection is still being taken apart. 0 (the default)
 * does nothing.
 */
static unsigned int fault_teardown_delay_ms;
module_param(fault_teardown_delay_ms, uint, 0644);
MODULE_PARM_DESC(fault_teardown_delay_ms,
		 "debugging only: ms the teardown waits between StandAlone and releasing the connection (default 0: none)");

/* Threads never exit on their own: they wait here for kthread_stop(). */
void dtrbd_wait_for_stop(void)
{
	set_current_state(TASK_INTERRUPTIBLE);
	while (!kthread_should_stop()) {
		schedule();
		set_current_state(TASK_INTERRUPTIBLE);
	}
	__set_current_state(TASK_RUNNING);
}

/* The request timeout in jiffies; dev->lock or state_mutex held. */
static unsigned long dtrbd_req_limit(struct dtrbd_device *dev)
{
	return msecs_to_jiffies(dtrbd_request_timeout_ms(dev->ko_count,
							 dev->timeout_ms));
}

/*
 * The request timer: nothing waits for the peer without bound. A peer
 * whose host and link are alive answers pings from its sender thread even
 * when its disk or its receiver is stuck, so "some packet arrived" does
 * not show that it still does its part. This work looks at the oldest of
 * everything that waits for the peer (a write it has not written, a read
 * it has not answered, a resync chunk it has not acknowledged, a
 * handshake that has not finished) and declares the peer dead, exactly as
 * if the connection were lost, once one has waited too long: ko_count x
 * timeout_ms for requests, DTRBD_CONNECTING_TIMEOUTS x timeout_ms for the
 * handshake. The on-peer-loss policy then applies as for any loss.
 *
 * It runs in process context (dtrbd_conn_wq, WQ_MEM_RECLAIM: writes, and
 * so memory reclaim, may depend on it), looks under dev->lock only, and
 * queues itself again for the moment the oldest waiter would expire, or
 * one request timeout from now when nothing waits (nothing that starts
 * later can expire earlier). CONNECT queues it; the connection's dev
 * reference covers it, and the teardown cancels it, under state_mutex,
 * before the device may go STANDALONE (so a CONNECT after that owns the
 * next one).
 */
void dtrbd_req_timer(struct work_struct *work)
{
	struct dtrbd_device *dev = container_of(to_delayed_work(work),
						struct dtrbd_device, req_timer);
	struct dtrbd_tscan scan;
	struct dtrbd_req *req;
	unsigned long limit;
	unsigned int i, ms;
	u32 ko;

	spin_lock_irq(&dev->lock);
	if (dev->cstate != DTRBD_CONN_CONNECTING &&
	    dev->cstate != DTRBD_CONN_CONNECTED) {
		spin_unlock_irq(&dev->lock);
		return;		/* the teardown has it */
	}
	ko = dev->ko_count;
	limit = dtrbd_req_limit(dev);
	dtrbd_tscan_init(&scan, jiffies, limit);
	if (dev->cstate == DTRBD_CONN_CONNECTING)
		dtrbd_tscan_add(&scan, dev->connect_since,
				msecs_to_jiffies(dtrbd_connecting_timeout_ms(dev->timeout_ms)),
				DTRBD_TW_CONNECTING);
	/* both lists are in the order the waits started */
	req = list_first_entry_or_null(&dev->peer_writes, struct dtrbd_req,
				       peer_wait);
	if (req)
		dtrbd_tscan_add(&scan, req->peer_since, limit, DTRBD_TW_WRITE);
	req = list_first_entry_or_null(&dev->active_reads, struct dtrbd_req,
				       active);
	if (req)
		dtrbd_tscan_add(&scan, req->peer_since, limit, DTRBD_TW_READ);
	/* CONNECTING or CONNECTED: the connection is installed */
	for (i = 0; dev->conn->rs_slots && i < DTRBD_RS_SLOTS; i++)
		if (dev->conn->rs_slots[i].busy && dev->conn->rs_slots[i].peer_wait)
			dtrbd_tscan_add(&scan, dev->conn->rs_slots[i].peer_since,
					limit, DTRBD_TW_RESYNC);
	spin_unlock_irq(&dev->lock);

	ms = jiffies_to_msecs(scan.waited);
	switch (scan.expired) {
	case DTRBD_TW_NONE:
		queue_delayed_work(dtrbd_conn_wq, &dev->req_timer, scan.next);
		return;
	case DTRBD_TW_CONNECTING:
		dtrbd_conn_fail(dev, "the handshake did not finish within %u ms (%u x the peer timeout)",
				ms, DTRBD_CONNECTING_TIMEOUTS);
		return;
	case DTRBD_TW_WRITE:
		dtrbd_conn_fail(dev, "the peer did not complete a write for %u ms (request timeout: ko-count %u x peer timeout %u ms)",
				ms, ko, dev->timeout_ms);
		return;
	case DTRBD_TW_READ:
		dtrbd_conn_fail(dev, "the peer did not answer a read for %u ms (request timeout: ko-count %u x peer timeout %u ms)",
				ms, ko, dev->timeout_ms);
		return;
	case DTRBD_TW_RESYNC:
		dtrbd_conn_fail(dev, "the peer did not answer a resync request for %u ms (request timeout: ko-count %u x peer timeout %u ms)",
				ms, ko, dev->timeout_ms);
		return;
	}
}

/*
 * SET_OPTIONS, state_mutex held: a new request timeout, for the running
 * connection at once (timer and send timeout) and until the next CONNECT
 * sets it again.
 */
void dtrbd_set_ko_count(struct dtrbd_device *dev, u32 ko_count)
{
	unsigned long limit;
	bool live;

	lockdep_assert_held(&dev->state_mutex);
	spin_lock_irq(&dev->lock);
	dev->ko_count = ko_count;
	limit = dtrbd_req_limit(dev);
	live = dev->cstate == DTRBD_CONN_CONNECTING ||
	       dev->cstate == DTRBD_CONN_CONNECTED;
	spin_unlock_irq(&dev->lock);
	/* dev->conn changes only under state_mutex */
	if (dev->conn)
		WRITE_ONCE(dev->conn->sock->sk->sk_sndtimeo, limit);
	/* live: the teardown, under state_mutex too, has yet to cancel it */
	if (live)
		mod_delayed_work(dtrbd_conn_wq, &dev->req_timer, 0);
}

static void dtrbd_conn_release(struct kref *kref)
{
	struct dtrbd_conn *conn = container_of(kref, struct dtrbd_conn, kref);
	struct dtrbd_device *dev = conn->dev;
	unsigned int i;

	/* uninstalled: no thread, no timer, no request refers to it */
	for (i = 0; i < ARRAY_SIZE(conn->ov_pages); i++)
		if (conn->ov_pages[i])
			__free_page(conn->ov_pages[i]);
	dtrbd_rs_free(conn->rs_slots);
	if (conn->rx_page)
		__free_page(conn->rx_page);
	if (conn->sock)
		sockfd_put(conn->sock);
	kfree(conn);
	dtrbd_dev_put(dev);	/* the connection's reference */
}

void dtrbd_conn_put(struct dtrbd_conn *conn)
{
	might_sleep();
	kref_put(&conn->kref, dtrbd_conn_release);
}

void dtrbd_conn_fail(struct dtrbd_device *dev, const char *fmt, ...)
{
	struct dtrbd_conn *conn;
	unsigned long flags;
	va_list args;

	spin_lock_irqsave(&dev->lock, flags);
	if (dev->cstate != DTRBD_CONN_CONNECTING &&
	    dev->cstate != DTRBD_CONN_CONNECTED) {
		spin_unlock_irqrestore(&dev->lock, flags);
		return;
	}
	/* on-peer-loss freeze: before any write the peer lacks completes */
	if (dev->cstate == DTRBD_CONN_CONNECTED &&
	    dev->role == DTRBD_ROLE_PRIMARY &&
	    dev->on_peer_loss == DTRBD_OPL_FREEZE && !dev->frozen) {
		dev->frozen = true;
		dev->freeze_new = true;
		dev->io_failed = false;
	}
	dev->cstate = DTRBD_CONN_DISCONNECTING;
	va_start(args, fmt);
	vsnprintf(dev->reason, sizeof(dev->reason), fmt, args);
	va_end(args);
	/* installed while CONNECTING or CONNECTED; ours until the put */
	conn = dev->conn;
	kref_get(&conn->kref);
	spin_unlock_irqrestore(&dev->lock, flags);

	dtrbd_warn(dev, "connection lost: %s\n", dev->reason);
	/* wakes a thread blocked in recvmsg() or sendmsg() */
	kernel_sock_shutdown(conn->sock, SHUT_RDWR);
	dtrbd_conn_put(conn);
	wake_up_all(&dev->sender_wq);
	wake_up_all(&dev->state_wq);
	wake_up_all(&dev->rs_wq);
	wake_up_all(&dev->peer_wq);
	queue_work(dtrbd_conn_wq, &dev->teardown_work);
}

void dtrbd_teardown(struct work_struct *work)
{
	struct dtrbd_device *dev = container_of(work, struct dtrbd_device,
						teardown_work);
	/* installed from CONNECT until the end of this teardown */
	struct dtrbd_conn *conn = dev->conn;
	struct dtrbd_peer_req *preq, *ptmp;
	LIST_HEAD(acks);
	char reason[DTRBD_REASON_LEN];
	unsigned int delay;
	bool was_primary, unconfirmed, frozen, froze;

	/* receiver first: it is one of those that may start the resyncer */
	kthread_stop(conn->receiver);
	mutex_lock(&dev->state_mutex);
	if (conn->resyncer)
		kthread_stop(conn->resyncer);
	conn->resyncer = NULL;
	mutex_unlock(&dev->state_mutex);
	kthread_stop(conn->sender);
	conn->receiver = NULL;
	conn->sender = NULL;

	spin_lock_irq(&dev->lock);
	wait_event_lock_irq(dev->peer_wq, !dev->peer_inflight, dev->lock);
	list_splice_init(&dev->ack_q, &acks);
	INIT_LIST_HEAD(&conn->rs_send_q);
	dev->bm_xchg = DTRBD_BMX_NONE;
	dev->pending_dec = DTRBD_DEC_NONE;
	spin_unlock_irq(&dev->lock);

	list_for_each_entry_safe(preq, ptmp, &acks, list)
		dtrbd_preq_free(preq);

	mutex_lock(&dev->state_mutex);
	/* before STANDALONE: the next CONNECT's timer is its own */
	cancel_delayed_work_sync(&dev->req_timer);
	was_primary = READ_ONCE(dev->role) == DTRBD_ROLE_PRIMARY;
	spin_lock_irq(&dev->lock);
	unconfirmed = dtrbd_req_unconfirmed(dev);
	frozen = dev->frozen;
	froze = dev->freeze_new;
	dev->freeze_new = false;
	if (frozen && unconfirmed)
		dev->freeze_unacked = true;
	/*
	 * Without writes in flight, the next write starts the generation.
	 * Frozen: RESUME_IO does (freeze.c).
	 */
	dev->gen_pending = was_primary && !unconfirmed && !frozen;
	spin_unlock_irq(&dev->lock);
	if (frozen && unconfirmed) {
		/*
		 * Writes the peer lacks reached our disk, marked out of sync;
		 * like a crashed Primary we send them if the peer is still in
		 * our generation when it returns.
		 */
		mutex_lock(&dev->md_mutex);
		dev->md_flags |= DTRBD_MDF_CRASHED_PRIMARY;
		mutex_unlock(&dev->md_mutex);
		if (dtrbd_md_write(dev))
			dtrbd_err(dev, "could not record the writes the peer lacks\n");
		spin_lock_irq(&dev->lock);
		dev->flags |= DTRBD_F_CRASHED_PRIMARY;
		spin_unlock_irq(&dev->lock);
	} else if (was_primary && unconfirmed) {
		/* writes are about to complete that the peer lacks */
		mutex_lock(&dev->md_mutex);
		dtrbd_new_current_uuid(dev);
		mutex_unlock(&dev->md_mutex);
		if (dtrbd_md_write(dev))
			dtrbd_err(dev, "could not record the new data generation\n");
	}
	/* writes the peer did not confirm complete locally, out of sync */
	dtrbd_req_conn_lost(dev);
	/* the threads are gone and the socket is shut down */
	if (sock_flag(conn->sock->sk, SOCK_MEMALLOC))
		sk_clear_memalloc(conn->sock->sk);
	if (dtrbd_bm_write(dev, false))
		dtrbd_err(dev, "could not write the bitmap\n");
	spin_lock_irq(&dev->lock);
	memcpy(reason, dev->reason, sizeof(reason));
	/*
	 * Uninstalled together with STANDALONE: a CONNECT from now on
	 * installs a connection of its own, whatever this one still holds.
	 */
	dev->conn = NULL;
	dev->cstate = DTRBD_CONN_STANDALONE;
	dev->peer_role = DTRBD_ROLE_UNKNOWN;
	dev->peer_disk = DTRBD_DISK_UNKNOWN;
	dev->sync = DTRBD_SYNC_NONE;
	dev->sync_kind = DTRBD_SK_NONE;
	dev->promoting = false;
	dev->send_state = false;
	dev->send_sync_done = false;
	dev->send_promote_req = false;
	dev->send_promote_reply = -1;
	dev->send_uuid_sync = false;
	dev->uuid_syncing = false;
	dev->send_invalidate = false;
	dev->discard_my_data = false;
	dev->epoch_closed = false;
	spin_unlock_irq(&dev->lock);
	wake_up_all(&dev->state_wq);
	mutex_unlock(&dev->state_mutex);

	delay = READ_ONCE(fault_teardown_delay_ms);
	if (delay)
		msleep(delay);
	dtrbd_info(dev, "disconnected: %s\n", reason);
	dtrbd_notify(dev, DTRBD_EV_DISCONNECTED, reason);
	if (froze) {
		dtrbd_warn(dev, "writes frozen (on-peer-loss freeze): they wait for 'dtrbdctl resume-io %u', 'dtrbdctl fail-io %u' or a reconnect\n",
			   dev->minor, dev->minor);
		dtrbd_notify(dev, DTRBD_EV_FROZEN, reason);
	}
	/* last: it may drop the last reference on dev */
	dtrbd_conn_put(conn);
}

void dtrbd_disconnect(struct dtrbd_device *dev)
{
	dtrbd_conn_fail(dev, "disconnected by the administrator");
	flush_work(&dev->teardown_work);
}

/* The options of CONNECT that belong to the connection; 0 or an error. */
static int dtrbd_conn_options(struct dtrbd_conn *conn, struct genl_info *info)
{
	struct netlink_ext_ack *extack = info->extack;
	struct nlattr **a = info->attrs;

	conn->ping_ms = a[DTRBD_A_PING_MS] ? nla_get_u32(a[DTRBD_A_PING_MS]) :
			DTRBD_PING_MS_DEFAULT;
	conn->tiebreak = a[DTRBD_A_TIEBREAK] && nla_get_u8(a[DTRBD_A_TIEBREAK]);
	conn->proto_version = a[DTRBD_A_PROTO_VERSION] ?
			      nla_get_u32(a[DTRBD_A_PROTO_VERSION]) :
			      DTRBD_PROTO_MAX;
	if (conn->proto_version < DTRBD_PROTO_MIN ||
	    conn->proto_version > DTRBD_PROTO_MAX) {
		NL_SET_ERR_MSG_ATTR(extack, a[DTRBD_A_PROTO_VERSION],
				    "this module does not speak that protocol version");
		return -EPROTONOSUPPORT;
	}
	conn->features = a[DTRBD_A_FEATURES] ?
			 nla_get_u64(a[DTRBD_A_FEATURES]) : 0;
	if (conn->features & ~DTRBD_FEATURES_KNOWN) {
		NL_SET_ERR_MSG_ATTR(extack, a[DTRBD_A_FEATURES],
				    "unknown protocol feature bits");
		return -EOPNOTSUPP;
	}
	conn->send_limits = conn->features & DTRBD_FEAT_LIMITS;
	strscpy(conn->peer_name, a[DTRBD_A_PEER_NAME] ?
		nla_data(a[DTRBD_A_PEER_NAME]) : "peer", sizeof(conn->peer_name));
	strscpy(conn->peer_addr, a[DTRBD_A_PEER_ADDR] ?
		nla_data(a[DTRBD_A_PEER_ADDR]) : "?", sizeof(conn->peer_addr));
	return 0;
}

int dtrbd_connect(struct dtrbd_device *dev, struct socket *sock,
		  struct genl_info *info)
{
	struct netlink_ext_ack *extack = info->extack;
	struct nlattr **a = info->attrs;
	struct sock *sk = sock->sk;
	struct dtrbd_conn *conn;
	unsigned int timeout_ms;
	bool discard;
	int ret;

	if (sk->sk_type != SOCK_STREAM || sk->sk_protocol != IPPROTO_TCP ||
	    (sk->sk_family != AF_INET && sk->sk_family != AF_INET6)) {
		NL_SET_ERR_MSG_ATTR(extack, a[DTRBD_A_SOCK_FD],
				    "the socket is not a TCP socket");
		return -EINVAL;
	}
	if (READ_ONCE(sk->sk_state) != TCP_ESTABLISHED) {
		NL_SET_ERR_MSG_ATTR(extack, a[DTRBD_A_SOCK_FD],
				    "the socket is not connected");
		return -ENOTCONN;
	}

	/* everything this connection owns, new, before any lock */
	conn = kzalloc(sizeof(*conn), GFP_KERNEL);
	if (!conn)
		return -ENOMEM;
	kref_init(&conn->kref);
	INIT_LIST_HEAD(&conn->rs_send_q);
	ret = dtrbd_conn_options(conn, info);
	if (ret)
		goto out_free_conn;
	timeout_ms = a[DTRBD_A_TIMEOUT_MS] ?
		     nla_get_u32(a[DTRBD_A_TIMEOUT_MS]) :
		     DTRBD_TIMEOUT_MS_DEFAULT;
	if (timeout_ms <= conn->ping_ms) {
		NL_SET_ERR_MSG_ATTR(extack, a[DTRBD_A_TIMEOUT_MS],
				    "the peer timeout must be longer than the ping interval");
		ret = -EINVAL;
		goto out_free_conn;
	}
	conn->rx_page = alloc_page(GFP_KERNEL);
	if (!conn->rx_page) {
		ret = -ENOMEM;
		goto out_free_conn;
	}
	conn->receiver = kthread_create(dtrbd_receiver, dev, "dtrbd%u_rx",
					dev->minor);
	if (IS_ERR(conn->receiver)) {
		ret = PTR_ERR(conn->receiver);
		goto out_free_page;
	}
	conn->sender = kthread_create(dtrbd_sender, dev, "dtrbd%u_tx",
				      dev->minor);
	if (IS_ERR(conn->sender)) {
		ret = PTR_ERR(conn->sender);
		goto out_stop_rx;
	}

	mutex_lock(&dev->state_mutex);
	spin_lock_irq(&dev->lock);
	if (dev->removing) {
		ret = -ENODEV;
		NL_SET_ERR_MSG(extack, "the device is being removed");
	} else if (dev->cstate != DTRBD_CONN_STANDALONE) {
		ret = -EISCONN;
		NL_SET_ERR_MSG(extack,
			       "the device is connected or connecting already; disconnect it first");
	} else {
		ret = 0;
	}
	spin_unlock_irq(&dev->lock);
	if (ret)
		goto out_unlock;

	discard = nla_get_flag(a[DTRBD_A_DISCARD_MY_DATA]);
	if (discard && READ_ONCE(dev->role) == DTRBD_ROLE_PRIMARY) {
		NL_SET_ERR_MSG_ATTR(extack, a[DTRBD_A_DISCARD_MY_DATA],
				    "--discard-my-data needs this side to be Secondary; run dtrbdctl secondary first");
		ret = -EINVAL;
		goto out_unlock;
	}
	/* from here on nothing fails: the device's settings change */
	dev->discard_my_data = discard;
	dev->protocol = a[DTRBD_A_PROTOCOL] ?
			nla_get_u8(a[DTRBD_A_PROTOCOL]) : DTRBD_PROT_C;
	dev->after_sb = a[DTRBD_A_AFTER_SB] ? nla_get_u8(a[DTRBD_A_AFTER_SB]) :
					       DTRBD_SB_DISCONNECT;
	dev->csum_resync = nla_get_flag(a[DTRBD_A_CSUM_RESYNC]);
	dev->resync_rate = a[DTRBD_A_RESYNC_RATE] ?
			   nla_get_u32(a[DTRBD_A_RESYNC_RATE]) : 0;

	/* no reclaim recursion into our own device through the socket */
	sk->sk_allocation = GFP_NOIO;
	/*
	 * Writeback under memory pressure goes through this socket: it may
	 * use the emergency reserves to make progress, as nbd's does.
	 * Cleared by the teardown (dtrbd_teardown()).
	 */
	sk_set_memalloc(sk);
	sk->sk_rcvtimeo = msecs_to_jiffies(conn->ping_ms);
	tcp_sock_set_nodelay(sk);

	kref_get(&dev->kref);	/* dropped by dtrbd_conn_release() */
	conn->dev = dev;
	conn->sock = sock;
	conn->last_rx = jiffies;
	spin_lock_irq(&dev->lock);
	dev->timeout_ms = timeout_ms;
	dev->on_peer_loss = a[DTRBD_A_ON_PEER_LOSS] ?
			    nla_get_u8(a[DTRBD_A_ON_PEER_LOSS]) :
			    DTRBD_OPL_CONTINUE;
	dev->ko_count = a[DTRBD_A_KO_COUNT] ?
			nla_get_u32(a[DTRBD_A_KO_COUNT]) :
			DTRBD_KO_COUNT_DEFAULT;
	/*
	 * A peer that stops reading must not block the sender for ever:
	 * sendmsg() gives up with -EAGAIN when the socket took nothing for
	 * a request timeout (dtrbd_sender() then ends the connection).
	 */
	sk->sk_sndtimeo = dtrbd_req_limit(dev);
	dev->conn = conn;
	dev->cstate = DTRBD_CONN_CONNECTING;
	dev->connect_since = jiffies;
	dev->reason[0] = '\0';
	dev->peer_role = DTRBD_ROLE_UNKNOWN;
	dev->peer_disk = DTRBD_DISK_UNKNOWN;
	dev->sync = DTRBD_SYNC_NONE;
	dev->send_state = true;
	dev->send_sync_done = false;
	dev->send_promote_req = false;
	dev->send_promote_reply = -1;
	dev->promoting = false;
	dev->bm_xchg = DTRBD_BMX_NONE;
	dev->epoch_closed = false;
	dev->tx_epoch = 0;
	spin_unlock_irq(&dev->lock);
	wake_up_process(conn->receiver);
	wake_up_process(conn->sender);
	/* the handshake deadline first; see dtrbd_req_timer() */
	queue_delayed_work(dtrbd_conn_wq, &dev->req_timer,
			   msecs_to_jiffies(dtrbd_connecting_timeout_ms(timeout_ms)));
	mutex_unlock(&dev->state_mutex);
	return 0;

out_unlock:
	/* a refused CONNECT changed nothing of the device (or its connection) */
	mutex_unlock(&dev->state_mutex);
	kthread_stop(conn->sender);	/* never woken: exits without running */
out_stop_rx:
	kthread_stop(conn->receiver);
out_free_page:
	__free_page(conn->rx_page);
out_free_conn:
	kfree(conn);	/* never installed: the socket is still the caller's */
	return ret;
}
