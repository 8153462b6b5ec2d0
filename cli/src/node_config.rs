//! `DIR/rtr.toml`: a node's settings, kept between starts.
//!
//! `rtr start --dir DIR` reads the file (if there is one), lets each flag
//! given override its setting, checks the result, and writes it back; so a
//! later `rtr start --dir DIR` without flags starts the same node. `--peer`
//! flags replace the whole peer list (so a peer can be removed); every other
//! flag replaces its own setting. The file holds every setting, defaults
//! included, so it shows what the node runs with.
//!
//! Everything is checked here, before the node starts or detaches, so that
//! `rtr start` itself prints the error: a key the file does not know (with
//! its line), a bad name or address, a listening port in use.

use std::collections::BTreeMap;
use std::net::{TcpListener, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rtr_core::authority::AuthorityConfig;
use rtr_core::facility;
use rtr_core::node::RecoveryPolicy;
use rtr_core::transport::links::LinkConfig;
use serde::{Deserialize, Serialize};

/// The file's name in the node's directory.
pub const FILE: &str = "rtr.toml";
/// Its mode: for the node's owner only.
pub const MODE: u32 = 0o600;

pub const DEFAULT_INACTIVITY: u64 = 60;
pub const DEFAULT_AUTHORITY: &str = "auto";
pub const DEFAULT_RECOVERY: &str = "recognized";
pub const DEFAULT_RECOVERY_WAIT: u64 = 60;
pub const DEFAULT_LOG_LEVEL: &str = "info";

/// The settings as the file spells them (and as the flags give them: each
/// `None` is "not given"). Unknown keys are refused, not ignored: a
/// misspelt setting would otherwise silently not apply.
#[derive(Serialize, Deserialize, Default, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The node's name in facility definitions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// HOST:PORT to accept links on (absent: the node only dials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactivity: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal_root: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_wait: Option<u64>,
    /// The log filter (`--log-level`; RTR_LOG overrides it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// NAME = "HOST:PORT" for each other node (last: a TOML table).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub peers: BTreeMap<String, String>,
}

/// The settings a node runs with, checked.
#[derive(Clone, Debug)]
pub struct Settings {
    pub name: String,
    pub links: LinkConfig,
    pub journal_root: Option<PathBuf>,
    pub authority: AuthorityConfig,
    pub recovery: RecoveryPolicy,
    /// The log filter from the flags or the file (RTR_LOG, read by the
    /// daemon, comes before it).
    pub log_level: String,
    /// What is written back to the file.
    pub file: NodeConfig,
}

