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
use rtr_core::transport::tls::TlsSetup;
use rtr_core::transport::unix::{Operators, ServeConfig, DEFAULT_HELLO_TIMEOUT, DEFAULT_MAX_CONNECTIONS};
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
    /// The node's site for shadow servers (absent: its own name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The log filter (`--log-level`; RTR_LOG overrides it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// HOST:PORT of the Prometheus endpoint (absent: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
    /// The node socket's owner (user name or uid; absent: the node's user).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket_owner: Option<String>,
    /// The node socket's group (group name or gid; absent: the node's group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket_group: Option<String>,
    /// The node socket's mode, in octal ("0660": owner and group connect).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket_mode: Option<String>,
    /// Members of this group (name or gid) are operators of the node, as
    /// root and the node's own user are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator_group: Option<String>,
    /// Seconds a new connection (socket or link) has to say hello.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hello_timeout: Option<u64>,
    /// Connections to the node socket at most at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u64>,
    /// Channels at most open on one application connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_channels: Option<u64>,
    /// Plain, unauthenticated links when no TLS is configured (issue 17:
    /// links are refused without either).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insecure_links: Option<bool>,
    /// Mutual TLS on links: `[tls]` with `ca`, `cert` and `key` (PEM paths).
    #[serde(default, skip_serializing_if = "TlsFiles::is_empty")]
    pub tls: TlsFiles,
    /// NAME = "HOST:PORT" for each other node (last: a TOML table).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub peers: BTreeMap<String, String>,
}

/// The `[tls]` table: the files of a node's link identity (`rtr cert`
/// makes them).
#[derive(Serialize, Deserialize, Default, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The cluster's CA certificate: every peer's certificate chains to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// This node's certificate (its node name as a DNS name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// This node's private key (keep it 0600).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
}

impl TlsFiles {
    fn is_empty(&self) -> bool {
        self.ca.is_none() && self.cert.is_none() && self.key.is_none()
    }
}

/// The settings a node runs with, checked.
#[derive(Clone, Debug)]
pub struct Settings {
    pub name: String,
    pub links: LinkConfig,
    pub journal_root: Option<PathBuf>,
    pub authority: AuthorityConfig,
    pub recovery: RecoveryPolicy,
    /// The node's site (docs/shadow.md); `None`: its own name.
    pub site: Option<String>,
    /// The log filter from the flags or the file (RTR_LOG, read by the
    /// daemon, comes before it).
    pub log_level: String,
    /// Where to serve the Prometheus endpoint, if anywhere.
    pub metrics_listen: Option<String>,
    /// Who may reach the node socket and do what there.
    pub local: Local,
    /// What is written back to the file.
    pub file: NodeConfig,
}

