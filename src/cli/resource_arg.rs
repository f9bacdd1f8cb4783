//! The resource arguments of `get`, `describe`, `delete` and `scale`, read the way kubectl reads
//! them: `KIND[,KIND...] [NAME...]` or `KIND/NAME...`, where KIND is any name `Kind::parse`
//! knows (`po`, `pods`, `deploy`) optionally followed by its API group (`deployment.apps`). Also the names
//! kubectl shows a kind by (`pods`, `deployments.apps`, `deployment.apps/web`).

use flotilla_kernel::object::{Kind, UnknownKind};

/// One kind and the names asked for (none: all of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: Kind,
    pub names: Vec<String>,
}

/// The resource arguments do not name resources.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceArgError {
    #[error("you must specify the type of resource")]
    MissingKind,
    #[error(transparent)]
    UnknownKind(#[from] UnknownKind),
    #[error("the server doesn't have a resource type \"{0}\"")]
    UnknownGroup(String),
    #[error("\"{0}\" is not in KIND/NAME form")]
    NotKindName(String),
    #[error(
        "there is no need to specify a resource type as a separate argument when passing \
         arguments in resource/name form (e.g. 'get pod/{0}' instead of 'get pod pod/{0}')"
    )]
    MixedForms(String),
}

/// Reads `KIND[,KIND...] [NAME...]` or `KIND/NAME...` into targets, one per kind in the
/// order first named, keeping the order of names.
pub fn parse_targets(args: &[String]) -> Result<Vec<Target>, ResourceArgError> {
    let (first, rest) = args.split_first().ok_or(ResourceArgError::MissingKind)?;
    if !first.contains('/') {
        if let Some(slashed) = rest.iter().find(|name| name.contains('/')) {
            let name = slashed.rsplit('/').next().unwrap_or_default();
            return Err(ResourceArgError::MixedForms(name.to_string()));
        }
        let mut kinds = Vec::new();
        for kind in first.split(',') {
            let kind = parse_kind(kind)?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        let targets = kinds.into_iter().map(|kind| Target {
            kind,
            names: rest.to_vec(),
        });
        return Ok(targets.collect());
    }
    let mut targets: Vec<Target> = Vec::new();
    for arg in args {
        let (kind, name) = parse_kind_name(arg)?;
        match targets.iter_mut().find(|target| target.kind == kind) {
            Some(target) => target.names.push(name),
            None => targets.push(Target {
                kind,
                names: vec![name],
            }),
        }
    }
    Ok(targets)
}

/// Reads `KIND/NAME`.
pub fn parse_kind_name(arg: &str) -> Result<(Kind, String), ResourceArgError> {
    let (kind, name) = arg
        .split_once('/')
        .ok_or_else(|| ResourceArgError::NotKindName(arg.to_string()))?;
    if name.is_empty() || name.contains('/') {
        return Err(ResourceArgError::NotKindName(arg.to_string()));
    }
    Ok((parse_kind(kind)?, name.to_string()))
}

/// Reads a kind, optionally qualified by its API group (`deployments.apps`).
pub fn parse_kind(text: &str) -> Result<Kind, ResourceArgError> {
    let (name, group) = text.split_once('.').unwrap_or((text, ""));
    let kind = Kind::parse(name)?;
    if !group.is_empty() && !group.eq_ignore_ascii_case(api_group(kind)) {
        return Err(ResourceArgError::UnknownGroup(text.to_string()));
    }
    Ok(kind)
}

/// The kind's API group: "" for the core group, "apps" for workloads.
pub fn api_group(kind: Kind) -> &'static str {
    kind.api_version()
        .split_once('/')
        .map_or("", |(group, _version)| group)
}

/// The resource as kubectl names it in errors: `pods`, `deployments.apps`.
pub fn resource_name(kind: Kind) -> String {
    with_group(kind.plural().to_string(), kind)
}

/// The type as kubectl prints it before a name: `pod`, `deployment.apps`.
pub fn type_name(kind: Kind) -> String {
    with_group(kind.as_str().to_ascii_lowercase(), kind)
}

