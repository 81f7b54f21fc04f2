#!/usr/bin/env python3
"""A fake dtrbd peer for the lab: it hands one end of a loopback TCP
connection to the module (DTRBD_CMD_CONNECT, as dtrbdctl does after its
userspace handshake) and speaks the wire protocol (Documentation/
protocol.md) on the other end, so a scenario can make the peer do what a
real one never would. Run as root in a guest with the module loaded and
device MINOR attached (Secondary, UpToDate).

  peer.py connect-race MINOR ROUNDS
      ROUNDS times: connect and finish the state exchange; wait 2 s (the
      lab sets the module's fault_teardown_delay_ms to 1500, so the
      previous connection's teardown, still running when this CONNECT
      came, has gone as far as it goes); make the receiver use its
      receive page (a P_OV_REPLY for no request: the module must refuse
      it and disconnect); wait until the device is StandAlone again and
      reconnect at once, inside the next teardown's window. Exit 0 when
      every round ended with the refusal.
  peer.py hostile MINOR CASE
      connect, finish the state exchange, then misbehave (CASE below);
      exit 0 when the module closed the connection within 20 s and the
      device is StandAlone, 1 otherwise.
        uuid-sync-primary  P_UUID_SYNC while the device is Primary
        state-primary      P_STATE saying Primary, no P_PROMOTE_REQ first
        uuid-sync-syncing  P_UUID_SYNC while we claim a resync runs
        data-secondary     P_DATA (4 KiB at sector 0) while we are Secondary
  peer.py pin MINOR MIB DM
      connect, become Primary the proper way (P_PROMOTE_REQ, granted, then
      P_STATE: the module must accept that), suspend the device-mapper
      device DM under the module's disk (so that no write completes),
      send MIB one-MiB P_DATA writes as
      fast as the module reads them, print how many MiB it took in within
      8 s, resume DM and close.
  peer.py flood SECONDS
      GET_DEVICE requests (a dump) as fast as they go for SECONDS or
      until the family disappears; exit 0 either way, 1 on an
      unexpected reply.
"""
import os
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import genl  # noqa: E402

PROTO = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                     "../../../kmod/dtrbd_protocol.h")
MAGIC = 0x64745242
P = {}
for line in open(PROTO):
    f = line.split()
    if len(f) >= 3 and f[0].startswith("P_") and f[1] == "=":
        P[f[0]] = int(f[2].rstrip(","))

CMD = genl.uapi_enum("dtrbd_cmd", "DTRBD_CMD_")
A = genl.uapi_enum("dtrbd_attr", "DTRBD_A_")
ROLE = genl.uapi_enum("dtrbd_role", "DTRBD_ROLE_")
CONN = genl.uapi_enum("dtrbd_conn_state", "DTRBD_CONN_")
DISK = genl.uapi_enum("dtrbd_disk_state", "DTRBD_DISK_")
SYNC = genl.uapi_enum("dtrbd_sync_state", "DTRBD_SYNC_")


