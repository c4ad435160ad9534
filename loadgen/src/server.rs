//! Server-side facts beside the client's numbers: what the server itself says
//! (`mntr` and `srvr`, ZooKeeper's four-letter words, which corekeeper answers
//! with the same names) and, when the server runs on this host, what the kernel
//! says about its process (RSS, CPU time).
//!
//! A [`Sampler`] thread asks once before the step, once a second while it
//! runs, and once after; [`ServerFacts::of`] reduces the samples to counter
//! deltas (txns, fsyncs, txns per fsync), peaks (outstanding requests,
//! connections, RSS) and the server's CPU use. A server that does not answer
//! four-letter words (not whitelisted, or the null server) simply has fewer
//! facts. The reduction is pure; the sampler and the `/proc` readers are the
//! shell.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

/// How long one four-letter word may take (connect, ask, read to the end).
const WORD_TIMEOUT: Duration = Duration::from_secs(2);

/// Bytes of a four-letter-word answer read at most (`mntr` is a few KiB).
const WORD_BYTES_MAX: u64 = 1 << 20;

/// Time between samples while a step runs.
pub const SAMPLE_PERIOD: Duration = Duration::from_secs(1);

/// What the server and its process looked like at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    /// Seconds since the sampler started.
    pub t_s: f64,
    /// `mntr`, key (with its `zk_` prefix) to value; empty when not answered.
    pub mntr: BTreeMap<String, String>,
    /// The last zxid, from `srvr` (`Zxid: 0x...`).
    pub zxid: Option<i64>,
    /// The server process, when it runs on this host and we may read it.
    pub process: Option<ProcessSample>,
}

/// One reading of a local server process.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessSample {
    /// Its pid.
    pub pid: u32,
    /// Resident set size, bytes.
    pub rss_bytes: u64,
    /// User plus system CPU time so far, seconds.
    pub cpu_s: f64,
}

impl Sample {
    /// An integer `mntr` value (`zk_` prefix included in `key`).
    pub fn int(&self, key: &str) -> Option<i64> {
        self.mntr.get(key)?.trim().parse().ok()
    }

    /// A numeric `mntr` value.
    pub fn float(&self, key: &str) -> Option<f64> {
        self.mntr.get(key)?.trim().parse().ok()
    }
}

