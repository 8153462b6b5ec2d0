//! `rtr start` / `rtr stop`: the node daemon (RTR's ACP) on this machine.
//!
//! A node directory holds the node's settings (`rtr.toml`, see
//! `node_config`), its journal (`journal/`), the Unix socket applications
//! connect to (`rtr.sock`), its process id (`rtr.pid`), its log (`rtr.log`,
//! see `logging`) and its facility definitions (`facilities.conf`).
//! Their modes are explicit whatever the umask, and `rtr.pid` and `rtr.log`
//! are never opened through a symlink (see `node_files`); `rtr stop`
//! signals only a process it recognises as this directory's node (see
//! `node_process`).
//!
//! `rtr start` checks the settings (file and flags), the listening port and
//! the socket before it makes anything or detaches, and prints the error
//! itself; a node that fails at start after detaching has its last word
//! (main's `rtr: ...` line in the log) printed by the command that started
//! it. A start that fails before the node is ready removes the directory if
//! it made it. Applications reach the node by setting
//! `RTR_NODE_SOCKET` to the socket's path; without it they run the embedded
//! node as before.
//!
//! SIGTERM and SIGINT stop the node as `rtr stop` does; SIGHUP opens its
//! log file again (see `signals`). In the foreground under a service
//! manager (`NOTIFY_SOCKET`) it reports READY=1 and STOPPING=1 (see
//! `sd_notify`; `packaging/rtr.service` is the systemd unit).
//!
//! A node that stops on its own (it lost its journal: a standby took it
//! over, or a write or sync failed) has already closed its links and
//! connections; the daemon then removes its pid file and socket, says why,
//! and exits with status 1, so that a supervisor restarts it (as a standby,
//! or it fails to lock a journal still held by the new owner).

use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rtr_core::facility::{self, FacilityStore};
use rtr_core::protocol::admin::{AdminReply, AdminRequest};
use rtr_core::runtime::EmbeddedNode;
use rtr_core::transport::unix;
use rtr_core::EmbeddedConfig;

use crate::{node_config, node_files, node_process};

