//! A shadowed key range's log (docs/shadow.md, "Order, remember mode and
//! catch-up"): the commits a site remembers for the other site, and the
//! other site applying them in the sender's order.
//!
//! **Sender** (normally the primary). A commit of a shadow primary's branch
//! that its secondary did not take part in (no `Shipped` for it came before
//! the outcome: no secondary was up, or its branch was dropped) gets the
//! next number of the range's log, written as `TxRecord::Seq` in the
//! commit's own synced write (no extra fdatasync). Once durable it is an
//! entry of the log: kept, with its messages, until the other site says it
//! applied it (`ShadowApplied`); its `Done` waits for that too
//! (`shadow_held`). While the log holds any entry the primary is not in
//! step (`ShadowUp::in_sync` false): routers give the secondary no live
//! work, so it applies every commit in the primary's order. Entries go to
//! the other site's active partition through a router (`ShadowLog`), a
//! window at a time, again from the release point when nothing moved for
//! `RESEND`.
//!
//! **Receiver** (normally the secondary). It applies entries one at a
//! time, in the log's order: entry `pos` once it applied `prev`. An entry
//! whose transaction it holds (a live branch that committed here, or work
//! it applied otherwise) is skipped; one whose live branch here is still
//! undecided waits for that branch's outcome (given back, it is applied
//! from the entry), and a branch that voted yes durably is committed on
//! the entry's authority, which proves the commit: its router may have
//! forgotten it (`commit_on_entry`). Any other is written here (messages,
//! `Seq`, `Commit`, synced) and presented as committed work; once its
//! server acknowledged it, the sender hears `ShadowApplied`. The applied
//! entry's `Done` waits for the sender's release point, so that after a
//! restart the receiver knows the last entry it applied (its `Seq` record)
//! and nothing is applied twice.
//!
//! The roles are not tied to primary and secondary: a site that was
//! primary and comes back with entries the other site never applied (the
//! other site became primary meanwhile, RTR's "double hit") sends them
//! across the same way, and the new primary applies them.
//!
//! **Sure and unsure.** Only a live branch made while this site was the
//! primary, committed with the router's word that no secondary took part,
//! is surely missing at the other site. Every other remembered commit
//! (recovered from a journal, decided by an inquiry, handed here, made at
//! the secondary) may be there already: it is sent as `resent`, and the
//! other site presents it as uncertain (`LogEntry::unsure`).
//!
//! **Recovered commits** are remembered when a shadow partition presents
//! them, whatever its side, unless a log of their range knows them
//! (`remember_recovered`).
//!
//! Entries of a journal taken over from a lost node of the same site join
//! this node's log; their `Done` stays in that journal (its owner's, when
//! it starts again: it sends them again, and the other site presents them
//! as uncertain).
//!
//! An entry whose `Msg` records a full journal refused after the vote is
//! restated with the commit (`TxRecord::Restated`; simulator `--shadow
//! --seed 763`).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound::{Excluded, Included, Unbounded};
use std::time::{Duration, Instant};

use super::shadow::Side;
use super::{Backend, Branch, Committing, PartRole};
use crate::node::{Ctx, LogPos, NodeRef, PartId, ShadowEntry, ToBackend, ToRouter, LOCAL, SLOT_SERIES};
use crate::protocol::Bytes;
use crate::status::Status;
use crate::tid::Tid;
use crate::txrecord::{work_print, SeqMark, ShadowSeqTx, TxRecord};

/// How long a sender waits for the other site's progress before it sends
/// its log again from the release point (through the next router).
pub(super) const RESEND: Duration = Duration::from_millis(500);
/// How soon a receiver looks again at an entry that waits (a live branch's
/// outcome, or a write the journal refused).
const RECHECK: Duration = Duration::from_millis(100);
/// Most entries in flight to the other site, and most bytes in one send.
const WINDOW: usize = 64;
/// How many `RECHECK`s an entry waits for a copy of its transaction here
/// (not a live branch) to be decided before it is applied as uncertain.
const COPY_WAITS: u32 = 50;
const WINDOW_BYTES: usize = 256 * 1024;

/// A number given to a commit being written (`Backend::numbered`): its
/// messages are the branch's, or (work handed here whole) these.
pub(super) struct Numbered {
    part: PartId,
    rid: String,
    pos: LogPos,
    msgs: Option<Vec<Bytes>>,
    /// A recovered commit the other site may have (`remember_recovered`).
    unsure: bool,
}

/// A router's word on `tid`'s commit, which comes next
/// (`ToBackend::Shipped`): the secondary's branches took part in it
/// (`parts`), or were placed and dropped (`unsure`).
#[derive(Clone)]
pub(super) struct Shipped {
    /// The router that said it: its word counts only for branches it
    /// decides here (`Backend::number`).
    from: NodeRef,
    parts: Vec<PartId>,
    unsure: Vec<PartId>,
}

/// A commit this node keeps for the other site.
pub(super) struct LogEntry {
    tid: Tid,
    msgs: Vec<Bytes>,
    reason: u32,
    /// The other site may have applied it already (a recovered commit
    /// remembered whatever this site's side): sent as `resent`, so that
    /// the other site presents it as uncertain and its server checks
    /// (simulator `--shadow --seed 74`: the primary's site had applied it
    /// live, the node that read the secondary's journal sent it as new,
    /// and it was applied twice).
    unsure: bool,
    /// Its records are in this node's own journal (else in a lost node's
    /// journal read here: its `Released` mark is not written here, where it
    /// would be the transaction's only record, open for ever; simulator
    /// `--shadow --seed 951`: fourteen such marks filled the journal).
    own: bool,
}

/// This node's log of one shadowed range (by its primary record's name).
/// Its entries are kept by series (`number`), each its own stream: the
/// other site follows each series on its own, so each has its own release
/// point and send position. One position for the whole log compared
/// positions of different series, which say nothing of the order of the
/// commits (simulator `--shadow --seed 53 --routers 2`: a node released in
/// its site-slot series, (1<<63)|2, then numbered as primary in series 2;
/// every entry of series 2 was below the release point and was never sent,
/// and the other site never applied 716 commits).
#[derive(Default)]
pub(super) struct ShadowLog {
    /// The series this node numbers in now (0: none begun; see `number`).
    series: u64,
    last: u64,
    /// The last position this node gave in each series it numbered in
    /// (this life): numbering in a series again after another continues
    /// from there, even once that series' entries were all released and
    /// dropped. Recomputed from the entries left, it began again at 1, and
    /// the other site, which had applied that position of the series
    /// before, skipped the new entry as applied (simulator `--shadow --seed
    /// 525 --routers 1`: a node active for its site, primary, then not,
    /// then numbering under its slot's grant again).
    given: BTreeMap<u64, u64>,
    /// Numbers given to commits whose record is not durable yet: nothing
    /// of their series after the first of them is sent (its `prev` could
    /// not be known).
    pending: BTreeSet<LogPos>,
    /// Each series' entries and send state.
    streams: BTreeMap<u64, Stream>,
    resend_at: Option<Instant>,
    /// Sends again without progress (each through the next router).
    tries: usize,
}

/// One series of a `ShadowLog`: every position in it has that series.
#[derive(Default)]
struct Stream {
    /// Durable entries the other site has not applied, as far as known.
    entries: BTreeMap<LogPos, LogEntry>,
    /// The other site applied everything up to here.
    released: LogPos,
    /// ... and this node's journal says so (`SeqMark::Released`, synced):
    /// only this much is told to the other site, which then frees its own
    /// records of those entries. Told before, a restart here resent
    /// entries the other site no longer knew it had applied.
    durable_released: LogPos,
    /// Sent up to here since the last (re)start of sending.
    sent_upto: LogPos,
    released_sent: LogPos,
    /// The highest entry ever sent (or, after a restart, that may have
    /// been): an entry up to it is sent again as `resent`.
    ever_sent: LogPos,
}

impl ShadowLog {
    pub(super) fn len(&self) -> usize {
        self.streams.values().map(|s| s.entries.len()).sum()
    }

    fn is_empty(&self) -> bool {
        self.streams.values().all(|s| s.entries.is_empty())
    }

    /// Is `tid` an entry of this log?
    fn holds(&self, tid: Tid) -> bool {
        self.streams.values().any(|s| s.entries.values().any(|e| e.tid == tid))
    }

    fn insert(&mut self, pos: LogPos, e: LogEntry) {
        self.streams.entry(pos.0).or_default().entries.insert(pos, e);
    }
}

/// A series of the other site's log of one range: the range's primary
/// record name and the series.
pub(super) type FollowKey = (String, u64);

/// Where this node stands in one series of the other site's log of one
/// range.
#[derive(Default)]
pub(super) struct Follow {
    /// Applied (or skipped) every entry up to here.
    pos: LogPos,
    queue: BTreeMap<LogPos, ShadowEntry>,
    /// The entry being written or presented.
    applying: Option<(LogPos, Tid)>,
    /// The router the log came through: acknowledgements go back there.
    via: Option<NodeRef>,
    /// The sender's release point.
    released: LogPos,
    /// Entries applied here whose `Done` waits for the release point.
    held: Vec<(LogPos, Tid)>,
    recheck_at: Option<Instant>,
    /// The entry at the head of the queue and how often it waited for a
    /// copy of its transaction here.
    waited: (LogPos, u32),
    /// When this node tells its applied position again while entries it
    /// applied wait for the release point (`held`): the sender's release
    /// may have been lost, and hearing the position again it tells it
    /// again.
    reack_at: Option<Instant>,
}

