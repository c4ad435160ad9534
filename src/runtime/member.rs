//! An ensemble member's side of the sequencer core: ZAB's pure core
//! ([`Zab`]) driven by the peer links, the log and the sequencer.
//!
//! Lives on the sequencer core, owned by the sequencer loop, which calls in at
//! fixed points of each turn: durability of a flush ([`Member::log_durable`]),
//! finished log surgery ([`Member::surgery_done`]), peer traffic and ticks
//! ([`Member::poll`]), a leader's sequenced batch ([`Member::propose`]) and a
//! learner's forwarded requests ([`Member::forward`]). Every input goes to the
//! core at once and its outputs are carried out in order before the next:
//! sends are queued on the links, log appends go to the pipeline, commits are
//! applied to the sequencer's tree and released to the shards, epoch writes
//! and log surgery run in tasks that report back through the loop.
//!
//! Quorum links carry ZAB messages and, beside them in the same order, what
//! learners forward for their clients ([`super::forward`]) and the leader's
//! snapshot image for a learner too far behind for a DIFF.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::bell::{bell, Bell, BellWaiter};
use super::forward::{FromLeader, ToLeader};
use super::pipeline::{Pipeline, Released};
use super::report::{Reports, RoleReport};
use super::sequencer::{Mode, Sequencer};
use crate::admin::QuorumSnapshot;
use crate::config::Config;
use crate::io::epoch::{read_epoch, write_epoch, EpochFile};
use crate::io::{data_subdir, Disk};
use crate::log::{decode_snapshot, encode_snapshot, Durable, SessionTimeouts, Snapshot};
use crate::net::peer::{PeerEvent, PeerLinks, PeerSpec};
use crate::tree::DataTree;
use crate::txn::TxnRecord;
use crate::types::{ServerId, Zxid};
use crate::zab::{
    Epoch, EpochKind, Epochs, Input, LinkId, LogState, Notification, Output, PeerMsg, Role, Zab,
    ZabConfig, MSG_BYTES_MAX,
};

/// Frame kinds on a quorum link (the first byte).
const FRAME_ZAB: u8 = 0;
const FRAME_TO_LEADER: u8 = 1;
const FRAME_FROM_LEADER: u8 = 2;
const FRAME_SNAPSHOT: u8 = 3;

/// Snapshot bytes per frame when a leader sends its tree to a learner.
const SNAPSHOT_FRAME_BYTES: usize = 1 << 20;

/// Largest election notification accepted.
const NOTIFICATION_BYTES_MAX: usize = 256;

/// The core's tick: its limits (`syncLimit`, `initLimit`, pings, election
/// timers) count these.
pub const ZAB_TICK_MS: u32 = 10;

/// What the log writer must do besides appending (it owns the files).
#[derive(Debug)]
pub enum LogSurgery {
    /// Cut the log after this zxid; rebuild the tree from disk if it holds more.
    Truncate {
        /// The last zxid kept.
        zxid: Zxid,
        /// Whether the tree must be rebuilt (it is past the cut).
        rebuild: bool,
    },
    /// Install a leader's snapshot image in place of the log.
    Install {
        /// Its zxid.
        zxid: Zxid,
        /// The image, checked.
        image: Arc<Vec<u8>>,
    },
}

/// How log surgery went: the state the log now ends at.
#[derive(Debug)]
pub enum SurgeryDone {
    /// Truncated; with the rebuilt tree and sessions if asked.
    Truncated {
        /// The last zxid kept.
        zxid: Zxid,
        /// The tree rebuilt from disk, and its sessions.
        rebuilt: Option<(DataTree, SessionTimeouts)>,
    },
    /// The snapshot is installed.
    Installed {
        /// Its zxid.
        zxid: Zxid,
    },
    /// The disk failed: fail-stop.
    Failed(String),
}

/// What an ensemble member starts from.
pub struct MemberStart {
    /// The newest records of the recovered log and where they stand.
    pub log: LogState,
}

/// Builds the core's view of the recovered log.
pub fn log_state(
    tail: Vec<TxnRecord>,
    tail_base: Zxid,
    last_zxid: Zxid,
    snapshot: Zxid,
) -> LogState {
    LogState {
        tail,
        tail_base,
        applied: last_zxid,
        committed: snapshot.min(last_zxid),
    }
}

/// Epoch writes the epoch task finished (or the reason it could not).
type EpochsDone = Rc<RefCell<Vec<Result<(EpochKind, Epoch), String>>>>;