class Genl:
    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW,
                                  genl.NETLINK_GENERIC)
        self.sock.setsockopt(genl.SOL_NETLINK, genl.NETLINK_EXT_ACK, 1)
        self.sock.setsockopt(genl.SOL_NETLINK, genl.NETLINK_CAP_ACK, 1)
        self.fid = genl.family_id(self.sock, "dtrbd")
        if self.fid is None:
            raise OSError("no dtrbd family (module not loaded?)")
        self.seq = 100

    def request(self, cmd, attrs=b"", dump=False):
        """(errno, extack message, [attribute dict of each reply])"""
        self.seq += 1
        body = struct.pack("=BBH", CMD[cmd], 1, 0) + attrs
        flags = genl.NLM_F_REQUEST | (0x300 if dump else genl.NLM_F_ACK)
        self.sock.send(struct.pack("=IHHII", 16 + len(body), self.fid,
                                   flags, self.seq, 0) + body)
        replies = []
        while True:
            buf = self.sock.recv(1 << 20)
            off = 0
            while off + 16 <= len(buf):
                mlen, mtype = struct.unpack_from("=IH", buf, off)
                msg = buf[off:off + mlen]
                off += (mlen + 3) & ~3
                if mtype == genl.NLMSG_ERROR:
                    err = -struct.unpack_from("=i", msg, 16)[0]
                    text = ""
                    for t, p in genl.attrs(msg[36:]):
                        if t == genl.NLMSGERR_ATTR_MSG:
                            text = p.rstrip(b"\0").decode()
                    return err, text, replies
                if mtype == 3:  # NLMSG_DONE
                    return 0, "", replies
                replies.append(dict(genl.attrs(msg[20:])))

    def status(self, minor):
        err, text, r = self.request("DTRBD_CMD_GET_DEVICE", u32(A["DTRBD_A_MINOR"], minor))
        if err or not r:
            raise OSError(f"GET_DEVICE {minor}: error {err}: {text}")
        s = r[0]
        return {
            "conn": s[A["DTRBD_A_CONN"]][0],
            "role": s[A["DTRBD_A_ROLE"]][0],
            "peer_role": s[A["DTRBD_A_PEER_ROLE"]][0],
            "disk": s[A["DTRBD_A_DISK"]][0],
            "size": struct.unpack("=Q", s[A["DTRBD_A_SIZE_BYTES"]][:8])[0],
            "current_uuid": struct.unpack("=Q", s[A["DTRBD_A_CURRENT_UUID"]][:8])[0],
            "bitmap_uuid": struct.unpack("=Q", s[A["DTRBD_A_BITMAP_UUID"]][:8])[0],
            "received": struct.unpack("=Q", s[A["DTRBD_A_RECEIVED_BYTES"]][:8])[0],
        }

    def wait_conn(self, minor, want, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            st = self.status(minor)
            if st["conn"] == CONN[want]:
                return st
            time.sleep(0.02)
        raise TimeoutError(f"dtrbd{minor} not {want} within {timeout} s "
                           f"(connection state {self.status(minor)['conn']})")


def u32(t, v):
    return genl.nla(t, struct.pack("=I", v))


def pkt(ptype, body=b"", seq=0):
    return struct.pack(">IHHII", MAGIC, ptype, 0, len(body), seq) + body


def p_state(role, disk, size, cur, bm=0, sync=0):
    return struct.pack(">BBBBB3xQQQQQQ", ROLE[role], DISK[disk], sync, 0, 0,
                       size, cur, bm, 0, 0, 0)


class Peer:
    """One connection: our end of the socket, a reader thread that counts
    the module's packets, a pinger that keeps the module's receiver from
    timing out."""

    def __init__(self, nl, minor):
        self.nl, self.minor = nl, minor
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.bind(("127.0.0.1", 0))
        lst.listen(1)
        kern = socket.create_connection(lst.getsockname())
        self.sock, _ = lst.accept()
        lst.close()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.types = []
        self.closed = threading.Event()
        self.lock = threading.Lock()
        attrs = (u32(A["DTRBD_A_MINOR"], minor) +
                 u32(A["DTRBD_A_SOCK_FD"], kern.fileno()) +
                 u32(A["DTRBD_A_PING_MS"], 500) +
                 u32(A["DTRBD_A_TIMEOUT_MS"], 5000) +
                 genl.nla(A["DTRBD_A_PEER_NAME"], b"hostile\0"))
        err, text, _ = nl.request("DTRBD_CMD_CONNECT", attrs)
        kern.close()  # the module holds its own reference now
        if err:
            raise OSError(f"CONNECT refused: error {err}: {text}")
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._ping, daemon=True).start()

    def _read(self):
        buf = b""
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    break
                buf += d
                while len(buf) >= 16:
                    magic, t, _, length, _ = struct.unpack_from(">IHHII", buf)
                    if len(buf) < 16 + length:
                        break
                    self.types.append(t)
                    buf = buf[16 + length:]
        except OSError:
            pass
        self.closed.set()

    def _ping(self):
        while not self.closed.wait(0.4):
            try:
                self.send(pkt(P["P_PING"]))
            except OSError:
                return

    def send(self, data):
        with self.lock:
            self.sock.sendall(data)

    def handshake(self, st):
        """Our P_STATE: the same data generation, Secondary, UpToDate."""
        self.send(pkt(P["P_STATE"], p_state("DTRBD_ROLE_SECONDARY",
                                            "DTRBD_DISK_UPTODATE", st["size"],
                                            st["current_uuid"])))
        self.nl.wait_conn(self.minor, "DTRBD_CONN_CONNECTED", 20)

    def wait_closed(self, timeout):
        ok = self.closed.wait(timeout)
        self.sock.close()
        return ok


def connect_race(minor, rounds):
    nl = Genl()
    for i in range(rounds):
        st = nl.wait_conn(minor, "DTRBD_CONN_STANDALONE", 30)
        peer = Peer(nl, minor)
        peer.handshake(st)
        time.sleep(2.0)
        # blocks=1, one byte of payload: read into the receive page
        body = struct.pack(">QQII", 12345, 0, 1, 0) + b"\x01"
        peer.send(pkt(P["P_OV_REPLY"], body))
        if not peer.wait_closed(20):
            print(f"round {i}: the module did not refuse the unexpected P_OV_REPLY", file=sys.stderr)
            return 1
        print(f"round {i}: connected, refused, disconnected")
    nl.wait_conn(minor, "DTRBD_CONN_STANDALONE", 30)
    return 0


