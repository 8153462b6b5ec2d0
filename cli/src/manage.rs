//! `rtr create facility`, `rtr delete facility`, `rtr show facility|
//! partition|server|transaction|link|metrics`: management of a running node daemon
//! over its Unix socket (an admin connection: admin request frames, one
//! answer each; see `rtr_core::protocol::admin`).
//!
//! Output is a table with aligned columns, like RTR's SHOW commands, or with
//! `--json` one JSON object (also for errors: `{"ok":false,"code":...,
//! "error":...}`). Refusals print RTR-style, `%RTR-E-DUPNODNAM, ...`, and
//! exit with 1.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use rtr_core::protocol::admin::{
    AdminError, AdminReply, AdminRequest, BranchInfo, FacilityInfo, LinkInfo, PartitionInfo, ServerInfo,
    TransactionInfo,
};
use rtr_core::protocol::codec::{self, Frame};

use crate::journal_cmd::Json;
use crate::link_state::LinkState;

/// Which node to talk to.
#[derive(Args, Clone)]
pub struct Target {
    /// The node's directory (as given to `rtr start`).
    #[arg(long, default_value = "rtr-node")]
    pub dir: PathBuf,
    /// The node's socket, if `rtr start` was given another one (default: DIR/rtr.sock).
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// Print one JSON object instead of text (for scripts).
    #[arg(long)]
    pub json: bool,
}

impl Target {
    fn socket(&self) -> PathBuf {
        self.socket.clone().unwrap_or_else(|| self.dir.join("rtr.sock"))
    }
}

#[derive(Subcommand)]
pub enum CreateCmd {
    /// Define a facility on this node: which nodes are its frontends,
    /// routers and backends (RTR's CREATE FACILITY).
    Facility(CreateFacilityArgs),
}

#[derive(Args)]
pub struct CreateFacilityArgs {
    /// Facility name: 1 to 31 characters, starting with a letter (case does not matter).
    name: String,
    /// Frontend nodes, comma-separated, in the order of preference.
    #[arg(long, value_delimiter = ',', value_name = "NODES")]
    frontend: Vec<String>,
    /// Router nodes, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "NODES")]
    router: Vec<String>,
    /// Backend nodes, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "NODES")]
    backend: Vec<String>,
    /// Nodes with every role (added to each list).
    #[arg(long = "all-roles", value_delimiter = ',', value_name = "NODES")]
    all_roles: Vec<String>,
    #[command(flatten)]
    target: Target,
}

#[derive(Subcommand)]
pub enum DeleteCmd {
    /// Remove a facility definition from this node (channels open on it stay open).
    Facility {
        name: String,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Subcommand)]
pub enum ShowCmd {
    /// Facilities: defined ones and those in use without a definition.
    Facility(Target),
    /// Partitions (key ranges) of this node's backend.
    Partition(Target),
    /// Server channels.
    Server(Target),
    /// Transactions in progress, with each role's state.
    Transaction(Target),
    /// Links to other nodes.
    Link(Target),
    /// The node's counters: transactions (by outcome and status, commit
    /// latency), journal (fill, fsync time, group commits), links (bytes),
    /// partitions (in flight, queued) and library connections.
    Metrics(Target),
}

#[derive(Subcommand)]
pub enum SetCmd {
    /// Change a partition: suspend or resume presentation, set its retry
    /// limit or priority list, decide a recovery that cannot reach its journal.
    Partition(SetPartitionArgs),
    /// Resolve a transaction set aside by the retry limit (`rtr show
    /// transaction` lists them as EXCEPTION): forget it, or present it again.
    /// `--forget` also frees a commit the journal keeps answerable for a
    /// router that will not say to forget it (`rtr journal show`:
    /// committed-applied-answerable). `--state pri_done --new-state done
    /// --partition F:ID` sets commits a shadow primary remembers for the
    /// other site done (`*`: all of them), so that site replays none.
    Transaction(SetTransactionArgs),
}

