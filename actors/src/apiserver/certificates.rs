//! Client certificates the API server issues: nodes join with a bootstrap token and renew,
//! operators get theirs from an admin (`flotilla user add`), and any of them can be revoked.
//!
//! Every certificate issued is recorded (serial → identity, role and expiry) in the ConfigMap
//! `flotilla-system/issued-certificates`. Revoking an identity (`flotilla node revoke`, a Node
//! deleted, `flotilla user revoke`) moves its serials to `flotilla-system/revoked-certificates`
//! and into the transport's [`Revocations`], which refuses them at the handshake, refuses their
//! calls, and closes their live connections at once. Issuing and revoking take turns, so a
//! renewal in flight cannot slip a fresh certificate past a revocation, and a renewal checks
//! that the certificate it is made with is not revoked. Expired entries are dropped as the
//! records are rewritten: an expired certificate fails its handshake anyway.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::Mutex;

use flotilla_kernel::api::{ApiError, CertificateRecord, ErrorCode, Response};
use flotilla_kernel::object::{
    BootstrapToken, ConfigMap, Kind, Object, ObjectMeta, SYSTEM_NAMESPACE, Time, TokenError,
    TokenRecord, check_dns1123_subdomain, mark_token_used,
};
use flotilla_transport::{ClusterPki, Identity, Revocations, certificate_facts};

use super::stored::Stored;

const ISSUED: &str = "issued-certificates";
const REVOKED: &str = "revoked-certificates";
/// Attempts of a read-modify-write of a record before giving up on conflicts.
const ATTEMPTS: usize = 10;
/// The roles an operator's certificate may carry.
const OPERATOR_ROLES: [&str; 2] = ["admin", "viewer"];
/// Why a certificate revoked before this process started was revoked, as far as it knows.
const REVOKED_EARLIER: &str = "revoked earlier";

/// Reads the revoked serials from the store into `revocations` (at start and after a restart).
pub async fn load_revocations(stored: &Stored, revocations: &Revocations) -> Result<(), ApiError> {
    let revoked = read_record(stored, REVOKED)
        .await?
        .map(|data| {
            data.keys()
                .filter_map(|hex| from_hex(hex))
                .map(|serial| (serial, REVOKED_EARLIER.to_string()))
                .collect()
        })
        .unwrap_or_default();
    revocations.replace(revoked);
    Ok(())
}

/// Issues and revokes client certificates; present when the server holds the cluster CA.
pub struct Certificates {
    stored: Stored,
    pki: Arc<ClusterPki>,
    revocations: Arc<Revocations>,
    /// How long node certificates live.
    node_validity: Duration,
    /// Held while issuing or revoking.
    turns: Mutex<()>,
}

