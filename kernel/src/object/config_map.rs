//! `ConfigMap` and `Secret`: named sets of key/value data that pods consume as environment
//! variables. A secret's values are base64 in `data`, as in Kubernetes; `stringData` is a
//! write-only convenience the API folds into `data` on every write.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::meta::ObjectMeta;

/// Plain configuration data.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMap {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Once true, `data` can no longer change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

/// Confidential data: only the pods' nodes and operators may read it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `Opaque` unless said otherwise; informational.
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub secret_type: String,
    /// Values, base64-encoded.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Values in clear text, merged into `data` (winning over it) when written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub string_data: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

/// The default `type` of a secret.
pub const SECRET_TYPE_OPAQUE: &str = "Opaque";

/// The most data one ConfigMap or Secret may hold, as Kubernetes limits it.
pub const MAX_DATA_BYTES: usize = 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_type_is_spelled_type() {
        let secret = Secret {
            secret_type: SECRET_TYPE_OPAQUE.into(),
            ..Secret::default()
        };
        let json = serde_json::to_value(&secret).unwrap();
        assert_eq!(json["type"], "Opaque");
        let back: Secret = serde_json::from_value(json).unwrap();
        assert_eq!(back, secret);
    }
}
