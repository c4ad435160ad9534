#!/usr/bin/env python3
"""Measures how long an ensemble takes to accept a write again.

    failover-probe.py HOST:PORT[,HOST:PORT...] [--since EPOCH_SECONDS] [--deadline SECONDS]

Tries, round-robin over the given members, to open a new session and create a
node, each attempt bounded by short timeouts, until one succeeds; prints the
seconds from its start to that success (one number) and exits 0, or exits 1
at the deadline. A new session is itself a write in an ensemble (createSession
is a txn), so success means a leader is elected, has synchronized a quorum and
commits again. Speaks the ZooKeeper wire protocol with the standard library
only, so it measures Apache ZooKeeper and corekeeper alike.
"""

import argparse
import socket
import struct
import sys
import time


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def read_frame(sock: socket.socket) -> bytes:
    head = recv_exact(sock, 4)
    (length,) = struct.unpack(">i", head)
    if length < 0 or length > 1 << 20:
        raise OSError("bad frame length %d" % length)
    return recv_exact(sock, length)


def recv_exact(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise OSError("connection closed")
        out += chunk
    return out


def jute_str(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">i", len(b)) + b


def attempt(host: str, port: int, path: str, timeout: float) -> bool:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        # ConnectRequest: protocolVersion, lastZxidSeen, timeOut, sessionId,
        # passwd (16 zero bytes), readOnly.
        connect = struct.pack(">iqiq", 0, 0, 10000, 0) + struct.pack(">i", 16) + b"\0" * 16 + b"\0"
        sock.sendall(frame(connect))
        reply = read_frame(sock)
        _, timeout_ms, session = struct.unpack(">iiq", reply[:16])
        if session == 0 or timeout_ms <= 0:
            return False
        # create(path, "x", world:anyone ALL, EPHEMERAL): gone with the session.
        acl = struct.pack(">i", 1) + struct.pack(">i", 31) + jute_str("world") + jute_str("anyone")
        body = jute_str(path) + struct.pack(">i", 1) + b"x" + acl + struct.pack(">i", 1)
        sock.sendall(frame(struct.pack(">ii", 1, 1) + body))
        reply = read_frame(sock)
        xid, _zxid, err = struct.unpack(">iqi", reply[:16])
        ok = xid == 1 and err == 0
        # closeSession, best effort.
        try:
            sock.sendall(frame(struct.pack(">ii", 2, -11)))
        except OSError:
            pass
        return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hosts")
    parser.add_argument("--deadline", type=float, default=60.0)
    parser.add_argument("--path", default="/failover-probe")
    parser.add_argument("--attempt-timeout", type=float, default=0.25)
    parser.add_argument(
        "--since",
        type=float,
        help="measure from this wall-clock time (seconds since the epoch) instead of the probe's start",
    )
    args = parser.parse_args()
    members = []
    for hp in args.hosts.split(","):
        host, port = hp.rsplit(":", 1)
        members.append((host, int(port)))
    start = time.monotonic()
    # Time already gone before the probe started (the kill, Python's startup).
    before = time.time() - args.since if args.since else 0.0
    n = 0
    while time.monotonic() - start < args.deadline:
        host, port = members[n % len(members)]
        n += 1
        try:
            if attempt(host, port, "%s-%d-%d" % (args.path, int(start * 1000), n), args.attempt_timeout):
                print("%.4f" % (before + time.monotonic() - start))
                return 0
        except (OSError, struct.error):
            pass
        time.sleep(0.002)
    print("no write accepted within %.0fs" % args.deadline, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
