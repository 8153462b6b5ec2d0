//! The invariants a run is judged by (ARCHITECTURE §7.1), and the books
//! the simulated servers keep.
//!
//! Checked as the run goes: every participant that hears an outcome of a
//! transaction hears the same one; no transaction is applied twice to a
//! key range's books; at most one partition per key range is active at a
//! time among the nodes that still own their journal (a fenced node can
//! commit nothing); in a shadow run, one per key range and site, and one
//! primary per key range. Checked at the end, once faults have stopped and the
//! cluster has had time to settle: every transaction a client saw
//! accepted is applied exactly once on every key range it touched,
//! nothing a client saw rejected is applied anywhere, a transaction whose
//! client vanished is applied everywhere or nowhere, money is conserved,
//! and every client still running has its outcome (liveness).

use std::collections::{BTreeMap, BTreeSet};

use super::net::Micros;
use crate::tid::Tid;

/// One broken promise, with when and where it was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub at: Micros,
    pub step: u64,
    pub kind: ViolationKind,
    pub text: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ViolationKind {
    /// Two participants heard different outcomes for one transaction.
    Disagreement,
    /// A transaction was applied twice to one key range's books.
    AppliedTwice,
    /// Two partitions were active for one key range at once (in a shadow
    /// run: for one key range at one site).
    TwoActives,
    /// Two nodes were the primary of one shadowed key range at once.
    TwoPrimaries,
    /// A transaction a client saw accepted is missing from a key range's books.
    AcceptedNotApplied,
    /// A transaction a client saw rejected is in a key range's books.
    RejectedApplied,
    /// A transaction is in some of its key ranges' books but not all.
    Partial,
    /// The books do not balance.
    NotConserved,
    /// A running client never heard the outcome of its transaction.
    NoOutcome,
    /// Clients without timeouts deadlocked each other: each transaction
    /// holds a server of one key range and waits for a server of another,
    /// held by the next (an application's doing: RTR breaks such a cycle
    /// only by timeouts). Reported, not failed on (`Checker::finish`).
    Deadlock,
    /// The run handled far more events than it should: something loops.
    Livelock,
    /// A journal does not pass `verify` after the run (corruption, not a torn tail).
    JournalCorrupt,
    /// At the end of a shadow run (the cluster settled) the two sites'
    /// databases of a key range did not apply the same transactions:
    /// catch-up did not complete (docs/shadow.md, remember mode).
    SitesDiffer,
    /// A node of another site than the one that turned a shadow range's
    /// shadowing off is that range's primary while the role authority's
    /// note says it is off (docs/shadow.md, `SET PARTITION /NOSHADOW`).
    PrimaryWhileOff,
    /// At the end of a shadow run two transactions that touched the same
    /// account were applied in one order at one site and in the other
    /// order at the other site (docs/shadow.md, "The order of live work").
    OrderDiffers,
}

impl ViolationKind {
    pub const ALL: [ViolationKind; 15] = [
        ViolationKind::Disagreement,
        ViolationKind::AppliedTwice,
        ViolationKind::TwoActives,
        ViolationKind::TwoPrimaries,
        ViolationKind::AcceptedNotApplied,
        ViolationKind::RejectedApplied,
        ViolationKind::Partial,
        ViolationKind::NotConserved,
        ViolationKind::NoOutcome,
        ViolationKind::Deadlock,
        ViolationKind::Livelock,
        ViolationKind::JournalCorrupt,
        ViolationKind::SitesDiffer,
        ViolationKind::PrimaryWhileOff,
        ViolationKind::OrderDiffers,
    ];

    pub fn parse(s: &str) -> Option<ViolationKind> {
        ViolationKind::ALL.into_iter().find(|k| k.name() == s)
    }

    pub fn name(self) -> &'static str {
        match self {
            ViolationKind::Disagreement => "disagreement",
            ViolationKind::AppliedTwice => "applied-twice",
            ViolationKind::TwoActives => "two-actives",
            ViolationKind::TwoPrimaries => "two-primaries",
            ViolationKind::AcceptedNotApplied => "accepted-not-applied",
            ViolationKind::RejectedApplied => "rejected-applied",
            ViolationKind::Partial => "partial",
            ViolationKind::NotConserved => "not-conserved",
            ViolationKind::NoOutcome => "no-outcome",
            ViolationKind::Deadlock => "deadlock",
            ViolationKind::Livelock => "livelock",
            ViolationKind::JournalCorrupt => "journal-corrupt",
            ViolationKind::SitesDiffer => "sites-differ",
            ViolationKind::PrimaryWhileOff => "primary-while-off",
            ViolationKind::OrderDiffers => "order-differs",
        }
    }
}