/// Read `DIR/rtr.toml`: an empty configuration when there is none.
pub fn read(dir: &Path) -> Result<NodeConfig, String> {
    let path = dir.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(NodeConfig::default()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The file's text as settings; an error names the line and column.
pub fn parse(text: &str) -> Result<NodeConfig, String> {
    toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())
}

/// Write the settings to `DIR/rtr.toml` (through a temporary file renamed
/// over it, so a reader never sees half a file).
pub fn write(dir: &Path, cfg: &NodeConfig) -> Result<(), String> {
    let path = dir.join(FILE);
    let body = toml::to_string(cfg).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let text = format!(
        "# The settings of the rtr node in this directory: rtr start reads them and\n\
                        # writes back those its flags change (README: Configure).\n{body}"
    );
    let tmp = dir.join(format!(".{FILE}.tmp"));
    // 0600 whatever the umask, and never through a link placed as the
    // temporary file (removed first, then made anew).
    let _ = std::fs::remove_file(&tmp);
    let made = {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(MODE)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .and_then(|mut f| f.write_all(text.as_bytes()))
    };
    made.map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

impl NodeConfig {
    /// These settings with every one `flags` gives replacing its own.
    pub fn merged(mut self, flags: NodeConfig) -> NodeConfig {
        macro_rules! over {
            ($($f:ident),*) => { $( if flags.$f.is_some() { self.$f = flags.$f; } )* };
        }
        over!(name, listen, inactivity, journal_root, authority, recovery, recovery_wait, log_level);
        if !flags.peers.is_empty() {
            self.peers = flags.peers;
        }
        self
    }

    /// Check every setting and fill in the defaults. `legacy_name` is a
    /// name kept by an older version (DIR/node.name), used if there is none.
    pub fn check(self, legacy_name: Option<String>) -> Result<Settings, String> {
        let name = match self.name.clone().or(legacy_name) {
            Some(n) => n,
            None => facility::host_name(),
        };
        let name = facility::node_name(&name).map_err(|why| format!("invalid node name {name:?}: {why}"))?;
        if let Some(l) = &self.listen {
            check_address(l).map_err(|why| format!("invalid listen address {l:?}: {why}"))?;
        }
        let mut links = LinkConfig { listen: self.listen.clone(), ..LinkConfig::default() };
        for (peer, addr) in &self.peers {
            let peer_name =
                facility::node_name(peer).map_err(|why| format!("peer {peer:?}: invalid node name: {why}"))?;
            if !addr.contains(':') {
                return Err(format!("peer {peer}={addr:?}: the address needs a port (HOST:PORT)"));
            }
            links.peers.insert(peer_name, addr.clone());
        }
        let inactivity = self.inactivity.unwrap_or(DEFAULT_INACTIVITY);
        if inactivity == 0 {
            return Err("inactivity must be at least 1 second".into());
        }
        links.inactivity = Duration::from_secs(inactivity);
        let authority_text = self.authority.clone().unwrap_or_else(|| DEFAULT_AUTHORITY.into());
        let authority = AuthorityConfig::parse(&authority_text).map_err(|e| format!("authority: {e}"))?;
        let recovery = self.recovery.clone().unwrap_or_else(|| DEFAULT_RECOVERY.into());
        if recovery != "recognized" && recovery != "unrecognized" {
            return Err(format!("recovery {recovery:?} is neither recognized nor unrecognized"));
        }
        let recovery_wait = self.recovery_wait.unwrap_or(DEFAULT_RECOVERY_WAIT);
        let log_level = self.log_level.clone().unwrap_or_else(|| DEFAULT_LOG_LEVEL.into());
        crate::logging::check_filter(&log_level).map_err(|e| format!("log level {log_level:?}: {e}"))?;
        let file = NodeConfig {
            name: Some(name.clone()),
            listen: self.listen.clone(),
            inactivity: Some(inactivity),
            journal_root: self.journal_root.clone(),
            authority: Some(authority_text),
            recovery: Some(recovery.clone()),
            recovery_wait: Some(recovery_wait),
            log_level: Some(log_level.clone()),
            peers: self.peers.clone(),
        };
        Ok(Settings {
            name,
            links,
            journal_root: self.journal_root,
            authority,
            recovery: RecoveryPolicy {
                unrecognized: recovery == "unrecognized",
                wait: Duration::from_secs(recovery_wait),
            },
            log_level,
            file,
        })
    }
}

/// HOST:PORT that resolves.
fn check_address(addr: &str) -> Result<(), String> {
    let mut found = addr.to_socket_addrs().map_err(|e| e.to_string())?;
    found.next().map(drop).ok_or_else(|| "it resolves to no address".into())
}

/// Whether the node can listen on `addr` now: bound and let go at once
/// (the node binds it again a moment later; a port taken in between is
/// reported by the node).
pub fn check_listen(addr: &str) -> Result<(), String> {
    TcpListener::bind(addr).map(drop).map_err(|e| format!("cannot listen on {addr}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_through_the_file_text() {
        let mut cfg = NodeConfig {
            name: Some("alpha".into()),
            listen: Some("127.0.0.1:46000".into()),
            journal_root: Some("/srv/rtr".into()),
            ..NodeConfig::default()
        };
        cfg.peers.insert("beta".into(), "10.0.0.2:46000".into());
        let checked = cfg.check(None).unwrap();
        let text = toml::to_string(&checked.file).unwrap();
        assert_eq!(parse(&text).unwrap(), checked.file, "{text}");
        assert!(text.contains("[peers]\nbeta = \"10.0.0.2:46000\""), "{text}");
        assert_eq!(checked.file.inactivity, Some(DEFAULT_INACTIVITY));
    }

    #[test]
    fn flags_override_the_file_and_peers_replace_the_list() {
        let mut file = NodeConfig { name: Some("a".into()), listen: Some("h:1".into()), ..NodeConfig::default() };
        file.peers.insert("b".into(), "h:2".into());
        let mut flags = NodeConfig { listen: Some("h:3".into()), ..NodeConfig::default() };
        let kept = file.clone().merged(flags.clone());
        assert_eq!((kept.name.as_deref(), kept.listen.as_deref()), (Some("a"), Some("h:3")));
        assert_eq!(kept.peers, file.peers);
        flags.peers.insert("c".into(), "h:4".into());
        assert_eq!(file.merged(flags.clone()).peers, flags.peers);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_with_the_line() {
        let e = parse("name = \"a\"\nlisten = \"h:1\"\nlisen = \"h:2\"\n").unwrap_err();
        assert!(e.contains("line 3") && e.contains("unknown field `lisen`"), "{e}");
        let e = parse("inactivity = \"x\"\n").unwrap_err();
        assert!(e.contains("line 1"), "{e}");
        let bad = |cfg: NodeConfig| cfg.check(None).unwrap_err();
        assert!(bad(NodeConfig { name: Some("a b".into()), ..NodeConfig::default() }).contains("invalid node name"));
        let e = bad(NodeConfig { name: Some("a".into()), listen: Some("nowhere".into()), ..NodeConfig::default() });
        assert!(e.contains("invalid listen address"), "{e}");
        let e = bad(NodeConfig { name: Some("a".into()), inactivity: Some(0), ..NodeConfig::default() });
        assert!(e.contains("inactivity"), "{e}");
        let e = bad(NodeConfig { name: Some("a".into()), recovery: Some("maybe".into()), ..NodeConfig::default() });
        assert!(e.contains("recovery"), "{e}");
    }
}
