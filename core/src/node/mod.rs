//! A node: the frontend, router and backend roles as sans-I/O state machines.
//!
//! Inputs are library requests ([`Node::handle_request`]) and the passage of
//! time ([`Node::tick`]); outputs are deliveries to library connections
//! ([`Node::take_output`]). The roles never call each other: they exchange
//! [`Internal`] messages through the node's queue, exactly the messages that
//! will cross TCP links when the roles sit on different nodes. Driving a node
//! needs no threads, so tests and a simulator can run it step by step.

mod backend;
mod broadcast;
mod channel_cap;
mod frontend;
pub mod metrics;
mod operate;
mod router;
mod sender_roles;
mod snapshot;
mod topology;

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasherDefault;
use std::time::Instant;

use crate::events;
use crate::fixed_hash::FixedHasher;
use crate::journal::{Record, RecordKind};
use crate::keyseg::KeyRange;
use crate::msgtype::MsgType;
use crate::protocol::{Bytes, ChanId, ConnId, Delivery, Request, Role};
use crate::status::Status;
use crate::tid::Tid;
use crate::txrecord::TxRecord;

pub(crate) use backend::PRIMARY_RECORD;
pub use backend::{Backend, FailoverPolicy, RecoveryPolicy};
pub use frontend::Frontend;
pub use router::Router;
pub use sender_roles::Refusal;
pub use snapshot::ShadowRoleView;
pub use topology::{PeerInfo, Topology};

/// A [`Ctx`] over the node's queue, output and topology (disjoint fields,
/// so the roles can be borrowed beside it).
macro_rules! ctx {
    ($node:expr, $now:expr) => {
        Ctx { now: $now, queue: &mut $node.queue, out: &mut $node.out, topo: &$node.topo }
    };
}
pub(crate) use ctx;

/// The node's hash maps and sets. Their hasher has fixed keys, so the
/// iteration order (which becomes the order of outputs wherever a role walks
/// a map) depends only on the inputs the node was given: a simulator run
/// replays byte for byte from its seed. The keys of these maps come from the
/// node itself or from linked nodes (tids, channel and partition ids), not
/// from arbitrary network input, so flooding one hash bucket needs a peer.
pub type Map<K, V> = HashMap<K, V, BuildHasherDefault<FixedHasher>>;
/// A set with the fixed hasher of [`Map`].
pub type Set<T> = HashSet<T, BuildHasherDefault<FixedHasher>>;

/// A channel of this node: (connection, channel).
pub type ChanRef = (ConnId, ChanId);
/// Partition id, unique within its backend node.
pub type PartId = u64;
/// Where a role sits: this node ([`LOCAL`]) or a peer node reached over a
/// link (the link layer numbers its peers from 1).
pub type NodeRef = u32;
/// This node.
pub const LOCAL: NodeRef = 0;
/// A partition anywhere: (its backend node, its id there).
pub type PartKey = (NodeRef, PartId);

/// What a node does to the outside world.
#[derive(Debug)]
pub enum Output {
    Deliver {
        conn: ConnId,
        delivery: Delivery,
    },
    /// A message for a role on a peer node, to send over its link in order.
    Peer {
        peer: NodeRef,
        msg: Internal,
    },
    /// Append records to the journal, in order. With `sync`, the driver
    /// reports completion through [`Node::journal_done`] with `token` once
    /// they are durable; any failure of a write without a token is reported
    /// through [`Node::journal_failed`].
    Journal {
        entries: Vec<(Tid, RecordKind, Vec<u8>)>,
        sync: bool,
        token: Option<u64>,
        /// The records start a new transaction: the journal may refuse them
        /// when only its reserve is left (in-progress transactions may use it).
        new_tx: bool,
        /// Which journal: 0 is the node's own, others were taken over from
        /// lost nodes ([`Output::Takeover`]).
        jid: u32,
    },
    /// Take over the journal of lost node `node` as journal `jid`: lock it
    /// (fencing its owner), recover it, and report through
    /// [`Node::takeover_done`].
    Takeover {
        node: String,
        jid: u32,
    },
    /// Every transaction of taken-over journal `jid` is finished: close it
    /// (releasing its lock, so its node may start again).
    Release {
        jid: u32,
    },
    /// Claim the active role of key range `range` (an
    /// [`crate::authority::range_id`]) from the role authority, forcing it
    /// over grant `force_over` if given; the answer comes back through
    /// [`Node::claimed`].
    Claim {
        range: String,
        force_over: Option<u64>,
    },
    /// Ask the role authority whether the holder of grant `epoch` of key
    /// range `range` is gone (no lock, no lease:
    /// [`crate::authority::Authority::holder_gone`]); the answer comes back
    /// through [`Node::holder_checked`].
    CheckHolder {
        range: String,
        epoch: u64,
    },
    /// Read the role authority's note of key range `range`
    /// ([`crate::authority::Authority::note`]: a shadowed range's primary
    /// record names the site that turned shadowing off); the answer comes
    /// back through [`Node::note_read`] with `then`, the claim answer the
    /// note decides on (none: a read alone).
    ReadNote {
        range: String,
        then: Option<crate::authority::Claim>,
    },
    /// Grant `epoch` of key range `range` is exercised from now on (any
    /// recovery it needed is done): the authority marks it, before anything
    /// of this pass reaches a peer or a server.
    ActivateRole {
        range: String,
        epoch: u64,
    },
    /// Give up the grant `epoch` of key range `range` cleanly (its last
    /// server left and nothing of the range is left to do here).
    ReleaseRole {
        range: String,
        epoch: u64,
    },
    /// A line for the node's log. The node does no I/O itself: its driver
    /// writes the line (a daemon's log, the application's standard error),
    /// a simulator keeps it in its trace.
    Log(String),
    /// A line of detail for the node's log, kept out of its usual level
    /// (`RTR_LOG=debug` shows it): one per transaction, or more (a shadow
    /// log's entries remembered and applied), too many for an operator's
    /// log under load. A simulator keeps it in its trace like any line.
    Detail(String),
}

/// A lost node's journal taken over here (`Output::Takeover` done).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRead {
    /// The id this node writes to it by (`Output::Journal::jid`).
    pub jid: u32,
    /// The owner epoch the takeover claimed: a later claim (the lost node
    /// restarting on it, another reader) has a higher one.
    pub epoch: u64,
    /// Its records, as recovery returned them.
    pub records: Vec<Record>,
}

