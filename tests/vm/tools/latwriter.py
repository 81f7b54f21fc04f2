#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Concurrent O_DIRECT writes with a latency bound and a progress log.

latwriter.py DEV --progress FILE [options]

THREADS writer threads (each one write in flight: the queue depth) write
random data of random sizes (from --sizes) at random offsets, aligned to
--align, inside [--offset, --offset + --region) of DEV with O_DIRECT, each
calling fsync(DEV) after every --fsync-every of its writes (0: never).
They run for --duration seconds or until --stop-file exists.

Every second a progress line goes to FILE (flushed):
    <unix time> ops=N bytes=N errors=N max_lat=S oldest=S
where oldest is how long the longest-waiting write or fsync still in flight
has been waiting (0 when none is).  A write or fsync that has waited longer
than --bound seconds is reported once as a line "STUCK ...".

At the end one line "done ops=N bytes=N errors=N max_lat=S" goes to FILE and
stdout; the exit code is 1 if any write or fsync failed, 2 if any took longer
than --bound, else 0.  A write that never returns keeps the process alive:
the caller notices because it does not end (and from the progress log).
"""
import argparse
import mmap
import os
import random
import sys
import threading
import time


def parse_size(text):
    mult = {"k": 1024, "m": 1024 * 1024}
    t = text.strip().lower()
    if t and t[-1] in mult:
        return int(t[:-1]) * mult[t[-1]]
    return int(t)


class State:
    def __init__(self, nthreads):
        self.lock = threading.Lock()
        self.ops = 0
        self.bytes = 0
        self.errors = 0
        self.max_lat = 0.0
        self.over_bound = 0
        self.started = [None] * nthreads  # start time of the op in flight
        self.first_error = None


def worker(idx, args, st, stop, fd):
    rnd = random.Random(args.seed * 1000 + idx)
    maxsize = max(args.sizes)
    buf = mmap.mmap(-1, maxsize)  # page aligned, as O_DIRECT needs
    n = 0
    while not stop.is_set():
        size = rnd.choice(args.sizes)
        slots = (args.region - size) // args.align + 1
        off = args.offset + rnd.randrange(slots) * args.align
        buf.seek(0)
        buf.write(os.urandom(size))
        ops = [("write", size, off)]
        n += 1
        if args.fsync_every and n % args.fsync_every == 0:
            ops.append(("fsync", 0, 0))
        for kind, sz, o in ops:
            t0 = time.monotonic()
            with st.lock:
                st.started[idx] = t0
            err = None
            try:
                if kind == "write":
                    done = os.pwritev(fd, [memoryview(buf)[:sz]], o)
                    if done != sz:
                        err = "short write: %d of %d bytes at %d" % (done, sz, o)
                else:
                    os.fsync(fd)
            except OSError as e:
                err = "%s of %d bytes at %d: %s" % (kind, sz, o, e)
            lat = time.monotonic() - t0
            with st.lock:
                st.started[idx] = None
                st.ops += 1
                if kind == "write" and not err:
                    st.bytes += sz
                if lat > st.max_lat:
                    st.max_lat = lat
                if lat > args.bound:
                    st.over_bound += 1
                if err:
                    st.errors += 1
                    if st.first_error is None:
                        st.first_error = err
            if err:
                time.sleep(0.1)  # a failing device: do not spin


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dev")
    p.add_argument("--progress", required=True)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--sizes", default="4k,16k,64k")
    p.add_argument("--align", default="4k")
    p.add_argument("--offset", default="0")
    p.add_argument("--region", default="16m")
    p.add_argument("--fsync-every", type=int, default=0)
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--stop-file")
    p.add_argument("--bound", type=float, default=30)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    args.sizes = [parse_size(s) for s in args.sizes.split(",")]
    args.align = parse_size(args.align)
    args.offset = parse_size(args.offset)
    args.region = parse_size(args.region)
    if any(s % args.align or s > args.region for s in args.sizes):
        sys.exit("latwriter: every size must be a multiple of --align and fit in --region")

    fd = os.open(args.dev, os.O_WRONLY | os.O_DIRECT)
    st = State(args.threads)
    stop = threading.Event()
    threads = [threading.Thread(target=worker, args=(i, args, st, stop, fd), daemon=True)
               for i in range(args.threads)]
    for t in threads:
        t.start()
    end = time.monotonic() + args.duration
    stuck_reported = False
    with open(args.progress, "a") as log:
        def line(text):
            log.write(text + "\n")
            log.flush()

        def snapshot():
            now = time.monotonic()
            with st.lock:
                oldest = max((now - s for s in st.started if s is not None), default=0.0)
                return (st.ops, st.bytes, st.errors, st.max_lat, oldest)

        while True:
            finished = time.monotonic() >= end or (
                args.stop_file and os.path.exists(args.stop_file))
            if finished:
                stop.set()
            ops, nbytes, errors, max_lat, oldest = snapshot()
            line("%.3f ops=%d bytes=%d errors=%d max_lat=%.3f oldest=%.3f" %
                 (time.time(), ops, nbytes, errors, max_lat, oldest))
            if oldest > args.bound and not stuck_reported:
                stuck_reported = True
                line("STUCK a write or fsync has been waiting %.1fs (bound %gs)" %
                     (oldest, args.bound))
            if finished and not any(t.is_alive() for t in threads):
                break
            time.sleep(1)
        ops, nbytes, errors, max_lat, _ = snapshot()
        summary = "done ops=%d bytes=%d errors=%d max_lat=%.3f" % (ops, nbytes, errors, max_lat)
        if st.first_error:
            summary += " first_error=%s" % st.first_error
        line(summary)
    print(summary)
    os.close(fd)
    if errors:
        sys.exit(1)
    if st.over_bound:
        sys.exit(2)


if __name__ == "__main__":
    main()