#[derive(Args)]
pub struct SetPartitionArgs {
    /// FACILITY:ID, the id as `rtr show partition` prints it.
    partition: String,
    /// Stop presenting transactions to its servers (those in progress go on).
    #[arg(long, conflicts_with_all = ["resume"])]
    suspend: bool,
    /// Present transactions again.
    #[arg(long)]
    resume: bool,
    /// How many servers a transaction may take down before it is set aside.
    #[arg(long, value_name = "N")]
    retry_limit: Option<u32>,
    /// A partition waiting for a lost node's journal (lcl_rec_fail) becomes
    /// active without it: that node's unfinished work is not replayed.
    #[arg(long, conflicts_with = "restart_recovery")]
    ignore_recovery: bool,
    /// Try again to take over the lost node's journal.
    #[arg(long)]
    restart_recovery: bool,
    /// Backend nodes in the order they should become active for the key
    /// range when the active one is lost (RTR's relative priority); set it
    /// alike on every backend of the range. An empty value restores the
    /// facility's backend order.
    #[arg(long, value_name = "NODE,NODE,..", value_delimiter = ',', num_args = 0..)]
    priority_list: Option<Vec<String>>,
    /// A shadow partition's failover policy (docs/shadow.md): standby (the
    /// default, as RTR's: the secondary waits a second for a standby of
    /// the primary's site) or shadow (the other site's secondary becomes
    /// primary at once). Set it on the secondary's node, alike on every
    /// backend of the range.
    #[arg(long, value_name = "POLICY", value_parser = ["standby", "shadow"])]
    failover_policy: Option<String>,
    /// Turn the shadow range's shadowing on again (RTR's SET PARTITION
    /// /SHADOW): at any node with a partition of the range. The other
    /// site's database must match this one's (rebuilt), or hold what this
    /// site still remembers for it.
    #[arg(long, conflicts_with = "noshadow")]
    shadow: bool,
    /// Turn the shadow range's shadowing off (RTR's /NOSHADOW): only at the
    /// shadow primary's node while it runs alone (remember mode). Nothing
    /// is remembered for the other site afterwards; its partition neither
    /// works as a secondary nor becomes primary until `--shadow`.
    #[arg(long)]
    noshadow: bool,
    #[command(flatten)]
    target: Target,
}

#[derive(Args)]
pub struct SetTransactionArgs {
    /// The tid as RTR prints it (seven hex words separated by commas); `*`
    /// with `--state pri_done`: every transaction of the partition.
    tid: String,
    /// Forget it: it was dealt with by hand (its journal space is freed).
    #[arg(long, conflicts_with_all = ["retry", "state"])]
    forget: bool,
    /// Present it to the partition's servers again.
    #[arg(long, conflicts_with = "state")]
    retry: bool,
    /// The state the transaction is in. Only `pri_done` (a commit a shadow
    /// primary running alone remembers for the other site), with
    /// `--new-state done` and `--partition`: the other site will not replay
    /// it (RTR's SET TRANSACTION /STATE=PRI_DONE /NEW_STATE=DONE), for an
    /// operator who rebuilds that site's database from this one's.
    #[arg(long, value_name = "STATE", value_parser = ["pri_done"], requires_all = ["new_state", "partition"])]
    state: Option<String>,
    /// The state to give it: `done`.
    #[arg(long, value_name = "STATE", value_parser = ["done"], requires = "state")]
    new_state: Option<String>,
    /// FACILITY:ID of the shadow partition (with `--state pri_done`).
    #[arg(long, value_name = "FACILITY:ID", requires = "state")]
    partition: Option<String>,
    #[command(flatten)]
    target: Target,
}

