//! The etcd role authority (design: `docs/roles.md`): the holder of a key
//! range's active role is whoever created its key on a lease it keeps alive.
//!
//! Keys, for a range id `R`:
//! - `/rtr/roles/R`: the live grant, `{holder, forced: false}`, on the
//!   holder's lease. It exists exactly while the grant is live: the holder
//!   releases it by deleting it, and etcd deletes it when the lease expires.
//!   Its create revision is the grant's epoch: revisions only grow, across
//!   the cluster and across every range.
//! - `/rtr/roles/R/last`: the newest grant made for the range, on no lease
//!   so it outlives its holder: `{holder, released, previous}` as the claim
//!   writes it (in the claim's own transaction, so its mod revision is the
//!   epoch), `{holder, epoch, released: true}` once released.
//! - `/rtr/roles/R/note`: the range's note ([`Authority::set_note`]), the
//!   text itself, on no lease; deleted when the note is removed.
//!
//! A claim is a transaction: "the grant key is absent and `last` is the one
//! this claimer read" -> create the grant key on our lease and write `last`
//! naming the grant it replaces; otherwise read both (and try again if only
//! `last` was not as expected, at most `CLAIM_ATTEMPTS` times). The claim's
//! answer can be lost after etcd applied it (a timeout, a member that died):
//! the next claim then finds the key on its own lease and still learns the
//! replaced grant from `last.previous`, so the journal of a holder that did
//! not release is never left unrecovered.
//!
//! There are no forced claims: a holder's grant ends when its lease does.
//! The holder renews the lease in [`Authority::maintain`]; once it has not
//! renewed it for TTL minus a margin (by its own clock, counted from before
//! the request that renewed it, so never later than etcd's count), it reports
//! its grants lost and stops being active, before etcd can grant them to
//! another node.
//!
//! Dropping an [`Etcd`] does not revoke its lease, as a killed process
//! cannot: its grants pass on when the TTL runs out. [`Etcd::close`] ends
//! them at once.

mod gateway;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use self::gateway::{Gateway, GatewayError, KeyValue, TxnResponse};
use super::{Authority, AuthorityError, Claim, Grant};

pub use self::gateway::{CONNECT_TIMEOUT, REQUEST_TIMEOUT};

/// The lease TTL the docs suggest: a holder that died is replaced within it.
pub const DEFAULT_TTL: Duration = Duration::from_secs(2);

/// A claim whose compare failed only because `last` changed under it (a
/// claim and a release or an expiry in between) reads again and retries, at
/// most this many times in all.
const CLAIM_ATTEMPTS: usize = 4;

/// The longest lease TTL used. Longer answers from etcd are taken as this:
/// the node then stops earlier than etcd would end the lease, never later.
const MAX_TTL_SECS: u64 = 3600;

/// Held grants checked per transaction by `maintain`.
const CHECK_PER_TXN: usize = 64;

/// Where the role keys live.
const PREFIX: &str = "/rtr/roles/";

/// The value of the grant key.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct HolderRecord {
    holder: String,
    #[serde(default)]
    forced: bool,
}

/// The value of `last`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct LastRecord {
    holder: String,
    /// Left out by the claim, which cannot know its own revision: the epoch
    /// is then the key's mod revision (the claim's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    epoch: Option<u64>,
    released: bool,
    /// The grant this one replaced, as the claim read it (none for the
    /// first grant of the range, and once released).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous: Option<PreviousRecord>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct PreviousRecord {
    holder: String,
    epoch: u64,
    released: bool,
}

impl From<PreviousRecord> for Grant {
    fn from(p: PreviousRecord) -> Grant {
        Grant { epoch: p.epoch, holder: p.holder, released: p.released, forced: false }
    }
}

/// The grant a `last` key records.
fn last_grant(kv: &KeyValue) -> Result<(Grant, LastRecord), AuthorityError> {
    let rec: LastRecord = serde_json::from_str(&kv.value)
        .map_err(|e| AuthorityError::Corrupt(format!("etcd key {}: {e}: {:?}", kv.key, kv.value)))?;
    let epoch = rec.epoch.unwrap_or(revision(kv.mod_revision));
    Ok((Grant { epoch, holder: rec.holder.clone(), released: rec.released, forced: false }, rec))
}

