//! Facility definitions as RTR operators know them (`CREATE FACILITY`): which
//! nodes are frontends, routers and backends of a facility, the rules a
//! definition must keep, and the node's file of definitions.
//!
//! Rules (RTR's, SMM §1.4, as far as one node can check them):
//! - facility names have 1 to 31 characters, start with a letter and use
//!   letters, digits, `_`, `$`, `-` and `.`; they are compared without
//!   regard to case and kept upper case (as channels name them);
//! - node names have 1 to 255 characters (a host name: letters, digits,
//!   `-`, `_`, `.`, starting with a letter or digit); compared without
//!   regard to case and kept lower case;
//! - no node appears twice in one role list (`DUPNODNAM`); the frontend
//!   list keeps its order (the routers a frontend prefers, later);
//! - a facility has at least one router and at least one backend;
//! - a facility is created once: creating it again fails (`FACEXISTS`).
//!
//! A facility that is not defined on a node is *implicit* there: a channel
//! opened on it works and the node plays every role for it (the embedded
//! node has no definitions at all). A defined facility gives the node only
//! the roles it is listed in: a client channel needs the frontend role
//! ([`Status::Notfrontend`]), a server channel the backend role
//! ([`Status::Notbackend`]).
//!
//! The file (`facilities.conf` in the node directory) has one facility per
//! line, `NAME frontend=NODES router=NODES backend=NODES` (comma-separated,
//! `-` for an empty list), and `#` comments. It is replaced atomically
//! (written beside, synced, renamed, directory synced), so a crash leaves
//! either the old or the new definitions, never a mix.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::protocol::Role;
use crate::status::Status;
use crate::MAX_FACNAM_LEN;

/// Longest node name (a fully qualified host name).
pub const MAX_NODE_NAME: usize = 255;

/// The three role lists of a facility.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoleList {
    Frontend,
    Router,
    Backend,
}

impl RoleList {
    pub const ALL: [RoleList; 3] = [RoleList::Frontend, RoleList::Router, RoleList::Backend];

    pub fn name(self) -> &'static str {
        match self {
            RoleList::Frontend => "frontend",
            RoleList::Router => "router",
            RoleList::Backend => "backend",
        }
    }
}

/// The roles one node plays in one facility.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Roles {
    pub frontend: bool,
    pub router: bool,
    pub backend: bool,
}

impl Roles {
    pub const ALL: Roles = Roles { frontend: true, router: true, backend: true };

    pub fn any(self) -> bool {
        self.frontend || self.router || self.backend
    }
}

/// `FE,TR,BE` style, `-` for none.
impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = [(self.frontend, "FE"), (self.router, "TR"), (self.backend, "BE")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect();
        if names.is_empty() {
            f.write_str("-")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

/// Why a definition (or the definitions file) was refused. Each variant has
/// a short RTR-style code ([`FacilityError::code`]) for scripts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FacilityError {
    #[error("invalid facility name {name:?}: {why}")]
    InvalidName { name: String, why: &'static str },
    #[error("invalid node name {node:?} in the {} list: {why}", .list.name())]
    InvalidNode { list: RoleList, node: String, why: &'static str },
    #[error("duplicate node name {node} in the {} list", .list.name())]
    DuplicateNode { list: RoleList, node: String },
    #[error("a facility needs at least one router (--router or --all-roles)")]
    NoRouter,
    #[error("a facility needs at least one backend (--backend or --all-roles)")]
    NoBackend,
    #[error("facility {0} already exists (delete it first to change it)")]
    Exists(String),
    #[error("facility {0} is not defined on this node")]
    NotFound(String),
    #[error("{path}, line {line}: {why}")]
    BadFile { path: String, line: usize, why: String },
    #[error("cannot save the facility definitions: {0}")]
    Io(String),
}

impl FacilityError {
    /// The RTR-style status code (`INVFACNAM`, ...), from the one table of
    /// refusals ([`crate::protocol::admin::AdminError`]).
    pub fn code(&self) -> &'static str {
        crate::protocol::admin::AdminError::from(self).code()
    }
}

/// A facility name by RTR's rules, upper case.
pub fn facility_name(name: &str) -> Result<String, FacilityError> {
    let bad = |why| FacilityError::InvalidName { name: name.to_string(), why };
    if name.is_empty() || name.len() > MAX_FACNAM_LEN {
        return Err(bad("must be 1 to 31 characters"));
    }
    let mut chars = name.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphabetic()) {
        return Err(bad("must start with a letter"));
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '-' | '.')) {
        return Err(bad("only letters, digits, '_', '$', '-' and '.' are allowed"));
    }
    Ok(name.to_ascii_uppercase())
}