pub fn set(c: SetCmd) -> Result<(), String> {
    use rtr_core::protocol::admin::{PartitionChange, TxChange};
    match c {
        SetCmd::Partition(a) => {
            let (facility, id) = parse_partition(&a.partition)?;
            let mut changes = Vec::new();
            if a.suspend {
                changes.push(PartitionChange::Suspend);
            }
            if a.resume {
                changes.push(PartitionChange::Resume);
            }
            if let Some(n) = a.retry_limit {
                changes.push(PartitionChange::RetryLimit(n));
            }
            if a.ignore_recovery {
                changes.push(PartitionChange::IgnoreRecovery);
            }
            if a.restart_recovery {
                changes.push(PartitionChange::RestartRecovery);
            }
            if let Some(list) = a.priority_list {
                changes.push(PartitionChange::PriorityList(list.into_iter().filter(|n| !n.is_empty()).collect()));
            }
            if let Some(p) = &a.failover_policy {
                changes.push(PartitionChange::FailToShadow(p == "shadow"));
            }
            if a.shadow || a.noshadow {
                changes.push(PartitionChange::Shadowing(a.shadow));
            }
            if changes.is_empty() {
                return Err("nothing to change: give --suspend, --resume, --retry-limit N, --ignore-recovery, \
                            --restart-recovery, --priority-list NODES, --failover-policy standby|shadow, or \
                            --shadow|--noshadow"
                    .into());
            }
            for change in changes {
                run(&a.target, AdminRequest::SetPartition { facility: facility.clone(), id, change }, done)?;
            }
            Ok(())
        }
        SetCmd::Transaction(a) if a.state.is_some() => {
            let part = a.partition.as_deref().unwrap_or_default();
            let (facility, id) = parse_partition(part)?;
            let only = match a.tid.as_str() {
                "*" => None,
                t => Some(parse_tid(t).ok_or_else(|| format!("{t:?} is not a tid (seven hex words) nor *"))?),
            };
            run(&a.target, AdminRequest::SetPartition { facility, id, change: PartitionChange::PriDone(only) }, done)
        }
        SetCmd::Transaction(a) => {
            let tid = parse_tid(&a.tid).ok_or_else(|| format!("{:?} is not a tid (seven hex words)", a.tid))?;
            let change = match (a.forget, a.retry) {
                (true, false) => TxChange::Forget,
                (false, true) => TxChange::Retry,
                _ => return Err("give --forget or --retry".into()),
            };
            run(&a.target, AdminRequest::SetTransaction { tid, change }, done)
        }
    }
}

/// `FACILITY:ID`, the id as `rtr show partition` prints it.
fn parse_partition(s: &str) -> Result<(String, u64), String> {
    s.split_once(':')
        .and_then(|(f, i)| Some((f.to_string(), i.parse::<u64>().ok()?)))
        .ok_or_else(|| format!("{s:?}: give the partition as FACILITY:ID"))
}

/// A tid as RTR prints it: seven hexadecimal words, comma-separated.
fn parse_tid(s: &str) -> Option<rtr_core::Tid> {
    let words: Vec<u32> = s.split(',').map(|w| u32::from_str_radix(w.trim(), 16)).collect::<Result<_, _>>().ok()?;
    let w: [u32; 7] = words.try_into().ok()?;
    Some(rtr_core::Tid::from_words(w))
}

/// How long to wait for the node's answer (a stop syncs the journal first).
const ANSWER_WAIT: Duration = Duration::from_secs(40);

/// Send one admin request to the node behind `socket` and read its answer.
pub fn ask(socket: &Path, req: AdminRequest) -> Result<AdminReply, String> {
    let mut s = UnixStream::connect(socket)
        .map_err(|e| format!("no node answers on {} ({e}); start one with `rtr start --dir DIR`", socket.display()))?;
    s.set_read_timeout(Some(ANSWER_WAIT)).map_err(|e| e.to_string())?;
    s.write_all(&codec::encode(&Frame::Admin(req))).map_err(|e| format!("{}: {e}", socket.display()))?;
    let body = codec::read_frame(&mut s).map_err(|e| format!("no answer from the node: {e}"))?;
    match codec::decode(&body) {
        Ok(Frame::AdminReply(r)) => Ok(r),
        Ok(Frame::Refuse { status, reason }) => Err(format!("the node refused the request ({status}): {reason}")),
        Ok(other) => Err(format!("unexpected answer from the node: {other:?}")),
        Err(e) => Err(format!("bad answer from the node: {e}")),
    }
}

