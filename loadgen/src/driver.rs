//! The shell that runs sessions: threads, executors, sockets and the clock.
//!
//! One OS thread per `--threads`, each running its own single-threaded glommio
//! `LocalExecutor` with a share of the sessions, so no lock or atomic sits on
//! the per-operation path. Glommio rather than a current-thread tokio runtime
//! because it is the project's runtime already (one executor per core, the
//! same `bell` primitive, no second async stack to learn), and its task
//! switches and io_uring socket I/O cost no more than tokio's epoll path for a
//! handful of large batched reads and writes per wake-up. The executors are not
//! pinned: on a small host the load generator shares cores with the server under
//! test, and pinning both would leave the kernel no room to balance them.
//!
//! Per session, as in the server (`net/conn.rs`): a reader task that splits
//! frames, hands them to the [`Session`] and lets it queue the next requests,
//! and a writer task on a duplicate descriptor that sends everything queued in
//! one write per wake-up (batched socket writes). Per thread: a coordinator that
//! moves all its sessions through the phases, a pacer in open loop, and a
//! one-second ticker for the live progress line. The main thread creates the
//! run's root znode, starts the threads, lines them up on a barrier so the
//! measured window starts at the same instant everywhere, merges the results
//! and removes the root.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use corekeeper::proto::frame::split_frame;
use corekeeper::runtime::bell::{bell, Bell, BellWaiter};
use futures_lite::{future, AsyncBufReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use glommio::{LocalExecutorBuilder, Placement};

use crate::churn::Cycle;
use crate::control::{Control, ControlError};
use crate::expect::Invalid;
use crate::fanout::FanoutClock;
use crate::pacer::Pacer;
use crate::report::{Report, RunParams};
use crate::session::{
    ErrorKind, LoopModel, Phase, Purpose, Session, SessionConfig, REPLY_BYTES_MAX,
};
use crate::stats::{Interval, Recorder, Stats, Window};
use crate::workload::{End, OpKind, Roles, Step};

/// Time allowed for every session of a thread to connect and handshake.
const CONNECT_TIME_MAX: Duration = Duration::from_secs(15);
/// Time allowed for set-up (each session's directory and znodes).
const SETUP_TIME_MAX: Duration = Duration::from_secs(600);
/// Time allowed for a counted phase (`--ops`) to finish.
const COUNTED_PHASE_TIME_MAX: Duration = Duration::from_secs(3600);
/// Time allowed after a phase for answers to what is in flight or queued;
/// what is still unanswered then counts as `TIMEOUT`.
const DRAIN_TIME_MAX: Duration = Duration::from_secs(10);
/// Time allowed for tear-down (deletes of everything created).
const TEARDOWN_TIME_MAX: Duration = Duration::from_secs(600);
/// Time allowed for closeSession.
const CLOSE_TIME_MAX: Duration = Duration::from_secs(10);
/// The pacer's timer sleeps at least this long between dispatches, so that at
/// high rates arrivals go out in batches (one write per session per batch)
/// instead of one timer wake-up each.
const PACER_QUANTUM: Duration = Duration::from_micros(50);
/// How often a thread waiting for its sessions to finish a phase looks again
/// without being rung (watch-fanout's watchers wait for a writer elsewhere).
const PHASE_POLL: Duration = Duration::from_millis(10);
/// Initial capacity of a session's read and write buffers.
const SOCKET_BUFFER_BYTES: usize = 64 << 10;

/// Everything a run of one step needs.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Servers; session `i` connects to `targets[i % len]`.
    pub targets: Vec<SocketAddr>,
    /// The step.
    pub step: Step,
    /// Driver threads (at most the step's sessions).
    pub threads: usize,
    /// Session timeout asked for.
    pub session_timeout_ms: i32,
    /// Seed of every random choice.
    pub seed: u64,
}

/// One second of the live progress line, all threads together.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Which second (1 = the first).
    pub second: u64,
    /// Whether that second is still warm-up.
    pub warmup: bool,
    /// Merged numbers.
    pub interval: Interval,
}

/// Why a run could not produce a report.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The control session (root znode) failed.
    #[error("control session: {0}")]
    Control(#[from] ControlError),
    /// A driver thread could not start.
    #[error("cannot start a driver thread: {0}")]
    Spawn(std::io::Error),
    /// A driver thread panicked.
    #[error("a driver thread failed: {0}")]
    Thread(String),
    /// Sessions could not connect or set up; nothing was measured.
    #[error("set-up failed ({0}); the run was aborted and its znodes removed")]
    Setup(String),
}

/// What a thread hands back.
struct ThreadResult {
    phases: Vec<Stats>,
    setup_errors: BTreeMap<ErrorKind, u64>,
    teardown_errors: BTreeMap<ErrorKind, u64>,
}

