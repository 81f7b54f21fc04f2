/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dtrbd: internal definitions shared by the module's files.
 *
 * Locking, from outside in:
 *   dtrbd_devs_mutex   the minor registry (attach, detach, lookups)
 *   dev->state_mutex   role, connection and metadata changes; sleeps
 *   dev->lock          spinlock, irq-safe: every field marked [L], the
 *                      request lists, the interval trees of writes in
 *                      flight (ours and the peer's) and the queues the
 *                      threads consume
 * dev->lock is never held across I/O, sleeping or socket calls.
 *
 * Netlink commands run in parallel (no genl_mutex): each holds a reference
 * on its device, changes it under state_mutex taken with
 * dtrbd_lock_for_cmd() (refused once DETACH set dev->removing), and reads
 * status under dev->lock only.
 *
 * Lifetime: struct dtrbd_device is reference counted (kref). The registry
 * holds one reference from attach to detach; a connection (struct
 * dtrbd_conn) holds one from connect until it is released; netlink handlers hold one while
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
#include <linux/rbtree.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/net.h>
#include <linux/netlink.h>
#include <net/genetlink.h>

#include "dtrbd_protocol.h"
#include "dtrbd_logic.h"
#include "include/uapi/linux/dtrbd.h"

#define DTRBD_RS_CHUNK		(256u << 10)	/* largest resync packet */
#define DTRBD_RS_SLOTS		4		/* resync chunks in flight */
#define DTRBD_MAX_PEER_REQS	256		/* peer writes in flight */
/* pages peer requests may hold at once (16 MiB): peer_req.c */
#define DTRBD_PEER_PAGES_MAX	((16u << 20) / PAGE_SIZE)
#define DTRBD_REASON_LEN	400

struct dtrbd_device;

/*
 * One application bio on its way through the device. Two counts:
 * @pending holds the master bio until the protocol says it is done
 * (submitter + local write + the peer's part for this protocol); @refs
 * holds the request itself until the peer has also written it (or the
 * connection is gone), because only then do we know whether its blocks are
 * in sync, and only then may it leave the activity log.
 */
struct dtrbd_req {
	struct dtrbd_device *dev;
	struct bio *master;
	struct rb_node rb;		/* writes: dev->write_tree [L] */
	sector_t subtree_last;		/* of the interval tree [L] */
	struct list_head active;	/* reads: dev->active_reads [L] */
	struct list_head send;		/* dev->send_q or deferred [L] */
	struct list_head peer_wait;	/* writes: dev->peer_writes [L] */
	unsigned long peer_since;	/* jiffies: handed to the peer [L] */
	u64 id;
	sector_t sector;
	unsigned int size;
	unsigned int dp_flags;		/* DTRBD_DP_* for the peer */
	unsigned long flags;		/* DTRBD_RQ_* bits */
	atomic_t pending;		/* until the master bio completes */
	atomic_t refs;			/* until the request is freed */
	blk_status_t status;		/* of the local write */
	u32 epoch;			/* protocols A/B: write epoch */
	struct bvec_iter iter;		/* the master's data */
	struct bio clone;		/* last: allocated by dtrbd_req_bs */
};

#define DTRBD_RQ_PEER		0	/* master waits for the peer's ack */
#define DTRBD_RQ_QUEUED		1	/* on dev->send_q */
#define DTRBD_RQ_WACK		2	/* waiting for the peer's write ack */
#define DTRBD_RQ_IN_SYNC	3	/* the peer wrote it successfully */
#define DTRBD_RQ_AL		4	/* holds activity log references */
#define DTRBD_RQ_LOCAL_ERR	5	/* the local write failed */
#define DTRBD_RQ_DROP_PEER	6	/* teardown: peer part given up */
#define DTRBD_RQ_DROP_WACK	7	/* teardown: write ack given up */
#define DTRBD_RQ_HOLD		8	/* local write failed: wait for the peer */
#define DTRBD_RQ_PEER_READ	9	/* a read served by the peer */
#define DTRBD_RQ_DISKLESS	10	/* no local I/O: the peer's copy only */
#define DTRBD_RQ_DROP_HOLD	11	/* teardown: HOLD given up */
#define DTRBD_RQ_LOCAL_DONE	12	/* the local write ended (or none) */
#define DTRBD_RQ_WAITED		13	/* a later overlapping write waits */

/*
 * The sectors a write covers, as a closed interval for the interval trees
 * (an empty flush covers its start sector and conflicts with nothing).
 */
#define DTRBD_IV_LAST(sector, size) \
	((sector) + max_t(sector_t, (size) >> SECTOR_SHIFT, 1) - 1)

/* One activity log slot: a hot 4 MiB extent. */
struct dtrbd_al_ent {
	struct hlist_node hash;		/* dev->al_hash, while hot [L] */
	struct list_head lru;		/* dev->al_lru or al_free [L] */
	u32 ext;
	u32 refs;			/* writes in flight in it [L] */
};
#define DTRBD_AL_HASH_BITS	6

/* A write received from the peer (P_DATA or P_RS_DATA). */
struct dtrbd_peer_req {
	struct dtrbd_device *dev;
	struct list_head list;		/* dev->ack_q [L] */
	struct rb_node rb;		/* writes: dev->peer_tree [L] */
	sector_t subtree_last;		/* of the interval tree [L] */
	u64 id;
	sector_t sector;
	unsigned int size;
	u16 ack_type;			/* P_WRITE_ACK, P_RS_ACK, P_READ_REPLY */
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
	bool verify;			/* P_OV_REQ instead of P_RS_DATA */
	bool csum_req;			/* P_CSUM_REQ first, data if differing */
	bool peer_wait;			/* queued for the peer: its answer is
					 * due within the request timeout [L] */
	unsigned long peer_since;	/* jiffies, when queued [L] */
	unsigned int first_page;	/* data starts at bvecs[first_page] */
	struct list_head list;		/* dev->rs_send_q [L] */
	__be32 csum[DTRBD_RS_CHUNK / 4096];	/* verify: crc32c per block */
	struct bio_vec bvecs[DTRBD_RS_PAGES];	/* one page each */
};

/* A verify reply owed to the peer. */
#define DTRBD_OV_REPLIES	8
struct dtrbd_ov_reply {
	u16 type;			/* P_OV_REPLY or P_RS_SAME */
	u64 id;
	sector_t sector;
	unsigned int blocks;
	u8 diff[DTRBD_CSUM_BLOCKS_MAX];
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
	u64 rs_sent;			/* of which resync */
	u64 rs_received;
	u64 rs_same;			/* resync bytes found equal */
	u64 al_writes;			/* activity log transactions */
};

/* Bitmap slice exchange at connect time [L]. */
enum dtrbd_bm_xchg {
	DTRBD_BMX_NONE,
	DTRBD_BMX_RUNNING,		/* waiting for the peer's last slice */
};

struct dtrbd_device {
	struct kref kref;
	unsigned int minor;
	struct gendisk *disk;
	struct block_device *bdev;
	char disk_path[256];
	char res_name[DTRBD_RES_NAME_MAX + 1];	/* or "": set before add_disk */
	u64 size;			/* usable bytes */

	/* metadata: in-memory superblock, written by dtrbd_md_write() */
	struct mutex md_mutex;
	struct page *md_page;
	struct dtrbd_md_layout layout;
	struct block_device *md_bdev;	/* == bdev unless external */
	char meta_path[256];		/* external metadata device, or "" */
	u32 md_flags;
	u64 current_uuid, bitmap_uuid, history_uuid[2], device_uuid;

	/* out-of-sync bitmap (bitmap.c): one bit per 4 KiB, LE words */
	struct page **bm_pages;
	unsigned long *bm_dirty;	/* one bit per bm page, to write */
	unsigned int bm_npages;
	u64 bm_bits;			/* blocks of the data area */
	u64 bm_set;			/* bits set [L] */
	struct mutex bm_mutex;		/* one writeback at a time */

	/* activity log (actlog.c) */
	struct mutex al_mutex;		/* one transaction at a time */
	wait_queue_head_t al_wq;	/* an extent became idle */
	struct dtrbd_al_ent *al_ents;
	unsigned int al_nr;		/* slots */
	unsigned int al_used;		/* hot extents [L] */
	struct hlist_head al_hash[1 << DTRBD_AL_HASH_BITS];
	struct list_head al_lru, al_free;	/* [L] */
	u64 al_seq;			/* next transaction number */
	struct page *al_page;		/* transaction buffer [al_mutex] */

	/* writes that could not start in submit_bio (submitter work) */
	struct list_head deferred;	/* [L] */
	struct work_struct submit_work;
	struct work_struct io_error_work;	/* the backing disk failed */
	struct work_struct closed_work;	/* the last opener went: event */

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
	bool removing;			/* [L] and [state_mutex]: detaching */
	bool registered;		/* [dtrbd_devs_mutex] found by lookups:
					 * attach has finished */
	u64 sync_total, sync_done;
	struct dtrbd_stats stats;
	char reason[DTRBD_REASON_LEN];	/* why the last connection ended */

	/* [L] requests */
	struct rb_root_cached write_tree; /* application writes in flight,
					   * by sector (req.c) */
	struct rb_root_cached peer_tree; /* peer writes in flight (receiver) */
	struct list_head active_reads;	/* reads waiting for the peer,
					 * oldest first */
	struct list_head peer_writes;	/* writes the peer has not written
					 * yet (RQ_WACK), oldest first */
	struct list_head send_q;	/* requests for the sender */
	struct list_head ack_q;		/* peer writes done, ack pending */
	atomic_t nr_reqs;		/* application bios in flight */
	unsigned int peer_inflight;	/* peer writes submitted locally */
	atomic_t peer_pages;		/* pages peer requests hold */
	u64 next_id;
	u32 in_flight;			/* writes waiting for the peer */

	/* [L] control packets the sender owes the peer */
	bool send_state;
	bool send_sync_done;
	bool discard_my_data;		/* this connect resolves split brain */
	bool csum_resync;		/* as source: checksums before data */
	u8 after_sb;			/* enum dtrbd_after_sb */
	enum dtrbd_sync_decision pending_dec;	/* until bitmaps arrived */
	enum dtrbd_bm_xchg bm_xchg;
	enum dtrbd_sync_kind sync_kind;
	u32 resync_rate;		/* KiB/s, 0 = dynamic */
	u64 rate_bytes, rate_stamp_done; /* resync rate estimate */
	unsigned long rate_stamp;
	u64 sync_rate;			/* bytes/s, last estimate */
	u32 flags;			/* DTRBD_F_* */
	u64 verify_checked, verify_differing;
	bool verify_repair;
	u32 tx_epoch, epoch_writes;	/* protocols A/B: barriers [L] */
	bool epoch_closed;		/* a write completed in this epoch */
	bool send_barrier;
	bool send_uuid_sync;		/* new-current-uuid --clear-bitmap */
	bool uuid_syncing;		/* until the peer reports UpToDate */
	bool gen_pending;		/* Primary, disconnected: the first
					 * write starts a new generation */
	bool send_invalidate;

	/* freeze on peer loss (freeze.c) [L] */
	u8 on_peer_loss;		/* enum dtrbd_on_peer_loss */
	bool frozen;			/* completed writes are held */
	bool freeze_new;		/* conn_fail froze: teardown tells */
	bool freeze_unacked;		/* writes the peer lacks hit our disk */
	bool io_failed;			/* FAIL_IO: writes fail with EIO */
	struct bio_list frozen_bios;	/* held masters, status set */

	bool send_promote_req;
	int send_promote_reply;		/* -1 none, else the refusal code */
	int promote_result;		/* -1 waiting, else refusal code */
	bool promoting;
	bool promote_lost;		/* we granted the peer's concurrent req */

	/*
	 * The connection (struct dtrbd_conn, conn.c), or NULL: set by
	 * CONNECT and cleared by its teardown, both with state_mutex and
	 * dev->lock held, so any holder of either sees it stable. The
	 * connection's threads and its teardown run only while it is
	 * installed and use it without a lock.
	 */
	struct dtrbd_conn *conn;
	struct work_struct teardown_work;
	/*
	 * Settings CONNECT takes from userspace that outlive a connection's
	 * resources: the request path, the timers and the freeze policy
	 * consult them whether or not a connection is installed.
	 */
	enum dtrbd_protocol protocol;
	unsigned int timeout_ms;
	u32 ko_count;			/* [L] request timeout, in timeout_ms */
	unsigned long connect_since;	/* jiffies of CONNECT */
	struct delayed_work req_timer;	/* conn.c: nothing waits for the
					 * peer longer than the timeouts */
	unsigned long last_app_write;	/* jiffies, for the resync throttle */
};

/*
 * One connection to the peer: everything that exists from a CONNECT to
 * the end of its teardown, allocated whole by dtrbd_connect() and freed
 * whole when the last reference goes (dtrbd_conn_put()). A CONNECT that
 * runs while an earlier connection's teardown is still releasing things
 * gets a connection of its own, so it can never be handed something the
 * teardown then frees (issue 6, defect 4).
 *
 * References: dev->conn holds one from CONNECT until the teardown has
 * uninstalled it; dtrbd_conn_fail() takes one under dev->lock to shut the
 * socket down after dropping the lock. The connection holds a reference
 * on its device, dropped by the release (dtrbd_conn_put(): process
 * context, it may free the socket and the device).
 */
struct dtrbd_conn {
	struct kref kref;
	struct dtrbd_device *dev;
	struct socket *sock;
	struct task_struct *receiver, *sender;
	struct task_struct *resyncer;	/* [state_mutex or receiver] */

	/* options of this connection, set by CONNECT, then read-only */
	unsigned int ping_ms;
	bool tiebreak;
	u32 proto_version;
	u64 features;
	char peer_name[DTRBD_NODE_NAME_LEN];
	char peer_addr[64];

	/* receiver only */
	unsigned long last_rx;		/* jiffies of the last packet */
	struct page *rx_page;		/* bitmap / checksum buffer */
	__be32 ov_csum[DTRBD_CSUM_BLOCKS_MAX];
	struct page *ov_pages[DTRBD_RS_PAGES];	/* verify reads */
	bool peer_limits_rcvd;		/* the peer's P_LIMITS arrived */
	struct dtrbd_limits peer_limits;	/* as received */

	/* sender only */
	u32 tx_seq;

	/* [L] what the sender owes the peer */
	struct dtrbd_recv_ack recv_acks[DTRBD_MAX_PEER_REQS];	/* ring */
	u32 recv_ack_head, recv_ack_tail;
	struct dtrbd_ov_reply ov_replies[DTRBD_OV_REPLIES];	/* ring */
	u32 ov_head, ov_tail;
	bool send_limits;		/* FEAT_LIMITS: P_LIMITS still to send */
	bool state_sent;		/* our first P_STATE went out */
	bool bm_sending;		/* our bitmap is still going out */
	u64 bm_tx_page;			/* next bitmap page to send */

	/* resync source [L]: the slots (allocated on the first resync) */
	struct dtrbd_rs_slot *rs_slots;
	struct list_head rs_send_q;	/* chunks to send */
};

/* main.c */
extern struct workqueue_struct *dtrbd_wq, *dtrbd_conn_wq;
extern struct bio_set dtrbd_req_bs, dtrbd_peer_bs;
struct dtrbd_device *dtrbd_dev_get_by_minor(unsigned int minor);
void dtrbd_dev_put(struct dtrbd_device *dev);
int dtrbd_attach(unsigned int minor, const char *path, const char *meta_path,
		 const char *res_name, unsigned int al_extents,
		 struct netlink_ext_ack *extack);
int dtrbd_detach(struct dtrbd_device *dev, struct netlink_ext_ack *extack);
int dtrbd_for_each_device(int (*fn)(struct dtrbd_device *, void *),
			  void *arg, unsigned int start);

/* req.c */
void dtrbd_submit_bio(struct bio *bio);
void dtrbd_submit_work(struct work_struct *work);
void dtrbd_req_put(struct dtrbd_req *req);
void dtrbd_req_unref(struct dtrbd_req *req);
int dtrbd_req_ack(struct dtrbd_device *dev, u16 type, u64 id,
		  sector_t sector, unsigned int size, int status);
bool dtrbd_write_overlaps(struct dtrbd_device *dev, sector_t sector,
			  unsigned int size);
bool dtrbd_req_unconfirmed(struct dtrbd_device *dev);
void dtrbd_peer_tree_insert(struct dtrbd_device *dev,
			    struct dtrbd_peer_req *preq);
void dtrbd_peer_tree_remove(struct dtrbd_device *dev,
			    struct dtrbd_peer_req *preq);
bool dtrbd_peer_overlaps(struct dtrbd_device *dev, sector_t sector,
			 unsigned int size);
void dtrbd_req_sent(struct dtrbd_device *dev, struct dtrbd_req *req);
void dtrbd_req_conn_lost(struct dtrbd_device *dev);
struct dtrbd_req *dtrbd_req_take_read(struct dtrbd_device *dev, u64 id);
void dtrbd_req_read_done(struct dtrbd_req *req, int status);
void dtrbd_io_error_work(struct work_struct *work);
void dtrbd_disk_failed(struct dtrbd_device *dev);
void dtrbd_queue_limits(struct dtrbd_device *dev, struct dtrbd_limits *l);
void dtrbd_adopt_limits(struct dtrbd_device *dev, const struct dtrbd_limits *l);

/* meta.c */
int dtrbd_md_read(struct dtrbd_device *dev, struct netlink_ext_ack *extack);
int dtrbd_md_write(struct dtrbd_device *dev);
int dtrbd_md_rw_page(struct dtrbd_device *dev, struct page *page, u64 off,
		     blk_opf_t opf);
void dtrbd_new_current_uuid(struct dtrbd_device *dev);
void dtrbd_clear_bitmap_uuid(struct dtrbd_device *dev);

/* bitmap.c: block numbers are 4 KiB units of the data area */
#define DTRBD_BM_PAGE_BITS	(PAGE_SIZE * 8)
int dtrbd_bm_alloc(struct dtrbd_device *dev);
void dtrbd_bm_free(struct dtrbd_device *dev);
u64 dtrbd_bm_set(struct dtrbd_device *dev, u64 first, u64 last);
u64 dtrbd_bm_clear(struct dtrbd_device *dev, u64 first, u64 last);
void dtrbd_bm_set_all(struct dtrbd_device *dev);
void dtrbd_bm_clear_all(struct dtrbd_device *dev);
u64 dtrbd_bm_find_next(struct dtrbd_device *dev, u64 from);
bool dtrbd_bm_test(struct dtrbd_device *dev, u64 block);
u64 dtrbd_bm_merge(struct dtrbd_device *dev, unsigned int pg,
		   const __le64 *words, unsigned int n);
int dtrbd_bm_read(struct dtrbd_device *dev);
int dtrbd_bm_write(struct dtrbd_device *dev, bool all);
int dtrbd_bm_write_ext(struct dtrbd_device *dev, u32 ext);
void dtrbd_bm_write_set(struct dtrbd_device *dev, sector_t sector,
			unsigned int size, bool in_sync);

/* actlog.c */
int dtrbd_al_alloc(struct dtrbd_device *dev, unsigned int nr);
void dtrbd_al_free(struct dtrbd_device *dev);
bool dtrbd_al_try_get(struct dtrbd_device *dev, sector_t sector,
		      unsigned int size);
int dtrbd_al_get(struct dtrbd_device *dev, sector_t sector,
		 unsigned int size);
void dtrbd_al_put(struct dtrbd_device *dev, sector_t sector,
		  unsigned int size);
int dtrbd_al_recover(struct dtrbd_device *dev, bool apply);
int dtrbd_al_clear(struct dtrbd_device *dev);

/* state.c */
int dtrbd_lock_for_cmd(struct dtrbd_device *dev,
		       struct netlink_ext_ack *extack);
int dtrbd_set_primary(struct dtrbd_device *dev, bool force,
		      struct netlink_ext_ack *extack);
int dtrbd_set_secondary(struct dtrbd_device *dev,
			struct netlink_ext_ack *extack);
int dtrbd_adopt_uuid(struct dtrbd_device *dev, u64 uuid, bool tell_peer);
int dtrbd_new_uuid_cmd(struct dtrbd_device *dev, bool clear_bitmap,
		       struct netlink_ext_ack *extack);
int dtrbd_invalidate_cmd(struct dtrbd_device *dev, bool remote,
			 struct netlink_ext_ack *extack);
int dtrbd_verify_cmd(struct dtrbd_device *dev, bool repair,
		     struct netlink_ext_ack *extack);
void dtrbd_set_disk(struct dtrbd_device *dev, enum dtrbd_disk_state ds);

/* conn.c */
int dtrbd_connect(struct dtrbd_device *dev, struct socket *sock,
		  struct genl_info *info);
void dtrbd_conn_fail(struct dtrbd_device *dev, const char *fmt, ...)
	__printf(2, 3);
void dtrbd_disconnect(struct dtrbd_device *dev);
void dtrbd_conn_put(struct dtrbd_conn *conn);
void dtrbd_teardown(struct work_struct *work);
void dtrbd_wait_for_stop(void);
void dtrbd_req_timer(struct work_struct *work);
void dtrbd_set_ko_count(struct dtrbd_device *dev, u32 ko_count);
int dtrbd_maybe_start_sync(struct dtrbd_device *dev);
int dtrbd_invalidate_local(struct dtrbd_device *dev);

/* freeze.c */
bool dtrbd_freeze_hold(struct dtrbd_device *dev, struct bio *master);
int dtrbd_resume_io(struct dtrbd_device *dev, struct netlink_ext_ack *extack);
int dtrbd_fail_io(struct dtrbd_device *dev, struct netlink_ext_ack *extack);
void dtrbd_freeze_reconnected(struct dtrbd_device *dev);
void dtrbd_freeze_release_all(struct dtrbd_device *dev);

/* resync.c */
int dtrbd_resync_thread(void *arg);
int dtrbd_rs_alloc(struct dtrbd_device *dev);
void dtrbd_rs_free(struct dtrbd_rs_slot *slots);
int dtrbd_rs_ack(struct dtrbd_device *dev, u64 slot, int error);
int dtrbd_ov_reply(struct dtrbd_device *dev, u64 slot, const u8 *diff,
		   unsigned int blocks);
int dtrbd_csum_reply(struct dtrbd_device *dev, u64 slot, const u8 *diff,
		     unsigned int blocks);
bool dtrbd_rs_conflict(struct dtrbd_device *dev, sector_t sector,
		       unsigned int size);
int dtrbd_start_resyncer(struct dtrbd_device *dev, enum dtrbd_sync_kind k);
int dtrbd_ov_read_csums(struct dtrbd_device *dev, sector_t sector,
			unsigned int blocks, __be32 *csum);

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