#[derive(clap::Args)]
pub struct StartArgs {
    /// The node's directory (journal, socket, pid file, log).
    #[arg(long, default_value = "rtr-node")]
    dir: PathBuf,
    /// The Unix socket applications connect to (default: DIR/rtr.sock).
    /// Applications (and `rtr probe`) use the daemon when the environment
    /// variable RTR_NODE_SOCKET names this socket; without it they run an
    /// embedded node of their own.
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Stay in the foreground (log to standard error) instead of detaching.
    /// With NOTIFY_SOCKET set (a systemd service of Type=notify), the node
    /// sends READY=1 there once it accepts connections, and STOPPING=1 when
    /// it stops. SIGTERM and SIGINT stop it as `rtr stop` does.
    #[arg(long)]
    foreground: bool,
    /// Append the node's log to this file instead of standard error, and
    /// open it again on SIGHUP (log rotation). A detached node logs to
    /// DIR/rtr.log.
    #[arg(long, value_name = "FILE")]
    log_file: Option<PathBuf>,
    /// The log filter: error, warn, info (default) or debug, or env-filter
    /// syntax (info,rtr::node=debug). Without it: RTR_LOG, else the
    /// configuration file's log_level. Kept in DIR/rtr.toml.
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    /// This node's name in facility definitions (default: the name kept in
    /// DIR/rtr.toml, else the host name).
    ///
    /// Every setting below (and --log-level) is kept in DIR/rtr.toml: a flag
    /// given replaces the file's setting there, a flag not given takes it
    /// from the file.
    #[arg(long)]
    name: Option<String>,
    /// Accept links from other nodes on this address (HOST:PORT; port 46000
    /// is RTR's usual). Without it the node only dials.
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// Where to reach another node: NAME=HOST:PORT (repeat for each; the
    /// flags replace the file's whole list). A node not given here is
    /// reached at NAME:46000.
    #[arg(long = "peer", value_name = "NAME=HOST:PORT")]
    peers: Vec<String>,
    /// Close a link that hears nothing for this many seconds (the peers ping
    /// idle links three times per period) [default: 60].
    #[arg(long, value_name = "SECONDS")]
    inactivity: Option<u64>,
    /// A directory shared by the backends of a key range (a network or
    /// cluster file system): this node's journal is ROOT/NAME instead of
    /// DIR/journal, and a standby promoted in place of a lost node takes over
    /// ROOT/LOST-NAME.
    #[arg(long, value_name = "ROOT")]
    journal_root: Option<PathBuf>,
    /// Who grants the active role of each key range (docs/roles.md): auto
    /// (the shared journal root with --journal-root, else this node alone)
    /// or etcd:http://HOST:PORT[,http://HOST:PORT...] (backends that share
    /// no storage) [default: auto].
    #[arg(long, value_name = "AUTHORITY")]
    authority: Option<String>,
    /// When a standby's grant needs a lost node's journal it cannot take
    /// over: recognized (wait for it, trying again, then for an operator)
    /// or unrecognized (go active at once; the lost node hands its
    /// committed work over when it starts again) [default: recognized].
    #[arg(long, value_parser = ["recognized", "unrecognized"])]
    recovery: Option<String>,
    /// How long a recognized recovery tries before it waits for an operator
    /// [default: 60].
    #[arg(long, value_name = "SECONDS")]
    recovery_wait: Option<u64>,
    /// This node's site, for shadow servers (RTR_F_OPE_SHADOW,
    /// docs/shadow.md): shadow partitions of one key range on nodes of one
    /// site are an active partition and its standbys; on two sites, a
    /// primary and a secondary that both apply every transaction. Nodes of
    /// one site share a journal root or an etcd cluster [default: the
    /// node's own name, a site of its own].
    #[arg(long, value_name = "NAME")]
    site: Option<String>,
    /// Serve the node's metrics in Prometheus's text format on this address
    /// (HOST:PORT; scrape http://HOST:PORT/metrics). Without it (and
    /// without metrics_listen in DIR/rtr.toml) there is no endpoint.
    #[arg(long, value_name = "HOST:PORT")]
    metrics_listen: Option<String>,
    /// The node socket's owner: a user name or uid [default: the node's user].
    #[arg(long, value_name = "USER")]
    socket_owner: Option<String>,
    /// The node socket's group: a group name or gid [default: the node's
    /// group]. With mode 0660, its members' applications may connect.
    #[arg(long, value_name = "GROUP")]
    socket_group: Option<String>,
    /// The node socket's mode, in octal: who may connect at all
    /// (applications and management tools) [default: 0660].
    #[arg(long, value_name = "OCTAL")]
    socket_mode: Option<String>,
    /// Members of this group (name or gid) may make operator requests
    /// (stop the node, create or delete facilities, rtr set partition and
    /// transaction), as root and the node's own user may; anyone else who
    /// can connect may only run applications and views.
    #[arg(long, value_name = "GROUP")]
    operator_group: Option<String>,
    /// Close a new connection (node socket or link) that has not said
    /// hello within this many seconds [default: 10].
    #[arg(long, value_name = "SECONDS")]
    hello_timeout: Option<u64>,
    /// Connections to the node socket at most at once; one more is
    /// refused with RTR_STS_NODEUNAVAIL [default: 1024].
    #[arg(long, value_name = "N")]
    max_connections: Option<u64>,
    /// Channels at most open on one application connection; one more is
    /// closed with RTR_STS_TOOMANYCHN [default: 256].
    #[arg(long, value_name = "N")]
    max_channels: Option<u64>,
    /// The cluster's CA certificate (PEM; `rtr cert ca` makes it): a peer's
    /// certificate must chain to it. With --tls-cert and --tls-key, every
    /// link is mutual TLS (README: Security).
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// This node's certificate (PEM; `rtr cert node NAME` makes it): its
    /// node name as a DNS name, signed by the CA.
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// This node's private key (PEM).
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Without TLS files, run links in plain TCP: anyone who can reach the
    /// listen port can pose as a node (loud in the log and in `rtr show
    /// link`). Without TLS and without this, a node with links refuses to
    /// start. `--insecure-links false` takes it back.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    insecure_links: Option<bool>,
}