/// Everything a node takes in, as one value: a driver may hand these to
/// [`Node::handle`] instead of calling the methods one by one. The node is a
/// pure function of its inputs and their instants (only differences between
/// instants matter), so a recorded list of them replays it exactly; the
/// simulator's tests do that.
#[derive(Debug, Clone)]
pub enum NodeInput {
    /// [`Node::handle_request`].
    Request { conn: ConnId, req: Request },
    /// [`Node::recover`] (before any request).
    Recover { records: Vec<Record>, epoch: u64 },
    /// [`Node::journal_done`].
    JournalDone { token: u64, result: Result<(), Status> },
    /// [`Node::journal_failed`].
    JournalFailed { tids: Vec<Tid>, status: Status },
    /// [`Node::taken_over_lost`].
    TakenOverLost { jid: u32 },
    /// [`Node::tick`].
    Tick,
    /// [`Node::peer_input`].
    Peer { from: NodeRef, msg: Internal },
    /// [`Node::link_up`].
    LinkUp { id: NodeRef, info: PeerInfo },
    /// [`Node::link_down`].
    LinkDown { id: NodeRef },
    /// [`Node::takeover_done`].
    TakeoverDone { node: String, result: Result<JournalRead, String> },
    /// [`Node::claimed`].
    Claimed { range: String, result: Result<crate::authority::Claim, String> },
    /// [`Node::holder_checked`].
    HolderChecked { range: String, epoch: u64, result: Result<bool, String> },
    /// [`Node::note_read`].
    NoteRead { range: String, then: Option<crate::authority::Claim>, result: Result<Option<String>, String> },
    /// [`Node::role_lost`].
    RoleLost { range: String, epoch: u64 },
    /// [`Node::set_partition`].
    SetPartition { facility: String, id: u64, change: crate::protocol::admin::PartitionChange },
    /// [`Node::shadowing_set`] (the role authority's note written).
    SetShadowing { facility: String, id: u64, on: bool },
    /// [`Node::set_transaction`].
    SetTransaction { tid: Tid, change: crate::protocol::admin::TxChange },
}

