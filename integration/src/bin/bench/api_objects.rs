//! What `bench api` sends and how: pods as an operator writes them, the Namespace and Node
//! objects they need, and the admin's clients of the API and of the raw store, each on its own
//! QUIC connection with the credentials of the server's admin config (as the CLI connects).

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use flotilla_actors::apiserver::object_key;
use flotilla_actors::store_service::StoreClient;
use flotilla_integration::admin_transport;
use flotilla_kernel::api::ApiClient;
use flotilla_kernel::object::{Kind, Namespace, Node, Pod};
use flotilla_store::{Expect, RangeRequest};
use flotilla_transport::ClientOptions;

use crate::closed_loop::CLIENTS_PER_CONNECTION;

/// Where a pod goes.
#[derive(Debug, Clone, Copy)]
pub enum Placement<'a> {
    /// Bound to this node by its manifest (`spec.nodeName`): the scheduler has nothing to do.
    Bound(&'a str),
    /// Only on nodes labelled `key=value` (`spec.nodeSelector`).
    Selector(&'a str, &'a str),
    /// Wherever the scheduler puts it.
    Anywhere,
}

/// A one-container pod with small requests, as `flotilla apply` would send it.
pub fn pod(namespace: &str, name: &str, placement: Placement) -> Result<Pod> {
    let mut spec = json!({
        "containers": [{
            "name": "app",
            "image": "host",
            "command": ["sleep", "3600"],
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
        }],
    });
    match placement {
        Placement::Bound(node) => spec["nodeName"] = json!(node),
        Placement::Selector(key, value) => {
            let mut selector = Map::new();
            selector.insert(key.to_string(), json!(value));
            spec["nodeSelector"] = Value::Object(selector);
        }
        Placement::Anywhere => {}
    }
    let manifest = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "bench"}},
        "spec": spec,
    });
    serde_json::from_value(manifest).context("the benchmark's pod manifest does not parse")
}

fn namespace(name: &str) -> Result<Namespace> {
    let manifest = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    serde_json::from_value(manifest).context("the benchmark's namespace manifest does not parse")
}

fn node(name: &str) -> Result<Node> {
    let manifest = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}});
    serde_json::from_value(manifest).context("the benchmark's node manifest does not parse")
}

/// A raw-store key as long as the API's key of pod `namespace/name`, outside `/registry/` so
/// that no component watches it.
pub fn raw_key(namespace: &str, name: &str) -> Vec<u8> {
    format!("/rawbench/pods/{namespace}/{name}").into_bytes()
}

/// A raw put of `value` at `key`, which must not exist yet (as a create writes).
pub async fn put_new(store: &StoreClient, key: &[u8], value: &[u8]) -> Result<()> {
    let result = store.put(key, value, Expect::Absent).await?;
    if !result.succeeded {
        bail!("raw key {} exists already", String::from_utf8_lossy(key));
    }
    Ok(())
}

/// How many connections `clients` concurrent clients get.
pub fn connections_for(clients: usize) -> usize {
    clients.div_ceil(CLIENTS_PER_CONNECTION).max(1)
}

/// The admin's clients of one server: `api[i]` and `store[i]` are separate connections.
pub struct Admin {
    pub api: Vec<ApiClient>,
    pub store: Vec<StoreClient>,
}

impl Admin {
    /// Opens `connections` API connections and as many raw-store ones, with the admin config
    /// at `config`, and makes one call on each so no handshake is timed later.
    pub async fn connect(config: &Path, connections: usize) -> Result<Admin> {
        let mut admin = Admin {
            api: Vec::new(),
            store: Vec::new(),
        };
        for _ in 0..connections {
            let api = ApiClient::remote(admin_transport(config, ClientOptions::default())?);
            api.get::<Namespace>("", "default")
                .await
                .context("reading namespace default through the API")?;
            admin.api.push(api);
            let store = StoreClient::new(admin_transport(config, ClientOptions::default())?);
            store
                .range(RangeRequest::key(b"/registry/namespaces/default"))
                .await
                .context("reading the raw store")?;
            admin.store.push(store);
        }
        Ok(admin)
    }

    /// The first API connection.
    pub fn first(&self) -> Result<&ApiClient> {
        self.api.first().context("no API connection")
    }

    /// Creates Namespace `name`.
    pub async fn create_namespace(&self, name: &str) -> Result<()> {
        self.first()?
            .create(&namespace(name)?)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        Ok(())
    }

    /// Creates Node object `name` (no agent behind it).
    pub async fn create_node(&self, name: &str) -> Result<()> {
        self.first()?
            .create(&node(name)?)
            .await
            .with_context(|| format!("creating node {name}"))?;
        Ok(())
    }

    /// Creates `pod` and returns the size of what the API stored for it.
    pub async fn stored_size(&self, pod: &Pod) -> Result<usize> {
        let meta = &pod.metadata;
        self.first()?
            .create(pod)
            .await
            .with_context(|| format!("creating pod {}", meta.name))?;
        let key = object_key(Kind::Pod, &meta.namespace, &meta.name);
        let store = self.store.first().context("no store connection")?;
        let found = store.range(RangeRequest::key(&key)).await?;
        match found.kvs.first() {
            Some(kv) => Ok(kv.value.len()),
            None => bail!("pod {} is not in the store", meta.name),
        }
    }

    /// Ends every connection politely.
    pub async fn close(&self) {
        for api in &self.api {
            api.close().await;
        }
        for store in &self.store {
            store.transport().close().await;
        }
    }
}
