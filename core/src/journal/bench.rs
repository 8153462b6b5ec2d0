//! The journal benchmark: durable commits per second and commit latency with
//! N concurrent writers, against one `fdatasync` per record on the same file
//! system (the rate a journal without group commit would get).
//!
//! Each "commit" is one `append_wait(sync = true)` of a Commit record with a
//! 100-byte payload plus the transaction's Done record (so space is
//! reclaimed and segments recycle as in steady state).

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::segment::io_err;
use super::{open_or_create, JournalConfig, JournalError, RecordKind};
use crate::tid::Tid;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BenchResult {
    pub commits: u64,
    pub commits_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

const PAYLOAD: usize = 100;

fn result(mut lat_us: Vec<u64>, elapsed: Duration) -> BenchResult {
    lat_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat_us.is_empty() {
            return 0.0;
        }
        let i = ((lat_us.len() as f64 - 1.0) * p).round() as usize;
        lat_us[i.min(lat_us.len() - 1)] as f64
    };
    BenchResult {
        commits: lat_us.len() as u64,
        commits_per_sec: lat_us.len() as f64 / elapsed.as_secs_f64().max(1e-9),
        p50_us: pct(0.50),
        p99_us: pct(0.99),
    }
}

/// Runs `writers` threads committing for `duration` against a fresh journal
/// created in a new subdirectory of the scratch directory `dir` (removed
/// afterwards). Default segment size and count.
pub fn run(dir: &Path, writers: usize, duration: Duration) -> Result<BenchResult, JournalError> {
    let jdir = dir.join(format!("journal-bench-{}-{writers}", std::process::id()));
    let _ = std::fs::remove_dir_all(&jdir);
    let cfg = JournalConfig { dir: jdir.clone(), ..JournalConfig::default() };
    let outcome = (|| {
        let (journal, _) = open_or_create(&cfg)?;
        let start = Instant::now();
        let deadline = start + duration;
        let per_thread: Vec<Result<Vec<u64>, JournalError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..writers.max(1))
                .map(|w| {
                    let journal = journal.clone();
                    s.spawn(move || {
                        let mut lat = Vec::new();
                        let mut seq = 0u64;
                        while Instant::now() < deadline {
                            seq += 1;
                            let tid = Tid { node: 1, incarnation: 1, conn: w as u32, seq };
                            let t0 = Instant::now();
                            journal.append_wait(
                                vec![
                                    (tid, RecordKind::Commit, vec![0x5a; PAYLOAD]),
                                    (tid, RecordKind::Done, Vec::new()),
                                ],
                                true,
                            )?;
                            lat.push(t0.elapsed().as_micros() as u64);
                        }
                        Ok(lat)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(Err(JournalError::Poisoned))).collect()
        });
        let elapsed = start.elapsed();
        let mut all = Vec::new();
        for r in per_thread {
            all.extend(r?);
        }
        Ok(result(all, elapsed))
    })();
    let _ = std::fs::remove_dir_all(&jdir);
    outcome
}

/// The baseline: write one small record (the size of one bench commit) and
/// `fdatasync`, repeat, for `duration`, in a preallocated zero-filled file in
/// `dir` (removed afterwards), as the journal's segments are.
pub fn fsync_per_record(dir: &Path, duration: Duration) -> Result<BenchResult, JournalError> {
    let path = dir.join(format!("fsync-bench-{}.tmp", std::process::id()));
    let size: u64 = 16 << 20;
    let outcome = (|| {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        let zeros = vec![0u8; 1 << 20];
        for i in 0..size / zeros.len() as u64 {
            file.write_all_at(&zeros, i * zeros.len() as u64).map_err(|e| io_err(&path, e))?;
        }
        file.sync_all().map_err(|e| io_err(&path, e))?;
        let record = vec![0x5a; 2 * super::format::RECORD_OVERHEAD + PAYLOAD];
        let mut off = 0u64;
        let mut lat = Vec::new();
        let start = Instant::now();
        while start.elapsed() < duration {
            if off + record.len() as u64 > size {
                off = 0;
            }
            let t0 = Instant::now();
            file.write_all_at(&record, off).map_err(|e| io_err(&path, e))?;
            file.sync_data().map_err(|e| io_err(&path, e))?;
            lat.push(t0.elapsed().as_micros() as u64);
            off += record.len() as u64;
        }
        Ok(result(lat, start.elapsed()))
    })();
    let _ = std::fs::remove_file(&path);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_benchmark_runs_briefly() {
        let d = tempfile::tempdir().unwrap();
        let r = run(d.path(), 4, Duration::from_millis(200)).unwrap();
        assert!(r.commits > 0 && r.p50_us <= r.p99_us, "{r:?}");
        let b = fsync_per_record(d.path(), Duration::from_millis(100)).unwrap();
        assert!(b.commits > 0, "{b:?}");
        // Nothing left behind in the scratch directory.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    }

    /// `cargo test --release -p rtr-core journal::bench -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn print_benchmark() {
        let base = std::env::var_os("RTR_BENCH_DIR").map(std::path::PathBuf::from);
        let d = tempfile::tempdir_in(base.unwrap_or_else(std::env::temp_dir)).unwrap();
        let secs = Duration::from_secs(3);
        let f = fsync_per_record(d.path(), secs).unwrap();
        println!(
            "fsync per record: {:>9.0} commits/s  p50 {:>7.0} us  p99 {:>7.0} us",
            f.commits_per_sec, f.p50_us, f.p99_us
        );
        for writers in [1, 8, 64] {
            let r = run(d.path(), writers, secs).unwrap();
            println!(
                "{writers:>3} writers:       {:>9.0} commits/s  p50 {:>7.0} us  p99 {:>7.0} us  ({:.1}x fsync-per-record)",
                r.commits_per_sec,
                r.p50_us,
                r.p99_us,
                r.commits_per_sec / f.commits_per_sec
            );
        }
    }
}
