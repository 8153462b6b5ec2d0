//! Management requests to a node and their replies (`rtr show ...`,
//! `rtr create|delete facility`, `rtr stop`), and how they cross the wire
//! inside [`super::codec::Frame::Admin`] and [`super::codec::Frame::AdminReply`].
//!
//! A connection whose first frame is an admin request is an admin
//! connection: it opens no channels; each request gets one reply, in order.
//! What the replies show is a moment's view of the node, taken on the node
//! thread between two passes. Lists are capped at [`MAX_ROWS`] rows (the
//! rest is counted in `omitted`), so a reply always fits in one frame.

use super::codec::{read_tid, write_tid, DecodeError};
use super::wire::{Reader, Writer};
use crate::facility::Roles;
use crate::tid::Tid;

mod error;
mod metrics;
pub use error::AdminError;
pub use metrics::{JournalMetrics, LibraryMetrics, LinkMetrics, MetricsInfo, PartitionMetrics};

/// Rows at most in one list reply.
pub const MAX_ROWS: usize = 2000;
/// Branches at most listed per transaction.
pub const MAX_BRANCHES: usize = 32;
/// Longest text field (a message, a key range as printed) on the wire.
pub const MAX_TEXT: usize = 4096;
/// Key ranges longer than this when printed are cut (with `...`) in
/// snapshots, which keeps a reply of [`MAX_ROWS`] rows within one frame.
pub const MAX_RANGE_TEXT: usize = 512;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminRequest {
    ShowFacility,
    ShowPartition,
    ShowServer,
    ShowTransaction,
    ShowLink,
    /// Every counter of the node in one reply ([`MetricsInfo`]).
    ShowMetrics,
    /// Node names as the operator typed them: the node checks them.
    CreateFacility {
        name: String,
        frontends: Vec<String>,
        routers: Vec<String>,
        backends: Vec<String>,
    },
    DeleteFacility {
        name: String,
    },
    /// Stop the node gracefully: it stops accepting connections, closes
    /// every application connection and flushes its journal, then replies.
    Stop,
    /// `rtr set partition`: change one partition of a facility.
    SetPartition {
        facility: String,
        id: u64,
        change: PartitionChange,
    },
    /// `rtr set transaction`: resolve a transaction set aside by the retry limit.
    SetTransaction {
        tid: Tid,
        change: TxChange,
    },
}

/// What `rtr set partition` changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartitionChange {
    /// Stop presenting transactions to the partition's servers (those in
    /// progress go on; new ones wait, and their clients' timeouts still run).
    Suspend,
    Resume,
    /// Servers a transaction may take down before it is set aside (1 or more).
    RetryLimit(u32),
    /// A partition waiting for a lost node's journal becomes active without
    /// it (the operator accepts that its unfinished work is not replayed).
    IgnoreRecovery,
    /// Try again to take over the lost node's journal.
    RestartRecovery,
    /// The backend nodes in the order they should become active for the
    /// key range (RTR's relative priority); empty: the facility's order.
    PriorityList(Vec<String>),
    /// A shadow partition's failover policy (docs/shadow.md): `true`
    /// fails over to the shadow (the other site's secondary becomes
    /// primary at once), `false` to a standby of the primary's site (RTR's
    /// default).
    FailToShadow(bool),
    /// `rtr set transaction --state pri_done --new-state done` (RTR's `SET
    /// TRANSACTION /STATE=PRI_DONE /NEW_STATE=DONE`): the commits a shadow
    /// primary running alone remembers for the other site are set done,
    /// every one (`None`, RTR's `*`) or one transaction's: the other site
    /// will not replay them (its database is to be rebuilt from this one's).
    PriDone(Option<Tid>),
    /// `rtr set partition --shadow|--noshadow` (RTR's `SET PARTITION
    /// /SHADOW|/NOSHADOW`, `rtr_partition_state_shadow`): `false` turns a
    /// shadowed range's shadowing off at its primary running alone (no
    /// commit is remembered for the other site, whose partition neither
    /// works as a secondary nor claims the primary while it is off);
    /// `true` turns it on again (docs/shadow.md).
    Shadowing(bool),
}