/// The live grant a grant key records.
fn live_grant(kv: &KeyValue) -> Result<Grant, AuthorityError> {
    let rec: HolderRecord = serde_json::from_str(&kv.value)
        .map_err(|e| AuthorityError::Corrupt(format!("etcd key {}: {e}: {:?}", kv.key, kv.value)))?;
    Ok(Grant { epoch: revision(kv.create_revision), holder: rec.holder, released: false, forced: rec.forced })
}

/// etcd revisions are positive int64s.
fn revision(r: i64) -> u64 {
    r.max(0) as u64
}

/// The two keys of range `range`.
fn keys(range: &str) -> Result<(String, String), AuthorityError> {
    // A '/' would let one range's grant key be another's `last`.
    if range.is_empty() || range.contains('/') {
        return Err(AuthorityError::Failed(format!("bad range id {range:?} (empty or with '/')")));
    }
    let grant = format!("{PREFIX}{range}");
    let last = format!("{grant}/last");
    Ok((grant, last))
}

/// This handle's lease.
#[derive(Clone, Copy, Debug)]
struct Lease {
    id: i64,
    /// The TTL etcd gave it (it may raise the one asked for to its minimum).
    ttl: Duration,
    /// When the request that last granted or renewed it was sent: etcd's
    /// count started no earlier, so the lease lives at least until
    /// `renewed + ttl`.
    renewed: Instant,
}

impl Lease {
    /// Still ours by our own clock: renewed within TTL minus a quarter of
    /// it (the margin covers clock rates and the time a node needs to see
    /// the loss and stop).
    fn live(&self, now: Instant) -> bool {
        now < self.renewed + self.ttl - self.ttl / 4
    }
}

enum Renewal {
    Renewed,
    /// etcd says the lease does not exist (any more).
    Gone,
    /// No answer: the lease may or may not still be live.
    NoAnswer,
}

/// One node's handle on an etcd cluster.
pub struct Etcd {
    gw: Gateway,
    node: String,
    /// The TTL asked for, in whole seconds as etcd takes it (1 to MAX_TTL_SECS).
    ttl_secs: i64,
    lease: Option<Lease>,
    /// When `maintain` next renews the lease.
    next_renewal: Instant,
    /// Grants this handle won and has not released or lost: range -> epoch.
    held: BTreeMap<String, u64>,
    /// The `last` key of ranges this handle claimed and did not win, as it
    /// read it then: what its next claim expects.
    last_seen: BTreeMap<String, KeyValue>,
    /// Grants found lost outside `maintain` (a claim that found the lease
    /// gone): the next `maintain` reports them.
    lost: Vec<(String, u64)>,
}

impl Etcd {
    /// A handle acting for node `node` on the etcd cluster reached at
    /// `endpoints` ("http://127.0.0.1:2379"; several for a cluster, tried in
    /// turn when one fails). Grants live on one lease of TTL `ttl` (whole
    /// seconds, at least 1; etcd may raise it to its minimum, 2 s with its
    /// default timing), granted at the first claim.
    ///
    /// Checks that some endpoint answers as etcd (one request), so a wrong
    /// address is reported now: `Unreachable` if none does.
    pub fn connect(endpoints: &[String], node: &str, ttl: Duration) -> Result<Etcd, AuthorityError> {
        if node.is_empty() {
            return Err(AuthorityError::Failed("etcd authority: empty node name".to_string()));
        }
        if endpoints.is_empty() {
            return Err(AuthorityError::Failed("etcd authority: no endpoint".to_string()));
        }
        let mut urls = Vec::new();
        for e in endpoints {
            let url = e.trim().trim_end_matches('/');
            let Some(host) = url.strip_prefix("http://") else {
                return Err(AuthorityError::Failed(format!(
                    "etcd endpoint {e:?}: only http://host:port is supported (no TLS)"
                )));
            };
            if host.is_empty() || host.contains('/') {
                return Err(AuthorityError::Failed(format!("etcd endpoint {e:?}: expected http://host:port")));
            }
            urls.push(url.to_string());
        }
        let ttl_secs = ttl.as_secs().saturating_add(u64::from(ttl.subsec_nanos() > 0)).clamp(1, MAX_TTL_SECS);
        let mut etcd = Etcd {
            gw: Gateway::new(urls),
            node: node.to_string(),
            ttl_secs: ttl_secs as i64,
            lease: None,
            next_renewal: Instant::now(),
            held: BTreeMap::new(),
            last_seen: BTreeMap::new(),
            lost: Vec::new(),
        };
        let probe = serde_json::json!({"key": gateway::b64(PREFIX)});
        etcd.gw.call::<gateway::RangeResponse>("/v3/kv/range", &probe).map_err(|e| etcd.error(e))?;
        Ok(etcd)
    }

