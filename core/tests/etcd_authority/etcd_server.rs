//! Real etcd servers for the tests: each test starts its own (one member or
//! a cluster on loopback ports, data in a temp dir) and a guard kills them
//! when it ends, panicking or not.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rtr_core::authority::etcd::Etcd;

/// The etcd binary (Debian's etcd-server installs it on the PATH).
pub const ETCD: &str = "etcd";

/// The longest a cluster may take to elect a leader and answer.
const START_WITHIN: Duration = Duration::from_secs(60);

/// etcd tests run one at a time: a three-member cluster beside others on a
/// shared two-core machine would miss its heartbeats and re-elect.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A running etcd cluster; dropping it kills every member still running.
pub struct Cluster {
    members: Vec<Member>,
    dir: tempfile::TempDir,
    _turn: MutexGuard<'static, ()>,
}

struct Member {
    name: String,
    client: String,
    child: Option<Child>,
}

impl Cluster {
    /// Start `n` members with `bin` and wait (bounded) until the cluster
    /// answers. Panics, with what etcd logged, if it does not.
    pub fn start_with(bin: &str, n: usize) -> Cluster {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        // A port picked free can be taken before etcd binds it: start over.
        let mut last_failure = String::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            match try_start(bin, n, dir.path()) {
                Ok(members) => {
                    let mut cluster = Cluster { members, dir, _turn: turn };
                    cluster.wait_ready();
                    return cluster;
                }
                Err(why) => last_failure = why,
            }
        }
        panic!("etcd did not start: {last_failure}");
    }

    pub fn start(n: usize) -> Cluster {
        Cluster::start_with(ETCD, n)
    }

    /// Every member's client URL, in member order.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client.clone()).collect()
    }

    /// Kill member `i` (SIGKILL: no goodbye to its peers or clients).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The member that leads now, as the members still running say.
    pub fn leader(&self) -> usize {
        let direct: ureq::Agent = ureq::Agent::config_builder().proxy(None).build().into();
        let mut ids = Vec::new();
        let mut leader = None;
        for m in &self.members {
            let status = m.child.as_ref().and_then(|_| {
                let mut answer = direct.post(format!("{}/v3/maintenance/status", m.client)).send("{}").ok()?;
                let text = answer.body_mut().read_to_string().ok()?;
                serde_json::from_str::<serde_json::Value>(&text).ok()
            });
            let id = status.as_ref().and_then(|s| s["header"]["member_id"].as_str().map(str::to_string));
            leader = leader.or_else(|| status.as_ref().and_then(|s| s["leader"].as_str().map(str::to_string)));
            ids.push(id);
        }
        let leader = leader.expect("no member names a leader");
        ids.iter().position(|id| id.as_deref() == Some(leader.as_str())).expect("the leader is a member")
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_WITHIN;
        loop {
            // A linearizable read answers only once a leader has a quorum.
            match Etcd::connect(&self.endpoints(), "probe", Duration::from_secs(2)) {
                Ok(_) => return,
                Err(e) if Instant::now() > deadline => panic!("etcd never answered: {e}\n{}", self.logs()),
                Err(_) => {}
            }
            let exited = self.members.iter_mut().find_map(|m| {
                let status = m.child.as_mut().and_then(|c| c.try_wait().ok().flatten())?;
                m.child = None;
                Some(format!("etcd member {} exited ({status}) while starting", m.name))
            });
            if let Some(why) = exited {
                panic!("{why}\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| {
                let log = std::fs::read_to_string(log_path(self.dir.path(), &m.name)).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                format!("--- {} ---\n{}", m.name, tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

fn log_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.log"))
}

/// Free loopback ports: all bound at once so none repeats, then released
/// for etcd to bind.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    listeners.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

fn try_start(bin: &str, n: usize, dir: &Path) -> Result<Vec<Member>, String> {
    let ports = free_ports(2 * n);
    let names: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    let peer = |i: usize| format!("http://127.0.0.1:{}", ports[2 * i + 1]);
    let initial: Vec<String> = (0..n).map(|i| format!("{}={}", names[i], peer(i))).collect();
    let mut members: Vec<Member> = Vec::new();
    for i in 0..n {
        let client = format!("http://127.0.0.1:{}", ports[2 * i]);
        let log = File::create(log_path(dir, &names[i])).unwrap();
        let spawned = Command::new(bin)
            .args(["--name", &names[i]])
            .arg("--data-dir")
            .arg(dir.join(&names[i]))
            .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer(i), "--initial-advertise-peer-urls", &peer(i)])
            .args(["--initial-cluster", &initial.join(",")])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", &format!("rtr-test-{}", dir.display())])
            .args(["--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn();
        match spawned {
            Ok(child) => members.push(Member { name: names[i].clone(), client, child: Some(child) }),
            Err(e) => {
                for m in &mut members {
                    if let Some(mut c) = m.child.take() {
                        let _ = c.kill();
                        let _ = c.wait();
                    }
                }
                if e.kind() == std::io::ErrorKind::NotFound {
                    panic!(
                        "the etcd tests need the etcd server ({bin:?} is not on the PATH): install etcd-server \
                         (apt-get install etcd-server, which provides /usr/bin/etcd)"
                    );
                }
                panic!("could not run {bin}: {e}");
            }
        }
    }
    // A member that lost a port race exits at once; give it a moment to.
    std::thread::sleep(Duration::from_millis(300));
    for m in &mut members {
        if m.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_some()) {
            let why = std::fs::read_to_string(log_path(dir, &m.name)).unwrap_or_default();
            for m in &mut members {
                if let Some(mut c) = m.child.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
            return Err(why.lines().rev().take(5).collect::<Vec<_>>().join("\n"));
        }
    }
    Ok(members)
}
