//! Admission: what the API server does to an object between the client and the store —
//! defaulting, validation, the metadata only the server may set, and the rules of update,
//! status update and apply. Pure functions over objects, so every rule is unit-tested.

use serde_json::Value;

use flotilla_kernel::api::{ApiError, ErrorCode};
use flotilla_kernel::object::{Kind, Object, Time, apply_defaults, validate};

/// Metadata fields clients cannot set or change.
const SERVER_OWNED_METADATA: [&str; 6] = [
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "resourceVersion",
];

fn invalid(object: &Object, message: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorCode::Invalid,
        format!(
            "{} {:?} is invalid: {message}",
            object.kind().as_str(),
            object.meta().name
        ),
    )
}

fn from_value(value: Value) -> Result<Object, ApiError> {
    let bytes = serde_json::to_vec(&value).map_err(|e| ApiError::internal(e.to_string()))?;
    Object::from_json(&bytes).map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))
}

fn validated(object: Object) -> Result<Object, ApiError> {
    validate(&object).map_err(|errors| ApiError::new(ErrorCode::Invalid, errors.to_string()))?;
    Ok(object)
}

/// A new object: defaults, validation and server-set metadata. `generated_suffix` completes
/// `metadata.generateName` when no name is given.
pub fn admit_create(
    mut object: Object,
    uid: String,
    now: Time,
    generated_suffix: &str,
) -> Result<Object, ApiError> {
    let meta = object.meta_mut();
    if meta.name.is_empty() && !meta.generate_name.is_empty() {
        meta.name = format!("{}{generated_suffix}", meta.generate_name);
    }
    meta.uid = uid;
    meta.creation_timestamp = Some(now);
    meta.generation = 1;
    meta.resource_version.clear();
    meta.deletion_timestamp = None;
    meta.deletion_grace_period_seconds = None;
    apply_defaults(&mut object);
    validated(object)
}

/// A replacement of metadata and spec. Status and server-owned metadata are kept from
/// `current`; the generation moves when the spec changes.
pub fn admit_update(current: &Object, mut incoming: Object) -> Result<Object, ApiError> {
    if incoming.kind() != current.kind()
        || incoming.meta().name != current.meta().name
        || incoming.meta().namespace != current.meta().namespace
    {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!(
                "an update of {} {:?} cannot change its kind, name or namespace",
                current.kind().as_str(),
                current.meta().name
            ),
        ));
    }
    apply_defaults(&mut incoming);
    let was = current.to_value();
    let mut next = incoming.to_value();
    for field in SERVER_OWNED_METADATA {
        match was["metadata"].get(field) {
            Some(value) => next["metadata"][field] = value.clone(),
            None => {
                if let Some(meta) = next["metadata"].as_object_mut() {
                    meta.remove(field);
                }
            }
        }
    }
    next["status"] = was["status"].clone();
    if was["immutable"] == Value::Bool(true)
        && (next["data"] != was["data"] || next["immutable"] != was["immutable"])
    {
        return Err(invalid(
            current,
            "data: field is immutable once `immutable` is true; delete and re-create it",
        ));
    }
    if next["spec"] != was["spec"] {
        check_immutable(current, &was["spec"], &next["spec"])?;
        next["metadata"]["generation"] = Value::from(current.meta().generation + 1);
    }
    validated(from_value(next)?)
}

fn check_immutable(current: &Object, was: &Value, next: &Value) -> Result<(), ApiError> {
    match current.kind() {
        Kind::Pod => Err(invalid(
            current,
            "spec: pod updates may not change the spec; delete and re-create the pod",
        )),
        Kind::Deployment | Kind::ReplicaSet if was["selector"] != next["selector"] => {
            Err(invalid(current, "spec.selector: field is immutable"))
        }
        _ => Ok(()),
    }
}

/// A status update: everything but the status is kept from `current`.
pub fn admit_status(current: &Object, incoming: &Object) -> Result<Object, ApiError> {
    let mut next = current.to_value();
    next["status"] = incoming.to_value()["status"].clone();
    from_value(next)
}