    /// End this handle's lease now (a node stopping cleanly): its grants
    /// end at once, not released, so their next holders recover them.
    pub fn close(mut self) -> Result<(), AuthorityError> {
        let Some(lease) = self.lease.take() else { return Ok(()) };
        self.held.clear();
        match self.gw.call::<gateway::Empty>("/v3/lease/revoke", &serde_json::json!({"ID": lease.id.to_string()})) {
            Ok(_) | Err(GatewayError::Refused { code: gateway::NOT_FOUND, .. }) => Ok(()),
            Err(e) => Err(self.error(e)),
        }
    }

    fn error(&self, e: GatewayError) -> AuthorityError {
        match e {
            GatewayError::Unreachable(why) => AuthorityError::Unreachable(format!("etcd: {why}")),
            GatewayError::Refused { code, message } => {
                AuthorityError::Failed(format!("etcd refused the request: {message} (code {code})"))
            }
        }
    }

    fn txn(&mut self, body: serde_json::Value) -> Result<TxnResponse, GatewayError> {
        self.gw.call("/v3/kv/txn", &body)
    }

    /// The lease is gone (or no longer ours by our clock): every grant on it
    /// is lost; the next claim grants a fresh one.
    fn drop_lease(&mut self) {
        self.lease = None;
        let held = std::mem::take(&mut self.held);
        self.lost.extend(held);
    }

    /// A lease that is live by our clock, granted if need be.
    fn live_lease(&mut self) -> Result<Lease, AuthorityError> {
        let now = Instant::now();
        match self.lease {
            Some(l) if l.live(now) => return Ok(l),
            Some(_) => self.drop_lease(),
            None => {}
        }
        let sent = Instant::now();
        let body = serde_json::json!({"TTL": self.ttl_secs.to_string()});
        let answer: gateway::LeaseGrantResponse = self.gw.call("/v3/lease/grant", &body).map_err(|e| self.error(e))?;
        if !answer.error.is_empty() || answer.ttl <= 0 || answer.id == 0 {
            return Err(AuthorityError::Failed(format!(
                "etcd granted no lease: {:?} (ID {}, TTL {})",
                answer.error, answer.id, answer.ttl
            )));
        }
        let ttl = Duration::from_secs((answer.ttl as u64).min(MAX_TTL_SECS));
        let lease = Lease { id: answer.id, ttl, renewed: sent };
        self.lease = Some(lease);
        self.next_renewal = sent + ttl / 3;
        Ok(lease)
    }

    /// Renew the lease.
    fn renew(&mut self, lease: Lease) -> Renewal {
        let sent = Instant::now();
        let body = serde_json::json!({"ID": lease.id.to_string()});
        match self.gw.call::<gateway::KeepAliveMessage>("/v3/lease/keepalive", &body) {
            Ok(m) => match m.result {
                Some(r) if r.ttl > 0 => {
                    let ttl = Duration::from_secs((r.ttl as u64).min(MAX_TTL_SECS));
                    self.lease = Some(Lease { id: lease.id, ttl, renewed: sent });
                    self.next_renewal = sent + ttl / 3;
                    Renewal::Renewed
                }
                // etcd answers a lease it does not know with no TTL.
                _ => Renewal::Gone,
            },
            Err(GatewayError::Refused { code: gateway::NOT_FOUND, .. }) => Renewal::Gone,
            Err(_) => {
                // No quorum, nobody answered: try again soon, while the
                // lease may still be live (rather than a third of the TTL
                // later, which could be past its deadline).
                self.next_renewal = Instant::now() + lease.ttl / 10;
                Renewal::NoAnswer
            }
        }
    }

    /// The held grants whose key is no longer this grant on our lease (a
    /// newer epoch, or deleted by someone else): forgotten and returned.
    /// Unknown when etcd does not answer: the lease deadline covers that.
    fn check_held(&mut self, lease: Lease) -> Vec<(String, u64)> {
        let held: Vec<(String, u64)> = self.held.iter().map(|(r, e)| (r.clone(), *e)).collect();
        let mut lost = Vec::new();
        // etcd refuses a transaction of more than 128 operations (its
        // default --max-txn-ops). Every held range id passed `keys` when it
        // was claimed, so op `i` is the range of `chunk[i]`.
        for chunk in held.chunks(CHECK_PER_TXN) {
            let ops = chunk.iter().filter_map(|(range, _)| keys(range).ok()).map(|(k, _)| gateway::range(&k)).collect();
            let Ok(answer) = self.txn(gateway::txn(Vec::new(), ops, Vec::new())) else { continue };
            for (i, (range, epoch)) in chunk.iter().enumerate() {
                let Ok(kv) = answer.key(i) else { break };
                if !kv.is_some_and(|kv| revision(kv.create_revision) == *epoch && kv.lease == lease.id) {
                    lost.push((range.clone(), *epoch));
                }
            }
        }
        for (range, _) in &lost {
            self.held.remove(range);
        }
        lost
    }
}