/// Parses `mntr`'s `key<TAB>value` lines (ZooKeeper's `MonitorCommand`).
pub fn parse_mntr(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('\t')?;
            key.starts_with("zk_")
                .then(|| (key.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// The zxid in `srvr`'s `Zxid: 0x...` line.
pub fn parse_srvr_zxid(text: &str) -> Option<i64> {
    let line = text.lines().find_map(|l| l.strip_prefix("Zxid:"))?;
    let hex = line.trim().strip_prefix("0x")?;
    u64::from_str_radix(hex, 16).ok().map(|z| z as i64)
}

/// A step's server-side facts, reduced from its samples.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerFacts {
    /// The server's version string (`zk_version`).
    pub version: Option<String>,
    /// Its mode (`zk_server_state`: standalone, leader, ...).
    pub state: Option<String>,
    /// Seconds between the first and the last sample.
    pub span_s: f64,
    /// Transactions committed meanwhile (zxid counter delta), set-up and
    /// tear-down included.
    pub txns: Option<u64>,
    /// Log fsyncs meanwhile (`zk_cnt_fsynctime` delta).
    pub fsyncs: Option<u64>,
    /// Mean fsync time meanwhile, µs (corekeeper's µs counter when present,
    /// else ZooKeeper's `zk_sum_fsynctime`, which counts whole ms).
    pub fsync_mean_us: Option<f64>,
    /// Largest `zk_outstanding_requests` seen.
    pub outstanding_requests_max: Option<i64>,
    /// Largest `zk_num_alive_connections` seen.
    pub connections_max: Option<i64>,
    /// `zk_znode_count` at the end.
    pub znodes: Option<i64>,
    /// `zk_approximate_data_size` at the end, bytes.
    pub data_bytes: Option<i64>,
    /// The local server process's pid.
    pub pid: Option<u32>,
    /// Its largest resident set size seen, bytes.
    pub rss_bytes_max: Option<u64>,
    /// Its CPU use between the first and the last sample, cores.
    pub cpu_cores: Option<f64>,
    /// Per sample: seconds, outstanding requests, RSS bytes, CPU cores since
    /// the previous sample (for the report's plot).
    pub series: Vec<FactsPoint>,
}

/// One point of the server's time series.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FactsPoint {
    /// Seconds since the sampler started.
    pub t_s: f64,
    /// `zk_outstanding_requests`.
    pub outstanding_requests: Option<i64>,
    /// Resident set size, bytes.
    pub rss_bytes: Option<u64>,
    /// CPU cores used since the previous sample.
    pub cpu_cores: Option<f64>,
}

fn delta(first: Option<i64>, last: Option<i64>) -> Option<u64> {
    let (a, b) = (first?, last?);
    (b >= a).then(|| (b - a) as u64)
}

impl ServerFacts {
    /// The facts of `samples` (in time order); `None` when there is nothing
    /// to say (no sample answered anything).
    pub fn of(samples: &[Sample]) -> Option<ServerFacts> {
        let (first, last) = (samples.first()?, samples.last()?);
        let answered = samples
            .iter()
            .any(|s| !s.mntr.is_empty() || s.zxid.is_some() || s.process.is_some());
        if !answered {
            return None;
        }
        let max_of = |key: &str| samples.iter().filter_map(|s| s.int(key)).max();
        let txns = match (first.zxid, last.zxid) {
            // Only within one epoch does the counter difference count txns.
            (Some(a), Some(b)) if a >> 32 == b >> 32 => delta(Some(a), Some(b)),
            _ => None,
        };
        let fsyncs = delta(first.int("zk_cnt_fsynctime"), last.int("zk_cnt_fsynctime"));
        let fsync_mean_us = fsyncs.filter(|n| *n > 0).and_then(|n| {
            let us = delta(
                first.int("zk_ck_log_fsync_us_sum"),
                last.int("zk_ck_log_fsync_us_sum"),
            )
            .map(|us| us as f64)
            .or_else(|| {
                delta(first.int("zk_sum_fsynctime"), last.int("zk_sum_fsynctime"))
                    .map(|ms| ms as f64 * 1000.0)
            })?;
            Some(us / n as f64)
        });
        let (pid, rss_bytes_max, cpu_cores) = process_facts(samples);
        Some(ServerFacts {
            version: last.mntr.get("zk_version").cloned(),
            state: last.mntr.get("zk_server_state").cloned(),
            span_s: last.t_s - first.t_s,
            txns,
            fsyncs,
            fsync_mean_us,
            outstanding_requests_max: max_of("zk_outstanding_requests"),
            connections_max: max_of("zk_num_alive_connections"),
            znodes: last.int("zk_znode_count"),
            data_bytes: last.int("zk_approximate_data_size"),
            pid,
            rss_bytes_max,
            cpu_cores,
            series: series(samples),
        })
    }

    /// Moves the time series by `offset_s` (to the run's clock).
    pub fn shift(&mut self, offset_s: f64) {
        for point in &mut self.series {
            point.t_s += offset_s;
        }
    }

    /// Transactions per fsync (group commit's batch size), when both are known.
    pub fn txns_per_fsync(&self) -> Option<f64> {
        let (txns, fsyncs) = (self.txns?, self.fsyncs?);
        (fsyncs > 0).then(|| txns as f64 / fsyncs as f64)
    }

    /// The facts as (label, value) pairs for people, in a fixed order.
    pub fn lines(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut put = |label, value: Option<String>| {
            if let Some(v) = value {
                out.push((label, v));
            }
        };
        put(
            "server",
            self.version
                .as_ref()
                .map(|v| v.split(',').next().unwrap_or(v).trim().to_owned()),
        );
        put("mode", self.state.clone());
        put("txns", self.txns.map(|v| v.to_string()));
        put("fsyncs", self.fsyncs.map(|v| v.to_string()));
        put(
            "txns/fsync",
            self.txns_per_fsync().map(|v| format!("{v:.1}")),
        );
        put(
            "fsync mean",
            self.fsync_mean_us.map(|v| format!("{v:.0} us")),
        );
        put(
            "outstanding max",
            self.outstanding_requests_max.map(|v| v.to_string()),
        );
        put(
            "connections max",
            self.connections_max.map(|v| v.to_string()),
        );
        put("znodes", self.znodes.map(|v| v.to_string()));
        put(
            "RSS max",
            self.rss_bytes_max
                .map(|v| format!("{:.1} MiB", v as f64 / (1 << 20) as f64)),
        );
        put(
            "server CPU",
            self.cpu_cores.map(|v| format!("{v:.2} cores")),
        );
        out
    }

    /// One line for the text report.
    pub fn line(&self) -> String {
        let parts: Vec<String> = self
            .lines()
            .into_iter()
            .map(|(label, value)| format!("{label} {value}"))
            .collect();
        format!(
            "server (over {:.1} s, set-up included): {}",
            self.span_s,
            parts.join("; ")
        )
    }

    /// The facts as JSON (missing ones are null).
    pub fn json(&self) -> Value {
        json!({
            "version": self.version,
            "state": self.state,
            "span_s": self.span_s,
            "txns": self.txns,
            "fsyncs": self.fsyncs,
            "txns_per_fsync": self.txns_per_fsync(),
            "fsync_mean_us": self.fsync_mean_us,
            "outstanding_requests_max": self.outstanding_requests_max,
            "connections_max": self.connections_max,
            "znodes": self.znodes,
            "data_bytes": self.data_bytes,
            "pid": self.pid,
            "rss_bytes_max": self.rss_bytes_max,
            "cpu_cores": self.cpu_cores,
        })
    }
}

fn process_facts(samples: &[Sample]) -> (Option<u32>, Option<u64>, Option<f64>) {
    let with: Vec<(f64, ProcessSample)> = samples
        .iter()
        .filter_map(|s| Some((s.t_s, s.process?)))
        .collect();
    let Some(&(t0, p0)) = with.first() else {
        return (None, None, None);
    };
    let &(t1, p1) = with.last().expect("not empty");
    let rss = with.iter().map(|(_, p)| p.rss_bytes).max();
    let same = with.iter().all(|(_, p)| p.pid == p0.pid);
    let cpu = (same && t1 > t0).then(|| (p1.cpu_s - p0.cpu_s) / (t1 - t0));
    (Some(p0.pid), rss, cpu)
}

fn series(samples: &[Sample]) -> Vec<FactsPoint> {
    let mut out = Vec::with_capacity(samples.len());
    let mut prev: Option<(f64, ProcessSample)> = None;
    for s in samples {
        let cpu_cores = match (prev, s.process) {
            (Some((t0, p0)), Some(p1)) if p0.pid == p1.pid && s.t_s > t0 => {
                Some((p1.cpu_s - p0.cpu_s) / (s.t_s - t0))
            }
            _ => None,
        };
        out.push(FactsPoint {
            t_s: s.t_s,
            outstanding_requests: s.int("zk_outstanding_requests"),
            rss_bytes: s.process.map(|p| p.rss_bytes),
            cpu_cores,
        });
        if let Some(p) = s.process {
            prev = Some((s.t_s, p));
        }
    }
    out
}

/// Sends a four-letter word and reads the answer to the end.
pub fn four_letter_word(addr: SocketAddr, word: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, WORD_TIMEOUT)?;
    stream.set_read_timeout(Some(WORD_TIMEOUT))?;
    stream.set_write_timeout(Some(WORD_TIMEOUT))?;
    stream.write_all(word.as_bytes())?;
    let mut text = String::new();
    stream.take(WORD_BYTES_MAX).read_to_string(&mut text)?;
    Ok(text)
}

