//! `rtr journal create|show|dump|verify|takeover|salvage`: operator tools for a
//! journal directory (the storage layer is `rtr_core::journal`, ARCHITECTURE
//! §6), and the hidden helpers `rtr journal writer|probe` that
//! `rtr qualify-storage` and the process tests run as separate processes.
//!
//! `show`, `dump` and `verify` only read (`journal::scan`): they take no
//! lock, change no epoch and repair nothing, so they are safe next to a
//! running owner (what they show then is a moment's view). `show` probes the
//! lock by taking it for an instant and releasing it at once.
//! `takeover --force` and `salvage --force` are the commands that change the
//! journal: takeover opens it with `Takeover::Force` (new epoch, durably, and
//! a Fence record sealing the previous owner's data) and closes it again;
//! salvage opens a journal that damaged records keep from opening with
//! `journal::salvage` (dropping the damaged bytes, keeping every valid
//! record) and closes it again. Without `--force` both only say what they
//! would do.
//!
//! Every command takes `--json` and then prints one JSON object on stdout
//! (also for errors: `{"ok":false,"error":...}`).
//!
//! Exit codes: 0 success; 1 error (no journal, I/O, bad arguments, journal
//! owned by a running process); 3 `verify` found corruption (the journal
//! will not open), or `salvage` met damage it cannot repair; 4 `takeover` or
//! `salvage` refused without `--force`. The hidden helpers exit with 10 (journal
//! locked), 11 (fenced), 12 (journal full), 13 (another journal error).

use std::fmt::{self, Write as _};
use std::fs::{OpenOptions, TryLockError};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use rtr_core::journal::{
    self, Cut, CutKind, JournalConfig, JournalError, JournalScan, ProblemKind, RecordKind, ScanEntry, Seal, Takeover,
};
use rtr_core::txrecord::{classify, SeqMark, TxFate, TxRecord, TxSummary};
use rtr_core::Tid;

pub const EXIT_ERROR: i32 = 1;
pub const EXIT_CORRUPT: i32 = 3;
pub const EXIT_REFUSED: i32 = 4;
pub const EXIT_LOCKED: i32 = 10;
pub const EXIT_FENCED: i32 = 11;
pub const EXIT_FULL: i32 = 12;
pub const EXIT_JOURNAL_ERROR: i32 = 13;

/// The lock file and epoch file names of the storage layer (`owner.rs`;
/// not exported by `rtr_core::journal`).
const LOCK_FILE: &str = "journal.lock";
const EPOCH_FILE: &str = "epoch";

