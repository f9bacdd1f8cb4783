//! Checks for label maps (metadata labels, node selectors) and structured label selectors.

use std::collections::BTreeMap;

use super::FieldError;
use super::report;
use crate::object::labels::{LabelSelector, LabelSelectorOperator};
use crate::object::names::{check_label_value, check_qualified_name};

/// Every key is a qualified name and every value a valid label value.
pub(super) fn validate_label_map(
    labels: &BTreeMap<String, String>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    for (key, value) in labels {
        if let Err(problem) = check_qualified_name(key) {
            report(errors, path, format!("key {problem}"));
        }
        if let Err(problem) = check_label_value(value) {
            report(errors, format!("{path}.{key}"), format!("value {problem}"));
        }
    }
}

/// A non-empty selector whose terms are well formed.
pub(super) fn validate_selector(
    selector: &LabelSelector,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    if selector.is_empty() {
        report(
            errors,
            path,
            "required: an empty selector would select every pod",
        );
        return;
    }
    validate_selector_terms(selector, path, errors);
}

/// The terms of a selector are well formed; an empty selector (matching everything) is fine.
pub(super) fn validate_selector_terms(
    selector: &LabelSelector,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    validate_label_map(
        &selector.match_labels,
        &format!("{path}.matchLabels"),
        errors,
    );
    for (index, requirement) in selector.match_expressions.iter().enumerate() {
        let at = format!("{path}.matchExpressions[{index}]");
        if let Err(problem) = check_qualified_name(&requirement.key) {
            report(errors, format!("{at}.key"), problem);
        }
        let needs_values = matches!(
            requirement.operator,
            LabelSelectorOperator::In | LabelSelectorOperator::NotIn
        );
        if needs_values && requirement.values.is_empty() {
            report(
                errors,
                format!("{at}.values"),
                format!("required for operator {:?}", requirement.operator),
            );
        }
        if !needs_values && !requirement.values.is_empty() {
            report(
                errors,
                format!("{at}.values"),
                format!("must be empty for operator {:?}", requirement.operator),
            );
        }
        for value in &requirement.values {
            if let Err(problem) = check_label_value(value) {
                report(errors, format!("{at}.values"), problem);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::labels::LabelSelectorRequirement;

    fn paths(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.path.as_str()).collect()
    }

    #[test]
    fn label_maps() {
        let mut errors = Vec::new();
        let labels = BTreeMap::from([
            ("app".to_string(), "web".to_string()),
            ("Bad Key".to_string(), "x".to_string()),
            ("tier".to_string(), "-front".to_string()),
        ]);
        validate_label_map(&labels, "metadata.labels", &mut errors);
        assert_eq!(paths(&errors), ["metadata.labels", "metadata.labels.tier"]);
        assert!(errors[0].message.contains("\"Bad Key\""), "{errors:?}");
    }

    #[test]
    fn selectors() {
        let mut errors = Vec::new();
        validate_selector(&LabelSelector::default(), "spec.selector", &mut errors);
        assert_eq!(paths(&errors), ["spec.selector"]);

        let mut errors = Vec::new();
        let selector = LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![
                LabelSelectorRequirement {
                    key: "env".into(),
                    operator: LabelSelectorOperator::In,
                    values: vec![],
                },
                LabelSelectorRequirement {
                    key: "env".into(),
                    operator: LabelSelectorOperator::Exists,
                    values: vec!["x".into()],
                },
                LabelSelectorRequirement {
                    key: "".into(),
                    operator: LabelSelectorOperator::NotIn,
                    values: vec!["ok".into()],
                },
            ],
        };
        validate_selector(&selector, "spec.selector", &mut errors);
        assert_eq!(
            paths(&errors),
            [
                "spec.selector.matchExpressions[0].values",
                "spec.selector.matchExpressions[1].values",
                "spec.selector.matchExpressions[2].key",
            ]
        );
    }
}