/// Takes one sample of the server at `addr` (`pid`: its local process, if known).
pub fn sample(addr: SocketAddr, pid: Option<u32>, t_s: f64) -> Sample {
    let mntr = four_letter_word(addr, "mntr")
        .map(|t| parse_mntr(&t))
        .unwrap_or_default();
    let zxid = four_letter_word(addr, "srvr")
        .ok()
        .and_then(|t| parse_srvr_zxid(&t));
    Sample {
        t_s,
        mntr,
        zxid,
        process: pid.and_then(read_process),
    }
}

/// Samples a server in the background: once at once, then every
/// [`SAMPLE_PERIOD`] until [`Sampler::finish`], which takes a last sample.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    join: std::thread::JoinHandle<Vec<Sample>>,
    /// Wall-clock time of the sampler's t = 0.
    pub started_at: SystemTime,
}

impl Sampler {
    /// Starts sampling `addr`; its local process is looked up once.
    pub fn start(addr: SocketAddr) -> std::io::Result<Sampler> {
        let stop = Arc::new(AtomicBool::new(false));
        let started_at = SystemTime::now();
        let epoch = Instant::now();
        let pid = addr
            .ip()
            .is_loopback()
            .then(|| local_pid(addr.port()))
            .flatten();
        let first = sample(addr, pid, 0.0);
        let flag = stop.clone();
        let join = std::thread::Builder::new()
            .name("loadgen-mntr".into())
            .spawn(move || {
                let mut samples = vec![first];
                let mut next = SAMPLE_PERIOD;
                loop {
                    while epoch.elapsed() < next {
                        if flag.load(Ordering::Acquire) {
                            samples.push(sample(addr, pid, epoch.elapsed().as_secs_f64()));
                            return samples;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    samples.push(sample(addr, pid, epoch.elapsed().as_secs_f64()));
                    next += SAMPLE_PERIOD;
                }
            })?;
        Ok(Sampler {
            stop,
            join,
            started_at,
        })
    }

    /// Stops, takes the last sample and returns them all.
    pub fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Release);
        self.join.join().unwrap_or_default()
    }
}

