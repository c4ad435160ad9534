//! One client connection = a reader task and a writer task on the shard's core,
//! each with its own descriptor of the same socket (so neither waits on the other).
//!
//! The reader splits frames (checking each length against `jute.maxbuffer` before
//! buffering it) and hands them to the shard; it stops reading while the
//! connection is saturated. The writer sends everything queued for the
//! connection in one write per wake-up, so replies leave in batches.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd};
use std::rc::Rc;

use bytes::BytesMut;
use futures_lite::{AsyncBufReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};

use crate::admin::{FourLetterWord, SideEffect};
use crate::proto::frame::{split_frame, FrameError};
use crate::runtime::bell::{bell, BellWaiter};
use crate::runtime::clock::Clock;
use crate::runtime::shard::{Phase, Shard, Verdict};
use crate::runtime::Reports;

/// The shard state shared by the tasks of one core.
pub type ShardRef = Rc<RefCell<Shard>>;

/// Accepts connections for one shard until the listener fails.
pub async fn accept_loop(
    listener: TcpListener,
    shard: ShardRef,
    clock: Clock,
    reports: std::sync::Arc<Reports>,
) {
    loop {
        let stream = match listener.accept().await {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(peer) = stream.peer_addr() else {
            continue;
        };
        if !reports.admit(
            peer.ip(),
            shard.borrow().config().max_client_cnxns,
            shard.borrow().config().max_cnxns,
        ) {
            tracing::warn!(%peer, "too many connections: closing");
            continue;
        }
        let _ = stream.set_nodelay(true);
        // SAFETY: `dup` of a descriptor we own; the new descriptor is owned by
        // the writer's `TcpStream` alone and closed when it drops.
        let write_fd = unsafe { libc::dup(stream.as_raw_fd()) };
        if write_fd < 0 {
            tracing::warn!(%peer, "dup failed: closing");
            reports.release(peer.ip());
            continue;
        }
        // SAFETY: `write_fd` is a fresh, valid socket descriptor owned by nobody else.
        let writer_stream = unsafe { TcpStream::from_raw_fd(write_fd) };
        let (writer_bell, writer_waiter) = bell();
        let (reader_bell, reader_waiter) = bell();
        let id = {
            let mut shard = shard.borrow_mut();
            shard.set_wall(clock.wall_ms());
            shard.add_conn(peer, writer_bell, reader_bell)
        };
        glommio::spawn_local(write_loop(
            writer_stream,
            shard.clone(),
            id,
            writer_waiter,
            reports.clone(),
        ))
        .detach();
        glommio::spawn_local(read_loop(
            stream,
            shard.clone(),
            id,
            reader_waiter,
            clock,
            reports.clone(),
            peer,
        ))
        .detach();
    }
}

async fn read_loop(
    stream: TcpStream,
    shard: ShardRef,
    id: u64,
    resume: BellWaiter,
    clock: Clock,
    reports: std::sync::Arc<Reports>,
    peer: SocketAddr,
) {
    let mut stream = stream.buffered();
    let mut buf = BytesMut::new();
    let max = shard.borrow().config().jute_maxbuffer;
    let mut first = true;
    'read: loop {
        loop {
            let paused = match shard.borrow().conns.get(&id) {
                None => break 'read,
                Some(conn) if conn.phase == Phase::Closing => break 'read,
                Some(conn) => conn.saturated(),
            };
            if !paused {
                break;
            }
            if !resume.wait().await {
                break 'read;
            }
        }
        let chunk = match stream.fill_buf().await {
            Ok([]) => break,
            Ok(chunk) => chunk,
            Err(error) => {
                tracing::debug!(conn = id, %error, "read failed");
                break;
            }
        };
        buf.extend_from_slice(chunk);
        let consumed = chunk.len();
        stream.consume(consumed);
        if first && buf.len() >= 4 {
            first = false;
            let word: [u8; 4] = buf[..4].try_into().expect("4 bytes");
            if let Some(word) = FourLetterWord::from_bytes(word) {
                four_letter_word(&shard, id, word, &reports, clock).await;
                break;
            }
        }
        let mut shard_state = shard.borrow_mut();
        shard_state.set_now(clock.now_ms());
        shard_state.observe_acked();
        loop {
            match split_frame(&mut buf, max) {
                Ok(Some(frame)) => {
                    if shard_state.on_frame(id, frame) == Verdict::Close {
                        shard_state.close(id);
                        break 'read;
                    }
                }
                Ok(None) => break,
                Err(FrameError::TooLong { len, max }) => {
                    tracing::info!(conn = id, %peer, len, max, "closing connection: frame length out of range (jute.maxbuffer)");
                    shard_state.close(id);
                    break 'read;
                }
            }
        }
    }
    shard.borrow_mut().close(id);
    // The writer removes the connection once it has flushed.
    let _ = stream.shutdown(std::net::Shutdown::Read).await;
}

async fn write_loop(
    mut stream: TcpStream,
    shard: ShardRef,
    id: u64,
    wake: BellWaiter,
    reports: std::sync::Arc<Reports>,
) {
    loop {
        let (out, closing) = {
            let mut shard = shard.borrow_mut();
            let Some(conn) = shard.conns.get_mut(&id) else {
                break;
            };
            (conn.out.split(), conn.phase == Phase::Closing)
        };
        if !out.is_empty() {
            if let Err(error) = stream.write_all(&out).await {
                tracing::debug!(conn = id, %error, "write failed");
                break;
            }
            if let Some(conn) = shard.borrow().conns.get(&id) {
                conn.reader_bell.ring();
            }
            continue;
        }
        if closing {
            break;
        }
        if !wake.wait().await {
            break;
        }
    }
    let _ = stream.flush().await;
    let _ = stream.shutdown(std::net::Shutdown::Both).await;
    let mut shard = shard.borrow_mut();
    if let Some(conn) = shard.conns.get(&id) {
        let peer = conn.peer;
        conn.reader_bell.ring();
        shard.remove_conn(id);
        reports.release(peer.ip());
    }
}

/// How long a four-letter word waits for every core's fresh report.
const REPORT_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Serves a four-letter word: asks every core (through the sequencer) for a
/// fresh report, waits for it, renders, and closes.
async fn four_letter_word(
    shard: &ShardRef,
    id: u64,
    word: FourLetterWord,
    reports: &Reports,
    clock: Clock,
) {
    let text = if reports.allows(word) {
        let round_before = reports.completed_round();
        {
            let mut shard = shard.borrow_mut();
            // Like ZooKeeper: the word counts as a received packet, and the
            // connection stops reading while the command runs (interest ops 0).
            if let Some(conn) = shard.conns.get_mut(&id) {
                conn.stats.received += 1;
                conn.serving_word = true;
            }
            match word.side_effect() {
                Some(SideEffect::ResetConnectionStats) => shard.reset_connection_stats(),
                Some(SideEffect::ResetServerStats) => shard.counters = Default::default(),
                _ => {}
            }
            shard.request_report();
        }
        let deadline_ms = clock.now_ms() + REPORT_WAIT.as_millis() as i64;
        while reports.completed_round() <= round_before && clock.now_ms() < deadline_ms {
            glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
        }
        reports.render_four_letter_word(word)
    } else {
        crate::admin::not_whitelisted(word)
    };
    let mut shard = shard.borrow_mut();
    if let Some(conn) = shard.conns.get_mut(&id) {
        conn.out.extend_from_slice(text.as_bytes());
    }
    shard.close(id);
}
