//! Repeated failures logged once, not once per retry: a dialler that
//! cannot reach a dead peer retries for as long as the definitions call for
//! it (every 5 s at most), and a log line per attempt buries everything
//! else.
//!
//! The first failure is logged whole; the same failure again is logged as
//! "still failing (N times)" when N reaches 2, 4, 8, 16, ... (so at growing
//! intervals, whatever the retry period); a different failure is logged
//! whole and counts afresh; the first success after failures is logged
//! once with their number.

/// One repeated activity's failures (a dialler's, for one peer).
#[derive(Default)]
pub(crate) struct Repeats {
    /// The failure last seen, and how many times in a row.
    last: Option<(String, u64)>,
    /// Failures since the last success, whatever their texts.
    failures: u64,
}

impl Repeats {
    /// A failure `why`: the line to log, if this one is to be logged.
    pub(crate) fn failed(&mut self, why: &str) -> Option<String> {
        self.failures += 1;
        match &mut self.last {
            Some((text, n)) if text == why => {
                *n += 1;
                n.is_power_of_two().then(|| format!("still failing ({n} times): {why}"))
            }
            _ => {
                self.last = Some((why.to_string(), 1));
                Some(why.to_string())
            }
        }
    }

    /// A success: the number of failures before it, if there were any
    /// (logged once: the activity recovered).
    pub(crate) fn succeeded(&mut self) -> Option<u64> {
        self.last = None;
        let n = std::mem::take(&mut self.failures);
        (n > 0).then_some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_failure_is_logged_at_powers_of_two_and_its_end_once() {
        let mut r = Repeats::default();
        let logged: Vec<Option<String>> = (0..9).map(|_| r.failed("refused")).collect();
        let lines: Vec<&str> = logged.iter().flatten().map(String::as_str).collect();
        assert_eq!(
            lines,
            [
                "refused",
                "still failing (2 times): refused",
                "still failing (4 times): refused",
                "still failing (8 times): refused"
            ]
        );
        // Another failure is news; then the old one again is news too.
        assert_eq!(r.failed("timed out").as_deref(), Some("timed out"));
        assert_eq!(r.failed("refused").as_deref(), Some("refused"));
        assert_eq!(r.succeeded(), Some(11));
        assert_eq!(r.succeeded(), None);
        assert_eq!(r.failed("refused").as_deref(), Some("refused"));
    }
}