/// A node name (a host name), lower case.
pub fn node_name(node: &str) -> Result<String, &'static str> {
    if node.is_empty() || node.len() > MAX_NODE_NAME {
        return Err("must be 1 to 255 characters");
    }
    if !node.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("must start with a letter or a digit");
    }
    if !node.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err("only letters, digits, '-', '_' and '.' are allowed");
    }
    Ok(node.to_ascii_lowercase())
}

/// A node's id (the first word of the tids it starts) from its name:
/// FNV-1a, never 0 or 1 (1 is the embedded node's). Linked nodes must have
/// different ids; the handshake refuses a clash (`IDCLASH`).
pub fn node_id(name: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    if h <= 1 {
        h + 2
    } else {
        h
    }
}

/// This machine's host name as a node name (`localhost` when it has none
/// that is a valid node name).
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into the buffer,
    // which lives for the whole call.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    std::str::from_utf8(&buf[..end]).ok().and_then(|s| node_name(s).ok()).unwrap_or_else(|| "localhost".into())
}

/// One facility definition, valid by construction ([`FacilityDef::new`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FacilityDef {
    name: String,
    frontends: Vec<String>,
    routers: Vec<String>,
    backends: Vec<String>,
}

impl FacilityDef {
    /// Check a definition against the rules; names are normalised (facility
    /// upper case, nodes lower case), list order is kept.
    pub fn new(
        name: &str,
        frontends: &[String],
        routers: &[String],
        backends: &[String],
    ) -> Result<FacilityDef, FacilityError> {
        let name = facility_name(name)?;
        let list = |which: RoleList, nodes: &[String]| -> Result<Vec<String>, FacilityError> {
            let mut out: Vec<String> = Vec::with_capacity(nodes.len());
            for n in nodes {
                let n = node_name(n).map_err(|why| FacilityError::InvalidNode { list: which, node: n.clone(), why })?;
                if out.contains(&n) {
                    return Err(FacilityError::DuplicateNode { list: which, node: n });
                }
                out.push(n);
            }
            Ok(out)
        };
        let def = FacilityDef {
            name,
            frontends: list(RoleList::Frontend, frontends)?,
            routers: list(RoleList::Router, routers)?,
            backends: list(RoleList::Backend, backends)?,
        };
        if def.routers.is_empty() {
            return Err(FacilityError::NoRouter);
        }
        if def.backends.is_empty() {
            return Err(FacilityError::NoBackend);
        }
        Ok(def)
    }

    /// The facility name (upper case).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn nodes(&self, list: RoleList) -> &[String] {
        match list {
            RoleList::Frontend => &self.frontends,
            RoleList::Router => &self.routers,
            RoleList::Backend => &self.backends,
        }
    }

    /// The roles `node` (a normalised node name) plays in this facility.
    pub fn roles_of(&self, node: &str) -> Roles {
        Roles {
            frontend: self.frontends.iter().any(|n| n == node),
            router: self.routers.iter().any(|n| n == node),
            backend: self.backends.iter().any(|n| n == node),
        }
    }

    /// Every node named in the definition, each once, in first-seen order.
    pub fn all_nodes(&self) -> Vec<&str> {
        let mut v: Vec<&str> = Vec::new();
        for n in self.frontends.iter().chain(&self.routers).chain(&self.backends) {
            if !v.contains(&n.as_str()) {
                v.push(n);
            }
        }
        v
    }

    /// The definition as one line of the definitions file.
    fn to_line(&self) -> String {
        let l = |v: &[String]| if v.is_empty() { "-".to_string() } else { v.join(",") };
        format!(
            "{} frontend={} router={} backend={}",
            self.name,
            l(&self.frontends),
            l(&self.routers),
            l(&self.backends)
        )
    }

    /// Parse one line of the definitions file.
    fn from_line(line: &str) -> Result<FacilityDef, String> {
        let mut words = line.split_whitespace();
        let name = words.next().ok_or("no facility name")?;
        let mut lists: [Option<Vec<String>>; 3] = [None, None, None];
        for w in words {
            let (key, value) = w.split_once('=').ok_or_else(|| format!("{w:?} is not KEY=NODES"))?;
            let at = match key {
                "frontend" => 0,
                "router" => 1,
                "backend" => 2,
                other => return Err(format!("unknown key {other:?}")),
            };
            if lists[at].is_some() {
                return Err(format!("{key} given twice"));
            }
            let nodes = if value == "-" { Vec::new() } else { value.split(',').map(str::to_string).collect() };
            lists[at] = Some(nodes);
        }
        let [fe, tr, be] = lists.map(Option::unwrap_or_default);
        FacilityDef::new(name, &fe, &tr, &be).map_err(|e| e.to_string())
    }
}

