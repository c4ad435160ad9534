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

use std::cell::RefCell;
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

use crate::control::{Control, ControlError};
use crate::pacer::Pacer;
use crate::report::{Report, RunParams};
use crate::session::{ErrorKind, LoopModel, Phase, Session, SessionConfig, REPLY_BYTES_MAX};
use crate::stats::{Interval, Recorder, Stats, Window};
use crate::workload::Workload;

/// Time allowed for every session of a thread to connect and handshake.
const CONNECT_TIME_MAX: Duration = Duration::from_secs(15);
/// Time allowed for set-up (one create per session).
const SETUP_TIME_MAX: Duration = Duration::from_secs(60);
/// Time allowed after the window for answers to what is in flight or queued;
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
/// Initial capacity of a session's read and write buffers.
const SOCKET_BUFFER_BYTES: usize = 64 << 10;

/// Everything a run needs.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Servers; session `i` connects to `targets[i % len]`.
    pub targets: Vec<SocketAddr>,
    /// The workload.
    pub workload: Workload,
    /// Sessions in all.
    pub sessions: u32,
    /// Requests in flight per session at most.
    pub depth: usize,
    /// Open-loop arrival rate in ops/s; `None` for closed loop.
    pub rate: Option<f64>,
    /// Driver threads (at most `sessions`).
    pub threads: usize,
    /// Warm-up before the window.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
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
    stats: Stats,
    setup_errors: BTreeMap<ErrorKind, u64>,
    teardown_errors: BTreeMap<ErrorKind, u64>,
}

enum Msg {
    Interval(Interval),
    Finished,
}

/// State every thread and the main thread share.
struct Shared {
    epoch: Instant,
    ready: Barrier,
    go: Barrier,
    start_ns: AtomicU64,
    abort: AtomicBool,
}

