/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * dtrbd - disaster-tolerant replicated block device: control interface.
 *
 * Generic netlink family "dtrbd". This header is the single description of
 * the interface: the module (kmod/nl.c) builds its attribute policies from
 * it and dtrbdctl (ctl/) includes it. Documentation/netlink.rst explains
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

/* Bounds the module enforces on DTRBD_A_PING_MS and DTRBD_A_TIMEOUT_MS. */
#define DTRBD_PING_MS_MIN	100
#define DTRBD_PING_MS_MAX	60000
#define DTRBD_PING_MS_DEFAULT	1000
#define DTRBD_TIMEOUT_MS_MIN	500
#define DTRBD_TIMEOUT_MS_MAX	600000
#define DTRBD_TIMEOUT_MS_DEFAULT 5000

enum dtrbd_cmd {
	DTRBD_CMD_UNSPEC,
	DTRBD_CMD_ATTACH,	/* MINOR, DISK_PATH -> creates /dev/dtrbdMINOR */
	DTRBD_CMD_DETACH,	/* MINOR -> removes it (must not be open) */
	DTRBD_CMD_CONNECT,	/* MINOR, SOCK_FD, PROTOCOL, ... */
	DTRBD_CMD_DISCONNECT,	/* MINOR */
	DTRBD_CMD_PRIMARY,	/* MINOR [, FORCE] */
	DTRBD_CMD_SECONDARY,	/* MINOR */
	DTRBD_CMD_GET_DEVICE,	/* MINOR (doit) or dump of all devices */
	DTRBD_CMD_EVENT,	/* multicast only: device status + EVENT */

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
	DTRBD_A_PING_MS,	/* u32: keep-alive interval */
	DTRBD_A_TIMEOUT_MS,	/* u32: peer declared dead after this silence */
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
};

#endif /* _UAPI_LINUX_DTRBD_H */
