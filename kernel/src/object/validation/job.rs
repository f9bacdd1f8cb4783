//! Checks for a Job (after defaulting), with Kubernetes' rules and messages: counts, the
//! Indexed-only fields, the pod failure policy, the restart policy, and the selector — which,
//! when generated, must be exactly the one generated from the Job's uid.

use std::collections::BTreeSet;

use super::labels::{validate_label_map, validate_selector};
use super::pod::validate_pod_spec;
use super::{FieldError, report, unsupported};
use crate::object::job::{
    CONTROLLER_UID_LABEL, CompletionMode, ExitCodeOperator, Job, JobSpec, PodFailurePolicy,
    PodFailurePolicyAction,
};
use crate::object::names::check_qualified_name;
use crate::object::pod_spec::RestartPolicy;

/// Rules a pod failure policy may have at most.
const MAX_POD_FAILURE_POLICY_RULES: usize = 20;
/// Exit codes one rule may list at most.
const MAX_EXIT_CODE_VALUES: usize = 255;
/// Completions (and so indexes) an Indexed Job may have at most.
const MAX_INDEXED_COMPLETIONS: i32 = 100_000;

pub(super) fn validate_job(job: &Job, errors: &mut Vec<FieldError>) {
    validate_job_spec(&job.spec, "spec", errors);
    validate_selector_and_labels(job, errors);
}

/// The checks a Job's spec and a CronJob's `jobTemplate.spec` share; `at` is the spec's path.
pub(super) fn validate_job_spec(spec: &JobSpec, at: &str, errors: &mut Vec<FieldError>) {
    for (field, value) in [
        ("parallelism", spec.parallelism),
        ("completions", spec.completions),
        ("backoffLimit", spec.backoff_limit),
        ("backoffLimitPerIndex", spec.backoff_limit_per_index),
        ("maxFailedIndexes", spec.max_failed_indexes),
        ("ttlSecondsAfterFinished", spec.ttl_seconds_after_finished),
    ] {
        if let Some(value) = value
            && value < 0
        {
            report(
                errors,
                format!("{at}.{field}"),
                format!("Invalid value: {value}: must be greater than or equal to 0"),
            );
        }
    }
    if let Some(seconds) = spec.active_deadline_seconds
        && seconds <= 0
    {
        report(
            errors,
            format!("{at}.activeDeadlineSeconds"),
            format!("Invalid value: {seconds}: must be greater than 0"),
        );
    }
    validate_indexed_fields(spec, at, errors);
    validate_label_map(
        &spec.template.metadata.labels,
        &format!("{at}.template.metadata.labels"),
        errors,
    );
    let restart = spec.template.spec.restart_policy;
    if restart == RestartPolicy::Always {
        report(
            errors,
            format!("{at}.template.spec.restartPolicy"),
            unsupported("Always", &["OnFailure", "Never"]),
        );
    }
    if let Some(policy) = &spec.pod_failure_policy {
        if restart != RestartPolicy::Never {
            report(
                errors,
                format!("{at}.template.spec.restartPolicy"),
                "Invalid value: only \"Never\" is supported when podFailurePolicy is specified",
            );
        }
        validate_pod_failure_policy(policy, spec, at, errors);
    }
    validate_pod_spec(&spec.template.spec, &format!("{at}.template.spec"), errors);
}

/// `completionMode: Indexed` needs `completions`; the per-index fields need Indexed.
fn validate_indexed_fields(spec: &JobSpec, at: &str, errors: &mut Vec<FieldError>) {
    let indexed = spec.completion_mode == Some(CompletionMode::Indexed);
    if indexed {
        match spec.completions {
            None => report(
                errors,
                format!("{at}.completions"),
                "Required value: when completion mode is Indexed",
            ),
            Some(completions) if completions > MAX_INDEXED_COMPLETIONS => report(
                errors,
                format!("{at}.completions"),
                format!(
                    "Invalid value: {completions}: must be less than or equal to \
                     {MAX_INDEXED_COMPLETIONS} when completion mode is Indexed"
                ),
            ),
            Some(_) => {}
        }
    } else if spec.backoff_limit_per_index.is_some() {
        report(
            errors,
            format!("{at}.backoffLimitPerIndex"),
            "Invalid value: requires indexed completion mode",
        );
    }
    if let Some(max) = spec.max_failed_indexes {
        if spec.backoff_limit_per_index.is_none() {
            report(
                errors,
                format!("{at}.maxFailedIndexes"),
                "Required value: when maxFailedIndexes is specified, backoffLimitPerIndex \
                 must also be specified",
            );
        }
        if let Some(completions) = spec.completions
            && indexed
            && max > completions
        {
            report(
                errors,
                format!("{at}.maxFailedIndexes"),
                format!(
                    "Invalid value: {max}: must be less than or equal to completions \
                     ({completions})"
                ),
            );
        }
    }
}