/// The ZAB side of the sequencer core.
pub struct Member {
    zab: Zab,
    config: Arc<Config>,
    election: PeerLinks,
    quorum: PeerLinks,
    out: Vec<Output>,
    events: Vec<PeerEvent>,
    /// Snapshot images being received, by link.
    receiving: HashMap<(ServerId, LinkId), Vec<u8>>,
    /// A received image, checked, waiting for `InstallSnapshot`.
    received: Option<(Zxid, Arc<Vec<u8>>, Snapshot)>,
    /// Epoch writes for the epoch task, in order, and what it finished.
    epoch_queue: Rc<RefCell<VecDeque<(EpochKind, Epoch)>>>,
    epoch_bell: Bell,
    epoch_done: EpochsDone,
    /// Log surgery the core asked for, not yet handed to the writer.
    surgery: VecDeque<LogSurgery>,
    /// Surgery handed to the writer and not yet done.
    surgery_running: bool,
    /// The state snapshot images are installed with.
    installing: Option<Snapshot>,
    /// Records the core appended after a truncation or install it asked
    /// for: they reach the log once that is done.
    held: Vec<Arc<[TxnRecord]>>,
    last_tick_ms: i64,
    role: Role,
    serving: bool,
    failed: Option<String>,
}

/// What [`Member::poll`] and friends need from the loop.
pub struct Ctx<'a> {
    /// The sequencer.
    pub seq: &'a mut Sequencer,
    /// The log pipeline.
    pub pipeline: &'a mut Pipeline,
    /// Where released commits for the shards go.
    pub released: &'a mut Vec<Released>,
    /// Reports for the four-letter words.
    pub reports: &'a Reports,
    /// Monotonic ms.
    pub now_ms: i64,
    /// Wall-clock ms.
    pub wall_ms: i64,
}

impl Member {
    /// Starts the peer links and the epoch task and makes the core. Must run
    /// on the sequencer core. `wake` is rung whenever the member has work.
    pub async fn start(
        config: Arc<Config>,
        disk: Disk,
        start: MemberStart,
        wake: Bell,
        now_ms: i64,
    ) -> std::io::Result<Member> {
        let zab_config = ZabConfig::from_config(&config, ZAB_TICK_MS)
            .map_err(|e| std::io::Error::other(format!("ensemble configuration: {e}")))?;
        let me = config
            .servers
            .iter()
            .find(|s| s.id == config.server_id)
            .ok_or_else(|| std::io::Error::other("myid names no server.N line"))?;
        let others: Vec<_> = config
            .servers
            .iter()
            .filter(|s| s.id != config.server_id)
            .collect();
        let election_peers: Vec<PeerSpec> = others
            .iter()
            .map(|s| PeerSpec {
                id: s.id,
                host: s.host.clone(),
                port: s.election_port,
            })
            .collect();
        let quorum_peers: Vec<PeerSpec> = others
            .iter()
            .map(|s| PeerSpec {
                id: s.id,
                host: s.host.clone(),
                port: s.quorum_port,
            })
            .collect();
        let election_addr = resolve(&me.host, me.election_port)?;
        let quorum_addr = resolve(&me.host, me.quorum_port)?;
        let (election, election_wake) = PeerLinks::start(
            config.server_id,
            election_addr,
            &election_peers,
            NOTIFICATION_BYTES_MAX,
        )?;
        let quorum_frame_max = (MSG_BYTES_MAX + 1)
            .max(SNAPSHOT_FRAME_BYTES + 1)
            .max(config.jute_maxbuffer * 2 + 4096);
        let (quorum, quorum_wake) = PeerLinks::start(
            config.server_id,
            quorum_addr,
            &quorum_peers,
            quorum_frame_max,
        )?;
        forward_wakes(election_wake, wake.clone());
        forward_wakes(quorum_wake, wake.clone());

        let dir = data_subdir(&config.data_dir);
        let last = start.log.applied;
        let epochs = read_epochs(&disk, &dir, last).await?;
        tracing::info!(
            myid = config.server_id,
            accepted_epoch = epochs.accepted,
            current_epoch = epochs.current,
            last_zxid = %last,
            election = %election_addr,
            quorum = %quorum_addr,
            "ensemble member starting"
        );
        let epoch_queue: Rc<RefCell<VecDeque<(EpochKind, Epoch)>>> = Rc::default();
        let epoch_done: EpochsDone = Rc::default();
        let (epoch_bell, epoch_wait) = bell();
        glommio::spawn_local(epoch_task(
            disk,
            dir,
            epoch_queue.clone(),
            epoch_wait,
            epoch_done.clone(),
            wake,
        ))
        .detach();
        Ok(Member {
            zab: Zab::new(zab_config, epochs, start.log),
            config,
            election,
            quorum,
            out: Vec::new(),
            events: Vec::new(),
            receiving: HashMap::new(),
            received: None,
            epoch_queue,
            epoch_bell,
            epoch_done,
            surgery: VecDeque::new(),
            surgery_running: false,
            installing: None,
            held: Vec::new(),
            last_tick_ms: now_ms,
            role: Role::Looking,
            serving: false,
            failed: None,
        })
    }

