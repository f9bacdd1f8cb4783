//! The controller's routing, and the controller against the real API server and store in this
//! process.

use std::collections::BTreeMap;
use std::time::Duration;

use ractor::Actor;

use flotilla_kernel::object::{
    ConditionStatus, IntOrString, PodCondition, PodIp, PodPhase, ServicePort,
};

use super::plan::{MANAGED_BY, MANAGED_BY_LABEL};
use super::*;
use crate::controllers::driver::{ControllerActor, ControllerArgs, Timing};
use crate::test_api::{TestApi, host_pod_on};
use flotilla_kernel::object::SERVICE_NAME_LABEL;

fn watched<T>(event: EventType, object: T) -> Watched<T> {
    Watched {
        event,
        object,
        revision: 1,
    }
}

fn service(name: &str) -> Service {
    let mut service = Service::default();
    service.metadata.namespace = "default".into();
    service.metadata.name = name.into();
    service.spec.selector = [("app".to_string(), "web".to_string())].into();
    service.spec.ports = vec![ServicePort {
        port: 80,
        target_port: Some(IntOrString::Int(8080)),
        ..ServicePort::default()
    }];
    service
}

fn web_pod(name: &str) -> Pod {
    let mut pod = host_pod_on("n1", name);
    pod.metadata.labels = [("app".to_string(), "web".to_string())].into();
    pod
}

#[test]
fn events_queue_the_services_they_concern() {
    let mut controller = EndpointSliceController::default();
    let key = ObjectKey::new("default", "web");
    let added = EndpointSliceEvent::Service(watched(EventType::Added, service("web")));
    assert_eq!(controller.route(added), vec![key.clone()]);
    let pod = EndpointSliceEvent::Pod(Box::new(watched(EventType::Modified, web_pod("web-1"))));
    assert_eq!(controller.route(pod), vec![key.clone()]);
    let mut slice = EndpointSlice::default();
    slice.metadata.namespace = "default".into();
    let unlabelled = EndpointSliceEvent::Slice(watched(EventType::Deleted, slice.clone()));
    assert!(controller.route(unlabelled).is_empty());
    slice
        .metadata
        .labels
        .insert(SERVICE_NAME_LABEL.into(), "web".into());
    let labelled = EndpointSliceEvent::Slice(watched(EventType::Deleted, slice));
    assert_eq!(controller.route(labelled), vec![key.clone()]);
    // A deleted Service is queued (its slices go) and routes no pods any more.
    let deleted = EndpointSliceEvent::Service(watched(EventType::Deleted, service("web")));
    assert_eq!(controller.route(deleted), [key]);
    let pod = EndpointSliceEvent::Pod(Box::new(watched(EventType::Modified, web_pod("web-1"))));
    assert!(controller.route(pod).is_empty());
}

/// The Service's slices as a watch reports them, to wait on.
struct Slices {
    events: tokio::sync::mpsc::Receiver<Result<Watched<EndpointSlice>, ClientError>>,
    slices: BTreeMap<String, EndpointSlice>,
}

impl Slices {
    /// Follows the watch until `done` holds of the slices, for at most 30 s.
    async fn until(&mut self, what: &str, done: impl Fn(&[&EndpointSlice]) -> bool) {
        let follow = async {
            loop {
                let slices: Vec<&EndpointSlice> = self.slices.values().collect();
                if done(&slices) {
                    return;
                }
                let event = self.events.recv().await.expect("the watch ended").unwrap();
                let name = event.object.metadata.name.clone();
                if event.event == EventType::Deleted {
                    self.slices.remove(&name);
                } else {
                    self.slices.insert(name, event.object);
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(30), follow)
            .await
            .is_err()
        {
            panic!("waited 30 s for {what}; slices: {:?}", self.slices);
        }
    }
}

/// The readiness of the endpoints of the only slice, by pod name.
fn readiness(slices: &[&EndpointSlice]) -> Option<BTreeMap<String, Option<bool>>> {
    let [slice] = slices else {
        return None;
    };
    let ready = slice.endpoints.iter().map(|endpoint| {
        let pod = endpoint.target_ref.as_ref()?.name.clone();
        Some((pod, endpoint.conditions.ready))
    });
    ready.collect()
}

async fn set_status(api: &ApiClient, name: &str, ip: &str, ready: bool) {
    let mut pod: Pod = api.get("default", name).await.unwrap();
    pod.status.phase = PodPhase::Running;
    pod.status.pod_ip = ip.into();
    pod.status.pod_ips = vec![PodIp { ip: ip.into() }];
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
    api.update_status(&pod).await.unwrap();
}

#[tokio::test]
async fn ready_pods_are_listed_and_a_pod_turning_unready_is_marked_so() {
    let server = TestApi::start().await;
    let api = server.client("flotilla-controller", "control-plane");
    let mut slices = Slices {
        events: api
            .watch::<EndpointSlice>(Some("default"), 0, None)
            .await
            .unwrap(),
        slices: BTreeMap::new(),
    };
    let (controller, handle) = Actor::spawn(
        None,
        ControllerActor::<EndpointSliceController>::new(),
        ControllerArgs {
            api: api.clone(),
            controller: EndpointSliceController::default(),
            timing: Timing::default(),
        },
    )
    .await
    .unwrap();

    api.create(&service("web")).await.unwrap();
    for (name, ip) in [("web-1", "10.42.0.5"), ("web-2", "10.42.0.6")] {
        api.create(&web_pod(name)).await.unwrap();
        set_status(&api, name, ip, true).await;
    }
    let both_ready = BTreeMap::from([
        ("web-1".to_string(), Some(true)),
        ("web-2".to_string(), Some(true)),
    ]);
    slices
        .until("one slice listing both pods as ready", |s| {
            readiness(s).as_ref() == Some(&both_ready)
        })
        .await;
    let slice = slices.slices.values().next().unwrap();
    assert_eq!(slice.metadata.labels[MANAGED_BY_LABEL], MANAGED_BY);
    assert_eq!(slice.ports[0].port, Some(8080));

    set_status(&api, "web-2", "10.42.0.6", false).await;
    let one_ready = BTreeMap::from([
        ("web-1".to_string(), Some(true)),
        ("web-2".to_string(), Some(false)),
    ]);
    slices
        .until("web-2 listed as not ready", |s| {
            readiness(s).as_ref() == Some(&one_ready)
        })
        .await;

    api.delete(Kind::Service, "default", "web", None)
        .await
        .unwrap();
    slices
        .until("the slices of the deleted service gone", |s| s.is_empty())
        .await;

    controller.stop(None);
    handle.await.unwrap();
}