/// What a node knows of facilities: its own name and the definitions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FacilityTable {
    node: String,
    defs: BTreeMap<String, FacilityDef>,
}

impl FacilityTable {
    /// `node` must be a normalised node name ([`node_name`]).
    pub fn new(node: &str) -> FacilityTable {
        FacilityTable { node: node.to_string(), defs: BTreeMap::new() }
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The definitions, by name.
    pub fn defs(&self) -> impl Iterator<Item = &FacilityDef> {
        self.defs.values()
    }

    /// The definition of `facility` (upper case), if any.
    pub fn get(&self, facility: &str) -> Option<&FacilityDef> {
        self.defs.get(facility)
    }

    /// The roles this node plays in `facility`: every role when it is not
    /// defined (an implicit facility).
    pub fn roles(&self, facility: &str) -> Roles {
        self.defs.get(facility).map_or(Roles::ALL, |d| d.roles_of(&self.node))
    }

    /// Add (or replace) a definition, in memory only (tests, simulations;
    /// a node's definitions change through [`FacilityStore`]).
    pub fn insert(&mut self, def: FacilityDef) {
        self.defs.insert(def.name().to_string(), def);
    }

    /// This node's definitions as a link handshake declares them.
    pub fn claims(&self) -> Vec<crate::protocol::peer::FacilityClaim> {
        self.defs
            .values()
            .map(|d| crate::protocol::peer::FacilityClaim {
                name: d.name.clone(),
                frontends: d.frontends.clone(),
                routers: d.routers.clone(),
                backends: d.backends.clone(),
            })
            .collect()
    }

    /// The nodes this node needs a link with: in a facility both are in,
    /// one is a frontend and the other a router, or one a router and the
    /// other a backend. Sorted, each once.
    pub fn link_peers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for d in self.defs.values() {
            let me = d.roles_of(&self.node);
            for n in d.all_nodes() {
                if n == self.node {
                    continue;
                }
                let them = d.roles_of(n);
                let need = (me.frontend && them.router)
                    || (me.router && (them.frontend || them.backend))
                    || (me.backend && them.router);
                if need && !out.iter().any(|o| o == n) {
                    out.push(n.to_string());
                }
            }
        }
        out.sort();
        out
    }

