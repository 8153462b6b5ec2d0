//! `rtr start` / `rtr stop`: the node daemon (RTR's ACP) on this machine.
//!
//! A node directory holds the node's journal (`journal/`), the Unix socket
//! applications connect to (`rtr.sock`), its process id (`rtr.pid`) and its
//! log (`rtr.log`). Applications reach the node by setting
//! `RTR_NODE_SOCKET` to the socket's path; without it they run the embedded
//! node as before.

use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rtr_core::embedded::EmbeddedNode;
use rtr_core::transport::unix;
use rtr_core::EmbeddedConfig;

#[derive(clap::Args)]
pub struct StartArgs {
    /// The node's directory (journal, socket, pid file, log).
    #[arg(long, default_value = "rtr-node")]
    dir: PathBuf,
    /// The Unix socket applications connect to (default: DIR/rtr.sock).
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Stay in the foreground (log to standard error) instead of detaching.
    #[arg(long)]
    foreground: bool,
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
    std::fs::create_dir_all(&a.dir).map_err(|e| format!("{}: {e}", a.dir.display()))?;
    let socket = socket_path(&a.dir, &a.socket);
    if UnixStream::connect(&socket).is_ok() {
        return Err(format!("a node is already running on {}", socket.display()));
    }
    if a.foreground {
        return run_node(&a.dir, &socket);
    }
    // Detach: run this same program in the foreground in a new session, its
    // output in the node's log, and wait until it accepts connections.
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(a.dir.join("rtr.log"))
        .map_err(|e| format!("{}: {e}", a.dir.join("rtr.log").display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.arg("start").arg("--foreground").arg("--dir").arg(&a.dir).arg("--socket").arg(&socket);
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
    let mut child = cmd.spawn().map_err(|e| format!("cannot start the node: {e}"))?;
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        if UnixStream::connect(&socket).is_ok() {
            println!("node started (pid {}), socket {}", child.id(), socket.display());
            println!("applications use it with: export RTR_NODE_SOCKET={}", socket.display());
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the node exited at start ({status}); see {}", a.dir.join("rtr.log").display()));
        }
        if Instant::now() > until {
            return Err(format!("the node did not open {} within 15 s", socket.display()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run_node(dir: &Path, socket: &Path) -> Result<(), String> {
    let node = EmbeddedNode::start_with(EmbeddedConfig::journaled(dir.join("journal"))).map_err(|e| e.to_string())?;
    // A socket file left by a node that died is stale (nobody answered above).
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket).map_err(|e| format!("{}: {e}", socket.display()))?;
    std::fs::write(pid_path(dir), format!("{}\n", std::process::id())).map_err(|e| e.to_string())?;
    eprintln!(
        "rtr node: ready on {} (pid {}, journal {}, {} committed transactions to replay)",
        socket.display(),
        std::process::id(),
        dir.join("journal").display(),
        node.recovered()
    );
    unix::serve(listener, node);
    Err("the listener failed".into())
}

pub fn stop(a: StopArgs) -> Result<(), String> {
    let pidfile = pid_path(&a.dir);
    let text = std::fs::read_to_string(&pidfile)
        .map_err(|e| format!("no node running from {} ({}: {e})", a.dir.display(), pidfile.display()))?;
    let pid: i32 = text.trim().parse().map_err(|_| format!("{} does not hold a pid", pidfile.display()))?;
    // SAFETY: kill with a pid read from our own pid file; no memory involved.
    if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
        let _ = std::fs::remove_file(&pidfile);
        return Err(format!("node process {pid} is not running (removed the stale pid file)"));
    }
    let until = Instant::now() + Duration::from_secs(10);
    // SAFETY: signal 0 only checks that the process exists.
    while unsafe { libc::kill(pid, 0) } == 0 {
        if Instant::now() > until {
            return Err(format!("node process {pid} did not stop within 10 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_file(&pidfile);
    let _ = std::fs::remove_file(a.dir.join("rtr.sock"));
    println!("node {pid} stopped");
    Ok(())
}