/// An answer turned into output, or the failure to print (and exit 1).
enum Failure {
    /// The node refused.
    Refused(AdminError),
    /// The node could not be asked.
    Unreachable(String),
}

fn run(
    target: &Target,
    req: AdminRequest,
    show: impl FnOnce(AdminReply, bool) -> Result<String, Failure>,
) -> Result<(), String> {
    let out = ask(&target.socket(), req).map_err(Failure::Unreachable).and_then(|r| match r {
        AdminReply::Failed(e) => Err(Failure::Refused(e)),
        r => show(r, target.json),
    });
    match out {
        Ok(text) => {
            outln!("{text}");
            Ok(())
        }
        Err(f) => {
            let (code, msg) = match f {
                Failure::Refused(e) => (Some(e.code()), e.to_string()),
                Failure::Unreachable(msg) => (None, msg),
            };
            if target.json {
                let code = code.map_or(Json::Null, Json::from);
                outln!("{}", Json::obj(vec![("ok", false.into()), ("code", code), ("error", msg.into())]));
                crate::out::flush();
                std::process::exit(1);
            }
            match code {
                Some(code) => Err(format!("%RTR-E-{code}, {msg}")),
                None => Err(msg),
            }
        }
    }
}

fn unexpected(r: AdminReply) -> Failure {
    Failure::Unreachable(format!("unexpected answer from the node: {r:?}"))
}

fn done(r: AdminReply, json: bool) -> Result<String, Failure> {
    match r {
        AdminReply::Done { message } if json => {
            Ok(Json::obj(vec![("ok", true.into()), ("message", message.into())]).to_string())
        }
        AdminReply::Done { message } => Ok(message),
        r => Err(unexpected(r)),
    }
}

pub fn create(c: CreateCmd) -> Result<(), String> {
    let CreateCmd::Facility(a) = c;
    let with_all = |mut v: Vec<String>| {
        v.extend(a.all_roles.iter().cloned());
        v
    };
    let req = AdminRequest::CreateFacility {
        name: a.name.clone(),
        frontends: with_all(a.frontend.clone()),
        routers: with_all(a.router.clone()),
        backends: with_all(a.backend.clone()),
    };
    run(&a.target, req, done)
}

pub fn delete(c: DeleteCmd) -> Result<(), String> {
    let DeleteCmd::Facility { name, target } = c;
    run(&target, AdminRequest::DeleteFacility { name }, done)
}

pub fn show(c: ShowCmd) -> Result<(), String> {
    match c {
        ShowCmd::Facility(t) => run(&t, AdminRequest::ShowFacility, |r, json| match r {
            AdminReply::Facilities { node, rows } => Ok(facilities(&node, &rows, json)),
            r => Err(unexpected(r)),
        }),
        ShowCmd::Partition(t) => run(&t, AdminRequest::ShowPartition, |r, json| match r {
            AdminReply::Partitions { rows, omitted } => Ok(partitions(&rows, omitted, json)),
            r => Err(unexpected(r)),
        }),
        ShowCmd::Server(t) => run(&t, AdminRequest::ShowServer, |r, json| match r {
            AdminReply::Servers { rows, omitted } => Ok(servers(&rows, omitted, json)),
            r => Err(unexpected(r)),
        }),
        ShowCmd::Transaction(t) => run(&t, AdminRequest::ShowTransaction, |r, json| match r {
            AdminReply::Transactions { rows, omitted } => Ok(transactions(&rows, omitted, json)),
            r => Err(unexpected(r)),
        }),
        ShowCmd::Link(t) => run(&t, AdminRequest::ShowLink, |r, json| match r {
            AdminReply::Links { rows } => Ok(links(&rows, json)),
            r => Err(unexpected(r)),
        }),
        ShowCmd::Metrics(t) => run(&t, AdminRequest::ShowMetrics, |r, json| match r {
            AdminReply::Metrics(m) if json => Ok(crate::metrics_view::json(&m).to_string()),
            AdminReply::Metrics(m) => Ok(crate::metrics_view::text(&m)),
            r => Err(unexpected(r)),
        }),
    }
}