    /// Check a peer's handshake: the facilities both nodes define alike
    /// and in which the peer plays a role, with its roles. A link that
    /// agrees on none is refused with an RTR-style reason: `NODENOTCFG`
    /// (the peer is in no facility defined here), `FACNOTDEC` (it declared
    /// facilities this node does not define), `ROLESMISMATCH` (the two
    /// definitions of a facility name different nodes in a role).
    pub fn agree(
        &self,
        peer: &str,
        claims: &[crate::protocol::peer::FacilityClaim],
    ) -> Result<std::collections::BTreeMap<String, Roles>, (&'static str, String)> {
        let mut agreed = std::collections::BTreeMap::new();
        let mut mismatch = Vec::new();
        let mut undeclared = Vec::new();
        let set = |v: &[String]| {
            let mut v: Vec<String> = v.iter().map(|n| n.to_ascii_lowercase()).collect();
            v.sort();
            v
        };
        for c in claims {
            let name = c.name.to_ascii_uppercase();
            let Some(def) = self.defs.get(&name) else {
                undeclared.push(name);
                continue;
            };
            let theirs = [set(&c.frontends), set(&c.routers), set(&c.backends)];
            let ours = [set(&def.frontends), set(&def.routers), set(&def.backends)];
            if theirs != ours {
                let which = RoleList::ALL
                    .iter()
                    .zip(theirs.iter().zip(ours.iter()))
                    .filter(|(_, (t, o))| t != o)
                    .map(|(l, (t, o))| format!("{} {} there, {} here", l.name(), t.join(","), o.join(",")))
                    .collect::<Vec<_>>()
                    .join("; ");
                mismatch.push(format!("{name} ({which})"));
                continue;
            }
            let roles = def.roles_of(peer);
            if roles.any() {
                agreed.insert(name, roles);
            }
        }
        if !agreed.is_empty() {
            return Ok(agreed);
        }
        if !mismatch.is_empty() {
            return Err(("ROLESMISMATCH", format!("facility definitions differ: {}", mismatch.join("; "))));
        }
        if !self.defs.values().any(|d| d.roles_of(peer).any()) {
            return Err(("NODENOTCFG", format!("node {peer} is in no facility defined on node {}", self.node)));
        }
        if !undeclared.is_empty() {
            return Err((
                "FACNOTDEC",
                format!("facilities {} are not declared on node {}", undeclared.join(", "), self.node),
            ));
        }
        Err(("FACNOTDEC", format!("node {peer} declared none of the facilities it shares with node {}", self.node)))
    }

    /// For a `ROLESMISMATCH` refusal sent to the peer: the facilities it
    /// claimed whose role lists differ here, each with the names of the
    /// lists that differ (never their nodes), and only facilities in whose
    /// definition here `peer` has a role: a node that is not configured
    /// learns nothing of this node's definitions (issue 17).
    pub fn mismatch_for_peer(&self, peer: &str, claims: &[crate::protocol::peer::FacilityClaim]) -> Vec<String> {
        let set = |v: &[String]| {
            let mut v: Vec<String> = v.iter().map(|n| n.to_ascii_lowercase()).collect();
            v.sort();
            v
        };
        let mut out = Vec::new();
        for c in claims {
            let Some(def) = self.defs.get(&c.name.to_ascii_uppercase()) else { continue };
            if !def.roles_of(peer).any() {
                continue;
            }
            let theirs = [set(&c.frontends), set(&c.routers), set(&c.backends)];
            let ours = [set(&def.frontends), set(&def.routers), set(&def.backends)];
            let lists: Vec<&str> = RoleList::ALL
                .iter()
                .zip(theirs.iter().zip(ours.iter()))
                .filter(|(_, (t, o))| t != o)
                .map(|(l, _)| l.name())
                .collect();
            if !lists.is_empty() {
                out.push(format!("{} ({} list)", def.name(), lists.join(", ")));
            }
        }
        out
    }

    /// Why a channel of `role` may not open on `facility` here, if it may not.
    pub fn refuse_open(&self, role: Role, facility: &str) -> Option<Status> {
        let roles = self.roles(facility);
        match role {
            Role::Client if !roles.frontend => Some(Status::Notfrontend),
            Role::Server if !roles.backend => Some(Status::Notbackend),
            _ => None,
        }
    }
}

/// The node's facility definitions and where they are kept.
#[derive(Clone, Debug)]
pub struct FacilityStore {
    /// `None`: kept in memory only (the embedded node).
    path: Option<PathBuf>,
    table: FacilityTable,
}

impl FacilityStore {
    /// Definitions kept in memory only.
    pub fn in_memory(node: &str) -> FacilityStore {
        FacilityStore { path: None, table: FacilityTable::new(node) }
    }

