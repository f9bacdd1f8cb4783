//! [`ObjectKey`]: what a controller's work queue holds — the namespace and name of an object,
//! never the object itself, so a reconcile always reads the object fresh.

use std::fmt;

use flotilla_kernel::object::ObjectMeta;

/// The namespace and name of a namespaced object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The key of the object `meta` describes.
    pub fn of(meta: &ObjectMeta) -> Self {
        Self::new(meta.namespace.clone(), meta.name.clone())
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_print_as_namespace_slash_name() {
        assert_eq!(ObjectKey::new("default", "web").to_string(), "default/web");
    }
}
