//! rustls and quinn configurations for both ends of a flotilla connection.
//!
//! Both ends use mutual TLS 1.3 (the only version QUIC allows) with the *ring* crypto provider
//! passed in explicitly, so nothing depends on a process-wide default provider being installed.
//! The server trusts only client certificates signed by the cluster CA; the client trusts only a
//! server certificate signed by it. Transport limits are finite so one peer cannot make the
//! other hold unbounded state.

use crate::error::TransportError;
use crate::pki::Credentials;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{IdleTimeout, TransportConfig, VarInt};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use std::time::Duration;

/// The ALPN protocol name both ends must agree on.
pub const ALPN_NAME: &str = "flotilla/1";

/// How many calls may be in flight at once on one connection.
const MAX_CONCURRENT_CALLS: u32 = 256;
/// How long a silent connection lives.
const IDLE_TIMEOUT_MS: u32 = 30_000;
/// How often an otherwise idle connection is pinged to keep it alive.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// The QUIC configuration of a server presenting `creds` and requiring client certificates
/// signed by `creds.ca_pem`.
pub(crate) fn server_config(creds: &Credentials) -> Result<quinn::ServerConfig, TransportError> {
    let provider = provider();
    let roots = trust_roots(&creds.ca_pem)?;
    let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|source| TransportError::ClientVerifier { source })?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|source| TransportError::TlsConfig { source })?
        .with_client_cert_verifier(verifier)
        .with_single_cert(cert_chain(&creds.cert_pem)?, private_key(&creds.key_pem)?)
        .map_err(|source| TransportError::TlsConfig { source })?;
    tls.alpn_protocols = vec![ALPN_NAME.as_bytes().to_vec()];
    let crypto =
        QuicServerConfig::try_from(tls).map_err(|source| TransportError::QuicCrypto { source })?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(transport_config()));
    Ok(config)
}

/// The QUIC configuration of a client presenting `creds` and trusting servers signed by
/// `creds.ca_pem`.
pub(crate) fn client_config(creds: &Credentials) -> Result<quinn::ClientConfig, TransportError> {
    let roots = trust_roots(&creds.ca_pem)?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|source| TransportError::TlsConfig { source })?
        .with_root_certificates(roots)
        .with_client_auth_cert(cert_chain(&creds.cert_pem)?, private_key(&creds.key_pem)?)
        .map_err(|source| TransportError::TlsConfig { source })?;
    tls.alpn_protocols = vec![ALPN_NAME.as_bytes().to_vec()];
    let crypto =
        QuicClientConfig::try_from(tls).map_err(|source| TransportError::QuicCrypto { source })?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(transport_config()));
    Ok(config)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn transport_config() -> TransportConfig {
    let mut transport = TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(VarInt::from_u32(MAX_CONCURRENT_CALLS))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .max_idle_timeout(Some(IdleTimeout::from(VarInt::from_u32(IDLE_TIMEOUT_MS))))
        .keep_alive_interval(Some(KEEP_ALIVE));
    transport
}

fn trust_roots(ca_pem: &str) -> Result<Arc<RootCertStore>, TransportError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|source| TransportError::CredentialsPem {
            what: "CA certificate",
            source,
        })?;
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

    const DAY: Duration = Duration::from_secs(24 * 60 * 60);

    fn client_creds() -> Credentials {
        let pki = ClusterPki::create(time::OffsetDateTime::now_utc()).unwrap();
        pki.issue_client(&Identity::new("admin", "admin"), DAY)
            .unwrap()
    }

    #[test]
    fn valid_credentials_make_both_configs() {
        let creds = client_creds();
        client_config(&creds).unwrap();
        server_config(&creds).unwrap();
    }

    #[test]
    fn empty_ca_is_refused() {
        let creds = Credentials {
            ca_pem: String::new(),
            ..client_creds()
        };
        assert!(matches!(
            client_config(&creds),
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
            server_config(&creds),
            Err(TransportError::CredentialsMissing {
                what: "private key"
            })
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
            server_config(&creds),
            Err(TransportError::TlsConfig { .. })
        ));
    }
}
