//! This machine's facts, printed beside the results so that a number is never
//! read without the host that produced it: CPU, cores, memory, kernel and the
//! load average (other work on the host skews every measurement). Parsers are
//! pure; [`HostFacts::gather`] reads `/proc`.

use serde_json::{json, Value};

/// What the report says about the host.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostFacts {
    /// The host name.
    pub hostname: String,
    /// `uname -sr`.
    pub kernel: String,
    /// The CPU's model name.
    pub cpu: String,
    /// Cores this process may run on.
    pub cores: usize,
    /// Memory, bytes.
    pub memory_bytes: u64,
    /// Load average (1, 5, 15 minutes) when gathered.
    pub load: [f64; 3],
}

impl HostFacts {
    /// Reads the facts of this host (fields it cannot read stay empty).
    pub fn gather() -> HostFacts {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let kernel = format!(
            "{} {}",
            read("/proc/sys/kernel/ostype").trim(),
            read("/proc/sys/kernel/osrelease").trim()
        );
        HostFacts {
            hostname: read("/proc/sys/kernel/hostname").trim().to_owned(),
            kernel: kernel.trim().to_owned(),
            cpu: cpu_model(&read("/proc/cpuinfo")).unwrap_or_default(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_bytes: mem_total_bytes(&read("/proc/meminfo")).unwrap_or(0),
            load: load_average(&read("/proc/loadavg")).unwrap_or([0.0; 3]),
        }
    }

    /// The facts as JSON.
    pub fn json(&self) -> Value {
        json!({
            "hostname": self.hostname,
            "kernel": self.kernel,
            "cpu": self.cpu,
            "cores": self.cores,
            "memory_bytes": self.memory_bytes,
            "load_1m": self.load[0],
            "load_5m": self.load[1],
            "load_15m": self.load[2],
        })
    }
}

/// The first `model name` of `/proc/cpuinfo`.
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, name)| name.trim().to_owned())
}

/// `MemTotal` of `/proc/meminfo`, bytes.
pub fn mem_total_bytes(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

/// The three load averages of `/proc/loadavg`.
pub fn load_average(loadavg: &str) -> Option<[f64; 3]> {
    let mut it = loadavg.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_parse() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t: fpu\n";
        assert_eq!(cpu_model(cpuinfo).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(cpu_model("processor: 0\n"), None);
        assert_eq!(
            mem_total_bytes("MemTotal:       24555156 kB\nMemFree: 1 kB\n"),
            Some(24_555_156 * 1024)
        );
        assert_eq!(
            load_average("2.32 2.13 2.26 3/842 123456\n"),
            Some([2.32, 2.13, 2.26])
        );
        assert_eq!(load_average("x"), None);
    }

    #[test]
    fn this_host_has_cores_and_memory() {
        let host = HostFacts::gather();
        assert!(host.cores >= 1);
        assert!(host.memory_bytes > 0, "{host:?}");
        assert_eq!(host.json()["cores"], host.cores);
    }
}
