//! Signals to the node daemon: SIGTERM and SIGINT stop it as `rtr stop`
//! does; SIGHUP reopens its log file.
//!
//! How: the three signals are blocked in the daemon's main thread before it
//! starts any other thread (every thread inherits the mask), and one thread
//! takes them with `sigwait`. No code runs in a signal handler, so the
//! reaction to a signal may lock, allocate, log and talk to the node like
//! any other thread; no async runtime and no new dependency is needed for
//! that (a handler with a self-pipe, or `signal-hook`, would end in the
//! same kind of thread with more machinery).

use std::io;

/// The signals the daemon handles.
const HANDLED: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// The signals, blocked in the calling thread (and so in the threads it
/// starts afterwards), waiting for [`Blocked::spawn`] to take them.
pub struct Blocked {
    set: libc::sigset_t,
}

/// Block SIGTERM, SIGINT and SIGHUP in this thread. Call it before any
/// thread is started: a thread started earlier keeps the default actions,
/// and a signal delivered to it would still end the process at once.
pub fn block() -> io::Result<Blocked> {
    // SAFETY: sigset_t is plain data; sigemptyset initializes it before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t owned by this frame.
    unsafe { libc::sigemptyset(&mut set) };
    for sig in HANDLED {
        // SAFETY: as above; `sig` is a valid signal number.
        unsafe { libc::sigaddset(&mut set, sig) };
    }
    // SAFETY: `set` is initialized; the old mask is not wanted (null).
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(Blocked { set })
}

impl Blocked {
    /// Start the thread that takes the signals, calling `on` with each
    /// signal's number, one at a time, in the order they arrive.
    pub fn spawn(self, mut on: impl FnMut(libc::c_int) + Send + 'static) -> io::Result<()> {
        let set = self.set;
        let wait = move || loop {
            let mut sig: libc::c_int = 0;
            // SAFETY: `set` is an initialized sigset_t, `sig` a valid out
            // pointer; sigwait only writes the signal's number there.
            let rc = unsafe { libc::sigwait(&set, &mut sig) };
            if rc != 0 {
                // Only an invalid set fails, and would fail every time.
                return;
            }
            on(sig);
        };
        std::thread::Builder::new().name("rtr-signals".into()).spawn(wait).map(drop)
    }
}

/// A signal's name for the log.
pub fn name(sig: libc::c_int) -> &'static str {
    match sig {
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// Point standard output and standard error at `path` again (opened to
/// append, created if missing): after a rotation moved the old file away,
/// the node's next lines go to the new one.
pub fn reopen_log(path: &std::path::Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // Never through a symlink placed where the old log was (node_files).
    let file = crate::node_files::open_log(path)?;
    for target in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        // SAFETY: both descriptors are valid (the file is open for this
        // call); dup2 replaces `target` atomically and leaves `file` ours.
        if unsafe { libc::dup2(file.as_raw_fd(), target) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
