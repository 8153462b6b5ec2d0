//! The role authority: who is active for a key range, under which epoch
//! (design: `docs/roles.md`).
//!
//! Every key range of a facility has one role record in an authority that
//! makes one change at a time. A backend partition becomes active only by
//! claiming the record ([`Authority::claim`]); the authority gives the next
//! epoch to exactly one claimer, and only once the previous holder cannot be
//! exercising the role any more (its lock or lease is gone), or when the
//! claimer forces it with a quorum's evidence that the holder is lost. Epochs
//! only grow: everyone refuses an active role older than the newest it saw.
//!
//! Providers:
//! - [`mem::MemAuthority`]: one in-memory record set shared by handles; the
//!   embedded node (one backend node), the in-memory cluster tests and the
//!   simulator use it;
//! - [`shared_root::SharedRoot`]: files beside the journals on the shared
//!   journal root (`ROOT/.roles/<range id>/`), under the journal's own
//!   ownership rules (an OS lock, epochs claimed with O_EXCL, synced);
//! - [`etcd::Etcd`]: an etcd cluster through its JSON gateway (blocking
//!   HTTP, no async runtime): a lease per holder, the key's create revision
//!   as epoch, no forced claims (a grant ends with its lease).
//!
//! The node (`crate::node`) stays sans-I/O: it emits `Output::Claim` and
//! `Output::ReleaseRole` and hears the results as inputs; the runtime calls
//! the provider.

pub mod etcd;
pub mod mem;
pub mod shared_root;

use crate::keyseg::KeyRange;

/// One grant of the active role of a key range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Only grows, per range; the first grant is epoch 1 (etcd: the grant
    /// key's create revision, which grows across every range).
    pub epoch: u64,
    /// The node that holds (or held) the role.
    pub holder: String,
    /// The holder gave the role up cleanly (its last server left): the next
    /// holder has no journal of it to recover.
    pub released: bool,
    /// The grant was forced over a holder that may still have been alive.
    pub forced: bool,
}

/// The answer to a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The claimer holds the role at `epoch`. `previous` is the grant it
    /// replaces (none for the first grant of the range): unless it was
    /// released, or held by the claimer itself, the claimer must recover the
    /// previous holder's journal before it presents any work.
    Granted { epoch: u64, previous: Option<Grant> },
    /// Another holder's grant is still live (or the forced claim was over an
    /// epoch that is no longer the newest).
    Held(Grant),
}

/// Why the authority could not answer. The claimer stays as it is (never
/// becomes active because of an error).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthorityError {
    /// The authority cannot be reached (the minority state).
    #[error("the role authority is unreachable: {0}")]
    Unreachable(String),
    /// The authority's records are damaged; an operator must look.
    #[error("the role authority's record is damaged: {0}")]
    Corrupt(String),
    /// Anything else (an I/O error, a refused request), with what it was.
    #[error("{0}")]
    Failed(String),
}

/// A role authority as one node uses it: every call is made on behalf of
/// the node named when the handle was made. Calls block; providers keep
/// them short (a few file operations, one HTTP round trip on loopback).
pub trait Authority: Send {
    /// What this is, for logs and `rtr show partition` ("shared root
    /// /var/rtr/journals", "etcd http://127.0.0.1:2379", "local").
    fn describe(&self) -> String;

    /// Claim the active role of range `range` (a [`range_id`]).
    ///
    /// Without `force_over` the claim wins only if the range has no grant,
    /// or its newest grant was released, or its holder is gone (no lock, no
    /// lease). A claim by the node that already holds the newest live grant
    /// returns `Granted` with that same epoch and `previous: None`, so a
    /// retried claim is harmless.
    ///
    /// With `force_over: Some(e)` (the caller has a quorum's word that the
    /// holder of `e` is lost) the claim wins if `e` is still the newest
    /// epoch, whether or not its holder looks alive; the caller then fences
    /// the old holder by taking over its journal. A provider that cannot
    /// force (etcd) treats it as a plain claim.
    fn claim(&mut self, range: &str, force_over: Option<u64>) -> Result<Claim, AuthorityError>;

    /// The holder of grant `epoch` of `range` is about to exercise it (its
    /// recovery of the previous holder's journal, if any, is done): marked
    /// durably. A grant never marked was never exercised, so a later claim
    /// skips it when it names the `previous` grant whose holder's journal
    /// may hold the range's work: a holder that died while recovering
    /// passes its duty to recover on to the next. A provider without forced
    /// claims or journal takeovers (etcd) may do nothing.
    fn activate(&mut self, _range: &str, _epoch: u64) -> Result<(), AuthorityError> {
        Ok(())
    }

    /// Is the holder of grant `epoch` of `range` gone, so that it cannot be
    /// exercising that grant any more (its lock is free, its lease ran
    /// out)? Asked by a partition that goes active without that holder's
    /// journal (an operator's `--ignore-recovery`, the *unrecognized*
    /// policy): nothing fenced the holder then, so a frozen or cut-off one
    /// would still count itself active until it learns of the newer grant
    /// (`maintain`), which is also when it lets its lock go. `Ok(false)`:
    /// it may still be running; ask again later.
    fn holder_gone(&mut self, range: &str, epoch: u64) -> Result<bool, AuthorityError>;