#[derive(Args)]
pub struct JournalArgs {
    #[command(subcommand)]
    cmd: JournalCmd,
    /// Print one JSON object on stdout instead of text (for scripts).
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum JournalCmd {
    /// Create an empty journal in DIR (the directory is created if needed;
    /// refused if a journal is already there).
    Create(CreateArgs),
    /// Summary: segments, owner epoch, whether an owner holds the lock, live
    /// (not Done) transactions and their state, problems found.
    Show(DirArg),
    /// Every record: segment, offset, epoch, tid, kind and a payload summary.
    Dump(DirArg),
    /// Check that the journal would open: exit 0 if it would (a torn tail,
    /// which recovery cuts off, is a warning), 3 on corruption (the message
    /// names the file and offset, and how many valid records follow the
    /// damage; a bad record that valid records follow is corruption even at
    /// the end of the journal, never a torn tail).
    Verify(DirArg),
    /// Take the journal over from an owner that is gone or lost its lock
    /// (e.g. an expired network-file-system lease): fences that owner (its
    /// next write fails, recovery ignores anything it writes later), then
    /// closes the journal. Requires --force.
    Takeover(TakeoverArgs),
    /// Make a journal that damaged records keep from opening usable again,
    /// keeping what is valid: every segment with damaged records is rebuilt
    /// from its valid records, before and after the damage, and the damaged
    /// bytes are dropped (the old file stays beside it as
    /// <segment>.damaged-<epoch>). RISK: whatever the damaged bytes held is
    /// lost for good: a transaction whose record was there may be replayed
    /// without a message, presumed aborted, or presented again. Restoring the
    /// file from a copy loses nothing; prefer that when you can. Refused while
    /// a process owns the journal; a damaged segment header cannot be
    /// salvaged. Without --force, only says what it would do.
    Salvage(SalvageArgs),
    /// Test helper: own the journal and append records (one per append, each
    /// synced), printing `OPEN`, `ACK n` and `FAIL n` lines.
    #[command(hide = true)]
    Writer(WriterArgs),
    /// Test helper: read-only check that a record `writer --node N` appended
    /// as number SEQ is in the journal (prints FOUND or MISSING).
    #[command(hide = true)]
    Probe(ProbeArgs),
}

#[derive(Args)]
struct DirArg {
    /// The journal directory.
    dir: PathBuf,
}

#[derive(Args)]
struct CreateArgs {
    /// The journal directory.
    dir: PathBuf,
    /// Segment file size to check (multiple of 4096, 64 KiB ..= 1 GiB). The
    /// journal does not record it: each owner chooses its sizes when it opens
    /// the journal (the embedded node: 16 MiB).
    #[arg(long, default_value_t = JournalConfig::default().segment_bytes)]
    segment_bytes: u64,
    /// Most segment files to check (at least 2); not recorded either.
    #[arg(long, default_value_t = JournalConfig::default().max_segments)]
    max_segments: u32,
}

#[derive(Args)]
struct TakeoverArgs {
    /// The journal directory.
    dir: PathBuf,
    /// Yes, fence the current owner.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct SalvageArgs {
    /// The journal directory.
    dir: PathBuf,
    /// Yes, drop the damaged bytes and keep the rest.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct WriterArgs {
    dir: PathBuf,
    /// Open with Takeover::Force.
    #[arg(long)]
    force: bool,
    /// Records to append (0: only open and close).
    #[arg(long, default_value_t = 0)]
    count: u64,
    /// Append until an append fails.
    #[arg(long)]
    forever: bool,
    /// After the first failed append, attempt this many more (each must fail).
    #[arg(long, default_value_t = 0)]
    tries_after_failure: u64,
    /// Tid node number of the records (tells writers apart).
    #[arg(long, default_value_t = 1)]
    node: u32,
    /// Read one line from stdin before opening (a start signal).
    #[arg(long)]
    wait_go: bool,
    /// After the appends, keep owning the journal until stdin closes.
    #[arg(long)]
    hold: bool,
    #[arg(long, default_value_t = 1 << 20)]
    segment_bytes: u64,
    #[arg(long, default_value_t = 16)]
    max_segments: u32,
}

#[derive(Args)]
struct ProbeArgs {
    dir: PathBuf,
    #[arg(long)]
    node: u32,
    #[arg(long)]
    seq: u64,
}

pub fn run(a: JournalArgs) -> Result<(), String> {
    let json = a.json;
    if matches!(a.cmd, JournalCmd::Show(_) | JournalCmd::Dump(_) | JournalCmd::Verify(_)) {
        default_sigpipe();
    }
    let outcome = match a.cmd {
        JournalCmd::Create(c) => create(c, json),
        JournalCmd::Show(d) => show(&d.dir, json),
        JournalCmd::Dump(d) => dump(&d.dir, json),
        JournalCmd::Verify(d) => verify(&d.dir, json),
        JournalCmd::Takeover(t) => takeover(t, json),
        JournalCmd::Salvage(a) => salvage(a, json),
        JournalCmd::Writer(w) => writer(w),
        JournalCmd::Probe(p) => probe(p),
    };
    match outcome {
        Ok(0) => Ok(()),
        Ok(code) => {
            crate::out::flush();
            std::process::exit(code)
        }
        Err(msg) if json => {
            outln!("{}", Json::obj(vec![("ok", false.into()), ("error", msg.into())]));
            crate::out::flush();
            std::process::exit(EXIT_ERROR)
        }
        Err(msg) => Err(msg),
    }
}

/// The exit code (0 = success) of a command whose output is printed.
type Outcome = Result<i32, String>;

/// The read-only commands end quietly when their reader goes away (`rtr
/// journal dump DIR | head`) instead of failing on a broken pipe: the
/// default SIGPIPE action, which the Rust runtime replaces with "ignore".
fn default_sigpipe() {
    // SAFETY: resetting a signal's disposition to SIG_DFL installs no
    // handler and touches no memory; nothing else in this process relies on
    // SIGPIPE being ignored (the read-only commands start no child process
    // and write to no socket).
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

// ---------------------------------------------------------------- JSON

/// A JSON value, in the order its fields are given, written through
/// serde_json (escaping and number formatting as it does them). Non-finite
/// numbers become `null`; DEL is escaped too, so the output is plain
/// printable text.
pub enum Json {
    Null,
    Bool(bool),
    Int(i128),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(&'static str, Json)>),
}

impl Json {
    pub fn obj(fields: Vec<(&'static str, Json)>) -> Json {
        Json::Obj(fields)
    }
}

impl serde::Serialize for Json {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Int(i) => s.serialize_i128(*i),
            // serde_json writes a non-finite number as null.
            Json::Num(x) => s.serialize_f64(*x),
            Json::Str(v) => s.serialize_str(v),
            Json::Arr(v) => {
                let mut seq = s.serialize_seq(Some(v.len()))?;
                for x in v {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
            // A map, not serde_json's Value, so the fields keep their order.
            Json::Obj(v) => {
                let mut map = s.serialize_map(Some(v.len()))?;
                for (k, x) in v {
                    map.serialize_entry(k, x)?;
                }
                map.end()
            }
        }
    }
}

/// serde_json's compact output, with DEL escaped as `\u007f` (JSON allows
/// it raw; escaped, a terminal shows the output as it is).
struct NoDel;

impl serde_json::ser::Formatter for NoDel {
    fn write_string_fragment<W: ?Sized + std::io::Write>(&mut self, w: &mut W, fragment: &str) -> std::io::Result<()> {
        let mut parts = fragment.split('\u{7f}');
        if let Some(first) = parts.next() {
            w.write_all(first.as_bytes())?;
        }
        for part in parts {
            w.write_all(b"\\u007f")?;
            w.write_all(part.as_bytes())?;
        }
        Ok(())
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, NoDel);
        // Cannot fail: writing to a Vec does not, every key is a string and
        // a non-finite number is written as null.
        serde::Serialize::serialize(self, &mut ser).map_err(|_| fmt::Error)?;
        // serde_json writes only UTF-8.
        f.write_str(&String::from_utf8_lossy(&out))
    }
}

impl From<bool> for Json {
    fn from(b: bool) -> Json {
        Json::Bool(b)
    }
}
impl From<u64> for Json {
    fn from(n: u64) -> Json {
        Json::Int(n.into())
    }
}
impl From<u32> for Json {
    fn from(n: u32) -> Json {
        Json::Int(n.into())
    }
}
impl From<usize> for Json {
    fn from(n: usize) -> Json {
        Json::Int(n as i128)
    }
}
impl From<f64> for Json {
    fn from(x: f64) -> Json {
        Json::Num(x)
    }
}
impl From<&str> for Json {
    fn from(s: &str) -> Json {
        Json::Str(s.to_string())
    }
}
impl From<String> for Json {
    fn from(s: String) -> Json {
        Json::Str(s)
    }
}
impl From<&Path> for Json {
    fn from(p: &Path) -> Json {
        Json::Str(p.display().to_string())
    }
}
impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(o: Option<T>) -> Json {
        o.map_or(Json::Null, Into::into)
    }
}
impl<T: Into<Json>> From<Vec<T>> for Json {
    fn from(v: Vec<T>) -> Json {
        Json::Arr(v.into_iter().map(Into::into).collect())
    }
}

// ---------------------------------------------------------------- reading

/// Whether some process holds the journal's lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockState {
    /// Nobody holds it (we took it for an instant and released it).
    Free,
    /// Held, by this process when the system can tell (not on another
    /// machine of a network file system).
    Held(Option<u32>),
    /// No lock file.
    Missing,
    /// The lock could not be probed (e.g. a file system without locks).
    Unknown(String),
}

impl LockState {
    fn word(&self) -> &'static str {
        match self {
            LockState::Free => "free",
            LockState::Held(_) => "held",
            LockState::Missing => "missing",
            LockState::Unknown(_) => "unknown",
        }
    }