#[derive(clap::Args)]
pub struct StopArgs {
    /// The node's directory.
    #[arg(long, default_value = "rtr-node")]
    dir: PathBuf,
}

fn socket_path(dir: &Path, socket: &Option<PathBuf>) -> PathBuf {
    socket.clone().unwrap_or_else(|| dir.join("rtr.sock"))
}

fn pid_path(dir: &Path) -> PathBuf {
    dir.join("rtr.pid")
}

pub fn start(a: StartArgs) -> Result<(), String> {
    // Everything is checked before anything is made: a start that fails
    // here leaves the directory as it was (or absent).
    let settings = settings(&a)?;
    // Before anything is made (files, the detached node): see node_files.
    node_files::restrict_umask();
    node_files::refuse_symlink(&pid_path(&a.dir), "the pid file")?;
    let log_level = crate::logging::choose(a.log_level.as_deref(), &settings.log_level)?;
    let socket = socket_path(&a.dir, &a.socket);
    if UnixStream::connect(&socket).is_ok() {
        return Err(format!("a node is already running on {}", socket.display()));
    }
    if let Some(l) = &settings.links.listen {
        node_config::check_listen(l)?;
    }
    if let Some(l) = &settings.metrics_listen {
        node_config::check_listen(l).map_err(|e| format!("metrics endpoint: {e}"))?;
    }
    let made = !a.dir.exists();
    let result = start_checked(&a, settings, &log_level, &socket);
    if let Err(StartError::Early(_)) = &result {
        if made {
            // Half made by this start: gone again.
            let _ = std::fs::remove_dir_all(&a.dir);
        }
    }
    result.map_err(StartError::text)
}

/// Why a start failed: before the node was ready (nothing of it is worth
/// keeping) or after (it ran).
enum StartError {
    Early(String),
    Late(String),
}

impl StartError {
    fn text(self) -> String {
        match self {
            StartError::Early(t) | StartError::Late(t) => t,
        }
    }
}

/// The node's settings: DIR/rtr.toml with the flags given over it, checked.
fn settings(a: &StartArgs) -> Result<node_config::Settings, String> {
    let mut flags = node_config::NodeConfig {
        name: a.name.clone(),
        listen: a.listen.clone(),
        inactivity: a.inactivity,
        journal_root: a.journal_root.clone(),
        authority: a.authority.clone(),
        recovery: a.recovery.clone(),
        recovery_wait: a.recovery_wait,
        site: a.site.clone(),
        log_level: a.log_level.clone(),
        metrics_listen: a.metrics_listen.clone(),
        socket_owner: a.socket_owner.clone(),
        socket_group: a.socket_group.clone(),
        socket_mode: a.socket_mode.clone(),
        operator_group: a.operator_group.clone(),
        hello_timeout: a.hello_timeout,
        max_connections: a.max_connections,
        max_channels: a.max_channels,
        insecure_links: a.insecure_links,
        tls: node_config::TlsFiles { ca: a.tls_ca.clone(), cert: a.tls_cert.clone(), key: a.tls_key.clone() },
        ..Default::default()
    };
    for p in &a.peers {
        let (name, addr) = p.split_once('=').ok_or_else(|| format!("--peer {p:?} is not NAME=HOST:PORT"))?;
        flags.peers.insert(name.to_string(), addr.to_string());
    }
    let kept = node_config::read(&a.dir)?;
    // The name an older version kept in DIR/node.name, if the file has none.
    let legacy =
        std::fs::read_to_string(a.dir.join("node.name")).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    kept.merged(flags).check(legacy)
}

