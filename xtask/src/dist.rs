//! `cargo xtask dist PREFIX`: build the release artifacts and install them
//! in the usual Unix layout under PREFIX:
//!
//! ```text
//! bin/rtr                               the command (stripped)
//! lib/librtr.so.X.Y.Z                   the C library (stripped), SONAME librtr.so.X
//! lib/librtr.so.X -> librtr.so.X.Y.Z    what programs load
//! lib/librtr.so   -> librtr.so.X        what `-lrtr` finds at link time
//! lib/librtr.a                          the static library (debug info removed)
//! lib/debug/librtr.so.X.Y.Z.debug       separate debug info (objcopy --only-keep-debug),
//! lib/debug/rtr.debug                   found by gdb through the build id (below)
//! lib/debug/.build-id/NN/REST.debug     -> ../../<name>.debug
//! lib/pkgconfig/rtr.pc                  pkg-config --cflags --libs rtr
//! lib/cmake/rtr/rtrConfig.cmake         find_package(rtr): rtr::rtr, rtr::rtr_static
//! lib/cmake/rtr/rtrConfigVersion.cmake
//! include/rtr.h
//! share/doc/rtr/LICENSE, README.md
//! ```
//!
//! `cargo build --release` itself is unchanged (the release profile keeps
//! its line tables for benchmarks and backtraces); only the installed copies
//! are stripped. The stripped files carry a `.gnu_debuglink` to their debug
//! file and keep their build id, so `gdb -iex 'set debug-file-directory
//! PREFIX/lib/debug'` (or a debuginfod-style store fed from `lib/debug`)
//! finds the symbols.
//!
//! A staged install (for a package build): with `DESTDIR` set, the files go
//! under `$DESTDIR$PREFIX` (PREFIX must then be absolute) while everything
//! that records where it is installed still says PREFIX: `rtr.pc` names
//! PREFIX, the CMake files find their place from their own location, and
//! the debug links are relative. Moving the tree to PREFIX completes it.
//! (`rtr.pc` names its prefix rather than `${pcfiledir}/../..`, which
//! would break when the file is reached through a symlink; a tree moved
//! elsewhere is found with `pkg-config --define-prefix`.)
//!
//! Tools: `objcopy` and `readelf` from binutils (`$OBJCOPY`, `$READELF` to
//! override). A missing tool is an error, never a silently unstripped install.

use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The version of every crate of the workspace (xtask shares it).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a C program linked with `librtr.a` needs besides it: the native
/// libraries of the Rust standard library on Linux (`rustc --print
/// native-static-libs`).
pub const STATIC_LIBS: &str = "-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc";

/// The major version: the SONAME's number (`ffi/build.rs` sets the same).
pub fn major() -> &'static str {
    VERSION.split('.').next().unwrap_or("0")
}

pub struct Options {
    pub prefix: PathBuf,
    /// Build with cargo first (false: install what target/release holds).
    pub build: bool,
    /// A staging root (`DESTDIR`): files go under it, PREFIX is still what
    /// the installed files name.
    pub destdir: Option<PathBuf>,
}

impl Options {
    /// `DESTDIR` from the environment, if set and not empty (as `make
    /// install DESTDIR=...` treats it). PREFIX must then be absolute: the
    /// staging root is put in front of it.
    pub fn with_destdir(mut self, destdir: Option<std::ffi::OsString>) -> Result<Options, String> {
        self.destdir = destdir.filter(|d| !d.is_empty()).map(PathBuf::from);
        if self.destdir.is_some() && !self.prefix.is_absolute() {
            return Err(format!("with DESTDIR, PREFIX must be absolute (got {})", self.prefix.display()));
        }
        Ok(self)
    }

    /// Where the files go: PREFIX, or DESTDIR/PREFIX.
    fn dest(&self) -> PathBuf {
        match &self.destdir {
            Some(d) => d.join(self.prefix.strip_prefix("/").unwrap_or(&self.prefix)),
            None => self.prefix.clone(),
        }
    }
}

pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut prefix = None;
    let mut build = true;
    for a in args {
        match a.as_str() {
            "--no-build" => build = false,
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s if prefix.is_none() => prefix = Some(PathBuf::from(s)),
            s => return Err(format!("one PREFIX only (got a second: {s})")),
        }
    }
    let prefix = prefix.ok_or("missing PREFIX")?;
    if prefix.as_os_str().is_empty() {
        return Err("PREFIX is empty".into());
    }
    Ok(Options { prefix, build, destdir: None })
}