    fn explain(&self) -> String {
        match self {
            LockState::Free => "free (no process owns the journal now)".into(),
            LockState::Held(Some(pid)) => format!(
                "held by process {pid}{} (it owns the journal now, or it is a fenced owner that still runs)",
                process_name(*pid)
            ),
            LockState::Held(None) => "held (a process owns the journal now, or a fenced owner still runs)".into(),
            LockState::Missing => format!("no {LOCK_FILE} file"),
            LockState::Unknown(e) => format!("unknown (could not probe the lock: {e})"),
        }
    }
}

/// " (name)" of a running process, from /proc; empty when unknown.
fn process_name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).map_or(String::new(), |n| format!(" ({})", n.trim()))
}

/// Probes the lock: takes it without waiting and releases it at once. (An
/// owner opening in that instant would find it locked; `open` fails cleanly
/// then and can be retried.) Opened read-write, as the owner does, because on
/// a network file system an exclusive lock needs a writable descriptor.
pub fn probe_lock(dir: &Path) -> LockState {
    let p = dir.join(LOCK_FILE);
    let file = match OpenOptions::new().read(true).write(true).open(&p) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return LockState::Missing,
        Err(e) => return LockState::Unknown(e.to_string()),
    };
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            LockState::Free
        }
        Err(TryLockError::WouldBlock) => LockState::Held(journal::Storage::lock_holder(&journal::RealFs, &p)),
        Err(TryLockError::Error(e)) => LockState::Unknown(e.to_string()),
    }
}

fn scan(dir: &Path) -> Result<JournalScan, String> {
    journal::scan(dir).map_err(|e| match e {
        JournalError::NotFound { .. } => format!(
            "{} is not a journal directory (no {EPOCH_FILE} file and no segment files); create one with `rtr journal create`",
            dir.display()
        ),
        e => e.to_string(),
    })
}

const HEX_PREVIEW: usize = 16;

fn hex_preview(b: &[u8]) -> String {
    let mut s = String::new();
    for x in b.iter().take(HEX_PREVIEW) {
        let _ = write!(s, "{x:02x}");
    }
    if b.len() > HEX_PREVIEW {
        s.push_str("...");
    }
    s
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn kind_name(k: RecordKind) -> &'static str {
    match k {
        RecordKind::Msg => "Msg",
        RecordKind::Vote => "Vote",
        RecordKind::Commit => "Commit",
        RecordKind::Abort => "Abort",
        RecordKind::Done => "Done",
        RecordKind::Fence => "Fence",
        RecordKind::Exception => "Exception",
        RecordKind::Meta => "Meta",
        RecordKind::Applied => "Applied",
        RecordKind::HandOn => "HandOn",
        RecordKind::Carried => "Carried",
        RecordKind::Drive => "Drive",
        RecordKind::Bound => "Bound",
        RecordKind::Seq => "Seq",
        RecordKind::Restated => "Restated",
    }
}

fn problem_kind_name(k: ProblemKind) -> &'static str {
    match k {
        ProblemKind::TornTail => "torn-tail",
        ProblemKind::UnfinishedSegment => "unfinished-segment",
        ProblemKind::StaleDebris => "stale-debris",
        ProblemKind::Corrupt => "corrupt",
    }
}

