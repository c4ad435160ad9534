//! The runtime: the only code that knows about cores, executors and time.
//!
//! One glommio executor is pinned per core. Core 0 runs the sequencer; every core
//! runs a shard (on three or more cores, core 0 runs only the sequencer). Shards
//! talk to the sequencer over one bounded SPSC ring each way; each message is a
//! batch. Startup binds every shard's listener to the same port (SO_REUSEPORT),
//! so the kernel spreads connections across shards.

pub mod bell;
pub mod clock;
pub mod forward;
pub mod member;
pub mod msg;
pub mod pipeline;
mod report;
pub mod seq_loop;
pub mod sequencer;
pub mod shard;

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often an executor checks whether the server is shutting down.
const STOP_POLL: Duration = Duration::from_millis(50);

use futures_lite::future;
use glommio::channels::shared_channel::{
    self, ConnectedReceiver, ConnectedSender, SharedReceiver, SharedSender,
};
use glommio::{LocalExecutorBuilder, Placement};

pub use report::Reports;

use self::bell::{bell, BellWaiter};
use self::clock::Clock;
use self::member::MemberStart;
use self::msg::{Commit, SeqRequest};
use self::seq_loop::{run_background, run_sequencer, Failure, SequencerStart};
use self::shard::Shard;
use crate::config::Config;
use crate::constants::RING_CAPACITY;
use crate::io::{Disk, Recovered};
use crate::net::{accept_loop, ShardRef};

/// A running server: its address, and the means to stop it.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    failure: Failure,
    joins: Vec<glommio::ExecutorJoinHandle<()>>,
}

impl ServerHandle {
    /// The client address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Blocks until the server stops (it runs until `shutdown` or a fatal
    /// error); the error is the fail-stop reason, if that is why it stopped.
    pub fn join(self) -> Result<(), String> {
        for join in self.joins {
            let _ = join.join();
        }
        let failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        failure.clone().map_or(Ok(()), Err)
    }

    /// The fail-stop reason, if the server stopped on a fatal error.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stops every executor and waits for them.
    pub fn shutdown(self) {
        self.stop.store(true, Ordering::Release);
        for join in self.joins {
            let _ = join.join();
        }
    }
}

/// How many executors, and which run a shard.
fn layout(cores: usize) -> (usize, Vec<usize>) {
    match cores {
        0 | 1 => (1, vec![0]),
        2 => (2, vec![0, 1]),
        n => (n, (1..n).collect()),
    }
}

/// Starts the server on the machine's disk: recovers the data directories,
/// binds the client port, spawns one executor per core.
pub fn start(config: Config) -> std::io::Result<ServerHandle> {
    start_on(config, Disk::Real)
}

/// Runs startup recovery on an executor of its own (file I/O needs one) and
/// logs what it found.
fn recover(config: &Config, disk: &Disk) -> std::io::Result<Recovered> {
    let disk = disk.clone();
    let data_dir = config.data_dir.clone();
    let data_log_dir = config.data_log_dir.clone();
    let extended = config.extended_types_enabled;
    let recovered = LocalExecutorBuilder::new(Placement::Unbound)
        .name("ck-recovery")
        .preempt_timer(crate::io::RECOVERY_PREEMPT)
        .spawn(move || async move {
            crate::io::recover(&disk, &data_dir, &data_log_dir, extended).await
        })?
        .join()
        .map_err(|_| std::io::Error::other("recovery panicked"))?
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    if recovered.zookeeper_files_ignored > 0 {
        tracing::warn!(
            files = recovered.zookeeper_files_ignored,
            "Apache ZooKeeper files in version-2/ beside corekeeper's are ignored"
        );
    }
    tracing::info!(
        data_dir = %config.data_dir.display(),
        data_log_dir = %config.data_log_dir.display(),
        snapshot = ?recovered.snapshot.map(|s| s.to_string()),
        segments = recovered.segments_read,
        replayed = recovered.replayed,
        zxid = %recovered.last_zxid,
        nodes = recovered.tree.nodes_len(),
        sessions = recovered.sessions.len(),
        duration_ms = recovered.duration.as_millis() as u64,
        cpu_ms = recovered.cpu.as_millis() as u64,
        snapshot_read_wait_ms = recovered.snapshot_read.as_millis() as u64,
        snapshot_decode_ms = recovered.snapshot_decode.as_millis() as u64,
        log_ms = recovered.log.as_millis() as u64,
        "recovered from disk"
    );
    Ok(recovered)
}