fn tool(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| format!("cannot run {shown}: {e} (is binutils installed?)"))?;
    if !out.status.success() {
        return Err(format!("{shown} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn io_err<'a>(what: &str, path: &'a Path) -> impl FnOnce(io::Error) -> String + 'a {
    let what = what.to_string();
    move |e| format!("cannot {what} {}: {e}", path.display())
}

/// Remove whatever is at `path` (file or symlink), so that a reinstall
/// replaces it instead of writing through an old symlink.
fn clear(path: &Path) -> Result<(), String> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Err(format!("{} is a directory", path.display())),
        Ok(_) => fs::remove_file(path).map_err(io_err("remove", path)),
        Err(_) => Ok(()),
    }
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    clear(to)?;
    fs::copy(from, to).map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))?;
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    clear(path)?;
    fs::write(path, text).map_err(io_err("write", path))
}

fn link(target: &str, path: &Path) -> Result<(), String> {
    clear(path)?;
    symlink(target, path).map_err(io_err("create the symlink", path))
}

fn mkdir(path: &Path) -> Result<(), String> {
    fs::create_dir_all(path).map_err(io_err("create", path))
}

/// The GNU build id of an ELF file, as hex, if it has one.
pub fn build_id(file: &Path) -> Result<Option<String>, String> {
    let notes = run(Command::new(tool("READELF", "readelf")).arg("-n").arg(file))?;
    Ok(notes.lines().find_map(|l| l.trim().strip_prefix("Build ID: ")).map(|s| s.trim().to_string()))
}

/// Install `built` as `dest`, stripped, its debug info in `debug_dir`.
/// `strip` is the objcopy option: `--strip-unneeded` for the shared
/// library (the dynamic symbols stay), `--strip-all` for the executable.
fn install_split(built: &Path, dest: &Path, debug_dir: &Path, strip: &str) -> Result<(), String> {
    let objcopy = tool("OBJCOPY", "objcopy");
    let name = dest.file_name().and_then(|n| n.to_str()).ok_or("bad destination name")?;
    let debug_name = format!("{name}.debug");
    let debug = debug_dir.join(&debug_name);
    clear(&debug)?;
    run(Command::new(&objcopy).arg("--only-keep-debug").arg(built).arg(&debug))?;
    // Write next to the destination under a temporary name, then rename:
    // a program running from the old file keeps its mapping intact.
    let tmp = dest.with_file_name(format!(".{name}.tmp"));
    clear(&tmp)?;
    run(Command::new(&objcopy).arg(strip).arg(built).arg(&tmp))?;
    // --add-gnu-debuglink reads the debug file for its CRC and records its
    // base name; the debugger looks it up next to the file, in .debug/, or
    // under its debug-file-directory (by build id, see below).
    run(Command::new(&objcopy).arg(format!("--add-gnu-debuglink={}", debug.display())).arg(&tmp))?;
    fs::rename(&tmp, dest).map_err(io_err("rename into", dest))?;
    if let Some(id) = build_id(dest)? {
        if id.len() > 2 {
            let dir = debug_dir.join(".build-id").join(&id[..2]);
            mkdir(&dir)?;
            link(&format!("../../{debug_name}"), &dir.join(format!("{}.debug", &id[2..])))?;
        }
    }
    Ok(())
}

fn pc_file(prefix: &Path) -> String {
    format!(
        "prefix={prefix}\n\
         exec_prefix=${{prefix}}\n\
         libdir=${{exec_prefix}}/lib\n\
         includedir=${{prefix}}/include\n\
         \n\
         Name: rtr\n\
         Description: Reliable Transaction Router: the RTR C API (librtr)\n\
         Version: {VERSION}\n\
         Libs: -L${{libdir}} -lrtr\n\
         Libs.private: {STATIC_LIBS}\n\
         Cflags: -I${{includedir}}\n",
        prefix = prefix.display()
    )
}

