//! Node certificates: joining with a bootstrap token, renewal, revocation.
//!
//! Every certificate issued to a node is recorded (serial → node and expiry) in the ConfigMap
//! `flotilla-system/issued-certificates`. Revoking a node (`flotilla node revoke`, or deleting
//! its Node) moves its serials to `flotilla-system/revoked-certificates`, and the QUIC listener
//! refuses them at the next handshake through [`Revocations`]. Expired entries are dropped as
//! the records are rewritten: an expired certificate fails its handshake anyway.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use flotilla_kernel::api::{ApiError, ErrorCode, Response};
use flotilla_kernel::object::{
    BootstrapToken, ConfigMap, Kind, Object, ObjectMeta, SYSTEM_NAMESPACE, Time, TokenError,
    TokenRecord, check_dns1123_subdomain, mark_token_used,
};
use flotilla_transport::{ClusterPki, Identity, RevocationCheck, certificate_facts};

use super::stored;

const ISSUED: &str = "issued-certificates";
const REVOKED: &str = "revoked-certificates";
/// Attempts of a read-modify-write of a record before giving up on conflicts.
const ATTEMPTS: usize = 10;

/// The serials refused at the handshake, shared with the QUIC listener.
#[derive(Clone, Default)]
pub struct Revocations(Arc<RwLock<HashSet<Vec<u8>>>>);

impl Revocations {
    /// The check the listener runs at every handshake. A poisoned lock refuses everyone
    /// rather than letting a revoked certificate through.
    pub fn check(&self) -> RevocationCheck {
        let revoked = Arc::clone(&self.0);
        Arc::new(move |_: &Identity, serial: &[u8]| {
            revoked.read().map_or(true, |set| set.contains(serial))
        })
    }

    /// Reads the revoked serials from the store (at start and after a restart).
    pub async fn load(&self) -> Result<(), ApiError> {
        let serials = read_record(REVOKED)
            .await?
            .map(|data| data.keys().filter_map(|hex| from_hex(hex)).collect())
            .unwrap_or_default();
        self.replace(serials);
        Ok(())
    }

    fn replace(&self, serials: HashSet<Vec<u8>>) {
        match self.0.write() {
            Ok(mut set) => *set = serials,
            Err(poisoned) => *poisoned.into_inner() = serials,
        }
    }
}

/// Issues and revokes node certificates; present when the server holds the cluster CA.
pub struct Certificates {
    pub pki: Arc<ClusterPki>,
    pub revocations: Revocations,
    pub validity: Duration,
}

impl Certificates {
    /// Spends `token` and signs `csr_pem` for `node:NODE_NAME`.
    pub async fn join(
        &self,
        token: &str,
        node_name: &str,
        csr_pem: &str,
    ) -> Result<Response, ApiError> {
        check_dns1123_subdomain(node_name).map_err(|why| {
            ApiError::new(
                ErrorCode::BadRequest,
                format!("node name {node_name:?}: {why}"),
            )
        })?;
        let token = BootstrapToken::parse(token).map_err(refused)?;
        self.spend(&token, node_name).await?;
        self.issue(node_name, csr_pem).await
    }

    /// Signs a fresh certificate for the node `caller` already is.
    pub async fn renew(&self, caller: &Identity, csr_pem: &str) -> Result<Response, ApiError> {
        let node = caller
            .name
            .strip_prefix("node:")
            .filter(|_| caller.role == "node")
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Forbidden,
                    format!(
                        "{} is not a node and has no node certificate to renew",
                        caller.name
                    ),
                )
            })?;
        self.issue(node, csr_pem).await
    }

    /// Revokes every recorded certificate of `node`.
    pub async fn revoke(&self, node: &str) -> Result<Response, ApiError> {
        let now = SystemTime::now();
        let mut moved = BTreeMap::new();
        update_record(ISSUED, |issued| {
            moved = issued
                .iter()
                .filter(|(_, entry)| entry_node(entry) == Some(node))
                .map(|(serial, entry)| (serial.clone(), entry.clone()))
                .collect();
            issued.retain(|serial, entry| !moved.contains_key(serial) && !expired(entry, now));
        })
        .await?;
        let mut serials = HashSet::new();
        update_record(REVOKED, |revoked| {
            revoked.extend(moved.clone());
            revoked.retain(|_, entry| !expired(entry, now));
            serials = revoked.keys().filter_map(|hex| from_hex(hex)).collect();
        })
        .await?;
        self.revocations.replace(serials);
        tracing::info!(
            node,
            certificates = moved.len(),
            "revoked node certificates"
        );
        Ok(Response::Revoked {
            certificates: moved.len(),
        })
    }

    async fn spend(&self, token: &BootstrapToken, node_name: &str) -> Result<(), ApiError> {
        let name = BootstrapToken::secret_name(&token.id);
        let current = stored::get(Kind::Secret, SYSTEM_NAMESPACE, &name)
            .await?
            .ok_or_else(|| {
                refused(TokenError::Invalid {
                    id: token.id.clone(),
                })
            })?;
        let Object::Secret(mut secret) = current.object else {
            return Err(ApiError::internal(format!(
                "{name} is not stored as a secret"
            )));
        };
        let record = TokenRecord::from_secret(&secret).map_err(refused)?;
        record.admit(token, SystemTime::now()).map_err(refused)?;
        mark_token_used(&mut secret, node_name);
        // The revision check makes the token single-use even under concurrent joins.
        stored::replace(&Object::Secret(secret), current.mod_revision)
            .await
            .map_err(|error| match error.code {
                ErrorCode::Conflict => refused(TokenError::Used {
                    id: token.id.clone(),
                    node: "another node joining at the same time".to_string(),
                }),
                _ => error,
            })?;
        Ok(())
    }

    async fn issue(&self, node: &str, csr_pem: &str) -> Result<Response, ApiError> {
        let identity = Identity::new(format!("node:{node}"), "node");
        let cert_pem = self
            .pki
            .sign_csr(csr_pem, &identity, self.validity)
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("{e}: {}", source_of(&e))))?;
        let facts = certificate_facts(&cert_pem)
            .map_err(|e| ApiError::internal(format!("reading the certificate just signed: {e}")))?;
        let now = SystemTime::now();
        update_record(ISSUED, |issued| {
            issued.retain(|_, entry| !expired(entry, now));
            issued.insert(
                to_hex(&facts.serial),
                format!("{node} {}", Time::from(facts.not_after)),
            );
        })
        .await?;
        tracing::info!(node, "issued a node certificate");
        Ok(Response::Certificate {
            cert_pem,
            ca_pem: self.pki.ca_pem().to_string(),
        })
    }
}

