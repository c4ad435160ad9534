//! An ensemble of `corekeeper` child processes on 127.0.0.1, for tests that
//! kill, stop and restart members. Each member has its own data directory,
//! `myid` and ports; every process is killed when the ensemble drops. Its
//! directory (logs included) is removed unless the test failed or
//! `COREKEEPER_KEEP_ENSEMBLE` is set.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a member may take to listen, or the ensemble to elect.
pub const START_WAIT: Duration = Duration::from_secs(20);

/// One member's fixed facts.
#[derive(Clone, Debug)]
pub struct MemberSpec {
    /// `myid`.
    pub id: u64,
    /// Client port on 127.0.0.1.
    pub client_port: u16,
    /// Quorum port.
    pub quorum_port: u16,
    /// Election port.
    pub election_port: u16,
    /// An observer rather than a participant.
    pub observer: bool,
}

/// The ensemble.
pub struct Ensemble {
    /// Where everything lives.
    pub dir: PathBuf,
    /// The members, by index (`id - 1`).
    pub specs: Vec<MemberSpec>,
    children: Vec<Option<Child>>,
    starts: Vec<u32>,
    /// `tickTime`, ms.
    pub tick_ms: u32,
}

fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect()
}

impl Ensemble {
    /// Writes the configuration of `participants` voting members and
    /// `observers` observers and starts every member.
    pub fn start(name: &str, participants: usize, observers: usize) -> Ensemble {
        let mut ensemble = Ensemble::configure(name, participants, observers);
        for i in 0..ensemble.specs.len() {
            ensemble.start_member(i);
        }
        ensemble
    }

    /// Writes the configuration without starting anything.
    pub fn configure(name: &str, participants: usize, observers: usize) -> Ensemble {
        let n = participants + observers;
        let dir =
            std::env::temp_dir().join(format!("corekeeper-ens-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("ensemble dir");
        let ports = free_ports(3 * n);
        let specs: Vec<MemberSpec> = (0..n)
            .map(|i| MemberSpec {
                id: i as u64 + 1,
                client_port: ports[3 * i],
                quorum_port: ports[3 * i + 1],
                election_port: ports[3 * i + 2],
                observer: i >= participants,
            })
            .collect();
        let ensemble = Ensemble {
            dir,
            children: (0..n).map(|_| None).collect(),
            starts: vec![0; n],
            specs,
            tick_ms: 200,
        };
        for i in 0..n {
            ensemble.write_config(i);
        }
        ensemble
    }

    fn member_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("m{}", self.specs[i].id))
    }

    /// A member's data directory.
    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.member_dir(i).join("data")
    }

    fn write_config(&self, i: usize) {
        let spec = &self.specs[i];
        let data = self.data_dir(i);
        std::fs::create_dir_all(&data).expect("data dir");
        std::fs::write(data.join("myid"), format!("{}\n", spec.id)).expect("myid");
        let mut cfg = format!(
            "tickTime={}\ninitLimit=10\nsyncLimit=5\nclientPort={}\nclientPortAddress=127.0.0.1\n\
             dataDir={}\nmaxClientCnxns=0\npreAllocSize=1024\nsnapCount=2000\n\
             4lw.commands.whitelist=*\n",
            self.tick_ms,
            spec.client_port,
            data.display()
        );
        for s in &self.specs {
            let role = if s.observer { ":observer" } else { "" };
            cfg.push_str(&format!(
                "server.{}=127.0.0.1:{}:{}{role}\n",
                s.id, s.quorum_port, s.election_port
            ));
        }
        std::fs::write(self.member_dir(i).join("zoo.cfg"), cfg).expect("zoo.cfg");
    }

    /// Starts member `i` (index, not id) and waits until it listens.
    pub fn start_member(&mut self, i: usize) {
        assert!(self.children[i].is_none(), "member {i} already runs");
        self.starts[i] += 1;
        let log_path = self.log_path(i);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_corekeeper"))
            .arg("serve")
            .arg("--config")
            .arg(self.member_dir(i).join("zoo.cfg"))
            .arg("--cores")
            .arg("1")
            .env("RUST_LOG", "info,corekeeper=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("the server binary starts");
        self.children[i] = Some(child);
        let deadline = Instant::now() + START_WAIT;
        while TcpStream::connect(("127.0.0.1", self.specs[i].client_port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "member {} did not listen; see {}",
                self.specs[i].id,
                log_path.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The member's log file (all its runs).
    pub fn log_path(&self, i: usize) -> PathBuf {
        self.member_dir(i).join("server.log")
    }

    /// SIGKILL.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP / SIGCONT.
    pub fn pause(&self, i: usize, paused: bool) {
        if let Some(child) = &self.children[i] {
            let signal = if paused { "-STOP" } else { "-CONT" };
            let _ = Command::new("kill")
                .arg(signal)
                .arg(child.id().to_string())
                .status();
        }
    }

    /// Whether member `i` runs.
    pub fn is_running(&self, i: usize) -> bool {
        self.children[i].is_some()
    }

    /// `host:port` of member `i`'s client port.
    pub fn addr(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.specs[i].client_port)
    }

    /// A connect string naming every member.
    pub fn connect_string(&self) -> String {
        (0..self.specs.len())
            .map(|i| self.addr(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A four-letter word's answer from member `i` (empty if it is down).
    pub fn four_letter(&self, i: usize, word: &str) -> String {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.specs[i].client_port)) else {
            return String::new();
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        if stream.write_all(word.as_bytes()).is_err() {
            return String::new();
        }
        let mut out = String::new();
        let _ = stream.read_to_string(&mut out);
        out
    }

    /// The `Mode:` line of `srvr` from member `i` (`leader`, `follower`,
    /// `observer`, `standalone`), or None if it is not serving.
    pub fn mode(&self, i: usize) -> Option<String> {
        let srvr = self.four_letter(i, "srvr");
        srvr.lines()
            .find_map(|l| l.strip_prefix("Mode: "))
            .map(|m| m.trim().to_owned())
    }

    /// Waits until exactly one running member leads and every other running
    /// member serves as follower or observer; returns the leader's index.
    pub fn wait_for_leader(&self, wait: Duration) -> usize {
        let deadline = Instant::now() + wait;
        loop {
            let modes: Vec<Option<String>> = (0..self.specs.len())
                .map(|i| self.is_running(i).then(|| self.mode(i)).flatten())
                .collect();
            let leaders: Vec<usize> = (0..modes.len())
                .filter(|i| modes[*i].as_deref() == Some("leader"))
                .collect();
            let all_serving = (0..modes.len()).all(|i| {
                !self.is_running(i)
                    || matches!(
                        modes[i].as_deref(),
                        Some("leader" | "follower" | "observer")
                    )
            });
            if leaders.len() == 1 && all_serving {
                return leaders[0];
            }
            assert!(
                Instant::now() < deadline,
                "no single leader with every member serving: {modes:?}; logs in {}",
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The member's data dir holds corekeeper's files.
    pub fn has_data(&self, i: usize) -> bool {
        Path::new(&self.data_dir(i)).join("corekeeper").exists()
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.pause(i, false);
            self.kill(i);
        }
        if !std::thread::panicking() && std::env::var_os("COREKEEPER_KEEP_ENSEMBLE").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
