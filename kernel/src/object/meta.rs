//! `ObjectMeta`, the `metadata` block every object carries, and `OwnerReference`, the link from
//! an object to the object that manages it (a Pod to its ReplicaSet).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::omit::is_zero_i64;
use super::time::Time;

/// Identity, labels and lifecycle bookkeeping shared by all kinds.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Prefix from which the API makes a unique name when `name` is empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub generate_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The store revision of the last write, for compare-and-swap updates.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// Incremented by the API on every change to `spec`.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub generation: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<OwnerReference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
}

/// Points at an owning object; garbage collection deletes dependents of deleted owners.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub uid: String,
    /// True on the one owner that manages this object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_owner_deletion: Option<bool>,
}

impl ObjectMeta {
    /// The owner reference marked as the managing controller, if any.
    pub fn controller_ref(&self) -> Option<&OwnerReference> {
        self.owner_references
            .iter()
            .find(|owner| owner.controller == Some(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(name: &str, controller: Option<bool>) -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            controller,
            block_owner_deletion: None,
        }
    }

    #[test]
    fn controller_ref_finds_the_managing_owner() {
        let mut meta = ObjectMeta::default();
        assert_eq!(meta.controller_ref(), None);
        meta.owner_references = vec![owner("a", None), owner("b", Some(false))];
        assert_eq!(meta.controller_ref(), None);
        meta.owner_references.push(owner("c", Some(true)));
        assert_eq!(meta.controller_ref().map(|o| o.name.as_str()), Some("c"));
    }

    #[test]
    fn empty_fields_are_omitted_and_missing_fields_default() {
        let meta = ObjectMeta {
            name: "web".into(),
            ..ObjectMeta::default()
        };
        assert_eq!(serde_json::to_string(&meta).unwrap(), r#"{"name":"web"}"#);
        let decoded: ObjectMeta =
            serde_json::from_str(r#"{"name":"web","fieldFromTheFuture":1}"#).unwrap();
        assert_eq!(decoded, meta);
    }

    #[test]
    fn field_names_are_camel_case() {
        let meta = ObjectMeta {
            resource_version: "7".into(),
            owner_references: vec![owner("a", Some(true))],
            ..ObjectMeta::default()
        };
        let json = serde_json::to_string(&meta).unwrap();
        assert!(json.contains(r#""resourceVersion":"7""#), "{json}");
        assert!(
            json.contains(r#""ownerReferences":[{"apiVersion":"apps/v1""#),
            "{json}"
        );
    }
}
