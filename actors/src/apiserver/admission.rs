//! Admission: what the API server does to an object between the client and the store —
//! defaulting, validation, the metadata only the server may set, the rules of update, status
//! update and apply (a Service's allocated values among them), and what a new pod's
//! RuntimeClass adds to it. Pure functions over objects (the handler looks up what they need),
//! so every rule is unit-tested.

use serde_json::Value;

use flotilla_kernel::api::{ApiError, ErrorCode};
use flotilla_kernel::object::{
    ConditionStatus, JOB_IMMUTABLE_FIELDS, Kind, Object, Pod, PodCondition,
    PodDisruptionBudgetStatus, RuntimeClass, Time, apply_defaults, validate,
};

use super::allocation::{carry_allocations, check_update};

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
    // Only the disruption controller and the Eviction call write a budget's status.
    if let Object::PodDisruptionBudget(pdb) = &mut object {
        pdb.status = PodDisruptionBudgetStatus::default();
    }
    if let Object::Pod(pod) = &mut object
        && !pod.spec.scheduling_gates.is_empty()
    {
        pod.set_condition(scheduling_gated(), now);
    }
    validated(object)
}

/// The `PodScheduled` condition of a pod the scheduler may not place yet.
fn scheduling_gated() -> PodCondition {
    PodCondition {
        type_: PodCondition::SCHEDULED.into(),
        status: ConditionStatus::False,
        reason: "SchedulingGated".into(),
        message: "Scheduling is blocked due to non-empty scheduling gates".into(),
        ..PodCondition::default()
    }
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
    if let (Object::Service(was), Object::Service(next)) = (current, &mut incoming) {
        carry_allocations(was, next);
    }
    apply_defaults(&mut incoming);
    if let (Object::Service(was), Object::Service(next)) = (current, &incoming) {
        check_update(was, next).map_err(|error| invalid(current, error))?;
    }
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
    if current.kind() == Kind::RuntimeClass && next["handler"] != was["handler"] {
        return Err(invalid(
            current,
            format!(
                "handler: Invalid value: {}: field is immutable",
                next["handler"]
            ),
        ));
    }
    if current.kind() == Kind::EndpointSlice && next["addressType"] != was["addressType"] {
        return Err(invalid(
            current,
            format!(
                "addressType: Invalid value: {}: field is immutable",
                next["addressType"]
            ),
        ));
    }
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
        Kind::Pod => pod_spec_update(current, was, next),
        Kind::Deployment | Kind::ReplicaSet | Kind::DaemonSet
            if was["selector"] != next["selector"] =>
        {
            Err(invalid(current, "spec.selector: field is immutable"))
        }
        Kind::StatefulSet => stateful_set_update(current, was, next),
        Kind::Node if changes_pod_cidr(was, next) => Err(invalid(
            current,
            "spec.podCIDR: Forbidden: node updates may not change podCIDR except from \"\" to valid",
        )),
        Kind::Job => match JOB_IMMUTABLE_FIELDS.iter().find(|f| was[**f] != next[**f]) {
            Some(field) => Err(invalid(
                current,
                format!(
                    "spec.{field}: Invalid value: {}: field is immutable",
                    next[*field]
                ),
            )),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// The fields that give a StatefulSet's pods their identity cannot change, as in Kubernetes.
fn stateful_set_update(current: &Object, was: &Value, next: &Value) -> Result<(), ApiError> {
    let fields = [
        "selector",
        "serviceName",
        "volumeClaimTemplates",
        "podManagementPolicy",
    ];
    match fields.into_iter().find(|field| was[field] != next[field]) {
        Some(field) => Err(invalid(
            current,
            format!("spec.{field}: field is immutable"),
        )),
        None => Ok(()),
    }
}

/// A pod's spec is immutable but for removing scheduling gates, as in Kubernetes.
fn pod_spec_update(current: &Object, was: &Value, next: &Value) -> Result<(), ApiError> {
    let gates = |spec: &Value| -> Vec<Value> {
        spec["schedulingGates"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let without_gates = |spec: &Value| {
        let mut spec = spec.clone();
        if let Some(fields) = spec.as_object_mut() {
            fields.remove("schedulingGates");
        }
        spec
    };
    if without_gates(was) != without_gates(next) {
        return Err(invalid(
            current,
            "spec: pod updates may not change the spec but for removing scheduling gates; \
             delete and re-create the pod",
        ));
    }
    let kept = gates(was);
    match gates(next).iter().find(|gate| !kept.contains(gate)) {
        Some(added) => Err(invalid(
            current,
            format!(
                "spec.schedulingGates: Forbidden: only deletion is allowed, but found new \
                 scheduling gate {}",
                added["name"]
            ),
        )),
        None => Ok(()),
    }
}

/// Whether an update changes a node's pod range once it has one.
fn changes_pod_cidr(was: &Value, next: &Value) -> bool {
    ["podCIDR", "podCIDRs"]
        .iter()
        .any(|field| !was[field].is_null() && was[field] != next[field])
}

/// The RuntimeClass admission of a new pod, after [`admit_create`]: `class` is the stored
/// RuntimeClass the pod's `runtimeClassName` names (`None` when there is none by that name).
/// The class must exist; its tolerations are added to the pod's, and its node selector is
/// merged into the pod's, refusing a key the pod already sets to another value — as
/// Kubernetes' RuntimeClass admission plugin does.
/// Pods without a `runtimeClassName` pass untouched.
pub fn admit_runtime_class(pod: &mut Pod, class: Option<&RuntimeClass>) -> Result<(), ApiError> {
    let Some(name) = pod.spec.runtime_class_name.as_deref() else {
        return Ok(());
    };
    let Some(class) = class else {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("pod rejected: RuntimeClass {name:?} not found"),
        ));
    };
    if let Some(scheduling) = &class.scheduling {
        for toleration in &scheduling.tolerations {
            if !pod.spec.tolerations.contains(toleration) {
                pod.spec.tolerations.push(toleration.clone());
            }
        }
    }
    let Some(selector) = class.node_selector() else {
        return Ok(());
    };
    let conflict = selector.iter().find_map(|(key, wanted)| {
        pod.spec
            .node_selector
            .get(key)
            .filter(|set| *set != wanted)
            .map(|set| (key, wanted, set))
    });
    if let Some((key, wanted, set)) = conflict {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "pod rejected: RuntimeClass {name:?} conflicts with pod node selector: \
                 the class needs {key}={wanted}, the pod asks for {key}={set}"
            ),
        ));
    }
    for (key, value) in selector {
        pod.spec.node_selector.insert(key.clone(), value.clone());
    }
    Ok(())
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
        // The scheduler's binding is not part of the manifest (and an unbound pod has none).
        if let Some(spec) = wanted["spec"].as_object_mut() {
            match next["spec"].get("nodeName") {
                Some(node) => spec.insert("nodeName".into(), node.clone()),
                None => spec.remove("nodeName"),
            };
        }
        keep_runtime_class_additions(&next["spec"], &mut wanted["spec"]);
        // Priority admission's fields (a class the manifest leaves out is the global default).
        keep_fields(
            &next["spec"],
            &mut wanted["spec"],
            &["priority", "priorityClassName", "preemptionPolicy"],
        );
    }
    if current.kind() == Kind::Node {
        // The IPAM controller's range is not part of an operator's manifest.
        keep_fields(&next["spec"], &mut wanted["spec"], &["podCIDR", "podCIDRs"]);
    }
    if let Some(spec) = wanted.get("spec") {
        next["spec"] = spec.clone();
    }
    let updated = admit_update(current, from_value(next)?)?;
    Ok((updated != *current).then_some(updated))
}

