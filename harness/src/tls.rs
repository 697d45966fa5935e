//! The process's one TLS client configuration: the platform's trusted roots
//! (through `rustls-platform-verifier`, as reqwest would use them) plus the
//! certificate authorities added with [`trust_pem_file`] or [`trust_pem`]
//! (`--ca-cert`, `ORYGATE_CA_CERT`; a test's throw-away CA). Every agent
//! speaks `https://` through it (HTTP/1.1 by ALPN), and it is built once and
//! shared: reading the system's certificates for every client cost a
//! millisecond of CPU and some 200 KB per user of a load run.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::error::{Error, Result};

/// The configuration and what it trusts besides the platform's roots.
#[derive(Default)]
struct Trust {
    extra: Vec<CertificateDer<'static>>,
    config: Option<Arc<ClientConfig>>,
}

static TRUST: Mutex<Trust> = Mutex::new(Trust {
    extra: Vec::new(),
    config: None,
});

/// Trusts the certificate authorities in the PEM file at `path` for every
/// agent made from now on.
pub fn trust_pem_file(path: &Path) -> Result<()> {
    let pem = std::fs::read(path).map_err(|e| Error::Config {
        path: path.display().to_string(),
        reason: format!("cannot read the CA certificate: {e}"),
    })?;
    trust_pem(&pem).map_err(|reason| Error::Config {
        path: path.display().to_string(),
        reason,
    })
}

/// Trusts the certificate authorities in `pem` for every agent made from
/// now on; says why when it holds none.
pub fn trust_pem(pem: &[u8]) -> Result<(), String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| format!("not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err("no CERTIFICATE block in it".into());
    }
    let mut trust = TRUST.lock().expect("tls lock");
    trust.extra.extend(certs);
    trust.config = None;
    Ok(())
}

/// The configuration every agent connects with.
pub(crate) fn config() -> Result<Arc<ClientConfig>> {
    let mut trust = TRUST.lock().expect("tls lock");
    if let Some(config) = &trust.config {
        return Ok(Arc::clone(config));
    }
    let config = Arc::new(build(&trust.extra)?);
    trust.config = Some(Arc::clone(&config));
    Ok(config)
}

/// A configuration for reqwest's clients, which only build requests (the
/// agents send them): one that trusts nothing, so that building a client
/// never reads the system's certificates.
pub(crate) fn for_building() -> ClientConfig {
    static EMPTY: std::sync::OnceLock<ClientConfig> = std::sync::OnceLock::new();
    EMPTY
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("the default provider supports the default versions")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        })
        .clone()
}

fn build(extra: &[CertificateDer<'static>]) -> Result<ClientConfig> {
    let failed = |reason: String| Error::Config {
        path: "TLS".into(),
        reason,
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = if extra.is_empty() {
        rustls_platform_verifier::Verifier::new(Arc::clone(&provider))
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(
            extra.iter().cloned(),
            Arc::clone(&provider),
        )
    }
    .map_err(|e| failed(format!("cannot load the trusted roots: {e}")))?;
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| failed(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // The agents speak HTTP/1.1 on their connections.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_refused_naming_it() {
        let dir = std::env::temp_dir().join(format!("orygate-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = trust_pem_file(&empty).unwrap_err().to_string();
        assert!(err.contains("empty.pem"), "{err}");
        assert!(err.contains("no CERTIFICATE block"), "{err}");
        let missing = trust_pem_file(&dir.join("missing.pem")).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("cannot read the CA certificate"),
            "{missing}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
