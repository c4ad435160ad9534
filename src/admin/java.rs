//! How the JVM prints the values ZooKeeper's four-letter words contain: doubles,
//! dates, socket addresses, and the iteration order of a `ConcurrentHashMap`.
//! Each function names the Java behaviour it reproduces.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// `Double.toString(x)` (JDK 19+ shortest-digits algorithm): plain notation with
/// at least one fraction digit for `1e-3 <= |x| < 1e7`, else `d.dddE<exp>`.
pub fn double_to_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if x == 0.0 {
        return format!("{sign}0.0");
    }
    let abs = x.abs();
    // Rust's `{:e}` prints the shortest digits that round-trip, like Java's.
    let sci = format!("{abs:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (1e-3..1e7).contains(&abs) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                let zeros = int_len - digits.len();
                format!("{sign}{digits}{}.0", "0".repeat(zeros))
            } else {
                format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
            }
        } else {
            let zeros = (-exp - 1) as usize;
            format!("{sign}0.{}{digits}", "0".repeat(zeros))
        }
    } else {
        let frac = if digits.len() > 1 { &digits[1..] } else { "0" };
        format!("{sign}{}.{frac}E{exp}", &digits[..1])
    }
}

/// `new BigDecimal(x).setScale(4, RoundingMode.HALF_UP).doubleValue()`, as
/// `AvgMinMaxCounter.getAvg` rounds an average latency.
pub fn round_half_up_4(x: f64) -> f64 {
    if !x.is_finite() || x.abs() >= 1e14 {
        return x;
    }
    // 40 fraction digits of the exact binary value decide ties correctly for any
    // magnitude below 1e14: a double that close to a tie would need more bits.
    let exact = format!("{:.40}", x.abs());
    let (int_part, frac) = exact.split_once('.').expect("{:.40} has a fraction");
    let int_part: u64 = int_part.parse().expect("integer part fits: |x| < 1e14");
    let kept: u64 = frac[..4].parse().expect("four digits");
    let round_up = frac.as_bytes()[4] >= b'5';
    let scaled = int_part * 10_000 + kept + u64::from(round_up);
    let rounded = scaled as f64 / 10_000.0;
    if x.is_sign_negative() {
        -rounded
    } else {
        rounded
    }
}

/// `new Date(ms).toString()` in the UTC zone: `Sun Nov 22 01:50:47 UTC 2026`.
pub fn date_to_string_utc(ms_since_epoch: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms_since_epoch.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let day_secs = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        day_secs / 3600,
        day_secs % 3600 / 60,
        day_secs % 60,
        year
    )
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic Gregorian
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `InetSocketAddress.toString()` of an accepted socket (no host name looked up):
/// `/127.0.0.1:2181`, or `/[0:0:0:0:0:0:0:1]:2181` (JDK 14+ brackets; Java prints
/// every IPv6 group, uncompressed). An IPv4-mapped IPv6 peer prints as IPv4,
/// because Java turns such addresses into `Inet4Address`.
pub fn socket_address(addr: &SocketAddr) -> String {
    let mut out = String::from("/");
    match addr.ip() {
        IpAddr::V4(v4) => {
            let _ = write!(out, "{v4}:{}", addr.port());
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                let _ = write!(out, "{v4}:{}", addr.port());
            } else {
                let groups: Vec<String> = v6.segments().iter().map(|g| format!("{g:x}")).collect();
                out.push('[');
                out.push_str(&groups.join(":"));
                if let SocketAddr::V6(sa) = addr {
                    if sa.scope_id() != 0 {
                        let _ = write!(out, "%{}", sa.scope_id());
                    }
                }
                let _ = write!(out, "]:{}", addr.port());
            }
        }
    }
    out
}

