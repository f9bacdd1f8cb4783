//! Which namespace a command works in: `-n`, else "default" (there are no kubeconfig contexts).
//! A manifest may name its own namespace; like kubectl, `-n` must then agree with it, so a
//! command never silently writes somewhere the operator did not ask for.

use flotilla_kernel::object::{Kind, Object};

/// The namespace used when `-n` is not given.
pub const DEFAULT_NAMESPACE: &str = "default";

/// A manifest's namespace disagrees with `-n`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the namespace from the provided object \"{object}\" does not match the namespace \
     \"{flag}\"; pass '--namespace={object}' to work on it"
)]
pub struct NamespaceMismatch {
    pub object: String,
    pub flag: String,
}

/// The namespace `-n` chose.
pub fn chosen(flag: Option<&str>) -> &str {
    flag.unwrap_or(DEFAULT_NAMESPACE)
}

/// The namespace to address an object of `kind` in: none for cluster-scoped kinds.
pub fn for_kind(kind: Kind, flag: Option<&str>) -> &str {
    if kind.namespaced() { chosen(flag) } else { "" }
}

/// Gives a namespaced manifest object the namespace `-n` chose when it names none, and checks
/// that one it names agrees with `-n`. Cluster-scoped objects are left as they are.
pub fn place(object: &mut Object, flag: Option<&str>) -> Result<(), NamespaceMismatch> {
    if !object.kind().namespaced() {
        return Ok(());
    }
    let meta = object.meta_mut();
    match flag {
        Some(flag) if !meta.namespace.is_empty() && meta.namespace != flag => {
            Err(NamespaceMismatch {
                object: meta.namespace.clone(),
                flag: flag.to_string(),
            })
        }
        _ => {
            if meta.namespace.is_empty() {
                meta.namespace = chosen(flag).to_string();
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::{Node, Pod};

    use super::*;

    fn pod(namespace: &str) -> Object {
        let mut pod = Pod::default();
        pod.metadata.name = "web".to_string();
        pod.metadata.namespace = namespace.to_string();
        Object::Pod(pod)
    }

    #[test]
    fn a_manifest_without_namespace_gets_the_flag_or_default() {
        let mut object = pod("");
        place(&mut object, None).unwrap();
        assert_eq!(object.meta().namespace, "default");
        let mut object = pod("");
        place(&mut object, Some("prod")).unwrap();
        assert_eq!(object.meta().namespace, "prod");
    }

    #[test]
    fn a_manifest_namespace_must_agree_with_the_flag() {
        let mut object = pod("prod");
        place(&mut object, None).unwrap();
        assert_eq!(object.meta().namespace, "prod");
        place(&mut object, Some("prod")).unwrap();
        assert_eq!(
            place(&mut object, Some("dev")),
            Err(NamespaceMismatch {
                object: "prod".to_string(),
                flag: "dev".to_string(),
            })
        );
    }

    #[test]
    fn cluster_scoped_objects_have_no_namespace() {
        let mut object = Object::Node(Node::default());
        place(&mut object, Some("prod")).unwrap();
        assert_eq!(object.meta().namespace, "");
        assert_eq!(for_kind(Kind::Node, Some("prod")), "");
        assert_eq!(for_kind(Kind::Pod, None), "default");
    }
}