/// The node socket's access and bounds (README: Security).
#[derive(Clone, Debug)]
pub struct Local {
    pub socket_owner: Option<u32>,
    pub socket_group: Option<u32>,
    pub socket_mode: u32,
    /// Operators, the hello timeout and the connection bound.
    pub serve: ServeConfig,
    /// Channels at most per application connection.
    pub max_channels: usize,
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
        over!(
            metrics_listen,
            name,
            listen,
            inactivity,
            journal_root,
            authority,
            recovery,
            recovery_wait,
            site,
            log_level,
            socket_owner,
            socket_group,
            socket_mode,
            operator_group,
            hello_timeout,
            max_connections,
            max_channels
        );
        if !flags.peers.is_empty() {
            self.peers = flags.peers;
        }
        if flags.insecure_links.is_some() {
            self.insecure_links = flags.insecure_links;
        }
        macro_rules! over_tls {
            ($($f:ident),*) => { $( if flags.tls.$f.is_some() { self.tls.$f = flags.tls.$f; } )* };
        }
        over_tls!(ca, cert, key);
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
        if let Some(l) = &self.metrics_listen {
            check_address(l).map_err(|why| format!("invalid metrics address {l:?}: {why}"))?;
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
        // A site's name is part of the role authority's keys: a node name's rules.
        let site = match &self.site {
            Some(s) => Some(facility::node_name(s).map_err(|why| format!("invalid site {s:?}: {why}"))?),
            None => None,
        };
        let log_level = self.log_level.clone().unwrap_or_else(|| DEFAULT_LOG_LEVEL.into());
        crate::logging::check_filter(&log_level).map_err(|e| format!("log level {log_level:?}: {e}"))?;
        let local = self.local()?;
        links.hello_timeout = local.serve.hello_timeout;
        let tls = self.tls_files()?;
        if let Some((ca, cert, key)) = &tls {
            links.tls = Some(std::sync::Arc::new(TlsSetup::load(&name, ca, cert, key)?));
        }
        links.insecure = self.insecure_links.unwrap_or(false);
        if links.tls.is_none() && !links.insecure && (self.listen.is_some() || !self.peers.is_empty()) {
            return Err(format!("links (listen or peers) {}", rtr_core::transport::links::NEED_TLS));
        }
        let file = NodeConfig {
            name: Some(name.clone()),
            listen: self.listen.clone(),
            inactivity: Some(inactivity),
            journal_root: self.journal_root.clone(),
            authority: Some(authority_text),
            recovery: Some(recovery.clone()),
            recovery_wait: Some(recovery_wait),
            site: site.clone(),
            log_level: Some(log_level.clone()),
            metrics_listen: self.metrics_listen.clone(),
            socket_owner: self.socket_owner.clone(),
            socket_group: self.socket_group.clone(),
            socket_mode: Some(format!("{:04o}", local.socket_mode)),
            operator_group: self.operator_group.clone(),
            hello_timeout: Some(local.serve.hello_timeout.as_secs()),
            max_connections: Some(local.serve.max_connections as u64),
            max_channels: Some(local.max_channels as u64),
            insecure_links: self.insecure_links,
            tls: match tls {
                Some((ca, cert, key)) => TlsFiles { ca: Some(ca), cert: Some(cert), key: Some(key) },
                None => TlsFiles::default(),
            },
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
            site,
            log_level,
            metrics_listen: self.metrics_listen,
            local,
            file,
        })
    }

    /// The TLS files, all three or none, as absolute paths (the node may
    /// run from another directory; the file keeps them so).
    fn tls_files(&self) -> Result<Option<(PathBuf, PathBuf, PathBuf)>, String> {
        let t = &self.tls;
        match (&t.ca, &t.cert, &t.key) {
            (None, None, None) => Ok(None),
            (Some(ca), Some(cert), Some(key)) => {
                let abs = |p: &PathBuf| std::path::absolute(p).map_err(|e| format!("{}: {e}", p.display()));
                Ok(Some((abs(ca)?, abs(cert)?, abs(key)?)))
            }
            _ => Err("tls needs all of ca, cert and key (--tls-ca, --tls-cert, --tls-key)".into()),
        }
    }

    /// The socket's access and bounds, checked (names resolved).
    fn local(&self) -> Result<Local, String> {
        let socket_owner = self
            .socket_owner
            .as_deref()
            .map(crate::accounts::user)
            .transpose()
            .map_err(|e| format!("socket_owner: {e}"))?;
        let socket_group = self
            .socket_group
            .as_deref()
            .map(crate::accounts::group)
            .transpose()
            .map_err(|e| format!("socket_group: {e}"))?;
        let mode_text = self.socket_mode.clone().unwrap_or_else(|| format!("{:04o}", crate::node_files::SOCKET_MODE));
        let socket_mode = u32::from_str_radix(&mode_text, 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .ok_or_else(|| format!("socket_mode {mode_text:?} is not an octal mode (0660)"))?;
        if socket_mode & 0o600 != 0o600 {
            return Err(format!(
                "socket_mode {mode_text}: the node's own user must be able to connect (0600 at least)"
            ));
        }
        let group = self
            .operator_group
            .as_deref()
            .map(crate::accounts::group)
            .transpose()
            .map_err(|e| format!("operator_group: {e}"))?;
        let hello = self.hello_timeout.unwrap_or(DEFAULT_HELLO_TIMEOUT.as_secs());
        if hello == 0 {
            return Err("hello_timeout must be at least 1 second".into());
        }
        let max_connections = self.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS as u64);
        let max_channels = self.max_channels.unwrap_or(DEFAULT_MAX_CHANNELS as u64);
        if max_connections == 0 || max_channels == 0 {
            return Err("max_connections and max_channels must be at least 1".into());
        }
        Ok(Local {
            socket_owner,
            socket_group,
            socket_mode,
            serve: ServeConfig {
                operators: Operators { group, ..Operators::default() },
                hello_timeout: Duration::from_secs(hello),
                max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
            },
            max_channels: usize::try_from(max_channels).unwrap_or(usize::MAX),
        })
    }
}