/// One key range's books: the database its servers (on any node) share,
/// committed atomically with the transaction id, as an RTR server must
/// keep them to be idempotent on `msg1_uncertain`.
#[derive(Debug, Default)]
pub struct Books {
    pub balances: BTreeMap<u32, i64>,
    pub applied: BTreeMap<Tid, u32>,
    /// The highest fencing token applied under (`docs/fencing.md`), per
    /// site (`""` in an unshadowed run): the books refuse work delivered
    /// under a lower one. A token is a site slot's grant epoch in a shadow
    /// run, and the two sites' slots count their epochs apart: a token of
    /// one site says nothing of the other's (each site has its own
    /// database; these books are their union, below).
    pub fences: BTreeMap<String, u64>,
    /// Applies refused for a stale token.
    pub fenced: u64,
    /// How often each site's database applied each transaction (`""` in
    /// an unshadowed run, where it is `applied`).
    pub applied_at: BTreeMap<(String, Tid), u32>,
    /// Per site and account, the transactions that site's database
    /// applied to it, in the order it applied them (first applications
    /// only): the sites must agree on it (`sites_agree`).
    pub order: BTreeMap<(String, u32), Vec<Tid>>,
}

/// Who holds a row lock: the transaction and the server process (node,
/// connection) whose database session took it.
pub type LockHolder = (Tid, (usize, u32));

/// What the clients did and saw, per transaction.
#[derive(Debug, Default)]
pub struct TxLedger {
    /// The key ranges (indices) its messages went to.
    pub ranges: BTreeSet<usize>,
    /// The outcome its client saw (None: none yet, or the client vanished).
    pub client_saw: Option<bool>,
    /// Its client vanished before the outcome.
    pub client_gone: bool,
}

#[derive(Debug, Default)]
pub struct Checker {
    pub books: Vec<Books>,
    pub txs: BTreeMap<Tid, TxLedger>,
    /// The first outcome heard for each transaction, and by whom.
    pub outcomes: BTreeMap<Tid, (bool, String)>,
    pub violations: Vec<Violation>,
    /// Kinds not to fail on, and how many of each were seen.
    pub ignore: Vec<ViolationKind>,
    pub known: BTreeMap<ViolationKind, u64>,
    /// The sum of the amounts each transaction's applied messages moved
    /// (0 once every range applied it): what a transaction still partly
    /// applied at the end leaves out of balance.
    pub moved: BTreeMap<Tid, i64>,
    /// Where the run is (for the violations' records).
    pub now: Micros,
    pub step: u64,
    /// The servers lock the accounts they vote on (`lock`): on in a
    /// shadow run unless told otherwise (`SimConfig::locks`).
    pub locking: bool,
    /// Row locks of each site's database (`""` in an unshadowed run):
    /// (site, account) -> holder.
    pub locks: BTreeMap<(String, u32), LockHolder>,
}

impl Checker {
    pub fn new(ranges: usize) -> Checker {
        Checker { books: (0..ranges).map(|_| Books::default()).collect(), ..Default::default() }
    }

    pub fn violate(&mut self, kind: ViolationKind, text: String) {
        if self.ignore.contains(&kind) {
            *self.known.entry(kind).or_default() += 1;
            return;
        }
        self.violations.push(Violation { at: self.now, step: self.step, kind, text });
    }