/// `apply` of an existing object: labels, annotations and spec come from the manifest, the
/// rest from `current`. Returns `None` when nothing would change.
pub fn admit_apply(current: &Object, manifest: Object) -> Result<Option<Object>, ApiError> {
    let mut next = current.to_value();
    let mut wanted = manifest.to_value();
    for field in ["labels", "annotations"] {
        match wanted["metadata"].get(field) {
            Some(value) => next["metadata"][field] = value.clone(),
            None => {
                if let Some(meta) = next["metadata"].as_object_mut() {
                    meta.remove(field);
                }
            }
        }
    }
    if current.kind() == Kind::Pod {
        // The scheduler's binding is not part of the manifest.
        wanted["spec"]["nodeName"] = next["spec"]["nodeName"].clone();
    }
    if let Some(spec) = wanted.get("spec") {
        next["spec"] = spec.clone();
    }
    let updated = admit_update(current, from_value(next)?)?;
    Ok((updated != *current).then_some(updated))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_kernel::object::parse_manifests;

    fn object(yaml: &str) -> Object {
        parse_manifests("test.yaml", yaml).remove(0).unwrap()
    }

    fn deployment(replicas: i32, image: &str) -> Object {
        object(&format!(
            "apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: default, labels: {{app: web}}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: web, image: {image}, command: [/bin/sleep, '3600']}}]
"
        ))
    }

    fn created(o: Object) -> Object {
        admit_create(o, "uid-1".into(), Time::now(), "abcde").unwrap()
    }

    #[test]
    fn create_sets_server_metadata_and_defaults() {
        let o = created(deployment(3, "host"));
        assert_eq!(o.meta().uid, "uid-1");
        assert_eq!(o.meta().generation, 1);
        assert!(o.meta().creation_timestamp.is_some());
        let Object::Deployment(d) = o else { panic!() };
        assert!(d.spec.strategy.rolling_update.is_some());
    }

    #[test]
    fn immutable_config_data_cannot_change() {
        let config = |data: &str, immutable: bool| {
            object(&format!(
                "apiVersion: v1
kind: ConfigMap
metadata: {{name: settings, namespace: default}}
data: {{level: {data}}}
immutable: {immutable}
"
            ))
        };
        let mutable = created(config("info", false));
        assert!(admit_update(&mutable, config("debug", true)).is_ok());
        let frozen = created(config("info", true));
        let error = admit_update(&frozen, config("debug", true)).unwrap_err();
        assert!(error.message.contains("immutable"), "{}", error.message);
        assert!(admit_update(&frozen, config("info", false)).is_err());
        assert!(admit_update(&frozen, config("info", true)).is_ok());
    }

    #[test]
    fn create_fills_generate_name() {
        let mut pod = object(
            "apiVersion: v1
kind: Pod
metadata: {generateName: web-, namespace: default}
spec: {containers: [{name: c, image: host, command: [/bin/true]}]}
",
        );
        pod.meta_mut().name.clear();
        assert_eq!(created(pod).meta().name, "web-abcde");
    }

    #[test]
    fn create_rejects_invalid_objects_with_the_field_path() {
        let error = admit_create(deployment(-1, "host"), "u".into(), Time::now(), "x").unwrap_err();
        assert_eq!(error.code, ErrorCode::Invalid);
        assert!(error.message.contains("spec.replicas"), "{}", error.message);
    }

    #[test]
    fn update_bumps_generation_only_when_the_spec_changes() {
        let current = created(deployment(3, "host"));
        let same = admit_update(&current, deployment(3, "host")).unwrap();
        assert_eq!(same.meta().generation, 1);
        assert_eq!(same.meta().uid, "uid-1");
        let scaled = admit_update(&current, deployment(5, "host")).unwrap();
        assert_eq!(scaled.meta().generation, 2);
    }

    #[test]
    fn apply_reports_unchanged_and_changes() {
        let current = created(deployment(3, "host"));
        assert!(
            admit_apply(&current, deployment(3, "host"))
                .unwrap()
                .is_none()
        );
        let changed = admit_apply(&current, deployment(4, "host"))
            .unwrap()
            .unwrap();
        let Object::Deployment(d) = changed else {
            panic!()
        };
        assert_eq!(d.spec.replicas, Some(4));
    }

    #[test]
    fn a_selector_cannot_change() {
        let current = created(deployment(3, "host"));
        let mut changed = deployment(3, "host");
        let Object::Deployment(d) = &mut changed else {
            panic!()
        };
        d.spec
            .selector
            .match_labels
            .insert("tier".into(), "x".into());
        d.spec
            .template
            .metadata
            .labels
            .insert("tier".into(), "x".into());
        let error = admit_update(&current, changed).unwrap_err();
        assert!(error.message.contains("spec.selector"), "{}", error.message);
    }

    #[test]
    fn status_updates_keep_the_spec() {
        let current = created(deployment(3, "host"));
        let mut incoming = deployment(9, "host");
        let Object::Deployment(d) = &mut incoming else {
            panic!()
        };
        d.status.replicas = 2;
        let Object::Deployment(next) = admit_status(&current, &incoming).unwrap() else {
            panic!()
        };
        assert_eq!(next.status.replicas, 2);
        assert_eq!(next.spec.replicas, Some(3));
    }
}
