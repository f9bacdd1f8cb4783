//! Certificate checks beyond "signed by the cluster CA": the server's revocation list, and a
//! client that trusts a server by the SHA-256 pin of its CA instead of a CA file.
//!
//! Both wrap rustls' own WebPKI verifiers, so chain building, validity windows and name checks
//! stay rustls' job; these only add the one decision flotilla needs. Failing inside the
//! handshake (rather than after it) means a revoked or mis-pinned peer never gets a connection
//! and the other side sees a proper TLS alert.

use crate::pki::{CaPin, ca_pin_of_der};
use crate::revocation::Revocations;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::{Arc, Mutex, PoisonError};
use x509_parser::prelude::{FromDer, X509Certificate};

/// A client verifier that consults the [`Revocations`] after the usual checks pass.
pub(crate) struct RevocationVerifier {
    pub(crate) inner: Arc<dyn ClientCertVerifier>,
    pub(crate) revoked: Arc<Revocations>,
}

impl std::fmt::Debug for RevocationVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationVerifier")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl ClientCertVerifier for RevocationVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        // A certificate that does not parse here was refused by the checks above.
        let Ok((_, cert)) = X509Certificate::from_der(end_entity) else {
            return Ok(verified);
        };
        if self.revoked.reason(cert.raw_serial()).is_some() {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Revoked));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A server verifier that trusts exactly the CA whose certificate hashes to the pin. The server
/// sends its CA certificate along with its own, so the pinned client needs no CA file.
#[derive(Debug)]
pub(crate) struct PinnedCaVerifier {
    pin: CaPin,
    provider: Arc<CryptoProvider>,
    /// The pins of the CA certificates the server last presented when none matched, so the
    /// client can say what it got instead.
    mismatch: Arc<Mutex<Option<String>>>,
}

impl PinnedCaVerifier {
    pub(crate) fn new(
        pin: CaPin,
        provider: Arc<CryptoProvider>,
        mismatch: Arc<Mutex<Option<String>>>,
    ) -> PinnedCaVerifier {
        PinnedCaVerifier {
            pin,
            provider,
            mismatch,
        }
    }
}

impl ServerCertVerifier for PinnedCaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(ca) = intermediates
            .iter()
            .find(|cert| ca_pin_of_der(cert) == self.pin)
        else {
            let presented: Vec<String> = intermediates
                .iter()
                .map(|cert| ca_pin_of_der(cert).to_string())
                .collect();
            let presented = if presented.is_empty() {
                "no CA certificate".to_owned()
            } else {
                presented.join(", ")
            };
            *self.mismatch.lock().unwrap_or_else(PoisonError::into_inner) = Some(presented);
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            ));
        };
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let webpki =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|err| rustls::Error::General(err.to_string()))?;
        webpki.verify_server_cert(end_entity, &[], server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