/// Messages between roles (on this node, or over a link).
#[derive(Debug, Clone, PartialEq)]
pub enum Internal {
    Tr(ToRouter),
    Fe(ToFrontend),
    Be(ToBackend),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ToRouter {
    /// The frontend delivered these transactions' outcomes to their
    /// clients (or the clients went away): none of them will be driven
    /// again, so the router may let their backends forget them
    /// ([`ToBackend::Forget`]). Batched, and sent with other messages to
    /// the router when there are any (docs/outcomes.md).
    Acked {
        tids: Vec<Tid>,
    },
    Start {
        tid: Tid,
        facility: String,
        client: ChanRef,
        timeout_ms: Option<u32>,
        /// 0: the transaction's first drive. N > 0: the frontend lost the
        /// router of drive N - 1 (or its link to it) and drives it again
        /// here, for the Nth time. Such a transaction has no timeout at
        /// this router: the earlier router may still be deciding it, and
        /// only the backends' answers (votes, decisions) may end it. The
        /// number goes with the transaction's messages and probes to the
        /// backends, which take no new work of it from an earlier drive
        /// (see `Backend::drives`).
        drive: u32,
    },
    Send {
        tid: Tid,
        facility: String,
        client: ChanRef,
        data: Bytes,
        /// The `RTR_F_SEN_*` flags of the send.
        flags: u32,
    },
    ClientAccept {
        tid: Tid,
        reason: u32,
    },
    /// The client asked for phase one only (`rtr_prepare_tx`).
    ClientPrepare {
        tid: Tid,
        reason: u32,
    },
    /// The client rejected (`gone`: its channel or process went away).
    ClientAbort {
        tid: Tid,
        status: Status,
        reason: u32,
        gone: bool,
    },
    Reply {
        tid: Tid,
        data: Bytes,
    },
    Vote {
        tid: Tid,
        part: PartId,
        accept: bool,
        reason: u32,
        /// The vote is durable in the backend's journal (always true
        /// without a journal).
        durable: bool,
    },
    /// The server that voted for this branch was lost before the outcome:
    /// its replacement must vote again.
    VoteWithdrawn {
        tid: Tid,
        part: PartId,
    },
    /// The branch's partition gave up its key range (its last server left)
    /// before the branch voted, or was no longer active when the branch's
    /// first message came: its work committed nowhere, and the backend
    /// holds none of it. The router drives its messages again to the
    /// range's next active partition, as for a lost backend node.
    Moved {
        tid: Tid,
        part: PartId,
    },
    /// The backend cannot serve this branch (e.g. no server left for a new branch).
    BranchFailed {
        tid: Tid,
        part: PartId,
        status: Status,
    },
    /// The backend made the commit of `tid` durable and told its servers.
    Durable {
        tid: Tid,
    },
    /// The in-doubt copy of `tid` that the sender held from lost node
    /// `node`'s journal was given up with that journal (another node took
    /// it, or it failed): the sender's next `Durable` does not cover it,
    /// and a commit waiting on the sender as its stand-in waits for the
    /// journal's next holder. Sent just before that `Durable`.
    CopyGivenUp {
        tid: Tid,
        node: String,
    },
    /// The commit of `tid` could not be made durable: it did not happen.
    CommitFailed {
        tid: Tid,
        status: Status,
    },
    /// Committed work of a partition (`part`, on the sender) whose last
    /// server left: the range's active partition (wherever it is now) is to
    /// make it durable and present it (`ToBackend::Adopt`); the sender
    /// forgets it when told so (`ToBackend::HandedOff`). Routed by the key
    /// of its first message; held while the range has no active partition.
    HandOff {
        facility: String,
        tid: Tid,
        part: PartId,
        msgs: Vec<Bytes>,
        reason: u32,
    },
    /// The handed-off work `tid` is durable on this partition (`part`).
    Adopted {
        tid: Tid,
        part: PartId,
    },
    /// A backend's partition, as it stands: active (transactions go to it)
    /// or not (a standby, or a new partition waiting for its grant), and
    /// the epoch of the grant it holds (active) or knows its range's holder
    /// has (standby; 0: none known). Sent again whenever either changes.
    PartitionUp {
        facility: String,
        part: PartId,
        range: KeyRange,
        active: bool,
        epoch: u64,
        /// The backend nodes in the order they should become active for
        /// the key range (empty: the facility's backend order).
        priority: Vec<String>,
        /// Opened with `RTR_F_OPE_NOSTANDBY`: may neither be nor have a standby.
        nostandby: bool,
        /// A call-out partition (its range is ignored): it sees every
        /// message of every transaction routed to its node (backend
        /// call-out) or coordinated by its node's router (router call-out),
        /// and votes on each.
        callout: Callout,
        /// A shadow partition (`RTR_F_OPE_SHADOW`, docs/shadow.md): its
        /// site (its grant `epoch` is its site slot's) and its primary
        /// grant. `None`: not shadowed.
        shadow: Option<ShadowUp>,
    },
    /// A user event (`rtr_broadcast_event`) from a channel of node `from`,
    /// for the channels of the other role on the other nodes: the router
    /// passes it to every backend (`to_servers`) or frontend node of the
    /// facility but the one it came from.
    Broadcast {
        facility: String,
        evtnum: i32,
        rcpspc: String,
        data: Bytes,
        to_servers: bool,
    },
    /// A standby took over the journal of node `node` (lost): the
    /// transactions it found committed there and is finishing. Commits a
    /// router was waiting for on that node and that are not listed did not
    /// become durable: they did not happen.
    TookOver {
        node: String,
        committed: Vec<Tid>,
        /// The journal was read (taken over, or read by the node itself at
        /// its restart): a commit it does not list did not happen there.
        /// False when an operator made a partition active without it
        /// (`--ignore-recovery`): the journal may still hold any of them.
        read: bool,
        /// Rejections the node's own journal keeps answerable (`KeptAbort`),
        /// reported at its restart: those the router forgot already are
        /// forgotten there again. Empty from a reader of another node's
        /// journal (it finishes them there).
        aborted: Vec<Tid>,
        /// The journal's owner epoch when the sender opened it (0 when not
        /// `read`). A router takes the highest epoch's announcement for
        /// who answers for the journal: a node fenced right after it
        /// restarted on its journal may announce it after the reader that
        /// fenced it did (simulator seed 9455).
        epoch: u64,
    },
    /// This node let go the journal of lost node `node` that it took over
    /// (at owner epoch `epoch`, as its `TookOver` said): it answers for
    /// that journal no more. A router that took its answers for `node`'s
    /// (a probe or an inquiry asks a lost node's reader in its place)
    /// waits for `node` itself, or for the journal's next reader, instead.
    /// A promise to a later drive that this node makes from now on goes
    /// into its own journal only, and the journal's owner, started again
    /// on it, would not refuse an earlier drive's commit (simulator seed
    /// 50189, two routers). Sent before anything this node answers once
    /// the journal is let go, and again to each router that links.
    JournalLetGo {
        node: String,
        epoch: u64,
    },
    PartitionDown {
        facility: String,
        part: PartId,
    },
    /// A backend holds a voted branch of `tid` that lost its router and
    /// that nobody drove again: find out what became of it.
    Inquire {
        tid: Tid,
        facility: String,
        /// The latest drive of `tid` the asker knows (0: the first): the
        /// nodes that answer the router's inquiry "unknown" start no branch
        /// of that drive or an earlier one from then on
        /// (`ToBackend::Inquire::binds`).
        drive: u32,
    },
    /// A backend's answer to [`ToBackend::Inquire`]: its branches of `tid`
    /// and what it knows of them.
    Inquired {
        tid: Tid,
        parts: Vec<PartId>,
        state: TxState,
        /// `Committed`: the work this node applied of it (prints of its
        /// messages, `txrecord::work_print`), empty when not known.
        applied: Vec<u64>,
        /// The work it holds undecided: for each branch of a key range
        /// (by partition) and its own journal's in-doubt copy
        /// (`OWN_REPLACED_WORK`), its messages' prints. A router that
        /// finds one applied at another node gives it back: its router
        /// placed that work again there (`docs/replaced-work.md`).
        held: Vec<(PartId, u64)>,
        /// The answering node's site when it serves the facility's ranges
        /// shadowed (`Backend::shadow_site`): the router weighs the
        /// answers' work by site (`replaced_elsewhere`), and a node that
        /// restarted answers before its partitions are up to say so.
        site: Option<String>,
    },
    /// Answer to a re-driven message or vote request: this backend already
    /// knows the outcome of `tid` (another router decided it).
    Decided {
        tid: Tid,
        part: PartId,
        committed: bool,
        status: Status,
        reason: u32,
    },
    /// Answer to a first message of branch `part` of `tid`, or to a probe
    /// for it, from a router whose drive of `tid` is older than one this
    /// backend has seen: the frontend drives it again through another
    /// router, so nothing of it is started or given up for this one.
    /// `drive`: the refused one (the router may have been given a later
    /// drive since, to which this answer does not apply).
    DrivenElsewhere {
        tid: Tid,
        part: PartId,
        drive: u32,
    },
    /// A shadow primary's remembered commits for its secondary, relayed by
    /// the router to the range's secondary (`ToBackend::ShadowLog`).
    ShadowLog {
        facility: String,
        part: PartId,
        entries: Vec<ShadowEntry>,
        released: LogPos,
    },
    /// A shadow secondary applied every remembered commit up to `pos`,
    /// relayed to the range's primary (`ToBackend::ShadowApplied`).
    ShadowApplied {
        facility: String,
        part: PartId,
        pos: LogPos,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum ToFrontend {
    /// A server's user event, for this node's client channels.
    Broadcast {
        facility: String,
        evtnum: i32,
        rcpspc: String,
        data: Bytes,
    },
    /// A message sent with `RTR_F_SEN_RETURN_TO_SENDER` that no server could take.
    Returned {
        tid: Tid,
        client: ChanRef,
        data: Bytes,
    },
    /// Every server voted yes after the client's `rtr_prepare_tx`.
    Prepared {
        tid: Tid,
        client: ChanRef,
        reason: u32,
    },
    Reply {
        tid: Tid,
        client: ChanRef,
        data: Bytes,
    },
    Outcome {
        tid: Tid,
        client: ChanRef,
        accepted: bool,
        status: Status,
        reason: u32,
    },
}

/// `ToBackend::Adopt::drive` of committed work handed off by a backend.
pub const NO_DRIVE: u32 = u32::MAX;

/// Where a shadow partition stands, as its routers hear it
/// (`ToRouter::PartitionUp::shadow`, docs/shadow.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShadowUp {
    /// Its node's site: the partition's grant is that site's slot of the
    /// range (`<range id>@<site>`).
    pub site: String,
    /// The range's primary grant it holds (0: it is not the primary).
    pub primary: u64,
    /// A primary with no remembered commit its secondary has not applied
    /// (its backlog is empty): routers give its secondary the live work.
    /// With a backlog they do not, so the secondary applies every commit
    /// in the primary's order (docs/shadow.md, remember mode).
    pub in_sync: bool,
    /// The range's shadowing is off (`rtr set partition --noshadow`): a
    /// primary so reports in_sync false; any other partition is not a
    /// secondary (routers give it nothing and tell no primary it is
    /// linked).
    pub off: bool,
    /// The lowest primary series (grant epoch, below `1 << 63`) of which
    /// this node keeps entries for the other site, in this range; 0: none.
    /// A router forwards no entry of a higher primary series of the same
    /// site while some partition reports a lower one: a later grant's
    /// commits are applied at the other site after an earlier grant's
    /// (docs/shadow.md, "The order across series").
    pub lowest: u64,
}

/// The bit that marks a site slot's series (numbering by a partition
/// whose primary claim is unanswered, under its slot's grant epoch): those
/// series are another space than the primary series, which are the range's
/// primary grant epochs.
pub const SLOT_SERIES: u64 = 1 << 63;

/// A position in a shadow primary's commit log: its series (the primary
/// grant epoch under which the numbering began) and the number in it.
/// Ordered as a pair: every number of a later series comes after every
/// number of an earlier one.
pub type LogPos = (u64, u64);

/// A commit a shadow primary remembered for its secondary
/// (`ToRouter::ShadowLog`, docs/shadow.md): the messages of its range, in
/// the primary's commit order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShadowEntry {
    pub pos: LogPos,
    /// The entry before it in the primary's log, still unapplied when this
    /// one was sent; `(0, 0)` when none was: the secondary applies `pos`
    /// once it applied `prev` (numbers between the two were never
    /// durable, or were applied and released).
    pub prev: LogPos,
    pub tid: Tid,
    pub msgs: Vec<Bytes>,
    pub reason: u32,
    /// The sender may have sent it before (to this site's node then, which
    /// may have applied it without the release coming back): presented as
    /// `rtr_mt_msg1_uncertain`, so that the server checks, as after any
    /// replay.
    pub resent: bool,
}

/// `ToBackend::GiveBack::part` naming no partition: the in-doubt copies of
/// the transaction that the node holds from a journal (its own, read at a
/// restart, or a lost node's it took over), not a branch. Partition ids
/// start at 1, and 0 names no partition elsewhere too
/// (`ToRouter::DrivenElsewhere` of a probe).
pub const IN_DOUBT_COPIES: PartId = 0;

/// `ToBackend::GiveBack::part` naming the node's own work of the
/// transaction from before its router lost it: its orphaned branches (voted,
/// their router's link gone) and the in-doubt copies of its own journal (a
/// restart's), not copies of journals it read (other nodes' branches). The
/// router placed that work again (`Router::replaced`). A peer of an earlier
/// version finds no such partition and does nothing.
pub const OWN_REPLACED_WORK: PartId = PartId::MAX;

#[derive(Debug, Clone, PartialEq)]
pub enum ToBackend {
    /// Every participant made these commits durable and their clients have
    /// the outcomes: nobody will ask about them again, so their journal
    /// records may go (`Done`). Batched like [`ToRouter::Acked`].
    Forget { tids: Vec<Tid> },
    Msg {
        tid: Tid,
        part: PartId,
        /// Position of the message within its branch (0 for the first), so
        /// a transaction re-driven through another router delivers nothing twice.
        index: u32,
        data: Bytes,
        /// The transaction's first message on this backend.
        first: bool,
        /// The `RTR_F_SEN_*` flags of the send (READONLY, EXPENDABLE).
        flags: u32,
        /// The frontend's drive of the transaction this router has
        /// (`ToRouter::Start::drive`).
        drive: u32,
    },
    VoteRequest {
        tid: Tid,
        part: PartId,
        /// The transaction spans several backend nodes: the vote must be
        /// durable before it is given (a node that crashes after voting
        /// then recovers the branch in doubt, not presumed aborted).
        durable: bool,
        /// The router's drive of the transaction (`ToRouter::Start::drive`).
        drive: u32,
    },
    /// What do you know of `tid`? (A router resolving an in-doubt
    /// transaction whose router was lost; the answer is
    /// [`ToRouter::Inquired`].) `drive` > 0: the asker probes, driving
    /// `tid` again for its frontend (`ToRouter::Start::drive`), rather than
    /// resolving an orphan (0): the backend then takes no new work of `tid`
    /// from an earlier drive (see `Backend::drives`).
    /// `binds`, for an inquiry (drive 0): the latest drive of `tid` its
    /// asker knows. A node that answers "unknown" (it holds nothing of
    /// `tid`) starts no branch of that drive or an earlier one from then
    /// on, durably (`TxRecord::Bound`, docs/inquiry-binding.md): the
    /// inquiry may roll the asker's branch back on that answer. Ignored by
    /// a probe.
    Inquire { tid: Tid, facility: String, drive: u32, binds: u32 },
    /// A client's user event, for this node's server channels.
    Broadcast { facility: String, evtnum: i32, rcpspc: String, data: Bytes },
    /// Committed work handed off by the range's previous active node: make
    /// it durable here, present it (uncertain, then its commit) and answer
    /// `ToRouter::Adopted`. A router's own unit of a lost node's commit may
    /// carry messages of several key ranges: this node keeps them all and
    /// hands on those no partition here serves (`HandOn`, docs/outcomes.md).
    /// `drive`: for a router's own unit, the frontend's drive of the
    /// transaction that the router decided (`ToRouter::Start::drive`): a
    /// node that has seen a later drive refuses it (`DrivenElsewhere`), as
    /// that drive's probe may have found nothing and ended the transaction
    /// otherwise, and the unit is durable nowhere else yet. `NO_DRIVE` for
    /// committed work a backend handed off, which nothing can undo.
    Adopt { part: PartId, tid: Tid, msgs: Vec<Bytes>, reason: u32, drive: u32 },
    /// Handed-off work (`tid`, from this node's partition `part`) is durable
    /// at the range's active partition: it is finished here.
    HandedOff { tid: Tid, part: PartId },
    /// The router driving `tid` (its drive `drive`) will not use this
    /// branch: its probe found that nobody committed the transaction, and
    /// it goes on as if new, placing the work where the key range is served
    /// now, not at this partition. The branch is given back as a partition
    /// that gives its range up gives back work: its server, if it holds it,
    /// hears `RTR_STS_DLKTXRES` (rescheduled, roll back), and nothing is
    /// decided here (docs/outcomes.md, "A probe going on as new").
    /// `part` = [`IN_DOUBT_COPIES`]: the node's in-doubt copies of `tid`
    /// are given back instead (closed in their journals, nothing decided):
    /// the router places every message of the transaction again itself,
    /// so a copy is of work placed again, never to be committed. (A node
    /// without this rule finds no branch by that id and ignores it.)
    GiveBack { tid: Tid, part: PartId, drive: u32 },
    /// Where the active partition of this standby's key range stands at
    /// the sending router: the holder of grant `epoch` is no longer linked
    /// to it (`linked: false`), or is again. A standby claims the role at
    /// once when it hears the holder is lost, and forces its claim when a
    /// majority of the facility's routers say so (`docs/roles.md`).
    Holder { part: PartId, epoch: u64, linked: bool },
    /// This partition announced itself active under a grant older than
    /// `epoch`, which the router has seen: it must stop being active.
    Superseded { part: PartId, epoch: u64 },
    /// The range is active elsewhere and `RTR_F_OPE_NOSTANDBY` of the
    /// active partition forbids a standby: this partition's servers are
    /// closed (`RTR_STS_NOSTANDBY`).
    Refused { part: PartId },
    /// A shadow primary hears whether a secondary of its range is linked
    /// to this router (docs/shadow.md): alone, it remembers for it.
    ShadowPartner { part: PartId, linked: bool },
    /// To a shadow secondary: commits its primary remembered, in the
    /// primary's order, and the primary's release point (every entry up to
    /// it applied here and known so there).
    ShadowLog { part: PartId, entries: Vec<ShadowEntry>, released: LogPos },
    /// To a shadow primary: its secondary applied every entry up to `pos`.
    ShadowApplied { part: PartId, pos: LogPos },
    /// Just before a commit's outcome: the branches of `tid` here (shadow
    /// primaries) whose secondary's branch took part in the commit: not
    /// remembered for it. `unsure`: those whose secondary's branch was
    /// placed and then dropped (its durable vote may still learn the
    /// commit by an inquiry): remembered, and sent as maybe applied there.
    Shipped { tid: Tid, parts: Vec<PartId>, unsure: Vec<PartId> },
    /// The decision for every branch of `tid` on this backend. `drive`:
    /// the deciding router's drive of it, or `NO_DRIVE` for an answer to a
    /// node's own question (from the router's memory of the decision).
    Outcome { tid: Tid, parts: Vec<PartId>, accepted: bool, status: Status, reason: u32, drive: u32 },
}

/// What kind of partition: one serving a key range, or a call-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Callout {
    #[default]
    No,
    /// `RTR_F_OPE_BE_CALL_OUT`: every transaction with a branch on its node.
    Backend,
    /// `RTR_F_OPE_TR_CALL_OUT`: every transaction its node's router coordinates.
    Router,
}