    /// A server at `site` about to vote yes on `tid` locks the accounts
    /// its messages touch in that site's database, until the outcome
    /// (`unlock`), as a real server's database holds the rows it updated
    /// until it commits or rolls back: that is what makes a later
    /// conflicting transaction vote after this one's outcome (the first
    /// link of the chain in docs/shadow.md, "The order of live work").
    /// No waiting: an account another session holds makes the server vote
    /// no (returns false, nothing taken), so locks add no deadlocks of
    /// their own. Always true when locking is off.
    pub fn lock(&mut self, site: &str, accounts: &[u32], holder: LockHolder) -> bool {
        if !self.locking {
            return true;
        }
        let busy = accounts.iter().any(|a| self.locks.get(&(site.to_string(), *a)).is_some_and(|h| *h != holder));
        if busy {
            return false;
        }
        for a in accounts {
            self.locks.insert((site.to_string(), *a), holder);
        }
        true
    }

    /// The session `holder` ended its transaction (outcome, rollback, or
    /// the server process went): its locks go. `tid` `None`: every lock
    /// of that server (its process ended).
    pub fn unlock(&mut self, site: &str, tid: Option<Tid>, server: (usize, u32)) {
        if self.locks.is_empty() {
            return;
        }
        self.locks.retain(|(s, _), (t, sv)| !(s == site && *sv == server && tid.is_none_or(|x| x == *t)));
    }

    /// A participant (`who`) heard the outcome of `tid`.
    pub fn outcome(&mut self, tid: Tid, accepted: bool, who: String) {
        match self.outcomes.get(&tid) {
            Some((first, by)) if *first != accepted => {
                let text = format!("{tid}: {by} heard {}, {who} heard {}", word(*first), word(accepted));
                self.violate(ViolationKind::Disagreement, text);
            }
            Some(_) => {}
            None => {
                self.outcomes.insert(tid, (accepted, who));
            }
        }
    }

    /// A server of key range `range` commits `tid`'s messages to the books.
    /// `uncertain`: it was presented as `msg1_uncertain`, so the server
    /// first looks whether it already applied it (and skips it if so).
    /// `fence`: the commit's fencing token; the books refuse it when they
    /// applied work under a higher one (the commit came from a node fenced
    /// since: the range's new holder replays it, as uncertain).
    pub fn apply(&mut self, range: usize, tid: Tid, msgs: &[(u32, i64)], uncertain: bool, who: String, fence: u64) {
        self.apply_at("", range, tid, msgs, uncertain, who, fence);
    }

    /// `apply` by a server at site `site` of a shadow run (its fencing
    /// token is that site's). Each site has its own database, and stage 2
    /// of shadowing (docs/shadow.md) applies a shadowed transaction at both
    /// sites: once per site is the rule (a second application at one site
    /// is applied-twice; `msg1_uncertain` looks at that site's database
    /// only). The books (`applied`, `balances`) are the sites taken as one
    /// database: the first site's application counts, the other site's is
    /// its mirror, and every rule above (once per range, nothing rejected,
    /// all or none, money conserved) holds of it. That each site applied
    /// every transaction the other did is `sites_agree`, at the end.
    #[allow(clippy::too_many_arguments)]
    pub fn apply_at(
        &mut self,
        site: &str,
        range: usize,
        tid: Tid,
        msgs: &[(u32, i64)],
        uncertain: bool,
        who: String,
        fence: u64,
    ) {
        let books = &mut self.books[range];
        let highest = books.fences.entry(site.to_string()).or_default();
        if fence < *highest {
            books.fenced += 1;
            return;
        }
        *highest = fence;
        if let Some(n) = books.applied_at.get(&(site.to_string(), tid)).copied() {
            if uncertain {
                return;
            }
            books.applied_at.insert((site.to_string(), tid), n + 1);
            if let Some(total) = books.applied.get_mut(&tid) {
                *total += 1;
            }
            let text = format!("{tid} applied again to range {range} by {who}, presented as a new transaction");
            self.violate(ViolationKind::AppliedTwice, text);
            return;
        }
        books.applied_at.insert((site.to_string(), tid), 1);
        // A transaction with two messages to one account is one entry.
        let accounts: BTreeSet<u32> = msgs.iter().map(|(a, _)| *a).collect();
        for account in accounts {
            books.order.entry((site.to_string(), account)).or_default().push(tid);
        }
        if books.applied.contains_key(&tid) {
            // The other site's database applied it already: its mirror.
            return;
        }
        books.applied.insert(tid, 1);
        *self.moved.entry(tid).or_default() += msgs.iter().map(|(_, a)| *a).sum::<i64>();
        for (account, amount) in msgs {
            *books.balances.entry(*account).or_default() += amount;
        }
    }

