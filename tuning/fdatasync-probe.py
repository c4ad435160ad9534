#!/usr/bin/env python3
"""The disk's own floor for a durable write, measured as corekeeper's log writes:
a 4 KiB O_DIRECT pwrite into a preallocated file, then fdatasync, one after the
other. Prints the latency percentiles in microseconds.

    python3 tuning/fdatasync-probe.py [DIR] [COUNT]

DIR is the directory to probe (default: the current one; use the dataLogDir's
file system), COUNT the number of write+fdatasync pairs (default 2000).
"""

import mmap
import os
import sys
import time

directory = sys.argv[1] if len(sys.argv) > 1 else "."
count = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
block = 4096
path = os.path.join(directory, f".fdatasync-probe-{os.getpid()}")
flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC | getattr(os, "O_DIRECT", 0)
fd = os.open(path, flags, 0o600)
try:
    size = 64 << 20
    os.posix_fallocate(fd, 0, size)
    buffer = mmap.mmap(-1, block)  # page aligned, as O_DIRECT needs
    buffer.write(b"\x5a" * block)
    samples = []
    offset = 0
    for _ in range(count):
        start = time.perf_counter_ns()
        os.pwritev(fd, [buffer], offset)
        os.fdatasync(fd)
        samples.append((time.perf_counter_ns() - start) / 1000)
        offset = (offset + block) % size
    samples.sort()

    def pct(p):
        return samples[min(len(samples) - 1, int(p / 100 * len(samples)))]

    print(
        f"fdatasync probe: {count} x (4 KiB O_DIRECT pwrite + fdatasync) in {directory}: "
        f"p50 {pct(50):.0f} us, p90 {pct(90):.0f} us, p99 {pct(99):.0f} us, "
        f"p99.9 {pct(99.9):.0f} us, max {samples[-1]:.0f} us, "
        f"{1e6 / (sum(samples) / len(samples)):.0f} syncs/s"
    )
finally:
    os.close(fd)
    os.unlink(path)
