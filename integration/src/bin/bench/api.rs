//! `bench api`: what the API path costs over the raw store, and how the cluster copes with a
//! burst of pods that fit nowhere. Everything runs against the real release `flotilla` on
//! loopback, driven by clients like the CLI's (`ApiClient` over QUIC with mutual TLS, the
//! admin's credentials, so authorization and admission run), one connection per 128 clients
//! as in `bench store`.
//!
//! - Creates: pods created per second by 1, 16 and 256 concurrent clients, against raw puts
//!   of values as large as a stored pod, by the same number of clients through the store
//!   service on the same server's endpoint, run just before. Each concurrency gets a fresh
//!   `flotilla server`, so the pods of one run do not weigh on the next.
//! - Reads, on one more fresh server with 10,000 pods stored: get of one pod by name, list of
//!   all pods, and the same gets while 256 clients create pods.
//! - Burst ([`crate::api_burst`]): 5,000 unschedulable pods on a one-machine `flotilla up`.
//!
//! What is fair: the pods of the first two parts are bound by their manifest to a Node object
//! the benchmark made (no agent behind it), and the server runs with a one-hour node grace
//! period and eviction timeout, so the scheduler has nothing to place and the node lifecycle
//! never evicts. What the components watching pods do on each event, and the server's periodic
//! work, is the API's real cost and is counted. Raw puts go to keys nobody watches. The benchmark's clients share the machine's
//! cores with the server, for both sides alike.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use flotilla_integration::{ApiReport, ControlPlane, CreateRun, OpFigures, Reads};
use flotilla_kernel::object::{Kind, Pod};

use crate::api_burst;
use crate::api_objects::{Admin, Placement, connections_for, pod, put_new, raw_key};
use crate::closed_loop::{measure, pick, run_count};

const CREATE_CLIENTS: [usize; 3] = [1, 16, 256];
const CREATE_TIME: Duration = Duration::from_secs(4);
const STORED_PODS: usize = 10_000;
const FILL_CLIENTS: usize = 256;
const GET_CLIENTS: usize = 16;
const GET_TIME: Duration = Duration::from_secs(3);
/// A list of 10,000 pods is some 5 MB; two at a time, so a list's latency is mostly its own.
const LIST_CLIENTS: usize = 2;
const LIST_TIME: Duration = Duration::from_secs(6);
const WRITERS: usize = 256;
/// Time for the watchers to take in the pods just created before reads are timed.
const SETTLE: Duration = Duration::from_secs(2);
const NAMESPACE: &str = "bench";
/// Where the writers of the reads part create their pods, so the list stays 10,000 pods.
const WRITERS_NAMESPACE: &str = "bench-writes";
const NODE: &str = "bench-node";
/// Nothing is marked unreachable or evicted during the run.
const SERVER_FLAGS: [&str; 4] = ["--node-grace-period", "1h", "--pod-eviction-timeout", "1h"];

pub fn api() -> Result<ApiReport> {
    flotilla_transport::runtime::build()
        .context("starting the async runtime")?
        .block_on(run())
}

async fn run() -> Result<ApiReport> {
    let mut creates = Vec::new();
    let mut pod_bytes = 0;
    for clients in CREATE_CLIENTS {
        eprintln!("bench: creates and raw puts, {clients} client(s)");
        let (run, bytes) = on_server(async |server| create_run(server, clients).await).await?;
        creates.push(run);
        pod_bytes = bytes;
    }
    eprintln!("bench: reads with {STORED_PODS} pods stored");
    let reads = on_server(async |server| reads(server).await).await?;
    let burst = api_burst::burst().await?;
    Ok(ApiReport {
        pod_bytes,
        creates,
        reads,
        burst,
    })
}

/// Runs `part` against a fresh `flotilla server`; on failure prints the end of its log.
async fn on_server<T>(part: impl AsyncFnOnce(&ControlPlane) -> Result<T>) -> Result<T> {
    let server = ControlPlane::start(&SERVER_FLAGS)?;
    let outcome = part(&server).await;
    if outcome.is_err() {
        eprintln!(
            "---- end of the log of flotilla server ----\n{}\n----",
            server.log_tail()
        );
    }
    outcome
}

/// Connects the admin for `clients` clients and creates the namespace and node pods need.
async fn prepare(server: &ControlPlane, clients: usize) -> Result<Admin> {
    let admin = Admin::connect(&server.admin_config(), connections_for(clients)).await?;
    admin.create_namespace(NAMESPACE).await?;
    admin.create_node(NODE).await?;
    Ok(admin)
}

