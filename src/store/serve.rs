//! `flotilla store serve`: one store on its own QUIC endpoint, for benchmarks, tests and tools
//! that want flotilla's etcd without a cluster. Same PKI, admin config and wire as a cluster's
//! API, so `flotilla store --config DATA_DIR/admin.conf ...` works against it unchanged.

use std::cell::Cell;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ractor::Actor;
use tokio::signal::unix::{SignalKind, signal};

use flotilla_actors::compactor::{COMPACTOR, CompactionRecord, Compactor, CompactorArgs};
use flotilla_actors::store_service::{StoreFront, StoreService};
use flotilla_kernel::supervision::{ChildSpec, Supervisor};
use flotilla_store::{Store, StoreOptions};
use flotilla_transport::{ClusterPki, Server, ServerOptions};

use crate::boot::{
    CERT_VALIDITY, hostname, one_for_one, server_names, shutdown, write_admin_config,
};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Where the store and its certificates live.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Address to serve on (QUIC, mutual TLS).
    #[arg(long, default_value = "127.0.0.1:7444")]
    pub listen: SocketAddr,
    /// Size of the data dir at which writes stop with a `no space` alarm (bytes).
    #[arg(long, default_value_t = StoreOptions::default().quota_bytes)]
    pub quota_bytes: u64,
    /// Largest transaction accepted (key and value bytes).
    #[arg(long, default_value_t = StoreOptions::default().max_request_bytes)]
    pub max_request_bytes: usize,
    /// How much history automatic compaction keeps (e.g. 30m, 1h; a bare number is hours);
    /// 0 turns it off.
    #[arg(long, default_value = "1h", value_parser = crate::ttl::parse_retention)]
    pub auto_compaction_retention: Duration,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating the data dir {}", args.data_dir.display()))?;
    let pki = ClusterPki::load_or_create(&args.data_dir.join("pki"))?;
    let credentials = pki.issue_server(
        &server_names(&args.listen, &hostname()?, &[]),
        CERT_VALIDITY,
    )?;
    write_admin_config(&args.data_dir, &args.listen, &pki, false)?;
    let options = StoreOptions {
        quota_bytes: args.quota_bytes,
        max_request_bytes: args.max_request_bytes,
        ..StoreOptions::default()
    };
    let store = Store::open_with(&args.data_dir.join("store"), options)?;
    let compaction = CompactionRecord::new(args.auto_compaction_retention);
    let service = Arc::new(StoreService::new(
        store.clone(),
        args.data_dir.clone(),
        compaction.clone(),
    ));
    let server = Server::bind_with(args.listen, &credentials, ServerOptions::default())
        .with_context(|| format!("serving the store on {}", args.listen))?;
    // The compactor runs under a supervisor, as in `flotilla up`: if it keeps failing the
    // supervisor gives up, and so does the server.
    let compactor = ChildSpec::actor(COMPACTOR, move || {
        let args = CompactorArgs {
            store: store.clone(),
            record: compaction.clone(),
        };
        (Compactor, args)
    });
    let (root, root_done) = Actor::spawn(None, Supervisor, one_for_one(vec![compactor]))
        .await
        .context("starting the compactor")?;
    tracing::info!(
        addr = %server.local_addr(),
        config = %args.data_dir.join("admin.conf").display(),
        "store serving"
    );
    let mut terminate = signal(SignalKind::terminate())?;
    let mut root_done = std::pin::pin!(root_done);
    let gave_up = Cell::new(false);
    let stop = async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
            _ = &mut root_done => gave_up.set(true),
        }
    };
    let served = server.serve(Arc::new(StoreFront(service)), stop).await;
    if gave_up.get() {
        tracing::error!("the compactor's supervisor gave up; stopping");
        served?;
        return Ok(ExitCode::FAILURE);
    }
    shutdown(&root).await;
    root_done.await.ok();
    served?;
    tracing::info!("store stopped");
    Ok(ExitCode::SUCCESS)
}
