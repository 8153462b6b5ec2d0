//! `rtr qualify-storage DIR`: checks that a directory (local disk or network
//! file system) keeps the journal's four storage rules and that fencing works
//! there (ARCHITECTURE §6), printing one PASS/FAIL line per check:
//!
//! - (a) write order: records appended with sync come back complete and in
//!   order after the journal is closed and reopened;
//! - (b) synchronous persistence: a record acknowledged after `fdatasync` is
//!   read by a separate process; the `fdatasync` latency is measured and a
//!   suspiciously fast one is a warning (the storage may acknowledge writes
//!   it has not made durable);
//! - (c) exclusive ownership: a second process is refused while this one owns
//!   the journal, and gets it once this one closes it;
//! - (d) fencing: a second process takes over with `rtr journal takeover
//!   --force` while this one owns the journal; this one's next appends fail
//!   with Fenced and recovery contains none of them;
//! - (e) torn writes: a last record cut short (file truncated mid-record, or
//!   only its first half written) is cut off by recovery, the rest is kept.
//!
//! Everything happens in a scratch subdirectory of DIR, removed afterwards.
//! The separate processes are this executable's hidden `rtr journal writer`
//! and `rtr journal probe` (and the real `rtr journal takeover`); each is
//! waited for at most [`CHILD_WAIT`] and killed if still running.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rtr_core::journal::{self, JournalConfig, JournalError, RecordKind, Takeover};

use crate::journal_cmd::{test_payload, test_tid, Json, EXIT_LOCKED};

/// Longest wait for one child process (network file systems can be slow).
const CHILD_WAIT: Duration = Duration::from_secs(60);
/// Below this a data sync cannot have reached stable storage.
const SUSPICIOUS_SYNC_US: f64 = 20.0;
const SEGMENT_BYTES: u64 = 256 << 10;
const MAX_SEGMENTS: u32 = 8;

#[derive(clap::Args)]
pub struct QualifyArgs {
    /// The directory to qualify (it must exist): where the journal would live.
    dir: PathBuf,
    /// Records for the write-order check (1..=1000).
    #[arg(long, default_value_t = 400)]
    records: u64,
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    json: bool,
}

struct Check {
    id: &'static str,
    name: &'static str,
    pass: bool,
    detail: String,
    warnings: Vec<String>,
}

impl Check {
    fn new(id: &'static str, name: &'static str, r: Result<(bool, String, Vec<String>), String>) -> Check {
        match r {
            Ok((pass, detail, warnings)) => Check { id, name, pass, detail, warnings },
            Err(e) => Check { id, name, pass: false, detail: format!("error: {e}"), warnings: Vec::new() },
        }
    }
}

type CheckResult = Result<(bool, String, Vec<String>), String>;
/// A check run in a scratch subdirectory; may report the fdatasync p50.
type CheckFn<'a> = &'a dyn Fn(&Path, &mut Option<f64>) -> CheckResult;

/// Removes the scratch directory when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            if e.kind() != std::io::ErrorKind::NotFound {
                errln!("rtr: could not remove the scratch directory {}: {e}", self.0.display());
            }
        }
    }
}