    /// Whether this member serves clients now.
    pub fn serving(&self) -> bool {
        self.serving
    }

    /// A fatal error (an epoch file could not be written): fail-stop.
    pub fn failed(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// Whether the sequencer's new batches go to ZAB as proposals.
    pub fn leading(&self) -> bool {
        self.serving && self.role == Role::Leading
    }

    /// The log flushed: tells the core.
    pub fn log_durable(&mut self, durable: Durable<Zxid>, ctx: &mut Ctx<'_>) {
        self.step(Input::LogDurable(durable), ctx);
    }

    /// Surgery the writer should run now, if the log is idle (`idle`: no
    /// flush in flight and nothing unflushed).
    pub fn take_surgery(&mut self, idle: bool) -> Option<LogSurgery> {
        if !idle || self.surgery_running {
            return None;
        }
        let surgery = self.surgery.pop_front()?;
        self.surgery_running = true;
        Some(surgery)
    }

    /// Whether surgery waits (the loop then stops beginning flushes once the
    /// records before it are written).
    pub fn surgery_pending(&self) -> bool {
        self.surgery_running || !self.surgery.is_empty()
    }

    /// The writer finished surgery.
    pub fn surgery_done(&mut self, done: SurgeryDone, ctx: &mut Ctx<'_>) {
        self.surgery_running = false;
        self.finish_surgery(done, ctx);
        if !self.surgery_pending() {
            for records in std::mem::take(&mut self.held) {
                ctx.pipeline.log_records(&records);
            }
        }
    }

    fn finish_surgery(&mut self, done: SurgeryDone, ctx: &mut Ctx<'_>) {
        match done {
            SurgeryDone::Truncated { zxid, rebuilt } => {
                let (tree, sessions) = match rebuilt {
                    Some((tree, sessions)) => {
                        ctx.seq.install(tree.clone(), &sessions, ctx.now_ms);
                        (tree, sessions)
                    }
                    None => (ctx.seq.tree().clone(), ctx.seq.sessions().timeouts()),
                };
                ctx.pipeline.reset_log(zxid, Arc::new(tree), sessions);
                self.step(Input::LogTruncated(zxid), ctx);
            }
            SurgeryDone::Installed { zxid } => {
                let snapshot = self.installing.take().expect("an install was running");
                ctx.seq
                    .install(snapshot.tree.clone(), &snapshot.sessions, ctx.now_ms);
                ctx.pipeline
                    .reset_log(zxid, Arc::new(snapshot.tree), snapshot.sessions);
                self.step(Input::SnapshotInstalled(zxid), ctx);
            }
            SurgeryDone::Failed(reason) => {
                self.failed.get_or_insert(reason);
            }
        }
    }

    /// Peer traffic, finished epoch writes and elapsed ticks.
    pub fn poll(&mut self, ctx: &mut Ctx<'_>) {
        let done = std::mem::take(&mut *self.epoch_done.borrow_mut());
        for result in done {
            match result {
                Ok((kind, epoch)) => self.step(Input::EpochPersisted { kind, epoch }, ctx),
                Err(reason) => {
                    self.failed.get_or_insert(reason);
                    return;
                }
            }
        }
        self.election.drain(&mut self.events);
        for event in std::mem::take(&mut self.events) {
            if let PeerEvent::Frame { peer, payload, .. } = event {
                match Notification::decode(&payload) {
                    Ok(notification) => self.step(
                        Input::Notification {
                            from: peer,
                            notification,
                        },
                        ctx,
                    ),
                    Err(error) => {
                        tracing::warn!(peer, %error, "bad election notification: closing the link");
                        self.election.disconnect(peer, None);
                    }
                }
            }
        }
        self.quorum.drain(&mut self.events);
        for event in std::mem::take(&mut self.events) {
            match event {
                PeerEvent::Up { peer, link } => self.step(Input::PeerUp { peer, link }, ctx),
                PeerEvent::Down { peer, link } => {
                    self.receiving.remove(&(peer, link));
                    self.step(Input::PeerDown { peer, link }, ctx);
                }
                PeerEvent::Frame {
                    peer,
                    link,
                    payload,
                } => self.on_frame(peer, link, payload, ctx),
            }
        }
        let elapsed = (ctx.now_ms - self.last_tick_ms) / i64::from(ZAB_TICK_MS);
        for _ in 0..elapsed.min(1000) {
            self.step(Input::Tick, ctx);
        }
        if elapsed > 0 {
            self.last_tick_ms += elapsed * i64::from(ZAB_TICK_MS);
        }
    }

    fn on_frame(&mut self, peer: ServerId, link: LinkId, payload: Bytes, ctx: &mut Ctx<'_>) {
        let Some((&kind, _)) = payload.split_first() else {
            return self.bad_frame(peer, link, "empty frame");
        };
        let body = payload.slice(1..);
        match kind {
            FRAME_ZAB => match PeerMsg::decode(&body) {
                Ok(PeerMsg::Snap { zxid }) => self.on_snapshot_end(peer, link, zxid, ctx),
                Ok(msg) => self.step(
                    Input::Message {
                        from: peer,
                        link,
                        msg,
                    },
                    ctx,
                ),
                Err(error) => self.bad_frame(peer, link, &error.to_string()),
            },
            FRAME_TO_LEADER => match ToLeader::decode(&body, self.config.jute_maxbuffer) {
                Ok(message) => {
                    if self.leading() {
                        ctx.seq
                            .handle_forwarded(peer, message, ctx.now_ms, ctx.wall_ms);
                    }
                }
                Err(error) => self.bad_frame(peer, link, &error.to_string()),
            },
            FRAME_FROM_LEADER => match FromLeader::decode(&body, self.config.jute_maxbuffer) {
                Ok(FromLeader::SyncDone { session, xid, .. }) => {
                    if self.serving && ctx.seq.mode() == Mode::Following {
                        ctx.seq.sync_done(session, xid);
                    }
                }
                Err(error) => self.bad_frame(peer, link, &error.to_string()),
            },
            FRAME_SNAPSHOT => {
                self.receiving
                    .entry((peer, link))
                    .or_default()
                    .extend_from_slice(&body);
            }
            _ => self.bad_frame(peer, link, "unknown frame kind"),
        }
    }

    /// The leader's snapshot image is complete: check it, keep it, tell the core.
    fn on_snapshot_end(&mut self, peer: ServerId, link: LinkId, zxid: Zxid, ctx: &mut Ctx<'_>) {
        let image = self.receiving.remove(&(peer, link)).unwrap_or_default();
        match decode_snapshot(&image, self.config.extended_types_enabled) {
            Ok(snapshot) if snapshot.zxid == zxid => {
                tracing::info!(peer, %zxid, bytes = image.len(), "snapshot received from the leader");
                self.received = Some((zxid, Arc::new(image), snapshot));
                self.step(
                    Input::Message {
                        from: peer,
                        link,
                        msg: PeerMsg::Snap { zxid },
                    },
                    ctx,
                );
            }
            Ok(snapshot) => self.bad_frame(
                peer,
                link,
                &format!("snapshot image at {} announced as {zxid}", snapshot.zxid),
            ),
            Err(error) => self.bad_frame(peer, link, &format!("snapshot image: {error}")),
        }
    }

    fn bad_frame(&mut self, peer: ServerId, link: LinkId, reason: &str) {
        tracing::warn!(
            peer,
            link,
            reason,
            "bad message from a member: closing the link"
        );
        self.quorum.disconnect(peer, Some(link));
    }

    /// Leader: the sequencer's batch, to replicate.
    pub fn propose(&mut self, records: Vec<TxnRecord>, ctx: &mut Ctx<'_>) {
        if !records.is_empty() {
            self.step(Input::Propose(records), ctx);
        }
    }

    /// Learner: what the sequencer gathered for the leader.
    pub fn forward(&mut self, messages: Vec<ToLeader>) {
        let Some(leader) = self.zab.leader() else {
            return;
        };
        if messages.is_empty() || leader == self.zab.my_id() {
            return;
        }
        let mut buf = BytesMut::new();
        for message in messages {
            buf.clear();
            buf.extend_from_slice(&[FRAME_TO_LEADER]);
            message.encode(&mut buf);
            self.quorum.send(leader, &buf);
        }
    }

    /// Leader: answers for other members, after the commits they follow.
    pub fn answer_members(&mut self, answers: Vec<(u64, FromLeader)>) {
        let mut buf = BytesMut::new();
        for (member, answer) in answers {
            buf.clear();
            buf.extend_from_slice(&[FRAME_FROM_LEADER]);
            answer.encode(&mut buf);
            self.quorum.send(member, &buf);
        }
    }

    /// Closes every link (shutdown).
    pub fn stop(&self) {
        self.election.stop();
        self.quorum.stop();
    }

    fn step(&mut self, input: Input, ctx: &mut Ctx<'_>) {
        let mut out = std::mem::take(&mut self.out);
        self.zab.step(input, &mut out);
        for output in out.drain(..) {
            self.perform(output, ctx);
        }
        self.out = out;
    }

    fn perform(&mut self, output: Output, ctx: &mut Ctx<'_>) {
        match output {
            Output::Notify { to, notification } => {
                let mut buf = Vec::with_capacity(64);
                notification.encode(&mut buf);
                self.election.send(to, &buf);
            }
            Output::Send { to, link, msg } => {
                let mut buf = Vec::with_capacity(64);
                msg.encode(&mut buf);
                self.quorum
                    .send_parts(to, Some(link), &[&[FRAME_ZAB], &buf]);
            }
            Output::Disconnect { peer, link } => self.quorum.disconnect(peer, Some(link)),
            Output::AppendLog(records) => match self.surgery_pending() {
                true => self.held.push(records),
                false => ctx.pipeline.log_records(&records),
            },
            Output::TruncateLog(zxid) => {
                let rebuild = zxid.0 < ctx.seq.tree().last_zxid();
                self.surgery
                    .push_back(LogSurgery::Truncate { zxid, rebuild });
            }
            Output::InstallSnapshot(zxid) => match self.received.take() {
                Some((received, image, snapshot)) if received == zxid => {
                    self.installing = Some(snapshot);
                    self.surgery.push_back(LogSurgery::Install { zxid, image });
                }
                _ => {
                    self.failed.get_or_insert(format!(
                        "ZAB asked to install snapshot {zxid}, which was not received"
                    ));
                }
            },
            Output::SendSnapshot { to, link, zxid } => self.send_snapshot(to, link, zxid, ctx),
            Output::PersistEpoch { kind, epoch } => {
                self.epoch_queue.borrow_mut().push_back((kind, epoch));
                self.epoch_bell.ring();
            }
            Output::Commit(zxid) => self.commit(zxid, ctx),
            Output::RoleChanged(change) => {
                let was_serving = self.serving;
                self.role = change.role;
                self.serving = change.serving;
                tracing::info!(
                    role = ?change.role,
                    leader = ?change.leader,
                    epoch = change.epoch,
                    serving = change.serving,
                    "ensemble role"
                );
                if was_serving || ctx.seq.mode() == Mode::Leading {
                    // Back to the committed tree; clients reconnect once serving again.
                    let tree = match ctx.seq.mode() {
                        Mode::Leading => (**ctx.pipeline.published()).clone(),
                        Mode::Following => ctx.seq.tree().clone(),
                    };
                    ctx.pipeline.abandon_unreleased();
                    ctx.seq.stop_serving(tree);
                }
                if change.serving && change.role == Role::Leading {
                    let next = self
                        .zab
                        .next_zxid()
                        .expect("an established leader numbers txns");
                    ctx.seq.lead(next, ctx.now_ms);
                }
                ctx.reports.set_role(self.role_report());
            }
        }
    }

    /// Applies (or, on the leader, releases) everything through `zxid`.
    fn commit(&mut self, zxid: Zxid, ctx: &mut Ctx<'_>) {
        if ctx.seq.mode() == Mode::Following {
            let from = Zxid(ctx.seq.tree().last_zxid());
            for record in self.zab.records(from, zxid) {
                ctx.seq.apply_committed(record.clone(), ctx.now_ms);
            }
            if let Some(publication) = ctx.seq.publish(None) {
                ctx.released.extend(ctx.pipeline.submit(publication));
            }
        }
        ctx.released.extend(ctx.pipeline.committed(zxid));
    }

    /// Streams the tree at `zxid` to a learner, then `SNAP`. Encoded here, on
    /// the sequencer core, in one go: nothing else may be sent on the link
    /// before it.
    fn send_snapshot(&mut self, to: ServerId, link: LinkId, zxid: Zxid, ctx: &mut Ctx<'_>) {
        let (tree, sessions) = match ctx.seq.mode() {
            Mode::Leading => (
                (**ctx.pipeline.published()).clone(),
                ctx.pipeline.durable_sessions().clone(),
            ),
            Mode::Following => (ctx.seq.tree().clone(), ctx.seq.sessions().timeouts()),
        };
        if Zxid(tree.last_zxid()) != zxid {
            tracing::error!(
                to,
                %zxid,
                tree = tree.last_zxid(),
                "cannot send a snapshot: the tree is not at the zxid asked for; dropping the learner"
            );
            self.quorum.disconnect(to, Some(link));
            return;
        }
        let started = std::time::Instant::now();
        let mut frame: Vec<u8> = Vec::with_capacity(SNAPSHOT_FRAME_BYTES + 1);
        frame.push(FRAME_SNAPSHOT);
        let mut total = 0usize;
        for chunk in encode_snapshot(&tree, &sessions, zxid) {
            frame.extend_from_slice(&chunk);
            total += chunk.len();
            if frame.len() > SNAPSHOT_FRAME_BYTES {
                self.quorum.send_parts(to, Some(link), &[&frame]);
                frame.truncate(1);
            }
        }
        if frame.len() > 1 {
            self.quorum.send_parts(to, Some(link), &[&frame]);
        }
        let mut buf = Vec::with_capacity(16);
        PeerMsg::Snap { zxid }.encode(&mut buf);
        self.quorum
            .send_parts(to, Some(link), &[&[FRAME_ZAB], &buf]);
        tracing::info!(
            to,
            %zxid,
            bytes = total,
            ms = started.elapsed().as_millis() as u64,
            "snapshot sent to a learner"
        );
    }

    fn role_report(&self) -> RoleReport {
        let mode = match self.role {
            Role::Leading => "leader",
            Role::Following => "follower",
            Role::Observing => "observer",
            Role::Looking => "looking",
        };
        let peer_state = match (self.role, self.serving) {
            (Role::Looking, _) => "looking".to_owned(),
            (_, true) => format!("{mode} - broadcast"),
            (_, false) => format!("{mode} - synchronization"),
        };
        let voters = self
            .config
            .servers
            .iter()
            .filter(|s| s.role == crate::config::PeerRole::Participant)
            .count() as u64;
        RoleReport {
            serving: self.serving,
            mode,
            quorum: Some(QuorumSnapshot {
                peer_state,
                quorum_size: voters,
                config_version: 0,
                synced_observers: None,
                leader: None,
                observer_master_id: None,
            }),
        }
    }
}

/// Reads the epoch files; a member without them (first start, or data from a
/// standalone server) starts from the epoch of its last zxid, as ZooKeeper does.
async fn read_epochs(disk: &Disk, dir: &std::path::Path, last: Zxid) -> std::io::Result<Epochs> {
    let of_last = (last.0 >> 32) as Epoch;
    let current = read_epoch(disk, dir, EpochFile::Current)
        .await?
        .unwrap_or(of_last);
    let accepted = read_epoch(disk, dir, EpochFile::Accepted)
        .await?
        .unwrap_or(current)
        .max(current);
    Ok(Epochs { accepted, current })
}

/// Writes epoch files in the order the core asked, and reports each.
async fn epoch_task(
    disk: Disk,
    dir: PathBuf,
    queue: Rc<RefCell<VecDeque<(EpochKind, Epoch)>>>,
    wake: BellWaiter,
    done: EpochsDone,
    loop_bell: Bell,
) {
    while wake.wait().await {
        loop {
            let next = queue.borrow_mut().pop_front();
            let Some((kind, epoch)) = next else {
                break;
            };
            let file = match kind {
                EpochKind::Accepted => EpochFile::Accepted,
                EpochKind::Current => EpochFile::Current,
            };
            let result = write_epoch(&disk, &dir, file, epoch)
                .await
                .map(|()| (kind, epoch))
                .map_err(|e| format!("cannot write {}: {e}", dir.join(file.name()).display()));
            done.borrow_mut().push(result);
            loop_bell.ring();
        }
    }
}

/// Rings `to` whenever `from` rings.
fn forward_wakes(from: BellWaiter, to: Bell) {
    glommio::spawn_local(async move {
        while from.wait().await {
            to.ring();
        }
    })
    .detach();
}

fn resolve(host: &str, port: u16) -> std::io::Result<SocketAddr> {
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{host} resolves to no address")))
}
