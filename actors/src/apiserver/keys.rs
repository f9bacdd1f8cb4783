//! Where objects live in the store: `/registry/<plural>/<namespace>/<name>` for namespaced
//! kinds, `/registry/<plural>/<name>` for cluster-scoped ones — so listing a namespace, or a
//! kind across all namespaces, is one prefix range.

use flotilla_kernel::object::Kind;

pub fn object_key(kind: Kind, namespace: &str, name: &str) -> Vec<u8> {
    if kind.namespaced() {
        format!("/registry/{}/{namespace}/{name}", kind.plural()).into_bytes()
    } else {
        format!("/registry/{}/{name}", kind.plural()).into_bytes()
    }
}

/// The prefix of every object of `kind` in `namespace`, or in all namespaces.
pub fn list_prefix(kind: Kind, namespace: Option<&str>) -> Vec<u8> {
    match namespace {
        Some(namespace) if kind.namespaced() => {
            format!("/registry/{}/{namespace}/", kind.plural()).into_bytes()
        }
        _ => format!("/registry/{}/", kind.plural()).into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaced_and_cluster_scoped_keys() {
        assert_eq!(
            object_key(Kind::Pod, "default", "web"),
            b"/registry/pods/default/web"
        );
        assert_eq!(object_key(Kind::Node, "", "n1"), b"/registry/nodes/n1");
        assert_eq!(
            list_prefix(Kind::Pod, Some("default")),
            b"/registry/pods/default/"
        );
        assert_eq!(list_prefix(Kind::Pod, None), b"/registry/pods/");
        assert_eq!(
            list_prefix(Kind::Node, Some("default")),
            b"/registry/nodes/"
        );
    }

    #[test]
    fn a_namespace_prefix_does_not_match_a_longer_namespace() {
        let key = object_key(Kind::Pod, "default2", "web");
        assert!(!key.starts_with(&list_prefix(Kind::Pod, Some("default"))));
    }
}
