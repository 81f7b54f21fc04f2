/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * dtrbd - disaster-tolerant replicated block device: control interface.
 *
 * Generic netlink family "dtrbd". This header is the single description of
 * the interface: the module (kmod/nl.c) builds its attribute policies from
 * it and dtrbdctl (ctl/) includes it. Documentation/netlink.md explains
 * every command.
 *
 * Rules: values are never renumbered; new commands and attributes are
 * appended before the __*_MAX sentinels.
 */
#ifndef _UAPI_LINUX_DTRBD_H
#define _UAPI_LINUX_DTRBD_H

#define DTRBD_GENL_NAME		"dtrbd"
#define DTRBD_GENL_VERSION	1
#define DTRBD_GENL_MCGRP_EVENTS	"events"

/* Minors 0 .. DTRBD_MAX_MINOR are valid: /dev/dtrbd0 .. /dev/dtrbd255. */
#define DTRBD_MAX_MINOR		255

/*
 * Resource name (DTRBD_A_RES_NAME, attach): 1 .. DTRBD_RES_NAME_MAX bytes
 * of [A-Za-z0-9_.-], not starting with '.' or '-' (the names dtrbd.conf
 * allows). It becomes /dev/dtrbd/by-res/NAME and must be safe as a file name.
 */
#define DTRBD_RES_NAME_MAX	31

/* Bounds the module enforces on DTRBD_A_PING_MS and DTRBD_A_TIMEOUT_MS. */
#define DTRBD_PING_MS_MIN	100
#define DTRBD_PING_MS_MAX	60000
#define DTRBD_PING_MS_DEFAULT	1000
#define DTRBD_TIMEOUT_MS_MIN	500
#define DTRBD_TIMEOUT_MS_MAX	600000
#define DTRBD_TIMEOUT_MS_DEFAULT 5000

/*
 * Request timeout (DTRBD_A_KO_COUNT): a request that waits for the peer
 * (a write not yet written there, a read it serves, a resync chunk not yet
 * acknowledged) for longer than KO_COUNT x TIMEOUT_MS gets the peer
 * declared dead, as if the connection were lost. The send timeout of the
 * socket is the same time. The handshake (CONNECTING) must end within
 * 2 x TIMEOUT_MS, which KO_COUNT_MIN keeps no longer than the request
 * timeout. Defaults: 7 x 5 s = 35 s.
 */
#define DTRBD_KO_COUNT_MIN	2
#define DTRBD_KO_COUNT_MAX	100
#define DTRBD_KO_COUNT_DEFAULT	7
#define DTRBD_CONNECTING_TIMEOUTS 2	/* handshake deadline, in TIMEOUT_MS */

/* Activity log size (DTRBD_A_AL_EXTENTS), in 4 MiB extents. */
#define DTRBD_AL_EXTENTS_MIN	7
#define DTRBD_AL_EXTENTS_MAX	1018	/* one 4 KiB transaction block */
#define DTRBD_AL_EXTENTS_DEFAULT 257	/* ~1 GiB of hot data */

/* Fixed resync rate (DTRBD_A_RESYNC_RATE), KiB/s; 0 = dynamic. */
#define DTRBD_RESYNC_RATE_MAX	(4u << 20)	/* 4 GiB/s */

