//! The cluster's certificate authority and the certificates it issues.
//!
//! One CA per cluster, made once at init and kept as two PEM files (`ca.crt`, `ca.key`) so that
//! restarting the control plane keeps every issued certificate valid. Every key is ECDSA P-256:
//! small, fast to generate on a node at boot, and supported by every TLS stack an operator may
//! point at the API. Issuing takes the current time as an input (the public methods pass the
//! wall clock) so validity windows can be tested without waiting for time to pass.

use crate::identity::{Identity, IdentityError};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateSigningRequestDer};
use std::fs::OpenOptions;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

/// File name of the CA certificate inside the PKI directory.
pub const CA_CERT_FILE: &str = "ca.crt";
/// File name of the CA private key inside the PKI directory.
pub const CA_KEY_FILE: &str = "ca.key";

/// How long a new cluster CA is valid.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);
/// How far before "now" a certificate starts being valid, so peers whose clocks lag a little
/// still accept it.
const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(5 * 60);
/// Names every server certificate answers to, so local tools can always reach the API.
const LOCAL_SANS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Why the PKI could not be loaded, created or used.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// The PKI directory could not be created.
    #[error("cannot create the PKI directory {dir}")]
    CreateDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A PKI file could not be read.
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A PKI file could not be written.
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Only one of the CA certificate and key exists; making a new CA would orphan the other.
    #[error(
        "found {present} but not {missing}; restore it, or remove both to create a new cluster CA"
    )]
    Incomplete { present: PathBuf, missing: PathBuf },
    /// The CA key file is not a usable private key.
    #[error("cannot parse the CA private key in {path}")]
    ParseKey {
        path: PathBuf,
        #[source]
        source: rcgen::Error,
    },
    /// The CA certificate file holds no PEM certificate.
    #[error("no PEM certificate found in {path}")]
    CertPem {
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// The CA certificate could not be parsed.
    #[error("cannot parse the CA certificate in {path}")]
    ParseCert { path: PathBuf },
    /// The CA certificate could not be turned into an issuer.
    #[error("cannot use the certificate in {path} as an issuer")]
    Issuer {
        path: PathBuf,
        #[source]
        source: rcgen::Error,
    },
    /// The CA certificate is not marked as a certificate authority.
    #[error("the certificate in {path} is not a CA certificate")]
    NotCa { path: PathBuf },
    /// The CA key does not belong to the CA certificate.
    #[error("the private key in {key} does not belong to the certificate in {cert}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    /// Key or certificate generation failed.
    #[error("cannot generate the {what}")]
    Generate {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    /// The requested validity does not fit in a certificate's date range.
    #[error("validity of {validity:?} is out of range for a certificate")]
    ValidityOutOfRange { validity: Duration },
    /// A subject alternative name is not a valid DNS name or IP address.
    #[error("{san:?} is not a valid DNS name or IP address for a server certificate")]
    InvalidSan {
        san: String,
        #[source]
        source: rcgen::Error,
    },
    /// A CA pin is not of the form `sha256:` followed by 64 hex digits.
    #[error("{pin:?} is not a CA pin; expected sha256:<64 hex digits>")]
    InvalidCaPin { pin: String },
    /// A certificate signing request could not be read or its signature does not verify.
    #[error("the system's random number generator failed")]
    Random,
    #[error("cannot use the certificate signing request")]
    Csr {
        #[source]
        source: rcgen::Error,
    },
    /// A certificate in PEM could not be read.
    #[error("cannot read the certificate: it is not one PEM X.509 certificate")]
    BadCertificate,
    /// The identity cannot be written into a certificate.
    #[error("cannot put the identity into a client certificate")]
    Identity {
        #[source]
        source: IdentityError,
    },
}

/// One party's certificate and key, and the CA certificate it trusts for its peers.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub cert_pem: String,
    pub key_pem: String,
    pub ca_pem: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .field("ca_pem", &self.ca_pem)
            .finish()
    }
}