/// The default of `max_channels`: what the library allows a process.
pub const DEFAULT_MAX_CHANNELS: usize = rtr_core::MAX_CHANNELS;

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
            insecure_links: Some(true),
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
    fn links_need_tls_or_insecure_links_and_tls_files_round_trip() {
        let mut cfg = NodeConfig { name: Some("alpha".into()), ..NodeConfig::default() };
        cfg.peers.insert("beta".into(), "10.0.0.2:46000".into());
        let e = cfg.clone().check(None).unwrap_err();
        assert!(e.contains("need TLS") && e.contains("--insecure-links"), "{e}");
        let plain = NodeConfig { insecure_links: Some(true), ..cfg.clone() }.check(None).unwrap();
        assert!(plain.links.tls.is_none());
        // A node without links needs neither.
        NodeConfig { name: Some("alpha".into()), ..NodeConfig::default() }.check(None).unwrap();

        let tmp = tempfile::tempdir().unwrap();
        let (ca, ca_key) = crate::cert::make_ca("t", 1).unwrap();
        let (cert, key) = crate::cert::make_node("alpha", &ca, &ca_key, 1).unwrap();
        for (f, t) in [("ca.pem", &ca), ("alpha.pem", &cert), ("alpha.key", &key)] {
            std::fs::write(tmp.path().join(f), t).unwrap();
        }
        let p = |f: &str| Some(tmp.path().join(f));
        let tls = TlsFiles { ca: p("ca.pem"), cert: p("alpha.pem"), key: p("alpha.key") };
        let checked = NodeConfig { tls: tls.clone(), ..cfg.clone() }.check(None).unwrap();
        assert!(checked.links.tls.is_some());
        let text = toml::to_string(&checked.file).unwrap();
        assert_eq!(parse(&text).unwrap(), checked.file, "{text}");
        assert!(text.contains("[tls]\nca = "), "{text}");
        // Half a set, or another node's certificate, is refused.
        let half = TlsFiles { key: None, ..tls.clone() };
        let e = NodeConfig { tls: half, ..cfg.clone() }.check(None).unwrap_err();
        assert!(e.contains("all of ca, cert and key"), "{e}");
        let e = NodeConfig { name: Some("gamma".into()), tls, ..cfg }.check(None).unwrap_err();
        assert!(e.contains("does not name node gamma"), "{e}");
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
        let e = bad(NodeConfig { name: Some("a".into()), site: Some("no/slash".into()), ..NodeConfig::default() });
        assert!(e.contains("invalid site"), "{e}");
    }

    #[test]
    fn a_site_is_kept_in_the_file_and_absent_by_default() {
        let s = NodeConfig { name: Some("a".into()), site: Some("east".into()), ..NodeConfig::default() };
        let checked = s.check(None).unwrap();
        assert_eq!(checked.site.as_deref(), Some("east"));
        assert_eq!(checked.file.site.as_deref(), Some("east"));
        let plain = NodeConfig { name: Some("a".into()), ..NodeConfig::default() }.check(None).unwrap();
        assert_eq!(plain.site, None, "the node's own name, a site of its own");
        assert_eq!(plain.file.site, None);
    }
}