    /// The end-of-run check of a shadow run: each key range's two sites
    /// applied the same transactions (what one site committed while the
    /// other was away reached it by catch-up, and the other way round).
    /// Transactions excused by an application's deadlock are left out, and
    /// so are the ranges in `unshadowed`, whose shadowing an operator
    /// turned off during the run: what their primary committed meanwhile
    /// is not remembered, and the operator's rebuild of the other site's
    /// database is not modelled.
    pub fn sites_agree(&mut self, deadlocked: &BTreeSet<Tid>, unshadowed: &BTreeSet<usize>) {
        let mut found = Vec::new();
        for (r, books) in self.books.iter().enumerate() {
            if unshadowed.contains(&r) {
                continue;
            }
            let mut by_site: BTreeMap<&str, BTreeSet<Tid>> = BTreeMap::new();
            for ((site, tid), n) in &books.applied_at {
                if *n > 0 && !site.is_empty() && !deadlocked.contains(tid) {
                    by_site.entry(site.as_str()).or_default().insert(*tid);
                }
            }
            let sites: Vec<(&str, BTreeSet<Tid>)> = by_site.into_iter().collect();
            if let [(a, x), (b, y)] = &sites[..] {
                let only_a: Vec<&Tid> = x.difference(y).collect();
                let only_b: Vec<&Tid> = y.difference(x).collect();
                if !only_a.is_empty() || !only_b.is_empty() {
                    let first = only_a.first().or(only_b.first()).map(|t| t.to_string()).unwrap_or_default();
                    found.push(format!(
                        "range {r}: {} transaction(s) applied at {a} only, {} at {b} only (first: {first})",
                        only_a.len(),
                        only_b.len()
                    ));
                }
            }
        }
        for text in found {
            self.violate(ViolationKind::SitesDiffer, text);
        }
        // Without locks nothing orders two transactions on one account at
        // either site: the order is checked only where the servers lock.
        let order = if self.locking { self.order_differences(deadlocked, unshadowed) } else { Vec::new() };
        for text in order {
            self.violate(ViolationKind::OrderDiffers, text);
        }
    }

    /// Accounts whose two sites applied two transactions that both
    /// applied in different orders (only transactions both sites applied
    /// count: `sites_agree` reports the others).
    fn order_differences(&self, deadlocked: &BTreeSet<Tid>, unshadowed: &BTreeSet<usize>) -> Vec<String> {
        let mut found = Vec::new();
        for (r, books) in self.books.iter().enumerate() {
            if unshadowed.contains(&r) {
                continue;
            }
            let mut by_account: BTreeMap<u32, Vec<(&str, &Vec<Tid>)>> = BTreeMap::new();
            for ((site, account), seq) in &books.order {
                if !site.is_empty() {
                    by_account.entry(*account).or_default().push((site.as_str(), seq));
                }
            }
            for (account, sites) in by_account {
                let [(a, x), (b, y)] = &sites[..] else { continue };
                let xs: BTreeSet<&Tid> = x.iter().collect();
                let ys: BTreeSet<&Tid> = y.iter().collect();
                let keep = |t: &&Tid| xs.contains(t) && ys.contains(t) && !deadlocked.contains(*t);
                let x: Vec<&Tid> = x.iter().filter(keep).collect();
                let y: Vec<&Tid> = y.iter().filter(keep).collect();
                if let Some(i) = (0..x.len()).find(|i| x[*i] != y[*i]) {
                    found.push(format!(
                        "range {r}, account {account}: {a} applied {} where {b} applied {} (the {}th of {} \
                         both applied)",
                        x[i],
                        y[i],
                        i + 1,
                        x.len()
                    ));
                }
            }
        }
        found
    }