/// What a backend knows of a transaction, answering an inquiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxState {
    /// Nothing: never seen, or forgotten long ago (it cannot commit here).
    Unknown,
    /// Branches here, not all voted.
    Unvoted,
    /// Every branch here voted yes; no outcome yet.
    InDoubt,
    Committed,
    Aborted,
}

/// What a role may do while handling one message.
pub struct Ctx<'a> {
    pub now: Instant,
    queue: &'a mut VecDeque<(NodeRef, Internal)>,
    out: &'a mut Vec<Output>,
    /// Which nodes play which roles, and which peers are linked now.
    pub topo: &'a Topology,
}

impl Ctx<'_> {
    fn send(&mut self, to: NodeRef, m: Internal) {
        if to == LOCAL {
            self.queue.push_back((LOCAL, m));
        } else {
            self.out.push(Output::Peer { peer: to, msg: m });
        }
    }
    pub fn to_router(&mut self, to: NodeRef, m: ToRouter) {
        self.send(to, Internal::Tr(m));
    }
    pub fn to_frontend(&mut self, to: NodeRef, m: ToFrontend) {
        self.send(to, Internal::Fe(m));
    }
    pub fn to_backend(&mut self, to: NodeRef, m: ToBackend) {
        self.send(to, Internal::Be(m));
    }
    /// Queue a message here as if it came from `from` (a role standing in
    /// for a peer that went away).
    pub fn loopback(&mut self, from: NodeRef, m: Internal) {
        self.queue.push_back((from, m));
    }
    pub fn deliver(&mut self, conn: ConnId, delivery: Delivery) {
        self.out.push(Output::Deliver { conn, delivery });
    }
    /// Records for the node's own journal. Every record the node writes goes
    /// through [`TxRecord`], the one home of their formats.
    pub fn journal(&mut self, records: Vec<(Tid, TxRecord)>, sync: bool, token: Option<u64>) {
        self.out.push(Output::Journal { entries: encode(records), sync, token, new_tx: false, jid: 0 });
    }
    /// Records for journal `jid` (0: the node's own), unsynced.
    pub fn journal_to(&mut self, jid: u32, records: Vec<(Tid, TxRecord)>) {
        self.out.push(Output::Journal { entries: encode(records), sync: false, token: None, new_tx: false, jid });
    }
    /// The first records of a new transaction (unsynced, no token).
    pub fn journal_new_tx(&mut self, records: Vec<(Tid, TxRecord)>) {
        self.out.push(Output::Journal { entries: encode(records), sync: false, token: None, new_tx: true, jid: 0 });
    }
    /// A line for the node's log ([`Output::Log`]).
    pub fn log(&mut self, text: String) {
        self.out.push(Output::Log(text));
    }
    /// A line of detail for the node's log ([`Output::Detail`]).
    pub fn detail(&mut self, text: String) {
        self.out.push(Output::Detail(text));
    }
    pub fn output(&mut self, o: Output) {
        self.out.push(o);
    }
}