impl Authority for Etcd {
    fn describe(&self) -> String {
        format!("etcd {}", self.gw.endpoints().join(","))
    }

    fn claim(&mut self, range: &str, _force_over: Option<u64>) -> Result<Claim, AuthorityError> {
        let (grant_key, last_key) = keys(range)?;
        // The `last` record this claim expects: as this handle last read it
        // (none if never), so a standby's claim once the holder is gone is
        // one round trip. A stale guess costs one more.
        let mut expected: Option<KeyValue> = self.last_seen.get(range).cloned();
        for _ in 0..CLAIM_ATTEMPTS {
            let lease = self.live_lease()?;
            let previous = expected.as_ref().map(last_grant).transpose()?.map(|(g, _)| g);
            let record = LastRecord {
                holder: self.node.clone(),
                epoch: None,
                released: false,
                previous: previous.clone().map(|g| PreviousRecord {
                    holder: g.holder,
                    epoch: g.epoch,
                    released: g.released,
                }),
            };
            let holder = HolderRecord { holder: self.node.clone(), forced: false };
            let body = gateway::txn(
                vec![
                    gateway::create_revision_is(&grant_key, 0),
                    gateway::mod_revision_is(&last_key, expected.as_ref().map_or(0, |kv| kv.mod_revision)),
                ],
                vec![
                    gateway::put(&grant_key, &json(&holder), Some(lease.id)),
                    gateway::put(&last_key, &json(&record), None),
                    gateway::range(&grant_key),
                ],
                vec![gateway::range(&grant_key), gateway::range(&last_key)],
            );
            let answer = match self.txn(body) {
                Ok(a) => a,
                // etcd no longer has our lease (revoked, or expired while we
                // could not renew it): its grants are lost; a fresh one.
                Err(GatewayError::Refused { code: gateway::NOT_FOUND, .. }) => {
                    self.drop_lease();
                    continue;
                }
                Err(e) => return Err(self.error(e)),
            };
            if answer.succeeded {
                self.last_seen.remove(range);
                let created = answer.key(2).map_err(AuthorityError::Failed)?;
                let Some(kv) = created else {
                    return Err(AuthorityError::Failed(format!(
                        "etcd lost key {grant_key} in the claim's transaction"
                    )));
                };
                let epoch = revision(kv.create_revision);
                self.held.insert(range.to_string(), epoch);
                return Ok(Claim::Granted { epoch, previous });
            }
            let live = answer.key(0).map_err(AuthorityError::Failed)?.cloned();
            let last = answer.key(1).map_err(AuthorityError::Failed)?.cloned();
            match &last {
                Some(kv) => self.last_seen.insert(range.to_string(), kv.clone()),
                None => self.last_seen.remove(range),
            };
            let Some(live) = live else {
                // No live grant, but `last` is not what we read: read it now.
                expected = last;
                continue;
            };
            let grant = live_grant(&live)?;
            if live.lease != lease.id {
                return Ok(Claim::Held(grant));
            }
            // Our own live grant: a retried claim, or one whose answer was
            // lost after etcd applied it (then `last` still says which
            // grant it replaced, and the caller has to hear it).
            if self.held.get(range) == Some(&grant.epoch) {
                return Ok(Claim::Granted { epoch: grant.epoch, previous: None });
            }
            let last = last.ok_or_else(|| AuthorityError::Corrupt(format!("etcd key {last_key} is missing")))?;
            let (mine, record) = last_grant(&last)?;
            if mine.epoch != grant.epoch || mine.holder != self.node {
                return Err(AuthorityError::Corrupt(format!(
                    "etcd key {last_key} says epoch {} of {}, the live grant is epoch {} of {}",
                    mine.epoch, mine.holder, grant.epoch, self.node
                )));
            }
            self.held.insert(range.to_string(), grant.epoch);
            return Ok(Claim::Granted { epoch: grant.epoch, previous: record.previous.map(Grant::from) });
        }
        Err(AuthorityError::Failed(format!(
            "etcd: the role record of {range} changed under each of {CLAIM_ATTEMPTS} claims"
        )))
    }

