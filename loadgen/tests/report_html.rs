//! End to end: `run --html` and `compare --html` of the real binary against an
//! in-process corekeeper server write one self-contained page holding the
//! plots, their data series, the tables, the server's own facts and the
//! run's JSON.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;

use corekeeper::config::{Config, FourLetterWhitelist};
use serde_json::Value;

/// An in-process server with its own data directory, removed at the end.
struct Server {
    handle: Option<corekeeper::runtime::ServerHandle>,
    dir: PathBuf,
}

impl Server {
    fn start(name: &str) -> Server {
        let dir =
            std::env::temp_dir().join(format!("ck-loadgen-html-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = Config {
            client_port: 0,
            client_port_address: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            max_client_cnxns: 0,
            cores: Some(2),
            data_dir: dir.join("data"),
            data_log_dir: dir.join("data"),
            four_letter_words: FourLetterWhitelist::all(),
            ..Config::default()
        };
        let handle = corekeeper::runtime::start(config).expect("server starts");
        Server {
            handle: Some(handle),
            dir,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.handle.as_ref().expect("running").addr()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn loadgen(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_corekeeper-loadgen"))
        .args(args)
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn embedded_json(page: &str) -> Value {
    let open = r#"<script type="application/json" id="loadgen-json">"#;
    let start = page.find(open).expect("embedded JSON") + open.len();
    let end = start + page[start..].find("</script>").unwrap();
    serde_json::from_str(&page[start..end].replace("<\\/", "</")).unwrap()
}

/// The `d` attribute of the path of series `name` (the first one).
fn series_path<'a>(page: &'a str, name: &str) -> &'a str {
    let key = format!(r#"data-series="{name}" d=""#);
    let start = page
        .find(&key)
        .unwrap_or_else(|| panic!("no series {name}"))
        + key.len();
    &page[start..start + page[start..].find('"').unwrap()]
}

fn assert_self_contained(page: &str) {
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.trim_end().ends_with("</html>"));
    assert!(!page.contains("http://") && !page.contains("https://"));
    assert!(!page.contains("src=") && !page.contains("<link"));
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("the report was written")
}

#[test]
fn run_writes_a_page_with_plots_tables_and_server_facts() {
    let server = Server::start("run");
    let target = server.addr().to_string();
    let html = server.dir.join("sweep.html");
    let out = loadgen(&[
        "run",
        "--target",
        &target,
        "--workload",
        "rw-sweep",
        "--read-pct",
        "0,50",
        "--sessions",
        "4",
        "--duration",
        "2",
        "--warmup",
        "0.5",
        "--threads",
        "1",
        "--quiet",
        "--json",
        "--html",
        html.to_str().unwrap(),
    ]);
    let page = read(&html);
    assert_self_contained(&page);
    for needle in [
        "Steps side by side",
        "Throughput per second",
        "Latency per second",
        "Latency by percentile",
        "own numbers",
        "How it was run",
        "rw-sweep read_pct=0",
        "rw-sweep read_pct=50",
    ] {
        assert!(page.contains(needle), "missing {needle}");
    }
    // Each plotted series has points: a path with at least one segment.
    for series in [
        "ok",
        "p50",
        "p99",
        "p99.9",
        "ops/s",
        "all operations",
        "setData",
        "getData",
    ] {
        assert!(
            series_path(&page, series).contains(" L"),
            "{series}: {}",
            series_path(&page, series)
        );
    }
    let data = embedded_json(&page);
    let printed: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(data, printed, "the page embeds what --json printed");
    assert_eq!(data["clean"], true);
    let steps = data["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    let writes = &steps[0]["server"];
    assert!(writes["txns"].as_u64().unwrap() >= steps[0]["ok"].as_u64().unwrap());
    assert!(writes["fsyncs"].as_u64().unwrap() > 0, "{writes}");
    assert!(
        writes["txns_per_fsync"].as_f64().unwrap() >= 1.0,
        "{writes}"
    );
    assert!(page.contains("txns/fsync"));
}

#[test]
fn compare_writes_a_page_with_both_servers_every_round() {
    let server = Server::start("compare");
    let target = server.addr().to_string();
    let html = server.dir.join("compare.html");
    let out = loadgen(&[
        "compare",
        "--a",
        &target,
        "--b",
        &target,
        "--a-name",
        "first",
        "--b-name",
        "second",
        "--rounds",
        "2",
        "--workload",
        "read",
        "--sessions",
        "4",
        "--duration",
        "1.2",
        "--warmup",
        "0.3",
        "--threads",
        "1",
        "--quiet",
        "--json",
        "--html",
        html.to_str().unwrap(),
    ]);
    let page = read(&html);
    assert_self_contained(&page);
    for series in [
        "first round 1",
        "second round 1",
        "first round 2",
        "second round 2",
        "first round 2 p99",
        "first, all rounds",
        "second, all rounds",
    ] {
        assert!(!series_path(&page, series).is_empty(), "{series}");
    }
    assert!(page.contains("2 interleaved round(s)"));
    let data = embedded_json(&page);
    assert_eq!(
        (data["a_name"].as_str(), data["rounds"].as_u64()),
        (Some("first"), Some(2))
    );
    let ops = &data["steps"][0]["metrics"]["ops_per_sec"];
    assert_eq!(ops["a_runs"].as_array().unwrap().len(), 2);
    assert!(ops["b"].as_f64().unwrap() > 0.0);
    let printed: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(printed["steps"], data["steps"]);
}
