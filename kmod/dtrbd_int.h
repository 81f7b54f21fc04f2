/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dtrbd: internal definitions shared by the module's files.
 *
 * Locking, from outside in:
 *   dtrbd_devs_mutex   the minor registry (attach, detach, lookups)
 *   dev->state_mutex   role, connection and metadata changes; sleeps
 *   dev->lock          spinlock, irq-safe: every field marked [L], the
 *                      request lists and the queues the threads consume
 * dev->lock is never held across I/O, sleeping or socket calls.
 *
 * Lifetime: struct dtrbd_device is reference counted (kref). The registry
 * holds one reference from attach to detach; a connection holds one from
 * connect until its teardown has finished; netlink handlers hold one while
 * they run. The last reference frees the gendisk and the memory, always in
 * process context.
 */
#ifndef DTRBD_INT_H
#define DTRBD_INT_H

#include <linux/blkdev.h>
#include <linux/bio.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/net.h>
#include <linux/netlink.h>
#include <net/genetlink.h>

#include "dtrbd_protocol.h"
#include "dtrbd_logic.h"
#include "include/uapi/linux/dtrbd.h"

#define DTRBD_RS_CHUNK		(256u << 10)	/* bytes per resync packet */
#define DTRBD_RS_SLOTS		4		/* resync chunks in flight */
#define DTRBD_MAX_PEER_REQS	256		/* peer writes in flight */
#define DTRBD_REASON_LEN	160

struct dtrbd_device;

/* One application bio on its way through the device. */
struct dtrbd_req {
	struct dtrbd_device *dev;
	struct bio *master;
	struct list_head active;	/* dev->active_writes [L] */
	struct list_head send;		/* dev->send_q [L] */
	u64 id;
	sector_t sector;
	unsigned int size;
	unsigned int dp_flags;		/* DTRBD_DP_* for the peer */
	unsigned long flags;		/* DTRBD_RQ_* bits */
	atomic_t pending;		/* submitter + local + peer */
	blk_status_t status;		/* of the local write */
	struct bvec_iter iter;		/* the master's data */
	struct bio clone;		/* last: allocated by dtrbd_req_bs */
};

#define DTRBD_RQ_PEER		0	/* waiting for the peer's ack */
#define DTRBD_RQ_QUEUED		1	/* on dev->send_q */

/* A write received from the peer (P_DATA or P_RS_DATA). */
struct dtrbd_peer_req {
	struct dtrbd_device *dev;
	struct list_head list;		/* dev->ack_q [L] */
	u64 id;
	sector_t sector;
	unsigned int size;
	u16 ack_type;			/* P_WRITE_ACK, P_RS_ACK or 0 */
	int error;			/* positive errno */
	struct bio bio;			/* last: allocated by dtrbd_peer_bs */
};

/* One resync chunk in flight (source side). */
#define DTRBD_RS_PAGES		(DTRBD_RS_CHUNK / PAGE_SIZE)
struct dtrbd_rs_slot {
	u64 offset;			/* bytes */
	unsigned int len;
	bool busy;			/* read, sent or waiting for ack [L] */
	bool queued;			/* on the sender's list [L] */
	struct list_head list;		/* dev->rs_send_q [L] */
	struct bio_vec bvecs[DTRBD_RS_PAGES];	/* one page each */
};

/* A protocol B receive ack owed to the peer. */
struct dtrbd_recv_ack {
	u64 id;
	sector_t sector;
	unsigned int size;
};

struct dtrbd_stats {
	u64 written;			/* application bytes written */
	u64 sent;			/* payload bytes sent to the peer */
	u64 received;			/* payload bytes received */
};

struct dtrbd_device {
	struct kref kref;
	unsigned int minor;
	struct gendisk *disk;
	struct block_device *bdev;
	char disk_path[256];
	u64 size;			/* usable bytes */

	/* metadata: in-memory superblock, written by dtrbd_md_write() */
	struct mutex md_mutex;
	struct page *md_page;
	struct dtrbd_md_layout layout;
	u32 md_flags;
	u64 current_uuid, bitmap_uuid, history_uuid[2], device_uuid;

	struct mutex state_mutex;
	spinlock_t lock;
	wait_queue_head_t state_wq;	/* role/connection transitions */
	wait_queue_head_t rs_wq;	/* resync window and write conflicts */
	wait_queue_head_t sender_wq;	/* work for the sender */
	wait_queue_head_t peer_wq;	/* peer writes in flight */

	/* [L] state */
	enum dtrbd_role role;
	enum dtrbd_disk_state disk_state;
	enum dtrbd_conn_state cstate;
	enum dtrbd_role peer_role;
	enum dtrbd_disk_state peer_disk;
	enum dtrbd_sync_state sync;
	unsigned int open_count;
	bool removing;
	u64 sync_total, sync_done;
	struct dtrbd_stats stats;
	char reason[DTRBD_REASON_LEN];	/* why the last connection ended */

