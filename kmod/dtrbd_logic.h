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

/* What one side knows about a disk when a connection is established. */
struct dtrbd_gen {
	__u8 disk;		/* enum dtrbd_disk_state */
	__u64 current_uuid;
	__u64 bitmap_uuid;
};

enum dtrbd_sync_decision {
	DTRBD_DEC_NONE,		/* both hold the same data */
	DTRBD_DEC_SOURCE,	/* we send, the peer receives */
	DTRBD_DEC_TARGET,	/* we receive */
	DTRBD_DEC_BOTH_INCONSISTENT,	/* nothing to sync from: wait */
	DTRBD_DEC_SPLIT_BRAIN,	/* both changed since they last agreed */
	DTRBD_DEC_UNRELATED,	/* no common history at all */
};

/*
 * Decide the resync direction from both sides' generation identifiers.
 *
 * The rules are symmetric: given (a, b) one side computes X and given
 * (b, a) the other computes the mirror of X, so both sides agree without
 * another round trip. Documentation/architecture.md has the table.
 */
static inline enum dtrbd_sync_decision
dtrbd_decide_sync(const struct dtrbd_gen *me, const struct dtrbd_gen *peer)
{
	int me_ok = me->disk == DTRBD_DISK_UPTODATE;
	int peer_ok = peer->disk == DTRBD_DISK_UPTODATE;

	if (!me_ok && !peer_ok)
		return DTRBD_DEC_BOTH_INCONSISTENT;
	if (!peer_ok)
		return DTRBD_DEC_SOURCE;
	if (!me_ok)
		return DTRBD_DEC_TARGET;
	if (me->current_uuid == peer->current_uuid)
		return DTRBD_DEC_NONE;
	if (me->bitmap_uuid && me->bitmap_uuid == peer->current_uuid)
		return DTRBD_DEC_SOURCE;
	if (peer->bitmap_uuid && peer->bitmap_uuid == me->current_uuid)
		return DTRBD_DEC_TARGET;
	if (me->bitmap_uuid && me->bitmap_uuid == peer->bitmap_uuid)
		return DTRBD_DEC_SPLIT_BRAIN;
	return DTRBD_DEC_UNRELATED;
}

#endif /* DTRBD_LOGIC_H */