def hostile(minor, case):
    nl = Genl()
    st = nl.wait_conn(minor, "DTRBD_CONN_STANDALONE", 30)
    peer = Peer(nl, minor)
    peer.handshake(st)
    if case == "uuid-sync-primary":
        if st["role"] != ROLE["DTRBD_ROLE_PRIMARY"]:
            print("the device must be Primary for this case", file=sys.stderr)
            return 2
        peer.send(pkt(P["P_UUID_SYNC"], struct.pack(">Q", 0x1234567890abcdef)))
    elif case == "uuid-sync-syncing":
        # we are an Inconsistent resync target now; our "identical data"
        # claim contradicts that
        peer.send(pkt(P["P_STATE"], p_state("DTRBD_ROLE_SECONDARY",
                                            "DTRBD_DISK_INCONSISTENT", st["size"],
                                            st["current_uuid"],
                                            sync=SYNC["DTRBD_SYNC_TARGET"])))
        time.sleep(0.5)
        peer.send(pkt(P["P_UUID_SYNC"], struct.pack(">Q", 0x1234567890abcdef)))
    elif case == "data-secondary":
        # an application write from a peer that is Secondary (it never
        # asked to be Primary): the module must refuse it, not write it
        body = struct.pack(">QQII", 77, 0, 4096, 0)
        peer.send(pkt(P["P_DATA"], body + b"\x5a" * 4096))
    elif case == "state-primary":
        peer.send(pkt(P["P_STATE"], p_state("DTRBD_ROLE_PRIMARY",
                                            "DTRBD_DISK_UPTODATE", st["size"],
                                            st["current_uuid"])))
    else:
        print(f"unknown case {case}", file=sys.stderr)
        return 2
    if not peer.wait_closed(20):
        print(f"{case}: the module kept the connection", file=sys.stderr)
        return 1
    after = nl.wait_conn(minor, "DTRBD_CONN_STANDALONE", 20)
    if after["current_uuid"] != st["current_uuid"]:
        print(f"{case}: the data generation changed: {st['current_uuid']:016x} -> "
              f"{after['current_uuid']:016x}", file=sys.stderr)
        return 1
    print(f"{case}: refused, disconnected, generation unchanged")
    return 0


def pin(minor, mib, dm):
    nl = Genl()
    st = nl.wait_conn(minor, "DTRBD_CONN_STANDALONE", 30)
    peer = Peer(nl, minor)
    peer.handshake(st)
    peer.send(pkt(P["P_PROMOTE_REQ"]))
    end = time.monotonic() + 10
    while P["P_PROMOTE_REPLY"] not in peer.types:
        if time.monotonic() > end or peer.closed.is_set():
            print("no answer to P_PROMOTE_REQ", file=sys.stderr)
            return 1
        time.sleep(0.05)
    peer.send(pkt(P["P_STATE"], p_state("DTRBD_ROLE_PRIMARY", "DTRBD_DISK_UPTODATE",
                                        st["size"], st["current_uuid"])))
    time.sleep(0.5)
    if peer.closed.is_set() or nl.status(minor)["peer_role"] != ROLE["DTRBD_ROLE_PRIMARY"]:
        print("a granted promotion was not accepted", file=sys.stderr)
        return 1
    # after the handshake: it must not wait for a stalled disk
    subprocess.run(["dmsetup", "suspend", "--noudevsync", "--noflush", dm], check=True)
    # 128 KiB writes: within any disk's largest bio (a dm disk's may be
    # below 1 MiB, and the module refuses a write larger than its limits)
    chunk = 128 << 10
    payload = b"\xa5" * chunk
    sent = [0]

    def writer():
        for i in range(mib * ((1 << 20) // chunk)):
            body = struct.pack(">QQII", 1000 + i, i * (chunk >> 9), chunk, 0)
            try:
                peer.send(pkt(P["P_DATA"], body + payload))  # the length covers the payload
            except OSError:
                return
            sent[0] = (i + 1) * chunk >> 20

    threading.Thread(target=writer, daemon=True).start()
    try:
        time.sleep(8)
        took = nl.status(minor)["received"] >> 20
    finally:
        subprocess.run(["dmsetup", "resume", "--noudevsync", dm], check=True)
    print(f"sent {sent[0]} MiB, the module took in {took} MiB")
    try:
        peer.sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass	# the module closed it already
    peer.wait_closed(20)
    return 0


def flood(seconds):
    nl = Genl()
    print("flooding", flush=True)	# the scenario's rmmod waits for this
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        try:
            err, text, _ = nl.request("DTRBD_CMD_GET_DEVICE", dump=True)
        except OSError as e:
            print(f"after {n} requests: {e}")
            return 0
        if err and err not in (2, 19):  # ENOENT/ENODEV: family gone
            print(f"unexpected error {err}: {text}", file=sys.stderr)
            return 1
        if err:
            print(f"after {n} requests: the family is gone (error {err})")
            return 0
        n += 1
    print(f"{n} requests")
    return 0


def main():
    a = sys.argv[1:]
    if len(a) == 3 and a[0] == "connect-race":
        return connect_race(int(a[1]), int(a[2]))
    if len(a) == 3 and a[0] == "hostile":
        return hostile(int(a[1]), a[2])
    if len(a) == 4 and a[0] == "pin":
        return pin(int(a[1]), int(a[2]), a[3])
    if len(a) == 2 and a[0] == "flood":
        return flood(float(a[1]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
