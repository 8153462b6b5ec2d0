//! A histogram with fixed power-of-two buckets, for the node's metrics
//! (commit latency, fsync time, group-commit size).
//!
//! Recording is a few instructions and never allocates (the buckets are a
//! fixed array), so it can sit on the transaction path. Bucket `i` counts
//! the values `v` with `2^(i-1) < v <= 2^i` (bucket 0: `v <= 1`); the last
//! bucket also takes everything larger. Quantiles are estimated by linear
//! interpolation inside the bucket that holds them, as Prometheus's
//! `histogram_quantile` does, so they are exact to within a factor of two
//! and never beyond the largest value seen.

/// Buckets per histogram: upper bounds 1, 2, 4, ... 2^38 (in microseconds,
/// about three days), then everything larger.
pub const BUCKETS: usize = 40;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    pub buckets: [u64; BUCKETS],
    /// Values recorded.
    pub count: u64,
    /// Their sum (saturating).
    pub sum: u64,
    /// The largest value recorded.
    pub max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { buckets: [0; BUCKETS], count: 0, sum: 0, max: 0 }
    }
}

impl Histogram {
    /// The bucket that holds `v`.
    pub fn bucket_of(v: u64) -> usize {
        if v <= 1 {
            return 0;
        }
        // ceil(log2(v)): v in (2^(i-1), 2^i] gives i.
        ((64 - (v - 1).leading_zeros()) as usize).min(BUCKETS - 1)
    }

    /// The upper bound of bucket `i` (`None`: the last, unbounded one).
    pub fn upper_bound(i: usize) -> Option<u64> {
        (i < BUCKETS - 1).then(|| 1u64 << i)
    }

    pub fn record(&mut self, v: u64) {
        self.buckets[Self::bucket_of(v)] += 1;
        self.count += 1;
        self.sum = self.sum.saturating_add(v);
        self.max = self.max.max(v);
    }

    /// The estimated `q`-quantile (`q` in 0..=1); 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = (q.clamp(0.0, 1.0) * self.count as f64).ceil().max(1.0);
        let mut below = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            if n == 0 || ((below + n) as f64) < rank {
                below += n;
                continue;
            }
            let lo = if i == 0 { 0 } else { 1u64 << (i - 1) };
            let hi = Self::upper_bound(i).unwrap_or(self.max).min(self.max).max(lo);
            let within = (rank - below as f64) / n as f64;
            // Through f64 the offset may round past the span (2^64 - 1 is
            // not a float): clamped, so the sum cannot overflow.
            let offset = ((hi - lo) as f64 * within).round() as u64;
            return lo + offset.min(hi - lo);
        }
        self.max
    }

    /// The mean, 0 when empty.
    pub fn mean(&self) -> u64 {
        self.sum.checked_div(self.count).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two() {
        assert_eq!(Histogram::bucket_of(0), 0);
        assert_eq!(Histogram::bucket_of(1), 0);
        assert_eq!(Histogram::bucket_of(2), 1);
        assert_eq!(Histogram::bucket_of(3), 2);
        assert_eq!(Histogram::bucket_of(4), 2);
        assert_eq!(Histogram::bucket_of(5), 3);
        assert_eq!(Histogram::bucket_of(1024), 10);
        assert_eq!(Histogram::bucket_of(1025), 11);
        assert_eq!(Histogram::bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(Histogram::upper_bound(10), Some(1024));
        assert_eq!(Histogram::upper_bound(BUCKETS - 1), None);
        for v in [1u64, 2, 3, 7, 8, 9, 1000, 1 << 30] {
            let i = Histogram::bucket_of(v);
            assert!(Histogram::upper_bound(i).is_none_or(|u| v <= u), "{v}");
            assert!(i == 0 || v > 1u64 << (i - 1), "{v}");
        }
    }

    #[test]
    fn quantiles_stay_within_the_bucket_and_the_largest_value() {
        let mut h = Histogram::default();
        assert_eq!((h.quantile(0.5), h.quantile(0.99), h.mean()), (0, 0, 0));
        for _ in 0..99 {
            h.record(100);
        }
        h.record(5000);
        assert_eq!((h.count, h.sum, h.max), (100, 99 * 100 + 5000, 5000));
        let p50 = h.quantile(0.5);
        assert!((64..=128).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99);
        assert!((64..=128).contains(&p99), "{p99}");
        assert_eq!(h.quantile(1.0), 5000, "the top bucket is cut at the largest value");
        let mut one = Histogram::default();
        one.record(3);
        assert_eq!(one.quantile(0.5), 3);
        // Saturating, never a panic.
        one.record(u64::MAX);
        assert_eq!(one.sum, u64::MAX);
        assert_eq!(one.quantile(1.0), u64::MAX);
    }
}