/// A record's payload in words and in JSON fields. Transaction records are
/// read with the node's own decoder (`rtr_core::txrecord`); a payload it
/// refuses is shown as bytes with the reason.
fn payload_summary(e: &ScanEntry) -> (String, Vec<(&'static str, Json)>) {
    let p = &e.record.payload;
    if e.record.kind == RecordKind::Fence {
        return match Seal::decode(p) {
            Some(s) => (
                format!("seals epoch {} at segment {} offset {}", s.epoch, s.segment, s.offset),
                vec![
                    ("sealed_epoch", s.epoch.into()),
                    ("seal_segment", s.segment.into()),
                    ("seal_offset", s.offset.into()),
                ],
            ),
            None => (format!("malformed fence, {} bytes", p.len()), vec![("payload_bytes", p.len().into())]),
        };
    }
    match TxRecord::decode(e.record.kind, p) {
        Ok(TxRecord::Msg { facility, data } | TxRecord::HandOn { facility, data }) => (
            format!("facility {facility}, {} data bytes: {}", data.len(), hex_preview(&data)),
            vec![
                ("facility", facility.into()),
                ("data_bytes", data.len().into()),
                ("data_hex", hex_preview(&data).into()),
            ],
        ),
        Ok(TxRecord::Vote { durable: true }) => ("durable".into(), vec![("durable", true.into())]),
        Ok(TxRecord::Vote { durable: false }) => (String::new(), vec![("durable", false.into())]),
        Ok(TxRecord::Commit { reason }) => (format!("reason {reason}"), vec![("reason", reason.into())]),
        Ok(TxRecord::Abort | TxRecord::Done | TxRecord::Applied) => (String::new(), vec![]),
        Ok(TxRecord::PresumedAbort) => ("presumed by a recovery".into(), vec![("presumed", true.into())]),
        Ok(TxRecord::KeptAbort) => ("kept until its router forgets it".into(), vec![("kept", true.into())]),
        Ok(TxRecord::Carried { committed }) => (
            format!(
                "restates {} kept answerable (its earlier records pin nothing)",
                if committed { "an applied commit" } else { "a rejection" }
            ),
            vec![("carried", true.into()), ("committed", committed.into())],
        ),
        Ok(TxRecord::Restated) => (
            "the messages after this restate all of the transaction's (a full journal refused some before)".into(),
            vec![("restated", true.into())],
        ),
        Ok(TxRecord::Drive { drive }) => (
            format!("promised to drive {drive}: no router of an earlier drive decides it here"),
            vec![("drive", drive.into())],
        ),
        Ok(TxRecord::Bound { drive }) => (
            format!("answered an inquiry \"unknown\": no branch of drive {drive} or earlier starts here"),
            vec![("bound", drive.into())],
        ),
        Ok(TxRecord::Seq { range, pos, mark }) => (
            match mark {
                SeqMark::Remembered => {
                    format!("shadow range {range}: remembered as {}.{} for the other site", pos.0, pos.1)
                }
                SeqMark::Released => format!("shadow range {range}: the other site applied {}.{}", pos.0, pos.1),
                SeqMark::Applied => format!("shadow range {range}: applied the other site's entry {}.{}", pos.0, pos.1),
            },
            vec![
                ("range", range.as_str().into()),
                ("series", Json::Int(pos.0.into())),
                ("seq", Json::Int(pos.1.into())),
                (
                    "mark",
                    match mark {
                        SeqMark::Remembered => "remembered",
                        SeqMark::Released => "released",
                        SeqMark::Applied => "applied",
                    }
                    .into(),
                ),
            ],
        ),
        Ok(TxRecord::Exception { status, strikes, committed }) => (
            format!(
                "status {} ({status}), {strikes} strikes, {}",
                rtr_core::Status::from_code(status).map_or("an unknown status", |s| s.name()),
                if committed { "committed" } else { "not committed" }
            ),
            vec![("status", Json::Int(status.into())), ("strikes", strikes.into()), ("committed", committed.into())],
        ),
        Err(_) if p.is_empty() => (String::new(), vec![]),
        Err(why) => (
            format!("malformed payload ({why}), {} bytes: {}", p.len(), hex_preview(p)),
            vec![
                ("malformed", why.to_string().into()),
                ("payload_bytes", p.len().into()),
                ("payload_hex", hex_preview(p).into()),
            ],
        ),
    }
}

/// The transactions with records and no Done record, classified the way
/// the node's recovery classifies them (`rtr_core::txrecord::classify`:
/// the same code, so the tool and the node cannot disagree), each with
/// the position of its first record. Records a fenced owner wrote after
/// its seal are left out, as recovery leaves them out.
fn live_transactions(scan: &JournalScan) -> Vec<(TxSummary, (u64, u64))> {
    let kept: Vec<&ScanEntry> = scan.entries.iter().filter(|e| !e.stale).collect();
    classify(kept.iter().map(|e| &e.record))
        .txs
        .into_iter()
        .filter(|t| t.fate() != TxFate::Done)
        .map(|t| {
            let at = (kept[t.first].segment, kept[t.first].offset);
            (t, at)
        })
        .collect()
}

fn problems_json(scan: &JournalScan) -> Json {
    Json::Arr(
        scan.problems
            .iter()
            .map(|p| {
                Json::obj(vec![
                    ("kind", problem_kind_name(p.kind).into()),
                    ("file", p.file.as_path().into()),
                    ("segment", p.segment.into()),
                    ("offset", p.offset.into()),
                    ("why", p.why.clone().into()),
                    ("resumes_at", p.resumes_at.into()),
                    ("records_after", p.records_after.into()),
                    ("bytes_after", p.bytes_after.into()),
                ])
            })
            .collect(),
    )
}

/// One line per problem, saying what an open would do about it.
fn problem_line(p: &journal::Problem) -> String {
    let at = format!("{} at offset {}", p.file.display(), p.offset);
    match p.kind {
        ProblemKind::Corrupt => format!("CORRUPT: {at}: {}", p.why),
        ProblemKind::TornTail => format!(
            "WARNING: torn tail in {at}: {}; no valid record follows it; recovery will truncate the segment there \
             (a write cut short by a crash; a bit flip in the last record looks the same)",
            p.why
        ),
        ProblemKind::UnfinishedSegment => format!(
            "WARNING: unfinished segment {at}: {}; recovery will remove this file (its creation did not finish; \
             it holds no acknowledged record)",
            p.why
        ),
        ProblemKind::StaleDebris => {
            format!("note: debris of a fenced owner in {at}: {} (past its seal; ignored)", p.why)
        }
    }
}

// ---------------------------------------------------------------- commands

fn create(a: CreateArgs, json: bool) -> Outcome {
    let cfg = JournalConfig { dir: a.dir.clone(), segment_bytes: a.segment_bytes, max_segments: a.max_segments };
    journal::create(&cfg).map_err(|e| match e {
        JournalError::Exists { .. } => format!("a journal already exists in {} (nothing changed)", a.dir.display()),
        e => e.to_string(),
    })?;
    if json {
        outln!(
            "{}",
            Json::obj(vec![
                ("ok", true.into()),
                ("dir", a.dir.as_path().into()),
                ("epoch", 0u64.into()),
                ("segment_bytes", a.segment_bytes.into()),
                ("max_segments", a.max_segments.into()),
            ])
        );
    } else {
        outln!("created an empty journal in {} (owner epoch 0, no segments yet)", a.dir.display());
        outln!(
            "segments of {} bytes, at most {}, are valid sizes; the owner creates its segments when it opens \
             the journal, with the sizes it is configured with",
            a.segment_bytes,
            a.max_segments
        );
    }
    Ok(0)
}

fn show(dir: &Path, json: bool) -> Outcome {
    let scan = scan(dir)?;
    let lock = probe_lock(dir);
    let live = live_transactions(&scan);
    let fences = scan.entries.iter().filter(|e| e.record.kind == RecordKind::Fence).count();
    let stale = scan.entries.iter().filter(|e| e.stale).count();
    let on_disk: u64 = scan.segments.iter().map(|s| s.file_bytes).sum();
    if json {
        let segments = scan
            .segments
            .iter()
            .map(|s| {
                Json::obj(vec![
                    ("number", s.number.into()),
                    ("file", s.path.as_path().into()),
                    ("created_epoch", s.created_epoch.into()),
                    ("bytes_used", s.data_end.into()),
                    ("file_bytes", s.file_bytes.into()),
                    ("records", s.records.into()),
                ])
            })
            .collect();
        let live_json = live
            .iter()
            .map(|(t, (segment, offset))| {
                Json::obj(vec![
                    ("tid", t.tid.to_string().into()),
                    ("state", t.fate().word().into()),
                    ("explain", t.fate().explain().into()),
                    ("facility", t.facility.clone().into()),
                    ("messages", t.msg_records.into()),
                    ("voted", t.voted.into()),
                    ("durable_vote", t.durable_vote.into()),
                    ("commit_reason", t.commit.map(|c| c.reason).into()),
                    ("strikes", t.set_aside.into()),
                    ("first_segment", (*segment).into()),
                    ("first_offset", (*offset).into()),
                ])
            })
            .collect();
        let lock_json = match &lock {
            LockState::Unknown(e) => Json::obj(vec![("state", lock.word().into()), ("error", e.clone().into())]),
            LockState::Held(Some(pid)) => {
                Json::obj(vec![("state", lock.word().into()), ("pid", u64::from(*pid).into())])
            }
            _ => Json::obj(vec![("state", lock.word().into())]),
        };
        outln!(
            "{}",
            Json::obj(vec![
                ("ok", true.into()),
                ("dir", dir.into()),
                ("epoch", scan.epoch.into()),
                ("lock", lock_json),
                ("segments", Json::Arr(segments)),
                ("bytes_on_disk", on_disk.into()),
                ("records", scan.entries.len().into()),
                ("fence_records", fences.into()),
                ("stale_records", stale.into()),
                ("live_transactions", Json::Arr(live_json)),
                ("problems", problems_json(&scan)),
                ("clean", scan.is_clean().into()),
                ("opens", (!scan.is_corrupt()).into()),
            ])
        );
        return Ok(0);
    }
    outln!("journal      {}", dir.display());
    match scan.epoch {
        Some(e) => outln!("owner epoch  {e} (the next owner takes {})", e.saturating_add(1)),
        None => outln!("owner epoch  unreadable (see problems)"),
    }
    outln!("lock         {}", lock.explain());
    outln!("segments     {} ({on_disk} bytes on disk)", scan.segments.len());
    if !scan.segments.is_empty() {
        outln!("  {:>6}  {:<27} {:>7}  {:>23}  {:>7}", "number", "file", "epoch", "bytes used / file size", "records");
        for s in &scan.segments {
            let name = s.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let epoch = s.created_epoch.map_or("?".to_string(), |e| e.to_string());
            outln!(
                "  {:>6}  {:<27} {:>7}  {:>23}  {:>7}",
                s.number,
                name,
                epoch,
                format!("{} / {}", s.data_end, s.file_bytes),
                s.records
            );
        }
    }
    outln!("records      {} ({fences} fence, {stale} stale: written by a fenced owner, ignored)", scan.entries.len());
    outln!("live transactions  {}", live.len());
    for (t, _) in &live {
        let mut what = Vec::new();
        if let Some(f) = &t.facility {
            what.push(format!("facility {f}"));
        }
        what.push(plural(t.msg_records, "message"));
        if t.durable_vote {
            what.push("durable vote".into());
        } else if t.voted {
            what.push("voted".into());
        }
        if let Some(c) = t.commit {
            what.push(format!("reason {}", c.reason));
        }
        if let Some(n) = t.set_aside {
            what.push(plural(n as usize, "strike"));
        }
        outln!("  {}  {:<27} {}: {}", t.tid, t.fate().word(), what.join(", "), t.fate().explain());
    }
    if scan.problems.is_empty() {
        outln!("problems     none (the journal opens cleanly)");
    } else {
        outln!("problems     {}", scan.problems.len());
        for p in &scan.problems {
            outln!("  {}", problem_line(p));
        }
        if scan.is_corrupt() {
            outln!("  the journal will NOT open until the corruption is dealt with");
        }
    }
    Ok(0)
}

fn dump(dir: &Path, json: bool) -> Outcome {
    let scan = scan(dir)?;
    if json {
        let records = scan
            .entries
            .iter()
            .map(|e| {
                let (_, mut fields) = payload_summary(e);
                let mut v = vec![
                    ("segment", e.segment.into()),
                    ("offset", e.offset.into()),
                    ("epoch", e.record.epoch.into()),
                    ("tid", e.record.tid.to_string().into()),
                    ("kind", kind_name(e.record.kind).into()),
                    ("stale", e.stale.into()),
                ];
                v.append(&mut fields);
                Json::obj(v)
            })
            .collect();
        outln!(
            "{}",
            Json::obj(vec![
                ("ok", true.into()),
                ("dir", dir.into()),
                ("epoch", scan.epoch.into()),
                ("records", Json::Arr(records)),
                ("problems", problems_json(&scan)),
            ])
        );
        return Ok(0);
    }
    let mut w = std::io::BufWriter::new(std::io::stdout().lock());
    let mut text = || -> std::io::Result<()> {
        writeln!(w, "{:>8} {:>10} {:>6}  {:<27} {:<9} detail", "segment", "offset", "epoch", "tid", "kind")?;
        for e in &scan.entries {
            let (detail, _) = payload_summary(e);
            let stale =
                if e.stale { "  [STALE: written by a fenced owner after its seal; recovery ignores it]" } else { "" };
            writeln!(
                w,
                "{:>8} {:>10} {:>6}  {:<27} {:<9} {detail}{stale}",
                e.segment,
                e.offset,
                e.record.epoch,
                e.record.tid.to_string(),
                kind_name(e.record.kind)
            )?;
        }
        writeln!(w, "{} in {}", plural(scan.entries.len(), "record"), plural(scan.segments.len(), "segment"))?;
        for p in &scan.problems {
            writeln!(w, "{}", problem_line(p))?;
        }
        w.flush()
    };
    text().map_err(|e| format!("writing the dump: {e}"))?;
    Ok(0)
}

fn verify(dir: &Path, json: bool) -> Outcome {
    let scan = scan(dir)?;
    let lock = probe_lock(dir);
    let opens = !scan.is_corrupt();
    let code = if opens { 0 } else { EXIT_CORRUPT };
    if json {
        outln!(
            "{}",
            Json::obj(vec![
                ("ok", opens.into()),
                ("dir", dir.into()),
                ("epoch", scan.epoch.into()),
                ("segments", scan.segments.len().into()),
                ("records", scan.entries.len().into()),
                ("lock", lock.word().into()),
                ("clean", scan.is_clean().into()),
                ("opens", opens.into()),
                ("problems", problems_json(&scan)),
            ])
        );
        return Ok(code);
    }
    let epoch = scan.epoch.map_or("unreadable".to_string(), |e| e.to_string());
    outln!(
        "verify {}: {}, {}, owner epoch {epoch}",
        dir.display(),
        plural(scan.segments.len(), "segment"),
        plural(scan.entries.len(), "record")
    );
    if matches!(lock, LockState::Held(_)) {
        outln!("note: an owner holds the lock; this is a moment's view (a write in progress may look torn)");
    }
    for p in &scan.problems {
        outln!("{}", problem_line(p));
    }
    if !opens {
        outln!(
            "FAILED: the journal will not open: damage that recovery cannot explain by a crash. Keep a copy of \
             the directory; restore the named file from a copy, or move the journal aside."
        );
        if salvageable(&scan) {
            outln!(
                "Or keep what is valid: `rtr journal salvage {} --force` drops the damaged bytes and keeps every \
                 valid record (what the damaged bytes held is lost; see `rtr journal salvage --help`).",
                dir.display()
            );
        }
    } else if scan.is_clean() {
        outln!("OK: the journal opens cleanly");
    } else {
        outln!("OK: the journal opens; recovery repairs what is listed above");
    }
    Ok(code)
}

/// The sizes to open an existing journal with for a takeover: its segments'
/// size (so the new owner's first segment matches), the default otherwise.
fn config_for(dir: &Path, scan: &JournalScan) -> JournalConfig {
    let d = JournalConfig::default();
    let size = scan
        .segments
        .last()
        .map(|s| s.file_bytes)
        .filter(|&b| (journal::MIN_SEGMENT_BYTES..=journal::MAX_SEGMENT_BYTES).contains(&b) && b.is_multiple_of(4096))
        .unwrap_or(d.segment_bytes);
    let max = (scan.segments.len() as u32).saturating_add(1).max(d.max_segments);
    JournalConfig { dir: dir.to_path_buf(), segment_bytes: size, max_segments: max }
}

fn takeover(a: TakeoverArgs, json: bool) -> Outcome {
    let dir = a.dir.as_path();
    let before = scan(dir)?;
    let lock = probe_lock(dir);
    let old = before.epoch;
    if !a.force {
        let why = format!(
            "refusing to take over {} without --force. A takeover fences the current owner (epoch {}; lock {}): \
             its next write fails and it stops for good. Use it only when that owner is gone or has lost its lock \
             (e.g. an expired network-file-system lease); a running owner should be stopped instead.",
            dir.display(),
            old.map_or("unreadable".to_string(), |e| e.to_string()),
            lock.word()
        );
        if json {
            outln!("{}", Json::obj(vec![("ok", false.into()), ("error", why.into())]));
        } else {
            errln!("rtr: {why}");
        }
        return Ok(EXIT_REFUSED);
    }
    let cfg = config_for(dir, &before);
    let (j, recovered) = journal::open(&cfg, Takeover::Force).map_err(|e| format!("takeover failed: {e}"))?;
    let new = j.epoch();
    drop(j);
    // The seal this owner wrote: the Fence record of the new epoch.
    let seal = journal::scan(dir).ok().and_then(|s| {
        s.entries
            .iter()
            .rev()
            .find(|e| e.record.kind == RecordKind::Fence && e.record.epoch == new)
            .and_then(|e| Seal::decode(&e.record.payload))
    });
    let previous = new.saturating_sub(1);
    if json {
        let seal_json = seal.map_or(Json::Null, |s| {
            Json::obj(vec![("epoch", s.epoch.into()), ("segment", s.segment.into()), ("offset", s.offset.into())])
        });
        let truncated = recovered
            .truncated
            .as_ref()
            .map_or(Json::Null, |(f, off)| Json::obj(vec![("file", f.as_path().into()), ("offset", (*off).into())]));
        let cuts = cuts_json(&recovered.cuts);
        outln!(
            "{}",
            Json::obj(vec![
                ("ok", true.into()),
                ("dir", dir.into()),
                ("old_epoch", previous.into()),
                ("new_epoch", new.into()),
                ("lock_before", lock.word().into()),
                ("seal", seal_json),
                ("records_kept", recovered.records.len().into()),
                ("truncated", truncated),
                ("cuts", cuts),
            ])
        );
        return Ok(0);
    }
    outln!("takeover of {}: owner epoch {previous} -> {new}", dir.display());
    match lock {
        LockState::Held(_) => outln!("the lock was held by another process: taken over without it (fencing protects)"),
        LockState::Free => outln!("the lock was free (no running owner)"),
        _ => outln!("the lock: {}", lock.explain()),
    }
    if let Some(s) = seal {
        outln!(
            "epoch {} is fenced: its data is sealed at segment {} offset {}; it acknowledges nothing more and \
             recovery ignores anything it writes from now on",
            s.epoch,
            s.segment,
            s.offset
        );
    }
    if recovered.cuts.is_empty() {
        outln!("recovery: nothing to repair");
    }
    for c in &recovered.cuts {
        outln!("recovery {c}");
    }
    outln!("{} records kept; the journal is closed again and ready for its next owner", recovered.records.len());
    Ok(0)
}

/// Whether `salvage` can deal with every reason the journal will not open:
/// damaged records (not a segment header, not the epoch file).
fn salvageable(scan: &JournalScan) -> bool {
    let mut corrupt = scan.problems.iter().filter(|p| p.kind == ProblemKind::Corrupt).peekable();
    corrupt.peek().is_some() && corrupt.all(|p| p.segment != 0 && p.offset >= journal::format::HEADER_BYTES)
}

fn cut_kind_name(k: CutKind) -> &'static str {
    match k {
        CutKind::TornTail => "torn-tail",
        CutKind::UnfinishedSegment => "unfinished-segment",
        CutKind::Salvaged => "salvaged",
    }
}

