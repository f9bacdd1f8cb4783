//! Completion indexes of Indexed Jobs: which index a pod runs, and the interval lists
//! (`1,3-5,7`) `status.completedIndexes` and `status.failedIndexes` are written in.

use std::collections::BTreeSet;

use flotilla_kernel::object::{JOB_COMPLETION_INDEX, Pod};

/// The pod's completion index, from its annotation (or, failing that, its label), if it is
/// a number below `completions`.
pub fn pod_index(pod: &Pod, completions: i32) -> Option<i32> {
    let meta = &pod.metadata;
    let text = meta
        .annotations
        .get(JOB_COMPLETION_INDEX)
        .or_else(|| meta.labels.get(JOB_COMPLETION_INDEX))?;
    text.parse()
        .ok()
        .filter(|index| (0..completions).contains(index))
}

/// Reads an interval list; parts that are not `N` or `N-M` are skipped.
pub fn parse_intervals(text: &str) -> BTreeSet<i32> {
    let mut indexes = BTreeSet::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(first), Ok(last)) = (first.parse::<i32>(), last.parse::<i32>()) {
            indexes.extend(first..=last);
        }
    }
    indexes
}

/// Writes indexes as Kubernetes does: ascending, runs of two or more as `first-last`.
pub fn format_intervals(indexes: &BTreeSet<i32>) -> String {
    let mut runs: Vec<(i32, i32)> = Vec::new();
    for &index in indexes {
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == index => *last = index,
            _ => runs.push((index, index)),
        }
    }
    runs.iter()
        .map(|&(first, last)| {
            if first == last {
                first.to_string()
            } else {
                format!("{first}-{last}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_round_trip_as_kubernetes_writes_them() {
        let cases: [(&[i32], &str); 5] = [
            (&[], ""),
            (&[0], "0"),
            (&[0, 1], "0-1"),
            (&[1, 3, 4, 5, 7], "1,3-5,7"),
            (&[0, 1, 2, 3], "0-3"),
        ];
        for (indexes, text) in cases {
            let set: BTreeSet<i32> = indexes.iter().copied().collect();
            assert_eq!(format_intervals(&set), text);
            assert_eq!(parse_intervals(text), set);
        }
        assert_eq!(parse_intervals("2,x,4-a, 5"), BTreeSet::from([2, 5]));
    }

    #[test]
    fn a_pod_index_must_be_below_completions() {
        let mut pod = Pod::default();
        assert_eq!(pod_index(&pod, 3), None);
        pod.metadata
            .annotations
            .insert(JOB_COMPLETION_INDEX.into(), "2".into());
        assert_eq!(pod_index(&pod, 3), Some(2));
        assert_eq!(pod_index(&pod, 2), None);
        pod.metadata
            .annotations
            .insert(JOB_COMPLETION_INDEX.into(), "-1".into());
        assert_eq!(pod_index(&pod, 3), None);
    }
}
