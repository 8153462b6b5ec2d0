//! User and group names as the system's account database knows them
//! (`getpwnam_r`, `getgrnam_r`: local files, LDAP, whatever NSS says), for
//! the socket's owner and group and the operator group in `rtr.toml`. A
//! number is taken as an id as it is.

use std::ffi::CString;

/// The uid of user `name` (or the number `name`).
pub fn user(name: &str) -> Result<u32, String> {
    if let Ok(n) = name.parse() {
        return Ok(n);
    }
    let c = CString::new(name).map_err(|_| format!("user {name:?}: not a name"))?;
    let mut buf = vec![0u8; 16 << 10];
    // SAFETY: passwd is plain old data; getpwnam_r fills it, pointing into
    // `buf`, which outlives its use here.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and `buf.len()` is its size.
    let r = unsafe { libc::getpwnam_r(c.as_ptr(), &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut found) };
    if r != 0 || found.is_null() {
        return Err(format!("no user {name:?} on this system"));
    }
    Ok(pw.pw_uid)
}

/// The gid of group `name` (or the number `name`).
pub fn group(name: &str) -> Result<u32, String> {
    if let Ok(n) = name.parse() {
        return Ok(n);
    }
    let c = CString::new(name).map_err(|_| format!("group {name:?}: not a name"))?;
    let mut buf = vec![0u8; 64 << 10];
    // SAFETY: group is plain old data; getgrnam_r fills it, pointing into
    // `buf`, which outlives its use here.
    let mut gr: libc::group = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and `buf.len()` is its size.
    let r = unsafe { libc::getgrnam_r(c.as_ptr(), &mut gr, buf.as_mut_ptr().cast(), buf.len(), &mut found) };
    if r != 0 || found.is_null() {
        return Err(format!("no group {name:?} on this system"));
    }
    Ok(gr.gr_gid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_resolve_and_unknown_names_are_refused() {
        assert_eq!(user("root"), Ok(0));
        assert_eq!(group("root"), Ok(0));
        assert_eq!(user("4242"), Ok(4242));
        assert!(user("no-such-user-rtr").unwrap_err().contains("no user"));
        assert!(group("no-such-group-rtr").unwrap_err().contains("no group"));
    }
}