fn cuts_json(cuts: &[Cut]) -> Json {
    Json::Arr(
        cuts.iter()
            .map(|c| {
                Json::obj(vec![
                    ("kind", cut_kind_name(c.kind).into()),
                    ("file", c.file.as_path().into()),
                    ("offset", c.offset.into()),
                    ("bytes", c.bytes.into()),
                    ("why", c.why.clone().into()),
                ])
            })
            .collect(),
    )
}

/// What salvage would drop and keep for one corruption problem.
fn salvage_plan_line(p: &journal::Problem) -> String {
    let at = format!("{} at offset {}", p.file.display(), p.offset);
    if p.segment == 0 || p.offset < journal::format::HEADER_BYTES {
        return format!("cannot salvage {at}: {} (restore the file from a copy)", p.why);
    }
    match p.resumes_at {
        Some(q) => format!(
            "would drop the damaged bytes {at} up to offset {q} and keep the {} ({} bytes) after them",
            plural(p.records_after, "valid record"),
            p.bytes_after
        ),
        None => format!("would drop the damaged bytes {at} to the end of the segment (no valid record follows them)"),
    }
}

fn salvage(a: SalvageArgs, json: bool) -> Outcome {
    let dir = a.dir.as_path();
    let before = scan(dir)?;
    let corrupt: Vec<_> = before.problems.iter().filter(|p| p.kind == ProblemKind::Corrupt).collect();
    if corrupt.is_empty() {
        let msg = format!(
            "nothing to salvage in {}: the journal opens (recovery repairs what `rtr journal verify` lists); \
             nothing changed",
            dir.display()
        );
        if json {
            outln!("{}", Json::obj(vec![("ok", true.into()), ("dir", dir.into()), ("changed", false.into())]));
        } else {
            outln!("{msg}");
        }
        return Ok(0);
    }
    let plan: Vec<String> = corrupt.iter().map(|p| salvage_plan_line(p)).collect();
    if !salvageable(&before) {
        let why = format!("salvage cannot repair {}: {}", dir.display(), plan.join("; "));
        if json {
            outln!("{}", Json::obj(vec![("ok", false.into()), ("error", why.into())]));
        } else {
            errln!("rtr: {why}");
        }
        return Ok(EXIT_CORRUPT);
    }
    if !a.force {
        let why = format!(
            "refusing to salvage {} without --force. Salvage drops damaged bytes for good, and a transaction whose \
             record was there may come back incomplete; restoring the damaged file from a copy loses nothing.",
            dir.display()
        );
        if json {
            let plan_json = plan.iter().map(|l| Json::from(l.as_str())).collect();
            outln!(
                "{}",
                Json::obj(vec![
                    ("ok", false.into()),
                    ("error", why.into()),
                    ("plan", Json::Arr(plan_json)),
                    ("problems", problems_json(&before)),
                ])
            );
        } else {
            for l in &plan {
                outln!("{l}");
            }
            errln!("rtr: {why}");
        }
        return Ok(EXIT_REFUSED);
    }
    let cfg = config_for(dir, &before);
    let (j, recovered) = journal::salvage(&cfg).map_err(|e| match e {
        JournalError::Locked { .. } => {
            format!("salvage refused: a process owns the journal in {} (stop it first; nothing changed)", dir.display())
        }
        e => format!("salvage failed: {e}"),
    })?;
    let epoch = j.epoch();
    drop(j);
    let mut kept_files: Vec<PathBuf> = Vec::new();
    for c in recovered.cuts.iter().filter(|c| c.kind == CutKind::Salvaged) {
        let kept = journal::damaged_copy(&c.file, epoch);
        if !kept_files.contains(&kept) {
            kept_files.push(kept);
        }
    }
    if json {
        outln!(
            "{}",
            Json::obj(vec![
                ("ok", true.into()),
                ("dir", dir.into()),
                ("changed", true.into()),
                ("new_epoch", epoch.into()),
                ("cuts", cuts_json(&recovered.cuts)),
                ("records_kept", recovered.records.len().into()),
                ("damaged_files_kept", kept_files.iter().map(|p| Json::from(p.as_path())).collect::<Vec<_>>().into()),
            ])
        );
        return Ok(0);
    }
    outln!("salvage of {}: owner epoch {epoch}", dir.display());
    for c in &recovered.cuts {
        outln!("{c}");
    }
    outln!(
        "{} kept; the journal opens again. The damaged files are kept as {} (not part of the journal; remove \
         them when you no longer need them)",
        plural(recovered.records.len(), "record"),
        kept_files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    );
    Ok(0)
}