enum Msg {
    Interval(Interval),
    /// The thread has measured every phase.
    Measured,
    Finished,
}

/// State every thread and the main thread share.
struct Shared {
    epoch: Instant,
    ready: Barrier,
    go: Barrier,
    /// Threads only: between phases.
    phase: Barrier,
    start_ns: AtomicU64,
    abort: AtomicBool,
}

/// Runs one step; `on_progress` sees each second as it completes.
pub fn run(config: &RunConfig, on_progress: &mut dyn FnMut(&Progress)) -> Result<Report, RunError> {
    let step = &config.step;
    assert!(!config.targets.is_empty() && step.sessions > 0 && step.depth > 0);

    let threads = config.threads.clamp(1, step.sessions as usize);
    let root = format!(
        "/corekeeper-loadgen-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() / 1000)
    );
    let mut control = Control::connect(config.targets[0])?;
    control.create(&root)?;
    control.close();

    let fanout = (step.roles == Roles::OneWriterManyWatchers)
        .then(|| Arc::new(FanoutClock::new(format!("{root}/s0/k0"))));
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        ready: Barrier::new(threads + 1),
        go: Barrier::new(threads + 1),
        phase: Barrier::new(threads),
        start_ns: AtomicU64::new(0),
        abort: AtomicBool::new(false),
    });
    let (tx, rx) = mpsc::channel();
    let mut joins = Vec::new();
    for t in 0..threads {
        let sessions = thread_sessions(step, threads, t);
        let ctx = ThreadCtx {
            config: config.clone(),
            step: Arc::new(step.clone()),
            root: root.clone(),
            sessions,
            shared: shared.clone(),
            progress: tx.clone(),
            fanout: fanout.clone(),
        };
        let builder = LocalExecutorBuilder::new(Placement::Unbound).name(&format!("loadgen-{t}"));
        let join = if step.roles == Roles::Churn {
            builder.spawn(move || churn_thread_main(ctx))
        } else {
            builder.spawn(move || thread_main(ctx))
        };
        match join {
            Ok(join) => joins.push(join),
            Err(e) => {
                // A host that cannot start a thread is broken: give up. Threads
                // already started stay parked on the barrier until the process
                // exits (the command line exits at once); remove the root now.
                shared.abort.store(true, Ordering::Release);
                if let Ok(mut control) = Control::connect(config.targets[0]) {
                    let _ = control.delete_tree(&root);
                    control.close();
                }
                return Err(RunError::Spawn(std::io::Error::other(e.to_string())));
            }
        }
    }
    drop(tx);

    shared.ready.wait();
    let start_ns = now_ns(shared.epoch) + 1_000_000;
    let started_at = std::time::SystemTime::now() + Duration::from_millis(1);
    shared.start_ns.store(start_ns, Ordering::Release);
    shared.go.wait();
    let first = &step.phases[0].end;
    let cpu_window = match (first, step.phases.len()) {
        (End::Time { warmup, duration }, 1) => CpuWindow {
            from_ns: start_ns + warmup.as_nanos() as u64,
            to_ns: Some(start_ns + (*warmup + *duration).as_nanos() as u64),
        },
        (End::Time { warmup, .. }, _) => CpuWindow {
            from_ns: start_ns + warmup.as_nanos() as u64,
            to_ns: None,
        },
        (End::Ops(_), _) => CpuWindow {
            from_ns: start_ns,
            to_ns: None,
        },
    };
    let aborted = shared.abort.load(Ordering::Acquire);
    let warmup_until_ns = cpu_window.from_ns;
    let (cpu_cores, intervals) = follow_progress(
        &rx,
        threads,
        &shared,
        (start_ns, warmup_until_ns),
        cpu_window,
        aborted,
        on_progress,
    );

    let mut phases: Vec<Stats> = step.phases.iter().map(|_| Stats::new()).collect();
    let mut setup_errors = BTreeMap::new();
    let mut housekeeping = BTreeMap::new();
    for join in joins {
        let result = join.join().map_err(|e| RunError::Thread(e.to_string()))?;
        for (mine, theirs) in phases.iter_mut().zip(&result.phases) {
            mine.merge(theirs);
        }
        for (kind, n) in result.setup_errors {
            *setup_errors.entry(kind).or_insert(0) += n;
        }
        for (kind, n) in result.teardown_errors {
            *housekeeping.entry(kind).or_insert(0) += n;
        }
    }
    let mut control = Control::connect(config.targets[0])?;
    control.delete_tree(&root)?;
    control.close();
    if aborted || !setup_errors.is_empty() {
        let list: Vec<String> = setup_errors
            .iter()
            .map(|(k, n)| format!("{} x{n}", k.name()))
            .collect();
        return Err(RunError::Setup(list.join(", ")));
    }
    if step.roles == Roles::OneWriterManyWatchers {
        count_missed_notifications(&mut phases[0], step.sessions - 1);
    }
    let results: Vec<(Stats, f64)> = phases
        .into_iter()
        .zip(&step.phases)
        .map(|(stats, spec)| {
            let seconds = match spec.end {
                End::Time { duration, .. } => duration.as_secs_f64(),
                End::Ops(_) => stats.counted_seconds(),
            };
            (stats, seconds)
        })
        .collect();
    let params = RunParams {
        targets: config.targets.iter().map(|a| a.to_string()).collect(),
        step: step.clone(),
        threads,
    };
    let warmup_seconds = (warmup_until_ns - start_ns) / 1_000_000_000;
    let mut report = Report::new(
        params,
        &results,
        &housekeeping,
        cpu_cores,
        intervals,
        warmup_seconds,
    );
    report.started_at = started_at;
    Ok(report)
}