/// `String.hashCode()`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units.
pub fn string_hash_code(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// The order in which a fresh `java.util.concurrent.ConcurrentHashMap`, filled by
/// `put` with `keys` in the given order, iterates them (JDK 8-21): bins ascending,
/// each bin's list in order; the table starts at 16 bins and doubles once the
/// size reaches three quarters of it, splitting each bin as `transfer` does (the
/// nodes before the bin's last same-bit run are re-linked in reverse).
///
/// ZooKeeper's default metrics provider keeps `mntr` gauges in such a map, so
/// this is the order `mntr` prints them in. Returns indices into `keys`.
pub fn concurrent_hash_map_order(keys: &[&str]) -> Vec<usize> {
    // One node: (spread hash, index into keys).
    type Bin = Vec<(u32, usize)>;
    let spread = |h: i32| {
        let h = h as u32;
        (h ^ (h >> 16)) & 0x7fff_ffff
    };
    let mut bins: Vec<Bin> = vec![Vec::new(); 16];
    let mut resize_at = 12;
    let mut size = 0;
    for (index, key) in keys.iter().enumerate() {
        let hash = spread(string_hash_code(key));
        let n = bins.len();
        let bin = &mut bins[hash as usize & (n - 1)];
        if bin.iter().any(|&(_, other)| keys[other] == *key) {
            continue; // `put` of an existing key replaces the value in place.
        }
        bin.push((hash, index));
        size += 1;
        while size >= resize_at {
            bins = split_bins(&bins);
            let n = bins.len();
            resize_at = n - (n >> 2);
        }
    }
    bins.into_iter().flatten().map(|(_, index)| index).collect()
}

/// `ConcurrentHashMap.transfer` for plain list bins: bin `i` of `n` becomes bins
/// `i` (hash bit `n` clear) and `i + n` (set).
fn split_bins(bins: &[Vec<(u32, usize)>]) -> Vec<Vec<(u32, usize)>> {
    let n = bins.len();
    let mut next = vec![Vec::new(); 2 * n];
    for (i, bin) in bins.iter().enumerate() {
        if bin.is_empty() {
            continue;
        }
        let bit = |hash: u32| hash as usize & n;
        let mut last_run = 0;
        for j in 1..bin.len() {
            if bit(bin[j].0) != bit(bin[last_run].0) {
                last_run = j;
            }
        }
        let (mut low, mut high) = (Vec::new(), Vec::new());
        if bit(bin[last_run].0) == 0 {
            low.extend_from_slice(&bin[last_run..]);
        } else {
            high.extend_from_slice(&bin[last_run..]);
        }
        // Nodes before the run are prepended one by one: reversed.
        for &node in &bin[..last_run] {
            if bit(node.0) == 0 {
                low.insert(0, node);
            } else {
                high.insert(0, node);
            }
        }
        next[i] = low;
        next[i + n] = high;
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(double_to_string(0.0), "0.0");
        assert_eq!(double_to_string(3.6), "3.6");
        assert_eq!(double_to_string(0.2667), "0.2667");
        assert_eq!(double_to_string(31.0), "31.0");
        assert_eq!(double_to_string(100.0), "100.0");
        assert_eq!(double_to_string(0.001), "0.001");
        assert_eq!(double_to_string(0.0001), "1.0E-4");
        assert_eq!(double_to_string(1e7), "1.0E7");
        assert_eq!(double_to_string(17_297_301.0), "1.7297301E7");
        assert_eq!(double_to_string(9_999_999.5), "9999999.5");
        assert_eq!(double_to_string(-2.5), "-2.5");
    }

    #[test]
    fn averages_round_half_up_to_four_places() {
        assert_eq!(round_half_up_4(36.0 / 10.0), 3.6);
        assert_eq!(round_half_up_4(4.0 / 15.0), 0.2667);
        assert_eq!(round_half_up_4(1.0 / 32.0), 0.0313); // exact tie: HALF_UP, not even
        assert_eq!(round_half_up_4(17.0 / 7.0), 2.4286);
        assert_eq!(round_half_up_4(0.0), 0.0);
    }

    #[test]
    fn dates_print_like_java_in_utc() {
        assert_eq!(date_to_string_utc(0), "Thu Jan 01 00:00:00 UTC 1970");
        // From the reference server's `dump`: 1795312247000 ms.
        assert_eq!(
            date_to_string_utc(1_795_312_247_000),
            "Sun Nov 22 01:50:47 UTC 2026"
        );
        assert_eq!(
            date_to_string_utc(951_782_400_000),
            "Tue Feb 29 00:00:00 UTC 2000"
        );
    }

    #[test]
    fn socket_addresses_print_like_java() {
        assert_eq!(
            socket_address(&"127.0.0.1:50286".parse().unwrap()),
            "/127.0.0.1:50286"
        );
        assert_eq!(
            socket_address(&"[::1]:2181".parse().unwrap()),
            "/[0:0:0:0:0:0:0:1]:2181"
        );
        assert_eq!(
            socket_address(&"[::ffff:10.0.0.7]:9".parse().unwrap()),
            "/10.0.0.7:9"
        );
        assert_eq!(
            socket_address(&"[fe80::1%3]:7".parse().unwrap()),
            "/[fe80:0:0:0:0:0:0:1%3]:7"
        );
    }

    #[test]
    fn string_hash_matches_java() {
        assert_eq!(string_hash_code(""), 0);
        assert_eq!(string_hash_code("a"), 97);
        assert_eq!(string_hash_code("hello"), 99_162_322);
        assert_eq!(string_hash_code("avg_latency"), 903_052_433);
    }
}