/// Copies `fields` of the stored spec that the wanted one leaves out.
fn keep_fields(stored: &Value, wanted: &mut Value, fields: &[&str]) {
    if wanted.is_null() {
        *wanted = Value::Object(serde_json::Map::new());
    }
    let Some(spec) = wanted.as_object_mut() else {
        return;
    };
    for field in fields {
        if let Some(value) = stored.get(*field) {
            spec.entry(*field).or_insert_with(|| value.clone());
        }
    }
}

/// The node selector entries and tolerations a pod's RuntimeClass added at creation are not
/// part of the manifest either: while the manifest names the same class, the stored pod's
/// entries it leaves out are kept, so applying the manifest again changes nothing.
fn keep_runtime_class_additions(stored: &Value, wanted: &mut Value) {
    let class = &stored["runtimeClassName"];
    if class.is_null() || wanted["runtimeClassName"] != *class {
        return;
    }
    let Some(spec) = wanted.as_object_mut() else {
        return;
    };
    if let Some(added) = stored["nodeSelector"].as_object() {
        let selector = spec
            .entry("nodeSelector")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if let Some(selector) = selector.as_object_mut() {
            for (key, value) in added {
                selector.entry(key.clone()).or_insert_with(|| value.clone());
            }
        }
    }
    if let Some(added) = stored["tolerations"].as_array() {
        let tolerations = spec
            .entry("tolerations")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Some(tolerations) = tolerations.as_array_mut() {
            for toleration in added {
                if !tolerations.contains(toleration) {
                    tolerations.push(toleration.clone());
                }
            }
        }
    }
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

    #[test]
    fn a_nodes_pod_cidr_is_set_once_and_kept_by_apply() {
        let node = created(object(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n",
        ));
        let mut assigned = node.to_value();
        assigned["spec"]["podCIDR"] = "10.42.3.0/24".into();
        assigned["spec"]["podCIDRs"] = serde_json::json!(["10.42.3.0/24"]);
        let assigned = admit_update(&node, from_value(assigned).unwrap()).unwrap();

        let mut moved = assigned.to_value();
        moved["spec"]["podCIDR"] = "10.42.4.0/24".into();
        moved["spec"]["podCIDRs"] = serde_json::json!(["10.42.4.0/24"]);
        let error = admit_update(&assigned, from_value(moved).unwrap()).unwrap_err();
        assert!(error.message.contains("may not change podCIDR"), "{error}");

        let cordoned = object(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\nspec:\n  unschedulable: true\n",
        );
        let applied = admit_apply(&assigned, cordoned).unwrap().unwrap();
        assert_eq!(applied.to_value()["spec"]["podCIDR"], "10.42.3.0/24");
    }

    fn runtime_class(handler: &str) -> Object {
        object(&format!(
            "apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {{name: gvisor}}
handler: '{handler}'
scheduling:
  nodeSelector: {{runtime: gvisor}}
  tolerations: [{{key: sandboxed, operator: Exists, effect: NoSchedule}}]
"
        ))
    }

    #[test]
    fn a_runtime_class_handler_is_immutable() {
        let current = created(runtime_class("runsc"));
        assert!(admit_update(&current, runtime_class("runsc")).is_ok());
        let error = admit_update(&current, runtime_class("kata")).unwrap_err();
        assert_eq!(error.code, ErrorCode::Invalid);
        assert_eq!(
            error.message,
            "RuntimeClass \"gvisor\" is invalid: handler: Invalid value: \"kata\": field is \
             immutable"
        );
        let error = admit_update(&current, runtime_class("")).unwrap_err();
        assert!(error.message.contains("immutable"), "{}", error.message);
    }

    fn pod_asking_for(class: Option<&str>, node_selector: &str) -> Pod {
        let class = class.map_or(String::new(), |name| {
            format!("\n  runtimeClassName: {name}")
        });
        let Object::Pod(pod) = object(&format!(
            "apiVersion: v1
kind: Pod
metadata: {{name: p, namespace: default}}
spec:
  containers: [{{name: c, image: host, command: [/bin/true]}}]
  nodeSelector: {{{node_selector}}}{class}
"
        )) else {
            panic!("a pod")
        };
        pod
    }

    fn gvisor() -> RuntimeClass {
        match runtime_class("runsc") {
            Object::RuntimeClass(class) => class,
            _ => panic!("a RuntimeClass"),
        }
    }

    #[test]
    fn a_runtime_class_must_exist_and_its_node_selector_is_merged() {
        let mut pod = pod_asking_for(None, "disk: ssd");
        admit_runtime_class(&mut pod, None).unwrap();
        assert_eq!(pod.spec.node_selector.len(), 1);

        let mut pod = pod_asking_for(Some("gvisor"), "disk: ssd");
        let error = admit_runtime_class(&mut pod, None).unwrap_err();
        assert_eq!(error.code, ErrorCode::Forbidden);
        assert_eq!(
            error.message,
            "pod rejected: RuntimeClass \"gvisor\" not found"
        );

        admit_runtime_class(&mut pod, Some(&gvisor())).unwrap();
        let selector: Vec<(&str, &str)> = pod
            .spec
            .node_selector
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        assert_eq!(selector, [("disk", "ssd"), ("runtime", "gvisor")]);

        let mut agreeing = pod_asking_for(Some("gvisor"), "runtime: gvisor");
        admit_runtime_class(&mut agreeing, Some(&gvisor())).unwrap();
        assert_eq!(agreeing.spec.node_selector.len(), 1);
    }

    #[test]
    fn a_runtime_class_s_tolerations_are_added_once() {
        let mut pod = pod_asking_for(Some("gvisor"), "disk: ssd");
        admit_runtime_class(&mut pod, Some(&gvisor())).unwrap();
        let keys: Vec<&str> = pod
            .spec
            .tolerations
            .iter()
            .map(|t| t.key.as_str())
            .collect();
        assert_eq!(keys, ["sandboxed"]);
        admit_runtime_class(&mut pod, Some(&gvisor())).unwrap();
        assert_eq!(pod.spec.tolerations.len(), 1);
    }

    #[test]
    fn a_node_selector_conflicting_with_the_runtime_class_is_refused() {
        let mut pod = pod_asking_for(Some("gvisor"), "runtime: kata");
        let error = admit_runtime_class(&mut pod, Some(&gvisor())).unwrap_err();
        assert_eq!(error.code, ErrorCode::Forbidden);
        assert_eq!(
            error.message,
            "pod rejected: RuntimeClass \"gvisor\" conflicts with pod node selector: the class \
             needs runtime=gvisor, the pod asks for runtime=kata"
        );
        assert_eq!(pod.spec.node_selector["runtime"], "kata", "left as it was");
    }

    #[test]
    fn applying_a_pod_again_keeps_what_its_runtime_class_added() {
        let mut pod = pod_asking_for(Some("gvisor"), "disk: ssd");
        admit_runtime_class(&mut pod, Some(&gvisor())).unwrap();
        let current = created(Object::Pod(pod));
        let manifest = Object::Pod(pod_asking_for(Some("gvisor"), "disk: ssd"));
        assert!(admit_apply(&current, manifest).unwrap().is_none());
        // Without the class, the stored entries are the manifest's to change: refused.
        let manifest = Object::Pod(pod_asking_for(None, "disk: ssd"));
        assert!(admit_apply(&current, manifest).is_err());
    }

    fn service(cluster_ip: &str) -> Object {
        object(&format!(
            "apiVersion: v1
kind: Service
metadata: {{name: web, namespace: default}}
spec: {{clusterIP: '{cluster_ip}', ports: [{{port: 80}}]}}
"
        ))
    }

    #[test]
    fn a_service_keeps_its_cluster_ip_and_may_not_change_it() {
        let current = created(service("10.43.0.10"));
        // A manifest without the address keeps the stored one, and changes nothing.
        assert!(admit_apply(&current, service("")).unwrap().is_none());
        let error = admit_update(&current, service("10.43.0.11")).unwrap_err();
        assert_eq!(error.code, ErrorCode::Invalid);
        assert_eq!(
            error.message,
            "Service \"web\" is invalid: spec.clusterIP: Invalid value: \"10.43.0.11\": field is \
             immutable"
        );
    }

    #[test]
    fn an_endpoint_slice_s_address_type_is_immutable() {
        let slice = |address_type: &str| {
            object(&format!(
                "apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: web-abcde, namespace: default}}
addressType: {address_type}
endpoints: []
"
            ))
        };
        let current = created(slice("IPv4"));
        let error = admit_update(&current, slice("IPv6")).unwrap_err();
        assert_eq!(
            error.message,
            "EndpointSlice \"web-abcde\" is invalid: addressType: Invalid value: \"IPv6\": field \
             is immutable"
        );
    }

    fn stateful_set(replicas: i32, service: &str, policy: &str, app: &str) -> Object {
        object(&format!(
            "apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: web, namespace: default}}
spec:
  replicas: {replicas}
  serviceName: {service}
  podManagementPolicy: {policy}
  selector: {{matchLabels: {{app: {app}}}}}
  template:
    metadata: {{labels: {{app: {app}}}}}
    spec:
      containers: [{{name: main, image: nginx}}]
"
        ))
    }

    #[test]
    fn a_stateful_set_s_identity_fields_are_immutable() {
        let current = created(stateful_set(3, "nginx", "OrderedReady", "web"));
        let scaled = admit_update(&current, stateful_set(5, "nginx", "OrderedReady", "web"));
        assert!(scaled.is_ok(), "{scaled:?}");
        for (next, field) in [
            (
                stateful_set(3, "other", "OrderedReady", "web"),
                "serviceName",
            ),
            (
                stateful_set(3, "nginx", "Parallel", "web"),
                "podManagementPolicy",
            ),
            (stateful_set(3, "nginx", "OrderedReady", "db"), "selector"),
        ] {
            let error = admit_update(&current, next).unwrap_err();
            assert_eq!(
                error.message,
                format!("StatefulSet \"web\" is invalid: spec.{field}: field is immutable")
            );
        }
    }

    fn gated_pod(gates: &str) -> Object {
        object(&format!(
            "apiVersion: v1
kind: Pod
metadata: {{name: p, namespace: default}}
spec:
  containers: [{{name: c, image: host, command: [/bin/true]}}]
  schedulingGates: [{gates}]
"
        ))
    }

    #[test]
    fn scheduling_gates_block_scheduling_and_may_only_be_removed() {
        let current = created(gated_pod("{name: quota}, {name: ready}"));
        let Object::Pod(pod) = &current else {
            panic!("a pod")
        };
        let condition = pod
            .condition(PodCondition::SCHEDULED)
            .expect("PodScheduled");
        assert_eq!(
            (condition.status, condition.reason.as_str()),
            (ConditionStatus::False, "SchedulingGated")
        );
        assert!(admit_update(&current, gated_pod("{name: ready}")).is_ok());
        assert!(admit_update(&current, gated_pod("")).is_ok());
        let error = admit_update(&current, gated_pod("{name: ready}, {name: later}")).unwrap_err();
        assert_eq!(
            error.message,
            "Pod \"p\" is invalid: spec.schedulingGates: Forbidden: only deletion is allowed, \
             but found new scheduling gate \"later\""
        );
        let mut other = gated_pod("{name: ready}");
        if let Object::Pod(pod) = &mut other {
            pod.spec.containers[0].image = "busybox".into();
        }
        assert!(admit_update(&current, other).is_err());
    }

    fn job(completions: i32, parallelism: i32) -> Object {
        object(&format!(
            "apiVersion: batch/v1
kind: Job
metadata: {{name: pi, namespace: default}}
spec:
  completions: {completions}
  parallelism: {parallelism}
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: pi, image: host, command: [/bin/true]}}]
"
        ))
    }

    #[test]
    fn a_job_gets_its_selector_at_create_and_keeps_it_on_apply() {
        let current = created(job(4, 2));
        let Object::Job(stored) = &current else {
            panic!("not a job: {current:?}");
        };
        let selector = stored.spec.selector.as_ref().expect("a generated selector");
        assert_eq!(
            selector.match_labels["batch.kubernetes.io/controller-uid"],
            "uid-1"
        );
        assert_eq!(
            stored.spec.template.metadata.labels["batch.kubernetes.io/job-name"],
            "pi"
        );
        assert_eq!(admit_apply(&current, job(4, 2)).unwrap(), None);
        let scaled = admit_apply(&current, job(4, 3)).unwrap().expect("a change");
        let Object::Job(scaled) = scaled else {
            panic!("not a job");
        };
        assert_eq!(scaled.spec.parallelism, Some(3));
        let error = admit_apply(&current, job(5, 2)).unwrap_err();
        assert_eq!(
            error.message,
            "Job \"pi\" is invalid: spec.completions: Invalid value: 5: field is immutable"
        );
    }
}
