/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dtrbd: what the connection's files (conn.c, sender.c, receiver.c,
 * peer_req.c, handshake.c) share among themselves. The rest of the module
 * uses the functions declared in dtrbd_int.h.
 */
#ifndef DTRBD_CONN_H
#define DTRBD_CONN_H

#include "dtrbd_int.h"

/* sender.c */
int dtrbd_sender(void *arg);

/* receiver.c */
int dtrbd_receiver(void *arg);
int dtrbd_recv_msg(struct dtrbd_device *dev, struct msghdr *msg);
int dtrbd_recv_buf(struct dtrbd_device *dev, void *buf, size_t len);
bool dtrbd_rx_stopping(struct dtrbd_device *dev);

/*
 * A packet handler. The receiver has read and checked the header and read
 * the type's fixed body into @body; @payload bytes follow on the socket
 * (always 0 for a type that has none). The handler receives them.
 */
typedef int (*dtrbd_rx_fn)(struct dtrbd_device *dev, u16 type, void *body,
			   u32 payload);

/* peer_req.c: I/O on the peer's behalf */
void dtrbd_preq_free(struct dtrbd_peer_req *preq);
int dtrbd_peer_drain(struct dtrbd_device *dev);
int dtrbd_recv_write(struct dtrbd_device *dev, u16 type, void *body,
		     u32 payload);
int dtrbd_recv_read_req(struct dtrbd_device *dev, u16 type, void *body,
			u32 payload);
int dtrbd_recv_barrier(struct dtrbd_device *dev, u16 type, void *body,
		       u32 payload);
int dtrbd_recv_ov_req(struct dtrbd_device *dev, u16 type, void *body,
		      u32 payload);

/* handshake.c: state exchange, resync decision and start, promotion */
int dtrbd_recv_limits(struct dtrbd_device *dev, u16 type, void *body,
		      u32 payload);
int dtrbd_recv_state(struct dtrbd_device *dev, u16 type, void *body,
		     u32 payload);
int dtrbd_recv_bitmap(struct dtrbd_device *dev, u16 type, void *body,
		      u32 payload);
int dtrbd_recv_uuid_sync(struct dtrbd_device *dev, u16 type, void *body,
			 u32 payload);
int dtrbd_recv_sync_done(struct dtrbd_device *dev, u16 type, void *body,
			 u32 payload);
int dtrbd_recv_promote_req(struct dtrbd_device *dev, u16 type, void *body,
			   u32 payload);
int dtrbd_recv_promote_reply(struct dtrbd_device *dev, u16 type, void *body,
			     u32 payload);
int dtrbd_recv_invalidate(struct dtrbd_device *dev, u16 type, void *body,
			  u32 payload);

#endif /* DTRBD_CONN_H */
