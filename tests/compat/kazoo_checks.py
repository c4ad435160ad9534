#!/usr/bin/env python3
"""Real-client compatibility checks: kazoo against a ZooKeeper-compatible server.

Self-contained: plain asserts plus a tiny runner that prints PASS/FAIL per
check and a closing line "kazoo: N passed, M failed"; exit status 1 on any
failure. Every expectation was recorded against Apache ZooKeeper 3.8 (Debian
bookworm, standalone, tickTime=2000, extendedTypesEnabled=true, 4lw
whitelist *). Run:

    python3 kazoo_checks.py --hosts 127.0.0.1:2181 [-k SUBSTRING] [--list]

Each client gets its own logger; kazoo logs every raw watch notification it
reads off the wire ("Received EVENT"), so the checks count events as the server
sent them, not as kazoo dispatched them to callbacks.
"""

import argparse
import base64
import hashlib
import json
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
import uuid

# The server's role as srvr/mntr report it ("follower" when the suite runs
# against an ensemble member).
EXPECT_MODE = os.environ.get("COMPAT_EXPECT_MODE", "standalone")

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (
    AuthFailedError,
    MarshallingError,
    NoWatcherError,
    BadArgumentsError,
    BadVersionError,
    InvalidACLError,
    NoAuthError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    ReconfigDisabledError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.serialization import (
    int_struct,
    long_struct,
    multiheader_struct,
    read_buffer,
    read_string,
    stat_struct,
    write_buffer,
    write_string,
)
from kazoo.protocol.states import ZnodeStat
from kazoo.recipe.cache import TreeCache, TreeEvent
from kazoo.security import ACL, OPEN_ACL_UNSAFE, Id, make_acl, make_digest_acl

CHECK_TIMEOUT = 60.0  # seconds per check
SESSION_TIMEOUT = 4.0  # seconds; = 2 * tickTime, the minimum the server allows
EV_CREATED, EV_DELETED, EV_CHANGED, EV_CHILD = 1, 2, 3, 4
EV_NAMES = {1: "NodeCreated", 2: "NodeDeleted", 3: "NodeDataChanged", 4: "NodeChildrenChanged"}


# --------------------------------------------------------------------------
# assertion helpers


def eq(actual, expected, what=""):
    if actual != expected:
        raise AssertionError("%s: expected %r, got %r" % (what or "value", expected, actual))


def ok(cond, what):
    if not cond:
        raise AssertionError(what)


def raises(exc_type, fn, what=""):
    """fn() must raise exactly exc_type (not a subclass or a parent)."""
    try:
        result = fn()
    except Exception as e:  # noqa: BLE001 - we want to report anything
        if type(e) is not exc_type:
            raise AssertionError(
                "%s: expected %s, got %s(%s)" % (what, exc_type.__name__, type(e).__name__, e)
            )
        return e
    raise AssertionError("%s: expected %s, got result %r" % (what, exc_type.__name__, result))


def wait_for(cond, timeout=10.0, what="condition", interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def quietly(fn, *args):
    """Thread target that swallows errors (used where the check itself closes
    the session under a recipe that is still running)."""

    def run():
        try:
            fn(*args)
        except Exception:  # noqa: BLE001
            pass

    return run


def types_of(results):
    return [type(r).__name__ if isinstance(r, Exception) else r for r in results]


# --------------------------------------------------------------------------
# event spy: records the raw watch notifications a kazoo client reads


class EventSpy(logging.Handler):
    def __init__(self):
        super().__init__(level=1)
        self.events = []
        self.negotiated_timeout = None
        self.expired = 0
        self._evlock = threading.Lock()

    def emit(self, record):
        msg = record.msg
        if msg == "Received EVENT: %s":
            w = record.args[0] if isinstance(record.args, tuple) else record.args
            with self._evlock:
                self.events.append((w.type, w.path))
        elif msg == "Session has expired":
            self.expired += 1
        elif isinstance(msg, str) and msg.startswith("Session created") and record.args:
            self.negotiated_timeout = record.args[2]

    def snapshot(self, path_prefix=None):
        with self._evlock:
            evs = list(self.events)
        if path_prefix is not None:
            evs = [e for e in evs if e[1] == path_prefix or e[1].startswith(path_prefix + "/")]
        return evs

    def clear(self):
        with self._evlock:
            self.events.clear()


def named(events):
    return [(EV_NAMES.get(t, t), p) for t, p in events]


# --------------------------------------------------------------------------
# requests kazoo has no API for (same framing, our own records): createTTL,
# createContainer, addWatch, check/removeWatches, getEphemerals,
# getAllChildrenNumber, whoAmI, multiRead. Sent through kazoo's connection so
# that xids, pings and notifications stay kazoo's business.


def _acl_bytes(acl):
    b = bytearray(int_struct.pack(len(acl)))
    for a in acl:
        b.extend(int_struct.pack(a.perms) + write_string(a.id.scheme) + write_string(a.id.id))
    return bytes(b)


def _create2_response(buf, off):
    path, off = read_string(buf, off)
    return path, ZnodeStat._make(stat_struct.unpack_from(buf, off))


def _read_strings(buf, off):
    n = int_struct.unpack_from(buf, off)[0]
    off += 4
    out = []
    for _ in range(max(n, 0)):
        item, off = read_string(buf, off)
        out.append(item)
    return out, off


class _Req:
    """Base for raw requests. Instances must be truthy: kazoo skips the reply
    of a falsy request object."""

    def __bool__(self):
        return True


class CreateTTLReq(_Req):
    type = 21

    def __init__(self, path, data, flags, ttl, acl=OPEN_ACL_UNSAFE):
        self.path, self.data, self.flags, self.ttl, self.acl = path, data, flags, ttl, acl

    def serialize(self):
        return (
            write_string(self.path) + write_buffer(self.data) + _acl_bytes(self.acl)
            + int_struct.pack(self.flags) + long_struct.pack(self.ttl)
        )

    @classmethod
    def deserialize(cls, buf, off):
        return _create2_response(buf, off)


class CreateContainerReq(_Req):
    type = 19

    def __init__(self, path, data, acl=OPEN_ACL_UNSAFE):
        self.path, self.data, self.acl = path, data, acl

    def serialize(self):
        return write_string(self.path) + write_buffer(self.data) + _acl_bytes(self.acl) + int_struct.pack(4)

    @classmethod
    def deserialize(cls, buf, off):
        return _create2_response(buf, off)


class AddWatchReq(_Req):
    type = 106

    def __init__(self, path, mode):
        self.path, self.mode = path, mode

    def serialize(self):
        return write_string(self.path) + int_struct.pack(self.mode)

    @classmethod
    def deserialize(cls, buf, off):
        return ("ErrorResponse", int_struct.unpack_from(buf, off)[0], len(buf) - off)


class RemoveWatchesReq(_Req):
    type = 18

    def __init__(self, path, wtype):
        self.path, self.wtype = path, wtype

    def serialize(self):
        return write_string(self.path) + int_struct.pack(self.wtype)

    @classmethod
    def deserialize(cls, buf, off):
        return len(buf) - off  # body length: none expected


class CheckWatchesReq(RemoveWatchesReq):
    type = 17


class GetEphemeralsReq(_Req):
    type = 103

    def __init__(self, prefix):
        self.prefix = prefix

    def serialize(self):
        return write_string(self.prefix)

    @classmethod
    def deserialize(cls, buf, off):
        return _read_strings(buf, off)[0]


class GetAllChildrenNumberReq(_Req):
    type = 104

    def __init__(self, path):
        self.path = path

    def serialize(self):
        return write_string(self.path)

    @classmethod
    def deserialize(cls, buf, off):
        return int_struct.unpack_from(buf, off)[0]


class WhoAmIReq(_Req):
    type = 107

    def serialize(self):
        return b""

    @classmethod
    def deserialize(cls, buf, off):
        n = int_struct.unpack_from(buf, off)[0]
        off += 4
        out = []
        for _ in range(max(n, 0)):
            scheme, off = read_string(buf, off)
            user, off = read_string(buf, off)
            out.append((scheme, user))
        return out


class MultiReadReq(_Req):
    """ops: list of ("data" | "children", path)."""

    type = 22

    def __init__(self, ops):
        self.ops = ops

    def serialize(self):
        b = bytearray()
        for kind, path in self.ops:
            b.extend(multiheader_struct.pack(4 if kind == "data" else 8, False, -1) + write_string(path) + b"\x00")
        return bytes(b + multiheader_struct.pack(-1, True, -1))

    @classmethod
    def deserialize(cls, buf, off):
        out = []
        while True:
            t, done, err = multiheader_struct.unpack_from(buf, off)
            off += multiheader_struct.size
            if done:
                return out
            if t == 4:
                data, off = read_buffer(buf, off)
                out.append(("data", data, ZnodeStat._make(stat_struct.unpack_from(buf, off))))
                off += stat_struct.size
            elif t == 8:
                kids, off = _read_strings(buf, off)
                out.append(("children", sorted(kids)))
            elif t == -1:
                out.append(("error", int_struct.unpack_from(buf, off)[0]))
                off += 4
            else:
                out.append(("unexpected-type", t, err))
                return out


def call(client, request, timeout=10):
    result = client.handler.async_result()
    client._call(request, result)
    return result.get(timeout=timeout)


# --------------------------------------------------------------------------
# a bare socket client, for the handshake and for malformed input


class Wire:
    def __init__(self, hosts):
        host, port = hosts.rsplit(":", 1)
        self.addr = (host, int(port))
        self.sock = socket.create_connection(self.addr, timeout=5)

    def _recv_exact(self, n):
        b = b""
        while len(b) < n:
            chunk = self.sock.recv(n - len(b))
            if not chunk:
                raise EOFError("connection closed by the server")
            b += chunk
        return b

    def frame(self):
        n = struct.unpack("!i", self._recv_exact(4))[0]
        return self._recv_exact(n)

    def send_raw(self, data):
        self.sock.sendall(data)

    def handshake(self, timeout_ms=4000, sid=0, pw=b"\x00" * 16):
        body = struct.pack("!iqiq", 0, 0, timeout_ms, sid) + struct.pack("!i", len(pw)) + pw + b"\x00"
        self.sock.sendall(struct.pack("!i", len(body)) + body)
        resp = self.frame()
        proto, to, rsid = struct.unpack_from("!iiq", resp, 0)
        plen = struct.unpack_from("!i", resp, 16)[0]
        return {"len": len(resp), "proto": proto, "timeout": to, "sid": rsid, "pw": resp[20:20 + plen], "pwlen": plen}

    def request(self, xid, op, body=b""):
        self.sock.sendall(struct.pack("!iii", 8 + len(body), xid, op) + body)

    def reply(self):
        f = self.frame()
        xid, zxid, err = struct.unpack_from("!iqi", f, 0)
        return xid, zxid, err, f[16:]

    def closed(self, wait=3.0):
        """True if the server closes the connection (EOF) within `wait` s."""
        self.sock.settimeout(wait)
        try:
            while True:
                if not self.sock.recv(4096):
                    return True
        except socket.timeout:
            return False
        except OSError:
            return True

    def close(self):
        self.sock.close()


def ustr(text):
    b = text.encode()
    return struct.pack("!i", len(b)) + b


def ruok(hosts):
    host, port = hosts.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"ruok")
        s.settimeout(5)
        out = b""
        while True:
            chunk = s.recv(64)
            if not chunk:
                return out.decode()
            out += chunk


# --------------------------------------------------------------------------
# runner


class Ctx:
    """Per-check context: a unique base path and tracked clients."""

    counter = 0

    def __init__(self, hosts, root, name):
        self.hosts = hosts
        self.base = "%s/%s" % (root, name)
        self.clients = []
        self.procs = []

    def client(self, timeout=SESSION_TIMEOUT, start=True, **kw):
        Ctx.counter += 1
        logger = logging.getLogger("compat.client%d" % Ctx.counter)
        logger.setLevel(1)
        logger.propagate = False
        spy = EventSpy()
        logger.handlers = [spy]
        c = KazooClient(hosts=self.hosts, timeout=timeout, logger=logger, **kw)
        c.spy = spy
        self.clients.append(c)
        if start:
            c.start(timeout=15)
        return c

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(timeout=5)
            except Exception:  # noqa: BLE001
                pass
        for c in self.clients:
            try:
                c.stop()
                c.close()
            except Exception:  # noqa: BLE001
                pass


CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def settle(client, path="/"):
    """A full round trip on this client's connection, then a short pause so that
    the callback thread has dispatched whatever arrived before the reply."""
    client.sync(path)
    client.exists(path)
    time.sleep(0.2)


def now_ms():
    return int(time.time() * 1000)


# --------------------------------------------------------------------------
# basic CRUD and Stat


@check
def crud_create_get_stat(ctx):
    c = ctx.client()
    p = ctx.base + "/n"
    before = now_ms()
    eq(c.create(p, b"abc"), p, "create returns the path")
    data, st = c.get(p)
    eq(data, b"abc", "data")
    eq((st.version, st.cversion, st.aversion), (0, 0, 0), "version/cversion/aversion")
    eq((st.numChildren, st.dataLength, st.ephemeralOwner), (0, 3, 0), "numChildren/dataLength/ephemeralOwner")
    eq(st.mzxid, st.czxid, "mzxid == czxid on a fresh node")
    eq(st.pzxid, st.czxid, "pzxid == czxid on a fresh node")
    eq(st.mtime, st.ctime, "mtime == ctime on a fresh node")
    ok(before - 60000 <= st.ctime <= now_ms() + 60000, "ctime %d is wall-clock ms (now %d)" % (st.ctime, now_ms()))
    ok(st.czxid > 0, "czxid > 0")
    eq(c.exists(p), st, "exists() returns the same Stat as get()")
    eq(c.exists(p + "/missing"), None, "exists() of a missing node")
    # create2 (include_data) returns path and Stat
    path2, st2 = c.create(ctx.base + "/n2", b"xy", include_data=True)
    eq(path2, ctx.base + "/n2", "create2 path")
    eq(c.exists(path2), st2, "create2 Stat equals a later exists()")
    eq(st2.czxid, st.czxid + 1, "create2 czxid (next write on an idle server)")


@check
def crud_set_data_stat(ctx):
    c = ctx.client()
    p = ctx.base + "/n"
    c.create(p, b"v0")
    _, st0 = c.get(p)
    st1 = c.set(p, b"value-one", version=0)
    eq(st1.version, 1, "version after first set")
    eq(st1.dataLength, 9, "dataLength after set")
    eq((st1.czxid, st1.ctime, st1.pzxid), (st0.czxid, st0.ctime, st0.pzxid), "czxid/ctime/pzxid unchanged by set")
    eq(st1.mzxid, st0.czxid + 1, "mzxid = zxid of the set")
    ok(st1.mtime >= st0.mtime, "mtime moves forward")
    eq((st1.cversion, st1.aversion, st1.numChildren), (0, 0, 0), "cversion/aversion/numChildren unchanged by set")
    eq(c.get(p), (b"value-one", st1), "get after set returns the new data and the set's Stat")
    st2 = c.set(p, b"", version=-1)
    eq((st2.version, st2.dataLength), (2, 0), "version -1 matches any; empty data")
    eq(c.get(p)[0], b"", "empty data reads back as b''")
    st3 = c.set(p, b"\x00\xff" * 50000, version=2)
    eq(st3.dataLength, 100000, "binary 100 kB value")
    eq(c.get(p)[0], b"\x00\xff" * 50000, "binary value round trip")


@check
def crud_parent_stat(ctx):
    c = ctx.client()
    parent = ctx.base + "/parent"
    c.create(parent, b"p")
    _, pst0 = c.get(parent)
    c.create(parent + "/a")
    cb = c.create(parent + "/b", include_data=True)[1]
    _, pst = c.get(parent)
    eq((pst.cversion, pst.numChildren), (2, 2), "parent cversion/numChildren after 2 creates")
    eq(pst.pzxid, cb.czxid, "parent pzxid = czxid of the last child created")
    eq((pst.version, pst.mzxid, pst.dataLength), (0, pst0.mzxid, 1), "parent data fields unchanged by child creates")
    c.delete(parent + "/a")
    _, pst2 = c.get(parent)
    eq((pst2.cversion, pst2.numChildren), (3, 1), "parent cversion/numChildren after delete")
    eq(pst2.pzxid, cb.czxid + 1, "parent pzxid = zxid of the delete")
    eq(pst2.mzxid, pst0.mzxid, "parent mzxid unchanged by child delete")
    # setData on a child does not touch the parent
    c.set(parent + "/b", b"zz")
    eq(c.get(parent)[1], pst2, "child setData leaves the parent's Stat alone")
    children, cst = c.get_children(parent, include_data=True)
    eq(children, ["b"], "children")
    eq(cst, pst2, "getChildren2 Stat")
    eq(sorted(c.get_children(ctx.base)), ["parent"], "children of base")


@check
def crud_delete_and_recreate(ctx):
    c = ctx.client()
    p = ctx.base + "/n"
    c.create(p, b"1")
    c.set(p, b"2")
    eq(c.delete(p, version=1), True, "delete with the right version")
    eq(c.exists(p), None, "gone after delete")
    c.create(p, b"3")
    _, st = c.get(p)
    eq((st.version, st.cversion, st.aversion), (0, 0, 0), "a recreated node starts from version 0")
    c.create(ctx.base + "/deep/er/path", b"x", makepath=True)
    eq(c.get(ctx.base + "/deep/er/path")[0], b"x", "makepath create")
    c.delete(ctx.base + "/deep", recursive=True)
    eq(c.exists(ctx.base + "/deep"), None, "recursive delete")


@check
def zxid_sequence(ctx):
    """Standalone server, one writer: each write takes the next zxid, a multi takes one."""
    c = ctx.client()
    b = ctx.base
    z1 = c.create(b + "/a", include_data=True)[1].czxid
    z2 = c.create(b + "/b", include_data=True)[1].czxid
    eq(z2, z1 + 1, "consecutive creates")
    st = c.set(b + "/a", b"x")
    eq(st.mzxid, z2 + 1, "setData zxid")
    st = c.set_acls(b + "/a", OPEN_ACL_UNSAFE)
    eq((st.mzxid, st.aversion), (z2 + 1, 1), "setACL does not change mzxid")
    tx = c.transaction()
    tx.create(b + "/m1")
    tx.create(b + "/m2")
    tx.set_data(b + "/a", b"y")
    tx.commit()
    s1, s2, sa = c.exists(b + "/m1"), c.exists(b + "/m2"), c.exists(b + "/a")
    eq(s1.czxid, z2 + 3, "multi zxid (setACL took one)")
    eq((s2.czxid, sa.mzxid), (s1.czxid, s1.czxid), "every op of a multi shares one zxid")
    eq(c.create(b + "/c", include_data=True)[1].czxid, s1.czxid + 1, "write after a multi")
    # reads and sync do not consume zxids
    c.get(b + "/a")
    c.get_children(b)
    c.sync(b)
    eq(c.create(b + "/d", include_data=True)[1].czxid, s1.czxid + 2, "reads and sync take no zxid")


@check
def sequential_naming(ctx):
    """The suffix is the parent's count of child *creations* (%010d). ZooKeeper
    stores that count as cversion and reports cversion*2 - numChildren, so the
    Stat cversion also counts deletes while the suffix does not."""
    c = ctx.client()
    b = ctx.base
    eq(c.create(b + "/s-", sequence=True), b + "/s-0000000000", "first sequential")
    eq(c.create(b + "/s-", sequence=True), b + "/s-0000000001", "second sequential")
    c.create(b + "/plain")
    eq(c.exists(b).cversion, 3, "cversion after 3 creates")
    c.delete(b + "/plain")
    eq(c.exists(b).cversion, 4, "Stat cversion counts the delete")
    eq(c.create(b + "/other-", sequence=True), b + "/other-0000000003", "suffix counts creates only")
    eq(c.exists(b).cversion, 5, "cversion = 2*creates - numChildren")
    c.delete(b + "/s-0000000000")
    c.delete(b + "/s-0000000001")
    eq(c.exists(b).cversion, 7, "cversion after two more deletes")
    eq(c.create(b + "/e-", ephemeral=True, sequence=True), b + "/e-0000000004", "ephemeral sequential")
    eq(c.exists(b).cversion, 8, "cversion")
    # a name ending in '/' gets just the number; counters are per parent
    c.create(b + "/dir")
    eq(c.create(b + "/dir/", sequence=True), b + "/dir/0000000000", "sequential under a trailing slash")
    eq(c.create(b + "/dir/x", sequence=True), b + "/dir/x0000000001", "per-parent counter")
    # a sequential name colliding with an existing node: NodeExists, and the
    # counter does not move, so the same create keeps failing
    c.create(b + "/dir/y0000000003")
    raises(NodeExistsError, lambda: c.create(b + "/dir/y", sequence=True), "sequential collision")
    raises(NodeExistsError, lambda: c.create(b + "/dir/y", sequence=True), "sequential collision again")
    c.create(b + "/dir/z")
    eq(c.create(b + "/dir/y", sequence=True), b + "/dir/y0000000004", "counter moved by another create")
    # inside a multi: each create (not delete) takes the next number
    tx = c.transaction()
    tx.create(b + "/dir/m")
    tx.delete(b + "/dir/m")
    tx.create(b + "/dir/q-", sequence=True)
    tx.create(b + "/dir/q-", sequence=True)
    eq(tx.commit(), [b + "/dir/m", True, b + "/dir/q-0000000006", b + "/dir/q-0000000007"], "sequential in a multi")
    eq(c.exists(b + "/dir").cversion, 2 * 8 - 7, "cversion after the multi")


@check
def zxid_failed_writes(ctx):
    """ZooKeeper 3.8 turns a failed write into an error txn: it takes a zxid."""
    c = ctx.client()
    b = ctx.base
    z0 = c.create(b + "/a", include_data=True)[1].czxid
    raises(NodeExistsError, lambda: c.create(b + "/a"), "create existing")
    z1 = c.create(b + "/b", include_data=True)[1].czxid
    eq(z1, z0 + 2, "a failed create (NodeExists) took a zxid")
    raises(BadVersionError, lambda: c.set(b + "/a", b"x", version=9), "set bad version")
    raises(NoNodeError, lambda: c.delete(b + "/missing"), "delete missing")
    z2 = c.create(b + "/c", include_data=True)[1].czxid
    eq(z2, z1 + 3, "failed setData and delete took a zxid each")
    tx = c.transaction()
    tx.create(b + "/d")
    tx.delete(b + "/missing")
    eq(types_of(tx.commit()), ["RolledBackError", "NoNodeError"], "failed multi")
    z3 = c.create(b + "/e", include_data=True)[1].czxid
    eq(z3, z2 + 2, "a failed multi took one zxid")


@check
def ephemeral_nodes(ctx):
    c1 = ctx.client()
    c2 = ctx.client()
    b = ctx.base
    p = b + "/eph"
    c1.create(p, b"e", ephemeral=True)
    st = c1.exists(p)
    eq(st.ephemeralOwner, c1.client_id[0], "ephemeralOwner == own session id")
    eq(c2.exists(p).ephemeralOwner, c1.client_id[0], "ephemeralOwner seen by another session")
    raises(NoChildrenForEphemeralsError, lambda: c1.create(p + "/child"), "child of an ephemeral")
    raises(NoChildrenForEphemeralsError, lambda: c1.create(p + "/child", ephemeral=True), "ephemeral child of an ephemeral")
    raises(NoChildrenForEphemeralsError, lambda: c1.create(p + "/s", sequence=True), "sequential child of an ephemeral")
    # another session can delete it (ACL is open)
    c1.create(p + "2", ephemeral=True)
    c2.delete(p + "2")
    eq(c1.exists(p + "2"), None, "ephemeral deleted by another session")
    # closing the session deletes its ephemerals; the other client's watch fires
    c1.create(b + "/seq-", ephemeral=True, sequence=True)
    fired = threading.Event()
    c2.exists(p, watch=lambda e: fired.set())
    c2.spy.clear()
    c1.stop()
    c1.close()
    ok(fired.wait(5), "exists watch fired for the closed session's ephemeral")
    eq(c2.exists(p), None, "ephemeral gone after close")
    eq(c2.get_children(b), [], "all ephemerals of the closed session gone")
    eq(named(c2.spy.snapshot()), [("NodeDeleted", p)], "raw events on the observer")
    eq(c2.exists(b).numChildren, 0, "parent numChildren")


# --------------------------------------------------------------------------
# errors


@check
def errors_no_node(ctx):
    c = ctx.client()
    m = ctx.base + "/missing"
    raises(NoNodeError, lambda: c.get(m), "get")
    raises(NoNodeError, lambda: c.set(m, b"x"), "set")
    raises(NoNodeError, lambda: c.delete(m), "delete")
    raises(NoNodeError, lambda: c.get_children(m), "get_children")
    raises(NoNodeError, lambda: c.get_acls(m), "get_acls")
    raises(NoNodeError, lambda: c.set_acls(m, OPEN_ACL_UNSAFE), "set_acls")
    raises(NoNodeError, lambda: c.create(m + "/child"), "create without parent")
    raises(NoNodeError, lambda: c.create(m + "/child", ephemeral=True), "ephemeral create without parent")
    raises(NoNodeError, lambda: c.create(m + "/s-", sequence=True), "sequential create without parent")
    eq(c.sync(m), m, "sync of a missing path succeeds and echoes the path")


@check
def errors_exists_version_notempty(ctx):
    c = ctx.client()
    p = ctx.base + "/n"
    c.create(p, b"1")
    raises(NodeExistsError, lambda: c.create(p), "create existing")
    raises(NodeExistsError, lambda: c.create(ctx.base), "create existing base")
    raises(NodeExistsError, lambda: c.create("/"), "create /")
    raises(NodeExistsError, lambda: c.create("/zookeeper"), "create /zookeeper")
    raises(BadVersionError, lambda: c.set(p, b"x", version=1), "set wrong version")
    raises(BadVersionError, lambda: c.delete(p, version=3), "delete wrong version")
    raises(BadVersionError, lambda: c.set_acls(p, OPEN_ACL_UNSAFE, version=2), "set_acls wrong version")
    eq(c.get(p)[1].version, 0, "failed writes changed nothing")
    c.set(p, b"2", version=0)
    raises(BadVersionError, lambda: c.set(p, b"x", version=0), "set stale version")
    c.create(p + "/child")
    raises(NotEmptyError, lambda: c.delete(p), "delete with children")
    raises(NotEmptyError, lambda: c.delete(p, version=1), "delete with children, right version")
    raises(BadVersionError, lambda: c.delete(p, version=7), "delete with children, wrong version")
    eq(c.exists(p).numChildren, 1, "still there")


@check
def errors_bad_arguments(ctx):
    c = ctx.client()
    b = ctx.base
    # kazoo normalises '//', trailing '/', and refuses '.'/'..' itself; these reach the server
    for label, name in [
        ("control char \\x01", "a\x01b"),
        ("NUL", "a\x00b"),
        ("DEL \\x7f", "a\x7fb"),
        ("C1 control \\x9f", "a\x9fb"),
        ("private use \\uf000", "a\uf000b"),
        ("\\ufff0", "a\ufff0b"),
    ]:
        raises(BadArgumentsError, lambda: c.create(b + "/" + name), "create " + label)
        raises(BadArgumentsError, lambda: c.create(b + "/" + name, sequence=True), "sequential create " + label)
    # reads of such paths are not validated by ZooKeeper: they are simply absent
    raises(NoNodeError, lambda: c.get(b + "/a\x01b"), "get of a path with a control char")
    eq(c.exists(b + "/a\x01b"), None, "exists of a path with a control char")
    # reserved nodes
    raises(BadArgumentsError, lambda: c.delete("/"), "delete /")
    raises(BadArgumentsError, lambda: c.delete("/zookeeper"), "delete /zookeeper")
    raises(BadArgumentsError, lambda: c.delete("/zookeeper/quota"), "delete /zookeeper/quota")
    # non-ASCII that is valid
    eq(c.create(b + "/\u00e9t\u00e9-\u4e2d"), b + "/\u00e9t\u00e9-\u4e2d", "valid non-ASCII name")
    eq(c.get_children(b), ["\u00e9t\u00e9-\u4e2d"], "non-ASCII child listed")


@check
def errors_invalid_acl(ctx):
    c = ctx.client()
    b = ctx.base
    raises(InvalidACLError, lambda: c.set_acls(b, []), "set_acls([])")
    raises(InvalidACLError, lambda: c.create(b + "/d", acl=[ACL(31, Id("digest", "nocolon"))]), "digest id without ':'")
    raises(InvalidACLError, lambda: c.create(b + "/i", acl=[ACL(31, Id("ip", "not-an-ip"))]), "bad ip id")
    raises(InvalidACLError, lambda: c.create(b + "/u", acl=[ACL(31, Id("nosuchscheme", "x"))]), "unknown scheme")
    raises(InvalidACLError, lambda: c.create(b + "/a", acl=[ACL(31, Id("auth", ""))]), "auth scheme, unauthenticated")
    raises(InvalidACLError, lambda: c.set_acls(b, [ACL(31, Id("auth", ""))]), "set_acls auth scheme, unauthenticated")
    eq(c.get_children(b), [], "nothing created")
    eq(c.exists(b).aversion, 0, "aversion untouched")
    # ip ACLs with a valid address/prefix are accepted
    c.create(b + "/ip", acl=[ACL(31, Id("ip", "127.0.0.1")), ACL(1, Id("ip", "10.0.0.0/8"))])
    eq(c.get(b + "/ip")[0], b"", "ip ACL lets 127.0.0.1 in")


@check
def acl_empty_list(ctx):
    """ZooKeeper 3.8: a plain create with an empty ACL list is stored as
    world:anyone ALL; in a multi, and in setACL, an empty list is InvalidACL."""
    c = ctx.client()
    b = ctx.base
    c.create(b + "/e", acl=[])
    acls, _ = c.get_acls(b + "/e")
    eq([(a.perms, a.id.scheme, a.id.id) for a in acls], [(31, "world", "anyone")], "ACL of a node created with []")
    tx = c.transaction()
    tx.create(b + "/t", acl=[])
    eq(types_of(tx.commit()), ["InvalidACLError"], "multi create with []")


# --------------------------------------------------------------------------
# ACLs and digest auth


@check
def acl_digest_auth(ctx):
    admin = ctx.client()
    anon = ctx.client()
    wrong = ctx.client()
    admin.add_auth("digest", "alice:secret")
    wrong.add_auth("digest", "alice:wrong")
    b = ctx.base
    alice = make_digest_acl("alice", "secret", all=True)
    want = "alice:" + base64.b64encode(hashlib.sha1(b"alice:secret").digest()).decode()
    eq(alice.id.id, want, "digest id = user:base64(sha1(user:password))")
    p = b + "/secure"
    admin.create(p, b"top", acl=[alice])
    eq(admin.get(p)[0], b"top", "owner reads")
    for who, c in (("anonymous", anon), ("wrong password", wrong)):
        raises(NoAuthError, lambda: c.get(p), who + " get")
        raises(NoAuthError, lambda: c.get_children(p), who + " get_children")
        raises(NoAuthError, lambda: c.get_acls(p), who + " get_acls")
        raises(NoAuthError, lambda: c.set(p, b"x"), who + " set")
        raises(NoAuthError, lambda: c.create(p + "/c"), who + " create child")
        raises(NoAuthError, lambda: c.set_acls(p, OPEN_ACL_UNSAFE), who + " set_acls")
    # exists() does not check READ in 3.8.0 (3.8.4/3.9.2+ do); accept both
    try:
        st = anon.exists(p)
        eq(st.dataLength, 3, "exists without READ (3.8.0 behaviour)")
    except NoAuthError:
        pass
    # add_auth later on the same session grants access
    anon.add_auth("digest", "alice:secret")
    eq(anon.get(p)[0], b"top", "after add_auth")
    # per-permission: READ for everyone, ALL for alice
    q = b + "/mixed"
    admin.create(q, b"m", acl=[make_acl("world", "anyone", read=True), alice])
    eq(wrong.get(q)[0], b"m", "world READ")
    raises(NoAuthError, lambda: wrong.set(q, b"x"), "world has no WRITE")
    raises(NoAuthError, lambda: wrong.create(q + "/c"), "world has no CREATE")
    # getACL without ADMIN masks digest hashes; with ADMIN shows them
    acls, _ = wrong.get_acls(q)
    eq([(a.perms, a.id.scheme, a.id.id) for a in acls], [(1, "world", "anyone"), (31, "digest", "alice:x")], "masked ACL")
    acls, st = admin.get_acls(q)
    eq([(a.perms, a.id.scheme, a.id.id) for a in acls], [(1, "world", "anyone"), (31, "digest", alice.id.id)], "full ACL")
    eq(st.aversion, 0, "aversion")
    # setACL bumps aversion only, checks the version against aversion
    st2 = admin.set_acls(q, [alice, make_acl("world", "anyone", read=True, write=True)], version=0)
    eq((st2.aversion, st2.version, st2.cversion), (1, 0, 0), "setACL stat")
    wrong.set(q, b"now-writable")
    raises(BadVersionError, lambda: admin.set_acls(q, [alice], version=0), "setACL stale aversion")
    # delete is governed by the parent's ACL, not the node's own
    anon2 = ctx.client()
    anon2.delete(p)
    eq(admin.exists(p), None, "node with a closed ACL deleted through its open parent")
    # 'auth' scheme expands to the creator's ids
    admin.create(b + "/creator", acl=[ACL(31, Id("auth", ""))])
    acls, _ = admin.get_acls(b + "/creator")
    eq([(a.perms, a.id.scheme, a.id.id) for a in acls], [(31, "digest", alice.id.id)], "auth expanded")
    # a node whose ACL has no DELETE for us: its children cannot be deleted
    admin.create(b + "/nodelete", acl=[make_acl("world", "anyone", read=True, create=True), alice])
    anon2.create(b + "/nodelete/kid")
    raises(NoAuthError, lambda: anon2.delete(b + "/nodelete/kid"), "delete without DELETE on parent")
    admin.set_acls(b + "/nodelete", OPEN_ACL_UNSAFE)
    anon2.delete(b + "/nodelete/kid")


@check
def auth_failed_unknown_scheme(ctx):
    c = ctx.client()
    states = []
    c.add_listener(states.append)
    raises(AuthFailedError, lambda: c.add_auth("nosuchscheme", "x"), "add_auth with an unknown scheme")
    wait_for(lambda: KazooState.LOST in states, 10, "session LOST after AuthFailed")
    ok(not c.connected, "client disconnected after AuthFailed")


# --------------------------------------------------------------------------
# watches


@check
def watch_exists_created(ctx):
    c = ctx.client()
    p = ctx.base + "/w"
    got = []
    eq(c.exists(p, watch=got.append), None, "absent")
    c.create(p, b"1")
    settle(c)
    eq([(e.type, e.path) for e in got], [("CREATED", p)], "callback events")
    c.set(p, b"2")
    c.delete(p)
    settle(c)
    eq(len(got), 1, "one-shot: no more events")
    eq(named(c.spy.snapshot(ctx.base)), [("NodeCreated", p)], "raw events")


@check
def watch_data_changed_and_deleted(ctx):
    c = ctx.client()
    other = ctx.client()
    p = ctx.base + "/w"
    c.create(p, b"1")
    got = []
    c.get(p, watch=lambda e: got.append(e))
    c.exists(p, watch=lambda e: got.append(e))  # same path, same session: one server-side watch
    other.set(p, b"2")
    wait_for(lambda: len(got) >= 2, 5, "NodeDataChanged")
    settle(c)
    eq(sorted((e.type, e.path) for e in got), [("CHANGED", p), ("CHANGED", p)], "both callbacks")
    eq(named(c.spy.snapshot(ctx.base)), [("NodeDataChanged", p)], "one raw event for get+exists watch")
    other.set(p, b"3")
    settle(c)
    eq(len(got), 2, "no event without a new watch")
    got.clear()
    c.spy.clear()
    c.get(p, watch=got.append)
    other.set_acls(p, OPEN_ACL_UNSAFE)
    settle(c)
    eq(got, [], "setACL fires nothing")
    other.delete(p)
    wait_for(lambda: got, 5, "NodeDeleted")
    settle(c)
    eq([(e.type, e.path) for e in got], [("DELETED", p)], "delete fires the data watch")
    eq(named(c.spy.snapshot(ctx.base)), [("NodeDeleted", p)], "raw events")


@check
def watch_get_missing_sets_no_watch(ctx):
    c = ctx.client()
    p = ctx.base + "/w"
    got = []
    raises(NoNodeError, lambda: c.get(p, watch=got.append), "get of a missing node")
    raises(NoNodeError, lambda: c.get_children(p, watch=got.append), "get_children of a missing node")
    c.create(p)
    c.create(p + "/kid")
    settle(c)
    eq(named(c.spy.snapshot(ctx.base)), [], "no watch left by failed get/get_children")
    eq(got, [], "no callbacks")


@check
def watch_children(ctx):
    c = ctx.client()
    other = ctx.client()
    p = ctx.base + "/dir"
    c.create(p)
    got = []
    eq(c.get_children(p, watch=got.append), [], "empty")
    other.set(p, b"data")  # data change does not fire a child watch
    settle(c)
    eq(got, [], "setData does not fire a child watch")
    other.create(p + "/a")
    wait_for(lambda: got, 5, "NodeChildrenChanged")
    other.create(p + "/b")
    settle(c)
    eq([(e.type, e.path) for e in got], [("CHILD", p)], "one-shot child watch")
    # child data change does not fire the parent's child watch
    got.clear()
    c.get_children(p, watch=got.append)
    other.set(p + "/a", b"x")
    settle(c)
    eq(got, [], "child setData does not fire the parent's child watch")
    other.delete(p + "/a")
    wait_for(lambda: got, 5, "NodeChildrenChanged on delete")
    eq([(e.type, e.path) for e in got], [("CHILD", p)], "delete fires the parent's child watch")
    # grandchildren don't fire it
    got.clear()
    c.get_children(p, watch=got.append)
    other.create(p + "/b/grand")
    settle(c)
    eq(got, [], "grandchild create does not fire the child watch")
    eq(
        named(c.spy.snapshot(ctx.base)),
        [("NodeChildrenChanged", p), ("NodeChildrenChanged", p)],
        "raw events",
    )


@check
def watch_delete_node_with_all_watch_kinds(ctx):
    c = ctx.client()
    other = ctx.client()
    p = ctx.base + "/n"
    c.create(p)
    got = []
    c.get(p, watch=lambda e: got.append(("data", e.type, e.path)))
    c.get_children(p, watch=lambda e: got.append(("child", e.type, e.path)))
    c.get_children(ctx.base, watch=lambda e: got.append(("parent", e.type, e.path)))
    other.delete(p)
    wait_for(lambda: len(got) >= 3, 5, "three callbacks")
    settle(c)
    eq(
        sorted(got),
        sorted([("data", "DELETED", p), ("child", "DELETED", p), ("parent", "CHILD", ctx.base)]),
        "callbacks",
    )
    eq(
        sorted(named(c.spy.snapshot(ctx.base))),
        sorted([("NodeDeleted", p), ("NodeChildrenChanged", ctx.base)]),
        "raw events: one NodeDeleted per session for data+child watches",
    )


@check
def watch_multiple_sessions_and_multi(ctx):
    """Every session that set a watch gets the event; a multi fires each watch once."""
    clients = [ctx.client() for _ in range(3)]
    writer = ctx.client()
    b = ctx.base
    writer.create(b + "/x", b"0")
    for c in clients:
        c.get(b + "/x", watch=lambda e: None)
        c.exists(b + "/y", watch=lambda e: None)
        c.get_children(b, watch=lambda e: None)
    tx = writer.transaction()
    tx.set_data(b + "/x", b"1")
    tx.set_data(b + "/x", b"2")
    tx.create(b + "/y")
    tx.create(b + "/z")
    res = tx.commit()
    eq((res[0].version, res[1].version, res[2:]), (1, 2, [b + "/y", b + "/z"]), "multi results")
    for c in clients:
        settle(c)
        eq(
            sorted(named(c.spy.snapshot(b))),
            sorted([("NodeDataChanged", b + "/x"), ("NodeCreated", b + "/y"), ("NodeChildrenChanged", b)]),
            "raw events for session 0x%x" % c.client_id[0],
        )
    eq(writer.spy.snapshot(b), [], "the writer set no watch")


# --------------------------------------------------------------------------
# multi (transactions)


@check
def multi_success_results(ctx):
    c = ctx.client()
    b = ctx.base
    c.create(b + "/t1", b"x")
    tx = c.transaction()
    tx.check(b + "/t1", 0)
    tx.create(b + "/new", b"n")
    tx.set_data(b + "/t1", b"y", version=0)
    tx.create(b + "/seq-", sequence=True)
    tx.create(b + "/eph", ephemeral=True)
    tx.delete(b + "/new")
    tx.create(b + "/new", b"again")  # delete+create in one multi: prepared against pending changes
    tx.create(b + "/new/kid")  # child of a node created in the same multi
    res = tx.commit()
    eq(len(res), 8, "one result per op")
    eq(res[0], True, "check -> True")
    eq(res[1], b + "/new", "create -> path")
    st = res[2]
    eq((st.version, st.dataLength, st.czxid), (1, 1, c.exists(b + "/t1").czxid), "setData -> Stat")
    eq(st.mzxid, c.exists(b + "/new").czxid, "setData mzxid = the multi's zxid")
    eq(res[3], b + "/seq-0000000002", "sequential create inside multi")
    eq(res[4:], [b + "/eph", True, b + "/new", b + "/new/kid"], "remaining results")
    eq(c.exists(b + "/eph").ephemeralOwner, c.client_id[0], "ephemeral inside multi")
    eq(c.get(b + "/new")[0], b"again", "final state")
    eq(c.exists(b).cversion, 2 * 5 - 4, "parent cversion: 5 creates, 4 children")
    # an empty transaction is fine
    eq(c.transaction().commit(), [], "empty multi")


@check
def multi_failure_results(ctx):
    c = ctx.client()
    b = ctx.base
    c.create(b + "/t1", b"x")
    before = c.exists(b)
    tx = c.transaction()
    tx.create(b + "/a", b"a")
    tx.set_data(b + "/t1", b"y")
    tx.set_data(b + "/t1", b"z", version=99)  # fails: BadVersion
    tx.create(b + "/b")
    tx.delete(b + "/nonexistent")
    eq(
        types_of(tx.commit()),
        ["RolledBackError", "RolledBackError", "BadVersionError", "RuntimeInconsistency", "RuntimeInconsistency"],
        "per-op results: OK(0)->RolledBack before, the error, -2 after",
    )
    eq(c.exists(b + "/a"), None, "nothing applied")
    eq(c.get(b + "/t1"), (b"x", c.exists(b + "/t1")), "data unchanged")
    eq(c.exists(b + "/t1").version, 0, "version unchanged")
    eq(c.exists(b), before, "parent unchanged (cversion, pzxid)")
    # failing op first / last, and each error kind
    cases = [
        (lambda t: (t.create(b + "/t1"), t.create(b + "/q")), ["NodeExistsError", "RuntimeInconsistency"]),
        (lambda t: (t.create(b + "/q"), t.delete(b + "/nope")), ["RolledBackError", "NoNodeError"]),
        (lambda t: (t.check(b + "/t1", 5), t.create(b + "/q")), ["BadVersionError", "RuntimeInconsistency"]),
        (lambda t: (t.check(b + "/nope", 0),), ["NoNodeError"]),
        (lambda t: (t.create(b + "/t1/k"), t.delete(b + "/t1")), ["RolledBackError", "NotEmptyError"]),
        (lambda t: (t.create(b + "/q", ephemeral=True), t.create(b + "/q/k")), ["RolledBackError", "NoChildrenForEphemeralsError"]),
        (lambda t: (t.create(b + "/q"), t.create(b + "/bad\x01")), ["RolledBackError", "BadArgumentsError"]),
        (lambda t: (t.delete(b + "/t1"), t.set_data(b + "/t1", b"x")), ["RolledBackError", "NoNodeError"]),
        (lambda t: (t.create(b + "/q"), t.create(b + "/q")), ["RolledBackError", "NodeExistsError"]),
    ]
    for i, (build, expected) in enumerate(cases):
        tx = c.transaction()
        build(tx)
        eq(types_of(tx.commit()), expected, "case %d" % i)
    eq(sorted(c.get_children(b)), ["t1"], "no case left anything behind")
    eq(c.exists(b), before, "parent still unchanged")
    z = c.create(b + "/after", include_data=True)[1].czxid
    ok(z > before.pzxid, "later write gets a later zxid")


@check
def multi_no_auth(ctx):
    c = ctx.client()
    b = ctx.base
    c.create(b + "/ro", acl=[make_acl("world", "anyone", read=True)])
    tx = c.transaction()
    tx.create(b + "/ok")
    tx.set_data(b + "/ro", b"x")
    eq(types_of(tx.commit()), ["RolledBackError", "NoAuthError"], "NoAuth inside multi")
    eq(c.exists(b + "/ok"), None, "rolled back")


# --------------------------------------------------------------------------
# sessions


@check
def session_basics(ctx):
    c1 = ctx.client()
    c2 = ctx.client()
    sid1, pw1 = c1.client_id
    sid2, pw2 = c2.client_id
    ok(sid1 != sid2, "distinct session ids")
    ok(sid1 != 0 and sid2 != 0, "non-zero session ids")
    eq((len(pw1), len(pw2)), (16, 16), "16-byte passwords")
    ok(pw1 != pw2, "distinct passwords")
    eq(c1.spy.negotiated_timeout, 4000, "negotiated timeout for 4 s")
    for requested, expected in ((1, 4000), (10, 10000), (40, 40000), (100, 40000)):
        c = ctx.client(timeout=requested)
        eq(c.spy.negotiated_timeout, expected, "negotiated timeout for %s s (min 2, max 20 ticks)" % requested)
        c.stop()
        c.close()
    # last_zxid advances with writes
    z0 = c1.last_zxid
    st = c1.create(ctx.base + "/x", include_data=True)[1]
    eq(c1.last_zxid, st.czxid, "client last_zxid = zxid of its last write reply")
    ok(st.czxid > z0, "zxid moved forward")


def hold_session_main(args):
    """Subprocess helper: open (or resume) a session, optionally create an
    ephemeral, report, then sit until killed (bounded, and killed with its parent)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001
        pass
    logging.basicConfig(level=logging.CRITICAL)
    client_id = None
    if args.sid:
        client_id = (int(args.sid), bytes.fromhex(args.pw))
    c = KazooClient(hosts=args.hosts, timeout=SESSION_TIMEOUT, client_id=client_id)
    c.start(timeout=15)
    if args.ephemeral:
        c.create(args.ephemeral, b"held", ephemeral=True)
    report = {"sid": c.client_id[0], "pw": c.client_id[1].hex()}
    if args.inspect:
        st = c.exists(args.inspect)
        report["owner"] = st.ephemeralOwner if st else None
    print(json.dumps(report), flush=True)
    time.sleep(120)
    os._exit(3)


def spawn_holder(ctx, *extra):
    cmd = [sys.executable, os.path.abspath(__file__), "--hosts", ctx.hosts, "--hold-session"] + list(extra)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ctx.procs.append(p)
    line = p.stdout.readline()
    ok(line, "session holder printed its session (exit %r)" % p.poll())
    return p, json.loads(line)


def kill_hard(p):
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=5)


@check
def session_reconnect_and_expiry(ctx):
    b = ctx.base
    e1 = b + "/held"
    watcher = ctx.client()
    # 1. a process opens a session, creates an ephemeral and dies without closing
    p1, s = spawn_holder(ctx, "--ephemeral", e1)
    sid, pw = s["sid"], s["pw"]
    eq(watcher.exists(e1).ephemeralOwner, sid, "ephemeral owned by the holder")
    kill_hard(p1)
    # 2. within the timeout, another process resumes the same session: ephemerals kept
    time.sleep(0.5)
    p2, s2 = spawn_holder(ctx, "--sid", str(sid), "--pw", pw, "--inspect", e1)
    eq(s2["sid"], sid, "resumed session keeps its id")
    eq(s2["pw"], pw, "resumed session keeps its password")
    eq(s2["owner"], sid, "ephemeral still there after reconnect")
    # 3. it dies too; the session must survive ~timeout, then expire and lose the ephemeral
    fired = threading.Event()
    watcher.exists(e1, watch=lambda e: fired.set())
    kill_hard(p2)
    t0 = time.monotonic()
    time.sleep(2.0)
    ok(not fired.is_set(), "session expired before half its 4 s timeout")
    eq(watcher.exists(e1).ephemeralOwner, sid, "ephemeral present 2 s after the connection died")
    ok(fired.wait(15), "ephemeral deleted by session expiry within 17 s")
    elapsed = time.monotonic() - t0
    # last contact was at most one ping interval (~1.3 s) before the kill;
    # ZooKeeper expires on the first tick boundary past last contact + 4 s
    ok(2.5 <= elapsed <= 12.0, "expiry after %.1fs (timeout 4 s, tick 2 s)" % elapsed)
    eq(watcher.exists(e1), None, "ephemeral gone")
    eq(named(watcher.spy.snapshot(b)), [("NodeDeleted", e1)], "raw events")
    # 4. resuming an expired session: the server answers timeout 0 (kazoo logs
    # "Session has expired") and kazoo then opens a new session
    c = ctx.client(client_id=(sid, bytes.fromhex(pw)))
    eq(c.spy.expired, 1, "handshakes answered 'expired'")
    ok(c.client_id[0] != sid, "a new session replaced the expired one")
    eq(c.exists(e1), None, "still gone")


# --------------------------------------------------------------------------
# misc server operations


@check
def sync_and_reconfig(ctx):
    c = ctx.client()
    p = ctx.base + "/s"
    c.create(p)
    eq(c.sync(p), p, "sync returns the path")
    eq(c.sync("/"), "/", "sync /")
    raises(
        ReconfigDisabledError,
        lambda: c.reconfig(joining="server.9=127.0.0.1:2888:3888;2181", leaving=None, new_members=None),
        "reconfig with reconfigEnabled=false",
    )
    raises(ReconfigDisabledError, lambda: c.reconfig(joining=None, leaving="1", new_members=None), "reconfig leave")
    # /zookeeper/config exists and is readable (standalone: empty)
    data, st = c.get("/zookeeper/config")
    eq(st.ephemeralOwner, 0, "/zookeeper/config is a plain node")
    ok("/zookeeper" in ["/" + x for x in c.get_children("/")], "/zookeeper listed under /")
    kids = c.get_children("/zookeeper")
    ok({"config", "quota"} <= set(kids), "/zookeeper has config and quota: %r" % kids)


@check
def four_letter_words(ctx):
    c = ctx.client()
    eq(c.command(b"ruok"), "imok", "ruok")
    eq(c.command(b"isro"), "rw", "isro")
    v = c.server_version()
    ok(isinstance(v, tuple) and len(v) >= 2 and v[0] == 3 and v[1] >= 5, "server_version() = %r" % (v,))
    srvr = c.command(b"srvr")
    ok(srvr.startswith("Zookeeper version: "), "srvr starts with 'Zookeeper version: ': %r" % srvr[:60])
    for key in ("Latency min/avg/max: ", "Received: ", "Sent: ", "Connections: ", "Outstanding: ", "Zxid: 0x", "Mode: " + EXPECT_MODE, "Node count: "):
        ok(("\n" + key) in srvr, "srvr has line %r" % key)
    mntr = dict(line.split("\t", 1) for line in c.command(b"mntr").splitlines() if "\t" in line)
    eq(mntr.get("zk_server_state"), EXPECT_MODE, "mntr zk_server_state")
    for key in ("zk_version", "zk_znode_count", "zk_num_alive_connections", "zk_ephemerals_count", "zk_watch_count"):
        ok(key in mntr, "mntr has %s" % key)
    ok(int(mntr["zk_num_alive_connections"]) >= 1, "mntr connection count")
    conf = c.command(b"conf")
    port = ctx.hosts.rsplit(":", 1)[1]
    ok(("clientPort=%s" % port) in conf.splitlines(), "conf has clientPort=%s" % port)
    ok("tickTime=2000" in conf.splitlines(), "conf has tickTime=2000")
    ok("minSessionTimeout=4000" in conf.splitlines() and "maxSessionTimeout=40000" in conf.splitlines(), "conf session timeouts")
    envi = c.command(b"envi")
    ok(envi.startswith("Environment:"), "envi header")
    ok("\nzookeeper.version=" in envi, "envi has zookeeper.version=")
    wchs = c.command(b"wchs")
    ok(" connections watching " in wchs and "Total watches:" in wchs, "wchs format: %r" % wchs)
    stat = c.command(b"stat")
    ok(stat.startswith("Zookeeper version: ") and "Clients:" in stat, "stat format")


# --------------------------------------------------------------------------
# recipes


@check
def recipe_lock(ctx):
    b = ctx.base
    c1, c2, c3 = ctx.client(), ctx.client(), ctx.client()
    l1, l2, l3 = c1.Lock(b + "/lock", "one"), c2.Lock(b + "/lock", "two"), c3.Lock(b + "/lock", "three")
    ok(l1.acquire(timeout=10), "first acquires")
    ok(not l2.acquire(blocking=False), "second cannot acquire while held")
    order = []
    release2 = threading.Event()

    def contend(lock, name, release_evt):
        if lock.acquire(timeout=30):
            order.append(name)
            if release_evt is not None:
                release_evt.wait(30)
            lock.release()

    t2 = threading.Thread(target=contend, args=(l2, "two", release2), daemon=True)
    t2.start()
    wait_for(lambda: l1.contenders() == ["one", "two"], 10, "two queued")
    t3 = threading.Thread(target=contend, args=(l3, "three", None), daemon=True)
    t3.start()
    wait_for(lambda: l1.contenders() == ["one", "two", "three"], 10, "three queued")
    time.sleep(0.3)
    eq(order, [], "nobody else got the lock while it was held")
    l1.release()
    wait_for(lambda: order, 10, "second acquires after release")
    time.sleep(0.3)
    eq(order, ["two"], "FIFO: the next in line, and only it")
    release2.set()
    t2.join(10)
    t3.join(10)
    eq(order, ["two", "three"], "acquisition order")
    eq(c1.get_children(b + "/lock"), [], "lock nodes cleaned up")
    # mutual exclusion under contention
    inside = [0]
    violations = []
    total = [0]
    guard = threading.Lock()

    def worker(client, name):
        lock = client.Lock(b + "/mutex", name)
        for _ in range(8):
            with lock:
                with guard:
                    inside[0] += 1
                    if inside[0] != 1:
                        violations.append(inside[0])
                time.sleep(0.002)
                with guard:
                    inside[0] -= 1
                    total[0] += 1

    ts = [threading.Thread(target=worker, args=(c, "w%d" % i), daemon=True) for i, c in enumerate((c1, c2, c3))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(40)
    eq(violations, [], "never two holders")
    eq(total[0], 24, "all critical sections ran")


@check
def recipe_semaphore(ctx):
    b = ctx.base
    cs = [ctx.client() for _ in range(3)]
    sems = [c.Semaphore(b + "/sem", "s%d" % i, max_leases=2) for i, c in enumerate(cs)]
    ok(sems[0].acquire(timeout=10), "lease 1")
    ok(sems[1].acquire(timeout=10), "lease 2")
    ok(not sems[2].acquire(blocking=False), "no third lease")
    eq(sorted(sems[2].lease_holders()), ["s0", "s1"], "lease holders")
    sems[0].release()
    ok(sems[2].acquire(timeout=10), "third gets the freed lease")
    eq(sorted(sems[0].lease_holders()), ["s1", "s2"], "lease holders after handover")
    sems[1].release()
    sems[2].release()


@check
def recipe_election(ctx):
    b = ctx.base
    c1, c2 = ctx.client(), ctx.client()
    e1, e2 = c1.Election(b + "/elect", "id1"), c2.Election(b + "/elect", "id2")
    leaders = []
    done1 = threading.Event()

    def lead(name, evt):
        leaders.append(name)
        if evt is not None:
            evt.wait(30)

    t1 = threading.Thread(target=e1.run, args=(lead, "id1", done1), daemon=True)
    t1.start()
    wait_for(lambda: leaders == ["id1"], 10, "id1 leads")
    t2 = threading.Thread(target=e2.run, args=(lead, "id2", None), daemon=True)
    t2.start()
    wait_for(lambda: e1.contenders() == ["id1", "id2"], 10, "two contenders")
    time.sleep(0.3)
    eq(leaders, ["id1"], "only one leader at a time")
    done1.set()
    t1.join(10)
    t2.join(10)
    eq(leaders, ["id1", "id2"], "leadership passes on")
    # a leader whose session closes hands over too
    c3, c4 = ctx.client(), ctx.client()
    e3, e4 = c3.Election(b + "/elect2", "a"), c4.Election(b + "/elect2", "b")
    leaders.clear()
    hold = threading.Event()
    threading.Thread(target=quietly(e3.run, lead, "a", hold), daemon=True).start()
    wait_for(lambda: leaders == ["a"], 10, "a leads")
    threading.Thread(target=quietly(e4.run, lead, "b", None), daemon=True).start()
    wait_for(lambda: len(e4.contenders()) == 2, 10, "b queued")
    c3.stop()
    wait_for(lambda: leaders == ["a", "b"], 10, "b leads after a's session closed")
    hold.set()


@check
def recipe_barrier(ctx):
    b = ctx.base
    c1, c2 = ctx.client(), ctx.client()
    ok(c2.Barrier(b + "/none").wait(timeout=2), "wait on an absent barrier returns at once")
    bar = c1.Barrier(b + "/bar")
    bar.create()
    result = []
    t = threading.Thread(target=lambda: result.append(c2.Barrier(b + "/bar").wait(timeout=20)), daemon=True)
    t.start()
    time.sleep(0.5)
    eq(result, [], "blocked while the barrier exists")
    ok(bar.remove(), "remove")
    t.join(10)
    eq(result, [True], "released by remove")
    bar2 = c1.Barrier(b + "/bar2")
    bar2.create()
    eq(c2.Barrier(b + "/bar2").wait(timeout=0.5), False, "wait times out")


@check
def recipe_double_barrier(ctx):
    b = ctx.base
    n = 3
    cs = [ctx.client() for _ in range(n)]
    entered, left = [], []
    lock = threading.Lock()

    def member(i, delay):
        time.sleep(delay)
        db = cs[i].DoubleBarrier(b + "/dbar", n, identifier="m%d" % i)
        db.enter()
        with lock:
            entered.append((i, time.monotonic()))
        time.sleep(0.1 * i)
        db.leave()
        with lock:
            left.append((i, time.monotonic()))

    start = time.monotonic()
    ts = [threading.Thread(target=member, args=(i, 0.8 if i == n - 1 else 0.0), daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(40)
    eq(sorted(i for i, _ in entered), list(range(n)), "all entered")
    eq(sorted(i for i, _ in left), list(range(n)), "all left")
    ok(min(t for _, t in entered) - start >= 0.75, "nobody entered before the last member arrived")
    ok(min(t for _, t in left) >= max(t for _, t in entered), "nobody left before everyone entered")
    ok(min(t for _, t in left) >= start + 0.8 + 0.1 * (n - 1) - 0.05, "nobody left before the slowest was ready")


@check
def recipe_counter(ctx):
    b = ctx.base
    c0 = ctx.client()
    counter = c0.Counter(b + "/count")
    eq(counter.value, 0, "default")
    counter += 5
    eq((counter.pre_value, counter.post_value, counter.value), (0, 5, 5), "increment")
    counter -= 2
    eq(counter.value, 3, "decrement")
    fc = c0.Counter(b + "/fcount", default=0.5)
    fc += 0.25
    eq(fc.value, 0.75, "float counter")
    workers, per = 4, 25
    cs = [ctx.client() for _ in range(workers)]

    def bump(c):
        k = c.Counter(b + "/count")
        for _ in range(per):
            k += 1

    ts = [threading.Thread(target=bump, args=(c,), daemon=True) for c in cs]
    for t in ts:
        t.start()
    for t in ts:
        t.join(50)
    eq(counter.value, 3 + workers * per, "concurrent increments sum exactly")
    eq(c0.exists(b + "/count").version, 2 + workers * per, "one successful setData per increment")


@check
def recipe_queue(ctx):
    b = ctx.base
    c1, c2, c3 = ctx.client(), ctx.client(), ctx.client()
    q = c1.Queue(b + "/q")
    eq(q.get(), None, "empty queue")
    q.put(b"low", priority=200)
    q.put(b"first-mid")
    q.put(b"high", priority=1)
    q.put(b"second-mid")
    eq(len(q), 4, "len")
    got = [q.get() for _ in range(4)]
    eq(got, [b"high", b"first-mid", b"second-mid", b"low"], "priority then FIFO")
    eq(q.get(), None, "drained")
    # competing consumers take disjoint items
    items = [("item-%02d" % i).encode() for i in range(30)]
    for item in items:
        q.put(item)
    taken = {1: [], 2: []}

    def consume(c, key):
        qq = c.Queue(b + "/q")
        while True:
            v = qq.get()
            if v is None:
                return
            taken[key].append(v)

    ts = [threading.Thread(target=consume, args=(c, k), daemon=True) for c, k in ((c2, 1), (c3, 2))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(40)
    eq(sorted(taken[1] + taken[2]), items, "every item exactly once")
    eq(set(taken[1]) & set(taken[2]), set(), "no item taken twice")


@check
def recipe_locking_queue(ctx):
    b = ctx.base
    c1, c2 = ctx.client(), ctx.client()
    q1, q2 = c1.LockingQueue(b + "/lq"), c2.LockingQueue(b + "/lq")
    q1.put(b"a")
    q1.put(b"b", priority=50)
    eq(len(q1), 2, "len")
    eq(q1.get(timeout=5), b"b", "priority first")
    ok(q1.holds_lock(), "holds the item")
    eq(q2.get(timeout=5), b"a", "other consumer gets the other item")
    ok(q1.consume(), "consume")
    ok(q2.release(), "release puts it back")
    eq(len(q1), 1, "one left")
    eq(q1.get(timeout=5), b"a", "released item is available again")
    ok(q1.consume(), "consume")
    eq(len(q1), 0, "empty")
    eq(q2.get(timeout=0.5), None, "get on empty times out")


@check
def recipe_party(ctx):
    b = ctx.base
    c1, c2, c3 = ctx.client(), ctx.client(), ctx.client()
    for cls_name in ("Party", "ShallowParty"):
        path = b + "/" + cls_name
        p1 = getattr(c1, cls_name)(path, "alice")
        p2 = getattr(c2, cls_name)(path, "bob")
        observer = getattr(c3, cls_name)(path)
        p1.join()
        p2.join()
        eq(sorted(observer), ["alice", "bob"], cls_name + " members")
        eq(len(observer), 2, cls_name + " len")
        p2.leave()
        eq(sorted(observer), ["alice"], cls_name + " after leave")
    # members are ephemeral: closing the session leaves both parties
    c1.stop()
    eq(len(c3.Party(b + "/Party")), 0, "Party member gone with its session")
    eq(len(c3.ShallowParty(b + "/ShallowParty")), 0, "ShallowParty member gone with its session")


@check
def recipe_data_and_children_watch(ctx):
    b = ctx.base
    c, w = ctx.client(), ctx.client()
    p = b + "/dw"
    seen = []
    w.DataWatch(p, lambda data, stat, event: seen.append((data, stat.version if stat else None, event.type if event else None)))
    wait_for(lambda: seen, 5, "initial DataWatch call")
    c.create(p, b"1")
    wait_for(lambda: len(seen) >= 2, 5, "created")
    c.set(p, b"2")
    wait_for(lambda: len(seen) >= 3, 5, "changed")
    c.delete(p)
    wait_for(lambda: len(seen) >= 4, 5, "deleted")
    settle(w)
    eq(seen, [(None, None, None), (b"1", 0, "CREATED"), (b"2", 1, "CHANGED"), (None, None, "DELETED")], "DataWatch calls")
    d = b + "/cw"
    c.create(d)
    kids = []
    w.ChildrenWatch(d, lambda children: kids.append(sorted(children)))
    wait_for(lambda: kids, 5, "initial ChildrenWatch call")
    c.create(d + "/a")
    wait_for(lambda: len(kids) >= 2, 5, "child a")
    c.create(d + "/b")
    wait_for(lambda: len(kids) >= 3, 5, "child b")
    c.delete(d + "/a")
    wait_for(lambda: len(kids) >= 4, 5, "delete a")
    c.set(d + "/b", b"data")
    settle(w)
    eq(kids, [[], ["a"], ["a", "b"], ["b"]], "ChildrenWatch calls")


@check
def recipe_tree_cache(ctx):
    b = ctx.base
    c, w = ctx.client(), ctx.client()
    root = b + "/tree"
    c.create(root + "/x", b"x0", makepath=True)
    events = []
    init = threading.Event()
    cache = TreeCache(w, root)

    def listener(ev):
        if ev.event_type == TreeEvent.INITIALIZED:
            init.set()
        elif ev.event_type in (TreeEvent.NODE_ADDED, TreeEvent.NODE_UPDATED, TreeEvent.NODE_REMOVED):
            events.append((ev.event_type, ev.event_data.path, ev.event_data.data))

    cache.listen(listener)
    cache.start()
    try:
        ok(init.wait(10), "TreeCache initialised")
        eq(sorted(events), sorted([(TreeEvent.NODE_ADDED, root, b""), (TreeEvent.NODE_ADDED, root + "/x", b"x0")]), "initial events")
        events.clear()
        c.create(root + "/y/z", b"z0", makepath=True)
        wait_for(lambda: len(events) >= 2, 10, "NODE_ADDED y, y/z")
        c.set(root + "/x", b"x1")
        wait_for(lambda: len(events) >= 3, 10, "NODE_UPDATED x")
        c.delete(root + "/x")
        wait_for(lambda: len(events) >= 4, 10, "NODE_REMOVED x")
        settle(w)
        eq(
            events,
            [
                (TreeEvent.NODE_ADDED, root + "/y", b""),
                (TreeEvent.NODE_ADDED, root + "/y/z", b"z0"),
                (TreeEvent.NODE_UPDATED, root + "/x", b"x1"),
                (TreeEvent.NODE_REMOVED, root + "/x", b"x1"),
            ],
            "tree events",
        )
        node = cache.get_data(root + "/y/z")
        eq(node.data, b"z0", "cached data")
        eq(node.stat, c.exists(root + "/y/z"), "cached stat")
        eq(sorted(cache.get_children(root)), ["y"], "cached children")
    finally:
        cache.close()


# --------------------------------------------------------------------------
# opcodes kazoo has no API for (3.6+ features used by Curator, Pulsar, zkCli)


@check
def opcodes_ttl_and_container(ctx):
    c = ctx.client()
    b = ctx.base
    path, st = call(c, CreateTTLReq(b + "/ttl", b"t", 5, 60000))
    eq(path, b + "/ttl", "createTTL path")
    eq((st.version, st.dataLength, st.numChildren), (0, 1, 0), "createTTL stat")
    eq(st.ephemeralOwner, 0, "TTL node: Stat.ephemeralOwner is reported as 0")
    eq(c.exists(b + "/ttl"), st, "exists of the TTL node")
    path, st = call(c, CreateTTLReq(b + "/ttls-", b"", 6, 60000))
    eq(path, b + "/ttls-0000000001", "sequential TTL")
    for label, flags, ttl in (("ttl 0", 5, 0), ("ttl 2^40", 5, 1 << 40), ("ttl -1", 5, -1), ("flags 0", 0, 1000), ("flags 1 (ephemeral)", 1, 1000), ("flags 4 (container)", 4, 1000)):
        raises(BadArgumentsError, lambda: call(c, CreateTTLReq(b + "/bad", b"", flags, ttl)), "createTTL " + label)
    c.create(b + "/ttl/kid")  # TTL nodes can have children
    path, st = call(c, CreateContainerReq(b + "/cont", b"c"))
    eq(path, b + "/cont", "createContainer path")
    eq(st.ephemeralOwner, 0, "container: Stat.ephemeralOwner is reported as 0")
    c.create(b + "/cont/kid", ephemeral=True)
    eq(c.get_children(b + "/cont"), ["kid"], "container children")
    raises(NodeExistsError, lambda: call(c, CreateContainerReq(b + "/cont", b"")), "container exists")
    raises(NoNodeError, lambda: call(c, CreateContainerReq(b + "/none/cont", b"")), "container without parent")


@check
def opcodes_ephemerals_children_number_whoami(ctx):
    c = ctx.client()
    other = ctx.client()
    b = ctx.base
    c.create(b + "/d/e1", ephemeral=True, makepath=True)
    c.create(b + "/e2", ephemeral=True)
    c.create(b + "/d/p/q", makepath=True)
    other.create(b + "/d/theirs", ephemeral=True)
    eq(sorted(call(c, GetEphemeralsReq(b + "/d"))), [b + "/d/e1"], "getEphemerals: own session only")
    eq(sorted(call(c, GetEphemeralsReq(b))), [b + "/d/e1", b + "/e2"], "getEphemerals of base")
    eq(sorted(call(c, GetEphemeralsReq(b + "/d/e"))), [b + "/d/e1"], "getEphemerals: string prefix, not path")
    mine = call(c, GetEphemeralsReq("/"))
    eq(sorted(x for x in mine if x.startswith(b)), [b + "/d/e1", b + "/e2"], "getEphemerals /")
    eq(sorted(call(c, GetEphemeralsReq(""))), sorted(mine), "getEphemerals '' = '/'")
    eq(call(other, GetEphemeralsReq(b)), [b + "/d/theirs"], "the other session's")
    eq(call(c, GetAllChildrenNumberReq(b)), 6, "getAllChildrenNumber counts descendants, not the node")
    eq(call(c, GetAllChildrenNumberReq(b + "/d/p/q")), 0, "leaf")
    raises(NoNodeError, lambda: call(c, GetAllChildrenNumberReq(b + "/none")), "getAllChildrenNumber missing")
    eq(call(c, WhoAmIReq()), [("ip", "127.0.0.1")], "whoAmI before auth")
    c.add_auth("digest", "bob:pw")
    eq(sorted(call(c, WhoAmIReq())), [("digest", "bob"), ("ip", "127.0.0.1")], "whoAmI after digest auth")


@check
def opcodes_multi_read(ctx):
    c = ctx.client()
    b = ctx.base
    c.create(b + "/a", b"A")
    c.create(b + "/a/x")
    c.create(b + "/a/y")
    res = call(c, MultiReadReq([("data", b + "/a"), ("children", b + "/a"), ("data", b + "/none"), ("children", b + "/none"), ("data", b + "/a/x")]))
    eq(len(res), 5, "one result per op")
    eq(res[0], ("data", b"A", c.exists(b + "/a")), "getData result")
    eq(res[1], ("children", ["x", "y"]), "getChildren result")
    eq(res[2:4], [("error", -101), ("error", -101)], "per-op NoNode, others unaffected")
    eq(res[4][:2], ("data", b""), "getData of an empty node")
    eq(call(c, MultiReadReq([])), [], "empty multiRead")


@check
def watch_check_and_remove(ctx):
    c = ctx.client()
    other = ctx.client()
    p = ctx.base + "/n"
    c.create(p)
    raises(NoWatcherError, lambda: call(c, CheckWatchesReq(p, 3)), "checkWatches with no watch")
    raises(NoWatcherError, lambda: call(c, RemoveWatchesReq(p, 3)), "removeWatches with no watch")
    c.get(p, watch=lambda e: None)
    eq(call(c, CheckWatchesReq(p, 2)), 0, "checkWatches Data")
    raises(NoWatcherError, lambda: call(c, CheckWatchesReq(p, 1)), "checkWatches Children without one")
    # (ZooKeeper 3.8 answers checkWatches OK for a watch another session holds;
    # not asserted.) removeWatches is per session:
    raises(NoWatcherError, lambda: call(other, RemoveWatchesReq(p, 2)), "removeWatches of another session's watch")
    eq(call(c, CheckWatchesReq(p, 2)), 0, "the owner's watch is intact")
    eq(call(c, RemoveWatchesReq(p, 2)), 0, "removeWatches Data")
    raises(NoWatcherError, lambda: call(c, CheckWatchesReq(p, 2)), "gone after removeWatches")
    c.get_children(p, watch=lambda e: None)
    c.get(p, watch=lambda e: None)
    eq(call(c, RemoveWatchesReq(p, 3)), 0, "removeWatches Any")
    other.set(p, b"x")
    other.create(p + "/kid")
    settle(c)
    eq(named(c.spy.snapshot(ctx.base)), [], "no events after the watches were removed")


@check
def watch_persistent_and_recursive(ctx):
    c = ctx.client()
    w = ctx.client()
    b = ctx.base
    rec, per = b + "/rec", b + "/per"
    eq(call(w, AddWatchReq(rec, 1)), ("ErrorResponse", 0, 4), "addWatch reply body is ErrorResponse{0}")
    eq(call(w, AddWatchReq(per, 0))[1], 0, "addWatch persistent")
    for p in (rec, per):
        c.create(p)
        c.create(p + "/a")
        c.create(p + "/a/b")
        c.set(p + "/a/b", b"1")
        c.set(p, b"1")
        c.delete(p + "/a/b")
        c.delete(p + "/a")
        c.delete(p)
        c.create(p)
    settle(w)
    eq(
        named(w.spy.snapshot(rec)),
        [
            ("NodeCreated", rec), ("NodeCreated", rec + "/a"), ("NodeCreated", rec + "/a/b"),
            ("NodeDataChanged", rec + "/a/b"), ("NodeDataChanged", rec),
            ("NodeDeleted", rec + "/a/b"), ("NodeDeleted", rec + "/a"), ("NodeDeleted", rec), ("NodeCreated", rec),
        ],
        "PERSISTENT_RECURSIVE: node and descendants, no NodeChildrenChanged, survives delete",
    )
    eq(
        named(w.spy.snapshot(per)),
        [
            ("NodeCreated", per), ("NodeChildrenChanged", per), ("NodeDataChanged", per),
            ("NodeChildrenChanged", per), ("NodeDeleted", per), ("NodeCreated", per),
        ],
        "PERSISTENT: data and child events of the node itself, survives delete",
    )
    w.spy.clear()
    eq(call(w, RemoveWatchesReq(rec, 3)), 0, "removeWatches Any removes a recursive watch")
    eq(call(w, RemoveWatchesReq(per, 3)), 0, "removeWatches Any removes a persistent watch")
    c.set(rec, b"2")
    c.set(per, b"2")
    settle(w)
    eq(named(w.spy.snapshot(b)), [], "no events after removal")
    raises(MarshallingError, lambda: call(w, AddWatchReq(b, 7)), "addWatch with an unknown mode")


# --------------------------------------------------------------------------
# the wire itself: handshake and malformed input (bare sockets)


@check
def wire_handshake_and_close(ctx):
    a = Wire(ctx.hosts)
    h = a.handshake(4000)
    eq((h["len"], h["proto"], h["timeout"], h["pwlen"]), (37, 0, 4000, 16), "ConnectResponse: 37 bytes, proto 0, timeout, 16-byte password")
    ok(h["sid"] != 0, "session id")
    for req, want in ((1, 4000), (5000, 5000), (100000, 40000)):
        w = Wire(ctx.hosts)
        eq(w.handshake(req)["timeout"], want, "timeout %d ms clamped to [4000, 40000]" % req)
        w.close()
    a.request(-2, 11)
    xid, zxid, err, body = a.reply()
    eq((xid, err, body), (-2, 0, b""), "ping reply")
    ok(zxid > 0, "ping reply carries the last zxid")
    # reattach with the right password: same id, password and timeout; the old connection is closed
    b = Wire(ctx.hosts)
    h2 = b.handshake(4000, h["sid"], h["pw"])
    eq((h2["sid"], h2["pw"], h2["timeout"]), (h["sid"], h["pw"], 4000), "reattach")
    ok(a.closed(), "the previous connection of the session is closed")
    # wrong password / unknown session: timeout 0, id 0, 16 zero bytes, then close
    for label, sid, pw in (("wrong password", h["sid"], b"\x01" * 16), ("unknown session", 0x7777, b"\x01" * 16)):
        w = Wire(ctx.hosts)
        r = w.handshake(4000, sid, pw)
        eq((r["len"], r["timeout"], r["sid"], r["pw"]), (37, 0, 0, b"\x00" * 16), label)
        ok(w.closed(), label + ": connection closed")
        w.close()
    # closeSession: reply, then the server closes; the session is gone for good
    b2 = Wire(ctx.hosts)
    h3 = b2.handshake(4000, h["sid"], h["pw"])
    eq(h3["sid"], h["sid"], "reattach after the wrong-password attempt")
    b2.request(7, -11)
    xid, zxid, err, body = b2.reply()
    eq((xid, err, body), (7, 0, b""), "closeSession reply")
    ok(b2.closed(), "closed after closeSession")
    w = Wire(ctx.hosts)
    eq(w.handshake(4000, h["sid"], h["pw"])["timeout"], 0, "a closed session cannot be resumed")
    w.close()


@check
def wire_malformed_input(ctx):
    def fresh():
        w = Wire(ctx.hosts)
        w.handshake(4000)
        return w

    # unknown opcodes: UNIMPLEMENTED (-6), then the connection is closed
    for op in (999, 0):
        w = fresh()
        w.request(1, op)
        xid, zxid, err, body = w.reply()
        eq((xid, err), (1, -6), "opcode %d answered UNIMPLEMENTED" % op)
        ok(w.closed(), "opcode %d: connection closed" % op)
    # check (13) is valid only inside a multi: ZooKeeper 3.8 closes without a reply
    w = fresh()
    w.request(1, 13, ustr("/") + struct.pack("!i", -1))
    try:
        xid, zxid, err, body = w.reply()
        eq(err, -6, "top-level check, if answered at all, is UNIMPLEMENTED")
    except (EOFError, OSError):
        pass
    ok(w.closed(), "top-level check: connection closed")
    # a body that does not parse: MARSHALLINGERROR (-5), the connection stays usable
    w = fresh()
    w.request(1, 4, b"\x00\x00\x00\xff")
    eq(w.reply()[2], -5, "truncated getData body")
    w.request(2, 3, ustr("/") + b"\x00")
    eq(w.reply()[:3:2], (2, 0), "next request on the same connection")
    w.close()
    # frames longer than jute.maxbuffer, or negative: connection closed, no reply
    for label, data in (("length 0x100000", struct.pack("!i", 0x100000) + b"\x00" * 64), ("negative length", struct.pack("!i", -5))):
        w = fresh()
        w.send_raw(data)
        ok(w.closed(), label + ": connection closed")
    # a garbage handshake
    w = Wire(ctx.hosts)
    w.send_raw(struct.pack("!i", 3) + b"abc")
    ok(w.closed(), "garbage ConnectRequest: connection closed")
    eq(ruok(ctx.hosts), "imok", "server still healthy")
    c = ctx.client()
    eq(c.exists("/").numChildren >= 1, True, "and serving sessions")



# --------------------------------------------------------------------------
# main


def run_one(fn, hosts, root):
    ctx = Ctx(hosts, root, fn.__name__)
    outcome = {}

    def body():
        try:
            setup = ctx.client()
            setup.ensure_path(ctx.base)
            fn(ctx)
            outcome["ok"] = True
        except BaseException as e:  # noqa: BLE001
            outcome["err"] = e
            outcome["tb"] = traceback.format_exc()

    t = threading.Thread(target=body, daemon=True, name="check-" + fn.__name__)
    t0 = time.monotonic()
    t.start()
    t.join(CHECK_TIMEOUT)
    dt = time.monotonic() - t0
    if t.is_alive():
        outcome["err"] = AssertionError("check timed out after %.0fs" % CHECK_TIMEOUT)
        outcome["tb"] = ""
    closer = threading.Thread(target=ctx.close, daemon=True)
    closer.start()
    closer.join(15)
    return outcome, dt


def cleanup(hosts, root, users):
    try:
        c = KazooClient(hosts=hosts, timeout=10)
        c.start(timeout=15)
        for u in users:
            c.add_auth("digest", u)
        c.delete(root, recursive=True)
        c.stop()
        c.close()
    except Exception as e:  # noqa: BLE001
        print("WARN: cleanup of %s failed: %r" % (root, e), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", default="127.0.0.1:2181")
    ap.add_argument("-k", dest="select", action="append", default=[], help="run checks whose name contains this")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--hold-session", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--sid", help=argparse.SUPPRESS)
    ap.add_argument("--pw", help=argparse.SUPPRESS)
    ap.add_argument("--ephemeral", help=argparse.SUPPRESS)
    ap.add_argument("--inspect", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.hold_session:
        hold_session_main(args)
        return
    logging.basicConfig(level=logging.CRITICAL, format="%(name)s %(levelname)s %(message)s")
    checks = [f for f in CHECKS if not args.select or any(s in f.__name__ for s in args.select)]
    if args.list:
        for f in checks:
            print(f.__name__)
        return
    root = "/compat-kazoo-%d-%s" % (os.getpid(), uuid.uuid4().hex[:8])
    print("kazoo checks against %s (base %s)" % (args.hosts, root), flush=True)
    try:
        probe = KazooClient(hosts=args.hosts, timeout=10)
        probe.start(timeout=15)
        probe.ensure_path(root)
        probe.stop()
        probe.close()
    except Exception as e:  # noqa: BLE001
        print("FAIL connect  cannot open a session on %s: %r" % (args.hosts, e), flush=True)
        print("kazoo: 0 passed, %d failed" % len(checks), flush=True)
        os._exit(1)
    passed, failed = [], []
    t_all = time.monotonic()
    for fn in checks:
        outcome, dt = run_one(fn, args.hosts, root)
        if outcome.get("ok"):
            passed.append(fn.__name__)
            print("PASS %-40s %6.2fs" % (fn.__name__, dt), flush=True)
        else:
            failed.append(fn.__name__)
            err = outcome.get("err")
            print("FAIL %-40s %6.2fs  %s: %s" % (fn.__name__, dt, type(err).__name__, err), flush=True)
            tb = outcome.get("tb", "")
            if tb and not isinstance(err, AssertionError):
                print("     " + tb.strip().replace("\n", "\n     "), flush=True)
            elif tb:
                lines = [ln for ln in tb.strip().splitlines() if ln.strip().startswith("File ") and __file__.split("/")[-1] in ln]
                if lines:
                    print("     at " + lines[-1].strip(), flush=True)
    cleanup(args.hosts, root, ["alice:secret"])
    print("kazoo: %.1fs" % (time.monotonic() - t_all), flush=True)
    if failed:
        print("kazoo failed checks: " + " ".join(failed), flush=True)
    print("kazoo: %d passed, %d failed" % (len(passed), len(failed)), flush=True)
    sys.stdout.flush()
    os._exit(1 if failed else 0)


if __name__ == "__main__":
    main()
