//! The library's diagnostics: one hook, with levels, that every message of
//! the runtime and transports goes through.
//!
//! The library runs inside applications, so it must not decide on its own
//! where its messages go. Without a hook they go to standard error, one
//! line each, exactly as before the hook existed; an application (the C
//! `rtr_set_log_callback`, Python's `rtr.set_log_handler`) or the `rtr`
//! daemon (its `tracing` log) installs a hook to take them instead.
//!
//! Invariants: the hook is called on whichever library thread has
//! something to say (node, link, journal or connection threads), never
//! with a library lock held by this module, and one message per call with
//! no trailing newline. The sans-I/O node (`crate::node`) emits nothing
//! itself; the runtime logs what it reports.

use std::fmt;
use std::sync::{Arc, RwLock};

/// How much a message matters, most serious first. The numbers are the C
/// API's `RTR_LOG_*` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Level {
    /// The node or a connection cannot go on (a lost journal, a failed start).
    Error = 1,
    /// Something went wrong and was handled (a link down, a refused peer).
    Warn = 2,
    /// A change worth knowing (a link up, a facility created, recovery done).
    Info = 3,
    /// Detail for finding a problem.
    Debug = 4,
}

impl Level {
    /// The level of a C API number, if it is one.
    pub fn from_number(n: i32) -> Option<Level> {
        Some(match n {
            1 => Level::Error,
            2 => Level::Warn,
            3 => Level::Info,
            4 => Level::Debug,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where messages go: called with each message's level and text.
pub type Hook = Arc<dyn Fn(Level, &str) + Send + Sync>;

static HOOK: RwLock<Option<Hook>> = RwLock::new(None);

/// Send every later message to `hook`; `None` restores standard error.
/// A message being delivered meanwhile may still reach the previous hook.
pub fn set_hook(hook: Option<Hook>) {
    *HOOK.write().unwrap_or_else(|e| e.into_inner()) = hook;
}

/// Deliver one message. The hook is cloned out of the lock before the
/// call, so a hook may itself set another hook (or log) without deadlock.
pub fn emit(level: Level, args: fmt::Arguments) {
    let hook = HOOK.read().unwrap_or_else(|e| e.into_inner()).clone();
    match hook {
        Some(h) => h(level, &args.to_string()),
        None => eprintln!("{args}"),
    }
}

/// `rtr_log!(Warn, "link to {peer}: {why}")`: one message at that level.
#[macro_export]
macro_rules! rtr_log {
    ($level:ident, $($arg:tt)*) => {
        $crate::log::emit($crate::log::Level::$level, format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn a_hook_takes_messages_with_their_levels_until_it_is_removed() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        set_hook(Some(Arc::new(move |l, m: &str| s.lock().unwrap().push((l, m.to_string())))));
        crate::rtr_log!(Warn, "link to {}: down", "beta");
        crate::rtr_log!(Info, "hello");
        set_hook(None);
        crate::rtr_log!(Info, "not seen by the hook");
        // Other tests of this crate may log meanwhile: look for ours only.
        let seen = seen.lock().unwrap();
        assert!(seen.contains(&(Level::Warn, "link to beta: down".into())), "{seen:?}");
        assert!(seen.contains(&(Level::Info, "hello".into())), "{seen:?}");
        assert!(!seen.iter().any(|(_, m)| m == "not seen by the hook"), "{seen:?}");
        assert_eq!(Level::from_number(2), Some(Level::Warn));
        assert_eq!(Level::from_number(0), None);
    }
}