/// The pid of the local process listening on TCP `port` (any address), found
/// through `/proc/net/tcp{,6}` and the socket links in `/proc/*/fd`; `None`
/// when it is not ours to see.
pub fn local_pid(port: u16) -> Option<u32> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(table) {
            inodes.extend(listening_inodes(&text, port));
        }
    }
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(link) = std::fs::read_link(fd.path()) {
                if wanted.iter().any(|w| link.as_os_str() == w.as_str()) {
                    return Some(pid);
                }
            }
        }
    }
    None
}

/// The socket inodes listening on `port` in a `/proc/net/tcp` table.
pub fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    const LISTEN: &str = "0A";
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            let (_, port_hex) = local.rsplit_once(':')?;
            let listening = *fields.get(3)? == LISTEN;
            (listening && u16::from_str_radix(port_hex, 16).ok()? == port)
                .then(|| fields.get(9)?.parse().ok())
                .flatten()
        })
        .collect()
}

/// RSS and CPU time of a process, from `/proc/<pid>/stat`.
pub fn read_process(pid: u32) -> Option<ProcessSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // SAFETY: sysconf reads a constant of the running system.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    parse_proc_stat(&stat, ticks.max(1) as f64, page.max(1) as u64).map(|(rss_bytes, cpu_s)| {
        ProcessSample {
            pid,
            rss_bytes,
            cpu_s,
        }
    })
}

