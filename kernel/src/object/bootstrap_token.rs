//! Bootstrap tokens: the shared secret a new node presents once to get its certificate (like
//! kubeadm's). A token is `ID.SECRET`; the cluster keeps only the SHA-256 of the secret, in a
//! Secret of type [`BOOTSTRAP_TOKEN_TYPE`] named `bootstrap-token-ID` in [`SYSTEM_NAMESPACE`],
//! so reading the store does not reveal a usable token. A token joins one node, then is spent.

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::config_map::Secret;
use super::meta::ObjectMeta;
use super::time::Time;

/// The namespace of the cluster's own objects (tokens, certificate records).
pub const SYSTEM_NAMESPACE: &str = "flotilla-system";
/// The `type` of a Secret that records a bootstrap token.
pub const BOOTSTRAP_TOKEN_TYPE: &str = "bootstrap.flotilla.io/token";

const ID_LEN: usize = 6;
const SECRET_LEN: usize = 16;
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const NAME_PREFIX: &str = "bootstrap-token-";

const KEY_ID: &str = "token-id";
const KEY_HASH: &str = "token-secret-sha256";
const KEY_EXPIRATION: &str = "expiration";
const KEY_USED_BY: &str = "used-by";
const KEY_DESCRIPTION: &str = "description";

/// A token as the operator hands it to a node.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapToken {
    pub id: String,
    secret: String,
}

/// The secret part never appears in logs or debug output.
impl fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BootstrapToken({}.<redacted>)", self.id)
    }
}

impl fmt::Display for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.id, self.secret)
    }
}

/// Why a token is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("a bootstrap token looks like abcdef.0123456789abcdef (6 and 16 of a-z, 0-9)")]
    Malformed,
    #[error("bootstrap token {id} is not known to this cluster, or its secret is wrong")]
    Invalid { id: String },
    #[error("bootstrap token {id} expired at {expired}; create a new one")]
    Expired { id: String, expired: String },
    #[error("bootstrap token {id} was already used by node {node:?}; create a new one")]
    Used { id: String, node: String },
    #[error("the record of bootstrap token {id} is damaged: {what}")]
    Damaged { id: String, what: String },
    #[error("no randomness available for a new token")]
    Random,
}

impl BootstrapToken {
    pub fn parse(text: &str) -> Result<BootstrapToken, TokenError> {
        let (id, secret) = text.trim().split_once('.').ok_or(TokenError::Malformed)?;
        let valid = |part: &str, len: usize| {
            part.len() == len && part.bytes().all(|b| ALPHABET.contains(&b))
        };
        if !valid(id, ID_LEN) || !valid(secret, SECRET_LEN) {
            return Err(TokenError::Malformed);
        }
        Ok(BootstrapToken {
            id: id.to_string(),
            secret: secret.to_string(),
        })
    }

    /// A fresh token from the system's secure random source.
    pub fn generate() -> Result<BootstrapToken, TokenError> {
        use ring::rand::SecureRandom;
        let random = ring::rand::SystemRandom::new();
        let mut text = String::with_capacity(ID_LEN + SECRET_LEN);
        while text.len() < ID_LEN + SECRET_LEN {
            let mut bytes = [0u8; 32];
            random.fill(&mut bytes).map_err(|_| TokenError::Random)?;
            // 252 = 7 * 36: dropping the top four values keeps every character equally likely.
            for byte in bytes.into_iter().filter(|byte| *byte < 252) {
                if text.len() < ID_LEN + SECRET_LEN {
                    text.push(char::from(ALPHABET[usize::from(byte) % ALPHABET.len()]));
                }
            }
        }
        let (id, secret) = text.split_at(ID_LEN);
        Ok(BootstrapToken {
            id: id.to_string(),
            secret: secret.to_string(),
        })
    }

    /// The name of the Secret that records the token with this id.
    pub fn secret_name(id: &str) -> String {
        format!("{NAME_PREFIX}{id}")
    }

    /// The Secret to store for this token: its id, the hash of its secret, when it expires.
    pub fn record(&self, expires: Time, description: &str) -> Secret {
        let mut data = BTreeMap::new();
        let mut put = |key: &str, value: &str| {
            data.insert(key.to_string(), BASE64.encode(value));
        };
        put(KEY_ID, &self.id);
        put(KEY_HASH, &sha256_hex(&self.secret));
        put(KEY_EXPIRATION, &expires.to_string());
        if !description.is_empty() {
            put(KEY_DESCRIPTION, description);
        }
        Secret {
            metadata: ObjectMeta {
                name: BootstrapToken::secret_name(&self.id),
                namespace: SYSTEM_NAMESPACE.to_string(),
                ..ObjectMeta::default()
            },
            secret_type: BOOTSTRAP_TOKEN_TYPE.to_string(),
            data,
            ..Secret::default()
        }
    }
}

/// What the cluster knows of a token, read back from its Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub expires: Time,
    pub used_by: Option<String>,
    pub description: String,
    secret_sha256: String,
}

