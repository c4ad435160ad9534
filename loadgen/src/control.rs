//! A small blocking client on the main thread for the run's root znode: create
//! it before the sessions start, and remove it (and anything left under it by an
//! aborted run) at the end. Not on the measured path.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use corekeeper::proto::frame::{begin_frame, end_frame, split_frame};
use corekeeper::proto::{
    Acl, ConnectRequest, ConnectResponse, CreateRequest, DeleteRequest, ErrorCode, OpCode,
    PathWatch, Reader, ReplyHeader, Request, Response,
};

use crate::session::REPLY_BYTES_MAX;

/// How long the control client waits for any one reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Deletes sent before reading their replies when clearing leftovers.
const CLEANUP_BATCH_MAX: usize = 512;

/// What went wrong on the control connection.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Socket trouble.
    #[error("{addr}: {source}")]
    Io {
        /// The server.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The server sent something that is not a ZooKeeper reply.
    #[error("{addr}: bad reply: {what}")]
    Protocol {
        /// The server.
        addr: SocketAddr,
        /// What was wrong.
        what: String,
    },
    /// The server answered with an error code.
    #[error("{addr}: {op} {path}: {code}")]
    Server {
        /// The server.
        addr: SocketAddr,
        /// The operation.
        op: &'static str,
        /// Its path.
        path: String,
        /// ZooKeeper's error name.
        code: String,
    },
}

/// A connected control session.
pub struct Control {
    addr: SocketAddr,
    stream: TcpStream,
    buf: BytesMut,
    xid_next: i32,
}

impl Control {
    /// Connects and opens a session.
    pub fn connect(addr: SocketAddr) -> Result<Control, ControlError> {
        let io = |source| ControlError::Io { addr, source };
        let stream = TcpStream::connect_timeout(&addr, REPLY_TIMEOUT).map_err(io)?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT)).map_err(io)?;
        stream.set_nodelay(true).map_err(io)?;
        let mut control = Control {
            addr,
            stream,
            buf: BytesMut::new(),
            xid_next: 1,
        };
        let mut out = BytesMut::new();
        let start = begin_frame(&mut out);
        ConnectRequest {
            timeout_ms: 30_000,
            passwd: Bytes::from_static(&[0; 16]),
            read_only: Some(false),
            ..ConnectRequest::default()
        }
        .encode(&mut out);
        end_frame(&mut out, start);
        control.send(&out)?;
        let frame = control.recv()?;
        let response = ConnectResponse::decode(&mut Reader::new(&frame, REPLY_BYTES_MAX))
            .map_err(|e| control.protocol(e.to_string()))?;
        if response.timeout_ms <= 0 {
            return Err(control.protocol("session refused".into()));
        }
        Ok(control)
    }

    /// Creates a persistent, empty znode.
    pub fn create(&mut self, path: &str) -> Result<(), ControlError> {
        let request = Request::Create(CreateRequest {
            path,
            acl: Acl::open_unsafe(),
            ..CreateRequest::default()
        });
        self.call(&request, path).map(|_| ())
    }

    /// The names of `path`'s children.
    pub fn children(&mut self, path: &str) -> Result<Vec<String>, ControlError> {
        match self.call(
            &Request::GetChildren(PathWatch { path, watch: false }),
            path,
        )? {
            Response::GetChildren { children } => Ok(children),
            other => Err(self.protocol(format!("getChildren returned {other:?}"))),
        }
    }

    /// Deletes `path` and, if it has children (left by an aborted run), them first.
    pub fn delete_tree(&mut self, path: &str) -> Result<(), ControlError> {
        let children = self.children(path)?;
        for chunk in children.chunks(CLEANUP_BATCH_MAX) {
            let mut out = BytesMut::new();
            for child in chunk {
                let xid = self.next_xid();
                let child = format!("{path}/{child}");
                Request::Delete(DeleteRequest {
                    path: &child,
                    version: -1,
                })
                .encode_frame(xid, &mut out);
            }
            self.send(&out)?;
            for _ in chunk {
                let frame = self.recv()?;
                let header = ReplyHeader::decode(&mut Reader::new(&frame, REPLY_BYTES_MAX))
                    .map_err(|e| self.protocol(e.to_string()))?;
                if header.err != 0 && header.err != ErrorCode::NoNode.code() {
                    return Err(self.server_error("delete", path, header.err));
                }
            }
        }
        self.call(&Request::Delete(DeleteRequest { path, version: -1 }), path)
            .map(|_| ())
    }

    /// Closes the session.
    pub fn close(mut self) {
        let mut out = BytesMut::new();
        let xid = self.next_xid();
        Request::CloseSession.encode_frame(xid, &mut out);
        if self.send(&out).is_ok() {
            let _ = self.recv();
        }
    }

    fn call(&mut self, request: &Request<'_>, path: &str) -> Result<Response, ControlError> {
        let xid = self.next_xid();
        let mut out = BytesMut::new();
        request.encode_frame(xid, &mut out);
        self.send(&out)?;
        let frame = self.recv()?;
        let mut r = Reader::new(&frame, REPLY_BYTES_MAX);
        let header = ReplyHeader::decode(&mut r).map_err(|e| self.protocol(e.to_string()))?;
        if header.xid != xid {
            return Err(self.protocol(format!("reply xid {} to request xid {xid}", header.xid)));
        }
        if header.err != 0 {
            return Err(self.server_error(op_name(request.op()), path, header.err));
        }
        Response::decode(request.op(), &mut r).map_err(|e| self.protocol(e.to_string()))
    }

    fn next_xid(&mut self) -> i32 {
        let xid = self.xid_next;
        self.xid_next += 1;
        xid
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), ControlError> {
        let addr = self.addr;
        self.stream
            .write_all(bytes)
            .map_err(|source| ControlError::Io { addr, source })
    }

    fn recv(&mut self) -> Result<Bytes, ControlError> {
        let addr = self.addr;
        loop {
            match split_frame(&mut self.buf, REPLY_BYTES_MAX) {
                Ok(Some(frame)) => return Ok(frame),
                Ok(None) => {}
                Err(e) => return Err(self.protocol(e.to_string())),
            }
            let mut chunk = [0u8; 16 << 10];
            let n = self
                .stream
                .read(&mut chunk)
                .map_err(|source| ControlError::Io { addr, source })?;
            if n == 0 {
                return Err(self.protocol("connection closed".into()));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn protocol(&self, what: String) -> ControlError {
        ControlError::Protocol {
            addr: self.addr,
            what,
        }
    }

    fn server_error(&self, op: &'static str, path: &str, code: i32) -> ControlError {
        ControlError::Server {
            addr: self.addr,
            op,
            path: path.to_owned(),
            code: crate::session::ErrorKind::Server(code).name(),
        }
    }
}

fn op_name(op: OpCode) -> &'static str {
    match op {
        OpCode::Create => "create",
        OpCode::Delete => "delete",
        OpCode::GetChildren => "getChildren",
        _ => "request",
    }
}