fn start_checked(
    a: &StartArgs,
    settings: node_config::Settings,
    log_level: &str,
    socket: &Path,
) -> Result<(), StartError> {
    let early = StartError::Early;
    node_files::make_dir(&a.dir).map_err(early)?;
    node_config::write(&a.dir, &settings.file).map_err(early)?;
    if a.foreground {
        if let Some(log) = &a.log_file {
            crate::signals::reopen_log(log).map_err(|e| early(format!("{}: {e}", log.display())))?;
        }
        crate::logging::init(log_level).map_err(early)?;
        let service = Service { log_file: a.log_file.clone() };
        return run_node(&a.dir, socket, settings, service);
    }
    // Detach: run this same program in the foreground in a new session, its
    // output in the node's log, and wait until it accepts connections. It
    // reads the settings just written.
    let exe = std::env::current_exe().map_err(|e| early(e.to_string()))?;
    let log_path = a.log_file.clone().unwrap_or_else(|| a.dir.join("rtr.log"));
    let log = node_files::open_log(&log_path).map_err(|e| early(format!("{}: {e}", log_path.display())))?;
    let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
    let log2 = log.try_clone().map_err(|e| early(e.to_string()))?;
    let mut cmd = Command::new(exe);
    cmd.arg("start").arg("--foreground").arg("--dir").arg(&a.dir).arg("--socket").arg(socket);
    cmd.arg("--log-file").arg(&log_path);
    // The filter chosen here (flag, RTR_LOG or file), as RTR_LOG rather
    // than a flag: the node writes its flags back to the file, and RTR_LOG
    // must not end up there.
    cmd.env(crate::logging::ENV, log_level);
    // The detaching command is the one a service manager would watch, not
    // the node it leaves behind.
    cmd.env_remove("NOTIFY_SOCKET");
    cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: setsid is async-signal-safe and touches no memory of this
        // process; it only detaches the child from the terminal's session.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().map_err(|e| early(format!("cannot start the node: {e}")))?;
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        if UnixStream::connect(socket).is_ok() {
            outln!("node started (pid {}), socket {}", child.id(), socket.display());
            outln!("applications use it with: export RTR_NODE_SOCKET={}", socket.display());
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            // The node's own last word (`rtr: ...`, see main) is the reason.
            let why = last_error(&log_path, log_start)
                .unwrap_or_else(|| format!("the node exited at start ({status}); see {}", log_path.display()));
            return Err(early(why));
        }
        if Instant::now() > until {
            return Err(StartError::Late(format!("the node did not open {} within 15 s", socket.display())));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The error a node that exited at start wrote last to its log (after
/// byte `from`, where this start began): the line main writes, `rtr: ...`.
fn last_error(log: &Path, from: u64) -> Option<String> {
    let text = std::fs::read(log).ok()?;
    let text = String::from_utf8_lossy(text.get(from as usize..)?).into_owned();
    text.lines().rev().find_map(|l| l.strip_prefix("rtr: ")).map(str::to_string)
}

fn run_node(dir: &Path, socket: &Path, settings: node_config::Settings, service: Service) -> Result<(), StartError> {
    let early = StartError::Early;
    let node_config::Settings { name, links, journal_root, authority, recovery, metrics_listen, local, site, .. } =
        settings;
    // Before any thread starts, so that none of them takes these signals
    // with their default action (an immediate exit).
    let signals = crate::signals::block().map_err(|e| early(format!("cannot block signals: {e}")))?;
    let store = FacilityStore::open(&dir.join("facilities.conf"), &name).map_err(|e| early(e.to_string()))?;
    // Definitions saved earlier may call for links this start may not
    // open (no TLS, no --insecure-links): said now, before anything runs.
    links.check_security(store.table()).map_err(early)?;
    let facilities = store.table().defs().count();
    let journal = match &journal_root {
        Some(root) => {
            std::fs::create_dir_all(root).map_err(|e| early(format!("{}: {e}", root.display())))?;
            root.join(&name)
        }
        None => dir.join("journal"),
    };
    let mut cfg = EmbeddedConfig::journaled(&journal);
    cfg.node_id = Some(facility::node_id(&name));
    cfg.peer_journals = journal_root;
    cfg.authority = authority;
    cfg.recovery = recovery;
    cfg.site = site;
    cfg.max_channels_per_conn = Some(local.max_channels);
    // Known before the journal is recovered (`EmbeddedConfig::facilities`).
    cfg.facilities = Some(store.table().clone());
    let node = EmbeddedNode::start_daemon(cfg).map_err(|e| early(e.to_string()))?;
    // Before the listener exists, so every channel is checked against them.
    node.set_facility_store(store);
    let listen = links.listen.clone();
    if links.tls.is_none() && links.insecure && (listen.is_some() || !links.peers.is_empty() || facilities > 0) {
        tracing::warn!(
            target: "rtr::daemon",
            "INSECURE LINKS (--insecure-links): node links are plain TCP, neither encrypted nor authenticated; \
             anyone who can reach {} can pose as a node of the cluster (README: Security)",
            listen.as_deref().unwrap_or("this node's peers")
        );
    }
    let links = node.start_links(&name, links).map_err(|e| early(format!("cannot accept links: {e}")))?;
    if let (Some(l), Some(addr)) = (listen, links.local_addr()) {
        tracing::info!(target: "rtr::daemon", "{name} accepts links on {l} ({addr})");
    }
    if let Some(addr) = &metrics_listen {
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| early(format!("metrics endpoint: cannot listen on {addr}: {e}")))?;
        let bound = listener.local_addr().map_or_else(|_| addr.clone(), |a| a.to_string());
        crate::metrics_http::spawn(listener, node.clone())
            .map_err(|e| early(format!("cannot start the metrics endpoint's thread: {e}")))?;
        tracing::info!(target: "rtr::daemon", "{name} serves its metrics on http://{bound}/metrics");
    }
    watch_node(node.clone(), dir.to_path_buf(), socket.to_path_buf())
        .map_err(|e| early(format!("cannot start the node's watcher thread: {e}")))?;
    // A signal that came before this point waited (blocked) and is taken now.
    signals
        .spawn(on_signal(node.clone(), name.clone(), socket.to_path_buf(), service.log_file))
        .map_err(|e| early(format!("cannot start the node's signal thread: {e}")))?;
    // A socket file left by a node that died is stale (nobody answered above).
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket).map_err(|e| early(format!("{}: {e}", socket.display())))?;
    node_files::socket_access(socket, local.socket_owner, local.socket_group, local.socket_mode).map_err(early)?;
    node_files::write_pid(&pid_path(dir)).map_err(early)?;
    tracing::info!(
        target: "rtr::daemon",
        "{name} ready on {} (pid {}, journal {}, {} committed transactions to replay, \
         facilities defined: {facilities})",
        socket.display(),
        std::process::id(),
        journal.display(),
        node.recovered()
    );
    // Listening (links and socket) with its journal open: ready.
    notify("READY=1");
    // (A node that already stopped, before the socket existed to be woken
    // through, is not served at all.)
    *LISTENER.lock().unwrap_or_else(|e| e.into_inner()) = listener.try_clone().ok();
    if !node.is_stopping() {
        unix::serve_with(listener, node.clone(), local.serve);
    }
    LISTENER.lock().unwrap_or_else(|e| e.into_inner()).take();
    if !node.is_stopping() {
        return Err(StartError::Late("the listener failed".into()));
    }
    notify("STOPPING=1");
    let failure = node.failure();
    if failure.is_some() {
        // Its journals are released before the process goes (bounded: a
        // journal that is still ours was flushed; a lost one needs nothing).
        node.wait_stopped(EXIT_WAIT);
    }
    remove_files(dir, socket);
    match failure {
        Some(why) => Err(StartError::Late(format!("node {name} stopped: {why}"))),
        None => {
            tracing::info!(target: "rtr::daemon", "{name} stopped");
            Ok(())
        }
    }
}

/// How the node runs as a service: where its log goes (reopened on SIGHUP).
struct Service {
    log_file: Option<PathBuf>,
}

/// Tell a service manager (`NOTIFY_SOCKET`) how the node is; a manager
/// that cannot be told is logged, never fatal.
fn notify(state: &str) {
    if let Err(e) = crate::sd_notify::notify(state) {
        tracing::warn!(target: "rtr::daemon", "cannot notify the service manager of {state}: {e}");
    }
}

/// What the node does on each signal: SIGTERM and SIGINT stop it by the
/// path `rtr stop` takes (the node closes its links and connections and
/// makes its journal durable, then the accept loop is woken to return, and
/// the daemon removes its pid file and socket and exits 0); SIGHUP opens
/// the log file again.
fn on_signal(
    node: std::sync::Arc<EmbeddedNode>,
    name: String,
    socket: PathBuf,
    log_file: Option<PathBuf>,
) -> impl FnMut(libc::c_int) + Send + 'static {
    move |sig| {
        let signal = crate::signals::name(sig);
        if sig == libc::SIGHUP {
            match &log_file {
                Some(path) => match crate::signals::reopen_log(path) {
                    Ok(()) => {
                        tracing::info!(target: "rtr::daemon", "{name} received SIGHUP: reopened its log {}", path.display())
                    }
                    Err(e) => {
                        tracing::error!(target: "rtr::daemon", "{name} received SIGHUP: cannot reopen {}: {e}", path.display())
                    }
                },
                None => tracing::info!(
                    target: "rtr::daemon",
                    "{name} received SIGHUP: it logs to standard error; nothing to reopen"
                ),
            }
            return;
        }
        tracing::info!(target: "rtr::daemon", "{name} received {signal}: stopping as rtr stop does");
        let reply = node.admin(AdminRequest::Stop);
        // An operator action like `rtr stop` (whoever could signal the node).
        tracing::info!(target: "rtr::daemon", "audit: signal {signal}: Stop: {}", audit_result(&reply));
        match reply {
            AdminReply::Done { message } => {
                tracing::info!(target: "rtr::daemon", "{name} stopped on {signal}: {message}")
            }
            AdminReply::Failed(e) => {
                let code = e.code();
                tracing::error!(target: "rtr::daemon", "{name} on {signal}: the stop failed: %RTR-E-{code}, {e}")
            }
            other => tracing::error!(target: "rtr::daemon", "{name} on {signal}: unexpected answer to stop: {other:?}"),
        }
        // Wake the accept loop to see the stop (as `rtr stop`'s connection
        // does once answered); a stop before the socket exists is seen
        // before serving.
        wake_accept(&socket);
    }
}