/// A manual selector must select the template's labels; a generated one must be the
/// Job's own, and the template must carry the Job's uid and name.
fn validate_selector_and_labels(job: &Job, errors: &mut Vec<FieldError>) {
    let template_labels = &job.spec.template.metadata.labels;
    let Some(selector) = &job.spec.selector else {
        report(errors, "spec.selector", "Required value");
        return;
    };
    validate_selector(selector, "spec.selector", errors);
    if !selector.is_empty() && !selector.matches(template_labels) {
        report(
            errors,
            "spec.template.metadata.labels",
            "Invalid value: `selector` does not match template `labels`",
        );
    }
    if !job.generates_selector() {
        return;
    }
    for (key, value) in job.generated_labels() {
        if template_labels.get(&key) != Some(&value) {
            report(
                errors,
                format!("spec.template.metadata.labels.{key}"),
                format!("Invalid value: must be '{value}'"),
            );
        }
    }
    let uid_only = [(CONTROLLER_UID_LABEL.to_owned(), job.metadata.uid.clone())].into();
    if !selector.matches(&uid_only) {
        report(
            errors,
            "spec.selector",
            "Invalid value: `selector` not auto-generated",
        );
    }
}

fn validate_pod_failure_policy(
    policy: &PodFailurePolicy,
    spec: &JobSpec,
    at: &str,
    errors: &mut Vec<FieldError>,
) {
    if policy.rules.len() > MAX_POD_FAILURE_POLICY_RULES {
        report(
            errors,
            format!("{at}.podFailurePolicy.rules"),
            format!(
                "Too many: {}: must have at most {MAX_POD_FAILURE_POLICY_RULES} items",
                policy.rules.len()
            ),
        );
    }
    let containers: BTreeSet<&str> = spec
        .template
        .spec
        .all_containers()
        .map(|c| c.name.as_str())
        .collect();
    for (index, rule) in policy.rules.iter().enumerate() {
        let at = format!("{at}.podFailurePolicy.rules[{index}]");
        if rule.action == PodFailurePolicyAction::FailIndex
            && spec.backoff_limit_per_index.is_none()
        {
            report(
                errors,
                format!("{at}.action"),
                "Invalid value: \"FailIndex\": requires the backoffLimitPerIndex to be set",
            );
        }
        match (&rule.on_exit_codes, rule.on_pod_conditions.is_empty()) {
            (Some(_), false) => report(
                errors,
                at.clone(),
                "Invalid value: specifying both OnExitCodes and OnPodConditions is not supported",
            ),
            (None, true) => report(
                errors,
                at.clone(),
                "Invalid value: specifying one of OnExitCodes and OnPodConditions is required",
            ),
            _ => {}
        }
        if let Some(requirement) = &rule.on_exit_codes {
            let at = format!("{at}.onExitCodes");
            if let Some(name) = &requirement.container_name
                && !containers.contains(name.as_str())
            {
                report(
                    errors,
                    format!("{at}.containerName"),
                    format!(
                        "Invalid value: {name:?}: must be one of the container or \
                         initContainer names in the pod template"
                    ),
                );
            }
            validate_exit_codes(&requirement.values, requirement.operator, &at, errors);
        }
        for (pattern_index, pattern) in rule.on_pod_conditions.iter().enumerate() {
            if let Err(problem) = check_qualified_name(&pattern.type_) {
                report(
                    errors,
                    format!("{at}.onPodConditions[{pattern_index}].type"),
                    problem,
                );
            }
        }
    }
}