/// Transaction records as the journal takes them.
fn encode(records: Vec<(Tid, TxRecord)>) -> Vec<(Tid, RecordKind, Vec<u8>)> {
    records.iter().map(|(tid, r)| r.entry(*tid)).collect()
}

/// A node with every role (the embedded node, and for now every node).
pub struct Node {
    fe: Frontend,
    tr: Router,
    be: Backend,
    bc: broadcast::Broadcasts,
    /// Which role owns each open channel.
    roles: Map<ChanRef, Role>,
    /// How many of them each connection holds, and the bound.
    cap: channel_cap::ChannelCap,
    /// The facility definitions (which roles this node plays in each) and
    /// the linked peers.
    topo: Topology,
    queue: VecDeque<(NodeRef, Internal)>,
    out: Vec<Output>,
    /// The time of the latest input: acknowledgements and forgets are
    /// flushed when the output is taken (`take_output`), once per pass.
    last_now: Option<Instant>,
    /// Peer messages dropped because the sender does not play the role
    /// they need (`sender_roles`), and the (peer name, message kind) pairs
    /// logged so far: each is logged once, at most `MAX_REFUSAL_LOGS` of
    /// them (a peer cycling through names must not grow this forever).
    refused_msgs: u64,
    refusals_logged: Set<(String, &'static str)>,
}

/// Distinct (peer, message kind) refusals logged; later ones are only counted.
const MAX_REFUSAL_LOGS: usize = 256;

/// What this node holds a peer message's subject under (see `sender_roles`).
struct Held<'a> {
    fe: &'a Frontend,
    tr: &'a Router,
    be: &'a Backend,
}

impl sender_roles::Holdings for Held<'_> {
    fn client_facility(&self, client: ChanRef) -> Option<&str> {
        self.fe.chans.get(&client).map(|c| c.facility.as_str())
    }
    fn tx_facility(&self, tid: Tid) -> Option<&str> {
        self.tr.tx_facility(tid)
    }
    fn part_facility(&self, part: PartId) -> Option<&str> {
        self.be.parts.get(&part).map(|p| p.facility.as_str())
    }
}

impl Default for Node {
    fn default() -> Self {
        Node::new(false)
    }
}

impl Node {
    /// A node; with `journal`, its backend emits journal records and waits
    /// for the commit record to be durable before announcing a commit.
    pub fn new(journal: bool) -> Node {
        Node {
            fe: Frontend::default(),
            tr: Router::default(),
            be: Backend::new(journal),
            bc: broadcast::Broadcasts::default(),
            roles: Map::default(),
            cap: channel_cap::ChannelCap::default(),
            topo: Topology::default(),
            queue: VecDeque::new(),
            out: Vec::new(),
            last_now: None,
            refused_msgs: 0,
            refusals_logged: Set::default(),
        }
    }