/// A second handle on the node's listening socket while it serves, so that
/// a stop can wake the accept loop even when the socket's file is gone
/// (removed by hand: no connection can reach the listener then).
static LISTENER: std::sync::Mutex<Option<UnixListener>> = std::sync::Mutex::new(None);

/// Wake the accept loop: through the socket's path, and by shutting the
/// listener down (a blocked accept then fails and the loop sees the stop).
fn wake_accept(socket: &Path) {
    let _ = UnixStream::connect(socket);
    if let Some(l) = LISTENER.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        use std::os::fd::AsRawFd;
        // SAFETY: shutdown on a descriptor this handle owns; no memory involved.
        unsafe { libc::shutdown(l.as_raw_fd(), libc::SHUT_RDWR) };
    }
}

/// An answer as an audit line gives it (as `transport/unix.rs` does).
fn audit_result(reply: &AdminReply) -> String {
    match reply {
        AdminReply::Done { message } => format!("done: {message}"),
        AdminReply::Failed(e) => format!("failed: {}, {e}", e.code()),
        other => format!("{other:?}"),
    }
}

/// How long the daemon waits for a failed node to release its journals,
/// and then for its own main thread to exit, before it exits anyway.
const EXIT_WAIT: Duration = Duration::from_secs(10);

fn remove_files(dir: &Path, socket: &Path) {
    let _ = std::fs::remove_file(pid_path(dir));
    let _ = std::fs::remove_file(socket);
}