    /// Give up the role of `range` held at `epoch` cleanly (no journal of
    /// this node needs recovering for it). Does nothing if `epoch` is not
    /// this node's live grant.
    fn release(&mut self, range: &str, epoch: u64) -> Result<(), AuthorityError>;

    /// The newest grant of `range`, if any (for `rtr show partition`).
    fn current(&mut self, range: &str) -> Result<Option<Grant>, AuthorityError>;

    /// Set (`Some`) or remove (`None`) the durable note of `range`: a short
    /// text beside its role record that no grant, release or lost holder
    /// changes; answered once it is durable (a retried call is harmless).
    /// A shadowed range's primary record carries the site at which
    /// shadowing was turned off (docs/shadow.md, "SET PARTITION
    /// /NOSHADOW"): no partition of another site may claim the primary
    /// while it stands.
    fn set_note(&mut self, range: &str, note: Option<&str>) -> Result<(), AuthorityError>;

    /// The note of `range`, if any ([`Authority::set_note`]).
    fn note(&mut self, range: &str) -> Result<Option<String>, AuthorityError>;

    /// Called often (every node pass that has time for it, at most every
    /// [`MAINTAIN_EVERY_MS`]): keep live grants live (take a lock that is
    /// free again after a forced claim, renew a lease) and return the
    /// grants this node held and has lost (range, epoch): a newer epoch
    /// exists or the lease could not be renewed in time. The node stops
    /// being active for them at once.
    fn maintain(&mut self) -> Vec<(String, u64)>;
}

/// Which role authority a node uses (`rtr start --authority`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AuthorityConfig {
    /// The shared journal root's (`--journal-root`) when the node has one,
    /// else the node's own (its facilities have this one backend node).
    #[default]
    Auto,
    /// An etcd cluster: its client URLs, and the lease time of a grant.
    Etcd { endpoints: Vec<String>, ttl: std::time::Duration },
}

impl AuthorityConfig {
    /// `auto`, or `etcd:URL[,URL...]` (URLs `http://HOST:PORT`).
    pub fn parse(text: &str) -> Result<AuthorityConfig, String> {
        if text == "auto" {
            return Ok(AuthorityConfig::Auto);
        }
        let Some(urls) = text.strip_prefix("etcd:") else {
            return Err(format!("unknown role authority {text:?}: use auto or etcd:http://HOST:PORT[,...]"));
        };
        let endpoints: Vec<String> =
            urls.split(',').map(str::trim).filter(|u| !u.is_empty()).map(String::from).collect();
        if endpoints.is_empty() || endpoints.iter().any(|u| !u.starts_with("http://")) {
            return Err(format!("etcd endpoints must be http://HOST:PORT, comma-separated: {urls:?}"));
        }
        Ok(AuthorityConfig::Etcd { endpoints, ttl: etcd::DEFAULT_TTL })
    }

    /// Open the authority for node `node` (`root`: its shared journal root).
    pub fn open(&self, root: Option<&std::path::Path>, node: &str) -> Result<Box<dyn Authority>, AuthorityError> {
        Ok(match (self, root) {
            (AuthorityConfig::Etcd { endpoints, ttl }, _) => Box::new(etcd::Etcd::connect(endpoints, node, *ttl)?),
            (AuthorityConfig::Auto, Some(root)) => Box::new(shared_root::SharedRoot::new(root, node)),
            (AuthorityConfig::Auto, None) => Box::new(mem::MemAuthority::new().handle(node)),
        })
    }
}

/// Longest note [`Authority::set_note`] takes: a site name (a node name,
/// `facility::MAX_NODE_NAME`).
pub const MAX_NOTE: usize = crate::facility::MAX_NODE_NAME;

/// How often the runtime calls [`Authority::maintain`].
pub const MAINTAIN_EVERY_MS: u64 = 100;

/// The authority's name for a key range of a facility: the facility's name
/// (lower case, characters other than ASCII letters, digits, `-` and `_`
/// written as `%XX`) and the CRC32C of the range's bounds, so it is a safe
/// file name and an etcd key. Two partitions are standbys of each other
/// exactly when their ranges are `same_range`, which is what the bounds
/// encode; the partition name is not part of it.
pub fn range_id(facility: &str, range: &KeyRange) -> String {
    let mut name = facility_prefix(facility);
    let mut bounds = Vec::new();
    for s in range.segments() {
        bounds.extend_from_slice(&(s.key_type() as u32).to_le_bytes());
        bounds.extend_from_slice(&s.length().to_le_bytes());
        bounds.extend_from_slice(&s.offset().to_le_bytes());
        bounds.extend_from_slice(&(s.low().len() as u32).to_le_bytes());
        bounds.extend_from_slice(s.low());
        bounds.extend_from_slice(&(s.high().len() as u32).to_le_bytes());
        bounds.extend_from_slice(s.high());
    }
    name.push_str(&format!("{:08x}", crc32c::crc32c(&bounds)));
    name
}

/// What every `range_id` of `facility` starts with: its escaped name and a
/// dot (no escaped name holds a dot: `.` is written `%2E`).
pub fn facility_prefix(facility: &str) -> String {
    let mut name = String::new();
    for b in facility.to_ascii_lowercase().bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            name.push(b as char);
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    name.push('.');
    name
}

#[cfg(test)]
mod tests;
