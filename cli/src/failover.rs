//! `rtr failover-bench`: how long a standby backend takes to replace an
//! active backend node killed with SIGKILL, on this host.
//!
//! Each run starts four node daemons as processes of their own, linked over
//! TCP on loopback (frontend `fe`, router `tr`, backends `be1` and `be2`
//! sharing one journal directory), defines facility CRASH on them, opens the
//! crash workload's servers on be1 (active) and on be2 (standby), starts its
//! clients on fe, and once transactions flow kills be1 with SIGKILL. From
//! the kill it times:
//! - detection: the router no longer shows its link to be1 as up;
//! - takeover: be2's own figure for taking over be1's journal (its log);
//! - promoted: both of be2's partitions are active;
//! - first new commit: a client saw a transaction accepted after that.
//!
//! Everything runs in a fresh directory under the temporary directory,
//! removed at the end of the run (also on error), its processes killed.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rtr_core::protocol::admin::{AdminReply, AdminRequest, PartitionState};
use rtr_core::transport::NODE_SOCKET_ENV;

use crate::journal_cmd::Json;
use crate::manage::ask;

#[derive(clap::Args)]
pub struct FailoverArgs {
    /// How many times to kill the active backend (each run on new nodes).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Print one JSON object (per-run arrays and medians, in ms) instead of text.
    #[arg(long)]
    json: bool,
}

/// Bound on every wait: a node starting, links coming up, a phase after the kill.
const WAIT: Duration = Duration::from_secs(20);
/// Between two polls while timing the failover.
const POLL: Duration = Duration::from_micros(200);
/// Between two polls while setting up.
const SETUP_POLL: Duration = Duration::from_millis(10);
/// Accepted transactions before the kill (the load is running).
const LOADED: usize = 200;
const CLIENTS: &str = "4";
const NODES: [&str; 4] = ["fe", "tr", "be1", "be2"];

/// One run's figures, from the kill.
struct Sample {
    detection: Duration,
    /// be2's journal takeover as it logs it (None: no such line).
    takeover_ms: Option<u64>,
    promoted: Duration,
    first_commit: Duration,
}

pub fn run(a: FailoverArgs) -> Result<(), String> {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    if !a.json {
        outln!(
            "failover-bench on this host ({cores} cores): nodes fe, tr, be1 (active), be2 (standby) on loopback, \
             {CLIENTS} clients; kill -9 be1 under load, {} run{}; times from the kill",
            a.runs,
            if a.runs == 1 { "" } else { "s" }
        );
        flush();
    }
    let mut samples = Vec::new();
    for n in 1..=a.runs {
        let s = run_once(n).map_err(|e| format!("failover-bench run {n}: {e}"))?;
        if !a.json {
            outln!(
                "run {n}: detection {}, takeover {} (journal), promoted {}, first new commit {}",
                ms(s.detection),
                s.takeover_ms.map_or("? ms".to_string(), |t| format!("{t} ms")),
                ms(s.promoted),
                ms(s.first_commit)
            );
            flush();
        }
        samples.push(s);
    }
    let durations = |f: fn(&Sample) -> Duration| -> Vec<f64> { samples.iter().map(|s| millis(f(s))).collect() };
    let detection = durations(|s| s.detection);
    let promoted = durations(|s| s.promoted);
    let first_commit = durations(|s| s.first_commit);
    let takeovers: Vec<f64> = samples.iter().filter_map(|s| s.takeover_ms).map(|t| t as f64).collect();
    let median_takeover = median(&takeovers);
    if a.json {
        let arr = |v: &[f64]| Json::Arr(v.iter().map(|x| Json::Num(*x)).collect());
        let out = Json::obj(vec![
            ("cores", cores.into()),
            ("runs", a.runs.into()),
            ("detection_ms", arr(&detection)),
            ("takeover_ms", samples.iter().map(|s| s.takeover_ms).collect::<Vec<_>>().into()),
            ("promoted_ms", arr(&promoted)),
            ("first_commit_ms", arr(&first_commit)),
            (
                "median",
                Json::obj(vec![
                    ("detection_ms", median(&detection).into()),
                    ("takeover_ms", median_takeover.into()),
                    ("promoted_ms", median(&promoted).into()),
                    ("first_commit_ms", median(&first_commit).into()),
                ]),
            ),
        ]);
        outln!("{out}");
    } else {
        let m = |v: &[f64]| median(v).map_or("?".to_string(), |x| format!("{x:.1} ms"));
        outln!(
            "median: detection {}, takeover {} (journal), promoted {}, first new commit {}",
            m(&detection),
            median_takeover.map_or("? ms".to_string(), |t| format!("{} ms", whole_or_tenth(t))),
            m(&promoted),
            m(&first_commit)
        );
    }
    Ok(())
}