/// When the node thread ends on a failure, wake the accept loop (as `rtr
/// stop` does after its answer) so that the daemon exits, and make sure the
/// process exits (status 1) even if that loop cannot be woken. (A requested
/// stop is left to the stop's own connection, which wakes the loop only
/// once the stop is answered.)
fn watch_node(node: std::sync::Arc<EmbeddedNode>, dir: PathBuf, socket: PathBuf) -> std::io::Result<()> {
    let watch = move || {
        while !node.wait_stopped(Duration::from_secs(3600)) {}
        let Some(why) = node.failure() else { return };
        drop(node);
        wake_accept(&socket);
        std::thread::sleep(EXIT_WAIT * 2);
        remove_files(&dir, &socket);
        tracing::error!(target: "rtr::daemon", "the node stopped ({why}); exiting");
        std::process::exit(1);
    };
    std::thread::Builder::new().name("rtr-node-watch".into()).spawn(watch).map(drop)
}

/// Stop the node: ask it over its socket (it closes its connections and
/// flushes its journal, then exits); if nobody answers there, signal the
/// process named by the pid file, once it is known to be this directory's
/// node (`node_process`): a stale pid file naming an unrelated process is
/// reported and left alone.
pub fn stop(a: StopArgs) -> Result<(), String> {
    let socket = a.dir.join("rtr.sock");
    let pid = std::fs::read_to_string(pid_path(&a.dir)).ok().and_then(|t| t.trim().parse::<i32>().ok());
    if UnixStream::connect(&socket).is_ok() {
        // Only the node's own process is waited for: a pid file left by
        // another node's run may name anything by now. Checked before the
        // stop, while the node's process is surely there to be recognised.
        let pid = pid.filter(|p| node_process::check(*p, &a.dir).is_ok());
        let message = match crate::manage::ask(&socket, AdminRequest::Stop)? {
            AdminReply::Done { message } => message,
            AdminReply::Failed(e) => return Err(format!("%RTR-E-{}, {e}", e.code())),
            other => return Err(format!("unexpected answer to stop: {other:?}")),
        };
        if let Some(pid) = pid {
            wait_gone(pid)?;
        }
        let _ = std::fs::remove_file(pid_path(&a.dir));
        outln!("node {} stopped: {message}", pid.map_or("?".into(), |p| p.to_string()));
        return Ok(());
    }
    signal_stop(a)
}

