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

        let client_verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| format!("tls.ca: {e}"))?;
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

/// Whether `cert` (an end-entity certificate, its chain already verified)
/// is valid for node name `node`: a DNS subject alternative name equal to
/// it (case-insensitively, as DNS names are).
pub fn cert_names(cert: &CertificateDer<'_>, node: &str) -> bool {
    let Ok(ee) = webpki::EndEntityCert::try_from(cert) else { return false };
    let Ok(name) = DnsName::try_from(node.to_string()) else { return false };
    ee.verify_is_valid_for_subject_name(&ServerName::DnsName(name)).is_ok()
}
