//! The sequencer core's tasks: the sequencer loop, the log writer, and the
//! link to the background core that writes snapshots.
//!
//! Everything here lives on the sequencer core except [`run_background`],
//! which runs on its own unpinned executor. The loop owns the [`Sequencer`]
//! and the [`Pipeline`]; one bell wakes it for shard requests, ticks, a
//! finished flush and a finished snapshot. The writer task owns the
//! [`SegmentWriter`] and writes one `Flush` at a time: while it is in flight
//! the loop keeps preparing requests, whose records gather in the next batch.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use glommio::channels::shared_channel::{ConnectedSender, SharedReceiver, SharedSender};

use super::bell::{bell, Bell, BellWaiter};
use super::clock::Clock;
use super::member::{Ctx, LogSurgery, Member, MemberStart, SurgeryDone};
use super::msg::{Commit, SeqRequest};
use super::pipeline::{Pipeline, Released, SnapshotJob};
use super::sequencer::Sequencer;
use super::Reports;
use crate::config::Config;
use crate::io::snapshot::SnapshotWriteError;
use crate::io::{data_subdir, Disk, SegmentWriter, WriteSync};
use crate::log::{
    CommitConfig, Flush, FlushOutcome, FlushTicket, LogFailed, LogStatus, SessionTimeouts, SyncMode,
};
use crate::tree::DataTree;
use crate::types::Zxid;

/// How long the log waits before writing a batch again after running out of space.
const NO_SPACE_RETRY_MS: i64 = 1000;

/// Shard batches waiting in the sequencer's inbox before it stops pulling
/// from the rings (only while the log is backlogged).
const INBOX_BATCHES_MAX: usize = crate::constants::RING_CAPACITY;

/// How often a ring reader checks whether the inbox has room again.
const INBOX_FULL_POLL: Duration = Duration::from_micros(200);

/// How a snapshot went, as the background core reports it.
#[derive(Debug)]
pub enum SnapshotOutcome {
    /// Written, synced and renamed into place.
    Written {
        /// Its zxid.
        zxid: Zxid,
        /// Its size.
        bytes: u64,
        /// How long it took, ms.
        ms: u64,
    },
    /// Not written for lack of space; the next trigger tries again.
    NoSpace,
    /// Failed otherwise: fail-stop.
    Failed(String),
}

/// Where a fatal error is recorded for [`super::ServerHandle::join`].
pub type Failure = Arc<Mutex<Option<String>>>;

/// What the sequencer core starts with.
pub struct SequencerStart {
    /// The server configuration.
    pub config: Arc<Config>,
    /// The recovered tree.
    pub tree: DataTree,
    /// The sessions live in it.
    pub sessions: SessionTimeouts,
    /// Where files live.
    pub disk: Disk,
    /// One ring from each shard.
    pub from_shards: Vec<SharedReceiver<Vec<SeqRequest>>>,
    /// One ring to each shard.
    pub to_shards: Vec<SharedSender<Commit>>,
    /// Snapshot jobs to the background core.
    pub snapshot_jobs: SharedSender<SnapshotJob>,
    /// Snapshot outcomes from it.
    pub snapshot_outcomes: SharedReceiver<SnapshotOutcome>,
    /// Set to stop every executor.
    pub stop: Arc<AtomicBool>,
    /// Where a fail-stop error goes.
    pub failure: Failure,
    /// Seeds the snapshot interval's randomness.
    pub seed: u64,
    /// Set for an ensemble member: where its log stands for ZAB.
    pub member: Option<MemberStart>,
}

/// The group-commit knobs from the configuration.
pub fn commit_config(config: &Config) -> CommitConfig {
    let pre_alloc_bytes = config.pre_alloc_size_kb.saturating_mul(1024).max(64 << 10);
    CommitConfig {
        sync: if config.force_sync {
            SyncMode::Fdatasync
        } else {
            SyncMode::NoSync
        },
        segment_bytes_max: pre_alloc_bytes,
        ..CommitConfig::default()
    }
}

