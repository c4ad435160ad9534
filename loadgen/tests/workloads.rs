//! End to end: every named workload, small, against an in-process corekeeper
//! server; each must run clean (every reply validated) and leave nothing behind.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use corekeeper::config::Config;
use corekeeper_loadgen::control::Control;
use corekeeper_loadgen::driver::{self, RunConfig};
use corekeeper_loadgen::report::Report;
use corekeeper_loadgen::workload::{plan_named, Overrides, WorkloadKind};

/// An in-process server with a data directory of its own (the server is
/// durable: a shared `./data` would carry state from one test to the next).
struct Server {
    handle: Option<corekeeper::runtime::ServerHandle>,
    data_dir: std::path::PathBuf,
}

impl Server {
    fn addr(&self) -> SocketAddr {
        self.handle.as_ref().expect("running").addr()
    }

    fn shutdown(mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown();
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn start_server() -> Server {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let data_dir = std::env::temp_dir().join(format!(
        "ck-loadgen-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&data_dir);
    let config = Config {
        client_port: 0,
        client_port_address: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        max_client_cnxns: 0,
        cores: Some(2),
        data_dir: data_dir.clone(),
        data_log_dir: data_dir.clone(),
        ..Config::default()
    };
    let handle = corekeeper::runtime::start(config).expect("server starts");
    Server {
        handle: Some(handle),
        data_dir,
    }
}

/// Small, quick versions of the workload's defaults.
fn quick(o: Overrides) -> Overrides {
    Overrides {
        duration: o.duration.or(Some(Duration::from_millis(500))),
        warmup: Some(Duration::from_millis(100)),
        ..o
    }
}

fn run(addr: SocketAddr, kind: WorkloadKind, o: Overrides) -> Vec<Report> {
    let plan = plan_named(kind, &quick(o)).unwrap();
    plan.steps
        .into_iter()
        .map(|step| {
            let config = RunConfig {
                targets: vec![addr],
                step,
                threads: 2,
                session_timeout_ms: 10_000,
                seed: 1,
            };
            let report = driver::run(&config, &mut |_| {}).expect("the run completes");
            assert!(report.clean(), "{}", report.table());
            assert!(report.all.ok > 0, "{}", report.table());
            report
        })
        .collect()
}

fn assert_nothing_left(addr: SocketAddr) {
    let mut control = Control::connect(addr).unwrap();
    assert_eq!(
        control.children("/").unwrap(),
        ["zookeeper"],
        "a run left znodes"
    );
    control.close();
}

fn sessions(n: u32) -> Overrides {
    Overrides {
        sessions: vec![n],
        ..Overrides::default()
    }
}

#[test]
fn read_write_workloads_run_clean() {
    let server = start_server();
    let addr = server.addr();
    run(addr, WorkloadKind::Read, sessions(8));
    run(addr, WorkloadKind::Write, sessions(8));
    let sweep = run(
        addr,
        WorkloadKind::RwSweep,
        Overrides {
            read_pct: vec![0, 50, 100],
            ..sessions(8)
        },
    );
    let ops: Vec<Vec<&str>> = sweep
        .iter()
        .map(|r| r.all.per_op.iter().map(|l| l.op.name()).collect())
        .collect();
    assert_eq!(
        ops,
        [vec!["setData"], vec!["getData", "setData"], vec!["getData"]]
    );
    run(addr, WorkloadKind::Large, sessions(4));
    assert_nothing_left(addr);
    server.shutdown();
}

#[test]
fn tree_workloads_run_clean() {
    let server = start_server();
    let addr = server.addr();
    run(addr, WorkloadKind::Create, sessions(8));
    run(addr, WorkloadKind::Mixed, sessions(8));
    run(
        addr,
        WorkloadKind::Mixed,
        Overrides {
            zipfian: Some(true),
            tree_size: Some(2000),
            ..sessions(8)
        },
    );
    run(addr, WorkloadKind::MultiWrite, sessions(8));
    run(addr, WorkloadKind::MultiRead, sessions(8));
    let bulk = run(
        addr,
        WorkloadKind::BulkLoad,
        Overrides {
            ops: Some(5_000),
            ..sessions(8)
        },
    );
    assert_eq!(bulk[0].all.ok, 5_000);
    assert_nothing_left(addr);
    server.shutdown();
}

#[test]
fn sweeps_and_profiles_run_clean() {
    let server = start_server();
    let addr = server.addr();
    let sync = run(
        addr,
        WorkloadKind::SyncCreate,
        Overrides {
            sessions: vec![1, 4],
            ..Overrides::default()
        },
    );
    assert_eq!(sync.len(), 2);
    assert_eq!(sync[1].params.step.sessions, 4);
    run(
        addr,
        WorkloadKind::DurabilityFloor,
        Overrides {
            sessions: vec![1, 16],
            ..Overrides::default()
        },
    );
    let profile = run(
        addr,
        WorkloadKind::LatencyProfile,
        Overrides {
            ops: Some(300),
            ..Overrides::default()
        },
    );
    let p = &profile[0];
    assert_eq!(p.phases.len(), 7);
    assert!(p.phases.iter().all(|ph| ph.ok_all >= 300), "{}", p.table());
    let notifications = p.phases[6]
        .per_op
        .iter()
        .find(|l| l.op.name() == "notification")
        .map(|l| l.ok);
    assert_eq!(notifications, Some(300), "{}", p.table());
    assert_nothing_left(addr);
    server.shutdown();
}

#[test]
fn fanout_open_loop_and_churn_run_clean() {
    let server = start_server();
    let addr = server.addr();
    let fanout = run(
        addr,
        WorkloadKind::WatchFanout,
        Overrides {
            rate: Some(200.0),
            ..sessions(21)
        },
    );
    let writes = fanout[0]
        .all
        .per_op
        .iter()
        .find(|l| l.op.name() == "setData")
        .unwrap()
        .ok;
    assert_eq!(fanout[0].all.ok, writes * 20, "{}", fanout[0].table());
    let open = run(
        addr,
        WorkloadKind::Write,
        Overrides {
            rate: Some(2_000.0),
            duration: Some(Duration::from_secs(1)),
            ..sessions(8)
        },
    );
    // 2,000/s for 1 s: the pacer is exact to the op.
    assert_eq!(open[0].all.ok, 2_000, "{}", open[0].table());
    // Bounded by operations, not time: a loaded CI host still completes cycles.
    let churn = run(
        addr,
        WorkloadKind::SessionChurn,
        Overrides {
            ops: Some(60),
            ..sessions(4)
        },
    );
    let ops: Vec<&str> = churn[0].all.per_op.iter().map(|l| l.op.name()).collect();
    assert_eq!(
        ops,
        ["createEphemeral", "exists", "session", "connect", "close"]
    );
    let cycles = churn[0].all.ok;
    let creates = churn[0].all.per_op[0].ok;
    assert!(cycles > 0 && creates >= cycles, "{}", churn[0].table());
    assert_nothing_left(addr);
    server.shutdown();
}