fn flush() {
    crate::out::flush();
}

/// Milliseconds, to the microsecond.
fn millis(d: Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// `41` or `41.5`.
fn whole_or_tenth(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// The median (the mean of the two middle values for an even count).
fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The milliseconds of be2's log line `rtr node: took over the journal of
/// be1 (PATH) in N ms: ...`.
fn takeover_ms(log: &str, lost: &str) -> Option<u64> {
    let prefix = format!("took over the journal of {lost} (");
    log.lines().find_map(|l| {
        let rest = &l[l.find(&prefix)? + prefix.len()..];
        let rest = &rest[rest.rfind(") in ")? + ") in ".len()..];
        rest.split_once(" ms")?.0.trim().parse().ok()
    })
}

/// The number of lines (tids) in a client log; 0 while it does not exist.
fn count_lines(path: &Path) -> usize {
    std::fs::read(path).map(|b| b.iter().filter(|c| **c == b'\n').count()).unwrap_or(0)
}

/// The last lines of a log file, for an error message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let name = path.file_name().map_or(path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let lines: Vec<&str> = text.lines().collect();
    let last = lines[lines.len().saturating_sub(12)..].join("\n  ");
    if last.is_empty() {
        format!("its log {name} is empty")
    } else {
        format!("the end of its log {name}:\n  {last}")
    }
}

/// A free TCP port on loopback (bound, then released for a node).
fn free_port() -> Result<u16, String> {
    // Below the kernel's ephemeral range (32768 and up on Linux): a port
    // from that range, released for a node, can meanwhile become the source
    // port of another node's outgoing connection, and the node would then
    // fail to bind it.
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(7919);
    for _ in 0..12_000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + (seed.wrapping_add(n.wrapping_mul(104_729)) % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err("no free port on 127.0.0.1 between 20000 and 31999".into())
}

/// Poll `probe` until it gives a value (its error: why not yet), at most
/// `limit` after `from`, pausing `pause` between polls.
fn until<T>(
    from: Instant,
    limit: Duration,
    pause: Duration,
    what: &str,
    mut probe: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    loop {
        match probe() {
            Ok(v) => return Ok(v),
            Err(why) if from.elapsed() > limit => return Err(format!("{what} within {limit:?} ({why})")),
            Err(_) => std::thread::sleep(pause),
        }
    }
}

/// The state of `node`'s partitions, e.g. `[Active, Active]`.
fn partitions(socket: &Path) -> Result<Vec<PartitionState>, String> {
    match ask(socket, AdminRequest::ShowPartition)? {
        AdminReply::Partitions { rows, .. } => Ok(rows.iter().map(|p| p.state).collect()),
        other => Err(format!("unexpected answer to show partition: {other:?}")),
    }
}

/// Both partitions (the workload's two key ranges) in state `want`.
fn both(socket: &Path, want: PartitionState) -> Result<(), String> {
    let states = partitions(socket)?;
    if states.len() == 2 && states.iter().all(|s| *s == want) {
        Ok(())
    } else {
        Err(format!("partitions {:?}", states.iter().map(|s| s.name()).collect::<Vec<_>>()))
    }
}

/// The state of the link to `peer` as `socket`'s node shows it ("absent" if not listed).
fn link_state(socket: &Path, peer: &str) -> Result<String, String> {
    match ask(socket, AdminRequest::ShowLink)? {
        AdminReply::Links { rows } => {
            Ok(rows.into_iter().find(|l| l.node == peer).map_or("absent".to_string(), |l| l.state))
        }
        other => Err(format!("unexpected answer to show link: {other:?}")),
    }
}

/// A process of the run, its output in a log file of the run's directory.
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
    /// Standard output's lines, when it is piped.
    lines: Option<mpsc::Receiver<String>>,
}

/// One run's directory and processes: on drop the processes are killed
/// (SIGKILL) and waited for, then the directory is removed.
struct Run {
    dir: PathBuf,
    procs: Vec<Proc>,
}

impl Drop for Run {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.child.kill();
        }
        for p in &mut self.procs {
            let _ = p.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Run {
    fn new(n: u32) -> Result<Run, String> {
        let dir = std::env::temp_dir().join(format!("rtr-failover-bench-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Run { dir, procs: Vec::new() })
    }

    /// Start `rtr ARGS` (the crash workload's commands: `rtr-testkit ARGS`)
    /// as process `name`, its standard error (and its standard output unless
    /// `piped`) in DIR/NAME.log.
    fn spawn(&mut self, name: &str, args: &[String], socket: Option<&Path>, piped: bool) -> Result<(), String> {
        let rtr = std::env::current_exe().map_err(|e| format!("cannot find the rtr program: {e}"))?;
        let exe = if args.first().is_some_and(|a| a.starts_with("crash-")) { testkit(&rtr)? } else { rtr };
        let log = self.dir.join(format!("{name}.log"));
        let err = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut cmd = Command::new(exe);
        cmd.args(args)
            .env_remove(NODE_SOCKET_ENV)
            .stdin(Stdio::null())
            .stderr(err.try_clone().map_err(|e| e.to_string())?);
        if let Some(s) = socket {
            cmd.env(NODE_SOCKET_ENV, s);
        }
        if piped {
            cmd.stdout(Stdio::piped());
        } else {
            cmd.stdout(err);
        }
        let mut child = cmd.spawn().map_err(|e| format!("cannot start {name}: {e}"))?;
        let lines = child.stdout.take().map(|out| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for l in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            });
            rx
        });
        self.procs.push(Proc { name: name.to_string(), child, log, lines });
        Ok(())
    }

    fn proc(&mut self, name: &str) -> &mut Proc {
        self.procs.iter_mut().find(|p| p.name == name).expect("a process of this run")
    }

    /// An error if a process of the run has exited (with its log's tail).
    fn alive(&mut self) -> Result<(), String> {
        for p in &mut self.procs {
            if let Ok(Some(status)) = p.child.try_wait() {
                return Err(format!("{} exited ({status}); {}", p.name, tail(&p.log)));
            }
        }
        Ok(())
    }

    /// Wait for a line starting with `prefix` on process `name`'s output.
    fn expect(&mut self, name: &str, prefix: &str) -> Result<(), String> {
        let until = Instant::now() + WAIT;
        loop {
            self.alive()?;
            let p = self.proc(name);
            let rx = p.lines.as_ref().expect("piped output");
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(l) if l.starts_with(prefix) => return Ok(()),
                Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(format!("{name} closed its output before {prefix:?}; {}", tail(&p.log)))
                }
            }
            if Instant::now() > until {
                return Err(format!("{name} did not print {prefix:?} within {WAIT:?}; {}", tail(&p.log)));
            }
        }
    }

    /// Wait for `probe` while setting up, checking that no process died;
    /// on a timeout, the error names the tail of process `blame`'s log.
    fn wait<T>(
        &mut self,
        what: &str,
        blame: Option<&str>,
        mut probe: impl FnMut() -> Result<T, String>,
    ) -> Result<T, String> {
        let start = Instant::now();
        loop {
            self.alive()?;
            match probe() {
                Ok(v) => return Ok(v),
                Err(why) if start.elapsed() > WAIT => {
                    let log = blame.map_or(String::new(), |name| format!("; {}", tail(&self.proc(name).log)));
                    return Err(format!("{what} within {WAIT:?} ({why}){log}"));
                }
                Err(_) => std::thread::sleep(SETUP_POLL),
            }
        }
    }
}

