//! Checks for `apiVersion`, `kind` and `metadata`: names, namespace, labels, annotations,
//! owner references and finalizers.

use super::labels::validate_label_map;
use super::{FieldError, report};
use crate::object::kind::Kind;
use crate::object::meta::ObjectMeta;
use crate::object::names::{
    check_dns1035_label, check_dns1123_label, check_dns1123_subdomain, check_qualified_name,
};
use crate::object::resource::Object;

/// `apiVersion` and `kind`, when set, agree with the object's kind.
pub(super) fn validate_type_fields(object: &Object, errors: &mut Vec<FieldError>) {
    let kind = object.kind();
    let (api_version, kind_field) = object.type_fields();
    if !api_version.is_empty() && api_version != kind.api_version() {
        report(
            errors,
            "apiVersion",
            format!(
                "{api_version:?} is not {:?}, the version of {kind}",
                kind.api_version()
            ),
        );
    }
    if !kind_field.is_empty() && kind_field != kind.as_str() {
        report(errors, "kind", format!("{kind_field:?} is not {kind:?}"));
    }
}

/// The metadata rules every kind shares.
pub(super) fn validate_object_meta(kind: Kind, meta: &ObjectMeta, errors: &mut Vec<FieldError>) {
    validate_name(kind, meta, errors);
    validate_namespace(kind, meta, errors);
    validate_label_map(&meta.labels, "metadata.labels", errors);
    for key in meta.annotations.keys() {
        if let Err(problem) = check_qualified_name(key) {
            report(errors, "metadata.annotations", format!("key {problem}"));
        }
    }
    for (index, finalizer) in meta.finalizers.iter().enumerate() {
        if let Err(problem) = check_qualified_name(finalizer) {
            report(errors, format!("metadata.finalizers[{index}]"), problem);
        }
    }
    validate_owner_references(meta, errors);
}

/// Namespace names become DNS labels, so they follow the stricter label rule, and Service
/// names DNS-1035 labels (starting with a letter), as Kubernetes has them; other names are
/// subdomains.
fn validate_name(kind: Kind, meta: &ObjectMeta, errors: &mut Vec<FieldError>) {
    let check = |name: &str| match kind {
        Kind::Namespace => check_dns1123_label(name),
        Kind::Service => check_dns1035_label(name),
        _ => check_dns1123_subdomain(name),
    };
    if !meta.name.is_empty() {
        if let Err(problem) = check(&meta.name) {
            report(errors, "metadata.name", problem);
        }
    } else if !meta.generate_name.is_empty() {
        // The API appends a random alphanumeric suffix; the prefix may end in '-'.
        if check(&format!("{}x", meta.generate_name)).is_err() {
            report(
                errors,
                "metadata.generateName",
                format!(
                    "{:?} must be a valid name prefix: lower case alphanumeric characters or \
                     '-', starting with an alphanumeric character",
                    meta.generate_name
                ),
            );
        }
    } else {
        report(errors, "metadata.name", "required");
    }
}

fn validate_namespace(kind: Kind, meta: &ObjectMeta, errors: &mut Vec<FieldError>) {
    if kind.namespaced() {
        if meta.namespace.is_empty() {
            report(
                errors,
                "metadata.namespace",
                format!("required: {kind} is namespaced"),
            );
        } else if let Err(problem) = check_dns1123_label(&meta.namespace) {
            report(errors, "metadata.namespace", problem);
        }
    } else if !meta.namespace.is_empty() {
        report(
            errors,
            "metadata.namespace",
            format!("must be empty: {kind} is not namespaced"),
        );
    }
}