enum dtrbd_cmd {
	DTRBD_CMD_UNSPEC,
	DTRBD_CMD_ATTACH,	/* MINOR, DISK_PATH [, RES_NAME] -> /dev/dtrbdMINOR */
	DTRBD_CMD_DETACH,	/* MINOR -> removes it (must not be open) */
	DTRBD_CMD_CONNECT,	/* MINOR, SOCK_FD, PROTOCOL, ... */
	DTRBD_CMD_DISCONNECT,	/* MINOR */
	DTRBD_CMD_PRIMARY,	/* MINOR [, FORCE] */
	DTRBD_CMD_SECONDARY,	/* MINOR */
	DTRBD_CMD_GET_DEVICE,	/* MINOR (doit) or dump of all devices */
	DTRBD_CMD_EVENT,	/* multicast only: device status + EVENT */
	/*
	 * MINOR [, REPAIR]: start an online verify; connected, no resync
	 * running. Returns at once; progress in SYNC_* with SYNC_KIND
	 * VERIFY; EV_VERIFY_FINISHED carries VERIFY_CHECKED/DIFFERING.
	 * Differing blocks are marked out of sync; with REPAIR a resync
	 * from this side follows at once (EV_SYNC_STARTED/FINISHED).
	 */
	DTRBD_CMD_VERIFY,
	/* MINOR: our data is bad: full resync from the peer (connected) */
	DTRBD_CMD_INVALIDATE,
	/* MINOR: the peer's data is bad: full resync to it (connected) */
	DTRBD_CMD_INVALIDATE_REMOTE,
	/*
	 * MINOR [, CLEAR_BITMAP]: start a new data generation. With
	 * CLEAR_BITMAP on a connected pair of two Secondaries whose data is
	 * known identical (e.g. both freshly zeroed): both become UpToDate
	 * without the initial full sync.
	 */
	DTRBD_CMD_NEW_CURRENT_UUID,
	/*
	 * MINOR and at least one of RESYNC_RATE, ON_PEER_LOSS, KO_COUNT:
	 * change tunables of a running device
	 */
	DTRBD_CMD_SET_OPTIONS,
	/*
	 * MINOR: a frozen device (ON_PEER_LOSS freeze, peer lost while
	 * Primary) goes on alone: a new data generation starts, the writes
	 * that waited complete (their blocks stay marked out of sync) and
	 * new writes go through. Also ends the FAIL_IO state. EV_RESUMED.
	 */
	DTRBD_CMD_RESUME_IO,
	/*
	 * MINOR: a frozen device completes the writes that waited with
	 * EIO, and every later write fails with EIO too, until RESUME_IO or
	 * a successful reconnect. Reads go on. EV_IO_FAILED.
	 */
	DTRBD_CMD_FAIL_IO,

	__DTRBD_CMD_MAX,
};
#define DTRBD_CMD_MAX (__DTRBD_CMD_MAX - 1)

enum dtrbd_attr {
	DTRBD_A_UNSPEC,
	DTRBD_A_PAD,		/* padding for 64-bit attributes */
	DTRBD_A_MINOR,		/* u32 */
	DTRBD_A_DISK_PATH,	/* NUL-terminated string, absolute path */
	DTRBD_A_SOCK_FD,	/* u32: connected TCP socket, handshake done */
	DTRBD_A_PROTOCOL,	/* u8: enum dtrbd_protocol */
	DTRBD_A_FORCE,		/* flag */
	DTRBD_A_PING_MS,	/* u32: keep-alive interval (connect, status) */
	DTRBD_A_TIMEOUT_MS,	/* u32: peer declared dead after this silence
				 * (connect, status) */
	DTRBD_A_TIEBREAK,	/* u8: 1 on exactly one side of a connection */
	DTRBD_A_PROTO_VERSION,	/* u32: wire protocol version agreed */
	DTRBD_A_FEATURES,	/* u64: wire feature bits agreed */
	DTRBD_A_PEER_NAME,	/* string: the peer's node name, for humans */
	DTRBD_A_PEER_ADDR,	/* string: the peer's address, for humans */