// ---------------------------------------------------------------- helpers

/// The Msg payload the `writer` helper appends as record number `seq`.
pub fn test_payload(node: u32, seq: u64) -> Vec<u8> {
    let mut data = seq.to_le_bytes().to_vec();
    data.extend_from_slice(&node.to_le_bytes());
    TxRecord::Msg { facility: "TEST".into(), data: data.into() }.encode().1
}

pub fn test_tid(node: u32, epoch: u64, seq: u64) -> Tid {
    Tid { node, incarnation: epoch as u32, conn: 0, seq }
}

pub fn exit_code_for(e: &JournalError) -> i32 {
    match e {
        JournalError::Locked { .. } => EXIT_LOCKED,
        JournalError::Fenced { .. } => EXIT_FENCED,
        JournalError::Full => EXIT_FULL,
        _ => EXIT_JOURNAL_ERROR,
    }
}

fn error_word(e: &JournalError) -> &'static str {
    match e {
        JournalError::Locked { .. } => "locked",
        JournalError::Fenced { .. } => "fenced",
        JournalError::Full => "full",
        JournalError::Poisoned => "poisoned",
        JournalError::Io { .. } => "io",
        JournalError::NotFound { .. } => "notfound",
        JournalError::Corrupt { .. } => "corrupt",
        _ => "other",
    }
}

