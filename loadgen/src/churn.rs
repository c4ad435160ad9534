//! session-churn: one cycle of a worker, as a pure state machine. A cycle
//! opens a new ZooKeeper session (handshake), checks that the ephemeral znode
//! of the worker's previous cycle is gone (closing a session deletes its
//! ephemerals before closeSession returns), creates this cycle's ephemeral and
//! closes the session. Each request waits for the previous reply, like a
//! client that connects, registers itself and leaves.

use bytes::{Bytes, BytesMut};
use corekeeper::proto::frame::{begin_frame, end_frame};
use corekeeper::proto::{
    Acl, ConnectRequest, ConnectResponse, CreateMode, CreateRequest, DecodeError, ErrorCode,
    OpCode, PathWatch, Reader, ReplyHeader, Request, Response,
};

use crate::expect::Invalid;
use crate::session::{ErrorKind, REPLY_BYTES_MAX};
use crate::workload::OpKind;

/// Where a cycle is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Handshake,
    CheckPrevious,
    Create,
    Close,
    Done,
}

/// One request of the cycle answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StageDone {
    /// Which request (`Connect`, `Exists`, `CreateEphemeral`, `Close`).
    pub op: OpKind,
    /// What came of it.
    pub outcome: Result<(), ErrorKind>,
}

/// One connect-check-create-close cycle of worker `worker`.
#[derive(Debug)]
pub struct Cycle {
    worker: u32,
    n: u64,
    root: String,
    timeout_ms: i32,
    stage: Stage,
    value: Bytes,
}

/// The ephemeral znode of cycle `n` of `worker`.
pub fn ephemeral_path(root: &str, worker: u32, n: u64) -> String {
    format!("{root}/e{worker}-{n}")
}

impl Cycle {
    /// Cycle `n` of `worker`, with ephemerals of `value` under `root`.
    pub fn new(worker: u32, n: u64, root: &str, timeout_ms: i32, value: Bytes) -> Cycle {
        Cycle {
            worker,
            n,
            root: root.to_owned(),
            timeout_ms,
            stage: Stage::Handshake,
            value,
        }
    }

    /// Whether the session is closed.
    pub fn done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Writes the handshake.
    pub fn start(&self, out: &mut BytesMut) {
        let start = begin_frame(out);
        ConnectRequest {
            timeout_ms: self.timeout_ms,
            passwd: Bytes::from_static(&[0; 16]),
            read_only: Some(false),
            ..ConnectRequest::default()
        }
        .encode(out);
        end_frame(out, start);
    }

    /// Handles the reply to the request in flight and writes the next request
    /// into `out` (nothing once closed). An error of any request but the
    /// handshake still moves on (the session is closed either way); a failed
    /// handshake or an undecodable frame ends the cycle.
    pub fn on_frame(
        &mut self,
        frame: &Bytes,
        out: &mut BytesMut,
    ) -> Result<StageDone, DecodeError> {
        let mut r = Reader::new(frame, REPLY_BYTES_MAX);
        if self.stage == Stage::Handshake {
            let response = ConnectResponse::decode(&mut r)?;
            if response.timeout_ms <= 0 {
                self.stage = Stage::Done;
                return Ok(StageDone {
                    op: OpKind::Connect,
                    outcome: Err(ErrorKind::Server(ErrorCode::SessionExpired.code())),
                });
            }
            self.next(out);
            return Ok(StageDone {
                op: OpKind::Connect,
                outcome: Ok(()),
            });
        }
        let header = ReplyHeader::decode(&mut r)?;
        let (op, outcome) = match self.stage {
            Stage::CheckPrevious => {
                // The previous cycle's ephemeral must be gone.
                let outcome = match header.err {
                    e if e == ErrorCode::NoNode.code() => Ok(()),
                    0 => Err(ErrorKind::Invalid(Invalid::Ephemeral)),
                    e => Err(ErrorKind::Server(e)),
                };
                (OpKind::Exists, outcome)
            }
            Stage::Create => {
                let outcome = if header.err != 0 {
                    Err(ErrorKind::Server(header.err))
                } else {
                    match Response::decode(OpCode::Create, &mut r) {
                        Ok(Response::Create { path }) if path == self.path() => Ok(()),
                        Ok(_) => Err(ErrorKind::Invalid(Invalid::CreatedPath)),
                        Err(_) => Err(ErrorKind::Invalid(Invalid::Body)),
                    }
                };
                (OpKind::CreateEphemeral, outcome)
            }
            Stage::Close => {
                let outcome = if header.err == 0 {
                    Ok(())
                } else {
                    Err(ErrorKind::Server(header.err))
                };
                (OpKind::Close, outcome)
            }
            Stage::Handshake | Stage::Done => {
                return Err(DecodeError::Invalid("a reply after the cycle ended"));
            }
        };
        self.next(out);
        Ok(StageDone { op, outcome })
    }