fn validate_owner_references(meta: &ObjectMeta, errors: &mut Vec<FieldError>) {
    for (index, owner) in meta.owner_references.iter().enumerate() {
        let at = format!("metadata.ownerReferences[{index}]");
        for (field, value) in [
            ("apiVersion", &owner.api_version),
            ("kind", &owner.kind),
            ("name", &owner.name),
            ("uid", &owner.uid),
        ] {
            if value.is_empty() {
                report(errors, format!("{at}.{field}"), "required");
            }
        }
    }
    let controllers = meta
        .owner_references
        .iter()
        .filter(|owner| owner.controller == Some(true))
        .count();
    if controllers > 1 {
        report(
            errors,
            "metadata.ownerReferences",
            format!("only one owner may be the controller, found {controllers}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::meta::OwnerReference;
    use crate::object::node::Node;
    use crate::object::pod::Pod;

    fn check(kind: Kind, meta: &ObjectMeta) -> Vec<FieldError> {
        let mut errors = Vec::new();
        validate_object_meta(kind, meta, &mut errors);
        errors
    }

    fn paths(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.path.as_str()).collect()
    }

    fn meta(name: &str, namespace: &str) -> ObjectMeta {
        ObjectMeta {
            name: name.into(),
            namespace: namespace.into(),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn names_follow_dns_rules_per_kind() {
        assert!(check(Kind::Pod, &meta("web.v1-0", "default")).is_empty());
        assert_eq!(
            paths(&check(Kind::Pod, &meta("Web", "default"))),
            ["metadata.name"]
        );
        assert!(check(Kind::Node, &meta("rack1.node-3", "")).is_empty());
        assert_eq!(
            paths(&check(Kind::Namespace, &meta("a.b", ""))),
            ["metadata.name"]
        );
        assert_eq!(
            paths(&check(Kind::Pod, &meta("", "default"))),
            ["metadata.name"]
        );
        // Service names become DNS labels that start with a letter.
        assert!(check(Kind::Service, &meta("web-1", "default")).is_empty());
        for bad in ["1web", "web.v1"] {
            let errors = check(Kind::Service, &meta(bad, "default"));
            assert_eq!(paths(&errors), ["metadata.name"], "{bad}");
        }
        assert!(check(Kind::EndpointSlice, &meta("web-1.x", "default")).is_empty());
    }

    #[test]
    fn generate_name_may_stand_in_for_the_name() {
        let mut generated = meta("", "default");
        generated.generate_name = "web-".into();
        assert!(check(Kind::Pod, &generated).is_empty());
        generated.generate_name = "Web_".into();
        assert_eq!(
            paths(&check(Kind::Pod, &generated)),
            ["metadata.generateName"]
        );
    }

    #[test]
    fn namespace_required_exactly_for_namespaced_kinds() {
        assert_eq!(
            paths(&check(Kind::Pod, &meta("p", ""))),
            ["metadata.namespace"]
        );
        assert_eq!(
            paths(&check(Kind::Pod, &meta("p", "Prod"))),
            ["metadata.namespace"]
        );
        assert_eq!(
            paths(&check(Kind::Node, &meta("n", "default"))),
            ["metadata.namespace"]
        );
        assert!(check(Kind::Namespace, &meta("prod", "")).is_empty());
    }

    #[test]
    fn labels_annotations_finalizers_and_owners() {
        let mut bad = meta("p", "default");
        bad.labels.insert("app".into(), "bad value".into());
        bad.annotations
            .insert("bad key".into(), "anything goes".into());
        bad.finalizers.push("flotilla.io/cleanup".into());
        bad.finalizers.push("no spaces".into());
        let owner = OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "rs".into(),
            uid: "u".into(),
            controller: Some(true),
            block_owner_deletion: None,
        };
        bad.owner_references = vec![
            owner.clone(),
            OwnerReference {
                uid: String::new(),
                ..owner
            },
        ];
        assert_eq!(
            paths(&check(Kind::Pod, &bad)),
            [
                "metadata.labels.app",
                "metadata.annotations",
                "metadata.finalizers[1]",
                "metadata.ownerReferences[1].uid",
                "metadata.ownerReferences",
            ]
        );
    }

    #[test]
    fn type_fields_must_match_the_kind() {
        let mut errors = Vec::new();
        let pod = Pod {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            ..Pod::default()
        };
        validate_type_fields(&Object::Pod(pod), &mut errors);
        assert_eq!(paths(&errors), ["apiVersion", "kind"]);

        let mut errors = Vec::new();
        validate_type_fields(&Object::Node(Node::default()), &mut errors);
        assert!(errors.is_empty());
    }
}