    /// The end-of-run checks (after the cluster settled).
    /// The end-of-run checks. `running_clients_waiting`: transactions whose
    /// running client has no outcome yet; `deadlocked`: those of them in
    /// (or waiting behind) a cycle of server waits among transactions
    /// without timeouts (`deadlocked_tids`): counted as known, not failed on.
    pub fn finish(&mut self, running_clients_waiting: &[Tid], deadlocked: &BTreeSet<Tid>) {
        let mut found = Vec::new();
        for (tid, tx) in &self.txs {
            let counts: Vec<u32> =
                tx.ranges.iter().map(|r| self.books[*r].applied.get(tid).copied().unwrap_or(0)).collect();
            let applied_anywhere = counts.iter().any(|c| *c > 0);
            match tx.client_saw {
                Some(true) => {
                    for (r, c) in tx.ranges.iter().zip(&counts) {
                        if *c == 0 && deadlocked.contains(tid) {
                            // Committed, its work queued behind the
                            // servers of an application's deadlock (each
                            // holding a timeout-less transaction in a
                            // cycle): applied when the cycle breaks, which
                            // only the application can do. Known, as the
                            // deadlock is (simulator seed 612 of the disk
                            // faults: a hand-off waiting behind two).
                            *self.known.entry(ViolationKind::Deadlock).or_default() += 1;
                            continue;
                        }
                        if *c != 1 {
                            found.push((
                                ViolationKind::AcceptedNotApplied,
                                format!("{tid}: the client saw it accepted; range {r} applied it {c} times"),
                            ));
                        }
                    }
                }
                Some(false) if applied_anywhere => found.push((
                    ViolationKind::RejectedApplied,
                    format!("{tid}: the client saw it rejected; applied {counts:?} on ranges {:?}", tx.ranges),
                )),
                _ if applied_anywhere && counts.contains(&0) => {
                    found.push((ViolationKind::Partial, format!("{tid}: applied {counts:?} on ranges {:?}", tx.ranges)))
                }
                _ => {}
            }
        }
        // A committed transaction whose work on some range waits behind an
        // application's deadlock is part applied: its share is excused.
        let excused: i64 = deadlocked.iter().filter_map(|t| self.moved.get(t)).sum();
        let total: i64 = self.books.iter().flat_map(|b| b.balances.values()).sum::<i64>() - excused;
        if total != 0 {
            found.push((ViolationKind::NotConserved, format!("the balances sum to {total}, not 0")));
        }
        for tid in running_clients_waiting {
            if deadlocked.contains(tid) {
                *self.known.entry(ViolationKind::Deadlock).or_default() += 1;
                continue;
            }
            found.push((ViolationKind::NoOutcome, format!("{tid}: its client is still waiting for the outcome")));
        }
        for (kind, text) in found {
            self.violate(kind, text);
        }
    }
}

fn word(accepted: bool) -> &'static str {
    if accepted {
        "accepted"
    } else {
        "rejected"
    }
}

/// The transactions stuck in an application's deadlock, from every backend
/// node's `server_waits` (per partition with no free server: the
/// transactions its servers hold, and those waiting for one) and the
/// transactions that had a timeout (those must end by themselves: never
/// counted as deadlocked). A transaction can go on if, in every partition
/// it waits in, some holder can go on; one that waits nowhere can (if it
/// is stuck anyway, that is the node's defect, reported as no outcome).
/// The rest wait, directly or through others, on a cycle.
pub fn deadlocked_tids(waits: &[(Vec<Tid>, Vec<Tid>)], timed: &BTreeSet<Tid>) -> BTreeSet<Tid> {
    let mut waits_in: BTreeMap<Tid, Vec<usize>> = BTreeMap::new();
    for (i, (_, waiting)) in waits.iter().enumerate() {
        for t in waiting {
            waits_in.entry(*t).or_default().push(i);
        }
    }
    let mut live: BTreeSet<Tid> = BTreeSet::new();
    loop {
        let mut grew = false;
        for (held, _) in waits {
            for h in held {
                if !live.contains(h) && !waits_in.contains_key(h) {
                    live.insert(*h);
                    grew = true;
                }
            }
        }
        for (t, parts) in &waits_in {
            if !live.contains(t) && parts.iter().all(|i| waits[*i].0.iter().any(|h| live.contains(h))) {
                live.insert(*t);
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    let stuck: BTreeSet<Tid> = waits_in.keys().filter(|t| !live.contains(t)).copied().collect();
    if stuck.iter().any(|t| timed.contains(t)) {
        // A transaction with a timeout among them should have ended:
        // not the application's doing.
        return BTreeSet::new();
    }
    stuck
}
