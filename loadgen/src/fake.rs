//! Tests only: a small in-memory ZooKeeper that answers request frames, for
//! driving [`crate::session::Session`]s without sockets. Enough of the
//! protocol for every workload: create (persistent, ephemeral), delete with
//! versions, getData, setData, exists and getData watches (one-time), persistent
//! watches, getChildren, multi (atomic) and multiRead, closeSession. A `fault`
//! makes it answer wrongly, to prove the checks catch it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::{Bytes, BytesMut};
use corekeeper::proto::frame::{end_frame, split_frame};
use corekeeper::proto::response::{
    encode_create_response, encode_get_children_response, encode_get_data_response,
    encode_stat_response,
};
use corekeeper::proto::{
    encode_header_only_reply, encode_multi_response, encode_notification,
    encode_reply_frame_header, ConnectRequest, ConnectResponse, ErrorCode, EventType, MultiOp,
    MultiReadOp, MultiResult, Reader, Request, RequestHeader, Stat,
};

use crate::session::REPLY_BYTES_MAX;

/// A way to answer wrongly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// setData skips a version.
    SkipVersion,
    /// getData returns the previous version (stamped as such).
    StaleRead,
    /// getData returns one byte too few.
    ShortRead,
    /// getData returns another key's data.
    ForeignData,
    /// Replies carry the wrong xid.
    WrongXid,
    /// setData of paths containing this text fails with BADVERSION.
    FailSetOn(&'static str),
    /// Watches never fire.
    NoNotifications,
}

#[derive(Clone, Debug)]
struct Node {
    data: Bytes,
    version: i32,
    owner: Option<usize>,
}

/// The fake server; `conn` numbers the client connections.
#[derive(Default)]
pub struct FakeServer {
    nodes: BTreeMap<String, Node>,
    connected: BTreeSet<usize>,
    /// One-time data watches: path -> connections.
    watches: HashMap<String, BTreeSet<usize>>,
    /// Persistent watches: path -> connections.
    persistent: HashMap<String, BTreeSet<usize>>,
    /// The fault to inject.
    pub fault: Option<Fault>,
    zxid: i64,
}

/// Replies and notifications per connection.
pub type Outputs = BTreeMap<usize, BytesMut>;

impl FakeServer {
    /// Answers every whole request frame `conn` sent in `input`, in order.
    pub fn serve(&mut self, conn: usize, input: &mut BytesMut) -> Outputs {
        let mut outs = Outputs::new();
        while let Some(frame) = split_frame(input, REPLY_BYTES_MAX).unwrap() {
            let mut r = Reader::new(&frame, REPLY_BYTES_MAX);
            if !self.connected.contains(&conn) {
                ConnectRequest::decode(&mut r).unwrap();
                self.connected.insert(conn);
                ConnectResponse {
                    timeout_ms: 30_000,
                    session_id: 0x70 + conn as i64,
                    read_only: Some(false),
                    ..ConnectResponse::default()
                }
                .encode_frame(outs.entry(conn).or_default());
                continue;
            }
            let header = RequestHeader::decode(&mut r).unwrap();
            let request = Request::decode(header.op().unwrap(), &mut r).unwrap();
            let xid = if self.fault == Some(Fault::WrongXid) {
                header.xid + 1
            } else {
                header.xid
            };
            self.answer(conn, xid, request, &mut outs);
        }
        outs
    }

    /// The node at `path`: (data, version), if it exists.
    pub fn node(&self, path: &str) -> Option<(Bytes, i32)> {
        self.nodes.get(path).map(|n| (n.data.clone(), n.version))
    }