// ------------------------------------------------------------ tables

/// Columns aligned on the widest cell, two spaces apart; the last column is
/// not padded. A table without rows says so under its header.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        let last = cells.len().saturating_sub(1);
        for (i, c) in cells.iter().enumerate() {
            s.push_str(c);
            if i < last {
                s.push_str(&" ".repeat(width[i] - c.chars().count() + 2));
            }
        }
        s
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push('\n');
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    if rows.is_empty() {
        out.push_str("\n(none)");
    }
    out
}

fn omitted_note(out: &mut String, omitted: u64) {
    if omitted > 0 {
        out.push_str(&format!("\n({omitted} more not shown)"));
    }
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.join(",")
    }
}

fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

fn facilities(node: &str, rows: &[FacilityInfo], json: bool) -> String {
    if json {
        let rows = rows
            .iter()
            .map(|f| {
                Json::obj(vec![
                    ("name", f.name.as_str().into()),
                    ("defined", f.defined.into()),
                    ("frontends", f.frontends.clone().into()),
                    ("routers", f.routers.clone().into()),
                    ("backends", f.backends.clone().into()),
                    (
                        "roles",
                        Json::obj(vec![
                            ("frontend", f.roles.frontend.into()),
                            ("router", f.roles.router.into()),
                            ("backend", f.roles.backend.into()),
                        ]),
                    ),
                    ("clients", f.clients.into()),
                    ("servers", f.servers.into()),
                    ("partitions", f.partitions.into()),
                ])
            })
            .collect();
        return Json::obj(vec![("node", node.into()), ("facilities", Json::Arr(rows))]).to_string();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|f| {
            vec![
                f.name.clone(),
                if f.defined { "yes" } else { "implicit" }.into(),
                f.roles.to_string(),
                list(&f.frontends),
                list(&f.routers),
                list(&f.backends),
                f.clients.to_string(),
                f.servers.to_string(),
                f.partitions.to_string(),
            ]
        })
        .collect();
    let header =
        ["Facility", "Defined", "This node", "Frontends", "Routers", "Backends", "Clients", "Servers", "Partitions"];
    format!("Facilities of node {node}:\n{}", table(&header, &cells))
}

fn partitions(rows: &[PartitionInfo], omitted: u64, json: bool) -> String {
    if json {
        let rows = rows
            .iter()
            .map(|p| {
                Json::obj(vec![
                    ("facility", p.facility.as_str().into()),
                    ("id", p.id.into()),
                    ("name", p.name.as_str().into()),
                    ("key_range", p.range.as_str().into()),
                    ("state", p.state.name().into()),
                    ("servers", p.servers.into()),
                    ("free_servers", p.free_servers.into()),
                    ("waiting", p.waiting.into()),
                    ("in_progress", p.in_progress.into()),
                    ("concurrent", p.concurrent.into()),
                    ("epoch", p.epoch.into()),
                    ("holder", p.holder.as_str().into()),
                    ("authority", p.authority.as_str().into()),
                    ("note", p.note.as_str().into()),
                    ("site", if p.site.is_empty() { Json::Null } else { p.site.as_str().into() }),
                    ("backlog", p.backlog.into()),
                ])
            })
            .collect();
        return Json::obj(vec![("partitions", Json::Arr(rows)), ("omitted", omitted.into())]).to_string();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|p| {
            vec![
                p.facility.clone(),
                p.id.to_string(),
                p.name.clone(),
                p.state.name().into(),
                p.servers.to_string(),
                p.free_servers.to_string(),
                p.waiting.to_string(),
                p.in_progress.to_string(),
                yes(p.concurrent),
                p.epoch.to_string(),
                if p.holder.is_empty() { "-".into() } else { p.holder.clone() },
                p.range.clone(),
            ]
        })
        .collect();
    let header = [
        "Facility",
        "Id",
        "Name",
        "State",
        "Servers",
        "Free",
        "Waiting",
        "In progress",
        "Concurrent",
        "Grant",
        "Active on",
        "Key range",
    ];
    let mut out = table(&header, &cells);
    // The authority is the node's, the same for every row; notes say why
    // a partition is not active.
    omitted_note(&mut out, omitted);
    if let Some(p) = rows.first() {
        out.push_str(&format!("\nRole authority: {}", p.authority));
    }
    for p in rows.iter().filter(|p| !p.note.is_empty()) {
        out.push_str(&format!("\n{}:{}: {}", p.facility, p.id, p.note));
    }
    out
}

