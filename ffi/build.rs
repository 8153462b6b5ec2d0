//! Gives `librtr.so` a real SONAME, `librtr.so.<major>`, so that programs
//! linked with it record `librtr.so.0` (not a bare `librtr.so`) and a later
//! incompatible `librtr.so.1` can be installed beside it. `cargo xtask dist`
//! installs the library as `librtr.so.<version>` with the usual symlinks.
//!
//! A program linked against the build tree (`-Ltarget/<profile> -lrtr
//! -Wl,-rpath,...`, as the tests and the README's build line do) then needs
//! `librtr.so.0` beside `librtr.so` at run time, so this script also puts
//! the symlink `librtr.so.0 -> librtr.so` in `target/<profile>/` and
//! `target/<profile>/deps/` (relative: it resolves as soon as cargo has
//! linked the library, which it does after this script runs).

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os != "linux" {
        return;
    }
    let soname = format!("librtr.so.{major}");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");

    // OUT_DIR is target/[<triple>/]<profile>/build/rtr-ffi-<hash>/out.
    let Some(out_dir) = std::env::var_os("OUT_DIR") else { return };
    let Some(profile_dir) = Path::new(&out_dir).ancestors().nth(3) else { return };
    for dir in [profile_dir.to_path_buf(), profile_dir.join("deps")] {
        let link = dir.join(&soname);
        if std::fs::symlink_metadata(&link).is_ok() {
            continue;
        }
        if let Err(e) = std::os::unix::fs::symlink("librtr.so", &link) {
            println!("cargo:warning=cannot create {}: {e}", link.display());
        }
    }
}
