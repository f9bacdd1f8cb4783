//! The downward API for environment variables: a pod's own fields (`fieldRef`) and a
//! container's resources (`resourceFieldRef`) as values, as the kubelet gives them. A resource
//! without a limit takes the node's allocatable amount (CPU, memory); a value is divided by the divisor
//! (default 1) and rounded up. Pure: the agent passes what the node knows.

use flotilla_kernel::object::{
    Container, ObjectFieldSelector, Pod, Quantity, ResourceFieldSelector,
};

/// What the node adds to the pod's own fields.
#[derive(Debug, Clone, Copy)]
pub struct NodeFacts<'a> {
    /// The node's address, `status.hostIP`.
    pub host_ip: &'a str,
    pub cpu_millis: u64,
    pub memory_bytes: u64,
}

/// The value of `selector` for `pod`.
pub fn field(
    pod: &Pod,
    node: NodeFacts<'_>,
    selector: &ObjectFieldSelector,
) -> Result<String, String> {
    if let Some((map, key)) = selector.subscript() {
        let values = match map {
            "metadata.labels" => &pod.metadata.labels,
            "metadata.annotations" => &pod.metadata.annotations,
            _ => return Err(unsupported_field(selector)),
        };
        return Ok(values.get(key).cloned().unwrap_or_default());
    }
    let status = &pod.status;
    Ok(match selector.field_path.as_str() {
        "metadata.name" => pod.metadata.name.clone(),
        "metadata.namespace" => pod.metadata.namespace.clone(),
        "metadata.uid" => pod.metadata.uid.clone(),
        "spec.nodeName" => pod.spec.node_name.clone(),
        // Every pod runs as its namespace's default service account until accounts exist.
        "spec.serviceAccountName" => "default".to_string(),
        "status.hostIP" | "status.hostIPs" => node.host_ip.to_string(),
        "status.podIP" | "status.podIPs" if pod.spec.host_network => node.host_ip.to_string(),
        "status.podIP" | "status.podIPs" => status.pod_ip.clone(),
        _ => return Err(unsupported_field(selector)),
    })
}

fn unsupported_field(selector: &ObjectFieldSelector) -> String {
    format!("unsupported fieldRef.fieldPath {:?}", selector.field_path)
}

/// The value of `selector` for `container` of `pod` (`containerName` names another one).
pub fn resource(
    pod: &Pod,
    container: &Container,
    node: NodeFacts<'_>,
    selector: &ResourceFieldSelector,
) -> Result<String, String> {
    let target = if selector.container_name.is_empty() {
        container
    } else {
        pod.spec
            .all_containers()
            .find(|c| c.name == selector.container_name)
            .ok_or_else(|| {
                format!(
                    "container {:?} not found in the pod",
                    selector.container_name
                )
            })?
    };
    let (kind, name) = selector
        .resource
        .split_once('.')
        .ok_or_else(|| format!("unsupported resource {:?}", selector.resource))?;
    let resources = &target.resources;
    let set = match kind {
        "limits" => resources.limits.get(name),
        "requests" => resources.requests.get(name),
        _ => return Err(format!("unsupported resource {:?}", selector.resource)),
    };
    let bad =
        |error: flotilla_kernel::object::QuantityError| format!("{}: {error}", selector.resource);
    let divisor = selector
        .divisor
        .clone()
        .filter(|d| d.value().is_ok_and(|v| v != 0));
    let value = match name {
        "cpu" => {
            let millis = match set {
                Some(quantity) => quantity.cpu_millis().map_err(bad)?,
                None if kind == "limits" => node.cpu_millis,
                None => 0,
            };
            let per = divisor
                .map_or(Ok(1000), |d| d.cpu_millis())
                .map_err(bad)?
                .max(1);
            millis.div_ceil(per)
        }
        "memory" | "ephemeral-storage" => {
            let bytes = match set {
                Some(quantity) => quantity.bytes().map_err(bad)?,
                None if kind == "limits" && name == "memory" => node.memory_bytes,
                None if kind == "limits" => {
                    return Err(format!(
                        "{}: the container sets no such limit and the node publishes no \
                         allocatable ephemeral-storage to stand in for it",
                        selector.resource
                    ));
                }
                None => 0,
            };
            let per = divisor
                .map_or(Ok(1), |d: Quantity| d.bytes())
                .map_err(bad)?
                .max(1);
            bytes.div_ceil(per)
        }
        _ => return Err(format!("unsupported resource {:?}", selector.resource)),
    };
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::{Object, parse_manifests};

    use super::*;

    fn pod() -> Pod {
        let yaml = "apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, uid: u1, labels: {app: web}, annotations: {team: a}}
spec:
  nodeName: n1
  containers:
  - name: app
    image: app:1
    resources: {limits: {cpu: 250m, memory: 64Mi}, requests: {cpu: 100m}}
  - name: side
    image: app:1
";
        let Ok(Object::Pod(pod)) = parse_manifests("p.yaml", yaml).remove(0) else {
            panic!("fixture does not parse")
        };
        pod
    }

    const NODE: NodeFacts<'static> = NodeFacts {
        host_ip: "10.0.0.7",
        cpu_millis: 2000,
        memory_bytes: 8 << 30,
    };

    fn field_of(path: &str) -> Result<String, String> {
        let selector = ObjectFieldSelector {
            api_version: "v1".into(),
            field_path: path.into(),
        };
        field(&pod(), NODE, &selector)
    }

    fn resource_of(name: &str, container: &str, divisor: Option<&str>) -> String {
        let pod = pod();
        let selector = ResourceFieldSelector {
            container_name: container.into(),
            resource: name.into(),
            divisor: divisor.map(Quantity::from),
        };
        resource(&pod, &pod.spec.containers[0], NODE, &selector).unwrap()
    }

    #[test]
    fn pod_fields_are_given_as_kubernetes_gives_them() {
        assert_eq!(field_of("metadata.name").unwrap(), "web-1");
        assert_eq!(field_of("metadata.namespace").unwrap(), "shop");
        assert_eq!(field_of("metadata.uid").unwrap(), "u1");
        assert_eq!(field_of("metadata.labels['app']").unwrap(), "web");
        assert_eq!(field_of("metadata.annotations['team']").unwrap(), "a");
        assert_eq!(field_of("metadata.labels['missing']").unwrap(), "");
        assert_eq!(field_of("spec.nodeName").unwrap(), "n1");
        assert_eq!(field_of("status.hostIP").unwrap(), "10.0.0.7");
        assert!(field_of("status.phase").is_err());
    }

    #[test]
    fn resources_are_divided_and_rounded_up_with_the_node_for_missing_limits() {
        assert_eq!(resource_of("limits.cpu", "", None), "1");
        assert_eq!(resource_of("limits.cpu", "", Some("1m")), "250");
        assert_eq!(resource_of("requests.cpu", "", Some("1m")), "100");
        assert_eq!(resource_of("limits.memory", "", Some("1Mi")), "64");
        assert_eq!(
            resource_of("limits.memory", "", None),
            (64u64 << 20).to_string()
        );
        // The other container has no limits: the node's allocatable stands in.
        assert_eq!(resource_of("limits.cpu", "side", Some("1m")), "2000");
        assert_eq!(resource_of("limits.memory", "side", Some("1Gi")), "8");
        assert_eq!(resource_of("requests.memory", "side", None), "0");
    }
}
