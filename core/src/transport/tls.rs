//! Mutual TLS for node links (issue 17), with rustls and its `ring`
//! provider, TLS 1.3 only (both ends are this program).
//!
//! Identity: a node's certificate carries its node name as a DNS subject
//! alternative name and chains to the cluster's CA (`rtr cert` makes both).
//! - The dialler verifies that the acceptor's certificate chains to the CA
//!   and is valid for the name of the node it dialled (rustls' server name
//!   check).
//! - The acceptor requires a client certificate chaining to the CA; the
//!   session then checks that it names the node the hello claims
//!   ([`cert_names`]), before `FacilityTable::agree` checks that node's
//!   roles. So a node can only ever link as itself.
//!
//! Nothing here does I/O but [`TlsSetup::load`] (reading the PEM files at
//! start); the connections are driven by `transport/stream.rs`.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, DnsName, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

/// The configured TLS of a node's links: its identity and the CA it
/// trusts, as rustls configurations for both sides of a link.
pub struct TlsSetup {
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsSetup")
    }
}

impl TlsSetup {
    /// Read the CA certificate(s), this node's certificate chain and its
    /// private key (PEM files), and check that the certificate names node
    /// `me`: a node started with another node's certificate fails here,
    /// not at its first link.
    pub fn load(me: &str, ca: &Path, cert: &Path, key: &Path) -> Result<TlsSetup, String> {
        let read = |what: &str, p: &Path| std::fs::read(p).map_err(|e| format!("tls.{what} {}: {e}", p.display()));
        TlsSetup::from_pem(me, &read("ca", ca)?, &read("cert", cert)?, &read("key", key)?)
    }

    /// [`TlsSetup::load`] from the files' contents.
    pub fn from_pem(me: &str, ca_pem: &[u8], cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsSetup, String> {
        let certs = |what: &str, pem: &[u8]| -> Result<Vec<CertificateDer<'static>>, String> {
            let v = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("tls.{what}: not PEM certificates: {e}"))?;
            if v.is_empty() {
                return Err(format!("tls.{what}: no certificate in the file"));
            }
            Ok(v)
        };
        let ca = certs("ca", ca_pem)?;
        let chain = certs("cert", cert_pem)?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("tls.key: no private key: {e}"))?;
        if !cert_names(&chain[0], me) {
            return Err(format!("tls.cert: the certificate does not name node {me} (it is another node's)"));
        }
        let mut roots = RootCertStore::empty();
        for c in ca {
            roots.add(c).map_err(|e| format!("tls.ca: not a CA certificate: {e}"))?;
        }
        let roots = Arc::new(roots);
        // ring, not aws-lc-rs: no cmake or clang to build. rustls marks it
        // deprecated for lacking post-quantum key exchange; X25519 with
        // TLS 1.3 is what these links get.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions = &[&rustls::version::TLS13];

        let server_verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(|e| format!("tls.ca: {e}"))?;
        let client = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| format!("tls: {e}"))?
            .with_webpki_verifier(server_verifier)
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .map_err(|e| format!("tls.key: does not go with tls.cert: {e}"))?;

        let webpki = rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| format!("tls.ca: {e}"))?;
        let client_verifier = Arc::new(NamingRejects(webpki));
        let server = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .map_err(|e| format!("tls: {e}"))?
            .with_client_cert_verifier(client_verifier)
            .with_single_cert(chain, key)
            .map_err(|e| format!("tls.key: does not go with tls.cert: {e}"))?;
        Ok(TlsSetup { client: Arc::new(client), server: Arc::new(server) })
    }

    /// A client connection to node `peer`: its certificate must name it.
    pub fn dial(&self, peer: &str) -> Result<ClientConnection, String> {
        let name = DnsName::try_from(peer.to_string())
            .map_err(|_| format!("node name {peer} cannot be a certificate name (DNS name)"))?;
        ClientConnection::new(self.client.clone(), ServerName::DnsName(name)).map_err(|e| format!("TLS: {e}"))
    }

    /// A server connection for an accepted link.
    pub fn accept(&self) -> Result<ServerConnection, String> {
        ServerConnection::new(self.server.clone()).map_err(|e| format!("TLS: {e}"))
    }
}

thread_local! {
    /// The certificate the last client-certificate check on this thread
    /// rejected. The check runs inside `process_new_packets`, on the link's
    /// own thread, which takes it right after the failure.
    static REJECTED: std::cell::RefCell<Option<CertificateDer<'static>>> = const { std::cell::RefCell::new(None) };
}

/// The node names a client certificate that the CA check rejected on this
/// thread claims (unverified: for the acceptor's `rtr show link` only).
pub(crate) fn take_rejected_names() -> Vec<String> {
    let Some(cert) = REJECTED.with(|r| r.borrow_mut().take()) else { return Vec::new() };
    let Ok(ee) = webpki::EndEntityCert::try_from(&cert) else { return Vec::new() };
    ee.valid_dns_names().map(str::to_string).collect()
}

/// rustls' WebPKI client verifier, unchanged in every decision, which also
/// remembers the certificate it rejects: so the acceptor can say which
/// node a certificate of another CA claims to be.
#[derive(Debug)]
struct NamingRejects(Arc<dyn rustls::server::danger::ClientCertVerifier>);