/// The cluster CA: its certificate and the key that signs every other certificate.
pub struct ClusterPki {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl ClusterPki {
    /// Loads `dir/ca.crt` and `dir/ca.key`, or, when neither exists, creates a new CA (ECDSA
    /// P-256, valid 10 years) and writes them, the key with mode 0600.
    pub fn load_or_create(dir: &Path) -> Result<ClusterPki, PkiError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => ClusterPki::load(&cert_path, &key_path),
            (false, false) => {
                let pki = ClusterPki::create(OffsetDateTime::now_utc())?;
                pki.write(dir, &cert_path, &key_path)?;
                Ok(pki)
            }
            (true, false) => Err(PkiError::Incomplete {
                present: cert_path,
                missing: key_path,
            }),
            (false, true) => Err(PkiError::Incomplete {
                present: key_path,
                missing: cert_path,
            }),
        }
    }

    /// The CA certificate in PEM, for every party to trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The pin of this CA (`sha256:<hex>`), which a joining node uses to trust it.
    pub fn ca_pin(&self) -> Result<CaPin, PkiError> {
        ca_pin(&self.ca_pem)
    }

    /// Signs a certificate signing request into a client certificate for `identity`, valid for
    /// `validity`. Only the request's public key is used: the subject and any extensions it asks
    /// for are replaced by what the server decided, so a node cannot name itself. The signature
    /// on the request is checked, proving the requester holds the private key. Returns the
    /// certificate in PEM.
    pub fn sign_csr(
        &self,
        csr_pem: &str,
        identity: &Identity,
        validity: Duration,
    ) -> Result<String, PkiError> {
        self.sign_csr_at(csr_pem, identity, OffsetDateTime::now_utc(), validity)
    }

    pub(crate) fn sign_csr_at(
        &self,
        csr_pem: &str,
        identity: &Identity,
        now: OffsetDateTime,
        validity: Duration,
    ) -> Result<String, PkiError> {
        let der =
            CertificateSigningRequestDer::from_pem_slice(csr_pem.as_bytes()).map_err(|_| {
                PkiError::Csr {
                    source: rcgen::Error::CouldNotParseCertificationRequest,
                }
            })?;
        self.sign_csr_der(&der, identity, now, validity)
    }

    fn sign_csr_der(
        &self,
        der: &CertificateSigningRequestDer<'_>,
        identity: &Identity,
        now: OffsetDateTime,
        validity: Duration,
    ) -> Result<String, PkiError> {
        let requested = rcgen::CertificateSigningRequestParams::from_der(der)
            .map_err(|source| PkiError::Csr { source })?;
        let mut params = client_params(identity)?;
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        (params.not_before, params.not_after) = validity_window(now, validity)?;
        let cert = params
            .signed_by(&requested.public_key, &self.issuer)
            .map_err(|source| PkiError::Generate {
                what: "certificate",
                source,
            })?;
        Ok(cert.pem())
    }

    /// Issues a server certificate for the API valid for `validity` (one year is the usual
    /// choice). Its names are `sans` (DNS names or IP addresses) plus `localhost`, `127.0.0.1`
    /// and `::1`.
    pub fn issue_server(
        &self,
        sans: &[String],
        validity: Duration,
    ) -> Result<Credentials, PkiError> {
        self.issue_server_at(sans, OffsetDateTime::now_utc(), validity)
    }

    /// Issues a client certificate carrying `identity`, valid for `validity`.
    pub fn issue_client(
        &self,
        identity: &Identity,
        validity: Duration,
    ) -> Result<Credentials, PkiError> {
        self.issue_client_at(identity, OffsetDateTime::now_utc(), validity)
    }

    pub(crate) fn issue_server_at(
        &self,
        sans: &[String],
        now: OffsetDateTime,
        validity: Duration,
    ) -> Result<Credentials, PkiError> {
        let mut params = CertificateParams::default();
        params.subject_alt_names = server_sans(sans)?;
        params.distinguished_name.push(
            DnType::CommonName,
            sans.first().map_or(LOCAL_SANS[0], String::as_str),
        );
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
        self.issue(params, now, validity)
    }

    pub(crate) fn issue_client_at(
        &self,
        identity: &Identity,
        now: OffsetDateTime,
        validity: Duration,
    ) -> Result<Credentials, PkiError> {
        self.issue(client_params(identity)?, now, validity)
    }

    /// Creates a new CA whose validity starts at `now`.
    pub(crate) fn create(now: OffsetDateTime) -> Result<ClusterPki, PkiError> {
        let key = generate_key("CA key")?;
        let mut params = CertificateParams::default();
        // A per-CA name: verifiers pick the issuer by name, so two clusters' CAs must differ
        // for a foreign certificate to read as "unknown CA" rather than "bad signature".
        let fingerprint: String = params
            .key_identifier(&key)
            .iter()
            .take(6)
            .map(|byte| format!("{byte:02x}"))
            .collect();
        params.distinguished_name.push(
            DnType::CommonName,
            format!("flotilla cluster CA {fingerprint}"),
        );
        params
            .distinguished_name
            .push(DnType::OrganizationName, "flotilla");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        (params.not_before, params.not_after) = validity_window(now, CA_VALIDITY)?;
        let cert = params
            .self_signed(&key)
            .map_err(|source| PkiError::Generate {
                what: "CA certificate",
                source,
            })?;
        Ok(ClusterPki {
            ca_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    fn load(cert_path: &Path, key_path: &Path) -> Result<ClusterPki, PkiError> {
        let ca_pem = read_file(cert_path)?;
        let key_pem = read_file(key_path)?;
        let key = KeyPair::from_pem(&key_pem).map_err(|source| PkiError::ParseKey {
            path: key_path.to_path_buf(),
            source,
        })?;
        let der = CertificateDer::from_pem_slice(ca_pem.as_bytes()).map_err(|source| {
            PkiError::CertPem {
                path: cert_path.to_path_buf(),
                source,
            }
        })?;
        let (_, parsed) = X509Certificate::from_der(&der).map_err(|_| PkiError::ParseCert {
            path: cert_path.to_path_buf(),
        })?;
        if !parsed.is_ca() {
            return Err(PkiError::NotCa {
                path: cert_path.to_path_buf(),
            });
        }
        if parsed.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(PkiError::KeyMismatch {
                cert: cert_path.to_path_buf(),
                key: key_path.to_path_buf(),
            });
        }
        let issuer = Issuer::from_ca_cert_der(&der, key).map_err(|source| PkiError::Issuer {
            path: cert_path.to_path_buf(),
            source,
        })?;
        Ok(ClusterPki { ca_pem, issuer })
    }

    fn write(&self, dir: &Path, cert_path: &Path, key_path: &Path) -> Result<(), PkiError> {
        std::fs::create_dir_all(dir).map_err(|source| PkiError::CreateDir {
            dir: dir.to_path_buf(),
            source,
        })?;
        write_new_file(key_path, &self.issuer.key().serialize_pem(), 0o600)?;
        write_new_file(cert_path, &self.ca_pem, 0o644)
    }

    fn issue(
        &self,
        mut params: CertificateParams,
        now: OffsetDateTime,
        validity: Duration,
    ) -> Result<Credentials, PkiError> {
        let key = generate_key("certificate key")?;
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        (params.not_before, params.not_after) = validity_window(now, validity)?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|source| PkiError::Generate {
                what: "certificate",
                source,
            })?;
        Ok(Credentials {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            ca_pem: self.ca_pem.clone(),
        })
    }
}