/// How an operator resolves a transaction set aside by the retry limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxChange {
    /// Forget it: the operator dealt with it (its journal space is freed).
    /// Also frees a commit kept answerable whose router will never say to
    /// forget it (docs/outcomes.md).
    Forget,
    /// Present it to the partition's servers again (strikes reset).
    Retry,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminReply {
    /// The request was carried out.
    Done {
        message: String,
    },
    /// The request was refused.
    Failed(AdminError),
    Facilities {
        node: String,
        rows: Vec<FacilityInfo>,
    },
    Partitions {
        rows: Vec<PartitionInfo>,
        omitted: u64,
    },
    Servers {
        rows: Vec<ServerInfo>,
        omitted: u64,
    },
    Transactions {
        rows: Vec<TransactionInfo>,
        omitted: u64,
    },
    Links {
        rows: Vec<LinkInfo>,
    },
    Metrics(Box<MetricsInfo>),
}

/// A facility as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FacilityInfo {
    pub name: String,
    /// False: not defined here, but channels are open on it (an implicit
    /// facility, every role on this node).
    pub defined: bool,
    pub frontends: Vec<String>,
    pub routers: Vec<String>,
    pub backends: Vec<String>,
    /// The roles this node plays.
    pub roles: Roles,
    /// Client channels open on it here.
    pub clients: u32,
    /// Server channels open on it here.
    pub servers: u32,
    pub partitions: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionState {
    /// Servers are attached.
    Active,
    /// No server left; its waiting transactions are held until one returns.
    NoServers,
    /// Presentation suspended by an operator (`rtr set partition --suspend`).
    Suspended,
    /// A standby: another node's partition is active for the key range.
    Standby,
    /// Offered to the routers, waiting for its role (RTR's `wt_tr_ok`).
    Waiting,
    /// Becoming active: recovering a lost node's journal (`lcl_rec`).
    Recovering,
    /// Becoming active, but the lost node's journal cannot be reached; waits
    /// for an operator (`lcl_rec_fail`; `rtr set partition
    /// --ignore-recovery|--restart-recovery`).
    NoJournal,
    /// A shadow partition, its range's primary, with its secondary up
    /// (`pri_act`, docs/shadow.md).
    Primary,
    /// A shadow primary whose secondary is not up: it remembers for it
    /// (`remember`).
    Remember,
    /// A shadow partition, its range's secondary (`sec_act`).
    Secondary,
    /// A shadow partition of a range whose shadowing is off (`rtr set
    /// partition --noshadow`): the primary that turned it off (it
    /// remembers nothing for the other site), or the other site's, which
    /// neither works as a secondary nor claims the primary (`shd_off`).
    ShadowOff,
}

