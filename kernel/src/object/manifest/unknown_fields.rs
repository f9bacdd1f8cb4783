//! Finds fields of a manifest the typed object does not have (`replica: 3` for `replicas: 3`).
//!
//! The object types accept unknown fields, because stored objects written by a newer version
//! must still decode. For manifests a silently ignored typo is a trap, so the reader compares
//! the document's tree with the typed object serialized back: a key the round trip dropped is
//! unknown, unless its value is empty (null, false, 0, "", {}), which the serializer omits on
//! purpose.

use serde_saphyr::Location;

use super::tree::YamlNode;

/// A field present in the document but not in the typed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UnknownField {
    /// Dotted path, e.g. `spec.template.spec.containers[0].imag`.
    pub path: String,
    /// Where the key is.
    pub location: Location,
}

/// Every unknown field of `document` when compared with `typed`, in document order.
pub(super) fn unknown_fields(document: &YamlNode, typed: &serde_json::Value) -> Vec<UnknownField> {
    let mut found = Vec::new();
    walk(document, typed, "", &mut found);
    found
}

fn walk(node: &YamlNode, typed: &serde_json::Value, path: &str, found: &mut Vec<UnknownField>) {
    match (node, typed) {
        (YamlNode::Map(entries), serde_json::Value::Object(fields)) => {
            for (key, value) in entries {
                let child = if path.is_empty() {
                    key.value.clone()
                } else {
                    format!("{path}.{}", key.value)
                };
                match fields.get(&key.value) {
                    Some(typed_value) => walk(&value.value, typed_value, &child, found),
                    None if value.value.is_empty() => {}
                    None => found.push(UnknownField {
                        path: child,
                        location: key.referenced,
                    }),
                }
            }
        }
        (YamlNode::Seq(items), serde_json::Value::Array(typed_items)) => {
            for (index, (item, typed_item)) in items.iter().zip(typed_items).enumerate() {
                walk(&item.value, typed_item, &format!("{path}[{index}]"), found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_saphyr::Spanned;

    use super::*;

    fn unknown(yaml: &str, typed: serde_json::Value) -> Vec<(String, u64)> {
        let document: Spanned<YamlNode> = serde_saphyr::from_str(yaml).unwrap();
        unknown_fields(&document.value, &typed)
            .into_iter()
            .map(|field| (field.path, field.location.line()))
            .collect()
    }

    #[test]
    fn reports_dropped_keys_with_paths_and_lines() {
        let yaml = "kind: Deployment\nspec:\n  replica: 3\n  template:\n    spec:\n      containers:\n      - name: a\n        imag: x\n";
        let typed = serde_json::json!({
            "kind": "Deployment",
            "spec": {"template": {"spec": {"containers": [{"name": "a"}]}}}
        });
        assert_eq!(
            unknown(yaml, typed),
            [
                ("spec.replica".to_string(), 3),
                ("spec.template.spec.containers[0].imag".to_string(), 8),
            ]
        );
    }

    #[test]
    fn ignores_empty_values_and_matching_keys() {
        let yaml = "a: 1\nb: ~\nc: {}\nd: false\ne: ''\nf: {x: 1}\n";
        let typed = serde_json::json!({"a": "1", "f": {"x": 1}});
        assert!(unknown(yaml, typed).is_empty());
    }

    #[test]
    fn free_form_maps_keep_their_keys() {
        let yaml = "labels:\n  anything: goes\n";
        let typed = serde_json::json!({"labels": {"anything": "goes"}});
        assert!(unknown(yaml, typed).is_empty());
    }
}