/// The SHA-256 of a CA certificate's DER, by which a client can trust a CA it has no file of
/// (like kubeadm's `--discovery-token-ca-cert-hash`). Written and parsed as `sha256:<hex>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CaPin([u8; 32]);

impl std::fmt::Display for CaPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(CA_PIN_PREFIX)?;
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl std::str::FromStr for CaPin {
    type Err = PkiError;

    fn from_str(pin: &str) -> Result<CaPin, PkiError> {
        let invalid = || PkiError::InvalidCaPin {
            pin: pin.to_owned(),
        };
        let hex = pin.strip_prefix(CA_PIN_PREFIX).ok_or_else(invalid)?;
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(invalid());
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| invalid())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| invalid())?;
        }
        Ok(CaPin(bytes))
    }
}

const CA_PIN_PREFIX: &str = "sha256:";

/// The pin of the (first) CA certificate in `ca_pem`.
pub fn ca_pin(ca_pem: &str) -> Result<CaPin, PkiError> {
    let der =
        CertificateDer::from_pem_slice(ca_pem.as_bytes()).map_err(|source| PkiError::CertPem {
            path: PathBuf::from("<CA certificate>"),
            source,
        })?;
    Ok(ca_pin_of_der(&der))
}

/// The pin of a DER certificate.
pub(crate) fn ca_pin_of_der(der: &[u8]) -> CaPin {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(digest.as_ref());
    CaPin(bytes)
}

