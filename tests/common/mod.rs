//! Shared integration-test harness: a corekeeper server per test, in-process, on
//! an ephemeral 127.0.0.1 port, with short ticks so session tests run fast.
//!
//! Set `COREKEEPER_TEST_TARGET=host:port` to run the same tests against another
//! server instead (for instance Apache ZooKeeper started with `tickTime=500`,
//! `extendedTypesEnabled=true`, `4lw.commands.whitelist=*` and
//! `-Dznode.container.checkIntervalMs=200`), which is how we check that a test
//! asserts ZooKeeper's behaviour and not ours.

#![allow(dead_code)]

pub mod ensemble;

use std::net::{IpAddr, Ipv4Addr};

use corekeeper::config::{Config, FourLetterWhitelist};
use corekeeper::runtime::ServerHandle;

/// Tick used by test servers: min session timeout 1 s, max 10 s.
pub const TICK_MS: u32 = 500;

/// A running server for one test; stops when dropped.
pub struct TestServer {
    /// `host:port` to give clients.
    pub addr: String,
    handle: Option<ServerHandle>,
    /// Its own data directory, removed when the server stops.
    data_dir: Option<std::path::PathBuf>,
}

/// A fresh data directory under the system temp dir, unique to this process and call.
pub fn temp_data_dir(name: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("corekeeper-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

impl TestServer {
    /// Starts a fresh in-process server (or points at `COREKEEPER_TEST_TARGET`).
    pub fn start() -> TestServer {
        Self::start_with(|_| {})
    }

    /// Like `start`, after letting the test adjust the configuration.
    pub fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        if let Ok(addr) = std::env::var("COREKEEPER_TEST_TARGET") {
            return TestServer {
                addr,
                handle: None,
                data_dir: None,
            };
        }
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("warn")
            .try_init();
        let mut config = Config {
            client_port: 0,
            client_port_address: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            tick_time_ms: TICK_MS,
            min_session_timeout_ms: 2 * TICK_MS,
            max_session_timeout_ms: 20 * TICK_MS,
            extended_types_enabled: true,
            four_letter_words: FourLetterWhitelist::parse("*"),
            container_check_interval_ms: 200,
            cores: Some(2),
            ..Config::default()
        };
        let data_dir = temp_data_dir("test");
        config.data_dir = data_dir.clone();
        config.data_log_dir = data_dir.clone();
        adjust(&mut config);
        let handle = corekeeper::runtime::start(config).expect("server starts");
        TestServer {
            addr: handle.addr().to_string(),
            handle: Some(handle),
            data_dir: Some(data_dir),
        }
    }

    /// Whether this is our in-process server (some checks only make sense there).
    pub fn is_local(&self) -> bool {
        self.handle.is_some()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown();
        }
        if let Some(dir) = self.data_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A path unique to this test run, so tests can share an external server.
pub fn unique_root(name: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("/t-{}-{}-{}", name, std::process::id(), n)
}

/// How long one client step (connect, a reply, an event) may take.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a whole client test may take.
pub const TEST_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs a client test under `TEST_LIMIT`.
pub async fn bounded<T>(test: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(TEST_LIMIT, test)
        .await
        .expect("test finished in time")
}

/// A `zookeeper-client` session to the test server.
pub async fn connect(server: &TestServer) -> zookeeper_client::Client {
    tokio::time::timeout(WAIT, zookeeper_client::Client::connect(&server.addr))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// Create options: persistent, open ACL.
pub fn persistent() -> zookeeper_client::CreateOptions<'static> {
    zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all())
}

/// Create options: the given mode, open ACL.
pub fn mode(mode: zookeeper_client::CreateMode) -> zookeeper_client::CreateOptions<'static> {
    mode.with_acls(zookeeper_client::Acls::anyone_all())
}