/// Wait (bounded) for process `pid` to end.
fn wait_gone(pid: i32) -> Result<(), String> {
    let until = Instant::now() + Duration::from_secs(10);
    // SAFETY: signal 0 only checks that the process exists.
    while unsafe { libc::kill(pid, 0) } == 0 && !zombie(pid) {
        if Instant::now() > until {
            return Err(format!("node process {pid} did not exit within 10 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// An exited process that its parent has not reaped yet (Linux).
fn zombie(pid: i32) -> bool {
    // The state follows the command name, which is in parentheses.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

/// The fallback: SIGTERM to the process in the pid file, if it is this
/// directory's node. The pid file of a node that is gone is stale: removed
/// (and said so), its process never signalled.
fn signal_stop(a: StopArgs) -> Result<(), String> {
    let pidfile = pid_path(&a.dir);
    let text = std::fs::read_to_string(&pidfile)
        .map_err(|e| format!("no node running from {} ({}: {e})", a.dir.display(), pidfile.display()))?;
    let pid: i32 = text.trim().parse().map_err(|_| format!("{} does not hold a pid", pidfile.display()))?;
    if pid <= 0 {
        return Err(format!("{} holds {pid}, which is no process id", pidfile.display()));
    }
    if let Err(why) = node_process::check(pid, &a.dir) {
        // Left in place: the operator sees it and decides (a node whose
        // process cannot be inspected must not lose its pid file here).
        return Err(format!(
            "no node answers on {}, and {} is stale: {why}; not signalled",
            a.dir.join("rtr.sock").display(),
            pidfile.display()
        ));
    }
    // SAFETY: kill with a pid checked to be this directory's node; no memory involved.
    if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
        let _ = std::fs::remove_file(&pidfile);
        return Err(format!("node process {pid} is not running (removed the stale pid file)"));
    }
    wait_gone(pid).map_err(|_| format!("node process {pid} did not stop within 10 s"))?;
    let _ = std::fs::remove_file(&pidfile);
    let _ = std::fs::remove_file(a.dir.join("rtr.sock"));
    outln!("node {pid} stopped");
    Ok(())
}