/// Runs a benchmark; `on_progress` sees each second as it completes.
pub fn run(config: &RunConfig, on_progress: &mut dyn FnMut(&Progress)) -> Result<Report, RunError> {
    assert!(!config.targets.is_empty() && config.sessions > 0 && config.depth > 0);
    let threads = config.threads.clamp(1, config.sessions as usize);
    let root = format!(
        "/corekeeper-loadgen-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let mut control = Control::connect(config.targets[0])?;
    control.create(&root)?;
    control.close();

    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        ready: Barrier::new(threads + 1),
        go: Barrier::new(threads + 1),
        start_ns: AtomicU64::new(0),
        abort: AtomicBool::new(false),
    });
    let (tx, rx) = mpsc::channel();
    let mut joins = Vec::new();
    for t in 0..threads {
        let sessions: Vec<u32> = (0..config.sessions)
            .filter(|i| *i as usize % threads == t)
            .collect();
        let ctx = ThreadCtx {
            config: config.clone(),
            root: root.clone(),
            sessions,
            shared: shared.clone(),
            progress: tx.clone(),
        };
        let join = LocalExecutorBuilder::new(Placement::Unbound)
            .name(&format!("loadgen-{t}"))
            .spawn(move || thread_main(ctx));
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
    shared.start_ns.store(start_ns, Ordering::Release);
    shared.go.wait();
    let window = Window {
        from_ns: start_ns + config.warmup.as_nanos() as u64,
        to_ns: start_ns + (config.warmup + config.duration).as_nanos() as u64,
    };
    let aborted = shared.abort.load(Ordering::Acquire);
    let cpu_s = follow_progress(
        &rx,
        threads,
        &shared,
        start_ns,
        window,
        aborted,
        on_progress,
    );

    let mut stats = Stats::new();
    let mut setup_errors = BTreeMap::new();
    let mut housekeeping = BTreeMap::new();
    for join in joins {
        let result = join.join().map_err(|e| RunError::Thread(e.to_string()))?;
        stats.merge(&result.stats);
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
    let params = RunParams {
        targets: config.targets.iter().map(|a| a.to_string()).collect(),
        workload: config.workload,
        sessions: config.sessions,
        depth: config.depth,
        rate: config.rate,
        threads,
        warmup_s: config.warmup.as_secs_f64(),
    };
    let cpu_cores = cpu_s / window.seconds();
    Ok(Report::new(
        params,
        window.seconds(),
        &stats,
        &housekeeping,
        cpu_cores,
    ))
}

/// Merges the threads' seconds into progress lines until every thread is done;
/// returns the process CPU time spent during the window, in seconds.
fn follow_progress(
    rx: &mpsc::Receiver<Msg>,
    threads: usize,
    shared: &Shared,
    start_ns: u64,
    window: Window,
    aborted: bool,
    on_progress: &mut dyn FnMut(&Progress),
) -> f64 {
    let mut pending: BTreeMap<u64, (Interval, usize)> = BTreeMap::new();
    let mut finished = 0;
    let mut cpu_at_from = None;
    let mut cpu_at_to = None;
    while finished < threads {
        let now = now_ns(shared.epoch);
        if cpu_at_from.is_none() && now >= window.from_ns {
            cpu_at_from = Some(process_cpu_s());
        }
        if cpu_at_to.is_none() && now >= window.to_ns {
            cpu_at_to = Some(process_cpu_s());
        }
        let next_mark = if cpu_at_from.is_none() {
            window.from_ns
        } else if cpu_at_to.is_none() {
            window.to_ns
        } else {
            u64::MAX
        };
        let wait =
            Duration::from_nanos(next_mark.saturating_sub(now)).min(Duration::from_millis(250));
        match rx.recv_timeout(wait) {
            Ok(Msg::Finished) => finished += 1,
            Ok(Msg::Interval(interval)) => {
                let second = interval.second;
                let entry = pending
                    .entry(second)
                    .or_insert_with(|| (Interval::new(second), 0));
                entry.0.merge(&interval);
                entry.1 += 1;
                if entry.1 == threads && !aborted {
                    let (interval, _) = pending.remove(&second).expect("present");
                    let warmup = start_ns + second * 1_000_000_000 <= window.from_ns;
                    on_progress(&Progress {
                        second,
                        warmup,
                        interval,
                    });
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    match (cpu_at_from, cpu_at_to) {
        (Some(from), Some(to)) => to - from,
        _ => 0.0,
    }
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
    root: String,
    sessions: Vec<u32>,
    shared: Arc<Shared>,
    progress: mpsc::Sender<Msg>,
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
    /// Open loop, during the run: the schedule and the sessions it feeds.
    open_loop: RefCell<Option<OpenLoop>>,
}

/// The open-loop pacer of one thread.
struct OpenLoop {
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
        recorder: RefCell::new(Recorder::new(Window {
            from_ns: u64::MAX,
            to_ns: u64::MAX,
        })),
        phase_bell,
        open_loop: RefCell::new(None),
    });
    let session_config = SessionConfig {
        workload: ctx.config.workload,
        depth: ctx.config.depth,
        model: if ctx.config.rate.is_some() {
            LoopModel::Open
        } else {
            LoopModel::Closed
        },
        root: ctx.root.clone(),
        timeout_ms: ctx.config.session_timeout_ms,
        seed: ctx.config.seed,
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
    let recorder = std::mem::replace(
        &mut *state.recorder.borrow_mut(),
        Recorder::new(Window {
            from_ns: 0,
            to_ns: 0,
        }),
    );
    ThreadResult {
        stats: recorder.stats,
        setup_errors: recorder.setup_errors,
        teardown_errors: recorder.teardown_errors,
    }
}

/// Warm-up, the window, and the drain.
async fn measure(
    ctx: &ThreadCtx,
    conns: &[ConnRef],
    state: &Rc<ThreadState>,
    phase_waiter: &BellWaiter,
    start_ns: u64,
) {
    let window = Window {
        from_ns: start_ns + ctx.config.warmup.as_nanos() as u64,
        to_ns: start_ns + (ctx.config.warmup + ctx.config.duration).as_nanos() as u64,
    };
    state.recorder.borrow_mut().window = window;
    sleep_until(state.epoch, start_ns).await;
    let ticker = glommio::spawn_local(tick(
        state.clone(),
        ctx.progress.clone(),
        start_ns,
        window.to_ns,
    ));
    for conn in conns {
        let mut conn = conn.borrow_mut();
        conn.session.set_phase(Phase::Run, window.to_ns);
        conn.kick(now_ns(state.epoch));
    }
    match ctx.config.rate {
        Some(rate) => {
            let share = rate * conns.len() as f64 / ctx.config.sessions as f64;
            *state.open_loop.borrow_mut() = Some(OpenLoop {
                pacer: Pacer::new(start_ns, window.to_ns, share, conns.len()),
                conns: conns.to_vec(),
                touched: vec![false; conns.len()],
            });
            pace(state).await;
            *state.open_loop.borrow_mut() = None;
        }
        None => sleep_until(state.epoch, window.to_ns).await,
    }
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
            for intended_ns in conn.borrow_mut().session.abandon_measured() {
                rec.fail_unanswered(intended_ns, ErrorKind::Timeout);
            }
        }
    }
    ticker.await;
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
            glommio::timer::sleep(left),
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
            rec.arrival_dispatched(intended_ns, now);
            match conns[i].borrow_mut().session.push_arrival(intended_ns) {
                Ok(()) => touched[i] = true,
                Err(kind) => rec.fail_unanswered(intended_ns, kind),
            }
        }
    }
    for (i, conn) in conns.iter().enumerate() {
        if std::mem::take(&mut touched[i]) {
            conn.borrow_mut().kick(now);
        }
    }
}

/// Sends the thread's numbers for each second of the run to the main thread.
async fn tick(state: Rc<ThreadState>, progress: mpsc::Sender<Msg>, start_ns: u64, end_ns: u64) {
    let mut second = 1u64;
    loop {
        let at = start_ns + second * 1_000_000_000;
        if at > end_ns {
            return;
        }
        sleep_until(state.epoch, at).await;
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
                Ok(Some(frame)) => match c.session.on_frame(&frame) {
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
