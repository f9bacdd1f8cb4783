//! `LabelSelector`, the structured selector objects carry (`spec.selector` of a Deployment or
//! ReplicaSet), with Kubernetes' matching rules: every `matchLabels` pair and every
//! `matchExpressions` requirement must hold.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Selects objects by their labels.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One set-based requirement on a label key.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub operator: LabelSelectorOperator,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// How a requirement relates a key to its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum LabelSelectorOperator {
    /// The label is present and its value is one of `values`.
    #[default]
    In,
    /// The label is absent, or its value is none of `values`.
    NotIn,
    /// The label is present, whatever its value.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl LabelSelector {
    /// Whether the selector has no terms. An empty selector matches every object.
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Whether `labels` satisfy every term of the selector.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value))
            && self
                .match_expressions
                .iter()
                .all(|requirement| requirement.matches(labels))
    }
}

impl LabelSelectorRequirement {
    /// Whether `labels` satisfy this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            LabelSelectorOperator::In => value.is_some_and(|v| self.values.contains(v)),
            LabelSelectorOperator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            LabelSelectorOperator::Exists => value.is_some(),
            LabelSelectorOperator::DoesNotExist => value.is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn requirement(key: &str, operator: LabelSelectorOperator, values: &[&str]) -> LabelSelector {
        LabelSelector {
            match_expressions: vec![LabelSelectorRequirement {
                key: key.into(),
                operator,
                values: values.iter().map(|v| v.to_string()).collect(),
            }],
            ..LabelSelector::default()
        }
    }

    #[test]
    fn empty_selector_matches_everything() {
        let selector = LabelSelector::default();
        assert!(selector.is_empty());
        assert!(selector.matches(&labels(&[])));
        assert!(selector.matches(&labels(&[("app", "web")])));
    }

    #[test]
    fn match_labels_need_every_pair() {
        let selector = LabelSelector {
            match_labels: labels(&[("app", "web"), ("tier", "front")]),
            ..LabelSelector::default()
        };
        assert!(!selector.is_empty());
        assert!(selector.matches(&labels(&[("app", "web"), ("tier", "front"), ("x", "y")])));
        assert!(!selector.matches(&labels(&[("app", "web")])));
        assert!(!selector.matches(&labels(&[("app", "web"), ("tier", "back")])));
    }

    #[test]
    fn operators_follow_kubernetes() {
        use LabelSelectorOperator::*;
        let prod = labels(&[("env", "prod")]);
        let none = labels(&[]);
        assert!(requirement("env", In, &["prod", "dev"]).matches(&prod));
        assert!(!requirement("env", In, &["dev"]).matches(&prod));
        assert!(!requirement("env", In, &["prod"]).matches(&none));
        assert!(requirement("env", NotIn, &["dev"]).matches(&prod));
        assert!(requirement("env", NotIn, &["dev"]).matches(&none));
        assert!(!requirement("env", NotIn, &["prod"]).matches(&prod));
        assert!(requirement("env", Exists, &[]).matches(&prod));
        assert!(!requirement("env", Exists, &[]).matches(&none));
        assert!(requirement("env", DoesNotExist, &[]).matches(&none));
        assert!(!requirement("env", DoesNotExist, &[]).matches(&prod));
    }

    #[test]
    fn serializes_like_kubernetes() {
        let selector = requirement("env", LabelSelectorOperator::NotIn, &["a"]);
        let json = serde_json::to_string(&selector).unwrap();
        assert_eq!(
            json,
            r#"{"matchExpressions":[{"key":"env","operator":"NotIn","values":["a"]}]}"#
        );
        let back: LabelSelector = serde_json::from_str(&json).unwrap();
        assert_eq!(back, selector);
    }
}