pub fn run(a: QualifyArgs) -> Result<(), String> {
    if !(1..=1000).contains(&a.records) {
        return Err("--records must be between 1 and 1000".into());
    }
    let meta = std::fs::metadata(&a.dir).map_err(|e| format!("{}: {e}", a.dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", a.dir.display()));
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let path = a.dir.join(format!(".rtr-qualify-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&path).map_err(|e| format!("cannot create a scratch directory {}: {e}", path.display()))?;
    let scratch = Scratch(path);
    let fs = fs_type(&a.dir);
    if !a.json {
        outln!(
            "qualify-storage {} (file system: {}; scratch directory {})",
            a.dir.display(),
            fs.as_deref().unwrap_or("unknown"),
            scratch.0.display()
        );
    }
    let mut general = Vec::new();
    match fs.as_deref() {
        Some("tmpfs" | "ramfs") => general.push(
            "this is a memory file system: nothing in it survives a reboot or power loss, whatever the checks say"
                .to_string(),
        ),
        Some(t) if t.starts_with("nfs") || t.starts_with("cifs") || t.starts_with("smb") || t.starts_with("fuse") => {
            general.push(format!(
                "{t} is a network file system: run this on every host that will own the journal; the lock needs \
                 the server's lock service (no `nolock` mount option), and only a takeover with fencing is safe \
                 when a host loses its lease"
            ))
        }
        _ => {}
    }
    let mut checks = Vec::new();
    let mut sync_p50 = None;
    let all: [(&str, &str, CheckFn); 5] = [
        ("a", "write order", &|d, _| write_order(d, a.records)),
        ("b", "synchronous persistence", &|d, p50| persistence(d, p50)),
        ("c", "exclusive ownership", &|d, _| exclusive(d)),
        ("d", "fencing", &|d, _| fencing(d)),
        ("e", "torn writes", &|d, _| torn(d)),
    ];
    for (id, name, f) in all {
        // Each check in its own subdirectory, removed afterwards so that one
        // check's files do not take space from the next.
        let sub = scratch.0.join(id);
        let c = Check::new(id, name, f(&sub, &mut sync_p50));
        let _ = std::fs::remove_dir_all(&sub);
        if !a.json {
            print_check(&c);
        }
        checks.push(c);
    }
    let failed = checks.iter().filter(|c| !c.pass).count();
    let warned = checks.iter().map(|c| c.warnings.len()).sum::<usize>() + general.len();
    drop(scratch);
    if a.json {
        let list = checks
            .iter()
            .map(|c| {
                Json::obj(vec![
                    ("id", c.id.into()),
                    ("name", c.name.into()),
                    ("pass", c.pass.into()),
                    ("detail", c.detail.clone().into()),
                    ("warnings", c.warnings.clone().into()),
                ])
            })
            .collect();
        outln!(
            "{}",
            Json::obj(vec![
                ("ok", (failed == 0).into()),
                ("dir", a.dir.as_path().into()),
                ("file_system", fs.into()),
                ("fdatasync_p50_us", sync_p50.into()),
                ("checks", Json::Arr(list)),
                ("warnings", general.into()),
            ])
        );
    } else {
        for w in &general {
            outln!("WARN  {w}");
        }
        if failed == 0 {
            outln!(
                "all {} checks passed{}",
                checks.len(),
                if warned > 0 {
                    format!(" ({warned} warning{})", if warned == 1 { "" } else { "s" })
                } else {
                    "".into()
                }
            );
        } else {
            outln!("{failed} of {} checks FAILED: do not put a journal on this storage", checks.len());
        }
    }
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

fn print_check(c: &Check) {
    outln!("{}  ({}) {}: {}", if c.pass { "PASS" } else { "FAIL" }, c.id, c.name, c.detail);
    for w in &c.warnings {
        outln!("WARN  ({}) {w}", c.id);
    }
}

/// The file system type of the mount holding `dir`, from /proc/self/mountinfo.
fn fs_type(dir: &Path) -> Option<String> {
    let dir = dir.canonicalize().ok()?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut best: Option<(usize, String)> = None;
    for line in info.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(mount) = fields.get(4).map(|m| unescape_mount(m)) else { continue };
        let Some(sep) = fields.iter().position(|f| *f == "-") else { continue };
        let Some(kind) = fields.get(sep + 1) else { continue };
        let depth = Path::new(&mount).components().count();
        if dir.starts_with(&mount) && best.as_ref().is_none_or(|(d, _)| depth >= *d) {
            best = Some((depth, kind.to_string()));
        }
    }
    best.map(|(_, k)| k)
}

/// Mount points in mountinfo escape space, tab, newline and backslash as `\ooo`.
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if let Some(&[b'\\', x, y, z]) = b.get(i..i + 4) {
            let octal = |c: u8| (b'0'..=b'7').contains(&c).then(|| u16::from(c - b'0'));
            if let (Some(x), Some(y), Some(z)) = (octal(x), octal(y), octal(z)) {
                if let Ok(v) = u8::try_from(x * 64 + y * 8 + z) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn cfg(dir: &Path) -> JournalConfig {
    JournalConfig { dir: dir.to_path_buf(), segment_bytes: SEGMENT_BYTES, max_segments: MAX_SEGMENTS }
}

fn fresh(dir: &Path) -> Result<(journal::Journal, u64), String> {
    journal::create(&cfg(dir)).map_err(|e| e.to_string())?;
    let (j, _) = journal::open(&cfg(dir), Takeover::Normal).map_err(|e| e.to_string())?;
    let epoch = j.epoch();
    Ok((j, epoch))
}

/// Record `seq` of `node`, with a payload whose size varies with `seq`.
fn varied(node: u32, epoch: u64, seq: u64) -> (rtr_core::Tid, RecordKind, Vec<u8>) {
    let mut p = test_payload(node, seq);
    let extra = 100 + (seq * 733) % 2900;
    p.extend((0..extra).map(|i| (seq as u8).wrapping_mul(31).wrapping_add(i as u8)));
    (test_tid(node, epoch, seq), RecordKind::Msg, p)
}

/// Sequence numbers of `node`'s records among `records`, in order.
fn seqs_of(records: &[journal::Record], node: u32) -> Vec<u64> {
    records.iter().filter(|r| r.tid.node == node && r.kind == RecordKind::Msg).map(|r| r.tid.seq).collect()
}

// ---------------------------------------------------------------- (a)

fn write_order(dir: &Path, n: u64) -> CheckResult {
    let (j, epoch) = fresh(dir)?;
    let mut expected = Vec::new();
    for seq in 1..=n {
        let rec = varied(1, epoch, seq);
        expected.push(rec.clone());
        j.append_wait(vec![rec], true).map_err(|e| match e {
            JournalError::Full => format!(
                "append {seq}: the journal is full: the file system ran out of space below the check's cap of \
                 {MAX_SEGMENTS} segments of {SEGMENT_BYTES} bytes"
            ),
            e => format!("append {seq}: {e}"),
        })?;
    }
    let segments = j.stats().segments;
    drop(j);
    let (j, rec) = journal::open(&cfg(dir), Takeover::Normal).map_err(|e| format!("reopen: {e}"))?;
    drop(j);
    if let Some((f, off)) = &rec.truncated {
        return Ok((false, format!("reopening after a clean close cut data off {} at {off}", f.display()), vec![]));
    }
    let got: Vec<_> = rec.records.iter().filter(|r| r.kind == RecordKind::Msg).collect();
    if got.len() != expected.len() {
        return Ok((
            false,
            format!("{} records written, {} came back after reopening", expected.len(), got.len()),
            vec![],
        ));
    }
    for (i, (g, (tid, kind, payload))) in got.iter().zip(&expected).enumerate() {
        if g.tid != *tid || g.kind != *kind || g.payload != *payload {
            return Ok((
                false,
                format!("record {} came back as tid {} (expected {tid}) or with other content", i + 1, g.tid),
                vec![],
            ));
        }
    }
    Ok((
        true,
        format!(
            "{n} records, each synced, across {segments} segment files came back complete and in order after reopening"
        ),
        vec![],
    ))
}

// ---------------------------------------------------------------- (b)

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

/// Write 64 bytes + fdatasync in a preallocated file, repeated: microseconds.
fn raw_fdatasync(dir: &Path) -> Result<Vec<f64>, String> {
    let path = dir.join("fdatasync.probe");
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let f = OpenOptions::new().read(true).write(true).create_new(true).open(&path).map_err(err)?;
    let size = 256u64 << 10;
    f.write_all_at(&vec![0u8; size as usize], 0).map_err(err)?;
    f.sync_all().map_err(err)?;
    let rec = [0x5au8; 64];
    let mut lat = Vec::new();
    let start = Instant::now();
    let mut off = 0u64;
    while lat.len() < 2000 && (lat.len() < 20 || start.elapsed() < Duration::from_millis(500)) {
        let t = Instant::now();
        f.write_all_at(&rec, off).map_err(err)?;
        f.sync_data().map_err(err)?;
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        off = (off + 64) % size;
    }
    drop(f);
    let _ = std::fs::remove_file(&path);
    lat.sort_by(f64::total_cmp);
    Ok(lat)
}

fn persistence(dir: &Path, p50_out: &mut Option<f64>) -> CheckResult {
    let (j, epoch) = fresh(dir)?;
    let mut lat = Vec::new();
    let node = 2;
    let mut seq = 0;
    for _ in 0..50 {
        seq += 1;
        let t = Instant::now();
        j.append_wait(vec![(test_tid(node, epoch, seq), RecordKind::Msg, test_payload(node, seq))], true)
            .map_err(|e| format!("append {seq}: {e}"))?;
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    lat.sort_by(f64::total_cmp);
    let raw = raw_fdatasync(dir)?;
    let (p50, p99) = (percentile(&raw, 0.5), percentile(&raw, 0.99));
    *p50_out = Some(p50);
    // The record the other process must see, acknowledged after its fdatasync;
    // this process still owns the journal while the other one reads.
    let kid = Kid::spawn(&["journal", "probe", &path_arg(dir), "--node", "2", "--seq", &seq.to_string()])?;
    let (code, out) = kid.finish(CHILD_WAIT)?;
    drop(j);
    let mut warnings = Vec::new();
    if p50 < SUSPICIOUS_SYNC_US {
        warnings.push(format!(
            "fdatasync takes {p50:.1} us (p50): faster than any device can make data durable; this storage (or a \
             write cache without power-loss protection, or a virtualization layer) may acknowledge writes it has \
             not made durable"
        ));
    }
    let timing = format!(
        "fdatasync p50 {p50:.0} us, p99 {p99:.0} us over {} syncs; durable journal append p50 {:.0} us, p99 {:.0} us",
        raw.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );
    if code == 0 && out.iter().any(|l| l.starts_with("FOUND")) {
        Ok((true, format!("a record acknowledged after fdatasync was read by another process; {timing}"), warnings))
    } else {
        Ok((
            false,
            format!(
                "another process did not find a record acknowledged after fdatasync (exit {code}: {}); {timing}",
                out.join(" | ")
            ),
            warnings,
        ))
    }
}

// ---------------------------------------------------------------- (c)

fn writer_args(dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["journal", "writer", &path_arg(dir), "--segment-bytes", &SEGMENT_BYTES.to_string()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn exclusive(dir: &Path) -> CheckResult {
    let (j, _) = fresh(dir)?;
    let args = writer_args(dir, &["--count", "0"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out) = Kid::spawn(&args)?.finish(CHILD_WAIT)?;
    if code == 0 {
        drop(j);
        return Ok((
            false,
            "a second process opened the journal while this process owned it: file locks are not enforced here \
             (on NFS: is the lock service running; is the file system mounted with `nolock`?)"
                .into(),
            vec![],
        ));
    }
    if code != EXIT_LOCKED {
        drop(j);
        return Ok((false, format!("the second process failed otherwise (exit {code}): {}", out.join(" | ")), vec![]));
    }
    drop(j);
    let (code2, out2) = Kid::spawn(&args)?.finish(CHILD_WAIT)?;
    if code2 != 0 {
        return Ok((
            false,
            format!(
                "a second process was refused while this one owned the journal, but also after it closed it \
                 (exit {code2}: {}): the lock is not released",
                out2.join(" | ")
            ),
            vec![],
        ));
    }
    Ok((
        true,
        "a second process was refused (locked) while this process owned the journal, and took it once this one closed it"
            .into(),
        vec![],
    ))
}

// ---------------------------------------------------------------- (d)

fn fencing(dir: &Path) -> CheckResult {
    let (j, epoch) = fresh(dir)?;
    let node = 3;
    let acked = 5u64;
    for seq in 1..=acked {
        j.append_wait(vec![varied(node, epoch, seq)], true).map_err(|e| format!("append {seq}: {e}"))?;
    }
    let (code, out) = Kid::spawn(&["journal", "takeover", &path_arg(dir), "--force", "--json"])?.finish(CHILD_WAIT)?;
    let text = out.join("\n");
    let new_epoch = json_u64(&text, "new_epoch");
    if code != 0 || new_epoch.is_none() {
        drop(j);
        return Ok((false, format!("`rtr journal takeover --force` failed (exit {code}): {text}"), vec![]));
    }
    let new_epoch = new_epoch.unwrap_or_default();
    let late = [acked + 1, acked + 2, acked + 3];
    for &seq in &late {
        match j.append_wait(vec![varied(node, epoch, seq)], true) {
            Err(JournalError::Fenced { .. }) => {}
            Ok(()) => {
                drop(j);
                return Ok((
                    false,
                    format!(
                        "the fenced owner (epoch {epoch}) had append {seq} acknowledged after another process took \
                         over with epoch {new_epoch}: the epoch file is not seen consistently across processes"
                    ),
                    vec![],
                ));
            }
            Err(e) => {
                drop(j);
                return Ok((
                    false,
                    format!("append {seq} of the fenced owner failed, but not with Fenced: {e}"),
                    vec![],
                ));
            }
        }
    }
    drop(j);
    let stale_on_disk = journal::scan(dir)
        .map_err(|e| e.to_string())?
        .entries
        .iter()
        .filter(|e| e.stale && e.record.tid.node == node)
        .count();
    let (j2, rec) = journal::open(&cfg(dir), Takeover::Normal).map_err(|e| format!("reopen: {e}"))?;
    drop(j2);
    let seqs = seqs_of(&rec.records, node);
    let missing: Vec<u64> = (1..=acked).filter(|s| !seqs.contains(s)).collect();
    let leaked: Vec<u64> = late.iter().copied().filter(|s| seqs.contains(s)).collect();
    if !missing.is_empty() || !leaked.is_empty() {
        return Ok((
            false,
            format!(
                "after the takeover, recovery lost acknowledged records {missing:?} or kept fenced ones {leaked:?}"
            ),
            vec![],
        ));
    }
    Ok((
        true,
        format!(
            "after another process took over with --force (epoch {epoch} -> {new_epoch}) this process's next {} \
             appends failed with Fenced; recovery kept its {acked} acknowledged records and none of the later ones \
             ({stale_on_disk} of them reached the disk past the seal and recovery ignored {})",
            late.len(),
            if stale_on_disk == 1 { "it" } else { "them" }
        ),
        vec![],
    ))
}

/// The number after `"key":` in one line of our own JSON output.
fn json_u64(text: &str, key: &str) -> Option<u64> {
    let at = text.find(&format!("\"{key}\":"))? + key.len() + 3;
    let digits: String = text[at..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

// ---------------------------------------------------------------- (e)

fn torn(dir: &Path) -> CheckResult {
    let node = 4;
    let (j, epoch) = fresh(dir)?;
    for seq in 1..=20 {
        j.append_wait(vec![varied(node, epoch, seq)], true).map_err(|e| format!("append {seq}: {e}"))?;
    }
    drop(j);
    // 1: the file ends in the middle of the last record.
    let (file, off, len) = last_record(dir, node)?;
    let f = OpenOptions::new().write(true).open(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    f.set_len(off + len / 2).map_err(|e| format!("{}: {e}", file.display()))?;
    drop(f);
    let (j, rec) = journal::open(&cfg(dir), Takeover::Normal).map_err(|e| format!("reopen after truncation: {e}"))?;
    let epoch2 = j.epoch();
    let seqs = seqs_of(&rec.records, node);
    if rec.truncated != Some((file.clone(), off)) || seqs != (1..=19).collect::<Vec<_>>() {
        drop(j);
        return Ok((
            false,
            format!(
                "after truncating {} mid-record at {off}, recovery cut {:?} and kept records {seqs:?}",
                file.display(),
                rec.truncated
            ),
            vec![],
        ));
    }
    // 2: only the first half of the last record reached the (preallocated) file.
    for seq in 21..=25 {
        j.append_wait(vec![varied(node, epoch2, seq)], true).map_err(|e| format!("append {seq}: {e}"))?;
    }
    drop(j);
    let (file2, off2, len2) = last_record(dir, node)?;
    let f = OpenOptions::new().write(true).open(&file2).map_err(|e| format!("{}: {e}", file2.display()))?;
    f.write_all_at(&vec![0u8; (len2 - len2 / 2) as usize], off2 + len2 / 2)
        .and_then(|()| f.sync_data())
        .map_err(|e| format!("{}: {e}", file2.display()))?;
    drop(f);
    let (j, rec) = journal::open(&cfg(dir), Takeover::Normal).map_err(|e| format!("reopen after a torn write: {e}"))?;
    drop(j);
    let seqs = seqs_of(&rec.records, node);
    let want: Vec<u64> = (1..=19).chain(21..=24).collect();
    if rec.truncated != Some((file2.clone(), off2)) || seqs != want {
        return Ok((
            false,
            format!(
                "after a half-written last record in {} at {off2}, recovery cut {:?} and kept records {seqs:?}",
                file2.display(),
                rec.truncated
            ),
            vec![],
        ));
    }
    let (j, rec) = journal::open(&cfg(dir), Takeover::Normal).map_err(|e| format!("third open: {e}"))?;
    drop(j);
    if rec.truncated.is_some() || seqs_of(&rec.records, node) != want {
        return Ok((false, "the repair did not last: a later open found more to cut".into(), vec![]));
    }
    Ok((
        true,
        "a last record cut short (file truncated mid-record; first half written only) was cut off at its start on \
         reopening, every earlier record kept, and the repair lasted"
            .into(),
        vec![],
    ))
}

/// The segment file, offset and encoded size of `node`'s last record.
fn last_record(dir: &Path, node: u32) -> Result<(PathBuf, u64, u64), String> {
    let scan = journal::scan(dir).map_err(|e| e.to_string())?;
    let i = scan
        .entries
        .iter()
        .rposition(|e| e.record.tid.node == node)
        .ok_or_else(|| "no record found to tear".to_string())?;
    let e = &scan.entries[i];
    let seg = scan.segments.iter().find(|s| s.number == e.segment).ok_or("segment vanished")?;
    let len = journal::format::record_bytes(e.record.payload.len()) as u64;
    Ok((seg.path.clone(), e.offset, len))
}

fn path_arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

// ---------------------------------------------------------------- children

/// A child `rtr` process whose stdout and stderr lines are collected; killed
/// (and reaped) if still running when dropped.
struct Kid {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Kid {
    fn spawn(args: &[&str]) -> Result<Kid, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find the rtr executable: {e}"))?;
        let mut child = Command::new(exe)
            .args(args.iter().map(OsString::from))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start a second rtr process: {e}"))?;
        let (tx, lines) = mpsc::channel();
        fn pump(r: impl Read + Send + 'static, tx: mpsc::Sender<String>) {
            std::thread::spawn(move || {
                for l in BufReader::new(r).lines().map_while(Result::ok) {
                    let _ = tx.send(l);
                }
            });
        }
        if let Some(o) = child.stdout.take() {
            pump(o, tx.clone());
        }
        if let Some(e) = child.stderr.take() {
            pump(e, tx);
        }
        Ok(Kid { child, lines })
    }

    /// Waits (at most `limit`) for the exit; returns its code (-1 if killed
    /// by a signal) and every output line.
    fn finish(mut self, limit: Duration) -> Result<(i32, Vec<String>), String> {
        let deadline = Instant::now() + limit;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                Ok(None) => return Err(format!("a child rtr process did not finish within {limit:?}")),
                Err(e) => return Err(format!("waiting for a child rtr process: {e}")),
            }
        };
        let mut out = Vec::new();
        // The pipes close at exit; their readers end shortly after.
        while let Ok(l) = self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            out.push(l);
        }
        Ok((status.code().unwrap_or(-1), out))
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_point_unescaping_and_json_numbers() {
        assert_eq!(unescape_mount(r"/mnt/a\040b"), "/mnt/a b");
        assert_eq!(unescape_mount(r"/x\\"), r"/x\\");
        assert_eq!(unescape_mount("/plain"), "/plain");
        assert_eq!(json_u64(r#"{"ok":true,"new_epoch":17,"x":1}"#, "new_epoch"), Some(17));
        assert_eq!(json_u64("{}", "new_epoch"), None);
        assert!(fs_type(Path::new("/")).is_some());
    }
}
