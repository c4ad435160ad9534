//! Messages between cores. They move (never copy) through bounded SPSC rings;
//! each message carries a batch so one hop serves many requests.
//!
//! DESIGN.md sketches rkyv envelopes here. Inside one process an owned batch
//! crosses the ring as a pointer move, which copies nothing and serializes
//! nothing, so that is what we do; the rkyv form exists once per txn (the
//! `TxnRecord` the sequencer makes), where bytes must leave the process: the
//! log and the followers.

use std::sync::Arc;

use bytes::Bytes;

use crate::proto::{Id, OpCode};
use crate::tree::{DataTree, TreeEvent};
use crate::txn::OpResult;
use crate::types::{SessionId, Xid, Zxid};

/// A connection, named by the shard that owns it and its id there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnRef {
    /// The owning shard.
    pub shard: usize,
    /// The connection id within that shard (also its watcher id).
    pub conn: u64,
}

/// Shard -> sequencer: one item of a batch.
#[derive(Debug)]
pub enum SeqRequest {
    /// A handshake: create a session (`session_id == 0`) or reattach one.
    Connect {
        /// The connection asking.
        conn: ConnRef,
        /// 0 for a new session.
        session_id: SessionId,
        /// The password presented for a reattach.
        password: [u8; 16],
        /// The timeout after clamping to the server's bounds.
        timeout_ms: u32,
        /// The client's `lastZxidSeen`.
        last_zxid_seen: Zxid,
    },
    /// A write (or sync): the raw body is decoded once, on the sequencer.
    Write {
        /// The connection asking.
        conn: ConnRef,
        /// Its session.
        session: SessionId,
        /// The request xid.
        xid: Xid,
        /// The opcode from the request header.
        op: OpCode,
        /// The request body (after the header), a slice of the received frame.
        body: Bytes,
        /// The connection's authenticated ids at the time of the request.
        auth: Arc<[Id]>,
    },
    /// Sessions that showed signs of life since the last batch.
    Touch(Vec<SessionId>),
    /// A four-letter word wants fresh reports: every core publishes one, tagged
    /// with the round the sequencer assigns.
    Report,
    /// A connection went away (its session lives on until it expires).
    Disconnected {
        /// The connection.
        conn: ConnRef,
        /// The session it held, if any.
        session: Option<SessionId>,
    },
}

/// Sequencer -> shard: a handshake outcome.
#[derive(Clone, Copy, Debug)]
pub struct Connected {
    /// The connection.
    pub conn: u64,
    /// The session id, or 0 if refused.
    pub session: SessionId,
    /// The negotiated timeout, or 0 if the session is expired/unknown.
    pub timeout_ms: u32,
    /// The session password (zeros if refused).
    pub password: [u8; 16],
    /// The client has seen a newer zxid than this server: close without answering.
    pub zxid_ahead: bool,
}

/// Sequencer -> shard: the outcome of one write.
#[derive(Debug)]
pub struct WriteReply {
    /// The connection.
    pub conn: u64,
    /// The request xid.
    pub xid: Xid,
    /// The zxid of the txn (or the last zxid for sync).
    pub zxid: Zxid,
    /// What happened.
    pub outcome: WriteOutcome,
}

/// What a write produced.
#[derive(Debug)]
pub enum WriteOutcome {
    /// An applied txn's result.
    Txn(OpResult),
    /// A sync: echo the path.
    Sync(String),
}

/// Sequencer -> shard: one published batch.
#[derive(Debug)]
pub struct Commit {
    /// The tree after the batch.
    pub tree: Arc<DataTree>,
    /// Every tree event of the batch, in order, with its txn's zxid (shared by all shards).
    pub events: Arc<[(Zxid, TreeEvent)]>,
    /// Handshake outcomes for this shard's connections.
    pub connected: Vec<Connected>,
    /// Write outcomes for this shard's connections, in sequencing order.
    pub replies: Vec<WriteReply>,
    /// Connections of this shard to close after their pending output (expired or moved sessions).
    pub close: Vec<u64>,
    /// Publish a report for this round (four-letter words asked for one).
    pub report_round: Option<u64>,
}