/// The flush handed to the writer task, and its outcome coming back.
#[derive(Default)]
struct WriterSlot {
    to_write: Option<Flush>,
    done: Option<FlushResult>,
    /// An ensemble member's truncation or snapshot install, and its outcome.
    surgery: Option<LogSurgery>,
    surgery_done: Option<SurgeryDone>,
}

/// What the writer needs to open segments again after log surgery.
struct WriterFiles {
    disk: Disk,
    config: Arc<Config>,
}

struct FlushResult {
    ticket: FlushTicket,
    outcome: FlushOutcome,
    bytes: usize,
    txns: usize,
    sync_us: u64,
}

async fn writer_task(
    mut writer: SegmentWriter,
    files: WriterFiles,
    slot: Rc<RefCell<WriterSlot>>,
    wake: BellWaiter,
    sequencer_bell: Bell,
) {
    while wake.wait().await {
        let surgery = slot.borrow_mut().surgery.take();
        if let Some(surgery) = surgery {
            writer.close().await;
            let done = run_surgery(&files, surgery).await;
            writer = new_segment_writer(&files.disk, &files.config);
            slot.borrow_mut().surgery_done = Some(done);
            sequencer_bell.ring();
            continue;
        }
        let Some(flush) = slot.borrow_mut().to_write.take() else {
            continue;
        };
        let (outcome, timing) = writer.write(&flush).await;
        slot.borrow_mut().done = Some(FlushResult {
            ticket: flush.ticket,
            outcome,
            bytes: flush.bytes.len(),
            txns: flush.txns,
            sync_us: timing.sync.as_micros() as u64,
        });
        sequencer_bell.ring();
    }
    writer.close().await;
}

fn new_segment_writer(disk: &Disk, config: &Config) -> SegmentWriter {
    // Write, then fdatasync, through io_uring: O_DSYNC writes and blocking-pool
    // syscalls measured the same here (tuning/RESULTS.md).
    SegmentWriter::new(
        disk.clone(),
        data_subdir(&config.data_log_dir),
        commit_config(config).segment_bytes_max,
        WriteSync::OnFdatasync,
    )
}

/// Cuts or replaces the log for ZAB (the segment writer is closed meanwhile).
async fn run_surgery(files: &WriterFiles, surgery: LogSurgery) -> SurgeryDone {
    let config = &files.config;
    let log_dir = data_subdir(&config.data_log_dir);
    match surgery {
        LogSurgery::Truncate { zxid, rebuild } => {
            if let Err(e) = crate::io::surgery::truncate_log(&files.disk, &log_dir, zxid).await {
                return SurgeryDone::Failed(format!("cannot truncate the log after {zxid}: {e}"));
            }
            let rebuilt = match rebuild {
                false => None,
                true => match crate::io::recover(
                    &files.disk,
                    &config.data_dir,
                    &config.data_log_dir,
                    config.extended_types_enabled,
                )
                .await
                {
                    Ok(recovered) if recovered.last_zxid == zxid => {
                        Some((recovered.tree, recovered.sessions))
                    }
                    Ok(recovered) => {
                        return SurgeryDone::Failed(format!(
                            "the log truncated after {zxid} recovers to {}",
                            recovered.last_zxid
                        ))
                    }
                    Err(e) => {
                        return SurgeryDone::Failed(format!("rebuilding after truncation: {e}"))
                    }
                },
            };
            tracing::info!(%zxid, rebuilt = rebuilt.is_some(), "log truncated at the leader's request");
            SurgeryDone::Truncated { zxid, rebuilt }
        }
        LogSurgery::Install { zxid, image } => {
            let snap_dir = data_subdir(&config.data_dir);
            match crate::io::surgery::install_snapshot(
                &files.disk,
                &snap_dir,
                &log_dir,
                &image,
                zxid,
            )
            .await
            {
                Ok(()) => {
                    tracing::info!(%zxid, bytes = image.len(), "leader's snapshot installed");
                    SurgeryDone::Installed { zxid }
                }
                Err(e) => SurgeryDone::Failed(format!("cannot install the leader's snapshot: {e}")),
            }
        }
    }
}

