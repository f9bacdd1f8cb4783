//! Checks for PodDisruptionBudgets, with Kubernetes' rules and wording: at most one of
//! `minAvailable` and `maxUnavailable`, each a non-negative count or a percentage up to 100%,
//! and a well-formed selector.

use super::labels::validate_selector_terms;
use super::{FieldError, report};
use crate::object::intstr::IntOrString;
use crate::object::pod_disruption_budget::PodDisruptionBudget;

pub(super) fn validate_pod_disruption_budget(
    pdb: &PodDisruptionBudget,
    errors: &mut Vec<FieldError>,
) {
    let spec = &pdb.spec;
    if spec.min_available.is_some() && spec.max_unavailable.is_some() {
        report(
            errors,
            "spec",
            "minAvailable and maxUnavailable cannot be both set",
        );
    }
    let bounds = [
        ("spec.minAvailable", &spec.min_available),
        ("spec.maxUnavailable", &spec.max_unavailable),
    ];
    for (path, bound) in bounds {
        if let Some(problem) = bound.as_ref().and_then(bound_problem) {
            report(errors, path, problem);
        }
    }
    if let Some(selector) = &spec.selector {
        validate_selector_terms(selector, "spec.selector", errors);
    }
}

fn bound_problem(bound: &IntOrString) -> Option<String> {
    match bound {
        IntOrString::Int(count) if *count < 0 => {
            Some(format!("{count}: must be greater than or equal to 0"))
        }
        IntOrString::Int(_) => None,
        IntOrString::String(text) => match text.strip_suffix('%').map(str::parse::<i64>) {
            Some(Ok(percent)) if percent < 0 => {
                Some(format!("{text:?}: must be greater than or equal to 0"))
            }
            Some(Ok(percent)) if percent > 100 => {
                Some(format!("{text:?}: must not be greater than 100%"))
            }
            Some(Ok(_)) => None,
            _ => Some(format!(
                "{text:?}: a valid percent string must be a numeric string followed by an \
                 ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::labels::{LabelSelector, LabelSelectorOperator, LabelSelectorRequirement};
    use crate::object::pod_disruption_budget::PodDisruptionBudgetSpec;

    fn problems(spec: PodDisruptionBudgetSpec) -> Vec<(String, String)> {
        let pdb = PodDisruptionBudget {
            spec,
            ..PodDisruptionBudget::default()
        };
        let mut errors = Vec::new();
        validate_pod_disruption_budget(&pdb, &mut errors);
        errors.into_iter().map(|e| (e.path, e.message)).collect()
    }

    #[test]
    fn budgets_follow_kubernetes_rules() {
        let int = |n| Some(IntOrString::Int(n));
        let text = |t: &str| Some(IntOrString::String(t.into()));
        let cases = [
            ("min count", int(2), None, vec![]),
            ("max percent", None, text("25%"), vec![]),
            ("neither", None, None, vec![]),
            ("100%", text("100%"), None, vec![]),
            (
                "both",
                int(1),
                int(1),
                vec![("spec", "minAvailable and maxUnavailable cannot be both set")],
            ),
            (
                "negative",
                int(-1),
                None,
                vec![(
                    "spec.minAvailable",
                    "-1: must be greater than or equal to 0",
                )],
            ),
            (
                "over 100%",
                None,
                text("150%"),
                vec![(
                    "spec.maxUnavailable",
                    "\"150%\": must not be greater than 100%",
                )],
            ),
        ];
        for (name, min_available, max_unavailable, want) in cases {
            let spec = PodDisruptionBudgetSpec {
                min_available,
                max_unavailable,
                selector: Some(LabelSelector::default()),
                ..PodDisruptionBudgetSpec::default()
            };
            let want: Vec<(String, String)> = want
                .into_iter()
                .map(|(p, m)| (p.to_string(), m.to_string()))
                .collect();
            assert_eq!(problems(spec), want, "{name}");
        }
        let not_percent = problems(PodDisruptionBudgetSpec {
            min_available: text("half"),
            ..PodDisruptionBudgetSpec::default()
        });
        assert_eq!(not_percent[0].0, "spec.minAvailable");
        assert!(
            not_percent[0].1.contains("a valid percent string"),
            "{not_percent:?}"
        );
    }

    #[test]
    fn the_selector_is_checked() {
        let selector = LabelSelector {
            match_expressions: vec![LabelSelectorRequirement {
                key: "app".into(),
                operator: LabelSelectorOperator::In,
                values: Vec::new(),
            }],
            ..LabelSelector::default()
        };
        let problems = problems(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(1)),
            selector: Some(selector),
            ..PodDisruptionBudgetSpec::default()
        });
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .0
                .starts_with("spec.selector.matchExpressions[0]"),
            "{problems:?}"
        );
    }
}
