#!/usr/bin/env python3
"""The smallest ZooKeeper client the restart measurement needs, speaking the
wire protocol itself so it times corekeeper and Apache ZooKeeper alike.

  zk-first-read.py create HOST:PORT PATH DATA
      creates PATH (open ACL, persistent) or leaves it if it exists
  zk-first-read.py wait-read HOST:PORT PATH SINCE_NS [TIMEOUT_S]
      connects, asks getData(PATH), again every 2 ms until it succeeds;
      prints the milliseconds from SINCE_NS (a CLOCK_MONOTONIC time in ns,
      as `python3 -c 'import time; print(time.monotonic_ns())'` prints it,
      taken just before the server was started) to the first answer
"""
import socket
import struct
import sys
import time

OP_CREATE = 1
OP_GET_DATA = 4
ERR_NODE_EXISTS = -110


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def read_exact(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out


def read_frame(sock):
    (n,) = struct.unpack(">i", read_exact(sock, 4))
    return read_exact(sock, n)


def string(s):
    b = s.encode()
    return struct.pack(">i", len(b)) + b


def connect(addr, timeout):
    host, port = addr.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    # protocolVersion, lastZxidSeen, timeOut, sessionId, passwd, readOnly
    sock.sendall(frame(struct.pack(">iqiqi", 0, 0, 30000, 0, 16) + b"\0" * 16 + b"\0"))
    reply = read_frame(sock)
    (_, timeout_ms, session) = struct.unpack(">iiq", reply[:16])
    if timeout_ms <= 0 or session == 0:
        raise ConnectionError("session refused")
    return sock


def request(sock, xid, op, body):
    sock.sendall(frame(struct.pack(">ii", xid, op) + body))
    reply = read_frame(sock)
    (_, _, err) = struct.unpack(">iqi", reply[:16])
    return err


def create(addr, path, data):
    sock = connect(addr, 10)
    acl = struct.pack(">ii", 1, 31) + string("world") + string("anyone")
    body = string(path) + struct.pack(">i", len(data)) + data.encode() + acl + struct.pack(">i", 0)
    err = request(sock, 1, OP_CREATE, body)
    sock.close()
    if err not in (0, ERR_NODE_EXISTS):
        sys.exit(f"create {path}: error {err}")


def wait_read(addr, path, since_ns, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            sock = connect(addr, 2)
            err = request(sock, 1, OP_GET_DATA, string(path) + b"\0")
            done = time.monotonic_ns()
            sock.close()
            if err == 0:
                print(f"{(done - since_ns) / 1e6:.0f}")
                return
        except (OSError, ConnectionError, struct.error):
            pass
        time.sleep(0.002)
    sys.exit(f"no answer to getData({path}) from {addr} in {timeout_s} s")


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "create":
        create(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) >= 5 and sys.argv[1] == "wait-read":
        timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 120
        wait_read(sys.argv[2], sys.argv[3], int(sys.argv[4]), timeout)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
