//! A receiver of a daemon connection that cannot get the descriptors for
//! its wait on the socket (`transport/unix/wait.rs`: an eventfd and an
//! epoll instance per thread, made on its first wait) still gets its
//! messages: it falls back to looking at the socket in short slices. Its
//! own test binary, since it lowers the process's descriptor limit.

mod common;

use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;
use rtr_core::flags;
use rtr_core::runtime::EmbeddedNode;
use rtr_core::{EmbeddedConfig, MsgType, Rtr, RtrError, Which};

const BOUND: Duration = Duration::from_secs(10);

/// The soft descriptor limit until dropped: lowered so that no descriptor
/// can be made (every number below it is taken).
struct NoMoreDescriptors(libc::rlimit);

impl NoMoreDescriptors {
    fn now() -> NoMoreDescriptors {
        let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes the struct we pass.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
        // SAFETY: dup of stdin; the lowest free number, closed at once.
        let lowest_free = unsafe { libc::dup(0) };
        assert!(lowest_free >= 0);
        // SAFETY: closes the descriptor just made.
        unsafe { libc::close(lowest_free) };
        let low = libc::rlimit { rlim_cur: lowest_free as libc::rlim_t, rlim_max: old.rlim_max };
        // SAFETY: setrlimit reads the struct we pass.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
        // SAFETY: eventfd takes no pointers.
        let fd = unsafe { libc::eventfd(0, 0) };
        assert!(fd < 0, "a descriptor could still be made");
        NoMoreDescriptors(old)
    }
}

impl Drop for NoMoreDescriptors {
    fn drop(&mut self) {
        // SAFETY: setrlimit reads the struct we pass.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &self.0) };
    }
}

#[test]
fn a_receiver_without_descriptors_for_its_wait_still_gets_its_messages() {
    let dir = tempfile::tempdir().unwrap();
    let node = EmbeddedNode::start_daemon(EmbeddedConfig::default()).unwrap();
    let socket = dir.path().join("rtr.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    thread::spawn(move || rtr_core::transport::unix::serve(listener, node));
    let server = Rtr::connect_socket(&socket).unwrap();
    let app = Rtr::connect_socket(&socket).unwrap();
    let s = open_ok(&server, server_params("NOFD", 0, 1000, 0));
    let c = open_ok(&app, client_params("NOFD"));
    let stop = Arc::new(AtomicBool::new(false));
    let serving = {
        let (server, stop) = (server.clone(), stop.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match server.receive(&Which::List(vec![s]), Some(Duration::from_millis(200))) {
                    Ok(_) | Err(RtrError::Timeout) => {}
                    Err(_) => return,
                }
            }
        })
    };
    // The server thread has waited (and made its descriptors) by now.
    app.send_to_server(c, flags::sen::ACCEPT, &msg(1, b"before")).unwrap();
    assert_eq!(app.receive(&Which::List(vec![c]), Some(BOUND)).unwrap().sb.msgtype, MsgType::Accepted);
    let limit = NoMoreDescriptors::now();
    // A new thread cannot make its descriptors; it is the only receiver
    // of this connection, so nobody else reads the outcomes for it.
    let receiver = {
        let app = app.clone();
        thread::spawn(move || -> Result<(), String> {
            for n in 0..20u32 {
                app.send_to_server(c, flags::sen::ACCEPT, &msg(n, b"without")).map_err(|e| e.to_string())?;
                let m = app.receive(&Which::List(vec![c]), Some(BOUND)).map_err(|e| format!("tx {n}: {e}"))?;
                if m.sb.msgtype != MsgType::Accepted {
                    return Err(format!("tx {n}: {:?}", m.sb));
                }
            }
            Ok(())
        })
    };
    let result = receiver.join().unwrap();
    drop(limit);
    stop.store(true, Ordering::Relaxed);
    serving.join().unwrap();
    assert_eq!(result, Ok(()));
}
