//! A small seeded PRNG (SplitMix64). Every random choice of a run comes from one
//! of these, seeded from `--seed` and the session index, so a run's op sequence
//! is reproducible. Statistical quality is ample for choosing ops; it is not for
//! cryptography.

/// SplitMix64 (Steele, Lea, Flood 2014): one add and a mix per draw.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator for `stream` (for instance a session index) of run `seed`.
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut rng = Rng {
            state: seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F),
        };
        rng.next_u64();
        rng
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-32 for
    /// the small `n` used here). `n` must be positive.
    pub fn below(&mut self, n: u32) -> u32 {
        assert!(n > 0, "Rng::below(0)");
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }

    /// Uniform in `[0, 1)`, 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u32, hi: u32) -> u32 {
        assert!(lo <= hi, "Rng::between({lo}, {hi})");
        if hi - lo == u32::MAX {
            return (self.next_u64() >> 32) as u32;
        }
        lo + self.below(hi - lo + 1)
    }
}

/// Zipfian ranks over `0..n` (rank 0 the most popular), by the method YCSB's
/// `ZipfianGenerator` uses (Gray et al., "Quickly generating billion-record
/// synthetic databases", SIGMOD 1994): one uniform draw and a power per rank.
/// Building it costs O(n) for the zeta constant, so a run builds it once and
/// every session copies it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Zipf {
    n: u32,
    theta: f64,
    alpha: f64,
    zeta_n: f64,
    eta: f64,
    half_pow_theta: f64,
}

impl Zipf {
    /// YCSB's default skew.
    pub const THETA_DEFAULT: f64 = 0.99;

    /// Ranks over `0..n` with skew `theta` (0 < theta < 1).
    pub fn new(n: u32, theta: f64) -> Zipf {
        assert!(n > 0, "Zipf over no items");
        assert!(
            theta > 0.0 && theta < 1.0,
            "Zipf theta {theta} outside (0, 1)"
        );
        let zeta = |count: u32| {
            (1..=count)
                .map(|i| 1.0 / f64::from(i).powf(theta))
                .sum::<f64>()
        };
        let zeta_n = zeta(n);
        let zeta_2 = zeta(2.min(n));
        let eta = if n < 2 {
            1.0
        } else {
            (1.0 - (2.0 / f64::from(n)).powf(1.0 - theta)) / (1.0 - zeta_2 / zeta_n)
        };
        Zipf {
            n,
            theta,
            alpha: 1.0 / (1.0 - theta),
            zeta_n,
            eta,
            half_pow_theta: 0.5f64.powf(theta),
        }
    }

    /// Items ranked.
    pub fn n(&self) -> u32 {
        self.n
    }

    /// The skew.
    pub fn theta(&self) -> f64 {
        self.theta
    }

    /// The next rank.
    pub fn sample(&self, rng: &mut Rng) -> u32 {
        let u = rng.unit();
        let uz = u * self.zeta_n;
        if uz < 1.0 || self.n == 1 {
            return 0;
        }
        if uz < 1.0 + self.half_pow_theta {
            return 1;
        }
        let rank = f64::from(self.n) * (self.eta * u - self.eta + 1.0).powf(self.alpha);
        (rank as u32).min(self.n - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = Rng::new(7, 3);
        let mut b = Rng::new(7, 3);
        let mut c = Rng::new(7, 4);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn below_covers_the_range_evenly() {
        let mut rng = Rng::new(1, 0);
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[rng.below(10) as usize] += 1;
        }
        for count in counts {
            assert!((9_000..11_000).contains(&count), "{counts:?}");
        }
    }

    #[test]
    fn between_is_inclusive() {
        let mut rng = Rng::new(2, 0);
        let draws: Vec<u32> = (0..1000).map(|_| rng.between(5, 7)).collect();
        assert!(draws.iter().all(|d| (5..=7).contains(d)));
        for v in 5..=7 {
            assert!(draws.contains(&v));
        }
        assert_eq!(rng.between(9, 9), 9);
    }

    #[test]
    fn zipf_is_skewed_like_ycsb() {
        let zipf = Zipf::new(1000, Zipf::THETA_DEFAULT);
        let mut rng = Rng::new(3, 0);
        let mut counts = vec![0u32; 1000];
        let draws = 200_000;
        for _ in 0..draws {
            counts[zipf.sample(&mut rng) as usize] += 1;
        }
        // P(rank 0) = 1 / zeta(1000, 0.99) ~ 0.134; the top 10 ranks take
        // about 39% and rank 1 about half of rank 0.
        let p0 = f64::from(counts[0]) / f64::from(draws);
        assert!((0.12..0.15).contains(&p0), "p0 {p0}");
        let top10: u32 = counts[..10].iter().sum();
        let share = f64::from(top10) / f64::from(draws);
        assert!((0.35..0.43).contains(&share), "top 10 {share}");
        let ratio = f64::from(counts[1]) / f64::from(counts[0]);
        assert!((0.45..0.56).contains(&ratio), "rank1/rank0 {ratio}");
        assert!(counts[999] < counts[0] / 100);
        assert_eq!(Zipf::new(1, 0.5).sample(&mut rng), 0);
    }
}
