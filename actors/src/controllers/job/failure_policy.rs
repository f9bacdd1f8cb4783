//! `spec.podFailurePolicy`: the first rule matching a failed pod decides what its failure
//! means (fail the Job, fail its index, ignore it, or count it), as in Kubernetes. Exit codes
//! are read from the containers that terminated with a non-zero code, init containers first;
//! pod conditions match by type and status.

use flotilla_kernel::object::{
    ContainerStatus, ExitCodeOperator, Pod, PodFailurePolicy, PodFailurePolicyAction,
    PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyRule,
};

/// What the policy made of one failed pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub action: PodFailurePolicyAction,
    /// Kubernetes' explanation, used as the Job's condition message for `FailJob`.
    pub message: String,
}

/// The verdict of the first matching rule; `None` (count the failure) when none matches.
pub fn judge(policy: Option<&PodFailurePolicy>, pod: &Pod) -> Option<Verdict> {
    let policy = policy?;
    policy
        .rules
        .iter()
        .enumerate()
        .find_map(|(index, rule)| matching(rule, pod).map(|why| (index, rule, why)))
        .map(|(index, rule, why)| Verdict {
            action: rule.action,
            message: format!("{why} matching {:?} rule at index {index}", rule.action),
        })
}

/// Why the rule matches the pod (the start of Kubernetes' message), if it does.
fn matching(rule: &PodFailurePolicyRule, pod: &Pod) -> Option<String> {
    let pod_name = format!("{}/{}", pod.metadata.namespace, pod.metadata.name);
    if let Some(requirement) = &rule.on_exit_codes {
        let status = &pod.status;
        let container = status
            .init_container_statuses
            .iter()
            .chain(&status.container_statuses)
            .find(|c| exit_code_matches(requirement, c))?;
        let code = container.state.terminated.as_ref()?.exit_code;
        return Some(format!(
            "Container {} for pod {pod_name} failed with exit code {code}",
            container.name
        ));
    }
    rule.on_pod_conditions
        .iter()
        .find(|pattern| {
            pod.status
                .conditions
                .iter()
                .any(|c| c.type_ == pattern.type_ && c.status == pattern.status)
        })
        .map(|pattern| format!("Pod {pod_name} has condition {}", pattern.type_))
}

fn exit_code_matches(
    requirement: &PodFailurePolicyOnExitCodesRequirement,
    container: &ContainerStatus,
) -> bool {
    let Some(terminated) = &container.state.terminated else {
        return false;
    };
    let named = requirement
        .container_name
        .as_ref()
        .is_none_or(|name| *name == container.name);
    let listed = requirement.values.contains(&terminated.exit_code);
    let wanted = match requirement.operator {
        ExitCodeOperator::In => listed,
        ExitCodeOperator::NotIn => !listed,
    };
    named && terminated.exit_code != 0 && wanted
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::{
        ConditionStatus, ContainerState, ContainerStateTerminated, PodCondition,
        PodFailurePolicyOnPodConditionsPattern,
    };

    use super::*;

    fn failed(codes: &[(&str, i32)], conditions: &[&str]) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.namespace = "default".into();
        pod.metadata.name = "pi-x".into();
        pod.status.container_statuses = codes
            .iter()
            .map(|(name, code)| ContainerStatus {
                name: (*name).into(),
                state: ContainerState {
                    terminated: Some(ContainerStateTerminated {
                        exit_code: *code,
                        ..ContainerStateTerminated::default()
                    }),
                    ..ContainerState::default()
                },
                ..ContainerStatus::default()
            })
            .collect();
        pod.status.conditions = conditions
            .iter()
            .map(|type_| PodCondition {
                type_: (*type_).into(),
                status: ConditionStatus::True,
                ..PodCondition::default()
            })
            .collect();
        pod
    }

    fn codes(
        action: PodFailurePolicyAction,
        container: Option<&str>,
        operator: ExitCodeOperator,
        values: &[i32],
    ) -> PodFailurePolicyRule {
        PodFailurePolicyRule {
            action,
            on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                container_name: container.map(Into::into),
                operator,
                values: values.to_vec(),
            }),
            on_pod_conditions: Vec::new(),
        }
    }

    fn condition(action: PodFailurePolicyAction, type_: &str) -> PodFailurePolicyRule {
        PodFailurePolicyRule {
            action,
            on_exit_codes: None,
            on_pod_conditions: vec![PodFailurePolicyOnPodConditionsPattern {
                type_: type_.into(),
                status: ConditionStatus::True,
            }],
        }
    }

    #[test]
    fn the_first_matching_rule_decides() {
        use ExitCodeOperator::{In, NotIn};
        use PodFailurePolicyAction::{Count, FailJob, Ignore};
        let policy = PodFailurePolicy {
            rules: vec![
                condition(Ignore, "DisruptionTarget"),
                codes(FailJob, Some("main"), In, &[42]),
                codes(Count, None, NotIn, &[42]),
            ],
        };
        let cases = [
            (
                "disrupted",
                failed(&[("main", 42)], &["DisruptionTarget"]),
                Some(Ignore),
            ),
            ("42 in main", failed(&[("main", 42)], &[]), Some(FailJob)),
            (
                "42 in a sidecar",
                failed(&[("side", 42), ("main", 0)], &[]),
                None,
            ),
            ("another code", failed(&[("main", 1)], &[]), Some(Count)),
            ("exit 0 never matches", failed(&[("main", 0)], &[]), None),
        ];
        for (name, pod, want) in cases {
            let got = judge(Some(&policy), &pod).map(|v| v.action);
            assert_eq!(got, want, "{name}");
        }
        assert_eq!(judge(None, &failed(&[("main", 42)], &[])), None);
    }

    #[test]
    fn messages_name_the_container_code_and_rule() {
        let policy = PodFailurePolicy {
            rules: vec![codes(
                PodFailurePolicyAction::FailJob,
                None,
                ExitCodeOperator::In,
                &[42],
            )],
        };
        let verdict = judge(Some(&policy), &failed(&[("main", 42)], &[])).unwrap();
        assert_eq!(
            verdict.message,
            "Container main for pod default/pi-x failed with exit code 42 matching FailJob \
             rule at index 0"
        );
    }
}
