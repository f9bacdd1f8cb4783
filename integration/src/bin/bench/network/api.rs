//! The admin's client of a fleet's API, for creating thousands of Services and EndpointSlices
//! faster than one CLI process per object could, and the objects the benchmark creates.
//!
//! The API server listens on the server's test host, so the client's QUIC socket is bound on a
//! thread inside that host; the socket stays there, and the calls are then made from the
//! benchmark's own thread. The runtime has a worker thread of its own, which keeps the
//! connection alive (QUIC keep-alives) while the benchmark waits minutes between calls.

use std::net::Ipv4Addr;

use anyhow::{Context, Result};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::runtime::Runtime;

use flotilla_integration::admin_transport;
use flotilla_kernel::api::ApiClient;
use flotilla_kernel::object::{EndpointSlice, Namespace, Resource, Service};
use flotilla_transport::ClientOptions;

use super::FleetGuard;

/// Creates in flight at once on the one connection (which serves 256).
const IN_FLIGHT: usize = 64;
/// The namespace of every object the benchmark makes.
pub const NAMESPACE: &str = "default";
/// The Service port every benchmark Service has, and the port its endpoints serve on.
pub const SERVICE_PORT: u16 = 80;
pub const TARGET_PORT: u16 = 8080;

/// The admin's connection to one fleet's API.
pub struct Api {
    runtime: Runtime,
    client: ApiClient,
}

impl Api {
    /// Connects as the admin of `fleet`, whose server runs in test host 0, and makes one call
    /// so that no handshake is timed later.
    pub fn connect(fleet: &FleetGuard) -> Result<Self> {
        // The fleet keeps the server's data dir beside the nodes' (`<dir>/server`).
        let config = fleet.dir()?.join("server/admin.conf");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("an async runtime")?;
        let server = fleet.hosts.host(0)?;
        let client = fleet.hosts.in_host(server, || {
            let _entered = runtime.enter();
            Ok(ApiClient::remote(admin_transport(
                &config,
                ClientOptions::default(),
            )?))
        })?;
        runtime
            .block_on(client.get::<Namespace>("", NAMESPACE))
            .context("reading the default namespace through the API")?;
        Ok(Self { runtime, client })
    }

    /// Creates `object` and returns it as stored.
    pub fn create<T: Resource>(&self, object: &T) -> Result<T> {
        let meta = object.meta();
        self.runtime
            .block_on(self.client.create(object))
            .with_context(|| format!("creating {} {}", T::KIND, meta.name))
    }

    /// Creates `objects`, [`IN_FLIGHT`] at a time, and returns them as stored, in order.
    pub fn create_all<T: Resource>(&self, objects: Vec<T>) -> Result<Vec<T>> {
        let client = &self.client;
        let creates = stream::iter(objects).map(|object| async move {
            client
                .create(&object)
                .await
                .with_context(|| format!("creating {} {}", T::KIND, object.meta().name))
        });
        self.runtime
            .block_on(creates.buffered(IN_FLIGHT).try_collect())
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.runtime.block_on(self.client.close());
    }
}

/// A ClusterIP Service `name` in front of the pods labelled `app: <app>`.
pub fn selecting_service(name: &str, app: &str) -> Result<Service> {
    object(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "selector": {"app": app},
            "ports": [{"port": SERVICE_PORT, "targetPort": TARGET_PORT}],
        },
    }))
}

/// A ClusterIP Service `name` without a selector: its endpoints are listed by hand.
pub fn selectorless_service(name: &str) -> Result<Service> {
    object(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"ports": [{"port": SERVICE_PORT, "targetPort": TARGET_PORT}]},
    }))
}

/// An EndpointSlice of Service `service` listing `addresses`, all ready, on its only port.
pub fn endpoint_slice(service: &str, addresses: &[Ipv4Addr]) -> Result<EndpointSlice> {
    let endpoints: Vec<_> = addresses
        .iter()
        .map(|address| json!({"addresses": [address.to_string()], "conditions": {"ready": true}}))
        .collect();
    object(json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": service,
            "namespace": NAMESPACE,
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"protocol": "TCP", "port": TARGET_PORT}],
    }))
}

/// The ClusterIP the API gave `service`.
pub fn cluster_ip(service: &Service) -> Result<Ipv4Addr> {
    service.spec.cluster_ip.parse().with_context(|| {
        format!(
            "Service {} has no IPv4 ClusterIP: {:?}",
            service.metadata.name, service.spec.cluster_ip
        )
    })
}

fn object<T: DeserializeOwned>(manifest: serde_json::Value) -> Result<T> {
    serde_json::from_value(manifest).context("a benchmark manifest does not parse")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_objects_parse_as_written() {
        let service = selecting_service("svc-00001", "web").unwrap();
        assert_eq!(service.spec.selector["app"], "web");
        assert_eq!(service.spec.ports.len(), 1);
        assert!(
            selectorless_service("rs-00001")
                .unwrap()
                .spec
                .selector
                .is_empty()
        );
        let addresses = [Ipv4Addr::new(10, 42, 39, 16), Ipv4Addr::new(10, 42, 39, 17)];
        let slice = endpoint_slice("rs-00001", &addresses).unwrap();
        assert_eq!(slice.service_name(), Some("rs-00001"));
        assert_eq!(slice.endpoints.len(), 2);
        assert_eq!(slice.endpoints[1].addresses, ["10.42.39.17"]);
        assert_eq!(slice.ports[0].port, Some(8080));
    }
}