impl Certificates {
    pub fn new(
        stored: Stored,
        pki: Arc<ClusterPki>,
        revocations: Arc<Revocations>,
        node_validity: Duration,
    ) -> Self {
        Self {
            stored,
            pki,
            revocations,
            node_validity,
            turns: Mutex::new(()),
        }
    }

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
        let _turn = self.turns.lock().await;
        self.issue(&node_identity(node_name), self.node_validity, csr_pem)
            .await
    }

    /// Signs a fresh certificate for the node `caller` already is, unless the certificate it
    /// calls with (`serial`) was revoked.
    pub async fn renew(
        &self,
        caller: &Identity,
        serial: Option<&[u8]>,
        csr_pem: &str,
    ) -> Result<Response, ApiError> {
        if caller.role != "node" || !caller.name.starts_with("node:") {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "{} is not a node and has no node certificate to renew",
                    caller.name
                ),
            ));
        }
        let _turn = self.turns.lock().await;
        if let Some(reason) = serial.and_then(|serial| self.revocations.reason(serial)) {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "{} may not renew: its certificate was revoked ({reason})",
                    caller.name
                ),
            ));
        }
        self.issue(caller, self.node_validity, csr_pem).await
    }

    /// Signs `csr_pem` for the operator `name` with `role`, valid for `validity`.
    pub async fn issue_operator(
        &self,
        name: &str,
        role: &str,
        validity: Duration,
        csr_pem: &str,
    ) -> Result<Response, ApiError> {
        check_operator_name(name)?;
        if !OPERATOR_ROLES.contains(&role) {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!(
                    "role {role:?} is not an operator's role; choose one of: {}",
                    OPERATOR_ROLES.join(", ")
                ),
            ));
        }
        if validity < Duration::from_secs(60) {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("a certificate must live at least 1m (asked for {validity:?})"),
            ));
        }
        let _turn = self.turns.lock().await;
        self.issue(&Identity::new(name, role), validity, csr_pem)
            .await
    }

    /// Revokes every recorded certificate of node `node`; `why` is what its agent is told.
    pub async fn revoke_node(&self, node: &str, why: &str) -> Result<Response, ApiError> {
        self.revoke(&node_identity(node).name, why).await
    }

    /// Revokes every recorded certificate of the operator `name`.
    pub async fn revoke_operator(&self, name: &str, by: &Identity) -> Result<Response, ApiError> {
        check_operator_name(name)?;
        self.revoke(name, &format!("user {name:?} was revoked by {}", by.name))
            .await
    }

    /// Every operator certificate on record, revoked or not, that has not expired.
    pub async fn operators(&self) -> Result<Response, ApiError> {
        let now = SystemTime::now();
        let mut records = Vec::new();
        for (record, revoked) in [(ISSUED, false), (REVOKED, true)] {
            let data = read_record(&self.stored, record).await?.unwrap_or_default();
            records.extend(
                data.iter()
                    .filter_map(|(serial, entry)| Some((serial, Entry::parse(entry)?)))
                    .filter(|(_, entry)| !entry.is_node() && !entry.expired(now))
                    .map(|(serial, entry)| CertificateRecord {
                        name: entry.name,
                        role: entry.role,
                        serial: serial.clone(),
                        expires: entry.expires,
                        revoked,
                    }),
            );
        }
        records.sort_by(|a, b| (&a.name, a.expires).cmp(&(&b.name, b.expires)));
        Ok(Response::Certificates(records))
    }

    /// Moves every recorded certificate of the identity `name` to the revoked ones.
    async fn revoke(&self, name: &str, why: &str) -> Result<Response, ApiError> {
        let _turn = self.turns.lock().await;
        let now = SystemTime::now();
        let mut moved = BTreeMap::new();
        update_record(&self.stored, ISSUED, |issued| {
            moved = issued
                .iter()
                .filter(|(_, entry)| Entry::parse(entry).is_some_and(|entry| entry.name == name))
                .map(|(serial, entry)| (serial.clone(), entry.clone()))
                .collect();
            issued.retain(|serial, entry| !moved.contains_key(serial) && !stale(entry, now));
        })
        .await?;
        let mut kept = Vec::new();
        update_record(&self.stored, REVOKED, |revoked| {
            revoked.extend(moved.clone());
            revoked.retain(|_, entry| !stale(entry, now));
            kept = revoked.keys().cloned().collect();
        })
        .await?;
        let earlier = self.revocations.all();
        let revoked: HashMap<Vec<u8>, String> = kept
            .iter()
            .filter_map(|hex| from_hex(hex))
            .map(|serial| {
                let reason = if moved.contains_key(&to_hex(&serial)) {
                    why.to_string()
                } else {
                    earlier
                        .get(&serial)
                        .cloned()
                        .unwrap_or_else(|| REVOKED_EARLIER.to_string())
                };
                (serial, reason)
            })
            .collect();
        self.revocations.replace(revoked);
        tracing::info!(
            identity = name,
            certificates = moved.len(),
            why,
            "revoked certificates"
        );
        Ok(Response::Revoked {
            certificates: moved.len(),
        })
    }

    async fn spend(&self, token: &BootstrapToken, node_name: &str) -> Result<(), ApiError> {
        let name = BootstrapToken::secret_name(&token.id);
        let current = self
            .stored
            .get(Kind::Secret, SYSTEM_NAMESPACE, &name)
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
        self.stored
            .replace(&Object::Secret(secret), current.mod_revision)
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

    /// Signs and records a certificate; the caller holds a turn.
    async fn issue(
        &self,
        identity: &Identity,
        validity: Duration,
        csr_pem: &str,
    ) -> Result<Response, ApiError> {
        let cert_pem = self
            .pki
            .sign_csr(csr_pem, identity, validity)
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("{e}: {}", source_of(&e))))?;
        let facts = certificate_facts(&cert_pem)
            .map_err(|e| ApiError::internal(format!("reading the certificate just signed: {e}")))?;
        let now = SystemTime::now();
        let entry = Entry {
            name: identity.name.clone(),
            role: identity.role.clone(),
            expires: Time::from(facts.not_after),
        };
        update_record(&self.stored, ISSUED, |issued| {
            issued.retain(|_, entry| !stale(entry, now));
            issued.insert(to_hex(&facts.serial), entry.to_string());
        })
        .await?;
        tracing::info!(identity = %identity.name, role = %identity.role, "issued a certificate");
        Ok(Response::Certificate {
            cert_pem,
            ca_pem: self.pki.ca_pem().to_string(),
        })
    }
}