/// What holds a commit's `Done` back for the other site
/// (`Backend::shadow_held`).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Held {
    /// Log entries of it not released yet (here, or applied here from the
    /// other site's log).
    n: u32,
    /// Its router forgot it already, or none will (applied from a log):
    /// `Done` follows the last release.
    pub(super) forgot: bool,
}

/// Released entries whose `Released` records are being synced.
pub(super) struct Releasing {
    rid: String,
    part: PartId,
    pos: LogPos,
    /// The entries released, kept until the write is durable: a failed
    /// write puts them back in the log (`release_written`).
    entries: BTreeMap<LogPos, LogEntry>,
    /// Transactions whose last hold this release is: their `Done` is
    /// written in place of the `Released` marks (`release_ends`).
    ended: Vec<Tid>,
}

/// A recovered commit's remembered copy being written here
/// (`remember_recovered`).
pub(super) struct Remembering {
    tid: Tid,
    reason: u32,
    recs: Vec<(Tid, TxRecord)>,
    /// Its messages came from another node's journal (this node's own
    /// journal has only this copy of it).
    foreign: bool,
    /// Its transaction was not finished here when the write began: one
    /// more `unacked` waits for the write.
    guarded: bool,
}

/// A range's share of a recovered commit to remember (`remember_recovered`).
pub(super) struct ToRemember {
    part: PartId,
    msgs: Vec<Bytes>,
    /// Read from this node's own journal (else another's).
    from_own: bool,
}

/// An entry being written here before it is presented.
pub(super) struct Applying {
    rid: String,
    part: PartId,
    pos: LogPos,
    tid: Tid,
    msgs: Vec<Bytes>,
    reason: u32,
    resent: bool,
    /// A router's requests for the live branch of the same transaction
    /// in the same partition that came while the entry is written, in
    /// arrival order (`entry_first`): handled once the write finished.
    parked: Vec<(NodeRef, ToBackend)>,
}

impl Backend {
    /// Numbers for the commit of `tid`'s branches `parts`: one per branch
    /// of a shadow primary whose secondary did not take part (`Shipped`),
    /// as `Seq` records for the commit's write. The same ones again for a
    /// commit written again (a full journal refused it).
    pub(super) fn shadow_number(&mut self, tid: Tid, parts: &[PartId]) -> Vec<(Tid, TxRecord)> {
        let mut parts = parts.to_vec();
        parts.sort_unstable();
        let list: Vec<(PartId, Option<Vec<Bytes>>)> =
            parts.into_iter().filter(|p| self.branches.contains_key(&(tid, *p))).map(|p| (p, None)).collect();
        self.number(tid, list, false, false)
    }

    /// `shadow_number` for committed work handed here whole (`Adopt`): the
    /// shadow primaries here whose ranges hold some of `msgs`.
    pub(super) fn shadow_number_work(&mut self, tid: Tid, facility: &str, msgs: &[Bytes]) -> Vec<(Tid, TxRecord)> {
        let mut parts: Vec<PartId> = self
            .parts
            .iter()
            .filter(|(_, p)| p.facility == facility && p.shadow.as_ref().is_some_and(|s| s.side != Side::Secondary))
            .map(|(id, _)| *id)
            .collect();
        parts.sort_unstable();
        let list: Vec<(PartId, Option<Vec<Bytes>>)> = parts
            .into_iter()
            .filter_map(|id| {
                let p = self.parts.get(&id)?;
                let mine: Vec<Bytes> = msgs.iter().filter(|m| p.range.contains(m) == Ok(true)).cloned().collect();
                (!mine.is_empty()).then_some((id, Some(mine)))
            })
            .collect();
        // Handed here: the node that had it may have been the secondary's
        // site's (simulator `--shadow --seed 104`: a lost node's commit,
        // read and applied at both sites, handed on again by that node
        // when it started on its journal; numbered as new, the other site
        // applied it twice).
        self.number(tid, list, false, true)
    }

    /// The ranges whose numbers `tid`'s commit being written got.
    pub(super) fn numbered_ranges(&self, tid: Tid) -> Vec<String> {
        self.numbered.get(&tid).map(|v| v.iter().map(|n| n.rid.clone()).collect()).unwrap_or_default()
    }

    /// Numbers for `list`'s branches of `tid`. `any_side`: a recovered
    /// commit no log knows (`remember_recovered`), numbered whatever this
    /// site's side; else only where this site may be the primary.
    /// `unsure`: the other site may have it already (work handed here or
    /// recovered, not a live commit here): its entries are sent as
    /// `resent`, and presented there as uncertain.
    fn number(
        &mut self,
        tid: Tid,
        list: Vec<(PartId, Option<Vec<Bytes>>)>,
        any_side: bool,
        unsure: bool,
    ) -> Vec<(Tid, TxRecord)> {
        let recs = |v: &[Numbered]| {
            v.iter()
                .map(|n| (tid, TxRecord::Seq { range: n.rid.clone(), pos: n.pos, mark: SeqMark::Remembered }))
                .collect()
        };
        if let Some(v) = self.numbered.get(&tid) {
            return recs(v);
        }
        let told = self.shipped.remove(&tid);
        let v = self.number_parts(tid, list, any_side, unsure, told.as_ref());
        if v.is_empty() {
            return Vec::new();
        }
        let out = recs(&v);
        self.numbered.insert(tid, v);
        if let Some(t) = told {
            self.numbered_told.insert(tid, t);
        }
        out
    }

    /// Numbers for branches `parts` of `tid` that join its commit record
    /// on its way (`Backend::outcome`, `commit_adopted_branch`: another
    /// outcome of the same commit, such as the parked outcomes of a
    /// transaction's branches replayed one by one when their owner's link
    /// goes), beside the numbers that write was given. Returns the `Seq`
    /// records of the new numbers only: that write does not carry them, so
    /// one more write does, before anyone hears of the commit
    /// (`commit_written`).
    ///
    /// `number` gives a commit its numbers once, when its write is made: a
    /// joining branch's range was never numbered, its commit never
    /// remembered, and the other site never applied that range's share
    /// (simulator `--shadow --seed 5606`, two routers: be1, the shadow
    /// primary of both of a transaction's ranges, whose secondary's
    /// branches at be3 were lost with be3, got tr1's late commit of its two
    /// branches parked behind tr2, which had taken them with an inquiry;
    /// tr2 died, the two outcomes were replayed one by one, the first
    /// range was numbered with the commit's write, the second joined it
    /// unnumbered, and west never applied that range's share). The
    /// rule: every branch a commit record here commits is numbered as it
    /// would be alone, whenever it joins the record. Under the same
    /// router's word (`Shipped`) as the first numbers.
    pub(super) fn number_joined(&mut self, tid: Tid, parts: &[PartId]) -> Vec<(Tid, TxRecord)> {
        let given: Vec<PartId> =
            self.numbered.get(&tid).map(|v| v.iter().map(|n| n.part).collect()).unwrap_or_default();
        let mut parts: Vec<PartId> = parts.iter().copied().filter(|p| !given.contains(p)).collect();
        parts.sort_unstable();
        parts.dedup();
        let list: Vec<(PartId, Option<Vec<Bytes>>)> =
            parts.into_iter().filter(|p| self.branches.contains_key(&(tid, *p))).map(|p| (p, None)).collect();
        if list.is_empty() {
            return Vec::new();
        }
        let told = if self.numbered.contains_key(&tid) {
            self.numbered_told.get(&tid).cloned()
        } else {
            self.shipped.remove(&tid)
        };
        let v = self.number_parts(tid, list, false, false, told.as_ref());
        if v.is_empty() {
            return Vec::new();
        }
        let out = v
            .iter()
            .map(|n| (tid, TxRecord::Seq { range: n.rid.clone(), pos: n.pos, mark: SeqMark::Remembered }))
            .collect();
        if let Some(t) = told {
            self.numbered_told.entry(tid).or_insert(t);
        }
        self.numbered.entry(tid).or_default().extend(v);
        out
    }

