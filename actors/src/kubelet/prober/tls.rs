//! The TLS of HTTPS probes and hooks. Like the kubelet's (Go's `InsecureSkipVerify`), it does
//! not verify the server's certificate: a probe targets the pod itself, whose certificate is
//! commonly self-signed or names a service rather than the address probed. The handshake still
//! proves the server holds the key of the certificate it sent (its signatures are checked with
//! ring's algorithms), as Go's does.

use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Makes the TLS handshake over `stream` with the server at `ip`. No SNI is sent: the name is
/// an IP address, for which TLS has none (Go sends none either).
pub async fn connect(stream: TcpStream, ip: IpAddr) -> Result<TlsStream<TcpStream>, String> {
    let config = client_config().map_err(|error| error.to_string())?;
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::IpAddress(ip.into()), stream)
        .await
        .map_err(|error| format!("tls: {error}"))
}

/// TLS 1.2 and 1.3 with ring, any certificate accepted, no client certificate.
fn client_config() -> Result<ClientConfig, rustls::Error> {
    let provider = rustls::crypto::ring::default_provider();
    let verifier = AnyCertificate {
        algorithms: provider.signature_verification_algorithms,
    };
    Ok(ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// Accepts any certificate, but checks the handshake's signatures against it.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
