//! How `flotilla store` shows what the store answered. Keys and values are bytes; they print
//! as text, with anything that is not UTF-8 escaped, so binary values cannot garble a terminal.

use std::path::Path;
use std::time::SystemTime;

use serde_json::json;

use flotilla_actors::compactor::AutoCompaction;
use flotilla_store::{
    Event, EventKind, KeyValue, LeaseStatus, OpResult, RangeResult, SnapshotInfo, StoreStatus,
    TxnResult,
};

use crate::cli::{Table, age};
use crate::ttl::format_duration;

/// Longest value shown in a table cell; `-o json` shows whole values.
const VALUE_WIDTH: usize = 60;

pub fn text(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

pub fn range_table(result: &RangeResult, count_only: bool) -> String {
    if count_only {
        return format!("{}\n", result.count);
    }
    let mut table = Table::new(["KEY", "CREATE", "MOD", "VERSION", "LEASE", "VALUE"]);
    for kv in &result.kvs {
        table.push(vec![
            text(&kv.key),
            kv.create_revision.to_string(),
            kv.mod_revision.to_string(),
            kv.version.to_string(),
            kv.lease
                .map_or_else(|| "-".into(), |lease| lease.to_string()),
            shorten(&text(&kv.value)),
        ]);
    }
    let mut out = table.render();
    if result.more {
        out.push_str(&format!(
            "({} of {} keys at revision {})\n",
            result.kvs.len(),
            result.count,
            result.revision
        ));
    }
    out
}

pub fn range_json(result: &RangeResult) -> anyhow::Result<String> {
    let kvs: Vec<_> = result.kvs.iter().map(kv_json).collect();
    let value = json!({
        "revision": result.revision,
        "count": result.count,
        "more": result.more,
        "kvs": kvs,
    });
    Ok(format!("{}\n", serde_json::to_string_pretty(&value)?))
}

fn kv_json(kv: &KeyValue) -> serde_json::Value {
    json!({
        "key": text(&kv.key),
        "value": text(&kv.value),
        "createRevision": kv.create_revision,
        "modRevision": kv.mod_revision,
        "version": kv.version,
        "lease": kv.lease.map(|lease| lease.to_string()),
    })
}

pub fn deleted(result: &TxnResult) -> String {
    let count = result
        .results
        .iter()
        .map(|result| match result {
            OpResult::Delete { deleted } => deleted.len(),
            _ => 0,
        })
        .sum::<usize>();
    format!("deleted {count} keys (revision {})", result.revision)
}

pub fn event(event: &Event) -> String {
    let kind = match event.kind {
        EventKind::Put => "PUT",
        EventKind::Delete => "DELETE",
    };
    let value = match event.kind {
        EventKind::Put => format!(" {}", shorten(&text(&event.kv.value))),
        EventKind::Delete => String::new(),
    };
    format!(
        "{} {kind} {}{value}",
        event.kv.mod_revision,
        text(&event.kv.key)
    )
}

pub fn snapshot(file: &Path, info: &SnapshotInfo) -> String {
    format!(
        "saved revision {} ({} records, {} bytes) to {}",
        info.revision,
        info.records,
        info.bytes,
        file.display()
    )
}

pub fn lease(status: &LeaseStatus) -> String {
    let keys: Vec<String> = status.keys.iter().map(|key| text(key)).collect();
    format!(
        "lease {} granted with TTL {:?}, {:?} left, keys: {}",
        status.id,
        status.granted_ttl,
        status.remaining,
        if keys.is_empty() {
            "none".to_string()
        } else {
            keys.join(", ")
        }
    )
}

/// The store's counters, then its automatic compaction: the retention (`off` when zero) and
/// the last one, as the revision it went through and how long ago (`-` before the first).
pub fn status(status: &StoreStatus, auto: &AutoCompaction, now: SystemTime) -> String {
    let mut table = Table::new([
        "REVISION",
        "COMPACTED",
        "DISK",
        "SYNCS",
        "ALARM",
        "RETENTION",
        "AUTO-COMPACTED",
    ]);
    let retention = if auto.retention.is_zero() {
        "off".to_string()
    } else {
        format_duration(auto.retention)
    };
    let last = auto.last.map_or_else(
        || "-".to_string(),
        |last| format!("{} ({} ago)", last.revision, age(now, Some(last.at))),
    );
    table.push(vec![
        status.revision.to_string(),
        status.compact_revision.to_string(),
        mib(status.disk_bytes),
        status.syncs.to_string(),
        if status.no_space { "NOSPACE" } else { "-" }.to_string(),
        retention,
        last,
    ]);
    table.render()
}

pub fn defragmented(before_bytes: u64, after_bytes: u64) -> String {
    format!(
        "defragmented the store: {} before, {} after",
        mib(before_bytes),
        mib(after_bytes)
    )
}

/// A size in MiB to one decimal place, as `store status` and `image ls` show sizes.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn shorten(value: &str) -> String {
    match value.char_indices().nth(VALUE_WIDTH) {
        Some((end, _)) => format!("{}...", &value[..end]),
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &[u8], value: &[u8]) -> KeyValue {
        KeyValue {
            key: key.to_vec(),
            value: value.to_vec(),
            create_revision: 2,
            mod_revision: 5,
            version: 3,
            lease: None,
        }
    }

    #[test]
    fn binary_bytes_are_escaped_not_printed() {
        assert_eq!(text(b"a/b"), "a/b");
        assert_eq!(text(b"\x1b[2J\xff"), "\\x1b[2J\\xff");
    }

    #[test]
    fn a_range_prints_revisions_and_a_shortened_value() {
        let result = RangeResult {
            kvs: vec![kv(b"/registry/pods/web", &[b'x'; 100])],
            count: 3,
            more: true,
            revision: 9,
        };
        let table = range_table(&result, false);
        let lines: Vec<_> = table.lines().collect();
        assert!(lines[0].starts_with("KEY"), "{table}");
        assert!(lines[1].contains("/registry/pods/web"), "{table}");
        assert!(
            lines[1].contains(&format!("{}...", "x".repeat(60))),
            "{table}"
        );
        assert_eq!(lines[2], "(1 of 3 keys at revision 9)");
        assert_eq!(range_table(&result, true), "3\n");
        let json: serde_json::Value = serde_json::from_str(&range_json(&result).unwrap()).unwrap();
        assert_eq!(json["kvs"][0]["modRevision"], 5);
        assert_eq!(json["kvs"][0]["value"].as_str().unwrap().len(), 100);
    }

    #[test]
    fn status_shows_the_retention_and_the_last_automatic_compaction() {
        use flotilla_actors::compactor::LastCompaction;
        use std::time::Duration;

        let store = StoreStatus {
            revision: 120,
            compact_revision: 80,
            syncs: 7,
            no_space: false,
            disk_bytes: 3 * 1024 * 1024,
        };
        let now = SystemTime::now();
        let auto = AutoCompaction {
            retention: Duration::from_secs(3600),
            last: Some(LastCompaction {
                revision: 80,
                at: now - Duration::from_secs(12),
            }),
        };
        let table = status(&store, &auto, now);
        let lines: Vec<_> = table.lines().collect();
        assert!(lines[0].ends_with("RETENTION   AUTO-COMPACTED"), "{table}");
        assert!(lines[1].starts_with("120 "), "{table}");
        assert!(lines[1].contains("3.0 MiB"), "{table}");
        assert!(lines[1].ends_with("1h          80 (12s ago)"), "{table}");
        let off = AutoCompaction {
            retention: Duration::ZERO,
            last: None,
        };
        let table = status(&store, &off, now);
        assert!(
            table.lines().nth(1).unwrap().ends_with("off         -"),
            "{table}"
        );
    }

    #[test]
    fn events_read_like_a_log() {
        let put = Event {
            kind: EventKind::Put,
            kv: kv(b"k", b"v"),
            prev: None,
        };
        assert_eq!(event(&put), "5 PUT k v");
        let delete = Event {
            kind: EventKind::Delete,
            ..put
        };
        assert_eq!(event(&delete), "5 DELETE k");
    }
}