fn run_once(n: u32) -> Result<Sample, String> {
    let mut run = Run::new(n)?;
    let dir = run.dir.clone();
    let journals = dir.join("journals");
    let state = dir.join("state");
    let socket = |name: &str| dir.join(name).join("rtr.sock");

    // 1. Four nodes, each told where the others listen.
    let ports = NODES.iter().map(|_| free_port()).collect::<Result<Vec<u16>, String>>()?;
    for (i, name) in NODES.iter().enumerate() {
        let mut args: Vec<String> = vec![
            "start".into(),
            "--foreground".into(),
            "--dir".into(),
            path_arg(&dir.join(name))?,
            "--name".into(),
            name.to_string(),
            "--listen".into(),
            format!("127.0.0.1:{}", ports[i]),
        ];
        for (j, other) in NODES.iter().enumerate().filter(|(j, _)| *j != i) {
            args.push("--peer".into());
            args.push(format!("{other}=127.0.0.1:{}", ports[j]));
        }
        args.extend(["--inactivity".into(), "5".into(), "--journal-root".into(), path_arg(&journals)?]);
        // Loopback only, and throwaway nodes: plain links.
        args.push("--insecure-links".into());
        run.spawn(name, &args, None, false)?;
    }
    for name in NODES {
        let s = socket(name);
        run.wait(&format!("node {name} did not open its socket"), Some(name), || {
            UnixStream::connect(&s).map(drop).map_err(|e| format!("{}: {e}", s.display()))
        })?;
    }

    // 2. Facility CRASH on every node.
    for name in NODES {
        let req = AdminRequest::CreateFacility {
            name: "CRASH".into(),
            frontends: vec!["fe".into()],
            routers: vec!["tr".into()],
            backends: vec!["be1".into(), "be2".into()],
        };
        match ask(&socket(name), req).map_err(|e| format!("node {name}: {e}"))? {
            AdminReply::Done { .. } => {}
            AdminReply::Failed(e) => return Err(format!("node {name} refused the facility: %RTR-E-{}, {e}", e.code())),
            other => return Err(format!("node {name}: unexpected answer to create facility: {other:?}")),
        }
    }

    // 3. The router's links to the frontend and both backends up.
    let tr = socket("tr");
    run.wait("the router's links did not come up", Some("tr"), || {
        for peer in ["fe", "be1", "be2"] {
            let st = link_state(&tr, peer)?;
            if !st.starts_with("up") {
                return Err(format!("link to {peer}: {st}"));
            }
        }
        Ok(())
    })?;

    // 4. Servers on be1 (active), then on be2 (standby).
    let servers: Vec<String> = vec!["crash-remote".into(), "--servers".into(), "--state".into(), path_arg(&state)?];
    let (be1, be2) = (socket("be1"), socket("be2"));
    run.spawn("servers-be1", &servers, Some(&be1), true)?;
    run.expect("servers-be1", "servers open")?;
    run.wait("be1's partitions did not become active", Some("be1"), || both(&be1, PartitionState::Active))?;
    run.spawn("servers-be2", &servers, Some(&be2), true)?;
    run.expect("servers-be2", "servers open")?;
    run.wait("be2's partitions did not become standby", Some("be2"), || both(&be2, PartitionState::Standby))?;

    // 5. The clients on fe, until the load runs. With a transaction
    // timeout, as the bank kill test's: transfers reach the two key ranges
    // in either order, and when the work held at the kill is presented
    // again at the standby two of them can each hold a server of one range
    // and wait for the other's (a deadlock that RTR leaves to the
    // application's timeout; without one, about one run in ten never
    // committed anything after the promotion).
    let clients: Vec<String> = vec![
        "crash-remote".into(),
        "--clients".into(),
        CLIENTS.into(),
        "--count".into(),
        "1000000".into(),
        "--timeout-ms".into(),
        "5000".into(),
        "--state".into(),
        path_arg(&state)?,
    ];
    run.spawn("clients", &clients, Some(&socket("fe")), true)?;
    let accepted = state.join("client-accepted.log");
    run.wait("the clients did not get transactions accepted", Some("clients"), || {
        let n = count_lines(&accepted);
        if n >= LOADED {
            Ok(())
        } else {
            Err(format!("{n} accepted"))
        }
    })?;

    // 6. Kill be1 and time the phases: the router's view in one thread, be2
    // and the clients' progress in another (a poll of be2 may wait while it
    // takes over the journal; that must not delay seeing the detection).
    let p = run.proc("be1");
    p.child.kill().map_err(|e| format!("cannot kill be1: {e}"))?;
    let t0 = Instant::now();
    let _ = p.child.wait();
    let (detection, promoted_and_commit) = std::thread::scope(|s| {
        let detection = s.spawn(|| {
            until(t0, WAIT, POLL, "the router did not see be1 go", || {
                let st = link_state(&tr, "be1")?;
                if st.starts_with("up") {
                    Err(format!("link to be1: {st}"))
                } else {
                    Ok(t0.elapsed())
                }
            })
        });
        let later = s.spawn(|| {
            let promoted = until(t0, WAIT, POLL, "be2 was not promoted", || {
                both(&be2, PartitionState::Active).map(|_| t0.elapsed())
            })?;
            let base = count_lines(&accepted);
            let first = until(t0, promoted + WAIT, POLL, "no transaction was accepted after the promotion", || {
                let n = count_lines(&accepted);
                if n > base {
                    Ok(t0.elapsed())
                } else {
                    Err(format!("{n} accepted, as at the promotion"))
                }
            })?;
            Ok::<_, String>((promoted, first))
        });
        (join(detection), join(later))
    });
    let detection = detection?;
    let (promoted, first_commit) = promoted_and_commit.map_err(|e| format!("{e}; {}", tail(&dir.join("be2.log"))))?;

    // be2 logs its takeover before its partitions become active; give the
    // line a moment to reach the file all the same.
    let be2_log = dir.join("be2.log");
    let takeover_ms = until(Instant::now(), Duration::from_millis(500), SETUP_POLL, "", || {
        takeover_ms(&std::fs::read_to_string(&be2_log).unwrap_or_default(), "be1").ok_or_else(String::new)
    })
    .ok();

    // 7. Dropping the run kills the rest and removes the directory.
    drop(run);
    Ok(Sample { detection, takeover_ms, promoted, first_commit })
}