    fn holder_gone(&mut self, _range: &str, _epoch: u64) -> Result<bool, AuthorityError> {
        // No forced claims: a grant is only given once the previous one's
        // key is gone (released, or its lease ran out), and a holder that
        // could not renew its lease stops being active by itself before
        // that (`maintain`).
        Ok(true)
    }

    fn release(&mut self, range: &str, epoch: u64) -> Result<(), AuthorityError> {
        let (grant_key, last_key) = keys(range)?;
        if self.held.get(range) != Some(&epoch) {
            return Ok(());
        }
        let record = LastRecord { holder: self.node.clone(), epoch: Some(epoch), released: true, previous: None };
        let body = gateway::txn(
            vec![gateway::create_revision_is(&grant_key, epoch.min(i64::MAX as u64) as i64)],
            vec![gateway::delete(&grant_key), gateway::put(&last_key, &json(&record), None)],
            Vec::new(),
        );
        // Not applied (compare failed): the grant had already ended; it is
        // not ours to release either way.
        self.txn(body).map_err(|e| self.error(e))?;
        self.held.remove(range);
        Ok(())
    }

    fn current(&mut self, range: &str) -> Result<Option<Grant>, AuthorityError> {
        let (grant_key, last_key) = keys(range)?;
        let body = gateway::txn(Vec::new(), vec![gateway::range(&grant_key), gateway::range(&last_key)], Vec::new());
        let answer = self.txn(body).map_err(|e| self.error(e))?;
        if let Some(live) = answer.key(0).map_err(AuthorityError::Failed)? {
            return live_grant(live).map(Some);
        }
        match answer.key(1).map_err(AuthorityError::Failed)? {
            Some(last) => last_grant(last).map(|(g, _)| Some(g)),
            None => Ok(None),
        }
    }

    fn set_note(&mut self, range: &str, note: Option<&str>) -> Result<(), AuthorityError> {
        let (grant_key, _) = keys(range)?;
        let key = format!("{grant_key}/note");
        let op = match note {
            Some(text) if text.len() > super::MAX_NOTE => {
                return Err(AuthorityError::Failed(format!(
                    "a note of {} bytes (at most {})",
                    text.len(),
                    super::MAX_NOTE
                )))
            }
            // On no lease: a note outlives every holder.
            Some(text) => gateway::put(&key, text, None),
            None => gateway::delete(&key),
        };
        self.txn(gateway::txn(Vec::new(), vec![op], Vec::new())).map_err(|e| self.error(e))?;
        Ok(())
    }

    fn note(&mut self, range: &str) -> Result<Option<String>, AuthorityError> {
        let (grant_key, _) = keys(range)?;
        let key = format!("{grant_key}/note");
        let answer =
            self.txn(gateway::txn(Vec::new(), vec![gateway::range(&key)], Vec::new())).map_err(|e| self.error(e))?;
        Ok(answer.key(0).map_err(AuthorityError::Failed)?.map(|kv| kv.value.clone()))
    }

    fn maintain(&mut self) -> Vec<(String, u64)> {
        // Past the deadline the grants are lost even if etcd would still
        // renew the lease: the node may have been frozen, and stopping is
        // what the rule promises the next holder.
        if self.lease.is_some_and(|l| !l.live(Instant::now())) {
            self.drop_lease();
        }
        if let Some(lease) = self.lease {
            if Instant::now() >= self.next_renewal {
                match self.renew(lease) {
                    Renewal::Gone => self.drop_lease(),
                    Renewal::Renewed if !self.held.is_empty() => {
                        let lost = self.check_held(lease);
                        self.lost.extend(lost);
                    }
                    // Checking the keys would wait for the same silence.
                    Renewal::Renewed | Renewal::NoAnswer => {}
                }
            }
        }
        // Again after a renewal that failed: it took time and left the
        // lease as old as it was.
        if self.lease.is_some_and(|l| !l.live(Instant::now())) {
            self.drop_lease();
        }
        std::mem::take(&mut self.lost)
    }
}

/// A record as JSON text. Serializing these plain structs of strings,
/// numbers and booleans cannot fail; were it to, an empty value would be
/// refused as damaged by every reader rather than taken for a grant.
fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

#[cfg(test)]
mod tests;
