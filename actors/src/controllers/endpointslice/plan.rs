//! The pure reconcile step of the EndpointSlice controller: from a Service, the pods of its
//! namespace and the slices labelled as managed for it (all read fresh), the slices to create,
//! update and delete.
//!
//! It writes as little as it can, like Kubernetes' reconciler: an endpoint stays in the slice
//! it is in (updated in place when its pod changed), a slice whose endpoints and labels are
//! right is not written, new endpoints go first into slices that are being written anyway,
//! and a slice left with nothing to keep is reused for other endpoints before a new one is
//! created. So a resync of an unchanged state plans nothing.
//!
//! A Service that selects no endpoint keeps one empty "placeholder" slice, as in Kubernetes,
//! which shows that the controller has seen it.

use std::borrow::Borrow;
use std::collections::{BTreeMap, VecDeque};

use flotilla_kernel::object::{
    AddressType, Endpoint, EndpointPort, EndpointSlice, Kind, ObjectMeta, Pod, SERVICE_NAME_LABEL,
    Service,
};

use super::endpoints::{desired_groups, wants_slices};
use crate::controllers::ownership::{controller_reference, is_controlled_by};

/// The most endpoints one slice holds (Kubernetes' `--max-endpoints-per-slice` default).
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;
/// The label naming the controller that manages a slice.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller's value of [`MANAGED_BY_LABEL`] (Kubernetes' own, so tools recognise it).
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
/// The label, with an empty value, on the slices of a headless Service.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

/// The writes one reconcile of a Service makes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// New slices (named by the API server from `generateName`).
    pub create: Vec<EndpointSlice>,
    /// Stored slices as they should be (with the resourceVersion they were read at).
    pub update: Vec<EndpointSlice>,
    /// Names of slices to delete.
    pub delete: Vec<String>,
}

/// What makes two endpoints the same, as in Kubernetes: the pod and its addresses.
type EndpointId = (Option<String>, Vec<String>);

fn id(endpoint: &Endpoint) -> EndpointId {
    (
        endpoint.target_ref.as_ref().map(|pod| pod.name.clone()),
        endpoint.addresses.clone(),
    )
}

/// A slice as it will be, and whether that needs a write.
struct Draft {
    slice: EndpointSlice,
    changed: bool,
}

impl Draft {
    fn room(&self) -> usize {
        MAX_ENDPOINTS_PER_SLICE.saturating_sub(self.slice.endpoints.len())
    }

    /// Moves as many of `leftover` as fit into the slice.
    fn fill(&mut self, leftover: &mut VecDeque<Endpoint>) {
        let take = self.room().min(leftover.len());
        if take > 0 {
            self.slice.endpoints.extend(leftover.drain(..take));
            self.changed = true;
        }
    }
}