/// Kubernetes' rules: a non-empty, strictly increasing list, and no 0 for `In`.
fn validate_exit_codes(
    values: &[i32],
    operator: ExitCodeOperator,
    at: &str,
    errors: &mut Vec<FieldError>,
) {
    let path = format!("{at}.values");
    if values.is_empty() {
        report(
            errors,
            path,
            "Invalid value: at least one value is required",
        );
        return;
    }
    if values.len() > MAX_EXIT_CODE_VALUES {
        report(
            errors,
            path.clone(),
            format!(
                "Too many: {}: must have at most {MAX_EXIT_CODE_VALUES} items",
                values.len()
            ),
        );
    }
    for (index, pair) in values.windows(2).enumerate() {
        if pair[0] == pair[1] {
            report(
                errors,
                format!("{path}[{}]", index + 1),
                format!("Duplicate value: {}", pair[1]),
            );
        } else if pair[0] > pair[1] {
            report(
                errors,
                format!("{path}[{}]", index + 1),
                format!("Invalid value: {}: must be ordered", pair[1]),
            );
        }
    }
    if operator == ExitCodeOperator::In
        && let Some(index) = values.iter().position(|v| *v == 0)
    {
        report(
            errors,
            format!("{path}[{index}]"),
            "Invalid value: 0: must not be 0 for the In operator",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::job::{
        PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyOnPodConditionsPattern,
        PodFailurePolicyRule, default_job,
    };
    use crate::object::labels::LabelSelector;
    use crate::object::pod_spec::Container;

    /// A defaulted, valid Job as the API server sees it at create.
    fn job(edit: impl FnOnce(&mut Job)) -> Job {
        let mut job = Job::default();
        job.metadata.name = "pi".into();
        job.metadata.uid = "u1".into();
        job.spec.template.spec.restart_policy = RestartPolicy::Never;
        job.spec.template.spec.containers.push(Container {
            name: "pi".into(),
            image: "perl:5".into(),
            ..Container::default()
        });
        edit(&mut job);
        default_job(&mut job);
        job
    }

    fn problems(job: &Job) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        validate_job(job, &mut errors);
        errors.into_iter().map(|e| (e.path, e.message)).collect()
    }

    fn paths(job: &Job) -> Vec<String> {
        problems(job).into_iter().map(|(path, _)| path).collect()
    }

    fn exit_codes(action: PodFailurePolicyAction, values: &[i32]) -> PodFailurePolicyRule {
        PodFailurePolicyRule {
            action,
            on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                container_name: None,
                operator: ExitCodeOperator::In,
                values: values.to_vec(),
            }),
            on_pod_conditions: Vec::new(),
        }
    }

    #[test]
    fn a_defaulted_job_is_valid() {
        assert_eq!(problems(&job(|_| {})), []);
        let indexed = job(|j| {
            j.spec.completion_mode = Some(CompletionMode::Indexed);
            j.spec.completions = Some(4);
            j.spec.backoff_limit_per_index = Some(1);
            j.spec.max_failed_indexes = Some(2);
        });
        assert_eq!(problems(&indexed), []);
    }

    type Edit = Box<dyn FnOnce(&mut Job)>;

    #[test]
    fn bad_fields_are_refused_with_their_paths() {
        let cases: Vec<(&str, Edit, &str)> = vec![
            (
                "negative parallelism",
                Box::new(|j| j.spec.parallelism = Some(-1)),
                "spec.parallelism",
            ),
            (
                "negative completions",
                Box::new(|j| j.spec.completions = Some(-2)),
                "spec.completions",
            ),
            (
                "negative backoff",
                Box::new(|j| j.spec.backoff_limit = Some(-1)),
                "spec.backoffLimit",
            ),
            (
                "negative ttl",
                Box::new(|j| j.spec.ttl_seconds_after_finished = Some(-1)),
                "spec.ttlSecondsAfterFinished",
            ),
            (
                "zero deadline",
                Box::new(|j| j.spec.active_deadline_seconds = Some(0)),
                "spec.activeDeadlineSeconds",
            ),
            (
                "Always",
                Box::new(|j| j.spec.template.spec.restart_policy = RestartPolicy::Always),
                "spec.template.spec.restartPolicy",
            ),
            (
                "indexed without completions",
                Box::new(|j| {
                    j.spec.completion_mode = Some(CompletionMode::Indexed);
                    j.spec.parallelism = Some(2);
                }),
                "spec.completions",
            ),
            (
                "per-index limit when NonIndexed",
                Box::new(|j| j.spec.backoff_limit_per_index = Some(1)),
                "spec.backoffLimitPerIndex",
            ),
            (
                "max failed indexes alone",
                Box::new(|j| {
                    j.spec.completion_mode = Some(CompletionMode::Indexed);
                    j.spec.completions = Some(3);
                    j.spec.max_failed_indexes = Some(1);
                }),
                "spec.maxFailedIndexes",
            ),
            (
                "wrong uid label",
                Box::new(|j| {
                    j.spec
                        .template
                        .metadata
                        .labels
                        .insert(CONTROLLER_UID_LABEL.into(), "other".into());
                }),
                "spec.template.metadata.labels",
            ),
            (
                "foreign selector",
                Box::new(|j| {
                    j.spec.selector = Some(LabelSelector {
                        match_labels: [("app".to_owned(), "pi".to_owned())].into(),
                        ..LabelSelector::default()
                    });
                    j.spec
                        .template
                        .metadata
                        .labels
                        .insert("app".into(), "pi".into());
                }),
                "spec.selector",
            ),
            (
                "manual selector not matching",
                Box::new(|j| {
                    j.spec.manual_selector = Some(true);
                    j.spec.selector = Some(LabelSelector {
                        match_labels: [("app".to_owned(), "pi".to_owned())].into(),
                        ..LabelSelector::default()
                    });
                }),
                "spec.template.metadata.labels",
            ),
            (
                "manual without selector",
                Box::new(|j| j.spec.manual_selector = Some(true)),
                "spec.selector",
            ),
            (
                "policy with OnFailure",
                Box::new(|j| {
                    j.spec.template.spec.restart_policy = RestartPolicy::OnFailure;
                    j.spec.pod_failure_policy = Some(PodFailurePolicy {
                        rules: vec![exit_codes(PodFailurePolicyAction::FailJob, &[42])],
                    });
                }),
                "spec.template.spec.restartPolicy",
            ),
            (
                "FailIndex without a per-index limit",
                Box::new(|j| {
                    j.spec.pod_failure_policy = Some(PodFailurePolicy {
                        rules: vec![exit_codes(PodFailurePolicyAction::FailIndex, &[42])],
                    });
                }),
                "spec.podFailurePolicy.rules[0].action",
            ),
            (
                "0 with In",
                Box::new(|j| {
                    j.spec.pod_failure_policy = Some(PodFailurePolicy {
                        rules: vec![exit_codes(PodFailurePolicyAction::FailJob, &[0, 1])],
                    });
                }),
                "spec.podFailurePolicy.rules[0].onExitCodes.values[0]",
            ),
            (
                "unordered codes",
                Box::new(|j| {
                    j.spec.pod_failure_policy = Some(PodFailurePolicy {
                        rules: vec![exit_codes(PodFailurePolicyAction::Ignore, &[3, 2])],
                    });
                }),
                "spec.podFailurePolicy.rules[0].onExitCodes.values[1]",
            ),
            (
                "unknown container",
                Box::new(|j| {
                    let mut rule = exit_codes(PodFailurePolicyAction::Count, &[1]);
                    if let Some(codes) = &mut rule.on_exit_codes {
                        codes.container_name = Some("nope".into());
                    }
                    j.spec.pod_failure_policy = Some(PodFailurePolicy { rules: vec![rule] });
                }),
                "spec.podFailurePolicy.rules[0].onExitCodes.containerName",
            ),
            (
                "both matchers",
                Box::new(|j| {
                    let mut rule = exit_codes(PodFailurePolicyAction::Ignore, &[1]);
                    rule.on_pod_conditions
                        .push(PodFailurePolicyOnPodConditionsPattern {
                            type_: "DisruptionTarget".into(),
                            ..PodFailurePolicyOnPodConditionsPattern::default()
                        });
                    j.spec.pod_failure_policy = Some(PodFailurePolicy { rules: vec![rule] });
                }),
                "spec.podFailurePolicy.rules[0]",
            ),
        ];
        for (name, edit, path) in cases {
            let job = job(edit);
            assert!(
                paths(&job).iter().any(|p| p == path),
                "{name}: {:?}",
                problems(&job)
            );
        }
    }

    #[test]
    fn messages_are_kubernetes_own() {
        let always = job(|j| j.spec.template.spec.restart_policy = RestartPolicy::Always);
        assert_eq!(
            problems(&always),
            [(
                "spec.template.spec.restartPolicy".to_owned(),
                "Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""
                    .to_owned()
            )]
        );
    }
}