fn with_group(name: String, kind: Kind) -> String {
    match api_group(kind) {
        "" => name,
        group => format!("{name}.{group}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn kind_then_names() {
        assert_eq!(
            parse_targets(&args("po web-1 web-2")),
            Ok(vec![Target {
                kind: Kind::Pod,
                names: args("web-1 web-2"),
            }])
        );
        assert_eq!(
            parse_targets(&args("deployment.apps")),
            Ok(vec![Target {
                kind: Kind::Deployment,
                names: vec![],
            }])
        );
    }

    #[test]
    fn several_kinds_separated_by_commas() {
        assert_eq!(
            parse_targets(&args("deploy,rs,deployments web")),
            Ok(vec![
                Target {
                    kind: Kind::Deployment,
                    names: args("web"),
                },
                Target {
                    kind: Kind::ReplicaSet,
                    names: args("web"),
                },
            ])
        );
        assert!(matches!(
            parse_targets(&args("deploy,")),
            Err(ResourceArgError::UnknownKind(_))
        ));
    }

    #[test]
    fn kind_slash_name_groups_by_kind_in_order() {
        assert_eq!(
            parse_targets(&args("deploy/web pod/a deployments.apps/api pods/b")),
            Ok(vec![
                Target {
                    kind: Kind::Deployment,
                    names: args("web api"),
                },
                Target {
                    kind: Kind::Pod,
                    names: args("a b"),
                },
            ])
        );
    }

    #[test]
    fn many_spellings_of_a_kind() {
        for (text, kind) in [
            ("pods", Kind::Pod),
            ("Pod", Kind::Pod),
            ("rs", Kind::ReplicaSet),
            ("replicasets.apps", Kind::ReplicaSet),
            ("no", Kind::Node),
            ("ns", Kind::Namespace),
            ("namespaces", Kind::Namespace),
            ("DEPLOY", Kind::Deployment),
            ("runtimeclasses", Kind::RuntimeClass),
            ("runtimeclass", Kind::RuntimeClass),
            ("runtimeclasses.node.k8s.io", Kind::RuntimeClass),
            ("priorityclasses", Kind::PriorityClass),
            ("pc", Kind::PriorityClass),
            ("priorityclasses.scheduling.k8s.io", Kind::PriorityClass),
            ("svc", Kind::Service),
            ("services", Kind::Service),
            ("service", Kind::Service),
            ("endpointslices", Kind::EndpointSlice),
            ("endpointslice.discovery.k8s.io", Kind::EndpointSlice),
            ("netpol", Kind::NetworkPolicy),
            ("networkpolicy", Kind::NetworkPolicy),
            ("networkpolicies.networking.k8s.io", Kind::NetworkPolicy),
            ("pdb", Kind::PodDisruptionBudget),
            ("poddisruptionbudgets.policy", Kind::PodDisruptionBudget),
            ("ds", Kind::DaemonSet),
            ("daemonsets.apps", Kind::DaemonSet),
            ("sts", Kind::StatefulSet),
            ("statefulset.apps", Kind::StatefulSet),
        ] {
            assert_eq!(parse_kind(text), Ok(kind), "{text}");
        }
    }

    #[test]
    fn wrong_kinds_and_groups_are_refused() {
        assert!(matches!(
            parse_kind("widgets"),
            Err(ResourceArgError::UnknownKind(_))
        ));
        assert_eq!(
            parse_kind("pods.apps"),
            Err(ResourceArgError::UnknownGroup("pods.apps".to_string()))
        );
        assert_eq!(parse_targets(&[]), Err(ResourceArgError::MissingKind));
    }

    #[test]
    fn malformed_names_are_refused() {
        assert_eq!(
            parse_targets(&args("pod/")),
            Err(ResourceArgError::NotKindName("pod/".to_string()))
        );
        assert_eq!(
            parse_targets(&args("pod/a/b")),
            Err(ResourceArgError::NotKindName("pod/a/b".to_string()))
        );
        assert_eq!(
            parse_targets(&args("pod/a b")),
            Err(ResourceArgError::NotKindName("b".to_string()))
        );
        assert_eq!(
            parse_targets(&args("pod pod/a")),
            Err(ResourceArgError::MixedForms("a".to_string()))
        );
    }

    #[test]
    fn names_as_kubectl_prints_them() {
        assert_eq!(resource_name(Kind::Pod), "pods");
        assert_eq!(resource_name(Kind::Deployment), "deployments.apps");
        assert_eq!(type_name(Kind::Pod), "pod");
        assert_eq!(type_name(Kind::ReplicaSet), "replicaset.apps");
        assert_eq!(type_name(Kind::Namespace), "namespace");
        assert_eq!(
            resource_name(Kind::RuntimeClass),
            "runtimeclasses.node.k8s.io"
        );
        assert_eq!(type_name(Kind::Service), "service");
        assert_eq!(
            type_name(Kind::EndpointSlice),
            "endpointslice.discovery.k8s.io"
        );
        assert_eq!(
            type_name(Kind::NetworkPolicy),
            "networkpolicy.networking.k8s.io"
        );
    }
}