/// Runs the sequencer core's loop until the server stops or the log fails.
pub async fn run_sequencer(start: SequencerStart, reports: Arc<Reports>, clock: Clock) {
    let SequencerStart {
        config,
        tree,
        sessions,
        disk,
        from_shards,
        to_shards,
        snapshot_jobs,
        snapshot_outcomes,
        stop,
        failure,
        seed,
        member,
    } = start;
    let durable = Zxid(tree.last_zxid());
    let published = Arc::new(tree.clone());
    let seq = Rc::new(RefCell::new(Sequencer::new(
        config.clone(),
        tree,
        &sessions,
        to_shards.len(),
        clock.now_ms(),
        clock.wall_ms(),
    )));
    let snap_size_bytes = u64::try_from(config.snap_size_limit_kb.max(0))
        .unwrap_or(0)
        .saturating_mul(1024);
    let mut pipeline = Pipeline::new(
        commit_config(&config),
        durable,
        published,
        sessions,
        (config.snap_count, snap_size_bytes),
        seed,
        to_shards.len(),
    );
    let inbox: Rc<RefCell<Vec<Vec<SeqRequest>>>> = Rc::new(RefCell::new(Vec::new()));
    let (inbox_bell, inbox_waiter) = bell();
    for rx in from_shards {
        let inbox = inbox.clone();
        let inbox_bell = inbox_bell.clone();
        glommio::spawn_local(async move {
            let rx = rx.connect().await;
            while let Some(batch) = rx.recv().await {
                inbox.borrow_mut().push(batch);
                inbox_bell.ring();
                // Held back (the log is backlogged): stop pulling from the
                // ring, so the shard feels it.
                while inbox.borrow().len() >= INBOX_BATCHES_MAX {
                    glommio::timer::sleep(INBOX_FULL_POLL).await;
                }
            }
        })
        .detach();
    }
    let mut shards = Vec::new();
    for tx in to_shards {
        shards.push(tx.connect().await);
    }
    let slot = Rc::new(RefCell::new(WriterSlot::default()));
    let (writer_bell, writer_waiter) = bell();
    let writer = new_segment_writer(&disk, &config);
    let mut member = match member {
        None => None,
        Some(start) => {
            let committed = start.log.committed;
            match Member::start(
                config.clone(),
                disk.clone(),
                start,
                inbox_bell.clone(),
                clock.now_ms(),
            )
            .await
            {
                Ok(member) => {
                    pipeline.gate_on_commit(committed);
                    let tree = seq.borrow().tree().clone();
                    seq.borrow_mut().stop_serving(tree);
                    Some(member)
                }
                Err(error) => {
                    fail_stop(
                        &failure,
                        &stop,
                        format!("cannot start the ensemble member: {error}"),
                    );
                    return;
                }
            }
        }
    };
    glommio::spawn_local(writer_task(
        writer,
        WriterFiles {
            disk: disk.clone(),
            config: config.clone(),
        },
        slot.clone(),
        writer_waiter,
        inbox_bell.clone(),
    ))
    .detach();
    let snapshot_jobs = snapshot_jobs.connect().await;
    let snapshot_done: Rc<RefCell<Vec<SnapshotOutcome>>> = Rc::new(RefCell::new(Vec::new()));
    {
        let done = snapshot_done.clone();
        let inbox_bell = inbox_bell.clone();
        glommio::spawn_local(async move {
            let rx = snapshot_outcomes.connect().await;
            while let Some(outcome) = rx.recv().await {
                done.borrow_mut().push(outcome);
                inbox_bell.ring();
            }
        })
        .detach();
    }
    {
        let tick = Duration::from_millis(u64::from(config.tick_time_ms / 2).max(10));
        let inbox_bell = inbox_bell.clone();
        glommio::spawn_local(async move {
            loop {
                glommio::timer::sleep(tick).await;
                inbox_bell.ring();
            }
        })
        .detach();
    }
    tracing::info!(zxid = %durable, "sequencer ready");
    let mut state = LoopState {
        flushing: false,
        surgery: false,
        retry_at_ms: 0,
        last_tick_ms: clock.now_ms(),
        last_report_ms: -1000,
        tick_ms: i64::from(config.tick_time_ms / 2).max(10),
        refusing_logged: false,
    };
    while inbox_waiter.wait().await {
        let step = step(
            &seq,
            &mut pipeline,
            &mut member,
            &inbox,
            &slot,
            &snapshot_done,
            &reports,
            &clock,
            &mut state,
        );
        let released = match step {
            Ok(released) => released,
            Err(failed) => {
                fail_stop(&failure, &stop, failed.to_string());
                return;
            }
        };
        if let Some(reason) = member.as_ref().and_then(|m| m.failed()) {
            fail_stop(&failure, &stop, reason.to_owned());
            if let Some(member) = &member {
                member.stop();
            }
            return;
        }
        for mut released in released {
            if let Some(member) = member.as_mut() {
                member.answer_members(released.take_to_members());
            }
            if send(&shards, released).await.is_err() {
                tracing::error!("shard ring closed");
                return;
            }
        }
        if let Some(member) = member.as_mut() {
            let idle = !state.flushing && !pipeline.has_unflushed();
            if let Some(surgery) = member.take_surgery(idle) {
                slot.borrow_mut().surgery = Some(surgery);
                writer_bell.ring();
                // The writer is busy with the log: no flush begins meanwhile.
                state.flushing = true;
                state.surgery = true;
            }
        }
        if !state.flushing {
            let now_ms = clock.now_ms();
            let may_write = pipeline.status() == LogStatus::Ready || now_ms >= state.retry_at_ms;
            if may_write {
                if let Some(flush) = pipeline.begin_flush() {
                    state.flushing = true;
                    slot.borrow_mut().to_write = Some(flush);
                    writer_bell.ring();
                }
            }
        }
        if let Some(job) = pipeline.take_snapshot_job() {
            tracing::info!(zxid = %job.zxid, "taking a snapshot in the background");
            if snapshot_jobs.try_send(job).is_err() {
                tracing::warn!("snapshot core busy; skipping this snapshot");
                pipeline.snapshot_finished(None);
            }
        }
    }
}