    /// The definitions in `path` (none if the file does not exist yet) for
    /// node `node` (a normalised node name).
    pub fn open(path: &Path, node: &str) -> Result<FacilityStore, FacilityError> {
        let mut table = FacilityTable::new(node);
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(FacilityError::Io(format!("{}: {e}", path.display()))),
        };
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: String| FacilityError::BadFile { path: path.display().to_string(), line: i + 1, why };
            let def = FacilityDef::from_line(line).map_err(bad)?;
            if table.defs.contains_key(def.name()) {
                return Err(bad(format!("facility {} defined twice", def.name())));
            }
            table.defs.insert(def.name().to_string(), def);
        }
        Ok(FacilityStore { path: Some(path.to_path_buf()), table })
    }

    pub fn table(&self) -> &FacilityTable {
        &self.table
    }

    /// Add a definition and save; nothing changes when either fails.
    pub fn create(&mut self, def: FacilityDef) -> Result<(), FacilityError> {
        if self.table.defs.contains_key(def.name()) {
            return Err(FacilityError::Exists(def.name().to_string()));
        }
        let mut next = self.table.clone();
        next.defs.insert(def.name().to_string(), def);
        self.save(&next)?;
        self.table = next;
        Ok(())
    }

    /// Remove a definition (any case) and save; nothing changes when either fails.
    pub fn delete(&mut self, name: &str) -> Result<FacilityDef, FacilityError> {
        let name = facility_name(name)?;
        let mut next = self.table.clone();
        let def = next.defs.remove(&name).ok_or(FacilityError::NotFound(name))?;
        self.save(&next)?;
        self.table = next;
        Ok(def)
    }

    fn save(&self, table: &FacilityTable) -> Result<(), FacilityError> {
        let Some(path) = &self.path else { return Ok(()) };
        let io = |what: &str, e: std::io::Error| FacilityError::Io(format!("{what} {}: {e}", path.display()));
        let mut text = String::from(
            "# rtr facility definitions of this node, written by `rtr create facility` and\n\
             # `rtr delete facility`: NAME frontend=NODES router=NODES backend=NODES\n",
        );
        for d in table.defs.values() {
            text.push_str(&d.to_line());
            text.push('\n');
        }
        let tmp = path.with_extension("conf.tmp");
        // Owner only (the node's configuration), whatever the umask.
        let mut f = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)
        }
        .map_err(|e| io("create", e))?;
        f.write_all(text.as_bytes()).map_err(|e| io("write", e))?;
        f.sync_all().map_err(|e| io("sync", e))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| io("rename to", e))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io("sync the directory of", e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn names_are_checked_and_normalised() {
        let d = FacilityDef::new("bank", &v(&["Alpha"]), &v(&["alpha", "BETA"]), &v(&["gamma.example.com"])).unwrap();
        assert_eq!(d.name(), "BANK");
        assert_eq!(d.nodes(RoleList::Frontend), ["alpha"]);
        assert_eq!(d.nodes(RoleList::Router), ["alpha", "beta"]);
        assert_eq!(d.all_nodes(), ["alpha", "beta", "gamma.example.com"]);
        assert_eq!(d.roles_of("alpha"), Roles { frontend: true, router: true, backend: false });
        assert_eq!(d.roles_of("delta"), Roles::default());
        for bad in ["", "1BANK", "_X", "a b", &"X".repeat(32)] {
            let e = FacilityDef::new(bad, &[], &v(&["a"]), &v(&["a"])).unwrap_err();
            assert_eq!(e.code(), "INVFACNAM", "{bad:?}");
        }
        assert!(FacilityDef::new(&"X".repeat(31), &[], &v(&["a"]), &v(&["a"])).is_ok());
        let e = FacilityDef::new("F", &v(&["-x"]), &v(&["a"]), &v(&["a"])).unwrap_err();
        assert_eq!(e.code(), "INVNODNAM");
        assert_eq!(e.to_string(), "invalid node name \"-x\" in the frontend list: must start with a letter or a digit");
    }

    #[test]
    fn duplicate_nodes_and_missing_roles_are_refused() {
        let e = FacilityDef::new("F", &[], &v(&["a"]), &v(&["b", "B"])).unwrap_err();
        assert_eq!(e, FacilityError::DuplicateNode { list: RoleList::Backend, node: "b".into() });
        assert_eq!(e.code(), "DUPNODNAM");
        assert_eq!(e.to_string(), "duplicate node name b in the backend list");
        // The same node in two lists is fine (all roles on one node).
        assert!(FacilityDef::new("F", &v(&["a"]), &v(&["a"]), &v(&["a"])).is_ok());
        assert_eq!(FacilityDef::new("F", &v(&["a"]), &[], &v(&["a"])).unwrap_err().code(), "NOROUTER");
        assert_eq!(FacilityDef::new("F", &v(&["a"]), &v(&["a"]), &[]).unwrap_err().code(), "NOBACKEND");
    }

    #[test]
    fn undefined_facilities_are_implicit_with_every_role() {
        let mut s = FacilityStore::in_memory("me");
        assert_eq!(s.table().roles("ANY"), Roles::ALL);
        assert_eq!(s.table().refuse_open(Role::Client, "ANY"), None);
        s.create(FacilityDef::new("FE", &v(&["other"]), &v(&["me"]), &v(&["other"])).unwrap()).unwrap();
        assert_eq!(s.table().refuse_open(Role::Client, "FE"), Some(Status::Notfrontend));
        assert_eq!(s.table().refuse_open(Role::Server, "FE"), Some(Status::Notbackend));
        s.create(FacilityDef::new("BE", &v(&["me"]), &v(&["x"]), &v(&["me"])).unwrap()).unwrap();
        assert_eq!(s.table().refuse_open(Role::Client, "BE"), None);
        assert_eq!(s.table().refuse_open(Role::Server, "BE"), None);
    }

    #[test]
    fn the_file_keeps_definitions_and_refuses_a_second_create() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("facilities.conf");
        let mut s = FacilityStore::open(&path, "me").unwrap();
        assert_eq!(s.table().defs().count(), 0);
        s.create(FacilityDef::new("bank", &v(&["b", "a"]), &v(&["a"]), &v(&["c"])).unwrap()).unwrap();
        s.create(FacilityDef::new("solo", &[], &v(&["me"]), &v(&["me"])).unwrap()).unwrap();
        let e = s.create(FacilityDef::new("BANK", &[], &v(&["a"]), &v(&["a"])).unwrap()).unwrap_err();
        assert_eq!(
            (e.code(), e.to_string().as_str()),
            ("FACEXISTS", "facility BANK already exists (delete it first to change it)")
        );
        let again = FacilityStore::open(&path, "me").unwrap();
        assert_eq!(again.table(), s.table());
        assert_eq!(again.table().get("BANK").unwrap().nodes(RoleList::Frontend), ["b", "a"]);
        s.delete("Bank").unwrap();
        assert_eq!(s.delete("bank").unwrap_err().code(), "NOSUCHFAC");
        let again = FacilityStore::open(&path, "me").unwrap();
        assert_eq!(again.table().defs().map(FacilityDef::name).collect::<Vec<_>>(), ["SOLO"]);
        assert!(!dir.path().join("facilities.conf.tmp").exists());
    }

    #[test]
    fn a_damaged_file_is_refused_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("facilities.conf");
        for (text, why) in [
            ("# c\nBANK frontend=a router=a\n", "a facility needs at least one backend"),
            ("BANK frontend=a router=a backend=a colour=red\n", "unknown key \"colour\""),
            ("BANK router=a backend=a\nbank router=b backend=b\n", "facility BANK defined twice"),
            ("BANK router=a,a backend=a\n", "duplicate node name a in the router list"),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = FacilityStore::open(&path, "me").unwrap_err();
            assert_eq!(e.code(), "BADFACFILE");
            assert!(e.to_string().contains(why), "{e}");
        }
        std::fs::write(&path, "\n# only comments\n\nX router=a backend=-\n").unwrap();
        assert!(FacilityStore::open(&path, "me").unwrap_err().to_string().contains("line 4"));
    }

    #[test]
    fn roles_print_like_rtr_role_names() {
        assert_eq!(Roles::ALL.to_string(), "FE,TR,BE");
        assert_eq!(Roles { router: true, ..Roles::default() }.to_string(), "TR");
        assert_eq!(Roles::default().to_string(), "-");
        assert!(!host_name().is_empty());
    }
}
