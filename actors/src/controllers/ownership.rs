//! Owner references the way the controllers use them: an object belongs to the owner named by
//! its *controller* reference, matched by uid (a name can be reused by a new object; a uid
//! cannot).

use flotilla_kernel::object::{Kind, ObjectMeta, OwnerReference};

/// Whether `meta`'s controller reference names the object with `owner_uid`.
pub fn is_controlled_by(meta: &ObjectMeta, owner_uid: &str) -> bool {
    !owner_uid.is_empty() && meta.controller_ref().is_some_and(|r| r.uid == owner_uid)
}

/// The controller reference a dependent of the `kind` object `owner` carries.
pub fn controller_reference(kind: Kind, owner: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: kind.api_version().to_string(),
        kind: kind.as_str().to_string(),
        name: owner.name.clone(),
        uid: owner.uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether the object has been asked to go away.
pub fn is_terminating(meta: &ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned_by(uid: &str, controller: Option<bool>) -> ObjectMeta {
        ObjectMeta {
            owner_references: vec![OwnerReference {
                api_version: "apps/v1".into(),
                kind: "ReplicaSet".into(),
                name: "web".into(),
                uid: uid.into(),
                controller,
                block_owner_deletion: None,
            }],
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn only_the_controller_reference_counts() {
        assert!(is_controlled_by(&owned_by("u1", Some(true)), "u1"));
        assert!(!is_controlled_by(&owned_by("u1", Some(true)), "u2"));
        assert!(!is_controlled_by(&owned_by("u1", None), "u1"));
        assert!(!is_controlled_by(&owned_by("", Some(true)), ""));
    }

    #[test]
    fn a_controller_reference_names_the_owner() {
        let owner = ObjectMeta {
            name: "web".into(),
            uid: "u1".into(),
            ..ObjectMeta::default()
        };
        let reference = controller_reference(Kind::ReplicaSet, &owner);
        assert_eq!(reference.api_version, "apps/v1");
        assert_eq!(reference.kind, "ReplicaSet");
        assert_eq!(reference.controller, Some(true));
        assert_eq!(reference.block_owner_deletion, Some(true));
        assert!(is_controlled_by(
            &owned_by(&reference.uid, Some(true)),
            "u1"
        ));
    }
}
