//! `Toleration`: lets a pod onto (or keep it on) a node whose taints would repel it, with
//! Kubernetes' matching: an empty key with `Exists` matches every taint, an empty effect
//! matches every effect, `Equal` (the default) also compares the value.

use serde::{Deserialize, Serialize};

use super::node::{Taint, TaintEffect};

/// One toleration of a pod. `operator` and `effect` are kept as written and checked by
/// validation, so a wrong value is reported with Kubernetes' message and its field path.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Toleration {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    /// `Equal` (the default when empty) or `Exists`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operator: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`; empty matches all three.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub effect: String,
    /// How long a pod stays on a node after a `NoExecute` taint it tolerates appears; unset:
    /// for ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

impl Toleration {
    pub const EQUAL: &'static str = "Equal";
    pub const EXISTS: &'static str = "Exists";
    pub const OPERATORS: [&'static str; 2] = [Self::EQUAL, Self::EXISTS];

    /// Whether this toleration lets the pod past `taint`.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if !self.effect.is_empty() && self.effect != taint.effect.as_str() {
            return false;
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        match self.operator.as_str() {
            Self::EXISTS => true,
            "" | Self::EQUAL => self.value == taint.value,
            _ => false,
        }
    }
}

impl TaintEffect {
    pub const NAMES: [&'static str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

    /// The effect's name as manifests spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoSchedule => "NoSchedule",
            Self::PreferNoSchedule => "PreferNoSchedule",
            Self::NoExecute => "NoExecute",
        }
    }
}

/// Whether any of `tolerations` lets a pod past `taint`.
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations
        .iter()
        .any(|toleration| toleration.tolerates(taint))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: &str, effect: TaintEffect) -> Taint {
        Taint {
            key: key.into(),
            value: value.into(),
            effect,
        }
    }

    fn toleration(key: &str, operator: &str, value: &str, effect: &str) -> Toleration {
        Toleration {
            key: key.into(),
            operator: operator.into(),
            value: value.into(),
            effect: effect.into(),
            toleration_seconds: None,
        }
    }

    #[test]
    fn equal_compares_key_value_and_effect() {
        let gpu = taint("gpu", "true", TaintEffect::NoSchedule);
        assert!(toleration("gpu", "Equal", "true", "NoSchedule").tolerates(&gpu));
        assert!(toleration("gpu", "", "true", "").tolerates(&gpu));
        assert!(!toleration("gpu", "Equal", "false", "NoSchedule").tolerates(&gpu));
        assert!(!toleration("gpu", "Equal", "true", "NoExecute").tolerates(&gpu));
        assert!(!toleration("tpu", "Equal", "true", "").tolerates(&gpu));
    }

    #[test]
    fn exists_ignores_the_value_and_an_empty_key_matches_every_taint() {
        let gpu = taint("gpu", "true", TaintEffect::PreferNoSchedule);
        assert!(toleration("gpu", "Exists", "", "").tolerates(&gpu));
        assert!(toleration("", "Exists", "", "").tolerates(&gpu));
        assert!(toleration("", "Exists", "", "PreferNoSchedule").tolerates(&gpu));
        assert!(!toleration("", "Exists", "", "NoSchedule").tolerates(&gpu));
        assert!(!toleration("gpu", "Sometimes", "true", "").tolerates(&gpu));
        assert!(tolerated(
            &[
                toleration("x", "", "", ""),
                toleration("gpu", "Exists", "", "")
            ],
            &gpu
        ));
        assert!(!tolerated(&[], &gpu));
    }

    #[test]
    fn effects_are_named_as_manifests_write_them() {
        for (effect, name) in [
            (TaintEffect::NoSchedule, "NoSchedule"),
            (TaintEffect::PreferNoSchedule, "PreferNoSchedule"),
            (TaintEffect::NoExecute, "NoExecute"),
        ] {
            assert_eq!(effect.as_str(), name);
            assert_eq!(serde_json::to_value(effect).unwrap(), name);
        }
    }
}