fn read_line() -> Option<String> {
    let mut s = String::new();
    match std::io::stdin().lock().read_line(&mut s) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(s),
    }
}

/// `rtr journal writer`: prints `OPEN epoch=E recovered=R` (or
/// `OPENFAIL <word> <error>` and exits with its code), then `ACK n` for each
/// acknowledged record and `FAIL n <word> <error>` for each failed one; exits
/// with the first failure's code.
fn writer(a: WriterArgs) -> Outcome {
    if a.wait_go {
        let _ = read_line();
    }
    let cfg = JournalConfig { dir: a.dir.clone(), segment_bytes: a.segment_bytes, max_segments: a.max_segments };
    let takeover = if a.force { Takeover::Force } else { Takeover::Normal };
    let (j, rec) = match journal::open(&cfg, takeover) {
        Ok(x) => x,
        Err(e) => {
            outln!("OPENFAIL {} {e}", error_word(&e));
            return Ok(exit_code_for(&e));
        }
    };
    outln!("OPEN epoch={} recovered={}", j.epoch(), rec.records.len());
    let mut first_failure: Option<i32> = None;
    let mut tries_left = a.tries_after_failure;
    let mut seq = 0u64;
    loop {
        if first_failure.is_some() {
            if tries_left == 0 {
                break;
            }
            tries_left -= 1;
        } else if !a.forever && seq >= a.count {
            break;
        }
        seq += 1;
        let tid = test_tid(a.node, j.epoch(), seq);
        match j.append_wait(vec![(tid, RecordKind::Msg, test_payload(a.node, seq))], true) {
            Ok(()) => outln!("ACK {seq}"),
            Err(e) => {
                outln!("FAIL {seq} {} {e}", error_word(&e));
                first_failure.get_or_insert(exit_code_for(&e));
            }
        }
    }
    if a.hold {
        while read_line().is_some() {}
    }
    drop(j);
    outln!("CLOSED");
    Ok(first_failure.unwrap_or(0))
}