fn pid(p: u32) -> String {
    if p == 0 {
        "-".into()
    } else {
        p.to_string()
    }
}

fn servers(rows: &[ServerInfo], omitted: u64, json: bool) -> String {
    if json {
        let rows = rows
            .iter()
            .map(|s| {
                Json::obj(vec![
                    ("pid", if s.pid == 0 { Json::Null } else { s.pid.into() }),
                    ("connection", s.conn.into()),
                    ("channel", s.channel.into()),
                    ("facility", s.facility.as_str().into()),
                    ("partition", s.partition.into()),
                    ("key_range", s.range.as_str().into()),
                    ("state", s.state.name().into()),
                    ("tid", s.tid.map(|t| t.to_string()).into()),
                    ("unacked", s.unacked.into()),
                    (
                        "flags",
                        s.flags.split(',').filter(|f| !f.is_empty()).map(str::to_string).collect::<Vec<_>>().into(),
                    ),
                ])
            })
            .collect();
        return Json::obj(vec![("servers", Json::Arr(rows)), ("omitted", omitted.into())]).to_string();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|s| {
            vec![
                pid(s.pid),
                s.conn.to_string(),
                s.channel.to_string(),
                s.facility.clone(),
                s.partition.to_string(),
                s.state.name().into(),
                s.tid.map_or("-".into(), |t| t.to_string()),
                s.unacked.to_string(),
                s.flags.clone(),
                s.range.clone(),
            ]
        })
        .collect();
    let header = [
        "Pid",
        "Connection",
        "Channel",
        "Facility",
        "Partition",
        "State",
        "Transaction",
        "Unacked",
        "Flags",
        "Key range",
    ];
    let mut out = table(&header, &cells);
    omitted_note(&mut out, omitted);
    out
}

fn branch_text(b: &BranchInfo) -> String {
    let at = match b.server {
        Some((conn, chan)) => format!("server {conn}.{chan}"),
        None => "waiting".into(),
    };
    let replay = if b.uncertain { ", replay" } else { "" };
    format!("p{} {} ({at}{replay})", b.partition, b.state.name())
}

fn age(ms: Option<u64>) -> String {
    match ms {
        Some(ms) => format!("{}.{}s", ms / 1000, (ms % 1000) / 100),
        None => "-".into(),
    }
}