/// Like [`start`], with files on `disk` (a simulated disk in tests).
pub fn start_on(mut config: Config, disk: Disk) -> std::io::Result<ServerHandle> {
    // io_uring opens paths relative to nothing: every file path is absolute.
    config.data_dir = std::path::absolute(&config.data_dir)?;
    config.data_log_dir = std::path::absolute(&config.data_log_dir)?;
    let Recovered {
        tree,
        sessions,
        tail,
        tail_base,
        last_zxid,
        snapshot,
        ..
    } = recover(&config, &disk)?;
    let ensemble =
        config.servers.len() > 1 || (config.servers.len() == 1 && !config.standalone_enabled);
    let member = ensemble.then(|| MemberStart {
        log: member::log_state(
            tail,
            tail_base,
            last_zxid,
            snapshot.map_or(crate::types::Zxid::ZERO, |s| s.zxid),
        ),
    });
    let config = Arc::new(config);
    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (executors, shard_cores) = layout(config.cores.unwrap_or(available).min(available.max(1)));
    let ip = config
        .client_port_address
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let (addr, placeholder) = reserve_port(SocketAddr::new(ip, config.client_port))?;
    let reports = Arc::new(Reports::new(config.clone(), shard_cores.len()));
    if member.is_some() {
        // Not serving until ZAB elects a leader and this member synchronizes.
        reports.set_role(report::RoleReport {
            serving: false,
            mode: "looking",
            quorum: None,
        });
    }

    let mut to_seq_rx: Vec<SharedReceiver<Vec<SeqRequest>>> = Vec::new();
    let mut to_seq_tx: Vec<Option<SharedSender<Vec<SeqRequest>>>> = Vec::new();
    let mut to_shard_rx: Vec<Option<SharedReceiver<Commit>>> = Vec::new();
    let mut to_shard_tx: Vec<SharedSender<Commit>> = Vec::new();
    for _ in &shard_cores {
        let (tx, rx) = shared_channel::new_bounded(RING_CAPACITY);
        to_seq_tx.push(Some(tx));
        to_seq_rx.push(rx);
        let (tx, rx) = shared_channel::new_bounded(RING_CAPACITY);
        to_shard_tx.push(tx);
        to_shard_rx.push(Some(rx));
    }
    let clock = Clock::new();
    let stop = Arc::new(AtomicBool::new(false));
    let failure: Failure = Arc::default();
    let (snapshot_jobs, jobs_rx) = shared_channel::new_bounded(1);
    let (outcomes_tx, snapshot_outcomes) = shared_channel::new_bounded(1);
    let mut sequencer_io = Some(SequencerStart {
        config: config.clone(),
        tree: tree.clone(),
        sessions,
        disk: disk.clone(),
        from_shards: to_seq_rx,
        to_shards: to_shard_tx,
        snapshot_jobs,
        snapshot_outcomes,
        stop: stop.clone(),
        failure: failure.clone(),
        seed: clock.wall_ms() as u64 ^ u64::from(std::process::id()),
        member,
    });
    let mut joins = Vec::new();
    {
        let config = config.clone();
        let disk = disk.clone();
        let stop = stop.clone();
        let join = LocalExecutorBuilder::new(Placement::Unbound)
            .name("ck-background")
            .spawn(move || async move {
                let work = run_background(config, disk, jobs_rx, outcomes_tx);
                let stopped = async {
                    while !stop.load(Ordering::Acquire) {
                        glommio::timer::sleep(STOP_POLL).await;
                    }
                };
                future::or(work, stopped).await;
            })?;
        joins.push(join);
    }
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();

    for core in 0..executors {
        let stop = stop.clone();
        let seq_io = if core == 0 { sequencer_io.take() } else { None };
        let shard_index = shard_cores.iter().position(|c| *c == core);
        let shard_io = shard_index.map(|i| {
            (
                i,
                to_seq_tx[i].take().expect("one per shard"),
                to_shard_rx[i].take().expect("one per shard"),
            )
        });
        let config = config.clone();
        let reports = reports.clone();
        let tree = tree.clone();
        let ready = ready_tx.clone();
        let placement = if available > 1 {
            Placement::Fixed(core)
        } else {
            Placement::Unbound
        };
        let join = LocalExecutorBuilder::new(placement)
            .name(&format!("ck-core{core}"))
            .spin_before_park(Duration::from_micros(
                crate::constants::EXECUTOR_SPIN_BEFORE_PARK_US,
            ))
            .spawn(move || async move {
                let work = core_main(
                    core, config, tree, reports, clock, addr, seq_io, shard_io, ready,
                );
                // A flag, not a ring: a ring's `connect` would stay pending (and be
                // woken spuriously by glommio's shared-channel poller) until shutdown.
                let stopped = async {
                    while !stop.load(Ordering::Acquire) {
                        glommio::timer::sleep(STOP_POLL).await;
                    }
                };
                future::or(work, stopped).await;
            })?;
        joins.push(join);
    }
    drop(ready_tx);
    for _ in &shard_cores {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(error),
            Err(_) => return Err(std::io::Error::other("an executor failed to start")),
        }
    }
    drop(placeholder);
    Ok(ServerHandle {
        addr,
        stop,
        failure,
        joins,
    })
}

