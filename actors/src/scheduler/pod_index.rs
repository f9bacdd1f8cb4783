//! The placed pods indexed for inter-pod affinity and topology spread: by label, so a
//! selector finds the pods it matches without a scan of every pod, and the affinity terms the
//! placed pods carry, by the labels they select, so a new pod finds the terms that select it.
//!
//! A selector (or term) is looked up under one of its equality requirements (`app: web`, or
//! each value of an `In`); one without any is checked against everything, as it would be
//! without the index.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use flotilla_kernel::object::{LabelSelector, LabelSelectorOperator, Pod, PodAffinityTerm};

use crate::controllers::key::ObjectKey;

/// A label, as a pair.
type Label = (String, String);

/// A placed pod as affinity and spreading see it.
#[derive(Debug, Clone)]
pub struct PlacedPod {
    pub node: String,
    pub namespace: String,
    pub labels: Arc<BTreeMap<String, String>>,
}

/// How a placed pod's term bears on pods it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermKind {
    /// Pods it selects may not share its domain.
    RequiredAntiAffinity,
    /// Pods it selects are drawn to its domain (Kubernetes counts this with weight 1 when
    /// scoring).
    RequiredAffinity,
    /// Worth `weight` to pods it selects in its domain.
    PreferredAffinity(i32),
    /// Costs pods it selects `weight` in its domain.
    PreferredAntiAffinity(i32),
}

/// An affinity term of a placed pod.
#[derive(Debug, Clone)]
pub struct PlacedTerm {
    pub kind: TermKind,
    pub term: PodAffinityTerm,
    /// The pod that carries it: its namespace and node.
    pub namespace: String,
    pub node: String,
}

/// The placed pods and their terms (see the module doc).
#[derive(Debug, Default)]
pub struct PodIndex {
    pods: HashMap<ObjectKey, PlacedPod>,
    by_label: HashMap<Label, HashSet<ObjectKey>>,
    terms: HashMap<ObjectKey, Vec<PlacedTerm>>,
    /// The pods whose terms select pods with a label.
    terms_by_label: HashMap<Label, HashSet<ObjectKey>>,
    /// The pods with a term that has no equality requirement to be found under.
    terms_unindexed: HashSet<ObjectKey>,
}

impl PodIndex {
    /// Records `pod` as placed on `node`.
    pub fn insert(&mut self, key: &ObjectKey, node: &str, pod: &Pod) {
        let labels = &pod.metadata.labels;
        for label in labels {
            self.by_label
                .entry((label.0.clone(), label.1.clone()))
                .or_default()
                .insert(key.clone());
        }
        self.pods.insert(
            key.clone(),
            PlacedPod {
                node: node.to_string(),
                namespace: pod.metadata.namespace.clone(),
                labels: Arc::new(labels.clone()),
            },
        );
        let terms = placed_terms(pod, node);
        if terms.is_empty() {
            return;
        }
        for placed in &terms {
            match selector_labels(placed.term.label_selector.as_ref()) {
                Some(found) => {
                    for label in found {
                        self.terms_by_label
                            .entry(label)
                            .or_default()
                            .insert(key.clone());
                    }
                }
                None => {
                    self.terms_unindexed.insert(key.clone());
                }
            }
        }
        self.terms.insert(key.clone(), terms);
    }

    /// Forgets a placed pod.
    pub fn remove(&mut self, key: &ObjectKey) {
        let Some(placed) = self.pods.remove(key) else {
            return;
        };
        for label in placed.labels.iter() {
            remove_from(&mut self.by_label, (label.0.clone(), label.1.clone()), key);
        }
        let Some(terms) = self.terms.remove(key) else {
            return;
        };
        for placed in terms {
            match selector_labels(placed.term.label_selector.as_ref()) {
                Some(found) => {
                    for label in found {
                        remove_from(&mut self.terms_by_label, label, key);
                    }
                }
                None => {
                    self.terms_unindexed.remove(key);
                }
            }
        }
    }

