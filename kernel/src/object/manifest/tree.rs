//! `YamlNode`: a document as a generic tree that remembers where every key and value is.
//!
//! The typed decoders only report the first type error; this tree lets the manifest reader
//! look at the document itself — find `kind` and `apiVersion` before choosing a type, and
//! point at the line of a field the typed object does not know.

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_saphyr::{Location, Spanned};

/// A YAML value with the location of each key and value inside it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum YamlNode {
    Map(Vec<(Spanned<String>, Spanned<YamlNode>)>),
    Seq(Vec<Spanned<YamlNode>>),
    Scalar(serde_json::Value),
}

impl YamlNode {
    /// The value under `key`, if this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Spanned<YamlNode>> {
        match self {
            YamlNode::Map(entries) => entries
                .iter()
                .find(|(name, _)| name.value == key)
                .map(|(_, value)| value),
            _ => None,
        }
    }

    /// The scalar as text, for string, number and boolean scalars.
    pub fn as_text(&self) -> Option<String> {
        match self {
            YamlNode::Scalar(serde_json::Value::String(text)) => Some(text.clone()),
            YamlNode::Scalar(serde_json::Value::Number(number)) => Some(number.to_string()),
            YamlNode::Scalar(serde_json::Value::Bool(flag)) => Some(flag.to_string()),
            _ => None,
        }
    }

    /// Whether the value carries no information: null, false, zero, "", or a collection of
    /// only such values. Such a field can be left out of a manifest without changing it.
    pub fn is_empty(&self) -> bool {
        match self {
            YamlNode::Map(entries) => entries.iter().all(|(_, value)| value.value.is_empty()),
            YamlNode::Seq(items) => items.iter().all(|item| item.value.is_empty()),
            YamlNode::Scalar(serde_json::Value::Null) => true,
            YamlNode::Scalar(serde_json::Value::Bool(flag)) => !flag,
            YamlNode::Scalar(serde_json::Value::Number(number)) => number.as_f64() == Some(0.0),
            YamlNode::Scalar(serde_json::Value::String(text)) => text.is_empty(),
            YamlNode::Scalar(_) => false,
        }
    }
}

/// The dotted path and node of the deepest value (or key) that starts at `location`, so that
/// an error saphyr reports by position can also name the field.
pub(super) fn field_at(
    root: &Spanned<YamlNode>,
    location: Location,
) -> Option<(String, &YamlNode)> {
    find(root, location, String::new())
}

fn find(node: &Spanned<YamlNode>, location: Location, path: String) -> Option<(String, &YamlNode)> {
    let deeper = match &node.value {
        YamlNode::Map(entries) => entries.iter().find_map(|(key, value)| {
            let child = if path.is_empty() {
                key.value.clone()
            } else {
                format!("{path}.{}", key.value)
            };
            if same_place(key.referenced, location) {
                return Some((child, &value.value));
            }
            find(value, location, child)
        }),
        YamlNode::Seq(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| find(item, location, format!("{path}[{index}]"))),
        YamlNode::Scalar(_) => None,
    };
    deeper.or_else(|| same_place(node.referenced, location).then_some((path, &node.value)))
}

fn same_place(a: Location, b: Location) -> bool {
    (a.line(), a.column()) == (b.line(), b.column())
}

impl<'de> Deserialize<'de> for YamlNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(YamlNodeVisitor)
    }
}

struct YamlNodeVisitor;

impl<'de> Visitor<'de> for YamlNodeVisitor {
    type Value = YamlNode;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<YamlNode, E> {
        Ok(YamlNode::Scalar(value.into()))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<YamlNode, E> {
        Ok(YamlNode::Scalar(value.into()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<YamlNode, E> {
        Ok(YamlNode::Scalar(value.into()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<YamlNode, E> {
        Ok(YamlNode::Scalar(
            serde_json::Number::from_f64(value).map_or(serde_json::Value::Null, Into::into),
        ))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<YamlNode, E> {
        Ok(YamlNode::Scalar(value.into()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<YamlNode, E> {
        Ok(YamlNode::Scalar(serde_json::Value::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<YamlNode, E> {
        Ok(YamlNode::Scalar(serde_json::Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<YamlNode, D::Error> {
        YamlNode::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<YamlNode, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = access.next_element()? {
            items.push(item);
        }
        Ok(YamlNode::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<YamlNode, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = access.next_entry()? {
            entries.push(entry);
        }
        Ok(YamlNode::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Spanned<YamlNode> {
        serde_saphyr::from_str(text).unwrap()
    }

    #[test]
    fn records_key_and_value_locations() {
        let root = parse("\n\nkind: Pod\nspec:\n  replicas: 3\n  names: [a, b]\n");
        assert_eq!(root.referenced.line(), 3);
        let YamlNode::Map(entries) = &root.value else {
            panic!("not a map: {root:?}");
        };
        let (key, kind) = &entries[0];
        assert_eq!(
            (
                key.value.as_str(),
                key.referenced.line(),
                key.referenced.column()
            ),
            ("kind", 3, 1)
        );
        assert_eq!(kind.value.as_text().as_deref(), Some("Pod"));
        assert_eq!(kind.referenced.column(), 7);
        let spec = root.value.get("spec").unwrap();
        let replicas = spec.value.get("replicas").unwrap();
        assert_eq!(replicas.referenced.line(), 5);
        assert_eq!(replicas.value.as_text().as_deref(), Some("3"));
        assert!(
            matches!(&spec.value.get("names").unwrap().value, YamlNode::Seq(items) if items.len() == 2)
        );
    }

    #[test]
    fn finds_the_field_at_a_location() {
        let root = parse("kind: Pod\nspec:\n  containers:\n  - name: a\n    image: 7\n");
        let image = root
            .value
            .get("spec")
            .unwrap()
            .value
            .get("containers")
            .unwrap();
        let YamlNode::Seq(items) = &image.value else {
            panic!("{image:?}");
        };
        let value = items[0].value.get("image").unwrap();
        let (path, node) = field_at(&root, value.referenced).unwrap();
        assert_eq!(path, "spec.containers[0].image");
        assert_eq!(node.as_text().as_deref(), Some("7"));
        let (path, _) = field_at(&root, root.value.get("spec").unwrap().referenced).unwrap();
        assert_eq!(path, "spec.containers");
    }

    #[test]
    fn emptiness_is_recursive() {
        for empty in [
            "~",
            "false",
            "0",
            "0.0",
            "''",
            "{}",
            "[]",
            "{a: {b: []}, c: null}",
        ] {
            assert!(parse(empty).value.is_empty(), "{empty}");
        }
        for full in ["true", "1", "x", "{a: 1}", "[0, 1]"] {
            assert!(!parse(full).value.is_empty(), "{full}");
        }
    }
}
