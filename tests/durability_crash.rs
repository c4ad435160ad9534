//! The crash test: a child `corekeeper` process under concurrent write load is
//! killed with SIGKILL at a random moment and restarted on the same data
//! directory, over several rounds. After every restart, every write whose reply
//! reached a client is there, and nothing that was never sent is: each
//! writer's nodes form a gap-free prefix of what it sent (one session's writes
//! are logged in order), at least as long as what was acknowledged.
//!
//! Bounded: `ROUNDS` rounds of at most `LOAD_MS_MAX` of load each. The seed is
//! printed; `COREKEEPER_CRASH_SEED=<n>` replays a run's kill timing.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zookeeper_client::{Acls, Client, CreateMode, CreateOptions};

const ROUNDS: usize = 6;
const WRITERS: usize = 4;
const LOAD_MS_MIN: u64 = 150;
const LOAD_MS_MAX: u64 = 900;
const WAIT: Duration = Duration::from_secs(15);

fn persistent() -> CreateOptions<'static> {
    CreateMode::Persistent.with_acls(Acls::anyone_all())
}

/// SplitMix64, for the kill timing.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_config(dir: &Path, port: u16) -> PathBuf {
    let cfg = dir.join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=500\nclientPort={port}\nclientPortAddress=127.0.0.1\ndataDir={}\n\
             maxClientCnxns=0\nsnapCount=400\npreAllocSize=256\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    cfg
}

fn start(dir: &Path, port: u16, round: usize) -> Server {
    let cfg = write_config(dir, port);
    let log = std::fs::File::create(dir.join(format!("server-{round}.log"))).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_corekeeper"))
        .arg("serve")
        .arg("--config")
        .arg(&cfg)
        .arg("--cores")
        .arg("2")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("the server binary starts");
    let server = Server { child };
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "server did not listen; see {}",
            dir.join(format!("server-{round}.log")).display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

/// What one writer sent and what came back, across all rounds.
#[derive(Clone, Debug, Default)]
struct Written {
    /// Writes sent (their indexes are 0..sent).
    sent: u32,
    /// Writes acknowledged: every index below this.
    acked: u32,
}

async fn writer(
    addr: String,
    id: usize,
    start_at: u32,
    sent: Arc<AtomicU32>,
    acked: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
) {
    let Ok(Ok(client)) = tokio::time::timeout(WAIT, Client::connect(&addr)).await else {
        return;
    };
    let mut i = start_at;
    while !stop.load(Ordering::Relaxed) {
        sent.store(i + 1, Ordering::SeqCst);
        let path = format!("/crash/w{id}-{i:08}");
        match tokio::time::timeout(WAIT, client.create(&path, &i.to_le_bytes(), &persistent()))
            .await
        {
            Ok(Ok(_)) => {
                acked.store(i + 1, Ordering::SeqCst);
                i += 1;
            }
            _ => return,
        }
    }
}

/// Checks the tree against what the writers sent and had acknowledged.
async fn check(addr: &str, written: &[Written]) {
    let client = tokio::time::timeout(WAIT, Client::connect(addr))
        .await
        .expect("connect after restart")
        .expect("connect after restart");
    let children = client.list_children("/crash").await.unwrap();
    let mut present: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
    for name in &children {
        let (writer, index) = name
            .strip_prefix('w')
            .and_then(|rest| rest.split_once('-'))
            .expect("a writer's node");
        present
            .entry(writer.parse().unwrap())
            .or_default()
            .push(index.parse().unwrap());
    }
    for (id, w) in written.iter().enumerate() {
        let mut indexes = present.remove(&id).unwrap_or_default();
        indexes.sort_unstable();
        let count = indexes.len() as u32;
        assert!(
            indexes.iter().enumerate().all(|(k, i)| *i == k as u32),
            "writer {id}: its nodes are a gap-free prefix of what it sent: {indexes:?}"
        );
        assert!(
            count >= w.acked,
            "writer {id}: {} acknowledged writes, only {count} survived the crash",
            w.acked
        );
        assert!(
            count <= w.sent,
            "writer {id}: {count} nodes, but only {} were ever sent",
            w.sent
        );
        if let Some(last) = indexes.last() {
            let (data, _) = client
                .get_data(&format!("/crash/w{id}-{last:08}"))
                .await
                .unwrap();
            assert_eq!(data, last.to_le_bytes());
        }
    }
    assert!(present.is_empty(), "nodes of unknown writers: {present:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let seed = std::env::var("COREKEEPER_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("crash test seed {seed} (COREKEEPER_CRASH_SEED={seed} replays the kill timing)");
    let mut rng = Rng(seed);
    let dir = std::env::temp_dir().join(format!("corekeeper-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");

    let server = start(&dir, port, 0);
    {
        let client = Client::connect(&addr).await.unwrap();
        client.create("/crash", b"", &persistent()).await.unwrap();
    }
    let mut server = Some(server);
    let mut written = vec![Written::default(); WRITERS];
    let mut total_acked = 0u32;
    for round in 1..=ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let counters: Vec<(Arc<AtomicU32>, Arc<AtomicU32>)> = written
            .iter()
            .map(|w| {
                (
                    Arc::new(AtomicU32::new(w.sent)),
                    Arc::new(AtomicU32::new(w.acked)),
                )
            })
            .collect();
        let tasks: Vec<_> = counters
            .iter()
            .enumerate()
            .map(|(id, (sent, acked))| {
                // Each writer resumes after what it has acknowledged; a write
                // sent but not acknowledged may or may not have survived, so
                // resume after whatever the check found.
                tokio::spawn(writer(
                    addr.clone(),
                    id,
                    written[id].acked,
                    sent.clone(),
                    acked.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        let load_ms = LOAD_MS_MIN + rng.next() % (LOAD_MS_MAX - LOAD_MS_MIN);
        tokio::time::sleep(Duration::from_millis(load_ms)).await;
        // SIGKILL, in the middle of the load.
        drop(server.take());
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            let _ = tokio::time::timeout(WAIT, task).await;
        }
        for (w, (sent, acked)) in written.iter_mut().zip(&counters) {
            w.sent = w.sent.max(sent.load(Ordering::SeqCst));
            w.acked = acked.load(Ordering::SeqCst);
        }
        let acked: u32 = written.iter().map(|w| w.acked).sum();
        eprintln!(
            "round {round}: killed after {load_ms} ms, {} writes acknowledged this round",
            acked - total_acked
        );
        total_acked = acked;
        server = Some(start(&dir, port, round));
        check(&addr, &written).await;
        // The next round's writers continue after what survived: re-read it so
        // a surviving unacknowledged write is not sent again.
        let client = Client::connect(&addr).await.unwrap();
        for (id, w) in written.iter_mut().enumerate() {
            let survived = client
                .list_children("/crash")
                .await
                .unwrap()
                .iter()
                .filter(|name| name.starts_with(&format!("w{id}-")))
                .count() as u32;
            w.acked = survived;
            w.sent = survived;
        }
    }
    assert!(total_acked > 0, "the load ran");
    drop(server);
    // snapCount=400: snapshots were taken along the way (and recovery started from them).
    let files: Vec<String> = std::fs::read_dir(dir.join("data/corekeeper"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files
            .iter()
            .any(|f| f.starts_with("snapshot.") && !f.ends_with(".tmp")),
        "{files:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