	/* status (replies and events) */
	DTRBD_A_ROLE,		/* u8: enum dtrbd_role */
	DTRBD_A_PEER_ROLE,	/* u8: enum dtrbd_role */
	DTRBD_A_CONN,		/* u8: enum dtrbd_conn_state */
	DTRBD_A_DISK,		/* u8: enum dtrbd_disk_state */
	DTRBD_A_PEER_DISK,	/* u8: enum dtrbd_disk_state */
	DTRBD_A_SIZE_BYTES,	/* u64: usable size of /dev/dtrbdN */
	DTRBD_A_SYNC,		/* u8: enum dtrbd_sync_state */
	DTRBD_A_SYNC_TOTAL,	/* u64: bytes to resync in this run */
	DTRBD_A_SYNC_DONE,	/* u64: bytes resynced so far */
	DTRBD_A_WRITTEN_BYTES,	/* u64: application bytes written */
	DTRBD_A_SENT_BYTES,	/* u64: payload bytes sent to the peer */
	DTRBD_A_RECEIVED_BYTES,	/* u64: payload bytes received from peer */
	DTRBD_A_CURRENT_UUID,	/* u64: generation identifier */
	DTRBD_A_BITMAP_UUID,	/* u64 */
	DTRBD_A_OPEN_COUNT,	/* u32: openers of /dev/dtrbdN */
	DTRBD_A_EVENT,		/* u8: enum dtrbd_event (events only) */
	DTRBD_A_REASON,		/* string: why the event happened */
	DTRBD_A_IN_FLIGHT,	/* u32: writes waiting for the peer */

	/* connect options */
	DTRBD_A_DISCARD_MY_DATA, /* flag: resolve a split brain: we are target */
	DTRBD_A_AFTER_SB,	/* u8: enum dtrbd_after_sb, automatic recovery */
	DTRBD_A_RESYNC_RATE,	/* u32: KiB/s; 0 = dynamic controller */
	/* attach options */
	DTRBD_A_AL_EXTENTS,	/* u32: activity log size, 4 MiB extents */
	DTRBD_A_META_PATH,	/* string: external metadata device */
	/* new-current-uuid */
	DTRBD_A_CLEAR_BITMAP,	/* flag: both sides hold identical data */

	/* more status */
	DTRBD_A_OOS_BYTES,	/* u64: bytes marked out of sync (bitmap) */
	DTRBD_A_SYNC_RATE,	/* u64: resync bytes per second, recent */
	DTRBD_A_SYNC_KIND,	/* u8: enum dtrbd_sync_kind of this run */
	DTRBD_A_VERIFY_CHECKED,	/* u64: blocks compared by the last verify */
	DTRBD_A_VERIFY_DIFFERING, /* u64: blocks found different */
	DTRBD_A_AL_WRITES,	/* u64: activity log transactions written */
	DTRBD_A_AL_EXTENTS_USED, /* u32: hot extents now */
	DTRBD_A_RS_SENT_BYTES,	/* u64: resync payload bytes sent */
	DTRBD_A_RS_RECEIVED_BYTES, /* u64: resync payload bytes received */
	DTRBD_A_RS_SAME_BYTES,	/* u64: bytes skipped: checksums matched */
	DTRBD_A_FLAGS,		/* u32: DTRBD_F_* */
	DTRBD_A_META_DISK,	/* string: metadata device (external) */
	DTRBD_A_REPAIR,		/* flag: verify then resync what differs */
	DTRBD_A_CSUM_RESYNC,	/* flag (connect): as resync source, send
				 * checksums first, data only where they differ */
	DTRBD_A_ON_PEER_LOSS,	/* u8: enum dtrbd_on_peer_loss (connect,
				 * set-options, status); connect's default:
				 * continue */
	DTRBD_A_FROZEN,		/* u8 (status): 1 while writes wait for
				 * RESUME_IO or FAIL_IO */
	DTRBD_A_IO_FAILED,	/* u8 (status): 1 after FAIL_IO, until
				 * RESUME_IO or a reconnect */
	DTRBD_A_KO_COUNT,	/* u32: request timeout in TIMEOUT_MS units
				 * (connect, set-options, status) */
	DTRBD_A_RES_NAME,	/* string: resource name (attach, status);
				 * also /sys/block/dtrbdN/dtrbd/name */

	__DTRBD_A_MAX,
};
#define DTRBD_A_MAX (__DTRBD_A_MAX - 1)