fn join<T>(h: std::thread::ScopedJoinHandle<'_, Result<T, String>>) -> Result<T, String> {
    h.join().unwrap_or_else(|_| Err("a polling thread panicked".into()))
}

/// The test workloads' program, built beside `rtr` in a source tree
/// (`cargo build --release -p rtr-cli`) and never installed.
fn testkit(rtr: &Path) -> Result<PathBuf, String> {
    let kit = rtr.with_file_name("rtr-testkit");
    if kit.is_file() {
        Ok(kit)
    } else {
        Err(format!(
            "failover-bench runs its workload with {}, which is missing: it is built in a source tree with `cargo \
             build --release -p rtr-cli` and not installed",
            kit.display()
        ))
    }
}

fn path_arg(p: &Path) -> Result<String, String> {
    p.to_str().map(str::to_string).ok_or_else(|| format!("{} is not UTF-8", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_takeover_time_is_read_from_the_standbys_log() {
        let log = "rtr node: be2 ready on /tmp/x/be2/rtr.sock (pid 7)\n\
                   rtr node: took over the journal of be1 (/tmp/a (b) in 3 ms/journals/be1) in 41 ms: epoch 2, 17 records\n";
        assert_eq!(takeover_ms(log, "be1"), Some(41));
        assert_eq!(takeover_ms(log, "be3"), None);
        assert_eq!(takeover_ms("nothing here", "be1"), None);
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(whole_or_tenth(41.0), "41");
        assert_eq!(whole_or_tenth(41.5), "41.5");
    }
}