    fn path(&self) -> String {
        ephemeral_path(&self.root, self.worker, self.n)
    }

    /// Moves to the next stage and writes its request.
    fn next(&mut self, out: &mut BytesMut) {
        self.stage = match self.stage {
            Stage::Handshake if self.n > 0 => {
                let previous = ephemeral_path(&self.root, self.worker, self.n - 1);
                Request::Exists(PathWatch {
                    path: &previous,
                    watch: false,
                })
                .encode_frame(1, out);
                Stage::CheckPrevious
            }
            Stage::Handshake | Stage::CheckPrevious => {
                let path = self.path();
                Request::Create(CreateRequest {
                    path: &path,
                    data: self.value.clone(),
                    acl: Acl::open_unsafe(),
                    flags: CreateMode::Ephemeral as i32,
                    ..CreateRequest::default()
                })
                .encode_frame(2, out);
                Stage::Create
            }
            Stage::Create => {
                Request::CloseSession.encode_frame(3, out);
                Stage::Close
            }
            Stage::Close | Stage::Done => Stage::Done,
        };
    }
}

#[cfg(test)]
mod tests {
    use corekeeper::proto::frame::split_frame;

    use super::*;
    use crate::fake::FakeServer;

    /// Runs one cycle against the fake server as connection `conn`.
    fn cycle(server: &mut FakeServer, conn: usize, n: u64) -> Vec<StageDone> {
        let mut c = Cycle::new(3, n, "/r", 10_000, Bytes::from_static(b"e"));
        let mut out = BytesMut::new();
        c.start(&mut out);
        let mut done = Vec::new();
        while !c.done() {
            let mut replies = server.serve(conn, &mut out).remove(&conn).unwrap();
            while let Some(frame) = split_frame(&mut replies, REPLY_BYTES_MAX).unwrap() {
                done.push(c.on_frame(&frame, &mut out).unwrap());
            }
        }
        done
    }

    #[test]
    fn cycles_connect_check_create_and_close() {
        let mut server = FakeServer::default();
        let first = cycle(&mut server, 0, 0);
        let ops: Vec<OpKind> = first.iter().map(|d| d.op).collect();
        assert_eq!(
            ops,
            [OpKind::Connect, OpKind::CreateEphemeral, OpKind::Close]
        );
        assert!(first.iter().all(|d| d.outcome.is_ok()), "{first:?}");
        assert!(server.paths().is_empty(), "the close deleted the ephemeral");
        let second = cycle(&mut server, 1, 1);
        assert_eq!(second.len(), 4);
        assert!(second.iter().all(|d| d.outcome.is_ok()), "{second:?}");
    }

    #[test]
    fn a_surviving_ephemeral_is_caught() {
        let mut server = FakeServer::default();
        // A persistent node where the previous cycle's ephemeral was.
        let mut out = BytesMut::new();
        let c = Cycle::new(3, 0, "/r", 10_000, Bytes::new());
        c.start(&mut out);
        Request::Create(CreateRequest {
            path: "/r/e3-0",
            acl: Acl::open_unsafe(),
            ..CreateRequest::default()
        })
        .encode_frame(9, &mut out);
        server.serve(5, &mut out);
        let second = cycle(&mut server, 1, 1);
        assert_eq!(second[1].op, OpKind::Exists);
        assert_eq!(
            second[1].outcome,
            Err(ErrorKind::Invalid(Invalid::Ephemeral))
        );
    }
}