/// Plans the slices of `service` from the pods of its namespace and its managed `slices`
/// (owned or borrowed, as the caller holds them).
pub fn plan<P: Borrow<Pod>, S: Borrow<EndpointSlice>>(
    service: &Service,
    pods: &[P],
    slices: &[S],
) -> Plan {
    let mut plan = Plan::default();
    let mut owned: Vec<&EndpointSlice> = Vec::new();
    for slice in slices.iter().map(Borrow::borrow) {
        // A slice of an earlier Service of the same name, or of another address type, goes.
        if wants_slices(service)
            && is_controlled_by(&slice.metadata, &service.metadata.uid)
            && slice.address_type == AddressType::Ipv4
        {
            owned.push(slice);
        } else {
            plan.delete.push(slice.metadata.name.clone());
        }
    }
    if !wants_slices(service) {
        return plan;
    }
    owned.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let labels = slice_labels(service);
    let groups = desired_groups(service, pods);
    let mut wanted: Vec<BTreeMap<EndpointId, Endpoint>> = groups
        .iter()
        .map(|group| group.endpoints.iter().map(|e| (id(e), e.clone())).collect())
        .collect();

    // Keep every wanted endpoint where it is; slices with nothing left to keep are free.
    let mut kept: Vec<Vec<Draft>> = groups.iter().map(|_| Vec::new()).collect();
    let mut free: VecDeque<EndpointSlice> = VecDeque::new();
    for slice in owned {
        let group = groups.iter().position(|group| group.ports == slice.ports);
        let endpoints: Vec<Endpoint> = match group {
            Some(g) => slice
                .endpoints
                .iter()
                .filter_map(|endpoint| wanted[g].remove(&id(endpoint)))
                .collect(),
            None => Vec::new(),
        };
        match group {
            Some(g) if !endpoints.is_empty() => {
                let changed = endpoints != slice.endpoints || slice.metadata.labels != labels;
                let mut slice = slice.clone();
                slice.endpoints = endpoints;
                slice.metadata.labels = labels.clone();
                kept[g].push(Draft { slice, changed });
            }
            _ => free.push_back(slice.clone()),
        }
    }

    // Place the endpoints not placed yet.
    let mut drafts: Vec<Draft> = Vec::new();
    for ((group, wanted), mut kept) in groups.iter().zip(wanted).zip(kept) {
        let mut leftover: VecDeque<Endpoint> = wanted.into_values().collect();
        // Slices written anyway take what they can.
        kept.iter_mut()
            .filter(|draft| draft.changed)
            .for_each(|draft| draft.fill(&mut leftover));
        // Full slices next, then a rest that fits an unchanged slice goes there.
        while !leftover.is_empty() {
            let fits = kept
                .iter_mut()
                .find(|draft| !draft.changed && draft.room() >= leftover.len());
            if leftover.len() < MAX_ENDPOINTS_PER_SLICE
                && let Some(draft) = fits
            {
                draft.fill(&mut leftover);
                continue;
            }
            let mut draft = reused_or_new(service, &labels, &mut free, &group.ports);
            draft.fill(&mut leftover);
            kept.push(draft);
        }
        drafts.extend(kept);
    }
    if groups.is_empty() {
        let empty = free
            .iter()
            .position(|slice| slice.endpoints.is_empty() && slice.ports.is_empty())
            .and_then(|at| free.remove(at));
        if let Some(slice) = empty {
            free.push_front(slice);
        }
        drafts.push(reused_or_new(service, &labels, &mut free, &[]));
    }

    plan.delete
        .extend(free.into_iter().map(|slice| slice.metadata.name));
    for draft in drafts.into_iter().filter(|draft| draft.changed) {
        if draft.slice.metadata.name.is_empty() {
            plan.create.push(draft.slice);
        } else {
            plan.update.push(draft.slice);
        }
    }
    plan
}

/// An empty slice for endpoints serving `ports`: a free one, or a new one.
fn reused_or_new(
    service: &Service,
    labels: &BTreeMap<String, String>,
    free: &mut VecDeque<EndpointSlice>,
    ports: &[EndpointPort],
) -> Draft {
    match free.pop_front() {
        Some(mut slice) => {
            let changed = !slice.endpoints.is_empty()
                || slice.ports != ports
                || slice.metadata.labels != *labels;
            slice.endpoints.clear();
            slice.ports = ports.to_vec();
            slice.metadata.labels = labels.clone();
            Draft { slice, changed }
        }
        None => Draft {
            slice: new_slice(service, labels, ports),
            changed: true,
        },
    }
}

/// A new slice of `service`, owned by it.
fn new_slice(
    service: &Service,
    labels: &BTreeMap<String, String>,
    ports: &[EndpointPort],
) -> EndpointSlice {
    EndpointSlice {
        api_version: Kind::EndpointSlice.api_version().to_string(),
        kind: Kind::EndpointSlice.as_str().to_string(),
        metadata: ObjectMeta {
            generate_name: format!("{}-", service.metadata.name),
            namespace: service.metadata.namespace.clone(),
            labels: labels.clone(),
            owner_references: vec![controller_reference(Kind::Service, &service.metadata)],
            ..ObjectMeta::default()
        },
        address_type: AddressType::Ipv4,
        endpoints: Vec::new(),
        ports: ports.to_vec(),
    }
}

