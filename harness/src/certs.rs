//! A production-like stack's certificate authority: made at its start,
//! thrown away with it. It signs one server certificate for `127.0.0.1`,
//! `::1` and `localhost` that every public API of the stack serves, and
//! the process's agents trust it (see [`crate::tls`]), as a deployment's
//! clients trust its CA.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use crate::error::{Error, Result};

/// A stack's CA and the certificate its services serve, in PEM.
#[derive(Clone)]
pub struct StackCertificates {
    /// The CA's certificate: what a client outside the harness (curl
    /// `--cacert`, a browser) trusts to reach the stack.
    pub ca_pem: String,
    /// The services' certificate, for the loopback names.
    pub(crate) server_pem: String,
    /// Its private key (PKCS#8).
    pub(crate) server_key_pem: String,
}

impl std::fmt::Debug for StackCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs.
        f.debug_struct("StackCertificates")
            .field("ca_pem", &format_args!("{} bytes", self.ca_pem.len()))
            .finish_non_exhaustive()
    }
}

impl StackCertificates {
    /// A new CA named after the stack, and a server certificate it signs,
    /// and trusts the CA for every agent made from now on.
    pub(crate) fn generate(stack: &str) -> Result<Self> {
        let failed = |e: rcgen::Error| Error::Config {
            path: format!("the certificates of stack {stack}"),
            reason: e.to_string(),
        };
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.distinguished_name
            .push(DnType::CommonName, format!("orygate stack {stack} CA"));
        let ca_key = KeyPair::generate().map_err(failed)?;
        let ca_cert = ca.self_signed(&ca_key).map_err(failed)?;
        let issuer = Issuer::new(ca, ca_key);

        let mut server = CertificateParams::new(vec![
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            "localhost".to_owned(),
        ])
        .map_err(failed)?;
        server
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        let server_key = KeyPair::generate().map_err(failed)?;
        let server_cert = server.signed_by(&server_key, &issuer).map_err(failed)?;
        let certificates = Self {
            ca_pem: ca_cert.pem(),
            server_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
        };
        crate::tls::trust_pem(certificates.ca_pem.as_bytes()).map_err(|reason| Error::Config {
            path: format!("the CA of stack {stack}"),
            reason,
        })?;
        Ok(certificates)
    }
}