/// (RSS bytes, CPU seconds) from the text of `/proc/<pid>/stat`.
pub fn parse_proc_stat(stat: &str, ticks_per_s: f64, page_bytes: u64) -> Option<(u64, f64)> {
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: field 3 (state) is fields[0]; utime 14, stime 15, rss 24.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let rss_pages: u64 = fields.get(21)?.parse().ok()?;
    Some((rss_pages * page_bytes, (utime + stime) / ticks_per_s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_at(t_s: f64, mntr: &[(&str, &str)], zxid: i64, cpu_s: f64, rss: u64) -> Sample {
        Sample {
            t_s,
            mntr: mntr
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            zxid: Some(zxid),
            process: Some(ProcessSample {
                pid: 7,
                rss_bytes: rss,
                cpu_s,
            }),
        }
    }

    #[test]
    fn mntr_and_srvr_parse() {
        let text =
            "zk_version\t3.8.0-5a02a05eddb59aee6ac762f7ea82e92a68eb9c0f, built on 2022-02-25\n\
                    zk_server_state\tstandalone\nzk_outstanding_requests\t3\nnot a line\n";
        let m = parse_mntr(text);
        assert_eq!(m["zk_server_state"], "standalone");
        assert_eq!(m["zk_outstanding_requests"], "3");
        assert_eq!(m.len(), 3);
        let srvr = "Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.1/5\nZxid: 0x10000002a\nMode: standalone\n";
        assert_eq!(parse_srvr_zxid(srvr), Some(0x1_0000_002a));
        assert_eq!(parse_srvr_zxid("Mode: standalone\n"), None);
    }

    #[test]
    fn facts_are_deltas_peaks_and_rates() {
        let samples = vec![
            sample_at(
                0.0,
                &[
                    ("zk_cnt_fsynctime", "10"),
                    ("zk_sum_fsynctime", "5"),
                    ("zk_outstanding_requests", "0"),
                    ("zk_server_state", "standalone"),
                ],
                0x1_0000_0000 + 100,
                1.0,
                100 << 20,
            ),
            sample_at(
                1.0,
                &[
                    ("zk_cnt_fsynctime", "20"),
                    ("zk_outstanding_requests", "42"),
                ],
                0x1_0000_0000 + 600,
                1.5,
                180 << 20,
            ),
            sample_at(
                2.0,
                &[
                    ("zk_cnt_fsynctime", "30"),
                    ("zk_sum_fsynctime", "25"),
                    ("zk_outstanding_requests", "1"),
                    ("zk_server_state", "standalone"),
                ],
                0x1_0000_0000 + 1100,
                2.6,
                150 << 20,
            ),
        ];
        let f = ServerFacts::of(&samples).unwrap();
        assert_eq!(f.txns, Some(1000));
        assert_eq!(f.fsyncs, Some(20));
        assert_eq!(f.txns_per_fsync(), Some(50.0));
        assert_eq!(f.fsync_mean_us, Some(1000.0), "20 ms over 20 fsyncs");
        assert_eq!(f.outstanding_requests_max, Some(42));
        assert_eq!(f.rss_bytes_max, Some(180 << 20));
        assert!((f.cpu_cores.unwrap() - 0.8).abs() < 1e-9);
        assert_eq!(f.state.as_deref(), Some("standalone"));
        assert_eq!(f.series.len(), 3);
        assert_eq!(f.series[0].cpu_cores, None);
        assert!((f.series[2].cpu_cores.unwrap() - 1.1).abs() < 1e-9);
        assert!(f.line().contains("txns/fsync 50.0"), "{}", f.line());
        assert_eq!(f.json()["txns_per_fsync"], 50.0);
    }

    #[test]
    fn a_silent_server_has_no_facts_and_epochs_do_not_mix() {
        assert_eq!(ServerFacts::of(&[]), None);
        assert_eq!(
            ServerFacts::of(&[Sample::default(), Sample::default()]),
            None
        );
        let a = sample_at(0.0, &[], 0x1_0000_0005, 0.0, 1);
        let b = sample_at(1.0, &[], 0x2_0000_0001, 0.0, 1);
        let f = ServerFacts::of(&[a, b]).unwrap();
        assert_eq!(f.txns, None, "a new epoch restarts the counter");
        assert_eq!(f.fsyncs, None, "no mntr, no fsync count");
        assert_eq!(f.rss_bytes_max, Some(1), "the process still reads");
    }

    #[test]
    fn proc_tables_parse() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
                   0: 0100007F:5AA5 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 123456 1 0\n\
                   1: 0100007F:5AA5 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 777 1 0\n\
                   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1 0\n";
        assert_eq!(listening_inodes(tcp, 0x5aa5), vec![123456]);
        assert_eq!(listening_inodes(tcp, 22), vec![999]);
        assert!(listening_inodes(tcp, 1).is_empty());
        let stat = "4242 (ck (core) 1) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 3 0 100 1000000 2560 18446744073709551615";
        let (rss, cpu) = parse_proc_stat(stat, 100.0, 4096).unwrap();
        assert_eq!(rss, 2560 * 4096);
        assert!((cpu - 3.0).abs() < 1e-9);
    }

    #[test]
    fn this_process_is_readable() {
        let me = read_process(std::process::id()).expect("our own /proc entry");
        assert!(me.rss_bytes > 0);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(local_pid(port), Some(std::process::id()));
    }
}