fn cmake_config() -> String {
    let major = major();
    let static_libs: Vec<&str> =
        STATIC_LIBS.split_whitespace().filter_map(|l| l.strip_prefix("-l")).filter(|l| *l != "c").collect();
    format!(
        r#"# find_package(rtr): the RTR C API (librtr) {VERSION}.
# Imported targets:
#   rtr::rtr         the shared library (librtr.so.{major})
#   rtr::rtr_static  the static library (librtr.a) and the system libraries it needs
# Relocatable: paths are found from this file's place, PREFIX/lib/cmake/rtr.
get_filename_component(_rtr_prefix "${{CMAKE_CURRENT_LIST_DIR}}/../../.." ABSOLUTE)

if(NOT TARGET rtr::rtr)
  add_library(rtr::rtr SHARED IMPORTED)
  set_target_properties(rtr::rtr PROPERTIES
    IMPORTED_LOCATION "${{_rtr_prefix}}/lib/librtr.so.{VERSION}"
    IMPORTED_SONAME "librtr.so.{major}"
    INTERFACE_INCLUDE_DIRECTORIES "${{_rtr_prefix}}/include")
endif()

if(NOT TARGET rtr::rtr_static)
  add_library(rtr::rtr_static STATIC IMPORTED)
  set_target_properties(rtr::rtr_static PROPERTIES
    IMPORTED_LOCATION "${{_rtr_prefix}}/lib/librtr.a"
    INTERFACE_INCLUDE_DIRECTORIES "${{_rtr_prefix}}/include"
    INTERFACE_LINK_LIBRARIES "{static_libs}")
endif()

set(rtr_INCLUDE_DIRS "${{_rtr_prefix}}/include")
set(rtr_LIBRARIES rtr::rtr)
unset(_rtr_prefix)
"#,
        static_libs = static_libs.join(";")
    )
}

