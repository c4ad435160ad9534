//! `null-server`: a ZooKeeper-protocol server that does no work, to measure the
//! ceiling of the host and of the load generator itself. If the load generator
//! reaches N ops/s against it, a real server measured at N ops/s on the same
//! host is limited by the generator (or the host), not by itself.
//!
//! Each connection keeps one znode's worth of state — the data and version of
//! the last create or setData — so that the load generator's checks (version
//! plus one, read-your-writes, data stamp and length) pass against it. Every
//! other request gets a canned success. The pure part is [`NullConn`]; the shell
//! is one glommio executor per thread, all bound to the port (SO_REUSEPORT), one
//! task per connection that answers each batch of requests with one write.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use corekeeper::proto::frame::{end_frame, split_frame};
use corekeeper::proto::response::{
    encode_create_response, encode_get_children_response, encode_get_data_response,
    encode_header_only_reply, encode_reply_frame_header, encode_stat_response,
};
use corekeeper::proto::{
    ConnectRequest, ConnectResponse, DecodeError, ErrorCode, OpCode, Reader, Request,
    RequestHeader, Stat,
};
use futures_lite::{AsyncBufReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};

use crate::session::REPLY_BYTES_MAX;

/// zxid put in every reply header.
const ZXID: i64 = 1;

/// One connection's state.
#[derive(Debug, Default)]
pub struct NullConn {
    connected: bool,
    data: Bytes,
    version: i32,
}

impl NullConn {
    /// Answers one request frame into `out`. A frame that does not decode is an
    /// error: the connection should be closed.
    pub fn answer(
        &mut self,
        frame: &Bytes,
        session_id: i64,
        out: &mut BytesMut,
    ) -> Result<(), DecodeError> {
        let mut r = Reader::new(frame, REPLY_BYTES_MAX);
        if !self.connected {
            let request = ConnectRequest::decode(&mut r)?;
            self.connected = true;
            ConnectResponse {
                protocol_version: 0,
                timeout_ms: request.timeout_ms.max(1),
                session_id,
                passwd: [0; 16],
                read_only: request.read_only,
            }
            .encode_frame(out);
            return Ok(());
        }
        let header = RequestHeader::decode(&mut r)?;
        let Some(op) = header.op() else {
            encode_header_only_reply(out, header.xid, ZXID, ErrorCode::Unimplemented.code());
            return Ok(());
        };
        let request = Request::decode(op, &mut r)?;
        let stat = |data: &Bytes, version: i32| Stat {
            version,
            data_length: data.len() as i32,
            ..Stat::default()
        };
        match request {
            Request::GetData(_) => {
                let start = encode_reply_frame_header(out, header.xid, ZXID, 0);
                encode_get_data_response(out, &self.data, &stat(&self.data, self.version));
                end_frame(out, start);
            }
            Request::SetData(set) => {
                self.data = set.data;
                self.version += 1;
                let start = encode_reply_frame_header(out, header.xid, ZXID, 0);
                encode_stat_response(out, &stat(&self.data, self.version));
                end_frame(out, start);
            }
            Request::Create(create) if op == OpCode::Create => {
                self.data = create.data;
                self.version = 0;
                let start = encode_reply_frame_header(out, header.xid, ZXID, 0);
                encode_create_response(out, create.path);
                end_frame(out, start);
            }
            Request::GetChildren(_) => {
                let start = encode_reply_frame_header(out, header.xid, ZXID, 0);
                encode_get_children_response(out, std::iter::empty::<&str>());
                end_frame(out, start);
            }
            Request::Delete(_) | Request::Ping | Request::CloseSession | Request::Sync(_) => {
                encode_header_only_reply(out, header.xid, ZXID, 0);
            }
            _ => encode_header_only_reply(out, header.xid, ZXID, ErrorCode::Unimplemented.code()),
        }
        Ok(())
    }
}

/// Serves on 127.0.0.1:`port` with `threads` executors until killed.
pub fn serve(port: u16, threads: usize) -> std::io::Result<()> {
    let mut joins = Vec::new();
    for t in 0..threads.max(1) {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let join = LocalExecutorBuilder::new(Placement::Unbound)
            .name(&format!("null-server-{t}"))
            .spawn(move || async move {
                let listener = match TcpListener::bind(("127.0.0.1", port)) {
                    Ok(listener) => {
                        let _ = ready_tx.send(Ok(()));
                        listener
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                accept_loop(listener, t as i64).await;
            })
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("executor died"))?
            .map_err(std::io::Error::other)?;
        joins.push(join);
    }
    for join in joins {
        let _ = join.join();
    }
    Ok(())
}

async fn accept_loop(listener: TcpListener, thread: i64) {
    let mut accepted = 0i64;
    loop {
        match listener.accept().await {
            Ok(stream) => {
                accepted += 1;
                let session_id = (thread << 48) | accepted;
                glommio::spawn_local(connection(stream, session_id)).detach();
            }
            Err(_) => glommio::timer::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn connection(stream: TcpStream, session_id: i64) {
    let _ = stream.set_nodelay(true);
    let mut stream = stream.buffered();
    let mut input = BytesMut::with_capacity(64 << 10);
    let mut out = BytesMut::with_capacity(64 << 10);
    let mut conn = NullConn::default();
    loop {
        let chunk = match stream.fill_buf().await {
            Ok([]) | Err(_) => return,
            Ok(chunk) => chunk,
        };
        input.extend_from_slice(chunk);
        let n = chunk.len();
        stream.consume(n);
        loop {
            match split_frame(&mut input, REPLY_BYTES_MAX) {
                Ok(Some(frame)) => {
                    if conn.answer(&frame, session_id, &mut out).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{LoopModel, Phase, Session, SessionConfig};
    use crate::workload::{plan_named, Overrides, WorkloadKind};

    /// A loadgen session against a `NullConn` runs clean: the null server's
    /// answers pass every check the session makes.
    #[test]
    fn a_session_against_the_null_server_is_clean() {
        let o = Overrides {
            read_pct: vec![50],
            depth: Some(4),
            ..Overrides::default()
        };
        let step = plan_named(WorkloadKind::RwSweep, &o)
            .unwrap()
            .steps
            .remove(0);
        let mut session = Session::new(
            0,
            SessionConfig {
                step: std::sync::Arc::new(step),
                model: LoopModel::Closed,
                root: "/r".into(),
                timeout_ms: 10_000,
                seed: 3,
                fanout: None,
            },
        );
        let mut null = NullConn::default();
        let mut ok = 0;
        for (phase, rounds) in [
            (Phase::Connecting, 1),
            (Phase::Setup, 1),
            (Phase::Run(0), 50),
            (Phase::Teardown, 1),
            (Phase::Close, 1),
        ] {
            session.set_phase(phase, u64::MAX);
            for _ in 0..rounds {
                let mut requests = BytesMut::new();
                session.fill(0, &mut requests);
                let mut replies = BytesMut::new();
                while let Some(frame) = split_frame(&mut requests, REPLY_BYTES_MAX).unwrap() {
                    null.answer(&frame, 5, &mut replies).unwrap();
                }
                while let Some(frame) = split_frame(&mut replies, REPLY_BYTES_MAX).unwrap() {
                    if let Some(done) = session.on_frame(&frame, 0).unwrap() {
                        assert_eq!(done.outcome, Ok(()), "{done:?}");
                        ok += 1;
                    }
                }
            }
        }
        assert_eq!(session.phase(), Phase::Done);
        // Directory and znode, the run, their deletes, closeSession.
        assert_eq!(ok, 2 + 200 + 2 + 1);
    }
}