    /// Every path.
    pub fn paths(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    fn stat(node: &Node) -> Stat {
        Stat {
            version: node.version,
            data_length: node.data.len() as i32,
            ..Stat::default()
        }
    }

    fn children(&self, path: &str) -> Vec<String> {
        let prefix = format!("{path}/");
        self.nodes
            .keys()
            .filter_map(|p| p.strip_prefix(&prefix))
            .filter(|rest| !rest.contains('/'))
            .map(str::to_owned)
            .collect()
    }

    fn fire(&mut self, path: &str, event: EventType, outs: &mut Outputs) {
        if self.fault == Some(Fault::NoNotifications) {
            return;
        }
        let mut to: BTreeSet<usize> = self.watches.remove(path).unwrap_or_default();
        to.extend(self.persistent.get(path).into_iter().flatten().copied());
        for conn in to {
            encode_notification(outs.entry(conn).or_default(), self.zxid, event, path);
        }
    }

    fn answer(&mut self, conn: usize, xid: i32, request: Request<'_>, outs: &mut Outputs) {
        self.zxid += 1;
        let zxid = self.zxid;
        match request {
            Request::Multi(ops) => {
                let results = self.multi(conn, &ops, outs);
                let out = outs.entry(conn).or_default();
                let start = encode_reply_frame_header(out, xid, zxid, 0);
                encode_multi_response(out, &results);
                end_frame(out, start);
            }
            Request::MultiRead(ops) => {
                let results: Vec<MultiResult> = ops
                    .iter()
                    .map(|op| match op {
                        MultiReadOp::GetData(path) => match self.nodes.get(*path) {
                            Some(n) => MultiResult::GetData {
                                data: n.data.clone(),
                                stat: Self::stat(n),
                            },
                            None => MultiResult::Error {
                                err: ErrorCode::NoNode.code(),
                            },
                        },
                        MultiReadOp::GetChildren(path) => MultiResult::GetChildren {
                            children: self.children(path),
                        },
                    })
                    .collect();
                let out = outs.entry(conn).or_default();
                let start = encode_reply_frame_header(out, xid, zxid, 0);
                encode_multi_response(out, &results);
                end_frame(out, start);
            }
            Request::CloseSession => {
                let mine: Vec<String> = self
                    .nodes
                    .iter()
                    .filter(|(_, n)| n.owner == Some(conn))
                    .map(|(p, _)| p.clone())
                    .collect();
                for path in mine {
                    self.nodes.remove(&path);
                    self.fire(&path, EventType::NodeDeleted, outs);
                }
                encode_header_only_reply(outs.entry(conn).or_default(), xid, zxid, 0);
            }
            Request::AddWatch(w) => {
                self.persistent
                    .entry(w.path.to_owned())
                    .or_default()
                    .insert(conn);
                let out = outs.entry(conn).or_default();
                let start = encode_reply_frame_header(out, xid, zxid, 0);
                out.extend_from_slice(&0i32.to_be_bytes());
                end_frame(out, start);
            }
            other => {
                let result = self.single(conn, other, outs);
                self.encode_single(conn, xid, zxid, result, outs);
            }
        }
    }

    /// Applies a multi atomically: on the first failure nothing is kept.
    fn multi(&mut self, conn: usize, ops: &[MultiOp<'_>], outs: &mut Outputs) -> Vec<MultiResult> {
        let saved = self.nodes.clone();
        let mut fired = Vec::new();
        let mut results = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let result = match op {
                MultiOp::Create(c) => {
                    self.create(conn, c.path, c.data.clone(), c.flags)
                        .map(|()| {
                            fired.push((c.path.to_owned(), EventType::NodeCreated));
                            MultiResult::Create {
                                path: c.path.to_owned(),
                            }
                        })
                }
                MultiOp::SetData(s) => self.set(s.path, s.data.clone(), s.version).map(|stat| {
                    fired.push((s.path.to_owned(), EventType::NodeDataChanged));
                    MultiResult::SetData { stat }
                }),
                MultiOp::Delete(d) => self.delete(d.path, d.version).map(|()| {
                    fired.push((d.path.to_owned(), EventType::NodeDeleted));
                    MultiResult::Delete
                }),
                MultiOp::Check(c) => match self.nodes.get(c.path) {
                    Some(n) if c.version == -1 || n.version == c.version => Ok(MultiResult::Check),
                    Some(_) => Err(ErrorCode::BadVersion.code()),
                    None => Err(ErrorCode::NoNode.code()),
                },
            };
            match result {
                Ok(r) => results.push(r),
                Err(err) => {
                    self.nodes = saved;
                    let mut failed: Vec<MultiResult> =
                        (0..i).map(|_| MultiResult::Error { err: 0 }).collect();
                    failed.push(MultiResult::Error { err });
                    failed.extend((i + 1..ops.len()).map(|_| MultiResult::Error { err: -2 }));
                    return failed;
                }
            }
        }
        for (path, event) in fired {
            self.fire(&path, event, outs);
        }
        results
    }

    fn create(&mut self, conn: usize, path: &str, data: Bytes, flags: i32) -> Result<(), i32> {
        if self.nodes.contains_key(path) {
            return Err(ErrorCode::NodeExists.code());
        }
        let owner = (flags & 1 == 1).then_some(conn);
        self.nodes.insert(
            path.to_owned(),
            Node {
                data,
                version: 0,
                owner,
            },
        );
        Ok(())
    }

    fn set(&mut self, path: &str, data: Bytes, version: i32) -> Result<Stat, i32> {
        if let Some(Fault::FailSetOn(text)) = self.fault {
            if path.contains(text) {
                return Err(ErrorCode::BadVersion.code());
            }
        }
        let skip = i32::from(self.fault == Some(Fault::SkipVersion));
        let node = self.nodes.get_mut(path).ok_or(ErrorCode::NoNode.code())?;
        if version != -1 && version != node.version {
            return Err(ErrorCode::BadVersion.code());
        }
        node.data = data;
        node.version += 1 + skip;
        Ok(Self::stat(node))
    }

    fn delete(&mut self, path: &str, version: i32) -> Result<(), i32> {
        let node = self.nodes.get(path).ok_or(ErrorCode::NoNode.code())?;
        if version != -1 && version != node.version {
            return Err(ErrorCode::BadVersion.code());
        }
        if !self.children(path).is_empty() {
            return Err(ErrorCode::NotEmpty.code());
        }
        self.nodes.remove(path);
        Ok(())
    }

    fn single(
        &mut self,
        conn: usize,
        request: Request<'_>,
        outs: &mut Outputs,
    ) -> Result<Single, i32> {
        match request {
            Request::Create(c) => {
                self.create(conn, c.path, c.data.clone(), c.flags)?;
                self.fire(c.path, EventType::NodeCreated, outs);
                Ok(Single::Created(c.path.to_owned()))
            }
            Request::SetData(s) => {
                let stat = self.set(s.path, s.data.clone(), s.version)?;
                self.fire(s.path, EventType::NodeDataChanged, outs);
                Ok(Single::Stat(stat))
            }
            Request::Delete(d) => {
                self.delete(d.path, d.version)?;
                self.fire(d.path, EventType::NodeDeleted, outs);
                Ok(Single::Empty)
            }
            Request::GetData(g) => {
                let node = self
                    .nodes
                    .get(g.path)
                    .ok_or(ErrorCode::NoNode.code())?
                    .clone();
                if g.watch {
                    self.watches
                        .entry(g.path.to_owned())
                        .or_default()
                        .insert(conn);
                }
                let (mut data, mut version) = (node.data.clone(), node.version);
                match self.fault {
                    Some(Fault::StaleRead) if version > 0 => {
                        version -= 1;
                        let mut stamped = BytesMut::from(&data[..]);
                        stamped[..4].copy_from_slice(&version.to_be_bytes());
                        data = stamped.freeze();
                    }
                    Some(Fault::ShortRead) => data = data.slice(1..),
                    Some(Fault::ForeignData) => {
                        let mut other = BytesMut::from(&data[..]);
                        other[7] ^= 1;
                        data = other.freeze();
                    }
                    _ => {}
                }
                Ok(Single::Data(data, version))
            }
            Request::Exists(e) => {
                if e.watch {
                    self.watches
                        .entry(e.path.to_owned())
                        .or_default()
                        .insert(conn);
                }
                let node = self.nodes.get(e.path).ok_or(ErrorCode::NoNode.code())?;
                Ok(Single::Stat(Self::stat(node)))
            }
            Request::GetChildren(g) => Ok(Single::Children(self.children(g.path))),
            other => panic!("the fake server cannot answer {other:?}"),
        }
    }

    fn encode_single(
        &self,
        conn: usize,
        xid: i32,
        zxid: i64,
        result: Result<Single, i32>,
        outs: &mut Outputs,
    ) {
        let out = outs.entry(conn).or_default();
        let single = match result {
            Ok(single) => single,
            Err(err) => return encode_header_only_reply(out, xid, zxid, err),
        };
        let start = encode_reply_frame_header(out, xid, zxid, 0);
        match single {
            Single::Created(path) => encode_create_response(out, &path),
            Single::Stat(stat) => encode_stat_response(out, &stat),
            Single::Data(data, version) => {
                let stat = Stat {
                    version,
                    data_length: data.len() as i32,
                    ..Stat::default()
                };
                encode_get_data_response(out, &data, &stat)
            }
            Single::Children(children) => encode_get_children_response(out, children.iter()),
            Single::Empty => {}
        }
        end_frame(out, start);
    }
}

enum Single {
    Created(String),
    Stat(Stat),
    Data(Bytes, i32),
    Children(Vec<String>),
    Empty,
}
