//! Standard output and error for every command: a reader that goes away
//! (`rtr demo | head`, `rtr bench | head`) ends the command quietly, as
//! the default SIGPIPE action ends `cat` or `yes`, instead of a panic on
//! "Broken pipe". Before it goes, the command's scratch journal
//! directories are removed (they would otherwise stay in the temporary
//! directory).
//!
//! SIGPIPE itself stays ignored while the command runs (the Rust runtime
//! ignores it): the commands also write to sockets (a node daemon's, TCP
//! links between nodes), where a closed peer must be an error to handle, not
//! the death of the process. Only a write to stdout or stderr that finds
//! its reader gone ends the process, through [`reader_gone`].

use std::fmt;
use std::io::{self, Write};

/// One line on stdout: `outln!("x = {x}")`, `outln!()`.
macro_rules! outln {
    () => { $crate::out::line(format_args!("")) };
    ($($arg:tt)*) => { $crate::out::line(format_args!($($arg)*)) };
}

/// One line on stderr: `errln!("warning: {w}")`.
macro_rules! errln {
    () => { $crate::out::err_line(format_args!("")) };
    ($($arg:tt)*) => { $crate::out::err_line(format_args!($($arg)*)) };
}

fn write_line(w: &mut dyn Write, args: fmt::Arguments) -> io::Result<()> {
    w.write_fmt(args)?;
    w.write_all(b"\n")?;
    w.flush()
}

/// Writes `args` and a newline to stdout, flushed (a test or a `tail -f`
/// reader sees each line as it happens).
pub fn line(args: fmt::Arguments) {
    let result = write_line(&mut io::stdout().lock(), args);
    checked(result, "standard output");
}

/// Flushes stdout (after output written without [`line`]).
pub fn flush() {
    checked(io::stdout().flush(), "standard output");
}

/// Writes `args` and a newline to stderr.
pub fn err_line(args: fmt::Arguments) {
    if let Err(e) = write_line(&mut io::stderr().lock(), args) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            reader_gone();
        }
        // Nowhere left to say it; the exit status still tells.
    }
}

/// What a failed write to stdout means: the reader went away (end quietly)
/// or something else (full disk of a redirect: say so and fail).
pub fn checked(result: io::Result<()>, what: &str) {
    match result {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => reader_gone(),
        Err(e) => {
            let _ = writeln!(io::stderr(), "rtr: cannot write to {what}: {e}");
            crate::scratch::remove_all();
            std::process::exit(1);
        }
    }
}

/// The reader of our output is gone: remove the scratch directories, then
/// end as the default SIGPIPE action would (the shell sees "killed by
/// SIGPIPE", exit status 141, and prints nothing).
pub fn reader_gone() -> ! {
    crate::scratch::remove_all();
    // SAFETY: signal() with SIG_DFL installs no handler and touches no memory
    // of ours; raise() then delivers SIGPIPE to this thread, which ends the
    // process (nothing here blocks SIGPIPE).
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    // Not reached unless SIGPIPE is blocked: the same status by hand.
    std::process::exit(128 + libc::SIGPIPE)
}