impl PartitionState {
    pub fn name(self) -> &'static str {
        match self {
            PartitionState::Active => "active",
            PartitionState::NoServers => "no_servers",
            PartitionState::Suspended => "suspended",
            PartitionState::Standby => "standby",
            PartitionState::Waiting => "wt_tr_ok",
            PartitionState::Recovering => "lcl_rec",
            PartitionState::NoJournal => "lcl_rec_fail",
            PartitionState::Primary => "pri_act",
            PartitionState::Remember => "remember",
            PartitionState::Secondary => "sec_act",
            PartitionState::ShadowOff => "shd_off",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionInfo {
    pub facility: String,
    pub id: u64,
    /// Its name: the one its servers gave (`rtr_keyseg_partition`), else its id as text.
    pub name: String,
    /// The key range as printed by `KeyRange`'s `Display`.
    pub range: String,
    pub state: PartitionState,
    pub servers: u32,
    pub free_servers: u32,
    /// Transactions waiting for a free server.
    pub waiting: u32,
    /// Transactions presented to a server and not finished.
    pub in_progress: u32,
    pub concurrent: bool,
    /// The grant of the key range it is active under, or (standby) the
    /// holder's as last heard; 0: none known.
    pub epoch: u64,
    /// The node active for the key range, as far as this node knows ("" if
    /// none is known).
    pub holder: String,
    /// The role authority that grants the range ("local", "shared root
    /// DIR", "etcd URL").
    pub authority: String,
    /// Why it is not active, when it is not; for an active shadow
    /// partition, its place in the pair and how many commits it keeps for
    /// the other site (remember mode's backlog); "" otherwise.
    pub note: String,
    /// A shadow partition's site (`rtr start --site`, docs/shadow.md); ""
    /// for any other partition.
    pub site: String,
    /// Commits this node keeps in its journal for the other site of a
    /// shadowed key range (remember mode's backlog); 0 otherwise.
    pub backlog: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerState {
    /// Waiting for work.
    Free,
    /// Working on a transaction, not voted yet.
    Busy,
    /// Voted accept; waiting for the outcome.
    Voted,
}

impl ServerState {
    pub fn name(self) -> &'static str {
        match self {
            ServerState::Free => "free",
            ServerState::Busy => "busy",
            ServerState::Voted => "voted",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerInfo {
    /// The server's process (from its connection's hello; 0 if unknown).
    pub pid: u32,
    pub conn: u32,
    pub channel: u32,
    pub facility: String,
    pub partition: u64,
    pub range: String,
    pub state: ServerState,
    pub tid: Option<Tid>,
    /// Committed transactions whose outcome it has not acknowledged yet.
    pub unacked: u32,
    /// Comma-separated (`concurrent`, `noconcurrent`).
    pub flags: String,
}

/// The frontend's state of a transaction (RTR's SHOW TRANSACTION names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeState {
    Sending,
    Voting,
}

/// The router's state of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrState {
    Sending,
    Voting,
    /// Decided to commit; the backend is making the commit durable.
    Commit,
}

/// The backend's state of one branch (transaction x partition).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BeState {
    Receiving,
    Voted,
    Commit,
    /// Set aside by the retry limit: presented no more (committed ones wait
    /// for an operator).
    Exception,
}

impl FeState {
    pub fn name(self) -> &'static str {
        match self {
            FeState::Sending => "SENDING",
            FeState::Voting => "VOTING",
        }
    }
}

impl TrState {
    pub fn name(self) -> &'static str {
        match self {
            TrState::Sending => "SENDING",
            TrState::Voting => "VOTING",
            TrState::Commit => "COMMIT",
        }
    }
}