/// The sessions driver thread `t` of `threads` runs: round robin, except that
/// watch-fanout's writer (session 0) gets a thread of its own when there are
/// several, so that its pacer is not late behind the watchers' notifications.
fn thread_sessions(step: &Step, threads: usize, t: usize) -> Vec<u32> {
    let all = 0..step.sessions;
    if step.roles == Roles::OneWriterManyWatchers && threads > 1 {
        if t == 0 {
            return vec![0];
        }
        return all
            .skip(1)
            .filter(|i| (*i as usize - 1) % (threads - 1) == t - 1)
            .collect();
    }
    all.filter(|i| *i as usize % threads == t).collect()
}

/// watch-fanout: every watcher must have seen every write of the window; the
/// ones that never arrived (each watcher waits for them in its drain) count
/// as `invalid.notification`.
fn count_missed_notifications(stats: &mut Stats, watchers: u32) {
    let writes = stats.per_op[OpKind::SetData.index()].ok;
    let seen = stats.per_op[OpKind::Notification.index()].ok;
    let missed = (writes * u64::from(watchers)).saturating_sub(seen);
    if missed > 0 {
        *stats
            .errors
            .entry(ErrorKind::Invalid(Invalid::Notification))
            .or_insert(0) += missed;
    }
}

/// When the generator's CPU use is measured: the window, or from its start to
/// the last thread's end of measuring when the end is not known in advance.
#[derive(Clone, Copy, Debug)]
struct CpuWindow {
    from_ns: u64,
    to_ns: Option<u64>,
}