enum dtrbd_protocol {
	DTRBD_PROT_A = 1,	/* local write done + handed to the socket */
	DTRBD_PROT_B = 2,	/* local write done + peer received it */
	DTRBD_PROT_C = 3,	/* local write done + peer wrote it */
};

enum dtrbd_role {
	DTRBD_ROLE_UNKNOWN,
	DTRBD_ROLE_SECONDARY,
	DTRBD_ROLE_PRIMARY,
};

enum dtrbd_conn_state {
	DTRBD_CONN_STANDALONE,
	DTRBD_CONN_CONNECTING,	/* socket handed over, state exchange */
	DTRBD_CONN_CONNECTED,
	DTRBD_CONN_DISCONNECTING,
};

enum dtrbd_disk_state {
	DTRBD_DISK_UNKNOWN,
	DTRBD_DISK_DISKLESS,
	DTRBD_DISK_INCONSISTENT,
	DTRBD_DISK_OUTDATED,
	DTRBD_DISK_UPTODATE,
};

enum dtrbd_sync_state {
	DTRBD_SYNC_NONE,
	DTRBD_SYNC_SOURCE,
	DTRBD_SYNC_TARGET,
};

/* Automatic split-brain recovery (DTRBD_A_AFTER_SB). */
enum dtrbd_after_sb {
	DTRBD_SB_DISCONNECT,	/* default: refuse, the operator decides */
	DTRBD_SB_DISCARD_ZERO_CHANGES,	/* a side that wrote nothing is target */
	DTRBD_SB_DISCARD_SECONDARY,	/* the side that is Secondary now is target */
};

enum dtrbd_sync_kind {
	DTRBD_SK_NONE,
	DTRBD_SK_BITMAP,	/* out-of-sync blocks only */
	DTRBD_SK_FULL,		/* every block */
	DTRBD_SK_VERIFY,	/* online verify: compare, do not copy */
};

/* What a Primary does when it loses its peer (DTRBD_A_ON_PEER_LOSS). */
enum dtrbd_on_peer_loss {
	DTRBD_OPL_CONTINUE,	/* writes complete locally, out of sync */
	DTRBD_OPL_FREEZE,	/* no write completes until RESUME_IO/FAIL_IO */
};

/* DTRBD_A_FLAGS */
#define DTRBD_F_CRASHED_PRIMARY	(1u << 0)	/* attached after a crash as Primary */
#define DTRBD_F_SPLIT_BRAIN	(1u << 1)	/* the last connect found split brain */
#define DTRBD_F_PEER_OUTDATED	(1u << 2)	/* the peer lacks our newest writes */

enum dtrbd_event {
	DTRBD_EV_NONE,
	DTRBD_EV_ATTACHED,
	DTRBD_EV_DETACHED,
	DTRBD_EV_ROLE,
	DTRBD_EV_CONNECTED,
	DTRBD_EV_DISCONNECTED,
	DTRBD_EV_PEER,		/* peer's role or disk changed */
	DTRBD_EV_SYNC_STARTED,
	DTRBD_EV_SYNC_FINISHED,
	DTRBD_EV_DISK,		/* local disk state changed */
	DTRBD_EV_VERIFY_STARTED,
	DTRBD_EV_VERIFY_FINISHED,
	DTRBD_EV_SPLIT_BRAIN,	/* REASON says how to resolve it */
	DTRBD_EV_IO_ERROR,	/* the backing disk failed and was detached */
	DTRBD_EV_FROZEN,	/* peer lost while Primary under freeze: writes wait */
	DTRBD_EV_RESUMED,	/* writes go on: RESUME_IO, a reconnect; FAIL_IO
				 * also ends at a demotion */
	DTRBD_EV_IO_FAILED,	/* FAIL_IO: waiting and new writes fail */
	DTRBD_EV_CLOSED,	/* the last opener closed the device */
};

#endif /* _UAPI_LINUX_DTRBD_H */