fn transactions(rows: &[TransactionInfo], omitted: u64, json: bool) -> String {
    if json {
        let rows = rows
            .iter()
            .map(|t| {
                let client = match t.client {
                    Some((conn, chan)) => Json::obj(vec![
                        ("connection", conn.into()),
                        ("channel", chan.into()),
                        ("pid", if t.client_pid == 0 { Json::Null } else { t.client_pid.into() }),
                    ]),
                    None => Json::Null,
                };
                let router = match t.router {
                    Some(r) => Json::obj(vec![
                        ("state", r.state.name().into()),
                        ("branches", r.branches.into()),
                        ("votes", r.votes.into()),
                    ]),
                    None => Json::Null,
                };
                let backend = t
                    .branches
                    .iter()
                    .map(|b| {
                        let server = match b.server {
                            Some((conn, chan)) => {
                                Json::obj(vec![("connection", conn.into()), ("channel", chan.into())])
                            }
                            None => Json::Null,
                        };
                        Json::obj(vec![
                            ("partition", b.partition.into()),
                            ("state", b.state.name().into()),
                            ("server", server),
                            ("uncertain", b.uncertain.into()),
                            ("invocation", if b.uncertain { "REPLAY" } else { "ORIGINAL" }.into()),
                            ("messages", b.messages.into()),
                        ])
                    })
                    .collect();
                Json::obj(vec![
                    ("tid", t.tid.to_string().into()),
                    ("facility", t.facility.as_str().into()),
                    ("client", client),
                    ("frontend", t.frontend.map(|s| s.name()).into()),
                    ("router", router),
                    ("backend", Json::Arr(backend)),
                    ("age_ms", t.age_ms.into()),
                ])
            })
            .collect();
        return Json::obj(vec![("transactions", Json::Arr(rows)), ("omitted", omitted.into())]).to_string();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|t| {
            vec![
                t.tid.to_string(),
                t.facility.clone(),
                age(t.age_ms),
                t.client.map_or("-".into(), |(conn, chan)| format!("{conn}.{chan}")),
                pid(t.client_pid),
                t.frontend.map_or("-", |s| s.name()).into(),
                t.router.map_or("-".into(), |r| format!("{} {}/{} voted", r.state.name(), r.votes, r.branches)),
                if t.branches.is_empty() {
                    "-".into()
                } else {
                    t.branches.iter().map(branch_text).collect::<Vec<_>>().join("; ")
                },
            ]
        })
        .collect();
    let header = ["Tid", "Facility", "Age", "Client", "Pid", "Frontend", "Router", "Backend"];
    let mut out = table(&header, &cells);
    omitted_note(&mut out, omitted);
    out
}

fn links(rows: &[LinkInfo], json: bool) -> String {
    if json {
        let rows = rows
            .iter()
            .map(|l| {
                // The state split into fields, and the node's text whole
                // (as the table shows it) for a reader that wants it.
                let mut fields = vec![("node", l.node.as_str().into())];
                fields.extend(LinkState::parse(&l.state).fields());
                fields.push(("text", l.state.as_str().into()));
                fields.push(("facilities", l.facilities.clone().into()));
                Json::obj(fields)
            })
            .collect();
        return Json::obj(vec![("links", Json::Arr(rows))]).to_string();
    }
    let cells: Vec<Vec<String>> =
        rows.iter().map(|l| vec![l.node.clone(), l.state.clone(), list(&l.facilities)]).collect();
    table(&["Node", "State", "Facilities"], &cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_on_the_widest_cell_and_say_when_empty() {
        let t = table(&["A", "Bee", "C"], &[vec!["long one".into(), "x".into(), "last".into()]]);
        assert_eq!(t, "A         Bee  C\nlong one  x    last");
        assert_eq!(table(&["Node", "State"], &[]), "Node  State\n(none)");
    }

    #[test]
    fn ages_and_branches_read_like_rtr() {
        assert_eq!(age(Some(1234)), "1.2s");
        assert_eq!(age(None), "-");
        let b = BranchInfo {
            partition: 2,
            state: rtr_core::protocol::admin::BeState::Voted,
            server: Some((3, 1)),
            uncertain: true,
            messages: 1,
        };
        assert_eq!(branch_text(&b), "p2 VOTED (server 3.1, replay)");
    }
}

#[cfg(test)]
mod set_tests {
    use super::parse_tid;

    #[test]
    fn tids_parse_as_rtr_prints_them() {
        let t = rtr_core::Tid { node: 1, incarnation: 0xabc, conn: 3, seq: 0x1_0000_0002 };
        assert_eq!(parse_tid(&t.to_string()), Some(t));
        assert_eq!(parse_tid("1,2,3"), None);
        assert_eq!(parse_tid("1,2,3,4,5,6,zz"), None);
    }
}