impl TokenRecord {
    pub fn from_secret(secret: &Secret) -> Result<TokenRecord, TokenError> {
        let id = secret
            .metadata
            .name
            .strip_prefix(NAME_PREFIX)
            .unwrap_or(&secret.metadata.name)
            .to_string();
        let damaged = |what: String| TokenError::Damaged {
            id: id.clone(),
            what,
        };
        if secret.secret_type != BOOTSTRAP_TOKEN_TYPE {
            return Err(damaged(format!("its type is {:?}", secret.secret_type)));
        }
        let field = |key: &str| -> Result<Option<String>, TokenError> {
            secret
                .data
                .get(key)
                .map(|encoded| {
                    BASE64
                        .decode(encoded)
                        .ok()
                        .and_then(|bytes| String::from_utf8(bytes).ok())
                        .ok_or_else(|| damaged(format!("{key} is not base64 text")))
                })
                .transpose()
        };
        let required = |key: &str| field(key)?.ok_or_else(|| damaged(format!("{key} is missing")));
        let expiration = required(KEY_EXPIRATION)?;
        let expires = expiration
            .parse::<Time>()
            .map_err(|e| damaged(format!("expiration {expiration:?}: {e}")))?;
        Ok(TokenRecord {
            id: required(KEY_ID)?,
            expires,
            used_by: field(KEY_USED_BY)?,
            description: field(KEY_DESCRIPTION)?.unwrap_or_default(),
            secret_sha256: required(KEY_HASH)?,
        })
    }

    /// Whether `token` may join a node now.
    pub fn admit(&self, token: &BootstrapToken, now: SystemTime) -> Result<(), TokenError> {
        if token.id != self.id || sha256_hex(&token.secret) != self.secret_sha256 {
            return Err(TokenError::Invalid {
                id: token.id.clone(),
            });
        }
        if let Some(node) = &self.used_by {
            return Err(TokenError::Used {
                id: self.id.clone(),
                node: node.clone(),
            });
        }
        if now >= self.expires.system_time() {
            return Err(TokenError::Expired {
                id: self.id.clone(),
                expired: self.expires.to_string(),
            });
        }
        Ok(())
    }
}

/// Marks the token recorded in `secret` as spent by `node`.
pub fn mark_token_used(secret: &mut Secret, node: &str) {
    secret
        .data
        .insert(KEY_USED_BY.to_string(), BASE64.encode(node));
}

fn sha256_hex(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn hour_from_now() -> Time {
        Time::from(SystemTime::now() + Duration::from_secs(3600))
    }

    #[test]
    fn generated_tokens_parse_back_and_differ() {
        let token = BootstrapToken::generate().unwrap();
        let text = token.to_string();
        assert_eq!(text.len(), 23);
        assert_eq!(BootstrapToken::parse(&text).unwrap(), token);
        assert_ne!(BootstrapToken::generate().unwrap(), token);
        assert!(!format!("{token:?}").contains(&text[7..]));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for text in [
            "",
            "abcdef",
            "abcdef.0123",
            "ABCDEF.0123456789abcdef",
            "abcdef-0123456789abcdef",
        ] {
            assert_eq!(
                BootstrapToken::parse(text),
                Err(TokenError::Malformed),
                "{text:?}"
            );
        }
    }

    #[test]
    fn the_record_keeps_only_a_hash_and_admits_the_token_once() {
        let token = BootstrapToken::parse("abcdef.0123456789abcdef").unwrap();
        let mut secret = token.record(hour_from_now(), "for rack 4");
        assert_eq!(secret.metadata.name, "bootstrap-token-abcdef");
        let stored = serde_json::to_string(&secret).unwrap();
        assert!(!stored.contains(&BASE64.encode("0123456789abcdef")));
        let record = TokenRecord::from_secret(&secret).unwrap();
        assert_eq!(record.description, "for rack 4");
        assert_eq!(record.admit(&token, SystemTime::now()), Ok(()));

        let wrong = BootstrapToken::parse("abcdef.0123456789abcdee").unwrap();
        assert!(matches!(
            record.admit(&wrong, SystemTime::now()),
            Err(TokenError::Invalid { .. })
        ));

        mark_token_used(&mut secret, "n2");
        let record = TokenRecord::from_secret(&secret).unwrap();
        assert_eq!(
            record.admit(&token, SystemTime::now()),
            Err(TokenError::Used {
                id: "abcdef".into(),
                node: "n2".into()
            })
        );
    }

    #[test]
    fn an_expired_token_is_refused() {
        let token = BootstrapToken::parse("abcdef.0123456789abcdef").unwrap();
        let record = TokenRecord::from_secret(&token.record(hour_from_now(), "")).unwrap();
        let later = SystemTime::now() + Duration::from_secs(7200);
        assert!(matches!(
            record.admit(&token, later),
            Err(TokenError::Expired { .. })
        ));
    }

    #[test]
    fn a_damaged_record_says_what_is_wrong() {
        let token = BootstrapToken::parse("abcdef.0123456789abcdef").unwrap();
        let mut secret = token.record(hour_from_now(), "");
        secret.data.remove(KEY_EXPIRATION);
        let error = TokenRecord::from_secret(&secret).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the record of bootstrap token abcdef is damaged: expiration is missing"
        );
    }
}
