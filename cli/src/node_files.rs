//! The files of a node directory, made with explicit modes and never
//! through a symbolic link someone else placed.
//!
//! Threat: another local user who can write where the node keeps its
//! files (a shared directory, or one made under a careless umask) plants
//! `rtr.pid` or `rtr.log` as a symlink to a file only root may write, and
//! waits for a root-run `rtr start` to overwrite it; or reads journal
//! payloads a permissive umask left world-readable. So:
//! - `rtr start` sets the process umask to 077 before it makes anything:
//!   whatever the node creates without an explicit mode (journal segments,
//!   the configuration, the log, facility definitions) is for its owner
//!   only, whatever umask the operator's shell had; files that must be
//!   readable by others get their mode set explicitly here;
//! - the node directory, when `rtr start` makes it, is 0755 (others reach
//!   the socket inside it; what they may do there is the socket's mode);
//! - the pid file (0644) and the log (0600) are opened with `O_NOFOLLOW`,
//!   the pid file also with `O_EXCL` after removing a stale one (unlink
//!   removes a link, never its target): a symlink in their place is refused
//!   with an error naming it, and its target is left untouched.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of the node directory when `rtr start` makes it.
pub const DIR_MODE: u32 = 0o755;
/// Mode of `rtr.pid`: anyone may read which process is the node.
pub const PID_MODE: u32 = 0o644;
/// Mode of the log file: it names transactions, nodes and processes.
pub const LOG_MODE: u32 = 0o600;

/// Everything this process creates from now on is for its owner only,
/// unless given a mode explicitly (see the module comment).
pub fn restrict_umask() {
    // SAFETY: umask only changes this process's file creation mask.
    unsafe { libc::umask(0o077) };
}

/// Refuse `path` if it is a symbolic link (`what` names it in the error).
pub fn refuse_symlink(path: &Path, what: &str) -> Result<(), String> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(format!(
            "{what} {} is a symbolic link: refusing to follow it (remove it if it is not yours)",
            path.display()
        )),
        _ => Ok(()),
    }
}

/// Make the node directory `dir` (and its parents) if missing; a directory
/// made here gets [`DIR_MODE`] whatever the umask.
pub fn make_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE))
        .map_err(|e| format!("{}: {e}", dir.display()))
}

/// Open the log `path` to append (created [`LOG_MODE`] if missing), never
/// through a symlink.
pub fn open_log(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).mode(LOG_MODE).custom_flags(libc::O_NOFOLLOW).open(path).map_err(|e| {
        match e.raw_os_error() {
            Some(libc::ELOOP) => std::io::Error::other("it is a symbolic link: refusing to follow it"),
            _ => e,
        }
    })
}

/// Write this process's id to `path` (mode [`PID_MODE`]). A regular file
/// there is a stale one (the caller made sure no node answers) and is
/// replaced; a symlink is refused. Created with `O_EXCL|O_NOFOLLOW`, so a
/// link placed between the removal and the creation fails the creation
/// instead of being followed.
pub fn write_pid(path: &Path) -> Result<(), String> {
    refuse_symlink(path, "the pid file")?;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot remove the stale pid file {}: {e}", path.display())),
    }
    let err = |e: std::io::Error| format!("cannot create the pid file {}: {e}", path.display());
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PID_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(err)?;
    // Explicit, whatever the umask took away at creation.
    f.set_permissions(std::fs::Permissions::from_mode(PID_MODE)).map_err(err)?;
    f.write_all(format!("{}\n", std::process::id()).as_bytes()).map_err(err)
}

/// The default mode of the node socket: its owner and group may connect.
pub const SOCKET_MODE: u32 = 0o660;

/// Give the node socket just bound at `path` its owner, group and mode
/// (explicitly: it was born 0600 under the node's umask, so it was never
/// more open than configured). By path: the socket's directory must not
/// be writable by others, or they could swap the socket for a link in
/// between (the node directory `rtr start` makes is not).
pub fn socket_access(path: &Path, owner: Option<u32>, group: Option<u32>, mode: u32) -> Result<(), String> {
    let err = |what: &str, e: std::io::Error| format!("cannot {what} of the socket {}: {e}", path.display());
    refuse_symlink(path, "the socket")?;
    if owner.is_some() || group.is_some() {
        std::os::unix::fs::lchown(path, owner, group).map_err(|e| err("set the owner", e))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| err("set the mode", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlinked_pid_file_is_refused_and_its_target_untouched() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("precious");
        std::fs::write(&target, "keep me").unwrap();
        let pid = d.path().join("rtr.pid");
        std::os::unix::fs::symlink(&target, &pid).unwrap();
        let e = write_pid(&pid).unwrap_err();
        assert!(e.contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    }

    #[test]
    fn a_stale_pid_file_is_replaced_with_mode_0644() {
        let d = tempfile::tempdir().unwrap();
        let pid = d.path().join("rtr.pid");
        std::fs::write(&pid, "1\n").unwrap();
        std::fs::set_permissions(&pid, std::fs::Permissions::from_mode(0o666)).unwrap();
        write_pid(&pid).unwrap();
        assert_eq!(std::fs::read_to_string(&pid).unwrap(), format!("{}\n", std::process::id()));
        assert_eq!(std::fs::metadata(&pid).unwrap().permissions().mode() & 0o777, PID_MODE);
    }

    #[test]
    fn a_symlinked_log_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("precious");
        std::fs::write(&target, "keep me").unwrap();
        let log = d.path().join("rtr.log");
        std::os::unix::fs::symlink(&target, &log).unwrap();
        let e = open_log(&log).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    }
}
