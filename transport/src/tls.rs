//! rustls and quinn configurations for both ends of a flotilla connection.
//!
//! Both ends use TLS 1.3 (the only version QUIC allows) with the *ring* crypto provider passed in
//! explicitly, so nothing depends on a process-wide default provider being installed. The server
//! trusts only client certificates signed by the cluster CA (optionally also clients without
//! one, for bootstrap) and presents its CA along with its own certificate, so a client that pins
//! the CA by hash can check it. The QUIC-level limits come from [`TransportLimits`].

use crate::error::TransportError;
use crate::limits::TransportLimits;
use crate::pki::{CaPin, Credentials};
use crate::revocation::Revocations;
use crate::verify::{PinnedCaVerifier, RevocationVerifier};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::{Arc, Mutex};

/// The ALPN protocol name both ends must agree on. It names the protocol family only; the
/// version is exchanged in the first frame, so a mismatch can be reported with both versions.
pub const ALPN_NAME: &str = "flotilla";

/// How the server treats client certificates.
pub(crate) struct ClientAuth {
    /// Also accept clients without a certificate (they are anonymous to the handler).
    pub(crate) allow_anonymous: bool,
    /// Consulted for every certificate that passes the CA check.
    pub(crate) revoked: Option<Arc<Revocations>>,
}

/// The QUIC configuration of a server presenting `creds` and requiring client certificates
/// signed by `creds.ca_pem`.
pub(crate) fn server_config(
    creds: &Credentials,
    auth: ClientAuth,
    limits: &TransportLimits,
) -> Result<quinn::ServerConfig, TransportError> {
    limits.validate()?;
    let provider = provider();
    let roots = trust_roots(&creds.ca_pem)?;
    let mut builder = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
    if auth.allow_anonymous {
        builder = builder.allow_unauthenticated();
    }
    let mut verifier: Arc<dyn ClientCertVerifier> = builder
        .build()
        .map_err(|source| TransportError::ClientVerifier { source })?;
    if let Some(revoked) = auth.revoked {
        verifier = Arc::new(RevocationVerifier {
            inner: verifier,
            revoked,
        });
    }
    let mut chain = cert_chain(&creds.cert_pem)?;
    chain.extend(ca_certs(&creds.ca_pem)?);
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|source| TransportError::TlsConfig { source })?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, private_key(&creds.key_pem)?)
        .map_err(|source| TransportError::TlsConfig { source })?;
    tls.alpn_protocols = vec![ALPN_NAME.as_bytes().to_vec()];
    let crypto =
        QuicServerConfig::try_from(tls).map_err(|source| TransportError::QuicCrypto { source })?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(limits.quic()));
    Ok(config)
}

/// The QUIC configuration of a client presenting `creds` and trusting servers signed by
/// `creds.ca_pem`.
pub(crate) fn client_config(
    creds: &Credentials,
    limits: &TransportLimits,
) -> Result<quinn::ClientConfig, TransportError> {
    limits.validate()?;
    let roots = trust_roots(&creds.ca_pem)?;
    let tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|source| TransportError::TlsConfig { source })?
        .with_root_certificates(roots)
        .with_client_auth_cert(cert_chain(&creds.cert_pem)?, private_key(&creds.key_pem)?)
        .map_err(|source| TransportError::TlsConfig { source })?;
    quic_client(tls, limits)
}

/// The QUIC configuration of a client without a certificate that trusts the server's CA by its
/// pin. A CA that does not match leaves the pins it saw in `mismatch`.
pub(crate) fn pinned_client_config(
    pin: CaPin,
    limits: &TransportLimits,
    mismatch: Arc<Mutex<Option<String>>>,
) -> Result<quinn::ClientConfig, TransportError> {
    limits.validate()?;
    let provider = provider();
    let verifier = PinnedCaVerifier::new(pin, provider.clone(), mismatch);
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|source| TransportError::TlsConfig { source })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    quic_client(tls, limits)
}

fn quic_client(
    mut tls: rustls::ClientConfig,
    limits: &TransportLimits,
) -> Result<quinn::ClientConfig, TransportError> {
    tls.alpn_protocols = vec![ALPN_NAME.as_bytes().to_vec()];
    let crypto =
        QuicClientConfig::try_from(tls).map_err(|source| TransportError::QuicCrypto { source })?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(limits.quic()));
    Ok(config)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn ca_certs(ca_pem: &str) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    CertificateDer::pem_slice_iter(ca_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TransportError::CredentialsPem {
            what: "CA certificate",
            source,
        })
}

fn trust_roots(ca_pem: &str) -> Result<Arc<RootCertStore>, TransportError> {
    let mut roots = RootCertStore::empty();
    for cert in ca_certs(ca_pem)? {
        roots
            .add(cert)
            .map_err(|source| TransportError::TrustRoot { source })?;
    }
    if roots.is_empty() {
        return Err(TransportError::CredentialsMissing {
            what: "CA certificate",
        });
    }
    Ok(Arc::new(roots))
}

fn cert_chain(cert_pem: &str) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TransportError::CredentialsPem {
            what: "certificate",
            source,
        })?;
    if chain.is_empty() {
        return Err(TransportError::CredentialsMissing {
            what: "certificate",
        });
    }
    Ok(chain)
}

fn private_key(key_pem: &str) -> Result<PrivateKeyDer<'static>, TransportError> {
    PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|source| match source {
        rustls_pki_types::pem::Error::NoItemsFound => TransportError::CredentialsMissing {
            what: "private key",
        },
        source => TransportError::CredentialsPem {
            what: "private key",
            source,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::pki::ClusterPki;

    const DAY: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

    fn no_extra_auth() -> ClientAuth {
        ClientAuth {
            allow_anonymous: false,
            revoked: None,
        }
    }

    fn client_creds() -> Credentials {
        let pki = ClusterPki::create(time::OffsetDateTime::now_utc()).unwrap();
        pki.issue_client(&Identity::new("admin", "admin"), DAY)
            .unwrap()
    }

    #[test]
    fn valid_credentials_make_both_configs() {
        let creds = client_creds();
        let limits = TransportLimits::default();
        client_config(&creds, &limits).unwrap();
        server_config(&creds, no_extra_auth(), &limits).unwrap();
    }

    #[test]
    fn empty_ca_is_refused() {
        let creds = Credentials {
            ca_pem: String::new(),
            ..client_creds()
        };
        assert!(matches!(
            client_config(&creds, &TransportLimits::default()),
            Err(TransportError::CredentialsMissing {
                what: "CA certificate"
            })
        ));
    }

    #[test]
    fn missing_key_is_refused() {
        let creds = Credentials {
            key_pem: "garbage".into(),
            ..client_creds()
        };
        assert!(matches!(
            server_config(&creds, no_extra_auth(), &TransportLimits::default()),
            Err(TransportError::CredentialsMissing {
                what: "private key"
            })
        ));
    }

    #[test]
    fn invalid_limits_are_refused_before_anything_is_built() {
        let limits = TransportLimits {
            max_frame_bytes: 0,
            ..TransportLimits::default()
        };
        assert!(matches!(
            client_config(&client_creds(), &limits),
            Err(TransportError::InvalidLimits { .. })
        ));
    }

    #[test]
    fn key_of_another_certificate_is_refused() {
        let other = client_creds();
        let creds = Credentials {
            key_pem: other.key_pem,
            ..client_creds()
        };
        assert!(matches!(
            server_config(&creds, no_extra_auth(), &TransportLimits::default()),
            Err(TransportError::TlsConfig { .. })
        ));
    }
}