    /// Handle one request from library connection `conn`.
    pub fn handle_request(&mut self, now: Instant, conn: ConnId, req: Request) {
        let mut ctx = ctx!(self, now);
        match req {
            Request::Open { chan, role, facility, flags, range } => {
                // A router call-out serves at a router: this node must be one.
                let tr_callout = role == Role::Server && flags & crate::flags::ope::TR_CALL_OUT != 0;
                let refusal = if tr_callout {
                    (!self.topo.facilities.roles(&facility).router).then_some(Status::Notrouter)
                } else {
                    self.topo.facilities.refuse_open(role, &facility)
                };
                // A channel id opened again replaces its channel: it adds none.
                let refusal = refusal.or_else(|| {
                    let new = !self.roles.contains_key(&(conn, chan));
                    (new && !self.cap.admit(conn)).then_some(Status::Toomanychn)
                });
                if let Some(status) = refusal {
                    // A facility defined without this node in the role the
                    // channel needs: the channel is closed at once.
                    ctx.deliver(conn, frontend::status_delivery(chan, MsgType::Closed, None, status, 0));
                    return;
                }
                if self.roles.insert((conn, chan), role).is_none() {
                    self.cap.opened(conn);
                }
                self.bc.opened((conn, chan), role, facility.clone());
                match role {
                    Role::Client => self.fe.open(&mut ctx, (conn, chan), facility),
                    Role::Server => {
                        self.be.open(&mut ctx, (conn, chan), facility.clone(), flags, range);
                        if !self.be.serves((conn, chan)) {
                            // Refused (rtr_mt_closed): it hears nothing more.
                            self.bc.closed((conn, chan));
                        }
                        // Its role events (primary or standby) come when its
                        // partition's role is known (see `events`).
                    }
                }
            }
            Request::Close { chan } => {
                self.bc.closed((conn, chan));
                let role = self.roles.remove(&(conn, chan));
                if role.is_some() {
                    self.cap.closed(conn);
                }
                match role {
                    Some(Role::Client) => self.fe.close(&mut ctx, (conn, chan)),
                    Some(Role::Server) => self.be.close(&mut ctx, (conn, chan)),
                    None => {}
                }
            }
            Request::Subscribe { chan, recipient, events } => {
                let subs = crate::events::Subscription { ranges: events };
                self.bc.subscribe((conn, chan), recipient, subs);
            }
            // A shadow secondary's server broadcasts nothing: its primary's
            // server sends the same (RTR suppresses the secondary's
            // broadcasts, docs/shadow.md).
            Request::Broadcast { chan, .. } if self.be.serves_as_secondary((conn, chan)) => {}
            Request::Broadcast { chan, evtnum, rcpspc, data } => {
                let sent = self.bc.broadcast(&mut ctx, (conn, chan), evtnum, &rcpspc, data.clone());
                // The other nodes' channels hear it through a router (not
                // transactional: with no router linked it reaches only this node).
                if let Some((facility, to_servers)) = sent {
                    if let Some(&r) = ctx.topo.routers(&facility).first() {
                        ctx.to_router(r, ToRouter::Broadcast { facility, evtnum, rcpspc, data, to_servers });
                    }
                }
            }
            Request::Disconnect => {
                let mine: Vec<(ChanRef, Role)> =
                    self.roles.iter().filter(|(r, _)| r.0 == conn).map(|(r, role)| (*r, *role)).collect();
                for (r, role) in mine {
                    self.roles.remove(&r);
                    match role {
                        Role::Client => self.fe.close(&mut ctx, r),
                        Role::Server => self.be.close(&mut ctx, r),
                    }
                }
                self.cap.gone(conn);
                self.fe.forget_conn(conn);
                self.bc.closed_conn(conn);
            }
            other => {
                let chan = request_chan(&other);
                match self.roles.get(&(conn, chan)) {
                    Some(Role::Client) => self.fe.request(&mut ctx, (conn, chan), other),
                    Some(Role::Server) => self.be.request(&mut ctx, (conn, chan), other),
                    // A request for a channel the node does not know (closed
                    // meanwhile): nothing to do; the library already answered.
                    None => {}
                }
            }
        }
        self.run(now);
    }

    /// Take one input (see [`NodeInput`]). Operator changes return their
    /// answer; every other input returns `None`.
    pub fn handle(
        &mut self,
        now: Instant,
        input: NodeInput,
    ) -> Option<Result<String, crate::protocol::admin::AdminError>> {
        match input {
            NodeInput::Request { conn, req } => self.handle_request(now, conn, req),
            NodeInput::Recover { records, epoch } => {
                self.recover(now, epoch, &records);
            }
            NodeInput::JournalDone { token, result } => self.journal_done(now, token, result),
            NodeInput::JournalFailed { tids, status } => self.journal_failed(now, tids, status),
            NodeInput::TakenOverLost { jid } => self.taken_over_lost(now, jid),
            NodeInput::Tick => self.tick(now),
            NodeInput::Peer { from, msg } => self.peer_input(now, from, msg),
            NodeInput::LinkUp { id, info } => self.link_up(now, id, info),
            NodeInput::LinkDown { id } => self.link_down(now, id),
            NodeInput::TakeoverDone { node, result } => self.takeover_done(now, &node, result),
            NodeInput::Claimed { range, result } => self.claimed(now, &range, result),
            NodeInput::HolderChecked { range, epoch, result } => self.holder_checked(now, &range, epoch, result),
            NodeInput::NoteRead { range, then, result } => self.note_read(now, &range, then, result),
            NodeInput::RoleLost { range, epoch } => self.role_lost(now, &range, epoch),
            NodeInput::SetPartition { facility, id, change } => {
                return Some(self.set_partition(now, &facility, id, change));
            }
            NodeInput::SetShadowing { facility, id, on } => return Some(self.shadowing_set(now, &facility, id, on)),
            NodeInput::SetTransaction { tid, change } => return Some(self.set_transaction(now, tid, change)),
        }
        None
    }

    /// Rebuild state from recovered journal records (before any request).
    /// `epoch`: the journal's owner epoch this open claimed (it orders this
    /// node's own announcement of its journal against a reader's takeover:
    /// `ToRouter::TookOver::epoch`). Returns the number of committed
    /// transactions to replay to servers.
    pub fn recover(&mut self, now: Instant, epoch: u64, records: &[Record]) -> usize {
        let mut ctx = ctx!(self, now);
        let n = self.be.recover(&mut ctx, epoch, records);
        self.run(now);
        n
    }

    /// A synced journal write with `token` completed (or failed with `status`).
    pub fn journal_done(&mut self, now: Instant, token: u64, result: Result<(), Status>) {
        let mut ctx = ctx!(self, now);
        self.be.journal_done(&mut ctx, token, result);
        self.run(now);
    }