impl rustls::server::danger::ClientCertVerifier for NamingRejects {
    fn offer_client_auth(&self) -> bool {
        self.0.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.0.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        let r = self.0.verify_client_cert(end_entity, intermediates, now);
        if r.is_err() {
            REJECTED.with(|c| *c.borrow_mut() = Some(end_entity.clone().into_owned()));
        }
        r
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Whether `cert` (an end-entity certificate, its chain already verified)
/// is valid for node name `node`: a DNS subject alternative name equal to
/// it (case-insensitively, as DNS names are).
pub fn cert_names(cert: &CertificateDer<'_>, node: &str) -> bool {
    let Ok(ee) = webpki::EndEntityCert::try_from(cert) else { return false };
    let Ok(name) = DnsName::try_from(node.to_string()) else { return false };
    ee.verify_is_valid_for_subject_name(&ServerName::DnsName(name)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};

    /// A CA: its PEM certificate and an issuer to sign with.
    fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = p.self_signed(&key).unwrap();
        (cert.pem(), Issuer::new(p, key))
    }

    /// A node certificate for `names` and its key (PEM).
    fn node(names: &[&str], issuer: &Issuer<'static, KeyPair>) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        (p.signed_by(&key, issuer).unwrap().pem(), key.serialize_pem())
    }

    fn setup(me: &str, ca_pem: &str, (cert, key): &(String, String)) -> TlsSetup {
        TlsSetup::from_pem(me, ca_pem.as_bytes(), cert.as_bytes(), key.as_bytes()).unwrap()
    }

    /// Run a handshake in memory: which side failed, and how.
    fn handshake(c: &mut ClientConnection, s: &mut ServerConnection) -> Result<(), (&'static str, rustls::Error)> {
        for _ in 0..10 {
            let mut buf = Vec::new();
            while c.wants_write() {
                c.write_tls(&mut buf).unwrap();
            }
            if !buf.is_empty() {
                s.read_tls(&mut &buf[..]).unwrap();
                s.process_new_packets().map_err(|e| ("server", e))?;
            }
            let mut buf = Vec::new();
            while s.wants_write() {
                s.write_tls(&mut buf).unwrap();
            }
            if !buf.is_empty() {
                c.read_tls(&mut &buf[..]).unwrap();
                c.process_new_packets().map_err(|e| ("client", e))?;
            }
            if !c.is_handshaking() && !s.is_handshaking() {
                return Ok(());
            }
        }
        panic!("the handshake did not end");
    }

    #[test]
    fn nodes_of_one_ca_link_and_the_acceptor_learns_the_dialler_s_name() {
        let (ca_pem, ca) = ca("cluster");
        let a = setup("a", &ca_pem, &node(&["a"], &ca));
        let b = setup("b", &ca_pem, &node(&["b"], &ca));
        let (mut c, mut s) = (a.dial("b").unwrap(), b.accept().unwrap());
        handshake(&mut c, &mut s).unwrap();
        let peer = &s.peer_certificates().unwrap()[0];
        assert!(cert_names(peer, "a") && cert_names(peer, "A") && !cert_names(peer, "b"));
    }

    #[test]
    fn the_dialler_refuses_an_acceptor_that_is_not_the_node_it_dialled() {
        let (ca_pem, ca) = ca("cluster");
        let a = setup("a", &ca_pem, &node(&["a"], &ca));
        let x = setup("x", &ca_pem, &node(&["x"], &ca));
        let (mut c, mut s) = (a.dial("b").unwrap(), x.accept().unwrap());
        let (side, e) = handshake(&mut c, &mut s).unwrap_err();
        assert_eq!(side, "client");
        assert!(e.to_string().contains("NotValidForName") || e.to_string().contains("not valid for name"), "{e}");
    }

    #[test]
    fn another_ca_is_refused_on_both_sides_and_the_acceptor_names_the_claim() {
        let (ca_pem, ca1) = ca("cluster");
        let (other_pem, ca2) = ca("other");
        let b = setup("b", &ca_pem, &node(&["b"], &ca1));
        // A dialler that trusts the other CA: it refuses b's certificate.
        let a2 = setup("a", &other_pem, &node(&["a"], &ca2));
        let (mut c, mut s) = (a2.dial("b").unwrap(), b.accept().unwrap());
        let (side, e) = handshake(&mut c, &mut s).unwrap_err();
        assert_eq!(side, "client");
        assert!(e.to_string().contains("UnknownIssuer"), "{e}");
        // One that trusts this cluster's CA but has a certificate of its
        // own making: b refuses it, and knows which name it claimed.
        let forged = setup("a", &ca_pem, &node(&["a"], &ca2));
        let (mut c, mut s) = (forged.dial("b").unwrap(), b.accept().unwrap());
        let (side, e) = handshake(&mut c, &mut s).unwrap_err();
        assert_eq!(side, "server");
        assert!(e.to_string().contains("UnknownIssuer"), "{e}");
        assert_eq!(take_rejected_names(), ["a"]);
        assert!(take_rejected_names().is_empty(), "taken once");
    }

    #[test]
    fn a_node_cannot_load_another_node_s_certificate_or_bad_pem() {
        let (ca_pem, ca) = ca("cluster");
        let pair = node(&["a"], &ca);
        let e = TlsSetup::from_pem("b", ca_pem.as_bytes(), pair.0.as_bytes(), pair.1.as_bytes()).unwrap_err();
        assert!(e.contains("does not name node b"), "{e}");
        let e = TlsSetup::from_pem("a", b"junk", pair.0.as_bytes(), pair.1.as_bytes()).unwrap_err();
        assert!(e.contains("tls.ca"), "{e}");
        let e = TlsSetup::from_pem("a", ca_pem.as_bytes(), pair.0.as_bytes(), b"").unwrap_err();
        assert!(e.contains("tls.key"), "{e}");
    }
}
