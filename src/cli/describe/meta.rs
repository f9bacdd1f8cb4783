//! The parts every `describe` view shares: who the object is (name, namespace, labels,
//! annotations, creation time, controller) and how times and conditions are shown.

use flotilla_kernel::object::{ObjectMeta, Time};

use super::super::label_text;
use super::layout::Layout;

/// Name, Namespace (for namespaced kinds), Labels, Annotations and CreationTimestamp.
pub fn identity(layout: &mut Layout, meta: &ObjectMeta, namespaced: bool) {
    layout.field(0, "Name", meta.name.as_str());
    if namespaced {
        layout.field(0, "Namespace", meta.namespace.as_str());
    }
    layout.list(0, "Labels", label_text::pairs(&meta.labels));
    layout.list(0, "Annotations", label_text::pairs(&meta.annotations));
    layout.field(
        0,
        "CreationTimestamp",
        timestamp(meta.creation_timestamp.as_ref()),
    );
    if let Some(deleted) = &meta.deletion_timestamp {
        layout.field(0, "DeletionTimestamp", timestamp(Some(deleted)));
    }
}

/// `Controlled By:  Kind/name`, when a controller owns the object.
pub fn controller(layout: &mut Layout, meta: &ObjectMeta) {
    if let Some(owner) = meta.controller_ref() {
        layout.field(0, "Controlled By", format!("{}/{}", owner.kind, owner.name));
    }
}

/// A time in RFC 3339, or `<unset>`.
pub fn timestamp(time: Option<&Time>) -> String {
    time.map_or("<unset>".to_string(), ToString::to_string)
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::OwnerReference;

    use super::*;

    #[test]
    fn identity_and_controller() {
        let mut meta = ObjectMeta {
            name: "web-1".to_string(),
            namespace: "prod".to_string(),
            labels: [("app".to_string(), "web".to_string())].into(),
            ..ObjectMeta::default()
        };
        meta.owner_references.push(OwnerReference {
            kind: "ReplicaSet".to_string(),
            name: "web-abc".to_string(),
            controller: Some(true),
            ..OwnerReference::default()
        });
        let mut layout = Layout::default();
        identity(&mut layout, &meta, true);
        controller(&mut layout, &meta);
        assert_eq!(
            layout.render(),
            "Name:               web-1\n\
             Namespace:          prod\n\
             Labels:             app=web\n\
             Annotations:        <none>\n\
             CreationTimestamp:  <unset>\n\
             Controlled By:      ReplicaSet/web-abc\n"
        );
    }
}