    /// Unsynced journal writes for these transactions failed.
    pub fn journal_failed(&mut self, now: Instant, tids: Vec<Tid>, status: Status) {
        let mut ctx = ctx!(self, now);
        self.be.journal_failed(&mut ctx, tids, status);
        self.run(now);
    }

    /// Let time pass: fire expired timers.
    pub fn tick(&mut self, now: Instant) {
        let mut ctx = ctx!(self, now);
        self.tr.tick(&mut ctx);
        self.be.tick(&mut ctx);
        self.run(now);
    }

    /// The earliest instant at which [`Node::tick`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        [self.tr.next_deadline(), self.be.next_deadline(), self.tr.forget_deadline(), self.fe.ack_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// A message from a role on linked peer `from`.
    pub fn peer_input(&mut self, now: Instant, from: NodeRef, msg: Internal) {
        if !self.topo.peers.contains_key(&from) {
            // Sent before its link went down: that link's messages are over.
            return;
        }
        let held = Held { fe: &self.fe, tr: &self.tr, be: &self.be };
        if let Err(why) = sender_roles::allowed(&self.topo, from, &msg, &held) {
            self.refuse(from, why);
            return;
        }
        self.queue.push_back((from, msg));
        self.run(now);
    }

    /// Drop a peer message its sender's roles do not allow: counted, and
    /// logged once per (peer, message kind).
    fn refuse(&mut self, from: NodeRef, why: Refusal) {
        self.refused_msgs += 1;
        let name = self.topo.name(from).to_string();
        if self.refusals_logged.len() < MAX_REFUSAL_LOGS && self.refusals_logged.insert((name.clone(), why.kind())) {
            self.out.push(Output::Log(format!(
                "peer {name}: message dropped: {why} (later ones of this kind from it are dropped silently)"
            )));
        }
    }

    /// Peer messages dropped because the sender does not play the role
    /// they need in the agreed facility definitions (for metrics).
    pub fn refused_peer_messages(&self) -> u64 {
        self.refused_msgs
    }

    /// The link to peer `id` is up (its handshake agreed on these
    /// facilities). Backends register their partitions with it when it is
    /// a router of theirs; then client transactions that lost their last
    /// router after the client's accept are driven again through it.
    pub fn link_up(&mut self, now: Instant, id: NodeRef, info: PeerInfo) {
        let events = self.link_events(&info, true);
        self.topo.peers.insert(id, info);
        self.be.keep_decided = true;
        let mut ctx = ctx!(self, now);
        for (facility, e, role) in events {
            self.bc.rtr_event(&mut ctx, &facility, e, role, None);
        }
        self.be.router_up(&mut ctx, id);
        self.fe.router_up(&mut ctx, id);
        let name = ctx.topo.name(id).to_string();
        self.tr.backend_linked(&mut ctx, id, &name);
        self.run(now);
    }

    /// The connectivity events a link coming up (or going) raises here, for
    /// each facility it serves: (facility, event, channels' role).
    /// FERTRGAIN/LOSS to client channels, BERTRGAIN/LOSS to server
    /// channels, RTRFEGAIN/LOSS and RTRBEGAIN/LOSS to every channel of
    /// this router's facility.
    fn link_events(&self, peer: &PeerInfo, up: bool) -> Vec<(String, i32, Option<Role>)> {
        let mut out = Vec::new();
        let pick = |gain: i32| if up { gain } else { gain + 1 };
        for (facility, theirs) in &peer.facilities {
            let mine = self.topo.facilities.roles(facility);
            if mine.frontend && theirs.router {
                out.push((facility.clone(), pick(events::FERTRGAIN), Some(Role::Client)));
            }
            if mine.router && theirs.frontend {
                out.push((facility.clone(), pick(events::RTRFEGAIN), None));
            }
            if mine.router && theirs.backend {
                out.push((facility.clone(), pick(events::RTRBEGAIN), None));
            }
            if mine.backend && theirs.router {
                out.push((facility.clone(), pick(events::BERTRGAIN), Some(Role::Server)));
            }
        }
        out
    }

    /// The link to peer `id` went down: its roles are gone. Its partitions
    /// leave this router (a standby of each active one is promoted),
    /// transactions it coordinated wait here for another router, and
    /// transactions routed through it are driven again through the next
    /// router of their facility.
    pub fn link_down(&mut self, now: Instant, id: NodeRef) {
        let Some(info) = self.topo.peers.remove(&id) else { return };
        let events = self.link_events(&info, false);
        let mut ctx = ctx!(self, now);
        for (facility, e, role) in events {
            self.bc.rtr_event(&mut ctx, &facility, e, role, None);
        }
        self.tr.peer_lost(&mut ctx, id, &info.name);
        self.fe.router_lost(&mut ctx, id);
        self.be.router_lost(&mut ctx, id);
        self.run(now);
    }

    /// The journal of a lost node was taken over as journal `jid` (its
    /// surviving records), or could not be (why).
    /// Taken-over journal `jid` can no longer be written (another node took
    /// it over since, or it failed): this node gives it up.
    pub fn taken_over_lost(&mut self, now: Instant, jid: u32) {
        let mut ctx = ctx!(self, now);
        self.be.taken_over_lost(&mut ctx, jid);
        self.run(now);
    }

    pub fn takeover_done(&mut self, now: Instant, node: &str, result: Result<JournalRead, String>) {
        let mut ctx = ctx!(self, now);
        self.be.takeover_done(&mut ctx, node, result);
        self.run(now);
    }

    /// Channels at most one library connection may hold open (default
    /// `MAX_CHANNELS`); an open over it is closed with `RTR_STS_TOOMANYCHN`.
    pub fn set_max_channels_per_conn(&mut self, max: usize) {
        self.cap.set_max(max);
    }

    /// Opens refused over [`Node::set_max_channels_per_conn`]'s bound.
    pub fn refused_opens(&self) -> u64 {
        self.cap.refused()
    }

    /// What partitions do when a lost holder's journal cannot be taken
    /// over ([`RecoveryPolicy`]).
    pub fn set_recovery_policy(&mut self, policy: RecoveryPolicy) {
        self.be.policy = policy;
    }

    /// What this node's shadow secondaries do when their primary's node is
    /// lost ([`FailoverPolicy`], docs/shadow.md): for shadow partitions
    /// made from now on. Default, as RTR's: `fail_to_standby` (a standby
    /// of the primary's site takes over; the secondary claims only
    /// `START_DEFER` after the primary's holder is gone).
    pub fn set_failover_policy(&mut self, policy: FailoverPolicy) {
        self.be.set_failover_policy(policy);
    }