fn node_identity(node: &str) -> Identity {
    Identity::new(format!("node:{node}"), "node")
}

fn check_operator_name(name: &str) -> Result<(), ApiError> {
    check_dns1123_subdomain(name)
        .map_err(|why| ApiError::new(ErrorCode::BadRequest, format!("user name {name:?}: {why}")))
}

/// One recorded certificate: `NAME ROLE EXPIRY`. Records written before operators' certificates
/// were recorded hold `NODE EXPIRY`, for node certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    name: String,
    role: String,
    expires: Time,
}

impl Entry {
    fn parse(text: &str) -> Option<Entry> {
        let fields: Vec<&str> = text.split(' ').collect();
        let (name, role, expires) = match fields.as_slice() {
            [node, expires] => (format!("node:{node}"), "node".to_string(), expires),
            [name, role, expires] => (name.to_string(), role.to_string(), expires),
            _ => return None,
        };
        Some(Entry {
            name,
            role,
            expires: expires.parse().ok()?,
        })
    }

    fn is_node(&self) -> bool {
        self.role == "node"
    }

    fn expired(&self, now: SystemTime) -> bool {
        self.expires.system_time() <= now
    }
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.name, self.role, self.expires)
    }
}

/// Whether a record entry can go: expired (its certificate fails any handshake), or not an
/// entry at all.
fn stale(entry: &str, now: SystemTime) -> bool {
    Entry::parse(entry).is_none_or(|entry| entry.expired(now))
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

async fn read_record(
    stored: &Stored,
    name: &str,
) -> Result<Option<BTreeMap<String, String>>, ApiError> {
    Ok(stored
        .get(Kind::ConfigMap, SYSTEM_NAMESPACE, name)
        .await?
        .and_then(|v| match v.object {
            Object::ConfigMap(config) => Some(config.data),
            _ => None,
        }))
}

/// Applies `change` to a record's data, creating the record if needed, retrying on conflicts.
async fn update_record(
    stored: &Stored,
    name: &str,
    mut change: impl FnMut(&mut BTreeMap<String, String>),
) -> Result<(), ApiError> {
    for _ in 0..ATTEMPTS {
        let written = match stored.get(Kind::ConfigMap, SYSTEM_NAMESPACE, name).await? {
            Some(current) => {
                let Object::ConfigMap(mut config) = current.object else {
                    return Err(ApiError::internal(format!(
                        "{name} is not stored as a configmap"
                    )));
                };
                change(&mut config.data);
                stored
                    .replace(&Object::ConfigMap(config), current.mod_revision)
                    .await
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
                super::handler::create(stored, Object::ConfigMap(config)).await
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
    use crate::apiserver::allocation::Ranges;
    use flotilla_store::Store;
    use flotilla_transport::new_csr;

    /// Certificates on a fresh store, with the system namespaces in place.
    async fn certificates(dir: &std::path::Path) -> Certificates {
        let stored = Stored::new(Store::open(&dir.join("store")).unwrap(), Ranges::default());
        super::super::handler::ensure_system_objects(&stored)
            .await
            .unwrap();
        let pki = ClusterPki::load_or_create(&dir.join("pki")).unwrap();
        let revocations = Arc::new(Revocations::default());
        Certificates::new(
            stored,
            Arc::new(pki),
            revocations,
            Duration::from_secs(3600),
        )
    }

    fn serial_of(issued: Response) -> Vec<u8> {
        let Response::Certificate { cert_pem, .. } = issued else {
            panic!("no certificate: {issued:?}");
        };
        certificate_facts(&cert_pem).unwrap().serial
    }

    #[tokio::test]
    async fn a_revoked_node_cannot_renew_and_a_rejoined_one_is_not_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let certificates = certificates(dir.path()).await;
        let n1 = node_identity("n1");
        let (_, csr) = new_csr("n1").unwrap();
        let _turn = certificates.turns.lock().await;
        let first = serial_of(
            certificates
                .issue(&n1, Duration::from_secs(60), &csr)
                .await
                .unwrap(),
        );
        drop(_turn);

        let renewed = certificates.renew(&n1, Some(&first), &csr).await.unwrap();
        let second = serial_of(renewed);
        certificates
            .revoke_node("n1", "node \"n1\" was deleted")
            .await
            .unwrap();
        for serial in [&first, &second] {
            assert_eq!(
                certificates.revocations.reason(serial).as_deref(),
                Some("node \"n1\" was deleted")
            );
        }
        let refused = certificates
            .renew(&n1, Some(&second), &csr)
            .await
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::Forbidden);
        assert!(
            refused
                .message
                .contains("was revoked (node \"n1\" was deleted)"),
            "{refused}"
        );

        let _turn = certificates.turns.lock().await;
        let rejoined = serial_of(
            certificates
                .issue(&n1, Duration::from_secs(60), &csr)
                .await
                .unwrap(),
        );
        drop(_turn);
        assert_eq!(certificates.revocations.reason(&rejoined), None);
        assert!(certificates.revocations.reason(&first).is_some());
    }

    #[tokio::test]
    async fn operators_are_listed_and_revoked_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let certificates = certificates(dir.path()).await;
        let (_, csr) = new_csr("alice").unwrap();
        let day = Duration::from_secs(86_400);
        certificates
            .issue_operator("alice", "viewer", day, &csr)
            .await
            .unwrap();
        certificates
            .issue_operator("bob", "admin", day, &csr)
            .await
            .unwrap();
        let refused = certificates
            .issue_operator("carol", "node", day, &csr)
            .await
            .unwrap_err();
        assert!(
            refused.message.contains("not an operator's role"),
            "{refused}"
        );
        let admin = Identity::new("admin", "admin");
        certificates.revoke_operator("alice", &admin).await.unwrap();
        let Response::Certificates(records) = certificates.operators().await.unwrap() else {
            panic!("no records");
        };
        let seen: Vec<(&str, &str, bool)> = records
            .iter()
            .map(|r| (r.name.as_str(), r.role.as_str(), r.revoked))
            .collect();
        assert_eq!(seen, [("alice", "viewer", true), ("bob", "admin", false)]);
    }

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let bytes = vec![0x00, 0x7f, 0xff, 0x10];
        assert_eq!(to_hex(&bytes), "007fff10");
        assert_eq!(from_hex("007fff10"), Some(bytes));
        assert_eq!(from_hex("0g"), None);
        assert_eq!(from_hex("abc"), None);
    }

    #[test]
    fn entries_name_their_identity_and_expire_and_old_ones_are_nodes() {
        let now = SystemTime::now();
        let past = Time::from(now - Duration::from_secs(60));
        let future = Time::from(now + Duration::from_secs(60));
        let alice = Entry::parse(&format!("alice viewer {future}")).unwrap();
        assert_eq!(
            (alice.name.as_str(), alice.role.as_str()),
            ("alice", "viewer")
        );
        assert!(!alice.is_node() && !alice.expired(now));
        assert_eq!(Entry::parse(&alice.to_string()), Some(alice));
        let legacy = Entry::parse(&format!("n2 {past}")).unwrap();
        assert_eq!(
            (legacy.name.as_str(), legacy.role.as_str()),
            ("node:n2", "node")
        );
        assert!(legacy.expired(now) && stale(&format!("n2 {past}"), now));
        assert!(stale("damaged", now));
    }
}
