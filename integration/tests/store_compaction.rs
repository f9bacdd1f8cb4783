//! End to end: automatic compaction keeps a busy store small. A real `flotilla up` with a short
//! `--auto-compaction-retention` takes lease renewals for many nodes through its API, as their
//! agents send them, and the store's size on disk levels off instead of growing with every
//! renewal; `flotilla store status` shows the retention and the last automatic compaction, and
//! `flotilla store defrag` reports the space. Started with `--auto-compaction-retention 0`
//! (off), the same test fails.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use futures_util::future::try_join_all;

use flotilla_integration::{Cluster, ClusterOptions, StoreServer, running_as_root_or_skip};
use flotilla_kernel::api::ApiClient;
use flotilla_kernel::object::{Lease, Time};
use flotilla_store::Expect;

/// Nodes whose lease renewals the test sends.
const NODES: usize = 150;
/// History the cluster keeps: short, so a test of seconds sees many compactions.
const RETENTION: &str = "1s";
/// The store is watched for at least this long and this many renewals (about 26 MiB of
/// history if nothing compacted it)...
const MIN_DURATION: Duration = Duration::from_secs(20);
const MIN_RENEWALS: usize = 20_000;
/// ...and the test fails if a slow machine cannot send them within this.
const DEADLINE: Duration = Duration::from_secs(90);
/// How much the store may still grow between the middle and the end of the run: a compaction
/// that comes late on a loaded machine leaves a few seconds of history more. Without
/// compaction the second half of the renewals alone adds about 13 MiB.
const SLACK_BYTES: u64 = 4 * 1024 * 1024;

/// The store after one round of renewals.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Duration,
    renewals: usize,
    revision: u64,
    compact_revision: u64,
    disk_bytes: u64,
}

#[test]
fn lease_renewals_of_many_nodes_do_not_grow_the_store() {
    if !running_as_root_or_skip("lease_renewals_of_many_nodes_do_not_grow_the_store") {
        return;
    }
    let cluster = Cluster::start(ClusterOptions {
        extra_args: vec!["--auto-compaction-retention".into(), RETENTION.into()],
        ..ClusterOptions::default()
    })
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let samples = runtime.block_on(renew_and_sample(&cluster)).unwrap();

    // Levelled off: the largest size of the last quarter of the renewals is about that of the
    // second quarter, rather than larger by everything renewed in between.
    let total = samples.last().unwrap().renewals;
    let quarter = |n: usize| {
        samples
            .iter()
            .filter(move |s| s.renewals > total * (n - 1) / 4 && s.renewals <= total * n / 4)
    };
    let largest = |n: usize| quarter(n).map(|s| s.disk_bytes).max().unwrap();
    let (middle, end) = (largest(2), largest(4));
    assert!(
        end <= middle + SLACK_BYTES,
        "the store kept growing: at most {middle} bytes in the second quarter of {total} \
         renewals, {end} in the last; samples:\n{samples:#?}"
    );
    // And history is really gone: everything up to the middle of the run is compacted.
    let middle_revision = quarter(2).next_back().unwrap().revision;
    let last = samples.last().unwrap();
    assert!(
        last.compact_revision >= middle_revision,
        "compacted only through {} at the end, revision {middle_revision} was current at the \
         middle",
        last.compact_revision
    );
    eprintln!(
        "{total} renewals of {NODES} leases in {:.1} s: store at most {middle} bytes in the \
         second quarter, {end} in the last",
        last.at.as_secs_f64()
    );

    let status = cluster.cli_ok(&["store", "status"]);
    let row = status.lines().nth(1).unwrap_or_default();
    assert!(row.contains(&format!(" {RETENTION} ")), "{status}");
    assert!(
        row.ends_with(" ago)"),
        "the last automatic compaction is shown: {status}"
    );
    let defragmented = cluster.cli_ok(&["store", "defrag"]);
    assert!(
        defragmented.starts_with("defragmented the store: "),
        "{defragmented}"
    );
    eprintln!("{}", defragmented.trim());
}

/// Creates a lease for each node, then renews them all, round after round, sampling the store
/// after each round.
async fn renew_and_sample(cluster: &Cluster) -> Result<Vec<Sample>> {
    let api = cluster.api_client()?;
    let store = cluster.store_client()?;
    let mut leases = Vec::with_capacity(NODES);
    for node in 0..NODES {
        let lease = Lease::for_node(&format!("node-{node:03}"), 8, Time::now());
        leases.push(api.create(&lease).await?);
    }
    let started = Instant::now();
    let mut renewals = 0;
    let mut samples = Vec::new();
    while renewals < MIN_RENEWALS || started.elapsed() < MIN_DURATION {
        if started.elapsed() > DEADLINE {
            bail!("only {renewals} renewals in {DEADLINE:?}: too slow to show anything");
        }
        leases = renew_all(&api, leases).await?;
        renewals += NODES;
        let status = store.status().await?;
        samples.push(Sample {
            at: started.elapsed(),
            renewals,
            revision: status.revision,
            compact_revision: status.compact_revision,
            disk_bytes: status.disk_bytes,
        });
    }
    api.close().await;
    store.transport().close().await;
    Ok(samples)
}

/// One renewal of every lease, sent at once as many agents would.
async fn renew_all(api: &ApiClient, leases: Vec<Lease>) -> Result<Vec<Lease>> {
    let renewed = try_join_all(leases.into_iter().map(|mut lease| async move {
        lease.spec.renew_time = Some(Time::now());
        api.update(&lease).await
    }))
    .await?;
    Ok(renewed)
}

#[test]
fn a_standalone_store_compacts_itself_and_defragments_on_request() {
    let server = StoreServer::start_with(&["--auto-compaction-retention", RETENTION]).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = server.client().unwrap();
        let auto = client.auto_compaction().await.unwrap();
        assert_eq!(auto.retention, Duration::from_secs(1));
        let mut written = 0;
        for i in 0..20u32 {
            written = client
                .put(b"counter", &i.to_be_bytes(), Expect::Any)
                .await
                .unwrap()
                .revision;
        }
        // The first compaction comes a retention after start, through the revision current
        // a retention before.
        let started = Instant::now();
        let last = loop {
            let auto = client.auto_compaction().await.unwrap();
            if let Some(last) = auto.last.filter(|last| last.revision >= written) {
                break last;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no automatic compaction through revision {written} within 30 s: {auto:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let status = client.status().await.unwrap();
        assert!(status.compact_revision >= last.revision, "{status:?}");
        let (before, after) = client.defragment().await.unwrap();
        assert!(before > 0 && after > 0, "{before} -> {after}");
        client.transport().close().await;
    });
}
