//! Latency figures: medians and tails from raw samples.

use std::time::Duration;

#[derive(Default, Clone)]
pub struct Latencies {
    micros: Vec<u32>,
}

impl Latencies {
    pub fn record(&mut self, d: Duration) {
        self.micros.push(d.as_micros().min(u128::from(u32::MAX)) as u32);
    }

    pub fn merge(&mut self, other: Latencies) {
        self.micros.extend(other.micros);
    }

    pub fn len(&self) -> usize {
        self.micros.len()
    }

    /// The q-quantile (0.0..=1.0) in microseconds; 0 when empty.
    pub fn quantile(&mut self, q: f64) -> u32 {
        if self.micros.is_empty() {
            return 0;
        }
        self.micros.sort_unstable();
        let idx = ((self.micros.len() - 1) as f64 * q).round() as usize;
        self.micros[idx.min(self.micros.len() - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        let mut l = Latencies::default();
        assert_eq!(l.quantile(0.5), 0);
        for us in [5u64, 1, 3, 2, 4] {
            l.record(Duration::from_micros(us));
        }
        assert_eq!(l.quantile(0.5), 3);
        assert_eq!(l.quantile(1.0), 5);
        assert_eq!(l.quantile(0.0), 1);
    }
}