impl BeState {
    pub fn name(self) -> &'static str {
        match self {
            BeState::Receiving => "RECEIVING",
            BeState::Voted => "VOTED",
            BeState::Commit => "COMMIT",
            BeState::Exception => "EXCEPTION",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouterTxInfo {
    pub state: TrState,
    /// Partitions the transaction touched.
    pub branches: u32,
    /// Branches that voted accept.
    pub votes: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BranchInfo {
    pub partition: u64,
    pub state: BeState,
    /// The server channel (connection, channel) working on it; `None` while
    /// it waits for a free server.
    pub server: Option<(u32, u32)>,
    /// Presented again (first message as `rtr_mt_msg1_uncertain`): a server
    /// that had it before may have applied it (a replay).
    pub uncertain: bool,
    pub messages: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionInfo {
    pub tid: Tid,
    pub facility: String,
    /// The client channel (connection, channel), when it is on this node.
    pub client: Option<(u32, u32)>,
    /// The client's process (0 if unknown).
    pub client_pid: u32,
    pub frontend: Option<FeState>,
    pub router: Option<RouterTxInfo>,
    pub branches: Vec<BranchInfo>,
    /// Time since the router saw it start (unknown for a transaction
    /// recovered from the journal).
    pub age_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    pub node: String,
    pub state: String,
    pub facilities: Vec<String>,
}

// ------------------------------------------------------------ encoding

const MAX_NAME: usize = 1024;

fn strs(w: &mut Writer, v: &[String]) {
    w.u32(v.len() as u32);
    for s in v {
        w.str(s);
    }
}

/// A list of strings; its length is only trusted as far as the input lasts
/// (every element takes at least four bytes), so nothing is reserved ahead.
fn read_strs(r: &mut Reader) -> Result<Vec<String>, DecodeError> {
    let n = r.u32()?;
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(r.str(MAX_NAME)?);
    }
    Ok(v)
}

fn rows<T>(w: &mut Writer, v: &[T], each: impl Fn(&mut Writer, &T)) {
    w.u32(v.len() as u32);
    for x in v {
        each(w, x);
    }
}

fn read_rows<T>(
    r: &mut Reader,
    each: impl Fn(&mut Reader) -> Result<T, DecodeError>,
    max: usize,
) -> Result<Vec<T>, DecodeError> {
    let n = r.u32()? as usize;
    if n > max {
        return Err(DecodeError::TooLong { len: n, max });
    }
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(each(r)?);
    }
    Ok(v)
}

fn opt_pair(w: &mut Writer, p: Option<(u32, u32)>) {
    match p {
        Some((a, b)) => {
            w.u8(1);
            w.u32(a);
            w.u32(b);
        }
        None => w.u8(0),
    }
}

fn read_opt_pair(r: &mut Reader) -> Result<Option<(u32, u32)>, DecodeError> {
    Ok(if r.bool()? { Some((r.u32()?, r.u32()?)) } else { None })
}

fn tag<T: Copy + PartialEq>(all: &[T], v: T) -> u8 {
    all.iter().position(|x| *x == v).unwrap_or(0) as u8
}

fn read_tag<T: Copy>(r: &mut Reader, all: &[T], what: &'static str) -> Result<T, DecodeError> {
    let t = r.u8()?;
    all.get(usize::from(t)).copied().ok_or(DecodeError::UnknownTag { what, tag: t })
}

const PART_STATES: [PartitionState; 11] = [
    PartitionState::Active,
    PartitionState::NoServers,
    PartitionState::Suspended,
    PartitionState::Standby,
    PartitionState::Waiting,
    PartitionState::Recovering,
    PartitionState::NoJournal,
    PartitionState::Primary,
    PartitionState::Remember,
    PartitionState::Secondary,
    PartitionState::ShadowOff,
];
const SERVER_STATES: [ServerState; 3] = [ServerState::Free, ServerState::Busy, ServerState::Voted];
const FE_STATES: [FeState; 2] = [FeState::Sending, FeState::Voting];
const TR_STATES: [TrState; 3] = [TrState::Sending, TrState::Voting, TrState::Commit];
const BE_STATES: [BeState; 4] = [BeState::Receiving, BeState::Voted, BeState::Commit, BeState::Exception];

pub(super) fn write_request(w: &mut Writer, req: &AdminRequest) {
    match req {
        AdminRequest::ShowFacility => w.u8(1),
        AdminRequest::ShowPartition => w.u8(2),
        AdminRequest::ShowServer => w.u8(3),
        AdminRequest::ShowTransaction => w.u8(4),
        AdminRequest::ShowLink => w.u8(5),
        AdminRequest::ShowMetrics => w.u8(11),
        AdminRequest::CreateFacility { name, frontends, routers, backends } => {
            w.u8(6);
            w.str(name);
            strs(w, frontends);
            strs(w, routers);
            strs(w, backends);
        }
        AdminRequest::DeleteFacility { name } => {
            w.u8(7);
            w.str(name);
        }
        AdminRequest::Stop => w.u8(8),
        AdminRequest::SetPartition { facility, id, change } => {
            w.u8(9);
            w.str(facility);
            w.u64(*id);
            match change {
                PartitionChange::Suspend => w.u8(0),
                PartitionChange::Resume => w.u8(1),
                PartitionChange::RetryLimit(n) => {
                    w.u8(2);
                    w.u32(*n);
                }
                PartitionChange::IgnoreRecovery => w.u8(3),
                PartitionChange::RestartRecovery => w.u8(4),
                PartitionChange::PriorityList(v) => {
                    w.u8(5);
                    strs(w, v);
                }
                PartitionChange::FailToShadow(b) => {
                    w.u8(6);
                    w.u8(u8::from(*b));
                }
                PartitionChange::Shadowing(on) => {
                    w.u8(8);
                    w.u8(u8::from(*on));
                }
                PartitionChange::PriDone(tid) => {
                    w.u8(7);
                    w.u8(u8::from(tid.is_some()));
                    for word in tid.unwrap_or_default().to_words() {
                        w.u32(word);
                    }
                }
            }
        }
        AdminRequest::SetTransaction { tid, change } => {
            w.u8(10);
            for word in tid.to_words() {
                w.u32(word);
            }
            w.u8(match change {
                TxChange::Forget => 0,
                TxChange::Retry => 1,
            });
        }
    }
}

pub(super) fn read_request(r: &mut Reader) -> Result<AdminRequest, DecodeError> {
    Ok(match r.u8()? {
        1 => AdminRequest::ShowFacility,
        2 => AdminRequest::ShowPartition,
        3 => AdminRequest::ShowServer,
        4 => AdminRequest::ShowTransaction,
        5 => AdminRequest::ShowLink,
        11 => AdminRequest::ShowMetrics,
        6 => AdminRequest::CreateFacility {
            name: r.str(MAX_NAME)?,
            frontends: read_strs(r)?,
            routers: read_strs(r)?,
            backends: read_strs(r)?,
        },
        7 => AdminRequest::DeleteFacility { name: r.str(MAX_NAME)? },
        8 => AdminRequest::Stop,
        9 => {
            let facility = r.str(MAX_NAME)?;
            let id = r.u64()?;
            let change = match r.u8()? {
                0 => PartitionChange::Suspend,
                1 => PartitionChange::Resume,
                2 => PartitionChange::RetryLimit(r.u32()?),
                3 => PartitionChange::IgnoreRecovery,
                4 => PartitionChange::RestartRecovery,
                5 => PartitionChange::PriorityList(read_strs(r)?),
                6 => PartitionChange::FailToShadow(r.bool()?),
                7 => {
                    let some = r.bool()?;
                    let mut w = [0u32; 7];
                    for x in &mut w {
                        *x = r.u32()?;
                    }
                    PartitionChange::PriDone(some.then(|| Tid::from_words(w)))
                }
                8 => PartitionChange::Shadowing(r.bool()?),
                tag => return Err(DecodeError::UnknownTag { what: "partition change", tag }),
            };
            AdminRequest::SetPartition { facility, id, change }
        }
        10 => {
            let mut w = [0u32; 7];
            for x in &mut w {
                *x = r.u32()?;
            }
            let change = match r.u8()? {
                0 => TxChange::Forget,
                1 => TxChange::Retry,
                tag => return Err(DecodeError::UnknownTag { what: "transaction change", tag }),
            };
            AdminRequest::SetTransaction { tid: Tid::from_words(w), change }
        }
        tag => return Err(DecodeError::UnknownTag { what: "admin request", tag }),
    })
}

fn roles_byte(r: Roles) -> u8 {
    u8::from(r.frontend) | u8::from(r.router) << 1 | u8::from(r.backend) << 2
}

fn read_roles(r: &mut Reader) -> Result<Roles, DecodeError> {
    let b = r.u8()?;
    if b > 7 {
        return Err(DecodeError::Invalid("role bits out of range"));
    }
    Ok(Roles { frontend: b & 1 != 0, router: b & 2 != 0, backend: b & 4 != 0 })
}

fn facility(w: &mut Writer, f: &FacilityInfo) {
    w.str(&f.name);
    w.u8(u8::from(f.defined));
    strs(w, &f.frontends);
    strs(w, &f.routers);
    strs(w, &f.backends);
    w.u8(roles_byte(f.roles));
    w.u32(f.clients);
    w.u32(f.servers);
    w.u32(f.partitions);
}

fn read_facility(r: &mut Reader) -> Result<FacilityInfo, DecodeError> {
    Ok(FacilityInfo {
        name: r.str(MAX_NAME)?,
        defined: r.bool()?,
        frontends: read_strs(r)?,
        routers: read_strs(r)?,
        backends: read_strs(r)?,
        roles: read_roles(r)?,
        clients: r.u32()?,
        servers: r.u32()?,
        partitions: r.u32()?,
    })
}

fn partition(w: &mut Writer, p: &PartitionInfo) {
    w.str(&p.facility);
    w.u64(p.id);
    w.str(&p.name);
    w.str(&p.range);
    w.u8(tag(&PART_STATES, p.state));
    w.u32(p.servers);
    w.u32(p.free_servers);
    w.u32(p.waiting);
    w.u32(p.in_progress);
    w.u8(u8::from(p.concurrent));
    w.u64(p.epoch);
    w.str(&p.holder);
    w.str(&p.authority);
    w.str(&p.note);
    w.str(&p.site);
    w.u64(p.backlog);
}

fn read_partition(r: &mut Reader) -> Result<PartitionInfo, DecodeError> {
    Ok(PartitionInfo {
        facility: r.str(MAX_NAME)?,
        id: r.u64()?,
        name: r.str(MAX_NAME)?,
        range: r.str(MAX_TEXT)?,
        state: read_tag(r, &PART_STATES, "partition state")?,
        servers: r.u32()?,
        free_servers: r.u32()?,
        waiting: r.u32()?,
        in_progress: r.u32()?,
        concurrent: r.bool()?,
        epoch: r.u64()?,
        holder: r.str(MAX_NAME)?,
        authority: r.str(MAX_TEXT)?,
        note: r.str(MAX_TEXT)?,
        site: r.str(MAX_NAME)?,
        backlog: r.u64()?,
    })
}

fn opt_tid(w: &mut Writer, t: &Option<Tid>) {
    match t {
        Some(t) => {
            w.u8(1);
            write_tid(w, t);
        }
        None => w.u8(0),
    }
}

fn read_opt_tid(r: &mut Reader) -> Result<Option<Tid>, DecodeError> {
    Ok(if r.bool()? { Some(read_tid(r)?) } else { None })
}

fn server(w: &mut Writer, s: &ServerInfo) {
    w.u32(s.pid);
    w.u32(s.conn);
    w.u32(s.channel);
    w.str(&s.facility);
    w.u64(s.partition);
    w.str(&s.range);
    w.u8(tag(&SERVER_STATES, s.state));
    opt_tid(w, &s.tid);
    w.u32(s.unacked);
    w.str(&s.flags);
}

fn read_server(r: &mut Reader) -> Result<ServerInfo, DecodeError> {
    Ok(ServerInfo {
        pid: r.u32()?,
        conn: r.u32()?,
        channel: r.u32()?,
        facility: r.str(MAX_NAME)?,
        partition: r.u64()?,
        range: r.str(MAX_TEXT)?,
        state: read_tag(r, &SERVER_STATES, "server state")?,
        tid: read_opt_tid(r)?,
        unacked: r.u32()?,
        flags: r.str(MAX_NAME)?,
    })
}

fn branch(w: &mut Writer, b: &BranchInfo) {
    w.u64(b.partition);
    w.u8(tag(&BE_STATES, b.state));
    opt_pair(w, b.server);
    w.u8(u8::from(b.uncertain));
    w.u32(b.messages);
}

fn read_branch(r: &mut Reader) -> Result<BranchInfo, DecodeError> {
    Ok(BranchInfo {
        partition: r.u64()?,
        state: read_tag(r, &BE_STATES, "backend state")?,
        server: read_opt_pair(r)?,
        uncertain: r.bool()?,
        messages: r.u32()?,
    })
}

fn transaction(w: &mut Writer, t: &TransactionInfo) {
    write_tid(w, &t.tid);
    w.str(&t.facility);
    opt_pair(w, t.client);
    w.u32(t.client_pid);
    match t.frontend {
        Some(s) => {
            w.u8(1);
            w.u8(tag(&FE_STATES, s));
        }
        None => w.u8(0),
    }
    match &t.router {
        Some(rt) => {
            w.u8(1);
            w.u8(tag(&TR_STATES, rt.state));
            w.u32(rt.branches);
            w.u32(rt.votes);
        }
        None => w.u8(0),
    }
    rows(w, &t.branches, branch);
    match t.age_ms {
        Some(ms) => {
            w.u8(1);
            w.u64(ms);
        }
        None => w.u8(0),
    }
}

fn read_transaction(r: &mut Reader) -> Result<TransactionInfo, DecodeError> {
    let tid = read_tid(r)?;
    let facility = r.str(MAX_NAME)?;
    let client = read_opt_pair(r)?;
    let client_pid = r.u32()?;
    let frontend = if r.bool()? { Some(read_tag(r, &FE_STATES, "frontend state")?) } else { None };
    let router = if r.bool()? {
        Some(RouterTxInfo { state: read_tag(r, &TR_STATES, "router state")?, branches: r.u32()?, votes: r.u32()? })
    } else {
        None
    };
    let branches = read_rows(r, read_branch, MAX_BRANCHES)?;
    let age_ms = if r.bool()? { Some(r.u64()?) } else { None };
    Ok(TransactionInfo { tid, facility, client, client_pid, frontend, router, branches, age_ms })
}

fn link(w: &mut Writer, l: &LinkInfo) {
    w.str(&l.node);
    w.str(&l.state);
    strs(w, &l.facilities);
}

fn read_link(r: &mut Reader) -> Result<LinkInfo, DecodeError> {
    Ok(LinkInfo { node: r.str(MAX_NAME)?, state: r.str(MAX_NAME)?, facilities: read_strs(r)? })
}

pub(super) fn write_reply(w: &mut Writer, reply: &AdminReply) {
    match reply {
        AdminReply::Done { message } => {
            w.u8(1);
            w.str(message);
        }
        AdminReply::Failed(e) => {
            w.u8(2);
            w.u8(e.tag());
            w.str(e.message());
        }
        AdminReply::Facilities { node, rows: v } => {
            w.u8(3);
            w.str(node);
            rows(w, v, facility);
        }
        AdminReply::Partitions { rows: v, omitted } => {
            w.u8(4);
            rows(w, v, partition);
            w.u64(*omitted);
        }
        AdminReply::Servers { rows: v, omitted } => {
            w.u8(5);
            rows(w, v, server);
            w.u64(*omitted);
        }
        AdminReply::Transactions { rows: v, omitted } => {
            w.u8(6);
            rows(w, v, transaction);
            w.u64(*omitted);
        }
        AdminReply::Links { rows: v } => {
            w.u8(7);
            rows(w, v, link);
        }
        AdminReply::Metrics(m) => {
            w.u8(8);
            metrics::write_metrics(w, m);
        }
    }
}

pub(super) fn read_reply(r: &mut Reader) -> Result<AdminReply, DecodeError> {
    Ok(match r.u8()? {
        1 => AdminReply::Done { message: r.str(MAX_TEXT)? },
        2 => {
            let tag = r.u8()?;
            let message = r.str(MAX_TEXT)?;
            AdminReply::Failed(
                AdminError::from_tag(tag, message).ok_or(DecodeError::UnknownTag { what: "refusal", tag })?,
            )
        }
        3 => AdminReply::Facilities { node: r.str(MAX_NAME)?, rows: read_rows(r, read_facility, MAX_ROWS)? },
        4 => AdminReply::Partitions { rows: read_rows(r, read_partition, MAX_ROWS)?, omitted: r.u64()? },
        5 => AdminReply::Servers { rows: read_rows(r, read_server, MAX_ROWS)?, omitted: r.u64()? },
        6 => AdminReply::Transactions { rows: read_rows(r, read_transaction, MAX_ROWS)?, omitted: r.u64()? },
        7 => AdminReply::Links { rows: read_rows(r, read_link, MAX_ROWS)? },
        8 => AdminReply::Metrics(Box::new(metrics::read_metrics(r)?)),
        tag => return Err(DecodeError::UnknownTag { what: "admin reply", tag }),
    })
}

/// Cut a text to at most `max` bytes (at a character boundary, ending in
/// `...`; `max` is at least 3).
pub fn clip(s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let mut end = max.saturating_sub(3);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests;
