//! `rtr cert`: the certificates of a cluster's node links (issue 17), made
//! with rcgen (the well-kept pure-Rust generator; no openssl command line
//! to get right): a CA, and per node a certificate whose DNS name is the
//! node's name, for both ends of a link (server and client use).
//!
//! Files: `ca.pem` (give it to every node: `--tls-ca`), `ca.key` (keep it
//! off the nodes), `NAME.pem` and `NAME.key` (`--tls-cert`, `--tls-key`).
//! Keys are written with mode 0600 and never over an existing file.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

#[derive(clap::Subcommand)]
pub enum CertCmd {
    /// Make a cluster CA: DIR/ca.pem (the certificate every node trusts,
    /// --tls-ca) and DIR/ca.key (its key: keep it safe, off the nodes).
    Ca {
        /// The directory to write to (made if absent).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The CA's name in its certificate [default: "rtr cluster CA"
        /// and a number of its own, so that two clusters' CAs never share
        /// a name and a certificate of the other is named as such].
        #[arg(long)]
        name: Option<String>,
        /// Years the CA is valid.
        #[arg(long, default_value_t = 10)]
        years: u32,
    },
    /// Make node NAME's certificate, signed by the CA of --ca DIR:
    /// OUT/NAME.pem (--tls-cert) and OUT/NAME.key (--tls-key).
    Node {
        /// The node's name, as in facility definitions and `rtr start --name`.
        name: String,
        /// The CA's directory (ca.pem and ca.key, from `rtr cert ca`).
        #[arg(long, value_name = "DIR")]
        ca: PathBuf,
        /// The directory to write to (made if absent).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Years the certificate is valid.
        #[arg(long, default_value_t = 2)]
        years: u32,
    },
}

pub fn run(cmd: CertCmd) -> Result<(), String> {
    match cmd {
        CertCmd::Ca { out, name, years } => {
            let name = name.unwrap_or_else(|| {
                let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                format!("rtr cluster CA {:x}{:x}", t.as_secs(), std::process::id() ^ t.subsec_nanos())
            });
            let (cert, key) = make_ca(&name, years)?;
            write_pair(&out, "ca", &cert, &key)?;
            println!(
                "CA written: {} (give it to every node: --tls-ca) and {} (keep it safe)",
                out.join("ca.pem").display(),
                out.join("ca.key").display()
            );
            Ok(())
        }
        CertCmd::Node { name, ca, out, years } => {
            let name =
                rtr_core::facility::node_name(&name).map_err(|why| format!("invalid node name {name:?}: {why}"))?;
            let read = |f: &str| {
                let p = ca.join(f);
                std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))
            };
            let (cert, key) = make_node(&name, &read("ca.pem")?, &read("ca.key")?, years)?;
            write_pair(&out, &name, &cert, &key)?;
            println!(
                "node {name}: {} (--tls-cert) and {} (--tls-key)",
                out.join(format!("{name}.pem")).display(),
                out.join(format!("{name}.key")).display()
            );
            Ok(())
        }
    }
}

/// A validity from the start of this year (a clock a little behind is no
/// matter) to `years` after it.
fn validity(params: &mut CertificateParams, years: u32) {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // Within a day of the true year is enough: the start is a year back.
    let year = 1970 + (secs / 31_556_952) as i32;
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + years.max(1) as i32, 1, 1);
}

/// A new CA: its certificate and key, PEM.
pub fn make_ca(name: &str, years: u32) -> Result<(String, String), String> {
    let key = KeyPair::generate().map_err(|e| format!("cannot make a key: {e}"))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut params, years);
    let cert = params.self_signed(&key).map_err(|e| format!("cannot make the CA certificate: {e}"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A certificate for node `name` signed by the CA (PEM texts): its DNS
/// name is the node's, for both ends of a link.
pub fn make_node(name: &str, ca_pem: &str, ca_key_pem: &str, years: u32) -> Result<(String, String), String> {
    let ca_key = KeyPair::from_pem(ca_key_pem).map_err(|e| format!("ca.key: {e}"))?;
    let issuer = Issuer::from_ca_cert_pem(ca_pem, ca_key).map_err(|e| format!("ca.pem: {e}"))?;
    let mut params = CertificateParams::new(vec![name.to_string()])
        .map_err(|e| format!("node name {name} cannot be a certificate name: {e}"))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    validity(&mut params, years);
    let key = KeyPair::generate().map_err(|e| format!("cannot make a key: {e}"))?;
    let cert = params.signed_by(&key, &issuer).map_err(|e| format!("cannot sign the certificate: {e}"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// DIR/STEM.pem (0644) and DIR/STEM.key (0600), neither written over an
/// existing file nor through a symbolic link.
fn write_pair(dir: &Path, stem: &str, cert: &str, key: &str) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let write = |name: String, text: &str, mode: u32| -> Result<(), String> {
        let p = dir.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&p)
            .map_err(|e| format!("{}: {e} (certificates and keys are never written over)", p.display()))?;
        // The umask may have taken bits off; set exactly.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(|e| format!("{}: {e}", p.display()))?;
        f.write_all(text.as_bytes()).map_err(|e| format!("{}: {e}", p.display()))
    };
    // The key first: a failure leaves no certificate without its key.
    write(format!("{stem}.key"), key, 0o600)?;
    write(format!("{stem}.pem"), cert, 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtr_core::transport::tls::TlsSetup;

    #[test]
    fn a_node_certificate_names_its_node_and_loads_only_as_it() {
        let (ca, ca_key) = make_ca("test CA", 1).unwrap();
        let (cert, key) = make_node("alpha", &ca, &ca_key, 1).unwrap();
        TlsSetup::from_pem("alpha", ca.as_bytes(), cert.as_bytes(), key.as_bytes()).unwrap();
        let e = TlsSetup::from_pem("beta", ca.as_bytes(), cert.as_bytes(), key.as_bytes()).unwrap_err();
        assert!(e.contains("does not name node beta"), "{e}");
        // Another node's key with this certificate.
        let (_, other_key) = make_node("beta", &ca, &ca_key, 1).unwrap();
        let e = TlsSetup::from_pem("alpha", ca.as_bytes(), cert.as_bytes(), other_key.as_bytes()).unwrap_err();
        assert!(e.contains("tls.key"), "{e}");
    }

    #[test]
    fn keys_are_0600_and_never_written_over() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("ca");
        run(CertCmd::Ca { out: out.clone(), name: None, years: 1 }).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&out.join("ca.key")), 0o600);
        assert_eq!(mode(&out.join("ca.pem")), 0o644);
        let before = std::fs::read(out.join("ca.key")).unwrap();
        let e = run(CertCmd::Ca { out: out.clone(), name: None, years: 1 }).unwrap_err();
        assert!(e.contains("never written over"), "{e}");
        assert_eq!(std::fs::read(out.join("ca.key")).unwrap(), before);
        run(CertCmd::Node { name: "n1".into(), ca: out.clone(), out: out.clone(), years: 1 }).unwrap();
        assert_eq!(mode(&out.join("n1.key")), 0o600);
        let e = run(CertCmd::Node { name: "bad name".into(), ca: out.clone(), out, years: 1 }).unwrap_err();
        assert!(e.contains("invalid node name"), "{e}");
    }
}
