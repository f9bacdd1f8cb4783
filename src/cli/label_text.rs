//! Labels and label selectors as one line of text, in the `-l` syntax kubectl shows them in
//! (`app=web,tier in (fe,be)`), so what `get -o wide` and `describe` print can be pasted back
//! into `-l`.

use std::collections::BTreeMap;

use flotilla_kernel::object::{LabelSelector, LabelSelectorOperator};

/// `key=value` pairs joined by commas; `<none>` when there are none.
pub fn labels(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "<none>".to_string();
    }
    pairs(labels).join(",")
}

/// `key=value` pairs, one each.
pub fn pairs(labels: &BTreeMap<String, String>) -> Vec<String> {
    labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect()
}

/// A selector in the `-l` syntax; `<none>` for the empty selector.
pub fn selector(selector: &LabelSelector) -> String {
    let expressions = selector.match_expressions.iter().map(|requirement| {
        let key = &requirement.key;
        let values = requirement.values.join(",");
        match requirement.operator {
            LabelSelectorOperator::In => format!("{key} in ({values})"),
            LabelSelectorOperator::NotIn => format!("{key} notin ({values})"),
            LabelSelectorOperator::Exists => key.clone(),
            LabelSelectorOperator::DoesNotExist => format!("!{key}"),
        }
    });
    let terms: Vec<String> = pairs(&selector.match_labels)
        .into_iter()
        .chain(expressions)
        .collect();
    if terms.is_empty() {
        "<none>".to_string()
    } else {
        terms.join(",")
    }
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::LabelSelectorRequirement;

    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn labels_are_sorted_pairs() {
        assert_eq!(
            labels(&map(&[("tier", "fe"), ("app", "web")])),
            "app=web,tier=fe"
        );
        assert_eq!(labels(&BTreeMap::new()), "<none>");
    }

    #[test]
    fn selectors_use_the_dash_l_syntax() {
        let requirement = |key: &str, operator, values: &[&str]| LabelSelectorRequirement {
            key: key.to_string(),
            operator,
            values: values.iter().map(|value| value.to_string()).collect(),
        };
        let selector_of = LabelSelector {
            match_labels: map(&[("app", "web")]),
            match_expressions: vec![
                requirement("env", LabelSelectorOperator::In, &["a", "b"]),
                requirement("tier", LabelSelectorOperator::NotIn, &["db"]),
                requirement("canary", LabelSelectorOperator::Exists, &[]),
                requirement("legacy", LabelSelectorOperator::DoesNotExist, &[]),
            ],
        };
        assert_eq!(
            selector(&selector_of),
            "app=web,env in (a,b),tier notin (db),canary,!legacy"
        );
        assert_eq!(selector(&LabelSelector::default()), "<none>");
    }
}