    /// The role authority's answer to an [`Output::Claim`] for `range`
    /// (an error: it could not be reached or could not answer).
    pub fn claimed(&mut self, now: Instant, range: &str, result: Result<crate::authority::Claim, String>) {
        let mut ctx = ctx!(self, now);
        self.be.claimed(&mut ctx, range, result);
        self.run(now);
    }

    /// The role authority's answer to an [`Output::CheckHolder`]: whether
    /// the holder of grant `epoch` of `range` is gone (an error: it could
    /// not be reached or could not answer).
    pub fn holder_checked(&mut self, now: Instant, range: &str, epoch: u64, result: Result<bool, String>) {
        let mut ctx = ctx!(self, now);
        self.be.holder_checked(&mut ctx, range, epoch, result);
        self.run(now);
    }

    /// The role authority's answer to an [`Output::ReadNote`]: the note of
    /// `range` (an error: it could not be reached or could not answer),
    /// with the claim answer it was read for.
    pub fn note_read(
        &mut self,
        now: Instant,
        range: &str,
        then: Option<crate::authority::Claim>,
        result: Result<Option<String>, String>,
    ) {
        let mut ctx = ctx!(self, now);
        self.be.shadow_note_read(&mut ctx, range, then, result);
        self.run(now);
    }

    /// The role authority says this node no longer holds grant `epoch` of
    /// `range` (a newer grant exists, or its lease ran out): the partition
    /// stops being active at once.
    pub fn role_lost(&mut self, now: Instant, range: &str, epoch: u64) {
        let mut ctx = ctx!(self, now);
        self.be.role_lost(&mut ctx, range, epoch);
        self.run(now);
    }

    /// The linked peers (for `rtr show link`).
    pub fn peers(&self) -> &Map<NodeRef, PeerInfo> {
        &self.topo.peers
    }

    /// Take the deliveries produced so far.
    pub fn take_output(&mut self) -> Vec<Output> {
        if let Some(now) = self.last_now {
            // Once per pass (the runtime takes the output after a batch of
            // inputs): scanning the output for riding messages after every
            // input would cost the square of the pass's size.
            self.flush_batches(now);
        }
        std::mem::take(&mut self.out)
    }

    /// Give back the (emptied) vector of an earlier [`Node::take_output`],
    /// so that the next pass's outputs go into its allocation instead of
    /// growing a new vector from nothing (a pass at 32 clients has a
    /// hundred outputs or more: several reallocations per pass). Ignored
    /// unless the node has no output waiting.
    pub fn reuse_output(&mut self, mut spent: Vec<Output>) {
        spent.clear();
        if self.out.is_empty() && spent.capacity() > self.out.capacity() {
            self.out = spent;
        }
    }

    /// Run role-to-role messages until none is left.
    fn run(&mut self, now: Instant) {
        while let Some((from, m)) = self.queue.pop_front() {
            let mut ctx = ctx!(self, now);
            match m {
                Internal::Fe(ToFrontend::Broadcast { facility, evtnum, rcpspc, data }) => {
                    self.bc.deliver(&mut ctx, &facility, false, evtnum, &rcpspc, data)
                }
                Internal::Be(ToBackend::Broadcast { facility, evtnum, rcpspc, data }) => {
                    self.bc.deliver(&mut ctx, &facility, true, evtnum, &rcpspc, data)
                }
                Internal::Tr(m) => self.tr.handle(&mut ctx, from, m),
                Internal::Fe(m) => self.fe.handle(&mut ctx, from, m),
                Internal::Be(m) => self.be.handle(&mut ctx, from, m),
            }
            self.events(now);
        }
        self.events(now);
        self.last_now = Some(now);
    }

    /// Acknowledgements and forgets (`router/forget.rs`) leave with the
    /// other messages to their node in this pass, or on their own once
    /// they waited `FLUSH_AFTER`. A forget for this node's own backend is
    /// taken at once (its journal records join this pass's output).
    fn flush_batches(&mut self, now: Instant) {
        let out = &self.out;
        let riding =
            |to: NodeRef| to == LOCAL || out.iter().any(|o| matches!(o, Output::Peer { peer, .. } if *peer == to));
        let acks = self.fe.take_acks(now, riding);
        let ctx = ctx!(self, now);
        let forgets = self.tr.take_forgets(&ctx, |to| {
            to == LOCAL || ctx.out.iter().any(|o| matches!(o, Output::Peer { peer, .. } if *peer == to))
        });
        let mut ctx = ctx!(self, now);
        for (to, tids) in acks {
            // Ahead of the other messages to that router: its forgets can
            // then ride with what it sends on for them.
            let m = Output::Peer { peer: to, msg: Internal::Tr(ToRouter::Acked { tids }) };
            match ctx.out.iter().position(|o| matches!(o, Output::Peer { peer, .. } if *peer == to)) {
                Some(at) => ctx.out.insert(at, m),
                None => ctx.out.push(m),
            }
        }
        for (to, tids) in forgets {
            if to == LOCAL {
                self.be.forget(&mut ctx, tids);
            } else {
                ctx.to_backend(to, ToBackend::Forget { tids });
            }
        }
    }

    /// RTR events the roles noted: key ranges becoming routable or not at
    /// this router (the first and last make the facility ready or dead),
    /// and server roles (primary, standby, recovery complete).
    fn events(&mut self, now: Instant) {
        if self.tr.range_events.is_empty() && self.be.role_events.is_empty() {
            return; // the common case, after every message
        }
        let mut ctx = ctx!(self, now);
        for (facility, e) in std::mem::take(&mut self.tr.range_events) {
            self.bc.rtr_event(&mut ctx, &facility, e, None, None);
        }
        for backend::RoleEvent { facility, evtnum: e, chan } in std::mem::take(&mut self.be.role_events) {
            self.bc.rtr_event(&mut ctx, &facility, e, None, Some(chan));
        }
    }

    /// Counts for tests and `show` commands.
    /// The transaction counters of this node's frontend.
    pub fn tx_metrics(&self) -> &metrics::TxMetrics {
        &self.fe.metrics
    }

    pub fn stats(&self) -> NodeStats {
        NodeStats { active_tx: self.tr.active(), partitions: self.be.partitions(), servers: self.be.servers() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeStats {
    pub active_tx: usize,
    pub partitions: usize,
    pub servers: usize,
}

fn request_chan(r: &Request) -> ChanId {
    match r {
        Request::Open { chan, .. }
        | Request::Close { chan }
        | Request::StartTx { chan, .. }
        | Request::Send { chan, .. }
        | Request::Reply { chan, .. }
        | Request::Accept { chan, .. }
        | Request::Reject { chan, .. }
        | Request::Ack { chan, .. }
        | Request::Subscribe { chan, .. }
        | Request::Broadcast { chan, .. }
        | Request::Prepare { chan, .. } => *chan,
        Request::Disconnect => 0,
    }
}

#[cfg(test)]
mod cluster_tests;
#[cfg(test)]
mod tests;