	/* [L] requests */
	struct list_head active_writes;	/* application writes in flight */
	struct list_head send_q;	/* requests for the sender */
	struct list_head ack_q;		/* peer writes done, ack pending */
	struct list_head rs_send_q;	/* resync chunks to send */
	atomic_t nr_reqs;		/* application bios in flight */
	unsigned int peer_inflight;	/* peer writes submitted locally */
	struct dtrbd_recv_ack recv_acks[DTRBD_MAX_PEER_REQS];	/* ring */
	u32 recv_ack_head, recv_ack_tail;
	u64 next_id;
	u32 in_flight;			/* writes waiting for the peer */

	/* [L] control packets the sender owes the peer */
	bool send_state;
	bool send_sync_done;
	bool send_promote_req;
	int send_promote_reply;		/* -1 none, else the refusal code */
	int promote_result;		/* -1 waiting, else refusal code */
	bool promoting;
	bool promote_lost;		/* we granted the peer's concurrent req */

	/* connection: owned by state_mutex while connecting/tearing down */
	struct socket *sock;
	struct task_struct *receiver, *sender, *resyncer;
	struct work_struct teardown_work;
	enum dtrbd_protocol protocol;
	unsigned int ping_ms, timeout_ms;
	bool tiebreak;
	u32 proto_version;
	u64 features;
	char peer_name[DTRBD_NODE_NAME_LEN];
	char peer_addr[64];
	unsigned long last_rx;		/* jiffies of the last packet */
	u32 tx_seq;

	/* resync source state [L] */
	struct dtrbd_rs_slot *rs_slots;
};

/* main.c */
extern struct workqueue_struct *dtrbd_wq;
extern struct bio_set dtrbd_req_bs, dtrbd_peer_bs;
struct dtrbd_device *dtrbd_dev_get_by_minor(unsigned int minor);
void dtrbd_dev_put(struct dtrbd_device *dev);
int dtrbd_attach(unsigned int minor, const char *path,
		 struct netlink_ext_ack *extack);
int dtrbd_detach(struct dtrbd_device *dev, struct netlink_ext_ack *extack);
int dtrbd_for_each_device(int (*fn)(struct dtrbd_device *, void *),
			  void *arg, unsigned int start);

/* req.c */
void dtrbd_submit_bio(struct bio *bio);
void dtrbd_req_put(struct dtrbd_req *req);
bool dtrbd_req_peer_done(struct dtrbd_device *dev, u64 id);

/* meta.c */
int dtrbd_md_read(struct dtrbd_device *dev, struct netlink_ext_ack *extack);
int dtrbd_md_write(struct dtrbd_device *dev);
void dtrbd_new_current_uuid(struct dtrbd_device *dev);
void dtrbd_clear_bitmap_uuid(struct dtrbd_device *dev);

/* state.c */
int dtrbd_set_primary(struct dtrbd_device *dev, bool force,
		      struct netlink_ext_ack *extack);
int dtrbd_set_secondary(struct dtrbd_device *dev,
			struct netlink_ext_ack *extack);
void dtrbd_set_disk(struct dtrbd_device *dev, enum dtrbd_disk_state ds);

/* conn.c */
int dtrbd_connect(struct dtrbd_device *dev, struct socket *sock,
		  struct genl_info *info);
void dtrbd_conn_fail(struct dtrbd_device *dev, const char *fmt, ...)
	__printf(2, 3);
void dtrbd_disconnect(struct dtrbd_device *dev);
void dtrbd_teardown(struct work_struct *work);
void dtrbd_wake_sender(struct dtrbd_device *dev);
void dtrbd_wait_for_stop(void);
int dtrbd_maybe_start_sync(struct dtrbd_device *dev);

/* resync.c */
int dtrbd_resync_thread(void *arg);
int dtrbd_rs_alloc(struct dtrbd_device *dev);
void dtrbd_rs_free(struct dtrbd_device *dev);
int dtrbd_rs_ack(struct dtrbd_device *dev, u64 slot, int error);
bool dtrbd_rs_conflict(struct dtrbd_device *dev, sector_t sector,
		       unsigned int size);

/* nl.c */
int dtrbd_nl_init(void);
void dtrbd_nl_exit(void);
void dtrbd_notify(struct dtrbd_device *dev, enum dtrbd_event ev,
		  const char *reason);

static inline const char *dtrbd_name(const struct dtrbd_device *dev)
{
	return dev->disk->disk_name;
}

#define dtrbd_info(dev, fmt, ...) \
	pr_info("%s: " fmt, dtrbd_name(dev), ##__VA_ARGS__)
#define dtrbd_warn(dev, fmt, ...) \
	pr_warn("%s: " fmt, dtrbd_name(dev), ##__VA_ARGS__)
#define dtrbd_err(dev, fmt, ...) \
	pr_err("%s: " fmt, dtrbd_name(dev), ##__VA_ARGS__)

#endif /* DTRBD_INT_H */