fn refused(error: TokenError) -> ApiError {
    ApiError::new(ErrorCode::Forbidden, format!("join refused: {error}"))
}

fn source_of(error: &dyn std::error::Error) -> String {
    error
        .source()
        .map(ToString::to_string)
        .unwrap_or_else(|| "no detail".to_string())
}

/// The node an entry (`NODE EXPIRY`) belongs to.
fn entry_node(entry: &str) -> Option<&str> {
    entry.split_once(' ').map(|(node, _)| node)
}

fn expired(entry: &str, now: SystemTime) -> bool {
    entry
        .split_once(' ')
        .and_then(|(_, expiry)| expiry.parse::<Time>().ok())
        .is_some_and(|expiry| expiry.system_time() <= now)
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

async fn read_record(name: &str) -> Result<Option<BTreeMap<String, String>>, ApiError> {
    Ok(stored::get(Kind::ConfigMap, SYSTEM_NAMESPACE, name)
        .await?
        .and_then(|v| match v.object {
            Object::ConfigMap(config) => Some(config.data),
            _ => None,
        }))
}

/// Applies `change` to a record's data, creating the record if needed, retrying on conflicts.
async fn update_record(
    name: &str,
    mut change: impl FnMut(&mut BTreeMap<String, String>),
) -> Result<(), ApiError> {
    for _ in 0..ATTEMPTS {
        let written = match stored::get(Kind::ConfigMap, SYSTEM_NAMESPACE, name).await? {
            Some(current) => {
                let Object::ConfigMap(mut config) = current.object else {
                    return Err(ApiError::internal(format!(
                        "{name} is not stored as a configmap"
                    )));
                };
                change(&mut config.data);
                stored::replace(&Object::ConfigMap(config), current.mod_revision).await
            }
            None => {
                let mut config = ConfigMap {
                    metadata: ObjectMeta {
                        name: name.to_string(),
                        namespace: SYSTEM_NAMESPACE.to_string(),
                        ..ObjectMeta::default()
                    },
                    ..ConfigMap::default()
                };
                change(&mut config.data);
                super::handler::create(Object::ConfigMap(config)).await
            }
        };
        match written {
            Ok(_) => return Ok(()),
            Err(e) if matches!(e.code, ErrorCode::Conflict | ErrorCode::AlreadyExists) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::new(
        ErrorCode::Unavailable,
        format!("{SYSTEM_NAMESPACE}/{name} kept changing; retry"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let bytes = vec![0x00, 0x7f, 0xff, 0x10];
        assert_eq!(to_hex(&bytes), "007fff10");
        assert_eq!(from_hex("007fff10"), Some(bytes));
        assert_eq!(from_hex("0g"), None);
        assert_eq!(from_hex("abc"), None);
    }

    #[test]
    fn entries_name_their_node_and_expire() {
        let now = SystemTime::now();
        let past = Time::from(now - Duration::from_secs(60));
        let future = Time::from(now + Duration::from_secs(60));
        assert_eq!(entry_node(&format!("n2 {future}")), Some("n2"));
        assert!(expired(&format!("n2 {past}"), now));
        assert!(!expired(&format!("n2 {future}"), now));
        assert!(!expired("damaged", now));
    }

    #[test]
    fn the_check_refuses_exactly_the_revoked_serials() {
        let revocations = Revocations::default();
        let check = revocations.check();
        let who = Identity::new("node:a", "node");
        assert!(!check(&who, &[1, 2]));
        revocations.replace(HashSet::from([vec![1, 2]]));
        assert!(check(&who, &[1, 2]));
        assert!(!check(&who, &[3]));
    }
}
