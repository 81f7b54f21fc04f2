#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""hbforge.py: hostile heartbeat datagrams for the lab's auth scenario.

  hbforge.py capture --port P --src IP --count N --out FILE [--timeout S]
      record the payloads of N UDP datagrams from IP to port P as this host
      receives them (AF_PACKET, so the daemon still gets every one); one hex
      line per datagram.

  hbforge.py send --to IP:PORT --in FILE --mode MODE [--secret FILE]
                  [--rate HZ] [--duration S]
      send datagrams made from the recorded ones, cycling through them:
        wrong-key  the right format and the real key id, a sequence number
                   far ahead (fresh if it were accepted), MAC made with a
                   random key: must be dropped as a bad HMAC;
        replay     the recorded bytes unchanged: must be dropped as replayed;
        old-seq    re-signed with the RIGHT secret (--secret) but with a
                   sequence number 1000 below the recorded one: must be
                   dropped as replayed/too old;
        all        the three in turn.
      Prints "sent N" at the end.

The datagram layout is Documentation/protocol.md's "Heartbeat datagrams"
(ctl/cluster/heartbeat.cc): a 104-byte header (seq at bytes 88..95), the
resource summaries, and an HMAC-SHA256 over everything before it under
HMAC-SHA256(secret, "dtrbd heartbeat key v1").
"""
import argparse
import hashlib
import hmac
import os
import socket
import struct
import sys
import time

MAGIC = 0x44544842
SEQ_OFF = 88
MAC_LEN = 32
HEADER = 104


def heartbeat_key(secret_file):
    with open(secret_file, "rb") as f:
        s = f.read()
    # crypto::read_secret_file: one trailing newline (or CRLF) is not part
    # of the secret.
    if s.endswith(b"\n"):
        s = s[:-1]
        if s.endswith(b"\r"):
            s = s[:-1]
    return hmac.new(s, b"dtrbd heartbeat key v1", hashlib.sha256).digest()


def sign(body, key):
    return body + hmac.new(key, body, hashlib.sha256).digest()


def with_seq(d, seq):
    body = bytearray(d[:-MAC_LEN])
    struct.pack_into(">Q", body, SEQ_OFF, seq)
    return bytes(body)


def seq_of(d):
    return struct.unpack_from(">Q", d, SEQ_OFF)[0]


def capture(a):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
    s.settimeout(1.0)
    src = socket.inet_aton(a.src)
    got = []
    end = time.monotonic() + a.timeout
    while len(got) < a.count and time.monotonic() < end:
        try:
            pkt = s.recv(65535)
        except socket.timeout:
            continue
        if len(pkt) < 28 or pkt[9] != 17 or pkt[12:16] != src:
            continue
        ihl = (pkt[0] & 15) * 4
        sport, dport, ulen = struct.unpack_from(">HHH", pkt, ihl)
        if dport != a.port:
            continue
        payload = pkt[ihl + 8:ihl + ulen]
        if len(payload) < HEADER + MAC_LEN or struct.unpack_from(">I", payload)[0] != MAGIC:
            continue
        got.append(payload)
    with open(a.out, "w") as f:
        for p in got:
            f.write(p.hex() + "\n")
    print("captured %d" % len(got))
    return 0 if len(got) == a.count else 1


def send(a):
    with open(a.inp) as f:
        recs = [bytes.fromhex(line.strip()) for line in f if line.strip()]
    if not recs:
        print("hbforge: no recorded datagrams in " + a.inp, file=sys.stderr)
        return 2
    key = None
    if a.mode in ("old-seq", "all"):
        if not a.secret:
            print("hbforge: --mode %s needs --secret" % a.mode, file=sys.stderr)
            return 2
        key = heartbeat_key(a.secret)
    ip, port = a.to.rsplit(":", 1)
    dst = (ip, int(port))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    modes = ["wrong-key", "replay", "old-seq"] if a.mode == "all" else [a.mode]
    n = 0
    end = time.monotonic() + a.duration
    gap = 1.0 / a.rate
    while time.monotonic() < end:
        d = recs[n % len(recs)]
        m = modes[n % len(modes)]
        if m == "wrong-key":
            out = sign(with_seq(d, seq_of(d) + 1000000), os.urandom(32))
        elif m == "replay":
            out = d
        else:
            out = sign(with_seq(d, max(1, seq_of(d) - 1000)), key)
        try:
            s.sendto(out, dst)
        except OSError as e:
            print("hbforge: send: %s" % e, file=sys.stderr)
        n += 1
        time.sleep(gap)
    print("sent %d" % n)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("capture")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--src", required=True)
    c.add_argument("--count", type=int, default=20)
    c.add_argument("--out", required=True)
    c.add_argument("--timeout", type=float, default=30)
    s = sub.add_parser("send")
    s.add_argument("--to", required=True)
    s.add_argument("--in", dest="inp", required=True)
    s.add_argument("--mode", choices=["wrong-key", "replay", "old-seq", "all"], required=True)
    s.add_argument("--secret")
    s.add_argument("--rate", type=float, default=20)
    s.add_argument("--duration", type=float, default=10)
    a = p.parse_args()
    return capture(a) if a.cmd == "capture" else send(a)


if __name__ == "__main__":
    sys.exit(main())