    /// The placed pods `selector` matches, in any namespace (the caller checks that).
    pub fn matching<'a>(
        &'a self,
        selector: &'a LabelSelector,
    ) -> Box<dyn Iterator<Item = &'a PlacedPod> + 'a> {
        let matches = move |pod: &&PlacedPod| selector.matches(&pod.labels);
        match selector_labels(Some(selector)) {
            Some(labels) => {
                let mut seen = HashSet::new();
                let keys = labels
                    .into_iter()
                    .filter_map(|label| self.by_label.get(&label))
                    .flatten()
                    .filter(move |key| seen.insert(*key));
                Box::new(keys.filter_map(|key| self.pods.get(key)).filter(matches))
            }
            None => Box::new(self.pods.values().filter(matches)),
        }
    }

    /// The terms of placed pods that could select a pod with `labels` (the caller checks
    /// selector and namespaces).
    pub fn terms_selecting<'a>(
        &'a self,
        labels: &'a BTreeMap<String, String>,
    ) -> impl Iterator<Item = &'a PlacedTerm> + 'a {
        let mut seen = HashSet::new();
        labels
            .iter()
            .filter_map(|(k, v)| self.terms_by_label.get(&(k.clone(), v.clone())))
            .flatten()
            .chain(&self.terms_unindexed)
            .filter(move |key| seen.insert(*key))
            .filter_map(|key| self.terms.get(key))
            .flatten()
    }

    /// Whether `pod`, placed as `key`, now has other labels than those indexed.
    pub fn labels_changed(&self, key: &ObjectKey, pod: &Pod) -> bool {
        self.pods
            .get(key)
            .is_some_and(|placed| *placed.labels != pod.metadata.labels)
    }

    /// Whether any placed pod carries affinity terms.
    pub fn has_terms(&self) -> bool {
        !self.terms.is_empty()
    }
}

/// The labels a selector can be found under: those of its one most specific equality
/// requirement (a `matchLabels` pair, or the values of an `In`); `None` if it has none.
fn selector_labels(selector: Option<&LabelSelector>) -> Option<Vec<Label>> {
    let selector = selector?;
    if let Some((key, value)) = selector.match_labels.iter().next() {
        return Some(vec![(key.clone(), value.clone())]);
    }
    selector
        .match_expressions
        .iter()
        .filter(|r| r.operator == LabelSelectorOperator::In)
        .min_by_key(|r| r.values.len())
        .map(|r| {
            r.values
                .iter()
                .map(|value| (r.key.clone(), value.clone()))
                .collect()
        })
}

fn remove_from(index: &mut HashMap<Label, HashSet<ObjectKey>>, label: Label, key: &ObjectKey) {
    if let Some(keys) = index.get_mut(&label) {
        keys.remove(key);
        if keys.is_empty() {
            index.remove(&label);
        }
    }
}