/// What a holder of a certificate needs to know about it: its serial (what revocation names)
/// and when it stops being valid (when to renew).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    /// Big-endian bytes, as [`crate::Revocations`] keeps them.
    pub serial: Vec<u8>,
    pub not_before: std::time::SystemTime,
    pub not_after: std::time::SystemTime,
}

/// Reads the serial and validity of the (first) certificate in `cert_pem`.
pub fn certificate_facts(cert_pem: &str) -> Result<CertificateFacts, PkiError> {
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|_| PkiError::BadCertificate)?;
    certificate_facts_der(&der)
}

/// Reads the serial and validity of a DER certificate.
pub fn certificate_facts_der(der: &[u8]) -> Result<CertificateFacts, PkiError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| PkiError::BadCertificate)?;
    let time = |t: x509_parser::time::ASN1Time| {
        let seconds = t.timestamp();
        let magnitude = Duration::from_secs(seconds.unsigned_abs());
        if seconds >= 0 {
            std::time::UNIX_EPOCH + magnitude
        } else {
            std::time::UNIX_EPOCH - magnitude
        }
    };
    Ok(CertificateFacts {
        serial: cert.raw_serial().to_vec(),
        not_before: time(cert.validity().not_before),
        not_after: time(cert.validity().not_after),
    })
}

/// A new private key and a certificate signing request for it, both PEM; what a joining node
/// sends (the request) and keeps (the key). The subject is only a hint: the CA decides it.
pub fn new_csr(name_hint: &str) -> Result<(String, String), PkiError> {
    let key = generate_key("node key")?;
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, name_hint);
    let csr = params
        .serialize_request(&key)
        .and_then(|csr| csr.pem())
        .map_err(|source| PkiError::Generate {
            what: "certificate signing request",
            source,
        })?;
    Ok((key.serialize_pem(), csr))
}

/// The parameters of a client certificate for `identity`, before validity and signing.
fn client_params(identity: &Identity) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = identity
        .to_distinguished_name()
        .map_err(|source| PkiError::Identity { source })?;
    params
        .extended_key_usages
        .push(ExtendedKeyUsagePurpose::ClientAuth);
    params.serial_number = Some(random_serial()?);
    Ok(params)
}

/// A fresh serial for every client certificate: revocation names certificates by serial, and
/// rcgen would otherwise derive it from the public key, giving two certificates for one key
/// (a CSR sent twice) the same serial.
fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| PkiError::Random)?;
    // Positive, as RFC 5280 requires: the top bit is the DER integer's sign.
    bytes[0] &= 0x7f;
    Ok(SerialNumber::from_slice(&bytes))
}

fn generate_key(what: &'static str) -> Result<KeyPair, PkiError> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|source| PkiError::Generate { what, source })
}

/// The certificate's validity: from a little before `now` until `now + validity`.
fn validity_window(
    now: OffsetDateTime,
    validity: Duration,
) -> Result<(OffsetDateTime, OffsetDateTime), PkiError> {
    let out_of_range = || PkiError::ValidityOutOfRange { validity };
    let not_before = now
        .checked_sub(time::Duration::try_from(CLOCK_SKEW_ALLOWANCE).map_err(|_| out_of_range())?)
        .ok_or_else(out_of_range)?;
    let not_after = now
        .checked_add(time::Duration::try_from(validity).map_err(|_| out_of_range())?)
        .filter(|end| end.year() <= 9999)
        .ok_or_else(out_of_range)?;
    Ok((not_before, not_after))
}

/// The given names plus the local ones, each once, IPs as IP SANs and the rest as DNS names.
fn server_sans(sans: &[String]) -> Result<Vec<SanType>, PkiError> {
    let mut names: Vec<&str> = Vec::new();
    for name in sans.iter().map(String::as_str).chain(LOCAL_SANS) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
        .into_iter()
        .map(|name| match name.parse::<IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => {
                name.try_into()
                    .map(SanType::DnsName)
                    .map_err(|source| PkiError::InvalidSan {
                        san: name.to_owned(),
                        source,
                    })
            }
        })
        .collect()
}

