//! An API server in-process for the actors' tests, on a real store in a temporary directory:
//! no QUIC, no root.

use std::time::Duration;

use ractor::{Actor, ActorRef};
use tempfile::TempDir;

use flotilla_kernel::api::{ApiCall, ApiClient, LocalApi};
use flotilla_kernel::object::{Container, ObjectMeta, Pod, PodSpec};
use flotilla_store::Store;
use flotilla_transport::Identity;

use crate::apiserver::{ApiServer, ApiServerArgs, NodePortRange, ServiceCidr};

/// An API server serving in-process callers, and the store under it.
pub struct TestApi {
    pub store: Store,
    pub local: LocalApi,
    actor: ActorRef<ApiCall>,
    ranges: (ServiceCidr, NodePortRange),
    _dir: TempDir,
}

impl TestApi {
    pub async fn start() -> TestApi {
        TestApi::with_service_ranges(ServiceCidr::default(), NodePortRange::default()).await
    }

    /// An API server giving Services ClusterIPs from `cidr` and node ports from `node_ports`.
    pub async fn with_service_ranges(cidr: ServiceCidr, node_ports: NodePortRange) -> TestApi {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = Store::open(&dir.path().join("store")).expect("a fresh store");
        let local = LocalApi::default();
        let ranges = (cidr, node_ports);
        let actor = spawn(&local, &store, ranges).await;
        TestApi {
            store,
            local,
            actor,
            ranges,
            _dir: dir,
        }
    }

    /// Stops the API server and starts another on the same store, as a restarted process
    /// would; clients made before keep working.
    pub async fn restart(&mut self) {
        self.actor
            .stop_and_wait(None, Some(Duration::from_secs(10)))
            .await
            .expect("the API server stops");
        self.actor = spawn(&self.local, &self.store, self.ranges).await;
    }

    pub fn client(&self, name: &str, role: &str) -> ApiClient {
        ApiClient::local(Identity::new(name, role), self.local.clone())
    }
}

async fn spawn(
    local: &LocalApi,
    store: &Store,
    (service_cidr, node_port_range): (ServiceCidr, NodePortRange),
) -> ActorRef<ApiCall> {
    let args = ApiServerArgs {
        local: local.clone(),
        store: store.clone(),
        listen: None,
        pki: None,
        node_cert_validity: Duration::from_secs(3600),
        store_service: None,
        service_cidr,
        node_port_range,
    };
    let (actor, _) = Actor::spawn(None, ApiServer, args)
        .await
        .expect("the API server starts");
    actor
}

impl Drop for TestApi {
    fn drop(&mut self) {
        self.actor.stop(None);
    }
}

/// A pod `name` in `default`, bound to `node`, whose one container sleeps on the host.
pub fn host_pod_on(node: &str, name: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: name.into(),
            namespace: "default".into(),
            ..ObjectMeta::default()
        },
        spec: PodSpec {
            node_name: node.into(),
            containers: vec![Container {
                name: "main".into(),
                image: Container::HOST_IMAGE.into(),
                command: vec!["/bin/sleep".into(), "600".into()],
                ..Container::default()
            }],
            ..PodSpec::default()
        },
        ..Pod::default()
    }
}