/// The loop's own bookkeeping. Lives on the sequencer core.
struct LoopState {
    flushing: bool,
    /// The writer runs log surgery (`flushing` is set too).
    surgery: bool,
    retry_at_ms: i64,
    last_tick_ms: i64,
    last_report_ms: i64,
    tick_ms: i64,
    refusing_logged: bool,
}

/// One turn of the loop, with no await: a finished flush, finished
/// snapshots, the shards' requests. Returns what may leave for the shards.
#[allow(clippy::too_many_arguments)]
fn step(
    seq: &Rc<RefCell<Sequencer>>,
    pipeline: &mut Pipeline,
    member: &mut Option<Member>,
    inbox: &Rc<RefCell<Vec<Vec<SeqRequest>>>>,
    slot: &Rc<RefCell<WriterSlot>>,
    snapshot_done: &Rc<RefCell<Vec<SnapshotOutcome>>>,
    reports: &Reports,
    clock: &Clock,
    state: &mut LoopState,
) -> Result<Vec<Released>, LogFailed> {
    let mut released = Vec::new();
    let now_ms = clock.now_ms();
    let wall_ms = clock.wall_ms();
    let mut seq_guard = seq.borrow_mut();
    let seq_ref: &mut Sequencer = &mut seq_guard;
    macro_rules! ctx {
        () => {
            Ctx {
                seq: &mut *seq_ref,
                pipeline: &mut *pipeline,
                released: &mut released,
                reports,
                now_ms,
                wall_ms,
            }
        };
    }
    let done = slot.borrow_mut().done.take();
    if let Some(done) = done {
        state.flushing = false;
        let (done_released, durable) = pipeline.flush_done(
            done.ticket,
            done.outcome,
            done.bytes,
            done.txns,
            done.sync_us,
        )?;
        released.extend(done_released);
        if pipeline.status() == LogStatus::OutOfSpace {
            state.retry_at_ms = now_ms + NO_SPACE_RETRY_MS;
        }
        if let (Some(member), Some(durable)) = (member.as_mut(), durable) {
            member.log_durable(durable, &mut ctx!());
        }
    }
    let surgery_done = slot.borrow_mut().surgery_done.take();
    if let Some(done) = surgery_done {
        state.flushing = false;
        state.surgery = false;
        if let Some(member) = member.as_mut() {
            member.surgery_done(done, &mut ctx!());
        }
    }
    if let Some(member) = member.as_mut() {
        member.poll(&mut ctx!());
    }
    for outcome in snapshot_done.borrow_mut().drain(..) {
        match outcome {
            SnapshotOutcome::Written { zxid, bytes, ms } => {
                pipeline.snapshot_finished(Some((zxid, bytes, ms)))
            }
            SnapshotOutcome::NoSpace => pipeline.snapshot_finished(None),
            SnapshotOutcome::Failed(reason) => {
                return Err(LogFailed {
                    durable: pipeline.durable_zxid(),
                    reason,
                })
            }
        }
    }
    let refusing = pipeline.status() != LogStatus::Ready;
    if refusing != state.refusing_logged {
        state.refusing_logged = refusing;
        if refusing {
            tracing::error!(
                durable = %pipeline.durable_zxid(),
                "transaction log out of disk space: new writes and sessions are refused \
                 (SYSTEMERROR) and writes already taken wait; reads keep working. Free space \
                 in dataLogDir: the log retries every second"
            );
        } else {
            tracing::warn!("transaction log writing again: writes accepted");
        }
    }
    // While the open batch overflows, leave requests in the inbox until a
    // flush makes room: prep stops, the shards' rings fill and push back.
    let batches = match pipeline.backlogged() {
        true => Vec::new(),
        false => std::mem::take(&mut *inbox.borrow_mut()),
    };
    let not_serving = member.as_ref().is_some_and(|m| !m.serving());
    let seq = seq_ref;
    for batch in batches {
        for request in batch {
            if not_serving {
                seq.refuse_not_serving(request, now_ms, wall_ms);
            } else if refusing {
                let published = Zxid(pipeline.published().last_zxid());
                seq.handle_refusing(request, now_ms, wall_ms, published, |conn| {
                    pipeline.has_unreleased(conn)
                });
            } else {
                seq.handle(request, now_ms, wall_ms);
            }
        }
    }
    if !refusing && now_ms - state.last_tick_ms >= state.tick_ms {
        state.last_tick_ms = now_ms;
        seq.tick(now_ms, wall_ms);
    }
    let report_round = seq.take_report_round();
    if let Some(round) = report_round {
        reports.publish_sequencer(seq, &pipeline.counters, round);
    } else if now_ms - state.last_report_ms >= 1000 {
        state.last_report_ms = now_ms;
        reports.publish_sequencer(seq, &pipeline.counters, 0);
    }
    let (logged_round, unlogged_round) = match refusing {
        false => (report_round, None),
        true => (None, report_round),
    };
    released.extend(pipeline.unlogged(seq.take_unlogged(), unlogged_round));
    if let Some(mut publication) = seq.publish(logged_round) {
        match member.as_mut() {
            Some(member) if member.leading() => {
                // ZAB logs and replicates the batch's records; the batch
                // itself leaves once they are committed.
                let records = std::mem::take(&mut publication.records);
                released.extend(pipeline.submit(publication));
                member.propose(
                    records,
                    &mut Ctx {
                        seq: &mut *seq,
                        pipeline: &mut *pipeline,
                        released: &mut released,
                        reports,
                        now_ms,
                        wall_ms,
                    },
                );
            }
            Some(member) => {
                debug_assert!(publication.records.is_empty(), "only a leader sequences");
                released.extend(pipeline.submit(publication));
                member.forward(seq.take_to_leader());
            }
            None => released.extend(pipeline.submit(publication)),
        }
    } else if let Some(member) = member.as_mut() {
        member.forward(seq.take_to_leader());
    }
    Ok(released)
}

