//! `Namespace`: a named scope for pods and workloads. Deleting one deletes what it contains,
//! held open by `spec.finalizers` until that cleanup is done.

use serde::{Deserialize, Serialize};

use super::meta::ObjectMeta;

/// A scope for namespaced objects.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Namespace {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: NamespaceSpec,
    #[serde(default)]
    pub status: NamespaceStatus,
}

/// Cleanup steps that must finish before the namespace goes away.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
}

/// Whether the namespace is in use or being torn down.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceStatus {
    #[serde(default)]
    pub phase: NamespacePhase,
}

/// The life stage of a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum NamespacePhase {
    /// Objects may be created in it.
    #[default]
    Active,
    /// Being deleted; no new objects are accepted.
    Terminating,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut namespace = Namespace::default();
        namespace.metadata.name = "prod".into();
        namespace.spec.finalizers.push("kubernetes".into());
        namespace.status.phase = NamespacePhase::Terminating;
        let json = serde_json::to_string(&namespace).unwrap();
        assert_eq!(
            json,
            r#"{"metadata":{"name":"prod"},"spec":{"finalizers":["kubernetes"]},"status":{"phase":"Terminating"}}"#
        );
        assert_eq!(serde_json::from_str::<Namespace>(&json).unwrap(), namespace);
        let bare: Namespace = serde_json::from_str("{}").unwrap();
        assert_eq!(bare.status.phase, NamespacePhase::Active);
    }
}