/// Merges the threads' seconds into progress lines until every thread is done;
/// returns the CPU the process used while measuring (in cores) and the merged
/// seconds.
fn follow_progress(
    rx: &mpsc::Receiver<Msg>,
    threads: usize,
    shared: &Shared,
    (start_ns, warmup_until_ns): (u64, u64),
    cpu_window: CpuWindow,
    aborted: bool,
    on_progress: &mut dyn FnMut(&Progress),
) -> (f64, Vec<Interval>) {
    let mut pending: BTreeMap<u64, (Interval, usize)> = BTreeMap::new();
    let mut seconds = Vec::new();
    let (mut finished, mut measured) = (0, 0);
    let mut cpu_from: Option<(f64, u64)> = None;
    let mut cpu_to: Option<(f64, u64)> = None;
    while finished < threads {
        let now = now_ns(shared.epoch);
        if cpu_from.is_none() && now >= cpu_window.from_ns {
            cpu_from = Some((process_cpu_s(), now));
        }
        if let Some(to) = cpu_window.to_ns {
            if cpu_to.is_none() && now >= to {
                cpu_to = Some((process_cpu_s(), now));
            }
        }
        let next_mark = match (cpu_from, cpu_to, cpu_window.to_ns) {
            (None, _, _) => cpu_window.from_ns,
            (Some(_), None, Some(to)) => to,
            _ => u64::MAX,
        };
        let wait =
            Duration::from_nanos(next_mark.saturating_sub(now)).min(Duration::from_millis(250));
        match rx.recv_timeout(wait) {
            Ok(Msg::Finished) => finished += 1,
            Ok(Msg::Measured) => {
                measured += 1;
                if measured == threads && cpu_to.is_none() {
                    cpu_to = Some((process_cpu_s(), now_ns(shared.epoch)));
                }
            }
            Ok(Msg::Interval(interval)) => {
                let second = interval.second;
                let entry = pending
                    .entry(second)
                    .or_insert_with(|| (Interval::new(second), 0));
                entry.0.merge(&interval);
                entry.1 += 1;
                if entry.1 == threads && !aborted {
                    let (interval, _) = pending.remove(&second).expect("present");
                    let warmup = start_ns + second * 1_000_000_000 <= warmup_until_ns;
                    on_progress(&Progress {
                        second,
                        warmup,
                        interval: interval.clone(),
                    });
                    seconds.push(interval);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let cores = match (cpu_from, cpu_to) {
        (Some((c0, t0)), Some((c1, t1))) if t1 > t0 => (c1 - c0) / ((t1 - t0) as f64 / 1e9),
        _ => 0.0,
    };
    (cores, seconds)
}

/// User plus system CPU time of this process, in seconds.
fn process_cpu_s() -> f64 {
    // SAFETY: `getrusage` fills the zeroed struct we pass and keeps no pointer.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn now_ns(epoch: Instant) -> u64 {
    epoch.elapsed().as_nanos() as u64
}

/// What a driver thread is given.
struct ThreadCtx {
    config: RunConfig,
    step: Arc<Step>,
    root: String,
    sessions: Vec<u32>,
    shared: Arc<Shared>,
    progress: mpsc::Sender<Msg>,
    fanout: Option<Arc<FanoutClock>>,
}

/// One session's connection. Lives on its driver thread; shared by its reader
/// and writer tasks and the thread's coordinator.
struct Conn {
    session: Session,
    /// Frames queued for the writer.
    out: BytesMut,
    writer_bell: Bell,
    /// The reader has stopped; the writer stops too.
    closed: bool,
}

type ConnRef = Rc<RefCell<Conn>>;

impl Conn {
    /// Lets the session queue what it may send now and wakes the writer.
    fn kick(&mut self, now_ns: u64) {
        if self.session.fill(now_ns, &mut self.out) > 0 {
            self.writer_bell.ring();
        }
    }
}

/// Per-thread state shared by the thread's tasks.
struct ThreadState {
    epoch: Instant,
    recorder: RefCell<Recorder>,
    /// Rung whenever a session may have finished its phase.
    phase_bell: Bell,
    /// Open loop, during a phase: the schedule and the sessions it feeds.
    open_loop: RefCell<Option<OpenLoop>>,
    /// The ticker runs while this is set.
    measuring: Cell<bool>,
}

/// The open-loop pacer of one thread.
struct OpenLoop {
    phase: usize,
    pacer: Pacer,
    conns: Vec<ConnRef>,
    /// Sessions given an arrival in the current dispatch.
    touched: Vec<bool>,
}

async fn thread_main(ctx: ThreadCtx) -> ThreadResult {
    let epoch = ctx.shared.epoch;
    let (phase_bell, phase_waiter) = bell();
    let state = Rc::new(ThreadState {
        epoch,
        recorder: RefCell::new(Recorder::new(ctx.step.phases.len())),
        phase_bell,
        open_loop: RefCell::new(None),
        measuring: Cell::new(true),
    });
    let session_config = SessionConfig {
        step: ctx.step.clone(),
        model: if ctx.step.rate.is_some() {
            LoopModel::Open
        } else {
            LoopModel::Closed
        },
        root: ctx.root.clone(),
        timeout_ms: ctx.config.session_timeout_ms,
        seed: ctx.config.seed,
        fanout: ctx.fanout.clone(),
    };
    let ping_every = Duration::from_millis((ctx.config.session_timeout_ms / 3).max(100) as u64);
    let mut conns = Vec::new();
    for &index in &ctx.sessions {
        let (writer_bell, writer_waiter) = bell();
        let conn = Rc::new(RefCell::new(Conn {
            session: Session::new(index, session_config.clone()),
            out: BytesMut::with_capacity(SOCKET_BUFFER_BYTES),
            writer_bell,
            closed: false,
        }));
        let addr = ctx.config.targets[index as usize % ctx.config.targets.len()];
        glommio::spawn_local(session_task(
            conn.clone(),
            addr,
            state.clone(),
            writer_waiter,
            ping_every,
        ))
        .detach();
        conns.push(conn);
    }

    let connected = wait_phase_done(&conns, &phase_waiter, CONNECT_TIME_MAX).await;
    let lost = conns.iter().filter(|c| c.borrow().session.failed()).count() as u64;
    if !connected || lost > 0 {
        let mut rec = state.recorder.borrow_mut();
        *rec.setup_errors
            .entry(ErrorKind::ConnectionLoss)
            .or_insert(0) += lost.max(1);
    }
    let set_up = connected
        && advance(
            &conns,
            &state,
            &phase_waiter,
            Phase::Setup,
            0,
            SETUP_TIME_MAX,
        )
        .await;
    if !set_up || !state.recorder.borrow().setup_errors.is_empty() {
        ctx.shared.abort.store(true, Ordering::Release);
    }

    ctx.shared.ready.wait();
    ctx.shared.go.wait();
    if !ctx.shared.abort.load(Ordering::Acquire) {
        let start_ns = ctx.shared.start_ns.load(Ordering::Acquire);
        measure(&ctx, &conns, &state, &phase_waiter, start_ns).await;
    }
    let _ = ctx.progress.send(Msg::Measured);
    if !advance(
        &conns,
        &state,
        &phase_waiter,
        Phase::Teardown,
        0,
        TEARDOWN_TIME_MAX,
    )
    .await
    {
        let mut rec = state.recorder.borrow_mut();
        *rec.teardown_errors.entry(ErrorKind::Timeout).or_insert(0) += 1;
    }
    advance(
        &conns,
        &state,
        &phase_waiter,
        Phase::Close,
        0,
        CLOSE_TIME_MAX,
    )
    .await;
    for conn in &conns {
        let mut conn = conn.borrow_mut();
        conn.closed = true;
        conn.writer_bell.ring();
    }
    let _ = ctx.progress.send(Msg::Finished);
    let recorder = std::mem::replace(&mut *state.recorder.borrow_mut(), Recorder::new(0));
    ThreadResult {
        phases: recorder.phases.into_iter().map(|p| p.stats).collect(),
        setup_errors: recorder.setup_errors,
        teardown_errors: recorder.teardown_errors,
    }
}

/// Every phase of the step: its window, then its drain; threads meet between
/// phases so each starts everywhere at once.
async fn measure(
    ctx: &ThreadCtx,
    conns: &[ConnRef],
    state: &Rc<ThreadState>,
    phase_waiter: &BellWaiter,
    start_ns: u64,
) {
    sleep_until(state.epoch, start_ns).await;
    let ticker = glommio::spawn_local(tick(state.clone(), ctx.progress.clone(), start_ns));
    for (p, spec) in ctx.step.phases.iter().enumerate() {
        let phase_start_ns = if p == 0 {
            start_ns
        } else {
            // Blocks this thread's executor: nothing of it is in flight now.
            ctx.shared.phase.wait();
            now_ns(state.epoch)
        };
        if let Some(clock) = &ctx.fanout {
            clock.reopen();
        }
        let window = match spec.end {
            End::Time { warmup, duration } => Window {
                from_ns: phase_start_ns + warmup.as_nanos() as u64,
                to_ns: phase_start_ns + (warmup + duration).as_nanos() as u64,
            },
            End::Ops(_) => Window {
                from_ns: phase_start_ns,
                to_ns: u64::MAX,
            },
        };
        state.recorder.borrow_mut().begin_phase(p, window);
        run_phase(ctx, conns, state, phase_waiter, p, phase_start_ns, window).await;
        if !advance(
            conns,
            state,
            phase_waiter,
            Phase::Drain,
            window.to_ns,
            DRAIN_TIME_MAX,
        )
        .await
        {
            let mut rec = state.recorder.borrow_mut();
            for conn in conns {
                for (_, phase, intended_ns) in conn.borrow_mut().session.abandon_measured() {
                    rec.fail_unanswered(phase, intended_ns, ErrorKind::Timeout);
                }
            }
        }
    }
    state.measuring.set(false);
    ticker.await;
}

/// Phase `p` from its start to its end (the clock, or its operations sent and
/// answered), pacing arrivals in open loop.
async fn run_phase(
    ctx: &ThreadCtx,
    conns: &[ConnRef],
    state: &Rc<ThreadState>,
    phase_waiter: &BellWaiter,
    p: usize,
    phase_start_ns: u64,
    window: Window,
) {
    let now = now_ns(state.epoch);
    for conn in conns {
        let mut conn = conn.borrow_mut();
        conn.session.set_phase(Phase::Run(p), window.to_ns);
        conn.kick(now);
    }
    let step = &ctx.step;
    let end = step.phases[p].end;
    let pacing = step.rate.map(|rate| {
        let workers: Vec<ConnRef> = conns
            .iter()
            .filter(|c| c.borrow().session.takes_arrivals())
            .cloned()
            .collect();
        let workers_total = match step.roles {
            Roles::OneWriterManyWatchers => 1,
            _ => step.sessions,
        };
        let share = rate * workers.len() as f64 / f64::from(workers_total);
        let until_ns = match end {
            End::Time { .. } => window.to_ns,
            // Arrivals until the phase's operations are all sent; the session
            // stops taking them once its share is.
            End::Ops(_) => u64::MAX,
        };
        (share, until_ns, workers)
    });
    if let Some((share, until_ns, workers)) = pacing {
        if share > 0.0 && !workers.is_empty() {
            *state.open_loop.borrow_mut() = Some(OpenLoop {
                phase: p,
                pacer: Pacer::new(phase_start_ns, until_ns, share, workers.len()),
                touched: vec![false; workers.len()],
                conns: workers,
            });
        }
    }
    match end {
        End::Time { .. } if state.open_loop.borrow().is_some() => pace(state).await,
        End::Time { .. } => sleep_until(state.epoch, window.to_ns).await,
        End::Ops(_) if state.open_loop.borrow().is_some() => {
            future::or(
                async {
                    pace(state).await;
                },
                async {
                    wait_phase_done(conns, phase_waiter, COUNTED_PHASE_TIME_MAX).await;
                },
            )
            .await;
        }
        End::Ops(_) => {
            wait_phase_done(conns, phase_waiter, COUNTED_PHASE_TIME_MAX).await;
        }
    }
    *state.open_loop.borrow_mut() = None;
}

/// Moves every session to `phase` and waits until all have finished it.
async fn advance(
    conns: &[ConnRef],
    state: &ThreadState,
    phase_waiter: &BellWaiter,
    phase: Phase,
    run_end_ns: u64,
    limit: Duration,
) -> bool {
    let now = now_ns(state.epoch);
    for conn in conns {
        let mut conn = conn.borrow_mut();
        conn.session.set_phase(phase, run_end_ns);
        conn.kick(now);
    }
    wait_phase_done(conns, phase_waiter, limit).await
}

async fn wait_phase_done(conns: &[ConnRef], phase_waiter: &BellWaiter, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if conns.iter().all(|c| c.borrow().session.phase_done()) {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        future::or(
            async {
                phase_waiter.wait().await;
            },
            glommio::timer::sleep(left.min(PHASE_POLL)),
        )
        .await;
    }
}

/// Open loop: hands out arrivals while the schedule lasts. Readers also hand
/// out what is due each time they run (`dispatch_due`), so on a busy executor
/// arrivals leave on time even if this task's timer fires late; on an idle one,
/// the timer is what wakes the thread.
async fn pace(state: &ThreadState) {
    loop {
        dispatch_due(state);
        let Some(due) = state
            .open_loop
            .borrow()
            .as_ref()
            .and_then(|o| o.pacer.next_due())
        else {
            return;
        };
        let now = now_ns(state.epoch);
        glommio::timer::sleep(Duration::from_nanos(due.saturating_sub(now)).max(PACER_QUANTUM))
            .await;
    }
}

/// Hands every arrival due by now to its session and lets the sessions send.
fn dispatch_due(state: &ThreadState) {
    let mut open_loop = state.open_loop.borrow_mut();
    let Some(OpenLoop {
        phase,
        pacer,
        conns,
        touched,
    }) = open_loop.as_mut()
    else {
        return;
    };
    let now = now_ns(state.epoch);
    {
        let mut rec = state.recorder.borrow_mut();
        while let Some((intended_ns, i)) = pacer.pop_due(now) {
            rec.arrival_dispatched(*phase, intended_ns, now);
            match conns[i].borrow_mut().session.push_arrival(intended_ns) {
                Ok(()) => touched[i] = true,
                Err(kind) => rec.fail_unanswered(*phase, intended_ns, kind),
            }
        }
    }
    for (i, conn) in conns.iter().enumerate() {
        if std::mem::take(&mut touched[i]) {
            conn.borrow_mut().kick(now);
        }
    }
}

/// Sends the thread's numbers for each second of the run to the main thread,
/// while it measures.
async fn tick(state: Rc<ThreadState>, progress: mpsc::Sender<Msg>, start_ns: u64) {
    let mut second = 1u64;
    loop {
        let at = start_ns + second * 1_000_000_000;
        while state.measuring.get() && now_ns(state.epoch) < at {
            let left = at.saturating_sub(now_ns(state.epoch));
            glommio::timer::sleep(Duration::from_nanos(left).min(Duration::from_millis(100))).await;
        }
        if !state.measuring.get() {
            return;
        }
        let interval = state.recorder.borrow_mut().take_interval();
        if progress.send(Msg::Interval(interval)).is_err() {
            return;
        }
        second += 1;
    }
}

async fn sleep_until(epoch: Instant, at_ns: u64) {
    let now = now_ns(epoch);
    if at_ns > now {
        glommio::timer::sleep(Duration::from_nanos(at_ns - now)).await;
    }
}

/// session-churn: every session of the thread is a worker running cycles
/// (`churn::Cycle`) one after another until the window closes or its share of
/// `--ops` is done; then one unmeasured cycle more checks that the last
/// ephemeral went with its session.
async fn churn_thread_main(ctx: ThreadCtx) -> ThreadResult {
    let state = Rc::new(ThreadState {
        epoch: ctx.shared.epoch,
        recorder: RefCell::new(Recorder::new(1)),
        phase_bell: bell().0,
        open_loop: RefCell::new(None),
        measuring: Cell::new(true),
    });
    ctx.shared.ready.wait();
    ctx.shared.go.wait();
    let start_ns = ctx.shared.start_ns.load(Ordering::Acquire);
    sleep_until(state.epoch, start_ns).await;
    let end = ctx.step.phases[0].end;
    let window = match end {
        End::Time { warmup, duration } => Window {
            from_ns: start_ns + warmup.as_nanos() as u64,
            to_ns: start_ns + (warmup + duration).as_nanos() as u64,
        },
        End::Ops(_) => Window {
            from_ns: start_ns,
            to_ns: u64::MAX,
        },
    };
    state.recorder.borrow_mut().begin_phase(0, window);
    let ticker = glommio::spawn_local(tick(state.clone(), ctx.progress.clone(), start_ns));
    let value = bytes::Bytes::from(vec![b'x'; ctx.step.values.max as usize]);
    let workers: Vec<_> = ctx
        .sessions
        .iter()
        .map(|&worker| {
            let addr = ctx.config.targets[worker as usize % ctx.config.targets.len()];
            let job = ChurnJob {
                worker,
                addr,
                root: ctx.root.clone(),
                timeout_ms: ctx.config.session_timeout_ms,
                value: value.clone(),
                quota: end.quota(worker, ctx.step.sessions),
                end_ns: window.to_ns,
            };
            glommio::spawn_local(churn_worker(job, state.clone()))
        })
        .collect();
    for worker in workers {
        worker.await;
    }
    state.measuring.set(false);
    ticker.await;
    let _ = ctx.progress.send(Msg::Measured);
    let _ = ctx.progress.send(Msg::Finished);
    let recorder = std::mem::replace(&mut *state.recorder.borrow_mut(), Recorder::new(0));
    ThreadResult {
        phases: recorder.phases.into_iter().map(|p| p.stats).collect(),
        setup_errors: recorder.setup_errors,
        teardown_errors: recorder.teardown_errors,
    }
}

/// What one churn worker does.
struct ChurnJob {
    worker: u32,
    addr: SocketAddr,
    root: String,
    timeout_ms: i32,
    value: bytes::Bytes,
    /// Cycles to run (`--ops`), or until `end_ns`.
    quota: Option<u64>,
    end_ns: u64,
}

async fn churn_worker(job: ChurnJob, state: Rc<ThreadState>) {
    let mut n = 0u64;
    loop {
        let more = match job.quota {
            Some(q) => n < q,
            None => now_ns(state.epoch) < job.end_ns,
        };
        let purpose = if more {
            Purpose::Measured
        } else {
            Purpose::Teardown
        };
        churn_cycle(&job, n, purpose, &state).await;
        n += 1;
        if !more {
            return;
        }
    }
}

/// One cycle over a new connection; files every request's completion and the
/// whole cycle's (`Session`).
async fn churn_cycle(job: &ChurnJob, n: u64, purpose: Purpose, state: &ThreadState) {
    let started_ns = now_ns(state.epoch);
    let mut cycle = Cycle::new(job.worker, n, &job.root, job.timeout_ms, job.value.clone());
    let mut out = BytesMut::new();
    cycle.start(&mut out);
    let mut sent_ns = started_ns;
    let mut first_error = None;
    let file = |op, sent_ns, outcome: Result<(), ErrorKind>, done_ns| {
        let completion = crate::session::Completion {
            op,
            purpose,
            phase: 0,
            intended_ns: sent_ns,
            sent_ns,
            outcome,
        };
        state.recorder.borrow_mut().complete(&completion, done_ns);
    };
    if let Ok(stream) = TcpStream::connect(job.addr).await {
        let _ = stream.set_nodelay(true);
        let mut stream = stream.buffered();
        let mut buf = BytesMut::new();
        'io: while !cycle.done() {
            if !out.is_empty() {
                if stream.write_all(&out).await.is_err() || stream.flush().await.is_err() {
                    break;
                }
                out.clear();
            }
            let chunk = match stream.fill_buf().await {
                Ok([]) | Err(_) => break,
                Ok(chunk) => chunk,
            };
            buf.extend_from_slice(chunk);
            let consumed = chunk.len();
            stream.consume(consumed);
            while let Ok(Some(frame)) = split_frame(&mut buf, REPLY_BYTES_MAX) {
                let now = now_ns(state.epoch);
                match cycle.on_frame(&frame, &mut out) {
                    Ok(done) => {
                        file(done.op, sent_ns, done.outcome, now);
                        if let Err(e) = done.outcome {
                            first_error.get_or_insert(e);
                        }
                        sent_ns = now;
                    }
                    Err(_) => break 'io,
                }
            }
        }
    }
    let now = now_ns(state.epoch);
    if !cycle.done() {
        first_error.get_or_insert(ErrorKind::ConnectionLoss);
    }
    let outcome = first_error.map_or(Ok(()), Err);
    file(OpKind::Session, started_ns, outcome, now);
}

/// Connects one session and runs its reader; spawns its writer.
async fn session_task(
    conn: ConnRef,
    addr: SocketAddr,
    state: Rc<ThreadState>,
    writer_waiter: BellWaiter,
    ping_every: Duration,
) {
    let stream = match TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(error) => {
            eprintln!(
                "corekeeper-loadgen: session {}: connect {addr}: {error}",
                conn.borrow().session.index()
            );
            session_lost(&conn, &state);
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    // SAFETY: `dup` of a descriptor we own; the copy is owned by the writer's
    // `TcpStream` alone and closed when it drops.
    let write_fd = unsafe { libc::dup(stream.as_raw_fd()) };
    if write_fd < 0 {
        eprintln!(
            "corekeeper-loadgen: dup failed: {}",
            std::io::Error::last_os_error()
        );
        session_lost(&conn, &state);
        return;
    }
    // SAFETY: `write_fd` is a fresh, valid socket descriptor owned by nobody else.
    let writer = unsafe { TcpStream::from_raw_fd(write_fd) };
    glommio::spawn_local(write_loop(writer, conn.clone(), writer_waiter, ping_every)).detach();
    conn.borrow_mut().kick(now_ns(state.epoch));
    read_loop(stream, &conn, &state).await;
}

async fn read_loop(stream: TcpStream, conn: &ConnRef, state: &ThreadState) {
    let mut stream = stream.buffered();
    let mut buf = BytesMut::with_capacity(SOCKET_BUFFER_BYTES);
    loop {
        // Reads of a busy socket complete without waiting (glommio tries the
        // syscall before the ring), so a reader could run on without giving the
        // executor back: yield when the scheduler asks.
        glommio::yield_if_needed().await;
        let chunk = match stream.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(chunk) => chunk,
        };
        buf.extend_from_slice(chunk);
        let consumed = chunk.len();
        stream.consume(consumed);
        let now = now_ns(state.epoch);
        let mut c = conn.borrow_mut();
        let mut rec = state.recorder.borrow_mut();
        let verdict = loop {
            match split_frame(&mut buf, REPLY_BYTES_MAX) {
                Ok(Some(frame)) => match c.session.on_frame(&frame, now) {
                    Ok(Some(done)) => rec.complete(&done, now),
                    Ok(None) => {}
                    Err(error) => break Err(error.to_string()),
                },
                Ok(None) => break Ok(()),
                Err(error) => break Err(error.to_string()),
            }
        };
        drop(rec);
        if let Err(why) = verdict {
            eprintln!("corekeeper-loadgen: session {}: {why}", c.session.index());
            break;
        }
        c.kick(now);
        let (done, finished) = (c.session.phase_done(), c.session.phase() == Phase::Done);
        drop(c);
        if done {
            state.phase_bell.ring();
        }
        dispatch_due(state);
        if finished {
            break;
        }
    }
    let ended_cleanly = conn.borrow().session.phase() == Phase::Done;
    if !ended_cleanly {
        session_lost(conn, state);
    }
    let mut c = conn.borrow_mut();
    c.closed = true;
    c.writer_bell.ring();
    drop(c);
    state.phase_bell.ring();
}

/// The connection is gone: everything the session had pending failed.
fn session_lost(conn: &ConnRef, state: &ThreadState) {
    let now = now_ns(state.epoch);
    let lost = conn.borrow_mut().session.fail();
    let mut rec = state.recorder.borrow_mut();
    for completion in &lost {
        rec.complete(completion, now);
    }
    drop(rec);
    state.phase_bell.ring();
}

async fn write_loop(mut stream: TcpStream, conn: ConnRef, wake: BellWaiter, ping_every: Duration) {
    let mut spare = BytesMut::with_capacity(SOCKET_BUFFER_BYTES);
    let mut last_write = Instant::now();
    loop {
        {
            let mut c = conn.borrow_mut();
            if c.closed {
                break;
            }
            std::mem::swap(&mut c.out, &mut spare);
        }
        if !spare.is_empty() {
            if stream.write_all(&spare).await.is_err() {
                break;
            }
            spare.clear();
            last_write = Instant::now();
            continue;
        }
        let idle_left = ping_every.saturating_sub(last_write.elapsed());
        let rung = future::or(
            async {
                wake.wait().await;
                true
            },
            async {
                glommio::timer::sleep(idle_left).await;
                false
            },
        )
        .await;
        if !rung && last_write.elapsed() >= ping_every {
            let mut c = conn.borrow_mut();
            let Conn { session, out, .. } = &mut *c;
            session.encode_ping(out);
        }
    }
    // Wakes the reader if the server is still sending.
    let _ = stream.shutdown(std::net::Shutdown::Both).await;
}
