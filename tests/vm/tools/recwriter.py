#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Numbered, checksummed 4 KiB records for the crash tests.

write DEV FIRST_BLOCK ACKED_FILE [--seed S]
    Writes record n (n = 0, 1, ...) to block FIRST_BLOCK + n of DEV with
    O_DIRECT|O_DSYNC, and after each write returns appends "n" to
    ACKED_FILE (flushed), until killed. Each record: magic, n, seed, a
    payload derived from (seed, n), and a crc32 of all that.
check DEV FIRST_BLOCK ACKED_FILE
    Every record listed in ACKED_FILE must be on DEV, intact. Prints how
    many were checked; exits 1 naming the first bad record.
"""
import mmap
import os
import struct
import sys
import zlib

BLOCK = 4096
MAGIC = 0x64745243  # "dtRC"
HDR = struct.Struct("<IIQQ")  # magic, crc, n, seed


def record(n, seed):
    payload = bytearray()
    x = (seed * 1000003 + n) & 0xFFFFFFFFFFFFFFFF
    while len(payload) < BLOCK - HDR.size:
        x = (x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        payload += struct.pack("<Q", x)
    payload = bytes(payload[: BLOCK - HDR.size])
    crc = zlib.crc32(struct.pack("<QQ", n, seed) + payload)
    return HDR.pack(MAGIC, crc, n, seed) + payload


def write(dev, first, acked, seed):
    fd = os.open(dev, os.O_WRONLY | os.O_DIRECT | os.O_DSYNC)
    buf = mmap.mmap(-1, BLOCK)  # page aligned, as O_DIRECT needs
    with open(acked, "a") as log:
        n = 0
        while True:
            buf.seek(0)
            buf.write(record(n, seed))
            if os.pwritev(fd, [buf], (first + n) * BLOCK) != BLOCK:
                sys.exit("short write")
            log.write("%d %d\n" % (n, seed))
            log.flush()
            n += 1


def check(dev, first, acked):
    fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, BLOCK)
    checked = 0
    with open(acked) as log:
        for line in log:
            parts = line.split()
            if len(parts) != 2:
                continue  # a torn last line: never acknowledged
            n, seed = int(parts[0]), int(parts[1])
            os.preadv(fd, [buf], (first + n) * BLOCK)
            if bytes(buf) != record(n, seed):
                magic, crc, got_n, got_seed = HDR.unpack_from(buf)
                sys.exit("record %d (seed %d) is missing or damaged: found magic %#x n %d seed %d"
                         % (n, seed, magic, got_n, got_seed))
            checked += 1
    print(checked)


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "write":
        seed = int(sys.argv[6]) if len(sys.argv) > 6 and sys.argv[5] == "--seed" else 1
        write(sys.argv[2], int(sys.argv[3]), sys.argv[4], seed)
    elif len(sys.argv) == 5 and sys.argv[1] == "check":
        check(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(__doc__)
