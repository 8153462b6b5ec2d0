//! Readiness and stop notices to a service manager (systemd's `sd_notify`
//! protocol): one datagram such as `READY=1` on the Unix socket named by
//! the environment variable `NOTIFY_SOCKET`, a file path or, when it starts
//! with `@`, an abstract address. Without the variable nothing is sent.
//!
//! Written with std's `UnixDatagram` rather than a crate: the protocol is
//! one `sendto` per notice.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Send `state` (for instance `READY=1`) to the service manager. `Ok(false)`
/// when no manager listens (`NOTIFY_SOCKET` unset or empty).
pub fn notify(state: &str) -> io::Result<bool> {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET").filter(|t| !t.is_empty()) else {
        return Ok(false);
    };
    let addr = address(&target)?;
    let socket = UnixDatagram::unbound()?;
    socket.send_to_addr(state.as_bytes(), &addr)?;
    Ok(true)
}

fn address(target: &std::ffi::OsStr) -> io::Result<SocketAddr> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = target.as_bytes();
    match bytes.strip_prefix(b"@") {
        Some(name) => abstract_address(name),
        None => SocketAddr::from_pathname(target),
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_address(name: &[u8]) -> io::Result<SocketAddr> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_address(_: &[u8]) -> io::Result<SocketAddr> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "abstract socket addresses exist only on Linux"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_and_an_abstract_name_are_addresses() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let addr = address(path.as_os_str()).unwrap();
        UnixDatagram::unbound().unwrap().send_to_addr(b"READY=1", &addr).unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            let name = format!("rtr-notify-test-{}", std::process::id());
            let listener = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
            let addr = address(std::ffi::OsStr::new(&format!("@{name}"))).unwrap();
            UnixDatagram::unbound().unwrap().send_to_addr(b"STOPPING=1", &addr).unwrap();
            let n = listener.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"STOPPING=1");
        }
    }

    #[test]
    fn an_address_too_long_is_an_error_not_a_panic() {
        let long = "x".repeat(200);
        assert!(address(std::ffi::OsStr::new(&long)).is_err());
        assert!(address(std::ffi::OsStr::new(&format!("@{long}"))).is_err());
    }
}