/// The affinity terms of `pod` placed on `node` that bear on pods scheduled after it.
fn placed_terms(pod: &Pod, node: &str) -> Vec<PlacedTerm> {
    let Some(affinity) = &pod.spec.affinity else {
        return Vec::new();
    };
    let placed = |kind: TermKind, term: &PodAffinityTerm| PlacedTerm {
        kind,
        term: term.clone(),
        namespace: pod.metadata.namespace.clone(),
        node: node.to_string(),
    };
    let mut terms = Vec::new();
    if let Some(anti) = &affinity.pod_anti_affinity {
        let required = &anti.required_during_scheduling_ignored_during_execution;
        terms.extend(
            required
                .iter()
                .map(|t| placed(TermKind::RequiredAntiAffinity, t)),
        );
        let preferred = &anti.preferred_during_scheduling_ignored_during_execution;
        terms.extend(preferred.iter().map(|w| {
            placed(
                TermKind::PreferredAntiAffinity(w.weight),
                &w.pod_affinity_term,
            )
        }));
    }
    if let Some(affinity) = &affinity.pod_affinity {
        let required = &affinity.required_during_scheduling_ignored_during_execution;
        terms.extend(
            required
                .iter()
                .map(|t| placed(TermKind::RequiredAffinity, t)),
        );
        let preferred = &affinity.preferred_during_scheduling_ignored_during_execution;
        terms.extend(
            preferred
                .iter()
                .map(|w| placed(TermKind::PreferredAffinity(w.weight), &w.pod_affinity_term)),
        );
    }
    terms
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::{Affinity, LabelSelectorRequirement, PodAffinity};

    use super::*;
    use crate::scheduler::fixtures::pod_with;

    fn labelled(name: &str, labels: &[(&str, &str)]) -> (ObjectKey, Pod) {
        let mut pod = pod_with(&[], &[]);
        pod.metadata.name = name.into();
        pod.metadata.labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        (ObjectKey::of(&pod.metadata), pod)
    }

    fn selector(
        labels: &[(&str, &str)],
        expressions: Vec<LabelSelectorRequirement>,
    ) -> LabelSelector {
        LabelSelector {
            match_labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            match_expressions: expressions,
        }
    }

    fn nodes_of<'a>(found: impl Iterator<Item = &'a PlacedPod>) -> Vec<String> {
        let mut nodes: Vec<String> = found.map(|p| p.node.clone()).collect();
        nodes.sort();
        nodes
    }

    #[test]
    fn selectors_find_exactly_the_pods_they_match() {
        let mut index = PodIndex::default();
        for (name, node, labels) in [
            ("w1", "a", vec![("app", "web"), ("tier", "front")]),
            ("w2", "b", vec![("app", "web")]),
            ("d1", "c", vec![("app", "db")]),
        ] {
            let (key, pod) = labelled(name, &labels);
            index.insert(&key, node, &pod);
        }
        let in_ = |key: &str, values: &[&str], operator| LabelSelectorRequirement {
            key: key.into(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        };
        let table = [
            (selector(&[("app", "web")], vec![]), vec!["a", "b"]),
            (
                selector(
                    &[("app", "web")],
                    vec![in_("tier", &["front"], LabelSelectorOperator::In)],
                ),
                vec!["a"],
            ),
            (
                selector(
                    &[],
                    vec![in_("app", &["web", "db"], LabelSelectorOperator::In)],
                ),
                vec!["a", "b", "c"],
            ),
            (
                selector(
                    &[],
                    vec![in_("tier", &[], LabelSelectorOperator::DoesNotExist)],
                ),
                vec!["b", "c"],
            ),
            (selector(&[("app", "cache")], vec![]), vec![]),
        ];
        for (selector, nodes) in table {
            assert_eq!(nodes_of(index.matching(&selector)), nodes, "{selector:?}");
        }
        index.remove(&labelled("w1", &[]).0);
        assert_eq!(
            nodes_of(index.matching(&selector(&[("app", "web")], vec![]))),
            ["b"]
        );
        assert!(
            !index
                .by_label
                .contains_key(&("tier".into(), "front".into()))
        );
    }

    #[test]
    fn placed_terms_are_found_by_the_labels_they_select() {
        let mut index = PodIndex::default();
        let (key, mut pod) = labelled("w1", &[("app", "web")]);
        let term = |s: LabelSelector| PodAffinityTerm {
            label_selector: Some(s),
            topology_key: "kubernetes.io/hostname".into(),
            ..PodAffinityTerm::default()
        };
        pod.spec.affinity = Some(Affinity {
            pod_anti_affinity: Some(PodAffinity {
                required_during_scheduling_ignored_during_execution: vec![
                    term(selector(&[("app", "web")], vec![])),
                    term(selector(&[], vec![])),
                ],
                ..PodAffinity::default()
            }),
            ..Affinity::default()
        });
        index.insert(&key, "a", &pod);
        assert!(index.has_terms());
        let web = labelled("x", &[("app", "web")]).1.metadata.labels;
        let db = labelled("y", &[("app", "db")]).1.metadata.labels;
        assert_eq!(
            index.terms_selecting(&web).count(),
            2,
            "both terms, once each"
        );
        assert_eq!(
            index.terms_selecting(&db).count(),
            2,
            "the unindexed term brings its pod"
        );
        index.remove(&key);
        assert_eq!(index.terms_selecting(&web).count(), 0);
        assert!(!index.has_terms());
        assert!(index.terms_by_label.is_empty() && index.terms_unindexed.is_empty());
    }
}