/// Compatibility: 0.x releases may change the ABI at every minor version
/// (the SONAME follows the major, so keep to the same minor before 1.0);
/// from 1.0 on, the same major.
fn cmake_version() -> String {
    format!(
        r#"set(PACKAGE_VERSION "{VERSION}")
if(PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
elseif(PACKAGE_FIND_VERSION_MAJOR STREQUAL "0")
  if("{VERSION}" MATCHES "^0\\.${{PACKAGE_FIND_VERSION_MINOR}}\\.")
    set(PACKAGE_VERSION_COMPATIBLE TRUE)
  else()
    set(PACKAGE_VERSION_COMPATIBLE FALSE)
  endif()
elseif("{VERSION}" MATCHES "^${{PACKAGE_FIND_VERSION_MAJOR}}\\.")
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
else()
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
endif()
if(PACKAGE_FIND_VERSION STREQUAL PACKAGE_VERSION)
  set(PACKAGE_VERSION_EXACT TRUE)
endif()
# A 64-bit library serves 64-bit projects only.
if(NOT CMAKE_SIZEOF_VOID_P STREQUAL "8")
  set(PACKAGE_VERSION "${{PACKAGE_VERSION}} (64bit)")
  set(PACKAGE_VERSION_UNSUITABLE TRUE)
endif()
"#
    )
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"))
}

fn size(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Build and install. Prints one line per installed file with its size.
pub fn dist(opts: &Options) -> Result<(), String> {
    let root = crate::workspace_root();
    if opts.build {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(&root)
            .args(["build", "--release", "-p", "rtr-ffi", "-p", "rtr-cli"])
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err(format!("cargo build --release failed ({status})"));
        }
    }
    let release = target_dir(&root).join("release");
    let built_so = release.join("librtr.so");
    let built_a = release.join("librtr.a");
    let built_rtr = release.join("rtr");
    for f in [&built_so, &built_a, &built_rtr] {
        if !f.is_file() {
            return Err(format!("{} is missing: run `cargo build --release -p rtr-ffi -p rtr-cli`", f.display()));
        }
    }

    let dest = opts.dest();
    mkdir(&dest)?;
    let dest = dest.canonicalize().map_err(io_err("resolve", &dest))?;
    // What the installed files name: the final place. Without a staging
    // root it exists now, resolved as the files were placed.
    let prefix = if opts.destdir.is_some() { opts.prefix.clone() } else { dest.clone() };
    let bin = dest.join("bin");
    let lib = dest.join("lib");
    let debug = lib.join("debug");
    let include = dest.join("include");
    let pkgconfig = lib.join("pkgconfig");
    let cmake = lib.join("cmake").join("rtr");
    let doc = dest.join("share").join("doc").join("rtr");
    for d in [&bin, &lib, &debug, &include, &pkgconfig, &cmake, &doc] {
        mkdir(d)?;
    }

    let so_real = format!("librtr.so.{VERSION}");
    let so_major = format!("librtr.so.{}", major());
    install_split(&built_so, &lib.join(&so_real), &debug, "--strip-unneeded")?;
    link(&so_real, &lib.join(&so_major))?;
    link(&so_major, &lib.join("librtr.so"))?;
    let a = lib.join("librtr.a");
    let tmp_a = lib.join(".librtr.a.tmp");
    clear(&tmp_a)?;
    run(Command::new(tool("OBJCOPY", "objcopy")).arg("--strip-debug").arg(&built_a).arg(&tmp_a))?;
    fs::rename(&tmp_a, &a).map_err(io_err("rename into", &a))?;
    install_split(&built_rtr, &bin.join("rtr"), &debug, "--strip-all")?;

    copy(&root.join("include").join("rtr.h"), &include.join("rtr.h"))?;
    write(&pkgconfig.join("rtr.pc"), &pc_file(&prefix))?;
    write(&cmake.join("rtrConfig.cmake"), &cmake_config())?;
    write(&cmake.join("rtrConfigVersion.cmake"), &cmake_version())?;
    copy(&root.join("LICENSE"), &doc.join("LICENSE"))?;
    copy(&root.join("README.md"), &doc.join("README.md"))?;

    match &opts.destdir {
        Some(d) => println!("installed rtr {VERSION} for {} staged in {}", prefix.display(), d.display()),
        None => println!("installed rtr {VERSION} in {}", prefix.display()),
    }
    for (path, from) in [
        (lib.join(&so_real), Some(&built_so)),
        (a.clone(), Some(&built_a)),
        (bin.join("rtr"), Some(&built_rtr)),
        (debug.join(format!("{so_real}.debug")), None),
        (debug.join("rtr.debug"), None),
    ] {
        let rel = path.strip_prefix(&dest).unwrap_or(&path).display().to_string();
        match from {
            Some(f) => println!("  {rel:<34} {:>12} bytes (built: {} bytes)", size(&path), size(f)),
            None => println!("  {rel:<34} {:>12} bytes", size(&path)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments() {
        assert!(parse_args(&args(&[])).is_err());
        assert!(parse_args(&args(&[""])).is_err());
        assert!(parse_args(&args(&["/a", "/b"])).is_err());
        assert!(parse_args(&args(&["--bogus", "/a"])).is_err());
        let o = parse_args(&args(&["/opt/rtr", "--no-build"])).unwrap();
        assert_eq!(o.prefix, PathBuf::from("/opt/rtr"));
        assert!(!o.build);
        assert!(parse_args(&args(&["/opt/rtr"])).unwrap().build);
    }

    #[test]
    fn destdir_stages_under_itself_and_needs_an_absolute_prefix() {
        let o = parse_args(&args(&["/opt/rtr"])).unwrap().with_destdir(Some("/tmp/stage".into())).unwrap();
        assert_eq!(o.dest(), PathBuf::from("/tmp/stage/opt/rtr"));
        assert_eq!(o.prefix, PathBuf::from("/opt/rtr"));
        let o = parse_args(&args(&["/opt/rtr"])).unwrap().with_destdir(Some("".into())).unwrap();
        assert_eq!((o.dest(), o.destdir), (PathBuf::from("/opt/rtr"), None), "an empty DESTDIR is none");
        let e = parse_args(&args(&["opt/rtr"])).unwrap().with_destdir(Some("/tmp/stage".into())).err().unwrap();
        assert!(e.contains("PREFIX must be absolute"), "{e}");
        assert!(parse_args(&args(&["opt/rtr"])).unwrap().with_destdir(None).is_ok());
    }

    #[test]
    fn pc_file_names_the_prefix_and_the_private_libraries() {
        let pc = pc_file(Path::new("/opt/rtr"));
        assert!(pc.starts_with("prefix=/opt/rtr\n"));
        assert!(pc.contains(&format!("Version: {VERSION}\n")));
        assert!(pc.contains("Libs: -L${libdir} -lrtr\n"));
        assert!(pc.contains("Libs.private: -lgcc_s"));
    }

    #[test]
    fn cmake_files_name_the_versioned_library() {
        let c = cmake_config();
        assert!(c.contains(&format!("lib/librtr.so.{VERSION}\"")));
        assert!(c.contains(&format!("IMPORTED_SONAME \"librtr.so.{}\"", major())));
        assert!(c.contains("INTERFACE_LINK_LIBRARIES \"gcc_s;util;rt;pthread;m;dl\""));
        assert!(cmake_version().contains(&format!("set(PACKAGE_VERSION \"{VERSION}\")")));
    }
}
