//! End to end: the load generator against an in-process corekeeper server.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use corekeeper::config::Config;
use corekeeper_loadgen::driver::{self, RunConfig};
use corekeeper_loadgen::workload::{Workload, WorkloadKind};

/// An in-process server with its own data directory, removed when it stops.
struct Server {
    handle: Option<corekeeper::runtime::ServerHandle>,
    data_dir: std::path::PathBuf,
}

impl Server {
    fn addr(&self) -> std::net::SocketAddr {
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
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let data_dir = std::env::temp_dir().join(format!(
        "corekeeper-loadgen-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&data_dir);
    let config = Config {
        client_port: 0,
        client_port_address: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        max_client_cnxns: 0,
        cores: Some(2),
        data_log_dir: data_dir.clone(),
        data_dir: data_dir.clone(),
        pre_alloc_size_kb: 1024,
        ..Config::default()
    };
    let handle = corekeeper::runtime::start(config).expect("server starts");
    Server {
        handle: Some(handle),
        data_dir,
    }
}

fn run_config(addr: std::net::SocketAddr, kind: WorkloadKind, rate: Option<f64>) -> RunConfig {
    RunConfig {
        targets: vec![addr],
        workload: Workload::new(kind),
        sessions: 8,
        depth: 4,
        rate,
        threads: 2,
        warmup: Duration::from_millis(200),
        duration: Duration::from_secs(1),
        session_timeout_ms: 10_000,
        seed: 1,
    }
}

#[test]
fn mixed_for_one_second_is_clean() {
    let server = start_server();
    let mut seconds = Vec::new();
    let report = driver::run(
        &run_config(server.addr(), WorkloadKind::Mixed, None),
        &mut |p| seconds.push(p.second),
    )
    .expect("the run completes");
    assert!(report.ok > 0, "{}", report.table());
    assert_eq!(report.errors_total(), 0, "{}", report.table());
    assert!(report.clean(), "{}", report.table());
    let ops: Vec<_> = report.per_op.iter().map(|l| l.op.name()).collect();
    assert_eq!(ops, ["getData", "setData"]);
    assert_eq!(seconds, [1], "one progress line per whole second");
    let json = report.json();
    assert_eq!(json["workload"], "mixed");
    assert_eq!(json["errors"], serde_json::json!({}));
    server.shutdown();
}

#[test]
fn create_and_open_loop_runs_clean_up_after_themselves() {
    let server = start_server();
    let addr = server.addr();
    let create = driver::run(&run_config(addr, WorkloadKind::Create, None), &mut |_| {}).unwrap();
    assert!(create.ok > 0 && create.clean(), "{}", create.table());
    let open = driver::run(
        &run_config(addr, WorkloadKind::Write, Some(2_000.0)),
        &mut |_| {},
    )
    .unwrap();
    assert!(open.clean(), "{}", open.table());
    // 2,000/s for 1 s: the pacer is exact to the op.
    assert_eq!(open.ok, 2_000, "{}", open.table());
    // Everything the runs created is gone: only ZooKeeper's own nodes remain.
    let mut control = corekeeper_loadgen::control::Control::connect(addr).unwrap();
    assert_eq!(control.children("/").unwrap(), ["zookeeper"]);
    control.close();
    server.shutdown();
}