/// The labels of the Service's slices, as Kubernetes sets them: the Service's own labels,
/// the Service's name, the managing controller and whether the Service is headless.
pub fn slice_labels(service: &Service) -> BTreeMap<String, String> {
    let mut labels = service.metadata.labels.clone();
    if service.spec.is_headless() {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    } else {
        labels.remove(HEADLESS_LABEL);
    }
    labels.insert(SERVICE_NAME_LABEL.into(), service.metadata.name.clone());
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    labels
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::{
        ConditionStatus, Container, ContainerPort, IntOrString, PodCondition, PodIp, PodPhase,
        ServicePort, ServiceType, Time,
    };

    use super::*;

    fn service() -> Service {
        let mut service = Service::default();
        service.metadata.namespace = "default".into();
        service.metadata.name = "web".into();
        service.metadata.uid = "svc-uid".into();
        service.spec.cluster_ip = "10.43.0.10".into();
        service.spec.selector = [("app".to_string(), "web".to_string())].into();
        service.spec.ports = vec![ServicePort {
            name: "http".into(),
            port: 80,
            target_port: Some(IntOrString::Int(8080)),
            ..ServicePort::default()
        }];
        service
    }

    fn pod(name: &str, ip: &str) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.namespace = "default".into();
        pod.metadata.name = name.into();
        pod.metadata.uid = format!("uid-{name}");
        pod.metadata.labels = [("app".to_string(), "web".to_string())].into();
        pod.spec.node_name = "n1".into();
        pod.status.phase = PodPhase::Running;
        pod.status.pod_ip = ip.into();
        pod.status.pod_ips = vec![PodIp { ip: ip.into() }];
        set_ready(&mut pod, true);
        pod
    }

    fn set_ready(pod: &mut Pod, ready: bool) {
        let status = if ready {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        };
        pod.status.conditions = vec![PodCondition {
            type_: PodCondition::READY.into(),
            status,
            ..PodCondition::default()
        }];
    }

    /// `count` ready pods `web-000`, `web-001`, ...
    fn pods(count: usize) -> Vec<Pod> {
        (0..count)
            .map(|i| {
                pod(
                    &format!("web-{i:03}"),
                    &format!("10.42.{}.{}", i / 200, i % 200 + 1),
                )
            })
            .collect()
    }

    /// The slices after the API performed `plan` on `slices` (names `web-s0`, `web-s1`, ...).
    fn perform(plan: &Plan, slices: &[EndpointSlice]) -> Vec<EndpointSlice> {
        let mut stored: Vec<EndpointSlice> = slices
            .iter()
            .filter(|s| !plan.delete.contains(&s.metadata.name))
            .map(|s| {
                let updated = plan
                    .update
                    .iter()
                    .find(|u| u.metadata.name == s.metadata.name);
                updated.unwrap_or(s).clone()
            })
            .collect();
        for created in &plan.create {
            let mut created = created.clone();
            created.metadata.name = format!("web-s{}", slices.len() + stored.len());
            stored.push(created);
        }
        stored
    }

    /// Plans, checks that doing it again plans nothing, and returns the slices.
    fn converge(service: &Service, pods: &[Pod], slices: &[EndpointSlice]) -> Vec<EndpointSlice> {
        let slices = perform(&plan(service, pods, slices), slices);
        assert_eq!(
            plan(service, pods, &slices),
            Plan::default(),
            "not converged"
        );
        slices
    }

    fn names(slice: &EndpointSlice) -> Vec<String> {
        slice
            .endpoints
            .iter()
            .map(|e| e.target_ref.as_ref().unwrap().name.clone())
            .collect()
    }

    fn counts(plan: &Plan) -> (usize, usize, usize) {
        (plan.create.len(), plan.update.len(), plan.delete.len())
    }

    #[test]
    fn a_new_service_gets_one_owned_labelled_slice_and_nothing_more() {
        let pods = pods(2);
        let planned = plan::<_, EndpointSlice>(&service(), &pods, &[]);
        assert_eq!(counts(&planned), (1, 0, 0));
        let slice = &planned.create[0];
        assert_eq!(slice.metadata.generate_name, "web-");
        assert_eq!(slice.metadata.namespace, "default");
        assert_eq!(slice.address_type, AddressType::Ipv4);
        assert_eq!(slice.service_name(), Some("web"));
        assert_eq!(slice.metadata.labels[MANAGED_BY_LABEL], MANAGED_BY);
        assert!(!slice.metadata.labels.contains_key(HEADLESS_LABEL));
        let owner = slice.metadata.controller_ref().unwrap();
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
            ("Service", "web", "svc-uid")
        );
        assert_eq!(owner.block_owner_deletion, Some(true));
        assert_eq!(names(slice), ["web-000", "web-001"]);
        assert_eq!(slice.ports[0].port, Some(8080));
        converge(&service(), &pods, &[]);
    }

    #[test]
    fn a_readiness_flip_updates_only_that_endpoint() {
        let mut pods = pods(3);
        let slices = converge(&service(), &pods, &[]);
        set_ready(&mut pods[1], false);
        let planned = plan(&service(), &pods, &slices);
        assert_eq!(counts(&planned), (0, 1, 0));
        let updated = &planned.update[0];
        assert_eq!(updated.metadata.name, slices[0].metadata.name);
        let ready: Vec<_> = updated
            .endpoints
            .iter()
            .map(|e| e.conditions.ready)
            .collect();
        assert_eq!(ready, [Some(true), Some(false), Some(true)]);
        converge(&service(), &pods, &slices);
    }

    #[test]
    fn a_terminating_pod_stays_listed_as_terminating() {
        let mut pods = pods(2);
        let slices = converge(&service(), &pods, &[]);
        pods[0].metadata.deletion_timestamp = Some(Time::from(std::time::SystemTime::UNIX_EPOCH));
        let planned = plan(&service(), &pods, &slices);
        assert_eq!(counts(&planned), (0, 1, 0));
        let conditions = &planned.update[0].endpoints[0].conditions;
        assert_eq!(
            (conditions.ready, conditions.serving, conditions.terminating),
            (Some(false), Some(true), Some(true))
        );
    }

    #[test]
    fn a_selector_change_reuses_the_slice_for_the_new_pods() {
        let mut pods = pods(2);
        for (i, name) in ["api-0", "api-1"].into_iter().enumerate() {
            let mut api = pod(name, &format!("10.42.9.{i}"));
            api.metadata.labels.insert("app".into(), "api".into());
            pods.push(api);
        }
        let slices = converge(&service(), &pods, &[]);
        assert_eq!(names(&slices[0]), ["web-000", "web-001"]);
        let mut service = service();
        service.spec.selector.insert("app".into(), "api".into());
        let planned = plan(&service, &pods, &slices);
        assert_eq!(counts(&planned), (0, 1, 0));
        assert_eq!(names(&planned.update[0]), ["api-0", "api-1"]);
        converge(&service, &pods, &slices);
    }

    #[test]
    fn removed_pods_and_pods_without_an_address_leave_their_slice() {
        let mut pods = pods(3);
        let slices = converge(&service(), &pods, &[]);
        pods.remove(0);
        pods[0].status.pod_ip.clear();
        pods[0].status.pod_ips.clear();
        let planned = plan(&service(), &pods, &slices);
        assert_eq!(counts(&planned), (0, 1, 0));
        assert_eq!(names(&planned.update[0]), ["web-002"]);
    }

    #[test]
    fn a_service_selecting_nothing_keeps_one_empty_slice_which_its_first_pod_reuses() {
        let slices = converge(&service(), &[], &[]);
        assert_eq!(slices.len(), 1);
        assert!(slices[0].endpoints.is_empty() && slices[0].ports.is_empty());
        let pods = pods(1);
        let planned = plan(&service(), &pods, &slices);
        assert_eq!(counts(&planned), (0, 1, 0));
        assert_eq!(names(&planned.update[0]), ["web-000"]);
        let slices = converge(&service(), &pods, &slices);
        // And back: the slice empties instead of being replaced.
        let planned = plan::<Pod, _>(&service(), &[], &slices);
        assert_eq!(counts(&planned), (0, 1, 0));
        assert!(planned.update[0].endpoints.is_empty() && planned.update[0].ports.is_empty());
    }

    fn serving_http_on(name: &str, ip: &str, port: i32) -> Pod {
        let mut pod = pod(name, ip);
        pod.spec.containers = vec![Container {
            name: "main".into(),
            ports: vec![ContainerPort {
                name: "http".into(),
                container_port: port,
                ..ContainerPort::default()
            }],
            ..Container::default()
        }];
        pod
    }

    #[test]
    fn pods_serving_a_named_port_on_different_ports_get_slices_of_their_own() {
        let mut service = service();
        service.spec.ports[0].target_port = Some(IntOrString::String("http".into()));
        let mut pods = vec![
            serving_http_on("a", "10.42.0.1", 8080),
            serving_http_on("b", "10.42.0.2", 9090),
            serving_http_on("c", "10.42.0.3", 8080),
        ];
        let slices = converge(&service, &pods, &[]);
        let layout: Vec<_> = slices.iter().map(|s| (s.ports[0].port, names(s))).collect();
        assert_eq!(
            layout,
            [
                (Some(8080), vec!["a".to_string(), "c".to_string()]),
                (Some(9090), vec!["b".to_string()]),
            ]
        );
        // "b" moves to 8080: it joins the first slice and the second is deleted.
        pods[1] = serving_http_on("b", "10.42.0.2", 8080);
        let planned = plan(&service, &pods, &slices);
        assert_eq!(counts(&planned), (0, 1, 1));
        assert_eq!(names(&planned.update[0]), ["a", "c", "b"]);
        assert_eq!(planned.delete, [slices[1].metadata.name.clone()]);
        converge(&service, &pods, &slices);
    }

    #[test]
    fn slices_hold_at_most_a_hundred_endpoints_and_changes_touch_few_of_them() {
        let mut pods = pods(250);
        let slices = converge(&service(), &pods, &[]);
        let sizes: Vec<_> = slices.iter().map(|s| s.endpoints.len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
        // One pod goes from the first slice, two new ones come: both land in that slice.
        pods.remove(0);
        pods.push(pod("web-900", "10.42.9.1"));
        pods.push(pod("web-901", "10.42.9.2"));
        let planned = plan(&service(), &pods, &slices);
        assert_eq!(counts(&planned), (0, 2, 0));
        assert_eq!(planned.update[0].endpoints.len(), 100);
        assert_eq!(planned.update[0].metadata.name, slices[0].metadata.name);
        assert_eq!(planned.update[1].endpoints.len(), 51);
        let slices = converge(&service(), &pods, &slices);
        // A small addition fills the slice with room instead of creating one.
        pods.push(pod("web-902", "10.42.9.3"));
        let planned = plan(&service(), &pods, &slices);
        assert_eq!(counts(&planned), (0, 1, 0));
        assert_eq!(planned.update[0].metadata.name, slices[2].metadata.name);
        // 121 more make one full new slice and fill the rest into the one with room.
        pods.extend((0..120).map(|i| pod(&format!("web-x{i:03}"), &format!("10.42.8.{i}"))));
        let planned = plan(&service(), &pods, &slices);
        assert_eq!(counts(&planned), (1, 1, 0));
        assert_eq!(planned.create[0].endpoints.len(), 100);
        assert_eq!(planned.update[0].endpoints.len(), 72);
        let slices = converge(&service(), &pods, &slices);
        assert!(
            slices
                .iter()
                .all(|s| s.endpoints.len() <= MAX_ENDPOINTS_PER_SLICE)
        );
        assert_eq!(slices.iter().map(|s| s.endpoints.len()).sum::<usize>(), 372);
    }

    #[test]
    fn services_without_selector_and_aliases_lose_their_managed_slices() {
        let pods = pods(2);
        let slices = converge(&service(), &pods, &[]);
        let mut no_selector = service();
        no_selector.spec.selector.clear();
        let planned = plan(&no_selector, &pods, &slices);
        assert_eq!(counts(&planned), (0, 0, 1));
        assert_eq!(
            plan::<_, EndpointSlice>(&no_selector, &pods, &[]),
            Plan::default()
        );
        let mut alias = service();
        alias.spec.type_ = ServiceType::ExternalName;
        alias.spec.external_name = "example.com".into();
        let planned = plan(&alias, &pods, &slices);
        assert_eq!(counts(&planned), (0, 0, 1));
        assert_eq!(
            plan::<_, EndpointSlice>(&alias, &pods, &[]),
            Plan::default()
        );
    }

    #[test]
    fn slices_of_an_earlier_service_of_the_same_name_are_replaced() {
        let pods = pods(1);
        let slices = converge(&service(), &pods, &[]);
        let mut recreated = service();
        recreated.metadata.uid = "svc-uid-2".into();
        let planned = plan(&recreated, &pods, &slices);
        assert_eq!(counts(&planned), (1, 0, 1));
        assert_eq!(
            planned.create[0].metadata.owner_references[0].uid,
            "svc-uid-2"
        );
    }

    #[test]
    fn hand_edits_are_repaired() {
        let pods = pods(3);
        let slices = converge(&service(), &pods, &[]);
        let mut edited = slices.clone();
        edited[0].endpoints.pop();
        edited[0].endpoints[0].conditions.ready = Some(false);
        edited[0].metadata.labels.insert("extra".into(), "x".into());
        let planned = plan(&service(), &pods, &edited);
        assert_eq!(planned.update, slices);
        // An endpoint copied into a second slice is dropped from one of them.
        let mut duplicated = slices.clone();
        let mut copy = slices[0].clone();
        copy.metadata.name = "web-zz".into();
        copy.endpoints.truncate(1);
        duplicated.push(copy);
        let planned = plan(&service(), &pods, &duplicated);
        assert_eq!(counts(&planned), (0, 0, 1));
        assert_eq!(planned.delete, ["web-zz"]);
    }

    #[test]
    fn service_labels_and_headlessness_are_copied_to_the_slices() {
        let mut service = service();
        service.metadata.labels = [
            ("team".to_string(), "shop".to_string()),
            (SERVICE_NAME_LABEL.to_string(), "spoofed".to_string()),
        ]
        .into();
        service.spec.cluster_ip = "None".into();
        let labels = slice_labels(&service);
        assert_eq!(labels["team"], "shop");
        assert_eq!(labels[SERVICE_NAME_LABEL], "web");
        assert_eq!(labels[HEADLESS_LABEL], "");
        let pods = pods(1);
        let slices = converge(&service, &pods, &[]);
        service.metadata.labels.insert("team".into(), "cart".into());
        let planned = plan(&service, &pods, &slices);
        assert_eq!(counts(&planned), (0, 1, 0));
        assert_eq!(planned.update[0].metadata.labels["team"], "cart");
    }
}