fn read_file(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(|source| PkiError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a file that must not exist yet, with the given permission bits.
fn write_new_file(path: &Path, contents: &str, mode: u32) -> Result<(), PkiError> {
    let write_error = |source| PkiError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(write_error)?;
    file.write_all(contents.as_bytes()).map_err(write_error)?;
    file.sync_all().map_err(write_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::ServerCertVerifier;
    use rustls::server::WebPkiClientVerifier;
    use rustls::{RootCertStore, client::WebPkiServerVerifier};
    use rustls_pki_types::{ServerName, UnixTime};
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;

    const DAY: Duration = Duration::from_secs(24 * 60 * 60);
    const LOOPBACK_IPS: [IpAddr; 2] = [
        IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
    ];

    fn leaf_der(creds: &Credentials) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(creds.cert_pem.as_bytes()).unwrap()
    }

    fn roots(ca_pem: &str) -> Arc<RootCertStore> {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
            .unwrap();
        Arc::new(roots)
    }

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// Verifies a client certificate against the CA exactly as the server's TLS stack will.
    fn verify_client(ca_pem: &str, creds: &Credentials) -> Result<(), rustls::Error> {
        let verifier = WebPkiClientVerifier::builder_with_provider(roots(ca_pem), provider())
            .build()
            .unwrap();
        verifier
            .verify_client_cert(&leaf_der(creds), &[], UnixTime::now())
            .map(|_| ())
    }

    fn verify_server(ca_pem: &str, creds: &Credentials, name: &str) -> Result<(), rustls::Error> {
        let verifier = WebPkiServerVerifier::builder_with_provider(roots(ca_pem), provider())
            .build()
            .unwrap();
        let name = ServerName::try_from(name.to_owned()).unwrap();
        verifier
            .verify_server_cert(&leaf_der(creds), &[], &name, &[], UnixTime::now())
            .map(|_| ())
    }

    #[test]
    fn create_then_reload_keeps_the_same_ca_and_issues_verifiable_certs() {
        let dir = tempfile::tempdir().unwrap();
        let pki_dir = dir.path().join("pki");
        let created = ClusterPki::load_or_create(&pki_dir).unwrap();
        let key_mode = std::fs::metadata(pki_dir.join(CA_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(key_mode & 0o777, 0o600);

        let reloaded = ClusterPki::load_or_create(&pki_dir).unwrap();
        assert_eq!(reloaded.ca_pem(), created.ca_pem());

        let admin = Identity::new("admin", "admin");
        let client = reloaded.issue_client(&admin, DAY).unwrap();
        assert_eq!(client.ca_pem, created.ca_pem());
        verify_client(created.ca_pem(), &client).unwrap();
        let der = leaf_der(&client);
        assert_eq!(Identity::from_cert_der(&der).unwrap(), admin);

        let server = reloaded
            .issue_server(&["api.cluster.local".into(), "10.0.0.5".into()], DAY)
            .unwrap();
        for name in [
            "api.cluster.local",
            "10.0.0.5",
            "localhost",
            "127.0.0.1",
            "::1",
        ] {
            verify_server(created.ca_pem(), &server, name).unwrap();
        }
        assert!(verify_server(created.ca_pem(), &server, "other.example").is_err());
    }

    #[test]
    fn certificates_from_another_ca_do_not_verify() {
        let ours = ClusterPki::create(OffsetDateTime::now_utc()).unwrap();
        let theirs = ClusterPki::create(OffsetDateTime::now_utc()).unwrap();
        let client = theirs
            .issue_client(&Identity::new("admin", "admin"), DAY)
            .unwrap();
        let err = verify_client(ours.ca_pem(), &client).unwrap_err();
        assert!(matches!(
            err,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
        ));
    }

    #[test]
    fn certificate_issued_in_the_past_has_expired() {
        let pki = ClusterPki::create(OffsetDateTime::now_utc() - time::Duration::days(30)).unwrap();
        let long_ago = OffsetDateTime::now_utc() - time::Duration::days(2);
        let client = pki
            .issue_client_at(&Identity::new("viewer", "viewer"), long_ago, DAY)
            .unwrap();
        let err = verify_client(pki.ca_pem(), &client).unwrap_err();
        assert!(matches!(
            err,
            rustls::Error::InvalidCertificate(rustls::CertificateError::ExpiredContext { .. })
        ));
    }

    #[test]
    fn a_lone_key_file_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CA_KEY_FILE), "precious").unwrap();
        let err = ClusterPki::load_or_create(dir.path()).err().unwrap();
        assert!(matches!(err, PkiError::Incomplete { .. }));
        assert_eq!(
            std::fs::read_to_string(dir.path().join(CA_KEY_FILE)).unwrap(),
            "precious"
        );
    }

    #[test]
    fn a_key_from_another_ca_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        ClusterPki::load_or_create(dir.path()).unwrap();
        let other = tempfile::tempdir().unwrap();
        ClusterPki::load_or_create(other.path()).unwrap();
        std::fs::copy(other.path().join(CA_KEY_FILE), dir.path().join(CA_KEY_FILE)).unwrap();
        let err = ClusterPki::load_or_create(dir.path()).err().unwrap();
        assert!(matches!(err, PkiError::KeyMismatch { .. }));
    }

    #[test]
    fn a_leaf_certificate_is_not_accepted_as_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let pki = ClusterPki::load_or_create(dir.path()).unwrap();
        let leaf = pki
            .issue_client(&Identity::new("admin", "admin"), DAY)
            .unwrap();
        std::fs::write(dir.path().join(CA_CERT_FILE), &leaf.cert_pem).unwrap();
        std::fs::write(dir.path().join(CA_KEY_FILE), &leaf.key_pem).unwrap();
        let err = ClusterPki::load_or_create(dir.path()).err().unwrap();
        assert!(matches!(err, PkiError::NotCa { .. }));
    }

    #[test]
    fn garbage_ca_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CA_CERT_FILE), "not a cert").unwrap();
        std::fs::write(dir.path().join(CA_KEY_FILE), "not a key").unwrap();
        let err = ClusterPki::load_or_create(dir.path()).err().unwrap();
        assert!(matches!(err, PkiError::ParseKey { .. }));
    }

    #[test]
    fn server_sans_add_local_names_once_and_parse_ips() {
        let sans = server_sans(&["localhost".into(), "10.1.2.3".into(), "api".into()]).unwrap();
        let ips: Vec<IpAddr> = sans
            .iter()
            .filter_map(|san| match san {
                SanType::IpAddress(ip) => Some(*ip),
                _ => None,
            })
            .collect();
        assert_eq!(sans.len(), 5);
        assert!(ips.contains(&"10.1.2.3".parse().unwrap()));
        assert!(LOOPBACK_IPS.iter().all(|ip| ips.contains(ip)));
    }

    #[test]
    fn ca_pin_is_the_sha256_of_the_der_and_round_trips() {
        let pki = ClusterPki::create(OffsetDateTime::now_utc()).unwrap();
        let pin = pki.ca_pin().unwrap();
        let der = CertificateDer::from_pem_slice(pki.ca_pem().as_bytes()).unwrap();
        let digest = ring::digest::digest(&ring::digest::SHA256, &der);
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(pin.to_string(), format!("sha256:{hex}"));
        assert_eq!(pin.to_string().parse::<CaPin>().unwrap(), pin);
        let other = ClusterPki::create(OffsetDateTime::now_utc()).unwrap();
        assert_ne!(other.ca_pin().unwrap(), pin);
    }

    #[test]
    fn malformed_pins_are_refused() {
        for bad in [
            "",
            "sha256:",
            "md5:00",
            &format!("sha256:{}", "g".repeat(64)),
            &format!("sha256:{}", "a".repeat(63)),
            &format!("sha256:{}é", "a".repeat(62)),
        ] {
            let err = bad.parse::<CaPin>().unwrap_err();
            assert!(matches!(err, PkiError::InvalidCaPin { .. }), "{bad:?}");
        }
    }

    #[test]
    fn a_signed_csr_carries_the_servers_identity_and_the_requesters_key() {
        let pki = ClusterPki::create(OffsetDateTime::now_utc()).unwrap();
        let (key_pem, csr_pem) = new_csr("node:i-want-to-be-admin").unwrap();
        let node = Identity::new("node:rack1-07", "node");
        let cert_pem = pki.sign_csr(&csr_pem, &node, DAY).unwrap();
        let creds = Credentials {
            cert_pem,
            key_pem,
            ca_pem: pki.ca_pem().to_owned(),
        };
        verify_client(pki.ca_pem(), &creds).unwrap();
        assert_eq!(Identity::from_cert_der(&leaf_der(&creds)).unwrap(), node);
        let key = KeyPair::from_pem(&creds.key_pem).unwrap();
        let der = leaf_der(&creds);
        let (_, parsed) = X509Certificate::from_der(&der).unwrap();
        assert_eq!(
            parsed.public_key().raw,
            key.subject_public_key_info().as_slice()
        );
    }

    #[test]
    fn a_signed_csr_lives_only_as_long_as_asked() {
        let pki = ClusterPki::create(OffsetDateTime::now_utc() - time::Duration::days(30)).unwrap();
        let (key_pem, csr_pem) = new_csr("node:a").unwrap();
        let long_ago = OffsetDateTime::now_utc() - time::Duration::days(2);
        let cert_pem = pki
            .sign_csr_at(&csr_pem, &Identity::new("node:a", "node"), long_ago, DAY)
            .unwrap();
        let creds = Credentials {
            cert_pem,
            key_pem,
            ca_pem: pki.ca_pem().to_owned(),
        };
        assert!(verify_client(pki.ca_pem(), &creds).is_err());
    }

    #[test]
    fn garbage_and_tampered_csrs_are_refused() {
        let pki = ClusterPki::create(OffsetDateTime::now_utc()).unwrap();
        let node = Identity::new("node:a", "node");
        let err = pki.sign_csr("not a csr", &node, DAY).unwrap_err();
        assert!(matches!(err, PkiError::Csr { .. }), "{err}");
        let (_, csr_pem) = new_csr("node:a").unwrap();
        let mut der = CertificateSigningRequestDer::from_pem_slice(csr_pem.as_bytes())
            .unwrap()
            .as_ref()
            .to_vec();
        let last = der.len() - 1;
        der[last] ^= 0x01;
        let err = pki
            .sign_csr_der(&der.into(), &node, OffsetDateTime::now_utc(), DAY)
            .unwrap_err();
        assert!(
            matches!(
                err,
                PkiError::Csr {
                    source: rcgen::Error::InvalidCertificationRequestSignature
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn validity_past_year_9999_is_refused() {
        let err = validity_window(OffsetDateTime::now_utc(), Duration::from_secs(u64::MAX / 4))
            .unwrap_err();
        assert!(matches!(err, PkiError::ValidityOutOfRange { .. }));
    }

    #[test]
    fn signing_one_request_twice_gives_two_serials() {
        let dir = tempfile::tempdir().unwrap();
        let pki = ClusterPki::load_or_create(dir.path()).unwrap();
        let (_, csr) = new_csr("n1").unwrap();
        let node = Identity::new("node:n1", "node");
        let serial = |cert: String| certificate_facts(&cert).unwrap().serial;
        let first = serial(pki.sign_csr(&csr, &node, DAY).unwrap());
        let second = serial(pki.sign_csr(&csr, &node, DAY).unwrap());
        assert_ne!(first, second);
        assert!(first[0] < 0x80, "a positive serial: {first:?}");
    }

    #[test]
    fn certificate_facts_read_serial_and_validity() {
        let dir = tempfile::tempdir().unwrap();
        let pki = ClusterPki::load_or_create(dir.path()).unwrap();
        let node = Identity::new("node:a", "node");
        let first = pki.issue_client(&node, DAY).unwrap();
        let second = pki.issue_client(&node, DAY).unwrap();
        let facts = certificate_facts(&first.cert_pem).unwrap();
        let lifetime = facts.not_after.duration_since(facts.not_before).unwrap();
        assert_eq!(lifetime, DAY + CLOCK_SKEW_ALLOWANCE);
        assert!(!facts.serial.is_empty());
        assert_ne!(
            facts.serial,
            certificate_facts(&second.cert_pem).unwrap().serial
        );
        assert!(matches!(
            certificate_facts("not a certificate"),
            Err(PkiError::BadCertificate)
        ));
    }
}