/// A pod name of fixed length, so every stored pod has the same size.
fn pod_name(run: char, clients: usize, client: usize, n: usize) -> String {
    format!("{run}{clients:03}-{client:03}-{n:07}")
}

/// Raw puts, then creates through the API, both by `clients` clients; and the stored size.
async fn create_run(server: &ControlPlane, clients: usize) -> Result<(CreateRun, usize)> {
    let admin = prepare(server, clients).await?;
    let template = pod(NAMESPACE, "template", Placement::Bound(NODE))?;
    let pod_bytes = admin
        .stored_size(&named(&template, &pod_name('s', clients, 0, 0)))
        .await?;

    let stores = admin.store.clone();
    let value = Arc::new(vec![b'p'; pod_bytes]);
    let store = measure(clients, CREATE_TIME, move |client, n| {
        let stores = stores.clone();
        let value = Arc::clone(&value);
        async move {
            let key = raw_key(NAMESPACE, &pod_name('c', clients, client, n));
            put_new(pick(&stores, client)?, &key, &value).await
        }
    })
    .await
    .context("raw store puts")?;

    let apis = admin.api.clone();
    let api = measure(clients, CREATE_TIME, move |client, n| {
        let apis = apis.clone();
        let pod = named(&template, &pod_name('c', clients, client, n));
        async move {
            pick(&apis, client)?.create(&pod).await?;
            Ok(())
        }
    })
    .await
    .context("creates through the API")?;
    admin.close().await;
    Ok((
        CreateRun {
            clients,
            api,
            store,
        },
        pod_bytes,
    ))
}

fn named(template: &Pod, name: &str) -> Pod {
    let mut pod = template.clone();
    pod.metadata.name = name.to_string();
    pod
}

/// Gets and lists with [`STORED_PODS`] pods stored, then gets while [`WRITERS`] create.
async fn reads(server: &ControlPlane) -> Result<Reads> {
    let admin = prepare(server, FILL_CLIENTS).await?;
    admin.create_namespace(WRITERS_NAMESPACE).await?;
    let template = pod(NAMESPACE, "template", Placement::Bound(NODE))?;
    let apis = admin.api.clone();
    let fill_template = template.clone();
    run_count(FILL_CLIENTS, STORED_PODS, move |client, i| {
        let apis = apis.clone();
        let pod = named(&fill_template, &stored_name(i));
        async move {
            pick(&apis, client)?.create(&pod).await?;
            Ok(())
        }
    })
    .await
    .with_context(|| format!("creating {STORED_PODS} pods"))?;
    tokio::time::sleep(SETTLE).await;

    let get = gets(&admin).await.context("gets")?;

    let apis = admin.api.clone();
    let list = measure(LIST_CLIENTS, LIST_TIME, move |client, _| {
        let apis = apis.clone();
        async move {
            let (items, _) = pick(&apis, client)?.list_raw(Kind::Pod, None, None).await?;
            if items.len() != STORED_PODS {
                bail!("listed {} pods, expected {STORED_PODS}", items.len());
            }
            Ok(())
        }
    })
    .await
    .context("lists")?;

    let apis = admin.api.clone();
    let mut writer = template;
    writer.metadata.namespace = WRITERS_NAMESPACE.to_string();
    let writes = measure(WRITERS, GET_TIME, move |client, n| {
        let apis = apis.clone();
        let pod = named(&writer, &pod_name('w', WRITERS, client, n));
        async move {
            pick(&apis, client)?.create(&pod).await?;
            Ok(())
        }
    });
    let (writes, get_during_creates) = tokio::join!(writes, gets(&admin));
    writes.context("creates beside gets")?;
    let get_during_creates = get_during_creates.context("gets beside creates")?;
    admin.close().await;
    Ok(Reads {
        pods: STORED_PODS,
        get_clients: GET_CLIENTS,
        get,
        list_clients: LIST_CLIENTS,
        list,
        writers: WRITERS,
        get_during_creates,
    })
}

fn stored_name(i: usize) -> String {
    format!("r{i:05}")
}

/// [`GET_CLIENTS`] clients reading stored pods by name, each a different sequence.
async fn gets(admin: &Admin) -> Result<OpFigures> {
    let apis = admin.api.clone();
    measure(GET_CLIENTS, GET_TIME, move |client, n| {
        let apis = apis.clone();
        // A stride prime to 10,000 visits every pod before repeating one.
        let name = stored_name((client * 617 + n * 7919) % STORED_PODS);
        async move {
            pick(&apis, client)?
                .get::<Pod>(NAMESPACE, &name)
                .await
                .with_context(|| format!("getting pod {name}"))?;
            Ok(())
        }
    })
    .await
}
