//! Who is on the other end of a node socket connection, and what they may
//! do there (README: Security).
//!
//! The kernel tells (`SO_PEERCRED`: the uid, gid and pid of the process
//! that connected); what a peer says about itself (the hello's pid) is
//! never believed over it. Two levels:
//! - application: anyone the socket's mode lets connect may open channels,
//!   run transactions and read views (`rtr show`, `rtr_request_info`);
//! - operator: requests that change or stop the node (stop, create and
//!   delete facility, `rtr set partition|transaction`: recovery overrides,
//!   forget or retry a transaction) need root, the node's own uid, or
//!   membership of the configured operator group (the connecting
//!   process's primary or supplementary groups).

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use crate::protocol::admin::AdminRequest;

/// The credentials of a connected process, from the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCred {
    pub uid: u32,
    pub gid: u32,
    pub pid: u32,
}

impl std::fmt::Display for PeerCred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "uid {} pid {}", self.uid, self.pid)
    }
}

/// The credentials of the process at the other end of `stream`.
pub fn peer_cred(stream: &UnixStream) -> std::io::Result<PeerCred> {
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, which is a
    // live, properly aligned ucred of that size.
    let r = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(PeerCred { uid: cred.uid, gid: cred.gid, pid: cred.pid.max(0) as u32 })
}

/// Who may make operator requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operators {
    /// The uid the node runs as (its operator).
    pub node_uid: u32,
    /// Members of this group are operators too.
    pub group: Option<u32>,
}

impl Default for Operators {
    /// The node's own uid (and root) only.
    fn default() -> Self {
        // SAFETY: getuid cannot fail and touches no memory.
        Operators { node_uid: unsafe { libc::getuid() }, group: None }
    }
}

impl Operators {
    /// Whether `who` is an operator of this node.
    pub fn admit(&self, who: &PeerCred) -> bool {
        if who.uid == 0 || who.uid == self.node_uid {
            return true;
        }
        match self.group {
            Some(g) => who.gid == g || supplementary_groups(who.pid).contains(&g),
            None => false,
        }
    }
}

/// Whether `req` needs an operator (it changes or stops the node); views
/// are for applications too.
pub fn needs_operator(req: &AdminRequest) -> bool {
    !matches!(
        req,
        AdminRequest::ShowFacility
            | AdminRequest::ShowPartition
            | AdminRequest::ShowServer
            | AdminRequest::ShowTransaction
            | AdminRequest::ShowLink
            | AdminRequest::ShowMetrics
    )
}

/// The supplementary groups of process `pid` (Linux `/proc/PID/status`);
/// none if it cannot be read (the process is gone: it is no operator).
fn supplementary_groups(pid: u32) -> Vec<u32> {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return Vec::new() };
    status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .map(|g| g.split_whitespace().filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_names_this_process_at_the_other_end() {
        let (a, _b) = UnixStream::pair().unwrap();
        let c = peer_cred(&a).unwrap();
        // SAFETY: getuid and getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        assert_eq!(c, PeerCred { uid, gid, pid: std::process::id() });
    }

    #[test]
    fn operators_are_root_the_node_uid_and_the_operator_group() {
        let ops = Operators { node_uid: 1000, group: None };
        let who = |uid, gid| PeerCred { uid, gid, pid: u32::MAX };
        assert!(ops.admit(&who(0, 0)));
        assert!(ops.admit(&who(1000, 5)));
        assert!(!ops.admit(&who(65534, 65534)));
        let ops = Operators { node_uid: 1000, group: Some(65534) };
        assert!(ops.admit(&who(65534, 65534)));
        assert!(!ops.admit(&who(1001, 1001)));
    }

    #[test]
    fn only_changes_need_an_operator() {
        assert!(!needs_operator(&AdminRequest::ShowTransaction));
        // Metrics are a view: any process that may connect reads them, and
        // a scrape writes no audit line.
        assert!(!needs_operator(&AdminRequest::ShowMetrics));
        assert!(needs_operator(&AdminRequest::Stop));
        assert!(needs_operator(&AdminRequest::DeleteFacility { name: "x".into() }));
    }
}
