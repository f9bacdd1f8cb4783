//! Who is on the other end of a connection, as written in their client certificate.
//!
//! The identity travels in the certificate's subject: the common name (CN) is the identity's name
//! (`admin`, `node:NAME`, ...) and the organization (O) is its role (`admin`, `viewer`, `node`,
//! `control-plane`). Putting it there, rather than in a custom extension, keeps certificates
//! readable with ordinary tools (`openssl x509 -subject`). This module only reads and writes that
//! pair; what a role may do is decided by the API, not here.

use serde::{Deserialize, Serialize};
use x509_parser::prelude::{FromDer, X509Certificate};

/// An authenticated party: a name and the role that decides what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identity {
    pub name: String,
    pub role: String,
}

/// Why a certificate does not carry a usable identity.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The identity to put in a certificate has an empty name or role.
    #[error("an identity needs a non-empty name and role (got name {name:?}, role {role:?})")]
    Empty { name: String, role: String },
    /// The certificate is not valid DER.
    #[error("cannot parse the certificate")]
    Parse {
        #[source]
        source: x509_parser::nom::Err<x509_parser::error::X509Error>,
    },
    /// The subject lacks the attribute that holds part of the identity.
    #[error("certificate subject has no {field}")]
    Missing { field: &'static str },
    /// The attribute is present but is not a text string.
    #[error("certificate subject {field} is not text")]
    NotText {
        field: &'static str,
        #[source]
        source: x509_parser::error::X509Error,
    },
}

/// The name given to a caller that presented no certificate.
const ANONYMOUS_NAME: &str = "system:anonymous";

const NAME_FIELD: &str = "common name (CN), which holds the identity name";
const ROLE_FIELD: &str = "organization (O), which holds the identity role";

impl Identity {
    /// Builds an identity from its parts.
    pub fn new(name: impl Into<String>, role: impl Into<String>) -> Identity {
        Identity {
            name: name.into(),
            role: role.into(),
        }
    }

    /// The identity of a caller without a certificate, on a server that allows them (bootstrap).
    /// Its role is empty, which no certificate can carry, so it equals no real identity.
    pub fn anonymous() -> Identity {
        Identity::new(ANONYMOUS_NAME, "")
    }

    /// Whether this is [`Identity::anonymous`].
    pub fn is_anonymous(&self) -> bool {
        self.role.is_empty() && self.name == ANONYMOUS_NAME
    }

    /// Reads the identity from a DER certificate's subject.
    pub fn from_cert_der(der: &[u8]) -> Result<Identity, IdentityError> {
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|source| IdentityError::Parse { source })?;
        let subject = cert.subject();
        let name = subject
            .iter_common_name()
            .next()
            .ok_or(IdentityError::Missing { field: NAME_FIELD })?
            .as_str()
            .map_err(|source| IdentityError::NotText {
                field: NAME_FIELD,
                source,
            })?;
        let role = subject
            .iter_organization()
            .next()
            .ok_or(IdentityError::Missing { field: ROLE_FIELD })?
            .as_str()
            .map_err(|source| IdentityError::NotText {
                field: ROLE_FIELD,
                source,
            })?;
        let identity = Identity::new(name, role);
        identity.check()?;
        Ok(identity)
    }

    /// Writes the identity into a certificate subject.
    pub(crate) fn to_distinguished_name(&self) -> Result<rcgen::DistinguishedName, IdentityError> {
        self.check()?;
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, self.name.as_str());
        dn.push(rcgen::DnType::OrganizationName, self.role.as_str());
        Ok(dn)
    }

    fn check(&self) -> Result<(), IdentityError> {
        if self.name.is_empty() || self.role.is_empty() {
            return Err(IdentityError::Empty {
                name: self.name.clone(),
                role: self.role.clone(),
            });
        }
        Ok(())
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_anonymous() {
            write!(f, "{} (no certificate)", self.name)
        } else {
            write!(f, "{} (role {})", self.name, self.role)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed_with(dn: rcgen::DistinguishedName) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::new()).unwrap();
        params.distinguished_name = dn;
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn identity_round_trips_through_a_certificate() {
        let identity = Identity::new("node:rack1-07", "node");
        let der = self_signed_with(identity.to_distinguished_name().unwrap());
        assert_eq!(Identity::from_cert_der(&der).unwrap(), identity);
    }

    #[test]
    fn certificate_without_role_is_refused() {
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, "admin");
        let err = Identity::from_cert_der(&self_signed_with(dn)).unwrap_err();
        assert!(matches!(err, IdentityError::Missing { field } if field == ROLE_FIELD));
    }

    #[test]
    fn certificate_without_name_is_refused() {
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::OrganizationName, "admin");
        let err = Identity::from_cert_der(&self_signed_with(dn)).unwrap_err();
        assert!(matches!(err, IdentityError::Missing { field } if field == NAME_FIELD));
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        let err = Identity::from_cert_der(&[0x30, 0x82, 0xff, 0xff, 1, 2, 3]).unwrap_err();
        assert!(matches!(err, IdentityError::Parse { .. }));
    }

    #[test]
    fn the_anonymous_identity_cannot_come_from_a_certificate() {
        let anonymous = Identity::anonymous();
        assert!(anonymous.is_anonymous());
        assert!(anonymous.to_distinguished_name().is_err());
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, ANONYMOUS_NAME);
        dn.push(rcgen::DnType::OrganizationName, "admin");
        let lookalike = Identity::from_cert_der(&self_signed_with(dn)).unwrap();
        assert!(!lookalike.is_anonymous());
        assert_ne!(lookalike, anonymous);
        assert_eq!(anonymous.to_string(), "system:anonymous (no certificate)");
    }

    #[test]
    fn empty_identity_cannot_be_written() {
        let err = Identity::new("", "admin")
            .to_distinguished_name()
            .unwrap_err();
        assert!(matches!(err, IdentityError::Empty { .. }));
    }
}