    /// `number`'s numbering of `list`, under the router's word `told`.
    fn number_parts(
        &mut self,
        tid: Tid,
        list: Vec<(PartId, Option<Vec<Bytes>>)>,
        any_side: bool,
        unsure: bool,
        told: Option<&Shipped>,
    ) -> Vec<Numbered> {
        // The word counts for a branch only from the router that decides
        // it here (its owner, whose outcome this commit is). A word from
        // another router is of another drive's commit, which this node
        // refused (simulator `--shadow --seed 2417`: the first drive's
        // router said the secondary took part, and its outcome was refused
        // here for the frontend's second drive; that drive's router gave
        // the secondary's branches back and committed at the primary alone,
        // which took the first router's word, remembered nothing, and the
        // secondary's site never applied the transaction). Taken as no
        // word, the commit is remembered as unsure: the other site skips
        // it or presents it as uncertain if it has it.
        let said_by = |part: &PartId| match (told, self.branches.get(&(tid, *part))) {
            (Some(t), Some(b)) => b.router == t.from,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let empty = Vec::new();
        let (shipped, maybe_there) = told.map_or((&empty, &empty), |t| (&t.parts, &t.unsure));
        let mut v: Vec<Numbered> = Vec::new();
        for (part, msgs) in list {
            let Some(p) = self.parts.get(&part) else { continue };
            let Some(s) = p.shadow.as_ref() else { continue };
            // Shadowing off (`rtr set partition --noshadow`): nothing is
            // remembered for the other site, whose database an operator
            // rebuilds before shadowing is turned on again.
            if s.off.is_some() {
                continue;
            }
            // The primary remembers what its secondary did not take part
            // in. So does a partition active for its site whose primary
            // claim is unanswered (it may turn out either: a secondary
            // sends it across as well, and the primary, which has it
            // already or not, applies it once). A secondary's own live
            // branches are the primary's work: not numbered.
            let may_be_primary = s.side == Side::Primary || (s.side == Side::Unknown && p.role == PartRole::Active);
            // A live branch made at the primary is its work whatever this
            // partition is by the time the commit comes (simulator
            // `--shadow --seed 9`: the primary grant moved to the other
            // site between the vote and a late outcome; not numbered, the
            // other site never had it).
            let made_primary = msgs.is_none() && self.branches.get(&(tid, part)).is_some_and(|b| b.made_primary);
            if !(may_be_primary || made_primary || any_side && p.role == PartRole::Active)
                || shipped.contains(&part) && said_by(&part)
            {
                continue;
            }
            let moved = made_primary && s.side != Side::Primary;
            let log = self.shadow_logs.entry(s.rid.clone()).or_default();
            // A series is one node's numbering under one grant: a
            // primary's is its primary grant; any other's its site slot's
            // grant, in another space (the high bit). Never continued from
            // a journal: the node that took this one over may have
            // numbered on in it meanwhile (simulator, `--shadow --seed 28`:
            // a node started again on its journal after a standby had read
            // it and gone on numbering; both numbered the same positions,
            // and the other site took the second's entries for ones it had
            // applied).
            let series = if s.side == Side::Primary { s.epoch.max(1) } else { SLOT_SERIES | p.grant.epoch };
            if log.series != series {
                log.series = series;
                log.last = log
                    .streams
                    .get(&series)
                    .into_iter()
                    .flat_map(|st| st.entries.keys())
                    .chain(log.pending.iter())
                    .filter(|k| k.0 == series)
                    .map(|k| k.1)
                    .chain(log.given.get(&series).copied())
                    .max()
                    .unwrap_or(0);
            }
            log.last += 1;
            log.given.insert(series, log.last);
            let pos = (log.series, log.last);
            log.pending.insert(pos);
            // A live branch made while this site was not the primary
            // (simulator `--shadow --seed 375 --routers 2`: the secondary's
            // branch, committed after its site became primary, was sent as
            // new and applied twice at the other site).
            // Unsure too: a durable vote's commit the router said nothing
            // of (decided by an inquiry's answers, the router that had
            // the transaction gone: simulator `--shadow --seed 155`; the
            // secondary's branch had taken part).
            let branch = self.branches.get(&(tid, part));
            let router_told = said_by(&part);
            let unsure = unsure
                || moved
                || maybe_there.contains(&part)
                || msgs.is_none() && branch.is_none_or(|b| !b.made_primary || !router_told && b.vote_durable());
            // The branch's messages now: it may be gone by the time the
            // commit is durable (moved or given back meanwhile), and the
            // entry went out with no message of its range (simulator
            // `--shadow --seed 763`: applied as empty at the other site).
            let msgs = msgs.or_else(|| branch.map(|b| b.msgs.clone()));
            v.push(Numbered { part, rid: s.rid.clone(), pos, msgs, unsure });
        }
        v
    }

    /// `tid`'s commit is durable: its numbered branches become entries of
    /// their ranges' logs (before any server hears the commit, so a
    /// conflicting transaction's vote, which comes after, finds the
    /// routers told that the primary is out of step).
    pub(super) fn shadow_committed(&mut self, ctx: &mut Ctx, tid: Tid, reason: u32) {
        self.numbered_told.remove(&tid);
        let Some(v) = self.numbered.remove(&tid) else { return };
        for Numbered { part, rid, pos, msgs, unsure } in v {
            let msgs =
                msgs.unwrap_or_else(|| self.branches.get(&(tid, part)).map(|b| b.msgs.clone()).unwrap_or_default());
            let lowest = self.lowest_series(&rid);
            let log = self.shadow_logs.entry(rid.clone()).or_default();
            log.pending.remove(&pos);
            let was_empty = log.is_empty();
            log.insert(pos, LogEntry { tid, msgs, reason, unsure, own: true });
            self.shadow_held.entry(tid).or_default().n += 1;
            ctx.detail(format!("{tid}: remembered for the other site as {}.{} (range {rid})", pos.0, pos.1));
            // Out of step, or a lower primary series held here now: the
            // routers hear it before any server hears of the commit.
            if was_empty || self.lowest_series(&rid) != lowest {
                self.announce(ctx, part);
            }
            self.push_log(ctx, &rid);
        }
    }

    /// Recovered committed work of shadow partition `part`, being presented
    /// here, that no log of its range knows (`Branch::remember`: committed
    /// by an inquiry's answer, or replayed from a journal without a `Seq`
    /// of this range): whether the other site has it is not known here (its
    /// branch may have been dropped before the commit, or never made), so
    /// it is remembered for the other site, whatever this site's side. Sent
    /// when the other site has it already, it is skipped there or
    /// presented as uncertain, and the server checks.
    ///
    /// Written to this node's own journal (messages, `Seq`, `Commit`,
    /// synced), as handed-off work is: the journal it was read from may be
    /// let go before the other site applies it. Until that write is
    /// durable the transaction is not finished here (one more `unacked`),
    /// so its `Done` cannot come before the hold.
    pub(super) fn remember_recovered(&mut self, ctx: &mut Ctx, tid: Tid, part: PartId, reason: u32) {
        // Every range of it here that waits for a number (a transaction
        // over two shadowed ranges is presented once per range), in one
        // write.
        // Only ranges whose partition is active here now: `number` numbers
        // nothing else, and a branch of a partition still waiting for its
        // role keeps its mark, to be remembered when it is presented
        // (simulator `--shadow --seed 294 --routers 2 --failover-policy
        // standby`: the first range active after a restart remembered a
        // commit over three, the other two lost their marks, and the other
        // site never applied their shares).
        let active = |q: &PartId| self.parts.get(q).is_some_and(|p| p.shadow.is_some() && p.role == PartRole::Active);
        let mut parts: Vec<PartId> = vec![part];
        parts.extend(self.branches.iter().filter(|((t, _), b)| *t == tid && b.remember).map(|((_, q), _)| *q));
        parts.retain(active);
        parts.sort_unstable();
        parts.dedup();
        let mut items = Vec::new();
        for q in parts {
            let Some(b) = self.branches.get_mut(&(tid, q)) else { continue };
            b.remember = false;
            items.push(ToRemember { part: q, msgs: b.msgs.clone(), from_own: b.journal == 0 });
        }
        // `number` gives a commit its numbers once: a range asked while
        // another's write is on its way waits for that write (its branch
        // may be gone by then: its server acknowledged it).
        self.remember_items(ctx, tid, reason, items);
    }

    fn remember_items(&mut self, ctx: &mut Ctx, tid: Tid, reason: u32, items: Vec<ToRemember>) {
        if self.numbered.contains_key(&tid) {
            return self.remember_later.entry(tid).or_default().extend(items);
        }
        let mut list: Vec<(PartId, Option<Vec<Bytes>>)> = Vec::new();
        let mut foreign: Vec<Bytes> = Vec::new();
        let mut facility = String::new();
        for ToRemember { part: q, msgs, from_own } in items {
            let Some(p) = self.parts.get(&q) else { continue };
            let Some(rid) = p.shadow.as_ref().map(|s| s.rid.as_str()) else { continue };
            if self.shadow_logs.get(rid).is_some_and(|l| l.holds(tid)) {
                continue;
            }
            facility = p.facility.clone();
            if !from_own {
                foreign.extend(msgs.iter().cloned());
            }
            list.push((q, Some(msgs)));
        }
        let seqs = self.number(tid, list, true, true);
        if seqs.is_empty() {
            return;
        }
        ctx.log(format!("{tid}: a recovered commit no shadow log here knows: remembered for the other site"));
        if !self.journal {
            return self.shadow_committed(ctx, tid, reason);
        }
        // Not finished before that write is durable (its `Done` must come
        // after the hold). Finished here already (a hand-off that came back
        // after its transaction ended here): nothing waits, and the hold's
        // release ends its records (`release_held`).
        let guarded = match self.finishing.get_mut(&tid) {
            Some(f) => {
                f.unacked += 1;
                f.own = true;
                true
            }
            None => false,
        };
        // Messages read from this node's own journal are there with their
        // commit already; those read from another journal are written
        // here too.
        let mut recs: Vec<(Tid, TxRecord)> =
            foreign.iter().map(|m| (tid, TxRecord::Msg { facility: facility.clone(), data: m.clone() })).collect();
        recs.extend(seqs);
        if !foreign.is_empty() {
            recs.push((tid, TxRecord::Commit { reason }));
        }
        let foreign = !foreign.is_empty();
        self.write_remembered(ctx, Remembering { tid, reason, recs, foreign, guarded });
    }

    fn write_remembered(&mut self, ctx: &mut Ctx, r: Remembering) {
        self.next_token += 1;
        let token = self.next_token;
        ctx.journal(r.recs.clone(), true, Some(token));
        self.remembering.insert(token, r);
    }

    /// `remember_recovered`'s write finished (`token`): the commit is an
    /// entry of the log now. A failed write (a full journal) is tried again.
    pub(super) fn remembered_written(&mut self, ctx: &mut Ctx, token: u64, result: Result<(), Status>) -> bool {
        let Some(r) = self.remembering.remove(&token) else { return false };
        if let Err(why) = result {
            ctx.log(format!("{}: its remembered copy could not be written ({why:?}): tried again", r.tid));
            self.remember_retry.push(r);
            self.remember_retry_at.get_or_insert(ctx.now + RECHECK);
            return true;
        }
        self.shadow_committed(ctx, r.tid, r.reason);
        if r.foreign {
            // This copy is for the other site only: the journal it was
            // read from keeps it answerable, and no router forgets it
            // here. Its `Done` follows the last release (simulator
            // `--shadow --seed 307 --routers 2`: kept for ever, two such
            // copies pinned the journal until it was full).
            if let Some(h) = self.shadow_held.get_mut(&r.tid) {
                h.forgot = true;
            }
        }
        // Other ranges of it asked meanwhile.
        if let Some(items) = self.remember_later.remove(&r.tid) {
            self.remember_items(ctx, r.tid, r.reason, items);
        }
        if r.guarded {
            if let Some(f) = self.finishing.get_mut(&r.tid) {
                f.unacked = f.unacked.saturating_sub(1);
            }
            self.maybe_done(ctx, r.tid);
        }
        true
    }

    /// `tid`'s commit failed (not durable: it did not happen): its numbers
    /// are given up. Left pending, nothing after them in their series was
    /// ever sent (simulator `--shadow --seed 53 --routers 2`: a commit a
    /// full journal refused, after a vote that was not durable). The
    /// positions are not used again: the next entry's `prev` skips them.
    pub(super) fn unnumber(&mut self, tid: Tid) {
        self.numbered_told.remove(&tid);
        let Some(v) = self.numbered.remove(&tid) else { return };
        for n in v {
            if let Some(log) = self.shadow_logs.get_mut(&n.rid) {
                log.pending.remove(&n.pos);
            }
        }
    }

    /// A router says the secondary's branches `parts` of `tid` take part in
    /// its commit, which comes next (`unsure`: the secondary's branch was
    /// dropped, and may learn the commit yet).
    pub(super) fn shipped(&mut self, from: NodeRef, tid: Tid, parts: Vec<PartId>, unsure: Vec<PartId>) {
        if self.numbered.contains_key(&tid) {
            return;
        }
        self.shipped.insert(tid, Shipped { from, parts, unsure });
    }

    /// This node's site if it serves `facility`'s ranges shadowed: a shadow
    /// partition of it is here, or this node's logs (read back from its
    /// journal after a restart, before any server opened again) hold a
    /// range of it. `None` otherwise: an unshadowed facility's work is
    /// weighed without sites. Said with an inquiry's answer, for a router
    /// that never saw this node's shadow partitions (started after they
    /// went down): taking the other site's application of a transaction
    /// for the same work placed again, it told this node to give its
    /// in-doubt copy back, and this site never applied the transaction
    /// (simulator `--shadow --seed 438 --routers 2 --failover-policy
    /// shadow`).
    pub(super) fn shadow_site(&self, ctx: &Ctx, facility: &str) -> Option<String> {
        let site = || self.site.clone().unwrap_or_else(|| ctx.topo.name(LOCAL).to_string());
        if let Some(s) = self.parts.values().find(|p| p.facility == facility).and_then(|p| p.shadow.as_ref()) {
            return Some(s.site.clone());
        }
        let prefix = crate::authority::facility_prefix(facility);
        let prefix = prefix.as_str();
        let known = self.shadow_logs.keys().any(|r| r.starts_with(prefix))
            || self.follows.keys().any(|(r, _)| r.starts_with(prefix));
        known.then(site)
    }

    /// Is the range of shadow partition `part` in step with the other site
    /// (nothing remembered for it)?
    pub(super) fn in_sync(&self, rid: &str) -> bool {
        self.shadow_logs.get(rid).is_none_or(ShadowLog::is_empty)
    }

    /// The lowest primary series (below `1 << 63`: a grant epoch of the
    /// range's primary record) of which this node keeps entries of range
    /// `rid` for the other site; 0: none (`ShadowUp::lowest`).
    pub(super) fn lowest_series(&self, rid: &str) -> u64 {
        self.shadow_logs
            .get(rid)
            .and_then(|l| l.streams.iter().find(|(s, st)| **s < SLOT_SERIES && !st.entries.is_empty()))
            .map_or(0, |(s, _)| *s)
    }

    /// Send the next window of `rid`'s log to the other site.
    pub(super) fn push_log(&mut self, ctx: &mut Ctx, rid: &str) {
        // Any role: a node no longer active for its site (its last server
        // left, the site's slot went to a standby) still sends what it
        // remembered, and the other site applies it.
        let Some(p) = self.part_of_primary(rid).and_then(|id| self.parts.get(&id).map(|p| (id, p))) else {
            // No partition of the range here (yet: its servers open after
            // a restart): tried again.
            if let Some(log) = self.shadow_logs.get_mut(rid).filter(|l| !l.is_empty()) {
                log.resend_at = Some(ctx.now + RESEND);
            }
            return;
        };
        let (part, p) = p;
        if p.shadow.as_ref().is_some_and(|s| s.off.is_some()) {
            // Shadowing off: the log stays here (for `PRI_DONE`, or for
            // the other site once shadowing is on again: `restart_log`).
            if let Some(log) = self.shadow_logs.get_mut(rid) {
                log.resend_at = None;
            }
            return;
        }
        let facility = p.facility.clone();
        let range = p.range.clone();
        // Routers linked now: one that said it spoke for the partner may
        // have gone since (simulator `--shadow --seed 294 --routers 2`:
        // every send went to a link that was down, and the log stalled).
        let mut partners: Vec<NodeRef> = p
            .shadow
            .as_ref()
            .map(|s| s.partner_by.iter().copied().filter(|r| ctx.topo.is_up(*r)).collect())
            .unwrap_or_default();
        let Some(log) = self.shadow_logs.get_mut(rid) else { return };
        if partners.is_empty() {
            partners = ctx.topo.routers(&facility);
        }
        partners.sort_by(|a, b| ctx.topo.name(*a).cmp(ctx.topo.name(*b)));
        let Some(router) = (!partners.is_empty()).then(|| partners[log.tries % partners.len()]) else {
            // No router linked yet: tried again, or the log waited until
            // some role change here (seed 8 of `--shadow`: a node started
            // again with what it kept never sent it).
            if !log.is_empty() {
                log.resend_at = Some(ctx.now + RESEND);
            }
            return;
        };
        // One message per series with something to say.
        let mut sends = Vec::new();
        for (&series, st) in log.streams.iter_mut() {
            let limit = log.pending.iter().find(|p| p.0 == series).copied();
            let in_flight = st.entries.range((Excluded(st.released), Included(st.sent_upto))).count();
            let mut out: Vec<ShadowEntry> = Vec::new();
            let mut bytes = 0;
            let mut prev = st.entries.range(..=st.sent_upto).next_back().map_or((0, 0), |(k, _)| *k);
            for (pos, e) in st.entries.range((Excluded(st.sent_upto), Unbounded)) {
                if limit.is_some_and(|l| *pos > l) || in_flight + out.len() >= WINDOW || bytes >= WINDOW_BYTES {
                    break;
                }
                let msgs: Vec<Bytes> = e.msgs.iter().filter(|m| range.contains(m) == Ok(true)).cloned().collect();
                bytes += msgs.iter().map(|m| m.len() + 8).sum::<usize>() + 64;
                let resent = *pos <= st.ever_sent || e.unsure;
                // `prev`: the entry before it (of this series, as all here).
                out.push(ShadowEntry { pos: *pos, prev, tid: e.tid, msgs, reason: e.reason, resent });
                prev = *pos;
            }
            if out.is_empty() && st.released_sent == st.durable_released {
                continue;
            }
            if let Some(last) = out.last() {
                st.sent_upto = last.pos;
                st.ever_sent = st.ever_sent.max(last.pos);
            }
            st.released_sent = st.durable_released;
            sends.push((out, st.durable_released));
        }
        // Entries left: looked at again (sent again from the release point
        // if nothing moved), even when nothing could go now (a full window,
        // or a number still pending): a log is never left idle with work.
        if sends.is_empty() {
            if !log.is_empty() {
                log.resend_at.get_or_insert(ctx.now + RESEND);
            }
            return;
        }
        log.resend_at = (!log.is_empty()).then_some(ctx.now + RESEND);
        for (entries, released) in sends {
            ctx.to_router(router, ToRouter::ShadowLog { facility: facility.clone(), part, entries, released });
        }
    }

    /// The other site applied every entry of `part`'s log up to `pos`.
    pub(super) fn shadow_applied(&mut self, ctx: &mut Ctx, part: PartId, pos: LogPos) {
        let Some(rid) = self.parts.get(&part).and_then(|p| p.shadow.as_ref()).map(|s| s.rid.clone()) else { return };
        let lowest = self.lowest_series(&rid);
        let Some(log) = self.shadow_logs.get_mut(&rid) else { return };
        let Some(st) = log.streams.get_mut(&pos.0) else { return };
        if pos <= st.released {
            // Told again (`Follow::reack_at`): the release point it may
            // not have heard goes out again.
            if pos <= st.durable_released {
                st.released_sent = (0, 0);
                self.push_log(ctx, &rid);
            }
            return;
        }
        st.released = pos;
        if st.sent_upto < pos {
            st.sent_upto = pos;
        }
        let keep = st.entries.split_off(&(pos.0, pos.1.saturating_add(1)));
        let done = std::mem::replace(&mut st.entries, keep);
        log.tries = 0;
        if log.is_empty() {
            ctx.log(format!("shadow range {rid}: the other site applied everything remembered for it"));
            self.announce(ctx, part);
        } else if self.lowest_series(&rid) != lowest {
            // A lower series is all released: the routers forward the
            // next one.
            self.announce(ctx, part);
        }
        self.write_release(ctx, &rid, part, pos, done);
        self.push_log(ctx, &rid);
    }

    /// Make the release of entries `done` of range `rid` (partition
    /// `part`) durable; `pos`: the release point it moves `pos.0`'s series
    /// to (`(0, 0)`: none, `drop_remembered`).
    fn write_release(&mut self, ctx: &mut Ctx, rid: &str, part: PartId, pos: LogPos, done: BTreeMap<LogPos, LogEntry>) {
        // A transaction this release ends here gets its `Done` instead of
        // `Released` marks: it says as much (recovery sends nothing of a
        // finished transaction again), and a write of `Done` records only
        // may take a full journal's extra segment (`journal::writer`), so
        // those go in a write of their own, first. The marks a full
        // journal refused were lost (simulator `--shadow --seed 784
        // --routers 2`): their entries were gone from the log, never
        // released again, and their transactions pinned the journal's
        // oldest segment for good; the other site's entries could never be
        // written there, and the sites ended apart.
        let mut holds: BTreeMap<Tid, u32> = BTreeMap::new();
        for e in done.values() {
            *holds.entry(e.tid).or_default() += 1;
        }
        let ended: Vec<Tid> = holds.into_iter().filter(|(t, k)| self.release_ends(*t, *k)).map(|(t, _)| t).collect();
        let (ends, rest): (BTreeMap<LogPos, LogEntry>, BTreeMap<LogPos, LogEntry>) =
            done.into_iter().partition(|(_, e)| ended.contains(&e.tid));
        let dones: Vec<(Tid, TxRecord)> = ended.iter().map(|t| (*t, TxRecord::Done)).collect();
        let marks: Vec<(Tid, TxRecord)> = rest
            .iter()
            .filter(|(_, e)| e.own)
            .map(|(p, e)| (e.tid, TxRecord::Seq { range: rid.to_string(), pos: *p, mark: SeqMark::Released }))
            .collect();
        let writes = [(dones, ends, ended), (marks, rest, Vec::new())];
        for (recs, entries, ended) in writes {
            if entries.is_empty() {
                continue;
            }
            let r = Releasing { rid: rid.to_string(), part, pos, entries, ended };
            if !self.journal || recs.is_empty() {
                self.released(ctx, r);
                continue;
            }
            self.next_token += 1;
            let token = self.next_token;
            ctx.journal(recs, true, Some(token));
            self.shadow_releases.insert(token, r);
        }
    }

    /// Released entries are durable as such (`token`'s write finished):
    /// their `Done` no longer waits, and the other site hears the release.
    /// A failed write is told nothing: the entries go back into the log,
    /// are sent again from the last durable release point, and released
    /// again (each `Done` in the write then again, see `shadow_applied`).
    pub(super) fn release_written(&mut self, ctx: &mut Ctx, token: u64, result: Result<(), Status>) -> bool {
        let Some(r) = self.shadow_releases.remove(&token) else { return false };
        match result {
            Ok(()) => self.released(ctx, r),
            Err(why) => self.release_failed(ctx, r, why),
        }
        true
    }

    fn release_failed(&mut self, ctx: &mut Ctx, r: Releasing, why: Status) {
        let Releasing { rid, part, pos, entries, .. } = r;
        ctx.log(format!(
            "shadow range {rid}: the release up to {}.{} could not be written ({why:?}): released again",
            pos.0, pos.1
        ));
        let lowest = self.lowest_series(&rid);
        let Some(log) = self.shadow_logs.get_mut(&rid) else { return };
        let was_empty = log.is_empty();
        // Each entry back in its own series (a release by `drop_remembered`
        // may span several).
        for (at, e) in entries {
            let st = log.streams.entry(at.0).or_default();
            st.entries.insert(at, e);
            st.released = st.durable_released;
        }
        log.resend_at.get_or_insert(ctx.now + RESEND);
        if was_empty || self.lowest_series(&rid) != lowest {
            // Out of step again (`announce` said in step), or a lower
            // series is back.
            self.announce(ctx, part);
        }
    }

    fn released(&mut self, ctx: &mut Ctx, r: Releasing) {
        let Releasing { rid, pos, entries, ended, .. } = r;
        // Durable up to `pos`, short of the first entry up to there whose
        // release is not durable: put back by a failed release, or in
        // another release's write still on its way.
        let on_way = self.shadow_releases.values().filter(|o| o.rid == rid).filter_map(|o| o.entries.keys().next());
        if let Some(st) = self.shadow_logs.get_mut(&rid).and_then(|l| l.streams.get_mut(&pos.0)) {
            let open = st.entries.keys().next().into_iter().chain(on_way).filter(|k| k.0 == pos.0 && **k <= pos).min();
            let durable = open.map_or(pos, |k| (k.0, k.1.saturating_sub(1)));
            st.durable_released = st.durable_released.max(durable);
        }
        for e in entries.into_values() {
            self.release_held(ctx, e.tid, ended.contains(&e.tid));
        }
        self.push_log(ctx, &rid);
    }

    /// The router that speaks for a shadowed range's primary says whether
    /// the other site is linked: sending starts again from the release
    /// point.
    pub(super) fn restart_log(&mut self, ctx: &mut Ctx, rid: &str) {
        if let Some(log) = self.shadow_logs.get_mut(rid) {
            for st in log.streams.values_mut() {
                st.sent_upto = st.durable_released;
                st.released = st.durable_released;
                st.released_sent = (0, 0);
            }
        }
        self.push_log(ctx, rid);
    }

    /// One of `tid`'s log entries was released: after the last, its `Done`
    /// no longer waits for the other site. `written`: the release's own
    /// write carried that `Done` (`release_ends` said so when it was made).
    fn release_held(&mut self, ctx: &mut Ctx, tid: Tid, written: bool) {
        let Some(h) = self.shadow_held.get_mut(&tid) else { return };
        h.n = h.n.saturating_sub(1);
        if h.n > 0 {
            return;
        }
        let forgot = h.forgot;
        self.shadow_held.remove(&tid);
        if !self.journal || self.finishing.contains_key(&tid) || self.more_of(tid) {
            // Not finished here yet: `maybe_done` ends it, unheld now; or
            // another entry of it is on its way here (`more_of`).
            return;
        }
        let done = !self.answerable.contains(&tid) || forgot || !self.keep_decided;
        if !done {
            return;
        }
        self.answerable.remove(&tid);
        if !written {
            ctx.journal(vec![(tid, TxRecord::Done)], false, None);
        }
    }

    /// Would releasing `k` of `tid`'s log entries end it here, with its
    /// `Done` (`release_held`'s rules)? Finished here and either not kept
    /// answerable (only the log's records of it are left: a recovered
    /// commit's `Seq`, written after its transaction had finished here;
    /// left open, they pinned the journal until it was full, simulator
    /// `--shadow --seed 62 --routers 2`) or forgotten by its router.
    fn release_ends(&self, tid: Tid, k: u32) -> bool {
        let Some(h) = self.shadow_held.get(&tid) else { return false };
        h.n <= k
            && self.journal
            && !self.finishing.contains_key(&tid)
            && !self.more_of(tid)
            && (!self.answerable.contains(&tid) || h.forgot || !self.keep_decided)
    }

    /// Another entry of `tid` on its way here (another range's, being
    /// written or presented), or a remembered copy being written: that one
    /// holds it next, and its release ends it. A `Done` before that
    /// entry's records left the `Applied` after it open for ever
    /// (simulator `--shadow --seed 62 --routers 2`: the journal filled up).
    fn more_of(&self, tid: Tid) -> bool {
        self.follows.values().any(|f| f.applying.is_some_and(|(_, t)| t == tid))
            || self.shadow_writes.values().any(|a| a.tid == tid)
            || self.remembering.values().any(|r| r.tid == tid)
            || self.remember_retry.iter().any(|r| r.tid == tid)
            || self.committing_tx.contains_key(&tid)
    }

    /// Entries of the other site's log of the range of partition `part`,
    /// through router `from`, with the sender's release point. Each series
    /// (one primary's numbering) is followed on its own: a site that was
    /// primary and kept commits for this one sends them in its series,
    /// beside the new primary's.
    pub(super) fn shadow_log(
        &mut self,
        ctx: &mut Ctx,
        from: NodeRef,
        part: PartId,
        entries: Vec<ShadowEntry>,
        released: LogPos,
    ) {
        let Some(p) = self.parts.get(&part) else { return };
        if p.role != PartRole::Active {
            return;
        }
        let Some(rid) = p.shadow.as_ref().map(|s| s.rid.clone()) else { return };
        let mut by_series: BTreeMap<u64, Vec<ShadowEntry>> = BTreeMap::new();
        for e in entries {
            by_series.entry(e.pos.0).or_default().push(e);
        }
        if released.0 > 0 {
            by_series.entry(released.0).or_default();
        }
        let mut freed = Vec::new();
        let mut acks: Vec<(FollowKey, LogPos)> = Vec::new();
        let keys: Vec<FollowKey> = by_series.keys().map(|s| (rid.clone(), *s)).collect();
        for (series, entries) in by_series {
            let key = (rid.clone(), series);
            let f = self.follows.entry(key.clone()).or_default();
            f.via = Some(from);
            if released.0 == series && released > f.released {
                f.released = released;
                f.held.retain(|(pos, tid)| {
                    let keep = *pos > released;
                    if !keep {
                        freed.push(*tid);
                    }
                    keep
                });
                f.reack_at = (!f.held.is_empty()).then_some(ctx.now + RESEND);
            }
            // A sender that starts again from its release point sends
            // entries applied here since it last heard (the acknowledgement
            // was lost, or another node of its site had the release: a
            // standby that read its journal, which then went back to it):
            // told again, whatever this node heard released.
            let resent = !entries.is_empty() && entries.iter().all(|e| e.pos <= f.pos);
            for e in entries {
                if e.pos > f.pos && f.applying.is_none_or(|(p, _)| p != e.pos) {
                    f.queue.entry(e.pos).or_insert(e);
                }
            }
            if resent && f.queue.is_empty() && f.applying.is_none() {
                acks.push((key, f.pos));
            }
        }
        for tid in freed {
            self.release_held(ctx, tid, false);
        }
        for (key, pos) in acks {
            self.send_applied(ctx, &key, part, pos);
        }
        for key in keys {
            self.apply_next(ctx, &key);
        }
    }

    /// Tell the sender (through the router its log came through) that this
    /// node applied every entry of its series up to `pos`.
    fn send_applied(&mut self, ctx: &mut Ctx, key: &FollowKey, part: PartId, pos: LogPos) {
        let Some(f) = self.follows.get(key) else { return };
        let Some(via) = f.via else { return };
        let Some(p) = self.parts.get(&part) else { return };
        ctx.to_router(via, ToRouter::ShadowApplied { facility: p.facility.clone(), part, pos });
    }

    /// Apply the next entries of one series of the other site's log, one
    /// at a time, in order.
    fn apply_next(&mut self, ctx: &mut Ctx, key: &FollowKey) {
        let rid = key.0.as_str();
        loop {
            let Some(part) = self.part_of_primary(rid) else { return };
            if self.parts.get(&part).is_none_or(|p| p.role != PartRole::Active) {
                return;
            }
            let Some(f) = self.follows.get_mut(key) else { return };
            if f.applying.is_some() {
                return;
            }
            let Some((&pos, e)) = f.queue.first_key_value() else { return };
            if pos <= f.pos {
                f.queue.remove(&pos);
                continue;
            }
            if e.prev > f.pos {
                return; // an earlier entry is still on its way
            }
            let tid = e.tid;
            let reason = e.reason;
            let prints_of_entry: Vec<u64> = e.msgs.iter().map(|m| work_print(m)).collect();
            // A live copy of it here: applied with its own outcome. Any copy
            // whose outcome is not known here yet, or is being written (a
            // live branch, an in-doubt copy of a journal, its commit record
            // on its way, another range's entry of it being written): the
            // entry waits, and then finds it applied or not.
            let live = self.branches.get(&(tid, part)).map(|b| b.committed.is_some());
            let copy = self.in_doubt.contains_key(&tid)
                || self.resolving.values().any(|r| r.tid == tid)
                || self.committing_tx.contains_key(&tid)
                || self.shadow_writes.values().any(|a| a.tid == tid);
            // A live branch here that voted yes and is undecided is
            // committed on the entry's authority (`commit_on_entry`): its
            // router may never decide it. Then the entry waits for that
            // commit and finds the branch committed (skipped).
            if live == Some(false) && !copy && self.commit_on_entry(ctx, tid, part, reason, pos) {
                continue;
            }
            // One that cannot commit (voted no, set aside, or still without
            // a durable yes once the entry's patience is spent) is given
            // back, and the entry applied (`give_back_for_entry`).
            let waited = self.follows.get(key).is_some_and(|f| f.waited.0 == pos && f.waited.1 >= COPY_WAITS);
            if live == Some(false) && !copy && self.give_back_for_entry(ctx, tid, part, pos, waited) {
                continue;
            }
            // A copy that is not a live branch waits a bounded time (a
            // commit write of a journal let go since may never report):
            // then the entry is applied as uncertain (the server checks,
            // as after any replay). A live branch's outcome comes from its
            // router, or from the entry (`commit_on_entry`, once voted).
            let f = self.follows.get_mut(key).expect("looked up above");
            if f.waited.0 != pos {
                f.waited = (pos, 0);
            }
            let patient = f.waited.1 < COPY_WAITS;
            if live == Some(false) || (copy && patient) {
                f.waited.1 += 1;
                f.recheck_at = Some(ctx.now + RECHECK);
                return;
            }
            let unsure = copy;
            // This range's share of it applied here already (a live branch
            // that committed and finished, or an entry applied before a
            // restart): known by its messages' prints, not by the tid (a
            // transaction over two shadowed ranges has an entry in each
            // range's log, and one applied is not the other).
            // By the prints it is only likely: they come from the journal
            // too, whose message records include a branch that moved away
            // before the commit (simulator `--shadow --seed 32`: skipped,
            // the range's share never applied at this site). So such an
            // entry is presented as uncertain (the server checks), and only
            // a committed live branch here skips it.
            let prints = self.applied_prints.get(&tid);
            let likely = self.decided.get(&tid).is_some_and(|d| d.committed)
                && prints.is_some_and(|v| prints_of_entry.iter().all(|p| v.contains(p)));
            let applied = live == Some(true);
            let unsure = unsure || likely;
            let Some(f) = self.follows.get_mut(key) else { return };
            let Some(e) = f.queue.remove(&pos) else { return };
            if applied {
                f.pos = pos;
                ctx.detail(format!("{tid}: the other site's entry {}.{} is applied here already", pos.0, pos.1));
                self.send_applied(ctx, key, part, pos);
                continue;
            }
            f.applying = Some((pos, tid));
            let Some(p) = self.parts.get(&part) else { return };
            let msgs: Vec<Bytes> = e.msgs.into_iter().filter(|m| p.range.contains(m) == Ok(true)).collect();
            let a = Applying {
                rid: rid.to_string(),
                part,
                pos,
                tid,
                msgs,
                reason: e.reason,
                resent: e.resent || unsure,
                parked: Vec::new(),
            };
            if !self.journal {
                return self.present_entry(ctx, a);
            }
            let facility = p.facility.clone();
            let mut recs: Vec<(Tid, TxRecord)> =
                a.msgs.iter().map(|m| (tid, TxRecord::Msg { facility: facility.clone(), data: m.clone() })).collect();
            recs.push((tid, TxRecord::Seq { range: rid.to_string(), pos, mark: SeqMark::Applied }));
            recs.push((tid, TxRecord::Commit { reason: a.reason }));
            self.next_token += 1;
            let token = self.next_token;
            ctx.journal(recs, true, Some(token));
            self.shadow_writes.insert(token, a);
            return;
        }
    }

    /// The other site's log entry `pos` of `tid` names partition `part`'s
    /// range here, where a live branch of `tid` is undecided. The entry is
    /// proof that `tid` committed (its sender numbers only durable commits,
    /// and a transaction has one outcome), so once the branch's server
    /// voted yes the branch is committed here on that authority, as if its
    /// router had said so: the commit record made durable first, then the
    /// server hears `Accepted`; the entry then finds it committed and is
    /// skipped (its messages are the branch's own: the router places the
    /// same work at both sites).
    ///
    /// Its router may never decide it: a shadow secondary's branch whose
    /// `Msg` and `VoteRequest` were on a stalled link while the router
    /// committed at the primary without it (the entry is the secondary's
    /// share) and forgot the transaction. The router ignores the vote of a
    /// transaction it forgot, and the branch, linked to it, is no orphan,
    /// so nothing here asks either; the entry waited for ever for the
    /// branch, and every later entry of the range behind it (simulator
    /// `--shadow --routers 1 --seed 1964`: 560 commits never applied at
    /// the secondary's site). Asking a router (an inquiry) does not settle
    /// it: one that forgot the transaction cannot tell its commit from a
    /// rollback, while the entry says which.
    ///
    /// Harmless to a router that still has the transaction (its word that
    /// the secondary took part was lost, so the primary remembered the
    /// commit as unsure): its commit finds this one on its way, or done,
    /// and hears `Durable` as usual. It says nothing to routers itself:
    /// none waits for it. Not before a durable yes: a branch whose server
    /// has not voted waits for the vote (its server has the prepare, or
    /// will), and a durable vote makes a refused commit record be written
    /// again, never rolled back (`commit_written`): a rollback decided here
    /// of a transaction that committed would be answered to the routers.
    /// One that voted no, or was set aside, waits for its router as before.
    /// No router forgets it here, so its `Done` follows its servers'
    /// acknowledgements (`forget_early`), as an applied entry's does.
    /// Returns whether the commit began.
    fn commit_on_entry(&mut self, ctx: &mut Ctx, tid: Tid, part: PartId, reason: u32, pos: LogPos) -> bool {
        let Some(b) = self.branches.get(&(tid, part)) else { return false };
        if b.committed.is_some() || !b.voted_yes() || !b.vote_durable() || b.vote_writing() || b.aside {
            return false;
        }
        if self.rejection_pending(tid).is_some() || self.committing_tx.contains_key(&tid) {
            return false;
        }
        ctx.log(format!(
            "{tid}: the other site's entry {}.{} says it committed: its live branch here, voted yes and \
             undecided, is committed on that entry's authority",
            pos.0, pos.1
        ));
        self.forget_early.insert(tid);
        if !self.journal {
            self.commit(ctx, tid, vec![part], reason, &[]);
            return true;
        }
        // Not numbered for the other site: the entry is that site's commit.
        self.next_token += 1;
        let token = self.next_token;
        let mut recs = self.restatement(tid, &[part]);
        let restated = !recs.is_empty();
        recs.push((tid, TxRecord::Commit { reason }));
        ctx.journal(recs, true, Some(token));
        let c = Committing::first_write(tid, vec![part], reason, vec![], vec![], restated);
        self.committing.insert(token, c);
        self.committing_tx.insert(tid, token);
        true
    }

    /// The other site's log entry `pos` of `tid` names partition `part`'s
    /// range here, where a live branch of `tid` is undecided and has no
    /// durable yes vote (`commit_on_entry` takes those). No router can
    /// commit that branch (a shadowed transaction commits only on every
    /// branch's durable yes), and the entry proves the transaction
    /// committed: so the branch is work its router forgot or gave up (a
    /// stale `Msg` as in seed 1964's, whose server then voted no, or never
    /// got the vote request), and waiting for its outcome waited for ever,
    /// with every later entry of the range behind it. It is given back (its
    /// server told rescheduled, nothing decided here) and the entry is
    /// applied as any entry is; a router's late commit of it then finds the
    /// transaction committed here and hears `Durable`. At once when its
    /// server voted no or it was set aside; a branch whose server may still
    /// vote (none yet, or a yes not made durable: its vote request may be
    /// on its way) after the entry's patience (`waited`). Never while a
    /// vote is being made durable, or a decision of it written. Returns
    /// whether it was given back.
    fn give_back_for_entry(&mut self, ctx: &mut Ctx, tid: Tid, part: PartId, pos: LogPos, waited: bool) -> bool {
        let Some(b) = self.branches.get(&(tid, part)) else { return false };
        if b.committed.is_some() || b.vote_writing() || (b.voted_yes() && b.vote_durable()) {
            return false;
        }
        if self.rejection_pending(tid).is_some() || self.committing_tx.contains_key(&tid) {
            return false;
        }
        let cannot = matches!(b.vote, super::branches::Vote::No { .. }) || b.aside;
        if !cannot && !waited {
            return false;
        }
        ctx.log(format!(
            "{tid}: the other site's entry {}.{} says it committed; its live branch here cannot commit ({}): given \
             back, and the entry applied",
            pos.0,
            pos.1,
            if cannot { "its server voted no, or it was set aside" } else { "no durable yes vote in time" }
        ));
        self.give_back(ctx, tid, part);
        true
    }

    /// Handle `m` now (returned), or hold it while an entry of the other
    /// site's log for the same transaction and partition is being written
    /// here (`None`; handled by `entry_written`). Nothing of the live
    /// branch is here then (`apply_next` writes no entry beside one), and
    /// a `Msg` that started it would have had its branch replaced by the
    /// entry's once durable: its server, never told an outcome, was held
    /// for ever, and the range's later transactions starved there
    /// (simulator `--shadow --seed 866 --routers 2`: a secondary frozen
    /// with its router's messages for two transactions on their way; the
    /// router, link lost, committed them at the primary, whose log entries
    /// and the stale messages reached the secondary together). Once the
    /// entry is presented the request finds the transaction committed here
    /// (`answer_decided`); if its write failed, the live branch starts and
    /// the entry waits for its outcome, as it would have had the branch
    /// come first.
    pub(super) fn entry_first(&mut self, from: NodeRef, m: ToBackend) -> Option<ToBackend> {
        let (tid, parts): (Tid, &[PartId]) = match &m {
            ToBackend::Msg { tid, part, .. }
            | ToBackend::VoteRequest { tid, part, .. }
            | ToBackend::GiveBack { tid, part, .. } => (*tid, std::slice::from_ref(part)),
            ToBackend::Outcome { tid, parts, .. } => (*tid, parts.as_slice()),
            _ => return Some(m),
        };
        let mut writes: Vec<(&u64, &mut Applying)> =
            self.shadow_writes.iter_mut().filter(|(_, a)| a.tid == tid && parts.contains(&a.part)).collect();
        writes.sort_by_key(|(token, _)| **token);
        let Some((_, a)) = writes.into_iter().next() else { return Some(m) };
        a.parked.push((from, m));
        None
    }

    /// A live branch of `tid` committed here (`commit`): an entry of the
    /// other site's log at the head of its series that waits for that
    /// outcome goes on now (skipped: applied here). Looked at only at its
    /// next recheck, the branch was often gone by then (its server had
    /// acknowledged it), and the entry was presented again, as uncertain.
    pub(super) fn live_committed(&mut self, ctx: &mut Ctx, tid: Tid) {
        let mut keys: Vec<FollowKey> = self
            .follows
            .iter()
            .filter(|(_, f)| f.applying.is_none() && f.queue.values().next().is_some_and(|e| e.tid == tid))
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        for key in keys {
            self.apply_next(ctx, &key);
        }
    }

    /// Is an entry of `tid` from the other site's log being written here?
    pub(super) fn entry_being_written(&self, tid: Tid) -> bool {
        self.shadow_writes.values().any(|a| a.tid == tid)
    }

    /// An entry's write finished (`token`): presented now, or tried again.
    pub(super) fn entry_written(&mut self, ctx: &mut Ctx, token: u64, result: Result<(), Status>) -> bool {
        let Some(mut a) = self.shadow_writes.remove(&token) else { return false };
        let parked = std::mem::take(&mut a.parked);
        let tid = a.tid;
        self.entry_finished_write(ctx, a, result);
        // What of the transaction finished meanwhile waited for this write
        // (`maybe_done`).
        self.maybe_done(ctx, tid);
        self.replay_parked(ctx, parked);
        true
    }

    fn entry_finished_write(&mut self, ctx: &mut Ctx, a: Applying, result: Result<(), Status>) {
        if let Err(why) = result {
            ctx.log(format!("{}: the other site's entry could not be written here ({why:?}): tried again", a.tid));
            if let Some(f) = self.follows.get_mut(&(a.rid.clone(), a.pos.0)) {
                f.applying = None;
                f.recheck_at = Some(ctx.now + RECHECK);
                let entry = ShadowEntry {
                    pos: a.pos,
                    prev: f.pos,
                    tid: a.tid,
                    msgs: a.msgs,
                    reason: a.reason,
                    resent: a.resent,
                };
                f.queue.insert(a.pos, entry);
            }
            return;
        }
        self.present_entry(ctx, a);
    }

    /// An entry is durable here: presented as committed work.
    fn present_entry(&mut self, ctx: &mut Ctx, a: Applying) {
        let Applying { rid, part, pos, tid, msgs, reason, resent, .. } = a;
        ctx.detail(format!("{tid}: the other site's entry {}.{} is applied here (range {rid})", pos.0, pos.1));
        self.remember(tid, true, Status::Ok, reason);
        self.note_applied(tid, &msgs);
        let empty = msgs.is_empty();
        let mut b = Branch::new(msgs, LOCAL);
        b.committed = Some((Status::Ok, reason));
        // Sent before, maybe to another node of this site that applied it
        // and gave the site's slot up before the release came back: the
        // server checks, as after a replay.
        b.uncertain = resent;
        // Its `Done` waits for the sender's release point; no router
        // forgets it (none knows it here).
        let h = self.shadow_held.entry(tid).or_default();
        h.n += 1;
        h.forgot = true;
        if let Some(f) = self.follows.get_mut(&(rid.clone(), pos.0)) {
            f.held.push((pos, tid));
            f.reack_at.get_or_insert(ctx.now + RESEND);
        }
        if empty {
            // Nothing of this range in it: applied as it stands.
            self.entry_done(ctx, tid);
            return;
        }
        self.branches.insert((tid, part), b);
        if let Some(p) = self.parts.get_mut(&part) {
            p.waiting.push_back(tid);
        }
        let f = self.finishing.entry(tid).or_default();
        f.unacked += 1;
        f.own = true;
        self.dispatch(ctx, part);
    }

    /// `tid` finished here (every server acknowledged it): if it is the
    /// entry being applied, the sender hears so and the next one follows.
    pub(super) fn entry_done(&mut self, ctx: &mut Ctx, tid: Tid) {
        self.entries_applied(ctx, tid, None);
    }

    /// A server of partition `part` acknowledged `tid`: the entry of `tid`
    /// being applied there is applied. Not only once the whole transaction
    /// finished here: a share of it this node cannot finish (messages of a
    /// range no partition here serves, read from a journal) held the
    /// other site's log back for ever (simulator `--shadow --seed 10`).
    pub(super) fn entry_acked(&mut self, ctx: &mut Ctx, tid: Tid, part: PartId) {
        self.entries_applied(ctx, tid, Some(part));
    }

    fn entries_applied(&mut self, ctx: &mut Ctx, tid: Tid, part: Option<PartId>) {
        // Every range's entry of it being applied (one transaction over
        // two shadowed ranges finishes once for both), or the one of
        // `part`'s range. Only entries presented here: one whose write is
        // still on its way (`shadow_writes`) is not part of what finished.
        // Taken for applied, the transaction's other range finishing first
        // told the sender it was, and when the write then failed (a full
        // journal) the entry, queued again at a position already passed,
        // was dropped: that range's share never applied at this site
        // (simulator `--shadow --seed 1045 --routers 2`).
        let mut hits: Vec<(FollowKey, LogPos)> = Vec::new();
        for (key, f) in self.follows.iter() {
            if let Some((pos, t)) = f.applying {
                let written = !self.shadow_writes.values().any(|a| a.tid == t && a.pos == pos && a.rid == key.0);
                if t == tid && written && part.is_none_or(|q| self.part_of_primary(&key.0) == Some(q)) {
                    hits.push((key.clone(), pos));
                }
            }
        }
        hits.sort();
        for (key, pos) in hits {
            if let Some(f) = self.follows.get_mut(&key) {
                f.applying = None;
                f.pos = f.pos.max(pos);
            }
            if let Some(part) = self.part_of_primary(&key.0) {
                self.send_applied(ctx, &key, part, pos);
            }
            self.apply_next(ctx, &key);
        }
    }

    /// This node is no longer active for range `rid` at its site: the other
    /// site's release points go to the node that is, so the holds of the
    /// entries applied here are let go (their `Done` follows). They were
    /// kept for ever, and their records pinned the journal until it was
    /// full and refused the next entries (simulator `--shadow --seed 274`:
    /// the site's slot went to another node, and the other site's log
    /// stalled there). Sent here again later, the sender marks them
    /// resent, and they are presented as uncertain.
    pub(super) fn let_follow_holds_go(&mut self, ctx: &mut Ctx, rid: &str) {
        let mut keys: Vec<FollowKey> = self.follows.keys().filter(|(r, _)| r == rid).cloned().collect();
        keys.sort();
        for key in keys {
            let Some(f) = self.follows.get_mut(&key) else { continue };
            f.reack_at = None;
            for (_, tid) in std::mem::take(&mut f.held) {
                self.release_held(ctx, tid, false);
            }
        }
    }

    /// Sends and checks that are due.
    pub(super) fn shadow_log_tick(&mut self, ctx: &mut Ctx) {
        let now = ctx.now;
        if self.remember_retry_at.is_some_and(|t| t <= now) {
            self.remember_retry_at = None;
            for r in std::mem::take(&mut self.remember_retry) {
                self.write_remembered(ctx, r);
            }
        }
        let mut resend: Vec<String> = self
            .shadow_logs
            .iter()
            .filter(|(_, l)| l.resend_at.is_some_and(|t| t <= now))
            .map(|(r, _)| r.clone())
            .collect();
        resend.sort();
        for rid in resend {
            if let Some(log) = self.shadow_logs.get_mut(&rid) {
                log.resend_at = None;
                log.tries += 1;
            }
            self.restart_log(ctx, &rid);
        }
        let mut reack: Vec<FollowKey> =
            self.follows.iter().filter(|(_, f)| f.reack_at.is_some_and(|t| t <= now)).map(|(k, _)| k.clone()).collect();
        reack.sort();
        for key in reack {
            let Some(f) = self.follows.get_mut(&key) else { continue };
            f.reack_at = (!f.held.is_empty()).then_some(now + RESEND);
            let pos = f.pos;
            if f.held.is_empty() || pos == (0, 0) {
                continue;
            }
            if let Some(part) = self.part_of_primary(&key.0) {
                self.send_applied(ctx, &key, part, pos);
            }
        }
        let mut again: Vec<FollowKey> = self
            .follows
            .iter()
            .filter(|(_, f)| f.recheck_at.is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        again.sort();
        for key in again {
            if let Some(f) = self.follows.get_mut(&key) {
                f.recheck_at = None;
            }
            self.apply_next(ctx, &key);
        }
    }

    /// The earliest send or check due.
    pub(super) fn next_shadow_log(&self) -> Option<Instant> {
        let sends = self.shadow_logs.values().filter_map(|l| l.resend_at);
        let checks = self.follows.values().flat_map(|f| f.recheck_at.into_iter().chain(f.reack_at));
        sends.chain(checks).chain(self.remember_retry_at).min()
    }

    /// What a journal read at start-up says of the shadow logs: a primary's
    /// remembered commits (its log again, their `Done` held back), and the
    /// last entry of the other site's log applied here.
    pub(super) fn recover_shadow(&mut self, now: Instant, seqs: Vec<ShadowSeqTx>, own: bool) {
        for t in seqs {
            if t.primary {
                let log = self.shadow_logs.entry(t.range).or_default();
                // Sent before the restart, perhaps; sent (again) at the
                // next tick, whatever this node's role.
                log.resend_at = Some(now);
                let st = log.streams.entry(t.pos.0).or_default();
                st.ever_sent = st.ever_sent.max(t.pos);
                // Sent as `resent` anyway (`ever_sent` above).
                log.insert(t.pos, LogEntry { tid: t.tid, msgs: t.msgs, reason: t.reason, unsure: false, own });
                if own {
                    self.shadow_held.entry(t.tid).or_default().n += 1;
                }
            } else {
                let f = self.follows.entry((t.range, t.pos.0)).or_default();
                f.pos = f.pos.max(t.pos);
                if own {
                    f.held.push((t.pos, t.tid));
                    f.reack_at.get_or_insert(now + RESEND);
                    let h = self.shadow_held.entry(t.tid).or_default();
                    h.n += 1;
                    h.forgot = true;
                }
            }
        }
    }

    /// Shadow log work of range `rid` is left here (entries kept for the
    /// other site, or the other site's being applied or not yet released):
    /// its partition is kept, so that it goes on.
    pub(super) fn shadow_work_left(&self, rid: &str) -> bool {
        self.shadow_logs.get(rid).is_some_and(|l| !l.is_empty())
            || self
                .follows
                .iter()
                .any(|((r, _), f)| r == rid && (f.applying.is_some() || !f.held.is_empty() || !f.queue.is_empty()))
    }

    /// How many commits this node keeps for the other site, by range
    /// (`rtr show partition`).
    pub(crate) fn shadow_backlog(&self, rid: &str) -> usize {
        self.shadow_logs.get(rid).map_or(0, ShadowLog::len)
    }
}

impl Backend {
    /// `rtr set transaction --state pri_done --new-state done` (RTR's `SET
    /// TRANSACTION /STATE=PRI_DONE /NEW_STATE=DONE`): the commits shadow
    /// partition `part` remembers for the other site (all of them, or
    /// `tid`'s) are dropped from its range's log, as if the other site had
    /// applied them. For an operator who will rebuild the other site's
    /// database from this one's: its catch-up then replays nothing.
    ///
    /// Only at the primary while it runs alone (remember mode): with its
    /// secondary linked, the other site is catching up, and pulling entries
    /// from under it would leave its database missing them with nobody the
    /// wiser (`INVSTATCHANGE`).
    ///
    /// The dropped entries are released as if the other site had applied
    /// them (`write_release`: `Released` marks, or the `Done` of a
    /// transaction this ends, synced), so a restart does not bring them
    /// back; once durable, each commit's `Done` no longer waits for the
    /// other site and its journal space is freed. A full journal that
    /// refuses the write gets the entries back into the log. Entries of a lost node's journal read
    /// here are dropped from this node's log only (that journal keeps them:
    /// read again, they are remembered again). Commits being written at the
    /// time of the request are not dropped: they are remembered as usual.
    pub(in crate::node) fn drop_remembered(
        &mut self,
        ctx: &mut Ctx,
        part: PartId,
        only: Option<Tid>,
    ) -> Result<String, crate::protocol::admin::AdminError> {
        use crate::protocol::admin::AdminError;
        let Some(p) = self.parts.get(&part) else {
            return Err(AdminError::NoSuchPartition(format!("no partition {part} on this node")));
        };
        let label = p.label(part);
        let Some(s) = p.shadow.as_ref() else {
            return Err(AdminError::Unsupported(format!(
                "partition {label} is not a shadow partition (its servers did not open with RTR_F_OPE_SHADOW): \
                 nothing is remembered for another site"
            )));
        };
        if p.role != PartRole::Active || s.side != Side::Primary {
            return Err(AdminError::InvalidStateChange(format!(
                "partition {label} is not the shadow primary here: PRI_DONE transactions are dropped at the \
                 primary's node, while it runs alone (remember mode)"
            )));
        }
        if !s.partner_by.is_empty() {
            return Err(AdminError::InvalidStateChange(format!(
                "partition {label}: its secondary is linked and catching up; stop the other site's servers first \
                 (remembered work is dropped only while the primary runs alone)"
            )));
        }
        let rid = s.rid.clone();
        let mut done: BTreeMap<LogPos, LogEntry> = BTreeMap::new();
        if let Some(log) = self.shadow_logs.get_mut(&rid) {
            for st in log.streams.values_mut() {
                let gone: Vec<LogPos> =
                    st.entries.iter().filter(|(_, e)| only.is_none_or(|t| e.tid == t)).map(|(p, _)| *p).collect();
                for pos in gone {
                    if let Some(e) = st.entries.remove(&pos) {
                        done.insert(pos, e);
                    }
                }
            }
        }
        if done.is_empty() {
            return match only {
                Some(t) => Err(AdminError::NoSuchTransaction(format!(
                    "transaction {t} is not remembered for the other site by partition {label}"
                ))),
                None => Ok(format!("partition {label}: nothing is remembered for the other site")),
            };
        }
        let n = done.len();
        let left = self.shadow_backlog(&rid);
        ctx.log(format!(
            "shadow range {rid}: {n} remembered commits set done by an operator (PRI_DONE to DONE): the other site \
             will not replay them"
        ));
        if left == 0 {
            // In step: routers give a returning secondary live work at once.
            self.announce(ctx, part);
        }
        // As a release (`Released` marks, or the `Done` of a transaction
        // it ends; refused by a full journal, the entries come back and the
        // operator sees them in the backlog again), but the release point
        // does not move (`(0, 0)` names no series): the entries left keep
        // their positions, and the next one sent names the last one kept
        // before it as its `prev`.
        self.write_release(ctx, &rid, part, (0, 0), done);
        Ok(format!(
            "partition {label}: {n} remembered commit{} set done (PRI_DONE to DONE); {left} left for the other site",
            if n == 1 { "" } else { "s" }
        ))
    }
}