async fn send(shards: &[ConnectedSender<Commit>], released: Released) -> Result<(), ()> {
    for (tx, commit) in shards.iter().zip(released.into_commits()) {
        tx.send(commit).await.map_err(|_| ())?;
    }
    Ok(())
}

/// Fail-stop: the log (or a snapshot) could not be written. Nothing more is
/// answered; the server stops and the process exits non-zero.
fn fail_stop(failure: &Failure, stop: &AtomicBool, reason: String) {
    tracing::error!("{reason}");
    let mut slot = failure.lock().unwrap_or_else(|e| e.into_inner());
    slot.get_or_insert(reason);
    stop.store(true, Ordering::Release);
}

/// The background core: writes snapshots as the sequencer asks, and purges old
/// files every `autopurge.purgeInterval` hours. Runs on its own executor.
pub async fn run_background(
    config: Arc<Config>,
    disk: Disk,
    jobs: SharedReceiver<SnapshotJob>,
    outcomes: SharedSender<SnapshotOutcome>,
) {
    let jobs = jobs.connect().await;
    let outcomes = outcomes.connect().await;
    if config.autopurge_purge_interval_hours > 0 {
        let config = config.clone();
        let disk = disk.clone();
        glommio::spawn_local(async move {
            let period =
                Duration::from_secs(3600 * u64::from(config.autopurge_purge_interval_hours));
            loop {
                glommio::timer::sleep(period).await;
                autopurge(&config, &disk).await;
            }
        })
        .detach();
    }
    let snap_dir: PathBuf = data_subdir(&config.data_dir);
    while let Some(job) = jobs.recv().await {
        let written =
            crate::io::write_snapshot(&disk, &snap_dir, &job.tree, &job.sessions, job.zxid).await;
        let outcome = match written {
            Ok(written) => {
                tracing::info!(
                    file = %snap_dir.join(written.name.to_string()).display(),
                    bytes = written.bytes,
                    duration_ms = written.duration.as_millis() as u64,
                    "snapshot written"
                );
                SnapshotOutcome::Written {
                    zxid: job.zxid,
                    bytes: written.bytes,
                    ms: written.duration.as_millis() as u64,
                }
            }
            Err(error @ SnapshotWriteError::NoSpace { .. }) => {
                tracing::error!(%error, "snapshot not written: out of disk space; the log still holds every txn");
                SnapshotOutcome::NoSpace
            }
            Err(error) => SnapshotOutcome::Failed(error.to_string()),
        };
        drop(job);
        if outcomes.send(outcome).await.is_err() {
            return;
        }
    }
}

async fn autopurge(config: &Config, disk: &Disk) {
    let retain = config.autopurge_snap_retain_count.max(1) as usize;
    match crate::io::purge(disk, &config.data_dir, &config.data_log_dir, retain).await {
        Ok(purged) => tracing::info!(
            snapshots = purged.snapshots.len(),
            segments = purged.segments.len(),
            "autopurge done"
        ),
        Err(error) => tracing::warn!(%error, "autopurge failed"),
    }
}