/// Binds (without listening) to learn the port when 0 was asked for; the
/// shards then bind the same port with SO_REUSEPORT.
fn reserve_port(addr: SocketAddr) -> std::io::Result<(SocketAddr, socket2::Socket)> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    let bound = socket
        .local_addr()?
        .as_socket()
        .ok_or_else(|| std::io::Error::other("not an inet socket"))?;
    Ok((bound, socket))
}

type ShardIo = (usize, SharedSender<Vec<SeqRequest>>, SharedReceiver<Commit>);

#[allow(clippy::too_many_arguments)]
async fn core_main(
    core: usize,
    config: Arc<Config>,
    tree: crate::tree::DataTree,
    reports: Arc<Reports>,
    clock: Clock,
    addr: SocketAddr,
    seq_io: Option<SequencerStart>,
    shard_io: Option<ShardIo>,
    ready: std::sync::mpsc::Sender<std::io::Result<()>>,
) {
    tracing::debug!(
        core,
        sequencer = seq_io.is_some(),
        shard = shard_io.is_some(),
        "core starting"
    );
    let sequencer =
        seq_io.map(|start| glommio::spawn_local(run_sequencer(start, reports.clone(), clock)));
    if let Some((index, tx, rx)) = shard_io {
        let listener = match glommio::net::TcpListener::bind(addr) {
            Ok(listener) => listener,
            Err(error) => {
                let _ = ready.send(Err(std::io::Error::other(format!(
                    "cannot listen on {addr}: {error}"
                ))));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        run_shard(
            index,
            config,
            Arc::new(tree),
            reports,
            clock,
            listener,
            tx,
            rx,
        )
        .await;
    }
    if let Some(sequencer) = sequencer {
        sequencer.await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_shard(
    index: usize,
    config: Arc<Config>,
    view: Arc<crate::tree::DataTree>,
    reports: Arc<Reports>,
    clock: Clock,
    listener: glommio::net::TcpListener,
    to_seq: SharedSender<Vec<SeqRequest>>,
    from_seq: SharedReceiver<Commit>,
) {
    let (outbox_bell, outbox_waiter) = bell();
    let shard: ShardRef = Rc::new(RefCell::new(Shard::new(
        index,
        config.clone(),
        view,
        outbox_bell.clone(),
        reports.acked_zxid(),
    )));
    let to_seq = to_seq.connect().await;
    let from_seq = from_seq.connect().await;
    glommio::spawn_local(flush_outbox(shard.clone(), to_seq, outbox_waiter)).detach();
    glommio::spawn_local(receive_commits(
        shard.clone(),
        from_seq,
        clock,
        reports.clone(),
    ))
    .detach();
    glommio::spawn_local(shard_ticks(shard.clone(), reports.clone(), outbox_bell)).detach();
    accept_loop(listener, shard, clock, reports).await;
}

/// Sends the shard's queued requests to the sequencer, one batch per wake-up.
async fn flush_outbox(shard: ShardRef, to_seq: ConnectedSender<Vec<SeqRequest>>, wake: BellWaiter) {
    while wake.wait().await {
        let batch = std::mem::take(&mut shard.borrow_mut().outbox);
        if batch.is_empty() {
            continue;
        }
        if to_seq.send(batch).await.is_err() {
            tracing::error!("sequencer ring closed");
            return;
        }
    }
}

async fn receive_commits(
    shard: ShardRef,
    from_seq: ConnectedReceiver<Commit>,
    clock: Clock,
    reports: Arc<Reports>,
) {
    while let Some(commit) = from_seq.recv().await {
        let mut shard = shard.borrow_mut();
        shard.set_now(clock.now_ms());
        let report_round = commit.report_round;
        shard.on_commit(commit);
        if let Some(round) = report_round {
            reports.publish_shard(&shard, round);
        }
    }
}

/// Session touches go to the sequencer a few times per tick; reports refresh once per second.
async fn shard_ticks(shard: ShardRef, reports: Arc<Reports>, outbox_bell: bell::Bell) {
    let tick_ms = u64::from(shard.borrow().config().tick_time_ms);
    let period = Duration::from_millis((tick_ms / 4).clamp(10, 500));
    let mut since_report = Duration::ZERO;
    loop {
        glommio::timer::sleep(period).await;
        let mut state = shard.borrow_mut();
        let touched = state.take_touched();
        if !touched.is_empty() {
            state.outbox.push(SeqRequest::Touch(touched));
            outbox_bell.ring();
        }
        since_report += period;
        if since_report >= Duration::from_secs(1) {
            since_report = Duration::ZERO;
            reports.publish_shard(&state, 0);
        }
    }
}