/// `rtr journal probe`: a read-only look for `writer --node N`'s record SEQ.
fn probe(a: ProbeArgs) -> Outcome {
    let scan = scan(&a.dir)?;
    let want = test_payload(a.node, a.seq);
    let found = scan
        .entries
        .iter()
        .find(|e| !e.stale && e.record.tid.node == a.node && e.record.tid.seq == a.seq && e.record.payload == want);
    match found {
        Some(e) => {
            outln!("FOUND segment {} offset {} epoch {}", e.segment, e.offset, e.record.epoch);
            Ok(0)
        }
        None => {
            outln!("MISSING node {} seq {}", a.node, a.seq);
            Ok(EXIT_ERROR)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes_strings() {
        let j = Json::obj(vec![
            ("s", "a\"b\\c\nd\te\u{1}\u{7f}é".into()),
            ("n", Json::Num(f64::NAN)),
            ("x", 1.5f64.into()),
            ("v", vec![1u64, 2].into()),
            ("o", Option::<u64>::None.into()),
        ]);
        assert_eq!(j.to_string(), r#"{"s":"a\"b\\c\nd\te\u0001\u007fé","n":null,"x":1.5,"v":[1,2],"o":null}"#);
    }

    #[test]
    fn json_keeps_field_order_and_writes_every_number_so_it_parses_back() {
        let j = Json::obj(vec![
            ("z", u64::MAX.into()),
            ("a", Json::Int(i128::from(i64::MIN))),
            ("m", Json::Num(f64::INFINITY)),
            ("f", 0.1f64.into()),
            ("big", 1e300f64.into()),
            ("k\u{7f}", Json::Obj(vec![])),
        ]);
        let text = j.to_string();
        assert_eq!(
            text,
            r#"{"z":18446744073709551615,"a":-9223372036854775808,"m":null,"f":0.1,"big":1e+300,"k\u007f":{}}"#
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["z"].as_u64(), Some(u64::MAX));
        assert_eq!(v["big"].as_f64(), Some(1e300));
    }

    #[test]
    fn msg_payload_round_trip() {
        let p = test_payload(7, 9);
        let Ok(TxRecord::Msg { facility, data }) = TxRecord::decode(RecordKind::Msg, &p) else { panic!("{p:?}") };
        assert_eq!(facility, "TEST");
        assert_eq!(data.len(), 12);
        assert_eq!(hex_preview(&[0xab; 20]), format!("{}...", "ab".repeat(16)));
        assert!(TxRecord::decode(RecordKind::Msg, &[5, b'a']).is_err());
    }
}
