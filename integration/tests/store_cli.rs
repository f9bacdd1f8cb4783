//! End to end: an admin uses the raw store of a running cluster with `flotilla store`, over the
//! API's own QUIC endpoint: put, get (JSON, prefix, count, past revisions), leases, delete,
//! compaction, status (with automatic compaction's one-hour default), defragment, a snapshot of
//! the live store and its offline restore. Mistakes give one clear line and a non-zero exit.

use serde_json::Value;

use flotilla_integration::{Cluster, ClusterOptions, running_as_root_or_skip};

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn revision(line: &str) -> u64 {
    line.trim()
        .rsplit(' ')
        .next()
        .and_then(|n| n.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("no revision in {line:?}"))
}

#[test]
fn an_admin_reads_writes_leases_compacts_and_snapshots_the_raw_store() {
    if !running_as_root_or_skip("an_admin_reads_writes_leases_compacts_and_snapshots_the_raw_store")
    {
        return;
    }
    let cluster = Cluster::start(ClusterOptions::default()).unwrap();

    let first = revision(&cluster.cli_ok(&["store", "put", "greeting", "hello"]));
    let second = revision(&cluster.cli_ok(&["store", "put", "greeting", "bonjour"]));
    assert!(second > first);
    let json: Value =
        serde_json::from_str(&cluster.cli_ok(&["store", "get", "greeting", "-o", "json"])).unwrap();
    assert_eq!(json["kvs"][0]["value"], "bonjour");
    assert_eq!(json["kvs"][0]["version"], 2);
    let past: Value = serde_json::from_str(&cluster.cli_ok(&[
        "store",
        "get",
        "greeting",
        "--rev",
        &first.to_string(),
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(past["kvs"][0]["value"], "hello");
    let objects = cluster.cli_ok(&["store", "get", "/registry/", "--prefix", "--count-only"]);
    assert!(objects.trim().parse::<u64>().unwrap() > 0, "{objects}");
    let table = cluster.cli_ok(&["store", "get", "greeting"]);
    assert!(table.starts_with("KEY"), "{table}");

    let granted = cluster.cli_ok(&["store", "lease", "grant", "1h"]);
    let id = granted.split_whitespace().nth(1).unwrap().to_string();
    cluster.cli_ok(&["store", "put", "session", "x", "--lease", &id]);
    let ttl = cluster.cli_ok(&["store", "lease", "ttl", &id]);
    assert!(ttl.contains("keys: session"), "{ttl}");
    cluster.cli_ok(&["store", "lease", "revoke", &id]);
    let gone = cluster.cli_ok(&["store", "get", "session", "--count-only"]);
    assert_eq!(gone.trim(), "0");
    let revoked = cluster.cli(&["store", "lease", "ttl", &id]);
    assert!(!revoked.status.success());
    assert!(
        stderr(&revoked).contains("not found"),
        "{}",
        stderr(&revoked)
    );

    cluster.cli_ok(&["store", "put", "scratch/a", "1"]);
    cluster.cli_ok(&["store", "put", "scratch/b", "2"]);
    let deleted = cluster.cli_ok(&["store", "del", "scratch/", "--prefix"]);
    assert!(deleted.starts_with("deleted 2 keys"), "{deleted}");

    cluster.cli_ok(&["store", "compact", &second.to_string()]);
    let compacted = cluster.cli(&["store", "get", "greeting", "--rev", &first.to_string()]);
    assert!(!compacted.status.success());
    assert!(
        stderr(&compacted).contains("compacted"),
        "{}",
        stderr(&compacted)
    );
    let future = cluster.cli(&["store", "get", "greeting", "--rev", "999999999"]);
    assert!(stderr(&future).contains("future"), "{}", stderr(&future));
    let status = cluster.cli_ok(&["store", "status"]);
    assert!(status.starts_with("REVISION"), "{status}");
    assert!(
        status.lines().next().unwrap().contains("RETENTION"),
        "{status}"
    );
    assert!(status.lines().nth(1).unwrap().contains(" 1h "), "{status}");
    let defragmented = cluster.cli_ok(&["store", "defrag"]);
    assert!(
        defragmented.starts_with("defragmented the store: "),
        "{defragmented}"
    );

    let snapshot = cluster.workdir().join("backup.snap");
    let saved = cluster.cli_ok(&["store", "snapshot", &snapshot.to_string_lossy()]);
    assert!(saved.starts_with("saved revision"), "{saved}");
    let restored_dir = cluster.workdir().join("restored");
    let restored = cluster.cli_ok(&[
        "store",
        "restore",
        &snapshot.to_string_lossy(),
        "--data-dir",
        &restored_dir.to_string_lossy(),
    ]);
    assert!(restored.starts_with("restored revision"), "{restored}");
    assert!(restored_dir.join("store").is_dir());
    let again = cluster.cli(&[
        "store",
        "restore",
        &snapshot.to_string_lossy(),
        "--data-dir",
        &restored_dir.to_string_lossy(),
    ]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("not empty"), "{}", stderr(&again));
}
